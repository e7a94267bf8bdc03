/*
 * sim_fiber.h: a blocking-style task run inside the simulation.
 *
 * Some code is clearest written as a straight-line reader that blocks for
 * input, as QEMU's incoming migration is.  A fiber runs such code on its own
 * thread with a strict hand-off: exactly one of the simulation thread and the
 * fiber runs at any moment, and control passes only at sim_fiber_resume and
 * sim_fiber_yield, so the result is as deterministic as a coroutine.  The
 * fiber must only touch the simulation while it holds control.
 */
#ifndef SIM_FIBER_H
#define SIM_FIBER_H

#include "sim.h"

struct sim_fiber;
typedef void sim_fiber_fn(struct sim_fiber *fiber, void *context);

/* Allocates from the sim's arena; the body starts at the first resume. */
struct sim_fiber *sim_fiber_create(struct sim *sim, sim_fiber_fn *body, void *context);
/* From the simulation thread: runs the fiber until it yields or returns. */
void sim_fiber_resume(struct sim_fiber *fiber);
/*
 * From the fiber: gives control back to whoever resumed it.  Returns false
 * when the fiber is being cancelled; the body must then return promptly
 * without yielding again.
 */
bool sim_fiber_yield(struct sim_fiber *fiber);
bool sim_fiber_done(const struct sim_fiber *fiber);
bool sim_fiber_cancelled(const struct sim_fiber *fiber);
/*
 * Ends the fiber: a started, unfinished fiber is cancelled and resumed until
 * its body returns; then its thread is joined.  Called by sim_destroy for
 * fibers still alive, in creation order.
 */
void sim_fiber_destroy(struct sim_fiber *fiber);

#endif /* SIM_FIBER_H */
