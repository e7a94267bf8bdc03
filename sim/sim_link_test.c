/*
 * sim_link_test.c: the simulated link (sim_link.h): exact packet timing,
 * window backpressure, ring wraparound, close, re-entrant callbacks and the
 * link's trace records; packet mode; and each fault (loss, bursts,
 * duplication, reordering, jitter, corruption, partition, bandwidth), its
 * rate and its determinism.
 */
#include "sim_base.h"

#include "sim.h"
#include "sim_check.h"
#include "sim_limits.h"
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

/* ---- Packet mode and faults. ---- */

enum { PACKET_BYTES = 64, LOG_MAX = 20000 };

/* Packet i carries i in its first four bytes, then a pattern of i. */
static void pattern_fill(uint8_t *bytes, uint32_t index)
{
  for (int j = 0; j < 4; j++) bytes[j] = (uint8_t)(index >> (8 * j));
  for (int j = 4; j < PACKET_BYTES; j++) bytes[j] = (uint8_t)(index * 31 + (uint32_t)j * 7);
}

/* Every delivery of a fixed-size packet: its tag, time and bits off its pattern. */
struct packet_log {
  struct sim *sim;
  uint32_t count;
  uint32_t indexes[LOG_MAX];
  uint64_t arrivals_ns[LOG_MAX];
  uint8_t flipped_bits[LOG_MAX];   /* against the pattern of the order-th packet sent */
  bool by_order;                   /* compare with packet count/copies, not the tag */
  uint32_t copies;                 /* deliveries per packet when by_order */
};

static void log_deliver(void *context, const uint8_t *bytes, size_t count)
{
  struct packet_log *log = context;
  ck_assert_uint_eq(count, PACKET_BYTES);
  ck_assert_uint_lt(log->count, LOG_MAX);
  uint32_t tag = (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
                 (uint32_t)bytes[3] << 24;
  uint32_t index = log->by_order ? log->count / SIM_MAX(log->copies, 1) : tag;
  uint8_t expected[PACKET_BYTES];
  pattern_fill(expected, index);
  uint32_t flipped = 0;
  for (int j = 0; j < PACKET_BYTES; j++) {
    flipped += (uint32_t)__builtin_popcount(bytes[j] ^ expected[j]);
  }
  log->indexes[log->count] = index;
  log->arrivals_ns[log->count] = sim_now_ns(log->sim);
  log->flipped_bits[log->count++] = (uint8_t)flipped;
}

/* Sends packets [first, first + count) in packet mode, now. */
static void packets_send(struct link *link, uint32_t first, uint32_t count)
{
  for (uint32_t i = 0; i < count; i++) {
    uint8_t *bytes = link_packet_reserve(link, PACKET_BYTES);
    ck_assert_ptr_nonnull(bytes);
    pattern_fill(bytes, first + i);
    link_packet_commit(link, PACKET_BYTES);
  }
}

/* A 1 GB/s, 1 us link whose window holds count packets, logging into log. */
static struct link *log_link(struct sim *sim, struct packet_log *log, uint32_t count,
                             const char *name)
{
  memset(log, 0, sizeof(*log));
  log->sim = sim;
  struct link_options options = {.bandwidth_bytes_per_s = 1000000000, .latency_ns = 1000,
                                 .window_bytes = count * PACKET_BYTES,
                                 .packet_bytes_max = PACKET_BYTES};
  struct link *link = link_create(sim, &options, name);
  link_receiver_set(link, log, log_deliver);
  return link;
}

static struct sim *sim_seeded(uint64_t seed, uint64_t trace_records_max)
{
  struct sim_options options = {.seed = seed, .trace_records_max = trace_records_max};
  struct sim *sim = sim_create(&options);
  ck_assert_ptr_nonnull(sim);
  return sim;
}

static uint64_t trace_kind_count(struct sim *sim, const char *kind)
{
  uint64_t count = 0, total = 0;
  const struct sim_trace_record *records = sim_trace_records(sim, &total);
  for (uint64_t i = 0; i < total; i++) count += strcmp(records[i].kind, kind) == 0;
  return count;
}

static struct sim_ratio one_in(uint64_t denominator)
{
  return (struct sim_ratio){1, denominator};
}

/* Packet-mode state for the ring-end test: one packet sent from the writable callback. */
struct ring_end_peer {
  struct link *link;
  uint32_t deliveries;
  size_t counts[8];
  uint8_t last[32];
  bool sent_from_writable;
};

static void ring_end_deliver(void *context, const uint8_t *bytes, size_t count)
{
  struct ring_end_peer *peer = context;
  ck_assert_uint_lt(peer->deliveries, 8);
  peer->counts[peer->deliveries++] = count;
  if (peer->deliveries == 1) ck_assert_ptr_null(link_packet_reserve(peer->link, 30));
  memcpy(peer->last, bytes, SIM_MIN(count, sizeof(peer->last)));
}

static void ring_end_writable(void *context)
{
  struct ring_end_peer *peer = context;
  if (peer->sent_from_writable) return;
  peer->sent_from_writable = true;
  uint8_t *bytes = link_packet_reserve(peer->link, 30);
  ck_assert_ptr_nonnull(bytes);
  for (int i = 0; i < 30; i++) bytes[i] = (uint8_t)(0xa0 + i);
  link_packet_commit(peer->link, 30);
}

START_TEST(link_packet_whole_across_ring_end)
{
  /* Window 100 holding 3 x 30: a fourth packet skips the last 10 bytes and arrives in one call. */
  struct sim *sim = sim_make(0);
  struct link_options options = {.bandwidth_bytes_per_s = 1000000, .latency_ns = 100,
                                 .window_bytes = 100, .packet_bytes_max = 30};
  struct ring_end_peer peer = {0};
  peer.link = link_create(sim, &options, "ring");
  link_receiver_set(peer.link, &peer, ring_end_deliver);
  link_writable_set(peer.link, &peer, ring_end_writable);
  static const uint8_t bytes[30] = {1};
  for (int i = 0; i < 3; i++) {
    uint8_t *slot = link_packet_reserve(peer.link, 30);
    ck_assert_ptr_nonnull(slot);
    memcpy(slot, bytes, 30);
    link_packet_commit(peer.link, 30);
  }
  ck_assert_uint_eq(link_space(peer.link), 10);
  ck_assert_ptr_null(link_packet_reserve(peer.link, 30));
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(peer.deliveries, 4);
  for (int i = 0; i < 4; i++) ck_assert_uint_eq(peer.counts[i], 30);
  for (int i = 0; i < 30; i++) ck_assert_uint_eq(peer.last[i], 0xa0 + i);
  ck_assert_uint_eq(link_space(peer.link), 100);
  ck_assert_uint_eq(link_stats(peer.link)->bytes_delivered, 120);
  sim_destroy(sim);
}
END_TEST

START_TEST(link_packet_reserve_full_and_short_commit)
{
  /* A short commit sends only what it names; a full window or a full slot FIFO reserves NULL. */
  struct sim *sim = sim_make(0);
  struct link_peer peer;
  struct link_options options = {.bandwidth_bytes_per_s = 1000000, .latency_ns = 100,
                                 .window_bytes = 64, .packet_bytes_max = 64};
  struct link *link = link_make(sim, &peer, &options);
  uint8_t *bytes = link_packet_reserve(link, 64);
  ck_assert_ptr_nonnull(bytes);
  memset(bytes, 5, 10);
  link_packet_commit(link, 10);
  ck_assert_uint_eq(link_space(link), 54);
  ck_assert_ptr_null(link_packet_reserve(link, 60));
  bytes = link_packet_reserve(link, 54);
  ck_assert_ptr_nonnull(bytes);
  memset(bytes, 6, 54);
  link_packet_commit(link, 54);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(peer.deliveries, 2);
  ck_assert_uint_eq(peer.counts[0], 10);
  ck_assert_uint_eq(peer.counts[1], 54);
  ck_assert_uint_eq(peer.received[9], 5);
  ck_assert_uint_eq(peer.received[10], 6);
  struct link_options tiny = {.bandwidth_bytes_per_s = 1000, .latency_ns = 1, .window_bytes = 4,
                              .packet_bytes_max = 1};
  struct link *slots = link_create(sim, &tiny, "tiny");
  for (int i = 0; i < 4; i++) {
    ck_assert_ptr_nonnull(link_packet_reserve(slots, 1));
    link_packet_commit(slots, 1);
  }
  ck_assert_ptr_null(link_packet_reserve(slots, 1));
  sim_destroy(sim);
}
END_TEST

START_TEST(link_faults_zeroed_keep_timing)
{
  /* Setting all-zero faults changes no arrival and no counter: only one link.faults record. */
  struct sim *plain = sim_seeded(3, 1024);
  struct sim *zeroed = sim_seeded(3, 1024);
  static struct packet_log log_a, log_b;
  struct link *a = log_link(plain, &log_a, 100, "x");
  struct link *b = log_link(zeroed, &log_b, 100, "x");
  struct link_faults none = {0};
  link_faults_set(b, &none);
  packets_send(a, 0, 100);
  packets_send(b, 0, 100);
  ck_assert_int_eq(sim_run(plain), SIM_RUN_IDLE);
  ck_assert_int_eq(sim_run(zeroed), SIM_RUN_IDLE);
  ck_assert_uint_eq(log_a.count, 100);
  ck_assert_uint_eq(log_b.count, 100);
  for (uint32_t i = 0; i < 100; i++) {
    ck_assert_uint_eq(log_a.indexes[i], i);
    ck_assert_uint_eq(log_b.indexes[i], i);
    ck_assert_uint_eq(log_a.arrivals_ns[i], 1000 + 64 * (i + 1));
    ck_assert_uint_eq(log_b.arrivals_ns[i], log_a.arrivals_ns[i]);
    ck_assert_uint_eq(log_b.flipped_bits[i], 0);
  }
  ck_assert_uint_eq(sim_trace_count(zeroed), sim_trace_count(plain) + 1);
  const struct link_stats *stats = link_stats(b);
  ck_assert_uint_eq(stats->packets_delivered, 100);
  ck_assert_uint_eq(stats->packets_lost + stats->packets_duplicated + stats->packets_corrupted +
                        stats->packets_reordered + stats->packets_partitioned, 0);
  sim_destroy(plain);
  sim_destroy(zeroed);
}
END_TEST

START_TEST(link_faults_valid_rejects)
{
  /* Zeroed and 0/0 ratios are valid; an improper ratio, a delay past the bound or reorder
   * with no delay is not. */
  struct link_faults faults = {0};
  ck_assert(link_faults_valid(&faults));
  faults.loss = (struct sim_ratio){0, 0};
  ck_assert(link_faults_valid(&faults));
  faults.loss = (struct sim_ratio){3, 2};
  ck_assert(!link_faults_valid(&faults));
  faults.loss = (struct sim_ratio){1, 0};
  ck_assert(!link_faults_valid(&faults));
  faults = (struct link_faults){.reorder = one_in(2)};
  ck_assert(!link_faults_valid(&faults));
  faults.reorder_delay_ns_max = 1;
  ck_assert(link_faults_valid(&faults));
  faults = (struct link_faults){.jitter_ns_max = SIM_LINK_DELAY_NS_MAX + 1};
  ck_assert(!link_faults_valid(&faults));
  faults = (struct link_faults){.bandwidth_bytes_per_s = SIM_LINK_BANDWIDTH_BYTES_PER_S_MAX + 1};
  ck_assert(!link_faults_valid(&faults));
}
END_TEST

START_TEST(link_loss_rate_and_window)
{
  /* Loss 1/10 over 10000 packets: 800..1200 lost (6 sd), each traced, the rest in order,
   * and the window is whole again at the end. */
  struct sim *sim = sim_seeded(11, 30000);
  static struct packet_log log;
  struct link *link = log_link(sim, &log, 10000, "lossy");
  struct link_faults faults = {.loss = one_in(10)};
  link_faults_set(link, &faults);
  packets_send(link, 0, 10000);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  const struct link_stats *stats = link_stats(link);
  ck_assert_uint_ge(stats->packets_lost, 800);
  ck_assert_uint_le(stats->packets_lost, 1200);
  ck_assert_uint_eq(log.count + stats->packets_lost, 10000);
  ck_assert_uint_eq(trace_kind_count(sim, "link.drop"), stats->packets_lost);
  for (uint32_t i = 1; i < log.count; i++) ck_assert_uint_gt(log.indexes[i], log.indexes[i - 1]);
  ck_assert_uint_eq(link_space(link), 10000 * PACKET_BYTES);
  ck_assert_uint_eq(stats->bytes_delivered, (uint64_t)log.count * PACKET_BYTES);
  sim_destroy(sim);
}
END_TEST

START_TEST(link_burst_loss_comes_in_runs)
{
  /* Gilbert-Elliott, enter 1/50, exit 1/5, all lost when bad: every burst is one run of
   * losses (runs == bursts), runs average >= 3 packets, and none is an independent loss. */
  struct sim *sim = sim_seeded(12, 0);
  static struct packet_log log;
  struct link *link = log_link(sim, &log, 20000, "bursty");
  struct link_faults faults = {.burst_enter = one_in(50), .burst_exit = one_in(5),
                               .burst_loss = one_in(1)};
  link_faults_set(link, &faults);
  packets_send(link, 0, 20000);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  const struct link_stats *stats = link_stats(link);
  uint64_t runs = 0, lost = 0, expected = 0;
  for (uint32_t i = 0; i <= log.count; i++) {
    uint32_t next = i < log.count ? log.indexes[i] : 20000;
    if (next > expected) runs++;
    lost += next - expected;
    expected = next + 1;
  }
  ck_assert_uint_eq(lost, stats->packets_burst_lost);
  ck_assert_uint_eq(stats->packets_lost, 0);
  ck_assert_uint_gt(runs, 100);
  ck_assert_uint_eq(runs, stats->bursts_count);
  ck_assert_uint_ge(lost, 3 * runs);
  sim_destroy(sim);
}
END_TEST

START_TEST(link_duplicate_arrives_twice)
{
  /* Duplicate 1/1: each packet arrives twice, intact, the copy no earlier; the window frees
   * only after both. */
  struct sim *sim = sim_seeded(13, 0);
  static struct packet_log log;
  struct link *link = log_link(sim, &log, 100, "dup");
  struct link_faults faults = {.duplicate = one_in(1), .duplicate_delay_ns_max = 5000};
  link_faults_set(link, &faults);
  packets_send(link, 0, 100);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  uint32_t seen[100] = {0};
  uint64_t first_ns[100] = {0};
  for (uint32_t i = 0; i < log.count; i++) {
    ck_assert_uint_lt(log.indexes[i], 100);
    ck_assert_uint_eq(log.flipped_bits[i], 0);
    if (seen[log.indexes[i]]++ == 0) first_ns[log.indexes[i]] = log.arrivals_ns[i];
    else ck_assert_uint_ge(log.arrivals_ns[i], first_ns[log.indexes[i]]);
  }
  for (uint32_t i = 0; i < 100; i++) ck_assert_uint_eq(seen[i], 2);
  ck_assert_uint_eq(link_stats(link)->packets_duplicated, 100);
  ck_assert_uint_eq(link_stats(link)->packets_delivered, 200);
  ck_assert_uint_eq(link_space(link), 100 * PACKET_BYTES);
  sim_destroy(sim);
}
END_TEST

START_TEST(link_reorder_overtakes_and_delivers_all)
{
  /* Reorder 1/5 by up to 50 us (a packet takes 64 ns): each packet arrives once; the held-back
   * ones (as traced) are overtaken, the others keep their order. */
  struct sim *sim = sim_seeded(14, 4096);
  static struct packet_log log;
  struct link *link = log_link(sim, &log, 1000, "reorder");
  struct link_faults faults = {.reorder = one_in(5), .reorder_delay_ns_max = 50000};
  link_faults_set(link, &faults);
  packets_send(link, 0, 1000);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  static bool held[1000], seen[1000];
  uint64_t total = 0;
  const struct sim_trace_record *records = sim_trace_records(sim, &total);
  for (uint64_t i = 0; i < total; i++) {
    if (strcmp(records[i].kind, "link.reorder") == 0) held[records[i].values[1]] = true;
  }
  ck_assert_uint_eq(log.count, 1000);
  uint64_t inversions = 0;
  int64_t last_in_order = -1;
  for (uint32_t i = 0; i < log.count; i++) {
    uint32_t index = log.indexes[i];
    ck_assert(!seen[index]);
    seen[index] = true;
    if (i > 0 && index < log.indexes[i - 1]) inversions++;
    if (held[index]) continue;
    ck_assert_int_gt((int64_t)index, last_in_order);
    last_in_order = index;
  }
  uint64_t reordered = link_stats(link)->packets_reordered;
  ck_assert_uint_ge(reordered, 120);
  ck_assert_uint_le(reordered, 280);
  ck_assert_uint_gt(inversions, 100);
  sim_destroy(sim);
}
END_TEST

START_TEST(link_jitter_bounded_in_order)
{
  /* Jitter up to 10 us: packets still arrive in order, each within [base, base + 10 us]. */
  struct sim *sim = sim_seeded(15, 0);
  static struct packet_log log;
  struct link *link = log_link(sim, &log, 1000, "jitter");
  struct link_faults faults = {.jitter_ns_max = 10000};
  link_faults_set(link, &faults);
  packets_send(link, 0, 1000);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(log.count, 1000);
  uint32_t moved = 0;
  for (uint32_t i = 0; i < 1000; i++) {
    uint64_t base_ns = 1000 + 64 * (uint64_t)(i + 1);
    ck_assert_uint_eq(log.indexes[i], i);
    ck_assert_uint_ge(log.arrivals_ns[i], base_ns);
    ck_assert_uint_le(log.arrivals_ns[i], base_ns + 10000);
    moved += log.arrivals_ns[i] != base_ns;
  }
  ck_assert_uint_gt(moved, 900);
  sim_destroy(sim);
}
END_TEST

START_TEST(link_jitter_off_in_flight_keeps_order)
{
  /*
   * Found by the fault campaign (docs/faults.md): jitter on for 500 packets,
   * then every fault off while they are in flight; the next 500 (no jitter)
   * must not overtake the jittered ones still on the way.
   */
  struct sim *sim = sim_seeded(15, 0);
  static struct packet_log log;
  struct link *link = log_link(sim, &log, 1000, "jitter-off");
  struct link_faults faults = {.jitter_ns_max = 100000};
  link_faults_set(link, &faults);
  packets_send(link, 0, 500);
  link_faults_set(link, &(struct link_faults){0});
  packets_send(link, 500, 500);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(log.count, 1000);
  for (uint32_t i = 0; i < 1000; i++) ck_assert_uint_eq(log.indexes[i], i);
  sim_destroy(sim);
}
END_TEST

START_TEST(link_corrupt_flips_one_bit_per_copy)
{
  /* Corrupt 1/3 with every packet duplicated at once: each copy is off by 0 or 1 bit (so the
   * ring is restored between copies), and the flipped copies match the counter. */
  struct sim *sim = sim_seeded(16, 0);
  static struct packet_log log;
  struct link *link = log_link(sim, &log, 3000, "corrupt");
  log.by_order = true;
  log.copies = 2;
  struct link_faults faults = {.corrupt = one_in(3), .duplicate = one_in(1)};
  link_faults_set(link, &faults);
  packets_send(link, 0, 3000);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(log.count, 6000);
  uint64_t flipped = 0;
  for (uint32_t i = 0; i < log.count; i++) {
    ck_assert_uint_le(log.flipped_bits[i], 1);
    flipped += log.flipped_bits[i];
  }
  ck_assert_uint_eq(flipped, link_stats(link)->packets_corrupted);
  ck_assert_uint_ge(flipped, 1700);
  ck_assert_uint_le(flipped, 2300);
  sim_destroy(sim);
}
END_TEST

/* An event that sets a link's faults when it fires. */
struct faults_later {
  struct sim_event event;
  struct link *link;
  struct link_faults faults;
};

static void faults_later_fire(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct faults_later *later = SIM_CONTAINER_OF(event, struct faults_later, event);
  link_faults_set(later->link, &later->faults);
}

START_TEST(link_partition_drops_until_healed)
{
  /* Packet i arrives at 1000 + 64 (i + 1) ns; a partition until 4201 ns loses the first 50,
   * later ones pass; a partition set at 10 us loses what arrives after it. */
  struct sim *sim = sim_seeded(17, 0);
  static struct packet_log log;
  struct link *link = log_link(sim, &log, 100, "cut");
  struct link_faults faults = {.partition_until_ns = 4201};
  link_faults_set(link, &faults);
  packets_send(link, 0, 100);
  struct faults_later later = {.link = link, .faults = {.partition_until_ns = UINT64_MAX}};
  sim_event_init(&later.event, faults_later_fire, "later");
  sim_event_schedule_at(sim, &later.event, 6000);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  /* Arrivals up to 1000 + 64 * 78 = 5992 ns beat the second partition: 50..77 arrive. */
  ck_assert_uint_eq(log.count, 28);
  ck_assert_uint_eq(log.indexes[0], 50);
  ck_assert_uint_eq(log.indexes[27], 77);
  ck_assert_uint_eq(link_stats(link)->packets_partitioned, 72);
  ck_assert_uint_eq(link_space(link), 100 * PACKET_BYTES);
  sim_destroy(sim);
}
END_TEST

START_TEST(link_bandwidth_drop_slows_later_packets)
{
  /* 1 MB/s then 250 kB/s: a 64-byte packet takes 64 us, then 256 us; 0 restores the options. */
  struct sim *sim = sim_seeded(18, 0);
  static struct packet_log log;
  struct link *link = log_link(sim, &log, 10, "slow");
  struct link_faults faults = {.bandwidth_bytes_per_s = 1000000};
  link_faults_set(link, &faults);
  packets_send(link, 0, 1);
  faults.bandwidth_bytes_per_s = 250000;
  link_faults_set(link, &faults);
  packets_send(link, 1, 1);
  faults.bandwidth_bytes_per_s = 0;
  link_faults_set(link, &faults);
  packets_send(link, 2, 1);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(log.count, 3);
  ck_assert_uint_eq(log.arrivals_ns[0], 64000 + 1000);
  ck_assert_uint_eq(log.arrivals_ns[1], 64000 + 256000 + 1000);
  ck_assert_uint_eq(log.arrivals_ns[2], 64000 + 256000 + 64 + 1000);
  sim_destroy(sim);
}
END_TEST

/* Runs 400 packets over link "x" with every fault but bursts; faults start at packet `from`,
 * and a link "other" may come first.  Fills lost[] and returns the trace digest. */
static uint64_t mixed_run(uint64_t seed, uint32_t from, bool other_first, bool lost[400])
{
  struct sim *sim = sim_seeded(seed, 8192);
  static struct packet_log log, other_log;
  if (other_first) packets_send(log_link(sim, &other_log, 400, "other"), 0, 400);
  struct link *link = log_link(sim, &log, 400, "x");
  struct link_faults faults = {.loss = one_in(7), .jitter_ns_max = 300, .corrupt = one_in(9),
                               .duplicate = one_in(11), .duplicate_delay_ns_max = 700,
                               .reorder = one_in(13), .reorder_delay_ns_max = 900};
  packets_send(link, 0, from);
  link_faults_set(link, &faults);
  packets_send(link, from, 400 - from);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  memset(lost, 0, 400);
  uint64_t total = 0;
  const struct sim_trace_record *records = sim_trace_records(sim, &total);
  for (uint64_t i = 0; i < total; i++) {
    if (strcmp(records[i].kind, "link.drop") == 0 && records[i].values[0] == link_id(link)) {
      lost[records[i].values[1]] = true;
    }
  }
  uint64_t digest = sim_trace_digest(sim);
  sim_destroy(sim);
  return digest;
}

START_TEST(link_faults_deterministic_and_aligned)
{
  /* Same seed, same trace; another seed, another.  Faults turned on at packet 100, or another
   * link made first, leave the fate of packets 100..399 unchanged (one draw per packet). */
  static bool lost_a[400], lost_b[400], lost_c[400], lost_d[400];
  uint64_t digest_a = mixed_run(21, 0, false, lost_a);
  ck_assert_uint_eq(mixed_run(21, 0, false, lost_b), digest_a);
  ck_assert_uint_ne(mixed_run(22, 0, false, lost_b), digest_a);
  (void)mixed_run(21, 100, false, lost_c);
  (void)mixed_run(21, 0, true, lost_d);
  uint32_t lost_count = 0;
  for (uint32_t i = 0; i < 400; i++) {
    lost_count += lost_a[i];
    if (i < 100) ck_assert(!lost_c[i]);
    else ck_assert_int_eq(lost_c[i], lost_a[i]);
    ck_assert_int_eq(lost_d[i], lost_a[i]);
  }
  ck_assert_uint_gt(lost_count, 20);
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
  TCase *packet = tcase_create("packet");
  tcase_add_test(packet, link_packet_whole_across_ring_end);
  tcase_add_test(packet, link_packet_reserve_full_and_short_commit);
  suite_add_tcase(suite, packet);
  TCase *faults = tcase_create("faults");
  tcase_add_test(faults, link_faults_zeroed_keep_timing);
  tcase_add_test(faults, link_faults_valid_rejects);
  tcase_add_test(faults, link_loss_rate_and_window);
  tcase_add_test(faults, link_burst_loss_comes_in_runs);
  tcase_add_test(faults, link_duplicate_arrives_twice);
  tcase_add_test(faults, link_reorder_overtakes_and_delivers_all);
  tcase_add_test(faults, link_jitter_bounded_in_order);
  tcase_add_test(faults, link_jitter_off_in_flight_keeps_order);
  tcase_add_test(faults, link_corrupt_flips_one_bit_per_copy);
  tcase_add_test(faults, link_partition_drops_until_healed);
  tcase_add_test(faults, link_bandwidth_drop_slows_later_packets);
  tcase_add_test(faults, link_faults_deterministic_and_aligned);
  suite_add_tcase(suite, faults);
  return suite;
}
