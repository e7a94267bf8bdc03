/*
 * cli_sink.h: `migsim sink --listen tcp:HOST:PORT | unix:PATH`, a
 * migration destination that a real QEMU 7.2 source migrates into.
 *
 * Approach (docs/cli.md has the user's view):
 * - Every connection is classified by its first 4 bytes: "QEVM" is the main
 *   channel, 0x11223344 a multifd channel (spec §9.1).  At most
 *   CLI_SINK_CHANNELS_MAX connections per migration.
 * - The main channel is buffered whole (at most stream_bytes_max).  Its
 *   prefix (header, configuration, the commands before the first section) is
 *   walked as bytes arrive, so OPEN_RETURN_PATH and PING are answered at once
 *   with PONG, as QEMU's destination does (spec §7, §8.1).
 * - FULL sections carry no length, so the full validation waits for the end:
 *   the stream is complete when it ends in EOF, 0x06, be32 N and N bytes of
 *   JSON (each byte is searched once for such a start), or when the source
 *   closes the channel.  mig_inspect_stream then walks it whole; a failed walk
 *   at a trailer look-alike is final only if no byte follows for settle_ms.
 * - Multifd channels are parsed as bytes arrive (initial packet, RAM packets
 *   and their payloads; §9.2, §9.3) and not buffered.  Payloads are raw pages
 *   (nocomp) or, with options.multifd_compression, zlib or zstd data that is
 *   decompressed as it arrives into a scratch buffer (one inflate or zstd
 *   stream per channel, kept across packets) and must give exactly
 *   normal_pages x 4096 bytes.  Pages are counted, not kept (the sink has
 *   no RAM model, whatever the method): they join the per-block normal page
 *   counts after the main walk, which also checks their block names and
 *   offsets.  A 7.2 source sends one SYNC packet per
 *   channel per RAM section (§9.3), so the sink waits for that many.
 * - Then, if the return path was opened, it sends SHUT(0) for a valid stream
 *   and SHUT(1) otherwise.
 * Sockets and the wall clock (poll's idle limit) are used only here, in
 * conformance/.
 */
#ifndef CLI_SINK_H
#define CLI_SINK_H

#include "sim_base.h"
#include "mig_err.h"
#include "mig_inspect.h"

#define CLI_SINK_CHANNELS_MAX 17u             /* main + 16 multifd channels */
#define CLI_SINK_STREAM_BYTES_MAX ((size_t)4 << 30)
#define CLI_SINK_IDLE_MS_DEFAULT 20000u       /* no byte for this long: fail */
#define CLI_SINK_SETTLE_MS_DEFAULT 500u
#define CLI_SINK_MULTIFD_PAGES_MAX 128u       /* 512 KiB / 4 KiB (spec §9.3) */
#define CLI_SINK_MULTIFD_INITIAL_BYTES 64u
#define CLI_SINK_MULTIFD_PACKET_BYTES (320u + 8u * CLI_SINK_MULTIFD_PAGES_MAX)
/*
 * A compressed payload's next_packet_size bound: QEMU 7.2's zlib and zstd
 * receivers read it into a buffer of twice the 512 KiB packet, without
 * checking (spec §9.3); the sink rejects anything larger.
 */
#define CLI_SINK_MULTIFD_COMPRESSED_BYTES_MAX (2u * CLI_SINK_MULTIFD_PAGES_MAX * 4096u)
/*
 * zstd frames name their window size; the decoder refuses windows above
 * 2^25 (32 MiB, the window of level 20, QEMU's highest multifd-zstd-level),
 * so a hostile frame cannot make it allocate more per channel.
 */
#define CLI_SINK_ZSTD_WINDOW_LOG_MAX 25

/* The destination's multifd-compression parameter; the flag packets must carry (§9.3). */
enum cli_sink_compression {
  CLI_SINK_COMPRESSION_NONE = 0,  /* nocomp, flag 0 (QEMU's default) */
  CLI_SINK_COMPRESSION_ZLIB,      /* flag 0x2 */
  CLI_SINK_COMPRESSION_ZSTD,      /* flag 0x4 */
};

struct cli_sink_options {
  size_t stream_bytes_max;          /* main-channel bytes held in memory */
  uint32_t idle_ms_max;             /* wall-clock idle limit once connected */
  uint32_t settle_ms;               /* quiet time that confirms a failed trailer look-alike */
  const char *stream_out;           /* optional: file that gets the main channel's bytes */
  enum cli_sink_compression multifd_compression;  /* zero: none */
};

struct cli_sink_multifd_block {
  char name[MIG_IDSTR_BYTES_MAX + 1];
  uint64_t pages;                   /* normal pages received for the block */
  uint64_t offset_max;              /* largest page offset seen */
  uint64_t offset_max_at;           /* channel byte offset of that offset's entry */
  uint32_t offset_max_channel;      /* connection index that sent it */
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
  enum cli_sink_compression multifd_compression;  /* from the options */
  uint32_t multifd_block_count;
  struct cli_sink_multifd_block multifd_blocks[MIG_RAM_BLOCKS_MAX];
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

/* "none", "zlib" or "zstd". */
const char *cli_sink_compression_name(enum cli_sink_compression compression);

/* argv holds the arguments after "sink"; returns the exit code. */
int cli_sink_main(int argc, char **argv);

#endif /* CLI_SINK_H */
