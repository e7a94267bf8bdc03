/*
 * sim.h: one deterministic simulation instance.
 *
 * A sim owns a virtual clock (uint64_t nanoseconds), the event queue, an
 * arena, the root seed from which every component draws a named PRNG stream,
 * and the trace: every state-changing event appends a canonical integer record
 * to a running 64-bit XXH3 digest.  There are no globals, so any number of
 * simulations may live in one process (STYLE R19).
 *
 * Dispatch is two-phase (STYLE R17): a step takes the earliest time T, then
 * runs the events due at T whose seq was allocated before the step began, at
 * most SIM_STEP_EVENTS_MAX of them; anything scheduled during the step, even
 * at T, runs in a later step.  Events are totally ordered by (time_ns, seq).
 */
#ifndef SIM_H
#define SIM_H

#include "sim_base.h"
#include "sim_err.h"
#include "sim_prng.h"
#include "sim_queue.h"

struct sim;
struct sim_trace_record;

/*
 * Called with each trace record right after it is hashed (record->digest is
 * not filled in: sim_trace_digest gives the running digest).  An observer
 * looks and never acts: it must not trace, schedule or change any state the
 * simulation reads, so a run is the same with or without one.
 */
typedef void sim_trace_observer_fn(void *context, const struct sim_trace_record *record);

struct sim_arena_pool;

struct sim_options {
  uint64_t seed;                /* root seed of every PRNG stream */
  uint64_t events_max;          /* run stops after this many events; 0 = no bound */
  uint64_t time_ns_max;         /* run stops before any event later than this; 0 = none */
  uint32_t events_pending_max;  /* armed events at most; 0 = default 65536 */
  uint64_t arena_bytes_max;     /* 0 = SIM_ARENA_BYTES_MAX */
  uint64_t trace_records_max;   /* records kept for divergence search; 0 = none */
  FILE *trace_text;             /* if set, every record is also written as a text line */
  sim_trace_observer_fn *trace_observer; /* optional; see sim_trace_observer_fn */
  void *trace_observer_context;
  bool buggify;                 /* SIM_BUGGIFY points may fire (off: they never draw) */
  struct sim_ratio buggify_fire; /* an enabled point fires with this; 0/0 = 1/4 */
  struct sim_arena_pool *arena_pool; /* optional: recycles the arena's chunks across
                                        instances (sim_arena.h); outlives the sim */
};

/* One trace record, as kept for run-twice comparison. */
struct sim_trace_record {
  uint64_t index;       /* 0-based position in the trace */
  uint64_t time_ns;     /* virtual time of the record */
  const char *kind;     /* static string naming the record */
  uint64_t values[4];   /* integer payload, unused slots zero */
  uint64_t digest;      /* running digest after this record */
};

enum sim_run_result {
  SIM_RUN_IDLE,        /* the queue is empty */
  SIM_RUN_STOPPED,     /* sim_stop was called */
  SIM_RUN_EVENTS_MAX,  /* events_max reached */
  SIM_RUN_TIME_MAX,    /* the next event lies past time_ns_max */
  SIM_RUN_SLICE,       /* sim_run_for: its events were dispatched; call again to go on */
};

/* Creates a simulation; NULL when the options are out of range or memory ran out. */
struct sim *sim_create(const struct sim_options *options);
void sim_destroy(struct sim *sim);

uint64_t sim_now_ns(const struct sim *sim);
uint64_t sim_seed(const struct sim *sim);
uint64_t sim_events_count(const struct sim *sim);

/* Zeroed memory from the simulation's arena; aborts on exhaustion (set-up only). */
void *sim_alloc(struct sim *sim, uint64_t bytes);
/* Same, but returns NULL on exhaustion. */
void *sim_alloc_try(struct sim *sim, uint64_t bytes);

/* Seeds prng as the named stream of this simulation's root seed. */
void sim_prng_stream(struct sim *sim, struct sim_prng *prng, const char *name);

/*
 * Events are embedded in their owners (STYLE R20).  The callback receives the
 * sim and the event; owners recover themselves with SIM_CONTAINER_OF.
 */
typedef void sim_event_fn(struct sim *sim, struct sim_event *event);
void sim_event_init(struct sim_event *event, sim_event_fn *callback, const char *name);
/* Arms (or re-arms) event at absolute time_ns >= now. */
void sim_event_schedule_at(struct sim *sim, struct sim_event *event, uint64_t time_ns);
void sim_event_schedule_after(struct sim *sim, struct sim_event *event, uint64_t delay_ns);
void sim_event_cancel(struct sim *sim, struct sim_event *event);
bool sim_event_armed(const struct sim_event *event);

/* Runs until idle, stopped, or a bound is reached. */
enum sim_run_result sim_run(struct sim *sim);
/*
 * The same, but returns SIM_RUN_SLICE after dispatching events_count more
 * events.  Slicing a run changes nothing in it: events still run in
 * (time_ns, seq) order, so the trace is the one sim_run gives.
 */
enum sim_run_result sim_run_for(struct sim *sim, uint64_t events_count);
/* Makes sim_run return after the current event. */
void sim_stop(struct sim *sim);

/*
 * Appends one record to the trace: kind (a static string of at most
 * SIM_TRACE_KIND_BYTES_MAX bytes), the current time and up to four integers,
 * hashed in a fixed little-endian layout.
 */
void sim_trace(struct sim *sim, const char *kind, uint64_t a, uint64_t b, uint64_t c,
               uint64_t d);
uint64_t sim_trace_digest(const struct sim *sim);

/*
 * BUGGIFY (FoundationDB's fault points inside the system's own code): a
 * place where real implementations go wrong (a short write, a late ack, a
 * spurious wake) asks SIM_BUGGIFY(sim, "name") and, when true, takes the
 * unusual but legal path.  With sim_options.buggify off it is always false
 * and draws nothing, so runs and digests are those without the points.  On,
 * each name is enabled for the whole run with probability 1/4, decided by
 * the stream "sim.buggify/<name>" of the root seed (so the enabled set is a
 * function of the seed, not of the order points are reached), and an
 * enabled point fires with sim_options.buggify_fire, drawn from the stream
 * "sim.buggify".  Each firing traces "sim.buggify" (XXH3-64 of the name, the
 * firings so far).  name is a static string of at most 32 bytes.
 */
#define SIM_BUGGIFY(sim, name) sim_buggify((sim), (name))
bool sim_buggify(struct sim *sim, const char *name);
/* True when name is enabled in this run (buggify on and drawn in); draws nothing. */
bool sim_buggify_enabled(const struct sim *sim, const char *name);
/* Firings so far, every name together. */
uint64_t sim_buggify_fired_count(const struct sim *sim);
uint64_t sim_trace_count(const struct sim *sim);
/* Records kept so far (at most trace_records_max); count set to their number. */
const struct sim_trace_record *sim_trace_records(const struct sim *sim, uint64_t *count);
/* Writes one record as the text line the trace_text option produces. */
void sim_trace_record_print(FILE *out, const struct sim_trace_record *record);

#endif /* SIM_H */
