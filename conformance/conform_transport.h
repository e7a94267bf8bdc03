/*
 * conform_transport.h: what each migration URI costs (docs/transports.md).
 *
 * A scenario's migrate/migrate-incoming "uri" names a transport; each is a
 * named simulated endpoint with its own costs, reasoned from what the bytes
 * go through on a real host:
 *   sim:   the scenario's link as given, raw (no transport; the catalog's
 *          historical runs and their digests);
 *   tcp:   the scenario's link under sim_transport (40-byte segment headers,
 *          retransmission, reset after dead_ns), one round trip of handshake,
 *          and one migration thread's two copies per byte as a rate cap;
 *   fd:    tcp over a socket management already connected: no handshake;
 *   unix:  a local socket: no network, so the scenario's link is ignored;
 *          the two copies, a wake-up's latency, the default socket buffer;
 *   exec:  the scenario's link behind a relaying process: its start-up, a
 *          pipe buffer more, and the relay's own copy rate;
 *   rdma:  the scenario's link with reliable connections in the NIC: page
 *          data is written from guest memory by the NIC, no CPU copy cap;
 *          connection manager set-up of three round trips;
 *   file:  a simulated file (conform_run.c): written at the disk's write
 *          rate by a stopped source, read back later at its read rate.
 */
#ifndef CONFORM_TRANSPORT_H
#define CONFORM_TRANSPORT_H

#include "sim_base.h"
#include "mig_plug.h"
#include "conform_scenario.h"

/* One stream-copying thread: a copy into QEMUFile's buffer and one into the socket's. */
#define CONFORM_TRANSPORT_COPY_BYTES_PER_S (UINT64_C(4) << 30)
/* A local unix socket: the same two copies, no wire. */
#define CONFORM_TRANSPORT_UNIX_BYTES_PER_S (UINT64_C(4) << 30)
#define CONFORM_TRANSPORT_UNIX_LATENCY_NS UINT64_C(5000)
#define CONFORM_TRANSPORT_UNIX_BUFFER_BYTES UINT32_C(212992)  /* net.core.wmem_default */
#define CONFORM_TRANSPORT_UNIX_CONNECT_NS UINT64_C(20000)
/* exec: fork and exec of /bin/sh -c, and a relay doing one more copy pair per byte. */
#define CONFORM_TRANSPORT_EXEC_START_NS UINT64_C(1000000)
#define CONFORM_TRANSPORT_EXEC_BYTES_PER_S (UINT64_C(1) << 30)
#define CONFORM_TRANSPORT_PIPE_BYTES UINT32_C(65536)          /* Linux's default pipe */
/* TCP's retransmission bounds (Linux TCP_RTO_MIN, TCP_RTO_MAX) and tcp_retries2's give-up. */
#define CONFORM_TRANSPORT_RTO_NS_MIN (UINT64_C(200) * 1000000)
#define CONFORM_TRANSPORT_RTO_NS_MAX (UINT64_C(120) * 1000000000)
#define CONFORM_TRANSPORT_DEAD_NS_DEFAULT (UINT64_C(924600) * 1000000)
/* file: a local NVMe disk's sustained sequential rates through the page cache. */
#define CONFORM_TRANSPORT_FILE_WRITE_BYTES_PER_S (UINT64_C(1) << 30)
#define CONFORM_TRANSPORT_FILE_READ_BYTES_PER_S (UINT64_C(2) << 30)

/*
 * The connection profile of transport for a scenario (its link and
 * "transport" keys).  sim: and file: are raw (profile->carried false).
 * False with a message when the link cannot carry it (packets no larger
 * than a segment header).
 */
bool conform_transport_profile(enum conform_transport transport,
                               const struct conform_scenario *scenario,
                               struct mig_conn_profile *profile, char *error,
                               size_t error_bytes);

#endif /* CONFORM_TRANSPORT_H */
