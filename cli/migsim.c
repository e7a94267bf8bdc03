/*
 * migsim.c: the command-line tool, a thin dispatcher over subcommands whose
 * work lives in their layers (DESIGN.md).  Options are parsed by cli_args.h.
 * Exit codes are enum conform_verdict (docs/cli.md): 0 pass, 1 oracle
 * violation, 2 bad input or usage, 3 liveness, 4 nondeterminism.
 */
#include "sim_base.h"

#include "cli_args.h"
#include "cli_bench.h"
#include "cli_inspect.h"
#include "cli_matrix.h"
#include "cli_proxy.h"
#include "cli_reencode.h"
#include "cli_run.h"
#include "cli_shrink.h"
#include "cli_sink.h"
#include "cli_vmsd.h"
#include "conform_report.h"
#include "conform_run.h"
#include "conform_scenario.h"

static const char usage_main[] =
    "usage: migsim [COMMAND] [OPTIONS]\n"
    "\n"
    "A deterministic simulator and conformance checker for QEMU-style live\n"
    "migration.  With no command, runs the embedded default scenario.\n"
    "\n"
    "commands:\n"
    "  run [FILE.json]   run a scenario (default: the embedded one) and judge it\n"
    "  list [DIR]        the scenario catalog (conformance/scenarios) with descriptions\n"
    "  scenario          print the embedded default scenario\n"
    "  inspect FILE      walk a QEMU migration stream (summary, --validate, --ram-sha256,\n"
    "                    --format analyze)\n"
    "  reencode IN OUT   write a stream again from its parsed records (--rechunk)\n"
    "  sink --listen URI destination for a real QEMU source (tcp:HOST:PORT, unix:PATH)\n"
    "  proxy --listen URI --to URI --plan PLAN  fault proxy between real QEMUs\n"
    "  vmstate-diff OLD NEW  static compatibility check of two -dump-vmstate files\n"
    "  dump-vmstate      the machine's vmstate tables in QEMU's -dump-vmstate JSON\n"
    "  matrix            the compatibility matrix over the simulated releases\n"
    "  shrink FILE --seed N  reduce a failing seed to a minimal scenario (docs/faults.md)\n"
    "  regress [PATH]    replay regression scenarios (conformance/regress) and their verdicts\n"
    "  bench WHAT        benchmarks: events, fibers, sim, iommu, ram, load STREAM,\n"
    "                    validate STREAM (docs/performance.md)\n"
    "  help, --help      this text;  --version  the version\n"
    "\n"
    "Each command has --help.  Numbers are decimal or 0x hex (never octal).\n"
    "exit codes: 0 pass, 1 oracle violation, 2 bad input or usage, 3 liveness,\n"
    "            4 nondeterminism (run --twice)\n"
    "\n"
    "Start with docs/tutorial.md (write a scenario, run it, read the report, break\n"
    "it with a quirk, reproduce a failure); docs/cli.md has every command and\n"
    "option, docs/scenario.md the scenario format, docs/architecture.md the layers.\n"
    "`migsim list` prints the catalog of scenarios.\n";

static const char usage_bench[] =
    "usage: migsim bench events|fibers|iommu|ram\n"
    "       migsim bench sim [FILE.json ...]\n"
    "       migsim bench load STREAM\n"
    "       migsim bench validate STREAM\n"
    "\n"
    "events:   hold-model benchmark of the event queue at 10^3, 10^4 and 10^6 pending\n"
    "          events, queue only and through the simulator with a small handler.\n"
    "fibers:   fiber switches/s and ns per switch: native stack switch, ucontext, and\n"
    "          each resume made by a simulation event.\n"
    "sim:      scenarios judged as `run` does (default: conformance/scenarios/bench-256m.json\n"
    "          and bench-1g.json): wall and CPU seconds, peak RSS, events/s, stream MB/s.\n"
    "iommu:    AMD IOMMU translations/s with IOTLB hits and with misses (3-level walks).\n"
    "ram:      synthetic pages materialised and hashed per second; a 64 GiB synthetic\n"
    "          guest migrated under both oracles, with wall time and peak RSS.\n"
    "load:     parse STREAM (xz accepted) and apply it to dense guest RAM; prints bytes,\n"
    "          seconds, GB/s and the ratio to a memcpy of as many bytes in the same run.\n"
    "validate: the walk alone (inspect --validate); prints GB/s of stream.\n";

static int command_bench(int argc, char **argv)
{
  if (argc == 1 && strcmp(argv[0], "events") == 0) return cli_bench_events(stdout);
  if (argc == 1 && strcmp(argv[0], "fibers") == 0) return cli_bench_fibers(stdout);
  if (argc >= 1 && strcmp(argv[0], "sim") == 0) return cli_bench_sim(stdout, argc - 1, argv + 1);
  if (argc == 1 && strcmp(argv[0], "iommu") == 0) return cli_bench_iommu(stdout);
  if (argc == 1 && strcmp(argv[0], "ram") == 0) return cli_bench_ram(stdout);
  if (argc == 2 && (strcmp(argv[0], "load") == 0 || strcmp(argv[0], "validate") == 0)) {
    return cli_bench_stream(stdout, argv[0], argv[1]);
  }
  bool help = argc >= 1 && (strcmp(argv[argc - 1], "--help") == 0 ||
                            strcmp(argv[argc - 1], "-h") == 0);
  fputs(usage_bench, help ? stdout : stderr);
  return help ? 0 : CONFORM_BAD_INPUT;
}

static int command_scenario(int argc, char **argv)
{
  static const char usage[] = "usage: migsim scenario\n\nPrints the embedded default "
                              "scenario (JSON).\n";
  const struct cli_command command = {"scenario", usage, NULL, 0, 0, 0};
  struct cli_parsed parsed;
  int rc = cli_args_parse(&command, argc, argv, &parsed);
  if (rc != 0 || parsed.help) return rc;
  fputs(conform_scenario_default_text(), stdout);
  return 0;
}

int main(int argc, char **argv)
{
  static const struct {
    const char *name;
    int (*main)(int argc, char **argv);
  } commands[] = {
      {"run", cli_run_main},           {"list", cli_list_main},
      {"scenario", command_scenario}, {"inspect", cli_inspect_main},
      {"reencode", cli_reencode_main}, {"sink", cli_sink_main}, {"proxy", cli_proxy_main},
      {"vmstate-diff", cli_vmstate_diff_main}, {"dump-vmstate", cli_dump_vmstate_main},
      {"matrix", cli_matrix_main},
      {"bench", command_bench},
      {"shrink", cli_shrink_main},     {"regress", cli_regress_main},
  };
  if (argc < 2) return cli_run_main(0, NULL);
  const char *name = argv[1];
  for (size_t i = 0; i < SIM_ARRAY_COUNT(commands); i++) {
    if (strcmp(name, commands[i].name) == 0) return commands[i].main(argc - 2, argv + 2);
  }
  if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
    fputs(usage_main, stdout);
    return 0;
  }
  if (strcmp(name, "--version") == 0) {
    puts(CONFORM_TOOL_VERSION);
    return 0;
  }
  if (name[0] != '-' && strchr(name, '.') != NULL) {
    fprintf(stderr, "migsim: unknown command '%s' (to run a scenario file: migsim run %s)\n",
            name, name);
    return CONFORM_BAD_INPUT;
  }
  fprintf(stderr, "migsim: unknown command '%s'\n%s", name, usage_main);
  return CONFORM_BAD_INPUT;
}
