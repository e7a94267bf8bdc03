/*
 * conform_explore.c: what is in flight in a machine, the in-flight log of a
 * run, and the choice of a cut point (overview in conform_explore.h).
 */
#include "sim_base.h"

#include "conform_explore.h"

_Static_assert((int)CONFORM_FLIGHT_KIND_COUNT == (int)DEV_FLIGHT_KIND_COUNT, "the same kinds");
#include "sim_prng.h"

static const char *const flight_names[CONFORM_FLIGHT_KIND_COUNT + 1] = {
#define CONFORM_FLIGHT_NAME(name, text) text,
    CONFORM_FLIGHT_KINDS(CONFORM_FLIGHT_NAME)
#undef CONFORM_FLIGHT_NAME
    "none"};

const char *conform_flight_name(uint32_t kind)
{
  return flight_names[SIM_MIN(kind, (uint32_t)CONFORM_FLIGHT_KIND_COUNT)];
}

void conform_flight_format(uint32_t state, char *out, size_t out_bytes)
{
  SIM_ASSERT(out_bytes > 0);
  size_t at = 0;
  out[0] = 0;
  for (uint32_t kind = 0; kind < CONFORM_FLIGHT_KIND_COUNT; kind++) {
    if ((state & (UINT32_C(1) << kind)) == 0 || at >= out_bytes) continue;
    int wrote = snprintf(out + at, out_bytes - at, "%s%s", at > 0 ? "+" : "",
                         flight_names[kind]);
    at += wrote > 0 ? (size_t)wrote : 0;
  }
  if (at == 0) snprintf(out, out_bytes, "none");
}

uint32_t conform_flight_state(const struct machine *machine)
{
  return machine_in_flight(machine);
}

/* Keeps one interval in 2^stride_shift; a full array drops every other one kept. */
static void flight_interval_add(struct conform_flight_log *log, uint32_t kind,
                                uint64_t from_ns, uint64_t to_ns)
{
  SIM_ASSERT(kind < CONFORM_FLIGHT_KIND_COUNT);
  SIM_ASSERT(from_ns < to_ns);
  uint64_t seen = log->seen[kind]++;
  if ((seen & ((UINT64_C(1) << log->stride_shift[kind]) - 1)) != 0) return;
  struct conform_flight_interval *intervals = log->intervals[kind];
  if (log->counts[kind] == CONFORM_FLIGHT_INTERVALS_MAX) {
    for (uint32_t i = 0; i < CONFORM_FLIGHT_INTERVALS_MAX / 2; i++) {
      intervals[i] = intervals[2 * i];
    }
    log->counts[kind] = CONFORM_FLIGHT_INTERVALS_MAX / 2;
    log->stride_shift[kind]++;
    if ((seen & ((UINT64_C(1) << log->stride_shift[kind]) - 1)) != 0) return;
  }
  intervals[log->counts[kind]++] = (struct conform_flight_interval){from_ns, to_ns};
}

void conform_flight_sample(struct conform_flight_log *log, const struct machine *machine,
                           uint64_t now_ns)
{
  conform_flight_update(log, conform_flight_state(machine), now_ns);
}

void conform_flight_update(struct conform_flight_log *log, uint32_t state, uint64_t now_ns)
{
  uint32_t changed = state ^ log->state;
  for (uint32_t kind = 0; changed != 0 && kind < CONFORM_FLIGHT_KIND_COUNT; kind++) {
    uint32_t bit = UINT32_C(1) << kind;
    if ((changed & bit) == 0) continue;
    if ((state & bit) != 0) {
      log->since_ns[kind] = now_ns;
    } else if (now_ns > log->since_ns[kind]) {
      flight_interval_add(log, kind, log->since_ns[kind], now_ns); /* zero-length: skipped */
    }
  }
  log->state = state;
}

/* The midpoint of the n-th of count evenly spread intervals of kind at or after earliest. */
static bool cut_moment(const struct conform_flight_log *log, uint32_t kind, uint64_t nth,
                       uint64_t count, uint64_t earliest_ns, uint64_t *moment_ns)
{
  uint32_t first = 0;
  const struct conform_flight_interval *intervals = log->intervals[kind];
  while (first < log->counts[kind] &&
         intervals[first].from_ns + (intervals[first].to_ns - intervals[first].from_ns) / 2 <
             earliest_ns) {
    first++;
  }
  uint32_t usable = log->counts[kind] - first;
  if (usable == 0) return false;
  SIM_ASSERT(nth < count);
  uint64_t index = first + (nth * usable + usable / 2) / count;
  SIM_ASSERT(index < log->counts[kind]);
  const struct conform_flight_interval *chosen = &intervals[index];
  *moment_ns = chosen->from_ns + (chosen->to_ns - chosen->from_ns) / 2;
  return true;
}

bool conform_cut_choose(const struct conform_flight_log *log, uint32_t points, uint64_t seed,
                        uint64_t earliest_ns, uint32_t *kind, uint64_t *target_ns,
                        uint32_t *candidates)
{
  SIM_ASSERT(points > 0 && points <= CONFORM_CUT_POINTS_MAX);
  uint32_t kinds[CONFORM_FLIGHT_KIND_COUNT];
  uint32_t kind_count = 0;
  for (uint32_t k = 0; k < CONFORM_FLIGHT_KIND_COUNT; k++) {
    uint64_t unused;
    if (cut_moment(log, k, 0, 1, earliest_ns, &unused)) kinds[kind_count++] = k;
  }
  *candidates = 0;
  if (kind_count == 0) return false;
  /* Candidate c is kind c % kind_count's (c / kind_count)-th of its share of points. */
  uint64_t state = seed ^ UINT64_C(0x6375742d706f696e); /* "cut-poin": this use's stream */
  uint64_t c = sim_splitmix64(&state) % points;
  uint32_t k = (uint32_t)(c % kind_count);
  uint64_t share = points / kind_count + (k < points % kind_count ? 1 : 0);
  *kind = kinds[k];
  *candidates = points;
  return cut_moment(log, kinds[k], c / kind_count, share, earliest_ns, target_ns);
}

bool conform_cut_nearest(const struct conform_flight_log *log, uint32_t kind, uint64_t time_ns,
                         uint64_t earliest_ns, const uint64_t *excluded,
                         uint32_t excluded_count, uint64_t *moment_ns)
{
  SIM_ASSERT(kind < CONFORM_FLIGHT_KIND_COUNT);
  bool found = false;
  uint64_t best_distance = UINT64_MAX;
  for (uint32_t i = 0; i < log->counts[kind]; i++) {
    const struct conform_flight_interval *interval = &log->intervals[kind][i];
    uint64_t middle = interval->from_ns + (interval->to_ns - interval->from_ns) / 2;
    bool skip = middle < earliest_ns;
    for (uint32_t j = 0; j < excluded_count && !skip; j++) skip = excluded[j] == middle;
    if (skip) continue;
    uint64_t distance = middle > time_ns ? middle - time_ns : time_ns - middle;
    if (distance >= best_distance) continue;
    best_distance = distance;
    *moment_ns = middle;
    found = true;
  }
  return found;
}
