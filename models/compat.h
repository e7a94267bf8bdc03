/*
 * compat.h: the simulated release history: releases, their machine types
 * `sim-<release>`, what each release's code defaults to, and its compat
 * table (QEMU's HW_COMPAT_x_y), as data (docs/compat.md, "The release
 * history").
 *
 * A release is what one QEMU binary is.  Machine type sim-M on release R is
 * built as QEMU builds pc-q35-M on R: each device starts from its class
 * defaults (dev_config_init), then takes R's code defaults
 * (compat_device_apply: the table of what R's binary defaults to), then R's
 * compat entries for machine types up to M, broadest first so the entry for
 * the oldest machine types wins.  The firmware (ROM RAM blocks) follows the
 * same two tables with driver "firmware".
 *
 * The tables carry the defects real QEMU shipped, on purpose: a
 * guest-visible default changed without a compat entry, a compat entry
 * added in a point release (which breaks guests started on the release with
 * the bug), a feature bit taken from the host instead of the machine type,
 * a compat entry for the wrong machine types.  Today's machine type
 * "migsim-1.0" is not a release machine: nothing here touches it.
 */
#ifndef COMPAT_H
#define COMPAT_H

#include "sim_base.h"
#include "machine.h"

#define COMPAT_RELEASES_COUNT 5u
#define COMPAT_NAME_BYTES_MAX 15u          /* "1.1.1", "sim-2.1" fit */
#define COMPAT_NONE UINT32_MAX             /* no release (an entry never removed) */

/* Migration capability sets a matrix cell may ask for (bits). */
#define COMPAT_CAP_SWITCHOVER_ACK 0x1u

struct compat_release {
  const char *name;                /* "1.0", "1.1", "1.1.1", "2.0", "2.1" */
  bool new_machine;                /* it introduces machine type sim-<name> (a point
                                      release does not) */
  uint32_t capabilities;           /* COMPAT_CAP_* it accepts */
  const char *changes;             /* one line: what it changed */
};

/* A default of release code, or a compat entry: driver.property = value. */
struct compat_prop {
  uint32_t since;                  /* first release (index) whose binary has it */
  uint32_t until;                  /* first release without it, or COMPAT_NONE */
  uint32_t machine_max;            /* compat: machine types of releases <= this index;
                                      a default: COMPAT_NONE (every machine type) */
  const char *driver;              /* a dev_class name, or "firmware" (a ROM block) */
  const char *property;            /* a dev_prop name, or the ROM block's name */
  uint64_t value;
  const char *why;                 /* the QEMU history it models */
};

const struct compat_release *compat_release_at(uint32_t index);
/* The release named name, its index in *index; NULL when there is none. */
const struct compat_release *compat_release_find(const char *name, uint32_t *index);
/* The machine types release index offers, oldest first ("sim-1.0", ...); their count. */
uint32_t compat_machines(uint32_t release_index, const char **names, uint32_t names_max);
/*
 * The release index that introduced machine type name ("sim-1.1" -> 1), if
 * release_index offers it; false otherwise.
 */
bool compat_machine_find(uint32_t release_index, const char *name, uint32_t *machine_index);
/* The tables, for reports and tests: defaults and compat entries. */
const struct compat_prop *compat_props(bool compat, uint32_t *count);

/* One device: release code defaults, then compat entries for machine_index. */
void compat_device_apply(uint32_t release_index, uint32_t machine_index,
                         struct dev_config *device);
/*
 * Appends the release's firmware blocks (fixed-size ROM RAM blocks) for
 * machine_index to config->ram; false with why when they do not fit.
 */
bool compat_firmware_append(uint32_t release_index, uint32_t machine_index,
                            struct machine_config *config, char *why, size_t why_bytes);

#endif /* COMPAT_H */
