/*
 * mig_caps.h: migration capabilities and parameters with QMP's names, their
 * defaults, and QEMU's checks with QEMU's texts (spec §12.1, §12.2).
 *
 * Which rules: QEMU 10.2's migrate_caps_check and migrate_params_check,
 * plus QEMU 7.2's for what 10.2 no longer has (the compress and block
 * capabilities, compress-level/-threads, decompress-threads,
 * block-incremental).  The texts are 7.2's QERR_INVALID_PARAMETER_VALUE
 * ("Parameter 'compress_level' expects a value between 0 and 9") and
 * error_setg strings; where migsim refuses something QEMU accepts, the text
 * says so (docs/capabilities.md lists each one).
 *
 * A capability exists in the table from the release that added it; a
 * scenario may name any of them.  mig_cap_implemented says whether the
 * simulation models it; the scenario parser refuses the others with
 * `capability "X" is not supported yet`.  Modules that implement one (the
 * postcopy and multifd plug-ins) set it here.
 */
#ifndef MIG_CAPS_H
#define MIG_CAPS_H

#include "sim_base.h"

/* X(name, QMP name, QEMU version that added it: major * 100 + minor). */
#define MIG_CAPS(X) \
  X(XBZRLE, "xbzrle", 105) \
  X(RDMA_PIN_ALL, "rdma-pin-all", 200) \
  X(AUTO_CONVERGE, "auto-converge", 106) \
  X(ZERO_BLOCKS, "zero-blocks", 106) \
  X(COMPRESS, "compress", 204) \
  X(EVENTS, "events", 205) \
  X(POSTCOPY_RAM, "postcopy-ram", 206) \
  X(X_COLO, "x-colo", 208) \
  X(RELEASE_RAM, "release-ram", 209) \
  X(BLOCK, "block", 210) \
  X(RETURN_PATH, "return-path", 210) \
  X(PAUSE_BEFORE_SWITCHOVER, "pause-before-switchover", 211) \
  X(MULTIFD, "multifd", 211) \
  X(DIRTY_BITMAPS, "dirty-bitmaps", 212) \
  X(POSTCOPY_BLOCKTIME, "postcopy-blocktime", 300) \
  X(LATE_BLOCK_ACTIVATE, "late-block-activate", 300) \
  X(X_IGNORE_SHARED, "x-ignore-shared", 400) \
  X(VALIDATE_UUID, "validate-uuid", 402) \
  X(BACKGROUND_SNAPSHOT, "background-snapshot", 600) \
  X(ZERO_COPY_SEND, "zero-copy-send", 701) \
  X(POSTCOPY_PREEMPT, "postcopy-preempt", 701) \
  X(SWITCHOVER_ACK, "switchover-ack", 801) \
  X(DIRTY_LIMIT, "dirty-limit", 801) \
  X(MAPPED_RAM, "mapped-ram", 900)

enum mig_cap {
#define MIG_CAP_ENUM(name, text, since) MIG_CAP_##name,
  MIG_CAPS(MIG_CAP_ENUM)
#undef MIG_CAP_ENUM
  MIG_CAP_COUNT
};

struct mig_caps {                  /* caller-owned; every capability defaults to off */
  bool on[MIG_CAP_COUNT];
};

const char *mig_cap_name(enum mig_cap cap);
bool mig_cap_find(const char *name, enum mig_cap *out);
/* The simulation models it (the engine or a plug-in acts on it). */
bool mig_cap_implemented(enum mig_cap cap);

/*
 * QEMU's migrate_caps_check over the whole new set: false with QEMU's text
 * in why.  incoming_started: the destination's incoming side is already
 * listening (postcopy-preempt and multifd must come before it).
 */
bool mig_caps_check(const struct mig_caps *old_caps, const struct mig_caps *new_caps,
                    bool incoming_started, char *why, size_t why_bytes);

enum mig_param_kind {
  MIG_PARAM_U64,                   /* an integer in [low, high] of the QAPI type */
  MIG_PARAM_BOOL,
  MIG_PARAM_ENUM,                  /* one of names, stored as its index */
  MIG_PARAM_STRING,                /* tls-*: only "" (no TLS in a simulation) */
};

/*
 * X(name, QMP name, kind, QAPI low, QAPI high, default, enum names or NULL).
 * Units are QMP's: milliseconds, bytes, bytes per second, percent.
 */
#define MIG_PARAMS(X) \
  X(ANNOUNCE_INITIAL, "announce-initial", U64, 0, UINT64_MAX, 50, NULL) \
  X(ANNOUNCE_MAX, "announce-max", U64, 0, UINT64_MAX, 550, NULL) \
  X(ANNOUNCE_ROUNDS, "announce-rounds", U64, 0, UINT64_MAX, 5, NULL) \
  X(ANNOUNCE_STEP, "announce-step", U64, 0, UINT64_MAX, 100, NULL) \
  X(COMPRESS_LEVEL, "compress-level", U64, 0, 255, 1, NULL) \
  X(COMPRESS_THREADS, "compress-threads", U64, 0, 255, 8, NULL) \
  X(COMPRESS_WAIT_THREAD, "compress-wait-thread", BOOL, 0, 1, 1, NULL) \
  X(DECOMPRESS_THREADS, "decompress-threads", U64, 0, 255, 2, NULL) \
  X(THROTTLE_TRIGGER_THRESHOLD, "throttle-trigger-threshold", U64, 0, 255, 50, NULL) \
  X(CPU_THROTTLE_INITIAL, "cpu-throttle-initial", U64, 0, 255, 20, NULL) \
  X(CPU_THROTTLE_INCREMENT, "cpu-throttle-increment", U64, 0, 255, 10, NULL) \
  X(CPU_THROTTLE_TAILSLOW, "cpu-throttle-tailslow", BOOL, 0, 1, 0, NULL) \
  X(TLS_CREDS, "tls-creds", STRING, 0, 0, 0, NULL) \
  X(TLS_HOSTNAME, "tls-hostname", STRING, 0, 0, 0, NULL) \
  X(TLS_AUTHZ, "tls-authz", STRING, 0, 0, 0, NULL) \
  X(MAX_BANDWIDTH, "max-bandwidth", U64, 0, UINT64_MAX, 134217728, NULL) \
  X(AVAIL_SWITCHOVER_BANDWIDTH, "avail-switchover-bandwidth", U64, 0, UINT64_MAX, 0, NULL) \
  X(DOWNTIME_LIMIT, "downtime-limit", U64, 0, UINT64_MAX, 300, NULL) \
  X(X_CHECKPOINT_DELAY, "x-checkpoint-delay", U64, 0, UINT32_MAX, 20000, NULL) \
  X(BLOCK_INCREMENTAL, "block-incremental", BOOL, 0, 1, 0, NULL) \
  X(MULTIFD_CHANNELS, "multifd-channels", U64, 0, 255, 2, NULL) \
  X(XBZRLE_CACHE_SIZE, "xbzrle-cache-size", U64, 0, UINT64_MAX, 67108864, NULL) \
  X(MAX_POSTCOPY_BANDWIDTH, "max-postcopy-bandwidth", U64, 0, UINT64_MAX, 0, NULL) \
  X(MAX_CPU_THROTTLE, "max-cpu-throttle", U64, 0, 255, 99, NULL) \
  X(MULTIFD_COMPRESSION, "multifd-compression", ENUM, 0, 2, 0, mig_param_compression_names) \
  X(MULTIFD_ZLIB_LEVEL, "multifd-zlib-level", U64, 0, 255, 1, NULL) \
  X(MULTIFD_ZSTD_LEVEL, "multifd-zstd-level", U64, 0, 255, 1, NULL) \
  X(X_VCPU_DIRTY_LIMIT_PERIOD, "x-vcpu-dirty-limit-period", U64, 0, UINT64_MAX, 1000, NULL) \
  X(VCPU_DIRTY_LIMIT, "vcpu-dirty-limit", U64, 0, UINT64_MAX, 1, NULL) \
  X(MODE, "mode", ENUM, 0, 2, 0, mig_param_mode_names) \
  X(ZERO_PAGE_DETECTION, "zero-page-detection", ENUM, 0, 2, 2, mig_param_zero_page_names) \
  X(DIRECT_IO, "direct-io", BOOL, 0, 1, 0, NULL)

enum mig_param {
#define MIG_PARAM_ENUM_ITEM(name, text, kind, low, high, value, names) MIG_PARAM_##name,
  MIG_PARAMS(MIG_PARAM_ENUM_ITEM)
#undef MIG_PARAM_ENUM_ITEM
  MIG_PARAM_COUNT
};

/* multifd-compression, mode and zero-page-detection values, in QAPI order. */
enum { MIG_COMPRESSION_NONE, MIG_COMPRESSION_ZLIB, MIG_COMPRESSION_ZSTD };
enum { MIG_MODE_NORMAL, MIG_MODE_CPR_REBOOT, MIG_MODE_CPR_TRANSFER };
enum { MIG_ZERO_PAGE_NONE, MIG_ZERO_PAGE_LEGACY, MIG_ZERO_PAGE_MULTIFD };
extern const char *const mig_param_compression_names[];
extern const char *const mig_param_mode_names[];
extern const char *const mig_param_zero_page_names[];

struct mig_params {                /* caller-owned; QMP units, see MIG_PARAMS */
  uint64_t values[MIG_PARAM_COUNT];
};

/* A set-parameters command: which values it gives. */
struct mig_params_set {
  uint64_t given_mask;             /* bit p: values[p] given */
  struct mig_params params;
};
_Static_assert(MIG_PARAM_COUNT <= 64, "a parameter set fits a 64-bit mask");

const char *mig_param_name(enum mig_param param);
bool mig_param_find(const char *name, enum mig_param *out);
enum mig_param_kind mig_param_kind(enum mig_param param);
/* QAPI's type bounds (what a JSON value must fit before QEMU's own check). */
uint64_t mig_param_low(enum mig_param param);
uint64_t mig_param_high(enum mig_param param);
/* NULL-terminated value names of an ENUM parameter, else NULL. */
const char *const *mig_param_names(enum mig_param param);
/* The simulation acts on it (the others are accepted, checked and reported). */
bool mig_param_implemented(enum mig_param param);

void mig_params_default(struct mig_params *params);
/* set's given values over params. */
void mig_params_apply(struct mig_params *params, const struct mig_params_set *set);
/*
 * QEMU's migrate_params_check on the result of applying set: false with
 * QEMU's text.  caps: zero-copy-send refuses multifd compression.
 */
bool mig_params_check(const struct mig_params *params, const struct mig_params_set *set,
                      const struct mig_caps *caps, char *why, size_t why_bytes);

#endif /* MIG_CAPS_H */
