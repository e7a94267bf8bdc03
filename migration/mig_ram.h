/*
 * mig_ram.h: the RAM section ("ram", instance 0, version 4) on both sides.
 *
 * Source: a migration bitmap per block, filled from the blocks' dirty logs by
 * mig_ram_sync (QEMU's bitmap sync); the setup record lists every block with
 * its used length (MEM_SIZE); each iteration sends dirty pages from a scan
 * cursor as ZERO or PAGE records, naming a block only when it changes
 * (CONTINUE otherwise), and never ends a section inside a host page (QEMU's
 * ram_save_host_page).  Synthetic pages are materialised into a scratch page.
 * Destination: takes the records of the record layer until EOS with the strict
 * checks of spec §6 and §11.3 (exact block list, sizes equal or a resizable
 * block resized within its maximum, offsets inside the block, zero fill 0;
 * mig_policy_strict names each one that QEMU 7.2 does not make).  A length refused names the
 * block with QEMU 7.2's qemu_ram_resize texts ("Size mismatch: ...", "Size
 * too large: ...").
 * The section framing (headers, footers) belongs to the caller.
 */
#ifndef MIG_RAM_H
#define MIG_RAM_H

#include "sim_base.h"
#include "mig_limits.h"
#include "mig_record.h"
#include "mig_stream.h"
#include "ram.h"

struct mig_multifd_send;
struct mig_ram_encode;
struct mig_xbzrle_stats;
struct mig_compress_stats;

struct mig_ram_source {                      /* caller-owned; fields private */
  struct ram_block *blocks[MIG_RAM_BLOCKS_MAX];
  uint64_t *bitmaps[MIG_RAM_BLOCKS_MAX];     /* migration bitmap per block */
  uint32_t block_count;
  uint64_t dirty_pages_count;                /* bits set over all bitmaps */
  uint32_t scan_block_index;                 /* cursor: block */
  uint64_t scan_page_index;                  /* cursor: next page to look at */
  const struct ram_block *last_block_sent;   /* for CONTINUE; survives sections */
  uint64_t zero_pages_count;                 /* ZERO records sent */
  uint64_t normal_pages_count;               /* PAGE records sent */
  uint64_t dirty_sync_count;                 /* syncs done */
  uint64_t rounds_count;                     /* full passes completed */
  bool ignore_shared;                        /* x-ignore-shared: no pages of shared blocks */
  struct mig_multifd_send *multifd;          /* multifd: pages go in its packets; NULL: off */
  struct mig_ram_encode *encode;             /* XBZRLE / compress (mig_ramenc.c); NULL: off */
  bool release_ram;                          /* release-ram: pages sent in postcopy are freed */
  bool in_postcopy;                          /* the postcopy phase began (no more rounds) */
  uint64_t released_pages_count;             /* pages given back under release-ram */
  uint8_t scratch[MIG_PAGE_BYTES];           /* a synthetic page, materialised to send */
};

void mig_ram_source_init(struct mig_ram_source *source, struct sim *sim,
                         struct ram_block *const *blocks, uint32_t block_count);
/*
 * x-ignore-shared (before setup): the block list carries each block's GPA and
 * shared blocks' pages are never sent; the destination maps the same memory.
 */
void mig_ram_source_ignore_shared_set(struct mig_ram_source *source, bool on);
/*
 * multifd (before setup): PAGE records' pages go to its channels instead (and
 * zero pages too when it takes them), and every EOS is preceded by its sync
 * (QEMU 7.2's multifd_send_sync_main).
 */
void mig_ram_source_multifd_set(struct mig_ram_source *source, struct mig_multifd_send *multifd);
/*
 * XBZRLE and compress (before setup; mig_ramenc.c, mig_xbzrle.h,
 * mig_compress.h).  wait sleeps the source until a compression thread is
 * free (the engine's fiber); false when the migration is being torn down.
 */
struct mig_ram_encode_options {
  bool xbzrle;                     /* capability xbzrle */
  uint64_t xbzrle_cache_bytes;     /* xbzrle-cache-size: a power of two >= a page */
  bool compress;                   /* capability compress (7.2) */
  int32_t compress_level;          /* compress-level 0..9 */
  uint32_t compress_threads;       /* compress-threads 1..255 */
  bool compress_wait;              /* compress-wait-thread */
  bool (*wait)(void *context, uint64_t until_ns);
  void *wait_context;
};
void mig_ram_source_encode_set(struct mig_ram_source *source, struct sim *sim,
                               const struct mig_ram_encode_options *options);
/* release-ram (before setup): in postcopy each page is released once written (QEMU 7.2). */
void mig_ram_source_release_set(struct mig_ram_source *source, bool on);
/*
 * The postcopy phase began: pages go out plain from now on (QEMU: no XBZRLE
 * or compress in postcopy), and release-ram frees each one once written.
 */
void mig_ram_source_postcopy_begin(struct mig_ram_source *source);
/* query-migrate's counters; NULL when the capability is off. */
const struct mig_xbzrle_stats *mig_ram_source_xbzrle_stats(const struct mig_ram_source *source);
const struct mig_compress_stats *mig_ram_source_compress_stats(
    const struct mig_ram_source *source);
/* An accounting period ended (spec §13.3): keeps its deltas for QMP's rates. */
void mig_ram_source_encode_period(struct mig_ram_source *source);
/* First sync (every page dirty), then the MEM_SIZE block list and EOS. */
void mig_ram_save_setup(struct mig_ram_source *source, struct mig_writer *writer);
/*
 * Sends up to pages_max dirty pages, then EOS.  Returns true when the scan
 * reached the end of RAM (a round ended) during this call.
 */
bool mig_ram_save_iterate(struct mig_ram_source *source, struct mig_writer *writer,
                          uint64_t pages_max);
/* Sends every remaining dirty page, then EOS (the END section's payload). */
void mig_ram_save_complete(struct mig_ram_source *source, struct mig_writer *writer);
/*
 * A source block changed its used length (ram.h notifier): drops the bits of
 * pages past its end, so nothing beyond the new length is ever read.  The
 * migration itself must then be cancelled (mig_precopy.c).
 */
void mig_ram_source_block_resized(struct mig_ram_source *source, const struct ram_block *block);
/* Collects the blocks' dirty logs; returns pages newly dirty. */
uint64_t mig_ram_sync(struct mig_ram_source *source);
uint64_t mig_ram_pending_bytes(const struct mig_ram_source *source);
uint64_t mig_ram_total_bytes(const struct mig_ram_source *source);

/*
 * A page was applied (offset: its record's): the postcopy destination's
 * bookkeeping and exactly-once check.  MIG_OK or the error latched on reader.
 */
typedef enum mig_err mig_ram_placed_fn(void *context, struct mig_reader *reader,
                                       uint32_t channel, uint32_t block_index,
                                       uint64_t page_index, uint64_t offset);

struct mig_ram_dest {                        /* caller-owned; fields private */
  struct ram_block *blocks[MIG_RAM_BLOCKS_MAX];
  uint32_t block_count;
  const struct mig_policy *policy;           /* mig_policy_strict */
  bool setup_done;                           /* MEM_SIZE list received */
  uint64_t list_total;                       /* MEM_SIZE being listed: its total */
  uint64_t listed;                           /* ...and the bytes listed so far */
  bool listed_blocks[MIG_RAM_BLOCKS_MAX];    /* ...and the blocks named so far */
  struct ram_block *last_block;              /* for CONTINUE */
  uint64_t zero_pages_count;                 /* ZERO records loaded */
  uint64_t normal_pages_count;               /* PAGE records loaded */
  uint64_t xbzrle_pages_count;               /* XBZRLE records loaded */
  uint64_t compressed_pages_count;           /* COMPRESS_PAGE records loaded */
  bool ignore_shared;                        /* x-ignore-shared: GPAs listed, shared skipped */
  /* Postcopy (mig_postcopy.h): told of each ZERO/PAGE applied; NULL when off. */
  mig_ram_placed_fn *placed;
  void *placed_context;
  uint32_t channel;                          /* passed to placed: 0 main, 1 preempt */
  /* multifd: at each EOS, waits for every channel's SYNC; NULL when off. */
  enum mig_err (*eos)(void *context, struct mig_reader *reader);
  void *eos_context;
};

void mig_ram_dest_init(struct mig_ram_dest *dest, struct ram_block *const *blocks,
                       uint32_t block_count);
/* x-ignore-shared on the destination: expects GPAs, refuses pages of shared blocks. */
void mig_ram_dest_ignore_shared_set(struct mig_ram_dest *dest, bool on);
/*
 * Loads one record of a RAM section's payload (MIG_RECORD_RAM or
 * MIG_RECORD_RAM_BLOCK, mig_record.h); record->section.type says which
 * section: only START may carry the block list, and page records need it
 * first.  Errors are latched on reader.
 */
enum mig_err mig_ram_load_record(struct mig_ram_dest *dest, struct mig_reader *reader,
                                 const struct mig_record *record);
/* A whole payload (after its header, up to and including EOS), through the record layer. */
enum mig_err mig_ram_load(struct mig_ram_dest *dest, struct mig_reader *reader,
                          uint8_t section_type);

#endif /* MIG_RAM_H */
