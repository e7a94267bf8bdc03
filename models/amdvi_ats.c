/*
 * amdvi_ats.c: the device side of the AMD IOMMU: ATS translation caches
 * (ATCs) owned by devices, INVALIDATE_IOTLB_PAGES delivered to them with
 * IOTLB_INV_TIMEOUT (0x7) when a device does not answer, and PPR (page
 * requests) with the PPR log and INVALID_PPR_REQUEST (0x9).  Translation
 * requests themselves live in amdvi_xlate.c next to the page walk.
 *
 * Time is virtual (sim_now_ns).  A device answers an invalidation after its
 * atc->response_ns, or never with AMDVI_ATC_QUIRK_NO_COMPLETE; the IOMMU
 * waits at most the Control.InvTimeOut bound.  Unsettled invalidations are
 * IOMMU state (migrated in "amd-iommu/ats"); a COMPLETION_WAIT behind them
 * stalls the ring until they settle, which amdvi_step or any doorbell checks.
 * Every call does bounded work: at most AMDVI_ATS_PENDING_MAX settlements,
 * AMDVI_ATC_ENTRIES entry updates and one log write.
 */
#include "sim_base.h"

#include "amdvi.h"
#include "amdvi_int.h"

_Static_assert(AMDVI_ATS_PENDING_MAX <= 64, "pending invalidations stay a small array");
_Static_assert(AMDVI_ATC_DEVICES_MAX <= 64, "registered ATCs stay a small array");

/* ----------------------------------------------------------------- ATC */

void amdvi_atc_init(struct amdvi_atc *atc, uint16_t devid, uint32_t quirks, uint64_t response_ns)
{
  SIM_ASSERT(atc != NULL);
  SIM_ASSERT((quirks & ~AMDVI_ATC_QUIRK_NO_COMPLETE) == 0);
  *atc = (struct amdvi_atc){.devid = devid, .quirks = quirks, .response_ns = response_ns};
}

bool amdvi_atc_register(struct amdvi *dev, struct amdvi_atc *atc)
{
  SIM_ASSERT(atc != NULL);
  uint32_t free_index = AMDVI_ATC_DEVICES_MAX;
  for (uint32_t i = 0; i < AMDVI_ATC_DEVICES_MAX; i++) {
    if (dev->atcs[i] != NULL && dev->atcs[i]->devid == atc->devid) return false;
    if (dev->atcs[i] == NULL && free_index == AMDVI_ATC_DEVICES_MAX) free_index = i;
  }
  if (free_index == AMDVI_ATC_DEVICES_MAX) return false;
  dev->atcs[free_index] = atc;
  sim_trace(dev->sim, "amdvi.atc_register", atc->devid, atc->quirks, atc->response_ns, 0);
  return true;
}

void amdvi_atc_unregister(struct amdvi *dev, struct amdvi_atc *atc)
{
  for (uint32_t i = 0; i < AMDVI_ATC_DEVICES_MAX; i++) {
    if (dev->atcs[i] == atc) dev->atcs[i] = NULL;
  }
}

struct amdvi_atc *amdvi__atc_find(struct amdvi *dev, uint16_t devid)
{
  for (uint32_t i = 0; i < AMDVI_ATC_DEVICES_MAX; i++) {
    if (dev->atcs[i] != NULL && dev->atcs[i]->devid == devid) return dev->atcs[i];
  }
  return NULL;
}

static bool atc_entry_covers(const struct amdvi_atc_entry *entry, uint64_t iova)
{
  return entry->valid && iova >= entry->iova && iova - entry->iova < entry->page_bytes;
}

bool amdvi_atc_lookup(const struct amdvi_atc *atc, uint64_t iova, bool is_write,
                      uint64_t *address)
{
  SIM_ASSERT(atc != NULL && address != NULL);
  for (uint32_t i = 0; i < AMDVI_ATC_ENTRIES; i++) {
    const struct amdvi_atc_entry *entry = &atc->entries[i];
    if (!atc_entry_covers(entry, iova)) continue;
    if (is_write ? !entry->write_ok : !entry->read_ok) return false;
    *address = entry->address + (iova - entry->iova);
    return true;
  }
  return false;
}

uint32_t amdvi_atc_valid_count(const struct amdvi_atc *atc)
{
  uint32_t count = 0;
  for (uint32_t i = 0; i < AMDVI_ATC_ENTRIES; i++) count += atc->entries[i].valid ? 1 : 0;
  return count;
}

void amdvi__atc_fill(struct amdvi_atc *atc, uint64_t iova, const struct amdvi_ats_result *result)
{
  SIM_ASSERT(result->status == AMDVI_ATS_SUCCESS && result->page_bytes >= 4096);
  uint64_t base = iova & ~(result->page_bytes - 1);
  uint32_t slot = AMDVI_ATC_ENTRIES;
  for (uint32_t i = 0; i < AMDVI_ATC_ENTRIES && slot == AMDVI_ATC_ENTRIES; i++) {
    if (atc_entry_covers(&atc->entries[i], iova) || !atc->entries[i].valid) slot = i;
  }
  if (slot == AMDVI_ATC_ENTRIES) {
    slot = atc->victim_index % AMDVI_ATC_ENTRIES;
    atc->victim_index = (slot + 1) % AMDVI_ATC_ENTRIES;
  }
  atc->entries[slot] = (struct amdvi_atc_entry){
      .valid = true, .read_ok = result->read_ok, .write_ok = result->write_ok, .iova = base,
      .page_bytes = result->page_bytes, .address = result->address};
}

/* The device applies an invalidation: drops every entry overlapping [start, last]. */
static void atc_invalidate(struct amdvi_atc *atc, uint64_t start, uint64_t last)
{
  for (uint32_t i = 0; i < AMDVI_ATC_ENTRIES; i++) {
    struct amdvi_atc_entry *entry = &atc->entries[i];
    if (!entry->valid) continue;
    uint64_t end = entry->iova + (entry->page_bytes - 1);
    if (entry->iova <= last && start <= end) entry->valid = false;
  }
  atc->completions_count++;
}

/* ------------------------------------------------------ invalidations */

uint64_t amdvi_ats_inv_timeout_ns(const struct amdvi *dev)
{
  uint32_t code = (uint32_t)(amdvi__reg(dev, AMDVI_MMIO_CONTROL) >>
                             AMDVI_CONTROL_INV_TIMEOUT_SHIFT) & 7;
  if (code == 0 || code == 7) return AMDVI_ATS_INV_TIMEOUT_NS_MAX; /* none / reserved */
  uint64_t timeout_ns = 1000000; /* 1 ms */
  for (uint32_t i = 1; i < code; i++) timeout_ns *= 10;
  SIM_ASSERT(timeout_ns <= AMDVI_ATS_INV_TIMEOUT_NS_MAX);
  return timeout_ns;
}

static void pending_remove(struct amdvi *dev, uint32_t index)
{
  SIM_ASSERT(index < dev->ats_pending_count);
  for (uint32_t i = index; i + 1 < dev->ats_pending_count; i++) {
    dev->ats_devid[i] = dev->ats_devid[i + 1];
    dev->ats_cmd_gpa[i] = dev->ats_cmd_gpa[i + 1];
    dev->ats_start[i] = dev->ats_start[i + 1];
    dev->ats_last[i] = dev->ats_last[i + 1];
    dev->ats_complete_ns[i] = dev->ats_complete_ns[i + 1];
    dev->ats_deadline_ns[i] = dev->ats_deadline_ns[i + 1];
  }
  dev->ats_pending_count--;
  /* Unused slots stay zero, so the stream encoding is canonical (STYLE R18). */
  uint32_t last = dev->ats_pending_count;
  dev->ats_devid[last] = 0;
  dev->ats_cmd_gpa[last] = 0;
  dev->ats_start[last] = 0;
  dev->ats_last[last] = 0;
  dev->ats_complete_ns[last] = 0;
  dev->ats_deadline_ns[last] = 0;
}

bool amdvi__ats_invalidate(struct amdvi *dev, uint16_t devid, uint64_t start, uint64_t last,
                           uint64_t cmd_gpa)
{
  struct amdvi_atc *atc = amdvi__atc_find(dev, devid);
  if (atc == NULL) return true; /* no ATS device there: only the IOMMU's own IOTLB */
  bool answers_now = (atc->quirks & AMDVI_ATC_QUIRK_NO_COMPLETE) == 0 && atc->response_ns == 0;
  if (!answers_now && dev->ats_pending_count == AMDVI_ATS_PENDING_MAX) return false;
  atc->invalidations_count++;
  dev->stats.ats_invalidations_count++;
  uint64_t now_ns = sim_now_ns(dev->sim);
  sim_trace(dev->sim, "amdvi.ats_invalidate", devid, start, last, cmd_gpa);
  if (answers_now) {
    atc_invalidate(atc, start, last);
    return true;
  }
  uint32_t index = dev->ats_pending_count++;
  dev->ats_devid[index] = devid;
  dev->ats_cmd_gpa[index] = cmd_gpa;
  dev->ats_start[index] = start;
  dev->ats_last[index] = last;
  bool never = (atc->quirks & AMDVI_ATC_QUIRK_NO_COMPLETE) != 0 ||
               atc->response_ns > AMDVI_ATS_INV_TIMEOUT_NS_MAX;
  dev->ats_complete_ns[index] = never ? UINT64_MAX : now_ns + atc->response_ns;
  dev->ats_deadline_ns[index] = now_ns + amdvi_ats_inv_timeout_ns(dev);
  return true;
}

/*
 * Settles what is due at now, in issue order: an answer due no later than its
 * deadline completes the invalidation in the device's ATC (if that device is
 * still registered; otherwise nobody answers); a deadline passed with no
 * answer logs IOTLB_INV_TIMEOUT (DeviceID, address = the command's SPA) and
 * the entry is dropped, the device's ATC left as it was.
 */
void amdvi__ats_poll(struct amdvi *dev)
{
  if (dev->ats_pending_count == 0) return;
  uint64_t now_ns = sim_now_ns(dev->sim);
  uint32_t index = 0;
  uint32_t visits = 0;
  while (index < dev->ats_pending_count) {
    SIM_ASSERT(visits++ < AMDVI_ATS_PENDING_MAX);
    uint16_t devid = dev->ats_devid[index];
    struct amdvi_atc *atc = amdvi__atc_find(dev, devid);
    uint64_t complete_ns = dev->ats_complete_ns[index];
    uint64_t deadline_ns = dev->ats_deadline_ns[index];
    if (atc != NULL && complete_ns <= deadline_ns && complete_ns <= now_ns) {
      atc_invalidate(atc, dev->ats_start[index], dev->ats_last[index]);
      sim_trace(dev->sim, "amdvi.ats_complete", devid, dev->ats_cmd_gpa[index], complete_ns, 0);
      pending_remove(dev, index);
    } else if (deadline_ns <= now_ns) {
      dev->stats.ats_timeouts_count++;
      amdvi__event_log(dev, AMDVI_EVENT_IOTLB_INV_TIMEOUT, devid, 0, 0, dev->ats_cmd_gpa[index]);
      pending_remove(dev, index);
    } else {
      index++;
    }
  }
}

void amdvi__ats_clear(struct amdvi *dev)
{
  dev->ats_pending_count = 0;
  memset(dev->ats_devid, 0, sizeof dev->ats_devid);
  memset(dev->ats_cmd_gpa, 0, sizeof dev->ats_cmd_gpa);
  memset(dev->ats_start, 0, sizeof dev->ats_start);
  memset(dev->ats_last, 0, sizeof dev->ats_last);
  memset(dev->ats_complete_ns, 0, sizeof dev->ats_complete_ns);
  memset(dev->ats_deadline_ns, 0, sizeof dev->ats_deadline_ns);
}

/*
 * The relative instants exist only for the stream.  They are cleared after a
 * load and when a VM resumes (a source whose migration failed), never right
 * after a save (the writer may still hold the bytes), so a hook-less visit
 * (the oracles' snapshots: the source before its save, the destination after
 * its load) sees zeros on both sides instead of one side's last save.
 */
void amdvi__ats_relative_clear(struct amdvi *dev)
{
  memset(dev->mig_ats_complete_in_ns, 0, sizeof dev->mig_ats_complete_in_ns);
  memset(dev->mig_ats_deadline_in_ns, 0, sizeof dev->mig_ats_deadline_in_ns);
}

void amdvi_vm_stop(struct amdvi *dev)
{
  dev->ats_stopped = true;
  dev->ats_stopped_ns = sim_now_ns(dev->sim);
}

void amdvi_vm_resume(struct amdvi *dev)
{
  amdvi__ats_relative_clear(dev);
  if (!dev->ats_stopped) return;
  uint64_t now_ns = sim_now_ns(dev->sim);
  SIM_ASSERT(now_ns >= dev->ats_stopped_ns);
  uint64_t stopped_ns = now_ns - dev->ats_stopped_ns;
  dev->ats_stopped = false;
  for (uint32_t i = 0; i < dev->ats_pending_count; i++) {
    if (dev->ats_complete_ns[i] != UINT64_MAX) dev->ats_complete_ns[i] += stopped_ns;
    dev->ats_deadline_ns[i] += stopped_ns;
  }
  if (dev->ats_pending_count != 0) {
    sim_trace(dev->sim, "amdvi.ats_resume", dev->ats_pending_count, stopped_ns, 0, 0);
  }
}

uint32_t amdvi_ats_pending_count(const struct amdvi *dev)
{
  return dev->ats_pending_count;
}

uint64_t amdvi_ats_next_ns(const struct amdvi *dev)
{
  uint64_t next_ns = UINT64_MAX;
  for (uint32_t i = 0; i < dev->ats_pending_count; i++) {
    next_ns = SIM_MIN(next_ns, SIM_MIN(dev->ats_complete_ns[i], dev->ats_deadline_ns[i]));
  }
  return next_ns;
}

/* ----------------------------------------------------------------- PPR */

/*
 * PPR log entries and INVALID_PPR_REQUEST share one first-qword layout
 * (Linux PPR_DEVID/PPR_PASID1/PPR_TAG/PPR_PASID2/PPR_FLAGS/PPR_REQ_TYPE):
 * DeviceID 15:0, PASID[15:0] 31:16, tag 41:32, PASID[19:16] 45:42, flags
 * 59:48, type 63:60; the second qword is the address.
 */
static uint64_t ppr_q0(const struct amdvi_ppr_request *request, uint32_t type)
{
  uint32_t pasid = request->pasid_present ? request->pasid & 0xFFFFF : 0;
  uint32_t flags = (request->flags & (AMDVI_PPR_FLAG_EXEC | AMDVI_PPR_FLAG_READ |
                                      AMDVI_PPR_FLAG_WRITE | AMDVI_PPR_FLAG_US)) |
                   (request->pasid_present ? AMDVI_PPR_FLAG_GN : 0);
  return (uint64_t)request->devid | (uint64_t)(pasid & 0xFFFF) << 16 |
         (uint64_t)(request->tag & 0x3FF) << 32 | (uint64_t)(pasid >> 16) << 42 |
         (uint64_t)flags << 48 | (uint64_t)type << 60;
}

static enum amdvi_ppr_status ppr_log_write(struct amdvi *dev, uint64_t q0, uint64_t address)
{
  uint64_t control = amdvi__reg(dev, AMDVI_MMIO_CONTROL);
  uint64_t status = amdvi__reg(dev, AMDVI_MMIO_STATUS);
  bool interrupt = (control & AMDVI_CONTROL_PPRINT_EN) != 0;
  if ((control & AMDVI_CONTROL_PPRLOG_EN) == 0 || (status & AMDVI_STATUS_PPR_OVERFLOW) != 0 ||
      dev->pprlog_len == 0) {
    return AMDVI_PPR_DROPPED;
  }
  uint32_t ring_bytes = dev->pprlog_len * AMDVI_EVENT_BYTES;
  uint32_t tail = dev->pprlog_tail % ring_bytes;
  uint32_t next = (tail + AMDVI_EVENT_BYTES) % ring_bytes;
  if (next == dev->pprlog_head % ring_bytes) {
    amdvi__status_set(dev, AMDVI_STATUS_PPR_OVERFLOW);
    if (interrupt) amdvi__msi_raise(dev);
    return AMDVI_PPR_DROPPED;
  }
  uint8_t entry[AMDVI_EVENT_BYTES];
  for (uint32_t i = 0; i < 8; i++) {
    entry[i] = (uint8_t)(q0 >> (8 * i));
    entry[8 + i] = (uint8_t)(address >> (8 * i));
  }
  if (!amdvi__mem_write(dev, dev->ppr_log + tail, entry, sizeof entry)) return AMDVI_PPR_DROPPED;
  SIM_ASSERT(next < ring_bytes && next % AMDVI_EVENT_BYTES == 0);
  dev->pprlog_tail = next;
  amdvi__reg_set(dev, AMDVI_MMIO_PPRLOG_TAIL, next);
  dev->stats.ppr_logged_count++;
  if (interrupt) {
    amdvi__status_set(dev, AMDVI_STATUS_PPR_INT);
    amdvi__msi_raise(dev);
  }
  return AMDVI_PPR_LOGGED;
}

/*
 * COMPLETE_PPR_REQUEST as Linux builds it: DeviceID q0[15:0], PASID q0[51:32]
 * (with GN q1[2]), tag q1[40:32] (9 bits), status q1[47:44].  The device
 * side is the registered ATC; with none the response goes nowhere.
 */
void amdvi__ppr_complete(struct amdvi *dev, uint64_t q0, uint64_t q1)
{
  uint16_t devid = (uint16_t)q0;
  uint32_t tag = (uint32_t)(q1 >> 32) & 0x1FF;
  uint32_t status = (uint32_t)(q1 >> 44) & 0xF;
  sim_trace(dev->sim, "amdvi.ppr_complete", devid, tag, status, (q1 >> 2) & 1);
  struct amdvi_atc *atc = amdvi__atc_find(dev, devid);
  if (atc == NULL) return;
  atc->ppr_responses_count++;
  atc->ppr_last_tag = tag;
  atc->ppr_last_status = status;
}

enum amdvi_ppr_status amdvi_ppr_request(struct amdvi *dev, const struct amdvi_ppr_request *request)
{
  SIM_ASSERT(request != NULL);
  dev->stats.ppr_requests_count++;
  uint64_t address = request->address & ~UINT64_C(0xFFF);
  sim_trace(dev->sim, "amdvi.ppr_request", request->devid, address, request->tag,
            request->flags);
  if (amdvi__qemu(dev) || !dev->enabled) return AMDVI_PPR_DROPPED; /* QEMU: no PRI */
  uint64_t q[4];
  uint32_t code = 0;
  bool dte_ok = amdvi__dte_fetch(dev, request->devid, q, &code);
  if (!dte_ok && code != 0) return AMDVI_PPR_DROPPED; /* the DTE error was logged */
  bool control_ppr = (amdvi__reg(dev, AMDVI_MMIO_CONTROL) & AMDVI_CONTROL_PPR_EN) != 0;
  bool dte_ppr = dte_ok && (q[0] & 1) != 0 && ((q[0] >> 52) & 1) != 0;
  if (!control_ppr || !dte_ppr) {
    amdvi__event_log_raw(dev, ppr_q0(request, AMDVI_EVENT_INVALID_PPR_REQUEST), address);
    return AMDVI_PPR_INVALID;
  }
  return ppr_log_write(dev, ppr_q0(request, AMDVI_PPR_REQ_FAULT), address);
}
