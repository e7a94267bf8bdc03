/*
 * mig_precopy.c: precopy between two simulated machines (overview in
 * mig_precopy.h; convergence rules in spec/stream-format.md §13).
 *
 * The struct and the fibers' rules are in mig_precopy_int.h.  Fibers run
 * only from the event loop, never inside another component's callback.
 */
#include "sim_base.h"

#include "blockdev.h"
#include "mig_format.h"
#include "mig_limits.h"
#include "mig_live.h"
#include "mig_load.h"
#include "mig_precopy.h"
#include "mig_precopy_int.h"
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
#define CONTINUE_POLL_NS SIM_NS_PER_MS       /* pre-switchover: migrate-continue checked */

/* a * b / c without overflow for the ranges used here (products up to 2^128). */
static uint64_t muldiv64(uint64_t a, uint64_t b, uint64_t c)
{
  __extension__ typedef unsigned __int128 u128;
  SIM_ASSERT(c > 0);
  u128 result = (u128)a * b / c;
  return result > UINT64_MAX ? UINT64_MAX : (uint64_t)result;
}

void mig_precopy_params_default(struct mig_precopy_params *params, uint64_t section_pages_max)
{
  SIM_ASSERT(section_pages_max > 0);
  memset(params, 0, sizeof(*params));
  mig_params_default(&params->qmp);
  params->section_pages_max = section_pages_max;
}

uint64_t mig_precopy_downtime_limit_ns(const struct mig_precopy_params *params)
{
  return params->qmp.values[MIG_PARAM_DOWNTIME_LIMIT] * SIM_NS_PER_MS;
}

uint64_t mig_precopy_max_bandwidth(const struct mig_precopy_params *params)
{
  return params->qmp.values[MIG_PARAM_MAX_BANDWIDTH];
}

bool mig_precopy_cpr_transfer(const struct mig_precopy_params *params)
{
  return params->qmp.values[MIG_PARAM_MODE] == MIG_MODE_CPR_TRANSFER;
}

static bool cap_on(const struct mig_precopy *precopy, enum mig_cap cap)
{
  return precopy->params.caps.on[cap];
}

static void progress(struct mig_precopy *precopy, enum mig_precopy_point point)
{
  if (precopy->hooks.progress != NULL) precopy->hooks.progress(precopy->hooks.context, point);
}

void mig__precopy_source_state(struct mig_precopy *precopy, enum mig_state to)
{
  bool changed = precopy->stats.status != to;
  mig_state_set(&precopy->source_state, precopy->sim, to);
  precopy->stats.status = to;
  if (changed) progress(precopy, MIG_PRECOPY_POINT_SOURCE_STATE);
}

void mig__precopy_dest_state(struct mig_precopy *precopy, enum mig_state to)
{
  bool changed = precopy->stats.dest_status != to;
  mig_state_set(&precopy->dest_state, precopy->sim, to);
  precopy->stats.dest_status = to;
  if (changed) progress(precopy, MIG_PRECOPY_POINT_DEST_STATE);
}

static void precopy_on_wake(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct mig_precopy *precopy = SIM_CONTAINER_OF(event, struct mig_precopy, source_wake);
  /* A crashed side never runs again; a spurious wake (BUGGIFY) may find the fiber done. */
  if (precopy->stats.source_crashed || sim_fiber_done(precopy->source_fiber)) return;
  sim_fiber_resume(precopy->source_fiber);
}

static void precopy_on_dest_wake(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct mig_precopy *precopy = SIM_CONTAINER_OF(event, struct mig_precopy, dest_wake);
  if (precopy->stats.dest_crashed) return;
  sim_fiber_resume(precopy->dest_fiber);
}

/* Closes the source's end once (a crash, a failure and the stream's end may all want to). */
static void source_link_close(struct mig_precopy *precopy)
{
  if (!link_closed(precopy->link)) link_close(precopy->link);
}

bool mig__precopy_source_sleep_until(struct mig_precopy *precopy, uint64_t time_ns)
{
  sim_event_schedule_at(precopy->sim, &precopy->source_wake, time_ns);
  return sim_fiber_yield(precopy->source_fiber);
}

static bool source_sleep_until(struct mig_precopy *precopy, uint64_t time_ns)
{
  return mig__precopy_source_sleep_until(precopy, time_ns);
}

static void source_on_writable(void *context)
{
  struct mig_precopy *precopy = context;
  if (!precopy->source_waiting_space) {
    /* BUGGIFY: a wake with nothing to wake for; every wait must look again. */
    if (SIM_BUGGIFY(precopy->sim, "mig.spurious_wake") && precopy->stats.status != MIG_STATE_NONE) {
      sim_event_schedule_at(precopy->sim, &precopy->source_wake, sim_now_ns(precopy->sim));
    }
    return;
  }
  precopy->source_waiting_space = false;
  sim_event_schedule_at(precopy->sim, &precopy->source_wake, sim_now_ns(precopy->sim));
}

/* Closes the rate window once it has lasted RATE_WINDOW_NS: new bandwidth estimate. */
static void source_rate_window(struct mig_precopy *precopy)
{
  uint64_t now_ns = sim_now_ns(precopy->sim);
  uint64_t elapsed_ns = now_ns - precopy->window_start_ns;
  if (elapsed_ns < RATE_WINDOW_NS) return;
  struct mig_precopy_stats *stats = &precopy->stats;
  /* threshold = (bytes / elapsed) x downtime-limit, as QEMU's migration_update_counters. */
  uint64_t bandwidth = muldiv64(precopy->window_bytes, SIM_NS_PER_S, elapsed_ns);
  uint64_t avail = precopy->params.qmp.values[MIG_PARAM_AVAIL_SWITCHOVER_BANDWIDTH];
  if (avail != 0) bandwidth = avail; /* 8.2+: the user's figure replaces the measure */
  stats->bandwidth_bytes_per_s = bandwidth;
  stats->threshold_bytes =
      muldiv64(bandwidth, mig_precopy_downtime_limit_ns(&precopy->params), SIM_NS_PER_S);
  stats->remaining_bytes = mig_ram_pending_bytes(&precopy->ram);
  /* expected-downtime: what is dirty now, at the measured rate (QEMU 7.2). */
  stats->expected_downtime_ns =
      bandwidth == 0 ? 0 : muldiv64(stats->remaining_bytes, SIM_NS_PER_S, bandwidth);
  precopy->window_start_ns = now_ns;
  precopy->window_bytes = 0;
}

/*
 * Bytes the source may write now: max-bandwidth / 10 per 100 ms window
 * (QEMU's XFER_LIMIT_RATIO), in setup and active only.  A spent window
 * sleeps the fiber until the next one; 0 when a cancel woke it.
 */
static size_t source_rate_allowance(struct mig_precopy *precopy)
{
  uint64_t max_bandwidth = mig_precopy_max_bandwidth(&precopy->params);
  if (!precopy->rate_limited || max_bandwidth == 0) return SIZE_MAX;
  uint64_t budget_bytes = SIM_MAX(max_bandwidth / 10, 1);
  for (;;) {
    source_rate_window(precopy);
    if (precopy->window_bytes < budget_bytes) {
      return (size_t)SIM_MIN(budget_bytes - precopy->window_bytes, (uint64_t)SIZE_MAX);
    }
    if (!source_sleep_until(precopy, precopy->window_start_ns + RATE_WINDOW_NS)) return 0;
    if (precopy->cancelled) return 0;
  }
}

/* query-migrate's page counters, current at every writer flush (mid-section too). */
static void source_page_counts(struct mig_precopy *precopy)
{
  precopy->stats.zero_pages_count = precopy->ram.zero_pages_count;
  precopy->stats.normal_pages_count = precopy->ram.normal_pages_count;
  precopy->stats.released_pages_count = precopy->ram.released_pages_count;
  precopy->stats.remaining_bytes = mig_ram_pending_bytes(&precopy->ram);
}

/* The writer's sink: pushes into the link at the allowed rate, blocking while it is full. */
static enum mig_err source_write(void *context, const uint8_t *bytes, size_t count)
{
  struct mig_precopy *precopy = context;
  if (precopy->cancelled) return MIG_ERR_CANCELLED;
  if (precopy->channel_broken) return MIG_ERR_IO; /* a plug-in broke the channel (migrate-pause) */
  source_page_counts(precopy);
  if (precopy->capture != NULL) {
    enum mig_err err = mig_membuf_write(precopy->capture, bytes, count);
    if (err != MIG_OK) return err;
  }
  while (count > 0) {
    if (link_broken(precopy->link)) return MIG_ERR_IO; /* the connection reset under it */
    size_t allowed = source_rate_allowance(precopy);
    if (allowed == 0) return MIG_ERR_CANCELLED;
    size_t chunk = SIM_MIN(count, allowed);
    /* BUGGIFY: the socket takes part of the bytes (as when its buffer just filled up). */
    if (chunk > 1 && SIM_BUGGIFY(precopy->sim, "mig.short_write")) chunk /= 2;
    size_t sent = link_send(precopy->link, bytes, chunk);
    bytes += sent;
    count -= sent;
    precopy->window_bytes += sent;
    precopy->stats.transferred_bytes += sent;
    if (count == 0) break;
    if (sent == SIM_MIN(count + sent, allowed)) continue; /* the window is spent, not the link */
    precopy->source_waiting_space = true;
    if (!sim_fiber_yield(precopy->source_fiber)) return MIG_ERR_CANCELLED;
    if (precopy->cancelled) return MIG_ERR_CANCELLED;
    if (precopy->channel_broken) return MIG_ERR_IO;
  }
  return MIG_OK;
}

/* Commands the destination must see before RAM: the return path opens, a PING checks it. */
static void source_setup_commands(struct mig_precopy *precopy, struct mig_writer *writer)
{
  if (precopy->rp_link != NULL) {
    /* QEMU's migration_thread: the destination opens its end, and a PING checks it. */
    mig_save_open_return_path(writer, RP_PING_VALUE);
    precopy->ping_sent_ns = sim_now_ns(precopy->sim);
    sim_trace(precopy->sim, "mig.rp.ping", RP_PING_VALUE, 0, 0, 0);
  }
  if (precopy->ext.source_setup != NULL) {
    precopy->ext.source_setup(precopy->ext.context, precopy, writer);
  }
}

static void source_setup(struct mig_precopy *precopy)
{
  struct mig_writer *writer = &precopy->writer;
  bool cpr_transfer = mig_precopy_cpr_transfer(&precopy->params);
  mig_save_header(writer);
  mig_save_configuration(writer, machine_type(precopy->source));
  mig_save_configuration_capabilities(writer, cap_on(precopy, MIG_CAP_X_IGNORE_SHARED));
  source_setup_commands(precopy, writer);
  mig_save_section_header(writer, MIG_SECTION_START, MIG_SAVE_RAM_SECTION_ID, MIG_RAM_IDSTR,
                          0, MIG_RAM_SECTION_VERSION);
  mig_ram_save_setup(&precopy->ram, writer);
  sim_trace(precopy->sim, "mig.pass", precopy->ram.dirty_sync_count, 0, 0, 0);
  mig_save_footer(writer, MIG_SAVE_RAM_SECTION_ID);
  if (!cpr_transfer) mig_live_set_save_setup(&precopy->lives, writer);
  mig_writer_flush(writer);
  precopy->stats.setup_end_ns = sim_now_ns(precopy->sim);
  precopy->stats.dirty_sync_count = precopy->ram.dirty_sync_count;
  /*
   * A cancel or resize while the setup waited, or a destination that
   * refused the setup meanwhile (found by BUGGIFY's short writes: it made
   * the source FAILED, and FAILED -> ACTIVE is no transition).
   */
  if (precopy->cancelled || precopy->stats.status != MIG_STATE_SETUP) return;
  mig__precopy_source_state(precopy, MIG_STATE_ACTIVE);
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
  if (!cap_on(precopy, MIG_CAP_SWITCHOVER_ACK) || precopy->switchover_acked) return true;
  return !mig_live_set_wants_ack(&precopy->lives);
}

/*
 * Auto-converge's step (QEMU 7.2 mig_throttle_guest_down): first
 * cpu-throttle-initial, then + cpu-throttle-increment (with tailslow, no
 * more than brings the dirty rate to the trigger), at most max-cpu-throttle.
 */
static void source_throttle_up(struct mig_precopy *precopy, uint64_t dirty_bytes,
                               uint64_t threshold_bytes)
{
  const uint64_t *qmp = precopy->params.qmp.values;
  uint64_t pct = precopy->throttle_pct;
  if (pct == 0) {
    pct = qmp[MIG_PARAM_CPU_THROTTLE_INITIAL];
  } else {
    uint64_t step = qmp[MIG_PARAM_CPU_THROTTLE_INCREMENT];
    if (qmp[MIG_PARAM_CPU_THROTTLE_TAILSLOW] != 0 && dirty_bytes > 0) {
      uint64_t cpu_now = 100 - pct;
      uint64_t cpu_ideal = muldiv64(cpu_now, threshold_bytes, dirty_bytes);
      step = SIM_MIN(step, cpu_now > cpu_ideal ? cpu_now - cpu_ideal : 0);
    }
    pct = SIM_MIN(pct + step, qmp[MIG_PARAM_MAX_CPU_THROTTLE]);
  }
  precopy->throttle_pct = (uint32_t)pct;
  precopy->stats.cpu_throttle_percentage = pct;
  sim_trace(precopy->sim, "mig.throttle", pct, dirty_bytes, threshold_bytes, 0);
  machine_vcpu_throttle_set(precopy->source, (uint32_t)pct);
}

/* Each sync a second after the last period's end: dirty rate and the throttle (§13.3-4). */
static void source_period(struct mig_precopy *precopy, uint64_t new_dirty_pages)
{
  uint64_t now_ns = sim_now_ns(precopy->sim);
  precopy->period_dirty_pages += new_dirty_pages;
  if (now_ns - precopy->period_start_ns < SIM_NS_PER_S) return;
  uint64_t elapsed_ns = now_ns - precopy->period_start_ns;
  uint64_t dirty_bytes = precopy->period_dirty_pages * MIG_PAGE_BYTES;
  uint64_t sent_bytes = precopy->stats.transferred_bytes - precopy->period_start_bytes;
  precopy->stats.dirty_pages_rate =
      muldiv64(precopy->period_dirty_pages, SIM_NS_PER_S, elapsed_ns);
  uint64_t trigger_bytes = muldiv64(
      sent_bytes, precopy->params.qmp.values[MIG_PARAM_THROTTLE_TRIGGER_THRESHOLD], 100);
  if (cap_on(precopy, MIG_CAP_AUTO_CONVERGE) && dirty_bytes > trigger_bytes &&
      ++precopy->dirty_rate_high_count >= 2) {
    precopy->dirty_rate_high_count = 0;
    source_throttle_up(precopy, dirty_bytes, trigger_bytes);
  }
  mig_ram_source_encode_period(&precopy->ram); /* QMP's XBZRLE and compression rates */
  precopy->period_start_ns = now_ns;
  precopy->period_start_bytes = precopy->stats.transferred_bytes;
  precopy->period_dirty_pages = 0;
}

/* A dirty-bitmap sync: QMP's MIGRATION_PASS (pass = dirty-sync-count). */
static uint64_t source_sync(struct mig_precopy *precopy)
{
  uint64_t pages = mig_ram_sync(&precopy->ram);
  sim_trace(precopy->sim, "mig.pass", precopy->ram.dirty_sync_count, pages, 0, 0);
  source_period(precopy, pages);
  return pages;
}

/* The migration is over for the source: QEMU's cpu_throttle_stop. */
static void source_throttle_stop(struct mig_precopy *precopy)
{
  if (precopy->throttle_pct == 0) return;
  precopy->throttle_pct = 0;
  machine_vcpu_throttle_set(precopy->source, 0);
}

/* query-migrate's RAM figures, kept current after every section. */
static void source_stats_update(struct mig_precopy *precopy)
{
  struct mig_precopy_stats *stats = &precopy->stats;
  stats->zero_pages_count = precopy->ram.zero_pages_count;
  stats->normal_pages_count = precopy->ram.normal_pages_count;
  stats->released_pages_count = precopy->ram.released_pages_count;
  stats->dirty_sync_count = precopy->ram.dirty_sync_count;
  stats->rounds_count = precopy->ram.rounds_count;
  stats->remaining_bytes = mig_ram_pending_bytes(&precopy->ram);
  stats->device_bytes = mig_live_set_sent_bytes(&precopy->lives);
  const struct mig_xbzrle_stats *xbzrle = mig_ram_source_xbzrle_stats(&precopy->ram);
  if (xbzrle != NULL) stats->xbzrle = *xbzrle;
  const struct mig_compress_stats *compress = mig_ram_source_compress_stats(&precopy->ram);
  if (compress != NULL) stats->compress = *compress;
}

/* One PART section; returns true when the source may stop (pending fits the threshold). */
static bool source_iterate(struct mig_precopy *precopy)
{
  struct mig_writer *writer = &precopy->writer;
  bool ram_idle = precopy->stats.remaining_bytes == 0; /* RAM had nothing left to send */
  bool round_ended = false;
  bool by_ext = precopy->ext.source_iterate != NULL &&
                precopy->ext.source_iterate(precopy->ext.context, precopy, writer);
  if (!by_ext) {
    mig_save_section_short_header(writer, MIG_SECTION_PART, MIG_SAVE_RAM_SECTION_ID);
    round_ended = mig_ram_save_iterate(&precopy->ram, writer, precopy->params.section_pages_max);
    mig_save_footer(writer, MIG_SAVE_RAM_SECTION_ID);
    precopy->stats.sections_count++;
  } else {
    round_ended = precopy->ram.dirty_pages_count == 0;
  }
  /* The quirk: devices wait until RAM has nothing left (QEMU before 8.1). */
  if (!precopy->params.quirk_serialize_iterate || ram_idle) {
    precopy->stats.sections_count +=
        mig_live_set_save_iterate(&precopy->lives, writer, precopy->params.section_pages_max);
  }
  mig_writer_flush(writer);
  source_stats_update(precopy);
  progress(precopy, MIG_PRECOPY_POINT_SECTION);
  if (!round_ended) return false;
  source_sync(precopy);
  source_rate_window(precopy);
  uint64_t pending_bytes =
      mig_ram_pending_bytes(&precopy->ram) + mig_live_set_save_pending(&precopy->lives);
  source_stats_update(precopy);
  sim_trace(precopy->sim, "mig.round", precopy->ram.rounds_count, pending_bytes,
            precopy->stats.threshold_bytes, precopy->stats.transferred_bytes);
  return pending_bytes <= precopy->stats.threshold_bytes;
}

/* The source VM runs on after a failed or cancelled migration; the stream is cut. */
static void source_end_cleanly(struct mig_precopy *precopy)
{
  if (precopy->stats.source_crashed) return; /* a dead process ends nothing */
  precopy->stats.end_ns = sim_now_ns(precopy->sim);
  source_stats_update(precopy);
  if (!machine_running(precopy->source)) machine_resume(precopy->source);
  source_link_close(precopy);
  if (precopy->hooks.failed != NULL) precopy->hooks.failed(precopy->hooks.context);
}

/*
 * A device refused its save (seed 003: it found its own state inconsistent,
 * logged why and entered its error state), or the return path went wrong.
 * The migration fails cleanly as QEMU's does: the error names the device,
 * the stream is cut (the destination's load then fails and it never runs),
 * and the source VM resumes with everything it had.
 */
static void source_save_failed(struct mig_precopy *precopy, const struct mig_error *error)
{
  precopy->stats.source_failed = true;
  precopy->stats.error = *error;
  sim_trace(precopy->sim, "mig.save_failed", error->offset, 0, 0, 0);
  mig__precopy_source_state(precopy, MIG_STATE_FAILED);
  source_end_cleanly(precopy);
}

/* Cancelling: the fiber, wherever it waits (link space, a window, an ack), wakes now. */
static void source_cancel_begin(struct mig_precopy *precopy, const struct mig_error *error)
{
  SIM_ASSERT(!precopy->cancelled);
  precopy->cancelled = true;
  precopy->stats.source_failed = true;
  precopy->stats.error = *error;
  mig__precopy_source_state(precopy, MIG_STATE_CANCELLING);
  precopy->source_waiting_space = false;
  sim_event_schedule_at(precopy->sim, &precopy->source_wake, sim_now_ns(precopy->sim));
}

/*
 * QEMU 7.2 ram_mig_ram_block_resized: a source block changed its length
 * while a migration was in progress (migration_is_idle() false).  The block
 * list already on the wire no longer holds, so the migration is cancelled
 * with the block named (migration_cancel with an error: cancelling, then
 * cancelled); the guest keeps running with the new length.  The source
 * fiber is woken to cut the stream (source_cancel_finish).
 */
static void precopy_on_ram_resized(void *context, struct ram_block *block,
                                   uint64_t old_used_bytes)
{
  struct mig_precopy *precopy = context;
  enum mig_state status = precopy->stats.status;
  if ((status != MIG_STATE_SETUP && status != MIG_STATE_ACTIVE) || precopy->cancelled) return;
  SIM_ASSERT(machine_running(precopy->source)); /* only a running guest resizes */
  mig_ram_source_block_resized(&precopy->ram, block);
  struct mig_error error = {.code = MIG_ERR_CANCELLED,
                            .offset = precopy->stats.transferred_bytes};
  snprintf(error.path, sizeof(error.path), "ram/%s", block->name);
  snprintf(error.detail, sizeof(error.detail), "RAM block '%s' resized during precopy.",
           block->name);
  sim_trace(precopy->sim, "mig.ram_resized", old_used_bytes, block->used_bytes,
            precopy->stats.transferred_bytes, 0);
  source_cancel_begin(precopy, &error);
}

/* From the source fiber, after a cancel: the stream is cut, the destination never runs. */
static void source_cancel_finish(struct mig_precopy *precopy)
{
  SIM_ASSERT(precopy->cancelled && precopy->stats.status == MIG_STATE_CANCELLING);
  if (precopy->stats.source_crashed) return;
  sim_trace(precopy->sim, "mig.cancelled", precopy->stats.transferred_bytes, 0, 0, 0);
  mig__precopy_source_state(precopy, MIG_STATE_CANCELLED);
  source_end_cleanly(precopy);
}

/* The new process takes over each live device: state and mappings handed over, not copied. */
static void cpr_devices_hand_over(struct mig_precopy *precopy)
{
  for (uint32_t i = 0; i < mig_live_set_count(&precopy->lives); i++) {
    mig_live_set_cpr_hand_over(&precopy->lives, i);
    sim_trace(precopy->sim, "mig.cpr_handover", i, 0, 0, 0);
  }
}

/* Stops the VM and freezes what is pending: the switchover point. */
static void source_stop(struct mig_precopy *precopy)
{
  machine_stop(precopy->source);
  precopy->rate_limited = false; /* QEMU lifts the limit for the final state */
  precopy->stats.stop_ns = sim_now_ns(precopy->sim);
  source_sync(precopy);
  precopy->stats.device_pending_bytes_at_stop = mig_live_set_save_pending(&precopy->lives);
  precopy->stats.pending_bytes_at_stop =
      mig_ram_pending_bytes(&precopy->ram) + precopy->stats.device_pending_bytes_at_stop;
  sim_trace(precopy->sim, "mig.stop", precopy->stats.pending_bytes_at_stop,
            precopy->stats.device_pending_bytes_at_stop, precopy->switchover_acked, 0);
  if (precopy->hooks.switchover != NULL) precopy->hooks.switchover(precopy->hooks.context);
}

/*
 * pause-before-switchover: with the VM stopped, wait in pre-switchover for
 * migrate-continue (QEMU's migration_maybe_pause).  False when cancelled.
 */
static bool source_pause(struct mig_precopy *precopy)
{
  if (!cap_on(precopy, MIG_CAP_PAUSE_BEFORE_SWITCHOVER)) return true;
  mig__precopy_source_state(precopy, MIG_STATE_PRE_SWITCHOVER);
  precopy->stats.pre_switchover_ns = sim_now_ns(precopy->sim);
  /* A destination gone meanwhile (refused, crashed) ends the wait: nothing would go on. */
  while (!precopy->continued && !precopy->cancelled && !precopy->dest_refused) {
    if (!source_sleep_until(precopy, sim_now_ns(precopy->sim) + CONTINUE_POLL_NS)) return false;
  }
  if (precopy->cancelled || precopy->dest_refused) return false;
  precopy->stats.continue_ns = sim_now_ns(precopy->sim);
  return true;
}

/* Stop-and-copy: END, every device, EOF and the description (the VM is stopped). */
static void source_complete(struct mig_precopy *precopy)
{
  struct mig_writer *writer = &precopy->writer;
  bool cpr_transfer = mig_precopy_cpr_transfer(&precopy->params);
  mig__precopy_source_state(precopy, MIG_STATE_DEVICE);
  if (cpr_transfer) cpr_devices_hand_over(precopy);
  mig_save_section_short_header(writer, MIG_SECTION_END, MIG_SAVE_RAM_SECTION_ID);
  mig_ram_save_complete(&precopy->ram, writer);
  mig_save_footer(writer, MIG_SAVE_RAM_SECTION_ID);
  if (!cpr_transfer) mig_live_set_save_complete(&precopy->lives, writer);
  json_t *devices = json_array();
  /* QEMU's non-iterable phase: each live handler's save_state (vfio: DEV_CONFIG_STATE). */
  mig_live_set_save_state(&precopy->lives, writer, devices);
  struct mig_error save_error;
  enum mig_err err = mig_save_devices_checked(writer, precopy->source, devices, &save_error);
  if (err == MIG_OK) err = mig_save_finish(writer, devices);
  json_decref(devices);
  source_stats_update(precopy);
  if (err == MIG_ERR_HOOK) {
    source_save_failed(precopy, &save_error);
    return;
  }
  SIM_ASSERT(err == MIG_OK || err == MIG_ERR_CANCELLED || precopy->dest_refused);
  if (err != MIG_OK) return;
  source_link_close(precopy);
  precopy->stream_whole = true;
  sim_trace(precopy->sim, "mig.stream_whole", precopy->stats.transferred_bytes, 0, 0, 0);
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
  sim_trace(precopy->sim, "mig.cpr_refused", i, 0, 0, 0);
  precopy->stats.source_failed = true;
  precopy->stats.error = error;
  mig__precopy_source_state(precopy, MIG_STATE_FAILED);
  source_end_cleanly(precopy);
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

/*
 * The destination refused the stream and closed its end (QEMU: the socket
 * closes, the source's next write fails).  The migration is already FAILED
 * with the destination's error; the source stops sending.  A source VM
 * still running runs on; one already stopped stays stopped (QEMU without a
 * return path: postmigrate), for whoever runs the migration to resume.
 */
static bool source_dest_gone(struct mig_precopy *precopy)
{
  if (!precopy->dest_refused) return false;
  sim_trace(precopy->sim, "mig.dest_refused", precopy->stats.transferred_bytes, 0, 0, 0);
  source_link_close(precopy);
  return true;
}

/* Before each step: false when the migration ended (cancelled, failed, refused). */
static bool source_may_go_on(struct mig_precopy *precopy)
{
  if (precopy->cancelled) {
    source_cancel_finish(precopy);
    return false;
  }
  if (mig_writer_error(&precopy->writer) != MIG_OK) return false;
  if (source_dest_gone(precopy)) return false;
  if (precopy->rp_error.code != MIG_OK) {
    source_save_failed(precopy, &precopy->rp_error);
    return false;
  }
  return true;
}

/*
 * The live phase: sections until the pending bytes fit the threshold and
 * switchover is allowed.  False when the migration ended on the way; true
 * with *switched when a plug-in took the switch (postcopy).
 */
static bool source_live(struct mig_precopy *precopy, bool *switched)
{
  for (;;) {
    if (!source_may_go_on(precopy)) return false;
    uint64_t wait_ns = 0;
    uint64_t before_bytes = precopy->stats.transferred_bytes;
    if (source_iterate(precopy)) {
      if (precopy->cancelled) continue;
      if (source_can_switchover(precopy)) return true;
      if (!source_pong_in_time(precopy)) return false;
      /* Converged, but a device's initial data is not loaded yet: wait for the ack. */
      precopy->stats.ack_waits_count++;
      wait_ns = ACK_POLL_NS;
    } else if (precopy->ext.source_switch_wanted != NULL &&
               precopy->ext.source_switch_wanted(precopy->ext.context, precopy,
                                                 precopy->stats.remaining_bytes,
                                                 precopy->stats.threshold_bytes)) {
      *switched = true;
      return true;
    } else if (precopy->stats.transferred_bytes - before_bytes < MIG_PAGE_BYTES &&
               precopy->stats.remaining_bytes == 0) {
      /*
       * Nothing to send yet not converged (the estimate fell with the idle
       * link): QEMU's thread spins here; simulated time must move, so the
       * source looks again a millisecond later.
       */
      wait_ns = ACK_POLL_NS;
    }
    /* Let the guest's events due now run between sections, as a thread would. */
    if (!source_sleep_until(precopy, sim_now_ns(precopy->sim) + wait_ns)) return false;
  }
}

static void source_run(struct mig_precopy *precopy)
{
  if (precopy->cancelled) { /* migrate-cancel came before the thread ran */
    source_cancel_finish(precopy);
    return;
  }
  bool cpr_transfer = mig_precopy_cpr_transfer(&precopy->params);
  if (cpr_transfer && !source_cpr_check(precopy)) return;
  precopy->rate_limited = true;
  precopy->window_start_ns = sim_now_ns(precopy->sim);
  source_setup(precopy);
  bool switched = false;
  /* cpr-transfer is not live: nothing to iterate, the VM stops at once. */
  if (!cpr_transfer && !source_live(precopy, &switched)) return;
  if (!source_may_go_on(precopy)) return;
  if (switched) {
    mig_ram_source_postcopy_begin(&precopy->ram); /* no XBZRLE; release-ram frees (QEMU) */
    precopy->ext.source_switch(precopy->ext.context, precopy, &precopy->writer);
    return;
  }
  source_stop(precopy);
  if (!source_pause(precopy) || precopy->cancelled) {
    if (precopy->cancelled) source_cancel_finish(precopy);
    return;
  }
  source_complete(precopy);
  if (precopy->cancelled && precopy->stats.status == MIG_STATE_CANCELLING) {
    source_cancel_finish(precopy);
  }
}

static void source_body(struct sim_fiber *fiber, void *context)
{
  struct mig_precopy *precopy = context;
  (void)fiber;
  precopy->period_start_ns = sim_now_ns(precopy->sim);
  source_run(precopy);
  source_throttle_stop(precopy);
  mig_live_set_save_cleanup(&precopy->lives); /* however the source side ended */
}

/*
 * The reader's refill: takes received bytes, or blocks the fiber until some
 * arrive.  While it waits with the ring empty, deliveries copy straight into
 * the reader's buffer (one copy fewer per byte); bytes that do not fit go to
 * the ring behind them, so the order is the link's.  It returns as many bytes
 * as the ring-only version did: all that arrived, up to capacity.
 */
static size_t dest_refill(void *context, uint8_t *bytes, size_t capacity)
{
  struct mig_precopy *precopy = context;
  SIM_ASSERT(capacity > 0 && precopy->rx_direct == NULL);
  if (precopy->rx_count == 0) {
    precopy->rx_direct = bytes;
    precopy->rx_direct_capacity = capacity;
    precopy->rx_direct_count = 0;
    bool cancelled = false;
    while (precopy->rx_direct_count == 0 && precopy->rx_count == 0 && !precopy->rx_closed) {
      precopy->dest_waiting = true;
      cancelled = !sim_fiber_yield(precopy->dest_fiber);
      if (cancelled) break;
    }
    precopy->rx_direct = NULL;
    if (cancelled) return 0;
  }
  size_t direct = precopy->rx_direct_count;
  precopy->rx_direct_count = 0;
  size_t count = (size_t)SIM_MIN((uint64_t)(capacity - direct), precopy->rx_count);
  uint64_t first = SIM_MIN((uint64_t)count, precopy->rx_capacity - precopy->rx_head);
  memcpy(bytes + direct, precopy->rx_bytes + precopy->rx_head, first);
  memcpy(bytes + direct + first, precopy->rx_bytes, count - first);
  precopy->rx_head = (precopy->rx_head + count) % precopy->rx_capacity;
  precopy->rx_count -= count;
  return direct + count;
}

static void dest_on_deliver(void *context, const uint8_t *bytes, size_t count)
{
  struct mig_precopy *precopy = context;
  if (precopy->dest_refused || precopy->conn_reset) return; /* its end is closed */
  if (count == 0) {
    precopy->rx_closed = true;
  } else {
    if (precopy->rx_direct != NULL && precopy->rx_count == 0) {
      size_t direct = SIM_MIN(count, precopy->rx_direct_capacity - precopy->rx_direct_count);
      memcpy(precopy->rx_direct + precopy->rx_direct_count, bytes, direct);
      precopy->rx_direct_count += direct;
      bytes += direct;
      count -= direct;
    }
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
void mig__precopy_rp_send(struct mig_precopy *precopy, uint16_t type, const uint8_t *payload,
                          uint16_t payload_bytes)
{
  SIM_ASSERT(precopy->rp_link != NULL);
  SIM_ASSERT(payload_bytes <= 16);
  uint32_t value = payload_bytes == 4 ? mig_wire_be32(payload) : 0;
  sim_trace(precopy->sim, "mig.rp.send", type, value, 0, 0);
  if (precopy->rp_filter != NULL &&
      !precopy->rp_filter(precopy->rp_filter_context, type, value)) {
    return;
  }
  uint8_t message[MIG_RP_HEADER_BYTES + 16];
  mig_rp_header(type, payload_bytes, message);
  if (payload_bytes > 0) memcpy(message + MIG_RP_HEADER_BYTES, payload, payload_bytes);
  if (link_broken(precopy->rp_link)) return; /* the connection reset: the write fails */
  size_t sent = link_send(precopy->rp_link, message, MIG_RP_HEADER_BYTES + payload_bytes);
  SIM_ASSERT(sent == MIG_RP_HEADER_BYTES + payload_bytes); /* small messages: the window holds */
}

/* Destination: PING(value) arrived on the open return path; PONG echoes it (QEMU 7.2). */
static void dest_on_ping(void *context, uint32_t value)
{
  struct mig_precopy *precopy = context;
  /*
   * QEMU 10 answers OPEN_RETURN_PATH with SWITCHOVER_ACK at once when no
   * device needs to approve; PING(1) follows OPEN_RETURN_PATH directly.
   */
  if (value == RP_PING_VALUE && cap_on(precopy, MIG_CAP_SWITCHOVER_ACK) && !precopy->ack_sent &&
      precopy->acks_pending_count == 0) {
    precopy->ack_sent = true;
    mig__precopy_rp_send(precopy, MIG_RP_SWITCHOVER_ACK, NULL, 0);
  }
  uint8_t message[MIG_RP_U32_MESSAGE_BYTES];
  (void)mig_rp_message_u32(MIG_RP_PONG, value, message);
  mig__precopy_rp_send(precopy, MIG_RP_PONG, message + MIG_RP_HEADER_BYTES, 4);
}

/* Destination: the incoming side is done; SHUT tells the source, 1 when it failed. */
static void dest_rp_shut(struct mig_precopy *precopy, bool failed)
{
  if (precopy->rp_link == NULL || precopy->shut_sent) return;
  precopy->shut_sent = true;
  uint8_t message[MIG_RP_U32_MESSAGE_BYTES];
  (void)mig_rp_message_u32(MIG_RP_SHUT, failed ? 1 : 0, message);
  mig__precopy_rp_send(precopy, MIG_RP_SHUT, message + MIG_RP_HEADER_BYTES, 4);
}

/* The loader's dialect: strict, with what the capabilities on here add to it. */
static void dest_policy(const struct mig_precopy *precopy, struct mig_policy *policy)
{
  *policy = mig_policy_strict;
  if (cap_on(precopy, MIG_CAP_XBZRLE)) policy->ram_xbzrle_refused = false;
  if (cap_on(precopy, MIG_CAP_COMPRESS)) policy->ram_compress_refused = false;
  if (precopy->ext.dest_postcopy != NULL) policy->postcopy_refused = false;
}

/* The load ended with err: the destination fails, or waits for its devices and runs. */
static void dest_finish(struct mig_precopy *precopy, struct mig_reader *reader, enum mig_err err,
                        const struct mig_load_stats *load_stats)
{
#ifdef MIG_FAULTS_PLANTED_BUG
  /*
   * Planted (built into conformance/conform_faults_bug_test.c only): an end
   * of stream before QEMU_VM_EOF is taken for the end of the migration, so
   * a source that dies mid-stream leaves a destination that runs.
   */
  if (err == MIG_ERR_TRUNCATED && precopy->rx_closed) err = MIG_OK;
#endif
  precopy->stats.dest_load_end_ns = SIM_MAX(precopy->dest_busy_until_ns,
                                            sim_now_ns(precopy->sim));
  precopy->stats.dest_stream_bytes = load_stats->stream_bytes;
  sim_trace(precopy->sim, "mig.loaded", (uint64_t)err, load_stats->stream_bytes,
            load_stats->sections_count, load_stats->devices_count);
  if (err != MIG_OK) {
    mig__precopy_dest_state(precopy, MIG_STATE_FAILED);
    if (!precopy->stats.source_failed) {
      precopy->stats.end_ns = sim_now_ns(precopy->sim);
      precopy->stats.error = *mig_reader_error(reader);
      precopy->stats.dest_refused = true;
      precopy->dest_refused = true;
      if (mig_state_running(precopy->stats.status)) {
        mig__precopy_source_state(precopy, MIG_STATE_FAILED);
      }
    }
    if (precopy->hooks.loaded != NULL) precopy->hooks.loaded(precopy->hooks.context, err);
    return;
  }
  if (!precopy->stats.source_failed) precopy->stats.end_ns = sim_now_ns(precopy->sim);
  if (precopy->hooks.loaded != NULL) precopy->hooks.loaded(precopy->hooks.context, MIG_OK);
  /*
   * 7.2 process_incoming_migration_bh: without late-block-activate the disks
   * are taken now; a destination that starts at once takes them as it
   * resumes (the same instant), one that stays paused here (-S).
   */
  if (!cap_on(precopy, MIG_CAP_LATE_BLOCK_ACTIVATE) && precopy->dest_autostart_off) {
    blockdev_activate_all(precopy->dest);
  }
  /* postcopy: it runs already; a caught destination (autostart off) stays paused. */
  if (!precopy->dest_autostart_off && !machine_running(precopy->dest)) {
    machine_resume(precopy->dest);
  }
  mig__precopy_dest_state(precopy, MIG_STATE_COMPLETED);
  /* migsim's source reports completed when the destination runs (docs/migration.md). */
  if (precopy->stats.status == MIG_STATE_DEVICE) {
    mig__precopy_source_state(precopy, MIG_STATE_COMPLETED);
  }
}

static void dest_body(struct sim_fiber *fiber, void *context)
{
  struct mig_precopy *precopy = context;
  struct mig_reader reader;
  mig_reader_init_refill(&reader, precopy->reader_buffer, sizeof(precopy->reader_buffer),
                         dest_refill, precopy);
  mig__precopy_dest_state(precopy, MIG_STATE_SETUP);
  mig__precopy_dest_state(precopy, MIG_STATE_ACTIVE);
  struct mig_load_stats load_stats;
  struct mig_policy policy;
  dest_policy(precopy, &policy);
  struct mig_load_options options = {
      .x_ignore_shared = cap_on(precopy, MIG_CAP_X_IGNORE_SHARED),
      .lives = mig_live_set_loads(&precopy->lives),
      .live_count = mig_live_set_load_count(&precopy->lives),
      .ping = precopy->rp_link != NULL ? dest_on_ping : NULL,
      .ping_context = precopy,
      .policy = &policy,
      .postcopy = precopy->ext.dest_postcopy,
      .ram_eos = precopy->ext.dest_ram_eos,
      .ram_eos_context = precopy->ext.context};
  enum mig_err err = mig_load_machine_with(&reader, precopy->dest, &options, &load_stats);
  if (sim_fiber_cancelled(fiber)) return;
  mig_live_set_load_cleanup(&precopy->lives);
  /* Only OPEN_RETURN_PATH and PING pass as commands here: any means the path is open. */
  if (load_stats.commands_count > 0) dest_rp_shut(precopy, err != MIG_OK);
  if (err == MIG_OK) {
    /* Every device loads what it still holds, then resumes (side by side), then the VM. */
    uint64_t loaded_ns = SIM_MAX(precopy->dest_busy_until_ns, sim_now_ns(precopy->sim));
    precopy->dest_busy_until_ns = loaded_ns + mig_live_set_load_resume_ns(&precopy->lives);
  }
  if (err == MIG_OK && precopy->dest_busy_until_ns > sim_now_ns(precopy->sim)) {
    /* The stream is in; the device loads what it still holds before the VM may run. */
    sim_event_schedule_at(precopy->sim, &precopy->dest_wake, precopy->dest_busy_until_ns);
    if (!sim_fiber_yield(fiber)) return;
  }
  dest_finish(precopy, &reader, err, &load_stats);
}

/*
 * Destination: a device-data block cost its load time, queued behind the
 * same device's earlier blocks.  Devices load side by side (each VFIO
 * device has its own state to write), so one device's backlog never delays
 * another's.
 */
static void dest_live_data_loaded(void *context, uint32_t load_index, uint64_t bytes,
                                  uint64_t bytes_per_s)
{
  struct mig_precopy *precopy = context;
  SIM_ASSERT(load_index < MIG_LOAD_LIVES_MAX);
  uint64_t *busy_ns = &precopy->device_busy_until_ns[load_index];
  uint64_t start_ns = SIM_MAX(*busy_ns, sim_now_ns(precopy->sim));
  uint64_t cost_ns = bytes_per_s == 0 ? 0 : muldiv64(bytes, SIM_NS_PER_S, bytes_per_s);
  *busy_ns = start_ns + cost_ns;
  precopy->dest_busy_until_ns = SIM_MAX(precopy->dest_busy_until_ns, *busy_ns);
}

/*
 * Destination: a device's initial data is in the stream.  When every device
 * has approved, SWITCHOVER_ACK leaves once the queued loading is done (QEMU's
 * qemu_loadvm_approve_switchover after the device loaded it).
 */
static void dest_live_init_data(void *context, uint32_t load_index)
{
  struct mig_precopy *precopy = context;
  SIM_ASSERT(load_index < MIG_LOAD_LIVES_MAX);
  SIM_ASSERT(precopy->acks_pending_count > 0);
  precopy->acks_pending_count--;
  /* This device approves once it has loaded everything before the marker. */
  uint64_t approve_ns =
      SIM_MAX(precopy->device_busy_until_ns[load_index], sim_now_ns(precopy->sim));
  precopy->ack_at_ns = SIM_MAX(precopy->ack_at_ns, approve_ns);
  sim_trace(precopy->sim, "mig.vfio.init_data", precopy->acks_pending_count, approve_ns,
            load_index, 0);
  if (precopy->acks_pending_count != 0) return;
  sim_event_schedule_at(precopy->sim, &precopy->ack_event, precopy->ack_at_ns);
}

static void dest_on_ack_event(struct sim *sim, struct sim_event *event)
{
  struct mig_precopy *precopy = SIM_CONTAINER_OF(event, struct mig_precopy, ack_event);
  if (precopy->ack_sent || precopy->stats.dest_crashed) return;
  if (SIM_BUGGIFY(precopy->sim, "mig.ack_late")) {
    /* BUGGIFY: the approval leaves late (a busy device thread); the source must wait it out. */
    sim_event_schedule_at(sim, event, sim_now_ns(sim) + 10 * SIM_NS_PER_MS);
    return;
  }
  precopy->ack_sent = true;
  mig__precopy_rp_send(precopy, MIG_RP_SWITCHOVER_ACK, NULL, 0); /* be16 type, be16 len = 0 */
}

/* Source: one whole message in rp_bytes, checked by mig_rp_read, then acted on. */
static void source_rp_message(struct mig_precopy *precopy)
{
  struct mig_reader reader;
  mig_reader_init_memory(&reader, precopy->rp_bytes, precopy->rp_count);
  struct mig_rp_message message;
  enum mig_err err = mig_rp_read(&precopy->rp_state, &reader, &message);
  const char *why = NULL;
  /* A PONG after PONG(1) answers a plug-in's PING (postcopy's 2, 3, 4): the plug-in's. */
  bool later_pong = message.type == MIG_RP_PONG && precopy->pong_received;
  bool engine_type = (message.type == MIG_RP_PONG && !later_pong) ||
                     message.type == MIG_RP_SHUT || message.type == MIG_RP_SWITCHOVER_ACK;
  if (err == MIG_OK && !engine_type && precopy->ext.source_rp != NULL) {
    /* REQ_PAGES, RECV_BITMAP, RESUME_ACK: the postcopy plug-in's. */
    precopy->stats.rp_messages_count++;
    sim_trace(precopy->sim, "mig.rp.recv", message.type, message.value, precopy->rp_offset, 0);
    err = precopy->ext.source_rp(precopy->ext.context, precopy, &message);
    if (err != MIG_OK && precopy->rp_error.code == MIG_OK) {
      MIG_READER_FAIL(&reader, err, 0, "refused by the postcopy side", "return-path/type");
      precopy->rp_error = *mig_reader_error(&reader);
      precopy->rp_error.offset += precopy->rp_offset;
    }
    return;
  }
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
  precopy->stats.rp_messages_count++;
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
  if (precopy->stats.source_crashed) return; /* nobody reads a dead process's socket */
  /* A reset connection (a carried link): QEMU's return-path thread sees the read fail. */
  if (count == 0 && link_broken(precopy->rp_link)) mig_precopy_rp_break(precopy);
  for (size_t i = 0; i < count && precopy->rp_error.code == MIG_OK; i++) {
    SIM_ASSERT(precopy->rp_count < sizeof(precopy->rp_bytes));
    precopy->rp_bytes[precopy->rp_count++] = bytes[i];
    if (precopy->rp_count < MIG_RP_HEADER_BYTES) continue;
    if (precopy->rp_count < mig_rp_framed_bytes(precopy->rp_bytes)) continue;
    source_rp_message(precopy);
    precopy->rp_offset += precopy->rp_count;
    precopy->rp_count = 0;
  }
}

void mig__precopy_channel_replace(struct mig_precopy *precopy, struct link *link,
                                  struct link *reverse)
{
  precopy->link = link;
  link_writable_set(link, precopy, source_on_writable);
  link_receiver_set(link, precopy, dest_on_deliver);
  precopy->rp_link = reverse;
  precopy->rx_head = precopy->rx_count = 0;
  precopy->rx_closed = false;
  precopy->source_waiting_space = false;
  precopy->channel_broken = false;
  precopy->conn_reset = false;
  precopy->rp_error = (struct mig_error){.code = MIG_OK}; /* the new return path is whole */
  precopy->rp_count = 0;
  mig_writer_init(&precopy->writer, precopy->writer_buffer, sizeof(precopy->writer_buffer),
                  source_write, precopy);
}

void mig_precopy_return_path_set(struct mig_precopy *precopy, struct link *reverse)
{
  SIM_ASSERT(precopy->stats.status == MIG_STATE_NONE);
  SIM_ASSERT(reverse != NULL);
  precopy->rp_link = reverse;
  link_receiver_set(reverse, precopy, source_on_rp_deliver);
  mig_rp_state_init(&precopy->rp_state, MIG_RP_TYPE_MAX_10, MIG_PAGE_BYTES, NULL, 0);
}

void mig_precopy_rp_filter_set(struct mig_precopy *precopy, mig_precopy_rp_filter_fn *filter,
                               void *context)
{
  SIM_ASSERT(precopy->stats.status == MIG_STATE_NONE);
  precopy->rp_filter = filter;
  precopy->rp_filter_context = context;
}

/* Pairs each source live device with the destination's at the same index. */
static void lives_setup(struct mig_precopy *precopy)
{
  /* cpr-transfer hands the device's data over; only its config (FULL) is sent. */
  struct mig_live_params params = {
      .section_base = MIG_SAVE_RAM_SECTION_ID + 1 + machine_vmstate_count(precopy->source),
      .switchover_ack = cap_on(precopy, MIG_CAP_SWITCHOVER_ACK),
      .hooks = {precopy, dest_live_data_loaded, dest_live_init_data}};
  mig_live_set_init(&precopy->lives, precopy->sim, precopy->source, precopy->dest, &params);
  /* Only the devices that will approve are waited for (QEMU: switchover_ack_needed). */
  precopy->acks_pending_count = mig_live_set_load_acks_count(&precopy->lives);
}

/*
 * The source waits for a compression thread (compress-wait-thread); false
 * when cancelled.  A wake before until_ns (BUGGIFY's spurious wake) sleeps again.
 */
static bool source_encode_wait(void *context, uint64_t until_ns)
{
  struct mig_precopy *precopy = context;
  while (sim_now_ns(precopy->sim) < until_ns) {
    if (!source_sleep_until(precopy, until_ns) || precopy->cancelled) return false;
  }
  return !precopy->cancelled;
}

/* XBZRLE and compress on the source (mig_ramenc.c), from the capabilities and parameters. */
static void precopy_encode_setup(struct mig_precopy *precopy)
{
  const uint64_t *qmp = precopy->params.qmp.values;
  struct mig_ram_encode_options options = {
      .xbzrle = cap_on(precopy, MIG_CAP_XBZRLE),
      .xbzrle_cache_bytes = qmp[MIG_PARAM_XBZRLE_CACHE_SIZE],
      .compress = cap_on(precopy, MIG_CAP_COMPRESS),
      .compress_level = (int32_t)qmp[MIG_PARAM_COMPRESS_LEVEL],
      .compress_threads = (uint32_t)qmp[MIG_PARAM_COMPRESS_THREADS],
      .compress_wait = qmp[MIG_PARAM_COMPRESS_WAIT_THREAD] != 0,
      .wait = source_encode_wait,
      .wait_context = precopy};
  mig_ram_source_encode_set(&precopy->ram, precopy->sim, &options);
  mig_ram_source_release_set(&precopy->ram, cap_on(precopy, MIG_CAP_RELEASE_RAM));
  precopy->stats.xbzrle_on = options.xbzrle;
  precopy->stats.compress_on = options.compress;
  precopy->stats.xbzrle.cache_bytes = options.xbzrle ? options.xbzrle_cache_bytes : 0;
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
  if (mig_precopy_cpr_transfer(params)) precopy->params.caps.on[MIG_CAP_X_IGNORE_SHARED] = true;
  precopy->hooks = *hooks;
  mig_state_init(&precopy->source_state, MIG_SIDE_SOURCE);
  mig_state_init(&precopy->dest_state, MIG_SIDE_DEST);
  sim_event_init(&precopy->source_wake, precopy_on_wake, "mig.source.wake");
  sim_event_init(&precopy->dest_wake, precopy_on_dest_wake, "mig.dest.wake");
  precopy->rx_capacity = 2 * (uint64_t)SIM_LINK_PACKET_BYTES_MAX;
  precopy->rx_bytes = sim_alloc(sim, precopy->rx_capacity);
  struct ram_block *blocks[RAM_BLOCKS_MAX];
  for (uint32_t i = 0; i < machine_ram_count(source); i++) blocks[i] = machine_ram(source, i);
  mig_ram_source_init(&precopy->ram, sim, blocks, machine_ram_count(source));
  mig_ram_source_ignore_shared_set(&precopy->ram, cap_on(precopy, MIG_CAP_X_IGNORE_SHARED));
  precopy_encode_setup(precopy);
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
  SIM_ASSERT(precopy->stats.status == MIG_STATE_NONE);
  SIM_ASSERT(machine_running(precopy->source) && !machine_running(precopy->dest));
  SIM_ASSERT(!cap_on(precopy, MIG_CAP_SWITCHOVER_ACK) || precopy->rp_link != NULL);
  SIM_ASSERT(!cap_on(precopy, MIG_CAP_RETURN_PATH) || precopy->rp_link != NULL);
  precopy->stats.start_ns = sim_now_ns(precopy->sim);
  mig__precopy_source_state(precopy, MIG_STATE_SETUP); /* QMP migrate: at once (migrate_init) */
  /* The source's blocks tell this migration when the guest resizes one (the last one started). */
  for (uint32_t i = 0; i < machine_ram_count(precopy->source); i++) {
    ram_block_resized_set(machine_ram(precopy->source, i), precopy, precopy_on_ram_resized);
  }
  sim_trace(precopy->sim, "mig.start", mig_precopy_downtime_limit_ns(&precopy->params),
            mig_precopy_max_bandwidth(&precopy->params), precopy->params.section_pages_max, 0);
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
  struct mig_caps caps = precopy->params.caps; /* capabilities are fixed by now */
  precopy->params = *params;
  precopy->params.caps = caps;
  sim_trace(precopy->sim, "mig.params", mig_precopy_downtime_limit_ns(params),
            mig_precopy_max_bandwidth(params), params->section_pages_max, 0);
}

void mig_precopy_ext_set(struct mig_precopy *precopy, const struct mig_precopy_ext *ext)
{
  SIM_ASSERT(precopy->stats.status == MIG_STATE_NONE);
  precopy->ext = *ext;
}

bool mig_precopy_cancel(struct mig_precopy *precopy)
{
  enum mig_state status = precopy->stats.status;
  if (!mig_state_running(status) || status == MIG_STATE_CANCELLING || precopy->stream_whole) {
    sim_trace(precopy->sim, "mig.cancel_ignored", (uint64_t)status, precopy->stream_whole, 0, 0);
    return false;
  }
  struct mig_error error = {.code = MIG_ERR_CANCELLED, .offset = precopy->stats.transferred_bytes};
  snprintf(error.path, sizeof(error.path), "migration");
  snprintf(error.detail, sizeof(error.detail), "migrate-cancel in state %s",
           mig_state_name(status));
  sim_trace(precopy->sim, "mig.cancel", (uint64_t)status, precopy->stats.transferred_bytes, 0, 0);
  source_cancel_begin(precopy, &error);
  return true;
}

bool mig_precopy_continue(struct mig_precopy *precopy)
{
  if (precopy->stats.status != MIG_STATE_PRE_SWITCHOVER || precopy->continued) return false;
  precopy->continued = true;
  sim_trace(precopy->sim, "mig.continue", 0, 0, 0, 0);
  sim_event_schedule_at(precopy->sim, &precopy->source_wake, sim_now_ns(precopy->sim));
  return true;
}

/* ------------------------------------------------------- fault injection */

static void crash_source(struct mig_precopy *precopy)
{
  precopy->stats.source_crashed = true;
  sim_event_cancel(precopy->sim, &precopy->source_wake);
  if (machine_running(precopy->source)) machine_stop(precopy->source);
  /* The process's socket closes: the destination reads the bytes in flight, then EOF. */
  source_link_close(precopy);
}

static void crash_dest(struct mig_precopy *precopy)
{
  precopy->stats.dest_crashed = true;
  sim_event_cancel(precopy->sim, &precopy->dest_wake);
  sim_event_cancel(precopy->sim, &precopy->ack_event);
  if (machine_running(precopy->dest)) machine_stop(precopy->dest);
  if (precopy->stats.dest_status == MIG_STATE_COMPLETED) return; /* the guest dies with it */
  if (mig_state_running(precopy->stats.dest_status)) {
    mig__precopy_dest_state(precopy, MIG_STATE_FAILED);
  }
  precopy->dest_refused = true; /* its end is closed: the source stops at its next step */
  if (precopy->stats.source_failed || precopy->stats.dest_refused) return;
  precopy->stats.dest_refused = true;
  precopy->stats.end_ns = sim_now_ns(precopy->sim);
  precopy->stats.error = (struct mig_error){.code = MIG_ERR_IO,
                                            .offset = precopy->stats.transferred_bytes};
  snprintf(precopy->stats.error.path, sizeof(precopy->stats.error.path), "destination");
  snprintf(precopy->stats.error.detail, sizeof(precopy->stats.error.detail),
           "the destination process died (connection reset)");
  enum mig_state status = precopy->stats.status;
  if (mig_state_running(status) && status != MIG_STATE_CANCELLING) {
    mig__precopy_source_state(precopy, MIG_STATE_FAILED);
  }
}

void mig_precopy_crash(struct mig_precopy *precopy, enum mig_side side)
{
  bool source = side == MIG_SIDE_SOURCE;
  if (source ? precopy->stats.source_crashed : precopy->stats.dest_crashed) return;
  sim_trace(precopy->sim, "mig.crash", (uint64_t)side,
            (uint64_t)(source ? precopy->stats.status : precopy->stats.dest_status),
            precopy->stats.transferred_bytes, 0);
  if (source) {
    crash_source(precopy);
  } else {
    crash_dest(precopy);
  }
}

void mig_precopy_conn_reset(struct mig_precopy *precopy)
{
  if (precopy->conn_reset || precopy->rx_closed || precopy->stats.dest_crashed) return;
  sim_trace(precopy->sim, "mig.conn_reset", precopy->stats.transferred_bytes,
            precopy->rx_count, 0, 0);
  precopy->conn_reset = true;
  precopy->rx_closed = true;                /* the reader sees the end where the reset came */
  precopy->rx_count = 0;                    /* received, not yet read: gone with the socket */
  precopy->rx_direct_count = 0;
  mig_precopy_rp_break(precopy);            /* the return path shares the connection's fate */
  /* The source's next write fails (EPIPE after the RST); a blocked one wakes to see it. */
  precopy->channel_broken = true;
  if (precopy->source_waiting_space) {
    precopy->source_waiting_space = false;
    sim_event_schedule_at(precopy->sim, &precopy->source_wake, sim_now_ns(precopy->sim));
  }
  if (!precopy->dest_waiting) return;
  precopy->dest_waiting = false;
  sim_event_schedule_at(precopy->sim, &precopy->dest_wake, sim_now_ns(precopy->sim));
}

void mig_precopy_rp_break(struct mig_precopy *precopy)
{
  if (precopy->rp_link == NULL || precopy->rp_error.code != MIG_OK) return;
  sim_trace(precopy->sim, "mig.rp.break", precopy->rp_offset, 0, 0, 0);
  precopy->rp_error = (struct mig_error){.code = MIG_ERR_IO, .offset = precopy->rp_offset};
  snprintf(precopy->rp_error.path, sizeof(precopy->rp_error.path), "return-path");
  snprintf(precopy->rp_error.detail, sizeof(precopy->rp_error.detail),
           "the return path's connection broke");
}

void mig_precopy_dest_autostart_set(struct mig_precopy *precopy, bool autostart)
{
  precopy->dest_autostart_off = !autostart;
}

void mig_precopy_dest_delay(struct mig_precopy *precopy, uint64_t delay_ns)
{
  uint64_t now_ns = sim_now_ns(precopy->sim);
  SIM_ASSERT(delay_ns <= UINT64_MAX / 4 && now_ns <= UINT64_MAX / 4);
  for (uint32_t i = 0; i < MIG_LOAD_LIVES_MAX; i++) {
    precopy->device_busy_until_ns[i] = SIM_MAX(precopy->device_busy_until_ns[i], now_ns) + delay_ns;
  }
  precopy->dest_busy_until_ns = SIM_MAX(precopy->dest_busy_until_ns, now_ns) + delay_ns;
  sim_trace(precopy->sim, "mig.dest_delay", delay_ns, precopy->dest_busy_until_ns, 0, 0);
}

struct machine *mig_precopy_dest_machine(const struct mig_precopy *precopy)
{
  return precopy->dest;
}
