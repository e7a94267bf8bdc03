/*
 * sim_transport.h: a reliable byte stream over two faulty links, as TCP is
 * over IP (design and segment format in docs/link.md).
 *
 * A connection (struct link_conn) has two ends; end i sends segments on its
 * own link (named "<name>/link<i>") and receives on the other's, so a fault
 * set on one end's link (link_end_link) is an asymmetric fault.  Each end is
 * a full-duplex byte stream: link_end_write copies into a send buffer,
 * link_end_read copies out of a receive buffer, and the bytes a reader gets
 * are exactly the bytes the peer wrote, in order, or the connection resets.
 *
 * The protocol: every segment carries 64-bit sequence and acknowledgement
 * numbers, the sender's free receive room (flow control), a CRC-32 of its
 * header and an XXH3-64 of its payload.  A receiver keeps only in-order data
 * (an older overlap is trimmed, a later segment refused) and acknowledges
 * every segment that carries data.  The sender retransmits go-back-N, on a
 * retransmission timeout (RFC 6298's estimator, doubled on each expiry up to
 * rto_ns_max) or on three duplicate acknowledgements.  A closing end sends a
 * FIN after its data; an end whose FIN is acknowledged and that has received
 * the peer's FIN is CLOSED and its timers stop.  An end that has waited for
 * its peer (unacknowledged data, a zero window, or always when keepalive_ns
 * is set) and heard nothing valid for dead_ns resets, sends a best-effort RST,
 * and from then on reads and writes nothing: as with TCP, loss costs
 * throughput and a partition longer than dead_ns breaks the connection.
 *
 * Corruption: a segment whose header fails its CRC is dropped.  One whose
 * payload fails its checksum is dropped too, unless the receiving end's
 * checksum_escape ratio lets it through (drawn from the end's own PRNG
 * stream, "<name>/end<i>"): that models a checksum the corruption got past,
 * and the corrupt bytes reach the reader, who must refuse them.
 *
 * Callbacks: readable runs when bytes or the end of stream arrive, writable
 * when send-buffer space is freed; both run on reset, so a blocked reader or
 * writer wakes and looks at link_end_state.  They may call back into the end.
 * No allocation happens after link_conn_create; segments are built in the
 * link's ring (link_packet_reserve).
 */
#ifndef SIM_TRANSPORT_H
#define SIM_TRANSPORT_H

#include "sim.h"
#include "sim_link.h"

/* Segment header: seq, ack, window, payload bytes, flags, payload and header checksums. */
#define LINK_SEGMENT_HEADER_BYTES 40

struct link_conn;
struct link_end;

struct link_conn_options {
  struct link_options link;          /* both directions; packet_bytes_max > the header */
  uint32_t send_buffer_bytes;        /* written but not yet acknowledged, max; > 0 */
  uint32_t recv_buffer_bytes;        /* received in order but not yet read, max; > 0 */
  uint64_t rto_ns_min;               /* first retransmission timeout, and its floor; > 0 */
  uint64_t rto_ns_max;               /* backoff ceiling; >= rto_ns_min */
  uint64_t dead_ns;                  /* silence from a waited-for peer that resets; > 0 */
  uint64_t keepalive_ns;             /* an end idle this long sends an empty segment; 0 = never */
  struct sim_ratio checksum_escape;  /* a payload failing its checksum is kept anyway; 0 = off */
};

enum link_end_state {
  LINK_END_ESTABLISHED,              /* from creation */
  LINK_END_CLOSED,                   /* both FINs exchanged and this end's acknowledged */
  LINK_END_RESET,                    /* dead peer, RST received, or aborted */
};

/* Why an end reset, as traced in link.conn.reset's second value. */
enum link_end_reset {
  LINK_END_RESET_NONE,
  LINK_END_RESET_DEAD,               /* nothing heard for dead_ns while waiting */
  LINK_END_RESET_PEER,               /* the peer's RST arrived */
  LINK_END_RESET_ABORT,              /* link_end_abort */
};

struct link_end_stats {
  uint64_t bytes_written;            /* accepted by link_end_write */
  uint64_t bytes_acked;              /* of those, acknowledged by the peer */
  uint64_t bytes_received;           /* in-order payload bytes taken in */
  uint64_t bytes_read;               /* handed out by link_end_read */
  uint64_t segments_sent;            /* every segment: data, retransmissions, acks */
  uint64_t segments_received;        /* every segment that passed its checks */
  uint64_t bytes_retransmitted;      /* payload bytes sent more than once */
  uint64_t segments_retransmitted;
  uint64_t timeouts_count;           /* retransmission timer expiries */
  uint64_t fast_retransmits_count;   /* go-back-N on three duplicate acknowledgements */
  uint64_t drops_header_count;       /* segments refused: short, header CRC, bad fields */
  uint64_t drops_payload_count;      /* segments refused: payload checksum */
  uint64_t drops_order_count;        /* data segments refused: a gap before them */
  uint64_t drops_room_count;         /* data segments refused: no receive room */
  uint64_t escapes_count;            /* corrupt payloads let through by checksum_escape */
  uint64_t rtt_ns_smoothed;          /* RFC 6298 SRTT; 0 before the first sample */
  uint64_t rto_ns;                   /* the current retransmission timeout */
  uint64_t state_ns;                 /* when the end became CLOSED or RESET; 0 before */
};

typedef void link_end_fn(void *context);

/* Allocates everything from the sim's arena.  name is static and unique among links. */
struct link_conn *link_conn_create(struct sim *sim, const struct link_conn_options *options,
                                   const char *name);
/* True when the options are in range (for parsers; link_conn_create asserts it). */
bool link_conn_options_valid(const struct link_conn_options *options);
/* End 0 or 1. */
struct link_end *link_conn_end(struct link_conn *conn, uint32_t index);

void link_end_callbacks_set(struct link_end *end, void *context, link_end_fn *readable,
                            link_end_fn *writable);
/* Copies up to the free send-buffer space; 0 once closing, closed or reset. */
size_t link_end_write(struct link_end *end, const uint8_t *bytes, size_t count);
size_t link_end_write_space(const struct link_end *end);
/* Copies up to capacity in-order bytes; 0 when none are waiting, and always after a reset. */
size_t link_end_read(struct link_end *end, uint8_t *bytes, size_t capacity);
size_t link_end_readable(const struct link_end *end);
/* The peer closed and every byte it sent has been read. */
bool link_end_eof(const struct link_end *end);
/* No more writes: a FIN follows the written bytes. */
void link_end_close(struct link_end *end);
/* Resets the connection now, sending a best-effort RST. */
void link_end_abort(struct link_end *end);
enum link_end_state link_end_state(const struct link_end *end);
enum link_end_reset link_end_reset_reason(const struct link_end *end);
const struct link_end_stats *link_end_stats(struct link_end *end);
/* The link this end sends on: set faults there. */
struct link *link_end_link(struct link_end *end);
/* Replaces the receiving end's checksum escape ratio (a fault plan may flip it). */
void link_end_checksum_escape_set(struct link_end *end, struct sim_ratio escape);
/* The end's id in traces: XXH3-64 of "<name>/end<i>". */
uint64_t link_end_id(const struct link_end *end);
/*
 * The connection's two directions as carried links (sim_link.h), so code
 * written for a raw link runs over the transport: out[0] is written by end
 * 0 and read at end 1 ("<name>/stream0"), out[1] the other way.  They take
 * over both ends' callbacks.  A reset breaks both (link_carried_break);
 * faults set on out[i] go to end i's link.  Before open_ns (the time the
 * connection's set-up ends: a handshake, a process starting) they take no
 * byte; then their writers are told they may write.  Called once, at creation.
 */
void link_conn_streams(struct link_conn *conn, struct sim *sim, const char *name,
                       uint64_t open_ns, struct link **out);

#endif /* SIM_TRANSPORT_H */
