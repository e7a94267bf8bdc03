/*
 * multifd_fuzz.c: one multifd channel's bytes (spec §9.2-§9.3), as a
 * destination reads them: the initial packet, then RAM packets with their
 * payloads (mig_multifd_recv.h), into two small RAM blocks.  STYLE R25: one
 * input format, no I/O, everything created and destroyed per input; byte 0
 * is a selector: bits 0-1 the compression the destination expects (none,
 * zlib, zstd; 3: none), bits 2-3 channels_count - 1, bit 4 a destination
 * UUID (bytes 1..16 of the selector's own pattern) instead of none.
 *
 * Oracles besides the sanitizers: a refusal carries an offset inside the
 * input and a `multifd/` path; the statistics add up (pages per packet
 * within pages_alloc's bound, payload bytes = normal pages * 4 KiB when
 * uncompressed); packets are read until the input ends.
 */
#include "sim_base.h"

#include "fuzz_machine.h"
#include "mig_multifd_recv.h"
#include "mig_stream.h"
#include "ram.h"
#include "sim.h"

#define FUZZ_INPUT_BYTES_MAX (UINT32_C(4) << 20)
#define FUZZ_PACKETS_MAX 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_error(const struct mig_reader *reader, size_t size)
{
  const struct mig_error *error = mig_reader_error(reader);
  SIM_ASSERT(error->offset <= size);
  SIM_ASSERT(strncmp(error->path, "multifd/", 8) == 0);
}

static void fuzz_channel(struct mig_multifd_recv *recv, const uint8_t *input, size_t size,
                         enum mig_multifd_compression compression)
{
  struct mig_reader reader;
  mig_reader_init_memory(&reader, input, size);
  uint32_t channel = UINT32_MAX;
  enum mig_err err = mig_multifd_recv_initial(recv, &reader, &channel);
  for (uint32_t i = 0; err == MIG_OK && i < FUZZ_PACKETS_MAX && !mig_reader_at_end(&reader); i++) {
    bool sync = false;
    err = mig_multifd_recv_packet(recv, channel, &reader, &sync);
  }
  if (err != MIG_OK) fuzz_check_error(&reader, size);
  const struct mig_multifd_recv_stats *stats = mig_multifd_recv_stats(recv);
  SIM_ASSERT(stats->normal_pages_count + stats->zero_pages_count <=
             stats->packets_count * MIG_MULTIFD_PAGES_MAX);
  if (compression == MIG_MULTIFD_COMPRESSION_NONE) {
    SIM_ASSERT(stats->payload_bytes == stats->normal_pages_count * RAM_PAGE_BYTES);
  }
  if (err == MIG_OK) SIM_ASSERT(mig_multifd_recv_syncs(recv, channel) == stats->sync_packets_count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1 || size > FUZZ_INPUT_BYTES_MAX) return 0;
  uint8_t selector = data[0];
  static const enum mig_multifd_compression methods[4] = {
      MIG_MULTIFD_COMPRESSION_NONE, MIG_MULTIFD_COMPRESSION_ZLIB, MIG_MULTIFD_COMPRESSION_ZSTD,
      MIG_MULTIFD_COMPRESSION_NONE};
  struct sim_options sim_options = {.seed = 1, .events_max = 1};
  struct sim *sim = fuzz_sim_create(&sim_options);
  struct ram_block *blocks[2] = {ram_block_create(sim, "pc.ram", 32 * RAM_PAGE_BYTES),
                                 ram_block_create(sim, "pc.bios", 4 * RAM_PAGE_BYTES)};
  struct mig_multifd_recv_options options = {.channels_count = ((selector >> 2) & 3) + 1u,
                                             .compression = methods[selector & 3],
                                             .blocks = blocks, .block_count = 2};
  if ((selector & 0x10) != 0) {
    for (uint32_t i = 0; i < MIG_CONFIG_UUID_BYTES; i++) options.uuid[i] = (uint8_t)(0x11 * i);
  }
  struct mig_multifd_recv *recv = mig_multifd_recv_create(&options);
  fuzz_channel(recv, data + 1, size - 1, options.compression);
  mig_multifd_recv_destroy(recv);
  sim_destroy(sim);
  return 0;
}
