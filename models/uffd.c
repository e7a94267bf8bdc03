/*
 * uffd.c: missing-page bitmaps, faults and wakes of a postcopy destination
 * (overview in uffd.h; blocktime rules in spec/stream-format.md §13.5).
 *
 * The wait list is short (one entry per vCPU and per client at most), so a
 * placement walks it whole; the bitmap test for a whole 2 MiB host page reads
 * eight words.
 */
#include "sim_base.h"

#include "uffd.h"

struct uffd {
  struct sim *sim;
  struct ram_block *blocks[RAM_BLOCKS_MAX];
  uint64_t *missing[RAM_BLOCKS_MAX];         /* bit per page of max_bytes, set = missing */
  uint32_t block_count;
  uint32_t vcpu_count;                       /* "all vCPUs" of the total blocktime */
  bool armed;
  uffd_fault_fn *fault;
  void *fault_context;
  struct uffd_waiter *head;                  /* waiters, oldest first */
  struct uffd_waiter *tail;
  uint32_t waiting_count;
  uint32_t vcpus_waiting_count;              /* distinct vCPUs parked */
  uint64_t all_since_ns;                     /* every vCPU parked since (when they are) */
  struct uffd_stats stats;
};

struct uffd *uffd_create(struct sim *sim, struct ram_block *const *blocks, uint32_t block_count,
                         uint32_t vcpu_count)
{
  SIM_ASSERT(block_count >= 1 && block_count <= RAM_BLOCKS_MAX);
  SIM_ASSERT(vcpu_count >= 1 && vcpu_count <= VCPUS_MAX);
  struct uffd *uffd = sim_alloc(sim, sizeof(*uffd));
  uffd->sim = sim;
  uffd->block_count = block_count;
  uffd->vcpu_count = vcpu_count;
  for (uint32_t i = 0; i < block_count; i++) {
    uffd->blocks[i] = blocks[i];
    uffd->missing[i] = sim_alloc(sim, blocks[i]->dirty_words_count * sizeof(uint64_t));
  }
  return uffd;
}

void uffd_fault_handler_set(struct uffd *uffd, void *context, uffd_fault_fn *fault)
{
  uffd->fault = fault;
  uffd->fault_context = context;
}

int32_t uffd_block_index(const struct uffd *uffd, const struct ram_block *block)
{
  for (uint32_t i = 0; i < uffd->block_count; i++) {
    if (uffd->blocks[i] == block) return (int32_t)i;
  }
  return -1;
}

uint32_t uffd_block_count(const struct uffd *uffd)
{
  return uffd->block_count;
}

struct ram_block *uffd_block(const struct uffd *uffd, uint32_t block_index)
{
  SIM_ASSERT(block_index < uffd->block_count);
  return uffd->blocks[block_index];
}

void uffd_missing_mark(struct uffd *uffd, uint32_t block_index, uint64_t first_page,
                       uint64_t page_count)
{
  SIM_ASSERT(block_index < uffd->block_count);
  const struct ram_block *block = uffd->blocks[block_index];
  SIM_ASSERT(first_page <= block->max_page_count);
  SIM_ASSERT(page_count <= block->max_page_count - first_page);
  uint64_t *bits = uffd->missing[block_index];
  for (uint64_t page = first_page; page < first_page + page_count; page++) {
    uint64_t bit = UINT64_C(1) << (page % 64);
    if ((bits[page / 64] & bit) != 0) continue;
    bits[page / 64] |= bit;
    uffd->stats.missing_count++;
  }
}

bool uffd_missing(const struct uffd *uffd, uint32_t block_index, uint64_t page_index)
{
  SIM_ASSERT(block_index < uffd->block_count);
  SIM_ASSERT(page_index < uffd->blocks[block_index]->max_page_count);
  return (uffd->missing[block_index][page_index / 64] >> (page_index % 64) & 1) != 0;
}

bool uffd_host_page_missing(const struct uffd *uffd, uint32_t block_index, uint64_t page_index)
{
  const struct ram_block *block = uffd->blocks[block_index];
  uint64_t pages = block->host_page_bytes / RAM_PAGE_BYTES;
  if (pages <= 1) return uffd_missing(uffd, block_index, page_index);
  SIM_ASSERT(pages % 64 == 0);  /* 2 MiB: 512 pages, whole words */
  uint64_t first = page_index / pages * pages;
  const uint64_t *bits = uffd->missing[block_index];
  for (uint64_t word = first / 64; word < (first + pages) / 64; word++) {
    if (bits[word] != 0) return true;
  }
  return false;
}

void uffd_missing_copy(const struct uffd *uffd, uint32_t block_index, uint64_t *out,
                       uint64_t words_count)
{
  SIM_ASSERT(block_index < uffd->block_count);
  SIM_ASSERT(words_count <= uffd->blocks[block_index]->dirty_words_count);
  memcpy(out, uffd->missing[block_index], words_count * sizeof(uint64_t));
}

/* The waiter's wait ends now: blocktime and the "all vCPUs" window. */
static void uffd_wait_end(struct uffd *uffd, struct uffd_waiter *waiter)
{
  uint64_t now_ns = sim_now_ns(uffd->sim);
  uint64_t waited_ns = now_ns - waiter->since_ns;
  uffd->stats.fault_latency_ns_sum += waited_ns;
  if (waiter->who >= UFFD_WHO_CLIENT_BASE) {
    uffd->stats.client_blocktime_ns += waited_ns;
    return;
  }
  SIM_ASSERT(waiter->who < uffd->vcpu_count);
  uffd->stats.vcpu_blocktime_ns[waiter->who] += waited_ns;
  SIM_ASSERT(uffd->vcpus_waiting_count > 0);
  if (uffd->vcpus_waiting_count == uffd->vcpu_count) {
    uffd->stats.blocktime_ns += now_ns - uffd->all_since_ns;
  }
  uffd->vcpus_waiting_count--;
}

/* Wakes, oldest first, every waiter whose host page is now whole. */
static void uffd_wake_host_page(struct uffd *uffd, uint32_t block_index, uint64_t page_index)
{
  const struct ram_block *block = uffd->blocks[block_index];
  uint64_t pages = SIM_MAX(block->host_page_bytes / RAM_PAGE_BYTES, 1);
  uint64_t host_page = page_index / pages;
  struct uffd_waiter *woken = NULL, **woken_tail = &woken;
  struct uffd_waiter **link = &uffd->head;
  uffd->tail = NULL;
  while (*link != NULL) {
    struct uffd_waiter *waiter = *link;
    if (waiter->block_index == block_index && waiter->page_index / pages == host_page) {
      *link = waiter->next;
      waiter->next = NULL;
      *woken_tail = waiter;
      woken_tail = &waiter->next;
      continue;
    }
    uffd->tail = waiter;
    link = &waiter->next;
  }
  /* Unlinked first, woken after: a wake may park the same waiter again. */
  while (woken != NULL) {
    struct uffd_waiter *waiter = woken;
    woken = waiter->next;
    waiter->next = NULL;
    waiter->waiting = false;
    SIM_ASSERT(uffd->waiting_count > 0);
    uffd->waiting_count--;
    uffd_wait_end(uffd, waiter);
    sim_trace(uffd->sim, "uffd.wake", block_index, waiter->page_index, waiter->who, 0);
    waiter->wake(waiter->context, waiter);
  }
}

bool uffd_place(struct uffd *uffd, uint32_t block_index, uint64_t page_index)
{
  SIM_ASSERT(block_index < uffd->block_count);
  SIM_ASSERT(page_index < uffd->blocks[block_index]->max_page_count);
  uint64_t *word = &uffd->missing[block_index][page_index / 64];
  uint64_t bit = UINT64_C(1) << (page_index % 64);
  if ((*word & bit) == 0) {
    uffd->stats.placed_twice_count++;
    return false;
  }
  *word &= ~bit;
  SIM_ASSERT(uffd->stats.missing_count > 0);
  uffd->stats.missing_count--;
  uffd->stats.placed_count++;
  if (uffd->waiting_count > 0 && !uffd_host_page_missing(uffd, block_index, page_index)) {
    uffd_wake_host_page(uffd, block_index, page_index);
  }
  return true;
}

void uffd_arm(struct uffd *uffd)
{
  uffd->armed = true;
}

void uffd_disarm(struct uffd *uffd)
{
  SIM_ASSERT(uffd->waiting_count == 0); /* nobody may be left parked */
  uffd->armed = false;
}

bool uffd_armed(const struct uffd *uffd)
{
  return uffd->armed;
}

bool uffd_touch(struct uffd *uffd, struct uffd_waiter *waiter, uint32_t block_index,
                uint64_t page_index, uint32_t who, uffd_wake_fn *wake, void *context)
{
  SIM_ASSERT(block_index < uffd->block_count);
  SIM_ASSERT(!waiter->waiting);
  if (!uffd->armed || !uffd_host_page_missing(uffd, block_index, page_index)) return true;
  SIM_ASSERT(who >= UFFD_WHO_CLIENT_BASE || who < uffd->vcpu_count);
  *waiter = (struct uffd_waiter){.wake = wake, .context = context, .block_index = block_index,
                                 .page_index = page_index, .who = who,
                                 .since_ns = sim_now_ns(uffd->sim), .waiting = true};
  if (uffd->tail == NULL) {
    uffd->head = waiter;
  } else {
    uffd->tail->next = waiter;
  }
  uffd->tail = waiter;
  uffd->waiting_count++;
  uffd->stats.faults_count++;
  if (who >= UFFD_WHO_CLIENT_BASE) {
    uffd->stats.client_faults_count++;
  } else {
    uffd->stats.vcpu_faults_count[who]++;
    uffd->vcpus_waiting_count++;
    SIM_ASSERT(uffd->vcpus_waiting_count <= uffd->vcpu_count);
    if (uffd->vcpus_waiting_count == uffd->vcpu_count) uffd->all_since_ns = waiter->since_ns;
  }
  sim_trace(uffd->sim, "uffd.fault", block_index, page_index, who, 0);
  if (uffd->fault != NULL) uffd->fault(uffd->fault_context, block_index, page_index, who);
  return false;
}

uint32_t uffd_waiting_count(const struct uffd *uffd)
{
  return uffd->waiting_count;
}

const struct uffd_waiter *uffd_waiting(const struct uffd *uffd, uint32_t index)
{
  SIM_ASSERT(index < uffd->waiting_count);
  const struct uffd_waiter *waiter = uffd->head;
  for (uint32_t i = 0; i < index; i++) waiter = waiter->next;
  return waiter;
}

void uffd_stats_get(const struct uffd *uffd, struct uffd_stats *stats)
{
  *stats = uffd->stats;
  uint64_t now_ns = sim_now_ns(uffd->sim);
  for (const struct uffd_waiter *w = uffd->head; w != NULL; w = w->next) {
    if (w->who >= UFFD_WHO_CLIENT_BASE) {
      stats->client_blocktime_ns += now_ns - w->since_ns;
    } else {
      stats->vcpu_blocktime_ns[w->who] += now_ns - w->since_ns;
    }
  }
  if (uffd->vcpus_waiting_count == uffd->vcpu_count) {
    stats->blocktime_ns += now_ns - uffd->all_since_ns;
  }
}
