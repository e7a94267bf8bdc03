/*
 * vmstate_fuzz.c: one VMSD payload, as hostile bytes, into the vmstate
 * interpreter (STYLE R25: one input format, no globals, no I/O).  The
 * description "fz" uses the kinds whose lengths come from the stream:
 * variable arrays with each count type (through a pointer, in place, and
 * allocated by the loader), a VBUFFER, an array of pointers with a NULL, a
 * struct pointer, a QTAILQ, a GTREE, a temporary, a VALIDATE entry, int32 le, EQUAL,
 * _TEST and _V fields, and nested subsections.
 *
 * Input: byte 0 selects the version loaded (1 or 2), the rest is the payload.
 * Every input must end in MIG_OK or a latched typed error inside the input;
 * a loaded object must save again.  Allocations are freed per input.
 */
#include "sim_base.h"

#include "mig_stream.h"
#include "mig_vmstate.h"

#define FUZZ_INPUT_BYTES_MAX (UINT32_C(1) << 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_elem {
  uint8_t tag;
  uint16_t value;
};

struct fz_gentry {
  uint64_t key;
  uint16_t value;
};

struct fz {
  uint32_t id;                  /* EQUAL */
  uint8_t n8;
  uint16_t *v8;                 /* VARRAY_UINT8 through a pointer, at most 4 */
  int32_t n32;
  uint32_t *a32;                /* VARRAY_INT32_ALLOC, at most 64 */
  uint16_t n16;
  uint8_t b16[8];               /* VARRAY_UINT16 in place */
  uint32_t nbuf;
  uint8_t *vbuf;                /* VBUFFER_ALLOC_UINT32, at most 256 */
  int32_t nst;
  struct fz_elem st[3];         /* STRUCT_VARRAY_INT32 in place */
  struct fz_elem *ptrs[2];      /* ptrs[0] is NULL */
  int32_t le;                   /* int32 le, local 100 */
  bool flag;
  uint16_t t;                   /* exists iff flag */
  uint32_t vnew;                /* version 2 */
  uint8_t hi;                   /* through the temporary */
  uint8_t lo;
  struct fz_elem *one;          /* struct pointer */
  struct fz_item *list;         /* QTAILQ, version 2, at most 8 */
  uint32_t gn;                  /* entries in map */
  struct fz_gentry map[4];      /* GTREE */
  uint8_t s;                    /* fz/sub */
  uint8_t d;                    /* fz/sub/deep */
  uint16_t v8_storage[4];
  struct fz_elem elem_storage[2];
};

struct fz_item {
  uint8_t tag;
  struct fz_item *next;
};

struct fz_tmp {
  struct fz *parent;
  uint16_t both;
};

static const struct vmstate_field fz_elem_fields[] = {
  VMSTATE_UINT8(struct fz_elem, tag),
  VMSTATE_UINT16(struct fz_elem, value),
};
static const struct vmstate_desc fz_elem_desc = {
  .name = "fz_elem", .version_id = 1, .minimum_version_id = 1,
  .fields = fz_elem_fields, .field_count = 2,
};

static int fz_tmp_pre_save(void *opaque)
{
  struct fz_tmp *tmp = opaque;
  tmp->both = (uint16_t)(tmp->parent->hi << 8 | tmp->parent->lo);
  return 0;
}

static int fz_tmp_post_load(void *opaque, int32_t version_id)
{
  (void)version_id;
  struct fz_tmp *tmp = opaque;
  tmp->parent->hi = (uint8_t)(tmp->both >> 8);
  tmp->parent->lo = (uint8_t)tmp->both;
  return 0;
}

static const struct vmstate_field fz_item_fields[] = {VMSTATE_UINT8(struct fz_item, tag)};
static const struct vmstate_desc fz_item_desc = {
  .name = "fz_item", .version_id = 2, .minimum_version_id = 2,
  .fields = fz_item_fields, .field_count = 1,
};

static const struct vmstate_field fz_gentry_fields[] = {
  VMSTATE_UINT16(struct fz_gentry, value),
};
static const struct vmstate_desc fz_gentry_desc = {
  .name = "fz_gentry", .version_id = 1, .minimum_version_id = 1,
  .fields = fz_gentry_fields, .field_count = 1,
};

static const struct vmstate_field fz_tmp_fields[] = {VMSTATE_UINT16(struct fz_tmp, both)};
static const struct vmstate_desc fz_tmp_desc = {
  .name = "fz_tmp", .version_id = 0, .minimum_version_id = 0,
  .fields = fz_tmp_fields, .field_count = 1,
  .pre_save = fz_tmp_pre_save, .post_load = fz_tmp_post_load,
};

static bool fz_flag(void *opaque, int32_t version_id)
{
  (void)version_id;
  return ((struct fz *)opaque)->flag;
}

static bool fz_counts_ok(void *opaque, int32_t version_id)
{
  (void)version_id;
  const struct fz *fz = opaque;
  return fz->n8 <= fz->n16;
}

static const struct vmstate_field fz_deep_fields[] = {VMSTATE_UINT8(struct fz, d)};
static const struct vmstate_desc fz_deep_desc = {
  .name = "fz/sub/deep", .version_id = 1, .minimum_version_id = 1,
  .fields = fz_deep_fields, .field_count = 1,
};
static const struct vmstate_desc *const fz_sub_subsections[] = {&fz_deep_desc};
static const struct vmstate_field fz_sub_fields[] = {VMSTATE_UINT8(struct fz, s)};
static const struct vmstate_desc fz_sub_desc = {
  .name = "fz/sub", .version_id = 1, .minimum_version_id = 1,
  .fields = fz_sub_fields, .field_count = 1,
  .subsections = fz_sub_subsections, .subsection_count = 1,
};
static const struct vmstate_desc *const fz_subsections[] = {&fz_sub_desc};

static const struct vmstate_field fz_fields[] = {
  VMSTATE_UINT32_EQUAL(struct fz, id),
  VMSTATE_UINT8(struct fz, n8),
  VMSTATE_VARRAY_UINT8(struct fz, v8, n8, 4, VMSTATE_KIND_UINT16, uint16_t),
  VMSTATE_INT32(struct fz, n32),
  VMSTATE_VARRAY_INT32_ALLOC(struct fz, a32, n32, 64, VMSTATE_KIND_UINT32, uint32_t),
  VMSTATE_UINT16(struct fz, n16),
  VMSTATE_VARRAY_UINT16_INPLACE(struct fz, b16, n16, VMSTATE_KIND_UINT8, uint8_t),
  VMSTATE_UINT32(struct fz, nbuf),
  VMSTATE_VBUFFER_ALLOC_UINT32(struct fz, vbuf, nbuf, 256),
  VMSTATE_INT32(struct fz, nst),
  VMSTATE_STRUCT_VARRAY_INT32(struct fz, st, nst, struct fz_elem, fz_elem_desc),
  VMSTATE_ARRAY_OF_POINTER_TO_STRUCT(struct fz, ptrs, 2, struct fz_elem, fz_elem_desc),
  VMSTATE_INT32_POSITIVE_LE(struct fz, le),
  VMSTATE_BOOL(struct fz, flag),
  VMSTATE_UINT16_TEST(struct fz, t, fz_flag),
  VMSTATE_UINT32_V(struct fz, vnew, 2),
  VMSTATE_WITH_TMP(struct fz, struct fz_tmp, fz_tmp_desc),
  VMSTATE_VALIDATE("counts_ok", fz_counts_ok),
  VMSTATE_STRUCT_POINTER(struct fz, one, struct fz_elem, fz_elem_desc),
  VMSTATE_QTAILQ_V(struct fz, list, 2, 8, struct fz_item, next, fz_item_desc),
  VMSTATE_GTREE_DIRECT_KEY_V(struct fz, map, 1, gn, struct fz_gentry, fz_gentry_desc),
};
static const struct vmstate_desc fz_desc = {
  .name = "fz", .version_id = 2, .minimum_version_id = 1,
  .fields = fz_fields, .field_count = SIM_ARRAY_COUNT(fz_fields),
  .subsections = fz_subsections, .subsection_count = 1,
};

static void fz_init(struct fz *fz)
{
  memset(fz, 0, sizeof *fz);
  fz->id = UINT32_C(0x465a0001);
  fz->v8 = fz->v8_storage;
  fz->ptrs[1] = &fz->elem_storage[0];
  fz->one = &fz->elem_storage[1];
  fz->le = 100;
}

static enum mig_err discard_write(void *context, const uint8_t *bytes, size_t count)
{
  (void)context;
  (void)bytes;
  (void)count;
  return MIG_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1 || size > FUZZ_INPUT_BYTES_MAX) return 0;
  struct fz fz;
  fz_init(&fz);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, data + 1, size - 1);
  int32_t version_id = 1 + (data[0] & 1);
  enum mig_err err = mig_vmstate_load(&reader, &fz_desc, &fz, version_id);
  SIM_ASSERT(err == mig_reader_error(&reader)->code);
  SIM_ASSERT(err == MIG_OK || mig_reader_error(&reader)->offset <= size - 1);
  SIM_ASSERT(fz.v8 == fz.v8_storage); /* pointers that are not ALLOC never move */
  if (err == MIG_OK) {
    uint8_t buffer[256];
    struct mig_writer writer;
    mig_writer_init(&writer, buffer, sizeof buffer, discard_write, NULL);
    enum mig_err save_err = mig_vmstate_save(&writer, &fz_desc, &fz, NULL);
    SIM_ASSERT(save_err == MIG_OK);
  }
  free(fz.a32);
  free(fz.vbuf);
  while (fz.list != NULL) {
    struct fz_item *next = fz.list->next;
    free(fz.list);
    fz.list = next;
  }
  return 0;
}
