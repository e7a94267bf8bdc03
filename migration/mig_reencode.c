/*
 * mig_reencode.c: the stream writer behind `migsim reencode` (overview in
 * mig_reencode.h; wire facts in spec/stream-format.md §2-§7, §10).  Each
 * visitor event's record is written back by the record layer
 * (mig_record_write) from its parsed fields, never by copying the input
 * around it; only opaque payloads (page bytes, device state, command
 * payloads, bitmap bits, block data, vfio data, the JSON trailer) are written
 * as they were read.
 */
#include "sim_base.h"

#include "mig_record.h"
#include "mig_reencode.h"

void mig_reencode_init(struct mig_reencode *reencode, struct mig_writer *writer,
                       const struct mig_reencode_options *options)
{
  SIM_ASSERT(writer != NULL);
  memset(reencode, 0, sizeof *reencode);
  reencode->writer = writer;
  if (options != NULL) reencode->options = *options;
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
  if (!reencode->end_as_part) {
    mig_record_write(reencode->writer, event->record);
    return;
  }
  struct mig_record part = *event->record;
  part.section.type = MIG_SECTION_PART;
  reencode->sections_added++;
  mig_record_write(reencode->writer, &part);
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
  uint32_t limit = reencode->options.rechunk_records;
  if (limit > 0 && reencode->in_ram && reencode->section_records >= limit) {
    reencode_split(reencode, event->inspect);
  }
  reencode->section_records++;
  mig_record_write(reencode->writer, event->record);
}

static void reencode_section_end(struct mig_reencode *reencode,
                                 const struct mig_inspect_event *event)
{
  struct mig_writer *writer = reencode->writer;
  mig_record_write(writer, event->record);
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
  mig_record_write(writer, event->record);
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
  case MIG_INSPECT_CONFIGURATION: break;  /* its records came as PREAMBLE events */
  case MIG_INSPECT_SECTION_START: reencode_section_start(reencode, event); break;
  case MIG_INSPECT_SECTION_END: reencode_section_end(reencode, event); break;
  case MIG_INSPECT_RAM_PAGE: reencode_ram_page(reencode, event); break;
  case MIG_INSPECT_EOF: reencode_eof(writer, event); break;
  case MIG_INSPECT_PREAMBLE:      /* header, configuration, its subsections */
  case MIG_INSPECT_RAM_BLOCKS:    /* the MEM_SIZE word, then each entry */
  case MIG_INSPECT_RAM_ZERO_RUN:  /* only with visitor.zero_runs: the run's bytes as read */
  case MIG_INSPECT_RAM_EOS:
  case MIG_INSPECT_BITMAP_CHUNK:
  case MIG_INSPECT_BLOCK_RECORD:
  case MIG_INSPECT_VFIO_RECORD:
  case MIG_INSPECT_DEVICE:
  case MIG_INSPECT_COMMAND:
    mig_record_write(writer, event->record);
    break;
  }
  enum mig_err code = mig_writer_error(writer);
  if (code != MIG_OK) {
    snprintf(error->path, sizeof error->path, "reencode/output");
    snprintf(error->detail, sizeof error->detail, "writer: %s", mig_err_name(code));
  }
  return code;
}
