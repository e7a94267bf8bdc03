/*
 * dmadev.c: the DMA engine of dmadev.h and its vmstate table.
 *
 * The engine runs in guest time: a step is one sim event at a guest time
 * carried in the migrated state (next_step_vm_ns), converted to sim time by
 * the machine's VM clock, so a transfer cut by a migration resumes on the
 * destination at the same guest time it would have run on the source.
 * Steps land on odd guest nanoseconds and the guest driver (devdrv.c) ticks
 * on even ones, so the two never race for the same instant and event order
 * cannot differ between a migrated and an unmigrated run.  Several engines
 * split the odd nanoseconds into slots (dmadev.h) for the same reason.  One
 * event serves both the next step and the next MSI delivery.
 */
#include "sim_base.h"

#include "dmadev.h"

static bool identity_translate(void *opaque, uint16_t devid, uint64_t iova, bool is_write,
                               uint64_t *gpa)
{
  (void)opaque;
  (void)devid;
  (void)is_write;
  *gpa = iova;
  return true;
}

/* MSIs reach an interrupt controller (else they are only counted in the function). */
static bool msi_wired(const struct dmadev *dev)
{
  return dev->host != NULL && dev->host->msi_wired;
}

static uint16_t dmadev_devid(const struct dmadev *dev)
{
  return (uint16_t)((uint32_t)dev->pci.bus << 8 | (uint32_t)dev->pci.slot << 3 |
                    dev->pci.function);
}

/* ats-stale: the device's own copy of its entries, which invalidations never reach. */
static bool ats_kept_lookup(const struct dmadev *dev, uint64_t iova, bool is_write,
                            uint64_t *address)
{
  for (uint32_t i = 0; i < AMDVI_ATC_ENTRIES; i++) {
    const struct amdvi_atc_entry *entry = &dev->ats_kept[i];
    if (!entry->valid || iova < entry->iova || iova - entry->iova >= entry->page_bytes) continue;
    if (is_write ? !entry->write_ok : !entry->read_ok) return false;
    *address = entry->address + (iova - entry->iova);
    return true;
  }
  return false;
}

static void ats_kept_fill(struct dmadev *dev, uint64_t iova, const struct amdvi_ats_result *res)
{
  SIM_ASSERT(res->page_bytes >= RAM_PAGE_BYTES && (res->page_bytes & (res->page_bytes - 1)) == 0);
  uint64_t base = iova & ~(res->page_bytes - 1);
  uint32_t slot = AMDVI_ATC_ENTRIES;
  for (uint32_t i = 0; i < AMDVI_ATC_ENTRIES && slot == AMDVI_ATC_ENTRIES; i++) {
    if (!dev->ats_kept[i].valid || dev->ats_kept[i].iova == base) slot = i;
  }
  if (slot == AMDVI_ATC_ENTRIES) {
    slot = dev->ats_kept_victim % AMDVI_ATC_ENTRIES;
    dev->ats_kept_victim = (slot + 1) % AMDVI_ATC_ENTRIES;
  }
  dev->ats_kept[slot] = (struct amdvi_atc_entry){
      .valid = true, .read_ok = res->read_ok, .write_ok = res->write_ok, .iova = base,
      .page_bytes = res->page_bytes, .address = res->address};
}

/*
 * The device's ATC lookup.  With ats-stale the device uses its kept copy;
 * an entry the IOMMU's invalidation removed from the real ATC (the device
 * acknowledged it) is a stale translation: counted and traced, so the
 * machine's invariant check names it.
 */
static bool ats_lookup(struct dmadev *dev, uint64_t iova, bool is_write, uint64_t *address)
{
  if (!dev->quirk_ats_stale) return amdvi_atc_lookup(&dev->atc, iova, is_write, address);
  if (!ats_kept_lookup(dev, iova, is_write, address)) return false;
  uint64_t current = 0;
  if (!amdvi_atc_lookup(&dev->atc, iova, is_write, &current) || current != *address) {
    if (dev->ats.stale_count++ == 0) dev->ats.stale_iova_first = iova;
    sim_trace(dev->sim, "dmadev.ats_stale", dev->atc.devid, iova, *address, is_write);
  }
  return true;
}

/*
 * One page through ATS: the ATC, else a translation request (the IOMMU caches
 * the answer in the ATC), then a pre-translated access.  A device the IOMMU
 * does not confine uses the untranslated path, as without ATS.
 */
static bool ats_translate(struct dmadev *dev, uint16_t devid, uint64_t iova, bool is_write,
                          uint64_t *gpa)
{
  struct amdvi *iommu = dev->ats_iommu;
  SIM_ASSERT(iommu != NULL && devid == dev->atc.devid);
  if (!amdvi_device_translated(iommu, devid)) {
    *gpa = iova;
    return true;
  }
  uint64_t address = 0;
  if (ats_lookup(dev, iova, is_write, &address)) {
    dev->ats.hits_count++;
  } else {
    dev->ats.requests_count++;
    struct amdvi_ats_request request = {.devid = devid, .iova = iova};
    struct amdvi_ats_result result;
    amdvi_ats_translate(iommu, &request, &dev->atc, &result);
    bool allowed = is_write ? result.write_ok : result.read_ok;
    if (result.status != AMDVI_ATS_SUCCESS || !allowed) {
      dev->ats.failed_count++;
      return false;
    }
    SIM_ASSERT(result.page_bytes >= RAM_PAGE_BYTES);
    if (dev->quirk_ats_stale) ats_kept_fill(dev, iova, &result);
    address = result.address + (iova & (result.page_bytes - 1));
  }
  struct amdvi_xlate_result access;
  amdvi_ats_translated_access(iommu, devid, address, is_write, &access);
  if (access.status != AMDVI_XLATE_OK) return false;
  *gpa = access.address;
  return true;
}

/* DMA through the translation hook (or ATS), split at page boundaries of the iova. */
static bool dma_access(struct dmadev *dev, uint64_t iova, uint8_t *bytes, uint32_t count,
                       bool is_write)
{
  if (!pci_bus_master_enabled(&dev->pci)) return false;
  while (count > 0) {
    uint32_t in_page = RAM_PAGE_BYTES - (uint32_t)(iova % RAM_PAGE_BYTES);
    uint32_t segment = SIM_MIN(count, in_page);
    uint64_t gpa = 0;
    bool translated = dev->ats_iommu != NULL
                          ? ats_translate(dev, dmadev_devid(dev), iova, is_write, &gpa)
                          : dev->translate(dev->translate_opaque, dmadev_devid(dev), iova,
                                           is_write, &gpa);
    if (!translated) return false;
    bool ok = is_write ? dev_host_dma_write(dev->host, gpa, bytes, segment)
                       : dev_host_dma_read(dev->host, gpa, bytes, segment);
    if (!ok) return false;
    iova += segment;
    bytes += segment;
    count -= segment;
  }
  return true;
}

static uint64_t le_get(const uint8_t *bytes, uint32_t count)
{
  uint64_t value = 0;
  for (uint32_t i = 0; i < count; i++) value |= (uint64_t)bytes[i] << (8 * i);
  return value;
}

static bool busy(const struct dmadev *dev) { return (dev->status & DMADEV_STATUS_BUSY) != 0; }

/* The first guest instant >= at in this engine's slot (odd; one engine: at | 1). */
static uint64_t slot_time(const struct dmadev *dev, uint64_t at)
{
  SIM_ASSERT(dev->slot_index < dev->slot_count);
  uint64_t odd = at | 1u;
  uint64_t phase = (odd >> 1) % dev->slot_count;
  uint64_t wait = (dev->slot_index + dev->slot_count - phase) % dev->slot_count;
  return odd + 2 * wait;
}

/* Arms the event at the next step (busy) or MSI delivery (pending), whichever is first. */
static void step_arm(struct dmadev *dev)
{
  bool step = busy(dev), msi = dev->msi_pending_count != 0;
  if ((!step && !msi) || !dev_host_running(dev->host)) return;
  uint64_t now_vm_ns = dev_host_vm_ns(dev->host);
  /* Only a stream can put these in the past (sections may arrive in any order). */
  if (step && dev->next_step_vm_ns < now_vm_ns) {
    dev->next_step_vm_ns = slot_time(dev, now_vm_ns);
    sim_trace(dev->sim, "dmadev.step_late", dmadev_devid(dev), now_vm_ns, 0, 0);
  }
  if (msi && dev->next_msi_vm_ns < now_vm_ns) {
    dev->next_msi_vm_ns = slot_time(dev, now_vm_ns);
    sim_trace(dev->sim, "dmadev.msi_late", dmadev_devid(dev), now_vm_ns, 0, 0);
  }
  uint64_t at_vm_ns = step ? dev->next_step_vm_ns : UINT64_MAX;
  if (msi) at_vm_ns = SIM_MIN(at_vm_ns, dev->next_msi_vm_ns);
  sim_event_schedule_at(dev->sim, &dev->event, dev_host_sim_ns_at(dev->host, at_vm_ns));
}

/* The completion interrupt, with a hook: pending until its delivery slot. */
static void msi_raise(struct dmadev *dev)
{
  if (!msi_wired(dev) || !pci_msi_enabled(&dev->pci)) return;
  if (dev->msi_pending_count == 0) {
    dev->next_msi_vm_ns = slot_time(dev, dev_host_vm_ns(dev->host) + dev->msi_delay_ns);
  }
  if (dev->msi_pending_count < DMADEV_MSI_PENDING_MAX) dev->msi_pending_count++;
  step_arm(dev);
}

/* Sends one MSI for the pending completions, as the MSI capability now says. */
static void msi_deliver(struct dmadev *dev)
{
  SIM_ASSERT(msi_wired(dev) && dev->pci.msi_offset != 0);
  SIM_ASSERT(dev->msi_pending_count != 0);
  const uint8_t *cap = dev->pci.config + dev->pci.msi_offset;
  uint64_t address = le_get(cap + 4, 4) | le_get(cap + 8, 4) << 32;
  uint32_t data = (uint32_t)le_get(cap + 12, 2);
  sim_trace(dev->sim, "dmadev.msi", dmadev_devid(dev), address, data, dev->msi_pending_count);
  dev->msi_pending_count = 0;
  dev->next_msi_vm_ns = 0;
  dev->msi_sent_count++;
  dev_host_msi(dev->host, dmadev_devid(dev), address, data);
}

/* The next step ends one step's duration after from_vm_ns, on an odd guest nanosecond. */
static void step_plan(struct dmadev *dev, uint64_t from_vm_ns)
{
  SIM_ASSERT(dev->cur_done_bytes < dev->cur_bytes);
  uint64_t step_bytes = SIM_MIN(DMADEV_CHUNK_BYTES, dev->cur_bytes - dev->cur_done_bytes);
  uint64_t step_ns = SIM_MAX(step_bytes * SIM_NS_PER_S / dev->bandwidth_bytes_per_s, 1);
  dev->next_step_vm_ns = slot_time(dev, from_vm_ns + step_ns);
  step_arm(dev);
}

/* Writes the descriptor's status, retires it and raises the interrupt it asks for. */
static void descriptor_retire(struct dmadev *dev, bool ok)
{
  uint8_t status[4] = {ok ? DMADEV_DESC_DONE : DMADEV_DESC_FAILED, 0, 0, 0};
  uint64_t at = dev->ring_base + (uint64_t)dev->head * DMADEV_DESC_BYTES + 24;
  bool written = dma_access(dev, at, status, sizeof(status), true);
  if (ok && written) {
    dev->retired_bytes += dev->cur_bytes;
  } else {
    dev->failed_count++;
    dev->copied_bytes -= dev->cur_done_bytes; /* a failed descriptor's bytes do not count */
  }
  dev->completed_count++;
  dev->head = (dev->head + 1) % dev->ring_entries;
  if ((dev->cur_flags & DMADEV_DESC_FLAG_IRQ) != 0) {
    pci_irq_raise(&dev->pci);
    dev->irq_count++;
    msi_raise(dev);
  }
  sim_trace(dev->sim, "dmadev.retire", dmadev_devid(dev), dev->head, ok && written,
            dev->completed_count);
  dev->status &= ~DMADEV_STATUS_BUSY;
  dev->cur_src = dev->cur_dst = 0;
  dev->cur_bytes = dev->cur_flags = dev->cur_done_bytes = 0;
}

/* Takes descriptors until one is valid (then busy) or the ring is empty; bounded by its size. */
static void descriptor_take(struct dmadev *dev, uint64_t now_vm_ns)
{
  for (uint32_t tries = 0; tries < dev->ring_entries; tries++) {
    if (busy(dev) || dev->head == dev->tail) return;
    if ((dev->ctrl & DMADEV_CTRL_ENABLE) == 0 || (dev->status & DMADEV_STATUS_ERROR) != 0) {
      return;
    }
    uint8_t desc[DMADEV_DESC_BYTES];
    uint64_t at = dev->ring_base + (uint64_t)dev->head * DMADEV_DESC_BYTES;
    bool fetched = dma_access(dev, at, desc, sizeof(desc), false);
    dev->status |= DMADEV_STATUS_BUSY;
    dev->cur_src = le_get(desc, 8);
    dev->cur_dst = le_get(desc + 8, 8);
    dev->cur_bytes = (uint32_t)le_get(desc + 16, 4);
    dev->cur_flags = (uint32_t)le_get(desc + 20, 4);
    dev->cur_done_bytes = 0;
    sim_trace(dev->sim, "dmadev.take", dmadev_devid(dev), dev->head, dev->cur_bytes,
              dev->cur_flags);
    /* A guest may write any length: refuse what no transfer may be, never trust it. */
    if (!fetched || dev->cur_bytes == 0 || dev->cur_bytes > DMADEV_TRANSFER_BYTES_MAX) {
      dev->cur_bytes = 0;
      descriptor_retire(dev, false);
      continue;
    }
    step_plan(dev, now_vm_ns);
    return;
  }
}

static void dmadev_step(struct dmadev *dev)
{
  SIM_ASSERT(busy(dev));
  SIM_ASSERT(dev_host_vm_ns(dev->host) == dev->next_step_vm_ns);
  uint32_t step_bytes = SIM_MIN(DMADEV_CHUNK_BYTES, dev->cur_bytes - dev->cur_done_bytes);
  uint8_t bytes[DMADEV_CHUNK_BYTES];
  bool ok = dma_access(dev, dev->cur_src + dev->cur_done_bytes, bytes, step_bytes, false) &&
            dma_access(dev, dev->cur_dst + dev->cur_done_bytes, bytes, step_bytes, true);
  if (!ok) {
    descriptor_retire(dev, false);
  } else {
    dev->cur_done_bytes += step_bytes;
    /* The quirk: a short last step is accounted as a whole page, an emulation bug. */
    bool overrun = dev->quirk_overrun && step_bytes < DMADEV_CHUNK_BYTES;
    dev->copied_bytes += overrun ? DMADEV_CHUNK_BYTES : step_bytes;
    sim_trace(dev->sim, "dmadev.step", dmadev_devid(dev), dev->head, dev->cur_done_bytes,
              dev->cur_bytes);
    if (dev->cur_done_bytes == dev->cur_bytes) {
      descriptor_retire(dev, true);
    } else {
      step_plan(dev, dev->next_step_vm_ns);
      return;
    }
  }
  descriptor_take(dev, dev->next_step_vm_ns);
}

static void dmadev_on_event(struct sim *sim, struct sim_event *event)
{
  struct dmadev *dev = SIM_CONTAINER_OF(event, struct dmadev, event);
  (void)sim;
  SIM_ASSERT(dev_host_running(dev->host));
  uint64_t now_vm_ns = dev_host_vm_ns(dev->host);
  if (dev->msi_pending_count != 0 && dev->next_msi_vm_ns == now_vm_ns) msi_deliver(dev);
  if (busy(dev) && dev->next_step_vm_ns == now_vm_ns) dmadev_step(dev);
  if (!sim_event_armed(&dev->event)) step_arm(dev);
}

bool dmadev_self_check(struct dmadev *dev)
{
  char *why = dev->error_message;
  size_t why_bytes = sizeof(dev->error_message);
  uint64_t accounted = dev->retired_bytes + dev->cur_done_bytes;
  if (dev->head >= dev->ring_entries || dev->tail >= dev->ring_entries) {
    snprintf(why, why_bytes, "ring index out of range (head %" PRIu32 ", tail %" PRIu32 ")",
             dev->head, dev->tail);
  } else if (dev->cur_done_bytes > dev->cur_bytes) {
    snprintf(why, why_bytes, "progress %" PRIu32 " past length %" PRIu32,
             dev->cur_done_bytes, dev->cur_bytes);
  } else if (dev->copied_bytes != accounted) {
    snprintf(why, why_bytes, "copied %" PRIu64 " bytes, descriptors account for %" PRIu64,
             dev->copied_bytes, accounted);
  } else {
    return true;
  }
  /* Seed 003: log, enter the error state, let the rest of the VM run on. */
  sim_trace(dev->sim, "dmadev.selfcheck", dmadev_devid(dev), dev->copied_bytes, accounted,
            dev->head);
  dev->status = (dev->status & ~DMADEV_STATUS_BUSY) | DMADEV_STATUS_ERROR;
  sim_event_cancel(dev->sim, &dev->event);
  return false;
}

static int dmadev_pre_save(void *opaque)
{
  struct dmadev *dev = opaque;
  if (!ALWAYS(dev->ring_entries >= 2)) return -1;
  return dmadev_self_check(dev) ? 0 : -1;
}

/* The stream is hostile: every index and length it set must fit what the engine assumes. */
static int dmadev_post_load(void *opaque, int32_t version_id)
{
  const struct dmadev *dev = opaque;
  (void)version_id;
  if (dev->head >= dev->ring_entries || dev->tail >= dev->ring_entries) return -1;
  if (dev->cur_bytes > DMADEV_TRANSFER_BYTES_MAX || dev->cur_done_bytes > dev->cur_bytes) {
    return -1;
  }
  if ((dev->status & ~(DMADEV_STATUS_BUSY | DMADEV_STATUS_ERROR)) != 0) return -1;
  if (busy(dev) && dev->cur_done_bytes == dev->cur_bytes) return -1;
  if (busy(dev) && dev->next_step_vm_ns % 2 == 0) return -1; /* steps are on odd guest ns */
  if (dev->next_step_vm_ns > DMADEV_STEP_VM_NS_MAX) return -1;  /* keeps sim time finite */
  if (dev->ring_base % DMADEV_DESC_BYTES != 0) return -1;
  if (dev->msi_pending_count > DMADEV_MSI_PENDING_MAX) return -1;
  if (dev->msi_pending_count != 0 && !msi_wired(dev)) return -1; /* nowhere to deliver */
  if (dev->msi_pending_count != 0 &&
      (dev->next_msi_vm_ns % 2 == 0 || dev->next_msi_vm_ns > DMADEV_STEP_VM_NS_MAX)) {
    return -1;
  }
  return 0;
}

static bool dmadev_msi_needed(void *opaque)
{
  const struct dmadev *dev = opaque;
  return msi_wired(dev);
}

/* msi_pending_count first: the quirk_msi_lost table starts after it. */
static const struct vmstate_field dmadev_msi_fields[] = {
    VMSTATE_UINT32(struct dmadev, msi_pending_count),
    VMSTATE_UINT64_EQUAL(struct dmadev, msi_delay_ns),
    VMSTATE_UINT64(struct dmadev, next_msi_vm_ns),
    VMSTATE_UINT64(struct dmadev, msi_sent_count),
};

static const struct vmstate_desc dmadev_msi_vmstate = {
    .name = "dmadev/msi",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = dmadev_msi_fields,
    .field_count = SIM_ARRAY_COUNT(dmadev_msi_fields),
    .needed = dmadev_msi_needed,
};

/* The quirk: a device model that forgot its pending interrupt (the first field). */
static const struct vmstate_desc dmadev_msi_lost_vmstate = {
    .name = "dmadev/msi",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = dmadev_msi_fields + 1,
    .field_count = SIM_ARRAY_COUNT(dmadev_msi_fields) - 1,
    .needed = dmadev_msi_needed,
};

static const struct vmstate_desc *const dmadev_subsections[] = {&dmadev_msi_vmstate};
static const struct vmstate_desc *const dmadev_lost_subsections[] = {&dmadev_msi_lost_vmstate};

static const struct vmstate_field dmadev_fields[] = {
    VMSTATE_STRUCT(struct dmadev, pci, struct pci_function, pci_function_vmstate),
    VMSTATE_UINT32_EQUAL(struct dmadev, ring_entries),
    VMSTATE_UINT64_EQUAL(struct dmadev, bandwidth_bytes_per_s),
    VMSTATE_UINT64(struct dmadev, ring_base),
    VMSTATE_UINT32(struct dmadev, ctrl),
    VMSTATE_UINT32(struct dmadev, tail),
    VMSTATE_UINT32(struct dmadev, head),
    VMSTATE_UINT32(struct dmadev, status),
    VMSTATE_UINT64(struct dmadev, completed_count),
    VMSTATE_UINT64(struct dmadev, failed_count),
    VMSTATE_UINT64(struct dmadev, irq_count),
    VMSTATE_UINT64(struct dmadev, cur_src),
    VMSTATE_UINT64(struct dmadev, cur_dst),
    VMSTATE_UINT32(struct dmadev, cur_bytes),
    VMSTATE_UINT32(struct dmadev, cur_flags),
    VMSTATE_UINT32(struct dmadev, cur_done_bytes),
    VMSTATE_UINT64(struct dmadev, next_step_vm_ns),
    VMSTATE_UINT64(struct dmadev, copied_bytes),
    VMSTATE_UINT64(struct dmadev, retired_bytes),
};

const struct vmstate_desc dmadev_vmstate = {
    .name = "dmadev",
    .version_id = 1,
    .minimum_version_id = 1,
    .priority = VMSTATE_PRIORITY_DEFAULT,
    .fields = dmadev_fields,
    .field_count = SIM_ARRAY_COUNT(dmadev_fields),
    .subsections = dmadev_subsections,
    .subsection_count = SIM_ARRAY_COUNT(dmadev_subsections),
    .pre_save = dmadev_pre_save,
    .post_load = dmadev_post_load,
};

static const struct vmstate_desc dmadev_msi_lost_top_vmstate = {
    .name = "dmadev",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = dmadev_fields,
    .field_count = SIM_ARRAY_COUNT(dmadev_fields),
    .subsections = dmadev_lost_subsections,
    .subsection_count = SIM_ARRAY_COUNT(dmadev_lost_subsections),
    .pre_save = dmadev_pre_save,
    .post_load = dmadev_post_load,
};

const struct vmstate_desc *dmadev_vmstate_desc(const struct dmadev *dev)
{
  return dev->quirk_msi_lost ? &dmadev_msi_lost_top_vmstate : &dmadev_vmstate;
}

struct dmadev *dmadev_create(struct sim *sim, const struct dev_host *host,
                             const struct dmadev_config *config)
{
  SIM_ASSERT(config->ring_entries >= 2 && config->ring_entries <= DMADEV_RING_ENTRIES_MAX);
  SIM_ASSERT(config->bandwidth_bytes_per_s >= 1 &&
             config->bandwidth_bytes_per_s <= DMADEV_BANDWIDTH_BYTES_PER_S_MAX);
  struct dmadev *dev = sim_alloc(sim, sizeof(*dev));
  struct pci_function_id id = {.vendor_id = DMADEV_VENDOR_ID, .device_id = DMADEV_DEVICE_ID,
                               .class_code = 0x088000u, /* system peripheral, other */
                               .revision_id = 1, .subsystem_vendor_id = 0x1af4u,
                               .subsystem_id = 0x1100u, .bar0_bytes = DMADEV_REG_BAR_BYTES};
  pci_function_init(&dev->pci, &id);
  pci_msi_add(&dev->pci);
  dev->ring_entries = config->ring_entries;
  dev->bandwidth_bytes_per_s = config->bandwidth_bytes_per_s;
  dev->quirk_overrun = config->quirk_overrun;
  dev->quirk_msi_lost = config->quirk_msi_lost;
  SIM_ASSERT(config->msi_delay_ns <= DMADEV_MSI_DELAY_NS_MAX);
  dev->msi_delay_ns = config->msi_delay_ns != 0 ? config->msi_delay_ns
                                                 : DMADEV_MSI_DELAY_NS_DEFAULT;
  dev->slot_count = 1;
  dev->translate = identity_translate;
  dev->host = host;
  dev->sim = sim;
  sim_event_init(&dev->event, dmadev_on_event, "dmadev.step");
  return dev;
}

void dmadev_translate_set(struct dmadev *dev, dmadev_translate_fn *translate, void *opaque)
{
  SIM_ASSERT(translate != NULL);
  dev->translate = translate;
  dev->translate_opaque = opaque;
}

void dmadev_ats_set(struct dmadev *dev, struct amdvi *iommu, const struct dmadev_config *config)
{
  SIM_ASSERT(iommu != NULL && dev->ats_iommu == NULL);
  SIM_ASSERT(config->ats && config->ats_response_ns <= DMADEV_ATS_RESPONSE_NS_MAX);
  uint32_t quirks = config->quirk_ats_no_complete ? AMDVI_ATC_QUIRK_NO_COMPLETE : 0;
  amdvi_atc_init(&dev->atc, dmadev_devid(dev), quirks, config->ats_response_ns);
  bool registered = amdvi_atc_register(iommu, &dev->atc);
  SIM_ASSERT(registered); /* one ATC per BDF, at most AMDVI_ATC_DEVICES_MAX (config check) */
  dev->ats_iommu = iommu;
  dev->quirk_ats_stale = config->quirk_ats_stale;
}

void dmadev_host_set(struct dmadev *dev, const struct dev_host *host)
{
  SIM_ASSERT(host != NULL && !sim_event_armed(&dev->event));
  dev->host = host;
}

void dmadev_slot_set(struct dmadev *dev, uint32_t index, uint32_t count)
{
  SIM_ASSERT(count >= 1 && index < count);
  SIM_ASSERT(!busy(dev));
  dev->slot_index = index;
  dev->slot_count = count;
}

uint64_t dmadev_mmio_read(struct dmadev *dev, uint32_t offset)
{
  switch (offset) {
  case DMADEV_REG_RING_BASE: return dev->ring_base;
  case DMADEV_REG_RING_ENTRIES: return dev->ring_entries;
  case DMADEV_REG_CTRL: return dev->ctrl;
  case DMADEV_REG_HEAD: return dev->head;
  case DMADEV_REG_STATUS: return dev->status;
  case DMADEV_REG_COMPLETED: return dev->completed_count;
  default: return UINT64_MAX;
  }
}

void dmadev_mmio_write(struct dmadev *dev, uint32_t offset, uint64_t value)
{
  sim_trace(dev->sim, "dmadev.mmio", dmadev_devid(dev), offset, value, dev->status);
  switch (offset) {
  case DMADEV_REG_RING_BASE:
    /* Moving the ring under a running engine is ignored, as is a misaligned base. */
    if (!busy(dev) && value % DMADEV_DESC_BYTES == 0) dev->ring_base = value;
    break;
  case DMADEV_REG_CTRL:
    dev->ctrl = (uint32_t)(value & DMADEV_CTRL_ENABLE);
    descriptor_take(dev, dev_host_vm_ns(dev->host));
    break;
  case DMADEV_REG_DOORBELL:
    if (value >= dev->ring_entries) break; /* an index past the ring is dropped */
    dev->tail = (uint32_t)value;
    descriptor_take(dev, dev_host_vm_ns(dev->host));
    break;
  default:
    break;
  }
}

void dmadev_stop(struct dmadev *dev) { sim_event_cancel(dev->sim, &dev->event); }

void dmadev_resume(struct dmadev *dev) { step_arm(dev); }

/* ---------------------------------------------------------------- class */

static struct dev_instance dmadev_class_create(const struct dev_create_args *args)
{
  struct dmadev *dev = dmadev_create(args->sim, args->host, dev_props_const(args->config));
  return (struct dev_instance){dev, &dev->pci};
}

static bool dmadev_class_config_check(const struct dev_config *config,
                                      const struct dev_check_env *env, char *why,
                                      size_t why_bytes)
{
  (void)env;
  const struct dmadev_config *dma = dev_props_const(config);
  if (dma->ring_entries < 2 || dma->ring_entries > DMADEV_RING_ENTRIES_MAX) {
    snprintf(why, why_bytes, "ring_entries must be 2..%u", DMADEV_RING_ENTRIES_MAX);
    return false;
  }
  if (dma->msi_delay_ns > DMADEV_MSI_DELAY_NS_MAX) {
    snprintf(why, why_bytes, "msi_delay_ns must be 0..%" PRIu64, DMADEV_MSI_DELAY_NS_MAX);
    return false;
  }
  if ((dma->quirk_ats_stale || dma->quirk_ats_no_complete || dma->ats_response_ns != 0) &&
      !dma->ats) {
    snprintf(why, why_bytes, "ATS quirks and ats_response_ns need \"ats\"");
    return false;
  }
  if (dma->ats && (!config->behind_iommu || dma->ats_response_ns > DMADEV_ATS_RESPONSE_NS_MAX)) {
    snprintf(why, why_bytes, "\"ats\" needs \"iommu\" and ats_response_ns <= %" PRIu64,
             DMADEV_ATS_RESPONSE_NS_MAX);
    return false;
  }
  if (dma->bandwidth_bytes_per_s == 0 ||
      dma->bandwidth_bytes_per_s > DMADEV_BANDWIDTH_BYTES_PER_S_MAX) {
    snprintf(why, why_bytes, "bandwidth must be 1..%" PRIu64 " bytes/s",
             DMADEV_BANDWIDTH_BYTES_PER_S_MAX);
    return false;
  }
  return true;
}

static const struct vmstate_desc *dmadev_class_vmstate(const void *dev)
{
  return dmadev_vmstate_desc(dev);
}

static void dmadev_class_run_state(void *dev, bool running)
{
  if (running) dmadev_resume(dev); else dmadev_stop(dev);
}

static const char *dmadev_class_save_error(const void *opaque)
{
  const struct dmadev *dev = opaque;
  return dev->error_message;
}

static bool dmadev_class_invariants_check(const void *opaque, char *why, size_t why_bytes)
{
  const struct dmadev *dev = opaque;
  if (dev->ats.stale_count == 0) return true;
  snprintf(why, why_bytes, "DMA through a stale ATS translation (%" PRIu64 " accesses, "
           "first iova 0x%" PRIx64 ") after an invalidation the device acknowledged",
           dev->ats.stale_count, dev->ats.stale_iova_first);
  return false;
}

#define DMADEV_PROP(field) DEV_PROPS_OFFSET(struct dmadev_config, field)

static const struct dev_prop dmadev_props_table[] = {
    {.name = "ring_entries", .kind = DEV_PROP_U32, .low = 2, .high = DMADEV_RING_ENTRIES_MAX,
     .default_value = 16, .offset = DMADEV_PROP(ring_entries)},
    {.name = "bandwidth", .kind = DEV_PROP_U64, .low = 1,
     .high = DMADEV_BANDWIDTH_BYTES_PER_S_MAX, .default_value = UINT64_C(268435456),
     .offset = DMADEV_PROP(bandwidth_bytes_per_s)},
    {.name = "iommu", .kind = DEV_PROP_BOOL, .offset = offsetof(struct dev_config, behind_iommu)},
    {.name = "msi_delay_ns", .kind = DEV_PROP_U64, .high = DMADEV_MSI_DELAY_NS_MAX,
     .offset = DMADEV_PROP(msi_delay_ns)},
    {.name = "ats", .kind = DEV_PROP_BOOL, .offset = DMADEV_PROP(ats)},
    {.name = "ats_response_ns", .kind = DEV_PROP_U64, .high = DMADEV_ATS_RESPONSE_NS_MAX,
     .offset = DMADEV_PROP(ats_response_ns)},
};

static const struct dev_quirk dmadev_quirks[] = {
    {"overrun", DMADEV_PROP(quirk_overrun)},
    {"msi-lost", DMADEV_PROP(quirk_msi_lost)},
    {"ats-stale", DMADEV_PROP(quirk_ats_stale)},
    {"ats-no-complete", DMADEV_PROP(quirk_ats_no_complete)},
};

_Static_assert(sizeof(struct dmadev_config) <= DEV_PROPS_BYTES_MAX, "props fit");

static uint32_t dmadev_class_in_flight(const void *opaque)
{
  const struct dmadev *dev = opaque;
  uint32_t state = 0;
  if (dev->cur_done_bytes > 0) state |= UINT32_C(1) << DEV_FLIGHT_DMA;
  if (dev->msi_pending_count > 0) state |= UINT32_C(1) << DEV_FLIGHT_MSI;
  return state;
}

const struct dev_class dmadev_class = {
    .name = "dmadev",
    .props = dmadev_props_table,
    .prop_count = SIM_ARRAY_COUNT(dmadev_props_table),
    .quirks = dmadev_quirks,
    .quirk_count = SIM_ARRAY_COUNT(dmadev_quirks),
    .props_bytes = sizeof(struct dmadev_config),
    .dma_translated = true,
    .config_check = dmadev_class_config_check,
    .create = dmadev_class_create,
    .vmstate = dmadev_class_vmstate,
    .run_state = dmadev_class_run_state,
    .save_error = dmadev_class_save_error,
    .invariants_check = dmadev_class_invariants_check,
    .in_flight = dmadev_class_in_flight,
};
