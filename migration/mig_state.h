/*
 * mig_state.h: QEMU's migration states (spec §12.3) and the transitions
 * between them, one state machine per side.
 *
 * The enum is 10.2's MigrationStatus in its order (7.2's, with
 * postcopy-device and postcopy-recover-setup inserted); names are the QMP
 * strings query-migrate reports.  QEMU has no declarative table: the legal
 * transitions below are the ones its code performs (source: migration.c,
 * postcopy-ram.c, colo.c; destination: the incoming coroutine), as the
 * union of 7.2 and 10.2, each marked with the side that takes it.
 * mig_state_set refuses (asserts) any other, and traces every change as
 * "mig.state" (side, from, to): the report's timeline lists these as QMP's
 * MIGRATION events.
 *
 * Plug-ins (postcopy, multifd, COLO) drive the states they own through the
 * same machine, so a transition the table does not list is a bug caught on
 * the spot, not a surprise in a report.
 */
#ifndef MIG_STATE_H
#define MIG_STATE_H

#include "sim_base.h"
#include "sim.h"

/* X(name, QMP string), 10.2's MigrationStatus order. */
#define MIG_STATES(X) \
  X(NONE, "none") \
  X(SETUP, "setup") \
  X(CANCELLING, "cancelling") \
  X(CANCELLED, "cancelled") \
  X(ACTIVE, "active") \
  X(POSTCOPY_DEVICE, "postcopy-device") \
  X(POSTCOPY_ACTIVE, "postcopy-active") \
  X(POSTCOPY_PAUSED, "postcopy-paused") \
  X(POSTCOPY_RECOVER_SETUP, "postcopy-recover-setup") \
  X(POSTCOPY_RECOVER, "postcopy-recover") \
  X(COMPLETED, "completed") \
  X(FAILED, "failed") \
  X(COLO, "colo") \
  X(PRE_SWITCHOVER, "pre-switchover") \
  X(DEVICE, "device") \
  X(WAIT_UNPLUG, "wait-unplug")

enum mig_state {
#define MIG_STATE_ENUM(name, text) MIG_STATE_##name,
  MIG_STATES(MIG_STATE_ENUM)
#undef MIG_STATE_ENUM
  MIG_STATE_COUNT
};

enum mig_side {
  MIG_SIDE_SOURCE,                 /* the outgoing side (QMP migrate) */
  MIG_SIDE_DEST,                   /* the incoming side (-incoming, migrate-incoming) */
};

struct mig_state_machine {         /* caller-owned */
  enum mig_state state;            /* current state */
  enum mig_side side;
  uint32_t changes_count;          /* transitions taken */
};

/* The QMP string ("postcopy-active"); "?" outside the enum. */
const char *mig_state_name(enum mig_state state);
/* The state named text, or false. */
bool mig_state_find(const char *text, enum mig_state *out);
/* True when side's code may move from to to. */
bool mig_state_legal(enum mig_side side, enum mig_state from, enum mig_state to);
/* completed, failed or cancelled: the migration is over (a new one starts from none). */
bool mig_state_final(enum mig_state state);
/* QEMU's migration_is_running(): a migration holds the state (caps are locked). */
bool mig_state_running(enum mig_state state);
/* postcopy-active, postcopy-paused, postcopy-recover(-setup), postcopy-device. */
bool mig_state_postcopy(enum mig_state state);

void mig_state_init(struct mig_state_machine *machine, enum mig_side side);
/* Moves to to (asserting the transition is legal) and traces it; a no-op when already there. */
void mig_state_set(struct mig_state_machine *machine, struct sim *sim, enum mig_state to);

#endif /* MIG_STATE_H */
