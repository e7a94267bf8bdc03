/*
 * migsim.c: the command-line tool, a thin dispatcher over subcommands that
 * live in their layers (DESIGN.md).  Exit codes are enum conform_verdict
 * (docs/cli.md): 0 pass, 1 oracle violation, 2 bad input or usage,
 * 3 liveness, 4 nondeterminism.
 */
#include "sim_base.h"

#include "conform_bench.h"
#include "conform_inspect.h"
#include "conform_sink.h"
#include "conform_reencode.h"
#include "conform_report.h"
#include "conform_run.h"
#include "conform_scenario.h"

static const char usage_main[] =
    "usage: migsim [COMMAND] [OPTIONS]\n"
    "\n"
    "With no command, runs the embedded default scenario and prints a summary.\n"
    "\n"
    "commands:\n"
    "  run [FILE.json]   run a scenario (default: the embedded one) and judge it\n"
    "  scenario          print the embedded default scenario\n"
    "  inspect FILE      walk a QEMU migration stream (summary, --validate, --ram-sha256)\n"
    "  reencode IN OUT   write a stream again from its parsed records (--rechunk)\n"
    "  sink --listen URI destination for a real QEMU source (tcp:HOST:PORT, unix:PATH)\n"
    "  bench events      event-queue benchmark (hold model)\n"
    "  bench fibers      fiber switches/s (native, ucontext, event-driven)\n"
    "  bench sim [FILE]  1 GiB / 256 MiB dense migrations: wall, CPU, peak RSS\n"
    "  bench iommu       AMD IOMMU translations/s, IOTLB hits and misses\n"
    "  bench ram         synthetic RAM: page materialise+hash rate, 64 GiB guest RSS\n"
    "  bench load|validate STREAM  stream load (apply to dense RAM) / validate speed\n"
    "  help              this text\n"
    "\n"
    "exit codes: 0 pass, 1 oracle violation, 2 bad input or usage, 3 liveness,\n"
    "            4 nondeterminism (run --twice)\n";

static const char usage_run[] =
    "usage: migsim run [FILE.json] [--seed N] [--report OUT.json] [--twice]\n"
    "                  [--trace OUT.txt] [--stream-out OUT.mig]\n"
    "\n"
    "Runs the scenario with a migration and once unmigrated, then applies the\n"
    "oracles: switchover equality (destination == source when it stopped) and\n"
    "transparency (same guest-visible result as the unmigrated run).\n"
    "\n"
    "  --seed N           override the scenario's seed\n"
    "  --report FILE      write the JSON report (verdict, digests, query-migrate, timeline)\n"
    "  --twice            run the migrated run a second time; differing traces fail (exit 4)\n"
    "                     and the first divergent trace record is named\n"
    "  --trace FILE       write every trace record as a text line\n"
    "  --stream-out FILE  save the migration stream the source wrote\n";

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

struct run_args {
  const char *file;
  const char *report;
  const char *trace;
  const char *stream_out;
  bool has_seed;
  uint64_t seed;
  bool twice;
};

static bool parse_u64(const char *text, uint64_t *out)
{
  if (*text == 0 || *text == '-') return false;
  char *end;
  errno = 0;
  unsigned long long value = strtoull(text, &end, 0);
  if (errno != 0 || *end != 0) return false;
  *out = value;
  return true;
}

/* Returns 0 on success, or the exit code (2) after printing the problem. */
static int run_args_parse(int argc, char **argv, struct run_args *args)
{
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    bool has_value = i + 1 < argc;
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(usage_run, stdout);
      exit(0);
    } else if (strcmp(arg, "--twice") == 0) {
      args->twice = true;
    } else if (strcmp(arg, "--seed") == 0 && has_value) {
      args->has_seed = true;
      if (!parse_u64(argv[++i], &args->seed) || args->seed > INT64_MAX) {
        fprintf(stderr, "migsim run: --seed wants an integer 0..2^63-1, got '%s'\n", argv[i]);
        return CONFORM_BAD_INPUT;
      }
    } else if (strcmp(arg, "--report") == 0 && has_value) {
      args->report = argv[++i];
    } else if (strcmp(arg, "--trace") == 0 && has_value) {
      args->trace = argv[++i];
    } else if (strcmp(arg, "--stream-out") == 0 && has_value) {
      args->stream_out = argv[++i];
    } else if (arg[0] != '-' && args->file == NULL) {
      args->file = arg;
    } else {
      fprintf(stderr, "migsim run: unexpected argument '%s'\n%s", arg, usage_run);
      return CONFORM_BAD_INPUT;
    }
  }
  return 0;
}

static bool write_file(const char *path, const uint8_t *bytes, size_t count)
{
  FILE *file = fopen(path, "wb");
  if (file == NULL) return false;
  bool ok = fwrite(bytes, 1, count, file) == count;
  return fclose(file) == 0 && ok;
}

static int command_run(int argc, char **argv)
{
  struct run_args args = {0};
  int rc = run_args_parse(argc, argv, &args);
  if (rc != 0) return rc;
  static struct conform_scenario scenario;
  char error[CONFORM_ERROR_BYTES];
  bool ok = args.file != NULL
                ? conform_scenario_load(args.file, &scenario, error, sizeof(error))
                : conform_scenario_parse(conform_scenario_default_text(),
                                         strlen(conform_scenario_default_text()), "<default>",
                                         &scenario, error, sizeof(error));
  if (!ok) {
    fprintf(stderr, "%s\n", error);
    return CONFORM_BAD_INPUT;
  }
  if (args.has_seed) scenario.seed = args.seed;
  FILE *trace = NULL;
  if (args.trace != NULL && (trace = fopen(args.trace, "w")) == NULL) {
    fprintf(stderr, "migsim run: %s: %s\n", args.trace, strerror(errno));
    return CONFORM_BAD_INPUT;
  }
  struct mig_membuf capture;
  mig_membuf_init(&capture, (size_t)1 << 34);
  static struct conform_run_result result;
  conform_check(&scenario, args.twice, trace, args.stream_out != NULL ? &capture : NULL,
                &result);
  if (trace != NULL) fclose(trace);
  char repro[512];
  snprintf(repro, sizeof(repro), "migsim run %s%s--seed %" PRIu64 "%s",
           args.file != NULL ? args.file : "", args.file != NULL ? " " : "", scenario.seed,
           args.twice ? " --twice" : "");
  conform_report_summary(stdout, &scenario, &result, repro);
  int exit_code = (int)result.verdict;
  if (args.report != NULL && !conform_report_write(args.report, &scenario, &result, repro)) {
    fprintf(stderr, "migsim run: cannot write %s\n", args.report);
    exit_code = exit_code == 0 ? CONFORM_BAD_INPUT : exit_code;
  }
  if (args.stream_out != NULL && !write_file(args.stream_out, capture.bytes, capture.count)) {
    fprintf(stderr, "migsim run: cannot write %s\n", args.stream_out);
    exit_code = exit_code == 0 ? CONFORM_BAD_INPUT : exit_code;
  }
  mig_membuf_deinit(&capture);
  conform_run_result_deinit(&result);
  return exit_code;
}

static int command_bench(int argc, char **argv)
{
  if (argc == 1 && strcmp(argv[0], "events") == 0) return conform_bench_events(stdout);
  if (argc == 1 && strcmp(argv[0], "fibers") == 0) return conform_bench_fibers(stdout);
  if (argc >= 1 && strcmp(argv[0], "sim") == 0) {
    return conform_bench_sim(stdout, argc - 1, argv + 1);
  }
  if (argc == 1 && strcmp(argv[0], "iommu") == 0) return conform_bench_iommu(stdout);
  if (argc == 1 && strcmp(argv[0], "ram") == 0) return conform_bench_ram(stdout);
  if (argc == 2 && (strcmp(argv[0], "load") == 0 || strcmp(argv[0], "validate") == 0)) {
    return conform_bench_stream(stdout, argv[0], argv[1]);
  }
  bool help = argc >= 1 && (strcmp(argv[argc - 1], "--help") == 0 ||
                            strcmp(argv[argc - 1], "-h") == 0);
  fputs(usage_bench, help ? stdout : stderr);
  return help ? 0 : CONFORM_BAD_INPUT;
}

int main(int argc, char **argv)
{
  if (argc < 2) return command_run(0, NULL);
  const char *command = argv[1];
  if (strcmp(command, "run") == 0) return command_run(argc - 2, argv + 2);
  if (strcmp(command, "bench") == 0) return command_bench(argc - 2, argv + 2);
  if (strcmp(command, "inspect") == 0) return conform_inspect_main(argc - 2, argv + 2);
  if (strcmp(command, "sink") == 0) return conform_sink_main(argc - 2, argv + 2);
  if (strcmp(command, "reencode") == 0) return conform_reencode_main(argc - 2, argv + 2);
  if (strcmp(command, "scenario") == 0) {
    if (argc > 2 && strcmp(argv[2], "--help") == 0) {
      fputs("usage: migsim scenario\n\nPrints the embedded default scenario (JSON).\n",
            stdout);
      return 0;
    }
    fputs(conform_scenario_default_text(), stdout);
    return argc == 2 ? 0 : CONFORM_BAD_INPUT;
  }
  if (strcmp(command, "help") == 0 || strcmp(command, "--help") == 0 ||
      strcmp(command, "-h") == 0) {
    fputs(usage_main, stdout);
    return 0;
  }
  fprintf(stderr, "migsim: unknown command '%s'\n%s", command, usage_main);
  return CONFORM_BAD_INPUT;
}
