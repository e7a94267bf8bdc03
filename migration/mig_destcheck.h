/*
 * mig_destcheck.h: a stream checked as a known destination checks it
 * (issue 12 item 3).  A visitor over the walk (mig_inspect.h) that adds the
 * checks QEMU 7.2's loader makes with its own device descriptions, which the
 * VMSD-agnostic walker cannot make alone:
 *
 *   - the configuration's machine type equals the destination's
 *     (`--machine`), a configuration section is present exactly when that
 *     machine type sends one (pc and q35 machine types >= 2.4, others);
 *   - with the destination's `qemu -dump-vmstate` file (`--vmstate`,
 *     parsed by mig_vmsd_diff.h): each FULL section's VMSD is one the
 *     destination knows (or one QEMU 7.2 registers outside -dump-vmstate:
 *     mig_destcheck.c lists them), its version lies in the VMSD's
 *     [minimum_version_id, version_id], and every subsection the stream
 *     carries is one of the VMSD's, at a version in its range;
 *   - a FULL section's version equals the one its VM-description entry
 *     names, and its subsections start where the description says the
 *     fields end (fields sent at the section's version only), each behind a
 *     0x05 marker with a name of the section's VMSD: "Missing section
 *     footer" otherwise, as QEMU reports it;
 *   - a "virtio" field (VMSTATE_VIRTIO_DEVICE) is read as virtio_load reads
 *     it (mig_virtio.h): its refusals are QEMU's, and the section goes on
 *     where virtio_load stops (a size the VM description disagrees with is
 *     a warning); a blob the stream alone cannot size keeps the
 *     description's size.
 *
 * With the dump the trailer is advisory (mig_inspect_options
 * trailer_advisory): FULL sections are sized by their footers, and a
 * damaged or missing trailer, or an entry that disagrees with the section,
 * is a warning.  Without it the walker needs the trailer, so a
 * disagreement with it is a refusal.
 */
#ifndef MIG_DESTCHECK_H
#define MIG_DESTCHECK_H

#include "sim_base.h"
#include "mig_err.h"
#include "mig_inspect.h"
#include "mig_vmsd_diff.h"

#define MIG_DESTCHECK_WARNINGS_MAX 16u

struct mig_destcheck_options {
  const char *machine_type;            /* the destination's, or NULL: not checked */
  const struct mig_vmsd_file *dump;    /* its -dump-vmstate, or NULL */
  /* Its RAM blocks' names (HMP `info ramblock`); none: not checked. */
  const char *const *ram_blocks;
  uint32_t ram_block_count;
};

struct mig_destcheck_warning {
  uint64_t offset;
  char text[224];                      /* "path: what" */
};

struct mig_destcheck_report {
  uint32_t warning_count;              /* kept, <= MIG_DESTCHECK_WARNINGS_MAX */
  uint32_t warnings_dropped;
  struct mig_destcheck_warning warnings[MIG_DESTCHECK_WARNINGS_MAX];
};

/*
 * Walks bytes[0, count) with the checks above.  inspect_options (may be
 * NULL) and inner (may be NULL: no other consumer) are the caller's;
 * trailer_advisory is set when options->dump is given.  Returns MIG_OK or
 * the error, as mig_inspect_walk_with; *report holds the warnings (a damaged
 * trailer's among them).  The caller deinits *out.
 */
enum mig_err mig_destcheck_walk(const uint8_t *bytes, size_t count,
                                const struct mig_destcheck_options *options,
                                const struct mig_inspect_options *inspect_options,
                                const struct mig_inspect_visitor *inner, struct mig_inspect *out,
                                struct mig_destcheck_report *report, struct mig_error *error);

/* True when QEMU's machine type sends a configuration section (>= 2.4, or not pc/q35). */
bool mig_destcheck_sends_configuration(const char *machine_type);

#endif /* MIG_DESTCHECK_H */
