/*
 * mig_ram.c: RAM section payloads, source and destination (overview in
 * mig_ram.h, wire facts in spec/stream-format.md §6).
 *
 * The source walks its migration bitmaps with a cursor that survives
 * sections, so a round may span many PART sections, as in QEMU.  The
 * destination is stricter than QEMU 7.2 where spec §11.3 says so: the block
 * list must sum exactly to the announced total, a ZERO fill byte must be 0,
 * and page records must follow the block list.
 */
#include "sim_base.h"

#include "mig_ram.h"
#include "mig_ram_int.h"
#include "mig_multifd_send.h"
#include "mig_wire.h"

#define RAM_OFFSET_MASK (~(uint64_t)(MIG_PAGE_BYTES - 1))

_Static_assert(MIG_PAGE_BYTES == RAM_PAGE_BYTES, "stream and model pages agree");

void mig_ram_source_init(struct mig_ram_source *source, struct sim *sim,
                         struct ram_block *const *blocks, uint32_t block_count)
{
  SIM_ASSERT(block_count >= 1 && block_count <= MIG_RAM_BLOCKS_MAX);
  memset(source, 0, sizeof(*source));
  source->block_count = block_count;
  for (uint32_t i = 0; i < block_count; i++) {
    source->blocks[i] = blocks[i];
    source->bitmaps[i] = sim_alloc(sim, blocks[i]->dirty_words_count * sizeof(uint64_t));
  }
}

/* True for a block whose pages x-ignore-shared keeps out of the stream. */
static bool ram_ignored(bool ignore_shared, const struct ram_block *block)
{
  return ignore_shared && block->shared;
}

void mig_ram_source_ignore_shared_set(struct mig_ram_source *source, bool on)
{
  SIM_ASSERT(source->dirty_sync_count == 0); /* before setup */
  source->ignore_shared = on;
}

void mig_ram_source_release_set(struct mig_ram_source *source, bool on)
{
  SIM_ASSERT(source->dirty_sync_count == 0); /* before setup */
  source->release_ram = on;
}

void mig_ram_source_postcopy_begin(struct mig_ram_source *source)
{
  source->in_postcopy = true;
  if (source->encode != NULL) source->encode->postcopy = true;
}

/* release-ram: a page written in postcopy goes back to the host (7.2's may_free writes). */
static void ram_release_maybe(struct mig_ram_source *source, uint32_t block_index,
                              uint64_t page_index)
{
  if (!source->release_ram || !source->in_postcopy) return;
  ram_page_release(source->blocks[block_index], page_index);
  source->released_pages_count++;
}

void mig_ram_source_multifd_set(struct mig_ram_source *source, struct mig_multifd_send *multifd)
{
  SIM_ASSERT(source->dirty_sync_count == 0); /* before setup */
  source->multifd = multifd;
}

/* Every EOS: multifd's channels are synced first (QEMU 7.2, per section). */
static void ram_save_eos(struct mig_ram_source *source, struct mig_writer *writer)
{
  if (source->multifd != NULL) mig_multifd_send_sync(source->multifd);
  mig_writer_be64(writer, MIG_RAM_FLAG_EOS);
}

uint64_t mig_ram_sync(struct mig_ram_source *source)
{
  uint64_t newly_count = 0;
  for (uint32_t i = 0; i < source->block_count; i++) {
    if (ram_ignored(source->ignore_shared, source->blocks[i])) {
      ram_dirty_clear(source->blocks[i]);
      continue;
    }
    newly_count += ram_dirty_sync(source->blocks[i], source->bitmaps[i]);
  }
  source->dirty_pages_count += newly_count;
  source->dirty_sync_count++;
  return newly_count;
}

uint64_t mig_ram_pending_bytes(const struct mig_ram_source *source)
{
  return source->dirty_pages_count * MIG_PAGE_BYTES;
}

uint64_t mig_ram_total_bytes(const struct mig_ram_source *source)
{
  uint64_t total = 0;
  for (uint32_t i = 0; i < source->block_count; i++) total += source->blocks[i]->used_bytes;
  return total;
}

void mig_ram_save_setup(struct mig_ram_source *source, struct mig_writer *writer)
{
  for (uint32_t i = 0; i < source->block_count; i++) ram_dirty_all(source->blocks[i]);
  mig_ram_sync(source);
  uint64_t total = mig_ram_total_bytes(source);
  SIM_ASSERT((total & ~RAM_OFFSET_MASK) == 0);
  mig_writer_be64(writer, total | MIG_RAM_FLAG_MEM_SIZE);
  for (uint32_t i = 0; i < source->block_count; i++) {
    mig_writer_counted_string(writer, source->blocks[i]->name);
    mig_writer_be64(writer, source->blocks[i]->used_bytes);
    /* QEMU 7.2 ram_save_setup: the region address of every block, ignored or not. */
    if (source->ignore_shared) mig_writer_be64(writer, source->blocks[i]->gpa);
  }
  ram_save_eos(source, writer);
}

void mig__ram_save_page(struct mig_ram_source *source, struct mig_writer *writer,
                        uint32_t block_index, uint64_t page_index,
                        const struct ram_block **last_block)
{
  const struct ram_block *block = source->blocks[block_index];
  uint64_t *word = &source->bitmaps[block_index][page_index / 64];
  uint64_t bit = UINT64_C(1) << (page_index % 64);
  SIM_ASSERT(*word & bit);
  *word &= ~bit;
  SIM_ASSERT(source->dirty_pages_count > 0);
  source->dirty_pages_count--;
  bool zero = ram_page_is_zero(block, page_index);
  if (source->multifd != NULL && (!zero || mig_multifd_send_takes_zero(source->multifd))) {
    /* A synthetic page is made straight into the packet (a dense one is copied there). */
    const uint8_t *bytes =
        zero ? NULL
             : ram_page_read(block, page_index, mig_multifd_send_slot(source->multifd, block));
    mig_multifd_send_page(source->multifd, block, page_index, bytes);
    if (zero) source->zero_pages_count++;
    else source->normal_pages_count++;
    return;
  }
  if (source->encode != NULL &&
      mig__ram_encode_page(source, writer, block_index, page_index, zero, last_block)) {
    return;
  }
  uint64_t flags = zero ? MIG_RAM_FLAG_ZERO : MIG_RAM_FLAG_PAGE;
  bool same_block = *last_block == block;
  if (same_block) flags |= MIG_RAM_FLAG_CONTINUE;
  mig_writer_be64(writer, page_index * MIG_PAGE_BYTES | flags);
  if (!same_block) mig_writer_counted_string(writer, block->name);
  *last_block = block;
  if (zero) {
    mig_writer_u8(writer, 0);
    source->zero_pages_count++;
  } else {
    mig_writer_bytes(writer, ram_page_read(block, page_index, source->scratch), MIG_PAGE_BYTES);
    source->normal_pages_count++;
  }
  ram_release_maybe(source, block_index, page_index);
}

/* Writes one page record for a dirty page and clears its bit. */
static void ram_save_page(struct mig_ram_source *source, struct mig_writer *writer,
                          uint32_t block_index, uint64_t page_index)
{
  mig__ram_save_page(source, writer, block_index, page_index, &source->last_block_sent);
}

/* Finds the next dirty page at or after the cursor in the current block. */
static bool ram_next_dirty(const struct mig_ram_source *source, uint64_t *page_index)
{
  const struct ram_block *block = source->blocks[source->scan_block_index];
  const uint64_t *bitmap = source->bitmaps[source->scan_block_index];
  uint64_t page = source->scan_page_index;
  while (page < block->page_count) {
    uint64_t word = bitmap[page / 64] >> (page % 64);
    if (word != 0) {
      *page_index = page + (uint64_t)__builtin_ctzll(word);
      return true;
    }
    page = (page / 64 + 1) * 64;
  }
  return false;
}

/* True when page_index lies in the same host page as the one just before it. */
static bool ram_same_host_page(const struct ram_block *block, uint64_t page_index)
{
  uint64_t pages_per_host_page = block->host_page_bytes / MIG_PAGE_BYTES;
  return page_index % pages_per_host_page != 0;
}

void mig_ram_source_block_resized(struct mig_ram_source *source, const struct ram_block *block)
{
  uint32_t index = 0;
  while (index < source->block_count && source->blocks[index] != block) index++;
  SIM_ASSERT(index < source->block_count);
  uint64_t *bitmap = source->bitmaps[index];
  for (uint64_t page = block->page_count; page < block->max_page_count; page++) {
    uint64_t bit = UINT64_C(1) << (page % 64);
    if ((bitmap[page / 64] & bit) == 0) continue;
    bitmap[page / 64] &= ~bit;
    SIM_ASSERT(source->dirty_pages_count > 0);
    source->dirty_pages_count--;
  }
}

bool mig_ram_save_iterate(struct mig_ram_source *source, struct mig_writer *writer,
                          uint64_t pages_max)
{
  bool round_ended = false;
  uint64_t sent_count = 0;
  uint64_t last_sent = UINT64_MAX;
  /* A cancelled migration's writer has latched its error: stop reading RAM at once. */
  while (source->dirty_pages_count > 0 && mig_writer_error(writer) == MIG_OK) {
    uint64_t page_index;
    if (ram_next_dirty(source, &page_index)) {
      if (sent_count >= pages_max) {
        /* Over budget: only the rest of the host page just started may follow. */
        const struct ram_block *block = source->blocks[source->scan_block_index];
        uint64_t host_pages = block->host_page_bytes / MIG_PAGE_BYTES;
        if (last_sent == UINT64_MAX || !ram_same_host_page(block, last_sent + 1) ||
            page_index / host_pages != last_sent / host_pages) {
          break;
        }
      }
      ram_save_page(source, writer, source->scan_block_index, page_index);
      last_sent = page_index;
      source->scan_page_index = page_index + 1;
      sent_count++;
      continue;
    }
    if (sent_count >= pages_max) break;
    source->scan_page_index = 0;
    source->scan_block_index++;
    last_sent = UINT64_MAX;
    if (source->scan_block_index == source->block_count) {
      source->scan_block_index = 0;
      source->rounds_count++;
      round_ended = true;
      break;
    }
  }
  if (source->dirty_pages_count == 0 && !round_ended) {
    /* Nothing left dirty: the pass is over wherever the cursor stands. */
    source->scan_block_index = 0;
    source->scan_page_index = 0;
    source->rounds_count++;
    round_ended = true;
  }
  /* QEMU 7.2 find_dirty_block: after the first round, XBZRLE is on. */
  if (round_ended && source->encode != NULL) {
    source->encode->xbzrle_enabled = source->encode->xbzrle;
  }
  ram_save_eos(source, writer);
  return round_ended;
}

void mig_ram_save_complete(struct mig_ram_source *source, struct mig_writer *writer)
{
  if (source->encode != NULL) source->encode->last_stage = true;
  for (uint32_t b = 0; b < source->block_count; b++) {
    source->scan_block_index = b;
    source->scan_page_index = 0;
    uint64_t page_index;
    while (ram_next_dirty(source, &page_index)) {
      ram_save_page(source, writer, b, page_index);
      source->scan_page_index = page_index + 1;
    }
  }
  SIM_ASSERT(source->dirty_pages_count == 0);
  source->scan_block_index = 0;
  source->scan_page_index = 0;
  ram_save_eos(source, writer);
}

void mig_ram_dest_init(struct mig_ram_dest *dest, struct ram_block *const *blocks,
                       uint32_t block_count)
{
  SIM_ASSERT(block_count >= 1 && block_count <= MIG_RAM_BLOCKS_MAX);
  memset(dest, 0, sizeof(*dest));
  dest->block_count = block_count;
  dest->policy = &mig_policy_strict;
  for (uint32_t i = 0; i < block_count; i++) dest->blocks[i] = blocks[i];
}

void mig_ram_dest_ignore_shared_set(struct mig_ram_dest *dest, bool on)
{
  SIM_ASSERT(!dest->setup_done);
  dest->ignore_shared = on;
}

/*
 * Index of the block called name, or block_count when there is none.  A
 * name with a NUL inside is compared up to the NUL, as QEMU does (strcmp);
 * names_nul_refused refuses such names before they get here.
 */
static uint32_t ram_find(const struct mig_ram_dest *dest, const struct mig_name *name)
{
  char text[MIG_IDSTR_BYTES_MAX + 1];
  mig_name_copy(name, text, sizeof text);
  uint32_t index = 0;
  while (index < dest->block_count && strcmp(text, dest->blocks[index]->name) != 0) index++;
  return index;
}

/*
 * One block-list entry against the local block; fills detail when it is
 * refused.  A different length is taken by a resizable block within its
 * maximum (QEMU 7.2 ram_load_precopy -> qemu_ram_resize, whose error texts
 * these are); a fixed-size block refuses it.  The list must sum to the total.
 */
static void ram_block_list_check(const struct ram_block *block, uint64_t used_bytes,
                                 bool seen, uint64_t unlisted_bytes, char *detail,
                                 size_t detail_bytes)
{
  if (seen) {
    snprintf(detail, detail_bytes, "%s listed twice", block->name);
  } else if (used_bytes == block->used_bytes) {
    /* Equal lengths: nothing to check. */
  } else if (!block->resizable) {
    snprintf(detail, detail_bytes, "Size mismatch: %s: 0x%" PRIx64 " != 0x%" PRIx64,
             block->name, used_bytes, block->used_bytes);
  } else if (used_bytes > block->max_bytes) {
    snprintf(detail, detail_bytes, "Size too large: %s: 0x%" PRIx64 " > 0x%" PRIx64,
             block->name, used_bytes, block->max_bytes);
  } else if (used_bytes == 0 || used_bytes % block->host_page_bytes != 0) {
    snprintf(detail, detail_bytes, "Size 0x%" PRIx64 " of %s is not whole 0x%" PRIx32
             "-byte host pages", used_bytes, block->name, block->host_page_bytes);
  }
  if (detail[0] == '\0' && used_bytes > unlisted_bytes) {
    snprintf(detail, detail_bytes, "length 0x%" PRIx64 " exceeds the 0x%" PRIx64
             " bytes left of the total", used_bytes, unlisted_bytes);
  }
}

/* A NUL inside a block name: refused under names_nul_refused (7.2 cuts the name there). */
static bool ram_name_nul(struct mig_ram_dest *dest, struct mig_reader *reader,
                         const struct mig_name *name, uint64_t offset)
{
  if (!dest->policy->names_nul_refused || !mig_name_has_nul(name)) return false;
  char text[MIG_IDSTR_BYTES_MAX + 1];
  mig_name_copy(name, text, sizeof text);
  MIG_POLICY_FAIL(reader, names_nul_refused, MIG_ERR_BAD_IDSTR, offset, "NUL byte inside a name",
                  "ram/%s", text);
  return true;
}

/* The x-ignore-shared checks of one entry: the GPA and the length of a shared block. */
static bool ram_block_shared_ok(struct mig_ram_dest *dest, struct mig_reader *reader,
                                const struct mig_record *record, const struct ram_block *block)
{
  const struct mig_record_ram *ram = &record->ram;
  char detail[128];
  if (ram->has_gpa && ram_ignored(true, block) && ram->gpa != block->gpa) {
    snprintf(detail, sizeof(detail), "mismatched GPA 0x%" PRIx64 ", here 0x%" PRIx64, ram->gpa,
             block->gpa);
    MIG_READER_FAIL(reader, MIG_ERR_RAM_BLOCK, record->offset + 1 + ram->block.length + 8,
                    detail, "ram/%s/gpa", block->name);
    return false;
  }
  if (ram->used_bytes != block->used_bytes && ram_ignored(dest->ignore_shared, block)) {
    /*
     * Here the destination maps the source's very block: a different length
     * means the source resized it after listing it (and cancelled), so
     * resizing it back would change the running source.
     */
    snprintf(detail, sizeof(detail), "Size mismatch: %.48s: 0x%" PRIx64 " != 0x%" PRIx64
             " (shared)", block->name, ram->used_bytes, block->used_bytes);
    MIG_READER_FAIL(reader, MIG_ERR_RAM_BLOCK, record->offset, detail, "ram/%s", block->name);
    return false;
  }
  return true;
}

/* One entry of the MEM_SIZE block list: known, sized as here (or resized), listed once. */
static enum mig_err ram_load_block_entry(struct mig_ram_dest *dest, struct mig_reader *reader,
                                         const struct mig_record *record)
{
  const struct mig_record_ram *ram = &record->ram;
  char name[MIG_IDSTR_BYTES_MAX + 1];
  mig_name_copy(&ram->block, name, sizeof name);
  if (ram_name_nul(dest, reader, &ram->block, record->offset)) return MIG_ERR_BAD_IDSTR;
  uint32_t index = ram_find(dest, &ram->block);
  if (index == dest->block_count) {
    MIG_READER_FAIL(reader, MIG_ERR_RAM_BLOCK, record->offset, "no such block here", "ram/%s",
                    name);
    /* Another destination may have the block; none has one without a name. */
    if (ram->block.length > 0) mig__reader_policy(reader, "destination_known");
    return MIG_ERR_RAM_BLOCK;
  }
  struct ram_block *block = dest->blocks[index];
  char detail[128] = "";
  ram_block_list_check(block, ram->used_bytes, dest->listed_blocks[index], ram->setup_left,
                       detail, sizeof(detail));
  if (detail[0] != '\0') {
    MIG_READER_FAIL(reader, MIG_ERR_RAM_BLOCK, record->offset, detail, "ram/%s", name);
    /* A length this destination cannot take; listed twice or beyond the total is the stream's. */
    if (!dest->listed_blocks[index] && ram->used_bytes <= ram->setup_left) {
      mig__reader_policy(reader, "destination_known");
    }
    return MIG_ERR_RAM_BLOCK;
  }
  if (!ram_block_shared_ok(dest, reader, record, block)) {
    mig__reader_policy(reader, "destination_known");  /* the GPA or length of our block */
    return MIG_ERR_RAM_BLOCK;
  }
  if (ram->used_bytes != block->used_bytes) ram_block_resize(block, ram->used_bytes);
  dest->listed_blocks[index] = true;
  dest->listed += ram->used_bytes;
  SIM_ASSERT(dest->listed <= dest->list_total);  /* checked against setup_left above */
  if (dest->listed == dest->list_total) dest->setup_done = true;
  return MIG_OK;
}

/* Resolves the block of a page record: its name, or CONTINUE with the last one. */
static struct ram_block *ram_load_block(struct mig_ram_dest *dest, struct mig_reader *reader,
                                        const struct mig_record *record)
{
  const struct mig_record_ram *ram = &record->ram;
  if (!ram->named) {
    if (dest->last_block == NULL) {
      MIG_READER_FAIL(reader, MIG_ERR_RAM_BLOCK, record->offset, "CONTINUE with no block yet",
                      "ram/continue");
    }
    return dest->last_block;
  }
  char name[MIG_IDSTR_BYTES_MAX + 1];
  mig_name_copy(&ram->block, name, sizeof name);
  if (ram_name_nul(dest, reader, &ram->block, record->offset + 8)) return NULL;
  uint32_t index = ram_find(dest, &ram->block);
  if (index == dest->block_count) {
    MIG_POLICY_FAIL(reader, destination_known, MIG_ERR_RAM_BLOCK, record->offset,
                    "can't find block", "ram/%s", name);
    return NULL;
  }
  if (ram_ignored(dest->ignore_shared, dest->blocks[index])) {
    MIG_POLICY_FAIL(reader, destination_known, MIG_ERR_RAM_BLOCK, record->offset,
                    "page of a block x-ignore-shared leaves out", "ram/%s", name);
    return NULL;
  }
  dest->last_block = dest->blocks[index];
  return dest->last_block;
}

/* Tells the postcopy destination, when there is one, that a page was applied. */
static enum mig_err ram_placed(struct mig_ram_dest *dest, struct mig_reader *reader,
                               const struct ram_block *block, uint64_t page_index,
                               uint64_t offset)
{
  if (dest->placed == NULL) return MIG_OK;
  uint32_t index = 0;
  while (dest->blocks[index] != block) index++;
  return dest->placed(dest->placed_context, reader, dest->channel, index, page_index, offset);
}

/* One ZERO or PAGE record. */
static enum mig_err ram_load_page(struct mig_ram_dest *dest, struct mig_reader *reader,
                                  const struct mig_record *record)
{
  const struct mig_record_ram *ram = &record->ram;
  struct ram_block *block = ram_load_block(dest, reader, record);
  if (block == NULL) return mig_reader_error(reader)->code;
  if (ram->address >= block->used_bytes) {
    char detail[64];
    snprintf(detail, sizeof(detail), "illegal RAM offset 0x%" PRIx64, ram->address);
    MIG_READER_FAIL(reader, MIG_ERR_RAM_OFFSET, record->offset, detail, "ram/%s", block->name);
    return MIG_ERR_RAM_OFFSET;
  }
  uint64_t page_index = ram->address / MIG_PAGE_BYTES;
  uint8_t bytes[MIG_PAGE_BYTES];
  const uint8_t *page = record->payload;
  if (ram->kind == MIG_RAM_FLAG_ZERO) {
    dest->zero_pages_count++;
    if (ram->fill == 0) {
      ram_page_load_zero(block, page_index);
      return ram_placed(dest, reader, block, page_index, record->offset);
    }
    if (dest->policy->zero_fill_nonzero_refused) {
      char detail[64];
      snprintf(detail, sizeof(detail), "zero page with fill byte 0x%02x", ram->fill);
      MIG_POLICY_FAIL(reader, zero_fill_nonzero_refused, MIG_ERR_BAD_VALUE,
                      record->offset + record->header_bytes - 1, detail, "ram/%s", block->name);
      return MIG_ERR_BAD_VALUE;
    }
    memset(bytes, ram->fill, sizeof bytes);  /* 7.2 fills the page with it */
    page = bytes;
  } else if (ram->kind == MIG_RAM_FLAG_PAGE) {
    SIM_ASSERT(page != NULL);
    dest->normal_pages_count++;
  } else {
    /* XBZRLE (onto the page as it is) or COMPRESS_PAGE: the capability let them through. */
    if (!mig__ram_decode_page(block, page_index, record, reader, bytes)) {
      return mig_reader_error(reader)->code;
    }
    if (ram->kind == MIG_RAM_FLAG_XBZRLE) dest->xbzrle_pages_count++;
    else dest->compressed_pages_count++;
    page = bytes;
  }
  if (block->backing == RAM_BACKING_DENSE) {
    memcpy(ram_page_mut(block, page_index), page, MIG_PAGE_BYTES);
  } else {
    /* Synthetic: the page is hashed and dropped; only its digest and generation stay. */
    ram_page_load(block, page_index, page);
  }
  return ram_placed(dest, reader, block, page_index, record->offset);
}

/* Where a MEM_SIZE or page record may stand under ram_setup_first; false after refusing. */
static bool ram_order_ok(struct mig_ram_dest *dest, struct mig_reader *reader,
                         const struct mig_record *record)
{
  const struct mig_record_ram *ram = &record->ram;
  bool setup = ram->kind == MIG_RAM_FLAG_MEM_SIZE;
  bool in_order = setup ? record->section.type == MIG_SECTION_START && !dest->setup_done &&
                              ram->flags == ram->kind
                        : dest->setup_done;
  if (in_order || !dest->policy->ram_setup_first) return true;
  char detail[80];
  snprintf(detail, sizeof(detail), "record out of order: 0x%" PRIx32, ram->flags);
  MIG_POLICY_FAIL(reader, ram_setup_first, MIG_ERR_RAM_ORDER, record->offset, detail,
                  "ram/flags");
  return false;
}

enum mig_err mig_ram_load_record(struct mig_ram_dest *dest, struct mig_reader *reader,
                                 const struct mig_record *record)
{
  if (record->kind == MIG_RECORD_RAM_BLOCK) return ram_load_block_entry(dest, reader, record);
  SIM_ASSERT(record->kind == MIG_RECORD_RAM);
  uint32_t kind = record->ram.kind;
  if (kind == MIG_RAM_FLAG_EOS) {
    return dest->eos != NULL ? dest->eos(dest->eos_context, reader) : MIG_OK;
  }
  if (!ram_order_ok(dest, reader, record)) return MIG_ERR_RAM_ORDER;
  if (kind == MIG_RAM_FLAG_MEM_SIZE) {
    dest->list_total = record->ram.address;
    dest->listed = 0;
    memset(dest->listed_blocks, 0, sizeof dest->listed_blocks);
    dest->setup_done = dest->list_total == 0;
    return MIG_OK;
  }
  /* XBZRLE and COMPRESS_PAGE come only where the policy lets the record layer pass them. */
  SIM_ASSERT(kind == MIG_RAM_FLAG_ZERO || kind == MIG_RAM_FLAG_PAGE ||
             (kind == MIG_RAM_FLAG_XBZRLE && !dest->policy->ram_xbzrle_refused) ||
             (kind == MIG_RAM_FLAG_COMPRESS_PAGE && !dest->policy->ram_compress_refused));
  return ram_load_page(dest, reader, record);
}

enum mig_err mig_ram_load(struct mig_ram_dest *dest, struct mig_reader *reader,
                          uint8_t section_type)
{
  struct mig_tokenizer tokenizer_storage;  /* tests and fuzz targets: a thread's full stack */
  struct mig_tokenizer *tokenizer = &tokenizer_storage;
  struct mig_record_options options;
  mig_record_options_from_policy(dest->policy, &options);
  options.x_ignore_shared = dest->ignore_shared;
  mig_tokenizer_init_payload(tokenizer, reader, &options, section_type, MIG_RAM_IDSTR);
  struct mig_record record;
  for (;;) {
    enum mig_err err = mig_record_next(tokenizer, &record);
    if (err == MIG_OK) err = mig_ram_load_record(dest, reader, &record);
    if (err != MIG_OK) return err;
    if (record.kind == MIG_RECORD_RAM && record.ram.kind == MIG_RAM_FLAG_EOS) return MIG_OK;
  }
}
