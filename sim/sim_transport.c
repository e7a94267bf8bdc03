/*
 * sim_transport.c: the reliable byte stream of sim_transport.h over two
 * faulty links; the protocol and the segment layout are in docs/link.md.
 *
 * Sequence numbers are 64-bit byte offsets that never wrap: data byte k of
 * a direction has sequence number k, and the FIN takes the number after the
 * last byte, so its acknowledgement is unambiguous.  The send buffer holds
 * [snd_una, snd_end) at ring offset seq % send_buffer_bytes; the receive
 * buffer holds [read_seq, rcv_nxt) the same way.  A segment is built in
 * place in the link's ring (link_packet_reserve), so the only copies are the
 * writer's into the send buffer, the send buffer's into the link, and the
 * link's into the receive buffer.  One embedded timer per end serves the
 * retransmission, persist, keepalive and dead deadlines: it is re-armed only
 * when a deadline moves earlier, and when it fires it recomputes them all.
 */
/*
 * zlib.h comes before sim_base.h, against the usual order: it names a struct
 * field after the wall-clock call that sim_base.h poisons (as mig_ramapply.c
 * explains).  Only crc32() is used from it.
 */
#include <zlib.h>

#include "sim_base.h"

#include "sim_limits.h"
#include "sim_transport.h"

#include <xxhash.h>

enum { SEGMENT_FIN = 1, SEGMENT_RST = 2 };
/* Offsets in the segment header (little-endian fields). */
enum {
  HEADER_SEQ = 0, HEADER_ACK = 8, HEADER_WINDOW = 16, HEADER_PAYLOAD_BYTES = 20,
  HEADER_FLAGS = 24, HEADER_PAYLOAD_CHECKSUM = 28, HEADER_CHECKSUM = 36,
};
_Static_assert(HEADER_CHECKSUM + 4 == LINK_SEGMENT_HEADER_BYTES, "the header ends with its CRC");

/* Why a segment was refused, as traced in link.conn.refuse's fourth value. */
enum refusal { REFUSE_HEADER = 1, REFUSE_PAYLOAD, REFUSE_ORDER, REFUSE_ROOM };
/* Why bytes were sent again, as traced in link.conn.retransmit's fourth value. */
enum { RETRANSMIT_TIMEOUT = 1, RETRANSMIT_FAST = 2 };
enum { DUPLICATE_ACKS_FAST = 3 };

struct segment {
  uint64_t seq;               /* first payload byte, or the FIN's number */
  uint64_t ack;               /* next number the sender expects */
  uint32_t window;            /* the sender's free receive room, bytes */
  uint32_t payload_bytes;
  uint8_t flags;              /* SEGMENT_FIN | SEGMENT_RST */
  const uint8_t *payload;
};

struct link_end {
  struct link_conn *conn;
  struct sim *sim;
  struct link *out;                  /* carries this end's segments to the peer */
  uint64_t id;                       /* XXH3-64 of "<name>/end<i>" */
  struct sim_prng prng;              /* "<name>/end<i>": checksum escapes */
  struct sim_ratio checksum_escape;
  /* Send half. */
  uint8_t *send_ring;                /* send_buffer_bytes */
  uint64_t snd_una;                  /* oldest unacknowledged number */
  uint64_t snd_nxt;                  /* next number to send; go-back-N rewinds it */
  uint64_t snd_max;                  /* one past the highest number ever sent */
  uint64_t snd_end;                  /* bytes written: the FIN's number */
  uint64_t peer_window;              /* the peer's room past snd_una */
  bool close_requested;              /* link_end_close called */
  bool probe_allowed;                /* a timeout lets one byte past a zero window */
  uint32_t dupacks_count;            /* duplicate acks since the last new one */
  uint64_t recover;                  /* no fast retransmit until snd_una reaches it */
  bool rtt_sampled;                  /* srtt_ns and rttvar_ns hold an estimate */
  uint64_t srtt_ns;
  uint64_t rttvar_ns;
  uint64_t rto_ns;                   /* current timeout, backed off */
  bool rtt_timing;                   /* one segment is being timed (Karn) */
  uint64_t rtt_seq;                  /* its acknowledgement number */
  uint64_t rtt_start_ns;
  uint64_t rto_deadline_ns;          /* 0 = timer off */
  /* Receive half. */
  uint8_t *recv_ring;                /* recv_buffer_bytes */
  uint64_t read_seq;                 /* next byte link_end_read hands out */
  uint64_t rcv_nxt;                  /* next in-order byte expected */
  bool fin_received;
  uint64_t window_advertised;        /* the room our last segment announced */
  bool ack_pending;                  /* owed an acknowledgement */
  /* Liveness. */
  uint64_t heard_ns;                 /* last valid segment from the peer */
  uint64_t waiting_since_ns;         /* when the peer last began to owe us an answer */
  uint64_t sent_ns;                  /* last segment sent */
  enum link_end_state state;
  enum link_end_reset reset;
  struct sim_event timer;
  void *context;
  link_end_fn *readable;
  link_end_fn *writable;
  struct link_end_stats stats;
};

/* One direction as a carried link (link_conn_streams): end writer -> its peer. */
struct link_stream {
  struct link_conn *conn;
  uint32_t writer;                   /* the end that writes it */
  struct link *link;
};

struct link_conn {
  struct link_conn_options options;
  uint32_t payload_bytes_max;        /* packet_bytes_max - header */
  struct link_end ends[2];
  struct link_stream streams[2];     /* streams[i]: written by end i; link NULL until asked */
  uint8_t *drain;                    /* payload_bytes_max: what a stream's reader takes */
  uint64_t open_ns;                  /* streams take no byte before (connection set-up) */
  struct sim *sim;
  struct sim_event open_event;
};

static void put_le(uint8_t *out, uint64_t value, int bytes)
{
  for (int i = 0; i < bytes; i++) out[i] = (uint8_t)(value >> (8 * i));
}

static uint64_t get_le(const uint8_t *in, int bytes)
{
  uint64_t value = 0;
  for (int i = 0; i < bytes; i++) value |= (uint64_t)in[i] << (8 * i);
  return value;
}

static uint32_t header_crc(const uint8_t *header)
{
  return (uint32_t)crc32(0, header, HEADER_CHECKSUM);
}

static uint64_t recv_room(const struct link_end *end)
{
  return end->conn->options.recv_buffer_bytes - (end->rcv_nxt - end->read_seq);
}

/* Copies count bytes between a ring and flat memory, from ring offset seq % capacity. */
static void ring_copy(uint8_t *ring, uint64_t capacity, uint64_t seq, uint8_t *flat,
                      uint64_t count, bool to_ring)
{
  SIM_ASSERT(count <= capacity);
  uint64_t offset = seq % capacity;
  uint64_t first = SIM_MIN(count, capacity - offset);
  if (to_ring) {
    memcpy(ring + offset, flat, first);
    memcpy(ring, flat + first, count - first);
  } else {
    memcpy(flat, ring + offset, first);
    memcpy(flat + first, ring, count - first);
  }
}

static void rtt_sample(struct link_end *end, uint64_t rtt_ns)
{
  /* RFC 6298 section 2, in integer nanoseconds. */
  if (!end->rtt_sampled) {
    end->srtt_ns = rtt_ns;
    end->rttvar_ns = rtt_ns / 2;
    end->rtt_sampled = true;
  } else {
    uint64_t error_ns = end->srtt_ns > rtt_ns ? end->srtt_ns - rtt_ns : rtt_ns - end->srtt_ns;
    end->rttvar_ns = (3 * end->rttvar_ns + error_ns) / 4;
    end->srtt_ns = (7 * end->srtt_ns + rtt_ns) / 8;
  }
  end->stats.rtt_ns_smoothed = end->srtt_ns;
}

/* The timeout before backoff: SRTT + 4 RTTVAR, within [rto_ns_min, rto_ns_max]. */
static uint64_t rto_base(const struct link_end *end)
{
  const struct link_conn_options *options = &end->conn->options;
  if (!end->rtt_sampled) return options->rto_ns_min;
  uint64_t rto_ns = end->srtt_ns + 4 * end->rttvar_ns;
  return SIM_MIN(SIM_MAX(rto_ns, options->rto_ns_min), options->rto_ns_max);
}

/* Bookkeeping for a sent segment that occupies numbers [seq, seq_end). */
static void end_sent_numbers(struct link_end *end, uint64_t seq, uint64_t seq_end,
                             uint32_t payload_bytes)
{
  uint64_t now_ns = sim_now_ns(end->sim);
  if (seq < end->snd_max) {
    end->stats.bytes_retransmitted += SIM_MIN(SIM_MIN(seq_end, end->snd_max) - seq,
                                              (uint64_t)payload_bytes);
    end->stats.segments_retransmitted++;
  }
  /* Nothing was unacknowledged: the peer owes an answer from now (a retransmission is no news). */
  if (end->snd_una == end->snd_max) end->waiting_since_ns = now_ns;
  if (seq_end > end->snd_max) {
    end->snd_max = seq_end;
    if (!end->rtt_timing) {
      end->rtt_timing = true;
      end->rtt_seq = seq_end;
      end->rtt_start_ns = now_ns;
    }
  }
  if (end->rto_deadline_ns == 0) end->rto_deadline_ns = now_ns + end->rto_ns;
}

/*
 * Sends one segment, built in the link's ring: payload_bytes from the send
 * buffer at seq, plus flags.  False when the link has no room now.
 */
static bool segment_send(struct link_end *end, uint64_t seq, uint32_t payload_bytes,
                         uint8_t flags)
{
  struct link_conn *conn = end->conn;
  SIM_ASSERT(payload_bytes <= conn->payload_bytes_max);
  SIM_ASSERT(payload_bytes == 0 || seq + payload_bytes <= end->snd_end);
  uint8_t *packet = link_packet_reserve(end->out, LINK_SEGMENT_HEADER_BYTES + payload_bytes);
  if (packet == NULL) return false;
  uint8_t *payload = packet + LINK_SEGMENT_HEADER_BYTES;
  if (payload_bytes > 0) {
    ring_copy(end->send_ring, conn->options.send_buffer_bytes, seq, payload, payload_bytes,
              false);
  }
  uint64_t window = recv_room(end);
  put_le(packet + HEADER_SEQ, seq, 8);
  put_le(packet + HEADER_ACK, end->rcv_nxt + (end->fin_received ? 1 : 0), 8);
  put_le(packet + HEADER_WINDOW, window, 4);
  put_le(packet + HEADER_PAYLOAD_BYTES, payload_bytes, 4);
  put_le(packet + HEADER_FLAGS, flags, 4);
  put_le(packet + HEADER_PAYLOAD_CHECKSUM, XXH3_64bits(payload, payload_bytes), 8);
  put_le(packet + HEADER_CHECKSUM, header_crc(packet), 4);
  link_packet_commit(end->out, LINK_SEGMENT_HEADER_BYTES + payload_bytes);
  end->stats.segments_sent++;
  end->ack_pending = false;
  end->window_advertised = window;
  end->sent_ns = sim_now_ns(end->sim);
  uint64_t seq_end = seq + payload_bytes + ((flags & SEGMENT_FIN) != 0 ? 1 : 0);
  if (seq_end > seq) end_sent_numbers(end, seq, seq_end, payload_bytes);
  return true;
}

/* The end waits for its peer: dead_ns of silence will reset it. */
static bool end_expecting(const struct link_end *end)
{
  return end->snd_nxt > end->snd_una || (end->peer_window == 0 && end->snd_una < end->snd_end) ||
         end->conn->options.keepalive_ns != 0;
}

static void end_timer_arm(struct link_end *end)
{
  const struct link_conn_options *options = &end->conn->options;
  if (end->state != LINK_END_ESTABLISHED) {
    sim_event_cancel(end->sim, &end->timer);
    return;
  }
  uint64_t now_ns = sim_now_ns(end->sim);
  bool persist = end->peer_window == 0 && end->snd_nxt == end->snd_una &&
                 end->snd_una < end->snd_end;
  if (end->rto_deadline_ns == 0 && persist) end->rto_deadline_ns = now_ns + end->rto_ns;
  uint64_t deadline_ns = end->rto_deadline_ns != 0 ? end->rto_deadline_ns : UINT64_MAX;
  if (options->keepalive_ns != 0) {
    deadline_ns = SIM_MIN(deadline_ns, end->sent_ns + options->keepalive_ns);
  }
  if (end_expecting(end)) {
    uint64_t since_ns = SIM_MAX(end->heard_ns, end->waiting_since_ns);
    deadline_ns = SIM_MIN(deadline_ns, since_ns + options->dead_ns);
  }
  /* No deadline: an armed timer that fires later finds nothing due, which is harmless. */
  if (deadline_ns == UINT64_MAX) return;
  deadline_ns = SIM_MAX(deadline_ns, now_ns);
  if (!sim_event_armed(&end->timer) || end->timer.time_ns > deadline_ns) {
    sim_event_schedule_at(end->sim, &end->timer, deadline_ns);
  }
}

/* Sends what the windows allow, then the FIN, then an owed acknowledgement. */
static void end_pump(struct link_end *end)
{
  if (end->state == LINK_END_RESET) return;
  while (end->state == LINK_END_ESTABLISHED) {
    uint64_t window = end->peer_window != 0 ? end->peer_window : end->probe_allowed ? 1 : 0;
    uint64_t data_end = SIM_MIN(end->snd_end, end->snd_una + window);
    if (end->snd_nxt < data_end) {
      uint32_t bytes = (uint32_t)SIM_MIN(data_end - end->snd_nxt,
                                         (uint64_t)end->conn->payload_bytes_max);
      if (!segment_send(end, end->snd_nxt, bytes, 0)) break;
      end->snd_nxt += bytes;
      end->probe_allowed = false;
      continue;
    }
    if (end->close_requested && end->snd_nxt == end->snd_end) {
      if (segment_send(end, end->snd_end, 0, SEGMENT_FIN)) end->snd_nxt = end->snd_end + 1;
    }
    break;
  }
  if (end->ack_pending) (void)segment_send(end, end->snd_nxt, 0, 0);
  end_timer_arm(end);
}

static void end_notify(struct link_end *end, bool readable, bool writable)
{
  if (readable && end->readable != NULL) end->readable(end->context);
  if (writable && end->writable != NULL) end->writable(end->context);
}

static void end_reset(struct link_end *end, enum link_end_reset reason, bool send_rst)
{
  if (end->state == LINK_END_RESET) return;
  if (send_rst) (void)segment_send(end, end->snd_nxt, 0, SEGMENT_RST);
  end->state = LINK_END_RESET;
  end->reset = reason;
  end->stats.state_ns = sim_now_ns(end->sim);
  sim_event_cancel(end->sim, &end->timer);
  sim_trace(end->sim, "link.conn.reset", end->id, reason, end->snd_una, end->rcv_nxt);
  end_notify(end, true, true);
}

/* Go-back-N: everything past snd_una will be sent again. */
static void end_go_back(struct link_end *end, uint64_t why)
{
  sim_trace(end->sim, "link.conn.retransmit", end->id, end->snd_una,
            end->snd_nxt - end->snd_una, why);
  end->recover = end->snd_max;
  end->snd_nxt = end->snd_una;
  end->rtt_timing = false; /* Karn: no sample from a segment that may have been sent twice */
}

static void end_on_timer(struct sim *sim, struct sim_event *event)
{
  struct link_end *end = SIM_CONTAINER_OF(event, struct link_end, timer);
  const struct link_conn_options *options = &end->conn->options;
  uint64_t now_ns = sim_now_ns(sim);
  SIM_ASSERT(end->state == LINK_END_ESTABLISHED);
  uint64_t since_ns = SIM_MAX(end->heard_ns, end->waiting_since_ns);
  if (end_expecting(end) && now_ns - since_ns >= options->dead_ns) {
    end_reset(end, LINK_END_RESET_DEAD, true);
    return;
  }
  if (end->rto_deadline_ns != 0 && now_ns >= end->rto_deadline_ns) {
    end->stats.timeouts_count++;
    end->rto_ns = SIM_MIN(end->rto_ns * 2, options->rto_ns_max);
    end->stats.rto_ns = end->rto_ns;
    end->rto_deadline_ns = 0;
    end->probe_allowed = true;
    if (end->snd_nxt > end->snd_una) end_go_back(end, RETRANSMIT_TIMEOUT);
  }
  if (options->keepalive_ns != 0 && now_ns - end->sent_ns >= options->keepalive_ns) {
    end->ack_pending = true;
  }
  end_pump(end);
}

static bool refuse(struct link_end *end, enum refusal why, uint64_t seq, uint64_t bytes)
{
  if (why == REFUSE_HEADER) end->stats.drops_header_count++;
  if (why == REFUSE_PAYLOAD) end->stats.drops_payload_count++;
  if (why == REFUSE_ORDER) end->stats.drops_order_count++;
  if (why == REFUSE_ROOM) end->stats.drops_room_count++;
  sim_trace(end->sim, "link.conn.refuse", end->id, seq, bytes, why);
  return false;
}

/* Decodes and checks one segment; false (traced) when it must be dropped. */
static bool segment_check(struct link_end *end, const uint8_t *bytes, size_t count,
                          struct segment *segment)
{
  if (count < LINK_SEGMENT_HEADER_BYTES) return refuse(end, REFUSE_HEADER, 0, count);
  if (get_le(bytes + HEADER_CHECKSUM, 4) != header_crc(bytes)) {
    return refuse(end, REFUSE_HEADER, 0, count);
  }
  segment->seq = get_le(bytes + HEADER_SEQ, 8);
  segment->ack = get_le(bytes + HEADER_ACK, 8);
  segment->window = (uint32_t)get_le(bytes + HEADER_WINDOW, 4);
  segment->payload_bytes = (uint32_t)get_le(bytes + HEADER_PAYLOAD_BYTES, 4);
  uint64_t flags = get_le(bytes + HEADER_FLAGS, 4);
  segment->flags = (uint8_t)flags;
  segment->payload = bytes + LINK_SEGMENT_HEADER_BYTES;
  /* A CRC-valid header is ours unless the CRC collided: still, check every field. */
  if ((flags & ~(uint64_t)(SEGMENT_FIN | SEGMENT_RST)) != 0 ||
      segment->payload_bytes != count - LINK_SEGMENT_HEADER_BYTES ||
      segment->seq > UINT64_MAX / 2 || segment->ack > UINT64_MAX / 2) {
    return refuse(end, REFUSE_HEADER, segment->seq, count);
  }
  uint64_t checksum = get_le(bytes + HEADER_PAYLOAD_CHECKSUM, 8);
  if (XXH3_64bits(segment->payload, segment->payload_bytes) != checksum) {
    bool escape = end->checksum_escape.numerator != 0 &&
                  sim_prng_chance(&end->prng, end->checksum_escape);
    if (!escape) return refuse(end, REFUSE_PAYLOAD, segment->seq, segment->payload_bytes);
    end->stats.escapes_count++;
    sim_trace(end->sim, "link.conn.escape", end->id, segment->seq, segment->payload_bytes, 0);
  }
  return true;
}

static void end_duplicate_ack(struct link_end *end)
{
  if (++end->dupacks_count != DUPLICATE_ACKS_FAST || end->snd_una < end->recover) return;
  end->stats.fast_retransmits_count++;
  end_go_back(end, RETRANSMIT_FAST);
}

/* The acknowledgement and window of a segment; true when send-buffer space was freed. */
static bool end_take_ack(struct link_end *end, const struct segment *segment)
{
  /* Older than snd_una: its window is stale too.  Past snd_max: never sent. */
  if (segment->ack < end->snd_una || segment->ack > end->snd_max) return false;
  if (segment->ack == end->snd_una) {
    bool duplicate = segment->payload_bytes == 0 && (segment->flags & SEGMENT_FIN) == 0 &&
                     end->snd_nxt > end->snd_una && segment->window == end->peer_window;
    end->peer_window = segment->window;
    if (duplicate) end_duplicate_ack(end);
    return false;
  }
  uint64_t now_ns = sim_now_ns(end->sim);
  uint64_t freed = SIM_MIN(segment->ack, end->snd_end) - SIM_MIN(end->snd_una, end->snd_end);
  end->stats.bytes_acked += freed;
  if (end->rtt_timing && segment->ack >= end->rtt_seq) {
    rtt_sample(end, now_ns - end->rtt_start_ns);
    end->rtt_timing = false;
  }
  end->snd_una = segment->ack;
  end->snd_nxt = SIM_MAX(end->snd_nxt, end->snd_una);
  end->peer_window = segment->window;
  end->dupacks_count = 0;
  end->rto_ns = rto_base(end);
  end->stats.rto_ns = end->rto_ns;
  end->rto_deadline_ns = end->snd_nxt > end->snd_una ? now_ns + end->rto_ns : 0;
  end->waiting_since_ns = now_ns;
  return freed > 0;
}

/* The payload and FIN of a segment; true when the reader has something new. */
static bool end_take_data(struct link_end *end, const struct segment *segment)
{
  uint64_t seq_end = segment->seq + segment->payload_bytes;
  bool fin = (segment->flags & SEGMENT_FIN) != 0;
  if (segment->seq > end->rcv_nxt) {
    return refuse(end, REFUSE_ORDER, segment->seq, segment->payload_bytes);
  }
  /* Wholly old (a duplicate or a go-back copy): only the acknowledgement matters. */
  if (end->fin_received || seq_end < end->rcv_nxt || (seq_end == end->rcv_nxt && !fin)) {
    return false;
  }
  uint64_t skip = end->rcv_nxt - segment->seq;
  uint64_t bytes = segment->payload_bytes - skip;
  if (bytes > recv_room(end)) return refuse(end, REFUSE_ROOM, segment->seq, bytes);
  ring_copy(end->recv_ring, end->conn->options.recv_buffer_bytes, end->rcv_nxt,
            (uint8_t *)(uintptr_t)(segment->payload + skip), bytes, true);
  end->rcv_nxt += bytes;
  end->stats.bytes_received += bytes;
  end->fin_received = fin;
  return true;
}

static void end_close_check(struct link_end *end)
{
  if (end->state != LINK_END_ESTABLISHED || !end->close_requested || !end->fin_received ||
      end->snd_una != end->snd_end + 1) {
    return;
  }
  end->state = LINK_END_CLOSED;
  end->stats.state_ns = sim_now_ns(end->sim);
  sim_event_cancel(end->sim, &end->timer);
  sim_trace(end->sim, "link.conn.closed", end->id, end->stats.bytes_written,
            end->stats.bytes_received, 0);
}

/* The receiver of the peer's link: one whole segment per call (packet mode). */
static void end_on_segment(void *context, const uint8_t *bytes, size_t count)
{
  struct link_end *end = context;
  /* A connection's links are never closed, so count is never 0 here. */
  SIM_ASSERT(count > 0);
  if (end->state == LINK_END_RESET) return;
  struct segment segment;
  if (!segment_check(end, bytes, count, &segment)) return;
  end->heard_ns = sim_now_ns(end->sim);
  end->stats.segments_received++;
  if ((segment.flags & SEGMENT_RST) != 0) {
    end_reset(end, LINK_END_RESET_PEER, false);
    return;
  }
  bool writable = end_take_ack(end, &segment);
  bool readable = false;
  if (segment.payload_bytes > 0 || (segment.flags & SEGMENT_FIN) != 0) {
    readable = end_take_data(end, &segment);
    end->ack_pending = true; /* every data segment is answered, refused or not */
  }
  end_close_check(end);
  end_pump(end);
  end_notify(end, readable, writable);
}

static void end_on_link_writable(void *context)
{
  end_pump(context);
}

bool link_conn_options_valid(const struct link_conn_options *options)
{
  const struct link_options *link = &options->link;
  const struct sim_ratio escape = options->checksum_escape;
  return link->bandwidth_bytes_per_s > 0 &&
         link->bandwidth_bytes_per_s <= SIM_LINK_BANDWIDTH_BYTES_PER_S_MAX &&
         link->window_bytes <= SIM_LINK_WINDOW_BYTES_MAX &&
         link->packet_bytes_max > LINK_SEGMENT_HEADER_BYTES &&
         link->packet_bytes_max <= SIM_LINK_PACKET_BYTES_MAX &&
         link->packet_bytes_max <= link->window_bytes &&
         options->send_buffer_bytes > 0 &&
         options->send_buffer_bytes <= SIM_LINK_CONN_BUFFER_BYTES_MAX &&
         options->recv_buffer_bytes > 0 &&
         options->recv_buffer_bytes <= SIM_LINK_CONN_BUFFER_BYTES_MAX &&
         options->rto_ns_min > 0 && options->rto_ns_min <= options->rto_ns_max &&
         options->rto_ns_max <= SIM_LINK_CONN_TIMEOUT_NS_MAX && options->dead_ns > 0 &&
         options->dead_ns <= SIM_LINK_CONN_TIMEOUT_NS_MAX &&
         options->keepalive_ns <= SIM_LINK_CONN_TIMEOUT_NS_MAX &&
         (escape.numerator == 0 || escape.numerator <= escape.denominator);
}

/* "<name>/<what><index>" in the arena: names outlive the call, as links require. */
static const char *end_name(struct sim *sim, const char *name, const char *what, uint32_t index)
{
  size_t bytes = strlen(name) + strlen(what) + 3;
  char *text = sim_alloc(sim, bytes);
  snprintf(text, bytes, "%s/%s%" PRIu32, name, what, index);
  return text;
}

static void end_init(struct sim *sim, struct link_conn *conn, const char *name, uint32_t index)
{
  const struct link_conn_options *options = &conn->options;
  struct link_end *end = &conn->ends[index];
  end->conn = conn;
  end->sim = sim;
  end->out = link_create(sim, &options->link, end_name(sim, name, "link", index));
  const char *stream = end_name(sim, name, "end", index);
  end->id = XXH3_64bits(stream, strlen(stream));
  sim_prng_stream(sim, &end->prng, stream);
  end->checksum_escape = options->checksum_escape;
  end->send_ring = sim_alloc(sim, options->send_buffer_bytes);
  end->recv_ring = sim_alloc(sim, options->recv_buffer_bytes);
  /* Both ends have the same options, so the peer's first window is its whole buffer. */
  end->peer_window = options->recv_buffer_bytes;
  end->window_advertised = options->recv_buffer_bytes;
  end->rto_ns = options->rto_ns_min;
  end->stats.rto_ns = end->rto_ns;
  end->heard_ns = end->waiting_since_ns = end->sent_ns = sim_now_ns(sim);
  end->state = LINK_END_ESTABLISHED;
  sim_event_init(&end->timer, end_on_timer, "link.conn.timer");
}

struct link_conn *link_conn_create(struct sim *sim, const struct link_conn_options *options,
                                   const char *name)
{
  SIM_ASSERT(link_conn_options_valid(options));
  struct link_conn *conn = sim_alloc(sim, sizeof(*conn));
  conn->options = *options;
  conn->payload_bytes_max = options->link.packet_bytes_max - LINK_SEGMENT_HEADER_BYTES;
  /* Link 0 before link 1; their PRNG streams are named, so order does not matter anyway. */
  for (uint32_t i = 0; i < 2; i++) end_init(sim, conn, name, i);
  for (uint32_t i = 0; i < 2; i++) {
    link_receiver_set(conn->ends[i].out, &conn->ends[1 - i], end_on_segment);
    link_writable_set(conn->ends[i].out, &conn->ends[i], end_on_link_writable);
    end_timer_arm(&conn->ends[i]);
  }
  return conn;
}

struct link_end *link_conn_end(struct link_conn *conn, uint32_t index)
{
  SIM_ASSERT(index < 2);
  return &conn->ends[index];
}

void link_end_callbacks_set(struct link_end *end, void *context, link_end_fn *readable,
                            link_end_fn *writable)
{
  end->context = context;
  end->readable = readable;
  end->writable = writable;
}

size_t link_end_write_space(const struct link_end *end)
{
  if (end->state != LINK_END_ESTABLISHED || end->close_requested) return 0;
  return (size_t)(end->conn->options.send_buffer_bytes - (end->snd_end - end->snd_una));
}

size_t link_end_write(struct link_end *end, const uint8_t *bytes, size_t count)
{
  size_t accepted = SIM_MIN(count, link_end_write_space(end));
  if (accepted == 0) return 0;
  ring_copy(end->send_ring, end->conn->options.send_buffer_bytes, end->snd_end,
            (uint8_t *)(uintptr_t)bytes, accepted, true);
  end->snd_end += accepted;
  end->stats.bytes_written += accepted;
  end_pump(end);
  return accepted;
}

size_t link_end_readable(const struct link_end *end)
{
  if (end->state == LINK_END_RESET) return 0;
  return (size_t)(end->rcv_nxt - end->read_seq);
}

size_t link_end_read(struct link_end *end, uint8_t *bytes, size_t capacity)
{
  size_t count = SIM_MIN(capacity, link_end_readable(end));
  if (count == 0) return 0;
  ring_copy(end->recv_ring, end->conn->options.recv_buffer_bytes, end->read_seq, bytes, count,
            false);
  end->read_seq += count;
  end->stats.bytes_read += count;
  /* Announce the room once it has grown by a segment (or half the buffer): no silly windows. */
  uint64_t step = SIM_MIN((uint64_t)end->conn->payload_bytes_max,
                          (uint64_t)end->conn->options.recv_buffer_bytes / 2);
  if (recv_room(end) >= end->window_advertised + SIM_MAX(step, 1)) {
    end->ack_pending = true;
    end_pump(end);
  }
  return count;
}

bool link_end_eof(const struct link_end *end)
{
  return end->state != LINK_END_RESET && end->fin_received && end->read_seq == end->rcv_nxt;
}

void link_end_close(struct link_end *end)
{
  if (end->state != LINK_END_ESTABLISHED || end->close_requested) return;
  end->close_requested = true;
  end_pump(end);
}

void link_end_abort(struct link_end *end)
{
  end_reset(end, LINK_END_RESET_ABORT, true);
}

enum link_end_state link_end_state(const struct link_end *end) { return end->state; }
enum link_end_reset link_end_reset_reason(const struct link_end *end) { return end->reset; }
const struct link_end_stats *link_end_stats(struct link_end *end) { return &end->stats; }
struct link *link_end_link(struct link_end *end) { return end->out; }
uint64_t link_end_id(const struct link_end *end) { return end->id; }

void link_end_checksum_escape_set(struct link_end *end, struct sim_ratio escape)
{
  SIM_ASSERT(escape.numerator == 0 || escape.numerator <= escape.denominator);
  end->checksum_escape = escape;
}

/* ------------------------------------------------------------ carried streams */

static size_t stream_send(void *context, const uint8_t *bytes, size_t count)
{
  struct link_stream *stream = context;
  if (sim_now_ns(stream->conn->sim) < stream->conn->open_ns) return 0;
  return link_end_write(&stream->conn->ends[stream->writer], bytes, count);
}

static size_t stream_space(const void *context)
{
  const struct link_stream *stream = context;
  if (sim_now_ns(stream->conn->sim) < stream->conn->open_ns) return 0;
  return link_end_write_space(&stream->conn->ends[stream->writer]);
}

static void stream_close(void *context)
{
  struct link_stream *stream = context;
  link_end_close(&stream->conn->ends[stream->writer]);
}

/* Faults on a direction act on the packets going that way: the writer's link. */
static void stream_faults_set(void *context, const struct link_faults *faults)
{
  struct link_stream *stream = context;
  link_faults_set(stream->conn->ends[stream->writer].out, faults);
}

static const struct link_stats *stream_stats(const void *context)
{
  const struct link_stream *stream = context;
  return link_stats(stream->conn->ends[stream->writer].out);
}

static const struct link_carrier stream_carrier = {stream_send, stream_space, stream_close,
                                                   stream_faults_set, stream_stats};

/* End i's reader: every waiting byte to the stream its peer writes, then the end or a reset. */
static void stream_on_readable(void *context)
{
  struct link_end *end = context;
  struct link_conn *conn = end->conn;
  uint32_t index = (uint32_t)(end - conn->ends);
  struct link_stream *in = &conn->streams[1 - index];
  if (in->link == NULL) {
    uint8_t sink[256]; /* nobody reads this direction: keep the window open */
    while (link_end_read(end, sink, sizeof(sink)) > 0) continue;
    return;
  }
  size_t count;
  while ((count = link_end_read(end, conn->drain, conn->payload_bytes_max)) > 0) {
    link_carried_deliver(in->link, conn->drain, count);
  }
  if (link_end_eof(end)) link_carried_deliver(in->link, NULL, 0);
  if (end->state == LINK_END_RESET) {
    for (uint32_t i = 0; i < 2; i++) {
      if (conn->streams[i].link != NULL) link_carried_break(conn->streams[i].link);
    }
  }
}

static void stream_on_writable(void *context)
{
  struct link_end *end = context;
  struct link_conn *conn = end->conn;
  struct link_stream *out = &conn->streams[end - conn->ends];
  if (out->link != NULL && end->state != LINK_END_RESET) link_carried_writable(out->link);
}

/* The connection is up: writers blocked on set-up go. */
static void stream_on_open(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct link_conn *conn = SIM_CONTAINER_OF(event, struct link_conn, open_event);
  sim_trace(conn->sim, "link.conn.open", link_end_id(&conn->ends[0]), 0, 0, 0);
  for (uint32_t i = 0; i < 2; i++) link_carried_writable(conn->streams[i].link);
}

void link_conn_streams(struct link_conn *conn, struct sim *sim, const char *name,
                       uint64_t open_ns, struct link **out)
{
  conn->drain = sim_alloc(sim, conn->payload_bytes_max);
  conn->sim = sim;
  conn->open_ns = open_ns;
  sim_event_init(&conn->open_event, stream_on_open, "link.conn.open");
  if (open_ns > sim_now_ns(sim)) sim_event_schedule_at(sim, &conn->open_event, open_ns);
  for (uint32_t i = 0; i < 2; i++) {
    struct link_stream *stream = &conn->streams[i];
    stream->conn = conn;
    stream->writer = i;
    stream->link = link_create_carried(sim, end_name(sim, name, "stream", i), &stream_carrier,
                                       stream);
    link_end_callbacks_set(&conn->ends[i], &conn->ends[i], stream_on_readable,
                           stream_on_writable);
    out[i] = stream->link;
  }
}
