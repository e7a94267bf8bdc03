/*
 * mig_caps.c: capability and parameter tables and QEMU's checks (overview
 * and the choice of rules in mig_caps.h; docs/capabilities.md).
 */
#include "sim_base.h"

#include "mig_caps.h"
#include "mig_limits.h"

const char *const mig_param_compression_names[] = {"none", "zlib", "zstd", NULL};
const char *const mig_param_mode_names[] = {"normal", "cpr-reboot", "cpr-transfer", NULL};
const char *const mig_param_zero_page_names[] = {"none", "legacy", "multifd", NULL};

static const char *const cap_names[MIG_CAP_COUNT] = {
#define MIG_CAP_NAME(name, text, since) [MIG_CAP_##name] = text,
    MIG_CAPS(MIG_CAP_NAME)
#undef MIG_CAP_NAME
};

/*
 * What the simulation models.  The postcopy and multifd plug-ins add
 * postcopy-ram, postcopy-preempt, postcopy-blocktime and multifd here.
 */
static const bool cap_implemented[MIG_CAP_COUNT] = {
    [MIG_CAP_EVENTS] = true,             /* MIGRATION events are always in the timeline */
    [MIG_CAP_RETURN_PATH] = true,
    [MIG_CAP_PAUSE_BEFORE_SWITCHOVER] = true,
    [MIG_CAP_X_IGNORE_SHARED] = true,
    [MIG_CAP_SWITCHOVER_ACK] = true,
    [MIG_CAP_RELEASE_RAM] = true,        /* postcopy only (QEMU too): mig_ram.c frees sent pages */
    [MIG_CAP_LATE_BLOCK_ACTIVATE] = true, /* a paused destination leaves its disks (blockdev) */
    [MIG_CAP_AUTO_CONVERGE] = true,      /* the vCPUs' throttle (models/vcpu.h) */
    [MIG_CAP_POSTCOPY_RAM] = true,       /* the plug-in (mig_plug.h) */
    [MIG_CAP_POSTCOPY_PREEMPT] = true,
    [MIG_CAP_POSTCOPY_BLOCKTIME] = true, /* blocktime is always measured; this reports it */
    [MIG_CAP_MULTIFD] = true,
    [MIG_CAP_XBZRLE] = true,             /* mig_xbzrle.h: the cache and the encoding */
    [MIG_CAP_COMPRESS] = true,           /* mig_compress.h: zlib pages, threads' time */
};

struct param_info {
  const char *name;
  enum mig_param_kind kind;
  uint64_t low, high, value;
  const char *const *names;
};

static const struct param_info params_info[MIG_PARAM_COUNT] = {
#define MIG_PARAM_INFO(id, text, k, lo, hi, v, n) \
  [MIG_PARAM_##id] = {text, MIG_PARAM_##k, lo, hi, v, n},
    MIG_PARAMS(MIG_PARAM_INFO)
#undef MIG_PARAM_INFO
};

/* Parameters the engine acts on; the others are checked and reported only. */
static const bool param_implemented[MIG_PARAM_COUNT] = {
    [MIG_PARAM_MAX_BANDWIDTH] = true,
    [MIG_PARAM_DOWNTIME_LIMIT] = true,
    [MIG_PARAM_MODE] = true,
    [MIG_PARAM_AVAIL_SWITCHOVER_BANDWIDTH] = true,
    [MIG_PARAM_THROTTLE_TRIGGER_THRESHOLD] = true,
    [MIG_PARAM_CPU_THROTTLE_INITIAL] = true,
    [MIG_PARAM_CPU_THROTTLE_INCREMENT] = true,
    [MIG_PARAM_CPU_THROTTLE_TAILSLOW] = true,
    [MIG_PARAM_MAX_CPU_THROTTLE] = true,
    [MIG_PARAM_XBZRLE_CACHE_SIZE] = true,
    [MIG_PARAM_COMPRESS_LEVEL] = true,
    [MIG_PARAM_COMPRESS_THREADS] = true,
    [MIG_PARAM_COMPRESS_WAIT_THREAD] = true,
};

const char *mig_cap_name(enum mig_cap cap)
{
  SIM_ASSERT((unsigned)cap < MIG_CAP_COUNT);
  return cap_names[cap];
}

bool mig_cap_find(const char *name, enum mig_cap *out)
{
  for (uint32_t i = 0; i < MIG_CAP_COUNT; i++) {
    if (strcmp(cap_names[i], name) == 0) {
      *out = (enum mig_cap)i;
      return true;
    }
  }
  return false;
}

bool mig_cap_implemented(enum mig_cap cap)
{
  SIM_ASSERT((unsigned)cap < MIG_CAP_COUNT);
  return cap_implemented[cap];
}

/* background-snapshot's list (QEMU's check_caps_background_snapshot), in its order. */
static const enum mig_cap background_conflicts[] = {
    MIG_CAP_POSTCOPY_RAM, MIG_CAP_DIRTY_BITMAPS, MIG_CAP_POSTCOPY_BLOCKTIME,
    MIG_CAP_LATE_BLOCK_ACTIVATE, MIG_CAP_RETURN_PATH, MIG_CAP_MULTIFD,
    MIG_CAP_PAUSE_BEFORE_SWITCHOVER, MIG_CAP_AUTO_CONVERGE, MIG_CAP_RELEASE_RAM,
    MIG_CAP_RDMA_PIN_ALL, MIG_CAP_XBZRLE, MIG_CAP_X_COLO, MIG_CAP_VALIDATE_UUID,
    MIG_CAP_ZERO_COPY_SEND};

/* One refusal: a condition and QEMU's text.  */
struct caps_rule {
  enum mig_cap when;               /* the capability the rule is about (on) */
  enum mig_cap other;              /* the one it conflicts with or needs */
  bool needs;                      /* true: refused when other is off; false: when on */
  const char *text;
};

static const struct caps_rule caps_rules[] = {
    {MIG_CAP_POSTCOPY_RAM, MIG_CAP_X_IGNORE_SHARED, false,
     "Postcopy is not compatible with ignore-shared"},
    /* migsim's: 7.2's decompress threads write RAM without postcopy's atomic placement. */
    {MIG_CAP_POSTCOPY_RAM, MIG_CAP_COMPRESS, false,
     "Postcopy is not compatible with compress (migsim: QEMU 7.2 accepts the pair)"},
    {MIG_CAP_POSTCOPY_PREEMPT, MIG_CAP_POSTCOPY_RAM, true,
     "Postcopy preempt requires postcopy-ram"},
    {MIG_CAP_POSTCOPY_PREEMPT, MIG_CAP_COMPRESS, false,
     "Postcopy preempt not compatible with compress"},
    {MIG_CAP_MULTIFD, MIG_CAP_COMPRESS, false, "Multifd is not compatible with compress"},
    {MIG_CAP_SWITCHOVER_ACK, MIG_CAP_RETURN_PATH, true,
     "Capability 'switchover-ack' requires capability 'return-path'"},
    {MIG_CAP_DIRTY_LIMIT, MIG_CAP_AUTO_CONVERGE, false,
     "dirty-limit conflicts with auto-converge either of then available currently"},
    {MIG_CAP_MULTIFD, MIG_CAP_XBZRLE, false, "Multifd is not compatible with xbzrle"},
    {MIG_CAP_MAPPED_RAM, MIG_CAP_XBZRLE, false,
     "Mapped-ram migration is incompatible with xbzrle"},
    {MIG_CAP_MAPPED_RAM, MIG_CAP_POSTCOPY_RAM, false,
     "Mapped-ram migration is incompatible with postcopy"},
};

static bool refuse(char *why, size_t why_bytes, const char *text)
{
  snprintf(why, why_bytes, "%s", text);
  return false;
}

/* Refusals that are about the host, not the set: migsim's host has none of these. */
static bool caps_host_check(const bool *on, char *why, size_t why_bytes)
{
  if (on[MIG_CAP_BLOCK]) {
    return refuse(why, why_bytes, "QEMU compiled without old-style (blk/-b, inc/-i) block "
                  "migration");
  }
  if (on[MIG_CAP_X_COLO]) {
    return refuse(why, why_bytes, "QEMU compiled without replication module can't enable "
                  "COLO");
  }
  if (on[MIG_CAP_DIRTY_LIMIT] && !on[MIG_CAP_AUTO_CONVERGE]) {
    return refuse(why, why_bytes, "dirty-limit requires KVM with accelerator property "
                  "'dirty-ring-size' set");
  }
  return true;
}

bool mig_caps_check(const struct mig_caps *old_caps, const struct mig_caps *new_caps,
                    bool incoming_started, char *why, size_t why_bytes)
{
  (void)old_caps; /* QEMU probes userfaultfd only on the first enabling: always there here */
  const bool *on = new_caps->on;
  if (!caps_host_check(on, why, why_bytes)) return false;
  for (size_t i = 0; i < SIM_ARRAY_COUNT(caps_rules); i++) {
    const struct caps_rule *rule = &caps_rules[i];
    if (on[rule->when] && on[rule->other] != rule->needs) {
      return refuse(why, why_bytes, rule->text);
    }
    if (rule->when == MIG_CAP_POSTCOPY_PREEMPT && on[rule->when] && incoming_started) {
      return refuse(why, why_bytes, "Postcopy preempt must be set before incoming starts");
    }
  }
  if (on[MIG_CAP_BACKGROUND_SNAPSHOT]) {
    for (size_t i = 0; i < SIM_ARRAY_COUNT(background_conflicts); i++) {
      if (!on[background_conflicts[i]]) continue;
      snprintf(why, why_bytes, "Background-snapshot is not compatible with %s",
               cap_names[background_conflicts[i]]);
      return false;
    }
  }
  if (on[MIG_CAP_ZERO_COPY_SEND] &&
      (!on[MIG_CAP_MULTIFD] || on[MIG_CAP_COMPRESS] || on[MIG_CAP_XBZRLE])) {
    return refuse(why, why_bytes,
                  "Zero copy only available for non-compressed non-TLS multifd migration");
  }
  if (on[MIG_CAP_MULTIFD] && incoming_started) {
    return refuse(why, why_bytes, "Multifd must be set before incoming starts");
  }
  return true;
}

const char *mig_param_name(enum mig_param param)
{
  SIM_ASSERT((unsigned)param < MIG_PARAM_COUNT);
  return params_info[param].name;
}

bool mig_param_find(const char *name, enum mig_param *out)
{
  for (uint32_t i = 0; i < MIG_PARAM_COUNT; i++) {
    if (strcmp(params_info[i].name, name) == 0) {
      *out = (enum mig_param)i;
      return true;
    }
  }
  return false;
}

enum mig_param_kind mig_param_kind(enum mig_param param) { return params_info[param].kind; }
uint64_t mig_param_low(enum mig_param param) { return params_info[param].low; }
uint64_t mig_param_high(enum mig_param param) { return params_info[param].high; }
const char *const *mig_param_names(enum mig_param param) { return params_info[param].names; }

bool mig_param_implemented(enum mig_param param)
{
  SIM_ASSERT((unsigned)param < MIG_PARAM_COUNT);
  return param_implemented[param];
}

void mig_params_default(struct mig_params *params)
{
  for (uint32_t i = 0; i < MIG_PARAM_COUNT; i++) params->values[i] = params_info[i].value;
}

void mig_params_apply(struct mig_params *params, const struct mig_params_set *set)
{
  for (uint32_t i = 0; i < MIG_PARAM_COUNT; i++) {
    if ((set->given_mask >> i & 1) != 0) params->values[i] = set->params.values[i];
  }
}

/* One range rule of migrate_params_check: QEMU's underscore name and its text. */
struct param_rule {
  enum mig_param param;
  uint64_t low, high;
  const char *qemu_name;           /* 7.2's QERR_INVALID_PARAMETER_VALUE spelling */
  const char *expects;
};

static const struct param_rule param_rules[] = {
    {MIG_PARAM_COMPRESS_LEVEL, 0, 9, "compress_level", "a value between 0 and 9"},
    {MIG_PARAM_COMPRESS_THREADS, 1, 255, "compress_threads", "a value between 1 and 255"},
    {MIG_PARAM_DECOMPRESS_THREADS, 1, 255, "decompress_threads", "a value between 1 and 255"},
    {MIG_PARAM_THROTTLE_TRIGGER_THRESHOLD, 1, 100, "throttle_trigger_threshold",
     "an integer in the range of 1 to 100"},
    {MIG_PARAM_CPU_THROTTLE_INITIAL, 1, 99, "cpu_throttle_initial",
     "an integer in the range of 1 to 99"},
    {MIG_PARAM_CPU_THROTTLE_INCREMENT, 1, 99, "cpu_throttle_increment",
     "an integer in the range of 1 to 99"},
    {MIG_PARAM_DOWNTIME_LIMIT, 0, 2000000, "downtime_limit",
     "an integer in the range of 0 to 2000000 ms"},
    {MIG_PARAM_MULTIFD_CHANNELS, 1, 255, "multifd_channels", "a value between 1 and 255"},
    {MIG_PARAM_MULTIFD_ZLIB_LEVEL, 0, 9, "multifd_zlib_level", "a value between 0 and 9"},
    {MIG_PARAM_MULTIFD_ZSTD_LEVEL, 0, 20, "multifd_zstd_level", "a value between 0 and 20"},
    {MIG_PARAM_ANNOUNCE_INITIAL, 0, 100000, "announce_initial", "a value between 0 and 100000"},
    {MIG_PARAM_ANNOUNCE_MAX, 0, 100000, "announce_max", "a value between 0 and 100000"},
    {MIG_PARAM_ANNOUNCE_ROUNDS, 0, 1000, "announce_rounds", "a value between 0 and 1000"},
    {MIG_PARAM_ANNOUNCE_STEP, 1, 10000, "announce_step", "a value between 0 and 10000"},
    {MIG_PARAM_X_VCPU_DIRTY_LIMIT_PERIOD, 1, 1000, "x-vcpu-dirty-limit-period",
     "a value between 1 and 1000"},
    {MIG_PARAM_VCPU_DIRTY_LIMIT, 1, UINT64_MAX, "vcpu_dirty_limit",
     "is invalid, it must greater then 1 MB/s"},
};

static bool param_check_ranges(const struct mig_params *params, char *why, size_t why_bytes)
{
  for (size_t i = 0; i < SIM_ARRAY_COUNT(param_rules); i++) {
    const struct param_rule *rule = &param_rules[i];
    uint64_t value = params->values[rule->param];
    if (value >= rule->low && value <= rule->high) continue;
    snprintf(why, why_bytes, "Parameter '%s' expects %s", rule->qemu_name, rule->expects);
    return false;
  }
  return true;
}

bool mig_params_check(const struct mig_params *params, const struct mig_params_set *set,
                      const struct mig_caps *caps, char *why, size_t why_bytes)
{
  struct mig_params next = *params;
  mig_params_apply(&next, set);
  if (!param_check_ranges(&next, why, why_bytes)) return false;
  uint64_t cache_bytes = next.values[MIG_PARAM_XBZRLE_CACHE_SIZE];
  if (cache_bytes < MIG_PAGE_BYTES || (cache_bytes & (cache_bytes - 1)) != 0) {
    return refuse(why, why_bytes, "Parameter 'xbzrle_cache_size' expects a power of two no "
                  "less than the target page size");
  }
  uint64_t throttle_max = next.values[MIG_PARAM_MAX_CPU_THROTTLE];
  if (throttle_max < next.values[MIG_PARAM_CPU_THROTTLE_INITIAL] || throttle_max > 99) {
    return refuse(why, why_bytes, "Parameter 'max_cpu_throttle' expects an integer in the "
                  "range of cpu_throttle_initial to 99");
  }
  if (caps->on[MIG_CAP_ZERO_COPY_SEND] &&
      next.values[MIG_PARAM_MULTIFD_COMPRESSION] != MIG_COMPRESSION_NONE) {
    return refuse(why, why_bytes,
                  "Zero copy only available for non-compressed non-TLS multifd migration");
  }
  return true;
}
