/*
 * cli_inspect_test.c: the stream walker (migration/mig_inspect.c) against
 * the QEMU 7.2 corpus, a migsim-written stream, and hostile edits of it.
 *
 * The corpus lives outside the repository at ../shared/corpus/qemu-7.2
 * (tests run from the repository root).  libcheck has no "skipped" state, so
 * when the folder is absent the corpus test prints
 * "skipped: TEST: ../shared/corpus/qemu-7.2 not found" (SIM_CHECK_SKIP) and returns; the
 * line is the signal that the corpus was not exercised.
 */
#include "sim_base.h"

#include "cli_inspect.h"
#include "cli_input.h"
#include "cli_reencode.h"
#include "conform_run.h"
#include "conform_scenario.h"
#include "mig_format.h"
#include "mig_inspect.h"
#include "mig_ramapply.h"
#include "sim_check.h"

#include <dirent.h>
#include <jansson.h>
#include <lzma.h>
#include <unistd.h>
#include <zlib.h>

#define CORPUS_DIR "../shared/corpus/qemu-7.2"
#define CORPUS_SUFFIX ".mig.xz"

static const struct mig_inspect_block *find_block(const struct mig_inspect *inspect,
                                                  const char *name)
{
  for (uint32_t i = 0; i < inspect->block_count; i++) {
    if (strcmp(inspect->blocks[i].name, name) == 0) return &inspect->blocks[i];
  }
  return NULL;
}

static uint64_t count_of(const json_t *counts, const char *key)
{
  const json_t *value = json_object_get(counts, key);
  return json_is_integer(value) ? (uint64_t)json_integer_value(value) : 0;
}

/* Per-block page counts agree with the sidecar's analyze.ram_page_counts, both ways. */
static void check_page_counts(const char *name, const struct mig_inspect *inspect,
                              const json_t *expected)
{
  const char *block_name;
  const json_t *counts;
  json_object_foreach((json_t *)expected, block_name, counts) {
    const struct mig_inspect_block *block = find_block(inspect, block_name);
    ck_assert_msg(block != NULL, "%s: block %s not seen", name, block_name);
    ck_assert_msg(block->zero_pages == count_of(counts, "zero") &&
                  block->normal_pages == count_of(counts, "page") &&
                  block->xbzrle_pages == count_of(counts, "xbzrle") &&
                  block->compressed_pages == count_of(counts, "compressed"),
                  "%s: block %s counts zero %" PRIu64 " page %" PRIu64 " xbzrle %" PRIu64
                  " compressed %" PRIu64 " differ from the sidecar", name, block_name,
                  block->zero_pages, block->normal_pages, block->xbzrle_pages,
                  block->compressed_pages);
  }
  for (uint32_t i = 0; i < inspect->block_count; i++) {
    const struct mig_inspect_block *block = &inspect->blocks[i];
    uint64_t pages = block->zero_pages + block->normal_pages + block->xbzrle_pages +
                     block->compressed_pages;
    ck_assert_msg(pages == 0 || json_object_get(expected, block->name) != NULL,
                  "%s: block %s has pages the sidecar does not list", name, block->name);
  }
}

static void check_stream_facts(const char *name, const struct mig_inspect *inspect,
                               const json_t *facts)
{
  ck_assert_uint_eq(inspect->eof_offset,
                    (uint64_t)json_integer_value(json_object_get(facts, "eof_marker_offset")));
  /* vmdesc_offset is the 0x06 byte; the JSON text starts 5 bytes later. */
  ck_assert_uint_eq(inspect->trailer_offset - 5,
                    (uint64_t)json_integer_value(json_object_get(facts, "vmdesc_offset")));
  ck_assert_uint_eq(inspect->trailer_bytes,
                    (uint64_t)json_integer_value(json_object_get(facts, "vmdesc_json_len")));
  const char *machine = json_string_value(json_object_get(facts, "configuration_machine"));
  if (machine != NULL) ck_assert_str_eq(inspect->machine, machine);
  const json_t *devices = json_object_get(facts, "vmdesc_devices");
  if (json_array_size(devices) > 0) {
    ck_assert_msg(inspect->device_count == json_array_size(devices),
                  "%s: %" PRIu32 " devices, sidecar lists %zu", name, inspect->device_count,
                  json_array_size(devices));
  }
}

/*
 * The same stream cut after its EOF byte (no JSON trailer): FULL sections are
 * sized by the footer heuristic and must come out as the trailer sized them;
 * a stream without footers cannot be sized and is rejected.
 */
static void check_trailerless(const char *name, const struct mig_membuf *input,
                              const struct mig_inspect *sized)
{
  struct mig_inspect cut;
  struct mig_error error;
  char message[512];
  enum mig_err code = mig_inspect_stream(input->bytes, sized->eof_offset + 1, &cut, &error);
  mig_error_format(&error, message, sizeof message);
  if (!sized->footers_seen) {
    ck_assert_msg(code == MIG_ERR_VMDESC, "%s without trailer: %s", name, message);
    mig_inspect_deinit(&cut);
    return;
  }
  ck_assert_msg(code == MIG_OK, "%s without trailer: %s", name, message);
  ck_assert(!cut.has_trailer);
  ck_assert_uint_eq(cut.device_count, sized->device_count);
  for (uint32_t i = 0; i < cut.device_count; i++) {
    ck_assert_msg(cut.devices[i].bytes == sized->devices[i].bytes,
                  "%s without trailer: %s sized %" PRIu64 ", trailer says %" PRIu64, name,
                  cut.devices[i].idstr, cut.devices[i].bytes, sized->devices[i].bytes);
  }
  for (uint32_t i = 0; i < cut.block_count; i++) {
    ck_assert_uint_eq(cut.blocks[i].normal_pages, sized->blocks[i].normal_pages);
  }
  mig_inspect_deinit(&cut);
}

/*
 * The RAM block that holds guest-physical RAM: the one the analysis script
 * named, else the memory backend given on the command line, else the board's
 * default (corpus README).
 */
static void main_ram_block(const json_t *sidecar, char *block, size_t block_bytes)
{
  const char *named = json_string_value(json_object_get(json_object_get(json_object_get(
      json_object_get(sidecar, "analyze"), "extract"), "main_ram_ranges"), "block"));
  const char *machine = json_string_value(json_object_get(sidecar, "machine"));
  snprintf(block, block_bytes, "%s", named != NULL ? named
                                     : machine != NULL && strcmp(machine, "microvm") == 0
                                         ? "microvm.ram" : "pc.ram");
  if (named != NULL) return;
  size_t index;
  const json_t *arg;
  json_array_foreach(json_object_get(sidecar, "argv_destination"), index, arg) {
    const char *text = json_string_value(arg);
    const char *key = text == NULL ? NULL : strstr(text, "memory-backend=");
    if (key == NULL && text != NULL) key = strstr(text, "memdev=");
    if (key == NULL) continue;
    const char *value = strchr(key, '=') + 1;
    snprintf(block, block_bytes, "%.*s", (int)strcspn(value, ","), value);
  }
}

/*
 * Every guest_ram_sha256 range of the sidecar, recomputed from the stream.
 * Returns the number of ranges compared; x-ignore-shared blocks are not in
 * the stream and must be refused with that reason (counted in *skipped).
 */
static uint32_t check_ram_sha256(const char *name, const struct mig_inspect *inspect,
                                 const struct mig_ramapply *apply, const json_t *sidecar,
                                 uint32_t *skipped)
{
  const json_t *expected = json_object_get(json_object_get(sidecar, "roundtrip_load"),
                                           "guest_ram_sha256");
  char block[MIG_IDSTR_BYTES_MAX + 1];
  main_ram_block(sidecar, block, sizeof block);
  uint32_t compared = 0;
  const char *range;
  const json_t *hash;
  json_object_foreach((json_t *)expected, range, hash) {
    char spec[512], parsed_block[MIG_IDSTR_BYTES_MAX + 1], hex[65], message[512];
    uint64_t start = 0, end = 0;
    snprintf(spec, sizeof spec, "%s:%s", block, range);
    ck_assert_msg(cli_inspect_parse_range(spec, parsed_block, sizeof parsed_block, &start,
                                          &end), "%s: range %s", name, spec);
    bool ok = cli_inspect_ram_sha256(inspect, apply, parsed_block, start, end, hex, message,
                                     sizeof message);
    if (inspect->x_ignore_shared && !ok && strstr(message, "x-ignore-shared") != NULL) {
      fprintf(stderr, "not in the stream (expected): %s %s: %s\n", name, spec, message);
      (*skipped)++;
      continue;
    }
    ck_assert_msg(ok, "%s: %s", name, message);
    ck_assert_msg(strcmp(hex, json_string_value(hash)) == 0, "%s: %s sha256 %s, sidecar %s",
                  name, spec, hex, json_string_value(hash));
    compared++;
  }
  return compared;
}

/* Page-by-page equality of two applied RAM images over every block (never-written = zeros). */
static void check_same_ram(const char *name, const struct mig_inspect *inspect,
                           const struct mig_ramapply *a, const struct mig_ramapply *b)
{
  static const uint8_t zeros[MIG_PAGE_BYTES];
  ck_assert_uint_eq(a->block_count, b->block_count);
  for (uint32_t block = 0; block < a->block_count; block++) {
    uint64_t pages = (inspect->blocks[block].used_bytes + MIG_PAGE_BYTES - 1) / MIG_PAGE_BYTES;
    for (uint64_t page = 0; page < pages; page++) {
      const uint8_t *left = mig_ramapply_page(a, block, page);
      const uint8_t *right = mig_ramapply_page(b, block, page);
      ck_assert_msg(memcmp(left != NULL ? left : zeros, right != NULL ? right : zeros,
                           MIG_PAGE_BYTES) == 0, "%s: rechunked RAM differs in %s page 0x%" PRIx64,
                    name, inspect->blocks[block].name, page);
    }
  }
}

/*
 * Round trip: re-encoding gives the input byte for byte; --rechunk gives a
 * different stream that validates with the same page counts and the same RAM
 * (applied densely, compared page by page with the sparse original).
 */
static void check_reencode(const char *name, const struct mig_membuf *input,
                           const struct mig_inspect *inspect, const struct mig_ramapply *apply)
{
  struct mig_membuf output;
  struct mig_error error;
  char message[512];
  struct mig_reencode_options same = {0}, rechunk = {.rechunk_records = 97};
  ck_assert_int_eq(cli_reencode_bytes(input->bytes, input->count, &same, &output, NULL,
                                      &error), MIG_OK);
  ck_assert_msg(output.count == input->count &&
                memcmp(output.bytes, input->bytes, input->count) == 0,
                "%s: re-encoded stream differs (%zu bytes, input %zu)", name, output.count,
                input->count);
  mig_membuf_deinit(&output);
  uint64_t added = 0;
  ck_assert_int_eq(cli_reencode_bytes(input->bytes, input->count, &rechunk, &output, &added,
                                      &error), MIG_OK);
  ck_assert_uint_gt(added, 0);
  ck_assert_uint_eq(output.count, input->count + added * (8 + (inspect->footers_seen ? 10 : 5)));
  static struct mig_ramapply again;
  mig_ramapply_init(&again, true);  /* dense here, sparse for the original: both modes agree */
  struct mig_inspect_visitor visitor = {.visit = mig_ramapply_visit, .context = &again};
  struct mig_inspect walked;
  enum mig_err code = mig_inspect_walk(output.bytes, output.count, &walked, &visitor, &error);
  mig_error_format(&error, message, sizeof message);
  ck_assert_msg(code == MIG_OK, "%s rechunked: %s", name, message);
  ck_assert_uint_eq(walked.records[MIG_SECTION_PART] + walked.records[MIG_SECTION_END],
                    inspect->records[MIG_SECTION_PART] + inspect->records[MIG_SECTION_END] +
                    added);
  for (uint32_t b = 0; b < inspect->block_count; b++) {
    ck_assert_uint_eq(walked.blocks[b].zero_pages, inspect->blocks[b].zero_pages);
    ck_assert_uint_eq(walked.blocks[b].normal_pages, inspect->blocks[b].normal_pages);
    ck_assert_uint_eq(walked.blocks[b].xbzrle_pages, inspect->blocks[b].xbzrle_pages);
    ck_assert_uint_eq(walked.blocks[b].compressed_pages, inspect->blocks[b].compressed_pages);
  }
  check_same_ram(name, inspect, apply, &again);
  mig_ramapply_deinit(&again);
  mig_inspect_deinit(&walked);
  mig_membuf_deinit(&output);
}

struct corpus_totals {
  uint32_t streams;
  uint32_t valid;
  uint32_t ranges;                    /* guest_ram_sha256 ranges equal to the sidecar */
  uint32_t ranges_skipped;            /* x-ignore-shared blocks */
};

/* The inspect summary as text, to compare two walks of one stream. */
static char *summary_text(const struct mig_inspect *inspect)
{
  char *text = NULL;
  size_t bytes = 0;
  FILE *out = open_memstream(&text, &bytes);
  ck_assert_ptr_nonnull(out);
  cli_inspect_print_summary(out, inspect);
  fclose(out);
  return text;
}

/*
 * The stream walked as `migsim inspect` walks it: streamed from its xz file
 * (decoded as the walker asks, cli_input.h) with RAM kept only in the
 * sidecar's ranges (mig_ramapply_keep); the summary and every sha256 equal
 * those of the in-memory walk with all RAM applied.
 */
static void check_streamed(const char *path, const char *name, const struct mig_inspect *memory,
                           const json_t *sidecar)
{
  static struct cli_input input;
  char message[512];
  ck_assert_msg(cli_input_open(&input, path, message, sizeof message), "%s", message);
  ck_assert(!input.mapped);
  static struct mig_ramapply apply;
  mig_ramapply_init(&apply, false);
  char block[MIG_IDSTR_BYTES_MAX + 1];
  main_ram_block(sidecar, block, sizeof block);
  const char *range;
  const json_t *hash;
  json_object_foreach(json_object_get(json_object_get(sidecar, "roundtrip_load"),
                                      "guest_ram_sha256"), range, hash) {
    char spec[512], parsed[MIG_IDSTR_BYTES_MAX + 1];
    uint64_t start = 0, end = 0;
    snprintf(spec, sizeof spec, "%s:%s", block, range);
    ck_assert(cli_inspect_parse_range(spec, parsed, sizeof parsed, &start, &end));
    mig_ramapply_keep(&apply, parsed, start, end);
  }
  struct mig_inspect_visitor visitor = {.visit = mig_ramapply_visit, .context = &apply};
  struct mig_inspect streamed;
  struct mig_error error;
  enum mig_err code = mig_inspect_walk_reader(&input.reader, &streamed, NULL, &visitor, &error);
  mig_error_format(&error, message, sizeof message);
  ck_assert_msg(code == MIG_OK && !input.failed, "%s streamed: %s", name, message);
  char *left = summary_text(memory), *right = summary_text(&streamed);
  ck_assert_msg(strcmp(left, right) == 0, "%s: the streamed summary differs", name);
  free(left);
  free(right);
  uint32_t skipped = 0;
  (void)check_ram_sha256(name, &streamed, &apply, sidecar, &skipped);
  mig_ramapply_deinit(&apply);
  mig_inspect_deinit(&streamed);
  cli_input_close(&input);
}

/* Returns true when the stream validated (and was checked against its sidecar). */
static bool check_corpus_entry(const char *file_name, struct corpus_totals *totals)
{
  char path[512], sidecar_path[512];
  size_t stem = strlen(file_name) - strlen(CORPUS_SUFFIX);
  snprintf(path, sizeof path, "%s/%s", CORPUS_DIR, file_name);
  snprintf(sidecar_path, sizeof sidecar_path, "%s/%.*s.json", CORPUS_DIR, (int)stem, file_name);
  char message[512];
  struct mig_membuf input;
  ck_assert_msg(cli_inspect_read(path, &input, message, sizeof message), "%s", message);
  json_error_t json_error;
  json_t *sidecar = json_load_file(sidecar_path, 0, &json_error);
  ck_assert_msg(sidecar != NULL, "%s: %s", sidecar_path, json_error.text);
  ck_assert_uint_eq(input.count, (uint64_t)json_integer_value(
                                     json_object_get(json_object_get(sidecar, "stream"), "size")));
  struct mig_inspect inspect;
  struct mig_error error;
  static struct mig_ramapply apply;
  mig_ramapply_init(&apply, false);
  struct mig_inspect_visitor visitor = {.visit = mig_ramapply_visit, .context = &apply};
  enum mig_err code = mig_inspect_walk(input.bytes, input.count, &inspect, &visitor, &error);
  mig_error_format(&error, message, sizeof message);
  ck_assert_msg(code == MIG_OK, "%s: %s", file_name, message);
  totals->ranges += check_ram_sha256(file_name, &inspect, &apply, sidecar,
                                     &totals->ranges_skipped);
  check_reencode(file_name, &input, &inspect, &apply);
  mig_ramapply_deinit(&apply);
  check_streamed(path, file_name, &inspect, sidecar);
  /* Reference mode (a mapped input): pages point into the stream, XBZRLE copies on write. */
  mig_ramapply_init(&apply, false);
  mig_ramapply_reference(&apply);
  struct mig_inspect again;
  ck_assert_int_eq(mig_inspect_walk(input.bytes, input.count, &again, &visitor, &error), MIG_OK);
  uint32_t skipped = 0;
  ck_assert_uint_eq(check_ram_sha256(file_name, &again, &apply, sidecar, &skipped),
                    2 - skipped);
  mig_ramapply_deinit(&apply);
  mig_inspect_deinit(&again);
  check_stream_facts(file_name, &inspect, json_object_get(sidecar, "stream_facts"));
  const json_t *counts = json_object_get(json_object_get(sidecar, "analyze"), "ram_page_counts");
  if (json_object_size(counts) > 0) check_page_counts(file_name, &inspect, counts);
  check_trailerless(file_name, &input, &inspect);
  if (strstr(file_name, "dirty-bitmaps") != NULL) {
    ck_assert_uint_eq(inspect.live_count, 2);
    ck_assert_str_eq(inspect.lives[1].idstr, "dirty-bitmap");
    ck_assert_uint_gt(inspect.bitmap_chunks, 2);
  }
  json_decref(sidecar);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&input);
  return code == MIG_OK;
}

START_TEST(cli_inspect_corpus_streams_match_sidecars)
{
  DIR *dir = opendir(CORPUS_DIR);
  if (dir == NULL) {
    SIM_CHECK_SKIP("%s not found", CORPUS_DIR);
    return;
  }
  struct corpus_totals totals = {0};
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    size_t length = strlen(entry->d_name);
    if (length <= strlen(CORPUS_SUFFIX) ||
        strcmp(entry->d_name + length - strlen(CORPUS_SUFFIX), CORPUS_SUFFIX) != 0) {
      continue;
    }
    totals.streams++;
    if (check_corpus_entry(entry->d_name, &totals)) totals.valid++;
  }
  closedir(dir);
  ck_assert_msg(totals.streams > 0, "no %s files in %s", CORPUS_SUFFIX, CORPUS_DIR);
  ck_assert_uint_eq(totals.valid, totals.streams);
  ck_assert_uint_eq(totals.streams, 16);
  /* 16 streams x 2 ranges; the x-ignore-shared stream's 2 ranges live in its backend file. */
  ck_assert_uint_eq(totals.ranges, 30);
  ck_assert_uint_eq(totals.ranges_skipped, 2);
}
END_TEST

/* The default scenario's migration stream, captured through conform_check. */
static void capture_default(struct mig_membuf *capture)
{
  char error[CONFORM_ERROR_BYTES];
  ck_assert_msg(conform_capture_default(capture, error, sizeof error), "%s", error);
}

static enum mig_err inspect_bytes(const struct mig_membuf *stream, struct mig_inspect *inspect,
                                  struct mig_error *error)
{
  return mig_inspect_stream(stream->bytes, stream->count, inspect, error);
}

/*
 * Goal: a migsim stream cut anywhere is refused with an offset inside the cut
 * and a non-empty path (the sink reports a cancelled QEMU source this way), or
 * is accepted only as a stream without a trailer; method: every cut in the
 * first 2 KiB, then 1000 cuts spread over the rest.
 */
START_TEST(cli_inspect_every_cut_names_a_path)
{
  struct mig_membuf capture;
  capture_default(&capture);
  uint32_t cuts = 0, refused = 0;
  for (uint64_t i = 1; i < 2048 + 1000; i++) {
    uint64_t n = i < 2048 ? i : 2048 + (i - 2048) * (capture.count - 2048) / 1000;
    if (n >= capture.count) break;
    struct mig_inspect inspect;
    struct mig_error error;
    char message[512];
    enum mig_err code = mig_inspect_stream(capture.bytes, n, &inspect, &error);
    mig_error_format(&error, message, sizeof message);
    cuts++;
    if (code == MIG_OK) {
      ck_assert_msg(!inspect.has_trailer, "cut at %" PRIu64 " accepted with a trailer", n);
    } else {
      refused++;
      ck_assert_msg(error.path[0] != 0, "cut at %" PRIu64 ": no path: %s", n, message);
      ck_assert_msg(error.offset <= n, "cut at %" PRIu64 ": offset past the cut: %s", n, message);
    }
    mig_inspect_deinit(&inspect);
  }
  ck_assert_uint_gt(refused, cuts * 9 / 10);
  mig_membuf_deinit(&capture);
}
END_TEST

START_TEST(cli_inspect_migsim_stream_validates)
{
  struct mig_membuf capture;
  capture_default(&capture);
  struct mig_inspect inspect;
  struct mig_error error;
  char message[512];
  enum mig_err code = inspect_bytes(&capture, &inspect, &error);
  mig_error_format(&error, message, sizeof message);
  ck_assert_msg(code == MIG_OK, "%s", message);
  ck_assert(inspect.has_configuration);
  ck_assert(inspect.footers_seen);
  ck_assert_uint_eq(inspect.records[MIG_SECTION_START], 1);
  ck_assert_uint_eq(inspect.records[MIG_SECTION_END], 1);
  ck_assert_uint_gt(inspect.device_count, 0);
  ck_assert_uint_gt(inspect.block_count, 0);
  ck_assert_uint_eq(inspect.trailer_offset + inspect.trailer_bytes, capture.count);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&capture);
}
END_TEST

START_TEST(cli_inspect_rejects_bad_trailer_length)
{
  struct mig_membuf capture;
  capture_default(&capture);
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(inspect_bytes(&capture, &inspect, &error), MIG_OK);
  uint64_t length_at = inspect.trailer_offset - 4;
  mig_inspect_deinit(&inspect);
  capture.bytes[length_at + 3] ^= 0x01;  /* length no longer runs to the end */
  ck_assert_int_eq(inspect_bytes(&capture, &inspect, &error), MIG_ERR_VMDESC);
  ck_assert_uint_eq(error.offset, capture.count);
  ck_assert_str_eq(error.path, "vmdesc");
  mig_inspect_deinit(&inspect);
  capture.bytes[length_at + 3] ^= 0x01;
  capture.count -= 7;                     /* the trailer is cut short */
  ck_assert_int_eq(inspect_bytes(&capture, &inspect, &error), MIG_ERR_VMDESC);
  ck_assert_uint_eq(error.offset, capture.count);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&capture);
}
END_TEST

START_TEST(cli_inspect_rejects_bad_footer)
{
  struct mig_membuf capture;
  capture_default(&capture);
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(inspect_bytes(&capture, &inspect, &error), MIG_OK);
  const struct mig_inspect_device *device = &inspect.devices[0];
  uint64_t footer_at = device->offset + 1 + 4 + 1 + strlen(device->idstr) + 4 + 4 + device->bytes;
  char idstr[MIG_IDSTR_BYTES_MAX + 1];
  snprintf(idstr, sizeof idstr, "%s", device->idstr);
  mig_inspect_deinit(&inspect);
  ck_assert_uint_eq(capture.bytes[footer_at], MIG_SECTION_FOOTER);
  capture.bytes[footer_at + 4] ^= 0x40;   /* section id mismatch */
  ck_assert_int_eq(inspect_bytes(&capture, &inspect, &error), MIG_ERR_FOOTER);
  ck_assert_uint_eq(error.offset, footer_at);
  char path[MIG_IDSTR_BYTES_MAX + 16];
  snprintf(path, sizeof path, "%s/footer", idstr);
  ck_assert_str_eq(error.path, path);
  mig_inspect_deinit(&inspect);
  capture.bytes[footer_at + 4] ^= 0x40;
  capture.bytes[footer_at] = 0x7d;        /* marker missing */
  ck_assert_int_eq(inspect_bytes(&capture, &inspect, &error), MIG_ERR_FOOTER);
  ck_assert_uint_eq(error.offset, footer_at);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&capture);
}
END_TEST

/* Offset of the RAM START section's first record (the MEM_SIZE be64). */
static uint64_t find_ram_setup(const struct mig_membuf *stream)
{
  static const uint8_t tail[] = {3, 'r', 'a', 'm', 0, 0, 0, 0, 0, 0, 0, MIG_RAM_SECTION_VERSION};
  for (size_t at = 8; at + 5 + sizeof tail < stream->count; at++) {
    if (stream->bytes[at] == MIG_SECTION_START &&
        memcmp(stream->bytes + at + 5, tail, sizeof tail) == 0) {
      return at + 5 + sizeof tail;
    }
  }
  ck_abort_msg("no RAM START section");
  return 0;
}

START_TEST(cli_inspect_rejects_unknown_ram_flag)
{
  struct mig_membuf capture;
  capture_default(&capture);
  uint64_t record_at = find_ram_setup(&capture);
  ck_assert_uint_eq(capture.bytes[record_at + 7] & 0xff, MIG_RAM_FLAG_MEM_SIZE);
  capture.bytes[record_at + 6] |= 0x04;  /* flag 0x400 is not a 7.2 RAM flag */
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(inspect_bytes(&capture, &inspect, &error), MIG_ERR_RAM_FLAGS);
  ck_assert_uint_eq(error.offset, record_at);
  ck_assert_str_eq(error.path, "ram/flags");  /* the record layer's path, as the loader's */
  mig_inspect_deinit(&inspect);
  capture.bytes[record_at + 6] &= (uint8_t)~0x04;
  capture.bytes[record_at + 7] |= MIG_RAM_FLAG_ZERO;  /* MEM_SIZE|ZERO: two kinds at once */
  ck_assert_int_eq(inspect_bytes(&capture, &inspect, &error), MIG_ERR_RAM_FLAGS);
  ck_assert_uint_eq(error.offset, record_at);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&capture);
}
END_TEST

/* Inserts `08 be16 code be16 length` + length zero bytes before the RAM START section. */
static uint64_t insert_command(struct mig_membuf *stream, uint16_t code, uint16_t length)
{
  uint64_t at = find_ram_setup(stream) - 17;
  uint8_t record[5 + 16] = {MIG_SECTION_COMMAND, (uint8_t)(code >> 8), (uint8_t)code,
                            (uint8_t)(length >> 8), (uint8_t)length};
  ck_assert_uint_le(length, 16);
  struct mig_membuf edited;
  mig_membuf_init(&edited, stream->count + sizeof record);
  ck_assert_int_eq(mig_membuf_write(&edited, stream->bytes, at), MIG_OK);
  ck_assert_int_eq(mig_membuf_write(&edited, record, 5 + (size_t)length), MIG_OK);
  ck_assert_int_eq(mig_membuf_write(&edited, stream->bytes + at, stream->count - at), MIG_OK);
  mig_membuf_deinit(stream);
  *stream = edited;
  return at;
}

START_TEST(cli_inspect_checks_command_codes_and_lengths)
{
  /*
   * Paths are the record layer's (the loader's): "command/code" for an
   * unknown code, "command/<NAME>" for a bad fixed length; the walker printed
   * "command" for all of them before the layer existed.
   */
  static const struct {
    uint16_t code, length;
    enum mig_err expected;
    const char *path;
  } cases[] = {
      /* ADVISE with a body: cli_inspect_advise_and_recv_bitmap_bodies (zeros are refused). */
      /* PING alone has no return path before it: QEMU 7.2 refuses it too. */
      {1, 0, MIG_OK, ""}, {2, 4, MIG_ERR_BAD_COMMAND, "command/PING"}, {3, 0, MIG_OK, ""},
      {0, 0, MIG_ERR_BAD_COMMAND, "command/code"}, {11, 0, MIG_ERR_BAD_COMMAND, "command/code"},
      {2, 3, MIG_ERR_BAD_COMMAND, "command/PING"},
      {3, 8, MIG_ERR_BAD_COMMAND, "command/POSTCOPY_ADVISE"},
      {7, 4, MIG_ERR_BAD_COMMAND, "command/PACKAGED"}};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(cases); i++) {
    struct mig_membuf capture;
    capture_default(&capture);
    uint64_t at = insert_command(&capture, cases[i].code, cases[i].length);
    struct mig_inspect inspect;
    struct mig_error error;
    enum mig_err code = inspect_bytes(&capture, &inspect, &error);
    ck_assert_msg(code == cases[i].expected, "command %u length %u: %s", cases[i].code,
                  cases[i].length, mig_err_name(code));
    if (code == MIG_OK) {
      ck_assert_uint_eq(inspect.commands[cases[i].code], 1);
    } else {
      ck_assert_uint_eq(error.offset, at);
      ck_assert_str_eq(error.path, cases[i].path);
    }
    mig_inspect_deinit(&inspect);
    mig_membuf_deinit(&capture);
  }
}
END_TEST

/* Appends be64 value at bytes[*at]. */
static void put_be64(uint8_t *bytes, size_t *at, uint64_t value)
{
  for (int i = 0; i < 8; i++) bytes[(*at)++] = (uint8_t)(value >> (56 - 8 * i));
}

START_TEST(cli_inspect_discard_ranges_checked_first)
{
  /*
   * Goal: POSTCOPY_RAM_DISCARD is validated before it is accepted (spec §11.3
   * item 8).  Method: insert a DISCARD for the stream's first block before
   * EOF, one malformation per case; assert code, offset and path.
   */
  struct mig_membuf capture;
  capture_default(&capture);
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(inspect_bytes(&capture, &inspect, &error), MIG_OK);
  ck_assert_uint_gt(inspect.block_count, 0);
  char name[MIG_IDSTR_BYTES_MAX + 1];
  snprintf(name, sizeof name, "%s", inspect.blocks[0].name);
  uint64_t used = inspect.blocks[0].used_bytes;
  uint64_t eof_at = inspect.eof_offset;
  mig_inspect_deinit(&inspect);
  ck_assert_uint_ge(used, 4 * MIG_PAGE_BYTES);
  size_t name_bytes = strlen(name);
  enum { GOOD, VERSION, LENGTH, TERMINATOR, BLOCK, ALIGN, EMPTY, WRAP, BEYOND, CASES };
  for (int c = 0; c < CASES; c++) {
    uint8_t record[5 + 3 + MIG_IDSTR_BYTES_MAX + 2 * 16 + 1];
    size_t at = 5;
    record[at++] = c == VERSION ? 1 : 0;
    record[at++] = (uint8_t)name_bytes;
    memcpy(record + at, name, name_bytes);
    if (c == BLOCK) record[at] ^= 0x20;     /* a name that differs in its first letter */
    at += name_bytes;
    record[at++] = c == TERMINATOR ? 0x2e : 0;
    size_t ranges_at = at;
    put_be64(record, &at, 0);               /* range 0 is always good */
    put_be64(record, &at, MIG_PAGE_BYTES);
    uint64_t start = MIG_PAGE_BYTES, bytes = MIG_PAGE_BYTES;
    if (c == ALIGN) start += 8;
    if (c == EMPTY) bytes = 0;
    if (c == WRAP) start = UINT64_MAX - MIG_PAGE_BYTES + 1, bytes = 2 * MIG_PAGE_BYTES;
    if (c == BEYOND) start = used - MIG_PAGE_BYTES, bytes = 2 * MIG_PAGE_BYTES;
    put_be64(record, &at, start);
    put_be64(record, &at, bytes);
    if (c == LENGTH) record[at++] = 0;      /* one byte too many for a range */
    size_t length = at - 5;
    record[0] = MIG_SECTION_COMMAND;
    record[1] = 0, record[2] = 6;
    record[3] = (uint8_t)(length >> 8), record[4] = (uint8_t)length;
    struct mig_membuf edited;
    /* DISCARD comes after POSTCOPY_ADVISE (the walker checks postcopy state order). */
    static const uint8_t advise[5] = {MIG_SECTION_COMMAND, 0, 3, 0, 0};
    mig_membuf_init(&edited, capture.count + sizeof advise + at);
    ck_assert_int_eq(mig_membuf_write(&edited, capture.bytes, (size_t)eof_at), MIG_OK);
    ck_assert_int_eq(mig_membuf_write(&edited, advise, sizeof advise), MIG_OK);
    ck_assert_int_eq(mig_membuf_write(&edited, record, at), MIG_OK);
    ck_assert_int_eq(mig_membuf_write(&edited, capture.bytes + eof_at,
                                      capture.count - (size_t)eof_at), MIG_OK);
    enum mig_err code = inspect_bytes(&edited, &inspect, &error);
    static const struct { enum mig_err code; const char *path; } expect[CASES] = {
      [GOOD] = {MIG_OK, ""},
      [VERSION] = {MIG_ERR_BAD_VALUE, "command/POSTCOPY_RAM_DISCARD/version"},
      [LENGTH] = {MIG_ERR_BAD_COMMAND, "command/POSTCOPY_RAM_DISCARD/length"},
      [TERMINATOR] = {MIG_ERR_BAD_VALUE, "command/POSTCOPY_RAM_DISCARD/terminator"},
      [BLOCK] = {MIG_ERR_RAM_BLOCK, "command/POSTCOPY_RAM_DISCARD/block"},
      [ALIGN] = {MIG_ERR_RAM_OFFSET, "command/POSTCOPY_RAM_DISCARD/ranges[1]"},
      [EMPTY] = {MIG_ERR_RAM_OFFSET, "command/POSTCOPY_RAM_DISCARD/ranges[1]"},
      [WRAP] = {MIG_ERR_RAM_OFFSET, "command/POSTCOPY_RAM_DISCARD/ranges[1]"},
      [BEYOND] = {MIG_ERR_RAM_OFFSET, "command/POSTCOPY_RAM_DISCARD/ranges[1]"},
    };
    char text[512];
    mig_error_format(&error, text, sizeof text);
    ck_assert_msg(code == expect[c].code, "case %d: %s", c, text);
    uint64_t cmd = eof_at + sizeof advise;
    uint64_t offsets[CASES] = {
      [VERSION] = cmd + 5, [LENGTH] = cmd + 3, [TERMINATOR] = cmd + 5 + 2 + name_bytes,
      [BLOCK] = cmd + 6, [ALIGN] = cmd + ranges_at + 16, [EMPTY] = cmd + ranges_at + 16,
      [WRAP] = cmd + ranges_at + 16, [BEYOND] = cmd + ranges_at + 16};
    if (c == GOOD) {
      ck_assert_uint_eq(inspect.commands[6], 1);
    } else {
      ck_assert_msg(strcmp(error.path, expect[c].path) == 0, "case %d: %s", c, text);
      ck_assert_msg(error.offset == offsets[c], "case %d: %s", c, text);
    }
    mig_inspect_deinit(&inspect);
    mig_membuf_deinit(&edited);
  }
  mig_membuf_deinit(&capture);
}
END_TEST

/* Reads one corpus stream by name; false, after SIM_CHECK_SKIP, when absent. */
static bool read_corpus_stream(const char *stem, struct mig_membuf *input)
{
  char path[512], message[512];
  snprintf(path, sizeof path, "%s/%s%s", CORPUS_DIR, stem, CORPUS_SUFFIX);
  if (cli_inspect_read(path, input, message, sizeof message)) return true;
  SIM_CHECK_SKIP("%s", message);
  mig_membuf_deinit(input);
  return false;
}

/* Visitor: remembers the payload offset of the "globalstate" FULL section. */
static enum mig_err find_globalstate(void *context, const struct mig_inspect_event *event,
                                     struct mig_error *error)
{
  (void)error;
  uint64_t *found = context;
  if (event->kind == MIG_INSPECT_DEVICE && strcmp(event->idstr, "globalstate") == 0) {
    ck_assert_uint_eq(event->payload_bytes, 104);   /* be32 size + runstate[100] (7.2) */
    *found = event->offset;
  }
  return MIG_OK;
}

START_TEST(cli_inspect_globalstate_runstate_checked)
{
  /*
   * Goal: the globalstate runstate must end with a NUL inside its 100-byte
   * buffer, name a known RunState and match its be32 size (spec §11.3 item
   * 20).  Method: find the section in a real QEMU 7.2 stream, patch it.
   */
  struct mig_membuf input;
  if (!read_corpus_stream("pc-i440fx-7.2_m32_running-seabios", &input)) return;
  char message[512];
  uint64_t at = 0;
  struct mig_inspect_visitor visitor = {.visit = find_globalstate, .context = &at};
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_walk(input.bytes, input.count, &inspect, &visitor, &error), MIG_OK);
  mig_inspect_deinit(&inspect);
  ck_assert_uint_gt(at, 0);
  uint8_t *state = input.bytes + at;
  ck_assert_str_eq((const char *)state + 4, "running");   /* sidecar: a running source */
  ck_assert_uint_eq(state[3], 8);
  uint8_t saved[104];
  memcpy(saved, state, sizeof saved);
  enum { PAUSED_OK, UNKNOWN, NO_NUL, SIZE, EMPTY, CASES };
  for (int c = 0; c < CASES; c++) {
    memcpy(state, saved, sizeof saved);
    if (c == PAUSED_OK) memcpy(state + 4, "paused", 7), state[3] = 7;
    if (c == UNKNOWN) state[4 + 6] = 'x';                 /* "runninx" */
    if (c == NO_NUL) memset(state + 4, 'r', 100);
    if (c == SIZE) state[3] = 9;
    if (c == EMPTY) state[4] = 0, state[3] = 1;
    enum mig_err code = mig_inspect_stream(input.bytes, input.count, &inspect, &error);
    mig_error_format(&error, message, sizeof message);
    if (c == PAUSED_OK) {
      ck_assert_msg(code == MIG_OK, "%s", message);
    } else {
      static const struct { uint64_t delta; const char *path; } expect[CASES] = {
        [UNKNOWN] = {4, "globalstate/runstate"}, [NO_NUL] = {103, "globalstate/runstate"},
        [SIZE] = {0, "globalstate/size"}, [EMPTY] = {4, "globalstate/runstate"}};
      ck_assert_msg(code == MIG_ERR_BAD_VALUE, "case %d: %s", c, message);
      ck_assert_msg(error.offset == at + expect[c].delta, "case %d: %s", c, message);
      ck_assert_str_eq(error.path, expect[c].path);
    }
    mig_inspect_deinit(&inspect);
  }
  mig_membuf_deinit(&input);
}
END_TEST

START_TEST(cli_inspect_advise_and_recv_bitmap_bodies)
{
  /*
   * Goal: POSTCOPY_ADVISE's target page size and RECV_BITMAP's length and
   * block are checked (spec §7, §11.2 postcopy).  Method: insert each command
   * before EOF; a good and a bad body of each.
   */
  struct mig_membuf capture;
  capture_default(&capture);
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(inspect_bytes(&capture, &inspect, &error), MIG_OK);
  char name[MIG_IDSTR_BYTES_MAX + 1];
  snprintf(name, sizeof name, "%s", inspect.blocks[0].name);
  uint64_t eof_at = inspect.eof_offset;
  mig_inspect_deinit(&inspect);
  size_t name_bytes = strlen(name);
  enum { ADVISE_OK, ADVISE_PAGE, BITMAP_OK, BITMAP_LENGTH, BITMAP_BLOCK, CASES };
  for (int c = 0; c < CASES; c++) {
    uint8_t record[5 + 1 + MIG_IDSTR_BYTES_MAX + 1] = {MIG_SECTION_COMMAND};
    size_t at = 5;
    if (c <= ADVISE_PAGE) {
      record[2] = 3;
      put_be64(record, &at, 0x1000);
      put_be64(record, &at, c == ADVISE_PAGE ? 0x10000 : 0x1000);
    } else {
      record[2] = 10;
      record[at++] = (uint8_t)name_bytes;
      memcpy(record + at, name, name_bytes);
      if (c == BITMAP_BLOCK) record[at] ^= 0x20;
      at += name_bytes;
      if (c == BITMAP_LENGTH) record[at++] = 0;
    }
    record[3] = (uint8_t)((at - 5) >> 8), record[4] = (uint8_t)(at - 5);
    struct mig_membuf edited;
    mig_membuf_init(&edited, capture.count + at);
    ck_assert_int_eq(mig_membuf_write(&edited, capture.bytes, (size_t)eof_at), MIG_OK);
    ck_assert_int_eq(mig_membuf_write(&edited, record, at), MIG_OK);
    ck_assert_int_eq(mig_membuf_write(&edited, capture.bytes + eof_at,
                                      capture.count - (size_t)eof_at), MIG_OK);
    enum mig_err code = inspect_bytes(&edited, &inspect, &error);
    static const struct { enum mig_err code; uint64_t delta; const char *path; } expect[CASES] = {
      [ADVISE_OK] = {MIG_OK, 0, ""},
      [ADVISE_PAGE] = {MIG_ERR_BAD_VALUE, 13, "command/POSTCOPY_ADVISE/target_page_size"},
      [BITMAP_OK] = {MIG_OK, 0, ""},
      [BITMAP_LENGTH] = {MIG_ERR_BAD_COMMAND, 3, "command/RECV_BITMAP/length"},
      [BITMAP_BLOCK] = {MIG_ERR_RAM_BLOCK, 5, "command/RECV_BITMAP/block"},
    };
    char text[512];
    mig_error_format(&error, text, sizeof text);
    ck_assert_msg(code == expect[c].code, "case %d: %s", c, text);
    if (code != MIG_OK) {
      ck_assert_msg(error.offset == eof_at + expect[c].delta, "case %d: %s", c, text);
      ck_assert_str_eq(error.path, expect[c].path);
    } else {
      ck_assert_uint_eq(inspect.commands[c == ADVISE_OK ? 3 : 10], 1);
    }
    mig_inspect_deinit(&inspect);
    mig_membuf_deinit(&edited);
  }
  mig_membuf_deinit(&capture);
}
END_TEST

START_TEST(cli_inspect_dirty_bitmap_rejects_bad_chunks)
{
  /* Goal: dirty-bitmap chunk errors name offset and path; method: edit the corpus START chunk. */
  struct mig_membuf input;
  if (!read_corpus_stream("pc-i440fx-7.2_m32_dirty-bitmaps", &input)) return;
  static const uint8_t name[] = "\x0c" "dirty-bitmap";
  uint64_t chunk = 0;
  for (size_t at = 0; at + sizeof name < input.count && chunk == 0; at++) {
    if (memcmp(input.bytes + at, name, sizeof name - 1) == 0) chunk = at + 13 + 8;
  }
  ck_assert_uint_gt(chunk, 0);
  ck_assert_uint_eq(input.bytes[chunk], 0x1c);  /* START | DEVICE_NAME | BITMAP_NAME */
  uint64_t node_bytes = input.bytes[chunk + 1], bitmap_bytes = input.bytes[chunk + 2 + node_bytes];
  uint64_t start_flags = chunk + 1 + 1 + node_bytes + 1 + bitmap_bytes + 4;
  struct mig_inspect inspect;
  struct mig_error error;
  input.bytes[start_flags] |= 0x08;             /* a reserved start flag */
  ck_assert_int_eq(mig_inspect_stream(input.bytes, input.count, &inspect, &error),
                   MIG_ERR_BAD_VALUE);
  ck_assert_uint_eq(error.offset, chunk);
  ck_assert_str_eq(error.path, "dirty-bitmap/start");
  mig_inspect_deinit(&inspect);
  input.bytes[start_flags] &= (uint8_t)~0x08;
  input.bytes[chunk] |= 0x80;                   /* two-byte flags: bits no 7.2 sender sets */
  ck_assert_int_eq(mig_inspect_stream(input.bytes, input.count, &inspect, &error),
                   MIG_ERR_BAD_VALUE);
  ck_assert_uint_eq(error.offset, chunk);
  ck_assert_str_eq(error.path, "dirty-bitmap/flags");
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&input);
}
END_TEST

START_TEST(cli_inspect_trailerless_heuristic_limit)
{
  /* Goal: show the documented limit of sizing FULL sections without a trailer; method: plant a
   * footer and a plausible PART header inside a device payload, with and without the trailer. */
  struct mig_membuf capture;
  capture_default(&capture);
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(inspect_bytes(&capture, &inspect, &error), MIG_OK);
  const struct mig_inspect_device *device = NULL;
  for (uint32_t i = 0; i < inspect.device_count && device == NULL; i++) {
    if (inspect.devices[i].bytes >= 12) device = &inspect.devices[i];
  }
  ck_assert_ptr_nonnull(device);
  uint64_t payload = device->offset + 1 + 4 + 1 + strlen(device->idstr) + 4 + 4;
  uint32_t id = device->section_id, ram_id = inspect.lives[0].section_id;
  uint64_t bytes = device->bytes, eof = inspect.eof_offset;
  mig_inspect_deinit(&inspect);
  uint8_t planted[10] = {MIG_SECTION_FOOTER, (uint8_t)(id >> 24), (uint8_t)(id >> 16),
                         (uint8_t)(id >> 8), (uint8_t)id, MIG_SECTION_PART,
                         (uint8_t)(ram_id >> 24), (uint8_t)(ram_id >> 16), (uint8_t)(ram_id >> 8),
                         (uint8_t)ram_id};
  memcpy(capture.bytes + payload, planted, sizeof planted);
  /* With the trailer the payload is opaque: the stream still validates. */
  ck_assert_int_eq(inspect_bytes(&capture, &inspect, &error), MIG_OK);
  bool sized = false;
  for (uint32_t i = 0; i < inspect.device_count; i++) {
    if (inspect.devices[i].section_id == id) sized = inspect.devices[i].bytes == bytes;
  }
  ck_assert(sized);
  mig_inspect_deinit(&inspect);
  /* Without it the section is cut at the planted footer: the walk goes wrong and says so. */
  enum mig_err code = mig_inspect_stream(capture.bytes, eof + 1, &inspect, &error);
  bool cut = false;
  for (uint32_t i = 0; i < inspect.device_count; i++) {
    if (inspect.devices[i].section_id == id) cut = inspect.devices[i].bytes == 0;
  }
  ck_assert(cut);
  ck_assert_int_ne(code, MIG_OK);
  ck_assert_uint_gt(error.offset, payload);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&capture);
}
END_TEST

START_TEST(cli_inspect_rejects_bad_magic_and_short_input)
{
  static const uint8_t junk[] = {'Q', 'E', 'V', 'X', 0, 0, 0, 3};
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_stream(junk, sizeof junk, &inspect, &error), MIG_ERR_BAD_MAGIC);
  ck_assert_uint_eq(error.offset, 0);
  ck_assert_str_eq(error.path, "header/magic");
  mig_inspect_deinit(&inspect);
  ck_assert_int_eq(mig_inspect_stream(junk, 3, &inspect, &error), MIG_ERR_TRUNCATED);
  mig_inspect_deinit(&inspect);
}
END_TEST

/*
 * Hand-built streams for RAM application: QEVM v3, configuration "pc", a RAM
 * START with one block "pc.ram" of used_bytes, one PART holding `records`
 * (raw bytes of page records), and EOF without a trailer (no FULL sections).
 */
struct built {
  struct mig_membuf stream;
  uint64_t part_offset;                  /* offset of the PART's first record */
};

static void build_stream(struct built *built, uint64_t used_bytes, const uint8_t *records,
                         size_t records_bytes)
{
  mig_membuf_init(&built->stream, (size_t)1 << 30);
  static uint8_t buffer[MIG_WRITER_BUFFER_BYTES];
  struct mig_writer writer;
  mig_writer_init(&writer, buffer, sizeof buffer, mig_membuf_write, &built->stream);
  mig_writer_be32(&writer, MIG_FILE_MAGIC);
  mig_writer_be32(&writer, MIG_FILE_VERSION);
  mig_writer_u8(&writer, MIG_SECTION_CONFIGURATION);
  mig_writer_be32(&writer, 2);
  mig_writer_bytes(&writer, "pc", 2);
  mig_writer_u8(&writer, MIG_SECTION_START);
  mig_writer_be32(&writer, 1);
  mig_writer_counted_string(&writer, "ram");
  mig_writer_be32(&writer, 0);
  mig_writer_be32(&writer, MIG_RAM_SECTION_VERSION);
  mig_writer_be64(&writer, used_bytes | MIG_RAM_FLAG_MEM_SIZE);
  mig_writer_counted_string(&writer, "pc.ram");
  mig_writer_be64(&writer, used_bytes);
  mig_writer_be64(&writer, MIG_RAM_FLAG_EOS);
  mig_writer_u8(&writer, MIG_SECTION_FOOTER);
  mig_writer_be32(&writer, 1);
  mig_writer_u8(&writer, MIG_SECTION_PART);
  mig_writer_be32(&writer, 1);
  built->part_offset = mig_writer_offset(&writer);
  mig_writer_bytes(&writer, records, records_bytes);
  mig_writer_be64(&writer, MIG_RAM_FLAG_EOS);
  mig_writer_u8(&writer, MIG_SECTION_FOOTER);
  mig_writer_be32(&writer, 1);
  mig_writer_u8(&writer, MIG_SECTION_EOF);
  ck_assert_int_eq(mig_writer_flush(&writer), MIG_OK);
}

/* Appends a page record header: be64 address|flags, then the block name unless CONTINUE. */
static size_t put_record(uint8_t *out, uint64_t address, uint32_t flags)
{
  uint64_t word = address | flags;
  for (int i = 0; i < 8; i++) out[i] = (uint8_t)(word >> (56 - 8 * i));
  if (flags & MIG_RAM_FLAG_CONTINUE) return 8;
  out[8] = 6;
  memcpy(out + 9, "pc.ram", 6);
  return 15;
}

/* A hand-built stream applied to a mig_ramapply, with the walk's result. */
struct applied {
  struct built built;
  struct mig_ramapply apply;
  struct mig_inspect inspect;
  struct mig_error error;                /* the walk's latched error */
};

/* Builds the stream of `records` (build_stream) and walks it into a fresh applied->apply. */
static enum mig_err apply_records(struct applied *applied, uint64_t used_bytes,
                                  const uint8_t *records, size_t records_bytes)
{
  build_stream(&applied->built, used_bytes, records, records_bytes);
  mig_ramapply_init(&applied->apply, false);
  struct mig_inspect_visitor visitor = {.visit = mig_ramapply_visit, .context = &applied->apply};
  return mig_inspect_walk(applied->built.stream.bytes, applied->built.stream.count,
                          &applied->inspect, &visitor, &applied->error);
}

static void applied_deinit(struct applied *applied)
{
  mig_ramapply_deinit(&applied->apply);
  mig_inspect_deinit(&applied->inspect);
  mig_membuf_deinit(&applied->built.stream);
}

/*
 * Goal: a streamed input is refused at its first bad byte without decoding
 * the rest (issue 9: a 153 KB xz file of 1 GB of zeros took 5.6 s and
 * 1.05 GB); method: xz files of 64 MiB of zeros, with and without a QEVM
 * header, written with liblzma; the refusal's offset and path, and how little
 * of the compressed input was read.
 */
START_TEST(cli_inspect_streamed_input_refused_early)
{
  size_t plain_bytes = (size_t)64 << 20;
  uint8_t *plain = calloc(1, plain_bytes);
  size_t packed_bytes = lzma_stream_buffer_bound(plain_bytes);
  uint8_t *packed = malloc(packed_bytes);
  ck_assert(plain != NULL && packed != NULL);
  for (int header = 0; header < 2; header++) {
    if (header) memcpy(plain, "QEVM\0\0\0\3", 8);
    size_t written = 0;
    ck_assert_int_eq(lzma_easy_buffer_encode(1, LZMA_CHECK_CRC64, NULL, plain, plain_bytes,
                                             packed, &written, packed_bytes), LZMA_OK);
    char path[] = "/tmp/migsim-zeros-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, packed, written), (ssize_t)written);
    close(fd);
    static struct cli_input input;
    char message[512];
    ck_assert_msg(cli_input_open(&input, path, message, sizeof message), "%s", message);
    struct mig_inspect inspect;
    struct mig_error error;
    ck_assert_int_ne(mig_inspect_walk_reader(&input.reader, &inspect, NULL, NULL, &error),
                     MIG_OK);
    ck_assert_uint_eq(error.offset, header ? 8 : 0);
    ck_assert_str_eq(error.path, header ? "eof" : "header/magic");
    /* One input chunk, decoded into one window: not the 64 MiB. */
    ck_assert_uint_le(input.in_total, CLI_INPUT_CHUNK_BYTES);
    mig_inspect_deinit(&inspect);
    cli_input_close(&input);
    unlink(path);
  }
  free(plain);
  free(packed);
}
END_TEST

START_TEST(cli_inspect_zero_stream_16g_materialises_nothing)
{
  /* Goal: 16 GiB of ZERO records apply without allocating pages; method: 4 Mi records. */
  uint64_t used = UINT64_C(16) << 30, pages = used / MIG_PAGE_BYTES;
  size_t bytes = 15 + 1 + (size_t)(pages - 1) * 9;
  uint8_t *records = malloc(bytes);
  ck_assert_ptr_nonnull(records);
  size_t at = put_record(records, 0, MIG_RAM_FLAG_ZERO);
  records[at++] = 0;
  for (uint64_t p = 1; p < pages; p++) {
    at += put_record(records + at, p * MIG_PAGE_BYTES, MIG_RAM_FLAG_ZERO | MIG_RAM_FLAG_CONTINUE);
    records[at++] = 0;
  }
  ck_assert_uint_eq(at, bytes);
  static struct applied applied;
  ck_assert_int_eq(apply_records(&applied, used, records, bytes), MIG_OK);
  free(records);
  ck_assert_uint_eq(applied.inspect.blocks[0].zero_pages, pages);
  ck_assert_uint_eq(mig_ramapply_pages_materialised(&applied.apply), 0);
  ck_assert_uint_eq(mig_ramapply_pages_applied(&applied.apply, 0), pages);
  char hex[65], message[256];
  ck_assert(cli_inspect_ram_sha256(&applied.inspect, &applied.apply, "pc.ram", 0, 4096, hex,
                                   message, sizeof message));
  /* sha256 of 4096 zero bytes */
  ck_assert_str_eq(hex, "ad7facb2586fc6e966c004d7d1d16b024f5805ff7cb47c7a85dabd8b48892ca7");
  applied_deinit(&applied);
}
END_TEST

/* PAGE of 0x11 at page 1, then an XBZRLE record with `encoded` on it. */
static size_t xbzrle_records(uint8_t *out, const uint8_t *encoded, uint16_t encoded_bytes)
{
  size_t at = put_record(out, MIG_PAGE_BYTES, MIG_RAM_FLAG_PAGE);
  memset(out + at, 0x11, MIG_PAGE_BYTES);
  at += MIG_PAGE_BYTES;
  at += put_record(out + at, MIG_PAGE_BYTES, MIG_RAM_FLAG_XBZRLE | MIG_RAM_FLAG_CONTINUE);
  out[at++] = 1;
  out[at++] = (uint8_t)(encoded_bytes >> 8);
  out[at++] = (uint8_t)encoded_bytes;
  memcpy(out + at, encoded, encoded_bytes);
  return at + encoded_bytes;
}

START_TEST(cli_inspect_xbzrle_applies_delta)
{
  /* Goal: XBZRLE edits the previous page; method: skip 0x80 bytes, write 2, skip 1, write 1. */
  static const uint8_t encoded[] = {0x80, 0x01, 0x02, 0xaa, 0xbb, 0x01, 0x01, 0xcc};
  static uint8_t records[2 * MIG_PAGE_BYTES];
  size_t bytes = xbzrle_records(records, encoded, sizeof encoded);
  static struct applied applied;
  ck_assert_int_eq(apply_records(&applied, 4 * MIG_PAGE_BYTES, records, bytes), MIG_OK);
  const uint8_t *page = mig_ramapply_page(&applied.apply, 0, 1);
  ck_assert_ptr_nonnull(page);
  ck_assert_uint_eq(page[0x7f], 0x11);
  ck_assert_uint_eq(page[0x80], 0xaa);
  ck_assert_uint_eq(page[0x81], 0xbb);
  ck_assert_uint_eq(page[0x82], 0x11);
  ck_assert_uint_eq(page[0x83], 0xcc);
  ck_assert_uint_eq(page[0x84], 0x11);
  ck_assert_ptr_null(mig_ramapply_page(&applied.apply, 0, 0));
  applied_deinit(&applied);
}
END_TEST

START_TEST(cli_inspect_xbzrle_rejects_malformed)
{
  /* Goal: every malformed XBZRLE encoding is a typed error at the bad byte; method: table. */
  static const struct { uint8_t bytes[8]; uint16_t count; uint32_t bad_index; } cases[] = {
      {{0x05}, 1, 0},                          /* truncated pair */
      {{0x00, 0x01, 0xaa, 0x00, 0x01, 0xbb}, 6, 3},  /* zero-run of 0 after the first pair */
      {{0x81, 0x80, 0x01, 0xaa}, 4, 0},        /* uleb128 over 14 bits */
      {{0x00, 0x00, 0xaa}, 3, 1},              /* data-run of 0 */
      {{0x80, 0x20, 0x01, 0xaa}, 4, 2},        /* zero-run reaches 4096: data past the page */
      {{0x00, 0x05, 0xaa, 0xbb}, 4, 1},        /* data-run past the encoding */
  };
  for (size_t i = 0; i < SIM_ARRAY_COUNT(cases); i++) {
    static uint8_t records[2 * MIG_PAGE_BYTES];
    size_t bytes = xbzrle_records(records, cases[i].bytes, cases[i].count);
    static struct applied applied;
    ck_assert_int_eq(apply_records(&applied, 4 * MIG_PAGE_BYTES, records, bytes),
                     MIG_ERR_BAD_VALUE);
    uint64_t payload = applied.built.part_offset + bytes - cases[i].count;
    ck_assert_msg(applied.error.offset == payload + cases[i].bad_index,
                  "case %zu: offset 0x%" PRIx64 " (%s)", i, applied.error.offset,
                  applied.error.detail);
    ck_assert_str_eq(applied.error.path, "ram/pc.ram/xbzrle");
    applied_deinit(&applied);
  }
}
END_TEST

START_TEST(cli_inspect_xbzrle_rejects_bad_header)
{
  /*
   * Goal: the XBZRLE record header is checked before its payload (spec §11.2
   * "XBZRLE header flag != 1, length > page"; §11.3 item 12).  Method: a good
   * one-pair encoding, then the encoding flag set to 0 and 2, then the be16
   * length set to 4097 (with 4097 bytes behind it).
   */
  static const uint8_t encoded[] = {0x00, 0x01, 0xaa};
  static const struct { uint8_t flag; uint16_t length; enum mig_err code; uint32_t at; } cases[] = {
      {1, sizeof encoded, MIG_OK, 0},
      {0, sizeof encoded, MIG_ERR_BAD_VALUE, 0},
      {2, sizeof encoded, MIG_ERR_BAD_VALUE, 0},
      {1, MIG_PAGE_BYTES + 1, MIG_ERR_TOO_LONG, 1},
  };
  for (size_t i = 0; i < SIM_ARRAY_COUNT(cases); i++) {
    static uint8_t records[3 * MIG_PAGE_BYTES];
    static uint8_t long_encoding[MIG_PAGE_BYTES + 1];
    memset(long_encoding, 0, sizeof long_encoding);
    memcpy(long_encoding, encoded, sizeof encoded);
    size_t bytes = xbzrle_records(records, long_encoding, cases[i].length);
    size_t header = bytes - cases[i].length - 3;   /* the encoding flag byte */
    records[header] = cases[i].flag;
    static struct applied applied;
    enum mig_err code = apply_records(&applied, 4 * MIG_PAGE_BYTES, records, bytes);
    ck_assert_msg(code == cases[i].code, "case %zu: %s %s", i, mig_err_name(code),
                  applied.error.detail);
    if (code == MIG_OK) {
      ck_assert_uint_eq(mig_ramapply_page(&applied.apply, 0, 1)[0], 0xaa);
      ck_assert_uint_eq(mig_ramapply_page(&applied.apply, 0, 1)[1], 0x11);
    } else {
      ck_assert_uint_eq(applied.error.offset, applied.built.part_offset + header + cases[i].at);
      ck_assert_str_eq(applied.error.path, "ram/pc.ram/xbzrle");
    }
    applied_deinit(&applied);
  }
}
END_TEST

START_TEST(cli_inspect_compressed_page_inflates_or_is_rejected)
{
  /* Goal: COMPRESS_PAGE inflates to one page, a damaged zlib stream is refused at its offset. */
  static uint8_t page[MIG_PAGE_BYTES], records[2 * MIG_PAGE_BYTES];
  for (size_t i = 0; i < sizeof page; i++) page[i] = (uint8_t)(i * 7);
  uLongf packed_bytes = 2 * MIG_PAGE_BYTES - 32;
  size_t at = put_record(records, 2 * MIG_PAGE_BYTES, MIG_RAM_FLAG_COMPRESS_PAGE);
  ck_assert_int_eq(compress2(records + at + 4, &packed_bytes, page, sizeof page, 1), Z_OK);
  for (int i = 0; i < 4; i++) records[at + (size_t)i] = (uint8_t)(packed_bytes >> (24 - 8 * i));
  size_t bytes = at + 4 + packed_bytes;
  for (int damaged = 0; damaged < 2; damaged++) {
    if (damaged) records[at + 4 + packed_bytes / 2] ^= 0x5a;
    static struct applied applied;
    enum mig_err code = apply_records(&applied, 4 * MIG_PAGE_BYTES, records, bytes);
    if (!damaged) {
      ck_assert_int_eq(code, MIG_OK);
      ck_assert_mem_eq(mig_ramapply_page(&applied.apply, 0, 2), page, sizeof page);
    } else {
      ck_assert_int_eq(code, MIG_ERR_BAD_VALUE);
      ck_assert_uint_eq(applied.error.offset, applied.built.part_offset + at + 4);
      ck_assert_str_eq(applied.error.path, "ram/pc.ram/compressed");
    }
    applied_deinit(&applied);
  }
}
END_TEST

Suite *cli_inspect_suite(void)
{
  Suite *suite = suite_create("cli_inspect");
  TCase *walk = tcase_create("walk");
  tcase_set_timeout(walk, 120);
  tcase_add_test(walk, cli_inspect_corpus_streams_match_sidecars);
  tcase_add_test(walk, cli_inspect_migsim_stream_validates);
  tcase_add_test(walk, cli_inspect_every_cut_names_a_path);
  tcase_add_test(walk, cli_inspect_rejects_bad_trailer_length);
  tcase_add_test(walk, cli_inspect_rejects_bad_footer);
  tcase_add_test(walk, cli_inspect_rejects_unknown_ram_flag);
  tcase_add_test(walk, cli_inspect_checks_command_codes_and_lengths);
  tcase_add_test(walk, cli_inspect_discard_ranges_checked_first);
  tcase_add_test(walk, cli_inspect_advise_and_recv_bitmap_bodies);
  tcase_add_test(walk, cli_inspect_rejects_bad_magic_and_short_input);
  tcase_add_test(walk, cli_inspect_dirty_bitmap_rejects_bad_chunks);
  tcase_add_test(walk, cli_inspect_globalstate_runstate_checked);
  tcase_add_test(walk, cli_inspect_trailerless_heuristic_limit);
  tcase_add_test(walk, cli_inspect_streamed_input_refused_early);
  suite_add_tcase(suite, walk);
  TCase *ramapply = tcase_create("ramapply");
  tcase_set_timeout(ramapply, 120);
  tcase_add_test(ramapply, cli_inspect_zero_stream_16g_materialises_nothing);
  tcase_add_test(ramapply, cli_inspect_xbzrle_applies_delta);
  tcase_add_test(ramapply, cli_inspect_xbzrle_rejects_malformed);
  tcase_add_test(ramapply, cli_inspect_xbzrle_rejects_bad_header);
  tcase_add_test(ramapply, cli_inspect_compressed_page_inflates_or_is_rejected);
  suite_add_tcase(suite, ramapply);
  return suite;
}
