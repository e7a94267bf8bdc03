/*
 * conform_explore.h: cut-point exploration (docs/campaign.md).
 *
 * A planted device bug is often caught only when the source stops while
 * the device holds state "in flight": a descriptor half copied, an MSI
 * pending, IOMMU commands queued, an invalidation owed, an optional
 * subsection's state held with its enable bit clear.  A fixed migrate time
 * stops the source wherever the seed's workload happens to be.  Exploration
 * aims the stop instead: the reference run logs when each kind of state was
 * in flight (conform_flight_state, sampled at every trace record), a probe
 * migration measures how long the migration takes to reach its stop, and
 * the migrate command moves so that the stop lands in the middle of one of
 * K in-flight intervals chosen from the seed.  The lead from migrate to stop
 * is not constant (a round more or less), so further probes (a migration
 * run only up to its stop) retarget: each moves the migrate command by the
 * distance from where its stop came to the nearest interval of the kind
 * (giving up an interval when the aims cycle around it), until a probe
 * stops with the kind in flight; the run itself, identical up to its stop,
 * then stops in that same state.
 *
 * The predicate is each device class's in_flight hook (machine_in_flight);
 * it changes nothing and is not traced, so a run's digest is the same
 * whether it is sampled or not.
 */
#ifndef CONFORM_EXPLORE_H
#define CONFORM_EXPLORE_H

#include "sim_base.h"
#include "machine.h"

/* Kinds of in-flight state: the devices' own (models/dev.h), one bit each. */
#define CONFORM_FLIGHT_KINDS DEV_FLIGHT_KINDS

enum conform_flight_kind {
#define CONFORM_FLIGHT_ENUM(name, text) CONFORM_FLIGHT_##name,
  CONFORM_FLIGHT_KINDS(CONFORM_FLIGHT_ENUM)
#undef CONFORM_FLIGHT_ENUM
  CONFORM_FLIGHT_KIND_COUNT
};

#define CONFORM_FLIGHT_INTERVALS_MAX 1024u  /* per kind; more are thinned, evenly */
#define CONFORM_CUT_POINTS_MAX 1024u        /* --cut-points K */

/* The kinds in flight on machine now: bit k set for enum conform_flight_kind k. */
uint32_t conform_flight_state(const struct machine *machine);
/* "msi-pending", ...; "none" for CONFORM_FLIGHT_KIND_COUNT. */
const char *conform_flight_name(uint32_t kind);
/* Writes the names of the bits of state, "+"-separated ("none" for 0), into out. */
void conform_flight_format(uint32_t state, char *out, size_t out_bytes);

struct conform_flight_interval {
  uint64_t from_ns;              /* the state rose at this record's time */
  uint64_t to_ns;                /* and fell at this one's (> from_ns) */
};

/* In-flight intervals of one run, per kind, in time order. */
struct conform_flight_log {
  uint32_t state;                /* at the last sample */
  uint64_t since_ns[CONFORM_FLIGHT_KIND_COUNT]; /* when each set bit rose */
  struct conform_flight_interval intervals[CONFORM_FLIGHT_KIND_COUNT]
                                          [CONFORM_FLIGHT_INTERVALS_MAX];
  uint32_t counts[CONFORM_FLIGHT_KIND_COUNT];  /* intervals kept */
  uint32_t stride_shift[CONFORM_FLIGHT_KIND_COUNT]; /* one in 2^shift intervals kept */
  uint64_t seen[CONFORM_FLIGHT_KIND_COUNT];    /* intervals closed */
};

/* Samples machine at now_ns: opens and closes intervals.  Zero the log before the first. */
void conform_flight_sample(struct conform_flight_log *log, const struct machine *machine,
                           uint64_t now_ns);
/* The same with the state given (conform_flight_sample's second half). */
void conform_flight_update(struct conform_flight_log *log, uint32_t state, uint64_t now_ns);

/* Where an explored run's migration was cut (the run's result carries it). */
struct conform_cut {
  bool explored;                 /* the migrate command was moved */
  uint32_t kind;                 /* the kind aimed at; CONFORM_FLIGHT_KIND_COUNT: none */
  uint32_t candidates_count;     /* in-flight moments to choose from (<= K) */
  uint64_t target_ns;            /* the moment the stop was aimed at */
  uint64_t migrate_ns;           /* the migrate command's new time */
  uint64_t original_ns;          /* its time in the scenario */
  uint32_t probes_count;         /* probe migrations run to find migrate_ns */
  bool verified;                 /* a probe at migrate_ns stopped with the kind in flight */
};

/*
 * Chooses the seed's moment among points candidates: round-robin over the
 * kinds the log saw, spread evenly over each kind's intervals (midpoints),
 * keeping only moments at or after earliest_ns.  False when there is none;
 * else *kind and *target_ns, and *candidates the number there were.
 */
bool conform_cut_choose(const struct conform_flight_log *log, uint32_t points, uint64_t seed,
                        uint64_t earliest_ns, uint32_t *kind, uint64_t *target_ns,
                        uint32_t *candidates);

/*
 * The midpoint of kind's logged interval nearest to time_ns among those at
 * or after earliest_ns and not in excluded[0, excluded_count); false when
 * there is none.
 */
bool conform_cut_nearest(const struct conform_flight_log *log, uint32_t kind, uint64_t time_ns,
                         uint64_t earliest_ns, const uint64_t *excluded,
                         uint32_t excluded_count, uint64_t *moment_ns);

#endif /* CONFORM_EXPLORE_H */
