/*
 * conform_json.c: walks valid JSON text along a key/index path to recover a
 * value's line and column (overview in conform_json.h).  The text has been
 * accepted by jansson, so the walker only skips strings, numbers, literals
 * and nested containers; on anything unexpected it gives up (line 0).
 */
#include "sim_base.h"

#include "conform_json.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>

struct walker {
  const char *text;
  size_t length;
  size_t at;
};

static void skip_space(struct walker *w)
{
  while (w->at < w->length && strchr(" \t\r\n", w->text[w->at]) != NULL) w->at++;
}

/* Skips a string starting at '"'; sets [start, end) to its raw contents. */
static bool skip_string(struct walker *w, size_t *start, size_t *end)
{
  if (w->at >= w->length || w->text[w->at] != '"') return false;
  *start = ++w->at;
  while (w->at < w->length && w->text[w->at] != '"') w->at += w->text[w->at] == '\\' ? 2 : 1;
  if (w->at >= w->length) return false;
  *end = w->at++;
  return true;
}

static bool skip_value(struct walker *w, uint32_t depth)
{
  skip_space(w);
  if (w->at >= w->length || depth > 64) return false;
  char c = w->text[w->at];
  size_t start, end;
  if (c == '"') return skip_string(w, &start, &end);
  if (c != '{' && c != '[') {
    while (w->at < w->length && strchr(",]} \t\r\n", w->text[w->at]) == NULL) w->at++;
    return true;
  }
  char close = c == '{' ? '}' : ']';
  w->at++;
  for (;;) {
    skip_space(w);
    if (w->at < w->length && w->text[w->at] == close) {
      w->at++;
      return true;
    }
    if (c == '{') {
      if (!skip_string(w, &start, &end)) return false;
      skip_space(w);
      if (w->at >= w->length || w->text[w->at] != ':') return false;
      w->at++;
    }
    if (!skip_value(w, depth + 1)) return false;
    skip_space(w);
    if (w->at < w->length && w->text[w->at] == ',') w->at++;
  }
}

/* Moves w to the start of the member selected by step inside the container at w. */
static bool enter(struct walker *w, const struct conform_json_step *step)
{
  skip_space(w);
  if (w->at >= w->length) return false;
  bool object = w->text[w->at] == '{';
  if (object != (step->key != NULL) || (!object && w->text[w->at] != '[')) return false;
  w->at++;
  for (size_t index = 0;; index++) {
    skip_space(w);
    if (w->at >= w->length || w->text[w->at] == '}' || w->text[w->at] == ']') return false;
    bool match = !object && index == step->index;
    if (object) {
      size_t start, end;
      if (!skip_string(w, &start, &end)) return false;
      match = end - start == strlen(step->key) &&
              memcmp(w->text + start, step->key, end - start) == 0;
      skip_space(w);
      if (w->at >= w->length || w->text[w->at] != ':') return false;
      w->at++;
    }
    skip_space(w);
    if (match) return true;
    if (!skip_value(w, 0)) return false;
    skip_space(w);
    if (w->at < w->length && w->text[w->at] == ',') w->at++;
  }
}

struct conform_json_position conform_json_locate(const char *text, size_t length,
                                                 const struct conform_json_step *path,
                                                 size_t depth)
{
  struct conform_json_position position = {0, 0};
  struct walker w = {text, length, 0};
  SIM_ASSERT(depth <= CONFORM_JSON_PATH_DEPTH_MAX);
  skip_space(&w);
  for (size_t i = 0; i < depth; i++) {
    if (!enter(&w, &path[i])) return position;
  }
  position.line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < w.at; i++) {
    if (text[i] == '\n') {
      position.line++;
      line_start = i + 1;
    }
  }
  position.column = (uint32_t)(w.at - line_start + 1);
  return position;
}

bool conform_json_file_read(const char *path, const char *kind, size_t bytes_max, char **text,
                            size_t *length, char *error, size_t error_bytes)
{
  struct stat status;
  if (stat(path, &status) == 0 && S_ISDIR(status.st_mode)) {
    snprintf(error, error_bytes, "%s: is a directory, not a %s file", path, kind);
    return false;
  }
  FILE *file = fopen(path, "rb");
  if (file == NULL) {
    snprintf(error, error_bytes, "%s: %s", path, strerror(errno));
    return false;
  }
  *text = malloc(bytes_max + 1);
  SIM_ASSERT(*text != NULL);
  *length = fread(*text, 1, bytes_max + 1, file);
  bool read_error = ferror(file) != 0;
  fclose(file);
  if (!read_error) return true;
  snprintf(error, error_bytes, "%s: read error", path);
  free(*text);
  *text = NULL;
  return false;
}

void conform_json_format_error(char *out, size_t out_bytes, const char *name, const char *text,
                               size_t length, uint32_t line, uint32_t column,
                               const char *message)
{
  size_t at = 0;
  for (uint32_t l = 1; l < line && at < length; at++) {
    if (text[at] == '\n') l++;
  }
  size_t end = at;
  while (end < length && text[end] != '\n') end++;
  int line_bytes = (int)SIM_MIN(end - at, (size_t)200);
  int caret = (int)SIM_MIN((size_t)(column > 0 ? column - 1 : 0), (size_t)200);
  snprintf(out, out_bytes, "%s:%" PRIu32 ":%" PRIu32 ": %s\n  %.*s\n  %*s^", name, line,
           column, message, line_bytes, text + at, caret, "");
}

void conform_json_push_key(struct conform_json_parse *p, const char *key)
{
  SIM_ASSERT(p->depth < CONFORM_JSON_PATH_DEPTH_MAX);
  p->path[p->depth++] = (struct conform_json_step){.key = key};
}

void conform_json_push_index(struct conform_json_parse *p, size_t index)
{
  SIM_ASSERT(p->depth < CONFORM_JSON_PATH_DEPTH_MAX);
  p->path[p->depth++] = (struct conform_json_step){.index = index};
}

void conform_json_pop(struct conform_json_parse *p)
{
  SIM_ASSERT(p->depth > 0);
  p->depth--;
}

bool conform_json_vfail(struct conform_json_parse *p, const char *format, va_list args)
{
  char message[256];
  vsnprintf(message, sizeof message, format, args);
  struct conform_json_position at = conform_json_locate(p->text, p->length, p->path, p->depth);
  if (at.line == 0 && p->depth > 0) {
    at = conform_json_locate(p->text, p->length, p->path, p->depth - 1);
  }
  conform_json_format_error(p->error, p->error_bytes, p->name, p->text, p->length,
                            SIM_MAX(at.line, 1u), SIM_MAX(at.column, 1u), message);
  return false;
}

/* conform_json_vfail with arguments. */
static bool json_fail(struct conform_json_parse *p, const char *format, ...)
{
  va_list args;
  va_start(args, format);
  bool result = conform_json_vfail(p, format, args);
  va_end(args);
  return result;
}

bool conform_json_check_keys(struct conform_json_parse *p, json_t *object,
                             const char *const *allowed)
{
  const char *key;
  json_t *value;
  json_object_foreach(object, key, value) {
    bool known = false;
    for (size_t i = 0; allowed[i] != NULL && !known; i++) known = strcmp(allowed[i], key) == 0;
    if (!known) {
      conform_json_push_key(p, key);
      return json_fail(p, "unknown key \"%s\"", key);
    }
  }
  return true;
}

bool conform_json_get_u64(struct conform_json_parse *p, json_t *object, const char *key,
                          uint64_t low, uint64_t high, bool required, uint64_t *out)
{
  json_t *value = json_object_get(object, key);
  if (value == NULL) return required ? json_fail(p, "missing \"%s\"", key) : true;
  conform_json_push_key(p, key);
  if (!json_is_integer(value) || json_integer_value(value) < 0) {
    return json_fail(p, "\"%s\" must be a non-negative integer", key);
  }
  uint64_t number = (uint64_t)json_integer_value(value);
  if (number < low || number > high) {
    return json_fail(p, "\"%s\" is %" PRIu64 ", outside %" PRIu64 "..%" PRIu64, key, number,
                     low, high);
  }
  *out = number;
  conform_json_pop(p);
  return true;
}

json_t *conform_json_load(struct conform_json_parse *p, size_t bytes_max)
{
  const char *refusal = NULL;
  char message[96];
  if (p->length > bytes_max) {
    snprintf(message, sizeof message, "file larger than %zu bytes", bytes_max);
    refusal = message;
  } else if (p->length >= 3 && memcmp(p->text, "\xef\xbb\xbf", 3) == 0) {
    refusal = "the file starts with a UTF-8 BOM (byte-order mark); save it as UTF-8 "
              "without one";
  }
  if (refusal != NULL) {
    conform_json_format_error(p->error, p->error_bytes, p->name, p->text, p->length, 1, 1,
                              refusal);
    return NULL;
  }
  json_error_t json_error;
  json_t *root = json_loadb(p->text, p->length, JSON_REJECT_DUPLICATES, &json_error);
  if (root == NULL) {
    conform_json_format_error(p->error, p->error_bytes, p->name, p->text, p->length,
                              (uint32_t)SIM_MAX(json_error.line, 1),
                              (uint32_t)SIM_MAX(json_error.column, 1), json_error.text);
  }
  return root;
}

bool conform_json_get_bool(struct conform_json_parse *p, json_t *object, const char *key,
                           bool *out)
{
  json_t *value = json_object_get(object, key);
  if (value == NULL) return true;
  conform_json_push_key(p, key);
  if (!json_is_boolean(value)) return json_fail(p, "\"%s\" must be true or false", key);
  *out = json_is_true(value);
  conform_json_pop(p);
  return true;
}
