/*
 * sim_transport_test.c: the reliable byte stream (sim_transport.h): exact
 * delivery or a reported reset under random fault mixes over many seeds,
 * near line rate when clean, loss costing throughput, partitions shorter and
 * longer than the dead time (both ways and one way), corruption stopped by
 * the checksum unless the escape knob lets it through, a slow reader's zero
 * window, abort, determinism, and a blocking reader in a fiber.
 */
#include "sim_base.h"

#include <xxhash.h>
#include <zlib.h>

#include "sim.h"
#include "sim_check.h"
#include "sim_fiber.h"
#include "sim_limits.h"
#include "sim_transport.h"

enum { STREAM_BYTES_MAX = 4u << 20, PROPERTY_SEEDS_DEFAULT = 200 };

/* One end's application: writes its source and closes; reads into its sink. */
struct app {
  struct sim *sim;
  struct link_end *end;
  const uint8_t *source;             /* bytes this end writes */
  size_t source_bytes;
  size_t written;
  uint8_t *sink;                     /* bytes this end read */
  size_t sink_capacity;
  size_t received;
  uint64_t eof_ns;                   /* when the peer's end of stream was read; 0 = not yet */
  uint64_t read_period_ns;           /* 0: read on readable; else read_chunk_bytes this often */
  size_t read_chunk_bytes;
  struct sim_event read_timer;
};

static void app_write(struct app *app)
{
  while (app->written < app->source_bytes) {
    size_t sent = link_end_write(app->end, app->source + app->written,
                                 app->source_bytes - app->written);
    if (sent == 0) break;
    app->written += sent;
  }
  if (app->written == app->source_bytes) link_end_close(app->end);
}

static void app_read(struct app *app, size_t budget_bytes)
{
  while (budget_bytes > 0) {
    size_t room = SIM_MIN(app->sink_capacity - app->received, budget_bytes);
    size_t count = link_end_read(app->end, app->sink + app->received, room);
    if (count == 0) break;
    app->received += count;
    budget_bytes -= count;
  }
  if (app->eof_ns == 0 && link_end_eof(app->end)) app->eof_ns = sim_now_ns(app->sim);
}

static void app_on_readable(void *context)
{
  struct app *app = context;
  if (app->read_period_ns == 0) app_read(app, SIZE_MAX);
}

static void app_on_writable(void *context) { app_write(context); }

static void app_on_read_timer(struct sim *sim, struct sim_event *event)
{
  struct app *app = SIM_CONTAINER_OF(event, struct app, read_timer);
  app_read(app, app->read_chunk_bytes);
  if (app->eof_ns == 0 && link_end_state(app->end) != LINK_END_RESET) {
    sim_event_schedule_after(sim, event, app->read_period_ns);
  }
}

/* Two applications on one connection. */
struct pair {
  struct sim *sim;
  struct link_conn *conn;
  struct app apps[2];
};

static uint8_t sources[2][STREAM_BYTES_MAX];
static uint8_t sinks[2][STREAM_BYTES_MAX];

static struct link_conn_options options_default(void)
{
  return (struct link_conn_options){
      .link = {.bandwidth_bytes_per_s = 10000000, .latency_ns = SIM_NS_PER_MS,
               .window_bytes = 256u << 10, .packet_bytes_max = 8192},
      .send_buffer_bytes = 128u << 10, .recv_buffer_bytes = 64u << 10,
      .rto_ns_min = 10 * SIM_NS_PER_MS, .rto_ns_max = 200 * SIM_NS_PER_MS,
      .dead_ns = 2 * SIM_NS_PER_S};
}

/* Fills both sources from seed and starts both writers at time 0. */
static void pair_start(struct pair *pair, uint64_t seed, const struct link_conn_options *options,
                       const size_t bytes[2], uint64_t trace_records_max)
{
  memset(pair, 0, sizeof(*pair));
  struct sim_options sim_options = {.seed = seed, .trace_records_max = trace_records_max,
                                    .time_ns_max = 3600 * SIM_NS_PER_S,
                                    .events_max = UINT64_C(50000000)};
  pair->sim = sim_create(&sim_options);
  ck_assert_ptr_nonnull(pair->sim);
  pair->conn = link_conn_create(pair->sim, options, "conn");
  struct sim_prng prng;
  sim_prng_init(&prng, seed ^ 0x5eed);
  for (uint32_t i = 0; i < 2; i++) {
    struct app *app = &pair->apps[i];
    ck_assert_uint_le(bytes[i], STREAM_BYTES_MAX);
    sim_prng_fill(&prng, sources[i], bytes[i]);
    *app = (struct app){.sim = pair->sim, .end = link_conn_end(pair->conn, i),
                        .source = sources[i], .source_bytes = bytes[i], .sink = sinks[i],
                        .sink_capacity = STREAM_BYTES_MAX};
    sim_event_init(&app->read_timer, app_on_read_timer, "test.read");
    link_end_callbacks_set(app->end, app, app_on_readable, app_on_writable);
  }
  for (uint32_t i = 0; i < 2; i++) app_write(&pair->apps[i]);
}

/* Each reader holds a prefix of its peer's source; true when both have all of it. */
static bool pair_check_prefix(const struct pair *pair)
{
  bool whole = true;
  for (uint32_t i = 0; i < 2; i++) {
    const struct app *reader = &pair->apps[i];
    const struct app *writer = &pair->apps[1 - i];
    ck_assert_uint_le(reader->received, writer->source_bytes);
    ck_assert_int_eq(memcmp(reader->sink, writer->source, reader->received), 0);
    whole = whole && reader->received == writer->source_bytes;
  }
  return whole;
}

static bool pair_closed(const struct pair *pair)
{
  return link_end_state(pair->apps[0].end) == LINK_END_CLOSED &&
         link_end_state(pair->apps[1].end) == LINK_END_CLOSED;
}

static uint64_t pair_retransmitted(struct pair *pair)
{
  return link_end_stats(pair->apps[0].end)->bytes_retransmitted +
         link_end_stats(pair->apps[1].end)->bytes_retransmitted;
}

START_TEST(transport_clean_transfer_both_ways)
{
  /* 1 MiB each way on a clean 10 MB/s link: exact bytes, both CLOSED, no retransmission or
   * refusal.  Acknowledgements queue behind the other way's data, so with a 64 KiB window this
   * takes up to 20% over the payload's serialisation time (the one-way figure is in
   * transport_loss_costs_throughput). */
  struct pair pair;
  struct link_conn_options options = options_default();
  const size_t bytes[2] = {1u << 20, 1u << 20};
  pair_start(&pair, 1, &options, bytes, 0);
  ck_assert_int_eq(sim_run(pair.sim), SIM_RUN_IDLE);
  ck_assert(pair_check_prefix(&pair));
  ck_assert(pair_closed(&pair));
  ck_assert_uint_eq(pair_retransmitted(&pair), 0);
  uint64_t ideal_ns = (uint64_t)(1u << 20) * SIM_NS_PER_S / options.link.bandwidth_bytes_per_s;
  uint64_t done_ns = SIM_MAX(pair.apps[0].eof_ns, pair.apps[1].eof_ns);
  ck_assert_uint_gt(done_ns, ideal_ns);
  ck_assert_uint_lt(done_ns, ideal_ns + ideal_ns / 5);
  for (uint32_t i = 0; i < 2; i++) {
    const struct link_end_stats *stats = link_end_stats(pair.apps[i].end);
    ck_assert_uint_eq(stats->bytes_written, 1u << 20);
    ck_assert_uint_eq(stats->bytes_acked, 1u << 20);
    ck_assert_uint_eq(stats->bytes_read, 1u << 20);
    ck_assert_uint_eq(stats->drops_header_count + stats->drops_payload_count +
                          stats->drops_order_count + stats->drops_room_count, 0);
    ck_assert_uint_gt(stats->rtt_ns_smoothed, 2 * SIM_NS_PER_MS);
  }
  sim_destroy(pair.sim);
}
END_TEST

/* One way, 2 MiB, loss on both links: returns when the reader saw the end of stream. */
static uint64_t lossy_transfer(struct sim_ratio loss, uint64_t *retransmitted, uint64_t *lost)
{
  struct pair pair;
  struct link_conn_options options = options_default();
  const size_t bytes[2] = {2u << 20, 0};
  pair_start(&pair, 7, &options, bytes, 0);
  struct link_faults faults = {.loss = loss};
  for (uint32_t i = 0; i < 2; i++) link_faults_set(link_end_link(pair.apps[i].end), &faults);
  ck_assert_int_eq(sim_run(pair.sim), SIM_RUN_IDLE);
  ck_assert(pair_check_prefix(&pair));
  ck_assert(pair_closed(&pair));
  *retransmitted = pair_retransmitted(&pair);
  *lost = link_stats(link_end_link(pair.apps[0].end))->packets_lost;
  uint64_t done_ns = pair.apps[1].eof_ns;
  sim_destroy(pair.sim);
  return done_ns;
}

START_TEST(transport_loss_costs_throughput)
{
  /* 2 MiB one way at loss 0, 1/50 and 1/10 on both links: all bytes arrive each time; clean,
   * it takes within 3% of the payload's serialisation time; each loss step loses more data
   * segments, retransmits more and takes longer. */
  uint64_t retransmitted[3], lost[3];
  uint64_t clean_ns = lossy_transfer((struct sim_ratio){0, 0}, &retransmitted[0], &lost[0]);
  uint64_t light_ns = lossy_transfer((struct sim_ratio){1, 50}, &retransmitted[1], &lost[1]);
  uint64_t heavy_ns = lossy_transfer((struct sim_ratio){1, 10}, &retransmitted[2], &lost[2]);
  uint64_t bandwidth = options_default().link.bandwidth_bytes_per_s;
  uint64_t ideal_ns = (uint64_t)(2u << 20) * SIM_NS_PER_S / bandwidth;
  ck_assert_uint_lt(clean_ns, ideal_ns + ideal_ns * 3 / 100);
  ck_assert_uint_eq(retransmitted[0], 0);
  ck_assert_uint_gt(lost[1], 0);
  ck_assert_uint_gt(lost[2], lost[1]);
  ck_assert_uint_gt(retransmitted[1], 0);
  ck_assert_uint_gt(retransmitted[2], retransmitted[1]);
  ck_assert_uint_gt(light_ns, clean_ns);
  ck_assert_uint_gt(heavy_ns, light_ns);
}
END_TEST

/* An event that cuts a link until a time, or changes its bandwidth, leaving its other faults. */
struct fault_event {
  struct sim_event event;
  struct link *link;
  uint64_t partition_until_ns;       /* 0: leave the partition alone */
  uint64_t bandwidth_bytes_per_s;    /* 0: leave the bandwidth alone */
};

static void fault_event_fire(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct fault_event *fault = SIM_CONTAINER_OF(event, struct fault_event, event);
  struct link_faults faults = *link_faults(fault->link);
  if (fault->partition_until_ns != 0) faults.partition_until_ns = fault->partition_until_ns;
  if (fault->bandwidth_bytes_per_s != 0) {
    faults.bandwidth_bytes_per_s = fault->bandwidth_bytes_per_s;
  }
  link_faults_set(fault->link, &faults);
}

static void fault_at(struct sim *sim, struct fault_event *fault, struct link *link,
                     uint64_t at_ns, uint64_t partition_until_ns, uint64_t bandwidth_bytes_per_s)
{
  *fault = (struct fault_event){.link = link, .partition_until_ns = partition_until_ns,
                                .bandwidth_bytes_per_s = bandwidth_bytes_per_s};
  sim_event_init(&fault->event, fault_event_fire, "test.fault");
  sim_event_schedule_at(sim, &fault->event, at_ns);
}

/* 512 KiB from end 0; at 20 ms the given links are cut for duration_ns. */
static void partition_run(struct pair *pair, uint64_t keepalive_ns, bool cut_forward,
                          bool cut_back, uint64_t duration_ns)
{
  struct link_conn_options options = options_default();
  options.keepalive_ns = keepalive_ns;
  const size_t bytes[2] = {512u << 10, 0};
  pair_start(pair, 3, &options, bytes, 0);
  static struct fault_event cuts[2];
  uint64_t until_ns = 20 * SIM_NS_PER_MS + duration_ns;
  if (cut_forward) fault_at(pair->sim, &cuts[0], link_end_link(pair->apps[0].end),
                            20 * SIM_NS_PER_MS, until_ns, 0);
  if (cut_back) fault_at(pair->sim, &cuts[1], link_end_link(pair->apps[1].end),
                         20 * SIM_NS_PER_MS, until_ns, 0);
  ck_assert_int_eq(sim_run(pair->sim), SIM_RUN_IDLE);
}

START_TEST(transport_partition_shorter_than_dead_recovers)
{
  /* A 1.5 s partition both ways, dead time 2 s: the timer backs off, then everything arrives. */
  struct pair pair;
  partition_run(&pair, 0, true, true, 1500 * SIM_NS_PER_MS);
  ck_assert(pair_check_prefix(&pair));
  ck_assert(pair_closed(&pair));
  ck_assert_uint_gt(link_end_stats(pair.apps[0].end)->timeouts_count, 3);
  ck_assert_uint_gt(pair.apps[1].eof_ns, 1520 * SIM_NS_PER_MS);
  sim_destroy(pair.sim);
}
END_TEST

START_TEST(transport_partition_longer_than_dead_resets)
{
  /* A 5 s partition both ways: the sender resets (dead) 2 s after it last heard the peer; the
   * idle receiver notices only with keepalive on, as with TCP. */
  struct pair pair;
  partition_run(&pair, 0, true, true, 5 * SIM_NS_PER_S);
  ck_assert(!pair_check_prefix(&pair));
  ck_assert_int_eq(link_end_state(pair.apps[0].end), LINK_END_RESET);
  ck_assert_int_eq(link_end_reset_reason(pair.apps[0].end), LINK_END_RESET_DEAD);
  uint64_t reset_ns = link_end_stats(pair.apps[0].end)->state_ns;
  /* The last acknowledgement arrived just before the cut at 20 ms. */
  ck_assert_uint_ge(reset_ns, 2010 * SIM_NS_PER_MS);
  ck_assert_uint_le(reset_ns, 2020 * SIM_NS_PER_MS);
  ck_assert_int_eq(link_end_state(pair.apps[1].end), LINK_END_ESTABLISHED);
  ck_assert_uint_eq(link_end_write(pair.apps[0].end, sources[0], 1), 0);
  sim_destroy(pair.sim);
  partition_run(&pair, 500 * SIM_NS_PER_MS, true, true, 5 * SIM_NS_PER_S);
  for (uint32_t i = 0; i < 2; i++) {
    ck_assert_int_eq(link_end_state(pair.apps[i].end), LINK_END_RESET);
    ck_assert_int_eq(link_end_reset_reason(pair.apps[i].end), LINK_END_RESET_DEAD);
  }
  ck_assert(!pair_check_prefix(&pair));
  sim_destroy(pair.sim);
}
END_TEST

START_TEST(transport_one_way_partition_resets_both)
{
  /* Only the acknowledgements are cut, for 5 s: the sender resets (dead), its RST crosses the
   * working direction, and the receiver resets (peer) at once. */
  struct pair pair;
  partition_run(&pair, 0, false, true, 5 * SIM_NS_PER_S);
  ck_assert(!pair_check_prefix(&pair));
  ck_assert_int_eq(link_end_reset_reason(pair.apps[0].end), LINK_END_RESET_DEAD);
  ck_assert_int_eq(link_end_reset_reason(pair.apps[1].end), LINK_END_RESET_PEER);
  uint64_t dead_ns = link_end_stats(pair.apps[0].end)->state_ns;
  uint64_t peer_ns = link_end_stats(pair.apps[1].end)->state_ns;
  ck_assert_uint_gt(peer_ns, dead_ns);
  ck_assert_uint_lt(peer_ns, dead_ns + 100 * SIM_NS_PER_MS);
  ck_assert_uint_eq(link_end_read(pair.apps[1].end, sinks[1], 1), 0);
  sim_destroy(pair.sim);
}
END_TEST

/* 1 MiB one way with 1 packet in 10 corrupted on both links, and the given escape. */
static void corrupt_run(struct pair *pair, struct sim_ratio escape)
{
  struct link_conn_options options = options_default();
  options.checksum_escape = escape;
  const size_t bytes[2] = {1u << 20, 0};
  pair_start(pair, 5, &options, bytes, 1u << 20);
  struct link_faults faults = {.corrupt = {1, 10}};
  for (uint32_t i = 0; i < 2; i++) link_faults_set(link_end_link(pair->apps[i].end), &faults);
  ck_assert_int_eq(sim_run(pair->sim), SIM_RUN_IDLE);
  ck_assert(pair_closed(pair));
}

START_TEST(transport_corruption_stopped_unless_escaped)
{
  /* Escape off: every corrupt segment is dropped and the bytes are exact.  Escape 1/1: corrupt
   * payloads pass, so the reader gets 1 MiB that differs in 1..escapes bits. */
  struct pair pair;
  corrupt_run(&pair, (struct sim_ratio){0, 0});
  ck_assert(pair_check_prefix(&pair));
  const struct link_end_stats *stats = link_end_stats(pair.apps[1].end);
  ck_assert_uint_gt(stats->drops_payload_count, 10);
  ck_assert_uint_gt(stats->drops_header_count, 0);
  ck_assert_uint_eq(stats->escapes_count, 0);
  sim_destroy(pair.sim);
  corrupt_run(&pair, (struct sim_ratio){1, 1});
  stats = link_end_stats(pair.apps[1].end);
  ck_assert_uint_eq(pair.apps[1].received, 1u << 20);
  uint64_t flipped = 0;
  for (size_t i = 0; i < pair.apps[1].received; i++) {
    flipped += (uint64_t)__builtin_popcount(pair.apps[1].sink[i] ^ sources[0][i]);
  }
  ck_assert_uint_gt(stats->escapes_count, 10);
  ck_assert_uint_eq(stats->drops_payload_count, 0);
  ck_assert_uint_ge(flipped, 1);
  ck_assert_uint_le(flipped, stats->escapes_count);
  uint64_t total = 0, escapes = 0;
  const struct sim_trace_record *records = sim_trace_records(pair.sim, &total);
  for (uint64_t i = 0; i < total; i++) escapes += strcmp(records[i].kind, "link.conn.escape") == 0;
  ck_assert_uint_eq(escapes, stats->escapes_count);
  sim_destroy(pair.sim);
}
END_TEST

START_TEST(transport_slow_reader_zero_window_survives)
{
  /* A 16 KiB receive buffer read 1 KiB per 20 ms: 256 KiB takes ~5 s, longer than the dead
   * time, yet the zero-window probes keep the connection up and every byte arrives. */
  struct pair pair;
  struct link_conn_options options = options_default();
  options.recv_buffer_bytes = 16u << 10;
  const size_t bytes[2] = {256u << 10, 0};
  pair_start(&pair, 9, &options, bytes, 0);
  pair.apps[1].read_period_ns = 20 * SIM_NS_PER_MS;
  pair.apps[1].read_chunk_bytes = 1024;
  sim_event_schedule_at(pair.sim, &pair.apps[1].read_timer, 0);
  ck_assert_int_eq(sim_run(pair.sim), SIM_RUN_IDLE);
  ck_assert(pair_check_prefix(&pair));
  ck_assert(pair_closed(&pair));
  ck_assert_uint_gt(pair.apps[1].eof_ns, 5 * SIM_NS_PER_S);
  ck_assert_uint_gt(link_end_stats(pair.apps[0].end)->timeouts_count, 0);
  sim_destroy(pair.sim);
}
END_TEST

/* An event that aborts an end. */
struct abort_event {
  struct sim_event event;
  struct link_end *end;
};

static void abort_fire(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  link_end_abort(SIM_CONTAINER_OF(event, struct abort_event, event)->end);
}

START_TEST(transport_abort_resets_peer)
{
  /* Aborting end 0 mid-transfer: it resets (abort), its RST resets end 1 (peer) one latency
   * later; afterwards neither writes nor reads. */
  struct pair pair;
  struct link_conn_options options = options_default();
  const size_t bytes[2] = {1u << 20, 1u << 20};
  pair_start(&pair, 4, &options, bytes, 0);
  struct abort_event abort = {.end = pair.apps[0].end};
  sim_event_init(&abort.event, abort_fire, "test.abort");
  sim_event_schedule_at(pair.sim, &abort.event, 30 * SIM_NS_PER_MS);
  ck_assert_int_eq(sim_run(pair.sim), SIM_RUN_IDLE);
  ck_assert(!pair_check_prefix(&pair));
  ck_assert_int_eq(link_end_reset_reason(pair.apps[0].end), LINK_END_RESET_ABORT);
  ck_assert_int_eq(link_end_reset_reason(pair.apps[1].end), LINK_END_RESET_PEER);
  ck_assert_uint_eq(link_end_stats(pair.apps[0].end)->state_ns, 30 * SIM_NS_PER_MS);
  ck_assert_uint_gt(link_end_stats(pair.apps[1].end)->state_ns, 31 * SIM_NS_PER_MS);
  for (uint32_t i = 0; i < 2; i++) {
    ck_assert_uint_eq(link_end_write_space(pair.apps[i].end), 0);
    ck_assert_uint_eq(link_end_readable(pair.apps[i].end), 0);
    ck_assert(!link_end_eof(pair.apps[i].end));
  }
  sim_destroy(pair.sim);
}
END_TEST

/* What one seed of the sweep drew, and how it ended. */
struct mix_result {
  bool long_cut;                     /* a partition longer than the dead time */
  uint64_t cut_ns;                   /* when it began */
  bool whole;                        /* every byte arrived */
  bool reset;                        /* an end reset */
  uint64_t digest;
  uint64_t retransmitted;
  uint64_t refused;                  /* segments refused, both ends */
};

/* Swarm: each fault kind is on for this direction with probability 1/2. */
static struct link_faults mix_faults(struct sim_prng *prng)
{
  struct link_faults faults = {0};
  if (sim_prng_below(prng, 2)) faults.loss = (struct sim_ratio){1, sim_prng_range(prng, 5, 200)};
  if (sim_prng_below(prng, 2)) {
    faults.burst_enter = (struct sim_ratio){1, sim_prng_range(prng, 20, 500)};
    faults.burst_exit = (struct sim_ratio){1, sim_prng_range(prng, 2, 5)};
    faults.burst_loss = (struct sim_ratio){sim_prng_range(prng, 1, 2), 2};
  }
  if (sim_prng_below(prng, 2)) faults.jitter_ns_max = sim_prng_range(prng, 1, SIM_NS_PER_MS);
  if (sim_prng_below(prng, 2)) {
    faults.duplicate = (struct sim_ratio){1, sim_prng_range(prng, 3, 50)};
    faults.duplicate_delay_ns_max = sim_prng_below(prng, 2 * SIM_NS_PER_MS);
  }
  if (sim_prng_below(prng, 2)) {
    faults.reorder = (struct sim_ratio){1, sim_prng_range(prng, 3, 50)};
    faults.reorder_delay_ns_max = sim_prng_range(prng, 1, 3 * SIM_NS_PER_MS);
  }
  if (sim_prng_below(prng, 2)) faults.corrupt = (struct sim_ratio){1, sim_prng_range(prng, 3, 50)};
  return faults;
}

/*
 * One seed: random sizes (0..256 KiB each way), reader styles, fault mixes per
 * direction, maybe a bandwidth drop and a partition (short or long) on one or
 * both directions.  Checks the prefix property and fills result.
 */
/*
 * Random shapes: packets from one byte of payload to 16 KiB, buffers from one
 * byte, 1 to 100 MB/s, up to 5 ms latency.  The link's window holds at most
 * 50 ms of the lowest bandwidth, so queueing stays far below the dead time.
 */
static struct link_conn_options mix_options(struct sim_prng *prng)
{
  struct link_conn_options options = options_default();
  options.keepalive_ns = 400 * SIM_NS_PER_MS;
  if (sim_prng_below(prng, 2) == 0) return options;
  struct link_options *link = &options.link;
  link->bandwidth_bytes_per_s = sim_prng_range(prng, 1, 100) * 1000000;
  link->latency_ns = sim_prng_below(prng, 5 * SIM_NS_PER_MS);
  link->packet_bytes_max = (uint32_t)sim_prng_range(prng, LINK_SEGMENT_HEADER_BYTES + 1, 16384);
  uint64_t window_max = SIM_MAX(link->bandwidth_bytes_per_s / 4 / 20, link->packet_bytes_max);
  link->window_bytes = (uint32_t)sim_prng_range(prng, link->packet_bytes_max, window_max);
  options.send_buffer_bytes = (uint32_t)sim_prng_range(prng, 1, 256u << 10);
  options.recv_buffer_bytes = (uint32_t)sim_prng_range(prng, 1, 256u << 10);
  return options;
}

static void mix_run(uint64_t seed, struct mix_result *result)
{
  struct sim_prng prng;
  sim_prng_init(&prng, seed * 0x9e3779b97f4a7c15u + 1);
  struct link_conn_options options = mix_options(&prng);
  /* At most 256 segments each way, so tiny packets keep the run short. */
  uint64_t stream_max = SIM_MIN(256u << 10, 256 * (options.link.packet_bytes_max -
                                                  LINK_SEGMENT_HEADER_BYTES));
  const size_t bytes[2] = {sim_prng_below(&prng, stream_max), sim_prng_below(&prng, stream_max)};
  struct pair pair;
  pair_start(&pair, seed, &options, bytes, 0);
  static struct fault_event events[4];
  memset(result, 0, sizeof(*result));
  bool cut = sim_prng_below(&prng, 3) == 0;
  result->long_cut = cut && sim_prng_below(&prng, 2);
  result->cut_ns = sim_prng_below(&prng, 100 * SIM_NS_PER_MS);
  uint64_t cut_duration_ns = result->long_cut ? sim_prng_range(&prng, 5, 8) * SIM_NS_PER_S
                                        : sim_prng_range(&prng, 1, 500) * SIM_NS_PER_MS;
  uint64_t cut_which = sim_prng_range(&prng, 1, 3);
  for (uint32_t i = 0; i < 2; i++) {
    struct app *app = &pair.apps[i];
    if (sim_prng_below(&prng, 3) == 0) {
      app->read_period_ns = sim_prng_range(&prng, 1, 5) * SIM_NS_PER_MS;
      app->read_chunk_bytes = sim_prng_range(&prng, 1, 16) << 10;
      sim_event_schedule_at(pair.sim, &app->read_timer, 0);
    }
    struct link *link = link_end_link(app->end);
    struct link_faults faults = mix_faults(&prng);
    link_faults_set(link, &faults);
    if (sim_prng_below(&prng, 4) == 0) {
      fault_at(pair.sim, &events[2 + i], link, sim_prng_below(&prng, 50 * SIM_NS_PER_MS), 0,
               options.link.bandwidth_bytes_per_s / 4);
    }
    if (cut && (cut_which >> i & 1) != 0) {
      fault_at(pair.sim, &events[i], link, result->cut_ns, result->cut_ns + cut_duration_ns, 0);
    }
  }
  ck_assert_int_eq(sim_run(pair.sim), SIM_RUN_IDLE);
  result->whole = pair_check_prefix(&pair);
  /*
   * What was already in flight on an uncut direction may still finish the
   * connection after the cut: at most a queued window (105 ms at a quarter of
   * the bandwidth), a latency and the fault delays, well under 200 ms.
   */
  uint64_t flight_ns = 200 * SIM_NS_PER_MS + options.link.latency_ns;
  uint32_t closed_before_cut = 0;
  for (uint32_t i = 0; i < 2; i++) {
    const struct link_end_stats *stats = link_end_stats(pair.apps[i].end);
    enum link_end_state state = link_end_state(pair.apps[i].end);
    result->reset = result->reset || state == LINK_END_RESET;
    result->refused += stats->drops_header_count + stats->drops_payload_count +
                       stats->drops_order_count + stats->drops_room_count;
    closed_before_cut += state == LINK_END_CLOSED && stats->state_ns <= result->cut_ns + flight_ns;
  }
  /* A connection that closed at both ends from what was in flight had nothing left to break. */
  if (closed_before_cut == 2) result->long_cut = false;
  result->retransmitted = pair_retransmitted(&pair);
  result->digest = sim_trace_digest(pair.sim);
  if (!result->reset) ck_assert(pair_closed(&pair));
  sim_destroy(pair.sim);
}

static uint64_t property_seeds(void)
{
  const char *text = getenv("MIGSIM_PROPERTY_SEEDS");
  uint64_t seeds = text != NULL ? strtoull(text, NULL, 10) : PROPERTY_SEEDS_DEFAULT;
  return SIM_MAX(seeds, 20);
}

START_TEST(transport_fault_mixes_deliver_or_reset)
{
  /* For 200 seeds (MIGSIM_PROPERTY_SEEDS, at least 20) of swarm fault mixes: the reader gets a
   * prefix of what was sent, in order; with no partition past the dead time the whole stream
   * arrives and both ends close; a long partition on an open connection resets it. */
  uint64_t seeds = property_seeds();
  uint64_t whole = 0, resets = 0, retransmitting = 0, refusing = 0;
  for (uint64_t seed = 1; seed <= seeds; seed++) {
    struct mix_result result;
    mix_run(seed, &result);
    if (result.long_cut) {
      ck_assert_msg(result.reset, "seed %" PRIu64 ": a long partition did not reset", seed);
    } else {
      ck_assert_msg(result.whole && !result.reset, "seed %" PRIu64 ": lost liveness", seed);
    }
    whole += result.whole;
    resets += result.reset;
    retransmitting += result.retransmitted > 0;
    refusing += result.refused > 0;
  }
  /* The sweep exercised both outcomes, retransmission and refusal. */
  ck_assert_uint_gt(whole, seeds / 2);
  ck_assert_uint_gt(resets, 0);
  ck_assert_uint_gt(retransmitting, seeds / 2);
  ck_assert_uint_gt(refusing, seeds / 2);
}
END_TEST

START_TEST(transport_fault_mix_deterministic)
{
  /* The same seed gives the same trace digest and outcome; the next seed another digest. */
  struct mix_result a, b, c;
  mix_run(17, &a);
  mix_run(17, &b);
  mix_run(18, &c);
  ck_assert_uint_eq(a.digest, b.digest);
  ck_assert_uint_eq(a.retransmitted, b.retransmitted);
  ck_assert_uint_eq(a.whole, b.whole);
  ck_assert_uint_ne(a.digest, c.digest);
}
END_TEST

/* A reader fiber that blocks the way mig_reader's refill does: read, or wait for readable. */
struct fiber_reader {
  struct sim *sim;
  struct link_end *end;
  struct sim_fiber *fiber;
  struct sim_event wake;
  bool waiting;
  uint8_t *sink;
  size_t received;
  bool eof;
};

static size_t fiber_refill(struct fiber_reader *reader, uint8_t *bytes, size_t capacity)
{
  for (;;) {
    size_t count = link_end_read(reader->end, bytes, capacity);
    if (count > 0) return count;
    if (link_end_eof(reader->end) || link_end_state(reader->end) == LINK_END_RESET) return 0;
    reader->waiting = true;
    if (!sim_fiber_yield(reader->fiber)) return 0;
  }
}

static void fiber_reader_body(struct sim_fiber *fiber, void *context)
{
  (void)fiber;
  struct fiber_reader *reader = context;
  uint8_t buffer[3000];
  size_t count;
  while ((count = fiber_refill(reader, buffer, sizeof(buffer))) > 0) {
    memcpy(reader->sink + reader->received, buffer, count);
    reader->received += count;
  }
  reader->eof = link_end_eof(reader->end);
  link_end_close(reader->end);
}

static void fiber_reader_readable(void *context)
{
  struct fiber_reader *reader = context;
  if (!reader->waiting) return;
  reader->waiting = false;
  sim_event_schedule_at(reader->sim, &reader->wake, sim_now_ns(reader->sim));
}

static void fiber_reader_wake(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  sim_fiber_resume(SIM_CONTAINER_OF(event, struct fiber_reader, wake)->fiber);
}

START_TEST(transport_fiber_reader_blocks_and_wakes)
{
  /* 300 KiB with loss 1/50 both ways, read by a fiber that blocks for input: exact bytes, EOF. */
  struct pair pair;
  struct link_conn_options options = options_default();
  const size_t bytes[2] = {300u << 10, 0};
  pair_start(&pair, 6, &options, bytes, 0);
  struct link_faults faults = {.loss = {1, 50}};
  for (uint32_t i = 0; i < 2; i++) link_faults_set(link_end_link(pair.apps[i].end), &faults);
  static struct fiber_reader reader;
  reader = (struct fiber_reader){.sim = pair.sim, .end = pair.apps[1].end, .sink = sinks[1]};
  link_end_callbacks_set(reader.end, &reader, fiber_reader_readable, NULL);
  sim_event_init(&reader.wake, fiber_reader_wake, "test.wake");
  reader.fiber = sim_fiber_create(pair.sim, fiber_reader_body, &reader);
  sim_event_schedule_at(pair.sim, &reader.wake, 0);
  ck_assert_int_eq(sim_run(pair.sim), SIM_RUN_IDLE);
  ck_assert(sim_fiber_done(reader.fiber));
  ck_assert(reader.eof);
  ck_assert_uint_eq(reader.received, 300u << 10);
  ck_assert_int_eq(memcmp(reader.sink, sources[0], reader.received), 0);
  ck_assert(pair_closed(&pair));
  sim_destroy(pair.sim);
}
END_TEST

/* Sends a hand-made segment on link: header fields, payload, and a CRC that may be wrong. */
static void segment_inject(struct link *link, uint64_t seq, uint64_t ack, uint32_t flags,
                           uint32_t payload_claimed, const uint8_t *payload, uint32_t payload_bytes,
                           bool crc_good)
{
  uint8_t *packet = link_packet_reserve(link, LINK_SEGMENT_HEADER_BYTES + payload_bytes);
  ck_assert_ptr_nonnull(packet);
  const uint64_t fields[] = {seq, ack, 1u << 16, payload_claimed, flags};
  const int offsets[] = {0, 8, 16, 20, 24}, sizes[] = {8, 8, 4, 4, 4};
  for (int f = 0; f < 5; f++) {
    for (int i = 0; i < sizes[f]; i++) packet[offsets[f] + i] = (uint8_t)(fields[f] >> (8 * i));
  }
  memcpy(packet + LINK_SEGMENT_HEADER_BYTES, payload, payload_bytes);
  uint64_t checksum = XXH3_64bits(payload, payload_bytes);
  for (int i = 0; i < 8; i++) packet[28 + i] = (uint8_t)(checksum >> (8 * i));
  uint32_t crc = (uint32_t)crc32(0, packet, 36) ^ (crc_good ? 0u : 1u);
  for (int i = 0; i < 4; i++) packet[36 + i] = (uint8_t)(crc >> (8 * i));
  link_packet_commit(link, LINK_SEGMENT_HEADER_BYTES + payload_bytes);
}

START_TEST(transport_hostile_segments_refused)
{
  /* Forged segments ahead of a 64 KiB transfer: short, bad CRC, unknown flag, a length that
   * lies, a huge seq (header refusals); a gap (order); an ack of bytes never sent (ignored).
   * None crashes or disturbs the stream, which arrives exact. */
  struct pair pair;
  struct link_conn_options options = options_default();
  const size_t bytes[2] = {64u << 10, 0};
  pair_start(&pair, 8, &options, bytes, 0);
  struct link *forward = link_end_link(pair.apps[0].end);
  static const uint8_t junk[16] = {1, 2, 3};
  uint8_t *packet = link_packet_reserve(forward, 10);
  memset(packet, 0, 10);
  link_packet_commit(forward, 10);
  segment_inject(forward, 0, 0, 0, 4, junk, 4, false);
  segment_inject(forward, 0, 0, 0x80, 4, junk, 4, true);
  segment_inject(forward, 0, 0, 0, 5, junk, 4, true);
  segment_inject(forward, UINT64_MAX - 3, 0, 0, 4, junk, 4, true);
  segment_inject(forward, UINT64_C(1) << 40, 0, 0, 16, junk, 16, true);
  segment_inject(forward, 0, UINT64_C(1) << 40, 0, 0, junk, 0, true);
  ck_assert_int_eq(sim_run(pair.sim), SIM_RUN_IDLE);
  ck_assert(pair_check_prefix(&pair));
  ck_assert(pair_closed(&pair));
  const struct link_end_stats *stats = link_end_stats(pair.apps[1].end);
  ck_assert_uint_eq(stats->drops_header_count, 5);
  ck_assert_uint_ge(stats->drops_order_count, 1);
  ck_assert_uint_eq(stats->bytes_received, 64u << 10);
  sim_destroy(pair.sim);
}
END_TEST

START_TEST(transport_options_valid_bounds)
{
  /* The defaults pass; a packet no bigger than the header, a zero buffer or dead time, an
   * inverted RTO range or an improper escape ratio does not. */
  struct link_conn_options options = options_default();
  ck_assert(link_conn_options_valid(&options));
  options.link.packet_bytes_max = LINK_SEGMENT_HEADER_BYTES;
  ck_assert(!link_conn_options_valid(&options));
  options = options_default();
  options.recv_buffer_bytes = 0;
  ck_assert(!link_conn_options_valid(&options));
  options = options_default();
  options.dead_ns = 0;
  ck_assert(!link_conn_options_valid(&options));
  options = options_default();
  options.rto_ns_max = options.rto_ns_min - 1;
  ck_assert(!link_conn_options_valid(&options));
  options = options_default();
  options.checksum_escape = (struct sim_ratio){2, 1};
  ck_assert(!link_conn_options_valid(&options));
}
END_TEST


/* ------------------------------------------------------------ carried streams */

/* A raw-link-style writer and receiver on one carried link (link_conn_streams). */
struct stream_app {
  struct link *link;
  const uint8_t *source;
  size_t source_bytes;
  size_t written;
  uint8_t *sink;
  size_t received;
  uint32_t ends_count;               /* deliveries with count 0 */
  uint32_t writable_count;
};

static void stream_app_write(struct stream_app *app)
{
  while (app->written < app->source_bytes && !link_closed(app->link)) {
    size_t sent = link_send(app->link, app->source + app->written,
                            app->source_bytes - app->written);
    if (sent == 0) return;
    app->written += sent;
  }
  if (app->written == app->source_bytes && !link_closed(app->link)) link_close(app->link);
}

static void stream_app_writable(void *context)
{
  struct stream_app *app = context;
  app->writable_count++;
  stream_app_write(app);
}

static void stream_app_deliver(void *context, const uint8_t *bytes, size_t count)
{
  struct stream_app *app = context;
  if (count == 0) {
    app->ends_count++;
    return;
  }
  ck_assert_uint_le(app->received + count, STREAM_BYTES_MAX);
  memcpy(app->sink + app->received, bytes, count);
  app->received += count;
}

/* 1 MiB each way; faults on stream 0 from the start, and a partition of it at 10 ms. */
static void stream_run(uint64_t seed, const struct link_faults *faults, uint64_t partition_ns,
                       struct stream_app *apps, struct link_conn **conn_out, struct sim **sim_out)
{
  struct sim_options sim_options = {.seed = seed, .time_ns_max = 3600 * SIM_NS_PER_S,
                                    .events_max = UINT64_C(50000000)};
  struct sim *sim = sim_create(&sim_options);
  struct link_conn_options options = options_default();
  struct link_conn *conn = link_conn_create(sim, &options, "conn");
  struct link *links[2];
  link_conn_streams(conn, sim, "conn", 0, links);
  struct sim_prng prng;
  sim_prng_init(&prng, seed);
  for (uint32_t i = 0; i < 2; i++) {
    sim_prng_fill(&prng, sources[i], 1u << 20);
    apps[i] = (struct stream_app){.link = links[i], .source = sources[i],
                                  .source_bytes = 1u << 20, .sink = sinks[1 - i]};
    link_writable_set(links[i], &apps[i], stream_app_writable);
  }
  /* The reader of links[i] is the other end's application. */
  for (uint32_t i = 0; i < 2; i++) link_receiver_set(links[i], &apps[i], stream_app_deliver);
  if (faults != NULL) link_faults_set(links[0], faults);
  static struct fault_event cut;
  if (partition_ns != 0) fault_at(sim, &cut, links[0], 10 * SIM_NS_PER_MS, partition_ns, 0);
  for (uint32_t i = 0; i < 2; i++) stream_app_write(&apps[i]);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  *conn_out = conn;
  *sim_out = sim;
}

START_TEST(transport_streams_carry_exact_bytes_over_loss)
{
  /* 1 MiB each way over carried links, 2% loss one way: the bytes arrive whole, in order, once,
   * then the end (count 0) exactly once; the loss shows as retransmissions underneath. */
  struct link_faults faults = {.loss = {1, 50}};
  struct stream_app apps[2];
  struct link_conn *conn;
  struct sim *sim;
  stream_run(7, &faults, 0, apps, &conn, &sim);
  for (uint32_t i = 0; i < 2; i++) {
    ck_assert_uint_eq(apps[i].received, 1u << 20);
    ck_assert_int_eq(memcmp(sinks[1 - i], sources[i], 1u << 20), 0);
    ck_assert_uint_eq(apps[i].ends_count, 1);
    ck_assert(!link_broken(apps[i].link));
    ck_assert_uint_eq(link_bytes_sent(apps[i].link), 1u << 20);
  }
  ck_assert_uint_gt(link_end_stats(link_conn_end(conn, 0))->bytes_retransmitted, 0);
  ck_assert_uint_gt(link_stats(apps[0].link)->packets_lost, 0);
  sim_destroy(sim);
}
END_TEST

START_TEST(transport_streams_break_on_long_partition)
{
  /* A partition one way from 10 ms on: the writer of stream 0 hears no ack for the dead time
   * (2 s), resets, and both carried links break: link_send takes nothing, the receivers get
   * the end, and a blocked writer was woken. */
  struct stream_app apps[2];
  struct link_conn *conn;
  struct sim *sim;
  stream_run(8, NULL, UINT64_MAX, apps, &conn, &sim);
  ck_assert_int_eq(link_end_state(link_conn_end(conn, 0)), LINK_END_RESET);
  for (uint32_t i = 0; i < 2; i++) ck_assert(link_broken(apps[i].link));
  ck_assert_uint_eq(link_send(apps[0].link, sources[0], 1), 0);
  ck_assert_uint_eq(link_space(apps[0].link), 0);
  ck_assert_uint_gt(apps[0].writable_count, 0);
  ck_assert_uint_ge(link_end_stats(link_conn_end(conn, 0))->state_ns, 2 * SIM_NS_PER_S);
  ck_assert_uint_eq(apps[1].ends_count, 1);
  ck_assert_uint_lt(apps[0].received, 1u << 20);
  sim_destroy(sim);
}
END_TEST

Suite *sim_transport_suite(void)
{
  Suite *suite = suite_create("sim_transport");
  TCase *stream = tcase_create("stream");
  tcase_add_test(stream, transport_clean_transfer_both_ways);
  tcase_add_test(stream, transport_loss_costs_throughput);
  tcase_add_test(stream, transport_slow_reader_zero_window_survives);
  tcase_add_test(stream, transport_fiber_reader_blocks_and_wakes);
  tcase_add_test(stream, transport_options_valid_bounds);
  suite_add_tcase(suite, stream);
  TCase *faults = tcase_create("faults");
  tcase_add_test(faults, transport_partition_shorter_than_dead_recovers);
  tcase_add_test(faults, transport_partition_longer_than_dead_resets);
  tcase_add_test(faults, transport_one_way_partition_resets_both);
  tcase_add_test(faults, transport_corruption_stopped_unless_escaped);
  tcase_add_test(faults, transport_abort_resets_peer);
  tcase_add_test(faults, transport_hostile_segments_refused);
  tcase_add_test(faults, transport_fault_mix_deterministic);
  tcase_add_test(faults, transport_streams_carry_exact_bytes_over_loss);
  tcase_add_test(faults, transport_streams_break_on_long_partition);
  suite_add_tcase(suite, faults);
  TCase *sweep = tcase_create("sweep");
  tcase_set_timeout(sweep, 600);
  tcase_add_test(sweep, transport_fault_mixes_deliver_or_reset);
  suite_add_tcase(suite, sweep);
  return suite;
}
