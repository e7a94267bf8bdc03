/*
 * sim_link_test.c: the simulated link (sim_link.h): exact packet timing,
 * window backpressure, ring wraparound, close, re-entrant callbacks and the
 * link's trace records.
 */
#include "sim_base.h"

#include "sim.h"
#include "sim_check.h"
#include "sim_link.h"

#include <signal.h>

enum { RECEIVED_BYTES_MAX = 4096, DELIVERIES_MAX = 64 };

/* Receiver and writer state shared by the callbacks below. */
struct link_peer {
  struct sim *sim;
  struct link *link;
  uint8_t received[RECEIVED_BYTES_MAX];
  size_t received_count;
  uint64_t arrivals_ns[DELIVERIES_MAX];
  size_t counts[DELIVERIES_MAX];
  uint32_t deliveries;
  uint32_t closes;              /* count-0 deliveries seen */
  uint64_t close_ns;
  const uint8_t *pending;       /* bytes the writable callback still has to send */
  size_t pending_count;
  uint32_t writable_calls;
  uint32_t echoes_left;         /* deliveries that send one byte back on the link */
};

static void peer_deliver(void *context, const uint8_t *bytes, size_t count)
{
  struct link_peer *peer = context;
  if (count == 0) {
    peer->closes++;
    peer->close_ns = sim_now_ns(peer->sim);
    return;
  }
  ck_assert_uint_lt(peer->deliveries, DELIVERIES_MAX);
  ck_assert_uint_le(peer->received_count + count, RECEIVED_BYTES_MAX);
  peer->arrivals_ns[peer->deliveries] = sim_now_ns(peer->sim);
  peer->counts[peer->deliveries++] = count;
  memcpy(peer->received + peer->received_count, bytes, count);
  peer->received_count += count;
  if (peer->echoes_left > 0) {
    peer->echoes_left--;
    uint8_t echo = (uint8_t)(0xe0 + peer->echoes_left);
    ck_assert_uint_eq(link_send(peer->link, &echo, 1), 1);
  }
}

static void peer_writable(void *context)
{
  struct link_peer *peer = context;
  peer->writable_calls++;
  size_t sent = link_send(peer->link, peer->pending, peer->pending_count);
  peer->pending += sent;
  peer->pending_count -= sent;
}

static struct link *link_make(struct sim *sim, struct link_peer *peer,
                              const struct link_options *options)
{
  memset(peer, 0, sizeof(*peer));
  peer->sim = sim;
  peer->link = link_create(sim, options, "test");
  ck_assert_ptr_nonnull(peer->link);
  link_receiver_set(peer->link, peer, peer_deliver);
  return peer->link;
}

static struct sim *sim_make(uint64_t trace_records_max)
{
  struct sim_options options = {.seed = 1, .trace_records_max = trace_records_max};
  struct sim *sim = sim_create(&options);
  ck_assert_ptr_nonnull(sim);
  return sim;
}

START_TEST(link_send_exact_arrival_times)
{
  /* 1 GB/s, 1 us latency, 1000-byte packets: 2500 bytes arrive at 2, 3 and 3.5 us. */
  struct sim *sim = sim_make(0);
  struct link_peer peer;
  struct link_options options = {.bandwidth_bytes_per_s = 1000000000, .latency_ns = 1000,
                                 .window_bytes = 4096, .packet_bytes_max = 1000};
  struct link *link = link_make(sim, &peer, &options);
  static uint8_t bytes[2500];
  for (size_t i = 0; i < sizeof(bytes); i++) bytes[i] = (uint8_t)(i * 13);
  ck_assert_uint_eq(link_space(link), 4096);
  ck_assert_uint_eq(link_send(link, bytes, sizeof(bytes)), 2500);
  ck_assert_uint_eq(link_space(link), 4096 - 2500);
  ck_assert_uint_eq(link_bytes_sent(link), 2500);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(peer.deliveries, 3);
  static const uint64_t arrivals_ns[] = {2000, 3000, 3500};
  static const size_t counts[] = {1000, 1000, 500};
  for (int i = 0; i < 3; i++) {
    ck_assert_uint_eq(peer.arrivals_ns[i], arrivals_ns[i]);
    ck_assert_uint_eq(peer.counts[i], counts[i]);
  }
  ck_assert_mem_eq(peer.received, bytes, sizeof(bytes));
  ck_assert_uint_eq(link_bytes_delivered(link), 2500);
  sim_destroy(sim);
}
END_TEST

/* An event that sends one byte on its peer's link when it fires. */
struct link_sender {
  struct sim_event event;
  struct link_peer *peer;
};

static void send_later_fire(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct link_sender *sender = SIM_CONTAINER_OF(event, struct link_sender, event);
  static const uint8_t one = 7;
  ck_assert_uint_eq(link_send(sender->peer->link, &one, 1), 1);
}

START_TEST(link_send_rounds_up_and_restarts_when_idle)
{
  /* 3 B/s: one byte takes ceil(1e9 / 3) ns; a send after the link went idle starts at now. */
  struct sim *sim = sim_make(0);
  struct link_peer peer;
  struct link_options options = {.bandwidth_bytes_per_s = 3, .latency_ns = 10,
                                 .window_bytes = 16, .packet_bytes_max = 16};
  link_make(sim, &peer, &options);
  struct link_sender later = {.peer = &peer};
  sim_event_init(&later.event, send_later_fire, "later");
  sim_event_schedule_at(sim, &later.event, 0);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(peer.arrivals_ns[0], 333333334 + 10);
  sim_event_schedule_at(sim, &later.event, 2 * SIM_NS_PER_S);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(peer.arrivals_ns[1], 2 * SIM_NS_PER_S + 333333334 + 10);
  sim_destroy(sim);
}
END_TEST

/* A receiver that only adds up the bytes it is given. */
static void count_deliver(void *context, const uint8_t *bytes, size_t count)
{
  ck_assert(bytes != NULL || count == 0);
  *(uint64_t *)context += count;
}

START_TEST(link_serialise_fast_link_no_overflow)
{
  /* 10^12 B/s and a 1 MiB packet: ceil(2^20 * 1e9 / 1e12) = 1049 ns, no overflow. */
  struct sim *sim = sim_make(0);
  struct link_peer peer;
  struct link_options options = {.bandwidth_bytes_per_s = UINT64_C(1000000000000),
                                 .latency_ns = 0, .window_bytes = 1u << 20,
                                 .packet_bytes_max = 1u << 20};
  struct link *link = link_make(sim, &peer, &options);
  static uint8_t bytes[1u << 20];
  uint64_t counted = 0;
  link_receiver_set(link, &counted, count_deliver);
  ck_assert_uint_eq(link_send(link, bytes, sizeof(bytes)), sizeof(bytes));
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(sim_now_ns(sim), 1049);
  ck_assert_uint_eq(link_bytes_delivered(link), 1u << 20);
  ck_assert_uint_eq(counted, 1u << 20);
  sim_destroy(sim);
}
END_TEST

START_TEST(link_window_backpressure_and_writable)
{
  /* A 100-byte window takes 100 of 1000 bytes; writable refills it until all arrive in order. */
  struct sim *sim = sim_make(0);
  struct link_peer peer;
  struct link_options options = {.bandwidth_bytes_per_s = 1000000, .latency_ns = 500,
                                 .window_bytes = 100, .packet_bytes_max = 40};
  struct link *link = link_make(sim, &peer, &options);
  link_writable_set(link, &peer, peer_writable);
  static uint8_t bytes[1000];
  for (size_t i = 0; i < sizeof(bytes); i++) bytes[i] = (uint8_t)(i * 31 + 1);
  size_t sent = link_send(link, bytes, sizeof(bytes));
  ck_assert_uint_eq(sent, 100);
  ck_assert_uint_eq(link_space(link), 0);
  ck_assert_uint_eq(link_send(link, bytes + sent, 1), 0);
  peer.pending = bytes + sent;
  peer.pending_count = sizeof(bytes) - sent;
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(peer.pending_count, 0);
  ck_assert_uint_eq(peer.received_count, sizeof(bytes));
  ck_assert_mem_eq(peer.received, bytes, sizeof(bytes));
  ck_assert_uint_gt(peer.writable_calls, 0);
  ck_assert_uint_eq(link_space(link), 100);
  for (uint32_t i = 0; i < peer.deliveries; i++) ck_assert_uint_le(peer.counts[i], 40);
  sim_destroy(sim);
}
END_TEST

START_TEST(link_ring_wraparound_splits_delivery)
{
  /* Window 10: after 8 bytes go through, the next 8 wrap and arrive as 2 + 6 bytes, intact. */
  struct sim *sim = sim_make(0);
  struct link_peer peer;
  struct link_options options = {.bandwidth_bytes_per_s = 1000, .latency_ns = 0,
                                 .window_bytes = 10, .packet_bytes_max = 8};
  struct link *link = link_make(sim, &peer, &options);
  static const uint8_t first[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  static const uint8_t second[8] = {11, 12, 13, 14, 15, 16, 17, 18};
  ck_assert_uint_eq(link_send(link, first, 8), 8);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(link_send(link, second, 8), 8);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(peer.deliveries, 3);
  ck_assert_uint_eq(peer.counts[1], 2);
  ck_assert_uint_eq(peer.counts[2], 6);
  ck_assert_uint_eq(peer.arrivals_ns[1], peer.arrivals_ns[2]);
  ck_assert_mem_eq(peer.received, first, 8);
  ck_assert_mem_eq(peer.received + 8, second, 8);
  sim_destroy(sim);
}
END_TEST

START_TEST(link_close_delivers_end_once_after_last_byte)
{
  /* Close with bytes in flight: count 0 comes once, no earlier than the last byte; sends stop. */
  struct sim *sim = sim_make(0);
  struct link_peer peer;
  struct link_options options = {.bandwidth_bytes_per_s = 1000, .latency_ns = 7,
                                 .window_bytes = 64, .packet_bytes_max = 16};
  struct link *link = link_make(sim, &peer, &options);
  static const uint8_t bytes[40] = {9};
  ck_assert_uint_eq(link_send(link, bytes, sizeof(bytes)), 40);
  ck_assert(!link_closed(link));
  link_close(link);
  ck_assert(link_closed(link));
  ck_assert_uint_eq(link_space(link), 0);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(peer.received_count, 40);
  ck_assert_uint_eq(peer.closes, 1);
  ck_assert_uint_ge(peer.close_ns, peer.arrivals_ns[peer.deliveries - 1]);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(peer.closes, 1);
  sim_destroy(sim);
}
END_TEST

START_TEST(link_close_idle_link)
{
  /* Closing a link that never carried a byte still delivers count 0 exactly once. */
  struct sim *sim = sim_make(0);
  struct link_peer peer;
  struct link_options options = {.bandwidth_bytes_per_s = 1000, .latency_ns = 7,
                                 .window_bytes = 64, .packet_bytes_max = 16};
  struct link *link = link_make(sim, &peer, &options);
  link_close(link);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(peer.closes, 1);
  ck_assert_uint_eq(peer.deliveries, 0);
  sim_destroy(sim);
}
END_TEST

START_TEST(link_send_after_close_aborts)
{
  /* Sending on a closed link is a caller bug and trips the assertion. */
  struct sim *sim = sim_make(0);
  struct link_peer peer;
  struct link_options options = {.bandwidth_bytes_per_s = 1000, .latency_ns = 7,
                                 .window_bytes = 64, .packet_bytes_max = 16};
  struct link *link = link_make(sim, &peer, &options);
  static const uint8_t one = 1;
  link_close(link);
  (void)link_send(link, &one, 1);
}
END_TEST

START_TEST(link_deliver_may_send_again)
{
  /* The receiver sends a byte back on the same link from inside deliver: all arrive, in order. */
  struct sim *sim = sim_make(0);
  struct link_peer peer;
  struct link_options options = {.bandwidth_bytes_per_s = 1000000, .latency_ns = 100,
                                 .window_bytes = 16, .packet_bytes_max = 4};
  struct link *link = link_make(sim, &peer, &options);
  peer.echoes_left = 5;
  static const uint8_t bytes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  ck_assert_uint_eq(link_send(link, bytes, 8), 8);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  static const uint8_t expected[13] = {1, 2, 3, 4, 5, 6, 7, 8, 0xe4, 0xe3, 0xe2, 0xe1, 0xe0};
  ck_assert_uint_eq(peer.received_count, sizeof(expected));
  ck_assert_mem_eq(peer.received, expected, sizeof(expected));
  for (uint32_t i = 1; i < peer.deliveries; i++) {
    ck_assert_uint_ge(peer.arrivals_ns[i], peer.arrivals_ns[i - 1]);
  }
  ck_assert_uint_eq(link_bytes_sent(link), 13);
  ck_assert_uint_eq(link_bytes_delivered(link), 13);
  sim_destroy(sim);
}
END_TEST

START_TEST(link_traces_send_and_deliver)
{
  /* One accepted send and its two packets leave one link.send and two link.deliver records. */
  struct sim *sim = sim_make(16);
  struct link_peer peer;
  struct link_options options = {.bandwidth_bytes_per_s = 1000, .latency_ns = 0,
                                 .window_bytes = 64, .packet_bytes_max = 16};
  struct link *link = link_make(sim, &peer, &options);
  static const uint8_t bytes[20] = {0};
  ck_assert_uint_eq(link_send(link, bytes, 20), 20);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  uint64_t count = 0;
  const struct sim_trace_record *records = sim_trace_records(sim, &count);
  ck_assert_uint_eq(count, 3);
  ck_assert_str_eq(records[0].kind, "link.send");
  ck_assert_str_eq(records[1].kind, "link.deliver");
  ck_assert_str_eq(records[2].kind, "link.deliver");
  ck_assert_uint_eq(records[2].time_ns, 20 * SIM_NS_PER_MS);
  sim_destroy(sim);
}
END_TEST

Suite *sim_link_suite(void)
{
  Suite *suite = suite_create("sim_link");
  TCase *timing = tcase_create("timing");
  tcase_add_test(timing, link_send_exact_arrival_times);
  tcase_add_test(timing, link_send_rounds_up_and_restarts_when_idle);
  tcase_add_test(timing, link_serialise_fast_link_no_overflow);
  suite_add_tcase(suite, timing);
  TCase *window = tcase_create("window");
  tcase_add_test(window, link_window_backpressure_and_writable);
  tcase_add_test(window, link_ring_wraparound_splits_delivery);
  tcase_add_test(window, link_deliver_may_send_again);
  suite_add_tcase(suite, window);
  TCase *close = tcase_create("close");
  tcase_add_test(close, link_close_delivers_end_once_after_last_byte);
  tcase_add_test(close, link_close_idle_link);
  tcase_add_test_raise_signal(close, link_send_after_close_aborts, SIGABRT);
  tcase_add_test(close, link_traces_send_and_deliver);
  suite_add_tcase(suite, close);
  return suite;
}
