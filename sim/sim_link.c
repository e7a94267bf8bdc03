/*
 * sim_link.c: a one-way link of opaque bytes with bandwidth, latency and a
 * bounded window (contract in sim_link.h).
 *
 * Accepted bytes live in a ring of window_bytes until delivered; packets
 * are a FIFO of (ring offset, length, arrival time).  One embedded event
 * fires at the head packet's arrival.  Callbacks run after the link's state
 * is consistent, so a receiver or writer may call back into the link.
 */
#include "sim_base.h"

#include "sim_limits.h"
#include "sim_link.h"

struct link_packet {
  uint64_t ring_offset;   /* where its bytes start in the ring */
  uint64_t count;         /* bytes */
  uint64_t arrival_ns;    /* when the receiver gets it */
};

struct link {
  struct sim *sim;
  struct link_options options;
  const char *name;                /* static, for traces */
  uint8_t *ring;                   /* window_bytes */
  uint64_t ring_head;              /* offset of the oldest undelivered byte */
  uint64_t ring_count;             /* undelivered bytes */
  struct link_packet *packets;     /* FIFO of packet_capacity */
  uint32_t packet_capacity;        /* min(SIM_LINK_PACKETS_MAX, window_bytes) */
  uint32_t packet_head;
  uint32_t packet_count;
  uint64_t serialised_until_ns;    /* when the last accepted packet finishes sending */
  uint64_t bytes_sent;
  uint64_t bytes_delivered;
  bool closed;                     /* link_close called */
  uint64_t close_arrival_ns;       /* end-of-stream follows the last byte, one latency on */
  bool close_delivered;            /* the receiver saw count 0 */
  struct sim_event arrival;        /* head packet's arrival, or the close */
  void *receiver_context;
  link_deliver_fn *deliver;
  void *writable_context;
  link_writable_fn *writable;
};

/* ceil(count * 1e9 / bandwidth) without overflow for count <= 2^20, bandwidth <= 2^40. */
static uint64_t link_serialise_ns(const struct link *link, uint64_t count)
{
  uint64_t bandwidth = link->options.bandwidth_bytes_per_s;
  uint64_t whole_s = count / bandwidth;
  uint64_t rest = count % bandwidth;
  return whole_s * SIM_NS_PER_S + (rest * SIM_NS_PER_S + bandwidth - 1) / bandwidth;
}

static void link_arm(struct link *link)
{
  if (link->packet_count > 0) {
    const struct link_packet *head = &link->packets[link->packet_head];
    sim_event_schedule_at(link->sim, &link->arrival, head->arrival_ns);
  } else if (link->closed && !link->close_delivered) {
    sim_event_schedule_at(link->sim, &link->arrival,
                          SIM_MAX(sim_now_ns(link->sim), link->close_arrival_ns));
  }
}

static void link_on_arrival(struct sim *sim, struct sim_event *event)
{
  struct link *link = SIM_CONTAINER_OF(event, struct link, arrival);
  if (link->packet_count == 0) {
    SIM_ASSERT(link->closed && !link->close_delivered);
    link->close_delivered = true;
    sim_trace(sim, "link.close", link->bytes_sent, 0, 0, 0);
    if (link->deliver != NULL) link->deliver(link->receiver_context, NULL, 0);
    return;
  }
  struct link_packet packet = link->packets[link->packet_head];
  SIM_ASSERT(packet.ring_offset == link->ring_head);
  link->packet_head = (link->packet_head + 1) % link->packet_capacity;
  link->packet_count--;
  uint64_t first = SIM_MIN(packet.count, (uint64_t)link->options.window_bytes - packet.ring_offset);
  const uint8_t *bytes = link->ring + packet.ring_offset;
  /* The ring space is freed only after the receiver has copied the bytes out. */
  link->bytes_delivered += packet.count;
  sim_trace(sim, "link.deliver", packet.count, link->bytes_delivered, 0, 0);
  if (link->deliver != NULL) {
    link->deliver(link->receiver_context, bytes, first);
    if (first < packet.count) link->deliver(link->receiver_context, link->ring, packet.count - first);
  }
  link->ring_head = (link->ring_head + packet.count) % link->options.window_bytes;
  link->ring_count -= packet.count;
  link_arm(link);
  if (link->writable != NULL) link->writable(link->writable_context);
}

struct link *link_create(struct sim *sim, const struct link_options *options,
                         const char *name)
{
  SIM_ASSERT(options->bandwidth_bytes_per_s > 0);
  SIM_ASSERT(options->window_bytes > 0 && options->window_bytes <= SIM_LINK_WINDOW_BYTES_MAX);
  SIM_ASSERT(options->packet_bytes_max > 0 && options->packet_bytes_max <= options->window_bytes);
  SIM_ASSERT(options->packet_bytes_max <= SIM_LINK_PACKET_BYTES_MAX);
  struct link *link = sim_alloc(sim, sizeof(*link));
  link->sim = sim;
  link->options = *options;
  link->name = name;
  link->ring = sim_alloc(sim, options->window_bytes);
  /* Every packet holds at least one byte, so the window also bounds the packet count. */
  link->packet_capacity = SIM_MIN(SIM_LINK_PACKETS_MAX, options->window_bytes);
  link->packets = sim_alloc(sim, link->packet_capacity * sizeof(*link->packets));
  sim_event_init(&link->arrival, link_on_arrival, "link.arrival");
  return link;
}

void link_receiver_set(struct link *link, void *context, link_deliver_fn *deliver)
{
  link->receiver_context = context;
  link->deliver = deliver;
}

void link_writable_set(struct link *link, void *context, link_writable_fn *writable)
{
  link->writable_context = context;
  link->writable = writable;
}

size_t link_space(const struct link *link)
{
  if (link->closed || link->packet_count == link->packet_capacity) return 0;
  return (size_t)(link->options.window_bytes - link->ring_count);
}

size_t link_send(struct link *link, const uint8_t *bytes, size_t count)
{
  SIM_ASSERT(!link->closed);
  size_t accepted = 0;
  while (accepted < count && link_space(link) > 0) {
    uint64_t chunk = SIM_MIN((uint64_t)(count - accepted), (uint64_t)link_space(link));
    chunk = SIM_MIN(chunk, (uint64_t)link->options.packet_bytes_max);
    uint64_t tail = (link->ring_head + link->ring_count) % link->options.window_bytes;
    uint64_t first = SIM_MIN(chunk, link->options.window_bytes - tail);
    memcpy(link->ring + tail, bytes + accepted, first);
    memcpy(link->ring, bytes + accepted + first, chunk - first);
    uint64_t start_ns = SIM_MAX(sim_now_ns(link->sim), link->serialised_until_ns);
    link->serialised_until_ns = start_ns + link_serialise_ns(link, chunk);
    uint32_t slot = (link->packet_head + link->packet_count) % link->packet_capacity;
    link->packets[slot] = (struct link_packet){
        tail, chunk, link->serialised_until_ns + link->options.latency_ns};
    link->packet_count++;
    link->ring_count += chunk;
    link->bytes_sent += chunk;
    accepted += chunk;
  }
  if (accepted > 0) {
    sim_trace(link->sim, "link.send", accepted, link->bytes_sent, 0, 0);
    if (!sim_event_armed(&link->arrival)) link_arm(link);
  }
  return accepted;
}

void link_close(struct link *link)
{
  SIM_ASSERT(!link->closed);
  link->closed = true;
  /* Like a FIN: sent after the last byte has been serialised, then one latency. */
  uint64_t sent_ns = SIM_MAX(sim_now_ns(link->sim), link->serialised_until_ns);
  link->close_arrival_ns = sent_ns + link->options.latency_ns;
  if (!sim_event_armed(&link->arrival)) link_arm(link);
}

bool link_closed(const struct link *link) { return link->closed; }
uint64_t link_bytes_sent(const struct link *link) { return link->bytes_sent; }
uint64_t link_bytes_delivered(const struct link *link) { return link->bytes_delivered; }
