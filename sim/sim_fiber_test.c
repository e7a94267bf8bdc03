/*
 * sim_fiber_test.c: fibers (sim_fiber.h): strict hand-off order, bodies
 * that finish, cancellation of blocked fibers, many fibers driven by
 * simulation events, fibers resuming fibers, deep stacks and the guard.
 * The `core` cases run once per switch (_i: 0 native, 1 ucontext).
 */
#define _DEFAULT_SOURCE /* SIGSEGV names in signal.h under -D_POSIX_C_SOURCE */
#include "sim_base.h"

#include "sim.h"
#include "sim_check.h"
#include "sim_fiber.h"
#include "sim_limits.h"

#include <signal.h>

/* ASan reports a stack overflow itself (and exits) instead of dying of SIGSEGV. */
#if defined(__SANITIZE_ADDRESS__)
#define FIBER_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_TEST_ASAN 1
#endif
#endif

enum { STEPS_MAX = 256, FIBERS_MANY = 48, FIBERS_MORE = 1000 };

static const enum sim_fiber_switch switches[] = {SIM_FIBER_SWITCH_NATIVE,
                                                 SIM_FIBER_SWITCH_UCONTEXT};

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
  state.fiber = sim_fiber_create_with(sim, counting_body, &state, switches[_i]);
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
  state.fiber = sim_fiber_create_with(sim, counting_body, &state, switches[_i]);
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
  state.fiber = sim_fiber_create_with(sim, counting_body, &state, switches[_i]);
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
  state.fiber = sim_fiber_create_with(sim, counting_body, &state, switches[_i]);
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
    states[i].fiber = sim_fiber_create_with(sim, counting_body, &states[i], switches[_i]);
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

START_TEST(sim_fiber_more_than_64)
{
  /* 1000 fibers (the thread version stopped at 64) interleave in event order and all finish. */
  struct sim *sim = sim_make();
  struct counting_fiber *states = calloc(FIBERS_MORE, sizeof(*states));
  struct fiber_driver *drivers = calloc(FIBERS_MORE, sizeof(*drivers));
  ck_assert(states != NULL && drivers != NULL);
  for (uint32_t i = 0; i < FIBERS_MORE; i++) {
    states[i] = (struct counting_fiber){.id = i, .yields = 3, .sim = sim};
    states[i].fiber = sim_fiber_create_with(sim, counting_body, &states[i], switches[_i]);
    drivers[i] = (struct fiber_driver){.state = &states[i], .period_ns = 1000};
    sim_event_init(&drivers[i].event, driver_fire, "driver");
    sim_event_schedule_at(sim, &drivers[i].event, FIBERS_MORE - i);
  }
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  for (uint32_t i = 0; i < FIBERS_MORE; i++) {
    ck_assert(states[i].returned);
    ck_assert_uint_eq(states[i].steps, 4);
    ck_assert_uint_eq(states[i].times_ns[3], FIBERS_MORE - i + 3 * 1000);
  }
  sim_destroy(sim);
  free(states);
  free(drivers);
}
END_TEST

/* An outer fiber that resumes an inner one twice per step: yields return to their resumer. */
struct nest {
  struct sim_fiber *outer;
  struct sim_fiber *inner;
  struct hand_off_log log;
};

static void nest_inner_body(struct sim_fiber *fiber, void *context)
{
  struct nest *nest = context;
  for (uint32_t i = 0; i < 4; i++) {
    log_tag(&nest->log, 200 + i);
    if (!sim_fiber_yield(fiber)) return;
  }
}

static void nest_outer_body(struct sim_fiber *fiber, void *context)
{
  struct nest *nest = context;
  for (uint32_t i = 0; i < 2; i++) {
    log_tag(&nest->log, 100 + i);
    sim_fiber_resume(nest->inner);
    sim_fiber_resume(nest->inner);
    if (!sim_fiber_yield(fiber)) return;
  }
}

START_TEST(sim_fiber_resumes_fiber)
{
  /* A fiber resuming another: the inner yield lands in the outer fiber, not the event loop. */
  struct sim *sim = sim_make();
  struct nest nest = {0};
  nest.outer = sim_fiber_create_with(sim, nest_outer_body, &nest, switches[_i]);
  nest.inner = sim_fiber_create_with(sim, nest_inner_body, &nest, switches[_i]);
  for (uint32_t i = 0; i < 3; i++) {
    log_tag(&nest.log, i);
    sim_fiber_resume(nest.outer);
  }
  static const uint32_t expected[] = {0, 100, 200, 201, 1, 101, 202, 203, 2};
  ck_assert_uint_eq(nest.log.count, SIM_ARRAY_COUNT(expected));
  for (uint32_t i = 0; i < nest.log.count; i++) ck_assert_uint_eq(nest.log.tags[i], expected[i]);
  ck_assert(sim_fiber_done(nest.outer));
  ck_assert(!sim_fiber_done(nest.inner));
  sim_destroy(sim); /* cancels the inner fiber, blocked in its fifth yield */
  ck_assert_uint_eq(nest.log.count, SIM_ARRAY_COUNT(expected));
}
END_TEST

/*
 * Recursion whose frames each hold 4 KiB.  The call goes through a volatile
 * pointer, the frame is read after it returns and its address escapes, so no
 * compiler can turn the recursion into a loop or shrink the frame.
 */
static uint64_t deep_recurse(uint32_t depth);
static uint64_t (*volatile deep_recurse_call)(uint32_t depth) = deep_recurse;
static volatile uint8_t *volatile deep_frame_seen;

static uint64_t deep_recurse(uint32_t depth)
{
  volatile uint8_t frame[4096];
  frame[0] = (uint8_t)depth;
  frame[sizeof(frame) - 1] = (uint8_t)(depth >> 8);
  deep_frame_seen = frame;
  if (depth == 0) return frame[0];
  uint64_t below = deep_recurse_call(depth - 1);
  return below + frame[0] + frame[sizeof(frame) - 1];
}

struct deep {
  uint32_t depth;
  uint64_t result;
};

static void deep_body(struct sim_fiber *fiber, void *context)
{
  (void)fiber;
  struct deep *deep = context;
  deep->result = deep_recurse(deep->depth);
}

START_TEST(sim_fiber_deep_stack)
{
  /* 6 MiB of frames fit a fiber's stack (what a thread had), and the body's result is right. */
  struct sim *sim = sim_make();
  struct deep deep = {.depth = 1536};
  struct sim_fiber *fiber = sim_fiber_create_with(sim, deep_body, &deep, switches[_i]);
  sim_fiber_resume(fiber);
  ck_assert(sim_fiber_done(fiber));
  uint64_t expected = 0;
  for (uint32_t depth = 1; depth <= deep.depth; depth++) {
    expected += (uint8_t)depth + (uint8_t)(depth >> 8);
  }
  ck_assert_uint_eq(deep.result, expected);
  sim_destroy(sim);
}
END_TEST

#ifndef FIBER_TEST_ASAN
START_TEST(sim_fiber_guard_faults)
{
  /* Recursing past the stack hits the guard: the process dies of SIGSEGV, no neighbour hit. */
  struct sim *sim = sim_make();
  struct deep deep = {.depth = SIM_FIBER_STACK_BYTES / 4096 + 64};
  struct sim_fiber *fiber = sim_fiber_create_with(sim, deep_body, &deep, switches[_i]);
  sim_fiber_resume(fiber);
  ck_abort_msg("the overflow did not fault");
}
END_TEST
#endif

Suite *sim_fiber_suite(void)
{
  Suite *suite = suite_create("sim_fiber");
  TCase *core = tcase_create("core");
  tcase_add_loop_test(core, sim_fiber_resume_yield_ping_pong, 0, 2);
  tcase_add_loop_test(core, sim_fiber_body_returns_done, 0, 2);
  tcase_add_loop_test(core, sim_fiber_destroy_cancels_blocked, 0, 2);
  tcase_add_loop_test(core, sim_fiber_never_resumed, 0, 2);
  tcase_add_loop_test(core, sim_fiber_many_driven_by_events, 0, 2);
  tcase_add_loop_test(core, sim_fiber_more_than_64, 0, 2);
  tcase_add_loop_test(core, sim_fiber_resumes_fiber, 0, 2);
  tcase_add_loop_test(core, sim_fiber_deep_stack, 0, 2);
  suite_add_tcase(suite, core);
#ifndef FIBER_TEST_ASAN
  TCase *guard = tcase_create("guard");
  tcase_add_loop_test_raise_signal(guard, sim_fiber_guard_faults, SIGSEGV, 0, 2);
  suite_add_tcase(suite, guard);
#endif
  return suite;
}
