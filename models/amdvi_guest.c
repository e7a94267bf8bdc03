/*
 * amdvi_guest.c: flat guest memory and a minimal AMD IOMMU driver (see
 * amdvi_guest.h).  It uses only the IOMMU's public API, like a guest would:
 * MMIO writes, PCI config writes, and structures in its own memory.
 */
#include "sim_base.h"

#include "amdvi_guest.h"

static bool guest_read(void *context, uint64_t gpa, void *bytes, uint32_t count)
{
  struct amdvi_guest *guest = context;
  guest->dma_reads_count++;
  if (gpa >= guest->ram_bytes || count > guest->ram_bytes - gpa) return false;
  memcpy(bytes, guest->ram + gpa, count);
  return true;
}

static bool guest_write(void *context, uint64_t gpa, const void *bytes, uint32_t count)
{
  struct amdvi_guest *guest = context;
  if (gpa >= guest->ram_bytes || count > guest->ram_bytes - gpa) return false;
  memcpy(guest->ram + gpa, bytes, count);
  return true;
}

static void guest_msi(void *context, uint64_t address, uint32_t data)
{
  struct amdvi_guest *guest = context;
  guest->msi_count++;
  guest->msi_digest = (guest->msi_digest ^ address ^ ((uint64_t)data << 32)) *
                      UINT64_C(0x100000001B3);
}

void amdvi_guest_memory_ops(struct amdvi_guest *guest, struct amdvi_memory_ops *ops)
{
  *ops = (struct amdvi_memory_ops){.read = guest_read, .write = guest_write, .msi = guest_msi,
                                   .context = guest};
}

void amdvi_guest_init(struct amdvi_guest *guest, struct sim *sim,
                      const struct amdvi_config *config, uint64_t ram_bytes)
{
  SIM_ASSERT(ram_bytes >= AMDVI_GUEST_RAM_BYTES_MIN);
  SIM_ASSERT(ram_bytes % 4096 == 0);
  *guest = (struct amdvi_guest){.ram_bytes = ram_bytes, .alloc_gpa = AMDVI_GUEST_ALLOC_GPA};
  guest->ram = sim_alloc(sim, ram_bytes);
  struct amdvi_memory_ops ops;
  amdvi_guest_memory_ops(guest, &ops);
  guest->iommu = amdvi_create(sim, config, &ops);
}

uint64_t amdvi_guest_read64(const struct amdvi_guest *guest, uint64_t gpa)
{
  SIM_ASSERT(gpa + 8 <= guest->ram_bytes);
  uint64_t value = 0;
  for (uint32_t i = 0; i < 8; i++) value |= (uint64_t)guest->ram[gpa + i] << (8 * i);
  return value;
}

void amdvi_guest_write64(struct amdvi_guest *guest, uint64_t gpa, uint64_t value)
{
  SIM_ASSERT(gpa + 8 <= guest->ram_bytes);
  for (uint32_t i = 0; i < 8; i++) guest->ram[gpa + i] = (uint8_t)(value >> (8 * i));
}

uint64_t amdvi_guest_page_alloc(struct amdvi_guest *guest)
{
  uint64_t gpa = guest->alloc_gpa;
  SIM_ASSERT(gpa + 4096 <= guest->ram_bytes);
  guest->alloc_gpa += 4096;
  memset(guest->ram + gpa, 0, 4096);
  return gpa;
}

void amdvi_guest_setup(struct amdvi_guest *guest, uint32_t cmd_log2, uint32_t evt_log2,
                       uint64_t control)
{
  SIM_ASSERT(cmd_log2 <= 15 && evt_log2 <= 15);
  struct amdvi *iommu = guest->iommu;
  guest->cmd_entries = UINT32_C(1) << cmd_log2;
  guest->evt_entries = UINT32_C(1) << evt_log2;
  guest->cmd_tail = 0;
  guest->evt_head = 0;
  amdvi_mmio_write(iommu, AMDVI_MMIO_DEVTAB_BASE, 8,
                   AMDVI_GUEST_DEVTAB_GPA | (AMDVI_GUEST_DEVTAB_PAGES - 1));
  amdvi_mmio_write(iommu, AMDVI_MMIO_CMDBUF_BASE, 8,
                   AMDVI_GUEST_CMD_GPA | (uint64_t)cmd_log2 << 56);
  amdvi_mmio_write(iommu, AMDVI_MMIO_EVTLOG_BASE, 8,
                   AMDVI_GUEST_EVT_GPA | (uint64_t)evt_log2 << 56);
  uint32_t msi = amdvi_pci_msi_cap_offset(iommu);
  amdvi_pci_config_write(iommu, msi + 4, 4, (uint32_t)AMDVI_GUEST_MSI_ADDRESS);
  amdvi_pci_config_write(iommu, msi + 8, 4, 0);
  amdvi_pci_config_write(iommu, msi + 12, 2, AMDVI_GUEST_MSI_DATA);
  amdvi_pci_config_write(iommu, msi + 2, 2, 1);
  amdvi_pci_config_write(iommu, 0x04, 2, 0x0004); /* bus master */
  amdvi_mmio_write(iommu, AMDVI_MMIO_CONTROL, 8, control | AMDVI_CONTROL_IOMMU_EN);
}

bool amdvi_guest_command(struct amdvi_guest *guest, uint64_t q0, uint64_t q1, bool doorbell)
{
  SIM_ASSERT(guest->cmd_entries > 0);
  uint32_t ring_bytes = guest->cmd_entries * 16;
  uint32_t next = (guest->cmd_tail + 16) % ring_bytes;
  uint32_t head = (uint32_t)amdvi_mmio_read(guest->iommu, AMDVI_MMIO_CMDBUF_HEAD, 8) % ring_bytes;
  if (next == head) return false;
  amdvi_guest_write64(guest, AMDVI_GUEST_CMD_GPA + guest->cmd_tail, q0);
  amdvi_guest_write64(guest, AMDVI_GUEST_CMD_GPA + guest->cmd_tail + 8, q1);
  guest->cmd_tail = next;
  if (doorbell) amdvi_guest_doorbell(guest);
  return true;
}

void amdvi_guest_doorbell(struct amdvi_guest *guest)
{
  amdvi_mmio_write(guest->iommu, AMDVI_MMIO_CMDBUF_TAIL, 8, guest->cmd_tail);
}

bool amdvi_guest_completion_wait(struct amdvi_guest *guest, uint64_t store_gpa, uint64_t value,
                                 uint64_t flags, bool doorbell)
{
  SIM_ASSERT(store_gpa % 8 == 0);
  uint64_t q0 = (UINT64_C(1) << AMDVI_OP_SHIFT) | (store_gpa & UINT64_C(0x000FFFFFFFFFFFF8)) |
                flags;
  return amdvi_guest_command(guest, q0, value, doorbell);
}

void amdvi_guest_dte_set(struct amdvi_guest *guest, uint16_t devid, const uint64_t q[4])
{
  uint64_t gpa = AMDVI_GUEST_DEVTAB_GPA + (uint64_t)devid * 32;
  for (uint32_t i = 0; i < 4; i++) amdvi_guest_write64(guest, gpa + 8 * i, q[i]);
}

void amdvi_guest_dte_get(struct amdvi_guest *guest, uint16_t devid, uint64_t q[4])
{
  uint64_t gpa = AMDVI_GUEST_DEVTAB_GPA + (uint64_t)devid * 32;
  for (uint32_t i = 0; i < 4; i++) q[i] = amdvi_guest_read64(guest, gpa + 8 * i);
}

uint64_t amdvi_guest_dte_translate(struct amdvi_guest *guest, uint16_t devid, uint32_t mode,
                                   uint16_t domain_id)
{
  SIM_ASSERT(mode >= 1 && mode <= 6);
  uint64_t root = amdvi_guest_page_alloc(guest);
  uint64_t q[4] = {0};
  amdvi_guest_dte_get(guest, devid, q);
  q[0] = 3 | (uint64_t)mode << 9 | root | UINT64_C(3) << 61;
  q[1] = (q[1] & ~UINT64_C(0xFFFF)) | domain_id;
  amdvi_guest_dte_set(guest, devid, q);
  return root;
}

uint64_t amdvi_guest_map(struct amdvi_guest *guest, uint16_t devid, uint64_t iova, uint64_t gpa,
                         uint64_t page_bytes, bool read_ok, bool write_ok)
{
  uint64_t q[4];
  amdvi_guest_dte_get(guest, devid, q);
  uint32_t level = (uint32_t)(q[0] >> 9) & 7;
  SIM_ASSERT((q[0] & 1) != 0 && level >= 1 && level <= 6);
  uint32_t leaf_level = page_bytes == 4096 ? 1 : page_bytes == (UINT64_C(1) << 21) ? 2 : 3;
  SIM_ASSERT(page_bytes == UINT64_C(1) << (12 + 9 * (leaf_level - 1)));
  SIM_ASSERT(leaf_level <= level && iova % page_bytes == 0 && gpa % page_bytes == 0);
  uint64_t table = q[0] & UINT64_C(0x000FFFFFFFFFF000);
  uint64_t perms = (read_ok ? UINT64_C(1) << 61 : 0) | (write_ok ? UINT64_C(1) << 62 : 0);
  for (; level > leaf_level; level--) {
    uint64_t pte_gpa = table + ((iova >> (12 + 9 * (level - 1))) & 511) * 8;
    uint64_t pte = amdvi_guest_read64(guest, pte_gpa);
    if ((pte & 1) == 0) {
      pte = amdvi_guest_page_alloc(guest) | 1 | (uint64_t)(level - 1) << 9 | UINT64_C(3) << 61;
      amdvi_guest_write64(guest, pte_gpa, pte);
    }
    table = pte & UINT64_C(0x000FFFFFFFFFF000);
  }
  uint64_t leaf_gpa = table + ((iova >> (12 + 9 * (leaf_level - 1))) & 511) * 8;
  amdvi_guest_write64(guest, leaf_gpa, gpa | 1 | perms);
  return leaf_gpa;
}

uint32_t amdvi_guest_events_pending(struct amdvi_guest *guest)
{
  uint32_t ring_bytes = guest->evt_entries * 16;
  SIM_ASSERT(ring_bytes > 0);
  uint32_t tail = (uint32_t)amdvi_mmio_read(guest->iommu, AMDVI_MMIO_EVTLOG_TAIL, 8) % ring_bytes;
  return ((tail + ring_bytes - guest->evt_head) % ring_bytes) / 16;
}

bool amdvi_guest_event_pop(struct amdvi_guest *guest, uint64_t *q0, uint64_t *q1)
{
  if (amdvi_guest_events_pending(guest) == 0) return false;
  *q0 = amdvi_guest_read64(guest, AMDVI_GUEST_EVT_GPA + guest->evt_head);
  *q1 = amdvi_guest_read64(guest, AMDVI_GUEST_EVT_GPA + guest->evt_head + 8);
  guest->evt_head = (guest->evt_head + 16) % (guest->evt_entries * 16);
  amdvi_mmio_write(guest->iommu, AMDVI_MMIO_EVTLOG_HEAD, 8, guest->evt_head);
  return true;
}
