/*
 * conform_plan.h: fault plans, a JSON list of faults that fire at points of
 * a migration's byte streams (docs/proxy.md has the language).
 *
 * A plan is data: which connection (channel index in connection order, 0 is
 * the main channel), which direction (to-destination: the migration stream;
 * to-source: the return path), a trigger, and a kind with its arguments.
 * Today's trigger is a byte offset in that direction's stream; the language
 * keeps `"at"` an object so that record triggers ("the Nth RAM page", "the
 * FULL section of idstr X") can join it once the record layer can parse a
 * stream as it passes (docs/proxy.md, "Next step").
 *
 * `migsim proxy` (cli/cli_proxy.h) applies plans to real sockets; simulated
 * fault plans in scenarios are meant to reuse this parser.  The one byte
 * transform a plan makes, corrupt, is conform_plan_corrupt here, so that the
 * bytes a plan forwards are a pure function of the bytes received and the
 * plan, wherever it runs.
 *
 * Errors read `file:line:col: message`, the line, and a caret (STYLE R9),
 * as scenario errors do; unknown keys are errors.
 */
#ifndef CONFORM_PLAN_H
#define CONFORM_PLAN_H

#include "sim_base.h"

#define CONFORM_PLAN_FAULTS_MAX 32u
#define CONFORM_PLAN_XOR_BYTES_MAX 64u       /* corrupt: mask length */
#define CONFORM_PLAN_CHANNELS_MAX 17u        /* main + 16 multifd channels */
#define CONFORM_PLAN_MS_MAX UINT64_C(3600000) /* delay and stall: one hour */
#define CONFORM_PLAN_AT_BYTES_MAX (UINT64_C(1) << 50)
#define CONFORM_PLAN_BYTES_MAX (UINT32_C(1) << 20)  /* plan file */

/* X-macro: (constant suffix, name in the plan). */
#define CONFORM_PLAN_KINDS(X) \
  X(DELAY, "delay")           /* hold the direction for ms, then go on */ \
  X(STALL, "stall")           /* stop the direction until until_ms, or for ever */ \
  X(RESET, "reset")           /* RST every connection of the session, both sides */ \
  X(TRUNCATE, "truncate")     /* FIN to the receiver; later bytes are read and dropped */ \
  X(CORRUPT, "corrupt")       /* XOR a mask into the bytes from the trigger on */ \
  X(DROP, "drop")             /* RST this one connection, both sides */

enum conform_plan_kind {
#define CONFORM_PLAN_KIND_ENUM(name, text) CONFORM_PLAN_##name,
  CONFORM_PLAN_KINDS(CONFORM_PLAN_KIND_ENUM)
#undef CONFORM_PLAN_KIND_ENUM
  CONFORM_PLAN_KIND_COUNT
};

enum conform_plan_direction {
  CONFORM_PLAN_TO_DESTINATION = 0,   /* source -> destination: the migration stream */
  CONFORM_PLAN_TO_SOURCE = 1,        /* destination -> source: the return path */
};

enum conform_plan_trigger {
  CONFORM_PLAN_AT_BYTE,              /* at_bytes bytes of the direction have passed */
};

struct conform_plan_fault {
  enum conform_plan_kind kind;
  uint32_t channel_index;            /* connection order in a session; 0 is main */
  enum conform_plan_direction direction;
  enum conform_plan_trigger trigger;
  uint64_t at_bytes;                 /* AT_BYTE: stream offset; corrupt: first byte changed */
  uint64_t ms;                       /* delay: hold time; stall: until this long after the
                                        session's first connection, 0 for ever */
  uint32_t xor_bytes;                /* corrupt: 1..XOR_BYTES_MAX; else 0 */
  uint8_t xor_mask[CONFORM_PLAN_XOR_BYTES_MAX];  /* corrupt: XORed into bytes at_bytes.. */
  uint32_t line;                     /* where the fault starts in the plan file */
};

struct conform_plan {
  char name[256];                    /* file path, or what the caller named the text */
  char description[256];             /* optional one line */
  uint32_t fault_count;
  struct conform_plan_fault faults[CONFORM_PLAN_FAULTS_MAX];  /* in file order */
};

/* "delay", "stall", ... */
const char *conform_plan_kind_name(enum conform_plan_kind kind);
/* "to-destination" or "to-source". */
const char *conform_plan_direction_name(enum conform_plan_direction direction);

/* Parses text; on failure returns false with `name:line:col: message` in error. */
bool conform_plan_parse(const char *text, size_t length, const char *name,
                        struct conform_plan *plan, char *error, size_t error_bytes);
/* Reads and parses a file of at most CONFORM_PLAN_BYTES_MAX bytes. */
bool conform_plan_load(const char *path, struct conform_plan *plan, char *error,
                       size_t error_bytes);

/*
 * XORs a corrupt fault's mask into bytes[0, count), which sit at stream
 * offset offset of the fault's direction; only the overlap with
 * [at_bytes, at_bytes + xor_bytes) changes.  Returns how many bytes changed
 * position (0 when there is no overlap).
 */
size_t conform_plan_corrupt(const struct conform_plan_fault *fault, uint64_t offset,
                            uint8_t *bytes, size_t count);

/* One line: "reset channel 0 to-destination at byte 1048576" (plus arguments). */
void conform_plan_fault_describe(const struct conform_plan_fault *fault, char *out,
                                 size_t out_bytes);

#endif /* CONFORM_PLAN_H */
