/*
 * devdrv.c: the guest driver program of devdrv.h.
 *
 * The guest reads and writes its own RAM through machine_dma_read/write (a
 * guest store logs the page dirty as any other does) and reaches the
 * devices through their MMIO registers and the PCI config cycles of its bus.
 */
#include "sim_base.h"

#include "devdrv.h"
#include "blockdev.h"
#include "dmadev.h"
#include "iommudrv.h"
#include "machine.h"
#include "pci.h"

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

uint64_t devdrv_part_bytes(uint64_t window_bytes, uint32_t dma_count)
{
  SIM_ASSERT(dma_count >= 1 && dma_count <= DEVDRV_DMADEVS_MAX);
  return window_bytes / dma_count / RAM_PAGE_BYTES * RAM_PAGE_BYTES;
}

uint64_t devdrv_part_gpa(const struct devdrv *drv, uint32_t index)
{
  SIM_ASSERT(index < drv->dma_count);
  return drv->window_gpa + index * devdrv_part_bytes(drv->window_bytes, drv->dma_count);
}

uint64_t devdrv_ring_bytes(const struct devdrv *drv, uint32_t index)
{
  SIM_ASSERT(index < drv->dma_count);
  return ring_bytes(drv->dmas[index]->ring_entries);
}

uint32_t devdrv_msi_dest(const struct devdrv *drv, uint32_t index)
{
  return index % machine_vcpu_count(drv->machine);
}

uint32_t devdrv_msi_vector(const struct devdrv *drv, uint32_t index)
{
  SIM_ASSERT(index < drv->dma_count);
  return DEVDRV_MSI_VECTOR_BASE + index;
}

/* Engine index's ring indexes: engine 0's predate the others and keep their fields. */
static uint32_t *tail_of(struct devdrv *drv, uint32_t index)
{
  return index == 0 ? &drv->tail : &drv->tail_more[index - 1];
}

static uint32_t *reaped_of(struct devdrv *drv, uint32_t index)
{
  return index == 0 ? &drv->reaped : &drv->reaped_more[index - 1];
}

static uint64_t slot_gpa(const struct devdrv *drv, uint32_t index, uint32_t slot_index,
                         bool destination)
{
  uint32_t entries = drv->dmas[index]->ring_entries;
  uint64_t slot = (destination ? entries : 0) + (uint64_t)slot_index;
  return devdrv_part_gpa(drv, index) + ring_bytes(entries) +
         slot * drv->config.transfer_bytes_max;
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

static void dma_reap(struct devdrv *drv, uint32_t index)
{
  struct dmadev *dma = drv->dmas[index];
  uint32_t *reaped = reaped_of(drv, index);
  if ((dmadev_mmio_read(dma, DMADEV_REG_STATUS) & DMADEV_STATUS_ERROR) != 0) {
    drv->device_error_seen = true;
  }
  uint32_t head = (uint32_t)dmadev_mmio_read(dma, DMADEV_REG_HEAD);
  for (uint32_t i = 0; i < dma->ring_entries && *reaped != head; i++) {
    uint8_t desc[DMADEV_DESC_BYTES];
    uint64_t at = devdrv_part_gpa(drv, index) + (uint64_t)*reaped * DMADEV_DESC_BYTES;
    bool fetched = machine_dma_read(drv->machine, at, desc, sizeof(desc));
    SIM_ASSERT(fetched);
    uint32_t length = (uint32_t)(desc[16] | desc[17] << 8 | desc[18] << 16 |
                                 (uint32_t)desc[19] << 24);
    bool length_ok = length >= 1 && length <= drv->config.transfer_bytes_max;
    if (desc[24] == DMADEV_DESC_DONE && length_ok) {
      checksum_fold(drv, slot_gpa(drv, index, *reaped, true), length, &drv->dma_checksum);
    } else {
      drv->dma_failed_count++;
    }
    if (drv->iommu != NULL && length_ok) {
      iommudrv_transfer_unmap(drv->iommu, index, slot_gpa(drv, index, *reaped, false),
                              slot_gpa(drv, index, *reaped, true), length);
    }
    drv->reaped_count++;
    *reaped = (*reaped + 1) % dma->ring_entries;
  }
}

static void dma_submit(struct devdrv *drv, uint32_t index)
{
  struct dmadev *dma = drv->dmas[index];
  uint32_t *tail = tail_of(drv, index);
  uint32_t next = (*tail + 1) % dma->ring_entries;
  if (drv->device_error_seen || next == *reaped_of(drv, index)) return; /* broken or full */
  uint32_t length = 1 + (uint32_t)sim_prng_below(&drv->prng, drv->config.transfer_bytes_max);
  uint64_t src = slot_gpa(drv, index, *tail, false);
  uint8_t page[RAM_PAGE_BYTES];
  for (uint32_t done = 0; done < length; done += RAM_PAGE_BYTES) {
    uint32_t chunk = SIM_MIN(length - done, RAM_PAGE_BYTES);
    sim_prng_fill(&drv->prng, page, chunk);
    bool written = machine_dma_write(drv->machine, src + done, page, chunk);
    SIM_ASSERT(written);
  }
  uint64_t dst = slot_gpa(drv, index, *tail, true);
  if (drv->iommu != NULL) iommudrv_transfer_map(drv->iommu, index, src, dst, length);
  uint8_t desc[DMADEV_DESC_BYTES] = {0};
  le_put(desc, device_address(drv, src), 8);
  le_put(desc + 8, device_address(drv, dst), 8);
  le_put(desc + 16, length, 4);
  le_put(desc + 20, DMADEV_DESC_FLAG_IRQ, 4);
  uint64_t at = devdrv_part_gpa(drv, index) + (uint64_t)*tail * DMADEV_DESC_BYTES;
  bool written = machine_dma_write(drv->machine, at, desc, sizeof(desc));
  SIM_ASSERT(written);
  *tail = next;
  drv->submitted_count++;
  dmadev_mmio_write(dma, DMADEV_REG_DOORBELL, *tail);
}

/* Polling reaps every tick; with interrupts, when the vector fired or the ring is full. */
static void dma_service(struct devdrv *drv, uint32_t index)
{
  if (drv->iommu != NULL && iommudrv_flush_pending(drv->iommu)) {
    dma_submit(drv, index); /* no reap (no unmap) while a device IOTLB flush is owed */
    return;
  }
  if (drv->config.interrupts) {
    uint64_t count = machine_irq_count(drv->machine, devdrv_msi_dest(drv, index),
                                       devdrv_msi_vector(drv, index));
    bool fired = count != drv->irq_seen[index];
    drv->irq_seen[index] = count;
    uint32_t next = (*tail_of(drv, index) + 1) % drv->dmas[index]->ring_entries;
    bool full = next == *reaped_of(drv, index);
    if (fired) {
      drv->irq_reaps_count++;
    } else if (full) {
      drv->full_reaps_count++;
    } else {
      dma_submit(drv, index);
      return;
    }
  }
  dma_reap(drv, index);
  dma_submit(drv, index);
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
  for (uint32_t i = 0; i < drv->dma_count; i++) dma_service(drv, i);
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
  for (uint32_t i = 0; i < drv->dma_count; i++) {
    uint32_t entries = drv->dmas[i]->ring_entries;
    uint32_t tail = i == 0 ? drv->tail : drv->tail_more[i - 1];
    uint32_t reaped = i == 0 ? drv->reaped : drv->reaped_more[i - 1];
    if (tail >= entries || reaped >= entries) return -1;
  }
  return 0;
}

static bool devdrv_devices_needed(void *opaque)
{
  const struct devdrv *drv = opaque;
  return drv->dma_count > 1;
}

static const struct vmstate_field devdrv_devices_fields[] = {
    VMSTATE_UINT32_ARRAY(struct devdrv, tail_more, DEVDRV_DMADEVS_MAX - 1),
    VMSTATE_UINT32_ARRAY(struct devdrv, reaped_more, DEVDRV_DMADEVS_MAX - 1),
};

static const struct vmstate_desc devdrv_devices_vmstate = {
    .name = "devdrv/devices",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = devdrv_devices_fields,
    .field_count = SIM_ARRAY_COUNT(devdrv_devices_fields),
    .needed = devdrv_devices_needed,
};

static bool devdrv_irq_needed(void *opaque)
{
  const struct devdrv *drv = opaque;
  return drv->config.interrupts;
}

static const struct vmstate_field devdrv_irq_fields[] = {
    VMSTATE_UINT64_ARRAY(struct devdrv, irq_seen, DEVDRV_DMADEVS_MAX),
    VMSTATE_UINT64(struct devdrv, irq_reaps_count),
    VMSTATE_UINT64(struct devdrv, full_reaps_count),
};

static const struct vmstate_desc devdrv_irq_vmstate = {
    .name = "devdrv/irq",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = devdrv_irq_fields,
    .field_count = SIM_ARRAY_COUNT(devdrv_irq_fields),
    .needed = devdrv_irq_needed,
};

static const struct vmstate_desc *const devdrv_subsections[] = {
    &devdrv_devices_vmstate, &devdrv_irq_vmstate,
};

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
    .subsections = devdrv_subsections,
    .subsection_count = SIM_ARRAY_COUNT(devdrv_subsections),
    .post_load = devdrv_post_load,
};

void devdrv_init(struct devdrv *drv, struct machine *machine, const struct devdrv_config *config,
                 struct dmadev *const *dmas, uint32_t dma_count, struct blockdev *block,
                 uint64_t window_gpa, uint64_t window_bytes)
{
  SIM_ASSERT(config->period_ns >= DEVDRV_PERIOD_NS_MIN && config->period_ns % 2 == 0);
  SIM_ASSERT(dma_count <= DEVDRV_DMADEVS_MAX);
  for (uint32_t i = 0; i < dma_count; i++) {
    SIM_ASSERT(devdrv_window_bytes(config, dmas[i]->ring_entries) <=
               devdrv_part_bytes(window_bytes, dma_count));
    drv->dmas[i] = dmas[i];
  }
  drv->dma_count = dma_count;
  drv->config = *config;
  drv->dma = dma_count > 0 ? dmas[0] : NULL;
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

/*
 * Points engine index's MSI at its vector: with remapping, the message names
 * IRTE 0 (data = index, as Linux); without, it carries vCPU and vector.
 */
static void msi_program(struct devdrv *drv, uint32_t index)
{
  const struct pci_function *fn = &drv->dmas[index]->pci;
  struct pci_bus *bus = machine_pci_bus(drv->machine, fn->bus);
  bool remapped = drv->iommu != NULL && drv->iommu->config.intremap;
  uint32_t address = 0xfee00000u | (remapped ? 0 : devdrv_msi_dest(drv, index) << 12);
  uint32_t data = remapped ? 0 : devdrv_msi_vector(drv, index);
  pci_bus_config_write(bus, fn->slot, fn->function, fn->msi_offset + 4, address, 4);
  pci_bus_config_write(bus, fn->slot, fn->function, fn->msi_offset + 8, 0, 4);
  pci_bus_config_write(bus, fn->slot, fn->function, fn->msi_offset + 12, data, 2);
}

void devdrv_boot(struct devdrv *drv)
{
  sim_prng_stream(machine_sim(drv->machine), &drv->prng, "guest/devdrv");
  for (uint32_t i = 0; i < drv->dma_count; i++) pci_enable(drv->machine, &drv->dmas[i]->pci);
  if (drv->dma_count > 0 && drv->iommu != NULL) iommudrv_boot(drv->iommu);
  for (uint32_t i = 0; i < drv->dma_count; i++) {
    struct dmadev *dma = drv->dmas[i];
    if (drv->config.interrupts) msi_program(drv, i);
    dmadev_mmio_write(dma, DMADEV_REG_RING_BASE, device_address(drv, devdrv_part_gpa(drv, i)));
    dmadev_mmio_write(dma, DMADEV_REG_CTRL, DMADEV_CTRL_ENABLE);
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
