/*
 * mig_hostile_test.c: hostile input against the strict destination loader
 * (mig_load_target_run), one case per item of spec §11.2 (fatal checks) and
 * §11.3 (the hostile-input checklist) that applies to a precopy destination.
 * docs/hostile.md maps each item to its check and to the case name here.
 *
 * A fixture builds one valid stream by hand for a small target (RAM block
 * "pc.ram" of 4 pages; device "0000:00:03.0/hdev" with an EQUAL id, a
 * varray, an array of pointers with a NULL, an int32 le, a VALIDATE entry
 * and a subsection; two "tick" instances), recording the offset of every
 * item as an anchor.  Each case splices bad bytes in at an anchor, loads the
 * result from an exact-size heap copy (so ASan sees any overread) and
 * asserts the typed error, its byte offset and its `section/field` path.
 * Cases run as a loop test; a failure names the case.
 */
#include "sim_base.h"

#include "mig_format.h"
#include "mig_limits.h"
#include "mig_load.h"
#include "mig_save.h"
#include "mig_vmstate.h"
#include "ram.h"
#include "sim.h"
#include "sim_check.h"

/* ------------------------------------------------------------ the target */

#define HDEV_ID UINT32_C(0x48444556)
#define HOSTILE_MACHINE "hostile-1.0"
#define HDEV_IDSTR "0000:00:03.0/hdev"

struct hdev {
  uint32_t id;              /* configuration: EQUAL */
  uint8_t n;                /* counts buf */
  uint8_t *buf;             /* VARRAY_UINT8 through a pointer, at most 4 */
  uint16_t *words[2];       /* array of pointers; words[0] is NULL */
  int32_t le;               /* int32 le */
  uint8_t extra;            /* in hdev/extra */
  uint8_t buf_storage[4];
  uint16_t word_storage;
  bool fail_pre_load;       /* hook results */
  bool fail_post_load;
};

struct tick {
  uint64_t ns;
};

static bool hdev_n_ok(void *opaque, int32_t version_id)
{
  (void)version_id;
  return ((struct hdev *)opaque)->n != 3;
}

static int hdev_pre_load(void *opaque)
{
  return ((struct hdev *)opaque)->fail_pre_load ? -22 : 0;
}

static int hdev_post_load(void *opaque, int32_t version_id)
{
  (void)version_id;
  return ((struct hdev *)opaque)->fail_post_load ? -5 : 0;
}

static const struct vmstate_field hdev_extra_fields[] = {VMSTATE_UINT8(struct hdev, extra)};
static const struct vmstate_desc hdev_extra_desc = {
  .name = "hdev/extra", .version_id = 1, .minimum_version_id = 1,
  .fields = hdev_extra_fields, .field_count = 1,
};
static const struct vmstate_desc *const hdev_subsections[] = {&hdev_extra_desc};
static const struct vmstate_field hdev_fields[] = {
  VMSTATE_UINT32_EQUAL(struct hdev, id),
  VMSTATE_UINT8(struct hdev, n),
  VMSTATE_VARRAY_UINT8(struct hdev, buf, n, 4, VMSTATE_KIND_UINT8, uint8_t),
  VMSTATE_ARRAY_OF_POINTER(struct hdev, words, 2, VMSTATE_KIND_UINT16, uint16_t),
  VMSTATE_INT32_POSITIVE_LE(struct hdev, le),
  VMSTATE_VALIDATE("n_ok", hdev_n_ok),
};
static const struct vmstate_desc hdev_desc = {
  .name = "hdev", .version_id = 2, .minimum_version_id = 1,
  .fields = hdev_fields, .field_count = SIM_ARRAY_COUNT(hdev_fields),
  .subsections = hdev_subsections, .subsection_count = 1,
  .pre_load = hdev_pre_load, .post_load = hdev_post_load,
};
static const struct vmstate_field tick_fields[] = {VMSTATE_UINT64(struct tick, ns)};
static const struct vmstate_desc tick_desc = {
  .name = "tick", .version_id = 1, .minimum_version_id = 1,
  .fields = tick_fields, .field_count = 1,
};

static void hdev_init(struct hdev *hdev)
{
  memset(hdev, 0, sizeof *hdev);
  hdev->id = HDEV_ID;
  hdev->buf = hdev->buf_storage;
  hdev->words[1] = &hdev->word_storage;
  hdev->le = 5;
}

struct target_fixture {
  struct sim *sim;
  struct ram_block *block;
  struct hdev hdev;
  struct tick ticks[2];
  struct vmstate_instance instances[3];
  const struct vmstate_instance *instance_list[3];
  struct mig_load_target target;
};

static void fixture_init(struct target_fixture *f)
{
  memset(f, 0, sizeof *f);
  struct sim_options options = {.seed = 7};
  f->sim = sim_create(&options);
  ck_assert_ptr_nonnull(f->sim);
  f->block = ram_block_create(f->sim, "pc.ram", 4 * MIG_PAGE_BYTES);
  hdev_init(&f->hdev);
  f->instances[0] = (struct vmstate_instance){.idstr = HDEV_IDSTR, .desc = &hdev_desc,
                                              .opaque = &f->hdev};
  f->instances[1] = (struct vmstate_instance){.idstr = "tick", .desc = &tick_desc,
                                              .opaque = &f->ticks[0]};
  f->instances[2] = (struct vmstate_instance){.idstr = "tick", .instance_id = 1,
                                              .desc = &tick_desc, .opaque = &f->ticks[1]};
  for (int i = 0; i < 3; i++) f->instance_list[i] = &f->instances[i];
  f->target = (struct mig_load_target){
    .machine_type = HOSTILE_MACHINE, .instances = f->instance_list, .instance_count = 3,
    .ram_blocks = &f->block, .ram_block_count = 1};
}

/* ------------------------------------------------------- the valid stream */

enum anchor {
  A_MAGIC, A_VERSION, A_CONFIG, A_CONFIG_LEN, A_CONFIG_NAME, A_SECTIONS,
  A_RAM_START, A_RAM_IDSTR, A_RAM_VERSION, A_MEM_SIZE, A_SETUP_ENTRY, A_SETUP_LEN,
  A_START_EOS, A_START_FOOTER, A_PART, A_ZERO_REC, A_ZERO_NAME, A_ZERO_FILL, A_PAGE_REC,
  A_PART_EOS, A_PART_FOOTER, A_END, A_END_FOOTER, A_DEV, A_DEV_IDSTR, A_DEV_INSTANCE,
  A_DEV_VERSION, A_DEV_PAYLOAD, A_DEV_N, A_DEV_BUF, A_DEV_WORDS, A_DEV_LE, A_DEV_SUB,
  A_DEV_SUB_VERSION, A_DEV_FOOTER, A_TICK, A_TICK1, A_EOF, A_END_OF_STREAM, A_COUNT
};

struct stream {
  uint8_t bytes[8192];      /* the valid stream */
  size_t count;             /* its length */
  size_t at[A_COUNT];       /* offset of each anchor */
};

static void put(struct stream *s, const void *bytes, size_t count)
{
  ck_assert_uint_le(s->count + count, sizeof s->bytes);
  memcpy(s->bytes + s->count, bytes, count);
  s->count += count;
}

static void put_u8(struct stream *s, uint8_t value)
{
  put(s, &value, 1);
}

static void put_be(struct stream *s, uint64_t value, size_t width)
{
  for (size_t i = 0; i < width; i++) put_u8(s, (uint8_t)(value >> (8 * (width - 1 - i))));
}

static void put_counted(struct stream *s, const char *text)
{
  put_u8(s, (uint8_t)strlen(text));
  put(s, text, strlen(text));
}

static void mark(struct stream *s, enum anchor anchor)
{
  s->at[anchor] = s->count;
}

static void put_long_header(struct stream *s, uint8_t type, uint32_t id, const char *idstr,
                            uint32_t instance_id, uint32_t version_id)
{
  put_u8(s, type);
  put_be(s, id, 4);
  put_counted(s, idstr);
  put_be(s, instance_id, 4);
  put_be(s, version_id, 4);
}

static void put_footer(struct stream *s, uint32_t id)
{
  put_u8(s, MIG_SECTION_FOOTER);
  put_be(s, id, 4);
}

static void put_ram(struct stream *s)
{
  mark(s, A_RAM_START);
  put_u8(s, MIG_SECTION_START);
  put_be(s, 0, 4);
  mark(s, A_RAM_IDSTR);
  put_counted(s, "ram");
  put_be(s, 0, 4);
  mark(s, A_RAM_VERSION);
  put_be(s, 4, 4);
  mark(s, A_MEM_SIZE);
  put_be(s, 4 * MIG_PAGE_BYTES | MIG_RAM_FLAG_MEM_SIZE, 8);
  mark(s, A_SETUP_ENTRY);
  put_counted(s, "pc.ram");
  mark(s, A_SETUP_LEN);
  put_be(s, 4 * MIG_PAGE_BYTES, 8);
  mark(s, A_START_EOS);
  put_be(s, MIG_RAM_FLAG_EOS, 8);
  mark(s, A_START_FOOTER);
  put_footer(s, 0);
  mark(s, A_PART);
  put_u8(s, MIG_SECTION_PART);
  put_be(s, 0, 4);
  mark(s, A_ZERO_REC);
  put_be(s, MIG_RAM_FLAG_ZERO, 8);
  mark(s, A_ZERO_NAME);
  put_counted(s, "pc.ram");
  mark(s, A_ZERO_FILL);
  put_u8(s, 0);
  mark(s, A_PAGE_REC);
  put_be(s, MIG_PAGE_BYTES | MIG_RAM_FLAG_PAGE | MIG_RAM_FLAG_CONTINUE, 8);
  for (uint32_t i = 0; i < MIG_PAGE_BYTES; i++) put_u8(s, (uint8_t)(i * 7));
  mark(s, A_PART_EOS);
  put_be(s, MIG_RAM_FLAG_EOS, 8);
  mark(s, A_PART_FOOTER);
  put_footer(s, 0);
  mark(s, A_END);
  put_u8(s, MIG_SECTION_END);
  put_be(s, 0, 4);
  put_be(s, MIG_RAM_FLAG_EOS, 8);
  mark(s, A_END_FOOTER);
  put_footer(s, 0);
}

/* The device's payload, written by the interpreter from a source object. */
static void put_hdev(struct stream *s)
{
  struct hdev source;
  hdev_init(&source);
  source.n = 2;
  source.buf_storage[0] = 0xb0;
  source.buf_storage[1] = 0xb1;
  source.word_storage = 0xc0c1;
  source.le = 3;
  source.extra = 0xee;
  mark(s, A_DEV);
  put_u8(s, MIG_SECTION_FULL);
  put_be(s, 1, 4);
  mark(s, A_DEV_IDSTR);
  put_counted(s, HDEV_IDSTR);
  mark(s, A_DEV_INSTANCE);
  put_be(s, 0, 4);
  mark(s, A_DEV_VERSION);
  put_be(s, 2, 4);
  mark(s, A_DEV_PAYLOAD);
  struct mig_membuf membuf;
  uint8_t buffer[64];
  struct mig_writer writer;
  mig_membuf_init(&membuf, 1 << 12);
  mig_writer_init(&writer, buffer, sizeof buffer, mig_membuf_write, &membuf);
  ck_assert_int_eq(mig_vmstate_save(&writer, &hdev_desc, &source, NULL), MIG_OK);
  ck_assert_int_eq(mig_writer_flush(&writer), MIG_OK);
  ck_assert_uint_eq(membuf.count, 31); /* 4 + 1 + 2 + 1 + 2 + 4 + subsection 17 */
  put(s, membuf.bytes, membuf.count);
  mig_membuf_deinit(&membuf);
  size_t payload = s->at[A_DEV_PAYLOAD];
  s->at[A_DEV_N] = payload + 4;
  s->at[A_DEV_BUF] = payload + 5;
  s->at[A_DEV_WORDS] = payload + 7;
  s->at[A_DEV_LE] = payload + 10;
  s->at[A_DEV_SUB] = payload + 14;
  s->at[A_DEV_SUB_VERSION] = payload + 26;
  mark(s, A_DEV_FOOTER);
  put_footer(s, 1);
}

static void stream_build(struct stream *s)
{
  memset(s, 0, sizeof *s);
  mark(s, A_MAGIC);
  put_be(s, MIG_FILE_MAGIC, 4);
  mark(s, A_VERSION);
  put_be(s, MIG_FILE_VERSION, 4);
  mark(s, A_CONFIG);
  put_u8(s, MIG_SECTION_CONFIGURATION);
  mark(s, A_CONFIG_LEN);
  put_be(s, strlen(HOSTILE_MACHINE), 4);
  mark(s, A_CONFIG_NAME);
  put(s, HOSTILE_MACHINE, strlen(HOSTILE_MACHINE));
  mark(s, A_SECTIONS);
  put_ram(s);
  put_hdev(s);
  mark(s, A_TICK);
  put_long_header(s, MIG_SECTION_FULL, 2, "tick", 0, 1);
  put_be(s, 0x1111, 8);
  put_footer(s, 2);
  mark(s, A_TICK1);
  put_long_header(s, MIG_SECTION_FULL, 3, "tick", 1, 1);
  put_be(s, 0x2222, 8);
  put_footer(s, 3);
  mark(s, A_EOF);
  put_u8(s, MIG_SECTION_EOF);
  mark(s, A_END_OF_STREAM);
}

struct load_result {
  struct mig_error error;     /* the latched error (code MIG_OK on success) */
  struct mig_load_stats stats;
  struct hdev hdev;           /* the device after the load */
  uint64_t tick1_ns;          /* the second tick after the load */
};

enum target_option {
  T_PLAIN = 0,
  T_UUID = 1,                 /* the destination has a UUID */
  T_IGNORE_SHARED = 2,        /* the destination has x-ignore-shared on */
  T_FAIL_PRE_LOAD = 4,
  T_FAIL_POST_LOAD = 8,
  T_QEMU_7_2 = 16,            /* the loader with mig_policy_qemu_7_2 instead of strict */
};

static const uint8_t target_uuid[16] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
                                        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};

/* Loads bytes (an exact-size heap copy) into a fresh fixture. */
static struct load_result load_bytes(const uint8_t *bytes, size_t count, unsigned options)
{
  static struct target_fixture f;
  fixture_init(&f);
  if (options & T_UUID) f.target.uuid = target_uuid;
  f.target.x_ignore_shared = (options & T_IGNORE_SHARED) != 0;
  f.hdev.fail_pre_load = (options & T_FAIL_PRE_LOAD) != 0;
  f.hdev.fail_post_load = (options & T_FAIL_POST_LOAD) != 0;
  if (options & T_QEMU_7_2) f.target.policy = &mig_policy_qemu_7_2;
  uint8_t *copy = malloc(count > 0 ? count : 1);
  ck_assert_ptr_nonnull(copy);
  if (count > 0) memcpy(copy, bytes, count);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, copy, count);
  struct load_result result;
  enum mig_err err = mig_load_target_run(&reader, &f.target, &result.stats);
  result.error = *mig_reader_error(&reader);
  ck_assert_int_eq(err, result.error.code);
  ck_assert_uint_le(result.error.offset, count);
  result.hdev = f.hdev;
  result.tick1_ns = f.ticks[1].ns;
  free(copy);
  sim_destroy(f.sim);
  return result;
}

/* ------------------------------------------------------------- the cases */

#define B(...) {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__})
#define NOTHING {0}, 0
#define CFG_PAGE_BITS 0x05, 0x1e, 'c', 'o', 'n', 'f', 'i', 'g', 'u', 'r', 'a', 't', 'i', 'o', 'n', \
  '/', 't', 'a', 'r', 'g', 'e', 't', '-', 'p', 'a', 'g', 'e', '-', 'b', 'i', 't', 's'
#define CFG_CAPS 0x05, 0x1a, 'c', 'o', 'n', 'f', 'i', 'g', 'u', 'r', 'a', 't', 'i', 'o', 'n', '/', \
  'c', 'a', 'p', 'a', 'b', 'i', 'l', 'i', 't', 'i', 'e', 's'
#define CFG_UUID 0x05, 0x12, 'c', 'o', 'n', 'f', 'i', 'g', 'u', 'r', 'a', 't', 'i', 'o', 'n', '/', \
  'u', 'u', 'i', 'd'
#define TRAILER_DUPLICATE '{', '"', 'p', 'a', 'g', 'e', '_', 's', 'i', 'z', 'e', '"', ':', '4', \
  '0', '9', '6', ',', '"', 'd', 'e', 'v', 'i', 'c', 'e', 's', '"', ':', '[', ']', ',', '"', 'd', \
  'e', 'v', 'i', 'c', 'e', 's', '"', ':', '[', ']', '}'
#define UUID_BYTES 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x11, 0x22, 0x33, 0x44, 0x55, \
  0x66, 0x77

struct hostile_case {
  const char *name;          /* the case, as docs/hostile.md names it */
  enum anchor at;            /* splice point */
  size_t at_delta;
  size_t remove;             /* bytes removed there */
  uint8_t insert[96];        /* bytes inserted there */
  size_t insert_count;
  unsigned options;          /* enum target_option */
  enum mig_err code;         /* expected result */
  enum anchor error_at;      /* expected error offset: anchor + delta */
  size_t error_delta;
  const char *path;          /* expected path */
  const char *detail;        /* expected substring of the detail, or NULL */
  const char *policy;        /* the mig_policy field behind the refusal, or NULL */
};

static const struct hostile_case cases[] = {
  /* §11.2 header and configuration */
  {"header_bad_magic", A_MAGIC, 0, 1, B(0x52), 0, MIG_ERR_BAD_MAGIC, A_MAGIC, 0,
   "header/magic", "magic 0x5245564d", NULL},
  {"header_version_2", A_VERSION, 3, 1, B(2), 0, MIG_ERR_BAD_VERSION, A_VERSION, 0,
   "header/version", "obsolete", NULL},
  {"header_version_4", A_VERSION, 3, 1, B(4), 0, MIG_ERR_BAD_VERSION, A_VERSION, 0,
   "header/version", "version 4", NULL},
  {"config_missing", A_CONFIG, 0, 1, B(0x04), 0, MIG_ERR_NO_CONFIGURATION, A_CONFIG, 0,
   "configuration", NULL, "configuration_required"},
  {"config_machine_mismatch", A_CONFIG_NAME, 8, 1, B('2'), 0, MIG_ERR_MACHINE_MISMATCH,
   A_CONFIG_NAME, 0, "configuration/name", "received 'hostile-2.0', local 'hostile-1.0'",
   "destination_known"},
  {"config_machine_prefix", A_CONFIG_LEN, 0, 15, B(0, 0, 0, 7, 'h', 'o', 's', 't', 'i', 'l', 'e'),
   0, MIG_ERR_MACHINE_MISMATCH, A_CONFIG_NAME, 0, "configuration/name", NULL, "destination_known"},
  {"config_machine_empty", A_CONFIG_LEN, 0, 15, B(0, 0, 0, 0), 0, MIG_ERR_TOO_LONG,
   A_CONFIG_LEN, 0, "configuration/name", "length 0", NULL},
  {"config_name_length_cap", A_CONFIG_LEN, 0, 4, B(0xff, 0xff, 0xff, 0xff), 0, MIG_ERR_TOO_LONG,
   A_CONFIG_LEN, 0, "configuration/name", "length 4294967295", NULL},
  {"config_page_bits_mismatch", A_SECTIONS, 0, 0, B(CFG_PAGE_BITS, 0, 0, 0, 1, 0, 0, 0, 13), 0,
   MIG_ERR_CONFIG_MISMATCH, A_SECTIONS, 36, "configuration/target-page-bits",
   "TARGET_PAGE_BITS is 13 but local is 12", "destination_known"},
  {"config_page_bits_equal_ok", A_SECTIONS, 0, 0, B(CFG_PAGE_BITS, 0, 0, 0, 1, 0, 0, 0, 12), 0,
   MIG_OK, A_MAGIC, 0, "", NULL, NULL},
  {"config_capability_unknown", A_SECTIONS, 0, 0, B(CFG_CAPS, 0, 0, 0, 1, 0, 0, 0, 1, 3, 'f',
   'o', 'o'), 0, MIG_ERR_CONFIG_MISMATCH, A_SECTIONS, 36, "configuration/capabilities[0]",
   "received unknown capability foo", NULL},
  {"config_capability_on_here_off", A_SECTIONS, 0, 0, B(CFG_CAPS, 0, 0, 0, 1, 0, 0, 0, 1, 15,
   'x', '-', 'i', 'g', 'n', 'o', 'r', 'e', '-', 's', 'h', 'a', 'r', 'e', 'd'), 0,
   MIG_ERR_CONFIG_MISMATCH, A_SECTIONS, 32, "configuration/capabilities",
   "is off, but received capability is on", "destination_known"},
  /*
   * Accepted on both sides; x-ignore-shared then puts a be64 block address
   * after each block of the RAM setup list, which this stream lacks, so the
   * loader reads the EOS as the address and fails on the next word.
   */
  {"config_capability_on_both_accepted", A_SECTIONS, 0, 0, B(CFG_CAPS, 0, 0, 0, 1, 0, 0, 0, 1,
   15, 'x', '-', 'i', 'g', 'n', 'o', 'r', 'e', '-', 's', 'h', 'a', 'r', 'e', 'd'),
   T_IGNORE_SHARED, MIG_ERR_RAM_FLAGS, A_START_FOOTER, 52, "ram/flags", NULL, NULL},
  {"config_capability_off_here_on", A_SECTIONS, 0, 0, NOTHING, T_IGNORE_SHARED,
   MIG_ERR_CONFIG_MISMATCH, A_SECTIONS, 0, "configuration/capabilities",
   "is on, but received capability is off", "destination_known"},
  {"config_caps_count_cap", A_SECTIONS, 0, 0, B(CFG_CAPS, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff),
   0, MIG_ERR_TOO_LONG, A_SECTIONS, 32, "configuration/capabilities/caps_count", NULL, NULL},
  {"config_uuid_mismatch", A_SECTIONS, 0, 0, B(CFG_UUID, 0, 0, 0, 1, UUID_BYTES, 0x89), T_UUID,
   MIG_ERR_CONFIG_MISMATCH, A_SECTIONS, 24, "configuration/uuid", "UUID differs",
   "destination_known"},
  {"config_uuid_equal_ok", A_SECTIONS, 0, 0, B(CFG_UUID, 0, 0, 0, 1, UUID_BYTES, 0x88), T_UUID,
   MIG_OK, A_MAGIC, 0, "", NULL, NULL},
  {"config_uuid_without_local_ok", A_SECTIONS, 0, 0, B(CFG_UUID, 0, 0, 0, 1, UUID_BYTES, 0x89),
   0, MIG_OK, A_MAGIC, 0, "", NULL, NULL},
  {"config_subsection_unknown", A_SECTIONS, 0, 0, B(0x05, 0x12, 'c', 'o', 'n', 'f', 'i', 'g',
   'u', 'r', 'a', 't', 'i', 'o', 'n', '/', 'u', 'u', 'i', 'x', 0, 0, 0, 1), 0,
   MIG_ERR_SUBSECTION, A_SECTIONS, 0, "configuration/uuix", "no such subsection", NULL},
  {"config_subsection_version_256", A_SECTIONS, 0, 0, B(CFG_PAGE_BITS, 0, 0, 1, 0, 0, 0, 0,
   12), 0, MIG_ERR_SUBSECTION, A_SECTIONS, 32, "configuration/target-page-bits",
   "version 256", NULL},
  /* §11.2 framing */
  {"frame_type_unknown", A_TICK, 0, 0, B(0x09), 0, MIG_ERR_BAD_SECTION_TYPE, A_TICK, 0,
   "stream", "type 0x09", NULL},
  {"frame_type_subsection_top", A_TICK, 0, 0, B(0x05), 0, MIG_ERR_BAD_SECTION_TYPE, A_TICK, 0,
   "stream", "type 0x05", NULL},
  {"frame_type_vmdesc_early", A_TICK, 0, 0, B(0x06), 0, MIG_ERR_BAD_SECTION_TYPE, A_TICK, 0,
   "stream", "type 0x06", NULL},
  {"frame_type_config_late", A_TICK, 0, 0, B(0x07), 0, MIG_ERR_BAD_SECTION_TYPE, A_TICK, 0,
   "stream", "type 0x07", NULL},
  {"frame_type_footer_alone", A_TICK, 0, 0, B(0x7e), 0, MIG_ERR_BAD_SECTION_TYPE, A_TICK, 0,
   "stream", "type 0x7e", NULL},
  {"frame_idstr_empty", A_DEV_IDSTR, 0, 18, B(0), 0, MIG_ERR_BAD_IDSTR, A_DEV_IDSTR, 0,
   "section 0x1", NULL, NULL},
  {"frame_idstr_unknown", A_DEV_IDSTR, 14, 1, B('x'), 0, MIG_ERR_UNKNOWN_SECTION, A_DEV, 0,
   "0000:00:03.0/xdev", NULL, "destination_known"},
  {"frame_instance_unknown", A_TICK1, 13, 1, B(2), 0, MIG_ERR_UNKNOWN_SECTION, A_TICK1, 0,
   "tick", "instance 2", "destination_known"},
  {"frame_ram_in_full", A_RAM_START, 0, 1, B(0x04), 0, MIG_ERR_UNKNOWN_SECTION, A_RAM_START, 0,
   "ram", "FULL", "destination_known"},
  {"frame_device_in_start", A_DEV, 0, 1, B(0x01), 0, MIG_ERR_UNKNOWN_SECTION, A_DEV, 0,
   HDEV_IDSTR, "START", "destination_known"},
  {"frame_version_too_new", A_DEV_VERSION, 3, 1, B(3), 0, MIG_ERR_SECTION_VERSION,
   A_DEV_PAYLOAD, 0, "0000:00:03.0/hdev", "version 3, accepted 1..2", "destination_known"},
  {"frame_version_too_old", A_DEV_VERSION, 3, 1, B(0), 0, MIG_ERR_SECTION_VERSION,
   A_DEV_PAYLOAD, 0, "0000:00:03.0/hdev", "version 0, accepted 1..2", "destination_known"},
  {"frame_ram_version", A_RAM_VERSION, 3, 1, B(3), 0, MIG_ERR_SECTION_VERSION, A_RAM_START, 0,
   "ram", "version 3", "destination_known"},
  {"frame_part_id0_before_start", A_RAM_START, 0, 0, B(0x02, 0, 0, 0, 0), 0,
   MIG_ERR_UNKNOWN_SECTION, A_RAM_START, 0, "section 0x0", "with no START", NULL},
  {"frame_part_unknown_id", A_PART, 4, 1, B(5), 0, MIG_ERR_UNKNOWN_SECTION, A_PART, 0,
   "section 0x5", NULL, NULL},
  /* No marker where the device's vmstate tables stopped: destination_known names it (a
     walker sizes the section from the trailer; docs/hostile.md). */
  {"frame_footer_marker", A_DEV_FOOTER, 0, 1, B(0x7d), 0, MIG_ERR_FOOTER, A_DEV_FOOTER, 0,
   HDEV_IDSTR "/footer", "missing section footer", "destination_known"},
  {"frame_footer_id", A_DEV_FOOTER, 4, 1, B(2), 0, MIG_ERR_FOOTER, A_DEV_FOOTER, 0,
   HDEV_IDSTR "/footer", "read 0x2 expected 0x1", NULL},
  {"frame_ram_footer_id", A_START_FOOTER, 4, 1, B(1), 0, MIG_ERR_FOOTER, A_START_FOOTER, 0,
   "ram/footer", "read 0x1 expected 0x0", NULL},
  /* §11.2 framing: commands (spec §7) */
  {"command_invalid", A_RAM_START, 0, 0, B(0x08, 0, 0, 0, 0), 0, MIG_ERR_BAD_COMMAND,
   A_RAM_START, 0, "command/code", "MIG_CMD 0x0 unknown", NULL},
  {"command_unknown_7_2", A_RAM_START, 0, 0, B(0x08, 0, 11, 0, 0), 0, MIG_ERR_BAD_COMMAND,
   A_RAM_START, 0, "command/code", "MIG_CMD 0xb unknown (len 0x0)", NULL},
  {"command_bad_fixed_length", A_RAM_START, 0, 0, B(0x08, 0, 1, 0, 1, 0), 0,
   MIG_ERR_BAD_COMMAND, A_RAM_START, 0, "command/OPEN_RETURN_PATH", "expecting 0, got 1", NULL},
  {"command_ping_no_return_path", A_RAM_START, 0, 0, B(0x08, 0, 2, 0, 4, 0, 0, 0, 1), 0,
   MIG_ERR_BAD_COMMAND, A_RAM_START, 0, "command/PING", "no return path", "ping_needs_return_path"},
  {"command_ping_after_open_ok", A_RAM_START, 0, 0, B(0x08, 0, 1, 0, 0, 0x08, 0, 2, 0, 4, 0, 0,
   0, 1), 0, MIG_OK, A_MAGIC, 0, "", NULL, NULL},
  {"command_packaged_length_cap", A_RAM_START, 0, 0, B(0x08, 0, 7, 0, 4, 0xff, 0xff, 0xff,
   0x00), 0, MIG_ERR_TOO_LONG, A_RAM_START, 5, "command/PACKAGED", "length 4294967040",
   "packaged_bytes_max"},
  {"command_packaged_short", A_RAM_START, 0, 0, B(0x08, 0, 7, 0, 4, 0, 0x10, 0, 0), 0,
   MIG_ERR_TRUNCATED, A_RAM_START, 9, "command/PACKAGED", NULL, NULL},
  {"command_postcopy_advise_off", A_RAM_START, 0, 0, B(0x08, 0, 3, 0, 0), 0,
   MIG_ERR_BAD_COMMAND, A_RAM_START, 0, "command/POSTCOPY_ADVISE", "postcopy", "postcopy_refused"},
  {"command_postcopy_listen_state", A_RAM_START, 0, 0, B(0x08, 0, 4, 0, 0), 0,
   MIG_ERR_BAD_COMMAND, A_RAM_START, 0, "command/POSTCOPY_LISTEN", NULL, "postcopy_refused"},
  {"command_postcopy_run_state", A_RAM_START, 0, 0, B(0x08, 0, 5, 0, 0), 0,
   MIG_ERR_BAD_COMMAND, A_RAM_START, 0, "command/POSTCOPY_RUN", NULL, "postcopy_refused"},
  {"command_discard_not_postcopy", A_RAM_START, 0, 0, B(0x08, 0, 6, 0, 20, 0, 6, 'p', 'c', '.',
   'r', 'a', 'm', 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0), 0,
   MIG_ERR_BAD_COMMAND, A_RAM_START, 0, "command/POSTCOPY_RAM_DISCARD", NULL, "postcopy_refused"},
  {"command_enable_colo_off", A_RAM_START, 0, 0, B(0x08, 0, 8, 0, 0), 0, MIG_ERR_BAD_COMMAND,
   A_RAM_START, 0, "command/ENABLE_COLO", NULL, "postcopy_refused"},
  {"command_recv_bitmap_not_recovering", A_RAM_START, 0, 0, B(0x08, 0, 10, 0, 7, 6, 'p', 'c',
   '.', 'r', 'a', 'm'), 0, MIG_ERR_BAD_COMMAND, A_RAM_START, 0, "command/RECV_BITMAP", NULL,
   "postcopy_refused"},
  {"command_resume_ignored_ok", A_RAM_START, 0, 0, B(0x08, 0, 9, 0, 0), 0, MIG_OK, A_MAGIC, 0,
   "", NULL, NULL},
  /* §11.2 VMState */
  {"vmstate_equal_mismatch", A_DEV_PAYLOAD, 3, 1, B(0x57), 0, MIG_ERR_EQUAL_MISMATCH,
   A_DEV_PAYLOAD, 0, "0000:00:03.0/hdev/id", "read 0x48444557 expected 0x48444556",
   "destination_known"},
  {"vmstate_varray_count_cap", A_DEV_N, 0, 1, B(5), 0, MIG_ERR_TOO_LONG, A_DEV_BUF, 0,
   "0000:00:03.0/hdev/buf", "element count 5 > bound 4", "destination_known"},
  {"vmstate_nullptr_marker", A_DEV_WORDS, 0, 1, B(0x31), 0, MIG_ERR_BAD_VALUE, A_DEV_WORDS, 0,
   "0000:00:03.0/hdev/words[0]", "nullptr marker 0x31", "destination_known"},
  {"vmstate_int32_le_range", A_DEV_LE, 3, 1, B(6), 0, MIG_ERR_BAD_VALUE, A_DEV_LE, 0,
   "0000:00:03.0/hdev/le", "read 6, accepted 0..5", "destination_known"},
  {"vmstate_validate_fails", A_DEV_N, 0, 3, B(3, 0xb0, 0xb1, 0xb2), 0, MIG_ERR_BAD_VALUE,
   A_DEV_SUB, 1, "0000:00:03.0/hdev/n_ok", "input validation failed", "destination_known"},
  {"vmstate_subsection_unknown", A_DEV_SUB, 11, 1, B('b'), 0, MIG_ERR_SUBSECTION, A_DEV_SUB, 0,
   "0000:00:03.0/hdev/extrb", "no such subsection here", "destination_known"},
  {"vmstate_subsection_wrong_prefix", A_DEV_SUB, 2, 1, B('x'), 0, MIG_ERR_SUBSECTION, A_DEV_SUB,
   0, HDEV_IDSTR, "subsection 'xdev/extra' is not one of 'hdev'",
   "destination_known"},
  {"vmstate_subsection_version_256", A_DEV_SUB_VERSION, 2, 2, B(1, 0), 0, MIG_ERR_SUBSECTION,
   A_DEV_SUB_VERSION, 0, "0000:00:03.0/hdev/extra", "version 256 > 255", "destination_known"},
  {"vmstate_subsection_version_new", A_DEV_SUB_VERSION, 3, 1, B(2), 0, MIG_ERR_SECTION_VERSION,
   A_DEV_SUB_VERSION, 0, "0000:00:03.0/hdev/extra", "version 2, accepted 1..1",
   "destination_known"},
  {"vmstate_pre_load_fails", A_MAGIC, 0, 0, NOTHING, T_FAIL_PRE_LOAD, MIG_ERR_HOOK,
   A_DEV_PAYLOAD, 0, "0000:00:03.0/hdev", "pre_load returned -22", "destination_known"},
  {"vmstate_post_load_fails", A_MAGIC, 0, 0, NOTHING, T_FAIL_POST_LOAD, MIG_ERR_HOOK,
   A_DEV_FOOTER, 0, "0000:00:03.0/hdev", "post_load returned -5", "destination_known"},
  /* §11.2 RAM */
  {"ram_flags_unknown_0x402", A_ZERO_REC, 6, 1, B(0x04), 0, MIG_ERR_RAM_FLAGS, A_ZERO_REC, 0,
   "ram/flags", "0x402", NULL},
  {"ram_flags_full_0x001", A_ZERO_REC, 7, 1, B(0x01), 0, MIG_ERR_RAM_FLAGS, A_ZERO_REC, 0,
   "ram/flags", NULL, NULL},
  {"ram_flags_compress_0x100", A_ZERO_REC, 6, 2, B(0x01, 0x00), 0, MIG_ERR_RAM_FLAGS,
   A_ZERO_REC, 0, "ram/flags", NULL, "ram_compress_refused"},
  {"ram_flags_multifd_flush_0x200", A_ZERO_REC, 6, 2, B(0x02, 0x00), 0, MIG_ERR_RAM_FLAGS,
   A_ZERO_REC, 0, "ram/flags", NULL, NULL},
  {"ram_flags_hook_0x080", A_ZERO_REC, 6, 2, B(0x00, 0x80), 0, MIG_ERR_RAM_FLAGS, A_ZERO_REC, 0,
   "ram/flags", NULL, NULL},
  {"ram_flags_xbzrle_0x040", A_ZERO_REC, 6, 2, B(0x00, 0x40), 0, MIG_ERR_RAM_FLAGS, A_ZERO_REC,
   0, "ram/flags", NULL, "ram_xbzrle_refused"},
  {"ram_continue_without_block", A_ZERO_REC, 7, 1, B(0x22), 0, MIG_ERR_RAM_BLOCK, A_ZERO_REC, 0,
   "ram/continue", NULL, NULL},
  {"ram_block_unknown", A_ZERO_NAME, 1, 1, B('x'), 0, MIG_ERR_RAM_BLOCK, A_ZERO_REC, 0,
   "ram/xc.ram", NULL, "destination_known"},
  {"ram_offset_beyond_block", A_PAGE_REC, 6, 1, B(0x40), 0, MIG_ERR_RAM_OFFSET, A_PAGE_REC, 0,
   "ram/pc.ram", "illegal RAM offset 0x4000", NULL},
  {"ram_zero_fill_nonzero", A_ZERO_FILL, 0, 1, B(0x41), 0, MIG_ERR_BAD_VALUE, A_ZERO_FILL, 0,
   "ram/pc.ram", "fill byte 0x41", "zero_fill_nonzero_refused"},
  {"ram_setup_unknown_block", A_SETUP_ENTRY, 1, 1, B('x'), 0, MIG_ERR_RAM_BLOCK, A_SETUP_ENTRY,
   0, "ram/xc.ram", NULL, "destination_known"},
  {"ram_setup_length_mismatch", A_SETUP_LEN, 6, 1, B(0x50), 0, MIG_ERR_RAM_BLOCK, A_SETUP_ENTRY,
   0, "ram/pc.ram", "Size mismatch: pc.ram: 0x5000 != 0x4000", NULL},
  {"ram_setup_total_short", A_MEM_SIZE, 6, 1, B(0x30), 0, MIG_ERR_RAM_BLOCK, A_SETUP_ENTRY, 0,
   "ram/pc.ram", NULL, NULL},
  {"ram_setup_total_long", A_MEM_SIZE, 6, 1, B(0x50), 0, MIG_ERR_RAM_BLOCK, A_START_EOS, 0,
   "ram/", NULL, NULL},
  {"ram_page_before_setup", A_MEM_SIZE, 7, 1, B(0x02), 0, MIG_ERR_RAM_ORDER, A_MEM_SIZE, 0,
   "ram/flags", "out of order", "ram_setup_first"},
  /* Policy fields (docs/hostile.md "Policy"): refused here, accepted by QEMU 7.2. */
  {"ram_block_name_nul", A_ZERO_NAME, 0, 7, B(8, 'p', 'c', '.', 'r', 'a', 'm', 0, 'x'), 0,
   MIG_ERR_BAD_IDSTR, A_ZERO_NAME, 0, "ram/pc.ram", "NUL byte", "names_nul_refused"},
  {"ram_block_name_nul_7_2_ok", A_ZERO_NAME, 0, 7, B(8, 'p', 'c', '.', 'r', 'a', 'm', 0, 'x'),
   T_QEMU_7_2, MIG_OK, A_MAGIC, 0, "", NULL, NULL},
  {"ram_zero_fill_nonzero_7_2_ok", A_ZERO_FILL, 0, 1, B(0x41), T_QEMU_7_2, MIG_OK, A_MAGIC, 0,
   "", NULL, NULL},
  {"config_capability_known_7_2", A_SECTIONS, 0, 0, B(CFG_CAPS, 0, 0, 0, 1, 0, 0, 0, 1, 6, 'x',
   'b', 'z', 'r', 'l', 'e'), 0, MIG_ERR_CONFIG_MISMATCH, A_SECTIONS, 36,
   "configuration/capabilities[0]", "received unknown capability xbzrle",
   "capabilities_only_validated"},
  {"config_capability_known_7_2_ok", A_SECTIONS, 0, 0, B(CFG_CAPS, 0, 0, 0, 1, 0, 0, 0, 1, 6,
   'x', 'b', 'z', 'r', 'l', 'e'), T_QEMU_7_2, MIG_OK, A_MAGIC, 0, "", NULL, NULL},
  {"config_subsection_twice", A_SECTIONS, 0, 0, B(CFG_PAGE_BITS, 0, 0, 0, 1, 0, 0, 0, 12,
   CFG_PAGE_BITS, 0, 0, 0, 1, 0, 0, 0, 12), 0, MIG_ERR_SUBSECTION, A_SECTIONS, 40,
   "configuration/target-page-bits", "sent twice", "config_subsection_repeat_refused"},
  {"config_subsection_twice_7_2_ok", A_SECTIONS, 0, 0, B(CFG_PAGE_BITS, 0, 0, 0, 1, 0, 0, 0, 12,
   CFG_PAGE_BITS, 0, 0, 0, 1, 0, 0, 0, 12), T_QEMU_7_2, MIG_OK, A_MAGIC, 0, "", NULL, NULL},
  {"config_missing_7_2_ok", A_CONFIG, 0, 16, NOTHING, T_QEMU_7_2, MIG_OK, A_MAGIC, 0, "", NULL,
   NULL},
  {"trailer_duplicate_keys", A_END_OF_STREAM, 0, 0, B(0x06, 0, 0, 0, 44, TRAILER_DUPLICATE), 0,
   MIG_ERR_VMDESC, A_END_OF_STREAM, 5, "vmdescription/json", NULL, "trailer_checked"},
  {"trailer_duplicate_keys_7_2_ok", A_END_OF_STREAM, 0, 0, B(0x06, 0, 0, 0, 44,
   TRAILER_DUPLICATE), T_QEMU_7_2, MIG_OK, A_MAGIC, 0, "", NULL, NULL},
  {"trailer_other_byte", A_END_OF_STREAM, 0, 0, B(0x05), 0, MIG_ERR_VMDESC, A_END_OF_STREAM, 0,
   "vmdescription", "but got 0x05", "trailer_checked"},
  {"trailer_other_byte_7_2_ok", A_END_OF_STREAM, 0, 0, B(0x05), T_QEMU_7_2, MIG_OK, A_MAGIC, 0,
   "", NULL, NULL},
};

/* base with [at, at + remove) replaced by insert; returns the new length. */
static size_t splice(uint8_t *out, size_t out_bytes, const struct stream *base, size_t at,
                     size_t remove, const uint8_t *insert, size_t insert_count)
{
  ck_assert_uint_le(at + remove, base->count);
  size_t count = base->count - remove + insert_count;
  ck_assert_uint_le(count, out_bytes);
  memcpy(out, base->bytes, at);
  memcpy(out + at, insert, insert_count);
  memcpy(out + at + insert_count, base->bytes + at + remove, base->count - at - remove);
  return count;
}

/* Goal: one §11.2/§11.3 item per case: typed error, offset, path; method: splice + load. */
START_TEST(mig_hostile_case)
{
  const struct hostile_case *c = &cases[_i];
  static struct stream base;
  stream_build(&base);
  static uint8_t bytes[sizeof base.bytes + 96];
  size_t count = splice(bytes, sizeof bytes, &base, base.at[c->at] + c->at_delta, c->remove,
                        c->insert, c->insert_count);
  struct load_result result = load_bytes(bytes, count, c->options);
  const struct mig_error *e = &result.error;
  ck_assert_msg(e->code == c->code, "%s: got %s (%s at 0x%" PRIx64 " %s)", c->name,
                mig_err_name(e->code), e->detail, e->offset, e->path);
  if (c->code == MIG_OK) {
    ck_assert_uint_eq(result.stats.stream_bytes, count);
    ck_assert_uint_eq(result.tick1_ns, 0x2222); /* the whole stream was applied */
    return;
  }
  /* An insertion before the expected anchor shifts it; none of the cases does that. */
  uint64_t offset = base.at[c->error_at] + c->error_delta;
  ck_assert_msg(e->offset == offset, "%s: offset 0x%" PRIx64 ", expected 0x%" PRIx64, c->name,
                e->offset, offset);
  ck_assert_msg(strcmp(e->path, c->path) == 0, "%s: path '%s', expected '%s'", c->name, e->path,
                c->path);
  if (c->detail != NULL) {
    ck_assert_msg(strstr(e->detail, c->detail) != NULL, "%s: detail '%s', expected '%s'",
                  c->name, e->detail, c->detail);
  }
  ck_assert_msg((e->policy == NULL) == (c->policy == NULL) &&
                (c->policy == NULL || strcmp(e->policy, c->policy) == 0),
                "%s: policy %s, expected %s", c->name, e->policy != NULL ? e->policy : "none",
                c->policy != NULL ? c->policy : "none");
  /* Nothing after the error was applied (a trailer error comes after every section). */
  if (c->error_at < A_EOF) ck_assert_uint_ne(result.tick1_ns, 0x2222);
}
END_TEST

/* Goal: the fixture's stream is valid and loads whole; method: load, check fields. */
START_TEST(mig_hostile_valid_stream_loads)
{
  static struct stream base;
  stream_build(&base);
  struct load_result result = load_bytes(base.bytes, base.count, T_PLAIN);
  ck_assert_int_eq(result.error.code, MIG_OK);
  ck_assert_uint_eq(result.stats.stream_bytes, base.count);
  ck_assert_uint_eq(result.stats.sections_count, 6);
  ck_assert_uint_eq(result.hdev.n, 2);
  ck_assert_uint_eq(result.hdev.buf_storage[1], 0xb1);
  ck_assert_uint_eq(result.hdev.word_storage, 0xc0c1);
  ck_assert_int_eq(result.hdev.le, 3);
  ck_assert_uint_eq(result.hdev.extra, 0xee);
  ck_assert_uint_eq(result.tick1_ns, 0x2222);
}
END_TEST

/*
 * Goal: a stream cut anywhere fails TRUNCATED inside the input, never reads
 * past it (ASan) and never succeeds (spec §11.2 "read error at any check
 * point", §11.3 item 17); method: every prefix length (a stride inside page data).
 */
START_TEST(mig_hostile_every_truncation)
{
  static struct stream base;
  stream_build(&base);
  size_t page_start = base.at[A_PAGE_REC] + 8;
  for (size_t n = 0; n < base.count; n++) {
    /* Inside the page's 4096 data bytes every cut is alike: keep edges and a stride. */
    bool in_page = n > page_start + 1 && n + 1 < page_start + MIG_PAGE_BYTES;
    if (in_page && n % 61 != 0) continue;
    struct load_result result = load_bytes(base.bytes, n, T_PLAIN);
    ck_assert_msg(result.error.code == MIG_ERR_TRUNCATED, "length %zu: %s", n,
                  mig_err_name(result.error.code));
    ck_assert_uint_le(result.error.offset, n);
  }
}
END_TEST

/* Goal: no single-byte change outside page data crashes or goes untyped; method: flips. */
START_TEST(mig_hostile_byte_flips)
{
  static struct stream base;
  stream_build(&base);
  size_t failures = 0;
  size_t page_start = base.at[A_PAGE_REC] + 8;
  for (size_t i = 0; i < base.count; i++) {
    if (i >= page_start && i < page_start + MIG_PAGE_BYTES) continue;
    static const uint8_t masks[] = {0x01, 0xff};
    for (size_t m = 0; m < SIM_ARRAY_COUNT(masks); m++) {
      static uint8_t bytes[sizeof base.bytes];
      memcpy(bytes, base.bytes, base.count);
      bytes[i] ^= masks[m];
      struct load_result result = load_bytes(bytes, base.count, T_PLAIN);
      ck_assert_int_lt(result.error.code, MIG_ERR_COUNT);
      if (result.error.code != MIG_OK) failures++;
    }
  }
  ck_assert_uint_gt(failures, 100);
}
END_TEST

Suite *mig_hostile_suite(void)
{
  Suite *suite = suite_create("mig_hostile");
  TCase *items = tcase_create("items");
  tcase_add_loop_test(items, mig_hostile_case, 0, (int)SIM_ARRAY_COUNT(cases));
  suite_add_tcase(suite, items);
  TCase *whole = tcase_create("whole");
  tcase_set_timeout(whole, 300);
  tcase_add_test(whole, mig_hostile_valid_stream_loads);
  tcase_add_test(whole, mig_hostile_every_truncation);
  tcase_add_test(whole, mig_hostile_byte_flips);
  suite_add_tcase(suite, whole);
  return suite;
}
