/*
 * sim_fiber.h: a blocking-style task run inside the simulation.
 *
 * Some code is clearest written as a straight-line reader that blocks for
 * input, as QEMU's incoming migration is.  A fiber runs such code on its own
 * stack with a strict hand-off: exactly one of the resumer and the fiber runs
 * at any moment, and control passes only at sim_fiber_resume and
 * sim_fiber_yield, so the result is as deterministic as a coroutine.  It is
 * one: the switch is a user-space stack switch on the calling thread (a few
 * instructions on x86-64 and aarch64, swapcontext elsewhere), never a thread.
 *
 * Each fiber's stack (SIM_FIBER_STACK_BYTES, mapped at the first resume) sits
 * above a PROT_NONE guard (SIM_FIBER_GUARD_BYTES), so an overflow faults
 * instead of writing into its neighbour.  Under AddressSanitizer every switch
 * is announced with __sanitizer_start/finish_switch_fiber.  There is no cap on
 * the number of fibers other than memory.
 */
#ifndef SIM_FIBER_H
#define SIM_FIBER_H

#include "sim.h"

struct sim_fiber;
typedef void sim_fiber_fn(struct sim_fiber *fiber, void *context);

/* How a fiber switches stacks. */
enum sim_fiber_switch {
  SIM_FIBER_SWITCH_NATIVE,    /* the per-architecture switch; ucontext where there is none */
  SIM_FIBER_SWITCH_UCONTEXT,  /* swapcontext, the portable fallback (tests pick it) */
};

/* Allocates from the sim's arena; the body starts at the first resume. */
struct sim_fiber *sim_fiber_create(struct sim *sim, sim_fiber_fn *body, void *context);
/* Same, with an explicit switch (tests run the fallback on hosts with a native one). */
struct sim_fiber *sim_fiber_create_with(struct sim *sim, sim_fiber_fn *body, void *context,
                                        enum sim_fiber_switch kind);
/*
 * Runs the fiber until it yields or returns.  Any code that is not the fiber
 * itself may resume it (the event loop, or another fiber: then that fiber is
 * the one the yield returns to).
 */
void sim_fiber_resume(struct sim_fiber *fiber);
/*
 * From the fiber: gives control back to whoever resumed it.  Returns false
 * when the fiber is being cancelled; the body must then return promptly
 * without yielding again.
 */
bool sim_fiber_yield(struct sim_fiber *fiber);
bool sim_fiber_done(const struct sim_fiber *fiber);
bool sim_fiber_cancelled(const struct sim_fiber *fiber);
/* The switch this build gives SIM_FIBER_SWITCH_NATIVE: "x86-64", "aarch64" or "ucontext". */
const char *sim_fiber_switch_name(enum sim_fiber_switch kind);
/*
 * Ends the fiber: a started, unfinished fiber is cancelled and resumed until
 * its body returns; then its stack is unmapped.  Called by sim_destroy for
 * fibers still alive, in creation order.  Not from the fiber itself.
 */
void sim_fiber_destroy(struct sim_fiber *fiber);

#endif /* SIM_FIBER_H */
