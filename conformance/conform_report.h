/*
 * conform_report.h: the human summary and the JSON report of a run.
 *
 * Both are computed from the result after the run; this is the only place
 * floating point appears (STYLE R18).  The JSON report carries the verdict,
 * seed, digests, query-migrate-shaped statistics, the timeline and the
 * command that reproduces the run (docs/cli.md shows an example).
 */
#ifndef CONFORM_REPORT_H
#define CONFORM_REPORT_H

#include "sim_base.h"
#include "conform_run.h"

#include <jansson.h>

/* The tool's version, named in every report and by `migsim --version`. */
#define CONFORM_TOOL_VERSION "migsim 0.7.0"

/* repro is the command line that reproduces the run. */
void conform_report_summary(FILE *out, const struct conform_scenario *scenario,
                            const struct conform_run_result *result, const char *repro);
/* Writes the JSON report to path; false (with errno) when the file can't be written. */
bool conform_report_write(const char *path, const struct conform_scenario *scenario,
                          const struct conform_run_result *result, const char *repro);

/*
 * One seed of a sweep as a JSON object (jansson; the caller owns it): the
 * report's verdict, failure, digests, query-migrate, rounds and cut, without
 * the timeline, plus "faults" (the fault kinds injected: [] until fault plans
 * exist), "reproduce" and "shrink" (null until then).  docs/campaign.md.
 */
json_t *conform_report_seed_json(const struct conform_scenario *scenario,
                                 const struct conform_run_result *result, const char *repro);

#endif /* CONFORM_REPORT_H */
