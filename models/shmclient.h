/*
 * shmclient.h: an external process that shares guest memory, as a
 * vhost-user backend does (QEMU docs/devel/migration "Postcopy with shared
 * memory"; seed 003).  It maps one region of one RAM block at an address of
 * its own and reads guest pages there at a steady rate (a backend reading
 * the buffers the guest posted).
 *
 * During postcopy on the destination the client has its own view of guest
 * memory, so the migration layer's page requests for vCPUs do not cover it:
 * it registers its region with the machine's userfaultfd (vhost-user's
 * postcopy messages pass the userfaultfd and the mapping table to QEMU), and
 * a read of a missing page faults.  The fault address in the client's space
 * is translated back to (block, page) through the table, the page is
 * requested on the client's behalf, and the read goes on when it is placed.
 * A client that did not register reads whatever is there; each such read of
 * a missing page is counted in stale_reads_count, which a correct migration
 * keeps at 0.
 */
#ifndef SHMCLIENT_H
#define SHMCLIENT_H

#include "sim_base.h"
#include "machine.h"
#include "uffd.h"

struct shmclient_config {
  uint32_t block_index;           /* machine_ram index of the shared block */
  uint64_t map_offset_bytes;      /* region start in the block, page aligned */
  uint64_t map_bytes;             /* region length, whole pages, > 0 */
  uint64_t client_base;           /* the region's address in the client, page aligned */
  uint64_t reads_per_s;           /* reads per second of simulated time, > 0 */
  uint64_t duration_ns;           /* it stops reading this long after start */
};

struct shmclient_stats {
  uint64_t reads_count;           /* pages read */
  uint64_t faults_count;          /* reads that waited for their page */
  uint64_t blocked_ns;            /* time spent waiting */
  uint64_t stale_reads_count;     /* unregistered reads of a missing page (must stay 0) */
  uint64_t digest;                /* fold of (page, page hash) over every read */
};

struct shmclient;

/* Allocates from the machine's sim; index (< 16) names its PRNG stream and waiter id. */
struct shmclient *shmclient_create(struct machine *machine, const struct shmclient_config *config,
                                   uint32_t index);
/* True when the configuration fits the machine (parsers); shmclient_create asserts it. */
bool shmclient_config_valid(const struct machine *machine, const struct shmclient_config *config);
/* Registers the region with the machine's userfaultfd (the vhost-user postcopy handshake). */
void shmclient_register(struct shmclient *client);
/* Starts (or stops) reading now. */
void shmclient_start(struct shmclient *client);
void shmclient_stop(struct shmclient *client);
/*
 * The client's mapping table: its address to (block, page).  False when the
 * address lies outside its region.
 */
bool shmclient_translate(const struct shmclient *client, uint64_t client_address,
                         uint32_t *block_index, uint64_t *page_index);
/* The waiter id its faults carry (UFFD_WHO_CLIENT_BASE + index). */
uint32_t shmclient_who(const struct shmclient *client);
void shmclient_stats_get(const struct shmclient *client, struct shmclient_stats *stats);

#endif /* SHMCLIENT_H */
