/*
 * sim_queue.h: the event priority queue, ordered by (time_ns, seq).
 *
 * The queue knows nothing of the simulator: it orders opaque entries.  Each
 * entry carries a copy of its key and a pointer to its event; an event is
 * valid in the queue only while event->seq equals the entry's seq.  Cancelling
 * or re-arming an event therefore only changes event->seq (STYLE tangle 6:
 * "removing an event only marks it"); stale entries are skipped on pop and
 * swept out when the storage fills.  Storage is provided by the caller.
 */
#ifndef SIM_QUEUE_H
#define SIM_QUEUE_H

#include "sim_base.h"

struct sim;
struct sim_event;

struct sim_queue_entry {   /* private */
  uint64_t time_ns;        /* key, major */
  uint64_t seq;            /* key, minor; never 0 for a pushed entry */
  struct sim_event *event; /* owner; stale unless event->seq == seq */
};

struct sim_queue {                 /* caller-owned; fields private */
  struct sim_queue_entry *entries; /* heap storage, capacity entries */
  uint32_t count;                  /* entries in the heap, stale ones included */
  uint32_t capacity;               /* storage size in entries */
};

/* The part of an event the queue reads and writes. */
struct sim_event {
  uint64_t time_ns;                /* when it fires; valid while armed */
  uint64_t seq;                    /* 0 when not armed */
  void (*callback)(struct sim *sim, struct sim_event *event); /* set by owner */
  const char *name;                /* static string, for traces */
};

void sim_queue_init(struct sim_queue *queue, struct sim_queue_entry *storage,
                    uint32_t capacity);
/*
 * Pushes event at (time_ns, seq) and sets event->time_ns/seq.  Returns false
 * when the storage is full even after sweeping stale entries.
 */
bool sim_queue_push(struct sim_queue *queue, struct sim_event *event, uint64_t time_ns,
                    uint64_t seq);
/* Marks the event not armed; its entry becomes stale. */
void sim_queue_cancel(struct sim_event *event);
/*
 * Returns the live event with the smallest (time_ns, seq), or NULL; does not
 * remove it.  Stale entries at the top are dropped on the way.
 */
struct sim_event *sim_queue_peek(struct sim_queue *queue);
/* Removes and returns what sim_queue_peek would return; the event is disarmed. */
struct sim_event *sim_queue_pop(struct sim_queue *queue);
/* Entries in the heap (stale included); for tests and benchmarks. */
uint32_t sim_queue_count(const struct sim_queue *queue);

#endif /* SIM_QUEUE_H */
