/*
 * mig_compress.h: QEMU 7.2's `compress` capability: COMPRESS_PAGE records
 * (spec §6.4: be32 length, then one complete zlib stream at compress-level
 * that inflates to one page), and the source's compression threads as a
 * cost model in simulated time.
 *
 * Threads: compress-threads of them, each busy for MIG_COMPRESS_PAGE_NS
 * (+ MIG_COMPRESS_LEVEL_NS per level) per page it compresses.  The
 * migration thread hands a page to a thread free now; when every thread is
 * busy, with compress-wait-thread (the default) it waits for the first to
 * finish, without it the page goes out as a normal page and `busy` counts
 * (7.2's compress_page_with_multi_thread).  The bytes are produced at once;
 * only the time is modeled.  One inflater serves the destination's loader
 * (mig_ram.c) and `inspect --ram-sha256` (mig_ramapply.c).
 */
#ifndef MIG_COMPRESS_H
#define MIG_COMPRESS_H

#include "sim_base.h"
#include "mig_limits.h"

#define MIG_COMPRESS_THREADS_MAX 255u            /* compress-threads: 1..255 (QEMU's check) */
#define MIG_COMPRESS_PAGE_NS UINT64_C(12000)     /* one page at level 0 (migsim's figure) */
#define MIG_COMPRESS_LEVEL_NS UINT64_C(4000)     /* ...and per compress-level */

/*
 * Compresses one page at level (0..9) into out (MIG_COMPRESS_PAGE_BYTES_MAX):
 * a zlib stream as QEMU's deflateInit(level) + deflate(Z_FINISH) makes it.
 * Returns its length.
 */
uint32_t mig_compress_page(const uint8_t *page, int32_t level, uint8_t *out);
/*
 * Inflates one record's zlib stream into page (MIG_PAGE_BYTES).  False when it
 * is not one complete stream of exactly a page; detail says what zlib said.
 */
bool mig_compress_inflate(const uint8_t *in, uint32_t in_bytes, uint8_t *page, char *detail,
                          size_t detail_bytes);
/*
 * QEMU 7.2's own test (qemu_uncompress_data, "decompress data failed"): the
 * zlib stream ends within a page, however many bytes it inflates to (the
 * rest of the page keeps what it held) and whatever follows it in the
 * record.  *inflated: the bytes it gave.
 */
bool mig_compress_inflate_ends(const uint8_t *in, uint32_t in_bytes, uint8_t *page,
                               uint32_t *inflated, char *detail, size_t detail_bytes);

struct mig_compress_threads {      /* caller-owned; fields private */
  uint32_t threads_count;
  bool wait;                       /* compress-wait-thread */
  uint64_t page_ns;                /* a thread's time per page at this level */
  uint64_t busy_until_ns[MIG_COMPRESS_THREADS_MAX];
};

void mig_compress_threads_init(struct mig_compress_threads *threads, uint32_t threads_count,
                               bool wait, int32_t level);
/*
 * A thread for a page at now_ns: false when every thread is busy and the
 * source does not wait (QEMU's `busy`).  Else *start_ns is when the thread
 * takes it (now, or when the first busy thread is done, when waiting).
 */
bool mig_compress_thread_take(struct mig_compress_threads *threads, uint64_t now_ns,
                              uint64_t *start_ns);

/* query-migrate's compression counters (QEMU 7.2 compression_counters), integers only. */
struct mig_compress_stats {
  uint64_t pages;                  /* COMPRESS_PAGE records */
  uint64_t busy_count;             /* pages sent normally: every thread busy */
  uint64_t compressed_bytes;       /* compressed-size: records' bytes less the 8-byte header */
  uint64_t waited_ns;              /* the source's time waiting for a thread (migsim's) */
  /* QMP's rates (7.2 migration_update_rates) as integer fractions; the report divides. */
  uint64_t busy_rate_numerator;    /* busy pages in the last period that handled a page */
  uint64_t busy_rate_denominator;  /* pages the source handled in it; 0: none yet */
  uint64_t compression_rate_numerator;   /* pages x page size, last period with output */
  uint64_t compression_rate_denominator; /* their compressed-size; 0: none yet */
};

#endif /* MIG_COMPRESS_H */
