/*
 * amdvi.c: the AMD IOMMU's registers, PCI function, event log and own MSI.
 *
 * The register file is one 16 KiB little-endian array with read-only and
 * write-1-to-clear masks (spec §2).  In the default profile the registers are
 * the single source of truth: after every write the derived fields (QEMU's
 * saved names) are recomputed from them, and internal pointer updates are
 * mirrored back.  The qemu-10.1 profile applies QEMU's per-register side
 * effects instead (spec §2.1, §11 items 2-4, 7, 9, 10).  Commands live in
 * amdvi_cmd.c, translation and interrupt remapping in amdvi_xlate.c,
 * migration in amdvi_vmstate.c; the overview is docs/amd-iommu.md.
 */
#include "sim_base.h"

#include "amdvi.h"
#include "amdvi_int.h"

#define CONTROL_WRITABLE \
  (UINT64_C(0x3FFFF) | (UINT64_C(1) << 25) | (UINT64_C(1) << 28) | (UINT64_C(1) << 29) | \
   (UINT64_C(1) << 50) | (UINT64_C(1) << 51) | (UINT64_C(1) << 59) | (UINT64_C(1) << 61))
#define RING_BASE_WRITABLE UINT64_C(0x0F0FFFFFFFFFF000)
#define STATUS_W1C UINT64_C(0x67)

void amdvi_config_default(struct amdvi_config *config)
{
  *config = (struct amdvi_config){
      .profile = AMDVI_PROFILE_DEFAULT,
      .intremap = true,
      .dma_remap = true,
      .dma_translation = true,
      .pci_placed_explicitly = true,
      .pci_bdf = 0x0008, /* 00:01.0, where QEMU's q35 usually puts it */
  };
}

uint64_t amdvi__efr_compute(const struct amdvi_config *config)
{
  uint64_t efr = AMDVI_EFR_DEFAULT;
  if (config->xtsup) efr |= UINT64_C(1) << 2;
  if (!config->dma_translation) efr |= UINT64_C(3) << 10; /* HATS = 11b */
  bool rmp = config->profile != AMDVI_PROFILE_QEMU_10_1 &&
             (config->snp_rmp_base != 0 || config->snp_rmp_end != 0);
  if (rmp) efr |= AMDVI_EFR_SNPSUP;
  return efr;
}

static void mask_set(uint8_t *mask, uint32_t offset, uint64_t bits)
{
  for (uint32_t i = 0; i < 8; i++) mask[offset + i] = (uint8_t)(bits >> (8 * i));
}

/* Builds the RO and W1C masks: unlisted offsets are all read-only (they read 0). */
void amdvi__masks_build(struct amdvi *dev)
{
  static const struct {
    uint32_t offset;
    uint64_t writable;
  } regs[] = {
      {AMDVI_MMIO_DEVTAB_BASE, UINT64_C(0x000FFFFFFFFFF1FF)},
      {AMDVI_MMIO_CMDBUF_BASE, RING_BASE_WRITABLE},
      {AMDVI_MMIO_EVTLOG_BASE, RING_BASE_WRITABLE},
      {AMDVI_MMIO_CONTROL, CONTROL_WRITABLE},
      {AMDVI_MMIO_EXCL_BASE, UINT64_C(0x000FFFFFFFFFF003)},
      {AMDVI_MMIO_EXCL_LIMIT, AMDVI_ADDR_MASK},
      {AMDVI_MMIO_PPRLOG_BASE, RING_BASE_WRITABLE},
      {AMDVI_MMIO_CMDBUF_HEAD, AMDVI_RING_POINTER_MASK},
      {AMDVI_MMIO_CMDBUF_TAIL, AMDVI_RING_POINTER_MASK},
      {AMDVI_MMIO_EVTLOG_HEAD, AMDVI_RING_POINTER_MASK},
      {AMDVI_MMIO_EVTLOG_TAIL, AMDVI_RING_POINTER_MASK},
      {AMDVI_MMIO_PPRLOG_HEAD, AMDVI_RING_POINTER_MASK},
      {AMDVI_MMIO_PPRLOG_TAIL, AMDVI_RING_POINTER_MASK},
  };
  memset(dev->romask, 0xFF, sizeof dev->romask);
  memset(dev->w1cmask, 0, sizeof dev->w1cmask);
  for (size_t i = 0; i < SIM_ARRAY_COUNT(regs); i++) {
    mask_set(dev->romask, regs[i].offset, ~regs[i].writable);
  }
  mask_set(dev->romask, AMDVI_MMIO_STATUS, ~STATUS_W1C);
  mask_set(dev->w1cmask, AMDVI_MMIO_STATUS, STATUS_W1C);
}

static void put_le(uint8_t *bytes, uint32_t offset, uint32_t size, uint64_t value)
{
  for (uint32_t i = 0; i < size; i++) bytes[offset + i] = (uint8_t)(value >> (8 * i));
}

static uint64_t get_le(const uint8_t *bytes, uint32_t offset, uint32_t size)
{
  uint64_t value = 0;
  for (uint32_t i = 0; i < size; i++) value |= (uint64_t)bytes[offset + i] << (8 * i);
  return value;
}

/* The AMDVI-PCI reset image and its write masks (spec §3.1, §3.2). */
void amdvi__pci_build(struct amdvi *dev)
{
  uint8_t *img = dev->pci_reset;
  memset(img, 0, AMDVI_PCI_CONFIG_BYTES);
  memset(dev->pci_wmask, 0, AMDVI_PCI_CONFIG_BYTES);
  memset(dev->pci_w1cmask, 0, AMDVI_PCI_CONFIG_BYTES);
  put_le(img, 0x00, 2, AMDVI_PCI_VENDOR_ID);
  put_le(img, 0x02, 2, AMDVI_PCI_DEVICE_ID);
  put_le(img, 0x06, 2, 0x0010);            /* capability list */
  put_le(img, 0x0A, 2, 0x0806);            /* class: system peripheral, IOMMU */
  put_le(img, 0x2C, 2, 0x1AF4);            /* subsystem vendor */
  put_le(img, 0x2E, 2, 0x1100);
  img[0x34] = AMDVI_PCI_CAP_MSI;           /* list: 0x60 -> 0x5C -> 0x58 -> 0x40 */
  uint32_t cap = AMDVI_PCI_CAP_IOMMU;
  /* IotlbSup (bit 24): QEMU advertises it whatever device-iotlb says (spec §1). */
  bool iotlb_sup = amdvi__qemu(dev) || dev->config.device_iotlb;
  put_le(img, cap + 0x00, 4, iotlb_sup ? 0x1F03000Fu : 0x1E03000Fu);
  put_le(img, cap + 0x04, 4, (uint32_t)AMDVI_MMIO_BASE);
  put_le(img, cap + 0x0C, 4, 0xFF000000);
  /* Misc Info 0: QEMU's value, or the spec layout (PAsize 48, VAsize 64). */
  put_le(img, cap + 0x10, 4, amdvi__qemu(dev) ? 0x00182E00u : (48u << 8) | (64u << 15));
  put_le(img, 0x58, 2, 0x4005);            /* placeholder MSI id, next 0x40 */
  put_le(img, 0x5C, 2, 0x5808);            /* HyperTransport placeholder, next 0x58 */
  put_le(img, AMDVI_PCI_CAP_MSI, 2, 0x5C05);
  put_le(img, AMDVI_PCI_CAP_MSI + 2, 2, 0x0080); /* 64-bit, one vector, disabled */
  put_le(dev->pci_wmask, 0x04, 2, 0x0544);  /* parity, bus master, SERR, INTx disable */
  dev->pci_w1cmask[0x07] = 0xF9;           /* status error bits incl. STA (bit 11) */
  dev->pci_wmask[0x3C] = 0xFF;             /* interrupt line */
  dev->pci_wmask[AMDVI_PCI_CAP_MSI + 2] = 0x01; /* MSI enable */
  put_le(dev->pci_wmask, AMDVI_PCI_CAP_MSI + 4, 4, 0xFFFFFFFC);
  put_le(dev->pci_wmask, AMDVI_PCI_CAP_MSI + 8, 4, 0xFFFFFFFF);
  put_le(dev->pci_wmask, AMDVI_PCI_CAP_MSI + 12, 2, 0xFFFF);
}

struct amdvi *amdvi_create(struct sim *sim, const struct amdvi_config *config,
                           const struct amdvi_memory_ops *ops)
{
  SIM_ASSERT(sim != NULL && config != NULL);
  SIM_ASSERT(ops != NULL && ops->read != NULL && ops->write != NULL);
  struct amdvi *dev = sim_alloc(sim, sizeof(*dev));
  dev->sim = sim;
  dev->config = *config;
  dev->ops = *ops;
  if (amdvi__qemu(dev)) dev->config.illegal_command_continue = true;
  amdvi__masks_build(dev);
  amdvi__pci_build(dev);
  dev->cfg_bdf = config->pci_bdf;
  dev->cfg_props = (config->xtsup ? AMDVI_PROP_XTSUP : 0) |
                   (config->intremap ? AMDVI_PROP_INTREMAP : 0) |
                   (config->dma_remap ? AMDVI_PROP_DMA_REMAP : 0) |
                   (config->dma_translation ? AMDVI_PROP_DMA_TRANSLATION : 0) |
                   (config->device_iotlb ? AMDVI_PROP_DEVICE_IOTLB : 0) |
                   (amdvi__rmp_on(dev) ? AMDVI_PROP_SNP_RMP : 0);
  dev->cfg_rmp_base = config->snp_rmp_base;
  dev->cfg_rmp_end = config->snp_rmp_end;
  dev->cfg_efr = amdvi__efr_compute(config);
  dev->cfg_cap_offset = AMDVI_PCI_CAP_IOMMU;
  amdvi_reset(dev);
  return dev;
}

void amdvi_reset(struct amdvi *dev)
{
  memset(dev->mmior, 0, sizeof dev->mmior);
  amdvi__reg_set(dev, AMDVI_MMIO_EFR, amdvi__efr_compute(&dev->config));
  memcpy(dev->pci_config, dev->pci_reset, AMDVI_PCI_CONFIG_BYTES);
  dev->cmdbuf_halted = false;
  amdvi__ats_clear(dev); /* answers still owed are forgotten; registrations stay */
  amdvi__iotlb_flush_all(dev);
  amdvi__device_modes_clear(dev);
  if (amdvi__qemu(dev)) {
    /* QEMU zeroes the registers but leaves the event-log base and length, the
       enable flags and ga_enabled as they were (spec §9.2, §11 item 16). */
    dev->enabled = false;
    dev->cmdbuf_enabled = false;
    dev->devtab = 0;
    dev->devtab_len = 0;
    dev->cmdbuf = 0;
    dev->cmdbuf_len = 0;
    dev->cmdbuf_head = 0;
    dev->cmdbuf_tail = 0;
    dev->evtlog_head = 0;
    dev->evtlog_tail = 0;
  } else {
    amdvi__derive_from_registers(dev);
  }
  sim_trace(dev->sim, "amdvi.reset", dev->config.pci_bdf, 0, 0, 0);
}

bool amdvi__mem_read(struct amdvi *dev, uint64_t gpa, void *bytes, uint32_t count)
{
  return dev->ops.read(dev->ops.context, gpa, bytes, count);
}

bool amdvi__mem_write(struct amdvi *dev, uint64_t gpa, const void *bytes, uint32_t count)
{
  return dev->ops.write(dev->ops.context, gpa, bytes, count);
}

/* ------------------------------------------------------------ derived */

static void status_run_bits_update(struct amdvi *dev)
{
  uint64_t status = amdvi__reg(dev, AMDVI_MMIO_STATUS);
  status &= ~(AMDVI_STATUS_EVTLOG_RUN | AMDVI_STATUS_CMDBUF_RUN);
  if (dev->evtlog_enabled) status |= AMDVI_STATUS_EVTLOG_RUN;
  if (dev->cmdbuf_enabled) status |= AMDVI_STATUS_CMDBUF_RUN;
  /* PPRLogRun: QEMU never sets it; the default profile mirrors IommuEn && PPRLogEn. */
  status &= ~AMDVI_STATUS_PPRLOG_RUN;
  uint64_t control = amdvi__reg(dev, AMDVI_MMIO_CONTROL);
  if (!amdvi__qemu(dev) && dev->enabled && (control & AMDVI_CONTROL_PPRLOG_EN) != 0) {
    status |= AMDVI_STATUS_PPRLOG_RUN;
  }
  amdvi__reg_set(dev, AMDVI_MMIO_STATUS, status);
}

static void control_flags_derive(struct amdvi *dev)
{
  uint64_t control = amdvi__reg(dev, AMDVI_MMIO_CONTROL);
  dev->enabled = (control & AMDVI_CONTROL_IOMMU_EN) != 0;
  dev->ga_enabled = (control & AMDVI_CONTROL_GA_EN) != 0;
  dev->completion_wait_intr = (control & AMDVI_CONTROL_COMWAIT_EN) != 0;
  dev->evtlog_intr = (control & AMDVI_CONTROL_EVTINT_EN) != 0;
  dev->evtlog_enabled = dev->enabled && (control & AMDVI_CONTROL_EVTLOG_EN) != 0;
  dev->cmdbuf_enabled = dev->enabled && (control & AMDVI_CONTROL_CMDBUF_EN) != 0;
  if (!amdvi__qemu(dev) && dev->cmdbuf_halted) dev->cmdbuf_enabled = false;
  status_run_bits_update(dev);
}

static uint32_t ring_entries(uint64_t base_register)
{
  return UINT32_C(1) << ((base_register >> 56) & 0xF);
}

/* Default profile: every derived field from the registers (spec §9.4 invariant 2). */
void amdvi__derive_from_registers(struct amdvi *dev)
{
  uint64_t devtab = amdvi__reg(dev, AMDVI_MMIO_DEVTAB_BASE);
  uint64_t cmdbuf = amdvi__reg(dev, AMDVI_MMIO_CMDBUF_BASE);
  uint64_t evtlog = amdvi__reg(dev, AMDVI_MMIO_EVTLOG_BASE);
  uint64_t pprlog = amdvi__reg(dev, AMDVI_MMIO_PPRLOG_BASE);
  /* A base register never written (all zero) describes no table at all. */
  dev->devtab = devtab & AMDVI_ADDR_MASK;
  dev->devtab_len = devtab == 0 ? 0 : ((devtab & 0x1FF) + 1) * (4096 / AMDVI_DTE_BYTES);
  dev->cmdbuf = cmdbuf & AMDVI_ADDR_MASK;
  dev->cmdbuf_len = cmdbuf == 0 ? 0 : ring_entries(cmdbuf);
  dev->evtlog = evtlog & AMDVI_ADDR_MASK;
  dev->evtlog_len = evtlog == 0 ? 0 : ring_entries(evtlog);
  dev->ppr_log = pprlog & AMDVI_ADDR_MASK;
  dev->pprlog_len = pprlog == 0 ? 0 : ring_entries(pprlog);
  dev->cmdbuf_head = (uint32_t)(amdvi__reg(dev, AMDVI_MMIO_CMDBUF_HEAD) & AMDVI_RING_POINTER_MASK);
  dev->cmdbuf_tail = (uint32_t)(amdvi__reg(dev, AMDVI_MMIO_CMDBUF_TAIL) & AMDVI_RING_POINTER_MASK);
  dev->evtlog_head = (uint32_t)(amdvi__reg(dev, AMDVI_MMIO_EVTLOG_HEAD) & AMDVI_RING_POINTER_MASK);
  dev->evtlog_tail = (uint32_t)(amdvi__reg(dev, AMDVI_MMIO_EVTLOG_TAIL) & AMDVI_RING_POINTER_MASK);
  dev->pprlog_head = (uint32_t)(amdvi__reg(dev, AMDVI_MMIO_PPRLOG_HEAD) & AMDVI_RING_POINTER_MASK);
  dev->pprlog_tail = (uint32_t)(amdvi__reg(dev, AMDVI_MMIO_PPRLOG_TAIL) & AMDVI_RING_POINTER_MASK);
  control_flags_derive(dev);
}

static void check_field(bool equal, const char *name, uint32_t *count, char *out,
                        size_t out_bytes)
{
  if (equal) return;
  size_t used = strlen(out);
  if (used + strlen(name) + 2 < out_bytes) {
    snprintf(out + used, out_bytes - used, "%s%s", used == 0 ? "" : ",", name);
  }
  (*count)++;
}

uint32_t amdvi_derived_check(const struct amdvi *dev, char *out, size_t out_bytes)
{
  SIM_ASSERT(out != NULL && out_bytes > 0);
  out[0] = '\0';
  struct amdvi *want = malloc(sizeof(*want));
  SIM_ASSERT(want != NULL);
  memcpy(want->mmior, dev->mmior, sizeof want->mmior);
  want->config = dev->config;
  want->config.profile = AMDVI_PROFILE_DEFAULT;
  want->cmdbuf_halted = dev->cmdbuf_halted;
  amdvi__derive_from_registers(want);
  uint32_t count = 0;
#define CHECK_(field) check_field(want->field == dev->field, #field, &count, out, out_bytes)
  CHECK_(enabled);
  CHECK_(ga_enabled);
  CHECK_(cmdbuf_enabled);
  CHECK_(completion_wait_intr);
  CHECK_(evtlog_enabled);
  CHECK_(evtlog_intr);
  CHECK_(devtab);
  CHECK_(devtab_len);
  CHECK_(cmdbuf);
  CHECK_(cmdbuf_len);
  CHECK_(cmdbuf_head);
  CHECK_(cmdbuf_tail);
  CHECK_(evtlog);
  CHECK_(evtlog_len);
  CHECK_(evtlog_head);
  CHECK_(evtlog_tail);
  CHECK_(ppr_log);
  CHECK_(pprlog_len);
  CHECK_(pprlog_head);
  CHECK_(pprlog_tail);
#undef CHECK_
  /* Status run bits as the flags imply. */
  uint64_t status = amdvi__reg(dev, AMDVI_MMIO_STATUS);
  check_field(((status & AMDVI_STATUS_EVTLOG_RUN) != 0) == dev->evtlog_enabled,
              "status.EventLogRun", &count, out, out_bytes);
  check_field(((status & AMDVI_STATUS_CMDBUF_RUN) != 0) == dev->cmdbuf_enabled,
              "status.CmdBufRun", &count, out, out_bytes);
  bool ppr_run = !amdvi__qemu(dev) && dev->enabled && (amdvi__reg(dev, AMDVI_MMIO_CONTROL) & AMDVI_CONTROL_PPRLOG_EN);
  check_field(((status & AMDVI_STATUS_PPRLOG_RUN) != 0) == ppr_run, "status.PPRLogRun", &count,
              out, out_bytes);
  check_field(dev->ats_pending_count <= AMDVI_ATS_PENDING_MAX, "ats_pending_count", &count, out,
              out_bytes);
  free(want);
  return count;
}

/* ------------------------------------------------------------- MSI, STA */

void amdvi__msi_raise(struct amdvi *dev)
{
  const uint8_t *cap = dev->pci_config + AMDVI_PCI_CAP_MSI;
  if ((cap[2] & 1) == 0 || dev->ops.msi == NULL) {
    dev->stats.msi_suppressed_count++;
    return;
  }
  uint64_t address = get_le(cap, 4, 4) | get_le(cap, 8, 4) << 32;
  uint32_t data = (uint32_t)get_le(cap, 12, 2);
  dev->stats.msi_count++;
  sim_trace(dev->sim, "amdvi.msi", address, data, dev->config.pci_bdf, 0);
  dev->ops.msi(dev->ops.context, address, data);
}

void amdvi__target_abort(struct amdvi *dev)
{
  dev->pci_config[0x07] |= 0x08; /* Signaled Target Abort, status bit 11 */
}

void amdvi__status_set(struct amdvi *dev, uint64_t bits)
{
  amdvi__reg_set(dev, AMDVI_MMIO_STATUS, amdvi__reg(dev, AMDVI_MMIO_STATUS) | bits);
}

/* ------------------------------------------------------------ event log */

static void evtlog_tail_set(struct amdvi *dev, uint32_t tail)
{
  dev->evtlog_tail = tail;
  amdvi__reg_set(dev, AMDVI_MMIO_EVTLOG_TAIL, tail);
}

void amdvi__event_log(struct amdvi *dev, uint32_t code, uint16_t devid, uint16_t domain_id,
                      uint32_t flags, uint64_t address)
{
  SIM_ASSERT(code > 0 && code < 16);
  SIM_ASSERT(flags < 4096);
  uint64_t q0 = (uint64_t)devid | (uint64_t)domain_id << 32 | (uint64_t)flags << 48 |
                (uint64_t)code << 60;
  amdvi__event_log_raw(dev, q0, address);
}

void amdvi__event_log_raw(struct amdvi *dev, uint64_t q0, uint64_t address)
{
  SIM_ASSERT((q0 >> 60) != 0);
  sim_trace(dev->sim, "amdvi.event", q0 >> 60, q0 & 0xFFFF, (q0 >> 48) & 0xFFF, address);
  uint64_t status = amdvi__reg(dev, AMDVI_MMIO_STATUS);
  if (!dev->evtlog_enabled || (status & AMDVI_STATUS_EVT_OVERFLOW) != 0) {
    dev->stats.events_dropped_count++;
    return;
  }
  if (dev->evtlog_len == 0) {
    /* An unprogrammed log: QEMU divides by zero here (spec §11 item 7). */
    if (amdvi__qemu(dev)) dev->stats.qemu_hazards_count++;
    dev->stats.events_dropped_count++;
    return;
  }
  uint32_t ring_bytes = dev->evtlog_len * AMDVI_EVENT_BYTES;
  uint32_t tail = dev->evtlog_tail % ring_bytes;
  uint32_t next = (tail + AMDVI_EVENT_BYTES) % ring_bytes;
  if (next == dev->evtlog_head % ring_bytes) {
    dev->stats.events_dropped_count++;
    if (amdvi__qemu(dev) && !dev->evtlog_intr) return; /* §11 item 9 */
    amdvi__status_set(dev, AMDVI_STATUS_EVT_OVERFLOW);
    if (dev->evtlog_intr) amdvi__msi_raise(dev);
    return;
  }
  uint8_t entry[AMDVI_EVENT_BYTES];
  put_le(entry, 0, 8, q0);
  put_le(entry, 8, 8, address);
  if (!amdvi__mem_write(dev, dev->evtlog + tail, entry, sizeof entry)) {
    dev->stats.events_dropped_count++; /* nowhere to report it */
    return;
  }
  dev->stats.events_logged_count++;
  SIM_ASSERT(next < ring_bytes && next % AMDVI_EVENT_BYTES == 0);
  evtlog_tail_set(dev, next);
  if (dev->evtlog_intr) {
    amdvi__status_set(dev, AMDVI_STATUS_EVTLOG_INT);
    amdvi__msi_raise(dev);
  }
}

/* ----------------------------------------------------------------- MMIO */

uint64_t amdvi_mmio_read(struct amdvi *dev, uint32_t offset, uint32_t size)
{
  bool size_ok = size == 1 || size == 2 || size == 4 || size == 8;
  if (!size_ok || offset >= AMDVI_MMIO_BYTES || size > AMDVI_MMIO_BYTES - offset ||
      offset % size != 0) {
    return UINT64_MAX;
  }
  if (size == 1 && amdvi__qemu(dev)) return 0xFF; /* §11 item 3 */
  return get_le(dev->mmior, offset, size);
}

/* Stores value through the masks: RO bits keep, W1C bits clear on 1 (spec §2.2). */
static void masked_store(struct amdvi *dev, uint32_t offset, uint32_t size, uint64_t value)
{
  for (uint32_t i = 0; i < size; i++) {
    uint8_t byte = (uint8_t)(value >> (8 * i));
    uint8_t ro = dev->romask[offset + i];
    uint8_t w1c = dev->w1cmask[offset + i];
    uint8_t old = dev->mmior[offset + i];
    uint8_t updated = (uint8_t)((old & (ro | w1c)) | (byte & ~(ro | w1c)));
    dev->mmior[offset + i] = (uint8_t)(updated & ~(byte & w1c));
  }
}

static void qemu_ring_base_effect(struct amdvi *dev, uint32_t reg, bool takes_effect)
{
  uint64_t value = amdvi__reg(dev, reg);
  if (reg == AMDVI_MMIO_DEVTAB_BASE && takes_effect) {
    dev->devtab = value & AMDVI_ADDR_MASK;
    dev->devtab_len = ((value & 0x1FF) + 1) * (4096 / AMDVI_DTE_BYTES);
  } else if (reg == AMDVI_MMIO_CMDBUF_BASE && takes_effect) {
    dev->cmdbuf = value & AMDVI_ADDR_MASK;
    dev->cmdbuf_len = ring_entries(value);
    dev->cmdbuf_head = 0; /* the MMIO copies keep their values (§11 item 4) */
    dev->cmdbuf_tail = 0;
  } else if (reg == AMDVI_MMIO_EVTLOG_BASE) {
    if (amdvi__reg(dev, AMDVI_MMIO_STATUS) & AMDVI_STATUS_EVTLOG_INT) return; /* item 10 */
    dev->evtlog = value & AMDVI_ADDR_MASK;
    dev->evtlog_len = ring_entries(value);
    dev->evtlog_head = 0;
    evtlog_tail_set(dev, 0);
    amdvi__reg_set(dev, AMDVI_MMIO_EVTLOG_HEAD, 0);
  } else if (reg == AMDVI_MMIO_PPRLOG_BASE) {
    dev->ppr_log = value & AMDVI_ADDR_MASK;
    dev->pprlog_len = ring_entries(amdvi__reg(dev, AMDVI_MMIO_EVTLOG_BASE)); /* item 2 */
  }
}

/* QEMU's per-register handlers (spec §2.1); returns true to run the command processor. */
static bool qemu_write_effect(struct amdvi *dev, uint32_t reg, uint32_t offset, uint32_t size)
{
  uint32_t pointer = (uint32_t)(amdvi__reg(dev, reg) & AMDVI_RING_POINTER_MASK);
  switch (reg) {
  case AMDVI_MMIO_DEVTAB_BASE:
  case AMDVI_MMIO_CMDBUF_BASE:
  case AMDVI_MMIO_EVTLOG_BASE:
  case AMDVI_MMIO_PPRLOG_BASE:
    qemu_ring_base_effect(dev, reg, size == 8 || offset % 8 != 0);
    return false;
  case AMDVI_MMIO_CONTROL:
    control_flags_derive(dev);
    return true;
  case AMDVI_MMIO_CMDBUF_HEAD: dev->cmdbuf_head = pointer; return true;
  case AMDVI_MMIO_CMDBUF_TAIL: dev->cmdbuf_tail = pointer; return true;
  case AMDVI_MMIO_EVTLOG_HEAD: dev->evtlog_head = pointer; return false;
  case AMDVI_MMIO_EVTLOG_TAIL: dev->evtlog_tail = pointer; return false;
  case AMDVI_MMIO_PPRLOG_HEAD: dev->pprlog_head = pointer; return false;
  case AMDVI_MMIO_PPRLOG_TAIL: dev->pprlog_tail = pointer; return false;
  default: return false;
  }
}

/* Default profile: base writes reset their ring's pointers, registers and all. */
static bool default_write_effect(struct amdvi *dev, uint32_t reg)
{
  switch (reg) {
  case AMDVI_MMIO_CMDBUF_BASE:
    amdvi__reg_set(dev, AMDVI_MMIO_CMDBUF_HEAD, 0);
    amdvi__reg_set(dev, AMDVI_MMIO_CMDBUF_TAIL, 0);
    break;
  case AMDVI_MMIO_EVTLOG_BASE:
    amdvi__reg_set(dev, AMDVI_MMIO_EVTLOG_HEAD, 0);
    amdvi__reg_set(dev, AMDVI_MMIO_EVTLOG_TAIL, 0);
    break;
  case AMDVI_MMIO_PPRLOG_BASE:
    amdvi__reg_set(dev, AMDVI_MMIO_PPRLOG_HEAD, 0);
    amdvi__reg_set(dev, AMDVI_MMIO_PPRLOG_TAIL, 0);
    break;
  case AMDVI_MMIO_CONTROL:
    dev->cmdbuf_halted = false; /* software restarts a halted command buffer */
    break;
  default: break;
  }
  amdvi__derive_from_registers(dev);
  return reg == AMDVI_MMIO_CONTROL || reg == AMDVI_MMIO_CMDBUF_HEAD ||
         reg == AMDVI_MMIO_CMDBUF_TAIL;
}

void amdvi_mmio_write(struct amdvi *dev, uint32_t offset, uint32_t size, uint64_t value)
{
  bool size_ok = size == 1 || size == 2 || size == 4 || size == 8;
  if (!size_ok || offset >= AMDVI_MMIO_BYTES || size > AMDVI_MMIO_BYTES - offset ||
      offset % size != 0) {
    return;
  }
  uint32_t reg = offset & ~7u;
  sim_trace(dev->sim, "amdvi.mmio_write", offset, size, value, 0);
  /* QEMU's 1-byte writes run the handler without storing (§11 item 3). */
  if (!(size == 1 && amdvi__qemu(dev))) masked_store(dev, offset, size, value);
  bool doorbell = amdvi__qemu(dev) ? qemu_write_effect(dev, reg, offset, size)
                                   : default_write_effect(dev, reg);
  if (doorbell) (void)amdvi__commands_run(dev);
  SIM_ASSERT((amdvi__reg(dev, AMDVI_MMIO_EFR) == amdvi__efr_compute(&dev->config)));
#ifdef SIM_DEBUG
  char names[AMDVI_ERROR_BYTES];
  SIM_ASSERT(amdvi__qemu(dev) || amdvi_derived_check(dev, names, sizeof names) == 0);
#endif
}

uint32_t amdvi_step(struct amdvi *dev)
{
  amdvi__ats_poll(dev);
  return amdvi__commands_run(dev);
}

uint32_t amdvi_commands_pending(const struct amdvi *dev)
{
  uint64_t ring_bytes = dev->cmdbuf_len * AMDVI_CMD_BYTES;
  if (ring_bytes == 0 || dev->cmdbuf_tail >= ring_bytes) return 0;
  uint64_t head = dev->cmdbuf_head % ring_bytes;
  return (uint32_t)(((dev->cmdbuf_tail + ring_bytes - head) % ring_bytes) / AMDVI_CMD_BYTES);
}

/* ------------------------------------------------------------------ PCI */

uint32_t amdvi_pci_config_read(struct amdvi *dev, uint32_t offset, uint32_t size)
{
  if ((size != 1 && size != 2 && size != 4) || offset >= AMDVI_PCI_CONFIG_BYTES ||
      offset % size != 0) {
    return UINT32_MAX;
  }
  return (uint32_t)get_le(dev->pci_config, offset, size);
}

void amdvi_pci_config_write(struct amdvi *dev, uint32_t offset, uint32_t size, uint32_t value)
{
  if ((size != 1 && size != 2 && size != 4) || offset >= AMDVI_PCI_CONFIG_BYTES ||
      offset % size != 0) {
    return;
  }
  for (uint32_t i = 0; i < size; i++) {
    uint8_t byte = (uint8_t)(value >> (8 * i));
    uint8_t wmask = dev->pci_wmask[offset + i];
    uint8_t w1c = dev->pci_w1cmask[offset + i];
    uint8_t old = dev->pci_config[offset + i];
    dev->pci_config[offset + i] = (uint8_t)(((old & ~wmask) | (byte & wmask)) & ~(byte & w1c));
  }
}

uint16_t amdvi_pci_bdf(const struct amdvi *dev)
{
  return dev->config.pci_bdf;
}

uint8_t amdvi_pci_iommu_cap_offset(const struct amdvi *dev)
{
  (void)dev;
  return AMDVI_PCI_CAP_IOMMU;
}

uint8_t amdvi_pci_msi_cap_offset(const struct amdvi *dev)
{
  (void)dev;
  return AMDVI_PCI_CAP_MSI;
}

void amdvi_stats_get(const struct amdvi *dev, struct amdvi_stats *stats)
{
  *stats = dev->stats;
}

const struct amdvi_config *amdvi_config_get(const struct amdvi *dev)
{
  return &dev->config;
}

const char *amdvi_migration_error(const struct amdvi *dev)
{
  return dev->error;
}
