/*
 * sim_fiber.c: blocking-style tasks on their own stacks, switched in user
 * space on the caller's thread (contract in sim_fiber.h).
 *
 * A switch saves the callee-saved registers on the current stack, stores the
 * stack pointer, loads the other side's stack pointer and pops its registers:
 * sim__fiber_switch below, 13 instructions on x86-64 and 26 on aarch64.  A new
 * fiber's stack starts with a frame that pops into sim__fiber_trampoline,
 * which calls fiber_entry(fiber) with a fresh call frame; fiber_entry never
 * returns: after the body it switches back for good.  On other hosts, and
 * when asked, fibers switch with swapcontext instead.
 *
 * Only the resumer and the fiber ever run, one at a time, and control passes
 * only in sim_fiber_resume and sim_fiber_yield, so the order of everything
 * they do is fixed by those hand-off points alone, as it was when fibers were
 * threads (the trace digests did not change when they stopped being threads).
 *
 * Under AddressSanitizer each switch is bracketed by
 * __sanitizer_start_switch_fiber (naming the stack about to run) and
 * __sanitizer_finish_switch_fiber (learning the stack that ran before), so
 * ASan tracks which stack is live and keeps its fake frames apart.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE, MAP_STACK */

#include "sim_base.h"

#include "sim.h"
#include "sim_fiber.h"
#include "sim_limits.h"

#if defined(__SANITIZE_ADDRESS__)
#define FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_ASAN 1
#endif
#endif
#ifdef FIBER_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__x86_64__) && !defined(SIM_FIBER_FORCE_UCONTEXT)
#define FIBER_NATIVE_NAME "x86-64"
#elif defined(__aarch64__) && !defined(SIM_FIBER_FORCE_UCONTEXT)
#define FIBER_NATIVE_NAME "aarch64"
#endif

struct sim_fiber {
  struct sim *sim;
  sim_fiber_fn *body;
  void *context;
  struct sim_fiber *next;           /* the sim's registry, creation order */
  enum sim_fiber_switch kind;       /* native only where FIBER_NATIVE_NAME exists */
  uint8_t *mapping;                 /* guard + stack; NULL before the first resume */
  uint8_t *stack_low;               /* lowest usable stack byte (just above the guard) */
  void *fiber_sp;                   /* native: the fiber's stack pointer while it is off */
  void *resumer_sp;                 /* native: the resumer's while the fiber runs */
  ucontext_t *fiber_uc;             /* ucontext: the fiber's context (arena) */
  ucontext_t *resumer_uc;           /* ucontext: the resumer's context (arena) */
  bool started;                     /* stack mapped, entry frame built */
  bool running;                     /* between resume and yield */
  bool done;                        /* body returned */
  bool cancelled;                   /* destroy asked the body to unwind */
  bool destroyed;                   /* stack unmapped */
  void *asan_resumer_fake;          /* ASan: resumer's fake stack while the fiber runs */
  void *asan_fiber_fake;            /* ASan: fiber's fake stack while it is off */
  const void *asan_resumer_low;     /* ASan: the resumer's stack, learnt on switching in */
  size_t asan_resumer_bytes;
};

/* In sim.c: appends to the registry that sim_destroy walks. */
void sim__fiber_register(struct sim *sim, struct sim_fiber *fiber, struct sim_fiber **next);
void sim__fiber_destroy_all(struct sim_fiber *first);

#ifdef FIBER_NATIVE_NAME
/* Saves callee-saved registers and sp into *save_sp, then resumes the frame at load_sp. */
void sim__fiber_switch(void **save_sp, void *load_sp);
/* First code a fiber runs: calls the entry (callee-saved register) with the fiber. */
void sim__fiber_trampoline(void);
#endif

#if defined(__x86_64__) && defined(FIBER_NATIVE_NAME)
/* SysV: rbx, rbp, r12-r15 are callee-saved; the trampoline gets fiber in r12, entry in r13. */
__asm__(".text\n"
        ".globl sim__fiber_switch\n"
        ".hidden sim__fiber_switch\n"
        ".type sim__fiber_switch, @function\n"
        ".p2align 4\n"
        "sim__fiber_switch:\n"
        "  pushq %rbp\n"
        "  pushq %rbx\n"
        "  pushq %r12\n"
        "  pushq %r13\n"
        "  pushq %r14\n"
        "  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n"
        "  popq %r14\n"
        "  popq %r13\n"
        "  popq %r12\n"
        "  popq %rbx\n"
        "  popq %rbp\n"
        "  ret\n"
        ".size sim__fiber_switch, .-sim__fiber_switch\n"
        ".globl sim__fiber_trampoline\n"
        ".hidden sim__fiber_trampoline\n"
        ".type sim__fiber_trampoline, @function\n"
        "sim__fiber_trampoline:\n"
        "  movq %r12, %rdi\n"
        "  callq *%r13\n"
        "  ud2\n"
        ".size sim__fiber_trampoline, .-sim__fiber_trampoline\n");
enum { FRAME_WORDS = 7 }; /* r15 r14 r13 r12 rbx rbp return-address */
#elif defined(__aarch64__) && defined(FIBER_NATIVE_NAME)
/* AAPCS64: x19-x29, x30 (lr) and d8-d15 are callee-saved; fiber in x19, entry in x20. */
__asm__(".text\n"
        ".globl sim__fiber_switch\n"
        ".hidden sim__fiber_switch\n"
        ".type sim__fiber_switch, %function\n"
        ".p2align 4\n"
        "sim__fiber_switch:\n"
        "  sub sp, sp, #160\n"
        "  stp x19, x20, [sp, #0]\n"
        "  stp x21, x22, [sp, #16]\n"
        "  stp x23, x24, [sp, #32]\n"
        "  stp x25, x26, [sp, #48]\n"
        "  stp x27, x28, [sp, #64]\n"
        "  stp x29, x30, [sp, #80]\n"
        "  stp d8, d9, [sp, #96]\n"
        "  stp d10, d11, [sp, #112]\n"
        "  stp d12, d13, [sp, #128]\n"
        "  stp d14, d15, [sp, #144]\n"
        "  mov x9, sp\n"
        "  str x9, [x0]\n"
        "  mov sp, x1\n"
        "  ldp x19, x20, [sp, #0]\n"
        "  ldp x21, x22, [sp, #16]\n"
        "  ldp x23, x24, [sp, #32]\n"
        "  ldp x25, x26, [sp, #48]\n"
        "  ldp x27, x28, [sp, #64]\n"
        "  ldp x29, x30, [sp, #80]\n"
        "  ldp d8, d9, [sp, #96]\n"
        "  ldp d10, d11, [sp, #112]\n"
        "  ldp d12, d13, [sp, #128]\n"
        "  ldp d14, d15, [sp, #144]\n"
        "  add sp, sp, #160\n"
        "  ret\n"
        ".size sim__fiber_switch, .-sim__fiber_switch\n"
        ".globl sim__fiber_trampoline\n"
        ".hidden sim__fiber_trampoline\n"
        ".type sim__fiber_trampoline, %function\n"
        "sim__fiber_trampoline:\n"
        "  mov x0, x19\n"
        "  blr x20\n"
        "  brk #0\n"
        ".size sim__fiber_trampoline, .-sim__fiber_trampoline\n");
enum { FRAME_WORDS = 20 }; /* x19..x30 (12 words), d8..d15 (8 words) */
#endif

/* ASan bookkeeping: the stack about to run, before a switch. */
static void asan_start(void **fake_save, const void *low, size_t bytes)
{
#ifdef FIBER_ASAN
  __sanitizer_start_switch_fiber(fake_save, low, bytes);
#else
  (void)fake_save, (void)low, (void)bytes;
#endif
}

/* ASan bookkeeping: after a switch, the stack that ran before (when asked). */
static void asan_finish(void *fake, const void **low_old, size_t *bytes_old)
{
#ifdef FIBER_ASAN
  __sanitizer_finish_switch_fiber(fake, low_old, bytes_old);
#else
  (void)fake, (void)low_old, (void)bytes_old;
#endif
}

/* The two raw switches; nothing else touches registers or contexts. */
static void switch_into(struct sim_fiber *fiber)
{
#ifdef FIBER_NATIVE_NAME
  if (fiber->kind == SIM_FIBER_SWITCH_NATIVE) {
    sim__fiber_switch(&fiber->resumer_sp, fiber->fiber_sp);
    return;
  }
#endif
  SIM_ASSERT(swapcontext(fiber->resumer_uc, fiber->fiber_uc) == 0);
}

static void switch_out(struct sim_fiber *fiber)
{
#ifdef FIBER_NATIVE_NAME
  if (fiber->kind == SIM_FIBER_SWITCH_NATIVE) {
    sim__fiber_switch(&fiber->fiber_sp, fiber->resumer_sp);
    return;
  }
#endif
  SIM_ASSERT(swapcontext(fiber->fiber_uc, fiber->resumer_uc) == 0);
}

/* From the resumer: runs the fiber until it switches back. */
static void fiber_run(struct sim_fiber *fiber)
{
  SIM_ASSERT(!fiber->running && !fiber->done);
  fiber->running = true;
  asan_start(&fiber->asan_resumer_fake, fiber->stack_low, SIM_FIBER_STACK_BYTES);
  switch_into(fiber);
  asan_finish(fiber->asan_resumer_fake, NULL, NULL);
  fiber->running = false;
}

/* From the fiber: back to the resumer; `last` when the fiber never runs again. */
static void fiber_leave(struct sim_fiber *fiber, bool last)
{
  asan_start(last ? NULL : &fiber->asan_fiber_fake, fiber->asan_resumer_low,
             fiber->asan_resumer_bytes);
  switch_out(fiber);
  asan_finish(fiber->asan_fiber_fake, &fiber->asan_resumer_low, &fiber->asan_resumer_bytes);
}

static _Noreturn void fiber_entry(struct sim_fiber *fiber)
{
  asan_finish(NULL, &fiber->asan_resumer_low, &fiber->asan_resumer_bytes);
  if (!fiber->cancelled) fiber->body(fiber, fiber->context);
  fiber->done = true;
  fiber_leave(fiber, true);
  sim__assert_fail("a finished fiber was resumed", __FILE__, __LINE__);
}

/* makecontext passes int arguments only: the pointer travels as two halves. */
static void fiber_entry_ucontext(unsigned int low, unsigned int high)
{
  fiber_entry((struct sim_fiber *)(uintptr_t)((uint64_t)high << 32 | low));
}

/* Maps guard + stack; the guard below the stack catches an overflow (stacks grow down). */
static void fiber_map_stack(struct sim_fiber *fiber)
{
  size_t bytes = SIM_FIBER_GUARD_BYTES + SIM_FIBER_STACK_BYTES;
  void *mapping = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  SIM_ASSERT(mapping != MAP_FAILED);
  SIM_ASSERT(mprotect(mapping, SIM_FIBER_GUARD_BYTES, PROT_NONE) == 0);
  fiber->mapping = mapping;
  fiber->stack_low = fiber->mapping + SIM_FIBER_GUARD_BYTES;
}

/* Builds the first frame: the first switch into the fiber lands in the trampoline. */
static void fiber_start_native(struct sim_fiber *fiber)
{
#ifdef FIBER_NATIVE_NAME
  uintptr_t top = ((uintptr_t)fiber->stack_low + SIM_FIBER_STACK_BYTES) & ~(uintptr_t)15;
  uint64_t *frame;
#if defined(__x86_64__)
  /* After `ret` pops the trampoline's address, rsp = top: 16-aligned before its call. */
  frame = (uint64_t *)(top - 8) - (FRAME_WORDS - 1);
  memset(frame, 0, FRAME_WORDS * sizeof(*frame));
  frame[2] = (uint64_t)(uintptr_t)fiber_entry;            /* r13 */
  frame[3] = (uint64_t)(uintptr_t)fiber;                  /* r12 */
  frame[6] = (uint64_t)(uintptr_t)sim__fiber_trampoline;  /* return address */
#else
  frame = (uint64_t *)top - FRAME_WORDS;
  memset(frame, 0, FRAME_WORDS * sizeof(*frame));
  frame[0] = (uint64_t)(uintptr_t)fiber;                  /* x19 */
  frame[1] = (uint64_t)(uintptr_t)fiber_entry;            /* x20 */
  frame[11] = (uint64_t)(uintptr_t)sim__fiber_trampoline; /* x30 */
#endif
  fiber->fiber_sp = frame;
#else
  (void)fiber;
  SIM_ASSERT(!"no native fiber switch on this host");
#endif
}

static void fiber_start_ucontext(struct sim_fiber *fiber)
{
  fiber->fiber_uc = sim_alloc(fiber->sim, sizeof(*fiber->fiber_uc));
  fiber->resumer_uc = sim_alloc(fiber->sim, sizeof(*fiber->resumer_uc));
  SIM_ASSERT(getcontext(fiber->fiber_uc) == 0);
  fiber->fiber_uc->uc_stack.ss_sp = fiber->stack_low;
  fiber->fiber_uc->uc_stack.ss_size = SIM_FIBER_STACK_BYTES;
  fiber->fiber_uc->uc_link = NULL; /* fiber_entry never returns */
  uint64_t address = (uint64_t)(uintptr_t)fiber;
  makecontext(fiber->fiber_uc, (void (*)(void))fiber_entry_ucontext, 2,
              (unsigned int)(address & UINT32_MAX), (unsigned int)(address >> 32));
}

struct sim_fiber *sim_fiber_create_with(struct sim *sim, sim_fiber_fn *body, void *context,
                                        enum sim_fiber_switch kind)
{
  SIM_ASSERT(body != NULL);
  SIM_ASSERT(kind == SIM_FIBER_SWITCH_NATIVE || kind == SIM_FIBER_SWITCH_UCONTEXT);
  struct sim_fiber *fiber = sim_alloc(sim, sizeof(*fiber));
  fiber->sim = sim;
  fiber->body = body;
  fiber->context = context;
#ifdef FIBER_NATIVE_NAME
  fiber->kind = kind;
#else
  fiber->kind = SIM_FIBER_SWITCH_UCONTEXT;
#endif
  sim__fiber_register(sim, fiber, &fiber->next);
  return fiber;
}

struct sim_fiber *sim_fiber_create(struct sim *sim, sim_fiber_fn *body, void *context)
{
  return sim_fiber_create_with(sim, body, context, SIM_FIBER_SWITCH_NATIVE);
}

void sim_fiber_resume(struct sim_fiber *fiber)
{
  SIM_ASSERT(!fiber->done && !fiber->destroyed);
  if (!fiber->started) {
    fiber->started = true;
    fiber_map_stack(fiber);
    if (fiber->kind == SIM_FIBER_SWITCH_NATIVE) {
      fiber_start_native(fiber);
    } else {
      fiber_start_ucontext(fiber);
    }
  }
  fiber_run(fiber);
}

bool sim_fiber_yield(struct sim_fiber *fiber)
{
  SIM_ASSERT(fiber->started && !fiber->done && fiber->running);
  /* Only the fiber itself yields: its frame lies on its own stack. */
  uintptr_t here = (uintptr_t)__builtin_frame_address(0);
  SIM_ASSERT(here > (uintptr_t)fiber->stack_low);
  SIM_ASSERT(here <= (uintptr_t)fiber->stack_low + SIM_FIBER_STACK_BYTES);
  if (fiber->cancelled) return false;
  fiber_leave(fiber, false);
  return !fiber->cancelled;
}

bool sim_fiber_done(const struct sim_fiber *fiber) { return fiber->done; }
bool sim_fiber_cancelled(const struct sim_fiber *fiber) { return fiber->cancelled; }

const char *sim_fiber_switch_name(enum sim_fiber_switch kind)
{
#ifdef FIBER_NATIVE_NAME
  if (kind == SIM_FIBER_SWITCH_NATIVE) return FIBER_NATIVE_NAME;
#else
  (void)kind;
#endif
  return "ucontext";
}

void sim_fiber_destroy(struct sim_fiber *fiber)
{
  if (fiber->destroyed) return;
  SIM_ASSERT(!fiber->running); /* not from the fiber, nor from one it resumed */
  if (fiber->started) {
    fiber->cancelled = true;
    /* Bounded: a cancelled body's yields return at once, so it runs to its end. */
    while (!fiber->done) fiber_run(fiber);
    SIM_ASSERT(munmap(fiber->mapping, SIM_FIBER_GUARD_BYTES + SIM_FIBER_STACK_BYTES) == 0);
    fiber->mapping = NULL;
    fiber->stack_low = NULL;
  }
  fiber->destroyed = true;
}

void sim__fiber_destroy_all(struct sim_fiber *first)
{
  /* A fiber ended here may not create fibers (it is unwinding): the list is fixed. */
  for (struct sim_fiber *fiber = first; fiber != NULL; fiber = fiber->next) {
    sim_fiber_destroy(fiber);
  }
}
