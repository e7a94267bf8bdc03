/*
 * cli_sweep.h: `migsim run FILE --seeds A-B` (docs/campaign.md, docs/cli.md).
 *
 * A sweep judges one scenario at every seed of a range through
 * conform_check, in this process one seed after another, or with --jobs J
 * in J forked workers that take seeds from a queue; either way the output
 * comes in seed order: one line per failing seed (verdict, oracle, path and
 * the command that reproduces it), then the counts per verdict.  The exit
 * code is the most severe verdict seen (cli_sweep_severity), and a worker
 * that dies marks its seed CRASH (exit 128 + signal, as the shell would
 * show the process's death).  --report writes one JSON object with every
 * seed's result (conform_report_seed_json) for the campaign harness.
 */
#ifndef CLI_SWEEP_H
#define CLI_SWEEP_H

#include "sim_base.h"
#include "conform_scenario.h"

#define CLI_SWEEP_JOBS_MAX 64u
#define CLI_SWEEP_WINDOW 4096u      /* seeds dispatched ahead of the first unprinted one */
#define CLI_SWEEP_SEEDS_MAX (UINT64_C(1) << 32) /* seeds in one range */

struct cli_sweep_options {
  const char *file;                 /* the scenario file, NULL: the default scenario */
  uint64_t seed_first;              /* the range, both ends included */
  uint64_t seed_last;
  uint32_t jobs;                    /* 1: in this process; else forked workers */
  bool twice;                       /* --twice for every seed */
  uint32_t cut_points_flag;         /* --cut-points K given (reproduce lines repeat it); 0 */
  bool swarm_flag;                  /* --swarm given (reproduce lines repeat it) */
  const char *report;               /* optional JSON output */
  bool progress;                    /* a progress line on stderr */
};

/*
 * Parses "A-B" or "N" (numbers in the one syntax, cli_number_parse) into
 * [*first, *last]; NULL or a message ("A-B: B is below A", ...).
 */
const char *cli_seeds_parse(const char *text, uint64_t *first, uint64_t *last);

/*
 * Severity of an exit code, for the sweep's exit code: PASS 0 < LIVENESS <
 * ORACLE-VIOLATION < NONDETERMINISM < BAD-INPUT < CRASH (128 + signal).
 */
uint32_t cli_sweep_severity(int exit_code);

/* Runs the sweep of scenario (its seed is replaced); returns the exit code. */
int cli_sweep_run(const struct conform_scenario *scenario,
                  const struct cli_sweep_options *options);

#endif /* CLI_SWEEP_H */
