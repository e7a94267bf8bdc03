/*
 * mig_ram_int.h: the RAM section's internals shared inside migration/
 * (postcopy continues precopy's migration bitmaps, mig_postcopy.c).
 */
#ifndef MIG_RAM_INT_H
#define MIG_RAM_INT_H

#include "sim_base.h"
#include "mig_compress.h"
#include "mig_ram.h"
#include "mig_xbzrle.h"

/*
 * Writes one ZERO or PAGE record for a dirty page and clears its bit;
 * *last_block is the channel's CONTINUE state (main or preempt).
 */
void mig__ram_save_page(struct mig_ram_source *source, struct mig_writer *writer,
                        uint32_t block_index, uint64_t page_index,
                        const struct ram_block **last_block);

/* The source's XBZRLE and compress state (mig_ramenc.c); arena-owned. */
struct mig_ram_encode {
  struct sim *sim;
  bool xbzrle;                     /* capability on */
  bool xbzrle_enabled;             /* after the first full round (QEMU's rs->xbzrle_enabled) */
  bool compress;                   /* capability on (until XBZRLE takes over) */
  int32_t compress_level;
  bool last_stage;                 /* stop-and-copy: the cache is no longer updated */
  bool postcopy;                   /* postcopy phase: pages go out plain */
  uint64_t block_base[MIG_RAM_BLOCKS_MAX]; /* ram_addr_t of each block's first byte */
  struct mig_xbzrle_cache cache;
  struct mig_xbzrle_stats xbzrle_stats;
  struct mig_compress_threads threads;
  struct mig_compress_stats compress_stats;
  /* 7.2 RAMState's *_prev counters, for QMP's rates (mig_ram_source_encode_period). */
  uint64_t target_page_count_prev;
  uint64_t xbzrle_cache_miss_prev;
  uint64_t xbzrle_pages_prev;
  uint64_t xbzrle_bytes_prev;
  uint64_t compress_thread_busy_prev;
  uint64_t compress_pages_prev;
  uint64_t compressed_size_prev;
  bool (*wait)(void *context, uint64_t until_ns);
  void *wait_context;
  uint8_t buffer[MIG_COMPRESS_PAGE_BYTES_MAX]; /* an encoding or a compressed page */
  uint8_t zero_page[MIG_PAGE_BYTES];
};

/*
 * The source's encodings for one dirty page on the main channel, before
 * the plain ZERO/PAGE path: compress (first round), the XBZRLE cache for a
 * zero page, XBZRLE for the others.  True when it wrote the page's record
 * (or skipped an unchanged one); false: the caller sends it plain.
 */
bool mig__ram_encode_page(struct mig_ram_source *source, struct mig_writer *writer,
                          uint32_t block_index, uint64_t page_index, bool zero,
                          const struct ram_block **last_block);
/*
 * Destination: an XBZRLE or COMPRESS_PAGE record's page, decoded into page
 * (MIG_PAGE_BYTES) from the block's current contents; false with the error
 * latched on reader (QEMU 7.2's texts).
 */
bool mig__ram_decode_page(const struct ram_block *block, uint64_t page_index,
                          const struct mig_record *record, struct mig_reader *reader,
                          uint8_t *page);

#endif /* MIG_RAM_INT_H */
