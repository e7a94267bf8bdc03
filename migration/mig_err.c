/*
 * mig_err.c: names and messages of the migration error codes, and the one
 * formatter every report uses.  Both tables are generated from MIG_ERR_MAP in
 * mig_err.h (STYLE R8), so a new code cannot be added without its text.  The
 * formatted form "offset 0x1f: toydev/count: message (detail)" puts the stream
 * offset first because it is what a reader of a hex dump looks for (R9).
 */
#include "sim_base.h"

#include "mig_err.h"

static const char *const mig_err_names[MIG_ERR_COUNT] = {
  [MIG_OK] = "OK",
#define MIG_ERR_NAME(name, message) [MIG_ERR_##name] = #name,
  MIG_ERR_MAP(MIG_ERR_NAME)
#undef MIG_ERR_NAME
};

static const char *const mig_err_messages[MIG_ERR_COUNT] = {
  [MIG_OK] = "no error",
#define MIG_ERR_MESSAGE(name, message) [MIG_ERR_##name] = message,
  MIG_ERR_MAP(MIG_ERR_MESSAGE)
#undef MIG_ERR_MESSAGE
};

const char *mig_err_name(enum mig_err err)
{
  if ((unsigned)err >= (unsigned)MIG_ERR_COUNT) return "UNKNOWN";
  SIM_ASSERT(mig_err_names[err] != NULL);
  return mig_err_names[err];
}

const char *mig_err_message(enum mig_err err)
{
  if ((unsigned)err >= (unsigned)MIG_ERR_COUNT) return "unknown error";
  SIM_ASSERT(mig_err_messages[err] != NULL);
  return mig_err_messages[err];
}

/*
 * The path and the detail are optional: an empty string leaves out its part,
 * so a bare stream truncation reads "offset 0x10: stream ended early".
 * The output is always NUL-terminated; too long a text is cut at out_bytes.
 */
void mig_error_format(const struct mig_error *error, char *out, size_t out_bytes)
{
  SIM_ASSERT(error != NULL);
  SIM_ASSERT(out != NULL && out_bytes > 0);
  if (error->code == MIG_OK) {
    snprintf(out, out_bytes, "no error");
    return;
  }
  const char *separator = error->path[0] != '\0' ? ": " : "";
  const char *open = error->detail[0] != '\0' ? " (" : "";
  const char *close = error->detail[0] != '\0' ? ")" : "";
  snprintf(out, out_bytes, "offset 0x%" PRIx64 ": %s%s%s%s%s%s", error->offset,
           error->path, separator, mig_err_message(error->code), open, error->detail, close);
}

/* src into dst (bytes of room), cut to fit and NUL-terminated. */
static void copy_text(char *dst, size_t bytes, const char *src)
{
  size_t count = strnlen(src, bytes - 1);
  memcpy(dst, src, count);
  dst[count] = '\0';
}

/*
 * A refusal is the common end of a hostile input, so latching one is on the
 * fuzzers' hot path: a path without conversions is copied, not formatted,
 * and only the fields are written, not the whole struct.
 */
void mig__error_vformat_path(char *path, size_t bytes, const char *path_format, va_list args)
{
  SIM_ASSERT(path != NULL && bytes > 0 && path_format != NULL);
  if (strchr(path_format, '%') == NULL) {
    copy_text(path, bytes, path_format);
  } else {
    vsnprintf(path, bytes, path_format, args);
  }
}

void mig__error_vlatch(struct mig_error *error, enum mig_err code, uint64_t offset,
                       const char *file, int line, const char *detail, const char *path_format,
                       va_list args)
{
  SIM_ASSERT(error != NULL && path_format != NULL);
  SIM_ASSERT(code != MIG_OK && (unsigned)code < (unsigned)MIG_ERR_COUNT);
  if (error->code != MIG_OK) return;
  error->code = code;
  error->offset = offset;
  error->policy = NULL;
  error->source_file = file;
  error->source_line = line;
  copy_text(error->detail, sizeof error->detail, detail != NULL ? detail : "");
  mig__error_vformat_path(error->path, sizeof error->path, path_format, args);
}

void mig__error_latch(struct mig_error *error, enum mig_err code, uint64_t offset,
                      const char *file, int line, const char *detail, const char *path_format,
                      ...)
{
  va_list args;
  va_start(args, path_format);
  mig__error_vlatch(error, code, offset, file, line, detail, path_format, args);
  va_end(args);
}
