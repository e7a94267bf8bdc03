/*
 * amdvi_xlate_test.c: DMA translation, the IOTLB, device-table handling and
 * interrupt remapping of the AMD IOMMU (spec §10.4 cases 5-8, 12, 15, 16),
 * default profile first and QEMU's differences where they matter.  Page
 * tables are built by amdvi_guest_map in a flat 16 MiB guest.  TCases: walk,
 * iotlb, dte, irq, rmp (SEV-SNP RMP checks, events 0xD/0xE).
 */
#include "sim_base.h"

#include "amdvi.h"
#include "amdvi_guest.h"
#include "sim.h"
#include "sim_check.h"

#define RAM_BYTES (UINT64_C(16) << 20)
#define DATA_GPA UINT64_C(0x800000)         /* mapping targets */
#define CONTROL_ALL \
  (AMDVI_CONTROL_EVTLOG_EN | AMDVI_CONTROL_EVTINT_EN | AMDVI_CONTROL_COMWAIT_EN | \
   AMDVI_CONTROL_CMDBUF_EN)
#define DEVID 0x0123u
#define DOMAIN 5u

struct fixture {
  struct sim *sim;
  struct amdvi_guest guest;
  struct amdvi *dev;
};

static void fixture_init_config(struct fixture *fx, const struct amdvi_config *config)
{
  struct sim_options options = {.seed = 1};
  fx->sim = sim_create(&options);
  amdvi_guest_init(&fx->guest, fx->sim, config, RAM_BYTES);
  fx->dev = fx->guest.iommu;
  amdvi_guest_setup(&fx->guest, 8, 8, CONTROL_ALL);
}

static void fixture_init(struct fixture *fx, enum amdvi_profile profile)
{
  struct amdvi_config config;
  amdvi_config_default(&config);
  config.profile = profile;
  fixture_init_config(fx, &config);
}

static void fixture_deinit(struct fixture *fx)
{
  sim_destroy(fx->sim);
}

static void command(struct fixture *fx, uint64_t q0, uint64_t q1)
{
  ck_assert(amdvi_guest_command(&fx->guest, q0, q1, true));
}

static void invalidate_devtab(struct fixture *fx, uint16_t devid)
{
  command(fx, (UINT64_C(2) << 60) | devid, 0);
}

static struct amdvi_xlate_result xlate(struct fixture *fx, uint16_t devid, uint64_t iova,
                                       bool is_write)
{
  struct amdvi_xlate_result result;
  amdvi_translate(fx->dev, devid, iova, is_write, &result);
  return result;
}

/* Pops one event and checks code, DeviceID, flags and address. */
static void expect_event(struct fixture *fx, uint32_t code, uint32_t devid, uint32_t flags,
                         uint64_t address)
{
  uint64_t q0, q1;
  ck_assert_msg(amdvi_guest_event_pop(&fx->guest, &q0, &q1), "no event");
  ck_assert_uint_eq(q0 >> 60, code);
  ck_assert_uint_eq(q0 & 0xFFFF, devid);
  ck_assert_uint_eq((q0 >> 48) & 0xFFF, flags);
  ck_assert_uint_eq(q1, address);
}

/* ---------------------------------------------------------------- walk */

/* amdvi_walk_modes_1_to_6: a 4 KiB mapping through each paging mode; the second hit caches. */
START_TEST(amdvi_walk_modes_1_to_6)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  for (uint32_t mode = 1; mode <= 6; mode++) {
    uint16_t devid = (uint16_t)(DEVID + mode);
    (void)amdvi_guest_dte_translate(&fx.guest, devid, mode, (uint16_t)mode);
    uint64_t iova = (UINT64_C(0x1FF) << 12) | (mode >= 2 ? UINT64_C(1) << 21 : 0) |
                    (mode >= 4 ? UINT64_C(3) << 39 : 0);
    uint64_t gpa = DATA_GPA + mode * 0x1000;
    (void)amdvi_guest_map(&fx.guest, devid, iova, gpa, 4096, true, true);
    struct amdvi_stats before, after;
    amdvi_stats_get(fx.dev, &before);
    struct amdvi_xlate_result result = xlate(&fx, devid, iova | 0x123, true);
    ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
    ck_assert_uint_eq(result.address, gpa | 0x123);
    ck_assert(!result.iotlb_hit);
    amdvi_stats_get(fx.dev, &after);
    ck_assert_uint_eq(after.walk_reads_count - before.walk_reads_count, mode);
    result = xlate(&fx, devid, iova | 0x456, false);
    ck_assert(result.iotlb_hit);
    ck_assert_uint_eq(result.address, gpa | 0x456);
  }
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_walk_large_pages: NextLevel 0 at level 2 (2 MiB) and NextLevel 7 (32 KiB, 2 MiB). */
START_TEST(amdvi_walk_large_pages)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  (void)amdvi_guest_dte_translate(&fx.guest, DEVID, 3, DOMAIN);
  uint64_t base2m = UINT64_C(0x40000000);
  (void)amdvi_guest_map(&fx.guest, DEVID, base2m, UINT64_C(0x200000), UINT64_C(1) << 21, true,
                        false);
  struct amdvi_xlate_result result = xlate(&fx, DEVID, base2m + 0x1ABCDE, false);
  ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
  ck_assert_uint_eq(result.address, 0x200000 + 0x1ABCDE);
  ck_assert_uint_eq(result.page_bytes, UINT64_C(1) << 21);
  /* NextLevel 7 at level 1: address bits 12-13 set, bit 14 clear -> 32 KiB. */
  uint64_t iova32k = UINT64_C(0x80000000);
  uint64_t leaf = amdvi_guest_map(&fx.guest, DEVID, iova32k, DATA_GPA, 4096, true, true);
  uint64_t pte = DATA_GPA | (UINT64_C(3) << 12) | (UINT64_C(7) << 9) | 1 | (UINT64_C(3) << 61);
  for (uint64_t slot = 0; slot < 8; slot++) amdvi_guest_write64(&fx.guest, leaf + 8 * slot, pte);
  result = xlate(&fx, DEVID, iova32k + 0x7123, true);
  ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
  ck_assert_uint_eq(result.page_bytes, 0x8000);
  ck_assert_uint_eq(result.address, DATA_GPA + 0x7123);
  /* NextLevel 7 at level 2 encoding 2 MiB: bits 12-19 set, bit 20 clear. */
  uint64_t iova2m = UINT64_C(0xC0000000);
  leaf = amdvi_guest_map(&fx.guest, DEVID, iova2m, UINT64_C(0x600000), UINT64_C(1) << 21, true,
                         true);
  amdvi_guest_write64(&fx.guest, leaf, UINT64_C(0x600000) | (UINT64_C(0xFF) << 12) |
                                           (UINT64_C(7) << 9) | 1 | (UINT64_C(3) << 61));
  result = xlate(&fx, DEVID, iova2m + 0x12345, false);
  ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
  ck_assert_uint_eq(result.page_bytes, UINT64_C(1) << 21);
  ck_assert_uint_eq(result.address, 0x600000 + 0x12345);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_walk_faults: read-only + write, not present, beyond the mode's reach. */
START_TEST(amdvi_walk_faults)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  (void)amdvi_guest_dte_translate(&fx.guest, DEVID, 2, DOMAIN);
  (void)amdvi_guest_map(&fx.guest, DEVID, 0x5000, DATA_GPA, 4096, true, false);
  ck_assert_int_eq(xlate(&fx, DEVID, 0x5000, false).status, AMDVI_XLATE_OK);
  struct amdvi_xlate_result result = xlate(&fx, DEVID, 0x5008, true);
  ck_assert_int_eq(result.status, AMDVI_XLATE_FAULT);
  ck_assert_uint_eq(result.event_code, AMDVI_EVENT_IO_PAGE_FAULT);
  expect_event(&fx, AMDVI_EVENT_IO_PAGE_FAULT, DEVID,
               AMDVI_FAULT_FLAG_PR | AMDVI_FAULT_FLAG_PE | AMDVI_FAULT_FLAG_RW, 0x5008);
  ck_assert_int_eq(xlate(&fx, DEVID, 0x6000, false).status, AMDVI_XLATE_FAULT);
  expect_event(&fx, AMDVI_EVENT_IO_PAGE_FAULT, DEVID, 0, 0x6000);
  ck_assert_int_eq(xlate(&fx, DEVID, UINT64_C(1) << 30, false).status, AMDVI_XLATE_FAULT);
  expect_event(&fx, AMDVI_EVENT_IO_PAGE_FAULT, DEVID, 0, UINT64_C(1) << 30);
  fixture_deinit(&fx);
  /* QEMU: DeviceID = devfn, no DomainID, I set, permission in GN/NX (§11 item 11). */
  fixture_init(&fx, AMDVI_PROFILE_QEMU_10_1);
  (void)amdvi_guest_dte_translate(&fx.guest, DEVID, 2, DOMAIN);
  invalidate_devtab(&fx, DEVID);
  (void)amdvi_guest_map(&fx.guest, DEVID, 0x5000, DATA_GPA, 4096, true, false);
  ck_assert_int_eq(xlate(&fx, DEVID, 0x5008, true).status, AMDVI_XLATE_FAULT);
  expect_event(&fx, AMDVI_EVENT_IO_PAGE_FAULT, DEVID & 0xFF, AMDVI_FAULT_FLAG_I | 2, 0x5008);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_walk_intermediate_permissions: a read-only directory over an RW leaf (§11 item 14). */
START_TEST(amdvi_walk_intermediate_permissions)
{
  for (int profile = 0; profile < 2; profile++) {
    struct fixture fx;
    fixture_init(&fx, (enum amdvi_profile)profile);
    uint64_t root = amdvi_guest_dte_translate(&fx.guest, DEVID, 2, DOMAIN);
    invalidate_devtab(&fx, DEVID);
    (void)amdvi_guest_map(&fx.guest, DEVID, 0x5000, DATA_GPA, 4096, true, true);
    uint64_t dir = amdvi_guest_read64(&fx.guest, root);
    amdvi_guest_write64(&fx.guest, root, dir & ~(UINT64_C(1) << 62));
    enum amdvi_xlate_status want =
        profile == AMDVI_PROFILE_QEMU_10_1 ? AMDVI_XLATE_OK : AMDVI_XLATE_FAULT;
    ck_assert_int_eq(xlate(&fx, DEVID, 0x5000, true).status, want);
    fixture_deinit(&fx);
  }
}
END_TEST

/* amdvi_walk_self_loop: a directory pointing at itself ends after at most six reads. */
START_TEST(amdvi_walk_self_loop)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  uint64_t root = amdvi_guest_dte_translate(&fx.guest, DEVID, 6, DOMAIN);
  for (uint64_t i = 0; i < 512; i++) {
    amdvi_guest_write64(&fx.guest, root + 8 * i, root | 1 | (UINT64_C(6) << 9) |
                                                     (UINT64_C(3) << 61));
  }
  struct amdvi_stats stats;
  ck_assert_int_eq(xlate(&fx, DEVID, 0x1234000, false).status, AMDVI_XLATE_FAULT);
  amdvi_stats_get(fx.dev, &stats);
  ck_assert_uint_le(stats.walk_reads_count, 6);
  expect_event(&fx, AMDVI_EVENT_IO_PAGE_FAULT, DEVID, AMDVI_FAULT_FLAG_PR | AMDVI_FAULT_FLAG_RZ,
               0x1234000);
  /* Pointing one level down to itself still ends: six levels, six reads at most. */
  for (uint64_t i = 0; i < 512; i++) {
    amdvi_guest_write64(&fx.guest, root + 8 * i, root | 1 | (UINT64_C(5) << 9) |
                                                     (UINT64_C(3) << 61));
  }
  amdvi_stats_get(fx.dev, &stats);
  uint64_t before = stats.walk_reads_count;
  ck_assert_int_eq(xlate(&fx, DEVID, 0x1234000, false).status, AMDVI_XLATE_FAULT);
  amdvi_stats_get(fx.dev, &stats);
  ck_assert_uint_le(stats.walk_reads_count - before, 6);
  fixture_deinit(&fx);
}
END_TEST

/* --------------------------------------------------------------- iotlb */

/* amdvi_iotlb_invalidation: stale until invalidated; IOMMU_PAGES, IOTLB_PAGES S=0/1, ALL. */
START_TEST(amdvi_iotlb_invalidation)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  (void)amdvi_guest_dte_translate(&fx.guest, DEVID, 3, DOMAIN);
  uint64_t leaf = amdvi_guest_map(&fx.guest, DEVID, 0x7000, DATA_GPA, 4096, true, true);
  ck_assert_uint_eq(xlate(&fx, DEVID, 0x7000, false).address, DATA_GPA);
  amdvi_guest_write64(&fx.guest, leaf, (DATA_GPA + 0x1000) | 1 | (UINT64_C(3) << 61));
  struct amdvi_xlate_result result = xlate(&fx, DEVID, 0x7000, false);
  ck_assert(result.iotlb_hit); /* defined stale behaviour: the cached translation */
  ck_assert_uint_eq(result.address, DATA_GPA);
  /* INVALIDATE_IOMMU_PAGES for another domain or another page changes nothing. */
  command(&fx, (UINT64_C(3) << 60) | ((uint64_t)(DOMAIN + 1) << 32), 0x7000);
  command(&fx, (UINT64_C(3) << 60) | ((uint64_t)DOMAIN << 32), 0x8000);
  ck_assert_uint_eq(xlate(&fx, DEVID, 0x7000, false).address, DATA_GPA);
  command(&fx, (UINT64_C(3) << 60) | ((uint64_t)DOMAIN << 32), 0x7000);
  ck_assert_uint_eq(xlate(&fx, DEVID, 0x7000, false).address, DATA_GPA + 0x1000);
  /* INVALIDATE_IOTLB_PAGES S=0 for the page. */
  amdvi_guest_write64(&fx.guest, leaf, (DATA_GPA + 0x2000) | 1 | (UINT64_C(3) << 61));
  command(&fx, (UINT64_C(4) << 60) | DEVID, 0x7000);
  ck_assert_uint_eq(xlate(&fx, DEVID, 0x7000, false).address, DATA_GPA + 0x2000);
  /* S=1 with address 0x7FFF_FFFF_FFFF_F000: everything of the device. */
  amdvi_guest_write64(&fx.guest, leaf, (DATA_GPA + 0x3000) | 1 | (UINT64_C(3) << 61));
  command(&fx, (UINT64_C(4) << 60) | DEVID, UINT64_C(0x7FFFFFFFFFFFF000) | 1);
  ck_assert_uint_eq(xlate(&fx, DEVID, 0x7000, false).address, DATA_GPA + 0x3000);
  /* S=1, address 0x8000 (bit 12 clear): the 8 KiB block 0x8000-0x9FFF misses 0x7000;
     address 0x7000 (bits 12-14 set): the 64 KiB block 0x0-0xFFFF covers it. */
  amdvi_guest_write64(&fx.guest, leaf, (DATA_GPA + 0x4000) | 1 | (UINT64_C(3) << 61));
  command(&fx, (UINT64_C(3) << 60) | ((uint64_t)DOMAIN << 32), 0x8000 | 1);
  ck_assert_uint_eq(xlate(&fx, DEVID, 0x7000, false).address, DATA_GPA + 0x3000);
  command(&fx, (UINT64_C(3) << 60) | ((uint64_t)DOMAIN << 32), 0x7000 | 1);
  ck_assert_uint_eq(xlate(&fx, DEVID, 0x7000, false).address, DATA_GPA + 0x4000);
  /* INVALIDATE_IOMMU_ALL. */
  amdvi_guest_write64(&fx.guest, leaf, (DATA_GPA + 0x5000) | 1 | (UINT64_C(3) << 61));
  command(&fx, UINT64_C(8) << 60, 0);
  ck_assert_uint_eq(xlate(&fx, DEVID, 0x7000, false).address, DATA_GPA + 0x5000);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_iotlb_capacity: 4096 distinct pages through 1024 entries; results stay exact. */
START_TEST(amdvi_iotlb_capacity)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  (void)amdvi_guest_dte_translate(&fx.guest, DEVID, 3, DOMAIN);
  (void)amdvi_guest_map(&fx.guest, DEVID, 0, 0, UINT64_C(1) << 30, true, true);
  for (int round = 0; round < 2; round++) {
    for (uint64_t page = 0; page < 4096; page++) {
      struct amdvi_xlate_result result = xlate(&fx, DEVID, page << 12, false);
      ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
      ck_assert_uint_eq(result.address, page << 12);
    }
  }
  struct amdvi_stats stats;
  amdvi_stats_get(fx.dev, &stats);
  ck_assert_uint_eq(stats.iotlb_hit_count + stats.iotlb_miss_count, 8192);
  ck_assert_uint_ge(stats.iotlb_miss_count, 4096);
  fixture_deinit(&fx);
}
END_TEST

/* ----------------------------------------------------------------- dte */

/* amdvi_dte_passthrough_and_blocking: V=0 identity, TV=0 blocked silently, Mode 0 with IR/IW. */
START_TEST(amdvi_dte_passthrough_and_blocking)
{
  for (int profile = 0; profile < 2; profile++) {
    struct fixture fx;
    fixture_init(&fx, (enum amdvi_profile)profile);
    struct amdvi_xlate_result result = xlate(&fx, DEVID, 0x1234567, true);
    ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
    ck_assert_uint_eq(result.address, 0x1234567);
    uint64_t q[4] = {1, DOMAIN, 0, 0}; /* V=1, TV=0 */
    amdvi_guest_dte_set(&fx.guest, DEVID, q);
    invalidate_devtab(&fx, DEVID);
    ck_assert_int_eq(xlate(&fx, DEVID, 0x1000, false).status, AMDVI_XLATE_BLOCKED);
    q[0] = 3; /* Mode 0, IR=IW=0 */
    amdvi_guest_dte_set(&fx.guest, DEVID, q);
    invalidate_devtab(&fx, DEVID);
    enum amdvi_xlate_status want =
        profile == AMDVI_PROFILE_QEMU_10_1 ? AMDVI_XLATE_OK : AMDVI_XLATE_FAULT;
    ck_assert_int_eq(xlate(&fx, DEVID, 0x1000, false).status, want);
    q[0] = 3 | (UINT64_C(1) << 61); /* Mode 0, read only */
    amdvi_guest_dte_set(&fx.guest, DEVID, q);
    command(&fx, UINT64_C(8) << 60, 0);
    ck_assert_int_eq(xlate(&fx, DEVID, 0x1000, false).status, AMDVI_XLATE_OK);
    fixture_deinit(&fx);
  }
}
END_TEST

/* amdvi_dte_hostile: reserved bits, Mode 7, unbacked table and root, DeviceID past the table. */
START_TEST(amdvi_dte_hostile)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  uint64_t dte_gpa = AMDVI_GUEST_DEVTAB_GPA + DEVID * 32;
  uint64_t q[4] = {3 | (UINT64_C(1) << 9) | (UINT64_C(1) << 63), DOMAIN, 0, 0};
  amdvi_guest_dte_set(&fx.guest, DEVID, q);
  ck_assert_int_eq(xlate(&fx, DEVID, 0x1000, false).status, AMDVI_XLATE_FAULT);
  expect_event(&fx, AMDVI_EVENT_ILLEGAL_DEVTAB_ENTRY, DEVID, 0, dte_gpa);
  q[0] = 3 | (UINT64_C(7) << 9);
  amdvi_guest_dte_set(&fx.guest, DEVID, q);
  ck_assert_int_eq(xlate(&fx, DEVID, 0x1000, false).status, AMDVI_XLATE_BLOCKED);
  expect_event(&fx, AMDVI_EVENT_ILLEGAL_DEVTAB_ENTRY, DEVID, 0, dte_gpa);
  /* A root in unbacked memory: PAGE_TAB_HARDWARE_ERROR at the PTE's address. */
  q[0] = 3 | (UINT64_C(1) << 9) | (UINT64_C(3) << 61) | AMDVI_MMIO_BASE;
  amdvi_guest_dte_set(&fx.guest, DEVID, q);
  ck_assert_int_eq(xlate(&fx, DEVID, 0x3000, false).status, AMDVI_XLATE_FAULT);
  expect_event(&fx, AMDVI_EVENT_PAGETAB_HW_ERROR, DEVID, 0, AMDVI_MMIO_BASE + 3 * 8);
  /* DeviceID beyond the 16-page table (2048 entries): target abort, no event. */
  ck_assert_int_eq(xlate(&fx, 0x0900, 0x1000, false).status, AMDVI_XLATE_BLOCKED);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  /* Device table in unbacked memory: DEV_TAB_HARDWARE_ERROR. */
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_DEVTAB_BASE, 8, RAM_BYTES | 15);
  ck_assert_int_eq(xlate(&fx, DEVID, 0x1000, false).status, AMDVI_XLATE_FAULT);
  expect_event(&fx, AMDVI_EVENT_DEVTAB_HW_ERROR, DEVID, 0, RAM_BYTES + DEVID * 32);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_dte_dma_translation_off: a non-zero root is an illegal DTE when HATS is reserved. */
START_TEST(amdvi_dte_dma_translation_off)
{
  struct amdvi_config config;
  amdvi_config_default(&config);
  config.dma_translation = false;
  struct fixture fx;
  fixture_init_config(&fx, &config);
  (void)amdvi_guest_dte_translate(&fx.guest, DEVID, 1, DOMAIN);
  ck_assert_int_eq(xlate(&fx, DEVID, 0x1000, false).status, AMDVI_XLATE_FAULT);
  expect_event(&fx, AMDVI_EVENT_ILLEGAL_DEVTAB_ENTRY, DEVID, 0,
               AMDVI_GUEST_DEVTAB_GPA + DEVID * 32);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_dte_device_mode: QEMU's region switch follows INVALIDATE_DEVTAB_ENTRY; ours the DTE. */
START_TEST(amdvi_dte_device_mode)
{
  for (int profile = 0; profile < 2; profile++) {
    struct fixture fx;
    fixture_init(&fx, (enum amdvi_profile)profile);
    (void)amdvi_guest_dte_translate(&fx.guest, DEVID, 1, DOMAIN);
    ck_assert(amdvi_device_translated(fx.dev, DEVID) == (profile == AMDVI_PROFILE_DEFAULT));
    /* Unconfined in QEMU until the guest invalidates the entry; the default walks. */
    enum amdvi_xlate_status want =
        profile == AMDVI_PROFILE_QEMU_10_1 ? AMDVI_XLATE_OK : AMDVI_XLATE_FAULT;
    ck_assert_int_eq(xlate(&fx, DEVID, 0x1000, false).status, want);
    invalidate_devtab(&fx, DEVID);
    ck_assert(amdvi_device_translated(fx.dev, DEVID));
    ck_assert_int_eq(xlate(&fx, DEVID, 0x1000, false).status, AMDVI_XLATE_FAULT);
    fixture_deinit(&fx);
  }
}
END_TEST

/* ----------------------------------------------------------------- irq */

#define IRT_DEVID 0x0042u

/* Sets DTE[IRT_DEVID] for interrupts only: IV, IntTabLen 8 (256), IntCtl, pass bits. */
static uint64_t irq_dte(struct fixture *fx, uint32_t intctl, uint64_t pass_bits)
{
  uint64_t table = amdvi_guest_page_alloc(&fx->guest);
  (void)amdvi_guest_page_alloc(&fx->guest); /* 256 x 16 bytes span two pages */
  uint64_t q[4] = {0, 0, 1 | (UINT64_C(8) << 1) | table | (uint64_t)intctl << 60 | pass_bits, 0};
  amdvi_guest_dte_set(&fx->guest, IRT_DEVID, q);
  return table;
}

static enum amdvi_irq_status remap(struct fixture *fx, uint64_t address, uint32_t data,
                                   struct amdvi_msi *out)
{
  struct amdvi_msi in = {.address = address, .data = data};
  return amdvi_remap_msi(fx->dev, IRT_DEVID, &in, out);
}

/* amdvi_irq_intctl: 00 abort, 01 pass, 10 remap through a legacy IRTE, 11 abort. */
START_TEST(amdvi_irq_intctl)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  struct amdvi_msi out;
  uint64_t table = irq_dte(&fx, 2, 0);
  /* Legacy IRTE 5: RemapEn, fixed, DM=0, dest 0x12, vector 0x34. */
  uint32_t irte = 1 | (0x12u << 8) | (0x34u << 16);
  amdvi_guest_write64(&fx.guest, table + 5 * 4, irte);
  ck_assert_int_eq(remap(&fx, 0xFEE00000, 5, &out), AMDVI_IRQ_REMAPPED);
  ck_assert_uint_eq(out.address, 0xFEE12000);
  ck_assert_uint_eq(out.data, 0x34);
  amdvi_guest_write64(&fx.guest, table + 5 * 4, irte & ~1u); /* RemapEn = 0 */
  ck_assert_int_eq(remap(&fx, 0xFEE00000, 5, &out), AMDVI_IRQ_BLOCKED);
  expect_event(&fx, AMDVI_EVENT_IO_PAGE_FAULT, IRT_DEVID, AMDVI_FAULT_FLAG_I, 0xFEE00000);
  ck_assert_int_eq(remap(&fx, 0xFEE00000, 300, &out), AMDVI_IRQ_BLOCKED); /* past IntTabLen */
  expect_event(&fx, AMDVI_EVENT_IO_PAGE_FAULT, IRT_DEVID, AMDVI_FAULT_FLAG_I, 0xFEE00000);
  for (uint32_t intctl = 0; intctl < 4; intctl += 1) {
    if (intctl == 2) continue;
    (void)irq_dte(&fx, intctl, 0);
    enum amdvi_irq_status want = intctl == 1 ? AMDVI_IRQ_PASSTHROUGH : AMDVI_IRQ_BLOCKED;
    ck_assert_int_eq(remap(&fx, 0xFEE01000, 0x21, &out), want);
    if (want == AMDVI_IRQ_PASSTHROUGH) ck_assert_uint_eq(out.address, 0xFEE01000);
  }
  /* IV = 0 passes; IommuEn = 0 passes (QEMU would still remap, §11 item 13). */
  uint64_t q[4] = {0};
  amdvi_guest_dte_set(&fx.guest, IRT_DEVID, q);
  ck_assert_int_eq(remap(&fx, 0xFEE01000, 0x21, &out), AMDVI_IRQ_PASSTHROUGH);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_irq_ga_and_xt: 128-bit IRTEs, 8-bit vs 32-bit destinations (XTSup and XTEn). */
START_TEST(amdvi_irq_ga_and_xt)
{
  struct amdvi_config config;
  amdvi_config_default(&config);
  config.xtsup = true;
  struct fixture fx;
  fixture_init_config(&fx, &config);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_CONTROL, 8,
                   AMDVI_CONTROL_IOMMU_EN | CONTROL_ALL | AMDVI_CONTROL_GA_EN);
  uint64_t table = irq_dte(&fx, 2, 0);
  uint64_t lo = 1 | (UINT64_C(1) << 6) | (UINT64_C(0x345678) << 8); /* DM=1 */
  uint64_t hi = 0x99 | (UINT64_C(0x12) << 56);
  amdvi_guest_write64(&fx.guest, table + 7 * 16, lo);
  amdvi_guest_write64(&fx.guest, table + 7 * 16 + 8, hi);
  struct amdvi_msi out;
  ck_assert_int_eq(remap(&fx, 0xFEE00000, 7, &out), AMDVI_IRQ_REMAPPED);
  ck_assert_uint_eq(out.address, 0xFEE78004); /* XTEn clear: low 8 bits of the destination */
  ck_assert_uint_eq(out.data, 0x99);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_CONTROL, 8,
                   AMDVI_CONTROL_IOMMU_EN | CONTROL_ALL | AMDVI_CONTROL_GA_EN |
                       AMDVI_CONTROL_XT_EN);
  ck_assert_int_eq(remap(&fx, 0xFEE00000, 7, &out), AMDVI_IRQ_REMAPPED);
  ck_assert_uint_eq(out.address, (UINT64_C(0x12345600) << 32) | 0xFEE78004);
  /* GuestMode = 1 (vAPIC posting) is not supported: blocked. */
  amdvi_guest_write64(&fx.guest, table + 7 * 16, lo | (UINT64_C(1) << 7));
  ck_assert_int_eq(remap(&fx, 0xFEE00000, 7, &out), AMDVI_IRQ_BLOCKED);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_irq_nmi_pass: NMI/INIT/ExtINT follow the DTE pass bits; logical mode is dropped. */
START_TEST(amdvi_irq_nmi_pass)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  struct amdvi_msi out;
  (void)irq_dte(&fx, 2, 0);
  ck_assert_int_eq(remap(&fx, 0xFEE00000, 4u << 8, &out), AMDVI_IRQ_BLOCKED);
  (void)irq_dte(&fx, 2, UINT64_C(1) << 58);
  ck_assert_int_eq(remap(&fx, 0xFEE00000, 4u << 8, &out), AMDVI_IRQ_PASSTHROUGH);
  ck_assert_int_eq(remap(&fx, 0xFEE00004, 4u << 8, &out), AMDVI_IRQ_BLOCKED);
  ck_assert_int_eq(remap(&fx, 0xFEE00000, 5u << 8, &out), AMDVI_IRQ_BLOCKED);
  (void)irq_dte(&fx, 2, UINT64_C(1) << 56);
  ck_assert_int_eq(remap(&fx, 0xFEE00000, 5u << 8, &out), AMDVI_IRQ_PASSTHROUGH);
  ck_assert_int_eq(remap(&fx, 0xFEE00000, 2u << 8, &out), AMDVI_IRQ_BLOCKED); /* SMI */
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_irq_unbacked_table: an IRT root outside RAM blocks the interrupt, no crash. */
START_TEST(amdvi_irq_unbacked_table)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  uint64_t q[4] = {0, 0, 1 | (UINT64_C(8) << 1) | RAM_BYTES | (UINT64_C(2) << 60), 0};
  amdvi_guest_dte_set(&fx.guest, IRT_DEVID, q);
  struct amdvi_msi out;
  ck_assert_int_eq(remap(&fx, 0xFEE00000, 3, &out), AMDVI_IRQ_BLOCKED);
  ck_assert_uint_eq(out.address, 0xFEE00000);
  fixture_deinit(&fx);
}
END_TEST

/* ----------------------------------------------------------------- rmp */

/* The RMP in these tests: 16 KiB header + 4096 entries = SPAs below 16 MiB. */
#define RMP_BASE UINT64_C(0xC00000)
#define RMP_END (RMP_BASE + 0x4000 + 0x10000 - 1)
#define RMP_DEVID 0x0456u                   /* no DTE: V=0, passthrough */

static void rmp_fixture_init(struct fixture *fx, enum amdvi_profile profile, uint64_t base,
                             uint64_t end)
{
  struct amdvi_config config;
  amdvi_config_default(&config);
  config.profile = profile;
  config.snp_rmp_base = base;
  config.snp_rmp_end = end;
  fixture_init_config(fx, &config);
}

/* Writes the low qword of the RMP entry of system page spa (independent of the model's math). */
static void rmp_entry_set(struct fixture *fx, uint64_t base, uint64_t spa, uint64_t low)
{
  amdvi_guest_write64(&fx->guest, base + 0x4000 + (spa >> 12) * 16, low);
}

static uint64_t rmp_reads(struct fixture *fx)
{
  struct amdvi_stats stats;
  amdvi_stats_get(fx->dev, &stats);
  return stats.rmp_reads_count;
}

/* amdvi_rmp_off_by_default: no properties, no RMP read, EFR.SNPSup clear. */
START_TEST(amdvi_rmp_off_by_default)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, AMDVI_MMIO_EFR, 8) >> 63, 0);
  rmp_entry_set(&fx, RMP_BASE, DATA_GPA, 1); /* an "assigned" entry nobody looks at */
  struct amdvi_xlate_result result = xlate(&fx, RMP_DEVID, DATA_GPA, true);
  ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
  ck_assert_uint_eq(rmp_reads(&fx), 0);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_rmp_unassigned_pass: hypervisor pages pass, one entry read per access (IOTLB hits too). */
START_TEST(amdvi_rmp_unassigned_pass)
{
  struct fixture fx;
  rmp_fixture_init(&fx, AMDVI_PROFILE_DEFAULT, RMP_BASE, RMP_END);
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, AMDVI_MMIO_EFR, 8), UINT64_C(0x29D3) | UINT64_C(1) << 63);
  (void)amdvi_guest_dte_translate(&fx.guest, DEVID, 3, DOMAIN);
  (void)amdvi_guest_map(&fx.guest, DEVID, 0x10000, DATA_GPA, 4096, true, true);
  /* Entry fields other than Assigned do not refuse an access. */
  rmp_entry_set(&fx, RMP_BASE, DATA_GPA, UINT64_C(0x3FF) << 51 | AMDVI_RMP_IMMUTABLE);
  struct amdvi_xlate_result result = xlate(&fx, DEVID, 0x10010, true);
  ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
  ck_assert_uint_eq(result.address, DATA_GPA + 0x10);
  result = xlate(&fx, DEVID, 0x10020, false);
  ck_assert(result.iotlb_hit);
  ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
  result = xlate(&fx, RMP_DEVID, DATA_GPA + 0x3000, false);
  ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
  ck_assert_uint_eq(rmp_reads(&fx), 3);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_rmp_assigned_fault: reads and writes of a guest-private page give 0xD, exact q0/q1. */
START_TEST(amdvi_rmp_assigned_fault)
{
  struct fixture fx;
  rmp_fixture_init(&fx, AMDVI_PROFILE_DEFAULT, RMP_BASE, RMP_END);
  (void)amdvi_guest_dte_translate(&fx.guest, DEVID, 3, DOMAIN);
  (void)amdvi_guest_map(&fx.guest, DEVID, 0x10000, DATA_GPA, 4096, true, true);
  /* Assigned, Immutable, GPA 0x5000, ASID 0x2A5. */
  rmp_entry_set(&fx, RMP_BASE, DATA_GPA,
                UINT64_C(0x2A5) << 51 | UINT64_C(0x5000) | AMDVI_RMP_IMMUTABLE | 1);
  struct amdvi_xlate_result result = xlate(&fx, DEVID, 0x10008, false);
  ck_assert_int_eq(result.status, AMDVI_XLATE_FAULT);
  ck_assert_uint_eq(result.event_code, AMDVI_EVENT_RMP_FAULT);
  uint64_t q0, q1;
  ck_assert(amdvi_guest_event_pop(&fx.guest, &q0, &q1));
  /* code D, flags 0, vmg_tag 0x2A5, flags_rmp 0x03 (Assigned, Immutable), DeviceID 0x0123. */
  ck_assert_uint_eq(q0, UINT64_C(0xD00002A500030123));
  ck_assert_uint_eq(q1, 0x10008);
  /* A write through the IOTLB: flags RW (bit 5). */
  result = xlate(&fx, DEVID, 0x10FF0, true);
  ck_assert(result.iotlb_hit);
  ck_assert_int_eq(result.status, AMDVI_XLATE_FAULT);
  ck_assert(amdvi_guest_event_pop(&fx.guest, &q0, &q1));
  ck_assert_uint_eq(q0, UINT64_C(0xD02002A500030123));
  ck_assert_uint_eq(q1, 0x10FF0);
  /* Passthrough (DTE V=0): same check, 2 MiB PageSize flag, ASID 1. */
  rmp_entry_set(&fx, RMP_BASE, DATA_GPA + 0x1000, UINT64_C(1) << 51 | AMDVI_RMP_PAGESIZE | 1);
  result = xlate(&fx, RMP_DEVID, DATA_GPA + 0x1004, true);
  ck_assert_int_eq(result.status, AMDVI_XLATE_FAULT);
  ck_assert(amdvi_guest_event_pop(&fx.guest, &q0, &q1));
  ck_assert_uint_eq(q0, UINT64_C(0xD020000100050456));
  ck_assert_uint_eq(q1, DATA_GPA + 0x1004);
  /* The guest hands the page back (Assigned=0): the same access passes. */
  rmp_entry_set(&fx, RMP_BASE, DATA_GPA + 0x1000, 0);
  ck_assert_int_eq(xlate(&fx, RMP_DEVID, DATA_GPA + 0x1004, true).status, AMDVI_XLATE_OK);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_rmp_hw_error: an entry past RMP_END or outside RAM gives 0xE with the entry's SPA. */
START_TEST(amdvi_rmp_hw_error)
{
  struct fixture fx;
  rmp_fixture_init(&fx, AMDVI_PROFILE_DEFAULT, RMP_BASE, RMP_END);
  /* SPA 16 MiB: entry at base + 0x4000 + 0x1000 * 16 = RMP_END + 1. */
  struct amdvi_xlate_result result = xlate(&fx, RMP_DEVID, UINT64_C(0x1000000), false);
  ck_assert_int_eq(result.status, AMDVI_XLATE_FAULT);
  ck_assert_uint_eq(result.event_code, AMDVI_EVENT_RMP_HW_ERROR);
  uint64_t q0, q1;
  ck_assert(amdvi_guest_event_pop(&fx.guest, &q0, &q1));
  ck_assert_uint_eq(q0, UINT64_C(0xE000000000000456));
  ck_assert_uint_eq(q1, UINT64_C(0xC14000));
  /* The last covered page still passes. */
  ck_assert_int_eq(xlate(&fx, RMP_DEVID, UINT64_C(0xFFF000), true).status, AMDVI_XLATE_OK);
  fixture_deinit(&fx);
  /* In range but beyond RAM: base 16 MiB - 64 KiB, entries of pages >= 0xC00 unbacked. */
  rmp_fixture_init(&fx, AMDVI_PROFILE_DEFAULT, UINT64_C(0xFF0000), UINT64_C(0x10FFFFF));
  result = xlate(&fx, RMP_DEVID, UINT64_C(0xC00000), true);
  ck_assert_int_eq(result.status, AMDVI_XLATE_FAULT);
  ck_assert(amdvi_guest_event_pop(&fx.guest, &q0, &q1));
  ck_assert_uint_eq(q0, UINT64_C(0xE020000000000456));
  ck_assert_uint_eq(q1, UINT64_C(0x1000000));
  ck_assert_int_eq(xlate(&fx, RMP_DEVID, UINT64_C(0xBFF000), true).status, AMDVI_XLATE_OK);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_rmp_qemu_silent: qemu-10.1 has no RMP check: same setup, no read, no event, no SNPSup. */
START_TEST(amdvi_rmp_qemu_silent)
{
  struct fixture fx;
  rmp_fixture_init(&fx, AMDVI_PROFILE_QEMU_10_1, RMP_BASE, RMP_END);
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, AMDVI_MMIO_EFR, 8), UINT64_C(0x29D3));
  rmp_entry_set(&fx, RMP_BASE, DATA_GPA, UINT64_C(0x2A5) << 51 | 1);
  ck_assert_int_eq(xlate(&fx, RMP_DEVID, DATA_GPA, true).status, AMDVI_XLATE_OK);
  ck_assert_int_eq(xlate(&fx, RMP_DEVID, UINT64_C(0x1000000), false).status, AMDVI_XLATE_OK);
  ck_assert_uint_eq(rmp_reads(&fx), 0);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  fixture_deinit(&fx);
}
END_TEST

Suite *amdvi_xlate_suite(void)
{
  Suite *suite = suite_create("amdvi_xlate");
  TCase *walk = tcase_create("walk");
  tcase_add_test(walk, amdvi_walk_modes_1_to_6);
  tcase_add_test(walk, amdvi_walk_large_pages);
  tcase_add_test(walk, amdvi_walk_faults);
  tcase_add_test(walk, amdvi_walk_intermediate_permissions);
  tcase_add_test(walk, amdvi_walk_self_loop);
  suite_add_tcase(suite, walk);
  TCase *iotlb = tcase_create("iotlb");
  tcase_add_test(iotlb, amdvi_iotlb_invalidation);
  tcase_add_test(iotlb, amdvi_iotlb_capacity);
  suite_add_tcase(suite, iotlb);
  TCase *dte = tcase_create("dte");
  tcase_add_test(dte, amdvi_dte_passthrough_and_blocking);
  tcase_add_test(dte, amdvi_dte_hostile);
  tcase_add_test(dte, amdvi_dte_dma_translation_off);
  tcase_add_test(dte, amdvi_dte_device_mode);
  suite_add_tcase(suite, dte);
  TCase *irq = tcase_create("irq");
  tcase_add_test(irq, amdvi_irq_intctl);
  tcase_add_test(irq, amdvi_irq_ga_and_xt);
  tcase_add_test(irq, amdvi_irq_nmi_pass);
  tcase_add_test(irq, amdvi_irq_unbacked_table);
  suite_add_tcase(suite, irq);
  TCase *rmp = tcase_create("rmp");
  tcase_add_test(rmp, amdvi_rmp_off_by_default);
  tcase_add_test(rmp, amdvi_rmp_unassigned_pass);
  tcase_add_test(rmp, amdvi_rmp_assigned_fault);
  tcase_add_test(rmp, amdvi_rmp_hw_error);
  tcase_add_test(rmp, amdvi_rmp_qemu_silent);
  suite_add_tcase(suite, rmp);
  return suite;
}
