/*
 * amdvi_fuzz.c: a hostile guest against the AMD IOMMU model (spec
 * amd-iommu.md §10.4 hostile cases).  The input is the guest: byte 0 picks
 * the profile and the control bits written at set-up, then each action is an
 * opcode byte followed by its operands (missing bytes read as zero):
 *
 *   0  command ring words at a slot, then a tail doorbell
 *   1  any MMIO register, any size, any value, then read back
 *   2  a DMA translation from any requester
 *   3  an MSI from any requester
 *   4  garbage in the device table or in table pages
 *   5  an AMDVI-PCI config write
 *   6  one command-processor step
 *   7  reset, or with bit 6 of the opcode set a device-side action chosen by
 *      bits 5:4: an ATS translation request (optionally with a PASID), a
 *      pre-translated access, a PPR request, or virtual time moving forward
 *      (up to 16 ms) followed by a step, so ATS answers and timeouts settle
 *
 * Byte 0 bit 7 makes device 0x10's registered ATC never answer
 * invalidations ("ats-no-complete"); otherwise it answers after
 * (byte 0 & 0x70) * 16 us.
 * Oracles besides the sanitizers: every action runs a bounded number of
 * commands (at most one ring's worth), a translation reads at most six
 * page-table entries, and in the default profile the derived state always
 * agrees with the registers (amdvi_derived_check); ATS state stays within its
 * bounds, and the qemu-10.1 profile never talks to the ATC or logs a PPR.
 * STYLE R25: one input format, no I/O; at most ACTIONS_MAX actions per input,
 * and no action starts once the input has run COMMANDS_BUDGET commands.
 */
#include "sim_base.h"

#include "fuzz_machine.h"
#include "amdvi.h"
#include "amdvi_guest.h"
#include "sim.h"

#define ACTIONS_MAX 512u
#define RING_ENTRIES_MAX 32768u /* ComLen 15 */
/* Commands per input: 512 actions ringing a garbage ring of 2^15 entries could
 * run 16M commands (each logs an event and a trace record); once an input has
 * run this many, no further action starts. */
#define COMMANDS_BUDGET (2u * RING_ENTRIES_MAX)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct world {
  struct sim *sim;
  struct amdvi_guest guest;
  struct amdvi_atc atc;       /* device 0x10's ATC (the device owns it) */
};

struct input {
  const uint8_t *data;
  size_t size;
  size_t at;
};

static uint64_t take(struct input *in, uint32_t bytes)
{
  uint64_t value = 0;
  for (uint32_t i = 0; i < bytes; i++) {
    uint8_t byte = in->at < in->size ? in->data[in->at] : 0;
    in->at += in->at < in->size ? 1 : 0;
    value |= (uint64_t)byte << (8 * i);
  }
  return value;
}

static void tick(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  (void)event;
}

static void device_action(struct world *w, struct input *in, uint8_t op)
{
  struct amdvi *dev = w->guest.iommu;
  uint16_t devid = (op & 8) != 0 ? 0x10 : (uint16_t)take(in, 2);
  switch ((op >> 4) & 3) {
  case 0: {
    uint64_t word = take(in, 8);
    struct amdvi_ats_request request = {.devid = devid, .iova = take(in, 8),
                                        .pasid_present = (word & 1) != 0,
                                        .pasid = (uint32_t)(word >> 8)};
    struct amdvi_ats_result result;
    amdvi_ats_translate(dev, &request, devid == 0x10 ? &w->atc : NULL, &result);
    break;
  }
  case 1: {
    struct amdvi_xlate_result result;
    amdvi_ats_translated_access(dev, devid, take(in, 8), (op & 8) != 0, &result);
    break;
  }
  case 2: {
    uint64_t word = take(in, 8);
    struct amdvi_ppr_request request = {.devid = devid, .address = take(in, 8),
                                        .tag = (uint16_t)word, .flags = (uint32_t)(word >> 16),
                                        .pasid_present = (word >> 63) != 0,
                                        .pasid = (uint32_t)(word >> 32)};
    (void)amdvi_ppr_request(dev, &request);
    break;
  }
  default: {
    struct sim_event event;
    sim_event_init(&event, tick, "fuzz.tick");
    sim_event_schedule_after(w->sim, &event, take(in, 3));
    SIM_ASSERT(sim_run(w->sim) == SIM_RUN_IDLE);
    (void)amdvi_step(dev);
    break;
  }
  }
  SIM_ASSERT(amdvi_atc_valid_count(&w->atc) <= AMDVI_ATC_ENTRIES);
  SIM_ASSERT(amdvi_ats_pending_count(dev) <= AMDVI_ATS_PENDING_MAX);
}

static void fuzz_action(struct world *w, struct input *in, uint8_t op)
{
  struct amdvi_guest *guest = &w->guest;
  static const uint32_t sizes[] = {1, 2, 3, 4, 8};
  struct amdvi *dev = guest->iommu;
  struct amdvi_stats before, after;
  amdvi_stats_get(dev, &before);
  switch (op % 8) {
  case 0: {
    uint64_t slot = take(in, 1);
    amdvi_guest_write64(guest, AMDVI_GUEST_CMD_GPA + 16 * slot, take(in, 8));
    amdvi_guest_write64(guest, AMDVI_GUEST_CMD_GPA + 16 * slot + 8, take(in, 8));
    amdvi_mmio_write(dev, AMDVI_MMIO_CMDBUF_TAIL, 8, take(in, 3) & 0x7ffff);
    break;
  }
  case 1: {
    uint32_t size = sizes[take(in, 1) % SIM_ARRAY_COUNT(sizes)];
    uint32_t offset = (uint32_t)(take(in, 2) % 0x4010);
    amdvi_mmio_write(dev, offset, size, take(in, 8));
    (void)amdvi_mmio_read(dev, offset, size);
    break;
  }
  case 2: {
    struct amdvi_xlate_result result;
    uint16_t devid = (uint16_t)take(in, 2);
    uint64_t iova = take(in, 8);
    amdvi_translate(dev, devid, iova, (op & 8) != 0, &result);
    amdvi_stats_get(dev, &after);
    SIM_ASSERT(after.walk_reads_count - before.walk_reads_count <= 6);
    break;
  }
  case 3: {
    uint16_t devid = (uint16_t)take(in, 2);
    uint64_t value = take(in, 8);
    struct amdvi_msi msi_in = {.address = 0xFEE00000 | (value & 0xFFFFF), .data = (uint32_t)value};
    struct amdvi_msi msi_out;
    (void)amdvi_remap_msi(dev, devid, &msi_in, &msi_out);
    break;
  }
  case 4: {
    uint64_t index = take(in, 2);
    uint64_t gpa = (op & 8) != 0 ? AMDVI_GUEST_DEVTAB_GPA + 8 * (index % (16 * 512))
                                 : AMDVI_GUEST_ALLOC_GPA + 8 * (index % (64 * 512));
    amdvi_guest_write64(guest, gpa, take(in, 8));
    break;
  }
  case 5: {
    uint32_t offset = (uint32_t)(take(in, 2) % 260);
    uint32_t size = sizes[take(in, 1) % SIM_ARRAY_COUNT(sizes)];
    amdvi_pci_config_write(dev, offset, size, (uint32_t)take(in, 4));
    break;
  }
  case 6: (void)amdvi_step(dev); break;
  default:
    if ((op & 0x40) != 0) {
      device_action(w, in, op);
    } else {
      amdvi_reset(dev);
    }
    break;
  }
  amdvi_stats_get(dev, &after);
  SIM_ASSERT(after.commands_count - before.commands_count <= RING_ENTRIES_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1) return 0;
  struct sim_options options = {.seed = 1};
  struct world w;
  w.sim = fuzz_sim_create(&options);
  struct amdvi_config config;
  amdvi_config_default(&config);
  config.profile = (data[0] & 1) != 0 ? AMDVI_PROFILE_QEMU_10_1 : AMDVI_PROFILE_DEFAULT;
  config.device_iotlb = true;
  amdvi_guest_init(&w.guest, w.sim, &config, AMDVI_GUEST_RAM_BYTES_MIN);
  amdvi_atc_init(&w.atc, 0x10, (data[0] & 0x80) != 0 ? AMDVI_ATC_QUIRK_NO_COMPLETE : 0,
                 (uint64_t)(data[0] & 0x70) * 16000);
  SIM_ASSERT(amdvi_atc_register(w.guest.iommu, &w.atc));
  struct input in = {.data = data, .size = size, .at = 1};
  uint64_t control = take(&in, 8) | AMDVI_CONTROL_CMDBUF_EN;
  amdvi_guest_setup(&w.guest, 8, 8, control);
  (void)amdvi_guest_dte_translate(&w.guest, 0x10, 1 + (uint32_t)(data[0] >> 1) % 6, 3);
  struct amdvi_stats stats;
  amdvi_stats_get(w.guest.iommu, &stats);
  for (uint32_t action = 0; action < ACTIONS_MAX && in.at < in.size &&
                            stats.commands_count <= COMMANDS_BUDGET; action++) {
    fuzz_action(&w, &in, (uint8_t)take(&in, 1));
    amdvi_stats_get(w.guest.iommu, &stats);
    if (config.profile == AMDVI_PROFILE_DEFAULT) {
      char names[256];
      SIM_ASSERT(amdvi_derived_check(w.guest.iommu, names, sizeof names) == 0);
    } else {
      SIM_ASSERT(stats.ats_invalidations_count == 0 && stats.ppr_logged_count == 0);
      SIM_ASSERT(w.atc.invalidations_count == 0 && amdvi_atc_valid_count(&w.atc) == 0);
    }
  }
  amdvi_atc_unregister(w.guest.iommu, &w.atc);
  sim_destroy(w.sim);
  return 0;
}
