/*
 * mig_load.c: the destination's stream loader (overview in mig_load.h; wire
 * facts in spec/stream-format.md §2-§4, §10, §11).
 *
 * Handlers are the RAM loader (index 0), the target's vmstate instances
 * (index 1 + registration index) and the target's live handlers (after
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

#define HANDLERS_MAX (MIG_LOAD_INSTANCES_MAX + 1 + MIG_LOAD_LIVES_MAX)
#define CONFIG_SUBSECTIONS_COUNT 3

_Static_assert(MACHINE_VMSTATE_INSTANCES_MAX < MIG_LOAD_INSTANCES_MAX, "machines fit a target");

struct load_state {
  struct mig_reader *reader;
  const struct mig_load_target *target;
  struct mig_load_stats *stats;
  bool return_path_open;                  /* OPEN_RETURN_PATH seen */
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

/* One configuration subsection's payload (spec §3); false once an error is latched. */
static bool load_config_payload(struct load_state *state, uint32_t which, const char *path)
{
  struct mig_reader *reader = state->reader;
  const struct mig_load_target *target = state->target;
  uint64_t offset = mig_reader_offset(reader);
  char detail[MIG_IDSTR_BYTES_MAX + 64];
  if (which == 0) { /* target-page-bits */
    uint32_t bits = mig_read_be32(reader);
    if (mig_reader_failed(reader)) return false;
    if (bits == MIG_PAGE_BITS) return true;
    snprintf(detail, sizeof(detail), "received TARGET_PAGE_BITS is %" PRIu32 " but local is %d",
             bits, MIG_PAGE_BITS);
    MIG_READER_FAIL(reader, MIG_ERR_CONFIG_MISMATCH, offset, detail, "%s", path);
    return false;
  }
  if (which == 2) { /* uuid: checked only when the destination has one */
    uint8_t uuid[16];
    mig_read_bytes(reader, uuid, sizeof(uuid));
    if (mig_reader_failed(reader)) return false;
    if (target->uuid == NULL || memcmp(uuid, target->uuid, sizeof(uuid)) == 0) return true;
    MIG_READER_FAIL(reader, MIG_ERR_CONFIG_MISMATCH, offset, "UUID differs", "%s", path);
    return false;
  }
  uint32_t count = mig_read_be32(reader);
  if (mig_reader_failed(reader)) return false;
  if (count > MIG_CAPABILITIES_MAX) { /* spec §11.3 item 3: before any loop */
    snprintf(detail, sizeof(detail), "caps_count %" PRIu32 " > %d", count, MIG_CAPABILITIES_MAX);
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, offset, detail, "%s/caps_count", path);
    return false;
  }
  bool received_ignore_shared = false;
  for (uint32_t i = 0; i < count; i++) {
    uint64_t name_offset = mig_reader_offset(reader);
    char name[MIG_IDSTR_BYTES_MAX + 1];
    size_t name_bytes = mig_read_counted_string(reader, name, sizeof(name));
    if (mig_reader_failed(reader)) return false;
    if (strlen(name) != name_bytes || strcmp(name, "x-ignore-shared") != 0) {
      snprintf(detail, sizeof(detail), "received unknown capability %.*s", (int)name_bytes,
               name);
      MIG_READER_FAIL(reader, MIG_ERR_CONFIG_MISMATCH, name_offset, detail, "%s[%" PRIu32 "]",
                      path, i);
      return false;
    }
    received_ignore_shared = true;
  }
  if (received_ignore_shared == target->x_ignore_shared) return true;
  snprintf(detail, sizeof(detail), "capability x-ignore-shared is %s, but received capability "
           "is %s", target->x_ignore_shared ? "on" : "off", received_ignore_shared ? "on" : "off");
  MIG_READER_FAIL(reader, MIG_ERR_CONFIG_MISMATCH, offset, detail, "%s", path);
  return false;
}

/*
 * The configuration's subsections (spec §3, §5.6), any order, each at most
 * once, version 1.  A 0x05 whose name is not "configuration/..." is left for
 * the section loop, which refuses it; an unknown "configuration/..." is fatal.
 */
static bool load_config_subsections(struct load_state *state, bool *capabilities_seen)
{
  static const char *const names[CONFIG_SUBSECTIONS_COUNT] = {
    "configuration/target-page-bits", "configuration/capabilities", "configuration/uuid"};
  struct mig_reader *reader = state->reader;
  bool seen[CONFIG_SUBSECTIONS_COUNT] = {false};
  uint8_t marker = 0;
  while (mig_reader_peek_u8(reader, &marker) && marker == MIG_SECTION_SUBSECTION) {
    uint64_t offset = mig_reader_offset(reader);
    uint8_t length = 0;
    if (!mig_reader_peek_at(reader, 1, &length) || length < sizeof("configuration/")) break;
    mig_read_u8(reader);
    char name[MIG_IDSTR_BYTES_MAX + 1];
    size_t name_bytes = mig_read_counted_string(reader, name, sizeof(name));
    uint64_t version_offset = mig_reader_offset(reader);
    uint32_t version = mig_read_be32(reader);
    if (mig_reader_failed(reader)) return false;
    uint32_t which = 0;
    while (which < CONFIG_SUBSECTIONS_COUNT &&
           (strlen(name) != name_bytes || strcmp(name, names[which]) != 0)) {
      which++;
    }
    if (which == CONFIG_SUBSECTIONS_COUNT || seen[which]) {
      const char *why = which == CONFIG_SUBSECTIONS_COUNT ? "no such subsection here"
                                                          : "subsection sent twice";
      MIG_READER_FAIL(reader, MIG_ERR_SUBSECTION, offset, why, "%.*s", (int)name_bytes, name);
      return false;
    }
    seen[which] = true;
    if (version != 1) {
      char detail[48];
      snprintf(detail, sizeof(detail), "version %" PRIu32 ", accepted 1..1", version);
      MIG_READER_FAIL(reader, version > MIG_SUBSECTION_VERSION_MAX ? MIG_ERR_SUBSECTION
                                                                   : MIG_ERR_SECTION_VERSION,
                      version_offset, detail, "%s", names[which]);
      return false;
    }
    if (!load_config_payload(state, which, names[which])) return false;
  }
  *capabilities_seen = seen[1];
  return true;
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
  if (strlen(name) != length || strcmp(name, state->target->machine_type) != 0) {
    char detail[MIG_MACHINE_NAME_BYTES_MAX + 64];
    snprintf(detail, sizeof(detail), "received '%s', local '%s'", name,
             state->target->machine_type);
    MIG_READER_FAIL(reader, MIG_ERR_MACHINE_MISMATCH, length_offset + 4, detail,
                    "configuration/name");
    return MIG_ERR_MACHINE_MISMATCH;
  }
  bool capabilities_seen = false;
  if (!load_config_subsections(state, &capabilities_seen)) return load_failed(state);
  if (!capabilities_seen && state->target->x_ignore_shared) {
    MIG_READER_FAIL(reader, MIG_ERR_CONFIG_MISMATCH, mig_reader_offset(reader),
                    "capability x-ignore-shared is on, but received capability is off",
                    "configuration/capabilities");
    return MIG_ERR_CONFIG_MISMATCH;
  }
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
  return handler >= state->live_first && handler < state->live_first + state->target->live_count;
}

static const struct mig_load_live *load_live(const struct load_state *state, uint32_t handler)
{
  return &state->target->lives[handler - state->live_first];
}

/* Handler index for (idstr, instance_id), or UINT32_MAX when unknown. */
static uint32_t load_find_handler(const struct load_state *state, const char *idstr,
                                  uint32_t instance_id)
{
  if (strcmp(idstr, MIG_RAM_IDSTR) == 0 && instance_id == 0) return 0;
  for (uint32_t j = 0; j < state->target->live_count; j++) {
    if (strcmp(state->target->lives[j].idstr, idstr) == 0 && instance_id == 0) {
      return state->live_first + j;
    }
  }
  for (uint32_t i = 1; i < state->handler_count; i++) {
    const struct vmstate_instance *instance = state->target->instances[i - 1];
    if (strcmp(instance->idstr, idstr) == 0 && instance->instance_id == instance_id) return i;
  }
  return UINT32_MAX;
}

static const char *load_handler_idstr(const struct load_state *state, uint32_t handler)
{
  if (load_is_live(state, handler)) return load_live(state, handler)->idstr;
  return handler == 0 ? MIG_RAM_IDSTR : state->target->instances[handler - 1]->idstr;
}

/*
 * Spec §11.3 item 5: a subsection whose name does not start with the
 * description's name is left in the stream by the vmstate loader (as QEMU
 * does); QEMU then reports a missing footer.  Say precisely what it is.
 */
static enum mig_err load_stray_subsection(struct load_state *state,
                                          const struct vmstate_instance *instance)
{
  struct mig_reader *reader = state->reader;
  uint8_t marker = 0;
  if (!mig_reader_peek_u8(reader, &marker) || marker != MIG_SECTION_SUBSECTION) return MIG_OK;
  char name[MIG_IDSTR_BYTES_MAX + 1];
  uint8_t length = 0;
  size_t kept = 0;
  if (mig_reader_peek_at(reader, 1, &length)) {
    while (kept < length && mig_reader_peek_at(reader, 2 + kept, (uint8_t *)&name[kept])) kept++;
  }
  name[kept] = 0;
  char detail[MIG_IDSTR_BYTES_MAX + 64];
  snprintf(detail, sizeof(detail), "subsection '%s' is not one of '%s'", name,
           instance->desc->name);
  MIG_READER_FAIL(reader, MIG_ERR_SUBSECTION, mig_reader_offset(reader), detail, "%s",
                  instance->idstr);
  return MIG_ERR_SUBSECTION;
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
  /* A live handler also takes FULL: its save_state section (vfio's device config). */
  if (handler == UINT32_MAX || (ram && type != MIG_SECTION_START) ||
      (!ram && !live && type == MIG_SECTION_START)) {
    char detail[64];
    snprintf(detail, sizeof(detail), "instance %" PRIu32 " in a %s section", instance_id,
             type == MIG_SECTION_START ? "START" : "FULL");
    MIG_READER_FAIL(reader, MIG_ERR_UNKNOWN_SECTION, offset, detail, "%s", idstr);
    return MIG_ERR_UNKNOWN_SECTION;
  }
  uint32_t accepted = live ? load_live(state, handler)->version_id : MIG_RAM_SECTION_VERSION;
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
    err = load_live(state, handler)->load(load_live(state, handler)->context, reader, type);
  } else {
    const struct vmstate_instance *instance = state->target->instances[handler - 1];
    err = version_id > INT32_MAX
              ? MIG_ERR_SECTION_VERSION
              : mig_vmstate_load(reader, instance->desc, instance->opaque, (int32_t)version_id);
    if (err == MIG_ERR_SECTION_VERSION && !mig_reader_failed(reader)) {
      MIG_READER_FAIL(reader, err, offset, "version out of range", "%s", idstr);
    }
    if (err != MIG_OK) load_error_place(reader, instance);
    state->stats->devices_count++;
    if (err == MIG_OK) err = load_stray_subsection(state, instance);
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
  uint32_t handlers_end = state->live_first + state->target->live_count;
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
  enum mig_err err = live ? load_live(state, handler)->load(load_live(state, handler)->context,
                                                          reader, type)
                          : mig_ram_load(&state->ram, reader, type);
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

/* QEMU 7.2's command table (spec §7): name and fixed payload length (-1: variable). */
static const struct {
  const char *name;
  int32_t length;
} load_commands[] = {
  {"INVALID", -1}, {"OPEN_RETURN_PATH", 0}, {"PING", 4}, {"POSTCOPY_ADVISE", -1},
  {"POSTCOPY_LISTEN", 0}, {"POSTCOPY_RUN", 0}, {"POSTCOPY_RAM_DISCARD", -1}, {"PACKAGED", 4},
  {"ENABLE_COLO", 0}, {"POSTCOPY_RESUME", 0}, {"RECV_BITMAP", -1},
};

static enum mig_err load_command_fail(struct load_state *state, uint64_t offset,
                                      const char *detail, const char *name)
{
  MIG_READER_FAIL(state->reader, MIG_ERR_BAD_COMMAND, offset, detail, "command/%s", name);
  return MIG_ERR_BAD_COMMAND;
}

/*
 * PACKAGED (spec §7, §11.3 item 7): the length is capped before anything is
 * read, and the package must be present whole.  Its contents are postcopy
 * commands, which this precopy destination refuses, so it stops there.
 */
static enum mig_err load_packaged(struct load_state *state, uint64_t offset)
{
  struct mig_reader *reader = state->reader;
  uint64_t length_offset = mig_reader_offset(reader);
  uint32_t length = mig_read_be32(reader);
  if (mig_reader_failed(reader)) return load_failed(state);
  char detail[80];
  if (length > MIG_PACKAGED_BYTES_MAX) {
    snprintf(detail, sizeof(detail), "length %" PRIu32 " > %" PRIu32, length,
             MIG_PACKAGED_BYTES_MAX);
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, length_offset, detail, "command/PACKAGED");
    return MIG_ERR_TOO_LONG;
  }
  mig_read_skip(reader, length);
  if (mig_reader_failed(reader)) {
    mig__reader_annotate(reader, "command/PACKAGED");
    return load_failed(state);
  }
  return load_command_fail(state, offset, "package needs postcopy, which is off here",
                           "PACKAGED");
}

/* A COMMAND record after its 0x08 (spec §7, §11.2 framing). */
static enum mig_err load_command(struct load_state *state, uint64_t offset)
{
  struct mig_reader *reader = state->reader;
  uint16_t command = mig_read_be16(reader);
  uint16_t length = mig_read_be16(reader);
  if (mig_reader_failed(reader)) return load_failed(state);
  char detail[96];
  if (command == 0 || command >= SIM_ARRAY_COUNT(load_commands)) {
    snprintf(detail, sizeof(detail), "MIG_CMD 0x%x unknown (len 0x%x)", command, length);
    return load_command_fail(state, offset, detail, "code");
  }
  const char *name = load_commands[command].name;
  if (load_commands[command].length >= 0 && load_commands[command].length != length) {
    snprintf(detail, sizeof(detail), "received with bad length - expecting %" PRId32 ", got %u",
             load_commands[command].length, length);
    return load_command_fail(state, offset, detail, name);
  }
  state->stats->commands_count++;
  switch (command) {
  case 1: state->return_path_open = true; return MIG_OK; /* repeats are harmless */
  case 2: {
    uint32_t value = mig_read_be32(reader);
    if (mig_reader_failed(reader)) return load_failed(state);
    if (!state->return_path_open) {
      return load_command_fail(state, offset, "received with no return path", name);
    }
    state->stats->pings_count++;
    if (state->target->ping != NULL) state->target->ping(state->target->ping_context, value);
    return MIG_OK;
  }
  case 7: return load_packaged(state, offset);
  case 9: return MIG_OK; /* RESUME outside postcopy-recover: ignored, as QEMU does */
  default: break;
  }
  /* ADVISE, LISTEN, RUN, DISCARD, COLO, RECV_BITMAP: postcopy and COLO are off here. */
  return load_command_fail(state, offset, "postcopy, COLO and recovery are off here", name);
}

/*
 * Topology check at EOF: every PCI device of the destination must have come
 * in the stream.  QEMU leaves such a device at its reset state; a device the
 * source does not have is a configuration mismatch (seed 000), so refuse it.
 */
static enum mig_err load_devices_complete(struct load_state *state, uint64_t offset)
{
  const bool *required = state->target->instance_required;
  if (required == NULL) return MIG_OK;
  for (uint32_t i = 1; i < state->handler_count; i++) {
    if (state->bound[i] || !required[i - 1]) continue;
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
    case MIG_SECTION_COMMAND:
      err = load_command(state, offset);
      if (err != MIG_OK) return err;
      continue;
    default: {
      char detail[48];
      snprintf(detail, sizeof(detail), "unknown savevm section type 0x%02x", type);
      MIG_READER_FAIL(reader, MIG_ERR_BAD_SECTION_TYPE, offset, detail, "stream");
      return MIG_ERR_BAD_SECTION_TYPE;
    }
    }
    if (err != MIG_OK) return err;
    state->stats->sections_count++;
  }
}

enum mig_err mig_load_target_run(struct mig_reader *reader, const struct mig_load_target *target,
                                 struct mig_load_stats *stats)
{
  SIM_ASSERT(target->instance_count < HANDLERS_MAX);
  SIM_ASSERT(target->ram_block_count >= 1 && target->ram_block_count <= MIG_RAM_BLOCKS_MAX);
  SIM_ASSERT(target->machine_type != NULL);
  struct load_state state = {.reader = reader, .target = target, .stats = stats};
  memset(stats, 0, sizeof(*stats));
  state.handler_count = 1 + target->instance_count;
  state.live_first = state.handler_count;
  SIM_ASSERT(target->live_count <= MIG_LOAD_LIVES_MAX);
  SIM_ASSERT(target->live_count == 0 || target->lives != NULL);
  mig_ram_dest_init(&state.ram, target->ram_blocks, target->ram_block_count);
  mig_ram_dest_ignore_shared_set(&state.ram, target->x_ignore_shared);
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
  const struct vmstate_instance *instances[MIG_LOAD_INSTANCES_MAX];
  bool required[MIG_LOAD_INSTANCES_MAX];
  for (uint32_t i = 0; i < machine_vmstate_count(machine); i++) {
    instances[i] = machine_vmstate(machine, i);
    required[i] = machine_vmstate_required(machine, i);
  }
  struct ram_block *blocks[RAM_BLOCKS_MAX];
  for (uint32_t i = 0; i < machine_ram_count(machine); i++) blocks[i] = machine_ram(machine, i);
  struct mig_load_target target = {
    .machine_type = machine_type(machine), .instances = instances,
    .instance_count = machine_vmstate_count(machine), .instance_required = required,
    .ram_blocks = blocks, .ram_block_count = machine_ram_count(machine),
    .x_ignore_shared = options->x_ignore_shared, .lives = options->lives,
    .live_count = options->live_count, .ping = options->ping,
    .ping_context = options->ping_context};
  return mig_load_target_run(reader, &target, stats);
}
