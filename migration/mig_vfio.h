/*
 * mig_vfio.h: the live (iterative) migration of a device's data (a vfiodev's),
 * the first handler of the mig_live.h contract; it reaches the device only
 * through its dev_live_ops (models/dev.h) and config vmstate.  As
 * QEMU's VFIO migration does it (hw/vfio/migration.c, read at QEMU 8.1/10.x):
 * the handler "<bdf>/vfio" has START, PART and END sections whose payload is
 * a run of be64 flags:
 *
 *   START: DEV_SETUP_STATE, END_OF_STATE
 *   PART:  { DEV_DATA_STATE, be64 size, size bytes }*, END_OF_STATE
 *          or, once, INIT_DATA_SENT instead of END_OF_STATE (switchover-ack)
 *   END:   { DEV_DATA_STATE, be64 size, size bytes }*, END_OF_STATE
 *   FULL:  DEV_CONFIG_STATE, the vfiodev_config_vmstate fields, END_OF_STATE
 *
 * The FULL section is QEMU's vfio_save_state (read at 7.2 and 9.x): the
 * device's PCI config (VFIOPCIDevice: config space, MSI), written at
 * stop-copy after every END section.  Its loader checks the read-only config
 * bytes as QEMU's get_pci_config_device does, then requires END_OF_STATE.
 *
 * QEMU's data bytes are opaque device blobs; here a block is a run of
 * records of be32 page index, be32 generation, 4096 page bytes (docs/vfiodev.md).
 * The destination checks each page's bytes against the device's content
 * function, so a corrupted or misplaced page fails with offset and path.
 */
#ifndef MIG_VFIO_H
#define MIG_VFIO_H

#include "sim_base.h"
#include "dev.h"
#include "mig_limits.h"
#include "mig_live.h"
#include "mig_record.h"
#include "mig_stream.h"
#include "mig_wire.h"

#include <jansson.h>


_Static_assert(MIG_VFIO_DEVICES_MAX >= DEV_LIVES_MAX, "every live section gets a handler");
_Static_assert(MIG_LOAD_LIVES_MAX >= MIG_VFIO_DEVICES_MAX, "the loader takes every handler");

struct mig_vfio_source {           /* caller-owned; fields private */
  const struct dev_live_ops *ops;  /* the device, through its live ops only */
  void *dev;
  uint32_t section_id;
  char idstr[MIG_IDSTR_BYTES_MAX + 1]; /* "<bdf>/vfio" */
  bool switchover_ack;             /* capability on and the device asks for the ack */
  bool first_pass_done;            /* the initial data has all been sent */
  bool init_data_sent;             /* INIT_DATA_SENT is on the wire */
  uint64_t cursor;                 /* next page the pass looks at */
  uint64_t sent_pages_count;       /* records written */
  uint64_t sent_bytes;             /* data bytes (records) written */
  uint8_t scratch[MIG_PAGE_BYTES];
};

/* live: the device's live section (machine_live); its path names the handler. */
void mig_vfio_source_init(struct mig_vfio_source *source, const struct dev_live *live,
                          uint32_t section_id, bool switchover_ack);
/* Whole sections, header to footer.  setup also starts the device's dirty log. */
void mig_vfio_save_setup(struct mig_vfio_source *source, struct mig_writer *writer);
void mig_vfio_save_iterate(struct mig_vfio_source *source, struct mig_writer *writer,
                           uint64_t pages_max);
void mig_vfio_save_complete(struct mig_vfio_source *source, struct mig_writer *writer);
/*
 * The FULL section with the device config (QEMU's save_state), after every
 * END section.  When devices_json is not NULL it receives the section's
 * VM-description entry, an old-style one as QEMU writes for save_state.
 */
void mig_vfio_save_state(struct mig_vfio_source *source, struct mig_writer *writer,
                         json_t *devices_json);
/* Bytes still to send (dirty pages x record size): counted into the switchover threshold. */
uint64_t mig_vfio_pending_bytes(const struct mig_vfio_source *source);

struct mig_vfio_dest {             /* caller-owned; fields private */
  const struct dev_live_ops *ops;  /* the device, through its live ops only */
  void *dev;
  char idstr[MIG_IDSTR_BYTES_MAX + 1];
  bool switchover_ack;             /* capability on here */
  bool init_data_received;
  bool config_received;            /* a FULL section's DEV_CONFIG_STATE loaded */
  uint8_t section_type;            /* the section being loaded */
  uint64_t section_records_count;  /* its flags so far */
  struct mig_live_hooks hooks;     /* data_loaded per DEV_DATA_STATE block, init_data */
  uint32_t load_index;             /* its place among the set's loaders (for the hooks) */
  uint64_t loaded_pages_count;
  uint64_t loaded_bytes;
  uint8_t scratch[MIG_PAGE_BYTES];
};

void mig_vfio_dest_init(struct mig_vfio_dest *dest, const struct dev_live *live,
                        bool switchover_ack, const struct mig_live_hooks *hooks);
/*
 * Loads one record of the device's sections (mig_record.h): the SECTION
 * record (a FULL section's payload, the config, is read from reader then),
 * then each VFIO record of a START, PART or END payload.
 */
enum mig_err mig_vfio_load_record(struct mig_vfio_dest *dest, struct mig_reader *reader,
                                  const struct mig_record *record);
/*
 * Loads one START, PART, END or FULL payload (after the header, before the
 * footer) through the record layer.
 */
enum mig_err mig_vfio_load(struct mig_vfio_dest *dest, struct mig_reader *reader, uint8_t type);

/*
 * The handler of mig_live.h for one device: source and destination states
 * from the arena, the ops, and the loader's entry for its idstr.  One side
 * may be NULL (a section only one release has): no state for it, and with
 * no destination no loader entry (load must then be NULL).
 */
void mig_vfio_live_create(struct sim *sim, const struct dev_live *source_live,
                          const struct dev_live *dest_live, uint32_t section_id,
                          uint32_t load_index, bool switchover_ack,
                          const struct mig_live_hooks *hooks,
                          struct mig_live_handler *handler, struct mig_load_live *load);

#endif /* MIG_VFIO_H */
