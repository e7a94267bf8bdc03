/*
 * sim_arena.c: the per-simulation arena (STYLE R19); the contract is in
 * sim_arena.h.
 *
 * Small requests are bump-allocated from chunks obtained with calloc, so
 * every byte handed out is already zero.  The small chunks grow: the first is
 * 64 KiB and each next one doubles, up to 1 MiB.  A small simulation (a fuzz
 * input's destination) then touches a few pages that the allocator recycles,
 * not a fresh 1 MiB mapping per instance; under ASan that halved the
 * whole-stream fuzz target's time per input.  A request of 1 MiB or more
 * gets a chunk of its own, which lets the kernel back big dense RAM blocks
 * with lazily zeroed pages; the current small chunk stays open.  An arena
 * with a pool (sim_arena.h) takes chunks of the exact size from it first and
 * zeroes them whole.  All
 * chunks sit on one list and are freed together.  The byte bound counts what
 * was handed out (alignment padding included), not the chunks' slack, so the
 * bound a scenario sets does not depend on the allocation order.
 */
#include "sim_base.h"
#include "sim_arena.h"
#include "sim_limits.h"

/* The first small chunk's size, and the bound the doubling stops at; requests
   of the bound or more get their own chunk. */
#define SIM_ARENA_CHUNK_BYTES_FIRST (UINT64_C(1) << 16)
#define SIM_ARENA_CHUNK_BYTES (UINT64_C(1) << 20)
/* Every pointer handed out is aligned to this. */
#define SIM_ARENA_ALIGN_BYTES UINT64_C(16)

struct sim_arena_chunk {
  struct sim_arena_chunk *next;  /* older chunk, or NULL */
  uint64_t bytes;                /* usable bytes after this header */
};

/* The header is padded so the usable bytes start 16-byte aligned. */
#define SIM_ARENA_HEADER_BYTES \
  ((sizeof(struct sim_arena_chunk) + SIM_ARENA_ALIGN_BYTES - 1) & ~(SIM_ARENA_ALIGN_BYTES - 1))

_Static_assert(SIM_ARENA_CHUNK_BYTES_FIRST % SIM_ARENA_ALIGN_BYTES == 0, "chunks keep alignment");
_Static_assert(SIM_ARENA_CHUNK_BYTES_FIRST <= SIM_ARENA_CHUNK_BYTES, "chunks grow to the bound");
_Static_assert(SIM_ARENA_CHUNK_BYTES <= SIM_ARENA_BYTES_MAX, "a chunk fits the bound");

void sim_arena_pool_init(struct sim_arena_pool *pool, uint64_t bytes_max)
{
  SIM_ASSERT(pool != NULL);
  memset(pool, 0, sizeof(*pool));
  pool->bytes_max = bytes_max;
}

static void chunks_free(struct sim_arena_chunk *chunk)
{
  while (chunk != NULL) {
    struct sim_arena_chunk *next = chunk->next;
    free(chunk);
    chunk = next;
  }
}

void sim_arena_pool_deinit(struct sim_arena_pool *pool)
{
  SIM_ASSERT(pool != NULL);
  chunks_free(pool->chunks);
  memset(pool, 0, sizeof(*pool));
}

/* Unlinks and returns a pooled chunk of exactly bytes usable bytes, or NULL. */
static struct sim_arena_chunk *pool_take(struct sim_arena_pool *pool, uint64_t bytes)
{
  for (struct sim_arena_chunk **link = &pool->chunks; *link != NULL; link = &(*link)->next) {
    struct sim_arena_chunk *chunk = *link;
    if (chunk->bytes != bytes) continue;
    *link = chunk->next;
    SIM_ASSERT(pool->bytes >= bytes);
    pool->bytes -= bytes;
    return chunk;
  }
  return NULL;
}

void sim_arena_init(struct sim_arena *arena, uint64_t bytes_max, struct sim_arena_pool *pool)
{
  SIM_ASSERT(arena != NULL);
  SIM_ASSERT(bytes_max <= SIM_ARENA_BYTES_MAX);
  memset(arena, 0, sizeof(*arena));
  arena->bytes_max = bytes_max;
  arena->pool = pool;
  arena->chunk_bytes_next = SIM_ARENA_CHUNK_BYTES_FIRST;
}

void sim_arena_deinit(struct sim_arena *arena)
{
  SIM_ASSERT(arena != NULL);
  struct sim_arena_pool *pool = arena->pool;
  struct sim_arena_chunk *chunk = arena->chunks;
  while (chunk != NULL && pool != NULL) {
    struct sim_arena_chunk *next = chunk->next;
    if (chunk->bytes > pool->bytes_max - pool->bytes) break;
    chunk->next = pool->chunks;
    pool->chunks = chunk;
    pool->bytes += chunk->bytes;
    chunk = next;
  }
  chunks_free(chunk);
  memset(arena, 0, sizeof(*arena));
}

/* Allocates a zeroed chunk with bytes usable bytes and links it in. */
static uint8_t *chunk_add(struct sim_arena *arena, uint64_t bytes)
{
  SIM_ASSERT(bytes % SIM_ARENA_ALIGN_BYTES == 0);
  if (bytes > SIZE_MAX - SIM_ARENA_HEADER_BYTES) return NULL;
  struct sim_arena_chunk *chunk = arena->pool != NULL ? pool_take(arena->pool, bytes) : NULL;
  if (chunk != NULL) {
    memset((uint8_t *)chunk + SIM_ARENA_HEADER_BYTES, 0, (size_t)bytes);
  } else {
    chunk = calloc(1, (size_t)(SIM_ARENA_HEADER_BYTES + bytes));
    if (chunk == NULL) return NULL;
  }
  SIM_ASSERT((uintptr_t)chunk % SIM_ARENA_ALIGN_BYTES == 0);
  chunk->next = arena->chunks;
  chunk->bytes = bytes;
  arena->chunks = chunk;
  return (uint8_t *)chunk + SIM_ARENA_HEADER_BYTES;
}

void *sim_arena_alloc(struct sim_arena *arena, uint64_t bytes)
{
  SIM_ASSERT(arena != NULL);
  /* A zero-byte request still gets a distinct pointer. */
  if (bytes == 0) bytes = 1;
  if (bytes > arena->bytes_max - arena->bytes_used) return NULL;
  uint64_t rounded = (bytes + SIM_ARENA_ALIGN_BYTES - 1) & ~(SIM_ARENA_ALIGN_BYTES - 1);
  if (rounded > arena->bytes_max - arena->bytes_used) return NULL;
  uint8_t *result;
  if (rounded >= SIM_ARENA_CHUNK_BYTES) {
    result = chunk_add(arena, rounded);
    if (result == NULL) return NULL;
  } else {
    /* No small chunk yet (cursor NULL) or not enough left in the newest one. */
    if (arena->cursor == NULL || (uint64_t)(arena->cursor_end - arena->cursor) < rounded) {
      uint64_t chunk_bytes = arena->chunk_bytes_next;
      while (chunk_bytes < rounded) chunk_bytes *= 2;  /* stays below the bound: rounded does */
      SIM_ASSERT(chunk_bytes <= SIM_ARENA_CHUNK_BYTES);
      uint8_t *start = chunk_add(arena, chunk_bytes);
      if (start == NULL) return NULL;
      arena->cursor = start;
      arena->cursor_end = start + chunk_bytes;
      arena->chunk_bytes_next = chunk_bytes < SIM_ARENA_CHUNK_BYTES ? chunk_bytes * 2
                                                                    : SIM_ARENA_CHUNK_BYTES;
    }
    result = arena->cursor;
    arena->cursor += rounded;
  }
  arena->bytes_used += rounded;
  SIM_ASSERT((uintptr_t)result % SIM_ARENA_ALIGN_BYTES == 0);
  SIM_ASSERT(arena->bytes_used <= arena->bytes_max);
  return result;
}

uint64_t sim_arena_bytes_used(const struct sim_arena *arena)
{
  SIM_ASSERT(arena != NULL);
  SIM_ASSERT(arena->bytes_used <= arena->bytes_max);
  return arena->bytes_used;
}
