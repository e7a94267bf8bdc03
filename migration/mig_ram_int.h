/*
 * mig_ram_int.h: the RAM section's internals shared inside migration/
 * (postcopy continues precopy's migration bitmaps, mig_postcopy.c).
 */
#ifndef MIG_RAM_INT_H
#define MIG_RAM_INT_H

#include "sim_base.h"
#include "mig_ram.h"

/*
 * Writes one ZERO or PAGE record for a dirty page and clears its bit;
 * *last_block is the channel's CONTINUE state (main or preempt).
 */
void mig__ram_save_page(struct mig_ram_source *source, struct mig_writer *writer,
                        uint32_t block_index, uint64_t page_index,
                        const struct ram_block **last_block);

#endif /* MIG_RAM_INT_H */
