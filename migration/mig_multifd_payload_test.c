/*
 * mig_multifd_payload_test.c: the one compressed-payload decoder, alone: a
 * channel's packets, compressed here as QEMU 7.2 does (one stream, a sync
 * flush per packet), decode to the same pages whatever the pieces and
 * whether output goes to pages or is counted; too much output, too little
 * and a zlib stream that ends are refused with the sink's codes.
 */
/* zlib.h and zstd.h before sim_base.h: they name a field "time", which it poisons. */
#include <zlib.h>
#include <zstd.h>

#include "sim_base.h"

#include "mig_multifd_payload.h"
#include "sim_check.h"

#define PAGES 3
#define PACKET_BYTES (PAGES * MIG_PAGE_BYTES)
#define WIRE_BYTES_MAX (2 * PACKET_BYTES + 256)

/* One channel's compressor (the sender's side, as QEMU's multifd-zlib/-zstd). */
struct packer {
  enum mig_multifd_compression method;
  z_stream zs;
  ZSTD_CCtx *cctx;
};

static void packer_init(struct packer *p, enum mig_multifd_compression method)
{
  memset(p, 0, sizeof *p);
  p->method = method;
  if (method == MIG_MULTIFD_COMPRESSION_ZLIB) {
    ck_assert_int_eq(deflateInit(&p->zs, 1), Z_OK);
  } else {
    p->cctx = ZSTD_createCCtx();
    ck_assert_ptr_nonnull(p->cctx);
  }
}

static void packer_deinit(struct packer *p)
{
  if (p->method == MIG_MULTIFD_COMPRESSION_ZLIB) (void)deflateEnd(&p->zs);
  ZSTD_freeCCtx(p->cctx);
}

/* One packet's pages, flushed (or, finish, the zlib stream ended); returns its wire bytes. */
static size_t packer_packet(struct packer *p, const uint8_t *pages, size_t bytes, bool finish,
                            uint8_t out[WIRE_BYTES_MAX])
{
  if (p->method == MIG_MULTIFD_COMPRESSION_ZLIB) {
    p->zs.next_in = (Bytef *)(uintptr_t)pages;
    p->zs.avail_in = (uInt)bytes;
    p->zs.next_out = out;
    p->zs.avail_out = WIRE_BYTES_MAX;
    int ret = deflate(&p->zs, finish ? Z_FINISH : Z_SYNC_FLUSH);
    ck_assert_int_eq(ret, finish ? Z_STREAM_END : Z_OK);
    ck_assert_uint_eq(p->zs.avail_in, 0);
    return WIRE_BYTES_MAX - p->zs.avail_out;
  }
  ZSTD_inBuffer in = {.src = pages, .size = bytes, .pos = 0};
  ZSTD_outBuffer wire = {.dst = out, .size = WIRE_BYTES_MAX, .pos = 0};
  size_t left = ZSTD_compressStream2(p->cctx, &wire, &in, ZSTD_e_flush);
  ck_assert(!ZSTD_isError(left) && left == 0);
  return wire.pos;
}

/* PAGES pages of packet k: a pattern per page, some of it random-looking. */
static void pages_fill(uint8_t pages[PACKET_BYTES], uint32_t k)
{
  uint64_t x = 0x9e3779b97f4a7c15u * (k + 1);
  for (size_t i = 0; i < PACKET_BYTES; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    pages[i] = (i / MIG_PAGE_BYTES) % 2 == 0 ? (uint8_t)(i * 7 + k) : (uint8_t)x;
  }
}

/* Feeds wire to d in pieces of `piece` bytes; false with *fault on the first refusal. */
static bool feed_pieces(struct mig_multifd_payload *d, const uint8_t *wire, size_t count,
                        size_t piece, uint8_t *out, struct mig_multifd_fault *fault)
{
  for (size_t done = 0; done < count;) {
    size_t step = SIM_MIN(piece, count - done);
    if (!mig_multifd_payload_feed(d, wire + done, step, out, fault)) return false;
    done += step;
  }
  return true;
}

START_TEST(mig_multifd_payload_pieces_decode_alike)
{
  /*
   * Goal: the decoder's output does not depend on how the payload is cut or
   * where it goes.  Method: three packets on one stream per method, fed
   * whole, in 1-byte and in 7-byte pieces, into pages (compared) and to
   * NULL (counted); every packet ends with exactly its pages.
   */
  static const size_t pieces[] = {SIZE_MAX, 1, 7};
  for (int m = MIG_MULTIFD_COMPRESSION_ZLIB; m <= MIG_MULTIFD_COMPRESSION_ZSTD; m++) {
    for (size_t c = 0; c < SIM_ARRAY_COUNT(pieces) * 2; c++) {
      struct packer p;
      packer_init(&p, (enum mig_multifd_compression)m);
      struct mig_multifd_payload d;
      mig_multifd_payload_init(&d, (enum mig_multifd_compression)m);
      for (uint32_t k = 0; k < 3; k++) {
        static uint8_t pages[PACKET_BYTES], got[PACKET_BYTES], wire[WIRE_BYTES_MAX];
        pages_fill(pages, k);
        size_t count = packer_packet(&p, pages, sizeof pages, false, wire);
        memset(got, 0, sizeof got);
        struct mig_multifd_fault fault;
        uint8_t *out = c % 2 == 0 ? got : NULL;
        ck_assert(mig_multifd_payload_begin(&d, PACKET_BYTES, &fault));
        ck_assert_msg(feed_pieces(&d, wire, count, pieces[c / 2], out, &fault), "%s",
                      fault.detail);
        ck_assert(mig_multifd_payload_end(&d, &fault));
        if (out != NULL) ck_assert_mem_eq(got, pages, PACKET_BYTES);
      }
      mig_multifd_payload_deinit(&d);
      packer_deinit(&p);
    }
  }
}
END_TEST

/* One packet of PAGES pages (finish: zlib's stream ended) decoded against `expected` bytes. */
static struct mig_multifd_fault decode_one(enum mig_multifd_compression m, uint64_t expected,
                                           bool finish, bool to_pages, size_t *wire_bytes)
{
  static uint8_t pages[PACKET_BYTES], got[PACKET_BYTES], wire[WIRE_BYTES_MAX];
  struct packer p;
  packer_init(&p, m);
  pages_fill(pages, 0);
  *wire_bytes = packer_packet(&p, pages, sizeof pages, finish, wire);
  struct mig_multifd_payload d;
  mig_multifd_payload_init(&d, m);
  struct mig_multifd_fault fault = {.code = MIG_OK};
  ck_assert(mig_multifd_payload_begin(&d, expected, &fault));
  if (mig_multifd_payload_feed(&d, wire, *wire_bytes, to_pages ? got : NULL, &fault)) {
    (void)mig_multifd_payload_end(&d, &fault);
  }
  mig_multifd_payload_deinit(&d);
  packer_deinit(&p);
  return fault;
}

START_TEST(mig_multifd_payload_size_and_end_refused)
{
  /*
   * Goal: the sink's codes, for both readers' ways of output.  Method: one
   * packet of 3 pages decoded against 2 pages (TOO_LONG inside the input:
   * zstd's output held in its window is drawn out too), against 4 (TRUNCATED,
   * at 0: the caller's end offset), and a zlib stream ended with Z_FINISH
   * (BAD_VALUE); field is the method's name.
   */
  for (int m = MIG_MULTIFD_COMPRESSION_ZLIB; m <= MIG_MULTIFD_COMPRESSION_ZSTD; m++) {
    const char *name = m == MIG_MULTIFD_COMPRESSION_ZLIB ? "zlib" : "zstd";
    for (int to_pages = 0; to_pages < 2; to_pages++) {
      size_t count;
      struct mig_multifd_fault f = decode_one((enum mig_multifd_compression)m,
                                              2 * MIG_PAGE_BYTES, false, to_pages, &count);
      ck_assert_int_eq(f.code, MIG_ERR_TOO_LONG);
      ck_assert_uint_le(f.at, count);
      ck_assert_str_eq(f.field, name);
      f = decode_one((enum mig_multifd_compression)m, 4 * MIG_PAGE_BYTES, false, to_pages,
                     &count);
      ck_assert_int_eq(f.code, MIG_ERR_TRUNCATED);
      ck_assert_uint_eq(f.at, 0);
      ck_assert_str_eq(f.detail, "decompressed 12288 bytes, normal_pages x 4096 = 16384");
      if (m != MIG_MULTIFD_COMPRESSION_ZLIB) continue;
      f = decode_one((enum mig_multifd_compression)m, PACKET_BYTES, true, to_pages, &count);
      ck_assert_int_eq(f.code, MIG_ERR_BAD_VALUE);
      ck_assert_uint_eq(f.at, count);
      ck_assert(strstr(f.detail, "deflate stream ended") != NULL);
    }
  }
}
END_TEST

Suite *mig_multifd_payload_suite(void)
{
  Suite *suite = suite_create("mig_multifd_payload");
  TCase *core = tcase_create("core");
  tcase_add_test(core, mig_multifd_payload_pieces_decode_alike);
  tcase_add_test(core, mig_multifd_payload_size_and_end_refused);
  suite_add_tcase(suite, core);
  return suite;
}
