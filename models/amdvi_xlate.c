/*
 * amdvi_xlate.c: DMA translation, the IOTLB and interrupt remapping of the
 * AMD IOMMU (spec §4, §7, §8).
 *
 * A request reads the device table entry (DTE) from guest memory on every
 * IOTLB miss (no DTE cache, as QEMU), validates it, and walks the v1 page
 * table of modes 1-6.  The walk is bounded by construction: every step must
 * go to a strictly lower level, so a table that points at itself ends after
 * at most six reads with a fault.  The IOTLB is 256 sets x 4 ways indexed by
 * a fixed mix of (DeviceID, IOVA page) with round-robin replacement per set:
 * deterministic, and no iteration order is ever observable.
 */
#include "sim_base.h"

#include "amdvi.h"
#include "amdvi_int.h"

struct dte {
  uint64_t q[4];
  uint64_t gpa;               /* where it was read */
  uint32_t event_code;        /* event logged by dte_read, 0 if none */
};

#define DTE_V(d) (((d)->q[0] >> 0) & 1)
#define DTE_TV(d) (((d)->q[0] >> 1) & 1)
#define DTE_MODE(d) ((uint32_t)((d)->q[0] >> 9) & 7)
#define DTE_ROOT(d) ((d)->q[0] & AMDVI_ADDR_MASK)
#define DTE_GV(d) (((d)->q[0] >> 55) & 1)
#define DTE_IR(d) (((d)->q[0] >> 61) & 1)
#define DTE_IW(d) (((d)->q[0] >> 62) & 1)
#define DTE_DOMAIN(d) ((uint16_t)(d)->q[1])
#define DTE_I(d) (((d)->q[1] >> 32) & 1)
#define DTE_IV(d) (((d)->q[2] >> 0) & 1)
#define DTE_INTTABLEN(d) ((uint32_t)((d)->q[2] >> 1) & 0xF)
#define DTE_IRT_ROOT(d) ((d)->q[2] & UINT64_C(0x000FFFFFFFFFFFC0))
#define DTE_INTCTL(d) ((uint32_t)((d)->q[2] >> 60) & 3)

/* ----------------------------------------------------------------- IOTLB */

static uint32_t iotlb_set(uint16_t devid, uint64_t iova_page)
{
  uint64_t mix = (iova_page ^ ((uint64_t)devid << 40)) * UINT64_C(0x9E3779B97F4A7C15);
  return (uint32_t)(mix >> 56) & (AMDVI_IOTLB_SETS - 1);
}

static struct amdvi_iotlb_entry *iotlb_lookup(struct amdvi *dev, uint16_t devid,
                                              uint64_t iova_page)
{
  struct amdvi_iotlb_entry *set = &dev->iotlb[iotlb_set(devid, iova_page) * AMDVI_IOTLB_WAYS];
  for (uint32_t way = 0; way < AMDVI_IOTLB_WAYS; way++) {
    if (set[way].valid && set[way].devid == devid && set[way].iova_page == iova_page) {
      return &set[way];
    }
  }
  return NULL;
}

static void iotlb_insert(struct amdvi *dev, const struct amdvi_iotlb_entry *entry)
{
  uint32_t set_index = iotlb_set(entry->devid, entry->iova_page);
  struct amdvi_iotlb_entry *set = &dev->iotlb[set_index * AMDVI_IOTLB_WAYS];
  if (amdvi__qemu(dev) && dev->iotlb_used_count >= AMDVI_IOTLB_ENTRIES) {
    amdvi__iotlb_flush_all(dev); /* QEMU flushes everything when full (spec §7.3) */
  }
  uint32_t way = AMDVI_IOTLB_WAYS;
  for (uint32_t i = 0; i < AMDVI_IOTLB_WAYS && way == AMDVI_IOTLB_WAYS; i++) {
    if (!set[i].valid) way = i;
  }
  if (way == AMDVI_IOTLB_WAYS) {
    way = dev->iotlb_victim[set_index];
    dev->iotlb_victim[set_index] = (uint8_t)((way + 1) % AMDVI_IOTLB_WAYS);
    dev->iotlb_used_count--;
  }
  set[way] = *entry;
  set[way].valid = true;
  dev->iotlb_used_count++;
  SIM_ASSERT(dev->iotlb_used_count <= AMDVI_IOTLB_ENTRIES);
}

void amdvi__iotlb_flush_all(struct amdvi *dev)
{
  memset(dev->iotlb, 0, sizeof dev->iotlb);
  memset(dev->iotlb_victim, 0, sizeof dev->iotlb_victim);
  dev->iotlb_used_count = 0;
}

/* True when the entry's mapping overlaps [start, last]. */
static bool entry_overlaps(const struct amdvi_iotlb_entry *entry, uint64_t start, uint64_t last)
{
  uint64_t first = (entry->iova_page << 12) & ~(entry->page_bytes - 1);
  uint64_t end = first + (entry->page_bytes - 1);
  return first <= last && start <= end;
}

static void iotlb_flush_matching(struct amdvi *dev, bool by_domain, uint16_t id, uint64_t start,
                                 uint64_t last)
{
  for (uint32_t i = 0; i < AMDVI_IOTLB_ENTRIES; i++) {
    struct amdvi_iotlb_entry *entry = &dev->iotlb[i];
    if (!entry->valid) continue;
    if ((by_domain ? entry->domain_id : entry->devid) != id) continue;
    if (!entry_overlaps(entry, start, last)) continue;
    entry->valid = false;
    dev->iotlb_used_count--;
  }
}

void amdvi__iotlb_flush_domain(struct amdvi *dev, uint16_t domain_id, uint64_t start,
                               uint64_t last)
{
  iotlb_flush_matching(dev, true, domain_id, start, last);
}

void amdvi__iotlb_flush_device(struct amdvi *dev, uint16_t devid, uint64_t start, uint64_t last)
{
  iotlb_flush_matching(dev, false, devid, start, last);
}

/* ------------------------------------------------------------------ DTE */

enum dte_status { DTE_OK, DTE_ABORT, DTE_ERROR };

/* Reads and validates DTE[devid]; logs the §4 events (their code in dte->event_code). */
static enum dte_status dte_read(struct amdvi *dev, uint16_t devid, struct dte *dte)
{
  dte->event_code = 0;
  if (!amdvi__qemu(dev) && devid >= dev->devtab_len) return DTE_ABORT; /* target abort */
  dte->gpa = dev->devtab + (uint64_t)devid * AMDVI_DTE_BYTES;
  uint8_t bytes[AMDVI_DTE_BYTES];
  if (!amdvi__mem_read(dev, dte->gpa, bytes, sizeof bytes)) {
    amdvi__event_log(dev, AMDVI_EVENT_DEVTAB_HW_ERROR, devid, 0, 0, dte->gpa);
    amdvi__target_abort(dev);
    dte->event_code = AMDVI_EVENT_DEVTAB_HW_ERROR;
    return DTE_ERROR;
  }
  for (uint32_t i = 0; i < 4; i++) dte->q[i] = amdvi__le64(bytes + 8 * i);
  /* Reserved bits as QEMU 10.x checks them (spec §4). */
  bool reserved = (dte->q[0] & UINT64_C(0x800000000000007C)) != 0 ||
                  (dte->q[2] & UINT64_C(0x0030000000000000)) != 0 ||
                  (dte->q[3] & UINT64_C(0x003F000000007FFF)) != 0;
  bool root_illegal = !dev->config.dma_translation && DTE_ROOT(dte) != 0;
  if (DTE_V(dte) && (reserved || root_illegal)) {
    amdvi__event_log(dev, AMDVI_EVENT_ILLEGAL_DEVTAB_ENTRY, devid, 0, 0, dte->gpa);
    dte->event_code = AMDVI_EVENT_ILLEGAL_DEVTAB_ENTRY;
    return DTE_ERROR;
  }
  return DTE_OK;
}

/* ----------------------------------------------------------------- walk */

struct walk {
  uint16_t devid;
  uint16_t domain_id;
  uint64_t iova;
  bool is_write;
  bool translation_request;   /* ATS: no permission check, TR in fault events */
  uint64_t address;           /* out: translated address of iova */
  uint64_t page_bytes;        /* out */
  bool read_ok;               /* out */
  bool write_ok;              /* out */
};

static void io_page_fault(struct amdvi *dev, const struct walk *walk, uint32_t flags,
                          struct amdvi_xlate_result *result)
{
  uint16_t devid = walk->devid;
  uint16_t domain_id = walk->domain_id;
  if (amdvi__qemu(dev)) {
    /* devfn only, no DomainID, I set, permission in GN/NX positions (§11 item 11). */
    devid &= 0xFF;
    domain_id = 0;
    flags = AMDVI_FAULT_FLAG_I | (walk->is_write ? 2u : 1u);
  } else {
    if (walk->is_write) flags |= AMDVI_FAULT_FLAG_RW;
    if (walk->translation_request) flags |= AMDVI_FAULT_FLAG_TR;
  }
  amdvi__event_log(dev, AMDVI_EVENT_IO_PAGE_FAULT, devid, domain_id, flags, walk->iova);
  amdvi__target_abort(dev);
  result->status = AMDVI_XLATE_FAULT;
  result->event_code = AMDVI_EVENT_IO_PAGE_FAULT;
}

/* Page size of a NextLevel-7 leaf: 2^(1 + first zero bit at or above 12). */
static uint64_t encoded_page_bytes(uint64_t pte)
{
  uint32_t zero_bit = 12;
  while (zero_bit < 52 && (pte >> zero_bit & 1) != 0) zero_bit++;
  return zero_bit >= 52 ? 0 : UINT64_C(1) << (zero_bit + 1);
}

static uint64_t level_shift(uint32_t level)
{
  return 12 + 9 * (uint64_t)(level - 1);
}

/* Walks from the DTE root; true on success (walk out fields set), else result filled. */
static bool page_walk(struct amdvi *dev, const struct dte *dte, struct walk *walk,
                      struct amdvi_xlate_result *result)
{
  uint32_t level = DTE_MODE(dte);
  SIM_ASSERT(level >= 1 && level <= AMDVI_WALK_LEVELS_MAX);
  if (level < 6 && (walk->iova >> level_shift(level + 1)) != 0) {
    io_page_fault(dev, walk, 0, result); /* beyond the mode's reach */
    return false;
  }
  uint64_t table = DTE_ROOT(dte);
  bool read_ok = DTE_IR(dte), write_ok = DTE_IW(dte);
  for (uint32_t steps = 0; steps < AMDVI_WALK_LEVELS_MAX; steps++) {
    uint64_t index = (walk->iova >> level_shift(level)) & 511;
    uint64_t pte_gpa = table + index * 8;
    uint8_t bytes[8];
    dev->stats.walk_reads_count++;
    if (!amdvi__mem_read(dev, pte_gpa, bytes, sizeof bytes)) {
      amdvi__event_log(dev, AMDVI_EVENT_PAGETAB_HW_ERROR,
                       amdvi__qemu(dev) ? walk->devid & 0xFF : walk->devid,
                       amdvi__qemu(dev) ? 0 : walk->domain_id, 0, pte_gpa);
      amdvi__target_abort(dev);
      result->status = AMDVI_XLATE_FAULT;
      result->event_code = AMDVI_EVENT_PAGETAB_HW_ERROR;
      return false;
    }
    uint64_t pte = amdvi__le64(bytes);
    if ((pte & 1) == 0) {
      io_page_fault(dev, walk, 0, result);
      return false;
    }
    bool pte_read = (pte >> 61) & 1, pte_write = (pte >> 62) & 1;
    uint32_t next = (uint32_t)(pte >> 9) & 7;
    if (next == 0 || next == 7) {
      uint64_t size = next == 0 ? UINT64_C(1) << level_shift(level) : encoded_page_bytes(pte);
      if (size < 4096 || (level < 6 && size > (UINT64_C(1) << level_shift(level + 1)))) {
        io_page_fault(dev, walk, AMDVI_FAULT_FLAG_PR | AMDVI_FAULT_FLAG_RZ, result);
        return false;
      }
      /* The spec ANDs every level; QEMU keeps the leaf's bits (§11 item 14). */
      walk->read_ok = amdvi__qemu(dev) ? pte_read && (read_ok || write_ok) : read_ok && pte_read;
      walk->write_ok =
          amdvi__qemu(dev) ? pte_write && (read_ok || write_ok) : write_ok && pte_write;
      walk->page_bytes = size;
      walk->address = ((pte & AMDVI_ADDR_MASK) & ~(size - 1)) | (walk->iova & (size - 1));
      return true;
    }
    if (next >= level) { /* a loop or an upward pointer: the walk could not end */
      io_page_fault(dev, walk, AMDVI_FAULT_FLAG_PR | AMDVI_FAULT_FLAG_RZ, result);
      return false;
    }
    /* Skipped levels (spec): the IOVA bits they would index must be zero. */
    if (next + 1 < level &&
        ((walk->iova >> level_shift(next + 1)) & ((UINT64_C(1) << (9 * (level - next - 1))) - 1))
            != 0) {
      io_page_fault(dev, walk, AMDVI_FAULT_FLAG_PR | AMDVI_FAULT_FLAG_RZ, result);
      return false;
    }
    read_ok = read_ok && pte_read;
    write_ok = write_ok && pte_write;
    if (!read_ok && !write_ok) {
      io_page_fault(dev, walk, AMDVI_FAULT_FLAG_PR | AMDVI_FAULT_FLAG_PE, result);
      return false;
    }
    table = pte & AMDVI_ADDR_MASK;
    level = next;
  }
  /* Each step lowers the level, so six steps always end the walk. */
  (void)NEVER(true);
  result->status = AMDVI_XLATE_FAULT;
  return false;
}

/* ------------------------------------------------------------ translate */

static void identity(uint64_t iova, struct amdvi_xlate_result *result, bool read_ok,
                     bool write_ok)
{
  result->status = AMDVI_XLATE_OK;
  result->address = iova;
  result->page_bytes = 4096;
  result->read_ok = read_ok;
  result->write_ok = write_ok;
}

static void result_from_entry(const struct amdvi_iotlb_entry *entry, uint64_t iova,
                              struct amdvi_xlate_result *result)
{
  result->status = AMDVI_XLATE_OK;
  result->address = entry->address | (iova & 0xFFF);
  result->page_bytes = entry->page_bytes;
  result->read_ok = entry->read_ok;
  result->write_ok = entry->write_ok;
}

/* Checks the request against the permissions in result; faults if denied. */
static void permission_check(struct amdvi *dev, const struct walk *walk,
                             struct amdvi_xlate_result *result)
{
  bool allowed = walk->is_write ? result->write_ok : result->read_ok;
  if (!allowed) io_page_fault(dev, walk, AMDVI_FAULT_FLAG_PR | AMDVI_FAULT_FLAG_PE, result);
}

static void translate_miss(struct amdvi *dev, struct walk *walk,
                           struct amdvi_xlate_result *result)
{
  struct dte dte;
  enum dte_status status = dte_read(dev, walk->devid, &dte);
  if (status != DTE_OK) {
    result->status = status == DTE_ABORT ? AMDVI_XLATE_BLOCKED : AMDVI_XLATE_FAULT;
    result->event_code = dte.event_code;
    return;
  }
  if (!DTE_V(&dte)) {
    identity(walk->iova, result, true, true);
    return;
  }
  if (!DTE_TV(&dte)) {
    result->status = AMDVI_XLATE_BLOCKED;
    return;
  }
  walk->domain_id = DTE_DOMAIN(&dte);
  uint32_t mode = DTE_MODE(&dte);
  if (mode == 7) {
    if (!amdvi__qemu(dev)) {
      amdvi__event_log(dev, AMDVI_EVENT_ILLEGAL_DEVTAB_ENTRY, walk->devid, 0, 0, dte.gpa);
      result->event_code = AMDVI_EVENT_ILLEGAL_DEVTAB_ENTRY;
    }
    result->status = AMDVI_XLATE_BLOCKED;
    return;
  }
  struct amdvi_iotlb_entry entry = {.devid = walk->devid, .domain_id = walk->domain_id,
                                    .iova_page = walk->iova >> 12};
  if (mode == 0) {
    /* QEMU treats Mode 0 as full passthrough (§11 item 15); the spec applies IR/IW. */
    bool any = amdvi__qemu(dev);
    identity(walk->iova, result, any || DTE_IR(&dte), any || DTE_IW(&dte));
  } else {
    if (!page_walk(dev, &dte, walk, result)) return;
    result->status = AMDVI_XLATE_OK;
    result->address = walk->address;
    result->page_bytes = walk->page_bytes;
    result->read_ok = walk->read_ok;
    result->write_ok = walk->write_ok;
  }
  /* A translation request returns the permissions; the device checks them. */
  if (!walk->translation_request) permission_check(dev, walk, result);
  if (result->status != AMDVI_XLATE_OK) return;
  entry.address = result->address & ~UINT64_C(0xFFF);
  entry.page_bytes = result->page_bytes;
  entry.read_ok = result->read_ok;
  entry.write_ok = result->write_ok;
  iotlb_insert(dev, &entry);
}

static void translate(struct amdvi *dev, uint16_t devid, uint64_t iova, bool is_write,
                      struct amdvi_xlate_result *result)
{
  if (!dev->enabled) {
    identity(iova, result, true, true);
    return;
  }
  if (iova >= AMDVI_MSI_WINDOW_LO && iova <= AMDVI_MSI_WINDOW_HI) {
    result->status = AMDVI_XLATE_INTERRUPT;
    return;
  }
  if (!dev->config.dma_remap) {
    identity(iova, result, true, true);
    return;
  }
  /* QEMU's dma-remap region switch: an unconfined device goes straight to memory. */
  if (amdvi__qemu(dev) && !amdvi_device_translated(dev, devid)) {
    identity(iova, result, true, true);
    return;
  }
  struct walk walk = {.devid = devid, .iova = iova, .is_write = is_write};
  struct amdvi_iotlb_entry *hit = iotlb_lookup(dev, devid, iova >> 12);
  if (hit != NULL) {
    dev->stats.iotlb_hit_count++;
    walk.domain_id = hit->domain_id;
    result_from_entry(hit, iova, result);
    result->iotlb_hit = true;
    permission_check(dev, &walk, result);
    return;
  }
  dev->stats.iotlb_miss_count++;
  translate_miss(dev, &walk, result);
}

void amdvi_translate(struct amdvi *dev, uint16_t devid, uint64_t iova, bool is_write,
                     struct amdvi_xlate_result *result)
{
  SIM_ASSERT(result != NULL);
  *result = (struct amdvi_xlate_result){.status = AMDVI_XLATE_OK};
  translate(dev, devid, iova, is_write, result);
  /* Every access that reaches memory, translated or not, is RMP-checked. */
  if (result->status == AMDVI_XLATE_OK) amdvi__rmp_check(dev, devid, iova, is_write, result);
}

/* ----------------------------------------------------- ATS requests */

bool amdvi__dte_fetch(struct amdvi *dev, uint16_t devid, uint64_t q[4], uint32_t *event_code)
{
  struct dte dte;
  enum dte_status status = dte_read(dev, devid, &dte);
  *event_code = dte.event_code;
  if (status != DTE_OK) return false;
  for (uint32_t i = 0; i < 4; i++) q[i] = dte.q[i];
  return true;
}

/*
 * INVALID_DEVICE_REQUEST (0x8): DeviceID q0[15:0], PASID[19:16] q0[19:16],
 * PASID[15:0] q0[47:32], flags q0[59:48] with the request type in flags
 * 11:9, address in q1 (the decoding of Linux's iommu_print_event).
 */
static void invalid_device_request(struct amdvi *dev, uint16_t devid, uint32_t type,
                                   uint32_t flags, uint32_t pasid, uint64_t address)
{
  SIM_ASSERT(type < 8 && flags < (1u << AMDVI_IDR_TYPE_SHIFT));
  SIM_ASSERT(pasid < (UINT32_C(1) << 20));
  uint64_t q0 = (uint64_t)devid | (uint64_t)(pasid >> 16) << 16 | (uint64_t)(pasid & 0xFFFF) << 32 |
                (uint64_t)(flags | type << AMDVI_IDR_TYPE_SHIFT) << 48 |
                (uint64_t)AMDVI_EVENT_INVALID_DEVICE_REQUEST << 60;
  amdvi__event_log_raw(dev, q0, address);
}

void amdvi_ats_translate(struct amdvi *dev, const struct amdvi_ats_request *request,
                         struct amdvi_atc *atc, struct amdvi_ats_result *result)
{
  SIM_ASSERT(request != NULL && result != NULL);
  *result = (struct amdvi_ats_result){.status = AMDVI_ATS_UNSUPPORTED};
  dev->stats.ats_requests_count++;
  uint32_t pasid = request->pasid_present ? request->pasid & 0xFFFFF : 0;
  uint64_t iova = request->iova & ~UINT64_C(0xFFF);
  sim_trace(dev->sim, "amdvi.ats_translate", request->devid, iova, request->pasid_present, pasid);
  /* QEMU has no ATS; with IommuEn=0 there is no translation service either. */
  if (amdvi__qemu(dev) || !dev->enabled || !dev->config.dma_remap) return;
  uint64_t q[4];
  uint32_t code = 0;
  if (!amdvi__dte_fetch(dev, request->devid, q, &code)) {
    result->event_code = code;
    return;
  }
  struct dte dte = {.q = {q[0], q[1], q[2], q[3]}};
  uint32_t flags = AMDVI_FAULT_FLAG_TR | (request->pasid_present ? AMDVI_FAULT_FLAG_GN : 0);
  /* ATS needs IotlbSup (the device_iotlb property) and DTE.I; V=0 or TV=0 refuse too. */
  bool ats_allowed = dev->config.device_iotlb && DTE_I(&dte);
  if (!DTE_V(&dte) || !DTE_TV(&dte) || !ats_allowed ||
      (request->pasid_present && !DTE_GV(&dte))) {
    invalid_device_request(dev, request->devid, AMDVI_IDR_TYPE_TRANSLATION_REQUEST, flags, pasid,
                           iova);
    result->event_code = AMDVI_EVENT_INVALID_DEVICE_REQUEST;
    return;
  }
  /* PASID with GV=1 needs guest (GCR3) tables, not modeled; the MSI window is never translated. */
  if (request->pasid_present || (iova >= AMDVI_MSI_WINDOW_LO && iova <= AMDVI_MSI_WINDOW_HI)) {
    return;
  }
  struct walk walk = {.devid = request->devid, .iova = iova, .translation_request = true};
  struct amdvi_xlate_result xlate = {.status = AMDVI_XLATE_OK};
  translate_miss(dev, &walk, &xlate);
  result->event_code = xlate.event_code;
  if (xlate.status == AMDVI_XLATE_FAULT) {
    result->status = AMDVI_ATS_NO_ACCESS;
    return;
  }
  if (xlate.status != AMDVI_XLATE_OK) return;
  SIM_ASSERT(xlate.page_bytes >= 4096 && (xlate.page_bytes & (xlate.page_bytes - 1)) == 0);
  result->page_bytes = xlate.page_bytes;
  result->address = xlate.address & ~(xlate.page_bytes - 1);
  result->read_ok = xlate.read_ok;
  result->write_ok = xlate.write_ok;
  result->status = xlate.read_ok || xlate.write_ok ? AMDVI_ATS_SUCCESS : AMDVI_ATS_NO_ACCESS;
  if (atc != NULL && atc->devid == request->devid && result->status == AMDVI_ATS_SUCCESS) {
    amdvi__atc_fill(atc, iova, result);
  }
}

void amdvi_ats_translated_access(struct amdvi *dev, uint16_t devid, uint64_t address,
                                 bool is_write, struct amdvi_xlate_result *result)
{
  SIM_ASSERT(result != NULL);
  *result = (struct amdvi_xlate_result){.status = AMDVI_XLATE_BLOCKED};
  dev->stats.ats_requests_count++;
  sim_trace(dev->sim, "amdvi.ats_translated", devid, address, is_write, 0);
  if (amdvi__qemu(dev)) return; /* no ATS: refused, no event */
  if (!dev->enabled || !dev->config.dma_remap) {
    identity(address, result, true, true);
    amdvi__rmp_check(dev, devid, address, is_write, result);
    return;
  }
  uint64_t q[4];
  uint32_t code = 0;
  if (!amdvi__dte_fetch(dev, devid, q, &code)) {
    result->event_code = code;
    return;
  }
  struct dte dte = {.q = {q[0], q[1], q[2], q[3]}};
  if (!DTE_V(&dte) || !DTE_I(&dte) || !dev->config.device_iotlb) {
    invalid_device_request(dev, devid, AMDVI_IDR_TYPE_PRETRANSLATED,
                           is_write ? AMDVI_FAULT_FLAG_RW : 0, 0, address);
    result->event_code = AMDVI_EVENT_INVALID_DEVICE_REQUEST;
    return;
  }
  identity(address, result, true, true);
  amdvi__rmp_check(dev, devid, address, is_write, result);
}

/* --------------------------------------------------- per-device mode */

static void mode_set(struct amdvi *dev, uint16_t devid, bool translated)
{
  uint8_t bit = (uint8_t)(1u << (devid % 8));
  if (translated) {
    dev->dev_translated[devid / 8] |= bit;
  } else {
    dev->dev_translated[devid / 8] &= (uint8_t)~bit;
  }
}

static bool mode_get(const struct amdvi *dev, uint16_t devid)
{
  return (dev->dev_translated[devid / 8] >> (devid % 8) & 1) != 0;
}

/* QEMU 10.2's rule (spec §7.1) applied to a DTE's first qword. */
static bool dte_confines(uint64_t q0)
{
  bool valid = (q0 & 1) != 0, tv = (q0 >> 1 & 1) != 0;
  return valid && (!tv || ((q0 >> 9) & 7) != 0);
}

/*
 * qemu-10.1: the region switch state, changed only by invalidations and lost
 * by migration.  Default: a pure function of the registers and the DTE in
 * guest memory, so there is nothing a migration could lose (a DeviceID past
 * the table, or an unreadable entry, is confined: its requests are refused).
 */
bool amdvi_device_translated(const struct amdvi *dev, uint16_t devid)
{
  if (amdvi__qemu(dev)) return mode_get(dev, devid);
  if (!dev->enabled || !dev->config.dma_remap) return false;
  if (devid >= dev->devtab_len) return true;
  uint8_t bytes[8];
  if (!dev->ops.read(dev->ops.context, dev->devtab + (uint64_t)devid * AMDVI_DTE_BYTES, bytes,
                     sizeof bytes)) {
    return true;
  }
  return dte_confines(amdvi__le64(bytes));
}

/*
 * qemu-10.1 bookkeeping on INVALIDATE_DEVTAB_ENTRY: translated if the DTE is
 * unreadable, V=1 with TV=0, or V=1 with Mode != 0; otherwise passthrough.
 * Events are not logged here: the access path reports faults.
 */
void amdvi__device_mode_update(struct amdvi *dev, uint16_t devid)
{
  if (!amdvi__qemu(dev) || !dev->config.dma_remap) return;
  uint64_t gpa = dev->devtab + (uint64_t)devid * AMDVI_DTE_BYTES;
  uint8_t bytes[8];
  bool translated = true;
  if (amdvi__mem_read(dev, gpa, bytes, sizeof bytes)) translated = dte_confines(amdvi__le64(bytes));
  mode_set(dev, devid, translated);
}

void amdvi__device_modes_clear(struct amdvi *dev)
{
  memset(dev->dev_translated, 0, sizeof dev->dev_translated);
}

/* ------------------------------------------------- interrupt remapping */

static enum amdvi_irq_status irq_fail(struct amdvi *dev, uint16_t devid,
                                      const struct amdvi_msi *in)
{
  /* The spec reports remapping failures as IO_PAGE_FAULT with I=1; QEMU logs nothing. */
  if (!amdvi__qemu(dev)) {
    amdvi__event_log(dev, AMDVI_EVENT_IO_PAGE_FAULT, devid, 0, AMDVI_FAULT_FLAG_I, in->address);
  }
  return AMDVI_IRQ_BLOCKED;
}

/* Delivery modes other than fixed/arbitrated: the DTE pass bits decide (spec §8.2 step 5). */
static enum amdvi_irq_status irq_special(const struct dte *dte, uint32_t delivery,
                                         const struct amdvi_msi *in, struct amdvi_msi *out)
{
  uint32_t pass_bit = delivery == 4 ? 58 : delivery == 5 ? 56 : delivery == 7 ? 57 : 0;
  if (pass_bit == 0 || (in->address & 4) != 0) return AMDVI_IRQ_BLOCKED;
  if ((dte->q[2] >> pass_bit & 1) == 0) return AMDVI_IRQ_BLOCKED;
  *out = *in;
  return AMDVI_IRQ_PASSTHROUGH;
}

/* Reads and decodes the IRTE (spec §8.3) into out; false if it cannot be used. */
static bool irte_apply(struct amdvi *dev, const struct dte *dte, uint32_t index,
                       struct amdvi_msi *out)
{
  uint64_t entry_bytes = dev->ga_enabled ? 16 : 4;
  uint8_t bytes[16] = {0};
  if (!amdvi__mem_read(dev, DTE_IRT_ROOT(dte) + index * entry_bytes, bytes,
                       (uint32_t)entry_bytes)) {
    return false;
  }
  uint64_t lo = dev->ga_enabled ? amdvi__le64(bytes) : (uint64_t)bytes[0] | bytes[1] << 8 |
                (uint64_t)bytes[2] << 16 | (uint64_t)bytes[3] << 24;
  uint64_t hi = dev->ga_enabled ? amdvi__le64(bytes + 8) : 0;
  bool remap_en = lo & 1, guest_mode = (lo >> 7) & 1;
  uint32_t int_type = (uint32_t)(lo >> 2) & 7;
  if (!remap_en || guest_mode || int_type > 1) return false;
  uint32_t dest, vector;
  if (dev->ga_enabled) {
    bool xt = dev->config.xtsup &&
              (amdvi__qemu(dev) || (amdvi__reg(dev, AMDVI_MMIO_CONTROL) & AMDVI_CONTROL_XT_EN));
    dest = xt ? (uint32_t)((lo >> 8) & 0xFFFFFF) | (uint32_t)(hi >> 56) << 24
              : (uint32_t)(lo >> 8) & 0xFF;
    vector = (uint32_t)hi & 0xFF;
  } else {
    dest = (uint32_t)(lo >> 8) & 0xFF;
    vector = (uint32_t)(lo >> 16) & 0xFF;
  }
  out->address = AMDVI_MSI_WINDOW_LO | (uint64_t)(dest & 0xFF) << 12 | ((lo >> 5) & 1) << 3 |
                 ((lo >> 6) & 1) << 2 | (uint64_t)(dest & 0xFFFFFF00u) << 32;
  out->data = vector | int_type << 8;
  return true;
}

enum amdvi_irq_status amdvi_remap_msi(struct amdvi *dev, uint16_t devid,
                                      const struct amdvi_msi *in, struct amdvi_msi *out)
{
  SIM_ASSERT(in != NULL && out != NULL);
  *out = *in;
  /* QEMU ignores IommuEn and only asks whether a table was ever programmed (§11 item 13). */
  if (amdvi__qemu(dev) ? dev->devtab_len == 0 : !dev->enabled) return AMDVI_IRQ_PASSTHROUGH;
  struct dte dte;
  enum dte_status status = dte_read(dev, devid, &dte);
  if (status != DTE_OK) return AMDVI_IRQ_BLOCKED;
  if (!DTE_IV(&dte)) return AMDVI_IRQ_PASSTHROUGH;
  if (!dev->config.intremap) return AMDVI_IRQ_BLOCKED;
  uint64_t address_low = in->address & 0xFFFFFFFF;
  if (address_low < AMDVI_MSI_WINDOW_LO || address_low > AMDVI_MSI_WINDOW_HI) {
    return irq_fail(dev, devid, in);
  }
  uint32_t delivery = (in->data >> 8) & 7;
  if (delivery > 1) return irq_special(&dte, delivery, in, out);
  uint32_t intctl = DTE_INTCTL(&dte);
  if (intctl == 1) return AMDVI_IRQ_PASSTHROUGH;
  if (intctl != 2) return irq_fail(dev, devid, in);
  uint32_t index = in->data & 0x7FF;
  /* The spec bounds the index by IntTabLen; QEMU does not (§11 item 13). */
  uint32_t table_len_log2 = SIM_MIN(DTE_INTTABLEN(&dte), 11u);
  if (!amdvi__qemu(dev) && index >= (UINT32_C(1) << table_len_log2)) {
    return irq_fail(dev, devid, in);
  }
  if (!irte_apply(dev, &dte, index, out)) {
    *out = *in;
    return irq_fail(dev, devid, in);
  }
  sim_trace(dev->sim, "amdvi.irq_remap", devid, in->data, out->address, out->data);
  return AMDVI_IRQ_REMAPPED;
}
