/*
 * dmadev_test.c: the DMA engine (bandwidth in guest time, translation,
 * hostile descriptors, stop/resume, self-check) and its guest driver.
 */
#include "sim_base.h"

#include "amdvi.h"
#include "dmadev.h"
#include "machine.h"
#include "pci.h"
#include "sim_check.h"

#define WINDOW_GPA (64 * RAM_PAGE_BYTES)   /* start of block 1 in dma_config() */

static struct machine_config dma_config(uint64_t period_ns)
{
  struct machine_config config = {.type = "migsim-1.0", .ram_count = 2, .device_count = 1};
  snprintf(config.ram[0].name, sizeof(config.ram[0].name), "pc.ram");
  config.ram[0].bytes = 64 * RAM_PAGE_BYTES;
  snprintf(config.ram[1].name, sizeof(config.ram[1].name), "dma.ram");
  config.ram[1].bytes = 256 * RAM_PAGE_BYTES;
  snprintf(config.devices[0].driver, sizeof(config.devices[0].driver), "dmadev");
  config.devices[0].slot = 4;
  *dmadev_props(&config.devices[0]) = (struct dmadev_config){.ring_entries = 8,
                                                 .bandwidth_bytes_per_s = 4096000};
  config.driver = (struct devdrv_config){.period_ns = period_ns, .duration_ns = 50 * SIM_NS_PER_MS,
                                         .transfer_bytes_max = 3 * RAM_PAGE_BYTES};
  return config;
}

/* A machine with the engine enabled by hand (no driver), ring at the window. */
static struct machine *bare_machine(struct sim *sim, bool quirk_overrun)
{
  struct machine_config config = dma_config(0);
  dmadev_props(&config.devices[0])->quirk_overrun = quirk_overrun;
  struct machine *machine = machine_create(sim, &config, 0);
  machine_boot(machine);
  struct dmadev *dev = machine_dmadev(machine, 0);
  pci_bus_config_write(machine_pci_bus(machine, 0), 4, 0, PCI_COMMAND, PCI_COMMAND_MASTER, 2);
  dmadev_mmio_write(dev, DMADEV_REG_RING_BASE, WINDOW_GPA);
  dmadev_mmio_write(dev, DMADEV_REG_CTRL, DMADEV_CTRL_ENABLE);
  return machine;
}

static void put_desc(struct machine *machine, uint32_t index, uint64_t src, uint64_t dst,
                     uint32_t length)
{
  uint8_t desc[DMADEV_DESC_BYTES] = {0};
  for (int i = 0; i < 8; i++) desc[i] = (uint8_t)(src >> (8 * i));
  for (int i = 0; i < 8; i++) desc[8 + i] = (uint8_t)(dst >> (8 * i));
  for (int i = 0; i < 4; i++) desc[16 + i] = (uint8_t)(length >> (8 * i));
  desc[20] = DMADEV_DESC_FLAG_IRQ;
  ck_assert(machine_dma_write(machine, WINDOW_GPA + index * DMADEV_DESC_BYTES, desc,
                              sizeof(desc)));
}

static uint8_t desc_status(const struct machine *machine, uint32_t index)
{
  uint8_t status = 0;
  ck_assert(machine_dma_read(machine, WINDOW_GPA + index * DMADEV_DESC_BYTES + 24, &status, 1));
  return status;
}

struct head_probe {
  struct dmadev *dev;
  struct sim_event event;
  uint32_t head_seen;
};

static void head_probe_fire(struct sim *sim, struct sim_event *event)
{
  struct head_probe *probe = SIM_CONTAINER_OF(event, struct head_probe, event);
  (void)sim;
  probe->head_seen = probe->dev->head;
}

START_TEST(dmadev_copies_at_bandwidth)
{
  /* 3 pages + 100 bytes at 4096000 B/s take 3 ms + 24414 ns of guest time; the copy is exact. */
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct machine *machine = bare_machine(sim, false);
  struct dmadev *dev = machine_dmadev(machine, 0);
  uint32_t length = 3 * RAM_PAGE_BYTES + 100;
  uint64_t src = WINDOW_GPA + 16 * RAM_PAGE_BYTES + 7;   /* unaligned on purpose */
  uint64_t dst = WINDOW_GPA + 64 * RAM_PAGE_BYTES + 3;
  uint8_t pattern[3 * RAM_PAGE_BYTES + 100];
  for (uint32_t i = 0; i < length; i++) pattern[i] = (uint8_t)(i * 7 + 1);
  ck_assert(machine_dma_write(machine, src, pattern, length));
  put_desc(machine, 0, src, dst, length);
  dmadev_mmio_write(dev, DMADEV_REG_DOORBELL, 1);
  ck_assert_uint_eq(dmadev_mmio_read(dev, DMADEV_REG_STATUS), DMADEV_STATUS_BUSY);
  uint64_t expected_ns = 3 * SIM_NS_PER_MS + 100 * SIM_NS_PER_S / 4096000;
  struct head_probe before = {.dev = dev, .head_seen = 99};
  struct head_probe after = {.dev = dev, .head_seen = 99};
  sim_event_init(&before.event, head_probe_fire, "probe");
  sim_event_init(&after.event, head_probe_fire, "probe");
  sim_event_schedule_at(sim, &before.event, expected_ns - 4);
  sim_event_schedule_at(sim, &after.event, expected_ns + 4);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(before.head_seen, 0);
  ck_assert_uint_eq(after.head_seen, 1);
  uint8_t copied[3 * RAM_PAGE_BYTES + 100];
  ck_assert(machine_dma_read(machine, dst, copied, length));
  ck_assert_mem_eq(copied, pattern, length);
  ck_assert_uint_eq(desc_status(machine, 0), DMADEV_DESC_DONE);
  ck_assert_uint_eq(dmadev_mmio_read(dev, DMADEV_REG_COMPLETED), 1);
  ck_assert_uint_eq(dev->pci.intx_count, 1);               /* MSI was never enabled */
  ck_assert(dmadev_self_check(dev));
  sim_destroy(sim);
}
END_TEST

START_TEST(dmadev_ats_unconfined_passes_untranslated)
{
  /*
   * An ATS engine behind an IOMMU that does not confine it (not enabled: no
   * guest IOMMU driver) copies untranslated, sends no translation request and
   * fills no ATC entry; its ATC is registered under its BDF.
   */
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct machine_config config = dma_config(0);
  config.devices[1] = config.devices[0];
  config.devices[1].behind_iommu = true;
  dmadev_props(&config.devices[1])->ats = true;
  config.devices[0] = (struct dev_config){.driver = "amd-iommu", .slot = 1};
  amdvi_config_default(amdvi_props(&config.devices[0]));
  amdvi_props(&config.devices[0])->device_iotlb = true;
  config.device_count = 2;
  char why[256];
  ck_assert_msg(machine_config_check(&config, why, sizeof(why)), "%s", why);
  struct machine *machine = machine_create(sim, &config, 0);
  machine_boot(machine);
  struct dmadev *dev = machine_dmadev(machine, 0);
  ck_assert_ptr_eq(dev->ats_iommu, machine_amdvi(machine));
  ck_assert_uint_eq(dev->atc.devid, 4u << 3);
  pci_bus_config_write(machine_pci_bus(machine, 0), 4, 0, PCI_COMMAND, PCI_COMMAND_MASTER, 2);
  dmadev_mmio_write(dev, DMADEV_REG_RING_BASE, WINDOW_GPA);
  dmadev_mmio_write(dev, DMADEV_REG_CTRL, DMADEV_CTRL_ENABLE);
  uint8_t pattern[RAM_PAGE_BYTES + 9];
  for (uint32_t i = 0; i < sizeof(pattern); i++) pattern[i] = (uint8_t)(i * 5 + 3);
  uint64_t src = WINDOW_GPA + 8 * RAM_PAGE_BYTES + 1, dst = WINDOW_GPA + 32 * RAM_PAGE_BYTES;
  ck_assert(machine_dma_write(machine, src, pattern, sizeof(pattern)));
  put_desc(machine, 0, src, dst, sizeof(pattern));
  dmadev_mmio_write(dev, DMADEV_REG_DOORBELL, 1);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  uint8_t copied[sizeof(pattern)];
  ck_assert(machine_dma_read(machine, dst, copied, sizeof(copied)));
  ck_assert_mem_eq(copied, pattern, sizeof(pattern));
  ck_assert_uint_eq(desc_status(machine, 0), DMADEV_DESC_DONE);
  ck_assert_uint_eq(dev->ats.requests_count, 0);
  ck_assert_uint_eq(dev->ats.hits_count, 0);
  ck_assert_uint_eq(amdvi_atc_valid_count(&dev->atc), 0);
  sim_destroy(sim);
}
END_TEST

struct offset_iommu {
  uint64_t offset;
  uint64_t calls_count;
  uint16_t devid_seen;
  uint64_t fault_iova;                                     /* translating this page fails */
};

static bool offset_translate(void *opaque, uint16_t devid, uint64_t iova, bool is_write,
                             uint64_t *gpa)
{
  struct offset_iommu *iommu = opaque;
  (void)is_write;
  iommu->calls_count++;
  iommu->devid_seen = devid;
  if (iova / RAM_PAGE_BYTES == iommu->fault_iova / RAM_PAGE_BYTES) return false;
  *gpa = iova + iommu->offset;
  return true;
}

START_TEST(dmadev_translate_hook)
{
  /* Every access goes through the hook with the device's requester id; a fault fails it. */
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct machine *machine = bare_machine(sim, false);
  struct dmadev *dev = machine_dmadev(machine, 0);
  struct offset_iommu iommu = {.offset = WINDOW_GPA, .fault_iova = 200 * RAM_PAGE_BYTES};
  dmadev_mmio_write(dev, DMADEV_REG_RING_BASE, 0);        /* ring at iova 0 = gpa WINDOW */
  dmadev_translate_set(dev, offset_translate, &iommu);
  uint8_t marker[16] = "through-iommu!!";
  ck_assert(machine_dma_write(machine, WINDOW_GPA + 20 * RAM_PAGE_BYTES, marker, 16));
  put_desc(machine, 0, 20 * RAM_PAGE_BYTES, 30 * RAM_PAGE_BYTES, 16);
  put_desc(machine, 1, 20 * RAM_PAGE_BYTES, 200 * RAM_PAGE_BYTES, 16);
  dmadev_mmio_write(dev, DMADEV_REG_DOORBELL, 2);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  uint8_t copied[16];
  ck_assert(machine_dma_read(machine, WINDOW_GPA + 30 * RAM_PAGE_BYTES, copied, 16));
  ck_assert_mem_eq(copied, marker, 16);
  ck_assert_uint_eq(desc_status(machine, 0), DMADEV_DESC_DONE);
  ck_assert_uint_eq(desc_status(machine, 1), DMADEV_DESC_FAILED);
  ck_assert_uint_eq(dev->failed_count, 1);
  ck_assert_uint_eq(dev->completed_count, 2);
  ck_assert_uint_eq(iommu.devid_seen, 4 << 3);
  ck_assert_uint_ge(iommu.calls_count, 6);
  ck_assert(dmadev_self_check(dev));
  sim_destroy(sim);
}
END_TEST

START_TEST(dmadev_hostile_descriptors)
{
  /* Zero, oversized and out-of-RAM descriptors fail fast; bad doorbells and bases are dropped. */
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct machine *machine = bare_machine(sim, false);
  struct dmadev *dev = machine_dmadev(machine, 0);
  put_desc(machine, 0, WINDOW_GPA, WINDOW_GPA + RAM_PAGE_BYTES, 0);
  put_desc(machine, 1, WINDOW_GPA, WINDOW_GPA + RAM_PAGE_BYTES, DMADEV_TRANSFER_BYTES_MAX + 1);
  put_desc(machine, 2, UINT64_MAX - 8, WINDOW_GPA, 64);
  put_desc(machine, 3, WINDOW_GPA, WINDOW_GPA + 255 * RAM_PAGE_BYTES, 2 * RAM_PAGE_BYTES);
  dmadev_mmio_write(dev, DMADEV_REG_DOORBELL, 8);            /* past the ring: dropped */
  ck_assert_uint_eq(dev->tail, 0);
  dmadev_mmio_write(dev, DMADEV_REG_DOORBELL, 4);
  dmadev_mmio_write(dev, DMADEV_REG_RING_BASE, 0x1000);      /* busy: ignored */
  ck_assert_uint_eq(dev->ring_base, WINDOW_GPA);
  ck_assert_uint_eq(dev->completed_count, 2);                /* the first two at once */
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(dev->completed_count, 4);
  ck_assert_uint_eq(dev->failed_count, 4);
  for (uint32_t i = 0; i < 4; i++) ck_assert_uint_eq(desc_status(machine, i), DMADEV_DESC_FAILED);
  ck_assert(dmadev_self_check(dev));                        /* failures are consistent */
  dmadev_mmio_write(dev, DMADEV_REG_RING_BASE, WINDOW_GPA + 3); /* misaligned: ignored */
  ck_assert_uint_eq(dev->ring_base, WINDOW_GPA);
  ck_assert_uint_eq(dmadev_mmio_read(dev, 0x38), UINT64_MAX);
  sim_destroy(sim);
}
END_TEST

struct stop_probe {
  struct machine *machine;
  struct sim_event stop_event;
  struct sim_event resume_event;
  uint32_t done_at_stop;
  uint32_t done_at_resume;
};

static void stop_fire(struct sim *sim, struct sim_event *event)
{
  struct stop_probe *probe = SIM_CONTAINER_OF(event, struct stop_probe, stop_event);
  (void)sim;
  machine_stop(probe->machine);
  probe->done_at_stop = machine_dmadev(probe->machine, 0)->cur_done_bytes;
}

static void resume_fire(struct sim *sim, struct sim_event *event)
{
  struct stop_probe *probe = SIM_CONTAINER_OF(event, struct stop_probe, resume_event);
  (void)sim;
  probe->done_at_resume = machine_dmadev(probe->machine, 0)->cur_done_bytes;
  machine_resume(probe->machine);
}

START_TEST(dmadev_pauses_with_the_vm)
{
  /* Stopped for 10 ms mid-transfer, the engine makes no progress and finishes 10 ms later. */
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct stop_probe probe = {.machine = bare_machine(sim, false)};
  struct dmadev *dev = machine_dmadev(probe.machine, 0);
  put_desc(probe.machine, 0, WINDOW_GPA + RAM_PAGE_BYTES, WINDOW_GPA + 100 * RAM_PAGE_BYTES,
           8 * RAM_PAGE_BYTES);
  dmadev_mmio_write(dev, DMADEV_REG_DOORBELL, 1);
  sim_event_init(&probe.stop_event, stop_fire, "probe.stop");
  sim_event_init(&probe.resume_event, resume_fire, "probe.resume");
  sim_event_schedule_at(sim, &probe.stop_event, 2500 * SIM_NS_PER_US);
  sim_event_schedule_at(sim, &probe.resume_event, 12500 * SIM_NS_PER_US);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(probe.done_at_stop, 2 * RAM_PAGE_BYTES);
  ck_assert_uint_eq(probe.done_at_resume, 2 * RAM_PAGE_BYTES);
  ck_assert_uint_eq(dev->completed_count, 1);
  ck_assert_uint_eq(sim_now_ns(sim), 18 * SIM_NS_PER_MS + 1); /* 8 ms of copying + 10 stopped */
  sim_destroy(sim);
}
END_TEST

START_TEST(dmadev_self_check_enters_error_state)
{
  /* The overrun quirk breaks the byte accounting; pre_save finds it, logs, refuses, stops. */
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct machine *machine = bare_machine(sim, true);
  struct dmadev *dev = machine_dmadev(machine, 0);
  put_desc(machine, 0, WINDOW_GPA + RAM_PAGE_BYTES, WINDOW_GPA + 9 * RAM_PAGE_BYTES, 4096);
  dmadev_mmio_write(dev, DMADEV_REG_DOORBELL, 1);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_int_eq(dmadev_vmstate.pre_save(dev), 0);          /* whole pages: consistent */
  put_desc(machine, 1, WINDOW_GPA + RAM_PAGE_BYTES, WINDOW_GPA + 9 * RAM_PAGE_BYTES, 100);
  dmadev_mmio_write(dev, DMADEV_REG_DOORBELL, 2);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_ptr_null(machine_vmstate_error(machine, 2));
  ck_assert_int_ne(dmadev_vmstate.pre_save(dev), 0);
  ck_assert_str_eq(dev->error_message, "copied 8192 bytes, descriptors account for 4196");
  ck_assert_str_eq(machine_vmstate_error(machine, 2), dev->error_message);
  ck_assert_uint_eq(dmadev_mmio_read(dev, DMADEV_REG_STATUS), DMADEV_STATUS_ERROR);
  /* In the error state the engine takes no more work, and nothing else stops. */
  put_desc(machine, 2, WINDOW_GPA + RAM_PAGE_BYTES, WINDOW_GPA + 9 * RAM_PAGE_BYTES, 100);
  dmadev_mmio_write(dev, DMADEV_REG_DOORBELL, 3);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(dev->head, 2);
  ck_assert(machine_running(machine));
  sim_destroy(sim);
}
END_TEST

START_TEST(dmadev_post_load_refuses_bad_indexes)
{
  /* A stream that sets indexes or progress the engine cannot hold is refused at load. */
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct dmadev_config config = {.ring_entries = 8, .bandwidth_bytes_per_s = 1000};
  struct dmadev *dev = dmadev_create(sim, NULL, &config);
  ck_assert_int_eq(dmadev_vmstate.post_load(dev, 1), 0);
  dev->head = 8;
  ck_assert_int_ne(dmadev_vmstate.post_load(dev, 1), 0);
  dev->head = 7;
  dev->cur_bytes = 10;
  dev->cur_done_bytes = 11;
  ck_assert_int_ne(dmadev_vmstate.post_load(dev, 1), 0);
  dev->cur_done_bytes = 10;
  dev->status = DMADEV_STATUS_BUSY;                       /* busy with nothing left */
  ck_assert_int_ne(dmadev_vmstate.post_load(dev, 1), 0);
  dev->cur_bytes = DMADEV_TRANSFER_BYTES_MAX + 1;
  ck_assert_int_ne(dmadev_vmstate.post_load(dev, 1), 0);
  sim_destroy(sim);
}
END_TEST

struct msi_probe {
  struct machine *machine;         /* NULL: a device that never runs */
  struct dev_host host;            /* the probe as the device's host: the machine's, but MSIs */
  uint32_t count;
  uint64_t vm_ns;                                          /* guest time of the last MSI */
  uint16_t devid;
  uint64_t address;
  uint32_t data;
};

static uint64_t probe_vm_ns(const void *context)
{
  const struct msi_probe *probe = context;
  return machine_vm_ns(probe->machine);
}

static uint64_t probe_sim_ns_at(const void *context, uint64_t vm_ns)
{
  const struct msi_probe *probe = context;
  return machine_sim_ns_at(probe->machine, vm_ns);
}

static bool probe_running(const void *context)
{
  const struct msi_probe *probe = context;
  return machine_running(probe->machine);
}

static bool probe_dma_read(const void *context, uint64_t gpa, void *bytes, uint32_t count)
{
  const struct msi_probe *probe = context;
  return machine_dma_read(probe->machine, gpa, bytes, count);
}

static bool probe_dma_write(void *context, uint64_t gpa, const void *bytes, uint32_t count)
{
  struct msi_probe *probe = context;
  return machine_dma_write(probe->machine, gpa, bytes, count);
}

static void msi_probe_fire(void *context, uint16_t devid, uint64_t address, uint32_t data)
{
  struct msi_probe *probe = context;
  probe->count++;
  probe->vm_ns = machine_vm_ns(probe->machine);
  probe->devid = devid;
  probe->address = address;
  probe->data = data;
}

static const struct dev_host_ops probe_host_ops = {probe_vm_ns, probe_sim_ns_at, probe_running,
                                                   probe_dma_read, probe_dma_write,
                                                   msi_probe_fire};

/* The device's host becomes the probe: the same machine, with MSIs wired to the probe. */
static void msi_probe_attach(struct msi_probe *probe, struct sim *sim, struct dmadev *dev)
{
  probe->host = (struct dev_host){.ops = &probe_host_ops, .context = probe, .sim = sim,
                                  .msi_wired = true};
  dmadev_host_set(dev, &probe->host);
}

struct pending_probe {
  struct dmadev *dev;
  struct sim_event event;
  uint32_t pending_seen;
};

static void pending_probe_fire(struct sim *sim, struct sim_event *event)
{
  struct pending_probe *probe = SIM_CONTAINER_OF(event, struct pending_probe, event);
  (void)sim;
  probe->pending_seen = probe->dev->msi_pending_count;
}

START_TEST(dmadev_msi_pending_then_delivered)
{
  /*
   * With a hook and MSI enabled, a completion's MSI stays pending msi_delay_ns
   * (10 us here) and then carries the capability's address and data; two
   * completions inside one window share one message.
   */
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct machine_config config = dma_config(0);
  dmadev_props(&config.devices[0])->msi_delay_ns = 10000;
  /* 1 us a page */
  dmadev_props(&config.devices[0])->bandwidth_bytes_per_s = 4096 * UINT64_C(1000000);
  struct machine *machine = machine_create(sim, &config, 0);
  machine_boot(machine);
  struct dmadev *dev = machine_dmadev(machine, 0);
  struct msi_probe msi = {.machine = machine};
  msi_probe_attach(&msi, sim, dev);
  struct pci_bus *bus = machine_pci_bus(machine, 0);
  pci_bus_config_write(bus, 4, 0, PCI_COMMAND, PCI_COMMAND_MASTER, 2);
  pci_bus_config_write(bus, 4, 0, dev->pci.msi_offset + 4, 0xfee03000u, 4);
  pci_bus_config_write(bus, 4, 0, dev->pci.msi_offset + 12, 0x0061u, 2);
  pci_bus_config_write(bus, 4, 0, dev->pci.msi_offset + 2, PCI_MSI_FLAGS_ENABLE, 2);
  dmadev_mmio_write(dev, DMADEV_REG_RING_BASE, WINDOW_GPA);
  dmadev_mmio_write(dev, DMADEV_REG_CTRL, DMADEV_CTRL_ENABLE);
  put_desc(machine, 0, WINDOW_GPA + RAM_PAGE_BYTES, WINDOW_GPA + 9 * RAM_PAGE_BYTES, 4096);
  put_desc(machine, 1, WINDOW_GPA + RAM_PAGE_BYTES, WINDOW_GPA + 9 * RAM_PAGE_BYTES, 4096);
  dmadev_mmio_write(dev, DMADEV_REG_DOORBELL, 2);
  /* Both retire by 2 us (odd ns 1001 and 2001); the MSI is due at 1001 + 10000 = 11001. */
  struct pending_probe probe = {.dev = dev};
  sim_event_init(&probe.event, pending_probe_fire, "probe");
  sim_event_schedule_at(sim, &probe.event, 11000);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(probe.pending_seen, 2);
  ck_assert_uint_eq(msi.count, 1);
  ck_assert_uint_eq(msi.vm_ns, 11001);
  ck_assert_uint_eq(msi.devid, 4 << 3);
  ck_assert_uint_eq(msi.address, 0xfee03000u);
  ck_assert_uint_eq(msi.data, 0x61);
  ck_assert_uint_eq(dev->msi_sent_count, 1);
  ck_assert_uint_eq(dev->msi_pending_count, 0);
  ck_assert_uint_eq(dev->pci.msi_count, 2);                /* both completions raised it */
  sim_destroy(sim);
}
END_TEST

struct step_probe {
  struct dmadev *dev;
  struct sim_event event;
  uint64_t next_seen;
};

static void step_probe_fire(struct sim *sim, struct sim_event *event)
{
  struct step_probe *probe = SIM_CONTAINER_OF(event, struct step_probe, event);
  (void)sim;
  probe->next_seen = probe->dev->next_step_vm_ns;
}

START_TEST(dmadev_slots_split_odd_nanoseconds)
{
  /* Engine i of 3 steps only on odd t with (t / 2) % 3 == i, at most one slot round late. */
  for (uint32_t i = 0; i < 3; i++) {
    struct sim_options options = {.seed = 3};
    struct sim *sim = sim_create(&options);
    struct machine_config config = dma_config(0);
    /* a page: 1228 ns */
    dmadev_props(&config.devices[0])->bandwidth_bytes_per_s = UINT64_C(3333333333);
    struct machine *machine = machine_create(sim, &config, 0);
    struct dmadev *dev = machine_dmadev(machine, 0);
    dmadev_slot_set(dev, i, 3);
    machine_boot(machine);
    pci_bus_config_write(machine_pci_bus(machine, 0), 4, 0, PCI_COMMAND, PCI_COMMAND_MASTER, 2);
    dmadev_mmio_write(dev, DMADEV_REG_RING_BASE, WINDOW_GPA);
    dmadev_mmio_write(dev, DMADEV_REG_CTRL, DMADEV_CTRL_ENABLE);
    put_desc(machine, 0, WINDOW_GPA + RAM_PAGE_BYTES, WINDOW_GPA + 9 * RAM_PAGE_BYTES, 5000);
    dmadev_mmio_write(dev, DMADEV_REG_DOORBELL, 1);
    uint64_t first = dev->next_step_vm_ns;
    ck_assert_uint_eq(first % 2, 1);
    ck_assert_uint_eq(first / 2 % 3, i);
    ck_assert_uint_ge(first, 1228);                        /* never before the bandwidth allows */
    ck_assert_uint_le(first, 1228 + 6);
    struct step_probe probe = {.dev = dev};
    sim_event_init(&probe.event, step_probe_fire, "probe");
    sim_event_schedule_at(sim, &probe.event, first + 1);
    ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
    uint64_t second = probe.next_seen;                    /* 904 bytes: 271 ns later */
    ck_assert_uint_eq(second % 2, 1);
    ck_assert_uint_eq(second / 2 % 3, i);
    ck_assert_uint_ge(second, first + 271);
    ck_assert_uint_le(second, first + 271 + 6);
    ck_assert_uint_eq(desc_status(machine, 0), DMADEV_DESC_DONE);
    sim_destroy(sim);
  }
}
END_TEST

START_TEST(dmadev_post_load_refuses_bad_msi_state)
{
  /* Pending MSIs without a hook, beyond the bound, or due on an even ns, are refused. */
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct dmadev_config config = {.ring_entries = 8, .bandwidth_bytes_per_s = 1000};
  struct dmadev *dev = dmadev_create(sim, NULL, &config);
  dev->msi_pending_count = 1;
  dev->next_msi_vm_ns = 12345;
  ck_assert_int_ne(dmadev_vmstate.post_load(dev, 1), 0);   /* no hook to deliver to */
  struct msi_probe msi = {0};
  msi_probe_attach(&msi, sim, dev);
  ck_assert_int_eq(dmadev_vmstate.post_load(dev, 1), 0);
  dev->next_msi_vm_ns = 12346;
  ck_assert_int_ne(dmadev_vmstate.post_load(dev, 1), 0);
  dev->next_msi_vm_ns = DMADEV_STEP_VM_NS_MAX + 1;
  ck_assert_int_ne(dmadev_vmstate.post_load(dev, 1), 0);
  dev->next_msi_vm_ns = 12345;
  dev->msi_pending_count = DMADEV_MSI_PENDING_MAX + 1;
  ck_assert_int_ne(dmadev_vmstate.post_load(dev, 1), 0);
  dev->msi_pending_count = 0;
  dev->next_msi_vm_ns = 12346;                             /* ignored while nothing pends */
  ck_assert_int_eq(dmadev_vmstate.post_load(dev, 1), 0);
  sim_destroy(sim);
}
END_TEST

/* Runs the driver workload to the end; returns the driver's result. */
static struct devdrv drive(uint64_t seed, uint64_t *completed)
{
  struct sim_options options = {.seed = seed};
  struct sim *sim = sim_create(&options);
  struct machine_config config = dma_config(200 * SIM_NS_PER_US);
  dmadev_props(&config.devices[0])->bandwidth_bytes_per_s = 40960000;  /* ~0.15 ms per descriptor */
  char why[160];
  ck_assert_msg(machine_config_check(&config, why, sizeof(why)), "%s", why);
  struct machine *machine = machine_create(sim, &config, 0);
  machine_boot(machine);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert(machine_workload_done(machine));
  struct devdrv result = *machine_devdrv(machine);
  struct dmadev *dev = machine_dmadev(machine, 0);
  *completed = dev->completed_count;
  ck_assert_uint_eq(dev->failed_count, 0);
  ck_assert_uint_eq(dev->pci.msi_count, dev->completed_count);  /* the driver enabled MSI */
  ck_assert(dmadev_self_check(dev));
  sim_destroy(sim);
  return result;
}

START_TEST(devdrv_interrupts_without_iommu)
{
  /*
   * Two engines and no IOMMU: each MSI carries its vCPU and vector itself
   * (engine 1: vCPU 1, vector 0x51), the driver reaps on interrupts, and the
   * result differs from polling only in when it reaps, never in what it copied.
   */
  uint64_t checksums[2];
  for (uint32_t interrupts = 0; interrupts < 2; interrupts++) {
    struct sim_options options = {.seed = 21};
    struct sim *sim = sim_create(&options);
    struct machine_config config = dma_config(200 * SIM_NS_PER_US);
    config.devices[1] = config.devices[0];
    config.devices[1].slot = 5;
    config.device_count = 2;
    config.vcpu_count = 2;
    config.vcpus[1] = config.vcpus[0];
    config.ram[1].bytes = 2 * 256 * RAM_PAGE_BYTES;
    config.driver.interrupts = interrupts == 1;
    char why[160];
    ck_assert_msg(machine_config_check(&config, why, sizeof(why)), "%s", why);
    struct machine *machine = machine_create(sim, &config, 0);
    machine_boot(machine);
    ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
    const struct devdrv *drv = machine_devdrv(machine);
    struct machine_irq_stats stats;
    machine_irq_stats_get(machine, &stats);
    for (uint32_t i = 0; i < 2; i++) {
      const struct dmadev *dev = machine_dmadev(machine, i);
      ck_assert_uint_gt(dev->completed_count, 20);
      ck_assert_uint_eq(dev->failed_count, 0);
      uint64_t seen = machine_irq_count(machine, i, DEVDRV_MSI_VECTOR_BASE + i);
      ck_assert_uint_eq(seen, interrupts == 1 ? dev->msi_sent_count : 0);
      if (interrupts == 1) ck_assert_uint_gt(seen, 20);
    }
    uint64_t counted = machine_irq_count(machine, 0, 0x50) + machine_irq_count(machine, 1, 0x51);
    ck_assert_uint_eq(stats.delivered_count, counted);
    ck_assert_uint_eq(stats.stray_count, 0);
    ck_assert_uint_eq(drv->irq_reaps_count > 0, interrupts == 1);
    ck_assert_uint_eq(drv->dma_failed_count, 0);
    checksums[interrupts] = drv->dma_checksum;
    /* Both ways the driver reaped all but what its ring still held at its last tick. */
    ck_assert_uint_ge(drv->reaped_count + 2 * 8, drv->submitted_count);
    sim_destroy(sim);
  }
  ck_assert_uint_eq(checksums[0], checksums[1]);
}
END_TEST

START_TEST(devdrv_result_is_a_function_of_the_seed)
{
  /* The driver reaps what it submitted; same seed, same checksum; another seed, another. */
  uint64_t completed_a, completed_b, completed_c;
  struct devdrv a = drive(11, &completed_a);
  struct devdrv b = drive(11, &completed_b);
  struct devdrv c = drive(12, &completed_c);
  ck_assert_uint_eq(a.dma_checksum, b.dma_checksum);
  ck_assert_uint_eq(a.reaped_count, b.reaped_count);
  ck_assert_uint_ne(a.dma_checksum, c.dma_checksum);
  ck_assert_uint_gt(a.reaped_count, 50);
  ck_assert_uint_le(a.reaped_count, a.submitted_count);
  ck_assert_uint_ge(completed_a, a.reaped_count);
  ck_assert_uint_eq(a.dma_failed_count, 0);
  ck_assert(!a.device_error_seen);
}
END_TEST

START_TEST(machine_config_check_names_the_device)
{
  /* Bad properties and a missing DMA window are refused with the device's path. */
  char why[200];
  struct machine_config config = dma_config(200 * SIM_NS_PER_US);
  ck_assert(machine_config_check(&config, why, sizeof(why)));
  dmadev_props(&config.devices[0])->ring_entries = 1;
  ck_assert(!machine_config_check(&config, why, sizeof(why)));
  ck_assert_str_eq(why, "0000:00:04.0/dmadev: ring_entries must be 2..256");
  config = dma_config(200 * SIM_NS_PER_US);
  config.devices[0].bus = PCI_BUSES_MAX;
  ck_assert(!machine_config_check(&config, why, sizeof(why)));
  ck_assert_str_eq(why, "0000:04:04.0/dmadev: PCI address out of range (buses 0..3)");
  config = dma_config(200 * SIM_NS_PER_US);
  config.ram[1].bytes = 8 * RAM_PAGE_BYTES;
  ck_assert(!machine_config_check(&config, why, sizeof(why)));
  ck_assert_ptr_nonnull(strstr(why, "needs 200704 bytes"));
  config = dma_config(201);
  ck_assert(!machine_config_check(&config, why, sizeof(why)));
}
END_TEST

Suite *dmadev_suite(void)
{
  Suite *suite = suite_create("dmadev");
  TCase *core = tcase_create("core");
  tcase_add_test(core, dmadev_copies_at_bandwidth);
  tcase_add_test(core, dmadev_translate_hook);
  tcase_add_test(core, dmadev_ats_unconfined_passes_untranslated);
  tcase_add_test(core, dmadev_pauses_with_the_vm);
  tcase_add_test(core, devdrv_result_is_a_function_of_the_seed);
  tcase_add_test(core, dmadev_msi_pending_then_delivered);
  tcase_add_test(core, devdrv_interrupts_without_iommu);
  tcase_add_test(core, dmadev_slots_split_odd_nanoseconds);
  suite_add_tcase(suite, core);
  TCase *hostile = tcase_create("hostile");
  tcase_add_test(hostile, dmadev_hostile_descriptors);
  tcase_add_test(hostile, dmadev_post_load_refuses_bad_indexes);
  tcase_add_test(hostile, dmadev_post_load_refuses_bad_msi_state);
  tcase_add_test(hostile, machine_config_check_names_the_device);
  suite_add_tcase(suite, hostile);
  TCase *selfcheck = tcase_create("selfcheck");
  tcase_add_test(selfcheck, dmadev_self_check_enters_error_state);
  suite_add_tcase(suite, selfcheck);
  return suite;
}
