/*
 * sim_core_test.c: the event queue, PRNG, run loop, trace, link and fibers.
 */
#include "sim_base.h"

#include "sim.h"
#include "sim_check.h"
#include "sim_fiber.h"
#include "sim_link.h"

/* Sorts (time << 32 | seq) keys for the reference order. */
static int compare_keys(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

START_TEST(sim_queue_pop_matches_sorted_reference)
{
  /* Interleaved pushes, cancels and pops over wide time ranges pop in (time, seq) order. */
  enum { COUNT = 4000 };
  static struct sim_queue queue;
  static struct sim_event events[COUNT];
  static uint64_t expected[COUNT];
  sim_queue_init(&queue);
  struct sim_prng prng;
  sim_prng_init(&prng, 99);
  uint32_t live = 0;
  uint64_t seq = 1;
  for (uint32_t i = 0; i < COUNT; i++) {
    /* Times spread over every wheel level: small, 2^20 and 2^40 ranges, and repeats. */
    uint64_t span = i % 3 == 0 ? 50 : i % 3 == 1 ? (UINT64_C(1) << 20) : (UINT64_C(1) << 40);
    sim_queue_push(&queue, &events[i], sim_prng_below(&prng, span), seq++);
  }
  for (uint32_t i = 0; i < COUNT; i++) {
    if (i % 5 == 0) {
      sim_queue_cancel(&queue, &events[i]);
      ck_assert_uint_eq(events[i].seq, 0);
    } else {
      ck_assert_uint_lt(events[i].time_ns, UINT64_C(1) << 41);
      expected[live++] = events[i].time_ns << 22 | events[i].seq;
    }
  }
  qsort(expected, live, sizeof(expected[0]), compare_keys);
  ck_assert_uint_eq(sim_queue_count(&queue), live);
  for (uint32_t i = 0; i < live; i++) {
    struct sim_event *peeked = sim_queue_peek(&queue);
    struct sim_event *event = sim_queue_pop(&queue);
    ck_assert_ptr_eq(peeked, event);
    ck_assert_uint_eq(event->time_ns << 22 | (uint64_t)(event - events + 1), expected[i]);
    ck_assert_uint_eq(event->seq, 0);
  }
  ck_assert_ptr_null(sim_queue_pop(&queue));
}
END_TEST

START_TEST(sim_queue_rearm_and_push_at_popped_time)
{
  /* Re-arming moves an event; a push at the time just popped runs after older equals. */
  static struct sim_queue queue;
  struct sim_event a = {0}, b = {0}, c = {0};
  sim_queue_init(&queue);
  sim_queue_push(&queue, &a, 1000, 1);
  sim_queue_push(&queue, &b, 70000, 2);
  sim_queue_push(&queue, &a, 300000, 3); /* re-arm: a moves after b */
  ck_assert_uint_eq(sim_queue_count(&queue), 2);
  ck_assert_ptr_eq(sim_queue_pop(&queue), &b);
  sim_queue_push(&queue, &c, 70000, 4);
  ck_assert_ptr_eq(sim_queue_peek(&queue), &c);
  ck_assert_ptr_eq(sim_queue_pop(&queue), &c);
  ck_assert_ptr_eq(sim_queue_pop(&queue), &a);
  ck_assert_uint_eq(a.time_ns, 300000);
  ck_assert_ptr_null(sim_queue_peek(&queue));
}
END_TEST

START_TEST(sim_prng_known_answers)
{
  /* splitmix64 and xoshiro256** reproduce their published reference outputs. */
  uint64_t state = 0;
  ck_assert_uint_eq(sim_splitmix64(&state), UINT64_C(0xe220a8397b1dcdaf));
  struct sim_prng prng = {{1, 2, 3, 4}};
  ck_assert_uint_eq(sim_prng_u64(&prng), UINT64_C(11520));
  ck_assert_uint_eq(sim_prng_u64(&prng), UINT64_C(0));
  ck_assert_uint_eq(sim_prng_u64(&prng), UINT64_C(1509978240));
  ck_assert_uint_eq(sim_prng_u64(&prng), UINT64_C(1215971899390074240));
}
END_TEST

START_TEST(sim_prng_streams_are_independent_and_bounded)
{
  /* Named streams differ from each other, repeat for the same name, and respect bounds. */
  struct sim_prng a, b, c;
  sim_prng_init_stream(&a, 5, "guest/vcpu0");
  sim_prng_init_stream(&b, 5, "guest/vcpu0");
  sim_prng_init_stream(&c, 5, "link/0");
  uint64_t first_a = sim_prng_u64(&a);
  ck_assert_uint_eq(first_a, sim_prng_u64(&b));
  ck_assert_uint_ne(first_a, sim_prng_u64(&c));
  uint32_t hits = 0;
  for (int i = 0; i < 10000; i++) {
    ck_assert_uint_lt(sim_prng_below(&a, 7), 7);
    uint64_t value = sim_prng_range(&a, 10, 12);
    ck_assert(value >= 10 && value <= 12);
    hits += sim_prng_chance(&a, (struct sim_ratio){1, 4});
  }
  ck_assert(hits > 2200 && hits < 2800);
}
END_TEST

struct order_probe {
  struct sim_event first;
  struct sim_event second;
  struct sim_event later;
  uint64_t order[8];
  uint32_t count;
};

static void probe_first(struct sim *sim, struct sim_event *event)
{
  struct order_probe *probe = SIM_CONTAINER_OF(event, struct order_probe, first);
  probe->order[probe->count++] = 1;
  /* Scheduled during dispatch at the same time: must run after "second". */
  sim_event_schedule_at(sim, &probe->later, sim_now_ns(sim));
}

static void probe_second(struct sim *sim, struct sim_event *event)
{
  struct order_probe *probe = SIM_CONTAINER_OF(event, struct order_probe, second);
  (void)sim;
  probe->order[probe->count++] = 2;
}

static void probe_later(struct sim *sim, struct sim_event *event)
{
  struct order_probe *probe = SIM_CONTAINER_OF(event, struct order_probe, later);
  probe->order[probe->count++] = 3;
  sim_trace(sim, "probe.later", sim_now_ns(sim), 0, 0, 0);
}

START_TEST(sim_run_two_phase_dispatch)
{
  /* Events at one time run in seq order; one scheduled during the step runs after them. */
  struct sim_options options = {.seed = 1};
  struct sim *sim = sim_create(&options);
  struct order_probe probe = {0};
  sim_event_init(&probe.first, probe_first, "first");
  sim_event_init(&probe.second, probe_second, "second");
  sim_event_init(&probe.later, probe_later, "later");
  sim_event_schedule_at(sim, &probe.first, 10);
  sim_event_schedule_at(sim, &probe.second, 10);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(probe.count, 3);
  ck_assert_uint_eq(probe.order[0], 1);
  ck_assert_uint_eq(probe.order[1], 2);
  ck_assert_uint_eq(probe.order[2], 3);
  ck_assert_uint_eq(sim_now_ns(sim), 10);
  ck_assert_uint_eq(sim_events_count(sim), 3);
  sim_destroy(sim);
}
END_TEST

static void tick(struct sim *sim, struct sim_event *event)
{
  sim_trace(sim, "tick", sim_now_ns(sim), 0, 0, 0);
  sim_event_schedule_after(sim, event, 100);
}

START_TEST(sim_run_stops_at_bounds)
{
  /* events_max and time_ns_max end an endless run, and the clock never passes the bound. */
  struct sim_options options = {.seed = 1, .events_max = 50};
  struct sim *sim = sim_create(&options);
  struct sim_event event;
  sim_event_init(&event, tick, "tick");
  sim_event_schedule_at(sim, &event, 0);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_EVENTS_MAX);
  ck_assert_uint_eq(sim_events_count(sim), 50);
  sim_destroy(sim);
  options = (struct sim_options){.seed = 1, .time_ns_max = 1050};
  sim = sim_create(&options);
  sim_event_init(&event, tick, "tick"); /* the event still belonged to the first sim */
  sim_event_schedule_at(sim, &event, 0);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_TIME_MAX);
  ck_assert_uint_eq(sim_now_ns(sim), 1000);
  sim_destroy(sim);
}
END_TEST

static uint64_t traced_digest(uint64_t value, uint64_t *count, uint64_t *kept_digest)
{
  struct sim_options options = {.seed = 1, .trace_records_max = 16};
  struct sim *sim = sim_create(&options);
  sim_trace(sim, "a", 1, 2, 3, 4);
  sim_trace(sim, "b", value, 0, 0, 0);
  uint64_t digest = sim_trace_digest(sim);
  const struct sim_trace_record *records = sim_trace_records(sim, count);
  *kept_digest = records[*count - 1].digest;
  sim_destroy(sim);
  return digest;
}

START_TEST(sim_trace_digest_is_canonical)
{
  /* The digest is a pure function of the records; one changed value changes it. */
  uint64_t count, kept_a, kept_b, kept_c;
  uint64_t a = traced_digest(7, &count, &kept_a);
  uint64_t b = traced_digest(7, &count, &kept_b);
  uint64_t c = traced_digest(8, &count, &kept_c);
  ck_assert_uint_eq(a, b);
  ck_assert_uint_ne(a, c);
  ck_assert_uint_eq(count, 2);
  ck_assert_uint_eq(kept_a, a);
}
END_TEST

struct link_probe {
  uint64_t arrivals_ns[8];
  uint64_t counts[8];
  uint32_t deliveries;
  bool closed;
  struct sim *sim;
  uint8_t received[256];
  size_t received_count;
};

static void probe_deliver(void *context, const uint8_t *bytes, size_t count)
{
  struct link_probe *probe = context;
  if (count == 0) {
    probe->closed = true;
    return;
  }
  probe->arrivals_ns[probe->deliveries] = sim_now_ns(probe->sim);
  probe->counts[probe->deliveries++] = count;
  memcpy(probe->received + probe->received_count, bytes, count);
  probe->received_count += count;
}

START_TEST(link_send_timing_window_and_close)
{
  /* 1000 B/s, 5 ms latency, 100-byte packets: exact arrival times, window, order, close. */
  struct sim_options options = {.seed = 1};
  struct sim *sim = sim_create(&options);
  struct link_options link_options = {.bandwidth_bytes_per_s = 1000, .latency_ns = 5000000,
                                      .window_bytes = 150, .packet_bytes_max = 100};
  struct link *link = link_create(sim, &link_options, "test");
  struct link_probe probe = {.sim = sim};
  link_receiver_set(link, &probe, probe_deliver);
  uint8_t bytes[200];
  for (int i = 0; i < 200; i++) bytes[i] = (uint8_t)i;
  ck_assert_uint_eq(link_send(link, bytes, 200), 150);
  ck_assert_uint_eq(link_space(link), 0);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(probe.deliveries, 2);
  ck_assert_uint_eq(probe.arrivals_ns[0], 100 * SIM_NS_PER_MS + 5 * SIM_NS_PER_MS);
  ck_assert_uint_eq(probe.arrivals_ns[1], 150 * SIM_NS_PER_MS + 5 * SIM_NS_PER_MS);
  ck_assert_uint_eq(link_space(link), 150);
  ck_assert_uint_eq(link_send(link, bytes + 150, 50), 50);
  link_close(link);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert(probe.closed);
  ck_assert_uint_eq(probe.received_count, 200);
  ck_assert_int_eq(memcmp(probe.received, bytes, 200), 0);
  ck_assert_uint_eq(link_bytes_delivered(link), 200);
  sim_destroy(sim);
}
END_TEST

struct fiber_probe {
  struct sim_fiber *fiber;
  uint32_t steps;
  bool saw_cancel;
};

static void fiber_body(struct sim_fiber *fiber, void *context)
{
  struct fiber_probe *probe = context;
  for (;;) {
    probe->steps++;
    if (!sim_fiber_yield(fiber)) {
      probe->saw_cancel = true;
      return;
    }
  }
}

START_TEST(sim_fiber_hand_off_and_cancel)
{
  /* Each resume runs the body to its next yield; destroy unwinds a blocked fiber. */
  struct sim_options options = {.seed = 1};
  struct sim *sim = sim_create(&options);
  struct fiber_probe probe = {0};
  probe.fiber = sim_fiber_create(sim, fiber_body, &probe);
  ck_assert_uint_eq(probe.steps, 0);
  sim_fiber_resume(probe.fiber);
  ck_assert_uint_eq(probe.steps, 1);
  sim_fiber_resume(probe.fiber);
  sim_fiber_resume(probe.fiber);
  ck_assert_uint_eq(probe.steps, 3);
  ck_assert(!sim_fiber_done(probe.fiber));
  sim_destroy(sim);
  ck_assert(probe.saw_cancel);
}
END_TEST

Suite *sim_core_suite(void)
{
  Suite *suite = suite_create("sim_core");
  TCase *queue = tcase_create("queue");
  tcase_add_test(queue, sim_queue_pop_matches_sorted_reference);
  tcase_add_test(queue, sim_queue_rearm_and_push_at_popped_time);
  suite_add_tcase(suite, queue);
  TCase *prng = tcase_create("prng");
  tcase_add_test(prng, sim_prng_known_answers);
  tcase_add_test(prng, sim_prng_streams_are_independent_and_bounded);
  suite_add_tcase(suite, prng);
  TCase *run = tcase_create("run");
  tcase_add_test(run, sim_run_two_phase_dispatch);
  tcase_add_test(run, sim_run_stops_at_bounds);
  tcase_add_test(run, sim_trace_digest_is_canonical);
  tcase_add_test(run, link_send_timing_window_and_close);
  tcase_add_test(run, sim_fiber_hand_off_and_cancel);
  suite_add_tcase(suite, run);
  return suite;
}
