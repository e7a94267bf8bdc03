/*
 * mig_vfio_test.c: a vfiodev's device data through whole streams: the
 * destination equals the source, INIT_DATA_SENT appears exactly with
 * switchover-ack, a page the source never sent fails post_load with the
 * device named, and altered streams (flag, size, page, bytes, truncation)
 * fail with a typed error at the right offset and path.  The device config
 * travels as DEV_CONFIG_STATE in the handler's FULL section: its hostile
 * variants, a config the guest changed mid-migration, and the return path
 * (PING/PONG, SWITCHOVER_ACK, SHUT, a missing PONG) are covered too.
 */
#include "sim_base.h"

#include "machine.h"
#include "mig_format.h"
#include "mig_load.h"
#include "mig_precopy.h"
#include "mig_ram.h"
#include "mig_rp.h"
#include "mig_save.h"
#include "mig_vfio.h"
#include "pci.h"
#include "sim_check.h"
#include "vfiodev.h"

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
  *vfiodev_props(&config.devices[0]) = (struct vfiodev_config){
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
static void fixture_build_with(struct fixture *f, bool ack, bool drop, uint32_t config_count)
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
  struct dev_live live = machine_live(f->source, 0);
  ck_assert_str_eq(live.path, PATH);
  mig_vfio_source_init(&f->vfio, &live, 9, ack);
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
  for (uint32_t i = 0; i < config_count; i++) mig_vfio_save_state(&f->vfio, &writer, devices);
  ck_assert_int_eq(mig_save_devices_checked(&writer, f->source, devices, NULL), MIG_OK);
  ck_assert_int_eq(mig_save_finish(&writer, devices), MIG_OK);
  json_decref(devices);
}

/* The usual stream: one FULL section with the config. */
static void fixture_build(struct fixture *f, bool ack, bool drop)
{
  fixture_build_with(f, ack, drop, 1);
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

static void count_data(void *context, uint32_t load_index, uint64_t bytes, uint64_t bytes_per_s)
{
  (void)load_index;
  (void)bytes_per_s;
  ((struct hook_counts *)context)->data_bytes += bytes;
}

static void count_init(void *context, uint32_t load_index)
{
  (void)load_index;
  ((struct hook_counts *)context)->init_data_count++; }

static enum mig_err live_load(void *context, struct mig_reader *reader,
                              const struct mig_record *record)
{
  return mig_vfio_load_record(context, reader, record);
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
  struct mig_live_hooks hooks = {counts, count_data, count_init};
  struct dev_live dest_live = machine_live(dest, 0);
  mig_vfio_dest_init(&vfio, &dest_live, ack, &hooks);
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


/* FULL payload layout: flag, be16 vendor, be16 device, 256 config bytes, two be64, end flag. */
#define CONFIG_AT_VENDOR 8u
#define CONFIG_AT_BYTES 12u
#define CONFIG_AT_END 284u
#define CONFIG_PAYLOAD_BYTES 292u

/* Loads the stream with bytes written at config + delta (or cut there); compares the text. */
static void assert_config_refused(size_t delta, const uint8_t *bytes, size_t count, bool cut,
                                  const char *expected_format, size_t error_delta)
{
  struct fixture f;
  fixture_build(&f, false, false);
  size_t config = flag_find(&f.stream, MIG_VFIO_FLAG_DEV_CONFIG_STATE, 0);
  ck_assert_uint_lt(config + delta + count, f.stream.count);
  uint8_t *copy = malloc(f.stream.count);
  ck_assert_ptr_nonnull(copy);
  memcpy(copy, f.stream.bytes, f.stream.count);
  if (count > 0) memcpy(copy + config + delta, bytes, count);
  struct mig_error error;
  struct hook_counts counts;
  size_t length = cut ? config + delta : f.stream.count;
  ck_assert_int_ne(load_stream(&f, copy, length, false, &error, &counts, NULL), MIG_OK);
  char expected[320], text[320];
  snprintf(expected, sizeof(expected), expected_format, (uint64_t)(config + error_delta));
  mig_error_format(&error, text, sizeof(text));
  ck_assert_str_eq(text, expected);
  free(copy);
  fixture_deinit(&f);
}

START_TEST(mig_vfio_config_in_full_section)
{
  /* Goal: the config is one FULL section (flag, the source's config bytes, END_OF_STATE)
   * after every END section, and it loads into the destination's config. */
  struct fixture f;
  fixture_build(&f, false, false);
  struct vfiodev *source_dev = machine_vfiodev(f.source, 0);
  size_t config = flag_find(&f.stream, MIG_VFIO_FLAG_DEV_CONFIG_STATE, 0);
  ck_assert_uint_lt(config, f.stream.count);
  ck_assert_uint_eq(flag_find(&f.stream, MIG_VFIO_FLAG_DEV_CONFIG_STATE, config + 1),
                    f.stream.count);
  ck_assert_uint_eq(f.stream.bytes[config - 14 - strlen(PATH "/vfio")], MIG_SECTION_FULL);
  ck_assert_mem_eq(f.stream.bytes + config + CONFIG_AT_BYTES, source_dev->pci.config,
                   PCI_CONFIG_BYTES);
  ck_assert_uint_eq(flag_find(&f.stream, MIG_VFIO_FLAG_END_OF_STATE, config + 8),
                    config + CONFIG_AT_END);
  ck_assert_uint_eq(f.stream.bytes[config + CONFIG_PAYLOAD_BYTES], MIG_SECTION_FOOTER);
  struct mig_error error;
  struct hook_counts counts;
  struct machine *dest;
  ck_assert_int_eq(load_stream(&f, f.stream.bytes, f.stream.count, false, &error, &counts, &dest),
                   MIG_OK);
  ck_assert(machine_vfiodev(dest, 0)->config_loaded);
  ck_assert_mem_eq(machine_vfiodev(dest, 0)->pci.config, source_dev->pci.config,
                   PCI_CONFIG_BYTES);
  fixture_deinit(&f);
}
END_TEST

START_TEST(mig_vfio_config_missing_or_twice)
{
  /* Goal: no FULL section fails the vfiodev's post_load; a second one is refused at its flag. */
  struct fixture f;
  fixture_build_with(&f, false, false, 0);
  struct mig_error error;
  struct hook_counts counts;
  struct machine *dest;
  ck_assert_int_eq(load_stream(&f, f.stream.bytes, f.stream.count, false, &error, &counts, &dest),
                   MIG_ERR_HOOK);
  ck_assert_str_eq(error.path, PATH "/vfiodev");
  ck_assert_str_eq(machine_vfiodev(dest, 0)->error_message,
                   "PCI config never arrived (no DEV_CONFIG_STATE)");
  fixture_deinit(&f);
  fixture_build_with(&f, false, false, 2);
  size_t first = flag_find(&f.stream, MIG_VFIO_FLAG_DEV_CONFIG_STATE, 0);
  size_t second = flag_find(&f.stream, MIG_VFIO_FLAG_DEV_CONFIG_STATE, first + 1);
  ck_assert_uint_lt(second, f.stream.count);
  ck_assert_int_eq(load_stream(&f, f.stream.bytes, f.stream.count, false, &error, &counts, NULL),
                   MIG_ERR_BAD_VALUE);
  char text[320], expected[320];
  mig_error_format(&error, text, sizeof(text));
  snprintf(expected, sizeof(expected), "offset 0x%zx: " PATH "/vfio/config/flag: field value "
           "out of range (flag 0xffffffffef100002: DEV_CONFIG_STATE twice)", second);
  ck_assert_str_eq(text, expected);
  fixture_deinit(&f);
}
END_TEST

START_TEST(mig_vfio_config_bad_flags)
{
  /* Goal: a FULL section that starts with another flag, or ends without END_OF_STATE, and
   * DEV_CONFIG_STATE inside a PART section are refused at the flag's offset. */
  const uint8_t data[8] = {0xff, 0xff, 0xff, 0xff, 0xef, 0x10, 0x00, 0x04};
  assert_config_refused(0, data, 8, false, "offset 0x%" PRIx64 ": " PATH "/vfio/config/flag: "
                        "field value out of range (flag 0xffffffffef100004: a FULL section must "
                        "start with DEV_CONFIG_STATE)", 0);
  const uint8_t unknown[8] = {0xff, 0xff, 0xff, 0xff, 0xef, 0x10, 0x00, 0x09};
  assert_config_refused(0, unknown, 8, false, "offset 0x%" PRIx64 ": " PATH "/vfio/config/flag: "
                        "field value out of range (flag 0xffffffffef100009: a FULL section must "
                        "start with DEV_CONFIG_STATE)", 0);
  const uint8_t setup[8] = {0xff, 0xff, 0xff, 0xff, 0xef, 0x10, 0x00, 0x03};
  assert_config_refused(CONFIG_AT_END, setup, 8, false, "offset 0x%" PRIx64 ": " PATH
                        "/vfio/config/end: field value out of range (end flag incorrect "
                        "0xffffffffef100003)", CONFIG_AT_END);
  /* DEV_CONFIG_STATE where the first PART's DEV_DATA_STATE was. */
  const uint8_t config[8] = {0xff, 0xff, 0xff, 0xff, 0xef, 0x10, 0x00, 0x02};
  assert_edit_refused(0, config, sizeof(config), MIG_ERR_BAD_VALUE, PATH "/vfio/flag", 0);
}
END_TEST

START_TEST(mig_vfio_config_read_only_bytes)
{
  /* Goal: the vendor id (an EQUAL field), a read-only header byte and the MSI capability id
   * differ from the destination's: each is refused naming its own byte. */
  const uint8_t vendor[2] = {0x1b, 0x37};
  assert_config_refused(CONFIG_AT_VENDOR, vendor, 2, false, "offset 0x%" PRIx64 ": " PATH
                        "/vfio/config/pci/vendor_id: field differs from the destination's value "
                        "(read 0x1b37 expected 0x1b36)", CONFIG_AT_VENDOR);
  const uint8_t revision[1] = {0x02};
  assert_config_refused(CONFIG_AT_BYTES + PCI_REVISION_ID, revision, 1, false,
                        "offset 0x%" PRIx64 ": " PATH "/vfio/config/pci/config: field value out "
                        "of range (read-only config byte 0x08 is 0x02, here 0x01 (bad config "
                        "data))", CONFIG_AT_BYTES + PCI_REVISION_ID);
  const uint8_t cap[1] = {0x11};
  assert_config_refused(CONFIG_AT_BYTES + PCI_CAPS_START, cap, 1, false,
                        "offset 0x%" PRIx64 ": " PATH "/vfio/config/pci/config: field value out "
                        "of range (read-only config byte 0x40 is 0x11, here 0x05 (bad config "
                        "data))", CONFIG_AT_BYTES + PCI_CAPS_START);
}
END_TEST

START_TEST(mig_vfio_config_truncated)
{
  /* Goal: a stream cut inside the flag, the config or the end flag names the config part. */
  assert_config_refused(4, NULL, 0, true, "offset 0x%" PRIx64 ": " PATH "/vfio/config/flag: "
                        "stream ended early (needed 8 bytes, 4 left)", 0);
  assert_config_refused(CONFIG_AT_BYTES + 100, NULL, 0, true, "offset 0x%" PRIx64 ": " PATH
                        "/vfio/config/pci/config: stream ended early (needed 256 bytes, 100 left)",
                        CONFIG_AT_BYTES);
  assert_config_refused(CONFIG_AT_END + 3, NULL, 0, true, "offset 0x%" PRIx64 ": " PATH
                        "/vfio/config/end: stream ended early (needed 8 bytes, 3 left)",
                        CONFIG_AT_END);
}
END_TEST

/* What the destination sent up the return path, in order; drop_type's messages are dropped. */
struct rp_log {
  uint16_t types[16];
  uint32_t values[16];
  uint32_t count;
  uint16_t drop_type;                /* 0: keep all */
  bool msi_program;                  /* the guest enables MSI mid-migration */
  struct machine *source;
  uint64_t msi_written_ns;           /* when it did */
  struct sim_event msi_event;
};

static bool rp_log_filter(void *context, uint16_t type, uint32_t value)
{
  struct rp_log *log = context;
  if (log->count < SIM_ARRAY_COUNT(log->types)) {
    log->types[log->count] = type;
    log->values[log->count] = value;
    log->count++;
  }
  return type != log->drop_type;
}

/* 20 ms into the migration the guest programs an MSI vector and enables MSI. */
static void msi_program_event(struct sim *sim, struct sim_event *event)
{
  struct rp_log *log = SIM_CONTAINER_OF(event, struct rp_log, msi_event);
  struct pci_function *fn = &machine_vfiodev(log->source, 0)->pci;
  pci_config_write_default(fn, fn->msi_offset + 4, 0xfee01000u, 4);
  pci_config_write_default(fn, fn->msi_offset + 8, 0, 4);
  pci_config_write_default(fn, fn->msi_offset + 12, 0x4041u, 2);
  pci_config_write_default(fn, fn->msi_offset + 2, PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_ENABLE, 2);
  log->msi_written_ns = sim_now_ns(sim);
}

/* Runs a precopy with switchover-ack; garbage, when given, goes up the return path first. */
static struct mig_precopy_stats precopy_run_logged(const uint8_t *garbage, size_t garbage_bytes,
                                                   bool *source_running, uint64_t *dest_digest,
                                                   uint64_t *source_digest, struct rp_log *log,
                                                   uint8_t *dest_config)
{
  struct sim_options options = {.seed = 5};
  struct sim *sim = sim_create(&options);
  struct machine_config config = vfio_config();
  /* 100 ms for all */
  vfiodev_props(&config.devices[0])->load_bytes_per_s = 64 * RAM_PAGE_BYTES * 10;
  struct machine *source = machine_create(sim, &config, 0);
  struct machine *dest = machine_create_peer(sim, &config, 1, source);
  machine_boot(source);
  struct link_options link_options = {.bandwidth_bytes_per_s = 64 << 20, .latency_ns = 100000,
                                      .window_bytes = 1 << 20, .packet_bytes_max = 1 << 16};
  struct link *forward = link_create(sim, &link_options, "migration");
  struct link *reverse = link_create(sim, &link_options, "return-path");
  struct mig_precopy_params params;
  mig_precopy_params_default(&params, 16);
  params.qmp.values[MIG_PARAM_DOWNTIME_LIMIT] = 30;
  params.qmp.values[MIG_PARAM_MAX_BANDWIDTH] = 0; /* the link alone limits */
  params.caps.on[MIG_CAP_RETURN_PATH] = true;
  params.caps.on[MIG_CAP_SWITCHOVER_ACK] = true;
  struct mig_precopy_hooks hooks = {0};
  struct mig_precopy *precopy = mig_precopy_create(sim, source, dest, forward, &params, &hooks);
  mig_precopy_return_path_set(precopy, reverse);
  if (log != NULL) mig_precopy_rp_filter_set(precopy, rp_log_filter, log);
  if (log != NULL && log->msi_program) {
    log->source = source;
    sim_event_init(&log->msi_event, msi_program_event, "test.msi");
    sim_event_schedule_at(sim, &log->msi_event, sim_now_ns(sim) + 20 * SIM_NS_PER_MS);
  }
  if (garbage != NULL) ck_assert_uint_eq(link_send(reverse, garbage, garbage_bytes), garbage_bytes);
  mig_precopy_start(precopy);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  struct mig_precopy_stats stats = *mig_precopy_stats(precopy);
  if (dest_config != NULL) {
    ck_assert_mem_eq(machine_vfiodev(dest, 0)->pci.config, machine_vfiodev(source, 0)->pci.config,
                     PCI_CONFIG_BYTES);
    memcpy(dest_config, machine_vfiodev(dest, 0)->pci.config, PCI_CONFIG_BYTES);
  }
  *source_running = machine_running(source);
  *dest_digest = vfiodev_generations_digest(machine_vfiodev(dest, 0));
  *source_digest = vfiodev_generations_digest(machine_vfiodev(source, 0));
  sim_destroy(sim);
  return stats;
}

static struct mig_precopy_stats precopy_run(const uint8_t *garbage, size_t garbage_bytes,
                                            bool *source_running, uint64_t *dest_digest,
                                            uint64_t *source_digest)
{
  return precopy_run_logged(garbage, garbage_bytes, source_running, dest_digest, source_digest,
                            NULL, NULL);
}

START_TEST(mig_vfio_precopy_waits_for_ack)
{
  /* Goal: the source stops only after SWITCHOVER_ACK, which follows the 100 ms initial load. */
  bool running;
  uint64_t dest_digest, source_digest;
  struct mig_precopy_stats stats = precopy_run(NULL, 0, &running, &dest_digest, &source_digest);
  ck_assert_int_eq(stats.status, MIG_STATE_COMPLETED);
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
  ck_assert_int_eq(stats.status, MIG_STATE_FAILED);
  ck_assert(stats.source_failed);
  ck_assert(running);
  char text[320];
  mig_error_format(&stats.error, text, sizeof(text));
  ck_assert_str_eq(text, "offset 0x0: return-path/type: unknown or malformed command "
                   "(type 9 (valid 1..7))");
  ck_assert_uint_eq(stats.switchover_ack_ns, 0);
  ck_assert_uint_eq(stats.stop_ns, 0);
  /* An ACK with a payload: mig_rp_read reads the next 4 bytes (the PONG's header) into it. */
  const uint8_t long_ack[4] = {0, 7, 0, 4};
  stats = precopy_run(long_ack, sizeof(long_ack), &running, &dest_digest, &source_digest);
  mig_error_format(&stats.error, text, sizeof(text));
  ck_assert_str_eq(text, "offset 0x2: return-path/SWITCHOVER_ACK/length: field value out of "
                   "range (length 4, expected 0)");
  /* A PONG that echoes nothing the source sent, at return-path offset 0. */
  const uint8_t pong[8] = {0, 2, 0, 4, 0, 0, 0, 7};
  stats = precopy_run(pong, sizeof(pong), &running, &dest_digest, &source_digest);
  ck_assert(running);
  mig_error_format(&stats.error, text, sizeof(text));
  ck_assert_str_eq(text, "offset 0x0: return-path/type: unknown or malformed command "
                   "(PONG does not echo PING 1 (value 0x7))");
}
END_TEST

START_TEST(mig_vfio_precopy_return_path_in_order)
{
  /* Goal: the destination sends PONG(1), SWITCHOVER_ACK, SHUT(0) in that order, and the
   * source receives each (PONG before the ack, SHUT after the stop). */
  bool running;
  uint64_t dest_digest, source_digest;
  struct rp_log log = {0};
  struct mig_precopy_stats stats = precopy_run_logged(NULL, 0, &running, &dest_digest,
                                                      &source_digest, &log, NULL);
  ck_assert_int_eq(stats.status, MIG_STATE_COMPLETED);
  ck_assert_uint_eq(log.count, 3);
  ck_assert_uint_eq(log.types[0], MIG_RP_PONG);
  ck_assert_uint_eq(log.values[0], 1);
  ck_assert_uint_eq(log.types[1], MIG_RP_SWITCHOVER_ACK);
  ck_assert_uint_eq(log.types[2], MIG_RP_SHUT);
  ck_assert_uint_eq(log.values[2], 0);
  ck_assert_uint_gt(stats.pong_ns, stats.start_ns);
  ck_assert_uint_lt(stats.pong_ns, stats.switchover_ack_ns);
  ck_assert_uint_gt(stats.shut_ns, stats.stop_ns);
  ck_assert_uint_eq(dest_digest, source_digest);
}
END_TEST

START_TEST(mig_vfio_precopy_missing_pong_detected)
{
  /* Goal: a destination that never answers PING(1) keeps the source from stopping; after
   * 5 s the source fails the migration with a located error and runs on. */
  bool running;
  uint64_t dest_digest, source_digest;
  struct rp_log log = {.drop_type = MIG_RP_PONG};
  struct mig_precopy_stats stats = precopy_run_logged(NULL, 0, &running, &dest_digest,
                                                      &source_digest, &log, NULL);
  ck_assert_int_eq(stats.status, MIG_STATE_FAILED);
  ck_assert(stats.source_failed);
  ck_assert(running);
  ck_assert_uint_eq(stats.stop_ns, 0);
  ck_assert_uint_eq(stats.pong_ns, 0);
  ck_assert_uint_gt(stats.switchover_ack_ns, 0); /* the ack alone does not suffice */
  char text[320];
  mig_error_format(&stats.error, text, sizeof(text));
  ck_assert_str_eq(text, "offset 0x4: return-path/PONG: channel error (no PONG for PING 1 after "
                   "5001 ms: the destination is not answering)");
  ck_assert_uint_ge(stats.end_ns - stats.start_ns, 5 * SIM_NS_PER_S);
}
END_TEST

START_TEST(mig_vfio_precopy_config_changed_arrives)
{
  /* Goal: the guest enables MSI and programs a vector 20 ms into precopy (after setup, long
   * before the stop); the destination's config equals the source's at the stop, MSI on. */
  bool running;
  uint64_t dest_digest, source_digest;
  struct rp_log log = {.msi_program = true};
  uint8_t config[PCI_CONFIG_BYTES];
  struct mig_precopy_stats stats = precopy_run_logged(NULL, 0, &running, &dest_digest,
                                                      &source_digest, &log, config);
  ck_assert_int_eq(stats.status, MIG_STATE_COMPLETED);
  ck_assert_uint_gt(log.msi_written_ns, stats.setup_end_ns);
  ck_assert_uint_lt(log.msi_written_ns, stats.stop_ns);
  uint32_t msi = 0x40; /* the only capability, first after the header */
  ck_assert_uint_eq(config[PCI_CAPABILITY_LIST], msi);
  ck_assert_uint_eq(config[msi + 2] & PCI_MSI_FLAGS_ENABLE, PCI_MSI_FLAGS_ENABLE);
  ck_assert_uint_eq(config[msi + 4] | (uint32_t)config[msi + 5] << 8, 0x1000);
  ck_assert_uint_eq(config[msi + 7], 0xfe);
  ck_assert_uint_eq(config[msi + 12] | (uint32_t)config[msi + 13] << 8, 0x4041);
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
  tcase_add_test(core, mig_vfio_precopy_return_path_in_order);
  tcase_add_test(core, mig_vfio_precopy_missing_pong_detected);
  tcase_add_test(core, mig_vfio_precopy_config_changed_arrives);
  tcase_add_test(core, mig_vfio_config_in_full_section);
  tcase_add_test(core, mig_vfio_config_missing_or_twice);
  suite_add_tcase(suite, core);
  TCase *corrupt = tcase_create("corrupt");
  tcase_add_test(corrupt, mig_vfio_load_bad_flag);
  tcase_add_test(corrupt, mig_vfio_load_bad_size);
  tcase_add_test(corrupt, mig_vfio_load_bad_page);
  tcase_add_test(corrupt, mig_vfio_load_bad_bytes);
  tcase_add_test(corrupt, mig_vfio_config_bad_flags);
  tcase_add_test(corrupt, mig_vfio_config_read_only_bytes);
  tcase_add_test(corrupt, mig_vfio_config_truncated);
  tcase_add_test(corrupt, mig_vfio_load_truncated_everywhere);
  tcase_add_test(corrupt, mig_vfio_load_every_byte_flip_in_headers);
  tcase_set_timeout(corrupt, 60);
  suite_add_tcase(suite, corrupt);
  return suite;
}
