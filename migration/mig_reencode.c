/*
 * mig_reencode.c: the stream writer behind `migsim reencode` (overview in
 * mig_reencode.h; wire facts in spec/stream-format.md §2-§7, §10).  Each
 * visitor event is written from its parsed fields, never by copying the
 * input around it; only opaque payloads (page bytes, device state, command
 * payloads, bitmap bits, block data, the JSON trailer) are written as they
 * were read.
 */
#include "sim_base.h"

#include "mig_format.h"
#include "mig_reencode.h"

#define REENCODE_BITMAP_START 0x10u
#define REENCODE_BITMAP_COMPLETE 0x20u
#define REENCODE_BITMAP_BITS 0x40u
#define REENCODE_BITMAP_ZEROES 0x02u

void mig_reencode_init(struct mig_reencode *reencode, struct mig_writer *writer,
                       const struct mig_reencode_options *options)
{
  SIM_ASSERT(writer != NULL);
  memset(reencode, 0, sizeof *reencode);
  reencode->writer = writer;
  if (options != NULL) reencode->options = *options;
}

static void reencode_configuration(struct mig_writer *writer, const struct mig_inspect *inspect)
{
  mig_writer_be32(writer, MIG_FILE_MAGIC);
  mig_writer_be32(writer, MIG_FILE_VERSION);
  if (!inspect->has_configuration) return;
  mig_writer_u8(writer, MIG_SECTION_CONFIGURATION);
  size_t length = strlen(inspect->machine);
  mig_writer_be32(writer, (uint32_t)length);
  mig_writer_bytes(writer, inspect->machine, length);
  for (uint32_t i = 0; i < inspect->config_subsection_count; i++) {
    const struct mig_inspect_config_subsection *entry = &inspect->config_subsections[i];
    mig_writer_u8(writer, MIG_SECTION_SUBSECTION);
    mig_writer_counted_string(writer, entry->name);
    mig_writer_be32(writer, entry->version);
    if (strcmp(entry->name, "configuration/capabilities") == 0) {
      mig_writer_be32(writer, inspect->capability_count);
      for (uint32_t c = 0; c < inspect->capability_count; c++) {
        mig_writer_counted_string(writer, inspect->capabilities[c]);
      }
    } else if (strcmp(entry->name, "configuration/uuid") == 0) {
      mig_writer_bytes(writer, inspect->uuid, sizeof inspect->uuid);
    } else {
      SIM_ASSERT(strcmp(entry->name, "configuration/target-page-bits") == 0);
      mig_writer_be32(writer, inspect->target_page_bits);
    }
  }
}

static void reencode_section_header(struct mig_writer *writer, uint8_t type,
                                    const struct mig_inspect_event *event)
{
  mig_writer_u8(writer, type);
  mig_writer_be32(writer, event->section_id);
  if (type != MIG_SECTION_START && type != MIG_SECTION_FULL) return;
  mig_writer_counted_string(writer, event->idstr);
  mig_writer_be32(writer, event->instance_id);
  mig_writer_be32(writer, event->version);
}

static void reencode_section_start(struct mig_reencode *reencode,
                                   const struct mig_inspect_event *event)
{
  bool ram = strcmp(event->idstr, MIG_RAM_IDSTR) == 0;
  uint8_t type = event->section_type;
  reencode->in_ram = ram && (type == MIG_SECTION_PART || type == MIG_SECTION_END);
  reencode->ram_section_id = event->section_id;
  reencode->section_records = 0;
  reencode->end_as_part = reencode->options.rechunk_records > 0 && reencode->in_ram &&
                          type == MIG_SECTION_END;
  if (reencode->end_as_part) {
    type = MIG_SECTION_PART;
    reencode->sections_added++;
  }
  reencode_section_header(reencode->writer, type, event);
}

/* Closes the current RAM section (EOS, footer) and opens a PART with the same id. */
static void reencode_split(struct mig_reencode *reencode, const struct mig_inspect *inspect)
{
  struct mig_writer *writer = reencode->writer;
  mig_writer_be64(writer, MIG_RAM_FLAG_EOS);
  if (inspect->footers_seen) {
    mig_writer_u8(writer, MIG_SECTION_FOOTER);
    mig_writer_be32(writer, reencode->ram_section_id);
  }
  mig_writer_u8(writer, MIG_SECTION_PART);
  mig_writer_be32(writer, reencode->ram_section_id);
  reencode->section_records = 0;
  reencode->sections_added++;
}

static void reencode_ram_page(struct mig_reencode *reencode,
                              const struct mig_inspect_event *event)
{
  struct mig_writer *writer = reencode->writer;
  uint32_t limit = reencode->options.rechunk_records;
  if (limit > 0 && reencode->in_ram && reencode->section_records >= limit) {
    reencode_split(reencode, event->inspect);
  }
  reencode->section_records++;
  mig_writer_be64(writer, event->word);
  if (event->ram_named) {
    mig_writer_counted_string(writer, event->inspect->blocks[event->block_index].name);
  }
  if (event->ram_kind == MIG_RAM_FLAG_ZERO) {
    mig_writer_u8(writer, event->fill);
    return;
  }
  if (event->ram_kind == MIG_RAM_FLAG_XBZRLE) {
    mig_writer_u8(writer, event->encoding);
    mig_writer_be16(writer, (uint16_t)event->payload_bytes);
  } else if (event->ram_kind == MIG_RAM_FLAG_COMPRESS_PAGE) {
    mig_writer_be32(writer, (uint32_t)event->payload_bytes);
  } else {
    SIM_ASSERT(event->payload_bytes == MIG_PAGE_BYTES);
  }
  mig_writer_bytes(writer, event->payload, (size_t)event->payload_bytes);
}

static void reencode_ram_blocks(struct mig_writer *writer, const struct mig_inspect_event *event)
{
  const struct mig_inspect *inspect = event->inspect;
  mig_writer_be64(writer, event->word);
  for (uint32_t b = event->block_first; b < event->block_first + event->block_count; b++) {
    mig_writer_counted_string(writer, inspect->blocks[b].name);
    mig_writer_be64(writer, inspect->blocks[b].used_bytes);
    if (inspect->x_ignore_shared) mig_writer_be64(writer, inspect->blocks[b].gpa);
  }
}

static void reencode_bitmap_chunk(struct mig_writer *writer, const struct mig_inspect_event *event)
{
  uint32_t flags = event->bitmap_flags;
  if (event->bitmap_flags_bytes == 1) {
    mig_writer_u8(writer, (uint8_t)flags);
  } else if (event->bitmap_flags_bytes == 2) {
    mig_writer_be16(writer, (uint16_t)flags);
  } else {
    SIM_ASSERT(event->bitmap_flags_bytes == 4);
    mig_writer_be32(writer, flags);
  }
  if (event->bitmap_node != NULL) mig_writer_counted_string(writer, event->bitmap_node);
  if (event->bitmap_name != NULL) mig_writer_counted_string(writer, event->bitmap_name);
  if (flags & REENCODE_BITMAP_START) {
    mig_writer_be32(writer, event->granularity);
    mig_writer_u8(writer, event->bitmap_start_flags);
  } else if ((flags & REENCODE_BITMAP_COMPLETE) == 0 && (flags & REENCODE_BITMAP_BITS) != 0) {
    mig_writer_be64(writer, event->start_sector);
    mig_writer_be32(writer, event->sectors);
    if ((flags & REENCODE_BITMAP_ZEROES) == 0) {
      mig_writer_be64(writer, event->payload_bytes);
      mig_writer_bytes(writer, event->payload, (size_t)event->payload_bytes);
    }
  }
}

/* A "block" record: be64 word, then for DEVICE_BLOCK the counted name and any data. */
static void reencode_block_record(struct mig_writer *writer, const struct mig_inspect_event *event)
{
  mig_writer_be64(writer, event->word);
  if ((event->block_flags & MIG_BLOCK_FLAG_DEVICE_BLOCK) == 0) return;
  SIM_ASSERT(event->block_device < event->inspect->block_device_count);
  mig_writer_counted_string(writer, event->inspect->block_devices[event->block_device].name);
  mig_writer_bytes(writer, event->payload, (size_t)event->payload_bytes);
}

static void reencode_section_end(struct mig_reencode *reencode,
                                 const struct mig_inspect_event *event)
{
  struct mig_writer *writer = reencode->writer;
  if (event->footer) {
    mig_writer_u8(writer, MIG_SECTION_FOOTER);
    mig_writer_be32(writer, event->section_id);
  }
  if (reencode->end_as_part) {
    /* The END's records went out as PARTs: the END itself now carries only EOS. */
    mig_writer_u8(writer, MIG_SECTION_END);
    mig_writer_be32(writer, event->section_id);
    mig_writer_be64(writer, MIG_RAM_FLAG_EOS);
    if (event->footer) {
      mig_writer_u8(writer, MIG_SECTION_FOOTER);
      mig_writer_be32(writer, event->section_id);
    }
  }
  reencode->in_ram = false;
  reencode->end_as_part = false;
}

static void reencode_eof(struct mig_writer *writer, const struct mig_inspect_event *event)
{
  mig_writer_u8(writer, MIG_SECTION_EOF);
  if (!event->inspect->has_trailer) return;
  SIM_ASSERT(event->payload_bytes <= MIG_VMDESC_BYTES_MAX);
  mig_writer_u8(writer, MIG_SECTION_VMDESCRIPTION);
  mig_writer_be32(writer, (uint32_t)event->payload_bytes);
  mig_writer_bytes(writer, event->payload, (size_t)event->payload_bytes);
}

enum mig_err mig_reencode_visit(void *context, const struct mig_inspect_event *event,
                                struct mig_error *error)
{
  struct mig_reencode *reencode = context;
  struct mig_writer *writer = reencode->writer;
  switch (event->kind) {
  case MIG_INSPECT_CONFIGURATION: reencode_configuration(writer, event->inspect); break;
  case MIG_INSPECT_SECTION_START: reencode_section_start(reencode, event); break;
  case MIG_INSPECT_SECTION_END: reencode_section_end(reencode, event); break;
  case MIG_INSPECT_RAM_BLOCKS: reencode_ram_blocks(writer, event); break;
  case MIG_INSPECT_RAM_PAGE: reencode_ram_page(reencode, event); break;
  case MIG_INSPECT_RAM_ZERO_RUN:  /* only with visitor.zero_runs: the run's bytes as read */
    mig_writer_bytes(writer, event->payload, (size_t)event->payload_bytes);
    break;
  case MIG_INSPECT_RAM_EOS: mig_writer_be64(writer, event->word); break;
  case MIG_INSPECT_BITMAP_CHUNK: reencode_bitmap_chunk(writer, event); break;
  case MIG_INSPECT_BLOCK_RECORD: reencode_block_record(writer, event); break;
  case MIG_INSPECT_DEVICE:
    mig_writer_bytes(writer, event->payload, (size_t)event->payload_bytes);
    break;
  case MIG_INSPECT_COMMAND:
    mig_writer_u8(writer, MIG_SECTION_COMMAND);
    mig_writer_be16(writer, event->command);
    mig_writer_be16(writer, (uint16_t)event->payload_bytes);
    mig_writer_bytes(writer, event->payload, (size_t)event->payload_bytes);
    break;
  case MIG_INSPECT_EOF: reencode_eof(writer, event); break;
  }
  enum mig_err code = mig_writer_error(writer);
  if (code != MIG_OK) {
    snprintf(error->path, sizeof error->path, "reencode/output");
    snprintf(error->detail, sizeof error->detail, "writer: %s", mig_err_name(code));
  }
  return code;
}
