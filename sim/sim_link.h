/*
 * sim_link.h: a one-way simulated link that moves opaque bytes, with faults.
 *
 * The link knows nothing of what it carries (STYLE tangle 3).  A sender hands
 * bytes to link_send, which accepts at most link_space() of them into the
 * link's window (its socket buffer).  Bytes leave as packets of at most
 * packet_bytes_max: a packet starts transmitting when the previous one has,
 * takes ceil(bytes * 1e9 / bandwidth) ns to serialise, and arrives latency_ns
 * later.  Arrival calls the receiver; freeing window space calls the writable
 * callback.  link_close delivers an end-of-stream (count 0) after the last
 * byte.  A packet link_send wrote across the ring's end arrives as two calls.
 *
 * Packet mode: link_packet_reserve/link_packet_commit send one packet whose
 * bytes are contiguous in the ring and always arrive in one call, so a
 * transport on top (sim_transport.h) sees its segments' boundaries.
 *
 * Faults (struct link_faults, all off when zeroed, settable at any time) act
 * on packets: jitter, independent loss, bursty loss (a Gilbert-Elliott
 * chain), duplication, reordering, a flipped bit, a partition (every packet
 * arriving before partition_until_ns is lost) and a bandwidth change.  Each
 * link draws exactly one word per packet from its own PRNG stream, named
 * after the link, whatever the faults; the packet's fault decisions come from
 * a generator seeded by that word.  So turning a fault on or off, or adding a
 * link, never shifts another packet's or another link's draws.  With every
 * fault off, timing and traces are those of the fault-free link.
 *
 * Lost packets still take their serialisation time and hold their window
 * space until they would have arrived.  Faults change packets sent after the
 * change (their timing and fate are drawn at send), except the partition,
 * which is checked on arrival.  The end-of-stream is never lost.
 */
#ifndef SIM_LINK_H
#define SIM_LINK_H

#include "sim.h"

struct link;

struct link_options {
  uint64_t bandwidth_bytes_per_s; /* > 0 */
  uint64_t latency_ns;            /* one-way propagation delay */
  uint32_t window_bytes;          /* bytes accepted but not yet delivered, max */
  uint32_t packet_bytes_max;      /* largest packet, <= window_bytes */
};

/*
 * Fault knobs.  A ratio with numerator 0 is off (its denominator may be 0);
 * otherwise numerator <= denominator.  Delays are at most SIM_LINK_DELAY_NS_MAX.
 */
struct link_faults {
  uint64_t jitter_ns_max;          /* extra delay per packet, uniform in [0, max]; no overtaking */
  struct sim_ratio loss;           /* each packet lost, independently (in the good state) */
  struct sim_ratio burst_enter;    /* Gilbert-Elliott: good -> bad, per packet */
  struct sim_ratio burst_exit;     /* Gilbert-Elliott: bad -> good, per packet */
  struct sim_ratio burst_loss;     /* each packet lost while in the bad state */
  struct sim_ratio duplicate;      /* the packet also arrives a second time */
  uint64_t duplicate_delay_ns_max; /* the copy trails by uniform [0, max] ns */
  struct sim_ratio reorder;        /* the packet is held back, later ones overtake it */
  uint64_t reorder_delay_ns_max;   /* held back by uniform [1, max] ns; > 0 when reorder on */
  struct sim_ratio corrupt;        /* each delivered copy has one bit flipped */
  uint64_t partition_until_ns;     /* packets arriving before this are lost; 0 = none */
  uint64_t bandwidth_bytes_per_s;  /* replaces the options' bandwidth; 0 = keep it */
};

/* Counters for reports; packets_* count packets, a duplicate copy counts once more. */
struct link_stats {
  uint64_t bytes_sent;             /* accepted by link_send / link_packet_commit */
  uint64_t bytes_delivered;        /* handed to the receiver, copies included */
  uint64_t packets_sent;
  uint64_t packets_delivered;      /* copies included */
  uint64_t packets_lost;           /* independent loss */
  uint64_t packets_burst_lost;     /* lost in the Gilbert-Elliott bad state */
  uint64_t packets_partitioned;    /* arrived during a partition */
  uint64_t packets_duplicated;
  uint64_t packets_reordered;
  uint64_t packets_corrupted;      /* copies delivered with a flipped bit */
  uint64_t bursts_count;           /* good -> bad transitions */
};

/* Called with each arriving run of bytes; count == 0 means the sender closed. */
typedef void link_deliver_fn(void *context, const uint8_t *bytes, size_t count);
/* Called when window space was freed. */
typedef void link_writable_fn(void *context);

/*
 * Allocates from the sim's arena.  name is a static string, unique among the
 * sim's links: it names the link's PRNG stream and its id in fault traces.
 */
struct link *link_create(struct sim *sim, const struct link_options *options,
                         const char *name);
void link_receiver_set(struct link *link, void *context, link_deliver_fn *deliver);
void link_writable_set(struct link *link, void *context, link_writable_fn *writable);
/* Bytes link_send would accept now. */
size_t link_space(const struct link *link);
/* Copies up to link_space() bytes; returns how many were taken. */
size_t link_send(struct link *link, const uint8_t *bytes, size_t count);
/*
 * Packet mode: count (<= packet_bytes_max) contiguous bytes to fill, or NULL
 * while the window cannot hold them.  link_packet_commit sends the first
 * count (<= the reserved count, > 0) of them as one packet; nothing else may
 * touch the link in between.
 */
uint8_t *link_packet_reserve(struct link *link, size_t count);
void link_packet_commit(struct link *link, size_t count);
/* No more bytes will be sent; the receiver gets count 0 one latency after the last byte. */
void link_close(struct link *link);
bool link_closed(const struct link *link);
uint64_t link_bytes_sent(const struct link *link);
uint64_t link_bytes_delivered(const struct link *link);

/* True when every knob is in range (for parsers; link_faults_set asserts it). */
bool link_faults_valid(const struct link_faults *faults);
/* Replaces the fault knobs; a zeroed struct turns every fault off. */
void link_faults_set(struct link *link, const struct link_faults *faults);
const struct link_faults *link_faults(const struct link *link);
const struct link_stats *link_stats(const struct link *link);
/* The link's id in fault traces: XXH3-64 of its name. */
uint64_t link_id(const struct link *link);

/*
 * A carried link: one direction of a byte stream that another layer
 * carries (a transport connection, sim_transport.h's link_conn_streams),
 * behind the same calls, so the migration engine writes a TCP-like stream
 * as it writes a raw link.  link_send, link_space, link_close, link_stats
 * and link_faults_set go to the carrier (faults land on the links beneath);
 * link_packet_reserve is not allowed.  The carrier hands arriving bytes to
 * link_carried_deliver (count 0: the sender closed), freed room to
 * link_carried_writable, and a reset to link_carried_break: the link is
 * then broken, link_send takes nothing, the writer is woken and the
 * receiver gets count 0 (the end of what it will ever read).
 */
struct link_carrier {
  size_t (*send)(void *context, const uint8_t *bytes, size_t count);
  size_t (*space)(const void *context);
  void (*close)(void *context);
  void (*faults_set)(void *context, const struct link_faults *faults);
  const struct link_stats *(*stats)(const void *context);
};

struct link *link_create_carried(struct sim *sim, const char *name,
                                 const struct link_carrier *carrier, void *context);
void link_carried_deliver(struct link *link, const uint8_t *bytes, size_t count);
void link_carried_writable(struct link *link);
void link_carried_break(struct link *link);
/* A carried link whose connection reset; never true for a raw link. */
bool link_broken(const struct link *link);
bool link_carried(const struct link *link);

#endif /* SIM_LINK_H */
