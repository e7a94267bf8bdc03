/*
 * mig_live_test.c: the live-section handler set (mig_live.h) over machines
 * with two vfiodevs: one handler per live device in configuration order,
 * section ids from the base, the loader's idstrs, switchover-ack asked per
 * device, cpr_check naming the refusing handler, and a whole set-driven
 * stream that the loader accepts.
 */
#include "sim_base.h"

#include "machine.h"
#include "mig_format.h"
#include "mig_live.h"
#include "mig_load.h"
#include "mig_ram.h"
#include "mig_save.h"
#include "sim_check.h"
#include "testdev.h"
#include "vfiodev.h"

#include <jansson.h>

/* A testdev between two vfiodevs: live sections follow configuration order. */
static struct machine_config live_config(void)
{
  struct machine_config config = {.type = "migsim-1.0", .ram_count = 1, .device_count = 3};
  snprintf(config.ram[0].name, sizeof(config.ram[0].name), "pc.ram");
  config.ram[0].bytes = 64 * RAM_PAGE_BYTES;
  const uint8_t slots[3] = {6, 3, 5};
  const struct dev_class *classes[3] = {&vfiodev_class, &testdev_class, &vfiodev_class};
  for (uint32_t i = 0; i < 3; i++) {
    dev_config_init(&config.devices[i], classes[i]);
    config.devices[i].slot = slots[i];
  }
  for (uint32_t i = 0; i < 3; i += 2) {
    struct vfiodev_config *vfio = vfiodev_props(&config.devices[i]);
    vfio->state_bytes = 8 * RAM_PAGE_BYTES;
    vfio->dirty_pages_per_s = 0;
  }
  vfiodev_props(&config.devices[2])->quirk_ignore_ack = true;
  return config;
}

struct counts {
  uint64_t data_bytes;
  uint32_t init_data_count;
};

static void count_data(void *context, uint32_t load_index, uint64_t bytes, uint64_t bytes_per_s)
{
  (void)load_index;
  ck_assert_uint_eq(bytes_per_s, 0); /* the destination devices' property */
  ((struct counts *)context)->data_bytes += bytes;
}

static void count_init(void *context, uint32_t load_index)
{
  (void)load_index;
  ((struct counts *)context)->init_data_count++; }

START_TEST(mig_live_set_pairs_devices_in_order)
{
  /* Goal: handlers follow configuration order, ids follow the base, ack and cpr per device. */
  struct sim_options options = {.seed = 4};
  struct sim *sim = sim_create(&options);
  struct machine_config config = live_config();
  struct machine *source = machine_create(sim, &config, 0);
  vfiodev_props(&config.devices[2])->container = VFIODEV_CONTAINER_LEGACY;
  vfiodev_props(&config.devices[2])->mdev = true;
  struct machine *dest = machine_create(sim, &config, 1);
  ck_assert_uint_eq(machine_live_count(source), 2);
  struct counts counts = {0};
  struct mig_live_params params = {.section_base = 40, .switchover_ack = true,
                                   .hooks = {&counts, count_data, count_init}};
  struct mig_live_set set;
  mig_live_set_init(&set, sim, source, dest, &params);
  ck_assert_uint_eq(mig_live_set_count(&set), 2);
  ck_assert_str_eq(mig_live_set_loads(&set)[0].idstr, "0000:00:06.0/vfio");
  ck_assert_str_eq(mig_live_set_loads(&set)[1].idstr, "0000:00:05.0/vfio");
  ck_assert(mig_live_set_wants_ack(&set)); /* the first asks; the second has ignore-ack */
  struct mig_error error;
  ck_assert_uint_eq(mig_live_set_cpr_check(&set, &error), 2); /* the source's are iommufd */
  sim_destroy(sim);
  /* Swapped: the source's second device is the legacy mdev, and it is the one named. */
  sim = sim_create(&options);
  source = machine_create(sim, &config, 0);
  dest = machine_create(sim, &config, 1);
  mig_live_set_init(&set, sim, source, dest, &params);
  ck_assert_uint_eq(mig_live_set_cpr_check(&set, &error), 1);
  ck_assert_int_eq(error.code, MIG_ERR_HOOK);
  ck_assert_str_eq(error.path, "0000:00:05.0/vfio");
  ck_assert_ptr_nonnull(strstr(error.detail, "legacy VFIO container"));
  sim_destroy(sim);
}
END_TEST

START_TEST(mig_live_set_pairs_by_path_across_releases)
{
  /* Goal: a live section on one side only (another release) gets a one-sided handler. */
  struct sim_options options = {.seed = 4};
  struct sim *sim = sim_create(&options);
  struct machine_config with = live_config();
  struct machine_config without = with;
  without.devices[0] = with.devices[1];            /* no vfiodev at 00:06.0 */
  without.devices[0].slot = 6;
  struct machine *source = machine_create(sim, &with, 0);
  struct machine *dest = machine_create(sim, &without, 1);
  struct counts counts = {0};
  struct mig_live_params params = {.section_base = 40, .hooks = {&counts, count_data, count_init}};
  struct mig_live_set set;
  mig_live_set_init(&set, sim, source, dest, &params);
  ck_assert_uint_eq(mig_live_set_count(&set), 2);
  ck_assert_uint_eq(mig_live_set_load_count(&set), 1);    /* only 00:05.0 loads */
  ck_assert_uint_eq(mig_live_set_paired_count(&set), 1);
  ck_assert_str_eq(mig_live_set_loads(&set)[0].idstr, "0000:00:05.0/vfio");
  mig_live_set_init(&set, sim, dest, source, &params);     /* the other way round */
  ck_assert_uint_eq(mig_live_set_count(&set), 2);
  ck_assert_uint_eq(mig_live_set_load_count(&set), 2);
  ck_assert_uint_eq(mig_live_set_paired_count(&set), 1);
  ck_assert_str_eq(mig_live_set_loads(&set)[0].idstr, "0000:00:05.0/vfio"); /* paired first */
  ck_assert_str_eq(mig_live_set_loads(&set)[1].idstr, "0000:00:06.0/vfio");
  sim_destroy(sim);
}
END_TEST

static enum mig_err membuf_sink(void *context, const uint8_t *bytes, size_t count)
{
  return mig_membuf_write(context, bytes, count);
}

START_TEST(mig_live_set_stream_loads)
{
  /*
   * Goal: a stream written only through the set (setup, iterate, complete,
   * save_state, in the precopy order) loads through the set's loader
   * entries, and every data byte the source wrote reached the hooks.
   */
  struct sim_options options = {.seed = 4};
  struct sim *sim = sim_create(&options);
  struct machine_config config = live_config();
  struct machine *source = machine_create(sim, &config, 0);
  struct machine *dest = machine_create(sim, &config, 1);
  machine_boot(source);
  struct counts counts = {0};
  uint32_t base = MIG_SAVE_RAM_SECTION_ID + 1 + machine_vmstate_count(source);
  struct mig_live_params params = {.section_base = base, .hooks = {&counts, count_data,
                                                                   count_init}};
  struct mig_live_set set;
  mig_live_set_init(&set, sim, source, dest, &params);
  struct mig_membuf stream;
  mig_membuf_init(&stream, 1 << 22);
  uint8_t buffer[4096];
  struct mig_writer writer;
  mig_writer_init(&writer, buffer, sizeof(buffer), membuf_sink, &stream);
  mig_save_header(&writer);
  mig_save_configuration(&writer, machine_type(source));
  struct ram_block *blocks[1] = {machine_ram(source, 0)};
  struct mig_ram_source ram;
  mig_ram_source_init(&ram, sim, blocks, 1);
  mig_save_section_header(&writer, MIG_SECTION_START, MIG_SAVE_RAM_SECTION_ID, MIG_RAM_IDSTR, 0,
                          MIG_RAM_SECTION_VERSION);
  mig_ram_save_setup(&ram, &writer);
  mig_save_footer(&writer, MIG_SAVE_RAM_SECTION_ID);
  mig_live_set_save_setup(&set, &writer);
  ck_assert_uint_eq(mig_live_set_save_pending(&set), 16 * MIG_VFIO_RECORD_BYTES);
  ck_assert_uint_eq(mig_live_set_save_iterate(&set, &writer, 3), 2);
  machine_stop(source);
  mig_save_section_short_header(&writer, MIG_SECTION_END, MIG_SAVE_RAM_SECTION_ID);
  mig_ram_save_complete(&ram, &writer);
  mig_save_footer(&writer, MIG_SAVE_RAM_SECTION_ID);
  mig_live_set_save_complete(&set, &writer);
  ck_assert_uint_eq(mig_live_set_save_pending(&set), 0);
  json_t *devices = json_array();
  mig_live_set_save_state(&set, &writer, devices);
  ck_assert_int_eq(mig_save_devices_checked(&writer, source, devices, NULL), MIG_OK);
  ck_assert_int_eq(mig_save_finish(&writer, devices), MIG_OK);
  json_decref(devices);
  mig_live_set_save_cleanup(&set);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, stream.bytes, stream.count);
  struct mig_load_options load = {.lives = mig_live_set_loads(&set),
                                  .live_count = mig_live_set_load_count(&set)};
  struct mig_load_stats stats;
  enum mig_err err = mig_load_machine_with(&reader, dest, &load, &stats);
  ck_assert_msg(err == MIG_OK, "%s at %" PRIu64 ": %s", mig_reader_error(&reader)->path,
                mig_reader_error(&reader)->offset, mig_reader_error(&reader)->detail);
  mig_live_set_load_cleanup(&set);
  ck_assert_uint_eq(counts.data_bytes, mig_live_set_sent_bytes(&set));
  ck_assert_uint_eq(counts.data_bytes, 16 * MIG_VFIO_RECORD_BYTES);
  ck_assert_uint_eq(counts.init_data_count, 0); /* switchover-ack off */
  mig_membuf_deinit(&stream);
  sim_destroy(sim);
}
END_TEST

Suite *mig_live_suite(void)
{
  Suite *suite = suite_create("mig_live");
  TCase *core = tcase_create("core");
  tcase_add_test(core, mig_live_set_pairs_devices_in_order);
  tcase_add_test(core, mig_live_set_pairs_by_path_across_releases);
  tcase_add_test(core, mig_live_set_stream_loads);
  suite_add_tcase(suite, core);
  return suite;
}
