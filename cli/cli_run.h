/*
 * cli_run.h: `migsim run [FILE.json]` and `migsim list [DIR]` (docs/cli.md).
 *
 * run checks its output paths before the run starts, shows a progress line
 * on a terminal after one second, prints the summary (verdict, failure with
 * its oracle, path and offset, the reproduce line) and writes the optional
 * report, trace and stream.  With several migrations in one run (retries),
 * --stream-out OUT.mig holds the last attempt's stream and OUT.1.mig ..
 * OUT.N.mig each attempt's, from its header: a cancelled attempt's file ends
 * where the source cut it (inspect names that offset).
 */
#ifndef CLI_RUN_H
#define CLI_RUN_H

#include "sim_base.h"

/* argv holds the arguments after "run"; returns the exit code (enum conform_verdict). */
int cli_run_main(int argc, char **argv);
/* argv holds the arguments after "list"; returns 0, or 2 when an entry does not parse. */
int cli_list_main(int argc, char **argv);

#endif /* CLI_RUN_H */
