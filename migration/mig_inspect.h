/*
 * mig_inspect.h: a VMSD-agnostic walker over a whole migration stream held in
 * memory (spec/stream-format.md §2-§7, §10).  FULL sections carry no length,
 * so the walker first locates the VM-description trailer exactly, parses it,
 * and sizes each FULL section from its device entry; the footer (or, in
 * legacy streams without footers, the next record type) confirms the size.
 * RAM sections (START/PART/END, version 4) are walked record by record.
 *
 * Not handled in this increment: streams without a trailer, live sections
 * other than "ram" (e.g. "dirty-bitmap", "block"), postcopy page sizes in
 * the block list.  Each is rejected with a latched error.
 */
#ifndef MIG_INSPECT_H
#define MIG_INSPECT_H

#include "sim_base.h"
#include "mig_err.h"
#include "mig_limits.h"

#define MIG_INSPECT_COMMANDS 11     /* 7.2: MIG_CMD_MAX */
#define MIG_INSPECT_RECORD_TYPES 9  /* 0x00 .. 0x08 */

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
  uint64_t bytes;                   /* payload bytes */
};

struct mig_inspect {
  bool has_configuration;
  char machine[MIG_MACHINE_NAME_BYTES_MAX + 1];
  uint32_t capability_count;
  bool x_ignore_shared;
  bool has_uuid;
  bool footers_seen;                /* at least one section footer */
  uint64_t records[MIG_INSPECT_RECORD_TYPES];  /* by top-level record type */
  uint64_t commands[MIG_INSPECT_COMMANDS];     /* by command code */
  uint32_t block_count;
  struct mig_inspect_block blocks[MIG_RAM_BLOCKS_MAX];
  uint32_t device_count;
  struct mig_inspect_device *devices;  /* MIG_SECTIONS_MAX entries, calloc'd */
  uint64_t eof_offset;
  uint64_t trailer_offset;          /* of the JSON text */
  uint64_t trailer_bytes;
};

/*
 * Walks bytes[0, count).  Returns MIG_OK or the error code; *error gets the
 * first error (offset, path, detail).  *out is filled as far as the walk got;
 * release it with mig_inspect_deinit in both cases.
 */
enum mig_err mig_inspect_stream(const uint8_t *bytes, size_t count, struct mig_inspect *out,
                                struct mig_error *error);
void mig_inspect_deinit(struct mig_inspect *inspect);

#endif /* MIG_INSPECT_H */
