/*
 * devdrv.c: the guest driver program of devdrv.h.
 *
 * The guest reads and writes its own RAM through machine_dma_read/write (a
 * guest store logs the page dirty as any other does) and reaches the
 * devices through their MMIO registers and the PCI config cycles of its bus.
 */
#include "sim_base.h"

#include "devdrv.h"
#include "machine.h"

#include <xxhash.h>

static uint64_t ring_bytes(uint32_t ring_entries)
{
  uint64_t bytes = (uint64_t)ring_entries * DMADEV_DESC_BYTES;
  return (bytes + RAM_PAGE_BYTES - 1) / RAM_PAGE_BYTES * RAM_PAGE_BYTES;
}

uint64_t devdrv_window_bytes(const struct devdrv_config *config, uint32_t ring_entries)
{
  return ring_bytes(ring_entries) + 2 * (uint64_t)ring_entries * config->transfer_bytes_max;
}

static uint64_t slot_gpa(const struct devdrv *drv, uint32_t index, bool destination)
{
  uint32_t entries = drv->dma->ring_entries;
  uint64_t slot = (destination ? entries : 0) + (uint64_t)index;
  return drv->window_gpa + ring_bytes(entries) + slot * drv->config.transfer_bytes_max;
}

static void le_put(uint8_t *bytes, uint64_t value, uint32_t count)
{
  for (uint32_t i = 0; i < count; i++) bytes[i] = (uint8_t)(value >> (8 * i));
}

/* Folds count bytes of guest memory at gpa into *checksum, one page at a time. */
static void checksum_fold(struct devdrv *drv, uint64_t gpa, uint32_t count, uint64_t *checksum)
{
  uint8_t page[RAM_PAGE_BYTES];
  while (count > 0) {
    uint32_t chunk = SIM_MIN(count, RAM_PAGE_BYTES);
    bool ok = machine_dma_read(drv->machine, gpa, page, chunk);
    SIM_ASSERT(ok); /* the window was checked against RAM at set-up */
    *checksum = XXH3_64bits_withSeed(page, chunk, *checksum);
    gpa += chunk;
    count -= chunk;
  }
}

/* The address the engine uses for window address gpa: an IOVA behind the IOMMU. */
static uint64_t device_address(const struct devdrv *drv, uint64_t gpa)
{
  return drv->iommu != NULL ? iommudrv_iova(drv->iommu, gpa) : gpa;
}

static void dma_reap(struct devdrv *drv)
{
  struct dmadev *dma = drv->dma;
  if ((dmadev_mmio_read(dma, DMADEV_REG_STATUS) & DMADEV_STATUS_ERROR) != 0) {
    drv->device_error_seen = true;
  }
  uint32_t head = (uint32_t)dmadev_mmio_read(dma, DMADEV_REG_HEAD);
  for (uint32_t i = 0; i < dma->ring_entries && drv->reaped != head; i++) {
    uint8_t desc[DMADEV_DESC_BYTES];
    uint64_t at = drv->window_gpa + (uint64_t)drv->reaped * DMADEV_DESC_BYTES;
    bool fetched = machine_dma_read(drv->machine, at, desc, sizeof(desc));
    SIM_ASSERT(fetched);
    uint32_t length = (uint32_t)(desc[16] | desc[17] << 8 | desc[18] << 16 |
                                 (uint32_t)desc[19] << 24);
    bool length_ok = length >= 1 && length <= drv->config.transfer_bytes_max;
    if (desc[24] == DMADEV_DESC_DONE && length_ok) {
      checksum_fold(drv, slot_gpa(drv, drv->reaped, true), length, &drv->dma_checksum);
    } else {
      drv->dma_failed_count++;
    }
    if (drv->iommu != NULL && length_ok) {
      iommudrv_transfer_unmap(drv->iommu, slot_gpa(drv, drv->reaped, false),
                              slot_gpa(drv, drv->reaped, true), length);
    }
    drv->reaped_count++;
    drv->reaped = (drv->reaped + 1) % dma->ring_entries;
  }
}

static void dma_submit(struct devdrv *drv)
{
  struct dmadev *dma = drv->dma;
  uint32_t next = (drv->tail + 1) % dma->ring_entries;
  if (drv->device_error_seen || next == drv->reaped) return; /* broken device or full ring */
  uint32_t length = 1 + (uint32_t)sim_prng_below(&drv->prng, drv->config.transfer_bytes_max);
  uint64_t src = slot_gpa(drv, drv->tail, false);
  uint8_t page[RAM_PAGE_BYTES];
  for (uint32_t done = 0; done < length; done += RAM_PAGE_BYTES) {
    uint32_t chunk = SIM_MIN(length - done, RAM_PAGE_BYTES);
    sim_prng_fill(&drv->prng, page, chunk);
    bool written = machine_dma_write(drv->machine, src + done, page, chunk);
    SIM_ASSERT(written);
  }
  uint64_t dst = slot_gpa(drv, drv->tail, true);
  if (drv->iommu != NULL) iommudrv_transfer_map(drv->iommu, src, dst, length);
  uint8_t desc[DMADEV_DESC_BYTES] = {0};
  le_put(desc, device_address(drv, src), 8);
  le_put(desc + 8, device_address(drv, dst), 8);
  le_put(desc + 16, length, 4);
  le_put(desc + 20, DMADEV_DESC_FLAG_IRQ, 4);
  uint64_t at = drv->window_gpa + (uint64_t)drv->tail * DMADEV_DESC_BYTES;
  bool written = machine_dma_write(drv->machine, at, desc, sizeof(desc));
  SIM_ASSERT(written);
  drv->tail = next;
  drv->submitted_count++;
  dmadev_mmio_write(dma, DMADEV_REG_DOORBELL, drv->tail);
}

static void block_io(struct devdrv *drv)
{
  struct blockdev *block = drv->block;
  uint8_t sector[BLOCKDEV_SECTOR_BYTES];
  uint64_t write_at = sim_prng_below(&drv->prng, block->sectors_count);
  sim_prng_fill(&drv->prng, sector, sizeof(sector));
  if (blockdev_write(block, write_at, sector)) {
    drv->block_writes_count++;
  } else {
    drv->block_refused_count++;
  }
  uint64_t read_at = sim_prng_below(&drv->prng, block->sectors_count);
  bool read = blockdev_read(block, read_at, sector);
  SIM_ASSERT(read);
  drv->block_checksum = XXH3_64bits_withSeed(sector, sizeof(sector), drv->block_checksum);
}

static void devdrv_on_event(struct sim *sim, struct sim_event *event)
{
  struct devdrv *drv = SIM_CONTAINER_OF(event, struct devdrv, event);
  SIM_ASSERT(machine_running(drv->machine));
  SIM_ASSERT(machine_vm_ns(drv->machine) == drv->next_tick_vm_ns);
  if (drv->iommu != NULL) iommudrv_tick_begin(drv->iommu);
  if (drv->dma != NULL) {
    dma_reap(drv);
    dma_submit(drv);
  }
  if (drv->iommu != NULL) iommudrv_tick_end(drv->iommu);
  if (drv->block != NULL) block_io(drv);
  sim_trace(sim, "devdrv.tick", machine_role_index(drv->machine), drv->submitted_count,
            drv->reaped_count, drv->dma_checksum ^ drv->block_checksum);
  drv->next_tick_vm_ns += drv->config.period_ns;
  devdrv_resume(drv);
}

static int devdrv_post_load(void *opaque, int32_t version_id)
{
  const struct devdrv *drv = opaque;
  (void)version_id;
  if (drv->next_tick_vm_ns % 2 != 0) return -1; /* ticks stay on even guest nanoseconds */
  /* A running program's next tick is at most one period past its end. */
  if (drv->next_tick_vm_ns > drv->config.duration_ns + drv->config.period_ns) return -1;
  /* xoshiro256** must never hold the all-zero state. */
  if ((drv->prng.s[0] | drv->prng.s[1] | drv->prng.s[2] | drv->prng.s[3]) == 0) return -1;
  if (drv->dma == NULL) return 0;
  return drv->tail < drv->dma->ring_entries && drv->reaped < drv->dma->ring_entries ? 0 : -1;
}

static const struct vmstate_field devdrv_fields[] = {
    VMSTATE_UINT64_ARRAY(struct devdrv, prng.s, 4),
    VMSTATE_UINT64(struct devdrv, next_tick_vm_ns),
    VMSTATE_UINT32(struct devdrv, tail),
    VMSTATE_UINT32(struct devdrv, reaped),
    VMSTATE_UINT64(struct devdrv, submitted_count),
    VMSTATE_UINT64(struct devdrv, reaped_count),
    VMSTATE_UINT64(struct devdrv, dma_failed_count),
    VMSTATE_UINT64(struct devdrv, dma_checksum),
    VMSTATE_UINT64(struct devdrv, block_writes_count),
    VMSTATE_UINT64(struct devdrv, block_refused_count),
    VMSTATE_UINT64(struct devdrv, block_checksum),
    VMSTATE_BOOL(struct devdrv, device_error_seen),
};

const struct vmstate_desc devdrv_vmstate = {
    .name = "devdrv",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = devdrv_fields,
    .field_count = SIM_ARRAY_COUNT(devdrv_fields),
    .post_load = devdrv_post_load,
};

void devdrv_init(struct devdrv *drv, struct machine *machine, const struct devdrv_config *config,
                 struct dmadev *dma, struct blockdev *block, uint64_t window_gpa,
                 uint64_t window_bytes)
{
  SIM_ASSERT(config->period_ns >= DEVDRV_PERIOD_NS_MIN && config->period_ns % 2 == 0);
  SIM_ASSERT(dma == NULL || devdrv_window_bytes(config, dma->ring_entries) <= window_bytes);
  drv->config = *config;
  drv->dma = dma;
  drv->block = block;
  drv->window_gpa = window_gpa;
  drv->window_bytes = window_bytes;
  drv->machine = machine;
  /* Seeded now too, so a destination that has not loaded yet never holds a zero state. */
  sim_prng_stream(machine_sim(machine), &drv->prng, "guest/devdrv");
  sim_event_init(&drv->event, devdrv_on_event, "devdrv.tick");
}

/* Enables memory decoding, bus mastering and MSI through config cycles. */
static void pci_enable(struct machine *machine, const struct pci_function *fn)
{
  struct pci_bus *bus = machine_pci_bus(machine, fn->bus);
  pci_bus_config_write(bus, fn->slot, fn->function, PCI_COMMAND, 0x0006, 2);
  if (fn->msi_offset == 0) return;
  pci_bus_config_write(bus, fn->slot, fn->function, fn->msi_offset + 4, 0xfee00000u, 4);
  pci_bus_config_write(bus, fn->slot, fn->function, fn->msi_offset + 12, 0x4041u, 2);
  pci_bus_config_write(bus, fn->slot, fn->function, fn->msi_offset + 2,
                       PCI_MSI_FLAGS_ENABLE, 2);
}

void devdrv_boot(struct devdrv *drv)
{
  sim_prng_stream(machine_sim(drv->machine), &drv->prng, "guest/devdrv");
  if (drv->dma != NULL) {
    pci_enable(drv->machine, &drv->dma->pci);
    if (drv->iommu != NULL) iommudrv_boot(drv->iommu, ring_bytes(drv->dma->ring_entries));
    dmadev_mmio_write(drv->dma, DMADEV_REG_RING_BASE, device_address(drv, drv->window_gpa));
    dmadev_mmio_write(drv->dma, DMADEV_REG_CTRL, DMADEV_CTRL_ENABLE);
  }
  if (drv->block != NULL) pci_enable(drv->machine, &drv->block->pci);
  drv->next_tick_vm_ns = drv->config.period_ns;
}

void devdrv_resume(struct devdrv *drv)
{
  if (devdrv_done(drv)) return;
  uint64_t now_vm_ns = machine_vm_ns(drv->machine);
  if (drv->next_tick_vm_ns < now_vm_ns) {
    /* Only a stream can put the tick in the past: run it now, on an even nanosecond. */
    drv->next_tick_vm_ns = now_vm_ns + (now_vm_ns & 1u);
    sim_trace(machine_sim(drv->machine), "devdrv.tick_late", now_vm_ns, 0, 0, 0);
  }
  sim_event_schedule_at(machine_sim(drv->machine), &drv->event,
                        machine_sim_ns_at(drv->machine, drv->next_tick_vm_ns));
}

void devdrv_stop(struct devdrv *drv) { sim_event_cancel(machine_sim(drv->machine), &drv->event); }

bool devdrv_done(const struct devdrv *drv)
{
  return drv->next_tick_vm_ns >= drv->config.duration_ns;
}
