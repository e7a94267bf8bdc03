/*
 * sim_arena.c: the per-simulation arena (STYLE R19); the contract is in
 * sim_arena.h.
 *
 * Small requests are bump-allocated from 1 MiB chunks obtained with calloc,
 * so every byte handed out is already zero.  A request of a whole chunk or
 * more gets a chunk of its own, which lets the kernel back big dense RAM
 * blocks with lazily zeroed pages; the current small chunk stays open.  All
 * chunks sit on one list and are freed together.  The byte bound counts what
 * was handed out (alignment padding included), not the chunks' slack, so the
 * bound a scenario sets does not depend on the allocation order.
 */
#include "sim_base.h"
#include "sim_arena.h"
#include "sim_limits.h"

/* Size of the chunks small requests share; larger ones get their own chunk. */
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

_Static_assert(SIM_ARENA_CHUNK_BYTES % SIM_ARENA_ALIGN_BYTES == 0, "chunks keep alignment");
_Static_assert(SIM_ARENA_CHUNK_BYTES <= SIM_ARENA_BYTES_MAX, "a chunk fits the bound");

void sim_arena_init(struct sim_arena *arena, uint64_t bytes_max)
{
  SIM_ASSERT(arena != NULL);
  SIM_ASSERT(bytes_max <= SIM_ARENA_BYTES_MAX);
  memset(arena, 0, sizeof(*arena));
  arena->bytes_max = bytes_max;
}

void sim_arena_deinit(struct sim_arena *arena)
{
  SIM_ASSERT(arena != NULL);
  struct sim_arena_chunk *chunk = arena->chunks;
  while (chunk != NULL) {
    struct sim_arena_chunk *next = chunk->next;
    free(chunk);
    chunk = next;
  }
  memset(arena, 0, sizeof(*arena));
}

/* Allocates a zeroed chunk with bytes usable bytes and links it in. */
static uint8_t *chunk_add(struct sim_arena *arena, uint64_t bytes)
{
  SIM_ASSERT(bytes % SIM_ARENA_ALIGN_BYTES == 0);
  if (bytes > SIZE_MAX - SIM_ARENA_HEADER_BYTES) return NULL;
  struct sim_arena_chunk *chunk = calloc(1, (size_t)(SIM_ARENA_HEADER_BYTES + bytes));
  if (chunk == NULL) return NULL;
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
      uint8_t *start = chunk_add(arena, SIM_ARENA_CHUNK_BYTES);
      if (start == NULL) return NULL;
      arena->cursor = start;
      arena->cursor_end = start + SIM_ARENA_CHUNK_BYTES;
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
