/*
 * ram.c: guest RAM blocks, their backings and their dirty log (overview in
 * ram.h).
 *
 * The log is one bit per target page in 64-bit words, as QEMU's dirty
 * bitmaps are; sync counts only bits newly set in the migration bitmap, so a
 * page written twice between syncs is sent once.  Every per-page array is
 * sized for max_bytes at creation and comes from the arena, whose big
 * requests are calloc'd chunks of their own: the kernel backs them with
 * zero pages until first touched, which is what keeps a 64 GiB synthetic
 * guest's resident set proportional to the pages it writes.  Reading an
 * untouched array still costs resident memory (the kernel maps huge zero
 * pages), so a synthetic block keeps one `touched` bit per 1024 pages and
 * never reads the per-page arrays of an untouched chunk.
 *
 * Synthetic page layout (little-endian 64-bit words): word 0 is
 * generation << 32 | (page index & 0xffffffff), so a loader can read the
 * generation back; word i of 1..511 is pool[i] ^ (base + i * golden ratio),
 * where the pool is 512 splitmix64 words of the block's content key and base
 * is splitmix64 of (content key, page, generation).  Every word changes with
 * every generation, and the loop vectorises.
 */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */

#include "sim_base.h"

#include "ram.h"
#include "sim_prng.h"

#include <xxhash.h>

#define WORDS_PER_PAGE (RAM_PAGE_BYTES / 8)
#define GOLDEN UINT64_C(0x9e3779b97f4a7c15)
#define MIX_MUL UINT64_C(0xd6e8feb86659fd93)

static const uint8_t zero_page[RAM_PAGE_BYTES];

uint64_t ram_synth_key(uint64_t seed, const char *name)
{
  uint64_t state = seed ^ XXH3_64bits(name, strlen(name));
  return sim_splitmix64(&state);
}

void ram_synth_pool(uint64_t content_key, uint64_t *pool)
{
  uint64_t state = content_key;
  for (uint32_t i = 0; i < WORDS_PER_PAGE; i++) pool[i] = sim_splitmix64(&state);
}

void ram_synth_fill(const uint64_t *restrict pool, uint64_t content_key,
                    uint64_t page_index, uint32_t generation, uint8_t *restrict out)
{
  SIM_ASSERT(generation != 0);
  uint64_t state = content_key ^ (page_index * UINT64_C(0xbf58476d1ce4e5b9)) ^
                   ((uint64_t)generation * UINT64_C(0x94d049bb133111eb));
  uint64_t base = sim_splitmix64(&state);
  /* Adds and xors only: the loop compiles to packed SSE2 and runs at store speed. */
  uint64_t step = base;
  for (uint32_t i = 0; i < WORDS_PER_PAGE; i++) {
    uint64_t word = pool[i] ^ step;
    memcpy(out + 8 * i, &word, sizeof(word));
    step += GOLDEN;
  }
  uint64_t header = (uint64_t)generation << 32 | (page_index & UINT32_MAX);
  memcpy(out, &header, sizeof(header));
}

/*
 * Whether bytes are exactly ram_synth_fill(block's key, page_index,
 * generation): the same words made and compared in one pass with no early
 * exit, and words 2..511 in a loop of even length, which the compiler turns
 * into packed SSE2 as it does the fill's.
 */
static bool synth_matches(const struct ram_block *block, uint64_t page_index,
                          uint32_t generation, const uint8_t *bytes)
{
  SIM_ASSERT(generation != 0);
  uint64_t state = block->content_key ^ (page_index * UINT64_C(0xbf58476d1ce4e5b9)) ^
                   ((uint64_t)generation * UINT64_C(0x94d049bb133111eb));
  uint64_t base = sim_splitmix64(&state);
  uint64_t header = (uint64_t)generation << 32 | (page_index & UINT32_MAX);
  uint64_t word0, word1;
  memcpy(&word0, bytes, sizeof(word0));
  memcpy(&word1, bytes + 8, sizeof(word1));
  uint64_t differ = (word0 ^ header) | (word1 ^ (block->synth_pool[1] ^ (base + GOLDEN)));
  const uint64_t *pool = block->synth_pool;
  uint64_t step = base + 2 * GOLDEN;
  for (uint32_t i = 2; i < WORDS_PER_PAGE; i++) {
    uint64_t word;
    memcpy(&word, bytes + 8 * i, sizeof(word));
    differ |= word ^ (pool[i] ^ step);
    step += GOLDEN;
  }
  return differ == 0;
}

/*
 * Asks the kernel for 2 MiB pages under a big dense block: the guest and the
 * loader touch every page of it, and one fault per 2 MiB instead of per 4 KiB
 * takes most of the kernel's time out of a dense migration.  Only the wall
 * time depends on the advice (and on the addresses it is aligned from), never
 * the simulation; a kernel that refuses it changes nothing else.
 */
static void ram_advise_huge(uint8_t *bytes, uint64_t count)
{
  const uintptr_t huge = RAM_HOST_PAGE_BYTES_MAX;
  uintptr_t start = ((uintptr_t)bytes + huge - 1) & ~(huge - 1);
  uintptr_t end = ((uintptr_t)bytes + count) & ~(huge - 1);
#ifdef MADV_HUGEPAGE
  if (end > start) (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
  (void)start, (void)end;
#endif
}

struct ram_block *ram_block_create(struct sim *sim, const char *name, uint64_t bytes)
{
  struct ram_block_options options = {.name = name, .used_bytes = bytes};
  return ram_block_create_with(sim, &options);
}

struct ram_block *ram_block_create_with(struct sim *sim, const struct ram_block_options *options)
{
  const char *name = options->name;
  uint32_t host_page_bytes = options->host_page_bytes == 0 ? RAM_PAGE_BYTES
                                                           : options->host_page_bytes;
  uint64_t max_bytes = options->max_bytes == 0 ? options->used_bytes : options->max_bytes;
  SIM_ASSERT(strlen(name) > 0 && strlen(name) <= RAM_BLOCK_NAME_BYTES_MAX);
  SIM_ASSERT(host_page_bytes == RAM_PAGE_BYTES || host_page_bytes == RAM_HOST_PAGE_BYTES_MAX);
  SIM_ASSERT(options->used_bytes > 0 && options->used_bytes % host_page_bytes == 0);
  SIM_ASSERT(max_bytes >= options->used_bytes && max_bytes <= RAM_BLOCK_BYTES_MAX);
  SIM_ASSERT(max_bytes % host_page_bytes == 0);
  struct ram_block *block = sim_alloc(sim, sizeof(*block));
  memcpy(block->name, name, strlen(name) + 1);
  block->used_bytes = options->used_bytes;
  block->page_count = options->used_bytes / RAM_PAGE_BYTES;
  block->max_bytes = max_bytes;
  block->max_page_count = max_bytes / RAM_PAGE_BYTES;
  block->host_page_bytes = host_page_bytes;
  block->resizable = options->max_bytes != 0;
  block->shared = options->shared;
  block->gpa = options->gpa;
  block->backing = options->backing;
  block->dirty_words_count = (block->max_page_count + 63) / 64;
  block->dirty_log = sim_alloc(sim, block->dirty_words_count * sizeof(uint64_t));
  block->zero_hash = XXH3_64bits(zero_page, RAM_PAGE_BYTES);
  if (block->backing == RAM_BACKING_DENSE) {
    /* Page-aligned, so release-ram (ram_page_release) can hand whole pages back. */
    uint8_t *bytes = sim_alloc(sim, max_bytes + RAM_PAGE_BYTES);
    block->bytes = bytes + (RAM_PAGE_BYTES - (uintptr_t)bytes % RAM_PAGE_BYTES) % RAM_PAGE_BYTES;
    ram_advise_huge(block->bytes, max_bytes);
  } else {
    SIM_ASSERT(block->backing == RAM_BACKING_SYNTHETIC);
    block->generations = sim_alloc(sim, block->max_page_count * sizeof(uint32_t));
    block->digests = sim_alloc(sim, block->max_page_count * sizeof(uint64_t));
    block->digest_valid = sim_alloc(sim, block->dirty_words_count * sizeof(uint64_t));
    uint64_t chunk_count = (block->max_page_count + RAM_SYNTH_CHUNK_PAGES - 1) /
                           RAM_SYNTH_CHUNK_PAGES;
    block->touched = sim_alloc(sim, (chunk_count + 63) / 64 * sizeof(uint64_t));
    block->content_key = ram_synth_key(sim_seed(sim), name);
    ram_synth_pool(block->content_key, block->synth_pool);
  }
  return block;
}

static bool bit_test(const uint64_t *bitmap, uint64_t index)
{
  return (bitmap[index / 64] >> (index % 64)) & 1;
}

static void bit_set(uint64_t *bitmap, uint64_t index, bool value)
{
  uint64_t bit = UINT64_C(1) << (index % 64);
  if (value) {
    bitmap[index / 64] |= bit;
  } else {
    bitmap[index / 64] &= ~bit;
  }
}

/* Synthetic: false when the page's chunk was never stored to or loaded (the page is zero). */
static bool chunk_touched(const struct ram_block *block, uint64_t page_index)
{
  return bit_test(block->touched, page_index / RAM_SYNTH_CHUNK_PAGES);
}

static void chunk_touch(struct ram_block *block, uint64_t page_index)
{
  bit_set(block->touched, page_index / RAM_SYNTH_CHUNK_PAGES, true);
}

/* Makes one page (beyond the used range after a resize) zero and clean. */
static void page_clear(struct ram_block *block, uint64_t page_index)
{
  bit_set(block->dirty_log, page_index, false);
  if (block->backing == RAM_BACKING_DENSE) {
    memset(block->bytes + page_index * RAM_PAGE_BYTES, 0, RAM_PAGE_BYTES);
  } else if (chunk_touched(block, page_index)) {
    block->generations[page_index] = 0;
    bit_set(block->digest_valid, page_index, false);
  }
}

void ram_block_resize(struct ram_block *block, uint64_t used_bytes)
{
  SIM_ASSERT(block->resizable);
  SIM_ASSERT(used_bytes > 0 && used_bytes <= block->max_bytes);
  SIM_ASSERT(used_bytes % block->host_page_bytes == 0);
  if (used_bytes == block->used_bytes) return;
  uint64_t old_used_bytes = block->used_bytes;
  uint64_t page_count = used_bytes / RAM_PAGE_BYTES;
  for (uint64_t page = page_count; page < block->page_count; page++) page_clear(block, page);
  block->used_bytes = used_bytes;
  block->page_count = page_count;
  block->resize_count++;
  /* QEMU 7.2 qemu_ram_resize: the whole new used range is dirty for every client. */
  ram_dirty_all(block);
  if (block->resized != NULL) block->resized(block->resized_context, block, old_used_bytes);
}

void ram_block_resized_set(struct ram_block *block, void *context, ram_resized_fn *callback)
{
  SIM_ASSERT(callback != NULL || context == NULL);
  block->resized = callback;
  block->resized_context = context;
}

void ram_write(struct ram_block *block, uint64_t offset, const void *bytes, size_t count)
{
  SIM_ASSERT(block->backing == RAM_BACKING_DENSE);
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

uint8_t *ram_page_write(struct ram_block *block, uint64_t page_index)
{
  SIM_ASSERT(block->backing == RAM_BACKING_DENSE);
  SIM_ASSERT(page_index < block->page_count);
  block->dirty_log[page_index / 64] |= UINT64_C(1) << (page_index % 64);
  block->writes_count++;
  return block->bytes + page_index * RAM_PAGE_BYTES;
}

void ram_store(struct ram_block *block, uint64_t page_index, uint32_t word_index,
               uint64_t value)
{
  SIM_ASSERT(page_index < block->page_count);
  SIM_ASSERT(word_index < WORDS_PER_PAGE);
  if (block->backing == RAM_BACKING_DENSE) {
    uint8_t bytes[8];
    for (int i = 0; i < 8; i++) bytes[i] = (uint8_t)(value >> (8 * i));
    ram_write(block, page_index * RAM_PAGE_BYTES + word_index * 8, bytes, sizeof(bytes));
    return;
  }
  chunk_touch(block, page_index);
  uint32_t *generation = &block->generations[page_index];
  *generation = *generation == RAM_SYNTH_GENERATION_MAX ? 1 : *generation + 1;
  bit_set(block->digest_valid, page_index, false);
  block->dirty_log[page_index / 64] |= UINT64_C(1) << (page_index % 64);
  block->writes_count++;
}

const uint8_t *ram_page(const struct ram_block *block, uint64_t page_index)
{
  SIM_ASSERT(block->backing == RAM_BACKING_DENSE);
  SIM_ASSERT(page_index < block->page_count);
  return block->bytes + page_index * RAM_PAGE_BYTES;
}

const uint8_t *ram_page_read(const struct ram_block *block, uint64_t page_index,
                             uint8_t *scratch)
{
  if (block->backing == RAM_BACKING_DENSE) return ram_page(block, page_index);
  SIM_ASSERT(page_index < block->page_count);
  uint32_t generation = chunk_touched(block, page_index) ? block->generations[page_index] : 0;
  if (generation == 0) return zero_page;
  ram_synth_fill(block->synth_pool, block->content_key, page_index, generation, scratch);
  return scratch;
}

uint8_t *ram_page_mut(struct ram_block *block, uint64_t page_index)
{
  SIM_ASSERT(block->backing == RAM_BACKING_DENSE);
  SIM_ASSERT(page_index < block->page_count);
  return block->bytes + page_index * RAM_PAGE_BYTES;
}

uint32_t ram_page_generation(const struct ram_block *block, uint64_t page_index)
{
  SIM_ASSERT(block->backing == RAM_BACKING_SYNTHETIC);
  SIM_ASSERT(page_index < block->page_count);
  return chunk_touched(block, page_index) ? block->generations[page_index] : 0;
}

/* A cache line at a time with an early exit: a page of data is refused on its first line. */
static bool bytes_are_zero(const uint8_t *page)
{
  for (uint32_t line = 0; line < RAM_PAGE_BYTES; line += 64) {
    uint64_t accumulated = 0;
    for (uint32_t i = 0; i < 64; i += 8) {
      uint64_t word;
      memcpy(&word, page + line + i, sizeof(word));
      accumulated |= word;
    }
    if (accumulated != 0) return false;
  }
  return true;
}

bool ram_page_is_zero(const struct ram_block *block, uint64_t page_index)
{
  if (block->backing == RAM_BACKING_DENSE) return bytes_are_zero(ram_page(block, page_index));
  SIM_ASSERT(page_index < block->page_count);
  if (!chunk_touched(block, page_index)) return true;
  if (bit_test(block->digest_valid, page_index)) {
    return block->digests[page_index] == block->zero_hash;
  }
  return block->generations[page_index] == 0;
}

void ram_page_load(struct ram_block *block, uint64_t page_index, const uint8_t *bytes)
{
  SIM_ASSERT(page_index < block->page_count);
  if (block->backing == RAM_BACKING_DENSE) {
    memcpy(block->bytes + page_index * RAM_PAGE_BYTES, bytes, RAM_PAGE_BYTES);
    return;
  }
  chunk_touch(block, page_index);
  uint64_t word0;
  memcpy(&word0, bytes, sizeof(word0));
  /* The generation is read back from the bytes. */
  uint32_t generation = (uint32_t)(word0 >> 32);
  block->generations[page_index] = generation;
  /*
   * Bytes that are exactly this block's content of that generation (always,
   * unless the stream or the loader erred) make the page what a store of
   * that generation would have made: no digest kept, none needed.  Other
   * bytes keep their XXH3 digest, which is then what the oracle trusts.
   */
  bool canonical = generation != 0 ? synth_matches(block, page_index, generation, bytes)
                                   : bytes_are_zero(bytes);
  if (!canonical) block->digests[page_index] = XXH3_64bits(bytes, RAM_PAGE_BYTES);
  bit_set(block->digest_valid, page_index, !canonical);
}

uint32_t ram_page_canonical(const struct ram_block *block, uint64_t page_index)
{
  SIM_ASSERT(block->backing == RAM_BACKING_SYNTHETIC);
  SIM_ASSERT(page_index < block->page_count);
  if (!chunk_touched(block, page_index) || bit_test(block->digest_valid, page_index)) return 0;
  return block->generations[page_index];
}

void ram_page_load_zero(struct ram_block *block, uint64_t page_index)
{
  SIM_ASSERT(page_index < block->page_count);
  if (block->backing == RAM_BACKING_DENSE) {
    memset(block->bytes + page_index * RAM_PAGE_BYTES, 0, RAM_PAGE_BYTES);
    return;
  }
  /* Write only what changes: untouched pages of a huge block stay unbacked by the kernel. */
  if (!chunk_touched(block, page_index)) return;
  if (block->generations[page_index] != 0) block->generations[page_index] = 0;
  if (bit_test(block->digest_valid, page_index)) bit_set(block->digest_valid, page_index, false);
}

void ram_page_release(struct ram_block *block, uint64_t page_index)
{
  SIM_ASSERT(page_index < block->page_count);
  block->released_pages_count++;
  if (block->backing == RAM_BACKING_DENSE) {
    uint8_t *page = block->bytes + page_index * RAM_PAGE_BYTES;
    /*
     * Only on x86, whose host page is the 4 KiB target page: elsewhere
     * madvise could round the range up to a 64 KiB host page.  Else (or on a
     * refusal) the page is zeroed: it reads the same either way.
     */
    SIM_ASSERT((uintptr_t)page % RAM_PAGE_BYTES == 0);
#if defined(__x86_64__) || defined(__i386__)
    if (madvise(page, RAM_PAGE_BYTES, MADV_DONTNEED) == 0) return;
#endif
    memset(page, 0, RAM_PAGE_BYTES);
    return;
  }
  if (!chunk_touched(block, page_index)) return;
  block->generations[page_index] = 0;
  bit_set(block->digest_valid, page_index, false);
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

void ram_dirty_clear(struct ram_block *block)
{
  memset(block->dirty_log, 0, block->dirty_words_count * sizeof(uint64_t));
}

void ram_dirty_all(struct ram_block *block)
{
  uint64_t full_words = block->page_count / 64;
  for (uint64_t i = 0; i < full_words; i++) block->dirty_log[i] = ~UINT64_C(0);
  uint64_t tail_bits = block->page_count % 64;
  if (tail_bits != 0) block->dirty_log[full_words] |= (UINT64_C(1) << tail_bits) - 1;
  SIM_ASSERT(full_words + (tail_bits != 0) <= block->dirty_words_count);
}

uint64_t ram_page_hash(const struct ram_block *block, uint64_t page_index)
{
  if (block->backing == RAM_BACKING_DENSE) {
    return XXH3_64bits(ram_page(block, page_index), RAM_PAGE_BYTES);
  }
  SIM_ASSERT(page_index < block->page_count);
  if (!chunk_touched(block, page_index)) return block->zero_hash;
  if (bit_test(block->digest_valid, page_index)) return block->digests[page_index];
  uint32_t generation = block->generations[page_index];
  if (generation == 0) return block->zero_hash;
  uint8_t scratch[RAM_PAGE_BYTES];
  ram_synth_fill(block->synth_pool, block->content_key, page_index, generation, scratch);
  return XXH3_64bits(scratch, RAM_PAGE_BYTES);
}

uint64_t ram_block_hash(const struct ram_block *block)
{
  SIM_ASSERT(block->backing == RAM_BACKING_DENSE);
  return XXH3_64bits(block->bytes, block->used_bytes);
}

uint64_t ram_next_touched(const struct ram_block *block, uint64_t page_index)
{
  if (block->backing == RAM_BACKING_DENSE) return SIM_MIN(page_index, block->page_count);
  /* A loaded page may carry generation 0 (bytes not made here), so both are checked. */
  uint64_t page = page_index;
  while (page < block->page_count) {
    if (!chunk_touched(block, page)) {
      page = (page / RAM_SYNTH_CHUNK_PAGES + 1) * RAM_SYNTH_CHUNK_PAGES;
      continue;
    }
    if (block->generations[page] != 0 || bit_test(block->digest_valid, page)) return page;
    page++;
  }
  return block->page_count;
}
