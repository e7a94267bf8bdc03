/*
 * rp_fuzz.c: return-path bytes (spec §8) through mig_rp_read and, after each
 * RECV_BITMAP, mig_rp_bitmap_read, as the source reads them.  Byte 0 picks
 * 7.2 or 10.x types (bit 0); the rest is the message sequence.  Two blocks
 * are known: pc.ram (128 MiB) and vga.vram (8 MiB + one page).  STYLE R25:
 * one input format, no I/O.
 *
 * Oracles besides the sanitizers: a rejection carries an offset inside the
 * input and a `return-path/` path; an accepted REQ_PAGES(_ID) range lies
 * inside its block; SHUT is only ever accepted with flag 0.
 */
#include "sim_base.h"

#include "mig_rp.h"
#include "mig_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct mig_rp_block fuzz_blocks[] = {
  {.name = "pc.ram", .used_bytes = UINT64_C(0x8000000)},
  {.name = "vga.vram", .used_bytes = UINT64_C(0x801000)},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1) return 0;
  struct mig_rp_state state;
  mig_rp_state_init(&state, (data[0] & 1) ? MIG_RP_TYPE_MAX_10 : MIG_RP_TYPE_MAX_7_2,
                    MIG_PAGE_BYTES, fuzz_blocks, SIM_ARRAY_COUNT(fuzz_blocks));
  struct mig_reader reader;
  mig_reader_init_memory(&reader, data + 1, size - 1);
  static uint8_t bitmap[4096];
  while (!mig_reader_at_end(&reader)) {
    struct mig_rp_message message;
    if (mig_rp_read(&state, &reader, &message) != MIG_OK) break;
    if (message.type == MIG_RP_REQ_PAGES_ID || message.type == MIG_RP_REQ_PAGES) {
      const struct mig_rp_block *block = &fuzz_blocks[message.block_index];
      SIM_ASSERT(message.length_bytes > 0);
      SIM_ASSERT(message.start + message.length_bytes <= block->used_bytes);
    }
    SIM_ASSERT(message.type != MIG_RP_SHUT || message.value == 0);
    if (message.type == MIG_RP_RECV_BITMAP &&
        mig_rp_bitmap_read(&state, &reader, message.block_index, bitmap, sizeof bitmap) != MIG_OK) {
      break;
    }
  }
  if (mig_reader_failed(&reader)) {
    const struct mig_error *error = mig_reader_error(&reader);
    SIM_ASSERT(error->offset <= size - 1);
    SIM_ASSERT(strncmp(error->path, "return-path/", 12) == 0);
  }
  return 0;
}
