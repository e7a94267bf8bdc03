/*
 * dev.c: the table of device classes and the generic property setters
 * (interface in dev.h, a walk-through in docs/adding-a-device.md).
 *
 * Each class is defined next to its device (dmadev.c defines dmadev_class);
 * this file only lists them.  The order is the order "unknown driver"
 * messages list them in; it never affects a run.
 */
#include "sim_base.h"

#include "dev.h"

/* One row per device class: adding a device adds its row here. */
#define DEV_CLASS_LIST(X) X(testdev) X(dmadev) X(blockdev) X(amdvi) X(vfiodev) X(simnet)

#define DEV_CLASS_DECLARE(name) extern const struct dev_class name##_class;
DEV_CLASS_LIST(DEV_CLASS_DECLARE)
#undef DEV_CLASS_DECLARE

#define DEV_CLASS_ROW(name) &name##_class,
static const struct dev_class *const dev_classes[] = {DEV_CLASS_LIST(DEV_CLASS_ROW)};
#undef DEV_CLASS_ROW

_Static_assert(SIM_ARRAY_COUNT(dev_classes) <= DEV_CLASSES_MAX, "the class table fits");

const struct dev_class *dev_class_find(const char *driver)
{
  for (uint32_t i = 0; i < SIM_ARRAY_COUNT(dev_classes); i++) {
    if (strcmp(dev_classes[i]->name, driver) == 0) return dev_classes[i];
  }
  return NULL;
}

const struct dev_class *dev_class_at(uint32_t index)
{
  return index < SIM_ARRAY_COUNT(dev_classes) ? dev_classes[index] : NULL;
}

void dev_prop_store(const struct dev_prop *prop, void *base, uint64_t value)
{
  uint8_t *at = (uint8_t *)base + prop->offset;
  switch (prop->kind) {
  case DEV_PROP_U32:
  case DEV_PROP_ENUM: {
    SIM_ASSERT(value <= UINT32_MAX);
    uint32_t narrow = (uint32_t)value;
    memcpy(at, &narrow, sizeof(narrow));
    break;
  }
  case DEV_PROP_U64:
    memcpy(at, &value, sizeof(value));
    break;
  case DEV_PROP_BOOL: {
    bool flag = value != 0;
    memcpy(at, &flag, sizeof(flag));
    break;
  }
  case DEV_PROP_RECORDS:
    SIM_ASSERT(false); /* records are set by their fields */
    break;
  }
}

void dev_config_init(struct dev_config *config, const struct dev_class *cls)
{
  SIM_ASSERT(cls != NULL && cls->props_bytes <= DEV_PROPS_BYTES_MAX);
  SIM_ASSERT(strlen(cls->name) <= DEV_DRIVER_BYTES_MAX);
  memset(config, 0, sizeof(*config));
  snprintf(config->driver, sizeof(config->driver), "%s", cls->name);
  for (uint32_t i = 0; i < cls->prop_count; i++) {
    const struct dev_prop *prop = &cls->props[i];
    if (prop->kind != DEV_PROP_RECORDS) dev_prop_store(prop, config, prop->default_value);
  }
}

const struct dev_prop *dev_config_prop_find(const struct dev_config *config, const char *name)
{
  const struct dev_class *cls = dev_class_find(config->driver);
  for (uint32_t i = 0; cls != NULL && i < cls->prop_count; i++) {
    if (strcmp(cls->props[i].name, name) == 0) return &cls->props[i];
  }
  return NULL;
}

bool dev_config_prop_set(struct dev_config *config, const char *name, uint64_t value)
{
  const struct dev_prop *prop = dev_config_prop_find(config, name);
  if (prop == NULL || prop->kind == DEV_PROP_RECORDS) return false;
  if (prop->kind == DEV_PROP_BOOL && value > 1) return false;
  if ((prop->kind == DEV_PROP_U32 || prop->kind == DEV_PROP_U64) &&
      (value < prop->low || value > prop->high)) {
    return false;
  }
  if (prop->kind == DEV_PROP_ENUM) {
    uint64_t count = 0;
    while (prop->names[count] != NULL) count++;
    if (value >= count) return false;
  }
  if (prop->multiple != 0 && value % prop->multiple != 0) return false;
  dev_prop_store(prop, config, value);
  return true;
}

bool dev_config_quirk_set(struct dev_config *config, const char *quirk)
{
  const struct dev_class *cls = dev_class_find(config->driver);
  for (uint32_t i = 0; cls != NULL && i < cls->quirk_count; i++) {
    if (strcmp(cls->quirks[i].name, quirk) != 0) continue;
    bool on = true;
    memcpy((uint8_t *)config + cls->quirks[i].offset, &on, sizeof(on));
    return true;
  }
  return false;
}

void dev_config_path(const struct dev_config *config, char *out, size_t out_bytes)
{
  snprintf(out, out_bytes, "0000:%02x:%02x.%x", config->bus, config->slot, config->function);
}
