/*
 * uffd.h: userfaultfd as a postcopy destination uses it (Linux userfaultfd(2):
 * UFFDIO_REGISTER, UFFDIO_COPY, UFFDIO_WAKE; QEMU's postcopy-ram.c), for the
 * RAM blocks of one machine.
 *
 * Each block has a bitmap of missing target pages.  The migration layer
 * marks pages missing (nothing received yet, or discarded) and placed (a page
 * arrived); once armed (POSTCOPY_LISTEN), an access to a missing page faults:
 * the accessor, a vCPU or an external shared-memory client, parks a waiter
 * and stops, the fault handler (supplied by the migration layer) requests the
 * page, and placing the page wakes every waiter of its host page.  A host
 * page is present only when all its target pages are: a 2 MiB block's page
 * faults until all 512 are placed (QEMU places it with one UFFDIO_COPY).
 *
 * Blocktime (spec §13.5): each vCPU's time spent waiting; the total is the
 * time during which every vCPU waited at once.  Waiters that are not vCPUs
 * (who >= UFFD_WHO_CLIENT_BASE) are counted apart (QEMU 10.1's non-vCPU
 * faults).  Everything is in simulated time; the callbacks run from the
 * event loop or a fiber, never from inside uffd_touch (the fault handler
 * excepted, which must not place pages itself).
 */
#ifndef UFFD_H
#define UFFD_H

#include "sim_base.h"
#include "models_limits.h"
#include "ram.h"
#include "sim.h"

#define UFFD_WHO_CLIENT_BASE 0x100u   /* waiter ids from here on are not vCPUs */

struct uffd;
struct uffd_waiter;

/* The page of the waiter's host page is in: the access may go on. */
typedef void uffd_wake_fn(void *context, struct uffd_waiter *waiter);
/*
 * A missing page was touched (one call per fault): the migration layer
 * requests the host page holding page_index.  who is the waiter's id.
 */
typedef void uffd_fault_fn(void *context, uint32_t block_index, uint64_t page_index,
                           uint32_t who);

struct uffd_waiter {                /* embedded in the accessor; fields private */
  struct uffd_waiter *next;         /* in the uffd's wait list while waiting */
  uffd_wake_fn *wake;
  void *context;
  uint32_t block_index;
  uint64_t page_index;              /* the target page touched */
  uint32_t who;                     /* vCPU index, or UFFD_WHO_CLIENT_BASE + n */
  uint64_t since_ns;                /* when it parked */
  bool waiting;
};

struct uffd_stats {
  uint64_t faults_count;                     /* accesses that parked */
  uint64_t vcpu_faults_count[VCPUS_MAX];
  uint64_t vcpu_blocktime_ns[VCPUS_MAX];     /* per vCPU: time spent waiting */
  uint64_t blocktime_ns;                     /* every vCPU waiting at once */
  uint64_t client_faults_count;              /* waiters >= UFFD_WHO_CLIENT_BASE */
  uint64_t client_blocktime_ns;
  uint64_t fault_latency_ns_sum;             /* over every fault, vCPU or not */
  uint64_t placed_count;                     /* target pages placed while missing */
  uint64_t placed_twice_count;               /* uffd_place on a page not missing */
  uint64_t missing_count;                    /* target pages missing now */
};

/* Allocates from the sim's arena; vcpu_count (1..VCPUS_MAX) is the blocktime's "all". */
struct uffd *uffd_create(struct sim *sim, struct ram_block *const *blocks, uint32_t block_count,
                         uint32_t vcpu_count);
void uffd_fault_handler_set(struct uffd *uffd, void *context, uffd_fault_fn *fault);
/* Index of block in this uffd, or -1. */
int32_t uffd_block_index(const struct uffd *uffd, const struct ram_block *block);
uint32_t uffd_block_count(const struct uffd *uffd);
struct ram_block *uffd_block(const struct uffd *uffd, uint32_t block_index);
/* Pages [first, first + count) of a block become missing (nothing received, or discarded). */
void uffd_missing_mark(struct uffd *uffd, uint32_t block_index, uint64_t first_page,
                       uint64_t page_count);
bool uffd_missing(const struct uffd *uffd, uint32_t block_index, uint64_t page_index);
/* Whether any target page of the host page holding page_index is missing. */
bool uffd_host_page_missing(const struct uffd *uffd, uint32_t block_index, uint64_t page_index);
/* Copies the block's missing bitmap (a bit per page, set = missing) into out. */
void uffd_missing_copy(const struct uffd *uffd, uint32_t block_index, uint64_t *out,
                       uint64_t words_count);
/*
 * A page arrived: clears its bit; when its host page is whole, wakes that
 * host page's waiters.  False (and counted) when the page was not missing.
 */
bool uffd_place(struct uffd *uffd, uint32_t block_index, uint64_t page_index);
/* From now on an access to a missing page faults (LISTEN); disarm at the end. */
void uffd_arm(struct uffd *uffd);
void uffd_disarm(struct uffd *uffd);
bool uffd_armed(const struct uffd *uffd);
/*
 * An access by who: true when the page may be used now (unarmed, or its
 * host page present).  Otherwise the waiter is parked, the fault handler
 * runs, and false is returned; wake(context, waiter) runs when it is in.
 */
bool uffd_touch(struct uffd *uffd, struct uffd_waiter *waiter, uint32_t block_index,
                uint64_t page_index, uint32_t who, uffd_wake_fn *wake, void *context);
/* Waiters parked now, and the i-th of them (oldest first), for re-requests after a pause. */
uint32_t uffd_waiting_count(const struct uffd *uffd);
const struct uffd_waiter *uffd_waiting(const struct uffd *uffd, uint32_t index);
/* Blocktime up to now: waits still running are counted up to sim_now_ns. */
void uffd_stats_get(const struct uffd *uffd, struct uffd_stats *stats);

#endif /* UFFD_H */
