/*
 * mig_postcopy_test_inl.h: the postcopy stream fixture shared by
 * mig_postcopy_test.c and mig_postcopy_bug_test.c: a source machine whose
 * precopy sends part of RAM, guest writes, then postcopy; a destination that
 * loads it through mig_load with mig_postcopy's destination.
 */
#ifndef MIG_POSTCOPY_TEST_INL_H
#define MIG_POSTCOPY_TEST_INL_H

#include "sim_base.h"

#include "machine.h"
#include "mig_load.h"
#include "mig_postcopy.h"
#include "mig_ram.h"
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
  /* Recovery tests: what mig_load_postcopy.recovered does (NULL: no recovery). */
  bool (*recovered)(void *context, struct mig_reader *reader, enum mig_err err);
  void *recovered_context;
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

static void write_stream_end(struct fixture *f, struct mig_writer *w);

/*
 * Precopy sends pages_first pages, the guest dirties more, then postcopy
 * sends the rest in sections of 64 pages: at most sections_max of them, then
 * the stream stops (a cut link) unless every page went.
 */
static void write_stream_with(struct fixture *f, uint64_t pages_first, enum stream_flaw flaw,
                              uint32_t sections_max)
{
  struct mig_writer *w = &f->writer;
  mig_save_header(w);
  mig_save_configuration(w, machine_type(f->source));
  mig_save_open_return_path(w, 1);
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
  bool done = false;
  for (uint32_t i = 0; i < sections_max && !done; i++) {
    mig_save_section_short_header(w, MIG_SECTION_PART, MIG_SAVE_RAM_SECTION_ID);
    done = mig_postcopy_save_iterate(&f->ps, w, NULL, 64);
    mig_save_footer(w, MIG_SAVE_RAM_SECTION_ID);
  }
  if (done) {
    write_stream_end(f, w);
  } else {
    ck_assert_int_eq(mig_writer_flush(w), MIG_OK);
  }
}

/* The rest of the postcopy sections, END(ram) and EOF. */
static void write_stream_end(struct fixture *f, struct mig_writer *w)
{
  while (mig_postcopy_pending_pages(&f->ps) > 0) {
    mig_save_section_short_header(w, MIG_SECTION_PART, MIG_SAVE_RAM_SECTION_ID);
    mig_postcopy_save_iterate(&f->ps, w, NULL, 64);
    mig_save_footer(w, MIG_SAVE_RAM_SECTION_ID);
  }
  mig_save_section_short_header(w, MIG_SECTION_END, MIG_SAVE_RAM_SECTION_ID);
  mig_writer_be64(w, MIG_RAM_FLAG_EOS);
  mig_save_footer(w, MIG_SAVE_RAM_SECTION_ID);
  mig_writer_u8(w, MIG_SECTION_EOF);
  ck_assert_int_eq(mig_writer_flush(w), MIG_OK);
}

static void write_stream(struct fixture *f, uint64_t pages_first, enum stream_flaw flaw)
{
  write_stream_with(f, pages_first, flaw, UINT32_MAX);
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

#endif /* MIG_POSTCOPY_TEST_INL_H */
