/*
 * mig_analyze.h: decodes device sections with the stream's own VM-description
 * JSON (the trailer, spec §10) into the JSON shape that QEMU's
 * scripts/analyze-migration.py prints with `-d state` (7.2-era script).
 *
 * The section boundaries come from mig_inspect (a walk of the whole stream);
 * this module walks each description the way the script does: fields in order,
 * "array_len" arrays unfolded, "index" elements appended, nested "struct"
 * fields, then one subsection per described subsection.  Every value is a
 * string ("0x…" integers, "xx xx" bytes) or a JSON bool, as in the script.
 * A payload that does not match its description is rejected with the byte
 * offset and a `section/field` path.  docs/format.md, "analyze output", lists
 * where the output may differ from the script's.
 */
#ifndef MIG_ANALYZE_H
#define MIG_ANALYZE_H

#include "sim_base.h"
#include "mig_err.h"
#include "mig_inspect.h"

#include <jansson.h>

/*
 * Decodes one section payload: payload[0, count) lies at stream offset
 * `offset`; desc is the trailer's device entry (an object with "fields" and
 * optionally "subsections"); idstr starts every error path.  Every byte must
 * be covered by the description.  Returns MIG_OK with *out a new JSON object
 * (the caller owns it), or the error code with *out NULL and *error filled.
 */
enum mig_err mig_analyze_section(const json_t *desc, const uint8_t *payload, size_t count,
                                 uint64_t offset, const char *idstr, json_t **out,
                                 struct mig_error *error);

/*
 * Decodes a whole stream bytes[0, count) that mig_inspect_stream walked
 * without error (inspect is its result): one member per START/FULL section,
 * keyed "idstr (section_id)", in stream order; RAM gives its block sizes,
 * "block" its per-device chunk counts (docs/format.md).
 * Same return convention as mig_analyze_section.
 */
enum mig_err mig_analyze_stream(const uint8_t *bytes, size_t count,
                                const struct mig_inspect *inspect, json_t **out,
                                struct mig_error *error);

#endif /* MIG_ANALYZE_H */
