/*
 * amdvi.h: the emulated AMD IOMMU (AMD-Vi), a self-contained device object.
 *
 * The model follows ../shared/spec/amd-iommu.md (the "spec" below; section
 * numbers refer to it) and docs/amd-iommu.md says what is modeled, what
 * migrates and where it deviates.  One object is both halves of QEMU's pair:
 * the `amd-iommu` register block (16 KiB MMIO, §2) and the AMDVI-PCI function
 * 1022:1419 with its own 256-byte config space (§3).  Everything the guest
 * programs in memory (device table, command ring, event log, page tables,
 * IRTEs, completion-wait stores) is reached through struct amdvi_memory_ops,
 * so a test can hand it a flat buffer and a machine its RAM.
 *
 * Work is synchronous and bounded: a register write that rings the doorbell
 * runs at most commands_per_step_max commands (never more than one ring's
 * worth); amdvi_step runs the next batch.  No call loops on guest data
 * without a bound.
 *
 * Two profiles: AMDVI_PROFILE_DEFAULT is the model this project recommends
 * (spec [REC] items); AMDVI_PROFILE_QEMU_10_1 reproduces QEMU 10.1's saved
 * state set and the §11 quirks that matter to migration, so tests can show
 * which §9.4 invariants upstream fails.
 */
#ifndef AMDVI_H
#define AMDVI_H

#include "sim_base.h"
#include "dev.h"
#include "sim.h"
#include "vmstate_desc.h"

#define AMDVI_MMIO_BYTES 0x4000u          /* register window (spec §2) */
#define AMDVI_MMIO_BASE UINT64_C(0xFED80000)
#define AMDVI_PCI_CONFIG_BYTES 256u
#define AMDVI_PCI_VENDOR_ID 0x1022u
#define AMDVI_PCI_DEVICE_ID 0x1419u
#define AMDVI_DEVID_IOAPIC 0x00A0u        /* IOAPIC requester id (spec §3.3) */

/* MMIO register offsets (spec §2.1). */
#define AMDVI_MMIO_DEVTAB_BASE 0x0000u
#define AMDVI_MMIO_CMDBUF_BASE 0x0008u
#define AMDVI_MMIO_EVTLOG_BASE 0x0010u
#define AMDVI_MMIO_CONTROL 0x0018u
#define AMDVI_MMIO_EXCL_BASE 0x0020u
#define AMDVI_MMIO_EXCL_LIMIT 0x0028u
#define AMDVI_MMIO_EFR 0x0030u
#define AMDVI_MMIO_PPRLOG_BASE 0x0038u
#define AMDVI_MMIO_CMDBUF_HEAD 0x2000u
#define AMDVI_MMIO_CMDBUF_TAIL 0x2008u
#define AMDVI_MMIO_EVTLOG_HEAD 0x2010u
#define AMDVI_MMIO_EVTLOG_TAIL 0x2018u
#define AMDVI_MMIO_STATUS 0x2020u
#define AMDVI_MMIO_PPRLOG_HEAD 0x2030u
#define AMDVI_MMIO_PPRLOG_TAIL 0x2038u

/* Control bits (spec §2.3). */
#define AMDVI_CONTROL_IOMMU_EN (UINT64_C(1) << 0)
#define AMDVI_CONTROL_EVTLOG_EN (UINT64_C(1) << 2)
#define AMDVI_CONTROL_EVTINT_EN (UINT64_C(1) << 3)
#define AMDVI_CONTROL_COMWAIT_EN (UINT64_C(1) << 4)
#define AMDVI_CONTROL_INV_TIMEOUT_SHIFT 5 /* InvTimeOut, bits 7:5 */
#define AMDVI_CONTROL_CMDBUF_EN (UINT64_C(1) << 12)
#define AMDVI_CONTROL_PPRLOG_EN (UINT64_C(1) << 13)
#define AMDVI_CONTROL_PPRINT_EN (UINT64_C(1) << 14)
#define AMDVI_CONTROL_PPR_EN (UINT64_C(1) << 15)
#define AMDVI_CONTROL_GA_EN (UINT64_C(1) << 17)
#define AMDVI_CONTROL_XT_EN (UINT64_C(1) << 50)

/* Status bits (spec §2.4). */
#define AMDVI_STATUS_EVT_OVERFLOW (UINT64_C(1) << 0)
#define AMDVI_STATUS_EVTLOG_INT (UINT64_C(1) << 1)
#define AMDVI_STATUS_COMWAIT_INT (UINT64_C(1) << 2)
#define AMDVI_STATUS_EVTLOG_RUN (UINT64_C(1) << 3)
#define AMDVI_STATUS_CMDBUF_RUN (UINT64_C(1) << 4)
#define AMDVI_STATUS_PPR_OVERFLOW (UINT64_C(1) << 5)
#define AMDVI_STATUS_PPR_INT (UINT64_C(1) << 6)
#define AMDVI_STATUS_PPRLOG_RUN (UINT64_C(1) << 7)

/* Event codes (spec §6.3). */
#define AMDVI_EVENT_ILLEGAL_DEVTAB_ENTRY 0x1u
#define AMDVI_EVENT_IO_PAGE_FAULT 0x2u
#define AMDVI_EVENT_DEVTAB_HW_ERROR 0x3u
#define AMDVI_EVENT_PAGETAB_HW_ERROR 0x4u
#define AMDVI_EVENT_ILLEGAL_COMMAND 0x5u
#define AMDVI_EVENT_COMMAND_HW_ERROR 0x6u
#define AMDVI_EVENT_IOTLB_INV_TIMEOUT 0x7u
#define AMDVI_EVENT_INVALID_DEVICE_REQUEST 0x8u
#define AMDVI_EVENT_INVALID_PPR_REQUEST 0x9u
#define AMDVI_EVENT_RMP_FAULT 0xDu            /* SEV-SNP RMP check (snp_rmp_* properties) */
#define AMDVI_EVENT_RMP_HW_ERROR 0xEu         /* RMP entry unreadable */

/*
 * SEV-SNP Reverse Map Table (docs/amd-iommu.md, "RMP checks"): 16 bytes per
 * 4 KiB system page after a 16 KiB processor header, indexed by SPA >> 12.
 * Low qword as Linux's struct rmpentry: Assigned 0, PageSize 1, Immutable 2,
 * GPA 50:12, ASID 60:51.
 */
#define AMDVI_RMP_HEADER_BYTES 0x4000u
#define AMDVI_RMP_ENTRY_BYTES 16u
#define AMDVI_RMP_ASSIGNED (UINT64_C(1) << 0)
#define AMDVI_RMP_PAGESIZE (UINT64_C(1) << 1)
#define AMDVI_RMP_IMMUTABLE (UINT64_C(1) << 2)
#define AMDVI_RMP_GPA_MASK UINT64_C(0x0007FFFFFFFFF000) /* bits 50:12 */
#define AMDVI_RMP_ASID_SHIFT 51u
#define AMDVI_RMP_ASID_MASK 0x3FFu
/* RMP_PAGE_FAULT flags_rmp (q0[23:16]): the entry bits that refused the access. */
#define AMDVI_RMP_FLAG_ASSIGNED (1u << 0)
#define AMDVI_RMP_FLAG_IMMUTABLE (1u << 1)
#define AMDVI_RMP_FLAG_PAGESIZE (1u << 2)

/* IO_PAGE_FAULT flag bits, as bit n of the 12-bit flags field (spec §6.2). */
#define AMDVI_FAULT_FLAG_GN (1u << 0)
#define AMDVI_FAULT_FLAG_I (1u << 3)
#define AMDVI_FAULT_FLAG_PR (1u << 4)
#define AMDVI_FAULT_FLAG_RW (1u << 5)
#define AMDVI_FAULT_FLAG_PE (1u << 6)
#define AMDVI_FAULT_FLAG_RZ (1u << 7)
#define AMDVI_FAULT_FLAG_TR (1u << 8)         /* the request was an ATS translation request */

/* INVALID_DEVICE_REQUEST: the request type in flags bits 11:9 (docs/amd-iommu.md). */
#define AMDVI_IDR_TYPE_SHIFT 9u
#define AMDVI_IDR_TYPE_TRANSLATION_REQUEST 1u /* DTE has I=0, V=0, or TV=0 */
#define AMDVI_IDR_TYPE_PRETRANSLATED 2u       /* translated access, DTE has I=0 or V=0 */

/* PPR request flags, in the PPR log entry and INVALID_PPR_REQUEST (Linux PPR_FLAG_*). */
#define AMDVI_PPR_FLAG_EXEC 0x002u
#define AMDVI_PPR_FLAG_READ 0x004u
#define AMDVI_PPR_FLAG_WRITE 0x020u
#define AMDVI_PPR_FLAG_US 0x040u
#define AMDVI_PPR_FLAG_GN 0x100u              /* PASID valid (set by the IOMMU) */
#define AMDVI_PPR_REQ_FAULT 0x1u              /* PPR log entry type: page request */

/*
 * ATS invalidation timeouts (Control.InvTimeOut, bits 7:5): 1 ms * 10^(n-1)
 * for n = 1..6.  The spec's 000b ("no timeout") and the reserved 111b are
 * bounded at AMDVI_ATS_INV_TIMEOUT_NS_MAX so every invalidation ends.
 */
#define AMDVI_ATS_INV_TIMEOUT_NS_MAX (UINT64_C(100) * 1000000000u) /* 100 s */
#define AMDVI_ATC_ENTRIES 8u                  /* translations one ATC holds */
#define AMDVI_ATC_DEVICES_MAX 8u              /* ATCs registered at once */
#define AMDVI_ATS_PENDING_MAX 8u              /* invalidations waiting for an answer */
#define AMDVI_ATC_QUIRK_NO_COMPLETE (1u << 0) /* "ats-no-complete": never answers */

enum amdvi_profile {
  AMDVI_PROFILE_DEFAULT,              /* spec-faithful, migrates everything */
  AMDVI_PROFILE_QEMU_10_1,            /* QEMU's saved state and quirks (spec §9.1, §11) */
};

/* Configuration: properties, equal on both sides of a migration (spec §1). */
struct amdvi_config {
  enum amdvi_profile profile;
  bool xtsup;                         /* EFR.XTSup; 32-bit IRTE destinations */
  bool intremap;                      /* interrupt remapping supported */
  bool dma_remap;                     /* false: every DMA passes untranslated (10.1 pt=on) */
  bool dma_translation;               /* false: HATS=11b, DTE roots illegal */
  bool device_iotlb;                  /* IotlbSup capability bit (QEMU: always set) */
  bool pci_placed_explicitly;         /* the pci-id rule (spec §3.4): false blocks migration */
  uint16_t pci_bdf;                   /* AMDVI-PCI requester id, bus<<8 | devfn */
  bool illegal_command_continue;      /* QEMU: log and go on; default halts (spec) */
  uint32_t commands_per_step_max;     /* batch bound; 0 = one ring's worth */
  /* SEV-SNP RMP_BASE / RMP_END (inclusive), shared with the CPUs; both 0 = no
     RMP checks (the default).  Ignored by the qemu-10.1 profile. */
  uint64_t snp_rmp_base;
  uint64_t snp_rmp_end;
};

/* Guest memory and interrupt sink; every callback gets context. */
struct amdvi_memory_ops {
  /* Reads count bytes at guest-physical gpa; false = unbacked (a DMA error). */
  bool (*read)(void *context, uint64_t gpa, void *bytes, uint32_t count);
  bool (*write)(void *context, uint64_t gpa, const void *bytes, uint32_t count);
  /* The IOMMU's own MSI (requester id = the PCI BDF), raised only if MSI is enabled. */
  void (*msi)(void *context, uint64_t address, uint32_t data);
  void *context;
};

enum amdvi_xlate_status {
  AMDVI_XLATE_OK,                     /* result.address and perms are valid */
  AMDVI_XLATE_FAULT,                  /* a fault; an event may have been logged */
  AMDVI_XLATE_BLOCKED,                /* blocked without an event (TV=0, target abort) */
  AMDVI_XLATE_INTERRUPT,              /* IOVA in the MSI window: use amdvi_remap_msi */
};

struct amdvi_xlate_result {
  enum amdvi_xlate_status status;
  uint64_t address;                   /* translated system-physical address */
  uint64_t page_bytes;                /* size of the mapping that covers the IOVA */
  bool read_ok;                       /* permissions of the mapping */
  bool write_ok;
  bool iotlb_hit;                     /* served from the IOTLB */
  uint32_t event_code;                /* logged event, 0 if none */
};

struct amdvi_msi {
  uint64_t address;
  uint32_t data;
};

enum amdvi_irq_status {
  AMDVI_IRQ_REMAPPED,                 /* out holds the IRTE's message */
  AMDVI_IRQ_PASSTHROUGH,              /* out equals in */
  AMDVI_IRQ_BLOCKED,                  /* dropped (target abort or unsupported) */
};

/* Counters for tests and reports; never migrated. */
struct amdvi_stats {
  uint64_t commands_count;            /* commands executed or rejected */
  uint64_t events_logged_count;
  uint64_t events_dropped_count;      /* log disabled, full or overflowed */
  uint64_t msi_count;                 /* own MSIs delivered */
  uint64_t msi_suppressed_count;      /* wanted an MSI but PCI MSI was disabled */
  uint64_t iotlb_hit_count;
  uint64_t iotlb_miss_count;
  uint64_t walk_reads_count;          /* PTE reads */
  uint64_t qemu_hazards_count;        /* qemu-10.1: times QEMU would hang or crash */
  uint64_t ats_requests_count;        /* translation requests and translated accesses */
  uint64_t ats_invalidations_count;   /* INVALIDATE_IOTLB_PAGES sent to a registered ATC */
  uint64_t ats_timeouts_count;        /* of those, never answered in time */
  uint64_t ppr_requests_count;
  uint64_t ppr_logged_count;
  uint64_t commands_stalled_count;    /* batches stopped waiting for ATS answers */
  uint64_t rmp_reads_count;           /* RMP entries read (one per checked access) */
};

struct amdvi;

/*
 * A device's Address Translation Cache (PCIe ATS).  The device owns the
 * storage (and migrates it as its own state); the IOMMU fills it on a
 * successful amdvi_ats_translate and delivers INVALIDATE_IOTLB_PAGES to it
 * while it is registered.  Fields below "private" are the model's.
 */
struct amdvi_atc_entry {
  bool valid;
  bool read_ok;
  bool write_ok;
  uint64_t iova;                      /* first byte of the translated page */
  uint64_t page_bytes;
  uint64_t address;                   /* system-physical address of the page */
};

struct amdvi_atc {
  uint16_t devid;                     /* requester id */
  uint32_t quirks;                    /* AMDVI_ATC_QUIRK_* */
  uint64_t response_ns;               /* time to answer an invalidation; 0 = at once */
  /* private, do not touch */
  struct amdvi_atc_entry entries[AMDVI_ATC_ENTRIES];
  uint32_t victim_index;              /* round-robin replacement */
  uint64_t invalidations_count;       /* invalidation requests received */
  uint64_t completions_count;         /* invalidations answered */
  uint64_t ppr_responses_count;       /* COMPLETE_PPR_REQUEST (PRG responses) received */
  uint32_t ppr_last_tag;              /* tag (9 bits) and status (4 bits) of the last one */
  uint32_t ppr_last_status;
};

/* A Translation Request (PCIe ATS) from a device. */
struct amdvi_ats_request {
  uint16_t devid;
  uint64_t iova;
  bool pasid_present;                 /* PASID prefix (guest translation is not modeled) */
  uint32_t pasid;                     /* 20 bits */
};

enum amdvi_ats_status {
  AMDVI_ATS_SUCCESS,                  /* completion with the translation (a permission may be 0) */
  AMDVI_ATS_NO_ACCESS,                /* completion with R=W=0: the walk faulted */
  AMDVI_ATS_UNSUPPORTED,              /* Unsupported Request; event_code says if one was logged */
};

struct amdvi_ats_result {
  enum amdvi_ats_status status;
  uint64_t address;                   /* translated page address */
  uint64_t page_bytes;
  bool read_ok;
  bool write_ok;
  uint32_t event_code;                /* logged event, 0 if none */
};

/* A Page Request (PCIe PRI) from a device. */
struct amdvi_ppr_request {
  uint16_t devid;
  uint64_t address;
  uint16_t tag;                       /* 10 bits, returned in the log entry */
  uint32_t flags;                     /* AMDVI_PPR_FLAG_EXEC/READ/WRITE/US */
  bool pasid_present;
  uint32_t pasid;                     /* 20 bits */
};

enum amdvi_ppr_status {
  AMDVI_PPR_LOGGED,                   /* written to the PPR log */
  AMDVI_PPR_INVALID,                  /* PPR disabled: INVALID_PPR_REQUEST (maybe dropped) */
  AMDVI_PPR_DROPPED,                  /* log off, full or overflowed; no entry */
};

/* The default configuration (QEMU defaults plus an explicitly placed PCI function). */
void amdvi_config_default(struct amdvi_config *config);
/*
 * The device class "amd-iommu" (amdvi_dev.c): its properties are struct
 * amdvi_config's, pci_bdf follows the PCI address and pci_placed_explicitly
 * is false exactly when the address was left to realize (addr_implicit).
 */
extern const struct dev_class amdvi_class;

static inline struct amdvi_config *amdvi_props(struct dev_config *config)
{
  return dev_props(config);
}
/* Creates the device in sim's arena, reset.  ops is copied. */
struct amdvi *amdvi_create(struct sim *sim, const struct amdvi_config *config,
                           const struct amdvi_memory_ops *ops);
/* Device reset: registers, config space, IOTLB and per-device modes (qemu-10.1: §9.2 stale). */
void amdvi_reset(struct amdvi *dev);

/* MMIO at offset within the 16 KiB window; size 1, 2, 4 or 8; all-ones when invalid. */
uint64_t amdvi_mmio_read(struct amdvi *dev, uint32_t offset, uint32_t size);
void amdvi_mmio_write(struct amdvi *dev, uint32_t offset, uint32_t size, uint64_t value);
/*
 * Settles due ATS invalidation answers and timeouts (sim_now_ns), then runs
 * the next batch of pending commands (bounded); returns how many ran.
 */
uint32_t amdvi_step(struct amdvi *dev);
/* Commands between head and tail that would run if enabled. */
uint32_t amdvi_commands_pending(const struct amdvi *dev);

/* AMDVI-PCI config space; size 1, 2 or 4, naturally aligned; all-ones when invalid. */
uint32_t amdvi_pci_config_read(struct amdvi *dev, uint32_t offset, uint32_t size);
void amdvi_pci_config_write(struct amdvi *dev, uint32_t offset, uint32_t size, uint32_t value);
uint16_t amdvi_pci_bdf(const struct amdvi *dev);
uint8_t amdvi_pci_iommu_cap_offset(const struct amdvi *dev);
uint8_t amdvi_pci_msi_cap_offset(const struct amdvi *dev);

/* DMA translation for requester devid (spec §7). */
void amdvi_translate(struct amdvi *dev, uint16_t devid, uint64_t iova, bool is_write,
                     struct amdvi_xlate_result *result);
/* Interrupt remapping of a device MSI (spec §8). */
enum amdvi_irq_status amdvi_remap_msi(struct amdvi *dev, uint16_t devid,
                                      const struct amdvi_msi *in, struct amdvi_msi *out);

/*
 * The per-device translation mode a machine would use to choose a DMA path
 * (QEMU 10.2's dma-remap address-space switch): true = confined (translated).
 * Default: derived from the registers and the DTE whenever asked, so a load
 * cannot lose it; qemu-10.1: switched only by INVALIDATE_DEVTAB_ENTRY and
 * lost by migration (spec §9.2).
 */
bool amdvi_device_translated(const struct amdvi *dev, uint16_t devid);

/*
 * ATS and PPR at the IOMMU boundary (docs/amd-iommu.md, "ATS and PPR").
 * Each call does bounded work: one DTE read, one walk of at most six reads,
 * at most AMDVI_ATC_ENTRIES entry updates, one log write.  The qemu-10.1
 * profile has no ATS or PPR: it answers Unsupported / drops, with no event.
 */
void amdvi_atc_init(struct amdvi_atc *atc, uint16_t devid, uint32_t quirks, uint64_t response_ns);
/* Registers atc (not owned) for INVALIDATE_IOTLB_PAGES; false if full or devid taken. */
bool amdvi_atc_register(struct amdvi *dev, struct amdvi_atc *atc);
void amdvi_atc_unregister(struct amdvi *dev, struct amdvi_atc *atc);
/* Device-side lookup: true and *address when a cached translation allows the access. */
bool amdvi_atc_lookup(const struct amdvi_atc *atc, uint64_t iova, bool is_write,
                      uint64_t *address);
uint32_t amdvi_atc_valid_count(const struct amdvi_atc *atc);
/* Translation Request; on success the answer is also cached in atc (may be NULL). */
void amdvi_ats_translate(struct amdvi *dev, const struct amdvi_ats_request *request,
                         struct amdvi_atc *atc, struct amdvi_ats_result *result);
/* A pre-translated (AT=10b) access: passes only if the DTE has V=1 and I=1. */
void amdvi_ats_translated_access(struct amdvi *dev, uint16_t devid, uint64_t address,
                                 bool is_write, struct amdvi_xlate_result *result);
enum amdvi_ppr_status amdvi_ppr_request(struct amdvi *dev, const struct amdvi_ppr_request *request);
/* Invalidations sent to devices and not yet answered or timed out. */
uint32_t amdvi_ats_pending_count(const struct amdvi *dev);
/*
 * The VM stopped / resumed (the machine calls these): owed invalidations do
 * not count down while the VM is stopped, and a load counts as stopped until
 * the resume, so their answers and timeouts land at the same guest time as
 * in a run that never stopped.
 */
void amdvi_vm_stop(struct amdvi *dev);
void amdvi_vm_resume(struct amdvi *dev);
/* Virtual time of the next ATS completion or timeout, UINT64_MAX if none (for a timer). */
uint64_t amdvi_ats_next_ns(const struct amdvi *dev);
/* The invalidation timeout Control.InvTimeOut selects (bounded, see above). */
uint64_t amdvi_ats_inv_timeout_ns(const struct amdvi *dev);

void amdvi_stats_get(const struct amdvi *dev, struct amdvi_stats *stats);
const struct amdvi_config *amdvi_config_get(const struct amdvi *dev);

/*
 * Derived-state check (spec §9.4 invariant 2): compares every derived field
 * with what the registers imply.  Returns the number of mismatching fields
 * and writes their names, comma separated, into out.
 */
uint32_t amdvi_derived_check(const struct amdvi *dev, char *out, size_t out_bytes);

/* Migration: the description for this device's profile and the last hook error text. */
const struct vmstate_desc *amdvi_vmstate_desc(const struct amdvi *dev);
const char *amdvi_migration_error(const struct amdvi *dev);

extern const struct vmstate_desc amdvi_vmstate;          /* default profile */
extern const struct vmstate_desc amdvi_vmstate_qemu_10_1; /* QEMU 10.1's field set only */

#endif /* AMDVI_H */
