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

enum stream_flaw {
  FLAW_NONE,
  FLAW_PAGE_TWICE,      /* a page received in precopy is sent again in postcopy */
  FLAW_PAGE_DROPPED,    /* one discarded page is never sent */
};

struct rp_log {
  uint8_t bytes[1 << 16];     /* every return-path message, as sent */
  size_t count;
  uint32_t runs_count;
};

struct fixture {
  struct sim *sim;
  struct machine *source, *dest;
  struct uffd *uffd;
  struct mig_postcopy_dest pd;
  struct mig_ram_source ram;
  struct mig_postcopy_source ps;
  struct mig_membuf stream;
  struct mig_writer writer;
  uint8_t buffer[4096];
  struct rp_log rp;
};

static enum mig_err membuf_sink(void *context, const uint8_t *bytes, size_t count)
{
  return mig_membuf_write(context, bytes, count);
}

static void rp_send(void *context, uint16_t type, const uint8_t *payload, uint16_t payload_bytes,
                    const uint8_t *tail, uint64_t tail_bytes)
{
  struct rp_log *log = context;
  ck_assert_uint_le(log->count + 4 + payload_bytes + tail_bytes, sizeof(log->bytes));
  uint8_t *out = log->bytes + log->count;
  out[0] = (uint8_t)(type >> 8);
  out[1] = (uint8_t)type;
  out[2] = (uint8_t)(payload_bytes >> 8);
  out[3] = (uint8_t)payload_bytes;
  memcpy(out + 4, payload, payload_bytes);
  if (tail_bytes > 0) memcpy(out + 4 + payload_bytes, tail, tail_bytes);
  log->count += 4 + payload_bytes + tail_bytes;
}

static void rp_run(void *context)
{
  struct rp_log *log = context;
  log->runs_count++;
}

static struct machine_config fixture_config(void)
{
  struct machine_config config = {.type = "migsim-1.0", .ram_count = 2};
  snprintf(config.ram[0].name, sizeof(config.ram[0].name), "pc.ram");
  config.ram[0].bytes = 256 * RAM_PAGE_BYTES;
  snprintf(config.ram[1].name, sizeof(config.ram[1].name), "mem2m");
  config.ram[1].bytes = UINT64_C(4) << 20;
  config.ram[1].host_page_bytes = RAM_HOST_PAGE_BYTES_MAX;
  config.vcpu = (struct vcpu_config){.pages_per_s = 0, .fill_pages = 100};
  return config;
}

static void fixture_init(struct fixture *f)
{
  memset(f, 0, sizeof(*f));
  struct sim_options options = {.seed = 21};
  f->sim = sim_create(&options);
  struct machine_config config = fixture_config();
  f->source = machine_create(f->sim, &config, 0);
  f->dest = machine_create(f->sim, &config, 1);
  machine_boot(f->source);
  struct ram_block *blocks[2] = {machine_ram(f->dest, 0), machine_ram(f->dest, 1)};
  f->uffd = uffd_create(f->sim, blocks, 2, 1);
  machine_uffd_set(f->dest, f->uffd);
  struct mig_postcopy_dest_hooks hooks = {.context = &f->rp, .rp_send = rp_send, .run = rp_run};
  mig_postcopy_dest_init(&f->pd, f->sim, f->uffd, &hooks);
  struct ram_block *source_blocks[2] = {machine_ram(f->source, 0), machine_ram(f->source, 1)};
  mig_ram_source_init(&f->ram, f->sim, source_blocks, 2);
  mig_postcopy_source_init(&f->ps, f->sim, &f->ram, false);
  mig_membuf_init(&f->stream, (size_t)1 << 26);
  mig_writer_init(&f->writer, f->buffer, sizeof(f->buffer), membuf_sink, &f->stream);
}

static void fixture_deinit(struct fixture *f)
{
  mig_membuf_deinit(&f->stream);
  sim_destroy(f->sim);
}

/* Guest writes between the precopy pass and the switch: these pages must be discarded. */
static void source_dirty(struct fixture *f)
{
  for (uint64_t page = 3; page < 200; page += 7) {
    ram_store(machine_ram(f->source, 0), page, 1, page * 31 + 1);
  }
  ram_store(machine_ram(f->source, 1), 600, 2, 77);  /* inside the second 2 MiB page */
}

/* Precopy sends pages_first pages, the guest dirties more, then postcopy sends the rest. */
static void write_stream(struct fixture *f, uint64_t pages_first, enum stream_flaw flaw)
{
  struct mig_writer *w = &f->writer;
  mig_save_header(w);
  mig_save_configuration(w, machine_type(f->source));
  mig_writer_u8(w, MIG_SECTION_COMMAND);  /* OPEN_RETURN_PATH, PING(1) */
  mig_writer_be16(w, MIG_CMD_OPEN_RETURN_PATH);
  mig_writer_be16(w, 0);
  mig_writer_u8(w, MIG_SECTION_COMMAND);
  mig_writer_be16(w, MIG_CMD_PING);
  mig_writer_be16(w, 4);
  mig_writer_be32(w, 1);
  struct ram_block *blocks[2] = {machine_ram(f->source, 0), machine_ram(f->source, 1)};
  mig_postcopy_save_advise(w, blocks, 2);
  mig_save_section_header(w, MIG_SECTION_START, MIG_SAVE_RAM_SECTION_ID, MIG_RAM_IDSTR, 0,
                          MIG_RAM_SECTION_VERSION);
  mig_ram_save_setup(&f->ram, w);
  mig_save_footer(w, MIG_SAVE_RAM_SECTION_ID);
  mig_save_section_short_header(w, MIG_SECTION_PART, MIG_SAVE_RAM_SECTION_ID);
  mig_ram_save_iterate(&f->ram, w, pages_first);
  mig_save_footer(w, MIG_SAVE_RAM_SECTION_ID);
  source_dirty(f);
  machine_stop(f->source);
  mig_postcopy_save_discard(&f->ps, w);
  struct mig_membuf package;
  mig_membuf_init(&package, (size_t)1 << 20);
  uint8_t package_buffer[1024];
  struct mig_writer pw;
  mig_writer_init(&pw, package_buffer, sizeof(package_buffer), membuf_sink, &package);
  mig_postcopy_package_begin(&pw);
  json_t *devices = json_array();
  ck_assert_int_eq(mig_save_devices(&pw, f->source, devices), MIG_OK);
  json_decref(devices);
  mig_postcopy_package_end(&pw);
  ck_assert_int_eq(mig_writer_flush(&pw), MIG_OK);
  mig_postcopy_save_packaged(&f->ps, w, package.bytes, (uint32_t)package.count);
  mig_membuf_deinit(&package);
  if (flaw == FLAW_PAGE_DROPPED) {
    uint64_t *bitmap = f->ram.bitmaps[0];
    ck_assert(bitmap[0] & (UINT64_C(1) << 10));   /* page 10: dirtied by source_dirty */
    bitmap[0] &= ~(UINT64_C(1) << 10);
    f->ram.dirty_pages_count--;
  }
  if (flaw == FLAW_PAGE_TWICE) {
    uint64_t *bitmap = f->ram.bitmaps[0];
    ck_assert(!(bitmap[0] & (UINT64_C(1) << 1))); /* page 1: sent in precopy, clean */
    bitmap[0] |= UINT64_C(1) << 1;
    f->ram.dirty_pages_count++;
  }
  for (bool done = false; !done;) {
    mig_save_section_short_header(w, MIG_SECTION_PART, MIG_SAVE_RAM_SECTION_ID);
    done = mig_postcopy_save_iterate(&f->ps, w, NULL, 64);
    mig_save_footer(w, MIG_SAVE_RAM_SECTION_ID);
  }
  mig_save_section_short_header(w, MIG_SECTION_END, MIG_SAVE_RAM_SECTION_ID);
  mig_writer_be64(w, MIG_RAM_FLAG_EOS);
  mig_save_footer(w, MIG_SAVE_RAM_SECTION_ID);
  mig_writer_u8(w, MIG_SECTION_EOF);
  ck_assert_int_eq(mig_writer_flush(w), MIG_OK);
}

static enum mig_err hook_command(void *context, struct mig_reader *reader,
                                 const struct mig_record *record)
{
  return mig_postcopy_dest_command(context, reader, record);
}

static enum mig_err hook_placed(void *context, struct mig_reader *reader, uint32_t channel,
                                uint32_t block_index, uint64_t page_index, uint64_t offset)
{
  return mig_postcopy_dest_page(context, reader, channel, block_index, page_index, offset);
}

static enum mig_err hook_finish(void *context, struct mig_reader *reader)
{
  return mig_postcopy_dest_finish(context, reader);
}

static enum mig_err load_stream(struct fixture *f, struct mig_error *error)
{
  struct mig_load_postcopy postcopy = {.context = &f->pd, .command = hook_command,
                                       .placed = hook_placed, .finish = hook_finish};
  struct mig_load_options options = {.postcopy = &postcopy};
  struct mig_reader reader;
  mig_reader_init_memory(&reader, f->stream.bytes, f->stream.count);
  struct mig_load_stats stats;
  enum mig_err err = mig_load_machine_with(&reader, f->dest, &options, &stats);
  *error = *mig_reader_error(&reader);
  return err;
}

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
  ck_assert_int_eq(dest_cmd(&f, MIG_CMD_POSTCOPY_RAM_DISCARD, discard, sizeof(discard), &e), MIG_OK);
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
      ck_assert_int_eq(mig_postcopy_source_bitmap(&f->ps, (uint32_t)out[n].block_index, bitmap,
                                                  mig_rp_bitmap_bytes(blocks[out[n].block_index].used_bytes)),
                       MIG_OK);
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

Suite *mig_postcopy_suite(void)
{
  Suite *suite = suite_create("mig_postcopy");
  TCase *core = tcase_create("core");
  tcase_add_test(core, mig_postcopy_after_precopy_ends_equal);
  tcase_add_test(core, mig_postcopy_requests_served_first);
  tcase_add_test(core, mig_postcopy_faults_requests_and_recovery);
  suite_add_tcase(suite, core);
  TCase *refused = tcase_create("refused");
  tcase_add_test(refused, mig_postcopy_page_twice_refused);
  tcase_add_test(refused, mig_postcopy_page_never_sent_refused);
  tcase_add_test(refused, mig_postcopy_dest_state_machine_refuses);
  suite_add_tcase(suite, refused);
  return suite;
}
