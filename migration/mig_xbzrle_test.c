/*
 * mig_xbzrle_test.c: XBZRLE and compress (mig_xbzrle.h, mig_compress.h,
 * mig_ramenc.c): the encoding against spec §6.6's real record and QEMU's
 * overflow rule, the page cache's lifetime rule, whole RAM sections written
 * and loaded with each encoding, and the loader's refusals.
 */
/* zlib.h before sim_base.h: it names a field "time", which sim_base.h poisons. */
#include <zlib.h>

#include "sim_base.h"

#include "mig_compress.h"
#include "mig_format.h"
#include "mig_ram.h"
#include "mig_xbzrle.h"
#include "sim_check.h"
#include "sim_prng.h"

START_TEST(mig_xbzrle_encodes_the_recorded_7_2_page)
{
  /* Goal: one changed byte at 1132 encodes as spec §6.6's record (ec08 01 7d); method: encode. */
  static uint8_t old_page[MIG_PAGE_BYTES], new_page[MIG_PAGE_BYTES];
  uint8_t encoded[MIG_PAGE_BYTES];
  memset(old_page, 0x11, sizeof old_page);
  memcpy(new_page, old_page, sizeof new_page);
  ck_assert_int_eq(mig_xbzrle_encode(old_page, new_page, encoded, MIG_PAGE_BYTES), 0);
  new_page[1132] = 0x7d;
  ck_assert_int_eq(mig_xbzrle_encode(old_page, new_page, encoded, MIG_PAGE_BYTES), 4);
  static const uint8_t expect[] = {0xec, 0x08, 0x01, 0x7d};
  ck_assert_mem_eq(encoded, expect, sizeof expect);
  /* A change at byte 0: a zero-run of 0 first; a change at the end: no trailing run. */
  new_page[0] = 0x22;
  new_page[MIG_PAGE_BYTES - 1] = 0x33;
  int32_t length = mig_xbzrle_encode(old_page, new_page, encoded, MIG_PAGE_BYTES);
  static const uint8_t expect2[] = {0x00, 0x01, 0x22, 0xeb, 0x08, 0x01, 0x7d,
                                    0x92, 0x17, 0x01, 0x33};
  ck_assert_int_eq(length, (int32_t)sizeof expect2);
  ck_assert_mem_eq(encoded, expect2, sizeof expect2);
}
END_TEST

START_TEST(mig_xbzrle_round_trips_and_overflows)
{
  /* Goal: decode(encode(old, new)) onto old is new, or -1 when it would not fit a page. */
  static uint8_t old_page[MIG_PAGE_BYTES], new_page[MIG_PAGE_BYTES], page[MIG_PAGE_BYTES];
  uint8_t encoded[MIG_PAGE_BYTES];
  struct sim_prng prng;
  sim_prng_init(&prng, 5);
  uint32_t overflows = 0, encoded_count = 0;
  for (uint32_t round = 0; round < 400; round++) {
    for (uint32_t i = 0; i < MIG_PAGE_BYTES; i++) old_page[i] = (uint8_t)sim_prng_u64(&prng);
    memcpy(new_page, old_page, sizeof new_page);
    uint32_t changes = 1 + round * 3;
    for (uint32_t c = 0; c < changes; c++) {
      new_page[sim_prng_u64(&prng) % MIG_PAGE_BYTES] ^= (uint8_t)(1 + sim_prng_u64(&prng) % 255);
    }
    int32_t length = mig_xbzrle_encode(old_page, new_page, encoded, MIG_PAGE_BYTES);
    if (length < 0) {
      overflows++;
      continue;
    }
    ck_assert_int_gt(length, 0);
    memcpy(page, old_page, sizeof page);
    uint32_t bad = 0;
    const char *reason = NULL;
    ck_assert(mig_xbzrle_decode(encoded, (uint32_t)length, page, &bad, &reason));
    ck_assert_mem_eq(page, new_page, sizeof page);
    encoded_count++;
  }
  ck_assert_uint_gt(encoded_count, 300);
  (void)overflows; /* random changes merge into runs: few, if any, overflow */
  /* Every other byte changed: 2048 pairs of 3 bytes pass the page. */
  for (uint32_t i = 0; i < MIG_PAGE_BYTES; i++) new_page[i] = old_page[i] ^ (i % 2);
  ck_assert_int_eq(mig_xbzrle_encode(old_page, new_page, encoded, MIG_PAGE_BYTES), -1);
  /* Every byte different: one pair of 4096 bytes plus 3 of lengths passes the page. */
  for (uint32_t i = 0; i < MIG_PAGE_BYTES; i++) new_page[i] = (uint8_t)~old_page[i];
  ck_assert_int_eq(mig_xbzrle_encode(old_page, new_page, encoded, MIG_PAGE_BYTES), -1);
}
END_TEST

START_TEST(mig_xbzrle_decode_random_bytes)
{
  /* Goal: any bytes up to a page decode or are refused at an index inside them, never past
   * the page (asan watches); method: 4,000 random encodings, half built from short runs. */
  static uint8_t page[MIG_PAGE_BYTES], encoded[MIG_PAGE_BYTES];
  struct sim_prng prng;
  sim_prng_init(&prng, 17);
  uint32_t accepted = 0;
  for (uint32_t round = 0; round < 4000; round++) {
    uint32_t length = (uint32_t)(sim_prng_u64(&prng) % (MIG_PAGE_BYTES + 1));
    for (uint32_t i = 0; i < length; i++) {
      uint8_t byte = (uint8_t)sim_prng_u64(&prng);
      encoded[i] = round % 2 == 0 ? byte : (uint8_t)(byte & 0x0f);
    }
    uint32_t bad = UINT32_MAX;
    const char *reason = NULL;
    if (mig_xbzrle_decode(encoded, length, page, &bad, &reason)) {
      accepted++;
      continue;
    }
    ck_assert_ptr_nonnull(reason);
    ck_assert_uint_lt(bad, length);
  }
  ck_assert_uint_gt(accepted, 0);  /* length 0 at least, and some short-run encodings */
}
END_TEST

START_TEST(mig_xbzrle_cache_keeps_fresh_entries)
{
  /* Goal: QEMU's page_cache rules: direct-mapped, fresh entries kept two syncs, hits refresh. */
  struct sim_options options = {.seed = 1};
  struct sim *sim = sim_create(&options);
  struct mig_xbzrle_cache cache;
  mig_xbzrle_cache_init(&cache, sim, 4 * MIG_PAGE_BYTES, 64);
  ck_assert_uint_eq(cache.slots_count, 4);
  static uint8_t page[MIG_PAGE_BYTES];
  memset(page, 7, sizeof page);
  ck_assert(!mig_xbzrle_cache_hit(&cache, 0, 1));
  ck_assert(mig_xbzrle_cache_insert(&cache, 0, page, 1));
  ck_assert(mig_xbzrle_cache_hit(&cache, 0, 1));
  /* Page 4 maps to slot 0: refused while the entry is younger than two syncs. */
  ck_assert(!mig_xbzrle_cache_insert(&cache, 4 * MIG_PAGE_BYTES, page, 2));
  ck_assert(mig_xbzrle_cache_hit(&cache, 0, 2)); /* a hit at age 2 refreshes it */
  ck_assert(!mig_xbzrle_cache_insert(&cache, 4 * MIG_PAGE_BYTES, page, 3));
  ck_assert(mig_xbzrle_cache_insert(&cache, 4 * MIG_PAGE_BYTES, page, 4));
  ck_assert(!mig_xbzrle_cache_hit(&cache, 0, 4));
  ck_assert_mem_eq(mig_xbzrle_cache_page(&cache, 4 * MIG_PAGE_BYTES), page, sizeof page);
  ck_assert_uint_eq(cache.used_count, 1);
  sim_destroy(sim);
}
END_TEST

#define PAIR_PAGES 256u

struct pair {
  struct sim *sim;
  struct ram_block *source;
  struct ram_block *dest;
  struct mig_membuf stream;
  struct mig_writer writer;
  uint8_t buffer[4096];
  struct mig_ram_source ram;
  struct mig_ram_dest ram_dest;
  struct mig_policy policy;
};

static enum mig_err membuf_sink(void *context, const uint8_t *bytes, size_t count)
{
  return mig_membuf_write(context, bytes, count);
}

/* A dense 1 MiB block on each side, half of it filled, the source encoding as options say. */
static void pair_init(struct pair *pair, const struct mig_ram_encode_options *options)
{
  struct sim_options sim_options = {.seed = 3};
  pair->sim = sim_create(&sim_options);
  struct ram_block_options block = {.name = "pc.ram", .used_bytes = PAIR_PAGES * MIG_PAGE_BYTES};
  pair->source = ram_block_create_with(pair->sim, &block);
  pair->dest = ram_block_create_with(pair->sim, &block);
  struct sim_prng prng;
  sim_prng_init(&prng, 9);
  for (uint64_t page = 0; page < PAIR_PAGES / 2; page++) {
    for (uint32_t word = 0; word < MIG_PAGE_BYTES / 8; word += 1 + page % 8) {
      ram_store(pair->source, page, word, sim_prng_u64(&prng));
    }
  }
  mig_membuf_init(&pair->stream, (size_t)64 << 20);
  mig_writer_init(&pair->writer, pair->buffer, sizeof pair->buffer, membuf_sink, &pair->stream);
  mig_ram_source_init(&pair->ram, pair->sim, &pair->source, 1);
  mig_ram_source_encode_set(&pair->ram, pair->sim, options);
  mig_ram_dest_init(&pair->ram_dest, &pair->dest, 1);
  pair->policy = mig_policy_strict;
  pair->policy.ram_xbzrle_refused = !options->xbzrle;
  pair->policy.ram_compress_refused = !options->compress;
  pair->ram_dest.policy = &pair->policy;
}

static void pair_deinit(struct pair *pair)
{
  mig_membuf_deinit(&pair->stream);
  sim_destroy(pair->sim);
}

/* Loads what was written since *at as one section; returns the loader's error. */
static enum mig_err pair_load(struct pair *pair, size_t *at, uint8_t type, struct mig_error *error)
{
  ck_assert_int_eq(mig_writer_flush(&pair->writer), MIG_OK);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, pair->stream.bytes + *at, pair->stream.count - *at);
  enum mig_err err = mig_ram_load(&pair->ram_dest, &reader, type);
  if (error != NULL) *error = *mig_reader_error(&reader);
  *at = pair->stream.count;
  return err;
}

/* Setup, four rounds with a few words changed in 16 pages between them, completion. */
static enum mig_err pair_migrate(struct pair *pair, struct mig_error *error)
{
  size_t at = 0;
  mig_ram_save_setup(&pair->ram, &pair->writer);
  enum mig_err err = pair_load(pair, &at, MIG_SECTION_START, error);
  for (uint32_t round = 0; round < 4 && err == MIG_OK; round++) {
    while (err == MIG_OK && !mig_ram_save_iterate(&pair->ram, &pair->writer, 64)) {
      err = pair_load(pair, &at, MIG_SECTION_PART, error);
    }
    if (err == MIG_OK) err = pair_load(pair, &at, MIG_SECTION_PART, error);
    for (uint64_t page = 0; page < 16; page++) ram_store(pair->source, page * 3, round, page);
    mig_ram_sync(&pair->ram);
  }
  if (err != MIG_OK) return err;
  mig_ram_save_complete(&pair->ram, &pair->writer);
  return pair_load(pair, &at, MIG_SECTION_END, error);
}

static void pair_check_equal(const struct pair *pair)
{
  for (uint64_t page = 0; page < PAIR_PAGES; page++) {
    ck_assert_mem_eq(ram_page(pair->dest, page), ram_page(pair->source, page), MIG_PAGE_BYTES);
  }
}

START_TEST(mig_xbzrle_section_loads_equal)
{
  /* Goal: XBZRLE from the third round on, applied by the loader; method: rounds with stores. */
  static struct pair pair;
  struct mig_ram_encode_options options = {.xbzrle = true,
                                           .xbzrle_cache_bytes = 64 * MIG_PAGE_BYTES};
  pair_init(&pair, &options);
  struct mig_error error;
  ck_assert_int_eq(pair_migrate(&pair, &error), MIG_OK);
  pair_check_equal(&pair);
  const struct mig_xbzrle_stats *stats = mig_ram_source_xbzrle_stats(&pair.ram);
  ck_assert_uint_gt(stats->encoded_count, 0);
  ck_assert_uint_eq(pair.ram_dest.xbzrle_pages_count, stats->encoded_count);
  ck_assert_uint_gt(stats->cache_miss_count, 0);
  ck_assert_uint_eq(stats->pages, stats->encoded_count + stats->skipped_count +
                                      stats->overflow_count);
  ck_assert_uint_gt(stats->saved_bytes, stats->encoded_count * (MIG_PAGE_BYTES / 2));
  pair_deinit(&pair);
}
END_TEST

/* The payload offset of the first record of kind (XBZRLE, COMPRESS_PAGE), by the record layer. */
static size_t first_payload(const struct mig_membuf *stream, uint32_t kind)
{
  struct mig_reader reader;
  mig_reader_init_memory(&reader, stream->bytes, stream->count);
  struct mig_record_options options;
  struct mig_policy policy = mig_policy_strict;
  policy.ram_xbzrle_refused = false;
  policy.ram_compress_refused = false;
  mig_record_options_from_policy(&policy, &options);
  uint8_t type = MIG_SECTION_START;
  while (!mig_reader_at_end(&reader)) {
    static struct mig_tokenizer tokenizer;
    mig_tokenizer_init_payload(&tokenizer, &reader, &options, type, MIG_RAM_IDSTR);
    type = MIG_SECTION_PART;
    struct mig_record record;
    for (;;) {
      ck_assert_int_eq(mig_record_next(&tokenizer, &record), MIG_OK);
      if (record.kind != MIG_RECORD_RAM) continue;
      if (record.ram.kind == kind) return (size_t)record.payload_offset;
      if (record.ram.kind == MIG_RAM_FLAG_EOS) break;
    }
  }
  return 0;
}

/* One hostile edit of a captured stream and the error the loader must latch for it. */
struct refusal {
  const char *name;
  size_t at;                       /* offset of the first edited byte */
  uint8_t bytes[4];
  uint32_t bytes_count;
  bool refuse_kind;                /* load with the encoding refused by the policy */
  enum mig_err code;
  size_t offset;                   /* the error's offset */
  const char *path;
  const char *detail;              /* a substring of the detail, or NULL */
};

/* Loads stream with one edit into a fresh destination; checks the latched error. */
static void refusal_check(struct pair *pair, const struct refusal *r, uint32_t kind)
{
  static struct mig_membuf copy;
  mig_membuf_init(&copy, pair->stream.count);
  ck_assert_int_eq(mig_membuf_write(&copy, pair->stream.bytes, pair->stream.count), MIG_OK);
  memcpy(copy.bytes + r->at, r->bytes, r->bytes_count);
  struct mig_policy policy = pair->policy;
  if (r->refuse_kind && kind == MIG_RAM_FLAG_XBZRLE) policy.ram_xbzrle_refused = true;
  if (r->refuse_kind && kind == MIG_RAM_FLAG_COMPRESS_PAGE) policy.ram_compress_refused = true;
  struct ram_block *block = ram_block_create_with(
      pair->sim, &(struct ram_block_options){.name = "pc.ram",
                                             .used_bytes = PAIR_PAGES * MIG_PAGE_BYTES});
  struct mig_ram_dest dest;
  mig_ram_dest_init(&dest, &block, 1);
  dest.policy = &policy;
  struct mig_reader reader;
  mig_reader_init_memory(&reader, copy.bytes, copy.count);
  enum mig_err err = MIG_OK;
  uint8_t type = MIG_SECTION_START;
  while (err == MIG_OK && !mig_reader_at_end(&reader)) {
    err = mig_ram_load(&dest, &reader, type);
    type = MIG_SECTION_PART;
  }
  const struct mig_error *error = mig_reader_error(&reader);
  ck_assert_msg(err == r->code, "%s: error %d, expected %d", r->name, err, r->code);
  ck_assert_msg(error->offset == r->offset, "%s: offset %" PRIu64 ", expected %zu", r->name,
                error->offset, r->offset);
  ck_assert_msg(strcmp(error->path, r->path) == 0, "%s: path %s", r->name, error->path);
  ck_assert_msg(r->detail == NULL || strstr(error->detail, r->detail) != NULL, "%s: %s",
                r->name, error->detail);
  mig_membuf_deinit(&copy);
}

START_TEST(mig_xbzrle_loader_refusals)
{
  /* Goal: hostile XBZRLE records fail with their offset and path, never crash; method: the
   * stream of a run, edited one way at a time and loaded into a fresh destination. */
  static struct pair pair;
  struct mig_ram_encode_options options = {.xbzrle = true,
                                           .xbzrle_cache_bytes = 64 * MIG_PAGE_BYTES};
  pair_init(&pair, &options);
  ck_assert_int_eq(pair_migrate(&pair, NULL), MIG_OK);
  size_t payload = first_payload(&pair.stream, MIG_RAM_FLAG_XBZRLE);
  ck_assert_uint_gt(payload, 3);
  size_t flag = payload - 3;  /* encoding byte, be16 length, then the encoded pairs */
  const struct refusal refusals[] = {
      {"wrong encoding", flag, {0x02}, 1, false, MIG_ERR_BAD_VALUE, flag, "ram/pc.ram/xbzrle",
       "wrong compression"},
      {"uleb128 over 14 bits", payload, {0xff, 0xc0}, 2, false, MIG_ERR_BAD_VALUE, payload,
       "ram/pc.ram/xbzrle", "decode error"},
      /*
       * The record layer bounds the length before reading a byte of it.  Its path has no
       * block name here: this harness gives each section a fresh tokenizer, which cannot
       * know what a CONTINUE record means (the engine's loader keeps one for the stream).
       */
      {"length over a page", flag + 1, {0x10, 0x01}, 2, false, MIG_ERR_TOO_LONG, flag + 1,
       "ram//xbzrle", "length 4097"},
      {"zero-run past the page", payload, {0xff, 0x7f}, 2, false, MIG_ERR_BAD_VALUE, payload,
       "ram/pc.ram/xbzrle", "zero-run past the page"},
      {"refused by policy", flag, {0x01}, 1, true, MIG_ERR_RAM_FLAGS, flag - 8, "ram/flags",
       NULL},
  };
  for (size_t i = 0; i < SIM_ARRAY_COUNT(refusals); i++) {
    refusal_check(&pair, &refusals[i], MIG_RAM_FLAG_XBZRLE);
  }
  pair_deinit(&pair);
}
END_TEST

START_TEST(mig_compress_loader_refusals)
{
  /* Goal: hostile COMPRESS_PAGE records (a length past compressBound, a broken zlib stream)
   * fail with their offset and path; method: as mig_xbzrle_loader_refusals. */
  static struct pair pair;
  struct mig_ram_encode_options options = {.compress = true, .compress_level = 1,
                                           .compress_threads = 8, .compress_wait = true};
  pair_init(&pair, &options);
  ck_assert_int_eq(pair_migrate(&pair, NULL), MIG_OK);
  size_t payload = first_payload(&pair.stream, MIG_RAM_FLAG_COMPRESS_PAGE);
  ck_assert_uint_gt(payload, 4);
  size_t length = payload - 4;
  const struct refusal refusals[] = {
      {"length past compressBound", length, {0x00, 0x00, 0x10, 0x12}, 4, false,
       MIG_ERR_TOO_LONG, length, "ram/pc.ram/compressed", "length 4114"},
      {"length 2^32-1", length, {0xff, 0xff, 0xff, 0xff}, 4, false, MIG_ERR_TOO_LONG, length,
       "ram/pc.ram/compressed", NULL},
      {"not a zlib header", payload, {0x00, 0x00}, 2, false, MIG_ERR_BAD_VALUE, payload,
       "ram/pc.ram/compressed", "zlib -3"},
      {"refused by policy", length, {0x00}, 1, true, MIG_ERR_RAM_FLAGS, length - 8, "ram/flags",
       NULL},
  };
  for (size_t i = 0; i < SIM_ARRAY_COUNT(refusals); i++) {
    refusal_check(&pair, &refusals[i], MIG_RAM_FLAG_COMPRESS_PAGE);
  }
  pair_deinit(&pair);
}
END_TEST

/* Sends whatever is dirty as one or more PART sections, loading each. */
static enum mig_err pair_round(struct pair *pair, size_t *at)
{
  enum mig_err err = MIG_OK;
  while (err == MIG_OK && !mig_ram_save_iterate(&pair->ram, &pair->writer, 64)) {
    err = pair_load(pair, at, MIG_SECTION_PART, NULL);
  }
  return err == MIG_OK ? pair_load(pair, at, MIG_SECTION_PART, NULL) : err;
}

START_TEST(mig_xbzrle_overflow_sends_the_page)
{
  /* Goal: a cached page rewritten whole overflows (7.2: counted, a page in bytes, sent plain)
   * and still loads equal; method: two rounds, then every word of 8 cached pages changed. */
  static struct pair pair;
  struct mig_ram_encode_options options = {.xbzrle = true,
                                           .xbzrle_cache_bytes = 64 * MIG_PAGE_BYTES};
  pair_init(&pair, &options);
  size_t at = 0;
  mig_ram_save_setup(&pair.ram, &pair.writer);
  ck_assert_int_eq(pair_load(&pair, &at, MIG_SECTION_START, NULL), MIG_OK);
  ck_assert_int_eq(pair_round(&pair, &at), MIG_OK);  /* round 1: plain; XBZRLE on after it */
  for (uint64_t page = 0; page < 8; page++) ram_store(pair.source, page, 0, 1 + page);
  mig_ram_sync(&pair.ram);
  ck_assert_int_eq(pair_round(&pair, &at), MIG_OK);  /* round 2: misses, cached */
  const struct mig_xbzrle_stats *stats = mig_ram_source_xbzrle_stats(&pair.ram);
  ck_assert_uint_eq(stats->cache_miss_count, 8);
  ck_assert_uint_eq(stats->overflow_count, 0);
  struct sim_prng prng;
  sim_prng_init(&prng, 11);
  for (uint64_t page = 0; page < 8; page++) {
    for (uint32_t word = 0; word < MIG_PAGE_BYTES / 8; word++) {
      ram_store(pair.source, page, word, sim_prng_u64(&prng) | 0x0101010101010101u);
    }
  }
  uint64_t normal_before = pair.ram.normal_pages_count;
  mig_ram_sync(&pair.ram);
  ck_assert_int_eq(pair_round(&pair, &at), MIG_OK);  /* round 3: hits that overflow */
  ck_assert_uint_eq(stats->overflow_count, 8);
  ck_assert_uint_eq(stats->pages, 8);
  ck_assert_uint_eq(stats->bytes, 8 * MIG_PAGE_BYTES);
  ck_assert_uint_eq(pair.ram.normal_pages_count - normal_before, 8);
  mig_ram_save_complete(&pair.ram, &pair.writer);
  ck_assert_int_eq(pair_load(&pair, &at, MIG_SECTION_END, NULL), MIG_OK);
  pair_check_equal(&pair);
  pair_deinit(&pair);
}
END_TEST

START_TEST(mig_ram_release_frees_pages_sent_in_postcopy)
{
  /* Goal: release-ram frees a page once written in postcopy, and never in precopy; method: a
   * round, then re-dirtied pages sent after mig_ram_source_postcopy_begin. */
  static struct pair pair;
  struct mig_ram_encode_options options = {0};
  pair_init(&pair, &options);
  mig_ram_source_release_set(&pair.ram, true);
  size_t at = 0;
  mig_ram_save_setup(&pair.ram, &pair.writer);
  ck_assert_int_eq(pair_load(&pair, &at, MIG_SECTION_START, NULL), MIG_OK);
  ck_assert_int_eq(pair_round(&pair, &at), MIG_OK);
  ck_assert_uint_eq(pair.ram.released_pages_count, 0);  /* precopy: nothing released */
  ck_assert(!ram_page_is_zero(pair.source, 5));
  for (uint64_t page = 0; page < 4; page++) ram_store(pair.source, page + 4, 1, 7);
  mig_ram_sync(&pair.ram);
  mig_ram_source_postcopy_begin(&pair.ram);
  ck_assert_int_eq(pair_round(&pair, &at), MIG_OK);
  ck_assert_uint_eq(pair.ram.released_pages_count, 4);
  ck_assert_uint_eq(pair.source->released_pages_count, 4);
  for (uint64_t page = 0; page < PAIR_PAGES; page++) {
    bool released = page >= 4 && page < 8;
    /* The destination got the page before the source let it go. */
    ck_assert_uint_eq(ram_page_is_zero(pair.dest, page), page >= PAIR_PAGES / 2);
    if (released) ck_assert(ram_page_is_zero(pair.source, page));
    else ck_assert_mem_eq(ram_page(pair.dest, page), ram_page(pair.source, page),
                          MIG_PAGE_BYTES);
  }
  pair_deinit(&pair);
}
END_TEST

START_TEST(mig_compress_section_loads_equal)
{
  /* Goal: the first round goes out as zlib pages (a block's first page plain), loads equal. */
  static struct pair pair;
  struct mig_ram_encode_options options = {.compress = true, .compress_level = 1,
                                           .compress_threads = 8, .compress_wait = true};
  pair_init(&pair, &options);
  ck_assert_int_eq(pair_migrate(&pair, NULL), MIG_OK);
  pair_check_equal(&pair);
  const struct mig_compress_stats *stats = mig_ram_source_compress_stats(&pair.ram);
  ck_assert_uint_gt(stats->pages, PAIR_PAGES / 2 - 2);
  ck_assert_uint_eq(pair.ram_dest.compressed_pages_count, stats->pages);
  /* Pages with at most every other word set compress below half a page each. */
  ck_assert_uint_lt(stats->compressed_bytes, stats->pages * MIG_PAGE_BYTES / 2);
  ck_assert_uint_eq(stats->busy_count, 0);
  pair_deinit(&pair);
}
END_TEST

START_TEST(mig_compress_busy_threads_send_plain)
{
  /* Goal: without compress-wait-thread, pages find the one thread busy and go out plain. */
  static struct pair pair;
  struct mig_ram_encode_options options = {.compress = true, .compress_level = 9,
                                           .compress_threads = 1, .compress_wait = false};
  pair_init(&pair, &options);
  ck_assert_int_eq(pair_migrate(&pair, NULL), MIG_OK);
  pair_check_equal(&pair);
  const struct mig_compress_stats *stats = mig_ram_source_compress_stats(&pair.ram);
  /* Simulated time does not move here: one page per thread, then every page is busy. */
  ck_assert_uint_eq(stats->pages, 1);
  ck_assert_uint_gt(stats->busy_count, PAIR_PAGES / 2);
  struct mig_compress_threads threads;
  mig_compress_threads_init(&threads, 2, true, 0);
  uint64_t start_ns = 0;
  ck_assert(mig_compress_thread_take(&threads, 100, &start_ns) && start_ns == 100);
  ck_assert(mig_compress_thread_take(&threads, 100, &start_ns) && start_ns == 100);
  ck_assert(mig_compress_thread_take(&threads, 100, &start_ns));
  ck_assert_uint_eq(start_ns, 100 + MIG_COMPRESS_PAGE_NS);
  pair_deinit(&pair);
}
END_TEST

START_TEST(mig_compress_inflate_refuses_bad_streams)
{
  /* Goal: a cut stream, a stream of another length and garbage are refused with zlib's code. */
  static uint8_t page[MIG_PAGE_BYTES], out[MIG_PAGE_BYTES];
  uint8_t compressed[MIG_COMPRESS_PAGE_BYTES_MAX];
  memset(page, 0x5a, sizeof page);
  uint32_t length = mig_compress_page(page, 6, compressed);
  ck_assert_uint_lt(length, 64);
  ck_assert_uint_eq(compressed[0], 0x78); /* a zlib header */
  char detail[64];
  ck_assert(mig_compress_inflate(compressed, length, out, detail, sizeof detail));
  ck_assert_mem_eq(out, page, sizeof page);
  ck_assert(!mig_compress_inflate(compressed, length - 1, out, detail, sizeof detail));
  uint8_t small[MIG_COMPRESS_PAGE_BYTES_MAX];
  uint32_t small_bytes = 0;
  {
    uLongf bytes = sizeof small;
    ck_assert_int_eq(compress2(small, &bytes, page, 100, 1), Z_OK);
    small_bytes = (uint32_t)bytes;
  }
  ck_assert(!mig_compress_inflate(small, small_bytes, out, detail, sizeof detail));
  ck_assert_ptr_nonnull(strstr(detail, "100 bytes inflated"));
  memset(small, 0xff, 32);
  ck_assert(!mig_compress_inflate(small, 32, out, detail, sizeof detail));
}
END_TEST

Suite *mig_xbzrle_suite(void)
{
  Suite *suite = suite_create("mig_xbzrle");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, mig_xbzrle_encodes_the_recorded_7_2_page);
  tcase_add_test(tc, mig_xbzrle_round_trips_and_overflows);
  tcase_add_test(tc, mig_xbzrle_decode_random_bytes);
  tcase_add_test(tc, mig_xbzrle_cache_keeps_fresh_entries);
  tcase_add_test(tc, mig_xbzrle_section_loads_equal);
  tcase_add_test(tc, mig_xbzrle_loader_refusals);
  tcase_add_test(tc, mig_xbzrle_overflow_sends_the_page);
  tcase_add_test(tc, mig_ram_release_frees_pages_sent_in_postcopy);
  tcase_add_test(tc, mig_compress_loader_refusals);
  tcase_add_test(tc, mig_compress_section_loads_equal);
  tcase_add_test(tc, mig_compress_busy_threads_send_plain);
  tcase_add_test(tc, mig_compress_inflate_refuses_bad_streams);
  suite_add_tcase(suite, tc);
  return suite;
}
