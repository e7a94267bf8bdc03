/*
 * mig_destcheck.c: the checks of a known destination over the walk
 * (mig_destcheck.h).  QEMU 7.2's behaviour, read in migration/savevm.c
 * (qemu_loadvm_section_start_full, check_section_footer,
 * qemu_loadvm_state) and migration/vmstate.c (vmstate_load_state,
 * vmstate_subsection_load) at v7.2.0.
 */
#include "mig_destcheck.h"

#include "mig_compress.h"
#include "mig_devsem.h"
#include "mig_record.h"
#include "mig_virtio.h"
#include "mig_vmsd_int.h"

#include <jansson.h>

#define DESTCHECK_DEPTH_MAX 8u
/*
 * The RAM block QEMU maps at address 0, kept page by page below 4 GiB for the
 * post_load rules that read RAM (kvmvapic's ROM address is a uint32): at most
 * 2^20 entries of 8 bytes.
 */
#define DESTCHECK_LOW_BLOCK "pc.ram"
#define DESTCHECK_LOW_BYTES_MAX (UINT64_C(1) << 32)

/*
 * Sections a QEMU 7.2 x86 destination loads that -dump-vmstate does not list
 * (registered without a device class, or by SaveVMHandlers): the FULL
 * sections of the corpus's streams that are not in their machine's dump, and
 * the live handlers.
 */
static const char *const outside_dump[] = {
    "PCIBUS", "acpi_build", "apic", "cpu", "cpu_common", "globalstate", "i2c_bus", "ide",
    "timer", "slirp", "ram", "block", "dirty-bitmap", "vfio",
};

/*
 * Old-style handlers (SaveVMHandlers without a VMSD) have no version in the
 * VM description either: their version_id from QEMU 7.2's sources
 * (net/slirp.c: register_savevm_live("slirp", ..., 4, ...)).  QEMU refuses
 * only a version above it (qemu_loadvm_section_start_full).
 */
static const struct {
  const char *name;
  uint32_t version_max;
} old_style[] = {{"slirp", 4}};

struct destcheck {
  const struct mig_destcheck_options *options;
  const struct mig_inspect_visitor *inner;
  struct mig_destcheck_report *report;
  json_t *vmdesc;                      /* the stream's own trailer, parsed here; NULL */
  const json_t *devices;               /* its "devices" array, or NULL */
  bool *used;                          /* per devices entry */
  const uint8_t *bytes;                /* the stream */
  size_t count;
  /*
   * DESTCHECK_LOW_BLOCK as the destination holds it after the RAM records so
   * far, per page: state << 56 | datum, state LOW_UNSENT (zero, as a fresh
   * destination's RAM), LOW_FILL (ZERO record; datum: the fill byte),
   * LOW_PAGE (PAGE record; datum: its payload's stream offset) or
   * LOW_UNKNOWN (XBZRLE, compressed).
   */
  uint64_t *low;                       /* calloc'd on the block's first record */
  uint64_t low_pages;
  uint64_t low_block_bytes;            /* the block's size; 0: none seen */
};

enum { LOW_UNSENT, LOW_FILL, LOW_PAGE, LOW_UNKNOWN };
#define LOW_STATE_SHIFT 56

static void warn(struct destcheck *check, uint64_t offset, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void warn(struct destcheck *check, uint64_t offset, const char *format, ...)
{
  struct mig_destcheck_report *report = check->report;
  if (report->warning_count >= MIG_DESTCHECK_WARNINGS_MAX) {
    report->warnings_dropped++;
    return;
  }
  struct mig_destcheck_warning *warning = &report->warnings[report->warning_count++];
  warning->offset = offset;
  va_list args;
  va_start(args, format);
  vsnprintf(warning->text, sizeof warning->text, format, args);
  va_end(args);
}

static enum mig_err fail(struct mig_error *error, enum mig_err code, uint64_t offset,
                         const char *path, const char *format, ...)
    __attribute__((format(printf, 5, 6)));

static enum mig_err fail(struct mig_error *error, enum mig_err code, uint64_t offset,
                         const char *path, const char *format, ...)
{
  error->offset = offset;
  snprintf(error->path, sizeof error->path, "%s", path);
  va_list args;
  va_start(args, format);
  vsnprintf(error->detail, sizeof error->detail, format, args);
  va_end(args);
  return code;
}

bool mig_destcheck_sends_configuration(const char *machine_type)
{
  static const char *const prefixes[] = {"pc-i440fx-", "pc-q35-", "pc-"};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(prefixes); i++) {
    size_t length = strlen(prefixes[i]);
    if (strncmp(machine_type, prefixes[i], length) != 0) continue;
    unsigned major = 0, minor = 0;
    if (sscanf(machine_type + length, "%u.%u", &major, &minor) != 2) return true;
    return major > 2 || (major == 2 && minor >= 4);  /* hw_compat_2_3: send-configuration off */
  }
  return true;
}

/* ------------------------------------------------------------- the trailer */

static void trailer_parse(struct destcheck *check, const uint8_t *bytes, size_t count)
{
  uint64_t eof_offset = 0, json_offset = 0;
  if (!mig_record_trailer_find(bytes, count, &eof_offset, &json_offset)) return;
  check->vmdesc = json_loadb((const char *)bytes + json_offset, count - json_offset, 0, NULL);
  const json_t *devices = json_object_get(check->vmdesc, "devices");
  if (!json_is_array(devices) || json_array_size(devices) > MIG_SECTIONS_MAX) return;
  check->used = calloc(json_array_size(devices) + 1, sizeof(bool));
  if (check->used != NULL) check->devices = devices;
}

/*
 * ISA-era devices that QEMU 7.2 registers with a legacy alias id
 * (qdev_set_legacy_instance_id: their I/O base): for them 0xffffffff is no
 * alias.
 */
static const char *const legacy_alias[] = {"fdc", "mc146818rtc", "serial", "i8254", "i8259"};

static bool has_legacy_alias(const char *idstr)
{
  const char *slash = strrchr(idstr, '/');
  const char *vmsd = slash != NULL ? slash + 1 : idstr;
  for (size_t i = 0; i < SIM_ARRAY_COUNT(legacy_alias); i++) {
    if (strcmp(legacy_alias[i], vmsd) == 0) return true;
  }
  return false;
}

/*
 * The index of the first unused trailer entry for (idstr, instance), or -1.
 * Instance 0xffffffff matches any: QEMU's find_se also accepts a section's
 * alias id, which is -1 for every handler registered without a legacy one.
 */
static long trailer_entry_index(const struct destcheck *check, const char *idstr,
                                uint32_t instance)
{
  size_t index;
  const json_t *entry;
  json_array_foreach(check->devices, index, entry) {
    const char *name = json_string_value(json_object_get(entry, "name"));
    json_int_t id = json_integer_value(json_object_get(entry, "instance_id"));
    bool alias = check->options->dump != NULL && instance == UINT32_MAX &&
                 !has_legacy_alias(idstr);
    if (check->used[index] || name == NULL || strcmp(name, idstr) != 0 ||
        (id != instance && !alias)) {
      continue;
    }
    return (long)index;
  }
  return -1;
}

/* That entry, marked used; NULL when none. */
static const json_t *trailer_entry(struct destcheck *check, const char *idstr, uint32_t instance)
{
  long index = trailer_entry_index(check, idstr, instance);
  if (index < 0) return NULL;
  check->used[index] = true;
  return json_array_get(check->devices, (size_t)index);
}

/* A description's "fields" bytes: Σ size × array_len; false when a size is unusable. */
static bool entry_field_bytes(const json_t *field, uint64_t *bytes)
{
  json_int_t size = json_integer_value(json_object_get(field, "size"));
  const json_t *length = json_object_get(field, "array_len");
  json_int_t count = length != NULL ? json_integer_value(length) : 1;
  if (size < 0 || count < 0 || size > (json_int_t)MIG_VMSTATE_FIELD_BYTES_MAX ||
      count > (json_int_t)MIG_VMSTATE_FIELD_BYTES_MAX) {
    return false;
  }
  *bytes = (uint64_t)size * (uint64_t)(count > 0 ? count : 1);
  return true;
}

/* ------------------------------------------------------------- the dump */

/*
 * Descriptions of sections outside -dump-vmstate that QEMU 7.2 reads with
 * versioned fields, from its sources (softmmu/cpu-timers.c, v7.2.0): the
 * field versions and ranges the stream's VM description does not carry.
 * `timer` v1 lacks cpu_clock_offset (QEMU reads 16 bytes of it).
 */
static struct mig_vmsd_field timer_icount_warp_fields[] = {
    {.name = "vm_clock_warp_start", .num = -1}, {.name = "icount_warp_timer", .num = -1}};
static struct mig_vmsd_field timer_icount_timers_fields[] = {
    {.name = "icount_rt_timer", .num = -1}, {.name = "icount_vm_timer", .num = -1}};
static struct mig_vmsd_field timer_icount_shift_fields[] = {
    {.name = "icount_time_shift", .num = -1}, {.name = "last_delta", .num = -1}};
static struct mig_vmsd_desc timer_icount_subsections[] = {
    {.name = "timer/icount/warp_timer", .version_id = 1, .minimum_version_id = 1,
     .fields = timer_icount_warp_fields, .field_count = 2, .sent = -1},
    {.name = "timer/icount/timers", .version_id = 1, .minimum_version_id = 1,
     .fields = timer_icount_timers_fields, .field_count = 2, .sent = -1},
    {.name = "timer/icount/shift", .version_id = 2, .minimum_version_id = 2,
     .fields = timer_icount_shift_fields, .field_count = 2, .sent = -1}};
static struct mig_vmsd_field timer_icount_fields[] = {
    {.name = "qemu_icount_bias", .num = -1}, {.name = "qemu_icount", .num = -1}};
static struct mig_vmsd_desc timer_subsections[] = {
    {.name = "timer/icount", .version_id = 1, .minimum_version_id = 1,
     .fields = timer_icount_fields, .field_count = 2, .subsections = timer_icount_subsections,
     .subsection_count = 3, .sent = -1}};
static struct mig_vmsd_field timer_fields[] = {
    {.name = "cpu_ticks_offset", .num = -1}, {.name = "unused", .num = -1},
    {.name = "cpu_clock_offset", .version_id = 2, .num = -1}};
static const struct mig_vmsd_desc builtin_descs[] = {
    {.name = "timer", .version_id = 2, .minimum_version_id = 1, .fields = timer_fields,
     .field_count = 3, .subsections = timer_subsections, .subsection_count = 1, .sent = -1}};

/*
 * The destination's description named name (a section's or, under parent, a
 * subsection's): the dump's, else a built-in one.
 */
static const struct mig_vmsd_desc *dump_desc(const struct mig_vmsd_file *dump, const char *name)
{
  for (uint32_t i = 0; i < dump->section_count; i++) {
    const struct mig_vmsd_desc *desc = dump->sections[i].desc;
    if (desc != NULL && strcmp(desc->name, name) == 0) return desc;
  }
  for (size_t i = 0; i < SIM_ARRAY_COUNT(builtin_descs); i++) {
    if (strcmp(builtin_descs[i].name, name) == 0) return &builtin_descs[i];
  }
  return NULL;
}

static const struct mig_vmsd_desc *dump_subsection(const struct mig_vmsd_desc *parent,
                                                   const char *name)
{
  for (uint32_t i = 0; parent != NULL && i < parent->subsection_count; i++) {
    if (strcmp(parent->subsections[i].name, name) == 0) return &parent->subsections[i];
  }
  return NULL;
}

static bool outside_dump_name(const char *name)
{
  for (size_t i = 0; i < SIM_ARRAY_COUNT(outside_dump); i++) {
    if (strcmp(outside_dump[i], name) == 0) return true;
  }
  return false;
}

/*
 * The dump's field `name` of desc, searching from *cursor on (names repeat:
 * _TEST variants), or NULL; *cursor moves past it.
 */
static const struct mig_vmsd_field *dump_field(const struct mig_vmsd_desc *desc,
                                               const char *name, uint32_t *cursor)
{
  for (uint32_t i = *cursor; desc != NULL && i < desc->field_count; i++) {
    if (strcmp(desc->fields[i].name, name) != 0) continue;
    *cursor = i + 1;
    return &desc->fields[i];
  }
  return NULL;
}

static const json_t *entry_subsection(const json_t *entry, const char *name)
{
  size_t index;
  const json_t *sub;
  json_array_foreach(json_object_get(entry, "subsections"), index, sub) {
    const char *sub_name = json_string_value(json_object_get(sub, "vmsd_name"));
    if (sub_name != NULL && strcmp(sub_name, name) == 0) return sub;
  }
  return NULL;
}

/*
 * One section payload parsed as QEMU's vmstate_load_state reads it: the
 * fields in order (sizes from the stream's VM description, fields the dump
 * reads only from a later version left out), a struct field as its own
 * description, then subsections while the next byte is 0x05 with a name of
 * this VMSD (vmstate_subsection_load).
 */
struct parse {
  struct destcheck *check;
  const uint8_t *payload;
  uint64_t count;                      /* payload bytes: the footer follows */
  uint64_t payload_offset;             /* stream offset of payload[0] */
  const char *idstr;
  bool unverifiable;                   /* a part had no usable description: stop, accept */
  struct mig_error *error;
  /* Scalar fields read, for the device semantics (mig_devsem.h). */
  struct mig_devsem_field fields[MIG_DEVSEM_FIELDS_MAX];
  uint32_t field_count;
};

static enum mig_err parse_vmsd(struct parse *p, const json_t *tdesc,
                               const struct mig_vmsd_desc *ddesc, const char *name,
                               uint32_t version, uint32_t depth, uint64_t *at);

static enum mig_err parse_short(struct parse *p, uint64_t at, const char *what)
{
  char path[MIG_PATH_BYTES_MAX];
  snprintf(path, sizeof path, "%.120s/footer", p->idstr);
  return fail(p->error, MIG_ERR_FOOTER, p->payload_offset + SIM_MIN(at, p->count), path,
              "%.80s runs past the section's footer", what);
}

/* A field of at most 8 bytes, kept with its value for mig_devsem_check. */
static void parse_keep(struct parse *p, const char *vmsd, const char *name, const json_t *field,
                       uint64_t at, uint64_t bytes)
{
  if (name == NULL || p->field_count >= MIG_DEVSEM_FIELDS_MAX ||
      (bytes != 1 && bytes != 2 && bytes != 4 && bytes != 8)) {
    return;
  }
  uint64_t value = 0;
  for (uint64_t i = 0; i < bytes; i++) value = value << 8 | p->payload[at + i];
  p->fields[p->field_count++] = (struct mig_devsem_field){
      .vmsd = vmsd, .name = name, .type = json_string_value(json_object_get(field, "type")),
      .offset = p->payload_offset + at, .value = value, .bytes = (uint32_t)bytes};
}

/*
 * A "virtio" field (VMSTATE_VIRTIO_DEVICE) at payload[*at]: read as
 * virtio_load reads it (mig_virtio.h), which moves *at to where QEMU stops;
 * a size the VM description disagrees with is a warning.  False (and *at
 * unmoved) when the blob cannot be sized from the stream: the description's
 * size stands.
 */
static bool parse_virtio(struct parse *p, const json_t *field, const char *device, uint64_t *at,
                         enum mig_err *code)
{
  struct mig_virtio_blob blob = {.payload = p->payload, .payload_bytes = p->count, .start = *at,
                                 .payload_offset = p->payload_offset, .idstr = p->idstr,
                                 .device = device,
                                 .transport = mig_virtio_transport_from_idstr(p->idstr)};
  struct mig_virtio_result result;
  struct mig_error error;
  *code = mig_virtio_blob_parse(&blob, &result, &error);
  if (*code != MIG_OK) {
    fail(p->error, *code, error.offset, error.path, "%s", error.detail);
    return true;
  }
  if (result.unverifiable) return false;
  uint64_t described = 0;
  if (!entry_field_bytes(field, &described) || described != result.end - *at) {
    warn(p->check, p->payload_offset + result.end, "%s/virtio: virtio blob ends at 0x%" PRIx64
         " (%" PRIu64 " bytes from 0x%" PRIx64 "), the VM description says %" PRIu64 " bytes",
         p->idstr, p->payload_offset + result.end, result.end - *at, p->payload_offset + *at,
         described);
  }
  *at = result.end;
  return true;
}

static enum mig_err parse_fields(struct parse *p, const json_t *tdesc,
                                 const struct mig_vmsd_desc *ddesc, const char *vmsd,
                                 uint32_t version, uint32_t depth, uint64_t *at)
{
  uint32_t cursor = 0;
  size_t index;
  const json_t *field;
  json_array_foreach(json_object_get(tdesc, "fields"), index, field) {
    const char *name = json_string_value(json_object_get(field, "name"));
    const struct mig_vmsd_field *known = name != NULL ? dump_field(ddesc, name, &cursor) : NULL;
    if (known != NULL && known->version_id > 0 && (uint32_t)known->version_id > version) {
      continue;  /* not read at this version */
    }
    const json_t *inner = json_object_get(field, "struct");
    const char *inner_name = json_string_value(json_object_get(inner, "vmsd_name"));
    json_int_t inner_version = json_integer_value(json_object_get(inner, "version"));
    const json_t *length = json_object_get(field, "array_len");
    json_int_t elements = length != NULL ? json_integer_value(length) : 1;
    if (inner_name != NULL && depth < DESTCHECK_DEPTH_MAX && inner_version >= 0 &&
        elements >= 0 && elements <= (json_int_t)MIG_VMSTATE_FIELD_BYTES_MAX) {
      for (json_int_t i = 0; i < SIM_MAX(elements, (json_int_t)1); i++) {
        enum mig_err code = parse_vmsd(p, inner, known != NULL ? known->desc : NULL, inner_name,
                                       (uint32_t)inner_version, depth + 1, at);
        if (code != MIG_OK || p->unverifiable) return code;
      }
      continue;
    }
    const char *type = json_string_value(json_object_get(field, "type"));
    enum mig_err code = MIG_OK;
    bool virtio = type != NULL && strcmp(type, "virtio") == 0;
    if (virtio && parse_virtio(p, field, vmsd, at, &code)) {
      if (code != MIG_OK) return code;
      continue;
    }
    uint64_t bytes = 0;
    if (!entry_field_bytes(field, &bytes)) {
      p->unverifiable = true;
      return MIG_OK;
    }
    if (bytes > p->count - *at) return parse_short(p, *at, name != NULL ? name : "a field");
    if (length == NULL) parse_keep(p, vmsd, name, field, *at, bytes);
    *at += bytes;
  }
  return MIG_OK;
}

/* The subsection whose head is at payload[*at]; *at moves past it. */
static enum mig_err parse_subsection(struct parse *p, const json_t *tdesc,
                                     const struct mig_vmsd_desc *ddesc, const char *name,
                                     const struct mig_subsection_head *head, uint32_t depth,
                                     uint64_t *at)
{
  const char *sub_name = head->name;
  char path[MIG_PATH_BYTES_MAX];
  snprintf(path, sizeof path, "%.120s/%.64s", p->idstr, sub_name);
  uint64_t offset = p->payload_offset + *at;
  const json_t *tsub = entry_subsection(tdesc, sub_name);
  const struct mig_vmsd_desc *dsub = dump_subsection(ddesc, sub_name);
  if (ddesc != NULL ? dsub == NULL : tsub == NULL) {
    return fail(p->error, MIG_ERR_SUBSECTION, offset, path, "the destination's %.64s has no "
                "such subsection", name);
  }
  if (!head->version_whole) return parse_short(p, *at, sub_name);
  uint32_t version = head->version;
  const json_t *described = json_object_get(tsub, "version");
  if (dsub != NULL ? version > (uint32_t)dsub->version_id ||
                         version < (uint32_t)dsub->minimum_version_id
                   : json_is_integer(described) &&
                         json_integer_value(described) != (json_int_t)version) {
    return fail(p->error, MIG_ERR_SECTION_VERSION, offset + 2 + head->name_bytes, path,
                "version %" PRIu32 " is not one the destination loads", version);
  }
  if (tsub == NULL) {
    warn(p->check, offset, "%s: not in the stream's VM description: the rest of %s not checked",
         path, p->idstr);
    p->unverifiable = true;
    return MIG_OK;
  }
  *at += head->version_at + 4;
  /* The description's own copy of the name: parse_keep keeps the pointer past this frame. */
  const char *kept_name = json_string_value(json_object_get(tsub, "vmsd_name"));
  return parse_vmsd(p, tsub, dsub, kept_name != NULL ? kept_name : "", version, depth + 1, at);
}

/* The fields, then each subsection QEMU's loop takes (a short or foreign name ends it). */
static enum mig_err parse_vmsd(struct parse *p, const json_t *tdesc,
                               const struct mig_vmsd_desc *ddesc, const char *name,
                               uint32_t version, uint32_t depth, uint64_t *at)
{
  enum mig_err code = parse_fields(p, tdesc, ddesc, name, version, depth, at);
  SIM_ASSERT(p->payload != NULL && (code != MIG_OK || *at <= p->count));
  struct mig_subsection_head head;
  while (code == MIG_OK && !p->unverifiable &&
         mig_subsection_peek(p->payload + *at, p->count - *at, name, &head) ==
             MIG_SUBSECTION_OURS) {
    if (depth >= DESTCHECK_DEPTH_MAX) {
      p->unverifiable = true;
      break;
    }
    code = parse_subsection(p, tdesc, ddesc, name, &head, depth, at);
  }
  return code;
}

/* The section's VMSD name: its description's, else the idstr after its last '/'. */
static const char *section_vmsd(const json_t *entry, const char *idstr)
{
  const char *name = json_string_value(json_object_get(entry, "vmsd_name"));
  if (name != NULL) return name;
  const char *slash = strrchr(idstr, '/');
  return slash != NULL ? slash + 1 : idstr;
}

/* Version and identity against the dump; with neither, against the trailer entry. */
static enum mig_err device_identity(struct destcheck *check,
                                    const struct mig_inspect_event *event, const json_t *entry,
                                    const struct mig_vmsd_desc *desc, struct mig_error *error)
{
  const struct mig_vmsd_file *dump = check->options->dump;
  const char *vmsd = section_vmsd(entry, event->idstr);
  uint64_t version_at = event->payload_offset - 4;
  uint64_t header_at = version_at - 4 - strlen(event->idstr) - 1 - 4 - 1;
  const json_t *version = json_object_get(entry, "version");
  json_int_t described = json_is_integer(version) ? json_integer_value(version) : -1;
  if (dump != NULL && desc == NULL && !outside_dump_name(vmsd)) {
    return fail(error, MIG_ERR_UNKNOWN_SECTION, header_at, event->idstr,
                "the destination has no VMSD \"%s\"", vmsd);
  }
  if (dump != NULL && check->devices != NULL && entry == NULL) {
    /* -dump-vmstate lists no instances: the stream's own description stands in for them. */
    return fail(error, MIG_ERR_UNKNOWN_SECTION, header_at, event->idstr,
                "instance %" PRIu32 " is not in the stream's VM description",
                event->instance_id);
  }
  for (size_t i = 0; dump != NULL && i < SIM_ARRAY_COUNT(old_style); i++) {
    bool above = event->version > old_style[i].version_max;
    if (strcmp(event->idstr, old_style[i].name) != 0 || !above) continue;
    return fail(error, MIG_ERR_SECTION_VERSION, version_at, event->idstr,
                "version %" PRIu32 " above %" PRIu32 ", QEMU 7.2's", event->version,
                old_style[i].version_max);
  }
  if (desc != NULL && (event->version > (uint32_t)desc->version_id ||
                       event->version < (uint32_t)desc->minimum_version_id)) {
    return fail(error, MIG_ERR_SECTION_VERSION, version_at, event->idstr,
                "version %" PRIu32 " outside [%" PRId32 ", %" PRId32 "] of the destination's %s",
                event->version, desc->minimum_version_id, desc->version_id, vmsd);
  }
  if (entry != NULL && described >= 0 && (uint32_t)described != event->version) {
    /* Outside the dump the description's version stands for the destination's. */
    if (dump == NULL || desc == NULL) {
      return fail(error, MIG_ERR_SECTION_VERSION, version_at, event->idstr,
                  "version %" PRIu32 ", the stream's VM description says %" JSON_INTEGER_FORMAT,
                  event->version, described);
    }
    warn(check, version_at, "%s: version %" PRIu32 ", the VM description says %"
         JSON_INTEGER_FORMAT, event->idstr, event->version, described);
  }
  return MIG_OK;
}

/* The byte at guest-physical address of the low RAM the destination holds; -1: unknown. */
static int low_byte_at(void *context, uint64_t address)
{
  const struct destcheck *check = context;
  uint64_t page = address / MIG_PAGE_BYTES;
  if (page >= check->low_pages) return -1;
  uint64_t entry = check->low[page];
  uint64_t datum = entry & ((UINT64_C(1) << LOW_STATE_SHIFT) - 1);
  switch (entry >> LOW_STATE_SHIFT) {
  case LOW_UNSENT: return 0;
  case LOW_FILL: return (int)datum;
  case LOW_PAGE: return check->bytes[datum + address % MIG_PAGE_BYTES];
  default: return -1;
  }
}

/* mig_devsem_check over the fields parse read; what it could not check becomes a warning. */
static enum mig_err device_semantics(struct destcheck *check,
                                     const struct mig_inspect_event *event,
                                     const struct parse *parse, struct mig_error *error)
{
  /* After a package (postcopy) the RAM is not all there when the devices load. */
  bool ram_known = check->low_block_bytes > 0 && event->inspect->package_offset == 0;
  struct mig_devsem_ram ram = {.byte_at = low_byte_at, .context = check,
                               .bytes = check->low_block_bytes};
  struct mig_devsem_section section = {
      .idstr = event->idstr, .machine_type = check->options->machine_type,
      .fields = parse->fields, .field_count = parse->field_count,
      .ram = ram_known ? &ram : NULL};
  char note[160];
  enum mig_err code = mig_devsem_check(&section, error, note, sizeof note);
  if (code == MIG_OK && note[0] != 0) {
    warn(check, event->payload_offset, "%s: destination value not known, not checked: %s",
         event->idstr, note);
  }
  return code;
}

/* ram_load_precopy's MEM_SIZE list: each block one the destination has ("Unknown ramblock"). */
static enum mig_err ram_blocks_check(const struct destcheck *check,
                                     const struct mig_inspect_event *event,
                                     struct mig_error *error)
{
  const struct mig_destcheck_options *options = check->options;
  if (options->ram_block_count == 0) return MIG_OK;
  for (uint32_t i = event->block_first;
       i < event->block_first + event->block_count && i < event->inspect->block_count; i++) {
    const char *name = event->inspect->blocks[i].name;
    bool known = false;
    for (uint32_t k = 0; k < options->ram_block_count && !known; k++) {
      known = strcmp(options->ram_blocks[k], name) == 0;
    }
    if (known) continue;
    char path[MIG_PATH_BYTES_MAX];
    snprintf(path, sizeof path, "ram/blocks/%.120s", name);
    return fail(error, MIG_ERR_RAM_BLOCK, event->offset, path, "the destination has no RAM "
                "block of that name (QEMU: Unknown ramblock)");
  }
  return MIG_OK;
}

/*
 * A COMPRESS_PAGE record as QEMU 7.2's decompression thread takes it: the
 * zlib stream must end within a page ("decompress data failed").
 */
static enum mig_err compressed_check(const struct mig_inspect_event *event,
                                     struct mig_error *error)
{
  uint8_t page[MIG_PAGE_BYTES];
  uint32_t inflated = 0;
  char detail[64];
  if (event->payload == NULL ||
      mig_compress_inflate_ends(event->payload, (uint32_t)event->payload_bytes, page, &inflated,
                                detail, sizeof detail)) {
    return MIG_OK;
  }
  char path[MIG_PATH_BYTES_MAX];
  snprintf(path, sizeof path, "ram/%.120s/compressed",
           event->inspect->blocks[event->block_index].name);
  return fail(error, MIG_ERR_BAD_VALUE, event->payload_offset, path,
              "%s (QEMU: decompress data failed)", detail);
}

/* RAM records into the low pages of DESTCHECK_LOW_BLOCK (what kvmvapic's post_load reads). */
static void low_track(struct destcheck *check, const struct mig_inspect_event *event)
{
  if (event->block_index >= event->inspect->block_count) return;
  const struct mig_inspect_block *block = &event->inspect->blocks[event->block_index];
  if (strcmp(block->name, DESTCHECK_LOW_BLOCK) != 0) return;
  if (check->low == NULL) {
    check->low_pages = SIM_MIN(block->used_bytes, DESTCHECK_LOW_BYTES_MAX) / MIG_PAGE_BYTES;
    check->low = calloc(check->low_pages + 1, sizeof *check->low);
    SIM_ASSERT(check->low != NULL);
  }
  check->low_block_bytes = block->used_bytes;
  if (event->kind == MIG_INSPECT_RAM_ZERO_RUN) {
    for (uint64_t i = 0; i < event->run_count; i++) {  /* 9 bytes each: be64 word, fill */
      uint64_t page = mig_wire_be64(event->payload + 9 * i) / MIG_PAGE_BYTES;
      if (page >= check->low_pages) continue;
      check->low[page] = (uint64_t)LOW_FILL << LOW_STATE_SHIFT | event->payload[9 * i + 8];
    }
    return;
  }
  uint64_t page = event->address / MIG_PAGE_BYTES;
  if (page >= check->low_pages) return;
  if (event->ram_kind == MIG_RAM_FLAG_ZERO) {
    check->low[page] = (uint64_t)LOW_FILL << LOW_STATE_SHIFT | event->fill;
  } else if (event->ram_kind == MIG_RAM_FLAG_PAGE && event->payload_bytes == MIG_PAGE_BYTES &&
             event->payload_offset + MIG_PAGE_BYTES <= check->count) {
    check->low[page] = (uint64_t)LOW_PAGE << LOW_STATE_SHIFT | event->payload_offset;
  } else {
    check->low[page] = (uint64_t)LOW_UNKNOWN << LOW_STATE_SHIFT;
  }
}

/*
 * Reads the FULL section of event as the destination's loader does, with
 * entry (its VM-description entry, with a vmsd_name) and desc (the dump's);
 * *at is where the reading stops.
 */
static enum mig_err section_read(struct destcheck *check, const struct mig_inspect_event *event,
                                 const json_t *entry, const struct mig_vmsd_desc *desc,
                                 struct parse *parse, struct mig_error *error, uint64_t *at)
{
  /* An empty payload comes as NULL: point at no bytes instead, so payload + 0 stays defined. */
  static const uint8_t no_bytes[1];
  *parse = (struct parse){.check = check,
                          .payload = event->payload != NULL ? event->payload : no_bytes,
                          .count = event->payload_bytes, .payload_offset = event->payload_offset,
                          .idstr = event->idstr, .error = error};
  *at = 0;
  return parse_vmsd(parse, entry, desc, section_vmsd(entry, event->idstr), event->version, 0,
                    at);
}

static enum mig_err device_check(struct destcheck *check, const struct mig_inspect_event *event,
                                 struct mig_error *error)
{
  const json_t *entry = check->devices != NULL
                            ? trailer_entry(check, event->idstr, event->instance_id) : NULL;
  const struct mig_vmsd_file *dump = check->options->dump;
  const char *vmsd = section_vmsd(entry, event->idstr);
  const struct mig_vmsd_desc *desc = dump != NULL ? dump_desc(dump, vmsd) : NULL;
  enum mig_err code = device_identity(check, event, entry, desc, error);
  if (code != MIG_OK || entry == NULL || json_object_get(entry, "vmsd_name") == NULL) {
    return code;  /* an old-style section (slirp) has no fields to check */
  }
  struct parse parse;
  uint64_t at;
  code = section_read(check, event, entry, desc, &parse, error, &at);
  if (code != MIG_OK || parse.unverifiable) return code;
  /* QEMU checks _EQUAL fields as it reads them and runs post_load before the footer. */
  code = device_semantics(check, event, &parse, error);
  if (code != MIG_OK || at == event->payload_bytes) return code;
  char path[MIG_PATH_BYTES_MAX];
  snprintf(path, sizeof path, "%.120s/footer", event->idstr);
  return fail(error, MIG_ERR_FOOTER, event->payload_offset + at, path, "byte 0x%02x where the "
              "footer belongs (QEMU: Missing section footer)", event->payload[at]);
}

/*
 * mig_inspect_visitor.full_bytes: where QEMU's loader stops reading the FULL
 * section at event->payload on a stream without footers (the next byte is
 * its next record, 0x00 an EOF that ends the load).  The section is read as
 * device_check reads it, from the stream's VM description and the dump,
 * with no warning kept; false when that reading fails or cannot be
 * verified (the trailer sizes the section, device_check then says why) or
 * there is no usable VM description (the walker's walk_full_by_headers).
 */
static bool destcheck_full_bytes(void *context, const struct mig_inspect_event *event,
                                 uint64_t *bytes)
{
  struct destcheck *check = context;
  if (check->options->dump == NULL || check->devices == NULL) return false;
  long index = trailer_entry_index(check, event->idstr, event->instance_id);
  if (index < 0) return false;
  const json_t *entry = json_array_get(check->devices, (size_t)index);
  if (json_object_get(entry, "vmsd_name") == NULL) return false;
  const struct mig_vmsd_desc *desc =
      dump_desc(check->options->dump, section_vmsd(entry, event->idstr));
  struct mig_error error;
  struct parse parse;
  uint32_t warnings = check->report->warning_count;
  uint32_t dropped = check->report->warnings_dropped;
  uint64_t at;
  enum mig_err code = section_read(check, event, entry, desc, &parse, &error, &at);
  check->report->warning_count = warnings;
  check->report->warnings_dropped = dropped;
  if (code != MIG_OK || parse.unverifiable) return false;
  *bytes = at;
  return true;
}

static enum mig_err configuration_check(const struct destcheck *check,
                                        const struct mig_inspect *inspect,
                                        struct mig_error *error)
{
  const char *type = check->options->machine_type;
  if (type == NULL) return MIG_OK;
  bool sends = mig_destcheck_sends_configuration(type);
  uint64_t at = 8;  /* after the header */
  if (inspect->has_configuration && !sends) {
    return fail(error, MIG_ERR_BAD_SECTION_TYPE, at, "configuration", "machine type %s loads "
                "no configuration section (QEMU: unknown section type 7)", type);
  }
  if (!inspect->has_configuration && sends) {
    return fail(error, MIG_ERR_NO_CONFIGURATION, at, "configuration", "machine type %s "
                "expects one", type);
  }
  if (inspect->has_configuration && strcmp(inspect->machine, type) != 0) {
    return fail(error, MIG_ERR_MACHINE_MISMATCH, at + 5, "configuration/name",
                "stream %.100s, destination %.100s", inspect->machine, type);
  }
  return MIG_OK;
}

static enum mig_err destcheck_visit(void *context, const struct mig_inspect_event *event,
                                    struct mig_error *error)
{
  struct destcheck *check = context;
  enum mig_err code = MIG_OK;
  if (event->kind == MIG_INSPECT_CONFIGURATION) {
    code = configuration_check(check, event->inspect, error);
  } else if (event->kind == MIG_INSPECT_RAM_BLOCKS) {
    code = ram_blocks_check(check, event, error);
  } else if (event->kind == MIG_INSPECT_RAM_PAGE || event->kind == MIG_INSPECT_RAM_ZERO_RUN) {
    low_track(check, event);
    if (event->ram_kind == MIG_RAM_FLAG_COMPRESS_PAGE) code = compressed_check(event, error);
  } else if (event->kind == MIG_INSPECT_DEVICE &&
             (event->payload != NULL || event->payload_bytes == 0)) {
    code = device_check(check, event, error);
  }
  if (code != MIG_OK || check->inner == NULL || check->inner->visit == NULL) return code;
  return check->inner->visit(check->inner->context, event, error);
}

enum mig_err mig_destcheck_walk(const uint8_t *bytes, size_t count,
                                const struct mig_destcheck_options *options,
                                const struct mig_inspect_options *inspect_options,
                                const struct mig_inspect_visitor *inner, struct mig_inspect *out,
                                struct mig_destcheck_report *report, struct mig_error *error)
{
  SIM_ASSERT(options != NULL && report != NULL);
  memset(report, 0, sizeof *report);
  struct destcheck check = {.options = options, .inner = inner, .report = report,
                            .bytes = bytes, .count = count};
  trailer_parse(&check, bytes, count);
  struct mig_inspect_options walk_options = {0};
  if (inspect_options != NULL) walk_options = *inspect_options;
  walk_options.trailer_advisory = options->dump != NULL;
  struct mig_inspect_visitor visitor = {.visit = destcheck_visit, .context = &check,
                                        .zero_runs = inner == NULL || inner->zero_runs,
                                        .full_bytes = destcheck_full_bytes};
  enum mig_err code = mig_inspect_walk_with(bytes, count, out, &walk_options, &visitor, error);
  if (out->full_by_headers) {
    warn(&check, out->full_by_headers_offset, "no section footers and no usable VM "
         "description: each FULL section ends at the next plausible section header, its "
         "fields not checked");
  }
  if (out->trailer_warning[0] != '\0') {
    warn(&check, out->trailer_warning_offset, "vmdesc: %s (QEMU 7.2 does not read the trailer "
         "when it loads)", out->trailer_warning);
  }
  json_decref(check.vmdesc);
  free(check.used);
  free(check.low);
  return code;
}
