/*
 * mig_record_test.c: the record layer (mig_record.c) on one hand-built
 * stream that holds every record kind: the configuration with its three
 * subsections, RAM (MEM_SIZE with GPAs, ZERO, a zero run, PAGE, XBZRLE,
 * COMPRESS_PAGE, EOS), a vfio live section, a block section, dirty-bitmap
 * chunks, a FULL section, commands, EOF and a trailer.  It checks the
 * round trip (tokenize, mig_record_write, compare bytes), that refill mode
 * with tiny refills yields the same records as memory mode, every cut, and
 * one syntax error per rule with its code, offset and path.
 */
#include "sim_base.h"

#include "mig_record.h"
#include "mig_save.h"
#include "mig_stream.h"
#include "sim_check.h"

#define RUN_RECORDS 20u          /* ZERO|CONTINUE records after the named one */
#define FULL_BYTES 6u            /* the FULL section's opaque payload */
#define RECORDS_MAX 256u

struct built {
  struct mig_membuf buf;
  struct mig_writer writer;
  uint8_t staging[4096];
  uint64_t full_payload;         /* offset of the FULL payload */
  uint64_t eof;                  /* offset of the EOF byte */
  uint64_t at[8];                /* anchors, enum anchor */
};

enum anchor { AT_CONFIG, AT_SUB1, AT_SUB2, AT_CMD1, AT_RAM, AT_MEM_SIZE, AT_RAM_FOOTER };

static void mark(struct built *b, enum anchor anchor)
{
  b->at[anchor] = mig_writer_offset(&b->writer);
}

static void w_name(struct built *b, const char *text)
{
  mig_writer_counted_string(&b->writer, text);
}

static void w_section(struct built *b, uint8_t type, uint32_t id, const char *idstr,
                      uint32_t version)
{
  mig_writer_u8(&b->writer, type);
  mig_writer_be32(&b->writer, id);
  if (idstr == NULL) return;
  w_name(b, idstr);
  mig_writer_be32(&b->writer, 0);
  mig_writer_be32(&b->writer, version);
}

static void w_footer(struct built *b, uint32_t id)
{
  mig_writer_u8(&b->writer, MIG_SECTION_FOOTER);
  mig_writer_be32(&b->writer, id);
}

static void w_config(struct built *b)
{
  struct mig_writer *w = &b->writer;
  mig_writer_be32(w, MIG_FILE_MAGIC);
  mig_writer_be32(w, MIG_FILE_VERSION);
  mark(b, AT_CONFIG);
  mig_writer_u8(w, MIG_SECTION_CONFIGURATION);
  mig_writer_be32(w, 13);
  mig_writer_bytes(w, "pc-i440fx-7.2", 13);
  mark(b, AT_SUB1);
  mig_writer_u8(w, MIG_SECTION_SUBSECTION);
  w_name(b, "configuration/target-page-bits");
  mig_writer_be32(w, 1);
  mig_writer_be32(w, 12);
  mark(b, AT_SUB2);
  mig_writer_u8(w, MIG_SECTION_SUBSECTION);
  w_name(b, MIG_CONFIGURATION_CAPABILITIES);
  mig_writer_be32(w, 1);
  mig_writer_be32(w, 1);
  w_name(b, MIG_CAPABILITY_X_IGNORE_SHARED);
  mig_writer_u8(w, MIG_SECTION_SUBSECTION);
  w_name(b, "configuration/uuid");
  mig_writer_be32(w, 1);
  for (int i = 0; i < 16; i++) mig_writer_u8(w, (uint8_t)i);
  mark(b, AT_CMD1);
  mig_save_open_return_path(w, 1);
}

static void w_ram(struct built *b)
{
  struct mig_writer *w = &b->writer;
  mark(b, AT_RAM);
  w_section(b, MIG_SECTION_START, 0, MIG_RAM_IDSTR, MIG_RAM_SECTION_VERSION);
  mark(b, AT_MEM_SIZE);
  mig_writer_be64(w, 96 * MIG_PAGE_BYTES | MIG_RAM_FLAG_MEM_SIZE);
  w_name(b, "pc.ram");
  mig_writer_be64(w, 64 * MIG_PAGE_BYTES);
  mig_writer_be64(w, 0);                     /* GPA: x-ignore-shared is on */
  w_name(b, "vga.vram");
  mig_writer_be64(w, 32 * MIG_PAGE_BYTES);
  mig_writer_be64(w, 0xfd000000);
  mig_writer_be64(w, MIG_RAM_FLAG_EOS);
  mark(b, AT_RAM_FOOTER);
  w_footer(b, 0);
  w_section(b, MIG_SECTION_PART, 0, NULL, 0);
  mig_writer_be64(w, MIG_RAM_FLAG_ZERO);
  w_name(b, "pc.ram");
  mig_writer_u8(w, 0);
  for (uint64_t page = 1; page <= RUN_RECORDS; page++) {
    mig_writer_be64(w, page * MIG_PAGE_BYTES | MIG_RAM_FLAG_ZERO | MIG_RAM_FLAG_CONTINUE);
    mig_writer_u8(w, 0);
  }
  mig_writer_be64(w, 30 * MIG_PAGE_BYTES | MIG_RAM_FLAG_PAGE | MIG_RAM_FLAG_CONTINUE);
  for (uint32_t i = 0; i < MIG_PAGE_BYTES; i++) mig_writer_u8(w, (uint8_t)(i * 13));
  mig_writer_be64(w, 31 * MIG_PAGE_BYTES | MIG_RAM_FLAG_XBZRLE | MIG_RAM_FLAG_CONTINUE);
  mig_writer_u8(w, MIG_RAM_XBZRLE_ENCODING);
  mig_writer_be16(w, 3);
  mig_writer_bytes(w, "\x01\x01\x7d", 3);
  mig_writer_be64(w, MIG_RAM_FLAG_COMPRESS_PAGE);
  w_name(b, "vga.vram");
  mig_writer_be32(w, 5);
  mig_writer_bytes(w, "zlib!", 5);
  mig_writer_be64(w, MIG_RAM_FLAG_EOS);
  w_footer(b, 0);
}

static void w_live(struct built *b)
{
  struct mig_writer *w = &b->writer;
  w_section(b, MIG_SECTION_START, 1, "0000:00:05.0/vfio", MIG_VFIO_SECTION_VERSION);
  mig_writer_be64(w, MIG_VFIO_FLAG_DEV_SETUP_STATE);
  mig_writer_be64(w, MIG_VFIO_FLAG_END_OF_STATE);
  w_footer(b, 1);
  w_section(b, MIG_SECTION_PART, 1, NULL, 0);
  mig_writer_be64(w, MIG_VFIO_FLAG_DEV_DATA_STATE);
  mig_writer_be64(w, 7);
  mig_writer_bytes(w, "devdata", 7);
  mig_writer_be64(w, MIG_VFIO_FLAG_DEV_INIT_DATA_SENT);
  w_footer(b, 1);
  w_section(b, MIG_SECTION_START, 2, MIG_BLOCK_IDSTR, MIG_BLOCK_SECTION_VERSION);
  mig_writer_be64(w, (uint64_t)MIG_BLOCK_CHUNK_SECTORS << MIG_BLOCK_SECTOR_BITS |
                     MIG_BLOCK_FLAG_DEVICE_BLOCK | MIG_BLOCK_FLAG_ZERO_BLOCK);
  w_name(b, "drive0");
  mig_writer_be64(w, (uint64_t)50 << MIG_BLOCK_SECTOR_BITS | MIG_BLOCK_FLAG_PROGRESS);
  mig_writer_be64(w, MIG_BLOCK_FLAG_EOS);
  w_footer(b, 2);
  w_section(b, MIG_SECTION_START, 3, MIG_BITMAP_IDSTR, MIG_BITMAP_SECTION_VERSION);
  mig_writer_u8(w, MIG_BITMAP_FLAG_START | MIG_BITMAP_FLAG_DEVICE_NAME |
                   MIG_BITMAP_FLAG_BITMAP_NAME);
  w_name(b, "drive0");
  w_name(b, "bitmap0");
  mig_writer_be32(w, 65536);
  mig_writer_u8(w, 0);
  mig_writer_be16(w, 0x8000 | MIG_BITMAP_FLAG_BITS);  /* a two-byte flags field */
  mig_writer_be64(w, 0);
  mig_writer_be32(w, 128);
  mig_writer_be64(w, 2);
  mig_writer_bytes(w, "\xff\x0f", 2);
  mig_writer_u8(w, MIG_BITMAP_FLAG_EOS);
  w_footer(b, 3);
}

/* The whole stream: every record kind once at least. */
static void build(struct built *b)
{
  memset(b, 0, sizeof *b);
  mig_membuf_init(&b->buf, UINT32_C(1) << 20);
  mig_writer_init(&b->writer, b->staging, sizeof b->staging, mig_membuf_write, &b->buf);
  w_config(b);
  w_ram(b);
  w_live(b);
  w_section(b, MIG_SECTION_FULL, 4, "timer", 2);
  b->full_payload = mig_writer_offset(&b->writer);
  mig_writer_bytes(&b->writer, "\x00\x01\x02\x03\x04\x05", FULL_BYTES);
  w_footer(b, 4);
  mig_writer_u8(&b->writer, MIG_SECTION_COMMAND);
  mig_writer_be16(&b->writer, MIG_CMD_POSTCOPY_ADVISE);
  mig_writer_be16(&b->writer, 16);
  mig_writer_be64(&b->writer, MIG_PAGE_BYTES);
  mig_writer_be64(&b->writer, MIG_PAGE_BYTES);
  b->eof = mig_writer_offset(&b->writer);
  mig_writer_u8(&b->writer, MIG_SECTION_EOF);
  static const char json[] = "{\"page_size\": 4096, \"devices\": []}";
  mig_writer_u8(&b->writer, MIG_SECTION_VMDESCRIPTION);
  mig_writer_be32(&b->writer, (uint32_t)strlen(json));
  mig_writer_bytes(&b->writer, json, strlen(json));
  ck_assert_int_eq(mig_writer_flush(&b->writer), MIG_OK);
}

struct walked {
  enum mig_record_kind kinds[RECORDS_MAX];
  uint64_t offsets[RECORDS_MAX];
  uint32_t count;
  struct mig_membuf out;         /* every record written back */
  struct mig_error error;
};

/* Tokenizes reader to the end, writing every record back; zero runs when asked. */
static void walk(struct mig_reader *reader, bool zero_runs, struct walked *walked)
{
  static struct mig_tokenizer tokenizer;
  memset(walked, 0, sizeof *walked);
  mig_membuf_init(&walked->out, UINT32_C(1) << 20);
  uint8_t staging[512];
  struct mig_writer writer;
  mig_writer_init(&writer, staging, sizeof staging, mig_membuf_write, &walked->out);
  mig_tokenizer_init(&tokenizer, reader, NULL);
  struct mig_record record;
  for (uint32_t n = 0; n < RECORDS_MAX; n++) {
    bool run = zero_runs && mig_record_zero_run(&tokenizer, 64 * MIG_PAGE_BYTES, &record);
    if (!run && mig_record_next(&tokenizer, &record) != MIG_OK) break;
    if (record.kind == MIG_RECORD_VFIO && record.vfio_flag == MIG_VFIO_FLAG_DEV_DATA_STATE &&
        mig_record_payload_view(&tokenizer, &record) != MIG_OK) {
      break;
    }
    walked->kinds[walked->count] = record.kind;
    walked->offsets[walked->count++] = record.offset;
    mig_record_write(&writer, &record);
    if (record.kind == MIG_RECORD_END) break;
    bool full = record.kind == MIG_RECORD_SECTION && record.section.type == MIG_SECTION_FULL;
    if (full && mig_record_payload(&tokenizer, FULL_BYTES, &record) == MIG_OK) {
      mig_record_write(&writer, &record);
    }
  }
  ck_assert_int_eq(mig_writer_flush(&writer), MIG_OK);
  walked->error = *mig_reader_error(reader);
}

/* Goal: every record is written back to its own bytes; method: tokenize, write, compare. */
START_TEST(mig_record_round_trip_is_byte_identical)
{
  struct built b;
  build(&b);
  uint32_t plain_count = 0;
  for (int zero_runs = 0; zero_runs < 2; zero_runs++) {
    struct mig_reader reader;
    mig_reader_init_memory(&reader, b.buf.bytes, b.buf.count);
    static struct walked walked;
    walk(&reader, zero_runs != 0, &walked);
    ck_assert_int_eq(walked.error.code, MIG_OK);
    ck_assert_int_eq(walked.kinds[walked.count - 1], MIG_RECORD_END);
    ck_assert_uint_eq(walked.out.count, b.buf.count);
    ck_assert(memcmp(walked.out.bytes, b.buf.bytes, b.buf.count) == 0);
    /* With runs the 20 CONTINUE zero pages are one record. */
    if (zero_runs) ck_assert_uint_eq(walked.count, plain_count - (RUN_RECORDS - 1));
    plain_count = walked.count;
    mig_membuf_deinit(&walked.out);
  }
  mig_membuf_deinit(&b.buf);
}
END_TEST

struct dribble {
  const uint8_t *bytes;
  size_t count;
  size_t at;
  size_t step;                   /* bytes per refill, cycling 1..7 */
};

static size_t dribble_refill(void *context, uint8_t *bytes, size_t capacity)
{
  struct dribble *d = context;
  size_t take = SIM_MIN(SIM_MIN(d->step, capacity), d->count - d->at);
  memcpy(bytes, d->bytes + d->at, take);
  d->at += take;
  d->step = d->step % 7 + 1;
  return take;
}

/* Goal: refill mode sees what memory mode sees; method: 1..7-byte refills, a small window. */
START_TEST(mig_record_refill_mode_matches_memory_mode)
{
  struct built b;
  build(&b);
  struct mig_reader memory;
  mig_reader_init_memory(&memory, b.buf.bytes, b.buf.count);
  static struct walked expected, got;
  walk(&memory, false, &expected);
  struct dribble d = {.bytes = b.buf.bytes, .count = b.buf.count, .step = 1};
  static uint8_t window[MIG_PAGE_BYTES + 64];
  struct mig_reader refill;
  mig_reader_init_refill(&refill, window, sizeof window, dribble_refill, &d);
  walk(&refill, true, &got);  /* zero runs are memory-only: asking changes nothing here */
  ck_assert_int_eq(got.error.code, MIG_OK);
  ck_assert_uint_eq(got.count, expected.count);
  for (uint32_t i = 0; i < got.count; i++) {
    ck_assert_int_eq(got.kinds[i], expected.kinds[i]);
    ck_assert_uint_eq(got.offsets[i], expected.offsets[i]);
  }
  ck_assert_uint_eq(got.out.count, b.buf.count);
  ck_assert(memcmp(got.out.bytes, b.buf.bytes, b.buf.count) == 0);
  mig_membuf_deinit(&expected.out);
  mig_membuf_deinit(&got.out);
  mig_membuf_deinit(&b.buf);
}
END_TEST

/*
 * Goal: the incremental trailer scan says "complete" exactly where a trailer
 * framing ends the bytes so far, and the trailer search agrees with it at any
 * base; method: the built stream fed 1..7 bytes at a time, then the same with
 * a look-alike planted in the FULL payload, then mig_reader_take over it.
 */
START_TEST(mig_record_trailer_scan_and_find)
{
  struct built b;
  build(&b);
  const uint8_t *bytes = b.buf.bytes;
  size_t count = b.buf.count;
  struct mig_trailer_scan scan = {0};
  uint32_t completes = 0;
  for (size_t at = 0, step = 1; at < count; step = step % 7 + 1) {
    at = SIM_MIN(count, at + step);
    mig_trailer_scan_feed(&scan, bytes, at);
    if (mig_trailer_scan_complete(&scan, bytes, at)) {
      ck_assert_uint_eq(at, count);
      completes++;
    }
  }
  ck_assert_uint_eq(completes, 1);
  uint64_t eof = 0, json = 0;
  ck_assert(mig_record_trailer_find(bytes, count, &eof, &json));
  ck_assert_uint_eq(eof, b.eof);
  /* The same search over the tail from the EOF byte on, at its stream offset. */
  uint64_t eof_at = 0, json_at = 0;
  ck_assert(mig_record_trailer_find_at(bytes + b.eof, count - b.eof, b.eof, &eof_at, &json_at));
  ck_assert_uint_eq(eof_at, eof);
  ck_assert_uint_eq(json_at, json);
  /* A look-alike "00 06 00 00 00 02 { }" in the middle completes right after its '}'. */
  static const uint8_t fake[] = {0x00, MIG_SECTION_VMDESCRIPTION, 0, 0, 0, 2, '{', '}'};
  struct mig_membuf copy;
  mig_membuf_init(&copy, count);
  ck_assert_int_eq(mig_membuf_write(&copy, bytes, count), MIG_OK);
  size_t fake_at = (size_t)b.full_payload;
  memcpy(copy.bytes + fake_at, fake, sizeof fake);
  struct mig_trailer_scan fake_scan = {0};
  mig_trailer_scan_feed(&fake_scan, copy.bytes, fake_at + sizeof fake - 1);
  ck_assert(!mig_trailer_scan_complete(&fake_scan, copy.bytes, fake_at + sizeof fake - 1));
  mig_trailer_scan_feed(&fake_scan, copy.bytes, fake_at + sizeof fake);
  ck_assert(mig_trailer_scan_complete(&fake_scan, copy.bytes, fake_at + sizeof fake));
  mig_trailer_scan_feed(&fake_scan, copy.bytes, fake_at + sizeof fake + 1);
  ck_assert(!mig_trailer_scan_complete(&fake_scan, copy.bytes, fake_at + sizeof fake + 1));
  mig_membuf_deinit(&copy);
  /* mig_reader_take hands out the buffered bytes first, then refills, then 0. */
  struct dribble d = {.bytes = bytes, .count = count, .step = 1};
  static uint8_t window[MIG_IDSTR_BYTES_MAX + 2];
  struct mig_reader reader;
  mig_reader_init_refill(&reader, window, sizeof window, dribble_refill, &d);
  ck_assert_uint_eq(mig_read_be32(&reader), MIG_FILE_MAGIC);
  uint8_t out[64];
  size_t taken = 4;
  for (size_t got; (got = mig_reader_take(&reader, out, sizeof out)) > 0; taken += got) {
    ck_assert_int_eq(memcmp(out, bytes + taken, got), 0);
  }
  ck_assert_uint_eq(taken, count);
  ck_assert_uint_eq(mig_reader_offset(&reader), count);
  mig_membuf_deinit(&b.buf);
}
END_TEST

/* Goal: a cut anywhere is refused inside the cut, or ends right after EOF; method: every cut. */
START_TEST(mig_record_every_cut_is_refused)
{
  struct built b;
  build(&b);
  for (size_t n = 0; n < b.buf.count; n++) {
    uint8_t *copy = malloc(n > 0 ? n : 1);  /* exact size: ASan sees any overread */
    memcpy(copy, b.buf.bytes, n);
    struct mig_reader reader;
    mig_reader_init_memory(&reader, copy, n);
    static struct walked walked;
    walk(&reader, n % 2 == 0, &walked);
    if (walked.error.code == MIG_OK) {
      ck_assert_msg(n == b.eof + 1, "cut at %zu accepted", n);
    } else {
      ck_assert_msg(walked.error.code == MIG_ERR_TRUNCATED, "cut at %zu: %s", n,
                    mig_err_name(walked.error.code));
      ck_assert_uint_le(walked.error.offset, n);
      ck_assert_msg(walked.error.path[0] != 0 || n < 8, "cut at %zu: no path (%s at 0x%" PRIx64
                    ")", n, walked.error.detail, walked.error.offset);
    }
    mig_membuf_deinit(&walked.out);
    free(copy);
  }
  mig_membuf_deinit(&b.buf);
}
END_TEST

/* One syntax rule broken at `at` (bytes replaced), the code, offset and path it gives. */
struct syntax_case {
  const char *name;
  enum anchor at;
  int at_delta;
  uint8_t bytes[8];
  size_t bytes_count;
  enum mig_err code;
  enum anchor error_at;
  int error_delta;
  const char *path;
};

static const struct syntax_case syntax_cases[] = {
  {"bad_magic", AT_CONFIG, -8, {'X'}, 1, MIG_ERR_BAD_MAGIC, AT_CONFIG, -8, "header/magic"},
  {"bad_version", AT_CONFIG, -1, {2}, 1, MIG_ERR_BAD_VERSION, AT_CONFIG, -4, "header/version"},
  {"machine_length_0", AT_CONFIG, 4, {0}, 1, MIG_ERR_TOO_LONG, AT_CONFIG, 1,
   "configuration/name"},
  {"subsection_version", AT_SUB1, 2 + 30 + 3, {2}, 1, MIG_ERR_SECTION_VERSION, AT_SUB1, 32,
   "configuration/target-page-bits"},
  {"subsection_version_256", AT_SUB1, 2 + 30 + 2, {1}, 1, MIG_ERR_SUBSECTION, AT_SUB1, 32,
   "configuration/target-page-bits"},
  {"subsection_unknown", AT_SUB1, 2 + 14, {'X'}, 1, MIG_ERR_SUBSECTION, AT_SUB1, 0,
   "configuration/Xarget-page-bits"},
  {"caps_count", AT_SUB2, 2 + 26 + 4 + 3, {17}, 1, MIG_ERR_TOO_LONG, AT_SUB2, 32,
   "configuration/capabilities/caps_count"},
  {"command_unknown", AT_CMD1, 2, {11}, 1, MIG_ERR_BAD_COMMAND, AT_CMD1, 0, "command/code"},
  {"command_fixed_length", AT_CMD1, 4, {1}, 1, MIG_ERR_BAD_COMMAND, AT_CMD1, 0,
   "command/OPEN_RETURN_PATH"},
  {"record_type", AT_RAM, 0, {0x09}, 1, MIG_ERR_BAD_SECTION_TYPE, AT_RAM, 0, "stream"},
  {"idstr_empty", AT_RAM, 5, {0}, 1, MIG_ERR_BAD_IDSTR, AT_RAM, 5, "section 0x0"},
  {"ram_flags", AT_MEM_SIZE, 6, {0x04}, 1, MIG_ERR_RAM_FLAGS, AT_MEM_SIZE, 0, "ram/flags"},
  {"ram_flags_two_kinds", AT_MEM_SIZE, 7, {0x0c}, 1, MIG_ERR_RAM_FLAGS, AT_MEM_SIZE, 0,
   "ram/flags"},
  {"footer_marker", AT_RAM_FOOTER, 0, {0x7d}, 1, MIG_ERR_FOOTER, AT_RAM_FOOTER, 0,
   "ram/footer"},
  {"footer_id", AT_RAM_FOOTER, 4, {9}, 1, MIG_ERR_FOOTER, AT_RAM_FOOTER, 0, "ram/footer"},
};

/* Goal: each syntax rule gives its own code, offset and path; method: one edit per case. */
START_TEST(mig_record_syntax_errors)
{
  const struct syntax_case *c = &syntax_cases[_i];
  struct built b;
  build(&b);
  memcpy(b.buf.bytes + (int64_t)b.at[c->at] + c->at_delta, c->bytes, c->bytes_count);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, b.buf.bytes, b.buf.count);
  static struct walked walked;
  walk(&reader, false, &walked);
  char text[512];
  mig_error_format(&walked.error, text, sizeof text);
  ck_assert_msg(walked.error.code == c->code, "%s: %s", c->name, text);
  ck_assert_msg(walked.error.offset == (uint64_t)((int64_t)b.at[c->error_at] + c->error_delta),
                "%s: %s", c->name, text);
  ck_assert_msg(strcmp(walked.error.path, c->path) == 0, "%s: %s", c->name, text);
  mig_membuf_deinit(&walked.out);
  mig_membuf_deinit(&b.buf);
}
END_TEST

/*
 * Goal: mig_policy_refuses names each policy field and answers it as the
 * preset sets it (docs/hostile.md's rows); method: every field name against
 * the three presets, written out by hand, plus an unknown name.
 */
START_TEST(mig_record_policy_refuses_by_name)
{
  static const struct {
    const char *field;
    bool strict, qemu_7_2, walk;
  } rows[] = {
      {"configuration_required", true, false, false},
      {"names_nul_refused", true, false, true},
      {"zero_fill_nonzero_refused", true, false, false},
      {"capabilities_only_validated", true, false, false},
      {"config_subsection_repeat_refused", true, false, false},
      {"trailer_checked", true, false, true},
      {"ram_setup_first", true, false, false},
      {"ram_xbzrle_refused", true, false, false},
      {"ram_compress_refused", true, true, false},
      {"postcopy_refused", true, false, false},
      {"ping_needs_return_path", true, true, true},
      {"destination_known", true, true, false},
      {"trailer_sizes_full_sections", false, false, true},
      {"packaged_bytes_max", true, false, true},
      {"no_such_field", false, false, false},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    ck_assert_msg(mig_policy_refuses(&mig_policy_strict, rows[i].field) == rows[i].strict,
                  "strict %s", rows[i].field);
    ck_assert_msg(mig_policy_refuses(&mig_policy_qemu_7_2, rows[i].field) == rows[i].qemu_7_2,
                  "qemu_7_2 %s", rows[i].field);
    ck_assert_msg(mig_policy_refuses(&mig_policy_walk, rows[i].field) == rows[i].walk,
                  "walk %s", rows[i].field);
  }
}
END_TEST

/*
 * Goal: the trailer scan's bounded candidate list keeps the nearest ends, and
 * look-alikes of length 0 or over the bound are no candidates; method: 69
 * look-alikes that end far away, two that are no candidates, then one that
 * ends right after its '}': the scan completes there and nowhere before.
 */
START_TEST(mig_record_trailer_scan_keeps_nearest)
{
  enum { FAR = 69, BYTES = 4096, FAR_LENGTH = 3000 };
  static uint8_t bytes[BYTES];
  memset(bytes, 'x', sizeof bytes);
  size_t at = 8;
  for (uint32_t i = 0; i < FAR + 2; i++, at += 12) {
    uint32_t length = i < FAR ? FAR_LENGTH : (i == FAR ? 0 : MIG_VMDESC_BYTES_MAX + 1);
    bytes[at] = MIG_SECTION_EOF;
    bytes[at + 1] = MIG_SECTION_VMDESCRIPTION;
    mig_wire_put_be32(bytes + at + 2, length);
    bytes[at + 6] = '{';
    bytes[at + 7] = '}';  /* would end a trailer of length 2 here: none of these has that */
  }
  ck_assert_uint_lt(at + 8, BYTES);
  size_t near = at + 6;  /* the '{' of the last one, of length 2 */
  bytes[at] = MIG_SECTION_EOF;
  bytes[at + 1] = MIG_SECTION_VMDESCRIPTION;
  mig_wire_put_be32(bytes + at + 2, 2);
  bytes[near] = '{';
  bytes[near + 1] = '}';
  struct mig_trailer_scan scan = {0};
  uint32_t completes = 0;
  for (size_t count = 1; count <= near + 2; count++) {
    mig_trailer_scan_feed(&scan, bytes, count);
    if (mig_trailer_scan_complete(&scan, bytes, count)) {
      ck_assert_uint_eq(count, near + 2);
      completes++;
    }
  }
  ck_assert_uint_eq(completes, 1);
  ck_assert_uint_eq(scan.candidate_count, MIG_TRAILER_CANDIDATES_MAX);
}
END_TEST

/*
 * Goal: mig_record_peek_type answers at top-level boundaries only, with the
 * type byte of the record that comes next; method: the built stream, a peek
 * before every record.
 */
START_TEST(mig_record_peek_type_top_level_only)
{
  struct built b;
  build(&b);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, b.buf.bytes, b.buf.count);
  static struct mig_tokenizer tokenizer;
  mig_tokenizer_init(&tokenizer, &reader, NULL);
  struct mig_record record;
  uint32_t peeked = 0, refused = 0;
  for (uint32_t n = 0; n < RECORDS_MAX; n++) {
    uint8_t type = 0xff;
    bool top = mig_record_peek_type(&tokenizer, &type);
    ck_assert_int_eq(mig_record_next(&tokenizer, &record), MIG_OK);
    if (record.kind == MIG_RECORD_END) break;
    bool top_kind = record.kind == MIG_RECORD_CONFIGURATION ||
                    record.kind == MIG_RECORD_CONFIG_SUBSECTION ||
                    record.kind == MIG_RECORD_SECTION || record.kind == MIG_RECORD_COMMAND ||
                    record.kind == MIG_RECORD_EOF;
    if (top) {
      ck_assert_msg(top_kind, "peek answered before record kind %d", record.kind);
      ck_assert_uint_eq(type, b.buf.bytes[record.offset]);
      peeked++;
    } else {
      refused++;
    }
    bool full = record.kind == MIG_RECORD_SECTION && record.section.type == MIG_SECTION_FULL;
    if (full) ck_assert_int_eq(mig_record_payload(&tokenizer, FULL_BYTES, &record), MIG_OK);
  }
  ck_assert_uint_ge(peeked, 5);
  ck_assert_uint_ge(refused, 5);
  ck_assert(!mig_record_peek_type(&tokenizer, &(uint8_t){0}));  /* at the end */
  mig_membuf_deinit(&b.buf);
}
END_TEST

/* Goal: the wire tables' length rules; method: each rule at its edges. */
START_TEST(mig_wire_length_rules)
{
  const uint8_t counted[] = {3, 'a', 'b', 'c'};
  ck_assert(!mig_wire_length_ok(MIG_LENGTH_NEVER, 0, 0, NULL));
  ck_assert(mig_wire_length_ok(MIG_LENGTH_FIXED, 4, 4, NULL));
  ck_assert(!mig_wire_length_ok(MIG_LENGTH_FIXED, 4, 5, NULL));
  ck_assert(mig_wire_length_ok(MIG_LENGTH_MIN, 20, 20, NULL));
  ck_assert(!mig_wire_length_ok(MIG_LENGTH_MIN, 20, 19, NULL));
  ck_assert(mig_wire_length_ok(MIG_LENGTH_ADVISE, 16, 0, NULL));
  ck_assert(!mig_wire_length_ok(MIG_LENGTH_ADVISE, 16, 8, NULL));
  ck_assert(mig_wire_length_ok(MIG_LENGTH_COUNTED, 0, 4, counted));
  ck_assert(!mig_wire_length_ok(MIG_LENGTH_COUNTED, 0, 5, counted));
  ck_assert(!mig_wire_length_ok(MIG_LENGTH_COUNTED, 0, 0, counted));
  ck_assert_str_eq(mig_wire_command_name(MIG_CMD_RECV_BITMAP), "RECV_BITMAP");
  ck_assert_str_eq(mig_wire_rp_name(MIG_RP_SWITCHOVER_ACK), "SWITCHOVER_ACK");
  ck_assert_str_eq(mig_wire_section_name(0x7e), "FOOTER");
  ck_assert_str_eq(mig_wire_section_name(0x09), "?");
  ck_assert(mig_wire_capability_known_7_2((const uint8_t *)"postcopy-ram", 12));
  ck_assert(!mig_wire_capability_known_7_2((const uint8_t *)"switchover-ack", 14));
}
END_TEST

/* Goal: QEMU's subsection-loop rule, written once; method: each class at its edge, and the
   buffer and reader forms agreeing on every cut of each head. */
START_TEST(mig_record_subsection_peek_classes)
{
  static const uint8_t ours[] = {0x05, 7, 'v', 'i', 'r', 't', 'i', 'o', '/', 0, 0, 0x01, 0x03};
  static const uint8_t exact[] = {0x05, 6, 'v', 'i', 'r', 't', 'i', 'o'};   /* no room */
  static const uint8_t foreign[] = {0x05, 7, 'v', 'i', 'r', 't', 'u', 'o', '/', 0, 0, 0, 1};
  static const uint8_t nul[] = {0x05, 9, 'v', 'i', 'r', 't', 'i', 'o', '/', 0, 'x', 0, 0, 0, 2};
  static const uint8_t other[] = {0x7e, 0, 0, 0, 1};
  struct mig_subsection_head head;
  ck_assert_int_eq(mig_subsection_peek(ours, sizeof ours, "virtio", &head), MIG_SUBSECTION_OURS);
  ck_assert_str_eq(head.name, "virtio/");
  ck_assert_uint_eq(head.name_bytes, 7);
  ck_assert_uint_eq(head.version_at, 9);
  ck_assert(head.version_whole);
  ck_assert_uint_eq(head.version, 3);  /* be32 0x00000103: QEMU keeps the low byte */
  ck_assert_int_eq(mig_subsection_peek(ours, 12, "virtio", &head), MIG_SUBSECTION_OURS);
  ck_assert(!head.version_whole);
  ck_assert_int_eq(mig_subsection_peek(exact, sizeof exact, "virtio", &head),
                   MIG_SUBSECTION_FOREIGN);
  ck_assert_int_eq(mig_subsection_peek(foreign, sizeof foreign, "virtio", &head),
                   MIG_SUBSECTION_FOREIGN);
  ck_assert_int_eq(mig_subsection_peek(nul, sizeof nul, "virtio", &head), MIG_SUBSECTION_OURS);
  ck_assert_str_eq(head.name, "virtio/");  /* a NUL inside cuts the C string */
  ck_assert_uint_eq(head.name_bytes, 9);
  ck_assert_int_eq(mig_subsection_peek(other, sizeof other, "virtio", &head),
                   MIG_SUBSECTION_NONE);
  ck_assert_int_eq(mig_subsection_peek(ours, 0, "virtio", &head), MIG_SUBSECTION_NONE);
  ck_assert_int_eq(mig_subsection_peek(ours, 1, "virtio", &head), MIG_SUBSECTION_CUT);
  ck_assert(head.prefix_agrees);
  ck_assert_int_eq(mig_subsection_peek(ours, 5, "virtio", &head), MIG_SUBSECTION_CUT);
  ck_assert(head.prefix_agrees);
  ck_assert_int_eq(mig_subsection_peek(foreign, 8, "virtio", &head), MIG_SUBSECTION_CUT);
  ck_assert(!head.prefix_agrees);  /* 'u' already says it is not virtio's */
  const uint8_t *heads[] = {ours, exact, foreign, nul, other};
  size_t sizes[] = {sizeof ours, sizeof exact, sizeof foreign, sizeof nul, sizeof other};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(heads); i++) {
    for (size_t cut = 0; cut <= sizes[i]; cut++) {
      struct mig_subsection_head from_bytes, from_reader;
      enum mig_subsection_peek expect = mig_subsection_peek(heads[i], cut, "virtio", &from_bytes);
      struct mig_reader reader;
      mig_reader_init_memory(&reader, heads[i], cut);
      ck_assert_int_eq(mig_subsection_peek_reader(&reader, "virtio", &from_reader), expect);
      ck_assert_uint_eq(mig_reader_offset(&reader), 0);
      ck_assert_int_eq(reader.error.code, MIG_OK);
      if (expect == MIG_SUBSECTION_OURS) ck_assert_str_eq(from_reader.name, from_bytes.name);
      if (expect == MIG_SUBSECTION_CUT) {
        ck_assert_int_eq(from_reader.prefix_agrees, from_bytes.prefix_agrees);
      }
    }
  }
}
END_TEST

Suite *mig_record_suite(void)
{
  Suite *suite = suite_create("mig_record");
  TCase *core = tcase_create("core");
  tcase_set_timeout(core, 120);
  tcase_add_test(core, mig_record_round_trip_is_byte_identical);
  tcase_add_test(core, mig_record_refill_mode_matches_memory_mode);
  tcase_add_test(core, mig_record_every_cut_is_refused);
  tcase_add_test(core, mig_wire_length_rules);
  tcase_add_test(core, mig_record_trailer_scan_and_find);
  tcase_add_test(core, mig_record_trailer_scan_keeps_nearest);
  tcase_add_test(core, mig_record_policy_refuses_by_name);
  tcase_add_test(core, mig_record_peek_type_top_level_only);
  tcase_add_test(core, mig_record_subsection_peek_classes);
  suite_add_tcase(suite, core);
  TCase *syntax = tcase_create("syntax");
  tcase_add_loop_test(syntax, mig_record_syntax_errors, 0, (int)SIM_ARRAY_COUNT(syntax_cases));
  suite_add_tcase(suite, syntax);
  return suite;
}
