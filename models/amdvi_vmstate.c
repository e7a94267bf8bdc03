/*
 * amdvi_vmstate.c: the AMD IOMMU's migration descriptions (spec §9).
 *
 * Both descriptions are named "amd-iommu", version 1, priority IOMMU, and
 * start with QEMU 10.1's 24 fields in QEMU's order (spec §9.1), so a stream
 * from either loads into the other.  The default description adds what QEMU
 * misses, as subsections (absent from old streams, so those still load):
 *
 *   amd-iommu/pci     the AMDVI-PCI config space (MSI enable/address/data,
 *                     command, status): the IOMMU's own interrupt path;
 *   amd-iommu/config  BDF, properties, EFR and capability offset, each an
 *                     EQUAL field: a destination that differs refuses the load;
 *   amd-iommu/halt    a command buffer stopped on an illegal command;
 *   amd-iommu/ats     ATS invalidations sent to devices and not yet answered
 *                     or timed out (sent only when there are some), with
 *                     their answer and timeout instants relative to the save:
 *                     the countdown stops while the VM is stopped.
 *
 * and a post_load that validates the constant parts of the stream (masks,
 * EFR, read-only config bytes) and re-derives every derived field, each
 * device's translation mode, and an empty IOTLB from the registers and the
 * device table (in this profile the mode is a function of the DTE, read when
 * asked, so it cannot go stale).  The qemu-10.1 description has QEMU's fields only and no
 * post_load: what the stream says is what the device gets.  Both refuse to
 * save unless the PCI function was placed explicitly (spec §3.4).
 */
#include "sim_base.h"

#include "amdvi.h"
#include "amdvi_int.h"

static void error_set(struct amdvi *dev, const char *text)
{
  snprintf(dev->error, sizeof dev->error, "%s", text);
}

static int amdvi_pre_save(void *opaque)
{
  struct amdvi *dev = opaque;
  if (!dev->config.pci_placed_explicitly) {
    error_set(dev, "amd-iommu: migration blocked: AMDVI-PCI was not placed explicitly "
                   "(give it a fixed bus/devfn, pci-id rule)");
    return -1;
  }
  if (!amdvi__qemu(dev)) {
    char names[AMDVI_ERROR_BYTES];
    SIM_ASSERT(amdvi_derived_check(dev, names, sizeof names) == 0); /* paired with post_load */
  }
  /* Relative to the VM's stop: a save that waits for the link must not spend owed time. */
  uint64_t now_ns = dev->ats_stopped ? dev->ats_stopped_ns : sim_now_ns(dev->sim);
  for (uint32_t i = 0; i < AMDVI_ATS_PENDING_MAX; i++) {
    bool used = i < dev->ats_pending_count;
    uint64_t complete_ns = dev->ats_complete_ns[i], deadline_ns = dev->ats_deadline_ns[i];
    dev->mig_ats_complete_in_ns[i] =
        !used ? 0 : complete_ns == UINT64_MAX ? UINT64_MAX
                                              : (complete_ns > now_ns ? complete_ns - now_ns : 0);
    dev->mig_ats_deadline_in_ns[i] = !used ? 0 : deadline_ns > now_ns ? deadline_ns - now_ns : 0;
  }
  dev->error[0] = '\0';
  return 0;
}


/* Before a load: no ATS invalidation is owed unless "amd-iommu/ats" says so. */
static int amdvi_pre_load(void *opaque)
{
  amdvi__ats_clear(opaque);
  return 0;
}

/* Validates "amd-iommu/ats" and turns its relative instants into absolute ones. */
static bool ats_pending_load(struct amdvi *dev)
{
  if (dev->ats_pending_count > AMDVI_ATS_PENDING_MAX) {
    snprintf(dev->error, sizeof dev->error,
             "amd-iommu/ats/ats_pending_count: %u exceeds %u", (unsigned)dev->ats_pending_count,
             (unsigned)AMDVI_ATS_PENDING_MAX);
    return false;
  }
  uint64_t now_ns = sim_now_ns(dev->sim);
  for (uint32_t i = 0; i < dev->ats_pending_count; i++) {
    uint64_t complete_in = dev->mig_ats_complete_in_ns[i];
    uint64_t deadline_in = dev->mig_ats_deadline_in_ns[i];
    if (deadline_in > AMDVI_ATS_INV_TIMEOUT_NS_MAX || dev->ats_start[i] > dev->ats_last[i] ||
        (complete_in != UINT64_MAX && complete_in > AMDVI_ATS_INV_TIMEOUT_NS_MAX)) {
      snprintf(dev->error, sizeof dev->error,
               "amd-iommu/ats/ats_deadline_in_ns: entry %u out of range", (unsigned)i);
      return false;
    }
    dev->ats_complete_ns[i] = complete_in == UINT64_MAX ? UINT64_MAX : now_ns + complete_in;
    dev->ats_deadline_ns[i] = now_ns + deadline_in;
  }
  for (uint32_t i = dev->ats_pending_count; i < AMDVI_ATS_PENDING_MAX; i++) {
    if (dev->ats_devid[i] != 0 || dev->ats_cmd_gpa[i] != 0 || dev->ats_start[i] != 0 ||
        dev->ats_last[i] != 0 || dev->mig_ats_complete_in_ns[i] != 0 ||
        dev->mig_ats_deadline_in_ns[i] != 0) {
      snprintf(dev->error, sizeof dev->error,
               "amd-iommu/ats/ats_devid: unused slot %u is not zero", (unsigned)i);
      return false;
    }
  }
  amdvi__ats_relative_clear(dev);
  dev->ats_stopped = true; /* counts down from the destination's resume (amdvi_vm_resume) */
  dev->ats_stopped_ns = now_ns;
  return true;
}

static bool masks_equal(struct amdvi *dev)
{
  uint8_t *saved = malloc(2 * AMDVI_MMIO_BYTES);
  SIM_ASSERT(saved != NULL);
  memcpy(saved, dev->romask, AMDVI_MMIO_BYTES);
  memcpy(saved + AMDVI_MMIO_BYTES, dev->w1cmask, AMDVI_MMIO_BYTES);
  amdvi__masks_build(dev);
  bool equal = memcmp(saved, dev->romask, AMDVI_MMIO_BYTES) == 0 &&
               memcmp(saved + AMDVI_MMIO_BYTES, dev->w1cmask, AMDVI_MMIO_BYTES) == 0;
  free(saved);
  return equal;
}

/* Read-only register bits hold their reset values (EFR is checked on its own). */
static bool mmio_readonly_clean(struct amdvi *dev)
{
  for (uint32_t i = 0; i < AMDVI_MMIO_BYTES; i++) {
    if (i >= AMDVI_MMIO_EFR && i < AMDVI_MMIO_EFR + 8) continue;
    uint8_t fixed = dev->romask[i];
    if (i == AMDVI_MMIO_STATUS) {
      fixed &= (uint8_t)~(AMDVI_STATUS_EVTLOG_RUN | AMDVI_STATUS_CMDBUF_RUN |
                          AMDVI_STATUS_PPRLOG_RUN); /* re-derived */
    }
    if ((dev->mmior[i] & fixed) != 0) {
      snprintf(dev->error, sizeof dev->error,
               "amd-iommu/mmior: read-only bits set at offset 0x%x", (unsigned)i);
      return false;
    }
  }
  return true;
}

static bool pci_readonly_equal(const struct amdvi *dev)
{
  for (uint32_t i = 0; i < AMDVI_PCI_CONFIG_BYTES; i++) {
    uint8_t fixed = (uint8_t)~(dev->pci_wmask[i] | dev->pci_w1cmask[i]);
    if ((dev->pci_config[i] & fixed) != (dev->pci_reset[i] & fixed)) return false;
  }
  return true;
}

/* Wraps a head the qemu-10.1 profile left at the ring size (issue #3338) to 0. */
static void command_head_normalize(struct amdvi *dev)
{
  uint64_t ring_bytes = dev->cmdbuf_len * AMDVI_CMD_BYTES;
  if (ring_bytes != 0 && dev->cmdbuf_head == ring_bytes) {
    amdvi__reg_set(dev, AMDVI_MMIO_CMDBUF_HEAD, 0);
    dev->cmdbuf_head = 0;
  }
}

static int amdvi_post_load(void *opaque, int32_t version_id)
{
  struct amdvi *dev = opaque;
  (void)version_id;
  if (!masks_equal(dev)) {
    error_set(dev, "amd-iommu: romask/w1cmask in the stream differ from this device's masks");
    return -1;
  }
  if (amdvi__reg(dev, AMDVI_MMIO_EFR) != dev->cfg_efr) {
    error_set(dev, "amd-iommu: mmior EFR differs from the destination's properties");
    return -1;
  }
  if (!mmio_readonly_clean(dev)) return -1;
  if (!pci_readonly_equal(dev)) {
    error_set(dev, "amd-iommu/pci: read-only config bytes (ids, capabilities) differ");
    return -1;
  }
  if (!ats_pending_load(dev)) return -1;
  /* Nothing derived is trusted from the stream (spec §9.4 invariant 2). */
  amdvi__derive_from_registers(dev);
  command_head_normalize(dev);
  amdvi__iotlb_flush_all(dev);
  dev->error[0] = '\0';
  sim_trace(dev->sim, "amdvi.post_load", dev->cmdbuf_head, dev->cmdbuf_tail, dev->evtlog_tail,
            dev->enabled);
  return 0;
}

static bool always_needed(void *opaque)
{
  (void)opaque;
  return true;
}

static bool halt_needed(void *opaque)
{
  return ((struct amdvi *)opaque)->cmdbuf_halted;
}

static const struct vmstate_field pci_fields[] = {
    VMSTATE_BUFFER(struct amdvi, pci_config),
};

static const struct vmstate_desc pci_desc = {
    .name = "amd-iommu/pci", .version_id = 1, .minimum_version_id = 1,
    .fields = pci_fields, .field_count = SIM_ARRAY_COUNT(pci_fields),
    .needed = always_needed,
};

static const struct vmstate_field config_fields[] = {
    VMSTATE_UINT16_EQUAL(struct amdvi, cfg_bdf),
    VMSTATE_UINT32_EQUAL(struct amdvi, cfg_props),
    VMSTATE_UINT64_EQUAL(struct amdvi, cfg_efr),
    VMSTATE_UINT8_EQUAL(struct amdvi, cfg_cap_offset),
};

static const struct vmstate_desc config_desc = {
    .name = "amd-iommu/config", .version_id = 1, .minimum_version_id = 1,
    .fields = config_fields, .field_count = SIM_ARRAY_COUNT(config_fields),
    .needed = always_needed,
};

static const struct vmstate_field halt_fields[] = {
    VMSTATE_BOOL(struct amdvi, cmdbuf_halted),
};

static const struct vmstate_desc halt_desc = {
    .name = "amd-iommu/halt", .version_id = 1, .minimum_version_id = 1,
    .fields = halt_fields, .field_count = SIM_ARRAY_COUNT(halt_fields),
    .needed = halt_needed,
};

static bool ats_needed(void *opaque)
{
  return ((struct amdvi *)opaque)->ats_pending_count > 0;
}

static const struct vmstate_field ats_fields[] = {
    VMSTATE_UINT32(struct amdvi, ats_pending_count),
    VMSTATE_UINT16_ARRAY(struct amdvi, ats_devid, AMDVI_ATS_PENDING_MAX),
    VMSTATE_UINT64_ARRAY(struct amdvi, ats_cmd_gpa, AMDVI_ATS_PENDING_MAX),
    VMSTATE_UINT64_ARRAY(struct amdvi, ats_start, AMDVI_ATS_PENDING_MAX),
    VMSTATE_UINT64_ARRAY(struct amdvi, ats_last, AMDVI_ATS_PENDING_MAX),
    VMSTATE_UINT64_ARRAY(struct amdvi, mig_ats_complete_in_ns, AMDVI_ATS_PENDING_MAX),
    VMSTATE_UINT64_ARRAY(struct amdvi, mig_ats_deadline_in_ns, AMDVI_ATS_PENDING_MAX),
};

static const struct vmstate_desc ats_desc = {
    .name = "amd-iommu/ats", .version_id = 1, .minimum_version_id = 1,
    .fields = ats_fields, .field_count = SIM_ARRAY_COUNT(ats_fields),
    .needed = ats_needed,
};

/* RMP_BASE/RMP_END: configuration, sent only when set (cfg_props carries "set"). */
static bool snp_needed(void *opaque)
{
  return amdvi__rmp_on((struct amdvi *)opaque);
}

static const struct vmstate_field snp_fields[] = {
    VMSTATE_UINT64_EQUAL(struct amdvi, cfg_rmp_base),
    VMSTATE_UINT64_EQUAL(struct amdvi, cfg_rmp_end),
};

static const struct vmstate_desc snp_desc = {
    .name = "amd-iommu/snp", .version_id = 1, .minimum_version_id = 1,
    .fields = snp_fields, .field_count = SIM_ARRAY_COUNT(snp_fields),
    .needed = snp_needed,
};

static const struct vmstate_desc *const subsections[] = {&pci_desc, &config_desc, &snp_desc,
                                                         &halt_desc, &ats_desc};

/* QEMU 10.1's "amd-iommu" fields, in its order (spec §9.1). */
static const struct vmstate_field qemu_fields[] = {
    VMSTATE_BOOL(struct amdvi, enabled),
    VMSTATE_BOOL(struct amdvi, ga_enabled),
    VMSTATE_UNUSED(1), /* was ats_enabled */
    VMSTATE_BOOL(struct amdvi, cmdbuf_enabled),
    VMSTATE_BOOL(struct amdvi, completion_wait_intr),
    VMSTATE_BOOL(struct amdvi, evtlog_enabled),
    VMSTATE_BOOL(struct amdvi, evtlog_intr),
    VMSTATE_UINT64(struct amdvi, devtab),
    VMSTATE_UINT64(struct amdvi, devtab_len),
    VMSTATE_UINT64(struct amdvi, cmdbuf),
    VMSTATE_UINT64(struct amdvi, cmdbuf_len),
    VMSTATE_UINT32(struct amdvi, cmdbuf_head),
    VMSTATE_UINT32(struct amdvi, cmdbuf_tail),
    VMSTATE_UINT64(struct amdvi, evtlog),
    VMSTATE_UINT32(struct amdvi, evtlog_len),
    VMSTATE_UINT32(struct amdvi, evtlog_head),
    VMSTATE_UINT32(struct amdvi, evtlog_tail),
    VMSTATE_UINT64(struct amdvi, ppr_log),
    VMSTATE_UINT32(struct amdvi, pprlog_len),
    VMSTATE_UINT32(struct amdvi, pprlog_head),
    VMSTATE_UINT32(struct amdvi, pprlog_tail),
    VMSTATE_BUFFER(struct amdvi, mmior),
    VMSTATE_BUFFER(struct amdvi, romask),
    VMSTATE_BUFFER(struct amdvi, w1cmask),
};

const struct vmstate_desc amdvi_vmstate = {
    .name = "amd-iommu",
    .version_id = 1,
    .minimum_version_id = 1,
    .priority = VMSTATE_PRIORITY_IOMMU,
    .fields = qemu_fields,
    .field_count = SIM_ARRAY_COUNT(qemu_fields),
    .subsections = subsections,
    .subsection_count = SIM_ARRAY_COUNT(subsections),
    .pre_save = amdvi_pre_save,
    .pre_load = amdvi_pre_load,
    .post_load = amdvi_post_load,
};

const struct vmstate_desc amdvi_vmstate_qemu_10_1 = {
    .name = "amd-iommu",
    .version_id = 1,
    .minimum_version_id = 1,
    .priority = VMSTATE_PRIORITY_IOMMU,
    .fields = qemu_fields,
    .field_count = SIM_ARRAY_COUNT(qemu_fields),
    .pre_save = amdvi_pre_save,
};

const struct vmstate_desc *amdvi_vmstate_desc(const struct amdvi *dev)
{
  return amdvi__qemu(dev) ? &amdvi_vmstate_qemu_10_1 : &amdvi_vmstate;
}
