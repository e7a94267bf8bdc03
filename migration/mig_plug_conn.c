/*
 * mig_plug_conn.c: the plug's extra connections (multifd channels, the
 * preempt channel) and multifd over them (overview in mig_plug.h).
 *
 * A connection is one link.  The source writes it from the engine's source
 * fiber and, like the main channel, blocks that fiber while the link's
 * window is full.  The destination reads it on a fiber of its own from a
 * ring the link's deliveries fill; the ring grows when a delivery does not
 * fit, so no delivery is ever dropped.
 */
#include "sim_base.h"

#include "mig_plug_int.h"

#define RING_BYTES_MIN (UINT64_C(256) << 10)

void mig_conn_open(struct sim *sim, const struct mig_conn_profile *profile, const char *name,
                   struct link **forward, struct link **reverse)
{
  SIM_ASSERT(profile->carried);
  struct link_conn *conn = link_conn_create(sim, &profile->conn, name);
  struct link *links[2];
  link_conn_streams(conn, sim, name, sim_now_ns(sim) + profile->open_ns, links);
  *forward = links[0];
  *reverse = links[1];
}

/* One extra connection, source -> destination; *reverse (if asked) its way back. */
struct link *mig__plug_link_pair(struct mig_plug *plug, const char *kind, uint32_t index,
                                 struct link **reverse)
{
  SIM_ASSERT(plug->links_count < SIM_ARRAY_COUNT(plug->link_names));
  char *name = plug->link_names[plug->links_count++];
  snprintf(name, sizeof(plug->link_names[0]), "%s%" PRIu32 "/%" PRIu32, kind, index,
           plug->precopy->stats.start_ns == 0 ? 0u : plug->links_count);
  if (!plug->options.conn.carried) return link_create(plug->sim, &plug->options.link, name);
  struct link *forward;
  struct link *back;
  mig_conn_open(plug->sim, &plug->options.conn, name, &forward, &back);
  if (reverse != NULL) *reverse = back;
  return forward;
}

struct link *mig__plug_link(struct mig_plug *plug, const char *kind, uint32_t index)
{
  return mig__plug_link_pair(plug, kind, index, NULL);
}

/* The source's writer sink: into the link, waiting on the source fiber while it is full. */
static enum mig_err conn_write(void *context, const uint8_t *bytes, size_t count)
{
  struct mig_plug_conn *conn = context;
  struct mig_precopy *precopy = conn->plug->precopy;
  while (count > 0) {
    if (precopy->cancelled) return MIG_ERR_CANCELLED;
    if (conn->plug->source_paused || conn->failed || link_closed(conn->link) ||
        link_broken(conn->link)) {
      return MIG_ERR_IO;  /* paused, or the connection reset (docs/transports.md) */
    }
    size_t sent = link_send(conn->link, bytes, count);
    bytes += sent;
    count -= sent;
    conn->bytes += sent;
    precopy->window_bytes += sent;  /* the rate window and the bandwidth estimate count it */
    if (conn != conn->plug->preempt) precopy->stats.multifd_bytes += sent;
    if (count == 0) break;
    conn->waiting_space = true;
    if (!sim_fiber_yield(precopy->source_fiber)) return MIG_ERR_CANCELLED;
  }
  return MIG_OK;
}

static void conn_on_writable(void *context)
{
  struct mig_plug_conn *conn = context;
  if (!conn->waiting_space) return;
  conn->waiting_space = false;
  struct mig_precopy *precopy = conn->plug->precopy;
  sim_event_schedule_at(precopy->sim, &precopy->source_wake, sim_now_ns(precopy->sim));
}

static void conn_ring_grow(struct mig_plug_conn *conn, uint64_t need)
{
  uint64_t capacity = SIM_MAX(conn->ring_capacity, RING_BYTES_MIN);
  while (capacity < need) capacity *= 2;
  if (capacity == conn->ring_capacity) return;
  uint8_t *ring = malloc(capacity);
  SIM_ASSERT(ring != NULL);
  for (uint64_t i = 0; i < conn->ring_count; i++) {
    ring[i] = conn->ring[(conn->ring_head + i) % conn->ring_capacity];
  }
  free(conn->ring);
  conn->ring = ring;
  conn->ring_capacity = capacity;
  conn->ring_head = 0;
}

static void conn_on_deliver(void *context, const uint8_t *bytes, size_t count)
{
  struct mig_plug_conn *conn = context;
  if (conn->done || conn->failed) return;  /* nobody reads any more */
  if (count == 0) {
    conn->closed = true;
  } else {
    if (conn->direct != NULL && conn->ring_count == 0) {
      /* The reader waits on an empty ring: into its buffer, as the ring would give it. */
      size_t direct = SIM_MIN(count, conn->direct_capacity - conn->direct_count);
      memcpy(conn->direct + conn->direct_count, bytes, direct);
      conn->direct_count += direct;
      bytes += direct;
      count -= direct;
    }
  }
  if (count > 0) {
    if (conn->ring_capacity - conn->ring_count < count) {
      conn_ring_grow(conn, conn->ring_count + count);
    }
    uint64_t tail = (conn->ring_head + conn->ring_count) % conn->ring_capacity;
    uint64_t first = SIM_MIN((uint64_t)count, conn->ring_capacity - tail);
    memcpy(conn->ring + tail, bytes, first);
    memcpy(conn->ring, bytes + first, count - first);
    conn->ring_count += count;
  }
  if (!conn->waiting) return;
  conn->waiting = false;
  sim_event_schedule_at(conn->plug->sim, &conn->wake, sim_now_ns(conn->plug->sim));
}

/*
 * While the ring is empty the reader waits with its buffer lent to the
 * deliveries (conn_on_deliver), which saves a copy; what it gets is what
 * the ring would have given it: every byte delivered meanwhile, up to capacity.
 */
static size_t conn_refill(void *context, uint8_t *bytes, size_t capacity)
{
  struct mig_plug_conn *conn = context;
  SIM_ASSERT(capacity > 0 && conn->direct == NULL);
  if (conn->ring_count == 0) {
    conn->direct = bytes;
    conn->direct_capacity = capacity;
    conn->direct_count = 0;
    bool cancelled = false;
    while (conn->direct_count == 0 && conn->ring_count == 0 && !conn->closed) {
      conn->waiting = true;
      cancelled = !sim_fiber_yield(conn->fiber);
      if (cancelled) break;
    }
    conn->direct = NULL;
    if (cancelled) return 0;
  }
  size_t direct = conn->direct_count;
  conn->direct_count = 0;
  size_t count = (size_t)SIM_MIN((uint64_t)(capacity - direct), conn->ring_count);
  if (count > 0) { /* the ring may never have been allocated */
    uint64_t first = SIM_MIN((uint64_t)count, conn->ring_capacity - conn->ring_head);
    memcpy(bytes + direct, conn->ring + conn->ring_head, first);
    memcpy(bytes + direct + first, conn->ring, count - first);
    conn->ring_head = (conn->ring_head + count) % conn->ring_capacity;
    conn->ring_count -= count;
  }
  return direct + count;
}

static void conn_on_wake(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct mig_plug_conn *conn = SIM_CONTAINER_OF(event, struct mig_plug_conn, wake);
  sim_fiber_resume(conn->fiber);
}

static void conn_fiber_body(struct sim_fiber *fiber, void *context)
{
  struct mig_plug_conn *conn = context;
  struct mig_reader reader;
  mig_reader_init_refill(&reader, conn->reader_buffer, sizeof(conn->reader_buffer), conn_refill,
                         conn);
  conn->body(conn, &reader);
  if (sim_fiber_cancelled(fiber)) return;
  conn->done = true;
  free(conn->ring);
  conn->ring = NULL;
  conn->ring_capacity = conn->ring_count = 0;
  mig__plug_dest_kick(conn->plug);
}

struct mig_plug_conn *mig__plug_conn_create(struct mig_plug *plug, const char *kind,
                                            uint32_t index, mig_plug_conn_body_fn *body)
{
  struct mig_plug_conn *conn = sim_alloc(plug->sim, sizeof(*conn));
  memset(conn, 0, sizeof(*conn));
  conn->plug = plug;
  conn->index = index;
  conn->body = body;
  conn->link = mig__plug_link(plug, kind, index);
  mig_writer_init(&conn->writer, conn->writer_buffer, sizeof(conn->writer_buffer), conn_write,
                  conn);
  link_writable_set(conn->link, conn, conn_on_writable);
  link_receiver_set(conn->link, conn, conn_on_deliver);
  sim_event_init(&conn->wake, conn_on_wake, "mig.plug.conn.wake");
  conn->fiber = sim_fiber_create(plug->sim, conn_fiber_body, conn);
  return conn;
}

void mig__plug_conn_start(struct mig_plug_conn *conn)
{
  sim_event_schedule_at(conn->plug->sim, &conn->wake, sim_now_ns(conn->plug->sim));
}

struct link *mig_plug_conn_link(struct mig_plug *plug, uint32_t index)
{
  if (index < plug->options.multifd_channels) {
    return plug->channels[index] != NULL ? plug->channels[index]->link : NULL;
  }
  if (index == plug->options.multifd_channels && plug->preempt != NULL) {
    return plug->preempt->link;
  }
  return NULL;
}

bool mig_plug_channel_fail(struct mig_plug *plug, uint32_t index)
{
  if (index >= plug->options.multifd_channels || plug->channels[index] == NULL) return false;
  struct mig_plug_conn *conn = plug->channels[index];
  if (conn->failed || conn->done) return false;
  conn->failed = true;
  sim_trace(plug->sim, "mig.multifd.fail", index, conn->bytes, conn->ring_count, 0);
  /* The destination's reader sees the end where the break came; unread bytes are gone. */
  conn->closed = true;
  conn->ring_count = 0;
  if (conn->waiting) {
    conn->waiting = false;
    sim_event_schedule_at(plug->sim, &conn->wake, sim_now_ns(plug->sim));
  }
  /* The source's next write on it fails; one blocked on space wakes to see that. */
  if (conn->waiting_space) {
    conn->waiting_space = false;
    sim_event_schedule_at(plug->sim, &plug->precopy->source_wake, sim_now_ns(plug->sim));
  }
  return true;
}

/* ---------------------------------------------------------------- multifd */

/* Destination: one channel's initial packet, then its packets until the source closes it. */
static void multifd_body(struct mig_plug_conn *conn, struct mig_reader *reader)
{
  struct mig_plug *plug = conn->plug;
  uint32_t channel = 0;
  enum mig_err err = mig_multifd_recv_initial(plug->multifd_recv, reader, &channel);
  while (err == MIG_OK && !mig_reader_at_end(reader)) {
    bool sync = false;
    err = mig_multifd_recv_packet(plug->multifd_recv, channel, reader, &sync);
    if (err == MIG_OK && sync) mig__plug_dest_kick(plug);
  }
  if (err != MIG_OK) conn->error = *mig_reader_error(reader);
  sim_trace(plug->sim, "mig.multifd.closed", conn->index, (uint64_t)err,
            mig_reader_offset(reader), 0);
}

/* Source, in setup: the channels, their initial packets; the RAM section sends through them. */
void mig__plug_multifd_setup(struct mig_plug *plug)
{
  const struct mig_plug_options *options = &plug->options;
  struct mig_writer *writers[MIG_MULTIFD_CHANNELS_MAX];
  for (uint32_t i = 0; i < options->multifd_channels; i++) writers[i] = &plug->channels[i]->writer;
  struct mig_multifd_send_options send_options = {
      .channels_count = options->multifd_channels, .compression = options->compression,
      .level = options->level, .zero_pages = options->zero_pages};
  plug->multifd_send = mig_multifd_send_create(&send_options, writers);
  mig_multifd_send_initial(plug->multifd_send);
  for (uint32_t i = 0; i < options->multifd_channels; i++) mig_writer_flush(writers[i]);
  mig_ram_source_multifd_set(&plug->precopy->ram, plug->multifd_send);
}

/* Destination: each RAM EOS waits until every channel has delivered one more SYNC. */
enum mig_err mig__plug_multifd_eos(void *context, struct mig_reader *reader)
{
  struct mig_plug *plug = context;
  struct mig_precopy *precopy = plug->precopy;
  /* From LISTEN on, pages come on the main and preempt channels only (7.2). */
  if (plug->dest.state >= MIG_POSTCOPY_LISTENING) return MIG_OK;
  plug->eos_count++;
  for (uint32_t i = 0; i < plug->options.multifd_channels; i++) {
    struct mig_plug_conn *conn = plug->channels[i];
    while (mig_multifd_recv_syncs(plug->multifd_recv, i) < plug->eos_count) {
      if (conn->done) {
        char detail[sizeof(conn->error.detail) + 64];
        snprintf(detail, sizeof(detail), "channel %" PRIu32 " ended before SYNC %" PRIu64 ": %s",
                 i, plug->eos_count, conn->error.code != MIG_OK ? conn->error.detail : "closed");
        MIG_READER_FAIL(reader, MIG_ERR_TRUNCATED, mig_reader_offset(reader), detail,
                        "multifd/channel%" PRIu32 "/sync", i);
        return MIG_ERR_TRUNCATED;
      }
      plug->dest_waiting_sync = true;
      bool alive = sim_fiber_yield(precopy->dest_fiber);
      plug->dest_waiting_sync = false;
      if (!alive) return MIG_ERR_CANCELLED;
    }
  }
  return MIG_OK;
}

/* Source: the stream is whole (or cut): every channel's end. */
void mig__plug_multifd_close(struct mig_plug *plug)
{
  for (uint32_t i = 0; i < plug->options.multifd_channels; i++) {
    struct mig_plug_conn *conn = plug->channels[i];
    if (conn == NULL || link_closed(conn->link)) continue;
    mig_writer_flush(&conn->writer);
    link_close(conn->link);
  }
}

void mig__plug_multifd_create(struct mig_plug *plug)
{
  const struct mig_plug_options *options = &plug->options;
  SIM_ASSERT(options->multifd_channels >= 1 &&
             options->multifd_channels <= MIG_MULTIFD_CHANNELS_MAX);
  for (uint32_t i = 0; i < options->multifd_channels; i++) {
    plug->channels[i] = mig__plug_conn_create(plug, "multifd", i, multifd_body);
  }
  struct mig_multifd_recv_options recv_options = {
      .channels_count = options->multifd_channels, .compression = options->compression,
      .blocks = plug->dest_blocks, .block_count = plug->block_count,
      .placed = mig__plug_multifd_placed, .placed_context = plug};
  plug->multifd_recv = mig_multifd_recv_create(&recv_options);
}
