/*
 * conform_run.h: runs a scenario and judges it.
 *
 * conform_run executes one simulation: the source machine boots, the
 * scenario's QMP-shaped commands fire at their times, and when "migrate"
 * runs, a destination machine is created from the same configuration and a
 * precopy migration carries the state over the simulated link.  With
 * migrate_enabled false it is the unmigrated reference run.
 *
 * A migration the source fails or cancels (a device refused, a RAM block
 * resized) is a clean failure; with migration.retry_delay_ns the run
 * migrates again that much later, up to migration.retries times, and
 * migration.expect says which final outcome passes.
 *
 * conform_check runs the migrated run and the reference run and applies the
 * oracles; with twice set it runs the migrated run again and requires the
 * same trace, naming the first divergent record otherwise.
 */
#ifndef CONFORM_RUN_H
#define CONFORM_RUN_H

#include "sim_base.h"
#include "conform_oracle.h"
#include "conform_scenario.h"
#include "mig_precopy.h"
#include "sim.h"

/* Exit codes of `migsim run` and friends (docs/cli.md). */
enum conform_verdict {
  CONFORM_PASS = 0,             /* every oracle held */
  CONFORM_ORACLE_VIOLATION = 1, /* switchover equality, transparency or clean failure broke */
  CONFORM_BAD_INPUT = 2,        /* usage or scenario error */
  CONFORM_LIVENESS = 3,         /* a bound was reached before the migration ended */
  CONFORM_NONDETERMINISM = 4,   /* --twice: the same seed gave a different trace */
};

const char *conform_verdict_name(enum conform_verdict verdict);

/* Called now and then during a run (see conform_run_options.progress). */
typedef void conform_progress_fn(void *context, uint64_t now_ns, uint64_t time_ns_max,
                                 uint64_t events_count);

struct conform_run_options {
  bool migrate_enabled;          /* false: reference run, migrate commands ignored */
  FILE *trace_text;              /* optional text trace */
  uint64_t trace_records_max;    /* records kept for --twice; 0 = none */
  struct mig_membuf *capture;    /* optional copy of the migration stream */
  conform_progress_fn *progress; /* optional; called outside the trace, changes nothing */
  void *progress_context;
};

struct conform_timeline_entry {
  uint64_t time_ns;
  const char *what;              /* static string: "migrate", "stop", "resume", ... */
  uint64_t value;                /* what-specific figure (bytes, pending, ...) */
};

#define CONFORM_TIMELINE_MAX 256
#define CONFORM_ATTEMPTS_MAX 16        /* migrations of one run whose streams are told apart */

/*
 * Where a run failed, for tools: which oracle, and the page, device/field or
 * stream error it names.  oracle is NULL on a pass (a migration that failed
 * cleanly, as expected, still fills path and offset).
 */
struct conform_failure {
  const char *oracle;            /* static: "switchover-equality", "transparency",
                                    "clean-failure", "invariant", "expectation", "load",
                                    "downtime", "liveness", "determinism", "reference" */
  char path[MIG_PATH_BYTES_MAX]; /* "ram/pc.ram/0x1f3000", "0000:00:05.0/vfio/...",
                                    a stream error's path, "trace/#N"; may be empty */
  uint64_t offset;               /* stream offset of the migration's error (has_offset) */
  bool has_offset;
};


struct conform_run_result {
  enum conform_verdict verdict;
  char failure[1024];            /* the first violation, with its page or device/field */
  struct conform_failure failure_at; /* the same, as fields */
  uint64_t seed;
  uint64_t trace_digest;
  uint64_t trace_count;          /* records appended */
  uint64_t events_count;
  uint64_t end_ns;               /* simulated time at the end */
  enum sim_run_result run_result;
  uint64_t guest_digest;         /* conform_guest_digest of the machine that ran last */
  bool migrated;                 /* a migration was started */
  struct mig_precopy_stats stats; /* of the last migration (a retry's, when there was one) */
  uint32_t failed_attempts_count; /* migrations the source failed or cancelled */
  struct mig_error first_error;  /* the first of them's error */
  uint64_t capture_starts[CONFORM_ATTEMPTS_MAX]; /* capture offset where each attempt began */
  uint32_t capture_attempt_count; /* attempts that wrote into the capture */
  struct conform_timeline_entry timeline[CONFORM_TIMELINE_MAX];
  uint32_t timeline_count;
  struct sim_trace_record *records; /* malloc'd copy, trace_records_max of them at most */
  uint64_t record_count;
  /* Reference run figures, filled by conform_check. */
  uint64_t reference_guest_digest;
  uint64_t reference_trace_digest;
  struct conform_snapshot final;   /* guest-visible state at the end (transparency) */
};

/* Runs one simulation; result must be released with conform_run_result_deinit. */
void conform_run(const struct conform_scenario *scenario,
                 const struct conform_run_options *options, struct conform_run_result *result);
void conform_run_result_deinit(struct conform_run_result *result);

/*
 * The full judgement: migrated run (result), reference run, oracles, and
 * with twice a second migrated run compared record by record, whatever the
 * first run's verdict (failing runs are the ones people replay): different
 * traces make the verdict CONFORM_NONDETERMINISM.
 */
void conform_check(const struct conform_scenario *scenario, bool twice, FILE *trace_text,
                   struct mig_membuf *capture, struct conform_run_result *result);
/* conform_check with the run options' trace, capture and progress taken from options. */
void conform_check_with(const struct conform_scenario *scenario, bool twice,
                        const struct conform_run_options *options,
                        struct conform_run_result *result);

/*
 * Runs the default scenario through conform_check and keeps its migration
 * stream in capture (initialised here, up to 1 GiB; release it with
 * mig_membuf_deinit). Returns false with a message when the scenario does not
 * parse, does not pass, or wrote no stream.
 */
bool conform_capture_default(struct mig_membuf *capture, char *error, size_t error_bytes);

#endif /* CONFORM_RUN_H */
