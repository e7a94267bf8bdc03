/*
 * mig_load.h: the destination's stream loader (QEMU's loadvm role), run over
 * a mig_reader until the stream ends.
 *
 * It reads the stream's records through the record layer (mig_record.h),
 * checks the header and configuration (exact machine type), dispatches
 * START/PART/END sections to the RAM loader and FULL sections to the vmstate
 * instance with the same (idstr, instance_id), and after EOF accepts an
 * optional VM-description trailer that must be valid JSON of QEMU's schema
 * and must end the stream.  It applies mig_policy_strict: stricter than QEMU
 * 7.2 where spec §11.3 says so, each such check a named policy field; every
 * rejection carries offset and path.
 */
#ifndef MIG_LOAD_H
#define MIG_LOAD_H

#include "sim_base.h"
#include "machine.h"
#include "mig_limits.h"
#include "mig_ram.h"
#include "mig_record.h"
#include "mig_stream.h"

/*
 * A live handler beside RAM (a vfio device's data): it owns the payload of
 * the START, PART, END and FULL sections of (idstr, instance 0, version_id).
 */
struct mig_load_live {
  const char *idstr;
  uint32_t version_id;
  void *context;
  /*
   * Called with each section's SECTION record, then with every record of its
   * payload (mig_record.h); a FULL payload is opaque: the handler reads it
   * from reader when it gets the SECTION record.  MIG_OK or the latched error.
   */
  enum mig_err (*load)(void *context, struct mig_reader *reader, const struct mig_record *record);
};

/*
 * The destination's postcopy side (mig_postcopy.h), when postcopy-ram is on
 * here: it takes ADVISE, DISCARD, LISTEN, RUN, POSTCOPY_RESUME and
 * RECV_BITMAP, is told of each page applied, and checks the end; the loader
 * runs PACKAGED's body as a nested run of records that ends at RUN.  Without
 * it, postcopy commands are refused (mig_policy postcopy_refused).
 */
struct mig_load_postcopy {
  void *context;
  enum mig_err (*command)(void *context, struct mig_reader *reader,
                          const struct mig_record *record);
  mig_ram_placed_fn *placed;
  /* EOF was loaded: MIG_OK or the latched error (pages never received). */
  enum mig_err (*finish)(void *context, struct mig_reader *reader);
  /*
   * The stream failed with err: true when postcopy paused and recovered, the
   * reader now reading a new channel from a top-level record (no header);
   * false lets the load fail.  May be NULL (no recovery).
   */
  bool (*recovered)(void *context, struct mig_reader *reader, enum mig_err err);
};

/*
 * What a destination offers the loader: its machine type, its vmstate
 * instances (QEMU's handler list), its RAM blocks and its validated
 * configuration (spec §3).  mig_load_machine builds one from a machine;
 * tests and fuzz targets may build their own.
 */
struct mig_load_target {
  const char *machine_type;                     /* compared exactly (spec §11.3 item 2) */
  const struct vmstate_instance *const *instances; /* handler list, registration order */
  uint32_t instance_count;                      /* < MIG_LOAD_INSTANCES_MAX */
  const bool *instance_required;                /* per instance: must come in the stream
                                                   (topology check at EOF), or NULL */
  struct ram_block *const *ram_blocks;          /* RAM handler's blocks */
  uint32_t ram_block_count;                     /* 1 .. MIG_RAM_BLOCKS_MAX */
  bool x_ignore_shared;                         /* the one validated capability of 7.2 */
  const struct mig_load_live *lives;            /* live_count entries, not owned */
  uint32_t live_count;                          /* <= MIG_LOAD_LIVES_MAX */
  const uint8_t *uuid;                          /* 16 bytes, or NULL: no -uuid here */
  const struct mig_policy *policy;              /* NULL: mig_policy_strict (mig_record.h) */
  /* A PING accepted on the open return path (the caller answers PONG); may be NULL. */
  void (*ping)(void *context, uint32_t value);
  void *ping_context;
  const struct mig_load_postcopy *postcopy;      /* NULL: postcopy off here */
  /* multifd: each RAM EOS waits for every channel's SYNC (mig_multifd_recv.h); may be NULL. */
  enum mig_err (*ram_eos)(void *context, struct mig_reader *reader);
  void *ram_eos_context;
};

struct mig_load_stats {
  uint64_t sections_count;        /* START/PART/END/FULL sections loaded */
  uint64_t devices_count;         /* FULL sections loaded */
  uint64_t zero_pages_count;      /* ZERO records */
  uint64_t normal_pages_count;    /* PAGE records */
  uint64_t vmdesc_bytes;          /* JSON trailer length; 0 when absent */
  uint64_t stream_bytes;          /* bytes consumed */
  uint64_t commands_count;        /* COMMAND records accepted */
  uint64_t pings_count;           /* PING commands (return path open) */
};

/*
 * Loads a whole stream into machine (which must be stopped and freshly
 * created).  Returns MIG_OK or the reader's latched error.
 */
enum mig_err mig_load_machine(struct mig_reader *reader, struct machine *machine,
                              struct mig_load_stats *stats);

struct mig_load_options {
  bool x_ignore_shared;           /* capability on here: validated against the stream's */
  const struct mig_load_live *lives; /* live_count entries, not owned */
  uint32_t live_count;            /* <= MIG_LOAD_LIVES_MAX */
  void (*ping)(void *context, uint32_t value); /* as mig_load_target's; may be NULL */
  void *ping_context;
  const struct mig_load_postcopy *postcopy;   /* as mig_load_target's; may be NULL */
  enum mig_err (*ram_eos)(void *context, struct mig_reader *reader); /* as the target's */
  void *ram_eos_context;
  const struct mig_policy *policy; /* NULL: mig_policy_strict; capabilities relax it */
};

/* The same with options (mig_load_machine uses all-off options). */
enum mig_err mig_load_machine_with(struct mig_reader *reader, struct machine *machine,
                                   const struct mig_load_options *options,
                                   struct mig_load_stats *stats);
/* The same for any target; its instances' objects must be freshly set up. */
enum mig_err mig_load_target_run(struct mig_reader *reader, const struct mig_load_target *target,
                                 struct mig_load_stats *stats);

#endif /* MIG_LOAD_H */
