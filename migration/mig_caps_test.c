/*
 * mig_caps_test.c: capability and parameter tables and QEMU's checks
 * (mig_caps.h): every name round-trips, every refusal has QEMU's text.
 */
#include "sim_base.h"

#include "mig_caps.h"
#include "sim_check.h"

START_TEST(mig_caps_names_round_trip)
{
  /* Goal: each capability and parameter is found by its QMP name; unknown names are not. */
  for (uint32_t i = 0; i < MIG_CAP_COUNT; i++) {
    enum mig_cap cap;
    ck_assert(mig_cap_find(mig_cap_name((enum mig_cap)i), &cap));
    ck_assert_int_eq(cap, i);
  }
  for (uint32_t i = 0; i < MIG_PARAM_COUNT; i++) {
    enum mig_param param;
    ck_assert(mig_param_find(mig_param_name((enum mig_param)i), &param));
    ck_assert_int_eq(param, i);
  }
  enum mig_cap cap;
  ck_assert(!mig_cap_find("xbzrl", &cap));
  ck_assert(mig_cap_find("switchover-ack", &cap) && cap == MIG_CAP_SWITCHOVER_ACK);
  ck_assert_uint_eq(MIG_CAP_COUNT, 24); /* 7.2's 21 + switchover-ack, dirty-limit, mapped-ram */
}
END_TEST

/* Checks the set named by caps (a NULL-terminated list) alone; returns QEMU's text or "". */
static const char *check_set(const char *const *names, bool incoming, char *why, size_t bytes)
{
  struct mig_caps none = {0}, caps = {0};
  for (size_t i = 0; names[i] != NULL; i++) {
    enum mig_cap cap;
    ck_assert_msg(mig_cap_find(names[i], &cap), "%s", names[i]);
    caps.on[cap] = true;
  }
  why[0] = '\0';
  bool ok = mig_caps_check(&none, &caps, incoming, why, bytes);
  ck_assert(ok == (why[0] == '\0'));
  return why;
}

START_TEST(mig_caps_check_refuses_with_qemu_text)
{
  /* Goal: each dependency and conflict is refused with QEMU's words; good sets pass. */
  static const struct {
    const char *names[4];
    const char *text;
  } cases[] = {
      {{"switchover-ack"}, "Capability 'switchover-ack' requires capability 'return-path'"},
      {{"switchover-ack", "return-path"}, ""},
      {{"postcopy-ram", "x-ignore-shared"}, "Postcopy is not compatible with ignore-shared"},
      {{"postcopy-ram", "compress"},
       "Postcopy is not compatible with compress (migsim: QEMU 7.2 accepts the pair)"},
      {{"postcopy-preempt"}, "Postcopy preempt requires postcopy-ram"},
      {{"postcopy-preempt", "postcopy-ram", "compress"},
       "Postcopy is not compatible with compress (migsim: QEMU 7.2 accepts the pair)"},
      {{"multifd", "compress"}, "Multifd is not compatible with compress"},
      {{"multifd", "xbzrle"}, "Multifd is not compatible with xbzrle"},
      {{"zero-copy-send"},
       "Zero copy only available for non-compressed non-TLS multifd migration"},
      {{"zero-copy-send", "multifd"}, ""},
      {{"background-snapshot", "return-path"},
       "Background-snapshot is not compatible with return-path"},
      {{"dirty-limit", "auto-converge"},
       "dirty-limit conflicts with auto-converge either of then available currently"},
      {{"dirty-limit"}, "dirty-limit requires KVM with accelerator property 'dirty-ring-size' set"},
      {{"mapped-ram", "xbzrle"}, "Mapped-ram migration is incompatible with xbzrle"},
      {{"block"}, "QEMU compiled without old-style (blk/-b, inc/-i) block migration"},
      {{"postcopy-ram", "multifd", "postcopy-preempt"}, ""},
      {{"xbzrle", "auto-converge", "compress"}, ""},
  };
  char why[256];
  for (size_t i = 0; i < SIM_ARRAY_COUNT(cases); i++) {
    const char *const *names = cases[i].names;
    ck_assert_msg(strcmp(check_set(names, false, why, sizeof(why)), cases[i].text) == 0,
                  "case %zu: %s", i, why);
  }
  static const char *const preempt[] = {"postcopy-ram", "postcopy-preempt", NULL};
  ck_assert_str_eq(check_set(preempt, true, why, sizeof(why)),
                   "Postcopy preempt must be set before incoming starts");
  static const char *const multifd[] = {"multifd", NULL};
  ck_assert_str_eq(check_set(multifd, true, why, sizeof(why)),
                   "Multifd must be set before incoming starts");
}
END_TEST

START_TEST(mig_caps_implemented_by_the_engine)
{
  /* Goal: what the engine acts on is marked so, the rest stays refused by the parser. */
  static const enum mig_cap on[] = {MIG_CAP_XBZRLE, MIG_CAP_COMPRESS, MIG_CAP_RELEASE_RAM,
                                    MIG_CAP_LATE_BLOCK_ACTIVATE, MIG_CAP_AUTO_CONVERGE};
  static const enum mig_cap off[] = {MIG_CAP_ZERO_COPY_SEND, MIG_CAP_RDMA_PIN_ALL,
                                     MIG_CAP_BACKGROUND_SNAPSHOT, MIG_CAP_MAPPED_RAM};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(on); i++) ck_assert(mig_cap_implemented(on[i]));
  for (size_t i = 0; i < SIM_ARRAY_COUNT(off); i++) ck_assert(!mig_cap_implemented(off[i]));
  ck_assert(mig_param_implemented(MIG_PARAM_XBZRLE_CACHE_SIZE));
  ck_assert(mig_param_implemented(MIG_PARAM_COMPRESS_LEVEL));
  ck_assert(mig_param_implemented(MIG_PARAM_COMPRESS_THREADS));
  ck_assert(mig_param_implemented(MIG_PARAM_COMPRESS_WAIT_THREAD));
  ck_assert(!mig_param_implemented(MIG_PARAM_DECOMPRESS_THREADS));
}
END_TEST

/* Applies one value to the defaults and returns the check's text ("" when it passes). */
static const char *check_param(enum mig_param param, uint64_t value, char *why, size_t bytes)
{
  struct mig_params params;
  mig_params_default(&params);
  struct mig_params_set set = {.given_mask = UINT64_C(1) << param};
  set.params.values[param] = value;
  struct mig_caps caps = {0};
  why[0] = '\0';
  ck_assert(mig_params_check(&params, &set, &caps, why, bytes) == (why[0] == '\0'));
  return why;
}

START_TEST(mig_params_check_ranges)
{
  /* Goal: defaults are QEMU's; each range refusal reads as 7.2's QERR_INVALID_PARAMETER_VALUE. */
  struct mig_params params;
  mig_params_default(&params);
  ck_assert_uint_eq(params.values[MIG_PARAM_MAX_BANDWIDTH], 134217728);
  ck_assert_uint_eq(params.values[MIG_PARAM_DOWNTIME_LIMIT], 300);
  ck_assert_uint_eq(params.values[MIG_PARAM_XBZRLE_CACHE_SIZE], 64 << 20);
  ck_assert_uint_eq(params.values[MIG_PARAM_CPU_THROTTLE_INITIAL], 20);
  ck_assert_uint_eq(params.values[MIG_PARAM_CPU_THROTTLE_INCREMENT], 10);
  ck_assert_uint_eq(params.values[MIG_PARAM_MULTIFD_CHANNELS], 2);
  char why[256];
  ck_assert_str_eq(check_param(MIG_PARAM_COMPRESS_LEVEL, 10, why, sizeof(why)),
                   "Parameter 'compress_level' expects a value between 0 and 9");
  ck_assert_str_eq(check_param(MIG_PARAM_CPU_THROTTLE_INITIAL, 0, why, sizeof(why)),
                   "Parameter 'cpu_throttle_initial' expects an integer in the range of 1 to 99");
  ck_assert_str_eq(check_param(MIG_PARAM_DOWNTIME_LIMIT, 2000001, why, sizeof(why)),
                   "Parameter 'downtime_limit' expects an integer in the range of 0 to "
                   "2000000 ms");
  ck_assert_str_eq(check_param(MIG_PARAM_MULTIFD_CHANNELS, 0, why, sizeof(why)),
                   "Parameter 'multifd_channels' expects a value between 1 and 255");
  ck_assert_str_eq(check_param(MIG_PARAM_XBZRLE_CACHE_SIZE, 3 << 20, why, sizeof(why)),
                   "Parameter 'xbzrle_cache_size' expects a power of two no less than the "
                   "target page size");
  ck_assert_str_eq(check_param(MIG_PARAM_XBZRLE_CACHE_SIZE, 2048, why, sizeof(why)),
                   "Parameter 'xbzrle_cache_size' expects a power of two no less than the "
                   "target page size");
  ck_assert_str_eq(check_param(MIG_PARAM_MAX_CPU_THROTTLE, 10, why, sizeof(why)),
                   "Parameter 'max_cpu_throttle' expects an integer in the range of "
                   "cpu_throttle_initial to 99");
  ck_assert_str_eq(check_param(MIG_PARAM_XBZRLE_CACHE_SIZE, 4096, why, sizeof(why)), "");
  ck_assert_str_eq(check_param(MIG_PARAM_DOWNTIME_LIMIT, 2000000, why, sizeof(why)), "");
}
END_TEST

Suite *mig_caps_suite(void)
{
  Suite *suite = suite_create("mig_caps");
  TCase *core = tcase_create("core");
  tcase_add_test(core, mig_caps_names_round_trip);
  tcase_add_test(core, mig_caps_check_refuses_with_qemu_text);
  tcase_add_test(core, mig_caps_implemented_by_the_engine);
  tcase_add_test(core, mig_params_check_ranges);
  suite_add_tcase(suite, core);
  return suite;
}
