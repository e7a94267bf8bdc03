/*
 * conform_matrix.h: the migration-compatibility regression matrix over the
 * simulated releases (models/compat.h; docs/compat.md, "migsim matrix").
 *
 * A cell is (source release, destination release, machine type, capability
 * set), or a chain (started on A, migrated to B, then to C).  Each cell gets
 * two verdicts:
 *
 * - static, from tables only: the machine type and capabilities both sides
 *   offer; the firmware RAM blocks' sizes; vmstate-diff (forward) of the two
 *   sides' -dump-vmstate JSON; the read-only PCI config bytes and the feature
 *   bits of each device (dev_class.guest_view), the features being those the
 *   guest negotiated on the release it started on;
 * - dynamic: a real simulated migration of a small guest (conform_check:
 *   the migrated run, the reference run and every oracle).
 *
 * They must agree: the same outcome, and for a refusal the same kind of
 * error in the same section.  A disagreement is a finding.  A cell the
 * dynamic run refuses while vmstate-diff of the dumps saw no error is
 * "schema-blind": what a static schema check cannot see.
 */
#ifndef CONFORM_MATRIX_H
#define CONFORM_MATRIX_H

#include "sim_base.h"
#include "compat.h"
#include "conform_scenario.h"
#include "mig_err.h"
#include "mig_stream.h"

#include <jansson.h>

#define CONFORM_MATRIX_CELLS_MAX 512u
#define CONFORM_MATRIX_CHAIN_HOPS 2u       /* a chain: A -> B -> C */
#define CONFORM_MATRIX_CAPS_COUNT 2u       /* "none", "switchover-ack" */

enum conform_matrix_outcome {
  CONFORM_MATRIX_NA,          /* a side does not offer the machine type: nothing to run */
  CONFORM_MATRIX_SETUP,       /* a side does not accept the capability set: refused at setup */
  CONFORM_MATRIX_PASS,        /* completed, every oracle held */
  CONFORM_MATRIX_REFUSED,     /* a destination refused the stream; the source ran on */
  CONFORM_MATRIX_CONDITIONAL, /* static only: warnings, the guest's state decides */
  CONFORM_MATRIX_VIOLATION,   /* dynamic only: an oracle broke */
};

const char *conform_matrix_outcome_name(enum conform_matrix_outcome outcome);

struct conform_matrix_verdict {
  enum conform_matrix_outcome outcome;
  char kind[24];              /* BAD_CONFIG_DATA, FEATURES, RAM_SIZE, VERSION, SUBSECTION,
                                 FIELD, SECTION, MACHINE, ...; "" when none */
  char section[64];           /* "simnet", "ram/sim.rom"; "" when none */
  char path[128];             /* the error's or finding's full path */
  char reason[320];           /* one line */
  char by[16];                /* static: "machine", "capabilities", "firmware",
                                 "vmstate-diff", "config-bytes", "features", "tables" */
};

struct conform_matrix_cell {
  uint32_t index;                               /* in the full matrix, before sharding */
  uint32_t releases[CONFORM_MATRIX_CHAIN_HOPS + 1]; /* started on, then each destination */
  uint32_t hop_count;                           /* 1: a pair; 2: a chain */
  uint32_t machine_index;                       /* the release that introduced sim-<M> */
  uint32_t capabilities;                        /* COMPAT_CAP_* */
  char id[64];                                  /* "1.0>1.1:sim-1.0:none" */
  struct conform_matrix_verdict expected;       /* static */
  struct conform_matrix_verdict observed;       /* dynamic */
  uint32_t diff_errors;                         /* vmstate-diff forward errors, every hop */
  uint32_t diff_warnings;
  bool agree;
  bool schema_blind;                            /* refused; vmstate-diff saw no error */
  uint64_t trace_digest;                        /* of the dynamic run (0: not run) */
  uint64_t events_count;
};

struct conform_matrix_options {
  uint32_t shard_index;                         /* --shard I/N: cells with index % N == I */
  uint32_t shard_count;                         /* >= 1 */
  uint32_t capability_sets;                     /* bit i: set i ("none", "switchover-ack") */
  bool no_chains;                               /* pairs only */
  bool static_only;                             /* skip the simulations */
};

struct conform_matrix_result {
  struct conform_matrix_cell *cells;            /* malloc'd; conform_matrix_result_deinit */
  uint32_t cell_count;                          /* in this shard */
  uint32_t total_count;                         /* in the whole matrix */
  uint32_t agree_count;
  uint32_t disagree_count;
  uint32_t schema_blind_count;
};

/* The capability set index's name ("none", "switchover-ack") and COMPAT_CAP_* bits. */
const char *conform_matrix_caps_name(uint32_t set_index);
uint32_t conform_matrix_caps_bits(uint32_t set_index);

/* With the capabilities of conform_matrix_scenario_text: the golden streams' small guest. */
#define CONFORM_MATRIX_GUEST_SMALL 0x100u

/*
 * The scenario text of a machine of releases[0] on machine type (its board:
 * a testdev and a simnet), migrating to each of releases[1..hop_count]
 * (hop_count 0: no migration): what a cell runs and what `dump-vmstate
 * --release` dumps.  A cell's guest has 8 MiB and writes for a second; with
 * CONFORM_MATRIX_GUEST_SMALL in capabilities, 1 MiB and a few pages.  False
 * when out_bytes is too small.
 */
bool conform_matrix_scenario_text(const uint32_t *releases, uint32_t hop_count,
                                  uint32_t machine_index, uint32_t capabilities, char *out,
                                  size_t out_bytes);

/* Runs the matrix (options' shard); false with why on an internal error. */
bool conform_matrix_run(const struct conform_matrix_options *options,
                        struct conform_matrix_result *result, char *why, size_t why_bytes);
void conform_matrix_result_deinit(struct conform_matrix_result *result);

/* Output: a terminal table, JSON (schema "migsim-matrix/1"), one self-contained HTML page. */
void conform_matrix_text(const struct conform_matrix_result *result, FILE *out);
/* golden: only what a golden matrix keeps (ids, outcomes, kinds, sections, reasons). */
json_t *conform_matrix_json(const struct conform_matrix_result *result,
                            const struct conform_matrix_options *options, bool golden);
void conform_matrix_html(const struct conform_matrix_result *result, FILE *out);

/*
 * Compares result with a golden matrix (the JSON above, or its "cells"
 * reduced to id, static and dynamic outcome, kind and section): prints one
 * line per changed or missing cell on out, naming the cell and both
 * reasons.  Returns the number of changes.
 */
uint32_t conform_matrix_golden_check(const struct conform_matrix_result *result,
                                     const json_t *golden, FILE *out);

/*
 * The scenario text of release's machine type machine (NULL: the newest it
 * offers) with no destination: what `dump-vmstate --release` dumps.  False
 * with why for an unknown release or a machine type it does not offer.
 */
bool conform_matrix_board_text(const char *release, const char *machine, char *out,
                               size_t out_bytes, char *why, size_t why_bytes);

/*
 * Golden streams (conformance/golden/): the stream release writes for
 * machine type machine_index (a migration to itself; stream is initialised
 * here, release it with mig_membuf_deinit), and the load of such a stream
 * into release's machine: MIG_OK or the loader's error.
 */
bool conform_matrix_stream_record(uint32_t release, uint32_t machine_index,
                                  struct mig_membuf *stream, char *why, size_t why_bytes);
enum mig_err conform_matrix_stream_load(uint32_t release, uint32_t machine_index,
                                        const uint8_t *bytes, size_t count,
                                        struct mig_error *error);
/* The static verdict of the pair from -> to on machine_index, capabilities none. */
bool conform_matrix_pair_expected(uint32_t from, uint32_t to, uint32_t machine_index,
                                  struct conform_matrix_verdict *verdict, char *why,
                                  size_t why_bytes);
/* A loader error's kind, as the matrix classes refusals ("BAD_CONFIG_DATA", ...). */
const char *conform_matrix_error_kind(const struct mig_error *error);

#endif /* CONFORM_MATRIX_H */
