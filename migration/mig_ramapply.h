/*
 * mig_ramapply.h: applies the RAM records of a walked stream (mig_inspect.h)
 * to per-block guest RAM, the way QEMU 7.2's destination does (spec §6.4,
 * §6.6): ZERO fills, PAGE copies, XBZRLE decodes against the page's previous
 * contents, COMPRESS_PAGE inflates one zlib stream to one page.
 *
 * Storage is dense (one calloc'd array per block, for benchmarks) or sparse:
 * a two-level table of 2 MiB chunks whose pages are allocated only when a
 * record writes non-zero data, so a 16 GiB all-zero stream costs a few MiB.
 * XBZRLE and zlib go through the loader's own decoders (mig_xbzrle.h,
 * mig_compress.h): one decoder each.
 * Both modes skip ZERO records on pages that never held data, so dense
 * memory is touched only where data lands (a bit per page records that).
 * Blocks are created from the MEM_SIZE list and bounded by
 * MIG_RAMAPPLY_BYTES_MAX in total.
 */
#ifndef MIG_RAMAPPLY_H
#define MIG_RAMAPPLY_H

#include "sim_base.h"
#include "mig_inspect.h"

#define MIG_RAMAPPLY_BYTES_MAX (UINT64_C(1) << 40)  /* Σ used_length accepted */
#define MIG_RAMAPPLY_CHUNK_PAGES 512u               /* sparse table: pages per chunk */
#define MIG_RAMAPPLY_KEEPS_MAX 16u                  /* ranges kept (mig_ramapply_keep) */

/* A byte range of a block whose pages are kept (the others are checked, not stored). */
struct mig_ramapply_keep {        /* private, do not touch */
  char name[MIG_IDSTR_BYTES_MAX + 1];
  uint64_t first_page;            /* start / 4096 */
  uint64_t end_page;              /* end rounded up to a page */
};

struct mig_ramapply_block {       /* private, do not touch */
  uint64_t used_bytes;            /* from MEM_SIZE */
  uint64_t page_count;            /* used_bytes rounded up to pages */
  uint8_t *dense;                 /* dense mode: page_count pages */
  uint64_t *written;              /* dense mode: bit per page that holds data */
  uint8_t ***chunks;              /* sparse mode: page_count / CHUNK_PAGES (rounded up) */
  uint64_t pages_applied;         /* page records applied to this block */
  uint64_t pages_materialised;    /* sparse pages allocated */
  uint32_t keep_mask;             /* bit k: keeps[k] names this block (set with MEM_SIZE) */
};

struct mig_ramapply {             /* caller-owned; fields private */
  bool dense;                     /* storage mode */
  uint64_t bytes_total;           /* Σ used_bytes of the blocks */
  uint32_t block_count;           /* inspect->block_count; fewer after a refused MEM_SIZE
                                     list (RAM total above MIG_RAMAPPLY_BYTES_MAX) */
  bool reference;                 /* PAGE records are kept as pointers into the stream */
  uint32_t keep_count;            /* 0: every page is kept */
  struct mig_ramapply_keep keeps[MIG_RAMAPPLY_KEEPS_MAX];
  struct mig_ramapply_block blocks[MIG_RAM_BLOCKS_MAX];
};

void mig_ramapply_init(struct mig_ramapply *apply, bool dense);
void mig_ramapply_deinit(struct mig_ramapply *apply);
/*
 * Before the walk: keep only the pages of [start, end) of block `name`
 * (repeatable, MIG_RAMAPPLY_KEEPS_MAX at most; none: keep every page).
 * Every record is still checked as before (XBZRLE and COMPRESS_PAGE decoded
 * into a scratch page), so verdicts and errors do not change; a kept page's
 * XBZRLE delta applies to its kept previous contents, so the kept bytes are
 * those of a full application.  Memory then grows with the ranges, not with
 * the stream.
 */
void mig_ramapply_keep(struct mig_ramapply *apply, const char *name, uint64_t start,
                       uint64_t end);
/* The visitor: pass with context = apply (alone or from another visitor). */
mig_inspect_visit_fn mig_ramapply_visit;
/*
 * The 4096 bytes of page page_index of block block_index, or NULL when the
 * page holds only zeros and was never materialised.
 */
const uint8_t *mig_ramapply_page(const struct mig_ramapply *apply, uint32_t block_index,
                                 uint64_t page_index);
/* Page records applied to the block (0: the stream never wrote it). */
uint64_t mig_ramapply_pages_applied(const struct mig_ramapply *apply, uint32_t block_index);
/*
 * Sparse mode, before the walk: the stream's bytes stay readable until
 * deinit (a mapped file), so a PAGE record's page is kept as a pointer to
 * its bytes, not a copy; a page written otherwise later (XBZRLE, a fill)
 * is copied first.  mig_ramapply_page then returns such pointers.
 */
void mig_ramapply_reference(struct mig_ramapply *apply);
/* Sparse pages allocated over all blocks (referenced pages are not). */
uint64_t mig_ramapply_pages_materialised(const struct mig_ramapply *apply);

#endif /* MIG_RAMAPPLY_H */
