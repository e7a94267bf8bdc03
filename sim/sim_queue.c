/*
 * sim_queue.c: the hierarchical timing wheel of sim_queue.h.
 *
 * Invariants: every armed event with time t sits at level
 * level_of(t ^ base_ns) in the slot given by that level's bits of t; a
 * slot's occupied bit is set iff its list is non-empty (and for level 0, a
 * word's summary bit iff the word is non-zero); every slot list is in seq
 * order; mins[i], when not NULL, is the earliest (time, seq) event of upper
 * slot i.  Pop is the only operation that moves base_ns, and only up to the
 * popped event's time, so a caller may push at any time >= its clock.
 *
 * Slot indexes: level 0's slot s is s; level L >= 1's slot s is
 * SIM_QUEUE_LEVEL0_SLOTS + (L - 1) * SIM_QUEUE_SLOTS + s.
 */
#include "sim_base.h"

#include "sim_queue.h"

#define UPPER_BITS 8u

_Static_assert(SIM_QUEUE_LEVEL0_SLOTS / 64 <= 64, "level 0's summary fits one word");
_Static_assert(SIM_QUEUE_LEVEL0_BITS + UPPER_BITS * (SIM_QUEUE_LEVELS - 1) >= 64,
               "the levels cover 64-bit time");
_Static_assert(SIM_QUEUE_SLOTS == 1u << UPPER_BITS, "an upper level is one byte of time");

static inline uint32_t level_of(uint64_t difference)
{
  if (difference < SIM_QUEUE_LEVEL0_SLOTS) return 0;
  uint32_t msb = (uint32_t)(63 - __builtin_clzll(difference));
  return (msb - SIM_QUEUE_LEVEL0_BITS) / UPPER_BITS + 1;
}

/* Lowest time bit of a level's slot number. */
static inline uint32_t level_shift(uint32_t level)
{
  return level == 0 ? 0 : SIM_QUEUE_LEVEL0_BITS + UPPER_BITS * (level - 1);
}

static inline uint32_t slot_index(uint32_t level, uint32_t slot)
{
  return level == 0 ? slot : SIM_QUEUE_LEVEL0_SLOTS + (level - 1) * SIM_QUEUE_SLOTS + slot;
}

static void occupied_set(struct sim_queue *queue, uint32_t index)
{
  if (index < SIM_QUEUE_LEVEL0_SLOTS) {
    queue->occupied0[index / 64] |= UINT64_C(1) << (index % 64);
    queue->occupied0_words |= UINT64_C(1) << (index / 64);
    return;
  }
  uint32_t upper = index - SIM_QUEUE_LEVEL0_SLOTS;
  queue->occupied[upper / SIM_QUEUE_SLOTS][upper % SIM_QUEUE_SLOTS / 64] |=
      UINT64_C(1) << (upper % 64);
}

static void occupied_clear(struct sim_queue *queue, uint32_t index)
{
  if (index < SIM_QUEUE_LEVEL0_SLOTS) {
    uint64_t *word = &queue->occupied0[index / 64];
    *word &= ~(UINT64_C(1) << (index % 64));
    if (*word == 0) queue->occupied0_words &= ~(UINT64_C(1) << (index / 64));
    return;
  }
  uint32_t upper = index - SIM_QUEUE_LEVEL0_SLOTS;
  queue->occupied[upper / SIM_QUEUE_SLOTS][upper % SIM_QUEUE_SLOTS / 64] &=
      ~(UINT64_C(1) << (upper % 64));
}

static void slot_append(struct sim_queue *queue, struct sim_event *event)
{
  uint32_t level = level_of(event->time_ns ^ queue->base_ns);
  uint32_t mask = level == 0 ? SIM_QUEUE_LEVEL0_SLOTS - 1 : SIM_QUEUE_SLOTS - 1;
  uint32_t slot = (uint32_t)(event->time_ns >> level_shift(level)) & mask;
  uint32_t index = slot_index(level, slot);
  uint32_t upper = index - SIM_QUEUE_LEVEL0_SLOTS; /* meaningful for level > 0 only */
  event->slot_index = index;
  event->next = NULL;
  event->hint = NULL;
  event->prev = queue->tails[index];
  if (event->prev != NULL) {
    event->prev->next = event;
    /* The event before the old tail will prefetch this one when it is popped. */
    if (level == 0 && queue->heads[index] != event->prev) event->prev->prev->hint = event;
    /* Later seq: earliest only if strictly earlier in time (and the minimum is known). */
    if (level > 0 && queue->mins[upper] != NULL && event->time_ns < queue->min_times_ns[upper]) {
      queue->mins[upper] = event;
      queue->min_times_ns[upper] = event->time_ns;
    }
  } else {
    queue->heads[index] = event;
    occupied_set(queue, index);
    if (level > 0) {
      queue->mins[upper] = event;
      queue->min_times_ns[upper] = event->time_ns;
    }
  }
  queue->tails[index] = event;
}

/* Removes event from its slot; a head's `prev` may be stale (pop leaves it), so it is not read. */
static void slot_unlink(struct sim_queue *queue, struct sim_event *event)
{
  uint32_t index = event->slot_index;
  bool head = queue->heads[index] == event;
  struct sim_event *prev = head ? NULL : event->prev;
  if (head) {
    queue->heads[index] = event->next;
  } else {
    prev->next = event->next;
  }
  if (event->next != NULL) {
    event->next->prev = prev;
  } else {
    queue->tails[index] = prev;
  }
  if (queue->heads[index] == NULL) occupied_clear(queue, index);
  if (index >= SIM_QUEUE_LEVEL0_SLOTS && queue->mins[index - SIM_QUEUE_LEVEL0_SLOTS] == event) {
    queue->mins[index - SIM_QUEUE_LEVEL0_SLOTS] = NULL; /* found again by peek */
  }
}

/* Lowest non-empty slot of level 0, or SIM_QUEUE_LEVEL0_SLOTS when it is empty. */
static uint32_t level0_first_slot(const struct sim_queue *queue)
{
  if (queue->occupied0_words == 0) return SIM_QUEUE_LEVEL0_SLOTS;
  uint32_t word = (uint32_t)__builtin_ctzll(queue->occupied0_words);
  return word * 64 + (uint32_t)__builtin_ctzll(queue->occupied0[word]);
}

/* Lowest non-empty slot of an upper level, or SIM_QUEUE_SLOTS when it is empty. */
static uint32_t upper_first_slot(const struct sim_queue *queue, uint32_t level)
{
  for (uint32_t word = 0; word < SIM_QUEUE_SLOTS / 64; word++) {
    uint64_t bits = queue->occupied[level - 1][word];
    if (bits != 0) return word * 64 + (uint32_t)__builtin_ctzll(bits);
  }
  return SIM_QUEUE_SLOTS;
}

void sim_queue_init(struct sim_queue *queue)
{
  memset(queue, 0, sizeof(*queue));
}

void sim_queue_push(struct sim_queue *queue, struct sim_event *event, uint64_t time_ns,
                    uint64_t seq)
{
  SIM_ASSERT(seq != 0 && time_ns >= queue->base_ns);
  if (event->seq != 0) sim_queue_cancel(queue, event);
  event->time_ns = time_ns;
  event->seq = seq;
  slot_append(queue, event);
  queue->count++;
}

void sim_queue_cancel(struct sim_queue *queue, struct sim_event *event)
{
  if (event->seq == 0) return;
  SIM_ASSERT(queue->count > 0);
  slot_unlink(queue, event);
  event->seq = 0;
  queue->count--;
}

/* Earliest (time, seq) event of an upper slot, by a walk; remembered for next time. */
static struct sim_event *slot_min_find(const struct sim_queue *queue, uint32_t index)
{
  struct sim_event *best = queue->heads[index];
  for (struct sim_event *e = best->next; e != NULL; e = e->next) {
    if (e->time_ns < best->time_ns) best = e;
  }
  /* A cache, not state: the queue is never const-defined (it is caller-owned storage). */
  struct sim_queue *mutable_queue = (struct sim_queue *)queue;
  mutable_queue->mins[index - SIM_QUEUE_LEVEL0_SLOTS] = best;
  mutable_queue->min_times_ns[index - SIM_QUEUE_LEVEL0_SLOTS] = best->time_ns;
  return best;
}

struct sim_event *sim_queue_peek(const struct sim_queue *queue)
{
  if (queue->count == 0) return NULL;
  uint32_t slot = level0_first_slot(queue);
  if (slot != SIM_QUEUE_LEVEL0_SLOTS) return queue->heads[slot];
  for (uint32_t level = 1; level < SIM_QUEUE_LEVELS; level++) {
    slot = upper_first_slot(queue, level);
    if (slot == SIM_QUEUE_SLOTS) continue;
    /* An upper slot spans many times: its earliest, first in seq order. */
    uint32_t index = slot_index(level, slot);
    struct sim_event *best = queue->mins[index - SIM_QUEUE_LEVEL0_SLOTS];
    return best != NULL ? best : slot_min_find(queue, index);
  }
  SIM_ASSERT(!"count > 0 but every level is empty");
  return NULL;
}

/* Level 0 is empty: moves the earliest slot of the lowest non-empty level down. */
static void queue_cascade(struct sim_queue *queue)
{
  uint32_t level = 1;
  uint32_t slot = SIM_QUEUE_SLOTS;
  for (; level < SIM_QUEUE_LEVELS; level++) {
    slot = upper_first_slot(queue, level);
    if (slot != SIM_QUEUE_SLOTS) break;
  }
  SIM_ASSERT(level < SIM_QUEUE_LEVELS);
  uint32_t top = level_shift(level) + UPPER_BITS; /* the bits above this level's */
  uint64_t high = top >= 64 ? 0 : (queue->base_ns >> top) << top;
  uint64_t new_base = high | ((uint64_t)slot << level_shift(level));
  SIM_ASSERT(new_base > queue->base_ns);
  queue->base_ns = new_base;
  uint32_t index = slot_index(level, slot);
  struct sim_event *event = queue->heads[index];
  queue->heads[index] = NULL;
  queue->tails[index] = NULL;
  queue->mins[index - SIM_QUEUE_LEVEL0_SLOTS] = NULL;
  occupied_clear(queue, index);
  while (event != NULL) {
    struct sim_event *next = event->next;
    if (next != NULL) __builtin_prefetch(next->next); /* the walk is a chain of misses */
    slot_append(queue, event);
    SIM_ASSERT_DEBUG(level_of(event->time_ns ^ queue->base_ns) < level);
    event = next;
  }
}

struct sim_event *sim_queue_pop(struct sim_queue *queue)
{
  if (queue->count == 0) return NULL;
  uint32_t slot;
  /* Bounded: each cascade moves a slot to a strictly lower level. */
  while ((slot = level0_first_slot(queue)) == SIM_QUEUE_LEVEL0_SLOTS) queue_cascade(queue);
  struct sim_event *event = queue->heads[slot];
  SIM_ASSERT(event->time_ns >= queue->base_ns);
  queue->base_ns = event->time_ns;
  /* Unlink the head without touching the next event (its `prev` goes stale, see slot_unlink). */
  struct sim_event *next = event->next;
  queue->heads[slot] = next;
  if (next == NULL) {
    queue->tails[slot] = NULL;
    occupied_clear(queue, slot);
  } else {
    /* The next two pops' events load while this one's callback runs (a stale hint is harmless). */
    __builtin_prefetch(next);
    if (event->hint != NULL) __builtin_prefetch(event->hint);
  }
  event->seq = 0;
  queue->count--;
  return event;
}

uint64_t sim_queue_count(const struct sim_queue *queue) { return queue->count; }
