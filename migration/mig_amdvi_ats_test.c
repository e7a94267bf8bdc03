/*
 * mig_amdvi_ats_test.c: an ATS invalidation in flight when the AMD IOMMU
 * migrates ("amd-iommu/ats", docs/amd-iommu.md).
 *
 * Method.  A source sends INVALIDATE_IOTLB_PAGES to a device ATC that has not
 * answered, then COMPLETION_WAIT (stalled behind it), and is saved at a cut
 * instant.  A destination whose clock stands elsewhere loads the stream; the
 * device re-registers its ATC (device state, copied as the device would
 * migrate it).  The unsettled invalidation must settle on the destination
 * after exactly the time it still had left at the cut (the countdown stops
 * while the VM is stopped), with the same event bytes, completion store and
 * ATC contents as an unmigrated reference run.  Also: no subsection when
 * nothing is owed (older streams load), save -> load -> save is identical,
 * and a hostile count or a non-zero unused slot is refused with its path.  TCases: cut, stream.
 */
#include "sim_base.h"

#include <check.h>

#include "amdvi.h"
#include "amdvi_guest.h"
#include "mig_err.h"
#include "mig_stream.h"
#include "mig_vmstate.h"
#include "sim.h"

#define RAM_BYTES (UINT64_C(8) << 20)
#define ATS_DEV 0x0123u
#define ATS_IOVA UINT64_C(0x5000)
#define ATS_GPA UINT64_C(0x600000)
#define STORE_GPA UINT64_C(0x300000)
#define MS_NS UINT64_C(1000000)
#define ISSUE_NS UINT64_C(1000)
#define CUT_NS UINT64_C(300000)
#define DEST_NS UINT64_C(5000000)      /* the destination's clock at load */
#define STREAM_BYTES_MAX (UINT64_C(1) << 20)
#define CONTROL \
  (AMDVI_CONTROL_EVTLOG_EN | AMDVI_CONTROL_EVTINT_EN | AMDVI_CONTROL_CMDBUF_EN | \
   (UINT64_C(1) << AMDVI_CONTROL_INV_TIMEOUT_SHIFT)) /* InvTimeOut 1 ms */

struct world {
  struct sim *sim;
  struct amdvi_guest guest;
  struct amdvi *dev;
  struct amdvi_atc atc;
};

static void world_init(struct world *w)
{
  struct sim_options options = {.seed = 3};
  w->sim = sim_create(&options);
  struct amdvi_config config;
  amdvi_config_default(&config);
  config.device_iotlb = true;
  amdvi_guest_init(&w->guest, w->sim, &config, RAM_BYTES);
  w->dev = w->guest.iommu;
}

static void tick(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  (void)event;
}

static void advance_to(struct world *w, uint64_t time_ns)
{
  struct sim_event event;
  sim_event_init(&event, tick, "test.tick");
  sim_event_schedule_at(w->sim, &event, time_ns);
  ck_assert_int_eq(sim_run(w->sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(sim_now_ns(w->sim), time_ns);
}

/* The source up to the cut: ATC warm, invalidation sent at ISSUE_NS, wait stalled. */
static void source_run(struct world *w, uint32_t quirks, uint64_t response_ns)
{
  world_init(w);
  amdvi_guest_setup(&w->guest, 8, 8, CONTROL);
  (void)amdvi_guest_dte_translate(&w->guest, ATS_DEV, 2, 4);
  (void)amdvi_guest_map(&w->guest, ATS_DEV, ATS_IOVA, ATS_GPA, 4096, true, true);
  uint64_t q[4];
  amdvi_guest_dte_get(&w->guest, ATS_DEV, q);
  q[1] |= UINT64_C(1) << 32; /* DTE.I */
  amdvi_guest_dte_set(&w->guest, ATS_DEV, q);
  amdvi_atc_init(&w->atc, ATS_DEV, quirks, response_ns);
  ck_assert(amdvi_atc_register(w->dev, &w->atc));
  struct amdvi_ats_request request = {.devid = ATS_DEV, .iova = ATS_IOVA};
  struct amdvi_ats_result result;
  amdvi_ats_translate(w->dev, &request, &w->atc, &result);
  ck_assert_int_eq(result.status, AMDVI_ATS_SUCCESS);
  advance_to(w, ISSUE_NS);
  ck_assert(amdvi_guest_command(&w->guest, (UINT64_C(4) << 60) | ATS_DEV, ATS_IOVA, false));
  ck_assert(amdvi_guest_completion_wait(&w->guest, STORE_GPA, 42, AMDVI_CW_STORE, true));
  advance_to(w, CUT_NS);
  (void)amdvi_step(w->dev);
  ck_assert_uint_eq(amdvi_ats_pending_count(w->dev), 1);
  ck_assert_uint_eq(amdvi_guest_read64(&w->guest, STORE_GPA), 0);
}

static void world_save(struct world *w, struct mig_membuf *stream)
{
  uint8_t buffer[4096];
  struct mig_writer writer;
  mig_membuf_init(stream, STREAM_BYTES_MAX);
  mig_writer_init(&writer, buffer, sizeof buffer, mig_membuf_write, stream);
  ck_assert_int_eq(mig_vmstate_save(&writer, amdvi_vmstate_desc(w->dev), w->dev, NULL), MIG_OK);
  ck_assert_int_eq(mig_writer_flush(&writer), MIG_OK);
}

static enum mig_err world_load(struct world *dst, const struct world *src, const uint8_t *bytes,
                               size_t count)
{
  world_init(dst);
  advance_to(dst, DEST_NS);
  memcpy(dst->guest.ram, src->guest.ram, RAM_BYTES);
  dst->guest.alloc_gpa = src->guest.alloc_gpa;
  dst->guest.cmd_entries = src->guest.cmd_entries;
  dst->guest.evt_entries = src->guest.evt_entries;
  dst->guest.cmd_tail = src->guest.cmd_tail;
  dst->guest.evt_head = src->guest.evt_head;
  dst->atc = src->atc; /* the device migrates its own ATC */
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, count);
  enum mig_err err = mig_vmstate_load(&reader, amdvi_vmstate_desc(dst->dev), dst->dev, 1);
  if (err == MIG_OK && !mig_reader_at_end(&reader)) err = MIG_ERR_TRAILING;
  ck_assert(amdvi_atc_register(dst->dev, &dst->atc));
  return err;
}

/* What an observer sees after settling: event words, store, ATC, counts. */
struct outcome {
  uint32_t events_count;
  uint64_t q0, q1;
  uint64_t store;
  uint32_t atc_valid_count;
  uint32_t pending_count;
  uint32_t commands_pending;
};

static void outcome_get(struct world *w, struct outcome *out)
{
  *out = (struct outcome){0};
  out->events_count = amdvi_guest_events_pending(&w->guest);
  if (out->events_count > 0) (void)amdvi_guest_event_pop(&w->guest, &out->q0, &out->q1);
  out->store = amdvi_guest_read64(&w->guest, STORE_GPA);
  out->atc_valid_count = amdvi_atc_valid_count(&w->atc);
  out->pending_count = amdvi_ats_pending_count(w->dev);
  out->commands_pending = amdvi_commands_pending(w->dev);
}

static void outcome_equal(const struct outcome *a, const struct outcome *b, const char *when)
{
  ck_assert_msg(a->events_count == b->events_count, "%s: events %u vs %u", when,
                a->events_count, b->events_count);
  ck_assert_msg(a->q0 == b->q0 && a->q1 == b->q1, "%s: event words differ", when);
  ck_assert_msg(a->store == b->store, "%s: store %" PRIu64 " vs %" PRIu64, when, a->store,
                b->store);
  ck_assert_msg(a->atc_valid_count == b->atc_valid_count, "%s: ATC", when);
  ck_assert_msg(a->pending_count == b->pending_count, "%s: pending", when);
  ck_assert_msg(a->commands_pending == b->commands_pending, "%s: commands", when);
}

/*
 * Runs reference and migrated worlds to (cut + delta) and (load + delta) for
 * delta = settle - 1 and settle, comparing outcomes each time.
 */
static void cut_check(uint32_t quirks, uint64_t response_ns, uint64_t settle_at_ns,
                      uint32_t events_want, uint64_t store_want, uint32_t atc_want)
{
  struct world ref, src, dst;
  source_run(&ref, quirks, response_ns);
  source_run(&src, quirks, response_ns);
  struct mig_membuf stream;
  world_save(&src, &stream);
  ck_assert_int_eq(world_load(&dst, &src, stream.bytes, stream.count), MIG_OK);
  ck_assert_uint_eq(amdvi_ats_pending_count(dst.dev), 1);
  uint64_t left_ns = settle_at_ns - CUT_NS;
  ck_assert_uint_eq(amdvi_ats_next_ns(dst.dev), DEST_NS + left_ns);
  ck_assert_uint_eq(amdvi_ats_next_ns(ref.dev), settle_at_ns);
  char names[128];
  ck_assert_uint_eq(amdvi_derived_check(dst.dev, names, sizeof names), 0);
  for (uint64_t delta = left_ns - 1; delta <= left_ns; delta++) {
    advance_to(&ref, CUT_NS + delta);
    advance_to(&dst, DEST_NS + delta);
    (void)amdvi_step(ref.dev);
    (void)amdvi_step(dst.dev);
    struct outcome want, got;
    outcome_get(&ref, &want);
    outcome_get(&dst, &got);
    outcome_equal(&want, &got, delta < left_ns ? "before settling" : "settled");
    if (delta == left_ns) {
      ck_assert_uint_eq(want.events_count, events_want);
      ck_assert_uint_eq(want.store, store_want);
      ck_assert_uint_eq(want.atc_valid_count, atc_want);
      ck_assert_uint_eq(want.pending_count, 0);
      if (events_want == 1) {
        ck_assert_uint_eq(want.q0, (uint64_t)ATS_DEV | (uint64_t)AMDVI_EVENT_IOTLB_INV_TIMEOUT << 60);
        ck_assert_uint_eq(want.q1, AMDVI_GUEST_CMD_GPA);
      }
    } else {
      ck_assert_uint_eq(want.store, 0);
      ck_assert_uint_eq(want.pending_count, 1);
    }
  }
  mig_membuf_deinit(&stream);
  sim_destroy(ref.sim);
  sim_destroy(src.sim);
  sim_destroy(dst.sim);
}

/* mig_amdvi_ats_cut_timeout: a never-answering device times out 1 ms after issue, migrated or not. */
START_TEST(mig_amdvi_ats_cut_timeout)
{
  cut_check(AMDVI_ATC_QUIRK_NO_COMPLETE, 0, ISSUE_NS + MS_NS, 1, 42, 1);
}
END_TEST

/* mig_amdvi_ats_cut_answer: a device answering 0.6 ms after issue completes on the destination. */
START_TEST(mig_amdvi_ats_cut_answer)
{
  cut_check(0, 600000, ISSUE_NS + 600000, 0, 42, 0);
}
END_TEST

static size_t find_bytes(const uint8_t *bytes, size_t count, const char *text)
{
  size_t length = strlen(text);
  for (size_t i = 0; i + length <= count; i++) {
    if (memcmp(bytes + i, text, length) == 0) return i;
  }
  return SIZE_MAX;
}

/* mig_amdvi_ats_subsection_only_when_owed: idle streams carry no amd-iommu/ats. */
START_TEST(mig_amdvi_ats_subsection_only_when_owed)
{
  struct world src;
  source_run(&src, AMDVI_ATC_QUIRK_NO_COMPLETE, 0);
  struct mig_membuf busy;
  world_save(&src, &busy);
  ck_assert_uint_ne(find_bytes(busy.bytes, busy.count, "amd-iommu/ats"), SIZE_MAX);
  advance_to(&src, ISSUE_NS + MS_NS);
  (void)amdvi_step(&*src.dev);
  ck_assert_uint_eq(amdvi_ats_pending_count(src.dev), 0);
  struct mig_membuf idle;
  world_save(&src, &idle);
  ck_assert_uint_eq(find_bytes(idle.bytes, idle.count, "amd-iommu/ats"), SIZE_MAX);
  ck_assert_uint_lt(idle.count, busy.count);
  printf("amd-iommu stream: %zu bytes idle, %zu with one ATS invalidation owed\n", idle.count,
         busy.count);
  struct world dst;
  ck_assert_int_eq(world_load(&dst, &src, idle.bytes, idle.count), MIG_OK);
  ck_assert_uint_eq(amdvi_ats_pending_count(dst.dev), 0);
  mig_membuf_deinit(&busy);
  mig_membuf_deinit(&idle);
  sim_destroy(src.sim);
  sim_destroy(dst.sim);
}
END_TEST

/* mig_amdvi_ats_hostile_count: a pending count above the bound is refused with its path. */
START_TEST(mig_amdvi_ats_hostile_count)
{
  struct world src;
  source_run(&src, AMDVI_ATC_QUIRK_NO_COMPLETE, 0);
  struct mig_membuf stream;
  world_save(&src, &stream);
  size_t at = find_bytes(stream.bytes, stream.count, "amd-iommu/ats");
  ck_assert_uint_ne(at, SIZE_MAX);
  size_t count_at = at + strlen("amd-iommu/ats") + 4; /* be32 version, then be32 count */
  ck_assert_uint_eq(stream.bytes[count_at + 3], 1);
  stream.bytes[count_at + 3] = AMDVI_ATS_PENDING_MAX + 1;
  struct world dst;
  ck_assert_int_ne(world_load(&dst, &src, stream.bytes, stream.count), MIG_OK);
  ck_assert_msg(strstr(amdvi_migration_error(dst.dev), "amd-iommu/ats/ats_pending_count") != NULL,
                "%s", amdvi_migration_error(dst.dev));
  mig_membuf_deinit(&stream);
  sim_destroy(src.sim);
  sim_destroy(dst.sim);
}
END_TEST

/* mig_amdvi_ats_canonical: save -> load -> save is byte-identical; a non-zero unused slot is refused. */
START_TEST(mig_amdvi_ats_canonical)
{
  struct world src;
  source_run(&src, 0, 600000);
  struct mig_membuf first;
  world_save(&src, &first);
  struct world dst;
  ck_assert_int_eq(world_load(&dst, &src, first.bytes, first.count), MIG_OK);
  struct mig_membuf second;
  world_save(&dst, &second);
  ck_assert_uint_eq(first.count, second.count);
  ck_assert(memcmp(first.bytes, second.bytes, first.count) == 0);
  size_t at = find_bytes(first.bytes, first.count, "amd-iommu/ats");
  ck_assert_uint_ne(at, SIZE_MAX);
  size_t slot1_devid = at + strlen("amd-iommu/ats") + 4 + 4 + 2; /* version, count, slot 0 */
  ck_assert_uint_eq(first.bytes[slot1_devid + 1], 0);
  first.bytes[slot1_devid + 1] = 0x42;
  struct world bad;
  ck_assert_int_ne(world_load(&bad, &src, first.bytes, first.count), MIG_OK);
  ck_assert_msg(strstr(amdvi_migration_error(bad.dev), "unused slot 1") != NULL, "%s",
                amdvi_migration_error(bad.dev));
  mig_membuf_deinit(&first);
  mig_membuf_deinit(&second);
  sim_destroy(src.sim);
  sim_destroy(dst.sim);
  sim_destroy(bad.sim);
}
END_TEST

Suite *mig_amdvi_ats_suite(void)
{
  Suite *suite = suite_create("mig_amdvi_ats");
  TCase *cut = tcase_create("cut");
  tcase_add_test(cut, mig_amdvi_ats_cut_timeout);
  tcase_add_test(cut, mig_amdvi_ats_cut_answer);
  suite_add_tcase(suite, cut);
  TCase *stream = tcase_create("stream");
  tcase_add_test(stream, mig_amdvi_ats_subsection_only_when_owed);
  tcase_add_test(stream, mig_amdvi_ats_hostile_count);
  tcase_add_test(stream, mig_amdvi_ats_canonical);
  suite_add_tcase(suite, stream);
  return suite;
}
