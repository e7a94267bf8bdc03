/*
 * mig_live.h: the live-section handler contract, QEMU's SaveVMHandlers for
 * iterative devices (seed 003, "Iterative device migration"), and the set of
 * handlers one migration runs.
 *
 * A device with a live section (models/dev.h: its class has dev_live_ops)
 * gets one handler "<bdf><suffix>".  The precopy engine drives the source
 * side through the set, in this order:
 *
 *   save_setup      the START section; the device starts its dirty log
 *   save_pending    bytes still to send, counted into the switchover threshold
 *   save_iterate    one PART section of at most pages_max pages
 *   save_complete   the END section with everything left (the VM is stopped)
 *   save_state      the non-iterable part: a FULL section after every END
 *   save_cleanup    the migration ended (completed, failed or cancelled)
 *
 * and the loader calls load with each START/PART/END/FULL section record of
 * the handler's idstr and then each record of its payload (mig_record.h;
 * struct mig_load_live, mig_load.h), then load_cleanup.
 * cpr-transfer adds cpr_check (may the device be handed over?) and
 * cpr_hand_over (the destination device adopts the source's state).
 * A handler reaches its device only through dev_live_ops and the device's
 * vmstate tables, never through the device's struct.
 *
 * Today one handler serves every live section: the VFIO data stream
 * (mig_vfio.h).  A second data shape adds its ops and a choice in
 * mig_live_set_init, nothing else.
 */
#ifndef MIG_LIVE_H
#define MIG_LIVE_H

#include "sim_base.h"
#include "machine.h"
#include "mig_limits.h"
#include "mig_load.h"
#include "mig_stream.h"

#include <jansson.h>

struct mig_error;

/* Destination events a migration keeps a timeline of. */
struct mig_live_hooks {
  void *context;
  /*
   * A block of device data was loaded by the destination handler load_index
   * (its place in mig_live_set_loads); the device loads bytes_per_s (0 = no
   * cost), each device on its own timeline.
   */
  void (*data_loaded)(void *context, uint32_t load_index, uint64_t bytes, uint64_t bytes_per_s);
  /* The device's initial data is in (QEMU: it approves switchover-ack). */
  void (*init_data)(void *context, uint32_t load_index);
};

struct mig_live_ops {
  /* Source side: source is the handler's source state. */
  void (*save_setup)(void *source, struct mig_writer *writer);
  uint64_t (*save_pending)(const void *source);
  void (*save_iterate)(void *source, struct mig_writer *writer, uint64_t pages_max);
  void (*save_complete)(void *source, struct mig_writer *writer);
  /* devices_json (may be NULL) receives the section's VM-description entry. */
  void (*save_state)(void *source, struct mig_writer *writer, json_t *devices_json);
  void (*save_cleanup)(void *source);               /* may be NULL */
  bool (*save_wants_ack)(const void *source);       /* waits for SWITCHOVER_ACK */
  bool (*load_wants_ack)(const void *dest);         /* will approve switchover-ack */
  uint64_t (*load_resume_ns)(const void *dest);     /* may be NULL: resuming it costs 0 */
  uint64_t (*save_sent_bytes)(const void *source);  /* device data written so far */
  /* Destination side: dest is the handler's destination state. */
  /* Each section's SECTION record, then each record of its payload (mig_load_live). */
  enum mig_err (*load)(void *dest, struct mig_reader *reader, const struct mig_record *record);
  void (*load_cleanup)(void *dest);                 /* may be NULL */
  /* cpr-transfer: false with error (path, detail) when the device refuses. */
  bool (*cpr_check)(const void *source, struct mig_error *error);
  void (*cpr_hand_over)(void *dest, const void *source);
};

struct mig_live_handler {
  const struct mig_live_ops *ops;
  void *source;                    /* arena-owned handler states; NULL: only the other
                                      side has this live section (another release) */
  void *dest;
};

struct mig_live_params {
  uint32_t section_base;           /* handler i's section id: section_base + i */
  bool switchover_ack;             /* the capability, on both sides */
  struct mig_live_hooks hooks;     /* destination events */
};

struct mig_live_set {              /* caller-owned; fields private */
  uint32_t count;                  /* handlers */
  uint32_t load_count;             /* handlers with a destination side: loads[] */
  uint32_t paired_count;           /* handlers with both sides */
  struct mig_live_handler handlers[2 * MIG_LOAD_LIVES_MAX];
  struct mig_load_live loads[MIG_LOAD_LIVES_MAX]; /* the loader's view, same order */
};

/*
 * One handler per live section of source (section ids from the base, in
 * order), paired with dest's at the same PCI path; then one per section
 * only dest has.  The sides differ only between machines of two releases
 * (a device that gained a live section): a source-only section reaches a
 * loader that refuses it, a destination-only one is never loaded.
 */
void mig_live_set_init(struct mig_live_set *set, struct sim *sim, struct machine *source,
                       struct machine *dest, const struct mig_live_params *params);
uint32_t mig_live_set_count(const struct mig_live_set *set);
/* The loader's handlers (mig_live_set_loads) and the handlers with both sides. */
uint32_t mig_live_set_load_count(const struct mig_live_set *set);
uint32_t mig_live_set_paired_count(const struct mig_live_set *set);
const struct mig_load_live *mig_live_set_loads(const struct mig_live_set *set);
/* Every handler in turn; iterate returns the sections written. */
void mig_live_set_save_setup(struct mig_live_set *set, struct mig_writer *writer);
uint64_t mig_live_set_save_pending(const struct mig_live_set *set);
uint32_t mig_live_set_save_iterate(struct mig_live_set *set, struct mig_writer *writer,
                                   uint64_t pages_max);
void mig_live_set_save_complete(struct mig_live_set *set, struct mig_writer *writer);
void mig_live_set_save_state(struct mig_live_set *set, struct mig_writer *writer,
                             json_t *devices_json);
/* The migration ended, either side: save_cleanup and load_cleanup where a handler has one. */
void mig_live_set_save_cleanup(struct mig_live_set *set);
void mig_live_set_load_cleanup(struct mig_live_set *set);
bool mig_live_set_wants_ack(const struct mig_live_set *set);
/* Destination handlers that will send INIT_DATA approval (QEMU's switchover_ack_needed). */
uint32_t mig_live_set_load_acks_count(const struct mig_live_set *set);
/* The longest destination device resume (devices resume side by side). */
uint64_t mig_live_set_load_resume_ns(const struct mig_live_set *set);
uint64_t mig_live_set_sent_bytes(const struct mig_live_set *set);
/* cpr-transfer: the first handler that refuses (its index), or count when none does. */
uint32_t mig_live_set_cpr_check(const struct mig_live_set *set, struct mig_error *error);
void mig_live_set_cpr_hand_over(struct mig_live_set *set, uint32_t index);

#endif /* MIG_LIVE_H */
