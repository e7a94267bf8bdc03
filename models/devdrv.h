/*
 * devdrv.h: the guest's device driver program: it drives the DMA engine and
 * the block device the way a guest kernel's drivers would, in guest time.
 *
 * Every period_ns of guest time, on even guest nanoseconds (see dmadev.c), it
 * reaps the DMA descriptors the engine completed, folding each destination
 * buffer into dma_checksum, queues one new descriptor of random length with
 * random source bytes, rings the doorbell, then writes one random sector of
 * the block device and reads another back into block_checksum.  Its state,
 * like a guest kernel's, migrates ("devdrv" section), and its checksums and
 * counts are the guest-visible result the transparency oracle compares.
 *
 * It drives every dmadev of the machine (up to DEVDRV_DMADEVS_MAX, in
 * configuration order), each in its own equal, page-aligned part of the DMA
 * window (the machine's last RAM block).  A part holds the ring
 * (ring_entries x 32 bytes, rounded up to a page), then ring_entries source
 * slots of transfer_bytes_max, then as many destination slots.  With an
 * IOMMU driver (iommu set before boot) the engines get I/O virtual addresses
 * and every transfer is mapped on submit and unmapped on reap (iommudrv.h).
 *
 * interrupts: device k's completion MSI targets vCPU k % vcpus with vector
 * DEVDRV_MSI_VECTOR_BASE + k (through IRTE 0 when the IOMMU driver remaps);
 * the machine counts deliveries per vCPU and vector, and the driver reaps a
 * device only when its vector's count moved since the last tick, or when
 * its ring is full (the fallback that keeps a guest whose interrupts are
 * lost going).  Without it the driver polls every tick.
 */
#ifndef DEVDRV_H
#define DEVDRV_H

#include "sim_base.h"
#include "models_limits.h"
#include "sim.h"
#include "vmstate_desc.h"

struct blockdev;
struct dmadev;
struct iommudrv;
struct machine;

#define DEVDRV_MSI_VECTOR_BASE 0x50u

struct devdrv_config {
  uint64_t period_ns;              /* even, >= DEVDRV_PERIOD_NS_MIN; 0 = no driver */
  uint64_t duration_ns;            /* guest time after which it stops submitting */
  uint32_t transfer_bytes_max;     /* 1..DMADEV_TRANSFER_BYTES_MAX */
  bool interrupts;                 /* reap on completion MSIs (the machine delivers them) */
};

struct devdrv {                    /* embedded in struct machine; (m) = migrated */
  struct sim_prng prng;            /* (m) */
  uint64_t next_tick_vm_ns;        /* (m) */
  uint32_t tail;                   /* (m) next ring slot to fill */
  uint32_t reaped;                 /* (m) next ring slot to reap */
  uint64_t submitted_count;        /* (m) */
  uint64_t reaped_count;           /* (m) */
  uint64_t dma_failed_count;       /* (m) reaped descriptors that failed */
  uint64_t dma_checksum;           /* (m) XXH3 chain over reaped destination bytes */
  uint64_t block_writes_count;     /* (m) */
  uint64_t block_refused_count;    /* (m) writes the device refused */
  uint64_t block_checksum;         /* (m) XXH3 chain over sectors read back */
  bool device_error_seen;          /* (m) an engine reported its error state */
  uint32_t tail_more[DEVDRV_DMADEVS_MAX - 1];   /* (m, devices) tail of engines 1.. */
  uint32_t reaped_more[DEVDRV_DMADEVS_MAX - 1]; /* (m, devices) reaped of engines 1.. */
  uint64_t irq_seen[DEVDRV_DMADEVS_MAX];        /* (m, irq) vector counts at the last reap */
  uint64_t irq_reaps_count;        /* (m, irq) reaps an interrupt started */
  uint64_t full_reaps_count;       /* (m, irq) reaps a full ring started, no interrupt */
  struct devdrv_config config;
  struct dmadev *dma;              /* the first engine; NULL: no DMA traffic */
  struct dmadev *dmas[DEVDRV_DMADEVS_MAX];      /* dma_count engines */
  uint32_t dma_count;
  struct blockdev *block;          /* NULL: no block traffic */
  struct iommudrv *iommu;          /* NULL: the engine uses guest-physical addresses */
  uint64_t window_gpa;             /* start of the DMA window */
  uint64_t window_bytes;
  struct machine *machine;
  struct sim_event event;
};

extern const struct vmstate_desc devdrv_vmstate;

/* Bytes of one engine's part of the DMA window with a ring of ring_entries. */
uint64_t devdrv_window_bytes(const struct devdrv_config *config, uint32_t ring_entries);
/* Bytes of each part when the window of window_bytes is split among dma_count engines. */
uint64_t devdrv_part_bytes(uint64_t window_bytes, uint32_t dma_count);
/* dmas: dma_count (0..DEVDRV_DMADEVS_MAX) engines, copied. */
void devdrv_init(struct devdrv *drv, struct machine *machine, const struct devdrv_config *config,
                 struct dmadev *const *dmas, uint32_t dma_count, struct blockdev *block,
                 uint64_t window_gpa, uint64_t window_bytes);
/* Engine index's part of the window, its ring bytes, and its MSI's vCPU and vector. */
uint64_t devdrv_part_gpa(const struct devdrv *drv, uint32_t index);
uint64_t devdrv_ring_bytes(const struct devdrv *drv, uint32_t index);
uint32_t devdrv_msi_dest(const struct devdrv *drv, uint32_t index);
uint32_t devdrv_msi_vector(const struct devdrv *drv, uint32_t index);
/* Boot: enables the PCI functions and the engine, seeds the program. */
void devdrv_boot(struct devdrv *drv);
void devdrv_stop(struct devdrv *drv);
void devdrv_resume(struct devdrv *drv);
bool devdrv_done(const struct devdrv *drv);

#endif /* DEVDRV_H */
