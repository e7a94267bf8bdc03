/*
 * mig_vfio_test.c: a vfiodev's device data through whole streams: the
 * destination equals the source, INIT_DATA_SENT appears exactly with
 * switchover-ack, a page the source never sent fails post_load with the
 * device named, and altered streams (flag, size, page, bytes, truncation)
 * fail with a typed error at the right offset and path.
 */
#include "sim_base.h"

#include "machine.h"
#include "mig_format.h"
#include "mig_load.h"
#include "mig_precopy.h"
#include "mig_ram.h"
#include "mig_save.h"
#include "mig_vfio.h"
#include "sim_check.h"

#include <jansson.h>

#define PAGES 64u
#define PATH "0000:00:05.0"

static struct machine_config vfio_config(void)
{
  struct machine_config config = {.type = "migsim-1.0", .ram_count = 1, .device_count = 1};
  snprintf(config.ram[0].name, sizeof(config.ram[0].name), "pc.ram");
  config.ram[0].bytes = 64 * RAM_PAGE_BYTES;
  snprintf(config.devices[0].driver, sizeof(config.devices[0].driver), "vfiodev");
  config.devices[0].slot = 5;
  config.devices[0].vfio = (struct vfiodev_config){
      .state_bytes = PAGES * RAM_PAGE_BYTES, .dirty_pages_per_s = 5000,
      .duration_ns = 20 * SIM_NS_PER_MS, .mapping_count = 1,
      .mappings = {{.iova = 0, .gpa = 8 * RAM_PAGE_BYTES, .bytes = 4 * RAM_PAGE_BYTES}}};
  config.vcpu = (struct vcpu_config){.pages_per_s = 1000, .duration_ns = 20 * SIM_NS_PER_MS,
                                     .fill_pages = 4};
  return config;
}

static enum mig_err membuf_sink(void *context, const uint8_t *bytes, size_t count)
{
  return mig_membuf_write(context, bytes, count);
}

struct fixture {
  struct sim *sim;
  struct machine *source;
  struct mig_membuf stream;
  struct mig_vfio_source vfio;
  uint64_t dropped_page;             /* UINT64_MAX: none */
};

/*
 * Runs the source 10 ms (ticks dirty pages while logging is on), then writes
 * setup, PART sections of 16 pages until clean, the END sections, the
 * devices and EOF.  drop: one dirty page is taken and never sent.
 */
static void fixture_build(struct fixture *f, bool ack, bool drop)
{
  struct sim_options options = {.seed = 9};
  f->sim = sim_create(&options);
  struct machine_config config = vfio_config();
  f->source = machine_create(f->sim, &config, 0);
  machine_boot(f->source);
  mig_membuf_init(&f->stream, 1 << 24);
  uint8_t buffer[4096];
  struct mig_writer writer;
  mig_writer_init(&writer, buffer, sizeof(buffer), membuf_sink, &f->stream);
  struct ram_block *blocks[1] = {machine_ram(f->source, 0)};
  struct mig_ram_source ram;
  mig_ram_source_init(&ram, f->sim, blocks, 1);
  mig_vfio_source_init(&f->vfio, machine_vfiodev(f->source, 0), 9, PATH, ack);
  mig_save_header(&writer);
  mig_save_configuration(&writer, machine_type(f->source));
  mig_save_section_header(&writer, MIG_SECTION_START, 0, "ram", 0, 4);
  mig_ram_save_setup(&ram, &writer);
  mig_save_footer(&writer, 0);
  mig_vfio_save_setup(&f->vfio, &writer);
  ck_assert_uint_eq(mig_vfio_pending_bytes(&f->vfio), PAGES * MIG_VFIO_RECORD_BYTES);
  /* The device keeps dirtying while the first PART sections go out. */
  for (int i = 0; i < 3; i++) mig_vfio_save_iterate(&f->vfio, &writer, 16);
  ck_assert_uint_eq(sim_run(f->sim), SIM_RUN_IDLE);
  machine_stop(f->source);
  f->dropped_page = UINT64_MAX;
  if (drop) {
    /* The first dirty page: never sent, or sent at an older generation. */
    uint64_t cursor = 0;
    uint32_t generation;
    ck_assert(vfiodev_dirty_take(machine_vfiodev(f->source, 0), &cursor, &f->dropped_page,
                                 &generation));
  }
  while (mig_vfio_pending_bytes(&f->vfio) > 0 && !f->vfio.init_data_sent) {
    mig_vfio_save_iterate(&f->vfio, &writer, 16);
    if (!ack && f->vfio.first_pass_done) break;
  }
  mig_save_section_short_header(&writer, MIG_SECTION_END, 0);
  mig_ram_save_complete(&ram, &writer);
  mig_save_footer(&writer, 0);
  mig_vfio_save_complete(&f->vfio, &writer);
  json_t *devices = json_array();
  ck_assert_int_eq(mig_save_devices_checked(&writer, f->source, devices, NULL), MIG_OK);
  ck_assert_int_eq(mig_save_finish(&writer, devices), MIG_OK);
  json_decref(devices);
}

static void fixture_deinit(struct fixture *f)
{
  mig_membuf_deinit(&f->stream);
  sim_destroy(f->sim);
}

struct hook_counts {
  uint64_t data_bytes;
  uint32_t init_data_count;
};

static void count_data(void *context, uint64_t bytes)
{
  ((struct hook_counts *)context)->data_bytes += bytes;
}

static void count_init(void *context) { ((struct hook_counts *)context)->init_data_count++; }

static enum mig_err live_load(void *context, struct mig_reader *reader, uint8_t type)
{
  return mig_vfio_load(context, reader, type);
}

/* Loads bytes into a fresh destination with the vfio handler; error and counts out. */
static enum mig_err load_stream(struct fixture *f, const uint8_t *bytes, size_t count, bool ack,
                                struct mig_error *error, struct hook_counts *counts,
                                struct machine **dest_out)
{
  struct machine_config config = vfio_config();
  struct machine *dest = machine_create_peer(f->sim, &config, 1, f->source);
  struct mig_vfio_dest vfio;
  memset(counts, 0, sizeof(*counts));
  struct mig_vfio_dest_hooks hooks = {counts, count_data, count_init};
  mig_vfio_dest_init(&vfio, machine_vfiodev(dest, 0), PATH, ack, &hooks);
  struct mig_load_live live = {vfio.idstr, MIG_VFIO_SECTION_VERSION, &vfio, live_load};
  struct mig_load_options options = {.lives = &live, .live_count = 1};
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, count);
  struct mig_load_stats stats;
  enum mig_err err = mig_load_machine_with(&reader, dest, &options, &stats);
  *error = *mig_reader_error(&reader);
  if (dest_out != NULL) *dest_out = dest;
  return err;
}

/* Offset of the first occurrence of the be64 flag at or after from, or count. */
static size_t flag_find(const struct mig_membuf *stream, uint64_t flag, size_t from)
{
  uint8_t needle[8];
  for (int i = 0; i < 8; i++) needle[i] = (uint8_t)(flag >> (56 - 8 * i));
  for (size_t i = from; i + 8 <= stream->count; i++) {
    if (memcmp(stream->bytes + i, needle, 8) == 0) return i;
  }
  return stream->count;
}

START_TEST(mig_vfio_load_equals_source)
{
  /* Goal: without switchover-ack the device data arrives whole and no INIT_DATA_SENT. */
  struct fixture f;
  fixture_build(&f, false, false);
  struct vfiodev *source_dev = machine_vfiodev(f.source, 0);
  ck_assert_uint_gt(source_dev->ticks_count, 0);
  ck_assert_uint_eq(flag_find(&f.stream, MIG_VFIO_FLAG_DEV_INIT_DATA_SENT, 0), f.stream.count);
  struct mig_error error;
  struct hook_counts counts;
  struct machine *dest;
  ck_assert_int_eq(load_stream(&f, f.stream.bytes, f.stream.count, false, &error, &counts, &dest),
                   MIG_OK);
  struct vfiodev *dest_dev = machine_vfiodev(dest, 0);
  ck_assert_uint_eq(dest_dev->generations_digest, source_dev->generations_digest);
  ck_assert_uint_eq(vfiodev_generations_digest(dest_dev), vfiodev_generations_digest(source_dev));
  ck_assert_uint_eq(counts.data_bytes, f.vfio.sent_bytes);
  ck_assert_uint_gt(f.vfio.sent_pages_count, PAGES); /* re-sent pages the ticks dirtied */
  ck_assert_uint_eq(counts.init_data_count, 0);
  ck_assert_uint_eq(dest_dev->ticks_count, source_dev->ticks_count);
  fixture_deinit(&f);
}
END_TEST

START_TEST(mig_vfio_init_data_sent_once_with_ack)
{
  /* Goal: with switchover-ack, one PART ends in INIT_DATA_SENT and the hook fires once. */
  struct fixture f;
  fixture_build(&f, true, false);
  size_t at = flag_find(&f.stream, MIG_VFIO_FLAG_DEV_INIT_DATA_SENT, 0);
  ck_assert_uint_lt(at, f.stream.count);
  ck_assert_uint_eq(flag_find(&f.stream, MIG_VFIO_FLAG_DEV_INIT_DATA_SENT, at + 1),
                    f.stream.count);
  struct mig_error error;
  struct hook_counts counts;
  ck_assert_int_eq(load_stream(&f, f.stream.bytes, f.stream.count, true, &error, &counts, NULL),
                   MIG_OK);
  ck_assert_uint_eq(counts.init_data_count, 1);
  /* A destination without the capability refuses the marker, naming where. */
  ck_assert_int_eq(load_stream(&f, f.stream.bytes, f.stream.count, false, &error, &counts, NULL),
                   MIG_ERR_BAD_VALUE);
  ck_assert_str_eq(error.path, PATH "/vfio/init-data-sent");
  ck_assert_uint_eq(error.offset, at);
  fixture_deinit(&f);
}
END_TEST

START_TEST(mig_vfio_missed_page_fails_post_load)
{
  /* Goal: a dirty page the source never sent makes the device's post_load refuse. */
  struct fixture f;
  fixture_build(&f, false, true);
  struct mig_error error;
  struct hook_counts counts;
  struct machine *dest;
  ck_assert_int_eq(load_stream(&f, f.stream.bytes, f.stream.count, false, &error, &counts, &dest),
                   MIG_ERR_HOOK);
  ck_assert_str_eq(error.path, PATH "/vfiodev");
  ck_assert_ptr_nonnull(strstr(machine_vfiodev(dest, 0)->error_message, "device data digest"));
  fixture_deinit(&f);
}
END_TEST

/* Applies edit to a copy of the stream at the first DATA_STATE flag, loads, checks. */
static void assert_edit_refused(size_t delta, const uint8_t *bytes, size_t count,
                                enum mig_err code, const char *path, size_t error_delta)
{
  struct fixture f;
  fixture_build(&f, false, false);
  size_t at = flag_find(&f.stream, MIG_VFIO_FLAG_DEV_DATA_STATE, 0);
  ck_assert_uint_lt(at + delta + count, f.stream.count);
  uint8_t *copy = malloc(f.stream.count);
  ck_assert_ptr_nonnull(copy);
  memcpy(copy, f.stream.bytes, f.stream.count);
  memcpy(copy + at + delta, bytes, count);
  struct mig_error error;
  struct hook_counts counts;
  ck_assert_int_eq(load_stream(&f, copy, f.stream.count, false, &error, &counts, NULL), code);
  ck_assert_str_eq(error.path, path);
  ck_assert_uint_eq(error.offset, at + error_delta);
  free(copy);
  fixture_deinit(&f);
}

START_TEST(mig_vfio_load_bad_flag)
{
  /* Goal: an unknown flag where DATA_STATE was is refused at its offset. */
  const uint8_t flag[8] = {0xff, 0xff, 0xff, 0xff, 0xef, 0x10, 0x00, 0x09};
  assert_edit_refused(0, flag, sizeof(flag), MIG_ERR_BAD_VALUE, PATH "/vfio/flag", 0);
}
END_TEST

START_TEST(mig_vfio_load_bad_size)
{
  /* Goal: a block size that is not whole records, or too many, is refused before reading. */
  const uint8_t odd[8] = {0, 0, 0, 0, 0, 0, 0x10, 0x09};
  assert_edit_refused(8, odd, sizeof(odd), MIG_ERR_TOO_LONG, PATH "/vfio/data/size", 8);
  const uint8_t huge[8] = {0, 0, 0, 0x10, 0, 0, 0, 0};
  assert_edit_refused(8, huge, sizeof(huge), MIG_ERR_TOO_LONG, PATH "/vfio/data/size", 8);
}
END_TEST

START_TEST(mig_vfio_load_bad_page)
{
  /* Goal: a page index past the device's state, or generation 0, is refused. */
  const uint8_t page[4] = {0, 0, 0, PAGES};
  assert_edit_refused(16, page, sizeof(page), MIG_ERR_BAD_VALUE, PATH "/vfio/data/page", 16);
  const uint8_t zero[4] = {0, 0, 0, 0};
  assert_edit_refused(20, zero, sizeof(zero), MIG_ERR_BAD_VALUE, PATH "/vfio/data/page", 16);
}
END_TEST

START_TEST(mig_vfio_load_bad_bytes)
{
  /* Goal: one flipped byte inside a page is caught against the device's content. */
  const uint8_t flip[1] = {0x5a};
  assert_edit_refused(16 + 8 + 100, flip, sizeof(flip), MIG_ERR_BAD_VALUE,
                      PATH "/vfio/data/bytes", 24);
}
END_TEST

START_TEST(mig_vfio_load_truncated_everywhere)
{
  /* Goal: every cut of the stream (step 257 bytes) fails with a typed error, never a crash. */
  struct fixture f;
  fixture_build(&f, true, false);
  uint32_t cuts_count = 0;
  for (size_t cut = 0; cut < f.stream.count; cut += 257) {
    struct mig_error error;
    struct hook_counts counts;
    enum mig_err err = load_stream(&f, f.stream.bytes, cut, true, &error, &counts, NULL);
    ck_assert_int_ne(err, MIG_OK);
    ck_assert_int_eq(err, error.code);
    cuts_count++;
  }
  ck_assert_uint_gt(cuts_count, 100);
  fixture_deinit(&f);
}
END_TEST

START_TEST(mig_vfio_load_every_byte_flip_in_headers)
{
  /* Goal: each byte of the vfio START section and of the first block's header, flipped,
   * loads or fails with a typed error that has a path; the flag bytes always fail. */
  struct fixture f;
  fixture_build(&f, true, false);
  const char *idstr = PATH "/vfio";
  size_t start = 0;
  while (start + strlen(idstr) <= f.stream.count &&
         memcmp(f.stream.bytes + start, idstr, strlen(idstr)) != 0) {
    start++;
  }
  ck_assert_uint_lt(start, f.stream.count);
  start -= 6; /* type, be32 section id, idstr length byte */
  size_t data = flag_find(&f.stream, MIG_VFIO_FLAG_DEV_DATA_STATE, start);
  uint8_t *copy = malloc(f.stream.count);
  ck_assert_ptr_nonnull(copy);
  uint32_t refused_count = 0;
  for (size_t i = 0; i < 80; i++) {
    size_t at = i < 56 ? start + i : data - 4 + (i - 56); /* START, then around the block */
    memcpy(copy, f.stream.bytes, f.stream.count);
    copy[at] ^= 0xff;
    struct mig_error error;
    struct hook_counts counts;
    enum mig_err err = load_stream(&f, copy, f.stream.count, true, &error, &counts, NULL);
    if (err == MIG_OK) continue;
    ck_assert_int_eq(err, error.code);
    ck_assert_msg(error.path[0] != 0, "flip at %zu: no path", at);
    refused_count++;
  }
  ck_assert_uint_ge(refused_count, 70);
  free(copy);
  fixture_deinit(&f);
}
END_TEST

/* Runs a precopy with switchover-ack; garbage, when given, goes up the return path first. */
static struct mig_precopy_stats precopy_run(const uint8_t *garbage, size_t garbage_bytes,
                                            bool *source_running, uint64_t *dest_digest,
                                            uint64_t *source_digest)
{
  struct sim_options options = {.seed = 5};
  struct sim *sim = sim_create(&options);
  struct machine_config config = vfio_config();
  config.devices[0].vfio.load_bytes_per_s = 64 * RAM_PAGE_BYTES * 10; /* 100 ms for all */
  struct machine *source = machine_create(sim, &config, 0);
  struct machine *dest = machine_create_peer(sim, &config, 1, source);
  machine_boot(source);
  struct link_options link_options = {.bandwidth_bytes_per_s = 64 << 20, .latency_ns = 100000,
                                      .window_bytes = 1 << 20, .packet_bytes_max = 1 << 16};
  struct link *forward = link_create(sim, &link_options, "migration");
  struct link *reverse = link_create(sim, &link_options, "return-path");
  struct mig_precopy_params params = {.downtime_limit_ns = 30 * SIM_NS_PER_MS,
                                      .section_pages_max = 16, .switchover_ack = true};
  struct mig_precopy_hooks hooks = {0};
  struct mig_precopy *precopy = mig_precopy_create(sim, source, dest, forward, &params, &hooks);
  mig_precopy_return_path_set(precopy, reverse);
  if (garbage != NULL) ck_assert_uint_eq(link_send(reverse, garbage, garbage_bytes), garbage_bytes);
  mig_precopy_start(precopy);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  struct mig_precopy_stats stats = *mig_precopy_stats(precopy);
  *source_running = machine_running(source);
  *dest_digest = vfiodev_generations_digest(machine_vfiodev(dest, 0));
  *source_digest = vfiodev_generations_digest(machine_vfiodev(source, 0));
  sim_destroy(sim);
  return stats;
}

START_TEST(mig_vfio_precopy_waits_for_ack)
{
  /* Goal: the source stops only after SWITCHOVER_ACK, which follows the 100 ms initial load. */
  bool running;
  uint64_t dest_digest, source_digest;
  struct mig_precopy_stats stats = precopy_run(NULL, 0, &running, &dest_digest, &source_digest);
  ck_assert_int_eq(stats.status, MIG_PRECOPY_COMPLETED);
  ck_assert_uint_gt(stats.switchover_ack_ns, stats.start_ns + 100 * SIM_NS_PER_MS);
  ck_assert_uint_le(stats.switchover_ack_ns, stats.stop_ns);
  ck_assert_uint_gt(stats.ack_waits_count, 0);
  ck_assert_uint_ge(stats.device_bytes, 64 * MIG_VFIO_RECORD_BYTES);
  ck_assert_uint_eq(dest_digest, source_digest);
}
END_TEST

START_TEST(mig_vfio_precopy_bad_return_path_message)
{
  /* Goal: an unknown return-path type (9) fails the migration on the source, which runs on. */
  const uint8_t garbage[4] = {0, 9, 0, 0};
  bool running;
  uint64_t dest_digest, source_digest;
  struct mig_precopy_stats stats =
      precopy_run(garbage, sizeof(garbage), &running, &dest_digest, &source_digest);
  ck_assert_int_eq(stats.status, MIG_PRECOPY_FAILED);
  ck_assert(stats.source_failed);
  ck_assert(running);
  ck_assert_str_eq(stats.error.path, "return-path/message");
  ck_assert_str_eq(stats.error.detail, "invalid return-path message type (type 9, len 0)");
  ck_assert_uint_eq(stats.switchover_ack_ns, 0);
  const uint8_t long_ack[4] = {0, 7, 0, 4};
  stats = precopy_run(long_ack, sizeof(long_ack), &running, &dest_digest, &source_digest);
  ck_assert_str_eq(stats.error.detail, "SWITCHOVER_ACK must be empty (type 7, len 4)");
}
END_TEST

Suite *mig_vfio_suite(void)
{
  Suite *suite = suite_create("mig_vfio");
  TCase *core = tcase_create("core");
  tcase_add_test(core, mig_vfio_load_equals_source);
  tcase_add_test(core, mig_vfio_init_data_sent_once_with_ack);
  tcase_add_test(core, mig_vfio_missed_page_fails_post_load);
  tcase_add_test(core, mig_vfio_precopy_waits_for_ack);
  tcase_add_test(core, mig_vfio_precopy_bad_return_path_message);
  suite_add_tcase(suite, core);
  TCase *corrupt = tcase_create("corrupt");
  tcase_add_test(corrupt, mig_vfio_load_bad_flag);
  tcase_add_test(corrupt, mig_vfio_load_bad_size);
  tcase_add_test(corrupt, mig_vfio_load_bad_page);
  tcase_add_test(corrupt, mig_vfio_load_bad_bytes);
  tcase_add_test(corrupt, mig_vfio_load_truncated_everywhere);
  tcase_add_test(corrupt, mig_vfio_load_every_byte_flip_in_headers);
  tcase_set_timeout(corrupt, 60);
  suite_add_tcase(suite, corrupt);
  return suite;
}
