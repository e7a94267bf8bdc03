/*
 * conform_matrix.c: the compatibility matrix of conform_matrix.h: cells,
 * their static and dynamic verdicts, and the golden comparison (outputs are
 * in conform_matrix_out.c; docs/compat.md explains the rules).
 *
 * The static checks follow the order in which a destination reads a stream,
 * so the first one that fires names what the loader will trip on first:
 * the RAM block list (firmware sizes), then each device section's version
 * (vmstate-diff), its PCI config bytes (read while loading the "pci"
 * struct), the rest of its fields and subsections (vmstate-diff), and last
 * its post_load's feature check.
 */
#include "sim_base.h"

#include "conform_matrix.h"
#include "conform_matrix_int.h"
#include "conform_run.h"
#include "conform_vmsd.h"
#include "mig_err.h"
#include "mig_live.h"
#include "mig_load.h"
#include "mig_vmsd_diff.h"

static const char *const caps_names[CONFORM_MATRIX_CAPS_COUNT] = {"none", "switchover-ack"};
static const uint32_t caps_bits[CONFORM_MATRIX_CAPS_COUNT] = {0, COMPAT_CAP_SWITCHOVER_ACK};

/* Chains (started on, then two hops), release indexes: the incidents of docs/compat.md. */
static const uint32_t matrix_chains[][CONFORM_MATRIX_CHAIN_HOPS + 1] = {
    {0, 1, 2}, {0, 2, 3}, {1, 2, 3}, {2, 3, 4}, {1, 3, 4}};

const char *conform_matrix_outcome_name(enum conform_matrix_outcome outcome)
{
  switch (outcome) {
  case CONFORM_MATRIX_NA: return "n/a";
  case CONFORM_MATRIX_SETUP: return "setup-refused";
  case CONFORM_MATRIX_PASS: return "pass";
  case CONFORM_MATRIX_REFUSED: return "refused";
  case CONFORM_MATRIX_CONDITIONAL: return "conditional";
  case CONFORM_MATRIX_VIOLATION: return "violation";
  }
  return "?";
}

const char *conform_matrix_caps_name(uint32_t set_index)
{
  SIM_ASSERT(set_index < CONFORM_MATRIX_CAPS_COUNT);
  return caps_names[set_index];
}

uint32_t conform_matrix_caps_bits(uint32_t set_index)
{
  SIM_ASSERT(set_index < CONFORM_MATRIX_CAPS_COUNT);
  return caps_bits[set_index];
}

/* The guests: a cell's (8 MiB, a second of writes) and a golden stream's (1 MiB, few pages). */
static const struct {
  uint32_t ram_bytes, pages_per_s, duration_ms, fill_pages;
} guests[] = {{8u << 20, 2000, 1000, 256}, {1u << 20, 100, 300, 8}};

bool conform_matrix_scenario_text(const uint32_t *releases, uint32_t hop_count,
                                  uint32_t machine_index, uint32_t capabilities, char *out,
                                  size_t out_bytes)
{
  SIM_ASSERT(hop_count <= CONFORM_MATRIX_CHAIN_HOPS);
  SIM_ASSERT(machine_index < COMPAT_RELEASES_COUNT);
  uint32_t guest = (capabilities & CONFORM_MATRIX_GUEST_SMALL) != 0 ? 1 : 0;
  capabilities &= ~CONFORM_MATRIX_GUEST_SMALL;
  size_t at = 0;
  int n = snprintf(out, out_bytes,
      "{\"seed\": 1, \"limits\": {\"events_max\": 20000000, \"time_ns_max\": 20000000000},\n"
      " \"machine\": {\"type\": \"sim-%s\", \"release\": \"%s\",\n"
      "  \"ram\": [{\"name\": \"pc.ram\", \"bytes\": %" PRIu32 "}],\n"
      "  \"devices\": [{\"driver\": \"testdev\", \"addr\": \"00:03.0\", \"device_id\": 4660},\n"
      "              {\"driver\": \"simnet\", \"addr\": \"00:05.0\"}]},\n",
      compat_release_at(machine_index)->name, compat_release_at(releases[0])->name,
      guests[guest].ram_bytes);
  for (uint32_t hop = 1; hop <= hop_count && n >= 0 && (size_t)n < out_bytes - at; hop++) {
    at += (size_t)n;
    n = snprintf(out + at, out_bytes - at, "%s{\"release\": \"%s\"}%s",
                 hop == 1 ? " \"destination\": [" : ", ", compat_release_at(releases[hop])->name,
                 hop == hop_count ? "],\n" : "");
  }
  if (n < 0 || (size_t)n >= out_bytes - at) return false;
  at += (size_t)n;
  n = snprintf(out + at, out_bytes - at,
      " \"workload\": {\"pages_per_s\": %" PRIu32 ", \"duration_ns\": %" PRIu32 "000000,\n"
      "              \"fill_pages\": %" PRIu32 ", \"device_every\": 4},\n"
      " \"link\": {\"bandwidth_bytes_per_s\": 268435456, \"latency_ns\": 100000,\n"
      "          \"window_bytes\": 1048576, \"packet_bytes\": 65536},\n"
      " \"migration\": {\"section_pages\": 64},\n"
      " \"commands\": [%s%s%s%s]}\n",
      guests[guest].pages_per_s, guests[guest].duration_ms, guests[guest].fill_pages,
      capabilities & COMPAT_CAP_SWITCHOVER_ACK
          ? "{\"at_ns\": 0, \"execute\": \"migrate-set-capabilities\", \"arguments\": "
            "{\"capabilities\": [{\"capability\": \"return-path\", \"state\": true},\n"
            "   {\"capability\": \"switchover-ack\", \"state\": true}]}}"
          : "",
      capabilities != 0 && hop_count > 0 ? ",\n  " : "",
      hop_count > 0 ? "{\"at_ns\": 100000000, \"execute\": \"migrate\", "
                      "\"arguments\": {\"uri\": \"sim:link0\"}}" : "",
      hop_count > 1 ? ",\n  {\"at_ns\": 200000000, \"execute\": \"migrate\", "
                      "\"arguments\": {\"uri\": \"sim:link0\"}}" : "");
  return n >= 0 && (size_t)n < out_bytes - at;
}

/* ------------------------------------------------------------ the tables */

void conform_matrix__init(struct conform_matrix *matrix)
{
  memset(matrix, 0, sizeof(*matrix));
  matrix->scenario = malloc(sizeof(*matrix->scenario));
  SIM_ASSERT(matrix->scenario != NULL);
}

void conform_matrix__deinit(struct conform_matrix *matrix)
{
  for (uint32_t r = 0; r < COMPAT_RELEASES_COUNT; r++) {
    for (uint32_t m = 0; m < COMPAT_RELEASES_COUNT; m++) {
      mig_vmsd_file_free(matrix->dumps[r][m]);
      json_decref(matrix->dump_json[r][m]);
      free(matrix->configs[r][m]);
    }
  }
  free(matrix->scenario);
}

/* Parses the scenario of releases into matrix->scenario; false with why. */
bool conform_matrix__scenario(struct conform_matrix *matrix, const uint32_t *releases,
                              uint32_t hop_count, uint32_t machine_index,
                              uint32_t capabilities, char *why, size_t why_bytes)
{
  char text[4096];
  bool fits = conform_matrix_scenario_text(releases, hop_count, machine_index, capabilities,
                                           text, sizeof(text));
  SIM_ASSERT(fits);
  return conform_scenario_parse(text, strlen(text), "<matrix>", matrix->scenario, why,
                                why_bytes);
}

/* The machine of (release, machine type) and its dump, built once. */
static bool side_get(struct conform_matrix *matrix, uint32_t release, uint32_t machine,
                     char *why, size_t why_bytes)
{
  if (matrix->configs[release][machine] != NULL) return true;
  if (!conform_matrix__scenario(matrix, &release, 0, machine, 0, why, why_bytes)) return false;
  json_t *dump = conform_vmsd_dump_scenario(matrix->scenario, NULL, false, why, why_bytes);
  if (dump == NULL) return false;
  struct mig_vmsd_error error;
  enum mig_vmsd_err err = mig_vmsd_file_from_json(dump, &matrix->dumps[release][machine],
                                                  &error);
  matrix->dump_json[release][machine] = dump;
  if (err != MIG_VMSD_OK) {
    mig_vmsd_error_format(&error, why, why_bytes);
    return false;
  }
  matrix->configs[release][machine] = malloc(sizeof(struct machine_config));
  SIM_ASSERT(matrix->configs[release][machine] != NULL);
  *matrix->configs[release][machine] = matrix->scenario->machine;
  return true;
}

static void verdict_set(struct conform_matrix_verdict *verdict,
                        enum conform_matrix_outcome outcome, const char *kind,
                        const char *section, const char *path, const char *by,
                        const char *format, ...)
{
  verdict->outcome = outcome;
  snprintf(verdict->kind, sizeof(verdict->kind), "%s", kind);
  snprintf(verdict->section, sizeof(verdict->section), "%s", section);
  snprintf(verdict->path, sizeof(verdict->path), "%s", path);
  snprintf(verdict->by, sizeof(verdict->by), "%s", by);
  va_list args;
  va_start(args, format);
  vsnprintf(verdict->reason, sizeof(verdict->reason), format, args);
  va_end(args);
}

/* RAM block list: a fixed block must keep its length; a resizable one fit its maximum. */
static bool static_ram(const struct machine_config *from, const struct machine_config *to,
                       struct conform_matrix_verdict *verdict)
{
  for (uint32_t i = 0; i < from->ram_count && i < to->ram_count; i++) {
    const struct machine_ram_config *a = &from->ram[i], *b = &to->ram[i];
    char section[80];
    snprintf(section, sizeof(section), "ram/%s", a->name);
    if (a->bytes == b->bytes) continue;
    if (b->max_bytes == 0) {
      verdict_set(verdict, CONFORM_MATRIX_REFUSED, "RAM_SIZE", section, section, "firmware",
                  "Size mismatch: %s: 0x%" PRIx64 " != 0x%" PRIx64 " (a fixed-size block; "
                  "QEMU before 6.0: \"Length mismatch\")", a->name, a->bytes, b->bytes);
      return false;
    }
    if (a->bytes > b->max_bytes) {
      verdict_set(verdict, CONFORM_MATRIX_REFUSED, "RAM_SIZE", section, section, "firmware",
                  "Size too large: %s: 0x%" PRIx64 " > 0x%" PRIx64, a->name, a->bytes,
                  b->max_bytes);
      return false;
    }
  }
  return true;
}

/* The vmstate-diff code's kind, as dynamic errors are classed (conform_matrix__error_kind). */
static const char *finding_kind(enum mig_vmsd_code code)
{
  switch (code) {
  case MIG_VMSD_SECTION_MISSING:
  case MIG_VMSD_DESCRIPTION_MISSING:
  case MIG_VMSD_SECTION_RENAMED:
    return "SECTION";
  case MIG_VMSD_VERSION_TOO_NEW:
  case MIG_VMSD_VERSION_TOO_OLD:
    return "VERSION";
  case MIG_VMSD_SUBSECTION_MISSING:
  case MIG_VMSD_SUBSECTION_NO_NEEDED:
  case MIG_VMSD_SUBSECTION_ALWAYS_SENT:
  case MIG_VMSD_SUBSECTION_CONDITIONAL:
    return "SUBSECTION";
  default:
    return "FIELD";
  }
}

/* A finding on the section itself (read before its fields): a missing section or version. */
static bool finding_first(const struct mig_vmsd_finding *finding)
{
  const char *kind = finding_kind(finding->code);
  if (strcmp(kind, "SECTION") == 0) return true;
  return strcmp(kind, "VERSION") == 0 && strcmp(finding->description, finding->section) == 0;
}

static void finding_verdict(const struct mig_vmsd_finding *finding,
                            enum conform_matrix_outcome outcome,
                            struct conform_matrix_verdict *verdict)
{
  verdict_set(verdict, outcome, finding_kind(finding->code), finding->section, finding->path,
              "vmstate-diff", "%s [%s]", finding->message, mig_vmsd_code_name(finding->code));
}

/* Device i's guest view on both sides; its class, or NULL when it has no guest view. */
static const struct dev_class *guest_views(const struct machine_config *from,
                                           const struct machine_config *to, uint32_t i,
                                           struct dev_guest_view *a, struct dev_guest_view *b)
{
  const struct dev_class *cls = dev_class_find(from->devices[i].driver);
  if (cls == NULL || cls->guest_view == NULL) return NULL;
  cls->guest_view(&from->devices[i], a);
  cls->guest_view(&to->devices[i], b);
  return cls;
}

/* The first read-only config byte that differs between the two sides' devices. */
static bool static_config_bytes(const struct machine_config *from,
                                const struct machine_config *to, uint32_t from_release,
                                uint32_t to_release, struct conform_matrix_verdict *verdict)
{
  for (uint32_t i = 0; i < from->device_count && i < to->device_count; i++) {
    struct dev_guest_view a, b;
    const struct dev_class *cls = guest_views(from, to, i, &a, &b);
    if (cls == NULL) continue;
    for (uint32_t r = 0; r < a.ro_count && r < b.ro_count; r++) {
      if (a.ro_values[r] == b.ro_values[r]) continue;
      char path[96];
      snprintf(path, sizeof(path), "%s/pci/config[0x%" PRIx32 "]", cls->name,
               a.ro_offsets[r]);
      verdict_set(verdict, CONFORM_MATRIX_REFUSED, "BAD_CONFIG_DATA", cls->name, path,
                  "config-bytes", "read-only config byte 0x%" PRIx32 " is 0x%02x on %s, 0x%02x "
                  "on %s: Bad config data", a.ro_offsets[r], a.ro_values[r],
                  compat_release_at(from_release)->name, b.ro_values[r],
                  compat_release_at(to_release)->name);
      return false;
    }
  }
  return true;
}

/*
 * A live section the source has and the destination lacks is an unknown
 * section in the setup phase, right after the RAM block list.  The handler
 * names it "<bdf>/vfio" (migration/mig_vfio.c): its section is "vfio".
 */
static bool static_live(const struct machine_config *from, const struct machine_config *to,
                        struct conform_matrix_verdict *verdict)
{
  for (uint32_t i = 0; i < from->device_count && i < to->device_count; i++) {
    struct dev_guest_view a, b;
    const struct dev_class *cls = guest_views(from, to, i, &a, &b);
    if (cls == NULL) continue;
    if (!a.live || b.live) continue;
    char path[96];
    dev_config_path(&from->devices[i], path, sizeof(path));
    snprintf(path + strlen(path), sizeof(path) - strlen(path), "/vfio");
    verdict_set(verdict, CONFORM_MATRIX_REFUSED, "SECTION", "vfio", path, "live-sections",
                "%s: the source's %s has a live section the destination's lacks: unknown "
                "section", path, cls->name);
    return false;
  }
  return true;
}

/* The features the guest negotiated where it started must all be offered here. */
static bool static_features(const struct machine_config *started,
                            const struct machine_config *to, struct conform_matrix_verdict *verdict)
{
  for (uint32_t i = 0; i < started->device_count && i < to->device_count; i++) {
    struct dev_guest_view a, b;
    const struct dev_class *cls = guest_views(started, to, i, &a, &b);
    if (cls == NULL) continue;
    if (!a.has_features || !b.has_features) continue;
    uint64_t missing = a.features_offered & ~b.features_offered;
    if (missing == 0) continue;
    verdict_set(verdict, CONFORM_MATRIX_REFUSED, "FEATURES", cls->name, cls->name, "features",
                "Features 0x%" PRIx64 " unsupported. Allowed features: 0x%" PRIx64
                " (missing 0x%" PRIx64 ")", a.features_offered, b.features_offered, missing);
    return false;
  }
  return true;
}

/*
 * False when the finding lies in a subsection the source's dump says a
 * fresh guest does not send (x-sent false): then it breaks only a guest
 * whose state makes the predicate true.  vmstate-diff reports version
 * errors in such subsections as errors regardless; the matrix reads x-sent.
 */
static bool finding_sent(const json_t *source_dump, const struct mig_vmsd_finding *finding)
{
  const json_t *section = json_object_get(source_dump, finding->section);
  const json_t *subsections =
      json_object_get(json_object_get(section, "Description"), "Subsections");
  for (size_t i = 0; i < json_array_size(subsections); i++) {
    const json_t *sub = json_array_get(subsections, i);
    const char *name = json_string_value(json_object_get(sub, "name"));
    if (name == NULL || strcmp(name, finding->description) != 0) continue;
    const json_t *sent = json_object_get(sub, "x-sent");
    return sent == NULL || json_is_true(sent);
  }
  return true;
}

/* vmstate-diff forward: the first error of the kind asked for, and the first warning. */
static void diff_pick(const struct mig_vmsd_report *report, const json_t *source_dump,
                      bool first_only, const struct mig_vmsd_finding **error,
                      const struct mig_vmsd_finding **warning)
{
  *error = NULL;
  for (uint32_t i = 0; i < report->findings_count; i++) {
    const struct mig_vmsd_finding *finding = &report->findings[i];
    bool error_sent = finding->severity == MIG_VMSD_ERROR && finding_sent(source_dump, finding);
    if (!error_sent && finding->severity != MIG_VMSD_NOTE && *warning == NULL) {
      *warning = finding;
    }
    if (!error_sent || finding_first(finding) != first_only) continue;
    if (*error == NULL) *error = finding;
  }
}

/*
 * One hop: from -> to on machine, for a guest that started on started.
 * PASS, CONDITIONAL (vmstate-diff warnings only) or REFUSED.
 */
static void static_hop(struct conform_matrix *matrix, uint32_t started, uint32_t from,
                       uint32_t to, uint32_t machine, struct conform_matrix_cell *cell,
                       struct conform_matrix_verdict *verdict)
{
  const struct machine_config *a = matrix->configs[from][machine];
  const struct machine_config *b = matrix->configs[to][machine];
  struct mig_vmsd_report report;
  mig_vmsd_report_init(&report);
  struct mig_vmsd_diff_options options = {.directions = MIG_VMSD_FORWARD};
  mig_vmsd_diff(matrix->dumps[from][machine], matrix->dumps[to][machine], &options, &report);
  const struct mig_vmsd_finding *first = NULL, *later = NULL, *warning = NULL;
  const json_t *source_dump = matrix->dump_json[from][machine];
  for (uint32_t i = 0; i < report.findings_count; i++) {
    const struct mig_vmsd_finding *finding = &report.findings[i];
    bool sent_error = finding->severity == MIG_VMSD_ERROR && finding_sent(source_dump, finding);
    cell->diff_errors += sent_error;
    cell->diff_warnings += !sent_error && finding->severity != MIG_VMSD_NOTE;
  }
  diff_pick(&report, source_dump, true, &first, &warning);
  diff_pick(&report, source_dump, false, &later, &warning);
  verdict_set(verdict, CONFORM_MATRIX_PASS, "", "", "", "tables", "compatible");
  bool refused = !static_ram(a, b, verdict) || !static_live(a, b, verdict);
  if (!refused && first != NULL) {
    finding_verdict(first, CONFORM_MATRIX_REFUSED, verdict);
    refused = true;
  }
  if (!refused) refused = !static_config_bytes(a, b, from, to, verdict);
  if (!refused && later != NULL) {
    finding_verdict(later, CONFORM_MATRIX_REFUSED, verdict);
    refused = true;
  }
  if (!refused) refused = !static_features(matrix->configs[started][machine], b, verdict);
  if (!refused && warning != NULL) finding_verdict(warning, CONFORM_MATRIX_CONDITIONAL, verdict);
  mig_vmsd_report_deinit(&report);
}

/* The cell's static verdict: n/a, setup, or each hop's, the first that does not pass. */
static bool static_cell(struct conform_matrix *matrix, struct conform_matrix_cell *cell,
                        char *why, size_t why_bytes)
{
  struct conform_matrix_verdict *verdict = &cell->expected;
  for (uint32_t i = 0; i <= cell->hop_count; i++) {
    if (cell->machine_index > cell->releases[i]) {
      verdict_set(verdict, CONFORM_MATRIX_NA, "MACHINE", "", "", "machine",
                  "release %s has no machine type sim-%s",
                  compat_release_at(cell->releases[i])->name,
                  compat_release_at(cell->machine_index)->name);
      return true;
    }
  }
  for (uint32_t i = 0; i <= cell->hop_count; i++) {
    const struct compat_release *release = compat_release_at(cell->releases[i]);
    if ((cell->capabilities & ~release->capabilities) != 0) {
      verdict_set(verdict, CONFORM_MATRIX_SETUP, "CAPABILITY", "", "", "capabilities",
                  "release %s does not accept capability set %s", release->name,
                  cell->capabilities != 0 ? "switchover-ack" : "none");
      return true;
    }
    if (!side_get(matrix, cell->releases[i], cell->machine_index, why, why_bytes)) return false;
  }
  bool conditional = false;
  struct conform_matrix_verdict hop_verdict = {0};
  for (uint32_t hop = 0; hop < cell->hop_count; hop++) {
    static_hop(matrix, cell->releases[0], cell->releases[hop], cell->releases[hop + 1],
               cell->machine_index, cell, &hop_verdict);
    if (hop_verdict.outcome == CONFORM_MATRIX_CONDITIONAL && !conditional) {
      *verdict = hop_verdict;
      conditional = true;
    }
    if (hop_verdict.outcome == CONFORM_MATRIX_REFUSED) {
      *verdict = hop_verdict;
      return true;
    }
  }
  if (!conditional) *verdict = hop_verdict;
  return true;
}

/* ---------------------------------------------------------- dynamic runs */

/* "0000:00:05.0/simnet/pci" -> "simnet"; "ram/sim.rom/..." -> "ram/sim.rom". */
void conform_matrix__section(const char *path, char *out, size_t out_bytes)
{
  const char *start = path;
  const char *slash = strchr(path, '/');
  if (strncmp(path, "ram/", 4) == 0 && slash != NULL) {
    slash = strchr(slash + 1, '/');
  } else if (slash != NULL && memchr(path, ':', (size_t)(slash - path)) != NULL) {
    start = slash + 1;
    slash = strchr(start, '/');
  }
  size_t bytes = slash != NULL ? (size_t)(slash - start) : strlen(start);
  snprintf(out, out_bytes, "%.*s", (int)SIM_MIN(bytes, out_bytes - 1), start);
}

/* A loader error's kind, in the words of static_hop's checks. */
const char *conform_matrix_error_kind(const struct mig_error *error)
{
  switch (error->code) {
  case MIG_ERR_HOOK:
    if (strncmp(error->detail, "Bad config data", 15) == 0) return "BAD_CONFIG_DATA";
    if (strncmp(error->detail, "Features ", 9) == 0) return "FEATURES";
    return "HOOK";
  case MIG_ERR_RAM_BLOCK:
    return strncmp(error->detail, "Size ", 5) == 0 ? "RAM_SIZE" : "RAM_BLOCK";
  case MIG_ERR_SECTION_VERSION: return "VERSION";
  case MIG_ERR_UNKNOWN_SECTION: return "SECTION";
  case MIG_ERR_SUBSECTION: return "SUBSECTION";
  case MIG_ERR_MACHINE_MISMATCH: return "MACHINE";
  case MIG_ERR_FOOTER:
  case MIG_ERR_EQUAL_MISMATCH:
  case MIG_ERR_BAD_VALUE:
  case MIG_ERR_TRUNCATED:
    return "FIELD"; /* the field lists disagree: the stream is read out of step */
  default:
    return mig_err_name(error->code);
  }
}

static void dynamic_cell(struct conform_matrix *matrix, struct conform_matrix_cell *cell,
                         char *why, size_t why_bytes)
{
  struct conform_matrix_verdict *verdict = &cell->observed;
  if (cell->expected.outcome == CONFORM_MATRIX_NA ||
      cell->expected.outcome == CONFORM_MATRIX_SETUP) {
    *verdict = cell->expected; /* nothing to run: QEMU would not start, or refuse the caps */
    snprintf(verdict->by, sizeof(verdict->by), "not run");
    return;
  }
  bool parsed = conform_matrix__scenario(matrix, cell->releases, cell->hop_count,
                                         cell->machine_index, cell->capabilities, why,
                                         why_bytes);
  SIM_ASSERT(parsed); /* the tables build every offered machine */
  struct conform_run_result *result = &matrix->result;
  conform_check(matrix->scenario, false, NULL, NULL, result);
  cell->trace_digest = result->trace_digest;
  cell->events_count = result->events_count;
  const struct mig_precopy_stats *stats = &result->stats;
  if (result->verdict != CONFORM_PASS) {
    char section[64];
    conform_matrix__section(result->failure_at.path, section, sizeof(section));
    verdict_set(verdict, CONFORM_MATRIX_VIOLATION,
                result->failure_at.oracle != NULL ? result->failure_at.oracle : "?", section,
                result->failure_at.path, "simulation", "%s: %.280s",
                conform_verdict_name(result->verdict), result->failure);
  } else if (stats->status == MIG_STATE_COMPLETED) {
    verdict_set(verdict, CONFORM_MATRIX_PASS, "", "", "", "simulation",
                "completed; switchover equality and transparency held");
  } else {
    char section[64], message[256];
    conform_matrix__section(stats->error.path, section, sizeof(section));
    mig_error_format(&stats->error, message, sizeof(message));
    verdict_set(verdict, CONFORM_MATRIX_REFUSED, conform_matrix_error_kind(&stats->error),
                section, stats->error.path, "simulation", "%s; the source ran on", message);
  }
  conform_run_result_deinit(result);
}

static bool verdicts_agree(const struct conform_matrix_verdict *expected,
                           const struct conform_matrix_verdict *observed)
{
  if (observed->outcome == CONFORM_MATRIX_VIOLATION) return false;
  if (expected->outcome == CONFORM_MATRIX_CONDITIONAL) {
    return observed->outcome == CONFORM_MATRIX_PASS ||
           (observed->outcome == CONFORM_MATRIX_REFUSED &&
            strcmp(expected->section, observed->section) == 0);
  }
  if (expected->outcome != observed->outcome) return false;
  if (expected->outcome != CONFORM_MATRIX_REFUSED) return true;
  return strcmp(expected->kind, observed->kind) == 0 &&
         strcmp(expected->section, observed->section) == 0;
}

/* ----------------------------------------------------------- the matrix */

static void cell_id(struct conform_matrix_cell *cell)
{
  size_t at = 0;
  for (uint32_t i = 0; i <= cell->hop_count; i++) {
    at += (size_t)snprintf(cell->id + at, sizeof(cell->id) - at, "%s%s", i > 0 ? ">" : "",
                           compat_release_at(cell->releases[i])->name);
  }
  uint32_t set = cell->capabilities != 0 ? 1 : 0;
  snprintf(cell->id + at, sizeof(cell->id) - at, ":sim-%s:%s",
           compat_release_at(cell->machine_index)->name, caps_names[set]);
}

/* Every cell in a fixed order: per capability set, pairs by machine, source, destination;
 * then chains by chain and machine. */
static uint32_t cells_enumerate(const struct conform_matrix_options *options,
                                struct conform_matrix_cell *cells, uint32_t cells_max)
{
  uint32_t count = 0;
  const char *machines[COMPAT_RELEASES_COUNT];
  uint32_t machine_count = compat_machines(COMPAT_RELEASES_COUNT - 1, machines,
                                           COMPAT_RELEASES_COUNT);
  for (uint32_t set = 0; set < CONFORM_MATRIX_CAPS_COUNT; set++) {
    if ((options->capability_sets & (1u << set)) == 0) continue;
    for (uint32_t m = 0; m < machine_count; m++) {
      uint32_t machine_index = 0;
      bool found = compat_machine_find(COMPAT_RELEASES_COUNT - 1, machines[m], &machine_index);
      SIM_ASSERT(found);
      for (uint32_t from = 0; from < COMPAT_RELEASES_COUNT; from++) {
        for (uint32_t to = 0; to < COMPAT_RELEASES_COUNT; to++) {
          SIM_ASSERT(count < cells_max);
          cells[count++] = (struct conform_matrix_cell){
              .releases = {from, to}, .hop_count = 1, .machine_index = machine_index,
              .capabilities = caps_bits[set]};
        }
      }
      for (uint32_t c = 0; c < SIM_ARRAY_COUNT(matrix_chains) && !options->no_chains; c++) {
        SIM_ASSERT(count < cells_max);
        cells[count] = (struct conform_matrix_cell){
            .hop_count = CONFORM_MATRIX_CHAIN_HOPS, .machine_index = machine_index,
            .capabilities = caps_bits[set]};
        memcpy(cells[count].releases, matrix_chains[c], sizeof(matrix_chains[c]));
        count++;
      }
    }
  }
  for (uint32_t i = 0; i < count; i++) {
    cells[i].index = i;
    cell_id(&cells[i]);
  }
  return count;
}

bool conform_matrix_run(const struct conform_matrix_options *options,
                        struct conform_matrix_result *result, char *why, size_t why_bytes)
{
  SIM_ASSERT(options->shard_count >= 1 && options->shard_index < options->shard_count);
  memset(result, 0, sizeof(*result));
  struct conform_matrix_cell *all = calloc(CONFORM_MATRIX_CELLS_MAX, sizeof(*all));
  SIM_ASSERT(all != NULL);
  result->total_count = cells_enumerate(options, all, CONFORM_MATRIX_CELLS_MAX);
  struct conform_matrix *matrix = malloc(sizeof(*matrix));
  SIM_ASSERT(matrix != NULL);
  conform_matrix__init(matrix);
  bool ok = true;
  for (uint32_t i = 0; i < result->total_count && ok; i++) {
    if (i % options->shard_count != options->shard_index) continue;
    struct conform_matrix_cell *cell = &all[result->cell_count++];
    *cell = all[i];
    ok = static_cell(matrix, cell, why, why_bytes);
    if (!ok) break;
    if (options->static_only) {
      cell->observed = cell->expected;
      snprintf(cell->observed.by, sizeof(cell->observed.by), "not run");
    } else {
      dynamic_cell(matrix, cell, why, why_bytes);
    }
    cell->agree = options->static_only || verdicts_agree(&cell->expected, &cell->observed);
    cell->schema_blind = cell->observed.outcome == CONFORM_MATRIX_REFUSED &&
                         cell->diff_errors == 0;
    result->agree_count += cell->agree;
    result->disagree_count += !cell->agree;
    result->schema_blind_count += cell->schema_blind;
  }
  conform_matrix__deinit(matrix);
  free(matrix);
  result->cells = all;
  return ok;
}

void conform_matrix_result_deinit(struct conform_matrix_result *result)
{
  free(result->cells);
  memset(result, 0, sizeof(*result));
}

/* ------------------------------------------------------- boards, streams */

bool conform_matrix_board_text(const char *release, const char *machine, char *out,
                               size_t out_bytes, char *why, size_t why_bytes)
{
  uint32_t release_index, machine_index;
  if (compat_release_find(release, &release_index) == NULL) {
    snprintf(why, why_bytes, "unknown release '%s' (known: 1.0, 1.1, 1.1.1, 2.0, 2.1)",
             release);
    return false;
  }
  const char *names[COMPAT_RELEASES_COUNT];
  uint32_t count = compat_machines(release_index, names, COMPAT_RELEASES_COUNT);
  if (machine == NULL) machine = names[count - 1];
  if (!compat_machine_find(release_index, machine, &machine_index)) {
    snprintf(why, why_bytes, "release %s has no machine type '%s'", release, machine);
    return false;
  }
  bool fits = conform_matrix_scenario_text(&release_index, 0, machine_index, 0, out, out_bytes);
  SIM_ASSERT(fits);
  return true;
}

bool conform_matrix_stream_record(uint32_t release, uint32_t machine_index,
                                  struct mig_membuf *stream, char *why, size_t why_bytes)
{
  struct conform_matrix *matrix = malloc(sizeof(*matrix));
  SIM_ASSERT(matrix != NULL);
  conform_matrix__init(matrix);
  uint32_t releases[2] = {release, release};
  bool ok = conform_matrix__scenario(matrix, releases, 1, machine_index,
                                     CONFORM_MATRIX_GUEST_SMALL, why, why_bytes);
  mig_membuf_init(stream, (size_t)64 << 20);
  if (ok) {
    conform_check(matrix->scenario, false, NULL, stream, &matrix->result);
    ok = matrix->result.verdict == CONFORM_PASS &&
         matrix->result.stats.status == MIG_STATE_COMPLETED;
    if (!ok) snprintf(why, why_bytes, "the run did not pass: %.200s", matrix->result.failure);
    conform_run_result_deinit(&matrix->result);
  }
  conform_matrix__deinit(matrix);
  free(matrix);
  return ok;
}

enum mig_err conform_matrix_stream_load(uint32_t release, uint32_t machine_index,
                                        const uint8_t *bytes, size_t count,
                                        struct mig_error *error)
{
  struct conform_matrix *matrix = malloc(sizeof(*matrix));
  SIM_ASSERT(matrix != NULL);
  conform_matrix__init(matrix);
  char why[CONFORM_ERROR_BYTES];
  bool parsed = conform_matrix__scenario(matrix, &release, 0, machine_index,
                                         CONFORM_MATRIX_GUEST_SMALL, why, sizeof(why));
  SIM_ASSERT(parsed);
  struct sim_options options = {.seed = 1};
  struct sim *sim = sim_create(&options);
  struct machine *machine = machine_create(sim, &matrix->scenario->machine, 1);
  /* The destination's live sections as a loader sees them: paired with no source device. */
  struct machine_config nothing = {.type = "none", .ram_count = 1};
  snprintf(nothing.ram[0].name, sizeof(nothing.ram[0].name), "none");
  nothing.ram[0].bytes = RAM_PAGE_BYTES;
  struct mig_live_set *lives = malloc(sizeof(*lives));
  SIM_ASSERT(lives != NULL);
  struct mig_live_params params = {.section_base = 1};
  mig_live_set_init(lives, sim, machine_create(sim, &nothing, 0), machine, &params);
  struct mig_load_options load = {.lives = mig_live_set_loads(lives),
                                  .live_count = mig_live_set_load_count(lives)};
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, count);
  struct mig_load_stats stats;
  enum mig_err err = mig_load_machine_with(&reader, machine, &load, &stats);
  mig_live_set_load_cleanup(lives);
  free(lives);
  *error = *mig_reader_error(&reader);
  sim_destroy(sim);
  conform_matrix__deinit(matrix);
  free(matrix);
  return err;
}

bool conform_matrix_pair_expected(uint32_t from, uint32_t to, uint32_t machine_index,
                                  struct conform_matrix_verdict *verdict, char *why,
                                  size_t why_bytes)
{
  struct conform_matrix *matrix = malloc(sizeof(*matrix));
  SIM_ASSERT(matrix != NULL);
  conform_matrix__init(matrix);
  struct conform_matrix_cell cell = {.releases = {from, to}, .hop_count = 1,
                                     .machine_index = machine_index};
  bool ok = static_cell(matrix, &cell, why, why_bytes);
  *verdict = cell.expected;
  conform_matrix__deinit(matrix);
  free(matrix);
  return ok;
}
