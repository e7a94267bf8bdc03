/*
 * mig_postcopy_test.c: postcopy streams written by mig_postcopy's source and
 * loaded by mig_load with mig_postcopy's destination: a whole postcopy after
 * precopy (4 KiB and 2 MiB host pages) ends equal; pages applied twice and
 * pages never sent are refused; requests are served first, on the preempt
 * channel when there is one; the command state machine refuses what QEMU
 * refuses; faults become page requests the source's return-path reader
 * accepts; recovery's received bitmaps make exactly the lost pages dirty.
 */
#include "sim_base.h"

#include "machine.h"
#include "mig_load.h"
#include "mig_postcopy.h"
#include "mig_ram.h"
#include "mig_rp.h"
#include "mig_save.h"
#include "sim_check.h"

#include <jansson.h>

#include "mig_postcopy_test_inl.h"

START_TEST(mig_postcopy_after_precopy_ends_equal)
{
  /* Half a precopy pass, guest writes, then postcopy: every page equal, each applied once. */
  struct fixture f;
  fixture_init(&f);
  write_stream(&f, 150, FLAW_NONE);
  struct mig_error error;
  enum mig_err err = load_stream(&f, &error);
  ck_assert_msg(err == MIG_OK, "%s at 0x%" PRIx64 ": %s (%s)", error.path, error.offset,
                error.detail, mig_err_name(err));
  ck_assert_int_eq(mig_postcopy_dest_state(&f.pd), MIG_POSTCOPY_END);
  ck_assert_uint_eq(f.rp.runs_count, 1);
  for (uint32_t b = 0; b < 2; b++) {
    ck_assert_uint_eq(ram_block_hash(machine_ram(f.dest, b)),
                      ram_block_hash(machine_ram(f.source, b)));
  }
  const struct mig_postcopy_source_stats *ss = mig_postcopy_source_stats(&f.ps);
  const struct mig_postcopy_dest_stats *ds = mig_postcopy_dest_stats(&f.pd);
  /* 256 + 1024 pages; 150 sent in precopy, the rest plus the re-dirtied ones discarded. */
  ck_assert_uint_eq(ds->precopy_pages_count, 150);
  ck_assert_uint_eq(ds->discard_pages_count, ss->discard_pages_count);
  ck_assert_uint_eq(ds->postcopy_pages_count, ss->discard_pages_count);
  ck_assert_uint_eq(150 + ss->discard_pages_count - 21, 256 + 1024); /* 21 re-dirtied */
  ck_assert_uint_ge(ss->discard_commands_count, 2);  /* one block each at least */
  ck_assert_uint_gt(ss->package_bytes, 0);
  fixture_deinit(&f);
}
END_TEST

START_TEST(mig_postcopy_page_twice_refused)
{
  /* A page received in precopy and not discarded must not come again: "applied twice". */
  struct fixture f;
  fixture_init(&f);
  write_stream(&f, 150, FLAW_PAGE_TWICE);
  struct mig_error error;
  ck_assert_int_eq(load_stream(&f, &error), MIG_ERR_RAM_ORDER);
  ck_assert_str_eq(error.path, "ram/pc.ram");
  ck_assert_msg(strstr(error.detail, "0x1 applied twice") != NULL, "%s", error.detail);
  fixture_deinit(&f);
}
END_TEST

START_TEST(mig_postcopy_page_never_sent_refused)
{
  /* A discarded page that never comes back fails the end of the load, named. */
  struct fixture f;
  fixture_init(&f);
  write_stream(&f, 150, FLAW_PAGE_DROPPED);
  struct mig_error error;
  ck_assert_int_eq(load_stream(&f, &error), MIG_ERR_RAM_ORDER);
  ck_assert_str_eq(error.path, "ram/pc.ram");
  ck_assert_msg(strstr(error.detail, "0xa never received") != NULL, "%s", error.detail);
  fixture_deinit(&f);
}
END_TEST

/* The page records of a buffer of postcopy RAM records: (block index by name, page). */
static uint32_t records_pages(const uint8_t *bytes, size_t count, uint64_t *pages, uint32_t max)
{
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, count);
  struct mig_tokenizer tokenizer;
  mig_tokenizer_init_payload(&tokenizer, &reader, NULL, MIG_SECTION_PART, MIG_RAM_IDSTR);
  uint32_t n = 0;
  struct mig_record record;
  while (mig_record_next(&tokenizer, &record) == MIG_OK && record.kind == MIG_RECORD_RAM &&
         record.ram.kind != MIG_RAM_FLAG_EOS) {
    if (n < max) pages[n] = record.ram.address / MIG_PAGE_BYTES;
    n++;
  }
  ck_assert(!mig_reader_failed(&reader));
  return n;
}

START_TEST(mig_postcopy_requests_served_first)
{
  /* A queued request goes before the scan; with preempt, on the other channel only. */
  for (int preempt = 0; preempt < 2; preempt++) {
    struct fixture f;
    fixture_init(&f);
    f.ps.preempt = preempt;
    struct mig_writer *w = &f.writer;
    mig_ram_save_setup(&f.ram, w);  /* every page dirty, cursor at 0 */
    mig_writer_flush(w);
    size_t at = f.stream.count;
    ck_assert_int_eq(mig_postcopy_source_request(&f.ps, 0, 200 * MIG_PAGE_BYTES, 4096), MIG_OK);
    ck_assert_int_eq(mig_postcopy_source_request(&f.ps, 1, 5 * MIG_PAGE_BYTES, 4096), MIG_OK);
    struct mig_membuf urgent_bytes;
    mig_membuf_init(&urgent_bytes, 1 << 24);
    uint8_t urgent_buffer[1024];
    struct mig_writer urgent;
    mig_writer_init(&urgent, urgent_buffer, sizeof(urgent_buffer), membuf_sink, &urgent_bytes);
    mig_postcopy_save_iterate(&f.ps, w, preempt ? &urgent : NULL, 3);
    mig_writer_flush(w);
    uint64_t pages[600];
    uint32_t n = records_pages(f.stream.bytes + at, f.stream.count - at, pages, 600);
    if (!preempt) {
      /* 200, then the whole 2 MiB host page of page 5 (0..511): over budget, the section ends. */
      ck_assert_uint_eq(n, 1 + 512);
      ck_assert_uint_eq(pages[0], 200);
      ck_assert_uint_eq(pages[1], 0);
      ck_assert_uint_eq(pages[512], 511);
      /* The scan goes on right after the last requested page: the next host page, whole. */
      at = f.stream.count;
      mig_postcopy_save_iterate(&f.ps, w, NULL, 1);
      mig_writer_flush(w);
      n = records_pages(f.stream.bytes + at, f.stream.count - at, pages, 600);
      ck_assert_uint_eq(n, 512);
      ck_assert_uint_eq(pages[0], 512);
    } else {
      ck_assert_uint_eq(pages[0], 0);      /* the main channel's scan is untouched */
      ck_assert_uint_eq(n, 3);
      uint64_t urgent_pages[600];
      mig_postcopy_save_preempt_end(&urgent);
      uint32_t u = records_pages(urgent_bytes.bytes, urgent_bytes.count, urgent_pages, 600);
      ck_assert_uint_eq(u, 1 + 512);
      ck_assert_uint_eq(urgent_pages[0], 200);
    }
    /* Asked again once sent: ignored. */
    ck_assert_int_eq(mig_postcopy_source_request(&f.ps, 0, 200 * MIG_PAGE_BYTES, 4096), MIG_OK);
    mig_postcopy_save_urgent(&f.ps, w, preempt ? &urgent : NULL);
    ck_assert_uint_eq(mig_postcopy_source_stats(&f.ps)->requests_ignored_count, 1);
    mig_membuf_deinit(&urgent_bytes);
    fixture_deinit(&f);
  }
}
END_TEST

/* One command record with payload, for the state machine. */
static enum mig_err dest_cmd(struct fixture *f, uint16_t code, const uint8_t *payload,
                             uint16_t bytes, struct mig_error *error)
{
  struct mig_record record = {.kind = MIG_RECORD_COMMAND, .offset = 100, .command = code,
                              .payload = payload, .payload_bytes = bytes, .payload_offset = 105};
  struct mig_reader reader;
  mig_reader_init_memory(&reader, payload, bytes);
  enum mig_err err = mig_postcopy_dest_command(&f->pd, &reader, &record);
  if (error != NULL) *error = *mig_reader_error(&reader);
  return err;
}

static const uint8_t advise_ok[16] = {0, 0, 0, 0, 0, 0x20, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x10, 0};

START_TEST(mig_postcopy_dest_state_machine_refuses)
{
  /* QEMU's order: ADVISE, DISCARD*, LISTEN, RUN; sizes and ranges checked, each error named. */
  struct fixture f;
  fixture_init(&f);
  struct mig_error e;
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_LISTEN, NULL, 0, &e), MIG_ERR_BAD_COMMAND);
  ck_assert_str_eq(e.path, "command/POSTCOPY_LISTEN");
  uint8_t advise_bad[16];
  memcpy(advise_bad, advise_ok, 16);
  advise_bad[6] = 0;   /* summary 0x200000 without the 4 KiB block */
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_ADVISE, advise_bad, 16, &e),
                   MIG_ERR_CONFIG_MISMATCH);
  ck_assert_str_eq(e.path, "command/POSTCOPY_ADVISE/pagesize");
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_ADVISE, NULL, 0, &e), MIG_ERR_BAD_COMMAND);
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_ADVISE, advise_ok, 16, &e), MIG_OK);
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_ADVISE, advise_ok, 16, &e), MIG_ERR_BAD_COMMAND);
  /* DISCARD of mem2m: version 0, "mem2m", 0, one range; first unaligned, then fine. */
  uint8_t discard[3 + 5 + 16] = {0, 5, 'm', 'e', 'm', '2', 'm', 0};
  discard[8 + 6] = 0x10;   /* start 0x1000: not a 2 MiB boundary */
  discard[8 + 8 + 5] = 0x20; /* length 0x200000 */
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_RAM_DISCARD, discard, sizeof(discard), &e),
                   MIG_ERR_RAM_OFFSET);
  ck_assert_str_eq(e.path, "command/POSTCOPY_RAM_DISCARD/mem2m");
  ck_assert_uint_eq(e.offset, 105 + 8);
  discard[8 + 6] = 0;
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_RAM_DISCARD, discard, sizeof(discard), &e),
                   MIG_OK);
  discard[0] = 1;
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_RAM_DISCARD, discard, sizeof(discard), &e),
                   MIG_ERR_BAD_COMMAND);
  ck_assert_str_eq(e.path, "command/POSTCOPY_RAM_DISCARD/version");
  discard[0] = 0;
  discard[3] = 'x';
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_RAM_DISCARD, discard, sizeof(discard), &e),
                   MIG_ERR_BAD_COMMAND);
  ck_assert_str_eq(e.path, "command/POSTCOPY_RAM_DISCARD/block");
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_RUN, NULL, 0, &e), MIG_ERR_BAD_COMMAND);
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_LISTEN, NULL, 0, &e), MIG_OK);
  ck_assert(uffd_armed(f.uffd));
  discard[3] = 'm';
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_RAM_DISCARD, discard, sizeof(discard), &e),
                   MIG_ERR_BAD_COMMAND);
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_RUN, NULL, 0, &e), MIG_OK);
  ck_assert_uint_eq(f.rp.runs_count, 1);
  /* RECV_BITMAP outside postcopy-recover is fatal; RESUME outside it is ignored. */
  const uint8_t name[7] = {6, 'p', 'c', '.', 'r', 'a', 'm'};
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_RECV_BITMAP, name, 7, &e), MIG_ERR_BAD_COMMAND);
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_RESUME, NULL, 0, &e), MIG_OK);
  ck_assert_uint_eq(f.rp.count, 0);
  fixture_deinit(&f);
}
END_TEST

static void noop_wake(void *context, struct uffd_waiter *waiter)
{
  (void)waiter;
  (*(uint32_t *)context)++;
}

/* Reads every message of the return-path log as the source does. */
static uint32_t rp_read_all(struct fixture *f, struct mig_rp_message *out, uint32_t max)
{
  struct mig_rp_block blocks[2] = {{"pc.ram", 256 * RAM_PAGE_BYTES}, {"mem2m", UINT64_C(4) << 20}};
  struct mig_rp_state state;
  mig_rp_state_init(&state, MIG_RP_TYPE_MAX_7_2, RAM_PAGE_BYTES, blocks, 2);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, f->rp.bytes, f->rp.count);
  uint32_t n = 0;
  while (!mig_reader_at_end(&reader)) {
    ck_assert_uint_lt(n, max);
    ck_assert_int_eq(mig_rp_read(&state, &reader, &out[n]), MIG_OK);
    if (out[n].type == MIG_RP_RECV_BITMAP) {
      uint8_t bitmap[512];
      ck_assert_int_eq(mig_rp_bitmap_read(&state, &reader, out[n].block_index, bitmap,
                                          sizeof(bitmap)), MIG_OK);
      uint64_t bytes = mig_rp_bitmap_bytes(blocks[out[n].block_index].used_bytes);
      ck_assert_int_eq(mig_postcopy_source_bitmap(&f->ps, (uint32_t)out[n].block_index, bitmap,
                                                  bytes), MIG_OK);
    }
    n++;
  }
  return n;
}

START_TEST(mig_postcopy_faults_requests_and_recovery)
{
  /* Faults become REQ_PAGES_ID/REQ_PAGES; after a pause the bitmaps re-dirty exactly the lost. */
  struct fixture f;
  fixture_init(&f);
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_ADVISE, advise_ok, 16, NULL), MIG_OK);
  mig_ram_save_setup(&f.ram, &f.writer);  /* source: everything dirty */
  for (uint64_t page = 0; page < 256; page += 2) {  /* even pages of pc.ram arrived */
    ck_assert_int_eq(mig_postcopy_dest_page(&f.pd, NULL, 0, 0, page, 0), MIG_OK);
    f.ram.bitmaps[0][page / 64] &= ~(UINT64_C(1) << (page % 64));
    f.ram.dirty_pages_count--;
  }
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_LISTEN, NULL, 0, NULL), MIG_OK);
  uint32_t wakes = 0;
  struct uffd_waiter waiters[3] = {{0}, {0}, {0}};
  ck_assert(!uffd_touch(f.uffd, &waiters[0], 0, 5, 0, noop_wake, &wakes));
  ck_assert(uffd_touch(f.uffd, &waiters[1], 0, 6, 0, noop_wake, &wakes));  /* arrived */
  ck_assert(!uffd_touch(f.uffd, &waiters[1], 1, 700, UFFD_WHO_CLIENT_BASE, noop_wake, &wakes));
  ck_assert(!uffd_touch(f.uffd, &waiters[2], 0, 7, UFFD_WHO_CLIENT_BASE + 1, noop_wake, &wakes));
  struct mig_rp_message messages[16];
  ck_assert_uint_eq(rp_read_all(&f, messages, 16), 3);
  ck_assert_uint_eq(messages[0].type, MIG_RP_REQ_PAGES_ID);
  ck_assert_uint_eq(messages[0].start, 5 * RAM_PAGE_BYTES);
  ck_assert_uint_eq(messages[1].type, MIG_RP_REQ_PAGES_ID);  /* another block: named */
  ck_assert_uint_eq(messages[1].start, 2u << 20);
  ck_assert_uint_eq(messages[1].length_bytes, 2u << 20);
  ck_assert_uint_eq(messages[2].type, MIG_RP_REQ_PAGES_ID);
  ck_assert_uint_eq(messages[2].start, 7 * RAM_PAGE_BYTES);
  /* Page 5 arrives; page 7's request is lost with the link: pause, recover. */
  ck_assert_int_eq(mig_postcopy_dest_page(&f.pd, NULL, 0, 0, 5, 0), MIG_OK);
  ck_assert_uint_eq(wakes, 1);
  mig_postcopy_dest_pause(&f.pd);
  f.rp.count = 0;
  mig_postcopy_dest_recover(&f.pd);
  mig_postcopy_save_recv_bitmaps(&f.ps, &f.writer);
  const uint8_t name0[7] = {6, 'p', 'c', '.', 'r', 'a', 'm'};
  const uint8_t name1[6] = {5, 'm', 'e', 'm', '2', 'm'};
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_RECV_BITMAP, name0, 7, NULL), MIG_OK);
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_RECV_BITMAP, name1, 6, NULL), MIG_OK);
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_RESUME, NULL, 0, NULL), MIG_OK);
  ck_assert_uint_eq(rp_read_all(&f, messages, 16), 5);
  ck_assert(mig_postcopy_source_bitmaps_done(&f.ps));
  /* Received pages (the evens, and 5 after LISTEN) are clean, every other one dirty. */
  ck_assert_uint_eq(f.ram.dirty_pages_count, 256 - 128 - 1 + 1024);
  ck_assert_uint_eq(messages[2].type, MIG_RP_RESUME_ACK);
  ck_assert_uint_eq(messages[3].type, MIG_RP_REQ_PAGES_ID);  /* asked again, named again */
  ck_assert_uint_eq(messages[4].type, MIG_RP_REQ_PAGES_ID);
  ck_assert_uint_eq(mig_postcopy_dest_stats(&f.pd)->rerequests_count, 2);
  fixture_deinit(&f);
}
END_TEST

static bool hook_recovered(void *context, struct mig_reader *reader, enum mig_err err)
{
  struct fixture *f = SIM_CONTAINER_OF((struct mig_postcopy_dest *)context, struct fixture, pd);
  return f->recovered != NULL && f->recovered(f->recovered_context, reader, err);
}

/* The destination's channels in the recovery test: the cut stream, then a new one. */
struct channels {
  struct fixture *f;
  size_t cut_bytes;        /* bytes of the first channel that got through */
  size_t at;               /* next byte of the current channel */
  int phase;               /* 0 first channel, 1 RECV_BITMAPs sent, 2 the rest sent */
  struct mig_membuf second;
  struct mig_writer writer;
  uint8_t writer_buffer[4096];
  uint8_t reader_buffer[MIG_READER_BUFFER_BYTES];
};

/* Source, once the destination has read the RECV_BITMAPs: bitmaps in, RESUME and the rest. */
static void channels_source_resume(struct channels *c)
{
  struct mig_rp_message messages[4];
  ck_assert_uint_eq(rp_read_all(c->f, messages, 4), 2);
  ck_assert(mig_postcopy_source_bitmaps_done(&c->f->ps));
  mig_postcopy_save_resume(&c->writer);
  write_stream_end(c->f, &c->writer);
}

static size_t channels_refill(void *context, uint8_t *bytes, size_t capacity)
{
  struct channels *c = context;
  if (c->phase == 0) {
    size_t count = SIM_MIN(capacity, c->cut_bytes - c->at);
    memcpy(bytes, c->f->stream.bytes + c->at, count);
    c->at += count;
    return count;  /* 0 at the cut: the link is gone */
  }
  if (c->at == c->second.count && c->phase == 1) {
    channels_source_resume(c);
    c->phase = 2;
  }
  size_t count = SIM_MIN(capacity, c->second.count - c->at);
  memcpy(bytes, c->second.bytes + c->at, count);
  c->at += count;
  return count;
}

/* The load failed on the cut: pause, migrate-recover, a new channel opening with RECV_BITMAPs. */
static bool channels_recovered(void *context, struct mig_reader *reader, enum mig_err err)
{
  struct channels *c = context;
  if (c->phase != 0 || err != MIG_ERR_TRUNCATED) return false;
  mig_postcopy_dest_pause(&c->f->pd);
  mig_postcopy_dest_recover(&c->f->pd);
  c->f->rp.count = 0;
  mig_postcopy_save_recv_bitmaps(&c->f->ps, &c->writer);
  ck_assert_int_eq(mig_writer_flush(&c->writer), MIG_OK);
  c->phase = 1;
  c->at = 0;
  mig_reader_init_refill(reader, c->reader_buffer, sizeof(c->reader_buffer), channels_refill, c);
  return true;
}

START_TEST(mig_postcopy_recovery_across_channels_ends_equal)
{
  /* A link cut inside a 2 MiB host page; recovered on a new channel: equal, each page once. */
  struct fixture f;
  fixture_init(&f);
  write_stream_with(&f, 150, FLAW_NONE, 2);
  struct channels *c = calloc(1, sizeof(*c));
  c->f = &f;
  c->cut_bytes = f.stream.count - 3000;  /* inside the second section's last host page */
  mig_membuf_init(&c->second, (size_t)1 << 26);
  mig_writer_init(&c->writer, c->writer_buffer, sizeof(c->writer_buffer), membuf_sink, &c->second);
  struct mig_load_postcopy postcopy = {.context = &f.pd, .command = hook_command,
                                       .placed = hook_placed, .finish = hook_finish,
                                       .recovered = hook_recovered};
  f.recovered_context = c;
  f.recovered = channels_recovered;
  struct mig_load_options options = {.postcopy = &postcopy};
  struct mig_reader reader;
  mig_reader_init_refill(&reader, c->reader_buffer, sizeof(c->reader_buffer), channels_refill, c);
  struct mig_load_stats stats;
  enum mig_err err = mig_load_machine_with(&reader, f.dest, &options, &stats);
  const struct mig_error *error = mig_reader_error(&reader);
  ck_assert_msg(err == MIG_OK, "%s at 0x%" PRIx64 ": %s", error->path, error->offset,
                error->detail);
  ck_assert_int_eq(c->phase, 2);
  for (uint32_t b = 0; b < 2; b++) {
    ck_assert_uint_eq(ram_block_hash(machine_ram(f.dest, b)),
                      ram_block_hash(machine_ram(f.source, b)));
  }
  const struct mig_postcopy_source_stats *ss = mig_postcopy_source_stats(&f.ps);
  const struct mig_postcopy_dest_stats *ds = mig_postcopy_dest_stats(&f.pd);
  ck_assert_uint_eq(ss->bitmaps_count, 2);
  ck_assert_uint_gt(ss->resent_pages_count, 0);   /* sent before the cut, never received */
  ck_assert_uint_eq(ds->pauses_count, 1);
  ck_assert_uint_eq(ds->postcopy_pages_count, ss->discard_pages_count);
  mig_membuf_deinit(&c->second);
  free(c);
  fixture_deinit(&f);
}
END_TEST

Suite *mig_postcopy_suite(void)
{
  Suite *suite = suite_create("mig_postcopy");
  TCase *core = tcase_create("core");
  tcase_add_test(core, mig_postcopy_after_precopy_ends_equal);
  tcase_add_test(core, mig_postcopy_requests_served_first);
  tcase_add_test(core, mig_postcopy_faults_requests_and_recovery);
  tcase_add_test(core, mig_postcopy_recovery_across_channels_ends_equal);
  suite_add_tcase(suite, core);
  TCase *refused = tcase_create("refused");
  tcase_add_test(refused, mig_postcopy_page_twice_refused);
  tcase_add_test(refused, mig_postcopy_page_never_sent_refused);
  tcase_add_test(refused, mig_postcopy_dest_state_machine_refuses);
  suite_add_tcase(suite, refused);
  return suite;
}
