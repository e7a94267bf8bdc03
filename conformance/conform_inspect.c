/*
 * conform_inspect.c: the `migsim inspect` command.  File I/O and xz
 * decompression live here (conformance/ is off the simulated path); the walk
 * itself is migration/mig_inspect.c.  Input is bounded: at most
 * CONFORM_INSPECT_BYTES_MAX bytes of (decompressed) stream are held, and the
 * xz decoder's memory is capped.
 */
#include "sim_base.h"

#include "conform_analyze.h"
#include "conform_inspect.h"
#include "conform_run.h"
#include "mig_format.h"

#include <lzma.h>

#define INSPECT_CHUNK_BYTES (UINT32_C(64) << 10)

static const char usage_inspect[] =
    "usage: migsim inspect FILE [--format summary|analyze] [--validate]\n"
    "\n"
    "Walks a QEMU 7.2 migration stream (FILE, or - for stdin; xz input is\n"
    "decompressed) without knowing the devices: FULL sections are sized from\n"
    "the VM-description trailer, RAM sections are walked record by record.\n"
    "\n"
    "  --format summary   print sections, RAM blocks, devices, commands (default)\n"
    "  --format analyze   print JSON shaped like QEMU's analyze-migration.py -d state\n"
    "  --validate         print nothing; exit 0 when valid, 2 with\n"
    "                     'offset 0x...: section/field: message' on stderr otherwise\n"
    "\n"
    "Not yet walked: streams without a VM-description trailer, live sections\n"
    "other than \"ram\" (dirty-bitmap, block), postcopy packages.\n";

static const uint8_t xz_magic[6] = {0xfd, '7', 'z', 'X', 'Z', 0x00};

/* Decompresses in[0, count) into out; false with a message on any error. */
static bool inspect_unxz(const uint8_t *in, size_t count, struct mig_membuf *out, char *error,
                         size_t error_bytes)
{
  lzma_stream stream = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&stream, CONFORM_INSPECT_XZ_MEMORY_MAX, 0) != LZMA_OK) {
    snprintf(error, error_bytes, "xz: decoder init failed");
    return false;
  }
  static uint8_t chunk[INSPECT_CHUNK_BYTES];
  stream.next_in = in;
  stream.avail_in = count;
  lzma_ret ret = LZMA_OK;
  while (ret == LZMA_OK) {
    stream.next_out = chunk;
    stream.avail_out = sizeof chunk;
    ret = lzma_code(&stream, LZMA_FINISH);
    size_t produced = sizeof chunk - stream.avail_out;
    if (mig_membuf_write(out, chunk, produced) != MIG_OK) {
      snprintf(error, error_bytes, "decompressed stream exceeds %zu bytes",
               CONFORM_INSPECT_BYTES_MAX);
      lzma_end(&stream);
      return false;
    }
  }
  lzma_end(&stream);
  if (ret != LZMA_STREAM_END) {
    snprintf(error, error_bytes, "xz: decompression failed (lzma_ret %d)", (int)ret);
    return false;
  }
  return true;
}

static bool inspect_read_raw(FILE *file, struct mig_membuf *out, char *error,
                             size_t error_bytes)
{
  static uint8_t chunk[INSPECT_CHUNK_BYTES];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, file)) > 0) {
    if (mig_membuf_write(out, chunk, got) != MIG_OK) {
      snprintf(error, error_bytes, "input exceeds %zu bytes", CONFORM_INSPECT_BYTES_MAX);
      return false;
    }
  }
  if (ferror(file)) {
    snprintf(error, error_bytes, "read error: %s", strerror(errno));
    return false;
  }
  return true;
}

bool conform_inspect_read(const char *path, struct mig_membuf *out, char *error,
                          size_t error_bytes)
{
  mig_membuf_init(out, CONFORM_INSPECT_BYTES_MAX);
  bool is_stdin = strcmp(path, "-") == 0;
  FILE *file = is_stdin ? stdin : fopen(path, "rb");
  if (file == NULL) {
    snprintf(error, error_bytes, "%s: %s", path, strerror(errno));
    return false;
  }
  bool ok = inspect_read_raw(file, out, error, error_bytes);
  if (!is_stdin) fclose(file);
  if (!ok || out->count < sizeof xz_magic || memcmp(out->bytes, xz_magic, sizeof xz_magic) != 0) {
    return ok;
  }
  struct mig_membuf plain;
  mig_membuf_init(&plain, CONFORM_INSPECT_BYTES_MAX);
  ok = inspect_unxz(out->bytes, out->count, &plain, error, error_bytes);
  mig_membuf_deinit(out);
  *out = plain;
  return ok;
}

static const char *const record_names[MIG_INSPECT_RECORD_TYPES] = {
    "EOF", "START", "PART", "END", "FULL", "SUBSECTION", "VMDESCRIPTION", "CONFIGURATION",
    "COMMAND"};
static const char *const command_names[MIG_INSPECT_COMMANDS] = {
    "INVALID", "OPEN_RETURN_PATH", "PING", "POSTCOPY_ADVISE", "POSTCOPY_LISTEN", "POSTCOPY_RUN",
    "POSTCOPY_RAM_DISCARD", "PACKAGED", "ENABLE_COLO", "POSTCOPY_RESUME", "RECV_BITMAP"};

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
    fprintf(out, "  %-14s %10" PRIu64 "\n", record_names[type], inspect->records[type]);
  }
  fprintf(out, "\ncommands:%s\n", inspect->records[MIG_SECTION_COMMAND] == 0 ? " none" : "");
  for (int code = 0; code < MIG_INSPECT_COMMANDS; code++) {
    if (inspect->commands[code] == 0) continue;
    fprintf(out, "  %-20s %6" PRIu64 "\n", command_names[code], inspect->commands[code]);
  }
}

void conform_inspect_print_summary(FILE *out, const struct mig_inspect *inspect)
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
  fprintf(out, "\nEOF at 0x%" PRIx64 "; VM description: %" PRIu64 " bytes at 0x%" PRIx64 "\n",
          inspect->eof_offset, inspect->trailer_bytes, inspect->trailer_offset);
}

int conform_inspect_main(int argc, char **argv)
{
  const char *path = NULL;
  bool validate = false;
  bool analyze = false;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage_inspect, stdout);
      return 0;
    } else if (strcmp(argv[i], "--validate") == 0) {
      validate = true;
    } else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc &&
               strcmp(argv[i + 1], "summary") == 0) {
      i++;
    } else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc &&
               strcmp(argv[i + 1], "analyze") == 0) {
      analyze = true;
      i++;
    } else if ((argv[i][0] != '-' || strcmp(argv[i], "-") == 0) && path == NULL) {
      path = argv[i];
    } else {
      fprintf(stderr, "migsim inspect: unexpected argument '%s'\n%s", argv[i], usage_inspect);
      return CONFORM_BAD_INPUT;
    }
  }
  if (path == NULL) {
    fputs(usage_inspect, stderr);
    return CONFORM_BAD_INPUT;
  }
  char message[MIG_PATH_BYTES_MAX + 512];
  struct mig_membuf input;
  if (!conform_inspect_read(path, &input, message, sizeof message)) {
    fprintf(stderr, "migsim inspect: %s\n", message);
    mig_membuf_deinit(&input);
    return CONFORM_BAD_INPUT;
  }
  struct mig_inspect inspect;
  struct mig_error error;
  enum mig_err code = mig_inspect_stream(input.bytes, input.count, &inspect, &error);
  if (analyze && code == MIG_OK) {
    int exit_code = conform_analyze_print(stdout, stderr, input.bytes, input.count, &inspect);
    mig_inspect_deinit(&inspect);
    mig_membuf_deinit(&input);
    return exit_code;
  }
  if (!validate && !analyze) conform_inspect_print_summary(stdout, &inspect);
  if (code != MIG_OK) {
    mig_error_format(&error, message, sizeof message);
    fprintf(stderr, "%s\n", message);
  }
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&input);
  return code == MIG_OK ? 0 : CONFORM_BAD_INPUT;
}
