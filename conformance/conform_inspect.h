/*
 * conform_inspect.h: `migsim inspect FILE [--format summary] [--validate]`:
 * reads a migration stream from a file or stdin (xz-compressed input is
 * decompressed), walks it with mig_inspect, and prints a summary or a verdict.
 */
#ifndef CONFORM_INSPECT_H
#define CONFORM_INSPECT_H

#include "sim_base.h"
#include "mig_inspect.h"
#include "mig_stream.h"

#define CONFORM_INSPECT_BYTES_MAX ((size_t)4 << 30)   /* a stream read into memory */
#define CONFORM_INSPECT_XZ_MEMORY_MAX (UINT64_C(256) << 20)

/*
 * Reads path ("-" is stdin) into *out (initialised here, count_max
 * CONFORM_INSPECT_BYTES_MAX), decompressing .xz data (detected by its magic).
 * Returns false with a message in error.
 */
bool conform_inspect_read(const char *path, struct mig_membuf *out, char *error,
                          size_t error_bytes);
void conform_inspect_print_summary(FILE *out, const struct mig_inspect *inspect);
/* argv holds the arguments after "inspect"; returns the exit code. */
int conform_inspect_main(int argc, char **argv);

#endif /* CONFORM_INSPECT_H */
