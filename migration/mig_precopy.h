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
 */
#ifndef MIG_PRECOPY_H
#define MIG_PRECOPY_H

#include "sim_base.h"
#include "machine.h"
#include "mig_err.h"
#include "mig_stream.h"
#include "sim.h"
#include "sim_link.h"

struct mig_precopy;

/* QMP migrate-set-parameters values that shape precopy, in this project's units. */
struct mig_precopy_params {
  uint64_t downtime_limit_ns;          /* QMP downtime-limit (ms) x 1e6 */
  uint64_t max_bandwidth_bytes_per_s;  /* QMP max-bandwidth; 0 = unlimited */
  uint64_t section_pages_max;          /* pages per PART section (the time slice) */
  bool x_ignore_shared;                /* capability; fixed once the migration starts */
  bool switchover_ack;                 /* capability (8.1+); needs a return path */
  bool cpr_transfer;                   /* parameter mode=cpr-transfer (10.x); fixed at start */
};

enum mig_precopy_status {
  MIG_PRECOPY_NONE,
  MIG_PRECOPY_SETUP,
  MIG_PRECOPY_ACTIVE,
  MIG_PRECOPY_DEVICE,      /* source stopped, final state on the wire */
  MIG_PRECOPY_COMPLETED,   /* destination loaded and resumed */
  MIG_PRECOPY_FAILED,
};

/* query-migrate-shaped figures, integers only (STYLE R18). */
struct mig_precopy_stats {
  enum mig_precopy_status status;
  uint64_t start_ns;             /* migrate command */
  uint64_t setup_end_ns;         /* setup section written */
  uint64_t stop_ns;              /* source VM stopped */
  uint64_t end_ns;               /* destination resumed (or failed) */
  uint64_t transferred_bytes;    /* stream bytes written */
  uint64_t zero_pages_count;     /* QMP "duplicate" */
  uint64_t normal_pages_count;   /* QMP "normal" */
  uint64_t dirty_sync_count;     /* QMP "dirty-sync-count" */
  uint64_t rounds_count;         /* full passes over RAM before the stop */
  uint64_t sections_count;       /* PART sections written */
  uint64_t threshold_bytes;      /* last bandwidth x downtime-limit */
  uint64_t pending_bytes_at_stop; /* dirty bytes when the VM stopped */
  uint64_t dest_stream_bytes;    /* bytes the destination parsed */
  struct mig_error error;        /* when FAILED: the source's error, else the destination's */
  bool source_failed;            /* the source failed it (a device refused its save, or a
                                    RAM block resized: error.code MIG_ERR_CANCELLED); the
                                    source VM runs on */
  bool dest_refused;             /* the destination's load failed (error is its); it
                                    closed its end and the source stopped sending */
  uint64_t device_bytes;         /* vfio device data records written */
  uint64_t device_pending_bytes_at_stop; /* vfio part of pending_bytes_at_stop */
  uint64_t switchover_ack_ns;    /* SWITCHOVER_ACK reached the source; 0 = never */
  uint64_t ack_waits_count;      /* times the source could stop but waited for the ack */
  uint64_t dest_load_end_ns;     /* the destination's device-data loading finished */
  uint64_t pong_ns;              /* PONG(1) reached the source; 0 = never */
  uint64_t shut_ns;              /* SHUT(0) reached the source; 0 = never */
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
};

/* Allocates from the sim's arena.  The link carries source -> destination bytes. */
struct mig_precopy *mig_precopy_create(struct sim *sim, struct machine *source,
                                       struct machine *dest, struct link *link,
                                       const struct mig_precopy_params *params,
                                       const struct mig_precopy_hooks *hooks);
/* Starts both sides now (QMP migrate on the source, -incoming on the destination). */
void mig_precopy_start(struct mig_precopy *precopy);
/* migrate-set-parameters during a migration: takes effect at the next section. */
void mig_precopy_params_set(struct mig_precopy *precopy, const struct mig_precopy_params *params);
const struct mig_precopy_stats *mig_precopy_stats(const struct mig_precopy *precopy);
/*
 * The reverse link (destination -> source) for return-path messages; needed
 * before start when switchover_ack is on.  With it, the source sends
 * OPEN_RETURN_PATH and PING(1) after the configuration; the destination
 * answers PONG(1), sends SWITCHOVER_ACK when due and SHUT(0 or 1) when its
 * load ends.  The source reads them with mig_rp_read, stops the VM only after
 * the PONG, and fails the migration if it has not come within 5 s.
 */
void mig_precopy_return_path_set(struct mig_precopy *precopy, struct link *reverse);
/*
 * Fault injection for tests: called with each return-path message the
 * destination is about to send (type, its be32 payload or 0); false drops it.
 */
typedef bool mig_precopy_rp_filter_fn(void *context, uint16_t type, uint32_t value);
void mig_precopy_rp_filter_set(struct mig_precopy *precopy, mig_precopy_rp_filter_fn *filter,
                               void *context);
/* When set, every byte the source writes is also appended here (a stream capture). */
void mig_precopy_capture_set(struct mig_precopy *precopy, struct mig_membuf *capture);

#endif /* MIG_PRECOPY_H */
