/*
 * conform_analyze.c: output side of `migsim inspect --format analyze`.  The
 * decoding is migration/mig_analyze.c; this file renders the JSON the way
 * Python's json module does for the script (indent=4, separators ',' and
 * ': ', ensure_ascii) and maps errors to the CLI's exit codes.
 */
#include "sim_base.h"

#include "conform_analyze.h"
#include "conform_run.h"
#include "mig_analyze.h"

char *conform_analyze_text(const json_t *root)
{
  SIM_ASSERT(root != NULL);
  char *body = json_dumps(root, JSON_INDENT(4) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
  if (body == NULL) return NULL;
  size_t length = strlen(body);
  char *text = realloc(body, length + 2);
  if (text == NULL) {
    free(body);
    return NULL;
  }
  text[length] = '\n';  /* print() adds one newline */
  text[length + 1] = '\0';
  return text;
}

int conform_analyze_print(FILE *out, FILE *err, const uint8_t *bytes, size_t count,
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
  char *text = conform_analyze_text(root);
  json_decref(root);
  if (text == NULL) {
    fprintf(err, "migsim inspect: out of memory rendering the analyze output\n");
    return CONFORM_BAD_INPUT;
  }
  fputs(text, out);
  free(text);
  return 0;
}
