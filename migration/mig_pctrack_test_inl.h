/*
 * mig_pctrack_test_inl.h: a hand-built QEMU 7.2 postcopy stream for tests
 * (spec/stream-format.md §4.6): header, [OPEN_RETURN_PATH], [ADVISE],
 * START(ram) with one block "pc.ram" of plan->pages pages, every page as a
 * PAGE record, [DISCARD of plan->discard_mask], PACKAGED(LISTEN, FULL
 * "timer" with its footer, RUN), PART(ram) with the pages of post_mask,
 * END(ram), EOF.  Options break it the ways the tests need.  Offsets of the
 * interesting records go to struct pcs_offsets.  Test code only.
 */
#ifndef MIG_PCTRACK_TEST_INL_H
#define MIG_PCTRACK_TEST_INL_H

#include "sim_base.h"
#include "mig_limits.h"
#include "mig_stream.h"
#include "mig_wire.h"

struct pcs_plan {
  uint32_t pages;                   /* pc.ram pages, 1..64 */
  uint64_t discard_mask;            /* pages discarded before the package */
  uint64_t post_mask;               /* pages sent after the package */
  int32_t post_twice;               /* a page sent twice after the package; -1: none */
  bool no_advise;                   /* LISTEN without ADVISE */
  bool no_listen;                   /* RUN before LISTEN */
  bool no_run;                      /* the package ends without RUN */
  bool byte_after_run;              /* one PING after RUN inside the package */
  bool discard_after_listen;        /* a DISCARD after the package */
  bool return_path;                 /* OPEN_RETURN_PATH after the header */
};

struct pcs_offsets {
  uint64_t listen;                  /* the LISTEN command (inside the package) */
  uint64_t run;                     /* the RUN command, or where it would be */
  uint64_t package_end;             /* first byte after the package */
  uint64_t post_pages[64];          /* each page record after the package, in order */
  uint32_t post_count;
  uint64_t discard_after;           /* the late DISCARD */
  uint64_t eof;
};

static inline void pcs_put(struct mig_membuf *out, const void *bytes, size_t count)
{
  SIM_ASSERT(mig_membuf_write(out, bytes, count) == MIG_OK);
}

static inline void pcs_u8(struct mig_membuf *out, uint8_t value)
{
  pcs_put(out, &value, 1);
}

static inline void pcs_be(struct mig_membuf *out, uint64_t value, int bytes)
{
  for (int i = bytes - 1; i >= 0; i--) pcs_u8(out, (uint8_t)(value >> (8 * i)));
}

static inline void pcs_name(struct mig_membuf *out, const char *name)
{
  pcs_u8(out, (uint8_t)strlen(name));
  pcs_put(out, name, strlen(name));
}

static inline void pcs_command(struct mig_membuf *out, uint16_t code, uint16_t length)
{
  pcs_u8(out, MIG_SECTION_COMMAND);
  pcs_be(out, code, 2);
  pcs_be(out, length, 2);
}

/* One PAGE record of pc.ram (named the first time in a section), filled with its index. */
static inline void pcs_page(struct mig_membuf *out, uint32_t page, bool named)
{
  pcs_be(out, (uint64_t)page * MIG_PAGE_BYTES | MIG_RAM_FLAG_PAGE |
                  (named ? 0 : MIG_RAM_FLAG_CONTINUE), 8);
  if (named) pcs_name(out, "pc.ram");
  uint8_t bytes[MIG_PAGE_BYTES];
  memset(bytes, (int)(page + 1), sizeof bytes);
  pcs_put(out, bytes, sizeof bytes);
}

static inline void pcs_footer(struct mig_membuf *out, uint32_t section_id)
{
  pcs_u8(out, MIG_SECTION_FOOTER);
  pcs_be(out, section_id, 4);
}

static inline void pcs_discard(struct mig_membuf *out, uint64_t mask, uint32_t pages)
{
  uint32_t ranges = 0;
  for (uint32_t p = 0; p < pages; p++) ranges += (mask >> p) & 1u;
  pcs_command(out, MIG_CMD_POSTCOPY_RAM_DISCARD, (uint16_t)(3 + 6 + 16 * ranges));
  pcs_u8(out, 0);
  pcs_name(out, "pc.ram");
  pcs_u8(out, 0);
  for (uint32_t p = 0; p < pages; p++) {
    if (((mask >> p) & 1u) == 0) continue;
    pcs_be(out, (uint64_t)p * MIG_PAGE_BYTES, 8);
    pcs_be(out, MIG_PAGE_BYTES, 8);
  }
}

/* The package body: LISTEN, FULL "timer" (8 bytes), RUN (per the plan's breakages). */
static inline void pcs_package(const struct pcs_plan *plan, struct mig_membuf *body,
                               uint64_t base, struct pcs_offsets *at)
{
  at->listen = base + body->count;
  if (!plan->no_listen) pcs_command(body, MIG_CMD_POSTCOPY_LISTEN, 0);
  pcs_u8(body, MIG_SECTION_FULL);
  pcs_be(body, 7, 4);
  pcs_name(body, "timer");
  pcs_be(body, 0, 4);
  pcs_be(body, 2, 4);
  pcs_be(body, UINT64_C(0x0102030405060708), 8);
  pcs_footer(body, 7);
  at->run = base + body->count;
  if (!plan->no_run) pcs_command(body, MIG_CMD_POSTCOPY_RUN, 0);
  if (plan->byte_after_run) {
    pcs_command(body, MIG_CMD_PING, 4);
    pcs_be(body, 3, 4);
  }
}

static inline void pcs_build(const struct pcs_plan *plan, struct mig_membuf *out,
                             struct pcs_offsets *at)
{
  SIM_ASSERT(plan->pages >= 1 && plan->pages <= 64);
  memset(at, 0, sizeof *at);
  mig_membuf_init(out, (size_t)1 << 24);
  pcs_be(out, MIG_FILE_MAGIC, 4);
  pcs_be(out, MIG_FILE_VERSION, 4);
  if (plan->return_path) pcs_command(out, MIG_CMD_OPEN_RETURN_PATH, 0);
  if (!plan->no_advise) {
    pcs_command(out, MIG_CMD_POSTCOPY_ADVISE, 16);
    pcs_be(out, MIG_PAGE_BYTES, 8);
    pcs_be(out, MIG_PAGE_BYTES, 8);
  }
  uint64_t used = (uint64_t)plan->pages * MIG_PAGE_BYTES;
  pcs_u8(out, MIG_SECTION_START);
  pcs_be(out, 2, 4);
  pcs_name(out, "ram");
  pcs_be(out, 0, 4);
  pcs_be(out, 4, 4);
  pcs_be(out, used | MIG_RAM_FLAG_MEM_SIZE, 8);
  pcs_name(out, "pc.ram");
  pcs_be(out, used, 8);
  for (uint32_t p = 0; p < plan->pages; p++) pcs_page(out, p, p == 0);
  pcs_be(out, MIG_RAM_FLAG_EOS, 8);
  pcs_footer(out, 2);
  if (plan->discard_mask != 0) pcs_discard(out, plan->discard_mask, plan->pages);
  struct mig_membuf body;
  mig_membuf_init(&body, (size_t)1 << 16);
  uint64_t base = out->count + 9;   /* after the PACKAGED command and its be32 */
  pcs_package(plan, &body, base, at);
  pcs_command(out, MIG_CMD_PACKAGED, 4);
  pcs_be(out, body.count, 4);
  pcs_put(out, body.bytes, body.count);
  mig_membuf_deinit(&body);
  at->package_end = out->count;
  if (plan->discard_after_listen) {
    at->discard_after = out->count;
    pcs_discard(out, 1, plan->pages);
  }
  pcs_u8(out, MIG_SECTION_PART);
  pcs_be(out, 2, 4);
  bool named = true;
  for (uint32_t p = 0; p < plan->pages; p++) {
    for (int copy = 0; copy < (plan->post_twice == (int32_t)p ? 2 : 1); copy++) {
      if (((plan->post_mask >> p) & 1u) == 0) continue;
      at->post_pages[at->post_count++] = out->count;
      pcs_page(out, p, named);
      named = false;
    }
  }
  pcs_be(out, MIG_RAM_FLAG_EOS, 8);
  pcs_footer(out, 2);
  pcs_u8(out, MIG_SECTION_END);
  pcs_be(out, 2, 4);
  pcs_be(out, MIG_RAM_FLAG_EOS, 8);
  pcs_footer(out, 2);
  at->eof = out->count;
  pcs_u8(out, MIG_SECTION_EOF);
}

#endif /* MIG_PCTRACK_TEST_INL_H */
