/*
 * mig_vmsd_parse.c: reads a -dump-vmstate JSON file (QEMU's
 * dump_vmstate_json_to_file in migration/savevm.c, 7.2) into the form of
 * mig_vmsd_int.h, refusing hostile input with one located error.
 *
 * Order of defences: the byte count is bounded; a scan over the raw bytes
 * (strings skipped) bounds the bracket depth and the number of values before
 * jansson allocates anything, so deep nesting and huge arrays are refused
 * at their byte offset; jansson then parses with duplicate keys refused; the
 * tree is converted with every type, range, name and array length checked,
 * each error naming its JSON path.  Overview: docs/compat.md.
 */
#include "sim_base.h"

#include "mig_vmsd_int.h"

static const char *const err_names[MIG_VMSD_ERR_COUNT] = {
  [MIG_VMSD_OK] = "OK",
#define ERR_NAME(name, message) [MIG_VMSD_ERR_##name] = #name,
  MIG_VMSD_ERR_MAP(ERR_NAME)
#undef ERR_NAME
};

static const char *const err_messages[MIG_VMSD_ERR_COUNT] = {
  [MIG_VMSD_OK] = "no error",
#define ERR_MESSAGE(name, message) [MIG_VMSD_ERR_##name] = message,
  MIG_VMSD_ERR_MAP(ERR_MESSAGE)
#undef ERR_MESSAGE
};

const char *mig_vmsd_err_name(enum mig_vmsd_err err)
{
  if ((unsigned)err >= (unsigned)MIG_VMSD_ERR_COUNT) return "UNKNOWN";
  SIM_ASSERT(err_names[err] != NULL);
  return err_names[err];
}

const char *mig_vmsd_err_message(enum mig_vmsd_err err)
{
  if ((unsigned)err >= (unsigned)MIG_VMSD_ERR_COUNT) return "unknown error";
  SIM_ASSERT(err_messages[err] != NULL);
  return err_messages[err];
}

void mig_vmsd_error_format(const struct mig_vmsd_error *error, char *out, size_t out_bytes)
{
  SIM_ASSERT(error != NULL);
  SIM_ASSERT(out != NULL && out_bytes > 0);
  const char *open = error->detail[0] != '\0' ? " (" : "";
  const char *close = error->detail[0] != '\0' ? ")" : "";
  if (error->has_offset) {
    snprintf(out, out_bytes, "offset 0x%" PRIx64 ": %s%s%s%s", error->offset,
             mig_vmsd_err_message(error->code), open, error->detail, close);
  } else {
    snprintf(out, out_bytes, "%s: %s%s%s%s", error->path[0] != '\0' ? error->path : "(top)",
             mig_vmsd_err_message(error->code), open, error->detail, close);
  }
}

/* ------------------------------------------------------------ parse state */

struct parse {
  struct mig_vmsd_error *error;
  char path[MIG_VMSD_PATH_BYTES_MAX]; /* JSON path of the value being converted */
  size_t path_length;                 /* strlen(path), <= sizeof(path) - 1 */
  uint32_t depth;                     /* descriptions open */
};

static bool fail(struct parse *p, enum mig_vmsd_err code, const char *format, ...)
{
  SIM_ASSERT(code != MIG_VMSD_OK);
  if (p->error->code != MIG_VMSD_OK) return false;
  p->error->code = code;
  snprintf(p->error->path, sizeof(p->error->path), "%s", p->path);
  va_list args;
  va_start(args, format);
  vsnprintf(p->error->detail, sizeof(p->error->detail), format, args);
  va_end(args);
  return false;
}

/* Appends "/segment" (or "segment" at the top); returns the length to restore. */
static size_t path_push(struct parse *p, const char *format, ...)
{
  size_t saved = p->path_length;
  size_t room = sizeof(p->path) - p->path_length;
  int written = 0;
  if (p->path_length > 0 && room > 1) {
    p->path[p->path_length] = '/';
    p->path[p->path_length + 1] = '\0';
    written = 1;
  }
  va_list args;
  va_start(args, format);
  int more = vsnprintf(p->path + p->path_length + written, room - (size_t)written, format, args);
  va_end(args);
  size_t added = (size_t)written + (more > 0 ? (size_t)more : 0);
  p->path_length = SIM_MIN(p->path_length + added, sizeof(p->path) - 1);
  return saved;
}

static void path_pop(struct parse *p, size_t saved)
{
  SIM_ASSERT(saved <= p->path_length);
  p->path_length = saved;
  p->path[saved] = '\0';
}

/* ------------------------------------------------------------ raw scan */

/*
 * Bounds depth and value count over the raw bytes.  Every value but the root
 * is the first in its container or follows a comma, so openers + commas + 1
 * bounds the values (and the keys) jansson would allocate.
 */
static bool scan_bounds(const uint8_t *bytes, size_t count, struct mig_vmsd_error *error)
{
  uint32_t depth = 0;
  uint64_t values_count = 1;
  bool in_string = false;
  for (size_t i = 0; i < count; i++) {
    uint8_t c = bytes[i];
    if (in_string) {
      if (c == '\\') i++;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '{' || c == '[') {
      if (++depth > MIG_VMSD_JSON_DEPTH_MAX) {
        error->code = MIG_VMSD_ERR_DEPTH;
        snprintf(error->detail, sizeof(error->detail), "more than %u levels",
                 MIG_VMSD_JSON_DEPTH_MAX);
      }
    } else if ((c == '}' || c == ']') && depth > 0) {
      depth--;
    }
    if (c == '{' || c == '[' || c == ',') values_count++;
    if (error->code == MIG_VMSD_OK && values_count > MIG_VMSD_JSON_VALUES_MAX) {
      error->code = MIG_VMSD_ERR_TOO_MANY;
      snprintf(error->detail, sizeof(error->detail), "more than %" PRIu32 " values",
               MIG_VMSD_JSON_VALUES_MAX);
    }
    if (error->code != MIG_VMSD_OK) {
      error->has_offset = true;
      error->offset = i;
      return false;
    }
  }
  return true;
}

/* ------------------------------------------------------------ typed getters */

static const char *json_kind(const json_t *value)
{
  switch (json_typeof(value)) {
  case JSON_OBJECT: return "object";
  case JSON_ARRAY: return "array";
  case JSON_STRING: return "string";
  case JSON_INTEGER: return "integer";
  case JSON_REAL: return "real";
  case JSON_TRUE:
  case JSON_FALSE: return "boolean";
  case JSON_NULL: return "null";
  }
  return "?";
}

/* The member key of object, or NULL after latching MISSING (when required). */
static const json_t *member(struct parse *p, const json_t *object, const char *key,
                            bool required)
{
  const json_t *value = json_object_get(object, key);
  if (value == NULL && required) fail(p, MIG_VMSD_ERR_MISSING, "no \"%s\"", key);
  return value;
}

static bool get_int(struct parse *p, const json_t *object, const char *key, int64_t min,
                    int64_t max, int64_t *out)
{
  const json_t *value = member(p, object, key, true);
  if (value == NULL) return false;
  size_t saved = path_push(p, "%s", key);
  bool ok = false;
  if (!json_is_integer(value)) {
    fail(p, MIG_VMSD_ERR_TYPE, "got %s, want integer", json_kind(value));
  } else if (json_integer_value(value) < min || json_integer_value(value) > max) {
    fail(p, MIG_VMSD_ERR_RANGE, "%" JSON_INTEGER_FORMAT " outside %" PRId64 "..%" PRId64,
         json_integer_value(value), min, max);
  } else {
    *out = json_integer_value(value);
    ok = true;
  }
  path_pop(p, saved);
  return ok;
}

static bool get_int32(struct parse *p, const json_t *object, const char *key, int32_t *out)
{
  int64_t value = 0;
  if (!get_int(p, object, key, INT32_MIN, INT32_MAX, &value)) return false;
  *out = (int32_t)value;
  return true;
}

/* A name: 1..MIG_VMSD_NAME_BYTES_MAX bytes, none below 0x20. */
static bool name_check(struct parse *p, const char *text, size_t length)
{
  if (length == 0 || length > MIG_VMSD_NAME_BYTES_MAX) {
    return fail(p, MIG_VMSD_ERR_NAME, "%zu bytes, want 1..%u", length,
                MIG_VMSD_NAME_BYTES_MAX);
  }
  for (size_t i = 0; i < length; i++) {
    if ((uint8_t)text[i] < 0x20) {
      return fail(p, MIG_VMSD_ERR_NAME, "control byte 0x%02x at %zu", (uint8_t)text[i], i);
    }
  }
  return true;
}

static bool check_name(struct parse *p, const json_t *value, char **out)
{
  if (!json_is_string(value)) {
    return fail(p, MIG_VMSD_ERR_TYPE, "got %s, want string", json_kind(value));
  }
  if (!name_check(p, json_string_value(value), json_string_length(value))) return false;
  *out = strdup(json_string_value(value));
  SIM_ASSERT(*out != NULL);
  return true;
}

static bool get_name(struct parse *p, const json_t *object, const char *key, char **out)
{
  const json_t *value = member(p, object, key, true);
  if (value == NULL) return false;
  size_t saved = path_push(p, "%s", key);
  bool ok = check_name(p, value, out);
  path_pop(p, saved);
  return ok;
}

static bool get_bool(struct parse *p, const json_t *object, const char *key, bool *out)
{
  const json_t *value = member(p, object, key, true);
  if (value == NULL) return false;
  if (!json_is_boolean(value)) {
    size_t saved = path_push(p, "%s", key);
    fail(p, MIG_VMSD_ERR_TYPE, "got %s, want boolean", json_kind(value));
    path_pop(p, saved);
    return false;
  }
  *out = json_is_true(value);
  return true;
}

/* An optional array member: NULL with *count 0 when absent; bounded by max. */
static bool get_array(struct parse *p, const json_t *object, const char *key, uint32_t max,
                      const json_t **out, uint32_t *count)
{
  *out = json_object_get(object, key);
  *count = 0;
  if (*out == NULL) return true;
  size_t saved = path_push(p, "%s", key);
  bool ok = false;
  if (!json_is_array(*out)) {
    fail(p, MIG_VMSD_ERR_TYPE, "got %s, want array", json_kind(*out));
  } else if (json_array_size(*out) > max) {
    fail(p, MIG_VMSD_ERR_ARRAY, "%zu entries, at most %" PRIu32, json_array_size(*out), max);
  } else {
    *count = (uint32_t)json_array_size(*out);
    ok = true;
  }
  path_pop(p, saved);
  return ok;
}

static bool want_object(struct parse *p, const json_t *value)
{
  if (json_is_object(value)) return true;
  return fail(p, MIG_VMSD_ERR_TYPE, "got %s, want object", json_kind(value));
}

/* ------------------------------------------------------------ the tree */

static void desc_free(struct mig_vmsd_desc *desc);

static void field_free(struct mig_vmsd_field *field)
{
  free(field->name);
  if (field->desc != NULL) {
    desc_free(field->desc);
    free(field->desc);
  }
}

static void desc_free(struct mig_vmsd_desc *desc)
{
  free(desc->name);
  for (uint32_t i = 0; i < desc->field_count; i++) field_free(&desc->fields[i]);
  free(desc->fields);
  for (uint32_t i = 0; i < desc->subsection_count; i++) desc_free(&desc->subsections[i]);
  free(desc->subsections);
}

static bool parse_desc(struct parse *p, const json_t *json, struct mig_vmsd_desc *desc);

static bool parse_field(struct parse *p, const json_t *json, struct mig_vmsd_field *field)
{
  field->num = -1;
  if (!want_object(p, json)) return false;
  int64_t size = 0;
  if (!get_name(p, json, "field", &field->name) ||
      !get_int32(p, json, "version_id", &field->version_id) ||
      !get_bool(p, json, "field_exists", &field->field_exists) ||
      !get_int(p, json, "size", 0, UINT32_MAX, &size)) {
    return false;
  }
  field->size = (uint64_t)size;
  if (json_object_get(json, "num") != NULL &&
      !get_int(p, json, "num", 0, UINT32_MAX, &field->num)) {
    return false;
  }
  const json_t *nested = json_object_get(json, "Description");
  if (nested == NULL) return true;
  field->desc = calloc(1, sizeof(*field->desc));
  SIM_ASSERT(field->desc != NULL);
  size_t saved = path_push(p, "Description");
  bool ok = parse_desc(p, nested, field->desc);
  path_pop(p, saved);
  return ok;
}

static bool parse_fields(struct parse *p, const json_t *json, struct mig_vmsd_desc *desc)
{
  const json_t *array;
  uint32_t count;
  if (!get_array(p, json, "Fields", MIG_VMSD_FIELDS_MAX, &array, &count)) return false;
  if (count == 0) return true;
  desc->fields = calloc(count, sizeof(*desc->fields));
  SIM_ASSERT(desc->fields != NULL);
  for (uint32_t i = 0; i < count; i++) {
    desc->field_count = i + 1; /* freed on failure, filled or zero */
    size_t saved = path_push(p, "Fields[%" PRIu32 "]", i);
    bool ok = parse_field(p, json_array_get(array, i), &desc->fields[i]);
    path_pop(p, saved);
    if (!ok) return false;
  }
  return true;
}

static bool parse_subsections(struct parse *p, const json_t *json, struct mig_vmsd_desc *desc)
{
  const json_t *array;
  uint32_t count;
  if (!get_array(p, json, "Subsections", MIG_VMSTATE_SUBSECTIONS_MAX, &array, &count)) {
    return false;
  }
  if (count == 0) return true;
  desc->subsections = calloc(count, sizeof(*desc->subsections));
  SIM_ASSERT(desc->subsections != NULL);
  for (uint32_t i = 0; i < count; i++) {
    desc->subsection_count = i + 1;
    size_t saved = path_push(p, "Subsections[%" PRIu32 "]", i);
    bool ok = parse_desc(p, json_array_get(array, i), &desc->subsections[i]);
    path_pop(p, saved);
    if (!ok) return false;
  }
  return true;
}

/* migsim's subsection extensions: "x-needed" ("always"/"predicate"), "x-sent". */
static bool parse_needed(struct parse *p, const json_t *json, struct mig_vmsd_desc *desc)
{
  desc->sent = -1;
  const json_t *needed = json_object_get(json, "x-needed");
  if (needed != NULL) {
    const char *text = json_is_string(needed) ? json_string_value(needed) : "";
    if (strcmp(text, "always") == 0) {
      desc->needed = MIG_VMSD_NEEDED_ALWAYS;
    } else if (strcmp(text, "predicate") == 0) {
      desc->needed = MIG_VMSD_NEEDED_PREDICATE;
    } else {
      size_t saved = path_push(p, "x-needed");
      fail(p, MIG_VMSD_ERR_TYPE, "want \"always\" or \"predicate\"");
      path_pop(p, saved);
      return false;
    }
  }
  if (json_object_get(json, "x-sent") == NULL) return true;
  bool sent = false;
  if (!get_bool(p, json, "x-sent", &sent)) return false;
  desc->sent = sent ? 1 : 0;
  return true;
}

static bool parse_desc(struct parse *p, const json_t *json, struct mig_vmsd_desc *desc)
{
  if (p->depth >= MIG_VMSD_DESC_DEPTH_MAX) {
    return fail(p, MIG_VMSD_ERR_DEPTH, "descriptions nested more than %u deep",
                MIG_VMSD_DESC_DEPTH_MAX);
  }
  if (!want_object(p, json)) return false;
  p->depth++;
  bool ok = get_name(p, json, "name", &desc->name) &&
            get_int32(p, json, "version_id", &desc->version_id) &&
            get_int32(p, json, "minimum_version_id", &desc->minimum_version_id) &&
            parse_needed(p, json, desc) && parse_fields(p, json, desc) &&
            parse_subsections(p, json, desc);
  p->depth--;
  return ok;
}

static bool parse_section(struct parse *p, const char *key, const json_t *json,
                          struct mig_vmsd_section *section)
{
  section->key = strdup(key);
  SIM_ASSERT(section->key != NULL);
  char *name = NULL;
  if (!want_object(p, json) || !get_name(p, json, "Name", &name)) return false;
  free(name); /* QEMU writes the key again; only the key is used */
  if (!get_int32(p, json, "version_id", &section->version_id) ||
      !get_int32(p, json, "minimum_version_id", &section->minimum_version_id)) {
    return false;
  }
  if (json_object_get(json, "x-priority") != NULL) {
    section->has_priority = true;
    if (!get_int(p, json, "x-priority", 0, INT32_MAX, &section->priority)) return false;
  }
  const json_t *desc = json_object_get(json, "Description");
  if (desc == NULL) return true;
  section->desc = calloc(1, sizeof(*section->desc));
  SIM_ASSERT(section->desc != NULL);
  size_t saved = path_push(p, "Description");
  bool ok = parse_desc(p, desc, section->desc);
  path_pop(p, saved);
  return ok;
}

static int section_compare(const void *a, const void *b)
{
  const struct mig_vmsd_section *left = a;
  const struct mig_vmsd_section *right = b;
  return strcmp(left->key, right->key);
}

static bool parse_machine(struct parse *p, const json_t *json, struct mig_vmsd_file *file)
{
  size_t saved = path_push(p, "vmschkmachine");
  bool ok = want_object(p, json) && get_name(p, json, "Name", &file->machine);
  path_pop(p, saved);
  return ok;
}

static bool parse_root(struct parse *p, const json_t *root, struct mig_vmsd_file *file)
{
  if (!want_object(p, root)) return false;
  size_t count = json_object_size(root);
  if (count > MIG_VMSD_SECTIONS_MAX + 1) {
    return fail(p, MIG_VMSD_ERR_ARRAY, "%zu sections, at most %u", count,
                MIG_VMSD_SECTIONS_MAX);
  }
  file->sections = calloc(count + 1, sizeof(*file->sections));
  SIM_ASSERT(file->sections != NULL);
  const char *key;
  const json_t *value;
  json_object_foreach((json_t *)root, key, value) {
    if (strcmp(key, "vmschkmachine") == 0) {
      if (!parse_machine(p, value, file)) return false;
      continue;
    }
    struct mig_vmsd_section *section = &file->sections[file->section_count++];
    size_t saved = path_push(p, "%s", key);
    bool ok = name_check(p, key, strlen(key)) && parse_section(p, key, value, section);
    path_pop(p, saved);
    if (!ok) return false;
  }
  if (file->section_count > MIG_VMSD_SECTIONS_MAX) {
    return fail(p, MIG_VMSD_ERR_ARRAY, "%" PRIu32 " sections, at most %u",
                file->section_count, MIG_VMSD_SECTIONS_MAX);
  }
  qsort(file->sections, file->section_count, sizeof(*file->sections), section_compare);
  return true;
}

void mig_vmsd_file_free(struct mig_vmsd_file *file)
{
  if (file == NULL) return;
  for (uint32_t i = 0; i < file->section_count; i++) {
    free(file->sections[i].key);
    if (file->sections[i].desc != NULL) desc_free(file->sections[i].desc);
    free(file->sections[i].desc);
  }
  free(file->sections);
  free(file->machine);
  free(file);
}

enum mig_vmsd_err mig_vmsd_file_from_json(const json_t *root, struct mig_vmsd_file **out,
                                          struct mig_vmsd_error *error)
{
  SIM_ASSERT(root != NULL && out != NULL && error != NULL);
  memset(error, 0, sizeof(*error));
  struct parse p = {.error = error};
  struct mig_vmsd_file *file = calloc(1, sizeof(*file));
  SIM_ASSERT(file != NULL);
  if (!parse_root(&p, root, file)) {
    SIM_ASSERT(error->code != MIG_VMSD_OK);
    mig_vmsd_file_free(file);
    *out = NULL;
    return error->code;
  }
  *out = file;
  return MIG_VMSD_OK;
}

enum mig_vmsd_err mig_vmsd_file_parse(const uint8_t *bytes, size_t count,
                                      struct mig_vmsd_file **out, struct mig_vmsd_error *error)
{
  SIM_ASSERT(out != NULL && error != NULL);
  SIM_ASSERT(bytes != NULL || count == 0);
  memset(error, 0, sizeof(*error));
  *out = NULL;
  if (count > MIG_VMSD_FILE_BYTES_MAX) {
    error->code = MIG_VMSD_ERR_TOO_BIG;
    error->has_offset = true;
    error->offset = MIG_VMSD_FILE_BYTES_MAX;
    snprintf(error->detail, sizeof(error->detail), "%zu bytes, at most %" PRIu32, count,
             MIG_VMSD_FILE_BYTES_MAX);
    return error->code;
  }
  if (!scan_bounds(bytes, count, error)) return error->code;
  json_error_t json_error;
  json_t *root = json_loadb((const char *)bytes, count, JSON_REJECT_DUPLICATES, &json_error);
  if (root == NULL) {
    error->code = MIG_VMSD_ERR_SYNTAX;
    error->has_offset = true;
    error->offset = (uint64_t)SIM_MAX(json_error.position, 0);
    int written = snprintf(error->detail, sizeof(error->detail), "line %d column %d: %s",
                           json_error.line, json_error.column, json_error.text);
    SIM_ASSERT(written >= 0); /* jansson's text may be cut */
    return error->code;
  }
  enum mig_vmsd_err err = mig_vmsd_file_from_json(root, out, error);
  json_decref(root);
  return err;
}

const char *mig_vmsd_file_machine(const struct mig_vmsd_file *file)
{
  SIM_ASSERT(file != NULL);
  return file->machine;
}

uint32_t mig_vmsd_file_section_count(const struct mig_vmsd_file *file)
{
  SIM_ASSERT(file != NULL);
  return file->section_count;
}

const struct mig_vmsd_section *mig_vmsd__section_find(const struct mig_vmsd_file *file,
                                                       const char *key)
{
  SIM_ASSERT(file != NULL && key != NULL);
  struct mig_vmsd_section probe = {.key = (char *)key};
  return bsearch(&probe, file->sections, file->section_count, sizeof(*file->sections),
                 section_compare);
}
