/*
 * amdvi_rmp.c: SEV-SNP Reverse Map Table checks on device accesses
 * (docs/amd-iommu.md, "RMP checks").
 *
 * With the snp_rmp_base/snp_rmp_end properties set (the RMP_BASE/RMP_END
 * MSRs the IOMMU shares with the CPUs), every device access that reaches
 * system memory reads the RMP entry of its 4 KiB system page from guest
 * memory: one 16-byte read per access, nothing cached.  The table itself is
 * guest RAM, so it migrates with RAM; the properties are configuration.
 *
 * Event layouts, as Linux's amd_iommu_report_rmp_fault / _hw_error decode them:
 *   RMP_PAGE_FAULT (0xD): DeviceID q0[15:0], flags_rmp q0[23:16],
 *     vmg_tag q0[47:32] (the entry's ASID), flags q0[59:48] (RW for a
 *     write); q1 = the device's address (Linux: gpa), before translation.
 *   RMP_HW_ERROR (0xE): DeviceID q0[15:0], vmg_tag q0[47:32] (0 here),
 *     flags q0[59:48] (RW); q1 = SPA of the RMP entry (Linux masks bits 2:0).
 */
#include "amdvi_int.h"

static void rmp_fail(struct amdvi *dev, uint64_t q0, uint64_t q1, uint32_t code,
                     struct amdvi_xlate_result *result)
{
  amdvi__event_log_raw(dev, q0, q1);
  result->status = AMDVI_XLATE_FAULT;
  result->event_code = code;
}

void amdvi__rmp_check(struct amdvi *dev, uint16_t devid, uint64_t iova, bool is_write,
                      struct amdvi_xlate_result *result)
{
  SIM_ASSERT(result->status == AMDVI_XLATE_OK);
  if (!amdvi__rmp_on(dev)) return;
  uint64_t spa = result->address;
  uint32_t flags = is_write ? AMDVI_FAULT_FLAG_RW : 0;
  /* Index by page frame (at most 2^40 frames); a wrapped sum fails the range test. */
  uint64_t base = dev->config.snp_rmp_base;
  uint64_t end = dev->config.snp_rmp_end;
  uint64_t frame = (spa & AMDVI_ADDR_MASK) >> 12;
  uint64_t entry_spa = base + AMDVI_RMP_HEADER_BYTES + frame * AMDVI_RMP_ENTRY_BYTES;
  bool in_range = entry_spa >= base && entry_spa <= end &&
                  end - entry_spa >= AMDVI_RMP_ENTRY_BYTES - 1;
  uint8_t bytes[AMDVI_RMP_ENTRY_BYTES];
  dev->stats.rmp_reads_count++;
  if (!in_range || !amdvi__mem_read(dev, entry_spa, bytes, sizeof bytes)) {
    uint64_t q0 = (uint64_t)devid | (uint64_t)flags << 48 |
                  (uint64_t)AMDVI_EVENT_RMP_HW_ERROR << 60;
    rmp_fail(dev, q0, entry_spa & ~UINT64_C(7), AMDVI_EVENT_RMP_HW_ERROR, result);
    return;
  }
  uint64_t entry = amdvi__le64(bytes);
  if ((entry & AMDVI_RMP_ASSIGNED) == 0) return; /* hypervisor-owned page */
  /* Guest-private (or firmware) page: no device may touch it. */
  uint32_t flags_rmp = AMDVI_RMP_FLAG_ASSIGNED |
                       ((entry & AMDVI_RMP_IMMUTABLE) != 0 ? AMDVI_RMP_FLAG_IMMUTABLE : 0) |
                       ((entry & AMDVI_RMP_PAGESIZE) != 0 ? AMDVI_RMP_FLAG_PAGESIZE : 0);
  uint64_t asid = entry >> AMDVI_RMP_ASID_SHIFT & AMDVI_RMP_ASID_MASK;
  uint64_t q0 = (uint64_t)devid | (uint64_t)flags_rmp << 16 | asid << 32 |
                (uint64_t)flags << 48 | (uint64_t)AMDVI_EVENT_RMP_FAULT << 60;
  rmp_fail(dev, q0, iova, AMDVI_EVENT_RMP_FAULT, result);
}
