/*
 * mig_load_test.c: the stream-level writer and loader, on a whole stream of a
 * small machine, with golden bytes and anomaly loops (STYLE R24).
 */
#include "sim_base.h"

#include "machine.h"
#include "mig_format.h"
#include "mig_load.h"
#include "mig_ram.h"
#include "mig_save.h"
#include "sim_check.h"
#include "testdev.h"

#define CONFIG_OFFSET 8        /* after magic and version */
#define RAM_START_OFFSET 23    /* 8 + 0x07 + be32 + "migsim-1.0" */
#define MEM_SIZE_OFFSET 40     /* RAM_START_OFFSET + 1 + 4 + 1 + 3 + 4 + 4 */

/* machine_config_small's machine as machine type `type`, with a shorter, busier workload. */
static struct machine_config small_config(const char *type)
{
  struct machine_config config = machine_config_small();
  snprintf(config.type, sizeof(config.type), "%s", type);
  config.vcpu = (struct vcpu_config){.pages_per_s = 1000, .duration_ns = SIM_NS_PER_S / 10,
                                     .fill_pages = 8, .device_every = 3};
  return config;
}

static enum mig_err membuf_sink(void *context, const uint8_t *bytes, size_t count)
{
  return mig_membuf_write(context, bytes, count);
}

/* Runs a small machine's program to the end, then saves it whole into out. */
static struct sim *saved_stream(struct mig_membuf *out, struct machine **source_out)
{
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct machine_config config = small_config("migsim-1.0");
  struct machine *source = machine_create(sim, &config, 0);
  machine_boot(source);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  machine_stop(source);
  mig_membuf_init(out, 1 << 24);
  static uint8_t buffer[4096];
  struct mig_writer writer;
  mig_writer_init(&writer, buffer, sizeof(buffer), membuf_sink, out);
  struct mig_ram_source ram;
  struct ram_block *blocks[2] = {machine_ram(source, 0), machine_ram(source, 1)};
  mig_ram_source_init(&ram, sim, blocks, 2);
  mig_save_header(&writer);
  mig_save_configuration(&writer, machine_type(source));
  mig_save_section_header(&writer, MIG_SECTION_START, 0, "ram", 0, 4);
  mig_ram_save_setup(&ram, &writer);
  mig_save_footer(&writer, 0);
  mig_save_section_short_header(&writer, MIG_SECTION_PART, 0);
  mig_ram_save_iterate(&ram, &writer, 10);
  mig_save_footer(&writer, 0);
  mig_save_section_short_header(&writer, MIG_SECTION_END, 0);
  mig_ram_save_complete(&ram, &writer);
  mig_save_footer(&writer, 0);
  json_t *devices = json_array();
  ck_assert_int_eq(mig_save_devices(&writer, source, devices), MIG_OK);
  ck_assert_int_eq(mig_save_finish(&writer, devices), MIG_OK);
  json_decref(devices);
  *source_out = source;
  return sim;
}

/* Loads bytes into a fresh machine of the given type; returns the error. */
static enum mig_err load_bytes(const uint8_t *bytes, size_t count, const char *type,
                               struct mig_error *error_out, struct machine **machine_out,
                               struct sim **sim_out)
{
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct machine_config config = small_config(type);
  struct machine *machine = machine_create(sim, &config, 1);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, count);
  struct mig_load_stats stats;
  enum mig_err err = mig_load_machine(&reader, machine, &stats);
  if (error_out != NULL) *error_out = *mig_reader_error(&reader);
  if (machine_out != NULL) {
    *machine_out = machine;
    *sim_out = sim;
  } else {
    sim_destroy(sim);
  }
  return err;
}

START_TEST(mig_load_machine_round_trip)
{
  /* A saved machine loads into a fresh one with equal RAM and device state. */
  struct mig_membuf stream;
  struct machine *source, *dest;
  struct sim *sim = saved_stream(&stream, &source);
  struct sim *dest_sim;
  ck_assert_int_eq(load_bytes(stream.bytes, stream.count, "migsim-1.0", NULL, &dest, &dest_sim),
                   MIG_OK);
  for (uint32_t b = 0; b < 2; b++) {
    ck_assert_uint_eq(ram_block_hash(machine_ram(dest, b)), ram_block_hash(machine_ram(source, b)));
  }
  ck_assert_uint_eq(machine_testdev(dest, 0)->count, machine_testdev(source, 0)->count);
  ck_assert_uint_gt(machine_testdev(dest, 0)->count, 0);
  ck_assert_uint_eq(machine_vm_ns(dest), machine_vm_ns(source));
  sim_destroy(dest_sim);
  sim_destroy(sim);
  mig_membuf_deinit(&stream);
}
END_TEST

START_TEST(mig_save_header_golden_bytes)
{
  /* Header, configuration and the RAM START header are QEMU's bytes (spec §14.2). */
  static const uint8_t expected[] = {
      0x51, 0x45, 0x56, 0x4d, 0x00, 0x00, 0x00, 0x03,       /* "QEVM", version 3 */
      0x07, 0x00, 0x00, 0x00, 0x0a,                         /* CONFIGURATION, name length 10 */
      'm', 'i', 'g', 's', 'i', 'm', '-', '1', '.', '0',     /* machine type */
      0x01, 0x00, 0x00, 0x00, 0x00, 0x03, 'r', 'a', 'm',    /* START, id 0, "ram" */
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04,       /* instance 0, version 4 */
      0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x40, 0x04,       /* total 0x24000 | MEM_SIZE */
      0x06, 'p', 'c', '.', 'r', 'a', 'm',                   /* block name */
      0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00,       /* used length 0x20000 */
  };
  struct mig_membuf stream;
  struct machine *source;
  struct sim *sim = saved_stream(&stream, &source);
  ck_assert_uint_ge(stream.count, sizeof(expected));
  ck_assert_int_eq(memcmp(stream.bytes, expected, sizeof(expected)), 0);
  ck_assert_uint_eq(stream.bytes[stream.count - 1], '}');
  sim_destroy(sim);
  mig_membuf_deinit(&stream);
}
END_TEST

/* Loads a copy of stream with one byte changed; returns the error. */
static enum mig_err load_patched(const struct mig_membuf *stream, size_t offset, uint8_t value,
                                 struct mig_error *error)
{
  uint8_t *copy = malloc(stream->count);
  memcpy(copy, stream->bytes, stream->count);
  copy[offset] = value;
  enum mig_err err = load_bytes(copy, stream->count, "migsim-1.0", error, NULL, NULL);
  free(copy);
  return err;
}

START_TEST(mig_load_machine_rejects_with_offset_and_path)
{
  /* Each of QEMU's fatal header and framing checks gives a typed error with offset and path. */
  struct mig_membuf stream;
  struct machine *source;
  struct sim *sim = saved_stream(&stream, &source);
  struct mig_error error;
  ck_assert_int_eq(load_patched(&stream, 0, 'X', &error), MIG_ERR_BAD_MAGIC);
  ck_assert_str_eq(error.path, "header/magic");
  ck_assert_int_eq(load_patched(&stream, 7, 2, &error), MIG_ERR_BAD_VERSION);
  ck_assert_uint_eq(error.offset, 4);
  ck_assert_int_eq(load_patched(&stream, CONFIG_OFFSET, 0x05, &error), MIG_ERR_NO_CONFIGURATION);
  ck_assert_int_eq(load_patched(&stream, CONFIG_OFFSET + 1, 0x01, &error), MIG_ERR_TOO_LONG);
  ck_assert_str_eq(error.path, "configuration/name");
  ck_assert_int_eq(load_patched(&stream, RAM_START_OFFSET, 0x02, &error),
                   MIG_ERR_UNKNOWN_SECTION);
  ck_assert_int_eq(load_patched(&stream, RAM_START_OFFSET, 0x09, &error),
                   MIG_ERR_BAD_SECTION_TYPE);
  ck_assert_uint_eq(error.offset, RAM_START_OFFSET);
  ck_assert_int_eq(load_patched(&stream, MEM_SIZE_OFFSET + 7, 0x02, &error), MIG_ERR_RAM_ORDER);
  ck_assert_int_eq(load_patched(&stream, MEM_SIZE_OFFSET + 6, 0x44, &error), MIG_ERR_RAM_FLAGS);
  ck_assert_str_eq(error.path, "ram/flags");
  ck_assert_uint_eq(error.offset, MEM_SIZE_OFFSET);
  ck_assert_int_eq(load_patched(&stream, MEM_SIZE_OFFSET + 9, 'q', &error), MIG_ERR_RAM_BLOCK);
  ck_assert_str_eq(error.path, "ram/qc.ram");
  ck_assert_int_eq(load_bytes(stream.bytes, stream.count, "migsim-1.1", &error, NULL, NULL),
                   MIG_ERR_MACHINE_MISMATCH);
  ck_assert_str_eq(error.detail, "received 'migsim-1.0', local 'migsim-1.1'");
  sim_destroy(sim);
  mig_membuf_deinit(&stream);
}
END_TEST

START_TEST(mig_load_machine_trailer_rules)
{
  /* The JSON trailer is optional, must be valid, and must end the stream. */
  struct mig_membuf stream;
  struct machine *source;
  struct sim *sim = saved_stream(&stream, &source);
  struct mig_error error;
  /* The trailer is 0x06, be32 N, then N bytes of JSON that end the stream. */
  size_t json_offset = stream.count;
  while (json_offset > 6) {
    json_offset--;
    const uint8_t *frame = stream.bytes + json_offset - 5;
    uint32_t length = (uint32_t)frame[1] << 24 | (uint32_t)frame[2] << 16 |
                      (uint32_t)frame[3] << 8 | frame[4];
    if (frame[0] == MIG_SECTION_VMDESCRIPTION && length == stream.count - json_offset) break;
  }
  ck_assert_uint_eq(stream.bytes[json_offset], '{');
  ck_assert_int_eq(load_bytes(stream.bytes, json_offset - 5, "migsim-1.0", &error, NULL, NULL),
                   MIG_OK);
  ck_assert_int_eq(load_patched(&stream, json_offset, '[', &error), MIG_ERR_VMDESC);
  ck_assert_str_eq(error.path, "vmdescription/json");
  ck_assert_int_eq(load_patched(&stream, json_offset - 5, 0x07, &error), MIG_ERR_VMDESC);
  uint8_t *longer = malloc(stream.count + 1);
  memcpy(longer, stream.bytes, stream.count);
  longer[stream.count] = 0;
  ck_assert_int_eq(load_bytes(longer, stream.count + 1, "migsim-1.0", &error, NULL, NULL),
                   MIG_ERR_TRAILING);
  ck_assert_uint_eq(error.offset, stream.count);
  free(longer);
  sim_destroy(sim);
  mig_membuf_deinit(&stream);
}
END_TEST

START_TEST(mig_load_machine_truncated_everywhere)
{
  /* Every prefix of the stream up to the JSON fails with a typed error, never a crash. */
  struct mig_membuf stream;
  struct machine *source;
  struct sim *sim = saved_stream(&stream, &source);
  size_t step = 1;
  for (size_t length = 0; length < stream.count; length += step) {
    struct mig_error error;
    enum mig_err err = load_bytes(stream.bytes, length, "migsim-1.0", &error, NULL, NULL);
    /* Cutting exactly before the trailer leaves a valid stream without JSON. */
    if (err == MIG_OK) {
      ck_assert_uint_eq(stream.bytes[length], MIG_SECTION_VMDESCRIPTION);
      continue;
    }
    ck_assert_msg(err == MIG_ERR_TRUNCATED, "length %zu: %s", length, mig_err_name(err));
    ck_assert_uint_le(error.offset, length);
    step = length < 1024 ? 1 : 61;
  }
  sim_destroy(sim);
  mig_membuf_deinit(&stream);
}
END_TEST

START_TEST(mig_load_machine_header_byte_flips)
{
  /* Every single-byte flip in the first 96 bytes is either loaded or refused cleanly. */
  struct mig_membuf stream;
  struct machine *source;
  struct sim *sim = saved_stream(&stream, &source);
  uint32_t refused = 0;
  for (size_t offset = 0; offset < 96; offset++) {
    for (int bit = 0; bit < 8; bit++) {
      struct mig_error error;
      enum mig_err err = load_patched(&stream, offset, stream.bytes[offset] ^ (1u << bit),
                                      &error);
      if (err != MIG_OK) refused++;
      ck_assert(err == MIG_OK || error.code == err);
    }
  }
  /* Nearly every bit there is checked; EOS ignores its offset bits, so not all. */
  ck_assert_uint_ge(refused, 96 * 8 * 85 / 100);
  sim_destroy(sim);
  mig_membuf_deinit(&stream);
}
END_TEST

/* Four one-byte devices with QEMU 7.2 priorities, for the save-order test. */
struct prio_dev {
  uint8_t value;              /* migrated */
  uint32_t *load_log;         /* where post_load records the load order */
};

static int prio_post_load(void *opaque, int32_t version_id)
{
  (void)version_id;
  struct prio_dev *dev = opaque;
  *dev->load_log = *dev->load_log * 10 + dev->value;
  return 0;
}

static const struct vmstate_field prio_fields[] = {VMSTATE_UINT8(struct prio_dev, value)};
#define PRIO_DESC(var, name_, priority_) \
  static const struct vmstate_desc var = { \
    .name = name_, .version_id = 1, .minimum_version_id = 1, .priority = (priority_), \
    .fields = prio_fields, .field_count = 1, .post_load = prio_post_load}
PRIO_DESC(prio_default_desc, "plain", VMSTATE_PRIORITY_DEFAULT);
PRIO_DESC(prio_iommu_desc, "iommu", VMSTATE_PRIORITY_IOMMU);
PRIO_DESC(prio_bus_desc, "bus", VMSTATE_PRIORITY_PCI_BUS);
PRIO_DESC(prio_gic_desc, "gic", VMSTATE_PRIORITY_GICV3);

START_TEST(mig_save_instances_priority_order)
{
  /* Goal: sections go out by priority, then registration (spec §5.7), with their
   * registration ids, and load in that order; method: save four, read ids and hooks. */
  static const struct vmstate_desc *const descs[] = {&prio_default_desc, &prio_bus_desc,
                                                     &prio_iommu_desc, &prio_gic_desc,
                                                     &prio_default_desc};
  uint32_t load_log = 0;
  struct prio_dev devs[5];
  struct vmstate_instance instances[5];
  const struct vmstate_instance *list[5];
  for (uint32_t i = 0; i < 5; i++) {
    devs[i] = (struct prio_dev){.value = (uint8_t)(i + 1), .load_log = &load_log};
    instances[i] = (struct vmstate_instance){.desc = descs[i], .opaque = &devs[i],
                                             .instance_id = i};
    snprintf(instances[i].idstr, sizeof(instances[i].idstr), "%s", descs[i]->name);
    list[i] = &instances[i];
  }
  struct mig_membuf out;
  mig_membuf_init(&out, 1 << 16);
  uint8_t buffer[256];
  struct mig_writer writer;
  mig_writer_init(&writer, buffer, sizeof(buffer), membuf_sink, &out);
  mig_save_header(&writer);
  mig_save_configuration(&writer, "prio-1.0");
  json_t *devices = json_array();
  ck_assert_int_eq(mig_save_instances(&writer, list, 5, devices), MIG_OK);
  ck_assert_int_eq(mig_save_finish(&writer, devices), MIG_OK);
  /* JSON order is stream order: gic, bus, iommu, then the two plain ones as registered. */
  static const char *const names[] = {"gic", "bus", "iommu", "plain", "plain"};
  static const json_int_t instance_ids[] = {3, 1, 2, 0, 4};
  ck_assert_uint_eq(json_array_size(devices), 5);
  for (size_t i = 0; i < 5; i++) {
    json_t *entry = json_array_get(devices, i);
    ck_assert_str_eq(json_string_value(json_object_get(entry, "name")), names[i]);
    ck_assert_int_eq(json_integer_value(json_object_get(entry, "instance_id")), instance_ids[i]);
  }
  json_decref(devices);
  /* The first FULL section after the 8 + 13 header bytes carries id 4 (instance 3). */
  ck_assert_uint_eq(out.bytes[21], MIG_SECTION_FULL);
  ck_assert_uint_eq(out.bytes[25], 4);
  /* Loading runs post_load in stream order. */
  struct sim_options options = {.seed = 1};
  struct sim *sim = sim_create(&options);
  struct ram_block *block = ram_block_create(sim, "pc.ram", RAM_PAGE_BYTES);
  struct prio_dev dest[5];
  struct vmstate_instance dest_instances[5];
  const struct vmstate_instance *dest_list[5];
  for (uint32_t i = 0; i < 5; i++) {
    dest[i] = (struct prio_dev){.load_log = &load_log};
    dest_instances[i] = instances[i];
    dest_instances[i].opaque = &dest[i];
    dest_list[i] = &dest_instances[i];
  }
  struct mig_load_target target = {.machine_type = "prio-1.0", .instances = dest_list,
                                   .instance_count = 5, .ram_blocks = &block,
                                   .ram_block_count = 1};
  struct mig_reader reader;
  mig_reader_init_memory(&reader, out.bytes, out.count);
  struct mig_load_stats stats;
  ck_assert_int_eq(mig_load_target_run(&reader, &target, &stats), MIG_OK);
  ck_assert_uint_eq(load_log, 42315);
  ck_assert_uint_eq(stats.devices_count, 5);
  sim_destroy(sim);
  mig_membuf_deinit(&out);
}
END_TEST

Suite *mig_load_suite(void)
{
  Suite *suite = suite_create("mig_load");
  TCase *core = tcase_create("core");
  tcase_add_test(core, mig_load_machine_round_trip);
  tcase_add_test(core, mig_save_instances_priority_order);
  tcase_add_test(core, mig_save_header_golden_bytes);
  suite_add_tcase(suite, core);
  TCase *corrupt = tcase_create("corrupt");
  tcase_set_timeout(corrupt, 300);
  tcase_add_test(corrupt, mig_load_machine_rejects_with_offset_and_path);
  tcase_add_test(corrupt, mig_load_machine_trailer_rules);
  tcase_add_test(corrupt, mig_load_machine_truncated_everywhere);
  tcase_add_test(corrupt, mig_load_machine_header_byte_flips);
  suite_add_tcase(suite, corrupt);
  return suite;
}
