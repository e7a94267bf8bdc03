/*
 * models_limits.h: every bound of the models/ layer (STYLE R7).
 */
#ifndef MODELS_LIMITS_H
#define MODELS_LIMITS_H

#include "sim_base.h"

#define RAM_PAGE_BYTES UINT32_C(4096)          /* x86 target page */
#define RAM_PAGE_BITS 12
#define RAM_BLOCK_NAME_BYTES_MAX 63            /* QEMU idstrs used here are shorter */
#define RAM_BLOCKS_MAX 16                      /* per machine */
#define RAM_BLOCK_BYTES_MAX (UINT64_C(64) << 30)
#define RAM_HOST_PAGE_BYTES_MAX (UINT32_C(2) << 20) /* 2 MiB huge pages */
#define RAM_SYNTH_GENERATION_MAX UINT32_MAX     /* then it wraps to 1, never to 0 */
#define RAM_SYNTH_CHUNK_PAGES 1024              /* pages per "touched" bit: 4 KiB of generations */
#define RAM_RESIZES_MAX 8                       /* guest resize steps per block */
#define RAM_RESIZE_STEPS_MAX (RAM_BLOCKS_MAX * RAM_RESIZES_MAX) /* per machine */
#define VCPUS_MAX 8                             /* vCPU programs per machine */
#define VCPU_ZIPF_TABLE_MAX 4096                /* buckets of the zipf sampler */
#define VCPU_ZIPF_S_MILLI_MAX 8000              /* zipf exponent s <= 8 */
#define VCPU_PPM 1000000                        /* fractions are parts per million */
#define MACHINE_TYPE_BYTES_MAX 63
#define MACHINE_DEVICES_MAX 16
#define MACHINE_VMSTATE_INSTANCES_MAX 32
#define VCPU_PAGES_PER_S_MAX UINT64_C(100000000)

/* The device interface (dev.h). */
#define DEV_DRIVER_BYTES_MAX 31                /* a class name, "amd-iommu" */
#define DEV_PROPS_BYTES_MAX 512u               /* a class's config struct (dev_config.props) */
#define DEV_CLASSES_MAX 16u                    /* rows of the class table */
#define DEV_LIVES_MAX 8u                       /* devices with a live section per machine */

/* Devices (pci.h, dmadev.h, blockdev.h, devdrv.h). */
#define PCI_BUSES_MAX 4                        /* root buses 0..3, no bridges */
#define DMADEV_RING_ENTRIES_MAX 256u           /* descriptors per ring */
#define DMADEV_TRANSFER_BYTES_MAX (UINT32_C(1) << 20) /* one descriptor's length */
#define DMADEV_BANDWIDTH_BYTES_PER_S_MAX (UINT64_C(100) << 30)
#define DMADEV_CHUNK_BYTES UINT32_C(4096)      /* bytes copied per engine step */
#define BLOCKDEV_SECTOR_BYTES 512u
#define BLOCKDEV_SECTORS_MAX (UINT64_C(1) << 16) /* 32 MiB images in the arena */
#define DEVDRV_PERIOD_NS_MIN UINT64_C(1000)    /* guest driver tick, at least 1 us */
#define DMADEV_STEP_VM_NS_MAX (UINT64_C(1) << 60) /* a loaded step time beyond is refused */
#define DMADEV_MSI_DELAY_NS_DEFAULT UINT64_C(2000) /* completion to MSI delivery, guest ns */
#define DMADEV_MSI_DELAY_NS_MAX (UINT64_C(1) << 30) /* the msi_delay_ns property's bound */
#define DMADEV_MSI_PENDING_MAX (UINT32_C(1) << 20) /* completions one MSI covers, saturating */
#define DMADEV_ATS_RESPONSE_NS_MAX (UINT64_C(1) << 30) /* ats_response_ns property bound */
#define DEVDRV_DMADEVS_MAX 4u                  /* dmadevs one guest driver programs */
#define MACHINE_IRQ_VECTORS 256u               /* x86 vectors per vCPU in the interrupt sink */

/* vfiodev.h */
#define VFIODEV_MAPPINGS_MAX 8u                /* DMA mappings per device */
#define VFIODEV_DEVICES_MAX 8u                 /* vfiodevs per machine */
#define VFIODEV_STATE_BYTES_MAX (UINT64_C(4) << 30) /* internal state, 4 GiB */
#define VFIODEV_TICK_NS (UINT64_C(1) * 1000000) /* dirtying tick, 1 ms of guest time */
#define VFIODEV_DIRTY_PAGES_PER_S_MAX UINT64_C(100000000)
#define VFIODEV_LOAD_BYTES_PER_S_MAX (UINT64_C(1) << 40)

_Static_assert(RAM_PAGE_BYTES == (UINT32_C(1) << RAM_PAGE_BITS), "page bits and bytes agree");
_Static_assert(RAM_BLOCK_BYTES_MAX % RAM_PAGE_BYTES == 0, "blocks are whole pages");
_Static_assert(RAM_BLOCK_BYTES_MAX % RAM_HOST_PAGE_BYTES_MAX == 0, "huge pages tile a block");
_Static_assert((RAM_BLOCK_BYTES_MAX >> RAM_PAGE_BITS) <= UINT32_MAX, "page index fits 32 bits");

_Static_assert((VFIODEV_STATE_BYTES_MAX >> RAM_PAGE_BITS) <= UINT32_MAX, "page index fits 32 bits");
_Static_assert(VFIODEV_DEVICES_MAX <= DEV_LIVES_MAX, "every vfiodev's live section fits");
_Static_assert(DMADEV_CHUNK_BYTES == RAM_PAGE_BYTES, "an engine step is one page");
_Static_assert(DMADEV_TRANSFER_BYTES_MAX % DMADEV_CHUNK_BYTES == 0, "whole steps");

#endif /* MODELS_LIMITS_H */
