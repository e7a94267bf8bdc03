/*
 * sim_link.c: a one-way link of opaque bytes with bandwidth, latency, a
 * bounded window and packet faults (contract in sim_link.h, overview of the
 * fault model in docs/link.md).
 *
 * Accepted bytes live in a ring of window_bytes until every copy of their
 * packet has arrived or been lost.  Packets sit in a FIFO of slots in send
 * order, which frees ring space in order; their arrivals (one per copy: the
 * packet and perhaps its duplicate) sit in a binary min-heap ordered by
 * (arrival_ns, push order), so a held-back packet is overtaken.  With every
 * fault off, arrivals are monotone in send order and the heap pops the FIFO
 * order.  One embedded event fires at the earliest arrival.  Callbacks run
 * after the link's state is consistent, so a receiver or writer may call back
 * into the link; the ring space of a delivered packet is freed only after the
 * receiver returns, and a flipped bit is flipped back then.
 */
#include "sim_base.h"

#include "sim_limits.h"
#include "sim_link.h"

#include <xxhash.h>

/* Why a packet copy did not arrive, as traced in link.drop's fourth value. */
enum link_loss { LINK_LOSS_NONE, LINK_LOSS_INDEPENDENT, LINK_LOSS_BURST, LINK_LOSS_PARTITION };

struct link_packet {
  uint64_t ring_offset;       /* where its bytes start in the ring */
  uint64_t index;             /* packets accepted before it on this link */
  uint32_t count;             /* bytes */
  uint32_t ring_span;         /* ring bytes it holds: count, plus a skipped ring tail */
  uint32_t corrupt_bits[2];   /* per copy: 1 + the bit flipped on delivery; 0 = intact */
  uint8_t copies_pending;     /* arrivals still in the heap: 0, 1 or 2 */
  uint8_t loss;               /* enum link_loss drawn at send */
};

struct link_arrival {
  uint64_t arrival_ns;        /* when this copy arrives */
  uint64_t seq;               /* push order: ties arrive in send order */
  uint32_t slot;              /* its packet's FIFO slot */
  uint32_t copy;              /* 0 the packet, 1 its duplicate */
};

struct link {
  struct sim *sim;
  struct link_options options;
  const char *name;                /* static, unique per sim */
  uint64_t id;                     /* XXH3-64 of name, in fault traces */
  uint8_t *ring;                   /* window_bytes */
  uint64_t ring_head;              /* offset of the oldest held byte */
  uint64_t ring_count;             /* held bytes, skipped tails included */
  struct link_packet *packets;     /* FIFO of packet_capacity, send order */
  uint32_t packet_capacity;        /* min(SIM_LINK_PACKETS_MAX, window_bytes) */
  uint32_t packet_head;
  uint32_t packet_count;
  struct link_arrival *arrivals;   /* min-heap of 2 * packet_capacity */
  uint32_t arrival_count;
  uint64_t arrival_seq;            /* next arrival's seq */
  uint64_t serialised_until_ns;    /* when the last accepted packet finishes sending */
  uint64_t last_arrival_ns;        /* latest in-order arrival: jitter never overtakes it */
  uint64_t reserve_offset;         /* packet mode: the reserved bytes' ring offset */
  uint32_t reserve_count;          /* reserved bytes; 0 = no reservation */
  uint32_t reserve_span;           /* reserve_count plus the ring tail it skips */
  struct link_stats stats;
  struct link_faults faults;       /* zeroed = all off */
  bool faults_on;                  /* a per-packet draw can change something */
  bool burst;                      /* Gilbert-Elliott state: true = bad */
  struct sim_prng prng;            /* the link's stream: one word per packet */
  bool closed;                     /* link_close called */
  uint64_t close_arrival_ns;       /* end-of-stream follows the last byte, one latency on */
  bool close_delivered;            /* the receiver saw count 0 */
  struct sim_event arrival;        /* earliest arrival, or the close */
  void *receiver_context;
  link_deliver_fn *deliver;
  void *writable_context;
  link_writable_fn *writable;
  const struct link_carrier *carrier; /* a carried link: the layer that moves its bytes */
  void *carrier_context;
  bool broken;                     /* carried: the connection reset */
  bool close_told;                 /* carried: the receiver got count 0 */
};

/* ceil(count * 1e9 / bandwidth) without overflow for count <= 2^20, bandwidth <= 2^40. */
static uint64_t link_serialise_ns(const struct link *link, uint64_t count)
{
  uint64_t bandwidth = link->faults.bandwidth_bytes_per_s != 0
                           ? link->faults.bandwidth_bytes_per_s
                           : link->options.bandwidth_bytes_per_s;
  uint64_t whole_s = count / bandwidth;
  uint64_t rest = count % bandwidth;
  return whole_s * SIM_NS_PER_S + (rest * SIM_NS_PER_S + bandwidth - 1) / bandwidth;
}

static bool arrival_before(const struct link_arrival *a, const struct link_arrival *b)
{
  return a->arrival_ns != b->arrival_ns ? a->arrival_ns < b->arrival_ns : a->seq < b->seq;
}

static void heap_push(struct link *link, uint64_t arrival_ns, uint32_t slot, uint32_t copy)
{
  SIM_ASSERT(link->arrival_count < 2 * link->packet_capacity);
  struct link_arrival entry = {arrival_ns, link->arrival_seq++, slot, copy};
  uint32_t index = link->arrival_count++;
  while (index > 0) {
    uint32_t parent = (index - 1) / 2;
    if (!arrival_before(&entry, &link->arrivals[parent])) break;
    link->arrivals[index] = link->arrivals[parent];
    index = parent;
  }
  link->arrivals[index] = entry;
}

static struct link_arrival heap_pop(struct link *link)
{
  SIM_ASSERT(link->arrival_count > 0);
  struct link_arrival top = link->arrivals[0];
  struct link_arrival last = link->arrivals[--link->arrival_count];
  uint32_t count = link->arrival_count;
  uint32_t index = 0;
  for (;;) {
    uint32_t child = 2 * index + 1;
    if (child >= count) break;
    if (child + 1 < count && arrival_before(&link->arrivals[child + 1], &link->arrivals[child])) {
      child++;
    }
    if (!arrival_before(&link->arrivals[child], &last)) break;
    link->arrivals[index] = link->arrivals[child];
    index = child;
  }
  if (count > 0) link->arrivals[index] = last;
  return top;
}

static void link_arm(struct link *link)
{
  if (link->arrival_count > 0) {
    sim_event_schedule_at(link->sim, &link->arrival, link->arrivals[0].arrival_ns);
  } else if (link->closed && !link->close_delivered) {
    SIM_ASSERT(link->packet_count == 0);
    sim_event_schedule_at(link->sim, &link->arrival,
                          SIM_MAX(sim_now_ns(link->sim), link->close_arrival_ns));
  }
}

/* After a send: arms the event if idle, or earlier if a new packet overtook the armed one. */
static void link_arm_after_send(struct link *link)
{
  if (!sim_event_armed(&link->arrival)) {
    link_arm(link);
  } else if (link->arrival_count > 0 &&
             link->arrivals[0].arrival_ns < link->arrival.time_ns) {
    link_arm(link);
  }
}

/* Flips bit `bit` of the packet's bytes in the ring; its own inverse. */
static void link_bit_flip(struct link *link, const struct link_packet *packet, uint32_t bit)
{
  SIM_ASSERT(bit < packet->count * 8u);
  uint64_t offset = (packet->ring_offset + bit / 8) % link->options.window_bytes;
  link->ring[offset] ^= (uint8_t)(1u << (bit % 8));
}

/* Frees the ring space of the oldest packets whose every copy has arrived or been lost. */
static bool link_release(struct link *link)
{
  bool freed = false;
  while (link->packet_count > 0 && link->packets[link->packet_head].copies_pending == 0) {
    const struct link_packet *packet = &link->packets[link->packet_head];
    SIM_ASSERT((link->ring_head + packet->ring_span - packet->count) %
                   link->options.window_bytes == packet->ring_offset);
    SIM_ASSERT(packet->ring_span <= link->ring_count);
    link->ring_head = (link->ring_head + packet->ring_span) % link->options.window_bytes;
    link->ring_count -= packet->ring_span;
    link->packet_head = (link->packet_head + 1) % link->packet_capacity;
    link->packet_count--;
    freed = true;
  }
  return freed;
}

static void link_copy_deliver(struct link *link, const struct link_packet *packet, uint32_t copy)
{
  uint32_t bit_plus_1 = packet->corrupt_bits[copy];
  if (bit_plus_1 != 0) {
    link_bit_flip(link, packet, bit_plus_1 - 1);
    link->stats.packets_corrupted++;
    sim_trace(link->sim, "link.corrupt", link->id, packet->index, copy, bit_plus_1 - 1);
  }
  link->stats.bytes_delivered += packet->count;
  link->stats.packets_delivered++;
  sim_trace(link->sim, "link.deliver", packet->count, link->stats.bytes_delivered, 0, 0);
  if (link->deliver != NULL) {
    uint64_t first = SIM_MIN((uint64_t)packet->count,
                             (uint64_t)link->options.window_bytes - packet->ring_offset);
    link->deliver(link->receiver_context, link->ring + packet->ring_offset, first);
    if (first < packet->count) {
      link->deliver(link->receiver_context, link->ring, packet->count - first);
    }
  }
  if (bit_plus_1 != 0) link_bit_flip(link, packet, bit_plus_1 - 1);
}

static void link_copy_drop(struct link *link, const struct link_packet *packet, uint32_t copy,
                           enum link_loss loss)
{
  if (loss == LINK_LOSS_INDEPENDENT) link->stats.packets_lost++;
  if (loss == LINK_LOSS_BURST) link->stats.packets_burst_lost++;
  if (loss == LINK_LOSS_PARTITION) link->stats.packets_partitioned++;
  sim_trace(link->sim, "link.drop", link->id, packet->index, packet->count,
            (uint64_t)loss | (uint64_t)copy << 8);
}

static void link_on_arrival(struct sim *sim, struct sim_event *event)
{
  struct link *link = SIM_CONTAINER_OF(event, struct link, arrival);
  if (link->arrival_count == 0) {
    SIM_ASSERT(link->closed && !link->close_delivered);
    link->close_delivered = true;
    sim_trace(sim, "link.close", link->stats.bytes_sent, 0, 0, 0);
    if (link->deliver != NULL) link->deliver(link->receiver_context, NULL, 0);
    return;
  }
  struct link_arrival top = heap_pop(link);
  SIM_ASSERT(top.arrival_ns == sim_now_ns(sim));
  struct link_packet *packet = &link->packets[top.slot];
  SIM_ASSERT(packet->copies_pending > 0);
  if (packet->loss != LINK_LOSS_NONE) {
    link_copy_drop(link, packet, top.copy, (enum link_loss)packet->loss);
  } else if (sim_now_ns(sim) < link->faults.partition_until_ns) {
    link_copy_drop(link, packet, top.copy, LINK_LOSS_PARTITION);
  } else {
    link_copy_deliver(link, packet, top.copy);
  }
  /* Only now may the slot go: the receiver has copied the bytes out. */
  packet->copies_pending--;
  bool freed = link_release(link);
  link_arm(link);
  if (freed && link->writable != NULL) link->writable(link->writable_context);
}

static bool ratio_hit(struct sim_prng *prng, struct sim_ratio ratio)
{
  return ratio.numerator != 0 && sim_prng_chance(prng, ratio);
}

/* One step of the Gilbert-Elliott chain, when it is on; true when the packet is in a burst. */
static bool link_burst_step(struct link *link, struct sim_prng *prng, uint64_t index)
{
  const struct link_faults *faults = &link->faults;
  if (faults->burst_enter.numerator == 0) return false;
  bool was = link->burst;
  link->burst = was ? !ratio_hit(prng, faults->burst_exit) : ratio_hit(prng, faults->burst_enter);
  if (link->burst != was) {
    if (link->burst) link->stats.bursts_count++;
    sim_trace(link->sim, "link.burst", link->id, index, link->burst, 0);
  }
  return link->burst;
}

/*
 * The packet's fate, drawn from a generator seeded by its word, in a fixed
 * order: burst state, loss, jitter, reorder, duplicate, corruption of each
 * copy.  Returns the arrival time; *copy_ns gets the duplicate's, or stays.
 */
static uint64_t link_packet_faults(struct link *link, struct link_packet *packet, uint64_t word,
                                   uint64_t arrival_ns, uint64_t *copy_ns)
{
  const struct link_faults *faults = &link->faults;
  struct sim_prng prng;
  sim_prng_init(&prng, word);
  bool burst = link_burst_step(link, &prng, packet->index);
  if (ratio_hit(&prng, burst ? faults->burst_loss : faults->loss)) {
    packet->loss = burst ? LINK_LOSS_BURST : LINK_LOSS_INDEPENDENT;
  }
  if (faults->jitter_ns_max > 0) arrival_ns += sim_prng_below(&prng, faults->jitter_ns_max + 1);
  arrival_ns = SIM_MAX(arrival_ns, link->last_arrival_ns);
  if (ratio_hit(&prng, faults->reorder)) {
    uint64_t delay_ns = sim_prng_range(&prng, 1, faults->reorder_delay_ns_max);
    link->stats.packets_reordered++;
    sim_trace(link->sim, "link.reorder", link->id, packet->index, delay_ns, 0);
    arrival_ns += delay_ns; /* and last_arrival_ns stays, so later packets overtake it */
  } else {
    link->last_arrival_ns = arrival_ns;
  }
  if (packet->loss == LINK_LOSS_NONE && ratio_hit(&prng, faults->duplicate)) {
    *copy_ns = arrival_ns + sim_prng_range(&prng, 0, faults->duplicate_delay_ns_max);
    link->stats.packets_duplicated++;
    sim_trace(link->sim, "link.dup", link->id, packet->index, *copy_ns, 0);
  }
  for (uint32_t copy = 0; copy < 2; copy++) {
    if (ratio_hit(&prng, faults->corrupt)) {
      packet->corrupt_bits[copy] = 1 + (uint32_t)sim_prng_below(&prng, packet->count * 8u);
    }
  }
  return arrival_ns;
}

/* Takes count bytes already in the ring at offset as the next packet. */
static void link_packet_accept(struct link *link, uint64_t offset, uint32_t count,
                               uint32_t span)
{
  SIM_ASSERT(count > 0 && span >= count);
  SIM_ASSERT(link->packet_count < link->packet_capacity);
  uint64_t start_ns = SIM_MAX(sim_now_ns(link->sim), link->serialised_until_ns);
  link->serialised_until_ns = start_ns + link_serialise_ns(link, count);
  uint64_t arrival_ns = link->serialised_until_ns + link->options.latency_ns;
  uint32_t slot = (link->packet_head + link->packet_count) % link->packet_capacity;
  struct link_packet *packet = &link->packets[slot];
  *packet = (struct link_packet){.ring_offset = offset, .index = link->stats.packets_sent,
                                 .count = count, .ring_span = span, .copies_pending = 1};
  /* One word per packet whatever the faults, so toggling one never shifts later packets. */
  uint64_t word = sim_prng_u64(&link->prng);
  uint64_t copy_ns = UINT64_MAX;
  if (link->faults_on) {
    arrival_ns = link_packet_faults(link, packet, word, arrival_ns, &copy_ns);
  } else {
    /*
     * Never before a jittered packet still in flight: faults turned off
     * mid-stream must not let a clean packet overtake (with faults off from
     * the start last_arrival_ns never exceeds arrival_ns: timing unchanged).
     */
    arrival_ns = SIM_MAX(arrival_ns, link->last_arrival_ns);
    link->last_arrival_ns = arrival_ns;
  }
  heap_push(link, arrival_ns, slot, 0);
  if (copy_ns != UINT64_MAX) {
    heap_push(link, copy_ns, slot, 1);
    packet->copies_pending = 2;
  }
  link->packet_count++;
  link->ring_count += span;
  link->stats.bytes_sent += count;
  link->stats.packets_sent++;
}

struct link *link_create(struct sim *sim, const struct link_options *options,
                         const char *name)
{
  SIM_ASSERT(options->bandwidth_bytes_per_s > 0);
  SIM_ASSERT(options->bandwidth_bytes_per_s <= SIM_LINK_BANDWIDTH_BYTES_PER_S_MAX);
  SIM_ASSERT(options->window_bytes > 0 && options->window_bytes <= SIM_LINK_WINDOW_BYTES_MAX);
  SIM_ASSERT(options->packet_bytes_max > 0 && options->packet_bytes_max <= options->window_bytes);
  SIM_ASSERT(options->packet_bytes_max <= SIM_LINK_PACKET_BYTES_MAX);
  struct link *link = sim_alloc(sim, sizeof(*link));
  link->sim = sim;
  link->options = *options;
  link->name = name;
  link->id = XXH3_64bits(name, strlen(name));
  link->ring = sim_alloc(sim, options->window_bytes);
  /* Every packet holds at least one byte, so the window also bounds the packet count. */
  link->packet_capacity = SIM_MIN(SIM_LINK_PACKETS_MAX, options->window_bytes);
  link->packets = sim_alloc(sim, link->packet_capacity * sizeof(*link->packets));
  link->arrivals = sim_alloc(sim, 2 * (uint64_t)link->packet_capacity * sizeof(*link->arrivals));
  sim_prng_stream(sim, &link->prng, name);
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
  if (link->carrier != NULL) {
    return link->closed || link->broken ? 0 : link->carrier->space(link->carrier_context);
  }
  if (link->closed || link->packet_count == link->packet_capacity) return 0;
  return (size_t)(link->options.window_bytes - link->ring_count);
}

size_t link_send(struct link *link, const uint8_t *bytes, size_t count)
{
  SIM_ASSERT(!link->closed);
  if (link->carrier != NULL) {
    if (link->broken) return 0;
    size_t sent = link->carrier->send(link->carrier_context, bytes, count);
    link->stats.bytes_sent += sent;
    return sent;
  }
  SIM_ASSERT(link->reserve_count == 0);
  size_t accepted = 0;
  while (accepted < count && link_space(link) > 0) {
    uint64_t chunk = SIM_MIN((uint64_t)(count - accepted), (uint64_t)link_space(link));
    chunk = SIM_MIN(chunk, (uint64_t)link->options.packet_bytes_max);
    uint64_t tail = (link->ring_head + link->ring_count) % link->options.window_bytes;
    uint64_t first = SIM_MIN(chunk, link->options.window_bytes - tail);
    memcpy(link->ring + tail, bytes + accepted, first);
    memcpy(link->ring, bytes + accepted + first, chunk - first);
    link_packet_accept(link, tail, (uint32_t)chunk, (uint32_t)chunk);
    accepted += chunk;
  }
  if (accepted > 0) {
    sim_trace(link->sim, "link.send", accepted, link->stats.bytes_sent, 0, 0);
    link_arm_after_send(link);
  }
  return accepted;
}

uint8_t *link_packet_reserve(struct link *link, size_t count)
{
  SIM_ASSERT(!link->closed && link->carrier == NULL);
  SIM_ASSERT(count > 0 && count <= link->options.packet_bytes_max);
  link->reserve_count = 0;
  if (link->packet_count == link->packet_capacity) return NULL;
  uint64_t window = link->options.window_bytes;
  /* An empty ring restarts at 0, so a packet never skips a tail it need not. */
  if (link->ring_count == 0) link->ring_head = 0;
  uint64_t tail = (link->ring_head + link->ring_count) % window;
  uint64_t skip = tail + count <= window ? 0 : window - tail;
  if (link->ring_count + skip + count > window) return NULL;
  link->reserve_offset = skip != 0 ? 0 : tail;
  link->reserve_count = (uint32_t)count;
  link->reserve_span = (uint32_t)(skip + count);
  return link->ring + link->reserve_offset;
}

void link_packet_commit(struct link *link, size_t count)
{
  SIM_ASSERT(link->reserve_count > 0);
  SIM_ASSERT(count > 0 && count <= link->reserve_count);
  uint32_t span = link->reserve_span - (link->reserve_count - (uint32_t)count);
  link->reserve_count = 0;
  link_packet_accept(link, link->reserve_offset, (uint32_t)count, span);
  sim_trace(link->sim, "link.send", count, link->stats.bytes_sent, 0, 0);
  link_arm_after_send(link);
}

void link_close(struct link *link)
{
  SIM_ASSERT(!link->closed);
  link->closed = true;
  if (link->carrier != NULL) {
    if (!link->broken) link->carrier->close(link->carrier_context);
    return;
  }
  link->reserve_count = 0;
  /* Like a FIN: sent after the last byte has been serialised, then one latency. */
  uint64_t sent_ns = SIM_MAX(sim_now_ns(link->sim), link->serialised_until_ns);
  link->close_arrival_ns = sent_ns + link->options.latency_ns;
  if (!sim_event_armed(&link->arrival)) link_arm(link);
}

bool link_closed(const struct link *link) { return link->closed; }
uint64_t link_bytes_sent(const struct link *link) { return link->stats.bytes_sent; }
uint64_t link_bytes_delivered(const struct link *link) { return link->stats.bytes_delivered; }
bool link_broken(const struct link *link) { return link->broken; }
bool link_carried(const struct link *link) { return link->carrier != NULL; }
const struct link_faults *link_faults(const struct link *link) { return &link->faults; }
const struct link_stats *link_stats(const struct link *link)
{
  return link->carrier != NULL ? link->carrier->stats(link->carrier_context) : &link->stats;
}
uint64_t link_id(const struct link *link) { return link->id; }

static bool ratio_valid(struct sim_ratio ratio)
{
  return ratio.numerator == 0 || ratio.numerator <= ratio.denominator;
}

bool link_faults_valid(const struct link_faults *faults)
{
  const struct sim_ratio ratios[] = {faults->loss, faults->burst_enter, faults->burst_exit,
                                     faults->burst_loss, faults->duplicate, faults->reorder,
                                     faults->corrupt};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(ratios); i++) {
    if (!ratio_valid(ratios[i])) return false;
  }
  if (faults->reorder.numerator != 0 && faults->reorder_delay_ns_max == 0) return false;
  return faults->jitter_ns_max <= SIM_LINK_DELAY_NS_MAX &&
         faults->duplicate_delay_ns_max <= SIM_LINK_DELAY_NS_MAX &&
         faults->reorder_delay_ns_max <= SIM_LINK_DELAY_NS_MAX &&
         faults->bandwidth_bytes_per_s <= SIM_LINK_BANDWIDTH_BYTES_PER_S_MAX;
}

void link_faults_set(struct link *link, const struct link_faults *faults)
{
  SIM_ASSERT(link_faults_valid(faults));
  link->faults = *faults;
  if (link->carrier != NULL) {
    link->carrier->faults_set(link->carrier_context, faults);
    return;
  }
  link->faults_on = faults->jitter_ns_max != 0 || faults->loss.numerator != 0 ||
                    faults->burst_enter.numerator != 0 || faults->duplicate.numerator != 0 ||
                    faults->reorder.numerator != 0 || faults->corrupt.numerator != 0;
  /* With the chain off, a link left in the bad state would never leave it. */
  if (faults->burst_enter.numerator == 0) link->burst = false;
  sim_trace(link->sim, "link.faults", link->id, link->faults_on, faults->partition_until_ns,
            faults->bandwidth_bytes_per_s);
}

/* ------------------------------------------------------------ carried links */

struct link *link_create_carried(struct sim *sim, const char *name,
                                 const struct link_carrier *carrier, void *context)
{
  struct link *link = sim_alloc(sim, sizeof(*link));
  memset(link, 0, sizeof(*link));
  link->sim = sim;
  link->name = name;
  link->id = XXH3_64bits(name, strlen(name));
  link->carrier = carrier;
  link->carrier_context = context;
  return link;
}

void link_carried_deliver(struct link *link, const uint8_t *bytes, size_t count)
{
  SIM_ASSERT(link->carrier != NULL);
  if (link->close_told) return;
  if (count == 0) link->close_told = true;
  link->stats.bytes_delivered += count;
  if (link->deliver != NULL) link->deliver(link->receiver_context, bytes, count);
}

void link_carried_writable(struct link *link)
{
  SIM_ASSERT(link->carrier != NULL);
  if (link->writable != NULL) link->writable(link->writable_context);
}

void link_carried_break(struct link *link)
{
  SIM_ASSERT(link->carrier != NULL);
  if (link->broken) return;
  link->broken = true;
  sim_trace(link->sim, "link.broken", link->id, link->stats.bytes_sent,
            link->stats.bytes_delivered, 0);
  link_carried_writable(link);
  link_carried_deliver(link, NULL, 0);
}
