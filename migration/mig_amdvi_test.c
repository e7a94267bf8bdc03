/*
 * mig_amdvi_test.c: migration of the AMD IOMMU model, checked against the 14
 * invariants of spec §9.4, in the default profile and in the qemu-10.1
 * profile (QEMU's saved-state set and quirks).
 *
 * Method.  A fixed guest script (setup, queued commands, translations, faults,
 * a ring wrap, event-log overflow, device reset, re-setup) runs on a source
 * device.  At each cut point the device is saved with mig_vmstate into a
 * buffer, guest RAM is copied, and a fresh destination with the same
 * configuration loads the stream.  "At cut" checks compare the destination
 * with an unmigrated replay of the same prefix doing the same action (probes,
 * a doorbell, a reset, RO/W1C writes, one event); "at end" checks run the rest
 * of the script on the destination and compare with an unmigrated reference
 * run.  Each invariant is reported by name; the default profile must pass all
 * of them and the qemu-10.1 profile must fail exactly the ones the spec
 * predicts.  TCases: invariants, config, stream.
 */
#include "sim_base.h"

#include <check.h>

#include <jansson.h>

#include "amdvi.h"
#include "amdvi_guest.h"
#include "mig_err.h"
#include "mig_stream.h"
#include "mig_vmstate.h"
#include "sim.h"

#define RAM_BYTES (UINT64_C(12) << 20)
#define STORE_GPA UINT64_C(0x300000)    /* completion-wait slots, 8 bytes each */
#define STORE_SLOTS 1024u
#define DATA_GPA UINT64_C(0x900000)
#define STALE_GPA UINT64_C(0xA00000)
#define FRESH_GPA UINT64_C(0xB00000)
#define DEV_A 0x0010u                   /* mode 3, pages 0x1000-0x8000 */
#define DEV_B 0x0011u                   /* mode 1; its PTE changes without invalidation */
#define DEV_PASS 0x0012u                /* V = 0 */
#define DEV_IRQ 0x0042u                 /* IntCtl 10b, four 128-bit IRTEs */
#define DEV_IRQ_PASS 0x0043u            /* IntCtl 01b */
#define STREAM_BYTES_MAX (UINT64_C(1) << 20)
#define CONTROL_BASE \
  (AMDVI_CONTROL_EVTLOG_EN | AMDVI_CONTROL_EVTINT_EN | AMDVI_CONTROL_COMWAIT_EN | \
   AMDVI_CONTROL_GA_EN)

/* The 14 invariants of spec §9.4, by name. */
enum invariant {
  INV_REGISTER_FILE = 1,
  INV_DERIVED_STATE,
  INV_COMMAND_EXACTLY_ONCE,
  INV_NO_REPLAY,
  INV_EVENT_LOG,
  INV_RING_WRAP,
  INV_TRANSLATION,
  INV_CACHE,
  INV_DEVICE_MODE,
  INV_IRQ_REMAP,
  INV_OWN_MSI,
  INV_TOPOLOGY,
  INV_STREAM,
  INV_RESET,
  INV_COUNT
};

static const char *const invariant_names[INV_COUNT] = {
    [INV_REGISTER_FILE] = "1-register-file",  [INV_DERIVED_STATE] = "2-derived-state",
    [INV_COMMAND_EXACTLY_ONCE] = "3-command-exactly-once",
    [INV_NO_REPLAY] = "4-no-replay",          [INV_EVENT_LOG] = "5-event-log",
    [INV_RING_WRAP] = "6-ring-wrap",          [INV_TRANSLATION] = "7-translation",
    [INV_CACHE] = "8-cache",                  [INV_DEVICE_MODE] = "9-device-mode",
    [INV_IRQ_REMAP] = "10-irq-remap",         [INV_OWN_MSI] = "11-own-msi",
    [INV_TOPOLOGY] = "12-topology",           [INV_STREAM] = "13-stream",
    [INV_RESET] = "14-reset",
};

/* Cut points, as the step after which the device migrates. */
enum step {
  STEP_SETUP,          /* cut "idle" */
  STEP_QUEUE,          /* cut "commands pending, CmdBufEn=0" */
  STEP_TRANSLATE,      /* cut "device translated, IOTLB warm, one PTE stale" */
  STEP_FAULTS,         /* cut "Status interrupt bits pending" */
  STEP_WRAP,           /* cut "right after a ring wrap" */
  STEP_OVERFLOW,       /* cut "event log full with overflow set" */
  STEP_DRAIN,
  STEP_RESET,          /* cut "after a device reset" */
  STEP_RESETUP,
  STEP_COUNT
};

static const uint32_t cuts[] = {STEP_SETUP, STEP_QUEUE, STEP_TRANSLATE, STEP_FAULTS,
                                STEP_WRAP, STEP_OVERFLOW, STEP_RESET};

struct world {
  struct sim *sim;
  struct amdvi_guest guest;
  struct amdvi *dev;
  uint64_t stores_count;             /* completion waits issued (guest-side counter) */
};

/* ------------------------------------------------------------ the world */

static void world_init(struct world *w, const struct amdvi_config *config)
{
  struct sim_options options = {.seed = 7};
  w->sim = sim_create(&options);
  amdvi_guest_init(&w->guest, w->sim, config, RAM_BYTES);
  w->dev = w->guest.iommu;
  w->stores_count = 0;
}

static void world_deinit(struct world *w)
{
  sim_destroy(w->sim);
}

static void store(struct world *w, uint64_t flags)
{
  uint64_t slot = w->stores_count++ % STORE_SLOTS;
  ck_assert(amdvi_guest_completion_wait(&w->guest, STORE_GPA + 8 * slot,
                                        UINT64_C(0x5EED000000000000) | w->stores_count, flags,
                                        true));
}

static void fault(struct world *w, uint64_t iova)
{
  struct amdvi_xlate_result result;
  amdvi_translate(w->dev, DEV_A, iova, true, &result);
}

static void setup_tables(struct world *w)
{
  (void)amdvi_guest_dte_translate(&w->guest, DEV_A, 3, 1);
  for (uint64_t page = 1; page <= 8; page++) {
    (void)amdvi_guest_map(&w->guest, DEV_A, page << 12, DATA_GPA + (page << 12), 4096, true,
                          page % 2 == 0);
  }
  (void)amdvi_guest_dte_translate(&w->guest, DEV_B, 1, 2);
  (void)amdvi_guest_map(&w->guest, DEV_B, 0x1000, STALE_GPA, 4096, true, true);
  uint64_t table = amdvi_guest_page_alloc(&w->guest);
  uint64_t q[4] = {0, 0, 1 | (UINT64_C(8) << 1) | table | (UINT64_C(2) << 60), 0};
  amdvi_guest_dte_set(&w->guest, DEV_IRQ, q);
  for (uint64_t i = 0; i < 4; i++) {
    amdvi_guest_write64(&w->guest, table + 16 * i, 1 | ((0x10 + i) << 8));
    amdvi_guest_write64(&w->guest, table + 16 * i + 8, 0x60 + i);
  }
  q[2] = 1 | (UINT64_C(1) << 60);
  amdvi_guest_dte_set(&w->guest, DEV_IRQ_PASS, q);
}

/* One step of the guest script; deterministic. */
static void step_run(struct world *w, uint32_t step)
{
  switch (step) {
  case STEP_SETUP:
    amdvi_guest_setup(&w->guest, 8, 8, CONTROL_BASE);
    setup_tables(w);
    break;
  case STEP_QUEUE:
    for (int i = 0; i < 3; i++) store(w, AMDVI_CW_STORE);
    store(w, AMDVI_CW_STORE | AMDVI_CW_INTERRUPT);
    break;
  case STEP_TRANSLATE:
    amdvi_mmio_write(w->dev, AMDVI_MMIO_CONTROL, 8,
                     AMDVI_CONTROL_IOMMU_EN | CONTROL_BASE | AMDVI_CONTROL_CMDBUF_EN);
    ck_assert(amdvi_guest_command(&w->guest, (UINT64_C(2) << 60) | DEV_A, 0, true));
    ck_assert(amdvi_guest_command(&w->guest, (UINT64_C(2) << 60) | DEV_B, 0, true));
    for (uint64_t page = 1; page <= 8; page++) fault(w, page << 12);
    fault(w, 0x1000); /* warm DEV_B too */
    {
      struct amdvi_xlate_result result;
      amdvi_translate(w->dev, DEV_B, 0x1000, false, &result);
    }
    /* The guest changes DEV_B's mapping and does not invalidate (spec §9.4 item 8). */
    (void)amdvi_guest_map(&w->guest, DEV_B, 0x1000, FRESH_GPA, 4096, true, true);
    break;
  case STEP_FAULTS:
    for (uint64_t i = 0; i < 3; i++) fault(w, UINT64_C(0x100000) + (i << 12));
    /* Five commands, one doorbell: with a batch bound the cut falls mid-batch. */
    for (int i = 0; i < 4; i++) {
      uint64_t slot = w->stores_count++ % STORE_SLOTS;
      ck_assert(amdvi_guest_completion_wait(&w->guest, STORE_GPA + 8 * slot, w->stores_count,
                                            AMDVI_CW_STORE, false));
    }
    store(w, AMDVI_CW_INTERRUPT);
    break;
  case STEP_WRAP:
    /* Issue commands until the ring has wrapped and head == tail == 0. */
    while (w->guest.cmd_tail != 0) store(w, AMDVI_CW_STORE);
    break;
  case STEP_OVERFLOW:
    for (uint64_t i = 0; i < 260; i++) fault(w, UINT64_C(0x200000) + (i << 12));
    break;
  case STEP_DRAIN: {
    uint64_t q0, q1;
    for (int i = 0; i < 10; i++) (void)amdvi_guest_event_pop(&w->guest, &q0, &q1);
    amdvi_mmio_write(w->dev, AMDVI_MMIO_STATUS, 8, AMDVI_STATUS_EVT_OVERFLOW);
    fault(w, 0x300000);
    for (int i = 0; i < 5; i++) store(w, AMDVI_CW_STORE | AMDVI_CW_INTERRUPT);
    break;
  }
  case STEP_RESET:
    amdvi_reset(w->dev);
    break;
  case STEP_RESETUP:
    amdvi_guest_setup(&w->guest, 9, 8, CONTROL_BASE | AMDVI_CONTROL_CMDBUF_EN);
    ck_assert(amdvi_guest_command(&w->guest, (UINT64_C(2) << 60) | DEV_A, 0, true));
    for (int i = 0; i < 3; i++) store(w, AMDVI_CW_STORE | AMDVI_CW_INTERRUPT);
    fault(w, 0x400000);
    break;
  default: ck_abort_msg("step %u", step);
  }
}

static void world_prefix(struct world *w, const struct amdvi_config *config, uint32_t cut)
{
  world_init(w, config);
  for (uint32_t step = 0; step <= cut; step++) step_run(w, step);
}

/* ------------------------------------------------------------ migration */

static enum mig_err world_save(struct world *w, struct mig_membuf *stream)
{
  uint8_t buffer[4096];
  struct mig_writer writer;
  mig_membuf_init(stream, STREAM_BYTES_MAX);
  mig_writer_init(&writer, buffer, sizeof buffer, mig_membuf_write, stream);
  enum mig_err err = mig_vmstate_save(&writer, amdvi_vmstate_desc(w->dev), w->dev, NULL);
  if (err == MIG_OK) err = mig_writer_flush(&writer);
  return err;
}

static enum mig_err load_bytes(struct world *dst, const uint8_t *bytes, size_t count,
                               int32_t version_id, struct mig_error *error)
{
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, count);
  enum mig_err err = mig_vmstate_load(&reader, amdvi_vmstate_desc(dst->dev), dst->dev,
                                      version_id);
  if (error != NULL) *error = *mig_reader_error(&reader);
  if (err == MIG_OK && !mig_reader_at_end(&reader)) err = MIG_ERR_TRAILING;
  return err;
}

/* A fresh destination with config, the source's RAM and driver state, loaded from stream. */
static enum mig_err world_migrate(struct world *dst, const struct amdvi_config *config,
                                  const struct world *src, const struct mig_membuf *stream)
{
  world_init(dst, config);
  memcpy(dst->guest.ram, src->guest.ram, RAM_BYTES);
  dst->guest.alloc_gpa = src->guest.alloc_gpa;
  dst->guest.cmd_entries = src->guest.cmd_entries;
  dst->guest.evt_entries = src->guest.evt_entries;
  dst->guest.cmd_tail = src->guest.cmd_tail;
  dst->guest.evt_head = src->guest.evt_head;
  dst->guest.msi_count = src->guest.msi_count;
  dst->guest.msi_digest = src->guest.msi_digest;
  dst->stores_count = src->stores_count;
  return load_bytes(dst, stream->bytes, stream->count, 1, NULL);
}

/* --------------------------------------------------------------- probes */

struct probe_results {
  struct amdvi_xlate_result xlate[12];
  struct amdvi_msi msi[6];
  enum amdvi_irq_status irq[6];
};

static void probes_run(struct world *w, struct probe_results *out)
{
  static const struct {
    uint16_t devid;
    uint64_t iova;
    bool is_write;
  } xlate[12] = {
      {DEV_A, 0x1000, false}, {DEV_A, 0x2000, true},  {DEV_A, 0x3000, true},
      {DEV_A, 0x8000, false}, {DEV_A, 0x9000, false}, {DEV_A, 0x7FFFFF000, false},
      {DEV_B, 0x1000, false}, {DEV_B, 0x2000, true},  {DEV_PASS, 0x5000, true},
      {DEV_A, 0xFEE00000, true}, {0x0900, 0x1000, false}, {DEV_A, 0x2000, false},
  };
  static const struct {
    uint16_t devid;
    uint32_t data;
  } irq[6] = {{DEV_IRQ, 0}, {DEV_IRQ, 3}, {DEV_IRQ, 9}, {DEV_IRQ_PASS, 0x31},
              {DEV_PASS, 0x22}, {DEV_IRQ, 4u << 8}};
  memset(out, 0, sizeof(*out));
  for (size_t i = 0; i < SIM_ARRAY_COUNT(xlate); i++) {
    amdvi_translate(w->dev, xlate[i].devid, xlate[i].iova, xlate[i].is_write, &out->xlate[i]);
  }
  for (size_t i = 0; i < SIM_ARRAY_COUNT(irq); i++) {
    struct amdvi_msi in = {.address = 0xFEE00000, .data = irq[i].data};
    out->irq[i] = amdvi_remap_msi(w->dev, irq[i].devid, &in, &out->msi[i]);
  }
}

#define PROBE_STALE 6u /* DEV_B 0x1000: its PTE changed without invalidation */

/* Compares translation probes; skip_stale leaves out the one whose table changed. */
static bool xlate_equal(const struct probe_results *a, const struct probe_results *b,
                        bool skip_stale)
{
  for (size_t i = 0; i < SIM_ARRAY_COUNT(a->xlate); i++) {
    if (skip_stale && i == PROBE_STALE) continue;
    const struct amdvi_xlate_result *x = &a->xlate[i], *y = &b->xlate[i];
    if (x->status != y->status || x->address != y->address || x->read_ok != y->read_ok ||
        x->write_ok != y->write_ok || x->event_code != y->event_code) {
      return false;
    }
  }
  return true;
}

static bool irq_equal(const struct probe_results *a, const struct probe_results *b)
{
  for (size_t i = 0; i < SIM_ARRAY_COUNT(a->irq); i++) {
    if (a->irq[i] != b->irq[i] || a->msi[i].address != b->msi[i].address ||
        a->msi[i].data != b->msi[i].data) {
      return false;
    }
  }
  return true;
}

static bool registers_equal(struct world *a, struct world *b, uint32_t size)
{
  for (uint32_t offset = 0; offset < AMDVI_MMIO_BYTES; offset += size) {
    if (amdvi_mmio_read(a->dev, offset, size) != amdvi_mmio_read(b->dev, offset, size)) {
      return false;
    }
  }
  return true;
}

static bool pci_equal(struct world *a, struct world *b)
{
  for (uint32_t offset = 0; offset < AMDVI_PCI_CONFIG_BYTES; offset += 4) {
    if (amdvi_pci_config_read(a->dev, offset, 4) != amdvi_pci_config_read(b->dev, offset, 4)) {
      return false;
    }
  }
  return true;
}

static uint64_t reg(struct world *w, uint32_t offset)
{
  return amdvi_mmio_read(w->dev, offset, 8);
}

/* -------------------------------------------------------------- checks */

struct cut_context {
  const struct amdvi_config *config;
  uint32_t cut;
  struct world *src;                 /* stopped at the cut */
  const struct mig_membuf *stream;
};

/* An unmigrated replay of the prefix and a destination loaded from the stream. */
struct pair {
  struct world plain;
  struct world migrated;
  bool loaded;
};

static void pair_init(struct pair *pair, const struct cut_context *ctx)
{
  world_prefix(&pair->plain, ctx->config, ctx->cut);
  pair->loaded = world_migrate(&pair->migrated, ctx->config, ctx->src, ctx->stream) == MIG_OK;
}

static void pair_deinit(struct pair *pair)
{
  world_deinit(&pair->plain);
  world_deinit(&pair->migrated);
}

/* RO and W1C behave the same: all-ones then zeros to every register, both sides. */
static bool check_register_file(const struct cut_context *ctx, struct world *dst)
{
  if (!registers_equal(ctx->src, dst, 8) || !registers_equal(ctx->src, dst, 4) ||
      !registers_equal(ctx->src, dst, 2)) {
    return false;
  }
  static const uint32_t inert[] = {AMDVI_MMIO_EFR, AMDVI_MMIO_EXCL_BASE, AMDVI_MMIO_EXCL_LIMIT,
                                   AMDVI_MMIO_STATUS, 0x100, AMDVI_MMIO_PPRLOG_HEAD};
  struct pair pair;
  pair_init(&pair, ctx);
  bool ok = pair.loaded;
  for (size_t i = 0; ok && i < SIM_ARRAY_COUNT(inert); i++) {
    amdvi_mmio_write(pair.plain.dev, inert[i], 8, UINT64_MAX);
    amdvi_mmio_write(pair.migrated.dev, inert[i], 8, UINT64_MAX);
    ok = registers_equal(&pair.plain, &pair.migrated, 8);
  }
  pair_deinit(&pair);
  return ok;
}

/* Pending commands run once on a doorbell after load, none of the completed ones again. */
static bool check_no_replay(const struct cut_context *ctx)
{
  struct pair pair;
  pair_init(&pair, ctx);
  bool ok = pair.loaded;
  if (ok) {
    struct amdvi_stats before, after_plain, after_migrated;
    amdvi_stats_get(pair.migrated.dev, &before);
    ok = before.commands_count == 0;
    amdvi_guest_doorbell(&pair.plain.guest);
    amdvi_guest_doorbell(&pair.migrated.guest);
    amdvi_stats_get(pair.plain.dev, &after_plain);
    amdvi_stats_get(pair.migrated.dev, &after_migrated);
    struct amdvi_stats src_stats;
    amdvi_stats_get(ctx->src->dev, &src_stats);
    uint64_t ran_plain = after_plain.commands_count - src_stats.commands_count;
    ok = ok && after_migrated.commands_count == ran_plain &&
         pair.migrated.guest.msi_count == pair.plain.guest.msi_count;
  }
  pair_deinit(&pair);
  return ok;
}

/* The next event after resume goes where the unmigrated device puts it (or is dropped). */
static bool check_event_log(const struct cut_context *ctx, struct world *dst)
{
  static const uint32_t regs[] = {AMDVI_MMIO_EVTLOG_HEAD, AMDVI_MMIO_EVTLOG_TAIL,
                                  AMDVI_MMIO_STATUS};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(regs); i++) {
    if (reg(ctx->src, regs[i]) != reg(dst, regs[i])) return false;
  }
  struct pair pair;
  pair_init(&pair, ctx);
  bool ok = pair.loaded;
  /* An illegal command raises an event whatever the translation state. */
  struct world *sides[2] = {&pair.plain, &pair.migrated};
  for (int i = 0; ok && i < 2; i++) {
    struct world *w = sides[i];
    uint64_t control = reg(w, AMDVI_MMIO_CONTROL) | AMDVI_CONTROL_CMDBUF_EN;
    amdvi_mmio_write(w->dev, AMDVI_MMIO_CONTROL, 8, control);
    ok = amdvi_guest_command(&w->guest, UINT64_C(0xF) << 60, 0, true);
  }
  ok = ok && reg(&pair.plain, AMDVI_MMIO_EVTLOG_TAIL) ==
                 reg(&pair.migrated, AMDVI_MMIO_EVTLOG_TAIL) &&
       reg(&pair.plain, AMDVI_MMIO_STATUS) == reg(&pair.migrated, AMDVI_MMIO_STATUS) &&
       memcmp(pair.plain.guest.ram + AMDVI_GUEST_EVT_GPA,
              pair.migrated.guest.ram + AMDVI_GUEST_EVT_GPA, 0x80000) == 0;
  pair_deinit(&pair);
  return ok;
}

/* Probes at the cut: translation (7), cache (8), interrupt remapping (10). */
static void check_probes(const struct cut_context *ctx, bool *xlate_ok, bool *cache_ok,
                         bool *irq_ok)
{
  struct pair pair;
  pair_init(&pair, ctx);
  struct probe_results plain, migrated;
  probes_run(&pair.plain, &plain);
  probes_run(&pair.migrated, &migrated);
  /* Invariant 7 holds "given no guest table changes": the stale probe is invariant 8's. */
  *xlate_ok = pair.loaded && xlate_equal(&plain, &migrated, true);
  *irq_ok = pair.loaded && irq_equal(&plain, &migrated);
  /* Cache: nothing is served from the IOTLB after a load, and DEV_B's stale
     translation (STALE_GPA, cached at the source) is not what the destination returns. */
  bool ok = pair.loaded;
  for (size_t i = 0; ok && i < SIM_ARRAY_COUNT(migrated.xlate); i++) {
    ok = !migrated.xlate[i].iotlb_hit || i == 11; /* probe 11 repeats probe 1's page */
  }
  *cache_ok =
      ok && (ctx->cut < STEP_TRANSLATE || migrated.xlate[PROBE_STALE].address != STALE_GPA);
  pair_deinit(&pair);
}

static bool check_device_mode(const struct cut_context *ctx, struct world *dst)
{
  static const uint16_t devids[] = {DEV_A, DEV_B, DEV_PASS, DEV_IRQ};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(devids); i++) {
    if (amdvi_device_translated(ctx->src->dev, devids[i]) !=
        amdvi_device_translated(dst->dev, devids[i])) {
      return false;
    }
  }
  return true;
}

/* The IOMMU's own interrupt path: AMDVI-PCI config, MSI after resume. */
static bool check_own_msi(const struct cut_context *ctx, struct world *dst)
{
  if (!pci_equal(ctx->src, dst)) return false;
  struct pair pair;
  pair_init(&pair, ctx);
  bool ok = pair.loaded;
  struct world *sides[2] = {&pair.plain, &pair.migrated};
  for (int i = 0; ok && i < 2; i++) {
    amdvi_mmio_write(sides[i]->dev, AMDVI_MMIO_STATUS, 8, UINT64_MAX);
    amdvi_mmio_write(sides[i]->dev, AMDVI_MMIO_CONTROL, 8,
                     reg(sides[i], AMDVI_MMIO_CONTROL) | AMDVI_CONTROL_CMDBUF_EN);
    ok = amdvi_guest_completion_wait(&sides[i]->guest, STORE_GPA, 1, AMDVI_CW_INTERRUPT, true);
  }
  ok = ok && pair.plain.guest.msi_count == pair.migrated.guest.msi_count &&
       pair.plain.guest.msi_digest == pair.migrated.guest.msi_digest;
  pair_deinit(&pair);
  return ok;
}

/* Save -> load -> save is byte-identical. */
static bool check_stream(const struct cut_context *ctx, struct world *dst)
{
  struct mig_membuf again;
  bool ok = world_save(dst, &again) == MIG_OK && again.count == ctx->stream->count &&
            memcmp(again.bytes, ctx->stream->bytes, again.count) == 0;
  mig_membuf_deinit(&again);
  return ok;
}

/* Reset after load equals reset without migration. */
static bool check_reset(const struct cut_context *ctx)
{
  struct pair pair;
  pair_init(&pair, ctx);
  bool ok = pair.loaded;
  amdvi_reset(pair.plain.dev);
  amdvi_reset(pair.migrated.dev);
  char plain_names[256], migrated_names[256];
  ok = ok && registers_equal(&pair.plain, &pair.migrated, 8) &&
       pci_equal(&pair.plain, &pair.migrated) &&
       amdvi_derived_check(pair.plain.dev, plain_names, sizeof plain_names) ==
           amdvi_derived_check(pair.migrated.dev, migrated_names, sizeof migrated_names) &&
       strcmp(plain_names, migrated_names) == 0;
  pair_deinit(&pair);
  return ok;
}

/* Runs one cut: returns the bitmask (1 << invariant) of invariants that failed. */
static uint32_t cut_run(const struct amdvi_config *config, uint32_t cut,
                        const struct world *reference, const struct probe_results *ref_probes)
{
  uint32_t failed = 0;
#define FAIL_IF_(cond, inv) \
  do { \
    if (cond) failed |= UINT32_C(1) << (inv); \
  } while (0)
  struct world src, dst;
  world_prefix(&src, config, cut);
  struct amdvi_stats src_stats;
  amdvi_stats_get(src.dev, &src_stats);
  struct mig_membuf stream;
  ck_assert_int_eq(world_save(&src, &stream), MIG_OK);
  ck_assert_int_eq(world_migrate(&dst, config, &src, &stream), MIG_OK);
  struct cut_context ctx = {.config = config, .cut = cut, .src = &src, .stream = &stream};
  char names[256];
  FAIL_IF_(!check_register_file(&ctx, &dst), INV_REGISTER_FILE);
  FAIL_IF_(amdvi_derived_check(dst.dev, names, sizeof names) != 0, INV_DERIVED_STATE);
  FAIL_IF_(!check_no_replay(&ctx), INV_NO_REPLAY);
  FAIL_IF_(!check_event_log(&ctx, &dst), INV_EVENT_LOG);
  uint64_t ring_bytes = (uint64_t)dst.guest.cmd_entries * 16;
  FAIL_IF_(reg(&dst, AMDVI_MMIO_CMDBUF_HEAD) >= ring_bytes, INV_RING_WRAP);
  bool xlate_ok, cache_ok, irq_ok;
  check_probes(&ctx, &xlate_ok, &cache_ok, &irq_ok);
  FAIL_IF_(!xlate_ok, INV_TRANSLATION);
  FAIL_IF_(!cache_ok, INV_CACHE);
  FAIL_IF_(!irq_ok, INV_IRQ_REMAP);
  FAIL_IF_(!check_device_mode(&ctx, &dst), INV_DEVICE_MODE);
  FAIL_IF_(!check_own_msi(&ctx, &dst), INV_OWN_MSI);
  FAIL_IF_(!check_stream(&ctx, &dst), INV_STREAM);
  FAIL_IF_(!check_reset(&ctx), INV_RESET);
  /* The rest of the script on the destination, against the unmigrated reference. */
  for (uint32_t step = cut + 1; step < STEP_COUNT; step++) step_run(&dst, step);
  struct amdvi_stats dst_stats, ref_stats;
  amdvi_stats_get(dst.dev, &dst_stats);
  amdvi_stats_get(reference->dev, &ref_stats);
  bool stores_equal = memcmp(dst.guest.ram + STORE_GPA, reference->guest.ram + STORE_GPA,
                             8 * STORE_SLOTS) == 0;
  FAIL_IF_(!stores_equal || src_stats.commands_count + dst_stats.commands_count !=
                                ref_stats.commands_count ||
               amdvi_commands_pending(dst.dev) != 0,
           INV_COMMAND_EXACTLY_ONCE);
  FAIL_IF_(reg(&dst, AMDVI_MMIO_CMDBUF_HEAD) !=
               reg((struct world *)reference, AMDVI_MMIO_CMDBUF_HEAD),
           INV_RING_WRAP);
  struct probe_results probes;
  probes_run(&dst, &probes);
  FAIL_IF_(!xlate_equal(&probes, ref_probes, false), INV_TRANSLATION);
  FAIL_IF_(!irq_equal(&probes, ref_probes), INV_IRQ_REMAP);
#undef FAIL_IF_
  mig_membuf_deinit(&stream);
  world_deinit(&dst);
  world_deinit(&src);
  return failed;
}

/* Topology/config (12): a mismatched destination must refuse; an implicit PCI blocks save. */
static bool topology_holds(const struct amdvi_config *config)
{
  struct world src;
  world_prefix(&src, config, STEP_TRANSLATE);
  struct mig_membuf stream;
  ck_assert_int_eq(world_save(&src, &stream), MIG_OK);
  bool ok = true;
  for (int variant = 0; variant < 3; variant++) {
    struct amdvi_config other = *config;
    if (variant == 0) other.pci_bdf = (uint16_t)(config->pci_bdf + 8);
    if (variant == 1) other.xtsup = !config->xtsup;
    if (variant == 2) other.dma_translation = !config->dma_translation;
    struct world dst;
    bool refused = world_migrate(&dst, &other, &src, &stream) != MIG_OK;
    ok = ok && refused;
    world_deinit(&dst);
  }
  struct amdvi_config implicit = *config;
  implicit.pci_placed_explicitly = false;
  struct world blocked;
  world_prefix(&blocked, &implicit, STEP_SETUP);
  struct mig_membuf refused;
  bool save_refused = world_save(&blocked, &refused) == MIG_ERR_HOOK;
  ok = ok && save_refused;
  mig_membuf_deinit(&refused);
  world_deinit(&blocked);
  mig_membuf_deinit(&stream);
  world_deinit(&src);
  return ok;
}

/*
 * Every invariant over every cut; returns the failed mask and prints the
 * report.  batch_max > 0 bounds commands per doorbell so that the "status"
 * cut falls mid-batch (commands pending with CmdBufEn=1).
 */
static uint32_t invariants_run(enum amdvi_profile profile, uint32_t batch_max)
{
  struct amdvi_config config;
  amdvi_config_default(&config);
  config.profile = profile;
  config.commands_per_step_max = batch_max;
  struct world reference;
  world_prefix(&reference, &config, STEP_COUNT - 1);
  struct probe_results ref_probes;
  probes_run(&reference, &ref_probes);
  uint32_t failed = 0;
  for (size_t i = 0; i < SIM_ARRAY_COUNT(cuts); i++) {
    uint32_t cut_failed = cut_run(&config, cuts[i], &reference, &ref_probes);
    for (uint32_t inv = 1; inv < INV_COUNT; inv++) {
      if (cut_failed & (UINT32_C(1) << inv)) {
        printf("amdvi %s: cut %u: invariant %s FAILS\n",
               profile == AMDVI_PROFILE_DEFAULT ? "default" : "qemu-10.1", cuts[i],
               invariant_names[inv]);
        fflush(stdout);
      }
    }
    failed |= cut_failed;
  }
  if (!topology_holds(&config)) failed |= UINT32_C(1) << INV_TOPOLOGY;
  world_deinit(&reference);
  return failed;
}

static void mask_names(uint32_t mask, char *out, size_t out_bytes)
{
  out[0] = '\0';
  for (uint32_t inv = 1; inv < INV_COUNT; inv++) {
    if ((mask & (UINT32_C(1) << inv)) == 0) continue;
    size_t used = strlen(out);
    snprintf(out + used, out_bytes - used, "%s%s", used ? "," : "", invariant_names[inv]);
  }
}

/* ------------------------------------------------------------ the tests */

/* mig_amdvi_default_invariants: all 14 invariants hold at all seven cut points. */
START_TEST(mig_amdvi_default_invariants)
{
  char names[512];
  mask_names(invariants_run(AMDVI_PROFILE_DEFAULT, 0), names, sizeof names);
  ck_assert_str_eq(names, "");
}
END_TEST

/* mig_amdvi_qemu_10_1_invariants: exactly the invariants spec §9.2 and §11 predict fail. */
START_TEST(mig_amdvi_qemu_10_1_invariants)
{
  char names[512];
  mask_names(invariants_run(AMDVI_PROFILE_QEMU_10_1, 0), names, sizeof names);
  ck_assert_str_eq(names, "2-derived-state,6-ring-wrap,7-translation,9-device-mode,"
                          "11-own-msi,12-topology");
}
END_TEST

/* mig_amdvi_default_invariants_mid_batch: two commands per doorbell; pending ones survive. */
START_TEST(mig_amdvi_default_invariants_mid_batch)
{
  struct amdvi_config config;
  amdvi_config_default(&config);
  config.commands_per_step_max = 2;
  struct world w;
  world_prefix(&w, &config, STEP_FAULTS);
  ck_assert_uint_eq(amdvi_commands_pending(w.dev), 3); /* the cut really is mid-batch */
  world_deinit(&w);
  char names[512];
  mask_names(invariants_run(AMDVI_PROFILE_DEFAULT, 2), names, sizeof names);
  ck_assert_str_eq(names, "");
}
END_TEST

/* mig_amdvi_qemu_field_set: the JSON description lists QEMU 10.1's 24 fields in order. */
START_TEST(mig_amdvi_qemu_field_set)
{
  static const char *const qemu_names[] = {
      "enabled", "ga_enabled", "unused", "cmdbuf_enabled", "completion_wait_intr",
      "evtlog_enabled", "evtlog_intr", "devtab", "devtab_len", "cmdbuf", "cmdbuf_len",
      "cmdbuf_head", "cmdbuf_tail", "evtlog", "evtlog_len", "evtlog_head", "evtlog_tail",
      "ppr_log", "pprlog_len", "pprlog_head", "pprlog_tail", "mmior", "romask", "w1cmask"};
  for (int profile = 0; profile < 2; profile++) {
    struct amdvi_config config;
    amdvi_config_default(&config);
    config.profile = (enum amdvi_profile)profile;
    struct world w;
    world_prefix(&w, &config, STEP_SETUP);
    struct mig_membuf stream;
    mig_membuf_init(&stream, STREAM_BYTES_MAX);
    uint8_t buffer[4096];
    struct mig_writer writer;
    mig_writer_init(&writer, buffer, sizeof buffer, mig_membuf_write, &stream);
    json_t *json = NULL;
    ck_assert_int_eq(mig_vmstate_save(&writer, amdvi_vmstate_desc(w.dev), w.dev, &json), MIG_OK);
    ck_assert_str_eq(json_string_value(json_object_get(json, "vmsd_name")), "amd-iommu");
    json_t *fields = json_object_get(json, "fields");
    ck_assert_uint_eq(json_array_size(fields), SIM_ARRAY_COUNT(qemu_names));
    for (size_t i = 0; i < SIM_ARRAY_COUNT(qemu_names); i++) {
      json_t *name = json_object_get(json_array_get(fields, i), "name");
      ck_assert_str_eq(json_string_value(name), qemu_names[i]);
    }
    size_t subsections = json_array_size(json_object_get(json, "subsections"));
    ck_assert_uint_eq(subsections, profile == AMDVI_PROFILE_DEFAULT ? 2 : 0);
    json_decref(json);
    mig_membuf_deinit(&stream);
    world_deinit(&w);
  }
}
END_TEST

/* mig_amdvi_config_mismatch_named: the default refuses each mismatch with a field path. */
START_TEST(mig_amdvi_config_mismatch_named)
{
  struct amdvi_config config;
  amdvi_config_default(&config);
  struct world src;
  world_prefix(&src, &config, STEP_SETUP);
  struct mig_membuf stream;
  ck_assert_int_eq(world_save(&src, &stream), MIG_OK);
  struct amdvi_config other = config;
  other.pci_bdf = 0x0028;
  struct world dst;
  world_init(&dst, &other);
  struct mig_error error;
  ck_assert_int_eq(load_bytes(&dst, stream.bytes, stream.count, 1, &error),
                   MIG_ERR_EQUAL_MISMATCH);
  ck_assert_str_eq(error.path, "amd-iommu/config/cfg_bdf");
  world_deinit(&dst);
  other = config;
  other.intremap = false;
  world_init(&dst, &other);
  ck_assert_int_eq(load_bytes(&dst, stream.bytes, stream.count, 1, &error),
                   MIG_ERR_EQUAL_MISMATCH);
  ck_assert_str_eq(error.path, "amd-iommu/config/cfg_props");
  world_deinit(&dst);
  /* SEV-SNP RMP checks on one side only: the property bit differs. */
  other = config;
  other.snp_rmp_base = 0x100000;
  other.snp_rmp_end = 0x1FFFFF;
  world_init(&dst, &other);
  ck_assert_int_eq(load_bytes(&dst, stream.bytes, stream.count, 1, &error),
                   MIG_ERR_EQUAL_MISMATCH);
  ck_assert_str_eq(error.path, "amd-iommu/config/cfg_props");
  world_deinit(&dst);
  mig_membuf_deinit(&stream);
  world_deinit(&src);
  /* Both with RMP checks, different RMP_END: named in "amd-iommu/snp"; equal ones load. */
  config.snp_rmp_base = 0x100000;
  config.snp_rmp_end = 0x1FFFFF;
  world_prefix(&src, &config, STEP_SETUP);
  ck_assert_int_eq(world_save(&src, &stream), MIG_OK);
  world_init(&dst, &other);
  ck_assert_int_eq(load_bytes(&dst, stream.bytes, stream.count, 1, &error), MIG_OK);
  world_deinit(&dst);
  other.snp_rmp_end = 0x2FFFFF;
  world_init(&dst, &other);
  ck_assert_int_eq(load_bytes(&dst, stream.bytes, stream.count, 1, &error),
                   MIG_ERR_EQUAL_MISMATCH);
  ck_assert_str_eq(error.path, "amd-iommu/snp/cfg_rmp_end");
  world_deinit(&dst);
  mig_membuf_deinit(&stream);
  world_deinit(&src);
}
END_TEST

/* mig_amdvi_implicit_pci_blocked: save is refused with a message naming the rule. */
START_TEST(mig_amdvi_implicit_pci_blocked)
{
  for (int profile = 0; profile < 2; profile++) {
    struct amdvi_config config;
    amdvi_config_default(&config);
    config.profile = (enum amdvi_profile)profile;
    config.pci_placed_explicitly = false;
    struct world src;
    world_prefix(&src, &config, STEP_SETUP);
    struct mig_membuf stream;
    ck_assert_int_eq(world_save(&src, &stream), MIG_ERR_HOOK);
    ck_assert_ptr_nonnull(strstr(amdvi_migration_error(src.dev), "not placed explicitly"));
    mig_membuf_deinit(&stream);
    world_deinit(&src);
  }
}
END_TEST

/* mig_amdvi_old_stream_loads: a qemu-10.1 stream (no subsections) loads into the default. */
START_TEST(mig_amdvi_old_stream_loads)
{
  struct amdvi_config old_config, new_config;
  amdvi_config_default(&old_config);
  old_config.profile = AMDVI_PROFILE_QEMU_10_1;
  amdvi_config_default(&new_config);
  struct world src, dst;
  world_prefix(&src, &old_config, STEP_WRAP);
  struct mig_membuf stream;
  ck_assert_int_eq(world_save(&src, &stream), MIG_OK);
  ck_assert_int_eq(world_migrate(&dst, &new_config, &src, &stream), MIG_OK);
  char names[256];
  ck_assert_uint_eq(amdvi_derived_check(dst.dev, names, sizeof names), 0);
  ck_assert_uint_eq(amdvi_mmio_read(dst.dev, AMDVI_MMIO_CMDBUF_HEAD, 8), 0); /* re-wrapped */
  ck_assert(amdvi_device_translated(dst.dev, DEV_A)); /* re-derived from the DTE */
  world_deinit(&dst);
  /* The other way: the default's subsections are unknown to a qemu-10.1 device. */
  mig_membuf_deinit(&stream);
  world_deinit(&src);
  world_prefix(&src, &new_config, STEP_SETUP);
  ck_assert_int_eq(world_save(&src, &stream), MIG_OK);
  ck_assert_int_eq(world_migrate(&dst, &old_config, &src, &stream), MIG_ERR_SUBSECTION);
  world_deinit(&dst);
  mig_membuf_deinit(&stream);
  world_deinit(&src);
}
END_TEST

/* mig_amdvi_stream_corrupt: truncations, a newer version, an unknown subsection, bad masks. */
START_TEST(mig_amdvi_stream_corrupt)
{
  struct amdvi_config config;
  amdvi_config_default(&config);
  struct world src;
  world_prefix(&src, &config, STEP_FAULTS);
  struct mig_membuf stream;
  ck_assert_int_eq(world_save(&src, &stream), MIG_OK);
  struct world dst;
  world_init(&dst, &config);
  /* Every field boundary region and a stride through the register file. */
  for (size_t count = 0; count < stream.count; count += count < 128 ? 1 : 61) {
    ck_assert_int_ne(load_bytes(&dst, stream.bytes, count, 1, NULL), MIG_OK);
  }
  /* Near the end: a cut exactly before a subsection is a valid older stream (the
     bare description has no end marker; a real section's footer catches it). */
  uint32_t boundaries_count = 0;
  for (size_t count = stream.count - 300; count < stream.count; count++) {
    bool boundary = stream.bytes[count] == 0x05 &&
                    memcmp(stream.bytes + count + 2, "amd-iommu/", 10) == 0;
    enum mig_err err = load_bytes(&dst, stream.bytes, count, 1, NULL);
    ck_assert_msg((err == MIG_OK) == boundary, "truncated at %zu: %d", count, err);
    boundaries_count += boundary;
  }
  ck_assert_uint_eq(boundaries_count, 1); /* amd-iommu/config starts in the last 300 */
  ck_assert_int_eq(load_bytes(&dst, stream.bytes, stream.count, 2, NULL),
                   MIG_ERR_SECTION_VERSION);
  /* An unknown subsection appended. */
  uint8_t *longer = malloc(stream.count + 32);
  ck_assert_ptr_nonnull(longer);
  memcpy(longer, stream.bytes, stream.count);
  static const char name[] = "amd-iommu/bogus";
  size_t at = stream.count;
  longer[at++] = 0x05;
  longer[at++] = (uint8_t)(sizeof name - 1);
  memcpy(longer + at, name, sizeof name - 1);
  at += sizeof name - 1;
  memset(longer + at, 0, 4);
  longer[at + 3] = 1;
  at += 4;
  ck_assert_int_eq(load_bytes(&dst, longer, at, 1, NULL), MIG_ERR_SUBSECTION);
  /* A romask byte cleared would make a read-only bit writable: refused in post_load. */
  size_t romask_at = 1 + 1 + 1 + 4 + 8 * 4 + 4 * 2 + 8 + 4 * 3 + 8 + 4 * 3 + AMDVI_MMIO_BYTES;
  memcpy(longer, stream.bytes, stream.count);
  ck_assert_uint_eq(longer[romask_at + AMDVI_MMIO_EFR], 0xFF);
  longer[romask_at + AMDVI_MMIO_EFR] = 0;
  ck_assert_int_eq(load_bytes(&dst, longer, stream.count, 1, NULL), MIG_ERR_HOOK);
  ck_assert_ptr_nonnull(strstr(amdvi_migration_error(dst.dev), "romask"));
  /* An EFR the destination would not compute. */
  memcpy(longer, stream.bytes, stream.count);
  longer[romask_at - AMDVI_MMIO_BYTES + AMDVI_MMIO_EFR] ^= 0x04;
  ck_assert_int_eq(load_bytes(&dst, longer, stream.count, 1, NULL), MIG_ERR_HOOK);
  ck_assert_ptr_nonnull(strstr(amdvi_migration_error(dst.dev), "EFR"));
  free(longer);
  world_deinit(&dst);
  mig_membuf_deinit(&stream);
  world_deinit(&src);
}
END_TEST

/* mig_amdvi_stream_flips: every byte flip of the scalars and subsections, and a stride through
   the register file, loads cleanly or fails typed; a load that succeeds is self-consistent. */
START_TEST(mig_amdvi_stream_flips)
{
  struct amdvi_config config;
  amdvi_config_default(&config);
  struct world src;
  world_prefix(&src, &config, STEP_WRAP);
  struct mig_membuf stream;
  ck_assert_int_eq(world_save(&src, &stream), MIG_OK);
  uint8_t *flipped = malloc(stream.count);
  ck_assert_ptr_nonnull(flipped);
  size_t scalars_bytes = 87, tail_start = scalars_bytes + 3 * AMDVI_MMIO_BYTES;
  uint32_t loaded_count = 0, refused_count = 0;
  struct world dst; /* one destination, reset before each load, keeps this fast under asan */
  world_init(&dst, &config);
  for (size_t at = 0; at < stream.count; at++) {
    bool chosen = at < scalars_bytes || at >= tail_start || at % 97 == 0;
    if (!chosen) continue;
    for (uint32_t bit = 0; bit < 8; bit += 3) {
      memcpy(flipped, stream.bytes, stream.count);
      flipped[at] ^= (uint8_t)(1u << bit);
      amdvi_reset(dst.dev);
      enum mig_err err = load_bytes(&dst, flipped, stream.count, 1, NULL);
      ck_assert_int_lt(err, MIG_ERR_COUNT);
      if (err == MIG_OK) {
        char names[256];
        ck_assert_msg(amdvi_derived_check(dst.dev, names, sizeof names) == 0,
                      "flip at %zu: %s", at, names);
        loaded_count++;
      } else {
        refused_count++;
      }
    }
  }
  world_deinit(&dst);
  ck_assert_uint_gt(loaded_count, 0);
  ck_assert_uint_gt(refused_count, 0);
  free(flipped);
  mig_membuf_deinit(&stream);
  world_deinit(&src);
}
END_TEST

Suite *mig_amdvi_suite(void)
{
  Suite *suite = suite_create("mig_amdvi");
  TCase *invariants = tcase_create("invariants");
  tcase_set_timeout(invariants, 600);
  tcase_add_test(invariants, mig_amdvi_default_invariants);
  tcase_add_test(invariants, mig_amdvi_qemu_10_1_invariants);
  tcase_add_test(invariants, mig_amdvi_default_invariants_mid_batch);
  suite_add_tcase(suite, invariants);
  TCase *config = tcase_create("config");
  tcase_set_timeout(config, 60);
  tcase_add_test(config, mig_amdvi_config_mismatch_named);
  tcase_add_test(config, mig_amdvi_implicit_pci_blocked);
  tcase_add_test(config, mig_amdvi_qemu_field_set);
  suite_add_tcase(suite, config);
  TCase *stream = tcase_create("stream");
  tcase_set_timeout(stream, 60);
  tcase_add_test(stream, mig_amdvi_old_stream_loads);
  tcase_add_test(stream, mig_amdvi_stream_corrupt);
  tcase_add_test(stream, mig_amdvi_stream_flips);
  suite_add_tcase(suite, stream);
  return suite;
}
