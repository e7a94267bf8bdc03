/*
 * cli_analyze.c: output side of `migsim inspect --format analyze`.  The
 * decoding is migration/mig_analyze.c; this file renders the JSON the way
 * Python's json module does for the script (indent=4, separators ',' and
 * ': ', ensure_ascii, print's newline) and maps errors to the CLI's exit
 * codes.
 */
#include "sim_base.h"

#include "cli_analyze.h"
#include "conform_run.h"
#include "mig_analyze.h"

#include <ctype.h>

/*
 * Python's ensure_ascii differs from jansson's JSON_ENSURE_ASCII in two ways:
 * it writes \u escapes with lower-case hex, and it escapes DEL (0x7f).  A
 * backslash only occurs inside strings in JSON text, and a raw 0x7f only
 * inside strings too, so a plain scan is enough.  Returns a new malloc'd text
 * with print()'s trailing newline, or NULL.
 */
static char *python_escapes(const char *body)
{
  size_t length = strlen(body), dels = 0;
  for (size_t i = 0; i < length; i++) dels += body[i] == 0x7f;
  char *text = malloc(length + 5 * dels + 2);
  if (text == NULL) return NULL;
  size_t out = 0;
  for (size_t i = 0; i < length; i++) {
    if (body[i] == 0x7f) {
      memcpy(text + out, "\\u007f", 6);
      out += 6;
      continue;
    }
    text[out++] = body[i];
    if (body[i] != '\\' || i + 1 >= length) continue;
    text[out++] = body[++i];  /* the escaped character */
    int digits = body[i] == 'u' ? 4 : 0;
    for (int digit = 0; digit < digits && i + 1 < length; digit++) {
      i++;
      text[out++] = (char)tolower((unsigned char)body[i]);
    }
  }
  text[out++] = '\n';  /* print() adds one newline */
  text[out] = '\0';
  return text;
}

char *cli_analyze_text(const json_t *root)
{
  SIM_ASSERT(root != NULL);
  char *body = json_dumps(root, JSON_INDENT(4) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
  if (body == NULL) return NULL;
  char *text = python_escapes(body);
  free(body);
  return text;
}

int cli_analyze_print(FILE *out, FILE *err, const uint8_t *bytes, size_t count,
                      const struct mig_inspect *inspect)
{
  SIM_ASSERT(out != NULL && err != NULL && inspect != NULL);
  json_t *root = NULL;
  struct mig_error error;
  if (mig_analyze_stream(bytes, count, inspect, &root, &error) != MIG_OK) {
    char message[MIG_PATH_BYTES_MAX + 512];
    mig_error_format(&error, message, sizeof message);
    fprintf(err, "%s\n", message);
    return CONFORM_BAD_INPUT;
  }
  char *text = cli_analyze_text(root);
  json_decref(root);
  if (text == NULL) {
    fprintf(err, "migsim inspect: out of memory rendering the analyze output\n");
    return CONFORM_BAD_INPUT;
  }
  fputs(text, out);
  free(text);
  return 0;
}
