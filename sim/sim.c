/*
 * sim.c: one simulation instance: clock, two-phase dispatch, arena, PRNG
 * streams and the trace digest (contract and overview in sim.h).
 *
 * The trace hashes each record in a fixed little-endian layout, written byte
 * by byte, so the digest is the same on every host and compiler: kind bytes,
 * a NUL, then time_ns and the four values as 8-byte little-endian words.
 */
#include "sim_base.h"

#include "sim.h"
#include "sim_arena.h"
#include "sim_fiber.h"
#include "sim_limits.h"

#include <xxhash.h>

#define SIM_EVENTS_PENDING_DEFAULT UINT32_C(65536)

struct sim {
  struct sim_arena arena;               /* owns everything below but the records */
  struct sim_options options;           /* as given, defaults applied */
  struct sim_queue queue;               /* the timing wheel */
  uint64_t now_ns;                      /* virtual clock */
  uint64_t next_seq;                    /* next event seq; starts at 1 */
  uint64_t events_count;                /* events dispatched */
  uint64_t events_slice_end;            /* sim_run_for: return when events_count reaches it */
  bool stop_requested;                  /* sim_stop called */
  XXH3_state_t *trace_state;            /* running digest */
  uint64_t trace_count;                 /* records appended */
  struct sim_trace_record *records;     /* kept records (malloc'd, grows) */
  uint64_t records_count;
  uint64_t records_capacity;
  struct sim_fiber *fibers_first;       /* every fiber, creation order (a list) */
  struct sim_fiber **fibers_link;       /* where the next fiber is linked in */
  struct sim_prng buggify_prng;         /* "sim.buggify": firings of enabled points */
  uint64_t buggify_fired_count;         /* SIM_BUGGIFY calls that returned true */
};

struct sim *sim_create(const struct sim_options *options)
{
  uint32_t pending_max = options->events_pending_max != 0 ? options->events_pending_max
                                                          : SIM_EVENTS_PENDING_DEFAULT;
  uint64_t arena_max = options->arena_bytes_max != 0 ? options->arena_bytes_max
                                                     : SIM_ARENA_BYTES_MAX;
  if (pending_max > SIM_EVENTS_PENDING_MAX || arena_max > SIM_ARENA_BYTES_MAX ||
      options->trace_records_max > SIM_TRACE_RECORDS_MAX) {
    return NULL;
  }
  struct sim *sim = calloc(1, sizeof(*sim));
  if (sim == NULL) return NULL;
  sim_arena_init(&sim->arena, arena_max, options->arena_pool);
  sim->options = *options;
  sim->options.events_pending_max = pending_max;
  sim->options.arena_bytes_max = arena_max;
  sim->trace_state = XXH3_createState();
  if (sim->trace_state == NULL) {
    sim_destroy(sim);
    return NULL;
  }
  XXH3_64bits_reset(sim->trace_state);
  sim_queue_init(&sim->queue);
  sim->next_seq = 1;
  sim->fibers_link = &sim->fibers_first;
  if (sim->options.buggify_fire.numerator == 0) {
    sim->options.buggify_fire = (struct sim_ratio){1, 4};
  }
  SIM_ASSERT(sim->options.buggify_fire.numerator <= sim->options.buggify_fire.denominator);
  sim_prng_init_stream(&sim->buggify_prng, options->seed, "sim.buggify");
  return sim;
}

/* In sim_fiber.c: ends every fiber of the list, in order. */
void sim__fiber_destroy_all(struct sim_fiber *first);

void sim_destroy(struct sim *sim)
{
  if (sim == NULL) return;
  /* Fibers may still touch the arena while they unwind: end them first, in order. */
  sim__fiber_destroy_all(sim->fibers_first);
  if (sim->trace_state != NULL) XXH3_freeState(sim->trace_state);
  free(sim->records);
  sim_arena_deinit(&sim->arena);
  free(sim);
}

uint64_t sim_now_ns(const struct sim *sim) { return sim->now_ns; }
uint64_t sim_seed(const struct sim *sim) { return sim->options.seed; }
uint64_t sim_events_count(const struct sim *sim) { return sim->events_count; }

void *sim_alloc_try(struct sim *sim, uint64_t bytes)
{
  return sim_arena_alloc(&sim->arena, bytes);
}

void *sim_alloc(struct sim *sim, uint64_t bytes)
{
  void *memory = sim_arena_alloc(&sim->arena, bytes);
  SIM_ASSERT(memory != NULL);
  return memory;
}

void sim_prng_stream(struct sim *sim, struct sim_prng *prng, const char *name)
{
  sim_prng_init_stream(prng, sim->options.seed, name);
}

/*
 * Appends a fiber to the list sim_destroy walks; called by sim_fiber_create,
 * with the fiber's own link field (the fiber's layout is private to sim_fiber.c).
 */
void sim__fiber_register(struct sim *sim, struct sim_fiber *fiber, struct sim_fiber **next);
void sim__fiber_register(struct sim *sim, struct sim_fiber *fiber, struct sim_fiber **next)
{
  SIM_ASSERT(*next == NULL);
  *sim->fibers_link = fiber;
  sim->fibers_link = next;
}

void sim_event_init(struct sim_event *event, sim_event_fn *callback, const char *name)
{
  SIM_ASSERT(callback != NULL);
  memset(event, 0, sizeof(*event));
  event->callback = callback;
  event->name = name;
}

void sim_event_schedule_at(struct sim *sim, struct sim_event *event, uint64_t time_ns)
{
  SIM_ASSERT(event->callback != NULL);
  SIM_ASSERT(time_ns >= sim->now_ns);
  sim_queue_push(&sim->queue, event, time_ns, sim->next_seq++);
  /* The scenario bounds pending events; exceeding the bound is a bug of the model. */
  SIM_ASSERT(sim_queue_count(&sim->queue) <= sim->options.events_pending_max);
}

void sim_event_schedule_after(struct sim *sim, struct sim_event *event, uint64_t delay_ns)
{
  SIM_ASSERT(delay_ns <= UINT64_MAX - sim->now_ns);
  sim_event_schedule_at(sim, event, sim->now_ns + delay_ns);
}

void sim_event_cancel(struct sim *sim, struct sim_event *event)
{
  sim_queue_cancel(&sim->queue, event);
}

bool sim_event_armed(const struct sim_event *event) { return event->seq != 0; }

void sim_stop(struct sim *sim) { sim->stop_requested = true; }

/*
 * One step: the events due at the earliest time whose seq predates the step,
 * at most SIM_STEP_EVENTS_MAX of them.  Returns false when the run must end.
 */
static bool sim_step(struct sim *sim, enum sim_run_result *result)
{
  struct sim_event *next = sim_queue_peek(&sim->queue);
  if (next == NULL) {
    *result = SIM_RUN_IDLE;
    return false;
  }
  if (sim->options.time_ns_max != 0 && next->time_ns > sim->options.time_ns_max) {
    *result = SIM_RUN_TIME_MAX;
    return false;
  }
  SIM_ASSERT(next->time_ns >= sim->now_ns);
  sim->now_ns = next->time_ns;
  uint64_t seq_limit = sim->next_seq;
  for (uint32_t i = 0; i < SIM_STEP_EVENTS_MAX; i++) {
    next = sim_queue_peek(&sim->queue);
    if (next == NULL || next->time_ns != sim->now_ns || next->seq >= seq_limit) break;
    if (sim->options.events_max != 0 && sim->events_count >= sim->options.events_max) {
      *result = SIM_RUN_EVENTS_MAX;
      return false;
    }
    if (sim->events_count >= sim->events_slice_end) {
      *result = SIM_RUN_SLICE;
      return false;
    }
    struct sim_event *event = sim_queue_pop(&sim->queue);
    SIM_ASSERT(event == next && !sim_event_armed(event));
    sim->events_count++;
    event->callback(sim, event);
    if (sim->stop_requested) {
      sim->stop_requested = false;
      *result = SIM_RUN_STOPPED;
      return false;
    }
  }
  return true;
}

enum sim_run_result sim_run(struct sim *sim) { return sim_run_for(sim, UINT64_MAX); }

enum sim_run_result sim_run_for(struct sim *sim, uint64_t events_count)
{
  enum sim_run_result result = SIM_RUN_IDLE;
  sim->stop_requested = false;
  sim->events_slice_end = events_count > UINT64_MAX - sim->events_count
                              ? UINT64_MAX : sim->events_count + events_count;
  /* Bounded: every step consumes at least one event or ends the run. */
  while (sim_step(sim, &result)) continue;
  return result;
}

static void put_le64(uint8_t *out, uint64_t value)
{
  for (int i = 0; i < 8; i++) out[i] = (uint8_t)(value >> (8 * i));
}

static void trace_keep(struct sim *sim, const struct sim_trace_record *record)
{
  if (sim->records_count == sim->options.trace_records_max) return;
  if (sim->records_count == sim->records_capacity) {
    sim->records_capacity = SIM_MIN(SIM_MAX(sim->records_capacity * 2, 1024),
                                    sim->options.trace_records_max);
    sim->records = realloc(sim->records, sim->records_capacity * sizeof(*sim->records));
    SIM_ASSERT(sim->records != NULL);
  }
  sim->records[sim->records_count++] = *record;
}

void sim_trace(struct sim *sim, const char *kind, uint64_t a, uint64_t b, uint64_t c,
               uint64_t d)
{
  size_t kind_bytes = strlen(kind);
  SIM_ASSERT(kind_bytes > 0 && kind_bytes <= SIM_TRACE_KIND_BYTES_MAX);
  uint8_t canonical[SIM_TRACE_KIND_BYTES_MAX + 1 + 5 * 8];
  memcpy(canonical, kind, kind_bytes);
  canonical[kind_bytes] = 0;
  uint64_t words[5] = {sim->now_ns, a, b, c, d};
  for (int i = 0; i < 5; i++) put_le64(canonical + kind_bytes + 1 + 8 * i, words[i]);
  XXH3_64bits_update(sim->trace_state, canonical, kind_bytes + 1 + 5 * 8);
  struct sim_trace_record record = {
      .index = sim->trace_count, .time_ns = sim->now_ns, .kind = kind,
      .values = {a, b, c, d}};
  sim->trace_count++;
  if (sim->options.trace_observer != NULL) {
    sim->options.trace_observer(sim->options.trace_observer_context, &record);
  }
  if (sim->options.trace_records_max == 0 && sim->options.trace_text == NULL) return;
  record.digest = XXH3_64bits_digest(sim->trace_state);
  if (sim->options.trace_records_max != 0) trace_keep(sim, &record);
  if (sim->options.trace_text != NULL) sim_trace_record_print(sim->options.trace_text, &record);
}

uint64_t sim_trace_digest(const struct sim *sim)
{
  return XXH3_64bits_digest(sim->trace_state);
}

uint64_t sim_trace_count(const struct sim *sim) { return sim->trace_count; }

/* ---------------------------------------------------------------- buggify */

#define BUGGIFY_NAME_BYTES_MAX 32

bool sim_buggify_enabled(const struct sim *sim, const char *name)
{
  if (!sim->options.buggify) return false;
  size_t name_bytes = strlen(name);
  SIM_ASSERT(name_bytes > 0 && name_bytes <= BUGGIFY_NAME_BYTES_MAX);
  char stream[sizeof("sim.buggify/") + BUGGIFY_NAME_BYTES_MAX];
  snprintf(stream, sizeof stream, "sim.buggify/%s", name);
  /* A stream of its own per name: the set is the seed's, whatever order points are hit in. */
  struct sim_prng prng;
  sim_prng_init_stream(&prng, sim->options.seed, stream);
  return sim_prng_chance(&prng, (struct sim_ratio){1, 4});
}

bool sim_buggify(struct sim *sim, const char *name)
{
  if (!sim->options.buggify || !sim_buggify_enabled(sim, name)) return false;
  if (!sim_prng_chance(&sim->buggify_prng, sim->options.buggify_fire)) return false;
  sim->buggify_fired_count++;
  sim_trace(sim, "sim.buggify", XXH3_64bits(name, strlen(name)), sim->buggify_fired_count, 0,
            0);
  return true;
}

uint64_t sim_buggify_fired_count(const struct sim *sim) { return sim->buggify_fired_count; }

const struct sim_trace_record *sim_trace_records(const struct sim *sim, uint64_t *count)
{
  *count = sim->records_count;
  return sim->records;
}

void sim_trace_record_print(FILE *out, const struct sim_trace_record *record)
{
  fprintf(out, "%" PRIu64 " %" PRIu64 " %s 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64
          " 0x%" PRIx64 "\n", record->index, record->time_ns, record->kind, record->values[0],
          record->values[1], record->values[2], record->values[3]);
}
