/*
 * sim_queue.h: the event queue, ordered by (time_ns, seq): a hierarchical
 * timing wheel over the 64-bit virtual time, with intrusive lists.
 *
 * Level 0 has 4096 slots (time bits 0-11), levels 1-7 have 256 (8 bits each
 * above that), which covers the whole uint64_t time range.  An event lives at
 * the level of the highest bit in which its time differs from the wheel's
 * base time, in the slot given by that level's bits; level 0 slots therefore
 * each hold one exact time.  Level 0 is wide so that an event armed up to a
 * few microseconds ahead usually lands there directly and is never cascaded,
 * and a summary word finds its first busy slot.  When level 0 runs dry, the earliest
 * slot of the lowest non-empty level is cascaded down.  Each slot is a
 * doubly linked list embedded in the events (no allocation, O(1) cancel),
 * kept in seq order: pushes append with increasing seq, and a cascade moves
 * a seq-ordered list into empty slots in order.  Push and cancel are O(1),
 * pop is O(1) amortised; the order is total and never looks at a pointer
 * (STYLE R16).  A slot above level 0 remembers its earliest event, so peek
 * does not walk it (it walks once after that event was cancelled).  Pop
 * leaves the new head's `prev` stale rather than touch a second event; only
 * a head has a stale `prev`, and unlink knows a head by the heads array.
 * Pop prefetches the next event and, through `hint`, the one after it, so
 * two events' memory is in flight while a callback runs.
 * The queue knows nothing of the simulator.
 */
#ifndef SIM_QUEUE_H
#define SIM_QUEUE_H

#include "sim_base.h"

#define SIM_QUEUE_LEVELS 8
#define SIM_QUEUE_LEVEL0_BITS 12
#define SIM_QUEUE_LEVEL0_SLOTS (1u << SIM_QUEUE_LEVEL0_BITS)
#define SIM_QUEUE_SLOTS 256  /* levels 1 and up */
#define SIM_QUEUE_UPPER_SLOTS ((SIM_QUEUE_LEVELS - 1) * SIM_QUEUE_SLOTS)
#define SIM_QUEUE_SLOTS_ALL (SIM_QUEUE_LEVEL0_SLOTS + SIM_QUEUE_UPPER_SLOTS)

struct sim;

/* The part of an event the queue reads and writes; owners embed it. */
struct sim_event {
  uint64_t time_ns;                /* when it fires; valid while armed */
  uint64_t seq;                    /* 0 when not armed */
  struct sim_event *next;          /* private: slot list */
  struct sim_event *prev;          /* private: slot list */
  struct sim_event *hint;          /* private: two places on in its level-0 slot, or stale;
                                      only prefetched, never followed */
  uint32_t slot_index;             /* private: the slot's index while armed */
  void (*callback)(struct sim *sim, struct sim_event *event); /* set by owner */
  const char *name;                /* static string, for traces */
};

struct sim_queue {                          /* caller-owned; fields private */
  uint64_t base_ns;                         /* no armed event is earlier */
  uint64_t count;                           /* armed events */
  struct sim_event *heads[SIM_QUEUE_SLOTS_ALL];  /* level 0's slots first, then 1, 2, ... */
  struct sim_event *tails[SIM_QUEUE_SLOTS_ALL];
  uint64_t occupied0[SIM_QUEUE_LEVEL0_SLOTS / 64]; /* bit per non-empty level-0 slot */
  uint64_t occupied0_words;                       /* bit per non-zero occupied0 word */
  uint64_t occupied[SIM_QUEUE_LEVELS - 1][SIM_QUEUE_SLOTS / 64]; /* levels 1.., likewise */
  /* Levels >= 1: the slot's earliest (time, seq) event, or NULL when not known. */
  struct sim_event *mins[SIM_QUEUE_UPPER_SLOTS];
  uint64_t min_times_ns[SIM_QUEUE_UPPER_SLOTS]; /* mins[i]->time_ns, without touching it */
};

void sim_queue_init(struct sim_queue *queue);
/*
 * Arms event at (time_ns, seq): seq > 0 and larger than every seq pushed
 * before, time_ns >= the time of the last popped event.
 */
void sim_queue_push(struct sim_queue *queue, struct sim_event *event, uint64_t time_ns,
                    uint64_t seq);
/* Disarms an event, armed or not. */
void sim_queue_cancel(struct sim_queue *queue, struct sim_event *event);
/* The armed event with the smallest (time_ns, seq), or NULL; nothing moves. */
struct sim_event *sim_queue_peek(const struct sim_queue *queue);
/* Removes and returns what sim_queue_peek would return; the event is disarmed. */
struct sim_event *sim_queue_pop(struct sim_queue *queue);
uint64_t sim_queue_count(const struct sim_queue *queue);

#endif /* SIM_QUEUE_H */
