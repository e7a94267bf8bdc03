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
#include "mig_load.h"
#include "mig_precopy.h"
#include "mig_ram.h"
#include "mig_save.h"
#include "sim_fiber.h"
#include "sim_limits.h"

#include <jansson.h>

#define RATE_WINDOW_NS (100 * SIM_NS_PER_MS) /* QEMU's BUFFER_DELAY */

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
  mig_save_section_header(writer, MIG_SECTION_START, MIG_SAVE_RAM_SECTION_ID, MIG_RAM_IDSTR,
                          0, MIG_RAM_SECTION_VERSION);
  mig_ram_save_setup(&precopy->ram, writer);
  mig_save_footer(writer, MIG_SAVE_RAM_SECTION_ID);
  mig_writer_flush(writer);
  precopy->stats.setup_end_ns = sim_now_ns(precopy->sim);
  precopy->stats.status = MIG_PRECOPY_ACTIVE;
  precopy->window_start_ns = sim_now_ns(precopy->sim);
}

/* One PART section; returns true when the source may stop (pending fits the threshold). */
static bool source_iterate(struct mig_precopy *precopy)
{
  struct mig_writer *writer = &precopy->writer;
  mig_save_section_short_header(writer, MIG_SECTION_PART, MIG_SAVE_RAM_SECTION_ID);
  bool round_ended = mig_ram_save_iterate(&precopy->ram, writer,
                                          precopy->params.section_pages_max);
  mig_save_footer(writer, MIG_SAVE_RAM_SECTION_ID);
  mig_writer_flush(writer);
  precopy->stats.sections_count++;
  if (!round_ended) return false;
  mig_ram_sync(&precopy->ram);
  source_rate_window(precopy);
  uint64_t pending_bytes = mig_ram_pending_bytes(&precopy->ram);
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
  machine_resume(precopy->source);
  link_close(precopy->link);
}

/* Stop-and-copy: stop the VM, then END, every device, EOF and the description. */
static void source_complete(struct mig_precopy *precopy)
{
  struct mig_writer *writer = &precopy->writer;
  machine_stop(precopy->source);
  precopy->stats.stop_ns = sim_now_ns(precopy->sim);
  precopy->stats.status = MIG_PRECOPY_DEVICE;
  mig_ram_sync(&precopy->ram);
  precopy->stats.pending_bytes_at_stop = mig_ram_pending_bytes(&precopy->ram);
  if (precopy->hooks.switchover != NULL) precopy->hooks.switchover(precopy->hooks.context);
  mig_save_section_short_header(writer, MIG_SECTION_END, MIG_SAVE_RAM_SECTION_ID);
  mig_ram_save_complete(&precopy->ram, writer);
  mig_save_footer(writer, MIG_SAVE_RAM_SECTION_ID);
  json_t *devices = json_array();
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

static void source_body(struct sim_fiber *fiber, void *context)
{
  struct mig_precopy *precopy = context;
  (void)fiber;
  source_setup(precopy);
  for (;;) {
    if (mig_writer_error(&precopy->writer) != MIG_OK) return;
    if (!source_rate_limit(precopy)) return;
    if (source_iterate(precopy)) break;
    /* Let the guest's events due now run between sections, as a thread would. */
    if (!source_sleep_until(precopy, sim_now_ns(precopy->sim))) return;
  }
  if (mig_writer_error(&precopy->writer) != MIG_OK) return;
  source_complete(precopy);
  precopy->stats.zero_pages_count = precopy->ram.zero_pages_count;
  precopy->stats.normal_pages_count = precopy->ram.normal_pages_count;
  precopy->stats.dirty_sync_count = precopy->ram.dirty_sync_count;
  precopy->stats.rounds_count = precopy->ram.rounds_count;
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

static void dest_body(struct sim_fiber *fiber, void *context)
{
  struct mig_precopy *precopy = context;
  struct mig_reader reader;
  mig_reader_init_refill(&reader, precopy->reader_buffer, sizeof(precopy->reader_buffer),
                         dest_refill, precopy);
  struct mig_load_stats load_stats;
  struct mig_load_options options = {.x_ignore_shared = precopy->params.x_ignore_shared};
  enum mig_err err = mig_load_machine_with(&reader, precopy->dest, &options, &load_stats);
  if (sim_fiber_cancelled(fiber)) return;
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
  precopy->hooks = *hooks;
  sim_event_init(&precopy->source_wake, precopy_on_wake, "mig.source.wake");
  sim_event_init(&precopy->dest_wake, precopy_on_dest_wake, "mig.dest.wake");
  precopy->rx_capacity = 2 * (uint64_t)SIM_LINK_PACKET_BYTES_MAX;
  precopy->rx_bytes = sim_alloc(sim, precopy->rx_capacity);
  struct ram_block *blocks[RAM_BLOCKS_MAX];
  for (uint32_t i = 0; i < machine_ram_count(source); i++) blocks[i] = machine_ram(source, i);
  mig_ram_source_init(&precopy->ram, sim, blocks, machine_ram_count(source));
  mig_ram_source_ignore_shared_set(&precopy->ram, params->x_ignore_shared);
  mig_writer_init(&precopy->writer, precopy->writer_buffer, sizeof(precopy->writer_buffer),
                  source_write, precopy);
  link_writable_set(link, precopy, source_on_writable);
  link_receiver_set(link, precopy, dest_on_deliver);
  precopy->source_fiber = sim_fiber_create(sim, source_body, precopy);
  precopy->dest_fiber = sim_fiber_create(sim, dest_body, precopy);
  return precopy;
}

void mig_precopy_start(struct mig_precopy *precopy)
{
  SIM_ASSERT(precopy->stats.status == MIG_PRECOPY_NONE);
  SIM_ASSERT(machine_running(precopy->source) && !machine_running(precopy->dest));
  precopy->stats.start_ns = sim_now_ns(precopy->sim);
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
  precopy->params = *params;
  precopy->params.x_ignore_shared = x_ignore_shared;
  sim_trace(precopy->sim, "mig.params", params->downtime_limit_ns,
            params->max_bandwidth_bytes_per_s, params->section_pages_max, 0);
}
