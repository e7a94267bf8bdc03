/*
 * conform_plan.h: fault plans, a JSON list of faults that fire at points of
 * a migration (docs/faults.md has the language; docs/proxy.md the proxy's).
 *
 * One language, two places.  `migsim proxy` reads a plan file (root keys
 * "description", "faults") whose faults act on real sockets at byte
 * offsets: the proxy kinds (delay, stall, reset, truncate, corrupt, drop).
 * A scenario's "faults" object (keys "plan", "swarm", "heal_ns",
 * "liveness_ns", "buggify") holds simulated faults, triggered at a
 * simulated time ({"ns": T}), on a side entering a migration state
 * ({"state": "postcopy-active", "after_ns": D}), or after the Nth section
 * or page the source sent ({"sections": N}, {"pages": N}): link faults,
 * partitions, bandwidth changes, crashes, a slow destination, return-path
 * loss, a multifd channel failing, migrate-cancel, a full disk, and the
 * management layer reverting to the source (conform_faults.h applies them).
 *
 * A plan is data: which connection (channel index in connection order, 0 is
 * the main channel), which direction (to-destination: the migration stream;
 * to-source: the return path; simulated link faults also "both"), a
 * trigger, and a kind with its arguments.  The proxy's trigger is a byte
 * offset in that direction's stream; `"at"` stays an object so that record
 * triggers ("the FULL section of idstr X") can join once the record layer
 * can parse a stream as it passes (docs/proxy.md, "Next step").
 *
 * `migsim proxy` (cli/cli_proxy.h) applies plan files to real sockets;
 * conform_faults.h applies a scenario's plan to a simulated run.  The one byte
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
#include "mig_state.h"
#include "sim_link.h"

#define CONFORM_PLAN_FAULTS_MAX 32u
#define CONFORM_PLAN_XOR_BYTES_MAX 64u       /* corrupt: mask length */
#define CONFORM_PLAN_CHANNELS_MAX 17u        /* main + 16 multifd channels */
#define CONFORM_PLAN_MS_MAX UINT64_C(3600000) /* delay and stall: one hour */
#define CONFORM_PLAN_AT_BYTES_MAX (UINT64_C(1) << 50)
#define CONFORM_PLAN_BYTES_MAX (UINT32_C(1) << 20)  /* plan file */
#define CONFORM_PLAN_NS_MAX (UINT64_C(1) << 50)      /* simulated times and durations */
#define CONFORM_PLAN_COUNT_MAX (UINT64_C(1) << 40)   /* sections, pages */
#define CONFORM_PLAN_LIVENESS_NS_DEFAULT (UINT64_C(30) * 1000000000) /* after heal_ns */

/* X-macro: (constant suffix, name in the plan). */
#define CONFORM_PLAN_KINDS(X) \
  X(DELAY, "delay")           /* hold the direction for ms, then go on */ \
  X(STALL, "stall")           /* stop the direction until until_ms, or for ever */ \
  X(RESET, "reset")           /* RST every connection of the session, both sides */ \
  X(TRUNCATE, "truncate")     /* FIN to the receiver; later bytes are read and dropped */ \
  X(CORRUPT, "corrupt")       /* XOR a mask into the bytes from the trigger on */ \
  X(DROP, "drop")             /* RST this one connection, both sides */ \
  X(LINK, "link")             /* simulated: packet faults on the link(s) (sim_link.h knobs) */ \
  X(PARTITION, "partition")   /* simulated: every packet lost for duration_ns */ \
  X(BANDWIDTH, "bandwidth")   /* simulated: the link's bandwidth becomes bytes_per_s */ \
  X(SOURCE_CRASH, "source-crash") /* simulated: the source process dies */ \
  X(DEST_CRASH, "dest-crash") /* simulated: the destination process dies */ \
  X(DEST_SLOW_LOAD, "dest-slow-load") /* simulated: its devices busy delay_ns more */ \
  X(RP_LOSS, "rp-loss")       /* simulated: return-path messages lost for duration_ns */ \
  X(MULTIFD_FAIL, "multifd-channel-fail") /* simulated: one multifd channel breaks */ \
  X(CANCEL, "cancel")         /* simulated: QMP migrate-cancel */ \
  X(DISK_FULL, "disk-full")   /* simulated: the file: target runs out of space */ \
  X(REVERT, "revert")         /* simulated: management goes back to the source once the
                                 destination loaded everything, before it ran (seed 003) */

enum conform_plan_kind {
#define CONFORM_PLAN_KIND_ENUM(name, text) CONFORM_PLAN_##name,
  CONFORM_PLAN_KINDS(CONFORM_PLAN_KIND_ENUM)
#undef CONFORM_PLAN_KIND_ENUM
  CONFORM_PLAN_KIND_COUNT
};

/* The first proxy kind and the first simulated one: kinds below SIM_FIRST are the proxy's. */
#define CONFORM_PLAN_SIM_FIRST CONFORM_PLAN_LINK
/* True for the kinds a scenario takes (the others are migsim proxy's). */
bool conform_plan_kind_simulated(enum conform_plan_kind kind);

enum conform_plan_direction {
  CONFORM_PLAN_TO_DESTINATION = 0,   /* source -> destination: the migration stream */
  CONFORM_PLAN_TO_SOURCE = 1,        /* destination -> source: the return path */
  CONFORM_PLAN_BOTH = 2,             /* simulated link faults: both directions */
};

enum conform_plan_trigger {
  CONFORM_PLAN_AT_BYTE,              /* at_bytes bytes of the direction have passed (proxy) */
  CONFORM_PLAN_AT_NS,                /* simulated time at_ns */
  CONFORM_PLAN_AT_STATE,             /* side enters state (first time), then after_ns */
  CONFORM_PLAN_AT_SECTIONS,          /* the source has flushed at_count sections */
  CONFORM_PLAN_AT_PAGES,             /* the source has sent at_count pages (zero or not) */
  CONFORM_PLAN_AT_LOADED,            /* revert: the destination has loaded everything */
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
  /* Simulated faults (scenarios). */
  uint64_t at_ns;                    /* AT_NS: the time */
  enum mig_state state;              /* AT_STATE: the state entered */
  enum mig_side side;                /* AT_STATE: whose state (default the source's) */
  uint64_t after_ns;                 /* AT_STATE: fires this long after entering it */
  uint64_t at_count;                 /* AT_SECTIONS, AT_PAGES: the count reached */
  uint64_t duration_ns;              /* link, partition, bandwidth, rp-loss: 0 = until
                                        the plan heals (heal_ns), or for ever */
  struct link_faults link;           /* link: the knobs (partition and bandwidth not here) */
  uint64_t bytes_per_s;              /* bandwidth: the new rate */
  uint64_t delay_ns;                 /* dest-slow-load: extra busy time */
};

/* A regression file's recorded verdict (scenario key "regress"; conform_shrink.h). */
struct conform_plan_regress {
  bool present;
  char verdict[32];                  /* conform_verdict_name: "PASS", "LIVENESS", ... */
  char oracle[32];                   /* conform_failure.oracle, "" for none */
  char found[256];                   /* one line: what the seed found */
};

struct conform_plan {
  char name[256];                    /* file path, or what the caller named the text */
  char description[256];             /* optional one line */
  uint32_t fault_count;
  struct conform_plan_fault faults[CONFORM_PLAN_FAULTS_MAX];  /* in file order */
  /* A scenario's "faults" object (all zero/false in a proxy plan and without one). */
  bool swarm;                        /* each seed draws its own faults (conform_faults.h) */
  bool buggify;                      /* SIM_BUGGIFY points may fire (sim.h) */
  bool has_heal;                     /* heal_ns given (or drawn by swarm) */
  uint64_t heal_ns;                  /* every fault heals then; liveness is judged after */
  uint64_t liveness_ns;              /* the migration must end by heal_ns + this */
  struct conform_plan_regress regress; /* a regression file's recorded verdict */
};

/* "delay", "stall", ... */
const char *conform_plan_kind_name(enum conform_plan_kind kind);
/* "to-destination" or "to-source". */
const char *conform_plan_direction_name(enum conform_plan_direction direction);

/* Parses text; on failure returns false with `name:line:col: message` in error. */
bool conform_plan_parse(const char *text, size_t length, const char *name,
                        struct conform_plan *plan, char *error, size_t error_bytes);
/*
 * A scenario's "faults" and "regress" members (root is the scenario's parsed
 * jansson object, text its bytes, for `file:line:col` errors).  Only
 * simulated kinds and triggers are accepted; plan is zeroed first.
 */
struct json_t;
bool conform_plan_parse_scenario(const char *text, size_t length, const char *name,
                                 struct json_t *root, struct conform_plan *plan, char *error,
                                 size_t error_bytes);
/*
 * The scenario "faults" object for plan (a new reference): what the parser
 * reads back into the same plan (tests check the round trip).  NULL when
 * plan has nothing for a scenario (no faults, no swarm, no buggify).
 */
struct json_t *conform_plan_scenario_json(const struct conform_plan *plan);
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

/*
 * One line: "reset channel 0 to-destination at byte 1048576" (plus
 * arguments); simulated kinds: "partition to-destination at state active
 * (source) +5000000 ns for 2000000000 ns".
 */
void conform_plan_fault_describe(const struct conform_plan_fault *fault, char *out,
                                 size_t out_bytes);

#endif /* CONFORM_PLAN_H */
