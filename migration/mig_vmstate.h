/*
 * mig_vmstate.h: the interpreter of vmstate descriptions (models/vmstate_desc.h).
 *
 * Save writes a description's fields and needed subsections (spec §5); load
 * reads them back with QEMU's version rules and hook order (pre_load, fields,
 * subsections, post_load).  Save can also build the section's entry of the
 * VM-description JSON (spec §10.2) with jansson.  Visit lists the canonical
 * encoding of every present field with its "desc/field" path, which the
 * oracles compare between source and destination.
 */
#ifndef MIG_VMSTATE_H
#define MIG_VMSTATE_H

#include "sim_base.h"
#include "mig_stream.h"
#include "vmstate_desc.h"

#include <jansson.h>

/*
 * Writes fields then subsections of desc for the object at opaque, at
 * desc->version_id.  If json_out is not NULL it receives a new JSON object
 * {"vmsd_name", "version", "fields", ["subsections"]} as QEMU writes it.
 */
enum mig_err mig_vmstate_save(struct mig_writer *writer, const struct vmstate_desc *desc,
                              void *opaque, json_t **json_out);

/*
 * Reads desc's fields at version_id into opaque.  Errors latch in the reader
 * with paths "<desc name>/<field>" (nested: "<desc>/<field>/<nested field>").
 */
enum mig_err mig_vmstate_load(struct mig_reader *reader, const struct vmstate_desc *desc,
                              void *opaque, int32_t version_id);

/* Called once per present field element: path, canonical (wire) bytes. */
typedef void mig_vmstate_visit_fn(void *context, const char *path, const uint8_t *bytes,
                                  size_t count);
/*
 * Visits every field that a save would write, in wire order, with a path per
 * field ("toydev/count", "toydev/regs[3]", "toydev/extra/value"); a sent
 * subsection is announced first with its own path and no bytes.
 */
void mig_vmstate_visit(const struct vmstate_desc *desc, void *opaque,
                       mig_vmstate_visit_fn *visit, void *context);
/*
 * The visit as text: one "path=hex" line per field, "path" alone for a sent
 * subsection.  False when it does not fit in bytes (the text is then cut
 * short, still NUL-terminated).
 */
bool mig_vmstate_visit_text(const struct vmstate_desc *desc, void *opaque, char *text,
                            size_t bytes);

#endif /* MIG_VMSTATE_H */
