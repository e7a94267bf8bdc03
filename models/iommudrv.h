/*
 * iommudrv.h: the guest's AMD IOMMU driver, as Linux's amd_iommu programs
 * the device, run inside the DMA driver's ticks (devdrv.h) in guest time.
 *
 * At boot it places a device table (1024 DTEs: buses 0..3), a 256-entry
 * command buffer, a 256-entry event log and a completion-wait semaphore in
 * its RAM block (the machine's second-to-last block), enables the IOMMU,
 * gives each DMA engine's BDF a translating DTE (v1 tables, mode 3 or 4;
 * one shared domain 1, or with domains_separate device k in domain 1 + k
 * with its own tables), maps its descriptor ring and issues
 * INVALIDATE_DEVTAB_ENTRY.  The engines see I/O virtual addresses
 * IOMMUDRV_IOVA_BASE + (gpa - window); a device in its own domain has only
 * its own buffers mapped.
 *
 * Interrupt remapping (intremap), as Linux's amd_iommu does it: per device
 * an interrupt remapping table (512 entries, 32-bit legacy IRTEs, or 128-bit
 * ones with Control.GAEn when irte_ga), the DTE's IV, IntTabLen 9, table
 * root and IntCtl 10b (remap; 00b target abort with intctl_abort), then IRTE
 * 0 = (dest, vector, fixed, physical), INVALIDATE_INTERRUPT_TABLE and a
 * completion wait.  The device driver then points the MSI data at index 0.
 *
 * Per transfer: map source (read) and destination (write) pages on submit;
 * on reap clear the PTEs and queue INVALIDATE_IOMMU_PAGES for the range.
 * Each tick that queued commands ends with COMPLETION_WAIT (store, interrupt)
 * of a fresh sequence number to the semaphore, which the next tick polls.
 * Every event_consume_every ticks it consumes the event log and clears
 * EventLogInt, ComWaitInt and EventOverflow (W1C), as an interrupt handler.  Knobs make it
 * fault (skip a destination mapping) and leave a batch of commands pending
 * with the command buffer disabled until the next batch: §9.4 cut points.
 *
 * ATS (a device with ats): its DTE gets I=1 (IOTLB enable), the IOMMU runs
 * with Control.InvTimeOut = 1 ms, and each unmap queues INVALIDATE_IOMMU_PAGES
 * then INVALIDATE_IOTLB_PAGES for the device (Linux: domain flush, then each
 * ATS device's IOTLB), before the tick's COMPLETION_WAIT.  While the IOMMU
 * owes device answers, each tick steps it (the hardware's progress, at the
 * driver's tick) so answers and IOTLB_INV_TIMEOUT events settle; the driver
 * counts the timeouts it consumes (migrated, subsection "iommudrv/ats").
 *
 * Its counts and checksums migrate in the "iommudrv" section, a
 * guest-visible result the transparency oracle compares.
 */
#ifndef IOMMUDRV_H
#define IOMMUDRV_H

#include "sim_base.h"
#include "models_limits.h"
#include "vmstate_desc.h"

struct amdvi;
struct machine;

#define IOMMUDRV_IOVA_BASE (UINT64_C(1) << 32)
#define IOMMUDRV_DOMAIN_ID 1u
#define IOMMUDRV_DEVTAB_BYTES 0x8000u      /* 1024 DTEs of 32 bytes */
#define IOMMUDRV_CMD_OFFSET 0x8000u        /* 256 x 16 bytes */
#define IOMMUDRV_EVT_OFFSET 0x9000u        /* 256 x 16 bytes */
#define IOMMUDRV_SEM_OFFSET 0xA000u        /* the completion-wait semaphore */
#define IOMMUDRV_POOL_OFFSET 0xB000u       /* page-table pages from here */
#define IOMMUDRV_RING_LOG2 8u
#define IOMMUDRV_RING_BYTES 4096u

struct iommudrv_config {
  bool enabled;                    /* false: no IOMMU driver */
  uint32_t mode;                   /* paging mode, 3 or 4 */
  uint32_t fault_every;            /* every n-th transfer has no destination mapping; 0 never */
  uint32_t event_consume_every;    /* consume the event log every n ticks; >= 1 */
  uint32_t cmdbuf_pause_every;     /* every n-th batch waits for the next (>= 2); 0 never */
  bool domains_separate;           /* each device its own domain and tables; else domain 1 */
  bool intremap;                   /* remap the devices' MSIs through IRTEs */
  bool irte_ga;                    /* 128-bit IRTEs (GAEn); else 32-bit legacy ones */
  bool intctl_abort;               /* DTE IntCtl 00b: every MSI is target-aborted (a fault) */
};

struct iommudrv_device {           /* one DMA engine the driver gives a DTE */
  uint16_t devid;                  /* its requester id */
  uint64_t ring_gpa;               /* its descriptor ring, mapped at boot */
  uint64_t ring_bytes;
  uint32_t dest;                   /* its completion MSI's APIC id and vector (intremap) */
  uint32_t vector;
  bool ats;                        /* an ATS device: DTE.I and device IOTLB invalidations */
};

struct iommudrv {                  /* embedded in struct machine; (m) = migrated */
  uint64_t pool_next;              /* (m) next free page-table page, gpa */
  uint64_t root_gpa;               /* (m) the domain's page-table root */
  uint32_t cmd_tail;               /* (m) driver's command tail, bytes */
  uint32_t evt_head;               /* (m) driver's event head, bytes */
  uint64_t ticks_count;            /* (m) */
  uint64_t batches_count;          /* (m) ticks that queued commands */
  uint64_t wait_seq;               /* (m) last completion-wait value issued */
  uint64_t completions_count;      /* (m) last value seen in the semaphore */
  uint64_t maps_count;             /* (m) pages mapped */
  uint64_t unmaps_count;           /* (m) pages unmapped */
  uint64_t invalidations_count;    /* (m) INVALIDATE_* commands queued */
  uint64_t transfers_count;        /* (m) transfers mapped (fault_every counter) */
  uint64_t events_count;           /* (m) event log entries consumed */
  uint64_t faults_count;           /* (m) of which IO_PAGE_FAULT */
  uint64_t overflows_count;        /* (m) EventOverflow seen and cleared */
  uint64_t event_checksum;         /* (m) XXH3 chain over consumed entries */
  bool cmdbuf_paused;              /* (m) CmdBufEn cleared with commands pending */
  uint64_t roots_more[DEVDRV_DMADEVS_MAX - 1]; /* (m, devices) roots of devices 1.. (separate) */
  uint64_t irt_gpa[DEVDRV_DMADEVS_MAX]; /* (m, intremap) each device's remapping table */
  uint64_t irq_faults_count;       /* (m, intremap) IO_PAGE_FAULTs with I=1 consumed */
  uint64_t ats_timeouts_count;     /* (m, ats) IOTLB_INV_TIMEOUT events consumed */
  uint64_t ats_invalidations_count; /* (m, ats) INVALIDATE_IOTLB_PAGES queued */
  uint32_t queued_count;           /* commands queued this tick (0 between ticks) */
  struct iommudrv_config config;
  struct amdvi *iommu;
  uint16_t devid;                  /* the first DMA engine's requester id */
  struct iommudrv_device devices[DEVDRV_DMADEVS_MAX];
  uint32_t device_count;           /* 1..DEVDRV_DMADEVS_MAX */
  bool ats_any;                    /* some device has ats */
  uint64_t base_gpa;               /* the driver's RAM block */
  uint64_t base_bytes;
  uint64_t window_gpa;             /* the DMA window the IOVAs cover */
  uint64_t window_bytes;
  struct machine *machine;
};

extern const struct vmstate_desc iommudrv_vmstate;

/* Bytes of RAM block the driver needs for a DMA window of window_bytes and device_count. */
uint64_t iommudrv_block_bytes(const struct iommudrv_config *config, uint64_t window_bytes,
                              uint32_t device_count);
/* devices: device_count (1..DEVDRV_DMADEVS_MAX) engines, copied. */
void iommudrv_init(struct iommudrv *drv, struct machine *machine,
                   const struct iommudrv_config *config, struct amdvi *iommu,
                   const struct iommudrv_device *devices, uint32_t device_count,
                   uint64_t base_gpa, uint64_t base_bytes, uint64_t window_gpa,
                   uint64_t window_bytes);
/* Boot: tables, rings, enable, the DTEs, the ring mappings, the IRTEs. */
void iommudrv_boot(struct iommudrv *drv);
/* Device index's domain id and page-table root. */
uint16_t iommudrv_domain(const struct iommudrv *drv, uint32_t index);
uint64_t iommudrv_root(const struct iommudrv *drv, uint32_t index);
/* Queues a whole-domain INVALIDATE_IOMMU_PAGES for device index's domain (a tick ends it). */
void iommudrv_domain_flush(struct iommudrv *drv, uint32_t index);
/* The IOVA the device uses for window address gpa. */
uint64_t iommudrv_iova(const struct iommudrv *drv, uint64_t gpa);
/* Start of a tick: resume a paused buffer, poll the semaphore, clear status, events. */
void iommudrv_tick_begin(struct iommudrv *drv);
/* Maps device index's transfer; returns false when it left the destination unmapped. */
bool iommudrv_transfer_map(struct iommudrv *drv, uint32_t index, uint64_t src_gpa,
                           uint64_t dst_gpa, uint32_t length);
void iommudrv_transfer_unmap(struct iommudrv *drv, uint32_t index, uint64_t src_gpa,
                             uint64_t dst_gpa, uint32_t length);
/*
 * ATS only: true while the last COMPLETION_WAIT has not stored its value, so
 * the device driver keeps its buffers (reaps nothing) until the device IOTLB
 * flush ended, as Linux waits for it before freeing an IOVA.
 */
bool iommudrv_flush_pending(const struct iommudrv *drv);
/* End of a tick: completion wait and doorbell (or pause) when commands were queued. */
void iommudrv_tick_end(struct iommudrv *drv);

#endif /* IOMMUDRV_H */
