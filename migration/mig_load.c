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

#include "mig_json_inl.h"
#include "mig_load.h"
#include "mig_ram.h"
#include "mig_vmstate.h"

#include <jansson.h>

#define HANDLERS_MAX (MIG_LOAD_INSTANCES_MAX + 1 + MIG_LOAD_LIVES_MAX)
#define NO_HANDLER UINT32_MAX

_Static_assert(MACHINE_VMSTATE_INSTANCES_MAX < MIG_LOAD_INSTANCES_MAX, "machines fit a target");

struct load_state {
  struct mig_reader *reader;
  struct mig_tokenizer tokenizer;
  struct mig_record record;
  const struct mig_policy *policy;
  const struct mig_load_target *target;
  struct mig_load_stats *stats;
  bool return_path_open;                  /* OPEN_RETURN_PATH seen */
  bool config_seen[MIG_CONFIG_UNKNOWN];   /* configuration subsections received */
  bool config_done;                       /* the first record after them was checked */
  bool trailer_seen;
  struct mig_ram_dest ram;
  uint32_t handler_count;                 /* 1 + vmstate instances */
  uint32_t live_first;                    /* == handler_count: index of lives[0] */
  uint32_t handler;                       /* the current section's handler, or NO_HANDLER */
  bool bound[HANDLERS_MAX];               /* handler has seen a START/FULL */
  uint32_t bound_section_id[HANDLERS_MAX];
};

static enum mig_err load_failed(struct load_state *state)
{
  return mig_reader_error(state->reader)->code;
}

/* A counted name with a NUL inside, refused under names_nul_refused (7.2 cuts it there). */
static bool load_name_nul(struct load_state *state, const struct mig_name *name, uint64_t offset,
                          const char *path)
{
  if (!state->policy->names_nul_refused || !mig_name_has_nul(name)) return false;
  MIG_POLICY_FAIL(state->reader, names_nul_refused, MIG_ERR_BAD_IDSTR, offset,
                  "NUL byte inside a name", "%s", path);
  return true;
}

static enum mig_err load_machine_type(struct load_state *state, const struct mig_record *record)
{
  const struct mig_name *name = &record->config.name;
  uint64_t name_offset = record->offset + 5;
  if (load_name_nul(state, name, name_offset, "configuration/name")) return load_failed(state);
  if (mig_name_is(name, state->target->machine_type)) return MIG_OK;
  char text[MIG_MACHINE_NAME_BYTES_MAX + 1];
  mig_name_copy(name, text, sizeof text);
  char detail[MIG_MACHINE_NAME_BYTES_MAX + 64];
  snprintf(detail, sizeof(detail), "received '%s', local '%s'", text, state->target->machine_type);
  MIG_POLICY_FAIL(state->reader, destination_known, MIG_ERR_MACHINE_MISMATCH, name_offset,
                  detail, "configuration/name");
  return MIG_ERR_MACHINE_MISMATCH;
}

/* configuration/capabilities: each name known here, x-ignore-shared as the destination's. */
static enum mig_err load_capabilities(struct load_state *state, const struct mig_record *record,
                                      uint64_t body_offset, const char *path)
{
  const struct mig_record_config *config = &record->config;
  uint64_t name_offset = body_offset + 4;
  bool received = false;
  for (uint32_t i = 0; i < config->capability_count; i++) {
    const struct mig_name *name = &config->capabilities[i];
    char text[MIG_IDSTR_BYTES_MAX + 1];
    mig_name_copy(name, text, sizeof text);
    char where[MIG_PATH_BYTES_MAX];
    snprintf(where, sizeof where, "%s[%" PRIu32 "]", path, i);
    if (load_name_nul(state, name, name_offset, where)) return load_failed(state);
    bool ignore_shared = mig_name_is(name, MIG_CAPABILITY_X_IGNORE_SHARED);
    bool known = ignore_shared || (!state->policy->capabilities_only_validated &&
                                   mig_wire_capability_known_7_2(name->bytes, name->length));
    if (!known) {
      char detail[MIG_IDSTR_BYTES_MAX + 64];
      snprintf(detail, sizeof(detail), "received unknown capability %s", text);
      MIG_READER_FAIL(state->reader, MIG_ERR_CONFIG_MISMATCH, name_offset, detail, "%s", where);
      if (mig_wire_capability_known_7_2(name->bytes, name->length)) {
        mig__reader_policy(state->reader, "capabilities_only_validated");
      }
      return MIG_ERR_CONFIG_MISMATCH;
    }
    received = received || ignore_shared;
    name_offset += 1u + name->length;
  }
  if (received == state->target->x_ignore_shared) return MIG_OK;
  char detail[96];
  snprintf(detail, sizeof(detail), "capability x-ignore-shared is %s, but received capability "
           "is %s", state->target->x_ignore_shared ? "on" : "off", received ? "on" : "off");
  MIG_POLICY_FAIL(state->reader, destination_known, MIG_ERR_CONFIG_MISMATCH, body_offset, detail,
                  "%s", path);
  return MIG_ERR_CONFIG_MISMATCH;
}

/* One configuration subsection (spec §3): the tokenizer checked name, version and shape. */
static enum mig_err load_config_subsection(struct load_state *state,
                                           const struct mig_record *record)
{
  const struct mig_record_config *config = &record->config;
  static const char *const names[] = {
#define LOAD_CONFIG_NAME(name, text) text,
    MIG_CONFIG_SUBSECTION_MAP(LOAD_CONFIG_NAME)
#undef LOAD_CONFIG_NAME
  };
  SIM_ASSERT(config->which < MIG_CONFIG_UNKNOWN);
  const char *path = names[config->which];
  uint64_t body_offset = record->offset + 2 + config->name.length + 4;
  if (state->config_seen[config->which] && state->policy->config_subsection_repeat_refused) {
    MIG_POLICY_FAIL(state->reader, config_subsection_repeat_refused, MIG_ERR_SUBSECTION,
                    record->offset, "subsection sent twice", "%s", path);
    return MIG_ERR_SUBSECTION;
  }
  state->config_seen[config->which] = true;
  char detail[96];
  switch (config->which) {
  case MIG_CONFIG_TARGET_PAGE_BITS:
    if (config->page_bits == MIG_PAGE_BITS) return MIG_OK;
    snprintf(detail, sizeof(detail), "received TARGET_PAGE_BITS is %" PRIu32 " but local is %d",
             config->page_bits, MIG_PAGE_BITS);
    MIG_POLICY_FAIL(state->reader, destination_known, MIG_ERR_CONFIG_MISMATCH, body_offset,
                    detail, "%s", path);
    return MIG_ERR_CONFIG_MISMATCH;
  case MIG_CONFIG_UUID: /* checked only when the destination has one */
    if (state->target->uuid == NULL ||
        memcmp(config->uuid, state->target->uuid, MIG_CONFIG_UUID_BYTES) == 0) {
      return MIG_OK;
    }
    MIG_POLICY_FAIL(state->reader, destination_known, MIG_ERR_CONFIG_MISMATCH, body_offset,
                    "UUID differs", "%s", path);
    return MIG_ERR_CONFIG_MISMATCH;
  case MIG_CONFIG_CAPABILITIES: return load_capabilities(state, record, body_offset, path);
  case MIG_CONFIG_UNKNOWN: break;
  }
  SIM_ASSERT(!"unknown configuration subsection");
  return MIG_ERR_SUBSECTION;
}

/* The first record after the configuration: x-ignore-shared on here needs the stream's. */
static enum mig_err load_config_done(struct load_state *state, uint64_t offset)
{
  if (state->config_done) return MIG_OK;
  state->config_done = true;
  if (state->config_seen[MIG_CONFIG_CAPABILITIES] || !state->target->x_ignore_shared) {
    return MIG_OK;
  }
  MIG_POLICY_FAIL(state->reader, destination_known, MIG_ERR_CONFIG_MISMATCH, offset,
                  "capability x-ignore-shared is on, but received capability is off",
                  "configuration/capabilities");
  return MIG_ERR_CONFIG_MISMATCH;
}

static bool load_is_live(const struct load_state *state, uint32_t handler)
{
  return handler >= state->live_first && handler < state->live_first + state->target->live_count;
}

static const struct mig_load_live *load_live(const struct load_state *state, uint32_t handler)
{
  return &state->target->lives[handler - state->live_first];
}

/* Handler index for (idstr, instance_id), or NO_HANDLER when unknown. */
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
  return NO_HANDLER;
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
  /* Where the fields end is this destination's table's knowledge: a walker without it sizes
     the section by the trailer or the footer and reads the bytes as payload. */
  mig__reader_policy(reader, "destination_known");
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

/* A vmstate instance's FULL payload, read from the reader (opaque to the record layer). */
static enum mig_err load_device(struct load_state *state, const struct mig_record *record,
                                const struct vmstate_instance *instance)
{
  struct mig_reader *reader = state->reader;
  uint32_t version_id = record->section.version;
  enum mig_err err = version_id > INT32_MAX
                         ? MIG_ERR_SECTION_VERSION
                         : mig_vmstate_load(reader, instance->desc, instance->opaque,
                                            (int32_t)version_id);
  if (err == MIG_ERR_SECTION_VERSION && !mig_reader_failed(reader)) {
    MIG_READER_FAIL(reader, err, record->offset, "version out of range", "%s", instance->idstr);
  }
  if (err != MIG_OK) {
    load_error_place(reader, instance);
    /* The payload was read by this destination's table: its size and meaning are ours. */
    mig__reader_policy(reader, "destination_known");
  }
  state->stats->devices_count++;
  if (err == MIG_OK) err = load_stray_subsection(state, instance);
  return err;
}

/* START and FULL: find and bind the handler, check the version, start the payload. */
static enum mig_err load_section_long(struct load_state *state, const struct mig_record *record)
{
  struct mig_reader *reader = state->reader;
  const struct mig_record_section *section = &record->section;
  uint8_t type = section->type;
  char idstr[MIG_IDSTR_BYTES_MAX + 1];
  mig_name_copy(&section->idstr, idstr, sizeof idstr);
  char where[32];
  snprintf(where, sizeof where, "section 0x%" PRIx32, section->section_id);
  if (load_name_nul(state, &section->idstr, record->offset + 5, where)) return load_failed(state);
  uint32_t handler = load_find_handler(state, idstr, section->instance_id);
  bool ram = handler == 0;
  bool live = load_is_live(state, handler);
  /* A live handler also takes FULL: its save_state section (vfio's device config). */
  if (handler == NO_HANDLER || (ram && type != MIG_SECTION_START) ||
      (!ram && !live && type == MIG_SECTION_START)) {
    char detail[64];
    snprintf(detail, sizeof(detail), "instance %" PRIu32 " in a %s section", section->instance_id,
             type == MIG_SECTION_START ? "START" : "FULL");
    MIG_POLICY_FAIL(reader, destination_known, MIG_ERR_UNKNOWN_SECTION, record->offset, detail,
                    "%s", idstr);
    return MIG_ERR_UNKNOWN_SECTION;
  }
  uint32_t accepted = live ? load_live(state, handler)->version_id : MIG_RAM_SECTION_VERSION;
  if ((ram || live) && section->version != accepted) {
    char detail[48];
    snprintf(detail, sizeof(detail), "version %" PRIu32 ", accepted %" PRIu32, section->version,
             accepted);
    MIG_POLICY_FAIL(reader, destination_known, MIG_ERR_SECTION_VERSION, record->offset, detail,
                    "%s", idstr);
    return MIG_ERR_SECTION_VERSION;
  }
  state->bound[handler] = true;
  state->bound_section_id[handler] = section->section_id;
  state->handler = handler;
  if (live) {
    return load_live(state, handler)->load(load_live(state, handler)->context, reader, record);
  }
  if (ram) return MIG_OK;
  return load_device(state, record, state->target->instances[handler - 1]);
}

/* PART and END: only for an id a START bound earlier. */
static enum mig_err load_section_short(struct load_state *state, const struct mig_record *record)
{
  uint32_t section_id = record->section.section_id;
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
             record->section.type == MIG_SECTION_PART ? "PART" : "END", section_id);
    MIG_READER_FAIL(state->reader, MIG_ERR_UNKNOWN_SECTION, record->offset, detail,
                    "section 0x%" PRIx32, section_id);
    return MIG_ERR_UNKNOWN_SECTION;
  }
  state->handler = handler;
  if (!live) return MIG_OK;
  return load_live(state, handler)->load(load_live(state, handler)->context, state->reader,
                                         record);
}

/* A record of the current section's payload, for its handler. */
static enum mig_err load_payload_record(struct load_state *state, const struct mig_record *record)
{
  uint32_t handler = state->handler;
  SIM_ASSERT(handler != NO_HANDLER);
  if (handler == 0) return mig_ram_load_record(&state->ram, state->reader, record);
  SIM_ASSERT(load_is_live(state, handler));
  return load_live(state, handler)->load(load_live(state, handler)->context, state->reader,
                                         record);
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
  bool valid = mig__json_vmdesc_ok(root);
  if (!valid) snprintf(detail, detail_bytes, "%s", MIG_JSON_VMDESC_DETAIL);
  json_decref(root);
  return valid;
}

/* The trailer's JSON (viewed, or read here when the window could not hold it). */
static enum mig_err load_trailer(struct load_state *state, const struct mig_record *record)
{
  struct mig_reader *reader = state->reader;
  state->trailer_seen = true;
  state->stats->vmdesc_bytes = record->payload_bytes;
  if (!state->policy->trailer_checked) return MIG_OK;
  size_t length = (size_t)record->payload_bytes;
  char *copy = NULL;
  const char *text = (const char *)record->payload;
  if (text == NULL && length > 0) {
    copy = malloc(length);
    SIM_ASSERT(copy != NULL);
    mig_read_bytes(reader, copy, length);
    mig__reader_annotate(reader, "vmdescription/json");
    text = copy;
  }
  char detail[128];
  bool valid = !mig_reader_failed(reader) && load_vmdesc_valid(text != NULL ? text : "", length,
                                                               detail, sizeof(detail));
  free(copy);
  if (mig_reader_failed(reader)) return load_failed(state);
  if (!valid) {
    MIG_POLICY_FAIL(reader, trailer_checked, MIG_ERR_VMDESC, record->offset + 5, detail,
                    "vmdescription/json");
    return MIG_ERR_VMDESC;
  }
  return MIG_OK;
}

/* A byte after EOF that starts no trailer, or any byte after the trailer. */
static enum mig_err load_trailing(struct load_state *state, const struct mig_record *record)
{
  if (!state->policy->trailer_checked) return MIG_OK;  /* 7.2: a warning, the load succeeds */
  if (state->trailer_seen) {
    MIG_POLICY_FAIL(state->reader, trailer_checked, MIG_ERR_TRAILING, record->offset,
                    "bytes after the VM description", "stream");
    return MIG_ERR_TRAILING;
  }
  char detail[64];
  snprintf(detail, sizeof(detail), "expected vmdescription section, but got 0x%02x",
           record->trailing);
  MIG_POLICY_FAIL(state->reader, trailer_checked, MIG_ERR_VMDESC, record->offset, detail,
                  "vmdescription");
  return MIG_ERR_VMDESC;
}

static enum mig_err load_command_refuse(struct load_state *state, uint64_t offset,
                                        const char *detail, const char *name)
{
  MIG_POLICY_FAIL(state->reader, postcopy_refused, MIG_ERR_BAD_COMMAND, offset, detail,
                  "command/%s", name);
  return MIG_ERR_BAD_COMMAND;
}

static enum mig_err load_record(struct load_state *state, const struct mig_record *record,
                                bool *done);

/*
 * A postcopy package's body (spec §7 PACKAGED, §4.6): a run of records with
 * no header and no EOF that ends at POSTCOPY_RUN (QEMU leaves the nested loop
 * there; bytes after it are ignored, as QEMU does).  The outer tokenizer is
 * set aside meanwhile and the package read from memory at its own offsets.
 */
static enum mig_err load_package_run(struct load_state *state, const uint8_t *bytes,
                                     uint32_t length, uint64_t offset)
{
  struct mig_reader package;
  mig_reader_init_memory_at(&package, bytes, length, offset);
  struct mig_tokenizer *outer = malloc(sizeof *outer);
  SIM_ASSERT(outer != NULL);
  *outer = state->tokenizer;
  struct mig_reader *main = state->reader;
  state->reader = &package;
  mig_tokenizer_init_records(&state->tokenizer, &package, &outer->options);
  enum mig_err err = MIG_OK;
  bool run = false, done = false;
  while (err == MIG_OK && !run && !done) {
    err = mig_record_next(&state->tokenizer, &state->record);
    if (err != MIG_OK) break;
    if (state->record.kind == MIG_RECORD_EOF || state->record.kind == MIG_RECORD_END) break;
    run = state->record.kind == MIG_RECORD_COMMAND &&
          state->record.command == MIG_CMD_POSTCOPY_RUN;
    err = load_record(state, &state->record, &done);
  }
  if (err == MIG_OK && !run) {
    MIG_READER_FAIL(&package, MIG_ERR_BAD_COMMAND, state->record.offset,
                    "package ended without POSTCOPY_RUN", "command/PACKAGED");
    err = MIG_ERR_BAD_COMMAND;
  }
  state->tokenizer = *outer;
  free(outer);
  state->reader = main;
  if (err != MIG_OK) mig_record_payload_close(main, &package);
  return err;
}

/*
 * PACKAGED (spec §7, §11.3 item 7): the length is capped before anything is
 * read, and the package must be present whole.  Its contents are postcopy
 * commands: a destination with postcopy on runs them, others refuse them.
 */
static enum mig_err load_packaged(struct load_state *state, const struct mig_record *record)
{
  struct mig_reader *reader = state->reader;
  uint32_t length = record->package_bytes;
  if (length > state->policy->packaged_bytes_max) {
    char detail[80];
    snprintf(detail, sizeof(detail), "length %" PRIu32 " > %" PRIu32, length,
             state->policy->packaged_bytes_max);
    MIG_POLICY_FAIL(reader, packaged_bytes_max, MIG_ERR_TOO_LONG, record->payload_offset, detail,
                    "command/PACKAGED");
    return MIG_ERR_TOO_LONG;
  }
  if (state->target->postcopy == NULL) {
    mig_read_skip(reader, length);
    if (mig_reader_failed(reader)) {
      mig__reader_annotate(reader, "command/PACKAGED");
      return load_failed(state);
    }
    return load_command_refuse(state, record->offset,
                               "package needs postcopy, which is off here", "PACKAGED");
  }
  uint64_t offset = mig_reader_offset(reader);
  uint8_t *bytes = malloc(SIM_MAX(length, 1u));  /* bounded by packaged_bytes_max above */
  SIM_ASSERT(bytes != NULL);
  mig_read_bytes(reader, bytes, length);
  enum mig_err err = MIG_OK;
  if (mig_reader_failed(reader)) {
    mig__reader_annotate(reader, "command/PACKAGED");
    err = load_failed(state);
  } else {
    err = load_package_run(state, bytes, length, offset);
  }
  free(bytes);
  return err;
}

/* A COMMAND record (spec §7); the record layer checked its code and length. */
static enum mig_err load_command(struct load_state *state, const struct mig_record *record)
{
  const char *name = mig_wire_command_name(record->command);
  state->stats->commands_count++;
  switch (record->command) {
  case MIG_CMD_OPEN_RETURN_PATH: state->return_path_open = true; return MIG_OK; /* repeats: ok */
  case MIG_CMD_PING: {
    const uint8_t *p = record->payload;
    uint32_t value = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (!state->return_path_open && state->policy->ping_needs_return_path) {
      MIG_POLICY_FAIL(state->reader, ping_needs_return_path, MIG_ERR_BAD_COMMAND, record->offset,
                      "received with no return path", "command/%s", name);
      return MIG_ERR_BAD_COMMAND;
    }
    state->stats->pings_count++;
    if (state->target->ping != NULL) state->target->ping(state->target->ping_context, value);
    return MIG_OK;
  }
  case MIG_CMD_PACKAGED: return load_packaged(state, record);
  case MIG_CMD_ENABLE_COLO: break;
  case MIG_CMD_POSTCOPY_RESUME:
    if (state->target->postcopy == NULL) return MIG_OK; /* outside postcopy-recover: ignored */
    /* fall through */
  default:
    if (state->target->postcopy != NULL) {
      const struct mig_load_postcopy *postcopy = state->target->postcopy;
      return postcopy->command(postcopy->context, state->reader, record);
    }
    break;
  }
  /* ADVISE, LISTEN, RUN, DISCARD, COLO, RECV_BITMAP: postcopy and COLO are off here. */
  return load_command_refuse(state, record->offset, "postcopy, COLO and recovery are off here",
                             name);
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
    MIG_POLICY_FAIL(state->reader, destination_known, MIG_ERR_UNKNOWN_SECTION, offset,
                    "device missing from the stream (not on the source?)", "%s",
                    load_handler_idstr(state, i));
    return MIG_ERR_UNKNOWN_SECTION;
  }
  return MIG_OK;
}

/* EOF: the topology check, then (postcopy) every page must have arrived. */
static enum mig_err load_eof(struct load_state *state, uint64_t offset)
{
  enum mig_err err = load_devices_complete(state, offset);
  const struct mig_load_postcopy *postcopy = state->target->postcopy;
  if (err != MIG_OK || postcopy == NULL) return err;
  return postcopy->finish(postcopy->context, state->reader);
}

/*
 * Postcopy recovery: the channel failed; when the postcopy side paused and
 * got a new channel, the stream goes on from a top-level record of it with
 * the section bindings kept (PART(ram) still means RAM).
 */
static bool load_recovered(struct load_state *state, enum mig_err err)
{
  const struct mig_load_postcopy *postcopy = state->target->postcopy;
  if (postcopy == NULL || postcopy->recovered == NULL) return false;
  if (!postcopy->recovered(postcopy->context, state->reader, err)) return false;
  SIM_ASSERT(!mig_reader_failed(state->reader));
  mig_tokenizer_resume(&state->tokenizer, state->reader);
  state->handler = NO_HANDLER;
  state->ram.last_block = NULL;
  return true;
}

/* The header, then a configuration section unless the policy lets legacy streams in. */
static enum mig_err load_header(struct load_state *state)
{
  enum mig_err err = mig_record_next(&state->tokenizer, &state->record);
  if (err != MIG_OK) return err;
  SIM_ASSERT(state->record.kind == MIG_RECORD_HEADER);
  uint8_t type = 0;
  if (!mig_record_peek_type(&state->tokenizer, &type)) {
    return mig_record_next(&state->tokenizer, &state->record);  /* latches the truncation */
  }
  if (type == MIG_SECTION_CONFIGURATION || !state->policy->configuration_required) return MIG_OK;
  MIG_POLICY_FAIL(state->reader, configuration_required, MIG_ERR_NO_CONFIGURATION,
                  mig_reader_offset(state->reader), "configuration section missing",
                  "configuration");
  return MIG_ERR_NO_CONFIGURATION;
}

/* One record after the header; *done at the end of the stream. */
static enum mig_err load_record(struct load_state *state, const struct mig_record *record,
                                bool *done)
{
  bool top = record->kind == MIG_RECORD_SECTION || record->kind == MIG_RECORD_COMMAND ||
             record->kind == MIG_RECORD_EOF;
  if (top && load_config_done(state, record->offset) != MIG_OK) return load_failed(state);
  switch (record->kind) {
  case MIG_RECORD_CONFIGURATION: return load_machine_type(state, record);
  case MIG_RECORD_CONFIG_SUBSECTION: return load_config_subsection(state, record);
  case MIG_RECORD_SECTION:
    if (record->section.type == MIG_SECTION_START || record->section.type == MIG_SECTION_FULL) {
      return load_section_long(state, record);
    }
    return load_section_short(state, record);
  case MIG_RECORD_FOOTER:
    state->handler = NO_HANDLER;
    state->stats->sections_count++;
    return MIG_OK;
  case MIG_RECORD_COMMAND: return load_command(state, record);
  case MIG_RECORD_EOF: return load_eof(state, record->offset);
  case MIG_RECORD_TRAILER: return load_trailer(state, record);
  case MIG_RECORD_TRAILING: return load_trailing(state, record);
  case MIG_RECORD_END: *done = true; return MIG_OK;
  default: return load_payload_record(state, record);
  }
}

/*
 * A device's payload ends where its vmstate tables stopped reading.  No
 * footer marker there is the destination's verdict: the walker, which sizes
 * the section from the stream's trailer, may find the footer elsewhere
 * (docs/hostile.md, destination_known).  So may a stream that ends there:
 * the tables read on into what the walker took for the footer and EOF.  A
 * marker with the wrong id is the stream's own framing, and stays untagged.
 */
static bool load_device_end_unmarked(struct load_state *state)
{
  uint32_t handler = state->handler;
  if (handler == NO_HANDLER || handler == 0 || load_is_live(state, handler)) return false;
  uint8_t next = 0;
  return !mig_reader_peek_u8(state->reader, &next) || next != MIG_SECTION_FOOTER;
}

enum mig_err mig_load_target_run(struct mig_reader *reader, const struct mig_load_target *target,
                                 struct mig_load_stats *stats)
{
  SIM_ASSERT(target->instance_count < HANDLERS_MAX);
  SIM_ASSERT(target->ram_block_count >= 1 && target->ram_block_count <= MIG_RAM_BLOCKS_MAX);
  SIM_ASSERT(target->machine_type != NULL);
  SIM_ASSERT(target->live_count <= MIG_LOAD_LIVES_MAX);
  SIM_ASSERT(target->live_count == 0 || target->lives != NULL);
  /* On the heap: the tokenizer holds ~10 KiB of names, and loads may run on fiber stacks. */
  struct load_state *state = calloc(1, sizeof *state);
  SIM_ASSERT(state != NULL);
  state->reader = reader;
  state->target = target;
  state->stats = stats;
  state->policy = target->policy != NULL ? target->policy : &mig_policy_strict;
  state->handler = NO_HANDLER;
  memset(stats, 0, sizeof(*stats));
  state->handler_count = 1 + target->instance_count;
  state->live_first = state->handler_count;
  struct mig_record_options options;
  mig_record_options_from_policy(state->policy, &options);
  mig_tokenizer_init(&state->tokenizer, reader, &options);
  mig_ram_dest_init(&state->ram, target->ram_blocks, target->ram_block_count);
  mig_ram_dest_ignore_shared_set(&state->ram, target->x_ignore_shared);
  state->ram.policy = state->policy;
  state->ram.eos = target->ram_eos;
  state->ram.eos_context = target->ram_eos_context;
  if (target->postcopy != NULL) {
    state->ram.placed = target->postcopy->placed;
    state->ram.placed_context = target->postcopy->context;
  }
  enum mig_err err = load_header(state);
  for (bool done = false; err == MIG_OK && !done;) {
    bool no_marker = load_device_end_unmarked(state);
    err = mig_record_next(&state->tokenizer, &state->record);
    if ((err == MIG_ERR_FOOTER || err == MIG_ERR_TRUNCATED) && no_marker) {
      mig__reader_policy(reader, "destination_known");
    }
    if (err == MIG_OK) err = load_record(state, &state->record, &done);
    if (err != MIG_OK && load_recovered(state, err)) err = MIG_OK;
  }
  stats->zero_pages_count = state->ram.zero_pages_count;
  stats->normal_pages_count = state->ram.normal_pages_count;
  stats->stream_bytes = mig_reader_offset(reader);
  SIM_ASSERT(err == MIG_OK || mig_reader_failed(reader));
  free(state);
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
    .ping_context = options->ping_context, .policy = options->policy,
    .postcopy = options->postcopy, .ram_eos = options->ram_eos,
    .ram_eos_context = options->ram_eos_context};
  return mig_load_target_run(reader, &target, stats);
}
