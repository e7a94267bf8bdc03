/*
 * mig_precopy_int.h: the engine's private layout, for the modules of this
 * folder that plug into it (postcopy, multifd, throttling, XBZRLE): STYLE
 * R2's foo_int.h.  Nothing outside migration/ includes it.
 *
 * Each fiber waits for one thing at a time and owns one wake event: the
 * source waits for link space, its rate-limit window, an ack or a
 * migrate-continue; the destination waits for bytes.  Link callbacks never
 * resume a fiber directly; they arm the wake event at the current time.
 */
#ifndef MIG_PRECOPY_INT_H
#define MIG_PRECOPY_INT_H

#include "sim_base.h"
#include "mig_limits.h"
#include "mig_live.h"
#include "mig_precopy.h"
#include "mig_ram.h"
#include "mig_rp.h"
#include "mig_state.h"
#include "sim_fiber.h"

struct mig_precopy {
  struct sim *sim;
  struct machine *source;
  struct machine *dest;
  struct link *link;
  struct mig_precopy_params params;
  struct mig_precopy_hooks hooks;
  struct mig_precopy_ext ext;              /* plug-in; members may be NULL */
  struct mig_precopy_stats stats;
  struct mig_state_machine source_state;   /* stats.status mirrors it */
  struct mig_state_machine dest_state;     /* stats.dest_status mirrors it */
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
  bool rate_limited;                       /* setup and active: max-bandwidth applies */
  bool cancelled;                          /* migrate-cancel or a resize: the fiber winds up */
  bool continued;                          /* migrate-continue came (pre-switchover) */
  bool stream_whole;                       /* every byte written and the link closed */
  /* Auto-converge (spec §13.4): the accounting period and the throttle. */
  uint64_t period_start_ns;                /* current period began */
  uint64_t period_start_bytes;             /* transferred_bytes then */
  uint64_t period_dirty_pages;             /* pages newly dirty at syncs since */
  uint32_t dirty_rate_high_count;          /* periods in a row over the trigger */
  uint32_t throttle_pct;                   /* the vCPUs' throttle now */
  bool channel_broken;                     /* a plug-in cut the channel: writes fail (EIO) */
  /* Destination side. */
  struct sim_fiber *dest_fiber;
  struct sim_event dest_wake;
  bool dest_waiting;                       /* blocked in refill */
  uint8_t *rx_bytes;                       /* received, not yet parsed (a ring) */
  uint64_t rx_capacity;
  uint64_t rx_head;                        /* ring index of the first unread byte */
  uint64_t rx_count;                       /* unread bytes */
  bool rx_closed;                          /* the link delivered end-of-stream */
  bool conn_reset;                         /* fault injection: the connection was reset */
  uint8_t *rx_direct;                      /* while refill waits: the reader's buffer */
  size_t rx_direct_capacity;               /* bytes it can take */
  size_t rx_direct_count;                  /* bytes deliveries put there (the ring was empty) */
  bool dest_refused;                       /* its load failed: it reads no more (closed) */
  uint8_t reader_buffer[MIG_READER_BUFFER_BYTES];
  /* Devices with live sections (a vfiodev's data): their handlers (mig_live.h). */
  struct mig_live_set lives;
  uint64_t dest_busy_until_ns;             /* the last device's loading ends (max below) */
  uint64_t device_busy_until_ns[MIG_LOAD_LIVES_MAX]; /* each device loads on its own */
  uint32_t acks_pending_count;             /* destination: devices yet to approve */
  uint64_t ack_at_ns;                      /* the latest approval so far (its load done) */
  bool ack_sent;                           /* destination: SWITCHOVER_ACK is on the wire */
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
  bool dest_autostart_off;                 /* -S: completed, the guest stays paused */
  mig_precopy_rp_filter_fn *rp_filter;     /* tests: drops destination messages */
  void *rp_filter_context;
};

/* Source and destination state changes (traced "mig.state"); stats mirror them. */
void mig__precopy_source_state(struct mig_precopy *precopy, enum mig_state to);
void mig__precopy_dest_state(struct mig_precopy *precopy, enum mig_state to);
/* From the source fiber: sleep until time_ns; false when the fiber is being torn down. */
bool mig__precopy_source_sleep_until(struct mig_precopy *precopy, uint64_t time_ns);
/*
 * Postcopy recovery (migrate-recover): the source writes, and the
 * destination reads, a new channel from now on; the writer starts afresh
 * (offset 0) and the destination's received bytes are dropped.  reverse
 * becomes the return path the destination writes (its reader is the
 * caller's).
 */
void mig__precopy_channel_replace(struct mig_precopy *precopy, struct link *link,
                                  struct link *reverse);
/* Destination: one return-path message (spec §8), payload_bytes <= 16. */
void mig__precopy_rp_send(struct mig_precopy *precopy, uint16_t type, const uint8_t *payload,
                          uint16_t payload_bytes);

#endif /* MIG_PRECOPY_INT_H */
