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
/* AMD IOMMU translations per second, IOTLB hits and misses; prints a table to out. */
int conform_bench_iommu(FILE *out);

#endif /* CONFORM_BENCH_H */
