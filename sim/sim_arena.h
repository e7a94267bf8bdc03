/*
 * sim_arena.h: one arena per simulation instance (STYLE R19).
 *
 * Memory is handed out zeroed and freed all at once by sim_arena_deinit.
 * Large requests (>= 1 MiB) get their own calloc'd chunk so the kernel's
 * lazily zeroed pages back big dense RAM blocks cheaply.
 */
#ifndef SIM_ARENA_H
#define SIM_ARENA_H

#include "sim_base.h"

struct sim_arena_chunk;

struct sim_arena {                  /* caller-owned storage; fields private */
  struct sim_arena_chunk *chunks;   /* singly linked, newest first */
  uint8_t *cursor;                  /* next free byte of the newest small chunk */
  uint8_t *cursor_end;              /* end of the newest small chunk */
  uint64_t bytes_used;              /* bytes handed out, alignment included */
  uint64_t bytes_max;               /* allocation fails beyond this */
};

void sim_arena_init(struct sim_arena *arena, uint64_t bytes_max);
void sim_arena_deinit(struct sim_arena *arena);
/* Returns zeroed memory aligned to 16 bytes, or NULL past bytes_max. */
void *sim_arena_alloc(struct sim_arena *arena, uint64_t bytes);
uint64_t sim_arena_bytes_used(const struct sim_arena *arena);

#endif /* SIM_ARENA_H */
