/*
 * mig_ramapply.c: guest RAM from a walked stream (overview in
 * mig_ramapply.h; wire facts in spec/stream-format.md §6.3, §6.4, §6.6).
 * Every record was already bounded by the walker (block known, offset below
 * used_length, payload lengths checked); this file checks what only decoding
 * can: XBZRLE pairs and zlib streams.  A malformed record is rejected with
 * the byte offset of the bad item and the path ram/BLOCK/xbzrle|compressed.
 */
/* MAP_ANONYMOUS and MADV_HUGEPAGE are not POSIX: ask glibc for them. */
#define _DEFAULT_SOURCE 1

#include "sim_base.h"

#include "mig_compress.h"
#include "mig_format.h"
#include "mig_ramapply.h"
#include "mig_xbzrle.h"

#include <sys/mman.h>

/*
 * Dense blocks are anonymous mappings (zero-filled by the kernel) advised to
 * use 2 MiB transparent huge pages, as QEMU does for guest RAM: first-touch
 * faults then come per 2 MiB instead of per 4 KiB page.
 */
static uint8_t *ramapply_dense_map(uint64_t bytes)
{
  void *map = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                   0);
  if (map == MAP_FAILED) return NULL;
  (void)madvise(map, (size_t)bytes, MADV_HUGEPAGE);  /* advice only; may be refused */
  return map;
}

static uint64_t ramapply_dense_bytes(const struct mig_ramapply_block *block)
{
  return (block->page_count == 0 ? 1 : block->page_count) * MIG_PAGE_BYTES;
}

/*
 * A sparse chunk: MIG_RAMAPPLY_CHUNK_PAGES page pointers, then a bitmap (in
 * the same allocation) of the pages that point into the caller's stream
 * instead of an allocation of ours (mig_ramapply_reference).
 */
#define RAMAPPLY_CHUNK_WORDS (MIG_RAMAPPLY_CHUNK_PAGES / 64u)
_Static_assert(MIG_RAMAPPLY_CHUNK_PAGES % 64 == 0, "whole bitmap words per chunk");
_Static_assert(sizeof(uint64_t) == sizeof(uint8_t *), "bitmap words fill pointer slots");

static uint64_t *ramapply_reference_bits(uint8_t **chunk)
{
  return (uint64_t *)(void *)(chunk + MIG_RAMAPPLY_CHUNK_PAGES);
}

static bool ramapply_is_reference(uint8_t **chunk, uint32_t page)
{
  return (ramapply_reference_bits(chunk)[page / 64] >> (page % 64)) & 1;
}

static void ramapply_reference_set(uint8_t **chunk, uint32_t page, bool reference)
{
  uint64_t bit = UINT64_C(1) << (page % 64);
  uint64_t *word = &ramapply_reference_bits(chunk)[page / 64];
  *word = reference ? *word | bit : *word & ~bit;
}

void mig_ramapply_init(struct mig_ramapply *apply, bool dense)
{
  SIM_ASSERT(apply != NULL);
  memset(apply, 0, sizeof *apply);
  apply->dense = dense;
}

void mig_ramapply_deinit(struct mig_ramapply *apply)
{
  for (uint32_t b = 0; b < apply->block_count; b++) {
    struct mig_ramapply_block *block = &apply->blocks[b];
    if (block->dense != NULL) munmap(block->dense, (size_t)ramapply_dense_bytes(block));
    free(block->written);
    if (block->chunks == NULL) continue;
    uint64_t chunk_count = (block->page_count + MIG_RAMAPPLY_CHUNK_PAGES - 1) /
                           MIG_RAMAPPLY_CHUNK_PAGES;
    for (uint64_t c = 0; c < chunk_count; c++) {
      if (block->chunks[c] == NULL) continue;
      for (uint32_t p = 0; p < MIG_RAMAPPLY_CHUNK_PAGES; p++) {
        if (!ramapply_is_reference(block->chunks[c], p)) free(block->chunks[c][p]);
      }
      free(block->chunks[c]);
    }
    free(block->chunks);
  }
  memset(apply, 0, sizeof *apply);
}

void mig_ramapply_keep(struct mig_ramapply *apply, const char *name, uint64_t start,
                       uint64_t end)
{
  SIM_ASSERT(apply->keep_count < MIG_RAMAPPLY_KEEPS_MAX && apply->block_count == 0);
  SIM_ASSERT(start <= end && end <= UINT64_MAX - MIG_PAGE_BYTES);
  struct mig_ramapply_keep *keep = &apply->keeps[apply->keep_count++];
  snprintf(keep->name, sizeof keep->name, "%s", name);
  keep->first_page = start / MIG_PAGE_BYTES;
  keep->end_page = (end + MIG_PAGE_BYTES - 1) / MIG_PAGE_BYTES;
}

/* Whether page page_index of the block is stored (every page when no range was given). */
static bool ramapply_kept(const struct mig_ramapply *apply, uint32_t block_index,
                          uint64_t page_index)
{
  if (apply->keep_count == 0) return true;
  uint32_t mask = apply->blocks[block_index].keep_mask;
  for (uint32_t k = 0; mask != 0; k++, mask >>= 1) {
    if ((mask & 1) == 0) continue;
    if (page_index >= apply->keeps[k].first_page && page_index < apply->keeps[k].end_page) {
      return true;
    }
  }
  return false;
}

static void ramapply_fail(struct mig_error *error, uint64_t offset, const char *block,
                          const char *what, const char *detail)
{
  error->offset = offset;
  snprintf(error->path, sizeof error->path, "ram/%.80s/%s", block, what);
  snprintf(error->detail, sizeof error->detail, "%s", detail);
}

/* Creates storage for the blocks the MEM_SIZE record just listed. */
static enum mig_err ramapply_blocks(struct mig_ramapply *apply,
                                    const struct mig_inspect_event *event,
                                    struct mig_error *error)
{
  const struct mig_inspect *inspect = event->inspect;
  SIM_ASSERT(event->block_first == apply->block_count);
  for (uint32_t b = event->block_first; b < event->block_first + event->block_count; b++) {
    const struct mig_inspect_block *source = &inspect->blocks[b];
    struct mig_ramapply_block *block = &apply->blocks[b];
    if (source->used_bytes > MIG_RAMAPPLY_BYTES_MAX - apply->bytes_total) {
      ramapply_fail(error, event->offset, source->name, "used_length",
                    "RAM total exceeds MIG_RAMAPPLY_BYTES_MAX");
      return MIG_ERR_NOMEM;
    }
    apply->bytes_total += source->used_bytes;
    block->used_bytes = source->used_bytes;
    block->page_count = (source->used_bytes + MIG_PAGE_BYTES - 1) / MIG_PAGE_BYTES;
    apply->block_count = b + 1;
    for (uint32_t k = 0; k < apply->keep_count; k++) {
      if (strcmp(apply->keeps[k].name, source->name) == 0) block->keep_mask |= UINT32_C(1) << k;
    }
    if (apply->dense) {
      block->dense = ramapply_dense_map(ramapply_dense_bytes(block));
      block->written = calloc(block->page_count / 64 + 1, sizeof *block->written);
      if (block->written == NULL && block->dense != NULL) {
        munmap(block->dense, (size_t)ramapply_dense_bytes(block));
        block->dense = NULL;
      }
    } else {
      uint64_t chunk_count = (block->page_count + MIG_RAMAPPLY_CHUNK_PAGES - 1) /
                             MIG_RAMAPPLY_CHUNK_PAGES;
      block->chunks = calloc(chunk_count == 0 ? 1 : chunk_count, sizeof *block->chunks);
    }
    if (block->dense == NULL && block->chunks == NULL) {
      ramapply_fail(error, event->offset, source->name, "used_length", "out of memory");
      return MIG_ERR_NOMEM;
    }
  }
  return MIG_OK;
}

const uint8_t *mig_ramapply_page(const struct mig_ramapply *apply, uint32_t block_index,
                                 uint64_t page_index)
{
  SIM_ASSERT(block_index < apply->block_count);
  const struct mig_ramapply_block *block = &apply->blocks[block_index];
  SIM_ASSERT(page_index < block->page_count);
  if (block->dense != NULL) {
    bool written = (block->written[page_index / 64] >> (page_index % 64)) & 1;
    return written ? block->dense + page_index * MIG_PAGE_BYTES : NULL;
  }
  const uint8_t *const *chunk = (const uint8_t *const *)block->chunks[page_index /
                                                                     MIG_RAMAPPLY_CHUNK_PAGES];
  return chunk == NULL ? NULL : chunk[page_index % MIG_RAMAPPLY_CHUNK_PAGES];
}

/* The sparse chunk of a page, allocated on first use; NULL when out of memory. */
static uint8_t **ramapply_chunk(struct mig_ramapply_block *block, uint64_t page_index)
{
  uint8_t ***chunk = &block->chunks[page_index / MIG_RAMAPPLY_CHUNK_PAGES];
  if (*chunk == NULL) *chunk = calloc(MIG_RAMAPPLY_CHUNK_PAGES + RAMAPPLY_CHUNK_WORDS,
                                      sizeof **chunk);
  return *chunk;
}

/* A writable page, allocated (zeroed) on first use in sparse mode; NULL when out of memory. */
static uint8_t *ramapply_page_writable(struct mig_ramapply *apply, uint32_t block_index,
                                       uint64_t page_index)
{
  struct mig_ramapply_block *block = &apply->blocks[block_index];
  SIM_ASSERT(page_index < block->page_count);
  if (block->dense != NULL) {
    block->written[page_index / 64] |= UINT64_C(1) << (page_index % 64);
    return block->dense + page_index * MIG_PAGE_BYTES;
  }
  uint8_t **chunk = ramapply_chunk(block, page_index);
  if (chunk == NULL) return NULL;
  uint32_t index = (uint32_t)(page_index % MIG_RAMAPPLY_CHUNK_PAGES);
  uint8_t **page = &chunk[index];
  if (ramapply_is_reference(chunk, index)) {  /* copy on write: the stream is read-only */
    uint8_t *copy = malloc(MIG_PAGE_BYTES);
    if (copy == NULL) return NULL;
    memcpy(copy, *page, MIG_PAGE_BYTES);
    *page = copy;
    ramapply_reference_set(chunk, index, false);
    block->pages_materialised++;
  } else if (*page == NULL) {
    *page = calloc(1, MIG_PAGE_BYTES);
    if (*page != NULL) block->pages_materialised++;
  }
  return *page;
}

/* Writes a decoded page into the block, materialising it if need be (a kept page only). */
static enum mig_err ramapply_store(struct mig_ramapply *apply,
                                   const struct mig_inspect_event *event, uint64_t page_index,
                                   const uint8_t *page, struct mig_error *error)
{
  if (!ramapply_kept(apply, event->block_index, page_index)) return MIG_OK;
  uint8_t *target = ramapply_page_writable(apply, event->block_index, page_index);
  if (target == NULL) {
    ramapply_fail(error, 0, event->inspect->blocks[event->block_index].name, "page",
                  "out of memory");
    return MIG_ERR_NOMEM;
  }
  memcpy(target, page, MIG_PAGE_BYTES);
  return MIG_OK;
}

/* XBZRLE: decode onto a copy of the page's previous contents, then store. */
static enum mig_err ramapply_xbzrle(struct mig_ramapply *apply,
                                    const struct mig_inspect_event *event, uint64_t page_index,
                                    struct mig_error *error)
{
  const char *name = event->inspect->blocks[event->block_index].name;
  uint8_t page[MIG_PAGE_BYTES];
  const uint8_t *old = mig_ramapply_page(apply, event->block_index, page_index);
  if (old != NULL) {
    memcpy(page, old, sizeof page);
  } else {
    memset(page, 0, sizeof page);
  }
  uint32_t bad_index = 0;
  const char *reason = NULL;
  if (!mig_xbzrle_decode(event->payload, (uint32_t)event->payload_bytes, page, &bad_index,
                         &reason)) {
    ramapply_fail(error, event->payload_offset + bad_index, name, "xbzrle", reason);
    return MIG_ERR_BAD_VALUE;
  }
  return ramapply_store(apply, event, page_index, page, error);
}

/* COMPRESS_PAGE (7.2): one complete zlib stream that inflates to exactly one page. */
static enum mig_err ramapply_compressed(struct mig_ramapply *apply,
                                        const struct mig_inspect_event *event,
                                        uint64_t page_index, struct mig_error *error)
{
  const char *name = event->inspect->blocks[event->block_index].name;
  uint8_t page[MIG_PAGE_BYTES];
  char detail[64];
  if (!mig_compress_inflate(event->payload, (uint32_t)event->payload_bytes, page, detail,
                            sizeof detail)) {
    ramapply_fail(error, event->payload_offset, name, "compressed", detail);
    return MIG_ERR_BAD_VALUE;
  }
  return ramapply_store(apply, event, page_index, page, error);
}

/* A page that points into the stream forgets it (it reads as zeros again); false otherwise. */
static bool ramapply_unreference(struct mig_ramapply *apply, uint32_t block_index,
                                 uint64_t page_index)
{
  struct mig_ramapply_block *block = &apply->blocks[block_index];
  if (block->dense != NULL) return false;
  uint8_t **chunk = block->chunks[page_index / MIG_RAMAPPLY_CHUNK_PAGES];
  uint32_t index = (uint32_t)(page_index % MIG_RAMAPPLY_CHUNK_PAGES);
  if (chunk == NULL || !ramapply_is_reference(chunk, index)) return false;
  chunk[index] = NULL;
  ramapply_reference_set(chunk, index, false);
  return true;
}

/* Reference mode: the page becomes a pointer to the record's bytes in the stream. */
static enum mig_err ramapply_page_reference(struct mig_ramapply *apply,
                                            const struct mig_inspect_event *event,
                                            uint64_t page_index, struct mig_error *error)
{
  SIM_ASSERT(event->payload != NULL && event->payload_bytes == MIG_PAGE_BYTES);
  struct mig_ramapply_block *block = &apply->blocks[event->block_index];
  uint8_t **chunk = ramapply_chunk(block, page_index);
  if (chunk == NULL) {
    ramapply_fail(error, 0, event->inspect->blocks[event->block_index].name, "page",
                  "out of memory");
    return MIG_ERR_NOMEM;
  }
  uint32_t index = (uint32_t)(page_index % MIG_RAMAPPLY_CHUNK_PAGES);
  if (!ramapply_is_reference(chunk, index) && chunk[index] != NULL) {
    free(chunk[index]);
    block->pages_materialised--;
  }
  chunk[index] = (uint8_t *)event->payload;  /* never written through: see copy on write */
  ramapply_reference_set(chunk, index, true);
  return MIG_OK;
}

static enum mig_err ramapply_page_record(struct mig_ramapply *apply,
                                         const struct mig_inspect_event *event,
                                         struct mig_error *error)
{
  SIM_ASSERT(event->block_index < apply->block_count);
  uint64_t page_index = event->address / MIG_PAGE_BYTES;
  const char *name = event->inspect->blocks[event->block_index].name;
  apply->blocks[event->block_index].pages_applied++;
  if (event->ram_kind == MIG_RAM_FLAG_XBZRLE) {
    return ramapply_xbzrle(apply, event, page_index, error);
  }
  if (event->ram_kind == MIG_RAM_FLAG_COMPRESS_PAGE) {
    return ramapply_compressed(apply, event, page_index, error);
  }
  if (!ramapply_kept(apply, event->block_index, page_index)) return MIG_OK;  /* checked already */
  if (event->ram_kind == MIG_RAM_FLAG_ZERO && event->fill == 0) {
    /* Never materialise for zeros; clear a page that already holds data. */
    const uint8_t *old = mig_ramapply_page(apply, event->block_index, page_index);
    if (old != NULL && !ramapply_unreference(apply, event->block_index, page_index)) {
      memset((uint8_t *)old, 0, MIG_PAGE_BYTES);
    }
    return MIG_OK;
  }
  if (event->ram_kind == MIG_RAM_FLAG_PAGE && apply->reference && !apply->dense) {
    return ramapply_page_reference(apply, event, page_index, error);
  }
  uint8_t *target = ramapply_page_writable(apply, event->block_index, page_index);
  if (target == NULL) return ramapply_fail(error, 0, name, "page", "out of memory"), MIG_ERR_NOMEM;
  if (event->ram_kind == MIG_RAM_FLAG_ZERO) {
    memset(target, event->fill, MIG_PAGE_BYTES);  /* 7.2 accepts any fill byte (§6.4) */
  } else {
    SIM_ASSERT(event->ram_kind == MIG_RAM_FLAG_PAGE);
    SIM_ASSERT(event->payload_bytes == MIG_PAGE_BYTES);
    memcpy(target, event->payload, MIG_PAGE_BYTES);
  }
  return MIG_OK;
}

enum mig_err mig_ramapply_visit(void *context, const struct mig_inspect_event *event,
                                struct mig_error *error)
{
  struct mig_ramapply *apply = context;
  if (event->kind == MIG_INSPECT_RAM_BLOCKS) return ramapply_blocks(apply, event, error);
  if (event->kind == MIG_INSPECT_RAM_PAGE) return ramapply_page_record(apply, event, error);
  return MIG_OK;
}

uint64_t mig_ramapply_pages_applied(const struct mig_ramapply *apply, uint32_t block_index)
{
  SIM_ASSERT(block_index < apply->block_count);
  return apply->blocks[block_index].pages_applied;
}

void mig_ramapply_reference(struct mig_ramapply *apply)
{
  SIM_ASSERT(apply->block_count == 0 && !apply->dense);
  apply->reference = true;
}

uint64_t mig_ramapply_pages_materialised(const struct mig_ramapply *apply)
{
  uint64_t total = 0;
  for (uint32_t b = 0; b < apply->block_count; b++) total += apply->blocks[b].pages_materialised;
  return total;
}
