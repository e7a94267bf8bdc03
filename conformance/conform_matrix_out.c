/*
 * conform_matrix_out.c: the matrix's outputs (conform_matrix.h): a
 * terminal table, JSON (schema "migsim-matrix/1", docs/compat.md), one
 * self-contained HTML page, and the comparison with a golden matrix.
 */
#include "sim_base.h"

#include "conform_matrix.h"
#include "conform_matrix_int.h"

/* "refused BAD_CONFIG_DATA simnet", "pass", "n/a". */
static void verdict_short(const struct conform_matrix_verdict *verdict, char *out,
                          size_t out_bytes)
{
  snprintf(out, out_bytes, "%s%s%s%s%s", conform_matrix_outcome_name(verdict->outcome),
           verdict->kind[0] != 0 ? " " : "", verdict->kind, verdict->section[0] != 0 ? " " : "",
           verdict->section);
}

static bool verdict_worth_a_line(const struct conform_matrix_verdict *verdict)
{
  return verdict->outcome == CONFORM_MATRIX_REFUSED ||
         verdict->outcome == CONFORM_MATRIX_CONDITIONAL ||
         verdict->outcome == CONFORM_MATRIX_VIOLATION;
}

/* Per kind, the schema-blind cells: what only the dynamic run (and the tables) see. */
static void text_summary(const struct conform_matrix_result *result, FILE *out)
{
  uint32_t outcomes[CONFORM_MATRIX_VIOLATION + 1] = {0};
  for (uint32_t i = 0; i < result->cell_count; i++) outcomes[result->cells[i].observed.outcome]++;
  fprintf(out, "migsim matrix: %" PRIu32 " of %" PRIu32 " cells:", result->cell_count,
          result->total_count);
  for (uint32_t o = 0; o <= CONFORM_MATRIX_VIOLATION; o++) {
    if (outcomes[o] > 0) {
      fprintf(out, " %" PRIu32 " %s", outcomes[o], conform_matrix_outcome_name(o));
    }
  }
  fprintf(out, "; %" PRIu32 " agree, %" PRIu32 " disagree\n", result->agree_count,
          result->disagree_count);
  fprintf(out, "migsim matrix: %" PRIu32 " refusals a static schema check (vmstate-diff of "
          "the dumps) cannot see:", result->schema_blind_count);
  static const char *const kinds[] = {"BAD_CONFIG_DATA", "FEATURES", "RAM_SIZE", "VERSION",
                                      "SUBSECTION", "FIELD", "SECTION"};
  for (size_t k = 0; k < SIM_ARRAY_COUNT(kinds); k++) {
    uint32_t count = 0;
    for (uint32_t i = 0; i < result->cell_count; i++) {
      const struct conform_matrix_cell *cell = &result->cells[i];
      count += cell->schema_blind && strcmp(cell->observed.kind, kinds[k]) == 0;
    }
    if (count > 0) fprintf(out, " %s %" PRIu32, kinds[k], count);
  }
  fprintf(out, "\n");
}

void conform_matrix_text(const struct conform_matrix_result *result, FILE *out)
{
  fprintf(out, "%-34s %-34s %-34s %s\n", "cell", "static (expected)", "dynamic (observed)",
          "agree");
  for (uint32_t i = 0; i < result->cell_count; i++) {
    const struct conform_matrix_cell *cell = &result->cells[i];
    char expected[96], observed[96];
    verdict_short(&cell->expected, expected, sizeof(expected));
    verdict_short(&cell->observed, observed, sizeof(observed));
    fprintf(out, "%-34s %-34s %-34s %s%s\n", cell->id, expected, observed,
            cell->agree ? "yes" : "NO", cell->schema_blind ? " (schema-blind)" : "");
    if (verdict_worth_a_line(&cell->expected) || !cell->agree) {
      fprintf(out, "    static (%s): %s\n", cell->expected.by, cell->expected.reason);
    }
    if (verdict_worth_a_line(&cell->observed) || !cell->agree) {
      fprintf(out, "    dynamic: %s\n", cell->observed.reason);
    }
  }
  text_summary(result, out);
}

static json_t *verdict_json(const struct conform_matrix_verdict *verdict, bool golden)
{
  json_t *object = json_object();
  json_object_set_new(object, "outcome",
                      json_string(conform_matrix_outcome_name(verdict->outcome)));
  json_object_set_new(object, "kind", json_string(verdict->kind));
  json_object_set_new(object, "section", json_string(verdict->section));
  json_object_set_new(object, "reason", json_string(verdict->reason));
  if (!golden) {
    json_object_set_new(object, "path", json_string(verdict->path));
    json_object_set_new(object, "by", json_string(verdict->by));
  }
  return object;
}

static json_t *cell_json(const struct conform_matrix_cell *cell, bool golden)
{
  json_t *object = json_object();
  json_object_set_new(object, "id", json_string(cell->id));
  json_t *releases = json_array();
  for (uint32_t i = 0; i <= cell->hop_count; i++) {
    json_array_append_new(releases, json_string(compat_release_at(cell->releases[i])->name));
  }
  json_object_set_new(object, "releases", releases);
  char machine[COMPAT_NAME_BYTES_MAX + 8];
  snprintf(machine, sizeof(machine), "sim-%s", compat_release_at(cell->machine_index)->name);
  json_object_set_new(object, "machine", json_string(machine));
  json_object_set_new(object, "capabilities",
                      json_string(cell->capabilities != 0 ? "switchover-ack" : "none"));
  json_object_set_new(object, "static", verdict_json(&cell->expected, golden));
  json_object_set_new(object, "dynamic", verdict_json(&cell->observed, golden));
  json_object_set_new(object, "agree", json_boolean(cell->agree));
  json_object_set_new(object, "schema_blind", json_boolean(cell->schema_blind));
  if (golden) return object;
  json_object_set_new(object, "index", json_integer(cell->index));
  json_object_set_new(object, "vmstate_diff_errors", json_integer(cell->diff_errors));
  json_object_set_new(object, "vmstate_diff_warnings", json_integer(cell->diff_warnings));
  char digest[24];
  snprintf(digest, sizeof(digest), "0x%016" PRIx64, cell->trace_digest);
  json_object_set_new(object, "trace_digest", json_string(digest));
  json_object_set_new(object, "events", json_integer((json_int_t)cell->events_count));
  return object;
}

static json_t *releases_json(void)
{
  json_t *list = json_array();
  for (uint32_t r = 0; r < COMPAT_RELEASES_COUNT; r++) {
    const struct compat_release *release = compat_release_at(r);
    json_t *object = json_object();
    json_object_set_new(object, "name", json_string(release->name));
    json_object_set_new(object, "new_machine", json_boolean(release->new_machine));
    json_object_set_new(object, "switchover_ack",
                        json_boolean(release->capabilities & COMPAT_CAP_SWITCHOVER_ACK));
    json_object_set_new(object, "changes", json_string(release->changes));
    json_array_append_new(list, object);
  }
  return list;
}

json_t *conform_matrix_json(const struct conform_matrix_result *result,
                            const struct conform_matrix_options *options, bool golden)
{
  json_t *root = json_object();
  json_object_set_new(root, "schema", json_string("migsim-matrix/1"));
  json_object_set_new(root, "releases", releases_json());
  json_t *shard = json_object();
  json_object_set_new(shard, "index", json_integer(options->shard_index));
  json_object_set_new(shard, "count", json_integer(options->shard_count));
  json_object_set_new(root, "shard", shard);
  json_object_set_new(root, "cells_total", json_integer(result->total_count));
  json_t *cells = json_array();
  for (uint32_t i = 0; i < result->cell_count; i++) {
    json_array_append_new(cells, cell_json(&result->cells[i], golden));
  }
  json_object_set_new(root, "cells", cells);
  json_t *summary = json_object();
  json_object_set_new(summary, "cells", json_integer(result->cell_count));
  json_object_set_new(summary, "agree", json_integer(result->agree_count));
  json_object_set_new(summary, "disagree", json_integer(result->disagree_count));
  json_object_set_new(summary, "schema_blind", json_integer(result->schema_blind_count));
  json_object_set_new(root, "summary", summary);
  return root;
}

/* ------------------------------------------------------------------ HTML */

static void html_escaped(FILE *out, const char *text)
{
  for (const char *c = text; *c != 0; c++) {
    switch (*c) {
    case '<': fputs("&lt;", out); break;
    case '>': fputs("&gt;", out); break;
    case '&': fputs("&amp;", out); break;
    case '"': fputs("&quot;", out); break;
    default: fputc(*c, out); break;
    }
  }
}

static const char *html_class(const struct conform_matrix_cell *cell)
{
  if (!cell->agree) return "disagree";
  switch (cell->observed.outcome) {
  case CONFORM_MATRIX_PASS: return "pass";
  case CONFORM_MATRIX_REFUSED: return cell->schema_blind ? "blind" : "refused";
  case CONFORM_MATRIX_VIOLATION: return "disagree";
  default: return "na";
  }
}

static void html_cell(FILE *out, const struct conform_matrix_cell *cell)
{
  fprintf(out, "<td class=\"%s\" title=\"", html_class(cell));
  html_escaped(out, cell->id);
  fputs("&#10;static: ", out);
  html_escaped(out, cell->expected.reason);
  fputs("&#10;dynamic: ", out);
  html_escaped(out, cell->observed.reason);
  fprintf(out, "\">%s<br><small>%s</small></td>",
          conform_matrix_outcome_name(cell->observed.outcome), cell->observed.kind);
}

/* One grid per (capability set, machine type): source releases down, destinations across. */
static void html_grid(FILE *out, const struct conform_matrix_result *result,
                      const struct conform_matrix_cell *first)
{
  fprintf(out, "<h2>sim-%s, capabilities %s</h2>\n<table><tr><th>from \\ to</th>",
          compat_release_at(first->machine_index)->name,
          first->capabilities != 0 ? "switchover-ack" : "none");
  for (uint32_t to = 0; to < COMPAT_RELEASES_COUNT; to++) {
    fprintf(out, "<th>%s</th>", compat_release_at(to)->name);
  }
  fputs("</tr>\n", out);
  for (uint32_t from = 0; from < COMPAT_RELEASES_COUNT; from++) {
    fprintf(out, "<tr><th>%s</th>", compat_release_at(from)->name);
    for (uint32_t to = 0; to < COMPAT_RELEASES_COUNT; to++) {
      const struct conform_matrix_cell *found = NULL;
      for (uint32_t i = 0; i < result->cell_count && found == NULL; i++) {
        const struct conform_matrix_cell *cell = &result->cells[i];
        if (cell->hop_count == 1 && cell->machine_index == first->machine_index &&
            cell->capabilities == first->capabilities && cell->releases[0] == from &&
            cell->releases[1] == to) {
          found = cell;
        }
      }
      if (found != NULL) html_cell(out, found); else fputs("<td>(other shard)</td>", out);
    }
    fputs("</tr>\n", out);
  }
  fputs("</table>\n", out);
}

/*
 * Cell i is the first pair of its (machine type, capability set) in this result: its grid
 * goes here.  A shard holds any subset of a grid's cells, 1.0>1.0 included or not.
 */
static bool html_grid_first(const struct conform_matrix_result *result, uint32_t i)
{
  const struct conform_matrix_cell *cell = &result->cells[i];
  if (cell->hop_count != 1) return false;
  for (uint32_t j = 0; j < i; j++) {
    const struct conform_matrix_cell *other = &result->cells[j];
    if (other->hop_count == 1 && other->machine_index == cell->machine_index &&
        other->capabilities == cell->capabilities) {
      return false;
    }
  }
  return true;
}

void conform_matrix_html(const struct conform_matrix_result *result, FILE *out)
{
  fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>migsim matrix</title>\n"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse;margin:8px 0}"
        "td,th{border:1px solid #999;padding:4px 8px;text-align:center}"
        ".pass{background:#c8f0c8}.refused{background:#f8e0a0}.blind{background:#f8c080}"
        ".na{background:#e8e8e8;color:#888}.disagree{background:#f08080;font-weight:bold}"
        "</style></head><body>\n<h1>migsim matrix</h1>\n", out);
  fprintf(out, "<p>%" PRIu32 " of %" PRIu32 " cells; %" PRIu32 " agree, %" PRIu32
          " disagree; %" PRIu32 " refusals only the dynamic run and the tables see "
          "(orange-brown). Hover a cell for both verdicts.</p>\n", result->cell_count,
          result->total_count, result->agree_count, result->disagree_count,
          result->schema_blind_count);
  for (uint32_t i = 0; i < result->cell_count; i++) {
    if (html_grid_first(result, i)) html_grid(out, result, &result->cells[i]);
  }
  fputs("<h2>Chains (started on, then each hop)</h2>\n<table><tr><th>cell</th><th>static</th>"
        "<th>dynamic</th></tr>\n", out);
  for (uint32_t i = 0; i < result->cell_count; i++) {
    const struct conform_matrix_cell *cell = &result->cells[i];
    if (cell->hop_count == 1) continue;
    fputs("<tr><th>", out);
    html_escaped(out, cell->id);
    fputs("</th><td>", out);
    html_escaped(out, cell->expected.reason);
    fputs("</td>", out);
    html_cell(out, cell);
    fputs("</tr>\n", out);
  }
  fputs("</table>\n</body></html>\n", out);
}

/* ---------------------------------------------------------------- golden */

static bool golden_same(const json_t *golden, const struct conform_matrix_verdict *verdict)
{
  const char *outcome = json_string_value(json_object_get(golden, "outcome"));
  const char *kind = json_string_value(json_object_get(golden, "kind"));
  const char *section = json_string_value(json_object_get(golden, "section"));
  return outcome != NULL && kind != NULL && section != NULL &&
         strcmp(outcome, conform_matrix_outcome_name(verdict->outcome)) == 0 &&
         strcmp(kind, verdict->kind) == 0 && strcmp(section, verdict->section) == 0;
}

static const char *golden_text(const json_t *object, const char *key)
{
  const char *text = json_string_value(json_object_get(object, key));
  return text != NULL ? text : "?";
}

static void golden_report(FILE *out, const char *id, const char *which, const json_t *golden,
                          const struct conform_matrix_verdict *verdict)
{
  char now[96], before[96];
  struct conform_matrix_verdict was = {0};
  snprintf(was.kind, sizeof(was.kind), "%s", golden_text(golden, "kind"));
  snprintf(was.section, sizeof(was.section), "%s", golden_text(golden, "section"));
  verdict_short(&was, before, sizeof(before));
  verdict_short(verdict, now, sizeof(now));
  /* verdict_short of was names outcome 0; the golden's own outcome text replaces it. */
  const char *tail = before + strlen(conform_matrix_outcome_name(was.outcome));
  fprintf(out, "migsim matrix: cell %s: %s verdict changed: golden %s%s (%s), now %s (%s)\n",
          id, which, golden_text(golden, "outcome"), tail, golden_text(golden, "reason"), now,
          verdict->reason);
}

uint32_t conform_matrix_golden_check(const struct conform_matrix_result *result,
                                     const json_t *golden, FILE *out)
{
  const json_t *cells = json_object_get(golden, "cells");
  uint32_t changes = 0;
  for (uint32_t i = 0; i < result->cell_count; i++) {
    const struct conform_matrix_cell *cell = &result->cells[i];
    const json_t *found = NULL;
    for (size_t g = 0; g < json_array_size(cells) && found == NULL; g++) {
      const char *id = json_string_value(json_object_get(json_array_get(cells, g), "id"));
      if (id != NULL && strcmp(id, cell->id) == 0) found = json_array_get(cells, g);
    }
    if (found == NULL) {
      fprintf(out, "migsim matrix: cell %s: not in the golden matrix\n", cell->id);
      changes++;
      continue;
    }
    const json_t *expected = json_object_get(found, "static");
    const json_t *observed = json_object_get(found, "dynamic");
    if (!golden_same(expected, &cell->expected)) {
      golden_report(out, cell->id, "static", expected, &cell->expected);
      changes++;
    }
    if (!golden_same(observed, &cell->observed)) {
      golden_report(out, cell->id, "dynamic", observed, &cell->observed);
      changes++;
    }
  }
  return changes;
}
