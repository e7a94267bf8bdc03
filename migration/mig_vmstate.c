/*
 * mig_vmstate.c: the interpreter of vmstate descriptions (contract in
 * mig_vmstate.h, tables in models/vmstate_desc.h, wire facts in
 * spec/stream-format.md §5, JSON schema in §10.2, loader rules in §11.3).
 *
 * Three walks share one shape: fields in declaration order, each present iff
 * its field_exists test (or field.version_id <= version) says so, then the
 * subsections.  Save writes big-endian bytes and, on request, QEMU's JSON
 * description; load reads them back with QEMU's version rules and hook order;
 * visit hands each field's canonical bytes to a callback with its path.
 *
 * The descriptions are our own code, so their shape is asserted (field widths,
 * subsection name prefixes, depth when saving).  Stream bytes are never
 * asserted on: the loader latches typed errors in the reader, annotated with
 * the innermost "desc/field" path, and never writes outside a described field
 * or allocates anything.  Recursion follows the descriptions, not the stream,
 * and is bounded by MIG_VMSTATE_DEPTH_MAX.
 */
#include "sim_base.h"

#include "mig_json_inl.h"
#include "mig_limits.h"
#include "mig_record.h"
#include "mig_vmstate.h"

#define MIG_NULLPTR_MARKER 0x30 /* a NULL element of an array of pointers (spec §5.4) */

_Static_assert(sizeof(bool) == 1, "a bool field is one byte in memory and on the wire");
_Static_assert(MIG_IDSTR_BYTES_MAX == 255, "subsection names fit a counted string");
_Static_assert(MIG_VMSTATE_SUBSECTIONS_MAX <= 64, "the loader's seen-mask is 64 bits");
_Static_assert(MIG_VMSTATE_TMP_BYTES_MAX >= sizeof(void *), "a temporary holds its parent");

/* ------------------------------------------------------------ descriptions */

static uint32_t kind_width(enum vmstate_kind kind)
{
  switch (kind) {
  case VMSTATE_KIND_BOOL:
  case VMSTATE_KIND_INT8:
  case VMSTATE_KIND_UINT8: return 1;
  case VMSTATE_KIND_INT16:
  case VMSTATE_KIND_UINT16: return 2;
  case VMSTATE_KIND_INT32:
  case VMSTATE_KIND_UINT32: return 4;
  case VMSTATE_KIND_INT64:
  case VMSTATE_KIND_UINT64:
  case VMSTATE_KIND_TIMER:
  case VMSTATE_KIND_FLOAT64:
  case VMSTATE_KIND_CPUDOUBLE: return 8;
  case VMSTATE_KIND_BUFFER:
  case VMSTATE_KIND_BITMAP:
  case VMSTATE_KIND_UNUSED:
  case VMSTATE_KIND_STRUCT:
  case VMSTATE_KIND_TMP:
  case VMSTATE_KIND_VALIDATE:
  case VMSTATE_KIND_QTAILQ:
  case VMSTATE_KIND_QLIST:
  case VMSTATE_KIND_GTREE: return 0;
  }
  return 0;
}

static bool field_is_list(const struct vmstate_field *field)
{
  return field->kind == VMSTATE_KIND_QTAILQ || field->kind == VMSTATE_KIND_QLIST;
}

static bool field_is_varray(const struct vmstate_field *field)
{
  return (field->flags & VMSTATE_FLAG_VARRAY_ANY) != 0;
}

static bool field_has_nested(const struct vmstate_field *field)
{
  return field->kind == VMSTATE_KIND_STRUCT || field->kind == VMSTATE_KIND_TMP ||
         field->kind == VMSTATE_KIND_GTREE || field_is_list(field);
}

static bool kind_is_integer(enum vmstate_kind kind)
{
  return kind != VMSTATE_KIND_BOOL && kind != VMSTATE_KIND_FLOAT64 &&
         kind != VMSTATE_KIND_CPUDOUBLE && kind_width(kind) != 0;
}

/* A description bug, not a stream problem: these are asserted. */
static void field_check(const struct vmstate_field *field)
{
  SIM_ASSERT(field->name != NULL);
  SIM_ASSERT((uint64_t)field->size_bytes * field->count <= MIG_VMSTATE_FIELD_BYTES_MAX);
  SIM_ASSERT(kind_width(field->kind) == 0 || kind_width(field->kind) == field->size_bytes);
  SIM_ASSERT(field_has_nested(field) == (field->nested != NULL));
  SIM_ASSERT((field->flags & VMSTATE_FLAG_EQUAL) == 0 || kind_is_integer(field->kind));
  uint32_t varray = field->flags & VMSTATE_FLAG_VARRAY_ANY;
  SIM_ASSERT((varray & (varray - 1)) == 0); /* at most one count type */
  SIM_ASSERT((field->flags & VMSTATE_FLAG_ALLOC) == 0 ||
             (varray != 0 && (field->flags & VMSTATE_FLAG_POINTER) != 0));
  SIM_ASSERT((field->flags & VMSTATE_FLAG_POINTER) == 0 ||
             (field->flags & VMSTATE_FLAG_ARRAY_OF_POINTER) == 0);
  SIM_ASSERT((field->flags & VMSTATE_FLAG_LE) == 0 || field->kind == VMSTATE_KIND_INT32);
  SIM_ASSERT(field->kind != VMSTATE_KIND_TMP ||
             (field->num_offset == 0 && field->size_bytes <= MIG_VMSTATE_TMP_BYTES_MAX &&
              field->size_bytes >= sizeof(void *)));
  SIM_ASSERT(field->kind != VMSTATE_KIND_VALIDATE ||
             (field->field_exists != NULL && field->count == 0));
  SIM_ASSERT(!field_is_list(field) ||
             (field->count >= 1 && field->num_offset + sizeof(void *) <= field->size_bytes));
  SIM_ASSERT((field->flags & VMSTATE_FLAG_MULTIPLY) == 0
                 ? field->multiply == 0
                 : (varray != 0 && field->multiply >= 1 &&
                    field->multiply <= MIG_VMSTATE_FIELD_BYTES_MAX &&
                    field->kind != VMSTATE_KIND_BITMAP));
  SIM_ASSERT((field->flags & VMSTATE_FLAG_VSTRUCT) == 0
                 ? field->struct_version_id == 0
                 : (field->kind == VMSTATE_KIND_STRUCT &&
                    field->struct_version_id >= field->nested->minimum_version_id &&
                    field->struct_version_id <= field->nested->version_id));
  SIM_ASSERT(field->kind != VMSTATE_KIND_BITMAP ||
             (field->flags == (VMSTATE_FLAG_POINTER | VMSTATE_FLAG_VARRAY_INT32) &&
              field->size_bytes == 1));
  SIM_ASSERT(field->kind != VMSTATE_KIND_GTREE ||
             (field->count >= 1 &&
              (field->key_nested != NULL || field->size_bytes >= sizeof(uint64_t))));
  SIM_ASSERT((field->key_nested == NULL) == (field->key_compare == NULL));
  SIM_ASSERT(field->key_nested == NULL || field->kind == VMSTATE_KIND_GTREE);
}

static void subsection_check(const struct vmstate_desc *parent, const struct vmstate_desc *sub)
{
  size_t prefix_bytes = strlen(parent->name);
  SIM_ASSERT(sub != NULL && sub->name != NULL);
  SIM_ASSERT(strncmp(sub->name, parent->name, prefix_bytes) == 0);
  SIM_ASSERT(sub->name[prefix_bytes] == '/' && strlen(sub->name) <= MIG_IDSTR_BYTES_MAX);
  SIM_ASSERT(sub->version_id >= 0 && sub->version_id <= MIG_SUBSECTION_VERSION_MAX);
}

/* The version a STRUCT element is saved and loaded at: its own, or a VSTRUCT's. */
static int32_t field_struct_version(const struct vmstate_field *field)
{
  if ((field->flags & VMSTATE_FLAG_VSTRUCT) != 0) return field->struct_version_id;
  return field->nested->version_id;
}

static bool field_present(const struct vmstate_field *field, void *opaque, int32_t version_id)
{
  if (field->field_exists != NULL) return field->field_exists(opaque, version_id);
  return field->version_id <= version_id;
}

/* Fields that may hold several elements name each one "[i]"; a VBUFFER is one. */
static bool field_indexed(const struct vmstate_field *field)
{
  if (field->kind == VMSTATE_KIND_BUFFER || field->kind == VMSTATE_KIND_BITMAP) return false;
  return field->count > 1 || field_is_varray(field) || field_is_list(field) ||
         field->kind == VMSTATE_KIND_GTREE;
}

/* "<path>/<field>", plus "[i]" for an element of a field with several. */
static void field_path(char *out, const char *path, const struct vmstate_field *field,
                       uint32_t index)
{
  if (field_indexed(field)) {
    snprintf(out, MIG_PATH_BYTES_MAX, "%s/%s[%" PRIu32 "]", path, field->name, index);
  } else {
    snprintf(out, MIG_PATH_BYTES_MAX, "%s/%s", path, field->name);
  }
}

/* A subsection's path: the parent's path plus the part of its name after the parent's. */
static void subsection_path(char *out, const char *path, const struct vmstate_desc *parent,
                            const char *sub_name)
{
  snprintf(out, MIG_PATH_BYTES_MAX, "%s%s", path, sub_name + strlen(parent->name));
}

/* --------------------------------------------------------------- elements */

static uint64_t element_get(const uint8_t *element, uint32_t width)
{
  uint8_t u8;
  uint16_t u16;
  uint32_t u32;
  uint64_t u64;
  switch (width) {
  case 1: memcpy(&u8, element, 1); return u8;
  case 2: memcpy(&u16, element, 2); return u16;
  case 4: memcpy(&u32, element, 4); return u32;
  default: SIM_ASSERT(width == 8); memcpy(&u64, element, 8); return u64;
  }
}

/* Signed kinds share the unsigned representation of their width (two's complement). */
static void element_set(uint8_t *element, uint32_t width, uint64_t value)
{
  uint8_t u8 = (uint8_t)value;
  uint16_t u16 = (uint16_t)value;
  uint32_t u32 = (uint32_t)value;
  switch (width) {
  case 1: memcpy(element, &u8, 1); break;
  case 2: memcpy(element, &u16, 2); break;
  case 4: memcpy(element, &u32, 4); break;
  default: SIM_ASSERT(width == 8); memcpy(element, &value, 8); break;
  }
}

/* The wire bytes of one bool or integer element; returns their count. */
static uint32_t element_encode(const struct vmstate_field *field, const uint8_t *element,
                               uint8_t out[8])
{
  uint32_t width = kind_width(field->kind);
  SIM_ASSERT(width >= 1 && width <= 8);
  uint64_t value = element_get(element, width);
  if (field->kind == VMSTATE_KIND_BOOL) value = value != 0;
  for (uint32_t i = 0; i < width; i++) out[i] = (uint8_t)(value >> (8 * (width - 1 - i)));
  return width;
}

/* ----------------------------------------------------------------- layout */

/* Where a field's elements are for one object, and how many there are this time. */
struct field_layout {
  uint8_t *base;           /* element 0 (the pointer array for ARRAY_OF_POINTER); or NULL */
  uint32_t count;          /* elements now: count, or the VARRAY member's value */
  uint32_t element_bytes;  /* one element in memory (and on the wire, but for structs) */
  int64_t varray_count;    /* the VARRAY member's value as read, for messages */
};

enum layout_problem {
  LAYOUT_OK,
  LAYOUT_NEGATIVE,         /* an int32 VARRAY count below zero */
  LAYOUT_OVER_MAX,         /* a VARRAY count above the field's bound */
};

static int64_t varray_count_get(const struct vmstate_field *field, const void *opaque)
{
  const uint8_t *member = (const uint8_t *)opaque + field->num_offset;
  int32_t i32;
  uint32_t u32;
  uint16_t u16;
  uint8_t u8;
  switch (field->flags & VMSTATE_FLAG_VARRAY_ANY) {
  case VMSTATE_FLAG_VARRAY_INT32: memcpy(&i32, member, 4); return i32;
  case VMSTATE_FLAG_VARRAY_UINT32: memcpy(&u32, member, 4); return u32;
  case VMSTATE_FLAG_VARRAY_UINT16: memcpy(&u16, member, 2); return u16;
  default:
    SIM_ASSERT((field->flags & VMSTATE_FLAG_VARRAY_ANY) == VMSTATE_FLAG_VARRAY_UINT8);
    memcpy(&u8, member, 1);
    return u8;
  }
}

/*
 * Resolves count, element size and base for the object.  A VARRAY count comes
 * from a member that may have been loaded from the stream a moment ago, so it
 * is checked against the field's bound here, before any loop or allocation.
 */
static enum layout_problem field_layout_get(const struct vmstate_field *field, void *opaque,
                                            struct field_layout *layout)
{
  *layout = (struct field_layout){.count = field->count, .element_bytes = field->size_bytes};
  if (field->kind == VMSTATE_KIND_UNUSED || field->kind == VMSTATE_KIND_VALIDATE) {
    return LAYOUT_OK;
  }
  if (field->kind == VMSTATE_KIND_TMP) {
    layout->base = opaque;
    return LAYOUT_OK;
  }
  if (field_is_varray(field)) {
    int64_t count = varray_count_get(field, opaque);
    /* |count| < 2^32 and multiply <= 2^24: the product fits an int64. */
    if ((field->flags & VMSTATE_FLAG_MULTIPLY) != 0) count *= field->multiply;
    layout->varray_count = count;
    if (count < 0) return LAYOUT_NEGATIVE;
    if (count > field->count) return LAYOUT_OVER_MAX;
    if (field->kind == VMSTATE_KIND_BUFFER) {
      layout->count = 1;
      layout->element_bytes = (uint32_t)count;
    } else if (field->kind == VMSTATE_KIND_BITMAP) {
      layout->count = 1;                                   /* whole words of bits */
      layout->element_bytes = (uint32_t)((count + 63) / 64) * (uint32_t)sizeof(uint64_t);
    } else {
      layout->count = (uint32_t)count;
    }
  }
  uint8_t *member = (uint8_t *)opaque + field->offset;
  if ((field->flags & VMSTATE_FLAG_POINTER) != 0) {
    memcpy(&layout->base, member, sizeof layout->base);
  } else {
    layout->base = member;
  }
  return LAYOUT_OK;
}

/* True when a pointer field has elements to move but nowhere to keep them. */
static bool layout_missing_storage(const struct vmstate_field *field,
                                   const struct field_layout *layout)
{
  return (field->flags & VMSTATE_FLAG_POINTER) != 0 && layout->base == NULL &&
         layout->count > 0 && layout->element_bytes > 0;
}

/* Element i; NULL for an UNUSED field and for a NULL element of an array of pointers. */
static uint8_t *layout_element(const struct vmstate_field *field,
                               const struct field_layout *layout, uint32_t index)
{
  SIM_ASSERT(index < layout->count);
  if (layout->base == NULL) return NULL;
  if ((field->flags & VMSTATE_FLAG_ARRAY_OF_POINTER) != 0) {
    uint8_t *element = NULL;
    memcpy(&element, layout->base + (size_t)index * sizeof element, sizeof element);
    return element;
  }
  if (field->kind == VMSTATE_KIND_TMP) return layout->base;
  return layout->base + (size_t)index * layout->element_bytes;
}

/*
 * A zeroed temporary for VMSTATE_WITH_TMP whose first member points at the
 * parent object (QEMU's get_tmp/put_tmp).  It lives on the caller's stack.
 */
union tmp_storage {
  max_align_t align;                       /* any member type fits */
  uint8_t bytes[MIG_VMSTATE_TMP_BYTES_MAX];
};

static void tmp_prepare(union tmp_storage *tmp, const struct vmstate_field *field, void *parent)
{
  SIM_ASSERT(field->kind == VMSTATE_KIND_TMP);
  SIM_ASSERT(field->size_bytes <= sizeof tmp->bytes);
  memset(tmp, 0, sizeof *tmp);
  memcpy(tmp->bytes, &parent, sizeof parent);
}

/* ----------------------------------------------------------------- lists */

#define MIG_LIST_MORE 0x01 /* an element follows (spec §5.3 qtailq/qlist) */
#define MIG_LIST_END 0x00  /* the list ends */

/*
 * A slot is where a list pointer is stored: the head member, or an element's
 * next member.  Slots hold `elem *`, so they are read and written with memcpy
 * (not through a uint8_t ** lvalue, which strict aliasing forbids).
 */
static uint8_t *slot_get(const uint8_t *slot)
{
  uint8_t *value = NULL;
  memcpy(&value, slot, sizeof value);
  return value;
}

static void slot_set(uint8_t *slot, uint8_t *value)
{
  memcpy(slot, &value, sizeof value);
}

static uint8_t *list_head(const struct vmstate_field *field, void *opaque)
{
  return slot_get((const uint8_t *)opaque + field->offset);
}

static uint8_t *list_next(const struct vmstate_field *field, const uint8_t *element)
{
  return slot_get(element + field->num_offset);
}

/* ----------------------------------------------------------------- gtree */

#define MIG_GTREE_NODE 0x01 /* a node follows (spec §5.3 gtree) */
#define MIG_GTREE_END 0x00  /* no more nodes */

static uint32_t gtree_count_get(const struct vmstate_field *field, const void *opaque)
{
  uint32_t count = 0;
  memcpy(&count, (const uint8_t *)opaque + field->num_offset, sizeof count);
  return count;
}

static uint64_t gtree_key_get(const uint8_t *entry)
{
  uint64_t key = 0;
  memcpy(&key, entry, sizeof key); /* the entry's first member (checked by the macro) */
  return key;
}

/* The GTree's order of two entries' keys: <0, 0 (the same key) or >0, as GCompareFunc. */
static int gtree_key_compare(const struct vmstate_field *field, const uint8_t *entry_a,
                             const uint8_t *entry_b)
{
  if (field->key_compare != NULL) return field->key_compare(entry_a, entry_b);
  uint64_t key_a = gtree_key_get(entry_a);
  uint64_t key_b = gtree_key_get(entry_b);
  return (key_a > key_b) - (key_a < key_b);
}

/* ----------------------------------------------------------------- JSON */



/*
 * The "type" QEMU 7.2 writes: its VMStateInfo .name (migration/vmstate-types.c;
 * "timer" is in savevm.c), or "struct" / "vstruct" (vmstate.c
 * vmfield_get_type_name).  Its uint64 "equal" info is named "int64 equal".
 * 7.2 has no int8, int16 or int64 equal info: those three names are ours.
 */
static const char *field_type_name(const struct vmstate_field *field)
{
  bool equal = (field->flags & VMSTATE_FLAG_EQUAL) != 0;
  switch (field->kind) {
  case VMSTATE_KIND_BOOL: return "bool";
  case VMSTATE_KIND_INT8: return equal ? "int8 equal" : "int8";
  case VMSTATE_KIND_INT16: return equal ? "int16 equal" : "int16";
  case VMSTATE_KIND_INT32:
    if ((field->flags & VMSTATE_FLAG_LE) != 0) return "int32 le";
    return equal ? "int32 equal" : "int32";
  case VMSTATE_KIND_INT64: return equal ? "int64 equal" : "int64";
  case VMSTATE_KIND_UINT8: return equal ? "uint8 equal" : "uint8";
  case VMSTATE_KIND_UINT16: return equal ? "uint16 equal" : "uint16";
  case VMSTATE_KIND_UINT32: return equal ? "uint32 equal" : "uint32";
  case VMSTATE_KIND_UINT64: return equal ? "int64 equal" : "uint64";
  case VMSTATE_KIND_BUFFER: return "buffer";
  case VMSTATE_KIND_UNUSED: return "unused_buffer";
  case VMSTATE_KIND_STRUCT:
    return (field->flags & VMSTATE_FLAG_VSTRUCT) != 0 ? "vstruct" : "struct";
  case VMSTATE_KIND_TMP: return "tmp";
  case VMSTATE_KIND_TIMER: return "timer";
  case VMSTATE_KIND_QTAILQ: return "qtailq";
  case VMSTATE_KIND_QLIST: return "qlist";
  case VMSTATE_KIND_GTREE: return "gtree";
  case VMSTATE_KIND_VALIDATE: return "validate"; /* never written: it has no elements */
  case VMSTATE_KIND_BITMAP: return "bitmap";
  case VMSTATE_KIND_FLOAT64: return "uint64"; /* 7.2 has no "float64" info (vmstate_desc.h) */
  case VMSTATE_KIND_CPUDOUBLE: return "CPU_Double_U";
  }
  return "unknown";
}

/* A name used more than once in one description gets "[k]", k its occurrence. */
static void field_json_name(const struct vmstate_desc *desc, const struct vmstate_field *field,
                            char *out, size_t out_bytes)
{
  uint32_t occurrences = 0;
  uint32_t before = 0;
  for (uint32_t i = 0; i < desc->field_count; i++) {
    if (strcmp(desc->fields[i].name, field->name) != 0) continue;
    if (&desc->fields[i] < field) before++;
    occurrences++;
  }
  SIM_ASSERT(occurrences >= 1 && before < occurrences);
  if (occurrences == 1) {
    snprintf(out, out_bytes, "%s", field->name);
  } else {
    snprintf(out, out_bytes, "%s[%" PRIu32 "]", field->name, before);
  }
}

/*
 * QEMU describes an array by its first element plus "array_len" unless the
 * elements may differ in shape: a field_exists test, or a struct with
 * subsections anywhere inside.  Those get one entry per element with "index".
 */
static bool field_compressible(const struct vmstate_field *field, uint32_t depth)
{
  SIM_ASSERT(depth < MIG_VMSTATE_DEPTH_MAX);
  if (field->field_exists != NULL) return false;
  if (field->kind != VMSTATE_KIND_STRUCT) return true;
  if ((field->flags & VMSTATE_FLAG_VSTRUCT) != 0) return true; /* QEMU recurses for STRUCT only */
  const struct vmstate_desc *nested = field->nested;
  SIM_ASSERT(nested != NULL);
  if (nested->subsection_count > 0) return false;
  for (uint32_t i = 0; i < nested->field_count; i++) {
    if (!field_compressible(&nested->fields[i], depth + 1)) return false;
  }
  return true;
}

/* Appends {"name", ["array_len"|"index"], "type", ["struct"]}; "size" is set later. */
static json_t *field_json_start(json_t *fields_json, const struct vmstate_desc *desc,
                                const struct vmstate_field *field, uint32_t index,
                                uint32_t elements_count, bool compress, json_t **struct_json)
{
  char name[MIG_IDSTR_BYTES_MAX + 16];
  field_json_name(desc, field, name, sizeof name);
  json_t *entry = json_object();
  SIM_ASSERT(entry != NULL);
  mig__json_set(entry, "name", json_string(name));
  if (elements_count > 1 && compress) mig__json_set(entry, "array_len", json_integer(elements_count));
  if (elements_count > 1 && !compress) mig__json_set(entry, "index", json_integer(index));
  mig__json_set(entry, "type", json_string(field_type_name(field)));
  *struct_json = NULL;
  bool vstruct = (field->flags & VMSTATE_FLAG_VSTRUCT) != 0;
  if (field->kind == VMSTATE_KIND_STRUCT && !vstruct) {
    *struct_json = json_object();
    mig__json_set(entry, "struct", *struct_json);
  }
  /*
   * A temporary's or a VSTRUCT's vmsd_name, version and fields sit in the
   * field entry itself: QEMU opens a "struct" object for VMS_STRUCT only.
   */
  if (field->kind == VMSTATE_KIND_TMP || vstruct) *struct_json = entry;
  mig__json_append(fields_json, entry);
  return entry;
}

/* ----------------------------------------------------------------- save */

static enum mig_err save_desc_v(struct mig_writer *writer, const struct vmstate_desc *desc,
                                void *opaque, json_t *json, uint32_t depth, int32_t version_id);

static enum mig_err save_desc(struct mig_writer *writer, const struct vmstate_desc *desc,
                              void *opaque, json_t *json, uint32_t depth)
{
  return save_desc_v(writer, desc, opaque, json, depth, desc->version_id);
}

static void save_zeros(struct mig_writer *writer, uint32_t count)
{
  static const uint8_t zeros[256];
  while (count > 0) {
    uint32_t chunk = SIM_MIN(count, (uint32_t)sizeof zeros);
    mig_writer_bytes(writer, zeros, chunk);
    count -= chunk;
  }
}

/* A temporary's walk: zeroed, parent set, then its own description (pre_save fills it). */
static enum mig_err save_tmp(struct mig_writer *writer, const struct vmstate_field *field,
                             void *parent, json_t *json, uint32_t depth)
{
  union tmp_storage tmp;
  tmp_prepare(&tmp, field, parent);
  return save_desc(writer, field->nested, tmp.bytes, json, depth + 1);
}

/* Bitmap words (host uint64_t) as be64, in order. */
static void save_bitmap(struct mig_writer *writer, const uint8_t *words, uint32_t bytes)
{
  for (uint32_t at = 0; at < bytes; at += 8) {
    uint8_t out[8];
    uint64_t word = element_get(words + at, 8);
    for (uint32_t i = 0; i < 8; i++) out[i] = (uint8_t)(word >> (8 * (7 - i)));
    mig_writer_bytes(writer, out, sizeof out);
  }
}

static enum mig_err save_element(struct mig_writer *writer, const struct vmstate_field *field,
                                 const struct field_layout *layout, uint8_t *element,
                                 json_t *struct_json, uint32_t depth)
{
  uint8_t bytes[8];
  if (element == NULL && (field->flags & VMSTATE_FLAG_ARRAY_OF_POINTER) != 0) {
    mig_writer_u8(writer, MIG_NULLPTR_MARKER);
    return MIG_OK;
  }
  switch (field->kind) {
  case VMSTATE_KIND_STRUCT:
    return save_desc_v(writer, field->nested, element, struct_json, depth + 1,
                       field_struct_version(field));
  case VMSTATE_KIND_TMP: return save_tmp(writer, field, element, struct_json, depth);
  case VMSTATE_KIND_BUFFER: mig_writer_bytes(writer, element, layout->element_bytes); break;
  case VMSTATE_KIND_BITMAP: save_bitmap(writer, element, layout->element_bytes); break;
  case VMSTATE_KIND_UNUSED: save_zeros(writer, field->size_bytes); break;
  case VMSTATE_KIND_VALIDATE: SIM_ASSERT(false); break; /* it has no elements */
  default: mig_writer_bytes(writer, bytes, element_encode(field, element, bytes)); break;
  }
  return MIG_OK;
}

/*
 * A list: 0x01 and the element, per element, then 0x00.  Elements are saved
 * at their description's current version.  The JSON entry carries the first
 * element's description inline (QEMU writes one per element into the same
 * object, which is not valid JSON) and the size of the whole list.
 */
static enum mig_err save_list(struct mig_writer *writer, const struct vmstate_desc *desc,
                              const struct vmstate_field *field, void *opaque,
                              json_t *fields_json, uint32_t depth)
{
  json_t *entry = NULL;
  json_t *element_json = NULL;
  if (fields_json != NULL) {
    entry = field_json_start(fields_json, desc, field, 0, 1, true, &element_json);
    element_json = entry;
  }
  uint64_t start = mig_writer_offset(writer);
  uint32_t count = 0;
  for (uint8_t *element = list_head(field, opaque); element != NULL;
       element = list_next(field, element)) {
    if (++count > field->count) return MIG_ERR_BAD_VALUE; /* longer than the bound */
    mig_writer_u8(writer, MIG_LIST_MORE);
    enum mig_err err = save_desc(writer, field->nested, element, element_json, depth + 1);
    if (err != MIG_OK) return err;
    element_json = NULL;
  }
  mig_writer_u8(writer, MIG_LIST_END);
  if (entry != NULL) {
    mig__json_set(entry, "size", json_integer((json_int_t)(mig_writer_offset(writer) - start)));
  }
  return mig_writer_error(writer);
}

/*
 * A gtree: be32 count, then per entry 0x01, the key (be64, or the key
 * description's fields) and the entry's fields, then 0x00.  Entries must be
 * sorted by the key order and within the bound (our own state: a failure here
 * is a device bug, reported as BAD_VALUE).  JSON as for lists: the first
 * entry's value description inline and the whole size.  QEMU writes the key
 * description, then the value's, into the same object for every node; a JSON
 * reader keeps the last of each duplicate key, which is the value's, so a
 * struct key leaves no trace in the parsed description and none is written.
 */
static enum mig_err save_gtree(struct mig_writer *writer, const struct vmstate_desc *desc,
                               const struct vmstate_field *field, void *opaque,
                               json_t *fields_json, uint32_t depth)
{
  uint32_t count = gtree_count_get(field, opaque);
  if (count > field->count) return MIG_ERR_BAD_VALUE;
  json_t *entry_json = NULL;
  json_t *value_json = NULL;
  if (fields_json != NULL) {
    entry_json = field_json_start(fields_json, desc, field, 0, 1, true, &value_json);
    value_json = entry_json;
  }
  uint64_t start = mig_writer_offset(writer);
  mig_writer_be32(writer, count);
  uint8_t *first = (uint8_t *)opaque + field->offset;
  for (uint32_t i = 0; i < count; i++) {
    uint8_t *entry = first + (size_t)i * field->size_bytes;
    if (i > 0 && gtree_key_compare(field, entry - field->size_bytes, entry) >= 0) {
      return MIG_ERR_BAD_VALUE;
    }
    mig_writer_u8(writer, MIG_GTREE_NODE);
    enum mig_err err = MIG_OK;
    if (field->key_nested == NULL) {
      mig_writer_be64(writer, gtree_key_get(entry));
    } else {
      err = save_desc(writer, field->key_nested, entry, NULL, depth + 1);
    }
    if (err == MIG_OK) err = save_desc(writer, field->nested, entry, value_json, depth + 1);
    if (err != MIG_OK) return err;
    value_json = NULL;
  }
  mig_writer_u8(writer, MIG_GTREE_END);
  if (entry_json != NULL) {
    mig__json_set(entry_json, "size", json_integer((json_int_t)(mig_writer_offset(writer) - start)));
  }
  return mig_writer_error(writer);
}

/*
 * Our own object's state is bad (a VARRAY count over its bound, a NULL
 * pointer with elements): QEMU asserts here; the save fails instead.
 */
static enum mig_err save_layout(const struct vmstate_field *field, void *opaque,
                                struct field_layout *layout)
{
  if (field_layout_get(field, opaque, layout) != LAYOUT_OK) return MIG_ERR_BAD_VALUE;
  if (layout_missing_storage(field, layout)) return MIG_ERR_BAD_VALUE;
  return MIG_OK;
}

static enum mig_err save_field(struct mig_writer *writer, const struct vmstate_desc *desc,
                               const struct vmstate_field *field, void *opaque,
                               json_t *fields_json, uint32_t depth)
{
  field_check(field);
  if (field_is_list(field)) return save_list(writer, desc, field, opaque, fields_json, depth);
  if (field->kind == VMSTATE_KIND_GTREE) {
    return save_gtree(writer, desc, field, opaque, fields_json, depth);
  }
  struct field_layout layout;
  enum mig_err err = save_layout(field, opaque, &layout);
  if (err != MIG_OK) return err;
  bool compress = fields_json != NULL && field_compressible(field, depth);
  for (uint32_t i = 0; i < layout.count; i++) {
    json_t *entry = NULL;
    json_t *struct_json = NULL;
    if (fields_json != NULL && (i == 0 || !compress)) {
      entry = field_json_start(fields_json, desc, field, i, layout.count, compress,
                               &struct_json);
    }
    uint64_t start = mig_writer_offset(writer);
    err = save_element(writer, field, &layout, layout_element(field, &layout, i), struct_json,
                       depth);
    if (err != MIG_OK) return err;
    uint64_t written = mig_writer_offset(writer) - start;
    if (entry != NULL) mig__json_set(entry, "size", json_integer((json_int_t)written));
  }
  return mig_writer_error(writer);
}

/* Spec §5.6: 0x05, counted name, be32 version, then the subsection's own walk. */
static enum mig_err save_subsections(struct mig_writer *writer, const struct vmstate_desc *desc,
                                     void *opaque, json_t *json, uint32_t depth)
{
  SIM_ASSERT(desc->subsection_count <= MIG_VMSTATE_SUBSECTIONS_MAX);
  json_t *subsections_json = NULL;
  for (uint32_t i = 0; i < desc->subsection_count; i++) {
    const struct vmstate_desc *sub = desc->subsections[i];
    subsection_check(desc, sub);
    if (sub->needed != NULL && !sub->needed(opaque)) continue;
    json_t *sub_json = NULL;
    if (json != NULL) {
      if (subsections_json == NULL) {
        subsections_json = json_array();
        mig__json_set(json, "subsections", subsections_json);
      }
      sub_json = json_object();
      mig__json_append(subsections_json, sub_json);
    }
    mig_writer_u8(writer, MIG_SECTION_SUBSECTION);
    mig_writer_counted_string(writer, sub->name);
    mig_writer_be32(writer, (uint32_t)sub->version_id);
    enum mig_err err = save_desc(writer, sub, opaque, sub_json, depth + 1);
    if (err != MIG_OK) return err;
  }
  return MIG_OK;
}

/* Hook order (spec §5.5): pre_save, fields, subsections, post_save (once pre_save passed). */
static enum mig_err save_desc_v(struct mig_writer *writer, const struct vmstate_desc *desc,
                                void *opaque, json_t *json, uint32_t depth, int32_t version_id)
{
  SIM_ASSERT(desc != NULL && desc->name != NULL);
  SIM_ASSERT(version_id >= desc->minimum_version_id && version_id <= desc->version_id);
  SIM_ASSERT(depth < MIG_VMSTATE_DEPTH_MAX);
  SIM_ASSERT(desc->minimum_version_id <= desc->version_id);
  SIM_ASSERT(desc->field_count == 0 || desc->fields != NULL);
  if (desc->pre_save != NULL && desc->pre_save(opaque) != 0) return MIG_ERR_HOOK;
  json_t *fields_json = NULL;
  if (json != NULL) {
    mig__json_set(json, "vmsd_name", json_string(desc->name));
    mig__json_set(json, "version", json_integer(version_id));
    fields_json = json_array();
    mig__json_set(json, "fields", fields_json);
  }
  enum mig_err err = MIG_OK;
  for (uint32_t i = 0; i < desc->field_count && err == MIG_OK; i++) {
    const struct vmstate_field *field = &desc->fields[i];
    if (field->kind == VMSTATE_KIND_VALIDATE) {
      /* QEMU asserts "Output state validation failed"; the save fails instead. */
      if (!field->field_exists(opaque, version_id)) err = MIG_ERR_BAD_VALUE;
      continue;
    }
    if (!field_present(field, opaque, version_id)) continue;
    err = save_field(writer, desc, field, opaque, fields_json, depth);
  }
  if (err == MIG_OK) err = save_subsections(writer, desc, opaque, json, depth);
  int post_rc = desc->post_save != NULL ? desc->post_save(opaque) : 0;
  if (err == MIG_OK && post_rc != 0) err = MIG_ERR_HOOK;
  if (err == MIG_OK) err = mig_writer_error(writer);
  return err;
}

enum mig_err mig_vmstate_save(struct mig_writer *writer, const struct vmstate_desc *desc,
                              void *opaque, json_t **json_out)
{
  SIM_ASSERT(writer != NULL);
  SIM_ASSERT(desc != NULL);
  json_t *json = NULL;
  if (json_out != NULL) {
    *json_out = NULL;
    json = json_object();
    SIM_ASSERT(json != NULL);
  }
  enum mig_err err = mig_writer_error(writer);
  if (err == MIG_OK) err = save_desc(writer, desc, opaque, json, 0);
  if (err != MIG_OK) {
    json_decref(json);
    return err;
  }
  if (json_out != NULL) *json_out = json;
  return MIG_OK;
}

/* ----------------------------------------------------------------- load */

static void load_desc(struct mig_reader *reader, const struct vmstate_desc *desc, void *opaque,
                      int32_t version_id, const char *path, uint32_t depth);

/* Spec §5.2: minimum_version_id <= version <= version_id, else the load fails. */
static bool load_version_ok(struct mig_reader *reader, const struct vmstate_desc *desc,
                            int64_t version_id, uint64_t offset, const char *path)
{
  SIM_ASSERT(desc->minimum_version_id <= desc->version_id);
  if (version_id >= desc->minimum_version_id && version_id <= desc->version_id) return true;
  char detail[80];
  snprintf(detail, sizeof detail, "version %" PRId64 ", accepted %" PRId32 "..%" PRId32,
           version_id, desc->minimum_version_id, desc->version_id);
  MIG_READER_FAIL(reader, MIG_ERR_SECTION_VERSION, offset, detail, "%s", path);
  return false;
}

static bool load_hook_ok(struct mig_reader *reader, int rc, const char *hook, const char *path)
{
  if (rc == 0) return true;
  char detail[80];
  snprintf(detail, sizeof detail, "%s returned %d", hook, rc);
  MIG_READER_FAIL(reader, MIG_ERR_HOOK, mig_reader_offset(reader), detail, "%s", path);
  return false;
}

/* Latches BAD_VALUE or EQUAL_MISMATCH when value breaks an EQUAL or LE rule. */
static bool load_integer_ok(struct mig_reader *reader, const struct vmstate_field *field,
                            uint64_t value, uint64_t current, uint64_t offset,
                            const char *element_path)
{
  char detail[80];
  if ((field->flags & VMSTATE_FLAG_EQUAL) != 0 && value != current) {
    snprintf(detail, sizeof detail, "read 0x%" PRIx64 " expected 0x%" PRIx64, value, current);
    MIG_READER_FAIL(reader, MIG_ERR_EQUAL_MISMATCH, offset, detail, "%s", element_path);
    return false;
  }
  if ((field->flags & VMSTATE_FLAG_LE) != 0) {
    int32_t received = (int32_t)(uint32_t)value;
    int32_t local = (int32_t)(uint32_t)current;
    if (received < 0 || received > local) {
      snprintf(detail, sizeof detail, "read %" PRId32 ", accepted 0..%" PRId32, received, local);
      MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, offset, detail, "%s", element_path);
      return false;
    }
  }
  return true;
}

/* Reads one integer; EQUAL and LE fields are checked against the value already there. */
static void load_integer(struct mig_reader *reader, const struct vmstate_field *field,
                         uint8_t *element, const char *element_path)
{
  uint32_t width = kind_width(field->kind);
  uint64_t offset = mig_reader_offset(reader);
  uint64_t value = 0;
  switch (width) {
  case 1: value = mig_read_u8(reader); break;
  case 2: value = mig_read_be16(reader); break;
  case 4: value = mig_read_be32(reader); break;
  default: SIM_ASSERT(width == 8); value = mig_read_be64(reader); break;
  }
  if (mig_reader_failed(reader)) return;
  uint64_t current = element_get(element, width);
  if (!load_integer_ok(reader, field, value, current, offset, element_path)) return;
  element_set(element, width, value);
}

/* A NULL element of an array of pointers: the byte must be the nullptr marker 0x30. */
static void load_nullptr(struct mig_reader *reader, const char *element_path)
{
  uint64_t offset = mig_reader_offset(reader);
  uint8_t marker = mig_read_u8(reader);
  if (mig_reader_failed(reader) || marker == MIG_NULLPTR_MARKER) return;
  char detail[64];
  snprintf(detail, sizeof detail, "nullptr marker 0x%02x, expected 0x%02x", marker,
           MIG_NULLPTR_MARKER);
  MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, offset, detail, "%s", element_path);
}

static void load_tmp(struct mig_reader *reader, const struct vmstate_field *field, void *parent,
                     const char *element_path, uint32_t depth)
{
  union tmp_storage tmp;
  tmp_prepare(&tmp, field, parent);
  load_desc(reader, field->nested, tmp.bytes, field->nested->version_id, element_path,
            depth + 1);
}

static void load_element(struct mig_reader *reader, const struct vmstate_field *field,
                         const struct field_layout *layout, uint8_t *element, const char *path,
                         uint32_t index, uint32_t depth)
{
  char element_path[MIG_PATH_BYTES_MAX];
  field_path(element_path, path, field, index);
  bool value = false;
  if (element == NULL && (field->flags & VMSTATE_FLAG_ARRAY_OF_POINTER) != 0) {
    load_nullptr(reader, element_path);
    return;
  }
  switch (field->kind) {
  case VMSTATE_KIND_STRUCT:
    SIM_ASSERT(field->nested->minimum_version_id <= field->nested->version_id);
    load_desc(reader, field->nested, element, field_struct_version(field), element_path,
              depth + 1);
    break;
  case VMSTATE_KIND_TMP: load_tmp(reader, field, element, element_path, depth); break;
  case VMSTATE_KIND_BUFFER: mig_read_bytes(reader, element, layout->element_bytes); break;
  case VMSTATE_KIND_BITMAP:
    for (uint32_t at = 0; at < layout->element_bytes && !mig_reader_failed(reader); at += 8) {
      uint64_t word = mig_read_be64(reader);
      if (!mig_reader_failed(reader)) element_set(element + at, 8, word);
    }
    break;
  case VMSTATE_KIND_UNUSED: mig_read_skip(reader, field->size_bytes); break;
  case VMSTATE_KIND_VALIDATE: SIM_ASSERT(false); break; /* it has no elements */
  case VMSTATE_KIND_BOOL:
    value = mig_read_u8(reader) != 0; /* spec §5.3: any nonzero byte is true */
    if (!mig_reader_failed(reader)) memcpy(element, &value, 1);
    break;
  default: load_integer(reader, field, element, element_path); break;
  }
}

/*
 * Resolves the layout for loading: the VARRAY count (loaded earlier from the
 * stream) must be within the field's bound (spec §11.3 item 16), and an ALLOC
 * field gets storage for exactly that many elements, at most
 * MIG_VMSTATE_FIELD_BYTES_MAX bytes.  False when an error was latched.
 */
static bool load_layout(struct mig_reader *reader, const struct vmstate_field *field,
                        void *opaque, const char *field_path_text, struct field_layout *layout)
{
  uint64_t offset = mig_reader_offset(reader);
  char detail[96];
  enum layout_problem problem = field_layout_get(field, opaque, layout);
  if (problem != LAYOUT_OK) {
    snprintf(detail, sizeof detail, "element count %" PRId64 " %s %" PRIu32,
             layout->varray_count, problem == LAYOUT_NEGATIVE ? "below 0, bound" : "> bound",
             field->count);
    enum mig_err code = problem == LAYOUT_NEGATIVE ? MIG_ERR_BAD_VALUE : MIG_ERR_TOO_LONG;
    MIG_READER_FAIL(reader, code, offset, detail, "%s", field_path_text);
    return false;
  }
  size_t bytes = (size_t)layout->count * layout->element_bytes;
  if ((field->flags & VMSTATE_FLAG_ALLOC) != 0 && bytes > 0) {
    SIM_ASSERT(bytes <= MIG_VMSTATE_FIELD_BYTES_MAX);
    uint8_t *grown = realloc(layout->base, bytes);
    if (grown == NULL) {
      MIG_READER_FAIL(reader, MIG_ERR_NOMEM, offset, "allocation failed", "%s",
                      field_path_text);
      return false;
    }
    memset(grown, 0, bytes);
    layout->base = grown;
    memcpy((uint8_t *)opaque + field->offset, &grown, sizeof grown);
  }
  if (layout_missing_storage(field, layout)) {
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, offset, "destination pointer is NULL", "%s",
                    field_path_text);
    return false;
  }
  return true;
}

/* One list marker: true when an element follows; false at the end or on an error. */
static bool load_list_more(struct mig_reader *reader, const char *element_path)
{
  uint64_t offset = mig_reader_offset(reader);
  uint8_t marker = mig_read_u8(reader);
  if (mig_reader_failed(reader) || marker == MIG_LIST_END) return false;
  if (marker == MIG_LIST_MORE) return true;
  char detail[48];
  snprintf(detail, sizeof detail, "list marker 0x%02x, expected 0 or 1", marker);
  MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, offset, detail, "%s", element_path);
  return false;
}

/*
 * A list or gtree field: its path, and its elements' version (the field's)
 * checked against the element description's range.  False once an error is
 * latched.
 */
static bool load_nested_begin(struct mig_reader *reader, const struct vmstate_field *field,
                              const char *path, char *field_path, size_t field_path_bytes)
{
  snprintf(field_path, field_path_bytes, "%s/%s", path, field->name);
  return load_version_ok(reader, field->nested, field->version_id, mig_reader_offset(reader),
                         field_path);
}

/*
 * A list (spec §5.3, §5.2): elements load at the field's version, which must
 * be in the element description's range; each is calloc()ed and appended
 * (linked before loading, so the object owns it even when the load fails);
 * more than field->count elements are refused before allocating.
 */
static void load_list(struct mig_reader *reader, const struct vmstate_field *field,
                      void *opaque, const char *path, uint32_t depth)
{
  char field_path_text[MIG_PATH_BYTES_MAX];
  if (!load_nested_begin(reader, field, path, field_path_text, sizeof field_path_text)) return;
  uint8_t *slot = (uint8_t *)opaque + field->offset;
  uint32_t count = 0;
  while (slot_get(slot) != NULL && count < field->count) {
    slot = slot_get(slot) + field->num_offset;
    count++;
  }
  for (;;) {
    char element_path[MIG_PATH_BYTES_MAX];
    field_path(element_path, path, field, count);
    uint64_t offset = mig_reader_offset(reader);
    if (!load_list_more(reader, element_path)) break;
    if (slot_get(slot) != NULL || count >= field->count) {
      char detail[64];
      snprintf(detail, sizeof detail, "more than %" PRIu32 " elements", field->count);
      MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, offset, detail, "%s", field_path_text);
      break;
    }
    uint8_t *element = calloc(1, field->size_bytes);
    if (element == NULL) {
      MIG_READER_FAIL(reader, MIG_ERR_NOMEM, offset, "allocation failed", "%s", element_path);
      break;
    }
    slot_set(slot, element);
    slot = element + field->num_offset;
    load_desc(reader, field->nested, element, field->version_id, element_path, depth + 1);
    if (mig_reader_failed(reader)) break;
    count++;
  }
  mig__reader_annotate(reader, "%s", field_path_text);
}

/* One gtree node marker: true when a node follows; false at the end or on an error. */
static bool load_gtree_more(struct mig_reader *reader, const char *element_path)
{
  uint64_t offset = mig_reader_offset(reader);
  uint8_t marker = mig_read_u8(reader);
  if (mig_reader_failed(reader) || marker == MIG_GTREE_END) return false;
  if (marker == MIG_GTREE_NODE) return true;
  char detail[48];
  snprintf(detail, sizeof detail, "node marker 0x%02x, expected 0 or 1", marker);
  MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, offset, detail, "%s", element_path);
  return false;
}

/* Fails with BAD_VALUE at offset; always returns false. */
static bool load_gtree_fail(struct mig_reader *reader, uint64_t offset, const char *detail,
                            const char *path)
{
  MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, offset, detail, "%s", path);
  return false;
}

/* The announced count: within the bound before any node is read (spec §11.3 item 19). */
static bool load_gtree_count(struct mig_reader *reader, const struct vmstate_field *field,
                             const char *field_path_text, uint32_t *count_out)
{
  uint64_t offset = mig_reader_offset(reader);
  *count_out = mig_read_be32(reader);
  if (mig_reader_failed(reader)) return false;
  if (*count_out <= field->count) return true;
  char detail[64];
  snprintf(detail, sizeof detail, "node count %" PRIu32 " > bound %" PRIu32, *count_out,
           field->count);
  MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, offset, detail, "%s", field_path_text);
  return false;
}

/*
 * One node's key into entry (its first member): be64 for a direct key, else
 * the key description's fields at the field's version.  Then the order check:
 * keys strictly increase under the GTree's compare (QEMU's saver walks the
 * tree in that order; its loader would silently replace a repeated key and
 * re-sort the rest, so a stream that needs either is refused).  False once
 * an error is latched.
 */
static bool load_gtree_key(struct mig_reader *reader, const struct vmstate_field *field,
                           uint8_t *entry, uint32_t index, const char *element_path,
                           uint32_t depth)
{
  char key_path[MIG_PATH_BYTES_MAX + 8];
  snprintf(key_path, sizeof key_path, "%s/key", element_path);
  uint64_t key_offset = mig_reader_offset(reader);
  if (field->key_nested == NULL) {
    uint64_t key = mig_read_be64(reader);
    if (mig_reader_failed(reader)) {
      mig__reader_annotate(reader, "%s", key_path);
      return false;
    }
    memcpy(entry, &key, sizeof key);
  } else {
    load_desc(reader, field->key_nested, entry, field->version_id, key_path, depth + 1);
    if (mig_reader_failed(reader)) return false;
  }
  if (index == 0) return true;
  int order = gtree_key_compare(field, entry - field->size_bytes, entry);
  if (order < 0) return true;
  return load_gtree_fail(reader, key_offset,
                         order == 0 ? "duplicate key" : "key below the previous one", key_path);
}

/*
 * A gtree into the entry array: both descriptions' version ranges hold the
 * field's version (key first, as QEMU checks), the node count is bounded
 * first, each node's key is in order (load_gtree_key), and the number of
 * nodes must equal the count (QEMU's "inconsistent stream").  Each entry is
 * zeroed before its node loads, so members no description names read 0, as
 * in QEMU's fresh allocations.  The count member is set only after the whole
 * tree loaded.
 */
static void load_gtree(struct mig_reader *reader, const struct vmstate_field *field,
                       void *opaque, const char *path, uint32_t depth)
{
  char field_path_text[MIG_PATH_BYTES_MAX];
  snprintf(field_path_text, sizeof field_path_text, "%s/%s", path, field->name);
  if (field->key_nested != NULL &&
      !load_version_ok(reader, field->key_nested, field->version_id, mig_reader_offset(reader),
                       field_path_text)) {
    return;
  }
  if (!load_nested_begin(reader, field, path, field_path_text, sizeof field_path_text)) return;
  uint32_t count = 0;
  if (!load_gtree_count(reader, field, field_path_text, &count)) return;
  uint8_t *first = (uint8_t *)opaque + field->offset;
  uint32_t index = 0;
  for (;; index++) {
    char element_path[MIG_PATH_BYTES_MAX];
    field_path(element_path, path, field, index);
    uint64_t offset = mig_reader_offset(reader);
    if (!load_gtree_more(reader, element_path)) break;
    if (index == count) {
      (void)load_gtree_fail(reader, offset, "more nodes than announced", field_path_text);
      return;
    }
    uint8_t *entry = first + (size_t)index * field->size_bytes;
    memset(entry, 0, field->size_bytes); /* QEMU loads each key and value into g_malloc0 */
    if (!load_gtree_key(reader, field, entry, index, element_path, depth)) return;
    load_desc(reader, field->nested, entry, field->version_id, element_path, depth + 1);
    if (mig_reader_failed(reader)) break;
  }
  if (!mig_reader_failed(reader) && index != count) {
    char detail[64];
    snprintf(detail, sizeof detail, "count mismatch: %" PRIu32 " nodes, announced %" PRIu32,
             index, count);
    (void)load_gtree_fail(reader, mig_reader_offset(reader) - 1, detail, field_path_text);
    return;
  }
  if (!mig_reader_failed(reader)) {
    memcpy((uint8_t *)opaque + field->num_offset, &count, sizeof count);
  }
  mig__reader_annotate(reader, "%s", field_path_text);
}

/* QEMU's VMSTATE_VALIDATE: the test runs where the entry stands; false is fatal. */
static void load_validate(struct mig_reader *reader, const struct vmstate_field *field,
                          void *opaque, int32_t version_id, const char *path)
{
  if (field->field_exists(opaque, version_id)) return;
  MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, mig_reader_offset(reader),
                  "input validation failed", "%s/%s", path, field->name);
}

static void load_field(struct mig_reader *reader, const struct vmstate_field *field,
                       void *opaque, const char *path, uint32_t depth)
{
  field_check(field);
  if (field_is_list(field)) {
    load_list(reader, field, opaque, path, depth);
    return;
  }
  if (field->kind == VMSTATE_KIND_GTREE) {
    load_gtree(reader, field, opaque, path, depth);
    return;
  }
  char field_path_text[MIG_PATH_BYTES_MAX];
  snprintf(field_path_text, sizeof field_path_text, "%s/%s", path, field->name);
  struct field_layout layout;
  if (!load_layout(reader, field, opaque, field_path_text, &layout)) return;
  for (uint32_t i = 0; i < layout.count; i++) {
    load_element(reader, field, &layout, layout_element(field, &layout, i), path, i, depth);
    if (mig_reader_failed(reader)) {
      char element_path[MIG_PATH_BYTES_MAX];
      field_path(element_path, path, field, i);
      mig__reader_annotate(reader, "%s", element_path);
      return;
    }
  }
}

/* The local subsection with exactly this name (which may hold NUL bytes), or -1. */
static int64_t subsection_find(const struct vmstate_desc *desc, const char *name,
                               uint8_t name_bytes)
{
  for (uint32_t i = 0; i < desc->subsection_count; i++) {
    const char *local = desc->subsections[i]->name;
    if (strlen(local) == name_bytes && memcmp(local, name, name_bytes) == 0) return i;
  }
  return -1;
}

/* Consumes one subsection whose name was peeked and found local; loads it. */
static void load_subsection(struct mig_reader *reader, const struct vmstate_desc *sub,
                            void *opaque, uint8_t name_bytes, const char *sub_path,
                            uint32_t depth)
{
  mig_read_skip(reader, 2u + name_bytes);
  uint64_t version_offset = mig_reader_offset(reader);
  uint32_t version_id = mig_read_be32(reader);
  if (mig_reader_failed(reader)) {
    mig__reader_annotate(reader, "%s", sub_path);
    return;
  }
  if (version_id > MIG_SUBSECTION_VERSION_MAX) {
    char detail[80];
    snprintf(detail, sizeof detail, "version %" PRIu32 " > %d", version_id,
             MIG_SUBSECTION_VERSION_MAX);
    MIG_READER_FAIL(reader, MIG_ERR_SUBSECTION, version_offset, detail, "%s", sub_path);
    return;
  }
  if (!load_version_ok(reader, sub, version_id, version_offset, sub_path)) return;
  load_desc(reader, sub, opaque, (int32_t)version_id, sub_path, depth + 1);
}

/*
 * Spec §5.6 with §11.3's stricter rules: a 0x05 whose name is not
 * "<desc name>/..." is left in the stream (the caller's footer check reports
 * it); a well-prefixed unknown name, a repeated subsection or a version above
 * 255 is fatal.  Missing subsections are never an error.
 */
static void load_subsections(struct mig_reader *reader, const struct vmstate_desc *desc,
                             void *opaque, const char *path, uint32_t depth)
{
  SIM_ASSERT(desc->subsection_count <= MIG_VMSTATE_SUBSECTIONS_MAX);
  uint64_t loaded_mask = 0;
  size_t prefix_bytes = strlen(desc->name);
  for (;;) {
    struct mig_subsection_head head;
    uint64_t offset = mig_reader_offset(reader);
    enum mig_subsection_peek peek = mig_subsection_peek_reader(reader, desc->name, &head);
    if (peek == MIG_SUBSECTION_CUT) {
      MIG_READER_FAIL(reader, MIG_ERR_TRUNCATED, offset, "subsection header cut short", "%s",
                      path);
      return;
    }
    /* Stricter than QEMU (spec §11.3): the prefix must end in '/'. */
    if (peek != MIG_SUBSECTION_OURS || head.name[prefix_bytes] != '/') return;
    char sub_path[MIG_PATH_BYTES_MAX];
    subsection_path(sub_path, path, desc, head.name);
    int64_t index = subsection_find(desc, head.name, head.name_bytes);
    if (index < 0 || (loaded_mask & (UINT64_C(1) << index)) != 0) {
      const char *why = index < 0 ? "no such subsection here" : "subsection sent twice";
      MIG_READER_FAIL(reader, MIG_ERR_SUBSECTION, offset, why, "%s", sub_path);
      return;
    }
    loaded_mask |= UINT64_C(1) << index;
    const struct vmstate_desc *sub = desc->subsections[index];
    subsection_check(desc, sub);
    load_subsection(reader, sub, opaque, head.name_bytes, sub_path, depth);
    if (mig_reader_failed(reader)) return;
  }
}

/* Hook order (spec §5.5): pre_load, fields, subsections, post_load; version already checked. */
static void load_desc(struct mig_reader *reader, const struct vmstate_desc *desc, void *opaque,
                      int32_t version_id, const char *path, uint32_t depth)
{
  SIM_ASSERT(desc != NULL && desc->name != NULL);
  SIM_ASSERT(desc->field_count == 0 || desc->fields != NULL);
  if (depth >= MIG_VMSTATE_DEPTH_MAX) {
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, mig_reader_offset(reader),
                    "descriptions nested too deeply", "%s", path);
    return;
  }
  int rc = desc->pre_load != NULL ? desc->pre_load(opaque) : 0;
  if (!load_hook_ok(reader, rc, "pre_load", path)) return;
  for (uint32_t i = 0; i < desc->field_count; i++) {
    const struct vmstate_field *field = &desc->fields[i];
    if (field->kind == VMSTATE_KIND_VALIDATE) {
      load_validate(reader, field, opaque, version_id, path);
    } else if (field_present(field, opaque, version_id)) {
      load_field(reader, field, opaque, path, depth);
    }
    if (mig_reader_failed(reader)) return;
  }
  load_subsections(reader, desc, opaque, path, depth);
  if (mig_reader_failed(reader)) return;
  rc = desc->post_load != NULL ? desc->post_load(opaque, version_id) : 0;
  if (rc != 0 && desc->load_error != NULL) {
    /* The description says why, in QEMU's words ("Bad config data: i=0x.."). */
    char detail[sizeof(reader->error.detail)];
    desc->load_error(opaque, detail, sizeof detail);
    MIG_READER_FAIL(reader, MIG_ERR_HOOK, mig_reader_offset(reader), detail, "%s", path);
    return;
  }
  (void)load_hook_ok(reader, rc, "post_load", path);
}

enum mig_err mig_vmstate_load(struct mig_reader *reader, const struct vmstate_desc *desc,
                              void *opaque, int32_t version_id)
{
  SIM_ASSERT(reader != NULL);
  SIM_ASSERT(desc != NULL && desc->name != NULL);
  if (mig_reader_failed(reader)) return mig_reader_error(reader)->code;
  uint64_t offset = mig_reader_offset(reader);
  if (load_version_ok(reader, desc, version_id, offset, desc->name)) {
    load_desc(reader, desc, opaque, version_id, desc->name, 0);
  }
  return mig_reader_error(reader)->code;
}

/* ---------------------------------------------------------------- visit */

struct visit_sink {
  mig_vmstate_visit_fn *visit; /* the caller's callback */
  void *context;               /* its context */
};

static void visit_desc_v(const struct vmstate_desc *desc, void *opaque, const char *path,
                         uint32_t depth, const struct visit_sink *sink, int32_t version_id);

static void visit_desc(const struct vmstate_desc *desc, void *opaque, const char *path,
                       uint32_t depth, const struct visit_sink *sink)
{
  visit_desc_v(desc, opaque, path, depth, sink, desc->version_id);
}

/*
 * A temporary has no state of its own: its bytes are what its pre_save makes
 * of the parent, so visiting runs that one hook, on the temporary only.
 */
static void visit_tmp(const struct vmstate_field *field, void *parent, const char *element_path,
                      uint32_t depth, const struct visit_sink *sink)
{
  union tmp_storage tmp;
  tmp_prepare(&tmp, field, parent);
  if (field->nested->pre_save != NULL) (void)field->nested->pre_save(tmp.bytes);
  visit_desc(field->nested, tmp.bytes, element_path, depth + 1, sink);
}

static void visit_list(const struct vmstate_field *field, void *opaque, const char *path,
                       uint32_t depth, const struct visit_sink *sink)
{
  uint32_t index = 0;
  for (uint8_t *element = list_head(field, opaque); element != NULL;
       element = list_next(field, element)) {
    SIM_ASSERT(index < field->count); /* our own objects: saved or loaded whole */
    char element_path[MIG_PATH_BYTES_MAX];
    field_path(element_path, path, field, index++);
    visit_desc(field->nested, element, element_path, depth + 1, sink);
  }
}

static void visit_gtree(const struct vmstate_field *field, void *opaque, const char *path,
                        uint32_t depth, const struct visit_sink *sink)
{
  uint32_t count = gtree_count_get(field, opaque);
  SIM_ASSERT(count <= field->count); /* our own objects: saved or loaded whole */
  uint8_t *first = (uint8_t *)opaque + field->offset;
  for (uint32_t i = 0; i < count; i++) {
    uint8_t *entry = first + (size_t)i * field->size_bytes;
    char element_path[MIG_PATH_BYTES_MAX];
    field_path(element_path, path, field, i);
    char key_path[MIG_PATH_BYTES_MAX + 8];
    snprintf(key_path, sizeof key_path, "%s/key", element_path);
    if (field->key_nested != NULL) {
      visit_desc(field->key_nested, entry, key_path, depth + 1, sink);
    } else {
      uint64_t key = gtree_key_get(entry);
      uint8_t bytes[8];
      for (int b = 0; b < 8; b++) bytes[b] = (uint8_t)(key >> (56 - 8 * b));
      sink->visit(sink->context, key_path, bytes, sizeof bytes);
    }
    visit_desc(field->nested, entry, element_path, depth + 1, sink);
  }
}

/* A bitmap is one visit of its wire bytes (be64 words), at most MIG_VMSTATE_FIELD_BYTES_MAX. */
static void visit_bitmap(const char *element_path, const uint8_t *words, uint32_t bytes,
                         const struct visit_sink *sink)
{
  SIM_ASSERT(bytes <= MIG_VMSTATE_FIELD_BYTES_MAX);
  uint8_t *wire = malloc(bytes > 0 ? bytes : 1);
  SIM_ASSERT(wire != NULL);
  for (uint32_t at = 0; at < bytes; at += 8) {
    uint64_t word = element_get(words + at, 8);
    for (uint32_t i = 0; i < 8; i++) wire[at + i] = (uint8_t)(word >> (8 * (7 - i)));
  }
  sink->visit(sink->context, element_path, wire, bytes);
  free(wire);
}

static void visit_field(const struct vmstate_field *field, void *opaque, const char *path,
                        uint32_t depth, const struct visit_sink *sink)
{
  field_check(field);
  if (field->kind == VMSTATE_KIND_GTREE) {
    visit_gtree(field, opaque, path, depth, sink);
    return;
  }
  if (field->kind == VMSTATE_KIND_UNUSED || field->kind == VMSTATE_KIND_VALIDATE) return;
  if (field_is_list(field)) {
    visit_list(field, opaque, path, depth, sink);
    return;
  }
  struct field_layout layout;
  enum layout_problem problem = field_layout_get(field, opaque, &layout);
  SIM_ASSERT(problem == LAYOUT_OK);          /* our own objects: saved or loaded whole */
  SIM_ASSERT(!layout_missing_storage(field, &layout));
  static const uint8_t nullptr_bytes[1] = {MIG_NULLPTR_MARKER};
  for (uint32_t i = 0; i < layout.count; i++) {
    uint8_t *element = layout_element(field, &layout, i);
    char element_path[MIG_PATH_BYTES_MAX];
    field_path(element_path, path, field, i);
    uint8_t bytes[8];
    if (element == NULL) {
      sink->visit(sink->context, element_path, nullptr_bytes, sizeof nullptr_bytes);
    } else if (field->kind == VMSTATE_KIND_STRUCT) {
      visit_desc_v(field->nested, element, element_path, depth + 1, sink,
                   field_struct_version(field));
    } else if (field->kind == VMSTATE_KIND_TMP) {
      visit_tmp(field, element, element_path, depth, sink);
    } else if (field->kind == VMSTATE_KIND_BUFFER) {
      sink->visit(sink->context, element_path, element, layout.element_bytes);
    } else if (field->kind == VMSTATE_KIND_BITMAP) {
      visit_bitmap(element_path, element, layout.element_bytes, sink);
    } else {
      sink->visit(sink->context, element_path, bytes, element_encode(field, element, bytes));
    }
  }
}

static void visit_desc_v(const struct vmstate_desc *desc, void *opaque, const char *path,
                         uint32_t depth, const struct visit_sink *sink, int32_t version_id)
{
  SIM_ASSERT(desc != NULL && desc->name != NULL);
  SIM_ASSERT(depth < MIG_VMSTATE_DEPTH_MAX);
  SIM_ASSERT(desc->subsection_count <= MIG_VMSTATE_SUBSECTIONS_MAX);
  for (uint32_t i = 0; i < desc->field_count; i++) {
    const struct vmstate_field *field = &desc->fields[i];
    if (field_present(field, opaque, version_id)) {
      visit_field(field, opaque, path, depth, sink);
    }
  }
  for (uint32_t i = 0; i < desc->subsection_count; i++) {
    const struct vmstate_desc *sub = desc->subsections[i];
    subsection_check(desc, sub);
    if (sub->needed != NULL && !sub->needed(opaque)) continue;
    char sub_path[MIG_PATH_BYTES_MAX];
    subsection_path(sub_path, path, desc, sub->name);
    sink->visit(sink->context, sub_path, NULL, 0);
    visit_desc(sub, opaque, sub_path, depth + 1, sink);
  }
}

/* Runs no hooks on the object (only a temporary's pre_save, on the temporary). */
void mig_vmstate_visit(const struct vmstate_desc *desc, void *opaque,
                       mig_vmstate_visit_fn *visit, void *context)
{
  SIM_ASSERT(desc != NULL);
  SIM_ASSERT(visit != NULL);
  struct visit_sink sink = {.visit = visit, .context = context};
  visit_desc(desc, opaque, desc->name, 0, &sink);
}

struct visit_text {
  char *text;
  size_t bytes, count;
  bool fits;
};

static void visit_text_line(void *context, const char *path, const uint8_t *bytes, size_t count)
{
  struct visit_text *out = context;
  int n = snprintf(out->text + out->count, out->bytes - out->count, "%s%s", path,
                   bytes != NULL ? "=" : "");
  out->fits = out->fits && n >= 0 && (size_t)n < out->bytes - out->count;
  if (!out->fits) return;
  out->count += (size_t)n;
  for (size_t i = 0; i < count && out->fits; i++) {
    out->fits = out->count + 2 < out->bytes;
    if (out->fits) out->count += (size_t)snprintf(out->text + out->count, 3, "%02x", bytes[i]);
  }
  out->fits = out->fits && out->count + 1 < out->bytes;
  if (!out->fits) return;
  out->text[out->count++] = '\n';
  out->text[out->count] = '\0';
}

bool mig_vmstate_visit_text(const struct vmstate_desc *desc, void *opaque, char *text,
                            size_t bytes)
{
  SIM_ASSERT(text != NULL && bytes > 0);
  struct visit_text out = {.text = text, .bytes = bytes, .fits = true};
  text[0] = '\0';
  mig_vmstate_visit(desc, opaque, visit_text_line, &out);
  return out.fits;
}
