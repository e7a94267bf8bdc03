/*
 * cli_analyze_test.c: `migsim inspect --format analyze` (decoder in
 * migration/mig_analyze.c, rendering in cli_analyze.c).
 *
 * - decode: hand-built descriptions and payloads for every field kind the
 *   7.2-era analyze-migration.py distinguishes, with the text it prints (the
 *   expected values were checked by running that script on one-device
 *   streams carrying the same descriptions and payloads).
 * - corrupt: payloads that do not match their description are rejected with
 *   the byte offset and the `section/field` path; every truncation fails.
 * - corpus: every stream in ../shared/corpus/qemu-7.2 with a reference
 *   (NAME.analyze.json from the stock script, NAME.analyze-compat.json from a
 *   patched one) is decoded and compared with it as ordered JSON (same keys
 *   in the same order, same values).  No normalisation is applied (see
 *   docs/format.md, "analyze output"); the test also counts the references
 *   our text matches byte for byte.  libcheck has no "skipped" state: when
 *   the folder is absent the test prints
 *   "skipped: TEST: ../shared/corpus/qemu-7.2 not found" (SIM_CHECK_SKIP) and returns.
 */
#include "sim_base.h"

#include "cli_analyze.h"
#include "cli_inspect.h"
#include "conform_run.h"
#include "conform_scenario.h"
#include "mig_analyze.h"
#include "mig_format.h"
#include "sim_check.h"

#include <dirent.h>

#define CORPUS_DIR "../shared/corpus/qemu-7.2"
#define PAYLOAD_OFFSET UINT64_C(0x1000)  /* stream offset given to synthetic payloads */

/* Decodes payload with the description text; returns compact JSON text or NULL on error. */
static char *decode_text(const char *desc_text, const uint8_t *payload, size_t count,
                         struct mig_error *error)
{
  json_error_t json_error;
  json_t *desc = json_loads(desc_text, 0, &json_error);
  ck_assert_msg(desc != NULL, "test description: %s", json_error.text);
  json_t *out = NULL;
  enum mig_err code = mig_analyze_section(desc, payload, count, PAYLOAD_OFFSET, "dev", &out,
                                          error);
  json_decref(desc);
  ck_assert((code == MIG_OK) == (out != NULL));
  ck_assert_int_eq(code, error->code);
  if (out == NULL) return NULL;
  char *text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(out);
  return text;
}

static void expect_text(const char *desc_text, const uint8_t *payload, size_t count,
                        const char *expected)
{
  struct mig_error error;
  char *text = decode_text(desc_text, payload, count, &error);
  char message[512];
  mig_error_format(&error, message, sizeof message);
  ck_assert_msg(text != NULL, "%s", message);
  ck_assert_str_eq(text, expected);
  free(text);
}

static void expect_error(const char *desc_text, const uint8_t *payload, size_t count,
                         enum mig_err code, uint64_t offset, const char *path)
{
  struct mig_error error;
  char *text = decode_text(desc_text, payload, count, &error);
  ck_assert_msg(text == NULL, "decoded to %s", text == NULL ? "" : text);
  ck_assert_str_eq(mig_err_name(error.code), mig_err_name(code));
  ck_assert_uint_eq(error.offset, offset);
  ck_assert_str_eq(error.path, path);
}

#define FIELD(name, type, size) "{\"name\":\"" name "\",\"type\":\"" type "\",\"size\":" #size "}"

/* Goal: each integer width and sign prints as the script's "0x%0{2n}x" (+ " (%d)" if < 0). */
START_TEST(mig_analyze_section_integers)
{
  static const char desc[] =
      "{\"fields\":[" FIELD("a", "int8", 1) "," FIELD("b", "int16", 2) "," FIELD("c", "int32", 4)
      "," FIELD("d", "int64", 8) "," FIELD("e", "uint8", 1) "," FIELD("f", "uint16", 2) ","
      FIELD("g", "uint32", 4) "," FIELD("h", "uint64", 8) "," FIELD("i", "uint8 equal", 1) ","
      FIELD("j", "int32 le", 4) "," FIELD("k", "int32 equal", 4) "]}";
  static const uint8_t payload[] = {
      0xff,                                            /* a */
      0x80, 0x00,                                      /* b */
      0x7f, 0xff, 0xff, 0xff,                          /* c */
      0x80, 0, 0, 0, 0, 0, 0, 0,                       /* d */
      0xff,                                            /* e */
      0xff, 0xfe,                                      /* f */
      0x12, 0x34, 0x56, 0xff,                          /* g */
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  /* h */
      0xff,                                            /* i: "uint8 equal" is read signed */
      0x02, 0x00, 0x00, 0x00,                          /* j: "int32 le" is read big-endian */
      0x00, 0x01, 0x00, 0x00};                         /* k */
  expect_text(desc, payload, sizeof payload,
              "{\"a\":\"0xff (-1)\",\"b\":\"0x8000 (-32768)\",\"c\":\"0x7fffffff\","
              "\"d\":\"0x8000000000000000 (-9223372036854775808)\",\"e\":\"0xff\","
              "\"f\":\"0xfffe\",\"g\":\"0x123456ff\",\"h\":\"0xffffffffffffffff\","
              "\"i\":\"0xff (-1)\",\"j\":\"0x02000000\",\"k\":\"0x00010000\"}");
}
END_TEST

/* Goal: bool is its first byte; buffers, unused bytes and unknown types print as hex bytes. */
START_TEST(mig_analyze_section_bool_and_bytes)
{
  static const char desc[] =
      "{\"fields\":[" FIELD("t", "bool", 1) "," FIELD("f", "bool", 1) "," FIELD("buf", "buffer", 3)
      "," FIELD("unused", "unused_buffer", 2) "," FIELD("cfg", "pci config", 2) ","
      FIELD("empty", "buffer", 0) "," FIELD("timer", "timer", 1) ","
      "{\"name\":\"untyped\",\"size\":1}]}";
  static const uint8_t payload[] = {0x02, 0x00, 0xde, 0xad, 0x01, 0, 0, 0x0a, 0xb0, 0x7f, 0x33};
  expect_text(desc, payload, sizeof payload,
              "{\"t\":true,\"f\":false,\"buf\":\"de ad 01\",\"unused\":\"00 00\","
              "\"cfg\":\"0a b0\",\"empty\":\"\",\"timer\":\"7f\",\"untyped\":\"33\"}");
}
END_TEST

/* Goal: "array_len" unfolds, "index" elements append, arrays of structs nest, a repeated plain
 * name is replaced in place (the script's dict assignment). */
START_TEST(mig_analyze_section_arrays_and_structs)
{
  static const char desc[] =
      "{\"fields\":["
      "{\"name\":\"regs\",\"type\":\"uint16\",\"size\":2,\"array_len\":3},"
      "{\"name\":\"dup\",\"type\":\"uint8\",\"size\":1},"
      "{\"name\":\"q\",\"type\":\"struct\",\"size\":2,\"index\":0,\"struct\":{\"vmsd_name\":\"q\","
      "\"version\":1,\"fields\":[" FIELD("x", "uint8", 1) "," FIELD("y", "bool", 1) "]}},"
      "{\"name\":\"q\",\"type\":\"struct\",\"size\":2,\"index\":1,\"struct\":{\"vmsd_name\":\"q\","
      "\"version\":1,\"fields\":[" FIELD("x", "uint8", 1) "," FIELD("y", "bool", 1) "]}},"
      "{\"name\":\"outer\",\"type\":\"struct\",\"size\":1,\"struct\":{\"fields\":["
      "{\"name\":\"inner\",\"type\":\"struct\",\"size\":1,\"struct\":{\"fields\":["
      FIELD("z", "int8", 1) "]}}]}},"
      "{\"name\":\"dup\",\"type\":\"uint8\",\"size\":1}]}";
  static const uint8_t payload[] = {0, 1, 0, 2, 0xff, 0xff, 0x11, 9, 1, 10, 0, 0xfe, 0x22};
  expect_text(desc, payload, sizeof payload,
              "{\"regs\":[\"0x0001\",\"0x0002\",\"0xffff\"],\"dup\":\"0x22\","
              "\"q\":[{\"x\":\"0x09\",\"y\":true},{\"x\":\"0x0a\",\"y\":false}],"
              "\"outer\":{\"inner\":{\"z\":\"0xfe (-2)\"}}}");
}
END_TEST

#define SUB_DESC(name, field) \
  "{\"vmsd_name\":\"" name "\",\"version\":1,\"fields\":[" field "]}"

/* Goal: subsections follow the fields, are keyed by the name in the stream and may nest. */
START_TEST(mig_analyze_section_subsections)
{
  static const char desc[] =
      "{\"fields\":[" FIELD("a", "uint8", 1) "],\"subsections\":["
      SUB_DESC("dev/one", FIELD("b", "uint16", 2)) ","
      "{\"vmsd_name\":\"dev/two\",\"version\":2,\"fields\":[" FIELD("c", "bool", 1) "],"
      "\"subsections\":[" SUB_DESC("dev/two/deep", FIELD("d", "uint8", 1)) "]}]}";
  static const uint8_t payload[] = {
      0x05, 0x07, 'd', 'e', 'v', '/', 'o', 'n', 'e', 0, 0, 0, 1, 0x12, 0x34,
      0x05, 0x07, 'd', 'e', 'v', '/', 't', 'w', 'o', 0, 0, 0, 2, 0x01,
      0x05, 0x0c, 'd', 'e', 'v', '/', 't', 'w', 'o', '/', 'd', 'e', 'e', 'p', 0, 0, 0, 1, 0x44};
  uint8_t full[1 + sizeof payload];
  full[0] = 0x07;
  memcpy(full + 1, payload, sizeof payload);
  expect_text(desc, full, sizeof full,
              "{\"a\":\"0x07\",\"dev/one\":{\"b\":\"0x1234\"},"
              "\"dev/two\":{\"c\":true,\"dev/two/deep\":{\"d\":\"0x44\"}}}");
  /* Second subsection absent: the footer byte 0x7e is where the marker should be. */
  uint8_t cut[1 + 15 + 5];
  memcpy(cut, full, 16);
  memcpy(cut + 16, (const uint8_t[]){0x7e, 0, 0, 0, 2}, 5);
  expect_error(desc, cut, sizeof cut, MIG_ERR_SUBSECTION, PAYLOAD_OFFSET + 16, "dev/dev/two");
  /* A subsection whose name no description has. */
  full[19] = 'X';
  expect_error(desc, full, sizeof full, MIG_ERR_SUBSECTION, PAYLOAD_OFFSET + 16, "dev/dev/two");
}
END_TEST

/* Goal: running out of bytes, leftover bytes and broken descriptions name offset and path. */
START_TEST(mig_analyze_section_rejects_mismatch)
{
  static const char desc[] = "{\"fields\":[" FIELD("a", "uint32", 4) ","
                             "{\"name\":\"arr\",\"type\":\"uint16\",\"size\":2,\"array_len\":2}]}";
  static const uint8_t payload[] = {0, 0, 0, 1, 0, 2, 0, 3, 0xaa};
  expect_error(desc, payload, 7, MIG_ERR_TRUNCATED, PAYLOAD_OFFSET + 6, "dev/arr[1]");
  expect_error(desc, payload, 3, MIG_ERR_TRUNCATED, PAYLOAD_OFFSET, "dev/a");
  expect_error(desc, payload, sizeof payload, MIG_ERR_VMDESC, PAYLOAD_OFFSET + 8, "dev/(end)");
  /* "index" 1 with no element 0 before it. */
  expect_error("{\"fields\":[{\"name\":\"v\",\"type\":\"uint8\",\"size\":1,\"index\":1}]}",
               payload, 1, MIG_ERR_VMDESC, PAYLOAD_OFFSET + 1, "dev/v");
  /* A field without "size", a struct without "struct", a negative value too wide to print. */
  expect_error("{\"fields\":[{\"name\":\"v\",\"type\":\"uint8\"}]}", payload, 1, MIG_ERR_VMDESC,
               PAYLOAD_OFFSET, "dev/v");
  expect_error("{\"fields\":[{\"name\":\"s\",\"type\":\"struct\",\"size\":1}]}", payload, 1,
               MIG_ERR_VMDESC, PAYLOAD_OFFSET, "dev/s");
  static const uint8_t wide[9] = {0x80};
  expect_error("{\"fields\":[" FIELD("w", "int64", 9) "]}", wide, sizeof wide, MIG_ERR_BAD_VALUE,
               PAYLOAD_OFFSET + 9, "dev/w");
  expect_text("{\"fields\":[" FIELD("w", "uint64", 9) "]}", wide, sizeof wide,
              "{\"w\":\"0x800000000000000000\"}");
}
END_TEST

/* Goal: the rarer description shapes: capability strings, and malformed entries by name. */
START_TEST(mig_analyze_section_capability_and_bad_entries)
{
  static const uint8_t cap[] = {3, 'x', 'y', 'z', 0, 2, 0xc3, 0x28};
  static const char cap_desc[] = "{\"fields\":[{\"name\":\"c\",\"type\":\"capability\"},"
                                 "{\"name\":\"d\",\"type\":\"capability\"}]}";
  expect_text(cap_desc, cap, 5, "{\"c\":\"xyz\",\"d\":\"\"}");
  /* 0xc3 0x28 is not UTF-8: rejected at the string's length byte. */
  static const uint8_t bad_cap[] = {2, 0xc3, 0x28};
  expect_error(cap_desc, bad_cap, sizeof bad_cap, MIG_ERR_BAD_VALUE, PAYLOAD_OFFSET, "dev/c");
  expect_error("{\"fields\":[" FIELD("i", "uint32", 0) "]}", cap, 1, MIG_ERR_BAD_VALUE,
               PAYLOAD_OFFSET, "dev/i");
  expect_error("{\"fields\":[{\"name\":\"v\",\"type\":\"uint8\",\"size\":1,\"index\":-1}]}",
               cap, 1, MIG_ERR_VMDESC, PAYLOAD_OFFSET, "dev/v");
  expect_error("{\"fields\":[{\"type\":\"uint8\",\"size\":1}]}", cap, 1, MIG_ERR_VMDESC,
               PAYLOAD_OFFSET, "dev");
  expect_error("{\"fields\":{}}", cap, 1, MIG_ERR_VMDESC, PAYLOAD_OFFSET, "dev");
  expect_error("{\"fields\":[],\"subsections\":7}", cap, 0, MIG_ERR_VMDESC, PAYLOAD_OFFSET,
               "dev");
  expect_error("[]", cap, 0, MIG_ERR_VMDESC, PAYLOAD_OFFSET, "dev");
}
END_TEST

/* Goal: hostile descriptions are bounded: huge "array_len" and deep nesting are refused. */
START_TEST(mig_analyze_section_bounds)
{
  static const uint8_t payload[1] = {0};
  expect_error("{\"fields\":[{\"name\":\"v\",\"type\":\"buffer\",\"size\":0,"
               "\"array_len\":1099511627776}]}", payload, 0, MIG_ERR_VMDESC, PAYLOAD_OFFSET,
               "dev/v");
  char desc[160];
  snprintf(desc, sizeof desc, "{\"fields\":[{\"name\":\"v\",\"type\":\"buffer\",\"size\":0,"
           "\"array_len\":%" PRIu32 "}]}", MIG_ANALYZE_VALUES_MAX + 1);
  expect_error(desc, payload, 0, MIG_ERR_VMDESC, PAYLOAD_OFFSET, "dev/v");
  char deep[1024] = "";
  for (int i = 0; i <= MIG_VMSTATE_DEPTH_MAX; i++) {
    strcat(deep, "{\"fields\":[{\"name\":\"n\",\"type\":\"struct\",\"size\":1,\"struct\":");
  }
  strcat(deep, "{\"fields\":[]}");
  for (int i = 0; i <= MIG_VMSTATE_DEPTH_MAX; i++) strcat(deep, "}]}");
  expect_error(deep, payload, 0, MIG_ERR_VMDESC, PAYLOAD_OFFSET, "dev/n/n/n/n/n/n/n/n/n");
}
END_TEST

/* Goal: every strict prefix of a valid payload fails cleanly, at or before its end. */
START_TEST(mig_analyze_section_every_truncation_fails)
{
  static const char desc[] =
      "{\"fields\":[" FIELD("a", "uint8", 1) ",{\"name\":\"r\",\"type\":\"uint16\",\"size\":2,"
      "\"array_len\":2}],\"subsections\":[" SUB_DESC("dev/one", FIELD("b", "uint32", 4)) "]}";
  static const uint8_t payload[] = {1, 0, 2, 0, 3, 0x05, 0x07, 'd', 'e', 'v', '/', 'o',
                                    'n', 'e', 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef};
  for (size_t count = 0; count < sizeof payload; count++) {
    struct mig_error error;
    char *text = decode_text(desc, payload, count, &error);
    ck_assert_msg(text == NULL, "prefix %zu decoded", count);
    ck_assert_int_eq(error.code, MIG_ERR_TRUNCATED);
    ck_assert_uint_le(error.offset, PAYLOAD_OFFSET + count);
    ck_assert_msg(strncmp(error.path, "dev/", 4) == 0, "prefix %zu: path %s", count, error.path);
  }
  expect_text(desc, payload, sizeof payload,
              "{\"a\":\"0x01\",\"r\":[\"0x0002\",\"0x0003\"],\"dev/one\":{\"b\":\"0xdeadbeef\"}}");
}
END_TEST

/* Goal: the text is Python's json.dumps(indent=4, separators=(',', ': ')) plus print's newline,
 * including its lower-case \\u escapes, escaped DEL, surrogate pairs and empty containers. */
START_TEST(cli_analyze_text_python_format)
{
  json_t *root = json_object();
  json_object_set_new(root, "\xc3\xa9\x7f\x01", json_string("a\\b\"\xf0\x9f\x98\x80"));
  json_object_set_new(root, "ram (2)", json_pack("{s:{}}", "section sizes"));
  json_object_set_new(root, "l", json_pack("[b,[]]", 1));
  char *text = cli_analyze_text(root);
  ck_assert_str_eq(text, "{\n"
                         "    \"\\u00e9\\u007f\\u0001\": \"a\\\\b\\\"\\ud83d\\ude00\",\n"
                         "    \"ram (2)\": {\n"
                         "        \"section sizes\": {}\n"
                         "    },\n"
                         "    \"l\": [\n"
                         "        true,\n"
                         "        []\n"
                         "    ]\n"
                         "}\n");
  free(text);
  json_decref(root);
}
END_TEST

/* ------------------------------------------------------------------ corpus */

/* Ordered equality: same keys in the same order, same values; path names the first difference. */
static bool json_ordered_equal(const json_t *a, const json_t *b, char *path, size_t path_bytes)
{
  if (json_typeof(a) != json_typeof(b)) return false;
  size_t used = strlen(path);
  if (json_is_object(a)) {
    if (json_object_size(a) != json_object_size(b)) return false;
    void *ia = json_object_iter((json_t *)a), *ib = json_object_iter((json_t *)b);
    for (; ia != NULL; ia = json_object_iter_next((json_t *)a, ia),
                       ib = json_object_iter_next((json_t *)b, ib)) {
      snprintf(path + used, path_bytes - used, "/%s", json_object_iter_key(ia));
      if (strcmp(json_object_iter_key(ia), json_object_iter_key(ib)) != 0) return false;
      if (!json_ordered_equal(json_object_iter_value(ia), json_object_iter_value(ib), path,
                              path_bytes)) {
        return false;
      }
    }
  } else if (json_is_array(a)) {
    if (json_array_size(a) != json_array_size(b)) return false;
    for (size_t i = 0; i < json_array_size(a); i++) {
      snprintf(path + used, path_bytes - used, "[%zu]", i);
      if (!json_ordered_equal(json_array_get(a, i), json_array_get(b, i), path, path_bytes)) {
        return false;
      }
    }
  } else if (!json_equal((json_t *)a, (json_t *)b)) {
    return false;
  }
  path[used] = '\0';
  return true;
}

static char *read_text_file(const char *path, size_t *count)
{
  FILE *file = fopen(path, "rb");
  ck_assert_msg(file != NULL, "%s: %s", path, strerror(errno));
  ck_assert_int_eq(fseek(file, 0, SEEK_END), 0);
  long size = ftell(file);
  ck_assert_int_ge(size, 0);
  rewind(file);
  char *text = malloc((size_t)size + 1);
  ck_assert_ptr_nonnull(text);
  ck_assert_uint_eq(fread(text, 1, (size_t)size, file), (size_t)size);
  text[size] = '\0';
  fclose(file);
  *count = (size_t)size;
  return text;
}

/* Decodes NAME.mig.xz, prints it through the CLI path and compares with the reference file. */
static bool check_reference(const char *reference_name, const char *stem, bool *identical)
{
  char path[512], message[512];
  snprintf(path, sizeof path, "%s/%s.mig.xz", CORPUS_DIR, stem);
  struct mig_membuf input;
  ck_assert_msg(cli_inspect_read(path, &input, message, sizeof message), "%s", message);
  struct mig_inspect inspect;
  struct mig_error error;
  enum mig_err code = mig_inspect_stream(input.bytes, input.count, &inspect, &error);
  mig_error_format(&error, message, sizeof message);
  ck_assert_msg(code == MIG_OK, "%s: walk: %s", stem, message);
  FILE *out = tmpfile();
  ck_assert_ptr_nonnull(out);
  int exit_code = cli_analyze_print(out, stderr, input.bytes, input.count, &inspect);
  ck_assert_msg(exit_code == 0, "%s: analyze failed", stem);
  size_t produced_bytes = (size_t)ftell(out);
  rewind(out);
  char *produced = malloc(produced_bytes + 1);
  ck_assert_uint_eq(fread(produced, 1, produced_bytes, out), produced_bytes);
  produced[produced_bytes] = '\0';
  fclose(out);
  snprintf(path, sizeof path, "%s/%s", CORPUS_DIR, reference_name);
  size_t reference_bytes = 0;
  char *reference = read_text_file(path, &reference_bytes);
  json_error_t json_error;
  json_t *ours = json_loads(produced, 0, &json_error);
  ck_assert_msg(ours != NULL, "%s: our output is not JSON: %s", stem, json_error.text);
  json_t *theirs = json_loads(reference, 0, &json_error);
  ck_assert_msg(theirs != NULL, "%s: %s", reference_name, json_error.text);
  char where[1024] = "";
  bool equal = json_ordered_equal(ours, theirs, where, sizeof where);
  if (!equal) fprintf(stderr, "analyze: %s differs at %s\n", reference_name, where);
  *identical = produced_bytes == reference_bytes &&
               memcmp(produced, reference, produced_bytes) == 0;
  json_decref(ours);
  json_decref(theirs);
  free(reference);
  free(produced);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&input);
  return equal;
}

/* "NAME.analyze.json" or "NAME.analyze-compat.json": writes NAME into stem. */
static bool reference_stem(const char *file_name, char *stem, size_t stem_bytes)
{
  static const char *const suffixes[] = {".analyze.json", ".analyze-compat.json"};
  size_t length = strlen(file_name);
  for (size_t i = 0; i < SIM_ARRAY_COUNT(suffixes); i++) {
    size_t suffix = strlen(suffixes[i]);
    if (length > suffix && strcmp(file_name + length - suffix, suffixes[i]) == 0) {
      snprintf(stem, stem_bytes, "%.*s", (int)(length - suffix), file_name);
      return true;
    }
  }
  return false;
}

/* Goal: every corpus reference is reproduced as ordered JSON; count byte-identical ones too. */
START_TEST(cli_analyze_corpus_matches_references)
{
  struct dirent **entries = NULL;
  int entry_count = scandir(CORPUS_DIR, &entries, NULL, alphasort);  /* sorted: R16 */
  if (entry_count < 0) {
    SIM_CHECK_SKIP("%s not found", CORPUS_DIR);
    return;
  }
  uint32_t references = 0, matching = 0, identical = 0;
  for (int i = 0; i < entry_count; i++) {
    char stem[256];
    if (reference_stem(entries[i]->d_name, stem, sizeof stem)) {
      bool same_bytes = false;
      references++;
      if (check_reference(entries[i]->d_name, stem, &same_bytes)) matching++;
      if (same_bytes) identical++;
    }
    free(entries[i]);
  }
  free(entries);
  fprintf(stderr, "analyze: %" PRIu32 " of %" PRIu32 " corpus references match as ordered JSON, "
          "%" PRIu32 " byte for byte\n", matching, references, identical);
  ck_assert_uint_gt(references, 0);
  ck_assert_uint_eq(matching, references);
}
END_TEST

/* The trailer's entry for a walked device (first match; corpus names are unique). */
static const json_t *corpus_device_desc(const json_t *vmdesc,
                                        const struct mig_inspect_device *device)
{
  size_t i;
  const json_t *entry;
  json_array_foreach(json_object_get(vmdesc, "devices"), i, entry) {
    if (strcmp(json_string_value(json_object_get(entry, "name")), device->idstr) == 0 &&
        json_integer_value(json_object_get(entry, "instance_id")) ==
            (json_int_t)device->instance_id) {
      return entry;
    }
  }
  return NULL;
}

/*
 * Reads the corpus stream at path into *input and inspects it into *inspect (it
 * must be valid); returns its trailer's JSON, which the caller frees.  When the
 * file cannot be read: skips the test named `test` (the caller's __func__),
 * frees *input and returns NULL, and the caller returns.
 */
static json_t *corpus_stream_read(const char *test, const char *path, struct mig_membuf *input,
                                  struct mig_inspect *inspect)
{
  char message[512];
  if (!cli_inspect_read(path, input, message, sizeof message)) {
    sim_check_skip(test, "%s not found", path);
    mig_membuf_deinit(input);
    return NULL;
  }
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_stream(input->bytes, input->count, inspect, &error), MIG_OK);
  json_t *vmdesc = json_loadb((const char *)input->bytes + inspect->trailer_offset,
                              (size_t)inspect->trailer_bytes, 0, NULL);
  ck_assert_ptr_nonnull(vmdesc);
  return vmdesc;
}

/*
 * Goal: hostile device bytes in a real stream.  Every single-byte flip (xor 0xff) of every
 * device payload of one corpus stream either decodes or is rejected with an offset inside that
 * payload and a path under the device's idstr; flips of subsection markers must be rejected.
 */
START_TEST(cli_analyze_corpus_every_payload_flip)
{
  char path[] = CORPUS_DIR "/microvm_m32_virtio-mmio-blk.mig.xz";
  struct mig_membuf input;
  struct mig_inspect inspect;
  json_t *vmdesc = corpus_stream_read(__func__, path, &input, &inspect);
  if (vmdesc == NULL) return;   /* skipped: no corpus */
  struct mig_error error;
  uint64_t flips = 0, rejected = 0, subsection_rejects = 0;
  for (uint32_t d = 0; d < inspect.device_count; d++) {
    const struct mig_inspect_device *device = &inspect.devices[d];
    const json_t *desc = corpus_device_desc(vmdesc, device);
    ck_assert_ptr_nonnull(desc);
    uint64_t start = device->offset + 14 + strlen(device->idstr);
    uint8_t *payload = input.bytes + start;
    for (uint64_t at = 0; at < device->bytes; at++) {
      payload[at] ^= 0xff;
      json_t *out = NULL;
      enum mig_err code = mig_analyze_section(desc, payload, (size_t)device->bytes, start,
                                              device->idstr, &out, &error);
      payload[at] ^= 0xff;
      flips++;
      json_decref(out);
      if (payload[at] == MIG_SECTION_SUBSECTION && code == MIG_ERR_SUBSECTION) {
        subsection_rejects++;
      }
      if (code == MIG_OK) continue;
      rejected++;
      ck_assert_uint_ge(error.offset, start);
      ck_assert_uint_le(error.offset, start + device->bytes);
      ck_assert_msg(strncmp(error.path, device->idstr, strlen(device->idstr)) == 0,
                    "path %s for %s", error.path, device->idstr);
    }
  }
  fprintf(stderr, "analyze: %" PRIu64 " payload flips, %" PRIu64 " rejected (%" PRIu64
          " at subsection markers)\n", flips, rejected, subsection_rejects);
  ck_assert_uint_gt(subsection_rejects, 0);
  json_decref(vmdesc);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&input);
}
END_TEST

/* Offset of the first described subsection's marker among the walked devices, or 0. */
static uint64_t first_subsection_marker(const struct mig_membuf *input,
                                        const struct mig_inspect *inspect, const json_t *vmdesc,
                                        char *path, size_t path_bytes)
{
  for (uint32_t d = 0; d < inspect->device_count; d++) {
    const struct mig_inspect_device *device = &inspect->devices[d];
    const json_t *sub = json_array_get(
        json_object_get(corpus_device_desc(vmdesc, device), "subsections"), 0);
    const char *name = json_string_value(json_object_get(sub, "vmsd_name"));
    if (name == NULL) continue;
    uint8_t pattern[2 + MIG_IDSTR_BYTES_MAX] = {MIG_SECTION_SUBSECTION, (uint8_t)strlen(name)};
    memcpy(pattern + 2, name, strlen(name));
    uint64_t start = device->offset + 14 + strlen(device->idstr);
    for (uint64_t at = start; at + 2 + strlen(name) <= start + device->bytes; at++) {
      if (memcmp(input->bytes + at, pattern, 2 + strlen(name)) == 0) {
        snprintf(path, path_bytes, "%s/%s", device->idstr, name);
        return at;
      }
    }
  }
  return 0;
}

/* Runs `migsim inspect PATH --format analyze` in-process; stdout and stderr go to files. */
static int run_cli(const char *stream_path, const char *out_path, const char *err_path)
{
  char *argv[] = {(char *)stream_path, "--format", "analyze"};
  fflush(stdout);
  fflush(stderr);
  ck_assert_ptr_nonnull(freopen(out_path, "w", stdout));
  ck_assert_ptr_nonnull(freopen(err_path, "w", stderr));
  int code = cli_inspect_main(3, argv);
  fflush(stdout);
  fflush(stderr);
  return code;
}

/*
 * Goal: the CLI path end to end.  `inspect FILE --format analyze` prints the reference text and
 * exits 0; with one subsection marker flipped it prints nothing, exits 2 and names the marker's
 * offset and the `idstr/subsection` path on stderr.  (Runs in a forked test: stdout and stderr
 * are redirected for good.)
 */
START_TEST(cli_analyze_cli_output_and_rejection)
{
  const char *stem = "microvm_m32_virtio-mmio-blk";
  char path[512], message[1024], expected_path[2 * MIG_IDSTR_BYTES_MAX + 2];
  snprintf(path, sizeof path, "%s/%s.mig.xz", CORPUS_DIR, stem);
  struct mig_membuf input;
  struct mig_inspect inspect;
  json_t *vmdesc = corpus_stream_read(__func__, path, &input, &inspect);
  if (vmdesc == NULL) return;   /* skipped: no corpus */
  uint64_t marker = first_subsection_marker(&input, &inspect, vmdesc, expected_path,
                                            sizeof expected_path);
  ck_assert_uint_gt(marker, 0);
  json_decref(vmdesc);
  mig_inspect_deinit(&inspect);
  char dir[] = "/tmp/migsim-analyze-XXXXXX", stream_path[64], out_path[64], err_path[64];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(stream_path, sizeof stream_path, "%s/flipped.mig", dir);
  snprintf(out_path, sizeof out_path, "%s/out.json", dir);
  snprintf(err_path, sizeof err_path, "%s/err.txt", dir);
  ck_assert_int_eq(run_cli(path, out_path, err_path), 0);
  size_t out_bytes = 0, reference_bytes = 0, err_bytes = 0;
  char *out = read_text_file(out_path, &out_bytes);
  snprintf(path, sizeof path, "%s/%s.analyze.json", CORPUS_DIR, stem);
  char *reference = read_text_file(path, &reference_bytes);
  ck_assert_uint_eq(out_bytes, reference_bytes);
  ck_assert(memcmp(out, reference, out_bytes) == 0);
  free(out);
  free(reference);
  input.bytes[marker] = 0x06;
  FILE *file = fopen(stream_path, "wb");
  ck_assert_uint_eq(fwrite(input.bytes, 1, input.count, file), input.count);
  fclose(file);
  ck_assert_int_eq(run_cli(stream_path, out_path, err_path), CONFORM_BAD_INPUT);
  out = read_text_file(out_path, &out_bytes);
  char *err = read_text_file(err_path, &err_bytes);
  snprintf(message, sizeof message, "offset 0x%" PRIx64 ": %s: %s (subsection not found: byte "
           "0x06)\n", marker, expected_path, mig_err_message(MIG_ERR_SUBSECTION));
  ck_assert_uint_eq(out_bytes, 0);
  ck_assert_str_eq(err, message);
  free(out);
  free(err);
  remove(stream_path);
  remove(out_path);
  remove(err_path);
  remove(dir);
  mig_membuf_deinit(&input);
}
END_TEST

/* The default scenario's migration stream, captured through conform_check. */
static void capture_default(struct mig_membuf *capture)
{
  char error[CONFORM_ERROR_BYTES];
  ck_assert_msg(conform_capture_default(capture, error, sizeof error), "%s", error);
}

/* Goal: migsim's own stream decodes: one member per section, RAM sizes from the walk. */
START_TEST(cli_analyze_migsim_stream)
{
  struct mig_membuf capture;
  capture_default(&capture);
  struct mig_inspect inspect;
  struct mig_error error;
  char message[512];
  ck_assert_int_eq(mig_inspect_stream(capture.bytes, capture.count, &inspect, &error), MIG_OK);
  json_t *root = NULL;
  enum mig_err code = mig_analyze_stream(capture.bytes, capture.count, &inspect, &root, &error);
  mig_error_format(&error, message, sizeof message);
  ck_assert_msg(code == MIG_OK, "%s", message);
  ck_assert_uint_eq(json_object_size(root), inspect.device_count + 1);
  const char *first_key = json_object_iter_key(json_object_iter(root));
  ck_assert_msg(strncmp(first_key, "ram (", 5) == 0, "first member %s", first_key);
  const json_t *sizes = json_object_get(json_object_iter_value(json_object_iter(root)),
                                        "section sizes");
  ck_assert_uint_eq(json_object_size(sizes), inspect.block_count);
  char expected[24];
  snprintf(expected, sizeof expected, "0x%016" PRIx64, inspect.blocks[0].used_bytes);
  ck_assert_str_eq(json_string_value(json_object_get(sizes, inspect.blocks[0].name)), expected);
  for (uint32_t i = 0; i < inspect.device_count; i++) {
    char key[MIG_IDSTR_BYTES_MAX + 16];
    snprintf(key, sizeof key, "%s (%" PRIu32 ")", inspect.devices[i].idstr,
             inspect.devices[i].section_id);
    ck_assert_msg(json_is_object(json_object_get(root, key)), "no member %s", key);
  }
  json_decref(root);
  /* A live section other than "ram" must not be printed with RAM's block sizes. */
  static const uint8_t ram_idstr[] = {3, 'r', 'a', 'm'};
  uint64_t start = 0;
  for (uint64_t at = 8; start == 0 && at + 9 < capture.count; at++) {
    if (capture.bytes[at] == MIG_SECTION_START &&
        memcmp(capture.bytes + at + 5, ram_idstr, 4) == 0) {
      start = at;
    }
  }
  ck_assert_uint_gt(start, 0);
  capture.bytes[start + 8] = 'x';
  code = mig_analyze_stream(capture.bytes, capture.count, &inspect, &root, &error);
  ck_assert_int_eq(code, MIG_ERR_UNKNOWN_SECTION);
  ck_assert_ptr_null(root);
  ck_assert_uint_eq(error.offset, start);
  ck_assert_str_eq(error.path, "rax");
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&capture);
}
END_TEST

/*
 * Goal: stream-level paths of mig_analyze_stream on migsim's own stream: a command record
 * before the RAM section is skipped (same output), and a walk result that no longer fits the
 * bytes (no device entry, unusable trailer) is rejected with the offset and path.
 */
START_TEST(mig_analyze_stream_commands_and_bad_walks)
{
  struct mig_membuf capture;
  capture_default(&capture);
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_stream(capture.bytes, capture.count, &inspect, &error), MIG_OK);
  json_t *plain = NULL;
  ck_assert_int_eq(mig_analyze_stream(capture.bytes, capture.count, &inspect, &plain, &error),
                   MIG_OK);
  /*
   * 08 0001 0000, 08 0002 0004 + 4 bytes: OPEN_RETURN_PATH and a PING (QEMU
   * refuses a PING without a return path), right after the configuration.
   */
  static const uint8_t ram_idstr[] = {3, 'r', 'a', 'm'};
  uint64_t at = 8;
  while (at + 9 < capture.count && (capture.bytes[at] != MIG_SECTION_START ||
                                    memcmp(capture.bytes + at + 5, ram_idstr, 4) != 0)) {
    at++;
  }
  static const uint8_t ping[] = {MIG_SECTION_COMMAND, 0, 1, 0, 0,
                                 MIG_SECTION_COMMAND, 0, 2, 0, 4, 0, 0, 0, 1};
  struct mig_membuf edited;
  mig_membuf_init(&edited, capture.count + sizeof ping);
  ck_assert_int_eq(mig_membuf_write(&edited, capture.bytes, at), MIG_OK);
  ck_assert_int_eq(mig_membuf_write(&edited, ping, sizeof ping), MIG_OK);
  ck_assert_int_eq(mig_membuf_write(&edited, capture.bytes + at, capture.count - at), MIG_OK);
  struct mig_inspect edited_inspect;
  ck_assert_int_eq(mig_inspect_stream(edited.bytes, edited.count, &edited_inspect, &error),
                   MIG_OK);
  ck_assert_uint_eq(edited_inspect.commands[2], 1);
  json_t *with_ping = NULL;
  ck_assert_int_eq(mig_analyze_stream(edited.bytes, edited.count, &edited_inspect, &with_ping,
                                      &error), MIG_OK);
  ck_assert(json_equal(plain, with_ping));
  json_decref(with_ping);
  json_decref(plain);
  mig_inspect_deinit(&edited_inspect);
  mig_membuf_deinit(&edited);
  /* A walked device that the trailer does not describe. */
  json_t *root = NULL;
  char saved = inspect.devices[0].idstr[0];
  inspect.devices[0].idstr[0] = '#';
  ck_assert_int_eq(mig_analyze_stream(capture.bytes, capture.count, &inspect, &root, &error),
                   MIG_ERR_UNKNOWN_SECTION);
  ck_assert_uint_eq(error.offset, inspect.devices[0].offset);
  ck_assert_str_eq(error.path, inspect.devices[0].idstr);
  inspect.devices[0].idstr[0] = saved;
  /* A trailer that is not a VM description. */
  inspect.trailer_bytes = 1;
  ck_assert_int_eq(mig_analyze_stream(capture.bytes, capture.count, &inspect, &root, &error),
                   MIG_ERR_VMDESC);
  ck_assert_uint_eq(error.offset, inspect.trailer_offset);
  ck_assert_str_eq(error.path, "vmdesc/devices");
  ck_assert_ptr_null(root);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&capture);
}
END_TEST

Suite *cli_analyze_suite(void)
{
  Suite *suite = suite_create("cli_analyze");
  TCase *decode = tcase_create("decode");
  tcase_add_test(decode, mig_analyze_section_integers);
  tcase_add_test(decode, mig_analyze_section_bool_and_bytes);
  tcase_add_test(decode, mig_analyze_section_arrays_and_structs);
  tcase_add_test(decode, mig_analyze_section_subsections);
  tcase_add_test(decode, cli_analyze_text_python_format);
  suite_add_tcase(suite, decode);
  TCase *corrupt = tcase_create("corrupt");
  tcase_set_timeout(corrupt, 60);
  tcase_add_test(corrupt, mig_analyze_section_rejects_mismatch);
  tcase_add_test(corrupt, mig_analyze_section_bounds);
  tcase_add_test(corrupt, mig_analyze_section_capability_and_bad_entries);
  tcase_add_test(corrupt, mig_analyze_section_every_truncation_fails);
  suite_add_tcase(suite, corrupt);
  TCase *corpus = tcase_create("corpus");
  tcase_set_timeout(corpus, 300);
  tcase_add_test(corpus, cli_analyze_corpus_matches_references);
  tcase_add_test(corpus, cli_analyze_migsim_stream);
  tcase_add_test(corpus, mig_analyze_stream_commands_and_bad_walks);
  tcase_add_test(corpus, cli_analyze_corpus_every_payload_flip);
  tcase_add_test(corpus, cli_analyze_cli_output_and_rejection);
  suite_add_tcase(suite, corpus);
  return suite;
}
