/*
 * conform_plan_test.c: fault plans (conform_plan.h): every kind parsed into
 * its fields, errors located with file:line:col and a caret (exact text),
 * and the corrupt transform independent of how the stream is chunked.
 */
#include "sim_base.h"

#include "conform_plan.h"
#include "sim_check.h"

#include <jansson.h>

static const char every_kind[] =
    "{\n"
    "  \"description\": \"one of each\",\n"
    "  \"faults\": [\n"
    "    {\"kind\": \"delay\", \"at\": {\"byte\": 10}, \"ms\": 250},\n"
    "    {\"kind\": \"stall\", \"channel\": 2, \"direction\": \"to-source\",\n"
    "     \"at\": {\"byte\": 0}, \"until_ms\": 900},\n"
    "    {\"kind\": \"stall\", \"at\": {\"byte\": 7}, \"note\": \"for ever\"},\n"
    "    {\"kind\": \"reset\", \"channel\": \"main\", \"at\": {\"byte\": 1048576}},\n"
    "    {\"kind\": \"truncate\", \"channel\": 16, \"at\": {\"byte\": 1125899906842624}},\n"
    "    {\"kind\": \"corrupt\", \"at\": {\"byte\": 5}, \"xor\": \"ff00A5\"},\n"
    "    {\"kind\": \"drop\", \"channel\": 1, \"at\": {\"byte\": 64}}\n"
    "  ]\n"
    "}\n";

static bool parse_text(const char *text, struct conform_plan *plan, char *error,
                       size_t error_bytes)
{
  return conform_plan_parse(text, strlen(text), "p.json", plan, error, error_bytes);
}

/* Every kind and key lands in its field; defaults are main and to-destination. */
START_TEST(conform_plan_parse_every_kind)
{
  struct conform_plan plan;
  char error[1024];
  ck_assert_msg(parse_text(every_kind, &plan, error, sizeof error), "%s", error);
  ck_assert_str_eq(plan.description, "one of each");
  ck_assert_uint_eq(plan.fault_count, 7);
  const struct conform_plan_fault *f = plan.faults;
  ck_assert(f[0].kind == CONFORM_PLAN_DELAY && f[0].at_bytes == 10 && f[0].ms == 250);
  ck_assert(f[0].channel_index == 0 && f[0].direction == CONFORM_PLAN_TO_DESTINATION);
  ck_assert_uint_eq(f[0].line, 4);
  ck_assert(f[1].kind == CONFORM_PLAN_STALL && f[1].channel_index == 2 && f[1].ms == 900);
  ck_assert(f[1].direction == CONFORM_PLAN_TO_SOURCE);
  ck_assert(f[2].kind == CONFORM_PLAN_STALL && f[2].ms == 0 && f[2].at_bytes == 7);
  ck_assert(f[3].kind == CONFORM_PLAN_RESET && f[3].at_bytes == 1048576);
  ck_assert(f[4].kind == CONFORM_PLAN_TRUNCATE && f[4].channel_index == 16);
  ck_assert(f[4].at_bytes == CONFORM_PLAN_AT_BYTES_MAX);
  ck_assert(f[5].kind == CONFORM_PLAN_CORRUPT && f[5].xor_bytes == 3);
  ck_assert(f[5].xor_mask[0] == 0xff && f[5].xor_mask[1] == 0 && f[5].xor_mask[2] == 0xa5);
  ck_assert(f[6].kind == CONFORM_PLAN_DROP && f[6].channel_index == 1);
  char line[128];
  conform_plan_fault_describe(&f[1], line, sizeof line);
  ck_assert_str_eq(line, "stall channel 2 to-source at byte 0 until 900 ms");
  conform_plan_fault_describe(&f[5], line, sizeof line);
  ck_assert_str_eq(line, "corrupt channel 0 to-destination at byte 5 xor 3 byte(s)");
  ck_assert(parse_text("{\"faults\": []}", &plan, error, sizeof error));
  ck_assert_uint_eq(plan.fault_count, 0);
}
END_TEST

static const struct {
  const char *text;
  const char *error;
} bad_plans[] = {
    {"{\"faults\": [\n  {\"kind\": \"reset\", \"at\": {\"byte\": 1}, \"ms\": 5}\n]}",
     "p.json:2:46: unknown key \"ms\"\n"
     "    {\"kind\": \"reset\", \"at\": {\"byte\": 1}, \"ms\": 5}\n"
     "                                               ^"},
    {"{\"faults\": [{\"kind\": \"explode\", \"at\": {\"byte\": 1}}]}",
     "p.json:1:22: \"kind\" must be one of \"delay\", \"stall\", \"reset\", \"truncate\", "
     "\"corrupt\", \"drop\"\n"
     "  {\"faults\": [{\"kind\": \"explode\", \"at\": {\"byte\": 1}}]}\n"
     "                       ^"},
    {"{\"faults\": [{\"kind\": \"reset\", \"at\": {\"record\": {\"ram_page\": 3}}}]}",
     "p.json:1:48: record triggers are not implemented yet (they wait for the record layer); "
     "use {\"byte\": N}\n"
     "  {\"faults\": [{\"kind\": \"reset\", \"at\": {\"record\": {\"ram_page\": 3}}}]}\n"
     "                                                 ^"},
    {"{\"faults\": [{\"kind\": \"drop\", \"channel\": 17, \"at\": {\"byte\": 1}}]}",
     "p.json:1:41: \"channel\" is 17, outside 0..16\n"
     "  {\"faults\": [{\"kind\": \"drop\", \"channel\": 17, \"at\": {\"byte\": 1}}]}\n"
     "                                          ^"},
    {"{\"faults\": [{\"kind\": \"corrupt\", \"at\": {\"byte\": 1}, \"xor\": \"0000\"}]}",
     "p.json:1:59: \"xor\" is all zeros: it would change nothing\n"
     "  {\"faults\": [{\"kind\": \"corrupt\", \"at\": {\"byte\": 1}, \"xor\": \"0000\"}]}\n"
     "                                                            ^"},
    {"{\"faults\": [{\"kind\": \"corrupt\", \"at\": {\"byte\": 1}, \"xor\": \"fg\"}]}",
     "p.json:1:59: \"xor\": 'fg' is not a hex byte\n"
     "  {\"faults\": [{\"kind\": \"corrupt\", \"at\": {\"byte\": 1}, \"xor\": \"fg\"}]}\n"
     "                                                            ^"},
    {"{\"faults\": [{\"kind\": \"delay\", \"at\": {\"byte\": 1}}]}",
     "p.json:1:13: missing \"ms\"\n"
     "  {\"faults\": [{\"kind\": \"delay\", \"at\": {\"byte\": 1}}]}\n"
     "              ^"},
    {"{\"faults\": [{\"kind\": \"reset\"}]}",
     "p.json:1:13: missing \"at\" (the trigger: {\"byte\": N})\n"
     "  {\"faults\": [{\"kind\": \"reset\"}]}\n"
     "              ^"},
    {"{\"faults\": [{\"kind\": \"reset\", \"at\": {\"byte\": -1}}]}",
     "p.json:1:46: \"byte\" must be a non-negative integer\n"
     "  {\"faults\": [{\"kind\": \"reset\", \"at\": {\"byte\": -1}}]}\n"
     "                                               ^"},
    {"{\"description\": \"x\"}",
     "p.json:1:1: missing \"faults\" (a list, [] for none)\n"
     "  {\"description\": \"x\"}\n"
     "  ^"},
    {"{\"faults\": [}",
     "p.json:1:13: unexpected token near '}'\n"
     "  {\"faults\": [}\n"
     "              ^"},
    {"\xef\xbb\xbf{\"faults\": []}",
     "p.json:1:1: the file starts with a UTF-8 BOM (byte-order mark); save it as UTF-8 "
     "without one\n"
     "  \xef\xbb\xbf{\"faults\": []}\n"
     "  ^"},
};

/* Each bad plan gives its exact message, located at the offending value. */
START_TEST(conform_plan_parse_errors)
{
  for (size_t i = 0; i < SIM_ARRAY_COUNT(bad_plans); i++) {
    struct conform_plan plan;
    char error[1024];
    ck_assert_msg(!parse_text(bad_plans[i].text, &plan, error, sizeof error), "case %zu", i);
    ck_assert_msg(strcmp(error, bad_plans[i].error) == 0, "case %zu:\n%s\nwanted:\n%s", i,
                  error, bad_plans[i].error);
  }
}
END_TEST

/* XOR applied chunk by chunk, at every split point, equals XOR applied at once. */
START_TEST(conform_plan_corrupt_any_chunking)
{
  struct conform_plan plan;
  char error[1024];
  ck_assert_msg(parse_text("{\"faults\": [{\"kind\": \"corrupt\", \"at\": {\"byte\": 30},"
                           " \"xor\": \"0102030405060708\"}]}", &plan, error, sizeof error),
                "%s", error);
  uint8_t whole[64], split[64];
  for (size_t i = 0; i < sizeof whole; i++) whole[i] = (uint8_t)(i * 7);
  ck_assert_uint_eq(conform_plan_corrupt(&plan.faults[0], 0, whole, sizeof whole), 8);
  ck_assert_uint_eq(whole[29], (uint8_t)(29 * 7));
  ck_assert_uint_eq(whole[30], (uint8_t)(30 * 7) ^ 1);
  ck_assert_uint_eq(whole[37], (uint8_t)(37 * 7) ^ 8);
  ck_assert_uint_eq(whole[38], (uint8_t)(38 * 7));
  for (size_t cut = 0; cut <= sizeof split; cut++) {
    for (size_t i = 0; i < sizeof split; i++) split[i] = (uint8_t)(i * 7);
    size_t changed = conform_plan_corrupt(&plan.faults[0], 0, split, cut);
    changed += conform_plan_corrupt(&plan.faults[0], cut, split + cut, sizeof split - cut);
    ck_assert_uint_eq(changed, 8);
    ck_assert_msg(memcmp(whole, split, sizeof whole) == 0, "cut at %zu", cut);
  }
  ck_assert_uint_eq(conform_plan_corrupt(&plan.faults[0], 38, split, 10), 0);
}
END_TEST

/* Loading: a directory and a missing file are plain messages, no crash. */
START_TEST(conform_plan_load_errors)
{
  struct conform_plan plan;
  char error[1024];
  ck_assert(!conform_plan_load("/", &plan, error, sizeof error));
  ck_assert_str_eq(error, "/: is a directory, not a plan file");
  ck_assert(!conform_plan_load("/nonexistent/plan.json", &plan, error, sizeof error));
  ck_assert_str_eq(error, "/nonexistent/plan.json: No such file or directory");
}
END_TEST

/* A scenario's "faults" object with the given members, in a root object. */
static bool parse_scenario_faults(const char *faults, struct conform_plan *plan, char *error,
                                  size_t error_bytes)
{
  static char text[4096];
  snprintf(text, sizeof text, "{\"faults\": %s}", faults);
  json_error_t json_error;
  json_t *root = json_loads(text, 0, &json_error);
  ck_assert_ptr_nonnull(root);
  bool ok = conform_plan_parse_scenario(text, strlen(text), "s.json", root, plan, error,
                                        error_bytes);
  json_decref(root);
  return ok;
}

START_TEST(conform_plan_scenario_every_kind_and_trigger)
{
  /* Goal: each simulated kind and trigger form lands in its fields; defaults apply. */
  static const char faults[] =
      "{\"plan\": [\n"
      " {\"kind\": \"link\", \"direction\": \"both\", \"at\": {\"ns\": 5}, \"loss\": [1, 100],\n"
      "  \"burst\": {\"enter\": [1, 50], \"exit\": [1, 4], \"loss\": [1, 1]}, \"reorder\": [1, 9]},\n"
      " {\"kind\": \"partition\", \"at\": {\"state\": \"postcopy-active\", \"after_ns\": 5000000},\n"
      "  \"duration_ns\": 7},\n"
      " {\"kind\": \"bandwidth\", \"at\": {\"sections\": 3}, \"bytes_per_s\": 1000},\n"
      " {\"kind\": \"source-crash\", \"at\": {\"pages\": 40}},\n"
      " {\"kind\": \"dest-crash\", \"at\": {\"state\": \"active\", \"side\": \"destination\"}},\n"
      " {\"kind\": \"dest-slow-load\", \"at\": {\"ns\": 1}, \"delay_ns\": 9},\n"
      " {\"kind\": \"rp-loss\", \"at\": {\"ns\": 2}},\n"
      " {\"kind\": \"multifd-channel-fail\", \"channel\": 3, \"at\": {\"ns\": 3}},\n"
      " {\"kind\": \"cancel\", \"at\": {\"state\": \"device\"}},\n"
      " {\"kind\": \"disk-full\", \"at\": {\"ns\": 4}},\n"
      " {\"kind\": \"revert\"}],\n"
      " \"heal_ns\": 100, \"liveness_ns\": 200, \"buggify\": true}";
  static struct conform_plan plan;
  char error[1024];
  ck_assert_msg(parse_scenario_faults(faults, &plan, error, sizeof error), "%s", error);
  ck_assert_uint_eq(plan.fault_count, 11);
  const struct conform_plan_fault *f = plan.faults;
  ck_assert(f[0].kind == CONFORM_PLAN_LINK && f[0].direction == CONFORM_PLAN_BOTH);
  ck_assert(f[0].trigger == CONFORM_PLAN_AT_NS && f[0].at_ns == 5);
  ck_assert(f[0].link.loss.numerator == 1 && f[0].link.loss.denominator == 100);
  ck_assert(f[0].link.burst_exit.denominator == 4 && f[0].link.reorder_delay_ns_max > 0);
  ck_assert(f[1].trigger == CONFORM_PLAN_AT_STATE && f[1].state == MIG_STATE_POSTCOPY_ACTIVE);
  ck_assert(f[1].side == MIG_SIDE_SOURCE && f[1].after_ns == 5000000 && f[1].duration_ns == 7);
  ck_assert(f[2].trigger == CONFORM_PLAN_AT_SECTIONS && f[2].at_count == 3);
  ck_assert(f[2].bytes_per_s == 1000);
  ck_assert(f[3].trigger == CONFORM_PLAN_AT_PAGES && f[3].at_count == 40);
  ck_assert(f[4].side == MIG_SIDE_DEST && f[4].state == MIG_STATE_ACTIVE);
  ck_assert(f[5].delay_ns == 9 && f[7].channel_index == 3);
  ck_assert(f[10].kind == CONFORM_PLAN_REVERT && f[10].trigger == CONFORM_PLAN_AT_LOADED);
  ck_assert(plan.has_heal && plan.heal_ns == 100 && plan.liveness_ns == 200 && plan.buggify);
  char line[256];
  conform_plan_fault_describe(&f[1], line, sizeof line);
  ck_assert_str_eq(line, "partition to-destination at source postcopy-active +5000000 ns "
                         "for 7 ns");
}
END_TEST

static const struct {
  const char *faults;
  const char *error;
} bad_scenario_faults[] = {
    {"{\"plan\": [{\"kind\": \"reset\", \"at\": {\"ns\": 1}}]}",
     "s.json:1:31: \"reset\" is a migsim proxy fault (byte offsets on real sockets); a "
     "scenario takes simulated kinds (docs/faults.md)"},
    {"{\"plan\": [{\"kind\": \"cancel\", \"at\": {\"byte\": 1}}]}",
     "s.json:1:56: unknown key \"byte\""},
    {"{\"plan\": [{\"kind\": \"cancel\", \"at\": {\"ns\": 1, \"pages\": 2}}]}",
     "s.json:1:47: \"at\" takes exactly one of \"ns\", \"state\", \"sections\", \"pages\""},
    {"{\"plan\": [{\"kind\": \"cancel\", \"at\": {\"ns\": 1, \"after_ns\": 2}}]}",
     "s.json:1:47: \"side\" and \"after_ns\" go with \"state\""},
    {"{\"plan\": [{\"kind\": \"link\", \"at\": {\"ns\": 1}}]}",
     "s.json:1:22: a link fault needs one of \"jitter_ns\", \"loss\", \"burst\", "
     "\"duplicate\", \"reorder\", \"corrupt\""},
    {"{\"plan\": [{\"kind\": \"link\", \"at\": {\"ns\": 1}, \"loss\": [3, 2]}]}",
     "s.json:1:64: \"loss\" must be a ratio [numerator, denominator], 0 <= numerator <= "
     "denominator, denominator > 0"},
    {"{\"swarm\": 1}", "s.json:1:22: \"swarm\" must be true or false"},
};

START_TEST(conform_plan_scenario_errors)
{
  /* Goal: scenario fault errors name the place with file:line:col (first line of the text). */
  static struct conform_plan plan;
  char error[1024];
  ck_assert(!parse_scenario_faults(bad_scenario_faults[_i].faults, &plan, error, sizeof error));
  char *newline = strchr(error, '\n');
  if (newline != NULL) *newline = 0;
  ck_assert_str_eq(error, bad_scenario_faults[_i].error);
}
END_TEST

START_TEST(conform_plan_proxy_refuses_simulated_kinds)
{
  /* Goal: a plan file refuses a simulated kind by name (and offers only the proxy's). */
  struct conform_plan plan;
  char error[1024];
  ck_assert(!parse_text("{\"faults\": [{\"kind\": \"link\", \"at\": {\"byte\": 1}}]}", &plan,
                        error, sizeof error));
  ck_assert_ptr_nonnull(strstr(error, "\"link\" is a simulated fault: put it in a scenario's "
                                      "\"faults\""));
}
END_TEST

Suite *conform_plan_suite(void)
{
  Suite *suite = suite_create("conform_plan");
  TCase *core = tcase_create("core");
  tcase_add_test(core, conform_plan_parse_every_kind);
  tcase_add_test(core, conform_plan_parse_errors);
  tcase_add_test(core, conform_plan_corrupt_any_chunking);
  tcase_add_test(core, conform_plan_load_errors);
  tcase_add_test(core, conform_plan_scenario_every_kind_and_trigger);
  tcase_add_loop_test(core, conform_plan_scenario_errors, 0,
                      (int)SIM_ARRAY_COUNT(bad_scenario_faults));
  tcase_add_test(core, conform_plan_proxy_refuses_simulated_kinds);
  suite_add_tcase(suite, core);
  return suite;
}
