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

/* ------------------------------------------------------------ hostile trailers and records */

/*
 * The helpers below build small streams on struct built: header and
 * configuration (built_init), the records of a case, then the EOF byte and,
 * when given, the trailer (0x06, be32 length, JSON).
 */
static uint64_t built_end(struct built *b, const char *json)
{
  uint64_t eof = at(b);
  mig_writer_u8(&b->writer, MIG_SECTION_EOF);
  if (json != NULL) {
    mig_writer_u8(&b->writer, MIG_SECTION_VMDESCRIPTION);
    mig_writer_be32(&b->writer, (uint32_t)strlen(json));
    mig_writer_bytes(&b->writer, json, strlen(json));
  }
  ck_assert_int_eq(mig_writer_flush(&b->writer), MIG_OK);
  return eof;
}

/* A FULL section id with bytes zero bytes of payload and its footer; returns its offset. */
static uint64_t full_section(struct built *b, uint32_t id, const char *idstr, uint64_t bytes)
{
  uint64_t offset = at(b);
  section_header(b, MIG_SECTION_FULL, id, idstr, 1);
  for (uint64_t i = 0; i < bytes; i++) mig_writer_u8(&b->writer, 0);
  footer(b, id);
  return offset;
}

/*
 * Walks count bytes (an exact-size heap copy, so ASan sees any overread) with options and
 * asserts code, offset and path (offset and path only for a refusal); streamed too, which
 * must give the same verdict (its counts may differ: a trailer error stops the memory walk
 * before the first record, the streamed one when it reaches the tail).  out is left for
 * the caller to read and deinit.
 */
static void expect_walk(const uint8_t *bytes, size_t count,
                        const struct mig_inspect_options *options, bool streamed,
                        enum mig_err code, uint64_t offset, const char *path,
                        struct mig_inspect *out)
{
  uint8_t *copy = malloc(SIM_MAX(count, (size_t)1));
  ck_assert_ptr_nonnull(copy);
  memcpy(copy, bytes, count);
  struct mig_error error;
  enum mig_err got = mig_inspect_walk_with(copy, count, out, options, NULL, &error);
  ck_assert_msg(got == code && (code == MIG_OK || (error.offset == offset &&
                                                   strcmp(error.path, path) == 0)),
                "got %s at 0x%" PRIx64 " %s (%s), expected %s at 0x%" PRIx64 " %s",
                mig_err_name(got), error.offset, error.path, error.detail, mig_err_name(code),
                offset, path);
  if (streamed) {
    static uint8_t window[MIG_INSPECT_STREAM_WINDOW_BYTES];
    struct trickle trickle = {.bytes = copy, .count = count};
    struct mig_reader reader;
    mig_reader_init_refill(&reader, window, sizeof window, trickle_refill, &trickle);
    struct mig_inspect other;
    struct mig_error other_error;
    got = mig_inspect_walk_reader(&reader, &other, options, NULL, &other_error);
    ck_assert_msg(got == code && other_error.offset == error.offset &&
                  strcmp(other_error.path, error.path) == 0,
                  "streamed: %s at 0x%" PRIx64 " %s (%s)", mig_err_name(got), other_error.offset,
                  other_error.path, other_error.detail);
    mig_inspect_deinit(&other);
  }
  free(copy);
}

enum trailer_at { AT_NONE, AT_TRAILER, AT_DEVICE };

struct trailer_case {
  const char *name;
  const char *json;         /* NULL: made by trailer_json from the name */
  uint64_t payload_bytes;   /* of the FULL section "timer" (id 3, instance 0) */
  enum mig_err code;
  enum trailer_at at;       /* the error's offset: the JSON's first byte, or the section's */
  const char *path;
};

#define TJ_HEAD "{\"page_size\":4096,\"devices\":["
#define TJ_TIMER "{\"name\":\"timer\",\"instance_id\":0"

static const struct trailer_case trailer_cases[] = {
  {"fields", TJ_HEAD TJ_TIMER ",\"fields\":[{\"name\":\"a\",\"size\":6}]}]}", 6, MIG_OK, AT_NONE,
   ""},
  {"no_fields", TJ_HEAD TJ_TIMER "}]}", 0, MIG_OK, AT_NONE, ""},
  {"array_len", TJ_HEAD TJ_TIMER ",\"fields\":[{\"size\":2,\"array_len\":3}]}]}", 6, MIG_OK,
   AT_NONE, ""},
  /* 1 + (0x05, 1, "timer/sub", be32, 2) + (0x05, 1, "x", be32) = 1 + 17 + 7. */
  {"subsections", TJ_HEAD TJ_TIMER ",\"fields\":[{\"size\":1}],\"subsections\":[{\"vmsd_name\":"
   "\"timer/sub\",\"fields\":[{\"size\":2}],\"subsections\":[{\"vmsd_name\":\"x\"}]}]}]}", 25,
   MIG_OK, AT_NONE, ""},
  /* Entries that do not match (no name, another name, bad or other instance) are skipped. */
  {"skip_entries", TJ_HEAD "{\"name\":5},{\"name\":\"other\",\"instance_id\":0},"
   "{\"name\":\"timer\",\"instance_id\":\"0\"},{\"name\":\"timer\",\"instance_id\":-1},"
   "{\"name\":\"timer\",\"instance_id\":1}," TJ_TIMER ",\"fields\":[{\"size\":4}]}]}", 4, MIG_OK,
   AT_NONE, ""},
  {"depth_8", NULL, 8 * 7, MIG_OK, AT_NONE, ""},
  {"name_255", NULL, 1 + 1 + 255 + 4, MIG_OK, AT_NONE, ""},
  {"not_json", "{\"page_size\":", 0, MIG_ERR_VMDESC, AT_TRAILER, "vmdesc"},
  {"no_page_size", "{\"devices\":[]}", 0, MIG_ERR_VMDESC, AT_TRAILER, "vmdesc"},
  {"devices_4097", NULL, 0, MIG_ERR_VMDESC, AT_TRAILER, "vmdesc"},
  {"no_entry", TJ_HEAD "{\"name\":\"timer\",\"instance_id\":1}]}", 0, MIG_ERR_UNKNOWN_SECTION,
   AT_DEVICE, "timer/0"},
  {"fields_object", TJ_HEAD TJ_TIMER ",\"fields\":{}}]}", 0, MIG_ERR_VMDESC, AT_TRAILER,
   "vmdesc/timer"},
  {"size_missing", TJ_HEAD TJ_TIMER ",\"fields\":[{\"name\":\"a\"}]}]}", 0, MIG_ERR_VMDESC,
   AT_TRAILER, "vmdesc/timer"},
  {"size_string", TJ_HEAD TJ_TIMER ",\"fields\":[{\"size\":\"6\"}]}]}", 6, MIG_ERR_VMDESC,
   AT_TRAILER, "vmdesc/timer"},
  {"size_negative", TJ_HEAD TJ_TIMER ",\"fields\":[{\"size\":-1}]}]}", 0, MIG_ERR_VMDESC,
   AT_TRAILER, "vmdesc/timer"},
  {"size_over_bound", TJ_HEAD TJ_TIMER ",\"fields\":[{\"size\":16777217}]}]}", 0, MIG_ERR_VMDESC,
   AT_TRAILER, "vmdesc/timer"},
  {"array_len_string", TJ_HEAD TJ_TIMER ",\"fields\":[{\"size\":2,\"array_len\":\"3\"}]}]}", 6,
   MIG_ERR_VMDESC, AT_TRAILER, "vmdesc/timer"},
  {"array_len_negative", TJ_HEAD TJ_TIMER ",\"fields\":[{\"size\":2,\"array_len\":-3}]}]}", 6,
   MIG_ERR_VMDESC, AT_TRAILER, "vmdesc/timer"},
  {"total_over_2_56", NULL, 0, MIG_ERR_VMDESC, AT_TRAILER, "vmdesc/timer"},
  {"subsections_object", TJ_HEAD TJ_TIMER ",\"subsections\":{}}]}", 0, MIG_ERR_VMDESC,
   AT_TRAILER, "vmdesc/timer"},
  {"depth_9", NULL, 9 * 7, MIG_ERR_VMDESC, AT_TRAILER, "vmdesc/timer"},
  {"vmsd_name_missing", TJ_HEAD TJ_TIMER ",\"subsections\":[{\"fields\":[]}]}]}", 0,
   MIG_ERR_VMDESC, AT_TRAILER, "vmdesc/timer"},
  {"vmsd_name_empty", TJ_HEAD TJ_TIMER ",\"subsections\":[{\"vmsd_name\":\"\"}]}]}", 0,
   MIG_ERR_VMDESC, AT_TRAILER, "vmdesc/timer"},
  {"name_256", NULL, 0, MIG_ERR_VMDESC, AT_TRAILER, "vmdesc/timer"},
  {"subsection_fields_bad", TJ_HEAD TJ_TIMER ",\"subsections\":[{\"vmsd_name\":\"s\","
   "\"fields\":[{\"size\":-1}]}]}]}", 0, MIG_ERR_VMDESC, AT_TRAILER, "vmdesc/timer"},
  {"nested_subsection_bad", TJ_HEAD TJ_TIMER ",\"subsections\":[{\"vmsd_name\":\"s\","
   "\"subsections\":[{\"vmsd_name\":\"\"}]}]}]}", 0, MIG_ERR_VMDESC, AT_TRAILER, "vmdesc/timer"},
};

/* The JSON of the generated trailer cases (malloc'd). */
static char *trailer_json(const char *name)
{
  size_t capacity = 128 * 1024;
  char *json = malloc(capacity);
  ck_assert_ptr_nonnull(json);
  size_t n = (size_t)snprintf(json, capacity, "%s", TJ_HEAD);
  if (strcmp(name, "devices_4097") == 0) {
    for (int i = 0; i < MIG_SECTIONS_MAX + 1; i++) {
      n += (size_t)snprintf(json + n, capacity - n, "%s{}", i == 0 ? "" : ",");
    }
    snprintf(json + n, capacity - n, "]}");
  } else if (strcmp(name, "total_over_2_56") == 0) {
    /* 257 fields of 2^24 x 2^24 bytes: the sum passes 2^56 at the last one. */
    n += (size_t)snprintf(json + n, capacity - n, "%s,\"fields\":[", TJ_TIMER);
    for (int i = 0; i < 257; i++) {
      n += (size_t)snprintf(json + n, capacity - n, "%s{\"size\":16777216,\"array_len\":16777216}",
                            i == 0 ? "" : ",");
    }
    snprintf(json + n, capacity - n, "]}]}");
  } else if (strncmp(name, "depth_", 6) == 0) {
    int levels = atoi(name + 6);
    n += (size_t)snprintf(json + n, capacity - n, "%s", TJ_TIMER);
    for (int i = 0; i < levels; i++) {
      n += (size_t)snprintf(json + n, capacity - n, ",\"subsections\":[{\"vmsd_name\":\"s\"");
    }
    for (int i = 0; i < levels; i++) n += (size_t)snprintf(json + n, capacity - n, "}]");
    snprintf(json + n, capacity - n, "}]}");
  } else {
    int length = atoi(name + 5);  /* name_255, name_256 */
    n += (size_t)snprintf(json + n, capacity - n, "%s,\"subsections\":[{\"vmsd_name\":\"",
                          TJ_TIMER);
    for (int i = 0; i < length; i++) json[n++] = 'n';
    snprintf(json + n, capacity - n, "\"}]}]}");
  }
  return json;
}

/*
 * Goal: a FULL section is sized from its trailer entry or refused at the trailer (VMDESC,
 * "vmdesc/<idstr>") or at the section; method: one JSON per case (_i) after a stream with one
 * FULL section "timer", walked from memory and streamed.
 */
START_TEST(mig_inspect_trailer_json)
{
  const struct trailer_case *c = &trailer_cases[_i];
  char *made = c->json == NULL ? trailer_json(c->name) : NULL;
  struct built b;
  built_init(&b);
  uint64_t device = full_section(&b, 3, "timer", c->payload_bytes);
  uint64_t eof = built_end(&b, c->json != NULL ? c->json : made);
  uint64_t expected = c->at == AT_DEVICE ? device : c->at == AT_TRAILER ? eof + 6 : 0;
  struct mig_inspect inspect;
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, c->code, expected, c->path, &inspect);
  if (c->code == MIG_OK) {
    ck_assert(inspect.has_trailer);
    ck_assert_uint_eq(inspect.device_count, 1);
    ck_assert_uint_eq(inspect.devices[0].bytes, c->payload_bytes);
    ck_assert_uint_eq(inspect.eof_offset, eof);
  }
  mig_inspect_deinit(&inspect);
  free(made);
  mig_membuf_deinit(&b.buf);
}
END_TEST

/*
 * Goal: with trailer_advisory a bad trailer is a warning and FULL sections are sized by
 * their footers, but a legacy stream (no configuration, no footers) still by its trailer;
 * method: unparsable JSON, 4097 devices, then a footer-less stream with a usable trailer.
 */
START_TEST(mig_inspect_trailer_advisory)
{
  struct mig_inspect_options options = {.trailer_advisory = true};
  for (int variant = 0; variant < 2; variant++) {
    char *json = variant == 0 ? NULL : trailer_json("devices_4097");
    struct built b;
    built_init(&b);
    full_section(&b, 3, "timer", 5);
    uint64_t eof = built_end(&b, json != NULL ? json : "{\"page_size\":");
    struct mig_inspect inspect;
    expect_walk(b.buf.bytes, b.buf.count, &options, false, MIG_OK, 0, "", &inspect);
    ck_assert(inspect.has_trailer);
    ck_assert_uint_eq(inspect.trailer_warning_offset, eof + 6);
    ck_assert(inspect.trailer_warning[0] != '\0');
    ck_assert_uint_eq(inspect.devices[0].bytes, 5);
    mig_inspect_deinit(&inspect);
    mig_membuf_deinit(&b.buf);
    free(json);
  }
  /* Legacy: header, FULL without footer, EOF, trailer; only the trailer can size it. */
  struct built b;
  memset(&b, 0, sizeof b);
  mig_membuf_init(&b.buf, UINT32_C(1) << 20);
  mig_writer_init(&b.writer, b.staging, sizeof b.staging, mig_membuf_write, &b.buf);
  mig_writer_be32(&b.writer, MIG_FILE_MAGIC);
  mig_writer_be32(&b.writer, MIG_FILE_VERSION);
  section_header(&b, MIG_SECTION_FULL, 3, "timer", 1);
  mig_writer_bytes(&b.writer, "\x7e\x00\x00\x00\x03\x00", 6);  /* a footer look-alike inside */
  built_end(&b, TJ_HEAD TJ_TIMER ",\"fields\":[{\"size\":6}]}]}");
  struct mig_inspect inspect;
  expect_walk(b.buf.bytes, b.buf.count, &options, false, MIG_OK, 0, "", &inspect);
  ck_assert_str_eq(inspect.trailer_warning, "");
  ck_assert_uint_eq(inspect.devices[0].bytes, 6);
  ck_assert(!inspect.footers_seen);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST

static uint64_t config_subsection(struct built *b, const char *name)
{
  uint64_t offset = at(b);
  mig_writer_u8(&b->writer, MIG_SECTION_SUBSECTION);
  mig_writer_counted_string(&b->writer, name);
  mig_writer_be32(&b->writer, 1);
  return offset;
}

/*
 * Goal: configuration subsections are checked (capabilities known and NUL-free, page bits 12,
 * at most MIG_INSPECT_CONFIG_SUBSECTIONS_MAX); method: one crafted subsection list per step.
 */
START_TEST(mig_inspect_config_hostile)
{
  struct built b;
  struct mig_inspect inspect;
  /* Accepted: page bits 12, a known capability that is not x-ignore-shared, x-ignore-shared. */
  built_init(&b);
  config_subsection(&b, "configuration/target-page-bits");
  mig_writer_be32(&b.writer, MIG_PAGE_BITS);
  config_subsection(&b, MIG_CONFIGURATION_CAPABILITIES);
  mig_writer_be32(&b.writer, 2);
  mig_writer_counted_string(&b.writer, "postcopy-ram");
  mig_writer_counted_string(&b.writer, MIG_CAPABILITY_X_IGNORE_SHARED);
  built_end(&b, NULL);
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_OK, 0, "", &inspect);
  ck_assert_uint_eq(inspect.capability_count, 2);
  ck_assert_str_eq(inspect.capabilities[0], "postcopy-ram");
  ck_assert(inspect.x_ignore_shared);
  ck_assert_uint_eq(inspect.target_page_bits, MIG_PAGE_BITS);
  ck_assert_uint_eq(inspect.config_subsection_count, 2);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
  /* A capability 7.2 does not know, second in the list. */
  built_init(&b);
  config_subsection(&b, MIG_CONFIGURATION_CAPABILITIES);
  mig_writer_be32(&b.writer, 2);
  mig_writer_counted_string(&b.writer, "postcopy-ram");
  uint64_t name_at = at(&b);
  mig_writer_counted_string(&b.writer, "no-such-capability");
  built_end(&b, NULL);
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_CONFIG_MISMATCH, name_at,
              "configuration/capabilities[1]", &inspect);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
  /* A NUL inside a capability name. */
  built_init(&b);
  config_subsection(&b, MIG_CONFIGURATION_CAPABILITIES);
  mig_writer_be32(&b.writer, 1);
  name_at = at(&b);
  mig_writer_u8(&b.writer, 5);
  mig_writer_bytes(&b.writer, "x-\0ig", 5);
  built_end(&b, NULL);
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_BAD_IDSTR, name_at,
              "configuration/capabilities", &inspect);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
  /* target-page-bits 13 (x86 never sends it; 12 is the only value the walk takes). */
  built_init(&b);
  uint64_t sub_at = config_subsection(&b, "configuration/target-page-bits");
  mig_writer_be32(&b.writer, 13);
  built_end(&b, NULL);
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_BAD_VALUE, sub_at,
              "configuration/target-page-bits", &inspect);
  ck_assert_uint_eq(inspect.target_page_bits, 13);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
  /* One uuid subsection more than the summary holds. */
  built_init(&b);
  for (int i = 0; i <= MIG_INSPECT_CONFIG_SUBSECTIONS_MAX; i++) {
    sub_at = config_subsection(&b, "configuration/uuid");
    for (int k = 0; k < MIG_CONFIG_UUID_BYTES; k++) mig_writer_u8(&b.writer, (uint8_t)(i + k));
  }
  built_end(&b, NULL);
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_TOO_LONG, sub_at,
              "configuration/subsection", &inspect);
  ck_assert_uint_eq(inspect.config_subsection_count, MIG_INSPECT_CONFIG_SUBSECTIONS_MAX);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST

/* Goal: the 65th RAM block is refused (TOO_LONG, "ram/blocks"); method: a MEM_SIZE list of 65. */
START_TEST(mig_inspect_ram_blocks_over_bound)
{
  struct built b;
  built_init(&b);
  section_header(&b, MIG_SECTION_START, RAM_SECTION_ID, MIG_RAM_IDSTR, MIG_RAM_SECTION_VERSION);
  mig_writer_be64(&b.writer, (uint64_t)(MIG_RAM_BLOCKS_MAX + 1) * MIG_PAGE_BYTES |
                             MIG_RAM_FLAG_MEM_SIZE);
  uint64_t last = 0;
  for (int i = 0; i <= MIG_RAM_BLOCKS_MAX; i++) {
    char name[16];
    snprintf(name, sizeof name, "b%d", i);
    last = at(&b);
    mig_writer_counted_string(&b.writer, name);
    mig_writer_be64(&b.writer, MIG_PAGE_BYTES);
  }
  mig_writer_be64(&b.writer, MIG_RAM_FLAG_EOS);
  footer(&b, RAM_SECTION_ID);
  built_end(&b, NULL);
  struct mig_inspect inspect;
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_TOO_LONG, last, "ram/blocks",
              &inspect);
  ck_assert_uint_eq(inspect.block_count, MIG_RAM_BLOCKS_MAX);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST

/* Goal: a globalstate payload under 5 bytes is refused at its first byte; method: size 4. */
START_TEST(mig_inspect_globalstate_short)
{
  struct built b;
  built_init(&b);
  uint64_t device = full_section(&b, 3, "globalstate", 4);
  built_end(&b, TJ_HEAD "{\"name\":\"globalstate\",\"instance_id\":0,\"fields\":[{\"size\":4}]}]}");
  struct mig_inspect inspect;
  /* The payload follows type, be32 id, counted "globalstate", be32 instance, be32 version. */
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_BAD_VALUE,
              device + 1 + 4 + 1 + 11 + 4 + 4, "globalstate/runstate", &inspect);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST

static uint64_t command(struct built *b, uint16_t code, const void *body, uint16_t length)
{
  uint64_t offset = at(b);
  mig_writer_u8(&b->writer, MIG_SECTION_COMMAND);
  mig_writer_be16(&b->writer, code);
  mig_writer_be16(&b->writer, length);
  mig_writer_bytes(&b->writer, body, length);
  return offset;
}

/* PACKAGED with body: the command (9 bytes), then the body; returns the command's offset. */
static uint64_t packaged(struct built *b, const void *body, uint32_t length)
{
  uint8_t word[4] = {(uint8_t)(length >> 24), (uint8_t)(length >> 16), (uint8_t)(length >> 8),
                     (uint8_t)length};
  uint64_t offset = command(b, MIG_CMD_PACKAGED, word, 4);
  mig_writer_bytes(&b->writer, body, length);
  return offset;
}

static enum mig_err refuse_packaged(void *context, const struct mig_inspect_event *event,
                                    struct mig_error *error)
{
  (void)context;
  if (event->kind != MIG_INSPECT_COMMAND || event->command != MIG_CMD_PACKAGED) return MIG_OK;
  snprintf(error->path, sizeof error->path, "visitor/packaged");
  return MIG_ERR_BAD_COMMAND;
}

/*
 * Goal: command bodies and packages that QEMU would misread are refused with offset and
 * path; method: a DISCARD whose name is longer than its length, a PACKAGED inside a package,
 * packages ending at an EOF or without RUN, and a visitor that refuses the PACKAGED record.
 */
START_TEST(mig_inspect_commands_hostile)
{
  struct built b;
  struct mig_inspect inspect;
  uint8_t discard[20] = {0, 200};
  built_init(&b);
  uint64_t cmd = command(&b, MIG_CMD_POSTCOPY_RAM_DISCARD, discard, sizeof discard);
  built_end(&b, NULL);
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_BAD_COMMAND, cmd + 3,
              "command/POSTCOPY_RAM_DISCARD/length", &inspect);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
  /* A package holding a PACKAGED command. */
  static const uint8_t inner[9] = {MIG_SECTION_COMMAND, 0, MIG_CMD_PACKAGED, 0, 4, 0, 0, 0, 0};
  built_init(&b);
  cmd = packaged(&b, inner, sizeof inner);
  built_end(&b, NULL);
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_BAD_COMMAND, cmd + 9,
              "command/PACKAGED", &inspect);
  ck_assert_uint_eq(inspect.package_offset, cmd + 9);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
  /* A package that is an EOF byte: refused at that EOF. */
  built_init(&b);
  cmd = packaged(&b, "\x00", 1);
  built_end(&b, NULL);
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_BAD_COMMAND, cmd + 9,
              "command/PACKAGED", &inspect);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
  /* A package of one ADVISE (no RUN): refused at its end. */
  static const uint8_t advise[5] = {MIG_SECTION_COMMAND, 0, MIG_CMD_POSTCOPY_ADVISE, 0, 0};
  built_init(&b);
  cmd = packaged(&b, advise, sizeof advise);
  built_end(&b, NULL);
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_BAD_COMMAND, cmd + 9 + 5,
              "command/PACKAGED", &inspect);
  ck_assert_uint_eq(inspect.commands[MIG_CMD_POSTCOPY_ADVISE], 1);
  mig_inspect_deinit(&inspect);
  /* The same stream, with a visitor that refuses the PACKAGED record: nothing inside is read. */
  struct mig_inspect_visitor visitor = {.visit = refuse_packaged};
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_walk(b.buf.bytes, b.buf.count, &inspect, &visitor, &error),
                   MIG_ERR_BAD_COMMAND);
  ck_assert_uint_eq(error.offset, cmd);
  ck_assert_str_eq(error.path, "visitor/packaged");
  ck_assert_uint_eq(inspect.package_offset, 0);
  ck_assert_uint_eq(inspect.commands[MIG_CMD_POSTCOPY_ADVISE], 0);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST

/*
 * Goal: a PING before OPEN_RETURN_PATH is refused as QEMU 7.2 refuses it
 * ("received with no return path"), as the loader and the sink do (sink_fuzz
 * found the walk accepting it); method: PING alone, then after the command.
 */
START_TEST(mig_inspect_ping_needs_return_path)
{
  static const uint8_t value[4] = {0, 0, 0x3d, 0};
  struct built b;
  struct mig_inspect inspect;
  built_init(&b);
  uint64_t cmd = command(&b, MIG_CMD_PING, value, sizeof value);
  built_end(&b, NULL);
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_BAD_COMMAND, cmd, "command/PING",
              &inspect);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
  built_init(&b);
  command(&b, MIG_CMD_OPEN_RETURN_PATH, NULL, 0);
  command(&b, MIG_CMD_PING, value, sizeof value);
  built_end(&b, NULL);
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_stream(b.buf.bytes, b.buf.count, &inspect, &error), MIG_OK);
  ck_assert_uint_eq(inspect.commands[MIG_CMD_PING], 1);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST

/* Goal: a NUL in a dirty-bitmap node or bitmap name is refused there; method: both, in turn. */
START_TEST(mig_inspect_bitmap_names_nul)
{
  for (int which = 0; which < 2; which++) {
    struct built b;
    built_init(&b);
    section_header(&b, MIG_SECTION_START, 3, MIG_BITMAP_IDSTR, MIG_BITMAP_SECTION_VERSION);
    mig_writer_u8(&b.writer, MIG_BITMAP_FLAG_START | MIG_BITMAP_FLAG_DEVICE_NAME |
                             MIG_BITMAP_FLAG_BITMAP_NAME);
    uint64_t names[2];
    for (int k = 0; k < 2; k++) {
      names[k] = at(&b);
      mig_writer_u8(&b.writer, 6);
      mig_writer_bytes(&b.writer, k == which ? "dr\0ve0" : "drive0", 6);
    }
    mig_writer_be32(&b.writer, 65536);
    mig_writer_u8(&b.writer, 0);
    mig_writer_u8(&b.writer, MIG_BITMAP_FLAG_EOS);
    footer(&b, 3);
    built_end(&b, NULL);
    struct mig_inspect inspect;
    expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_BAD_IDSTR, names[which],
                which == 0 ? "dirty-bitmap/node" : "dirty-bitmap/name", &inspect);
    mig_inspect_deinit(&inspect);
    mig_membuf_deinit(&b.buf);
  }
}
END_TEST

/*
 * Goal: live sections and block devices stay within the summary's bounds, FULL sections
 * within MIG_SECTIONS_MAX; method: a START id twice, 9 live sections, 17 block devices,
 * 4097 empty FULL sections.
 */
START_TEST(mig_inspect_counts_over_bound)
{
  struct built b;
  struct mig_inspect inspect;
  for (int variant = 0; variant < 2; variant++) {
    built_init(&b);
    uint64_t last = 0;
    for (uint32_t i = 1; i <= MIG_INSPECT_LIVE_SECTIONS_MAX + 1; i++) {
      uint32_t id = variant == 0 ? i : 1 + (i > 1);  /* variant 1: id 2 comes twice */
      last = at(&b);
      section_header(&b, MIG_SECTION_START, id, MIG_BLOCK_IDSTR, MIG_BLOCK_SECTION_VERSION);
      block_word(&b, 0, MIG_BLOCK_FLAG_EOS);
      footer(&b, id);
      if (variant == 1 && i == 3) break;
    }
    built_end(&b, NULL);
    expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_UNKNOWN_SECTION, last,
                "section/id", &inspect);
    ck_assert_uint_eq(inspect.live_count, variant == 0 ? MIG_INSPECT_LIVE_SECTIONS_MAX : 2);
    mig_inspect_deinit(&inspect);
    mig_membuf_deinit(&b.buf);
  }
  built_init(&b);
  section_header(&b, MIG_SECTION_START, BLOCK_ID, MIG_BLOCK_IDSTR, MIG_BLOCK_SECTION_VERSION);
  uint64_t name_at = 0;
  for (int i = 0; i <= MIG_INSPECT_BLOCK_DEVICES_MAX; i++) {
    char name[16];
    snprintf(name, sizeof name, "disk%d", i);
    name_at = at(&b) + 8;
    block_device_record(&b, 0, name, true);
  }
  block_word(&b, 0, MIG_BLOCK_FLAG_EOS);
  footer(&b, BLOCK_ID);
  built_end(&b, NULL);
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_TOO_LONG, name_at,
              "block/device-name", &inspect);
  ck_assert_uint_eq(inspect.block_device_count, MIG_INSPECT_BLOCK_DEVICES_MAX);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
  built_init(&b);
  uint64_t last = 0;
  for (int i = 0; i <= MIG_SECTIONS_MAX; i++) last = full_section(&b, 5, "t", 0);
  built_end(&b, NULL);
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_TOO_LONG, last, "t", &inspect);
  ck_assert_uint_eq(inspect.device_count, MIG_SECTIONS_MAX);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST

#define VFIO_IDSTR "0000:00:05.0/vfio"

/*
 * Goal: a vfio data block is taken when it fits, refused when longer than the stream (the
 * same offset and path from memory and streamed) and a config block inside a live section
 * is refused; method: START of a vfio section with each.
 */
START_TEST(mig_inspect_vfio_hostile)
{
  struct built b;
  struct mig_inspect inspect;
  built_init(&b);
  section_header(&b, MIG_SECTION_START, 4, VFIO_IDSTR, MIG_VFIO_SECTION_VERSION);
  mig_writer_be64(&b.writer, MIG_VFIO_FLAG_DEV_DATA_STATE);
  mig_writer_be64(&b.writer, 7);
  mig_writer_bytes(&b.writer, "devdata", 7);
  mig_writer_be64(&b.writer, MIG_VFIO_FLAG_END_OF_STATE);
  footer(&b, 4);
  built_end(&b, NULL);
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_OK, 0, "", &inspect);
  ck_assert_uint_eq(inspect.vfio_records, 2);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
  built_init(&b);
  section_header(&b, MIG_SECTION_START, 4, VFIO_IDSTR, MIG_VFIO_SECTION_VERSION);
  mig_writer_be64(&b.writer, MIG_VFIO_FLAG_DEV_DATA_STATE);
  mig_writer_be64(&b.writer, 100);
  uint64_t data = at(&b);
  mig_writer_bytes(&b.writer, "devdata", 7);
  mig_writer_be64(&b.writer, MIG_VFIO_FLAG_END_OF_STATE);
  footer(&b, 4);
  built_end(&b, NULL);
  /* From memory the size is checked against the bytes left, streamed the bytes run out. */
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_TRUNCATED, data, VFIO_IDSTR "/data",
              &inspect);
  mig_inspect_deinit(&inspect);

  mig_membuf_deinit(&b.buf);
  built_init(&b);
  section_header(&b, MIG_SECTION_START, 4, VFIO_IDSTR, MIG_VFIO_SECTION_VERSION);
  uint64_t flag = at(&b);
  mig_writer_be64(&b.writer, MIG_VFIO_FLAG_DEV_CONFIG_STATE);
  mig_writer_be64(&b.writer, MIG_VFIO_FLAG_END_OF_STATE);
  footer(&b, 4);
  built_end(&b, NULL);
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_BAD_VALUE, flag, VFIO_IDSTR "/flag",
              &inspect);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST

/*
 * Goal: without a trailer a FULL payload ends at the first footer followed by a plausible
 * record, and a footer whose last byte is the EOF is not one; method: look-alike footers
 * followed by bad command headers inside a payload, then a payload ending in 7e 00 00 01.
 */
START_TEST(mig_inspect_unsized_full)
{
  static const uint8_t fakes[] = {
      0x7e, 0, 0, 0, 3, MIG_SECTION_COMMAND, 1, 0, 0, 0,           /* code's high byte != 0 */
      0x7e, 0, 0, 0, 3, MIG_SECTION_COMMAND, 0, 0, 0, 0,           /* code 0 */
      0x7e, 0, 0, 0, 3, MIG_SECTION_COMMAND, 0, MIG_CMD_MAX_7_2, 0, 0,  /* not a 7.2 code */
      0x7e, 0, 0, 0, 3, MIG_SECTION_START, 0, 0, 0, 9, 0,          /* empty idstr */
  };
  struct built b;
  struct mig_inspect inspect;
  built_init(&b);
  section_header(&b, MIG_SECTION_FULL, 3, "dev", 1);
  mig_writer_bytes(&b.writer, fakes, sizeof fakes);
  footer(&b, 3);
  built_end(&b, NULL);
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_OK, 0, "", &inspect);
  ck_assert_uint_eq(inspect.device_count, 1);
  ck_assert_uint_eq(inspect.devices[0].bytes, sizeof fakes);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
  /* Section id 0x100: "7e 00 00 01" and the EOF byte 00 read as its footer, at the end. */
  built_init(&b);
  uint64_t device = at(&b);
  section_header(&b, MIG_SECTION_FULL, 0x100, "dev", 1);
  mig_writer_bytes(&b.writer, "\x7e\x00\x00\x01", 4);
  built_end(&b, NULL);
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_FOOTER, device + 17, "dev/footer",
              &inspect);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST

/*
 * A legacy stream (no configuration, no footers) and an unusable trailer: a
 * known destination sizes each FULL section at the next plausible header of
 * another section.  A 0x00 inside a payload is not an EOF, nor is a header
 * with the section's own id; a 0x00 + 0x06 + be32 near the rest's length is
 * (a trailer whose framing is off).  Without a destination it cannot be sized.
 */
START_TEST(mig_inspect_legacy_full_by_headers)
{
  static const uint8_t inner[] = {0x00, MIG_SECTION_FULL, 0, 0, 0, 1, 3, 'd', 'e', 'v',
                                  0, 0, 0, 0, 0, 0, 0, 1, 0x00, 0x05};
  for (int framing = 0; framing < 2; framing++) {
    struct built b;
    memset(&b, 0, sizeof b);
    mig_membuf_init(&b.buf, 1u << 16);
    mig_writer_init(&b.writer, b.staging, sizeof b.staging, mig_membuf_write, &b.buf);
    mig_writer_be32(&b.writer, MIG_FILE_MAGIC);
    mig_writer_be32(&b.writer, MIG_FILE_VERSION);
    uint64_t dev = at(&b);
    section_header(&b, MIG_SECTION_FULL, 1, "dev", 1);
    mig_writer_bytes(&b.writer, inner, sizeof inner);
    section_header(&b, MIG_SECTION_FULL, 2, "other", 1);
    mig_writer_bytes(&b.writer, "\x01\x00\x02", 3);
    /* A trailer 10 bytes longer than its length says: not found (a warning). */
    built_end(&b, framing ? "{\"devices\": []}          " : NULL);
    if (framing) b.buf.bytes[b.buf.count - 26] = 15;  /* be32's low byte: 15 of 25 */
    struct mig_inspect inspect;
    struct mig_inspect_options options = {.trailer_advisory = true};
    expect_walk(b.buf.bytes, b.buf.count, &options, true, MIG_OK, 0, "", &inspect);
    ck_assert_uint_eq(inspect.device_count, 2);
    ck_assert_uint_eq(inspect.devices[0].bytes, sizeof inner);
    ck_assert_uint_eq(inspect.devices[1].bytes, 3);
    ck_assert(inspect.full_by_headers);
    ck_assert_uint_eq(inspect.full_by_headers_offset, dev + 17);
    ck_assert(framing == (inspect.trailer_warning[0] != '\0'));
    mig_inspect_deinit(&inspect);
    if (!framing) {
      expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_VMDESC, dev, "dev/payload",
                  &inspect);
      ck_assert(!inspect.full_by_headers);
      mig_inspect_deinit(&inspect);
    }
    mig_membuf_deinit(&b.buf);
  }
}
END_TEST

static void consumed_never(void *context, uint64_t offset)
{
  (void)context;
  ck_abort_msg("consumed(0x%" PRIx64 ") on streamed input", offset);
}

/*
 * Goal: a visitor without a visit function is no visitor, and consumed() is for memory input
 * only; method: the zero-run stream walked with {.visit = NULL}, then streamed with consumed.
 */
START_TEST(mig_inspect_visitor_without_visit)
{
  struct built b;
  build_zero_stream(&b);
  struct mig_inspect inspect;
  struct mig_error error;
  struct mig_inspect_visitor empty = {.visit = NULL, .zero_runs = true};
  ck_assert_int_eq(mig_inspect_walk(b.buf.bytes, b.buf.count, &inspect, &empty, &error), MIG_OK);
  ck_assert_uint_eq(inspect.blocks[0].zero_pages, BIG_PAGES);
  ck_assert_uint_eq(inspect.blocks[1].zero_pages, SMALL_PAGES);
  mig_inspect_deinit(&inspect);
  struct mig_inspect_options options = {.consumed = consumed_never};
  struct mig_inspect memory;
  ck_assert_int_eq(mig_inspect_stream(b.buf.bytes, b.buf.count, &memory, &error), MIG_OK);
  walk_streamed_same(b.buf.bytes, b.buf.count, &options, &memory, &error);
  mig_inspect_deinit(&memory);
  mig_membuf_deinit(&b.buf);
}
END_TEST

/*
 * Goal: the streamed walk stops reading after EOF as soon as the bytes cannot be a trailer,
 * with the memory walk's verdict; method: bytes after EOF that are no 0x06, a zero length,
 * a length over the bound, a trailer with a byte after it, a cut length.
 */
START_TEST(mig_inspect_tail_not_trailer)
{
  static const struct {
    const char *bytes;
    size_t count;
    bool trailing;   /* the last byte is 0x00: an EOF there, so the first is TRAILING */
  } tails[] = {
      {"\x01", 1, false},
      {"\x06\x00\x00\x00\x00", 5, true},
      {"\x06\xff\xff\xff\xff{}", 7, false},
      {"\x06\x00\x00\x00\x02{}\x00", 8, true},
      {"\x06\x00", 2, true},
  };
  for (size_t i = 0; i < SIM_ARRAY_COUNT(tails); i++) {
    struct built b;
    built_init(&b);
    uint64_t eof = built_end(&b, NULL);
    mig_writer_bytes(&b.writer, tails[i].bytes, tails[i].count);
    ck_assert_int_eq(mig_writer_flush(&b.writer), MIG_OK);
    struct mig_inspect inspect;
    if (tails[i].trailing) {
      expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_TRAILING, eof, "eof", &inspect);
    } else {
      expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_VMDESC, b.buf.count, "vmdesc",
                  &inspect);
    }
    mig_inspect_deinit(&inspect);
    mig_membuf_deinit(&b.buf);
  }
}
END_TEST


/*
 * Goal: streams that end where no trailer or EOF byte can be are refused at their end, or
 * walked up to their first EOF with trailer_advisory; method: the header alone, a stream cut
 * after a FULL header (streamed: an empty tail), and EOF + 0x01 with the option.
 */
START_TEST(mig_inspect_stream_end_hostile)
{
  struct built b;
  struct mig_inspect inspect;
  memset(&b, 0, sizeof b);
  mig_membuf_init(&b.buf, 64);
  mig_writer_init(&b.writer, b.staging, sizeof b.staging, mig_membuf_write, &b.buf);
  mig_writer_be32(&b.writer, MIG_FILE_MAGIC);
  mig_writer_be32(&b.writer, MIG_FILE_VERSION);
  ck_assert_int_eq(mig_writer_flush(&b.writer), MIG_OK);
  expect_walk(b.buf.bytes, b.buf.count, NULL, false, MIG_ERR_VMDESC, 8, "vmdesc", &inspect);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
  built_init(&b);
  section_header(&b, MIG_SECTION_FULL, 3, "timer", 1);
  ck_assert_int_eq(mig_writer_flush(&b.writer), MIG_OK);
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_VMDESC, b.buf.count, "vmdesc",
              &inspect);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
  built_init(&b);
  uint64_t eof = built_end(&b, NULL);
  mig_writer_u8(&b.writer, 0x01);
  ck_assert_int_eq(mig_writer_flush(&b.writer), MIG_OK);
  struct mig_inspect_options options = {.trailer_advisory = true};
  expect_walk(b.buf.bytes, b.buf.count, &options, false, MIG_OK, 0, "", &inspect);
  ck_assert_uint_eq(inspect.eof_offset, eof);
  ck_assert_uint_eq(inspect.trailer_warning_offset, eof + 2);
  ck_assert(!inspect.has_trailer);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST

static enum mig_err refuse_zero_run(void *context, const struct mig_inspect_event *event,
                                    struct mig_error *error)
{
  (void)context;
  if (event->kind != MIG_INSPECT_RAM_ZERO_RUN) return MIG_OK;
  error->offset = event->offset + 9;  /* the run's second record */
  snprintf(error->path, sizeof error->path, "visitor/run");
  return MIG_ERR_BAD_VALUE;
}

/*
 * Goal: a visitor that refuses a zero run stops the walk there with its own offset and path;
 * method: the zero-run stream with a visitor refusing the first RAM_ZERO_RUN event.
 */
START_TEST(mig_inspect_visitor_refuses_run)
{
  struct built b;
  build_zero_stream(&b);
  struct mig_inspect inspect;
  struct mig_error error;
  struct mig_inspect_visitor visitor = {.visit = refuse_zero_run, .zero_runs = true};
  ck_assert_int_eq(mig_inspect_walk(b.buf.bytes, b.buf.count, &inspect, &visitor, &error),
                   MIG_ERR_BAD_VALUE);
  ck_assert_uint_eq(error.offset, b.big_records[1] + 9);
  ck_assert_str_eq(error.path, "visitor/run");
  ck_assert_uint_eq(inspect.blocks[1].zero_pages, 0);  /* "small" was not reached */
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST

/*
 * Goal: a FULL section inside a package sized by the trailer is checked by its footer there
 * too; method: the trailer says 4 bytes, the packaged section has 6 (footer read at byte 4).
 */
START_TEST(mig_inspect_package_full_missized)
{
  struct built b;
  built_init(&b);
  struct built inner;
  memset(&inner, 0, sizeof inner);
  mig_membuf_init(&inner.buf, 4096);
  mig_writer_init(&inner.writer, inner.staging, sizeof inner.staging, mig_membuf_write,
                  &inner.buf);
  full_section(&inner, 3, "timer", 6);
  ck_assert_int_eq(mig_writer_flush(&inner.writer), MIG_OK);
  uint64_t cmd = packaged(&b, inner.buf.bytes, (uint32_t)inner.buf.count);
  built_end(&b, TJ_HEAD TJ_TIMER ",\"fields\":[{\"size\":4}]}]}");
  struct mig_inspect inspect;
  /* The section's 19-byte header follows the PACKAGED command (9 bytes); 4 payload bytes. */
  expect_walk(b.buf.bytes, b.buf.count, NULL, false, MIG_ERR_FOOTER, cmd + 9 + 19 + 4,
              "timer/footer", &inspect);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&inner.buf);
  mig_membuf_deinit(&b.buf);
}
END_TEST

static bool tail_more_count(void *context)
{
  uint32_t *calls = context;
  return ++*calls < 3;
}

/*
 * Goal: the streamed tail is bounded by tail_bytes_max, and tail trials reach the memory
 * walk's verdict; method: a trailer longer than a 64-byte bound, then a valid stream walked
 * with tail_trials and a tail_more that answers true twice.
 */
START_TEST(mig_inspect_tail_bounds)
{
  struct built b;
  built_init(&b);
  uint64_t device = full_section(&b, 3, "timer", 6);
  built_end(&b, trailer_cases[0].json);
  static uint8_t window[MIG_INSPECT_STREAM_WINDOW_BYTES];
  struct trickle trickle = {.bytes = b.buf.bytes, .count = b.buf.count};
  struct mig_reader reader;
  mig_reader_init_refill(&reader, window, sizeof window, trickle_refill, &trickle);
  struct mig_inspect_options options = {.tail_bytes_max = 64};
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_walk_reader(&reader, &inspect, &options, NULL, &error),
                   MIG_ERR_TOO_LONG);
  ck_assert_str_eq(error.path, "stream/tail");
  /* The tail starts at the payload (after a 19-byte header); the bound is hit inside it. */
  ck_assert_uint_gt(error.offset, device + 19);
  ck_assert_uint_le(error.offset, device + 19 + 64);
  mig_inspect_deinit(&inspect);
  uint32_t calls = 0;
  options = (struct mig_inspect_options){.tail_trials = true, .tail_more = tail_more_count,
                                         .context = &calls};
  trickle = (struct trickle){.bytes = b.buf.bytes, .count = b.buf.count};
  mig_reader_init_refill(&reader, window, sizeof window, trickle_refill, &trickle);
  ck_assert_int_eq(mig_inspect_walk_reader(&reader, &inspect, &options, NULL, &error), MIG_OK);
  ck_assert_uint_eq(inspect.device_count, 1);
  ck_assert_uint_eq(inspect.devices[0].bytes, 6);
  ck_assert(inspect.has_trailer);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST


/*
 * Goal: a FULL payload the trailer sizes past the EOF byte is refused where it starts, even
 * with no byte left before the EOF; method: a FULL header right before the EOF, size 1.
 */
START_TEST(mig_inspect_full_past_eof)
{
  struct built b;
  built_init(&b);
  uint64_t device = at(&b);
  section_header(&b, MIG_SECTION_FULL, 3, "timer", 1);
  built_end(&b, TJ_HEAD TJ_TIMER ",\"fields\":[{\"size\":1}]}]}");
  struct mig_inspect inspect;
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_TRUNCATED, device + 19,
              "timer/payload", &inspect);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST

struct consumed_log {
  uint64_t offsets[8];
  uint32_t count;
};

static void consumed_record(void *context, uint64_t offset)
{
  struct consumed_log *log = context;
  ck_assert_uint_lt(log->count, SIM_ARRAY_COUNT(log->offsets));
  log->offsets[log->count++] = offset;
}

/*
 * Goal: consumed() reports every MIG_INSPECT_CONSUMED_BYTES from inside a run of PAGE
 * records too; method: 2100 PAGE|CONTINUE records (8.6 MB) after one named page.
 */
START_TEST(mig_inspect_consumed_in_pages)
{
  enum { PAGES = 2100 };
  struct built b;
  memset(&b, 0, sizeof b);
  mig_membuf_init(&b.buf, UINT32_C(16) << 20);
  mig_writer_init(&b.writer, b.staging, sizeof b.staging, mig_membuf_write, &b.buf);
  mig_writer_be32(&b.writer, MIG_FILE_MAGIC);
  mig_writer_be32(&b.writer, MIG_FILE_VERSION);
  mig_writer_u8(&b.writer, MIG_SECTION_CONFIGURATION);
  mig_writer_be32(&b.writer, (uint32_t)strlen(WALK_MACHINE));
  mig_writer_bytes(&b.writer, WALK_MACHINE, strlen(WALK_MACHINE));
  section_header(&b, MIG_SECTION_START, RAM_SECTION_ID, MIG_RAM_IDSTR, MIG_RAM_SECTION_VERSION);
  mig_writer_be64(&b.writer, (uint64_t)PAGES * MIG_PAGE_BYTES | MIG_RAM_FLAG_MEM_SIZE);
  mig_writer_counted_string(&b.writer, "pc.ram");
  mig_writer_be64(&b.writer, (uint64_t)PAGES * MIG_PAGE_BYTES);
  mig_writer_be64(&b.writer, MIG_RAM_FLAG_EOS);
  footer(&b, RAM_SECTION_ID);
  section_header(&b, MIG_SECTION_PART, RAM_SECTION_ID, NULL, 0);
  static uint8_t page[MIG_PAGE_BYTES];
  for (uint64_t i = 0; i < PAGES; i++) {
    mig_writer_be64(&b.writer, i * MIG_PAGE_BYTES | MIG_RAM_FLAG_PAGE |
                               (i == 0 ? 0 : MIG_RAM_FLAG_CONTINUE));
    if (i == 0) mig_writer_counted_string(&b.writer, "pc.ram");
    page[0] = (uint8_t)i;
    mig_writer_bytes(&b.writer, page, sizeof page);
  }
  mig_writer_be64(&b.writer, MIG_RAM_FLAG_EOS);
  footer(&b, RAM_SECTION_ID);
  built_end(&b, NULL);
  struct consumed_log log = {.count = 0};
  struct mig_inspect_options options = {.consumed = consumed_record, .context = &log};
  struct mig_inspect inspect;
  expect_walk(b.buf.bytes, b.buf.count, &options, false, MIG_OK, 0, "", &inspect);
  ck_assert_uint_eq(inspect.blocks[0].normal_pages, PAGES);
  ck_assert_uint_eq(log.count, 2);
  ck_assert_uint_eq(log.offsets[0], 0);
  ck_assert_uint_ge(log.offsets[1], MIG_INSPECT_CONSUMED_BYTES);
  ck_assert_uint_lt(log.offsets[1], MIG_INSPECT_CONSUMED_BYTES + MIG_PAGE_BYTES + 8);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST

/* Goal: a record cut by the end of its package is refused there; method: body 08 00. */
START_TEST(mig_inspect_package_record_cut)
{
  struct built b;
  built_init(&b);
  uint64_t cmd = packaged(&b, "\x08\x00", 2);
  built_end(&b, NULL);
  struct mig_inspect inspect;
  /* The command's be16 code is cut after its first byte. */
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_TRUNCATED, cmd + 9 + 1, "command",
              &inspect);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&b.buf);
}
END_TEST

/* A refill of one byte per call: the streamed tail then ends at every byte in turn. */
static size_t one_byte_refill(void *context, uint8_t *out, size_t capacity)
{
  struct trickle *trickle = context;
  if (capacity == 0 || trickle->at == trickle->count) return 0;
  out[0] = trickle->bytes[trickle->at++];
  return 1;
}

static bool tail_more_limited(void *context)
{
  uint32_t *budget = context;
  if (*budget == 0) return false;
  (*budget)--;
  return true;
}

/*
 * Goal: with tail_trials a trailer look-alike inside a FULL payload is tried, fails, and the
 * walk goes on while tail_more says more came, else keeps the failed trial's verdict;
 * method: a payload "00 06 00000002 {}", walked one byte per refill with budgets 1 and 0.
 */
START_TEST(mig_inspect_tail_trials)
{
  struct built b;
  built_init(&b);
  section_header(&b, MIG_SECTION_FULL, 3, "timer", 1);
  uint64_t fake = at(&b);
  mig_writer_bytes(&b.writer, "\x00\x06\x00\x00\x00\x02{}", 8);
  footer(&b, 3);
  built_end(&b, TJ_HEAD TJ_TIMER ",\"fields\":[{\"size\":8}]}]}");
  static uint8_t window[MIG_INSPECT_STREAM_WINDOW_BYTES];
  for (uint32_t start = 0; start < 2; start++) {
    uint32_t budget = 1 - start;
    struct trickle trickle = {.bytes = b.buf.bytes, .count = b.buf.count};
    struct mig_reader reader;
    mig_reader_init_refill(&reader, window, sizeof window, one_byte_refill, &trickle);
    struct mig_inspect_options options = {.tail_trials = true, .tail_more = tail_more_limited,
                                          .context = &budget};
    struct mig_inspect inspect;
    struct mig_error error;
    enum mig_err code = mig_inspect_walk_reader(&reader, &inspect, &options, NULL, &error);
    if (start == 0) {
      ck_assert_msg(code == MIG_OK, "%s at 0x%" PRIx64 " %s", mig_err_name(code), error.offset,
                    error.path);
      ck_assert_uint_eq(budget, 0);  /* the look-alike was tried once */
      ck_assert_uint_eq(inspect.devices[0].bytes, 8);
    } else {
      ck_assert_int_eq(code, MIG_ERR_VMDESC);  /* "{}" has no page_size */
      ck_assert_uint_eq(error.offset, fake + 6);
      ck_assert_str_eq(error.path, "vmdesc");
    }
    mig_inspect_deinit(&inspect);
  }
  mig_membuf_deinit(&b.buf);
}
END_TEST


/*
 * Goal: a START of a section the walk has no grammar for is refused at its header; method:
 * START "timer" (an opaque device section, which QEMU sends as FULL).
 */
START_TEST(mig_inspect_live_not_walked)
{
  struct built b;
  built_init(&b);
  uint64_t start = at(&b);
  section_header(&b, MIG_SECTION_START, 3, "timer", 1);
  mig_writer_bytes(&b.writer, "\x01\x02", 2);
  footer(&b, 3);
  built_end(&b, NULL);
  struct mig_inspect inspect;
  expect_walk(b.buf.bytes, b.buf.count, NULL, true, MIG_ERR_UNKNOWN_SECTION, start, "timer",
              &inspect);
  ck_assert_uint_eq(inspect.live_count, 0);
  mig_inspect_deinit(&inspect);
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
  TCase *hostile = tcase_create("hostile");
  tcase_set_timeout(hostile, 60);
  tcase_add_loop_test(hostile, mig_inspect_trailer_json, 0, (int)SIM_ARRAY_COUNT(trailer_cases));
  tcase_add_test(hostile, mig_inspect_trailer_advisory);
  tcase_add_test(hostile, mig_inspect_config_hostile);
  tcase_add_test(hostile, mig_inspect_ram_blocks_over_bound);
  tcase_add_test(hostile, mig_inspect_globalstate_short);
  tcase_add_test(hostile, mig_inspect_commands_hostile);
  tcase_add_test(hostile, mig_inspect_ping_needs_return_path);
  tcase_add_test(hostile, mig_inspect_bitmap_names_nul);
  tcase_add_test(hostile, mig_inspect_counts_over_bound);
  tcase_add_test(hostile, mig_inspect_vfio_hostile);
  tcase_add_test(hostile, mig_inspect_unsized_full);
  tcase_add_test(hostile, mig_inspect_legacy_full_by_headers);
  tcase_add_test(hostile, mig_inspect_visitor_without_visit);
  tcase_add_test(hostile, mig_inspect_tail_not_trailer);
  tcase_add_test(hostile, mig_inspect_stream_end_hostile);
  tcase_add_test(hostile, mig_inspect_visitor_refuses_run);
  tcase_add_test(hostile, mig_inspect_package_full_missized);
  tcase_add_test(hostile, mig_inspect_tail_bounds);
  tcase_add_test(hostile, mig_inspect_full_past_eof);
  tcase_add_test(hostile, mig_inspect_consumed_in_pages);
  tcase_add_test(hostile, mig_inspect_package_record_cut);
  tcase_add_test(hostile, mig_inspect_tail_trials);
  tcase_add_test(hostile, mig_inspect_live_not_walked);
  suite_add_tcase(suite, hostile);
  return suite;
}
