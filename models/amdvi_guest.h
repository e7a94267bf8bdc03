/*
 * amdvi_guest.h: a flat guest memory and a minimal guest driver for the AMD
 * IOMMU model (amdvi.h), as Linux's amd_iommu driver programs it: device
 * table, command ring, event log, v1 page tables, IRTEs.
 *
 * Tests, the benchmark and (later) machine workloads use it to drive the
 * device through its public API only.  Memory is one zeroed buffer at guest
 * physical 0; anything at or above ram_bytes is unbacked, so pointing a
 * table there produces the IOMMU's hardware-error events.
 */
#ifndef AMDVI_GUEST_H
#define AMDVI_GUEST_H

#include "sim_base.h"
#include "amdvi.h"
#include "sim.h"

/* Fixed guest layout (bytes). */
#define AMDVI_GUEST_DEVTAB_GPA UINT64_C(0x100000)   /* 16 pages: DeviceIDs 0..2047 */
#define AMDVI_GUEST_DEVTAB_PAGES 16u
#define AMDVI_GUEST_CMD_GPA UINT64_C(0x200000)      /* up to 512 KiB */
#define AMDVI_GUEST_EVT_GPA UINT64_C(0x280000)      /* up to 512 KiB */
#define AMDVI_GUEST_ALLOC_GPA UINT64_C(0x400000)    /* page tables and IRTs from here */
#define AMDVI_GUEST_RAM_BYTES_MIN UINT64_C(0x800000)
#define AMDVI_GUEST_MSI_ADDRESS UINT64_C(0xFEE00000)
#define AMDVI_GUEST_MSI_DATA 0x41u

/* Command words (spec §5.2). */
#define AMDVI_OP_SHIFT 60
#define AMDVI_CW_STORE UINT64_C(1)
#define AMDVI_CW_INTERRUPT UINT64_C(2)

struct amdvi_guest {
  struct amdvi *iommu;
  uint8_t *ram;                     /* arena-owned, ram_bytes */
  uint64_t ram_bytes;
  uint64_t alloc_gpa;               /* next free page for tables */
  uint32_t cmd_entries;             /* ring sizes programmed by setup */
  uint32_t evt_entries;
  uint32_t cmd_tail;                /* driver's tail, bytes */
  uint32_t evt_head;                /* driver's event consumer, bytes */
  uint64_t msi_count;               /* IOMMU MSIs received */
  uint64_t msi_digest;              /* order-sensitive digest of (address, data) */
  uint64_t dma_reads_count;         /* IOMMU reads of guest memory */
};

/* Creates the IOMMU with config over ram_bytes of zeroed memory (>= RAM_BYTES_MIN). */
void amdvi_guest_init(struct amdvi_guest *guest, struct sim *sim,
                      const struct amdvi_config *config, uint64_t ram_bytes);
/* Points an already created IOMMU (e.g. a migration destination) at this guest's memory. */
void amdvi_guest_memory_ops(struct amdvi_guest *guest, struct amdvi_memory_ops *ops);

/*
 * Programs device table, a 2^cmd_log2-entry ring and a 2^evt_log2-entry log,
 * enables MSI in AMDVI-PCI, then writes control (IommuEn is added).
 */
void amdvi_guest_setup(struct amdvi_guest *guest, uint32_t cmd_log2, uint32_t evt_log2,
                       uint64_t control);
/* Writes a command at the driver's tail; rings the doorbell if asked.  False if full. */
bool amdvi_guest_command(struct amdvi_guest *guest, uint64_t q0, uint64_t q1, bool doorbell);
void amdvi_guest_doorbell(struct amdvi_guest *guest);
/* COMPLETION_WAIT storing value at store_gpa, with flags AMDVI_CW_*. */
bool amdvi_guest_completion_wait(struct amdvi_guest *guest, uint64_t store_gpa, uint64_t value,
                                 uint64_t flags, bool doorbell);

/* Writes DTE[devid] directly. */
void amdvi_guest_dte_set(struct amdvi_guest *guest, uint16_t devid, const uint64_t q[4]);
void amdvi_guest_dte_get(struct amdvi_guest *guest, uint16_t devid, uint64_t q[4]);
/* A translating DTE (V, TV, mode, fresh root, IR, IW, domain); returns the root gpa. */
uint64_t amdvi_guest_dte_translate(struct amdvi_guest *guest, uint16_t devid, uint32_t mode,
                                   uint16_t domain_id);
/*
 * Maps iova -> gpa of page_bytes (4 KiB, 2 MiB or 1 GiB, NextLevel 0 leaf) in
 * devid's table, creating directories; returns the leaf PTE's address.
 */
uint64_t amdvi_guest_map(struct amdvi_guest *guest, uint16_t devid, uint64_t iova, uint64_t gpa,
                         uint64_t page_bytes, bool read_ok, bool write_ok);
/* A zeroed 4 KiB page from the table allocator. */
uint64_t amdvi_guest_page_alloc(struct amdvi_guest *guest);

uint64_t amdvi_guest_read64(const struct amdvi_guest *guest, uint64_t gpa);
void amdvi_guest_write64(struct amdvi_guest *guest, uint64_t gpa, uint64_t value);
/* Events the IOMMU wrote that the driver has not consumed. */
uint32_t amdvi_guest_events_pending(struct amdvi_guest *guest);
/* Consumes the next event (advancing Event Log Head); false if none. */
bool amdvi_guest_event_pop(struct amdvi_guest *guest, uint64_t *q0, uint64_t *q1);

#endif /* AMDVI_GUEST_H */
