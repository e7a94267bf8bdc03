/*
 * cli_inspect.h: `migsim inspect FILE [--format summary] [--validate]`:
 * walks a migration stream from a file (mapped) or stdin (streamed; xz
 * input is decoded as it is walked, cli_input.h) with mig_inspect, and
 * prints a summary or a verdict.
 */
#ifndef CLI_INSPECT_H
#define CLI_INSPECT_H

#include "sim_base.h"
#include "mig_inspect.h"
#include "mig_ramapply.h"
#include "mig_stream.h"

#define CLI_INSPECT_BYTES_MAX ((size_t)4 << 30)   /* a stream read into memory */

/*
 * Reads path ("-" is stdin) whole into *out (initialised here, count_max
 * CLI_INSPECT_BYTES_MAX), decompressing .xz data (detected by its magic),
 * for the readers that need it whole (tests, benches); `migsim inspect`
 * itself maps or streams its input (cli_input.h).  Returns false with a
 * message in error.
 */
bool cli_inspect_read(const char *path, struct mig_membuf *out, char *error,
                      size_t error_bytes);
void cli_inspect_print_summary(FILE *out, const struct mig_inspect *inspect);
/*
 * sha256 (OpenSSL EVP) of bytes [start, end) of RAM block `block` after the
 * stream was applied; writes 64 hex digits + NUL to hex.  False with a message
 * when the block is unknown, the range is empty or outside the block, or the
 * block is an x-ignore-shared block the stream never wrote (its contents live
 * in the shared backend file, not in the stream).
 */
bool cli_inspect_ram_sha256(const struct mig_inspect *inspect,
                            const struct mig_ramapply *apply, const char *block,
                            uint64_t start, uint64_t end, char hex[65], char *error,
                            size_t error_bytes);
/* Parses "BLOCK:START-END" (numbers in C syntax, e.g. 0x100000); false when malformed. */
bool cli_inspect_parse_range(const char *text, char *block, size_t block_bytes,
                             uint64_t *start, uint64_t *end);
/* argv holds the arguments after "inspect"; returns the exit code. */
int cli_inspect_main(int argc, char **argv);

#endif /* CLI_INSPECT_H */
