/*
 * conform_faults.h: a scenario's fault plan at run time (docs/faults.md).
 *
 * conform_run creates one conform_faults per migrated run.  It arms every
 * fault of the plan (conform_plan.h): a time trigger is an event from the
 * start; a state trigger waits for the engine's progress hook to report the
 * side entering the state, then fires after_ns later; a section or page
 * trigger fires when the source's counts reach it.  A fired fault acts
 * through small hooks: link knobs through link_faults_set on the attempt's
 * links (forward: the migration stream, reverse: the return path), crashes
 * and a slow destination through mig_precopy_crash / mig_precopy_dest_delay,
 * return-path loss through the engine's return-path filter, migrate-cancel
 * and the management layer's `cont` through the run's callbacks.  At
 * heal_ns every fault heals.  Every firing is traced "fault.fire" (index,
 * kind), every heal "fault.heal", so the trace says what happened.
 *
 * The summary tells the checkers what to expect (docs/faults.md, "What the
 * checkers expect"): a terminal fault (crash, cancel, revert) ends the
 * story; a damaging one (lost, duplicated, reordered or flipped packets on
 * the raw link, a partition, a source crash) makes a destination's refusal
 * a clean failure; after heal_ns, with no terminal fault, the migration must
 * complete within liveness_ns.
 *
 * Swarm mode (conform_faults_swarm): each seed draws its own set of kinds
 * (some entirely off, as in swarm testing) and parameters from the stream
 * "faults.swarm" of its seed, so the plan is a pure function of (scenario,
 * seed) and is written into the report and the shrinker's output.
 */
#ifndef CONFORM_FAULTS_H
#define CONFORM_FAULTS_H

#include "sim_base.h"
#include "conform_plan.h"
#include "conform_scenario.h"
#include "mig_precopy.h"
#include "sim.h"
#include "sim_link.h"

struct conform_faults;

/* What only the run can do: QMP migrate-cancel, and `cont` on the source. */
struct conform_faults_env {
  void *context;
  void (*cancel)(void *context);
  void (*resume_source)(void *context);
  bool (*disk_full)(void *context);  /* file:'s disk fills up; false without a file */
};

/* What fired, for the checkers and the report. */
struct conform_faults_summary {
  uint32_t fired_count;              /* faults that fired */
  uint32_t skipped_count;            /* fired with nothing to act on (no multifd, no file:) */
  uint64_t fired_mask;               /* bit i: plan fault i fired */
  bool terminal;                     /* a crash, cancel or revert fired: no retry, no bound */
  bool damaging;                     /* the raw stream may have lost or changed bytes */
  bool slow;                         /* a slow destination: downtime is not the engine's */
  bool revert_fired;                 /* the management layer went back to the source */
  bool healed;                       /* heal_ns passed */
};

/*
 * The plan a run of scenario uses: its "faults" plan, plus, with swarm, the
 * faults seed draws (and heal_ns when absent, and buggify by chance).
 */
void conform_faults_swarm(const struct conform_scenario *scenario, struct conform_plan *plan);

/* Arena-allocated; plan must outlive the run (the run's copy). */
struct conform_faults *conform_faults_create(struct sim *sim, const struct conform_plan *plan,
                                             const struct conform_faults_env *env);
/* A migration attempt: its engine and links (reverse NULL without a return path). */
void conform_faults_attempt(struct conform_faults *faults, struct mig_precopy *precopy,
                            const struct machine *source, struct link *forward,
                            struct link *reverse);
/* The attempt's plug-in: multifd-channel-fail acts on it; carried channels take link faults. */
struct mig_plug;
void conform_faults_plug(struct conform_faults *faults, struct mig_plug *plug);
/* The engine's progress hook, forwarded by the run. */
void conform_faults_progress(struct conform_faults *faults, enum mig_precopy_point point);
/*
 * The destination loaded everything (before it runs): true when a revert
 * fault takes the management layer back to the source (the run keeps the
 * destination paused and resumes the source).
 */
bool conform_faults_revert_now(struct conform_faults *faults);
/* A retry after a failure is due at this time; false when none (terminal, no heal). */
bool conform_faults_retry_at(const struct conform_faults *faults, uint64_t now_ns,
                             uint64_t *at_ns);
const struct conform_faults_summary *conform_faults_summary(const struct conform_faults *faults);
/* True when a crash fault killed machine's process: nobody may resume it. */
bool conform_faults_machine_dead(const struct conform_faults *faults,
                                 const struct machine *machine);

#endif /* CONFORM_FAULTS_H */
