/*
 * sim_fiber_test.c: fibers (sim_fiber.h): strict hand-off order, bodies
 * that finish, cancellation of blocked fibers, and many fibers driven by
 * simulation events.
 */
#include "sim_base.h"

#include "sim.h"
#include "sim_check.h"
#include "sim_fiber.h"

enum { STEPS_MAX = 256, FIBERS_MANY = 48 };

/* A shared log: each side appends a tag, so the interleaving is visible. */
struct hand_off_log {
  uint32_t tags[STEPS_MAX];
  uint32_t count;
};

static void log_tag(struct hand_off_log *log, uint32_t tag)
{
  ck_assert_uint_lt(log->count, STEPS_MAX);
  log->tags[log->count++] = tag;
}

struct counting_fiber {
  struct sim_fiber *fiber;
  struct hand_off_log *log;
  uint32_t id;
  uint32_t yields;          /* how many times the body yields before it returns; 0 = forever */
  uint32_t steps;           /* body iterations so far */
  bool saw_cancel;
  bool returned;
  struct sim *sim;
  uint64_t times_ns[STEPS_MAX]; /* sim_now_ns read by the body, while it holds control */
};

static void counting_body(struct sim_fiber *fiber, void *context)
{
  struct counting_fiber *state = context;
  ck_assert_ptr_eq(state->fiber, fiber);
  for (;;) {
    ck_assert_uint_lt(state->steps, STEPS_MAX);
    if (state->sim != NULL) state->times_ns[state->steps] = sim_now_ns(state->sim);
    state->steps++;
    if (state->log != NULL) log_tag(state->log, 1000 + state->id);
    if (state->yields != 0 && state->steps > state->yields) break;
    if (!sim_fiber_yield(fiber)) {
      ck_assert(sim_fiber_cancelled(fiber));
      state->saw_cancel = true;
      return;
    }
  }
  state->returned = true;
}

static struct sim *sim_make(void)
{
  struct sim_options options = {.seed = 1};
  struct sim *sim = sim_create(&options);
  ck_assert_ptr_nonnull(sim);
  return sim;
}

START_TEST(sim_fiber_resume_yield_ping_pong)
{
  /* Resume and yield alternate strictly: the log reads sim, fiber, sim, fiber, ... */
  struct sim *sim = sim_make();
  struct hand_off_log log = {0};
  struct counting_fiber state = {.log = &log, .id = 1};
  state.fiber = sim_fiber_create(sim, counting_body, &state);
  ck_assert_uint_eq(state.steps, 0); /* the body does not start at create */
  for (uint32_t i = 0; i < 20; i++) {
    log_tag(&log, i);
    sim_fiber_resume(state.fiber);
  }
  ck_assert_uint_eq(log.count, 40);
  for (uint32_t i = 0; i < 20; i++) {
    ck_assert_uint_eq(log.tags[2 * i], i);
    ck_assert_uint_eq(log.tags[2 * i + 1], 1001);
  }
  sim_destroy(sim);
  ck_assert(state.saw_cancel);
}
END_TEST

START_TEST(sim_fiber_body_returns_done)
{
  /* A body that yields twice and returns is done after the third resume; destroy joins it. */
  struct sim *sim = sim_make();
  struct counting_fiber state = {.yields = 2};
  state.fiber = sim_fiber_create(sim, counting_body, &state);
  sim_fiber_resume(state.fiber);
  sim_fiber_resume(state.fiber);
  ck_assert(!sim_fiber_done(state.fiber));
  sim_fiber_resume(state.fiber);
  ck_assert(sim_fiber_done(state.fiber));
  ck_assert(state.returned);
  ck_assert(!state.saw_cancel);
  ck_assert_uint_eq(state.steps, 3);
  sim_fiber_destroy(state.fiber);
  sim_destroy(sim); /* a destroyed fiber is skipped */
}
END_TEST

START_TEST(sim_fiber_destroy_cancels_blocked)
{
  /* Destroying a fiber blocked in yield makes yield return false; the body unwinds, not resumed. */
  struct sim *sim = sim_make();
  struct counting_fiber state = {0};
  state.fiber = sim_fiber_create(sim, counting_body, &state);
  sim_fiber_resume(state.fiber);
  sim_fiber_resume(state.fiber);
  ck_assert(!sim_fiber_cancelled(state.fiber));
  sim_fiber_destroy(state.fiber);
  ck_assert(state.saw_cancel);
  ck_assert(!state.returned);
  ck_assert_uint_eq(state.steps, 2);
  sim_destroy(sim);
}
END_TEST

START_TEST(sim_fiber_never_resumed)
{
  /* A fiber that never ran is destroyed without running its body. */
  struct sim *sim = sim_make();
  struct counting_fiber state = {0};
  state.fiber = sim_fiber_create(sim, counting_body, &state);
  sim_destroy(sim);
  ck_assert_uint_eq(state.steps, 0);
  ck_assert(!state.saw_cancel);
}
END_TEST

/* An event that resumes one fiber and re-arms itself until the fiber is done. */
struct fiber_driver {
  struct sim_event event;
  struct counting_fiber *state;
  uint64_t period_ns;
};

static void driver_fire(struct sim *sim, struct sim_event *event)
{
  struct fiber_driver *driver = SIM_CONTAINER_OF(event, struct fiber_driver, event);
  sim_fiber_resume(driver->state->fiber);
  if (sim_fiber_done(driver->state->fiber)) return;
  sim_event_schedule_after(sim, event, driver->period_ns);
}

START_TEST(sim_fiber_many_driven_by_events)
{
  /* 48 fibers, each resumed by its own periodic event, see the clock of the event resuming them. */
  struct sim *sim = sim_make();
  static struct counting_fiber states[FIBERS_MANY];
  static struct fiber_driver drivers[FIBERS_MANY];
  struct hand_off_log log = {0};
  memset(states, 0, sizeof(states));
  for (uint32_t i = 0; i < FIBERS_MANY; i++) {
    states[i] = (struct counting_fiber){.id = i, .yields = 1 + i % 4, .sim = sim};
    states[i].log = i < 2 ? &log : NULL;
    states[i].fiber = sim_fiber_create(sim, counting_body, &states[i]);
    drivers[i] = (struct fiber_driver){.state = &states[i], .period_ns = 10 + i};
    sim_event_init(&drivers[i].event, driver_fire, "driver");
    sim_event_schedule_at(sim, &drivers[i].event, i);
  }
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  for (uint32_t i = 0; i < FIBERS_MANY; i++) {
    ck_assert(states[i].returned);
    ck_assert_uint_eq(states[i].steps, 2 + i % 4);
    for (uint32_t j = 0; j < states[i].steps; j++) {
      ck_assert_uint_eq(states[i].times_ns[j], i + j * (10 + i));
    }
  }
  /* Fiber 0 runs at 0, 10; fiber 1 at 1, 12, 23: merged in time order. */
  static const uint32_t expected[] = {1000, 1001, 1000, 1001, 1001};
  ck_assert_uint_eq(log.count, SIM_ARRAY_COUNT(expected));
  for (uint32_t i = 0; i < log.count; i++) ck_assert_uint_eq(log.tags[i], expected[i]);
  sim_destroy(sim);
}
END_TEST

Suite *sim_fiber_suite(void)
{
  Suite *suite = suite_create("sim_fiber");
  TCase *core = tcase_create("core");
  tcase_add_test(core, sim_fiber_resume_yield_ping_pong);
  tcase_add_test(core, sim_fiber_body_returns_done);
  tcase_add_test(core, sim_fiber_destroy_cancels_blocked);
  tcase_add_test(core, sim_fiber_never_resumed);
  tcase_add_test(core, sim_fiber_many_driven_by_events);
  suite_add_tcase(suite, core);
  return suite;
}
