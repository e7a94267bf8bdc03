/*
 * amdvi_int.h: private layout of the AMD IOMMU model (models/ only).
 *
 * The first block of fields carries QEMU 10.1's names and types because the
 * vmstate table (amdvi_vmstate.c) writes them in QEMU's order (spec §9.1).
 * In the default profile they are a derived mirror of the register file and
 * are re-derived after a load; in the qemu-10.1 profile they are the live
 * state, with QEMU's staleness.
 */
#ifndef AMDVI_INT_H
#define AMDVI_INT_H

#include "sim_base.h"
#include "amdvi.h"
#include "models_limits.h"

#define AMDVI_DEVIDS_COUNT 65536u
#define AMDVI_DTE_BYTES 32u
#define AMDVI_CMD_BYTES 16u
#define AMDVI_EVENT_BYTES 16u
#define AMDVI_RING_POINTER_MASK UINT64_C(0x7FFF0)     /* bits 18:4 */
#define AMDVI_ADDR_MASK UINT64_C(0x000FFFFFFFFFF000)  /* bits 51:12 */
#define AMDVI_MSI_WINDOW_LO UINT64_C(0xFEE00000)
#define AMDVI_MSI_WINDOW_HI UINT64_C(0xFEEFFFFF)
#define AMDVI_IOTLB_SETS 256u
#define AMDVI_IOTLB_WAYS 4u
#define AMDVI_IOTLB_ENTRIES (AMDVI_IOTLB_SETS * AMDVI_IOTLB_WAYS) /* QEMU's 1024 */
#define AMDVI_WALK_LEVELS_MAX 6u
#define AMDVI_EFR_DEFAULT UINT64_C(0x29D3)
#define AMDVI_PCI_CAP_IOMMU 0x40u
#define AMDVI_PCI_CAP_MSI 0x60u
#define AMDVI_ERROR_BYTES 160u

_Static_assert(AMDVI_IOTLB_ENTRIES == 1024, "QEMU's IOTLB capacity");
_Static_assert((AMDVI_IOTLB_SETS & (AMDVI_IOTLB_SETS - 1)) == 0, "sets are a power of two");

struct amdvi_iotlb_entry {
  bool valid;
  bool read_ok;
  bool write_ok;
  uint16_t devid;
  uint16_t domain_id;
  uint64_t iova_page;                 /* iova >> 12 of the 4 KiB frame that missed */
  uint64_t page_bytes;                /* size of the mapping (>= 4 KiB) */
  uint64_t address;                   /* system-physical address of the 4 KiB frame */
};

struct amdvi {
  /* ---- QEMU 10.1's saved fields, in stream order (spec §9.1) ---- */
  bool enabled;                       /* IommuEn */
  bool ga_enabled;                    /* GAEn: 128-bit IRTEs */
  bool cmdbuf_enabled;                /* IommuEn && CmdBufEn (and not halted) */
  bool completion_wait_intr;          /* ComWaitIntEn */
  bool evtlog_enabled;                /* IommuEn && EventLogEn */
  bool evtlog_intr;                   /* EventIntEn */
  uint64_t devtab;                    /* device table base, bytes */
  uint64_t devtab_len;                /* device table entries, (size + 1) * 128 */
  uint64_t cmdbuf;                    /* command ring base */
  uint64_t cmdbuf_len;                /* command ring entries */
  uint32_t cmdbuf_head;               /* bytes, < cmdbuf_len * 16 */
  uint32_t cmdbuf_tail;               /* bytes */
  uint64_t evtlog;                    /* event log base */
  uint32_t evtlog_len;                /* event log entries */
  uint32_t evtlog_head;               /* bytes */
  uint32_t evtlog_tail;               /* bytes */
  uint64_t ppr_log;                   /* PPR log base (never written) */
  uint32_t pprlog_len;
  uint32_t pprlog_head;
  uint32_t pprlog_tail;
  uint8_t mmior[AMDVI_MMIO_BYTES];    /* register file, little-endian */
  uint8_t romask[AMDVI_MMIO_BYTES];   /* read-only bits (constant) */
  uint8_t w1cmask[AMDVI_MMIO_BYTES];  /* write-1-to-clear bits (constant) */
  /* ---- default-profile subsections ---- */
  uint8_t pci_config[AMDVI_PCI_CONFIG_BYTES]; /* "amd-iommu/pci" */
  uint16_t cfg_bdf;                   /* "amd-iommu/config", all must be equal */
  uint32_t cfg_props;                 /* AMDVI_PROP_* bits of the configuration */
  uint64_t cfg_efr;                   /* EFR this configuration computes */
  uint8_t cfg_cap_offset;             /* IOMMU capability offset */
  uint64_t cfg_rmp_base;              /* "amd-iommu/snp", only with RMP checks */
  uint64_t cfg_rmp_end;
  bool cmdbuf_halted;                 /* stopped on an illegal command ("amd-iommu/halt") */
  /* "amd-iommu/ats": invalidations sent to device ATCs and not yet settled,
     in issue order.  Times are absolute here; the stream carries them
     relative to the save instant (mig_ats_*_in_ns), filled by pre_save. */
  uint32_t ats_pending_count;
  uint16_t ats_devid[AMDVI_ATS_PENDING_MAX];
  uint64_t ats_cmd_gpa[AMDVI_ATS_PENDING_MAX];   /* the INVALIDATE_IOTLB_PAGES command */
  uint64_t ats_start[AMDVI_ATS_PENDING_MAX];     /* invalidated range */
  uint64_t ats_last[AMDVI_ATS_PENDING_MAX];
  uint64_t ats_complete_ns[AMDVI_ATS_PENDING_MAX]; /* answer due; UINT64_MAX = never */
  uint64_t ats_deadline_ns[AMDVI_ATS_PENDING_MAX]; /* IOTLB_INV_TIMEOUT due */
  uint64_t mig_ats_complete_in_ns[AMDVI_ATS_PENDING_MAX];
  uint64_t mig_ats_deadline_in_ns[AMDVI_ATS_PENDING_MAX];
  /* ---- not migrated ---- */
  bool ats_stopped;                   /* the VM is stopped (or loaded, not yet resumed) */
  uint64_t ats_stopped_ns;            /* since when: owed instants shift by the stop's length */
  struct amdvi_config config;         /* properties */
  struct amdvi_memory_ops ops;        /* guest memory and MSI sink */
  struct sim *sim;                    /* trace */
  uint8_t pci_wmask[AMDVI_PCI_CONFIG_BYTES];   /* writable config bits */
  uint8_t pci_w1cmask[AMDVI_PCI_CONFIG_BYTES]; /* W1C config bits */
  uint8_t pci_reset[AMDVI_PCI_CONFIG_BYTES];   /* config space after reset */
  uint8_t dev_translated[AMDVI_DEVIDS_COUNT / 8]; /* qemu-10.1: region switch per device */
  struct amdvi_iotlb_entry iotlb[AMDVI_IOTLB_ENTRIES];
  uint8_t iotlb_victim[AMDVI_IOTLB_SETS];  /* round-robin way per set */
  uint32_t iotlb_used_count;          /* valid entries */
  struct amdvi_atc *atcs[AMDVI_ATC_DEVICES_MAX]; /* registered device ATCs (not owned) */
  struct amdvi_stats stats;
  char error[AMDVI_ERROR_BYTES];      /* last migration hook error */
};

#define AMDVI_PROP_XTSUP (1u << 0)
#define AMDVI_PROP_INTREMAP (1u << 1)
#define AMDVI_PROP_DMA_REMAP (1u << 2)
#define AMDVI_PROP_DMA_TRANSLATION (1u << 3)
#define AMDVI_PROP_DEVICE_IOTLB (1u << 4)
#define AMDVI_PROP_SNP_RMP (1u << 5)
#define AMDVI_EFR_SNPSUP (UINT64_C(1) << 63)

static inline bool amdvi__qemu(const struct amdvi *dev)
{
  return dev->config.profile == AMDVI_PROFILE_QEMU_10_1;
}

/* RMP checks apply: the properties are set and the profile is not QEMU's (QEMU has none). */
static inline bool amdvi__rmp_on(const struct amdvi *dev)
{
  return !amdvi__qemu(dev) && (dev->config.snp_rmp_base != 0 || dev->config.snp_rmp_end != 0);
}

static inline uint64_t amdvi__reg(const struct amdvi *dev, uint32_t offset)
{
  SIM_ASSERT(offset + 8 <= AMDVI_MMIO_BYTES);
  uint64_t value = 0;
  for (uint32_t i = 0; i < 8; i++) value |= (uint64_t)dev->mmior[offset + i] << (8 * i);
  return value;
}

/* Raw register store: bypasses the masks (internal updates, spec §2.2). */
static inline void amdvi__reg_set(struct amdvi *dev, uint32_t offset, uint64_t value)
{
  SIM_ASSERT(offset + 8 <= AMDVI_MMIO_BYTES);
  for (uint32_t i = 0; i < 8; i++) dev->mmior[offset + i] = (uint8_t)(value >> (8 * i));
}

static inline uint64_t amdvi__le64(const uint8_t *bytes)
{
  uint64_t value = 0;
  for (uint32_t i = 0; i < 8; i++) value |= (uint64_t)bytes[i] << (8 * i);
  return value;
}

/* amdvi.c */
void amdvi__event_log(struct amdvi *dev, uint32_t code, uint16_t devid, uint16_t domain_id,
                      uint32_t flags, uint64_t address);
/* Logs an event whose first qword is already composed (PASID/tag layouts). */
void amdvi__event_log_raw(struct amdvi *dev, uint64_t q0, uint64_t q1);
void amdvi__status_set(struct amdvi *dev, uint64_t bits);
void amdvi__msi_raise(struct amdvi *dev);
void amdvi__target_abort(struct amdvi *dev);
void amdvi__derive_from_registers(struct amdvi *dev);
uint64_t amdvi__efr_compute(const struct amdvi_config *config);
void amdvi__masks_build(struct amdvi *dev);
void amdvi__pci_build(struct amdvi *dev);
bool amdvi__mem_read(struct amdvi *dev, uint64_t gpa, void *bytes, uint32_t count);
bool amdvi__mem_write(struct amdvi *dev, uint64_t gpa, const void *bytes, uint32_t count);

/* amdvi_ats.c */
/* Sends INVALIDATE_IOTLB_PAGES to devid's ATC; false = no free slot (stall the ring). */
bool amdvi__ats_invalidate(struct amdvi *dev, uint16_t devid, uint64_t start, uint64_t last,
                           uint64_t cmd_gpa);
/* Settles answers and timeouts due at the current virtual time. */
void amdvi__ats_poll(struct amdvi *dev);
void amdvi__ats_relative_clear(struct amdvi *dev);
void amdvi__ats_clear(struct amdvi *dev);
/* COMPLETE_PPR_REQUEST: the page request response goes to devid's registered ATC. */
void amdvi__ppr_complete(struct amdvi *dev, uint64_t q0, uint64_t q1);
struct amdvi_atc *amdvi__atc_find(struct amdvi *dev, uint16_t devid);
void amdvi__atc_fill(struct amdvi_atc *atc, uint64_t iova, const struct amdvi_ats_result *result);

/* amdvi_rmp.c */
/*
 * The RMP check of a device access to system page spa (result->status OK):
 * reads one RMP entry; on failure logs RMP_HW_ERROR or RMP_PAGE_FAULT and
 * turns result into AMDVI_XLATE_FAULT.  No-op unless amdvi__rmp_on.
 */
void amdvi__rmp_check(struct amdvi *dev, uint16_t devid, uint64_t iova, bool is_write,
                      struct amdvi_xlate_result *result);

/* amdvi_cmd.c */
uint32_t amdvi__commands_run(struct amdvi *dev);

/* amdvi_xlate.c */
void amdvi__iotlb_flush_all(struct amdvi *dev);
void amdvi__iotlb_flush_domain(struct amdvi *dev, uint16_t domain_id, uint64_t start,
                               uint64_t last);
void amdvi__iotlb_flush_device(struct amdvi *dev, uint16_t devid, uint64_t start,
                               uint64_t last);
void amdvi__device_mode_update(struct amdvi *dev, uint16_t devid);
void amdvi__device_modes_clear(struct amdvi *dev);
/* Reads DTE[devid] for a device-side request: false (request refused) on an error or abort. */
bool amdvi__dte_fetch(struct amdvi *dev, uint16_t devid, uint64_t q[4], uint32_t *event_code);

#endif /* AMDVI_INT_H */
