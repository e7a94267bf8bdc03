/*
 * conform_postcopy.h: switchover equality when the destination runs before
 * its RAM is whole (postcopy; DESIGN.md "The oracles").
 *
 * At POSTCOPY_RUN the destination's devices (everything the package
 * carried) must equal the source's at its stop, and the destination's
 * dirty log starts afresh.  When the load ends, every page the
 * destination's guest has not written since RUN must equal the source's
 * page at its stop: the pages it did write are the guest's own results,
 * which the transparency oracle (an unmigrated run) judges.
 */
#ifndef CONFORM_POSTCOPY_H
#define CONFORM_POSTCOPY_H

#include "sim_base.h"
#include "conform_oracle.h"
#include "machine.h"

/* At RUN; layout as conform_snapshot_compare_as's.  failure: "PATH: what". */
bool conform_postcopy_run_check(const struct conform_snapshot *switchover, struct machine *dest,
                                const struct machine *layout, char *failure,
                                size_t failure_bytes);
/* When the load ended (after a run check on the same destination). */
bool conform_postcopy_loaded_check(const struct conform_snapshot *switchover,
                                   const struct machine *dest, const struct machine *layout,
                                   char *failure, size_t failure_bytes);

#endif /* CONFORM_POSTCOPY_H */
