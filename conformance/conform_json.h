/*
 * conform_json.h: source positions for JSON values.
 *
 * jansson parses and validates scenario files but keeps no positions; to
 * report `file:line:` for a value that parsed but is wrong, this walks the
 * (already valid) text once more along a path of keys and indexes and
 * returns the 1-based line and column where that value starts.
 */
#ifndef CONFORM_JSON_H
#define CONFORM_JSON_H

#include "sim_base.h"

#include <jansson.h>

#define CONFORM_JSON_PATH_DEPTH_MAX 8

/* One step of a path: a key (key != NULL) or an array index. */
struct conform_json_step {
  const char *key;
  size_t index;
};

struct conform_json_position {
  uint32_t line;    /* 1-based; 0 when the path was not found */
  uint32_t column;  /* 1-based, in bytes */
};

/* Finds where the value at path starts in text (which jansson accepted). */
struct conform_json_position conform_json_locate(const char *text, size_t length,
                                                 const struct conform_json_step *path,
                                                 size_t depth);

/*
 * Reads a JSON file (a scenario, a plan) whole: at most bytes_max bytes are
 * kept, and one more is read so the parser sees an over-long file as such.
 * *text (malloc'd, caller frees) and *length on success; else false with
 * "<path>: is a directory, not a <kind> file", "<path>: <strerror>" or
 * "<path>: read error" in error.
 */
bool conform_json_file_read(const char *path, const char *kind, size_t bytes_max, char **text,
                            size_t *length, char *error, size_t error_bytes);

/*
 * A parse of a JSON document that reports `name:line:col: message`, the
 * line and a caret: the scenario's and the fault plan's parsers share it.
 * path/depth is where the parser is; an error locates the value there (or
 * its parent when the value itself is absent).
 */
struct conform_json_parse {
  const char *text;
  size_t length;
  const char *name;                  /* the file's name, for messages */
  char *error;
  size_t error_bytes;
  struct conform_json_step path[CONFORM_JSON_PATH_DEPTH_MAX];
  size_t depth;
};

/* Writes "name:line:col: message", the line's text and a caret under the column. */
void conform_json_format_error(char *out, size_t out_bytes, const char *name, const char *text,
                               size_t length, uint32_t line, uint32_t column,
                               const char *message);
void conform_json_push_key(struct conform_json_parse *p, const char *key);
void conform_json_push_index(struct conform_json_parse *p, size_t index);
void conform_json_pop(struct conform_json_parse *p);
/*
 * Parses p->text with jansson, duplicate keys refused; NULL with the error
 * located (line, column, caret) in p->error.  Text longer than bytes_max or
 * starting with a UTF-8 byte-order mark is refused at 1:1 the same way.
 * The caller json_decref()s.
 */
json_t *conform_json_load(struct conform_json_parse *p, size_t bytes_max);
/* Formats the message at the current path into p->error; returns false. */
bool conform_json_vfail(struct conform_json_parse *p, const char *format, va_list args);
/* Every key of object must be in allowed (NULL-terminated); else fails at the first other. */
bool conform_json_check_keys(struct conform_json_parse *p, json_t *object,
                             const char *const *allowed);
/* An optional boolean member; an absent one keeps *out. */
bool conform_json_get_bool(struct conform_json_parse *p, json_t *object, const char *key,
                           bool *out);
/* An integer member in [low, high]; an absent one keeps *out unless required. */
bool conform_json_get_u64(struct conform_json_parse *p, json_t *object, const char *key,
                          uint64_t low, uint64_t high, bool required, uint64_t *out);

#endif /* CONFORM_JSON_H */
