/*
 * mig_state.c: the migration states and their legal transitions (overview
 * in mig_state.h; spec §12.3).
 *
 * Each side has a table of bit masks: next[from] has bit `to` set when that
 * side's code in QEMU 7.2 or 10.2 moves from `from` to `to`.  The comments
 * name the QEMU function that does it.
 */
#include "sim_base.h"

#include "mig_state.h"

#define B(name) (UINT32_C(1) << MIG_STATE_##name)

_Static_assert(MIG_STATE_COUNT <= 32, "a state set fits a 32-bit mask");

static const char *const names[MIG_STATE_COUNT] = {
#define MIG_STATE_NAME(name, text) [MIG_STATE_##name] = text,
    MIG_STATES(MIG_STATE_NAME)
#undef MIG_STATE_NAME
};

/* Every running state may be cancelled (migrate_fd_cancel) or fail (migrate_set_error). */
#define ENDS (B(CANCELLING) | B(FAILED))

static const uint32_t source_next[MIG_STATE_COUNT] = {
    [MIG_STATE_NONE] = B(SETUP),                                   /* migrate_init */
    [MIG_STATE_SETUP] = B(ACTIVE) | B(WAIT_UNPLUG) | ENDS,         /* migration_thread */
    [MIG_STATE_WAIT_UNPLUG] = B(ACTIVE) | ENDS,                    /* qemu_savevm_wait_unplug */
    /* migration_completion (7.2 goes straight to completed or postcopy-active). */
    [MIG_STATE_ACTIVE] = B(PRE_SWITCHOVER) | B(DEVICE) | B(POSTCOPY_ACTIVE) | B(COMPLETED) |
                         ENDS,
    /* migration_maybe_pause: migrate-continue; 7.2 postcopy returns to postcopy-active. */
    [MIG_STATE_PRE_SWITCHOVER] = B(DEVICE) | B(POSTCOPY_ACTIVE) | ENDS,
    [MIG_STATE_DEVICE] = B(COMPLETED) | B(POSTCOPY_DEVICE) | B(POSTCOPY_ACTIVE) | B(COLO) | ENDS,
    [MIG_STATE_POSTCOPY_DEVICE] = B(POSTCOPY_ACTIVE) | ENDS,       /* PONG 0x42 (10.2) */
    [MIG_STATE_POSTCOPY_ACTIVE] = B(COMPLETED) | B(POSTCOPY_PAUSED) | B(PRE_SWITCHOVER) | ENDS,
    [MIG_STATE_POSTCOPY_PAUSED] = B(POSTCOPY_RECOVER_SETUP) | B(POSTCOPY_RECOVER) | ENDS,
    [MIG_STATE_POSTCOPY_RECOVER_SETUP] = B(POSTCOPY_RECOVER) | B(POSTCOPY_PAUSED) | ENDS,
    [MIG_STATE_POSTCOPY_RECOVER] = B(POSTCOPY_ACTIVE) | B(POSTCOPY_PAUSED) | ENDS,
    [MIG_STATE_COLO] = B(COMPLETED) | B(FAILED),
    [MIG_STATE_CANCELLING] = B(CANCELLED) | B(FAILED),            /* migrate_fd_cleanup */
};

static const uint32_t dest_next[MIG_STATE_COUNT] = {
    [MIG_STATE_NONE] = B(SETUP),                          /* qemu_start_incoming_migration */
    [MIG_STATE_SETUP] = B(ACTIVE) | B(FAILED),            /* process_incoming_migration_co */
    /* loadvm: done, failed, or postcopy at LISTEN (7.2) / postcopy-device (10.2). */
    [MIG_STATE_ACTIVE] = B(COMPLETED) | B(FAILED) | B(COLO) | B(POSTCOPY_ACTIVE) |
                         B(POSTCOPY_DEVICE),
    [MIG_STATE_POSTCOPY_DEVICE] = B(POSTCOPY_ACTIVE) | B(FAILED),
    [MIG_STATE_POSTCOPY_ACTIVE] = B(COMPLETED) | B(POSTCOPY_PAUSED) | B(FAILED),
    [MIG_STATE_POSTCOPY_PAUSED] = B(POSTCOPY_RECOVER) | B(FAILED),  /* migrate-recover */
    [MIG_STATE_POSTCOPY_RECOVER] = B(POSTCOPY_ACTIVE) | B(POSTCOPY_PAUSED) | B(FAILED),
    [MIG_STATE_COLO] = B(COMPLETED) | B(FAILED),
};

const char *mig_state_name(enum mig_state state)
{
  return (unsigned)state < MIG_STATE_COUNT ? names[state] : "?";
}

bool mig_state_find(const char *text, enum mig_state *out)
{
  for (uint32_t i = 0; i < MIG_STATE_COUNT; i++) {
    if (strcmp(names[i], text) == 0) {
      *out = (enum mig_state)i;
      return true;
    }
  }
  return false;
}

bool mig_state_legal(enum mig_side side, enum mig_state from, enum mig_state to)
{
  SIM_ASSERT((unsigned)from < MIG_STATE_COUNT && (unsigned)to < MIG_STATE_COUNT);
  const uint32_t *next = side == MIG_SIDE_SOURCE ? source_next : dest_next;
  return (next[from] & (UINT32_C(1) << to)) != 0;
}

bool mig_state_final(enum mig_state state)
{
  return state == MIG_STATE_COMPLETED || state == MIG_STATE_FAILED ||
         state == MIG_STATE_CANCELLED;
}

bool mig_state_running(enum mig_state state)
{
  return state != MIG_STATE_NONE && !mig_state_final(state);
}

bool mig_state_postcopy(enum mig_state state)
{
  uint32_t set = B(POSTCOPY_DEVICE) | B(POSTCOPY_ACTIVE) | B(POSTCOPY_PAUSED) |
                 B(POSTCOPY_RECOVER_SETUP) | B(POSTCOPY_RECOVER);
  return (unsigned)state < MIG_STATE_COUNT && (set & (UINT32_C(1) << state)) != 0;
}

void mig_state_init(struct mig_state_machine *machine, enum mig_side side)
{
  SIM_ASSERT(side == MIG_SIDE_SOURCE || side == MIG_SIDE_DEST);
  *machine = (struct mig_state_machine){.state = MIG_STATE_NONE, .side = side};
}

void mig_state_set(struct mig_state_machine *machine, struct sim *sim, enum mig_state to)
{
  enum mig_state from = machine->state;
  if (from == to) return;
  SIM_ASSERT(mig_state_legal(machine->side, from, to));
  machine->state = to;
  machine->changes_count++;
  sim_trace(sim, "mig.state", (uint64_t)machine->side, (uint64_t)from, (uint64_t)to, 0);
}
