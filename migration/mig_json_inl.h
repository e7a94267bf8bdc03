/*
 * mig_json_inl.h: two jansson helpers for the JSON migration/ writes (the
 * VM description, -dump-vmstate, vmstate-diff reports).  Building JSON only
 * fails when memory runs out, which this tool treats as a bug: assert.
 */
#ifndef MIG_JSON_INL_H
#define MIG_JSON_INL_H

#include "sim_base.h"

#include <jansson.h>

/* object[key] = value, taking value's reference. */
static inline void mig__json_set(json_t *object, const char *key, json_t *value)
{
  SIM_ASSERT(value != NULL);
  int rc = json_object_set_new(object, key, value);
  SIM_ASSERT(rc == 0);
}

/* Appends value to array, taking value's reference. */
static inline void mig__json_append(json_t *array, json_t *value)
{
  SIM_ASSERT(value != NULL);
  int rc = json_array_append_new(array, value);
  SIM_ASSERT(rc == 0);
}

#endif /* MIG_JSON_INL_H */
