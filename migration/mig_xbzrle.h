/*
 * mig_xbzrle.h: XBZRLE page deltas (spec §6.6) and the sender's page cache.
 *
 * The encoding: pairs of uleb128 zero-run (bytes equal to the previous
 * copy) and uleb128 data-run (> 0) followed by the new bytes; values of at
 * most 14 bits; a trailing zero run omitted.  The encoder writes maximal
 * runs, as QEMU 7.2's xbzrle_encode_buffer does, with its overflow rule (a
 * pair that would pass the page's length fails the whole encoding), so the
 * bytes equal QEMU's for the same two pages.  One decoder serves the
 * destination's loader (mig_ram.c) and `inspect --ram-sha256`
 * (mig_ramapply.c).
 *
 * The cache is QEMU 7.2's page_cache.c: direct-mapped, (address / page) &
 * (items - 1); an entry younger than two dirty syncs is not replaced by
 * another address; a hit refreshes the entry's age.  Addresses are
 * migsim's ram_addr_t: the block's base (the sum of the maximum lengths of
 * the blocks before it) plus the page's offset.  Page storage comes from
 * the sim's arena, sized to min(items, pages of RAM): the kernel zeroes it
 * lazily, so only entries that hold a page cost memory.
 */
#ifndef MIG_XBZRLE_H
#define MIG_XBZRLE_H

#include "sim_base.h"
#include "mig_limits.h"
#include "sim.h"

#define MIG_XBZRLE_CACHE_LIFETIME 2u       /* QEMU's CACHED_PAGE_LIFETIME, in dirty syncs */

/*
 * Encodes new_page against old_page (both MIG_PAGE_BYTES) into encoded
 * (encoded_max bytes).  Returns the encoded length; 0 when the pages are
 * equal; -1 when the encoding would exceed encoded_max (QEMU's overflow).
 */
int32_t mig_xbzrle_encode(const uint8_t *old_page, const uint8_t *new_page, uint8_t *encoded,
                          uint32_t encoded_max);
/*
 * Decodes an XBZRLE delta onto page (MIG_PAGE_BYTES, the previous contents).
 * On a malformed encoding returns false with *bad_index = the offending byte
 * of encoded and a reason; page may then be partly written.
 */
bool mig_xbzrle_decode(const uint8_t *encoded, uint32_t encoded_bytes, uint8_t *page,
                       uint32_t *bad_index, const char **reason);

struct mig_xbzrle_cache {          /* caller-owned; fields private */
  uint64_t items_count;            /* xbzrle-cache-size / page: a power of two */
  uint64_t slots_count;            /* entries that can ever be used: min(items, RAM pages) */
  uint64_t *addresses;             /* per slot; UINT64_MAX = empty */
  uint64_t *ages;                  /* per slot: dirty-sync count at insert or last hit */
  uint8_t *pages;                  /* slots_count pages */
  uint64_t used_count;             /* slots that hold a page (QEMU's num_items) */
};

/* cache_bytes: a power of two >= a page (mig_params_check); ram_pages: the address space. */
void mig_xbzrle_cache_init(struct mig_xbzrle_cache *cache, struct sim *sim, uint64_t cache_bytes,
                           uint64_t ram_pages);
/* QEMU's cache_is_cached: true when address is cached; a hit refreshes its age. */
bool mig_xbzrle_cache_hit(struct mig_xbzrle_cache *cache, uint64_t address, uint64_t age);
/* QEMU's cache_insert: false when the slot holds another, fresh, address. */
bool mig_xbzrle_cache_insert(struct mig_xbzrle_cache *cache, uint64_t address,
                             const uint8_t *page, uint64_t age);
/* The cached page of an address cache_hit found. */
uint8_t *mig_xbzrle_cache_page(struct mig_xbzrle_cache *cache, uint64_t address);

/* query-migrate's xbzrle-cache counters (QEMU 7.2 xbzrle_counters), integers only. */
struct mig_xbzrle_stats {
  uint64_t cache_bytes;            /* cache-size */
  uint64_t bytes;                  /* bytes: encoded records less their 8-byte header,
                                      plus a page per overflow (7.2) */
  uint64_t pages;                  /* pages: cache hits (encoded, skipped or overflowed) */
  uint64_t cache_miss_count;       /* cache-miss */
  uint64_t overflow_count;         /* overflow */
  uint64_t skipped_count;          /* hits that had not changed: nothing sent (migsim's) */
  uint64_t encoded_count;          /* XBZRLE records written (migsim's) */
  uint64_t saved_bytes;            /* page records' bytes not sent thanks to XBZRLE
                                      (encoded and skipped pages; migsim's) */
  /*
   * QMP's rates as of the last accounting period that handled a page (7.2
   * migration_update_rates), as integer fractions; the report divides.
   */
  uint64_t miss_rate_numerator;    /* cache misses in the period */
  uint64_t miss_rate_denominator;  /* pages the source handled in it; 0: none yet */
  uint64_t encoding_rate_numerator;   /* hit pages x page size in the period */
  uint64_t encoding_rate_denominator; /* their xbzrle bytes; 0: rate 0 */
};

#endif /* MIG_XBZRLE_H */
