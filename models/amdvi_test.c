/*
 * amdvi_test.c: the AMD IOMMU's registers, PCI function, command processor
 * and event log (spec §10.4 functional cases 1-4 and hostile cases 9-14, 17),
 * in the default profile and, where QEMU differs, the qemu-10.1 profile.
 * The device is driven through its public API by the small guest driver of
 * amdvi_guest.h over a flat 16 MiB memory; a seeded sweep of random guest
 * behaviour checks boundedness and derived-state consistency.  TCases: mmio,
 * pci, cmd, evt, ats (device-side ATS/PPR requests, events 7, 8, 9), hostile.
 */
#include "sim_base.h"

#include "amdvi.h"
#include "amdvi_guest.h"
#include "sim.h"
#include "sim_check.h"
#include "sim_prng.h"

#define RAM_BYTES (UINT64_C(16) << 20)
#define STORE_GPA UINT64_C(0x300000)          /* completion-wait targets */
#define CONTROL_ALL \
  (AMDVI_CONTROL_EVTLOG_EN | AMDVI_CONTROL_EVTINT_EN | AMDVI_CONTROL_COMWAIT_EN | \
   AMDVI_CONTROL_CMDBUF_EN)

struct fixture {
  struct sim *sim;
  struct amdvi_guest guest;
  struct amdvi *dev;
};

static void fixture_init(struct fixture *fx, enum amdvi_profile profile)
{
  struct sim_options options = {.seed = 1};
  fx->sim = sim_create(&options);
  struct amdvi_config config;
  amdvi_config_default(&config);
  config.profile = profile;
  amdvi_guest_init(&fx->guest, fx->sim, &config, RAM_BYTES);
  fx->dev = fx->guest.iommu;
}

static void fixture_deinit(struct fixture *fx)
{
  sim_destroy(fx->sim);
}

static uint64_t reg(struct fixture *fx, uint32_t offset)
{
  return amdvi_mmio_read(fx->dev, offset, 8);
}

/*
 * A DMA fault generator: device 0x10 is translated with an empty mode-1
 * table; INVALIDATE_DEVTAB_ENTRY switches QEMU's region to translated.
 */
static void fault_device_setup(struct fixture *fx)
{
  (void)amdvi_guest_dte_translate(&fx->guest, 0x10, 1, 7);
  ck_assert(amdvi_guest_command(&fx->guest, (UINT64_C(2) << 60) | 0x10, 0, true));
}

static void fault_once(struct fixture *fx, uint64_t iova)
{
  struct amdvi_xlate_result result;
  amdvi_translate(fx->dev, 0x10, iova, false, &result);
  ck_assert_int_eq(result.status, AMDVI_XLATE_FAULT);
}

/* ---------------------------------------------------------------- mmio */

/* amdvi_mmio_reset_values: every register after reset, and EFR slices by access size. */
START_TEST(amdvi_mmio_reset_values)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  for (uint32_t offset = 0; offset < AMDVI_MMIO_BYTES; offset += 8) {
    uint64_t want = offset == AMDVI_MMIO_EFR ? UINT64_C(0x29D3) : 0;
    ck_assert_msg(reg(&fx, offset) == want, "offset 0x%x", offset);
  }
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, AMDVI_MMIO_EFR, 4), 0x29D3);
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, AMDVI_MMIO_EFR, 2), 0x29D3);
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, AMDVI_MMIO_EFR, 1), 0xD3);
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, AMDVI_MMIO_EFR + 1, 1), 0x29);
  fixture_deinit(&fx);
  /* Properties change EFR: xtsup adds bit 2, dma-translation=off sets HATS=11b. */
  struct sim_options options = {.seed = 1};
  struct sim *sim = sim_create(&options);
  struct amdvi_config config;
  amdvi_config_default(&config);
  config.xtsup = true;
  struct amdvi_guest guest;
  amdvi_guest_init(&guest, sim, &config, RAM_BYTES);
  ck_assert_uint_eq(amdvi_mmio_read(guest.iommu, AMDVI_MMIO_EFR, 8), 0x29D7);
  config.xtsup = false;
  config.dma_translation = false;
  amdvi_guest_init(&guest, sim, &config, RAM_BYTES);
  ck_assert_uint_eq(amdvi_mmio_read(guest.iommu, AMDVI_MMIO_EFR, 8), 0x2DD3);
  sim_destroy(sim);
}
END_TEST

/* amdvi_mmio_ro_bits_ignored: writes of all-ones keep RO bits and store the writable ones. */
START_TEST(amdvi_mmio_ro_bits_ignored)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_EFR, 8, UINT64_MAX);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_EFR), 0x29D3);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_DEVTAB_BASE, 8, UINT64_MAX);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_DEVTAB_BASE), UINT64_C(0x000FFFFFFFFFF1FF));
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_EVTLOG_TAIL, 8, UINT64_MAX);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_EVTLOG_TAIL), 0x7FFF0);
  amdvi_mmio_write(fx.dev, 0x100, 8, UINT64_MAX); /* unimplemented */
  ck_assert_uint_eq(reg(&fx, 0x100), 0);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_STATUS, 8, UINT64_MAX); /* RO run bits, W1C rest */
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_STATUS), 0);
  /* 2- and 4-byte writes touch only their bytes. */
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_EXCL_LIMIT + 4, 4, 0x12345);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_EXCL_LIMIT + 2, 2, 0xABCD);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_EXCL_LIMIT), UINT64_C(0x00012345ABCD0000));
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_mmio_w1c_clears_written_bits: Status W1C clears only written ones, keeps on 0. */
START_TEST(amdvi_mmio_w1c_clears_written_bits)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
  fault_device_setup(&fx);
  fault_once(&fx, 0x1000);                                              /* EventLogInt */
  ck_assert(amdvi_guest_completion_wait(&fx.guest, STORE_GPA, 1, AMDVI_CW_INTERRUPT, true));
  uint64_t status = reg(&fx, AMDVI_MMIO_STATUS);
  ck_assert_uint_eq(status & 0x7, AMDVI_STATUS_EVTLOG_INT | AMDVI_STATUS_COMWAIT_INT);
  ck_assert(status & AMDVI_STATUS_CMDBUF_RUN);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_STATUS, 8, 0);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_STATUS), status);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_STATUS, 8, AMDVI_STATUS_COMWAIT_INT);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_STATUS), status & ~AMDVI_STATUS_COMWAIT_INT);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_STATUS, 1, 0xFF);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_STATUS) & 0x7, 0);
  ck_assert(reg(&fx, AMDVI_MMIO_STATUS) & AMDVI_STATUS_EVTLOG_RUN);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_mmio_invalid_access: bad sizes, crossing the window and misalignment are inert. */
START_TEST(amdvi_mmio_invalid_access)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, AMDVI_MMIO_EFR, 3), UINT64_MAX);
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, 0x3FFC, 8), UINT64_MAX);
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, 0x4000, 4), UINT64_MAX);
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, AMDVI_MMIO_EFR + 2, 4), UINT64_MAX);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_DEVTAB_BASE + 4, 8, UINT64_MAX);
  amdvi_mmio_write(fx.dev, 0x3FF8, 16, UINT64_MAX);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_DEVTAB_BASE), 0);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_mmio_byte_access_qemu_quirk: QEMU reads bytes as 0xFF and byte writes do not store. */
START_TEST(amdvi_mmio_byte_access_qemu_quirk)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_QEMU_10_1);
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, AMDVI_MMIO_EFR, 1), 0xFF);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_EXCL_LIMIT + 2, 1, 0x55);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_EXCL_LIMIT), 0);
  fixture_deinit(&fx);
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_EXCL_LIMIT + 2, 1, 0x55);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_EXCL_LIMIT), 0x550000);
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, AMDVI_MMIO_EXCL_LIMIT + 2, 1), 0x55);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_mmio_low_dword_qemu_quirk: QEMU applies a base only on a qword or upper-dword write. */
START_TEST(amdvi_mmio_low_dword_qemu_quirk)
{
  for (int profile = 0; profile < 2; profile++) {
    struct fixture fx;
    fixture_init(&fx, (enum amdvi_profile)profile);
    amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
    fault_device_setup(&fx);
    /* Move the device table by a low-dword write only: QEMU keeps using the old one. */
    amdvi_mmio_write(fx.dev, AMDVI_MMIO_DEVTAB_BASE, 4, (uint32_t)(RAM_BYTES | 15));
    struct amdvi_xlate_result result;
    amdvi_translate(fx.dev, 0x10, 0x1000, false, &result);
    ck_assert_uint_eq(result.event_code, profile == AMDVI_PROFILE_QEMU_10_1
                                             ? AMDVI_EVENT_IO_PAGE_FAULT
                                             : AMDVI_EVENT_DEVTAB_HW_ERROR);
    ck_assert_int_eq(result.status, AMDVI_XLATE_FAULT);
    amdvi_mmio_write(fx.dev, AMDVI_MMIO_DEVTAB_BASE + 4, 4, 0);
    amdvi_translate(fx.dev, 0x10, 0x1000, false, &result);
    ck_assert_int_eq(result.status, AMDVI_XLATE_FAULT);
    uint64_t q0, q1;
    while (amdvi_guest_event_pop(&fx.guest, &q0, &q1)) continue;
    ck_assert_uint_eq(q0 >> 60, AMDVI_EVENT_DEVTAB_HW_ERROR);
    fixture_deinit(&fx);
  }
}
END_TEST

/* ----------------------------------------------------------------- pci */

/* amdvi_pci_identity: IDs, class, and the capability chain 0x60->0x5C->0x58->0x40 (§3.2). */
START_TEST(amdvi_pci_identity)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, 0, 4), 0x14191022);
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, 0x0A, 2), 0x0806);
  ck_assert(amdvi_pci_config_read(fx.dev, 0x06, 2) & 0x10);
  static const uint8_t chain[] = {0x60, 0x5C, 0x58, 0x40};
  static const uint8_t ids[] = {0x05, 0x08, 0x05, 0x0F};
  uint32_t pointer = amdvi_pci_config_read(fx.dev, 0x34, 1);
  for (size_t i = 0; i < sizeof chain; i++) {
    ck_assert_uint_eq(pointer, chain[i]);
    ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, pointer, 1), ids[i]);
    pointer = amdvi_pci_config_read(fx.dev, pointer + 1, 1);
  }
  ck_assert_uint_eq(pointer, 0);
  uint32_t cap = amdvi_pci_iommu_cap_offset(fx.dev);
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, cap, 4), 0x1E03000F); /* device-iotlb off */
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, cap + 4, 4), 0xFED80000);
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, cap + 0xC, 4), 0xFF000000);
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, amdvi_pci_msi_cap_offset(fx.dev) + 2, 2),
                    0x0080);
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, 0x101, 1), UINT32_MAX);
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, 0x01, 2), UINT32_MAX);
  fixture_deinit(&fx);
  /* IotlbSup: set by device-iotlb, and always by QEMU. */
  fixture_init(&fx, AMDVI_PROFILE_QEMU_10_1);
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, cap, 4), 0x1F03000F);
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, cap + 0x10, 4), 0x00182E00);
  fixture_deinit(&fx);
  struct sim_options options = {.seed = 1};
  struct sim *sim = sim_create(&options);
  struct amdvi_config config;
  amdvi_config_default(&config);
  config.device_iotlb = true;
  struct amdvi_guest guest;
  amdvi_guest_init(&guest, sim, &config, RAM_BYTES);
  ck_assert_uint_eq(amdvi_pci_config_read(guest.iommu, cap, 4), 0x1F03000F);
  sim_destroy(sim);
}
END_TEST

/* amdvi_pci_masks: RO identity, writable MSI fields, Signaled Target Abort set and W1C. */
START_TEST(amdvi_pci_masks)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_pci_config_write(fx.dev, 0, 4, 0);
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, 0, 4), 0x14191022);
  amdvi_pci_config_write(fx.dev, 0x40, 4, 0);
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, 0x40, 4), 0x1E03000F);
  amdvi_pci_config_write(fx.dev, 0x62, 2, 0xFFFF);
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, 0x62, 2), 0x0081);
  amdvi_pci_config_write(fx.dev, 0x64, 4, 0xFEE01237);
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, 0x64, 4), 0xFEE01234);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
  fault_device_setup(&fx);
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, 0x06, 2) & 0x0800, 0);
  fault_once(&fx, 0x2000);
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, 0x06, 2) & 0x0800, 0x0800);
  amdvi_pci_config_write(fx.dev, 0x06, 2, 0x0010); /* writing 0 to STA keeps it */
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, 0x06, 2), 0x0810);
  amdvi_pci_config_write(fx.dev, 0x06, 2, 0x0800);
  ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, 0x06, 2), 0x0010);
  fixture_deinit(&fx);
}
END_TEST

/* ----------------------------------------------------------------- cmd */

/* amdvi_cmd_completion_wait: store, ComWaitInt and MSI; ComWaitIntEn gates the MSI (not QEMU). */
START_TEST(amdvi_cmd_completion_wait)
{
  for (int profile = 0; profile < 2; profile++) {
    struct fixture fx;
    fixture_init(&fx, (enum amdvi_profile)profile);
    amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL & ~AMDVI_CONTROL_COMWAIT_EN);
    ck_assert(amdvi_guest_completion_wait(&fx.guest, STORE_GPA, 0x1122334455667788,
                                          AMDVI_CW_STORE, true));
    ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, STORE_GPA), 0x1122334455667788);
    ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_STATUS) & AMDVI_STATUS_COMWAIT_INT, 0);
    ck_assert_uint_eq(fx.guest.msi_count, 0);
    ck_assert(amdvi_guest_completion_wait(&fx.guest, STORE_GPA, 2, AMDVI_CW_INTERRUPT, true));
    ck_assert(reg(&fx, AMDVI_MMIO_STATUS) & AMDVI_STATUS_COMWAIT_INT);
    ck_assert_uint_eq(fx.guest.msi_count, profile == AMDVI_PROFILE_QEMU_10_1 ? 1 : 0);
    amdvi_mmio_write(fx.dev, AMDVI_MMIO_CONTROL, 8,
                     AMDVI_CONTROL_IOMMU_EN | CONTROL_ALL);
    ck_assert(amdvi_guest_completion_wait(&fx.guest, STORE_GPA, 3, AMDVI_CW_INTERRUPT, true));
    ck_assert_uint_eq(fx.guest.msi_count, profile == AMDVI_PROFILE_QEMU_10_1 ? 2 : 1);
    ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, STORE_GPA), 0x1122334455667788);
    fixture_deinit(&fx);
  }
}
END_TEST

/* amdvi_cmd_300_wrap: 300 commands through a 256-entry ring; head reads 0 at the wrap. */
START_TEST(amdvi_cmd_300_wrap)
{
  for (int profile = 0; profile < 2; profile++) {
    struct fixture fx;
    fixture_init(&fx, (enum amdvi_profile)profile);
    amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
    for (uint64_t i = 0; i < 300; i++) {
      ck_assert(amdvi_guest_completion_wait(&fx.guest, STORE_GPA + 8 * i, 1000 + i,
                                            AMDVI_CW_STORE, true));
      if (i == 255) {
        /* Bare metal reads 0; QEMU reads the ring size (issue #3338). */
        uint64_t want = profile == AMDVI_PROFILE_QEMU_10_1 ? 0x1000 : 0;
        ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_CMDBUF_HEAD), want);
      }
    }
    for (uint64_t i = 0; i < 300; i++) {
      ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, STORE_GPA + 8 * i), 1000 + i);
    }
    ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_CMDBUF_HEAD), (300 * 16) % 4096);
    ck_assert_uint_eq(amdvi_commands_pending(fx.dev), 0);
    fixture_deinit(&fx);
  }
}
END_TEST

/* amdvi_cmd_pending_until_enabled: three commands queued with CmdBufEn=0 run once on enable. */
START_TEST(amdvi_cmd_pending_until_enabled)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL & ~AMDVI_CONTROL_CMDBUF_EN);
  for (uint64_t i = 0; i < 3; i++) {
    ck_assert(amdvi_guest_completion_wait(&fx.guest, STORE_GPA + 8 * i, 7 + i, AMDVI_CW_STORE,
                                          true));
  }
  ck_assert_uint_eq(amdvi_commands_pending(fx.dev), 3);
  ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, STORE_GPA), 0);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_CONTROL, 8, AMDVI_CONTROL_IOMMU_EN | CONTROL_ALL);
  struct amdvi_stats stats;
  amdvi_stats_get(fx.dev, &stats);
  ck_assert_uint_eq(stats.commands_count, 3);
  for (uint64_t i = 0; i < 3; i++) {
    ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, STORE_GPA + 8 * i), 7 + i);
  }
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_CONTROL, 8, AMDVI_CONTROL_IOMMU_EN | CONTROL_ALL);
  amdvi_stats_get(fx.dev, &stats);
  ck_assert_uint_eq(stats.commands_count, 3);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_cmd_batch_bound: commands_per_step_max bounds a doorbell; amdvi_step runs the rest. */
START_TEST(amdvi_cmd_batch_bound)
{
  struct sim_options options = {.seed = 1};
  struct sim *sim = sim_create(&options);
  struct amdvi_config config;
  amdvi_config_default(&config);
  config.commands_per_step_max = 2;
  struct amdvi_guest guest;
  amdvi_guest_init(&guest, sim, &config, RAM_BYTES);
  amdvi_guest_setup(&guest, 8, 8, CONTROL_ALL);
  for (uint64_t i = 0; i < 5; i++) {
    ck_assert(amdvi_guest_completion_wait(&guest, STORE_GPA + 8 * i, 1 + i, AMDVI_CW_STORE,
                                          false));
  }
  amdvi_guest_doorbell(&guest);
  ck_assert_uint_eq(amdvi_commands_pending(guest.iommu), 3);
  ck_assert_uint_eq(amdvi_step(guest.iommu), 2);
  ck_assert_uint_eq(amdvi_step(guest.iommu), 1);
  ck_assert_uint_eq(amdvi_step(guest.iommu), 0);
  ck_assert_uint_eq(amdvi_guest_read64(&guest, STORE_GPA + 32), 5);
  sim_destroy(sim);
}
END_TEST

static void expect_event(struct fixture *fx, uint32_t code, uint64_t address)
{
  uint64_t q0, q1;
  ck_assert(amdvi_guest_event_pop(&fx->guest, &q0, &q1));
  ck_assert_uint_eq(q0 >> 60, code);
  ck_assert_uint_eq(q1, address);
}

/* amdvi_cmd_illegal_opcode: opcodes 0 and 9-F log ILLEGAL_COMMAND at the command's address. */
START_TEST(amdvi_cmd_illegal_opcode)
{
  static const uint64_t opcodes[] = {0x0, 0x9, 0xA, 0xB, 0xC, 0xD, 0xE, 0xF};
  /* QEMU: one event per command, processing continues. */
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_QEMU_10_1);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
  for (size_t i = 0; i < SIM_ARRAY_COUNT(opcodes); i++) {
    uint64_t garbage = UINT64_C(0x0123456789ABCDEF) * (i + 1);
    ck_assert(amdvi_guest_command(&fx.guest, (opcodes[i] << 60) | (garbage >> 4), garbage, true));
  }
  for (size_t i = 0; i < SIM_ARRAY_COUNT(opcodes); i++) {
    expect_event(&fx, AMDVI_EVENT_ILLEGAL_COMMAND, AMDVI_GUEST_CMD_GPA + 16 * i);
  }
  ck_assert_uint_eq(amdvi_commands_pending(fx.dev), 0);
  fixture_deinit(&fx);
  /* Default: halt at the command (CmdBufRun=0); a Control write resumes after a fix. */
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
  ck_assert(amdvi_guest_command(&fx.guest, UINT64_C(0x9) << 60, 0, false));
  ck_assert(amdvi_guest_completion_wait(&fx.guest, STORE_GPA, 42, AMDVI_CW_STORE, true));
  expect_event(&fx, AMDVI_EVENT_ILLEGAL_COMMAND, AMDVI_GUEST_CMD_GPA);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_STATUS) & AMDVI_STATUS_CMDBUF_RUN, 0);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_CMDBUF_HEAD), 0);
  ck_assert_uint_eq(amdvi_commands_pending(fx.dev), 2);
  amdvi_guest_write64(&fx.guest, AMDVI_GUEST_CMD_GPA, UINT64_C(0x8) << 60); /* INV_ALL */
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_CONTROL, 8, AMDVI_CONTROL_IOMMU_EN | CONTROL_ALL);
  ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, STORE_GPA), 42);
  ck_assert(reg(&fx, AMDVI_MMIO_STATUS) & AMDVI_STATUS_CMDBUF_RUN);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_cmd_reserved_bits: an event for reserved bits; QEMU executes or skips per §5.2. */
START_TEST(amdvi_cmd_reserved_bits)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_QEMU_10_1);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
  uint64_t q0 = (UINT64_C(1) << 60) | (UINT64_C(1) << 52) | STORE_GPA | AMDVI_CW_STORE;
  ck_assert(amdvi_guest_command(&fx.guest, q0, 99, true)); /* executes anyway */
  ck_assert(amdvi_guest_command(&fx.guest, (UINT64_C(5) << 60), 1, true)); /* skipped */
  ck_assert(amdvi_guest_command(&fx.guest, (UINT64_C(4) << 60), 0x8, true));
  expect_event(&fx, AMDVI_EVENT_ILLEGAL_COMMAND, AMDVI_GUEST_CMD_GPA);
  expect_event(&fx, AMDVI_EVENT_ILLEGAL_COMMAND, AMDVI_GUEST_CMD_GPA + 16);
  expect_event(&fx, AMDVI_EVENT_ILLEGAL_COMMAND, AMDVI_GUEST_CMD_GPA + 32);
  ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, STORE_GPA), 99);
  fixture_deinit(&fx);
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
  ck_assert(amdvi_guest_command(&fx.guest, q0, 99, true));
  expect_event(&fx, AMDVI_EVENT_ILLEGAL_COMMAND, AMDVI_GUEST_CMD_GPA);
  ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, STORE_GPA), 0);
  ck_assert_uint_eq(amdvi_commands_pending(fx.dev), 1);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_cmd_hostile_ring: tail past the ring, ComLen < 8, no base: bounded, documented. */
START_TEST(amdvi_cmd_hostile_ring)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_CMDBUF_TAIL, 8, 0x2008); /* beyond 4 KiB, unaligned */
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_CMDBUF_TAIL), 0x2000);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_STATUS) & AMDVI_STATUS_CMDBUF_RUN, 0);
  expect_event(&fx, AMDVI_EVENT_COMMAND_HW_ERROR, AMDVI_GUEST_CMD_GPA + 0x2000);
  fixture_deinit(&fx);
  /* ComLen 7 and an unprogrammed base: the ring never starts. */
  for (uint64_t base = 0; base < 2; base++) {
    fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
    amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
    amdvi_mmio_write(fx.dev, AMDVI_MMIO_CMDBUF_BASE, 8,
                     base == 0 ? AMDVI_GUEST_CMD_GPA | UINT64_C(7) << 56 : 0);
    amdvi_mmio_write(fx.dev, AMDVI_MMIO_CMDBUF_TAIL, 8, 0x10);
    ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_STATUS) & AMDVI_STATUS_CMDBUF_RUN, 0);
    ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 1);
    fixture_deinit(&fx);
  }
  /* QEMU would loop forever on each of these; the profile counts and stays bounded. */
  fixture_init(&fx, AMDVI_PROFILE_QEMU_10_1);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_CMDBUF_TAIL, 8, 0x2000);
  struct amdvi_stats stats;
  amdvi_stats_get(fx.dev, &stats);
  ck_assert_uint_eq(stats.qemu_hazards_count, 1);
  ck_assert_uint_eq(stats.commands_count, 256);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_cmd_fetch_error: a ring in unbacked memory logs COMMAND_HARDWARE_ERROR and STA. */
START_TEST(amdvi_cmd_fetch_error)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
  uint64_t base = AMDVI_MMIO_BASE; /* the IOMMU's own MMIO: not guest RAM */
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_CMDBUF_BASE, 8, base | UINT64_C(8) << 56);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_CMDBUF_TAIL, 8, 0x20);
  expect_event(&fx, AMDVI_EVENT_COMMAND_HW_ERROR, base);
  expect_event(&fx, AMDVI_EVENT_COMMAND_HW_ERROR, base + 16);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_CMDBUF_HEAD), 0x20);
  ck_assert(amdvi_pci_config_read(fx.dev, 0x06, 2) & 0x0800);
  /* A completion-wait store into unbacked memory is an error too (QEMU: trace only). */
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_CMDBUF_BASE, 8, AMDVI_GUEST_CMD_GPA | UINT64_C(8) << 56);
  fx.guest.cmd_tail = 0;
  ck_assert(amdvi_guest_completion_wait(&fx.guest, RAM_BYTES, 1, AMDVI_CW_STORE, true));
  expect_event(&fx, AMDVI_EVENT_COMMAND_HW_ERROR, AMDVI_GUEST_CMD_GPA);
  fixture_deinit(&fx);
}
END_TEST

/* ----------------------------------------------------------------- evt */

/* amdvi_evt_overflow: 255 events fit, the 256th sets EventOverflow + MSI, later ones drop. */
START_TEST(amdvi_evt_overflow)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
  fault_device_setup(&fx);
  for (uint64_t i = 0; i < 255; i++) fault_once(&fx, i << 12);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 255);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_STATUS) & AMDVI_STATUS_EVT_OVERFLOW, 0);
  uint64_t msi_before = fx.guest.msi_count;
  fault_once(&fx, 0x100000);
  ck_assert(reg(&fx, AMDVI_MMIO_STATUS) & AMDVI_STATUS_EVT_OVERFLOW);
  ck_assert_uint_eq(fx.guest.msi_count, msi_before + 1);
  uint64_t q0, q1;
  ck_assert(amdvi_guest_event_pop(&fx.guest, &q0, &q1)); /* room again, but overflow holds */
  fault_once(&fx, 0x101000);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 254);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_STATUS, 8, AMDVI_STATUS_EVT_OVERFLOW);
  fault_once(&fx, 0x102000);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 255);
  /* Rewriting the base resets both pointers. */
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_EVTLOG_BASE, 8, AMDVI_GUEST_EVT_GPA | UINT64_C(8) << 56);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_EVTLOG_HEAD), 0);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_EVTLOG_TAIL), 0);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_evt_no_base: EventLogEn with no log programmed never crashes (QEMU divides by 0). */
START_TEST(amdvi_evt_no_base)
{
  for (int profile = 0; profile < 2; profile++) {
    struct fixture fx;
    fixture_init(&fx, (enum amdvi_profile)profile);
    amdvi_mmio_write(fx.dev, AMDVI_MMIO_DEVTAB_BASE, 8, AMDVI_GUEST_DEVTAB_GPA | 15);
    amdvi_mmio_write(fx.dev, AMDVI_MMIO_CMDBUF_BASE, 8, AMDVI_GUEST_CMD_GPA | UINT64_C(8) << 56);
    amdvi_mmio_write(fx.dev, AMDVI_MMIO_CONTROL, 8, AMDVI_CONTROL_IOMMU_EN | CONTROL_ALL);
    fx.guest.cmd_entries = 256;
    fault_device_setup(&fx);
    fault_once(&fx, 0x1000);
    struct amdvi_stats stats;
    amdvi_stats_get(fx.dev, &stats);
    ck_assert_uint_eq(stats.events_logged_count, 0);
    ck_assert_uint_eq(stats.events_dropped_count, 1);
    ck_assert_uint_eq(stats.qemu_hazards_count, profile == AMDVI_PROFILE_QEMU_10_1 ? 1 : 0);
    fixture_deinit(&fx);
  }
}
END_TEST

/* amdvi_evt_byte_writes: QEMU's byte write to Event Log Base resets pointers unstored. */
START_TEST(amdvi_evt_byte_writes)
{
  for (int profile = 0; profile < 2; profile++) {
    struct fixture fx;
    fixture_init(&fx, (enum amdvi_profile)profile);
    amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL & ~AMDVI_CONTROL_EVTINT_EN);
    fault_device_setup(&fx);
    fault_once(&fx, 0x1000);
    ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_EVTLOG_TAIL), 0x10);
    amdvi_mmio_write(fx.dev, AMDVI_MMIO_EVTLOG_BASE + 7, 1, 0x09); /* EventLen 9 */
    ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_EVTLOG_TAIL), 0);
    uint64_t len = reg(&fx, AMDVI_MMIO_EVTLOG_BASE) >> 56;
    ck_assert_uint_eq(len, profile == AMDVI_PROFILE_QEMU_10_1 ? 8 : 9);
    fixture_deinit(&fx);
  }
}
END_TEST

/* amdvi_reset_clears_state: reset restores registers and config; QEMU leaves fields stale. */
START_TEST(amdvi_reset_clears_state)
{
  for (int profile = 0; profile < 2; profile++) {
    struct fixture fx;
    fixture_init(&fx, (enum amdvi_profile)profile);
    amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL | AMDVI_CONTROL_GA_EN);
    amdvi_reset(fx.dev);
    for (uint32_t offset = 0; offset < AMDVI_MMIO_BYTES; offset += 8) {
      ck_assert_uint_eq(reg(&fx, offset), offset == AMDVI_MMIO_EFR ? 0x29D3 : 0);
    }
    ck_assert_uint_eq(amdvi_pci_config_read(fx.dev, 0x62, 2), 0x0080);
    char names[256];
    uint32_t stale = amdvi_derived_check(fx.dev, names, sizeof names);
    if (profile == AMDVI_PROFILE_QEMU_10_1) {
      ck_assert_str_eq(names, "ga_enabled,completion_wait_intr,evtlog_enabled,evtlog_intr,"
                              "evtlog,evtlog_len,status.EventLogRun");
      ck_assert_uint_eq(stale, 7);
    } else {
      ck_assert_uint_eq(stale, 0);
    }
    fixture_deinit(&fx);
  }
}
END_TEST


/* amdvi_evt_unbacked_log: an event log outside RAM drops events without a crash or a loop. */
START_TEST(amdvi_evt_unbacked_log)
{
  struct fixture fx;
  fixture_init(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
  fault_device_setup(&fx);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_EVTLOG_BASE, 8, AMDVI_MMIO_BASE | UINT64_C(8) << 56);
  fault_once(&fx, 0x1000);
  struct amdvi_stats stats;
  amdvi_stats_get(fx.dev, &stats);
  ck_assert_uint_eq(stats.events_logged_count, 0);
  ck_assert_uint_eq(stats.events_dropped_count, 1);
  ck_assert_uint_eq(reg(&fx, AMDVI_MMIO_EVTLOG_TAIL), 0);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_cmd_tail_byte_write: QEMU's 1-byte Tail write runs commands without storing Tail. */
START_TEST(amdvi_cmd_tail_byte_write)
{
  for (int profile = 0; profile < 2; profile++) {
    struct fixture fx;
    fixture_init(&fx, (enum amdvi_profile)profile);
    amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL & ~AMDVI_CONTROL_CMDBUF_EN);
    ck_assert(amdvi_guest_completion_wait(&fx.guest, STORE_GPA, 5, AMDVI_CW_STORE, true));
    amdvi_mmio_write(fx.dev, AMDVI_MMIO_CONTROL, 1, 0x01); /* Control byte 0: IommuEn only */
    amdvi_mmio_write(fx.dev, AMDVI_MMIO_CONTROL + 1, 1, 0x10); /* byte 1: CmdBufEn */
    uint64_t want = profile == AMDVI_PROFILE_QEMU_10_1 ? 0 : 5;
    ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, STORE_GPA), want);
    amdvi_mmio_write(fx.dev, AMDVI_MMIO_CMDBUF_TAIL, 1, 0x10);
    ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, STORE_GPA), want);
    fixture_deinit(&fx);
  }
}
END_TEST


/* ----------------------------------------------------------------- ats */

#define ATS_DEV 0x0123u                       /* bus 1, device 4, function 3 */
#define ATS_IOVA UINT64_C(0x5000)
#define ATS_GPA UINT64_C(0x600000)
#define PPR_GPA UINT64_C(0x780000)
#define MS_NS UINT64_C(1000000)
#define Q0(devid, code, flags) \
  ((uint64_t)(devid) | (uint64_t)(flags) << 48 | (uint64_t)(code) << 60)

static void fixture_init_ats(struct fixture *fx, enum amdvi_profile profile)
{
  struct sim_options options = {.seed = 1};
  fx->sim = sim_create(&options);
  struct amdvi_config config;
  amdvi_config_default(&config);
  config.profile = profile;
  config.device_iotlb = true;
  amdvi_guest_init(&fx->guest, fx->sim, &config, RAM_BYTES);
  fx->dev = fx->guest.iommu;
}

/* DTE of ATS_DEV: mode 2, domain 9, DTE.I = ats, plus q0 bits extra; ATS_IOVA -> ATS_GPA RW. */
static void ats_device_setup(struct fixture *fx, bool ats, uint64_t q0_extra)
{
  (void)amdvi_guest_dte_translate(&fx->guest, ATS_DEV, 2, 9);
  (void)amdvi_guest_map(&fx->guest, ATS_DEV, ATS_IOVA, ATS_GPA, 4096, true, true);
  uint64_t q[4];
  amdvi_guest_dte_get(&fx->guest, ATS_DEV, q);
  q[0] |= q0_extra;
  if (ats) q[1] |= UINT64_C(1) << 32;
  amdvi_guest_dte_set(&fx->guest, ATS_DEV, q);
}

static void tick(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  (void)event;
}

/* Moves virtual time to time_ns (nothing else is scheduled in these tests). */
static void advance_to(struct fixture *fx, uint64_t time_ns)
{
  struct sim_event event;
  sim_event_init(&event, tick, "test.tick");
  sim_event_schedule_at(fx->sim, &event, time_ns);
  ck_assert_int_eq(sim_run(fx->sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(sim_now_ns(fx->sim), time_ns);
}

static void event_expect(struct fixture *fx, uint64_t q0_want, uint64_t q1_want)
{
  uint64_t q0 = 0, q1 = 0;
  ck_assert_msg(amdvi_guest_event_pop(&fx->guest, &q0, &q1), "no event");
  ck_assert_msg(q0 == q0_want, "q0 %016" PRIx64 " want %016" PRIx64, q0, q0_want);
  ck_assert_msg(q1 == q1_want, "q1 %016" PRIx64 " want %016" PRIx64, q1, q1_want);
}

/* amdvi_ats_translate_success: DTE.I=1 answers with the walk's page; the ATC holds it. */
START_TEST(amdvi_ats_translate_success)
{
  struct fixture fx;
  fixture_init_ats(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
  ats_device_setup(&fx, true, 0);
  (void)amdvi_guest_map(&fx.guest, ATS_DEV, ATS_IOVA + 0x1000, ATS_GPA + 0x3000, 4096, true,
                        false);
  struct amdvi_atc atc;
  amdvi_atc_init(&atc, ATS_DEV, 0, 0);
  struct amdvi_ats_request request = {.devid = ATS_DEV, .iova = ATS_IOVA + 0x123};
  struct amdvi_ats_result result;
  amdvi_ats_translate(fx.dev, &request, &atc, &result);
  ck_assert_int_eq(result.status, AMDVI_ATS_SUCCESS);
  ck_assert_uint_eq(result.address, ATS_GPA);
  ck_assert_uint_eq(result.page_bytes, 4096);
  ck_assert(result.read_ok && result.write_ok);
  ck_assert_uint_eq(result.event_code, 0);
  request.iova = ATS_IOVA + 0x1000;
  amdvi_ats_translate(fx.dev, &request, &atc, &result);
  ck_assert_int_eq(result.status, AMDVI_ATS_SUCCESS);
  ck_assert(result.read_ok && !result.write_ok); /* the device is told; no fault */
  ck_assert_uint_eq(amdvi_atc_valid_count(&atc), 2);
  uint64_t address = 0;
  ck_assert(amdvi_atc_lookup(&atc, ATS_IOVA + 0x456, true, &address));
  ck_assert_uint_eq(address, ATS_GPA + 0x456);
  ck_assert(amdvi_atc_lookup(&atc, ATS_IOVA + 0x1008, false, &address));
  ck_assert_uint_eq(address, ATS_GPA + 0x3008);
  ck_assert(!amdvi_atc_lookup(&atc, ATS_IOVA + 0x1008, true, &address));
  ck_assert(!amdvi_atc_lookup(&atc, ATS_IOVA + 0x2000, false, &address));
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  /* An unmapped page: completion with no access, IO_PAGE_FAULT with TR. */
  request.iova = ATS_IOVA + 0x7000;
  amdvi_ats_translate(fx.dev, &request, &atc, &result);
  ck_assert_int_eq(result.status, AMDVI_ATS_NO_ACCESS);
  ck_assert_uint_eq(result.event_code, AMDVI_EVENT_IO_PAGE_FAULT);
  event_expect(&fx, Q0(ATS_DEV, AMDVI_EVENT_IO_PAGE_FAULT, AMDVI_FAULT_FLAG_TR) |
                        (uint64_t)9 << 32, ATS_IOVA + 0x7000);
  ck_assert_uint_eq(amdvi_atc_valid_count(&atc), 2);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_ats_disabled_invalid_request: I=0, no IotlbSup, V=1/TV=0 each log event 8, type 001b. */
START_TEST(amdvi_ats_disabled_invalid_request)
{
  uint64_t want_q0 = Q0(ATS_DEV, AMDVI_EVENT_INVALID_DEVICE_REQUEST,
                        AMDVI_FAULT_FLAG_TR |
                            AMDVI_IDR_TYPE_TRANSLATION_REQUEST << AMDVI_IDR_TYPE_SHIFT);
  ck_assert_uint_eq(want_q0 >> 48, 0x8300 | 0x0100); /* code 8, type 001b, TR */
  for (int variant = 0; variant < 3; variant++) {
    struct fixture fx;
    fixture_init_ats(&fx, AMDVI_PROFILE_DEFAULT);
    amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
    ats_device_setup(&fx, variant != 0, 0);
    if (variant == 1) {
      fixture_deinit(&fx);
      fixture_init(&fx, AMDVI_PROFILE_DEFAULT); /* device_iotlb off: IotlbSup = 0 */
      amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
      ats_device_setup(&fx, true, 0);
    } else if (variant == 2) {
      uint64_t q[4];
      amdvi_guest_dte_get(&fx.guest, ATS_DEV, q);
      q[0] &= ~UINT64_C(2); /* TV = 0 */
      amdvi_guest_dte_set(&fx.guest, ATS_DEV, q);
    }
    struct amdvi_atc atc;
    amdvi_atc_init(&atc, ATS_DEV, 0, 0);
    struct amdvi_ats_request request = {.devid = ATS_DEV, .iova = ATS_IOVA + 0x10};
    struct amdvi_ats_result result;
    amdvi_ats_translate(fx.dev, &request, &atc, &result);
    ck_assert_int_eq(result.status, AMDVI_ATS_UNSUPPORTED);
    ck_assert_uint_eq(result.event_code, AMDVI_EVENT_INVALID_DEVICE_REQUEST);
    ck_assert_uint_eq(amdvi_atc_valid_count(&atc), 0);
    event_expect(&fx, want_q0, ATS_IOVA);
    fixture_deinit(&fx);
  }
}
END_TEST

/* amdvi_ats_pasid_without_gv: a PASID prefix with DTE.GV=0 -> event 8 carrying the PASID. */
START_TEST(amdvi_ats_pasid_without_gv)
{
  struct fixture fx;
  fixture_init_ats(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
  ats_device_setup(&fx, true, 0);
  struct amdvi_ats_request request = {.devid = ATS_DEV, .iova = ATS_IOVA, .pasid_present = true,
                                      .pasid = 0x12345};
  struct amdvi_ats_result result;
  amdvi_ats_translate(fx.dev, &request, NULL, &result);
  ck_assert_int_eq(result.status, AMDVI_ATS_UNSUPPORTED);
  uint32_t flags = AMDVI_FAULT_FLAG_TR | AMDVI_FAULT_FLAG_GN |
                   AMDVI_IDR_TYPE_TRANSLATION_REQUEST << AMDVI_IDR_TYPE_SHIFT;
  event_expect(&fx, Q0(ATS_DEV, AMDVI_EVENT_INVALID_DEVICE_REQUEST, flags) |
                        UINT64_C(0x1) << 16 | UINT64_C(0x2345) << 32, ATS_IOVA);
  /* GV=1: guest tables are not modeled; refused without an event. */
  ats_device_setup(&fx, true, UINT64_C(1) << 55);
  amdvi_ats_translate(fx.dev, &request, NULL, &result);
  ck_assert_int_eq(result.status, AMDVI_ATS_UNSUPPORTED);
  ck_assert_uint_eq(result.event_code, 0);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_ats_translated_access_checks: AT=10b passes with DTE.I=1, else event 8 type 010b (+RW). */
START_TEST(amdvi_ats_translated_access_checks)
{
  struct fixture fx;
  fixture_init_ats(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
  ats_device_setup(&fx, false, 0);
  struct amdvi_xlate_result result;
  amdvi_ats_translated_access(fx.dev, ATS_DEV, ATS_GPA + 0x40, true, &result);
  ck_assert_int_eq(result.status, AMDVI_XLATE_BLOCKED);
  ck_assert_uint_eq(result.event_code, AMDVI_EVENT_INVALID_DEVICE_REQUEST);
  event_expect(&fx, Q0(ATS_DEV, AMDVI_EVENT_INVALID_DEVICE_REQUEST,
                       AMDVI_FAULT_FLAG_RW | AMDVI_IDR_TYPE_PRETRANSLATED << AMDVI_IDR_TYPE_SHIFT),
               ATS_GPA + 0x40);
  amdvi_ats_translated_access(fx.dev, ATS_DEV, ATS_GPA + 0x40, false, &result);
  event_expect(&fx, Q0(ATS_DEV, AMDVI_EVENT_INVALID_DEVICE_REQUEST, 0x400), ATS_GPA + 0x40);
  ats_device_setup(&fx, true, 0);
  amdvi_ats_translated_access(fx.dev, ATS_DEV, ATS_GPA + 0x40, true, &result);
  ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
  ck_assert_uint_eq(result.address, ATS_GPA + 0x40);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  fixture_deinit(&fx);
}
END_TEST

/* Fills atc with ATS_IOVA through a translation request. */
static void atc_warm(struct fixture *fx, struct amdvi_atc *atc)
{
  struct amdvi_ats_request request = {.devid = ATS_DEV, .iova = ATS_IOVA};
  struct amdvi_ats_result result;
  amdvi_ats_translate(fx->dev, &request, atc, &result);
  ck_assert_int_eq(result.status, AMDVI_ATS_SUCCESS);
  ck_assert_uint_eq(amdvi_atc_valid_count(atc), 1);
}

#define INV_IOTLB_Q0 ((UINT64_C(4) << 60) | ATS_DEV)
#define INV_TIMEOUT_1MS (UINT64_C(1) << AMDVI_CONTROL_INV_TIMEOUT_SHIFT)

/* amdvi_ats_invalidation_answered: INVALIDATE_IOTLB_PAGES reaches the ATC at once. */
START_TEST(amdvi_ats_invalidation_answered)
{
  struct fixture fx;
  fixture_init_ats(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL | INV_TIMEOUT_1MS);
  ats_device_setup(&fx, true, 0);
  struct amdvi_atc atc;
  amdvi_atc_init(&atc, ATS_DEV, 0, 0);
  ck_assert(amdvi_atc_register(fx.dev, &atc));
  struct amdvi_atc twin;
  amdvi_atc_init(&twin, ATS_DEV, 0, 0);
  ck_assert(!amdvi_atc_register(fx.dev, &twin)); /* one ATC per DeviceID */
  atc_warm(&fx, &atc);
  /* A page that is not cached leaves the entry; the cached page drops it. */
  ck_assert(amdvi_guest_command(&fx.guest, INV_IOTLB_Q0, ATS_IOVA + 0x10000, true));
  ck_assert_uint_eq(amdvi_atc_valid_count(&atc), 1);
  ck_assert(amdvi_guest_command(&fx.guest, INV_IOTLB_Q0, ATS_IOVA, false));
  ck_assert(amdvi_guest_completion_wait(&fx.guest, STORE_GPA, 77, AMDVI_CW_STORE, true));
  ck_assert_uint_eq(amdvi_atc_valid_count(&atc), 0);
  ck_assert_uint_eq(atc.invalidations_count, 2);
  ck_assert_uint_eq(atc.completions_count, 2);
  ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, STORE_GPA), 77);
  ck_assert_uint_eq(amdvi_ats_pending_count(fx.dev), 0);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  /* A device answering in 0.5 ms (under the 1 ms timeout) holds the wait until then. */
  atc.response_ns = MS_NS / 2;
  atc_warm(&fx, &atc);
  ck_assert(amdvi_guest_command(&fx.guest, INV_IOTLB_Q0, ATS_IOVA | 1, false)); /* S=1 */
  ck_assert(amdvi_guest_completion_wait(&fx.guest, STORE_GPA, 78, AMDVI_CW_STORE, true));
  ck_assert_uint_eq(amdvi_ats_pending_count(fx.dev), 1);
  ck_assert_uint_eq(amdvi_ats_next_ns(fx.dev), MS_NS / 2);
  ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, STORE_GPA), 77);
  ck_assert_uint_eq(amdvi_atc_valid_count(&atc), 1);
  advance_to(&fx, MS_NS / 2 - 1);
  (void)amdvi_step(fx.dev);
  ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, STORE_GPA), 77);
  advance_to(&fx, MS_NS / 2);
  ck_assert_uint_eq(amdvi_step(fx.dev), 1);
  ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, STORE_GPA), 78);
  ck_assert_uint_eq(amdvi_atc_valid_count(&atc), 0);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  ck_assert_uint_eq(amdvi_commands_pending(fx.dev), 0);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_ats_invalidation_timeout: a device that never answers -> event 7 at exactly 1 ms. */
START_TEST(amdvi_ats_invalidation_timeout)
{
  struct fixture fx;
  fixture_init_ats(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL | INV_TIMEOUT_1MS);
  ats_device_setup(&fx, true, 0);
  ck_assert_uint_eq(amdvi_ats_inv_timeout_ns(fx.dev), MS_NS);
  struct amdvi_atc atc;
  amdvi_atc_init(&atc, ATS_DEV, AMDVI_ATC_QUIRK_NO_COMPLETE, 0);
  ck_assert(amdvi_atc_register(fx.dev, &atc));
  atc_warm(&fx, &atc);
  advance_to(&fx, 1000);
  ck_assert(amdvi_guest_command(&fx.guest, INV_IOTLB_Q0, ATS_IOVA, false)); /* slot 0 */
  ck_assert(amdvi_guest_completion_wait(&fx.guest, STORE_GPA, 5, AMDVI_CW_STORE, true));
  ck_assert_uint_eq(amdvi_ats_pending_count(fx.dev), 1);
  ck_assert_uint_eq(amdvi_ats_next_ns(fx.dev), 1000 + MS_NS);
  ck_assert_uint_eq(amdvi_commands_pending(fx.dev), 1); /* the wait, stalled */
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, AMDVI_MMIO_CMDBUF_HEAD, 8), 16);
  advance_to(&fx, 1000 + MS_NS - 1);
  ck_assert_uint_eq(amdvi_step(fx.dev), 0);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, STORE_GPA), 0);
  advance_to(&fx, 1000 + MS_NS);
  ck_assert_uint_eq(amdvi_step(fx.dev), 1);
  event_expect(&fx, Q0(ATS_DEV, AMDVI_EVENT_IOTLB_INV_TIMEOUT, 0), AMDVI_GUEST_CMD_GPA);
  ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, STORE_GPA), 5);
  ck_assert_uint_eq(amdvi_ats_pending_count(fx.dev), 0);
  ck_assert_uint_eq(amdvi_atc_valid_count(&atc), 1); /* the device never dropped it */
  struct amdvi_stats stats;
  amdvi_stats_get(fx.dev, &stats);
  ck_assert_uint_eq(stats.ats_timeouts_count, 1);
  ck_assert_uint_eq(stats.ats_invalidations_count, 1);
  /* An answer later than the timeout counts as none; InvTimeOut 000b is bounded at 100 s. */
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_CONTROL, 8,
                   CONTROL_ALL | AMDVI_CONTROL_IOMMU_EN | (UINT64_C(3) << 5));
  ck_assert_uint_eq(amdvi_ats_inv_timeout_ns(fx.dev), 100 * MS_NS);
  atc.quirks = 0;
  atc.response_ns = 200 * MS_NS;
  ck_assert(amdvi_guest_command(&fx.guest, INV_IOTLB_Q0, ATS_IOVA, true)); /* slot 2 */
  advance_to(&fx, 1000 + 101 * MS_NS);
  (void)amdvi_step(fx.dev);
  event_expect(&fx, Q0(ATS_DEV, AMDVI_EVENT_IOTLB_INV_TIMEOUT, 0), AMDVI_GUEST_CMD_GPA + 32);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_CONTROL, 8, CONTROL_ALL | AMDVI_CONTROL_IOMMU_EN);
  ck_assert_uint_eq(amdvi_ats_inv_timeout_ns(fx.dev), AMDVI_ATS_INV_TIMEOUT_NS_MAX);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_ats_pending_bound: the 9th unanswered invalidation stalls the ring until one settles. */
START_TEST(amdvi_ats_pending_bound)
{
  struct fixture fx;
  fixture_init_ats(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL | INV_TIMEOUT_1MS);
  ats_device_setup(&fx, true, 0);
  struct amdvi_atc atc;
  amdvi_atc_init(&atc, ATS_DEV, AMDVI_ATC_QUIRK_NO_COMPLETE, 0);
  ck_assert(amdvi_atc_register(fx.dev, &atc));
  for (uint32_t i = 0; i < AMDVI_ATS_PENDING_MAX + 2; i++) {
    ck_assert(amdvi_guest_command(&fx.guest, INV_IOTLB_Q0, ATS_IOVA + 0x1000 * i, false));
  }
  amdvi_guest_doorbell(&fx.guest);
  ck_assert_uint_eq(amdvi_ats_pending_count(fx.dev), AMDVI_ATS_PENDING_MAX);
  ck_assert_uint_eq(amdvi_commands_pending(fx.dev), 2);
  advance_to(&fx, MS_NS);
  ck_assert_uint_eq(amdvi_step(fx.dev), 2); /* 8 timeouts free the slots */
  ck_assert_uint_eq(amdvi_ats_pending_count(fx.dev), 2);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), AMDVI_ATS_PENDING_MAX);
  for (uint32_t i = 0; i < AMDVI_ATS_PENDING_MAX; i++) {
    event_expect(&fx, Q0(ATS_DEV, AMDVI_EVENT_IOTLB_INV_TIMEOUT, 0),
                 AMDVI_GUEST_CMD_GPA + 16 * i);
  }
  /* Reset forgets what is owed; the registration stays. */
  amdvi_reset(fx.dev);
  ck_assert_uint_eq(amdvi_ats_pending_count(fx.dev), 0);
  ck_assert_uint_eq(amdvi_ats_next_ns(fx.dev), UINT64_MAX);
  fixture_deinit(&fx);
}
END_TEST

static void ppr_log_setup(struct fixture *fx, uint32_t log2, uint64_t control)
{
  amdvi_mmio_write(fx->dev, AMDVI_MMIO_PPRLOG_BASE, 8, PPR_GPA | (uint64_t)log2 << 56);
  amdvi_mmio_write(fx->dev, AMDVI_MMIO_CONTROL, 8,
                   CONTROL_ALL | AMDVI_CONTROL_IOMMU_EN | control);
}

/* amdvi_ppr_disabled: PPREn=0 or DTE.PPR=0 -> INVALID_PPR_REQUEST with tag and PASID. */
START_TEST(amdvi_ppr_disabled)
{
  struct fixture fx;
  fixture_init_ats(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
  ats_device_setup(&fx, true, UINT64_C(1) << 52); /* DTE.PPR = 1 */
  ppr_log_setup(&fx, 8, AMDVI_CONTROL_PPRLOG_EN); /* PPREn = 0 */
  struct amdvi_ppr_request request = {.devid = ATS_DEV, .address = ATS_IOVA + 0x10, .tag = 0x1A5,
                                      .flags = AMDVI_PPR_FLAG_READ | AMDVI_PPR_FLAG_WRITE,
                                      .pasid_present = true, .pasid = 0xABCDE};
  ck_assert_int_eq(amdvi_ppr_request(fx.dev, &request), AMDVI_PPR_INVALID);
  uint64_t want = (uint64_t)ATS_DEV | UINT64_C(0xBCDE) << 16 | UINT64_C(0x1A5) << 32 |
                  UINT64_C(0xA) << 42 | UINT64_C(0x124) << 48 | UINT64_C(9) << 60;
  event_expect(&fx, want, ATS_IOVA);
  ats_device_setup(&fx, true, 0); /* DTE.PPR = 0 */
  ppr_log_setup(&fx, 8, AMDVI_CONTROL_PPRLOG_EN | AMDVI_CONTROL_PPR_EN);
  request.pasid_present = false;
  request.flags = AMDVI_PPR_FLAG_EXEC | AMDVI_PPR_FLAG_US;
  ck_assert_int_eq(amdvi_ppr_request(fx.dev, &request), AMDVI_PPR_INVALID);
  event_expect(&fx, Q0(ATS_DEV, AMDVI_EVENT_INVALID_PPR_REQUEST, 0x042) | UINT64_C(0x1A5) << 32,
               ATS_IOVA);
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, AMDVI_MMIO_PPRLOG_TAIL, 8), 0);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_ppr_logged: PPR enabled -> a log entry, PPRInt + MSI; full log -> PPROverflow, drops. */
START_TEST(amdvi_ppr_logged)
{
  struct fixture fx;
  fixture_init_ats(&fx, AMDVI_PROFILE_DEFAULT);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL);
  ats_device_setup(&fx, true, UINT64_C(1) << 52);
  ppr_log_setup(&fx, 3, AMDVI_CONTROL_PPRLOG_EN | AMDVI_CONTROL_PPR_EN | AMDVI_CONTROL_PPRINT_EN);
  ck_assert(amdvi_mmio_read(fx.dev, AMDVI_MMIO_STATUS, 8) & AMDVI_STATUS_PPRLOG_RUN);
  uint64_t msi_before = fx.guest.msi_count;
  struct amdvi_ppr_request request = {.devid = ATS_DEV, .address = ATS_IOVA, .tag = 3,
                                      .flags = AMDVI_PPR_FLAG_WRITE};
  ck_assert_int_eq(amdvi_ppr_request(fx.dev, &request), AMDVI_PPR_LOGGED);
  ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, PPR_GPA),
                    (uint64_t)ATS_DEV | UINT64_C(3) << 32 | UINT64_C(0x020) << 48 |
                        UINT64_C(1) << 60);
  ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, PPR_GPA + 8), ATS_IOVA);
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, AMDVI_MMIO_PPRLOG_TAIL, 8), 16);
  ck_assert(amdvi_mmio_read(fx.dev, AMDVI_MMIO_STATUS, 8) & AMDVI_STATUS_PPR_INT);
  ck_assert_uint_eq(fx.guest.msi_count, msi_before + 1);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  /* 8 entries hold 7; the 8th request overflows, later ones drop until W1C. */
  for (uint16_t tag = 4; tag < 10; tag++) {
    request.tag = tag;
    ck_assert_int_eq(amdvi_ppr_request(fx.dev, &request), AMDVI_PPR_LOGGED);
  }
  ck_assert_int_eq(amdvi_ppr_request(fx.dev, &request), AMDVI_PPR_DROPPED);
  ck_assert(amdvi_mmio_read(fx.dev, AMDVI_MMIO_STATUS, 8) & AMDVI_STATUS_PPR_OVERFLOW);
  ck_assert_uint_eq(fx.guest.msi_count, msi_before + 8);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_PPRLOG_HEAD, 8, 0x40); /* software consumed 4 */
  ck_assert_int_eq(amdvi_ppr_request(fx.dev, &request), AMDVI_PPR_DROPPED);
  amdvi_mmio_write(fx.dev, AMDVI_MMIO_STATUS, 8, AMDVI_STATUS_PPR_OVERFLOW);
  ck_assert_int_eq(amdvi_ppr_request(fx.dev, &request), AMDVI_PPR_LOGGED);
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, AMDVI_MMIO_PPRLOG_TAIL, 8), 0); /* wrapped */
  /* The driver answers tag 9 with status 0xA: the response reaches the device's ATC. */
  struct amdvi_atc atc;
  amdvi_atc_init(&atc, ATS_DEV, 0, 0);
  ck_assert(amdvi_atc_register(fx.dev, &atc));
  ck_assert(amdvi_guest_command(&fx.guest, (UINT64_C(7) << 60) | ATS_DEV,
                                (UINT64_C(9) | UINT64_C(0xA) << 12) << 32, true));
  ck_assert_uint_eq(atc.ppr_responses_count, 1);
  ck_assert_uint_eq(atc.ppr_last_tag, 9);
  ck_assert_uint_eq(atc.ppr_last_status, 0xA);
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  char names[128];
  ck_assert_uint_eq(amdvi_derived_check(fx.dev, names, sizeof names), 0);
  fixture_deinit(&fx);
}
END_TEST

/* amdvi_ats_qemu_profile_silent: QEMU has no ATS/PRI; none of events 7, 8, 9 ever appear. */
START_TEST(amdvi_ats_qemu_profile_silent)
{
  struct fixture fx;
  fixture_init_ats(&fx, AMDVI_PROFILE_QEMU_10_1);
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL | INV_TIMEOUT_1MS);
  ats_device_setup(&fx, false, 0);
  ck_assert(amdvi_guest_command(&fx.guest, (UINT64_C(2) << 60) | ATS_DEV, 0, true));
  struct amdvi_atc atc;
  amdvi_atc_init(&atc, ATS_DEV, AMDVI_ATC_QUIRK_NO_COMPLETE, 0);
  ck_assert(amdvi_atc_register(fx.dev, &atc));
  struct amdvi_ats_request request = {.devid = ATS_DEV, .iova = ATS_IOVA, .pasid_present = true};
  struct amdvi_ats_result result;
  amdvi_ats_translate(fx.dev, &request, &atc, &result);
  ck_assert_int_eq(result.status, AMDVI_ATS_UNSUPPORTED);
  ck_assert_uint_eq(result.event_code, 0);
  struct amdvi_xlate_result xlate;
  amdvi_ats_translated_access(fx.dev, ATS_DEV, ATS_GPA, true, &xlate);
  ck_assert_uint_eq(xlate.event_code, 0);
  ppr_log_setup(&fx, 8, INV_TIMEOUT_1MS);
  struct amdvi_ppr_request ppr = {.devid = ATS_DEV, .address = ATS_IOVA};
  ck_assert_int_eq(amdvi_ppr_request(fx.dev, &ppr), AMDVI_PPR_DROPPED);
  ck_assert(amdvi_guest_command(&fx.guest, INV_IOTLB_Q0, ATS_IOVA, false));
  ck_assert(amdvi_guest_completion_wait(&fx.guest, STORE_GPA, 9, AMDVI_CW_STORE, true));
  ck_assert_uint_eq(amdvi_guest_read64(&fx.guest, STORE_GPA), 9);
  advance_to(&fx, 200 * MS_NS);
  (void)amdvi_step(fx.dev);
  ck_assert_uint_eq(amdvi_ats_pending_count(fx.dev), 0);
  ck_assert_uint_eq(atc.invalidations_count, 0);
  ck_assert(amdvi_guest_command(&fx.guest, (UINT64_C(7) << 60) | ATS_DEV, UINT64_C(5) << 32,
                                true));
  ck_assert_uint_eq(atc.ppr_responses_count, 0); /* QEMU: COMPLETE_PPR_REQUEST is a no-op */
  ck_assert_uint_eq(amdvi_guest_events_pending(&fx.guest), 0);
  ck_assert_uint_eq(amdvi_mmio_read(fx.dev, AMDVI_MMIO_STATUS, 8) & AMDVI_STATUS_PPRLOG_RUN, 0);
  fixture_deinit(&fx);
}
END_TEST

#define ATS_SWEEP_SEEDS 10
#define ATS_SWEEP_OPS 200

/*
 * amdvi_ats_hostile_sweep: random device-side requests, invalidations, DTE
 * garbage, control writes and time steps stay bounded and consistent; the
 * qemu-10.1 profile never produces events 7, 8 or 9.
 */
START_TEST(amdvi_ats_hostile_sweep)
{
  enum amdvi_profile profile = _i % 2 == 0 ? AMDVI_PROFILE_DEFAULT : AMDVI_PROFILE_QEMU_10_1;
  struct fixture fx;
  fixture_init_ats(&fx, profile);
  struct sim_prng prng;
  sim_prng_init_stream(&prng, 5000 + (uint64_t)_i, "amdvi/ats-hostile");
  amdvi_guest_setup(&fx.guest, 8, 8, CONTROL_ALL | (sim_prng_u64(&prng) & UINT64_C(0xE0E0)));
  ats_device_setup(&fx, true, UINT64_C(1) << 52);
  struct amdvi_atc atc;
  amdvi_atc_init(&atc, ATS_DEV, _i % 4 == 0 ? AMDVI_ATC_QUIRK_NO_COMPLETE : 0,
                 sim_prng_below(&prng, 3) * MS_NS / 2);
  ck_assert(amdvi_atc_register(fx.dev, &atc));
  uint64_t seen[16] = {0};
  for (uint32_t op = 0; op < ATS_SWEEP_OPS; op++) {
    uint64_t value = sim_prng_u64(&prng);
    uint16_t devid = sim_prng_below(&prng, 2) == 0 ? ATS_DEV : (uint16_t)value;
    switch (sim_prng_below(&prng, 7)) {
    case 0: {
      struct amdvi_ats_request request = {.devid = devid, .iova = value & 0xFFFFF000,
                                          .pasid_present = (value & 1) != 0,
                                          .pasid = (uint32_t)(value >> 40)};
      struct amdvi_ats_result result;
      amdvi_ats_translate(fx.dev, &request, devid == ATS_DEV ? &atc : NULL, &result);
      break;
    }
    case 1: {
      struct amdvi_xlate_result result;
      amdvi_ats_translated_access(fx.dev, devid, value, (value & 2) != 0, &result);
      break;
    }
    case 2: {
      struct amdvi_ppr_request request = {.devid = devid, .address = value, .tag = (uint16_t)op,
                                          .flags = (uint32_t)(value >> 20),
                                          .pasid_present = (value & 4) != 0,
                                          .pasid = (uint32_t)(value >> 12)};
      (void)amdvi_ppr_request(fx.dev, &request);
      break;
    }
    case 3:
      (void)amdvi_guest_command(&fx.guest, (UINT64_C(4) << 60) | devid, value & ~UINT64_C(0xFCA),
                                sim_prng_below(&prng, 2) == 0);
      if (sim_prng_below(&prng, 3) == 0) {
        (void)amdvi_guest_completion_wait(&fx.guest, STORE_GPA, op, AMDVI_CW_STORE, true);
      }
      break;
    case 4:
      advance_to(&fx, sim_now_ns(fx.sim) + sim_prng_below(&prng, 2 * MS_NS));
      (void)amdvi_step(fx.dev);
      break;
    case 5:
      amdvi_mmio_write(fx.dev, sim_prng_below(&prng, 2) == 0 ? AMDVI_MMIO_CONTROL : AMDVI_MMIO_STATUS,
                       8, value | AMDVI_CONTROL_IOMMU_EN);
      break;
    default:
      amdvi_guest_write64(&fx.guest, AMDVI_GUEST_DEVTAB_GPA + ATS_DEV * 32 + 8 * (value % 4),
                          sim_prng_u64(&prng));
      break;
    }
    ck_assert_uint_le(amdvi_ats_pending_count(fx.dev), AMDVI_ATS_PENDING_MAX);
    ck_assert_uint_le(amdvi_atc_valid_count(&atc), AMDVI_ATC_ENTRIES);
    uint64_t q0, q1;
    while (amdvi_guest_event_pop(&fx.guest, &q0, &q1)) seen[q0 >> 60]++;
    if (profile == AMDVI_PROFILE_DEFAULT) {
      char names[256];
      ck_assert_msg(amdvi_derived_check(fx.dev, names, sizeof names) == 0, "seed %d op %u: %s",
                    _i, op, names);
    }
  }
  if (profile == AMDVI_PROFILE_QEMU_10_1) {
    ck_assert_uint_eq(seen[7] + seen[8] + seen[9], 0);
    ck_assert_uint_eq(atc.invalidations_count, 0);
  } else {
    ck_assert_uint_gt(seen[8] + seen[9], 0);
  }
  fixture_deinit(&fx);
}
END_TEST

/* ------------------------------------------------------------- hostile */

#define HOSTILE_SEEDS 40
#define HOSTILE_OPS 300
#define CMD_ENTRIES_MAX 32768u /* ComLen 15 */

/* One random guest action; returns how many commands the device ran during it. */
static uint64_t hostile_op(struct fixture *fx, struct sim_prng *prng)
{
  static const uint32_t sizes[] = {1, 2, 3, 4, 8};
  struct amdvi_stats before, after;
  amdvi_stats_get(fx->dev, &before);
  uint64_t value = sim_prng_u64(prng);
  switch (sim_prng_below(prng, 8)) {
  case 0: { /* garbage command words in the ring, then a doorbell */
    uint64_t slot = sim_prng_below(prng, 256);
    amdvi_guest_write64(&fx->guest, AMDVI_GUEST_CMD_GPA + 16 * slot, value);
    amdvi_guest_write64(&fx->guest, AMDVI_GUEST_CMD_GPA + 16 * slot + 8, sim_prng_u64(prng));
    amdvi_mmio_write(fx->dev, AMDVI_MMIO_CMDBUF_TAIL, 8, sim_prng_below(prng, 0x80000));
    break;
  }
  case 1: { /* any register, any size, any value (bases may point anywhere) */
    uint32_t size = sizes[sim_prng_below(prng, SIM_ARRAY_COUNT(sizes))];
    uint32_t offset = (uint32_t)sim_prng_below(prng, 0x4010);
    if (sim_prng_below(prng, 2) == 0) offset = (uint32_t)sim_prng_below(prng, 0x50) & ~7u;
    if (sim_prng_below(prng, 2) == 0) offset = 0x2000 + ((uint32_t)sim_prng_below(prng, 8) << 3);
    amdvi_mmio_write(fx->dev, offset, size, value);
    (void)amdvi_mmio_read(fx->dev, offset, size);
    break;
  }
  case 2: { /* DMA from any requester */
    struct amdvi_xlate_result result;
    amdvi_translate(fx->dev, (uint16_t)sim_prng_below(prng, 0x10000), value,
                    sim_prng_below(prng, 2) != 0, &result);
    amdvi_stats_get(fx->dev, &after);
    ck_assert_uint_le(after.walk_reads_count - before.walk_reads_count, 6);
    break;
  }
  case 3: { /* an interrupt from any requester */
    struct amdvi_msi in = {.address = 0xFEE00000 | (value & 0xFFFFF), .data = (uint32_t)value};
    struct amdvi_msi out;
    (void)amdvi_remap_msi(fx->dev, (uint16_t)sim_prng_below(prng, 0x900), &in, &out);
    break;
  }
  case 4: { /* garbage in the device table or in table pages */
    uint64_t gpa = sim_prng_below(prng, 2) == 0
                       ? AMDVI_GUEST_DEVTAB_GPA + 8 * sim_prng_below(prng, 16 * 512)
                       : AMDVI_GUEST_ALLOC_GPA + 8 * sim_prng_below(prng, 64 * 512);
    amdvi_guest_write64(&fx->guest, gpa, value);
    break;
  }
  case 5:
    amdvi_pci_config_write(fx->dev, (uint32_t)sim_prng_below(prng, 260),
                           sizes[sim_prng_below(prng, SIM_ARRAY_COUNT(sizes))], (uint32_t)value);
    break;
  case 6: (void)amdvi_step(fx->dev); break;
  default:
    if (sim_prng_below(prng, 20) == 0) amdvi_reset(fx->dev);
    break;
  }
  amdvi_stats_get(fx->dev, &after);
  return after.commands_count - before.commands_count;
}

/* amdvi_hostile_sweep: random guest behaviour never hangs, crashes, or desyncs derived state. */
START_TEST(amdvi_hostile_sweep)
{
  enum amdvi_profile profile = _i % 2 == 0 ? AMDVI_PROFILE_DEFAULT : AMDVI_PROFILE_QEMU_10_1;
  struct fixture fx;
  fixture_init(&fx, profile);
  struct sim_prng prng;
  sim_prng_init_stream(&prng, 1000 + (uint64_t)_i, "amdvi/hostile");
  amdvi_guest_setup(&fx.guest, 8, 8, sim_prng_u64(&prng) | AMDVI_CONTROL_CMDBUF_EN);
  (void)amdvi_guest_dte_translate(&fx.guest, 0x10, 1 + (uint32_t)sim_prng_below(&prng, 6), 3);
  for (uint32_t op = 0; op < HOSTILE_OPS; op++) {
    uint64_t ran = hostile_op(&fx, &prng);
    ck_assert_msg(ran <= CMD_ENTRIES_MAX, "seed %d op %u ran %" PRIu64, _i, op, ran);
    if (profile == AMDVI_PROFILE_DEFAULT) {
      char names[256];
      ck_assert_msg(amdvi_derived_check(fx.dev, names, sizeof names) == 0,
                    "seed %d op %u: %s", _i, op, names);
    }
  }
  fixture_deinit(&fx);
}
END_TEST

/* Runs one hostile seed and returns the trace digest of everything the device did. */
static uint64_t hostile_digest(uint64_t seed, enum amdvi_profile profile)
{
  struct fixture fx;
  fixture_init(&fx, profile);
  struct sim_prng prng;
  sim_prng_init_stream(&prng, seed, "amdvi/hostile");
  amdvi_guest_setup(&fx.guest, 8, 8, sim_prng_u64(&prng) | AMDVI_CONTROL_CMDBUF_EN);
  (void)amdvi_guest_dte_translate(&fx.guest, 0x10, 2, 3);
  for (uint32_t op = 0; op < HOSTILE_OPS; op++) (void)hostile_op(&fx, &prng);
  uint64_t digest = sim_trace_digest(fx.sim);
  ck_assert_uint_gt(sim_trace_count(fx.sim), HOSTILE_OPS / 8);
  fixture_deinit(&fx);
  return digest;
}

/* amdvi_trace_deterministic: the same seed gives the same trace digest; another seed differs. */
START_TEST(amdvi_trace_deterministic)
{
  for (int profile = 0; profile < 2; profile++) {
    uint64_t first = hostile_digest(77, (enum amdvi_profile)profile);
    printf("amdvi trace digest, seed 77, profile %d: %016" PRIx64 "\n", profile, first);
    ck_assert_uint_eq(hostile_digest(77, (enum amdvi_profile)profile), first);
    ck_assert_uint_ne(hostile_digest(78, (enum amdvi_profile)profile), first);
  }
}
END_TEST

Suite *amdvi_suite(void)
{
  Suite *suite = suite_create("amdvi");
  TCase *mmio = tcase_create("mmio");
  tcase_add_test(mmio, amdvi_mmio_reset_values);
  tcase_add_test(mmio, amdvi_mmio_ro_bits_ignored);
  tcase_add_test(mmio, amdvi_mmio_w1c_clears_written_bits);
  tcase_add_test(mmio, amdvi_mmio_invalid_access);
  tcase_add_test(mmio, amdvi_mmio_byte_access_qemu_quirk);
  tcase_add_test(mmio, amdvi_mmio_low_dword_qemu_quirk);
  tcase_add_test(mmio, amdvi_reset_clears_state);
  suite_add_tcase(suite, mmio);
  TCase *pci = tcase_create("pci");
  tcase_add_test(pci, amdvi_pci_identity);
  tcase_add_test(pci, amdvi_pci_masks);
  suite_add_tcase(suite, pci);
  TCase *cmd = tcase_create("cmd");
  tcase_add_test(cmd, amdvi_cmd_completion_wait);
  tcase_add_test(cmd, amdvi_cmd_300_wrap);
  tcase_add_test(cmd, amdvi_cmd_pending_until_enabled);
  tcase_add_test(cmd, amdvi_cmd_batch_bound);
  tcase_add_test(cmd, amdvi_cmd_illegal_opcode);
  tcase_add_test(cmd, amdvi_cmd_reserved_bits);
  tcase_add_test(cmd, amdvi_cmd_hostile_ring);
  tcase_add_test(cmd, amdvi_cmd_fetch_error);
  tcase_add_test(cmd, amdvi_cmd_tail_byte_write);
  suite_add_tcase(suite, cmd);
  TCase *evt = tcase_create("evt");
  tcase_add_test(evt, amdvi_evt_overflow);
  tcase_add_test(evt, amdvi_evt_no_base);
  tcase_add_test(evt, amdvi_evt_byte_writes);
  tcase_add_test(evt, amdvi_evt_unbacked_log);
  suite_add_tcase(suite, evt);
  TCase *ats = tcase_create("ats");
  tcase_add_test(ats, amdvi_ats_translate_success);
  tcase_add_test(ats, amdvi_ats_disabled_invalid_request);
  tcase_add_test(ats, amdvi_ats_pasid_without_gv);
  tcase_add_test(ats, amdvi_ats_translated_access_checks);
  tcase_add_test(ats, amdvi_ats_invalidation_answered);
  tcase_add_test(ats, amdvi_ats_invalidation_timeout);
  tcase_add_test(ats, amdvi_ats_pending_bound);
  tcase_add_test(ats, amdvi_ppr_disabled);
  tcase_add_test(ats, amdvi_ppr_logged);
  tcase_add_test(ats, amdvi_ats_qemu_profile_silent);
  tcase_add_loop_test(ats, amdvi_ats_hostile_sweep, 0, ATS_SWEEP_SEEDS);
  suite_add_tcase(suite, ats);
  TCase *hostile = tcase_create("hostile");
  tcase_set_timeout(hostile, 60);
  tcase_add_loop_test(hostile, amdvi_hostile_sweep, 0, HOSTILE_SEEDS);
  tcase_add_test(hostile, amdvi_trace_deterministic);
  suite_add_tcase(suite, hostile);
  return suite;
}
