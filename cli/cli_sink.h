/*
 * cli_sink.h: `migsim sink --listen tcp:HOST:PORT | unix:PATH`, a
 * migration destination that a real QEMU 7.2 source migrates into.
 *
 * Approach (docs/cli.md has the user's view):
 * - Every connection is classified by its first 4 bytes: "QEVM" is the main
 *   channel, 0x11223344 a multifd channel (spec §9.1).  At most
 *   CLI_SINK_CHANNELS_MAX connections per migration.
 * - The main channel is walked as it arrives by the streaming walker
 *   (mig_inspect_walk_reader, migration/mig_inspect.h): the first bad byte is
 *   refused at once, OPEN_RETURN_PATH and PING are answered with PONG as
 *   they are read, as QEMU's destination does (spec §7, §8.1).  Only the
 *   stream's tail is held (from the first FULL section on: the device
 *   sections and the trailer that sizes them, at most stream_bytes_max);
 *   it is walked each time it ends like a trailer, and a failed walk at a
 *   look-alike is final only if no byte follows for settle_ms.
 * - Multifd channels are parsed as bytes arrive by mig_multifd (initial
 *   packet, RAM packets and their raw or zlib/zstd payloads; §9.2, §9.3) and
 *   not buffered.  Pages are counted, not kept (the sink has no RAM model):
 *   they join the per-block normal page counts after the main walk, which
 *   also checks their block names and offsets.  A 7.2 source sends one SYNC
 *   packet per channel per RAM section (§9.3), so the sink waits for that
 *   many.
 * - Each connection has its own idle limit (idle_ms_max) while it owes
 *   bytes: not yet classified, the main channel until its walk is over, a
 *   multifd channel inside a packet or short of its SYNCs.
 * - Postcopy (docs/postcopy.md): the walker follows ADVISE, DISCARD and the
 *   PACKAGED body (LISTEN, device sections, RUN); a tracker (mig_pctrack.h)
 *   keeps a received bit per page.  At LISTEN the sink picks up to
 *   postcopy_requests_max missing pages from postcopy_seed and asks for each
 *   with REQ_PAGES_ID / REQ_PAGES on the return path; from LISTEN on every
 *   page must arrive exactly once, and by EOF every page must have.  With
 *   postcopy_preempt the first connection that is neither QEVM nor multifd
 *   is 7.2's preempt channel (no magic, quiet until postcopy: no idle limit
 *   until it speaks or the walk is over), bare RAM records up to one EOS.
 * - Then, if the return path was opened, it sends SHUT(0) for a valid stream
 *   and SHUT(1) otherwise.
 * Sockets and the wall clock (poll's idle limits) are used only here, in
 * cli/.
 */
#ifndef CLI_SINK_H
#define CLI_SINK_H

#include "sim_base.h"
#include "mig_err.h"
#include "mig_inspect.h"
#include "mig_multifd.h"
#include "mig_pctrack.h"

#define CLI_SINK_CHANNELS_MAX 17u             /* main + 16 multifd channels */
#define CLI_SINK_STREAM_BYTES_MAX ((size_t)4 << 30)   /* --stream-bytes-max's bound */
#define CLI_SINK_STREAM_BYTES_DEFAULT ((size_t)256 << 20)
#define CLI_SINK_IDLE_MS_DEFAULT 20000u       /* a connection owing bytes sends none: fail */
#define CLI_SINK_SETTLE_MS_DEFAULT 500u
#define CLI_SINK_REQUESTS_DEFAULT 64u         /* postcopy pages requested after LISTEN */

struct cli_sink_options {
  size_t stream_bytes_max;          /* main-channel tail held in memory (device sections) */
  uint32_t idle_ms_max;             /* wall-clock idle limit of each connection */
  uint32_t settle_ms;               /* quiet time that confirms a failed trailer look-alike */
  const char *stream_out;           /* optional: file that gets the main channel's bytes */
  enum mig_multifd_compression multifd_compression;  /* zero: none */
  uint64_t postcopy_seed;           /* picks the pages requested after LISTEN */
  uint32_t postcopy_requests_max;   /* pages requested (0: none; <= MIG_PCTRACK_REQUESTS_MAX) */
  bool postcopy_preempt;            /* a connection that is neither QEVM nor multifd carries
                                       postcopy pages (7.2: no magic; quiet until postcopy) */
};


struct cli_sink_result {
  struct mig_error error;           /* first error; code MIG_OK when valid */
  bool walked;                      /* inspect holds a walk (deinit it) */
  struct mig_inspect inspect;       /* the main stream's walk, multifd pages added */
  uint64_t stream_bytes;            /* main channel */
  uint32_t false_trailers;          /* trailer look-alikes whose walk failed, then more came */
  bool return_path;                 /* OPEN_RETURN_PATH seen */
  uint32_t pongs_sent;
  bool shut_sent;
  uint32_t shut_value;              /* 0 clean, 1 failed */
  uint32_t multifd_channel_count;
  uint64_t multifd_packets;
  uint64_t multifd_sync_packets;
  uint64_t multifd_pages;
  uint64_t multifd_bytes;           /* all bytes on multifd channels */
  uint64_t multifd_payload_bytes;   /* page payloads as sent: raw or compressed */
  enum mig_multifd_compression multifd_compression;  /* from the options */
  enum mig_postcopy_state postcopy_state;  /* the walk's, at its end */
  struct mig_pctrack_stats postcopy;       /* pages per phase, requests and their arrivals */
  uint32_t requests_sent;           /* REQ_PAGES_ID + REQ_PAGES messages */
  uint32_t connection_count;        /* accepted */
  bool preempt_channel;             /* one spoke as the postcopy-preempt channel */
};

/*
 * Opens a listening socket for "tcp:HOST:PORT" (numeric IPv4; port 0 picks
 * one) or "unix:PATH" (an existing socket file is replaced).  Returns the fd,
 * or -1 with a message in error.  *port_out gets the bound TCP port (0 for
 * unix).
 */
int cli_sink_listen(const char *spec, uint16_t *port_out, char *error, size_t error_bytes);

/*
 * Serves one migration on listen_fd: accepts its channels, validates, answers
 * the return path, and closes the channels.  Returns result->error.code.
 * Release the result with cli_sink_result_deinit in every case.
 */
enum mig_err cli_sink_serve(int listen_fd, const struct cli_sink_options *options,
                            struct cli_sink_result *result);
void cli_sink_result_deinit(struct cli_sink_result *result);

/* The inspect summary (with --summary), then the sink's own lines. */
void cli_sink_print(FILE *out, const struct cli_sink_result *result, bool summary);


/* argv holds the arguments after "sink"; returns the exit code. */
int cli_sink_main(int argc, char **argv);

#endif /* CLI_SINK_H */
