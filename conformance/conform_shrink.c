/*
 * conform_shrink.c: the reducer and the regression replay (overview in
 * conform_shrink.h).
 *
 * Edits are enumerated afresh over the current JSON after each kept one
 * (the indexes shift when something is dropped); each is applied to a deep
 * copy, which replaces the current JSON only when it still fails alike.
 * Halving stops at a floor so that a pass ends.
 */
#include "sim_base.h"

#include "conform_faults.h"
#include "conform_shrink.h"

#include <jansson.h>

#define EDIT_NAME_BYTES 96
#define RAM_BYTES_FLOOR UINT64_C(65536)      /* smallest RAM block the reducer makes */
#define DURATION_NS_FLOOR (10 * SIM_NS_PER_MS)

struct shrink {
  const char *name;
  uint64_t seed;
  struct conform_shrink_outcome first; /* the seed's outcome: every kept edit keeps it */
  struct conform_shrink_result *result;
  const struct conform_shrink_options *options;
  uint32_t runs_max;
};

/* ------------------------------------------------------------------- runs */

static void first_line(char *out, size_t out_bytes, const char *text)
{
  size_t bytes = SIM_MIN(strlen(text), out_bytes - 1);
  memcpy(out, text, bytes);
  out[bytes] = 0;
  for (char *c = out; *c != 0; c++) {
    if (*c == '\n') *c = ' ';
  }
}

void conform_shrink_check(void *context, const struct conform_scenario *scenario,
                          struct conform_shrink_outcome *out)
{
  (void)context;
  static struct conform_run_result result;
  conform_check(scenario, false, NULL, NULL, &result);
  snprintf(out->verdict, sizeof out->verdict, "%s", conform_verdict_name(result.verdict));
  snprintf(out->oracle, sizeof out->oracle, "%s",
           result.failure_at.oracle != NULL ? result.failure_at.oracle : "");
  first_line(out->failure, sizeof out->failure, result.failure);
  conform_run_result_deinit(&result);
}

/* Parses text and judges it at the seed; false when it does not parse. */
static bool run_text(struct shrink *shrink, const char *text, struct conform_shrink_outcome *out)
{
  static struct conform_scenario scenario;
  char error[CONFORM_ERROR_BYTES];
  if (!conform_scenario_parse(text, strlen(text), shrink->name, &scenario, error, sizeof error)) {
    return false;
  }
  scenario.seed = shrink->seed;
  shrink->result->runs_count++;
  const struct conform_shrink_options *options = shrink->options;
  memset(out, 0, sizeof *out);
  if (options->check != NULL) {
    options->check(options->check_context, &scenario, out);
  } else {
    conform_shrink_check(NULL, &scenario, out);
  }
  return true;
}

/* The candidate fails as the seed did. */
static bool still_fails(struct shrink *shrink, json_t *candidate)
{
  char *text = json_dumps(candidate, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  SIM_ASSERT(text != NULL);
  struct conform_shrink_outcome outcome;
  bool parsed = run_text(shrink, text, &outcome);
  free(text);
  return parsed && strcmp(outcome.verdict, shrink->first.verdict) == 0 &&
         strcmp(outcome.oracle, shrink->first.oracle) == 0;
}

/* ------------------------------------------------------------------ edits */

/* Halves the integer at object[key] down to floor; false when it cannot. */
static bool halve(json_t *object, const char *key, uint64_t floor, uint64_t multiple)
{
  json_t *value = json_object_get(object, key);
  if (!json_is_integer(value)) return false;
  uint64_t number = (uint64_t)json_integer_value(value);
  uint64_t half = number / 2 / multiple * multiple;
  if (number <= floor || half < floor || half == number) return false;
  json_object_set_new(object, key, json_integer((json_int_t)half));
  return true;
}

static bool array_drop(json_t *array, size_t index)
{
  return json_is_array(array) && index < json_array_size(array) &&
         json_array_remove(array, index) == 0;
}

/* The workload programs: the object, or each entry of the array. */
static json_t *workload_program(json_t *root, size_t index)
{
  json_t *workload = json_object_get(root, "workload");
  if (json_is_object(workload)) return index == 0 ? workload : NULL;
  return json_is_array(workload) ? json_array_get(workload, index) : NULL;
}

/*
 * Edit number n on candidate (a copy of the current JSON), named into name;
 * false when there is no edit n (the enumeration is over) — *applies says
 * whether edit n changed anything.
 */
static bool edit_apply(json_t *root, uint32_t n, bool *applies, char *name)
{
  json_t *faults = json_object_get(root, "faults");
  json_t *plan = json_object_get(faults, "plan");
  size_t plan_count = json_is_array(plan) ? json_array_size(plan) : 0;
  json_t *devices = json_object_get(json_object_get(root, "machine"), "devices");
  size_t device_count = json_is_array(devices) ? json_array_size(devices) : 0;
  json_t *commands = json_object_get(root, "commands");
  size_t command_count = json_is_array(commands) ? json_array_size(commands) : 0;
  json_t *ram = json_object_get(json_object_get(root, "machine"), "ram");
  size_t ram_count = json_is_array(ram) ? json_array_size(ram) : 0;
  *applies = false;
  if (n < plan_count) {
    snprintf(name, EDIT_NAME_BYTES, "drop fault %" PRIu32, n);
    *applies = array_drop(plan, n);
    return true;
  }
  n -= (uint32_t)plan_count;
  if (n == 0) {
    snprintf(name, EDIT_NAME_BYTES, "buggify off");
    *applies = json_is_true(json_object_get(faults, "buggify"));
    if (*applies) json_object_del(faults, "buggify");
    return true;
  }
  n--;
  if (n < plan_count) {
    snprintf(name, EDIT_NAME_BYTES, "halve fault %" PRIu32 "'s duration", n);
    *applies = halve(json_array_get(plan, n), "duration_ns", SIM_NS_PER_MS, 1);
    return true;
  }
  n -= (uint32_t)plan_count;
  if (n < command_count) {
    const char *execute = json_string_value(json_object_get(json_array_get(commands, n),
                                                            "execute"));
    snprintf(name, EDIT_NAME_BYTES, "drop command %" PRIu32 " (%s)", n,
             execute != NULL ? execute : "?");
    *applies = execute != NULL && strcmp(execute, "migrate") != 0 && array_drop(commands, n);
    return true;
  }
  n -= (uint32_t)command_count;
  if (n < device_count) {
    snprintf(name, EDIT_NAME_BYTES, "drop device %" PRIu32, n);
    *applies = array_drop(devices, n);
    return true;
  }
  n -= (uint32_t)device_count;
  static const char *const workload_keys[] = {"duration_ns", "pages_per_s", "fill_pages"};
  if (n < 8 * SIM_ARRAY_COUNT(workload_keys)) {
    json_t *program = workload_program(root, n / SIM_ARRAY_COUNT(workload_keys));
    const char *key = workload_keys[n % SIM_ARRAY_COUNT(workload_keys)];
    snprintf(name, EDIT_NAME_BYTES, "halve workload %" PRIu32 "'s %s",
             n / (uint32_t)SIM_ARRAY_COUNT(workload_keys), key);
    *applies = program != NULL &&
               halve(program, key, strcmp(key, "duration_ns") == 0 ? DURATION_NS_FLOOR : 1, 1);
    return true;
  }
  n -= 8 * (uint32_t)SIM_ARRAY_COUNT(workload_keys);
  if (n < ram_count) {
    snprintf(name, EDIT_NAME_BYTES, "halve RAM block %" PRIu32, n);
    *applies = halve(json_array_get(ram, n), "bytes", RAM_BYTES_FLOOR, 4096);
    return true;
  }
  return false;
}

/* One pass over the edits; returns how many stayed. */
static uint32_t shrink_pass(struct shrink *shrink, json_t **current)
{
  uint32_t kept = 0;
  for (uint32_t n = 0; shrink->result->runs_count < shrink->runs_max; n++) {
    json_t *candidate = json_deep_copy(*current);
    char name[EDIT_NAME_BYTES];
    bool applies = false;
    bool more = edit_apply(candidate, n, &applies, name);
    bool stays = more && applies && still_fails(shrink, candidate);
    if (more && applies && shrink->options->progress != NULL) {
      shrink->options->progress(shrink->options->progress_context, name, stays,
                                shrink->result->runs_count);
    }
    if (stays) {
      json_decref(*current);
      *current = candidate;
      kept++;
      shrink->result->edits_kept++;
      n--; /* the same number is another edit now (indexes shifted), or the next halving */
      continue;
    }
    json_decref(candidate);
    if (!more) break;
  }
  return kept;
}

/* ------------------------------------------------------------- shrinking */

/* The seed written in, its plan explicit (the swarm draw), "regress" dropped. */
static json_t *materialise(json_t *root, const struct conform_plan *plan, uint64_t seed)
{
  json_t *copy = json_deep_copy(root);
  json_object_set_new(copy, "seed", json_integer((json_int_t)seed));
  json_object_del(copy, "regress");
  json_object_del(copy, "faults");
  json_t *faults = conform_plan_scenario_json(plan);
  if (faults != NULL) json_object_set_new(copy, "faults", faults);
  return copy;
}

/* The plan text's seed draws: parsed once more, then conform_faults_swarm. */
static bool seed_plan(const char *text, const char *name, uint64_t seed,
                      struct conform_plan *plan)
{
  static struct conform_scenario scenario;
  char error[CONFORM_ERROR_BYTES];
  if (!conform_scenario_parse(text, strlen(text), name, &scenario, error, sizeof error)) {
    return false;
  }
  scenario.seed = seed;
  conform_faults_swarm(&scenario, plan);
  return true;
}

/* Adds "description" and "regress" to the shrunk JSON. */
static void annotate(json_t *root, const struct shrink *shrink)
{
  struct conform_shrink_result *result = shrink->result;
  char description[256];
  snprintf(description, sizeof description, "shrunk from %.120s seed %" PRIu64 ": %s%s%s",
           shrink->name, shrink->seed, shrink->first.verdict,
           shrink->first.oracle[0] != 0 ? " " : "", shrink->first.oracle);
  json_object_set_new(root, "description", json_string(description));
  json_t *regress = json_object();
  json_object_set_new(regress, "verdict", json_string(shrink->first.verdict));
  if (shrink->first.oracle[0] != 0) {
    json_object_set_new(regress, "oracle", json_string(shrink->first.oracle));
  }
  if (result->found[0] != 0) json_object_set_new(regress, "found", json_string(result->found));
  json_object_set_new(root, "regress", regress);
}

bool conform_shrink(const char *text, size_t length, const char *name,
                    const struct conform_shrink_options *options,
                    struct conform_shrink_result *result, char *error, size_t error_bytes)
{
  memset(result, 0, sizeof *result);
  struct shrink shrink = {.name = name, .seed = options->seed, .result = result,
                          .options = options,
                          .runs_max = options->runs_max != 0 ? options->runs_max
                                                             : CONFORM_SHRINK_RUNS_DEFAULT};
  json_error_t json_error;
  json_t *root = json_loadb(text, length, JSON_REJECT_DUPLICATES, &json_error);
  char *terminated = NULL;
  if (root != NULL && options->swarm) {
    json_t *faults = json_object_get(root, "faults");
    if (!json_is_object(faults)) json_object_set_new(root, "faults", faults = json_object());
    json_object_set_new(faults, "swarm", json_true());
    terminated = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  } else {
    terminated = malloc(length + 1);
    SIM_ASSERT(terminated != NULL);
    memcpy(terminated, text, length);
    terminated[length] = 0;
  }
  SIM_ASSERT(terminated != NULL);
  bool parsed = root != NULL && run_text(&shrink, terminated, &shrink.first);
  static struct conform_plan plan;
  parsed = parsed && seed_plan(terminated, name, options->seed, &plan);
  free(terminated);
  if (!parsed) {
    snprintf(error, error_bytes, "%s: does not parse as a scenario", name);
    json_decref(root);
    return false;
  }
  if (strcmp(shrink.first.verdict, "PASS") == 0 || strcmp(shrink.first.verdict, "BAD-INPUT") == 0) {
    snprintf(error, error_bytes, "%s: seed %" PRIu64 " gives %s: nothing to shrink", name,
             options->seed, shrink.first.verdict);
    json_decref(root);
    return false;
  }
  snprintf(result->verdict, sizeof result->verdict, "%s", shrink.first.verdict);
  snprintf(result->oracle, sizeof result->oracle, "%s", shrink.first.oracle);
  snprintf(result->found, sizeof result->found, "%s", shrink.first.failure);
  result->faults_before = plan.fault_count;
  json_t *current = materialise(root, &plan, options->seed);
  json_decref(root);
  if (!still_fails(&shrink, current)) {
    /* The explicit plan is the same run as the drawn one: if not, that is the bug to chase. */
    snprintf(error, error_bytes, "%s: seed %" PRIu64 " with its plan written out no longer "
             "fails alike (a plan that does not reproduce: run it with --twice)", name,
             options->seed);
    json_decref(current);
    return false;
  }
  while (shrink_pass(&shrink, &current) > 0) continue;
  json_t *left = json_object_get(json_object_get(current, "faults"), "plan");
  result->faults_after = json_is_array(left) ? (uint32_t)json_array_size(left) : 0;
  annotate(current, &shrink);
  result->text = json_dumps(current, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(current);
  SIM_ASSERT(result->text != NULL);
  return true;
}

void conform_shrink_result_deinit(struct conform_shrink_result *result)
{
  free(result->text);
  result->text = NULL;
}

/* -------------------------------------------------------------- regression */

bool conform_regress_check(const struct conform_scenario *scenario, char *got, size_t got_bytes)
{
  const struct conform_plan_regress *want = &scenario->faults.regress;
  SIM_ASSERT(want->present);
  static struct conform_run_result result;
  conform_check(scenario, false, NULL, NULL, &result);
  const char *oracle = result.failure_at.oracle != NULL ? result.failure_at.oracle : "";
  bool pass_same = result.verdict == CONFORM_PASS && strcmp(want->verdict, "PASS") == 0;
  bool ok = strcmp(conform_verdict_name(result.verdict), want->verdict) == 0 &&
            (pass_same || strcmp(oracle, want->oracle) == 0);
  snprintf(got, got_bytes, "%s%s%s: %.200s", conform_verdict_name(result.verdict),
           oracle[0] != 0 ? " " : "", oracle, result.failure);
  conform_run_result_deinit(&result);
  return ok;
}
