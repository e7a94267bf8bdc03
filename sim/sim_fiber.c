/*
 * sim_fiber.c: blocking-style tasks on threads with a strict hand-off
 * (contract in sim_fiber.h).
 *
 * `turn` says who may run: the simulation thread or the fiber.  Each side
 * sets the other's turn under the mutex, signals, and waits for its own
 * turn to come back, so exactly one of them runs at any time and the order
 * of everything they do is fixed by the hand-off points alone.
 */
#include "sim_base.h"

#include "sim.h"
#include "sim_fiber.h"

enum fiber_turn { TURN_SIM, TURN_FIBER };

struct sim_fiber {
  struct sim *sim;
  sim_fiber_fn *body;
  void *context;
  pthread_mutex_t mutex;
  pthread_cond_t wake;
  enum fiber_turn turn;       /* who runs now; guarded by mutex */
  bool started;               /* thread created */
  bool done;                  /* body returned */
  bool cancelled;             /* destroy asked the body to unwind */
  bool joined;
  pthread_t thread;
};

void sim__fiber_register(struct sim *sim, struct sim_fiber *fiber);

/* Hands control to `to` and waits until it is handed back to `self`. */
static void fiber_switch(struct sim_fiber *fiber, enum fiber_turn to, enum fiber_turn self)
{
  pthread_mutex_lock(&fiber->mutex);
  SIM_ASSERT(fiber->turn == self);
  fiber->turn = to;
  pthread_cond_broadcast(&fiber->wake);
  while (fiber->turn != self) pthread_cond_wait(&fiber->wake, &fiber->mutex);
  pthread_mutex_unlock(&fiber->mutex);
}

static void *fiber_thread(void *argument)
{
  struct sim_fiber *fiber = argument;
  pthread_mutex_lock(&fiber->mutex);
  while (fiber->turn != TURN_FIBER) pthread_cond_wait(&fiber->wake, &fiber->mutex);
  pthread_mutex_unlock(&fiber->mutex);
  if (!fiber->cancelled) fiber->body(fiber, fiber->context);
  pthread_mutex_lock(&fiber->mutex);
  fiber->done = true;
  fiber->turn = TURN_SIM;
  pthread_cond_broadcast(&fiber->wake);
  pthread_mutex_unlock(&fiber->mutex);
  return NULL;
}

struct sim_fiber *sim_fiber_create(struct sim *sim, sim_fiber_fn *body, void *context)
{
  SIM_ASSERT(body != NULL);
  struct sim_fiber *fiber = sim_alloc(sim, sizeof(*fiber));
  fiber->sim = sim;
  fiber->body = body;
  fiber->context = context;
  fiber->turn = TURN_SIM;
  SIM_ASSERT(pthread_mutex_init(&fiber->mutex, NULL) == 0);
  SIM_ASSERT(pthread_cond_init(&fiber->wake, NULL) == 0);
  sim__fiber_register(sim, fiber);
  return fiber;
}

void sim_fiber_resume(struct sim_fiber *fiber)
{
  SIM_ASSERT(!fiber->done);
  if (!fiber->started) {
    fiber->started = true;
    SIM_ASSERT(pthread_create(&fiber->thread, NULL, fiber_thread, fiber) == 0);
  }
  fiber_switch(fiber, TURN_FIBER, TURN_SIM);
}

bool sim_fiber_yield(struct sim_fiber *fiber)
{
  SIM_ASSERT(fiber->started && !fiber->done);
  if (fiber->cancelled) return false;
  fiber_switch(fiber, TURN_SIM, TURN_FIBER);
  return !fiber->cancelled;
}

bool sim_fiber_done(const struct sim_fiber *fiber) { return fiber->done; }
bool sim_fiber_cancelled(const struct sim_fiber *fiber) { return fiber->cancelled; }

void sim_fiber_destroy(struct sim_fiber *fiber)
{
  if (fiber->joined) return;
  if (fiber->started) {
    fiber->cancelled = true;
    /* Bounded: a cancelled body's yields return at once, so it runs to its end. */
    while (!fiber->done) fiber_switch(fiber, TURN_FIBER, TURN_SIM);
    SIM_ASSERT(pthread_join(fiber->thread, NULL) == 0);
  }
  pthread_mutex_destroy(&fiber->mutex);
  pthread_cond_destroy(&fiber->wake);
  fiber->joined = true;
}
