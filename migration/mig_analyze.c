/*
 * mig_analyze.c: the description-driven decoder behind `migsim inspect
 * --format analyze` (overview in mig_analyze.h, output rules in
 * docs/format.md "analyze output").
 *
 * Facts carried over from QEMU's scripts/analyze-migration.py (7.2-era, read
 * at qemu/qemu commit 58deb358): integer fields print as "0x" and 2*size hex
 * digits, negative signed values add " (decimal)"; "uint8 equal" and
 * "uint16 equal" are read as signed, and "int32 le" is read big-endian like
 * every other integer; bool is its first byte; every other type prints its
 * "size" bytes as space-separated hex; "array_len" unfolds into elements
 * 0..n-1 and "index" elements are appended to a list whose length must equal
 * the index; a plain field whose name repeats replaces the earlier value in
 * place; each described subsection must be present in the stream in order.
 * This decoder also requires each subsection's name to match a described one
 * and every payload byte to be covered; the script checks neither.
 *
 * All work is bounded: sizes are checked against MIG_VMSTATE_FIELD_BYTES_MAX
 * and the bytes left, nesting against MIG_VMSTATE_DEPTH_MAX and the number of
 * decoded values in a whole stream against MIG_ANALYZE_VALUES_MAX (zero-size
 * fields cost description bytes but no payload bytes, so a per-section bound
 * alone would let a small stream build a huge tree).  Errors are latched in the
 * payload reader with offsets relative to the payload and shifted to stream
 * offsets on the way out.
 */
#include "sim_base.h"

#include "mig_analyze.h"
#include "mig_record.h"
#include "mig_stream.h"

enum field_kind { KIND_HEX, KIND_SIGNED, KIND_UNSIGNED, KIND_BOOL, KIND_STRUCT, KIND_CAPABILITY };

/* The script's vmsd_field_readers; any other type is read as KIND_HEX. */
static const struct {
  const char *type;
  enum field_kind kind;
} field_kinds[] = {
    {"bool", KIND_BOOL},           {"int8", KIND_SIGNED},          {"int16", KIND_SIGNED},
    {"int32", KIND_SIGNED},        {"int32 equal", KIND_SIGNED},   {"int32 le", KIND_SIGNED},
    {"int64", KIND_SIGNED},        {"int64 equal", KIND_SIGNED},   {"uint8 equal", KIND_SIGNED},
    {"uint16 equal", KIND_SIGNED}, {"uint8", KIND_UNSIGNED},       {"uint16", KIND_UNSIGNED},
    {"uint32", KIND_UNSIGNED},     {"uint32 equal", KIND_UNSIGNED}, {"uint64", KIND_UNSIGNED},
    {"struct", KIND_STRUCT},       {"capability", KIND_CAPABILITY},
};

struct analyze {
  struct mig_reader reader;        /* over the payload; offsets relative to payload[0] */
  uint64_t payload_bytes;          /* bytes in the payload */
  uint64_t values_count;           /* values decoded in the stream so far, bounded */
  size_t path_bytes;               /* strlen(path) */
  char path[MIG_PATH_BYTES_MAX];   /* "idstr/field[i]/..." of the item being decoded */
};

#define ANALYZE_FAIL_AT(a, code, at, detail) \
  MIG_READER_FAIL(&(a)->reader, (code), (at), (detail), "%s", (a)->path)
#define ANALYZE_FAIL(a, code, detail) \
  ANALYZE_FAIL_AT((a), (code), mig_reader_offset(&(a)->reader), (detail))

static bool analyze_failed(const struct analyze *a)
{
  return mig_reader_failed(&a->reader);
}

/* Appends to the path (truncating silently at its bound); returns the length to restore. */
static size_t path_push(struct analyze *a, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static size_t path_push(struct analyze *a, const char *format, ...)
{
  size_t saved = a->path_bytes;
  SIM_ASSERT(saved < sizeof a->path);
  va_list args;
  va_start(args, format);
  int written = vsnprintf(a->path + saved, sizeof a->path - saved, format, args);
  va_end(args);
  SIM_ASSERT(written >= 0);
  a->path_bytes = strlen(a->path);
  return saved;
}

static void path_pop(struct analyze *a, size_t saved)
{
  SIM_ASSERT(saved <= a->path_bytes);
  a->path_bytes = saved;
  a->path[saved] = '\0';
}

/* Consumes size bytes, bounded by the bytes left; NULL (error latched) when short. */
static const uint8_t *analyze_take(struct analyze *a, uint64_t size)
{
  static const uint8_t empty[1];
  uint64_t at = mig_reader_offset(&a->reader);
  SIM_ASSERT(at <= a->payload_bytes);
  if (size > a->payload_bytes - at) {
    char detail[80];
    snprintf(detail, sizeof detail, "needs 0x%" PRIx64 " bytes, 0x%" PRIx64 " left", size,
             a->payload_bytes - at);
    ANALYZE_FAIL(a, MIG_ERR_TRUNCATED, detail);
    return NULL;
  }
  if (size == 0) return empty;
  const uint8_t *view = mig_read_view(&a->reader, (size_t)size);
  mig__reader_annotate(&a->reader, "%s", a->path);
  return view;
}

static json_t *analyze_string(struct analyze *a, char *text, size_t length)
{
  json_t *value = json_stringn_nocheck(text, length);
  free(text);
  if (value == NULL) ANALYZE_FAIL(a, MIG_ERR_NOMEM, "JSON string");
  return value;
}

/* "xx xx xx": the script's rendering of every type it does not decode. */
static json_t *hex_bytes_json(struct analyze *a, const uint8_t *bytes, size_t count)
{
  static const char digits[] = "0123456789abcdef";
  if (count == 0) return json_string("");
  char *text = malloc(count * 3);
  if (text == NULL) {
    ANALYZE_FAIL(a, MIG_ERR_NOMEM, "hex text");
    return NULL;
  }
  for (size_t i = 0; i < count; i++) {
    text[3 * i] = digits[bytes[i] >> 4];
    text[3 * i + 1] = digits[bytes[i] & 0x0f];
    text[3 * i + 2] = ' ';
  }
  return analyze_string(a, text, count * 3 - 1);
}

/* "0x%0{2*size}x" of the big-endian value, plus " (%d)" when signed and negative. */
static json_t *integer_json(struct analyze *a, const uint8_t *bytes, size_t count, bool is_signed)
{
  static const char digits[] = "0123456789abcdef";
  bool negative = is_signed && (bytes[0] & 0x80) != 0;
  if (negative && count > sizeof(uint64_t)) {
    ANALYZE_FAIL(a, MIG_ERR_BAD_VALUE, "negative integer wider than 8 bytes");
    return NULL;
  }
  size_t capacity = 2 + 2 * count + 32;
  char *text = malloc(capacity);
  if (text == NULL) {
    ANALYZE_FAIL(a, MIG_ERR_NOMEM, "integer text");
    return NULL;
  }
  text[0] = '0';
  text[1] = 'x';
  uint64_t raw = 0;
  for (size_t i = 0; i < count; i++) {
    text[2 + 2 * i] = digits[bytes[i] >> 4];
    text[3 + 2 * i] = digits[bytes[i] & 0x0f];
    raw = (raw << 8) | bytes[i];
  }
  size_t length = 2 + 2 * count;
  if (negative) {
    /* Sign-extend: the top 64 - 8*count bits become ones. */
    if (count < sizeof(uint64_t)) raw |= UINT64_MAX << (8 * count);
    int64_t value = (raw <= (uint64_t)INT64_MAX) ? (int64_t)raw
                                                 : -(int64_t)(UINT64_MAX - raw) - 1;
    length += (size_t)snprintf(text + length, capacity - length, " (%" PRId64 ")", value);
  }
  return analyze_string(a, text, length);
}

static enum field_kind kind_of(const char *type)
{
  if (type == NULL) return KIND_HEX;  /* the script's except-branch: generic reader */
  for (size_t i = 0; i < SIM_ARRAY_COUNT(field_kinds); i++) {
    if (strcmp(field_kinds[i].type, type) == 0) return field_kinds[i].kind;
  }
  return KIND_HEX;
}

/* The field's "size": a JSON integer in [0, MIG_VMSTATE_FIELD_BYTES_MAX]. */
static bool field_size(struct analyze *a, const json_t *field, uint64_t *size)
{
  const json_t *value = json_object_get(field, "size");
  if (!json_is_integer(value) || json_integer_value(value) < 0 ||
      json_integer_value(value) > (json_int_t)MIG_VMSTATE_FIELD_BYTES_MAX) {
    ANALYZE_FAIL(a, MIG_ERR_VMDESC, "field has no usable \"size\"");
    return false;
  }
  *size = (uint64_t)json_integer_value(value);
  return true;
}

static json_t *decode_struct(struct analyze *a, const json_t *desc, uint32_t depth);

static json_t *decode_capability(struct analyze *a)
{
  uint64_t at = mig_reader_offset(&a->reader);
  const uint8_t *length = analyze_take(a, 1);
  const uint8_t *bytes = length == NULL ? NULL : analyze_take(a, *length);
  if (bytes == NULL) return NULL;
  json_t *value = json_stringn(*length == 0 ? "" : (const char *)bytes, *length);
  if (value == NULL) ANALYZE_FAIL_AT(a, MIG_ERR_BAD_VALUE, at, "capability is not UTF-8");
  return value;
}

/* One value (one array element) of a field. */
static json_t *decode_value(struct analyze *a, const json_t *field, uint32_t depth)
{
  if (++a->values_count > MIG_ANALYZE_VALUES_MAX) {
    ANALYZE_FAIL(a, MIG_ERR_TOO_LONG, "more decoded values than MIG_ANALYZE_VALUES_MAX");
    return NULL;
  }
  enum field_kind kind = kind_of(json_string_value(json_object_get(field, "type")));
  if (kind == KIND_STRUCT) {
    const json_t *nested = json_object_get(field, "struct");
    if (json_is_object(nested)) return decode_struct(a, nested, depth + 1);
    ANALYZE_FAIL(a, MIG_ERR_VMDESC, "struct field without a \"struct\" description");
    return NULL;
  }
  if (kind == KIND_CAPABILITY) return decode_capability(a);
  uint64_t size = 0;
  if (!field_size(a, field, &size)) return NULL;
  if (size == 0 && kind != KIND_HEX) {
    ANALYZE_FAIL(a, MIG_ERR_BAD_VALUE, "integer or bool of size 0");
    return NULL;
  }
  const uint8_t *bytes = analyze_take(a, size);
  if (bytes == NULL) return NULL;
  if (kind == KIND_BOOL) return json_boolean(bytes[0] != 0);
  if (kind == KIND_HEX) return hex_bytes_json(a, bytes, (size_t)size);
  return integer_json(a, bytes, (size_t)size, kind == KIND_SIGNED);
}

/* Stores value under name: plainly, or appended at position index of a list. */
static bool insert_value(struct analyze *a, json_t *object, const char *name, bool indexed,
                         uint64_t index, json_t *value)
{
  if (!indexed) return json_object_set_new(object, name, value) == 0;
  json_t *list = json_object_get(object, name);
  if (list == NULL) {
    list = json_array();
    if (list == NULL || json_object_set_new(object, name, list) != 0) {
      json_decref(value);
      return false;
    }
  }
  if (!json_is_array(list) || json_array_size(list) != index) {
    char detail[96];
    snprintf(detail, sizeof detail, "element %" PRIu64 " follows %s", index,
             json_is_array(list) ? "a list of another length" : "a plain field of that name");
    ANALYZE_FAIL(a, MIG_ERR_VMDESC, detail);
    json_decref(value);
    return false;
  }
  return json_array_append_new(list, value) == 0;
}

/* Element count and first index of a field: "array_len" n gives 0..n-1, "index" i gives i. */
static bool field_elements(struct analyze *a, const json_t *field, bool *indexed,
                           uint64_t *first, uint64_t *count)
{
  const json_t *array_len = json_object_get(field, "array_len");
  const json_t *index = json_object_get(field, "index");
  *indexed = array_len != NULL || index != NULL;
  *first = 0;
  *count = 1;
  if (array_len != NULL) {
    json_int_t n = json_is_integer(array_len) ? json_integer_value(array_len) : -1;
    if (!json_is_integer(array_len) || n > (json_int_t)MIG_ANALYZE_VALUES_MAX) {
      ANALYZE_FAIL(a, MIG_ERR_VMDESC, "unusable \"array_len\"");
      return false;
    }
    *count = n < 1 ? 1 : (uint64_t)n;  /* the script always reads the first element */
  } else if (index != NULL) {
    if (!json_is_integer(index) || json_integer_value(index) < 0) {
      ANALYZE_FAIL(a, MIG_ERR_VMDESC, "unusable \"index\"");
      return false;
    }
    *first = (uint64_t)json_integer_value(index);
  }
  return true;
}

static bool decode_field(struct analyze *a, const json_t *field, json_t *object, uint32_t depth)
{
  const char *name = json_string_value(json_object_get(field, "name"));
  if (name == NULL) {
    ANALYZE_FAIL(a, MIG_ERR_VMDESC, "field without a \"name\"");
    return false;
  }
  bool indexed = false;
  uint64_t first = 0, count = 0;
  size_t saved = path_push(a, "/%s", name);
  bool ok = field_elements(a, field, &indexed, &first, &count);
  for (uint64_t i = 0; ok && i < count; i++) {
    size_t element_saved = indexed ? path_push(a, "[%" PRIu64 "]", first + i) : a->path_bytes;
    json_t *value = decode_value(a, field, depth);
    path_pop(a, element_saved);
    ok = value != NULL && insert_value(a, object, name, indexed, first + i, value);
    if (!ok && !analyze_failed(a)) ANALYZE_FAIL(a, MIG_ERR_NOMEM, "JSON object");
  }
  path_pop(a, saved);
  return ok;
}

/* The description of the subsection named `name`: the expected one, else any sibling. */
static const json_t *subsection_desc(const json_t *subsections, size_t position, const char *name)
{
  const json_t *expected = json_array_get(subsections, position);
  const char *expected_name = json_string_value(json_object_get(expected, "vmsd_name"));
  if (expected_name != NULL && strcmp(expected_name, name) == 0) return expected;
  size_t i;
  const json_t *other;
  json_array_foreach(subsections, i, other) {
    const char *other_name = json_string_value(json_object_get(other, "vmsd_name"));
    if (other_name != NULL && strcmp(other_name, name) == 0) return other;
  }
  return NULL;
}

static bool decode_subsection(struct analyze *a, const json_t *subsections, size_t position,
                              json_t *object, uint32_t depth)
{
  const char *expected = json_string_value(
      json_object_get(json_array_get(subsections, position), "vmsd_name"));
  uint64_t at = mig_reader_offset(&a->reader);
  size_t saved = path_push(a, "/%s", expected != NULL ? expected : "(subsection)");
  const uint8_t *marker = analyze_take(a, 1);
  char detail[MIG_IDSTR_BYTES_MAX + 64];
  if (marker != NULL && *marker != MIG_SECTION_SUBSECTION) {
    snprintf(detail, sizeof detail, "subsection not found: byte 0x%02x", *marker);
    ANALYZE_FAIL_AT(a, MIG_ERR_SUBSECTION, at, detail);
  }
  char name[MIG_IDSTR_BYTES_MAX + 1];
  (void)mig_read_counted_string(&a->reader, name, sizeof name);
  (void)mig_read_be32(&a->reader);  /* version_id: the script reads and ignores it */
  mig__reader_annotate(&a->reader, "%s", a->path);
  const json_t *desc = analyze_failed(a) ? NULL : subsection_desc(subsections, position, name);
  if (desc == NULL && !analyze_failed(a)) {
    snprintf(detail, sizeof detail, "stream has \"%s\", not a described subsection", name);
    ANALYZE_FAIL_AT(a, MIG_ERR_SUBSECTION, at, detail);
  }
  path_pop(a, saved);
  if (analyze_failed(a)) return false;
  saved = path_push(a, "/%s", name);
  json_t *value = decode_struct(a, desc, depth + 1);
  bool ok = value != NULL && json_object_set_new(object, name, value) == 0;
  if (!ok && !analyze_failed(a)) ANALYZE_FAIL_AT(a, MIG_ERR_BAD_IDSTR, at, "name is not UTF-8");
  path_pop(a, saved);
  return ok;
}

static json_t *decode_struct(struct analyze *a, const json_t *desc, uint32_t depth)
{
  if (depth > MIG_VMSTATE_DEPTH_MAX) {
    ANALYZE_FAIL(a, MIG_ERR_VMDESC, "nested deeper than MIG_VMSTATE_DEPTH_MAX");
    return NULL;
  }
  const json_t *fields = json_object_get(desc, "fields");
  const json_t *subsections = json_object_get(desc, "subsections");
  if (!json_is_array(fields) || (subsections != NULL && !json_is_array(subsections))) {
    ANALYZE_FAIL(a, MIG_ERR_VMDESC, "no \"fields\" list, or a bad \"subsections\" list");
    return NULL;
  }
  json_t *object = json_object();
  bool ok = object != NULL;
  if (!ok) ANALYZE_FAIL(a, MIG_ERR_NOMEM, "JSON object");
  for (size_t i = 0; ok && i < json_array_size(fields); i++) {
    ok = decode_field(a, json_array_get(fields, i), object, depth);
  }
  for (size_t i = 0; ok && i < json_array_size(subsections); i++) {
    ok = decode_subsection(a, subsections, i, object, depth);
  }
  if (ok) return object;
  json_decref(object);
  return NULL;
}

/* mig_analyze_section with the stream's running count of decoded values. */
static enum mig_err analyze_section(const json_t *desc, const uint8_t *payload, size_t count,
                                    uint64_t offset, const char *idstr, uint64_t *values_count,
                                    json_t **out, struct mig_error *error)
{
  SIM_ASSERT(out != NULL && error != NULL && values_count != NULL);
  SIM_ASSERT(idstr != NULL && (payload != NULL || count == 0));
  static struct analyze zero;
  struct analyze a = zero;
  mig_reader_init_memory(&a.reader, payload, count);
  a.payload_bytes = count;
  a.values_count = *values_count;
  (void)path_push(&a, "%s", idstr);
  json_t *object = NULL;
  if (json_is_object(desc)) {
    object = decode_struct(&a, desc, 0);
  } else {
    ANALYZE_FAIL(&a, MIG_ERR_VMDESC, "device description is not an object");
  }
  if (object != NULL && mig_reader_offset(&a.reader) != count) {
    char detail[96];
    snprintf(detail, sizeof detail, "0x%" PRIx64 " payload bytes not covered by the description",
             (uint64_t)count - mig_reader_offset(&a.reader));
    path_pop(&a, 0);
    (void)path_push(&a, "%s/(end)", idstr);
    ANALYZE_FAIL(&a, MIG_ERR_VMDESC, detail);
  }
  *values_count = a.values_count;
  *error = *mig_reader_error(&a.reader);
  *out = NULL;
  if (error->code != MIG_OK) {
    error->offset += offset;
    json_decref(object);
    return error->code;
  }
  *out = object;
  return MIG_OK;
}

enum mig_err mig_analyze_section(const json_t *desc, const uint8_t *payload, size_t count,
                                 uint64_t offset, const char *idstr, json_t **out,
                                 struct mig_error *error)
{
  uint64_t values_count = 0;
  return analyze_section(desc, payload, count, offset, idstr, &values_count, out, error);
}

/* ------------------------------------------------------------- whole stream */

struct analyze_entry {
  uint64_t offset;                          /* of the section header */
  uint32_t section_id;
  char key[MIG_IDSTR_BYTES_MAX + 16];       /* "idstr (section_id)" */
  json_t *value;                            /* owned; NULL once merged away */
};

/*
 * The START header at live->offset, read again from bytes through the record
 * layer: it must still be a START with the walk's section id and idstr, so a
 * live section is never printed with another one's summary.  False with
 * *error filled otherwise.
 */
static bool live_header_matches(const uint8_t *bytes, size_t count,
                                const struct mig_inspect_live *live, struct mig_error *error)
{
  struct mig_reader reader;
  struct mig_tokenizer *tokenizer = malloc(sizeof *tokenizer);
  SIM_ASSERT(tokenizer != NULL && live->offset <= count);
  mig_reader_init_memory_at(&reader, bytes + live->offset, count - (size_t)live->offset,
                            live->offset);
  mig_tokenizer_init_records(tokenizer, &reader, NULL);
  struct mig_record record;
  char name[MIG_IDSTR_BYTES_MAX + 1] = "";
  if (mig_record_next(tokenizer, &record) == MIG_OK) {
    bool is_section = record.kind == MIG_RECORD_SECTION;
    if (is_section) mig_name_copy(&record.section.idstr, name, sizeof name);
    if (!is_section || record.section.type != MIG_SECTION_START ||
        record.section.section_id != live->section_id || strcmp(name, live->idstr) != 0) {
      MIG_READER_FAIL(&reader, MIG_ERR_UNKNOWN_SECTION, live->offset,
                      "START header differs from the walk", "%s", name);
    }
  }
  free(tokenizer);
  *error = *mig_reader_error(&reader);
  return !mig_reader_failed(&reader);
}

/*
 * QEMU 7.2's analyze-migration.py has no reader for "block" (it stops with a
 * KeyError), so this prints what the walk counted: per device the data and
 * zero chunks and the sector extent, and the last PROGRESS percent.
 */
static json_t *block_json(const struct mig_inspect *inspect)
{
  json_t *devices = json_object();
  json_t *block = json_object();
  bool ok = devices != NULL && block != NULL;
  for (uint32_t i = 0; ok && i < inspect->block_device_count; i++) {
    const struct mig_inspect_block_device *device = &inspect->block_devices[i];
    json_t *entry = json_pack("{s:I,s:I,s:I}", "data blocks", (json_int_t)device->data_blocks,
                              "zero blocks", (json_int_t)device->zero_blocks, "sectors",
                              (json_int_t)device->sector_end);
    ok = entry != NULL && json_object_set_new(devices, device->name, entry) == 0;
  }
  ok = ok && json_object_set_new(block, "devices", devices) == 0;
  devices = NULL;
  ok = ok && json_object_set_new(block, "progress",
                                 json_integer((json_int_t)inspect->block_progress)) == 0;
  if (ok) return block;
  json_decref(block);
  json_decref(devices);
  return NULL;
}

/* {"section sizes": {block: "0x%016x"}}, as the script's RamSection prints it. */
static json_t *ram_json(const struct mig_inspect *inspect)
{
  json_t *sizes = json_object();
  json_t *ram = json_object();
  bool ok = sizes != NULL && ram != NULL;
  for (uint32_t i = 0; ok && i < inspect->block_count; i++) {
    char text[24];
    snprintf(text, sizeof text, "0x%016" PRIx64, inspect->blocks[i].used_bytes);
    ok = json_object_set_new(sizes, inspect->blocks[i].name, json_string(text)) == 0;
  }
  if (ok && json_object_set_new(ram, "section sizes", sizes) == 0) return ram;
  json_decref(ram);
  json_decref(sizes);
  return NULL;
}

/* The script keeps the last device entry for a (name, instance_id) key. */
static const json_t *device_desc(const json_t *devices, const struct mig_inspect_device *device)
{
  const json_t *found = NULL;
  size_t i;
  const json_t *entry;
  json_array_foreach(devices, i, entry) {
    const char *name = json_string_value(json_object_get(entry, "name"));
    const json_t *instance = json_object_get(entry, "instance_id");
    if (name != NULL && strcmp(name, device->idstr) == 0 && json_is_integer(instance) &&
        json_integer_value(instance) == (json_int_t)device->instance_id) {
      found = entry;
    }
  }
  return found;
}

static enum mig_err decode_device(const uint8_t *bytes, size_t count, const json_t *devices,
                                  const struct mig_inspect_device *device,
                                  uint64_t *values_count, struct analyze_entry *entry,
                                  struct mig_error *error)
{
  uint64_t payload_offset = device->payload_offset;  /* where the record layer found it */
  entry->offset = device->offset;
  entry->section_id = device->section_id;
  snprintf(entry->key, sizeof entry->key, "%s (%" PRIu32 ")", device->idstr, device->section_id);
  const json_t *desc = device_desc(devices, device);
  if (desc == NULL || payload_offset > count || device->bytes > count - payload_offset) {
    memset(error, 0, sizeof *error);
    error->code = desc == NULL ? MIG_ERR_UNKNOWN_SECTION : MIG_ERR_TRUNCATED;
    error->offset = device->offset;
    snprintf(error->path, sizeof error->path, "%.*s", (int)sizeof error->path - 1, device->idstr);
    snprintf(error->detail, sizeof error->detail, "%s",
             desc == NULL ? "no VM-description entry" : "payload beyond the stream");
    error->source_file = __FILE__;
    error->source_line = __LINE__;
    return error->code;
  }
  return analyze_section(desc, bytes + payload_offset, (size_t)device->bytes, payload_offset,
                         device->idstr, values_count, &entry->value, error);
}

/* Builds the result object; a repeated section id replaces the earlier value in place. */
static json_t *entries_json(struct analyze_entry *entries, size_t entry_count)
{
  for (size_t i = 1; i < entry_count; i++) {
    for (size_t j = 0; j < i; j++) {
      if (entries[j].value == NULL || entries[j].section_id != entries[i].section_id) continue;
      json_decref(entries[j].value);
      entries[j].value = entries[i].value;
      memcpy(entries[j].key, entries[i].key, sizeof entries[j].key);
      entries[i].value = NULL;
      break;
    }
  }
  json_t *root = json_object();
  for (size_t i = 0; i < entry_count; i++) {
    if (entries[i].value == NULL) continue;
    if (root != NULL && json_object_set(root, entries[i].key, entries[i].value) != 0) {
      json_decref(root);
      root = NULL;
    }
  }
  return root;
}

static json_t *load_trailer(const uint8_t *bytes, const struct mig_inspect *inspect,
                            struct mig_error *error)
{
  json_error_t json_error;
  json_t *vmdesc = NULL;
  if (inspect->trailer_bytes > 0 && inspect->trailer_bytes <= MIG_VMDESC_BYTES_MAX) {
    vmdesc = json_loadb((const char *)bytes + inspect->trailer_offset,
                        (size_t)inspect->trailer_bytes, 0, &json_error);
  }
  if (vmdesc == NULL || !json_is_array(json_object_get(vmdesc, "devices"))) {
    memset(error, 0, sizeof *error);
    error->code = MIG_ERR_VMDESC;
    error->offset = inspect->trailer_offset;
    snprintf(error->path, sizeof error->path, "vmdesc/devices");
    snprintf(error->detail, sizeof error->detail, "no usable VM description");
    error->source_file = __FILE__;
    error->source_line = __LINE__;
    json_decref(vmdesc);
    return NULL;
  }
  return vmdesc;
}

enum mig_err mig_analyze_stream(const uint8_t *bytes, size_t count,
                                const struct mig_inspect *inspect, json_t **out,
                                struct mig_error *error)
{
  SIM_ASSERT(out != NULL && error != NULL && inspect != NULL);
  SIM_ASSERT(inspect->trailer_offset + inspect->trailer_bytes <= count);
  *out = NULL;
  memset(error, 0, sizeof *error);
  json_t *vmdesc = load_trailer(bytes, inspect, error);
  if (vmdesc == NULL) return error->code;
  struct analyze_entry *entries =
      calloc((size_t)inspect->device_count + MIG_INSPECT_LIVE_SECTIONS_MAX, sizeof *entries);
  size_t entry_count = 0;
  uint64_t values_count = 0;
  /* Live sections with a summary (ram, block), in START order, merged with FULL ones by offset. */
  struct analyze_entry lives[MIG_INSPECT_LIVE_SECTIONS_MAX];
  uint32_t live_count = 0, live_next = 0;
  if (entries == NULL) error->code = MIG_ERR_NOMEM;
  for (uint32_t i = 0; error->code == MIG_OK && i < inspect->live_count; i++) {
    const struct mig_inspect_live *live = &inspect->lives[i];
    bool ram = strcmp(live->idstr, MIG_RAM_IDSTR) == 0;
    if (!ram && strcmp(live->idstr, "block") != 0) continue;
    if (!live_header_matches(bytes, count, live, error)) break;
    struct analyze_entry *entry = &lives[live_count++];
    entry->offset = live->offset;
    entry->section_id = live->section_id;
    snprintf(entry->key, sizeof entry->key, "%s (%" PRIu32 ")", live->idstr, live->section_id);
    entry->value = ram ? ram_json(inspect) : block_json(inspect);
    if (entry->value == NULL) error->code = MIG_ERR_NOMEM;
  }
  const json_t *devices = json_object_get(vmdesc, "devices");
  for (uint32_t i = 0; error->code == MIG_OK && i <= inspect->device_count; i++) {
    bool last = i == inspect->device_count;
    while (live_next < live_count &&
           (last || lives[live_next].offset < inspect->devices[i].offset)) {
      entries[entry_count++] = lives[live_next++];
    }
    if (last) break;
    if (decode_device(bytes, count, devices, &inspect->devices[i], &values_count,
                      &entries[entry_count], error) == MIG_OK) {
      entry_count++;
    }
  }
  if (error->code == MIG_OK) *out = entries_json(entries, entry_count);
  if (error->code == MIG_OK && *out == NULL) error->code = MIG_ERR_NOMEM;
  for (size_t i = 0; i < entry_count; i++) json_decref(entries[i].value);
  for (uint32_t i = live_next; i < live_count; i++) json_decref(lives[i].value);
  free(entries);
  json_decref(vmdesc);
  return error->code;
}
