/*
 * cli_reencode.h: `migsim reencode IN OUT [--rechunk N]`: walks IN
 * (file, - for stdin, xz accepted) and writes it again from its parsed records
 * (migration/mig_reencode.h) to OUT (- for stdout).
 */
#ifndef CLI_REENCODE_H
#define CLI_REENCODE_H

#include "sim_base.h"
#include "mig_reencode.h"
#include "mig_stream.h"

#define CLI_REENCODE_RECHUNK_DEFAULT 97u  /* page records per RAM PART with --rechunk */

/*
 * Re-encodes bytes[0, count) into out (initialised here, bounded like the
 * input).  Returns MIG_OK or the walk's error in *error; *sections_added
 * (may be NULL) receives the number of sections rechunking added.
 */
enum mig_err cli_reencode_bytes(const uint8_t *bytes, size_t count,
                                const struct mig_reencode_options *options,
                                struct mig_membuf *out, uint64_t *sections_added,
                                struct mig_error *error);
/* argv holds the arguments after "reencode"; returns the exit code. */
int cli_reencode_main(int argc, char **argv);

#endif /* CLI_REENCODE_H */
