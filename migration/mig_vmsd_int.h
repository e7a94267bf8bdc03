/*
 * mig_vmsd_int.h: the parsed form of a -dump-vmstate file, shared by the
 * parser (mig_vmsd_parse.c) and the checker (mig_vmsd_diff.c).  Private to
 * migration/.  Every array was bounded (mig_limits.h) before it was
 * allocated; every string is a name of 1..MIG_VMSD_NAME_BYTES_MAX bytes.
 */
#ifndef MIG_VMSD_INT_H
#define MIG_VMSD_INT_H

#include "sim_base.h"
#include "mig_vmsd_diff.h"

/* What a subsection's "x-needed" says; QEMU's own dumps never say. */
enum mig_vmsd_needed {
  MIG_VMSD_NEEDED_UNKNOWN,   /* no "x-needed" (a QEMU dump) */
  MIG_VMSD_NEEDED_ALWAYS,    /* .needed is NULL: sent every time */
  MIG_VMSD_NEEDED_PREDICATE, /* .needed decides */
};

struct mig_vmsd_desc;

struct mig_vmsd_field {
  char *name;                   /* "field" */
  int32_t version_id;           /* sent and read at stream versions >= this */
  bool field_exists;            /* a _TEST field: a predicate decides presence */
  uint64_t size;                /* bytes of one element (for a struct: its C size) */
  int64_t num;                  /* "num" (QEMU 8.2+ arrays), -1 when absent */
  struct mig_vmsd_desc *desc;   /* a struct field's description, else NULL */
};

struct mig_vmsd_desc {
  char *name;                   /* VMSD name; a subsection's is "<parent>/<sub>" */
  int32_t version_id;
  int32_t minimum_version_id;
  struct mig_vmsd_field *fields;
  uint32_t field_count;
  struct mig_vmsd_desc *subsections; /* array of subsection_count */
  uint32_t subsection_count;
  enum mig_vmsd_needed needed;  /* subsections of migsim dumps */
  int8_t sent;                  /* "x-sent": 1 sent on a fresh guest, 0 not, -1 unknown */
};

struct mig_vmsd_section {
  char *key;                    /* the dump's key: the device class (QOM type) name */
  int32_t version_id;           /* the section's own copy of its description's */
  int32_t minimum_version_id;
  bool has_priority;            /* "x-priority" given (migsim dumps) */
  int64_t priority;             /* QEMU MIG_PRI_*, higher saved first */
  struct mig_vmsd_desc *desc;   /* NULL when "Description" is absent */
};

struct mig_vmsd_file {
  char *machine;                /* vmschkmachine's Name, or NULL */
  struct mig_vmsd_section *sections; /* sorted by key, keys distinct */
  uint32_t section_count;
};

/* The section named key, or NULL (binary search). */
const struct mig_vmsd_section *mig_vmsd__section_find(const struct mig_vmsd_file *file,
                                                       const char *key);

/*
 * Appends a copy of finding (code, direction, names, message, values set;
 * severity is filled in).  A symmetric code already reported at the same
 * path is dropped; past MIG_VMSD_FINDINGS_MAX findings are only counted.
 */
void mig_vmsd__report_add(struct mig_vmsd_report *report, const struct mig_vmsd_finding *finding);
bool mig_vmsd__code_symmetric(enum mig_vmsd_code code);

#endif /* MIG_VMSD_INT_H */
