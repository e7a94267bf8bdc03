/*
 * conform_plan.c: fault plans, parsing and the corrupt transform (overview
 * in conform_plan.h, language in docs/proxy.md).
 *
 * jansson parses; this file walks the result with a key/index path so that
 * every complaint is located in the text by conform_json_locate, as the
 * scenario parser does.  Each fault's allowed keys depend on its kind, so a
 * key that means nothing for that kind ("ms" on a reset) is an error rather
 * than silently ignored.
 */
#include "sim_base.h"

#include "conform_json.h"
#include "conform_plan.h"
#include "sim_limits.h"

#include <jansson.h>

static const char *const kind_names[] = {
#define CONFORM_PLAN_KIND_NAME(name, text) text,
    CONFORM_PLAN_KINDS(CONFORM_PLAN_KIND_NAME)
#undef CONFORM_PLAN_KIND_NAME
    NULL,
};
_Static_assert(SIM_ARRAY_COUNT(kind_names) == CONFORM_PLAN_KIND_COUNT + 1, "a name per kind");
_Static_assert(CONFORM_PLAN_AT_BYTES_MAX < (UINT64_C(1) << 53), "exact in a JSON number");

const char *conform_plan_kind_name(enum conform_plan_kind kind)
{
  SIM_ASSERT((unsigned)kind < CONFORM_PLAN_KIND_COUNT);
  return kind_names[kind];
}

static const char *const direction_names[] = {"to-destination", "to-source", "both", NULL};

const char *conform_plan_direction_name(enum conform_plan_direction direction)
{
  SIM_ASSERT((unsigned)direction <= CONFORM_PLAN_BOTH);
  return direction_names[direction];
}

bool conform_plan_kind_simulated(enum conform_plan_kind kind)
{
  SIM_ASSERT((unsigned)kind < CONFORM_PLAN_KIND_COUNT);
  return kind >= CONFORM_PLAN_SIM_FIRST;
}

/* ------------------------------------------------------------------ parse */

struct parse {
  struct conform_json_parse json;    /* text, name, error and where the parse is */
  bool scenario;                     /* a scenario's "faults": simulated kinds and triggers */
};

#include "conform_json_parse_inl.h"  /* push_key, pop, fail, check_keys, get_u64, get_bool */

/* An optional string member of 1..out_bytes-1 bytes; absent keeps out. */
static bool get_string(struct parse *p, json_t *object, const char *key, char *out,
                       size_t out_bytes)
{
  json_t *value = json_object_get(object, key);
  if (value == NULL) return true;
  push_key(p, key);
  size_t length = json_is_string(value) ? json_string_length(value) : 0;
  if (!json_is_string(value) || length == 0 || length >= out_bytes ||
      strlen(json_string_value(value)) != length) {
    return fail(p, "\"%s\" must be a string of 1..%zu bytes with no NUL", key, out_bytes - 1);
  }
  memcpy(out, json_string_value(value), length + 1);
  pop(p);
  return true;
}

/* One of names (NULL-terminated); absent keeps *out unless required. */
static bool get_choice(struct parse *p, json_t *object, const char *key,
                       const char *const *names, bool required, uint32_t *out)
{
  json_t *value = json_object_get(object, key);
  if (value == NULL) return required ? fail(p, "missing \"%s\"", key) : true;
  push_key(p, key);
  for (uint32_t i = 0; json_is_string(value) && names[i] != NULL; i++) {
    if (strcmp(names[i], json_string_value(value)) == 0) {
      *out = i;
      pop(p);
      return true;
    }
  }
  char list[256] = "";
  for (uint32_t i = 0; names[i] != NULL; i++) {
    size_t used = strlen(list);
    snprintf(list + used, sizeof list - used, "%s\"%s\"", i > 0 ? ", " : "", names[i]);
  }
  return fail(p, "\"%s\" must be one of %s", key, list);
}

/* "channel": "main" (0) or a connection index 0..CHANNELS_MAX-1. */
static bool get_channel(struct parse *p, json_t *entry, uint32_t *out)
{
  json_t *value = json_object_get(entry, "channel");
  if (value == NULL) return true;
  if (json_is_string(value) && strcmp(json_string_value(value), "main") == 0) {
    *out = 0;
    return true;
  }
  if (!json_is_integer(value)) {
    push_key(p, "channel");
    return fail(p, "\"channel\" must be \"main\" or a connection index 0..%" PRIu32,
                CONFORM_PLAN_CHANNELS_MAX - 1);
  }
  uint64_t index = 0;
  if (!get_u64(p, entry, "channel", 0, CONFORM_PLAN_CHANNELS_MAX - 1, true, &index)) {
    return false;
  }
  *out = (uint32_t)index;
  return true;
}

/* "state": a state name, "side": "source" (default) or "destination", "after_ns". */
static bool get_state_trigger(struct parse *p, json_t *at, struct conform_plan_fault *fault)
{
  static const char *const sides[] = {"source", "destination", NULL};
  static const char *states[MIG_STATE_COUNT + 1];
  for (uint32_t i = 0; i < MIG_STATE_COUNT; i++) states[i] = mig_state_name((enum mig_state)i);
  states[MIG_STATE_COUNT] = NULL;
  uint32_t state = 0, side = MIG_SIDE_SOURCE;
  if (!get_choice(p, at, "state", states, true, &state)) return false;
  if (!get_choice(p, at, "side", sides, false, &side)) return false;
  fault->trigger = CONFORM_PLAN_AT_STATE;
  fault->state = (enum mig_state)state;
  fault->side = (enum mig_side)side;
  return get_u64(p, at, "after_ns", 0, CONFORM_PLAN_NS_MAX, false, &fault->after_ns);
}

/*
 * "at": {"byte": N} in a proxy plan; {"ns": T}, {"state": S, "side": ...,
 * "after_ns": D}, {"sections": N} or {"pages": N} in a scenario.  Record
 * triggers are named and refused (docs/proxy.md).
 */
static bool get_trigger(struct parse *p, json_t *entry, struct conform_plan_fault *fault)
{
  json_t *at = json_object_get(entry, "at");
  const char *shape = p->scenario ? "{\"ns\": T}, {\"state\": S}, {\"sections\": N} or "
                                    "{\"pages\": N}"
                                  : "{\"byte\": N}";
  if (at == NULL) return fail(p, "missing \"at\" (the trigger: %s)", shape);
  push_key(p, "at");
  if (!json_is_object(at)) return fail(p, "\"at\" must be an object: %s", shape);
  if (json_object_get(at, "record") != NULL) {
    push_key(p, "record");
    return fail(p, "record triggers are not implemented yet (they wait for the record "
                   "layer); use %s", shape);
  }
  static const char *const proxy_keys[] = {"byte", NULL};
  static const char *const sim_keys[] = {"ns", "state", "side", "after_ns", "sections", "pages",
                                         NULL};
  if (!check_keys(p, at, p->scenario ? sim_keys : proxy_keys)) return false;
  if (!p->scenario) {
    fault->trigger = CONFORM_PLAN_AT_BYTE;
    if (!get_u64(p, at, "byte", 0, CONFORM_PLAN_AT_BYTES_MAX, true, &fault->at_bytes)) {
      return false;
    }
    pop(p);
    return true;
  }
  static const char *const firsts[] = {"ns", "state", "sections", "pages"};
  uint32_t given = 0, which = 0;
  for (uint32_t i = 0; i < SIM_ARRAY_COUNT(firsts); i++) {
    if (json_object_get(at, firsts[i]) != NULL) given++, which = i;
  }
  if (given != 1) return fail(p, "\"at\" takes exactly one of \"ns\", \"state\", "
                                 "\"sections\", \"pages\"");
  if (which != 1 && (json_object_get(at, "side") != NULL ||
                     json_object_get(at, "after_ns") != NULL)) {
    return fail(p, "\"side\" and \"after_ns\" go with \"state\"");
  }
  bool ok = which == 1 ? get_state_trigger(p, at, fault)
            : which == 0
                ? get_u64(p, at, "ns", 0, CONFORM_PLAN_NS_MAX, true, &fault->at_ns)
                : get_u64(p, at, firsts[which], 1, CONFORM_PLAN_COUNT_MAX, true, &fault->at_count);
  if (!ok) return false;
  if (which == 0) fault->trigger = CONFORM_PLAN_AT_NS;
  if (which == 2) fault->trigger = CONFORM_PLAN_AT_SECTIONS;
  if (which == 3) fault->trigger = CONFORM_PLAN_AT_PAGES;
  pop(p);
  return true;
}

static int hex_digit(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* "xor": hex digits, two per byte, 1..XOR_BYTES_MAX bytes, not all zero. */
static bool get_xor(struct parse *p, json_t *entry, struct conform_plan_fault *fault)
{
  json_t *value = json_object_get(entry, "xor");
  if (value == NULL) return fail(p, "missing \"xor\" (the mask, hex: \"ff\")");
  push_key(p, "xor");
  const char *text = json_is_string(value) ? json_string_value(value) : "";
  size_t digits = strlen(text);
  if (digits == 0 || digits % 2 != 0 || digits / 2 > CONFORM_PLAN_XOR_BYTES_MAX) {
    return fail(p, "\"xor\" must be a string of 2..%u hex digits, two per byte",
                2 * CONFORM_PLAN_XOR_BYTES_MAX);
  }
  bool nonzero = false;
  for (size_t i = 0; i < digits; i += 2) {
    int high = hex_digit(text[i]), low = hex_digit(text[i + 1]);
    if (high < 0 || low < 0) return fail(p, "\"xor\": '%c%c' is not a hex byte", text[i],
                                         text[i + 1]);
    fault->xor_mask[i / 2] = (uint8_t)(high << 4 | low);
    nonzero = nonzero || fault->xor_mask[i / 2] != 0;
  }
  if (!nonzero) return fail(p, "\"xor\" is all zeros: it would change nothing");
  fault->xor_bytes = (uint32_t)(digits / 2);
  pop(p);
  return true;
}

/* The keys each kind accepts besides kind, channel, direction, at and note. */
static const char *const *kind_keys(enum conform_plan_kind kind)
{
  static const char *const common[] = {"kind", "channel", "direction", "at", "note", NULL};
  static const char *const delay[] = {"kind", "channel", "direction", "at", "note", "ms", NULL};
  static const char *const stall[] = {"kind", "channel", "direction", "at", "note",
                                      "until_ms", NULL};
  static const char *const corrupt[] = {"kind", "channel", "direction", "at", "note", "xor",
                                        NULL};
  static const char *const link[] = {"kind", "direction", "at", "note", "duration_ns",
                                     "jitter_ns", "loss", "burst", "duplicate",
                                     "duplicate_delay_ns", "reorder", "reorder_delay_ns",
                                     "corrupt", NULL};
  static const char *const timed[] = {"kind", "direction", "at", "note", "duration_ns", NULL};
  static const char *const bandwidth[] = {"kind", "direction", "at", "note", "duration_ns",
                                          "bytes_per_s", NULL};
  static const char *const point[] = {"kind", "at", "note", NULL};
  static const char *const slow[] = {"kind", "at", "note", "delay_ns", NULL};
  static const char *const multifd[] = {"kind", "channel", "at", "note", NULL};
  static const char *const revert[] = {"kind", "note", NULL};
  switch (kind) {
  case CONFORM_PLAN_DELAY: return delay;
  case CONFORM_PLAN_STALL: return stall;
  case CONFORM_PLAN_CORRUPT: return corrupt;
  case CONFORM_PLAN_LINK: return link;
  case CONFORM_PLAN_PARTITION: return timed;
  case CONFORM_PLAN_RP_LOSS: return timed;
  case CONFORM_PLAN_BANDWIDTH: return bandwidth;
  case CONFORM_PLAN_DEST_SLOW_LOAD: return slow;
  case CONFORM_PLAN_MULTIFD_FAIL: return multifd;
  case CONFORM_PLAN_REVERT: return revert;
  case CONFORM_PLAN_SOURCE_CRASH:
  case CONFORM_PLAN_DEST_CRASH:
  case CONFORM_PLAN_CANCEL:
  case CONFORM_PLAN_DISK_FULL: return point;
  default: return common;
  }
}

/* A ratio as [numerator, denominator]: 0 <= numerator <= denominator, denominator > 0. */
static bool get_ratio(struct parse *p, json_t *object, const char *key, struct sim_ratio *out)
{
  json_t *value = json_object_get(object, key);
  if (value == NULL) return true;
  push_key(p, key);
  json_t *n = json_array_get(value, 0), *d = json_array_get(value, 1);
  if (!json_is_array(value) || json_array_size(value) != 2 || !json_is_integer(n) ||
      !json_is_integer(d) || json_integer_value(n) < 0 ||
      json_integer_value(d) <= 0 || json_integer_value(n) > json_integer_value(d)) {
    return fail(p, "\"%s\" must be a ratio [numerator, denominator], 0 <= numerator <= "
                   "denominator, denominator > 0", key);
  }
  *out = (struct sim_ratio){(uint64_t)json_integer_value(n), (uint64_t)json_integer_value(d)};
  pop(p);
  return true;
}

/* A link fault's knobs, in docs/link.md's shape; at least one must be on. */
static bool get_link_knobs(struct parse *p, json_t *entry, struct link_faults *faults)
{
  static const char *const burst_keys[] = {"enter", "exit", "loss", NULL};
  json_t *burst = json_object_get(entry, "burst");
  if (!get_u64(p, entry, "jitter_ns", 0, SIM_LINK_DELAY_NS_MAX, false, &faults->jitter_ns_max) ||
      !get_ratio(p, entry, "loss", &faults->loss) ||
      !get_ratio(p, entry, "duplicate", &faults->duplicate) ||
      !get_u64(p, entry, "duplicate_delay_ns", 0, SIM_LINK_DELAY_NS_MAX, false,
               &faults->duplicate_delay_ns_max) ||
      !get_ratio(p, entry, "reorder", &faults->reorder) ||
      !get_u64(p, entry, "reorder_delay_ns", 1, SIM_LINK_DELAY_NS_MAX, false,
               &faults->reorder_delay_ns_max) ||
      !get_ratio(p, entry, "corrupt", &faults->corrupt)) {
    return false;
  }
  if (burst != NULL) {
    push_key(p, "burst");
    if (!json_is_object(burst)) return fail(p, "\"burst\" must be {\"enter\", \"exit\", \"loss\"}");
    if (!check_keys(p, burst, burst_keys) ||
        !get_ratio(p, burst, "enter", &faults->burst_enter) ||
        !get_ratio(p, burst, "exit", &faults->burst_exit) ||
        !get_ratio(p, burst, "loss", &faults->burst_loss)) {
      return false;
    }
    pop(p);
  }
  if (faults->reorder.numerator > 0 && faults->reorder_delay_ns_max == 0) {
    faults->reorder_delay_ns_max = SIM_NS_PER_MS; /* a reorder needs a hold-back */
  }
  bool any = faults->jitter_ns_max > 0 || faults->loss.numerator > 0 ||
             faults->burst_enter.numerator > 0 || faults->duplicate.numerator > 0 ||
             faults->reorder.numerator > 0 || faults->corrupt.numerator > 0;
  if (!any) return fail(p, "a link fault needs one of \"jitter_ns\", \"loss\", \"burst\", "
                           "\"duplicate\", \"reorder\", \"corrupt\"");
  if (!link_faults_valid(faults)) return fail(p, "these link knobs are out of range (sim_link.h)");
  return true;
}

/* The kind-specific members of a simulated fault. */
static bool parse_sim_arguments(struct parse *p, json_t *entry, struct conform_plan_fault *fault)
{
  switch (fault->kind) {
  case CONFORM_PLAN_LINK:
    return get_u64(p, entry, "duration_ns", 0, CONFORM_PLAN_NS_MAX, false,
                   &fault->duration_ns) &&
           get_link_knobs(p, entry, &fault->link);
  case CONFORM_PLAN_PARTITION:
  case CONFORM_PLAN_RP_LOSS:
    return get_u64(p, entry, "duration_ns", 0, CONFORM_PLAN_NS_MAX, false, &fault->duration_ns);
  case CONFORM_PLAN_BANDWIDTH:
    return get_u64(p, entry, "duration_ns", 0, CONFORM_PLAN_NS_MAX, false,
                   &fault->duration_ns) &&
           get_u64(p, entry, "bytes_per_s", 1, SIM_LINK_BANDWIDTH_BYTES_PER_S_MAX, true,
                   &fault->bytes_per_s);
  case CONFORM_PLAN_DEST_SLOW_LOAD:
    return get_u64(p, entry, "delay_ns", 1, CONFORM_PLAN_NS_MAX, true, &fault->delay_ns);
  default: return true;
  }
}

static bool parse_fault(struct parse *p, json_t *entry, struct conform_plan_fault *fault)
{
  if (!json_is_object(entry)) return fail(p, "a fault must be an object");
  uint32_t kind = 0, direction = CONFORM_PLAN_TO_DESTINATION;
  /* The names offered are the place's own: the proxy's kinds, or the simulated ones. */
  const char *const *names = p->scenario ? kind_names + CONFORM_PLAN_SIM_FIRST : kind_names;
  static const char *proxy_names[CONFORM_PLAN_SIM_FIRST + 1];
  memcpy(proxy_names, kind_names, sizeof(proxy_names[0]) * CONFORM_PLAN_SIM_FIRST);
  proxy_names[CONFORM_PLAN_SIM_FIRST] = NULL;
  json_t *kind_value = json_object_get(entry, "kind");
  const char *kind_text = json_string_value(kind_value);
  bool known = false;
  for (uint32_t i = 0; kind_text != NULL && i < CONFORM_PLAN_KIND_COUNT && !known; i++) {
    known = strcmp(kind_names[i], kind_text) == 0;
    kind = i;
  }
  if (!known && !get_choice(p, entry, "kind", p->scenario ? names : proxy_names, true, &kind)) {
    return false;
  }
  fault->kind = (enum conform_plan_kind)kind;
  if (conform_plan_kind_simulated(fault->kind) != p->scenario) {
    push_key(p, "kind");
    return fail(p, p->scenario ? "\"%s\" is a migsim proxy fault (byte offsets on real "
                                 "sockets); a scenario takes simulated kinds (docs/faults.md)"
                               : "\"%s\" is a simulated fault: put it in a scenario's "
                                 "\"faults\" (docs/faults.md)",
                conform_plan_kind_name(fault->kind));
  }
  if (!check_keys(p, entry, kind_keys(fault->kind))) return false;
  char note[256];
  if (!get_string(p, entry, "note", note, sizeof note)) return false;
  if (!get_channel(p, entry, &fault->channel_index)) return false;
  bool both = fault->kind == CONFORM_PLAN_LINK || fault->kind == CONFORM_PLAN_PARTITION ||
              fault->kind == CONFORM_PLAN_BANDWIDTH;
  static const char *const directions_proxy[] = {"to-destination", "to-source", NULL};
  if (!get_choice(p, entry, "direction", both ? direction_names : directions_proxy, false,
                  &direction)) {
    return false;
  }
  fault->direction = (enum conform_plan_direction)direction;
  if (fault->kind == CONFORM_PLAN_REVERT) {
    fault->trigger = CONFORM_PLAN_AT_LOADED;
  } else if (!get_trigger(p, entry, fault)) {
    return false;
  }
  if (fault->kind == CONFORM_PLAN_DELAY &&
      !get_u64(p, entry, "ms", 1, CONFORM_PLAN_MS_MAX, true, &fault->ms)) {
    return false;
  }
  if (fault->kind == CONFORM_PLAN_STALL &&
      !get_u64(p, entry, "until_ms", 1, CONFORM_PLAN_MS_MAX, false, &fault->ms)) {
    return false;
  }
  if (fault->kind == CONFORM_PLAN_CORRUPT && !get_xor(p, entry, fault)) return false;
  if (!parse_sim_arguments(p, entry, fault)) return false;
  struct conform_json_position at = conform_json_locate(p->json.text, p->json.length,
                                                        p->json.path, p->json.depth);
  fault->line = at.line;
  return true;
}

/* The list of faults at key of object (the plan file's "faults", a scenario's "plan"). */
static bool parse_list(struct parse *p, json_t *object, const char *key, bool required,
                       struct conform_plan *plan)
{
  json_t *faults = json_object_get(object, key);
  if (faults == NULL) {
    return required ? fail(p, "missing \"%s\" (a list, [] for none)", key) : true;
  }
  push_key(p, key);
  if (!json_is_array(faults)) return fail(p, "\"%s\" must be a list", key);
  if (json_array_size(faults) > CONFORM_PLAN_FAULTS_MAX) {
    return fail(p, "%zu faults, at most %u", json_array_size(faults), CONFORM_PLAN_FAULTS_MAX);
  }
  for (size_t i = 0; i < json_array_size(faults); i++) {
    push_index(p, i);
    if (!parse_fault(p, json_array_get(faults, i), &plan->faults[plan->fault_count])) {
      return false;
    }
    plan->fault_count++;
    pop(p);
  }
  pop(p);
  return true;
}

static bool parse_root(struct parse *p, json_t *root, struct conform_plan *plan)
{
  static const char *const keys[] = {"description", "faults", NULL};
  if (!json_is_object(root)) return fail(p, "a plan must be a JSON object");
  if (!check_keys(p, root, keys)) return false;
  if (!get_string(p, root, "description", plan->description, sizeof plan->description)) {
    return false;
  }
  if (!parse_list(p, root, "faults", true, plan)) return false;
  SIM_ASSERT(p->json.depth == 0);
  return true;
}

/* A scenario's "faults": {"plan", "swarm", "heal_ns", "liveness_ns", "buggify"}. */
static bool parse_scenario_faults(struct parse *p, json_t *faults, struct conform_plan *plan)
{
  static const char *const keys[] = {"plan", "swarm", "heal_ns", "liveness_ns", "buggify", NULL};
  push_key(p, "faults");
  if (!json_is_object(faults)) {
    return fail(p, "\"faults\" must be an object: {\"plan\": [...], \"swarm\": true, ...}");
  }
  if (!check_keys(p, faults, keys) || !parse_list(p, faults, "plan", false, plan) ||
      !get_bool(p, faults, "swarm", &plan->swarm) ||
      !get_bool(p, faults, "buggify", &plan->buggify)) {
    return false;
  }
  plan->has_heal = json_object_get(faults, "heal_ns") != NULL;
  plan->liveness_ns = CONFORM_PLAN_LIVENESS_NS_DEFAULT;
  if (!get_u64(p, faults, "heal_ns", 0, CONFORM_PLAN_NS_MAX, false, &plan->heal_ns) ||
      !get_u64(p, faults, "liveness_ns", 1, CONFORM_PLAN_NS_MAX, false, &plan->liveness_ns)) {
    return false;
  }
  pop(p);
  return true;
}

/* "regress": {"verdict", "oracle", "found"}: what a regression file expects (conform_shrink.h). */
static bool parse_regress(struct parse *p, json_t *regress, struct conform_plan_regress *out)
{
  static const char *const keys[] = {"verdict", "oracle", "found", NULL};
  static const char *const verdicts[] = {"PASS", "ORACLE-VIOLATION", "LIVENESS",
                                         "NONDETERMINISM", "CRASH", NULL};
  push_key(p, "regress");
  if (!json_is_object(regress)) return fail(p, "\"regress\" must be an object");
  uint32_t verdict = 0;
  if (!check_keys(p, regress, keys) || !get_choice(p, regress, "verdict", verdicts, true,
                                                   &verdict) ||
      !get_string(p, regress, "oracle", out->oracle, sizeof out->oracle) ||
      !get_string(p, regress, "found", out->found, sizeof out->found)) {
    return false;
  }
  snprintf(out->verdict, sizeof out->verdict, "%s", verdicts[verdict]);
  out->present = true;
  pop(p);
  return true;
}

bool conform_plan_parse_scenario(const char *text, size_t length, const char *name,
                                 json_t *root, struct conform_plan *plan, char *error,
                                 size_t error_bytes)
{
  SIM_ASSERT(text != NULL && root != NULL && plan != NULL && error_bytes > 0);
  memset(plan, 0, sizeof *plan);
  snprintf(plan->name, sizeof plan->name, "%s", name);
  plan->liveness_ns = CONFORM_PLAN_LIVENESS_NS_DEFAULT;
  struct parse p = {.json = {.text = text, .length = length, .name = name, .error = error,
                             .error_bytes = error_bytes},
                    .scenario = true};
  json_t *faults = json_object_get(root, "faults");
  json_t *regress = json_object_get(root, "regress");
  if (faults != NULL && !parse_scenario_faults(&p, faults, plan)) return false;
  if (regress != NULL && !parse_regress(&p, regress, &plan->regress)) return false;
  SIM_ASSERT(p.json.depth == 0);
  return true;
}

bool conform_plan_parse(const char *text, size_t length, const char *name,
                        struct conform_plan *plan, char *error, size_t error_bytes)
{
  SIM_ASSERT(text != NULL && plan != NULL && error_bytes > 0);
  memset(plan, 0, sizeof *plan);
  snprintf(plan->name, sizeof plan->name, "%s", name);
  struct parse p = {.json = {.text = text, .length = length, .name = name, .error = error,
                             .error_bytes = error_bytes}};
  json_t *root = conform_json_load(&p.json, CONFORM_PLAN_BYTES_MAX);
  if (root == NULL) return false;
  bool ok = parse_root(&p, root, plan);
  json_decref(root);
  return ok;
}

bool conform_plan_load(const char *path, struct conform_plan *plan, char *error,
                       size_t error_bytes)
{
  char *text = NULL;
  size_t length = 0;
  if (!conform_json_file_read(path, "plan", CONFORM_PLAN_BYTES_MAX, &text, &length, error,
                              error_bytes)) {
    return false;
  }
  bool ok = conform_plan_parse(text, length, path, plan, error, error_bytes);
  free(text);
  return ok;
}

/* ------------------------------------------------------------- transform */

size_t conform_plan_corrupt(const struct conform_plan_fault *fault, uint64_t offset,
                            uint8_t *bytes, size_t count)
{
  SIM_ASSERT(fault->kind == CONFORM_PLAN_CORRUPT);
  SIM_ASSERT(fault->xor_bytes > 0 && fault->xor_bytes <= CONFORM_PLAN_XOR_BYTES_MAX);
  uint64_t first = SIM_MAX(offset, fault->at_bytes);
  uint64_t end = SIM_MIN(offset + count, fault->at_bytes + fault->xor_bytes);
  if (first >= end) return 0;
  for (uint64_t at = first; at < end; at++) {
    bytes[at - offset] ^= fault->xor_mask[at - fault->at_bytes];
  }
  return (size_t)(end - first);
}

/* ---------------------------------------------------------------- output */

static void set_u64(json_t *object, const char *key, uint64_t value)
{
  json_object_set_new(object, key, json_integer((json_int_t)value));
}

static json_t *ratio_json(struct sim_ratio ratio)
{
  return json_pack("[II]", (json_int_t)ratio.numerator, (json_int_t)ratio.denominator);
}

static json_t *trigger_json(const struct conform_plan_fault *fault)
{
  switch (fault->trigger) {
  case CONFORM_PLAN_AT_BYTE: return json_pack("{sI}", "byte", (json_int_t)fault->at_bytes);
  case CONFORM_PLAN_AT_NS: return json_pack("{sI}", "ns", (json_int_t)fault->at_ns);
  case CONFORM_PLAN_AT_SECTIONS:
    return json_pack("{sI}", "sections", (json_int_t)fault->at_count);
  case CONFORM_PLAN_AT_PAGES: return json_pack("{sI}", "pages", (json_int_t)fault->at_count);
  case CONFORM_PLAN_AT_STATE: {
    json_t *at = json_pack("{ss}", "state", mig_state_name(fault->state));
    if (fault->side == MIG_SIDE_DEST) json_object_set_new(at, "side", json_string("destination"));
    if (fault->after_ns > 0) set_u64(at, "after_ns", fault->after_ns);
    return at;
  }
  case CONFORM_PLAN_AT_LOADED: return NULL;
  }
  return NULL;
}

static void link_knobs_json(json_t *entry, const struct link_faults *link)
{
  if (link->jitter_ns_max > 0) set_u64(entry, "jitter_ns", link->jitter_ns_max);
  if (link->loss.numerator > 0) json_object_set_new(entry, "loss", ratio_json(link->loss));
  if (link->burst_enter.numerator > 0) {
    json_t *burst = json_pack("{soso}", "enter", ratio_json(link->burst_enter), "exit",
                              ratio_json(link->burst_exit));
    if (link->burst_loss.denominator > 0) {
      json_object_set_new(burst, "loss", ratio_json(link->burst_loss));
    }
    json_object_set_new(entry, "burst", burst);
  }
  if (link->duplicate.numerator > 0) {
    json_object_set_new(entry, "duplicate", ratio_json(link->duplicate));
    set_u64(entry, "duplicate_delay_ns", link->duplicate_delay_ns_max);
  }
  if (link->reorder.numerator > 0) {
    json_object_set_new(entry, "reorder", ratio_json(link->reorder));
    set_u64(entry, "reorder_delay_ns", link->reorder_delay_ns_max);
  }
  if (link->corrupt.numerator > 0) json_object_set_new(entry, "corrupt", ratio_json(link->corrupt));
}

/* One simulated fault as the scenario writes it. */
static json_t *fault_json(const struct conform_plan_fault *fault)
{
  SIM_ASSERT(conform_plan_kind_simulated(fault->kind));
  json_t *entry = json_pack("{ss}", "kind", conform_plan_kind_name(fault->kind));
  if (fault->direction != CONFORM_PLAN_TO_DESTINATION) {
    json_object_set_new(entry, "direction",
                        json_string(conform_plan_direction_name(fault->direction)));
  }
  if (fault->kind == CONFORM_PLAN_MULTIFD_FAIL) {
    json_object_set_new(entry, "channel", json_integer(fault->channel_index));
  }
  json_t *at = trigger_json(fault);
  if (at != NULL) json_object_set_new(entry, "at", at);
  if (fault->duration_ns > 0) set_u64(entry, "duration_ns", fault->duration_ns);
  if (fault->kind == CONFORM_PLAN_LINK) link_knobs_json(entry, &fault->link);
  if (fault->kind == CONFORM_PLAN_BANDWIDTH) set_u64(entry, "bytes_per_s", fault->bytes_per_s);
  if (fault->kind == CONFORM_PLAN_DEST_SLOW_LOAD) set_u64(entry, "delay_ns", fault->delay_ns);
  return entry;
}

json_t *conform_plan_scenario_json(const struct conform_plan *plan)
{
  if (plan->fault_count == 0 && !plan->swarm && !plan->buggify && !plan->has_heal) return NULL;
  json_t *faults = json_object();
  json_t *list = json_array();
  for (uint32_t i = 0; i < plan->fault_count; i++) {
    json_array_append_new(list, fault_json(&plan->faults[i]));
  }
  json_object_set_new(faults, "plan", list);
  if (plan->swarm) json_object_set_new(faults, "swarm", json_true());
  if (plan->buggify) json_object_set_new(faults, "buggify", json_true());
  if (plan->has_heal) set_u64(faults, "heal_ns", plan->heal_ns);
  if (plan->liveness_ns != CONFORM_PLAN_LIVENESS_NS_DEFAULT) {
    set_u64(faults, "liveness_ns", plan->liveness_ns);
  }
  return faults;
}

/* " at ns 5", " at state active (destination) +5 ns", " at sections 3". */
static int trigger_describe(const struct conform_plan_fault *fault, char *out, size_t out_bytes)
{
  switch (fault->trigger) {
  case CONFORM_PLAN_AT_BYTE: return snprintf(out, out_bytes, " at byte %" PRIu64, fault->at_bytes);
  case CONFORM_PLAN_AT_NS: return snprintf(out, out_bytes, " at %" PRIu64 " ns", fault->at_ns);
  case CONFORM_PLAN_AT_SECTIONS:
    return snprintf(out, out_bytes, " after %" PRIu64 " sections", fault->at_count);
  case CONFORM_PLAN_AT_PAGES:
    return snprintf(out, out_bytes, " after %" PRIu64 " pages", fault->at_count);
  case CONFORM_PLAN_AT_STATE:
    return snprintf(out, out_bytes, " at %s %s +%" PRIu64 " ns",
                    fault->side == MIG_SIDE_SOURCE ? "source" : "destination",
                    mig_state_name(fault->state), fault->after_ns);
  case CONFORM_PLAN_AT_LOADED: return snprintf(out, out_bytes, " once loaded");
  }
  return 0;
}

/* The simulated kinds' one line. */
static void sim_describe(const struct conform_plan_fault *fault, char *out, size_t out_bytes)
{
  int used = snprintf(out, out_bytes, "%s", conform_plan_kind_name(fault->kind));
  size_t at = used > 0 ? SIM_MIN((size_t)used, out_bytes - 1) : 0;
  bool directed = fault->kind == CONFORM_PLAN_LINK || fault->kind == CONFORM_PLAN_PARTITION ||
                  fault->kind == CONFORM_PLAN_BANDWIDTH;
  if (directed) {
    used = snprintf(out + at, out_bytes - at, " %s", conform_plan_direction_name(fault->direction));
    at = SIM_MIN(at + (size_t)SIM_MAX(used, 0), out_bytes - 1);
  }
  if (fault->kind == CONFORM_PLAN_MULTIFD_FAIL) {
    used = snprintf(out + at, out_bytes - at, " channel %" PRIu32, fault->channel_index);
    at = SIM_MIN(at + (size_t)SIM_MAX(used, 0), out_bytes - 1);
  }
  used = trigger_describe(fault, out + at, out_bytes - at);
  at = SIM_MIN(at + (size_t)SIM_MAX(used, 0), out_bytes - 1);
  if (fault->kind == CONFORM_PLAN_BANDWIDTH) {
    used = snprintf(out + at, out_bytes - at, " to %" PRIu64 " B/s", fault->bytes_per_s);
    at = SIM_MIN(at + (size_t)SIM_MAX(used, 0), out_bytes - 1);
  }
  if (fault->kind == CONFORM_PLAN_DEST_SLOW_LOAD) {
    used = snprintf(out + at, out_bytes - at, " by %" PRIu64 " ns", fault->delay_ns);
    at = SIM_MIN(at + (size_t)SIM_MAX(used, 0), out_bytes - 1);
  }
  if (fault->duration_ns > 0) {
    snprintf(out + at, out_bytes - at, " for %" PRIu64 " ns", fault->duration_ns);
  }
}

void conform_plan_fault_describe(const struct conform_plan_fault *fault, char *out,
                                 size_t out_bytes)
{
  if (conform_plan_kind_simulated(fault->kind)) {
    sim_describe(fault, out, out_bytes);
    return;
  }
  int used = snprintf(out, out_bytes, "%s channel %" PRIu32 " %s at byte %" PRIu64,
                      conform_plan_kind_name(fault->kind), fault->channel_index,
                      conform_plan_direction_name(fault->direction), fault->at_bytes);
  size_t at = used > 0 ? SIM_MIN((size_t)used, out_bytes - 1) : 0;
  if (fault->kind == CONFORM_PLAN_DELAY) {
    snprintf(out + at, out_bytes - at, " for %" PRIu64 " ms", fault->ms);
  } else if (fault->kind == CONFORM_PLAN_STALL && fault->ms == 0) {
    snprintf(out + at, out_bytes - at, " for ever");
  } else if (fault->kind == CONFORM_PLAN_STALL) {
    snprintf(out + at, out_bytes - at, " until %" PRIu64 " ms", fault->ms);
  } else if (fault->kind == CONFORM_PLAN_CORRUPT) {
    snprintf(out + at, out_bytes - at, " xor %" PRIu32 " byte(s)", fault->xor_bytes);
  }
}
