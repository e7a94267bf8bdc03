/*
 * ram.c: guest RAM blocks and their dirty log (overview in ram.h).
 *
 * The log is one bit per target page in 64-bit words, as QEMU's dirty
 * bitmaps are; sync counts only bits newly set in the migration bitmap, so a
 * page written twice between syncs is sent once.
 */
#include "sim_base.h"

#include "ram.h"

#include <xxhash.h>

struct ram_block *ram_block_create(struct sim *sim, const char *name, uint64_t bytes)
{
  SIM_ASSERT(strlen(name) > 0 && strlen(name) <= RAM_BLOCK_NAME_BYTES_MAX);
  SIM_ASSERT(bytes > 0 && bytes <= RAM_BLOCK_BYTES_MAX && bytes % RAM_PAGE_BYTES == 0);
  struct ram_block *block = sim_alloc(sim, sizeof(*block));
  memcpy(block->name, name, strlen(name) + 1);
  block->used_bytes = bytes;
  block->page_count = bytes / RAM_PAGE_BYTES;
  block->bytes = sim_alloc(sim, bytes);
  block->dirty_words_count = (block->page_count + 63) / 64;
  block->dirty_log = sim_alloc(sim, block->dirty_words_count * sizeof(uint64_t));
  return block;
}

void ram_write(struct ram_block *block, uint64_t offset, const void *bytes, size_t count)
{
  SIM_ASSERT(count > 0);
  SIM_ASSERT(offset < block->used_bytes && count <= block->used_bytes - offset);
  memcpy(block->bytes + offset, bytes, count);
  uint64_t page_first = offset / RAM_PAGE_BYTES;
  uint64_t page_last = (offset + count - 1) / RAM_PAGE_BYTES;
  for (uint64_t page = page_first; page <= page_last; page++) {
    block->dirty_log[page / 64] |= UINT64_C(1) << (page % 64);
  }
  block->writes_count++;
}

const uint8_t *ram_page(const struct ram_block *block, uint64_t page_index)
{
  SIM_ASSERT(page_index < block->page_count);
  return block->bytes + page_index * RAM_PAGE_BYTES;
}

uint8_t *ram_page_mut(struct ram_block *block, uint64_t page_index)
{
  SIM_ASSERT(page_index < block->page_count);
  return block->bytes + page_index * RAM_PAGE_BYTES;
}

bool ram_page_is_zero(const struct ram_block *block, uint64_t page_index)
{
  const uint8_t *page = ram_page(block, page_index);
  uint64_t accumulated = 0;
  for (uint32_t i = 0; i < RAM_PAGE_BYTES; i += 8) {
    uint64_t word;
    memcpy(&word, page + i, sizeof(word));
    accumulated |= word;
  }
  return accumulated == 0;
}

uint64_t ram_dirty_sync(struct ram_block *block, uint64_t *bitmap)
{
  uint64_t newly_count = 0;
  for (uint64_t i = 0; i < block->dirty_words_count; i++) {
    uint64_t fresh = block->dirty_log[i] & ~bitmap[i];
    newly_count += (uint64_t)__builtin_popcountll(fresh);
    bitmap[i] |= block->dirty_log[i];
    block->dirty_log[i] = 0;
  }
  return newly_count;
}

void ram_dirty_all(struct ram_block *block)
{
  uint64_t full_words = block->page_count / 64;
  for (uint64_t i = 0; i < full_words; i++) block->dirty_log[i] = ~UINT64_C(0);
  uint64_t tail_bits = block->page_count % 64;
  if (tail_bits != 0) block->dirty_log[full_words] = (UINT64_C(1) << tail_bits) - 1;
  SIM_ASSERT(full_words + (tail_bits != 0) == block->dirty_words_count);
}

uint64_t ram_page_hash(const struct ram_block *block, uint64_t page_index)
{
  return XXH3_64bits(ram_page(block, page_index), RAM_PAGE_BYTES);
}

uint64_t ram_block_hash(const struct ram_block *block)
{
  return XXH3_64bits(block->bytes, block->used_bytes);
}
