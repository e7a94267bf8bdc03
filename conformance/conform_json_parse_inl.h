/*
 * conform_json_parse_inl.h: the short names a parser of this folder uses for
 * conform_json_parse's helpers (conform_json.h).  Included by a .c file
 * after it defines its own `struct parse` with a `struct conform_json_parse
 * json` member; the scenario and fault-plan parsers share it.
 */
#ifndef CONFORM_JSON_PARSE_INL_H
#define CONFORM_JSON_PARSE_INL_H

#include "conform_json.h"

#include <stdarg.h>

static void push_key(struct parse *p, const char *key) { conform_json_push_key(&p->json, key); }
static void push_index(struct parse *p, size_t index) { conform_json_push_index(&p->json, index); }
static void pop(struct parse *p) { conform_json_pop(&p->json); }

#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
static bool fail(struct parse *p, const char *format, ...)
{
  va_list args;
  va_start(args, format);
  conform_json_vfail(&p->json, format, args);
  va_end(args);
  return false;
}

static bool check_keys(struct parse *p, json_t *object, const char *const *allowed)
{
  return conform_json_check_keys(&p->json, object, allowed);
}

static bool get_u64(struct parse *p, json_t *object, const char *key, uint64_t low,
                    uint64_t high, bool required, uint64_t *out)
{
  return conform_json_get_u64(&p->json, object, key, low, high, required, out);
}

static bool get_bool(struct parse *p, json_t *object, const char *key, bool *out)
{
  return conform_json_get_bool(&p->json, object, key, out);
}

#endif /* CONFORM_JSON_PARSE_INL_H */
