/*
 * cli_inspect.c: the `migsim inspect` command.  File I/O and xz
 * decompression live here (conformance/ is off the simulated path); the walk
 * itself is migration/mig_inspect.c.  Input is bounded: at most
 * CLI_INSPECT_BYTES_MAX bytes of (decompressed) stream are held, and the
 * xz decoder's memory is capped.
 */
#include "sim_base.h"

#include "cli_analyze.h"
#include "cli_args.h"
#include "cli_inspect.h"
#include "cli_input.h"
#include "conform_run.h"
#include "mig_destcheck.h"
#include "mig_format.h"

#include <openssl/evp.h>

#define INSPECT_RANGES_MAX MIG_RAMAPPLY_KEEPS_MAX

static const char usage_inspect[] =
    "usage: migsim inspect FILE [--format summary|analyze] [--validate]\n"
    "                           [--ram-sha256 BLOCK:START-END]...\n"
    "                           [--block-device NAME:BYTES]...\n"
    "                           [--machine TYPE] [--vmstate DEST.json]\n"
    "                           [--ram-block NAME]...\n"
    "\n"
    "Walks a QEMU 7.2 migration stream (FILE, or - for stdin; xz input is\n"
    "decompressed) without knowing the devices: FULL sections are sized from\n"
    "the VM-description trailer, RAM sections are walked record by record.\n"
    "\n"
    "  --format summary   print sections, RAM blocks, devices, commands (default)\n"
    "  --format analyze   print JSON shaped like QEMU's analyze-migration.py -d state\n"
    "  --validate         print nothing; exit 0 when valid, 2 with\n"
    "                     'offset 0x...: section/field: message' on stderr otherwise\n"
    "  --ram-sha256 BLOCK:START-END  apply the RAM records (ZERO, PAGE, XBZRLE,\n"
    "                     COMPRESS_PAGE) to sparse per-block RAM and print\n"
    "                     'SHA256  BLOCK:START-END' for bytes [START, END) of\n"
    "                     BLOCK (repeatable, at most 16; on pc/q35 below the PCI\n"
    "                     hole, guest-physical A is offset A of pc.ram)\n"
    "  --block-device NAME:BYTES  the destination's disks (repeatable, at most 16):\n"
    "                     block-migration records must name one of them and lie\n"
    "                     inside its BYTES (decimal or 0x hex)\n"
    "  --machine TYPE     the destination's machine type: the configuration must\n"
    "                     name it (and be present exactly when TYPE sends one)\n"
    "  --vmstate DEST.json  the destination's `qemu -dump-vmstate` file: device\n"
    "                     sections must be of VMSDs it knows, at versions in their\n"
    "                     range, with subsections it knows; the trailer is then\n"
    "                     advisory (a damaged one is a warning) and device\n"
    "                     sections are sized by their footers, as QEMU 7.2 loads\n"
    "                     (docs/hostile.md, \"A known destination\")\n"
    "  --ram-block NAME   one of the destination's RAM blocks, as HMP `info ramblock`\n"
    "                     lists them (repeatable): the stream's RAM-block list may\n"
    "                     name only these (QEMU: Unknown ramblock)\n"
    "\n"
    "A device section's version must equal its VM-description entry's, and its\n"
    "subsections must start where the entry's fields end, each behind 0x05.\n"
    "\n"
    "Streams without the trailer are walked; their device sections are then\n"
    "sized heuristically (the first 0x7e + section id followed by a plausible\n"
    "record). Not walked: live sections other than ram, dirty-bitmap and\n"
    "block, postcopy packages.\n";

bool cli_inspect_read(const char *path, struct mig_membuf *out, char *error,
                      size_t error_bytes)
{
  mig_membuf_init(out, CLI_INSPECT_BYTES_MAX);
  struct cli_input input;
  bool ok = cli_input_open(&input, path, error, error_bytes) &&
            cli_input_slurp(&input, out, CLI_INSPECT_BYTES_MAX, error, error_bytes);
  cli_input_close(&input);
  return ok;
}

static void inspect_print_head(FILE *out, const struct mig_inspect *inspect)
{
  if (inspect->has_configuration) {
    fprintf(out, "machine: %s (capabilities %" PRIu32 "%s%s)\n", inspect->machine,
            inspect->capability_count, inspect->x_ignore_shared ? ", x-ignore-shared" : "",
            inspect->has_uuid ? ", uuid" : "");
  } else {
    fprintf(out, "machine: (no configuration section: legacy stream)\n");
  }
  fprintf(out, "section footers: %s\n\nrecords:\n", inspect->footers_seen ? "yes" : "no");
  for (int type = 0; type < MIG_INSPECT_RECORD_TYPES; type++) {
    if (inspect->records[type] == 0) continue;
    fprintf(out, "  %-14s %10" PRIu64 "\n", mig_wire_section_name((uint32_t)type),
            inspect->records[type]);
  }
  fprintf(out, "\ncommands:%s\n", inspect->records[MIG_SECTION_COMMAND] == 0 ? " none" : "");
  for (int code = 0; code < MIG_INSPECT_COMMANDS; code++) {
    if (inspect->commands[code] == 0) continue;
    fprintf(out, "  %-20s %6" PRIu64 "\n", mig_wire_command_name((uint32_t)code),
            inspect->commands[code]);
  }
}

void cli_inspect_print_summary(FILE *out, const struct mig_inspect *inspect)
{
  inspect_print_head(out, inspect);
  fprintf(out, "\nRAM blocks:\n  %-40s %12s %10s %10s %10s %10s\n", "name", "bytes", "zero",
          "normal", "xbzrle", "compressed");
  for (uint32_t i = 0; i < inspect->block_count; i++) {
    const struct mig_inspect_block *block = &inspect->blocks[i];
    fprintf(out, "  %-40s %12" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64
            "\n", block->name, block->used_bytes, block->zero_pages, block->normal_pages,
            block->xbzrle_pages, block->compressed_pages);
  }
  fprintf(out, "\ndevices (%" PRIu32 "):\n  %-40s %8s %7s %8s\n", inspect->device_count,
          "idstr", "instance", "version", "bytes");
  for (uint32_t i = 0; i < inspect->device_count; i++) {
    const struct mig_inspect_device *device = &inspect->devices[i];
    fprintf(out, "  %-40s %8" PRIu32 " %7" PRIu32 " %8" PRIu64 "\n", device->idstr,
            device->instance_id, device->version, device->bytes);
  }
  if (inspect->block_device_count > 0 || inspect->block_eos_count > 0) {
    fprintf(out, "\nblock devices (block migration; progress %" PRIu32 "%%, %" PRIu64
            " progress records):\n  %-40s %12s %10s %10s\n", inspect->block_progress,
            inspect->block_progress_count, "name", "sectors", "data", "zero");
    for (uint32_t i = 0; i < inspect->block_device_count; i++) {
      const struct mig_inspect_block_device *device = &inspect->block_devices[i];
      fprintf(out, "  %-40s %12" PRIu64 " %10" PRIu64 " %10" PRIu64 "\n", device->name,
              device->sector_end, device->data_blocks, device->zero_blocks);
    }
  }
  fprintf(out, "\nlive sections:");
  for (uint32_t i = 0; i < inspect->live_count; i++) {
    fprintf(out, " %s (id %" PRIu32 ", v%" PRIu32 ")", inspect->lives[i].idstr,
            inspect->lives[i].section_id, inspect->lives[i].version);
  }
  if (inspect->bitmap_chunks > 0) {
    fprintf(out, "; dirty-bitmap chunks %" PRIu64, inspect->bitmap_chunks);
  }
  if (inspect->has_trailer) {
    fprintf(out, "\nEOF at 0x%" PRIx64 "; VM description: %" PRIu64 " bytes at 0x%" PRIx64 "\n",
            inspect->eof_offset, inspect->trailer_bytes, inspect->trailer_offset);
  } else if (inspect->footers_seen) {
    fprintf(out, "\nEOF at 0x%" PRIx64 "; no VM description: device sizes are heuristic "
            "(next footer + plausible record)\n", inspect->eof_offset);
  } else {  /* no footers: only a known destination's loader could size the sections */
    fprintf(out, "\nEOF at 0x%" PRIx64 "; no VM description: device sizes are the "
            "destination's (--vmstate)\n", inspect->eof_offset);
  }
}

bool cli_inspect_parse_range(const char *text, char *block, size_t block_bytes,
                             uint64_t *start, uint64_t *end)
{
  const char *colon = strrchr(text, ':');
  if (colon == NULL || colon == text || (size_t)(colon - text) >= block_bytes) return false;
  memcpy(block, text, (size_t)(colon - text));
  block[colon - text] = 0;
  const char *dash = strchr(colon + 1, '-');
  char low[32];
  if (dash == NULL || (size_t)(dash - (colon + 1)) >= sizeof low) return false;
  memcpy(low, colon + 1, (size_t)(dash - (colon + 1)));
  low[dash - (colon + 1)] = 0;
  return cli_number_parse(low, 0, UINT64_MAX, false, start) == NULL &&
         cli_number_parse(dash + 1, 0, UINT64_MAX, false, end) == NULL;
}

static int32_t inspect_block_index(const struct mig_inspect *inspect, const char *name)
{
  for (uint32_t i = 0; i < inspect->block_count; i++) {
    if (strcmp(inspect->blocks[i].name, name) == 0) return (int32_t)i;
  }
  return -1;
}

/*
 * Feeds [start, end) of the block to the digest; pages never written hash as
 * zeros.  Pages that point into a mapped input are dropped from the resident
 * set every 8 MiB hashed (input may be NULL).
 */
static bool inspect_digest_range(EVP_MD_CTX *md, const struct mig_ramapply *apply,
                                 uint32_t block, uint64_t start, uint64_t end,
                                 struct cli_input *input)
{
  static const uint8_t zeros[MIG_PAGE_BYTES];
  uint64_t drop_at = start + MIG_INSPECT_CONSUMED_BYTES;
  for (uint64_t at = start; at < end;) {
    if (at >= drop_at && input != NULL && input->mapped) {
      cli_input_consumed(input, input->count);
      drop_at = at + MIG_INSPECT_CONSUMED_BYTES;
    }
    uint64_t page = at / MIG_PAGE_BYTES, within = at % MIG_PAGE_BYTES;
    uint64_t take = MIG_PAGE_BYTES - within;
    if (take > end - at) take = end - at;
    const uint8_t *bytes = mig_ramapply_page(apply, block, page);
    if (EVP_DigestUpdate(md, (bytes != NULL ? bytes : zeros) + within, (size_t)take) != 1) {
      return false;
    }
    at += take;
  }
  return true;
}

static bool inspect_ram_sha256(const struct mig_inspect *inspect,
                               const struct mig_ramapply *apply, const char *block,
                               uint64_t start, uint64_t end, char hex[65], char *error,
                               size_t error_bytes, struct cli_input *input)
{
  int32_t index = inspect_block_index(inspect, block);
  if (index < 0 || (uint32_t)index >= apply->block_count) {
    snprintf(error, error_bytes, "RAM block '%s' is not in the stream's block list", block);
    return false;
  }
  uint64_t used = inspect->blocks[index].used_bytes;
  if (start >= end || end > used) {
    snprintf(error, error_bytes, "range 0x%" PRIx64 "-0x%" PRIx64 " is empty or outside '%s' "
             "(0x%" PRIx64 " bytes)", start, end, block, used);
    return false;
  }
  if (inspect->x_ignore_shared && mig_ramapply_pages_applied(apply, (uint32_t)index) == 0) {
    snprintf(error, error_bytes, "RAM block '%s' has no page in the stream and x-ignore-shared "
             "is on: its contents live in the shared backend file, not in the stream", block);
    return false;
  }
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int digest_bytes = 0;
  bool ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
            inspect_digest_range(md, apply, (uint32_t)index, start, end, input) &&
            EVP_DigestFinal_ex(md, digest, &digest_bytes) == 1 && digest_bytes == 32;
  EVP_MD_CTX_free(md);
  if (!ok) {
    snprintf(error, error_bytes, "sha256 failed (OpenSSL)");
    return false;
  }
  for (unsigned int i = 0; i < digest_bytes; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  return true;
}

bool cli_inspect_ram_sha256(const struct mig_inspect *inspect,
                            const struct mig_ramapply *apply, const char *block,
                            uint64_t start, uint64_t end, char hex[65], char *error,
                            size_t error_bytes)
{
  return inspect_ram_sha256(inspect, apply, block, start, end, hex, error, error_bytes, NULL);
}

struct inspect_args {
  const char *path;
  bool validate;
  bool summary;                      /* --format summary given explicitly */
  bool analyze;                      /* --format analyze */
  uint32_t range_count;
  const char *const *ranges;         /* range_count --ram-sha256 values */
  struct mig_inspect_options options;  /* block_devices points at devices */
  struct mig_inspect_block_device devices[MIG_INSPECT_BLOCK_DEVICES_MAX];
  const char *machine;               /* --machine, or NULL */
  const char *vmstate;               /* --vmstate, or NULL */
  uint32_t ram_block_count;
  const char *const *ram_blocks;     /* --ram-block values */
};

/* NAME:BYTES into the next device slot; false when malformed, out of range or full. */
static bool inspect_block_device_parse(const char *text, struct inspect_args *args)
{
  const char *colon = strrchr(text, ':');
  if (colon == NULL || colon == text || (size_t)(colon - text) > MIG_IDSTR_BYTES_MAX ||
      args->options.block_device_count >= MIG_INSPECT_BLOCK_DEVICES_MAX) {
    return false;
  }
  uint64_t bytes = 0;
  if (cli_number_parse(colon + 1, 1, MIG_BLOCK_DEVICE_BYTES_MAX, false, &bytes) != NULL) {
    return false;
  }
  struct mig_inspect_block_device *device = &args->devices[args->options.block_device_count++];
  memcpy(device->name, text, (size_t)(colon - text));
  device->name[colon - text] = 0;
  device->bytes = bytes;
  args->options.block_devices = args->devices;
  return true;
}

static int inspect_args_parse(int argc, char **argv, struct inspect_args *args)
{
  static struct cli_list ranges, devices, ram_blocks;
  static const char *const formats[] = {"summary", "analyze", NULL};
  uint32_t format = 0;
  bool format_given = false;
  const struct cli_option options[] = {
      {"--validate", CLI_OPTION_FLAG, &args->validate, 0, 0, false, NULL, NULL},
      {"--format", CLI_OPTION_CHOICE, &format, 0, 0, false, formats, &format_given},
      {"--ram-sha256", CLI_OPTION_LIST, &ranges, 0, INSPECT_RANGES_MAX, false, NULL, NULL},
      {"--block-device", CLI_OPTION_LIST, &devices, 0, MIG_INSPECT_BLOCK_DEVICES_MAX, false,
       NULL, NULL},
      {"--machine", CLI_OPTION_STRING, &args->machine, 0, 0, false, NULL, NULL},
      {"--vmstate", CLI_OPTION_STRING, &args->vmstate, 0, 0, false, NULL, NULL},
      {"--ram-block", CLI_OPTION_LIST, &ram_blocks, 0, MIG_RAM_BLOCKS_MAX, false, NULL, NULL},
  };
  const struct cli_command command = {"inspect", usage_inspect, options,
                                      SIM_ARRAY_COUNT(options), 1, 1};
  memset(&ranges, 0, sizeof ranges);
  memset(&devices, 0, sizeof devices);
  memset(&ram_blocks, 0, sizeof ram_blocks);
  struct cli_parsed parsed;
  int rc = cli_args_parse(&command, argc, argv, &parsed);
  if (rc != 0) return rc;
  if (parsed.help) return -1;
  args->path = parsed.positionals[0];
  args->summary = format_given && format == 0;
  args->analyze = format_given && format == 1;
  args->ranges = ranges.items;
  args->range_count = ranges.count;
  args->ram_blocks = ram_blocks.items;
  args->ram_block_count = ram_blocks.count;
  for (uint32_t i = 0; i < devices.count; i++) {
    if (!inspect_block_device_parse(devices.items[i], args)) {
      fprintf(stderr, "migsim inspect: --block-device wants NAME:BYTES (1 .. 2^50, at most "
              "%d), got '%s'\n", MIG_INSPECT_BLOCK_DEVICES_MAX, devices.items[i]);
      return CONFORM_BAD_INPUT;
    }
  }
  return 0;
}

/* Prints one line per --ram-sha256 range; returns false after the first bad range. */
static bool inspect_print_ranges(const struct inspect_args *args,
                                 const struct mig_inspect *inspect,
                                 const struct mig_ramapply *apply, struct cli_input *input)
{
  for (uint32_t i = 0; i < args->range_count; i++) {
    char block[MIG_IDSTR_BYTES_MAX + 1], hex[65], message[512];
    uint64_t start = 0, end = 0;
    if (!cli_inspect_parse_range(args->ranges[i], block, sizeof block, &start, &end)) {
      fprintf(stderr, "migsim inspect: --ram-sha256 wants BLOCK:START-END, got '%s'\n",
              args->ranges[i]);
      return false;
    }
    if (!inspect_ram_sha256(inspect, apply, block, start, end, hex, message, sizeof message,
                            input)) {
      fprintf(stderr, "migsim inspect: %s\n", message);
      return false;
    }
    printf("%s  %s\n", hex, args->ranges[i]);
  }
  return true;
}

/* Only the --ram-sha256 ranges are stored; a malformed one is reported after the walk. */
static void inspect_keep_ranges(const struct inspect_args *args, struct mig_ramapply *apply)
{
  for (uint32_t i = 0; i < args->range_count; i++) {
    char block[MIG_IDSTR_BYTES_MAX + 1];
    uint64_t start = 0, end = 0;
    if (cli_inspect_parse_range(args->ranges[i], block, sizeof block, &start, &end) &&
        start <= end && end <= UINT64_MAX - MIG_PAGE_BYTES) {
      mig_ramapply_keep(apply, block, start, end);
    }
  }
}

/*
 * The walk of the opened input: over the mapping (pages the walk passed are
 * dropped) or streamed.  With analyze over a streamed input, the bytes are
 * kept in *tee (the decoder needs the device sections after the walk).  A
 * destination's checks (--machine, --vmstate: mig_destcheck.h) read the
 * trailer first and walk a whole stream in memory: a streamed input is read
 * into *tee first.
 */
static enum mig_err inspect_walk(struct cli_input *input, const struct inspect_args *args,
                                 const struct mig_vmsd_file *dump,
                                 struct mig_destcheck_report *report, struct mig_ramapply *apply,
                                 struct mig_inspect *inspect, struct mig_membuf *tee,
                                 struct mig_error *error)
{
  memset(report, 0, sizeof *report);
  struct mig_inspect_options options = args->options;
  options.consumed = input->mapped ? cli_input_consumed : NULL;
  options.context = input;
  struct mig_inspect_visitor visitor = {.visit = mig_ramapply_visit, .context = apply};
  const struct mig_inspect_visitor *visit = args->range_count > 0 ? &visitor : NULL;
  if (args->machine != NULL || dump != NULL || args->ram_block_count > 0) {
    struct mig_destcheck_options destination = {.machine_type = args->machine, .dump = dump,
                                                 .ram_blocks = args->ram_blocks,
                                                 .ram_block_count = args->ram_block_count};
    const uint8_t *bytes = input->bytes;
    size_t count = input->count;
    if (!input->mapped) {
      char message[256];
      if (!cli_input_slurp(input, tee, CLI_INSPECT_BYTES_MAX, message, sizeof message)) {
        memset(inspect, 0, sizeof *inspect);
        *error = (struct mig_error){.code = MIG_ERR_NOMEM, .offset = tee->count};
        snprintf(error->path, sizeof error->path, "input");
        snprintf(error->detail, sizeof error->detail, "%.120s", message);
        return error->code;
      }
      bytes = tee->bytes;
      count = tee->count;
    }
    return mig_destcheck_walk(bytes, count, &destination, &options, visit, inspect, report,
                              error);
  }
  if (input->mapped) {
    return mig_inspect_walk_with(input->bytes, input->count, inspect, &options, visit, error);
  }
  if (args->analyze) input->tee = tee;
  return mig_inspect_walk_reader(&input->reader, inspect, &options, visit, error);
}

/* Reads and parses a -dump-vmstate file; false with a message on stderr. */
static bool inspect_dump_read(const char *path, struct mig_vmsd_file **dump)
{
  char message[MIG_PATH_BYTES_MAX + 512];
  struct mig_membuf text;
  if (!cli_inspect_read(path, &text, message, sizeof message)) {
    fprintf(stderr, "migsim inspect: --vmstate: %s\n", message);
    mig_membuf_deinit(&text);
    return false;
  }
  struct mig_vmsd_error error;
  enum mig_vmsd_err code = mig_vmsd_file_parse(text.bytes, text.count, dump, &error);
  mig_membuf_deinit(&text);
  if (code != MIG_VMSD_OK) {
    mig_vmsd_error_format(&error, message, sizeof message);
    fprintf(stderr, "migsim inspect: --vmstate %s: %s\n", path, message);
    return false;
  }
  return true;
}

static void inspect_print_warnings(const struct mig_destcheck_report *report)
{
  for (uint32_t i = 0; i < report->warning_count; i++) {
    fprintf(stderr, "warning: offset 0x%" PRIx64 ": %s\n", report->warnings[i].offset,
            report->warnings[i].text);
  }
  if (report->warnings_dropped > 0) {
    fprintf(stderr, "warning: %" PRIu32 " more\n", report->warnings_dropped);
  }
}

int cli_inspect_main(int argc, char **argv)
{
  struct inspect_args args = {0};
  int rc = inspect_args_parse(argc, argv, &args);
  if (rc != 0) return rc < 0 ? 0 : rc;
  char message[MIG_PATH_BYTES_MAX + 512];
  static struct cli_input input;
  if (!cli_input_open(&input, args.path, message, sizeof message)) {
    fprintf(stderr, "migsim inspect: %s\n", message);
    cli_input_close(&input);
    return CONFORM_BAD_INPUT;
  }
  struct mig_vmsd_file *dump = NULL;
  if (args.vmstate != NULL && !inspect_dump_read(args.vmstate, &dump)) {
    cli_input_close(&input);
    return CONFORM_BAD_INPUT;
  }
  static struct mig_ramapply apply;
  mig_ramapply_init(&apply, false);
  if (input.mapped) mig_ramapply_reference(&apply);  /* pages read from the mapping itself */
  inspect_keep_ranges(&args, &apply);
  struct mig_membuf tee;
  mig_membuf_init(&tee, CLI_INSPECT_BYTES_MAX);
  struct mig_inspect inspect;
  struct mig_error error;
  static struct mig_destcheck_report report;
  enum mig_err code = inspect_walk(&input, &args, dump, &report, &apply, &inspect, &tee, &error);
  mig_vmsd_file_free(dump);
  if (!args.validate) inspect_print_warnings(&report);
  int exit_code = -1;
  if (input.failed) {  /* the input's own error (xz data corrupt) caused the walk's */
    fprintf(stderr, "migsim inspect: %s\n", input.message);
    exit_code = CONFORM_BAD_INPUT;
  } else if (args.analyze && code == MIG_OK) {
    exit_code = input.mapped ? cli_analyze_print(stdout, stderr, input.bytes, input.count,
                                                 &inspect)
                             : cli_analyze_print(stdout, stderr, tee.bytes, tee.count, &inspect);
  }
  if (exit_code < 0) {
    bool print_summary = code == MIG_OK && !args.validate && !args.analyze &&
                         (args.range_count == 0 || args.summary);
    if (print_summary) cli_inspect_print_summary(stdout, &inspect);
    bool ranges_ok = true;
    if (code != MIG_OK) {
      mig_error_format(&error, message, sizeof message);
      /* A refusal QEMU 7.2 would not make names its mig_policy field (docs/hostile.md). */
      fprintf(stderr, "%s%s%s%s\n", message, error.policy != NULL ? " [policy " : "",
              error.policy != NULL ? error.policy : "", error.policy != NULL ? "]" : "");
    } else {
      ranges_ok = inspect_print_ranges(&args, &inspect, &apply, &input);
    }
    exit_code = code == MIG_OK && ranges_ok ? 0 : CONFORM_BAD_INPUT;
  }
  mig_ramapply_deinit(&apply);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&tee);
  cli_input_close(&input);
  return exit_code;
}
