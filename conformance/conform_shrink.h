/*
 * conform_shrink.h: reduces a failing seed to a minimal scenario that still
 * fails the same oracle (`migsim shrink`, docs/faults.md "Shrinking"), and
 * replays regression files (`migsim regress`).
 *
 * The reducer edits the scenario's JSON, never the struct, so what it
 * writes is a scenario anyone can read and run.  First the seed's plan is
 * made explicit (a swarm draw becomes a "plan" list, swarm off) and the seed
 * written in.  Then, until a whole pass changes nothing or the run budget
 * is spent, it tries each edit in a fixed order: drop one fault, turn
 * BUGGIFY off, halve a fault's duration, drop one command that is not
 * "migrate", drop one device, halve the workload's duration, rate and fill,
 * halve a RAM block.  An edit stays when the scenario still parses and
 * conform_check gives the same verdict with the same oracle
 * (conform_failure.oracle).  The result carries "regress": {verdict,
 * oracle, found}, which `migsim regress` checks on every replay.
 */
#ifndef CONFORM_SHRINK_H
#define CONFORM_SHRINK_H

#include "sim_base.h"
#include "conform_run.h"

#define CONFORM_SHRINK_RUNS_DEFAULT 400u   /* conform_check calls at most */

/*
 * How one candidate ended: a verdict name (conform_verdict_name, or "CRASH"
 * when a check run in a child process died) and the failure's oracle.
 */
struct conform_shrink_outcome {
  char verdict[32];
  char oracle[32];                   /* "" for none */
  char failure[256];                 /* one line */
};

/*
 * Judges scenario into out.  The default (NULL) is conform_check in this
 * process; `migsim shrink` forks one child per run so a seed that crashes
 * the process shrinks too (its verdict is "CRASH").
 */
typedef void conform_shrink_check_fn(void *context, const struct conform_scenario *scenario,
                                     struct conform_shrink_outcome *out);
/* The default check, in this process. */
void conform_shrink_check(void *context, const struct conform_scenario *scenario,
                          struct conform_shrink_outcome *out);

/* Called after each tried edit: what it was and whether it stayed. */
typedef void conform_shrink_progress_fn(void *context, const char *edit, bool kept,
                                        uint32_t runs_count);

struct conform_shrink_options {
  uint64_t seed;                     /* the failing seed */
  bool swarm;                        /* as `run --swarm`: "faults": {"swarm": true} added */
  uint32_t runs_max;                 /* 0: CONFORM_SHRINK_RUNS_DEFAULT */
  conform_shrink_progress_fn *progress; /* optional */
  void *progress_context;
  conform_shrink_check_fn *check;    /* NULL: conform_shrink_check */
  void *check_context;
};

struct conform_shrink_result {
  char verdict[32];                  /* the seed's (and the shrunk scenario's) */
  char oracle[32];                   /* its failure's oracle, "" for none */
  char found[256];                   /* its failure text, cut to one line */
  uint32_t runs_count;               /* conform_check calls spent */
  uint32_t edits_kept;
  uint32_t faults_before;            /* faults of the seed's plan, and after */
  uint32_t faults_after;
  char *text;                        /* malloc'd: the shrunk scenario's JSON */
};

/*
 * Shrinks scenario text (named name) at options->seed.  False with error
 * when it does not parse or the seed passes (nothing to shrink).
 */
bool conform_shrink(const char *text, size_t length, const char *name,
                    const struct conform_shrink_options *options,
                    struct conform_shrink_result *result, char *error, size_t error_bytes);
void conform_shrink_result_deinit(struct conform_shrink_result *result);

/*
 * Replays a scenario with a "regress" key: true when conform_check's verdict
 * and oracle are the recorded ones; got says what came (for a message).
 */
bool conform_regress_check(const struct conform_scenario *scenario, char *got,
                           size_t got_bytes);

#endif /* CONFORM_SHRINK_H */
