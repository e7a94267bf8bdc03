/*
 * mig_compress.c: zlib pages and the compression threads' time (overview in
 * mig_compress.h; QEMU 7.2's migration/ram.c and qemu-file.c for the rules).
 */
/* zlib.h before sim_base.h: it names a field "time", which sim_base.h poisons. */
#include <zlib.h>

#include "sim_base.h"

#include "mig_compress.h"

_Static_assert(MIG_COMPRESS_PAGE_BYTES_MAX >= 4096 + 13, "compressBound(page) fits");

uint32_t mig_compress_page(const uint8_t *page, int32_t level, uint8_t *out)
{
  SIM_ASSERT(level >= 0 && level <= 9);
  uLongf out_bytes = MIG_COMPRESS_PAGE_BYTES_MAX;
  SIM_ASSERT(compressBound(MIG_PAGE_BYTES) <= MIG_COMPRESS_PAGE_BYTES_MAX);
  /* compress2: deflateInit(level) defaults (window 15, memLevel 8), one Z_FINISH: QEMU's. */
  int ret = compress2(out, &out_bytes, page, MIG_PAGE_BYTES, level);
  SIM_ASSERT(ret == Z_OK);
  SIM_ASSERT(out_bytes <= MIG_COMPRESS_PAGE_BYTES_MAX);
  return (uint32_t)out_bytes;
}

bool mig_compress_inflate_ends(const uint8_t *in, uint32_t in_bytes, uint8_t *page,
                               uint32_t *inflated, char *detail, size_t detail_bytes)
{
  uLongf page_bytes = MIG_PAGE_BYTES;
  int ret = uncompress(page, &page_bytes, in, (uLong)in_bytes);
  *inflated = (uint32_t)page_bytes;
  if (ret == Z_OK) return true;
  snprintf(detail, detail_bytes, "zlib %d, %lu bytes inflated", ret, (unsigned long)page_bytes);
  return false;
}

bool mig_compress_inflate(const uint8_t *in, uint32_t in_bytes, uint8_t *page, char *detail,
                          size_t detail_bytes)
{
  uint32_t inflated = 0;
  if (!mig_compress_inflate_ends(in, in_bytes, page, &inflated, detail, detail_bytes)) {
    return false;
  }
  if (inflated == MIG_PAGE_BYTES) return true;
  snprintf(detail, detail_bytes, "zlib 0, %" PRIu32 " bytes inflated", inflated);
  return false;
}

void mig_compress_threads_init(struct mig_compress_threads *threads, uint32_t threads_count,
                               bool wait, int32_t level)
{
  SIM_ASSERT(threads_count >= 1 && threads_count <= MIG_COMPRESS_THREADS_MAX);
  SIM_ASSERT(level >= 0 && level <= 9);
  memset(threads, 0, sizeof *threads);
  threads->threads_count = threads_count;
  threads->wait = wait;
  threads->page_ns = MIG_COMPRESS_PAGE_NS + MIG_COMPRESS_LEVEL_NS * (uint64_t)level;
}

bool mig_compress_thread_take(struct mig_compress_threads *threads, uint64_t now_ns,
                              uint64_t *start_ns)
{
  /* The first thread to be free, lowest index first among equals (deterministic). */
  uint32_t best = 0;
  for (uint32_t t = 1; t < threads->threads_count; t++) {
    if (threads->busy_until_ns[t] < threads->busy_until_ns[best]) best = t;
  }
  uint64_t free_ns = threads->busy_until_ns[best];
  if (free_ns > now_ns && !threads->wait) return false;
  *start_ns = SIM_MAX(free_ns, now_ns);
  threads->busy_until_ns[best] = *start_ns + threads->page_ns;
  return true;
}
