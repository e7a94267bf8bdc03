/*
 * cmd_fuzz.c: command records (spec §7: OPEN_RETURN_PATH, PING, the
 * postcopy commands with DISCARD's ranges, PACKAGED and its nested stream,
 * RECV_BITMAP, RESUME) and the records around them, appended to a header
 * and the configuration of fuzz-small.json's machine.  STYLE R25: one input
 * format, no I/O, everything created and destroyed per input; byte 0 is a
 * selector:
 *
 *   bit 0   postcopy-ram on here: a postcopy destination (mig_postcopy.h,
 *           over a uffd of the machine's blocks) takes the commands;
 *           off: postcopy commands are refused (mig_policy postcopy_refused)
 *   bit 1   a PING hook (the return path is served)
 *   bit 2   the walker (mig_inspect_walk: DISCARD, ADVISE and RECV_BITMAP
 *           bodies checked) instead of the loader
 *
 * Oracles besides the sanitizers: a refusal carries an offset inside the
 * stream; return-path messages the destination sends are well formed (at
 * most 512 payload bytes, a known type); RUN is announced at most once per
 * load; with the hook, every PING the loader counts reached it.
 */
#include "sim_base.h"

#include "fuzz_machine.h"
#include "fuzz_mutator.h"
#include "mig_inspect.h"
#include "mig_load.h"
#include "mig_postcopy.h"
#include "sim.h"
#include "uffd.h"

#define FUZZ_INPUT_BYTES_MAX (UINT32_C(1) << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FUZZ_CUSTOM_MUTATOR(.shape = FUZZ_SHAPE_RECORDS, .prefix_bytes = 1)

struct fuzz_cmd {
  struct mig_postcopy_dest postcopy;
  uint64_t rp_messages_count, runs_count, pings_count;
};

static void fuzz_rp_send(void *context, uint16_t type, const uint8_t *payload,
                         uint16_t payload_bytes, const uint8_t *tail, uint64_t tail_bytes)
{
  struct fuzz_cmd *cmd = context;
  SIM_ASSERT(type > MIG_RP_INVALID && type < MIG_RP_TYPE_MAX_10);
  SIM_ASSERT(payload_bytes <= MIG_RP_MESSAGE_BYTES_MAX);
  SIM_ASSERT(payload_bytes == 0 || payload != NULL);
  SIM_ASSERT(tail_bytes == 0 || tail != NULL);
  cmd->rp_messages_count++;
}

static void fuzz_run(void *context)
{
  struct fuzz_cmd *cmd = context;
  cmd->runs_count++;
}

static void fuzz_ping(void *context, uint32_t value)
{
  struct fuzz_cmd *cmd = context;
  (void)value;
  cmd->pings_count++;
}

static enum mig_err fuzz_command(void *context, struct mig_reader *reader,
                                 const struct mig_record *record)
{
  return mig_postcopy_dest_command(context, reader, record);
}

static enum mig_err fuzz_placed(void *context, struct mig_reader *reader, uint32_t channel,
                                uint32_t block_index, uint64_t page_index, uint64_t offset)
{
  return mig_postcopy_dest_page(context, reader, channel, block_index, page_index, offset);
}

static enum mig_err fuzz_finish(void *context, struct mig_reader *reader)
{
  return mig_postcopy_dest_finish(context, reader);
}

static void fuzz_load(const uint8_t *stream, size_t count, uint8_t selector)
{
  struct sim_options options = {.seed = 1, .events_max = 1000};
  struct sim *sim = fuzz_sim_create(&options);
  struct machine_config config = fuzz_machine_config();
  struct machine *machine = machine_create(sim, &config, 1);
  struct fuzz_cmd *cmd = calloc(1, sizeof *cmd);
  SIM_ASSERT(cmd != NULL);
  struct mig_load_postcopy postcopy = {.context = &cmd->postcopy, .command = fuzz_command,
                                       .placed = fuzz_placed, .finish = fuzz_finish};
  struct mig_load_options load = {.ping = (selector & 2) != 0 ? fuzz_ping : NULL,
                                  .ping_context = cmd};
  if ((selector & 1) != 0) {
    struct ram_block *blocks[2] = {machine_ram(machine, 0), machine_ram(machine, 1)};
    struct uffd *uffd = uffd_create(sim, blocks, 2, 1);
    machine_uffd_set(machine, uffd);
    struct mig_postcopy_dest_hooks hooks = {.context = cmd, .rp_send = fuzz_rp_send,
                                            .run = fuzz_run};
    mig_postcopy_dest_init(&cmd->postcopy, sim, uffd, &hooks);
    load.postcopy = &postcopy;
  }
  struct mig_reader reader;
  mig_reader_init_memory(&reader, stream, count);
  struct mig_load_stats stats;
  enum mig_err err = mig_load_machine_with(&reader, machine, &load, &stats);
  SIM_ASSERT(err == MIG_OK || mig_reader_error(&reader)->offset <= count);
  SIM_ASSERT(cmd->runs_count <= 1);
  if ((selector & 2) != 0) SIM_ASSERT(cmd->pings_count == stats.pings_count);
  free(cmd);
  sim_destroy(sim);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1 || size > FUZZ_INPUT_BYTES_MAX) return 0;
  size_t count = 0;
  uint8_t *stream = fuzz_prefixed(FUZZ_PREFIX_CONFIGURATION, data + 1, size - 1, &count);
  if ((data[0] & 4) != 0) {
    struct mig_inspect inspect;
    struct mig_error error;
    enum mig_err code = mig_inspect_walk(stream, count, &inspect, NULL, &error);
    SIM_ASSERT(code == MIG_OK || error.offset <= count);
    mig_inspect_deinit(&inspect);
  } else {
    fuzz_load(stream, count, data[0]);
  }
  free(stream);
  return 0;
}
