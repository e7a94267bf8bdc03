/*
 * mig_vmstate_test.c: libcheck suite for the vmstate interpreter.  One test
 * description, "toydev", uses every field kind, a version-gated field, a
 * field_exists field, a nested struct with its own subsection, and sent,
 * unsent and nested subsections.  Its wire bytes and its QEMU-style JSON are
 * written out by hand below (STYLE R24) and compared with what save produces;
 * load is checked for round trips, version and EQUAL rules, the subsection
 * rules of spec §5.6 and §11.3, and for never crashing on every truncation
 * and every single-byte flip of the golden stream.  TCases: save, load,
 * subsection, corrupt.
 */
#include "sim_base.h"

#include <check.h>

#include "mig_err.h"
#include "mig_limits.h"
#include "mig_stream.h"
#include "mig_vmstate.h"
#include "mig_vmstate_test_inl.h"

/* ------------------------------------------------------ the description */

struct toy_inner {
  uint16_t a;                 /* migrated */
  uint32_t b;                 /* migrated */
  bool deep_on;               /* migrated; decides the "toyinner/deep" subsection */
  uint8_t deep_value;         /* migrated in "toyinner/deep" */
};

struct toy {
  uint8_t u8;
  uint32_t magic;             /* configuration: must be equal on both sides */
  uint16_t u16;
  uint32_t u32;
  uint64_t u64;
  int8_t i8;
  int16_t i16;
  int32_t i32;
  int64_t i64;
  bool flag;                  /* migrated; decides whether opt exists */
  uint8_t buf[4];
  uint16_t regs[3];
  struct toy_inner inner;
  uint32_t newer;             /* only from version 2 */
  uint16_t opt;               /* only when flag */
  bool extra_on;              /* not migrated; decides "toydev/extra" */
  uint32_t extra_value;       /* in "toydev/extra" */
  uint8_t more;               /* in "toydev/extra/more" */
  uint32_t never_value;       /* in "toydev/never", which is never needed */
  int pre_save_calls;         /* hook bookkeeping, not migrated */
  int post_save_calls;
  int pre_load_calls;
  int post_load_calls;
  int32_t post_load_version;
  int pre_save_rc;            /* what each hook returns */
  int pre_load_rc;
  int post_load_rc;
};

static bool toy_inner_deep_needed(void *opaque)
{
  return ((struct toy_inner *)opaque)->deep_on;
}

static const struct vmstate_field toy_inner_deep_fields[] = {
  VMSTATE_UINT8(struct toy_inner, deep_value),
};

static const struct vmstate_desc toy_inner_deep_desc = {
  .name = "toyinner/deep", .version_id = 1, .minimum_version_id = 1,
  .fields = toy_inner_deep_fields, .field_count = SIM_ARRAY_COUNT(toy_inner_deep_fields),
  .needed = toy_inner_deep_needed,
};

static const struct vmstate_desc *const toy_inner_subsections[] = {&toy_inner_deep_desc};

static const struct vmstate_field toy_inner_fields[] = {
  VMSTATE_UINT16(struct toy_inner, a),
  VMSTATE_UINT32(struct toy_inner, b),
  VMSTATE_BOOL(struct toy_inner, deep_on),
};

static const struct vmstate_desc toy_inner_desc = {
  .name = "toyinner", .version_id = 1, .minimum_version_id = 1,
  .fields = toy_inner_fields, .field_count = SIM_ARRAY_COUNT(toy_inner_fields),
  .subsections = toy_inner_subsections, .subsection_count = 1,
};

static bool toy_opt_exists(void *opaque, int32_t version_id)
{
  (void)version_id;
  return ((struct toy *)opaque)->flag;
}

static bool toy_extra_needed(void *opaque)
{
  return ((struct toy *)opaque)->extra_on;
}

static bool toy_never_needed(void *opaque)
{
  (void)opaque;
  return false;
}

static int toy_pre_save(void *opaque)
{
  struct toy *toy = opaque;
  toy->pre_save_calls++;
  return toy->pre_save_rc;
}

static int toy_post_save(void *opaque)
{
  ((struct toy *)opaque)->post_save_calls++;
  return 0;
}

static int toy_pre_load(void *opaque)
{
  struct toy *toy = opaque;
  toy->pre_load_calls++;
  return toy->pre_load_rc;
}

static int toy_post_load(void *opaque, int32_t version_id)
{
  struct toy *toy = opaque;
  toy->post_load_calls++;
  toy->post_load_version = version_id;
  return toy->post_load_rc;
}

static const struct vmstate_field toy_more_fields[] = {VMSTATE_UINT8(struct toy, more)};

static const struct vmstate_desc toy_more_desc = {
  .name = "toydev/extra/more", .version_id = 1, .minimum_version_id = 1,
  .fields = toy_more_fields, .field_count = SIM_ARRAY_COUNT(toy_more_fields),
};

static const struct vmstate_desc *const toy_extra_subsections[] = {&toy_more_desc};

static const struct vmstate_field toy_extra_fields[] = {VMSTATE_UINT32(struct toy, extra_value)};

static const struct vmstate_desc toy_extra_desc = {
  .name = "toydev/extra", .version_id = 1, .minimum_version_id = 1,
  .fields = toy_extra_fields, .field_count = SIM_ARRAY_COUNT(toy_extra_fields),
  .subsections = toy_extra_subsections, .subsection_count = 1,
  .needed = toy_extra_needed,
};

static const struct vmstate_field toy_never_fields[] = {VMSTATE_UINT32(struct toy, never_value)};

static const struct vmstate_desc toy_never_desc = {
  .name = "toydev/never", .version_id = 1, .minimum_version_id = 1,
  .fields = toy_never_fields, .field_count = SIM_ARRAY_COUNT(toy_never_fields),
  .needed = toy_never_needed,
};

static const struct vmstate_desc *const toy_subsections[] = {&toy_extra_desc, &toy_never_desc};

static const struct vmstate_field toy_fields[] = {
  VMSTATE_UINT8(struct toy, u8),
  VMSTATE_UINT32_EQUAL(struct toy, magic),
  VMSTATE_UINT16(struct toy, u16),
  VMSTATE_UINT32(struct toy, u32),
  VMSTATE_UINT64(struct toy, u64),
  VMSTATE_INT8(struct toy, i8),
  VMSTATE_INT16(struct toy, i16),
  VMSTATE_INT32(struct toy, i32),
  VMSTATE_INT64(struct toy, i64),
  VMSTATE_BOOL(struct toy, flag),
  VMSTATE_BUFFER(struct toy, buf),
  VMSTATE_UNUSED(2),
  VMSTATE_UINT16_ARRAY(struct toy, regs, 3),
  VMSTATE_STRUCT(struct toy, inner, struct toy_inner, toy_inner_desc),
  VMSTATE_UINT32_V(struct toy, newer, 2),
  {.name = "opt", .kind = VMSTATE_KIND_UINT16, .offset = offsetof(struct toy, opt),
   .size_bytes = sizeof(uint16_t), .count = 1, .field_exists = toy_opt_exists},
  VMSTATE_UNUSED(1),
};

static const struct vmstate_desc toy_desc = {
  .name = "toydev", .version_id = 3, .minimum_version_id = 1,
  .fields = toy_fields, .field_count = SIM_ARRAY_COUNT(toy_fields),
  .subsections = toy_subsections, .subsection_count = SIM_ARRAY_COUNT(toy_subsections),
  .pre_save = toy_pre_save, .post_save = toy_post_save,
  .pre_load = toy_pre_load, .post_load = toy_post_load,
};

#define TOY_MAGIC UINT32_C(0x544f5931)

/* The source object whose encoding is toy_golden. */
static void toy_fill(struct toy *toy)
{
  *toy = (struct toy){
    .u8 = 0x11, .magic = TOY_MAGIC, .u16 = 0x2233, .u32 = 0x44556677,
    .u64 = UINT64_C(0x8899aabbccddeeff), .i8 = -2, .i16 = -3, .i32 = -4, .i64 = -5,
    .flag = true, .buf = {0xde, 0xad, 0xbe, 0xef}, .regs = {0x0102, 0x0304, 0x0506},
    .inner = {.a = 0x0a0b, .b = 0x0c0d0e0f, .deep_on = true, .deep_value = 0x77},
    .newer = 0x12345678, .opt = 0xbeef, .extra_on = true, .extra_value = 0xcafef00d,
    .more = 0x42, .never_value = 0x99999999,
  };
}

/* A fresh destination: all zeros except its configuration. */
static void toy_blank(struct toy *toy)
{
  *toy = (struct toy){.magic = TOY_MAGIC};
}

/* ------------------------------------------------------- golden vectors */

static const uint8_t toy_golden[] = {
  /* 0x00 */ 0x11,                                           /* u8 */
  /* 0x01 */ 0x54, 0x4f, 0x59, 0x31,                         /* magic (uint32 equal) */
  /* 0x05 */ 0x22, 0x33,                                     /* u16 */
  /* 0x07 */ 0x44, 0x55, 0x66, 0x77,                         /* u32 */
  /* 0x0b */ 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, /* u64 */
  /* 0x13 */ 0xfe,                                           /* i8 = -2 */
  /* 0x14 */ 0xff, 0xfd,                                     /* i16 = -3 */
  /* 0x16 */ 0xff, 0xff, 0xff, 0xfc,                         /* i32 = -4 */
  /* 0x1a */ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb, /* i64 = -5 */
  /* 0x22 */ 0x01,                                           /* flag = true */
  /* 0x23 */ 0xde, 0xad, 0xbe, 0xef,                         /* buf[4] */
  /* 0x27 */ 0x00, 0x00,                                     /* unused (2) */
  /* 0x29 */ 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,             /* regs[3] */
  /* 0x2f */ 0x0a, 0x0b,                                     /* inner.a */
  /* 0x31 */ 0x0c, 0x0d, 0x0e, 0x0f,                         /* inner.b */
  /* 0x35 */ 0x01,                                           /* inner.deep_on */
  /* 0x36 */ 0x05, 0x0d,                                     /* subsection, 13-byte name */
  /* 0x38 */ 't', 'o', 'y', 'i', 'n', 'n', 'e', 'r', '/', 'd', 'e', 'e', 'p',
  /* 0x45 */ 0x00, 0x00, 0x00, 0x01,                         /* version 1 */
  /* 0x49 */ 0x77,                                           /* inner.deep_value */
  /* 0x4a */ 0x12, 0x34, 0x56, 0x78,                         /* newer (version >= 2) */
  /* 0x4e */ 0xbe, 0xef,                                     /* opt (flag is set) */
  /* 0x50 */ 0x00,                                           /* unused (1) */
  /* 0x51 */ 0x05, 0x0c,                                     /* subsection, 12-byte name */
  /* 0x53 */ 't', 'o', 'y', 'd', 'e', 'v', '/', 'e', 'x', 't', 'r', 'a',
  /* 0x5f */ 0x00, 0x00, 0x00, 0x01,                         /* version 1 */
  /* 0x63 */ 0xca, 0xfe, 0xf0, 0x0d,                         /* extra_value */
  /* 0x67 */ 0x05, 0x11,                                     /* subsection, 17-byte name */
  /* 0x69 */ 't', 'o', 'y', 'd', 'e', 'v', '/', 'e', 'x', 't', 'r', 'a', '/',
             'm', 'o', 'r', 'e',
  /* 0x7a */ 0x00, 0x00, 0x00, 0x01,                         /* version 1 */
  /* 0x7e */ 0x42,                                           /* more */
  /* 0x7f: end; "toydev/never" is not needed and not sent */
};

#define TOY_FIELDS_END 0x51  /* where toydev's subsections start */
#define TOY_EXTRA_END 0x67   /* where toydev/extra's own subsection starts */

static const char toy_json[] =
  "{\"vmsd_name\": \"toydev\", \"version\": 3, \"fields\": ["
  "{\"name\": \"u8\", \"type\": \"uint8\", \"size\": 1}, "
  "{\"name\": \"magic\", \"type\": \"uint32 equal\", \"size\": 4}, "
  "{\"name\": \"u16\", \"type\": \"uint16\", \"size\": 2}, "
  "{\"name\": \"u32\", \"type\": \"uint32\", \"size\": 4}, "
  "{\"name\": \"u64\", \"type\": \"uint64\", \"size\": 8}, "
  "{\"name\": \"i8\", \"type\": \"int8\", \"size\": 1}, "
  "{\"name\": \"i16\", \"type\": \"int16\", \"size\": 2}, "
  "{\"name\": \"i32\", \"type\": \"int32\", \"size\": 4}, "
  "{\"name\": \"i64\", \"type\": \"int64\", \"size\": 8}, "
  "{\"name\": \"flag\", \"type\": \"bool\", \"size\": 1}, "
  "{\"name\": \"buf\", \"type\": \"buffer\", \"size\": 4}, "
  "{\"name\": \"unused[0]\", \"type\": \"unused_buffer\", \"size\": 2}, "
  "{\"name\": \"regs\", \"array_len\": 3, \"type\": \"uint16\", \"size\": 2}, "
  "{\"name\": \"inner\", \"type\": \"struct\", \"struct\": "
  "{\"vmsd_name\": \"toyinner\", \"version\": 1, \"fields\": ["
  "{\"name\": \"a\", \"type\": \"uint16\", \"size\": 2}, "
  "{\"name\": \"b\", \"type\": \"uint32\", \"size\": 4}, "
  "{\"name\": \"deep_on\", \"type\": \"bool\", \"size\": 1}], "
  "\"subsections\": [{\"vmsd_name\": \"toyinner/deep\", \"version\": 1, \"fields\": ["
  "{\"name\": \"deep_value\", \"type\": \"uint8\", \"size\": 1}]}]}, "
  "\"size\": 27}, "
  "{\"name\": \"newer\", \"type\": \"uint32\", \"size\": 4}, "
  "{\"name\": \"opt\", \"type\": \"uint16\", \"size\": 2}, "
  "{\"name\": \"unused[1]\", \"type\": \"unused_buffer\", \"size\": 1}], "
  "\"subsections\": [{\"vmsd_name\": \"toydev/extra\", \"version\": 1, \"fields\": ["
  "{\"name\": \"extra_value\", \"type\": \"uint32\", \"size\": 4}], "
  "\"subsections\": [{\"vmsd_name\": \"toydev/extra/more\", \"version\": 1, \"fields\": ["
  "{\"name\": \"more\", \"type\": \"uint8\", \"size\": 1}]}]}]}";

static const char toy_visit[] =
  "toydev/u8=11\n"
  "toydev/magic=544f5931\n"
  "toydev/u16=2233\n"
  "toydev/u32=44556677\n"
  "toydev/u64=8899aabbccddeeff\n"
  "toydev/i8=fe\n"
  "toydev/i16=fffd\n"
  "toydev/i32=fffffffc\n"
  "toydev/i64=fffffffffffffffb\n"
  "toydev/flag=01\n"
  "toydev/buf=deadbeef\n"
  "toydev/regs[0]=0102\n"
  "toydev/regs[1]=0304\n"
  "toydev/regs[2]=0506\n"
  "toydev/inner/a=0a0b\n"
  "toydev/inner/b=0c0d0e0f\n"
  "toydev/inner/deep_on=01\n"
  "toydev/inner/deep\n"
  "toydev/inner/deep/deep_value=77\n"
  "toydev/newer=12345678\n"
  "toydev/opt=beef\n"
  "toydev/extra\n"
  "toydev/extra/extra_value=cafef00d\n"
  "toydev/extra/more\n"
  "toydev/extra/more/more=42\n";

/* ------------------------------------------------------------- helpers */

static struct mig_error load_from(const uint8_t *bytes, size_t count, struct toy *toy,
                                  int32_t version_id, uint64_t *offset_out)
{
  return vt_load_from(&toy_desc, bytes, count, toy, version_id, offset_out);
}

struct dribble {
  const uint8_t *bytes;  /* the whole stream */
  size_t count;          /* its length */
  size_t position;       /* bytes handed out */
};

static size_t dribble_one(void *context, uint8_t *bytes, size_t capacity)
{
  struct dribble *source = context;
  if (source->position == source->count || capacity == 0) return 0;
  bytes[0] = source->bytes[source->position++];
  return 1;
}

/* The same load through a refill reader that receives one byte per call. */
static struct mig_error load_dribbled(const uint8_t *bytes, size_t count, struct toy *toy)
{
  struct dribble source = {.bytes = bytes, .count = count};
  uint8_t window[MIG_IDSTR_BYTES_MAX + 2];
  struct mig_reader reader;
  mig_reader_init_refill(&reader, window, sizeof window, dribble_one, &source);
  (void)mig_vmstate_load(&reader, &toy_desc, toy, toy_desc.version_id);
  return *mig_reader_error(&reader);
}

/* Builds a stream from golden pieces: toy_golden[0, cut) then extra bytes. */
static size_t stream_build(uint8_t *out, size_t out_bytes, size_t cut, const uint8_t *extra,
                           size_t extra_bytes)
{
  ck_assert_uint_le(cut, sizeof toy_golden);
  ck_assert_uint_le(cut + extra_bytes, out_bytes);
  memcpy(out, toy_golden, cut);
  if (extra_bytes > 0) memcpy(out + cut, extra, extra_bytes);
  return cut + extra_bytes;
}

/* ----------------------------------------------------------------- save */

/* Goal: save emits exactly the hand-written golden bytes; method: compare byte for byte. */
START_TEST(mig_vmstate_save_golden_bytes)
{
  struct toy toy;
  toy_fill(&toy);
  struct mig_membuf membuf;
  ck_assert_int_eq(vt_save_to(&membuf, &toy_desc, &toy, NULL), MIG_OK);
  ck_assert_uint_eq(membuf.count, sizeof toy_golden);
  for (size_t i = 0; i < sizeof toy_golden; i++) {
    ck_assert_msg(membuf.bytes[i] == toy_golden[i], "byte 0x%zx: 0x%02x, golden 0x%02x", i,
                  membuf.bytes[i], toy_golden[i]);
  }
  ck_assert_int_eq(toy.pre_save_calls, 1);
  ck_assert_int_eq(toy.post_save_calls, 1);
  mig_membuf_deinit(&membuf);
}
END_TEST

/* Goal: the JSON description matches QEMU's schema text; method: compare json_dumps output. */
START_TEST(mig_vmstate_save_json_matches_qemu_schema)
{
  struct toy toy;
  toy_fill(&toy);
  struct mig_membuf membuf;
  json_t *json = NULL;
  ck_assert_int_eq(vt_save_to(&membuf, &toy_desc, &toy, &json), MIG_OK);
  ck_assert_ptr_nonnull(json);
  char *text = json_dumps(json, JSON_PRESERVE_ORDER);
  ck_assert_ptr_nonnull(text);
  ck_assert_str_eq(text, toy_json);
  free(text);
  json_decref(json);
  mig_membuf_deinit(&membuf);
}
END_TEST

/* Goal: a false field_exists drops the field's bytes; method: clear flag, compare sizes. */
START_TEST(mig_vmstate_save_field_exists_false)
{
  struct toy toy;
  toy_fill(&toy);
  toy.flag = false;
  toy.extra_on = false;
  toy.inner.deep_on = false;
  struct mig_membuf membuf;
  ck_assert_int_eq(vt_save_to(&membuf, &toy_desc, &toy, NULL), MIG_OK);
  /* Golden minus opt (2), the inner subsection (20) and both toydev subsections. */
  ck_assert_uint_eq(membuf.count, TOY_FIELDS_END - 2 - 20);
  ck_assert_uint_eq(membuf.bytes[0x22], 0x00);          /* flag */
  ck_assert_uint_eq(membuf.bytes[0x35], 0x00);          /* inner.deep_on */
  ck_assert_uint_eq(membuf.bytes[0x36], 0x12);          /* newer follows directly */
  ck_assert_uint_eq(membuf.bytes[membuf.count - 1], 0x00); /* unused (1) */
  ck_assert_uint_eq(membuf.bytes[membuf.count - 2], 0x78); /* newer's last byte */
  mig_membuf_deinit(&membuf);
}
END_TEST

/* Goal: pre_save failure stops the save without post_save; method: pre_save returns -1. */
START_TEST(mig_vmstate_save_pre_save_fails)
{
  struct toy toy;
  toy_fill(&toy);
  toy.pre_save_rc = -1;
  struct mig_membuf membuf;
  json_t *json = (json_t *)&membuf; /* must be reset to NULL */
  ck_assert_int_eq(vt_save_to(&membuf, &toy_desc, &toy, &json), MIG_ERR_HOOK);
  ck_assert_ptr_null(json);
  ck_assert_uint_eq(membuf.count, 0);
  ck_assert_int_eq(toy.pre_save_calls, 1);
  ck_assert_int_eq(toy.post_save_calls, 0);
  mig_membuf_deinit(&membuf);
}
END_TEST

/* Goal: a sink failure surfaces from save and post_save still runs; method: tiny count_max. */
START_TEST(mig_vmstate_save_writer_error)
{
  struct toy toy;
  toy_fill(&toy);
  struct mig_membuf membuf;
  mig_membuf_init(&membuf, 8);
  uint8_t buffer[4];
  struct mig_writer writer;
  mig_writer_init(&writer, buffer, sizeof buffer, mig_membuf_write, &membuf);
  json_t *json = NULL;
  ck_assert_int_eq(mig_vmstate_save(&writer, &toy_desc, &toy, &json), MIG_ERR_NOMEM);
  ck_assert_ptr_null(json);
  ck_assert_int_eq(toy.post_save_calls, 1);
  ck_assert_uint_eq(membuf.count, 8);
  mig_membuf_deinit(&membuf);
}
END_TEST

/* Goal: visit lists every present field's canonical bytes with its path; method: text dump. */
START_TEST(mig_vmstate_visit_paths_and_bytes)
{
  struct toy toy;
  toy_fill(&toy);
  static struct vt_text text;
  vt_visit_text(&toy_desc, &toy, &text);
  ck_assert_str_eq(text.bytes, toy_visit);
  ck_assert_int_eq(toy.pre_save_calls, 0); /* visiting runs no hooks */
}
END_TEST

/* Shapes for the array-of-struct JSON rules. */
struct point {
  uint8_t x;
  uint16_t y;
  uint8_t z;
};

struct shape {
  struct point pts[2];
  uint8_t tail[2];
  uint8_t e8;
  uint16_t e16;
  int32_t e32;
  uint64_t e64;
};

static const struct vmstate_field point_fields[] = {
  VMSTATE_UINT8(struct point, x),
  VMSTATE_UINT16(struct point, y),
};

static const struct vmstate_desc point_desc = {
  .name = "point", .version_id = 1, .minimum_version_id = 1,
  .fields = point_fields, .field_count = SIM_ARRAY_COUNT(point_fields),
};

static const struct vmstate_field point_z_fields[] = {VMSTATE_UINT8(struct point, z)};

static const struct vmstate_desc point_z_desc = {
  .name = "pointz/z", .version_id = 1, .minimum_version_id = 1,
  .fields = point_z_fields, .field_count = SIM_ARRAY_COUNT(point_z_fields),
};

static const struct vmstate_desc *const point_z_subsections[] = {&point_z_desc};

static const struct vmstate_desc pointz_desc = {
  .name = "pointz", .version_id = 1, .minimum_version_id = 1,
  .fields = point_fields, .field_count = SIM_ARRAY_COUNT(point_fields),
  .subsections = point_z_subsections, .subsection_count = 1,
};

static const struct vmstate_field shape_fields[] = {
  {.name = "pts", .kind = VMSTATE_KIND_STRUCT, .offset = offsetof(struct shape, pts),
   .size_bytes = sizeof(struct point), .count = 2, .nested = &point_desc},
  {.name = "pts", .kind = VMSTATE_KIND_STRUCT, .offset = offsetof(struct shape, pts),
   .size_bytes = sizeof(struct point), .count = 2, .nested = &pointz_desc},
  VMSTATE_UINT8_ARRAY(struct shape, tail, 2),
  VMSTATE_UINT8_EQUAL(struct shape, e8),
  VMSTATE_UINT16_EQUAL(struct shape, e16),
  {.name = "e32", .kind = VMSTATE_KIND_INT32, .offset = offsetof(struct shape, e32),
   .size_bytes = sizeof(int32_t), .count = 1, .flags = VMSTATE_FLAG_EQUAL},
  VMSTATE_UINT64_EQUAL(struct shape, e64),
};

static const struct vmstate_desc shape_desc = {
  .name = "shape", .version_id = 1, .minimum_version_id = 1,
  .fields = shape_fields, .field_count = SIM_ARRAY_COUNT(shape_fields),
};

static const char shape_json[] =
  "{\"vmsd_name\": \"shape\", \"version\": 1, \"fields\": ["
  "{\"name\": \"pts[0]\", \"array_len\": 2, \"type\": \"struct\", \"struct\": "
  "{\"vmsd_name\": \"point\", \"version\": 1, \"fields\": ["
  "{\"name\": \"x\", \"type\": \"uint8\", \"size\": 1}, "
  "{\"name\": \"y\", \"type\": \"uint16\", \"size\": 2}]}, \"size\": 3}, "
  "{\"name\": \"pts[1]\", \"index\": 0, \"type\": \"struct\", \"struct\": "
  "{\"vmsd_name\": \"pointz\", \"version\": 1, \"fields\": ["
  "{\"name\": \"x\", \"type\": \"uint8\", \"size\": 1}, "
  "{\"name\": \"y\", \"type\": \"uint16\", \"size\": 2}], "
  "\"subsections\": [{\"vmsd_name\": \"pointz/z\", \"version\": 1, \"fields\": ["
  "{\"name\": \"z\", \"type\": \"uint8\", \"size\": 1}]}]}, \"size\": 18}, "
  "{\"name\": \"pts[1]\", \"index\": 1, \"type\": \"struct\", \"struct\": "
  "{\"vmsd_name\": \"pointz\", \"version\": 1, \"fields\": ["
  "{\"name\": \"x\", \"type\": \"uint8\", \"size\": 1}, "
  "{\"name\": \"y\", \"type\": \"uint16\", \"size\": 2}], "
  "\"subsections\": [{\"vmsd_name\": \"pointz/z\", \"version\": 1, \"fields\": ["
  "{\"name\": \"z\", \"type\": \"uint8\", \"size\": 1}]}]}, \"size\": 18}, "
  "{\"name\": \"tail\", \"array_len\": 2, \"type\": \"uint8\", \"size\": 1}, "
  "{\"name\": \"e8\", \"type\": \"uint8 equal\", \"size\": 1}, "
  "{\"name\": \"e16\", \"type\": \"uint16 equal\", \"size\": 2}, "
  "{\"name\": \"e32\", \"type\": \"int32 equal\", \"size\": 4}, "
  "{\"name\": \"e64\", \"type\": \"int64 equal\", \"size\": 8}]}";

/* Goal: struct arrays, duplicate names and EQUAL types as QEMU names them; method: JSON. */
START_TEST(mig_vmstate_save_json_struct_arrays_and_equal)
{
  struct shape shape = {.pts = {{1, 2, 3}, {4, 5, 6}}, .tail = {7, 8}};
  struct mig_membuf membuf;
  json_t *json = NULL;
  ck_assert_int_eq(vt_save_to(&membuf, &shape_desc, &shape, &json), MIG_OK);
  char *text = json_dumps(json, JSON_PRESERVE_ORDER);
  ck_assert_str_eq(text, shape_json);
  ck_assert_uint_eq(membuf.count, 6 + 36 + 2 + 1 + 2 + 4 + 8);
  free(text);
  json_decref(json);
  mig_membuf_deinit(&membuf);
}
END_TEST

/* ----------------------------------------------------------------- load */

/* Goal: loading the golden bytes rebuilds the source; method: compare visits and fields. */
START_TEST(mig_vmstate_load_golden_round_trip)
{
  struct toy source;
  toy_fill(&source);
  struct toy dest;
  toy_blank(&dest);
  uint64_t offset = 0;
  struct mig_error error = load_from(toy_golden, sizeof toy_golden, &dest, 3, &offset);
  ck_assert_int_eq(error.code, MIG_OK);
  ck_assert_uint_eq(offset, sizeof toy_golden);
  static struct vt_text source_text;
  static struct vt_text dest_text;
  dest.extra_on = true; /* not migrated: it only decides what visit and save include */
  vt_visit_text(&toy_desc, &source, &source_text);
  vt_visit_text(&toy_desc, &dest, &dest_text);
  ck_assert_str_eq(dest_text.bytes, source_text.bytes);
  ck_assert_int_eq(dest.i64, -5);
  ck_assert(dest.inner.deep_on);
  ck_assert_uint_eq(dest.never_value, 0); /* not sent, not touched */
  ck_assert_int_eq(dest.pre_load_calls, 1);
  ck_assert_int_eq(dest.post_load_calls, 1);
  ck_assert_int_eq(dest.post_load_version, 3);
}
END_TEST

/* Goal: save then load reproduces the object for several shapes; method: vary the gates. */
START_TEST(mig_vmstate_save_load_round_trip)
{
  for (unsigned mask = 0; mask < 8; mask++) {
    struct toy source;
    toy_fill(&source);
    source.flag = (mask & 1) != 0;
    source.inner.deep_on = (mask & 2) != 0;
    source.extra_on = (mask & 4) != 0;
    struct mig_membuf membuf;
    ck_assert_int_eq(vt_save_to(&membuf, &toy_desc, &source, NULL), MIG_OK);
    struct toy dest;
    toy_blank(&dest);
    dest.extra_on = source.extra_on;
    struct mig_error error = load_from(membuf.bytes, membuf.count, &dest, 3, NULL);
    ck_assert_int_eq(error.code, MIG_OK);
    static struct vt_text source_text;
    static struct vt_text dest_text;
    vt_visit_text(&toy_desc, &source, &source_text);
    vt_visit_text(&toy_desc, &dest, &dest_text);
    ck_assert_str_eq(dest_text.bytes, source_text.bytes);
    mig_membuf_deinit(&membuf);
  }
}
END_TEST

/* Goal: a version-1 stream has no "newer" and loads at version 1; method: drop its bytes. */
START_TEST(mig_vmstate_load_old_version_skips_field)
{
  uint8_t stream[sizeof toy_golden];
  size_t count = stream_build(stream, sizeof stream, 0x4a, toy_golden + 0x4e,
                              sizeof toy_golden - 0x4e);
  struct toy dest;
  toy_blank(&dest);
  dest.newer = 0x5555;
  struct mig_error error = load_from(stream, count, &dest, 1, NULL);
  ck_assert_int_eq(error.code, MIG_OK);
  ck_assert_uint_eq(dest.newer, 0x5555);
  ck_assert_uint_eq(dest.opt, 0xbeef);
  ck_assert_uint_eq(dest.more, 0x42);
  ck_assert_int_eq(dest.post_load_version, 1);
}
END_TEST

/* Goal: versions outside minimum..current fail before any read; method: load at 4 and 0. */
START_TEST(mig_vmstate_load_version_out_of_range)
{
  struct toy dest;
  toy_blank(&dest);
  uint64_t offset = 1;
  struct mig_error error = load_from(toy_golden, sizeof toy_golden, &dest, 4, &offset);
  ck_assert_int_eq(error.code, MIG_ERR_SECTION_VERSION);
  ck_assert_str_eq(error.path, "toydev");
  ck_assert_str_eq(error.detail, "version 4, accepted 1..3");
  ck_assert_uint_eq(error.offset, 0);
  ck_assert_uint_eq(offset, 0);
  ck_assert_int_eq(dest.pre_load_calls, 0);
  error = load_from(toy_golden, sizeof toy_golden, &dest, 0, NULL);
  ck_assert_int_eq(error.code, MIG_ERR_SECTION_VERSION);
  ck_assert_str_eq(error.detail, "version 0, accepted 1..3");
}
END_TEST

/* Goal: an EQUAL mismatch reports path, offset and both values; method: another magic. */
START_TEST(mig_vmstate_load_equal_mismatch)
{
  struct toy dest;
  toy_blank(&dest);
  dest.magic = TOY_MAGIC + 1;
  struct mig_error error = load_from(toy_golden, sizeof toy_golden, &dest, 3, NULL);
  ck_assert_int_eq(error.code, MIG_ERR_EQUAL_MISMATCH);
  ck_assert_uint_eq(error.offset, 0x01);
  ck_assert_str_eq(error.path, "toydev/magic");
  char text[256];
  mig_error_format(&error, text, sizeof text);
  ck_assert_str_eq(text, "offset 0x1: toydev/magic: field differs from the destination's "
                         "value (read 0x544f5931 expected 0x544f5932)");
  ck_assert_uint_eq(dest.magic, TOY_MAGIC + 1);
  ck_assert_int_eq(dest.post_load_calls, 0);
}
END_TEST

/* Goal: any nonzero bool byte loads as true; method: patch flag and deep_on to 0x80. */
START_TEST(mig_vmstate_load_bool_nonzero)
{
  uint8_t stream[sizeof toy_golden];
  memcpy(stream, toy_golden, sizeof stream);
  stream[0x22] = 0x80;
  stream[0x35] = 0xff;
  struct toy dest;
  toy_blank(&dest);
  ck_assert_int_eq(load_from(stream, sizeof stream, &dest, 3, NULL).code, MIG_OK);
  uint8_t raw = 0;
  memcpy(&raw, &dest.flag, 1);
  ck_assert_uint_eq(raw, 1);
  memcpy(&raw, &dest.inner.deep_on, 1);
  ck_assert_uint_eq(raw, 1);
}
END_TEST

/* Goal: failing load hooks give HOOK with the desc path; method: pre_load, then post_load. */
START_TEST(mig_vmstate_load_hook_fails)
{
  struct toy dest;
  toy_blank(&dest);
  dest.pre_load_rc = -22;
  struct mig_error error = load_from(toy_golden, sizeof toy_golden, &dest, 3, NULL);
  ck_assert_int_eq(error.code, MIG_ERR_HOOK);
  ck_assert_str_eq(error.path, "toydev");
  ck_assert_str_eq(error.detail, "pre_load returned -22");
  ck_assert_uint_eq(dest.u8, 0);
  toy_blank(&dest);
  dest.post_load_rc = 5;
  error = load_from(toy_golden, sizeof toy_golden, &dest, 3, NULL);
  ck_assert_int_eq(error.code, MIG_ERR_HOOK);
  ck_assert_str_eq(error.detail, "post_load returned 5");
  ck_assert_uint_eq(error.offset, sizeof toy_golden);
}
END_TEST

/* Goal: refill mode with 1-byte refills loads like memory mode; method: compare visits. */
START_TEST(mig_vmstate_load_refill_one_byte)
{
  struct toy memory_dest;
  struct toy refill_dest;
  toy_blank(&memory_dest);
  toy_blank(&refill_dest);
  ck_assert_int_eq(load_from(toy_golden, sizeof toy_golden, &memory_dest, 3, NULL).code,
                   MIG_OK);
  ck_assert_int_eq(load_dribbled(toy_golden, sizeof toy_golden, &refill_dest).code, MIG_OK);
  static struct vt_text memory_text;
  static struct vt_text refill_text;
  vt_visit_text(&toy_desc, &memory_dest, &memory_text);
  vt_visit_text(&toy_desc, &refill_dest, &refill_text);
  ck_assert_str_eq(refill_text.bytes, memory_text.bytes);
  ck_assert_int_eq(refill_dest.post_load_calls, 1);
}
END_TEST

/* A chain of descriptions, each one struct field deep, built at run time. */
struct chain {
  uint8_t value;
};

/* Goal: nesting past MIG_VMSTATE_DEPTH_MAX fails cleanly; method: a chain one too deep. */
START_TEST(mig_vmstate_load_too_deep)
{
  struct vmstate_desc descs[MIG_VMSTATE_DEPTH_MAX + 1];
  struct vmstate_field fields[MIG_VMSTATE_DEPTH_MAX + 1];
  for (size_t i = 0; i < SIM_ARRAY_COUNT(descs); i++) {
    bool last = i + 1 == SIM_ARRAY_COUNT(descs);
    fields[i] = (struct vmstate_field){
      .name = "link", .kind = last ? VMSTATE_KIND_UINT8 : VMSTATE_KIND_STRUCT,
      .size_bytes = 1, .count = 1, .nested = last ? NULL : &descs[i + 1]};
    descs[i] = (struct vmstate_desc){.name = "chain", .version_id = 1, .minimum_version_id = 1,
                                     .fields = &fields[i], .field_count = 1};
  }
  const uint8_t stream[] = {0x01};
  struct mig_reader reader;
  mig_reader_init_memory(&reader, stream, sizeof stream);
  struct chain object = {0};
  ck_assert_int_eq(mig_vmstate_load(&reader, &descs[0], &object, 1), MIG_ERR_TOO_LONG);
  ck_assert_str_eq(mig_reader_error(&reader)->path,
                   "chain/link/link/link/link/link/link/link/link");
  ck_assert_uint_eq(object.value, 0);
}
END_TEST

/* ----------------------------------------------------------- subsection */

/* Goal: a well-prefixed but unknown subsection is fatal with its path; method: "toydev/bogus". */
START_TEST(mig_vmstate_load_unknown_subsection)
{
  static const uint8_t bogus[] = {0x05, 0x0c, 't', 'o', 'y', 'd', 'e', 'v', '/', 'b', 'o', 'g',
                                  'u', 's', 0x00, 0x00, 0x00, 0x01, 0x00};
  uint8_t stream[sizeof toy_golden + sizeof bogus];
  size_t count = stream_build(stream, sizeof stream, TOY_FIELDS_END, bogus, sizeof bogus);
  struct toy dest;
  toy_blank(&dest);
  struct mig_error error = load_from(stream, count, &dest, 3, NULL);
  ck_assert_int_eq(error.code, MIG_ERR_SUBSECTION);
  ck_assert_uint_eq(error.offset, TOY_FIELDS_END);
  ck_assert_str_eq(error.path, "toydev/bogus");
  ck_assert_int_eq(dest.post_load_calls, 0);
}
END_TEST

/* Goal: foreign subsections stay in the stream, load succeeds; method: three bad names. */
START_TEST(mig_vmstate_load_wrong_prefix_left_in_stream)
{
  static const uint8_t other[] = {0x05, 0x09, 'o', 't', 'h', 'e', 'r', 'd', 'v', '/', 'x',
                                  0x00, 0x00, 0x00, 0x01};
  static const uint8_t short_name[] = {0x05, 0x03, 't', 'o', 'y', 0x00, 0x00, 0x00, 0x01};
  static const uint8_t no_slash[] = {0x05, 0x08, 't', 'o', 'y', 'd', 'e', 'v', 'x', 'y',
                                     0x00, 0x00, 0x00, 0x01};
  const uint8_t *const tails[] = {other, short_name, no_slash};
  const size_t tail_bytes[] = {sizeof other, sizeof short_name, sizeof no_slash};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(tails); i++) {
    uint8_t stream[sizeof toy_golden + 32];
    size_t count = stream_build(stream, sizeof stream, TOY_FIELDS_END, tails[i], tail_bytes[i]);
    struct toy dest;
    toy_blank(&dest);
    uint64_t offset = 0;
    struct mig_error error = load_from(stream, count, &dest, 3, &offset);
    ck_assert_int_eq(error.code, MIG_OK);
    ck_assert_uint_eq(offset, TOY_FIELDS_END);
    ck_assert_int_eq(dest.post_load_calls, 1);
  }
}
END_TEST

/* Goal: subsection versions > 255 (§11.3) or > local fail; method: patch to 257, then 2. */
START_TEST(mig_vmstate_load_subsection_version_rejected)
{
  uint8_t stream[sizeof toy_golden];
  memcpy(stream, toy_golden, sizeof stream);
  stream[0x61] = 0x01; /* version 0x00000101 */
  struct toy dest;
  toy_blank(&dest);
  struct mig_error error = load_from(stream, sizeof stream, &dest, 3, NULL);
  ck_assert_int_eq(error.code, MIG_ERR_SUBSECTION);
  ck_assert_uint_eq(error.offset, 0x5f);
  ck_assert_str_eq(error.path, "toydev/extra");
  ck_assert_str_eq(error.detail, "version 257 > 255");
  stream[0x61] = 0x00;
  stream[0x62] = 0x02; /* version 2, local is 1 */
  toy_blank(&dest);
  error = load_from(stream, sizeof stream, &dest, 3, NULL);
  ck_assert_int_eq(error.code, MIG_ERR_SECTION_VERSION);
  ck_assert_uint_eq(error.offset, 0x5f);
  ck_assert_str_eq(error.detail, "version 2, accepted 1..1");
}
END_TEST

/* Goal: the same subsection twice in one load is fatal; method: repeat toydev/extra. */
START_TEST(mig_vmstate_load_subsection_twice)
{
  const size_t extra_bytes = sizeof toy_golden - TOY_FIELDS_END;
  uint8_t stream[sizeof toy_golden + sizeof toy_golden];
  size_t count = stream_build(stream, sizeof stream, sizeof toy_golden,
                              toy_golden + TOY_FIELDS_END, extra_bytes);
  struct toy dest;
  toy_blank(&dest);
  struct mig_error error = load_from(stream, count, &dest, 3, NULL);
  ck_assert_int_eq(error.code, MIG_ERR_SUBSECTION);
  ck_assert_uint_eq(error.offset, sizeof toy_golden);
  ck_assert_str_eq(error.path, "toydev/extra");
  ck_assert_str_eq(error.detail, "subsection sent twice");
}
END_TEST

/* Goal: subsections load in any order, unneeded ones included; method: never, then extra. */
START_TEST(mig_vmstate_load_subsections_any_order)
{
  static const uint8_t never[] = {0x05, 0x0c, 't', 'o', 'y', 'd', 'e', 'v', '/', 'n', 'e', 'v',
                                  'e', 'r', 0x00, 0x00, 0x00, 0x01, 0x0b, 0x0c, 0x0d, 0x0e};
  uint8_t stream[sizeof toy_golden + sizeof never];
  size_t count = stream_build(stream, sizeof stream, TOY_FIELDS_END, never, sizeof never);
  memcpy(stream + count, toy_golden + TOY_FIELDS_END, sizeof toy_golden - TOY_FIELDS_END);
  count += sizeof toy_golden - TOY_FIELDS_END;
  struct toy dest;
  toy_blank(&dest);
  uint64_t offset = 0;
  ck_assert_int_eq(load_from(stream, count, &dest, 3, &offset).code, MIG_OK);
  ck_assert_uint_eq(offset, count);
  ck_assert_uint_eq(dest.never_value, 0x0b0c0d0e);
  ck_assert_uint_eq(dest.extra_value, 0xcafef00d);
  ck_assert_uint_eq(dest.more, 0x42);
}
END_TEST

/* -------------------------------------------------------------- corrupt */

/* Goal: every strict prefix fails TRUNCATED alike in both modes; method: loop over lengths. */
START_TEST(mig_vmstate_load_truncated_every_length)
{
  for (size_t n = 0; n < sizeof toy_golden; n++) {
    struct toy dest;
    toy_blank(&dest);
    struct mig_error error = load_from(toy_golden, n, &dest, 3, NULL);
    struct toy dribbled_dest;
    toy_blank(&dribbled_dest);
    struct mig_error dribbled = load_dribbled(toy_golden, n, &dribbled_dest);
    ck_assert_int_eq(dribbled.code, error.code);
    ck_assert_uint_eq(dribbled.offset, error.offset);
    ck_assert_str_eq(dribbled.path, error.path);
    /* A cut just before a subsection is a complete load: subsections are optional. */
    if (n == TOY_FIELDS_END || n == TOY_EXTRA_END) {
      ck_assert_msg(error.code == MIG_OK, "length %zu: %s", n, mig_err_name(error.code));
      continue;
    }
    ck_assert_msg(error.code == MIG_ERR_TRUNCATED, "length %zu: %s", n,
                  mig_err_name(error.code));
    ck_assert_uint_le(error.offset, n);
    ck_assert_int_eq(dest.post_load_calls, 0);
  }
}
END_TEST

/* Goal: truncation errors name the innermost item and its first byte; method: four cuts. */
START_TEST(mig_vmstate_load_truncated_offsets_and_paths)
{
  static const struct {
    size_t length;          /* bytes kept */
    uint64_t offset;        /* expected error offset */
    const char *path;       /* expected error path */
  } cases[] = {
    {0x00, 0x00, "toydev/u8"},
    {0x2c, 0x2b, "toydev/regs[1]"},
    {0x3a, 0x36, "toydev/inner"},
    {0x47, 0x45, "toydev/inner/deep"},
    {0x49, 0x49, "toydev/inner/deep/deep_value"},
    {0x7e, 0x7e, "toydev/extra/more/more"},
  };
  for (size_t i = 0; i < SIM_ARRAY_COUNT(cases); i++) {
    struct toy dest;
    toy_blank(&dest);
    struct mig_error error = load_from(toy_golden, cases[i].length, &dest, 3, NULL);
    ck_assert_int_eq(error.code, MIG_ERR_TRUNCATED);
    ck_assert_uint_eq(error.offset, cases[i].offset);
    ck_assert_str_eq(error.path, cases[i].path);
  }
  struct toy dest;
  toy_blank(&dest);
  struct mig_error error = load_from(toy_golden, 0x2c, &dest, 3, NULL);
  char text[256];
  mig_error_format(&error, text, sizeof text);
  ck_assert_str_eq(text, "offset 0x2b: toydev/regs[1]: stream ended early "
                         "(needed 2 bytes, 1 left)");
}
END_TEST

/* Goal: no single-byte flip crashes or gives an untyped result; method: 3 flips per byte. */
START_TEST(mig_vmstate_load_byte_flips_never_crash)
{
  static const uint8_t masks[] = {0x01, 0x80, 0xff};
  size_t failures = 0;
  for (size_t i = 0; i < sizeof toy_golden; i++) {
    for (size_t m = 0; m < SIM_ARRAY_COUNT(masks); m++) {
      uint8_t stream[sizeof toy_golden];
      memcpy(stream, toy_golden, sizeof stream);
      stream[i] ^= masks[m];
      struct toy dest;
      toy_blank(&dest);
      uint64_t offset = 0;
      struct mig_error error = load_from(stream, sizeof stream, &dest, 3, &offset);
      ck_assert_int_lt(error.code, MIG_ERR_COUNT);
      ck_assert_uint_le(offset, sizeof stream);
      if (error.code == MIG_OK) {
        ck_assert_int_eq(dest.post_load_calls, 1);
        continue;
      }
      failures++;
      ck_assert_uint_le(error.offset, sizeof stream);
      ck_assert_int_eq(dest.post_load_calls, 0);
    }
  }
  ck_assert_uint_gt(failures, 0); /* flips of magic at least must fail */
}
END_TEST

Suite *mig_vmstate_suite(void)
{
  Suite *suite = suite_create("mig_vmstate");
  TCase *save = tcase_create("save");
  tcase_add_test(save, mig_vmstate_save_golden_bytes);
  tcase_add_test(save, mig_vmstate_save_json_matches_qemu_schema);
  tcase_add_test(save, mig_vmstate_save_field_exists_false);
  tcase_add_test(save, mig_vmstate_save_pre_save_fails);
  tcase_add_test(save, mig_vmstate_save_writer_error);
  tcase_add_test(save, mig_vmstate_visit_paths_and_bytes);
  tcase_add_test(save, mig_vmstate_save_json_struct_arrays_and_equal);
  suite_add_tcase(suite, save);
  TCase *load = tcase_create("load");
  tcase_add_test(load, mig_vmstate_load_golden_round_trip);
  tcase_add_test(load, mig_vmstate_save_load_round_trip);
  tcase_add_test(load, mig_vmstate_load_old_version_skips_field);
  tcase_add_test(load, mig_vmstate_load_version_out_of_range);
  tcase_add_test(load, mig_vmstate_load_equal_mismatch);
  tcase_add_test(load, mig_vmstate_load_bool_nonzero);
  tcase_add_test(load, mig_vmstate_load_hook_fails);
  tcase_add_test(load, mig_vmstate_load_refill_one_byte);
  tcase_add_test(load, mig_vmstate_load_too_deep);
  suite_add_tcase(suite, load);
  TCase *subsection = tcase_create("subsection");
  tcase_add_test(subsection, mig_vmstate_load_unknown_subsection);
  tcase_add_test(subsection, mig_vmstate_load_wrong_prefix_left_in_stream);
  tcase_add_test(subsection, mig_vmstate_load_subsection_version_rejected);
  tcase_add_test(subsection, mig_vmstate_load_subsection_twice);
  tcase_add_test(subsection, mig_vmstate_load_subsections_any_order);
  suite_add_tcase(suite, subsection);
  TCase *corrupt = tcase_create("corrupt");
  tcase_add_test(corrupt, mig_vmstate_load_truncated_every_length);
  tcase_add_test(corrupt, mig_vmstate_load_truncated_offsets_and_paths);
  tcase_add_test(corrupt, mig_vmstate_load_byte_flips_never_crash);
  suite_add_tcase(suite, corrupt);
  return suite;
}
