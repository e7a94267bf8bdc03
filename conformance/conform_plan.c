/*
 * conform_plan.c: fault plans, parsing and the corrupt transform (overview
 * in conform_plan.h, language in docs/proxy.md).
 *
 * jansson parses; this file walks the result with a key/index path so that
 * every complaint is located in the text by conform_json_locate, as the
 * scenario parser does.  Each fault's allowed keys depend on its kind, so a
 * key that means nothing for that kind ("ms" on a reset) is an error rather
 * than silently ignored.
 */
#include "sim_base.h"

#include "conform_json.h"
#include "conform_plan.h"

#include <errno.h>
#include <jansson.h>
#include <sys/stat.h>

static const char *const kind_names[] = {
#define CONFORM_PLAN_KIND_NAME(name, text) text,
    CONFORM_PLAN_KINDS(CONFORM_PLAN_KIND_NAME)
#undef CONFORM_PLAN_KIND_NAME
    NULL,
};
_Static_assert(SIM_ARRAY_COUNT(kind_names) == CONFORM_PLAN_KIND_COUNT + 1, "a name per kind");
_Static_assert(CONFORM_PLAN_AT_BYTES_MAX < (UINT64_C(1) << 53), "exact in a JSON number");

const char *conform_plan_kind_name(enum conform_plan_kind kind)
{
  SIM_ASSERT((unsigned)kind < CONFORM_PLAN_KIND_COUNT);
  return kind_names[kind];
}

const char *conform_plan_direction_name(enum conform_plan_direction direction)
{
  SIM_ASSERT(direction == CONFORM_PLAN_TO_DESTINATION || direction == CONFORM_PLAN_TO_SOURCE);
  return direction == CONFORM_PLAN_TO_DESTINATION ? "to-destination" : "to-source";
}

/* ------------------------------------------------------------------ parse */

struct parse {
  const char *text;
  size_t length;
  const char *name;
  char *error;
  size_t error_bytes;
  struct conform_json_step path[CONFORM_JSON_PATH_DEPTH_MAX];
  size_t depth;
};

static void push_key(struct parse *p, const char *key)
{
  SIM_ASSERT(p->depth < CONFORM_JSON_PATH_DEPTH_MAX);
  p->path[p->depth++] = (struct conform_json_step){.key = key};
}

static void pop(struct parse *p)
{
  SIM_ASSERT(p->depth > 0);
  p->depth--;
}

/* "name:line:col: message", the line's text and a caret under the column. */
static void format_error(const struct parse *p, uint32_t line, uint32_t column,
                         const char *message)
{
  size_t at = 0;
  for (uint32_t l = 1; l < line && at < p->length; at++) {
    if (p->text[at] == '\n') l++;
  }
  size_t end = at;
  while (end < p->length && p->text[end] != '\n') end++;
  int line_bytes = (int)SIM_MIN(end - at, (size_t)200);
  int caret = (int)SIM_MIN((size_t)(column > 0 ? column - 1 : 0), (size_t)200);
  snprintf(p->error, p->error_bytes, "%s:%" PRIu32 ":%" PRIu32 ": %s\n  %.*s\n  %*s^", p->name,
           line, column, message, line_bytes, p->text + at, caret, "");
}

#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
static bool fail(struct parse *p, const char *format, ...)
{
  char message[256];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  struct conform_json_position at = conform_json_locate(p->text, p->length, p->path, p->depth);
  if (at.line == 0 && p->depth > 0) {
    at = conform_json_locate(p->text, p->length, p->path, p->depth - 1);
  }
  format_error(p, SIM_MAX(at.line, 1u), SIM_MAX(at.column, 1u), message);
  return false;
}

/* Every key of object must be in allowed (NULL-terminated). */
static bool check_keys(struct parse *p, json_t *object, const char *const *allowed)
{
  const char *key;
  json_t *value;
  json_object_foreach(object, key, value) {
    bool known = false;
    for (size_t i = 0; allowed[i] != NULL && !known; i++) known = strcmp(allowed[i], key) == 0;
    if (!known) {
      push_key(p, key);
      return fail(p, "unknown key \"%s\"", key);
    }
  }
  return true;
}

/* An integer member in [low, high]; an absent one keeps *out unless required. */
static bool get_u64(struct parse *p, json_t *object, const char *key, uint64_t low,
                    uint64_t high, bool required, uint64_t *out)
{
  json_t *value = json_object_get(object, key);
  if (value == NULL) return required ? fail(p, "missing \"%s\"", key) : true;
  push_key(p, key);
  if (!json_is_integer(value) || json_integer_value(value) < 0) {
    return fail(p, "\"%s\" must be a non-negative integer", key);
  }
  uint64_t number = (uint64_t)json_integer_value(value);
  if (number < low || number > high) {
    return fail(p, "\"%s\" is %" PRIu64 ", outside %" PRIu64 "..%" PRIu64, key, number, low,
                high);
  }
  *out = number;
  pop(p);
  return true;
}

/* An optional string member of 1..out_bytes-1 bytes; absent keeps out. */
static bool get_string(struct parse *p, json_t *object, const char *key, char *out,
                       size_t out_bytes)
{
  json_t *value = json_object_get(object, key);
  if (value == NULL) return true;
  push_key(p, key);
  size_t length = json_is_string(value) ? json_string_length(value) : 0;
  if (!json_is_string(value) || length == 0 || length >= out_bytes ||
      strlen(json_string_value(value)) != length) {
    return fail(p, "\"%s\" must be a string of 1..%zu bytes with no NUL", key, out_bytes - 1);
  }
  memcpy(out, json_string_value(value), length + 1);
  pop(p);
  return true;
}

/* One of names (NULL-terminated); absent keeps *out unless required. */
static bool get_choice(struct parse *p, json_t *object, const char *key,
                       const char *const *names, bool required, uint32_t *out)
{
  json_t *value = json_object_get(object, key);
  if (value == NULL) return required ? fail(p, "missing \"%s\"", key) : true;
  push_key(p, key);
  for (uint32_t i = 0; json_is_string(value) && names[i] != NULL; i++) {
    if (strcmp(names[i], json_string_value(value)) == 0) {
      *out = i;
      pop(p);
      return true;
    }
  }
  char list[256] = "";
  for (uint32_t i = 0; names[i] != NULL; i++) {
    size_t used = strlen(list);
    snprintf(list + used, sizeof list - used, "%s\"%s\"", i > 0 ? ", " : "", names[i]);
  }
  return fail(p, "\"%s\" must be one of %s", key, list);
}

/* "channel": "main" (0) or a connection index 0..CHANNELS_MAX-1. */
static bool get_channel(struct parse *p, json_t *entry, uint32_t *out)
{
  json_t *value = json_object_get(entry, "channel");
  if (value == NULL) return true;
  if (json_is_string(value) && strcmp(json_string_value(value), "main") == 0) {
    *out = 0;
    return true;
  }
  if (!json_is_integer(value)) {
    push_key(p, "channel");
    return fail(p, "\"channel\" must be \"main\" or a connection index 0..%" PRIu32,
                CONFORM_PLAN_CHANNELS_MAX - 1);
  }
  uint64_t index = 0;
  if (!get_u64(p, entry, "channel", 0, CONFORM_PLAN_CHANNELS_MAX - 1, true, &index)) {
    return false;
  }
  *out = (uint32_t)index;
  return true;
}

/* "at": {"byte": N}.  Record triggers are named and refused (docs/proxy.md). */
static bool get_trigger(struct parse *p, json_t *entry, struct conform_plan_fault *fault)
{
  json_t *at = json_object_get(entry, "at");
  if (at == NULL) return fail(p, "missing \"at\" (the trigger: {\"byte\": N})");
  push_key(p, "at");
  if (!json_is_object(at)) return fail(p, "\"at\" must be an object such as {\"byte\": 0}");
  if (json_object_get(at, "record") != NULL) {
    push_key(p, "record");
    return fail(p, "record triggers are not implemented yet (they wait for the record "
                   "layer); use {\"byte\": N}");
  }
  static const char *const keys[] = {"byte", NULL};
  if (!check_keys(p, at, keys)) return false;
  fault->trigger = CONFORM_PLAN_AT_BYTE;
  if (!get_u64(p, at, "byte", 0, CONFORM_PLAN_AT_BYTES_MAX, true, &fault->at_bytes)) {
    return false;
  }
  pop(p);
  return true;
}

static int hex_digit(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* "xor": hex digits, two per byte, 1..XOR_BYTES_MAX bytes, not all zero. */
static bool get_xor(struct parse *p, json_t *entry, struct conform_plan_fault *fault)
{
  json_t *value = json_object_get(entry, "xor");
  if (value == NULL) return fail(p, "missing \"xor\" (the mask, hex: \"ff\")");
  push_key(p, "xor");
  const char *text = json_is_string(value) ? json_string_value(value) : "";
  size_t digits = strlen(text);
  if (digits == 0 || digits % 2 != 0 || digits / 2 > CONFORM_PLAN_XOR_BYTES_MAX) {
    return fail(p, "\"xor\" must be a string of 2..%u hex digits, two per byte",
                2 * CONFORM_PLAN_XOR_BYTES_MAX);
  }
  bool nonzero = false;
  for (size_t i = 0; i < digits; i += 2) {
    int high = hex_digit(text[i]), low = hex_digit(text[i + 1]);
    if (high < 0 || low < 0) return fail(p, "\"xor\": '%c%c' is not a hex byte", text[i],
                                         text[i + 1]);
    fault->xor_mask[i / 2] = (uint8_t)(high << 4 | low);
    nonzero = nonzero || fault->xor_mask[i / 2] != 0;
  }
  if (!nonzero) return fail(p, "\"xor\" is all zeros: it would change nothing");
  fault->xor_bytes = (uint32_t)(digits / 2);
  pop(p);
  return true;
}

/* The keys each kind accepts besides kind, channel, direction, at and note. */
static const char *const *kind_keys(enum conform_plan_kind kind)
{
  static const char *const common[] = {"kind", "channel", "direction", "at", "note", NULL};
  static const char *const delay[] = {"kind", "channel", "direction", "at", "note", "ms", NULL};
  static const char *const stall[] = {"kind", "channel", "direction", "at", "note",
                                      "until_ms", NULL};
  static const char *const corrupt[] = {"kind", "channel", "direction", "at", "note", "xor",
                                        NULL};
  if (kind == CONFORM_PLAN_DELAY) return delay;
  if (kind == CONFORM_PLAN_STALL) return stall;
  if (kind == CONFORM_PLAN_CORRUPT) return corrupt;
  return common;
}

static bool parse_fault(struct parse *p, json_t *entry, struct conform_plan_fault *fault)
{
  static const char *const directions[] = {"to-destination", "to-source", NULL};
  if (!json_is_object(entry)) return fail(p, "a fault must be an object");
  uint32_t kind = 0, direction = CONFORM_PLAN_TO_DESTINATION;
  if (!get_choice(p, entry, "kind", kind_names, true, &kind)) return false;
  fault->kind = (enum conform_plan_kind)kind;
  if (!check_keys(p, entry, kind_keys(fault->kind))) return false;
  char note[256];
  if (!get_string(p, entry, "note", note, sizeof note)) return false;
  if (!get_channel(p, entry, &fault->channel_index)) return false;
  if (!get_choice(p, entry, "direction", directions, false, &direction)) return false;
  fault->direction = (enum conform_plan_direction)direction;
  if (!get_trigger(p, entry, fault)) return false;
  if (fault->kind == CONFORM_PLAN_DELAY &&
      !get_u64(p, entry, "ms", 1, CONFORM_PLAN_MS_MAX, true, &fault->ms)) {
    return false;
  }
  if (fault->kind == CONFORM_PLAN_STALL &&
      !get_u64(p, entry, "until_ms", 1, CONFORM_PLAN_MS_MAX, false, &fault->ms)) {
    return false;
  }
  if (fault->kind == CONFORM_PLAN_CORRUPT && !get_xor(p, entry, fault)) return false;
  struct conform_json_position at = conform_json_locate(p->text, p->length, p->path, p->depth);
  fault->line = at.line;
  return true;
}

static bool parse_root(struct parse *p, json_t *root, struct conform_plan *plan)
{
  static const char *const keys[] = {"description", "faults", NULL};
  if (!json_is_object(root)) return fail(p, "a plan must be a JSON object");
  if (!check_keys(p, root, keys)) return false;
  if (!get_string(p, root, "description", plan->description, sizeof plan->description)) {
    return false;
  }
  json_t *faults = json_object_get(root, "faults");
  if (faults == NULL) return fail(p, "missing \"faults\" (a list, [] for none)");
  push_key(p, "faults");
  if (!json_is_array(faults)) return fail(p, "\"faults\" must be a list");
  if (json_array_size(faults) > CONFORM_PLAN_FAULTS_MAX) {
    return fail(p, "%zu faults, at most %u", json_array_size(faults), CONFORM_PLAN_FAULTS_MAX);
  }
  for (size_t i = 0; i < json_array_size(faults); i++) {
    SIM_ASSERT(p->depth < CONFORM_JSON_PATH_DEPTH_MAX);
    p->path[p->depth++] = (struct conform_json_step){.index = i};
    if (!parse_fault(p, json_array_get(faults, i), &plan->faults[plan->fault_count])) {
      return false;
    }
    plan->fault_count++;
    pop(p);
  }
  pop(p);
  SIM_ASSERT(p->depth == 0);
  return true;
}

bool conform_plan_parse(const char *text, size_t length, const char *name,
                        struct conform_plan *plan, char *error, size_t error_bytes)
{
  SIM_ASSERT(text != NULL && plan != NULL && error_bytes > 0);
  memset(plan, 0, sizeof *plan);
  snprintf(plan->name, sizeof plan->name, "%s", name);
  struct parse p = {.text = text, .length = length, .name = name, .error = error,
                    .error_bytes = error_bytes};
  if (length > CONFORM_PLAN_BYTES_MAX) {
    snprintf(error, error_bytes, "%s:1:1: file larger than %" PRIu32 " bytes", name,
             CONFORM_PLAN_BYTES_MAX);
    return false;
  }
  json_error_t json_error;
  json_t *root = json_loadb(text, length, JSON_REJECT_DUPLICATES, &json_error);
  if (root == NULL) {
    format_error(&p, (uint32_t)SIM_MAX(json_error.line, 1),
                 (uint32_t)SIM_MAX(json_error.column, 1), json_error.text);
    return false;
  }
  bool ok = parse_root(&p, root, plan);
  json_decref(root);
  return ok;
}

bool conform_plan_load(const char *path, struct conform_plan *plan, char *error,
                       size_t error_bytes)
{
  struct stat status;
  if (stat(path, &status) == 0 && S_ISDIR(status.st_mode)) {
    snprintf(error, error_bytes, "%s: is a directory, not a plan file", path);
    return false;
  }
  FILE *file = fopen(path, "rb");
  if (file == NULL) {
    snprintf(error, error_bytes, "%s: %s", path, strerror(errno));
    return false;
  }
  char *text = malloc(CONFORM_PLAN_BYTES_MAX + 1);
  SIM_ASSERT(text != NULL);
  size_t length = fread(text, 1, CONFORM_PLAN_BYTES_MAX + 1, file);
  bool read_error = ferror(file) != 0;
  fclose(file);
  bool ok = false;
  if (read_error) {
    snprintf(error, error_bytes, "%s: read error", path);
  } else {
    ok = conform_plan_parse(text, length, path, plan, error, error_bytes);
  }
  free(text);
  return ok;
}

/* ------------------------------------------------------------- transform */

size_t conform_plan_corrupt(const struct conform_plan_fault *fault, uint64_t offset,
                            uint8_t *bytes, size_t count)
{
  SIM_ASSERT(fault->kind == CONFORM_PLAN_CORRUPT);
  SIM_ASSERT(fault->xor_bytes > 0 && fault->xor_bytes <= CONFORM_PLAN_XOR_BYTES_MAX);
  uint64_t first = SIM_MAX(offset, fault->at_bytes);
  uint64_t end = SIM_MIN(offset + count, fault->at_bytes + fault->xor_bytes);
  if (first >= end) return 0;
  for (uint64_t at = first; at < end; at++) {
    bytes[at - offset] ^= fault->xor_mask[at - fault->at_bytes];
  }
  return (size_t)(end - first);
}

void conform_plan_fault_describe(const struct conform_plan_fault *fault, char *out,
                                 size_t out_bytes)
{
  int used = snprintf(out, out_bytes, "%s channel %" PRIu32 " %s at byte %" PRIu64,
                      conform_plan_kind_name(fault->kind), fault->channel_index,
                      conform_plan_direction_name(fault->direction), fault->at_bytes);
  size_t at = used > 0 ? SIM_MIN((size_t)used, out_bytes - 1) : 0;
  if (fault->kind == CONFORM_PLAN_DELAY) {
    snprintf(out + at, out_bytes - at, " for %" PRIu64 " ms", fault->ms);
  } else if (fault->kind == CONFORM_PLAN_STALL && fault->ms == 0) {
    snprintf(out + at, out_bytes - at, " for ever");
  } else if (fault->kind == CONFORM_PLAN_STALL) {
    snprintf(out + at, out_bytes - at, " until %" PRIu64 " ms", fault->ms);
  } else if (fault->kind == CONFORM_PLAN_CORRUPT) {
    snprintf(out + at, out_bytes - at, " xor %" PRIu32 " byte(s)", fault->xor_bytes);
  }
}
