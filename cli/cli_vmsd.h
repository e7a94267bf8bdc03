/*
 * cli_vmsd.h: `migsim vmstate-diff OLD.json NEW.json` and `migsim
 * dump-vmstate [SCENARIO.json]` (docs/compat.md).  The work is
 * migration/mig_vmsd_diff.h, mig_vmsd_dump.h and conformance/conform_vmsd.h;
 * these entries read argv and files and print.  Exit codes (docs/cli.md):
 * 0 compatible (or dump written), 1 incompatibilities found, 2 bad input or
 * usage.
 */
#ifndef CLI_VMSD_H
#define CLI_VMSD_H

#include "sim_base.h"

/* argv after "vmstate-diff": OLD.json NEW.json [--format text|json] [--direction D] [--strict] */
int cli_vmstate_diff_main(int argc, char **argv);
/* argv after "dump-vmstate": [SCENARIO.json] [--machine TYPE] [--output FILE] [--qemu-only] */
int cli_dump_vmstate_main(int argc, char **argv);

#endif /* CLI_VMSD_H */
