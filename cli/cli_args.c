/*
 * cli_args.c: the command line's option parser and number syntax
 * (cli_args.h has the rules; docs/cli.md the user's view).
 */
#include "sim_base.h"

#include "cli_args.h"
#include "conform_run.h"

#include <errno.h>
#include <sys/stat.h>

static char number_message[96];

/* Value of one digit in base (10 or 16), or -1. */
static int number_digit(char c, unsigned base)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (base == 16 && c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (base == 16 && c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The shift of a size suffix, or -1. */
static int number_suffix_shift(const char *text)
{
  static const char suffixes[] = "KMGT";
  if (text[0] == 0 || text[1] != 0) return -1;
  const char *at = strchr(suffixes, text[0]);
  return at != NULL ? 10 * (int)(at - suffixes + 1) : -1;
}

const char *cli_number_parse(const char *text, uint64_t min, uint64_t max, bool size_suffix,
                             uint64_t *out)
{
  unsigned base = 10;
  const char *at = text;
  if (at[0] == '0' && (at[1] == 'x' || at[1] == 'X')) {
    base = 16;
    at += 2;
  }
  uint64_t value = 0;
  const char *first = at;
  for (int digit; (digit = number_digit(*at, base)) >= 0; at++) {
    if (value > (UINT64_MAX - (uint64_t)digit) / base) return "too large";
    value = value * base + (uint64_t)digit;
  }
  if (at == first) return "not a number (decimal, or hex after 0x)";
  if (*at != 0) {
    int shift = size_suffix ? number_suffix_shift(at) : -1;
    if (shift < 0) {
      return size_suffix ? "not a number (digits, then optionally K, M, G or T)"
                         : "not a number (decimal, or hex after 0x)";
    }
    if (value > (UINT64_MAX >> shift)) return "too large";
    value <<= shift;
  }
  if (value < min) {
    snprintf(number_message, sizeof number_message, "below %" PRIu64, min);
    return number_message;
  }
  if (value > max) {
    snprintf(number_message, sizeof number_message, "above %" PRIu64, max);
    return number_message;
  }
  *out = value;
  return NULL;
}

static const struct cli_option *args_find(const struct cli_command *command, const char *arg,
                                          size_t name_bytes)
{
  for (uint32_t i = 0; i < command->option_count; i++) {
    const char *name = command->options[i].name;
    if (strlen(name) == name_bytes && strncmp(name, arg, name_bytes) == 0) {
      return &command->options[i];
    }
  }
  return NULL;
}

static int args_fail(const struct cli_command *command, const char *format, const char *a,
                     const char *b)
{
  fprintf(stderr, "migsim %s: ", command->name);
  fprintf(stderr, format, a, b);
  fprintf(stderr, "\n(migsim %s --help lists the options)\n", command->name);
  return CONFORM_BAD_INPUT;
}

static int args_choice(const struct cli_command *command, const struct cli_option *option,
                       const char *value)
{
  for (uint32_t i = 0; option->choices[i] != NULL; i++) {
    if (strcmp(option->choices[i], value) == 0) {
      *(uint32_t *)option->out = i;
      return 0;
    }
  }
  char names[256] = "";
  for (uint32_t i = 0; option->choices[i] != NULL; i++) {
    size_t used = strlen(names);
    snprintf(names + used, sizeof names - used, "%s%s", i > 0 ? ", " : "", option->choices[i]);
  }
  fprintf(stderr, "migsim %s: %s: '%s' is not one of %s\n", command->name, option->name, value,
          names);
  return CONFORM_BAD_INPUT;
}

/* Stores value (never NULL here) into option's output. */
static int args_store(const struct cli_command *command, const struct cli_option *option,
                      const char *value)
{
  switch (option->kind) {
  case CLI_OPTION_STRING:
    *(const char **)option->out = value;
    return 0;
  case CLI_OPTION_NUMBER:
  case CLI_OPTION_NUMBER_OPTIONAL: {
    uint64_t low = option->kind == CLI_OPTION_NUMBER ? option->min : 1;
    const char *why = cli_number_parse(value, low, option->max, option->size_suffix,
                                       (uint64_t *)option->out);
    if (why == NULL) return 0;
    fprintf(stderr, "migsim %s: %s: '%s' is %s\n", command->name, option->name, value, why);
    return CONFORM_BAD_INPUT;
  }
  case CLI_OPTION_CHOICE:
    return args_choice(command, option, value);
  case CLI_OPTION_LIST: {
    struct cli_list *list = option->out;
    SIM_ASSERT(option->max <= CLI_ARGS_LIST_MAX);
    if (list->count >= option->max) {
      char count[24];
      snprintf(count, sizeof count, "%" PRIu64, option->max);
      return args_fail(command, "%s: given more than %s times", option->name, count);
    }
    list->items[list->count++] = value;
    return 0;
  }
  case CLI_OPTION_FLAG:
    break;
  }
  SIM_ASSERT(false);
  return CONFORM_BAD_INPUT;
}

/* Handles argv[*index], an option; advances *index past its value. */
static int args_option(const struct cli_command *command, int argc, char **argv, int *index)
{
  const char *arg = argv[*index];
  const char *equals = strchr(arg, '=');
  size_t name_bytes = equals != NULL ? (size_t)(equals - arg) : strlen(arg);
  const struct cli_option *option = args_find(command, arg, name_bytes);
  if (option == NULL) return args_fail(command, "unknown option '%s'%s", arg, "");
  if (option->given != NULL) *option->given = true;
  if (option->kind == CLI_OPTION_FLAG) {
    if (equals != NULL) return args_fail(command, "%s takes no value%s", option->name, "");
    *(bool *)option->out = true;
    return 0;
  }
  if (equals != NULL) return args_store(command, option, equals + 1);
  bool has_next = *index + 1 < argc;
  if (option->kind == CLI_OPTION_NUMBER_OPTIONAL) {
    uint64_t ignored;
    if (has_next && cli_number_parse(argv[*index + 1], 0, UINT64_MAX, false, &ignored) == NULL) {
      return args_store(command, option, argv[++*index]);
    }
    *(uint64_t *)option->out = option->min;
    return 0;
  }
  if (!has_next) return args_fail(command, "%s wants a value%s", option->name, "");
  return args_store(command, option, argv[++*index]);
}

int cli_args_parse(const struct cli_command *command, int argc, char **argv,
                   struct cli_parsed *parsed)
{
  SIM_ASSERT(command->positional_max <= CLI_ARGS_POSITIONALS_MAX);
  memset(parsed, 0, sizeof *parsed);
  bool options_end = false;
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    bool is_option = !options_end && arg[0] == '-' && arg[1] != 0;
    if (is_option && (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)) {
      fputs(command->usage, stdout);
      parsed->help = true;
      return 0;
    } else if (is_option && strcmp(arg, "--") == 0) {
      options_end = true;
    } else if (is_option) {
      int rc = args_option(command, argc, argv, &i);
      if (rc != 0) return rc;
    } else if (parsed->positional_count < command->positional_max) {
      parsed->positionals[parsed->positional_count++] = arg;
    } else {
      return args_fail(command, "unexpected argument '%s'%s", arg, "");
    }
  }
  if (parsed->positional_count < command->positional_min) {
    fprintf(stderr, "migsim %s: missing argument\n%s", command->name, command->usage);
    return CONFORM_BAD_INPUT;
  }
  return 0;
}

const char *cli_output_check(const char *path)
{
  static char message[64];
  if (strcmp(path, "-") == 0) return NULL;
  if (path[0] == 0) return "empty path";
  struct stat status;
  if (stat(path, &status) == 0 && S_ISDIR(status.st_mode)) return "is a directory";
  const char *slash = strrchr(path, '/');
  if (slash == NULL) return NULL;
  char directory[4096];
  size_t bytes = slash == path ? 1 : (size_t)(slash - path);
  if (bytes >= sizeof directory) return "path too long";
  memcpy(directory, path, bytes);
  directory[bytes] = 0;
  if (stat(directory, &status) != 0) {
    if (errno == ENOENT) return "no such directory";
    snprintf(message, sizeof message, "its directory: %s", strerror(errno));
    return message;
  }
  if (!S_ISDIR(status.st_mode)) return "its directory is not a directory";
  return NULL;
}
