/*
 * sim_queue.c: the hierarchical timing wheel of sim_queue.h.
 *
 * Invariants: every armed event with time t sits at level
 * level_of(t ^ base_ns) in slot (t >> 8 * level) & 255; a slot's bit in
 * `occupied` is set iff its list is non-empty; every slot list is in seq
 * order.  Pop is the only operation that moves base_ns, and only up to the
 * popped event's time, so a caller may push at any time >= its clock.
 */
#include "sim_base.h"

#include "sim_queue.h"

#define SLOT_BITS 8u

static inline uint32_t level_of(uint64_t difference)
{
  if (difference < SIM_QUEUE_SLOTS) return 0;
  return (uint32_t)(63 - __builtin_clzll(difference)) / SLOT_BITS;
}

static void slot_append(struct sim_queue *queue, struct sim_event *event)
{
  uint32_t level = level_of(event->time_ns ^ queue->base_ns);
  uint32_t slot = (uint32_t)(event->time_ns >> (SLOT_BITS * level)) & (SIM_QUEUE_SLOTS - 1);
  uint32_t index = level * SIM_QUEUE_SLOTS + slot;
  event->slot_index = index;
  event->next = NULL;
  event->prev = queue->tails[index];
  if (event->prev != NULL) {
    event->prev->next = event;
  } else {
    queue->heads[index] = event;
    queue->occupied[level][slot / 64] |= UINT64_C(1) << (slot % 64);
  }
  queue->tails[index] = event;
}

static void slot_unlink(struct sim_queue *queue, struct sim_event *event)
{
  uint32_t index = event->slot_index;
  if (event->prev != NULL) event->prev->next = event->next;
  else queue->heads[index] = event->next;
  if (event->next != NULL) event->next->prev = event->prev;
  else queue->tails[index] = event->prev;
  if (queue->heads[index] == NULL) {
    uint32_t level = index / SIM_QUEUE_SLOTS, slot = index % SIM_QUEUE_SLOTS;
    queue->occupied[level][slot / 64] &= ~(UINT64_C(1) << (slot % 64));
  }
}

/* Lowest non-empty slot of level, or SIM_QUEUE_SLOTS when the level is empty. */
static uint32_t level_first_slot(const struct sim_queue *queue, uint32_t level)
{
  for (uint32_t word = 0; word < SIM_QUEUE_SLOTS / 64; word++) {
    uint64_t bits = queue->occupied[level][word];
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

struct sim_event *sim_queue_peek(const struct sim_queue *queue)
{
  if (queue->count == 0) return NULL;
  for (uint32_t level = 0; level < SIM_QUEUE_LEVELS; level++) {
    uint32_t slot = level_first_slot(queue, level);
    if (slot == SIM_QUEUE_SLOTS) continue;
    const struct sim_event *best = queue->heads[level * SIM_QUEUE_SLOTS + slot];
    if (level == 0) return (struct sim_event *)best;
    /* A higher slot spans many times: take the earliest, first in seq order. */
    for (const struct sim_event *e = best->next; e != NULL; e = e->next) {
      if (e->time_ns < best->time_ns) best = e;
    }
    return (struct sim_event *)best;
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
    slot = level_first_slot(queue, level);
    if (slot != SIM_QUEUE_SLOTS) break;
  }
  SIM_ASSERT(level < SIM_QUEUE_LEVELS);
  uint32_t shift = SLOT_BITS * (level + 1);
  uint64_t high = shift >= 64 ? 0 : (queue->base_ns >> shift) << shift;
  uint64_t new_base = high | ((uint64_t)slot << (SLOT_BITS * level));
  SIM_ASSERT(new_base > queue->base_ns);
  queue->base_ns = new_base;
  uint32_t index = level * SIM_QUEUE_SLOTS + slot;
  struct sim_event *event = queue->heads[index];
  queue->heads[index] = NULL;
  queue->tails[index] = NULL;
  queue->occupied[level][slot / 64] &= ~(UINT64_C(1) << (slot % 64));
  while (event != NULL) {
    struct sim_event *next = event->next;
    slot_append(queue, event);
    SIM_ASSERT_DEBUG(event->slot_index / SIM_QUEUE_SLOTS < level);
    event = next;
  }
}

struct sim_event *sim_queue_pop(struct sim_queue *queue)
{
  if (queue->count == 0) return NULL;
  uint32_t slot;
  /* Bounded: each cascade moves a slot to a strictly lower level. */
  while ((slot = level_first_slot(queue, 0)) == SIM_QUEUE_SLOTS) queue_cascade(queue);
  struct sim_event *event = queue->heads[slot];
  SIM_ASSERT(event->time_ns >= queue->base_ns);
  queue->base_ns = event->time_ns;
  slot_unlink(queue, event);
  event->seq = 0;
  queue->count--;
  return event;
}

uint64_t sim_queue_count(const struct sim_queue *queue) { return queue->count; }
