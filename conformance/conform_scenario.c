/*
 * conform_scenario.c: scenario parsing and validation (overview in
 * conform_scenario.h, format in docs/scenario.md).
 *
 * jansson parses; this file walks the result with a path stack so that
 * every complaint can be located in the text by conform_json_locate.
 * Unknown keys are errors, so a typo never silently falls back to a default.
 */
#include "sim_base.h"

#include "conform_explore.h"
#include "conform_json.h"
#include "conform_scenario.h"
#include "conform_transport.h"
#include "pci.h"
#include "sim_limits.h"

#include <jansson.h>
#include <xxhash.h>

static const char default_text[] =
    "{\n"
    "  \"seed\": 1,\n"
    "  \"limits\": {\"events_max\": 50000000, \"time_ns_max\": 60000000000},\n"
    "  \"machine\": {\n"
    "    \"type\": \"migsim-1.0\",\n"
    "    \"ram\": [{\"name\": \"pc.ram\", \"bytes\": 16777216},\n"
    "            {\"name\": \"pc.bios\", \"bytes\": 262144}],\n"
    "    \"devices\": [{\"driver\": \"testdev\", \"addr\": \"00:03.0\", \"device_id\": 4660}]\n"
    "  },\n"
    "  \"workload\": {\"pages_per_s\": 4000, \"duration_ns\": 2000000000,\n"
    "               \"fill_pages\": 2048, \"device_every\": 16},\n"
    "  \"link\": {\"bandwidth_bytes_per_s\": 67108864, \"latency_ns\": 200000,\n"
    "           \"window_bytes\": 1048576, \"packet_bytes\": 65536},\n"
    "  \"migration\": {\"section_pages\": 256},\n"
    "  \"commands\": [\n"
    "    {\"at_ns\": 0, \"execute\": \"migrate-set-parameters\",\n"
    "     \"arguments\": {\"downtime-limit\": 30, \"max-bandwidth\": 67108864}},\n"
    "    {\"at_ns\": 500000000, \"execute\": \"migrate\", \"arguments\": {\"uri\": \"sim:link0\"}}\n"
    "  ]\n"
    "}\n";

const char *conform_scenario_default_text(void) { return default_text; }

struct parse {
  struct conform_json_parse json;   /* text, name, error and where the parse is */
  bool has_release;                 /* the machine being parsed is a release's sim-<M> */
  uint32_t release_index;           /* its release (models/compat.h) */
  uint32_t machine_index;           /* the release that introduced its machine type */
};

#include "conform_json_parse_inl.h"  /* push_key, pop, fail, check_keys, get_u64, get_bool */

static bool get_object(struct parse *p, json_t *parent, const char *key, json_t **out)
{
  *out = json_object_get(parent, key);
  if (*out == NULL) return fail(p, "missing object \"%s\"", key);
  push_key(p, key);
  if (!json_is_object(*out)) return fail(p, "\"%s\" must be an object", key);
  return true;
}

static bool get_string(struct parse *p, json_t *object, const char *key, char *out,
                       size_t out_bytes)
{
  json_t *value = json_object_get(object, key);
  if (value == NULL) return fail(p, "missing \"%s\"", key);
  push_key(p, key);
  if (!json_is_string(value)) return fail(p, "\"%s\" must be a string", key);
  size_t length = json_string_length(value);
  if (length == 0 || length >= out_bytes || strlen(json_string_value(value)) != length) {
    return fail(p, "\"%s\" must be 1..%zu bytes with no NUL", key, out_bytes - 1);
  }
  memcpy(out, json_string_value(value), length + 1);
  pop(p);
  return true;
}

/* "BB:DD.F" or "DD.F", hexadecimal as QEMU writes PCI addresses. */
static bool parse_pci_addr(const char *text, struct dev_config *device)
{
  unsigned bus = 0, slot, function;
  char tail;
  int matched = sscanf(text, "%2x:%2x.%1x%c", &bus, &slot, &function, &tail);
  if (matched != 3) {
    bus = 0;
    matched = sscanf(text, "%2x.%1x%c", &slot, &function, &tail);
    if (matched != 2) return false;
  }
  if (slot > 31 || function > 7) return false;
  device->bus = (uint8_t)bus;
  device->slot = (uint8_t)slot;
  device->function = (uint8_t)function;
  return true;
}

/*
 * An optional number in [0, high] read as millionths of a unit (fractions) or
 * thousandths (the zipf exponent): scale is 10^6 or 10^3.  Floating point
 * stays here, in the parser; the models see integers only.
 */
static bool get_scaled(struct parse *p, json_t *object, const char *key, bool zero_ok,
                       double high, uint32_t scale, uint32_t *out)
{
  json_t *value = json_object_get(object, key);
  if (value == NULL) return true;
  push_key(p, key);
  double number = json_number_value(value);
  bool low_ok = zero_ok ? number >= 0 : number > 0;
  if (!json_is_number(value) || !low_ok || !(number <= high)) {
    return fail(p, "\"%s\" must be a number with 0 %s x <= %g", key, zero_ok ? "<=" : "<",
                high);
  }
  *out = (uint32_t)(number * scale + 0.5);
  pop(p);
  return true;
}

/* A block's length key: optional unless required, whole host pages, within max. */
static bool get_block_length(struct parse *p, json_t *block, const char *key, bool required,
                             uint64_t max, uint32_t page_bytes, uint64_t *out)
{
  if (!get_u64(p, block, key, page_bytes, max, required, out)) return false;
  if (*out == 0 || *out % page_bytes == 0) return true;
  push_key(p, key);
  return fail(p, "\"%s\" must be whole %s pages", key, page_bytes == RAM_PAGE_BYTES ? "4 KiB"
                                                                                    : "2 MiB");
}

static bool parse_ram_backing(struct parse *p, json_t *block, struct machine_ram_config *out)
{
  json_t *value = json_object_get(block, "backing");
  out->backing = RAM_BACKING_DENSE;
  if (value == NULL) return true;
  push_key(p, "backing");
  const char *text = json_string_value(value);
  if (text != NULL && strcmp(text, "synthetic") == 0) {
    out->backing = RAM_BACKING_SYNTHETIC;
  } else if (text == NULL || strcmp(text, "dense") != 0) {
    return fail(p, "\"backing\" must be \"dense\" or \"synthetic\"");
  }
  pop(p);
  return true;
}

/*
 * "resizes": [{"at_vm_ns", "bytes"}, ...], the guest's resizes of a resizable
 * block while it runs (models/ram_resize.h), in guest time.
 */
static bool parse_ram_resizes(struct parse *p, json_t *block, struct machine_ram_config *out)
{
  static const char *const keys[] = {"at_vm_ns", "bytes", NULL};
  json_t *list = json_object_get(block, "resizes");
  if (list == NULL) return true;
  push_key(p, "resizes");
  if (out->max_bytes == 0) return fail(p, "\"resizes\" needs a resizable block (\"max_bytes\")");
  if (!json_is_array(list) || json_array_size(list) == 0 ||
      json_array_size(list) > RAM_RESIZES_MAX) {
    return fail(p, "\"resizes\" must be an array of 1..%d objects", RAM_RESIZES_MAX);
  }
  for (size_t i = 0; i < json_array_size(list); i++) {
    json_t *entry = json_array_get(list, i);
    struct ram_resize_at *step = &out->resizes[i];
    push_index(p, i);
    if (!json_is_object(entry)) return fail(p, "a resize must be an object");
    if (!check_keys(p, entry, keys) ||
        !get_u64(p, entry, "at_vm_ns", 0, UINT64_C(1) << 50, true, &step->at_vm_ns) ||
        !get_block_length(p, entry, "bytes", true, out->max_bytes, out->host_page_bytes,
                          &step->used_bytes)) {
      return false;
    }
    pop(p);
  }
  out->resize_count = (uint32_t)json_array_size(list);
  pop(p);
  return true;
}

/* One machine.ram[] entry (the caller has pushed its index). */
static bool parse_ram_block(struct parse *p, json_t *block, struct machine_ram_config *out)
{
  static const char *const keys[] = {"name", "bytes", "max_bytes", "boot_bytes", "page_bytes",
                                     "backing", "shared", "gpa", "resizes", NULL};
  if (!json_is_object(block)) return fail(p, "a RAM block must be an object");
  if (!check_keys(p, block, keys)) return false;
  if (!get_string(p, block, "name", out->name, sizeof(out->name))) return false;
  if (!parse_ram_backing(p, block, out)) return false;
  uint64_t page_bytes = RAM_PAGE_BYTES;
  if (!get_u64(p, block, "page_bytes", RAM_PAGE_BYTES, RAM_HOST_PAGE_BYTES_MAX, false,
               &page_bytes)) {
    return false;
  }
  if (page_bytes != RAM_PAGE_BYTES && page_bytes != RAM_HOST_PAGE_BYTES_MAX) {
    push_key(p, "page_bytes");
    return fail(p, "\"page_bytes\" must be 4096 or 2097152");
  }
  out->host_page_bytes = (uint32_t)page_bytes;
  uint64_t max = out->backing == RAM_BACKING_DENSE ? CONFORM_MACHINE_RAM_BYTES_MAX
                                                   : RAM_BLOCK_BYTES_MAX;
  if (!get_block_length(p, block, "bytes", true, max, out->host_page_bytes, &out->bytes) ||
      !get_block_length(p, block, "max_bytes", false, max, out->host_page_bytes,
                        &out->max_bytes) ||
      !get_block_length(p, block, "boot_bytes", false, max, out->host_page_bytes,
                        &out->boot_bytes) ||
      !get_bool(p, block, "shared", &out->shared) ||
      !get_u64(p, block, "gpa", 0, UINT64_C(1) << 52, false, &out->gpa)) {
    return false;
  }
  if (out->gpa % RAM_PAGE_BYTES != 0) {
    push_key(p, "gpa");
    return fail(p, "\"gpa\" must be 4 KiB aligned");
  }
  if (out->max_bytes != 0 && out->max_bytes < out->bytes) {
    push_key(p, "max_bytes");
    return fail(p, "\"max_bytes\" is smaller than \"bytes\"");
  }
  if (out->boot_bytes != 0 && out->boot_bytes > out->max_bytes) {
    push_key(p, "boot_bytes");
    return fail(p, out->max_bytes == 0 ? "\"boot_bytes\" needs a resizable block (\"max_bytes\")"
                                       : "\"boot_bytes\" exceeds \"max_bytes\"");
  }
  return parse_ram_resizes(p, block, out);
}

/* Two shared blocks whose [gpa, gpa + reserved length) ranges meet (x-ignore-shared maps them). */
static bool ram_gpa_overlap(const struct machine_ram_config *a, const struct machine_ram_config *b)
{
  if (!a->shared || !b->shared) return false;
  uint64_t a_end = a->gpa + SIM_MAX(a->bytes, a->max_bytes);
  uint64_t b_end = b->gpa + SIM_MAX(b->bytes, b->max_bytes);
  return a->gpa < b_end && b->gpa < a_end;
}

static bool parse_ram(struct parse *p, json_t *machine, struct machine_config *config)
{
  json_t *ram = json_object_get(machine, "ram");
  if (ram == NULL) return fail(p, "missing \"ram\"");
  push_key(p, "ram");
  if (!json_is_array(ram) || json_array_size(ram) == 0 || json_array_size(ram) > RAM_BLOCKS_MAX) {
    return fail(p, "\"ram\" must be an array of 1..%d blocks", RAM_BLOCKS_MAX);
  }
  uint64_t dense_bytes = 0, synthetic_bytes = 0;
  for (size_t i = 0; i < json_array_size(ram); i++) {
    struct machine_ram_config *out = &config->ram[i];
    push_index(p, i);
    if (!parse_ram_block(p, json_array_get(ram, i), out)) return false;
    push_key(p, "bytes");
    uint64_t reserved = SIM_MAX(out->bytes, out->max_bytes);
    if (out->backing == RAM_BACKING_DENSE) {
      dense_bytes += reserved;
      if (dense_bytes > CONFORM_MACHINE_RAM_BYTES_MAX) {
        return fail(p, "dense RAM totals more than %" PRIu64 " bytes",
                    CONFORM_MACHINE_RAM_BYTES_MAX);
      }
    } else {
      synthetic_bytes += reserved;
      if (synthetic_bytes > CONFORM_MACHINE_SYNTHETIC_BYTES_MAX) {
        return fail(p, "synthetic RAM totals more than %" PRIu64 " bytes",
                    CONFORM_MACHINE_SYNTHETIC_BYTES_MAX);
      }
    }
    pop(p);
    for (size_t j = 0; j < i; j++) {
      if (strcmp(config->ram[j].name, out->name) == 0) {
        push_key(p, "name");
        return fail(p, "RAM block \"%s\" named twice", out->name);
      }
      if (!ram_gpa_overlap(&config->ram[j], out)) continue;
      push_key(p, "gpa");
      return fail(p, "shared blocks \"%s\" and \"%s\" overlap in guest-physical memory",
                  config->ram[j].name, out->name);
    }
    pop(p);
  }
  config->ram_count = (uint32_t)json_array_size(ram);
  pop(p);
  return true;
}

/*
 * Devices: every key but "driver", "addr" and "quirks" is a property of the
 * device's class (models/dev.h), parsed by walking the class's property
 * table, so a new device needs no change here.
 */

/* `"a", "b"` (quoted) or `a, b`, joined with sep; "none" when empty. */
static void names_join(char *out, size_t out_bytes, const char *const *names, size_t count,
                       bool quoted, const char *sep, const char *last_sep)
{
  size_t at = 0;
  out[0] = '\0';
  for (size_t i = 0; i < count && at < out_bytes; i++) {
    const char *join = i == 0 ? "" : i + 1 == count ? last_sep : sep;
    int n = snprintf(out + at, out_bytes - at, quoted ? "%s\"%s\"" : "%s%s", join, names[i]);
    at += n > 0 ? (size_t)n : 0;
  }
  if (count == 0) snprintf(out, out_bytes, "none");
}

/* "unknown driver" lists the class table, in its order. */
static void known_drivers(char *out, size_t out_bytes)
{
  const char *names[DEV_CLASSES_MAX];
  size_t count = 0;
  for (const struct dev_class *cls; (cls = dev_class_at((uint32_t)count)) != NULL;) {
    names[count++] = cls->name;
  }
  names_join(out, out_bytes, names, count, false, ", ", ", ");
}

static bool parse_prop_enum(struct parse *p, json_t *value, const struct dev_prop *prop,
                            void *base)
{
  const char *text = json_string_value(value);
  size_t count = 0;
  while (prop->names[count] != NULL) count++;
  for (size_t i = 0; i < count; i++) {
    if (text != NULL && strcmp(text, prop->names[i]) == 0) {
      dev_prop_store(prop, base, i);
      return true;
    }
  }
  char names[160];
  names_join(names, sizeof(names), prop->names, count, true, " or ", " or ");
  return fail(p, "\"%s\" must be %s", prop->name, names);
}

/* One U32/U64/BOOL/ENUM property of object into base (a dev_config or a record). */
static bool parse_prop(struct parse *p, json_t *object, const struct dev_prop *prop, void *base)
{
  json_t *value = json_object_get(object, prop->name);
  if (value == NULL && !prop->required) return true;
  if (prop->kind == DEV_PROP_BOOL) {
    bool flag = false;
    if (!get_bool(p, object, prop->name, &flag)) return false;
    dev_prop_store(prop, base, flag);
    return true;
  }
  if (prop->kind == DEV_PROP_ENUM) {
    push_key(p, prop->name);
    if (!parse_prop_enum(p, value, prop, base)) return false;
    pop(p);
    return true;
  }
  SIM_ASSERT(prop->kind == DEV_PROP_U32 || prop->kind == DEV_PROP_U64);
  uint64_t number = 0;
  if (!get_u64(p, object, prop->name, prop->low, prop->high, prop->required, &number)) {
    return false;
  }
  if (prop->multiple != 0 && number % prop->multiple != 0) {
    push_key(p, prop->name);
    return fail(p, "\"%s\" must be a multiple of %" PRIu64, prop->name, prop->multiple);
  }
  dev_prop_store(prop, base, number);
  return true;
}

/* An array of records, each an object of required fields (vfiodev "mappings"). */
static bool parse_prop_records(struct parse *p, json_t *object, const struct dev_prop *prop,
                               struct dev_config *device)
{
  const struct dev_records *records = prop->records;
  json_t *list = json_object_get(object, prop->name);
  if (list == NULL) return true;
  push_key(p, prop->name);
  if (!json_is_array(list) || json_array_size(list) > records->records_max) {
    return fail(p, "\"%s\" must be an array of at most %u objects", prop->name,
                records->records_max);
  }
  const char *keys[8];
  SIM_ASSERT(records->field_count < SIM_ARRAY_COUNT(keys));
  for (uint32_t f = 0; f < records->field_count; f++) keys[f] = records->fields[f].name;
  keys[records->field_count] = NULL;
  for (size_t i = 0; i < json_array_size(list); i++) {
    json_t *record = json_array_get(list, i);
    uint8_t *base = (uint8_t *)device + prop->offset + i * records->record_bytes;
    push_index(p, i);
    if (!json_is_object(record)) return fail(p, "a %s must be an object", records->noun);
    if (!check_keys(p, record, keys)) return false;
    bool aligned = true;
    for (uint32_t f = 0; f < records->field_count; f++) {
      const struct dev_prop *field = &records->fields[f];
      if (!parse_prop(p, record, field, base)) return false;
      uint64_t number;
      memcpy(&number, base + field->offset, sizeof(number));
      aligned &= records->multiple == 0 || number % records->multiple == 0;
    }
    if (!aligned) {
      char names[96];
      names_join(names, sizeof(names), keys, records->field_count, false, ", ", " and ");
      return fail(p, "%s must be multiples of %" PRIu64, names, records->multiple);
    }
    pop(p);
  }
  uint32_t count = (uint32_t)json_array_size(list);
  memcpy((uint8_t *)device + records->count_offset, &count, sizeof(count));
  pop(p);
  return true;
}

/* Every key is "driver", "addr", "quirks" or a property of the class. */
static bool check_device_keys(struct parse *p, json_t *entry, const struct dev_class *cls)
{
  const char *keys[3 + 32 + 1] = {"driver", "addr", "quirks"};
  SIM_ASSERT(cls->prop_count <= 32);
  for (uint32_t i = 0; i < cls->prop_count; i++) keys[3 + i] = cls->props[i].name;
  keys[3 + cls->prop_count] = NULL;
  return check_keys(p, entry, keys);
}

/*
 * Without "addr", a class with addr_optional goes where QEMU's realize puts
 * it: the first free devfn on bus 0 from 00:01.0, among the devices created
 * before it (the amd-iommu: spec §3.3; such a placement blocks migration).
 */
static bool place_default(const struct machine_config *config, size_t index,
                          struct dev_config *device)
{
  for (uint32_t devfn = 8; devfn < PCI_SLOTS_COUNT * PCI_FUNCTIONS_COUNT; devfn++) {
    bool taken = false;
    for (size_t j = 0; j < index && !taken; j++) {
      const struct dev_config *other = &config->devices[j];
      taken = other->bus == 0 && other->slot == devfn >> 3 && other->function == (devfn & 7);
    }
    if (taken) continue;
    device->bus = 0;
    device->slot = (uint8_t)(devfn >> 3);
    device->function = (uint8_t)(devfn & 7);
    return true;
  }
  return false;
}

static bool parse_device_quirks(struct parse *p, json_t *entry, struct dev_config *device,
                                const struct dev_class *cls)
{
  json_t *quirks = json_object_get(entry, "quirks");
  if (quirks == NULL) return true;
  push_key(p, "quirks");
  if (!json_is_array(quirks)) return fail(p, "\"quirks\" must be an array of strings");
  for (size_t i = 0; i < json_array_size(quirks); i++) {
    push_index(p, i);
    const char *quirk = json_string_value(json_array_get(quirks, i));
    if (quirk == NULL || !dev_config_quirk_set(device, quirk)) {
      const char *names[16];
      SIM_ASSERT(cls->quirk_count <= SIM_ARRAY_COUNT(names));
      for (uint32_t q = 0; q < cls->quirk_count; q++) names[q] = cls->quirks[q].name;
      char known[160];
      names_join(known, sizeof(known), names, cls->quirk_count, true, ", ", ", ");
      return fail(p, "unknown %s quirk (known: %s)", cls->name, known);
    }
    pop(p);
  }
  pop(p);
  return true;
}

/* Properties in the class's table order, from its defaults (dev_config_init). */
static bool parse_device_properties(struct parse *p, json_t *entry, struct dev_config *device,
                                    const struct dev_class *cls)
{
  for (uint32_t i = 0; i < cls->prop_count; i++) {
    const struct dev_prop *prop = &cls->props[i];
    bool ok = prop->kind == DEV_PROP_RECORDS ? parse_prop_records(p, entry, prop, device)
                                             : parse_prop(p, entry, prop, device);
    if (!ok) return false;
  }
  return true;
}

/* "addr", or the class's default placement; the address must be free. */
static bool parse_device_addr(struct parse *p, json_t *entry, struct machine_config *config,
                              size_t index, const struct dev_class *cls)
{
  struct dev_config *device = &config->devices[index];
  char addr[16];
  device->addr_implicit = cls->addr_optional && json_object_get(entry, "addr") == NULL;
  if (device->addr_implicit) {
    push_key(p, "driver");
    if (!place_default(config, index, device)) return fail(p, "bus 0 is full");
    snprintf(addr, sizeof(addr), "%02x:%02x.%x", device->bus, device->slot, device->function);
  } else {
    if (!get_string(p, entry, "addr", addr, sizeof(addr))) return false;
    push_key(p, "addr");
    if (!parse_pci_addr(addr, device)) return fail(p, "bad PCI address \"%s\"", addr);
  }
  if (device->bus >= PCI_BUSES_MAX) {
    return fail(p, "PCI bus %u does not exist (buses 00..%02x)", device->bus,
                PCI_BUSES_MAX - 1);
  }
  for (size_t j = 0; j < index; j++) {
    const struct dev_config *other = &config->devices[j];
    if (other->bus == device->bus && other->slot == device->slot &&
        other->function == device->function) {
      return fail(p, "PCI address \"%s\" is taken by device %zu", addr, j);
    }
  }
  pop(p);
  return true;
}

static bool parse_device(struct parse *p, json_t *entry, struct machine_config *config,
                         size_t index)
{
  struct dev_config *device = &config->devices[index];
  char driver[DEV_DRIVER_BYTES_MAX + 1];
  if (!json_is_object(entry)) return fail(p, "a device must be an object");
  if (!get_string(p, entry, "driver", driver, sizeof(driver))) return false;
  const struct dev_class *cls = dev_class_find(driver);
  if (cls == NULL) {
    char known[160];
    known_drivers(known, sizeof(known));
    push_key(p, "driver");
    return fail(p, "unknown driver \"%s\" (known: %s)", driver, known);
  }
  dev_config_init(device, cls);
  /* A release machine: its code defaults and compat entries, then the entry's own keys. */
  if (p->has_release) compat_device_apply(p->release_index, p->machine_index, device);
  return check_device_keys(p, entry, cls) && parse_device_addr(p, entry, config, index, cls) &&
         parse_device_properties(p, entry, device, cls) &&
         parse_device_quirks(p, entry, device, cls);
}

/* "device_driver": the guest driver program of the DMA engine and block device. */
static bool parse_device_driver(struct parse *p, json_t *machine, struct machine_config *config)
{
  static const char *const keys[] = {"period_ns", "duration_ns", "transfer_bytes_max",
                                     "interrupts", NULL};
  if (json_object_get(machine, "device_driver") == NULL) return true;
  json_t *driver;
  if (!get_object(p, machine, "device_driver", &driver)) return false;
  if (!check_keys(p, driver, keys)) return false;
  uint64_t transfer_bytes_max = 65536;
  bool ok = get_u64(p, driver, "period_ns", DEVDRV_PERIOD_NS_MIN, UINT64_C(1) << 40, true,
                    &config->driver.period_ns) &&
            get_u64(p, driver, "duration_ns", 0, UINT64_C(1) << 50, true,
                    &config->driver.duration_ns) &&
            get_u64(p, driver, "transfer_bytes_max", 1, DMADEV_TRANSFER_BYTES_MAX, false,
                    &transfer_bytes_max) &&
            get_bool(p, driver, "interrupts", &config->driver.interrupts);
  if (!ok) return false;
  config->driver.transfer_bytes_max = (uint32_t)transfer_bytes_max;
  if (config->driver.period_ns % 2 != 0) {
    push_key(p, "period_ns");
    return fail(p, "\"period_ns\" must be even (DMA steps own the odd nanoseconds)");
  }
  pop(p);
  return true;
}

/* "iommu_driver": the guest's AMD IOMMU driver (iommudrv.h). */
static bool parse_iommu_driver(struct parse *p, json_t *machine, struct machine_config *config)
{
  static const char *const keys[] = {"mode", "fault_every", "event_consume_every",
                                     "cmdbuf_pause_every", "domains", "intremap", "intctl",
                                     "ats", NULL};
  if (json_object_get(machine, "iommu_driver") == NULL) return true;
  json_t *driver;
  if (!get_object(p, machine, "iommu_driver", &driver)) return false;
  if (!check_keys(p, driver, keys)) return false;
  uint64_t mode = 3, fault_every = 0, consume_every = 1, pause_every = 0;
  bool ok = get_u64(p, driver, "mode", 3, 4, false, &mode) &&
            get_u64(p, driver, "fault_every", 0, UINT32_MAX, false, &fault_every) &&
            get_u64(p, driver, "event_consume_every", 1, UINT32_MAX, false, &consume_every) &&
            get_u64(p, driver, "cmdbuf_pause_every", 0, UINT32_MAX, false, &pause_every);
  if (!ok) return false;
  if (pause_every == 1) {
    push_key(p, "cmdbuf_pause_every");
    return fail(p, "\"cmdbuf_pause_every\" must be 0 or >= 2 (each stall ends at the next "
                   "batch)");
  }
  config->iommu_driver = (struct iommudrv_config){
      .enabled = true, .mode = (uint32_t)mode, .fault_every = (uint32_t)fault_every,
      .event_consume_every = (uint32_t)consume_every,
      .cmdbuf_pause_every = (uint32_t)pause_every};
  /* Choices among named values: "domains", "intremap" (IRTE format), "intctl". */
  static const struct {
    const char *key, *first, *second, *third;
  } choices[] = {{"domains", "shared", "separate", NULL},
                 {"intremap", "off", "legacy", "ga"},
                 {"intctl", "remap", "abort", NULL}};
  uint32_t chosen[SIM_ARRAY_COUNT(choices)] = {0};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(choices); i++) {
    json_t *value = json_object_get(driver, choices[i].key);
    if (value == NULL) continue;
    push_key(p, choices[i].key);
    const char *text = json_string_value(value);
    const char *names[3] = {choices[i].first, choices[i].second, choices[i].third};
    bool found = false;
    for (uint32_t n = 0; n < 3 && !found; n++) {
      found = text != NULL && names[n] != NULL && strcmp(text, names[n]) == 0;
      if (found) chosen[i] = n;
    }
    if (!found) {
      return fail(p, "\"%s\" must be \"%s\" or \"%s\"%s%s%s", choices[i].key, names[0],
                  names[1], names[2] != NULL ? " or \"" : "", names[2] != NULL ? names[2] : "",
                  names[2] != NULL ? "\"" : "");
    }
    pop(p);
  }
  config->iommu_driver.domains_separate = chosen[0] == 1;
  config->iommu_driver.intremap = chosen[1] != 0;
  config->iommu_driver.irte_ga = chosen[1] == 2;
  config->iommu_driver.intctl_abort = chosen[2] == 1;
  /* "ats": true makes every dmadev behind the IOMMU an ATS device (as its own "ats" key). */
  bool ats = false;
  if (!get_bool(p, driver, "ats", &ats)) return false;
  for (uint32_t i = 0; i < config->device_count && ats; i++) {
    struct dev_config *device = &config->devices[i];
    /* The property by name: a device behind the IOMMU without "ats" has none to set. */
    if (device->behind_iommu) (void)dev_config_prop_set(device, "ats", 1);
  }
  pop(p);
  return true;
}

/*
 * "release" of object (or inherited, when object has none): the machine is
 * sim-<M> as that release builds it (models/compat.h); type must be one of
 * the release's machine types.  No release: today's machines, untouched.
 */
static bool parse_release(struct parse *p, json_t *object, const char *inherited,
                          const char *type, char *release)
{
  p->has_release = false;
  json_t *value = json_object_get(object, "release");
  if (value != NULL) {
    if (!get_string(p, object, "release", release, COMPAT_NAME_BYTES_MAX + 1)) return false;
  } else {
    snprintf(release, COMPAT_NAME_BYTES_MAX + 1, "%s", inherited);
  }
  if (release[0] == '\0') return true;
  uint32_t index, machine;
  if (compat_release_find(release, &index) == NULL) {
    push_key(p, "release");
    return fail(p, "unknown release \"%s\" (known: 1.0, 1.1, 1.1.1, 2.0, 2.1)", release);
  }
  if (!compat_machine_find(index, type, &machine)) {
    const char *names[COMPAT_RELEASES_COUNT];
    uint32_t count = compat_machines(index, names, COMPAT_RELEASES_COUNT);
    char known[96];
    names_join(known, sizeof(known), names, count, false, ", ", ", ");
    push_key(p, json_object_get(object, "type") != NULL ? "type" : "release");
    return fail(p, "release %s has no machine type \"%s\" (it has %s)", release, type, known);
  }
  p->has_release = true;
  p->release_index = index;
  p->machine_index = machine;
  return true;
}

/* A release machine's firmware blocks follow the scenario's RAM (models/compat.h). */
static bool parse_firmware(struct parse *p, struct machine_config *config)
{
  char why[128];
  if (!p->has_release) return true;
  if (!compat_firmware_append(p->release_index, p->machine_index, config, why, sizeof(why))) {
    return fail(p, "%s", why);
  }
  return true;
}

static bool parse_machine(struct parse *p, json_t *root, struct machine_config *config,
                          char *release)
{
  static const char *const keys[] = {"type", "release", "ram", "devices", "device_driver",
                                     "iommu_driver", NULL};
  json_t *machine;
  if (!get_object(p, root, "machine", &machine)) return false;
  if (!check_keys(p, machine, keys)) return false;
  if (!get_string(p, machine, "type", config->type, sizeof(config->type))) return false;
  if (!parse_release(p, machine, "", config->type, release)) return false;
  if (!parse_ram(p, machine, config)) return false;
  json_t *devices = json_object_get(machine, "devices");
  if (devices != NULL) {
    push_key(p, "devices");
    if (!json_is_array(devices) || json_array_size(devices) > MACHINE_DEVICES_MAX) {
      return fail(p, "\"devices\" must be an array of at most %d", MACHINE_DEVICES_MAX);
    }
    for (size_t i = 0; i < json_array_size(devices); i++) {
      push_index(p, i);
      if (!parse_device(p, json_array_get(devices, i), config, i)) return false;
      pop(p);
    }
    config->device_count = (uint32_t)json_array_size(devices);
    pop(p);
  }
  if (!parse_device_driver(p, machine, config)) return false;
  if (!parse_iommu_driver(p, machine, config)) return false;
  if (!parse_firmware(p, config)) return false;
  char why[CONFORM_ERROR_BYTES / 2];
  if (!machine_config_check(config, why, sizeof(why))) return fail(p, "%s", why);
  pop(p);
  return true;
}

/* A hop's "devices": {"addr", properties...} entries that override the device there. */
static bool parse_overrides(struct parse *p, json_t *hop, struct machine_config *config)
{
  json_t *list = json_object_get(hop, "devices");
  if (list == NULL) return true;
  push_key(p, "devices");
  if (!json_is_array(list)) return fail(p, "\"devices\" must be an array of overrides");
  for (size_t i = 0; i < json_array_size(list); i++) {
    json_t *entry = json_array_get(list, i);
    push_index(p, i);
    if (!json_is_object(entry)) return fail(p, "an override must be an object");
    char addr[16];
    struct dev_config where = {0};
    if (!get_string(p, entry, "addr", addr, sizeof(addr))) return false;
    push_key(p, "addr");
    if (!parse_pci_addr(addr, &where)) return fail(p, "bad PCI address \"%s\"", addr);
    struct dev_config *device = NULL;
    for (uint32_t d = 0; d < config->device_count && device == NULL; d++) {
      struct dev_config *at = &config->devices[d];
      if (at->bus == where.bus && at->slot == where.slot && at->function == where.function) {
        device = at;
      }
    }
    if (device == NULL) return fail(p, "no device at \"%s\" on the source", addr);
    pop(p);
    const struct dev_class *cls = dev_class_find(device->driver);
    char driver[DEV_DRIVER_BYTES_MAX + 1];
    if (json_object_get(entry, "driver") != NULL &&
        (!get_string(p, entry, "driver", driver, sizeof(driver)) ||
         strcmp(driver, device->driver) != 0)) {
      push_key(p, "driver");
      return fail(p, "the device at \"%s\" is a %s", addr, device->driver);
    }
    if (!check_device_keys(p, entry, cls) || !parse_device_properties(p, entry, device, cls) ||
        !parse_device_quirks(p, entry, device, cls)) {
      return false;
    }
    pop(p);
  }
  pop(p);
  return true;
}

/*
 * One "destination" entry: the source's machine (its devices' entries, its
 * drivers, its vCPU programs) rebuilt with the hop's release and machine
 * type, then the hop's overrides and RAM.  Same number of RAM blocks.
 */
static bool parse_hop(struct parse *p, json_t *machine, json_t *hop,
                      const struct conform_scenario *scenario, struct machine_config *out,
                      char *release)
{
  static const char *const keys[] = {"release", "type", "devices", "ram", NULL};
  if (!json_is_object(hop)) return fail(p, "a destination must be an object");
  if (!check_keys(p, hop, keys)) return false;
  memset(out, 0, sizeof(*out));
  snprintf(out->type, sizeof(out->type), "%s", scenario->machine.type);
  if (json_object_get(hop, "type") != NULL &&
      !get_string(p, hop, "type", out->type, sizeof(out->type))) {
    return false;
  }
  if (!parse_release(p, hop, scenario->release, out->type, release)) return false;
  if (!parse_ram(p, json_object_get(hop, "ram") != NULL ? hop : machine, out)) return false;
  json_t *devices = json_object_get(machine, "devices");
  for (size_t i = 0; devices != NULL && i < json_array_size(devices); i++) {
    if (!parse_device(p, json_array_get(devices, i), out, i)) return false;
  }
  out->device_count = scenario->machine.device_count;
  if (!parse_device_driver(p, machine, out) || !parse_iommu_driver(p, machine, out) ||
      !parse_overrides(p, hop, out) || !parse_firmware(p, out)) {
    return false;
  }
  out->vcpu_count = scenario->machine.vcpu_count;
  memcpy(out->vcpus, scenario->machine.vcpus, sizeof(out->vcpus));
  if (out->ram_count != scenario->machine.ram_count) {
    return fail(p, "the destination has %" PRIu32 " RAM blocks, the source %" PRIu32
                " (a side may resize blocks, not add or drop them)", out->ram_count,
                scenario->machine.ram_count);
  }
  char why[CONFORM_ERROR_BYTES / 2];
  if (!machine_config_check(out, why, sizeof(why))) return fail(p, "%s", why);
  return true;
}

/* "destination": one object, or an array of them (a chain of migrations). */
static bool parse_destinations(struct parse *p, json_t *root, struct conform_scenario *scenario)
{
  json_t *value = json_object_get(root, "destination");
  if (value == NULL) return true;
  push_key(p, "destination");
  bool chain = json_is_array(value);
  size_t count = chain ? json_array_size(value) : 1;
  if (count == 0 || count > CONFORM_HOPS_MAX) {
    return fail(p, "\"destination\" must be an object or 1..%d of them", CONFORM_HOPS_MAX);
  }
  json_t *machine = json_object_get(root, "machine");
  for (size_t i = 0; i < count; i++) {
    if (chain) push_index(p, i);
    if (!parse_hop(p, machine, chain ? json_array_get(value, i) : value, scenario,
                   &scenario->destinations[i], scenario->destination_releases[i])) {
      return false;
    }
    if (chain) pop(p);
  }
  scenario->destination_count = (uint32_t)count;
  pop(p);
  return true;
}

static bool parse_workload_kind(struct parse *p, json_t *object, struct vcpu_config *vcpu)
{
  static const enum vcpu_workload kinds[] = {VCPU_WORKLOAD_UNIFORM, VCPU_WORKLOAD_IDLE,
                                             VCPU_WORKLOAD_HOTSET, VCPU_WORKLOAD_SWEEP,
                                             VCPU_WORKLOAD_ZIPF};
  json_t *value = json_object_get(object, "kind");
  vcpu->kind = VCPU_WORKLOAD_UNIFORM;
  vcpu->checksum = false; /* the original program: no cpu/workload subsection */
  if (value == NULL) return true;
  push_key(p, "kind");
  const char *text = json_string_value(value);
  for (size_t i = 0; text != NULL && i < SIM_ARRAY_COUNT(kinds); i++) {
    if (strcmp(text, vcpu_workload_name(kinds[i])) == 0) {
      vcpu->kind = kinds[i];
      vcpu->checksum = true;
      pop(p);
      return true;
    }
  }
  return fail(p, "\"kind\" must be one of \"idle\", \"uniform\", \"hotset\", \"sweep\", "
              "\"zipf\"");
}

/* A key that only some kinds take: present exactly when the kind needs it. */
static bool check_kind_key(struct parse *p, json_t *object, const char *key, bool wanted,
                           const char *kind)
{
  bool present = json_object_get(object, key) != NULL;
  if (present == wanted) return true;
  if (!present) return fail(p, "kind \"%s\" needs \"%s\"", kind, key);
  push_key(p, key);
  return fail(p, "\"%s\" does not apply to kind \"%s\"", key, kind);
}

/* One vCPU program (the caller has pushed its position). */
static bool parse_program(struct parse *p, json_t *object, const struct machine_config *config,
                          bool allow_vcpus, struct vcpu_config *vcpu)
{
  static const char *const keys[] = {"kind", "block", "pages_per_s", "duration_ns",
                                     "fill_pages", "device_every", "hot_pages", "hot_writes",
                                     "s", "vcpus", NULL};
  if (!json_is_object(object)) return fail(p, "a workload must be an object");
  if (!check_keys(p, object, keys) || !parse_workload_kind(p, object, vcpu)) return false;
  if (!allow_vcpus && json_object_get(object, "vcpus") != NULL) {
    push_key(p, "vcpus");
    return fail(p, "\"vcpus\" belongs to the object form; an array lists one program per vCPU");
  }
  const char *kind = vcpu_workload_name(vcpu->kind);
  bool idle = vcpu->kind == VCPU_WORKLOAD_IDLE;
  bool hotset = vcpu->kind == VCPU_WORKLOAD_HOTSET;
  if ((idle && !check_kind_key(p, object, "pages_per_s", false, kind)) ||
      !check_kind_key(p, object, "hot_pages", hotset, kind) ||
      !check_kind_key(p, object, "hot_writes", hotset, kind) ||
      !check_kind_key(p, object, "s", vcpu->kind == VCPU_WORKLOAD_ZIPF, kind)) {
    return false;
  }
  uint64_t device_every = 0;
  bool ok = get_u64(p, object, "pages_per_s", 0, VCPU_PAGES_PER_S_MAX, !idle,
                    &vcpu->pages_per_s) &&
            get_u64(p, object, "duration_ns", 0, UINT64_C(1) << 50, !idle,
                    &vcpu->duration_ns) &&
            get_u64(p, object, "fill_pages", 0, UINT64_C(1) << 30, false, &vcpu->fill_pages) &&
            get_u64(p, object, "device_every", 0, UINT32_MAX, false, &device_every) &&
            get_scaled(p, object, "hot_pages", false, 1, VCPU_PPM, &vcpu->hot_pages_ppm) &&
            get_scaled(p, object, "hot_writes", true, 1, VCPU_PPM, &vcpu->hot_writes_ppm) &&
            get_scaled(p, object, "s", true, VCPU_ZIPF_S_MILLI_MAX / 1000.0, 1000,
                       &vcpu->zipf_s_milli);
  if (!ok) return false;
  vcpu->device_every = (uint32_t)device_every;
  if (hotset && vcpu->hot_pages_ppm == 0) {
    push_key(p, "hot_pages");
    return fail(p, "\"hot_pages\" rounds to no page at all");
  }
  char block[RAM_BLOCK_NAME_BYTES_MAX + 1];
  if (json_object_get(object, "block") != NULL) {
    if (!get_string(p, object, "block", block, sizeof(block))) return false;
    uint32_t i = 0;
    while (i < config->ram_count && strcmp(config->ram[i].name, block) != 0) i++;
    if (i == config->ram_count) {
      push_key(p, "block");
      return fail(p, "no RAM block \"%s\" in \"machine.ram\"", block);
    }
    vcpu->block_index = i;
  }
  /* The boot fill writes pages 0..fill_pages-1 of the block: all of them must exist. */
  uint64_t block_pages = config->ram[vcpu->block_index].bytes / RAM_PAGE_BYTES;
  if (vcpu->fill_pages > block_pages) {
    push_key(p, "fill_pages");
    return fail(p, "\"fill_pages\" is %" PRIu64 ", more than the %" PRIu64 " pages of block "
                "\"%s\"", vcpu->fill_pages, block_pages, config->ram[vcpu->block_index].name);
  }
  return true;
}

/* "workload": one program (object, optionally run by "vcpus" vCPUs) or one per vCPU (array). */
static bool parse_workload(struct parse *p, json_t *root, struct machine_config *config)
{
  json_t *workload = json_object_get(root, "workload");
  if (workload == NULL) return fail(p, "missing object \"workload\"");
  push_key(p, "workload");
  if (json_is_array(workload)) {
    size_t count = json_array_size(workload);
    if (count == 0 || count > VCPUS_MAX) {
      return fail(p, "\"workload\" must list 1..%d vCPU programs", VCPUS_MAX);
    }
    for (size_t i = 0; i < count; i++) {
      push_index(p, i);
      if (!parse_program(p, json_array_get(workload, i), config, false, &config->vcpus[i])) {
        return false;
      }
      pop(p);
    }
    config->vcpu_count = (uint32_t)count;
    pop(p);
    return true;
  }
  if (!json_is_object(workload)) return fail(p, "\"workload\" must be an object or an array");
  if (!parse_program(p, workload, config, true, &config->vcpus[0])) return false;
  uint64_t vcpus = 1;
  if (!get_u64(p, workload, "vcpus", 1, VCPUS_MAX, false, &vcpus)) return false;
  for (uint64_t i = 1; i < vcpus; i++) config->vcpus[i] = config->vcpus[0];
  config->vcpu_count = (uint32_t)vcpus;
  pop(p);
  return true;
}

static bool parse_link(struct parse *p, json_t *root, struct link_options *link)
{
  static const char *const keys[] = {"bandwidth_bytes_per_s", "latency_ns", "window_bytes",
                                     "packet_bytes", NULL};
  json_t *object;
  if (!get_object(p, root, "link", &object)) return false;
  if (!check_keys(p, object, keys)) return false;
  uint64_t window_bytes = UINT64_C(1) << 20;
  uint64_t packet_bytes = UINT64_C(64) << 10;
  bool ok = get_u64(p, object, "bandwidth_bytes_per_s", 1, UINT64_C(1) << 40, true,
                    &link->bandwidth_bytes_per_s) &&
            get_u64(p, object, "latency_ns", 0, 100 * SIM_NS_PER_S, true, &link->latency_ns) &&
            get_u64(p, object, "window_bytes", 4096, SIM_LINK_PACKET_BYTES_MAX, false,
                    &window_bytes) &&
            get_u64(p, object, "packet_bytes", 1, SIM_LINK_PACKET_BYTES_MAX, false,
                    &packet_bytes);
  if (!ok) return false;
  if (packet_bytes > window_bytes) {
    push_key(p, "packet_bytes");
    return fail(p, "\"packet_bytes\" exceeds \"window_bytes\"");
  }
  link->window_bytes = (uint32_t)window_bytes;
  link->packet_bytes_max = (uint32_t)packet_bytes;
  pop(p);
  return true;
}

/* "transport": the connection's timers for every URI but sim: (docs/transports.md). */
static bool parse_transport(struct parse *p, json_t *root, struct conform_scenario *scenario)
{
  static const char *const keys[] = {"dead_ns", "rto_ns_min", NULL};
  json_t *object;
  if (json_object_get(root, "transport") == NULL) return true;
  if (!get_object(p, root, "transport", &object) || !check_keys(p, object, keys) ||
      !get_u64(p, object, "dead_ns", 1, SIM_LINK_CONN_TIMEOUT_NS_MAX, false,
               &scenario->transport_dead_ns) ||
      !get_u64(p, object, "rto_ns_min", 1, SIM_LINK_CONN_TIMEOUT_NS_MAX, false,
               &scenario->transport_rto_ns_min)) {
    return false;
  }
  pop(p);
  return true;
}

/* One migrate-set-parameters value, by the parameter's kind (mig_caps.h), QMP units. */
static bool parse_parameter(struct parse *p, json_t *arguments, const char *key,
                            enum mig_param param, uint64_t *out)
{
  enum mig_param_kind kind = mig_param_kind(param);
  if (kind == MIG_PARAM_U64) {
    return get_u64(p, arguments, key, mig_param_low(param),
                   SIM_MIN(mig_param_high(param), (uint64_t)INT64_MAX), true, out);
  }
  json_t *value = json_object_get(arguments, key);
  push_key(p, key);
  if (kind == MIG_PARAM_BOOL) {
    if (!json_is_boolean(value)) return fail(p, "\"%s\" must be true or false", key);
    *out = json_is_true(value);
  } else if (kind == MIG_PARAM_STRING) {
    /* TLS is not simulated: only the empty string, which QMP takes as "off". */
    if (!json_is_string(value) || json_string_length(value) != 0) {
      return fail(p, "\"%s\" must be \"\" (TLS is not simulated)", key);
    }
    *out = 0;
  } else {
    const char *const *names = mig_param_names(param);
    const char *text = json_string_value(value);
    uint64_t i = 0;
    while (names[i] != NULL && (text == NULL || strcmp(text, names[i]) != 0)) i++;
    if (names[i] == NULL) {
      char list[160];
      size_t count = 0;
      while (names[count] != NULL) count++;
      names_join(list, sizeof(list), names, count, true, ", ", " or ");
      return fail(p, "\"%s\" must be %s", key, list);
    }
    *out = i;
  }
  pop(p);
  return true;
}

/* Values migsim does not model yet, refused rather than silently ignored. */
static bool parameter_supported(struct parse *p, enum mig_param param, uint64_t value)
{
  if (param == MIG_PARAM_MODE && value == MIG_MODE_CPR_REBOOT) {
    return fail(p, "\"mode\" \"cpr-reboot\" is not supported yet");
  }
  return true;
}

static bool parse_set_parameters(struct parse *p, json_t *arguments,
                                 struct conform_command *command)
{
  const char *key;
  json_t *value;
  json_object_foreach(arguments, key, value) {
    enum mig_param param;
    if (!mig_param_find(key, &param)) {
      push_key(p, key);
      if (strcmp(key, "block-bitmap-mapping") == 0) {
        return fail(p, "\"block-bitmap-mapping\" is not supported yet");
      }
      return fail(p, "unknown parameter \"%s\"", key);
    }
    uint64_t number = 0;
    if (!parse_parameter(p, arguments, key, param, &number)) return false;
    push_key(p, key);
    if (!parameter_supported(p, param, number)) return false;
    pop(p);
    command->params.given_mask |= UINT64_C(1) << param;
    command->params.params.values[param] = number;
  }
  return true;
}

/* One {"capability", "state"} entry (the caller has pushed its index). */
static bool parse_capability(struct parse *p, json_t *entry, struct conform_command *command)
{
  static const char *const entry_keys[] = {"capability", "state", NULL};
  if (!json_is_object(entry)) return fail(p, "a capability must be an object");
  if (!check_keys(p, entry, entry_keys)) return false;
  char name[64];
  if (!get_string(p, entry, "capability", name, sizeof(name))) return false;
  enum mig_cap cap;
  if (!mig_cap_find(name, &cap)) {
    /* QAPI refuses a name it does not know, whatever the state. */
    push_key(p, "capability");
    return fail(p, "Parameter 'capability' does not accept value '%s'", name);
  }
  json_t *state = json_object_get(entry, "state");
  push_key(p, "state");
  if (!json_is_boolean(state)) return fail(p, "\"state\" must be true or false");
  pop(p);
  if (json_is_true(state) && !mig_cap_implemented(cap)) {
    push_key(p, "capability");
    return fail(p, "capability \"%s\" is not supported yet", name);
  }
  command->caps_given.on[cap] = true;
  command->caps_state.on[cap] = json_is_true(state);
  return true;
}

static bool parse_set_capabilities(struct parse *p, json_t *arguments,
                                   struct conform_command *command)
{
  static const char *const keys[] = {"capabilities", NULL};
  if (!check_keys(p, arguments, keys)) return false;
  json_t *list = json_object_get(arguments, "capabilities");
  if (list == NULL) return fail(p, "missing \"capabilities\"");
  push_key(p, "capabilities");
  if (!json_is_array(list)) return fail(p, "\"capabilities\" must be an array");
  for (size_t i = 0; i < json_array_size(list); i++) {
    push_index(p, i);
    if (!parse_capability(p, json_array_get(list, i), command)) return false;
    pop(p);
  }
  pop(p);
  return true;
}

static const char *const transport_prefixes[CONFORM_TRANSPORT_COUNT] = {
    "sim:", "tcp:", "unix:", "exec:", "fd:", "file:", "rdma:"};

const char *conform_transport_name(enum conform_transport transport)
{
  static const char *const names[CONFORM_TRANSPORT_COUNT] = {"sim",  "tcp",  "unix", "exec",
                                                             "fd",   "file", "rdma"};
  SIM_ASSERT((unsigned)transport < CONFORM_TRANSPORT_COUNT);
  return names[transport];
}

/* "uri": one of QEMU's transports with something after the colon. */
static bool parse_uri(struct parse *p, json_t *arguments, struct conform_command *command)
{
  static const char *const keys[] = {"uri", NULL};
  if (!check_keys(p, arguments, keys) ||
      !get_string(p, arguments, "uri", command->uri, sizeof(command->uri))) {
    return false;
  }
  for (uint32_t t = 0; t < CONFORM_TRANSPORT_COUNT; t++) {
    size_t length = strlen(transport_prefixes[t]);
    if (strncmp(command->uri, transport_prefixes[t], length) == 0 &&
        command->uri[length] != '\0') {
      command->transport = (enum conform_transport)t;
      return true;
    }
  }
  push_key(p, "uri");
  return fail(p, "\"uri\" must be sim:, tcp:, unix:, exec:, fd:, file: or rdma: and a name");
}

/* migrate-continue {"state": "pre-switchover"}: the state the migration must be in. */
static bool parse_continue(struct parse *p, json_t *arguments, struct conform_command *command)
{
  static const char *const keys[] = {"state", NULL};
  char state[32];
  if (!check_keys(p, arguments, keys) || !get_string(p, arguments, "state", state,
                                                     sizeof(state))) {
    return false;
  }
  if (!mig_state_find(state, &command->state)) {
    push_key(p, "state");
    return fail(p, "Parameter 'state' does not accept value '%s'", state);
  }
  return true;
}

/* QMP commands: name, kind, and how their arguments parse. */
static bool parse_command_arguments(struct parse *p, json_t *arguments,
                                    struct conform_command *command)
{
  static const struct {
    const char *name;
    enum conform_command_kind kind;
  } table[] = {
      {"migrate-set-parameters", CONFORM_COMMAND_SET_PARAMETERS},
      {"migrate-set-capabilities", CONFORM_COMMAND_SET_CAPABILITIES},
      {"migrate", CONFORM_COMMAND_MIGRATE},
      {"migrate-incoming", CONFORM_COMMAND_MIGRATE_INCOMING},
      {"migrate-cancel", CONFORM_COMMAND_CANCEL},
      {"migrate-start-postcopy", CONFORM_COMMAND_START_POSTCOPY},
      {"migrate-pause", CONFORM_COMMAND_PAUSE},
      {"migrate-recover", CONFORM_COMMAND_RECOVER},
      {"migrate-continue", CONFORM_COMMAND_CONTINUE},
      {"query-migrate", CONFORM_COMMAND_QUERY_MIGRATE},
  };
  size_t i = 0;
  while (i < SIM_ARRAY_COUNT(table) && strcmp(table[i].name, command->execute) != 0) i++;
  if (i == SIM_ARRAY_COUNT(table)) {
    pop(p);
    push_key(p, "execute");
    return fail(p, "unknown command \"%s\"", command->execute);
  }
  command->kind = table[i].kind;
  switch (command->kind) {
  case CONFORM_COMMAND_SET_PARAMETERS: return parse_set_parameters(p, arguments, command);
  case CONFORM_COMMAND_SET_CAPABILITIES: return parse_set_capabilities(p, arguments, command);
  case CONFORM_COMMAND_MIGRATE:
  case CONFORM_COMMAND_MIGRATE_INCOMING:
  case CONFORM_COMMAND_RECOVER: return parse_uri(p, arguments, command);
  case CONFORM_COMMAND_CONTINUE: return parse_continue(p, arguments, command);
  default:
    return json_object_size(arguments) == 0 ||
           fail(p, "%s takes no arguments", command->execute);
  }
}

static bool parse_command(struct parse *p, json_t *entry, struct conform_command *command)
{
  static const char *const keys[] = {"at_ns", "execute", "arguments", NULL};
  if (!json_is_object(entry)) return fail(p, "a command must be an object");
  if (!check_keys(p, entry, keys)) return false;
  if (!get_u64(p, entry, "at_ns", 0, UINT64_C(1) << 50, true, &command->at_ns)) return false;
  if (!get_string(p, entry, "execute", command->execute, sizeof(command->execute))) {
    return false;
  }
  json_t *arguments = json_object_get(entry, "arguments");
  json_t *empty = json_object();
  if (arguments == NULL) arguments = empty;
  push_key(p, json_object_get(entry, "arguments") != NULL ? "arguments" : "execute");
  bool ok = json_is_object(arguments) || fail(p, "\"arguments\" must be an object");
  ok = ok && parse_command_arguments(p, arguments, command);
  json_decref(empty);
  if (ok) pop(p);
  return ok;
}

/* What the commands so far have set up, for the checks QEMU makes when each one runs. */
struct command_state {
  struct mig_caps caps;              /* capabilities in force */
  struct mig_params params;          /* parameters in force */
  uint32_t migrate_count;            /* migrate commands so far */
  bool incoming;                     /* a migrate-incoming has run */
  char incoming_uri[128];            /* ...listening here */
  char saved_uri[128];               /* the last migrate to file:, or "" */
  bool restored;                     /* a migrate-incoming read it back */
};

/* A file holds one stream: nothing reads it back while it is written (QEMU 8.2's file:). */
static bool check_file_caps(struct parse *p, const struct command_state *state)
{
  static const enum mig_cap refused[] = {MIG_CAP_RETURN_PATH, MIG_CAP_POSTCOPY_RAM,
                                         MIG_CAP_MULTIFD, MIG_CAP_SWITCHOVER_ACK};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(refused); i++) {
    if (state->caps.on[refused[i]]) {
      return fail(p, "file: has no way back and one stream: capability \"%s\" is not "
                  "supported with it (migsim; docs/transports.md)", mig_cap_name(refused[i]));
    }
  }
  return true;
}

/* migrate-incoming "file:...": loads a file an earlier migrate wrote (loadvm's shape). */
static bool check_restore(struct parse *p, struct command_state *state,
                          const struct conform_command *command)
{
  if (state->saved_uri[0] == '\0' || strcmp(state->saved_uri, command->uri) != 0) {
    return fail(p, "\"%s\": no earlier \"migrate\" wrote this file (migsim's files live "
                "in the scenario)", command->uri);
  }
  if (state->restored) return fail(p, "The incoming migration has already been started");
  state->restored = true;
  return true;
}

/* x-ignore-shared leaves shared blocks in place: without one, it would change nothing. */
static bool machine_has_shared(const struct machine_config *config)
{
  for (uint32_t i = 0; i < config->ram_count; i++) {
    if (config->ram[i].shared) return true;
  }
  return false;
}

static bool check_set_capabilities(struct parse *p, struct command_state *state,
                                   const struct conform_command *command)
{
  if (state->migrate_count > 0) {
    /* QERR_MIGRATION_ACTIVE: a scenario sets capabilities before it migrates. */
    return fail(p, "There's a migration process in progress (capabilities are set before "
                "\"migrate\")");
  }
  struct mig_caps next = state->caps;
  for (uint32_t c = 0; c < MIG_CAP_COUNT; c++) {
    if (command->caps_given.on[c]) next.on[c] = command->caps_state.on[c];
  }
  char why[256];
  if (!mig_caps_check(&state->caps, &next, state->incoming, why, sizeof(why))) {
    return fail(p, "%s", why);
  }
  state->caps = next;
  return true;
}

static bool check_migrate(struct parse *p, struct command_state *state,
                          struct conform_scenario *scenario,
                          const struct conform_command *command)
{
  if (command->at_ns > scenario->time_ns_max) {
    return fail(p, "\"migrate\" at %" PRIu64 " ns is after limits.time_ns_max (%" PRIu64
                " ns): it would never run", command->at_ns, scenario->time_ns_max);
  }
  if (state->caps.on[MIG_CAP_X_IGNORE_SHARED] && !machine_has_shared(&scenario->machine)) {
    return fail(p, "x-ignore-shared needs a shared RAM block (\"shared\": true); with none it "
                "changes nothing (migsim refuses, QEMU would migrate every page)");
  }
  if (state->incoming && strcmp(state->incoming_uri, command->uri) != 0) {
    return fail(p, "\"uri\" \"%s\" is not where the destination listens (\"%s\", "
                "migrate-incoming)", command->uri, state->incoming_uri);
  }
  struct mig_conn_profile profile;
  char why[256];
  if (!conform_transport_profile(command->transport, scenario, &profile, why, sizeof(why))) {
    return fail(p, "%s", why);
  }
  if (command->transport == CONFORM_TRANSPORT_FILE && !check_file_caps(p, state)) return false;
  if (command->transport == CONFORM_TRANSPORT_FILE) {
    snprintf(state->saved_uri, sizeof(state->saved_uri), "%s", command->uri);
  }
  if (state->migrate_count == 0) scenario->caps = state->caps;
  state->migrate_count++;
  return true;
}

/* The checks QEMU makes when each command runs, applied in time order. */
static bool check_command(struct parse *p, struct command_state *state,
                          struct conform_scenario *scenario,
                          const struct conform_command *command)
{
  char why[256];
  switch (command->kind) {
  case CONFORM_COMMAND_SET_PARAMETERS:
    if (!mig_params_check(&state->params, &command->params, &state->caps, why, sizeof(why))) {
      return fail(p, "%s", why);
    }
    mig_params_apply(&state->params, &command->params);
    return true;
  case CONFORM_COMMAND_SET_CAPABILITIES: return check_set_capabilities(p, state, command);
  case CONFORM_COMMAND_MIGRATE: return check_migrate(p, state, scenario, command);
  case CONFORM_COMMAND_MIGRATE_INCOMING:
    if (command->transport == CONFORM_TRANSPORT_FILE) return check_restore(p, state, command);
    if (state->incoming || state->migrate_count > 0) {
      return fail(p, "The incoming migration has already been started");
    }
    state->incoming = true;
    snprintf(state->incoming_uri, sizeof(state->incoming_uri), "%s", command->uri);
    return true;
  case CONFORM_COMMAND_START_POSTCOPY:
    if (!state->caps.on[MIG_CAP_POSTCOPY_RAM]) {
      return fail(p, "Enable postcopy with migrate_set_capability before the start of "
                  "migration");
    }
    if (state->migrate_count == 0) {
      return fail(p, "Postcopy must be started after migration has been started");
    }
    return true;
  case CONFORM_COMMAND_CONTINUE:
    if (!state->caps.on[MIG_CAP_PAUSE_BEFORE_SWITCHOVER]) {
      return fail(p, "migrate-continue needs pause-before-switchover (the migration never "
                  "waits in pre-switchover without it)");
    }
    return true;
  default: return true;
  }
}

static bool parse_commands(struct parse *p, json_t *root, struct conform_scenario *scenario)
{
  json_t *commands = json_object_get(root, "commands");
  if (commands == NULL) return true;
  push_key(p, "commands");
  if (!json_is_array(commands) || json_array_size(commands) > CONFORM_COMMANDS_MAX) {
    return fail(p, "\"commands\" must be an array of at most %d", CONFORM_COMMANDS_MAX);
  }
  uint32_t migrate_count = 0;
  struct command_state state = {0};
  mig_params_default(&state.params);
  for (size_t i = 0; i < json_array_size(commands); i++) {
    struct conform_command *command = &scenario->commands[i];
    push_index(p, i);
    if (!parse_command(p, json_array_get(commands, i), command)) return false;
    if (i > 0 && command->at_ns < scenario->commands[i - 1].at_ns) {
      return fail(p, "commands must be listed in time order");
    }
    if (!check_command(p, &state, scenario, command)) return false;
    /* A chain ("destination": [...]) migrates once per hop; otherwise once. */
    uint32_t migrates_max = SIM_MAX(scenario->destination_count, 1);
    if (command->kind == CONFORM_COMMAND_MIGRATE && ++migrate_count > migrates_max) {
      if (migrates_max > 1) {
        return fail(p, "one migrate command per \"destination\" entry (%" PRIu32 ")",
                    migrates_max);
      }
      return fail(p, "only one migrate command per scenario");
    }
    scenario->command_count++;
    pop(p);
  }
  pop(p);
  return true;
}

/* "retry_delay_ns", "retries" and "expect": what follows a failed migration. */
static bool parse_migration_outcome(struct parse *p, json_t *migration,
                                    struct conform_scenario *scenario)
{
  bool has_delay = json_object_get(migration, "retry_delay_ns") != NULL;
  uint64_t retries = has_delay ? 1 : 0;
  if (!get_u64(p, migration, "retry_delay_ns", 0, UINT64_C(1) << 50, false,
               &scenario->retry_delay_ns) ||
      !get_u64(p, migration, "retries", 1, CONFORM_RETRIES_MAX, false, &retries)) {
    return false;
  }
  if (!has_delay && json_object_get(migration, "retries") != NULL) {
    push_key(p, "retries");
    return fail(p, "\"retries\" needs \"retry_delay_ns\"");
  }
  scenario->retries_max = (uint32_t)retries;
  json_t *expect = json_object_get(migration, "expect");
  if (expect == NULL) return true;
  push_key(p, "expect");
  const char *text = json_string_value(expect);
  if (text != NULL && strcmp(text, "completed") == 0) {
    scenario->expect = CONFORM_EXPECT_COMPLETED;
  } else if (text != NULL && strcmp(text, "failed") == 0) {
    scenario->expect = CONFORM_EXPECT_FAILED;
  } else if (text != NULL && strcmp(text, "cancelled") == 0) {
    scenario->expect = CONFORM_EXPECT_CANCELLED;
  } else {
    return fail(p, "\"expect\" must be \"completed\", \"failed\" or \"cancelled\"");
  }
  pop(p);
  return true;
}

/* migration.quirks: engine bugs QEMU once had, on purpose (mig_precopy_params). */
static bool parse_migration_quirks(struct parse *p, json_t *migration,
                                   struct conform_scenario *scenario)
{
  json_t *quirks = json_object_get(migration, "quirks");
  if (quirks == NULL) return true;
  push_key(p, "quirks");
  if (!json_is_array(quirks)) return fail(p, "\"quirks\" must be a list of names");
  for (size_t i = 0; i < json_array_size(quirks); i++) {
    push_index(p, i);
    const char *name = json_string_value(json_array_get(quirks, i));
    if (name == NULL || strcmp(name, "serialize-iterate") != 0) {
      return fail(p, "unknown migration quirk (known: \"serialize-iterate\")");
    }
    scenario->quirk_serialize_iterate = true;
    pop(p);
  }
  pop(p);
  return true;
}

/* migration.explore_cut: {"points": K}, cut-point exploration (docs/campaign.md). */
static bool parse_explore_cut(struct parse *p, json_t *migration,
                              struct conform_scenario *scenario)
{
  static const char *const keys[] = {"points", NULL};
  json_t *explore;
  if (json_object_get(migration, "explore_cut") == NULL) return true;
  uint64_t points = 0;
  if (!get_object(p, migration, "explore_cut", &explore) || !check_keys(p, explore, keys) ||
      !get_u64(p, explore, "points", 1, CONFORM_CUT_POINTS_MAX, true, &points)) {
    return false;
  }
  scenario->cut_points_count = (uint32_t)points;
  pop(p);
  return true;
}

/* One "shm_clients" entry: a region of a named RAM block, whole pages inside it. */
static bool parse_shm_client(struct parse *p, json_t *entry, const struct machine_config *machine,
                             uint32_t index, struct conform_shm_client *client)
{
  static const char *const keys[] = {"block", "offset", "bytes", "reads_per_s", "duration_ns",
                                     "register", NULL};
  if (!json_is_object(entry)) return fail(p, "a shared-memory client must be an object");
  if (!check_keys(p, entry, keys)) return false;
  char block[RAM_BLOCK_NAME_BYTES_MAX + 1];
  if (!get_string(p, entry, "block", block, sizeof(block))) return false;
  uint32_t block_index = machine->ram_count;
  for (uint32_t i = 0; i < machine->ram_count; i++) {
    if (strcmp(machine->ram[i].name, block) == 0) block_index = i;
  }
  if (block_index == machine->ram_count) {
    push_key(p, "block");
    return fail(p, "no RAM block \"%s\" in the machine", block);
  }
  uint64_t block_bytes = machine->ram[block_index].bytes;
  struct shmclient_config *config = &client->config;
  *config = (struct shmclient_config){.block_index = block_index,
                                      .client_base = UINT64_C(0x7f0000000000) +
                                                     ((uint64_t)index << 36)};
  client->registered = true;
  if (!get_u64(p, entry, "offset", 0, block_bytes - RAM_PAGE_BYTES, true,
               &config->map_offset_bytes) ||
      !get_u64(p, entry, "bytes", RAM_PAGE_BYTES, block_bytes, true, &config->map_bytes) ||
      !get_u64(p, entry, "reads_per_s", 1, UINT64_C(10000000), true, &config->reads_per_s) ||
      !get_u64(p, entry, "duration_ns", 1, UINT64_C(1) << 50, true, &config->duration_ns) ||
      !get_bool(p, entry, "register", &client->registered)) {
    return false;
  }
  if (config->map_offset_bytes % RAM_PAGE_BYTES != 0 || config->map_bytes % RAM_PAGE_BYTES != 0 ||
      config->map_bytes > block_bytes - config->map_offset_bytes) {
    return fail(p, "\"offset\" and \"bytes\" must be whole pages inside \"%s\" (%" PRIu64
            " bytes)", block, block_bytes);
  }
  return true;
}

/* "shm_clients": vhost-user-style processes sharing guest memory (conform_scenario.h). */
static bool parse_shm_clients(struct parse *p, json_t *root, struct conform_scenario *scenario)
{
  json_t *list = json_object_get(root, "shm_clients");
  if (list == NULL) return true;
  push_key(p, "shm_clients");
  if (!json_is_array(list) || json_array_size(list) > CONFORM_SHM_CLIENTS_MAX) {
    return fail(p, "\"shm_clients\" must be an array of at most %d", CONFORM_SHM_CLIENTS_MAX);
  }
  for (size_t i = 0; i < json_array_size(list); i++) {
    push_index(p, i);
    if (!parse_shm_client(p, json_array_get(list, i), &scenario->machine, (uint32_t)i,
                          &scenario->shm_clients[i])) {
      return false;
    }
    pop(p);
  }
  scenario->shm_client_count = (uint32_t)json_array_size(list);
  pop(p);
  return true;
}

static bool parse_root(struct parse *p, json_t *root, struct conform_scenario *scenario)
{
  static const char *const keys[] = {"description", "seed", "limits", "machine", "destination",
                                     "workload", "link", "transport", "migration", "commands",
                                     "faults", "regress", "shm_clients", NULL};
  static const char *const limit_keys[] = {"events_max", "time_ns_max", NULL};
  static const char *const migration_keys[] = {"section_pages", "retry_delay_ns", "retries",
                                               "expect", "explore_cut", "quirks", NULL};
  if (!json_is_object(root)) return fail(p, "a scenario must be a JSON object");
  if (!check_keys(p, root, keys)) return false;
  if (json_object_get(root, "description") != NULL &&
      !get_string(p, root, "description", scenario->description,
                  sizeof(scenario->description))) {
    return false;
  }
  if (!get_u64(p, root, "seed", 0, INT64_MAX, true, &scenario->seed)) return false;
  json_t *limits;
  if (!get_object(p, root, "limits", &limits) || !check_keys(p, limits, limit_keys) ||
      !get_u64(p, limits, "events_max", 1, UINT64_C(1) << 40, true, &scenario->events_max) ||
      !get_u64(p, limits, "time_ns_max", 1, UINT64_C(1) << 50, true, &scenario->time_ns_max)) {
    return false;
  }
  pop(p);
  if (!parse_machine(p, root, &scenario->machine, scenario->release)) return false;
  if (!parse_workload(p, root, &scenario->machine)) return false;
  if (!parse_destinations(p, root, scenario)) return false;
  if (!parse_link(p, root, &scenario->link)) return false;
  if (!parse_transport(p, root, scenario)) return false;
  scenario->section_pages_max = 256;
  json_t *migration = json_object_get(root, "migration");
  if (migration != NULL) {
    if (!get_object(p, root, "migration", &migration) ||
        !check_keys(p, migration, migration_keys) ||
        !get_u64(p, migration, "section_pages", 1, 65536, false,
                 &scenario->section_pages_max) ||
        !parse_migration_outcome(p, migration, scenario) ||
        !parse_explore_cut(p, migration, scenario) ||
        !parse_migration_quirks(p, migration, scenario)) {
      return false;
    }
    pop(p);
  }
  if (!parse_commands(p, root, scenario)) return false;
  if (!parse_shm_clients(p, root, scenario)) return false;
  /* "faults" and "regress" belong to the fault-plan language (conform_plan.h). */
  return conform_plan_parse_scenario(p->json.text, p->json.length, p->json.name, root,
                                     &scenario->faults, p->json.error, p->json.error_bytes);
}

bool conform_scenario_parse(const char *text, size_t length, const char *name,
                            struct conform_scenario *scenario, char *error,
                            size_t error_bytes)
{
  memset(scenario, 0, sizeof(*scenario));
  snprintf(scenario->name, sizeof(scenario->name), "%s", name);
  struct parse p = {.json = {.text = text, .length = length, .name = name, .error = error,
                             .error_bytes = error_bytes}};
  json_t *root = conform_json_load(&p.json, CONFORM_SCENARIO_BYTES_MAX);
  if (root == NULL) return false;
  scenario->text_xxh3 = XXH3_64bits(text, length);
  bool ok = parse_root(&p, root, scenario);
  json_decref(root);
  return ok;
}

bool conform_scenario_load(const char *path, struct conform_scenario *scenario, char *error,
                           size_t error_bytes)
{
  char *text = NULL;
  size_t length = 0;
  if (!conform_json_file_read(path, "scenario", CONFORM_SCENARIO_BYTES_MAX, &text, &length,
                              error, error_bytes)) {
    return false;
  }
  bool ok = conform_scenario_parse(text, length, path, scenario, error, error_bytes);
  free(text);
  return ok;
}
