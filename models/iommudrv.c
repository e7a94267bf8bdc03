/*
 * iommudrv.c: the guest IOMMU driver of iommudrv.h.
 *
 * Layouts follow ../shared/spec/amd-iommu.md: DTE (§4: V, TV, Mode, root,
 * IR, IW; DomainID in the second quadword), v1 PTEs (§7.2: PR, NextLevel,
 * address, IR bit 61, IW bit 62), commands (§5.2: opcode in bits 60..63).
 * The guest reaches its tables through guest stores (machine_dma_write),
 * the IOMMU through its MMIO registers and AMDVI-PCI config cycles.
 */
#include "sim_base.h"

#include "iommudrv.h"
#include "amdvi.h"
#include "amdvi_guest.h"
#include "machine.h"
#include "pci.h"

#include <xxhash.h>

#define PAGE_BYTES UINT64_C(4096)
#define ADDRESS_MASK UINT64_C(0x000FFFFFFFFFF000)
#define PTE_PR UINT64_C(1)
#define PTE_IR (UINT64_C(1) << 61)
#define PTE_IW (UINT64_C(1) << 62)
#define OP_COMPLETION_WAIT UINT64_C(1)
#define OP_INVALIDATE_DEVTAB_ENTRY UINT64_C(2)
#define OP_INVALIDATE_IOMMU_PAGES UINT64_C(3)
#define OP_INVALIDATE_IOTLB_PAGES UINT64_C(4)
#define OP_INVALIDATE_INTERRUPT_TABLE UINT64_C(5)
#define DTE_I (UINT64_C(1) << 32)          /* quadword 1: IOTLB enable (Linux DTE_FLAG_IOTLB) */
#define INV_TIMEOUT_1MS UINT64_C(1)        /* Control.InvTimeOut (bits 7:5) code for 1 ms */
#define ATS_QUEUE_DEPTH UINT64_C(32)       /* MaxPend in INVALIDATE_IOTLB_PAGES q0[31:24] */
#define IRT_LEN_LOG2 9u                    /* 512 entries, as Linux */
#define DTE_IV UINT64_C(1)
#define CONTROL_RUN (AMDVI_CONTROL_IOMMU_EN | AMDVI_CONTROL_EVTLOG_EN | \
                     AMDVI_CONTROL_EVTINT_EN | AMDVI_CONTROL_COMWAIT_EN)

static uint64_t read64(const struct iommudrv *drv, uint64_t gpa)
{
  uint8_t bytes[8];
  bool ok = machine_dma_read(drv->machine, gpa, bytes, sizeof(bytes));
  SIM_ASSERT(ok); /* the block was checked against RAM at set-up */
  uint64_t value = 0;
  for (uint32_t i = 0; i < 8; i++) value |= (uint64_t)bytes[i] << (8 * i);
  return value;
}

static void write64(struct iommudrv *drv, uint64_t gpa, uint64_t value)
{
  uint8_t bytes[8];
  for (uint32_t i = 0; i < 8; i++) bytes[i] = (uint8_t)(value >> (8 * i));
  bool ok = machine_dma_write(drv->machine, gpa, bytes, sizeof(bytes));
  SIM_ASSERT(ok);
}

/* Page-table pages one domain needs to map a window of window_bytes. */
static uint64_t domain_tables(uint32_t mode, uint64_t window_bytes)
{
  /* Tables at each level: one per span of the window that level's table covers, +1. */
  uint64_t tables = 1; /* the root */
  for (uint32_t level = 1; level < mode; level++) {
    uint32_t shift = 12 + 9 * level; /* bytes one table at this level maps, log2 */
    tables += (window_bytes >> shift) + 2;
  }
  return tables;
}

/* Pages of one interrupt remapping table: 512 entries of 4 or 16 bytes. */
static uint64_t irt_pages(const struct iommudrv_config *config)
{
  return config->irte_ga ? 2 : 1;
}

uint64_t iommudrv_block_bytes(const struct iommudrv_config *config, uint64_t window_bytes,
                              uint32_t device_count)
{
  SIM_ASSERT(device_count >= 1 && device_count <= DEVDRV_DMADEVS_MAX);
  uint64_t tables = domain_tables(config->mode, window_bytes);
  if (config->domains_separate) tables *= device_count; /* each maps a part: generous */
  if (config->intremap) tables += device_count * irt_pages(config);
  return IOMMUDRV_POOL_OFFSET + tables * PAGE_BYTES;
}

void iommudrv_init(struct iommudrv *drv, struct machine *machine,
                   const struct iommudrv_config *config, struct amdvi *iommu,
                   const struct iommudrv_device *devices, uint32_t device_count,
                   uint64_t base_gpa, uint64_t base_bytes, uint64_t window_gpa,
                   uint64_t window_bytes)
{
  SIM_ASSERT(config->mode == 3 || config->mode == 4);
  SIM_ASSERT(config->event_consume_every >= 1);
  SIM_ASSERT(device_count >= 1 && device_count <= DEVDRV_DMADEVS_MAX);
  SIM_ASSERT(iommudrv_block_bytes(config, window_bytes, device_count) <= base_bytes);
  SIM_ASSERT(base_gpa % PAGE_BYTES == 0 && window_gpa % PAGE_BYTES == 0);
  drv->config = *config;
  drv->iommu = iommu;
  drv->devid = devices[0].devid;
  drv->device_count = device_count;
  for (uint32_t i = 0; i < device_count; i++) drv->devices[i] = devices[i];
  drv->ats_any = false;
  for (uint32_t i = 0; i < device_count; i++) drv->ats_any |= devices[i].ats;
  drv->base_gpa = base_gpa;
  drv->base_bytes = base_bytes;
  drv->window_gpa = window_gpa;
  drv->window_bytes = window_bytes;
  drv->machine = machine;
}

uint64_t iommudrv_iova(const struct iommudrv *drv, uint64_t gpa)
{
  SIM_ASSERT(gpa >= drv->window_gpa && gpa - drv->window_gpa < drv->window_bytes);
  return IOMMUDRV_IOVA_BASE + (gpa - drv->window_gpa);
}

static uint64_t page_alloc(struct iommudrv *drv)
{
  uint64_t gpa = drv->pool_next;
  SIM_ASSERT(gpa + PAGE_BYTES <= drv->base_gpa + drv->base_bytes); /* sized at set-up */
  drv->pool_next += PAGE_BYTES;
  static const uint8_t zero[4096];
  bool ok = machine_dma_write(drv->machine, gpa, zero, sizeof(zero));
  SIM_ASSERT(ok);
  return gpa;
}

uint16_t iommudrv_domain(const struct iommudrv *drv, uint32_t index)
{
  SIM_ASSERT(index < drv->device_count);
  return (uint16_t)(IOMMUDRV_DOMAIN_ID + (drv->config.domains_separate ? index : 0));
}

uint64_t iommudrv_root(const struct iommudrv *drv, uint32_t index)
{
  SIM_ASSERT(index < drv->device_count);
  return index == 0 || !drv->config.domains_separate ? drv->root_gpa
                                                      : drv->roots_more[index - 1];
}

/* Control while running: GAEn too when the driver chose 128-bit IRTEs. */
static uint64_t control_run(const struct iommudrv *drv)
{
  bool ga = drv->config.intremap && drv->config.irte_ga;
  /* Linux asks for 1 s; 1 ms keeps a timed-out invalidation within a short scenario. */
  uint64_t inv_timeout = drv->ats_any ? INV_TIMEOUT_1MS << AMDVI_CONTROL_INV_TIMEOUT_SHIFT : 0;
  return CONTROL_RUN | (ga ? AMDVI_CONTROL_GA_EN : 0) | inv_timeout;
}

/*
 * The leaf PTE's address for iova in device index's tables; creates
 * directories when create is set (else 0 if none).
 */
static uint64_t leaf_pte(struct iommudrv *drv, uint32_t index, uint64_t iova, bool create)
{
  uint64_t table = iommudrv_root(drv, index);
  for (uint32_t level = drv->config.mode; level > 1; level--) {
    uint64_t at = table + ((iova >> (12 + 9 * (level - 1))) & 511) * 8;
    uint64_t pte = read64(drv, at);
    if ((pte & PTE_PR) == 0) {
      if (!create) return 0;
      pte = page_alloc(drv) | PTE_PR | (uint64_t)(level - 1) << 9 | PTE_IR | PTE_IW;
      write64(drv, at, pte);
    }
    table = pte & ADDRESS_MASK;
  }
  return table + ((iova >> 12) & 511) * 8;
}

static void range_map(struct iommudrv *drv, uint32_t index, uint64_t gpa, uint64_t bytes,
                      bool write_ok)
{
  uint64_t first = gpa / PAGE_BYTES, last = (gpa + bytes - 1) / PAGE_BYTES;
  for (uint64_t page = first; page <= last; page++) {
    uint64_t page_gpa = page * PAGE_BYTES;
    uint64_t at = leaf_pte(drv, index, iommudrv_iova(drv, page_gpa), true);
    write64(drv, at, page_gpa | PTE_PR | PTE_IR | (write_ok ? PTE_IW : 0));
    drv->maps_count++;
  }
}

static void mmio_write(struct iommudrv *drv, uint32_t offset, uint64_t value)
{
  amdvi_mmio_write(drv->iommu, offset, 8, value);
}

/* Enables the command buffer (running what is pending) and rings the doorbell. */
static void commands_run(struct iommudrv *drv)
{
  mmio_write(drv, AMDVI_MMIO_CONTROL, control_run(drv) | AMDVI_CONTROL_CMDBUF_EN);
  drv->cmdbuf_paused = false;
  mmio_write(drv, AMDVI_MMIO_CMDBUF_TAIL, drv->cmd_tail);
}

static void command_queue(struct iommudrv *drv, uint64_t q0, uint64_t q1)
{
  uint32_t next = (drv->cmd_tail + 16) % IOMMUDRV_RING_BYTES;
  if (next == (uint32_t)amdvi_mmio_read(drv->iommu, AMDVI_MMIO_CMDBUF_HEAD, 8)) {
    /* Full: let the IOMMU drain the ring (it runs a ring's worth per doorbell). */
    commands_run(drv);
    SIM_ASSERT(next != (uint32_t)amdvi_mmio_read(drv->iommu, AMDVI_MMIO_CMDBUF_HEAD, 8));
  }
  uint64_t at = drv->base_gpa + IOMMUDRV_CMD_OFFSET + drv->cmd_tail;
  write64(drv, at, q0);
  write64(drv, at + 8, q1);
  drv->cmd_tail = (drv->cmd_tail + 16) % IOMMUDRV_RING_BYTES;
  drv->queued_count++;
}

/* INVALIDATE_IOMMU_PAGES for the naturally aligned block covering the range (S bit, §5.2). */
static void range_invalidate(struct iommudrv *drv, uint32_t index, uint64_t iova,
                             uint64_t bytes)
{
  uint64_t start = iova & ~(PAGE_BYTES - 1), last = iova + bytes - 1;
  uint64_t size = PAGE_BYTES;
  while ((start & ~(size - 1)) != (last & ~(size - 1))) size <<= 1;
  uint64_t address = start & ~(size - 1);
  uint64_t q1 = size == PAGE_BYTES ? address : address | ((size >> 1) - 1) | 1u;
  q1 &= ~UINT64_C(0xFFE); /* bits 1..11: PDE clear, reserved zero */
  command_queue(drv, OP_INVALIDATE_IOMMU_PAGES << AMDVI_OP_SHIFT |
                         (uint64_t)iommudrv_domain(drv, index) << 32, q1);
  drv->invalidations_count++;
  if (!drv->devices[index].ats) return;
  /* The device's own IOTLB (ATC), same S/address encoding (spec §5.2). */
  command_queue(drv, OP_INVALIDATE_IOTLB_PAGES << AMDVI_OP_SHIFT | ATS_QUEUE_DEPTH << 24 |
                         drv->devices[index].devid, q1);
  drv->invalidations_count++;
  drv->ats_invalidations_count++;
}

void iommudrv_domain_flush(struct iommudrv *drv, uint32_t index)
{
  /* Linux's whole-domain flush: the all-ones address with S=1 and PDE=1 (spec §5.2). */
  command_queue(drv, OP_INVALIDATE_IOMMU_PAGES << AMDVI_OP_SHIFT |
                         (uint64_t)iommudrv_domain(drv, index) << 32,
                UINT64_C(0x7FFFFFFFFFFFF000) | 3u);
  drv->invalidations_count++;
}

static void range_unmap(struct iommudrv *drv, uint32_t index, uint64_t gpa, uint64_t bytes)
{
  uint64_t first = gpa / PAGE_BYTES, last = (gpa + bytes - 1) / PAGE_BYTES;
  for (uint64_t page = first; page <= last; page++) {
    uint64_t at = leaf_pte(drv, index, iommudrv_iova(drv, page * PAGE_BYTES), false);
    if (at == 0 || (read64(drv, at) & PTE_PR) == 0) continue;
    write64(drv, at, 0);
    drv->unmaps_count++;
  }
  range_invalidate(drv, index, iommudrv_iova(drv, gpa), bytes);
}

/* Device index's DTE: valid, translating, v1 tables of the configured mode, its domain. */
static void device_attach(struct iommudrv *drv, uint32_t index)
{
  const struct iommudrv_device *device = &drv->devices[index];
  uint64_t dte = drv->base_gpa + (uint64_t)device->devid * 32;
  write64(drv, dte + 8, iommudrv_domain(drv, index) | (device->ats ? DTE_I : 0));
  write64(drv, dte, 3 | (uint64_t)drv->config.mode << 9 | iommudrv_root(drv, index) | PTE_IR |
                        PTE_IW);
  range_map(drv, index, device->ring_gpa, device->ring_bytes, true);
  command_queue(drv, OP_INVALIDATE_DEVTAB_ENTRY << AMDVI_OP_SHIFT | device->devid, 0);
  drv->invalidations_count++;
}

/*
 * Device index's interrupt remapping, as Linux: a table, the DTE's interrupt
 * half, IRTE 0 for the completion vector, INVALIDATE_INTERRUPT_TABLE.
 */
static void device_intremap(struct iommudrv *drv, uint32_t index)
{
  const struct iommudrv_device *device = &drv->devices[index];
  uint64_t irt = page_alloc(drv);
  for (uint64_t i = 1; i < irt_pages(&drv->config); i++) (void)page_alloc(drv);
  drv->irt_gpa[index] = irt;
  uint64_t intctl = drv->config.intctl_abort ? 0 : 2;
  uint64_t dte = drv->base_gpa + (uint64_t)device->devid * 32;
  write64(drv, dte + 16, DTE_IV | (uint64_t)IRT_LEN_LOG2 << 1 | irt | intctl << 60);
  command_queue(drv, OP_INVALIDATE_DEVTAB_ENTRY << AMDVI_OP_SHIFT | device->devid, 0);
  /* IRTE 0: RemapEn, IntType fixed, RqEoi 0, DM physical, GuestMode 0 (spec §8.3). */
  if (drv->config.irte_ga) {
    write64(drv, irt, 1 | (uint64_t)(device->dest & 0xFFFFFF) << 8);
    write64(drv, irt + 8, device->vector | (uint64_t)(device->dest >> 24) << 56);
  } else {
    write64(drv, irt, 1 | (uint64_t)(device->dest & 0xFF) << 8 |
                          (uint64_t)device->vector << 16);
  }
  command_queue(drv, OP_INVALIDATE_INTERRUPT_TABLE << AMDVI_OP_SHIFT | device->devid, 0);
  drv->invalidations_count += 2;
}

void iommudrv_boot(struct iommudrv *drv)
{
  struct amdvi *iommu = drv->iommu;
  uint64_t base = drv->base_gpa;
  drv->pool_next = base + IOMMUDRV_POOL_OFFSET;
  drv->cmd_tail = drv->evt_head = 0;
  /* Zeroed tables, as the kernel's allocator hands them out. */
  static const uint8_t zero[4096];
  for (uint64_t at = 0; at < IOMMUDRV_POOL_OFFSET; at += sizeof(zero)) {
    bool ok = machine_dma_write(drv->machine, base + at, zero, sizeof(zero));
    SIM_ASSERT(ok);
  }
  mmio_write(drv, AMDVI_MMIO_DEVTAB_BASE, base | (IOMMUDRV_DEVTAB_BYTES / PAGE_BYTES - 1));
  mmio_write(drv, AMDVI_MMIO_CMDBUF_BASE,
             (base + IOMMUDRV_CMD_OFFSET) | (uint64_t)IOMMUDRV_RING_LOG2 << 56);
  mmio_write(drv, AMDVI_MMIO_EVTLOG_BASE,
             (base + IOMMUDRV_EVT_OFFSET) | (uint64_t)IOMMUDRV_RING_LOG2 << 56);
  /* AMDVI-PCI: MSI to the guest's vector, bus mastering; through config cycles. */
  uint16_t bdf = amdvi_pci_bdf(iommu);
  struct pci_bus *bus = machine_pci_bus(drv->machine, (uint8_t)(bdf >> 8));
  uint8_t slot = (uint8_t)(bdf >> 3 & 31), function = (uint8_t)(bdf & 7);
  uint32_t msi = amdvi_pci_msi_cap_offset(iommu);
  pci_bus_config_write(bus, slot, function, msi + 4, 0xfee00000u, 4);
  pci_bus_config_write(bus, slot, function, msi + 8, 0, 4);
  pci_bus_config_write(bus, slot, function, msi + 12, 0x4042u, 2);
  pci_bus_config_write(bus, slot, function, msi + 2, PCI_MSI_FLAGS_ENABLE, 2);
  pci_bus_config_write(bus, slot, function, PCI_COMMAND, PCI_COMMAND_MASTER, 2);
  mmio_write(drv, AMDVI_MMIO_CONTROL, control_run(drv) | AMDVI_CONTROL_CMDBUF_EN);
  drv->root_gpa = page_alloc(drv);
  for (uint32_t i = 0; i < drv->device_count; i++) {
    if (i > 0 && drv->config.domains_separate) drv->roots_more[i - 1] = page_alloc(drv);
    device_attach(drv, i);
  }
  if (drv->config.intremap) {
    for (uint32_t i = 0; i < drv->device_count; i++) device_intremap(drv, i);
  }
  iommudrv_tick_end(drv);
}

bool iommudrv_transfer_map(struct iommudrv *drv, uint32_t index, uint64_t src_gpa,
                           uint64_t dst_gpa, uint32_t length)
{
  drv->transfers_count++;
  range_map(drv, index, src_gpa, length, false);
  if (drv->config.fault_every != 0 && drv->transfers_count % drv->config.fault_every == 0) {
    return false; /* the injected driver bug: the destination is never mapped */
  }
  range_map(drv, index, dst_gpa, length, true);
  return true;
}

void iommudrv_transfer_unmap(struct iommudrv *drv, uint32_t index, uint64_t src_gpa,
                             uint64_t dst_gpa, uint32_t length)
{
  range_unmap(drv, index, src_gpa, length);
  range_unmap(drv, index, dst_gpa, length);
}

static void events_consume(struct iommudrv *drv)
{
  uint64_t status = amdvi_mmio_read(drv->iommu, AMDVI_MMIO_STATUS, 8);
  uint32_t tail = (uint32_t)amdvi_mmio_read(drv->iommu, AMDVI_MMIO_EVTLOG_TAIL, 8);
  tail %= IOMMUDRV_RING_BYTES;
  for (uint32_t i = 0; i < IOMMUDRV_RING_BYTES / 16 && drv->evt_head != tail; i++) {
    uint64_t at = drv->base_gpa + IOMMUDRV_EVT_OFFSET + drv->evt_head;
    uint64_t entry[2] = {read64(drv, at), read64(drv, at + 8)};
    drv->event_checksum = XXH3_64bits_withSeed(entry, sizeof(entry), drv->event_checksum);
    if ((entry[0] >> 60 & 0xF) == AMDVI_EVENT_IO_PAGE_FAULT) {
      drv->faults_count++;
      if ((entry[0] >> 48 & AMDVI_FAULT_FLAG_I) != 0) drv->irq_faults_count++;
    }
    if ((entry[0] >> 60 & 0xF) == AMDVI_EVENT_IOTLB_INV_TIMEOUT) drv->ats_timeouts_count++;
    drv->events_count++;
    drv->evt_head = (drv->evt_head + 16) % IOMMUDRV_RING_BYTES;
  }
  mmio_write(drv, AMDVI_MMIO_EVTLOG_HEAD, drv->evt_head);
  /* The interrupt handler's acknowledgement: W1C of the two interrupt bits. */
  mmio_write(drv, AMDVI_MMIO_STATUS, AMDVI_STATUS_EVTLOG_INT | AMDVI_STATUS_COMWAIT_INT);
  if ((status & AMDVI_STATUS_EVT_OVERFLOW) != 0) {
    drv->overflows_count++;
    mmio_write(drv, AMDVI_MMIO_STATUS, AMDVI_STATUS_EVT_OVERFLOW);
  }
}

void iommudrv_tick_begin(struct iommudrv *drv)
{
  drv->ticks_count++;
  /* Owed device answers settle (or time out) as the hardware runs; see iommudrv.h. */
  if (drv->ats_any && amdvi_ats_pending_count(drv->iommu) != 0) (void)amdvi_step(drv->iommu);
  uint64_t seen = read64(drv, drv->base_gpa + IOMMUDRV_SEM_OFFSET);
  if (seen > drv->completions_count && seen <= drv->wait_seq) drv->completions_count = seen;
  if (drv->ticks_count % drv->config.event_consume_every == 0) events_consume(drv);
}

bool iommudrv_flush_pending(const struct iommudrv *drv)
{
  return drv->ats_any && drv->completions_count < drv->wait_seq;
}

void iommudrv_tick_end(struct iommudrv *drv)
{
  if (drv->queued_count == 0) return;
  drv->wait_seq++;
  uint64_t store = drv->base_gpa + IOMMUDRV_SEM_OFFSET;
  command_queue(drv, OP_COMPLETION_WAIT << AMDVI_OP_SHIFT | (store & ADDRESS_MASK) |
                         AMDVI_CW_STORE | AMDVI_CW_INTERRUPT, drv->wait_seq);
  drv->queued_count = 0;
  drv->batches_count++;
  uint32_t pause = drv->config.cmdbuf_pause_every;
  if (pause == 0 || drv->batches_count % pause != 0) {
    commands_run(drv); /* this batch, and a paused one before it */
    return;
  }
  /* The injected stall: this batch waits, CmdBufEn clear, until the next one. */
  mmio_write(drv, AMDVI_MMIO_CONTROL, control_run(drv));
  drv->cmdbuf_paused = true;
  mmio_write(drv, AMDVI_MMIO_CMDBUF_TAIL, drv->cmd_tail);
}

static int iommudrv_post_load(void *opaque, int32_t version_id)
{
  const struct iommudrv *drv = opaque;
  (void)version_id;
  if (drv->cmd_tail >= IOMMUDRV_RING_BYTES || drv->cmd_tail % 16 != 0) return -1;
  if (drv->evt_head >= IOMMUDRV_RING_BYTES || drv->evt_head % 16 != 0) return -1;
  if (drv->completions_count > drv->wait_seq) return -1;
  uint64_t pool = drv->base_gpa + IOMMUDRV_POOL_OFFSET;
  uint64_t end = drv->base_gpa + drv->base_bytes;
  if (drv->pool_next < pool || drv->pool_next > end || drv->pool_next % PAGE_BYTES != 0) {
    return -1;
  }
  if (drv->root_gpa < pool || drv->root_gpa >= drv->pool_next) return -1;
  /* Tables the subsections name must be pages the driver handed out. */
  for (uint32_t i = 1; i < drv->device_count && drv->config.domains_separate; i++) {
    uint64_t root = drv->roots_more[i - 1];
    if (root < pool || root >= drv->pool_next || root % PAGE_BYTES != 0) return -1;
  }
  for (uint32_t i = 0; i < drv->device_count && drv->config.intremap; i++) {
    uint64_t irt = drv->irt_gpa[i];
    if (irt < pool || irt >= drv->pool_next || irt % PAGE_BYTES != 0) return -1;
  }
  return 0;
}

static bool iommudrv_devices_needed(void *opaque)
{
  const struct iommudrv *drv = opaque;
  return drv->device_count > 1;
}

static const struct vmstate_field iommudrv_devices_fields[] = {
    VMSTATE_UINT64_ARRAY(struct iommudrv, roots_more, DEVDRV_DMADEVS_MAX - 1),
};

static const struct vmstate_desc iommudrv_devices_vmstate = {
    .name = "iommudrv/devices",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = iommudrv_devices_fields,
    .field_count = SIM_ARRAY_COUNT(iommudrv_devices_fields),
    .needed = iommudrv_devices_needed,
};

static bool iommudrv_intremap_needed(void *opaque)
{
  const struct iommudrv *drv = opaque;
  return drv->config.intremap;
}

static const struct vmstate_field iommudrv_intremap_fields[] = {
    VMSTATE_UINT64_ARRAY(struct iommudrv, irt_gpa, DEVDRV_DMADEVS_MAX),
    VMSTATE_UINT64(struct iommudrv, irq_faults_count),
};

static const struct vmstate_desc iommudrv_intremap_vmstate = {
    .name = "iommudrv/intremap",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = iommudrv_intremap_fields,
    .field_count = SIM_ARRAY_COUNT(iommudrv_intremap_fields),
    .needed = iommudrv_intremap_needed,
};

static bool iommudrv_ats_needed(void *opaque)
{
  const struct iommudrv *drv = opaque;
  return drv->ats_any;
}

static const struct vmstate_field iommudrv_ats_fields[] = {
    VMSTATE_UINT64(struct iommudrv, ats_timeouts_count),
    VMSTATE_UINT64(struct iommudrv, ats_invalidations_count),
};

static const struct vmstate_desc iommudrv_ats_vmstate = {
    .name = "iommudrv/ats",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = iommudrv_ats_fields,
    .field_count = SIM_ARRAY_COUNT(iommudrv_ats_fields),
    .needed = iommudrv_ats_needed,
};

static const struct vmstate_desc *const iommudrv_subsections[] = {
    &iommudrv_devices_vmstate, &iommudrv_intremap_vmstate, &iommudrv_ats_vmstate,
};

static const struct vmstate_field iommudrv_fields[] = {
    VMSTATE_UINT64(struct iommudrv, pool_next),
    VMSTATE_UINT64(struct iommudrv, root_gpa),
    VMSTATE_UINT32(struct iommudrv, cmd_tail),
    VMSTATE_UINT32(struct iommudrv, evt_head),
    VMSTATE_UINT64(struct iommudrv, ticks_count),
    VMSTATE_UINT64(struct iommudrv, batches_count),
    VMSTATE_UINT64(struct iommudrv, wait_seq),
    VMSTATE_UINT64(struct iommudrv, completions_count),
    VMSTATE_UINT64(struct iommudrv, maps_count),
    VMSTATE_UINT64(struct iommudrv, unmaps_count),
    VMSTATE_UINT64(struct iommudrv, invalidations_count),
    VMSTATE_UINT64(struct iommudrv, transfers_count),
    VMSTATE_UINT64(struct iommudrv, events_count),
    VMSTATE_UINT64(struct iommudrv, faults_count),
    VMSTATE_UINT64(struct iommudrv, overflows_count),
    VMSTATE_UINT64(struct iommudrv, event_checksum),
    VMSTATE_BOOL(struct iommudrv, cmdbuf_paused),
};

const struct vmstate_desc iommudrv_vmstate = {
    .name = "iommudrv",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = iommudrv_fields,
    .field_count = SIM_ARRAY_COUNT(iommudrv_fields),
    .subsections = iommudrv_subsections,
    .subsection_count = SIM_ARRAY_COUNT(iommudrv_subsections),
    .post_load = iommudrv_post_load,
};
