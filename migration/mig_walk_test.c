/*
 * mig_walk_test.c: the stream walker (mig_inspect.c) on hand-built streams:
 * the zero-page run fast path (every check of the record-by-record path, the
 * same error offsets, the batched RAM_ZERO_RUN event) and the "block" live
 * section of QEMU block migration (QEMU 7.2 migration/block.c), valid and
 * hostile.  Streams carry a configuration section and footers and end with
 * the EOF byte (no trailer).  The recorded QEMU stream with a block section
 * is checked in cli/cli_block_test.c.
 */
#include "sim_base.h"

#include "mig_format.h"
#include "mig_inspect.h"
#include "mig_reencode.h"
#include "mig_stream.h"
#include "sim_check.h"

#define WALK_MACHINE "pc-i440fx-7.2"
#define RAM_SECTION_ID 2u
#define BIG_PAGES 64u       /* "pc.ram": a power of two of pages */
#define SMALL_PAGES 37u     /* "small": not a power of two, so runs cross 2^bits */

/* ------------------------------------------------------------ builders */

struct built {
  struct mig_membuf buf;
  struct mig_writer writer;
  uint8_t staging[4096];
  uint64_t big_records[BIG_PAGES];   /* offset of the ZERO record of each pc.ram page */
  /* Block stream anchors (offsets of the be64 words unless named otherwise). */
  uint64_t start_eos, progress0, data0, data0_name, data0_bytes, zero0, disk1, part_eos;
  uint64_t progress100, end_eos;
};

static void built_init(struct built *b)
{
  memset(b, 0, sizeof *b);
  mig_membuf_init(&b->buf, UINT32_C(8) << 20);
  mig_writer_init(&b->writer, b->staging, sizeof b->staging, mig_membuf_write, &b->buf);
  mig_writer_be32(&b->writer, MIG_FILE_MAGIC);
  mig_writer_be32(&b->writer, MIG_FILE_VERSION);
  mig_writer_u8(&b->writer, MIG_SECTION_CONFIGURATION);
  mig_writer_be32(&b->writer, (uint32_t)strlen(WALK_MACHINE));
  mig_writer_bytes(&b->writer, WALK_MACHINE, strlen(WALK_MACHINE));
}

static uint64_t at(const struct built *b)
{
  return mig_writer_offset(&b->writer);
}

static void section_header(struct built *b, uint8_t type, uint32_t id, const char *idstr,
                           uint32_t version)
{
  mig_writer_u8(&b->writer, type);
  mig_writer_be32(&b->writer, id);
  if (idstr == NULL) return;
  mig_writer_counted_string(&b->writer, idstr);
  mig_writer_be32(&b->writer, 0);
  mig_writer_be32(&b->writer, version);
}

static void footer(struct built *b, uint32_t id)
{
  mig_writer_u8(&b->writer, MIG_SECTION_FOOTER);
  mig_writer_be32(&b->writer, id);
}

static void built_finish(struct built *b)
{
  mig_writer_u8(&b->writer, MIG_SECTION_EOF);
  ck_assert_int_eq(mig_writer_flush(&b->writer), MIG_OK);
}

static void zero_record(struct built *b, const char *block, uint64_t page)
{
  uint32_t flags = MIG_RAM_FLAG_ZERO | (block == NULL ? MIG_RAM_FLAG_CONTINUE : 0);
  mig_writer_be64(&b->writer, page * MIG_PAGE_BYTES | flags);
  if (block != NULL) mig_writer_counted_string(&b->writer, block);
  mig_writer_u8(&b->writer, 0);
}

/* RAM START with blocks pc.ram (64 pages) and small (37 pages); one PART of zero pages each. */
static void build_zero_stream(struct built *b)
{
  built_init(b);
  section_header(b, MIG_SECTION_START, RAM_SECTION_ID, MIG_RAM_IDSTR, MIG_RAM_SECTION_VERSION);
  mig_writer_be64(&b->writer, (uint64_t)(BIG_PAGES + SMALL_PAGES) * MIG_PAGE_BYTES |
                              MIG_RAM_FLAG_MEM_SIZE);
  mig_writer_counted_string(&b->writer, "pc.ram");
  mig_writer_be64(&b->writer, (uint64_t)BIG_PAGES * MIG_PAGE_BYTES);
  mig_writer_counted_string(&b->writer, "small");
  mig_writer_be64(&b->writer, (uint64_t)SMALL_PAGES * MIG_PAGE_BYTES);
  mig_writer_be64(&b->writer, MIG_RAM_FLAG_EOS);
  footer(b, RAM_SECTION_ID);
  section_header(b, MIG_SECTION_PART, RAM_SECTION_ID, NULL, 0);
  for (uint64_t page = 0; page < BIG_PAGES; page++) {
    b->big_records[page] = at(b);
    zero_record(b, page == 0 ? "pc.ram" : NULL, page);
  }
  for (uint64_t page = 0; page < SMALL_PAGES; page++) {
    zero_record(b, page == 0 ? "small" : NULL, page);
  }
  mig_writer_be64(&b->writer, MIG_RAM_FLAG_EOS);
  footer(b, RAM_SECTION_ID);
  built_finish(b);
}

/* ------------------------------------------------------------ visitors */

struct tally {
  uint64_t page_events;      /* RAM_PAGE events */
  uint64_t run_events;       /* RAM_ZERO_RUN events */
  uint64_t zero_pages;       /* ZERO pages seen either way */
  uint64_t address_sum;      /* Σ (block index + 1) × address of every zero page */
  uint64_t fill_offset;      /* offset of a ZERO record with fill != 0; 0: none */
};

static enum mig_err tally_visit(void *context, const struct mig_inspect_event *event,
                                struct mig_error *error)
{
  (void)error;
  struct tally *tally = context;
  if (event->kind == MIG_INSPECT_RAM_PAGE && event->ram_kind == MIG_RAM_FLAG_ZERO) {
    tally->page_events++;
    tally->zero_pages++;
    tally->address_sum += (event->block_index + 1u) * event->address;
    if (event->fill != 0) tally->fill_offset = event->offset;
  } else if (event->kind == MIG_INSPECT_RAM_ZERO_RUN) {
    tally->run_events++;
    ck_assert_uint_eq(event->payload_bytes, 9 * event->run_count);
    ck_assert_uint_eq(event->payload_offset, event->offset);
    for (uint64_t i = 0; i < event->run_count; i++) {
      const uint8_t *record = event->payload + 9 * i;
      uint64_t word = 0;
      for (int k = 0; k < 8; k++) word = word << 8 | record[k];
      ck_assert_uint_eq(word & (MIG_PAGE_BYTES - 1), MIG_RAM_FLAG_ZERO | MIG_RAM_FLAG_CONTINUE);
      ck_assert_uint_eq(record[8], 0);
      if (i == 0) ck_assert_uint_eq(word & ~(uint64_t)(MIG_PAGE_BYTES - 1), event->address);
      tally->address_sum += (event->block_index + 1u) * (word & ~(uint64_t)(MIG_PAGE_BYTES - 1));
    }
    tally->zero_pages += event->run_count;
  }
  return MIG_OK;
}

/* A refill over bytes that hands out 1, 2, .. 7 bytes per call, in turn. */
struct trickle {
  const uint8_t *bytes;
  size_t count, at;
  uint32_t calls;
};

static size_t trickle_refill(void *context, uint8_t *out, size_t capacity)
{
  struct trickle *trickle = context;
  size_t take = SIM_MIN((size_t)(1 + trickle->calls++ % 7), trickle->count - trickle->at);
  take = SIM_MIN(take, capacity);
  memcpy(out, trickle->bytes + trickle->at, take);
  trickle->at += take;
  return take;
}

/*
 * The streaming walker (mig_inspect_walk_reader) over the same bytes in
 * pieces of 1..7 bytes must give the memory walk's verdict, offset, path and
 * counts (the end of the stream only when it was walked whole).
 */
static void walk_streamed_same(const uint8_t *bytes, size_t count,
                               const struct mig_inspect_options *options,
                               const struct mig_inspect *memory, const struct mig_error *expected)
{
  static uint8_t window[MIG_INSPECT_STREAM_WINDOW_BYTES];
  struct trickle trickle = {.bytes = bytes, .count = count};
  struct mig_reader reader;
  mig_reader_init_refill(&reader, window, sizeof window, trickle_refill, &trickle);
  struct mig_inspect streamed;
  struct mig_error error;
  enum mig_err code = mig_inspect_walk_reader(&reader, &streamed, options, NULL, &error);
  ck_assert_msg(code == expected->code && error.offset == expected->offset &&
                strcmp(error.path, expected->path) == 0,
                "streamed: %s at 0x%" PRIx64 " %s (%s); memory: %s at 0x%" PRIx64 " %s",
                mig_err_name(code), error.offset, error.path, error.detail,
                mig_err_name(expected->code), expected->offset, expected->path);
  ck_assert_uint_eq(streamed.block_count, memory->block_count);
  for (uint32_t b = 0; b < memory->block_count; b++) {
    ck_assert_uint_eq(streamed.blocks[b].zero_pages, memory->blocks[b].zero_pages);
    ck_assert_uint_eq(streamed.blocks[b].normal_pages, memory->blocks[b].normal_pages);
  }
  ck_assert_uint_eq(streamed.block_device_count, memory->block_device_count);
  ck_assert_int_eq(memcmp(streamed.records, memory->records, sizeof streamed.records), 0);
  if (code == MIG_OK) ck_assert_uint_eq(streamed.eof_offset, memory->eof_offset);
  mig_inspect_deinit(&streamed);
}

/* Walks bytes three ways: no visitor, one event per record, zero runs batched. */
static enum mig_err walk_three(const uint8_t *bytes, size_t count, struct mig_inspect *out,
                               struct tally *per_record, struct tally *batched,
                               struct mig_error *error)
{
  struct mig_error errors[2];
  struct mig_inspect other;
  memset(per_record, 0, sizeof *per_record);
  memset(batched, 0, sizeof *batched);
  enum mig_err code = mig_inspect_stream(bytes, count, out, error);
  walk_streamed_same(bytes, count, NULL, out, error);
  struct mig_inspect_visitor one = {.visit = tally_visit, .context = per_record};
  struct mig_inspect_visitor runs = {.visit = tally_visit, .context = batched, .zero_runs = true};
  ck_assert_int_eq(mig_inspect_walk(bytes, count, &other, &one, &errors[0]), code);
  for (uint32_t b = 0; b < out->block_count; b++) {
    ck_assert_uint_eq(other.blocks[b].zero_pages, out->blocks[b].zero_pages);
  }
  mig_inspect_deinit(&other);
  ck_assert_int_eq(mig_inspect_walk(bytes, count, &other, &runs, &errors[1]), code);
  for (uint32_t b = 0; b < out->block_count; b++) {
    ck_assert_uint_eq(other.blocks[b].zero_pages, out->blocks[b].zero_pages);
  }
  mig_inspect_deinit(&other);
  for (int i = 0; i < 2; i++) {
    ck_assert_uint_eq(errors[i].offset, error->offset);
    ck_assert_str_eq(errors[i].path, error->path);
  }
  ck_assert_uint_eq(per_record->zero_pages, batched->zero_pages);
  ck_assert_uint_eq(per_record->address_sum, batched->address_sum);
  return code;
}

/* ------------------------------------------------------------ zero runs */

/* Goal: zero runs count like single records; method: walk three ways, compare counts and sums. */
START_TEST(mig_inspect_zero_runs_match_records)
{
  struct built b;
  build_zero_stream(&b);
  struct mig_inspect inspect;
  struct mig_error error;
  struct tally one, runs;
  ck_assert_int_eq(walk_three(b.buf.bytes, b.buf.count, &inspect, &one, &runs, &error), MIG_OK);
  ck_assert_uint_eq(inspect.blocks[0].zero_pages, BIG_PAGES);
  ck_assert_uint_eq(inspect.blocks[1].zero_pages, SMALL_PAGES);
  ck_assert_uint_eq(one.zero_pages, BIG_PAGES + SMALL_PAGES);
  ck_assert_uint_eq(one.page_events, BIG_PAGES + SMALL_PAGES);
  ck_assert_uint_eq(one.run_events, 0);
  /* Each block's first (named) record is a single event; the CONTINUE records come in runs. */
  ck_assert_uint_eq(runs.page_events, 2);
  ck_assert_uint_ge(runs.run_events, 2);
  uint64_t expected = 0;
  for (uint64_t page = 0; page < BIG_PAGES; page++) expected += page * MIG_PAGE_BYTES;
  for (uint64_t page = 0; page < SMALL_PAGES; page++) expected += 2 * page * MIG_PAGE_BYTES;
  ck_assert_uint_eq(one.address_sum, expected);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST

static void put_be64(uint8_t *bytes, uint64_t value)
{
  for (int i = 7; i >= 0; i--, value >>= 8) bytes[i] = (uint8_t)value;
}

/*
 * Goal: a bad record anywhere in a run fails exactly as alone; method: for each pc.ram
 * CONTINUE record k (_i), flags 0x023, then an address at used_length, then fill 0x41.
 */
START_TEST(mig_inspect_zero_runs_hostile_record)
{
  uint64_t k = 1 + (uint64_t)_i;
  struct built b;
  build_zero_stream(&b);
  uint8_t *record = b.buf.bytes + b.big_records[k];
  struct mig_inspect inspect;
  struct mig_error error;
  struct tally one, runs;
  put_be64(record, k * MIG_PAGE_BYTES | MIG_RAM_FLAG_ZERO | MIG_RAM_FLAG_CONTINUE | 0x1);
  ck_assert_int_eq(walk_three(b.buf.bytes, b.buf.count, &inspect, &one, &runs, &error),
                   MIG_ERR_RAM_FLAGS);
  ck_assert_uint_eq(error.offset, b.big_records[k]);
  ck_assert_str_eq(error.path, "ram/flags");  /* the record layer's path, as the loader's */
  ck_assert_uint_eq(one.zero_pages, k);  /* nothing past the bad record was reported */
  mig_inspect_deinit(&inspect);
  put_be64(record, (uint64_t)BIG_PAGES * MIG_PAGE_BYTES | MIG_RAM_FLAG_ZERO |
                   MIG_RAM_FLAG_CONTINUE);
  ck_assert_int_eq(walk_three(b.buf.bytes, b.buf.count, &inspect, &one, &runs, &error),
                   MIG_ERR_RAM_OFFSET);
  ck_assert_uint_eq(error.offset, b.big_records[k]);
  ck_assert_str_eq(error.path, "ram/pc.ram/offset");
  ck_assert_uint_eq(runs.zero_pages, k);
  mig_inspect_deinit(&inspect);
  /* A fill byte other than 0 leaves the run and is reported alone with its value (§6.4). */
  put_be64(record, k * MIG_PAGE_BYTES | MIG_RAM_FLAG_ZERO | MIG_RAM_FLAG_CONTINUE);
  record[8] = 0x41;
  ck_assert_int_eq(walk_three(b.buf.bytes, b.buf.count, &inspect, &one, &runs, &error), MIG_OK);
  ck_assert_uint_eq(inspect.blocks[0].zero_pages, BIG_PAGES);
  ck_assert_uint_eq(one.fill_offset, b.big_records[k]);
  ck_assert_uint_eq(runs.fill_offset, b.big_records[k]);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST

/* ------------------------------------------------------------ block */

#define BLOCK_ID 1u

static void block_word(struct built *b, uint64_t sector, uint32_t flags)
{
  mig_writer_be64(&b->writer, sector << MIG_BLOCK_SECTOR_BITS | flags);
}

static void block_device_record(struct built *b, uint64_t sector, const char *name, bool zero)
{
  block_word(b, sector, MIG_BLOCK_FLAG_DEVICE_BLOCK | (zero ? MIG_BLOCK_FLAG_ZERO_BLOCK : 0));
  mig_writer_counted_string(&b->writer, name);
  if (zero) return;
  for (uint32_t i = 0; i < MIG_BLOCK_CHUNK_BYTES; i++) {
    mig_writer_u8(&b->writer, (uint8_t)(i * 7 + (i >> 12) + 1));
  }
}

/*
 * As QEMU 7.2 writes block migration: START (EOS), PART (PROGRESS 0, a data
 * chunk of drive0 at sector 0, a zero chunk of drive0 at sector 2048, a zero
 * chunk of disk1 at sector 0, EOS), END (PROGRESS 100, EOS).
 */
static void build_block_stream(struct built *b)
{
  built_init(b);
  section_header(b, MIG_SECTION_START, BLOCK_ID, "block", 1);
  b->start_eos = at(b);
  block_word(b, 0, MIG_BLOCK_FLAG_EOS);
  footer(b, BLOCK_ID);
  section_header(b, MIG_SECTION_PART, BLOCK_ID, NULL, 0);
  b->progress0 = at(b);
  block_word(b, 0, MIG_BLOCK_FLAG_PROGRESS);
  b->data0 = at(b);
  b->data0_name = b->data0 + 8;
  b->data0_bytes = b->data0_name + 1 + strlen("drive0");
  block_device_record(b, 0, "drive0", false);
  b->zero0 = at(b);
  block_device_record(b, MIG_BLOCK_CHUNK_SECTORS, "drive0", true);
  b->disk1 = at(b);
  block_device_record(b, 0, "disk1", true);
  b->part_eos = at(b);
  block_word(b, 0, MIG_BLOCK_FLAG_EOS);
  footer(b, BLOCK_ID);
  section_header(b, MIG_SECTION_END, BLOCK_ID, NULL, 0);
  b->progress100 = at(b);
  block_word(b, 100, MIG_BLOCK_FLAG_PROGRESS);
  b->end_eos = at(b);
  block_word(b, 0, MIG_BLOCK_FLAG_EOS);
  footer(b, BLOCK_ID);
  built_finish(b);
}

struct block_tally {
  uint64_t records;
  uint64_t data_bytes;
};

static enum mig_err block_visit(void *context, const struct mig_inspect_event *event,
                                struct mig_error *error)
{
  (void)error;
  struct block_tally *tally = context;
  if (event->kind != MIG_INSPECT_BLOCK_RECORD) return MIG_OK;
  tally->records++;
  tally->data_bytes += event->payload_bytes;
  return MIG_OK;
}

/* Goal: a block stream walks with its counts and re-encodes byte for byte; method: as built. */
START_TEST(mig_inspect_block_valid)
{
  struct built b;
  build_block_stream(&b);
  struct mig_inspect inspect;
  struct mig_error error;
  struct block_tally tally = {0};
  struct mig_inspect_visitor visitor = {.visit = block_visit, .context = &tally};
  ck_assert_int_eq(mig_inspect_walk(b.buf.bytes, b.buf.count, &inspect, &visitor, &error),
                   MIG_OK);
  ck_assert_uint_eq(tally.records, 8);
  ck_assert_uint_eq(tally.data_bytes, MIG_BLOCK_CHUNK_BYTES);
  ck_assert_uint_eq(inspect.block_device_count, 2);
  ck_assert_str_eq(inspect.block_devices[0].name, "drive0");
  ck_assert_uint_eq(inspect.block_devices[0].data_blocks, 1);
  ck_assert_uint_eq(inspect.block_devices[0].zero_blocks, 1);
  ck_assert_uint_eq(inspect.block_devices[0].sector_end, 2 * MIG_BLOCK_CHUNK_SECTORS);
  ck_assert_str_eq(inspect.block_devices[1].name, "disk1");
  ck_assert_uint_eq(inspect.block_devices[1].zero_blocks, 1);
  ck_assert_uint_eq(inspect.block_progress, 100);
  ck_assert_uint_eq(inspect.block_progress_count, 2);
  ck_assert_uint_eq(inspect.block_eos_count, 3);
  ck_assert_uint_eq(inspect.live_count, 1);
  ck_assert_uint_eq(inspect.lives[0].offset, 13 + strlen(WALK_MACHINE));
  mig_inspect_deinit(&inspect);
  /* Re-encoded from the parsed records: the same bytes. */
  struct mig_membuf out;
  mig_membuf_init(&out, b.buf.count);
  uint8_t staging[4096];
  struct mig_writer writer;
  mig_writer_init(&writer, staging, sizeof staging, mig_membuf_write, &out);
  struct mig_reencode reencode;
  mig_reencode_init(&reencode, &writer, NULL);
  struct mig_inspect_visitor rewrite = {.visit = mig_reencode_visit, .context = &reencode};
  ck_assert_int_eq(mig_inspect_walk(b.buf.bytes, b.buf.count, &inspect, &rewrite, &error),
                   MIG_OK);
  ck_assert_int_eq(mig_writer_flush(&writer), MIG_OK);
  ck_assert_uint_eq(out.count, b.buf.count);
  ck_assert(memcmp(out.bytes, b.buf.bytes, out.count) == 0);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&out);
  /* With the destination's devices listed, sizes bound the sectors and the stream still fits. */
  struct mig_inspect_block_device devices[2] = {{.name = "disk1", .bytes = MIG_BLOCK_CHUNK_BYTES},
                                                {.name = "drive0", .bytes = 3u << 20}};
  struct mig_inspect_options options = {.block_devices = devices, .block_device_count = 2};
  ck_assert_int_eq(mig_inspect_walk_with(b.buf.bytes, b.buf.count, &inspect, &options, NULL,
                                         &error), MIG_OK);
  ck_assert_uint_eq(inspect.block_devices[0].bytes, 3u << 20);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST

enum block_edit {
  EDIT_WORD,        /* be64 at the anchor := value */
  EDIT_BYTE,        /* byte at the anchor := value */
  EDIT_DELETE,      /* remove value bytes at the anchor */
  EDIT_CUT,         /* keep bytes before anchor + value, then the EOF byte */
};

enum block_anchor { A_START_EOS, A_PROGRESS0, A_DATA0, A_DATA0_NAME, A_DATA0_BYTES, A_ZERO0,
                    A_PART_EOS, A_PROGRESS100, A_HEADER_VERSION };

struct block_case {
  const char *name;
  enum block_anchor anchor;
  enum block_edit edit;
  uint64_t value;
  bool known_devices;          /* walk with drive0 (1 MiB) and disk1 (1 MiB) listed */
  enum mig_err code;
  enum block_anchor error_anchor;
  int64_t error_delta;         /* error offset = error anchor + delta */
  const char *path;
};

#define W(sector, flags) (((uint64_t)(sector) << MIG_BLOCK_SECTOR_BITS) | (flags))

static const struct block_case block_cases[] = {
  {"flags_unknown", A_DATA0, EDIT_WORD, W(0, 0x11), false, MIG_ERR_BAD_VALUE, A_DATA0, 0,
   "block/flags"},
  {"flags_device_block_eos", A_DATA0, EDIT_WORD, W(0, 0x03), false, MIG_ERR_BAD_VALUE, A_DATA0, 0,
   "block/flags"},
  {"flags_none", A_PROGRESS0, EDIT_WORD, W(0, 0), false, MIG_ERR_BAD_VALUE, A_PROGRESS0, 0,
   "block/flags"},
  {"progress_over_100", A_PROGRESS100, EDIT_WORD, W(101, MIG_BLOCK_FLAG_PROGRESS), false,
   MIG_ERR_BAD_VALUE, A_PROGRESS100, 0, "block/progress"},
  {"eos_with_sector", A_START_EOS, EDIT_WORD, W(1, MIG_BLOCK_FLAG_EOS), false, MIG_ERR_BAD_VALUE,
   A_START_EOS, 0, "block/eos"},
  {"name_empty", A_DATA0_NAME, EDIT_BYTE, 0, false, MIG_ERR_BAD_IDSTR, A_DATA0_NAME, 0,
   "block/device-name"},
  {"name_nul", A_DATA0_NAME, EDIT_BYTE, 3, false, MIG_ERR_BAD_IDSTR, A_DATA0_NAME, 0,
   "block/device-name"},
  {"name_too_long", A_DATA0_NAME, EDIT_CUT, 4, false, MIG_ERR_TRUNCATED, A_DATA0_NAME, 1,
   "block/device-name"},
  {"name_unknown_device", A_PROGRESS0, EDIT_WORD, W(0, MIG_BLOCK_FLAG_PROGRESS), true,
   MIG_ERR_UNKNOWN_SECTION, A_DATA0_NAME, 0, "block/device-name"},
  {"data_truncated", A_DATA0_BYTES, EDIT_CUT, 4096, false, MIG_ERR_TRUNCATED, A_DATA0_BYTES, 0,
   "block/data"},
  {"sector_beyond_device", A_ZERO0, EDIT_WORD, W(MIG_BLOCK_CHUNK_SECTORS, 0x09), true,
   MIG_ERR_BAD_VALUE, A_ZERO0, 0, "block/sector"},
  {"sector_beyond_bound", A_ZERO0, EDIT_WORD, W(UINT64_C(1) << 41, 0x09), false,
   MIG_ERR_BAD_VALUE, A_ZERO0, 0, "block/sector"},
  {"sector_not_chunk", A_ZERO0, EDIT_WORD, W(MIG_BLOCK_CHUNK_SECTORS + 8, 0x09), false,
   MIG_ERR_BAD_VALUE, A_ZERO0, 0, "block/sector"},
  {"eos_missing", A_PART_EOS, EDIT_DELETE, 8, false, MIG_ERR_FOOTER, A_PART_EOS, 0, "block/eos"},
  {"section_version", A_HEADER_VERSION, EDIT_WORD, 0, false, MIG_ERR_SECTION_VERSION,
   A_HEADER_VERSION, 0, "block/header"},
};

static uint64_t block_anchor_offset(const struct built *b, enum block_anchor anchor)
{
  switch (anchor) {
  case A_START_EOS: return b->start_eos;
  case A_PROGRESS0: return b->progress0;
  case A_DATA0: return b->data0;
  case A_DATA0_NAME: return b->data0_name;
  case A_DATA0_BYTES: return b->data0_bytes;
  case A_ZERO0: return b->zero0;
  case A_PART_EOS: return b->part_eos;
  case A_PROGRESS100: return b->progress100;
  case A_HEADER_VERSION: return 13 + strlen(WALK_MACHINE);  /* the START header */
  }
  return 0;
}

/*
 * Goal: every block rejection is typed with offset and path; method: one edit of the built
 * stream per case (_i), walked from an exact-size heap copy so ASan sees any overread.
 */
START_TEST(mig_inspect_block_hostile)
{
  const struct block_case *c = &block_cases[_i];
  struct built b;
  build_block_stream(&b);
  uint64_t anchor = block_anchor_offset(&b, c->anchor);
  size_t count = b.buf.count;
  uint8_t *bytes = malloc(count);
  ck_assert_ptr_nonnull(bytes);
  memcpy(bytes, b.buf.bytes, count);
  if (c->anchor == A_HEADER_VERSION) {
    /* START: type, be32 id, counted "block", be32 instance, be32 version := 2. */
    bytes[anchor + 1 + 4 + 6 + 4 + 3] = 2;
  } else if (c->edit == EDIT_WORD) {
    put_be64(bytes + anchor, c->value);
  } else if (c->edit == EDIT_BYTE) {
    bytes[anchor] = (uint8_t)c->value;
    if (c->value == 3) bytes[anchor + 2] = 0;  /* "d\0i": a NUL inside the name */
  } else if (c->edit == EDIT_DELETE) {
    memmove(bytes + anchor, bytes + anchor + c->value, count - anchor - c->value);
    count -= (size_t)c->value;
  } else {
    count = (size_t)(anchor + c->value + 1);
    bytes[count - 1] = MIG_SECTION_EOF;
    if (c->anchor == A_DATA0_NAME) bytes[anchor] = 200;  /* a name longer than what is left */
    uint8_t *cut = realloc(bytes, count);
    ck_assert_ptr_nonnull(cut);
    bytes = cut;
  }
  struct mig_inspect_block_device devices[2] = {{.name = "disk1", .bytes = MIG_BLOCK_CHUNK_BYTES},
                                                {.name = "drive0", .bytes = MIG_BLOCK_CHUNK_BYTES}};
  if (strcmp(c->name, "name_unknown_device") == 0) {
    memcpy(devices[1].name, "drive9", 7);
  }
  struct mig_inspect_options options = {.block_devices = devices, .block_device_count = 2};
  struct mig_inspect inspect;
  struct mig_error error;
  enum mig_err code = mig_inspect_walk_with(bytes, count, &inspect,
                                            c->known_devices ? &options : NULL, NULL, &error);
  walk_streamed_same(bytes, count, c->known_devices ? &options : NULL, &inspect, &error);
  uint64_t expected = block_anchor_offset(&b, c->error_anchor) + (uint64_t)c->error_delta;
  ck_assert_msg(code == c->code && error.offset == expected && strcmp(error.path, c->path) == 0,
                "%s: got %s at 0x%" PRIx64 " %s (%s), expected %s at 0x%" PRIx64 " %s", c->name,
                mig_err_name(code), error.offset, error.path, error.detail, mig_err_name(c->code),
                expected, c->path);
  mig_inspect_deinit(&inspect);
  free(bytes);
  mig_membuf_deinit(&b.buf);
}
END_TEST

Suite *mig_walk_suite(void)
{
  Suite *suite = suite_create("mig_walk");
  TCase *zero = tcase_create("zero_runs");
  tcase_add_test(zero, mig_inspect_zero_runs_match_records);
  tcase_add_loop_test(zero, mig_inspect_zero_runs_hostile_record, 0, BIG_PAGES - 1);
  suite_add_tcase(suite, zero);
  TCase *block = tcase_create("block");
  tcase_set_timeout(block, 60);
  tcase_add_test(block, mig_inspect_block_valid);
  tcase_add_loop_test(block, mig_inspect_block_hostile, 0, (int)SIM_ARRAY_COUNT(block_cases));
  suite_add_tcase(suite, block);
  return suite;
}
