/*
 * mig_devsem.h: device semantics a known destination applies to a section
 * after its bytes parse, facts from QEMU 7.2's sources that neither the
 * stream's VM description nor -dump-vmstate carries:
 *
 *   - `_EQUAL` fields (VM-description types "int32 equal", "uint8 equal",
 *     ...): the loaded value must be the destination's own, which the
 *     machine type fixes (PCIBUS/nirq: 4 on pc-i440fx, 8 on pc-q35);
 *     "int32 le" (PCIDevice/version_id): 0 <= value <= the destination's;
 *   - post_load invariants that read only the section: serial_post_load
 *     (LSR.TEMT set exactly when tsr_retry is 0);
 *   - post_load that reads guest RAM: vapic_post_load (kvm-tpr-opt) maps
 *     its option ROM and fails when the ROM's size byte in RAM is 0 or
 *     outside the RAM at address 0.
 *
 * An `_EQUAL` or `le` field whose destination value is not in the table is
 * not checked and named in the note (a warning).  mig_destcheck.c calls
 * this; docs/hostile.md "Device semantics" lists the rules.
 */
#ifndef MIG_DEVSEM_H
#define MIG_DEVSEM_H

#include "mig_err.h"

#define MIG_DEVSEM_FIELDS_MAX 64u

/* One scalar field as the destination check read it. */
struct mig_devsem_field {
  const char *vmsd;                    /* the description holding it: "serial", "serial/tsr" */
  const char *name;                    /* "lsr" */
  const char *type;                    /* the VM description's: "uint8", "int32 equal", or NULL */
  uint64_t offset;                     /* stream offset of its first byte */
  uint64_t value;                      /* big-endian, as QEMU's get_* read it */
  uint32_t bytes;                      /* 1, 2, 4 or 8 */
};

/*
 * The RAM the destination holds when it loads the section: the byte at a
 * guest-physical address of the RAM block QEMU maps at 0, or -1 when it
 * cannot be told (an XBZRLE or compressed page, or a page not tracked).
 */
struct mig_devsem_ram {
  int (*byte_at)(void *context, uint64_t address);
  void *context;
  uint64_t bytes;                      /* that block's size; 0: no such block (not checked) */
};

struct mig_devsem_section {
  const char *idstr;
  const char *machine_type;            /* the destination's, or NULL */
  const struct mig_devsem_field *fields;
  uint32_t field_count;
  const struct mig_devsem_ram *ram;    /* NULL: RAM-reading rules not checked */
};

/*
 * MIG_OK, or the refusal QEMU 7.2 makes (error filled: offset, path,
 * detail).  note (note_bytes > 0) receives "" or what was not checked.
 */
enum mig_err mig_devsem_check(const struct mig_devsem_section *section, struct mig_error *error,
                              char *note, size_t note_bytes);

#endif
