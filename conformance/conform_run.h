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
#include "conform_explore.h"
#include "conform_faults.h"
#include "conform_oracle.h"
#include "conform_scenario.h"
#include "mig_plug.h"
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

/*
 * The hash chain of a run, for --twice: the running trace digest after every
 * 2^shift-th record of [from, to) (at most CONFORM_CHAIN_CHECKPOINTS_MAX of
 * them: when more would come, every other one is dropped and the spacing
 * doubles, so a run of any length fits), and the records of [keep_from,
 * keep_to) themselves (at most CONFORM_CHAIN_KEEP_MAX).  conform_check
 * compares two runs' chains to find the first window where they part, then
 * runs both again keeping only that window's records.
 */
#define CONFORM_CHAIN_CHECKPOINTS_MAX 4096u
#define CONFORM_CHAIN_KEEP_MAX (UINT64_C(1) << 16)

struct conform_chain {
  uint64_t from;                 /* first record index checkpointed */
  uint64_t to;                   /* records at or past it are neither checkpointed nor kept */
  uint32_t shift;                /* checkpoint j follows record from + (j + 1) * 2^shift - 1 */
  uint64_t *digests;             /* malloc'd, CONFORM_CHAIN_CHECKPOINTS_MAX */
  uint32_t count;                /* checkpoints taken */
  uint64_t keep_from;            /* records kept: [keep_from, keep_to) */
  uint64_t keep_to;
  struct sim_trace_record *records; /* malloc'd, keep_to - keep_from at most */
  uint64_t records_count;
};

struct conform_run_options {
  bool migrate_enabled;          /* false: reference run, migrate commands ignored */
  FILE *trace_text;              /* optional text trace */
  struct conform_chain *chain;   /* optional hash chain, set up by the caller */
  struct mig_membuf *capture;    /* optional copy of the migration stream */
  conform_progress_fn *progress; /* optional; called outside the trace, changes nothing */
  void *progress_context;
  bool stop_at_switchover;       /* a probe: the run ends when the source stops */
  struct conform_flight_log *flight_log; /* optional: in-flight device state, sampled */
};

/*
 * One line of the report's timeline.  QMP's events come as "MIGRATION"
 * (detail: the status, value: 0 source, 1 destination) and
 * "MIGRATION_PASS" (value: the pass, QEMU's dirty-sync-count); a command
 * QEMU would refuse at that moment as "qmp-error" (detail: QEMU's text,
 * value: the status then).
 */
struct conform_timeline_entry {
  uint64_t time_ns;
  const char *what;              /* static string: "migrate", "stop", "MIGRATION", ... */
  uint64_t value;                /* what-specific figure (bytes, pending, ...) */
  const char *detail;            /* static string or NULL: a status, an error text */
};

#define CONFORM_TIMELINE_MAX 512
#define CONFORM_ATTEMPTS_MAX 16        /* migrations of one run whose streams are told apart */

/*
 * Where a run failed, for tools: which oracle, and the page, device/field or
 * stream error it names.  oracle is NULL on a pass (a migration that failed
 * cleanly, as expected, still fills path and offset).
 */
struct conform_failure {
  const char *oracle;            /* static: "switchover-equality", "transparency",
                                    "clean-failure", "invariant", "expectation", "load",
                                    "downtime", "liveness", "determinism", "reference",
                                    "state-transition", "exactly-once" (postcopy: a page
                                    applied twice or never, mig_postcopy.h),
                                    "shared-memory" (a client read a page not yet
                                    there, models/shmclient.h) */
  char path[MIG_PATH_BYTES_MAX]; /* "ram/pc.ram/0x1f3000", "0000:00:05.0/vfio/...",
                                    a stream error's path, "trace/#N"; may be empty */
  uint64_t offset;               /* stream offset of the migration's error (has_offset) */
  bool has_offset;
};

/*
 * One round of precopy (a full pass over RAM), from the engine's "mig.round"
 * record: its dirty-log sync found pending_bytes still to send.
 */
struct conform_round {
  uint64_t time_ns;              /* when the pass ended */
  uint64_t pending_bytes;        /* dirty RAM (and vfio data) after the pass's sync */
  uint64_t threshold_bytes;      /* bandwidth x downtime-limit: at or below it, stop */
  uint64_t transferred_bytes;    /* stream bytes written so far */
};

#define CONFORM_ROUNDS_MAX 64

/* --twice: the first record where two runs of one seed differ. */
struct conform_divergence {
  bool diverged;                 /* the trace digests or lengths differ */
  bool located;                  /* the record was found (else only the window) */
  uint64_t index;                /* its index in the trace */
  struct sim_trace_record first; /* run 1's record there (kind NULL: its trace had ended) */
  struct sim_trace_record second; /* run 2's */
  uint64_t window_from;          /* the checkpoints last agree before window_from, */
  uint64_t window_to;            /* and first disagree by window_to */
  uint32_t reruns_count;         /* pairs of runs spent to narrow the window */
};

struct conform_run_result {
  enum conform_verdict verdict;
  char failure[1024];            /* the first violation, with its page or device/field */
  struct conform_failure failure_at; /* the same, as fields */
  struct conform_plan faults;    /* the fault plan this run used (swarm: the seed's draw) */
  struct conform_faults_summary faults_fired; /* what fired (zero without a plan) */
  bool guest_lost;               /* a crash took the only copy of the guest: the run
                                    cannot finish the reference's program (docs/faults.md) */
  bool reverted;                 /* management went back to the source after completion */
  uint64_t seed;
  uint64_t trace_digest;
  uint64_t trace_count;          /* records appended */
  uint64_t events_count;
  uint64_t end_ns;               /* simulated time at the end */
  enum sim_run_result run_result;
  uint64_t guest_digest;         /* conform_guest_digest of the machine that ran last */
  bool migrated;                 /* a migration was started */
  struct mig_precopy_stats stats; /* of the last migration (a retry's, when there was one) */
  bool plugged;                  /* the last migration had postcopy-ram or multifd on */
  struct mig_plug_stats plug;    /* ...and its plug-in's figures (mig_plug.h) */
  uint32_t shm_client_count;     /* the last destination's shared-memory clients */
  struct shmclient_stats shm_clients[CONFORM_SHM_CLIENTS_MAX]; /* ...their figures */
  uint64_t conn_packets_lost;    /* carried main connections (every attempt, both ways):
                                    packets lost, burst-lost or partitioned beneath */
  uint32_t conn_broken_count;    /* ...their directions that a reset broke */
  uint32_t failed_attempts_count; /* migrations the source failed or cancelled */
  struct mig_error first_error;  /* the first of them's error */
  uint64_t capture_starts[CONFORM_ATTEMPTS_MAX]; /* capture offset where each attempt began */
  uint32_t capture_attempt_count; /* attempts that wrote into the capture */
  struct conform_timeline_entry timeline[CONFORM_TIMELINE_MAX];
  uint32_t timeline_count;
  struct conform_round rounds[CONFORM_ROUNDS_MAX]; /* the last migration's, in order */
  uint32_t rounds_count;         /* its rounds (only the first CONFORM_ROUNDS_MAX kept) */
  struct conform_divergence divergence; /* --twice: where the runs part */
  struct conform_cut cut;        /* cut-point exploration: where the migration was cut */
  uint32_t stop_flight;          /* conform_flight_state of the source when it stopped */
  /* Reference run figures, filled by conform_check. */
  uint64_t reference_guest_digest;
  uint64_t reference_trace_digest;
  struct conform_snapshot final;   /* guest-visible state at the end (transparency) */
};

/* Sets up chain (see struct conform_chain); release it with conform_chain_deinit. */
void conform_chain_init(struct conform_chain *chain, uint64_t from, uint64_t to, uint32_t shift,
                        uint64_t keep_from, uint64_t keep_to);
void conform_chain_deinit(struct conform_chain *chain);

#ifdef SIM_TEST_NONDETERMINISM
/*
 * Test-only build (out/<variant>/cli_nondet_test, configure.py): every second
 * migrated run in the process gets one more event at conform_test_perturb_ns
 * (default CONFORM_TEST_PERTURB_NS), which traces "test.perturb" and writes
 * one guest byte, so --twice must report it; a run of CONFORM_TEST_CRASH_SEED
 * aborts, so a sweep must report a CRASH.  That build also keeps 16
 * checkpoints and 64 records per chain, so a short run's search narrows its
 * window in two pairs of re-runs.
 */
#define CONFORM_TEST_PERTURB_NS UINT64_C(650000001)
#define CONFORM_TEST_CRASH_SEED UINT64_C(57005) /* 0xdead: that build aborts on this seed */
extern uint64_t conform_test_perturb_ns;
#endif

/* Runs one simulation; result must be released with conform_run_result_deinit. */
void conform_run(const struct conform_scenario *scenario,
                 const struct conform_run_options *options, struct conform_run_result *result);
void conform_run_result_deinit(struct conform_run_result *result);

/*
 * The full judgement: migrated run (result), reference run, oracles, and
 * with twice a second migrated run compared through their hash chains,
 * whatever the first run's verdict (failing runs are the ones people
 * replay): different traces make the verdict CONFORM_NONDETERMINISM, and
 * result->divergence names the first record that differs.  With
 * scenario->cut_points_count set, the reference runs first and the migrate
 * command moves (conform_explore.h; result->cut says where).
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
