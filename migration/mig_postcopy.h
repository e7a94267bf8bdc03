/*
 * mig_postcopy.h: postcopy RAM migration on both sides (spec/stream-format.md
 * §4.6 grammar, §6.8-§6.9 page channel and preempt, §7 commands, §8.2/§8.4
 * return path, §13.5 blocktime; seed 003 "Postcopy").
 *
 * Source (struct mig_postcopy_source), driven by the engine's source fiber:
 *   advise     POSTCOPY_ADVISE after the configuration (page-size summary, 4096)
 *   switch     at migrate-start-postcopy, with the VM stopped: a last dirty
 *              sync, every host page with a dirty target page made wholly dirty,
 *              then DISCARD commands for those ranges (the unsent and the
 *              re-dirtied pages: both are set in the migration bitmap), PING(2),
 *              PACKAGED(LISTEN, device FULL sections, PING(3), RUN), PING(4)
 *   iterate    PART(ram) sections: queued page requests first (on the preempt
 *              channel when there is one, else in the section), then background
 *              pages from the scan cursor; a 2 MiB host page always goes whole
 *   complete   END(ram) (EOS on the preempt channel), EOF; no VM description
 *   recovery   RECV_BITMAP per block; the received bitmaps (§8.4) become the
 *              dirty bitmaps (unreceived = dirty); POSTCOPY_RESUME; RESUME_ACK.
 * Page requests come from REQ_PAGES(_ID) after mig_rp_read checked them; a
 * request for pages already sent is ignored (QEMU: "Any request for a page
 * that has already been sent is ignored").
 *
 * Destination (struct mig_postcopy_dest), called by the loader
 * (mig_load_postcopy, mig_load.h) for each postcopy command and each page
 * applied, over a userfaultfd (models/uffd.h) on the destination machine:
 * the state machine NONE -> ADVISE -> DISCARD -> LISTENING -> RUNNING -> END
 * (LISTEN also from ADVISE; anything else is refused with the command
 * named); the received bitmap is the uffd's missing bitmap inverted (set at
 * ADVISE for every page, cleared by each page applied, set again by DISCARD);
 * from LISTEN on a vCPU or client touching a missing page faults, and the
 * fault becomes one REQ_PAGES(_ID) for its host page.  The exactly-once
 * checker: from LISTEN on, a page applied that was not missing is refused
 * (MIG_ERR_RAM_ORDER, "applied twice"), a host page interrupted by another on
 * the same channel is refused ("Non-same host page"), and at the end every
 * page must have arrived ("never received").  A link failure in postcopy
 * pauses it (postcopy-paused); the recovery answers RECV_BITMAP with the
 * received bitmap and POSTCOPY_RESUME with RESUME_ACK(1), then requests
 * again every page a waiter still waits on.
 */
#ifndef MIG_POSTCOPY_H
#define MIG_POSTCOPY_H

#include "sim_base.h"
#include "mig_err.h"
#include "mig_limits.h"
#include "mig_ram.h"
#include "mig_record.h"
#include "mig_rp.h"
#include "mig_stream.h"
#include "uffd.h"

/* ---------------------------------------------------------------- source */

struct mig_postcopy_request {
  uint32_t block_index;
  uint64_t first_page;               /* target page index, host-page aligned */
  uint64_t page_count;               /* whole host pages */
};

struct mig_postcopy_source_stats {
  uint64_t discard_commands_count;   /* DISCARD commands written */
  uint64_t discard_ranges_count;     /* (start, length) ranges in them */
  uint64_t discard_pages_count;      /* target pages they cover */
  uint64_t package_bytes;            /* PACKAGED length */
  uint64_t requests_count;           /* REQ_PAGES(_ID) accepted */
  uint64_t requests_ignored_count;   /* of those, for pages already sent */
  uint64_t urgent_pages_count;       /* pages sent for requests */
  uint64_t background_pages_count;   /* pages sent by the scan in postcopy */
  uint64_t bitmaps_count;            /* received bitmaps applied (recovery) */
  uint64_t resent_pages_count;       /* pages made dirty again by them */
};

struct mig_postcopy_source {         /* caller-owned; fields private */
  struct mig_ram_source *ram;        /* precopy's RAM state, continued here */
  struct sim *sim;
  bool preempt;                      /* urgent pages go on the preempt channel */
  struct mig_postcopy_request queue[MIG_POSTCOPY_REQUESTS_MAX]; /* FIFO ring */
  uint32_t queue_head;
  uint32_t queue_count;
  const struct ram_block *preempt_last_block; /* CONTINUE on the preempt channel */
  uint32_t bitmaps_pending_count;    /* recovery: RECV_BITMAP answers still due */
  bool bitmap_pending[MIG_RAM_BLOCKS_MAX];
  struct mig_postcopy_source_stats stats;
};

void mig_postcopy_source_init(struct mig_postcopy_source *source, struct sim *sim,
                              struct mig_ram_source *ram, bool preempt);
/* QEMU's page-size summary: the OR of every block's host page size. */
uint64_t mig_postcopy_pagesize_summary(struct ram_block *const *blocks, uint32_t count);
/* POSTCOPY_ADVISE with its 16-byte body (after the configuration). */
void mig_postcopy_save_advise(struct mig_writer *writer, struct ram_block *const *blocks,
                              uint32_t count);
/*
 * The switch to postcopy, VM stopped: syncs the dirty log, widens dirty
 * ranges to whole host pages and writes the DISCARD commands, then PING(2).
 */
void mig_postcopy_save_discard(struct mig_postcopy_source *source, struct mig_writer *writer);
/* The package body: LISTEN, then the caller writes device FULL sections, then PING(3), RUN. */
void mig_postcopy_package_begin(struct mig_writer *package);
void mig_postcopy_package_end(struct mig_writer *package);
/* PACKAGED(bytes) followed by the package, then PING(4). */
void mig_postcopy_save_packaged(struct mig_postcopy_source *source, struct mig_writer *writer,
                                const uint8_t *package, uint32_t package_bytes);
/*
 * A page request (REQ_PAGES or REQ_PAGES_ID, checked by mig_rp_read): queued
 * whole host pages.  MIG_ERR_TOO_LONG when the queue is full.
 */
enum mig_err mig_postcopy_source_request(struct mig_postcopy_source *source,
                                         uint32_t block_index, uint64_t start_bytes,
                                         uint32_t length_bytes);
bool mig_postcopy_source_requests_pending(const struct mig_postcopy_source *source);
/*
 * Sends the queued requests' pages on urgent (the preempt channel's writer,
 * or NULL: inside the section being written to main).  Returns pages sent.
 */
uint64_t mig_postcopy_save_urgent(struct mig_postcopy_source *source, struct mig_writer *main,
                                  struct mig_writer *urgent);
/*
 * One postcopy PART section's payload on main: pages of queued requests are
 * served before every host page (unless urgent takes them), background pages
 * after, up to pages_max, then EOS.  The caller writes the header and footer.
 * Returns true when no page is left to send.
 */
bool mig_postcopy_save_iterate(struct mig_postcopy_source *source, struct mig_writer *main,
                               struct mig_writer *urgent, uint64_t pages_max);
/* Pages not yet sent. */
uint64_t mig_postcopy_pending_pages(const struct mig_postcopy_source *source);
/* END(ram)'s payload EOS; on the preempt channel, its final EOS. */
void mig_postcopy_save_preempt_end(struct mig_writer *urgent);
/*
 * Recovery, source: forget queued requests (the destination asks again),
 * reset both channels' CONTINUE state, and write RECV_BITMAP for every block.
 */
void mig_postcopy_save_recv_bitmaps(struct mig_postcopy_source *source,
                                    struct mig_writer *writer);
/*
 * A received bitmap (spec §8.4 body, read and checked by mig_rp_bitmap_read,
 * little-endian words) for block_index: every page not received becomes
 * dirty, every received one clean.  MIG_ERR_BAD_VALUE when no RECV_BITMAP
 * was asked for that block.
 */
enum mig_err mig_postcopy_source_bitmap(struct mig_postcopy_source *source, uint32_t block_index,
                                        const uint8_t *bitmap, uint64_t bitmap_bytes);
/* True once every asked bitmap came back: POSTCOPY_RESUME may go. */
bool mig_postcopy_source_bitmaps_done(const struct mig_postcopy_source *source);
void mig_postcopy_save_resume(struct mig_writer *writer);
const struct mig_postcopy_source_stats *mig_postcopy_source_stats(
    const struct mig_postcopy_source *source);

/* ----------------------------------------------------------- destination */

/* enum mig_postcopy_state and its step function: mig_wire.h. */

/* What the destination asks of the engine that owns the channels. */
struct mig_postcopy_dest_hooks {
  void *context;
  /*
   * Sends one return-path message (be16 type, be16 length, payload) and,
   * when tail is not NULL, tail_bytes more bytes after it (the §8.4 body).
   */
  void (*rp_send)(void *context, uint16_t type, const uint8_t *payload, uint16_t payload_bytes,
                  const uint8_t *tail, uint64_t tail_bytes);
  /* POSTCOPY_RUN: the destination VM starts. */
  void (*run)(void *context);
};

struct mig_postcopy_dest_stats {
  uint64_t discard_ranges_count;     /* ranges applied */
  uint64_t discard_pages_count;
  uint64_t precopy_pages_count;      /* pages applied before LISTEN */
  uint64_t postcopy_pages_count;     /* pages applied from LISTEN on (each exactly once) */
  uint64_t requests_count;           /* REQ_PAGES(_ID) sent */
  uint64_t rerequests_count;         /* of those, sent again after a recovery */
  uint64_t pauses_count;             /* postcopy-paused entered */
  uint64_t bitmaps_sent_count;       /* RP RECV_BITMAP answered */
  uint64_t listen_ns;                /* LISTEN, RUN and END, simulated time */
  uint64_t run_ns;
  uint64_t end_ns;
};

#define MIG_POSTCOPY_CHANNELS 2u     /* 0: main, 1: preempt */

struct mig_postcopy_channel {
  int32_t block_index;               /* host page in progress on this channel; -1: none */
  uint64_t next_page;                /* the target page that must come next */
  uint64_t host_end_page;            /* first page after that host page */
};

struct mig_postcopy_dest {           /* caller-owned; fields private */
  struct sim *sim;
  struct uffd *uffd;                 /* over the destination's blocks, machine_ram order */
  struct mig_postcopy_dest_hooks hooks;
  enum mig_postcopy_state state;
  bool paused;                       /* postcopy-paused: requests wait for the recovery */
  bool recovering;                   /* migrate-recover: RECV_BITMAP and RESUME accepted */
  int32_t request_block;             /* block of the last REQ_PAGES_ID sent; -1: none */
  uint64_t summary;                  /* local page-size summary */
  struct mig_postcopy_channel channels[MIG_POSTCOPY_CHANNELS];
  struct mig_postcopy_request outstanding[MIG_POSTCOPY_REQUESTS_MAX]; /* asked, not in */
  uint32_t outstanding_count;
  struct mig_postcopy_dest_stats stats;
};

void mig_postcopy_dest_init(struct mig_postcopy_dest *dest, struct sim *sim, struct uffd *uffd,
                            const struct mig_postcopy_dest_hooks *hooks);
/*
 * A postcopy command from the loader (ADVISE, DISCARD, LISTEN, RUN,
 * POSTCOPY_RESUME, RECV_BITMAP; the record layer checked its length).
 * MIG_OK or the error latched on reader with `command/<NAME>/...` paths.
 */
enum mig_err mig_postcopy_dest_command(struct mig_postcopy_dest *dest, struct mig_reader *reader,
                                       const struct mig_record *record);
/* A ZERO or PAGE record applied on channel (0 main, 1 preempt); the exactly-once check. */
enum mig_err mig_postcopy_dest_page(struct mig_postcopy_dest *dest, struct mig_reader *reader,
                                    uint32_t channel, uint32_t block_index, uint64_t page_index,
                                    uint64_t offset);
/* The stream ended (END(ram) and EOF loaded): every page must have arrived. */
enum mig_err mig_postcopy_dest_finish(struct mig_postcopy_dest *dest, struct mig_reader *reader);
/* The incoming channel broke in postcopy: postcopy-paused. */
void mig_postcopy_dest_pause(struct mig_postcopy_dest *dest);
/* migrate-recover: a new channel is up; RECV_BITMAP and RESUME are expected. */
void mig_postcopy_dest_recover(struct mig_postcopy_dest *dest);
bool mig_postcopy_dest_paused(const struct mig_postcopy_dest *dest);
enum mig_postcopy_state mig_postcopy_dest_state(const struct mig_postcopy_dest *dest);
const struct mig_postcopy_dest_stats *mig_postcopy_dest_stats(const struct mig_postcopy_dest *dest);

#endif /* MIG_POSTCOPY_H */
