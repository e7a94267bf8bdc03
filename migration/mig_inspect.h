/*
 * mig_inspect.h: a VMSD-agnostic walker over a migration stream, in memory
 * (mig_inspect_walk) or streamed as it arrives (mig_inspect_walk_reader)
 * (spec/stream-format.md §2-§7, §10), reading its records through the
 * record layer (mig_record.h) under mig_policy_walk.  FULL sections carry
 * no length, so the walker first locates the VM-description trailer exactly
 * (streamed: once it reaches the first FULL section, holding the rest),
 * parses it, and sizes each FULL section from its device entry; the footer (or, in
 * legacy streams without footers, the next record type) confirms the size.
 * Live sections "ram" (v4), "dirty-bitmap" (v1), "block" (v1, QEMU block
 * migration) and "<bdf>/vfio" (v1, VFIO_MIG_FLAG markers; device data is
 * opaque) are walked record by record.
 *
 * Streams without a trailer (spec §10: it is optional) are walked too; FULL
 * sections are then sized by a heuristic, see mig_inspect.c
 * walk_full_unsized: the first footer 0x7e + be32 section id that is followed
 * by a plausible record.  A device payload that happens to contain such bytes
 * is cut short there; streams that have neither trailer nor footers are
 * rejected.
 *
 * A visitor (struct mig_inspect_visitor) sees every record as it is parsed,
 * so the summary, RAM application (mig_ramapply.h) and re-encoding
 * (mig_reencode.h) are consumers of one walk.
 *
 * Postcopy (§4.6): ADVISE, DISCARD, LISTEN and RUN must come in QEMU's
 * state order (mig_postcopy_state_step); a PACKAGED body (at most
 * MIG_PACKAGED_BYTES_MAX) is read whole and walked as a nested run of
 * records over memory, its FULL sections sized by their footers, ending
 * exactly with RUN; after it comes no trailer, and a live source's stream
 * (options.tail_trials) ends at EOF without reading on.
 *
 * Not handled: other live sections, postcopy page sizes in the block list
 * (hugepage-backed RAM).  Each is rejected with a latched error.
 */
#ifndef MIG_INSPECT_H
#define MIG_INSPECT_H

#include "sim_base.h"
#include "mig_err.h"
#include "mig_limits.h"
#include "mig_record.h"
#include "mig_wire.h"

#define MIG_INSPECT_COMMANDS MIG_CMD_MAX_7_2          /* counters by command code */
#define MIG_INSPECT_RECORD_TYPES MIG_SECTION_TYPES_COUNT /* counters by record type */
#define MIG_INSPECT_CONFIG_SUBSECTIONS_MAX 8
#define MIG_INSPECT_LIVE_SECTIONS_MAX 8   /* distinct START sections */
#define MIG_INSPECT_BLOCK_DEVICES_MAX 16  /* distinct device names in "block" sections */
#define MIG_INSPECT_TAIL_BYTES_MAX ((uint64_t)256 << 20)  /* streamed: FULL sections + trailer */
#define MIG_INSPECT_STREAM_WINDOW_BYTES ((size_t)2 << 20) /* streamed: a 1 MiB block chunk + */
#define MIG_INSPECT_CONSUMED_BYTES ((uint64_t)8 << 20)    /* memory: consumed() granularity */

/* One block device of "block" sections (or, in mig_inspect_options, one the caller has). */
struct mig_inspect_block_device {
  char name[MIG_IDSTR_BYTES_MAX + 1];
  uint64_t bytes;                   /* device size when known (options); 0: unknown */
  uint64_t data_blocks;             /* DEVICE_BLOCK records with their 1 MiB of data */
  uint64_t zero_blocks;             /* DEVICE_BLOCK | ZERO_BLOCK records */
  uint64_t sector_end;              /* highest chunk sector seen + MIG_BLOCK_CHUNK_SECTORS */
};

struct mig_inspect_block {
  char name[MIG_IDSTR_BYTES_MAX + 1];
  uint64_t used_bytes;
  uint64_t gpa;                     /* only with x-ignore-shared */
  uint64_t zero_pages;
  uint64_t normal_pages;
  uint64_t xbzrle_pages;
  uint64_t compressed_pages;
};

struct mig_inspect_device {
  char idstr[MIG_IDSTR_BYTES_MAX + 1];
  uint32_t instance_id;
  uint32_t version;
  uint32_t section_id;
  uint64_t offset;                  /* of the FULL header */
  uint64_t payload_offset;          /* of the payload's first byte */
  uint64_t bytes;                   /* payload bytes */
};

/* One configuration subsection (spec §3), in stream order. */
struct mig_inspect_config_subsection {
  char name[MIG_IDSTR_BYTES_MAX + 1];
  uint32_t version;                 /* always 1 once validated */
};

/* A live (START/PART/END) section id and what it carries. */
struct mig_inspect_live {
  uint32_t section_id;
  char idstr[MIG_IDSTR_BYTES_MAX + 1];
  uint32_t instance_id;
  uint32_t version;
  uint64_t offset;                  /* of its START header */
};

struct mig_inspect {
  bool has_configuration;
  char machine[MIG_MACHINE_NAME_BYTES_MAX + 1];
  uint32_t capability_count;
  char capabilities[MIG_CAPABILITIES_MAX][MIG_IDSTR_BYTES_MAX + 1];
  uint32_t config_subsection_count;
  struct mig_inspect_config_subsection config_subsections[MIG_INSPECT_CONFIG_SUBSECTIONS_MAX];
  uint8_t uuid[16];                 /* with has_uuid */
  uint32_t target_page_bits;        /* 0 when the subsection is absent */
  bool x_ignore_shared;
  bool has_uuid;
  bool footers_seen;                /* at least one section footer */
  bool has_trailer;                 /* false: FULL sections were sized heuristically */
  uint64_t records[MIG_INSPECT_RECORD_TYPES];  /* by top-level record type */
  uint64_t commands[MIG_INSPECT_COMMANDS];     /* by command code */
  uint64_t bitmap_chunks;           /* dirty-bitmap chunks, EOS included */
  uint64_t vfio_records;            /* VFIO_MIG_FLAG markers in live <bdf>/vfio sections */
  uint32_t block_device_count;      /* "block" sections: devices in first-seen order */
  struct mig_inspect_block_device block_devices[MIG_INSPECT_BLOCK_DEVICES_MAX];
  uint64_t block_progress_count;    /* PROGRESS records */
  uint32_t block_progress;          /* the last PROGRESS percent */
  uint64_t block_eos_count;         /* EOS records (one per block section) */
  uint32_t block_count;
  struct mig_inspect_block blocks[MIG_RAM_BLOCKS_MAX];
  uint32_t live_count;
  struct mig_inspect_live lives[MIG_INSPECT_LIVE_SECTIONS_MAX];
  uint32_t device_count;
  struct mig_inspect_device *devices;  /* MIG_SECTIONS_MAX entries, calloc'd */
  enum mig_postcopy_state postcopy_state;  /* ADVISE, DISCARD, LISTEN, RUN in order (§7) */
  uint64_t package_offset;          /* PACKAGED: its body's first byte (0: no package) */
  uint32_t package_bytes;
  uint64_t eof_offset;
  uint64_t trailer_offset;          /* of the JSON text; 0 without trailer */
  uint64_t trailer_bytes;
  char trailer_warning[160];        /* trailer_advisory: what was wrong with it, or "" */
  uint64_t trailer_warning_offset;
  /*
   * trailer_advisory, no footers and no usable trailer: FULL sections the
   * destination's loader could not size ended at the next plausible section
   * header, their fields unchecked; the first one's payload offset.
   */
  bool full_by_headers;
  uint64_t full_by_headers_offset;
};

enum mig_inspect_kind {
  MIG_INSPECT_PREAMBLE,       /* the header, the configuration, each of its subsections (record) */
  MIG_INSPECT_CONFIGURATION,  /* header and configuration read (see event.inspect) */
  MIG_INSPECT_SECTION_START,  /* a section header: type, id, idstr, instance, version */
  MIG_INSPECT_SECTION_END,    /* payload done; footer tells whether 0x7e + id was read */
  MIG_INSPECT_RAM_BLOCKS,     /* MEM_SIZE: word; blocks[block_first, +block_count) */
  MIG_INSPECT_RAM_PAGE,       /* ZERO, PAGE, XBZRLE or COMPRESS_PAGE record */
  MIG_INSPECT_RAM_ZERO_RUN,   /* run_count ZERO|CONTINUE records, fill 0 (visitor.zero_runs) */
  MIG_INSPECT_RAM_EOS,        /* the RAM EOS record (word) */
  MIG_INSPECT_BITMAP_CHUNK,   /* one dirty-bitmap chunk */
  MIG_INSPECT_BLOCK_RECORD,   /* one "block" record: word, block_flags, sector, [device, data] */
  MIG_INSPECT_VFIO_RECORD,    /* one VFIO_MIG_FLAG marker (vfio_flag); DATA: payload */
  MIG_INSPECT_DEVICE,         /* a FULL section's payload (payload, payload_bytes) */
  MIG_INSPECT_COMMAND,        /* command, payload */
  MIG_INSPECT_EOF,            /* the EOF byte; payload is the trailer JSON (may be empty) */
};

/* One parsed record.  Pointers are valid during the callback only. */
struct mig_inspect_event {
  enum mig_inspect_kind kind;
  uint64_t offset;                  /* stream offset of the record */
  const struct mig_inspect *inspect;  /* the walk's state so far */
  /*
   * The record as the record layer read it (mig_record.h), for writers
   * (mig_record_write); CONFIGURATION has none (NULL).
   */
  const struct mig_record *record;
  /* Sections. */
  uint8_t section_type;             /* MIG_SECTION_START .. MIG_SECTION_FULL */
  uint32_t section_id;
  const char *idstr;                /* PART/END: the idstr of their START */
  uint32_t instance_id;             /* START/FULL */
  uint32_t version;                 /* START/FULL */
  bool footer;                      /* SECTION_END: 0x7e + be32 id was present */
  /* RAM records. */
  uint64_t word;                    /* the record's be64: address | flags */
  uint32_t ram_kind;                /* flags & ~CONTINUE */
  bool ram_named;                   /* CONTINUE clear: the block name was sent */
  uint32_t block_index;             /* RAM_PAGE: index into inspect->blocks */
  uint64_t address;                 /* RAM_PAGE: byte offset inside the block */
  uint32_t block_first;             /* RAM_BLOCKS */
  uint32_t block_count;             /* RAM_BLOCKS */
  uint8_t fill;                     /* ZERO: the fill byte */
  uint8_t encoding;                 /* XBZRLE: the encoding flag byte */
  uint64_t run_count;               /* RAM_ZERO_RUN: records; payload holds their 9-byte forms */
  /* Dirty-bitmap chunks (QEMU 7.2 migration/block-dirty-bitmap.c). */
  uint32_t bitmap_flags;
  uint32_t bitmap_flags_bytes;      /* 1, 2 or 4 */
  const char *bitmap_node;          /* NULL unless DEVICE_NAME */
  const char *bitmap_name;          /* NULL unless BITMAP_NAME */
  uint32_t granularity;             /* START */
  uint8_t bitmap_start_flags;       /* START */
  uint64_t start_sector;            /* BITS */
  uint32_t sectors;                 /* BITS */
  /* Block records (QEMU 7.2 migration/block.c). */
  uint32_t block_flags;             /* word & 0x1ff */
  uint64_t sector;                  /* word >> 9; the percent of a PROGRESS record */
  uint32_t block_device;            /* DEVICE_BLOCK: index into inspect->block_devices */
  /*
   * Payloads: PAGE 4096 bytes; block data 1 MiB; XBZRLE/COMPRESS encoded
   * bytes; FULL, command, bits, trailer.
   */
  const uint8_t *payload;
  uint64_t payload_bytes;
  uint64_t payload_offset;          /* RAM_PAGE: stream offset of payload[0] */
  uint16_t command;                 /* COMMAND: code */
  uint64_t vfio_flag;               /* VFIO_RECORD */
};

/*
 * Called for every record in stream order.  Returns MIG_OK to go on; any
 * other code stops the walk, which latches it with error->offset,
 * error->path and error->detail as the callback filled them (offset 0 and
 * empty path mean "the record's offset" and "visitor").
 */
typedef enum mig_err mig_inspect_visit_fn(void *context, const struct mig_inspect_event *event,
                                          struct mig_error *error);

struct mig_inspect_visitor {
  mig_inspect_visit_fn *visit;
  void *context;
  /*
   * Set: runs of ZERO|CONTINUE records with fill 0 in one block arrive as one
   * MIG_INSPECT_RAM_ZERO_RUN event (offset, word and address of the first,
   * run_count, payload = the run's bytes, 9 per record) instead of one
   * RAM_PAGE each.  The walk checks each record of the run as it would
   * alone.  Without a visitor the walker takes the same fast path.
   */
  bool zero_runs;
  /*
   * A known destination's loader (mig_destcheck.h) on a stream without
   * section footers: QEMU reads a FULL section with its own descriptions and
   * takes the byte after it for the next record, wherever the trailer says
   * the section ends.  Called with the section's MIG_INSPECT_DEVICE event
   * whose payload runs from the payload's start to the EOF, it returns true
   * with *bytes where that loader stops reading, false when it cannot tell
   * (the trailer sizes the section then).  May be NULL.
   */
  bool (*full_bytes)(void *context, const struct mig_inspect_event *event, uint64_t *bytes);
};

/*
 * Walks bytes[0, count).  Returns MIG_OK or the error code; *error gets the
 * first error (offset, path, detail).  *out is filled as far as the walk got;
 * release it with mig_inspect_deinit in both cases.  visitor may be NULL.
 */
enum mig_err mig_inspect_walk(const uint8_t *bytes, size_t count, struct mig_inspect *out,
                              const struct mig_inspect_visitor *visitor,
                              struct mig_error *error);
/* What the caller knows beyond the stream; every member may be zero. */
struct mig_inspect_options {
  /*
   * Memory input: called with the stream offset the walk has reached, about
   * every MIG_INSPECT_CONSUMED_BYTES; the walk does not read below it again
   * (a caller over mmap drops those pages: its resident set stays bounded).
   */
  void (*consumed)(void *context, uint64_t offset);
  /* Streamed input (mig_inspect_walk_reader): bytes held for the tail (0: the default). */
  uint64_t tail_bytes_max;
  /*
   * Streamed input from a live source, which never closes first (QEMU waits
   * for SHUT): the tail is walked each time it ends like a trailer
   * (mig_trailer_scan).  When such a walk fails, tail_more is called: true
   * when more bytes came (the walk of the tail is undone and repeated with
   * them, so a visitor sees tail events again), false when the failure is
   * final.
   */
  bool tail_trials;
  bool (*tail_more)(void *context);
  void *context;                    /* for consumed and tail_more */
  /*
   * Block devices (name, bytes) of the destination.  With a list, a "block"
   * record naming another device is rejected and sectors are bounded by its
   * size; without one, any name is accepted and sectors are bounded by
   * MIG_BLOCK_DEVICE_BYTES_MAX.
   */
  const struct mig_inspect_block_device *block_devices;
  uint32_t block_device_count;
  /*
   * The destination is known (mig_destcheck.h): as QEMU's loader, the walk
   * does not depend on the VM-description trailer.  FULL sections are sized
   * by their footers (walk_full_unsized); without footers by the visitor's
   * full_bytes, else by the trailer, else at the next plausible section
   * header (out->full_by_headers); a trailer that is missing, cut,
   * not JSON or without a devices list, and bytes after EOF that are not a
   * trailer, are warnings (out->trailer_warning), not refusals.
   */
  bool trailer_advisory;
};

/* mig_inspect_walk with options (may be NULL). */
enum mig_err mig_inspect_walk_with(const uint8_t *bytes, size_t count, struct mig_inspect *out,
                                   const struct mig_inspect_options *options,
                                   const struct mig_inspect_visitor *visitor,
                                   struct mig_error *error);
/*
 * The same over a streamed input, read as it arrives (a refill-mode reader:
 * stdin, an xz decoder, a live socket; MIG_INSPECT_STREAM_WINDOW_BYTES of
 * window so every record but a large vfio DATA block is viewed whole).
 * Everything before the first FULL section (or the EOF) is checked as it is
 * read, so the first bad byte is refused before the rest is read; from there
 * the rest of the stream is held in memory (the device sections and the
 * trailer that sizes them; at most options->tail_bytes_max,
 * MIG_INSPECT_TAIL_BYTES_MAX by default) and walked as mig_inspect_walk does.
 * Memory does not grow with the RAM sections.  Errors latched on reader by
 * its refill (a live sink's own) stop the walk and are returned.  A visitor
 * event's payload may be NULL for a vfio DATA block larger than the window.
 */
enum mig_err mig_inspect_walk_reader(struct mig_reader *reader, struct mig_inspect *out,
                                     const struct mig_inspect_options *options,
                                     const struct mig_inspect_visitor *visitor,
                                     struct mig_error *error);
/* mig_inspect_walk with no visitor. */
enum mig_err mig_inspect_stream(const uint8_t *bytes, size_t count, struct mig_inspect *out,
                                struct mig_error *error);
void mig_inspect_deinit(struct mig_inspect *inspect);

#endif /* MIG_INSPECT_H */
