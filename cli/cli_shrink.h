/*
 * cli_shrink.h: `migsim shrink FILE --seed N --out OUT.json` (a failing seed
 * reduced to a minimal scenario that fails the same oracle) and `migsim
 * regress [PATH ...]` (replays regression scenarios, each expecting its
 * recorded verdict).  The work is conformance/conform_shrink.c; docs/faults.md.
 */
#ifndef CLI_SHRINK_H
#define CLI_SHRINK_H

#include "sim_base.h"

/* argv holds the arguments after "shrink"; exit 0 when a scenario was written. */
int cli_shrink_main(int argc, char **argv);
/* argv holds the arguments after "regress"; exit 0 when every file gave its verdict. */
int cli_regress_main(int argc, char **argv);

#endif /* CLI_SHRINK_H */
