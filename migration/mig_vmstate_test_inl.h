/*
 * mig_vmstate_test_inl.h: what the vmstate suites (mig_vmstate_test.c,
 * mig_vmstate_kinds_test.c) share: save a description through a small
 * writer buffer, load bytes from an exact-size heap copy (so ASan sees an
 * overread), and the visit text.  Test code only.
 */
#ifndef MIG_VMSTATE_TEST_INL_H
#define MIG_VMSTATE_TEST_INL_H

#include "sim_base.h"

#include <check.h>

#include "mig_err.h"
#include "mig_stream.h"
#include "mig_vmstate.h"

/* Saves desc/opaque into membuf through a 16-byte writer buffer; returns the result. */
static inline enum mig_err vt_save_to(struct mig_membuf *membuf, const struct vmstate_desc *desc,
                                      void *opaque, json_t **json)
{
  uint8_t buffer[16];
  struct mig_writer writer;
  mig_membuf_init(membuf, 1 << 16);
  mig_writer_init(&writer, buffer, sizeof buffer, mig_membuf_write, membuf);
  enum mig_err err = mig_vmstate_save(&writer, desc, opaque, json);
  enum mig_err flush_err = mig_writer_flush(&writer);
  return err != MIG_OK ? err : flush_err;
}

/* Loads count bytes into opaque at version_id; *offset_out (if set): where the reader stopped. */
static inline struct mig_error vt_load_from(const struct vmstate_desc *desc, const uint8_t *bytes,
                                            size_t count, void *opaque, int32_t version_id,
                                            uint64_t *offset_out)
{
  uint8_t *copy = malloc(count > 0 ? count : 1);
  ck_assert_ptr_nonnull(copy);
  if (count > 0) memcpy(copy, bytes, count);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, copy, count);
  enum mig_err err = mig_vmstate_load(&reader, desc, opaque, version_id);
  ck_assert_int_eq(err, mig_reader_error(&reader)->code);
  if (offset_out != NULL) *offset_out = mig_reader_offset(&reader);
  struct mig_error error = *mig_reader_error(&reader);
  free(copy);
  return error;
}

struct vt_text {
  char bytes[8192];      /* NUL-terminated */
  size_t count;          /* characters held */
};

static inline void vt_visit_text(const struct vmstate_desc *desc, void *opaque,
                                 struct vt_text *text)
{
  ck_assert(mig_vmstate_visit_text(desc, opaque, text->bytes, sizeof text->bytes));
  text->count = strlen(text->bytes);
}

#endif /* MIG_VMSTATE_TEST_INL_H */
