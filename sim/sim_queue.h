/*
 * sim_queue.h: the event queue, ordered by (time_ns, seq): a hierarchical
 * timing wheel over the 64-bit virtual time, with intrusive lists.
 *
 * Eight levels of 256 slots each cover the whole uint64_t time range.  An
 * event lives at the level of the highest byte in which its time differs
 * from the wheel's base time, in the slot given by that byte; level 0 slots
 * therefore each hold one exact time.  When level 0 runs dry, the earliest
 * slot of the lowest non-empty level is cascaded down.  Each slot is a
 * doubly linked list embedded in the events (no allocation, O(1) cancel),
 * kept in seq order: pushes append with increasing seq, and a cascade moves
 * a seq-ordered list into empty slots in order.  Push and cancel are O(1),
 * pop is O(1) amortised; the order is total and never looks at a pointer
 * (STYLE R16).  The queue knows nothing of the simulator.
 */
#ifndef SIM_QUEUE_H
#define SIM_QUEUE_H

#include "sim_base.h"

#define SIM_QUEUE_LEVELS 8
#define SIM_QUEUE_SLOTS 256

struct sim;

/* The part of an event the queue reads and writes; owners embed it. */
struct sim_event {
  uint64_t time_ns;                /* when it fires; valid while armed */
  uint64_t seq;                    /* 0 when not armed */
  struct sim_event *next;          /* private: slot list */
  struct sim_event *prev;          /* private: slot list */
  uint32_t slot_index;             /* private: level * 256 + slot while armed */
  void (*callback)(struct sim *sim, struct sim_event *event); /* set by owner */
  const char *name;                /* static string, for traces */
};

struct sim_queue {                          /* caller-owned; fields private */
  uint64_t base_ns;                         /* no armed event is earlier */
  uint64_t count;                           /* armed events */
  struct sim_event *heads[SIM_QUEUE_LEVELS * SIM_QUEUE_SLOTS];
  struct sim_event *tails[SIM_QUEUE_LEVELS * SIM_QUEUE_SLOTS];
  uint64_t occupied[SIM_QUEUE_LEVELS][SIM_QUEUE_SLOTS / 64]; /* bit per non-empty slot */
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
