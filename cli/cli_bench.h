/*
 * cli_bench.h: benchmarks behind `migsim bench` (reported, never timed
 * tests).  They measure wall-clock time, which is allowed here because
 * conformance/ is not on the simulated path.
 */
#ifndef CLI_BENCH_H
#define CLI_BENCH_H

#include "sim_base.h"

/* Hold-model event-queue benchmark; prints a table to out; returns an exit code. */
int cli_bench_events(FILE *out);
/* Fiber switches per second: native, ucontext, and resumed by events; prints a table. */
int cli_bench_fibers(FILE *out);
/*
 * `bench sim [FILE.json ...]`: each scenario (default: the catalog's bench-256m
 * and bench-1g, relative to the working directory) judged as `migsim run`
 * does, with wall and CPU time, peak RSS, events/s and stream MB/s.  Returns
 * the first non-pass verdict's exit code.
 */
int cli_bench_sim(FILE *out, int file_count, char **files);
/* AMD IOMMU translations per second, IOTLB hits and misses; prints a table to out. */
int cli_bench_iommu(FILE *out);
/*
 * Synthetic RAM: pages materialised and hashed per second, then a 64 GiB
 * synthetic guest migrated with a hot-set workload under both oracles, with
 * its wall time and peak RSS (VmHWM).  Returns an exit code (1 if the
 * migration does not pass).
 */
int cli_bench_ram(FILE *out);
/* `bench load|validate STREAM`: mode is "load" or "validate"; returns an exit code. */
int cli_bench_stream(FILE *out, const char *mode, const char *path);

#endif /* CLI_BENCH_H */
