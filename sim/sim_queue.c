/*
 * sim_queue.c: the event queue, a 4-ary min-heap of (time_ns, seq, event)
 * entries stored inline in caller-provided storage; the contract is in
 * sim_queue.h.
 *
 * A 4-ary heap is half as deep as a binary one and its four children sit next
 * to each other, so a sift touches fewer cache lines; sifts move a hole and
 * write each entry once.  Keys are compared as (time_ns, seq) and seq values
 * are unique, so the order is total and never looks at a pointer (STYLE R16).
 *
 * Cancellation is lazy (STYLE tangle 6): an entry is live only while its seq
 * equals its event's seq, so cancel and re-arm only touch the event.  Stale
 * entries are dropped when they reach the top, and swept out in one O(n)
 * rebuild when a push finds the storage full.
 */
#include "sim_base.h"
#include "sim_limits.h"
#include "sim_queue.h"

/* Children of entry i are QUEUE_ARITY * i + 1 ... QUEUE_ARITY * i + QUEUE_ARITY. */
#define QUEUE_ARITY 4u

/* (time_ns, seq) order; written without && and || so it compiles without branches. */
static inline bool entry_less(const struct sim_queue_entry *a, const struct sim_queue_entry *b)
{
  return (a->time_ns < b->time_ns) | ((a->time_ns == b->time_ns) & (a->seq < b->seq));
}

static inline bool entry_live(const struct sim_queue_entry *entry)
{
  return entry->event->seq == entry->seq;
}

/* Index of the smallest of the children starting at first; count > first. */
static inline uint32_t child_min(const struct sim_queue_entry *entries, uint32_t first,
                                 uint32_t count)
{
  if (first + QUEUE_ARITY <= count) {
    uint32_t a = first + entry_less(&entries[first + 1], &entries[first]);
    uint32_t b = first + 2 + entry_less(&entries[first + 3], &entries[first + 2]);
    /* a mask, not ?:, so gcc emits no unpredictable branch */
    return a + ((b - a) & (0u - (uint32_t)entry_less(&entries[b], &entries[a])));
  }
  uint32_t best = first;
  for (uint32_t i = first + 1; i < count; i++) {
    if (entry_less(&entries[i], &entries[best])) best = i;
  }
  return best;
}

/*
 * Fills the hole at index with entry, bottom-up (Floyd): the hole first sinks
 * to a leaf along the smallest children without comparing against entry, then
 * entry rises from there.  The entries placed here come from the bottom of the
 * heap or lie in the near future, so they rarely rise far, and the descent
 * saves one comparison per level.  The grandchildren are prefetched so the
 * next level's loads overlap this level's comparisons.
 */
static void hole_fill(struct sim_queue_entry *entries, uint32_t count, uint32_t index,
                      struct sim_queue_entry entry)
{
  SIM_ASSERT_DEBUG(index < count);
  uint32_t first = QUEUE_ARITY * index + 1;
  while (first < count) {
    uint32_t grandchild = QUEUE_ARITY * first + 1;
    if (grandchild < count) {
      for (uint32_t i = 0; i < QUEUE_ARITY; i++) {
        __builtin_prefetch(&entries[grandchild + QUEUE_ARITY * i]);
      }
    }
    uint32_t child = child_min(entries, first, count);
    entries[index] = entries[child];
    index = child;
    first = QUEUE_ARITY * index + 1;
  }
  while (index > 0) {
    uint32_t parent = (index - 1) / QUEUE_ARITY;
    if (!entry_less(&entry, &entries[parent])) break;
    entries[index] = entries[parent];
    index = parent;
  }
  entries[index] = entry;
}

/* Moves the hole at index up until entry fits, then writes entry there. */
static void sift_up(struct sim_queue_entry *entries, uint32_t index, struct sim_queue_entry entry)
{
  while (index > 0) {
    uint32_t parent = (index - 1) / QUEUE_ARITY;
    if (!entry_less(&entry, &entries[parent])) break;
    entries[index] = entries[parent];
    index = parent;
  }
  entries[index] = entry;
}

/* A popped top leaves a hole (seq 0) that the next push fills in one pass. */
static inline bool root_hole(const struct sim_queue *queue)
{
  return queue->count > 0 && queue->entries[0].seq == 0;
}

/* Fills a hole at the top with the last entry. */
static void hole_close(struct sim_queue *queue)
{
  SIM_ASSERT(root_hole(queue));
  queue->count--;
  if (queue->count > 0) hole_fill(queue->entries, queue->count, 0, queue->entries[queue->count]);
}

/* Drops every stale entry and rebuilds the heap bottom-up (Floyd), O(count). */
static void queue_sweep(struct sim_queue *queue)
{
  struct sim_queue_entry *entries = queue->entries;
  if (root_hole(queue)) hole_close(queue);
  uint32_t kept = 0;
  for (uint32_t i = 0; i < queue->count; i++) {
    if (entry_live(&entries[i])) entries[kept++] = entries[i];
  }
  queue->count = kept;
  if (kept < 2) return;
  for (uint32_t i = (kept - 2) / QUEUE_ARITY + 1; i-- > 0;) hole_fill(entries, kept, i, entries[i]);
}

void sim_queue_init(struct sim_queue *queue, struct sim_queue_entry *storage, uint32_t capacity)
{
  SIM_ASSERT(queue != NULL);
  SIM_ASSERT(storage != NULL || capacity == 0);
  SIM_ASSERT(capacity <= SIM_EVENTS_PENDING_MAX);
  queue->entries = storage;
  queue->count = 0;
  queue->capacity = capacity;
}

bool sim_queue_push(struct sim_queue *queue, struct sim_event *event, uint64_t time_ns,
                    uint64_t seq)
{
  SIM_ASSERT(event != NULL);
  SIM_ASSERT(seq != 0);
  struct sim_queue_entry entry = {.time_ns = time_ns, .seq = seq, .event = event};
  if (root_hole(queue)) {
    hole_fill(queue->entries, queue->count, 0, entry);
  } else {
    if (queue->count == queue->capacity) {
      queue_sweep(queue);
      if (queue->count == queue->capacity) return false;
    }
    sift_up(queue->entries, queue->count++, entry);
  }
  /* Arming makes any older entry of this event stale. */
  event->time_ns = time_ns;
  event->seq = seq;
  return true;
}

void sim_queue_cancel(struct sim_event *event)
{
  SIM_ASSERT(event != NULL);
  event->seq = 0;
}

struct sim_event *sim_queue_peek(struct sim_queue *queue)
{
  SIM_ASSERT(queue != NULL);
  SIM_ASSERT(queue->count <= queue->capacity);
  for (;;) {
    if (root_hole(queue)) hole_close(queue);
    if (queue->count == 0) return NULL;
    if (entry_live(&queue->entries[0])) return queue->entries[0].event;
    queue->entries[0].seq = 0;
  }
}

struct sim_event *sim_queue_pop(struct sim_queue *queue)
{
  struct sim_event *event = sim_queue_peek(queue);
  if (event == NULL) return NULL;
  SIM_ASSERT(event->seq == queue->entries[0].seq);
  queue->entries[0].seq = 0;
  event->seq = 0;
  return event;
}

uint32_t sim_queue_count(const struct sim_queue *queue)
{
  SIM_ASSERT(queue != NULL);
  SIM_ASSERT(queue->count <= queue->capacity);
  return queue->count - root_hole(queue);
}
