/*
 * iommudrv_test.c: the AMD IOMMU inside a machine, driven by the guest's
 * IOMMU driver: AMDVI-PCI on the bus, its section, translated DMA with
 * map/unmap per transfer, injected faults reaching both the event log and
 * the DMA driver, completion waits and MSIs counted by the machine.
 */
#include "sim_base.h"

#include "machine.h"
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
  struct machine_device_config *iommu = &config.devices[0];
  snprintf(iommu->driver, sizeof(iommu->driver), "amd-iommu");
  iommu->slot = 2;
  amdvi_config_default(&iommu->iommu);
  struct machine_device_config *dma = &config.devices[1];
  snprintf(dma->driver, sizeof(dma->driver), "dmadev");
  dma->slot = 4;
  dma->dma = (struct dmadev_config){.ring_entries = 8, .bandwidth_bytes_per_s = 16 << 20};
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

Suite *iommudrv_suite(void)
{
  Suite *suite = suite_create("iommudrv");
  TCase *tc = tcase_create("machine");
  tcase_add_test(tc, iommudrv_machine_wiring);
  tcase_add_loop_test(tc, iommudrv_translated_dma, 0, 2);
  suite_add_tcase(suite, tc);
  return suite;
}
