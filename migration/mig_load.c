/*
 * mig_load.c: the destination's stream loader (overview in mig_load.h; wire
 * facts in spec/stream-format.md §2-§4, §10, §11).
 *
 * Handlers are the RAM loader (index 0), the machine's vmstate instances
 * (index 1 + registration index) and the options' live handlers (after
 * them).  A START or FULL header binds its section id to a handler; PART and
 * END find their handler only through an id bound earlier in the same stream
 * (spec §11.3 item 6: no zero-initialised id).
 */
#include "sim_base.h"

#include "mig_format.h"
#include "mig_load.h"
#include "mig_ram.h"
#include "mig_vmstate.h"

#include <jansson.h>

#define HANDLERS_MAX (MACHINE_VMSTATE_INSTANCES_MAX + 1 + MIG_LOAD_LIVES_MAX)

struct load_state {
  struct mig_reader *reader;
  struct machine *machine;
  struct mig_load_stats *stats;
  struct mig_load_options options;
  struct mig_ram_dest ram;
  uint32_t handler_count;                 /* 1 + vmstate instances */
  uint32_t live_first;                    /* == handler_count: index of lives[0] */
  bool bound[HANDLERS_MAX];               /* handler has seen a START/FULL */
  uint32_t bound_section_id[HANDLERS_MAX];
};

static enum mig_err load_failed(struct load_state *state)
{
  return mig_reader_error(state->reader)->code;
}

static enum mig_err load_header(struct load_state *state)
{
  struct mig_reader *reader = state->reader;
  uint32_t magic = mig_read_be32(reader);
  uint32_t version = mig_read_be32(reader);
  if (mig_reader_failed(reader)) return load_failed(state);
  if (magic != MIG_FILE_MAGIC) {
    char detail[48];
    snprintf(detail, sizeof(detail), "magic 0x%08" PRIx32, magic);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_MAGIC, 0, detail, "header/magic");
    return MIG_ERR_BAD_MAGIC;
  }
  if (version != MIG_FILE_VERSION) {
    char detail[64];
    snprintf(detail, sizeof(detail), "version %" PRIu32 "%s", version,
             version == MIG_FILE_VERSION_COMPAT ? " (SaveVM v2 format is obsolete)" : "");
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VERSION, 4, detail, "header/version");
    return MIG_ERR_BAD_VERSION;
  }
  return MIG_OK;
}

/*
 * configuration/capabilities (spec §3): the only validated 7.2 capability,
 * x-ignore-shared, must be listed exactly when it is on here.
 */
static enum mig_err load_capabilities(struct load_state *state, bool present)
{
  struct mig_reader *reader = state->reader;
  uint64_t offset = mig_reader_offset(reader);
  bool received = false;
  if (present) {
    mig_read_u8(reader);
    char name[MIG_IDSTR_BYTES_MAX + 1];
    mig_read_counted_string(reader, name, sizeof(name));
    uint32_t version = mig_read_be32(reader);
    uint64_t count_offset = mig_reader_offset(reader);
    uint32_t count = mig_read_be32(reader);
    if (mig_reader_failed(reader)) return load_failed(state);
    if (strcmp(name, MIG_CONFIGURATION_CAPABILITIES) != 0 || version != 1 ||
        count > MIG_CAPABILITIES_MAX) {
      char detail[MIG_IDSTR_BYTES_MAX + 64];
      snprintf(detail, sizeof(detail), "'%s' version %" PRIu32 " count %" PRIu32, name,
               version, count);
      MIG_READER_FAIL(reader, MIG_ERR_SUBSECTION, offset, detail, "configuration");
      return MIG_ERR_SUBSECTION;
    }
    for (uint32_t i = 0; i < count; i++) {
      uint64_t entry_offset = mig_reader_offset(reader);
      mig_read_counted_string(reader, name, sizeof(name));
      if (mig_reader_failed(reader)) return load_failed(state);
      if (strcmp(name, MIG_CAPABILITY_X_IGNORE_SHARED) != 0) {
        MIG_READER_FAIL(reader, MIG_ERR_SUBSECTION, entry_offset, "received unknown capability",
                        "configuration/capabilities/%s", name);
        return MIG_ERR_SUBSECTION;
      }
      received = true;
    }
    offset = count_offset;
  }
  if (received != state->options.x_ignore_shared) {
    char detail[96];
    snprintf(detail, sizeof(detail), "capability x-ignore-shared is %s, but received "
             "capability is %s", received ? "off" : "on", received ? "on" : "off");
    MIG_READER_FAIL(reader, MIG_ERR_EQUAL_MISMATCH, offset, detail,
                    "configuration/capabilities/x-ignore-shared");
    return MIG_ERR_EQUAL_MISMATCH;
  }
  return MIG_OK;
}

static enum mig_err load_configuration(struct load_state *state)
{
  struct mig_reader *reader = state->reader;
  uint64_t offset = mig_reader_offset(reader);
  uint8_t type = mig_read_u8(reader);
  if (mig_reader_failed(reader)) return load_failed(state);
  if (type != MIG_SECTION_CONFIGURATION) {
    MIG_READER_FAIL(reader, MIG_ERR_NO_CONFIGURATION, offset, "configuration section missing",
                    "configuration");
    return MIG_ERR_NO_CONFIGURATION;
  }
  uint64_t length_offset = mig_reader_offset(reader);
  uint32_t length = mig_read_be32(reader);
  if (mig_reader_failed(reader)) return load_failed(state);
  if (length == 0 || length > MIG_MACHINE_NAME_BYTES_MAX) {
    char detail[48];
    snprintf(detail, sizeof(detail), "length %" PRIu32, length);
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, length_offset, detail, "configuration/name");
    return MIG_ERR_TOO_LONG;
  }
  char name[MIG_MACHINE_NAME_BYTES_MAX + 1];
  mig_read_bytes(reader, name, length);
  name[length] = 0;
  if (mig_reader_failed(reader)) return load_failed(state);
  if (strlen(name) != length || strcmp(name, machine_type(state->machine)) != 0) {
    char detail[MIG_MACHINE_NAME_BYTES_MAX + 64];
    snprintf(detail, sizeof(detail), "received '%s', local '%s'", name,
             machine_type(state->machine));
    MIG_READER_FAIL(reader, MIG_ERR_MACHINE_MISMATCH, length_offset + 4, detail,
                    "configuration/name");
    return MIG_ERR_MACHINE_MISMATCH;
  }
  uint8_t next;
  bool present = mig_reader_peek_u8(reader, &next) && next == MIG_SECTION_SUBSECTION;
  if (present || state->options.x_ignore_shared) return load_capabilities(state, present);
  return MIG_OK;
}

static enum mig_err load_footer(struct load_state *state, uint32_t section_id,
                                const char *idstr)
{
  struct mig_reader *reader = state->reader;
  uint64_t offset = mig_reader_offset(reader);
  uint8_t marker = mig_read_u8(reader);
  uint32_t read_id = mig_read_be32(reader);
  if (mig_reader_failed(reader)) return load_failed(state);
  if (marker != MIG_SECTION_FOOTER || read_id != section_id) {
    char detail[96];
    if (marker != MIG_SECTION_FOOTER) {
      snprintf(detail, sizeof(detail), "missing section footer (byte 0x%02x)", marker);
    } else {
      snprintf(detail, sizeof(detail), "mismatched section id in footer: read 0x%" PRIx32
               " expected 0x%" PRIx32, read_id, section_id);
    }
    MIG_READER_FAIL(reader, MIG_ERR_FOOTER, offset, detail, "%s/footer", idstr);
    return MIG_ERR_FOOTER;
  }
  return MIG_OK;
}

static bool load_is_live(const struct load_state *state, uint32_t handler)
{
  return handler >= state->live_first && handler < state->live_first + state->options.live_count;
}

/* Handler index for (idstr, instance_id), or UINT32_MAX when unknown. */
static uint32_t load_find_handler(const struct load_state *state, const char *idstr,
                                  uint32_t instance_id)
{
  if (strcmp(idstr, MIG_RAM_IDSTR) == 0 && instance_id == 0) return 0;
  for (uint32_t j = 0; j < state->options.live_count; j++) {
    if (strcmp(state->options.lives[j].idstr, idstr) == 0 && instance_id == 0) {
      return state->live_first + j;
    }
  }
  for (uint32_t i = 1; i < state->handler_count; i++) {
    const struct vmstate_instance *instance = machine_vmstate(state->machine, i - 1);
    if (strcmp(instance->idstr, idstr) == 0 && instance->instance_id == instance_id) return i;
  }
  return UINT32_MAX;
}

static const char *load_handler_idstr(const struct load_state *state, uint32_t handler)
{
  if (load_is_live(state, handler)) return state->options.lives[handler - state->live_first].idstr;
  return handler == 0 ? MIG_RAM_IDSTR : machine_vmstate(state->machine, handler - 1)->idstr;
}

/*
 * The vmstate loader names fields from the description ("dmadev/head"); a
 * device section's error should also say which device, so the description
 * name at the front becomes the section's idstr ("0000:00:04.0/dmadev/head").
 */
static void load_error_place(struct mig_reader *reader, const struct vmstate_instance *instance)
{
  struct mig_error *error = &reader->error;
  const char *name = instance->desc->name;
  size_t name_bytes = strlen(name);
  size_t idstr_bytes = strlen(instance->idstr);
  if (idstr_bytes <= name_bytes || strcmp(instance->idstr + idstr_bytes - name_bytes, name) != 0 ||
      strncmp(error->path, name, name_bytes) != 0 ||
      (error->path[name_bytes] != 0 && error->path[name_bytes] != '/')) {
    return;
  }
  char placed[2 * MIG_PATH_BYTES_MAX + 256];
  snprintf(placed, sizeof(placed), "%.*s%s", (int)(idstr_bytes - name_bytes), instance->idstr,
           error->path);
  size_t placed_bytes = SIM_MIN(strlen(placed), sizeof(error->path) - 1);
  memcpy(error->path, placed, placed_bytes);
  error->path[placed_bytes] = 0;
}

/* START and FULL: header, bind the id, payload, footer. */
static enum mig_err load_section_long(struct load_state *state, uint8_t type,
                                      uint64_t offset)
{
  struct mig_reader *reader = state->reader;
  uint32_t section_id = mig_read_be32(reader);
  uint64_t idstr_offset = mig_reader_offset(reader);
  char idstr[MIG_IDSTR_BYTES_MAX + 1];
  size_t idstr_bytes = mig_read_counted_string(reader, idstr, sizeof(idstr));
  uint32_t instance_id = mig_read_be32(reader);
  uint32_t version_id = mig_read_be32(reader);
  if (mig_reader_failed(reader)) return load_failed(state);
  if (idstr_bytes == 0 || strlen(idstr) != idstr_bytes) {
    MIG_READER_FAIL(reader, MIG_ERR_BAD_IDSTR, idstr_offset, "unable to read ID string",
                    "section 0x%" PRIx32, section_id);
    return MIG_ERR_BAD_IDSTR;
  }
  uint32_t handler = load_find_handler(state, idstr, instance_id);
  bool ram = handler == 0;
  bool live = load_is_live(state, handler);
  if (handler == UINT32_MAX || (ram || live) != (type == MIG_SECTION_START)) {
    char detail[64];
    snprintf(detail, sizeof(detail), "instance %" PRIu32 " in a %s section", instance_id,
             type == MIG_SECTION_START ? "START" : "FULL");
    MIG_READER_FAIL(reader, MIG_ERR_UNKNOWN_SECTION, offset, detail, "%s", idstr);
    return MIG_ERR_UNKNOWN_SECTION;
  }
  uint32_t accepted = live ? state->options.lives[handler - state->live_first].version_id
                           : MIG_RAM_SECTION_VERSION;
  if ((ram || live) && version_id != accepted) {
    char detail[48];
    snprintf(detail, sizeof(detail), "version %" PRIu32 ", accepted %" PRIu32, version_id,
             accepted);
    MIG_READER_FAIL(reader, MIG_ERR_SECTION_VERSION, offset, detail, "%s", idstr);
    return MIG_ERR_SECTION_VERSION;
  }
  state->bound[handler] = true;
  state->bound_section_id[handler] = section_id;
  enum mig_err err;
  if (ram) {
    err = mig_ram_load(&state->ram, reader, type);
  } else if (live) {
    const struct mig_load_live *handler_live = &state->options.lives[handler - state->live_first];
    err = handler_live->load(handler_live->context, reader, type);
  } else {
    const struct vmstate_instance *instance = machine_vmstate(state->machine, handler - 1);
    err = version_id > INT32_MAX
              ? MIG_ERR_SECTION_VERSION
              : mig_vmstate_load(reader, instance->desc, instance->opaque, (int32_t)version_id);
    if (err == MIG_ERR_SECTION_VERSION && !mig_reader_failed(reader)) {
      MIG_READER_FAIL(reader, err, offset, "version out of range", "%s", idstr);
    }
    if (err != MIG_OK) load_error_place(reader, instance);
    state->stats->devices_count++;
  }
  if (err != MIG_OK) return err;
  return load_footer(state, section_id, idstr);
}

/* PART and END: only for an id a START bound earlier. */
static enum mig_err load_section_short(struct load_state *state, uint8_t type,
                                       uint64_t offset)
{
  struct mig_reader *reader = state->reader;
  uint32_t section_id = mig_read_be32(reader);
  if (mig_reader_failed(reader)) return load_failed(state);
  uint32_t handler = 0;
  uint32_t handlers_end = state->live_first + state->options.live_count;
  while (handler < handlers_end &&
         !(state->bound[handler] && state->bound_section_id[handler] == section_id)) {
    handler++;
  }
  bool live = load_is_live(state, handler);
  if (handler != 0 && !live) {
    char detail[64];
    snprintf(detail, sizeof(detail), "%s for section id 0x%" PRIx32 " with no START",
             type == MIG_SECTION_PART ? "PART" : "END", section_id);
    MIG_READER_FAIL(reader, MIG_ERR_UNKNOWN_SECTION, offset, detail, "section 0x%" PRIx32,
                    section_id);
    return MIG_ERR_UNKNOWN_SECTION;
  }
  enum mig_err err;
  if (live) {
    const struct mig_load_live *handler_live = &state->options.lives[handler - state->live_first];
    err = handler_live->load(handler_live->context, reader, type);
  } else {
    err = mig_ram_load(&state->ram, reader, type);
  }
  if (err != MIG_OK) return err;
  return load_footer(state, section_id, load_handler_idstr(state, handler));
}

/* Checks the JSON trailer's shape: {"page_size": 4096, "devices": [...]}. */
static bool load_vmdesc_valid(const char *text, size_t length, char *detail, size_t detail_bytes)
{
  json_error_t json_error;
  json_t *root = json_loadb(text, length, JSON_REJECT_DUPLICATES, &json_error);
  if (root == NULL) {
    snprintf(detail, detail_bytes, "JSON: %.80s at byte %d", json_error.text,
             json_error.position);
    return false;
  }
  json_t *page_size = json_object_get(root, "page_size");
  bool valid = json_is_object(root) && json_is_integer(page_size) &&
               json_integer_value(page_size) == MIG_PAGE_BYTES &&
               json_is_array(json_object_get(root, "devices"));
  if (!valid) snprintf(detail, detail_bytes, "JSON lacks page_size 4096 or devices");
  json_decref(root);
  return valid;
}

static enum mig_err load_trailer(struct load_state *state)
{
  struct mig_reader *reader = state->reader;
  if (mig_reader_at_end(reader)) return MIG_OK;
  uint64_t offset = mig_reader_offset(reader);
  uint8_t type = mig_read_u8(reader);
  uint32_t length = mig_read_be32(reader);
  if (mig_reader_failed(reader)) return load_failed(state);
  if (type != MIG_SECTION_VMDESCRIPTION) {
    char detail[64];
    snprintf(detail, sizeof(detail), "expected vmdescription section, but got 0x%02x", type);
    MIG_READER_FAIL(reader, MIG_ERR_VMDESC, offset, detail, "vmdescription");
    return MIG_ERR_VMDESC;
  }
  if (length > MIG_VMDESC_BYTES_MAX) {
    char detail[48];
    snprintf(detail, sizeof(detail), "length %" PRIu32, length);
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, offset + 1, detail, "vmdescription/length");
    return MIG_ERR_TOO_LONG;
  }
  char *text = malloc(length + 1u);
  SIM_ASSERT(text != NULL);
  mig_read_bytes(reader, text, length);
  char detail[128];
  bool valid = !mig_reader_failed(reader) && load_vmdesc_valid(text, length, detail,
                                                               sizeof(detail));
  free(text);
  if (mig_reader_failed(reader)) return load_failed(state);
  if (!valid) {
    MIG_READER_FAIL(reader, MIG_ERR_VMDESC, offset + 5, detail, "vmdescription/json");
    return MIG_ERR_VMDESC;
  }
  state->stats->vmdesc_bytes = length;
  if (!mig_reader_at_end(reader)) {
    MIG_READER_FAIL(reader, MIG_ERR_TRAILING, mig_reader_offset(reader),
                    "bytes after the VM description", "stream");
    return MIG_ERR_TRAILING;
  }
  return MIG_OK;
}

/*
 * Topology check at EOF: every PCI device of the destination must have come
 * in the stream.  QEMU leaves such a device at its reset state; a device the
 * source does not have is a configuration mismatch (seed 000), so refuse it.
 */
static enum mig_err load_devices_complete(struct load_state *state, uint64_t offset)
{
  for (uint32_t i = 1; i < state->handler_count; i++) {
    if (state->bound[i] || !machine_vmstate_required(state->machine, i - 1)) continue;
    MIG_READER_FAIL(state->reader, MIG_ERR_UNKNOWN_SECTION, offset,
                    "device missing from the stream (not on the source?)", "%s",
                    load_handler_idstr(state, i));
    return MIG_ERR_UNKNOWN_SECTION;
  }
  return MIG_OK;
}

static enum mig_err load_sections(struct load_state *state)
{
  struct mig_reader *reader = state->reader;
  for (;;) {
    uint64_t offset = mig_reader_offset(reader);
    uint8_t type = mig_read_u8(reader);
    if (mig_reader_failed(reader)) return load_failed(state);
    enum mig_err err;
    switch (type) {
    case MIG_SECTION_EOF:
      return load_devices_complete(state, offset);
    case MIG_SECTION_START:
    case MIG_SECTION_FULL:
      err = load_section_long(state, type, offset);
      break;
    case MIG_SECTION_PART:
    case MIG_SECTION_END:
      err = load_section_short(state, type, offset);
      break;
    default: {
      char detail[48];
      snprintf(detail, sizeof(detail), "unknown savevm section type 0x%02x", type);
      enum mig_err code = type == MIG_SECTION_COMMAND ? MIG_ERR_BAD_COMMAND
                                                      : MIG_ERR_BAD_SECTION_TYPE;
      MIG_READER_FAIL(reader, code, offset, detail, "stream");
      return code;
    }
    }
    if (err != MIG_OK) return err;
    state->stats->sections_count++;
  }
}

enum mig_err mig_load_machine(struct mig_reader *reader, struct machine *machine,
                              struct mig_load_stats *stats)
{
  struct mig_load_options options = {.x_ignore_shared = false};
  return mig_load_machine_with(reader, machine, &options, stats);
}

enum mig_err mig_load_machine_with(struct mig_reader *reader, struct machine *machine,
                                   const struct mig_load_options *options,
                                   struct mig_load_stats *stats)
{
  SIM_ASSERT(!machine_running(machine));
  SIM_ASSERT(machine_vmstate_count(machine) < HANDLERS_MAX);
  struct load_state state = {.reader = reader, .machine = machine, .stats = stats,
                             .options = *options};
  memset(stats, 0, sizeof(*stats));
  state.handler_count = 1 + machine_vmstate_count(machine);
  state.live_first = state.handler_count;
  SIM_ASSERT(options->live_count <= MIG_LOAD_LIVES_MAX);
  SIM_ASSERT(options->live_count == 0 || options->lives != NULL);
  struct ram_block *blocks[RAM_BLOCKS_MAX];
  for (uint32_t i = 0; i < machine_ram_count(machine); i++) blocks[i] = machine_ram(machine, i);
  mig_ram_dest_init(&state.ram, blocks, machine_ram_count(machine));
  mig_ram_dest_ignore_shared_set(&state.ram, options->x_ignore_shared);
  enum mig_err err = load_header(&state);
  if (err == MIG_OK) err = load_configuration(&state);
  if (err == MIG_OK) err = load_sections(&state);
  if (err == MIG_OK) err = load_trailer(&state);
  stats->zero_pages_count = state.ram.zero_pages_count;
  stats->normal_pages_count = state.ram.normal_pages_count;
  stats->stream_bytes = mig_reader_offset(reader);
  SIM_ASSERT(err == MIG_OK || mig_reader_failed(reader));
  return err;
}
