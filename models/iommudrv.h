/*
 * iommudrv.h: the guest's AMD IOMMU driver, as Linux's amd_iommu programs
 * the device, run inside the DMA driver's ticks (devdrv.h) in guest time.
 *
 * At boot it places a device table (1024 DTEs: buses 0..3), a 256-entry
 * command buffer, a 256-entry event log and a completion-wait semaphore in
 * its RAM block (the machine's second-to-last block), enables the IOMMU,
 * gives the DMA engine's BDF a translating DTE (v1 tables, mode 3 or 4,
 * domain 1), maps the descriptor ring and issues INVALIDATE_DEVTAB_ENTRY.
 * The engine sees I/O virtual addresses IOMMUDRV_IOVA_BASE + (gpa - window).
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
 * Its counts and checksums migrate in the "iommudrv" section, a
 * guest-visible result the transparency oracle compares.
 */
#ifndef IOMMUDRV_H
#define IOMMUDRV_H

#include "sim_base.h"
#include "amdvi.h"
#include "vmstate_desc.h"

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
  uint32_t queued_count;           /* commands queued this tick (0 between ticks) */
  struct iommudrv_config config;
  struct amdvi *iommu;
  uint16_t devid;                  /* the DMA engine's requester id */
  uint64_t base_gpa;               /* the driver's RAM block */
  uint64_t base_bytes;
  uint64_t window_gpa;             /* the DMA window the IOVAs cover */
  uint64_t window_bytes;
  struct machine *machine;
};

extern const struct vmstate_desc iommudrv_vmstate;

/* Bytes of RAM block the driver needs for a DMA window of window_bytes. */
uint64_t iommudrv_block_bytes(uint32_t mode, uint64_t window_bytes);
void iommudrv_init(struct iommudrv *drv, struct machine *machine,
                   const struct iommudrv_config *config, struct amdvi *iommu, uint16_t devid,
                   uint64_t base_gpa, uint64_t base_bytes, uint64_t window_gpa,
                   uint64_t window_bytes);
/* Boot: tables, rings, enable, the DTE, the ring mapping (ring_bytes from window_gpa). */
void iommudrv_boot(struct iommudrv *drv, uint64_t ring_bytes);
/* The IOVA the device uses for window address gpa. */
uint64_t iommudrv_iova(const struct iommudrv *drv, uint64_t gpa);
/* Start of a tick: resume a paused buffer, poll the semaphore, clear status, events. */
void iommudrv_tick_begin(struct iommudrv *drv);
/* Maps a transfer's buffers; returns false when it left the destination unmapped. */
bool iommudrv_transfer_map(struct iommudrv *drv, uint64_t src_gpa, uint64_t dst_gpa,
                           uint32_t length);
void iommudrv_transfer_unmap(struct iommudrv *drv, uint64_t src_gpa, uint64_t dst_gpa,
                             uint32_t length);
/* End of a tick: completion wait and doorbell (or pause) when commands were queued. */
void iommudrv_tick_end(struct iommudrv *drv);

#endif /* IOMMUDRV_H */
