/*
 * vfiodev.h: a VFIO-like passthrough PCI device with a large internal state.
 *
 * The device holds state_bytes of internal state (device memory, firmware
 * tables, queues) as pages with a 32-bit write generation each; a page's bytes
 * are the pure function ram_synth_fill(content key, page, generation), made only
 * when migration needs them, so 300 MB of state costs 4 bytes per page of
 * memory.  At creation every page has generation 1 (the device's initial
 * state, QEMU's "precopy initial data"); 0 means "never loaded" on a
 * destination.  While the VM runs, for duration_ns of guest time, the device
 * dirties dirty_pages_per_s of its pages (a tick every VFIODEV_TICK_NS of
 * guest time, pages drawn by hashing (content key, tick, i), so the migrated
 * tick count is the whole stream state) and DMA-writes a counter into guest
 * RAM through its DMA mappings, a list of iova -> gpa ranges the guest set up.
 *
 * Migration keeps a dirty bitmap of pages to send (vfiodev_dirty_*); the data
 * itself travels in iterative sections written by migration/mig_vfio.c.  The
 * device's PCI config (config space, MSI) is vfiodev_config_vmstate, which
 * mig_vfio.c sends as DEV_CONFIG_STATE in the live handler's FULL section, as
 * QEMU's vfio_save_state does; "<bdf>/vfiodev" alone does not restore it.  The
 * vmstate section "<bdf>/vfiodev" carries the mappings, the tick state and a
 * digest of every page's generation (a sum of one hash per page, updated with
 * each write, so any observer sees it current), which post_load recomputes
 * from the pages the destination received: a page missed by precopy fails the
 * load with the device named.  docs/vfiodev.md has the details.
 */
#ifndef VFIODEV_H
#define VFIODEV_H

#include "sim_base.h"
#include "dev.h"
#include "models_limits.h"
#include "pci.h"
#include "ram.h"
#include "sim.h"
#include "vmstate_desc.h"

#define VFIODEV_VENDOR_ID 0x1b36u
#define VFIODEV_DEVICE_ID 0x00f3u   /* migsim's own; not a QEMU device id */

struct vfiodev_mapping {
  uint64_t iova;                   /* device address, page aligned */
  uint64_t gpa;                    /* guest physical address, page aligned */
  uint64_t bytes;                  /* > 0, whole pages */
};

enum vfiodev_container {           /* property "container" */
  VFIODEV_CONTAINER_LEGACY,        /* a VFIO container (type1 IOMMU) */
  VFIODEV_CONTAINER_IOMMUFD,       /* iommufd (the property's default) */
};

struct vfiodev_config {            /* dev_config.props of a "vfiodev" (table in vfiodev.c) */
  uint64_t state_bytes;            /* 1 page .. VFIODEV_STATE_BYTES_MAX, whole pages */
  uint64_t dirty_pages_per_s;      /* pages dirtied per second of guest time */
  uint64_t load_bytes_per_s;       /* destination load throughput; 0 = no cost */
  uint64_t stop_copy_bytes;        /* state only the stopped device gives (docs/vfiodev.md) */
  uint64_t resume_ns;              /* destination: resuming the loaded device costs this */
  uint64_t duration_ns;            /* guest time the device works (ticks) from boot */
  struct vfiodev_mapping mappings[VFIODEV_MAPPINGS_MAX];
  uint32_t mapping_count;          /* <= VFIODEV_MAPPINGS_MAX */
  uint32_t container;              /* enum vfiodev_container */
  bool mdev;                       /* a mediated device: in a legacy container, no cpr-transfer */
  bool quirk_ignore_ack;           /* injected bug: does not ask the source to wait for the ack */
};

struct vfiodev {                   /* arena-owned; (m) = migrated in "<bdf>/vfiodev" */
  struct pci_function pci;         /* (m) config space, MSI: vfiodev_config_vmstate */
  uint64_t state_bytes;            /* (m, must be equal) property */
  uint64_t dirty_pages_per_s;      /* (m, must be equal) property */
  uint64_t iova[VFIODEV_MAPPINGS_MAX]; /* (m) mappings, mapping_count used */
  uint64_t gpa[VFIODEV_MAPPINGS_MAX];  /* (m) */
  uint64_t map_bytes[VFIODEV_MAPPINGS_MAX]; /* (m) */
  uint32_t mapping_count;          /* (m) <= VFIODEV_MAPPINGS_MAX */
  uint64_t next_tick_vm_ns;        /* (m) guest time of the next dirtying tick */
  uint64_t ticks_count;            /* (m) ticks run since reset */
  uint64_t dma_writes_count;       /* (m) counters written through the mappings */
  uint64_t duration_ns;            /* (m, must be equal) property */
  uint64_t generations_digest;     /* (m) sum of page_mix(page, generation), kept live */
  uint64_t page_count;             /* state_bytes / page */
  uint32_t *generations;           /* per page; 0 = not loaded */
  uint64_t *dirty;                 /* bit per page: to send (migration's log) */
  uint64_t dirty_count;            /* bits set in dirty[] */
  bool logging;                    /* migration started: ticks set dirty bits */
  uint64_t content_key;            /* ram_synth_key of the bdf; equal on both sides */
  uint64_t synth_pool[RAM_PAGE_BYTES / 8]; /* ram_synth_pool(content_key) */
  struct vfiodev_config config;    /* as given (load cost, container, mdev, quirk) */
  bool config_in_vfio_stream;      /* a vfio handler carries pci; post_load requires it */
  bool config_loaded;              /* destination: DEV_CONFIG_STATE was loaded */
  char error_message[96];          /* post_load's finding; not migrated */
  const struct dev_host *host;     /* guest RAM and the VM clock */
  struct sim *sim;
  struct sim_event tick;           /* armed while running */
};

extern const struct vmstate_desc vfiodev_vmstate;
/* The PCI config as QEMU's VFIOPCIDevice config vmstate: the "pci" function, v1. */
extern const struct vmstate_desc vfiodev_config_vmstate;

extern const struct dev_class vfiodev_class;

static inline struct vfiodev_config *vfiodev_props(struct dev_config *config)
{
  return dev_props(config);
}

/* Checks a configuration from input; false with the reason in why. */
bool vfiodev_config_check(const struct vfiodev_config *config, char *why, size_t why_bytes);
/* path ("0000:00:05.0") keys the content, so source and destination make the same bytes. */
struct vfiodev *vfiodev_create(struct sim *sim, const struct dev_host *host,
                               const struct vfiodev_config *config, const char *path);
/* The VM stopped / resumed: ticks follow the VM clock. */
void vfiodev_stop(struct vfiodev *dev);
void vfiodev_resume(struct vfiodev *dev);
/* Migration start (source): every page becomes dirty and ticks log what they dirty. */
void vfiodev_log_start(struct vfiodev *dev);
/* Stops dirty logging: the migration ended (failed, cancelled or completed). */
void vfiodev_log_stop(struct vfiodev *dev);
/*
 * The next dirty page at or after *cursor (wrapping once); clears its bit and
 * returns true with *page and *generation, or false when none is dirty.
 */
bool vfiodev_dirty_take(struct vfiodev *dev, uint64_t *cursor, uint64_t *page,
                        uint32_t *generation);
/* Materialises page at generation into out (RAM_PAGE_BYTES). */
void vfiodev_page_fill(const struct vfiodev *dev, uint64_t page, uint32_t generation,
                       uint8_t *out);
/* Destination: records a received page; the caller checked the bytes. */
void vfiodev_page_set(struct vfiodev *dev, uint64_t page, uint32_t generation);
/*
 * Migration has a vfio handler for dev, which sends the config as
 * DEV_CONFIG_STATE; on a destination, post_load then requires it loaded.
 */
void vfiodev_config_stream_set(struct vfiodev *dev);
/*
 * After a config load that post_load refused: the first read-only config byte
 * that differs from the local one; false when every one matches.
 */
bool vfiodev_config_ro_mismatch(const struct vfiodev *dev, uint32_t *index);
/* The digest recomputed from scratch over every page (post_load's check). */
uint64_t vfiodev_generations_digest(const struct vfiodev *dev);
/*
 * cpr-transfer: the destination device adopts the source's device (its
 * state pages and mappings stay where they are; nothing is copied).
 */
void vfiodev_adopt(struct vfiodev *dev, const struct vfiodev *from);

#endif /* VFIODEV_H */
