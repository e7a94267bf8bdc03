/*
 * conform_vmsd.h: `migsim vmstate-diff` and `migsim dump-vmstate`
 * (docs/compat.md).  The work is in migration/mig_vmsd_diff.h and
 * migration/mig_vmsd_dump.h; these entries only read argv and files and
 * print.  Exit codes follow docs/cli.md: 0 compatible (or dump written),
 * 1 incompatibilities found, 2 bad input or usage.
 */
#ifndef CONFORM_VMSD_H
#define CONFORM_VMSD_H

#include "sim_base.h"

#include "conform_scenario.h"

#include <jansson.h>

/* argv after "vmstate-diff": OLD.json NEW.json [--format text|json] [--direction D] [--strict] */
int conform_vmstate_diff_main(int argc, char **argv);

/* argv after "dump-vmstate": [SCENARIO.json] [--machine TYPE] [--output FILE] [--qemu-only] */
int conform_dump_vmstate_main(int argc, char **argv);

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
