/*
 * conform_vmsd.h: a scenario's machine in QEMU's -dump-vmstate JSON, the
 * input of `migsim dump-vmstate` and of compatibility checks
 * (docs/compat.md).  The format is migration/mig_vmsd_dump.h's; the command
 * lines are cli/cli_vmsd.h.
 */
#ifndef CONFORM_VMSD_H
#define CONFORM_VMSD_H

#include "sim_base.h"

#include "conform_scenario.h"

#include <jansson.h>

/* The embedded scenario whose machine has one instance of every device kind. */
const char *conform_vmsd_catalog_text(void);

/*
 * The -dump-vmstate JSON of scenario's machine (built, not booted, in a
 * fresh simulation); machine_type, when not NULL, replaces the scenario's.
 * NULL with why filled when the machine cannot be built.
 */
json_t *conform_vmsd_dump_scenario(const struct conform_scenario *scenario,
                                   const char *machine_type, bool qemu_only, char *why,
                                   size_t why_bytes);

#endif /* CONFORM_VMSD_H */
