/*
 * cli_analyze.h: `migsim inspect FILE --format analyze`: prints a walked
 * stream as QEMU's scripts/analyze-migration.py `-d state` does (7.2-era
 * script), device fields decoded by migration/mig_analyze.c from the stream's
 * own VM description.  The text is the script's: 4-space indent, ": " after
 * keys, non-ASCII escaped, one trailing newline (docs/format.md, "analyze
 * output", lists the known differences).
 */
#ifndef CLI_ANALYZE_H
#define CLI_ANALYZE_H

#include "sim_base.h"
#include "mig_inspect.h"

#include <jansson.h>

/* The script's rendering of root; malloc'd, NUL-terminated; NULL on allocation failure. */
char *cli_analyze_text(const json_t *root);

/*
 * Decodes bytes[0, count), which mig_inspect_stream walked without error into
 * *inspect, and prints the result to out.  On a decoding error prints
 * "offset 0x…: section/field: message (detail)" to err instead.  Returns the
 * process exit code (0, or CONFORM_BAD_INPUT).
 */
int cli_analyze_print(FILE *out, FILE *err, const uint8_t *bytes, size_t count,
                      const struct mig_inspect *inspect);

#endif /* CLI_ANALYZE_H */
