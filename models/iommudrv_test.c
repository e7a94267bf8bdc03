/*
 * iommudrv_test.c: the AMD IOMMU inside a machine, driven by the guest's
 * IOMMU driver: AMDVI-PCI on the bus, its section, translated DMA with
 * map/unmap per transfer, injected faults reaching both the event log and
 * the DMA driver, completion waits and MSIs counted by the machine; the
 * dmadevs' MSIs remapped through IRTEs (legacy and 128-bit) into the
 * machine's interrupt sink, remapping failures, and several dmadevs in their
 * own domains (isolation, per-domain invalidation).
 */
#include "sim_base.h"

#include "amdvi.h"
#include "dmadev.h"
#include "machine.h"
#include "pci.h"
#include "sim_check.h"

static struct machine_config iommu_config(uint32_t mode, uint32_t fault_every)
{
  struct machine_config config = {.type = "migsim-1.0", .ram_count = 3, .device_count = 2};
  const char *names[3] = {"pc.ram", "iommu.ram", "dma.ram"};
  const uint64_t pages[3] = {64, 64, 80};
  for (uint32_t i = 0; i < 3; i++) {
    snprintf(config.ram[i].name, sizeof(config.ram[i].name), "%s", names[i]);
    config.ram[i].bytes = pages[i] * RAM_PAGE_BYTES;
  }
  struct dev_config *iommu = &config.devices[0];
  snprintf(iommu->driver, sizeof(iommu->driver), "amd-iommu");
  iommu->slot = 2;
  amdvi_config_default(amdvi_props(iommu));
  struct dev_config *dma = &config.devices[1];
  snprintf(dma->driver, sizeof(dma->driver), "dmadev");
  dma->slot = 4;
  *dmadev_props(dma) = (struct dmadev_config){.ring_entries = 8, .bandwidth_bytes_per_s = 16 << 20};
  dma->behind_iommu = true;
  config.vcpu = (struct vcpu_config){.kind = VCPU_WORKLOAD_IDLE};
  config.driver = (struct devdrv_config){.period_ns = 100000, .duration_ns = 50000000,
                                         .transfer_bytes_max = 16384};
  config.iommu_driver = (struct iommudrv_config){
      .enabled = true, .mode = mode, .fault_every = fault_every, .event_consume_every = 1};
  return config;
}

START_TEST(iommudrv_machine_wiring)
{
  /* AMDVI-PCI answers config cycles at its address; MMIO and its section are there. */
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct machine_config config = iommu_config(3, 0);
  char why[256];
  ck_assert_msg(machine_config_check(&config, why, sizeof(why)), "%s", why);
  struct machine *machine = machine_create(sim, &config, 0);
  struct amdvi *iommu = machine_amdvi(machine);
  ck_assert_ptr_nonnull(iommu);
  ck_assert_uint_eq(amdvi_pci_bdf(iommu), 2u << 3);
  struct pci_bus *bus = machine_pci_bus(machine, 0);
  ck_assert_uint_eq(pci_bus_config_read(bus, 2, 0, PCI_VENDOR_ID, 4),
                    AMDVI_PCI_DEVICE_ID << 16 | AMDVI_PCI_VENDOR_ID);
  ck_assert_uint_eq(pci_bus_config_read(bus, 3, 0, PCI_VENDOR_ID, 4), 0xFFFFFFFFu);
  uint32_t cap = amdvi_pci_iommu_cap_offset(iommu);
  ck_assert_uint_eq(pci_bus_config_read(bus, 2, 0, cap, 1), 0x0F); /* secure device cap */
  bool section = false;
  for (uint32_t i = 0; i < machine_vmstate_count(machine); i++) {
    section |= strcmp(machine_vmstate(machine, i)->idstr, "0000:00:02.0/amd-iommu") == 0;
  }
  ck_assert(section);
  const struct vmstate_instance *last =
      machine_vmstate(machine, machine_vmstate_count(machine) - 1);
  ck_assert_str_eq(last->idstr, "iommudrv");
  ck_assert(machine_iommu_check(machine, why, sizeof(why)));
  /* A second IOMMU, or one off bus 0, is refused by name. */
  struct machine_config two = config;
  two.devices[2] = two.devices[0];
  two.devices[2].slot = 5;
  two.device_count = 3;
  ck_assert(!machine_config_check(&two, why, sizeof(why)));
  ck_assert_str_eq(why, "amd-iommu: only one IOMMU per machine");
  struct machine_config off = config;
  off.devices[0].bus = 1;
  ck_assert(!machine_config_check(&off, why, sizeof(why)));
  ck_assert_str_eq(why, "0000:01:02.0/amd-iommu: AMDVI-PCI must be on bus 0");
  sim_destroy(sim);
}
END_TEST

START_TEST(iommudrv_translated_dma)
{
  /* Mode 3 and 4; every third transfer faults: an event, and a failed descriptor. */
  uint32_t mode = 3 + (uint32_t)_i;
  struct sim_options options = {.seed = 5};
  struct sim *sim = sim_create(&options);
  struct machine_config config = iommu_config(mode, 3);
  struct machine *machine = machine_create(sim, &config, 0);
  machine_boot(machine);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert(machine_workload_done(machine));
  const struct iommudrv *drv = machine_iommudrv(machine);
  const struct devdrv *dev = machine_devdrv(machine);
  ck_assert_ptr_nonnull(drv);
  ck_assert_uint_gt(dev->submitted_count, 100);
  ck_assert_uint_eq(drv->transfers_count, dev->submitted_count);
  /*
   * Faults: the IOMMU logs one IO_PAGE_FAULT per unmapped destination; the
   * driver consumed all but those of transfers still queued when it stopped.
   */
  uint64_t injected = drv->transfers_count / 3;
  struct amdvi_stats stats;
  amdvi_stats_get(drv->iommu, &stats);
  ck_assert_uint_eq(stats.events_logged_count, injected);
  ck_assert_uint_le(drv->faults_count, injected);
  ck_assert_uint_ge(drv->faults_count + 8, injected);
  ck_assert_uint_eq(drv->events_count, drv->faults_count);
  ck_assert_uint_le(dev->dma_failed_count, injected);
  ck_assert_uint_ge(dev->dma_failed_count + 8, injected); /* at most a ring in flight */
  ck_assert_uint_eq(drv->overflows_count, 0);
  /* Every page mapped is unmapped on reap, except the ring and transfers in flight. */
  ck_assert_uint_gt(drv->unmaps_count, 100);
  ck_assert_uint_ge(drv->maps_count - drv->unmaps_count, 1);
  ck_assert_uint_le(drv->maps_count - drv->unmaps_count, 1 + 8 * 2 * 4);
  /* The semaphore holds the last sequence number; each wait raised an MSI. */
  uint64_t sem = 0;
  ck_assert(machine_dma_read(machine, drv->base_gpa + IOMMUDRV_SEM_OFFSET, &sem, sizeof(sem)));
  ck_assert_uint_eq(sem, drv->wait_seq);
  ck_assert_uint_ge(drv->completions_count + 1, drv->wait_seq);
  ck_assert_uint_ge(machine_amdvi_msi_count(machine), drv->wait_seq + drv->faults_count);
  /* The ring is mapped at its IOVA; a destination slot nothing is using is not. */
  struct amdvi_xlate_result result;
  amdvi_translate(drv->iommu, drv->devid, IOMMUDRV_IOVA_BASE + 8, false, &result);
  ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
  ck_assert_uint_eq(result.address, drv->window_gpa + 8);
  ck_assert(amdvi_device_translated(drv->iommu, drv->devid));
  char why[256];
  ck_assert_msg(machine_invariants_check(machine, why, sizeof(why)), "%s", why);
  sim_destroy(sim);
}
END_TEST

/* iommu_config with count dmadevs (slots 4..), interrupts and the given remapping. */
static struct machine_config irq_config(uint32_t count, bool intremap, bool ga, bool separate)
{
  struct machine_config config = iommu_config(3, 0);
  for (uint32_t i = 1; i < count; i++) {
    config.devices[1 + i] = config.devices[1];
    config.devices[1 + i].slot = (uint8_t)(4 + i);
  }
  config.device_count = 1 + count;
  config.ram[2].bytes = 80 * count * RAM_PAGE_BYTES;
  config.ram[1].bytes = 128 * RAM_PAGE_BYTES;
  config.driver.interrupts = true;
  config.iommu_driver.intremap = intremap;
  config.iommu_driver.irte_ga = ga;
  config.iommu_driver.domains_separate = separate;
  return config;
}

static uint64_t read64(const struct machine *machine, uint64_t gpa)
{
  uint64_t value = 0;
  ck_assert(machine_dma_read(machine, gpa, &value, sizeof(value)));
  return value;
}

/* The IO_PAGE_FAULT entries in the event log with I=1 from devid (consumed or not). */
static uint32_t irq_faults_logged(const struct machine *machine, const struct iommudrv *drv,
                                  uint16_t devid)
{
  uint32_t count = 0;
  for (uint32_t at = 0; at < IOMMUDRV_RING_BYTES; at += 16) {
    uint64_t q0 = read64(machine, drv->base_gpa + IOMMUDRV_EVT_OFFSET + at);
    bool fault = (q0 >> 60) == AMDVI_EVENT_IO_PAGE_FAULT;
    if (fault && (q0 & 0xFFFF) == devid && (q0 >> 48 & AMDVI_FAULT_FLAG_I) != 0) count++;
  }
  return count;
}

static void stop_fire(struct sim *sim, struct sim_event *event)
{
  (void)event;
  sim_stop(sim);
}

/* Runs sim until time_ns (an event there stops it). */
static void run_until(struct sim *sim, uint64_t time_ns)
{
  static struct sim_event stop;
  sim_event_init(&stop, stop_fire, "test.stop");
  sim_event_schedule_at(sim, &stop, time_ns);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_STOPPED);
}

START_TEST(iommudrv_irq_remapped)
{
  /* Legacy (_i 0) and 128-bit (_i 1) IRTEs: every completion MSI reaches vCPU 0, vector 0x50. */
  bool ga = _i == 1;
  struct sim_options options = {.seed = 7};
  struct sim *sim = sim_create(&options);
  struct machine_config config = irq_config(1, true, ga, false);
  char why[256];
  ck_assert_msg(machine_config_check(&config, why, sizeof(why)), "%s", why);
  struct machine *machine = machine_create(sim, &config, 0);
  machine_boot(machine);
  const struct iommudrv *drv = machine_iommudrv(machine);
  const struct dmadev *dma = machine_dmadev(machine, 0);
  /* The driver's programming, as Linux: DTE interrupt half, IRTE 0, MSI data = index 0. */
  uint64_t q2 = read64(machine, drv->base_gpa + (uint64_t)drv->devid * 32 + 16);
  ck_assert_uint_eq(q2 & 1, 1);                          /* IV */
  ck_assert_uint_eq(q2 >> 1 & 0xF, 9);                   /* IntTabLen: 512 entries */
  ck_assert_uint_eq(q2 >> 60 & 3, 2);                    /* IntCtl: remap */
  ck_assert_uint_eq(q2 & UINT64_C(0x000FFFFFFFFFFFC0), drv->irt_gpa[0]);
  uint64_t lo = read64(machine, drv->irt_gpa[0]);
  if (ga) {
    ck_assert_uint_eq(lo, 1);                            /* RemapEn, dest 0 */
    ck_assert_uint_eq(read64(machine, drv->irt_gpa[0] + 8), 0x50);
  } else {
    ck_assert_uint_eq(lo & 0xFFFFFFFF, 1u | 0x50u << 16);
  }
  uint64_t control = amdvi_mmio_read(drv->iommu, AMDVI_MMIO_CONTROL, 8);
  ck_assert_uint_eq((control & AMDVI_CONTROL_GA_EN) != 0, ga);
  ck_assert_uint_eq(pci_bus_config_read(machine_pci_bus(machine, 0), 4, 0,
                                        dma->pci.msi_offset + 12, 2), 0);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  struct machine_irq_stats stats;
  machine_irq_stats_get(machine, &stats);
  const struct devdrv *dev = machine_devdrv(machine);
  ck_assert_uint_gt(dma->irq_count, 100);
  /* Completions an MSI's delay window covers share it: at most one MSI each. */
  ck_assert_uint_gt(stats.delivered_count, dma->irq_count / 2);
  ck_assert_uint_le(stats.delivered_count, dma->irq_count);
  ck_assert_uint_eq(stats.delivered_count, dma->msi_sent_count);
  ck_assert_uint_eq(machine_irq_count(machine, 0, DEVDRV_MSI_VECTOR_BASE),
                    stats.delivered_count);
  ck_assert_uint_eq(machine_irq_count(machine, 0, 0), 0); /* index 0 never leaks as vector */
  ck_assert_uint_eq(stats.blocked_count, 0);
  ck_assert_uint_eq(stats.stray_count, 0);
  ck_assert_uint_eq(dma->msi_pending_count, 0);
  /* The driver reaped on interrupts; everything submitted was reaped. */
  ck_assert_uint_gt(dev->irq_reaps_count, 50);
  /* Its last tick saw all but the MSIs of descriptors still in the ring (at most 8). */
  ck_assert_uint_le(dev->irq_seen[0], stats.delivered_count);
  ck_assert_uint_ge(dev->irq_seen[0] + 8, stats.delivered_count);
  ck_assert_uint_ge(dev->reaped_count + 8, dev->submitted_count);
  ck_assert_uint_eq(dev->dma_failed_count, 0);
  ck_assert_uint_eq(drv->irq_faults_count, 0);
  ck_assert_msg(machine_invariants_check(machine, why, sizeof(why)), "%s", why);
  sim_destroy(sim);
}
END_TEST

START_TEST(iommudrv_irq_failures)
{
  /*
   * IntCtl=abort (_i 0, 1) and an IRTE with RemapEn clear mid-run (_i 2, 3), in
   * the default profile (IO_PAGE_FAULT, I=1, the device's id) and qemu-10.1
   * (no event); every blocked MSI is counted and the driver goes on by reaping
   * full rings.
   */
  bool qemu = _i % 2 == 1, abort_all = _i < 2;
  struct sim_options options = {.seed = 9};
  struct sim *sim = sim_create(&options);
  struct machine_config config = irq_config(1, true, false, false);
  config.iommu_driver.intctl_abort = abort_all;
  config.iommu_driver.event_consume_every = 1000000; /* keep the log for the test to read */
  if (qemu) amdvi_props(&config.devices[0])->profile = AMDVI_PROFILE_QEMU_10_1;
  struct machine *machine = machine_create(sim, &config, 0);
  machine_boot(machine);
  const struct iommudrv *drv = machine_iommudrv(machine);
  struct machine_irq_stats stats;
  if (!abort_all) {
    run_until(sim, 10 * SIM_NS_PER_MS);
    machine_irq_stats_get(machine, &stats);
    ck_assert_uint_gt(stats.delivered_count, 0);
    ck_assert_uint_eq(stats.blocked_count, 0);
    uint64_t irte = read64(machine, drv->irt_gpa[0]);
    ck_assert(machine_dma_write(machine, drv->irt_gpa[0], &(uint64_t){irte & ~UINT64_C(1)}, 8));
  }
  uint64_t delivered_before = stats.delivered_count * !abort_all;
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  machine_irq_stats_get(machine, &stats);
  const struct devdrv *dev = machine_devdrv(machine);
  ck_assert_uint_eq(stats.delivered_count, delivered_before);
  ck_assert_uint_gt(stats.blocked_count, 20);
  ck_assert_uint_eq(stats.blocked_count, machine_dmadev(machine, 0)->msi_sent_count -
                                             delivered_before);
  uint32_t logged = irq_faults_logged(machine, drv, drv->devid);
  if (qemu) {
    ck_assert_uint_eq(logged, 0);
  } else {
    /* The log holds 255 entries; the first are the blocked MSIs. */
    ck_assert_uint_eq(logged, SIM_MIN(stats.blocked_count, 255));
  }
  ck_assert_uint_gt(dev->full_reaps_count, 10);
  ck_assert_uint_gt(dev->reaped_count, 50);
  ck_assert_uint_eq(dev->dma_failed_count, 0);
  sim_destroy(sim);
}
END_TEST

START_TEST(iommudrv_devices_run)
{
  /* 2, 3 and 4 dmadevs, separate domains (_i even) or shared: all translated, all complete. */
  uint32_t count = 2 + (uint32_t)_i / 2;
  bool separate = _i % 2 == 0;
  struct sim_options options = {.seed = 11};
  struct sim *sim = sim_create(&options);
  struct machine_config config = irq_config(count, true, false, separate);
  config.vcpu_count = 2;
  config.vcpus[1] = config.vcpus[0];
  char why[256];
  ck_assert_msg(machine_config_check(&config, why, sizeof(why)), "%s", why);
  struct machine *machine = machine_create(sim, &config, 0);
  machine_boot(machine);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  const struct iommudrv *drv = machine_iommudrv(machine);
  const struct devdrv *dev = machine_devdrv(machine);
  ck_assert_uint_eq(dev->dma_count, count);
  ck_assert_uint_eq(drv->device_count, count);
  uint64_t completed = 0;
  for (uint32_t i = 0; i < count; i++) {
    const struct dmadev *dma = machine_dmadev(machine, i);
    uint16_t devid = (uint16_t)(dma->pci.slot << 3);
    ck_assert_uint_gt(dma->completed_count, 50);
    ck_assert_uint_eq(dma->failed_count, 0);
    ck_assert(amdvi_device_translated(drv->iommu, devid));
    ck_assert_uint_eq(iommudrv_domain(drv, i), separate ? 1 + i : 1);
    /* Device i's MSIs land at vCPU i % 2, vector 0x50 + i, and only there. */
    uint64_t seen = machine_irq_count(machine, i % 2, DEVDRV_MSI_VECTOR_BASE + i);
    ck_assert_uint_eq(seen, dma->msi_sent_count);
    ck_assert_uint_eq(machine_irq_count(machine, (i + 1) % 2, DEVDRV_MSI_VECTOR_BASE + i), 0);
    completed += dma->completed_count;
  }
  ck_assert_uint_eq(completed, dev->reaped_count + (dev->submitted_count - dev->reaped_count));
  ck_assert_uint_eq(dev->dma_failed_count, 0);
  ck_assert_uint_eq(drv->faults_count, 0);
  ck_assert_msg(machine_invariants_check(machine, why, sizeof(why)), "%s", why);
  sim_destroy(sim);
}
END_TEST

START_TEST(iommudrv_domains_isolated)
{
  /*
   * Two dmadevs in their own domains cannot reach each other's buffers: the
   * second translating the first's ring IOVA faults, logged with its own
   * DeviceID; in one shared domain the same access translates.
   */
  bool separate = _i == 0;
  struct sim_options options = {.seed = 13};
  struct sim *sim = sim_create(&options);
  struct machine_config config = irq_config(2, false, false, separate);
  struct machine *machine = machine_create(sim, &config, 0);
  machine_boot(machine);
  const struct iommudrv *drv = machine_iommudrv(machine);
  uint16_t devid0 = 4 << 3, devid1 = 5 << 3;
  uint64_t ring0 = iommudrv_iova(drv, devdrv_part_gpa(machine_devdrv(machine), 0));
  uint64_t ring1 = iommudrv_iova(drv, devdrv_part_gpa(machine_devdrv(machine), 1));
  struct amdvi_xlate_result result;
  amdvi_translate(drv->iommu, devid0, ring0, true, &result);
  ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
  amdvi_translate(drv->iommu, devid1, ring1, true, &result);
  ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
  uint64_t tail = amdvi_mmio_read(drv->iommu, AMDVI_MMIO_EVTLOG_TAIL, 8);
  amdvi_translate(drv->iommu, devid1, ring0 + 64, false, &result);
  if (!separate) {
    ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
    ck_assert_uint_eq(amdvi_mmio_read(drv->iommu, AMDVI_MMIO_EVTLOG_TAIL, 8), tail);
  } else {
    ck_assert_int_eq(result.status, AMDVI_XLATE_FAULT);
    ck_assert_uint_eq(result.event_code, AMDVI_EVENT_IO_PAGE_FAULT);
    ck_assert_uint_eq(amdvi_mmio_read(drv->iommu, AMDVI_MMIO_EVTLOG_TAIL, 8), tail + 16);
    uint64_t q0 = read64(machine, drv->base_gpa + IOMMUDRV_EVT_OFFSET + tail);
    uint64_t q1 = read64(machine, drv->base_gpa + IOMMUDRV_EVT_OFFSET + tail + 8);
    ck_assert_uint_eq(q0 >> 60, AMDVI_EVENT_IO_PAGE_FAULT);
    ck_assert_uint_eq(q0 & 0xFFFF, devid1);
    ck_assert_uint_eq(q0 >> 32 & 0xFFFF, 2);             /* device 1's domain */
    ck_assert_uint_eq(q1, ring0 + 64);
    /* And the other way round. */
    amdvi_translate(drv->iommu, devid0, ring1, false, &result);
    ck_assert_int_eq(result.status, AMDVI_XLATE_FAULT);
  }
  sim_destroy(sim);
}
END_TEST

START_TEST(iommudrv_domain_flush_keeps_other)
{
  /* Invalidating device 0's domain drops its IOTLB entries and keeps device 1's. */
  struct sim_options options = {.seed = 17};
  struct sim *sim = sim_create(&options);
  struct machine_config config = irq_config(2, false, false, true);
  struct machine *machine = machine_create(sim, &config, 0);
  machine_boot(machine);
  struct iommudrv *drv = machine_iommudrv(machine);
  uint16_t devids[2] = {4 << 3, 5 << 3};
  uint64_t rings[2];
  struct amdvi_xlate_result result;
  for (uint32_t i = 0; i < 2; i++) {
    rings[i] = iommudrv_iova(drv, devdrv_part_gpa(machine_devdrv(machine), i));
    amdvi_translate(drv->iommu, devids[i], rings[i], false, &result);
    ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
    amdvi_translate(drv->iommu, devids[i], rings[i], false, &result);
    ck_assert(result.iotlb_hit);
  }
  uint64_t head = amdvi_mmio_read(drv->iommu, AMDVI_MMIO_CMDBUF_HEAD, 8);
  iommudrv_domain_flush(drv, 0);
  iommudrv_tick_end(drv);
  ck_assert_uint_eq(amdvi_mmio_read(drv->iommu, AMDVI_MMIO_CMDBUF_HEAD, 8), (head + 32) % 4096);
  amdvi_translate(drv->iommu, devids[1], rings[1], false, &result);
  ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
  ck_assert(result.iotlb_hit);
  amdvi_translate(drv->iommu, devids[0], rings[0], false, &result);
  ck_assert_int_eq(result.status, AMDVI_XLATE_OK);
  ck_assert(!result.iotlb_hit);
  /* Flushing device 1's domain now drops its entry too. */
  iommudrv_domain_flush(drv, 1);
  iommudrv_tick_end(drv);
  amdvi_translate(drv->iommu, devids[1], rings[1], false, &result);
  ck_assert(!result.iotlb_hit);
  sim_destroy(sim);
}
END_TEST

START_TEST(iommudrv_devices_config_errors)
{
  /* Five dmadevs, a driven dmadev outside the IOMMU, intremap without interrupts. */
  char why[256];
  struct machine_config config = irq_config(4, true, false, true);
  struct machine_config five = config;
  five.devices[5] = five.devices[1];
  five.devices[5].slot = 9;
  five.device_count = 6;
  ck_assert(!machine_config_check(&five, why, sizeof(why)));
  ck_assert_str_eq(why, "driver: it programs at most 4 dmadevs, the machine has 5");
  struct machine_config outside = config;
  outside.devices[3].behind_iommu = false;
  ck_assert(!machine_config_check(&outside, why, sizeof(why)));
  ck_assert_str_eq(why, "iommu_driver: every dmadev the driver programs must be behind the "
                        "amd-iommu");
  struct machine_config polling = config;
  polling.driver.interrupts = false;
  ck_assert(!machine_config_check(&polling, why, sizeof(why)));
  ck_assert_str_eq(why, "iommu_driver: intremap needs the device driver's interrupts");
  struct machine_config small = config;
  small.ram[2].bytes = 80 * 3 * RAM_PAGE_BYTES;
  ck_assert(!machine_config_check(&small, why, sizeof(why)));
  ck_assert_msg(strstr(why, "driver: the DMA window is the last RAM block") == why, "%s", why);
  ck_assert_msg(machine_config_check(&config, why, sizeof(why)), "%s", why);
}
END_TEST

/* iommu_config with the dmadev an ATS device (IotlbSup on) answering after response_ns. */
static struct machine_config ats_config(uint64_t response_ns, bool stale, bool no_complete)
{
  struct machine_config config = iommu_config(3, 0);
  amdvi_props(&config.devices[0])->device_iotlb = true;
  dmadev_props(&config.devices[1])->ats = true;
  dmadev_props(&config.devices[1])->ats_response_ns = response_ns;
  dmadev_props(&config.devices[1])->quirk_ats_stale = stale;
  dmadev_props(&config.devices[1])->quirk_ats_no_complete = no_complete;
  dmadev_props(&config.devices[1])->ring_entries = 3;
  config.driver.transfer_bytes_max = 4096; /* ring + 3 x 2 buffer pages fit the 8-entry ATC */
  return config;
}

START_TEST(iommudrv_ats_device)
{
  /*
   * An ATS dmadev: DTE.I set, misses become translation requests, hits are
   * served from the ATC, every unmap sends INVALIDATE_IOTLB_PAGES that reaches
   * the ATC and is answered (after 20 us), and no transfer fails.
   */
  struct sim_options options = {.seed = 7};
  struct sim *sim = sim_create(&options);
  struct machine_config config = ats_config(20000, false, false);
  char why[256];
  ck_assert_msg(machine_config_check(&config, why, sizeof(why)), "%s", why);
  struct machine *machine = machine_create(sim, &config, 0);
  machine_boot(machine);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  const struct iommudrv *drv = machine_iommudrv(machine);
  const struct devdrv *devdrv = machine_devdrv(machine);
  const struct dmadev *dma = machine_dmadev(machine, 0);
  uint64_t dte_q1 = 0;
  ck_assert(machine_dma_read(machine, drv->base_gpa + 0x20 * 32 + 8, &dte_q1, 8));
  ck_assert_uint_eq(dte_q1 >> 32 & 1, 1);
  ck_assert_uint_gt(devdrv->submitted_count, 100);
  ck_assert_uint_eq(devdrv->dma_failed_count, 0);
  ck_assert_uint_gt(dma->ats.requests_count, devdrv->submitted_count); /* buffers miss */
  ck_assert_uint_gt(dma->ats.hits_count, devdrv->submitted_count);     /* the ring hits */
  ck_assert_uint_eq(dma->ats.failed_count, 0);
  ck_assert_uint_eq(dma->ats.stale_count, 0);
  struct amdvi_stats stats;
  amdvi_stats_get(drv->iommu, &stats);
  ck_assert_uint_eq(stats.ats_invalidations_count, drv->ats_invalidations_count);
  ck_assert_uint_eq(dma->atc.invalidations_count, drv->ats_invalidations_count);
  uint32_t owed = amdvi_ats_pending_count(drv->iommu); /* issued in the last tick */
  ck_assert_uint_le(owed, 2);
  ck_assert_uint_eq(dma->atc.completions_count + owed, dma->atc.invalidations_count);
  /* One INVALIDATE_DEVTAB_ENTRY at boot, then IOMMU pages + device IOTLB per unmapped range. */
  ck_assert_uint_eq(drv->invalidations_count, 1 + 2 * drv->ats_invalidations_count);
  ck_assert_uint_eq(stats.ats_timeouts_count, 0);
  ck_assert_uint_eq(drv->ats_timeouts_count, 0);
  /* Every translation the ATC still holds is mapped: the reaped buffers were dropped. */
  ck_assert_uint_le(amdvi_atc_valid_count(&dma->atc), 1 + 2 * 3);
  ck_assert(machine_invariants_check(machine, why, sizeof(why)));
  sim_destroy(sim);
}
END_TEST

START_TEST(iommudrv_ats_quirks)
{
  /*
   * _i 0, ats-no-complete: every device invalidation times out after 1 ms
   * (Control.InvTimeOut): IOTLB_INV_TIMEOUT events the driver consumes and
   * counts, the ATC never applies them.  _i 1, ats-stale: the ATC answers
   * but the device keeps its entries; reusing a slot's buffer goes through
   * an invalidated entry and the machine's invariant check names it.
   */
  struct sim_options options = {.seed = 7};
  struct sim *sim = sim_create(&options);
  struct machine_config config = ats_config(0, _i == 1, _i == 0);
  struct machine *machine = machine_create(sim, &config, 0);
  machine_boot(machine);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  const struct iommudrv *drv = machine_iommudrv(machine);
  const struct dmadev *dma = machine_dmadev(machine, 0);
  struct amdvi_stats stats;
  amdvi_stats_get(drv->iommu, &stats);
  ck_assert_uint_gt(drv->ats_invalidations_count, 50);
  ck_assert_uint_eq(dma->atc.invalidations_count, drv->ats_invalidations_count);
  char why[256];
  if (_i == 0) {
    ck_assert_uint_eq(dma->atc.completions_count, 0);
    /* The driver stops stepping the IOMMU when its program ends: the last few stay owed. */
    uint32_t owed = amdvi_ats_pending_count(drv->iommu);
    ck_assert_uint_le(owed, AMDVI_ATS_PENDING_MAX);
    ck_assert_uint_eq(stats.ats_timeouts_count + owed, drv->ats_invalidations_count);
    ck_assert_uint_eq(stats.events_logged_count, stats.ats_timeouts_count);
    ck_assert_uint_le(drv->ats_timeouts_count, stats.ats_timeouts_count);
    ck_assert_uint_ge(drv->ats_timeouts_count + 2 * AMDVI_ATS_PENDING_MAX,
                      stats.ats_timeouts_count);
    ck_assert_uint_eq(dma->ats.stale_count, 0);
    ck_assert(machine_invariants_check(machine, why, sizeof(why)));
  } else {
    ck_assert_uint_eq(dma->atc.completions_count, dma->atc.invalidations_count);
    ck_assert_uint_eq(stats.ats_timeouts_count, 0);
    ck_assert_uint_gt(dma->ats.stale_count, 10);
    ck_assert(!machine_invariants_check(machine, why, sizeof(why)));
    ck_assert_msg(strstr(why, "0000:00:04.0/dmadev: DMA through a stale ATS translation") == why,
                  "%s", why);
  }
  sim_destroy(sim);
}
END_TEST

START_TEST(iommudrv_ats_config_errors)
{
  /* ATS needs the IOMMU's IotlbSup and a dmadev behind it; its quirks need ATS. */
  struct machine_config config = ats_config(0, false, false);
  char why[256];
  amdvi_props(&config.devices[0])->device_iotlb = false;
  ck_assert(!machine_config_check(&config, why, sizeof(why)));
  ck_assert_str_eq(why, "dmadev: \"ats\" needs the amd-iommu's \"device_iotlb\": true");
  config = ats_config(0, true, false);
  dmadev_props(&config.devices[1])->ats = false;
  ck_assert(!machine_config_check(&config, why, sizeof(why)));
  ck_assert_str_eq(why, "0000:00:04.0/dmadev: ATS quirks and ats_response_ns need \"ats\"");
  config = ats_config(DMADEV_ATS_RESPONSE_NS_MAX + 1, false, false);
  ck_assert(!machine_config_check(&config, why, sizeof(why)));
  ck_assert_msg(strstr(why, "ats_response_ns <= 1073741824") != NULL, "%s", why);
}
END_TEST

Suite *iommudrv_suite(void)
{
  Suite *suite = suite_create("iommudrv");
  TCase *tc = tcase_create("machine");
  tcase_add_test(tc, iommudrv_machine_wiring);
  tcase_add_loop_test(tc, iommudrv_translated_dma, 0, 2);
  suite_add_tcase(suite, tc);
  TCase *irq = tcase_create("irq");
  tcase_add_loop_test(irq, iommudrv_irq_remapped, 0, 2);
  tcase_add_loop_test(irq, iommudrv_irq_failures, 0, 4);
  suite_add_tcase(suite, irq);
  TCase *devices = tcase_create("devices");
  tcase_add_loop_test(devices, iommudrv_devices_run, 0, 6);
  tcase_add_loop_test(devices, iommudrv_domains_isolated, 0, 2);
  tcase_add_test(devices, iommudrv_domain_flush_keeps_other);
  tcase_add_test(devices, iommudrv_devices_config_errors);
  tcase_add_test(devices, iommudrv_ats_device);
  tcase_add_loop_test(devices, iommudrv_ats_quirks, 0, 2);
  tcase_add_test(devices, iommudrv_ats_config_errors);
  suite_add_tcase(suite, devices);
  return suite;
}
