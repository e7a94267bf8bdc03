/*
 * blockdev.h: a block device on a disk image that the source and the
 * destination share, with write ownership that passes at switchover.
 *
 * The image is one object in the simulation, seen by both machines, as a
 * disk on shared storage is.  Each machine's blockdev may write it only
 * while it holds write ownership: it takes ownership when its VM starts
 * running (boot, resume; on the destination of a migration, its start:
 * QEMU's late-block-activate, the same instant as the end of the load when
 * it starts at once; without the capability a destination that does not
 * start takes it at the end of the load, blockdev_activate_all) and drops it when its VM
 * stops (QEMU inactivates the source's block nodes before the final device
 * state).  The image checks, at every ownership change and every write, that
 * no two machines hold write ownership at once, and records the first
 * violation with its virtual time.  A guest write without ownership fails
 * and is counted; it never reaches the image.
 *
 * Injected bugs: quirk_activate_early takes ownership when the machine is
 * created (a destination that opens the image read-write before the source
 * let go); quirk_keep_ownership never drops it on stop.
 */
#ifndef BLOCKDEV_H
#define BLOCKDEV_H

#include "sim_base.h"
#include "dev.h"
#include "models_limits.h"
#include "pci.h"
#include "sim.h"
#include "vmstate_desc.h"

#define BLOCKDEV_VENDOR_ID 0x1b36u
#define BLOCKDEV_DEVICE_ID 0x00f1u   /* migsim's own */
#define BLOCKDEV_OWNERS_MAX 4u       /* machine roles that may open one image */

struct blockdev_image {            /* arena-owned, shared by the machines of one sim */
  uint64_t sectors_count;          /* image size in BLOCKDEV_SECTOR_BYTES sectors */
  uint8_t *bytes;                  /* sectors_count sectors */
  uint32_t owners_mask;            /* bit per role holding write ownership */
  uint64_t writes_count;           /* sectors written */
  uint64_t transfers_count;        /* ownership changes */
  uint64_t violations_count;       /* times two roles held ownership together */
  uint64_t violation_first_ns;     /* sim time of the first violation */
  uint32_t violation_first_mask;   /* owners at the first violation */
  struct sim *sim;
};

struct blockdev_config {           /* dev_config.props of a "blockdev" */
  uint64_t sectors_count;          /* property sectors: 1..BLOCKDEV_SECTORS_MAX; = the image's */
  bool quirk_activate_early;       /* quirk "activate-early" */
  bool quirk_keep_ownership;       /* quirk "keep-ownership" */
};

struct blockdev {                  /* arena-owned; (m) = migrated */
  struct pci_function pci;         /* (m) */
  uint64_t sectors_count;          /* (m, must be equal) property */
  uint64_t writes_count;           /* (m) guest writes that reached the image */
  uint64_t writes_refused_count;   /* (m) guest writes without ownership */
  uint64_t reads_count;            /* (m) */
  bool owner;                      /* this side holds write ownership; not migrated */
  uint32_t role_index;             /* the machine's role, its bit in owners_mask */
  bool quirk_activate_early;
  bool quirk_keep_ownership;
  struct blockdev_image *image;    /* shared; not owned */
  struct sim *sim;
};

extern const struct vmstate_desc blockdev_vmstate;
/*
 * The class: a destination created with a twin (the source's blockdev at the
 * same index) opens the twin's image when the sizes agree: shared storage.
 */
extern const struct dev_class blockdev_class;

static inline struct blockdev_config *blockdev_props(struct dev_config *config)
{
  return dev_props(config);
}

struct blockdev_image *blockdev_image_create(struct sim *sim, uint64_t sectors_count);
/* XXH3 of the whole image. */
uint64_t blockdev_image_hash(const struct blockdev_image *image);
/* False after a violation; why receives "at <ns> ns roles 0x3 held write ownership". */
bool blockdev_image_check(const struct blockdev_image *image, char *why, size_t why_bytes);

/* The image must have config->sectors_count sectors. */
struct blockdev *blockdev_create(struct sim *sim, struct blockdev_image *image,
                                 uint32_t role_index, const struct blockdev_config *config);
/* Takes write ownership (the VM starts running) / drops it (the VM stops). */
void blockdev_activate(struct blockdev *dev);
void blockdev_inactivate(struct blockdev *dev);
struct machine;
/*
 * QEMU's bdrv_activate_all at the end of an incoming migration without
 * late-block-activate: every blockdev of machine takes write ownership,
 * whether or not its VM starts (a -S destination holds the image locked).
 */
void blockdev_activate_all(const struct machine *machine);
/* Guest I/O of one sector; an out-of-range sector or a write without ownership fails. */
bool blockdev_write(struct blockdev *dev, uint64_t sector, const uint8_t *bytes);
bool blockdev_read(struct blockdev *dev, uint64_t sector, uint8_t *bytes);

#endif /* BLOCKDEV_H */
