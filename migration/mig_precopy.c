/*
 * mig_precopy.c: precopy between two simulated machines (overview in
 * mig_precopy.h; convergence rules in spec/stream-format.md §13).
 *
 * Each fiber waits for one thing at a time and owns one wake event: the
 * source waits for link space or for its rate-limit window to end; the
 * destination waits for bytes.  Link callbacks never resume a fiber directly;
 * they arm the wake event at the current time, so fibers run only from the
 * event loop and never inside another component's callback.
 */
#include "sim_base.h"

#include "mig_format.h"
#include "mig_limits.h"
#include "mig_live.h"
#include "mig_load.h"
#include "mig_precopy.h"
#include "mig_ram.h"
#include "mig_rp.h"
#include "mig_save.h"
#include "sim_fiber.h"
#include "sim_limits.h"

#include <jansson.h>

#define RATE_WINDOW_NS (100 * SIM_NS_PER_MS) /* QEMU's BUFFER_DELAY */
#define ACK_POLL_NS SIM_NS_PER_MS            /* source's wait step while the ack is due */
#define RP_PING_VALUE 1u                     /* QEMU's migration_thread sends PING(1) */
#define RP_PONG_WAIT_NS_MAX (5 * SIM_NS_PER_S) /* a PONG later than this: destination dead */

struct mig_precopy {
  struct sim *sim;
  struct machine *source;
  struct machine *dest;
  struct link *link;
  struct mig_precopy_params params;
  struct mig_precopy_hooks hooks;
  struct mig_precopy_stats stats;
  struct mig_membuf *capture;              /* optional copy of the stream */
  /* Source side. */
  struct sim_fiber *source_fiber;
  struct sim_event source_wake;            /* resumes the source fiber */
  bool source_waiting_space;               /* blocked on link space */
  struct mig_writer writer;
  uint8_t writer_buffer[MIG_WRITER_BUFFER_BYTES];
  struct mig_ram_source ram;
  uint64_t window_start_ns;                /* current rate window */
  uint64_t window_bytes;                   /* bytes written in it */
  bool cancelled;                          /* a RAM block resized: the fiber must wind up */
  /* Destination side. */
  struct sim_fiber *dest_fiber;
  struct sim_event dest_wake;
  bool dest_waiting;                       /* blocked in refill */
  uint8_t *rx_bytes;                       /* received, not yet parsed (a ring) */
  uint64_t rx_capacity;
  uint64_t rx_head;                        /* ring index of the first unread byte */
  uint64_t rx_count;                       /* unread bytes */
  bool rx_closed;                          /* the link delivered end-of-stream */
  uint8_t reader_buffer[MIG_READER_BUFFER_BYTES];
  /* Devices with live sections (a vfiodev's data): their handlers (mig_live.h). */
  struct mig_live_set lives;
  uint64_t dest_busy_until_ns;             /* device loading timeline of the destination */
  uint32_t acks_pending_count;             /* destination: devices yet to approve */
  struct sim_event ack_event;              /* destination sends SWITCHOVER_ACK */
  /* Return path. */
  struct link *rp_link;                    /* destination -> source; NULL when none */
  bool switchover_acked;                   /* source received SWITCHOVER_ACK */
  struct mig_error rp_error;               /* source: first bad return-path message */
  struct mig_rp_state rp_state;            /* source: mig_rp_read's checks */
  uint8_t rp_bytes[4 + MIG_RP_MESSAGE_BYTES_MAX]; /* source: a partial message */
  uint32_t rp_count;                       /* bytes in rp_bytes */
  uint64_t rp_offset;                      /* return-path stream offset of rp_bytes[0] */
  uint64_t ping_sent_ns;                   /* source: when setup wrote PING(1) */
  bool pong_received;                      /* source: its PONG came back */
  bool shut_sent;                          /* destination: SHUT is on the wire */
  mig_precopy_rp_filter_fn *rp_filter;     /* tests: drops destination messages */
  void *rp_filter_context;
};

/* a * b / c without overflow for the ranges used here (products up to 2^128). */
static uint64_t muldiv64(uint64_t a, uint64_t b, uint64_t c)
{
  __extension__ typedef unsigned __int128 u128;
  SIM_ASSERT(c > 0);
  u128 result = (u128)a * b / c;
  return result > UINT64_MAX ? UINT64_MAX : (uint64_t)result;
}

static void precopy_on_wake(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct mig_precopy *precopy = SIM_CONTAINER_OF(event, struct mig_precopy, source_wake);
  sim_fiber_resume(precopy->source_fiber);
}

static void precopy_on_dest_wake(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct mig_precopy *precopy = SIM_CONTAINER_OF(event, struct mig_precopy, dest_wake);
  sim_fiber_resume(precopy->dest_fiber);
}

/* From the source fiber: sleep until time_ns.  False when cancelled. */
static bool source_sleep_until(struct mig_precopy *precopy, uint64_t time_ns)
{
  sim_event_schedule_at(precopy->sim, &precopy->source_wake, time_ns);
  return sim_fiber_yield(precopy->source_fiber);
}

static void source_on_writable(void *context)
{
  struct mig_precopy *precopy = context;
  if (!precopy->source_waiting_space) return;
  precopy->source_waiting_space = false;
  sim_event_schedule_at(precopy->sim, &precopy->source_wake, sim_now_ns(precopy->sim));
}

/* The writer's sink: pushes into the link, blocking the fiber while it is full. */
static enum mig_err source_write(void *context, const uint8_t *bytes, size_t count)
{
  struct mig_precopy *precopy = context;
  if (precopy->capture != NULL) {
    enum mig_err err = mig_membuf_write(precopy->capture, bytes, count);
    if (err != MIG_OK) return err;
  }
  while (count > 0) {
    size_t sent = link_send(precopy->link, bytes, count);
    bytes += sent;
    count -= sent;
    precopy->window_bytes += sent;
    precopy->stats.transferred_bytes += sent;
    if (count == 0) break;
    precopy->source_waiting_space = true;
    if (!sim_fiber_yield(precopy->source_fiber)) return MIG_ERR_CANCELLED;
    if (precopy->cancelled) return MIG_ERR_CANCELLED;
  }
  return MIG_OK;
}

/* Closes the rate window once it has lasted RATE_WINDOW_NS: new bandwidth estimate. */
static void source_rate_window(struct mig_precopy *precopy)
{
  uint64_t now_ns = sim_now_ns(precopy->sim);
  uint64_t elapsed_ns = now_ns - precopy->window_start_ns;
  if (elapsed_ns < RATE_WINDOW_NS) return;
  /* threshold = (bytes / elapsed) x downtime-limit, as QEMU's migration_update_counters. */
  precopy->stats.threshold_bytes =
      muldiv64(precopy->window_bytes, precopy->params.downtime_limit_ns, elapsed_ns);
  precopy->window_start_ns = now_ns;
  precopy->window_bytes = 0;
}

/* Waits while this window's byte budget (max-bandwidth / 10) is spent. */
static bool source_rate_limit(struct mig_precopy *precopy)
{
  source_rate_window(precopy);
  if (precopy->params.max_bandwidth_bytes_per_s == 0) return true;
  uint64_t budget_bytes = SIM_MAX(precopy->params.max_bandwidth_bytes_per_s / 10, 1);
  while (precopy->window_bytes >= budget_bytes) {
    if (!source_sleep_until(precopy, precopy->window_start_ns + RATE_WINDOW_NS)) return false;
    if (precopy->cancelled) return true; /* the loop's next check winds up */
    source_rate_window(precopy);
  }
  return true;
}

static void source_setup(struct mig_precopy *precopy)
{
  struct mig_writer *writer = &precopy->writer;
  precopy->stats.status = MIG_PRECOPY_SETUP;
  mig_save_header(writer);
  mig_save_configuration(writer, machine_type(precopy->source));
  mig_save_configuration_capabilities(writer, precopy->params.x_ignore_shared);
  if (precopy->rp_link != NULL) {
    /* QEMU's migration_thread: the destination opens its end, and a PING checks it. */
    mig_writer_u8(writer, MIG_SECTION_COMMAND);
    mig_writer_be16(writer, MIG_CMD_OPEN_RETURN_PATH);
    mig_writer_be16(writer, 0);
    mig_writer_u8(writer, MIG_SECTION_COMMAND);
    mig_writer_be16(writer, MIG_CMD_PING);
    mig_writer_be16(writer, 4);
    mig_writer_be32(writer, RP_PING_VALUE);
    precopy->ping_sent_ns = sim_now_ns(precopy->sim);
    sim_trace(precopy->sim, "mig.rp.ping", RP_PING_VALUE, 0, 0, 0);
  }
  mig_save_section_header(writer, MIG_SECTION_START, MIG_SAVE_RAM_SECTION_ID, MIG_RAM_IDSTR,
                          0, MIG_RAM_SECTION_VERSION);
  mig_ram_save_setup(&precopy->ram, writer);
  mig_save_footer(writer, MIG_SAVE_RAM_SECTION_ID);
  if (!precopy->params.cpr_transfer) mig_live_set_save_setup(&precopy->lives, writer);
  mig_writer_flush(writer);
  precopy->stats.setup_end_ns = sim_now_ns(precopy->sim);
  if (precopy->cancelled) return; /* a resize while the setup waited for the link */
  precopy->stats.status = MIG_PRECOPY_ACTIVE;
  precopy->window_start_ns = sim_now_ns(precopy->sim);
}

/*
 * Switchover is allowed unless a device asked for the ack and it has not
 * come (QEMU 8.1 migration_can_switchover).  A device with the ignore-ack
 * quirk never asks.
 */
static bool source_can_switchover(const struct mig_precopy *precopy)
{
  /* The destination proved it is alive (PONG) before the source stops (migsim's rule). */
  if (precopy->rp_link != NULL && !precopy->pong_received) return false;
  if (!precopy->params.switchover_ack || precopy->switchover_acked) return true;
  return !mig_live_set_wants_ack(&precopy->lives);
}

/* One PART section; returns true when the source may stop (pending fits the threshold). */
static bool source_iterate(struct mig_precopy *precopy)
{
  struct mig_writer *writer = &precopy->writer;
  mig_save_section_short_header(writer, MIG_SECTION_PART, MIG_SAVE_RAM_SECTION_ID);
  bool round_ended = mig_ram_save_iterate(&precopy->ram, writer,
                                          precopy->params.section_pages_max);
  mig_save_footer(writer, MIG_SAVE_RAM_SECTION_ID);
  precopy->stats.sections_count +=
      mig_live_set_save_iterate(&precopy->lives, writer, precopy->params.section_pages_max);
  mig_writer_flush(writer);
  precopy->stats.sections_count++;
  if (!round_ended) return false;
  mig_ram_sync(&precopy->ram);
  source_rate_window(precopy);
  uint64_t pending_bytes = mig_ram_pending_bytes(&precopy->ram) + mig_live_set_save_pending(&precopy->lives);
  sim_trace(precopy->sim, "mig.round", precopy->ram.rounds_count, pending_bytes,
            precopy->stats.threshold_bytes, precopy->stats.transferred_bytes);
  return pending_bytes <= precopy->stats.threshold_bytes;
}

/*
 * A device refused its save (seed 003: it found its own state inconsistent,
 * logged why and entered its error state).  The migration fails cleanly as
 * QEMU's does: the error names the device, the stream is cut (the
 * destination's load then fails and it never runs), and the source VM
 * resumes with everything it had.
 */
static void source_save_failed(struct mig_precopy *precopy, const struct mig_error *error)
{
  precopy->stats.status = MIG_PRECOPY_FAILED;
  precopy->stats.source_failed = true;
  precopy->stats.error = *error;
  precopy->stats.end_ns = sim_now_ns(precopy->sim);
  sim_trace(precopy->sim, "mig.save_failed", error->offset, 0, 0, 0);
  /* A bad return-path message fails the migration before the stop. */
  if (!machine_running(precopy->source)) machine_resume(precopy->source);
  link_close(precopy->link);
  if (precopy->hooks.failed != NULL) precopy->hooks.failed(precopy->hooks.context);
}

/*
 * QEMU 7.2 ram_mig_ram_block_resized: a source block changed its length
 * while a migration was in progress (migration_is_idle() false).  The block
 * list already on the wire no longer holds, so the migration is cancelled
 * with the block named; the guest keeps running with the new length.  The
 * status and error are set now, as migration_cancel sets them; the source
 * fiber is woken to cut the stream (source_cancel_finish).
 */
static void precopy_on_ram_resized(void *context, struct ram_block *block,
                                   uint64_t old_used_bytes)
{
  struct mig_precopy *precopy = context;
  enum mig_precopy_status status = precopy->stats.status;
  if (status != MIG_PRECOPY_SETUP && status != MIG_PRECOPY_ACTIVE) return;
  SIM_ASSERT(!precopy->cancelled);
  SIM_ASSERT(machine_running(precopy->source)); /* only a running guest resizes */
  mig_ram_source_block_resized(&precopy->ram, block);
  struct mig_error error = {.code = MIG_ERR_CANCELLED,
                            .offset = precopy->stats.transferred_bytes};
  snprintf(error.path, sizeof(error.path), "ram/%s", block->name);
  snprintf(error.detail, sizeof(error.detail), "RAM block '%s' resized during precopy.",
           block->name);
  precopy->cancelled = true;
  precopy->stats.status = MIG_PRECOPY_FAILED;
  precopy->stats.source_failed = true;
  precopy->stats.error = error;
  precopy->stats.end_ns = sim_now_ns(precopy->sim);
  sim_trace(precopy->sim, "mig.ram_resized", old_used_bytes, block->used_bytes,
            precopy->stats.transferred_bytes, 0);
  /* Whatever the fiber waits for (link space, its rate window), it wakes now. */
  precopy->source_waiting_space = false;
  sim_event_schedule_at(precopy->sim, &precopy->source_wake, sim_now_ns(precopy->sim));
}

/* From the source fiber, after a cancel: the stream is cut, the destination never runs. */
static void source_cancel_finish(struct mig_precopy *precopy)
{
  SIM_ASSERT(precopy->cancelled && precopy->stats.status == MIG_PRECOPY_FAILED);
  SIM_ASSERT(machine_running(precopy->source));
  sim_trace(precopy->sim, "mig.cancelled", precopy->stats.transferred_bytes, 0, 0, 0);
  /* query-migrate after a cancel still shows what was sent. */
  precopy->stats.zero_pages_count = precopy->ram.zero_pages_count;
  precopy->stats.normal_pages_count = precopy->ram.normal_pages_count;
  precopy->stats.dirty_sync_count = precopy->ram.dirty_sync_count;
  precopy->stats.rounds_count = precopy->ram.rounds_count;
  link_close(precopy->link);
  if (precopy->hooks.failed != NULL) precopy->hooks.failed(precopy->hooks.context);
}

/* The new process takes over each live device: state and mappings handed over, not copied. */
static void cpr_devices_hand_over(struct mig_precopy *precopy)
{
  for (uint32_t i = 0; i < mig_live_set_count(&precopy->lives); i++) {
    mig_live_set_cpr_hand_over(&precopy->lives, i);
    sim_trace(precopy->sim, "mig.cpr_handover", i, 0, 0, 0);
  }
}

/* Stop-and-copy: stop the VM, then END, every device, EOF and the description. */
static void source_complete(struct mig_precopy *precopy)
{
  struct mig_writer *writer = &precopy->writer;
  machine_stop(precopy->source);
  precopy->stats.stop_ns = sim_now_ns(precopy->sim);
  precopy->stats.status = MIG_PRECOPY_DEVICE;
  mig_ram_sync(&precopy->ram);
  precopy->stats.device_pending_bytes_at_stop = mig_live_set_save_pending(&precopy->lives);
  precopy->stats.pending_bytes_at_stop =
      mig_ram_pending_bytes(&precopy->ram) + precopy->stats.device_pending_bytes_at_stop;
  sim_trace(precopy->sim, "mig.stop", precopy->stats.pending_bytes_at_stop,
            precopy->stats.device_pending_bytes_at_stop, precopy->switchover_acked, 0);
  if (precopy->hooks.switchover != NULL) precopy->hooks.switchover(precopy->hooks.context);
  if (precopy->params.cpr_transfer) cpr_devices_hand_over(precopy);
  mig_save_section_short_header(writer, MIG_SECTION_END, MIG_SAVE_RAM_SECTION_ID);
  mig_ram_save_complete(&precopy->ram, writer);
  mig_save_footer(writer, MIG_SAVE_RAM_SECTION_ID);
  if (!precopy->params.cpr_transfer) mig_live_set_save_complete(&precopy->lives, writer);
  json_t *devices = json_array();
  /* QEMU's non-iterable phase: each live handler's save_state (vfio: DEV_CONFIG_STATE). */
  mig_live_set_save_state(&precopy->lives, writer, devices);
  struct mig_error save_error;
  enum mig_err err = mig_save_devices_checked(writer, precopy->source, devices, &save_error);
  if (err == MIG_OK) err = mig_save_finish(writer, devices);
  json_decref(devices);
  if (err == MIG_ERR_HOOK) {
    source_save_failed(precopy, &save_error);
    return;
  }
  SIM_ASSERT(err == MIG_OK || err == MIG_ERR_CANCELLED);
  if (err == MIG_OK) link_close(precopy->link);
}

/*
 * cpr-transfer keeps a device's DMA mappings alive across the update only
 * when they do not depend on the old process's virtual addresses; a device
 * whose do (seed 001: a mediated device in a legacy VFIO container) refuses.
 */
static bool source_cpr_check(struct mig_precopy *precopy)
{
  struct mig_error error;
  uint32_t i = mig_live_set_cpr_check(&precopy->lives, &error);
  if (i == mig_live_set_count(&precopy->lives)) return true;
  precopy->stats.status = MIG_PRECOPY_FAILED;
  precopy->stats.source_failed = true;
  precopy->stats.error = error;
  precopy->stats.end_ns = sim_now_ns(precopy->sim);
  sim_trace(precopy->sim, "mig.cpr_refused", i, 0, 0, 0);
  link_close(precopy->link);
  if (precopy->hooks.failed != NULL) precopy->hooks.failed(precopy->hooks.context);
  return false;
}

/* False (and the migration failed) when PING(1) has gone unanswered too long. */
static bool source_pong_in_time(struct mig_precopy *precopy)
{
  if (precopy->rp_link == NULL || precopy->pong_received) return true;
  SIM_ASSERT(precopy->ping_sent_ns <= sim_now_ns(precopy->sim)); /* sent in setup */
  uint64_t waited_ns = sim_now_ns(precopy->sim) - precopy->ping_sent_ns;
  if (waited_ns <= RP_PONG_WAIT_NS_MAX) return true;
  struct mig_error error = {.code = MIG_ERR_IO, .offset = precopy->rp_offset};
  snprintf(error.path, sizeof(error.path), "return-path/PONG");
  snprintf(error.detail, sizeof(error.detail),
           "no PONG for PING %u after %" PRIu64 " ms: the destination is not answering",
           RP_PING_VALUE, waited_ns / SIM_NS_PER_MS);
  source_save_failed(precopy, &error);
  return false;
}

static void source_run(struct mig_precopy *precopy)
{
  if (precopy->params.cpr_transfer && !source_cpr_check(precopy)) return;
  source_setup(precopy);
  /* cpr-transfer is not live: nothing to iterate, the VM stops at once. */
  for (bool live = !precopy->params.cpr_transfer; live;) {
    if (precopy->cancelled) {
      source_cancel_finish(precopy);
      return;
    }
    if (mig_writer_error(&precopy->writer) != MIG_OK) return;
    if (precopy->rp_error.code != MIG_OK) {
      source_save_failed(precopy, &precopy->rp_error);
      return;
    }
    if (!source_rate_limit(precopy)) return;
    uint64_t wait_ns = 0;
    if (source_iterate(precopy)) {
      if (source_can_switchover(precopy)) break;
      if (!source_pong_in_time(precopy)) return;
      /* Converged, but a device's initial data is not loaded yet: wait for the ack. */
      precopy->stats.ack_waits_count++;
      wait_ns = ACK_POLL_NS;
    }
    /* Let the guest's events due now run between sections, as a thread would. */
    if (!source_sleep_until(precopy, sim_now_ns(precopy->sim) + wait_ns)) return;
  }
  if (precopy->cancelled) {
    /* A section cut short by the cancel may still have ended a converged round. */
    source_cancel_finish(precopy);
    return;
  }
  if (mig_writer_error(&precopy->writer) != MIG_OK) return;
  source_complete(precopy);
  precopy->stats.zero_pages_count = precopy->ram.zero_pages_count;
  precopy->stats.normal_pages_count = precopy->ram.normal_pages_count;
  precopy->stats.dirty_sync_count = precopy->ram.dirty_sync_count;
  precopy->stats.rounds_count = precopy->ram.rounds_count;
  precopy->stats.device_bytes += mig_live_set_sent_bytes(&precopy->lives);
}

static void source_body(struct sim_fiber *fiber, void *context)
{
  struct mig_precopy *precopy = context;
  (void)fiber;
  source_run(precopy);
  mig_live_set_save_cleanup(&precopy->lives); /* however the source side ended */
}

/* The reader's refill: takes received bytes, or blocks the fiber until some arrive. */
static size_t dest_refill(void *context, uint8_t *bytes, size_t capacity)
{
  struct mig_precopy *precopy = context;
  while (precopy->rx_count == 0) {
    if (precopy->rx_closed) return 0;
    precopy->dest_waiting = true;
    if (!sim_fiber_yield(precopy->dest_fiber)) return 0;
  }
  size_t count = (size_t)SIM_MIN((uint64_t)capacity, precopy->rx_count);
  uint64_t first = SIM_MIN((uint64_t)count, precopy->rx_capacity - precopy->rx_head);
  memcpy(bytes, precopy->rx_bytes + precopy->rx_head, first);
  memcpy(bytes + first, precopy->rx_bytes, count - first);
  precopy->rx_head = (precopy->rx_head + count) % precopy->rx_capacity;
  precopy->rx_count -= count;
  return count;
}

static void dest_on_deliver(void *context, const uint8_t *bytes, size_t count)
{
  struct mig_precopy *precopy = context;
  if (count == 0) {
    precopy->rx_closed = true;
  } else {
    /* The fiber drains everything before it waits, so one delivery always fits. */
    SIM_ASSERT(count <= precopy->rx_capacity - precopy->rx_count);
    uint64_t tail = (precopy->rx_head + precopy->rx_count) % precopy->rx_capacity;
    uint64_t first = SIM_MIN((uint64_t)count, precopy->rx_capacity - tail);
    memcpy(precopy->rx_bytes + tail, bytes, first);
    memcpy(precopy->rx_bytes, bytes + first, count - first);
    precopy->rx_count += count;
  }
  if (!precopy->dest_waiting) return;
  precopy->dest_waiting = false;
  sim_event_schedule_at(precopy->sim, &precopy->dest_wake, sim_now_ns(precopy->sim));
}

/* Destination: one return-path message (spec §8), unless a test's filter drops it. */
static void dest_rp_send(struct mig_precopy *precopy, uint16_t type, const uint8_t *payload,
                         uint16_t payload_bytes)
{
  SIM_ASSERT(precopy->rp_link != NULL);
  SIM_ASSERT(payload_bytes <= 4);
  uint32_t value = payload_bytes == 4 ? (uint32_t)payload[0] << 24 | (uint32_t)payload[1] << 16 |
                                            (uint32_t)payload[2] << 8 | payload[3]
                                      : 0;
  sim_trace(precopy->sim, "mig.rp.send", type, value, 0, 0);
  if (precopy->rp_filter != NULL &&
      !precopy->rp_filter(precopy->rp_filter_context, type, value)) {
    return;
  }
  uint8_t message[8] = {(uint8_t)(type >> 8), (uint8_t)type, 0, (uint8_t)payload_bytes};
  if (payload_bytes > 0) memcpy(message + 4, payload, payload_bytes);
  size_t sent = link_send(precopy->rp_link, message, 4u + payload_bytes);
  SIM_ASSERT(sent == 4u + payload_bytes); /* a few small messages: the window holds them */
}

/* Destination: PING(value) arrived on the open return path; PONG echoes it (QEMU 7.2). */
static void dest_on_ping(void *context, uint32_t value)
{
  struct mig_precopy *precopy = context;
  const uint8_t payload[4] = {(uint8_t)(value >> 24), (uint8_t)(value >> 16),
                              (uint8_t)(value >> 8), (uint8_t)value};
  dest_rp_send(precopy, MIG_RP_PONG, payload, sizeof(payload));
}

/* Destination: the incoming side is done; SHUT tells the source, 1 when it failed. */
static void dest_rp_shut(struct mig_precopy *precopy, bool failed)
{
  if (precopy->rp_link == NULL || precopy->shut_sent) return;
  precopy->shut_sent = true;
  const uint8_t payload[4] = {0, 0, 0, failed ? 1 : 0};
  dest_rp_send(precopy, MIG_RP_SHUT, payload, sizeof(payload));
}

static void dest_body(struct sim_fiber *fiber, void *context)
{
  struct mig_precopy *precopy = context;
  struct mig_reader reader;
  mig_reader_init_refill(&reader, precopy->reader_buffer, sizeof(precopy->reader_buffer),
                         dest_refill, precopy);
  struct mig_load_stats load_stats;
  struct mig_load_options options = {.x_ignore_shared = precopy->params.x_ignore_shared,
                                     .lives = mig_live_set_loads(&precopy->lives),
                                     .live_count = mig_live_set_count(&precopy->lives),
                                     .ping = precopy->rp_link != NULL ? dest_on_ping : NULL,
                                     .ping_context = precopy};
  enum mig_err err = mig_load_machine_with(&reader, precopy->dest, &options, &load_stats);
  if (sim_fiber_cancelled(fiber)) return;
  mig_live_set_load_cleanup(&precopy->lives);
  /* Only OPEN_RETURN_PATH and PING pass as commands here: any means the path is open. */
  if (load_stats.commands_count > 0) dest_rp_shut(precopy, err != MIG_OK);
  if (err == MIG_OK && precopy->dest_busy_until_ns > sim_now_ns(precopy->sim)) {
    /* The stream is in; the device loads what it still holds before the VM may run. */
    sim_event_schedule_at(precopy->sim, &precopy->dest_wake, precopy->dest_busy_until_ns);
    if (!sim_fiber_yield(fiber)) return;
  }
  precopy->stats.dest_load_end_ns = SIM_MAX(precopy->dest_busy_until_ns, sim_now_ns(precopy->sim));
  precopy->stats.dest_stream_bytes = load_stats.stream_bytes;
  if (!precopy->stats.source_failed) precopy->stats.end_ns = sim_now_ns(precopy->sim);
  sim_trace(precopy->sim, "mig.loaded", (uint64_t)err, load_stats.stream_bytes,
            load_stats.sections_count, load_stats.devices_count);
  if (err != MIG_OK) {
    if (!precopy->stats.source_failed) {
      precopy->stats.status = MIG_PRECOPY_FAILED;
      precopy->stats.error = *mig_reader_error(&reader);
    }
    if (precopy->hooks.loaded != NULL) precopy->hooks.loaded(precopy->hooks.context, err);
    return;
  }
  if (precopy->hooks.loaded != NULL) precopy->hooks.loaded(precopy->hooks.context, MIG_OK);
  machine_resume(precopy->dest);
  precopy->stats.status = MIG_PRECOPY_COMPLETED;
}

/* Destination: a device-data block cost its load time, queued behind earlier blocks. */
static void dest_live_data_loaded(void *context, uint64_t bytes, uint64_t bytes_per_s)
{
  struct mig_precopy *precopy = context;
  uint64_t start_ns = SIM_MAX(precopy->dest_busy_until_ns, sim_now_ns(precopy->sim));
  uint64_t cost_ns = bytes_per_s == 0 ? 0 : muldiv64(bytes, SIM_NS_PER_S, bytes_per_s);
  precopy->dest_busy_until_ns = start_ns + cost_ns;
}

/*
 * Destination: a device's initial data is in the stream.  When every device
 * has approved, SWITCHOVER_ACK leaves once the queued loading is done (QEMU's
 * qemu_loadvm_approve_switchover after the device loaded it).
 */
static void dest_live_init_data(void *context)
{
  struct mig_precopy *precopy = context;
  SIM_ASSERT(precopy->acks_pending_count > 0);
  precopy->acks_pending_count--;
  sim_trace(precopy->sim, "mig.vfio.init_data", precopy->acks_pending_count,
            precopy->dest_busy_until_ns, 0, 0);
  if (precopy->acks_pending_count != 0) return;
  uint64_t at_ns = SIM_MAX(precopy->dest_busy_until_ns, sim_now_ns(precopy->sim));
  sim_event_schedule_at(precopy->sim, &precopy->ack_event, at_ns);
}

static void dest_on_ack_event(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct mig_precopy *precopy = SIM_CONTAINER_OF(event, struct mig_precopy, ack_event);
  dest_rp_send(precopy, MIG_RP_SWITCHOVER_ACK, NULL, 0); /* be16 type, be16 len = 0 */
}

/* Source: one whole message in rp_bytes, checked by mig_rp_read, then acted on. */
static void source_rp_message(struct mig_precopy *precopy)
{
  struct mig_reader reader;
  mig_reader_init_memory(&reader, precopy->rp_bytes, precopy->rp_count);
  struct mig_rp_message message;
  enum mig_err err = mig_rp_read(&precopy->rp_state, &reader, &message);
  const char *why = NULL;
  if (err == MIG_OK && message.type == MIG_RP_PONG && precopy->pong_received) {
    why = "PONG with no PING outstanding";
  } else if (err == MIG_OK && message.type == MIG_RP_PONG && message.value != RP_PING_VALUE) {
    why = "PONG does not echo PING 1";
  } else if (err == MIG_OK && message.type != MIG_RP_PONG && message.type != MIG_RP_SHUT &&
             message.type != MIG_RP_SWITCHOVER_ACK) {
    why = "message not used in precopy here";
  }
  if (why != NULL) {
    char detail[80];
    snprintf(detail, sizeof(detail), "%s (value 0x%" PRIx32 ")", why, message.value);
    MIG_READER_FAIL(&reader, MIG_ERR_BAD_COMMAND, 0, detail, "return-path/type");
    err = MIG_ERR_BAD_COMMAND;
  }
  if (err != MIG_OK) {
    precopy->rp_error = *mig_reader_error(&reader);
    precopy->rp_error.offset += precopy->rp_offset; /* the reader saw this message only */
    return;
  }
  uint64_t now_ns = sim_now_ns(precopy->sim);
  sim_trace(precopy->sim, "mig.rp.recv", message.type, message.value, precopy->rp_offset, 0);
  if (message.type == MIG_RP_PONG) {
    precopy->pong_received = true;
    precopy->stats.pong_ns = now_ns;
  } else if (message.type == MIG_RP_SHUT) {
    precopy->stats.shut_ns = now_ns;
  } else {
    precopy->switchover_acked = true;
    precopy->stats.switchover_ack_ns = now_ns;
    sim_trace(precopy->sim, "mig.rp.ack", precopy->stats.switchover_ack_ns, 0, 0, 0);
  }
}

/*
 * Source: return-path bytes, gathered until a message is whole: its header
 * says how long, and a length over 512 is refused from the header alone.
 */
static void source_on_rp_deliver(void *context, const uint8_t *bytes, size_t count)
{
  struct mig_precopy *precopy = context;
  for (size_t i = 0; i < count && precopy->rp_error.code == MIG_OK; i++) {
    SIM_ASSERT(precopy->rp_count < sizeof(precopy->rp_bytes));
    precopy->rp_bytes[precopy->rp_count++] = bytes[i];
    if (precopy->rp_count < 4) continue;
    uint32_t length = (uint32_t)precopy->rp_bytes[2] << 8 | precopy->rp_bytes[3];
    if (length <= MIG_RP_MESSAGE_BYTES_MAX && precopy->rp_count < 4 + length) continue;
    source_rp_message(precopy);
    precopy->rp_offset += precopy->rp_count;
    precopy->rp_count = 0;
  }
}

void mig_precopy_return_path_set(struct mig_precopy *precopy, struct link *reverse)
{
  SIM_ASSERT(precopy->stats.status == MIG_PRECOPY_NONE);
  SIM_ASSERT(reverse != NULL);
  precopy->rp_link = reverse;
  link_receiver_set(reverse, precopy, source_on_rp_deliver);
  mig_rp_state_init(&precopy->rp_state, MIG_RP_TYPE_MAX_10, MIG_PAGE_BYTES, NULL, 0);
}

void mig_precopy_rp_filter_set(struct mig_precopy *precopy, mig_precopy_rp_filter_fn *filter,
                               void *context)
{
  SIM_ASSERT(precopy->stats.status == MIG_PRECOPY_NONE);
  precopy->rp_filter = filter;
  precopy->rp_filter_context = context;
}

/* Pairs each source live device with the destination's at the same index. */
static void lives_setup(struct mig_precopy *precopy)
{
  /* cpr-transfer hands the device's data over; only its config (FULL) is sent. */
  struct mig_live_params params = {
      .section_base = MIG_SAVE_RAM_SECTION_ID + 1 + machine_vmstate_count(precopy->source),
      .switchover_ack = precopy->params.switchover_ack,
      .hooks = {precopy, dest_live_data_loaded, dest_live_init_data}};
  mig_live_set_init(&precopy->lives, precopy->sim, precopy->source, precopy->dest, &params);
  precopy->acks_pending_count = mig_live_set_count(&precopy->lives);
}

struct mig_precopy *mig_precopy_create(struct sim *sim, struct machine *source,
                                       struct machine *dest, struct link *link,
                                       const struct mig_precopy_params *params,
                                       const struct mig_precopy_hooks *hooks)
{
  SIM_ASSERT(params->section_pages_max > 0);
  SIM_ASSERT(machine_ram_count(source) == machine_ram_count(dest));
  struct mig_precopy *precopy = sim_alloc(sim, sizeof(*precopy));
  precopy->sim = sim;
  precopy->source = source;
  precopy->dest = dest;
  precopy->link = link;
  precopy->params = *params;
  /* cpr-transfer leaves shared memory in place, as x-ignore-shared does. */
  if (params->cpr_transfer) precopy->params.x_ignore_shared = true;
  precopy->hooks = *hooks;
  sim_event_init(&precopy->source_wake, precopy_on_wake, "mig.source.wake");
  sim_event_init(&precopy->dest_wake, precopy_on_dest_wake, "mig.dest.wake");
  precopy->rx_capacity = 2 * (uint64_t)SIM_LINK_PACKET_BYTES_MAX;
  precopy->rx_bytes = sim_alloc(sim, precopy->rx_capacity);
  struct ram_block *blocks[RAM_BLOCKS_MAX];
  for (uint32_t i = 0; i < machine_ram_count(source); i++) blocks[i] = machine_ram(source, i);
  mig_ram_source_init(&precopy->ram, sim, blocks, machine_ram_count(source));
  mig_ram_source_ignore_shared_set(&precopy->ram, precopy->params.x_ignore_shared);
  mig_writer_init(&precopy->writer, precopy->writer_buffer, sizeof(precopy->writer_buffer),
                  source_write, precopy);
  link_writable_set(link, precopy, source_on_writable);
  link_receiver_set(link, precopy, dest_on_deliver);
  sim_event_init(&precopy->ack_event, dest_on_ack_event, "mig.dest.ack");
  lives_setup(precopy);
  precopy->source_fiber = sim_fiber_create(sim, source_body, precopy);
  precopy->dest_fiber = sim_fiber_create(sim, dest_body, precopy);
  return precopy;
}

void mig_precopy_start(struct mig_precopy *precopy)
{
  SIM_ASSERT(precopy->stats.status == MIG_PRECOPY_NONE);
  SIM_ASSERT(machine_running(precopy->source) && !machine_running(precopy->dest));
  SIM_ASSERT(!precopy->params.switchover_ack || precopy->rp_link != NULL);
  precopy->stats.start_ns = sim_now_ns(precopy->sim);
  /* The source's blocks tell this migration when the guest resizes one (the last one started). */
  for (uint32_t i = 0; i < machine_ram_count(precopy->source); i++) {
    ram_block_resized_set(machine_ram(precopy->source, i), precopy, precopy_on_ram_resized);
  }
  sim_trace(precopy->sim, "mig.start", precopy->params.downtime_limit_ns,
            precopy->params.max_bandwidth_bytes_per_s, precopy->params.section_pages_max, 0);
  sim_event_schedule_at(precopy->sim, &precopy->dest_wake, precopy->stats.start_ns);
  sim_event_schedule_at(precopy->sim, &precopy->source_wake, precopy->stats.start_ns);
}

const struct mig_precopy_stats *mig_precopy_stats(const struct mig_precopy *precopy)
{
  return &precopy->stats;
}

void mig_precopy_capture_set(struct mig_precopy *precopy, struct mig_membuf *capture)
{
  precopy->capture = capture;
}

void mig_precopy_params_set(struct mig_precopy *precopy, const struct mig_precopy_params *params)
{
  SIM_ASSERT(params->section_pages_max > 0);
  bool x_ignore_shared = precopy->params.x_ignore_shared; /* capabilities are fixed by now */
  bool switchover_ack = precopy->params.switchover_ack;
  bool cpr_transfer = precopy->params.cpr_transfer;
  precopy->params = *params;
  precopy->params.x_ignore_shared = x_ignore_shared;
  precopy->params.switchover_ack = switchover_ack;
  precopy->params.cpr_transfer = cpr_transfer;
  sim_trace(precopy->sim, "mig.params", params->downtime_limit_ns,
            params->max_bandwidth_bytes_per_s, params->section_pages_max, 0);
}
