/*
 * mig_plug.c: postcopy plugged into the engine, both sides, and the ext
 * hooks (overview in mig_plug.h; connections and multifd in
 * mig_plug_conn.c).
 *
 * The source's postcopy phase runs on the engine's source fiber from
 * source_switch to the end: it owns the main channel's writer from then
 * on.  The destination's postcopy side is mig_postcopy_dest, called by the
 * loader on the engine's destination fiber.  Waits on either side poll
 * every POLL_NS of simulated time: they are rare (a recovery, the end).
 */
#include "sim_base.h"

#include "mig_plug_int.h"
#include "mig_save.h"

#include <jansson.h>

#define POLL_NS (SIM_NS_PER_MS)
#define PACKAGE_BYTES_MAX (UINT32_C(16) << 20)

static struct mig_plug *plug_of(void *context) { return context; }

/* ------------------------------------------------------- the return path */

/* Destination: bytes for the source, queued while the return path's window is full. */
static void rp_out_flush(struct mig_plug *plug)
{
  struct link *link = plug->precopy->rp_link;
  if (plug->rp_out_count == 0 || link == NULL || link_closed(link)) return;
  size_t sent = link_send(link, plug->rp_out, plug->rp_out_count);
  memmove(plug->rp_out, plug->rp_out + sent, plug->rp_out_count - sent);
  plug->rp_out_count -= sent;
}

static void rp_on_writable(void *context) { rp_out_flush(context); }

static void rp_out_append(struct mig_plug *plug, const uint8_t *bytes, uint64_t count)
{
  if (plug->rp_out_count + count > plug->rp_out_capacity) {
    uint64_t capacity = SIM_MAX(plug->rp_out_capacity * 2, plug->rp_out_count + count);
    plug->rp_out = realloc(plug->rp_out, capacity);
    SIM_ASSERT(plug->rp_out != NULL);
    plug->rp_out_capacity = capacity;
  }
  memcpy(plug->rp_out + plug->rp_out_count, bytes, count);
  plug->rp_out_count += count;
}

/* mig_postcopy_dest's rp_send: header, payload and the §8.4 body, in order. */
static void plug_rp_send(void *context, uint16_t type, const uint8_t *payload,
                         uint16_t payload_bytes, const uint8_t *tail, uint64_t tail_bytes)
{
  struct mig_plug *plug = context;
  if (plug->precopy->rp_link == NULL) return;
  uint8_t header[MIG_RP_HEADER_BYTES];
  mig_rp_header(type, payload_bytes, header);
  sim_trace(plug->sim, "mig.rp.send", type, payload_bytes, tail_bytes, 0);
  rp_out_append(plug, header, MIG_RP_HEADER_BYTES);
  if (payload_bytes > 0) rp_out_append(plug, payload, payload_bytes);
  if (tail_bytes > 0) rp_out_append(plug, tail, tail_bytes);
  rp_out_flush(plug);
}

/* Source: a page request the engine's return path passed on (mig_rp_read checked it). */
static enum mig_err plug_request(struct mig_plug *plug, const struct mig_rp_message *message)
{
  if (!plug->switched) return MIG_ERR_BAD_COMMAND;  /* no page is asked for in precopy */
  SIM_ASSERT(message->block_index >= 0);
  return mig_postcopy_source_request(&plug->source, (uint32_t)message->block_index,
                                     message->start, message->length_bytes);
}

static enum mig_err plug_source_rp(void *context, struct mig_precopy *precopy,
                                   const struct mig_rp_message *message)
{
  struct mig_plug *plug = plug_of(context);
  (void)precopy;
  if (message->type == MIG_RP_REQ_PAGES || message->type == MIG_RP_REQ_PAGES_ID) {
    return plug_request(plug, message);
  }
  /* The postcopy milestones' PINGs (2 discarded, 3 package loaded, 4 package sent). */
  if (message->type == MIG_RP_PONG && plug->switched && message->value >= 2 &&
      message->value <= 4) {
    return MIG_OK;
  }
  return MIG_ERR_BAD_COMMAND;
}

/* Source, recovered return path: one whole message (with its bitmap body) in rp_bytes. */
static enum mig_err rp_recovered_message(struct mig_plug *plug, uint64_t *used)
{
  struct mig_reader reader;
  mig_reader_init_memory(&reader, plug->rp_bytes, plug->rp_count);
  struct mig_rp_message message;
  enum mig_err err = mig_rp_read(&plug->rp_state, &reader, &message);
  if (err == MIG_ERR_TRUNCATED) return err;
  if (err == MIG_OK && message.type == MIG_RP_RECV_BITMAP) {
    const struct ram_block *block = plug->source_blocks[message.block_index];
    uint64_t size = mig_rp_bitmap_bytes(block->used_bytes);
    uint8_t *bitmap = malloc(size);
    SIM_ASSERT(bitmap != NULL);
    err = mig_rp_bitmap_read(&plug->rp_state, &reader, message.block_index, bitmap, size);
    if (err == MIG_OK) {
      err = mig_postcopy_source_bitmap(&plug->source, (uint32_t)message.block_index, bitmap,
                                       size);
    }
    free(bitmap);
    if (err == MIG_ERR_TRUNCATED) return err;
  } else if (err == MIG_OK && message.type == MIG_RP_RESUME_ACK) {
    plug->resume_acked = true;
  } else if (err == MIG_OK && message.type == MIG_RP_SHUT) {
    plug->precopy->stats.shut_ns = sim_now_ns(plug->sim);
  } else if (err == MIG_OK &&
             (message.type == MIG_RP_REQ_PAGES || message.type == MIG_RP_REQ_PAGES_ID)) {
    err = plug_request(plug, &message);
  }
  *used = mig_reader_offset(&reader);
  if (err == MIG_OK) plug->precopy->stats.rp_messages_count++;
  return err;
}

/* Source: bytes of the recovered return path, gathered until each message is whole. */
static void rp_recovered_deliver(void *context, const uint8_t *bytes, size_t count)
{
  struct mig_plug *plug = context;
  struct mig_precopy *precopy = plug->precopy;
  if (count == 0 || precopy->rp_error.code != MIG_OK) return;
  if (plug->rp_count + count > plug->rp_capacity) {
    plug->rp_capacity = SIM_MAX(plug->rp_capacity * 2, plug->rp_count + count);
    plug->rp_bytes = realloc(plug->rp_bytes, plug->rp_capacity);
    SIM_ASSERT(plug->rp_bytes != NULL);
  }
  memcpy(plug->rp_bytes + plug->rp_count, bytes, count);
  plug->rp_count += count;
  for (;;) {
    uint64_t used = 0;
    enum mig_err err = plug->rp_count == 0 ? MIG_ERR_TRUNCATED
                                           : rp_recovered_message(plug, &used);
    if (err == MIG_ERR_TRUNCATED) break;
    if (err != MIG_OK) {
      precopy->rp_error = (struct mig_error){.code = err, .offset = precopy->rp_offset};
      snprintf(precopy->rp_error.path, sizeof(precopy->rp_error.path), "return-path");
      snprintf(precopy->rp_error.detail, sizeof(precopy->rp_error.detail),
               "recovered return path: message refused");
      return;
    }
    memmove(plug->rp_bytes, plug->rp_bytes + used, plug->rp_count - used);
    plug->rp_count -= used;
    precopy->rp_offset += used;
  }
}

static void link_ignore(void *context, const uint8_t *bytes, size_t count)
{
  (void)context;
  (void)bytes;
  (void)count;
}

/* ---------------------------------------------------------------- source */

static void plug_source_setup(void *context, struct mig_precopy *precopy,
                              struct mig_writer *writer)
{
  struct mig_plug *plug = plug_of(context);
  if (plug->options.postcopy) {
    /* Page requests name the source's blocks: mig_rp_read checks them against these. */
    mig_rp_state_init(&precopy->rp_state, MIG_RP_TYPE_MAX_10, MIG_PAGE_BYTES, plug->rp_blocks,
                      plug->block_count);
    mig_postcopy_save_advise(writer, plug->source_blocks, plug->block_count);
  }
  if (plug->options.multifd) mig__plug_multifd_setup(plug);
}

static bool plug_switch_wanted(void *context, struct mig_precopy *precopy,
                               uint64_t pending_bytes, uint64_t threshold_bytes)
{
  struct mig_plug *plug = plug_of(context);
  (void)pending_bytes;
  /* QEMU 7.2: only the precopy-only part (device data) must fit the threshold. */
  return plug->start_requested && mig_live_set_save_pending(&precopy->lives) <= threshold_bytes;
}

/* The package: LISTEN, every device's FULL section, PING(3), RUN; then PACKAGED and PING(4). */
static bool source_package(struct mig_plug *plug, struct mig_writer *writer)
{
  struct mig_precopy *precopy = plug->precopy;
  struct mig_membuf package;
  mig_membuf_init(&package, PACKAGE_BYTES_MAX);
  uint8_t *buffer = malloc(MIG_WRITER_BUFFER_BYTES);
  SIM_ASSERT(buffer != NULL);
  struct mig_writer pw;
  mig_writer_init(&pw, buffer, MIG_WRITER_BUFFER_BYTES, mig_membuf_write, &package);
  mig_postcopy_package_begin(&pw);
  json_t *devices = json_array();
  struct mig_error save_error;
  enum mig_err err = mig_save_devices_checked(&pw, precopy->source, devices, &save_error);
  json_decref(devices);
  mig_postcopy_package_end(&pw);
  if (err == MIG_OK) err = mig_writer_flush(&pw);
  if (err == MIG_OK) {
    mig_postcopy_save_packaged(&plug->source, writer, package.bytes, (uint32_t)package.count);
  }
  free(buffer);
  mig_membuf_deinit(&package);
  if (err == MIG_OK) return true;
  precopy->stats.source_failed = true;
  precopy->stats.error = save_error;
  mig__precopy_source_state(precopy, MIG_STATE_FAILED);
  return false;
}

static void source_stats_update(struct mig_plug *plug)
{
  struct mig_precopy *precopy = plug->precopy;
  precopy->stats.zero_pages_count = precopy->ram.zero_pages_count;
  precopy->stats.normal_pages_count = precopy->ram.normal_pages_count;
  precopy->stats.remaining_bytes =
      mig_postcopy_pending_pages(&plug->source) * (uint64_t)MIG_PAGE_BYTES;
  precopy->stats.postcopy_requests = plug->source.stats.requests_count;
}

/* Source: wait in simulated time until done(plug); false when the fiber is torn down. */
static bool source_wait(struct mig_plug *plug, bool (*done)(const struct mig_plug *plug))
{
  while (!done(plug)) {
    struct mig_precopy *precopy = plug->precopy;
    if (!mig__precopy_source_sleep_until(precopy, sim_now_ns(plug->sim) + POLL_NS)) return false;
  }
  return true;
}

static bool recover_asked(const struct mig_plug *plug) { return plug->recover_requested; }
static bool bitmaps_in(const struct mig_plug *plug)
{
  return mig_postcopy_source_bitmaps_done(&plug->source) || plug->precopy->rp_error.code;
}
static bool resume_acked(const struct mig_plug *plug)
{
  return plug->resume_acked || plug->precopy->rp_error.code != MIG_OK;
}

/*
 * Source in postcopy-paused: waits for migrate-recover, then on the new
 * channel RECV_BITMAP per block, the bitmaps, POSTCOPY_RESUME, RESUME_ACK.
 */
static bool source_recover(struct mig_plug *plug)
{
  struct mig_precopy *precopy = plug->precopy;
  if (!source_wait(plug, recover_asked)) return false;
  mig__precopy_source_state(precopy, MIG_STATE_POSTCOPY_RECOVER);
  struct mig_writer *writer = &precopy->writer;
  mig_postcopy_save_recv_bitmaps(&plug->source, writer);
  mig_writer_flush(writer);
  if (!source_wait(plug, bitmaps_in)) return false;
  if (precopy->rp_error.code != MIG_OK) return false;
  mig_postcopy_save_resume(writer);
  mig_writer_flush(writer);
  if (!source_wait(plug, resume_acked) || precopy->rp_error.code != MIG_OK) return false;
  plug->recover_requested = false;
  plug->source_paused = false;
  plug->recoveries_count++;
  mig__precopy_source_state(precopy, MIG_STATE_POSTCOPY_ACTIVE);
  sim_trace(plug->sim, "mig.postcopy.recovered", plug->source.stats.resent_pages_count,
            plug->source.stats.bitmaps_count, 0, 0);
  return true;
}

/* The urgent channel's writer: the preempt connection, unless a recovery dropped it. */
static struct mig_writer *source_urgent(struct mig_plug *plug)
{
  if (plug->preempt == NULL || plug->recoveries_count > 0) return NULL;
  return &plug->preempt->writer;
}

/*
 * The main connection reset under postcopy-active (a carried link broke, or
 * the raw link's reset fault): QEMU pauses instead of failing, since the
 * destination runs the VM; migrate-recover goes on from there.
 */
static bool source_lost_pauses(struct mig_plug *plug)
{
  struct mig_precopy *precopy = plug->precopy;
  if (!link_broken(precopy->link) && !precopy->conn_reset) return false;
  sim_trace(plug->sim, "mig.postcopy.conn_lost", precopy->stats.transferred_bytes, 0, 0, 0);
  return mig_plug_pause(plug);
}

/* The postcopy phase's PART sections until no page is left; false when it ended badly. */
static bool source_pages(struct mig_plug *plug)
{
  struct mig_precopy *precopy = plug->precopy;
  struct mig_writer *writer = &precopy->writer;
  while (mig_postcopy_pending_pages(&plug->source) > 0 || plug->source_paused) {
    if (plug->source_paused || source_lost_pauses(plug)) {
      if (!source_recover(plug)) return false;
      continue;
    }
    if (precopy->rp_error.code != MIG_OK) return false;
    mig_save_section_short_header(writer, MIG_SECTION_PART, MIG_SAVE_RAM_SECTION_ID);
    mig_postcopy_save_iterate(&plug->source, writer, source_urgent(plug),
                              precopy->params.section_pages_max);
    mig_save_footer(writer, MIG_SAVE_RAM_SECTION_ID);
    mig_writer_flush(writer);
    precopy->stats.sections_count++;
    source_stats_update(plug);
    if (plug->source_paused || source_lost_pauses(plug)) continue;
    if (mig_writer_error(writer) != MIG_OK) return false;
    /* Requests arrive between sections, as the return-path thread's would. */
    if (!mig__precopy_source_sleep_until(precopy, sim_now_ns(plug->sim))) return false;
  }
  return true;
}

static bool dest_done(const struct mig_plug *plug)
{
  return mig_state_final(plug->precopy->stats.dest_status);
}

/* END(ram), the preempt channel's EOS, EOF: the stream is whole; completed when the dest runs. */
static void source_complete(struct mig_plug *plug)
{
  struct mig_precopy *precopy = plug->precopy;
  struct mig_writer *writer = &precopy->writer;
  mig_save_section_short_header(writer, MIG_SECTION_END, MIG_SAVE_RAM_SECTION_ID);
  mig_writer_be64(writer, MIG_RAM_FLAG_EOS);
  mig_save_footer(writer, MIG_SAVE_RAM_SECTION_ID);
  mig_writer_u8(writer, MIG_SECTION_EOF);
  if (mig_writer_flush(writer) != MIG_OK) return;
  struct mig_writer *urgent = source_urgent(plug);
  if (urgent != NULL) mig_postcopy_save_preempt_end(urgent);
  if (plug->preempt != NULL && !link_closed(plug->preempt->link)) link_close(plug->preempt->link);
  mig__plug_multifd_close(plug);
  link_close(precopy->link);
  precopy->stream_whole = true;
  sim_trace(plug->sim, "mig.stream_whole", precopy->stats.transferred_bytes, 0, 0, 0);
  source_stats_update(plug);
  if (!source_wait(plug, dest_done)) return;
  if (precopy->stats.dest_status == MIG_STATE_COMPLETED) {
    mig__precopy_source_state(precopy, MIG_STATE_COMPLETED);
  } else if (mig_state_running(precopy->stats.status)) {
    mig__precopy_source_state(precopy, MIG_STATE_FAILED);
  }
}

/* migrate-start-postcopy's switch, the VM stopped: discard, package, then the pages. */
static void plug_source_switch(void *context, struct mig_precopy *precopy,
                               struct mig_writer *writer)
{
  struct mig_plug *plug = plug_of(context);
  plug->switched = true;
  mig__precopy_source_state(precopy, MIG_STATE_POSTCOPY_ACTIVE);
  machine_stop(precopy->source);
  precopy->rate_limited = false;  /* max-postcopy-bandwidth 0: unlimited */
  precopy->stats.stop_ns = sim_now_ns(plug->sim);
  precopy->stats.postcopy_start_ns = precopy->stats.stop_ns;
  if (precopy->hooks.switchover != NULL) precopy->hooks.switchover(precopy->hooks.context);
  mig_postcopy_save_discard(&plug->source, writer);
  precopy->stats.pending_bytes_at_stop =
      mig_postcopy_pending_pages(&plug->source) * (uint64_t)MIG_PAGE_BYTES;
  sim_trace(plug->sim, "mig.stop", precopy->stats.pending_bytes_at_stop, 0, 0, 1);
  if (!source_package(plug, writer)) {
    link_close(precopy->link);
    return;
  }
  mig_writer_flush(writer);
  if (plug->preempt != NULL) mig__plug_conn_start(plug->preempt);
  if (!source_pages(plug)) {
    if (mig_state_running(precopy->stats.status)) {
      if (precopy->stats.error.code == MIG_OK) precopy->stats.error = precopy->rp_error;
      precopy->stats.source_failed = true;
      mig__precopy_source_state(precopy, MIG_STATE_FAILED);
    }
    if (!link_closed(precopy->link)) link_close(precopy->link);
    return;
  }
  source_complete(plug);
}

/* ----------------------------------------------------------- destination */

static enum mig_err plug_dest_command(void *context, struct mig_reader *reader,
                                      const struct mig_record *record)
{
  struct mig_plug *plug = plug_of(context);
  bool recovering = plug->dest.recovering;
  enum mig_err err = mig_postcopy_dest_command(&plug->dest, reader, record);
  if (err != MIG_OK) return err;
  if (record->command == MIG_CMD_POSTCOPY_LISTEN) {
    mig__precopy_dest_state(plug->precopy, MIG_STATE_POSTCOPY_ACTIVE);
  } else if (record->command == MIG_CMD_POSTCOPY_RESUME && recovering) {
    plug->dest_paused = false;
    mig__precopy_dest_state(plug->precopy, MIG_STATE_POSTCOPY_ACTIVE);
  }
  return MIG_OK;
}

static enum mig_err plug_dest_placed(void *context, struct mig_reader *reader, uint32_t channel,
                                     uint32_t block_index, uint64_t page_index, uint64_t offset)
{
  struct mig_plug *plug = plug_of(context);
  return mig_postcopy_dest_page(&plug->dest, reader, channel, block_index, page_index, offset);
}

/* multifd pages applied before the switch are received pages too. */
void mig__plug_multifd_placed(void *context, uint32_t block_index, uint64_t page_index)
{
  struct mig_plug *plug = plug_of(context);
  if (plug->dest.state == MIG_POSTCOPY_NONE || plug->dest.state >= MIG_POSTCOPY_LISTENING) return;
  uffd_place(plug->uffd, block_index, page_index);
}

/* Destination fiber: wait until done(plug); false when torn down. */
static bool dest_wait(struct mig_plug *plug, bool (*done)(const struct mig_plug *plug))
{
  struct mig_precopy *precopy = plug->precopy;
  while (!done(plug)) {
    sim_event_schedule_at(plug->sim, &precopy->dest_wake, sim_now_ns(plug->sim) + POLL_NS);
    if (!sim_fiber_yield(precopy->dest_fiber)) return false;
  }
  return true;
}

static bool preempt_done(const struct mig_plug *plug) { return plug->preempt->done; }

/* EOF loaded: the preempt channel's EOS first, then every page must have arrived. */
static enum mig_err plug_dest_finish(void *context, struct mig_reader *reader)
{
  struct mig_plug *plug = plug_of(context);
  if (plug->preempt != NULL && plug->dest.state >= MIG_POSTCOPY_LISTENING &&
      plug->recoveries_count == 0) {
    if (!dest_wait(plug, preempt_done)) return MIG_ERR_CANCELLED;
    const struct mig_error *error = &plug->preempt->error;
    if (error->code != MIG_OK) {
      MIG_READER_FAIL(reader, error->code, mig_reader_offset(reader), error->detail,
                      "preempt/%s", error->path);
      return error->code;
    }
  }
  return mig_postcopy_dest_finish(&plug->dest, reader);
}

static bool recover_or_gone(const struct mig_plug *plug) { return plug->recover_requested; }

/*
 * The main channel failed.  In postcopy (the VM runs here) that pauses:
 * postcopy-paused until migrate-recover, then the reader goes on in the
 * new channel.  Any other failure fails the load.
 */
static bool plug_dest_recovered(void *context, struct mig_reader *reader, enum mig_err err)
{
  struct mig_plug *plug = plug_of(context);
  struct mig_precopy *precopy = plug->precopy;
  bool cut = err == MIG_ERR_TRUNCATED || err == MIG_ERR_IO;
  if (plug->dest.state != MIG_POSTCOPY_RUNNING || !(cut || plug->source_paused)) return false;
  mig_postcopy_dest_pause(&plug->dest);
  plug->dest_paused = true;
  mig__precopy_dest_state(precopy, MIG_STATE_POSTCOPY_PAUSED);
  if (!dest_wait(plug, recover_or_gone)) return false;
  mig__precopy_dest_state(precopy, MIG_STATE_POSTCOPY_RECOVER);
  mig_postcopy_dest_recover(&plug->dest);
  mig_refill_fn *refill = reader->refill;
  void *refill_context = reader->context;
  mig_reader_init_refill(reader, precopy->reader_buffer, sizeof(precopy->reader_buffer), refill,
                         refill_context);
  return true;
}

/* POSTCOPY_RUN: the destination VM starts (QEMU's loadvm_postcopy_handle_run_bh). */
static void plug_dest_run(void *context)
{
  struct mig_plug *plug = context;
  plug->precopy->stats.postcopy_run_ns = sim_now_ns(plug->sim);
  if (plug->options.run != NULL) plug->options.run(plug->options.run_context);
  machine_resume(plug->precopy->dest);
}

/* The preempt channel: bare RAM records of requested pages, then one EOS. */
static void preempt_body(struct mig_plug_conn *conn, struct mig_reader *reader)
{
  struct mig_plug *plug = conn->plug;
  struct mig_ram_dest *ram = sim_alloc(plug->sim, sizeof(*ram));
  mig_ram_dest_init(ram, plug->dest_blocks, plug->block_count);
  ram->setup_done = true;
  ram->placed = plug_dest_placed;
  ram->placed_context = plug;
  ram->channel = 1;
  enum mig_err err = mig_ram_load(ram, reader, MIG_SECTION_PART);
  if (err != MIG_OK && !plug->source_paused && plug->recoveries_count == 0) {
    conn->error = *mig_reader_error(reader);
  }
  sim_trace(plug->sim, "mig.postcopy.preempt_end", (uint64_t)err, mig_reader_offset(reader), 0,
            0);
}

void mig__plug_dest_kick(struct mig_plug *plug)
{
  if (!plug->dest_waiting_sync) return;
  struct mig_precopy *precopy = plug->precopy;
  sim_event_schedule_at(plug->sim, &precopy->dest_wake, sim_now_ns(plug->sim));
}

/* ------------------------------------------------------------ life cycle */

static void plug_blocks(struct mig_plug *plug)
{
  struct mig_precopy *precopy = plug->precopy;
  plug->block_count = machine_ram_count(precopy->source);
  for (uint32_t i = 0; i < plug->block_count; i++) {
    plug->source_blocks[i] = machine_ram(precopy->source, i);
    plug->dest_blocks[i] = machine_ram(precopy->dest, i);
    plug->rp_blocks[i] = (struct mig_rp_block){plug->source_blocks[i]->name,
                                               plug->source_blocks[i]->used_bytes};
  }
}

static void plug_postcopy_create(struct mig_plug *plug)
{
  struct mig_precopy *precopy = plug->precopy;
  SIM_ASSERT(precopy->rp_link != NULL);  /* postcopy needs the return path */
  mig_postcopy_source_init(&plug->source, plug->sim, &precopy->ram, plug->options.preempt);
  plug->uffd = uffd_create(plug->sim, plug->dest_blocks, plug->block_count,
                           SIM_MAX(machine_vcpu_count(precopy->dest), 1u));
  machine_uffd_set(precopy->dest, plug->uffd);
  struct mig_postcopy_dest_hooks hooks = {.context = plug, .rp_send = plug_rp_send,
                                          .run = plug_dest_run};
  mig_postcopy_dest_init(&plug->dest, plug->sim, plug->uffd, &hooks);
  link_writable_set(precopy->rp_link, plug, rp_on_writable);
  plug->load = (struct mig_load_postcopy){.context = plug, .command = plug_dest_command,
                                          .placed = plug_dest_placed,
                                          .finish = plug_dest_finish,
                                          .recovered = plug_dest_recovered};
  if (plug->options.preempt) {
    plug->preempt = mig__plug_conn_create(plug, "preempt", 0, preempt_body);
  }
}

struct mig_plug *mig_plug_create(struct sim *sim, struct mig_precopy *precopy,
                                 const struct mig_plug_options *options)
{
  SIM_ASSERT(options->postcopy || options->multifd);
  SIM_ASSERT(!options->preempt || options->postcopy);
  struct mig_plug *plug = sim_alloc(sim, sizeof(*plug));
  memset(plug, 0, sizeof(*plug));
  plug->sim = sim;
  plug->precopy = precopy;
  plug->options = *options;
  plug_blocks(plug);
  struct mig_precopy_ext ext = {.context = plug, .source_setup = plug_source_setup};
  if (options->postcopy) {
    plug_postcopy_create(plug);
    ext.source_switch_wanted = plug_switch_wanted;
    ext.source_switch = plug_source_switch;
    ext.source_rp = plug_source_rp;
    ext.dest_postcopy = &plug->load;
  }
  if (options->multifd) {
    mig__plug_multifd_create(plug);
    ext.dest_ram_eos = mig__plug_multifd_eos;
    for (uint32_t i = 0; i < options->multifd_channels; i++) {
      mig__plug_conn_start(plug->channels[i]);
    }
  }
  mig_precopy_ext_set(precopy, &ext);
  return plug;
}

void mig_plug_destroy(struct mig_plug *plug)
{
  if (plug == NULL) return;
  mig_multifd_send_destroy(plug->multifd_send);
  mig_multifd_recv_destroy(plug->multifd_recv);
  plug->multifd_send = NULL;
  plug->multifd_recv = NULL;
  for (uint32_t i = 0; i < MIG_MULTIFD_CHANNELS_MAX; i++) {
    if (plug->channels[i] != NULL) free(plug->channels[i]->ring);
  }
  if (plug->preempt != NULL) free(plug->preempt->ring);
  free(plug->rp_bytes);
  free(plug->rp_out);
}

/* ------------------------------------------------------------------- QMP */

bool mig_plug_start_postcopy(struct mig_plug *plug)
{
  if (!plug->options.postcopy || plug->switched) return false;
  plug->start_requested = true;
  sim_trace(plug->sim, "mig.postcopy.start_requested", 0, 0, 0, 0);
  return true;
}

bool mig_plug_pause(struct mig_plug *plug)
{
  struct mig_precopy *precopy = plug->precopy;
  if (precopy->stats.status != MIG_STATE_POSTCOPY_ACTIVE || plug->source_paused) return false;
  if (precopy->stream_whole) return false;  /* everything is on the wire already */
  plug->source_paused = true;
  precopy->channel_broken = true;
  mig__precopy_source_state(precopy, MIG_STATE_POSTCOPY_PAUSED);
  sim_trace(plug->sim, "mig.postcopy.pause", precopy->stats.transferred_bytes, 0, 0, 0);
  link_close(precopy->link);
  if (plug->preempt != NULL && !link_closed(plug->preempt->link)) link_close(plug->preempt->link);
  /* The source fiber may wait for link space: it wakes to see the channel gone. */
  sim_event_schedule_at(plug->sim, &precopy->source_wake, sim_now_ns(plug->sim));
  return true;
}

bool mig_plug_recover(struct mig_plug *plug)
{
  struct mig_precopy *precopy = plug->precopy;
  if (!plug->source_paused || !plug->dest_paused || plug->recover_requested) return false;
  link_receiver_set(precopy->link, plug, link_ignore);
  link_receiver_set(precopy->rp_link, plug, link_ignore);
  /* A carried connection's way back is the new return path (one socket, as QEMU's). */
  struct link *rp = NULL;
  struct link *link = mig__plug_link_pair(plug, "recovered", plug->recoveries_count, &rp);
  if (rp == NULL) rp = mig__plug_link(plug, "recovered-rp", plug->recoveries_count);
  mig__precopy_channel_replace(precopy, link, rp);
  link_receiver_set(rp, plug, rp_recovered_deliver);
  link_writable_set(rp, plug, rp_on_writable);
  plug->rp_count = 0;
  plug->rp_out_count = 0;
  mig_rp_state_init(&plug->rp_state, MIG_RP_TYPE_MAX_10, MIG_PAGE_BYTES, plug->rp_blocks,
                    plug->block_count);
  plug->recover_requested = true;
  plug->resume_acked = false;
  sim_trace(plug->sim, "mig.postcopy.recover", plug->recoveries_count, 0, 0, 0);
  return true;
}

struct uffd *mig_plug_uffd(struct mig_plug *plug) { return plug->uffd; }

void mig_plug_stats(const struct mig_plug *plug, struct mig_plug_stats *stats)
{
  memset(stats, 0, sizeof(*stats));
  for (uint32_t i = 0; i < plug->options.multifd_channels; i++) {
    if (plug->channels[i] != NULL) stats->multifd_bytes += plug->channels[i]->bytes;
  }
  if (plug->multifd_send != NULL) stats->multifd_send = *mig_multifd_send_stats(plug->multifd_send);
  if (plug->multifd_recv != NULL) stats->multifd_recv = *mig_multifd_recv_stats(plug->multifd_recv);
  stats->postcopy_source = plug->source.stats;
  if (plug->uffd != NULL) {
    stats->postcopy_dest = plug->dest.stats;
    uffd_stats_get(plug->uffd, &stats->uffd);
    stats->vcpu_count = SIM_MAX(machine_vcpu_count(plug->precopy->dest), 1u);
  }
  if (plug->preempt != NULL) stats->preempt_bytes = plug->preempt->bytes;
  for (uint32_t i = 0; i <= plug->options.multifd_channels; i++) {
    struct link *link = mig_plug_conn_link((struct mig_plug *)plug, i);
    if (link == NULL) continue;
    const struct link_stats *link_stats_now = link_stats(link);
    stats->conn_packets_lost += link_stats_now->packets_lost +
                                link_stats_now->packets_burst_lost +
                                link_stats_now->packets_partitioned;
    stats->conn_broken_count += link_broken(link);
  }
  stats->recoveries_count = plug->recoveries_count;
}
