/*
 * mig_analyze_test.c: the description-driven decoder (mig_analyze.c) on
 * hand-written descriptions and payloads: "array_len" and "index" edge
 * values, capabilities, subsections out of order or unknown, nesting over
 * MIG_VMSTATE_DEPTH_MAX, then whole streams (mig_analyze_stream): device
 * entries chosen as the script does (the last one for a name and instance),
 * a repeated section id, live sections merged by offset, and an inspect
 * result that does not describe the bytes.  The recorded QEMU streams are
 * decoded in cli/cli_analyze_test.c.
 */
#include "sim_base.h"

#include "sim_check.h"

#include <check.h>

#include "mig_analyze.h"
#include "mig_format.h"
#include "mig_inspect.h"
#include "mig_stream.h"

/* ------------------------------------------------------------ sections */

struct section_case {
  const char *name;
  const char *desc;        /* the device's description (JSON) */
  const char *payload;     /* its bytes */
  size_t payload_bytes;
  enum mig_err code;
  uint64_t offset;         /* of the error, payload at 0x100 */
  const char *path;        /* of the error; for MIG_OK the decoded JSON */
};

#define U8(name) "{\"name\":\"" name "\",\"type\":\"uint8\",\"size\":1"
#define STRUCT(inner) "{\"fields\":[{\"name\":\"s\",\"type\":\"struct\",\"struct\":" inner "}]}"
#define DEPTH_4(inner) STRUCT(STRUCT(STRUCT(STRUCT(inner))))
#define SUBS "\"subsections\":[{\"vmsd_name\":\"s1\",\"fields\":[" U8("x") "}]}," \
             "{\"vmsd_name\":\"s2\",\"fields\":[]}]"

static const struct section_case section_cases[] = {
  {"desc_array", "[]", "", 0, MIG_ERR_VMDESC, 0x100, "dev"},
  {"fields_object", "{\"fields\":{}}", "", 0, MIG_ERR_VMDESC, 0x100, "dev"},
  {"subsections_object", "{\"fields\":[],\"subsections\":{}}", "", 0, MIG_ERR_VMDESC, 0x100,
   "dev"},
  {"array_len_string", "{\"fields\":[" U8("a") ",\"array_len\":\"2\"}]}", "\x01\x02", 2,
   MIG_ERR_VMDESC, 0x100, "dev/a"},
  {"array_len_over_bound", "{\"fields\":[" U8("a") ",\"array_len\":2097153}]}", "\x01", 1,
   MIG_ERR_VMDESC, 0x100, "dev/a"},
  /* The script reads element 0 whatever array_len says. */
  {"array_len_zero", "{\"fields\":[" U8("a") ",\"array_len\":0}]}", "\x01", 1, MIG_OK, 0,
   "{\"a\":[\"0x01\"]}"},
  {"index_string", "{\"fields\":[" U8("a") ",\"index\":\"0\"}]}", "\x01", 1, MIG_ERR_VMDESC,
   0x100, "dev/a"},
  {"index_negative", "{\"fields\":[" U8("a") ",\"index\":-1}]}", "\x01", 1, MIG_ERR_VMDESC,
   0x100, "dev/a"},
  {"index_gap", "{\"fields\":[" U8("a") ",\"index\":1}]}", "\x01", 1, MIG_ERR_VMDESC, 0x101,
   "dev/a"},
  {"index_after_plain", "{\"fields\":[" U8("a") "}," U8("a") ",\"index\":0}]}", "\x01\x02", 2,
   MIG_ERR_VMDESC, 0x102, "dev/a"},
  {"index_list", "{\"fields\":[" U8("a") ",\"index\":0}," U8("a") ",\"index\":1}]}",
   "\x01\x02", 2, MIG_OK, 0, "{\"a\":[\"0x01\",\"0x02\"]}"},
  {"capability_missing", "{\"fields\":[{\"name\":\"c\",\"type\":\"capability\"}]}", "", 0,
   MIG_ERR_TRUNCATED, 0x100, "dev/c"},
  {"capability_cut", "{\"fields\":[{\"name\":\"c\",\"type\":\"capability\"}]}", "\x05\x61", 2,
   MIG_ERR_TRUNCATED, 0x101, "dev/c"},
  {"capability", "{\"fields\":[{\"name\":\"c\",\"type\":\"capability\"},"
   "{\"name\":\"d\",\"type\":\"capability\"}]}", "\x03" "abc\x00", 5, MIG_OK, 0,
   "{\"c\":\"abc\",\"d\":\"\"}"},
  /* Subsections in the other order are found among the siblings. */
  {"subsections_swapped", "{\"fields\":[]," SUBS "}",
   "\x05\x02s2\x00\x00\x00\x01\x05\x02s1\x00\x00\x00\x01\x07", 17, MIG_OK, 0,
   "{\"s2\":{},\"s1\":{\"x\":\"0x07\"}}"},
  {"subsection_unknown", "{\"fields\":[]," SUBS "}", "\x05\x02s3\x00\x00\x00\x01", 8,
   MIG_ERR_SUBSECTION, 0x100, "dev/s1"},
  {"subsection_unnamed", "{\"fields\":[],\"subsections\":[{\"fields\":[]}]}",
   "\x05\x02s1\x00\x00\x00\x01", 8, MIG_ERR_SUBSECTION, 0x100, "dev/(subsection)"},
  {"depth_8", DEPTH_4(DEPTH_4("{\"fields\":[]}")), "", 0, MIG_OK, 0,
   "{\"s\":{\"s\":{\"s\":{\"s\":{\"s\":{\"s\":{\"s\":{\"s\":{}}}}}}}}}"},
  {"depth_9", STRUCT(DEPTH_4(DEPTH_4("{\"fields\":[]}"))), "", 0, MIG_ERR_VMDESC, 0x100,
   "dev/s/s/s/s/s/s/s/s/s"},
};

/*
 * Goal: each description edge decodes as the script would or is refused with offset and
 * path; method: one description and payload per case (_i), at stream offset 0x100.
 */
START_TEST(mig_analyze_section_cases)
{
  const struct section_case *c = &section_cases[_i];
  json_error_t json_error;
  json_t *desc = json_loads(c->desc, JSON_DECODE_ANY, &json_error);
  ck_assert_msg(desc != NULL, "%s: %s", c->name, json_error.text);
  json_t *out = NULL;
  struct mig_error error;
  enum mig_err code = mig_analyze_section(desc, (const uint8_t *)c->payload, c->payload_bytes,
                                          0x100, "dev", &out, &error);
  if (c->code != MIG_OK) {
    ck_assert_msg(code == c->code && error.offset == c->offset && strcmp(error.path, c->path) == 0,
                  "%s: got %s at 0x%" PRIx64 " %s (%s)", c->name, mig_err_name(code),
                  error.offset, error.path, error.detail);
    ck_assert_ptr_null(out);
  } else {
    ck_assert_msg(code == MIG_OK, "%s: %s at 0x%" PRIx64 " %s (%s)", c->name,
                  mig_err_name(code), error.offset, error.path, error.detail);
    json_t *expected = json_loads(c->path, 0, &json_error);
    ck_assert_ptr_nonnull(expected);
    char *text = json_dumps(out, JSON_PRESERVE_ORDER);
    ck_assert_msg(json_equal(out, expected), "%s: %s", c->name, text);
    free(text);
    json_decref(expected);
    json_decref(out);
  }
  json_decref(desc);
}
END_TEST

/* ------------------------------------------------------------ streams */

struct stream {
  struct mig_membuf buf;
  struct mig_writer writer;
  uint8_t staging[4096];
};

static void stream_init(struct stream *s)
{
  memset(s, 0, sizeof *s);
  mig_membuf_init(&s->buf, UINT32_C(1) << 20);
  mig_writer_init(&s->writer, s->staging, sizeof s->staging, mig_membuf_write, &s->buf);
  mig_writer_be32(&s->writer, MIG_FILE_MAGIC);
  mig_writer_be32(&s->writer, MIG_FILE_VERSION);
  mig_writer_u8(&s->writer, MIG_SECTION_CONFIGURATION);
  mig_writer_be32(&s->writer, 13);
  mig_writer_bytes(&s->writer, "pc-i440fx-7.2", 13);
}

static void header(struct stream *s, uint8_t type, uint32_t id, const char *idstr,
                   uint32_t version)
{
  mig_writer_u8(&s->writer, type);
  mig_writer_be32(&s->writer, id);
  mig_writer_counted_string(&s->writer, idstr);
  mig_writer_be32(&s->writer, 0);
  mig_writer_be32(&s->writer, version);
}

static void stream_footer(struct stream *s, uint32_t id)
{
  mig_writer_u8(&s->writer, MIG_SECTION_FOOTER);
  mig_writer_be32(&s->writer, id);
}

static void timer(struct stream *s, const char *payload)
{
  header(s, MIG_SECTION_FULL, 3, "timer", 1);
  mig_writer_bytes(&s->writer, payload, 2);
  stream_footer(s, 3);
}

/* EOF, then the trailer when json is not NULL. */
static void stream_end(struct stream *s, const char *json)
{
  mig_writer_u8(&s->writer, MIG_SECTION_EOF);
  if (json != NULL) {
    mig_writer_u8(&s->writer, MIG_SECTION_VMDESCRIPTION);
    mig_writer_be32(&s->writer, (uint32_t)strlen(json));
    mig_writer_bytes(&s->writer, json, strlen(json));
  }
  ck_assert_int_eq(mig_writer_flush(&s->writer), MIG_OK);
}

/*
 * timer (FULL 3), ram (START 2), timer again (FULL 3), block (START 4).  Of the trailer's
 * entries the walk sizes each timer by the first unused match, the decoder takes the last.
 */
static const char trailer[] =
    "{\"page_size\":4096,\"devices\":[{\"name\":5},{\"name\":\"timer\",\"instance_id\":\"0\"},"
    "{\"name\":\"timer\"},"
    "{\"name\":\"timer\",\"instance_id\":1,\"fields\":[]},"
    "{\"name\":\"timer\",\"instance_id\":0,\"fields\":[{\"name\":\"a\",\"type\":\"uint16\","
    "\"size\":2}]},"
    "{\"name\":\"timer\",\"instance_id\":0,\"fields\":[{\"name\":\"b\",\"type\":\"uint16\","
    "\"size\":2}]}]}";

static void build_stream(struct stream *s)
{
  stream_init(s);
  timer(s, "\x01\x02");
  header(s, MIG_SECTION_START, 2, MIG_RAM_IDSTR, MIG_RAM_SECTION_VERSION);
  mig_writer_be64(&s->writer, MIG_PAGE_BYTES | MIG_RAM_FLAG_MEM_SIZE);
  mig_writer_counted_string(&s->writer, "pc.ram");
  mig_writer_be64(&s->writer, MIG_PAGE_BYTES);
  mig_writer_be64(&s->writer, MIG_RAM_FLAG_EOS);
  stream_footer(s, 2);
  timer(s, "\x03\x04");
  header(s, MIG_SECTION_START, 4, MIG_BLOCK_IDSTR, MIG_BLOCK_SECTION_VERSION);
  mig_writer_be64(&s->writer, MIG_BLOCK_FLAG_EOS);
  stream_footer(s, 4);
  stream_end(s, trailer);
}

/*
 * Goal: a whole stream decodes in stream order, the last device entry of a name and
 * instance wins and a repeated section id replaces the earlier value in place; method: the
 * stream above, its keys and values checked in order.
 */
START_TEST(mig_analyze_stream_order)
{
  struct stream s;
  build_stream(&s);
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_stream(s.buf.bytes, s.buf.count, &inspect, &error), MIG_OK);
  ck_assert_uint_eq(inspect.device_count, 2);
  ck_assert_uint_eq(inspect.live_count, 2);
  json_t *out = NULL;
  ck_assert_int_eq(mig_analyze_stream(s.buf.bytes, s.buf.count, &inspect, &out, &error), MIG_OK);
  static const char *const keys[] = {"timer (3)", "ram (2)", "block (4)"};
  size_t k = 0;
  const char *key;
  json_t *value;
  json_object_foreach(out, key, value) {
    ck_assert_uint_lt(k, SIM_ARRAY_COUNT(keys));
    ck_assert_str_eq(key, keys[k++]);
  }
  ck_assert_uint_eq(k, SIM_ARRAY_COUNT(keys));
  json_t *timer_value = json_object_get(out, "timer (3)");
  ck_assert_str_eq(json_string_value(json_object_get(timer_value, "b")), "0x0304");
  ck_assert_ptr_null(json_object_get(timer_value, "a"));
  json_t *sizes = json_object_get(json_object_get(out, "ram (2)"), "section sizes");
  ck_assert_str_eq(json_string_value(json_object_get(sizes, "pc.ram")), "0x0000000000001000");
  json_t *block = json_object_get(out, "block (4)");
  ck_assert_int_eq(json_integer_value(json_object_get(block, "progress")), 0);
  ck_assert_uint_eq(json_object_size(json_object_get(block, "devices")), 0);
  json_decref(out);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&s.buf);
}
END_TEST

static void expect_analyze(const struct stream *s, const struct mig_inspect *inspect,
                           enum mig_err code, uint64_t offset, const char *path)
{
  json_t *out = NULL;
  struct mig_error error;
  enum mig_err got = mig_analyze_stream(s->buf.bytes, s->buf.count, inspect, &out, &error);
  ck_assert_msg(got == code && error.offset == offset && strcmp(error.path, path) == 0,
                "got %s at 0x%" PRIx64 " %s (%s), expected %s at 0x%" PRIx64 " %s",
                mig_err_name(got), error.offset, error.path, error.detail, mig_err_name(code),
                offset, path);
  ck_assert_ptr_null(out);
}

/*
 * Goal: an inspect result that does not describe the bytes is refused, never printed with
 * another section's summary; method: the stream above with its walk result edited (a live
 * section's id or offset, a device's instance or size, no trailer).
 */
START_TEST(mig_analyze_stream_mismatch)
{
  struct stream s;
  build_stream(&s);
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_stream(s.buf.bytes, s.buf.count, &inspect, &error), MIG_OK);
  struct mig_inspect edited = inspect;
  edited.lives[0].section_id = 9;
  expect_analyze(&s, &edited, MIG_ERR_UNKNOWN_SECTION, inspect.lives[0].offset, "ram");
  edited = inspect;
  edited.lives[0].offset = inspect.devices[0].offset;  /* a FULL header: "timer" */
  expect_analyze(&s, &edited, MIG_ERR_UNKNOWN_SECTION, inspect.devices[0].offset, "timer");
  edited.lives[0].offset = inspect.eof_offset;  /* not a section: no name */
  expect_analyze(&s, &edited, MIG_ERR_UNKNOWN_SECTION, inspect.eof_offset, "");
  /* The first timer's footer: 0x7e is no record type at the top level. */
  edited.lives[0].offset = inspect.devices[0].payload_offset + 2;
  json_t *out = NULL;
  ck_assert_int_ne(mig_analyze_stream(s.buf.bytes, s.buf.count, &edited, &out, &error), MIG_OK);
  ck_assert_uint_eq(error.offset, edited.lives[0].offset);
  ck_assert_ptr_null(out);
  /* The trailer's span moved onto its first device entry: JSON without "devices". */
  const char *entry = strstr(trailer, "{\"name\":5}");
  edited = inspect;
  edited.trailer_offset = inspect.trailer_offset + (uint64_t)(entry - trailer);
  edited.trailer_bytes = strlen("{\"name\":5}");
  expect_analyze(&s, &edited, MIG_ERR_VMDESC, edited.trailer_offset, "vmdesc/devices");
  inspect.devices[0].instance_id = 7;
  expect_analyze(&s, &inspect, MIG_ERR_UNKNOWN_SECTION, inspect.devices[0].offset, "timer");
  inspect.devices[0].instance_id = 0;
  inspect.devices[1].bytes = s.buf.count;
  expect_analyze(&s, &inspect, MIG_ERR_TRUNCATED, inspect.devices[1].offset, "timer");
  inspect.devices[1].bytes = 2;
  uint64_t payload_offset = inspect.devices[1].payload_offset;
  inspect.devices[1].payload_offset = s.buf.count + 1;
  expect_analyze(&s, &inspect, MIG_ERR_TRUNCATED, inspect.devices[1].offset, "timer");
  inspect.devices[1].payload_offset = payload_offset;
  edited = inspect;
  edited.trailer_bytes = 0;
  expect_analyze(&s, &edited, MIG_ERR_VMDESC, inspect.trailer_offset, "vmdesc/devices");
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&s.buf);
}
END_TEST

/*
 * Goal: without a usable trailer there is nothing to decode by; method: a stream with no
 * trailer, and one whose trailer is not JSON walked with trailer_advisory.
 */
START_TEST(mig_analyze_stream_no_description)
{
  for (int variant = 0; variant < 2; variant++) {
    struct stream s;
    stream_init(&s);
    timer(&s, "\x01\x02");
    stream_end(&s, variant == 0 ? NULL : "{\"page_size\":");
    struct mig_inspect inspect;
    struct mig_error error;
    struct mig_inspect_options options = {.trailer_advisory = true};
    ck_assert_int_eq(mig_inspect_walk_with(s.buf.bytes, s.buf.count, &inspect, &options, NULL,
                                           &error), MIG_OK);
    ck_assert(inspect.has_trailer == (variant == 1));
    expect_analyze(&s, &inspect, MIG_ERR_VMDESC, inspect.trailer_offset, "vmdesc/devices");
    mig_inspect_deinit(&inspect);
    mig_membuf_deinit(&s.buf);
  }
}
END_TEST

/*
 * Goal: a subsection whose name is no valid UTF-8 (a description built by the caller, not
 * parsed) is refused as a name, not as memory; method: vmsd_name "\xff" made unchecked.
 */
START_TEST(mig_analyze_subsection_name_not_utf8)
{
  json_t *sub = json_pack("{s:o,s:[]}", "vmsd_name", json_stringn_nocheck("\xff", 1), "fields");
  json_t *desc = json_pack("{s:[],s:[o]}", "fields", "subsections", sub);
  ck_assert_ptr_nonnull(desc);
  static const uint8_t payload[] = {MIG_SECTION_SUBSECTION, 1, 0xff, 0, 0, 0, 1};
  json_t *out = NULL;
  struct mig_error error;
  ck_assert_int_eq(mig_analyze_section(desc, payload, sizeof payload, 0x100, "dev", &out, &error),
                   MIG_ERR_BAD_IDSTR);
  ck_assert_uint_eq(error.offset, 0x100);
  ck_assert_str_eq(error.path, "dev/\xff");
  ck_assert_ptr_null(out);
  json_decref(desc);
}
END_TEST

/*
 * Goal: the decoded values of a description are bounded (MIG_ANALYZE_VALUES_MAX), zero-size
 * fields included; method: array_len MIG_ANALYZE_VALUES_MAX of a size-0 field, then one more.
 */
START_TEST(mig_analyze_values_over_bound)
{
  json_t *desc = json_pack("{s:[{s:s,s:i,s:I},{s:s,s:i}]}", "fields", "name", "a", "size", 0,
                           "array_len", (json_int_t)MIG_ANALYZE_VALUES_MAX, "name", "b", "size",
                           0);
  ck_assert_ptr_nonnull(desc);
  json_t *out = NULL;
  struct mig_error error;
  ck_assert_int_eq(mig_analyze_section(desc, NULL, 0, 0x100, "dev", &out, &error),
                   MIG_ERR_TOO_LONG);
  ck_assert_uint_eq(error.offset, 0x100);
  ck_assert_str_eq(error.path, "dev/b");
  ck_assert_ptr_null(out);
  json_decref(desc);
}
END_TEST

Suite *mig_analyze_suite(void)
{
  Suite *suite = suite_create("mig_analyze");
  TCase *section = tcase_create("section");
  tcase_add_loop_test(section, mig_analyze_section_cases, 0, (int)SIM_ARRAY_COUNT(section_cases));
  tcase_add_test(section, mig_analyze_subsection_name_not_utf8);
  tcase_add_test(section, mig_analyze_values_over_bound);
  suite_add_tcase(suite, section);
  TCase *stream = tcase_create("stream");
  tcase_add_test(stream, mig_analyze_stream_order);
  tcase_add_test(stream, mig_analyze_stream_mismatch);
  tcase_add_test(stream, mig_analyze_stream_no_description);
  suite_add_tcase(suite, stream);
  return suite;
}
