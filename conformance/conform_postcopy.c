/*
 * conform_postcopy.c: switchover equality for postcopy (overview in
 * conform_postcopy.h).  Both checks compare shallow copies of two
 * snapshots: without RAM at RUN, without fields and without the pages the
 * destination's guest wrote when the load ends.
 */
#include "sim_base.h"

#include "conform_postcopy.h"

bool conform_postcopy_run_check(const struct conform_snapshot *switchover, struct machine *dest,
                                const struct machine *layout, char *failure,
                                size_t failure_bytes)
{
  struct conform_snapshot here;
  conform_snapshot_take_fields_as(&here, dest, layout, switchover->guest_visible_only);
  struct conform_snapshot a = *switchover, b = here;
  a.ram_count = 0;
  bool equal = conform_snapshot_diff(&a, &b, failure, failure_bytes);
  conform_snapshot_deinit(&here);
  /* From here on, the guest's own writes mark their pages. */
  for (uint32_t i = 0; i < machine_ram_count(dest); i++) ram_dirty_clear(machine_ram(dest, i));
  return equal;
}

static bool page_written(const struct ram_block *block, uint64_t page)
{
  return (block->dirty_log[page / 64] >> (page % 64) & 1) != 0;
}

/* The snapshot's pages of block index b the guest did not write; malloc'd into *out. */
static uint64_t pages_unwritten(const struct conform_snapshot *snapshot, uint32_t b,
                                const struct ram_block *block, struct conform_page_hash **out)
{
  uint64_t count = snapshot->ram_pages_count[b];
  struct conform_page_hash *kept = malloc(SIM_MAX(count, 1u) * sizeof(*kept));
  SIM_ASSERT(kept != NULL);
  uint64_t n = 0;
  for (uint64_t i = 0; i < count; i++) {
    const struct conform_page_hash *page = &snapshot->ram_pages[b][i];
    if (page->page_index < block->page_count && page_written(block, page->page_index)) continue;
    kept[n++] = *page;
  }
  *out = kept;
  return n;
}

bool conform_postcopy_loaded_check(const struct conform_snapshot *switchover,
                                   const struct machine *dest, const struct machine *layout,
                                   char *failure, size_t failure_bytes)
{
  struct conform_snapshot here;
  conform_snapshot_take_as(&here, dest, layout, switchover->guest_visible_only);
  struct conform_snapshot a = *switchover, b = here;
  a.field_count = 0;
  b.field_count = 0;
  uint32_t count = SIM_MIN(a.ram_count, machine_ram_count(dest));
  SIM_ASSERT(b.ram_count == count);
  for (uint32_t i = 0; i < count; i++) {
    const struct ram_block *block = machine_ram(dest, i);
    a.ram_pages_count[i] = pages_unwritten(switchover, i, block, &a.ram_pages[i]);
    b.ram_pages_count[i] = pages_unwritten(&here, i, block, &b.ram_pages[i]);
  }
  bool equal = conform_snapshot_diff(&a, &b, failure, failure_bytes);
  for (uint32_t i = 0; i < count; i++) {
    free(a.ram_pages[i]);
    free(b.ram_pages[i]);
  }
  conform_snapshot_deinit(&here);
  return equal;
}
