/*
 * mig_precopy.h: a live precopy migration between two simulated machines.
 *
 * Two fibers mirror QEMU's two sides.  The source fiber is the migration
 * thread: it writes the header, configuration and RAM setup, then PART
 * sections of dirty pages, rate-limited per 100 ms window; after every full
 * pass it syncs the dirty log and, once the pending bytes fit in
 * bandwidth x downtime-limit, stops the VM and writes the END section, every
 * device's FULL section, EOF and the VM description.  It blocks when the
 * link's window is full.  The destination fiber is the incoming coroutine: it
 * parses whatever arrives off the link with mig_load_machine, and when the
 * stream is complete and valid, resumes the destination VM.  Nothing passes
 * between the machines except the link's bytes (and, with switchover-ack,
 * return-path messages on a reverse link).
 *
 * vfio devices (mig_vfio.h) add a live section each: their dirty data goes in
 * a PART after every RAM PART, their pending bytes count into the threshold,
 * and the rest goes in an END section at stop-copy.  The destination's device
 * loading costs load_bytes_per_s of simulated time on a timeline beside the
 * stream reader; the destination resumes only when it is done.
 *
 * A source RAM block resized while the migration is in setup or active
 * cancels it, as QEMU 7.2's ram_mig_ram_block_resized does: status FAILED,
 * source_failed, error MIG_ERR_CANCELLED at path ram/<block> with QEMU's text
 * "RAM block '<block>' resized during precopy.", the stream is cut and the
 * guest runs on with the new length.  A later migration (a new
 * mig_precopy) lists the new length and can complete.
 *
 * cpr-transfer (seed 001): the source stops at once, shared RAM stays where
 * it is (as x-ignore-shared), and each destination vfiodev adopts the
 * source's device (state and DMA mappings handed over, nothing copied); a
 * mediated device in a legacy container refuses, and the migration fails
 * cleanly with the device named.
 *
 * Control (QMP): capabilities and parameters come in mig_precopy_params
 * with QMP's names (mig_caps.h); each side has a state machine of spec
 * §12.3 (mig_state.h) and every change is traced.  migrate-cancel
 * (mig_precopy_cancel) works in every running state and leaves the source
 * running with nothing changed; pause-before-switchover stops in
 * pre-switchover until mig_precopy_continue.  max-bandwidth limits the
 * bytes as they are written, per 100 ms window (QEMU's XFER_LIMIT_RATIO),
 * so no figure depends on the section size.
 *
 * Plug-ins (postcopy, multifd) reach the engine through struct
 * mig_precopy_ext and the private layout in mig_precopy_int.h.
 */
#ifndef MIG_PRECOPY_H
#define MIG_PRECOPY_H

#include "sim_base.h"
#include "machine.h"
#include "mig_caps.h"
#include "mig_compress.h"
#include "mig_err.h"
#include "mig_record.h"
#include "mig_rp.h"
#include "mig_state.h"
#include "mig_stream.h"
#include "mig_xbzrle.h"
#include "sim.h"
#include "sim_link.h"

struct mig_precopy;

/* QMP migrate-set-capabilities / migrate-set-parameters as the migration sees them. */
struct mig_precopy_params {
  struct mig_caps caps;                /* fixed once the migration starts */
  struct mig_params qmp;               /* QMP units; may change during a migration */
  uint64_t section_pages_max;          /* pages per PART section (the time slice) */
  /*
   * Quirk (QEMU before 8.1, qemu_savevm_state_iterate's "Do not proceed to
   * the next vmstate before this one reported completion"): live devices
   * iterate only once RAM has nothing left to send.  A guest that keeps RAM
   * dirty then starves them; with switchover-ack the ack never comes and the
   * migration never converges (fixed by "migration: Don't serialize devices
   * in qemu_savevm_state_iterate()").
   */
  bool quirk_serialize_iterate;
};

/* Fills params with QEMU's defaults (every capability off) and section_pages_max. */
void mig_precopy_params_default(struct mig_precopy_params *params, uint64_t section_pages_max);
/* Derived figures in this project's units. */
uint64_t mig_precopy_downtime_limit_ns(const struct mig_precopy_params *params);
uint64_t mig_precopy_max_bandwidth(const struct mig_precopy_params *params);
bool mig_precopy_cpr_transfer(const struct mig_precopy_params *params);

/* query-migrate-shaped figures, integers only (STYLE R18); kept current while it runs. */
struct mig_precopy_stats {
  enum mig_state status;         /* the source's query-migrate status */
  enum mig_state dest_status;    /* the destination's (-incoming side) */
  uint64_t start_ns;             /* migrate command */
  uint64_t setup_end_ns;         /* setup section written */
  uint64_t stop_ns;              /* source VM stopped */
  uint64_t end_ns;               /* destination resumed, or the source failed/cancelled;
                                    0 while it runs */
  uint64_t transferred_bytes;    /* stream bytes written */
  uint64_t zero_pages_count;     /* QMP "duplicate" */
  uint64_t normal_pages_count;   /* QMP "normal" */
  uint64_t dirty_sync_count;     /* QMP "dirty-sync-count" */
  uint64_t rounds_count;         /* full passes over RAM before the stop */
  uint64_t sections_count;       /* PART sections written */
  uint64_t threshold_bytes;      /* last bandwidth x downtime-limit */
  uint64_t bandwidth_bytes_per_s; /* last window's measured rate (0 before one closed) */
  uint64_t remaining_bytes;      /* QMP "remaining": dirty RAM not yet sent */
  uint64_t expected_downtime_ns; /* QMP "expected-downtime": pending / bandwidth */
  uint64_t dirty_pages_rate;     /* QMP "dirty-pages-rate": pages per second, last period */
  uint64_t pending_bytes_at_stop; /* dirty bytes when the VM stopped */
  uint64_t dest_stream_bytes;    /* bytes the destination parsed */
  struct mig_error error;        /* when FAILED: the source's error, else the destination's */
  bool source_failed;            /* the source failed or cancelled it (error.code
                                    MIG_ERR_CANCELLED for a cancel or a RAM block
                                    resized); the source VM runs on */
  bool dest_refused;             /* the destination's load failed (error is its); it
                                    closed its end and the source stopped sending */
  uint64_t device_bytes;         /* vfio device data records written */
  uint64_t device_pending_bytes_at_stop; /* vfio part of pending_bytes_at_stop */
  uint64_t switchover_ack_ns;    /* SWITCHOVER_ACK reached the source; 0 = never */
  uint64_t ack_waits_count;      /* times the source could stop but waited for the ack */
  uint64_t dest_load_end_ns;     /* the destination's device-data loading finished */
  uint64_t pong_ns;              /* PONG(1) reached the source; 0 = never */
  uint64_t shut_ns;              /* SHUT(0) reached the source; 0 = never */
  uint64_t pre_switchover_ns;    /* entered pre-switchover; 0 = never */
  uint64_t continue_ns;          /* migrate-continue left it; 0 = never */
  uint64_t cpu_throttle_percentage; /* auto-converge's current throttle */
  uint64_t multifd_bytes;        /* QMP ram.multifd-bytes (the multifd plug-in) */
  uint64_t postcopy_requests;    /* QMP ram.postcopy-requests (the postcopy plug-in) */
  uint64_t postcopy_start_ns;    /* postcopy-active entered; 0 = never (the plug-in) */
  uint64_t postcopy_run_ns;      /* the destination VM started (POSTCOPY_RUN); 0 = never */
  uint64_t postcopy_blocktime_ms; /* QMP postcopy-blocktime (the plug-in) */
  uint64_t rp_messages_count;    /* return-path messages the source read */
  bool xbzrle_on;                /* capability xbzrle: xbzrle below is QMP's xbzrle-cache */
  struct mig_xbzrle_stats xbzrle;
  uint64_t released_pages_count; /* release-ram: source pages given back in postcopy */
  bool compress_on;              /* capability compress: compress below is QMP's compression */
  struct mig_compress_stats compress;
  bool source_crashed;           /* fault injection: the source process died (crash) */
  bool dest_crashed;             /* fault injection: the destination process died */
};

/* What the progress hook reports (fault plans trigger on these, conformance/). */
enum mig_precopy_point {
  MIG_PRECOPY_POINT_SOURCE_STATE,  /* the source's state changed (stats.status) */
  MIG_PRECOPY_POINT_DEST_STATE,    /* the destination's changed (stats.dest_status) */
  MIG_PRECOPY_POINT_SECTION,       /* an iteration's sections were flushed (sections_count) */
};

/* Callbacks into the layer that owns the run (conformance/). */
struct mig_precopy_hooks {
  void *context;
  /* The source VM has stopped and its final state is frozen. */
  void (*switchover)(void *context);
  /* The destination finished loading (err MIG_OK) or failed; before resume. */
  void (*loaded)(void *context, enum mig_err err);
  /* Optional: the source failed or cancelled the migration and its VM runs on. */
  void (*failed)(void *context);
  /*
   * Optional: a point passed (from either fiber or an event).  It may read
   * the stats and schedule events, never call back into the engine.
   */
  void (*progress)(void *context, enum mig_precopy_point point);
};

/*
 * Plug-ins: postcopy and multifd add to the engine at these points; every
 * member may be NULL.  They run on the fiber of their side (source_* on the
 * source's, dest_* on the destination's) and may use mig_precopy_int.h.
 */
struct mig_precopy_ext {
  void *context;
  /* Source, in setup after OPEN_RETURN_PATH/PING, before RAM's START: e.g. POSTCOPY_ADVISE. */
  void (*source_setup)(void *context, struct mig_precopy *precopy, struct mig_writer *writer);
  /*
   * Source, once per iteration before the RAM PART: sends pages its own way
   * (multifd channels); returns true when it sent the pages of this slice
   * (the engine then writes no RAM PART this time).
   */
  bool (*source_iterate)(void *context, struct mig_precopy *precopy, struct mig_writer *writer);
  /*
   * Source, after a dirty sync (pending and threshold known): true when the
   * plug-in takes over the switch (postcopy: migrate-start-postcopy was
   * given and the precopy-only part fits); the engine then calls
   * source_switch instead of its stop-and-copy.
   */
  bool (*source_switch_wanted)(void *context, struct mig_precopy *precopy,
                               uint64_t pending_bytes, uint64_t threshold_bytes);
  void (*source_switch)(void *context, struct mig_precopy *precopy, struct mig_writer *writer);
  /* Source: a return-path message the engine has no use for (REQ_PAGES, RECV_BITMAP...). */
  enum mig_err (*source_rp)(void *context, struct mig_precopy *precopy,
                            const struct mig_rp_message *message);
  /*
   * Destination: the loader's postcopy plug-in (mig_load.h: ADVISE, LISTEN,
   * RUN, DISCARD, PACKAGED's nested run, recovery), and each RAM EOS's wait
   * for the multifd channels' SYNC (mig_multifd_recv.h).  NULL: off.
   */
  const struct mig_load_postcopy *dest_postcopy;
  enum mig_err (*dest_ram_eos)(void *context, struct mig_reader *reader);
  /* Either side: the migration ended (completed, failed or cancelled). */
  void (*cleanup)(void *context, struct mig_precopy *precopy);
};

/* Allocates from the sim's arena.  The link carries source -> destination bytes. */
struct mig_precopy *mig_precopy_create(struct sim *sim, struct machine *source,
                                       struct machine *dest, struct link *link,
                                       const struct mig_precopy_params *params,
                                       const struct mig_precopy_hooks *hooks);
/* Before start: a plug-in (copied; one per migration). */
void mig_precopy_ext_set(struct mig_precopy *precopy, const struct mig_precopy_ext *ext);
/* Starts both sides now (QMP migrate on the source, -incoming on the destination). */
void mig_precopy_start(struct mig_precopy *precopy);
/*
 * migrate-set-parameters during a migration: max-bandwidth at once (the
 * current window), the rest at the next section.  Capabilities stay.
 */
void mig_precopy_params_set(struct mig_precopy *precopy, const struct mig_precopy_params *params);
/*
 * migrate-cancel: in setup, active, pre-switchover or device (while the
 * final state is still being written) the migration goes to cancelling and,
 * once its fiber has cut the stream and resumed the source VM, cancelled.
 * Returns false when there is nothing to cancel (not running, or the stream
 * is already whole: too late, as QEMU's source has completed by then).
 */
bool mig_precopy_cancel(struct mig_precopy *precopy);
/* migrate-continue from pre-switchover; false in any other state (QEMU's error). */
bool mig_precopy_continue(struct mig_precopy *precopy);
const struct mig_precopy_stats *mig_precopy_stats(const struct mig_precopy *precopy);
/*
 * The reverse link (destination -> source) for return-path messages; needed
 * before start when return-path (or switchover-ack) is on.  With it, the
 * source sends OPEN_RETURN_PATH and PING(1) after the configuration; the
 * destination answers PONG(1), sends SWITCHOVER_ACK when due and SHUT(0 or
 * 1) when its load ends.  The source reads them with mig_rp_read, stops the
 * VM only after the PONG, and fails the migration if it has not come within
 * 5 s.
 */
void mig_precopy_return_path_set(struct mig_precopy *precopy, struct link *reverse);
/*
 * Fault injection for tests: called with each return-path message the
 * destination is about to send (type, its be32 payload or 0); false drops it.
 */
typedef bool mig_precopy_rp_filter_fn(void *context, uint16_t type, uint32_t value);
void mig_precopy_rp_filter_set(struct mig_precopy *precopy, mig_precopy_rp_filter_fn *filter,
                               void *context);
/*
 * Fault injection: side's process dies now.  Its machine stops and its
 * fiber never runs again.  The source: its socket closes (the destination
 * reads end-of-stream after the bytes in flight) and the guest is lost
 * unless the destination has everything.  The destination: its end closes
 * (the source stops sending and fails, as its write would; the caller, as
 * the management layer, resumes a stopped source) unless it already runs
 * the guest, which then dies with it.  Traced "mig.crash" (side, status).
 */
void mig_precopy_crash(struct mig_precopy *precopy, enum mig_side side);
/*
 * Fault injection: the migration connection is reset (a TCP connection
 * that gave up during a partition).  The destination reads no byte more:
 * bytes it has not read yet are gone, its reader sees the end of the
 * stream there (its load fails unless the stream was already whole), and
 * the return path breaks with it.  Traced "mig.conn_reset".
 */
void mig_precopy_conn_reset(struct mig_precopy *precopy);
/*
 * Fault injection: the return path's connection breaks.  The source sees
 * the error (QEMU's return-path thread) and, still in setup or active,
 * fails the migration at its next step as QEMU 7.2's precopy does; traced
 * "mig.rp.break".  No effect without a return path or after an error.
 */
void mig_precopy_rp_break(struct mig_precopy *precopy);
/*
 * The destination resumes the guest once loaded (QEMU's default); false is
 * `-S`: it stays paused after completion for the caller to resume, or to
 * revert to the source (seed 003).  May be flipped in the loaded hook.
 */
void mig_precopy_dest_autostart_set(struct mig_precopy *precopy, bool autostart);
/* Fault injection (slow load): every destination device is busy delay_ns more from now. */
void mig_precopy_dest_delay(struct mig_precopy *precopy, uint64_t delay_ns);
/* The machine the destination loads into (NULL never). */
struct machine *mig_precopy_dest_machine(const struct mig_precopy *precopy);
/* When set, every byte the source writes is also appended here (a stream capture). */
void mig_precopy_capture_set(struct mig_precopy *precopy, struct mig_membuf *capture);

#endif /* MIG_PRECOPY_H */
