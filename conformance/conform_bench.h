/*
 * conform_bench.h: benchmarks behind `migsim bench` (reported, never timed
 * tests).  They measure wall-clock time, which is allowed here because
 * conformance/ is not on the simulated path.
 */
#ifndef CONFORM_BENCH_H
#define CONFORM_BENCH_H

#include "sim_base.h"

/* Hold-model event-queue benchmark; prints a table to out; returns an exit code. */
int conform_bench_events(FILE *out);
/* `bench load|validate STREAM`: mode is "load" or "validate"; returns an exit code. */
int conform_bench_stream(FILE *out, const char *mode, const char *path);

#endif /* CONFORM_BENCH_H */
