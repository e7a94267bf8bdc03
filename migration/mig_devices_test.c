/*
 * mig_devices_test.c: PCI devices through a whole stream: a DMA transfer cut
 * by migration, topology and property mismatches refused with the device
 * named (seed 000), and a device's save-time self-check failing the save
 * cleanly (seed 003).
 */
#include "sim_base.h"

#include "blockdev.h"
#include "dmadev.h"
#include "machine.h"
#include "mig_format.h"
#include "mig_load.h"
#include "mig_ram.h"
#include "mig_save.h"
#include "pci.h"
#include "sim_check.h"

#define SWITCH_NS (25 * SIM_NS_PER_MS + 300 * SIM_NS_PER_US)

/* vCPU on pc.ram, dmadev at 00:04.0 and blockdev at 00:05.0 driven in dma.ram. */
static struct machine_config device_config(void)
{
  struct machine_config config = {.type = "migsim-1.0", .ram_count = 2, .device_count = 2};
  snprintf(config.ram[0].name, sizeof(config.ram[0].name), "pc.ram");
  config.ram[0].bytes = 32 * RAM_PAGE_BYTES;
  snprintf(config.ram[1].name, sizeof(config.ram[1].name), "dma.ram");
  config.ram[1].bytes = 64 * RAM_PAGE_BYTES;
  snprintf(config.devices[0].driver, sizeof(config.devices[0].driver), "dmadev");
  config.devices[0].slot = 4;
  *dmadev_props(&config.devices[0]) = (struct dmadev_config){.ring_entries = 4,
                                                 .bandwidth_bytes_per_s = 4096000};
  snprintf(config.devices[1].driver, sizeof(config.devices[1].driver), "blockdev");
  config.devices[1].slot = 5;
  *blockdev_props(&config.devices[1]) = (struct blockdev_config){.sectors_count = 32};
  config.vcpu = (struct vcpu_config){.pages_per_s = 2000, .duration_ns = 60 * SIM_NS_PER_MS,
                                     .fill_pages = 4};
  config.driver = (struct devdrv_config){.period_ns = 2 * SIM_NS_PER_MS,
                                         .duration_ns = 60 * SIM_NS_PER_MS,
                                         .transfer_bytes_max = 3 * RAM_PAGE_BYTES};
  return config;
}

static enum mig_err membuf_sink(void *context, const uint8_t *bytes, size_t count)
{
  return mig_membuf_write(context, bytes, count);
}

/* Saves a stopped machine whole (RAM in one END section, then the devices). */
static enum mig_err save_machine(struct sim *sim, struct machine *source, struct mig_membuf *out,
                                 struct mig_error *error)
{
  mig_membuf_init(out, 1 << 24);
  uint8_t buffer[4096];
  struct mig_writer writer;
  mig_writer_init(&writer, buffer, sizeof(buffer), membuf_sink, out);
  struct mig_ram_source ram;
  struct ram_block *blocks[RAM_BLOCKS_MAX];
  for (uint32_t i = 0; i < machine_ram_count(source); i++) blocks[i] = machine_ram(source, i);
  mig_ram_source_init(&ram, sim, blocks, machine_ram_count(source));
  mig_save_header(&writer);
  mig_save_configuration(&writer, machine_type(source));
  mig_save_section_header(&writer, MIG_SECTION_START, 0, "ram", 0, 4);
  mig_ram_save_setup(&ram, &writer);
  mig_save_footer(&writer, 0);
  mig_save_section_short_header(&writer, MIG_SECTION_END, 0);
  mig_ram_save_complete(&ram, &writer);
  mig_save_footer(&writer, 0);
  json_t *devices = json_array();
  enum mig_err err = mig_save_devices_checked(&writer, source, devices, error);
  if (err == MIG_OK) err = mig_save_finish(&writer, devices);
  json_decref(devices);
  return err;
}

struct migration {
  const struct machine_config *config;
  struct machine *source;
  struct machine *dest;
  struct sim_event event;
  uint32_t busy_at_switch;           /* the engine was mid-descriptor */
  uint32_t done_bytes_at_switch;
};

/* Stop, save, load into a fresh destination on the same image, resume it: all at once. */
static void migrate_fire(struct sim *sim, struct sim_event *event)
{
  struct migration *m = SIM_CONTAINER_OF(event, struct migration, event);
  machine_stop(m->source);
  const struct dmadev *dev = machine_dmadev(m->source, 0);
  m->busy_at_switch = dev->status & DMADEV_STATUS_BUSY;
  m->done_bytes_at_switch = dev->cur_done_bytes;
  struct mig_membuf stream;
  struct mig_error error;
  ck_assert_int_eq(save_machine(sim, m->source, &stream, &error), MIG_OK);
  m->dest = machine_create_peer(sim, m->config, 1, m->source);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, stream.bytes, stream.count);
  struct mig_load_stats stats;
  ck_assert_int_eq(mig_load_machine(&reader, m->dest, &stats), MIG_OK);
  ck_assert_uint_eq(stats.devices_count, machine_vmstate_count(m->dest));
  mig_membuf_deinit(&stream);
  machine_resume(m->dest);
}

struct outcome {
  struct devdrv driver;              /* the guest's result */
  uint64_t completed_count;
  uint64_t copied_bytes;
  bool consistent;                   /* the engine's self-check holds */
  uint64_t ram_hash;                 /* dma.ram */
  uint64_t image_hash;
};

static struct outcome outcome_of(const struct machine *machine)
{
  struct outcome outcome = {.driver = *machine_devdrv(machine)};
  struct dmadev *dev = machine_dmadev(machine, 0);
  outcome.completed_count = dev->completed_count;
  outcome.copied_bytes = dev->copied_bytes;
  outcome.consistent = dmadev_self_check(dev);
  outcome.ram_hash = ram_block_hash(machine_ram(machine, 1));
  outcome.image_hash = blockdev_image_hash(machine_blockdev(machine, 0)->image);
  return outcome;
}

START_TEST(mig_devices_dma_cut_mid_transfer)
{
  /* Migrating while a descriptor is half copied ends exactly as the unmigrated run does. */
  struct machine_config config = device_config();
  char why[200];
  ck_assert_msg(machine_config_check(&config, why, sizeof(why)), "%s", why);
  struct sim_options options = {.seed = 21};
  struct sim *sim = sim_create(&options);
  struct machine *reference = machine_create(sim, &config, 0);
  machine_boot(reference);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  struct outcome expected = outcome_of(reference);
  sim_destroy(sim);

  sim = sim_create(&options);
  struct migration m = {.config = &config};
  m.source = machine_create(sim, &config, 0);
  machine_boot(m.source);
  sim_event_init(&m.event, migrate_fire, "test.migrate");
  sim_event_schedule_at(sim, &m.event, SWITCH_NS);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert(m.busy_at_switch);
  ck_assert_uint_gt(m.done_bytes_at_switch, 0);
  ck_assert(machine_workload_done(m.dest));
  struct outcome got = outcome_of(m.dest);
  ck_assert_uint_gt(expected.driver.reaped_count, 10);
  ck_assert_uint_gt(expected.driver.block_writes_count, 20);
  ck_assert_uint_eq(got.driver.dma_checksum, expected.driver.dma_checksum);
  ck_assert_uint_eq(got.driver.reaped_count, expected.driver.reaped_count);
  ck_assert_uint_eq(got.driver.block_checksum, expected.driver.block_checksum);
  ck_assert_uint_eq(got.completed_count, expected.completed_count);
  ck_assert_uint_eq(got.copied_bytes, expected.copied_bytes);
  ck_assert(expected.consistent);
  ck_assert(got.consistent);
  ck_assert_uint_eq(got.ram_hash, expected.ram_hash);
  ck_assert_uint_eq(got.image_hash, expected.image_hash);
  ck_assert_uint_eq(got.driver.block_refused_count, 0);
  char image_why[200];
  ck_assert(machine_invariants_check(m.dest, image_why, sizeof(image_why)));
  sim_destroy(sim);
}
END_TEST

/* Saves device_config() after 10 ms and loads it into a destination built from dest_config. */
static enum mig_err load_into(const struct machine_config *dest_config, struct mig_error *error)
{
  struct sim_options options = {.seed = 4};
  struct sim *sim = sim_create(&options);
  struct machine_config config = device_config();
  config.vcpu.duration_ns = config.driver.duration_ns = 10 * SIM_NS_PER_MS;
  struct machine *source = machine_create(sim, &config, 0);
  machine_boot(source);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  machine_stop(source);
  struct mig_membuf stream;
  ck_assert_int_eq(save_machine(sim, source, &stream, NULL), MIG_OK);
  struct machine *dest = machine_create_peer(sim, dest_config, 1, source);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, stream.bytes, stream.count);
  struct mig_load_stats stats;
  enum mig_err err = mig_load_machine(&reader, dest, &stats);
  *error = *mig_reader_error(&reader);
  mig_membuf_deinit(&stream);
  sim_destroy(sim);
  return err;
}

static void assert_refused(const struct machine_config *dest_config, enum mig_err code,
                           const char *path, const char *detail)
{
  struct mig_error error;
  ck_assert_int_eq(load_into(dest_config, &error), code);
  ck_assert_str_eq(error.path, path);
  ck_assert_str_eq(error.detail, detail);
}

START_TEST(mig_devices_same_topology_loads)
{
  /* The control case for the mismatches below: the same configuration loads. */
  struct machine_config config = device_config();
  struct mig_error error;
  enum mig_err err = load_into(&config, &error);
  ck_assert_msg(err == MIG_OK, "%s: %s", error.path, error.detail);
}
END_TEST

START_TEST(mig_devices_other_bdf_refused)
{
  /* The destination placed the engine at 00:06.0: the source's 00:04.0 is unknown there. */
  struct machine_config config = device_config();
  config.devices[0].slot = 6;
  assert_refused(&config, MIG_ERR_UNKNOWN_SECTION, "0000:00:04.0/dmadev",
                 "instance 0 in a FULL section");
}
END_TEST

START_TEST(mig_devices_other_type_refused)
{
  /* A testdev where the source has the engine. */
  struct machine_config config = device_config();
  snprintf(config.devices[0].driver, sizeof(config.devices[0].driver), "testdev");
  assert_refused(&config, MIG_ERR_UNKNOWN_SECTION, "0000:00:04.0/dmadev",
                 "instance 0 in a FULL section");
}
END_TEST

START_TEST(mig_devices_missing_on_destination_refused)
{
  /* The destination has no block device. */
  struct machine_config config = device_config();
  config.device_count = 1;
  assert_refused(&config, MIG_ERR_UNKNOWN_SECTION, "0000:00:05.0/blockdev",
                 "instance 0 in a FULL section");
}
END_TEST

START_TEST(mig_devices_missing_on_source_refused)
{
  /* The destination has a second block device the stream never mentions. */
  struct machine_config config = device_config();
  config.devices[2] = config.devices[1];
  config.devices[2].slot = 7;
  config.device_count = 3;
  assert_refused(&config, MIG_ERR_UNKNOWN_SECTION, "0000:00:07.0/blockdev",
                 "device missing from the stream (not on the source?)");
}
END_TEST

START_TEST(mig_devices_other_property_refused)
{
  /* A larger ring, a larger image: each refused at its field, device named. */
  struct machine_config config = device_config();
  dmadev_props(&config.devices[0])->ring_entries = 16;
  config.driver.transfer_bytes_max = RAM_PAGE_BYTES;
  assert_refused(&config, MIG_ERR_EQUAL_MISMATCH, "0000:00:04.0/dmadev/ring_entries",
                 "read 0x4 expected 0x10");
  config = device_config();
  blockdev_props(&config.devices[1])->sectors_count = 64;
  assert_refused(&config, MIG_ERR_EQUAL_MISMATCH, "0000:00:05.0/blockdev/sectors_count",
                 "read 0x20 expected 0x40");
  config = device_config();
  dmadev_props(&config.devices[0])->bandwidth_bytes_per_s = 4096001;
  assert_refused(&config, MIG_ERR_EQUAL_MISMATCH,
                 "0000:00:04.0/dmadev/bandwidth_bytes_per_s", "read 0x3e8000 expected 0x3e8001");
}
END_TEST

START_TEST(mig_devices_self_check_fails_save)
{
  /* A device that finds itself inconsistent refuses its save; the error names it and why. */
  struct sim_options options = {.seed = 4};
  struct sim *sim = sim_create(&options);
  struct machine_config config = device_config();
  dmadev_props(&config.devices[0])->quirk_overrun = true;
  config.vcpu.duration_ns = config.driver.duration_ns = 30 * SIM_NS_PER_MS;
  struct machine *source = machine_create(sim, &config, 0);
  machine_boot(source);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  machine_stop(source);
  struct mig_membuf stream;
  struct mig_error error;
  ck_assert_int_eq(save_machine(sim, source, &stream, &error), MIG_ERR_HOOK);
  ck_assert_str_eq(error.path, "0000:00:04.0/dmadev");
  ck_assert_ptr_nonnull(strstr(error.detail, "save refused by the device: copied "));
  ck_assert_uint_gt(error.offset, 0);
  ck_assert_uint_ne(machine_dmadev(source, 0)->status & DMADEV_STATUS_ERROR, 0);
  /* The machine itself runs on. */
  machine_resume(source);
  ck_assert(machine_running(source));
  mig_membuf_deinit(&stream);
  sim_destroy(sim);
}
END_TEST

/* Offset of needle in the stream, or count when absent. */
static size_t stream_find(const struct mig_membuf *stream, const char *needle)
{
  size_t needle_bytes = strlen(needle);
  for (size_t i = 0; i + needle_bytes <= stream->count; i++) {
    if (memcmp(stream->bytes + i, needle, needle_bytes) == 0) return i;
  }
  return stream->count;
}

struct flipped_load {
  const struct mig_membuf *stream;
  const struct machine_config *config;
  struct sim_event event;
  enum mig_err err;
  struct mig_error error;
};

/* Loads the (altered) stream into a fresh destination and, when it loads, resumes it. */
static void flipped_load_fire(struct sim *sim, struct sim_event *event)
{
  struct flipped_load *load = SIM_CONTAINER_OF(event, struct flipped_load, event);
  struct machine *dest = machine_create(sim, load->config, 1);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, load->stream->bytes, load->stream->count);
  struct mig_load_stats stats;
  load->err = mig_load_machine(&reader, dest, &stats);
  load->error = *mig_reader_error(&reader);
  if (load->err == MIG_OK) machine_resume(dest);
}

START_TEST(mig_devices_every_byte_flip_is_survived)
{
  /*
   * Each byte of the dmadev, blockdev and devdrv sections flipped in turn:
   * the load fails with a typed error naming a section, or it succeeds and
   * the destination then runs 50 ms of guest time on that state; never a crash.
   */
  struct sim_options options = {.seed = 21, .time_ns_max = SWITCH_NS};
  struct sim *sim = sim_create(&options);
  struct machine_config config = device_config();
  struct machine *source = machine_create(sim, &config, 0);
  machine_boot(source);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_TIME_MAX);
  machine_stop(source);
  ck_assert_uint_ne(machine_dmadev(source, 0)->status & DMADEV_STATUS_BUSY, 0);
  struct mig_membuf stream;
  ck_assert_int_eq(save_machine(sim, source, &stream, NULL), MIG_OK);
  sim_destroy(sim);
  size_t first = stream_find(&stream, "0000:00:04.0/dmadev") - 6; /* type, id, length */
  size_t last = stream_find(&stream, "{\"page_size\"") - 6;      /* EOF, 0x06, be32 */
  ck_assert_uint_lt(first, last);
  ck_assert_uint_lt(last, stream.count);
  uint64_t accepted_count = 0, refused_count = 0;
  for (size_t at = first; at < last; at++) {
    stream.bytes[at] ^= 0xff;
    struct sim_options dest_options = {.seed = 4, .time_ns_max = SWITCH_NS + 50 * SIM_NS_PER_MS,
                                       .events_max = 1000000};
    struct sim *dest_sim = sim_create(&dest_options);
    struct flipped_load load = {.stream = &stream, .config = &config};
    sim_event_init(&load.event, flipped_load_fire, "test.load");
    sim_event_schedule_at(dest_sim, &load.event, SWITCH_NS); /* guest time never leads sim time */
    enum sim_run_result run = sim_run(dest_sim);
    ck_assert(run == SIM_RUN_IDLE || run == SIM_RUN_TIME_MAX);
    if (load.err == MIG_OK) {
      accepted_count++;
    } else {
      refused_count++;
      ck_assert_uint_ne(load.error.path[0], 0);
    }
    sim_destroy(dest_sim);
    stream.bytes[at] ^= 0xff;
  }
  /* Counters and registers take any value; indexes, lengths and identities do not. */
  ck_assert_uint_gt(accepted_count, 100);
  ck_assert_uint_gt(refused_count, 100);
  mig_membuf_deinit(&stream);
}
END_TEST

/* Loads stream into a fresh destination at the source's stop time; returns the error. */
static enum mig_err flipped_load_once(const struct mig_membuf *stream,
                                      const struct machine_config *config,
                                      struct mig_error *error)
{
  struct sim_options options = {.seed = 4, .time_ns_max = SWITCH_NS + SIM_NS_PER_MS};
  struct sim *sim = sim_create(&options);
  struct flipped_load load = {.stream = stream, .config = config};
  sim_event_init(&load.event, flipped_load_fire, "test.load");
  sim_event_schedule_at(sim, &load.event, SWITCH_NS);
  (void)sim_run(sim);
  sim_destroy(sim);
  *error = load.error;
  return load.err;
}

START_TEST(mig_devices_pci_identity_refused)
{
  /* Another vendor id, or another class in the config space, is refused at the device's pci. */
  struct sim_options options = {.seed = 21, .time_ns_max = SWITCH_NS};
  struct sim *sim = sim_create(&options);
  struct machine_config config = device_config();
  struct machine *source = machine_create(sim, &config, 0);
  machine_boot(source);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_TIME_MAX);
  machine_stop(source);
  struct mig_membuf stream;
  ck_assert_int_eq(save_machine(sim, source, &stream, NULL), MIG_OK);
  sim_destroy(sim);
  const char *idstr = "0000:00:04.0/dmadev";
  size_t payload = stream_find(&stream, idstr) + strlen(idstr) + 8; /* instance, version */
  struct mig_error error;
  ck_assert_int_eq(flipped_load_once(&stream, &config, &error), MIG_OK);
  stream.bytes[payload + 1] ^= 0x01;                      /* vendor id, big-endian */
  ck_assert_int_eq(flipped_load_once(&stream, &config, &error), MIG_ERR_EQUAL_MISMATCH);
  ck_assert_str_eq(error.path, "0000:00:04.0/dmadev/pci/vendor_id");
  ck_assert_str_eq(error.detail, "read 0x1b37 expected 0x1b36");
  stream.bytes[payload + 1] ^= 0x01;
  stream.bytes[payload + 4 + PCI_CLASS_PROG + 2] ^= 0x01; /* base class in config */
  ck_assert_int_eq(flipped_load_once(&stream, &config, &error), MIG_ERR_HOOK);
  ck_assert_str_eq(error.path, "0000:00:04.0/dmadev/pci");
  /* QEMU 7.2 get_pci_config_device's words, naming the byte (pci's load_error). */
  ck_assert_str_eq(error.detail, "Bad config data: i=0xb read: 9 device: 8 cmask: ff wmask: 0 "
                                 "w1cmask:0");
  mig_membuf_deinit(&stream);
}
END_TEST

Suite *mig_devices_suite(void)
{
  Suite *suite = suite_create("mig_devices");
  TCase *core = tcase_create("core");
  tcase_add_test(core, mig_devices_dma_cut_mid_transfer);
  tcase_add_test(core, mig_devices_same_topology_loads);
  suite_add_tcase(suite, core);
  TCase *topology = tcase_create("topology");
  tcase_add_test(topology, mig_devices_other_bdf_refused);
  tcase_add_test(topology, mig_devices_other_type_refused);
  tcase_add_test(topology, mig_devices_missing_on_destination_refused);
  tcase_add_test(topology, mig_devices_missing_on_source_refused);
  tcase_add_test(topology, mig_devices_other_property_refused);
  suite_add_tcase(suite, topology);
  TCase *corrupt = tcase_create("corrupt");
  tcase_set_timeout(corrupt, 120);
  tcase_add_test(corrupt, mig_devices_every_byte_flip_is_survived);
  tcase_add_test(corrupt, mig_devices_pci_identity_refused);
  suite_add_tcase(suite, corrupt);
  TCase *selfcheck = tcase_create("selfcheck");
  tcase_add_test(selfcheck, mig_devices_self_check_fails_save);
  suite_add_tcase(suite, selfcheck);
  return suite;
}
