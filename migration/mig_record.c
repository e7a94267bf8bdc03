/*
 * mig_record.c: the record layer (contract in mig_record.h; grammar in
 * spec/stream-format.md §2-§7, §10 and, for the live sections QEMU 7.2 has
 * beside RAM, migration/block.c, migration/block-dirty-bitmap.c and
 * hw/vfio/migration.c).
 *
 * The tokenizer is a state machine: `state` says what the next record may be
 * (header, configuration, a top-level record, a record of the current
 * section's payload, its footer, what follows EOF).  Each call reads exactly
 * one record and leaves the reader at the next one, so a consumer that reads
 * an opaque payload itself continues from where the payload ends.  Errors
 * are latched on the reader (STYLE R10) with the record's offset and a
 * `section/field` path; primitive reads that run out are annotated with the
 * record being read.
 */
#include "sim_base.h"

#include "mig_record.h"
#include "mig_record_inl.h"

enum tokenizer_state {   /* STATE_PAYLOAD is MIG__RECORD_STATE_PAYLOAD (mig_record_inl.h) */
  STATE_HEADER,
  STATE_CONFIGURATION,    /* after the header: 0x07 or the first top-level record */
  STATE_CONFIG_SUB,       /* after the configuration: its subsections, then records */
  STATE_TOP,              /* a top-level record */
  STATE_PAYLOAD,          /* inside current's payload, by current.grammar */
  STATE_RAM_SETUP,        /* inside a MEM_SIZE block list */
  STATE_FOOTER,           /* current's payload is done: its footer */
  STATE_AFTER_EOF,
  STATE_AFTER_TRAILER,
  STATE_END,
};

_Static_assert(STATE_PAYLOAD == MIG__RECORD_STATE_PAYLOAD, "the inline fast path agrees");
#define NO_PAYLOAD_END UINT64_MAX
#define ZERO_RECORD_BYTES 9u    /* be64 word + fill byte */
#define ZERO_CONTINUE (MIG_RAM_FLAG_ZERO | MIG_RAM_FLAG_CONTINUE)
#define RAM_FLAGS_MASK ((uint64_t)MIG_PAGE_BYTES - 1)
#define RAM_KINDS_ALL (MIG_RAM_FLAG_ZERO | MIG_RAM_FLAG_PAGE | MIG_RAM_FLAG_MEM_SIZE | \
                       MIG_RAM_FLAG_EOS | MIG_RAM_FLAG_XBZRLE | MIG_RAM_FLAG_COMPRESS_PAGE)
#define CONFIG_PREFIX MIG_CONFIGURATION_NAME

static const char *const config_names[] = {
#define RECORD_CONFIG_NAME(name, text) text,
  MIG_CONFIG_SUBSECTION_MAP(RECORD_CONFIG_NAME)
#undef RECORD_CONFIG_NAME
};

const struct mig_policy mig_policy_strict = {
  .configuration_required = true, .names_nul_refused = true,
  .zero_fill_nonzero_refused = true, .capabilities_only_validated = true,
  .config_subsection_repeat_refused = true, .trailer_checked = true, .ram_setup_first = true,
  .ram_xbzrle_refused = true, .ram_compress_refused = true, .postcopy_refused = true,
  .ping_needs_return_path = true, .packaged_bytes_max = MIG_PACKAGED_BYTES_MAX,
  .destination_known = true,
};
const struct mig_policy mig_policy_qemu_7_2 = {
  .ram_compress_refused = true, .ping_needs_return_path = true,
  .packaged_bytes_max = UINT32_MAX, .destination_known = true,
};
/*
 * The walker reads what QEMU 7.2 reads, except: names with a NUL (its
 * summary and re-encoding print names as text), a malformed trailer (it sizes
 * FULL sections from it), COMPRESS_PAGE (decoded) and a PACKAGED body over
 * 16 MiB (it is read whole, as QEMU does, before it is walked).
 */
const struct mig_policy mig_policy_walk = {
  .names_nul_refused = true, .trailer_checked = true, .postcopy_refused = false,
  .ping_needs_return_path = true,
  .packaged_bytes_max = MIG_PACKAGED_BYTES_MAX, .trailer_sizes_full_sections = true,
};

/* The bool fields of struct mig_policy, for mig_policy_refuses. */
#define MIG_POLICY_BOOL_MAP(X) \
  X(configuration_required) X(names_nul_refused) X(zero_fill_nonzero_refused) \
  X(capabilities_only_validated) X(config_subsection_repeat_refused) X(trailer_checked) \
  X(ram_setup_first) X(ram_xbzrle_refused) X(ram_compress_refused) X(postcopy_refused) \
  X(ping_needs_return_path) X(destination_known) X(trailer_sizes_full_sections)

bool mig_policy_refuses(const struct mig_policy *policy, const char *field)
{
  SIM_ASSERT(policy != NULL && field != NULL);
#define MIG_POLICY_BOOL_CASE(name) \
  if (strcmp(field, #name) == 0) return policy->name;
  MIG_POLICY_BOOL_MAP(MIG_POLICY_BOOL_CASE)
#undef MIG_POLICY_BOOL_CASE
  if (strcmp(field, "packaged_bytes_max") == 0) return policy->packaged_bytes_max < UINT32_MAX;
  return false;
}

static enum mig_record_grammar grammar_of(const struct mig_name *idstr);
static uint64_t load_be64(const uint8_t *bytes);

void mig_record_options_from_policy(const struct mig_policy *policy,
                                    struct mig_record_options *options)
{
  *options = (struct mig_record_options){.command_max = MIG_CMD_MAX_7_2,
                                         .ram_kinds = RAM_KINDS_ALL};
  if (policy->ram_xbzrle_refused) options->ram_kinds &= ~(uint32_t)MIG_RAM_FLAG_XBZRLE;
  if (policy->ram_compress_refused) options->ram_kinds &= ~(uint32_t)MIG_RAM_FLAG_COMPRESS_PAGE;
}

static bool tokenizer_failed(const struct mig_tokenizer *tokenizer)
{
  return mig_reader_failed(tokenizer->reader);
}

static enum mig_err tokenizer_error(const struct mig_tokenizer *tokenizer)
{
  return mig_reader_error(tokenizer->reader)->code;
}

void mig_tokenizer_init(struct mig_tokenizer *tokenizer, struct mig_reader *reader,
                        const struct mig_record_options *options)
{
  SIM_ASSERT(tokenizer != NULL && reader != NULL);
  memset(tokenizer, 0, offsetof(struct mig_tokenizer, names));
  tokenizer->reader = reader;
  if (options != NULL) tokenizer->options = *options;
  if (tokenizer->options.command_max == 0) tokenizer->options.command_max = MIG_CMD_MAX_7_2;
  if (tokenizer->options.ram_kinds == 0) tokenizer->options.ram_kinds = RAM_KINDS_ALL;
  tokenizer->x_ignore_shared = tokenizer->options.x_ignore_shared;
  SIM_ASSERT(tokenizer->options.command_max <= MIG_COMMANDS_COUNT);
  tokenizer->state = STATE_HEADER;
  tokenizer->payload_end = NO_PAYLOAD_END;
  tokenizer->last_block.bytes = tokenizer->names.last_block;
}

struct mig_reader *mig_record_reader(struct mig_tokenizer *tokenizer)
{
  return tokenizer->reader;
}

void mig_tokenizer_rebase(struct mig_tokenizer *tokenizer, struct mig_reader *reader)
{
  SIM_ASSERT(reader != NULL && tokenizer->reader != NULL);
  SIM_ASSERT(tokenizer->payload_end == NO_PAYLOAD_END);  /* at a record boundary */
  tokenizer->reader = reader;
}

void mig_tokenizer_init_records(struct mig_tokenizer *tokenizer, struct mig_reader *reader,
                                const struct mig_record_options *options)
{
  mig_tokenizer_init(tokenizer, reader, options);
  tokenizer->configuration_seen = true;  /* footers are not optional here */
  tokenizer->state = STATE_TOP;
}

void mig_tokenizer_resume(struct mig_tokenizer *tokenizer, struct mig_reader *reader)
{
  SIM_ASSERT(tokenizer->configuration_seen);
  struct mig_record_options options = tokenizer->options;
  bool footer_seen = tokenizer->footer_seen;
  bool x_ignore_shared = tokenizer->x_ignore_shared;
  uint32_t live_count = tokenizer->live_count;
  mig_tokenizer_init_records(tokenizer, reader, &options);  /* names.lives stay */
  tokenizer->footer_seen = footer_seen;
  tokenizer->x_ignore_shared = x_ignore_shared;
  tokenizer->live_count = live_count;
}

void mig_tokenizer_init_payload(struct mig_tokenizer *tokenizer, struct mig_reader *reader,
                                const struct mig_record_options *options, uint8_t type,
                                const char *idstr)
{
  SIM_ASSERT(type >= MIG_SECTION_START && type <= MIG_SECTION_FULL);
  SIM_ASSERT(strlen(idstr) <= MIG_IDSTR_BYTES_MAX);
  mig_tokenizer_init(tokenizer, reader, options);
  struct mig_record_section *section = &tokenizer->current;
  memcpy(tokenizer->names.current_idstr, idstr, strlen(idstr));
  section->type = type;
  section->idstr = (struct mig_name){tokenizer->names.current_idstr, (uint8_t)strlen(idstr)};
  section->grammar = type == MIG_SECTION_FULL ? MIG_GRAMMAR_OPAQUE : grammar_of(&section->idstr);
  tokenizer->configuration_seen = true;  /* footers are not optional here */
  tokenizer->state = STATE_PAYLOAD;
}

struct mig_reader *mig_record_payload_open(struct mig_reader *main,
                                           const struct mig_record *record,
                                           struct mig_reader *scratch)
{
  if (record->payload == NULL) return main;
  mig_reader_init_memory_at(scratch, record->payload, (size_t)record->payload_bytes,
                            record->payload_offset);
  return scratch;
}

void mig_record_payload_close(struct mig_reader *main, struct mig_reader *payload_reader)
{
  if (payload_reader == main || !mig_reader_failed(payload_reader)) return;
  const struct mig_error *error = mig_reader_error(payload_reader);
  mig__reader_fail(main, error->code, error->offset, error->source_file, error->source_line,
                   error->detail, "%s", error->path);
}

/* ------------------------------------------------------------------ names */

bool mig_name_has_nul(const struct mig_name *name)
{
  return name->length > 0 && memchr(name->bytes, 0, name->length) != NULL;
}

void mig_name_copy(const struct mig_name *name, char *out, size_t out_bytes)
{
  SIM_ASSERT(out_bytes > MIG_IDSTR_BYTES_MAX);
  if (name->length > 0) memcpy(out, name->bytes, name->length);
  out[name->length] = '\0';
}

bool mig_name_is(const struct mig_name *name, const char *text)
{
  size_t length = strlen(text);
  return length == name->length && (length == 0 || memcmp(name->bytes, text, length) == 0);
}

enum mig_subsection_peek mig_subsection_peek(const uint8_t *bytes, uint64_t available,
                                             const char *parent,
                                             struct mig_subsection_head *head)
{
  size_t prefix = strlen(parent);
  head->name[0] = '\0';
  head->name_bytes = 0;
  head->prefix_agrees = true;
  head->version_at = 0;
  head->version_whole = false;
  head->version = 0;
  if (available < 1 || bytes[0] != MIG_SECTION_SUBSECTION) return MIG_SUBSECTION_NONE;
  if (available < 2) return MIG_SUBSECTION_CUT;
  head->name_bytes = bytes[1];
  if (head->name_bytes < prefix + 1) return MIG_SUBSECTION_FOREIGN;
  uint64_t there = SIM_MIN(available - 2, (uint64_t)head->name_bytes);
  head->prefix_agrees = memcmp(bytes + 2, parent, SIM_MIN(there, (uint64_t)prefix)) == 0;
  if (there < head->name_bytes) return MIG_SUBSECTION_CUT;
  if (!head->prefix_agrees) return MIG_SUBSECTION_FOREIGN;
  memcpy(head->name, bytes + 2, head->name_bytes);
  head->name[head->name_bytes] = '\0';
  head->version_at = 2u + head->name_bytes;
  head->version_whole = available >= head->version_at + 4;
  if (head->version_whole) head->version = bytes[head->version_at + 3];
  return MIG_SUBSECTION_OURS;
}

enum mig_subsection_peek mig_subsection_peek_reader(struct mig_reader *reader,
                                                    const char *parent,
                                                    struct mig_subsection_head *head)
{
  /* Only as far as the rule looks (most calls see no 0x05: one peek, no refill). */
  uint8_t bytes[2 + MIG_IDSTR_BYTES_MAX];
  uint64_t available = 0, wanted = 1;
  while (available < wanted && mig_reader_peek_at(reader, available, &bytes[available])) {
    available++;
    if (available == 1 && bytes[0] == MIG_SECTION_SUBSECTION) wanted = 2;
    if (available == 2 && bytes[1] >= strlen(parent) + 1) wanted = 2u + bytes[1];
  }
  return mig_subsection_peek(bytes, available, parent, head);
}

/* A counted string copied into storage (views move in refill mode); false after an error. */
static bool read_name(struct mig_tokenizer *tokenizer, struct mig_name *out, uint8_t *storage)
{
  struct mig_reader *reader = tokenizer->reader;
  uint8_t length = mig_read_u8(reader);
  mig_read_bytes(reader, storage, length);
  out->bytes = storage;
  out->length = tokenizer_failed(tokenizer) ? 0 : length;
  return !tokenizer_failed(tokenizer);
}

/* Reads count payload bytes as a view when the window can hold them; false after an error. */
static bool read_payload(struct mig_tokenizer *tokenizer, struct mig_record *record,
                         uint64_t count)
{
  struct mig_reader *reader = tokenizer->reader;
  record->payload_offset = mig_reader_offset(reader);
  record->payload_bytes = count;
  record->payload = NULL;
  if (count == 0) return !tokenizer_failed(tokenizer);
  if (reader->refill == NULL || count <= reader->capacity) {
    record->payload = mig_read_view(reader, (size_t)count);
    return !tokenizer_failed(tokenizer);
  }
  tokenizer->payload_end = record->payload_offset + count;  /* the consumer's, or skipped */
  return true;
}

/* Skips what is left of a payload the consumer did not read. */
static void skip_payload(struct mig_tokenizer *tokenizer)
{
  if (tokenizer->payload_end == NO_PAYLOAD_END) return;
  uint64_t at = mig_reader_offset(tokenizer->reader);
  SIM_ASSERT(at <= tokenizer->payload_end || tokenizer_failed(tokenizer));
  if (at < tokenizer->payload_end) mig_read_skip(tokenizer->reader, tokenizer->payload_end - at);
  tokenizer->payload_end = NO_PAYLOAD_END;
}

static void record_start(struct mig_tokenizer *tokenizer, struct mig_record *record,
                         enum mig_record_kind kind)
{
  /* Not zeroed whole: RAM records come by the million; each kind sets what it uses. */
  record->kind = kind;
  record->offset = mig_reader_offset(tokenizer->reader);
  record->payload = NULL;
  record->payload_bytes = 0;
  record->payload_offset = record->offset;
  record->section = tokenizer->current;
}

static enum mig_err record_done(struct mig_tokenizer *tokenizer, struct mig_record *record)
{
  if (tokenizer_failed(tokenizer)) return tokenizer_error(tokenizer);
  record->header_bytes = (record->payload_bytes > 0 ? record->payload_offset
                                                    : mig_reader_offset(tokenizer->reader)) -
                         record->offset;
  return MIG_OK;
}

/* The path prefix of the current section: its idstr, or "section 0x<id>" without one. */
static const char *section_label(const struct mig_tokenizer *tokenizer, char *out,
                                 size_t out_bytes)
{
  const struct mig_record_section *section = &tokenizer->current;
  if (section->idstr.length > 0) {
    snprintf(out, out_bytes, "%.*s", (int)section->idstr.length,
             (const char *)section->idstr.bytes);
  } else {
    snprintf(out, out_bytes, "section 0x%" PRIx32, section->section_id);
  }
  return out;
}

/* Paths a latched error with "<section label>/field"; formats nothing without one. */
static void annotate_section(const struct mig_tokenizer *tokenizer, const char *field)
{
  if (!tokenizer_failed(tokenizer)) return;
  char label[MIG_IDSTR_BYTES_MAX + 24];
  mig__reader_annotate(tokenizer->reader, "%s/%s",
                       section_label(tokenizer, label, sizeof label), field);
}

/* ---------------------------------------------------------------- header */

static enum mig_err next_header(struct mig_tokenizer *tokenizer, struct mig_record *record)
{
  struct mig_reader *reader = tokenizer->reader;
  record_start(tokenizer, record, MIG_RECORD_HEADER);
  record->magic = mig_read_be32(reader);
  record->version = mig_read_be32(reader);
  mig__reader_annotate(reader, "header");
  if (tokenizer_failed(tokenizer)) return tokenizer_error(tokenizer);
  char detail[64];
  if (record->magic != MIG_FILE_MAGIC) {
    snprintf(detail, sizeof detail, "magic 0x%08" PRIx32, record->magic);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_MAGIC, 0, detail, "header/magic");
  } else if (record->version != MIG_FILE_VERSION) {
    snprintf(detail, sizeof detail, "version %" PRIu32 "%s", record->version,
             record->version == MIG_FILE_VERSION_COMPAT ? " (SaveVM v2 format is obsolete)" : "");
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VERSION, 4, detail, "header/version");
  }
  tokenizer->state = STATE_CONFIGURATION;
  return record_done(tokenizer, record);
}

/* --------------------------------------------------------- configuration */

static enum mig_err next_configuration(struct mig_tokenizer *tokenizer,
                                       struct mig_record *record)
{
  struct mig_reader *reader = tokenizer->reader;
  record_start(tokenizer, record, MIG_RECORD_CONFIGURATION);
  (void)mig_read_u8(reader);
  uint64_t length_offset = mig_reader_offset(reader);
  uint32_t length = mig_read_be32(reader);
  mig__reader_annotate(reader, "configuration/name");
  if (tokenizer_failed(tokenizer)) return tokenizer_error(tokenizer);
  if (length == 0 || length > MIG_MACHINE_NAME_BYTES_MAX) {
    char detail[48];
    snprintf(detail, sizeof detail, "length %" PRIu32, length);
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, length_offset, detail, "configuration/name");
    return MIG_ERR_TOO_LONG;
  }
  mig_read_bytes(reader, tokenizer->names.copies[0], length);
  mig__reader_annotate(reader, "configuration/name");
  record->config = (struct mig_record_config){.which = MIG_CONFIG_UNKNOWN};
  record->config.name = (struct mig_name){tokenizer->names.copies[0], (uint8_t)length};
  tokenizer->configuration_seen = true;
  tokenizer->state = STATE_CONFIG_SUB;
  return record_done(tokenizer, record);
}

/*
 * QEMU's vmstate_subsection_load: a 0x05 is the configuration's if its name
 * has that prefix.  A 0x05 whose name the stream cuts short is taken as one,
 * so reading it reports the truncation.
 */
static bool config_subsection_next(struct mig_tokenizer *tokenizer)
{
  struct mig_subsection_head head;
  enum mig_subsection_peek peek = mig_subsection_peek_reader(tokenizer->reader, CONFIG_PREFIX,
                                                             &head);
  return peek == MIG_SUBSECTION_OURS || (peek == MIG_SUBSECTION_CUT && head.prefix_agrees);
}

/* The body of a known configuration subsection (spec §3). */
static void config_body(struct mig_tokenizer *tokenizer, struct mig_record_config *config,
                        const char *path)
{
  struct mig_reader *reader = tokenizer->reader;
  if (config->which == MIG_CONFIG_TARGET_PAGE_BITS) {
    config->page_bits = mig_read_be32(reader);
  } else if (config->which == MIG_CONFIG_UUID) {
    mig_read_bytes(reader, tokenizer->names.uuid, sizeof tokenizer->names.uuid);
    config->uuid = tokenizer->names.uuid;
  } else {
    uint64_t count_offset = mig_reader_offset(reader);
    uint32_t count = mig_read_be32(reader);
    if (!tokenizer_failed(tokenizer) && count > MIG_CAPABILITIES_MAX) {
      char detail[48];
      snprintf(detail, sizeof detail, "caps_count %" PRIu32 " > %d", count, MIG_CAPABILITIES_MAX);
      MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, count_offset, detail, "%s/caps_count", path);
      return;
    }
    for (uint32_t i = 0; i < count && !tokenizer_failed(tokenizer); i++) {
      struct mig_name *name = &tokenizer->names.capabilities[i];
      (void)read_name(tokenizer, name, tokenizer->names.capability_bytes[i]);
      if (mig_name_is(name, MIG_CAPABILITY_X_IGNORE_SHARED)) tokenizer->x_ignore_shared = true;
    }
    config->capability_count = count;
    config->capabilities = tokenizer->names.capabilities;
  }
  mig__reader_annotate(reader, "%s", path);
}

static enum mig_err next_config_subsection(struct mig_tokenizer *tokenizer,
                                           struct mig_record *record)
{
  struct mig_reader *reader = tokenizer->reader;
  record_start(tokenizer, record, MIG_RECORD_CONFIG_SUBSECTION);
  record->config = (struct mig_record_config){.which = MIG_CONFIG_UNKNOWN};
  struct mig_record_config *config = &record->config;
  (void)mig_read_u8(reader);
  (void)read_name(tokenizer, &config->name, tokenizer->names.copies[0]);
  uint64_t version_offset = mig_reader_offset(reader);
  config->version = mig_read_be32(reader);
  mig__reader_annotate(reader, "configuration/subsection");
  if (tokenizer_failed(tokenizer)) return tokenizer_error(tokenizer);
  for (uint32_t i = 0; i < SIM_ARRAY_COUNT(config_names); i++) {
    if (mig_name_is(&config->name, config_names[i])) config->which = i;
  }
  if (config->which == MIG_CONFIG_UNKNOWN) {
    MIG_READER_FAIL(reader, MIG_ERR_SUBSECTION, record->offset, "no such subsection here",
                    "%.*s", (int)config->name.length, (const char *)config->name.bytes);
    return MIG_ERR_SUBSECTION;
  }
  const char *path = config_names[config->which];
  if (config->version != 1) {
    char detail[48];
    snprintf(detail, sizeof detail, "version %" PRIu32 "%s", config->version,
             config->version > MIG_SUBSECTION_VERSION_MAX ? " > 255" : ", accepted 1..1");
    MIG_READER_FAIL(reader, config->version > MIG_SUBSECTION_VERSION_MAX
                                ? MIG_ERR_SUBSECTION : MIG_ERR_SECTION_VERSION,
                    version_offset, detail, "%s", path);
    return tokenizer_error(tokenizer);
  }
  config_body(tokenizer, config, path);
  return record_done(tokenizer, record);
}

/* ------------------------------------------------------------- sections */

static enum mig_record_grammar grammar_of(const struct mig_name *idstr)
{
  size_t suffix = strlen(MIG_VFIO_IDSTR_SUFFIX);
  if (mig_name_is(idstr, MIG_RAM_IDSTR)) return MIG_GRAMMAR_RAM;
  if (mig_name_is(idstr, MIG_BLOCK_IDSTR)) return MIG_GRAMMAR_BLOCK;
  if (mig_name_is(idstr, MIG_BITMAP_IDSTR)) return MIG_GRAMMAR_BITMAP;
  if (idstr->length > suffix &&
      memcmp(idstr->bytes + idstr->length - suffix, MIG_VFIO_IDSTR_SUFFIX, suffix) == 0) {
    return MIG_GRAMMAR_VFIO;
  }
  return MIG_GRAMMAR_OPAQUE;
}

static struct mig_record_live *live_find(struct mig_tokenizer *tokenizer, uint32_t section_id)
{
  for (uint32_t i = 0; i < tokenizer->live_count; i++) {
    if (tokenizer->names.lives[i].section_id == section_id) return &tokenizer->names.lives[i];
  }
  return NULL;
}

/* START binds its id to the payload grammar; false (error latched) when the table is full. */
static bool live_bind(struct mig_tokenizer *tokenizer, const struct mig_record *record)
{
  struct mig_record_live *live = live_find(tokenizer, record->section.section_id);
  if (live == NULL && tokenizer->live_count == MIG_RECORD_LIVES_MAX) {
    char detail[64];
    snprintf(detail, sizeof detail, "section id 0x%" PRIx32 ": %u live sections already",
             record->section.section_id, MIG_RECORD_LIVES_MAX);
    MIG_READER_FAIL(tokenizer->reader, MIG_ERR_TOO_LONG, record->offset, detail, "section/id");
    return false;
  }
  if (live == NULL) live = &tokenizer->names.lives[tokenizer->live_count++];
  live->section_id = record->section.section_id;
  live->grammar = record->section.grammar;
  live->idstr_length = record->section.idstr.length;
  memcpy(live->idstr, record->section.idstr.bytes, record->section.idstr.length);
  return true;
}

static enum mig_err next_section(struct mig_tokenizer *tokenizer, struct mig_record *record,
                                 uint8_t type)
{
  struct mig_reader *reader = tokenizer->reader;
  struct mig_record_section *section = &record->section;
  *section = (struct mig_record_section){.type = type, .grammar = MIG_GRAMMAR_NONE};
  section->section_id = mig_read_be32(reader);
  section->idstr.bytes = tokenizer->names.current_idstr;
  if (type == MIG_SECTION_START || type == MIG_SECTION_FULL) {
    uint64_t idstr_offset = mig_reader_offset(reader);
    (void)read_name(tokenizer, &section->idstr, tokenizer->names.current_idstr);
    section->instance_id = mig_read_be32(reader);
    section->version = mig_read_be32(reader);
    mig__reader_annotate(reader, "section/header");
    if (!tokenizer_failed(tokenizer) && section->idstr.length == 0) {
      MIG_READER_FAIL(reader, MIG_ERR_BAD_IDSTR, idstr_offset, "unable to read ID string",
                      "section 0x%" PRIx32, section->section_id);
    }
    section->grammar = type == MIG_SECTION_FULL ? MIG_GRAMMAR_OPAQUE : grammar_of(&section->idstr);
    if (!tokenizer_failed(tokenizer) && type == MIG_SECTION_START) {
      (void)live_bind(tokenizer, record);
    }
  } else {
    mig__reader_annotate(reader, "section/header");
    const struct mig_record_live *live = live_find(tokenizer, section->section_id);
    if (live != NULL) {
      section->grammar = live->grammar;
      memcpy(tokenizer->names.current_idstr, live->idstr, live->idstr_length);
      section->idstr.length = live->idstr_length;
    }
  }
  tokenizer->current = *section;
  tokenizer->state = STATE_PAYLOAD;
  return record_done(tokenizer, record);
}

/* The footer (§4.3); a legacy stream (no configuration, no footer yet) may omit it. */
static enum mig_err next_footer(struct mig_tokenizer *tokenizer, struct mig_record *record)
{
  struct mig_reader *reader = tokenizer->reader;
  record_start(tokenizer, record, MIG_RECORD_FOOTER);
  char label[MIG_IDSTR_BYTES_MAX + 24];  /* formatted only for a refusal */
  uint8_t next = 0;
  if (!mig_reader_peek_u8(reader, &next)) {
    if (!tokenizer_failed(tokenizer)) {
      MIG_READER_FAIL(reader, MIG_ERR_TRUNCATED, record->offset, "no footer", "%s/footer",
                      section_label(tokenizer, label, sizeof label));
    }
    return tokenizer_error(tokenizer);
  }
  tokenizer->state = STATE_TOP;
  bool legacy = !tokenizer->configuration_seen && !tokenizer->footer_seen;
  bool record_type = next <= MIG_SECTION_FULL || next == MIG_SECTION_COMMAND;
  record->footer_present = next == MIG_SECTION_FOOTER || !legacy || !record_type;
  if (!record->footer_present) return record_done(tokenizer, record);
  uint8_t marker = mig_read_u8(reader);
  uint32_t id = mig_read_be32(reader);
  annotate_section(tokenizer, "footer");
  if (tokenizer_failed(tokenizer)) return tokenizer_error(tokenizer);
  char detail[96];
  if (marker != MIG_SECTION_FOOTER) {
    snprintf(detail, sizeof detail, "missing section footer (byte 0x%02x)", marker);
    MIG_READER_FAIL(reader, MIG_ERR_FOOTER, record->offset, detail, "%s/footer",
                    section_label(tokenizer, label, sizeof label));
  } else if (id != tokenizer->current.section_id) {
    snprintf(detail, sizeof detail, "mismatched section id in footer: read 0x%" PRIx32
             " expected 0x%" PRIx32, id, tokenizer->current.section_id);
    MIG_READER_FAIL(reader, MIG_ERR_FOOTER, record->offset, detail, "%s/footer",
                    section_label(tokenizer, label, sizeof label));
  }
  tokenizer->footer_seen = true;
  return record_done(tokenizer, record);
}

/* -------------------------------------------------------------- commands */

static enum mig_err command_length_fail(struct mig_tokenizer *tokenizer,
                                        const struct mig_record *record, enum mig_length_rule rule,
                                        uint32_t value, uint32_t length, const uint8_t *payload)
{
  const char *name = mig_wire_command_name(record->command);
  char detail[96];
  if (rule == MIG_LENGTH_FIXED || rule == MIG_LENGTH_ADVISE) {
    snprintf(detail, sizeof detail, "received with bad length - expecting %s%" PRIu32 ", got %"
             PRIu32, rule == MIG_LENGTH_ADVISE ? "0 or " : "", value, length);
    MIG_READER_FAIL(tokenizer->reader, MIG_ERR_BAD_COMMAND, record->offset, detail, "command/%s",
                    name);
  } else {
    if (rule == MIG_LENGTH_MIN || length <= value) {
      snprintf(detail, sizeof detail, "length %" PRIu32 ", at least %" PRIu32, length,
               value + (rule == MIG_LENGTH_COUNTED));
    } else {
      snprintf(detail, sizeof detail, "length %" PRIu32 ", expected %" PRIu32 " + %u", length,
               value + 1, payload[value]);
    }
    MIG_READER_FAIL(tokenizer->reader, MIG_ERR_BAD_COMMAND, record->offset + 3, detail,
                    "command/%s/length", name);
  }
  return MIG_ERR_BAD_COMMAND;
}

static enum mig_err next_command(struct mig_tokenizer *tokenizer, struct mig_record *record)
{
  struct mig_reader *reader = tokenizer->reader;
  (void)mig_read_u8(reader);
  record->command = mig_read_be16(reader);
  uint16_t length = mig_read_be16(reader);
  mig__reader_annotate(reader, "command");
  if (tokenizer_failed(tokenizer)) return tokenizer_error(tokenizer);
  uint32_t code = record->command;
  if (code == MIG_CMD_INVALID || code >= tokenizer->options.command_max) {
    char detail[64];
    snprintf(detail, sizeof detail, "MIG_CMD 0x%x unknown (len 0x%x)", code, length);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_COMMAND, record->offset, detail, "command/code");
    return MIG_ERR_BAD_COMMAND;
  }
  enum mig_length_rule rule;
  uint32_t value;
  mig_wire_command_rule(code, &rule, &value);
  bool fixed = rule == MIG_LENGTH_FIXED || rule == MIG_LENGTH_ADVISE;
  if (fixed && !mig_wire_length_ok(rule, value, length, NULL)) {
    return command_length_fail(tokenizer, record, rule, value, length, NULL);
  }
  (void)read_payload(tokenizer, record, length);
  mig__reader_annotate(reader, "command/%s", mig_wire_command_name(code));
  if (tokenizer_failed(tokenizer)) return tokenizer_error(tokenizer);
  SIM_ASSERT(record->payload != NULL || length == 0);
  if (!fixed && !mig_wire_length_ok(rule, value, length, record->payload)) {
    return command_length_fail(tokenizer, record, rule, value, length, record->payload);
  }
  if (code == MIG_CMD_PACKAGED) {
    const uint8_t *p = record->payload;
    record->package_bytes = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                            (uint32_t)p[2] << 8 | p[3];
  }
  return record_done(tokenizer, record);
}

/* ------------------------------------------------------------------- EOF */

static enum mig_err next_after_eof(struct mig_tokenizer *tokenizer, struct mig_record *record)
{
  struct mig_reader *reader = tokenizer->reader;
  record_start(tokenizer, record, MIG_RECORD_END);
  if (mig_reader_at_end(reader)) {
    tokenizer->state = STATE_END;
    return record_done(tokenizer, record);
  }
  uint8_t type = mig_read_u8(reader);
  if (tokenizer->state == STATE_AFTER_TRAILER || type != MIG_SECTION_VMDESCRIPTION) {
    record->kind = MIG_RECORD_TRAILING;
    record->trailing = type;
    tokenizer->state = STATE_END;
    return record_done(tokenizer, record);
  }
  record->kind = MIG_RECORD_TRAILER;
  uint32_t length = mig_read_be32(reader);
  mig__reader_annotate(reader, "vmdescription/length");
  if (!tokenizer_failed(tokenizer) && length > MIG_VMDESC_BYTES_MAX) {
    char detail[48];
    snprintf(detail, sizeof detail, "length %" PRIu32, length);
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, record->offset + 1, detail, "vmdescription/length");
  }
  if (tokenizer_failed(tokenizer)) return tokenizer_error(tokenizer);
  (void)read_payload(tokenizer, record, length);
  mig__reader_annotate(reader, "vmdescription/json");
  tokenizer->state = STATE_AFTER_TRAILER;
  return record_done(tokenizer, record);
}

static enum mig_err next_top(struct mig_tokenizer *tokenizer, struct mig_record *record)
{
  struct mig_reader *reader = tokenizer->reader;
  tokenizer->current = (struct mig_record_section){.grammar = MIG_GRAMMAR_NONE};
  record_start(tokenizer, record, MIG_RECORD_SECTION);
  uint8_t type = 0;
  if (!mig_reader_peek_u8(reader, &type)) {
    (void)mig_read_u8(reader);  /* latches TRUNCATED */
    mig__reader_annotate(reader, "stream");
    return tokenizer_error(tokenizer);
  }
  switch (type) {
  case MIG_SECTION_EOF:
    (void)mig_read_u8(reader);
    record->kind = MIG_RECORD_EOF;
    tokenizer->state = STATE_AFTER_EOF;
    return record_done(tokenizer, record);
  case MIG_SECTION_START:
  case MIG_SECTION_PART:
  case MIG_SECTION_END:
  case MIG_SECTION_FULL:
    (void)mig_read_u8(reader);
    return next_section(tokenizer, record, type);
  case MIG_SECTION_COMMAND:
    record->kind = MIG_RECORD_COMMAND;
    return next_command(tokenizer, record);
  default: {
    char detail[48];
    snprintf(detail, sizeof detail, "unknown savevm section type 0x%02x", type);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_SECTION_TYPE, record->offset, detail, "stream");
    return MIG_ERR_BAD_SECTION_TYPE;
  }
  }
}

/* -------------------------------------------------------------------- RAM */

/* Records after the word: block name (unless CONTINUE) and the body of its kind. */
static void ram_body(struct mig_tokenizer *tokenizer, struct mig_record *record)
{
  struct mig_reader *reader = tokenizer->reader;
  struct mig_record_ram *ram = &record->ram;
  if (ram->named) {
    (void)read_name(tokenizer, &ram->block, tokenizer->names.last_block);
    tokenizer->last_block.length = ram->block.length;
  } else {
    ram->block = tokenizer->last_block;
  }
  mig__reader_annotate(reader, "ram/page/block");
  uint64_t body_offset = mig_reader_offset(reader);
  uint64_t length = 0, bound = 0;
  const char *what = "page";
  if (ram->kind == MIG_RAM_FLAG_ZERO) {
    ram->fill = mig_read_u8(reader);
  } else if (ram->kind == MIG_RAM_FLAG_PAGE) {
    length = MIG_PAGE_BYTES;
  } else if (ram->kind == MIG_RAM_FLAG_XBZRLE) {
    ram->encoding = mig_read_u8(reader);
    length = mig_read_be16(reader);
    bound = MIG_PAGE_BYTES, what = "xbzrle", body_offset++;
  } else {
    SIM_ASSERT(ram->kind == MIG_RAM_FLAG_COMPRESS_PAGE);
    length = mig_read_be32(reader);
    bound = MIG_COMPRESS_PAGE_BYTES_MAX, what = "compressed";
  }
  if (!tokenizer_failed(tokenizer) && bound > 0 && length > bound) {
    char detail[48];
    snprintf(detail, sizeof detail, "length %" PRIu64, length);
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, body_offset, detail, "ram/%.*s/%s",
                    (int)ram->block.length, (const char *)ram->block.bytes, what);
    return;
  }
  if (!tokenizer_failed(tokenizer)) (void)read_payload(tokenizer, record, length);
  mig__reader_annotate(reader, "ram/%.*s/page", (int)ram->block.length,
                       (const char *)ram->block.bytes);
}

static enum mig_err next_ram(struct mig_tokenizer *tokenizer, struct mig_record *record)
{
  if (mig__record_continue_fast(tokenizer, UINT64_MAX, record)) return MIG_OK;
  struct mig_reader *reader = tokenizer->reader;
  record_start(tokenizer, record, MIG_RECORD_RAM);
  struct mig_record_ram *ram = &record->ram;
  ram->word = mig_read_be64(reader);
  mig__reader_annotate(reader, "ram/record");
  if (tokenizer_failed(tokenizer)) return tokenizer_error(tokenizer);
  ram->flags = (uint32_t)(ram->word & RAM_FLAGS_MASK);
  ram->kind = ram->flags & ~(uint32_t)MIG_RAM_FLAG_CONTINUE;
  ram->address = ram->word & ~RAM_FLAGS_MASK;
  ram->named = false;
  ram->block = tokenizer->last_block;
  bool single = ram->kind != 0 && (ram->kind & (ram->kind - 1)) == 0;
  if (!single || (ram->kind & tokenizer->options.ram_kinds) == 0) {
    char detail[80];
    snprintf(detail, sizeof detail, "unknown combination of migration flags: 0x%" PRIx32,
             ram->flags);
    MIG_READER_FAIL(reader, MIG_ERR_RAM_FLAGS, record->offset, detail, "ram/flags");
    /* A kind the grammar has but this reader's dialect left out: a policy refusal. */
    if (single && (ram->kind & RAM_KINDS_ALL) != 0) {
      mig__reader_policy(reader, ram->kind == MIG_RAM_FLAG_XBZRLE ? "ram_xbzrle_refused"
                                                                 : "ram_compress_refused");
    }
    return MIG_ERR_RAM_FLAGS;
  }
  if (ram->kind == MIG_RAM_FLAG_EOS) {
    tokenizer->state = STATE_FOOTER;
  } else if (ram->kind == MIG_RAM_FLAG_MEM_SIZE) {
    tokenizer->ram_setup_left = ram->address;
    if (ram->address > 0) tokenizer->state = STATE_RAM_SETUP;
  } else {
    ram->named = (ram->flags & MIG_RAM_FLAG_CONTINUE) == 0;
    ram_body(tokenizer, record);
  }
  return record_done(tokenizer, record);
}

/* One entry of the MEM_SIZE list: name, be64 used_length, [be64 GPA]; sums to the total. */
static enum mig_err next_ram_block(struct mig_tokenizer *tokenizer, struct mig_record *record)
{
  struct mig_reader *reader = tokenizer->reader;
  record_start(tokenizer, record, MIG_RECORD_RAM_BLOCK);
  struct mig_record_ram *ram = &record->ram;
  (void)read_name(tokenizer, &ram->block, tokenizer->names.copies[1]);
  ram->used_bytes = mig_read_be64(reader);
  ram->has_gpa = tokenizer->x_ignore_shared;
  ram->gpa = ram->has_gpa ? mig_read_be64(reader) : 0;
  mig__reader_annotate(reader, "ram/blocks");
  if (tokenizer_failed(tokenizer)) return tokenizer_error(tokenizer);
  ram->setup_left = tokenizer->ram_setup_left;
  tokenizer->ram_setup_left -= SIM_MIN(ram->used_bytes, tokenizer->ram_setup_left);
  if (tokenizer->ram_setup_left == 0) tokenizer->state = STATE_PAYLOAD;
  return record_done(tokenizer, record);
}

/* ------------------------------------------------------------------ vfio */

static enum mig_err next_vfio(struct mig_tokenizer *tokenizer, struct mig_record *record)
{
  struct mig_reader *reader = tokenizer->reader;
  record_start(tokenizer, record, MIG_RECORD_VFIO);
  record->vfio_flag = mig_read_be64(reader);
  annotate_section(tokenizer, "flag");
  if (tokenizer_failed(tokenizer)) return tokenizer_error(tokenizer);
  uint64_t flag = record->vfio_flag;
  if (flag == MIG_VFIO_FLAG_END_OF_STATE || flag == MIG_VFIO_FLAG_DEV_INIT_DATA_SENT) {
    tokenizer->state = STATE_FOOTER;
  } else if (flag == MIG_VFIO_FLAG_DEV_DATA_STATE) {
    uint64_t size = mig_read_be64(reader);
    annotate_section(tokenizer, "data/size");
    /* Deferred: the size is the stream's, and the consumer bounds it first. */
    record->payload_offset = mig_reader_offset(reader);
    record->payload_bytes = size;
    tokenizer->payload_end = size < NO_PAYLOAD_END - record->payload_offset
                                 ? record->payload_offset + size : NO_PAYLOAD_END - 1;
  } else if (flag == MIG_VFIO_FLAG_DEV_CONFIG_STATE) {
    tokenizer->current.grammar = MIG_GRAMMAR_OPAQUE;  /* the device config: the consumer's */
  } else if (flag != MIG_VFIO_FLAG_DEV_SETUP_STATE) {
    char detail[80];
    snprintf(detail, sizeof detail, "unexpected flag 0x%016" PRIx64 " in a %s section", flag,
             mig_wire_section_name(tokenizer->current.type));
    char label[MIG_IDSTR_BYTES_MAX + 24];
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, record->offset, detail, "%s/flag",
                    section_label(tokenizer, label, sizeof label));
  }
  return record_done(tokenizer, record);
}

/* ----------------------------------------------------------------- block */

/* A block-migration record, parsed by QEMU 7.2 block_load's bit tests. */
static enum mig_err next_block(struct mig_tokenizer *tokenizer, struct mig_record *record)
{
  struct mig_reader *reader = tokenizer->reader;
  record_start(tokenizer, record, MIG_RECORD_BLOCK);
  uint64_t word = mig_read_be64(reader);
  record->block_word = word;
  record->block_device = (struct mig_name){tokenizer->names.copies[1], 0};
  mig__reader_annotate(reader, "block/record");
  if (tokenizer_failed(tokenizer)) return tokenizer_error(tokenizer);
  /* A valid record's sector is below 2^41, so its first byte is 0: 0x7e + id is the footer. */
  if (word >> 56 == MIG_SECTION_FOOTER && (uint32_t)(word >> 24) == tokenizer->current.section_id) {
    MIG_READER_FAIL(reader, MIG_ERR_FOOTER, record->offset, "section footer before EOS",
                    "block/eos");
    return MIG_ERR_FOOTER;
  }
  uint32_t flags = (uint32_t)(word & ((1u << MIG_BLOCK_SECTOR_BITS) - 1));
  if (flags & MIG_BLOCK_FLAG_DEVICE_BLOCK) {
    (void)read_name(tokenizer, &record->block_device, tokenizer->names.copies[1]);
    mig__reader_annotate(reader, "block/device-name");
    if (!tokenizer_failed(tokenizer) && (flags & MIG_BLOCK_FLAG_ZERO_BLOCK) == 0) {
      (void)read_payload(tokenizer, record, MIG_BLOCK_CHUNK_BYTES);
      mig__reader_annotate(reader, "block/data");
    }
  } else if ((flags & (MIG_BLOCK_FLAG_PROGRESS | MIG_BLOCK_FLAG_EOS)) == 0) {
    char detail[32];
    snprintf(detail, sizeof detail, "flags 0x%03" PRIx32, flags);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, record->offset, detail, "block/flags");
  }
  if ((flags & MIG_BLOCK_FLAG_EOS) && (flags & MIG_BLOCK_FLAG_PROGRESS) == 0) {
    tokenizer->state = STATE_FOOTER;
  }
  return record_done(tokenizer, record);
}

/* --------------------------------------------------------- dirty bitmaps */

/* Chunk flags: 1, 2 or 4 bytes, widened while the top bit is set. */
static uint32_t bitmap_flags(struct mig_reader *reader, uint32_t *flags_bytes)
{
  uint32_t flags = mig_read_u8(reader);
  *flags_bytes = 1;
  if (flags & MIG_BITMAP_FLAG_EXTRA) {
    flags = flags << 8 | mig_read_u8(reader);
    *flags_bytes = 2;
    if (flags & MIG_BITMAP_FLAG_EXTRA) {
      flags = flags << 16 | mig_read_be16(reader);
      *flags_bytes = 4;
    }
  }
  return flags;
}

static enum mig_err next_bitmap(struct mig_tokenizer *tokenizer, struct mig_record *record)
{
  struct mig_reader *reader = tokenizer->reader;
  record_start(tokenizer, record, MIG_RECORD_BITMAP);
  struct mig_record_bitmap *bitmap = &record->bitmap;
  uint32_t flags_bytes = 0;
  uint32_t flags = bitmap_flags(reader, &flags_bytes);
  *bitmap = (struct mig_record_bitmap){.flags = flags, .flags_bytes = flags_bytes};
  bitmap->has_node = (bitmap->flags & MIG_BITMAP_FLAG_DEVICE_NAME) != 0;
  bitmap->has_name = (bitmap->flags & MIG_BITMAP_FLAG_BITMAP_NAME) != 0;
  if (bitmap->has_node) (void)read_name(tokenizer, &bitmap->node, tokenizer->names.copies[0]);
  if (bitmap->has_name) (void)read_name(tokenizer, &bitmap->name, tokenizer->names.copies[1]);
  mig__reader_annotate(reader, "dirty-bitmap/header");
  if (bitmap->flags & MIG_BITMAP_FLAG_START) {
    bitmap->granularity = mig_read_be32(reader);
    bitmap->start_flags = mig_read_u8(reader);
  } else if ((bitmap->flags & MIG_BITMAP_FLAG_COMPLETE) == 0 &&
             (bitmap->flags & MIG_BITMAP_FLAG_BITS) != 0) {
    bitmap->start_sector = mig_read_be64(reader);
    bitmap->sectors = mig_read_be32(reader);
    bitmap->has_size = (bitmap->flags & MIG_BITMAP_FLAG_ZEROES) == 0;
    if (bitmap->has_size) {
      uint64_t size_offset = mig_reader_offset(reader);
      uint64_t size = mig_read_be64(reader);
      if (!tokenizer_failed(tokenizer) && size > MIG_BITMAP_BITS_BYTES_MAX) {
        char detail[48];
        snprintf(detail, sizeof detail, "buffer size 0x%" PRIx64, size);
        MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, size_offset, detail, "dirty-bitmap/bits");
      }
      if (!tokenizer_failed(tokenizer)) (void)read_payload(tokenizer, record, size);
    }
  }
  mig__reader_annotate(reader, "dirty-bitmap/chunk");
  if (bitmap->flags & MIG_BITMAP_FLAG_EOS) tokenizer->state = STATE_FOOTER;
  return record_done(tokenizer, record);
}

/* ------------------------------------------------------------------ next */

static enum mig_err next_payload(struct mig_tokenizer *tokenizer, struct mig_record *record)
{
  switch (tokenizer->current.grammar) {
  case MIG_GRAMMAR_RAM: return next_ram(tokenizer, record);
  case MIG_GRAMMAR_VFIO: return next_vfio(tokenizer, record);
  case MIG_GRAMMAR_BLOCK: return next_block(tokenizer, record);
  case MIG_GRAMMAR_BITMAP: return next_bitmap(tokenizer, record);
  case MIG_GRAMMAR_OPAQUE:
  case MIG_GRAMMAR_NONE:
    break;
  }
  /* The consumer read the payload itself: the footer is next. */
  return next_footer(tokenizer, record);
}

enum mig_err mig_record_next(struct mig_tokenizer *tokenizer, struct mig_record *record)
{
  SIM_ASSERT(record != NULL);
  if (tokenizer_failed(tokenizer)) return tokenizer_error(tokenizer);
  skip_payload(tokenizer);
  if (tokenizer_failed(tokenizer)) return tokenizer_error(tokenizer);
  uint8_t type = 0;
  switch ((enum tokenizer_state)tokenizer->state) {
  case STATE_HEADER: return next_header(tokenizer, record);
  case STATE_CONFIGURATION:
    tokenizer->state = STATE_TOP;
    if (mig_reader_peek_u8(tokenizer->reader, &type) && type == MIG_SECTION_CONFIGURATION) {
      return next_configuration(tokenizer, record);
    }
    return next_top(tokenizer, record);
  case STATE_CONFIG_SUB:
    if (config_subsection_next(tokenizer)) return next_config_subsection(tokenizer, record);
    tokenizer->state = STATE_TOP;
    return next_top(tokenizer, record);
  case STATE_TOP: return next_top(tokenizer, record);
  case STATE_PAYLOAD: return next_payload(tokenizer, record);
  case STATE_RAM_SETUP: return next_ram_block(tokenizer, record);
  case STATE_FOOTER: return next_footer(tokenizer, record);
  case STATE_AFTER_EOF:
  case STATE_AFTER_TRAILER:
    return next_after_eof(tokenizer, record);
  case STATE_END:
    record_start(tokenizer, record, MIG_RECORD_END);
    return record_done(tokenizer, record);
  }
  SIM_ASSERT(!"unknown tokenizer state");
  return MIG_ERR_BAD_SECTION_TYPE;
}

bool mig_record_peek_type(struct mig_tokenizer *tokenizer, uint8_t *type)
{
  uint32_t state = tokenizer->state;
  if (state != STATE_CONFIGURATION && state != STATE_CONFIG_SUB && state != STATE_TOP) {
    return false;
  }
  return mig_reader_peek_u8(tokenizer->reader, type);
}

enum mig_err mig_record_payload_view(struct mig_tokenizer *tokenizer, struct mig_record *record)
{
  struct mig_reader *reader = tokenizer->reader;
  if (tokenizer_failed(tokenizer)) return tokenizer_error(tokenizer);
  SIM_ASSERT(record->kind == MIG_RECORD_VFIO && record->payload == NULL);
  SIM_ASSERT(mig_reader_offset(reader) == record->payload_offset);
  if (record->payload_bytes == 0) return MIG_OK;
  if (reader->refill != NULL && record->payload_bytes > reader->capacity) return MIG_OK;
  tokenizer->payload_end = NO_PAYLOAD_END;
  record->payload = mig_read_view(reader, (size_t)record->payload_bytes);
  mig__reader_annotate(reader, "%.*s/data", (int)tokenizer->current.idstr.length,
                       (const char *)tokenizer->current.idstr.bytes);
  return tokenizer_error(tokenizer);
}

enum mig_err mig_record_payload(struct mig_tokenizer *tokenizer, uint64_t bytes,
                                struct mig_record *record)
{
  SIM_ASSERT(tokenizer->state == STATE_PAYLOAD);
  SIM_ASSERT(tokenizer->current.grammar == MIG_GRAMMAR_OPAQUE ||
             tokenizer->current.grammar == MIG_GRAMMAR_NONE);
  if (tokenizer_failed(tokenizer)) return tokenizer_error(tokenizer);
  record_start(tokenizer, record, MIG_RECORD_PAYLOAD);
  (void)read_payload(tokenizer, record, bytes);
  annotate_section(tokenizer, "payload");
  return record_done(tokenizer, record);
}

/* ------------------------------------------------------ zero-run fast path */

static uint64_t load_be64(const uint8_t *bytes)
{
  return mig__record_be64(bytes);
}

/* True when the 9 bytes at p are ZERO|CONTINUE, fill 0, address below address_end. */
static bool zero_record_ok(const uint8_t *p, uint64_t address_end)
{
  uint64_t word = load_be64(p);
  return (((word & RAM_FLAGS_MASK) ^ ZERO_CONTINUE) | p[8]) == 0 && word < address_end;
}

/*
 * Eight ZERO|CONTINUE records are 72 bytes, nine 64-bit words.  A group is
 * accepted when (word & mask) == expect for all nine, where mask selects in
 * each record the flag bits (expected 0x022), the fill byte (expected 0) and
 * the address bits at and above bit `bits` (expected 0), with 2^bits the
 * largest power of two <= address_end: every accepted word is then below
 * address_end.  Words are loaded in host order on both sides.
 */
static void zero_group_init(struct mig_tokenizer *tokenizer, uint64_t address_end)
{
  SIM_ASSERT(address_end >= MIG_PAGE_BYTES);
  uint32_t bits = 63;
  while ((UINT64_C(1) << bits) > address_end) bits--;
  SIM_ASSERT(bits >= MIG_PAGE_BITS);
  uint64_t word_mask = ~((UINT64_C(1) << bits) - 1) | RAM_FLAGS_MASK;
  uint8_t mask[8 * ZERO_RECORD_BYTES], expect[8 * ZERO_RECORD_BYTES];
  for (uint32_t r = 0; r < 8; r++) {
    for (uint32_t b = 0; b < 8; b++) {
      mask[ZERO_RECORD_BYTES * r + b] = (uint8_t)(word_mask >> (56 - 8 * b));
      expect[ZERO_RECORD_BYTES * r + b] = (uint8_t)((uint64_t)ZERO_CONTINUE >> (56 - 8 * b));
    }
    mask[ZERO_RECORD_BYTES * r + 8] = 0xff;  /* the fill byte */
    expect[ZERO_RECORD_BYTES * r + 8] = 0;
  }
  memcpy(tokenizer->zero_mask, mask, sizeof mask);
  memcpy(tokenizer->zero_expect, expect, sizeof expect);
  tokenizer->zero_address_end = address_end;
}

/* Non-zero when word i of the group at q breaks the masks. */
static inline uint64_t zero_word_wrong(const uint8_t *q, const struct mig_tokenizer *tokenizer,
                                       uint32_t i)
{
  uint64_t word;
  memcpy(&word, q + 8 * i, sizeof word);
  return (word & tokenizer->zero_mask[i]) ^ tokenizer->zero_expect[i];
}

/*
 * Counts the leading records of p[0, records_max × 9) that are ZERO|CONTINUE
 * with fill 0 below address_end: groups of eight by masks, a group that
 * fails them one record at a time; the first record that fails ends the run
 * and is left for the general path, which reports it.
 */
static uint64_t zero_run_count(const struct mig_tokenizer *tokenizer, const uint8_t *p,
                               uint64_t records_max, uint64_t address_end)
{
  uint64_t n = 0;
  while (n + 8 <= records_max) {
    const uint8_t *q = p + ZERO_RECORD_BYTES * n;
    /* Spelled out: compilers keep a word array and loop here otherwise. */
    uint64_t wrong = zero_word_wrong(q, tokenizer, 0) | zero_word_wrong(q, tokenizer, 1) |
                     zero_word_wrong(q, tokenizer, 2) | zero_word_wrong(q, tokenizer, 3) |
                     zero_word_wrong(q, tokenizer, 4) | zero_word_wrong(q, tokenizer, 5) |
                     zero_word_wrong(q, tokenizer, 6) | zero_word_wrong(q, tokenizer, 7) |
                     zero_word_wrong(q, tokenizer, 8);
    if (wrong == 0) {
      n += 8;
      continue;
    }
    uint32_t i = 0;
    while (i < 8 && zero_record_ok(q + ZERO_RECORD_BYTES * i, address_end)) i++;
    n += i;
    if (i < 8) return n;
  }
  while (n < records_max && zero_record_ok(p + ZERO_RECORD_BYTES * n, address_end)) n++;
  return n;
}

bool mig_record_zero_run(struct mig_tokenizer *tokenizer, uint64_t address_end,
                         struct mig_record *record)
{
  SIM_ASSERT(address_end % MIG_PAGE_BYTES == 0);
  size_t available = 0;
  const uint8_t *p = mig__reader_window(tokenizer->reader, &available);
  if (p == NULL || tokenizer->state != STATE_PAYLOAD ||
      tokenizer->current.grammar != MIG_GRAMMAR_RAM || address_end == 0 ||
      tokenizer->payload_end != NO_PAYLOAD_END || available < ZERO_RECORD_BYTES ||
      !zero_record_ok(p, address_end)) {
    return false;
  }
  if (tokenizer->zero_address_end != address_end) zero_group_init(tokenizer, address_end);
  uint64_t count = zero_run_count(tokenizer, p, available / ZERO_RECORD_BYTES, address_end);
  SIM_ASSERT(count > 0);
  record->kind = MIG_RECORD_RAM_ZERO_RUN;
  record->offset = mig_reader_offset(tokenizer->reader);
  record->section = tokenizer->current;
  record->ram.word = load_be64(p);
  record->ram.flags = ZERO_CONTINUE;
  record->ram.kind = MIG_RAM_FLAG_ZERO;
  record->ram.address = record->ram.word & ~RAM_FLAGS_MASK;
  record->ram.named = false;
  record->ram.block = tokenizer->last_block;
  record->ram.fill = 0;
  record->ram.run_count = count;
  record->payload = p;
  record->payload_bytes = count * ZERO_RECORD_BYTES;
  record->payload_offset = record->offset;
  record->header_bytes = 0;
  mig__reader_advance(tokenizer->reader, (size_t)record->payload_bytes);
  return true;
}

/* ---------------------------------------------------------------- trailer */

bool mig_record_trailer_find_at(const uint8_t *bytes, size_t count, uint64_t base,
                                uint64_t *eof_offset, uint64_t *json_offset)
{
  /* The header (8 bytes) precedes EOF, 0x06 and the be32: EOF's offset >= 8. */
  size_t low = count > MIG_VMDESC_BYTES_MAX ? count - MIG_VMDESC_BYTES_MAX : 0;
  if (low < 6) low = 6;
  if (base < 14 && low < 14 - base) low = (size_t)(14 - base);
  for (size_t p = count; p-- > low;) {
    if (bytes[p] != '{' || bytes[p - 5] != MIG_SECTION_VMDESCRIPTION) continue;
    if (mig_wire_be32(bytes + p - 4) != count - p || bytes[p - 6] != MIG_SECTION_EOF) continue;
    *eof_offset = base + p - 6;
    *json_offset = base + p;
    return true;
  }
  return false;
}

bool mig_record_trailer_find(const uint8_t *bytes, size_t count, uint64_t *eof_offset,
                             uint64_t *json_offset)
{
  return mig_record_trailer_find_at(bytes, count, 0, eof_offset, json_offset);
}

void mig_trailer_scan_feed(struct mig_trailer_scan *scan, const uint8_t *bytes, size_t count)
{
  SIM_ASSERT(scan->scanned <= count);
  uint32_t kept = 0;
  for (uint32_t i = 0; i < scan->candidate_count; i++) {
    if (scan->candidate_ends[i] >= count) scan->candidate_ends[kept++] = scan->candidate_ends[i];
  }
  scan->candidate_count = kept;
  size_t p = SIM_MAX(scan->scanned, (size_t)6);
  for (const uint8_t *hit; p < count && (hit = memchr(bytes + p, '{', count - p)) != NULL;) {
    p = (size_t)(hit - bytes) + 1;
    size_t at = p - 1;
    if (bytes[at - 5] != MIG_SECTION_VMDESCRIPTION || bytes[at - 6] != MIG_SECTION_EOF) continue;
    uint32_t length = mig_wire_be32(bytes + at - 4);
    if (length == 0 || length > MIG_VMDESC_BYTES_MAX) continue;
    uint64_t end = (uint64_t)at + length;
    if (scan->candidate_count < MIG_TRAILER_CANDIDATES_MAX) {
      scan->candidate_ends[scan->candidate_count++] = end;
      continue;
    }
    uint32_t furthest = 0;
    for (uint32_t i = 1; i < scan->candidate_count; i++) {
      if (scan->candidate_ends[i] > scan->candidate_ends[furthest]) furthest = i;
    }
    if (scan->candidate_ends[furthest] > end) scan->candidate_ends[furthest] = end;
  }
  scan->scanned = count;
}

bool mig_trailer_scan_complete(const struct mig_trailer_scan *scan, const uint8_t *bytes,
                               size_t count)
{
  if (count == 0 || bytes[count - 1] != '}') return false;
  for (uint32_t i = 0; i < scan->candidate_count; i++) {
    if (scan->candidate_ends[i] == count) return true;
  }
  return false;
}

/* ----------------------------------------------------------------- writer */

static void write_name(struct mig_writer *writer, const struct mig_name *name)
{
  mig_writer_u8(writer, name->length);
  mig_writer_bytes(writer, name->bytes, name->length);
}

static void write_config_subsection(struct mig_writer *writer, const struct mig_record *record)
{
  const struct mig_record_config *config = &record->config;
  mig_writer_u8(writer, MIG_SECTION_SUBSECTION);
  write_name(writer, &config->name);
  mig_writer_be32(writer, config->version);
  switch (config->which) {
  case MIG_CONFIG_TARGET_PAGE_BITS: mig_writer_be32(writer, config->page_bits); break;
  case MIG_CONFIG_UUID: mig_writer_bytes(writer, config->uuid, MIG_CONFIG_UUID_BYTES); break;
  case MIG_CONFIG_CAPABILITIES:
    mig_writer_be32(writer, config->capability_count);
    for (uint32_t i = 0; i < config->capability_count; i++) {
      write_name(writer, &config->capabilities[i]);
    }
    break;
  case MIG_CONFIG_UNKNOWN: break;
  }
}

static void write_section(struct mig_writer *writer, const struct mig_record_section *section)
{
  mig_writer_u8(writer, section->type);
  mig_writer_be32(writer, section->section_id);
  if (section->type != MIG_SECTION_START && section->type != MIG_SECTION_FULL) return;
  write_name(writer, &section->idstr);
  mig_writer_be32(writer, section->instance_id);
  mig_writer_be32(writer, section->version);
}

static void write_ram(struct mig_writer *writer, const struct mig_record *record)
{
  const struct mig_record_ram *ram = &record->ram;
  mig_writer_be64(writer, ram->word);
  if (ram->named) write_name(writer, &ram->block);
  if (ram->kind == MIG_RAM_FLAG_ZERO) {
    mig_writer_u8(writer, ram->fill);
  } else if (ram->kind == MIG_RAM_FLAG_XBZRLE) {
    mig_writer_u8(writer, ram->encoding);
    mig_writer_be16(writer, (uint16_t)record->payload_bytes);
  } else if (ram->kind == MIG_RAM_FLAG_COMPRESS_PAGE) {
    mig_writer_be32(writer, (uint32_t)record->payload_bytes);
  }
}

static void write_bitmap(struct mig_writer *writer, const struct mig_record *record)
{
  const struct mig_record_bitmap *bitmap = &record->bitmap;
  if (bitmap->flags_bytes == 1) {
    mig_writer_u8(writer, (uint8_t)bitmap->flags);
  } else if (bitmap->flags_bytes == 2) {
    mig_writer_be16(writer, (uint16_t)bitmap->flags);
  } else {
    SIM_ASSERT(bitmap->flags_bytes == 4);
    mig_writer_be32(writer, bitmap->flags);
  }
  if (bitmap->has_node) write_name(writer, &bitmap->node);
  if (bitmap->has_name) write_name(writer, &bitmap->name);
  if (bitmap->flags & MIG_BITMAP_FLAG_START) {
    mig_writer_be32(writer, bitmap->granularity);
    mig_writer_u8(writer, bitmap->start_flags);
  } else if ((bitmap->flags & MIG_BITMAP_FLAG_COMPLETE) == 0 &&
             (bitmap->flags & MIG_BITMAP_FLAG_BITS) != 0) {
    mig_writer_be64(writer, bitmap->start_sector);
    mig_writer_be32(writer, bitmap->sectors);
    if (bitmap->has_size) mig_writer_be64(writer, record->payload_bytes);
  }
}

/* Everything before the payload. */
static void write_header(struct mig_writer *writer, const struct mig_record *record)
{
  switch (record->kind) {
  case MIG_RECORD_HEADER:
    mig_writer_be32(writer, record->magic);
    mig_writer_be32(writer, record->version);
    break;
  case MIG_RECORD_CONFIGURATION:
    mig_writer_u8(writer, MIG_SECTION_CONFIGURATION);
    mig_writer_be32(writer, record->config.name.length);
    mig_writer_bytes(writer, record->config.name.bytes, record->config.name.length);
    break;
  case MIG_RECORD_CONFIG_SUBSECTION: write_config_subsection(writer, record); break;
  case MIG_RECORD_SECTION: write_section(writer, &record->section); break;
  case MIG_RECORD_FOOTER:
    if (!record->footer_present) break;
    mig_writer_u8(writer, MIG_SECTION_FOOTER);
    mig_writer_be32(writer, record->section.section_id);
    break;
  case MIG_RECORD_COMMAND:
    mig_writer_u8(writer, MIG_SECTION_COMMAND);
    mig_writer_be16(writer, record->command);
    mig_writer_be16(writer, (uint16_t)record->payload_bytes);
    break;
  case MIG_RECORD_RAM: write_ram(writer, record); break;
  case MIG_RECORD_RAM_BLOCK:
    write_name(writer, &record->ram.block);
    mig_writer_be64(writer, record->ram.used_bytes);
    if (record->ram.has_gpa) mig_writer_be64(writer, record->ram.gpa);
    break;
  case MIG_RECORD_VFIO:
    mig_writer_be64(writer, record->vfio_flag);
    if (record->vfio_flag == MIG_VFIO_FLAG_DEV_DATA_STATE) {
      mig_writer_be64(writer, record->payload_bytes);
    }
    break;
  case MIG_RECORD_BLOCK:
    mig_writer_be64(writer, record->block_word);
    if (record->block_word & MIG_BLOCK_FLAG_DEVICE_BLOCK) write_name(writer, &record->block_device);
    break;
  case MIG_RECORD_BITMAP: write_bitmap(writer, record); break;
  case MIG_RECORD_EOF: mig_writer_u8(writer, MIG_SECTION_EOF); break;
  case MIG_RECORD_TRAILER:
    mig_writer_u8(writer, MIG_SECTION_VMDESCRIPTION);
    mig_writer_be32(writer, (uint32_t)record->payload_bytes);
    break;
  case MIG_RECORD_TRAILING: mig_writer_u8(writer, record->trailing); break;
  case MIG_RECORD_RAM_ZERO_RUN:
  case MIG_RECORD_PAYLOAD:
  case MIG_RECORD_END:
    break;
  }
}

void mig_record_write(struct mig_writer *writer, const struct mig_record *record)
{
  write_header(writer, record);
  if (record->payload != NULL) {
    mig_writer_bytes(writer, record->payload, (size_t)record->payload_bytes);
  }
}
