/*
 * ram.h: guest RAM blocks with a dirty log.
 *
 * A block is a named run of dense bytes (QEMU's RAMBlock: "pc.ram",
 * "pc.bios").  Guest writes go through ram_write, which sets the page's bit in
 * the block's dirty log; the migration layer collects the log once per round
 * with ram_dirty_sync, as QEMU's bitmap sync does.  Loading (the destination)
 * writes through ram_page_mut, which does not log.  The synthetic backing of
 * issue 4 will slot in behind the same page accessors.
 */
#ifndef RAM_H
#define RAM_H

#include "sim_base.h"
#include "models_limits.h"
#include "sim.h"

struct ram_block {                         /* arena-owned; read fields, don't write */
  char name[RAM_BLOCK_NAME_BYTES_MAX + 1]; /* RAMBlock idstr, NUL-terminated */
  uint64_t used_bytes;                     /* block length, whole pages */
  uint64_t page_count;                     /* used_bytes / RAM_PAGE_BYTES */
  uint8_t *bytes;                          /* page_count pages, dense */
  uint64_t *dirty_log;                     /* bit per page, set by ram_write */
  uint64_t dirty_words_count;              /* words in dirty_log */
  uint64_t writes_count;                   /* ram_write calls */
};

/* Allocates the block's bytes and log from the sim's arena; bytes is page-aligned. */
struct ram_block *ram_block_create(struct sim *sim, const char *name, uint64_t bytes);
/* A guest write: copies count bytes at offset and logs the touched pages. */
void ram_write(struct ram_block *block, uint64_t offset, const void *bytes, size_t count);
const uint8_t *ram_page(const struct ram_block *block, uint64_t page_index);
/* Writable page for loading; does not touch the dirty log. */
uint8_t *ram_page_mut(struct ram_block *block, uint64_t page_index);
bool ram_page_is_zero(const struct ram_block *block, uint64_t page_index);
/*
 * ORs the dirty log into bitmap (dirty_words_count words), clears the log and
 * returns how many bits were newly set in bitmap.
 */
uint64_t ram_dirty_sync(struct ram_block *block, uint64_t *bitmap);
/* Marks every page in the log (the first sync of a migration sees all RAM). */
void ram_dirty_all(struct ram_block *block);
/* XXH3 of one page, and of the whole block. */
uint64_t ram_page_hash(const struct ram_block *block, uint64_t page_index);
uint64_t ram_block_hash(const struct ram_block *block);

#endif /* RAM_H */
