/*
 * conform_json.c: walks valid JSON text along a key/index path to recover a
 * value's line and column (overview in conform_json.h).  The text has been
 * accepted by jansson, so the walker only skips strings, numbers, literals
 * and nested containers; on anything unexpected it gives up (line 0).
 */
#include "sim_base.h"

#include "conform_json.h"

#include <errno.h>
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
