/*
 * sim_arena.h: one arena per simulation instance (STYLE R19).
 *
 * Memory is handed out zeroed and freed all at once by sim_arena_deinit.
 * Small requests share chunks that grow from 64 KiB to 1 MiB; large requests
 * (>= 1 MiB) get their own calloc'd chunk so the kernel's
 * lazily zeroed pages back big dense RAM blocks cheaply.
 */
#ifndef SIM_ARENA_H
#define SIM_ARENA_H

#include "sim_base.h"

struct sim_arena_chunk;

/*
 * A pool of chunks that outlives arenas: an arena given one takes chunks of
 * the size it needs from it (zeroed again) and returns every chunk to it at
 * deinit, up to bytes_max in the pool; the rest is freed.  For a caller that
 * builds the same small simulation again and again (a fuzz target, one input
 * each): its allocations then recycle memory it has touched instead of
 * mapping and faulting in fresh pages per instance.  What an arena hands out
 * is zero whether or not it came from the pool.
 */
struct sim_arena_pool {             /* caller-owned storage; fields private */
  struct sim_arena_chunk *chunks;   /* singly linked, most recently returned first */
  uint64_t bytes;                   /* usable bytes of the pooled chunks */
  uint64_t bytes_max;
};

void sim_arena_pool_init(struct sim_arena_pool *pool, uint64_t bytes_max);
void sim_arena_pool_deinit(struct sim_arena_pool *pool);

struct sim_arena {                  /* caller-owned storage; fields private */
  struct sim_arena_pool *pool;      /* or NULL */
  struct sim_arena_chunk *chunks;   /* singly linked, newest first */
  uint8_t *cursor;                  /* next free byte of the newest small chunk */
  uint8_t *cursor_end;              /* end of the newest small chunk */
  uint64_t bytes_used;              /* bytes handed out, alignment included */
  uint64_t bytes_max;               /* allocation fails beyond this */
  uint64_t chunk_bytes_next;        /* size of the next small chunk (they double) */
};

/* pool may be NULL; it must outlive the arena. */
void sim_arena_init(struct sim_arena *arena, uint64_t bytes_max, struct sim_arena_pool *pool);
void sim_arena_deinit(struct sim_arena *arena);
/* Returns zeroed memory aligned to 16 bytes, or NULL past bytes_max. */
void *sim_arena_alloc(struct sim_arena *arena, uint64_t bytes);
uint64_t sim_arena_bytes_used(const struct sim_arena *arena);

#endif /* SIM_ARENA_H */
