/*
 * mig_inspect.c: the stream walker behind `migsim inspect` (overview in
 * mig_inspect.h; wire facts in spec/stream-format.md §2-§7, §10).  It reads
 * the stream's records through the record layer (mig_record.h) and never
 * interprets device state: a FULL section's size comes from the matching
 * device entry of the VM-description trailer (Σ field size × array_len, plus
 * each sent subsection's 0x05, counted name and be32 version), and the footer
 * checks it.  What it refuses beyond the grammar follows mig_policy_walk
 * (QEMU 7.2's behaviour but for the fields named there), plus what only a
 * reader without a destination can check: block names against the RAM setup,
 * block-migration sectors, the globalstate runstate, postcopy command bodies.
 */
#include "sim_base.h"

#include "mig_inspect.h"
#include "mig_json_inl.h"
#include "mig_record.h"
#include "mig_record_inl.h"
#include "mig_stream.h"

#include <jansson.h>

_Static_assert(MIG_INSPECT_COMMANDS <= MIG_COMMANDS_COUNT, "a counter per 7.2 command");
_Static_assert(MIG_INSPECT_RECORD_TYPES == MIG_SECTION_TYPES_COUNT, "a counter per record type");

/* What a streamed walk needs beyond the walk itself (mig_inspect_walk_reader). */
struct walk_tail {
  struct mig_membuf bytes;         /* the stream from base on, up to its end */
  uint64_t base;                   /* stream offset of bytes[0] */
  struct mig_trailer_scan scan;    /* where the tail could end (tail_trials) */
  uint8_t chunk[MIG_READER_BUFFER_BYTES];
};

struct walk {
  struct mig_reader *reader;       /* the reader being walked: memory or the caller's */
  struct mig_reader memory;        /* over bytes[0, eof_offset - base] */
  struct mig_reader *source;       /* streamed input (refill mode); NULL over memory */
  struct walk_tail *tail;          /* streamed input: the tail, once the walk needs it */
  bool tail_known;                 /* the end of the stream is known (memory, or the tail) */
  bool done;                       /* EOF walked */
  uint64_t base;                   /* stream offset of bytes[0] */
  uint64_t consumed_next;          /* options->consumed: the next offset to report */
  struct mig_tokenizer tokenizer;
  struct mig_record record;        /* the record being walked */
  const struct mig_policy *policy;
  struct mig_inspect *out;
  const uint8_t *bytes;            /* the whole stream, or the tail (from base on) */
  size_t count;                    /* its length */
  const struct mig_inspect_visitor *visitor;  /* may be NULL */
  const struct mig_inspect_options *options;  /* never NULL (zeroed when not given) */
  json_t *vmdesc;                  /* parsed trailer; NULL without one */
  json_t *devices;                 /* its "devices" array */
  bool *device_used;               /* per devices[] entry */
  int32_t last_block;              /* -1 until a page record names a block */
  bool configuration_emitted;      /* MIG_INSPECT_CONFIGURATION went out */
  struct mig_inspect_live *live;   /* the live section being walked; NULL for FULL */
  struct mig_inspect_device device;  /* the FULL section being walked */
  bool full_footer_next;           /* a FULL payload sized by the walk ends here: its footer */
  bool in_package;                 /* walking a PACKAGED body (walk_package) */
  char bitmap_node[MIG_IDSTR_BYTES_MAX + 1];  /* names carried over between chunks */
  char bitmap_name[MIG_IDSTR_BYTES_MAX + 1];
};

static void walk_records(struct walk *walk);
static void walk_consumed(struct walk *walk, uint64_t offset);

static bool walk_failed(struct walk *walk)
{
  return mig_reader_failed(walk->reader);
}

/* Hands event to the visitor; a refusal latches the visitor's error (R11: no callback after). */
static void walk_emit(struct walk *walk, struct mig_inspect_event *event)
{
  if (walk->visitor == NULL || walk->visitor->visit == NULL || walk_failed(walk)) return;
  event->inspect = walk->out;
  struct mig_error error;  /* not zeroed whole: this runs once per record (hot path) */
  error.offset = 0;
  error.path[0] = 0;
  error.detail[0] = 0;
  enum mig_err code = walk->visitor->visit(walk->visitor->context, event, &error);
  if (code == MIG_OK) return;
  SIM_ASSERT(code < MIG_ERR_COUNT);
  MIG_READER_FAIL(walk->reader, code, error.offset != 0 ? error.offset : event->offset,
                  error.detail, "%s", error.path[0] != 0 ? error.path : "visitor");
}

/*
 * A counted name as a C string.  QEMU reads a name with a NUL inside as the
 * text before the NUL; the walk policy refuses it, which keeps every
 * accepted stream's names printable and re-encodable as text.
 */
static bool walk_name(struct walk *walk, const struct mig_name *name, char *out, uint64_t offset,
                      const char *path)
{
  mig_name_copy(name, out, MIG_IDSTR_BYTES_MAX + 1);
  if (!walk->policy->names_nul_refused || !mig_name_has_nul(name)) return true;
  MIG_POLICY_FAIL(walk->reader, names_nul_refused, MIG_ERR_BAD_IDSTR, offset,
                  "NUL byte inside a name", "%s", path);
  return false;
}

/* The byte at stream offset `offset` of the in-memory bytes (the stream or its tail). */
static const uint8_t *walk_at(const struct walk *walk, uint64_t offset)
{
  SIM_ASSERT(offset >= walk->base && offset - walk->base < walk->count);
  return walk->bytes + (offset - walk->base);
}

static uint64_t walk_left(struct walk *walk)
{
  if (!walk->tail_known) return UINT64_MAX;  /* streamed: the end comes later */
  uint64_t at = mig_reader_offset(walk->reader);
  return at < walk->out->eof_offset ? walk->out->eof_offset - at : 0;
}

/*
 * trailer_advisory: the trailer's problem becomes out->trailer_warning (the
 * first one is kept) and the walk goes on; false without the option.
 */
static bool walk_trailer_advisory(struct walk *walk, uint64_t offset, const char *why)
{
  if (!walk->options->trailer_advisory) return false;
  if (walk->out->trailer_warning[0] == '\0') {
    snprintf(walk->out->trailer_warning, sizeof walk->out->trailer_warning, "%s", why);
    walk->out->trailer_warning_offset = offset;
  }
  return true;
}

/*
 * Locates the trailer (mig_record_trailer_find) and parses its JSON.  A
 * stream whose last byte is the EOF marker has no trailer (§10: it is
 * optional): has_trailer stays false and FULL sections are sized by
 * walk_full_unsized.
 */
static enum mig_err walk_find_trailer(struct walk *walk)
{
  const uint8_t *bytes = walk->bytes;
  size_t count = walk->count;
  uint64_t base = walk->base, end = base + count;
  uint64_t eof_offset = 0, json_offset = 0;
  if (mig_record_trailer_find_at(bytes, count, base, &eof_offset, &json_offset)) {
    walk->out->has_trailer = true;
    walk->out->eof_offset = eof_offset;
    walk->out->trailer_offset = json_offset;
    walk->out->trailer_bytes = end - json_offset;
    json_error_t json_error;
    size_t flags = walk->policy->trailer_checked ? JSON_REJECT_DUPLICATES : 0;
    walk->vmdesc = json_loadb((const char *)bytes + (json_offset - base), end - json_offset,
                              flags, &json_error);
    walk->devices = json_object_get(walk->vmdesc, "devices");
    if (walk->vmdesc != NULL && walk->policy->trailer_checked &&
        !mig__json_vmdesc_ok(walk->vmdesc)) {
      MIG_POLICY_FAIL(walk->reader, trailer_checked, MIG_ERR_VMDESC, json_offset,
                      MIG_JSON_VMDESC_DETAIL, "vmdesc");
      return MIG_ERR_VMDESC;
    }
    if (!json_is_array(walk->devices) || json_array_size(walk->devices) > MIG_SECTIONS_MAX) {
      if (walk_trailer_advisory(walk, json_offset, walk->vmdesc == NULL ? json_error.text
                                                     : "no bounded \"devices\" array")) {
        return MIG_OK;
      }
      MIG_READER_FAIL(walk->reader, MIG_ERR_VMDESC, json_offset,
                      walk->vmdesc == NULL ? json_error.text : "no bounded \"devices\" array",
                      "vmdesc");
      return MIG_ERR_VMDESC;
    }
    walk->device_used = calloc(json_array_size(walk->devices) + 1, sizeof(bool));
    if (walk->device_used == NULL) {
      MIG_READER_FAIL(walk->reader, MIG_ERR_NOMEM, json_offset, "device flags", "vmdesc");
      return MIG_ERR_NOMEM;
    }
    return MIG_OK;
  }
  if (end > 8 && count > 0 && bytes[count - 1] == MIG_SECTION_EOF) {
    walk->out->eof_offset = end - 1;
    return MIG_OK;
  }
  if (count > 0 && walk_trailer_advisory(walk, end, "neither EOF + 0x06 + be32 length + "
                                         "JSON nor a final EOF byte ends the stream")) {
    walk->out->eof_offset = end - 1;  /* the walk ends at the first top-level EOF */
    return MIG_OK;
  }
  MIG_READER_FAIL(walk->reader, MIG_ERR_VMDESC, end,
                  "neither EOF + 0x06 + be32 length + JSON nor a final EOF byte ends the stream",
                  "vmdesc");
  return MIG_ERR_VMDESC;
}

/* ---------------------------------------------------------- configuration */

static void walk_capabilities(struct walk *walk, const struct mig_record *record,
                              uint64_t body_offset)
{
  const struct mig_record_config *config = &record->config;
  uint64_t name_offset = body_offset + 4;
  /* Entered unfailed (walk_record); every refusal below returns. */
  for (uint32_t i = 0; i < config->capability_count; i++) {
    const struct mig_name *name = &config->capabilities[i];
    char *cap = walk->out->capabilities[i];
    if (!walk_name(walk, name, cap, name_offset, "configuration/capabilities")) return;
    bool known = mig_wire_capability_known_7_2(name->bytes, name->length) &&
                 (!walk->policy->capabilities_only_validated ||
                  mig_name_is(name, MIG_CAPABILITY_X_IGNORE_SHARED));
    if (!known) {
      char detail[MIG_IDSTR_BYTES_MAX + 64];
      snprintf(detail, sizeof detail, "received unknown capability %s", cap);
      MIG_READER_FAIL(walk->reader, MIG_ERR_CONFIG_MISMATCH, name_offset, detail,
                      "configuration/capabilities[%" PRIu32 "]", i);
      return;
    }
    if (mig_name_is(name, MIG_CAPABILITY_X_IGNORE_SHARED)) walk->out->x_ignore_shared = true;
    name_offset += 1u + name->length;
  }
  walk->out->capability_count = config->capability_count;
}

/* One configuration subsection (§3); the record layer checked its name, version and shape. */
static void walk_config_subsection(struct walk *walk, const struct mig_record *record)
{
  const struct mig_record_config *config = &record->config;
  struct mig_inspect *out = walk->out;
  if (out->config_subsection_count >= MIG_INSPECT_CONFIG_SUBSECTIONS_MAX) {
    MIG_READER_FAIL(walk->reader, MIG_ERR_TOO_LONG, record->offset, "too many subsections",
                    "configuration/subsection");
    return;
  }
  struct mig_inspect_config_subsection *entry =
      &out->config_subsections[out->config_subsection_count++];
  mig_name_copy(&config->name, entry->name, sizeof entry->name);
  entry->version = config->version;
  uint64_t body_offset = record->offset + 2 + config->name.length + 4;
  if (config->which == MIG_CONFIG_CAPABILITIES) {
    walk_capabilities(walk, record, body_offset);
  } else if (config->which == MIG_CONFIG_UUID) {
    memcpy(out->uuid, config->uuid, sizeof out->uuid);
    out->has_uuid = true;
  } else {
    SIM_ASSERT(config->which == MIG_CONFIG_TARGET_PAGE_BITS);
    out->target_page_bits = config->page_bits;
    if (config->page_bits != MIG_PAGE_BITS) {
      MIG_READER_FAIL(walk->reader, MIG_ERR_BAD_VALUE, record->offset, "not 12",
                      "configuration/target-page-bits");
    }
  }
}

/* Before the first record after the header and configuration: their event. */
static void walk_configuration_done(struct walk *walk)
{
  if (walk->configuration_emitted) return;
  walk->configuration_emitted = true;
  struct mig_inspect_event event = {.kind = MIG_INSPECT_CONFIGURATION, .offset = 0};
  walk_emit(walk, &event);
}

/* -------------------------------------------------------------------- RAM */

static int32_t walk_find_block(const struct mig_inspect *out, const char *name)
{
  for (uint32_t i = 0; i < out->block_count; i++) {
    if (strcmp(out->blocks[i].name, name) == 0) return (int32_t)i;
  }
  return -1;
}

/* One entry of the MEM_SIZE list (§6.3): a new, non-empty name that fits in the total. */
static void walk_ram_block(struct walk *walk, const struct mig_record *record)
{
  struct mig_reader *reader = walk->reader;
  const struct mig_record_ram *ram = &record->ram;
  struct mig_inspect_block block = {.used_bytes = ram->used_bytes, .gpa = ram->gpa};
  if (!walk_name(walk, &ram->block, block.name, record->offset, "ram/blocks")) return;
  char detail[96];
  snprintf(detail, sizeof detail, "block '%.40s' used 0x%" PRIx64 " left 0x%" PRIx64,
           block.name, block.used_bytes, ram->setup_left);
  if (block.name[0] == 0 || block.used_bytes > ram->setup_left ||
      walk_find_block(walk->out, block.name) >= 0) {
    MIG_READER_FAIL(reader, MIG_ERR_RAM_BLOCK, record->offset, detail, "ram/blocks/%s",
                    block.name);
    return;
  }
  if (walk->out->block_count >= MIG_RAM_BLOCKS_MAX) {
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, record->offset, detail, "ram/blocks");
    return;
  }
  walk->out->blocks[walk->out->block_count++] = block;
  struct mig_inspect_event event = {
      .kind = MIG_INSPECT_RAM_BLOCKS, .offset = record->offset, .record = record,
      .word = ram->word, .ram_kind = MIG_RAM_FLAG_MEM_SIZE,
      .block_first = walk->out->block_count - 1, .block_count = 1};
  walk_emit(walk, &event);
}

/* The block of a page record: its name, or the last one with CONTINUE (§6.2). */
static struct mig_inspect_block *walk_ram_page_block(struct walk *walk,
                                                     const struct mig_record *record)
{
  struct mig_reader *reader = walk->reader;
  if (record->ram.named) {
    char name[MIG_IDSTR_BYTES_MAX + 1];
    if (!walk_name(walk, &record->ram.block, name, record->offset + 8, "ram/page/block")) {
      return NULL;
    }
    walk->last_block = walk_find_block(walk->out, name);
    if (walk->last_block < 0) {
      MIG_READER_FAIL(reader, MIG_ERR_RAM_BLOCK, record->offset, name, "ram/page/block");
      return NULL;
    }
  } else if (walk->last_block < 0) {
    MIG_READER_FAIL(reader, MIG_ERR_RAM_ORDER, record->offset, "CONTINUE with no block",
                    "ram/page/block");
    return NULL;
  }
  return &walk->out->blocks[walk->last_block];
}

/* ZERO, PAGE, XBZRLE, COMPRESS_PAGE (§6.4); the record layer read and bounded the body. */
static void walk_ram_page(struct walk *walk, const struct mig_record *record)
{
  struct mig_reader *reader = walk->reader;
  const struct mig_record_ram *ram = &record->ram;
  struct mig_inspect_block *block = walk_ram_page_block(walk, record);
  if (block == NULL) return;
  char detail[64];
  if (ram->address >= block->used_bytes) {
    snprintf(detail, sizeof detail, "offset 0x%" PRIx64 " used 0x%" PRIx64, ram->address,
             block->used_bytes);
    MIG_READER_FAIL(reader, MIG_ERR_RAM_OFFSET, record->offset, detail, "ram/%s/offset",
                    block->name);
    return;
  }
  if (ram->kind == MIG_RAM_FLAG_ZERO) {
    block->zero_pages++;
  } else if (ram->kind == MIG_RAM_FLAG_PAGE) {
    block->normal_pages++;
  } else if (ram->kind == MIG_RAM_FLAG_XBZRLE) {
    if (ram->encoding != MIG_RAM_XBZRLE_ENCODING) {
      snprintf(detail, sizeof detail, "encoding flag 0x%02x", ram->encoding);
      MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, record->payload_offset - 3, detail,
                      "ram/%s/xbzrle", block->name);
      return;
    }
    block->xbzrle_pages++;
  } else {
    block->compressed_pages++;
  }
  struct mig_inspect_event event = {
      .kind = MIG_INSPECT_RAM_PAGE, .offset = record->offset, .record = record,
      .word = ram->word, .ram_kind = ram->kind, .ram_named = ram->named,
      .block_index = (uint32_t)walk->last_block, .address = ram->address, .fill = ram->fill,
      .encoding = ram->encoding, .payload = record->payload,
      .payload_bytes = record->payload_bytes, .payload_offset = record->payload_offset};
  walk_emit(walk, &event);
}

static void walk_ram(struct walk *walk, const struct mig_record *record)
{
  const struct mig_record_ram *ram = &record->ram;
  if (record->kind == MIG_RECORD_RAM_BLOCK) {
    walk_ram_block(walk, record);
    return;
  }
  struct mig_inspect_event event = {.offset = record->offset, .record = record,
                                    .word = ram->word, .ram_kind = ram->kind,
                                    .address = ram->address};
  if (ram->kind == MIG_RAM_FLAG_EOS) {
    event.kind = MIG_INSPECT_RAM_EOS;
    walk_emit(walk, &event);
  } else if (ram->kind == MIG_RAM_FLAG_MEM_SIZE) {
    event.kind = MIG_INSPECT_RAM_BLOCKS;
    event.block_first = walk->out->block_count;
    walk_emit(walk, &event);
  } else {
    walk_ram_page(walk, record);
  }
}

/* The block's used length rounded up to a page: what the fast paths bound addresses by. */
static uint64_t walk_address_end(const struct mig_inspect_block *block)
{
  SIM_ASSERT(block->used_bytes <= UINT64_MAX - MIG_PAGE_BYTES);  /* a page-aligned be64 */
  return (block->used_bytes + MIG_PAGE_BYTES - 1) & ~(uint64_t)(MIG_PAGE_BYTES - 1);
}

/*
 * A zero run (mig_record_zero_run): counted in one step, or handed to a
 * visitor that asked for runs as one RAM_ZERO_RUN event.
 */
static bool walk_zero_run(struct walk *walk, struct mig_inspect_block *block, bool visit)
{
  struct mig_record *record = &walk->record;
  if (visit && !walk->visitor->zero_runs) return false;
  if (!mig_record_zero_run(&walk->tokenizer, walk_address_end(block), record)) return false;
  block->zero_pages += record->ram.run_count;
  if (visit) {
    struct mig_inspect_event event = {
        .kind = MIG_INSPECT_RAM_ZERO_RUN, .offset = record->offset, .record = record,
        .word = record->ram.word, .ram_kind = MIG_RAM_FLAG_ZERO,
        .block_index = (uint32_t)walk->last_block, .address = record->ram.address,
        .payload = record->payload, .payload_bytes = record->payload_bytes,
        .payload_offset = record->payload_offset, .run_count = record->ram.run_count};
    walk_emit(walk, &event);
  }
  return true;
}

/*
 * Fast path inside a RAM payload over in-memory input: zero runs, then the
 * ZERO|CONTINUE and PAGE|CONTINUE records the record layer parses in place
 * (mig_record_ram_fast), each checked against the current block, with one
 * event reused for all of them.  It stops before the first record it does
 * not take, which the general path then reads (and, if need be, rejects).
 */
static void walk_ram_fast(struct walk *walk)
{
  if (walk->last_block < 0 || walk->live == NULL || walk_failed(walk) ||
      !mig_record_ram_fast_ready(&walk->tokenizer)) {
    return;
  }
  struct mig_inspect_block *block = &walk->out->blocks[walk->last_block];
  uint64_t address_end = walk_address_end(block);
  bool visit = walk->visitor != NULL && walk->visitor->visit != NULL;
  struct mig_record *record = &walk->record;
  struct mig_inspect_event event = {.kind = MIG_INSPECT_RAM_PAGE, .record = record,
                                    .block_index = (uint32_t)walk->last_block};
  for (;;) {
    if (walk_zero_run(walk, block, visit)) {
      if (walk_failed(walk)) return;
      continue;
    }
    if (!mig__record_continue_fast(&walk->tokenizer, address_end, record)) return;
    if (record->offset >= walk->consumed_next) walk_consumed(walk, record->offset);
    bool zero = record->ram.kind == MIG_RAM_FLAG_ZERO;
    if (zero) {
      block->zero_pages++;
    } else {
      block->normal_pages++;
    }
    if (!visit) continue;
    event.offset = record->offset;
    event.word = record->ram.word;
    event.ram_kind = record->ram.kind;
    event.address = record->ram.address;
    event.fill = record->ram.fill;
    event.payload = record->payload;
    event.payload_bytes = record->payload_bytes;
    event.payload_offset = record->payload_offset;
    walk_emit(walk, &event);
    if (walk_failed(walk)) return;
  }
}

/* ------------------------------------------------------------------- vfio */

/*
 * A VFIO_MIG_FLAG marker of a live `<bdf>/vfio` section (hw/vfio/migration.c):
 * the record layer knows the markers; the data blocks are opaque device bytes
 * here (migsim's own layout is checked by the destination, mig_vfio.c).
 */
static void walk_vfio(struct walk *walk, struct mig_record *record)
{
  if (record->vfio_flag == MIG_VFIO_FLAG_DEV_DATA_STATE) {
    if (record->payload_bytes > walk_left(walk)) {
      char detail[64];
      snprintf(detail, sizeof detail, "size 0x%" PRIx64 ", 0x%" PRIx64 " bytes left",
               record->payload_bytes, walk_left(walk));
      /* The record layer's path for the bytes that run out: the streamed walk's too. */
      MIG_READER_FAIL(walk->reader, MIG_ERR_TRUNCATED, record->payload_offset, detail,
                      "%s/data", walk->live->idstr);
      return;
    }
    if (mig_record_payload_view(&walk->tokenizer, record) != MIG_OK) return;
  } else if (record->vfio_flag == MIG_VFIO_FLAG_DEV_CONFIG_STATE) {
    /* QEMU puts the config in the FULL section; inside a live one it cannot be sized here. */
    MIG_READER_FAIL(walk->reader, MIG_ERR_BAD_VALUE, record->offset,
                    "DEV_CONFIG_STATE in a live section", "%s/flag", walk->live->idstr);
    return;
  }
  walk->out->vfio_records++;
  struct mig_inspect_event event = {
      .kind = MIG_INSPECT_VFIO_RECORD, .offset = record->offset, .record = record,
      .vfio_flag = record->vfio_flag, .payload = record->payload,
      .payload_bytes = record->payload_bytes, .payload_offset = record->payload_offset};
  walk_emit(walk, &event);
}
/* A bounded non-negative JSON integer; false when absent, negative or too large. */
static bool json_bounded(const json_t *value, uint64_t bound, uint64_t *out)
{
  if (!json_is_integer(value)) return false;
  json_int_t number = json_integer_value(value);
  if (number < 0 || (uint64_t)number > bound) return false;
  *out = (uint64_t)number;
  return true;
}

static bool vmdesc_subsections_bytes(const json_t *subsections, uint32_t depth, uint64_t *total);

/* Σ size × array_len over a "fields" array; struct sizes already include their subsections. */
static bool vmdesc_fields_bytes(const json_t *fields, uint64_t *total)
{
  if (fields == NULL) return true;
  if (!json_is_array(fields)) return false;
  size_t index;
  const json_t *field;
  json_array_foreach(fields, index, field) {
    uint64_t size = 0, count = 1;
    if (!json_bounded(json_object_get(field, "size"), MIG_VMSTATE_FIELD_BYTES_MAX, &size)) {
      return false;
    }
    const json_t *array_len = json_object_get(field, "array_len");
    if (array_len != NULL && !json_bounded(array_len, MIG_VMSTATE_FIELD_BYTES_MAX, &count)) {
      return false;
    }
    *total += size * count;  /* each term < 2^48; at most 2^12 fields per level in practice */
    if (*total > (UINT64_C(1) << 56)) return false;
  }
  return true;
}

/* Each sent subsection: 0x05, counted vmsd_name, be32 version, fields, nested subsections. */
static bool vmdesc_subsections_bytes(const json_t *subsections, uint32_t depth, uint64_t *total)
{
  if (subsections == NULL) return true;
  if (!json_is_array(subsections) || depth > MIG_VMSTATE_DEPTH_MAX) return false;
  size_t index;
  const json_t *subsection;
  json_array_foreach(subsections, index, subsection) {
    const char *name = json_string_value(json_object_get(subsection, "vmsd_name"));
    if (name == NULL || strlen(name) == 0 || strlen(name) > MIG_IDSTR_BYTES_MAX) return false;
    *total += 1 + 1 + strlen(name) + 4;
    if (!vmdesc_fields_bytes(json_object_get(subsection, "fields"), total)) return false;
    if (!vmdesc_subsections_bytes(json_object_get(subsection, "subsections"), depth + 1, total)) {
      return false;
    }
  }
  return true;
}

/* The first unused device entry for (idstr, instance_id); -1 when none. */
static long walk_find_device(struct walk *walk, const char *idstr, uint32_t instance_id)
{
  size_t index;
  const json_t *device;
  json_array_foreach(walk->devices, index, device) {
    const char *name = json_string_value(json_object_get(device, "name"));
    uint64_t instance = 0;
    if (walk->device_used[index] || name == NULL || strcmp(name, idstr) != 0) continue;
    if (!json_bounded(json_object_get(device, "instance_id"), UINT32_MAX, &instance)) continue;
    if (instance != instance_id) continue;
    walk->device_used[index] = true;
    return (long)index;
  }
  return -1;
}


/* A FULL section's payload size from the trailer's device entry; false after an error. */
static bool walk_full_sized(struct walk *walk, struct mig_inspect_device *device,
                            uint64_t *bytes)
{
  struct mig_reader *reader = walk->reader;
  long index = walk_find_device(walk, device->idstr, device->instance_id);
  if (index < 0) {
    MIG_READER_FAIL(reader, MIG_ERR_UNKNOWN_SECTION, device->offset,
                    "no unused VM-description entry", "%s/%" PRIu32, device->idstr,
                    device->instance_id);
    return false;
  }
  const json_t *entry = json_array_get(walk->devices, (size_t)index);
  *bytes = 0;
  if (!vmdesc_fields_bytes(json_object_get(entry, "fields"), bytes) ||
      !vmdesc_subsections_bytes(json_object_get(entry, "subsections"), 1, bytes)) {
    MIG_READER_FAIL(reader, MIG_ERR_VMDESC, walk->out->trailer_offset,
                    "device entry has no usable sizes", "vmdesc/%s", device->idstr);
    return false;
  }
  return true;
}

/*
 * A START or FULL header's shape at b (left bytes to the end): a counted,
 * printable name with the instance and version after it.
 */
static bool walk_header_named(const uint8_t *b, uint64_t left)
{
  if (left < 6) return false;
  uint64_t length = b[5];
  if (length == 0 || left - 6 < length + 8) return false;
  for (uint64_t i = 0; i < length; i++) {
    if (b[6 + i] < 0x20 || b[6 + i] > 0x7e) return false;
  }
  return true;
}

/* A plausible record at p: EOF at the end, or a section/command header that fits. */
static bool walk_plausible_record(const struct walk *walk, uint64_t p)
{
  uint64_t end = walk->out->eof_offset + 1;
  if (walk->in_package && p == end) return true;  /* the package's end is a record boundary */
  /* walk_full_unsized asks up to its own end: eof_offset (before the EOF byte), or a package's. */
  SIM_ASSERT(p < end && p >= walk->base && end - walk->base <= walk->count);
  const uint8_t *bytes = walk_at(walk, p);
  uint8_t type = bytes[0];
  /* A known destination stops at EOF wherever it is: what follows is only a warning. */
  if (type == MIG_SECTION_EOF) return p + 1 == end || walk->options->trailer_advisory;
  if (type == MIG_SECTION_PART || type == MIG_SECTION_END) return p + 5 < end;
  if (type == MIG_SECTION_COMMAND) {
    return p + 5 <= end && (bytes[1] == 0 && bytes[2] > 0 && bytes[2] < MIG_CMD_MAX_7_2);
  }
  if (type != MIG_SECTION_START && type != MIG_SECTION_FULL) return false;
  return walk_header_named(bytes, end - p);
}

/*
 * A legacy stream (no footers) whose destination is known but whose trailer
 * is unusable: nothing sizes a FULL section's fields, and QEMU reads them
 * with its own descriptions.  The payload (walk_left bytes from the reader)
 * ends at the first place a next record plausibly starts: a FULL header of
 * another section (id below 2^16, walk_header_named; one the destination
 * does not load is then refused, as QEMU refuses it), or the EOF.  Not any
 * 0x00 (a field's zero byte is not an EOF): the walk's own end, or, when the
 * trailer's framing is broken (eof_offset is then the input's last byte), a
 * 0x00 followed by the trailer's 0x06 and a be32 length within
 * WALK_TRAILER_SLACK bytes of what follows it.  out->full_by_headers says
 * the fields went unchecked.
 */
#define WALK_TRAILER_SLACK 64u
static bool walk_full_by_headers(struct walk *walk, const struct mig_inspect_device *device,
                                 uint64_t *bytes)
{
  uint64_t start = mig_reader_offset(walk->reader), count = walk_left(walk);
  if (!walk->out->full_by_headers) {
    walk->out->full_by_headers = true;
    walk->out->full_by_headers_offset = start;
  }
  *bytes = count;
  for (uint64_t p = 0; p < count; p++) {
    const uint8_t *b = walk_at(walk, start + p);
    uint64_t left = count - p;
    if (b[0] == MIG_SECTION_EOF && left > 6 && b[1] == MIG_SECTION_VMDESCRIPTION) {
      uint64_t length = mig_wire_be32(b + 2), after = left + 1 - 6;
      if (length <= after + WALK_TRAILER_SLACK && after <= length + WALK_TRAILER_SLACK) {
        *bytes = p;
        break;
      }
    }
    if (b[0] != MIG_SECTION_FULL || !walk_header_named(b, left)) continue;
    uint32_t id = mig_wire_be32(b + 1);
    if (id == device->section_id || id > UINT16_MAX) continue;
    *bytes = p;
    break;
  }
  return true;
}

/*
 * Without a trailer a FULL section's size is unknown (spec §10).  Heuristic:
 * the payload ends at the first 0x7e + be32(section id) that is followed by a
 * plausible record (walk_plausible_record).  Limits: a payload containing
 * those 5 bytes followed by something record-like is cut short (the walk
 * then fails or mis-attributes bytes); legacy streams without footers
 * cannot be sized at all and are rejected.
 */
static bool walk_full_unsized(struct walk *walk, struct mig_inspect_device *device,
                              uint64_t *bytes)
{
  struct mig_reader *reader = walk->reader;
  uint64_t start = mig_reader_offset(reader);
  uint64_t end = walk->out->eof_offset + (walk->in_package ? 1 : 0);  /* a package has no EOF */
  if (!walk->out->has_configuration && !walk->out->footers_seen) {
    MIG_READER_FAIL(reader, MIG_ERR_VMDESC, device->offset,
                    "no trailer and no section footers: FULL sections cannot be sized",
                    "%s/payload", device->idstr);
    return false;
  }
  uint8_t id[4] = {(uint8_t)(device->section_id >> 24), (uint8_t)(device->section_id >> 16),
                   (uint8_t)(device->section_id >> 8), (uint8_t)device->section_id};
  SIM_ASSERT(start >= walk->base && end - walk->base <= walk->count);
  for (uint64_t p = start; p + 5 <= end; p++) {
    const uint8_t *at = walk_at(walk, p);
    if (at[0] != MIG_SECTION_FOOTER || memcmp(at + 1, id, 4) != 0) continue;
    /*
     * The same footer twice in a row ends the payload at the first: QEMU's
     * reader stops there and takes the second 0x7e for a section type
     * ("Unknown savevm section type 126"), as the next record read does here.
     */
    bool repeated = p + 10 <= end && memcmp(at, walk_at(walk, p + 5), 5) == 0;
    if (!repeated && !walk_plausible_record(walk, p + 5)) continue;
    *bytes = p - start;
    return true;
  }
  MIG_READER_FAIL(reader, MIG_ERR_FOOTER, start, "no footer followed by a plausible record",
                  "%s/footer", device->idstr);
  return false;
}


/*
 * RunState names, QEMU qapi/run-state.json (read at upstream commit 01bed0ff;
 * every value is "since 2.8" or older, so QEMU 7.2 has the same 16).
 */
static const char *const runstate_names[] = {
  "debug", "inmigrate", "internal-error", "io-error", "paused", "postmigrate", "prelaunch",
  "finish-migrate", "restore-vm", "running", "save-vm", "shutdown", "suspended", "watchdog",
  "guest-panicked", "colo",
};

/*
 * The "globalstate" section (spec §11.3 item 20): be32 size, then the
 * runstate buffer (100 bytes in 7.2).  QEMU forces the buffer's last byte to
 * NUL and then parses the name; here the name must end inside the buffer,
 * be a known RunState, and size must be its length + 1 (what the source
 * writes).  payload holds bytes bytes at stream offset at.
 */
static void walk_globalstate(struct walk *walk, const uint8_t *payload, uint64_t bytes,
                             uint64_t at)
{
  struct mig_reader *reader = walk->reader;
  if (bytes < 5) {
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, at, "payload under 5 bytes", "globalstate/runstate");
    return;
  }
  const char *runstate = (const char *)payload + 4;
  size_t buffer_bytes = (size_t)bytes - 4;
  const char *end = memchr(runstate, '\0', buffer_bytes);
  if (end == NULL) {
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, at + bytes - 1, "no NUL inside the buffer",
                    "globalstate/runstate");
    return;
  }
  bool known = false;
  for (size_t i = 0; i < SIM_ARRAY_COUNT(runstate_names) && !known; i++) {
    known = strcmp(runstate, runstate_names[i]) == 0;
  }
  char detail[80];
  if (!known) {
    snprintf(detail, sizeof detail, "\"%.40s\" is not a RunState", runstate);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, at + 4, detail, "globalstate/runstate");
    return;
  }
  uint32_t size = (uint32_t)payload[0] << 24 | (uint32_t)payload[1] << 16 |
                  (uint32_t)payload[2] << 8 | payload[3];
  if (size != (uint32_t)(end - runstate) + 1) {
    snprintf(detail, sizeof detail, "size %" PRIu32 ", runstate \"%s\" needs %zu", size, runstate,
             (size_t)(end - runstate) + 1);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, at, detail, "globalstate/size");
  }
}


/* Index of the block called name (not NUL-terminated, name_bytes long); -1 if unknown. */
static int32_t walk_block_named(const struct walk *walk, const uint8_t *name, size_t name_bytes)
{
  for (uint32_t i = 0; i < walk->out->block_count; i++) {
    const char *known = walk->out->blocks[i].name;
    if (strlen(known) == name_bytes && memcmp(known, name, name_bytes) == 0) return (int32_t)i;
  }
  return -1;
}

/*
 * POSTCOPY_RAM_DISCARD (§7, §11.2, §11.3 item 8): u8 version 0, counted
 * block name, u8 0, then (be64 start, be64 length) pairs in bytes.  QEMU
 * clears received-bitmap bits before it validates a range and never checks
 * start + length for overflow; here every range is checked first: page
 * aligned, non-empty, no wrap, inside the named block.  payload holds length
 * bytes (length >= 3 was checked by the caller).
 */
static bool walk_discard(struct walk *walk, uint64_t offset, const uint8_t *payload,
                         uint16_t length)
{
  struct mig_reader *reader = walk->reader;
  uint64_t at = offset + 5;         /* payload[0] */
  char detail[96];
  if (payload[0] != 0) {
    snprintf(detail, sizeof detail, "version %u, expected 0", payload[0]);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, at, detail, "command/POSTCOPY_RAM_DISCARD/version");
    return false;
  }
  uint32_t name_bytes = payload[1];
  if (3u + name_bytes > length || (length - 3u - name_bytes) % 16 != 0) {
    snprintf(detail, sizeof detail, "length %" PRIu16 " is not 3 + %" PRIu32 " + 16 x ranges",
             length, name_bytes);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_COMMAND, offset + 3, detail,
                    "command/POSTCOPY_RAM_DISCARD/length");
    return false;
  }
  if (payload[2 + name_bytes] != 0) {
    snprintf(detail, sizeof detail, "0x%02x after the name, expected 0", payload[2 + name_bytes]);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, at + 2 + name_bytes, detail,
                    "command/POSTCOPY_RAM_DISCARD/terminator");
    return false;
  }
  /* Known block names hold no NUL (walk_name), so a name that matches one has none either. */
  int32_t index = walk_block_named(walk, payload + 2, name_bytes);
  if (index < 0) {
    MIG_READER_FAIL(reader, MIG_ERR_RAM_BLOCK, at + 1, "no such block in the RAM setup",
                    "command/POSTCOPY_RAM_DISCARD/block");
    return false;
  }
  uint64_t used = walk->out->blocks[index].used_bytes;
  uint32_t range_count = (length - 3u - name_bytes) / 16;
  const uint8_t *ranges = payload + 3 + name_bytes;
  for (uint32_t i = 0; i < range_count; i++) {
    uint64_t start = 0, bytes = 0;
    for (int b = 0; b < 8; b++) {
      start = start << 8 | ranges[16 * i + (uint32_t)b];
      bytes = bytes << 8 | ranges[16 * i + 8 + (uint32_t)b];
    }
    const char *problem = NULL;
    if (((start | bytes) & (MIG_PAGE_BYTES - 1)) != 0) {
      problem = "not page aligned";
    } else if (bytes == 0) {
      problem = "empty range";
    } else if (start > UINT64_MAX - bytes) {
      problem = "start + length wraps";
    } else if (start + bytes > used) {
      problem = "beyond used_length";
    }
    if (problem != NULL) {
      snprintf(detail, sizeof detail, "0x%" PRIx64 "+0x%" PRIx64 " %s", start, bytes, problem);
      MIG_READER_FAIL(reader, MIG_ERR_RAM_OFFSET, at + 3 + name_bytes + 16 * (uint64_t)i, detail,
                      "command/POSTCOPY_RAM_DISCARD/ranges[%" PRIu32 "]", i);
      return false;
    }
  }
  return true;
}

/*
 * POSTCOPY_ADVISE with a body: be64 page-size summary, be64 target page
 * size; the target page size must be ours (§7, §11.2 "ADVISE page-size
 * mismatch").  RECV_BITMAP: counted block name and nothing else, naming a
 * block of the RAM setup (§7).  False after a rejection.
 */
static bool walk_postcopy_body(struct walk *walk, uint64_t offset, uint16_t code,
                               const uint8_t *payload, uint16_t length)
{
  struct mig_reader *reader = walk->reader;
  char detail[64];
  if (code == 3 && length == 16) {
    uint64_t target = 0;
    for (int b = 0; b < 8; b++) target = target << 8 | payload[8 + b];
    if (target != MIG_PAGE_BYTES) {
      snprintf(detail, sizeof detail, "target page size 0x%" PRIx64 ", expected 0x1000", target);
      MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, offset + 5 + 8, detail,
                      "command/POSTCOPY_ADVISE/target_page_size");
      return false;
    }
  } else if (code == 10) {
    uint32_t name_bytes = payload[0];
    SIM_ASSERT(length == 1u + name_bytes);  /* the record layer's MIG_LENGTH_COUNTED rule */
    /* As in walk_discard: a name that matches a known block has no NUL. */
    if (walk_block_named(walk, payload + 1, name_bytes) < 0) {
      MIG_READER_FAIL(reader, MIG_ERR_RAM_BLOCK, offset + 5, "no such block in the RAM setup",
                      "command/RECV_BITMAP/block");
      return false;
    }
  }
  return true;
}


/* The index of block device name, registered on first sight; -1 after a rejection. */
static int32_t walk_block_device(struct walk *walk, const char *name, uint64_t name_offset)
{
  struct mig_reader *reader = walk->reader;
  struct mig_inspect *out = walk->out;
  for (uint32_t i = 0; i < out->block_device_count; i++) {
    if (strcmp(out->block_devices[i].name, name) == 0) return (int32_t)i;
  }
  const struct mig_inspect_options *options = walk->options;
  uint64_t bytes = 0;
  bool known = options->block_device_count == 0;
  for (uint32_t i = 0; i < options->block_device_count && !known; i++) {
    known = strcmp(options->block_devices[i].name, name) == 0;
    bytes = options->block_devices[i].bytes;
  }
  char detail[MIG_IDSTR_BYTES_MAX + 32];
  if (!known) {
    snprintf(detail, sizeof detail, "no block device \"%s\"", name);
    MIG_READER_FAIL(reader, MIG_ERR_UNKNOWN_SECTION, name_offset, detail, "block/device-name");
    return -1;
  }
  if (out->block_device_count >= MIG_INSPECT_BLOCK_DEVICES_MAX) {
    snprintf(detail, sizeof detail, "more than %d devices", MIG_INSPECT_BLOCK_DEVICES_MAX);
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, name_offset, detail, "block/device-name");
    return -1;
  }
  struct mig_inspect_block_device *device = &out->block_devices[out->block_device_count];
  memset(device, 0, sizeof *device);
  snprintf(device->name, sizeof device->name, "%s", name);
  device->bytes = bytes;
  return (int32_t)out->block_device_count++;
}


/*
 * DEVICE_BLOCK (QEMU 7.2 block_load): counted device name, then unless
 * ZERO_BLOCK one 1 MiB chunk.  Stricter than QEMU: the name is non-empty and
 * NUL-free, the sector starts a chunk (the source only sends chunk-aligned
 * sectors) and lies inside the device (QEMU computes a negative sector count
 * past the end and lets the write fail).  False after a rejection.
 */
static bool walk_block_data(struct walk *walk, const struct mig_record *record,
                            struct mig_inspect_event *event)
{
  struct mig_reader *reader = walk->reader;
  char name[MIG_IDSTR_BYTES_MAX + 1];
  uint64_t name_offset = record->offset + 8;
  if (!walk_name(walk, &record->block_device, name, name_offset, "block/device-name")) {
    return false;
  }
  if (name[0] == 0) {
    MIG_READER_FAIL(reader, MIG_ERR_BAD_IDSTR, name_offset, "empty", "block/device-name");
    return false;
  }
  int32_t index = walk_block_device(walk, name, name_offset);
  if (index < 0) return false;
  struct mig_inspect_block_device *device = &walk->out->block_devices[index];
  uint64_t device_bytes = device->bytes != 0 ? device->bytes : MIG_BLOCK_DEVICE_BYTES_MAX;
  if (event->sector % MIG_BLOCK_CHUNK_SECTORS != 0 ||
      event->sector >= device_bytes >> MIG_BLOCK_SECTOR_BITS) {
    char detail[96];
    snprintf(detail, sizeof detail, "sector 0x%" PRIx64 " %s (device 0x%" PRIx64 " bytes)",
             event->sector, event->sector % MIG_BLOCK_CHUNK_SECTORS != 0 ?
             "does not start a 1 MiB chunk" : "beyond the device", device_bytes);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, event->offset, detail, "block/sector");
    return false;
  }
  event->block_device = (uint32_t)index;
  if (event->block_flags & MIG_BLOCK_FLAG_ZERO_BLOCK) {
    device->zero_blocks++;
  } else {
    device->data_blocks++;
  }
  device->sector_end = SIM_MAX(device->sector_end, event->sector + MIG_BLOCK_CHUNK_SECTORS);
  return true;
}

/*
 * One "block" record (QEMU 7.2 migration/block.c block_load).  Accepted flag
 * values are exactly those the source writes: DEVICE_BLOCK,
 * DEVICE_BLOCK|ZERO_BLOCK, PROGRESS (percent <= 100) and EOS (sector 0);
 * QEMU's loader (and the record layer, which parses as it does) also takes
 * other combinations.
 */
static void walk_block(struct walk *walk, const struct mig_record *record)
{
  struct mig_reader *reader = walk->reader;
  struct mig_inspect_event event = {
      .kind = MIG_INSPECT_BLOCK_RECORD, .offset = record->offset, .record = record,
      .word = record->block_word, .payload = record->payload,
      .payload_bytes = record->payload_bytes, .payload_offset = record->payload_offset};
  event.block_flags = (uint32_t)(event.word & ((1u << MIG_BLOCK_SECTOR_BITS) - 1));
  event.sector = event.word >> MIG_BLOCK_SECTOR_BITS;
  uint32_t flags = event.block_flags;
  char detail[64];
  if (flags == MIG_BLOCK_FLAG_EOS || flags == MIG_BLOCK_FLAG_PROGRESS) {
    bool eos = flags == MIG_BLOCK_FLAG_EOS;
    if (event.sector > (eos ? 0u : 100u)) {
      snprintf(detail, sizeof detail, "%s 0x%" PRIx64, eos ? "EOS with sector" : "percent",
               event.sector);
      MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, event.offset, detail, "%s",
                      eos ? "block/eos" : "block/progress");
      return;
    }
    if (eos) {
      walk->out->block_eos_count++;
    } else {
      walk->out->block_progress_count++;
      walk->out->block_progress = (uint32_t)event.sector;
    }
  } else if (flags == MIG_BLOCK_FLAG_DEVICE_BLOCK ||
             flags == (MIG_BLOCK_FLAG_DEVICE_BLOCK | MIG_BLOCK_FLAG_ZERO_BLOCK)) {
    if (!walk_block_data(walk, record, &event)) return;
  } else {
    snprintf(detail, sizeof detail, "flags 0x%03" PRIx32, flags);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, event.offset, detail, "block/flags");
    return;
  }
  walk_emit(walk, &event);
}

/* --------------------------------------------------------- dirty bitmaps */

/* One dirty-bitmap chunk (QEMU 7.2 migration/block-dirty-bitmap.c); names carry over. */
static void walk_bitmap(struct walk *walk, const struct mig_record *record)
{
  struct mig_reader *reader = walk->reader;
  const struct mig_record_bitmap *bitmap = &record->bitmap;
  struct mig_inspect_event event = {
      .kind = MIG_INSPECT_BITMAP_CHUNK, .offset = record->offset, .record = record,
      .bitmap_flags = bitmap->flags, .bitmap_flags_bytes = bitmap->flags_bytes,
      .granularity = bitmap->granularity, .bitmap_start_flags = bitmap->start_flags,
      .start_sector = bitmap->start_sector, .sectors = bitmap->sectors,
      .payload = record->payload, .payload_bytes = record->payload_bytes,
      .payload_offset = record->payload_offset};
  char detail[64];
  if (bitmap->flags > 0xff) {
    snprintf(detail, sizeof detail, "flags 0x%" PRIx32, bitmap->flags);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, event.offset, detail, "dirty-bitmap/flags");
    return;
  }
  uint64_t name_offset = record->offset + bitmap->flags_bytes;
  if (bitmap->has_node) {
    if (!walk_name(walk, &bitmap->node, walk->bitmap_node, name_offset, "dirty-bitmap/node")) {
      return;
    }
    event.bitmap_node = walk->bitmap_node;
    name_offset += 1u + bitmap->node.length;
  }
  if (bitmap->has_name) {
    if (!walk_name(walk, &bitmap->name, walk->bitmap_name, name_offset, "dirty-bitmap/name")) {
      return;
    }
    event.bitmap_name = walk->bitmap_name;
  }
  if ((bitmap->flags & MIG_BITMAP_FLAG_START) &&
      (bitmap->start_flags & MIG_BITMAP_START_RESERVED) != 0) {
    snprintf(detail, sizeof detail, "start flags 0x%02x", bitmap->start_flags);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, event.offset, detail, "dirty-bitmap/start");
    return;
  }
  walk->out->bitmap_chunks++;
  walk_emit(walk, &event);
}

/* --------------------------------------------------------------- sections */

/* The live section registered under section_id; NULL when none. */
static struct mig_inspect_live *walk_find_live(struct walk *walk, uint32_t section_id)
{
  for (uint32_t i = 0; i < walk->out->live_count; i++) {
    if (walk->out->lives[i].section_id == section_id) return &walk->out->lives[i];
  }
  return NULL;
}

/* The section version each walked live grammar has. */
static uint32_t live_version(enum mig_record_grammar grammar)
{
  switch (grammar) {
  case MIG_GRAMMAR_RAM: return MIG_RAM_SECTION_VERSION;
  case MIG_GRAMMAR_BLOCK: return MIG_BLOCK_SECTION_VERSION;
  case MIG_GRAMMAR_BITMAP: return MIG_BITMAP_SECTION_VERSION;
  case MIG_GRAMMAR_VFIO: return MIG_VFIO_SECTION_VERSION;
  case MIG_GRAMMAR_OPAQUE:
  case MIG_GRAMMAR_NONE:
    break;
  }
  return UINT32_MAX;
}

/* START registers a live section (ram, dirty-bitmap, block, <bdf>/vfio); PART/END look it up. */
static struct mig_inspect_live *walk_live_header(struct walk *walk,
                                                 const struct mig_record *record)
{
  struct mig_reader *reader = walk->reader;
  const struct mig_record_section *section = &record->section;
  const struct mig_inspect_device *header = &walk->device;
  char detail[64];
  struct mig_inspect_live *live = walk_find_live(walk, header->section_id);
  if (section->type != MIG_SECTION_START) {
    if (live != NULL) return live;
    snprintf(detail, sizeof detail, "section id 0x%" PRIx32, header->section_id);
    MIG_READER_FAIL(reader, MIG_ERR_UNKNOWN_SECTION, header->offset, detail, "section/id");
    return NULL;
  }
  uint32_t version = live_version(section->grammar);
  if (version == UINT32_MAX) {
    MIG_READER_FAIL(reader, MIG_ERR_UNKNOWN_SECTION, header->offset,
                    "live sections other than \"ram\", \"dirty-bitmap\", \"block\" and "
                    "\"<device>/vfio\" are not walked", "%s", header->idstr);
    return NULL;
  }
  if (header->version != version || header->instance_id != 0) {
    snprintf(detail, sizeof detail, "version %" PRIu32 " instance %" PRIu32, header->version,
             header->instance_id);
    MIG_READER_FAIL(reader, MIG_ERR_SECTION_VERSION, header->offset, detail, "%s/header",
                    header->idstr);
    return NULL;
  }
  if (live != NULL || walk->out->live_count >= MIG_INSPECT_LIVE_SECTIONS_MAX) {
    snprintf(detail, sizeof detail, "section id 0x%" PRIx32 " (%" PRIu32 " live)",
             header->section_id, walk->out->live_count);
    MIG_READER_FAIL(reader, MIG_ERR_UNKNOWN_SECTION, header->offset, detail, "section/id");
    return NULL;
  }
  live = &walk->out->lives[walk->out->live_count++];
  *live = (struct mig_inspect_live){.section_id = header->section_id,
                                    .instance_id = header->instance_id,
                                    .version = header->version, .offset = header->offset};
  snprintf(live->idstr, sizeof live->idstr, "%s", header->idstr);
  return live;
}

static void walk_tail(struct walk *walk, const struct mig_record *eof);

/* The visitor's full_bytes for the FULL section at the reader: false when it cannot tell. */
static bool walk_full_by_destination(struct walk *walk, const struct mig_inspect_device *device,
                                     uint64_t *bytes)
{
  const struct mig_inspect_visitor *visitor = walk->visitor;
  if (visitor == NULL || visitor->full_bytes == NULL) return false;
  uint64_t at = mig_reader_offset(walk->reader);
  uint64_t left = walk_left(walk);
  struct mig_inspect_event event = {
      .kind = MIG_INSPECT_DEVICE, .offset = at, .inspect = walk->out,
      .section_type = MIG_SECTION_FULL, .section_id = device->section_id,
      .idstr = device->idstr, .instance_id = device->instance_id, .version = device->version,
      .payload = left > 0 ? walk_at(walk, at) : NULL, .payload_bytes = left,
      .payload_offset = at};
  return visitor->full_bytes(visitor->context, &event, bytes) && *bytes <= left;
}

/*
 * A FULL section's payload: sized by the destination's loader on a stream
 * without footers, by the trailer, or heuristically without one.
 */
static void walk_full_payload(struct walk *walk)
{
  if (!walk->tail_known) {
    walk_tail(walk, NULL);  /* streamed: the trailer first, then this payload and the rest */
    return;
  }
  struct mig_reader *reader = walk->reader;
  struct mig_inspect_device *device = &walk->device;
  uint64_t bytes = 0;
  /*
   * A known destination sizes by footers; a legacy stream has none: by the
   * destination's loader, else by its trailer, if usable.
   */
  bool legacy = !walk->out->has_configuration && !walk->out->footers_seen;
  bool by_trailer = walk->out->has_trailer && walk->devices != NULL &&
                    (!walk->options->trailer_advisory || legacy);
  bool by_destination = legacy && walk->options->trailer_advisory;
  bool sized = (by_destination && walk_full_by_destination(walk, device, &bytes)) ||
               (by_trailer       ? walk_full_sized(walk, device, &bytes)
                : by_destination ? walk_full_by_headers(walk, device, &bytes)
                                 : walk_full_unsized(walk, device, &bytes));
  if (!sized) {
    mig__reader_policy(reader, "trailer_sizes_full_sections");
    return;
  }
  if (bytes > walk_left(walk)) {
    char detail[64];
    snprintf(detail, sizeof detail, "size 0x%" PRIx64 " left 0x%" PRIx64, bytes, walk_left(walk));
    MIG_POLICY_FAIL(reader, trailer_sizes_full_sections, MIG_ERR_TRUNCATED,
                    mig_reader_offset(reader), detail, "%s/payload", device->idstr);
    return;
  }
  walk->full_footer_next = true;
  device->bytes = bytes;
  struct mig_record *record = &walk->record;
  if (mig_record_payload(&walk->tokenizer, bytes, record) != MIG_OK) return;
  device->payload_offset = record->payload_offset;
  if (strcmp(device->idstr, "globalstate") == 0 && device->instance_id == 0) {
    walk_globalstate(walk, record->payload, bytes, record->payload_offset);
    if (walk_failed(walk)) return;
  }
  struct mig_inspect_event event = {
      .kind = MIG_INSPECT_DEVICE, .offset = record->payload_offset, .record = record,
      .section_type = MIG_SECTION_FULL, .section_id = device->section_id,
      .idstr = device->idstr, .instance_id = device->instance_id, .version = device->version,
      .payload = record->payload, .payload_bytes = bytes, .payload_offset = record->payload_offset};
  walk_emit(walk, &event);
  if (!walk_failed(walk)) walk->out->devices[walk->out->device_count++] = *device;
}

static void walk_section(struct walk *walk, const struct mig_record *record)
{
  struct mig_reader *reader = walk->reader;
  const struct mig_record_section *section = &record->section;
  struct mig_inspect_device *header = &walk->device;
  *header = (struct mig_inspect_device){.offset = record->offset,
                                        .section_id = section->section_id,
                                        .instance_id = section->instance_id,
                                        .version = section->version};
  bool full = section->type == MIG_SECTION_FULL;
  if ((section->type == MIG_SECTION_START || full) &&
      !walk_name(walk, &section->idstr, header->idstr, record->offset + 6, "section/idstr")) {
    return;
  }
  walk->live = NULL;
  if (!full) {
    walk->live = walk_live_header(walk, record);
    if (walk->live == NULL) return;
  } else if (walk->out->device_count >= MIG_SECTIONS_MAX) {
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, record->offset, "too many FULL sections", "%s",
                    header->idstr);
    return;
  }
  struct mig_inspect_event event = {
      .kind = MIG_INSPECT_SECTION_START, .offset = record->offset, .record = record,
      .section_type = section->type, .section_id = section->section_id,
      .idstr = walk->live != NULL ? walk->live->idstr : header->idstr,
      .instance_id = section->instance_id, .version = section->version};
  walk_emit(walk, &event);
  if (full && !walk_failed(walk)) walk_full_payload(walk);
}

static void walk_footer(struct walk *walk, const struct mig_record *record)
{
  if (record->footer_present) walk->out->footers_seen = true;
  struct mig_inspect_event event = {
      .kind = MIG_INSPECT_SECTION_END, .offset = record->offset, .record = record,
      .section_type = record->section.type, .section_id = record->section.section_id,
      .idstr = walk->live != NULL ? walk->live->idstr : walk->device.idstr,
      .instance_id = walk->device.instance_id, .version = walk->device.version,
      .footer = record->footer_present};
  walk_emit(walk, &event);
  walk->live = NULL;
}

static bool walk_record(struct walk *walk, struct mig_record *record);

/* The outer walk's view of its input, set aside while a package is walked. */
struct walk_outer {
  struct mig_tokenizer tokenizer;
  struct mig_reader *reader;
  const uint8_t *bytes;
  size_t count;
  uint64_t base;
  bool tail_known;
  uint64_t eof_offset;
};

/* The records of a package over reader package (bytes [offset, end)); true when RUN ended it. */
static bool walk_package_records(struct walk *walk, struct mig_reader *package, uint64_t end)
{
  struct mig_record *record = &walk->record;
  while (!walk_failed(walk) && mig_reader_offset(package) < end) {
    if (mig_record_next(&walk->tokenizer, record) != MIG_OK) {
      if (walk->full_footer_next) mig__reader_policy(walk->reader, "trailer_sizes_full_sections");
      return false;
    }
    walk->full_footer_next = false;
    if (record->kind == MIG_RECORD_EOF || record->kind == MIG_RECORD_END) break;
    bool run = record->kind == MIG_RECORD_COMMAND && record->command == MIG_CMD_POSTCOPY_RUN;
    if (!walk_record(walk, record) || run) return run && !walk_failed(walk);
  }
  return false;
}

/*
 * PACKAGED (§4.6, §7): the body is read whole (at most packaged_bytes_max,
 * QEMU 7.2 reads it whole too) and walked as a nested run of top-level
 * records over memory, as loadvm_handle_cmd_packaged does.  FULL sections
 * inside are sized by their footers (a postcopy stream has no trailer).  It
 * must end exactly with RUN: QEMU ignores bytes after RUN; refused here, as
 * a PACKAGED inside a package is.
 */
static void walk_package(struct walk *walk, const struct mig_record *record)
{
  struct mig_reader *main = walk->reader;
  uint32_t length = record->package_bytes;
  char detail[80];
  if (walk->in_package) {
    MIG_READER_FAIL(main, MIG_ERR_BAD_COMMAND, record->offset, "PACKAGED inside a package",
                    "command/PACKAGED");
    return;
  }
  if (length > walk->policy->packaged_bytes_max) {
    snprintf(detail, sizeof detail, "length %" PRIu32 " > %" PRIu32, length,
             walk->policy->packaged_bytes_max);
    MIG_POLICY_FAIL(main, packaged_bytes_max, MIG_ERR_TOO_LONG, record->payload_offset, detail,
                    "command/PACKAGED");
    return;
  }
  uint64_t offset = mig_reader_offset(main);
  uint8_t *bytes = malloc(SIM_MAX(length, 1u));  /* bounded by packaged_bytes_max above */
  SIM_ASSERT(bytes != NULL);
  mig_read_bytes(main, bytes, length);
  mig__reader_annotate(main, "command/PACKAGED");
  struct walk_outer *outer = malloc(sizeof *outer);
  SIM_ASSERT(outer != NULL);
  *outer = (struct walk_outer){walk->tokenizer, main, walk->bytes, walk->count, walk->base,
                               walk->tail_known, walk->out->eof_offset};
  struct mig_reader package;
  mig_reader_init_memory_at(&package, bytes, length, offset);
  if (!mig_reader_failed(main)) {
    walk->out->package_offset = offset;
    walk->out->package_bytes = length;
    walk->reader = &package;
    walk->bytes = bytes;
    walk->count = length;
    walk->base = offset;
    walk->tail_known = true;
    walk->in_package = true;
    walk->out->eof_offset = offset + length - (length > 0);  /* walk_full_unsized's bound */
    mig_tokenizer_init_records(&walk->tokenizer, &package, &outer->tokenizer.options);
    bool run = walk_package_records(walk, &package, offset + length);
    if (!walk_failed(walk) && !run) {
      /* An empty package: the PACKAGED record itself (as the loader says). */
      bool inside = walk->record.offset >= offset;
      uint64_t where = !inside || walk->record.kind == MIG_RECORD_EOF
                           ? walk->record.offset : mig_reader_offset(&package);
      MIG_READER_FAIL(&package, MIG_ERR_BAD_COMMAND, where, "package ended without POSTCOPY_RUN",
                      "command/PACKAGED");
    } else if (!walk_failed(walk) && mig_reader_offset(&package) != offset + length) {
      MIG_READER_FAIL(&package, MIG_ERR_TRAILING, mig_reader_offset(&package),
                      "bytes after POSTCOPY_RUN in the package", "command/PACKAGED");
    }
    mig_record_payload_close(main, &package);
  }
  walk->tokenizer = outer->tokenizer;
  walk->reader = main;
  walk->bytes = outer->bytes;
  walk->count = outer->count;
  walk->base = outer->base;
  walk->tail_known = outer->tail_known;
  walk->out->eof_offset = outer->eof_offset;
  walk->in_package = false;
  free(outer);
  free(bytes);
}

/* ADVISE, DISCARD, LISTEN, RUN in QEMU's state order (mig_postcopy_state_step). */
static bool walk_postcopy_state(struct walk *walk, const struct mig_record *record)
{
  enum mig_postcopy_state before = walk->out->postcopy_state;
  if (mig_postcopy_state_step(&walk->out->postcopy_state, record->command)) return true;
  const char *name = mig_wire_command_name(record->command);
  char detail[96];
  snprintf(detail, sizeof detail, "%s in wrong postcopy state (%s)", name,
           mig_postcopy_state_name(before));
  MIG_READER_FAIL(walk->reader, MIG_ERR_BAD_COMMAND, record->offset, detail, "command/%s", name);
  return false;
}

/* A command record (§7): the record layer checked code and length; bodies are checked here. */
static void walk_command(struct walk *walk, const struct mig_record *record)
{
  uint16_t code = record->command;
  uint16_t length = (uint16_t)record->payload_bytes;
  if (code == MIG_CMD_POSTCOPY_RAM_DISCARD &&
      !walk_discard(walk, record->offset, record->payload, length)) {
    return;
  }
  if (!walk_postcopy_body(walk, record->offset, code, record->payload, length)) return;
  if (!walk_postcopy_state(walk, record)) return;
  if (code == MIG_CMD_PING && walk->out->commands[MIG_CMD_OPEN_RETURN_PATH] == 0 &&
      walk->policy->ping_needs_return_path) {
    MIG_POLICY_FAIL(walk->reader, ping_needs_return_path, MIG_ERR_BAD_COMMAND, record->offset,
                    "received with no return path", "command/%s", mig_wire_command_name(code));
    return;
  }
  walk->out->commands[code]++;
  struct mig_inspect_event event = {.kind = MIG_INSPECT_COMMAND, .offset = record->offset,
                                    .record = record, .command = code,
                                    .payload = record->payload, .payload_bytes = length,
                                    .payload_offset = record->payload_offset};
  walk_emit(walk, &event);
  if (code == MIG_CMD_PACKAGED && !walk_failed(walk)) walk_package(walk, record);
}

static void walk_eof(struct walk *walk, const struct mig_record *record)
{
  /*
   * After a package QEMU 7.2 sends no trailer (should_send_vmdesc) and waits
   * for SHUT: a live source's stream ends here.  Other streamed input is
   * read to its end, as over memory (the same verdict either way).
   */
  if (walk->out->postcopy_state == MIG_POSTCOPY_RUNNING) {
    walk->out->postcopy_state = MIG_POSTCOPY_END;
    if (!walk->tail_known && walk->options->tail_trials) {
      walk->done = true;
      walk->out->eof_offset = record->offset;
    }
  }
  if (!walk->tail_known && !walk->done) {
    walk_tail(walk, record);  /* streamed: what follows EOF is the trailer, or nothing */
    return;
  }
  walk->done = true;
  /* QEMU reads one byte after EOF, expecting the trailer; anything else is its warning. */
  if (record->offset < walk->out->eof_offset &&
      walk_trailer_advisory(walk, record->offset + 1, "bytes after EOF are not a trailer")) {
    walk->out->eof_offset = record->offset;
    walk->out->has_trailer = false;
  }
  if (record->offset != walk->out->eof_offset) {
    MIG_READER_FAIL(walk->reader, MIG_ERR_TRAILING, record->offset,
                    "EOF before the end of the stream", "eof");
    return;
  }
  struct mig_inspect_event event = {.kind = MIG_INSPECT_EOF, .offset = record->offset,
                                    .record = record};
  if (walk->out->has_trailer) {
    event.payload = walk->bytes + (walk->out->trailer_offset - walk->base);
    event.payload_bytes = walk->out->trailer_bytes;
    event.payload_offset = walk->out->trailer_offset;
  }
  walk_emit(walk, &event);
}

/* One record after the header; false once the walk is over (EOF or an error). */
static bool walk_record(struct walk *walk, struct mig_record *record)
{
  bool top = record->kind == MIG_RECORD_SECTION || record->kind == MIG_RECORD_COMMAND ||
             record->kind == MIG_RECORD_EOF;
  if (top) walk_configuration_done(walk);
  if (top || record->kind == MIG_RECORD_CONFIGURATION) {
    uint8_t type = record->kind == MIG_RECORD_SECTION ? record->section.type
                   : record->kind == MIG_RECORD_COMMAND ? MIG_SECTION_COMMAND
                   : record->kind == MIG_RECORD_EOF ? MIG_SECTION_EOF
                                                    : MIG_SECTION_CONFIGURATION;
    walk->out->records[type]++;
  }
  bool preamble = record->kind == MIG_RECORD_HEADER ||
                  record->kind == MIG_RECORD_CONFIGURATION ||
                  record->kind == MIG_RECORD_CONFIG_SUBSECTION;
  switch (record->kind) {
  case MIG_RECORD_HEADER: break;
  case MIG_RECORD_CONFIGURATION:
    walk->out->has_configuration = true;
    (void)walk_name(walk, &record->config.name, walk->out->machine, record->offset + 5,
                    "configuration/name");
    break;
  case MIG_RECORD_CONFIG_SUBSECTION: walk_config_subsection(walk, record); break;
  case MIG_RECORD_SECTION: walk_section(walk, record); break;
  case MIG_RECORD_FOOTER: walk_footer(walk, record); break;
  case MIG_RECORD_COMMAND: walk_command(walk, record); break;
  case MIG_RECORD_RAM:
  case MIG_RECORD_RAM_BLOCK: walk_ram(walk, record); break;
  case MIG_RECORD_VFIO: walk_vfio(walk, record); break;
  case MIG_RECORD_BLOCK: walk_block(walk, record); break;
  case MIG_RECORD_BITMAP: walk_bitmap(walk, record); break;
  case MIG_RECORD_EOF: walk_eof(walk, record); return false;
  default:
    /* PAYLOAD and ZERO_RUN come otherwise; TRAILER and on lie past the reader. */
    SIM_ASSERT(!"record kind out of place");
    break;
  }
  if (preamble) {
    struct mig_inspect_event event = {.kind = MIG_INSPECT_PREAMBLE, .offset = record->offset,
                                      .record = record};
    walk_emit(walk, &event);
  }
  return !walk_failed(walk);
}

/* ------------------------------------------------------------ streamed */

/*
 * One walk of the tail as it is now: locate the trailer in it, read on from
 * memory (the tokenizer is rebased onto the tail), then the FULL payload
 * that asked for it and everything after, or the EOF record that did.
 */
static void walk_tail_attempt(struct walk *walk, const struct mig_record *eof)
{
  struct walk_tail *tail = walk->tail;
  walk->bytes = tail->bytes.bytes;
  walk->count = tail->bytes.count;
  walk->base = tail->base;
  walk->tail_known = true;
  /* Errors of an attempt latch here, inside the walk a failed trial restores. */
  mig_reader_init_memory_at(&walk->memory, walk->bytes, walk->count, tail->base);
  walk->reader = &walk->memory;
  mig_tokenizer_rebase(&walk->tokenizer, walk->reader);
  if (walk_find_trailer(walk) != MIG_OK) return;
  if (eof != NULL) {
    walk_eof(walk, eof);
    return;
  }
  /* As over memory: the reader ends at the EOF byte, nothing reads into the trailer. */
  mig_reader_init_memory_at(&walk->memory, walk->bytes,
                            (size_t)(walk->out->eof_offset + 1 - tail->base), tail->base);
  walk_full_payload(walk);
  if (!walk_failed(walk)) walk_records(walk);
}

/* The walk state a failed trial goes back to (tail_trials). */
struct walk_saved {
  struct walk walk;
  struct mig_inspect out;
};

static bool walk_tail_read(struct walk *walk, bool *end)
{
  struct walk_tail *tail = walk->tail;
  size_t got = mig_reader_take(walk->source, tail->chunk, sizeof tail->chunk);
  *end = got == 0;
  if (got > 0 && mig_membuf_write(&tail->bytes, tail->chunk, got) != MIG_OK) {
    MIG_READER_FAIL(walk->reader, MIG_ERR_TOO_LONG, tail->base + tail->bytes.count,
                    "the stream's tail (device sections and trailer) exceeds the bound",
                    "stream/tail");
    return false;
  }
  return !mig_reader_failed(walk->source);  /* walk->reader is the source here */
}

/*
 * After an EOF record only 0x06, be32 N and N bytes of JSON may follow
 * (N <= MIG_VMDESC_BYTES_MAX), so the walk need not read on once the bytes
 * after it cannot be that: a stream that is not a trailer is refused at its
 * first bad byte, not after reading it all (issue 9: a header and 1 GiB of
 * zeros).
 */
static bool walk_tail_settled(const struct walk_tail *tail, const struct mig_record *eof)
{
  const uint8_t *bytes = tail->bytes.bytes;
  size_t count = tail->bytes.count;
  if (eof == NULL || count < 2) return false;
  if (bytes[1] != MIG_SECTION_VMDESCRIPTION) return true;
  if (count < 6) return false;
  uint32_t length = (uint32_t)bytes[2] << 24 | (uint32_t)bytes[3] << 16 |
                    (uint32_t)bytes[4] << 8 | bytes[5];
  return length == 0 || length > MIG_VMDESC_BYTES_MAX || count > 6 + (size_t)length;
}

/*
 * Streamed input reached the first FULL section or the EOF: both need the
 * end of the stream (FULL sections are sized by the trailer).  The rest of
 * the stream is read into memory, bounded by tail_bytes_max, then walked.
 * With tail_trials (a live source, which waits for SHUT and never closes
 * first) the tail is walked whenever it ends like a trailer; a failed trial
 * restores the walk, and tail_more says whether more bytes came.
 */
static void walk_tail(struct walk *walk, const struct mig_record *eof)
{
  struct walk_tail *tail = walk->tail;
  tail->base = eof != NULL ? eof->offset : mig_reader_offset(walk->source);
  uint64_t bytes_max = walk->options->tail_bytes_max != 0 ? walk->options->tail_bytes_max
                                                          : MIG_INSPECT_TAIL_BYTES_MAX;
  mig_membuf_init(&tail->bytes, (size_t)bytes_max);
  static const uint8_t eof_byte = MIG_SECTION_EOF;
  if (eof != NULL) (void)mig_membuf_write(&tail->bytes, &eof_byte, 1);
  bool trials = walk->options->tail_trials;
  SIM_ASSERT(!trials || walk->options->tail_more != NULL);
  struct walk_saved *saved = trials ? malloc(sizeof *saved) : NULL;
  SIM_ASSERT(!trials || saved != NULL);
  if (trials) saved->walk = *walk, saved->out = *walk->out;
  for (bool end = false; !end;) {
    if (!walk_tail_read(walk, &end)) break;
    if (trials) mig_trailer_scan_feed(&tail->scan, tail->bytes.bytes, tail->bytes.count);
    bool candidate = trials && mig_trailer_scan_complete(&tail->scan, tail->bytes.bytes,
                                                         tail->bytes.count);
    bool settled = end || walk_tail_settled(tail, eof);
    if (!settled && !candidate) continue;
    walk_tail_attempt(walk, eof);
    if (!walk_failed(walk) || settled || !walk->options->tail_more(walk->options->context)) {
      break;
    }
    json_decref(walk->vmdesc);  /* the trial's; the saved walk has none */
    free(walk->device_used);
    *walk = saved->walk;
    *walk->out = saved->out;
  }
  free(saved);
}

/* Memory input: tells the caller every MIG_INSPECT_CONSUMED_BYTES how far the walk got. */
static void walk_consumed(struct walk *walk, uint64_t offset)
{
  /* consumed_next stays UINT64_MAX unless a memory walk has consumed (walk_with). */
  SIM_ASSERT(walk->options->consumed != NULL && walk->source == NULL);
  walk->options->consumed(walk->options->context, offset);
  walk->consumed_next = offset + MIG_INSPECT_CONSUMED_BYTES;
}

static void walk_records(struct walk *walk)
{
  struct mig_record *record = &walk->record;
  for (;;) {
    walk_ram_fast(walk);
    if (walk_failed(walk) || walk->done) return;
    if (record->offset >= walk->consumed_next) walk_consumed(walk, record->offset);
    if (mig_record_next(&walk->tokenizer, record) != MIG_OK) {
      /* Where the size said the footer is, something else: the size came from the walk. */
      if (walk->full_footer_next) mig__reader_policy(walk->reader, "trailer_sizes_full_sections");
      return;
    }
    walk->full_footer_next = false;
    if (!walk_record(walk, record) || walk->done) return;
  }
}

/* A walk with its device table, or NULL with *error set. */
static struct walk *walk_create(struct mig_inspect *out, const struct mig_inspect_options *options,
                                const struct mig_inspect_visitor *visitor,
                                struct mig_error *error)
{
  static const struct mig_inspect_options no_options;
  memset(out, 0, sizeof *out);
  struct walk *walk = calloc(1, sizeof *walk);  /* the tokenizer holds ~10 KiB of names */
  out->devices = calloc(MIG_SECTIONS_MAX, sizeof *out->devices);
  if (walk == NULL || out->devices == NULL) {
    free(walk);
    memset(error, 0, sizeof *error);
    error->code = MIG_ERR_NOMEM;
    snprintf(error->path, sizeof error->path, "inspect");
    return NULL;
  }
  *walk = (struct walk){.out = out, .last_block = -1, .visitor = visitor,
                        .policy = &mig_policy_walk,
                        .options = options != NULL ? options : &no_options,
                        .consumed_next = UINT64_MAX};  /* until a memory walk reports */
  SIM_ASSERT(walk->options->block_device_count == 0 || walk->options->block_devices != NULL);
  return walk;
}

static enum mig_err walk_destroy(struct walk *walk, struct mig_error *error)
{
  *error = *mig_reader_error(walk->reader);
  json_decref(walk->vmdesc);
  free(walk->device_used);
  if (walk->tail != NULL) mig_membuf_deinit(&walk->tail->bytes);
  free(walk->tail);
  free(walk);
  return error->code;
}

enum mig_err mig_inspect_walk_with(const uint8_t *bytes, size_t count, struct mig_inspect *out,
                                   const struct mig_inspect_options *options,
                                   const struct mig_inspect_visitor *visitor,
                                   struct mig_error *error)
{
  struct walk *walk = walk_create(out, options, visitor, error);
  if (walk == NULL) return error->code;
  walk->bytes = bytes;
  walk->count = count;
  walk->tail_known = true;
  walk->reader = &walk->memory;
  if (walk->options->consumed != NULL) walk->consumed_next = 0;
  struct mig_record_options dialect;
  mig_record_options_from_policy(walk->policy, &dialect);
  mig_reader_init_memory(&walk->memory, bytes, count);
  mig_tokenizer_init(&walk->tokenizer, walk->reader, &dialect);
  if (mig_record_next(&walk->tokenizer, &walk->record) == MIG_OK &&
      walk_find_trailer(walk) == MIG_OK) {
    /* From here on the reader ends at the EOF byte: nothing can read into the trailer. */
    mig_reader_init_memory(&walk->memory, bytes, (size_t)out->eof_offset + 1);
    mig_tokenizer_init(&walk->tokenizer, walk->reader, &dialect);
    walk_records(walk);
  }
  return walk_destroy(walk, error);
}

enum mig_err mig_inspect_walk_reader(struct mig_reader *reader, struct mig_inspect *out,
                                     const struct mig_inspect_options *options,
                                     const struct mig_inspect_visitor *visitor,
                                     struct mig_error *error)
{
  struct walk *walk = walk_create(out, options, visitor, error);
  if (walk == NULL) return error->code;
  walk->tail = calloc(1, sizeof *walk->tail);
  SIM_ASSERT(walk->tail != NULL);
  walk->source = reader;
  walk->reader = reader;
  struct mig_record_options dialect;
  mig_record_options_from_policy(walk->policy, &dialect);
  mig_tokenizer_init(&walk->tokenizer, walk->reader, &dialect);
  walk_records(walk);
  return walk_destroy(walk, error);
}

enum mig_err mig_inspect_walk(const uint8_t *bytes, size_t count, struct mig_inspect *out,
                              const struct mig_inspect_visitor *visitor,
                              struct mig_error *error)
{
  return mig_inspect_walk_with(bytes, count, out, NULL, visitor, error);
}

enum mig_err mig_inspect_stream(const uint8_t *bytes, size_t count, struct mig_inspect *out,
                                struct mig_error *error)
{
  return mig_inspect_walk(bytes, count, out, NULL, error);
}

void mig_inspect_deinit(struct mig_inspect *inspect)
{
  free(inspect->devices);
  inspect->devices = NULL;
}
