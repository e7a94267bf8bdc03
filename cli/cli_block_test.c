/*
 * cli_block_test.c: the "block" live section (QEMU block migration) on a
 * stream recorded from QEMU 7.2.22 by harness/record_block.py:
 * conformance/corpus-local/pc-i440fx-7.2_m32_block-migration.mig.xz and its
 * sidecar.  The source disk was 8 MiB with a text pattern in 1 MiB chunks 1
 * and 5 and 512 bytes at 7 MiB + 1536; the test rebuilds that disk, applies
 * the walked block records to a blank one and requires the two to be equal,
 * so every data chunk and zero chunk was decoded at the right sector.  The
 * stream is in the repository, so nothing is skipped.
 */
#include "sim_base.h"

#include "cli_inspect.h"
#include "conform_run.h"
#include "mig_analyze.h"
#include "mig_inspect.h"
#include "mig_reencode.h"
#include "sim_check.h"

#include <jansson.h>

#define BLOCK_STREAM "conformance/corpus-local/pc-i440fx-7.2_m32_block-migration"
#define DISK_BYTES (UINT32_C(8) << 20)

/* The source disk of harness/record_block.py write_disk. */
static uint8_t *source_disk(void)
{
  uint8_t *disk = calloc(1, DISK_BYTES);
  ck_assert_ptr_nonnull(disk);
  static const uint32_t chunks[] = {1, 5};
  for (size_t c = 0; c < SIM_ARRAY_COUNT(chunks); c++) {
    char line[64];
    int length = snprintf(line, sizeof line, "migsim block chunk %" PRIu32 " ", chunks[c]);
    uint8_t *chunk = disk + chunks[c] * MIG_BLOCK_CHUNK_BYTES;
    for (uint32_t i = 0; i < MIG_BLOCK_CHUNK_BYTES; i++) chunk[i] = (uint8_t)line[i % length];
  }
  for (uint32_t i = 0; i < 512; i++) disk[7 * MIG_BLOCK_CHUNK_BYTES + 1536 + i] = (uint8_t)i;
  return disk;
}

struct disk_apply {
  uint8_t *disk;            /* DISK_BYTES, starts all 0xee so unwritten chunks show */
  uint64_t records;
};

static enum mig_err disk_apply_visit(void *context, const struct mig_inspect_event *event,
                                     struct mig_error *error)
{
  (void)error;
  struct disk_apply *apply = context;
  if (event->kind != MIG_INSPECT_BLOCK_RECORD) return MIG_OK;
  apply->records++;
  if ((event->block_flags & MIG_BLOCK_FLAG_DEVICE_BLOCK) == 0) return MIG_OK;
  uint64_t at = event->sector << MIG_BLOCK_SECTOR_BITS;
  ck_assert_uint_le(at + MIG_BLOCK_CHUNK_BYTES, DISK_BYTES);
  if (event->block_flags & MIG_BLOCK_FLAG_ZERO_BLOCK) {
    ck_assert_ptr_null(event->payload);
    memset(apply->disk + at, 0, MIG_BLOCK_CHUNK_BYTES);
  } else {
    ck_assert_uint_eq(event->payload_bytes, MIG_BLOCK_CHUNK_BYTES);
    memcpy(apply->disk + at, event->payload, MIG_BLOCK_CHUNK_BYTES);
  }
  return MIG_OK;
}

static void read_stream(struct mig_membuf *stream, json_t **sidecar)
{
  char message[512];
  ck_assert_msg(cli_inspect_read(BLOCK_STREAM ".mig.xz", stream, message, sizeof message),
                "%s", message);
  json_error_t json_error;
  *sidecar = json_load_file(BLOCK_STREAM ".json", 0, &json_error);
  ck_assert_msg(*sidecar != NULL, "%s", json_error.text);
  const json_t *facts = json_object_get(json_object_get(*sidecar, "stream"), "size");
  ck_assert_uint_eq(stream->count, (uint64_t)json_integer_value(facts));
}

/*
 * Goal: the recorded block stream decodes to the source disk; method: walk it with a visitor
 * that writes each chunk into a blank disk, compare with the rebuilt source, check the counts.
 */
START_TEST(cli_block_recorded_stream_decodes)
{
  struct mig_membuf stream;
  json_t *sidecar;
  read_stream(&stream, &sidecar);
  struct disk_apply apply = {.disk = malloc(DISK_BYTES)};
  ck_assert_ptr_nonnull(apply.disk);
  memset(apply.disk, 0xee, DISK_BYTES);
  struct mig_inspect_visitor visitor = {.visit = disk_apply_visit, .context = &apply};
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_walk(stream.bytes, stream.count, &inspect, &visitor, &error),
                   MIG_OK);
  uint8_t *source = source_disk();
  ck_assert(memcmp(apply.disk, source, DISK_BYTES) == 0);
  ck_assert_uint_eq(inspect.block_device_count, 1);
  const struct mig_inspect_block_device *drive = &inspect.block_devices[0];
  ck_assert_str_eq(drive->name, "drive0");
  ck_assert_uint_eq(drive->data_blocks, 3);   /* chunks 1, 5, 7 */
  ck_assert_uint_eq(drive->zero_blocks, 5);
  ck_assert_uint_eq(drive->sector_end, DISK_BYTES >> MIG_BLOCK_SECTOR_BITS);
  ck_assert_uint_eq(inspect.block_progress, 100);
  ck_assert_uint_eq(inspect.block_eos_count, 4);  /* START, two PARTs, END: one per section */
  ck_assert_uint_eq(apply.records, inspect.block_progress_count + inspect.block_eos_count + 8);
  const json_t *facts = json_object_get(sidecar, "stream_facts");
  ck_assert_uint_eq(inspect.eof_offset,
                    (uint64_t)json_integer_value(json_object_get(facts, "eof_marker_offset")));
  ck_assert_uint_eq(inspect.device_count, json_array_size(json_object_get(facts,
                                                                          "vmdesc_devices")));
  mig_inspect_deinit(&inspect);
  /* The destination's disk listed at its size: accepted; a smaller one: the sector is named. */
  struct mig_inspect_block_device device = {.name = "drive0", .bytes = DISK_BYTES};
  struct mig_inspect_options options = {.block_devices = &device, .block_device_count = 1};
  ck_assert_int_eq(mig_inspect_walk_with(stream.bytes, stream.count, &inspect, &options, NULL,
                                         &error), MIG_OK);
  mig_inspect_deinit(&inspect);
  device.bytes = DISK_BYTES / 2;
  ck_assert_int_eq(mig_inspect_walk_with(stream.bytes, stream.count, &inspect, &options, NULL,
                                         &error), MIG_ERR_BAD_VALUE);
  ck_assert_str_eq(error.path, "block/sector");
  ck_assert_uint_eq((stream.bytes[error.offset + 6] << 8 | stream.bytes[error.offset + 7]) & 0x1ff,
                    MIG_BLOCK_FLAG_DEVICE_BLOCK | MIG_BLOCK_FLAG_ZERO_BLOCK);
  mig_inspect_deinit(&inspect);
  memcpy(device.name, "drive1", 7);
  ck_assert_int_eq(mig_inspect_walk_with(stream.bytes, stream.count, &inspect, &options, NULL,
                                         &error), MIG_ERR_UNKNOWN_SECTION);
  ck_assert_str_eq(error.path, "block/device-name");
  mig_inspect_deinit(&inspect);
  free(source);
  free(apply.disk);
  json_decref(sidecar);
  mig_membuf_deinit(&stream);
}
END_TEST

/* Goal: re-encoding the recorded stream gives its bytes back; method: reencode visitor, cmp. */
START_TEST(cli_block_recorded_stream_reencodes)
{
  struct mig_membuf stream;
  json_t *sidecar;
  read_stream(&stream, &sidecar);
  struct mig_membuf out;
  mig_membuf_init(&out, stream.count);
  static uint8_t staging[MIG_WRITER_BUFFER_BYTES];
  struct mig_writer writer;
  mig_writer_init(&writer, staging, sizeof staging, mig_membuf_write, &out);
  struct mig_reencode reencode;
  mig_reencode_init(&reencode, &writer, NULL);
  struct mig_inspect_visitor visitor = {.visit = mig_reencode_visit, .context = &reencode};
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_walk(stream.bytes, stream.count, &inspect, &visitor, &error),
                   MIG_OK);
  ck_assert_int_eq(mig_writer_flush(&writer), MIG_OK);
  ck_assert_uint_eq(out.count, stream.count);
  ck_assert(memcmp(out.bytes, stream.bytes, out.count) == 0);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&out);
  json_decref(sidecar);
  mig_membuf_deinit(&stream);
}
END_TEST

/*
 * Goal: --format analyze prints the block section before RAM, as in the stream; method:
 * mig_analyze_stream, check the first two members and the block counts.
 */
START_TEST(cli_block_recorded_stream_analyze)
{
  struct mig_membuf stream;
  json_t *sidecar;
  read_stream(&stream, &sidecar);
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_stream(stream.bytes, stream.count, &inspect, &error), MIG_OK);
  json_t *root = NULL;
  ck_assert_int_eq(mig_analyze_stream(stream.bytes, stream.count, &inspect, &root, &error),
                   MIG_OK);
  void *iter = json_object_iter(root);
  ck_assert_str_eq(json_object_iter_key(iter), "block (1)");
  ck_assert_str_eq(json_object_iter_key(json_object_iter_next(root, iter)), "ram (2)");
  const json_t *drive = json_object_get(json_object_get(json_object_get(root, "block (1)"),
                                                        "devices"), "drive0");
  ck_assert_int_eq(json_integer_value(json_object_get(drive, "data blocks")), 3);
  ck_assert_int_eq(json_integer_value(json_object_get(drive, "zero blocks")), 5);
  ck_assert_uint_eq(json_object_size(root), 2 + inspect.device_count);
  json_decref(root);
  mig_inspect_deinit(&inspect);
  json_decref(sidecar);
  mig_membuf_deinit(&stream);
}
END_TEST

static int inspect_cli(const char *device)
{
  char *argv[] = {(char *)BLOCK_STREAM ".mig.xz", (char *)"--validate", (char *)"--block-device",
                  (char *)device};
  return cli_inspect_main(device == NULL ? 2 : 4, argv);
}

/*
 * Goal: `migsim inspect --block-device` bounds the walk; method: the recorded stream with the
 * real disk size, half of it, another name, and malformed specs.
 */
START_TEST(cli_block_inspect_cli_devices)
{
  ck_assert_int_eq(inspect_cli(NULL), 0);
  ck_assert_int_eq(inspect_cli("drive0:8388608"), 0);
  ck_assert_int_eq(inspect_cli("drive0:0x800000"), 0);
  ck_assert_int_eq(inspect_cli("drive0:4194304"), CONFORM_BAD_INPUT);
  ck_assert_int_eq(inspect_cli("disk9:8388608"), CONFORM_BAD_INPUT);
  ck_assert_int_eq(inspect_cli("drive0"), CONFORM_BAD_INPUT);
  ck_assert_int_eq(inspect_cli("drive0:0"), CONFORM_BAD_INPUT);
  ck_assert_int_eq(inspect_cli(":8388608"), CONFORM_BAD_INPUT);
  ck_assert_int_eq(inspect_cli("drive0:-1"), CONFORM_BAD_INPUT);
  ck_assert_int_eq(inspect_cli("drive0:0x4000000000001"), CONFORM_BAD_INPUT);
}
END_TEST

Suite *cli_block_suite(void)
{
  Suite *suite = suite_create("cli_block");
  TCase *recorded = tcase_create("recorded");
  tcase_set_timeout(recorded, 60);
  tcase_add_test(recorded, cli_block_recorded_stream_decodes);
  tcase_add_test(recorded, cli_block_recorded_stream_reencodes);
  tcase_add_test(recorded, cli_block_recorded_stream_analyze);
  tcase_add_test(recorded, cli_block_inspect_cli_devices);
  suite_add_tcase(suite, recorded);
  return suite;
}
