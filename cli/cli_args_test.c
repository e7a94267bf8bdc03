/*
 * cli_args_test.c: the option parser and the one number syntax (cli_args.h).
 */
#include "sim_base.h"

#include "cli_args.h"
#include "conform_run.h"

#include <check.h>
#include <sys/stat.h>
#include <unistd.h>

/* Numbers: decimal, hex after 0x, never octal; suffixes only where allowed; bounds. */
START_TEST(cli_number_parse_syntax)
{
  uint64_t value = 0;
  ck_assert_ptr_null(cli_number_parse("010", 0, UINT64_MAX, false, &value));
  ck_assert_uint_eq(value, 10);
  ck_assert_ptr_null(cli_number_parse("0x10", 0, UINT64_MAX, false, &value));
  ck_assert_uint_eq(value, 16);
  ck_assert_ptr_null(cli_number_parse("0XfF", 0, UINT64_MAX, false, &value));
  ck_assert_uint_eq(value, 255);
  ck_assert_ptr_null(cli_number_parse("18446744073709551615", 0, UINT64_MAX, false, &value));
  ck_assert_uint_eq(value, UINT64_MAX);
  ck_assert_str_eq(cli_number_parse("18446744073709551616", 0, UINT64_MAX, false, &value),
                   "too large");
  ck_assert_ptr_nonnull(cli_number_parse("", 0, 10, false, &value));
  ck_assert_ptr_nonnull(cli_number_parse("-1", 0, 10, false, &value));
  ck_assert_ptr_nonnull(cli_number_parse("+1", 0, 10, false, &value));
  ck_assert_ptr_nonnull(cli_number_parse(" 1", 0, 10, false, &value));
  ck_assert_ptr_nonnull(cli_number_parse("0x", 0, 10, false, &value));
  ck_assert_ptr_nonnull(cli_number_parse("1.5", 0, 10, false, &value));
  ck_assert_ptr_nonnull(cli_number_parse("4K", 0, UINT64_MAX, false, &value));
  ck_assert_ptr_null(cli_number_parse("4K", 0, UINT64_MAX, true, &value));
  ck_assert_uint_eq(value, 4096);
  ck_assert_ptr_null(cli_number_parse("0x2G", 0, UINT64_MAX, true, &value));
  ck_assert_uint_eq(value, UINT64_C(2) << 30);
  ck_assert_ptr_nonnull(cli_number_parse("4KB", 0, UINT64_MAX, true, &value));
  ck_assert_str_eq(cli_number_parse("16777216T", 0, UINT64_MAX, true, &value), "too large");
  value = 77;
  ck_assert_str_eq(cli_number_parse("11", 0, 10, false, &value), "above 10");
  ck_assert_str_eq(cli_number_parse("2", 3, 10, false, &value), "below 3");
  ck_assert_uint_eq(value, 77); /* untouched on error */
}
END_TEST

struct sample {
  bool flag;
  const char *text;
  uint64_t number;
  uint64_t optional;
  uint32_t choice;
  struct cli_list list;
  bool number_given;
};

static const char *const sample_choices[] = {"none", "zlib", "zstd", NULL};

/* Parses argv (NULL-terminated) with a table over *out; returns cli_args_parse's code. */
static int sample_parse(struct sample *out, struct cli_parsed *parsed, char **argv)
{
  memset(out, 0, sizeof *out);
  const struct cli_option options[] = {
      {"--flag", CLI_OPTION_FLAG, &out->flag, 0, 0, false, NULL, NULL},
      {"--text", CLI_OPTION_STRING, &out->text, 0, 0, false, NULL, NULL},
      {"--number", CLI_OPTION_NUMBER, &out->number, 1, 1000, false, NULL, &out->number_given},
      {"--optional", CLI_OPTION_NUMBER_OPTIONAL, &out->optional, 97, 500, false, NULL, NULL},
      {"--choice", CLI_OPTION_CHOICE, &out->choice, 0, 0, false, sample_choices, NULL},
      {"--list", CLI_OPTION_LIST, &out->list, 0, 2, false, NULL, NULL},
  };
  const struct cli_command command = {"test", "usage: test\n", options,
                                      SIM_ARRAY_COUNT(options), 1, 2};
  int argc = 0;
  while (argv[argc] != NULL) argc++;
  return cli_args_parse(&command, argc, argv, parsed);
}

/* Every option kind, both value forms, positionals around options, and "-". */
START_TEST(cli_args_parse_forms)
{
  struct sample s;
  struct cli_parsed parsed;
  char *argv[] = {"in", "--flag", "--text", "a b", "--number=0x20", "--choice", "zstd",
                  "--list", "x", "--list=y", "--optional", "-", NULL};
  ck_assert_int_eq(sample_parse(&s, &parsed, argv), 0);
  ck_assert(s.flag && s.number_given && !parsed.help);
  ck_assert_str_eq(s.text, "a b");
  ck_assert_uint_eq(s.number, 32);
  ck_assert_uint_eq(s.choice, 2);
  ck_assert_uint_eq(s.list.count, 2);
  ck_assert_str_eq(s.list.items[1], "y");
  ck_assert_uint_eq(s.optional, 97); /* "-" is not a number: the default, and a positional */
  ck_assert_uint_eq(parsed.positional_count, 2);
  ck_assert_str_eq(parsed.positionals[0], "in");
  ck_assert_str_eq(parsed.positionals[1], "-");
  char *argv2[] = {"--optional", "12", "--", "--flag", NULL};
  ck_assert_int_eq(sample_parse(&s, &parsed, argv2), 0);
  ck_assert_uint_eq(s.optional, 12);
  ck_assert(!s.flag);
  ck_assert_str_eq(parsed.positionals[0], "--flag");
}
END_TEST

/* Each mistake is a usage error (exit 2): unknown option, missing value, bounds, counts. */
START_TEST(cli_args_parse_errors)
{
  struct sample s;
  struct cli_parsed parsed;
  char *unknown[] = {"in", "--nope", NULL};
  char *missing[] = {"in", "--text", NULL};
  char *bounds[] = {"in", "--number", "1001", NULL};
  char *octal[] = {"in", "--number", "0", NULL};
  char *choice[] = {"in", "--choice", "lz4", NULL};
  char *flag_value[] = {"in", "--flag=1", NULL};
  char *too_many[] = {"a", "b", "c", NULL};
  char *too_few[] = {"--flag", NULL};
  char *list_full[] = {"in", "--list", "1", "--list", "2", "--list", "3", NULL};
  char *optional_bound[] = {"in", "--optional", "501", NULL};
  char **cases[] = {unknown, missing, bounds, octal, choice, flag_value, too_many, too_few,
                    list_full, optional_bound};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(cases); i++) {
    ck_assert_msg(sample_parse(&s, &parsed, cases[i]) == CONFORM_BAD_INPUT, "case %zu", i);
  }
  char *help[] = {"--text", "x", "--help", "--nope", NULL};
  ck_assert_int_eq(sample_parse(&s, &parsed, help), 0);
  ck_assert(parsed.help);
}
END_TEST

/* Output paths are checked before a run: a directory, a missing directory, fine paths. */
START_TEST(cli_output_check_paths)
{
  char dir[] = "/tmp/cli_args_test.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[128];
  ck_assert_str_eq(cli_output_check(dir), "is a directory");
  snprintf(path, sizeof path, "%s/missing/out.json", dir);
  ck_assert_str_eq(cli_output_check(path), "no such directory");
  snprintf(path, sizeof path, "%s/out.json", dir);
  ck_assert_ptr_null(cli_output_check(path));
  ck_assert_ptr_null(cli_output_check("-"));
  ck_assert_ptr_null(cli_output_check("relative.json"));
  ck_assert_str_eq(cli_output_check(""), "empty path");
  rmdir(dir);
}
END_TEST

Suite *cli_args_suite(void)
{
  Suite *suite = suite_create("cli_args");
  TCase *core = tcase_create("core");
  tcase_add_test(core, cli_number_parse_syntax);
  tcase_add_test(core, cli_args_parse_forms);
  tcase_add_test(core, cli_args_parse_errors);
  tcase_add_test(core, cli_output_check_paths);
  suite_add_tcase(suite, core);
  return suite;
}
