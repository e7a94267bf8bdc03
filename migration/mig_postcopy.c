/*
 * mig_postcopy.c: postcopy RAM migration, source and destination (overview
 * in mig_postcopy.h; wire facts in spec/stream-format.md §4.6, §6.9, §7, §8).
 *
 * The source continues precopy's migration bitmaps (mig_ram_int.h): a set bit
 * is a page still to send, so at the switch the bitmap after the last sync is
 * exactly "unsent or re-dirtied", the set QEMU discards.  Page requests wait
 * in a ring and are served before each host page the scan would send next.
 * The destination keeps its received bitmap as the userfaultfd's missing
 * bitmap (models/uffd.h), which faults and wakes already need.
 */
#include "sim_base.h"

#include "mig_postcopy.h"
#include "mig_ram_int.h"
#include "mig_rp.h"
#include "mig_save.h"
#include "mig_wire.h"

#define PING_DISCARDED 2u        /* QEMU's postcopy milestones (spec §4.6) */
#define PING_PACKAGE_LOADED 3u
#define PING_PACKAGE_SENT 4u
#define DISCARD_HEADER_BYTES 3u  /* version, name length, terminator */
#define DISCARD_RANGE_BYTES 16u

static uint64_t host_pages_of(const struct ram_block *block)
{
  return SIM_MAX(block->host_page_bytes / MIG_PAGE_BYTES, 1u);
}

static void save_ping(struct mig_writer *writer, uint32_t value)
{
  mig_save_command_header(writer, MIG_CMD_PING, 4);
  mig_writer_be32(writer, value);
}

/* ---------------------------------------------------------------- source */

void mig_postcopy_source_init(struct mig_postcopy_source *source, struct sim *sim,
                              struct mig_ram_source *ram, bool preempt)
{
  memset(source, 0, sizeof(*source));
  source->sim = sim;
  source->ram = ram;
  source->preempt = preempt;
}

uint64_t mig_postcopy_pagesize_summary(struct ram_block *const *blocks, uint32_t count)
{
  uint64_t summary = 0;
  for (uint32_t i = 0; i < count; i++) {
    summary |= SIM_MAX(blocks[i]->host_page_bytes, MIG_PAGE_BYTES);
  }
  return summary;
}

void mig_postcopy_save_advise(struct mig_writer *writer, struct ram_block *const *blocks,
                              uint32_t count)
{
  mig_save_command_header(writer, MIG_CMD_POSTCOPY_ADVISE, 16);
  mig_writer_be64(writer, mig_postcopy_pagesize_summary(blocks, count));
  mig_writer_be64(writer, MIG_PAGE_BYTES);
}

/* QEMU's postcopy_chunk_hostpages: a host page with any dirty target page is dirty whole. */
static void source_chunk_host_pages(struct mig_ram_source *ram, uint32_t block_index)
{
  const struct ram_block *block = ram->blocks[block_index];
  uint64_t pages = host_pages_of(block);
  if (pages == 1) return;
  SIM_ASSERT(pages % 64 == 0 && block->page_count % pages == 0);
  uint64_t *bitmap = ram->bitmaps[block_index];
  for (uint64_t word = 0; word < block->page_count / 64; word += pages / 64) {
    bool any = false;
    for (uint64_t w = word; w < word + pages / 64; w++) any |= bitmap[w] != 0;
    if (!any) continue;
    for (uint64_t w = word; w < word + pages / 64; w++) {
      ram->dirty_pages_count += 64 - (uint64_t)__builtin_popcountll(bitmap[w]);
      bitmap[w] = UINT64_MAX;
    }
  }
}

/* One DISCARD command with count ranges of (first page, pages) of block. */
static void source_discard_command(struct mig_postcopy_source *source, struct mig_writer *writer,
                                   const struct ram_block *block, const uint64_t (*ranges)[2],
                                   uint32_t count)
{
  size_t name_bytes = strlen(block->name);
#ifdef MIG_POSTCOPY_PLANTED_BUG
  /* The planted bug (mig_postcopy_bug_test only): the last range of a command is lost. */
  if (count > 1) count--;
#endif
  mig_save_command_header(writer, MIG_CMD_POSTCOPY_RAM_DISCARD,
                 (uint16_t)(DISCARD_HEADER_BYTES + name_bytes + DISCARD_RANGE_BYTES * count));
  mig_writer_u8(writer, 0);                    /* version */
  mig_writer_counted_string(writer, block->name);
  mig_writer_u8(writer, 0);                    /* terminator */
  for (uint32_t i = 0; i < count; i++) {
    uint64_t first = ranges[i][0], pages = ranges[i][1];
    mig_writer_be64(writer, first * MIG_PAGE_BYTES);
    mig_writer_be64(writer, pages * MIG_PAGE_BYTES);
    source->stats.discard_pages_count += pages;
  }
  source->stats.discard_commands_count++;
  source->stats.discard_ranges_count += count;
}

/* The runs of set bits of one block, twelve to a command. */
static void source_discard_block(struct mig_postcopy_source *source, struct mig_writer *writer,
                                 uint32_t block_index)
{
  const struct ram_block *block = source->ram->blocks[block_index];
  const uint64_t *bitmap = source->ram->bitmaps[block_index];
  uint64_t ranges[MIG_POSTCOPY_DISCARD_RANGES_MAX][2];
  uint32_t count = 0;
  uint64_t page = 0;
  while (page < block->page_count) {
    if ((bitmap[page / 64] >> (page % 64) & 1) == 0) {
      page++;
      continue;
    }
    uint64_t first = page;
    while (page < block->page_count && (bitmap[page / 64] >> (page % 64) & 1) != 0) page++;
    ranges[count][0] = first;
    ranges[count][1] = page - first;
    if (++count == MIG_POSTCOPY_DISCARD_RANGES_MAX) {
      source_discard_command(source, writer, block, (const uint64_t (*)[2])ranges, count);
      count = 0;
    }
  }
  if (count == 0) return;
  source_discard_command(source, writer, block, (const uint64_t (*)[2])ranges, count);
}

void mig_postcopy_save_discard(struct mig_postcopy_source *source, struct mig_writer *writer)
{
  struct mig_ram_source *ram = source->ram;
  SIM_ASSERT(!ram->ignore_shared);  /* postcopy-ram and x-ignore-shared exclude each other */
  mig_ram_sync(ram);
  /* QEMU 7.2 sends postcopy pages on the main channel (!migration_in_postcopy() for multifd). */
  ram->multifd = NULL;
  for (uint32_t b = 0; b < ram->block_count; b++) {
    source_chunk_host_pages(ram, b);
    source_discard_block(source, writer, b);
  }
  save_ping(writer, PING_DISCARDED);
  sim_trace(source->sim, "mig.postcopy.discard", source->stats.discard_ranges_count,
            source->stats.discard_pages_count, ram->dirty_pages_count, 0);
}

void mig_postcopy_package_begin(struct mig_writer *package)
{
  mig_save_command_header(package, MIG_CMD_POSTCOPY_LISTEN, 0);
}

void mig_postcopy_package_end(struct mig_writer *package)
{
  save_ping(package, PING_PACKAGE_LOADED);
  mig_save_command_header(package, MIG_CMD_POSTCOPY_RUN, 0);
}

void mig_postcopy_save_packaged(struct mig_postcopy_source *source, struct mig_writer *writer,
                                const uint8_t *package, uint32_t package_bytes)
{
  mig_save_command_header(writer, MIG_CMD_PACKAGED, 4);
  mig_writer_be32(writer, package_bytes);
  mig_writer_bytes(writer, package, package_bytes);
  save_ping(writer, PING_PACKAGE_SENT);
  source->stats.package_bytes = package_bytes;
}

enum mig_err mig_postcopy_source_request(struct mig_postcopy_source *source,
                                         uint32_t block_index, uint64_t start_bytes,
                                         uint32_t length_bytes)
{
  SIM_ASSERT(block_index < source->ram->block_count);
  const struct ram_block *block = source->ram->blocks[block_index];
  SIM_ASSERT(start_bytes < block->used_bytes && length_bytes > 0);  /* mig_rp_read checked */
  SIM_ASSERT(length_bytes <= block->used_bytes - start_bytes);
  if (source->queue_count == MIG_POSTCOPY_REQUESTS_MAX) return MIG_ERR_TOO_LONG;
  uint64_t host_bytes = host_pages_of(block) * MIG_PAGE_BYTES;
  uint64_t first = start_bytes / host_bytes * host_bytes;
  uint64_t end = (start_bytes + length_bytes + host_bytes - 1) / host_bytes * host_bytes;
  uint32_t slot = (source->queue_head + source->queue_count) % MIG_POSTCOPY_REQUESTS_MAX;
  source->queue[slot] = (struct mig_postcopy_request){
      .block_index = block_index, .first_page = first / MIG_PAGE_BYTES,
      .page_count = (SIM_MIN(end, block->used_bytes) - first) / MIG_PAGE_BYTES};
  source->queue_count++;
  source->stats.requests_count++;
  sim_trace(source->sim, "mig.postcopy.request", block_index, first / MIG_PAGE_BYTES,
            source->queue_count, 0);
  return MIG_OK;
}

bool mig_postcopy_source_requests_pending(const struct mig_postcopy_source *source)
{
  return source->queue_count > 0;
}

/* Sends the dirty pages of one queued request on writer; returns pages sent. */
static uint64_t source_serve_one(struct mig_postcopy_source *source, struct mig_writer *writer,
                                 const struct ram_block **last_block)
{
  SIM_ASSERT(source->queue_count > 0);
  struct mig_postcopy_request request = source->queue[source->queue_head];
  source->queue_head = (source->queue_head + 1) % MIG_POSTCOPY_REQUESTS_MAX;
  source->queue_count--;
  struct mig_ram_source *ram = source->ram;
  const uint64_t *bitmap = ram->bitmaps[request.block_index];
  uint64_t sent = 0;
  for (uint64_t page = request.first_page; page < request.first_page + request.page_count;
       page++) {
    if ((bitmap[page / 64] >> (page % 64) & 1) == 0) continue;
    mig__ram_save_page(ram, writer, request.block_index, page, last_block);
    sent++;
  }
  if (sent == 0) source->stats.requests_ignored_count++;
  source->stats.urgent_pages_count += sent;
  if (sent > 0 && !source->preempt) {
    /* Without preempt, QEMU's scan goes on right after the requested page. */
    ram->scan_block_index = request.block_index;
    ram->scan_page_index = request.first_page + request.page_count;
  }
  return sent;
}

uint64_t mig_postcopy_save_urgent(struct mig_postcopy_source *source, struct mig_writer *main,
                                  struct mig_writer *urgent)
{
  uint64_t sent = 0;
  while (source->queue_count > 0) {
    if (urgent != NULL) {
      sent += source_serve_one(source, urgent, &source->preempt_last_block);
    } else {
      sent += source_serve_one(source, main, &source->ram->last_block_sent);
    }
  }
  if (urgent != NULL && sent > 0) mig_writer_flush(urgent);
  return sent;
}

/* The next dirty page from the scan cursor, wrapping over every block once; false: none. */
static bool source_next_dirty(struct mig_ram_source *ram, uint32_t *block_index,
                              uint64_t *page_index)
{
  for (uint32_t step = 0; step <= ram->block_count; step++) {
    const struct ram_block *block = ram->blocks[ram->scan_block_index];
    const uint64_t *bitmap = ram->bitmaps[ram->scan_block_index];
    for (uint64_t page = ram->scan_page_index; page < block->page_count;) {
      uint64_t word = bitmap[page / 64] >> (page % 64);
      if (word != 0) {
        *block_index = ram->scan_block_index;
        *page_index = page + (uint64_t)__builtin_ctzll(word);
        return true;
      }
      page = (page / 64 + 1) * 64;
    }
    ram->scan_page_index = 0;
    ram->scan_block_index = (ram->scan_block_index + 1) % ram->block_count;
  }
  return false;
}

/* One whole host page from the scan, on main; returns pages sent. */
static uint64_t source_background_host_page(struct mig_postcopy_source *source,
                                            struct mig_writer *main)
{
  struct mig_ram_source *ram = source->ram;
  uint32_t block_index;
  uint64_t page;
  if (!source_next_dirty(ram, &block_index, &page)) return 0;
  uint64_t pages = host_pages_of(ram->blocks[block_index]);
  uint64_t end = page / pages * pages + pages;
  const uint64_t *bitmap = ram->bitmaps[block_index];
  uint64_t sent = 0;
  for (; page < end; page++) {
    if ((bitmap[page / 64] >> (page % 64) & 1) == 0) continue;
    mig__ram_save_page(ram, main, block_index, page, &ram->last_block_sent);
    sent++;
  }
  ram->scan_page_index = end;
  source->stats.background_pages_count += sent;
  return sent;
}

bool mig_postcopy_save_iterate(struct mig_postcopy_source *source, struct mig_writer *main,
                               struct mig_writer *urgent, uint64_t pages_max)
{
  SIM_ASSERT(pages_max > 0);
  uint64_t sent = 0;
  while (mig_writer_error(main) == MIG_OK && source->ram->dirty_pages_count > 0) {
    if (source->queue_count > 0) {
      uint64_t urgent_count = mig_postcopy_save_urgent(source, main, urgent);
      if (urgent == NULL) sent += urgent_count;  /* the preempt channel has its own budget */
    }
    if (sent >= pages_max || source->ram->dirty_pages_count == 0) break;
    sent += source_background_host_page(source, main);
  }
  mig_writer_be64(main, MIG_RAM_FLAG_EOS);
  return source->ram->dirty_pages_count == 0;
}

uint64_t mig_postcopy_pending_pages(const struct mig_postcopy_source *source)
{
  return source->ram->dirty_pages_count;
}

void mig_postcopy_save_preempt_end(struct mig_writer *urgent)
{
  mig_writer_be64(urgent, MIG_RAM_FLAG_EOS);
  mig_writer_flush(urgent);
}

void mig_postcopy_save_recv_bitmaps(struct mig_postcopy_source *source,
                                    struct mig_writer *writer)
{
  struct mig_ram_source *ram = source->ram;
  source->queue_count = 0;
  source->queue_head = 0;
  source->preempt_last_block = NULL;
  ram->last_block_sent = NULL;
  for (uint32_t b = 0; b < ram->block_count; b++) {
    const char *name = ram->blocks[b]->name;
    mig_save_command_header(writer, MIG_CMD_RECV_BITMAP, (uint16_t)(1 + strlen(name)));
    mig_writer_counted_string(writer, name);
    if (!source->bitmap_pending[b]) source->bitmaps_pending_count++;
    source->bitmap_pending[b] = true;
  }
}

enum mig_err mig_postcopy_source_bitmap(struct mig_postcopy_source *source, uint32_t block_index,
                                        const uint8_t *bitmap, uint64_t bitmap_bytes)
{
  struct mig_ram_source *ram = source->ram;
  if (block_index >= ram->block_count || !source->bitmap_pending[block_index]) {
    return MIG_ERR_BAD_VALUE;
  }
  const struct ram_block *block = ram->blocks[block_index];
  SIM_ASSERT(bitmap_bytes * 8 >= block->page_count);  /* mig_rp_bitmap_read checked the size */
  uint64_t *dirty = ram->bitmaps[block_index];
  for (uint64_t page = 0; page < block->page_count; page++) {
    bool received = (bitmap[page / 8] >> (page % 8) & 1) != 0;  /* little-endian words */
    uint64_t bit = UINT64_C(1) << (page % 64);
    bool was_dirty = (dirty[page / 64] & bit) != 0;
    if (received && was_dirty) {
      dirty[page / 64] &= ~bit;
      ram->dirty_pages_count--;
    } else if (!received && !was_dirty) {
      dirty[page / 64] |= bit;
      ram->dirty_pages_count++;
      source->stats.resent_pages_count++;
    }
  }
  source->bitmap_pending[block_index] = false;
  source->bitmaps_pending_count--;
  source->stats.bitmaps_count++;
  ram->scan_block_index = 0;
  ram->scan_page_index = 0;
  return MIG_OK;
}

bool mig_postcopy_source_bitmaps_done(const struct mig_postcopy_source *source)
{
  return source->bitmaps_pending_count == 0;
}

void mig_postcopy_save_resume(struct mig_writer *writer)
{
  mig_save_command_header(writer, MIG_CMD_POSTCOPY_RESUME, 0);
}

const struct mig_postcopy_source_stats *mig_postcopy_source_stats(
    const struct mig_postcopy_source *source)
{
  return &source->stats;
}

/* ----------------------------------------------------------- destination */

static void dest_on_fault(void *context, uint32_t block_index, uint64_t page_index,
                          uint32_t who);

void mig_postcopy_dest_init(struct mig_postcopy_dest *dest, struct sim *sim, struct uffd *uffd,
                            const struct mig_postcopy_dest_hooks *hooks)
{
  memset(dest, 0, sizeof(*dest));
  dest->sim = sim;
  dest->uffd = uffd;
  dest->hooks = *hooks;
  dest->request_block = -1;
  struct ram_block *blocks[RAM_BLOCKS_MAX];
  uint32_t count = uffd_block_count(uffd);
  for (uint32_t i = 0; i < count; i++) blocks[i] = uffd_block(uffd, i);
  dest->summary = mig_postcopy_pagesize_summary(blocks, count);
  for (uint32_t i = 0; i < MIG_POSTCOPY_CHANNELS; i++) dest->channels[i].block_index = -1;
  uffd_fault_handler_set(uffd, dest, dest_on_fault);
}

/* Whether command may come in the current state (the shared table, mig_wire.h). */
static bool dest_state_allows(const struct mig_postcopy_dest *dest, uint32_t command)
{
  enum mig_postcopy_state state = dest->state;
  return mig_postcopy_state_step(&state, command);
}

/* Refuses a command in the wrong state, with QEMU's wording. */
static enum mig_err dest_state_refuse(struct mig_postcopy_dest *dest, struct mig_reader *reader,
                                      const struct mig_record *record)
{
  const char *name = mig_wire_command_name(record->command);
  char detail[96];
  snprintf(detail, sizeof(detail), "%s in wrong postcopy state (%s)", name,
           mig_postcopy_state_name(dest->state));
  MIG_READER_FAIL(reader, MIG_ERR_BAD_COMMAND, record->offset, detail, "command/%s", name);
  return MIG_ERR_BAD_COMMAND;
}

static enum mig_err dest_advise(struct mig_postcopy_dest *dest, struct mig_reader *reader,
                                const struct mig_record *record)
{
  if (!dest_state_allows(dest, record->command)) return dest_state_refuse(dest, reader, record);
  char detail[112];
  if (record->payload_bytes == 0) {
    MIG_READER_FAIL(reader, MIG_ERR_BAD_COMMAND, record->offset,
                    "no RAM advised, but postcopy-ram is on here", "command/POSTCOPY_ADVISE");
    return MIG_ERR_BAD_COMMAND;
  }
  uint64_t summary = mig_wire_be64(record->payload), target = mig_wire_be64(record->payload + 8);
  if (summary != dest->summary || target != MIG_PAGE_BYTES) {
    snprintf(detail, sizeof(detail), "page sizes 0x%" PRIx64 "/0x%" PRIx64
             ", here 0x%" PRIx64 "/0x%" PRIx32, summary, target, dest->summary, MIG_PAGE_BYTES);
    MIG_READER_FAIL(reader, MIG_ERR_CONFIG_MISMATCH, record->payload_offset, detail,
                    "command/POSTCOPY_ADVISE/%s", summary != dest->summary ? "pagesize" : "target");
    return MIG_ERR_CONFIG_MISMATCH;
  }
  for (uint32_t b = 0; b < uffd_block_count(dest->uffd); b++) {
    uffd_missing_mark(dest->uffd, b, 0, uffd_block(dest->uffd, b)->page_count);
  }
  dest->state = MIG_POSTCOPY_ADVISE;
  return MIG_OK;
}

/* One discarded range of block: checked, then its pages dropped and missing. */
static enum mig_err dest_discard_range(struct mig_postcopy_dest *dest, struct mig_reader *reader,
                                       uint32_t block_index, uint64_t start, uint64_t length,
                                       uint64_t offset)
{
  struct ram_block *block = uffd_block(dest->uffd, block_index);
  uint64_t host_bytes = host_pages_of(block) * MIG_PAGE_BYTES;
  const char *why = NULL;
  if (start % host_bytes != 0) why = "Unaligned start address";
  else if (length % host_bytes != 0 || length == 0) why = "Unaligned length";
  else if (start >= block->used_bytes || length > block->used_bytes - start) why = "past the end";
  if (why != NULL) {
    char detail[112];
    snprintf(detail, sizeof(detail), "%s: 0x%" PRIx64 "+0x%" PRIx64 " (used 0x%" PRIx64 ")", why,
             start, length, block->used_bytes);
    MIG_READER_FAIL(reader, MIG_ERR_RAM_OFFSET, offset, detail,
                    "command/POSTCOPY_RAM_DISCARD/%s", block->name);
    return MIG_ERR_RAM_OFFSET;
  }
  uint64_t first = start / MIG_PAGE_BYTES, count = length / MIG_PAGE_BYTES;
  for (uint64_t page = first; page < first + count; page++) ram_page_load_zero(block, page);
  uffd_missing_mark(dest->uffd, block_index, first, count);
  dest->stats.discard_ranges_count++;
  dest->stats.discard_pages_count += count;
  return MIG_OK;
}

static int32_t dest_block_find(const struct mig_postcopy_dest *dest, const uint8_t *name,
                               uint8_t length)
{
  for (uint32_t b = 0; b < uffd_block_count(dest->uffd); b++) {
    const char *here = uffd_block(dest->uffd, b)->name;
    if (strlen(here) == length && memcmp(here, name, length) == 0) return (int32_t)b;
  }
  return -1;
}

static enum mig_err dest_discard(struct mig_postcopy_dest *dest, struct mig_reader *reader,
                                 const struct mig_record *record)
{
  if (!dest_state_allows(dest, record->command)) return dest_state_refuse(dest, reader, record);
  const uint8_t *p = record->payload;
  uint64_t length = record->payload_bytes, at = record->payload_offset;
  SIM_ASSERT(p != NULL && length >= 20);  /* the record layer's minimum */
  uint8_t name_bytes = p[1];
  const char *field = NULL;
  if (p[0] != 0) field = "version";
  else if (DISCARD_HEADER_BYTES + (uint64_t)name_bytes > length) field = "name";
  else if (p[2 + name_bytes] != 0) field = "terminator";
  else if ((length - DISCARD_HEADER_BYTES - name_bytes) % DISCARD_RANGE_BYTES != 0) {
    field = "ranges";
  }
  int32_t block_index = field == NULL ? dest_block_find(dest, p + 2, name_bytes) : -1;
  if (field == NULL && block_index < 0) field = "block";
  if (field != NULL) {
    MIG_READER_FAIL(reader, MIG_ERR_BAD_COMMAND, at, "malformed or unknown block",
                    "command/POSTCOPY_RAM_DISCARD/%s", field);
    return MIG_ERR_BAD_COMMAND;
  }
  for (uint64_t i = DISCARD_HEADER_BYTES + name_bytes; i < length; i += DISCARD_RANGE_BYTES) {
    enum mig_err err = dest_discard_range(dest, reader, (uint32_t)block_index, mig_wire_be64(p + i),
                                          mig_wire_be64(p + i + 8), at + i);
    if (err != MIG_OK) return err;
  }
  dest->state = MIG_POSTCOPY_DISCARD;
  return MIG_OK;
}

/* REQ_PAGES_ID when the block differs from the last request's, else REQ_PAGES (spec §8). */
static void dest_request_send(struct mig_postcopy_dest *dest,
                              const struct mig_postcopy_request *request)
{
  const struct ram_block *block = uffd_block(dest->uffd, request->block_index);
  uint8_t payload[MIG_RP_REQ_PAGES_BYTES_MAX];
  bool named = (int32_t)request->block_index != dest->request_block;
  uint16_t type = 0;
  uint16_t bytes = mig_rp_req_pages(request->first_page * MIG_PAGE_BYTES,
                                    (uint32_t)(request->page_count * MIG_PAGE_BYTES),
                                    named ? block->name : NULL, payload, &type);
  dest->request_block = (int32_t)request->block_index;
  dest->stats.requests_count++;
  sim_trace(dest->sim, "mig.postcopy.req", request->block_index, request->first_page, type, 0);
  dest->hooks.rp_send(dest->hooks.context, type, payload, bytes, NULL, 0);
}

/* Asks for the host page holding page_index unless it is asked already. */
static void dest_request(struct mig_postcopy_dest *dest, uint32_t block_index,
                         uint64_t page_index)
{
  uint64_t pages = host_pages_of(uffd_block(dest->uffd, block_index));
  struct mig_postcopy_request request = {.block_index = block_index,
                                         .first_page = page_index / pages * pages,
                                         .page_count = pages};
  for (uint32_t i = 0; i < dest->outstanding_count; i++) {
    const struct mig_postcopy_request *o = &dest->outstanding[i];
    if (o->block_index == block_index && o->first_page == request.first_page) return;
  }
  SIM_ASSERT(dest->outstanding_count < MIG_POSTCOPY_REQUESTS_MAX); /* one per waiter at most */
  dest->outstanding[dest->outstanding_count++] = request;
  if (!dest->paused) dest_request_send(dest, &request);
}

static void dest_on_fault(void *context, uint32_t block_index, uint64_t page_index, uint32_t who)
{
  struct mig_postcopy_dest *dest = context;
  (void)who;
  dest_request(dest, block_index, page_index);
}

/* RECV_BITMAP (recovery): RP RECV_BITMAP, then the §8.4 body of the received bitmap. */
static enum mig_err dest_recv_bitmap(struct mig_postcopy_dest *dest, struct mig_reader *reader,
                                     const struct mig_record *record)
{
  const uint8_t *p = record->payload;
  int32_t index = dest->recovering ? dest_block_find(dest, p + 1, p[0]) : -1;
  if (index < 0) {
    MIG_READER_FAIL(reader, MIG_ERR_BAD_COMMAND, record->offset,
                    dest->recovering ? "no such block" : "not in postcopy-recover",
                    "command/RECV_BITMAP");
    return MIG_ERR_BAD_COMMAND;
  }
  const struct ram_block *block = uffd_block(dest->uffd, (uint32_t)index);
  uint64_t size = mig_rp_bitmap_bytes(block->used_bytes);
  uint64_t words = size / 8;
  uint8_t *body = malloc(size + 16);
  uint64_t *missing = calloc(SIM_MAX(block->dirty_words_count, words), sizeof(uint64_t));
  SIM_ASSERT(body != NULL && missing != NULL);
  uffd_missing_copy(dest->uffd, (uint32_t)index, missing, block->dirty_words_count);
  mig_rp_bitmap_frame(size, body);
  for (uint64_t w = 0; w < words; w++) {
    uint64_t received = ~missing[w];
    uint64_t valid = block->page_count - SIM_MIN(block->page_count, w * 64);
    if (valid < 64) received &= (UINT64_C(1) << valid) - 1;
    for (int i = 0; i < 8; i++) body[8 + w * 8 + (uint64_t)i] = (uint8_t)(received >> (8 * i));
  }
  dest->stats.bitmaps_sent_count++;
  dest->hooks.rp_send(dest->hooks.context, MIG_RP_RECV_BITMAP, p, (uint16_t)(1 + p[0]), body,
                      size + 16);
  free(missing);
  free(body);
  return MIG_OK;
}

/* POSTCOPY_RESUME: RESUME_ACK(1), then every page still waited on is asked again. */
static enum mig_err dest_resume(struct mig_postcopy_dest *dest)
{
  if (!dest->recovering) return MIG_OK;  /* outside postcopy-recover: ignored, as QEMU */
  dest->recovering = false;
  dest->paused = false;
  uint8_t ack[MIG_RP_U32_MESSAGE_BYTES];
  (void)mig_rp_message_u32(MIG_RP_RESUME_ACK, MIG_RP_RESUME_ACK_VALUE, ack);
  dest->hooks.rp_send(dest->hooks.context, MIG_RP_RESUME_ACK, ack + MIG_RP_HEADER_BYTES, 4, NULL,
                      0);
  for (uint32_t i = 0; i < dest->outstanding_count; i++) {
    dest_request_send(dest, &dest->outstanding[i]);
    dest->stats.rerequests_count++;
  }
  sim_trace(dest->sim, "mig.postcopy.resumed", dest->outstanding_count, 0, 0, 0);
  return MIG_OK;
}

enum mig_err mig_postcopy_dest_command(struct mig_postcopy_dest *dest, struct mig_reader *reader,
                                       const struct mig_record *record)
{
  SIM_ASSERT(record->kind == MIG_RECORD_COMMAND);
  switch (record->command) {
  case MIG_CMD_POSTCOPY_ADVISE: return dest_advise(dest, reader, record);
  case MIG_CMD_POSTCOPY_RAM_DISCARD: return dest_discard(dest, reader, record);
  case MIG_CMD_POSTCOPY_LISTEN:
    if (!dest_state_allows(dest, record->command)) break;
    dest->state = MIG_POSTCOPY_LISTENING;
    dest->stats.listen_ns = sim_now_ns(dest->sim);
    uffd_arm(dest->uffd);
    sim_trace(dest->sim, "mig.postcopy.listen", uffd_block_count(dest->uffd), 0, 0, 0);
    return MIG_OK;
  case MIG_CMD_POSTCOPY_RUN:
    if (!dest_state_allows(dest, record->command)) break;
    dest->state = MIG_POSTCOPY_RUNNING;
    dest->stats.run_ns = sim_now_ns(dest->sim);
    if (dest->hooks.run != NULL) dest->hooks.run(dest->hooks.context);
    return MIG_OK;
  case MIG_CMD_POSTCOPY_RESUME: return dest_resume(dest);
  case MIG_CMD_RECV_BITMAP: return dest_recv_bitmap(dest, reader, record);
  default: {
    const char *name = mig_wire_command_name(record->command);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_COMMAND, record->offset, "not a postcopy command",
                    "command/%s", name);
    return MIG_ERR_BAD_COMMAND;
  }
  }
  return dest_state_refuse(dest, reader, record);
}

/* The host page of a page applied in postcopy must come whole, in order, on its channel. */
static bool dest_host_page_order(struct mig_postcopy_dest *dest, uint32_t channel,
                                 uint32_t block_index, uint64_t page_index)
{
  struct mig_postcopy_channel *ch = &dest->channels[channel];
  if (ch->block_index >= 0) {
    if ((uint32_t)ch->block_index != block_index || ch->next_page != page_index) return false;
  } else {
    uint64_t pages = host_pages_of(uffd_block(dest->uffd, block_index));
    if (pages > 1 && page_index % pages != 0) return false;
    ch->block_index = (int32_t)block_index;
    ch->host_end_page = page_index + pages;
  }
  ch->next_page = page_index + 1;
  if (ch->next_page == ch->host_end_page) ch->block_index = -1;
  return true;
}

/* The host page is whole: it is no longer outstanding. */
static void dest_outstanding_drop(struct mig_postcopy_dest *dest, uint32_t block_index,
                                  uint64_t page_index)
{
  uint64_t pages = host_pages_of(uffd_block(dest->uffd, block_index));
  uint64_t first = page_index / pages * pages;
  for (uint32_t i = 0; i < dest->outstanding_count; i++) {
    const struct mig_postcopy_request *o = &dest->outstanding[i];
    if (o->block_index != block_index || o->first_page != first) continue;
    dest->outstanding[i] = dest->outstanding[--dest->outstanding_count];
    return;
  }
}

enum mig_err mig_postcopy_dest_page(struct mig_postcopy_dest *dest, struct mig_reader *reader,
                                    uint32_t channel, uint32_t block_index, uint64_t page_index,
                                    uint64_t offset)
{
  SIM_ASSERT(channel < MIG_POSTCOPY_CHANNELS);
  if (dest->state == MIG_POSTCOPY_NONE) return MIG_OK;  /* never advised: plain precopy */
  if (dest->state < MIG_POSTCOPY_LISTENING) {
    if (uffd_place(dest->uffd, block_index, page_index)) dest->stats.precopy_pages_count++;
    return MIG_OK;
  }
  const char *name = uffd_block(dest->uffd, block_index)->name;
  char detail[96];
  if (!dest_host_page_order(dest, channel, block_index, page_index)) {
    snprintf(detail, sizeof(detail), "Non-same host page detected: page 0x%" PRIx64
             " on channel %" PRIu32, page_index, channel);
    MIG_READER_FAIL(reader, MIG_ERR_RAM_ORDER, offset, detail, "ram/%s", name);
    return MIG_ERR_RAM_ORDER;
  }
  if (!uffd_place(dest->uffd, block_index, page_index)) {
    snprintf(detail, sizeof(detail), "postcopy page 0x%" PRIx64 " applied twice", page_index);
    MIG_READER_FAIL(reader, MIG_ERR_RAM_ORDER, offset, detail, "ram/%s", name);
    return MIG_ERR_RAM_ORDER;
  }
  dest->stats.postcopy_pages_count++;
  if (!uffd_host_page_missing(dest->uffd, block_index, page_index)) {
    dest_outstanding_drop(dest, block_index, page_index);
  }
  return MIG_OK;
}

enum mig_err mig_postcopy_dest_finish(struct mig_postcopy_dest *dest, struct mig_reader *reader)
{
  if (dest->state < MIG_POSTCOPY_LISTENING) return MIG_OK;  /* it stayed precopy */
  uint64_t offset = mig_reader_offset(reader);
  for (uint32_t b = 0; b < uffd_block_count(dest->uffd); b++) {
    const struct ram_block *block = uffd_block(dest->uffd, b);
    for (uint64_t page = 0; page < block->page_count; page++) {
      if (!uffd_missing(dest->uffd, b, page)) continue;
      char detail[96];
      snprintf(detail, sizeof(detail), "postcopy page 0x%" PRIx64 " never received", page);
      MIG_READER_FAIL(reader, MIG_ERR_RAM_ORDER, offset, detail, "ram/%s", block->name);
      return MIG_ERR_RAM_ORDER;
    }
  }
  dest->state = MIG_POSTCOPY_END;
  dest->stats.end_ns = sim_now_ns(dest->sim);
  uffd_disarm(dest->uffd);
  sim_trace(dest->sim, "mig.postcopy.end", dest->stats.postcopy_pages_count,
            dest->stats.requests_count, 0, 0);
  return MIG_OK;
}

void mig_postcopy_dest_pause(struct mig_postcopy_dest *dest)
{
  SIM_ASSERT(dest->state >= MIG_POSTCOPY_LISTENING);
  dest->paused = true;
  dest->stats.pauses_count++;
  dest->request_block = -1;  /* a new return path names its block again */
  /* A host page cut by the failure was never placed whole (QEMU keeps it in a temporary page). */
  for (uint32_t c = 0; c < MIG_POSTCOPY_CHANNELS; c++) {
    struct mig_postcopy_channel *ch = &dest->channels[c];
    if (ch->block_index < 0) continue;
    uint64_t pages = host_pages_of(uffd_block(dest->uffd, (uint32_t)ch->block_index));
    uint64_t first = ch->host_end_page - pages;
    uffd_missing_mark(dest->uffd, (uint32_t)ch->block_index, first, ch->next_page - first);
    dest->stats.postcopy_pages_count -= ch->next_page - first;
    ch->block_index = -1;
  }
  sim_trace(dest->sim, "mig.postcopy.paused", dest->outstanding_count, 0, 0, 0);
}

void mig_postcopy_dest_recover(struct mig_postcopy_dest *dest)
{
  SIM_ASSERT(dest->paused);
  dest->recovering = true;
}

bool mig_postcopy_dest_paused(const struct mig_postcopy_dest *dest)
{
  return dest->paused;
}

enum mig_postcopy_state mig_postcopy_dest_state(const struct mig_postcopy_dest *dest)
{
  return dest->state;
}

const struct mig_postcopy_dest_stats *mig_postcopy_dest_stats(const struct mig_postcopy_dest *dest)
{
  return &dest->stats;
}
