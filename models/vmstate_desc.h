/*
 * vmstate_desc.h: how a device describes its migratable state.
 *
 * Devices (models/) declare static tables in the manner of QEMU's
 * VMStateDescription; the migration layer walks them (migration/mig_vmstate.c)
 * and never touches a device's fields any other way (STYLE tangle 1).  This
 * header lives in models/ because models may not include migration/: it is
 * the contract between the two layers.
 *
 * Wire facts (spec/stream-format.md §5): fields are written in declaration
 * order, big-endian, with no names or sizes; then the subsections whose
 * needed() is true, each as 0x05, counted name, be32 version, fields.
 */
#ifndef VMSTATE_DESC_H
#define VMSTATE_DESC_H

#include "sim_base.h"

enum vmstate_kind {
  VMSTATE_KIND_BOOL,    /* 1 byte; 0 false, anything else true */
  VMSTATE_KIND_INT8,
  VMSTATE_KIND_INT16,
  VMSTATE_KIND_INT32,
  VMSTATE_KIND_INT64,
  VMSTATE_KIND_UINT8,
  VMSTATE_KIND_UINT16,
  VMSTATE_KIND_UINT32,
  VMSTATE_KIND_UINT64,
  VMSTATE_KIND_BUFFER,  /* size_bytes raw bytes */
  VMSTATE_KIND_UNUSED,  /* size_bytes bytes: zeros on save, skipped on load */
  VMSTATE_KIND_STRUCT,  /* the nested description, at its own current version */
};

/* The loaded value must equal the current one (QEMU's *_EQUAL fields). */
#define VMSTATE_FLAG_EQUAL 0x1u

struct vmstate_desc;

struct vmstate_field {
  const char *name;                 /* as in QEMU's JSON description */
  enum vmstate_kind kind;
  uint32_t offset;                  /* bytes from the owner's start to element 0 */
  uint32_t size_bytes;              /* bytes of one element in memory and on the wire */
  uint32_t count;                   /* elements; 1 for a scalar */
  int32_t version_id;               /* present iff version_id <= handled version */
  uint32_t flags;                   /* VMSTATE_FLAG_* */
  bool (*field_exists)(void *opaque, int32_t version_id); /* if set, decides presence */
  const struct vmstate_desc *nested; /* VMSTATE_KIND_STRUCT only */
};

struct vmstate_desc {
  const char *name;                 /* VMSD name; subsections are "<parent>/<sub>" */
  int32_t version_id;               /* newest version written and accepted */
  int32_t minimum_version_id;       /* oldest version accepted */
  int32_t priority;                 /* save order, higher first (QEMU MIG_PRI_*) */
  const struct vmstate_field *fields;
  uint32_t field_count;
  const struct vmstate_desc *const *subsections;
  uint32_t subsection_count;
  bool (*needed)(void *opaque);     /* subsections only: sent iff true; NULL = always */
  int (*pre_save)(void *opaque);    /* nonzero fails the save */
  int (*post_save)(void *opaque);
  int (*pre_load)(void *opaque);    /* nonzero fails the load */
  int (*post_load)(void *opaque, int32_t version_id); /* after fields and subsections */
};

/*
 * One registered state instance: what a machine hands the migration layer for
 * each section it owns (QEMU's SaveStateEntry, minus the code).
 */
struct vmstate_instance {
  char idstr[256];                  /* "<device path>/<vmsd name>" or a bare name */
  uint32_t instance_id;             /* tells same-idstr instances apart */
  const struct vmstate_desc *desc;  /* the description */
  void *opaque;                     /* the object it describes */
};

/* QEMU 7.2's migration priorities (values are internal, never on the wire). */
#define VMSTATE_PRIORITY_DEFAULT 0
#define VMSTATE_PRIORITY_IOMMU 1
#define VMSTATE_PRIORITY_PCI_BUS 2

/*
 * Field macros.  The _Generic in VMSTATE_OFFSET_ is a compile-time type check:
 * a field declared with the wrong C type has no matching association and
 * fails to compile, like QEMU's type_check.
 */
#define VMSTATE_OFFSET_(owner, member, ctype) \
  ((uint32_t)_Generic(((owner *)0)->member, ctype: offsetof(owner, member)))

#define VMSTATE_SCALAR_(owner, member, kind_, ctype, version_, flags_) \
  { .name = #member, .kind = (kind_), .offset = VMSTATE_OFFSET_(owner, member, ctype), \
    .size_bytes = sizeof(ctype), .count = 1, .version_id = (version_), .flags = (flags_) }

#define VMSTATE_BOOL_V(o, m, v) VMSTATE_SCALAR_(o, m, VMSTATE_KIND_BOOL, bool, v, 0)
#define VMSTATE_INT8_V(o, m, v) VMSTATE_SCALAR_(o, m, VMSTATE_KIND_INT8, int8_t, v, 0)
#define VMSTATE_INT16_V(o, m, v) VMSTATE_SCALAR_(o, m, VMSTATE_KIND_INT16, int16_t, v, 0)
#define VMSTATE_INT32_V(o, m, v) VMSTATE_SCALAR_(o, m, VMSTATE_KIND_INT32, int32_t, v, 0)
#define VMSTATE_INT64_V(o, m, v) VMSTATE_SCALAR_(o, m, VMSTATE_KIND_INT64, int64_t, v, 0)
#define VMSTATE_UINT8_V(o, m, v) VMSTATE_SCALAR_(o, m, VMSTATE_KIND_UINT8, uint8_t, v, 0)
#define VMSTATE_UINT16_V(o, m, v) VMSTATE_SCALAR_(o, m, VMSTATE_KIND_UINT16, uint16_t, v, 0)
#define VMSTATE_UINT32_V(o, m, v) VMSTATE_SCALAR_(o, m, VMSTATE_KIND_UINT32, uint32_t, v, 0)
#define VMSTATE_UINT64_V(o, m, v) VMSTATE_SCALAR_(o, m, VMSTATE_KIND_UINT64, uint64_t, v, 0)

#define VMSTATE_BOOL(o, m) VMSTATE_BOOL_V(o, m, 0)
#define VMSTATE_INT8(o, m) VMSTATE_INT8_V(o, m, 0)
#define VMSTATE_INT16(o, m) VMSTATE_INT16_V(o, m, 0)
#define VMSTATE_INT32(o, m) VMSTATE_INT32_V(o, m, 0)
#define VMSTATE_INT64(o, m) VMSTATE_INT64_V(o, m, 0)
#define VMSTATE_UINT8(o, m) VMSTATE_UINT8_V(o, m, 0)
#define VMSTATE_UINT16(o, m) VMSTATE_UINT16_V(o, m, 0)
#define VMSTATE_UINT32(o, m) VMSTATE_UINT32_V(o, m, 0)
#define VMSTATE_UINT64(o, m) VMSTATE_UINT64_V(o, m, 0)

#define VMSTATE_UINT8_EQUAL(o, m) \
  VMSTATE_SCALAR_(o, m, VMSTATE_KIND_UINT8, uint8_t, 0, VMSTATE_FLAG_EQUAL)
#define VMSTATE_UINT16_EQUAL(o, m) \
  VMSTATE_SCALAR_(o, m, VMSTATE_KIND_UINT16, uint16_t, 0, VMSTATE_FLAG_EQUAL)
#define VMSTATE_UINT32_EQUAL(o, m) \
  VMSTATE_SCALAR_(o, m, VMSTATE_KIND_UINT32, uint32_t, 0, VMSTATE_FLAG_EQUAL)
#define VMSTATE_UINT64_EQUAL(o, m) \
  VMSTATE_SCALAR_(o, m, VMSTATE_KIND_UINT64, uint64_t, 0, VMSTATE_FLAG_EQUAL)

/* A fixed array of scalars: n elements of ctype, encoded back to back. */
#define VMSTATE_ARRAY_(o, m, n, kind_, ctype, version_) \
  { .name = #m, .kind = (kind_), .offset = VMSTATE_OFFSET_(o, m[0], ctype), \
    .size_bytes = sizeof(ctype), .count = (n), .version_id = (version_) }
#define VMSTATE_UINT8_ARRAY(o, m, n) VMSTATE_ARRAY_(o, m, n, VMSTATE_KIND_UINT8, uint8_t, 0)
#define VMSTATE_UINT16_ARRAY(o, m, n) VMSTATE_ARRAY_(o, m, n, VMSTATE_KIND_UINT16, uint16_t, 0)
#define VMSTATE_UINT32_ARRAY(o, m, n) VMSTATE_ARRAY_(o, m, n, VMSTATE_KIND_UINT32, uint32_t, 0)
#define VMSTATE_UINT64_ARRAY(o, m, n) VMSTATE_ARRAY_(o, m, n, VMSTATE_KIND_UINT64, uint64_t, 0)

/* A byte buffer member (uint8_t m[N]); its whole size goes on the wire. */
#define VMSTATE_BUFFER(o, m) \
  { .name = #m, .kind = VMSTATE_KIND_BUFFER, .offset = VMSTATE_OFFSET_(o, m[0], uint8_t), \
    .size_bytes = sizeof(((o *)0)->m), .count = 1 }

/* n bytes that are zeros on the wire and belong to no member. */
#define VMSTATE_UNUSED(n) \
  { .name = "unused", .kind = VMSTATE_KIND_UNUSED, .size_bytes = (n), .count = 1 }

/* A nested struct member of C type ctype described by desc_. */
#define VMSTATE_STRUCT(o, m, ctype, desc_) \
  { .name = #m, .kind = VMSTATE_KIND_STRUCT, .offset = VMSTATE_OFFSET_(o, m, ctype), \
    .size_bytes = sizeof(ctype), .count = 1, .nested = &(desc_) }

#endif /* VMSTATE_DESC_H */
