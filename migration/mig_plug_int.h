/*
 * mig_plug_int.h: the plug's private layout, shared by mig_plug.c
 * (postcopy, the ext hooks) and mig_plug_conn.c (connections, multifd).
 */
#ifndef MIG_PLUG_INT_H
#define MIG_PLUG_INT_H

#include "sim_base.h"
#include "mig_plug.h"
#include "mig_precopy_int.h"
#include "sim_fiber.h"

struct mig_plug_conn;
/* The destination fiber's work on a connection, reading it through reader. */
typedef void mig_plug_conn_body_fn(struct mig_plug_conn *conn, struct mig_reader *reader);

/*
 * One extra one-way connection (a multifd channel or the preempt channel):
 * the source writes it from the engine's source fiber through writer, the
 * destination reads it on a fiber of its own.
 */
struct mig_plug_conn {
  struct mig_plug *plug;
  struct link *link;
  uint32_t index;                          /* multifd channel, or the preempt's */
  /* Source. */
  struct mig_writer writer;
  uint8_t writer_buffer[MIG_WRITER_BUFFER_BYTES];
  bool waiting_space;
  uint64_t bytes;                          /* written */
  /* Destination. */
  struct sim_fiber *fiber;
  struct sim_event wake;
  bool waiting;                            /* blocked in refill */
  uint8_t *direct;                         /* while waiting: the reader's buffer, which */
  size_t direct_capacity;                  /* deliveries fill before the ring */
  size_t direct_count;
  uint8_t *ring;                           /* received, not yet read (grows when full) */
  uint64_t ring_capacity;
  uint64_t ring_head;
  uint64_t ring_count;
  bool closed;                             /* end of stream delivered */
  bool failed;                             /* fault injection: the connection broke */
  bool done;                               /* the body returned */
  mig_plug_conn_body_fn *body;
  uint8_t reader_buffer[MIG_READER_BUFFER_BYTES];
  struct mig_error error;                  /* the body's error, when it failed */
};

struct mig_plug {
  struct sim *sim;
  struct mig_precopy *precopy;
  struct mig_plug_options options;
  struct ram_block *source_blocks[MIG_RAM_BLOCKS_MAX];
  struct ram_block *dest_blocks[MIG_RAM_BLOCKS_MAX];
  struct mig_rp_block rp_blocks[MIG_RAM_BLOCKS_MAX];
  uint32_t block_count;
  /* multifd */
  struct mig_plug_conn *channels[MIG_MULTIFD_CHANNELS_MAX];
  struct mig_multifd_send *multifd_send;
  struct mig_multifd_recv *multifd_recv;
  uint64_t eos_count;                      /* destination: RAM EOS records so far */
  bool dest_waiting_sync;                  /* destination fiber waits for SYNCs */
  /* postcopy, source */
  struct mig_postcopy_source source;
  bool start_requested;                    /* migrate-start-postcopy came */
  bool switched;                           /* the source runs the postcopy phase */
  struct mig_plug_conn *preempt;           /* postcopy-preempt's connection, or NULL */
  bool source_paused;                      /* the source waits in postcopy-paused */
  bool resume_acked;                       /* RESUME_ACK came on the new return path */
  /* postcopy, destination */
  struct uffd *uffd;
  struct mig_postcopy_dest dest;
  struct mig_load_postcopy load;           /* the loader's hooks (precopy->ext.dest_postcopy) */
  bool dest_paused;                        /* the destination waits for migrate-recover */
  bool recover_requested;
  bool dest_waiting_preempt;               /* finish waits for the preempt channel's EOS */
  /* The return path of a recovered channel: the plug reads it (RECV_BITMAP's bodies). */
  struct link *rp_link;
  uint8_t *rp_bytes;                       /* a message gathered, with its bitmap body */
  uint64_t rp_count;
  uint64_t rp_capacity;
  struct mig_rp_state rp_state;
  uint8_t *rp_out;                         /* destination: queued return-path bytes */
  uint64_t rp_out_count;
  uint64_t rp_out_capacity;
  uint32_t links_count;                    /* links created, for unique names */
  char link_names[2 * MIG_MULTIFD_CHANNELS_MAX + 8][24];
  uint64_t recoveries_count;
};

/* mig_plug_conn.c */
struct link *mig__plug_link(struct mig_plug *plug, const char *kind, uint32_t index);
/* The same; a carried connection also gives its way back in *reverse (else left alone). */
struct link *mig__plug_link_pair(struct mig_plug *plug, const char *kind, uint32_t index,
                                 struct link **reverse);
struct mig_plug_conn *mig__plug_conn_create(struct mig_plug *plug, const char *kind,
                                            uint32_t index, mig_plug_conn_body_fn *body);
/* The destination's fiber starts reading (at the current time). */
void mig__plug_conn_start(struct mig_plug_conn *conn);
void mig__plug_multifd_create(struct mig_plug *plug);
void mig__plug_multifd_setup(struct mig_plug *plug);
enum mig_err mig__plug_multifd_eos(void *context, struct mig_reader *reader);
void mig__plug_multifd_close(struct mig_plug *plug);
/* mig_plug.c: a multifd page applied (postcopy's received bitmap). */
void mig__plug_multifd_placed(void *context, uint32_t block_index, uint64_t page_index);
/* Destination: wakes the loader's fiber if it waits on the plug. */
void mig__plug_dest_kick(struct mig_plug *plug);

#endif /* MIG_PLUG_INT_H */
