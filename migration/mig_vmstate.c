/*
 * mig_vmstate.c: the interpreter of vmstate descriptions (contract in
 * mig_vmstate.h, tables in models/vmstate_desc.h, wire facts in
 * spec/stream-format.md §5, JSON schema in §10.2, loader rules in §11.3).
 *
 * Three walks share one shape: fields in declaration order, each present iff
 * its field_exists test (or field.version_id <= version) says so, then the
 * subsections.  Save writes big-endian bytes and, on request, QEMU's JSON
 * description; load reads them back with QEMU's version rules and hook order;
 * visit hands each field's canonical bytes to a callback with its path.
 *
 * The descriptions are our own code, so their shape is asserted (field widths,
 * subsection name prefixes, depth when saving).  Stream bytes are never
 * asserted on: the loader latches typed errors in the reader, annotated with
 * the innermost "desc/field" path, and never writes outside a described field
 * or allocates anything.  Recursion follows the descriptions, not the stream,
 * and is bounded by MIG_VMSTATE_DEPTH_MAX.
 */
#include "sim_base.h"

#include "mig_limits.h"
#include "mig_vmstate.h"

/* Subsections per description; the loader tracks duplicates in one 64-bit mask. */
#define MIG_VMSTATE_SUBSECTIONS_MAX 64
#define MIG_SUBSECTION_MARKER 0x05
#define MIG_SUBSECTION_VERSION_MAX 255 /* spec §11.3 item 4 */

_Static_assert(sizeof(bool) == 1, "a bool field is one byte in memory and on the wire");
_Static_assert(MIG_IDSTR_BYTES_MAX == 255, "subsection names fit a counted string");

/* ------------------------------------------------------------ descriptions */

static uint32_t kind_width(enum vmstate_kind kind)
{
  switch (kind) {
  case VMSTATE_KIND_BOOL:
  case VMSTATE_KIND_INT8:
  case VMSTATE_KIND_UINT8: return 1;
  case VMSTATE_KIND_INT16:
  case VMSTATE_KIND_UINT16: return 2;
  case VMSTATE_KIND_INT32:
  case VMSTATE_KIND_UINT32: return 4;
  case VMSTATE_KIND_INT64:
  case VMSTATE_KIND_UINT64: return 8;
  case VMSTATE_KIND_BUFFER:
  case VMSTATE_KIND_UNUSED:
  case VMSTATE_KIND_STRUCT: return 0;
  }
  return 0;
}

static bool kind_is_integer(enum vmstate_kind kind)
{
  return kind != VMSTATE_KIND_BOOL && kind_width(kind) != 0;
}

/* A description bug, not a stream problem: these are asserted. */
static void field_check(const struct vmstate_field *field)
{
  SIM_ASSERT(field->name != NULL);
  SIM_ASSERT((uint64_t)field->size_bytes * field->count <= MIG_VMSTATE_FIELD_BYTES_MAX);
  SIM_ASSERT(kind_width(field->kind) == 0 || kind_width(field->kind) == field->size_bytes);
  SIM_ASSERT((field->kind == VMSTATE_KIND_STRUCT) == (field->nested != NULL));
  SIM_ASSERT((field->flags & VMSTATE_FLAG_EQUAL) == 0 || kind_is_integer(field->kind));
}

static void subsection_check(const struct vmstate_desc *parent, const struct vmstate_desc *sub)
{
  size_t prefix_bytes = strlen(parent->name);
  SIM_ASSERT(sub != NULL && sub->name != NULL);
  SIM_ASSERT(strncmp(sub->name, parent->name, prefix_bytes) == 0);
  SIM_ASSERT(sub->name[prefix_bytes] == '/' && strlen(sub->name) <= MIG_IDSTR_BYTES_MAX);
  SIM_ASSERT(sub->version_id >= 0 && sub->version_id <= MIG_SUBSECTION_VERSION_MAX);
}

static bool field_present(const struct vmstate_field *field, void *opaque, int32_t version_id)
{
  if (field->field_exists != NULL) return field->field_exists(opaque, version_id);
  return field->version_id <= version_id;
}

/* "<path>/<field>", plus "[i]" for an element of a field with several. */
static void field_path(char *out, const char *path, const struct vmstate_field *field,
                       uint32_t index)
{
  if (field->count > 1) {
    snprintf(out, MIG_PATH_BYTES_MAX, "%s/%s[%" PRIu32 "]", path, field->name, index);
  } else {
    snprintf(out, MIG_PATH_BYTES_MAX, "%s/%s", path, field->name);
  }
}

/* A subsection's path: the parent's path plus the part of its name after the parent's. */
static void subsection_path(char *out, const char *path, const struct vmstate_desc *parent,
                            const char *sub_name)
{
  snprintf(out, MIG_PATH_BYTES_MAX, "%s%s", path, sub_name + strlen(parent->name));
}

/* --------------------------------------------------------------- elements */

static uint64_t element_get(const uint8_t *element, uint32_t width)
{
  uint8_t u8;
  uint16_t u16;
  uint32_t u32;
  uint64_t u64;
  switch (width) {
  case 1: memcpy(&u8, element, 1); return u8;
  case 2: memcpy(&u16, element, 2); return u16;
  case 4: memcpy(&u32, element, 4); return u32;
  default: SIM_ASSERT(width == 8); memcpy(&u64, element, 8); return u64;
  }
}

/* Signed kinds share the unsigned representation of their width (two's complement). */
static void element_set(uint8_t *element, uint32_t width, uint64_t value)
{
  uint8_t u8 = (uint8_t)value;
  uint16_t u16 = (uint16_t)value;
  uint32_t u32 = (uint32_t)value;
  switch (width) {
  case 1: memcpy(element, &u8, 1); break;
  case 2: memcpy(element, &u16, 2); break;
  case 4: memcpy(element, &u32, 4); break;
  default: SIM_ASSERT(width == 8); memcpy(element, &value, 8); break;
  }
}

/* The wire bytes of one bool or integer element; returns their count. */
static uint32_t element_encode(const struct vmstate_field *field, const uint8_t *element,
                               uint8_t out[8])
{
  uint32_t width = kind_width(field->kind);
  SIM_ASSERT(width >= 1 && width <= 8);
  uint64_t value = element_get(element, width);
  if (field->kind == VMSTATE_KIND_BOOL) value = value != 0;
  for (uint32_t i = 0; i < width; i++) out[i] = (uint8_t)(value >> (8 * (width - 1 - i)));
  return width;
}

/* ----------------------------------------------------------------- JSON */

static void json_set(json_t *object, const char *key, json_t *value)
{
  SIM_ASSERT(value != NULL);
  int rc = json_object_set_new(object, key, value);
  SIM_ASSERT(rc == 0);
}

static void json_append(json_t *array, json_t *value)
{
  SIM_ASSERT(value != NULL);
  int rc = json_array_append_new(array, value);
  SIM_ASSERT(rc == 0);
}

/* QEMU's VMStateInfo names (spec §5.3); its uint64 "equal" info is named "int64 equal". */
static const char *field_type_name(const struct vmstate_field *field)
{
  bool equal = (field->flags & VMSTATE_FLAG_EQUAL) != 0;
  switch (field->kind) {
  case VMSTATE_KIND_BOOL: return "bool";
  case VMSTATE_KIND_INT8: return equal ? "int8 equal" : "int8";
  case VMSTATE_KIND_INT16: return equal ? "int16 equal" : "int16";
  case VMSTATE_KIND_INT32: return equal ? "int32 equal" : "int32";
  case VMSTATE_KIND_INT64: return equal ? "int64 equal" : "int64";
  case VMSTATE_KIND_UINT8: return equal ? "uint8 equal" : "uint8";
  case VMSTATE_KIND_UINT16: return equal ? "uint16 equal" : "uint16";
  case VMSTATE_KIND_UINT32: return equal ? "uint32 equal" : "uint32";
  case VMSTATE_KIND_UINT64: return equal ? "int64 equal" : "uint64";
  case VMSTATE_KIND_BUFFER: return "buffer";
  case VMSTATE_KIND_UNUSED: return "unused_buffer";
  case VMSTATE_KIND_STRUCT: return "struct";
  }
  return "unknown";
}

/* A name used more than once in one description gets "[k]", k its occurrence. */
static void field_json_name(const struct vmstate_desc *desc, const struct vmstate_field *field,
                            char *out, size_t out_bytes)
{
  uint32_t occurrences = 0;
  uint32_t before = 0;
  for (uint32_t i = 0; i < desc->field_count; i++) {
    if (strcmp(desc->fields[i].name, field->name) != 0) continue;
    if (&desc->fields[i] < field) before++;
    occurrences++;
  }
  SIM_ASSERT(occurrences >= 1 && before < occurrences);
  if (occurrences == 1) {
    snprintf(out, out_bytes, "%s", field->name);
  } else {
    snprintf(out, out_bytes, "%s[%" PRIu32 "]", field->name, before);
  }
}

/*
 * QEMU describes an array by its first element plus "array_len" unless the
 * elements may differ in shape: a field_exists test, or a struct with
 * subsections anywhere inside.  Those get one entry per element with "index".
 */
static bool field_compressible(const struct vmstate_field *field, uint32_t depth)
{
  SIM_ASSERT(depth < MIG_VMSTATE_DEPTH_MAX);
  if (field->field_exists != NULL) return false;
  if (field->kind != VMSTATE_KIND_STRUCT) return true;
  const struct vmstate_desc *nested = field->nested;
  SIM_ASSERT(nested != NULL);
  if (nested->subsection_count > 0) return false;
  for (uint32_t i = 0; i < nested->field_count; i++) {
    if (!field_compressible(&nested->fields[i], depth + 1)) return false;
  }
  return true;
}

/* Appends {"name", ["array_len"|"index"], "type", ["struct"]}; "size" is set later. */
static json_t *field_json_start(json_t *fields_json, const struct vmstate_desc *desc,
                                const struct vmstate_field *field, uint32_t index,
                                bool compress, json_t **struct_json)
{
  char name[MIG_IDSTR_BYTES_MAX + 16];
  field_json_name(desc, field, name, sizeof name);
  json_t *entry = json_object();
  SIM_ASSERT(entry != NULL);
  json_set(entry, "name", json_string(name));
  if (field->count > 1 && compress) json_set(entry, "array_len", json_integer(field->count));
  if (field->count > 1 && !compress) json_set(entry, "index", json_integer(index));
  json_set(entry, "type", json_string(field_type_name(field)));
  *struct_json = NULL;
  if (field->kind == VMSTATE_KIND_STRUCT) {
    *struct_json = json_object();
    json_set(entry, "struct", *struct_json);
  }
  json_append(fields_json, entry);
  return entry;
}

/* ----------------------------------------------------------------- save */

static enum mig_err save_desc(struct mig_writer *writer, const struct vmstate_desc *desc,
                              void *opaque, json_t *json, uint32_t depth);

static void save_zeros(struct mig_writer *writer, uint32_t count)
{
  static const uint8_t zeros[256];
  while (count > 0) {
    uint32_t chunk = SIM_MIN(count, (uint32_t)sizeof zeros);
    mig_writer_bytes(writer, zeros, chunk);
    count -= chunk;
  }
}

static enum mig_err save_element(struct mig_writer *writer, const struct vmstate_field *field,
                                 uint8_t *element, json_t *struct_json, uint32_t depth)
{
  uint8_t bytes[8];
  switch (field->kind) {
  case VMSTATE_KIND_STRUCT:
    return save_desc(writer, field->nested, element, struct_json, depth + 1);
  case VMSTATE_KIND_BUFFER: mig_writer_bytes(writer, element, field->size_bytes); break;
  case VMSTATE_KIND_UNUSED: save_zeros(writer, field->size_bytes); break;
  default: mig_writer_bytes(writer, bytes, element_encode(field, element, bytes)); break;
  }
  return MIG_OK;
}

static enum mig_err save_field(struct mig_writer *writer, const struct vmstate_desc *desc,
                               const struct vmstate_field *field, void *opaque,
                               json_t *fields_json, uint32_t depth)
{
  field_check(field);
  bool compress = fields_json != NULL && field_compressible(field, depth);
  uint8_t *first = (uint8_t *)opaque + field->offset;
  for (uint32_t i = 0; i < field->count; i++) {
    json_t *entry = NULL;
    json_t *struct_json = NULL;
    if (fields_json != NULL && (i == 0 || !compress)) {
      entry = field_json_start(fields_json, desc, field, i, compress, &struct_json);
    }
    uint64_t start = mig_writer_offset(writer);
    uint8_t *element = field->kind == VMSTATE_KIND_UNUSED
                           ? NULL
                           : first + (size_t)i * field->size_bytes;
    enum mig_err err = save_element(writer, field, element, struct_json, depth);
    if (err != MIG_OK) return err;
    uint64_t written = mig_writer_offset(writer) - start;
    if (entry != NULL) json_set(entry, "size", json_integer((json_int_t)written));
  }
  return mig_writer_error(writer);
}

/* Spec §5.6: 0x05, counted name, be32 version, then the subsection's own walk. */
static enum mig_err save_subsections(struct mig_writer *writer, const struct vmstate_desc *desc,
                                     void *opaque, json_t *json, uint32_t depth)
{
  SIM_ASSERT(desc->subsection_count <= MIG_VMSTATE_SUBSECTIONS_MAX);
  json_t *subsections_json = NULL;
  for (uint32_t i = 0; i < desc->subsection_count; i++) {
    const struct vmstate_desc *sub = desc->subsections[i];
    subsection_check(desc, sub);
    if (sub->needed != NULL && !sub->needed(opaque)) continue;
    json_t *sub_json = NULL;
    if (json != NULL) {
      if (subsections_json == NULL) {
        subsections_json = json_array();
        json_set(json, "subsections", subsections_json);
      }
      sub_json = json_object();
      json_append(subsections_json, sub_json);
    }
    mig_writer_u8(writer, MIG_SUBSECTION_MARKER);
    mig_writer_counted_string(writer, sub->name);
    mig_writer_be32(writer, (uint32_t)sub->version_id);
    enum mig_err err = save_desc(writer, sub, opaque, sub_json, depth + 1);
    if (err != MIG_OK) return err;
  }
  return MIG_OK;
}

/* Hook order (spec §5.5): pre_save, fields, subsections, post_save (once pre_save passed). */
static enum mig_err save_desc(struct mig_writer *writer, const struct vmstate_desc *desc,
                              void *opaque, json_t *json, uint32_t depth)
{
  SIM_ASSERT(desc != NULL && desc->name != NULL);
  SIM_ASSERT(depth < MIG_VMSTATE_DEPTH_MAX);
  SIM_ASSERT(desc->minimum_version_id <= desc->version_id);
  SIM_ASSERT(desc->field_count == 0 || desc->fields != NULL);
  if (desc->pre_save != NULL && desc->pre_save(opaque) != 0) return MIG_ERR_HOOK;
  json_t *fields_json = NULL;
  if (json != NULL) {
    json_set(json, "vmsd_name", json_string(desc->name));
    json_set(json, "version", json_integer(desc->version_id));
    fields_json = json_array();
    json_set(json, "fields", fields_json);
  }
  enum mig_err err = MIG_OK;
  for (uint32_t i = 0; i < desc->field_count && err == MIG_OK; i++) {
    const struct vmstate_field *field = &desc->fields[i];
    if (!field_present(field, opaque, desc->version_id)) continue;
    err = save_field(writer, desc, field, opaque, fields_json, depth);
  }
  if (err == MIG_OK) err = save_subsections(writer, desc, opaque, json, depth);
  int post_rc = desc->post_save != NULL ? desc->post_save(opaque) : 0;
  if (err == MIG_OK && post_rc != 0) err = MIG_ERR_HOOK;
  if (err == MIG_OK) err = mig_writer_error(writer);
  return err;
}

enum mig_err mig_vmstate_save(struct mig_writer *writer, const struct vmstate_desc *desc,
                              void *opaque, json_t **json_out)
{
  SIM_ASSERT(writer != NULL);
  SIM_ASSERT(desc != NULL);
  json_t *json = NULL;
  if (json_out != NULL) {
    *json_out = NULL;
    json = json_object();
    SIM_ASSERT(json != NULL);
  }
  enum mig_err err = mig_writer_error(writer);
  if (err == MIG_OK) err = save_desc(writer, desc, opaque, json, 0);
  if (err != MIG_OK) {
    json_decref(json);
    return err;
  }
  if (json_out != NULL) *json_out = json;
  return MIG_OK;
}

/* ----------------------------------------------------------------- load */

static void load_desc(struct mig_reader *reader, const struct vmstate_desc *desc, void *opaque,
                      int32_t version_id, const char *path, uint32_t depth);

/* Spec §5.2: minimum_version_id <= version <= version_id, else the load fails. */
static bool load_version_ok(struct mig_reader *reader, const struct vmstate_desc *desc,
                            int64_t version_id, uint64_t offset, const char *path)
{
  SIM_ASSERT(desc->minimum_version_id <= desc->version_id);
  if (version_id >= desc->minimum_version_id && version_id <= desc->version_id) return true;
  char detail[80];
  snprintf(detail, sizeof detail, "version %" PRId64 ", accepted %" PRId32 "..%" PRId32,
           version_id, desc->minimum_version_id, desc->version_id);
  MIG_READER_FAIL(reader, MIG_ERR_SECTION_VERSION, offset, detail, "%s", path);
  return false;
}

static bool load_hook_ok(struct mig_reader *reader, int rc, const char *hook, const char *path)
{
  if (rc == 0) return true;
  char detail[80];
  snprintf(detail, sizeof detail, "%s returned %d", hook, rc);
  MIG_READER_FAIL(reader, MIG_ERR_HOOK, mig_reader_offset(reader), detail, "%s", path);
  return false;
}

/* Reads one integer; an EQUAL field must match the value already in the object. */
static void load_integer(struct mig_reader *reader, const struct vmstate_field *field,
                         uint8_t *element, const char *path, uint32_t index)
{
  uint32_t width = kind_width(field->kind);
  uint64_t offset = mig_reader_offset(reader);
  uint64_t value = 0;
  switch (width) {
  case 1: value = mig_read_u8(reader); break;
  case 2: value = mig_read_be16(reader); break;
  case 4: value = mig_read_be32(reader); break;
  default: SIM_ASSERT(width == 8); value = mig_read_be64(reader); break;
  }
  if (mig_reader_failed(reader)) return;
  uint64_t current = element_get(element, width);
  if ((field->flags & VMSTATE_FLAG_EQUAL) != 0 && value != current) {
    char detail[80];
    char element_path[MIG_PATH_BYTES_MAX];
    snprintf(detail, sizeof detail, "read 0x%" PRIx64 " expected 0x%" PRIx64, value, current);
    field_path(element_path, path, field, index);
    MIG_READER_FAIL(reader, MIG_ERR_EQUAL_MISMATCH, offset, detail, "%s", element_path);
    return;
  }
  element_set(element, width, value);
}

static void load_element(struct mig_reader *reader, const struct vmstate_field *field,
                         uint8_t *element, const char *path, uint32_t index, uint32_t depth)
{
  char element_path[MIG_PATH_BYTES_MAX];
  bool value = false;
  switch (field->kind) {
  case VMSTATE_KIND_STRUCT:
    field_path(element_path, path, field, index);
    SIM_ASSERT(field->nested->minimum_version_id <= field->nested->version_id);
    load_desc(reader, field->nested, element, field->nested->version_id, element_path,
              depth + 1);
    break;
  case VMSTATE_KIND_BUFFER: mig_read_bytes(reader, element, field->size_bytes); break;
  case VMSTATE_KIND_UNUSED: mig_read_skip(reader, field->size_bytes); break;
  case VMSTATE_KIND_BOOL:
    value = mig_read_u8(reader) != 0; /* spec §5.3: any nonzero byte is true */
    if (!mig_reader_failed(reader)) memcpy(element, &value, 1);
    break;
  default: load_integer(reader, field, element, path, index); break;
  }
}

static void load_field(struct mig_reader *reader, const struct vmstate_field *field,
                       void *opaque, const char *path, uint32_t depth)
{
  field_check(field);
  uint8_t *first = (uint8_t *)opaque + field->offset;
  for (uint32_t i = 0; i < field->count; i++) {
    uint8_t *element = field->kind == VMSTATE_KIND_UNUSED
                           ? NULL
                           : first + (size_t)i * field->size_bytes;
    load_element(reader, field, element, path, i, depth);
    if (mig_reader_failed(reader)) {
      char element_path[MIG_PATH_BYTES_MAX];
      field_path(element_path, path, field, i);
      mig__reader_annotate(reader, "%s", element_path);
      return;
    }
  }
}

/*
 * Peeks a subsection's name without consuming anything.  Returns false and
 * latches TRUNCATED if the stream ends inside it; sets *ours to false when the
 * name cannot belong to desc (too short, or not "<desc name>/...").
 */
static bool subsection_peek(struct mig_reader *reader, const struct vmstate_desc *desc,
                            const char *path, char name[MIG_IDSTR_BYTES_MAX + 1],
                            uint8_t *name_bytes, bool *ours)
{
  size_t prefix_bytes = strlen(desc->name);
  uint64_t offset = mig_reader_offset(reader);
  uint8_t length = 0;
  bool ok = mig_reader_peek_at(reader, 1, &length);
  *ours = ok && length > prefix_bytes;
  for (size_t i = 0; ok && *ours && i < length; i++) {
    uint8_t byte = 0;
    ok = mig_reader_peek_at(reader, 2 + i, &byte);
    name[i] = (char)byte;
  }
  if (!ok) {
    MIG_READER_FAIL(reader, MIG_ERR_TRUNCATED, offset, "subsection header cut short", "%s",
                    path);
    return false;
  }
  name[*ours ? length : 0] = '\0';
  *name_bytes = length;
  *ours = *ours && memcmp(name, desc->name, prefix_bytes) == 0 && name[prefix_bytes] == '/';
  return true;
}

/* The local subsection with exactly this name (which may hold NUL bytes), or -1. */
static int64_t subsection_find(const struct vmstate_desc *desc, const char *name,
                               uint8_t name_bytes)
{
  for (uint32_t i = 0; i < desc->subsection_count; i++) {
    const char *local = desc->subsections[i]->name;
    if (strlen(local) == name_bytes && memcmp(local, name, name_bytes) == 0) return i;
  }
  return -1;
}

/* Consumes one subsection whose name was peeked and found local; loads it. */
static void load_subsection(struct mig_reader *reader, const struct vmstate_desc *sub,
                            void *opaque, uint8_t name_bytes, const char *sub_path,
                            uint32_t depth)
{
  mig_read_skip(reader, 2u + name_bytes);
  uint64_t version_offset = mig_reader_offset(reader);
  uint32_t version_id = mig_read_be32(reader);
  if (mig_reader_failed(reader)) {
    mig__reader_annotate(reader, "%s", sub_path);
    return;
  }
  if (version_id > MIG_SUBSECTION_VERSION_MAX) {
    char detail[80];
    snprintf(detail, sizeof detail, "version %" PRIu32 " > %d", version_id,
             MIG_SUBSECTION_VERSION_MAX);
    MIG_READER_FAIL(reader, MIG_ERR_SUBSECTION, version_offset, detail, "%s", sub_path);
    return;
  }
  if (!load_version_ok(reader, sub, version_id, version_offset, sub_path)) return;
  load_desc(reader, sub, opaque, (int32_t)version_id, sub_path, depth + 1);
}

/*
 * Spec §5.6 with §11.3's stricter rules: a 0x05 whose name is not
 * "<desc name>/..." is left in the stream (the caller's footer check reports
 * it); a well-prefixed unknown name, a repeated subsection or a version above
 * 255 is fatal.  Missing subsections are never an error.
 */
static void load_subsections(struct mig_reader *reader, const struct vmstate_desc *desc,
                             void *opaque, const char *path, uint32_t depth)
{
  SIM_ASSERT(desc->subsection_count <= MIG_VMSTATE_SUBSECTIONS_MAX);
  uint64_t loaded_mask = 0;
  uint8_t marker = 0;
  while (mig_reader_peek_u8(reader, &marker) && marker == MIG_SUBSECTION_MARKER) {
    char name[MIG_IDSTR_BYTES_MAX + 1];
    uint8_t name_bytes = 0;
    bool ours = false;
    uint64_t offset = mig_reader_offset(reader);
    if (!subsection_peek(reader, desc, path, name, &name_bytes, &ours)) return;
    if (!ours) return;
    char sub_path[MIG_PATH_BYTES_MAX];
    subsection_path(sub_path, path, desc, name);
    int64_t index = subsection_find(desc, name, name_bytes);
    if (index < 0 || (loaded_mask & (UINT64_C(1) << index)) != 0) {
      const char *why = index < 0 ? "no such subsection here" : "subsection sent twice";
      MIG_READER_FAIL(reader, MIG_ERR_SUBSECTION, offset, why, "%s", sub_path);
      return;
    }
    loaded_mask |= UINT64_C(1) << index;
    const struct vmstate_desc *sub = desc->subsections[index];
    subsection_check(desc, sub);
    load_subsection(reader, sub, opaque, name_bytes, sub_path, depth);
    if (mig_reader_failed(reader)) return;
  }
}

/* Hook order (spec §5.5): pre_load, fields, subsections, post_load; version already checked. */
static void load_desc(struct mig_reader *reader, const struct vmstate_desc *desc, void *opaque,
                      int32_t version_id, const char *path, uint32_t depth)
{
  SIM_ASSERT(desc != NULL && desc->name != NULL);
  SIM_ASSERT(desc->field_count == 0 || desc->fields != NULL);
  if (depth >= MIG_VMSTATE_DEPTH_MAX) {
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, mig_reader_offset(reader),
                    "descriptions nested too deeply", "%s", path);
    return;
  }
  int rc = desc->pre_load != NULL ? desc->pre_load(opaque) : 0;
  if (!load_hook_ok(reader, rc, "pre_load", path)) return;
  for (uint32_t i = 0; i < desc->field_count; i++) {
    const struct vmstate_field *field = &desc->fields[i];
    if (!field_present(field, opaque, version_id)) continue;
    load_field(reader, field, opaque, path, depth);
    if (mig_reader_failed(reader)) return;
  }
  load_subsections(reader, desc, opaque, path, depth);
  if (mig_reader_failed(reader)) return;
  rc = desc->post_load != NULL ? desc->post_load(opaque, version_id) : 0;
  (void)load_hook_ok(reader, rc, "post_load", path);
}

enum mig_err mig_vmstate_load(struct mig_reader *reader, const struct vmstate_desc *desc,
                              void *opaque, int32_t version_id)
{
  SIM_ASSERT(reader != NULL);
  SIM_ASSERT(desc != NULL && desc->name != NULL);
  if (mig_reader_failed(reader)) return mig_reader_error(reader)->code;
  uint64_t offset = mig_reader_offset(reader);
  if (load_version_ok(reader, desc, version_id, offset, desc->name)) {
    load_desc(reader, desc, opaque, version_id, desc->name, 0);
  }
  return mig_reader_error(reader)->code;
}

/* ---------------------------------------------------------------- visit */

struct visit_sink {
  mig_vmstate_visit_fn *visit; /* the caller's callback */
  void *context;               /* its context */
};

static void visit_desc(const struct vmstate_desc *desc, void *opaque, const char *path,
                       uint32_t depth, const struct visit_sink *sink);

static void visit_field(const struct vmstate_field *field, void *opaque, const char *path,
                        uint32_t depth, const struct visit_sink *sink)
{
  field_check(field);
  if (field->kind == VMSTATE_KIND_UNUSED) return;
  uint8_t *first = (uint8_t *)opaque + field->offset;
  for (uint32_t i = 0; i < field->count; i++) {
    uint8_t *element = first + (size_t)i * field->size_bytes;
    char element_path[MIG_PATH_BYTES_MAX];
    field_path(element_path, path, field, i);
    uint8_t bytes[8];
    if (field->kind == VMSTATE_KIND_STRUCT) {
      visit_desc(field->nested, element, element_path, depth + 1, sink);
    } else if (field->kind == VMSTATE_KIND_BUFFER) {
      sink->visit(sink->context, element_path, element, field->size_bytes);
    } else {
      sink->visit(sink->context, element_path, bytes, element_encode(field, element, bytes));
    }
  }
}

static void visit_desc(const struct vmstate_desc *desc, void *opaque, const char *path,
                       uint32_t depth, const struct visit_sink *sink)
{
  SIM_ASSERT(desc != NULL && desc->name != NULL);
  SIM_ASSERT(depth < MIG_VMSTATE_DEPTH_MAX);
  SIM_ASSERT(desc->subsection_count <= MIG_VMSTATE_SUBSECTIONS_MAX);
  for (uint32_t i = 0; i < desc->field_count; i++) {
    const struct vmstate_field *field = &desc->fields[i];
    if (field_present(field, opaque, desc->version_id)) {
      visit_field(field, opaque, path, depth, sink);
    }
  }
  for (uint32_t i = 0; i < desc->subsection_count; i++) {
    const struct vmstate_desc *sub = desc->subsections[i];
    subsection_check(desc, sub);
    if (sub->needed != NULL && !sub->needed(opaque)) continue;
    char sub_path[MIG_PATH_BYTES_MAX];
    subsection_path(sub_path, path, desc, sub->name);
    sink->visit(sink->context, sub_path, NULL, 0);
    visit_desc(sub, opaque, sub_path, depth + 1, sink);
  }
}

/* Runs no hooks: visiting must not change the object it describes. */
void mig_vmstate_visit(const struct vmstate_desc *desc, void *opaque,
                       mig_vmstate_visit_fn *visit, void *context)
{
  SIM_ASSERT(desc != NULL);
  SIM_ASSERT(visit != NULL);
  struct visit_sink sink = {.visit = visit, .context = context};
  visit_desc(desc, opaque, desc->name, 0, &sink);
}
