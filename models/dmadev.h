/*
 * dmadev.h: a PCI DMA engine the guest programs through a descriptor ring.
 *
 * The guest writes 32-byte descriptors into a ring in guest RAM, sets the
 * ring's base and enables the engine through BAR0 registers, and rings the
 * doorbell with its new tail index.  The engine copies each descriptor's
 * bytes from src to dst in steps of one page, one step per
 * DMADEV_CHUNK_BYTES / bandwidth of guest time, writes the descriptor's
 * status back, advances its head and raises its interrupt (MSI when the
 * guest enabled it).  When its host wires MSIs (dev_host.msi_wired) the message is
 * delivered: it stays pending in the device for msi_delay_ns of guest time
 * (interrupt moderation: completions in that window share one message), then
 * goes to the host with the address and data the guest programmed in the MSI
 * capability (the machine remaps it through the IOMMU).  Every address goes
 * through a translation hook (identity when there is no IOMMU):
 * translate(opaque, devid, iova, is_write, &gpa), one call per page touched.
 *
 * Descriptor (little-endian): 0 src u64, 8 dst u64, 16 length u32, 20 flags
 * u32 (bit 0: interrupt on completion), 24 status u32 (written by the
 * device: 1 done, 2 error), 28 reserved.  docs/dmadev.md has the registers.
 *
 * Migration: section "<bdf>/dmadev" carries the PCI function, the ring
 * registers, the descriptor in progress and its progress in bytes, and the
 * guest time of the next step, so a transfer cut by migration resumes where
 * it stopped.  The ring size and bandwidth are properties that must be equal.
 * With MSIs wired, subsection "dmadev/msi" carries the pending MSIs and
 * their delivery time.
 *
 * Time slots: steps and MSI deliveries land on odd guest nanoseconds t with
 * (t / 2) % slot_count == slot_index, so several engines driven by one guest
 * driver never act at the same instant (event order stays the same whether
 * or not a migration re-armed them).  One engine: every odd nanosecond.
 *
 * ATS (dmadev_ats_set, docs/dmadev.md "ATS"): the engine owns an ATC it
 * registers with the IOMMU; each page is looked up there first, else asked
 * for with a translation request (answer cached), then accessed as a
 * pre-translated request.  The ATC is not migrated: the destination device
 * starts with an empty one and refills it (a real device loses its ATC).
 *
 * Save-time self-check (seed 003): pre_save verifies the engine's own
 * invariants; when one fails the device logs the cause, enters its error
 * state (it stops, STATUS shows ERROR, the rest of the machine runs on) and
 * refuses the save, so the migration fails with the device named.
 */
#ifndef DMADEV_H
#define DMADEV_H

#include "sim_base.h"
#include "amdvi.h"
#include "dev.h"
#include "models_limits.h"
#include "pci.h"
#include "sim.h"
#include "vmstate_desc.h"

#define DMADEV_VENDOR_ID 0x1b36u   /* Red Hat's id, as QEMU's own test devices */
#define DMADEV_DEVICE_ID 0x00f0u   /* migsim's own; not a QEMU device id */
#define DMADEV_DESC_BYTES 32u

/* BAR0 registers, 8-byte access. */
enum dmadev_reg {
  DMADEV_REG_RING_BASE = 0x00,     /* rw: ring gpa (iova), 32-byte aligned; idle only */
  DMADEV_REG_RING_ENTRIES = 0x08,  /* ro: the ring_entries property */
  DMADEV_REG_CTRL = 0x10,          /* rw: bit 0 enable */
  DMADEV_REG_DOORBELL = 0x18,      /* wo: new tail index */
  DMADEV_REG_HEAD = 0x20,          /* ro: next descriptor the engine takes */
  DMADEV_REG_STATUS = 0x28,        /* ro: DMADEV_STATUS_* */
  DMADEV_REG_COMPLETED = 0x30,     /* ro: descriptors completed */
  DMADEV_REG_BAR_BYTES = 0x40,
};

#define DMADEV_CTRL_ENABLE 0x1u
#define DMADEV_STATUS_BUSY 0x1u
#define DMADEV_STATUS_ERROR 0x2u     /* the device found itself inconsistent */
#define DMADEV_DESC_FLAG_IRQ 0x1u
#define DMADEV_DESC_DONE 1u
#define DMADEV_DESC_FAILED 2u

/* Returns false when iova has no translation (the engine fails the descriptor). */
typedef bool dmadev_translate_fn(void *opaque, uint16_t devid, uint64_t iova, bool is_write,
                                 uint64_t *gpa);
struct dmadev_config {             /* dev_config.props of a "dmadev" (table in dmadev.c) */
  uint32_t ring_entries;           /* 2..DMADEV_RING_ENTRIES_MAX */
  uint64_t bandwidth_bytes_per_s;  /* 1..DMADEV_BANDWIDTH_BYTES_PER_S_MAX */
  bool quirk_overrun;              /* injected bug: the last short step counts a whole page */
  bool quirk_msi_lost;             /* injected bug: "dmadev/msi" omits msi_pending_count */
  uint64_t msi_delay_ns;           /* 0: DMADEV_MSI_DELAY_NS_DEFAULT; <= DMADEV_MSI_DELAY_NS_MAX */
  bool ats;                        /* an ATS device (behind the IOMMU only) */
  uint64_t ats_response_ns;        /* invalidation answer time, <= DMADEV_ATS_RESPONSE_NS_MAX */
  bool quirk_ats_stale;            /* injected bug: acknowledges invalidations, keeps entries */
  bool quirk_ats_no_complete;      /* injected bug: never answers invalidations (IOMMU times out) */
};

/* ATS counters (not migrated: the ATC itself is not, see above). */
struct dmadev_ats_stats {
  uint64_t requests_count;         /* translation requests sent (ATC misses) */
  uint64_t hits_count;             /* pages served from the ATC */
  uint64_t failed_count;           /* requests answered without the needed permission */
  uint64_t stale_count;            /* ats-stale: accesses through an invalidated entry */
  uint64_t stale_iova_first;       /* the first such access's iova */
};

struct dmadev {                    /* arena-owned; (m) = migrated */
  struct pci_function pci;         /* (m) config space, MSI */
  uint32_t ring_entries;           /* (m, must be equal) property */
  uint64_t bandwidth_bytes_per_s;  /* (m, must be equal) property */
  uint64_t ring_base;              /* (m) */
  uint32_t ctrl;                   /* (m) */
  uint32_t tail;                   /* (m) guest's producer index, < ring_entries */
  uint32_t head;                   /* (m) engine's consumer index, < ring_entries */
  uint32_t status;                 /* (m) DMADEV_STATUS_* */
  uint64_t completed_count;        /* (m) descriptors completed, ok or failed */
  uint64_t failed_count;           /* (m) descriptors that failed */
  uint64_t irq_count;              /* (m) interrupts raised */
  uint64_t cur_src;                /* (m) descriptor in progress (busy) */
  uint64_t cur_dst;                /* (m) */
  uint32_t cur_bytes;              /* (m) its length, <= DMADEV_TRANSFER_BYTES_MAX */
  uint32_t cur_flags;              /* (m) */
  uint32_t cur_done_bytes;         /* (m) progress, <= cur_bytes */
  uint64_t next_step_vm_ns;        /* (m) guest time of the next step (busy) */
  uint64_t copied_bytes;           /* (m) bytes copied since reset */
  uint64_t retired_bytes;          /* (m) lengths of descriptors completed ok */
  uint64_t msi_delay_ns;           /* (m, msi, must be equal) property */
  uint32_t msi_pending_count;      /* (m, msi) completions awaiting the next MSI */
  uint64_t next_msi_vm_ns;         /* (m, msi) guest time of its delivery (when pending) */
  uint64_t msi_sent_count;         /* (m, msi) messages given to the hook */
  uint32_t slot_index;             /* time slot, < slot_count (configuration) */
  uint32_t slot_count;
  bool quirk_overrun;              /* see struct dmadev_config */
  bool quirk_msi_lost;
  char error_message[96];          /* the self-check's last finding; not migrated */
  dmadev_translate_fn *translate;  /* never NULL */
  void *translate_opaque;
  struct amdvi *ats_iommu;         /* NULL: no ATS; else the IOMMU the ATC is registered with */
  struct amdvi_atc atc;            /* the device's ATC (the IOMMU fills and invalidates it) */
  struct amdvi_atc_entry ats_kept[AMDVI_ATC_ENTRIES]; /* ats-stale: what the device still uses */
  uint32_t ats_kept_victim;        /* round-robin replacement in ats_kept */
  bool quirk_ats_stale;
  struct dmadev_ats_stats ats;     /* counters */
  const struct dev_host *host;     /* guest RAM, the VM clock, MSIs (when msi_wired) */
  struct sim *sim;
  struct sim_event event;          /* next step, armed while busy and running */
};

extern const struct vmstate_desc dmadev_vmstate;
/* The description for this device (dmadev_vmstate, or the quirk_msi_lost one). */
const struct vmstate_desc *dmadev_vmstate_desc(const struct dmadev *dev);

extern const struct dev_class dmadev_class;

static inline struct dmadev_config *dmadev_props(struct dev_config *config)
{
  return dev_props(config);
}

/* host may be NULL for a device that never runs (tests of its tables). */
struct dmadev *dmadev_create(struct sim *sim, const struct dev_host *host,
                             const struct dmadev_config *config);
/* Replaces the identity translation (the IOMMU plugs in here). */
void dmadev_translate_set(struct dmadev *dev, dmadev_translate_fn *translate, void *opaque);
/*
 * Makes the engine an ATS device behind iommu (set-up only, after the PCI
 * function is placed): registers its ATC under its BDF with the config's
 * response time and quirks; every DMA page then goes through the ATC.
 */
void dmadev_ats_set(struct dmadev *dev, struct amdvi *iommu, const struct dmadev_config *config);
/* Tests: another host (a probe that records MSIs); set-up only, never while a step is armed. */
void dmadev_host_set(struct dmadev *dev, const struct dev_host *host);
/* Places the engine in time slot index of count (set-up only; default 0 of 1). */
void dmadev_slot_set(struct dmadev *dev, uint32_t index, uint32_t count);
/* Guest MMIO to BAR0: 8-byte accesses at 8-aligned offsets; others read ~0 / are dropped. */
uint64_t dmadev_mmio_read(struct dmadev *dev, uint32_t offset);
void dmadev_mmio_write(struct dmadev *dev, uint32_t offset, uint64_t value);
/* The VM stopped / resumed: the engine's step event follows the VM clock. */
void dmadev_stop(struct dmadev *dev);
void dmadev_resume(struct dmadev *dev);
/*
 * Checks the engine's invariants; on a failure writes the cause to
 * error_message, traces it, enters the error state and returns false.
 */
bool dmadev_self_check(struct dmadev *dev);

#endif /* DMADEV_H */
