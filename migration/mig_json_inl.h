/*
 * mig_json_inl.h: jansson helpers: two for the JSON migration/ writes (the
 * VM description, -dump-vmstate, vmstate-diff reports), where building JSON
 * only fails when memory runs out, which this tool treats as a bug (assert);
 * and the one schema check of a VM-description trailer that both the loader
 * and the walker apply under mig_policy.trailer_checked.
 */
#ifndef MIG_JSON_INL_H
#define MIG_JSON_INL_H

#include "sim_base.h"
#include "mig_limits.h"

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

/*
 * QEMU's trailer schema as far as readers rely on it: an object with
 * "page_size" 4096 and a "devices" array (QEMU 7.2 migration/savevm.c).
 */
static inline bool mig__json_vmdesc_ok(const json_t *root)
{
  const json_t *page_size = json_object_get(root, "page_size");
  return json_is_object(root) && json_is_integer(page_size) &&
         json_integer_value(page_size) == MIG_PAGE_BYTES &&
         json_is_array(json_object_get(root, "devices"));
}
#define MIG_JSON_VMDESC_DETAIL "JSON lacks page_size 4096 or devices"

#endif /* MIG_JSON_INL_H */
