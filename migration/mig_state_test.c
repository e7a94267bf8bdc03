/*
 * mig_state_test.c: the migration state machine (mig_state.h): names in
 * QMP's spelling and 10.2's order, the transitions each side may take, and
 * the trace every change leaves.
 */
#include "sim_base.h"

#include "mig_state.h"
#include "sim_check.h"

#include <signal.h>

START_TEST(mig_state_names_follow_qapi)
{
  /* Goal: each state's QMP name, in 10.2's MigrationStatus order, and back by name. */
  static const char *const expected[] = {
      "none", "setup", "cancelling", "cancelled", "active", "postcopy-device",
      "postcopy-active", "postcopy-paused", "postcopy-recover-setup", "postcopy-recover",
      "completed", "failed", "colo", "pre-switchover", "device", "wait-unplug"};
  ck_assert_uint_eq(SIM_ARRAY_COUNT(expected), MIG_STATE_COUNT);
  for (uint32_t i = 0; i < MIG_STATE_COUNT; i++) {
    ck_assert_str_eq(mig_state_name((enum mig_state)i), expected[i]);
    enum mig_state found;
    ck_assert(mig_state_find(expected[i], &found));
    ck_assert_int_eq(found, i);
  }
  enum mig_state found;
  ck_assert(!mig_state_find("paused", &found));
  ck_assert_str_eq(mig_state_name(MIG_STATE_COUNT), "?");
}
END_TEST

START_TEST(mig_state_legal_transitions)
{
  /* Goal: the precopy, pause, cancel and postcopy paths are legal; shortcuts are not. */
  ck_assert(mig_state_legal(MIG_SIDE_SOURCE, MIG_STATE_NONE, MIG_STATE_SETUP));
  ck_assert(mig_state_legal(MIG_SIDE_SOURCE, MIG_STATE_ACTIVE, MIG_STATE_PRE_SWITCHOVER));
  ck_assert(mig_state_legal(MIG_SIDE_SOURCE, MIG_STATE_PRE_SWITCHOVER, MIG_STATE_DEVICE));
  ck_assert(mig_state_legal(MIG_SIDE_SOURCE, MIG_STATE_DEVICE, MIG_STATE_COMPLETED));
  ck_assert(mig_state_legal(MIG_SIDE_SOURCE, MIG_STATE_DEVICE, MIG_STATE_CANCELLING));
  ck_assert(mig_state_legal(MIG_SIDE_SOURCE, MIG_STATE_CANCELLING, MIG_STATE_CANCELLED));
  ck_assert(mig_state_legal(MIG_SIDE_SOURCE, MIG_STATE_POSTCOPY_ACTIVE,
                            MIG_STATE_POSTCOPY_PAUSED));
  ck_assert(mig_state_legal(MIG_SIDE_SOURCE, MIG_STATE_POSTCOPY_RECOVER,
                            MIG_STATE_POSTCOPY_ACTIVE));
  ck_assert(!mig_state_legal(MIG_SIDE_SOURCE, MIG_STATE_NONE, MIG_STATE_ACTIVE));
  ck_assert(!mig_state_legal(MIG_SIDE_SOURCE, MIG_STATE_SETUP, MIG_STATE_COMPLETED));
  ck_assert(!mig_state_legal(MIG_SIDE_SOURCE, MIG_STATE_COMPLETED, MIG_STATE_ACTIVE));
  ck_assert(!mig_state_legal(MIG_SIDE_SOURCE, MIG_STATE_CANCELLED, MIG_STATE_SETUP));
  ck_assert(!mig_state_legal(MIG_SIDE_SOURCE, MIG_STATE_CANCELLING, MIG_STATE_ACTIVE));
  /* The destination never pauses before switchover and never cancels itself. */
  ck_assert(mig_state_legal(MIG_SIDE_DEST, MIG_STATE_ACTIVE, MIG_STATE_COMPLETED));
  ck_assert(mig_state_legal(MIG_SIDE_DEST, MIG_STATE_POSTCOPY_PAUSED,
                            MIG_STATE_POSTCOPY_RECOVER));
  ck_assert(!mig_state_legal(MIG_SIDE_DEST, MIG_STATE_ACTIVE, MIG_STATE_PRE_SWITCHOVER));
  ck_assert(!mig_state_legal(MIG_SIDE_DEST, MIG_STATE_ACTIVE, MIG_STATE_CANCELLING));
  /* Final states lead nowhere on either side. */
  for (uint32_t to = 0; to < MIG_STATE_COUNT; to++) {
    ck_assert(!mig_state_legal(MIG_SIDE_SOURCE, MIG_STATE_FAILED, (enum mig_state)to));
    ck_assert(!mig_state_legal(MIG_SIDE_DEST, MIG_STATE_COMPLETED, (enum mig_state)to));
  }
}
END_TEST

static uint32_t state_records_count;
static uint64_t last_values[3];

static void count_state(void *context, const struct sim_trace_record *record)
{
  (void)context;
  if (strcmp(record->kind, "mig.state") != 0) return;
  state_records_count++;
  memcpy(last_values, record->values, sizeof(last_values));
}

START_TEST(mig_state_set_traces_each_change)
{
  /* Goal: every change leaves one "mig.state" record (side, from, to); a repeat none. */
  struct sim_options options = {.seed = 1, .trace_observer = count_state};
  struct sim *sim = sim_create(&options);
  struct mig_state_machine machine;
  mig_state_init(&machine, MIG_SIDE_DEST);
  state_records_count = 0;
  mig_state_set(&machine, sim, MIG_STATE_SETUP);
  mig_state_set(&machine, sim, MIG_STATE_ACTIVE);
  mig_state_set(&machine, sim, MIG_STATE_ACTIVE);
  ck_assert_uint_eq(state_records_count, 2);
  ck_assert_uint_eq(machine.changes_count, 2);
  ck_assert_uint_eq(last_values[0], MIG_SIDE_DEST);
  ck_assert_uint_eq(last_values[1], MIG_STATE_SETUP);
  ck_assert_uint_eq(last_values[2], MIG_STATE_ACTIVE);
  ck_assert(mig_state_running(machine.state));
  mig_state_set(&machine, sim, MIG_STATE_FAILED);
  ck_assert(mig_state_final(machine.state) && !mig_state_running(machine.state));
  sim_destroy(sim);
}
END_TEST

START_TEST(mig_state_set_refuses_an_illegal_change)
{
  /* Goal: a transition the table does not list is a bug: the assertion aborts (fork mode). */
  struct sim_options options = {.seed = 1};
  struct sim *sim = sim_create(&options);
  struct mig_state_machine machine;
  mig_state_init(&machine, MIG_SIDE_SOURCE);
  mig_state_set(&machine, sim, MIG_STATE_COMPLETED);
}
END_TEST

Suite *mig_state_suite(void)
{
  Suite *suite = suite_create("mig_state");
  TCase *core = tcase_create("core");
  tcase_add_test(core, mig_state_names_follow_qapi);
  tcase_add_test(core, mig_state_legal_transitions);
  tcase_add_test(core, mig_state_set_traces_each_change);
  tcase_add_test_raise_signal(core, mig_state_set_refuses_an_illegal_change, SIGABRT);
  suite_add_tcase(suite, core);
  return suite;
}
