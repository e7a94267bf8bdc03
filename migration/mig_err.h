/*
 * mig_err.h: migration errors.  Codes come from one X-macro list (STYLE R8);
 * a struct mig_error carries where the error happened: the byte offset in the
 * stream, the "section/field" path and the C source line (STYLE R9).
 */
#ifndef MIG_ERR_H
#define MIG_ERR_H

#include "sim_base.h"
#include "mig_limits.h"

#define MIG_ERR_MAP(X) \
  X(TRUNCATED, "stream ended early") \
  X(IO, "channel error") \
  X(BAD_MAGIC, "not a migration stream") \
  X(BAD_VERSION, "unsupported stream version") \
  X(NO_CONFIGURATION, "configuration section missing") \
  X(MACHINE_MISMATCH, "machine type differs") \
  X(BAD_SECTION_TYPE, "unknown section type") \
  X(UNKNOWN_SECTION, "unknown section or instance") \
  X(SECTION_VERSION, "section version out of range") \
  X(BAD_IDSTR, "bad section id string") \
  X(FOOTER, "section footer missing or mismatched") \
  X(TOO_LONG, "length exceeds its bound") \
  X(EQUAL_MISMATCH, "field differs from the destination's value") \
  X(BAD_VALUE, "field value out of range") \
  X(SUBSECTION, "unknown or malformed subsection") \
  X(HOOK, "device hook failed") \
  X(RAM_FLAGS, "unknown combination of RAM flags") \
  X(RAM_BLOCK, "unknown or mismatched RAM block") \
  X(RAM_OFFSET, "RAM offset outside the block") \
  X(RAM_ORDER, "RAM record out of order") \
  X(BAD_COMMAND, "unknown or malformed command") \
  X(VMDESC, "bad VM description trailer") \
  X(TRAILING, "bytes after the end of the stream") \
  X(CANCELLED, "load cancelled") \
  X(NOMEM, "allocation bound exceeded") \
  X(CONFIG_MISMATCH, "configuration differs from the destination's")

enum mig_err {
  MIG_OK = 0,
#define MIG_ERR_ENUM(name, message) MIG_ERR_##name,
  MIG_ERR_MAP(MIG_ERR_ENUM)
#undef MIG_ERR_ENUM
  MIG_ERR_COUNT
};

const char *mig_err_name(enum mig_err err);
const char *mig_err_message(enum mig_err err);

struct mig_error {
  enum mig_err code;              /* MIG_OK when no error */
  uint64_t offset;                /* stream byte offset where the bad item starts */
  char path[MIG_PATH_BYTES_MAX];  /* "section/field", e.g. "toydev/count" */
  char detail[128];               /* free text, e.g. "read 0x3 expected 0x2" */
  const char *policy;             /* the mig_policy field that made this a refusal, or NULL
                                     (mig_record.h); not part of the formatted text */
  const char *source_file;        /* reporting site */
  int source_line;
};

/* Formats "offset 0x…: section/field: message (detail)" into out. */
void mig_error_format(const struct mig_error *error, char *out, size_t out_bytes);
/*
 * Latches code at offset with a printf-style path into *error unless it
 * holds an error already (the first one wins), for error holders that are
 * not a reader (the multifd channels, the live sink).  Use MIG_ERROR_LATCH
 * so the C source line is recorded.
 */
void mig__error_latch(struct mig_error *error, enum mig_err code, uint64_t offset,
                      const char *file, int line, const char *detail, const char *path_format,
                      ...)
#ifdef __GNUC__
    __attribute__((format(printf, 7, 8)))
#endif
    ;
/* The same with a va_list (the reader's latch, mig__reader_fail, uses it). */
void mig__error_vlatch(struct mig_error *error, enum mig_err code, uint64_t offset,
                       const char *file, int line, const char *detail, const char *path_format,
                       va_list args);
#define MIG_ERROR_LATCH(error, code, offset, detail, ...) \
  mig__error_latch((error), (code), (offset), __FILE__, __LINE__, (detail), __VA_ARGS__)
/* path_format's text into path (bytes of room, NUL-terminated); the readers' annotations. */
void mig__error_vformat_path(char *path, size_t bytes, const char *path_format, va_list args);

#endif /* MIG_ERR_H */
