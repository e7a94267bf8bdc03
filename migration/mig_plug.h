/*
 * mig_plug.h: postcopy and multifd plugged into the engine (mig_precopy.h's
 * struct mig_precopy_ext), each extra channel its own simulated connection.
 *
 * One plug per migration, created before mig_precopy_start when
 * postcopy-ram or multifd is on.  It owns:
 *   - multifd (docs/multifd.md): N connections, one link each, opened in
 *     setup with their initial packets; the RAM section hands its pages to
 *     mig_multifd_send; on the destination one fiber per connection reads
 *     its packets (mig_multifd_recv) and the loader's RAM EOS waits until
 *     every channel has delivered one more SYNC.  Channel bytes count in
 *     the source's rate window and in QMP's multifd-bytes.
 *   - postcopy (docs/postcopy.md): POSTCOPY_ADVISE in setup; after
 *     migrate-start-postcopy the engine hands the switch over: the source
 *     stops, DISCARDs, PACKAGED(LISTEN, devices, RUN), then PART sections of
 *     requested pages first and background pages after, END and EOF.  The
 *     destination loads through mig_postcopy_dest over a userfaultfd
 *     (models/uffd.h) on its machine: LISTEN arms it, RUN starts its VM,
 *     faults become REQ_PAGES on the return path.  With postcopy-preempt,
 *     requested pages go on a second connection read by a fiber of its own;
 *     the end waits for that channel's EOS before the exactly-once check.
 *   - recovery: mig_plug_pause (migrate-pause) breaks the channels; both
 *     sides enter postcopy-paused; mig_plug_recover (migrate-recover) opens
 *     a new main connection and return path, the source asks RECV_BITMAP
 *     per block, the received bitmaps become its dirty bitmaps, then
 *     POSTCOPY_RESUME and RESUME_ACK, and the rest goes on the new channel.
 */
#ifndef MIG_PLUG_H
#define MIG_PLUG_H

#include "sim_base.h"
#include "mig_multifd_send.h"
#include "mig_multifd_recv.h"
#include "mig_postcopy.h"
#include "mig_precopy.h"
#include "sim_link.h"
#include "sim_transport.h"
#include "uffd.h"

/*
 * How a migration's connections are made (docs/transports.md): a raw link
 * per direction (the sim: URI, as before transports existed), or a
 * connection of sim_transport.h whose two directions are carried links,
 * opened open_ns after the call (handshake, process start-up).
 */
struct mig_conn_profile {
  bool carried;                             /* over the transport (every URI but sim:) */
  struct link_conn_options conn;            /* carried: the connection; its links beneath */
  uint64_t open_ns;                         /* carried: set-up time before the first byte */
};

/*
 * A carried connection named name (static, unique among the sim's links):
 * *forward written by the caller's side, *reverse the way back (the return
 * path of a main channel; unused on a multifd one).
 */
void mig_conn_open(struct sim *sim, const struct mig_conn_profile *profile, const char *name,
                   struct link **forward, struct link **reverse);

struct mig_plug_options {
  bool postcopy;                            /* postcopy-ram */
  bool preempt;                             /* postcopy-preempt */
  bool multifd;
  uint32_t multifd_channels;                /* multifd-channels, 1 .. MIG_MULTIFD_CHANNELS_MAX */
  enum mig_multifd_compression compression; /* multifd-compression */
  int32_t level;                            /* multifd-zlib-level / -zstd-level */
  bool zero_pages;                          /* zero-page-detection=multifd */
  struct link_options link;                 /* every extra connection's profile (raw) */
  struct mig_conn_profile conn;             /* carried: every extra connection so */
  /* Optional: POSTCOPY_RUN, just before the destination VM starts (the oracles' snapshot). */
  void (*run)(void *context);
  void *run_context;
};

/* Figures for the report (query-migrate's ram.* and postcopy-* fields, and more). */
struct mig_plug_stats {
  uint64_t multifd_bytes;                   /* every byte on the multifd connections */
  struct mig_multifd_send_stats multifd_send;
  struct mig_multifd_recv_stats multifd_recv;
  struct mig_postcopy_source_stats postcopy_source;
  struct mig_postcopy_dest_stats postcopy_dest;
  struct uffd_stats uffd;                   /* blocktime per vCPU and overall, faults */
  uint32_t vcpu_count;
  uint64_t preempt_bytes;                   /* bytes on the preempt connection */
  uint64_t recoveries_count;                /* migrate-recover completed (RESUME_ACK) */
  uint64_t conn_packets_lost;               /* multifd and preempt links: lost, burst-lost or
                                               partitioned packets (faults on carried ones) */
  uint32_t conn_broken_count;               /* ...connections that reset (link_broken) */
};


struct mig_plug;

/* Allocates from the sim's arena and plugs itself into precopy (mig_precopy_ext_set). */
struct mig_plug *mig_plug_create(struct sim *sim, struct mig_precopy *precopy,
                                 const struct mig_plug_options *options);
/* Frees what is not in the arena (compressor state).  After the run. */
void mig_plug_destroy(struct mig_plug *plug);
/* migrate-start-postcopy: the switch comes at the next dirty sync.  False when it is late. */
bool mig_plug_start_postcopy(struct mig_plug *plug);
/* migrate-pause in postcopy-active: both sides pause.  False (nothing done) otherwise. */
bool mig_plug_pause(struct mig_plug *plug);
/* migrate-recover with both sides postcopy-paused: a new channel.  False otherwise. */
bool mig_plug_recover(struct mig_plug *plug);
/* The destination's userfaultfd (a shared-memory client registers with it); NULL: none. */
struct uffd *mig_plug_uffd(struct mig_plug *plug);
void mig_plug_stats(const struct mig_plug *plug, struct mig_plug_stats *stats);

/*
 * Fault injection: multifd channel index's connection breaks.  Its source
 * writes fail from now on (the migration fails, as QEMU 7.2's multifd send
 * thread's error does); its destination reader sees the end.  False when
 * there is no such channel or it already ended.  Traced "mig.multifd.fail".
 */
bool mig_plug_channel_fail(struct mig_plug *plug, uint32_t index);
/* A multifd channel's or the preempt channel's link (index multifd-channels), or NULL. */
struct link *mig_plug_conn_link(struct mig_plug *plug, uint32_t index);

#endif /* MIG_PLUG_H */
