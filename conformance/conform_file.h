/*
 * conform_file.h: the simulated file of a file: URI (docs/transports.md).
 *
 * migrate "file:<path>" writes the stream into it through a carried link
 * (sim_link.h): the disk takes bytes at its write rate behind a write-back
 * window, so the source's writer blocks as on a real file; nothing reaches
 * the destination then.  migrate-incoming "file:<path>" later reads it back
 * at the disk's read rate into the waiting destination (loadvm's shape), and
 * the end of the file closes the stream.  A disk-full fault makes the next
 * write fail (ENOSPC): the link breaks, the source fails the migration and
 * runs on, and the partial file is what a restore would find.
 */
#ifndef CONFORM_FILE_H
#define CONFORM_FILE_H

#include "sim_base.h"
#include "sim.h"
#include "sim_link.h"

/* Dirty page-cache bytes the disk may be behind the writer. */
#define CONFORM_FILE_WRITEBACK_BYTES (UINT64_C(4) << 20)
/* Bytes per read-back delivery. */
#define CONFORM_FILE_READ_CHUNK_BYTES (UINT64_C(64) << 10)

struct conform_file;

/* Allocates from the sim's arena (the contents grow with malloc; conform_file_destroy). */
struct conform_file *conform_file_create(struct sim *sim, const char *name,
                                         uint64_t write_bytes_per_s, uint64_t read_bytes_per_s);
void conform_file_destroy(struct conform_file *file);
/* The link a migration writes the file through (and its destination reads it from). */
struct link *conform_file_link(struct conform_file *file);
/* migrate-incoming: read the file back into the link's receiver, from now on. */
void conform_file_restore(struct conform_file *file);
/* disk-full: every later write fails.  False when the file was already closed or full. */
bool conform_file_disk_full(struct conform_file *file);
uint64_t conform_file_bytes(const struct conform_file *file);

#endif /* CONFORM_FILE_H */
