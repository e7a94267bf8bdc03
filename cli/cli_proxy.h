/*
 * cli_proxy.h: `migsim proxy --listen URI --to URI --plan PLAN.json`, a
 * fault-injecting TCP/unix proxy between a real QEMU migration source and
 * its destination (a real QEMU with -incoming, or `migsim sink`).
 *
 * Approach (docs/proxy.md has the user's view and what QEMU 7.2 did):
 * - Every accepted connection is paired with a new connection to --to, in
 *   accept order: channel 0 is the first connection of a session (QEMU's
 *   main channel), 1.. the next ones (its multifd channels).  A session
 *   starts with the first connection and ends when all its connections are
 *   closed; the next connection starts a new session at channel 0 again.
 * - Each connection has two pipes: to-destination (the migration stream) and
 *   to-source (the return path).  A pipe reads into a 64 KiB buffer and
 *   writes it out; its offset counts the bytes read from its input.
 * - Faults come from a plan (conformance/conform_plan.h) and fire once in
 *   the proxy's life, the first time their trigger is reached.  Point faults
 *   (delay, stall, reset, truncate, drop) fire when exactly at_bytes bytes of
 *   the pipe have been forwarded: reads are capped at the next trigger and
 *   the buffer is drained first.  Corrupt XORs its mask as bytes are read.
 *   So the bytes forwarded are a pure function of the bytes received and the
 *   plan, whatever the chunking or timing (cli_proxy_test.c checks that).
 * - Delay and stall stop the pipe (no read, no write) for their time, so the
 *   sender sees TCP back-pressure; reset and drop close with SO_LINGER 0
 *   (RST); truncate sends FIN after at_bytes and then reads and drops what
 *   the sender still writes (the sender is not told).
 * Sockets are non-blocking; one poll loop serves all.  The wall clock
 * (CLOCK_MONOTONIC) times delays and stalls: this is cli/, not the
 * simulated path.
 */
#ifndef CLI_PROXY_H
#define CLI_PROXY_H

#include "sim_base.h"
#include "conform_plan.h"

#include <signal.h>

#define CLI_PROXY_CHANNELS_MAX CONFORM_PLAN_CHANNELS_MAX  /* connections per session */
#define CLI_PROXY_PIPE_BYTES (UINT32_C(64) << 10)        /* buffer of one direction */

struct cli_proxy_options {
  const char *to;                     /* tcp:HOST:PORT (numeric IPv4) or unix:PATH */
  const struct conform_plan *plan;    /* not owned; may hold no fault */
  uint32_t sessions_max;              /* return after this many sessions; 0: only on stop */
  FILE *out;                          /* human lines; may be NULL */
  FILE *log;                          /* JSON lines (docs/proxy.md); may be NULL */
  volatile sig_atomic_t *stop;        /* may be NULL; nonzero ends the loop (signals) */
};

/* Totals by direction: [CONFORM_PLAN_TO_DESTINATION], [CONFORM_PLAN_TO_SOURCE]. */
struct cli_proxy_result {
  uint32_t session_count;             /* sessions that ended */
  uint32_t connection_count;          /* connections paired, all sessions */
  uint32_t connect_failures;          /* accepted, but --to refused: closed with RST */
  uint32_t fired_count;
  bool fired[CONFORM_PLAN_FAULTS_MAX];  /* by plan index */
  uint64_t received_bytes[2];         /* read from the sender */
  uint64_t forwarded_bytes[2];        /* written to the receiver */
};

/*
 * Checks spec ("tcp:HOST:PORT" or "unix:PATH") without connecting.  Returns
 * NULL, or a message valid until the next call.
 */
const char *cli_proxy_check_address(const char *spec);

/*
 * Serves sessions on listen_fd (from cli_sink_listen) until sessions_max
 * sessions ended or *stop is set.  Returns 0, or -1 when accept fails for a
 * reason other than a transient one (errno tells).
 */
int cli_proxy_serve(int listen_fd, const struct cli_proxy_options *options,
                    struct cli_proxy_result *result);

/* "proxy: sessions N, faults fired K of M" and one line per fault not fired. */
void cli_proxy_print_summary(FILE *out, const struct conform_plan *plan,
                             const struct cli_proxy_result *result);

/* argv holds the arguments after "proxy"; returns the exit code. */
int cli_proxy_main(int argc, char **argv);

#endif /* CLI_PROXY_H */
