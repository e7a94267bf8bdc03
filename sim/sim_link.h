/*
 * sim_link.h: a one-way simulated link that moves opaque bytes.
 *
 * The link knows nothing of what it carries (STYLE tangle 3).  A sender hands
 * bytes to link_send, which accepts at most link_space() of them into the
 * link's window (its socket buffer).  Bytes leave as packets of at most
 * packet_bytes_max: a packet starts transmitting when the previous one has,
 * takes ceil(bytes * 1e9 / bandwidth) ns to serialise, and arrives latency_ns
 * later, in order.  Arrival calls the receiver; freeing window space calls
 * the writable callback.   link_close delivers an end-of-stream (count 0)
 * after the last byte.  Timing is a pure function of the virtual clock, so a
 * link needs no PRNG yet; faults will draw from the link's own named stream.
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

/* Called with each arriving run of bytes; count == 0 means the sender closed. */
typedef void link_deliver_fn(void *context, const uint8_t *bytes, size_t count);
/* Called when window space was freed. */
typedef void link_writable_fn(void *context);

/* Allocates from the sim's arena; name is a static string used in traces. */
struct link *link_create(struct sim *sim, const struct link_options *options,
                         const char *name);
void link_receiver_set(struct link *link, void *context, link_deliver_fn *deliver);
void link_writable_set(struct link *link, void *context, link_writable_fn *writable);
/* Bytes link_send would accept now. */
size_t link_space(const struct link *link);
/* Copies up to link_space() bytes; returns how many were taken. */
size_t link_send(struct link *link, const uint8_t *bytes, size_t count);
/* No more bytes will be sent; the receiver gets count 0 one latency after the last byte. */
void link_close(struct link *link);
bool link_closed(const struct link *link);
uint64_t link_bytes_sent(const struct link *link);
uint64_t link_bytes_delivered(const struct link *link);

#endif /* SIM_LINK_H */
