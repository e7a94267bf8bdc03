/*
 * mig_vmsd_dump.h: migsim's descriptions in QEMU's `-dump-vmstate` JSON
 * (QEMU 7.2 migration/savevm.c dump_vmstate_json_to_file; docs/compat.md).
 *
 * The dump has one entry per device class, keyed by its type name:
 * {"Name", "version_id", "minimum_version_id", "Description"}, and
 * "vmschkmachine": {"Name": machine type}.  A description lists its Fields
 * ({"field", "version_id", "field_exists", ["num"], "size",
 * ["Description"]}; VALIDATE fields are left out, as QEMU leaves out
 * VMS_MUST_EXIST ones; "num" is written for fixed arrays of more than one
 * element, as QEMU 8.1+ does for VMS_ARRAY) and its Subsections.
 *
 * Extensions (on unless options say otherwise; QEMU's readers ignore them):
 * a section's "x-priority" (its save-order priority) and a subsection's
 * "x-needed" ("always" when it has no needed predicate, else "predicate")
 * and "x-sent" (the predicate's value on the class's instance as created,
 * before the guest ran: true means every guest of that machine type sends
 * it).  These let mig_vmsd_diff.h see what a QEMU dump hides.
 */
#ifndef MIG_VMSD_DUMP_H
#define MIG_VMSD_DUMP_H

#include "sim_base.h"
#include "machine.h"
#include "vmstate_desc.h"

#include <jansson.h>

/* One device class: its section key, its description, an instance as created. */
struct mig_vmsd_dump_class {
  const char *type_name;            /* the section key (QEMU: the QOM type name) */
  const struct vmstate_desc *desc;  /* its top-level description */
  void *opaque;                     /* a fresh instance for needed(), or NULL */
};

struct mig_vmsd_dump_options {
  bool no_extensions;               /* write only what QEMU writes */
};

/*
 * The dump as a new JSON object: vmschkmachine first, then classes in the
 * order given (callers sort them).  Type names must be distinct.
 */
json_t *mig_vmsd_dump_json(const char *machine_type, const struct mig_vmsd_dump_class *classes,
                           uint32_t count, const struct mig_vmsd_dump_options *options);

/*
 * Fills classes (room for classes_max) with one entry per description name
 * among machine's vmstate instances, the first instance of each, sorted by
 * name; the type name is the description's name.  Returns the count.
 */
uint32_t mig_vmsd_dump_machine_classes(const struct machine *machine,
                                       struct mig_vmsd_dump_class *classes,
                                       uint32_t classes_max);

/* The JSON text as QEMU lays it out (2-space indent, trailing newline); free() it. */
char *mig_vmsd_dump_text(const json_t *dump);

#endif /* MIG_VMSD_DUMP_H */
