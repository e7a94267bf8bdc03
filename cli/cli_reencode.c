/*
 * cli_reencode.c: the `migsim reencode` command (overview in
 * cli_reencode.h).  File I/O lives here; the writing is
 * migration/mig_reencode.c driven by the inspect walk, record by record
 * into the output file while the input is mapped or streamed (cli_input.h).
 */
#include "sim_base.h"

#include "cli_args.h"
#include "cli_inspect.h"
#include "cli_input.h"
#include "cli_reencode.h"
#include "conform_run.h"

#include <unistd.h>

static const char usage_reencode[] =
    "usage: migsim reencode IN OUT [--rechunk [N]]\n"
    "\n"
    "Walks the QEMU migration stream IN (- for stdin; xz is decompressed) and\n"
    "writes it to OUT (- for stdout) from its parsed records.  Without options\n"
    "OUT is byte-identical to IN.\n"
    "\n"
    "  --rechunk [N]   regroup RAM records: at most N page records per RAM PART\n"
    "                  section (default 97), the RAM END section's records move\n"
    "                  into PARTs before an END that holds only EOS.  The stream\n"
    "                  is different but loads to the same RAM.\n";

/*
 * One walk that writes every record through write_fn as it is walked: over
 * bytes[0, count) when bytes is set, else streamed from reader.  *error gets
 * the walk's error or the output's.
 */
static enum mig_err reencode_walk(const uint8_t *bytes, size_t count, struct mig_reader *reader,
                                  const struct mig_inspect_options *walk_options,
                                  const struct mig_reencode_options *options,
                                  mig_write_fn *write_fn, void *context,
                                  uint64_t *sections_added, struct mig_error *error)
{
  static uint8_t buffer[MIG_WRITER_BUFFER_BYTES];
  struct mig_writer writer;
  mig_writer_init(&writer, buffer, sizeof buffer, write_fn, context);
  struct mig_reencode reencode;
  mig_reencode_init(&reencode, &writer, options);
  struct mig_inspect_visitor visitor = {.visit = mig_reencode_visit, .context = &reencode};
  struct mig_inspect inspect;
  enum mig_err code =
      bytes != NULL ? mig_inspect_walk_with(bytes, count, &inspect, walk_options, &visitor, error)
                    : mig_inspect_walk_reader(reader, &inspect, walk_options, &visitor, error);
  mig_inspect_deinit(&inspect);
  enum mig_err flushed = mig_writer_flush(&writer);
  if (code == MIG_OK && flushed != MIG_OK) {
    memset(error, 0, sizeof *error);
    error->code = code = flushed;
    snprintf(error->path, sizeof error->path, "reencode/output");
  }
  if (sections_added != NULL) *sections_added = reencode.sections_added;
  return code;
}

enum mig_err cli_reencode_bytes(const uint8_t *bytes, size_t count,
                                const struct mig_reencode_options *options,
                                struct mig_membuf *out, uint64_t *sections_added,
                                struct mig_error *error)
{
  mig_membuf_init(out, CLI_INSPECT_BYTES_MAX);
  static const uint8_t empty[1];
  return reencode_walk(bytes != NULL ? bytes : empty, count, NULL, NULL, options,
                       mig_membuf_write, out, sections_added, error);
}

/* The writer's sink: the output file, written as the walk goes. */
static enum mig_err reencode_file_write(void *context, const uint8_t *bytes, size_t count)
{
  return fwrite(bytes, 1, count, context) == count ? MIG_OK : MIG_ERR_IO;
}

/*
 * Walks the opened input (mapped or streamed, cli_input.h) and writes each
 * record to out as it is walked: neither the input nor the output is held
 * whole.
 */
static enum mig_err reencode_stream(struct cli_input *input, FILE *out,
                                    const struct mig_reencode_options *options,
                                    struct mig_error *error)
{
  struct mig_inspect_options walk_options = {.consumed = input->mapped ? cli_input_consumed
                                                                       : NULL,
                                             .context = input};
  return reencode_walk(input->mapped ? input->bytes : NULL, input->count, &input->reader,
                       &walk_options, options, reencode_file_write, out, NULL, error);
}

int cli_reencode_main(int argc, char **argv)
{
  struct mig_reencode_options options = {0};
  uint64_t rechunk = 0;
  const struct cli_option table[] = {
      {"--rechunk", CLI_OPTION_NUMBER_OPTIONAL, &rechunk, CLI_REENCODE_RECHUNK_DEFAULT,
       UINT32_MAX, false, NULL, NULL},
  };
  const struct cli_command command = {"reencode", usage_reencode, table,
                                      SIM_ARRAY_COUNT(table), 2, 2};
  struct cli_parsed parsed;
  int rc = cli_args_parse(&command, argc, argv, &parsed);
  if (rc != 0 || parsed.help) return rc;
  options.rechunk_records = (uint32_t)rechunk;
  const char *const *paths = parsed.positionals;
  const char *why = cli_output_check(paths[1]);
  if (why != NULL) {
    fprintf(stderr, "migsim reencode: %s: %s\n", paths[1], why);
    return CONFORM_BAD_INPUT;
  }
  char message[MIG_PATH_BYTES_MAX + 512];
  static struct cli_input input;
  if (!cli_input_open(&input, paths[0], message, sizeof message)) {
    fprintf(stderr, "migsim reencode: %s\n", message);
    cli_input_close(&input);
    return CONFORM_BAD_INPUT;
  }
  bool is_stdout = strcmp(paths[1], "-") == 0;
  FILE *out = is_stdout ? stdout : fopen(paths[1], "wb");
  if (out == NULL) {
    fprintf(stderr, "migsim reencode: %s: %s\n", paths[1], strerror(errno));
    cli_input_close(&input);
    return CONFORM_BAD_INPUT;
  }
  struct mig_error error;
  enum mig_err code = reencode_stream(&input, out, &options, &error);
  bool closed = is_stdout ? fflush(out) == 0 : fclose(out) == 0;
  rc = 0;
  if (input.failed) {
    fprintf(stderr, "migsim reencode: %s\n", input.message);
    rc = CONFORM_BAD_INPUT;
  } else if (code != MIG_OK) {
    mig_error_format(&error, message, sizeof message);
    fprintf(stderr, "migsim reencode: %s\n", message);
    rc = CONFORM_BAD_INPUT;
  } else if (!closed) {
    fprintf(stderr, "migsim reencode: %s: %s\n", paths[1], strerror(errno));
    rc = CONFORM_BAD_INPUT;
  }
  if (rc != 0 && !is_stdout) (void)unlink(paths[1]);  /* no half-written stream is left */
  cli_input_close(&input);
  return rc;
}
