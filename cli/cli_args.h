/*
 * cli_args.h: the command line's one option parser and its one number syntax.
 *
 * Every subcommand describes its options as a table (struct cli_option) and
 * calls cli_args_parse, so all of them accept the same forms:
 * - long options only: `--name VALUE` or `--name=VALUE`; `--help`/`-h`
 *   prints the command's usage on stdout;
 * - positionals anywhere; `-` is a positional (stdin/stdout); `--` ends the
 *   options;
 * - numbers (cli_number_parse): decimal digits, or hexadecimal after `0x`;
 *   never octal (`010` is ten), no sign, no spaces, and where the option
 *   allows it a binary size suffix K, M, G or T (2^10 .. 2^40).
 *   Every number is checked against the option's minimum and maximum.
 * Errors are one line on stderr, `migsim CMD: --name: what is wrong`, and
 * the parse returns CONFORM_BAD_INPUT (exit 2, docs/cli.md).
 */
#ifndef CLI_ARGS_H
#define CLI_ARGS_H

#include "sim_base.h"

#define CLI_ARGS_POSITIONALS_MAX 4u
#define CLI_ARGS_LIST_MAX 64u          /* entries of one repeatable option */

enum cli_option_kind {
  CLI_OPTION_FLAG,           /* bool *: set to true */
  CLI_OPTION_STRING,         /* const char **: the value, as given */
  CLI_OPTION_NUMBER,         /* uint64_t *: the value, a number in [min, max] */
  CLI_OPTION_NUMBER_OPTIONAL, /* uint64_t *: as NUMBER, but the value may be left out:
                                then *out = min_default (see below) */
  CLI_OPTION_CHOICE,         /* uint32_t *: the index of the value in choices */
  CLI_OPTION_LIST,           /* struct cli_list *: repeatable string, at most max entries */
};

/* The values of a repeatable option, in command-line order. */
struct cli_list {
  const char *items[CLI_ARGS_LIST_MAX];
  uint32_t count;
};

struct cli_option {
  const char *name;                /* with the dashes: "--seed" */
  enum cli_option_kind kind;
  void *out;                       /* see enum cli_option_kind */
  uint64_t min;                    /* NUMBER: smallest value; NUMBER_OPTIONAL: the value
                                      when none is given (and the smallest accepted: 1) */
  uint64_t max;                    /* NUMBER: largest value; LIST: entries (<= LIST_MAX) */
  bool size_suffix;                /* NUMBER: K, M, G, T accepted */
  const char *const *choices;      /* CHOICE: NULL-terminated names */
  bool *given;                     /* may be NULL: set when the option appears */
};

/* What one subcommand accepts. */
struct cli_command {
  const char *name;                /* "run": messages say "migsim run: ..." */
  const char *usage;               /* printed by --help, and after a usage error */
  const struct cli_option *options;
  uint32_t option_count;
  uint32_t positional_min;         /* fewer: usage error */
  uint32_t positional_max;         /* <= CLI_ARGS_POSITIONALS_MAX; more: usage error */
};

/* What a parse returns besides the options it stored. */
struct cli_parsed {
  const char *positionals[CLI_ARGS_POSITIONALS_MAX];
  uint32_t positional_count;
  bool help;                       /* --help was given; usage is printed, exit 0 */
};

/*
 * Parses argv[0, argc) (the arguments after the subcommand's name) into the
 * options' outputs and parsed.  Returns 0 when the command should run (or,
 * with parsed->help, exit 0 at once), or CONFORM_BAD_INPUT after printing
 * the problem on stderr.
 */
int cli_args_parse(const struct cli_command *command, int argc, char **argv,
                   struct cli_parsed *parsed);

/*
 * The one number syntax (above).  Returns NULL and sets *out, or a short
 * message saying what is wrong ("not a number", "above 65535", ...) that
 * stays valid until the next call.
 */
const char *cli_number_parse(const char *text, uint64_t min, uint64_t max, bool size_suffix,
                             uint64_t *out);

/*
 * Checks before a run that path can be written: its directory exists and
 * path is not a directory.  "-" always can.  Returns NULL or a plain message
 * ("is a directory", "no such directory") valid until the next call.
 */
const char *cli_output_check(const char *path);

#endif /* CLI_ARGS_H */
