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

#endif /* CONFORM_JSON_H */
