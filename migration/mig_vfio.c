/*
 * mig_vfio.c: a device's data in iterative sections, through its
 * dev_live_ops (overview and wire layout in mig_vfio.h; docs/vfiodev.md has
 * the byte tables), and the mig_live.h handler built on it.
 *
 * The source walks the device's dirty bitmap with a cursor, one pass after
 * another; the first pass after setup carries the initial data, and with
 * switchover-ack the PART section that finishes it ends with INIT_DATA_SENT
 * instead of END_OF_STATE (QEMU 8.1 vfio_save_iterate).  The destination
 * validates every flag, size, page index and page byte before it touches
 * the device.  The config (DEV_CONFIG_STATE) goes in the handler's FULL
 * section at stop-copy; its errors name `<bdf>/vfio/config/...` and the byte.
 */
#include "sim_base.h"

#include "mig_save.h"
#include "mig_vfio.h"
#include "mig_vmstate.h"

void mig_vfio_source_init(struct mig_vfio_source *source, const struct dev_live *live,
                          uint32_t section_id, bool switchover_ack)
{
  SIM_ASSERT(live->ops != NULL && live->dev != NULL);
  SIM_ASSERT(strlen(live->path) + strlen(MIG_VFIO_IDSTR_SUFFIX) < sizeof(source->idstr));
  memset(source, 0, sizeof(*source));
  source->ops = live->ops;
  source->dev = live->dev;
  source->section_id = section_id;
  snprintf(source->idstr, sizeof(source->idstr), "%s%s", live->path, MIG_VFIO_IDSTR_SUFFIX);
  source->switchover_ack = switchover_ack && live->ops->wants_ack(live->dev);
  live->ops->config_stream_set(live->dev);
}

void mig_vfio_save_setup(struct mig_vfio_source *source, struct mig_writer *writer)
{
  source->ops->log_start(source->dev);
  mig_save_section_header(writer, MIG_SECTION_START, source->section_id, source->idstr, 0,
                          MIG_VFIO_SECTION_VERSION);
  mig_writer_be64(writer, MIG_VFIO_FLAG_DEV_SETUP_STATE);
  mig_writer_be64(writer, MIG_VFIO_FLAG_END_OF_STATE);
  mig_save_footer(writer, source->section_id);
}

/* One record of a DEV_DATA_STATE block: be32 page, be32 generation, the page. */
static void save_record(struct mig_vfio_source *source, struct mig_writer *writer, uint64_t page,
                        uint32_t generation)
{
  source->ops->page_fill(source->dev, page, generation, source->scratch);
  mig_writer_be32(writer, (uint32_t)page);
  mig_writer_be32(writer, generation);
  mig_writer_bytes(writer, source->scratch, MIG_PAGE_BYTES);
}

/* DEV_DATA_STATE blocks of up to pages_max dirty pages in total. */
static void save_data(struct mig_vfio_source *source, struct mig_writer *writer,
                      uint64_t pages_max)
{
  uint64_t left = pages_max;
  const struct dev_live_ops *ops = source->ops;
  while (left > 0 && ops->dirty_count(source->dev) > 0) {
    uint64_t records = SIM_MIN(SIM_MIN(left, ops->dirty_count(source->dev)),
                               (uint64_t)MIG_VFIO_BLOCK_RECORDS_MAX);
    mig_writer_be64(writer, MIG_VFIO_FLAG_DEV_DATA_STATE);
    mig_writer_be64(writer, records * MIG_VFIO_RECORD_BYTES);
    for (uint64_t i = 0; i < records; i++) {
      uint64_t before = source->cursor;
      uint64_t page;
      uint32_t generation;
      bool taken = ops->dirty_take(source->dev, &source->cursor, &page, &generation);
      SIM_ASSERT(taken);
      /* Wrapping to the front ends the pass that carried the initial data. */
      if (page < before) source->first_pass_done = true;
      save_record(source, writer, page, generation);
    }
    source->sent_pages_count += records;
    source->sent_bytes += records * MIG_VFIO_RECORD_BYTES;
    left -= records;
  }
  if (ops->dirty_count(source->dev) == 0 || source->cursor >= ops->page_count(source->dev)) {
    source->first_pass_done = true;
  }
}

void mig_vfio_save_iterate(struct mig_vfio_source *source, struct mig_writer *writer,
                           uint64_t pages_max)
{
  SIM_ASSERT(pages_max > 0);
  mig_save_section_short_header(writer, MIG_SECTION_PART, source->section_id);
  save_data(source, writer, pages_max);
  if (source->switchover_ack && source->first_pass_done && !source->init_data_sent) {
    mig_writer_be64(writer, MIG_VFIO_FLAG_DEV_INIT_DATA_SENT);
    source->init_data_sent = true;
  } else {
    mig_writer_be64(writer, MIG_VFIO_FLAG_END_OF_STATE);
  }
  mig_save_footer(writer, source->section_id);
}

/* The state only the stopped device gives: pages 0.. again, at their current generation. */
static uint64_t stop_copy_pages(const struct mig_vfio_source *source)
{
  return source->ops->stop_copy_pages != NULL ? source->ops->stop_copy_pages(source->dev) : 0;
}

static void save_stop_copy(struct mig_vfio_source *source, struct mig_writer *writer)
{
  const struct dev_live_ops *ops = source->ops;
  uint64_t total = stop_copy_pages(source);
  for (uint64_t page = 0; page < total;) {
    uint64_t records = SIM_MIN(total - page, (uint64_t)MIG_VFIO_BLOCK_RECORDS_MAX);
    mig_writer_be64(writer, MIG_VFIO_FLAG_DEV_DATA_STATE);
    mig_writer_be64(writer, records * MIG_VFIO_RECORD_BYTES);
    for (uint64_t i = 0; i < records; i++, page++) {
      uint32_t generation = ops->page_generation(source->dev, page);
      save_record(source, writer, page, generation);
    }
    source->sent_pages_count += records;
    source->sent_bytes += records * MIG_VFIO_RECORD_BYTES;
  }
}

void mig_vfio_save_complete(struct mig_vfio_source *source, struct mig_writer *writer)
{
  mig_save_section_short_header(writer, MIG_SECTION_END, source->section_id);
  save_data(source, writer, UINT64_MAX);
  SIM_ASSERT(source->ops->dirty_count(source->dev) == 0);
  save_stop_copy(source, writer);
  mig_writer_be64(writer, MIG_VFIO_FLAG_END_OF_STATE);
  mig_save_footer(writer, source->section_id);
}

void mig_vfio_save_state(struct mig_vfio_source *source, struct mig_writer *writer,
                         json_t *devices_json)
{
  mig_save_section_header(writer, MIG_SECTION_FULL, source->section_id, source->idstr, 0,
                          MIG_VFIO_SECTION_VERSION);
  uint64_t start = mig_writer_offset(writer);
  mig_writer_be64(writer, MIG_VFIO_FLAG_DEV_CONFIG_STATE);
  enum mig_err err = mig_vmstate_save(writer, source->ops->config_vmstate, source->dev, NULL);
  SIM_ASSERT(err == MIG_OK || mig_writer_error(writer) != MIG_OK); /* the table has no hooks */
  mig_writer_be64(writer, MIG_VFIO_FLAG_END_OF_STATE);
  uint64_t size = mig_writer_offset(writer) - start;
  mig_save_footer(writer, source->section_id);
  if (devices_json == NULL) return;
  /* QEMU 7.2 vmstate_save_old_style: the payload is one opaque buffer. */
  json_t *field = json_pack("{s:s, s:I, s:s}", "name", "data", "size", (json_int_t)size,
                            "type", "buffer");
  json_t *entry = json_pack("{s:s, s:i, s:I, s:[o]}", "name", source->idstr, "instance_id", 0,
                            "size", (json_int_t)size, "fields", field);
  SIM_ASSERT(entry != NULL);
  json_array_append_new(devices_json, entry);
}

/* QEMU's vfio_state_pending: what precopy still owes plus the stop-copy size. */
uint64_t mig_vfio_pending_bytes(const struct mig_vfio_source *source)
{
  return (source->ops->dirty_count(source->dev) + stop_copy_pages(source)) *
         MIG_VFIO_RECORD_BYTES;
}

void mig_vfio_dest_init(struct mig_vfio_dest *dest, const struct dev_live *live,
                        bool switchover_ack, const struct mig_live_hooks *hooks)
{
  SIM_ASSERT(live->ops != NULL && live->dev != NULL);
  SIM_ASSERT(strlen(live->path) + strlen(MIG_VFIO_IDSTR_SUFFIX) < sizeof(dest->idstr));
  memset(dest, 0, sizeof(*dest));
  dest->ops = live->ops;
  dest->dev = live->dev;
  snprintf(dest->idstr, sizeof(dest->idstr), "%s%s", live->path, MIG_VFIO_IDSTR_SUFFIX);
  dest->switchover_ack = switchover_ack;
  if (hooks != NULL) dest->hooks = *hooks;
  live->ops->config_stream_set(live->dev);
}

/* One record: page index and generation in range, bytes as the device makes them. */
static enum mig_err load_record(struct mig_vfio_dest *dest, struct mig_reader *reader)
{
  uint64_t offset = mig_reader_offset(reader);
  uint32_t page = mig_read_be32(reader);
  uint32_t generation = mig_read_be32(reader);
  mig_read_bytes(reader, dest->scratch, MIG_PAGE_BYTES);
  mig__reader_annotate(reader, "%s/data/page", dest->idstr);
  if (mig_reader_failed(reader)) return mig_reader_error(reader)->code;
  uint64_t page_count = dest->ops->page_count(dest->dev);
  if (page >= page_count || generation == 0) {
    char detail[80];
    snprintf(detail, sizeof(detail), "page %" PRIu32 " generation %" PRIu32 " (pages %" PRIu64
             ")", page, generation, page_count);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, offset, detail, "%s/data/page", dest->idstr);
    return MIG_ERR_BAD_VALUE;
  }
  uint8_t expected[MIG_PAGE_BYTES];
  dest->ops->page_fill(dest->dev, page, generation, expected);
  if (memcmp(expected, dest->scratch, MIG_PAGE_BYTES) != 0) {
    char detail[64];
    snprintf(detail, sizeof(detail), "page %" PRIu32 " bytes differ from its content", page);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, offset + 8, detail, "%s/data/bytes",
                    dest->idstr);
    return MIG_ERR_BAD_VALUE;
  }
  dest->ops->page_set(dest->dev, page, generation);
  dest->loaded_pages_count++;
  return MIG_OK;
}

/* A DEV_DATA_STATE block: whole records, 1..MIG_VFIO_BLOCK_RECORDS_MAX of them. */
static enum mig_err load_data(struct mig_vfio_dest *dest, struct mig_reader *reader,
                              const struct mig_record *record)
{
  uint64_t size = record->payload_bytes;
  if (size == 0 || size % MIG_VFIO_RECORD_BYTES != 0 ||
      size / MIG_VFIO_RECORD_BYTES > MIG_VFIO_BLOCK_RECORDS_MAX) {
    char detail[64];
    snprintf(detail, sizeof(detail), "size %" PRIu64 " (records of %u, at most %u)", size,
             MIG_VFIO_RECORD_BYTES, MIG_VFIO_BLOCK_RECORDS_MAX);
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, record->offset + 8, detail, "%s/data/size",
                    dest->idstr);
    return MIG_ERR_TOO_LONG;
  }
  struct mig_reader scratch;
  struct mig_reader *data = mig_record_payload_open(reader, record, &scratch);
  enum mig_err err = MIG_OK;
  for (uint64_t i = 0; i < size / MIG_VFIO_RECORD_BYTES && err == MIG_OK; i++) {
    err = load_record(dest, data);
  }
  mig_record_payload_close(reader, data);
  if (err != MIG_OK) return err;
  dest->loaded_bytes += size;
  if (dest->hooks.data_loaded != NULL) {
    dest->hooks.data_loaded(dest->hooks.context, dest->load_index, size,
                            dest->ops->load_bytes_per_s(dest->dev));
  }
  return MIG_OK;
}

/* INIT_DATA_SENT: only in a PART section, once, and only with switchover-ack on here. */
static enum mig_err load_init_data(struct mig_vfio_dest *dest, struct mig_reader *reader,
                                   uint8_t type, uint64_t offset)
{
  const char *why = NULL;
  if (!dest->switchover_ack) why = "received INIT_DATA_SENT but switchover-ack is off";
  else if (type != MIG_SECTION_PART) why = "INIT_DATA_SENT outside a PART section";
  else if (dest->init_data_received) why = "INIT_DATA_SENT twice";
  if (why != NULL) {
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, offset, why, "%s/init-data-sent", dest->idstr);
    return MIG_ERR_BAD_VALUE;
  }
  dest->init_data_received = true;
  if (dest->hooks.init_data != NULL) dest->hooks.init_data(dest->hooks.context, dest->load_index);
  return MIG_OK;
}

/*
 * The vmstate loader names errors "vfiodev-config/pci/..."; the section's
 * reader says which device: "<bdf>/vfio/config/pci/...".  A read-only byte
 * that differs (pci's post_load refused) is named with its own offset.
 */
static void config_error_place(struct mig_vfio_dest *dest, struct mig_reader *reader,
                               uint64_t config_offset)
{
  struct mig_error *error = &reader->error;
  uint32_t index = 0;
  uint8_t value = 0, local = 0;
  if (error->code == MIG_ERR_HOOK &&
      dest->ops->config_ro_mismatch(dest->dev, &index, &value, &local)) {
    /* pci_function_vmstate: be16 vendor, be16 device, then the 256 config bytes. */
    error->offset = config_offset + 4 + index;
    error->code = MIG_ERR_BAD_VALUE;
    snprintf(error->detail, sizeof(error->detail),
             "read-only config byte 0x%02" PRIx32 " is 0x%02x, here 0x%02x (bad config data)",
             index, value, local);
    snprintf(error->path, sizeof(error->path), "%.64s/config/pci/config", dest->idstr);
    return;
  }
  const char *name = dest->ops->config_vmstate->name;
  size_t name_bytes = strlen(name);
  const char *rest = strncmp(error->path, name, name_bytes) == 0 ? error->path + name_bytes : "";
  char placed[sizeof(error->path)];
  snprintf(placed, sizeof(placed), "%.64s/config%.100s", dest->idstr, rest);
  memcpy(error->path, placed, sizeof(error->path));
}

/* FULL: DEV_CONFIG_STATE, the config, END_OF_STATE, and nothing else (vfio_load_state). */
static enum mig_err load_config(struct mig_vfio_dest *dest, struct mig_reader *reader)
{
  uint64_t offset = mig_reader_offset(reader);
  uint64_t flag = mig_read_be64(reader);
  if (mig_reader_failed(reader)) {
    mig__reader_annotate(reader, "%s/config/flag", dest->idstr);
    return mig_reader_error(reader)->code;
  }
  const char *why = NULL;
  if (flag != MIG_VFIO_FLAG_DEV_CONFIG_STATE) {
    why = "a FULL section must start with DEV_CONFIG_STATE";
  } else if (dest->config_received) {
    why = "DEV_CONFIG_STATE twice";
  }
  if (why != NULL) {
    char detail[96];
    snprintf(detail, sizeof(detail), "flag 0x%016" PRIx64 ": %s", flag, why);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, offset, detail, "%s/config/flag", dest->idstr);
    return MIG_ERR_BAD_VALUE;
  }
  uint64_t config_offset = mig_reader_offset(reader);
  const struct vmstate_desc *config = dest->ops->config_vmstate;
  enum mig_err err = mig_vmstate_load(reader, config, dest->dev, config->version_id);
  if (err != MIG_OK) {
    config_error_place(dest, reader, config_offset);
    return mig_reader_error(reader)->code;
  }
  uint64_t end_offset = mig_reader_offset(reader);
  uint64_t end = mig_read_be64(reader);
  if (mig_reader_failed(reader)) {
    mig__reader_annotate(reader, "%s/config/end", dest->idstr);
    return mig_reader_error(reader)->code;
  }
  if (end != MIG_VFIO_FLAG_END_OF_STATE) {
    char detail[80];
    snprintf(detail, sizeof(detail), "end flag incorrect 0x%016" PRIx64, end);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, end_offset, detail, "%s/config/end", dest->idstr);
    return MIG_ERR_BAD_VALUE;
  }
  dest->config_received = true;
  dest->ops->config_loaded(dest->dev);
  return MIG_OK;
}

/* One flag of a START/PART/END payload (spec: mig_vfio.h; QEMU's vfio_load_state). */
static enum mig_err load_flag(struct mig_vfio_dest *dest, struct mig_reader *reader,
                              const struct mig_record *record)
{
  uint64_t flag = record->vfio_flag;
  uint8_t type = dest->section_type;
  bool first = dest->section_records_count++ == 0;
  if (flag == MIG_VFIO_FLAG_END_OF_STATE) return MIG_OK;
  if (flag == MIG_VFIO_FLAG_DEV_SETUP_STATE && type == MIG_SECTION_START && first) return MIG_OK;
  if (flag == MIG_VFIO_FLAG_DEV_DATA_STATE && type != MIG_SECTION_START) {
    return load_data(dest, reader, record);
  }
  if (flag == MIG_VFIO_FLAG_DEV_INIT_DATA_SENT) {
    return load_init_data(dest, reader, type, record->offset);
  }
  char detail[64];
  snprintf(detail, sizeof(detail), "unexpected flag 0x%016" PRIx64 " in a %s section", flag,
           mig_wire_section_name(type));
  MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, record->offset, detail, "%s/flag", dest->idstr);
  return MIG_ERR_BAD_VALUE;
}

enum mig_err mig_vfio_load_record(struct mig_vfio_dest *dest, struct mig_reader *reader,
                                  const struct mig_record *record)
{
  if (record->kind == MIG_RECORD_VFIO) return load_flag(dest, reader, record);
  SIM_ASSERT(record->kind == MIG_RECORD_SECTION);
  uint8_t type = record->section.type;
  SIM_ASSERT(type >= MIG_SECTION_START && type <= MIG_SECTION_FULL);
  dest->section_type = type;
  dest->section_records_count = 0;
  if (type == MIG_SECTION_FULL) return load_config(dest, reader);
  return MIG_OK;
}

enum mig_err mig_vfio_load(struct mig_vfio_dest *dest, struct mig_reader *reader, uint8_t type)
{
  SIM_ASSERT(type == MIG_SECTION_START || type == MIG_SECTION_PART || type == MIG_SECTION_END ||
             type == MIG_SECTION_FULL);
  dest->section_type = type;
  dest->section_records_count = 0;
  if (type == MIG_SECTION_FULL) return load_config(dest, reader);
  struct mig_tokenizer tokenizer;
  mig_tokenizer_init_payload(&tokenizer, reader, NULL, type, dest->idstr);
  /* Each record consumes at least its 8-byte flag, so the stream bounds the loop. */
  for (;;) {
    struct mig_record record;
    enum mig_err err = mig_record_next(&tokenizer, &record);
    if (err == MIG_OK) err = load_flag(dest, reader, &record);
    if (err != MIG_OK) return err;
    if (record.vfio_flag == MIG_VFIO_FLAG_END_OF_STATE ||
        record.vfio_flag == MIG_VFIO_FLAG_DEV_INIT_DATA_SENT) {
      return MIG_OK;
    }
  }
}

/* ------------------------------------------------- the mig_live.h handler */

static void live_save_setup(void *source, struct mig_writer *writer)
{
  mig_vfio_save_setup(source, writer);
}

static uint64_t live_save_pending(const void *source) { return mig_vfio_pending_bytes(source); }

static void live_save_iterate(void *source, struct mig_writer *writer, uint64_t pages_max)
{
  mig_vfio_save_iterate(source, writer, pages_max);
}

static void live_save_complete(void *source, struct mig_writer *writer)
{
  mig_vfio_save_complete(source, writer);
}

static void live_save_state(void *source, struct mig_writer *writer, json_t *devices_json)
{
  mig_vfio_save_state(source, writer, devices_json);
}

static bool live_save_wants_ack(const void *opaque)
{
  const struct mig_vfio_source *source = opaque;
  return source->switchover_ack;
}

/* The destination device approves only if it would ask (the ignore-ack quirk does not). */
static bool live_load_wants_ack(const void *opaque)
{
  const struct mig_vfio_dest *dest = opaque;
  return dest->switchover_ack && dest->ops->wants_ack(dest->dev);
}

static uint64_t live_load_resume_ns(const void *opaque)
{
  const struct mig_vfio_dest *dest = opaque;
  return dest->ops->resume_ns != NULL ? dest->ops->resume_ns(dest->dev) : 0;
}

static uint64_t live_save_sent_bytes(const void *opaque)
{
  const struct mig_vfio_source *source = opaque;
  return source->sent_bytes;
}

static enum mig_err live_load(void *dest, struct mig_reader *reader,
                              const struct mig_record *record)
{
  return mig_vfio_load_record(dest, reader, record);
}

/* The error names the handler, "<bdf>/vfio", as the stream would. */
static bool live_cpr_check(const void *opaque, struct mig_error *error)
{
  const struct mig_vfio_source *source = opaque;
  char why[sizeof(error->detail)];
  if (source->ops->cpr_check(source->dev, why, sizeof(why))) return true;
  *error = (struct mig_error){.code = MIG_ERR_HOOK};
  snprintf(error->path, sizeof(error->path), "%.64s", source->idstr);
  snprintf(error->detail, sizeof(error->detail), "%s", why);
  return false;
}

static void live_cpr_hand_over(void *opaque_dest, const void *opaque_source)
{
  struct mig_vfio_dest *dest = opaque_dest;
  const struct mig_vfio_source *source = opaque_source;
  SIM_ASSERT(dest->ops == source->ops);
  dest->ops->cpr_adopt(dest->dev, source->dev);
}

/*
 * The migration ended: dirty logging stops (QEMU's vfio_save_cleanup), so
 * that a later migration of the same source (a retry after a failure) can
 * start it again.  The handler states live in the migration's arena.
 */
static void live_save_cleanup(void *opaque)
{
  struct mig_vfio_source *source = opaque;
  if (source->ops->log_stop != NULL) source->ops->log_stop(source->dev);
}

static const struct mig_live_ops mig_vfio_live_ops = {
    .save_cleanup = live_save_cleanup,
    .save_setup = live_save_setup,
    .save_pending = live_save_pending,
    .save_iterate = live_save_iterate,
    .save_complete = live_save_complete,
    .save_state = live_save_state,
    .save_wants_ack = live_save_wants_ack,
    .save_sent_bytes = live_save_sent_bytes,
    .load_wants_ack = live_load_wants_ack,
    .load_resume_ns = live_load_resume_ns,
    .load = live_load,
    .cpr_check = live_cpr_check,
    .cpr_hand_over = live_cpr_hand_over,
};

void mig_vfio_live_create(struct sim *sim, const struct dev_live *source_live,
                          const struct dev_live *dest_live, uint32_t section_id,
                          uint32_t load_index, bool switchover_ack,
                          const struct mig_live_hooks *hooks,
                          struct mig_live_handler *handler, struct mig_load_live *load)
{
  SIM_ASSERT(source_live != NULL || dest_live != NULL);
  SIM_ASSERT((dest_live == NULL) == (load == NULL));
  struct mig_vfio_source *source = NULL;
  struct mig_vfio_dest *dest = NULL;
  if (source_live != NULL) {
    source = sim_alloc(sim, sizeof(*source));
    mig_vfio_source_init(source, source_live, section_id, switchover_ack);
  }
  if (dest_live != NULL) {
    dest = sim_alloc(sim, sizeof(*dest));
    mig_vfio_dest_init(dest, dest_live, switchover_ack, hooks);
    dest->load_index = load_index;
    *load = (struct mig_load_live){.idstr = dest->idstr,
                                   .version_id = MIG_VFIO_SECTION_VERSION,
                                   .context = dest, .load = live_load};
  }
  *handler = (struct mig_live_handler){&mig_vfio_live_ops, source, dest};
}
