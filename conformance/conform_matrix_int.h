/*
 * conform_matrix_int.h: what conform_matrix*.c share (private to
 * conformance/; the interface is conform_matrix.h).
 */
#ifndef CONFORM_MATRIX_INT_H
#define CONFORM_MATRIX_INT_H

#include "sim_base.h"
#include "conform_matrix.h"
#include "conform_run.h"
#include "mig_err.h"

struct mig_vmsd_file;

/* One matrix run's caches: each (release, machine type) is built and dumped once. */
struct conform_matrix {
  struct mig_vmsd_file *dumps[COMPAT_RELEASES_COUNT][COMPAT_RELEASES_COUNT];
  json_t *dump_json[COMPAT_RELEASES_COUNT][COMPAT_RELEASES_COUNT]; /* the same, for x-sent */
  struct machine_config *configs[COMPAT_RELEASES_COUNT][COMPAT_RELEASES_COUNT];
  struct conform_scenario *scenario;   /* scratch, malloc'd (it is large) */
  struct conform_run_result result;    /* scratch */
};

void conform_matrix__init(struct conform_matrix *matrix);
void conform_matrix__deinit(struct conform_matrix *matrix);
bool conform_matrix__scenario(struct conform_matrix *matrix, const uint32_t *releases,
                              uint32_t hop_count, uint32_t machine_index,
                              uint32_t capabilities, char *why, size_t why_bytes);
void conform_matrix__section(const char *path, char *out, size_t out_bytes);

#endif /* CONFORM_MATRIX_INT_H */
