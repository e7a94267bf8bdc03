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
  /* Added after the first cut; existing tables are unaffected. */
  VMSTATE_KIND_TMP,     /* QEMU's VMSTATE_WITH_TMP: nested desc run on a temporary */
  VMSTATE_KIND_VALIDATE, /* no bytes; field_exists false on load is fatal */
  VMSTATE_KIND_TIMER,   /* int64_t expiry in ns, -1 when not armed; JSON type "timer" */
  VMSTATE_KIND_QTAILQ,  /* a linked list of nested structs: 0x01 + element ..., 0x00 */
  VMSTATE_KIND_QLIST,   /* the same wire and rules; JSON type "qlist" */
  VMSTATE_KIND_GTREE,   /* a sorted map: be32 count, (0x01, key, value)..., 0x00; "gtree" */
  VMSTATE_KIND_FLOAT64, /* a double: be64 of its IEEE 754 bits; JSON type "uint64" (7.2) */
  VMSTATE_KIND_CPUDOUBLE, /* union vmstate_cpu_double: be32 upper, be32 lower; "CPU_Double_U" */
  VMSTATE_KIND_BITMAP,  /* uint64_t words behind a pointer, bits counted by an int32: be64 each */
};

/* The loaded value must equal the current one (QEMU's *_EQUAL fields). */
#define VMSTATE_FLAG_EQUAL 0x1u
/* The member is a pointer to the first element (QEMU's VMS_POINTER). */
#define VMSTATE_FLAG_POINTER 0x2u
/*
 * The member is an array of count pointers, one per element; a NULL element
 * is the single byte 0x30 on the wire (QEMU's VMS_ARRAY_OF_POINTER, nullptr).
 */
#define VMSTATE_FLAG_ARRAY_OF_POINTER 0x4u
/*
 * The element count is another member of the same object, at num_offset, of
 * the named type (QEMU's VMS_VARRAY_*); count is then the most elements the
 * destination accepts (spec §11.3 item 16).  For a BUFFER the member counts
 * bytes and the buffer is one element (QEMU's VBUFFER).
 */
#define VMSTATE_FLAG_VARRAY_INT32 0x10u
#define VMSTATE_FLAG_VARRAY_UINT32 0x20u
#define VMSTATE_FLAG_VARRAY_UINT16 0x40u
#define VMSTATE_FLAG_VARRAY_UINT8 0x80u
#define VMSTATE_FLAG_VARRAY_ANY \
  (VMSTATE_FLAG_VARRAY_INT32 | VMSTATE_FLAG_VARRAY_UINT32 | VMSTATE_FLAG_VARRAY_UINT16 | \
   VMSTATE_FLAG_VARRAY_UINT8)
/*
 * With POINTER and a VARRAY flag: the loader (re)allocates the elements with
 * realloc(); the object owns and frees them (QEMU's VMS_ALLOC).
 */
#define VMSTATE_FLAG_ALLOC 0x100u
/* int32 only: 0 <= loaded value <= current value (QEMU's "int32 le"). */
#define VMSTATE_FLAG_LE 0x200u
/*
 * With a VARRAY flag: the count is the member's value times the field's
 * multiply (QEMU's VMS_MULTIPLY for a VBUFFER, VMS_MULTIPLY_ELEMENTS for an
 * array); the product is what count bounds.
 */
#define VMSTATE_FLAG_MULTIPLY 0x400u
/* STRUCT only: elements are saved and loaded at struct_version_id (QEMU's VMS_VSTRUCT). */
#define VMSTATE_FLAG_VSTRUCT 0x800u

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
  /* Added after the first cut; zero in older tables. */
  uint32_t num_offset;              /* VARRAY: offset of the element-count member */
  uint32_t multiply;                /* VMSTATE_FLAG_MULTIPLY: factor, 1..2^24; else 0 */
  int32_t struct_version_id;        /* VMSTATE_FLAG_VSTRUCT: the nested version; else 0 */
  /* GTREE with a struct key (QEMU's VMSTATE_GTREE_V); both NULL for a direct key. */
  const struct vmstate_desc *key_nested; /* describes the key, the entry's first member */
  int (*key_compare)(const void *key_a, const void *key_b); /* <0, 0 (same key), >0 */
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
  /* Added for compatibility checks: why post_load refused, in QEMU's words; may be NULL. */
  void (*load_error)(const void *opaque, char *detail, size_t detail_bytes);
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
#define VMSTATE_PRIORITY_VIRTIO_MEM 3
#define VMSTATE_PRIORITY_GICV3_ITS 4
#define VMSTATE_PRIORITY_GICV3 5
#define VMSTATE_PRIORITY_MAX 6

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

/* ------------------------------------------------------------------------
 * Added after the first cut: the rest of QEMU's field kinds (spec §5.1-§5.4).
 * Everything above keeps its meaning; these only add fields and macros.
 */

/* Predicate fields (QEMU's _TEST): test alone decides presence, at save and at load. */
#define VMSTATE_SCALAR_TEST_(o, m, kind_, ctype, test_) \
  { .name = #m, .kind = (kind_), .offset = VMSTATE_OFFSET_(o, m, ctype), \
    .size_bytes = sizeof(ctype), .count = 1, .field_exists = (test_) }
#define VMSTATE_BOOL_TEST(o, m, t) VMSTATE_SCALAR_TEST_(o, m, VMSTATE_KIND_BOOL, bool, t)
#define VMSTATE_INT8_TEST(o, m, t) VMSTATE_SCALAR_TEST_(o, m, VMSTATE_KIND_INT8, int8_t, t)
#define VMSTATE_INT16_TEST(o, m, t) VMSTATE_SCALAR_TEST_(o, m, VMSTATE_KIND_INT16, int16_t, t)
#define VMSTATE_INT32_TEST(o, m, t) VMSTATE_SCALAR_TEST_(o, m, VMSTATE_KIND_INT32, int32_t, t)
#define VMSTATE_INT64_TEST(o, m, t) VMSTATE_SCALAR_TEST_(o, m, VMSTATE_KIND_INT64, int64_t, t)
#define VMSTATE_UINT8_TEST(o, m, t) VMSTATE_SCALAR_TEST_(o, m, VMSTATE_KIND_UINT8, uint8_t, t)
#define VMSTATE_UINT16_TEST(o, m, t) VMSTATE_SCALAR_TEST_(o, m, VMSTATE_KIND_UINT16, uint16_t, t)
#define VMSTATE_UINT32_TEST(o, m, t) VMSTATE_SCALAR_TEST_(o, m, VMSTATE_KIND_UINT32, uint32_t, t)
#define VMSTATE_UINT64_TEST(o, m, t) VMSTATE_SCALAR_TEST_(o, m, VMSTATE_KIND_UINT64, uint64_t, t)

/* QEMU's VMSTATE_TIMER, modelled as the int64_t expiry (virtual ns) it puts on the wire. */
#define VMSTATE_TIMER(o, m) VMSTATE_SCALAR_(o, m, VMSTATE_KIND_TIMER, int64_t, 0, 0)

#define VMSTATE_INT8_EQUAL(o, m) \
  VMSTATE_SCALAR_(o, m, VMSTATE_KIND_INT8, int8_t, 0, VMSTATE_FLAG_EQUAL)
#define VMSTATE_INT16_EQUAL(o, m) \
  VMSTATE_SCALAR_(o, m, VMSTATE_KIND_INT16, int16_t, 0, VMSTATE_FLAG_EQUAL)
#define VMSTATE_INT32_EQUAL(o, m) \
  VMSTATE_SCALAR_(o, m, VMSTATE_KIND_INT32, int32_t, 0, VMSTATE_FLAG_EQUAL)
#define VMSTATE_INT64_EQUAL(o, m) \
  VMSTATE_SCALAR_(o, m, VMSTATE_KIND_INT64, int64_t, 0, VMSTATE_FLAG_EQUAL)
/* QEMU's VMSTATE_INT32_POSITIVE_LE: 0 <= loaded <= the destination's value. */
#define VMSTATE_INT32_POSITIVE_LE(o, m) \
  VMSTATE_SCALAR_(o, m, VMSTATE_KIND_INT32, int32_t, 0, VMSTATE_FLAG_LE)

#define VMSTATE_BOOL_ARRAY(o, m, n) VMSTATE_ARRAY_(o, m, n, VMSTATE_KIND_BOOL, bool, 0)
#define VMSTATE_INT8_ARRAY(o, m, n) VMSTATE_ARRAY_(o, m, n, VMSTATE_KIND_INT8, int8_t, 0)
#define VMSTATE_INT16_ARRAY(o, m, n) VMSTATE_ARRAY_(o, m, n, VMSTATE_KIND_INT16, int16_t, 0)
#define VMSTATE_INT32_ARRAY(o, m, n) VMSTATE_ARRAY_(o, m, n, VMSTATE_KIND_INT32, int32_t, 0)
#define VMSTATE_INT64_ARRAY(o, m, n) VMSTATE_ARRAY_(o, m, n, VMSTATE_KIND_INT64, int64_t, 0)
#define VMSTATE_UINT8_ARRAY_V(o, m, n, v) VMSTATE_ARRAY_(o, m, n, VMSTATE_KIND_UINT8, uint8_t, v)
#define VMSTATE_UINT16_ARRAY_V(o, m, n, v) \
  VMSTATE_ARRAY_(o, m, n, VMSTATE_KIND_UINT16, uint16_t, v)
#define VMSTATE_UINT32_ARRAY_V(o, m, n, v) \
  VMSTATE_ARRAY_(o, m, n, VMSTATE_KIND_UINT32, uint32_t, v)
#define VMSTATE_UINT64_ARRAY_V(o, m, n, v) \
  VMSTATE_ARRAY_(o, m, n, VMSTATE_KIND_UINT64, uint64_t, v)

#define VMSTATE_UNUSED_V(v, n) \
  { .name = "unused", .kind = VMSTATE_KIND_UNUSED, .size_bytes = (n), .count = 1, \
    .version_id = (v) }
#define VMSTATE_UNUSED_TEST(t, n) \
  { .name = "unused", .kind = VMSTATE_KIND_UNUSED, .size_bytes = (n), .count = 1, \
    .field_exists = (t) }

#define VMSTATE_STRUCT_V(o, m, v, ctype, desc_) \
  { .name = #m, .kind = VMSTATE_KIND_STRUCT, .offset = VMSTATE_OFFSET_(o, m, ctype), \
    .size_bytes = sizeof(ctype), .count = 1, .version_id = (v), .nested = &(desc_) }
#define VMSTATE_STRUCT_TEST(o, m, t, ctype, desc_) \
  { .name = #m, .kind = VMSTATE_KIND_STRUCT, .offset = VMSTATE_OFFSET_(o, m, ctype), \
    .size_bytes = sizeof(ctype), .count = 1, .field_exists = (t), .nested = &(desc_) }
/* A fixed array of n structs, ctype m[n]. */
#define VMSTATE_STRUCT_ARRAY(o, m, n, ctype, desc_) \
  { .name = #m, .kind = VMSTATE_KIND_STRUCT, .offset = VMSTATE_OFFSET_(o, m[0], ctype), \
    .size_bytes = sizeof(ctype), .count = (n), .nested = &(desc_) }
/* A pointer member, ctype *m, to one struct; it must not be NULL. */
#define VMSTATE_STRUCT_POINTER(o, m, ctype, desc_) \
  { .name = #m, .kind = VMSTATE_KIND_STRUCT, .offset = VMSTATE_OFFSET_(o, m, ctype *), \
    .size_bytes = sizeof(ctype), .count = 1, .flags = VMSTATE_FLAG_POINTER, \
    .nested = &(desc_) }

/*
 * Variable arrays through a pointer member (ctype *m): the element count is
 * member num (of type num_ctype), at most max.  Without _ALLOC the object's
 * pointer must reach max elements; with _ALLOC the loader reallocs it.
 * kind_ is a VMSTATE_KIND_*, desc_ a description for STRUCT elements (or NULL).
 */
#define VMSTATE_VARRAY_(o, m, num, num_ctype, num_flag, max, kind_, ctype, desc_, extra_) \
  { .name = #m, .kind = (kind_), .offset = VMSTATE_OFFSET_(o, m, ctype *), \
    .size_bytes = sizeof(ctype), .count = (max), \
    .flags = VMSTATE_FLAG_POINTER | (num_flag) | (extra_), .nested = (desc_), \
    .num_offset = VMSTATE_OFFSET_(o, num, num_ctype) }
#define VMSTATE_VARRAY_INT32(o, m, num, max, kind_, ctype) \
  VMSTATE_VARRAY_(o, m, num, int32_t, VMSTATE_FLAG_VARRAY_INT32, max, kind_, ctype, NULL, 0)
#define VMSTATE_VARRAY_UINT32(o, m, num, max, kind_, ctype) \
  VMSTATE_VARRAY_(o, m, num, uint32_t, VMSTATE_FLAG_VARRAY_UINT32, max, kind_, ctype, NULL, 0)
#define VMSTATE_VARRAY_UINT16(o, m, num, max, kind_, ctype) \
  VMSTATE_VARRAY_(o, m, num, uint16_t, VMSTATE_FLAG_VARRAY_UINT16, max, kind_, ctype, NULL, 0)
#define VMSTATE_VARRAY_UINT8(o, m, num, max, kind_, ctype) \
  VMSTATE_VARRAY_(o, m, num, uint8_t, VMSTATE_FLAG_VARRAY_UINT8, max, kind_, ctype, NULL, 0)
#define VMSTATE_VARRAY_INT32_ALLOC(o, m, num, max, kind_, ctype) \
  VMSTATE_VARRAY_(o, m, num, int32_t, VMSTATE_FLAG_VARRAY_INT32, max, kind_, ctype, NULL, \
                  VMSTATE_FLAG_ALLOC)
#define VMSTATE_VARRAY_UINT32_ALLOC(o, m, num, max, kind_, ctype) \
  VMSTATE_VARRAY_(o, m, num, uint32_t, VMSTATE_FLAG_VARRAY_UINT32, max, kind_, ctype, NULL, \
                  VMSTATE_FLAG_ALLOC)
#define VMSTATE_VARRAY_UINT16_ALLOC(o, m, num, max, kind_, ctype) \
  VMSTATE_VARRAY_(o, m, num, uint16_t, VMSTATE_FLAG_VARRAY_UINT16, max, kind_, ctype, NULL, \
                  VMSTATE_FLAG_ALLOC)
#define VMSTATE_VARRAY_UINT8_ALLOC(o, m, num, max, kind_, ctype) \
  VMSTATE_VARRAY_(o, m, num, uint8_t, VMSTATE_FLAG_VARRAY_UINT8, max, kind_, ctype, NULL, \
                  VMSTATE_FLAG_ALLOC)
#define VMSTATE_STRUCT_VARRAY_POINTER_UINT32(o, m, num, max, ctype, desc_) \
  VMSTATE_VARRAY_(o, m, num, uint32_t, VMSTATE_FLAG_VARRAY_UINT32, max, VMSTATE_KIND_STRUCT, \
                  ctype, &(desc_), 0)
#define VMSTATE_STRUCT_VARRAY_ALLOC_INT32(o, m, num, max, ctype, desc_) \
  VMSTATE_VARRAY_(o, m, num, int32_t, VMSTATE_FLAG_VARRAY_INT32, max, VMSTATE_KIND_STRUCT, \
                  ctype, &(desc_), VMSTATE_FLAG_ALLOC)

/* Variable arrays inside an array member (ctype m[N]): at most N elements. */
#define VMSTATE_VARRAY_INPLACE_(o, m, num, num_ctype, num_flag, kind_, ctype, desc_) \
  { .name = #m, .kind = (kind_), .offset = VMSTATE_OFFSET_(o, m[0], ctype), \
    .size_bytes = sizeof(ctype), .count = (uint32_t)(sizeof(((o *)0)->m) / sizeof(ctype)), \
    .flags = (num_flag), .nested = (desc_), .num_offset = VMSTATE_OFFSET_(o, num, num_ctype) }
#define VMSTATE_VARRAY_UINT16_INPLACE(o, m, num, kind_, ctype) \
  VMSTATE_VARRAY_INPLACE_(o, m, num, uint16_t, VMSTATE_FLAG_VARRAY_UINT16, kind_, ctype, NULL)
#define VMSTATE_STRUCT_VARRAY_INT32(o, m, num, ctype, desc_) \
  VMSTATE_VARRAY_INPLACE_(o, m, num, int32_t, VMSTATE_FLAG_VARRAY_INT32, VMSTATE_KIND_STRUCT, \
                          ctype, &(desc_))
#define VMSTATE_STRUCT_VARRAY_UINT32(o, m, num, ctype, desc_) \
  VMSTATE_VARRAY_INPLACE_(o, m, num, uint32_t, VMSTATE_FLAG_VARRAY_UINT32, \
                          VMSTATE_KIND_STRUCT, ctype, &(desc_))
#define VMSTATE_STRUCT_VARRAY_UINT8(o, m, num, ctype, desc_) \
  VMSTATE_VARRAY_INPLACE_(o, m, num, uint8_t, VMSTATE_FLAG_VARRAY_UINT8, VMSTATE_KIND_STRUCT, \
                          ctype, &(desc_))

/*
 * A byte buffer behind a pointer (uint8_t *m) whose length in bytes is member
 * num, at most max (QEMU's VBUFFER; one JSON entry of type "buffer").
 */
#define VMSTATE_VBUFFER(o, m, num, max) \
  VMSTATE_VARRAY_(o, m, num, int32_t, VMSTATE_FLAG_VARRAY_INT32, max, VMSTATE_KIND_BUFFER, \
                  uint8_t, NULL, 0)
#define VMSTATE_VBUFFER_UINT32(o, m, num, max) \
  VMSTATE_VARRAY_(o, m, num, uint32_t, VMSTATE_FLAG_VARRAY_UINT32, max, VMSTATE_KIND_BUFFER, \
                  uint8_t, NULL, 0)
#define VMSTATE_VBUFFER_ALLOC_UINT32(o, m, num, max) \
  VMSTATE_VARRAY_(o, m, num, uint32_t, VMSTATE_FLAG_VARRAY_UINT32, max, VMSTATE_KIND_BUFFER, \
                  uint8_t, NULL, VMSTATE_FLAG_ALLOC)

/* An array of n pointers (ctype *m[n]); NULL elements travel as the byte 0x30. */
#define VMSTATE_ARRAY_OF_POINTER(o, m, n, kind_, ctype) \
  { .name = #m, .kind = (kind_), .offset = VMSTATE_OFFSET_(o, m[0], ctype *), \
    .size_bytes = sizeof(ctype), .count = (n), .flags = VMSTATE_FLAG_ARRAY_OF_POINTER }
#define VMSTATE_ARRAY_OF_POINTER_TO_STRUCT(o, m, n, ctype, desc_) \
  { .name = #m, .kind = VMSTATE_KIND_STRUCT, .offset = VMSTATE_OFFSET_(o, m[0], ctype *), \
    .size_bytes = sizeof(ctype), .count = (n), .flags = VMSTATE_FLAG_ARRAY_OF_POINTER, \
    .nested = &(desc_) }

/*
 * QEMU's VMSTATE_WITH_TMP: desc_ is saved and loaded on a zeroed temporary of
 * type tmp_ctype whose first member is `o *parent`, set to the object; the
 * temporary's pre_save fills it from the parent, its post_load copies back.
 * (The _Generic fails to compile unless parent has type o *.)
 */
#define VMSTATE_WITH_TMP(o, tmp_ctype, desc_) \
  { .name = "tmp", .kind = VMSTATE_KIND_TMP, .size_bytes = sizeof(tmp_ctype), .count = 1, \
    .nested = &(desc_), \
    .num_offset = (uint32_t)(offsetof(tmp_ctype, parent) + \
                             _Generic(((tmp_ctype *)0)->parent, o *: 0)) }

/*
 * QEMU's VMSTATE_QTAILQ_V / VMSTATE_QLIST_V: member m is the head (elem *),
 * elements link through their member next (elem *), and each is described by
 * desc_.  Each element goes on the wire as 0x01 then its fields; 0x00 ends
 * the list.  Elements load at version v, which must be in desc_'s range; the
 * loader appends calloc()ed elements (owned by the object) and accepts at
 * most max of them.
 */
#define VMSTATE_LIST_V_(kind_, o, m, v, max, elem, next, desc_) \
  { .name = #m, .kind = (kind_), .offset = VMSTATE_OFFSET_(o, m, elem *), \
    .size_bytes = sizeof(elem), .count = (max), .version_id = (v), .nested = &(desc_), \
    .num_offset = VMSTATE_OFFSET_(elem, next, elem *) }
#define VMSTATE_QTAILQ_V(o, m, v, max, elem, next, desc_) \
  VMSTATE_LIST_V_(VMSTATE_KIND_QTAILQ, o, m, v, max, elem, next, desc_)
#define VMSTATE_QLIST_V(o, m, v, max, elem, next, desc_) \
  VMSTATE_LIST_V_(VMSTATE_KIND_QLIST, o, m, v, max, elem, next, desc_)

/*
 * QEMU's VMSTATE_GTREE_DIRECT_KEY_V, over an array instead of a GTree: member
 * m is an array of entries (entry m[N]) sorted by key, each entry's first
 * member is `uint64_t key` (both checked at compile time), and the uint32_t
 * member num counts the entries.
 * On the wire: be32 count, then per entry 0x01, be64 key and the fields of
 * desc_ (which describes the rest of the entry), then 0x00.  Entries load at
 * version v, which must be in desc_'s range; keys must increase; at most N.
 */
#define VMSTATE_GTREE_DIRECT_KEY_V(o, m, v, num, entry, desc_) \
  { .name = #m, .kind = VMSTATE_KIND_GTREE, .offset = VMSTATE_OFFSET_(o, m[0], entry), \
    .size_bytes = sizeof(entry), \
    .count = (uint32_t)(sizeof(((o *)0)->m) / sizeof(entry)) + \
             0 * (uint32_t)sizeof(char[offsetof(entry, key) == 0 ? 1 : -1]) + \
             (uint32_t)_Generic(((entry *)0)->key, uint64_t: 0), \
    .version_id = (v), .nested = &(desc_), .num_offset = VMSTATE_OFFSET_(o, num, uint32_t) }

/*
 * QEMU's VMSTATE_GTREE_V (a key with its own description), over an array as
 * above: each entry's first member is `key_ctype key`, described by key_desc_;
 * desc_ describes the rest of the entry; the uint32_t member num counts the
 * entries, at most N (the array's length).  Entries are sorted by compare_,
 * the GTree's compare function (QEMU saves in that order): compare_(a, b) < 0
 * when key a sorts first, 0 when a and b are the same key.
 * On the wire: be32 count, then per entry 0x01, key_desc_'s fields and
 * desc_'s fields (no other marker), then 0x00.  Key and value load at version
 * v, which must be in both descriptions' ranges; keys must strictly increase
 * under compare_ (a 0 is a duplicate key).  The loader zeroes each entry
 * before its node loads, as QEMU allocates each key and value zeroed.
 */
#define VMSTATE_GTREE_V(o, m, v, num, entry, key_ctype, key_desc_, desc_, compare_) \
  { .name = #m, .kind = VMSTATE_KIND_GTREE, .offset = VMSTATE_OFFSET_(o, m[0], entry), \
    .size_bytes = sizeof(entry), \
    .count = (uint32_t)(sizeof(((o *)0)->m) / sizeof(entry)) + \
             0 * (uint32_t)sizeof(char[offsetof(entry, key) == 0 ? 1 : -1]) + \
             (uint32_t)_Generic(((entry *)0)->key, key_ctype: 0), \
    .version_id = (v), .nested = &(desc_), .num_offset = VMSTATE_OFFSET_(o, num, uint32_t), \
    .key_nested = &(key_desc_), .key_compare = (compare_) }

/*
 * QEMU's VMSTATE_VALIDATE: no bytes; test(opaque, version) runs where the
 * entry stands, and false fails the load ("input validation failed").
 */
#define VMSTATE_VALIDATE(name_, test_) \
  { .name = (name_), .kind = VMSTATE_KIND_VALIDATE, .count = 0, .field_exists = (test_) }

/*
 * QEMU's float64 is a uint64_t holding IEEE 754 bits; here the member is a C
 * double (binary64 on every host we build for) and only its bits travel:
 * be64 of them, NaN payloads and -0.0 included.  No arithmetic is done on it.
 * QEMU dropped VMSTATE_FLOAT64 and its "float64" VMStateInfo in 2020 (before
 * 7.2); a 7.2 device keeps such registers as uint64_t, so the JSON type is
 * "uint64", what 7.2 writes for the same bytes.
 */
_Static_assert(sizeof(double) == sizeof(uint64_t), "double must be IEEE 754 binary64");
#define VMSTATE_FLOAT64_V(o, m, v) VMSTATE_SCALAR_(o, m, VMSTATE_KIND_FLOAT64, double, v, 0)
#define VMSTATE_FLOAT64(o, m) VMSTATE_FLOAT64_V(o, m, 0)
#define VMSTATE_FLOAT64_ARRAY_V(o, m, n, v) VMSTATE_ARRAY_(o, m, n, VMSTATE_KIND_FLOAT64, double, v)
#define VMSTATE_FLOAT64_ARRAY(o, m, n) VMSTATE_FLOAT64_ARRAY_V(o, m, n, 0)

/*
 * QEMU's CPU_DoubleU: a double seen as a uint64_t.  On the wire the upper
 * 32 bits go first, then the lower, both big-endian: that is be64 of ll.
 */
union vmstate_cpu_double {
  double d;
  uint64_t ll;
};
#define VMSTATE_CPUDOUBLE_ARRAY_V(o, m, n, v) \
  VMSTATE_ARRAY_(o, m, n, VMSTATE_KIND_CPUDOUBLE, union vmstate_cpu_double, v)
#define VMSTATE_CPUDOUBLE_ARRAY(o, m, n) VMSTATE_CPUDOUBLE_ARRAY_V(o, m, n, 0)

/*
 * QEMU's VMSTATE_BITMAP over a uint64_t *m (QEMU's unsigned long on a 64-bit
 * host): the int32_t member num counts bits, at most max_bits; on the wire
 * each of the (num + 63) / 64 words is be64, whole (bits past num included).
 * One JSON entry of type "bitmap" whose size is the bytes written.  The
 * object's pointer must reach max_bits; a negative or larger num is refused.
 */
#define VMSTATE_BITMAP(o, m, v, num, max_bits) \
  { .name = #m, .kind = VMSTATE_KIND_BITMAP, .offset = VMSTATE_OFFSET_(o, m, uint64_t *), \
    .size_bytes = 1, .count = (max_bits), .version_id = (v), \
    .flags = VMSTATE_FLAG_POINTER | VMSTATE_FLAG_VARRAY_INT32, \
    .num_offset = VMSTATE_OFFSET_(o, num, int32_t) }

/*
 * QEMU's VMSTATE_VBUFFER_MULTIPLY: uint8_t *m holds num * mult bytes (num a
 * uint32_t member), at most max; one JSON entry of type "buffer".
 */
#define VMSTATE_VBUFFER_MULTIPLY(o, m, v, test_, num, mult, max) \
  { .name = #m, .kind = VMSTATE_KIND_BUFFER, .offset = VMSTATE_OFFSET_(o, m, uint8_t *), \
    .size_bytes = 1, .count = (max), .version_id = (v), .field_exists = (test_), \
    .flags = VMSTATE_FLAG_POINTER | VMSTATE_FLAG_VARRAY_UINT32 | VMSTATE_FLAG_MULTIPLY, \
    .num_offset = VMSTATE_OFFSET_(o, num, uint32_t), .multiply = (mult) }
/*
 * QEMU's VMSTATE_VARRAY_MULTIPLY: the array member ctype m[N] holds
 * num * mult elements (num a uint32_t member), at most N.
 */
#define VMSTATE_VARRAY_MULTIPLY(o, m, num, mult, kind_, ctype) \
  { .name = #m, .kind = (kind_), .offset = VMSTATE_OFFSET_(o, m[0], ctype), \
    .size_bytes = sizeof(ctype), .count = (uint32_t)(sizeof(((o *)0)->m) / sizeof(ctype)), \
    .flags = VMSTATE_FLAG_VARRAY_UINT32 | VMSTATE_FLAG_MULTIPLY, \
    .num_offset = VMSTATE_OFFSET_(o, num, uint32_t), .multiply = (mult) }

/*
 * QEMU's VMSTATE_VSTRUCT_TEST / _V / VSTRUCT: a ctype member described by
 * desc_, saved and loaded at version sv (in desc_'s range) instead of desc_'s
 * current one: only desc_'s fields present at sv travel.  The JSON entry is
 * typed "vstruct" and holds desc_'s vmsd_name, version sv and fields itself
 * (QEMU 7.2 nests a "struct" object for VMS_STRUCT only).  The field itself
 * is present per test_ or version v.
 */
#define VMSTATE_VSTRUCT_TEST(o, m, test_, v, desc_, ctype, sv) \
  { .name = #m, .kind = VMSTATE_KIND_STRUCT, .offset = VMSTATE_OFFSET_(o, m, ctype), \
    .size_bytes = sizeof(ctype), .count = 1, .version_id = (v), .field_exists = (test_), \
    .flags = VMSTATE_FLAG_VSTRUCT, .nested = &(desc_), .struct_version_id = (sv) }
#define VMSTATE_VSTRUCT_V(o, m, v, desc_, ctype, sv) \
  VMSTATE_VSTRUCT_TEST(o, m, NULL, v, desc_, ctype, sv)
#define VMSTATE_VSTRUCT(o, m, desc_, ctype, sv) VMSTATE_VSTRUCT_TEST(o, m, NULL, 0, desc_, ctype, sv)

#endif /* VMSTATE_DESC_H */
