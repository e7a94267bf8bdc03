/*
 * mig_pctrack_test.c: the walker's postcopy parts (PACKAGED walked, the
 * ADVISE/DISCARD/LISTEN/RUN order) and the page tracker (mig_pctrack.h)
 * over hand-built postcopy streams (mig_pctrack_test_inl.h), good and
 * hostile, plus the REQ_PAGES writer read back by mig_rp_read.
 */
#include "sim_base.h"

#include "mig_inspect.h"
#include "mig_pctrack.h"
#include "mig_pctrack_test_inl.h"
#include "mig_rp.h"
#include "sim_check.h"

/* A tracker fed by the walk, picking at LISTEN like the sink. */
struct pc_run {
  struct mig_pctrack track;
  struct mig_pctrack_request picks[64];
  uint32_t pick_count;
};

static enum mig_err pc_visit(void *context, const struct mig_inspect_event *event,
                             struct mig_error *error)
{
  struct pc_run *run = context;
  enum mig_err code = mig_pctrack_visit(&run->track, event, 0, error);
  if (code == MIG_OK && event->kind == MIG_INSPECT_COMMAND &&
      event->command == MIG_CMD_POSTCOPY_LISTEN) {
    run->pick_count += mig_pctrack_pick(&run->track, run->picks + run->pick_count,
                                        64 - run->pick_count);
  }
  return code;
}

/* Walks the plan's stream with a tracker (seed, requests_max); returns the code. */
static enum mig_err pc_walk(const struct pcs_plan *plan, uint64_t seed, uint32_t requests_max,
                            struct pc_run *run, struct pcs_offsets *at, struct mig_error *error)
{
  struct mig_membuf stream;
  pcs_build(plan, &stream, at);
  memset(run, 0, sizeof *run);
  mig_pctrack_init(&run->track, seed, requests_max);
  struct mig_inspect_visitor visitor = {.visit = pc_visit, .context = run};
  struct mig_inspect inspect;
  enum mig_err code = mig_inspect_walk(stream.bytes, stream.count, &inspect, &visitor, error);
  if (code == MIG_OK) {
    ck_assert_int_eq(inspect.postcopy_state, MIG_POSTCOPY_END);
    ck_assert_uint_eq(inspect.device_count, 1);   /* the FULL section inside the package */
    ck_assert_uint_eq(inspect.package_bytes, at->package_end - inspect.package_offset);
  }
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&stream);
  return code;
}

static const struct pcs_plan plan_good = {.pages = 16, .discard_mask = 0x0c30,
                                          .post_mask = 0x0c30, .post_twice = -1};

START_TEST(mig_pctrack_good_stream_requests_arrive_once)
{
  /* Goal: the 4 discarded pages are missing at LISTEN, all 4 are picked and arrive once. */
  struct pc_run run;
  struct pcs_offsets at;
  struct mig_error error;
  ck_assert_int_eq(pc_walk(&plan_good, 7, 8, &run, &at, &error), MIG_OK);
  const struct mig_pctrack_stats *stats = mig_pctrack_stats(&run.track);
  ck_assert_uint_eq(stats->precopy_pages_count, 16);
  ck_assert_uint_eq(stats->discard_pages_count, 4);
  ck_assert_uint_eq(stats->missing_at_listen_count, 4);
  ck_assert_uint_eq(stats->postcopy_pages_count, 4);
  ck_assert_uint_eq(run.pick_count, 4);
  ck_assert_uint_eq(stats->requested_count, 4);
  ck_assert_uint_eq(stats->requested_arrived_count, 4);
  uint64_t picked = 0;
  for (uint32_t i = 0; i < run.pick_count; i++) picked |= UINT64_C(1) << run.picks[i].page_index;
  ck_assert_uint_eq(picked, plan_good.discard_mask);
  mig_pctrack_deinit(&run.track);
}
END_TEST

START_TEST(mig_pctrack_picks_follow_the_seed)
{
  /* Goal: picks are a function of the seed, bounded by requests_max; method: two seeds, twice. */
  struct pcs_plan plan = {.pages = 64, .discard_mask = ~UINT64_C(0), .post_mask = ~UINT64_C(0),
                          .post_twice = -1};
  uint64_t sets[3] = {0};
  uint64_t seeds[3] = {1, 1, 2};
  for (int i = 0; i < 3; i++) {
    struct pc_run run;
    struct pcs_offsets at;
    struct mig_error error;
    ck_assert_int_eq(pc_walk(&plan, seeds[i], 5, &run, &at, &error), MIG_OK);
    ck_assert_uint_eq(run.pick_count, 5);
    ck_assert_uint_eq(mig_pctrack_stats(&run.track)->requested_arrived_count, 5);
    for (uint32_t k = 0; k < run.pick_count; k++) sets[i] |= UINT64_C(1) << run.picks[k].page_index;
    mig_pctrack_deinit(&run.track);
  }
  ck_assert_uint_eq(sets[0], sets[1]);
  ck_assert_uint_ne(sets[0], sets[2]);
  ck_assert_int_eq(__builtin_popcountll(sets[0]), 5);
}
END_TEST

/* One hostile plan and what the walk must say: code, path, offset (by a field of at), detail. */
enum pc_where { AT_LISTEN, AT_RUN, AT_SECOND, AT_EOF, AT_DISCARD, AT_PACKAGE_END };

static const struct {
  const char *name;
  struct pcs_plan plan;
  enum mig_err code;
  const char *path;
  enum pc_where where;
  const char *detail;
} pc_cases[] = {
  {"answered twice", {.pages = 16, .discard_mask = 0x30, .post_mask = 0x30, .post_twice = 5},
   MIG_ERR_RAM_ORDER, "ram/pc.ram", AT_SECOND,
   "postcopy page 0x5 arrived twice (a requested page)"},
  {"never sent", {.pages = 16, .discard_mask = 0x30, .post_mask = 0x10, .post_twice = -1},
   MIG_ERR_RAM_ORDER, "ram/pc.ram", AT_EOF, "requested page 0x5 never received"},
  {"discarded page not requested, never sent",
   {.pages = 64, .discard_mask = 0xff00, .post_mask = 0x7f00, .post_twice = -1},
   MIG_ERR_RAM_ORDER, "ram/pc.ram", AT_EOF, "page 0xf never received"},
  {"sent though not discarded", {.pages = 16, .discard_mask = 0x30, .post_mask = 0x70,
   .post_twice = -1}, MIG_ERR_RAM_ORDER, "ram/pc.ram", AT_SECOND,
   "postcopy page 0x6 arrived twice"},
  {"LISTEN without ADVISE", {.pages = 16, .post_twice = -1, .no_advise = true},
   MIG_ERR_BAD_COMMAND, "command/POSTCOPY_LISTEN", AT_LISTEN,
   "POSTCOPY_LISTEN in wrong postcopy state (none)"},
  {"RUN before LISTEN", {.pages = 16, .discard_mask = 0x30, .post_mask = 0x30, .post_twice = -1,
   .no_listen = true}, MIG_ERR_BAD_COMMAND, "command/POSTCOPY_RUN", AT_RUN,
   "POSTCOPY_RUN in wrong postcopy state (discard)"},
  {"package without RUN", {.pages = 16, .post_twice = -1, .no_run = true},
   MIG_ERR_BAD_COMMAND, "command/PACKAGED", AT_RUN, "package ended without POSTCOPY_RUN"},
  {"bytes after RUN", {.pages = 16, .post_twice = -1, .byte_after_run = true},
   MIG_ERR_TRAILING, "command/PACKAGED", AT_PACKAGE_END, "bytes after POSTCOPY_RUN"},
  {"DISCARD after LISTEN", {.pages = 16, .post_twice = -1, .discard_after_listen = true},
   MIG_ERR_BAD_COMMAND, "command/POSTCOPY_RAM_DISCARD", AT_DISCARD,
   "POSTCOPY_RAM_DISCARD in wrong postcopy state (running)"},
};

START_TEST(mig_pctrack_hostile)
{
  /* Goal: each broken postcopy stream is refused at its record, with path and detail. */
  struct pc_run run;
  struct pcs_offsets at;
  struct mig_error error;
  enum mig_err code = pc_walk(&pc_cases[_i].plan, 7, 64, &run, &at, &error);
  mig_pctrack_deinit(&run.track);
  char text[512];
  mig_error_format(&error, text, sizeof text);
  ck_assert_msg(code == pc_cases[_i].code, "%s: %s", pc_cases[_i].name, text);
  ck_assert_msg(strcmp(error.path, pc_cases[_i].path) == 0, "%s: %s", pc_cases[_i].name, text);
  ck_assert_msg(strstr(error.detail, pc_cases[_i].detail) != NULL, "%s: %s", pc_cases[_i].name,
                text);
  uint64_t offsets[] = {[AT_LISTEN] = at.listen, [AT_RUN] = at.run,
                        [AT_SECOND] = at.post_pages[at.post_count > 1 ? at.post_count - 1 : 0],
                        [AT_EOF] = at.eof, [AT_DISCARD] = at.discard_after,
                        [AT_PACKAGE_END] = at.package_end - 9};
  ck_assert_msg(error.offset == offsets[pc_cases[_i].where], "%s: %s, expected offset 0x%" PRIx64,
                pc_cases[_i].name, text, offsets[pc_cases[_i].where]);
}
END_TEST

START_TEST(mig_pctrack_package_bounded)
{
  /* Goal: a PACKAGED length over MIG_PACKAGED_BYTES_MAX is refused before anything is read. */
  struct mig_membuf stream;
  struct pcs_offsets at;
  pcs_build(&plan_good, &stream, &at);
  uint64_t length_at = at.listen - 4;
  stream.bytes[length_at] = 0x7f;   /* 2 GiB and more */
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_walk(stream.bytes, stream.count, &inspect, NULL, &error),
                   MIG_ERR_TOO_LONG);
  ck_assert_str_eq(error.path, "command/PACKAGED");
  ck_assert_uint_eq(error.offset, length_at);
  mig_inspect_deinit(&inspect);
  mig_membuf_deinit(&stream);
}
END_TEST

START_TEST(mig_pctrack_req_pages_writer_read_back)
{
  /* Goal: the writer's REQ_PAGES_ID then REQ_PAGES pass mig_rp_read with the same fields. */
  struct mig_rp_block blocks[] = {{"pc.ram", 16 * MIG_PAGE_BYTES}, {"vga.vram", MIG_PAGE_BYTES}};
  uint8_t bytes[3 * MIG_RP_REQ_MESSAGE_BYTES_MAX];
  size_t count = mig_rp_message_req_pages("pc.ram", 5 * MIG_PAGE_BYTES, MIG_PAGE_BYTES, bytes);
  ck_assert_uint_eq(count, 4 + 12 + 1 + 6);
  count += mig_rp_message_req_pages(NULL, 9 * MIG_PAGE_BYTES, MIG_PAGE_BYTES, bytes + count);
  count += mig_rp_message_req_pages("vga.vram", 0, MIG_PAGE_BYTES, bytes + count);
  struct mig_rp_state state;
  mig_rp_state_init(&state, MIG_RP_TYPE_MAX_7_2, MIG_PAGE_BYTES, blocks, 2);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, count);
  struct mig_rp_message message;
  static const struct { uint16_t type; uint64_t start; int32_t block; } expect[] = {
    {MIG_RP_REQ_PAGES_ID, 5 * MIG_PAGE_BYTES, 0}, {MIG_RP_REQ_PAGES, 9 * MIG_PAGE_BYTES, 0},
    {MIG_RP_REQ_PAGES_ID, 0, 1}};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(expect); i++) {
    ck_assert_int_eq(mig_rp_read(&state, &reader, &message), MIG_OK);
    ck_assert_uint_eq(message.type, expect[i].type);
    ck_assert_uint_eq(message.start, expect[i].start);
    ck_assert_uint_eq(message.length_bytes, MIG_PAGE_BYTES);
    ck_assert_int_eq(message.block_index, expect[i].block);
  }
  ck_assert(mig_reader_at_end(&reader));
}
END_TEST

/* A tracker after the good plan's walk up to LISTEN, and the walk's inspect, for preempt tests. */
struct pc_preempt_run {
  struct pc_run run;
  struct mig_inspect inspect;
  struct mig_pctrack_preempt preempt;
  struct mig_membuf records;
};

static enum mig_err pc_preempt_visit(void *context, const struct mig_inspect_event *event,
                                     struct mig_error *error)
{
  /* Stop the walk at the end of the package: the preempt channel's pages come next. */
  if (event->kind == MIG_INSPECT_COMMAND && event->command == MIG_CMD_POSTCOPY_RUN) {
    enum mig_err code = pc_visit(context, event, error);
    return code != MIG_OK ? code : MIG_ERR_COUNT - 1;
  }
  return pc_visit(context, event, error);
}

static void pc_preempt_start(struct pc_preempt_run *p)
{
  struct mig_membuf stream;
  struct pcs_offsets at;
  pcs_build(&plan_good, &stream, &at);
  memset(&p->run, 0, sizeof p->run);
  mig_pctrack_init(&p->run.track, 7, 8);
  struct mig_inspect_visitor visitor = {.visit = pc_preempt_visit, .context = &p->run};
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_walk(stream.bytes, stream.count, &p->inspect, &visitor, &error),
                   MIG_ERR_COUNT - 1);
  ck_assert(mig_pctrack_listening(&p->run.track));
  mig_membuf_deinit(&stream);
  mig_pctrack_preempt_init(&p->preempt);
  mig_membuf_init(&p->records, (size_t)1 << 20);
}

static void pc_preempt_finish(struct pc_preempt_run *p)
{
  mig_membuf_deinit(&p->records);
  mig_inspect_deinit(&p->inspect);
  mig_pctrack_deinit(&p->run.track);
}

/* Feeds the records to the preempt parser in pieces of 1, 7, 4096 ... bytes. */
static enum mig_err pc_preempt_feed(struct pc_preempt_run *p, struct mig_error *error)
{
  static const size_t pieces[] = {1, 7, 4096, 3, 9000};
  size_t at = 0;
  for (uint32_t i = 0; at < p->records.count; i++) {
    size_t take = SIM_MIN(pieces[i % SIM_ARRAY_COUNT(pieces)], p->records.count - at);
    enum mig_err code = mig_pctrack_preempt_feed(&p->preempt, &p->run.track, &p->inspect,
                                                 p->records.bytes + at, take, error);
    if (code != MIG_OK) return code;
    at += take;
  }
  return MIG_OK;
}

START_TEST(mig_pctrack_preempt_pages_once)
{
  /* Goal: the 4 missing pages on the preempt channel (named, then CONTINUE, then EOS) in
   * odd-sized pieces are tracked as channel 1; method: counts and the busy flag. */
  struct pc_preempt_run p;
  pc_preempt_start(&p);
  pcs_page(&p.records, 4, true);
  pcs_page(&p.records, 5, false);
  pcs_page(&p.records, 10, false);
  pcs_be(&p.records, UINT64_C(11) * MIG_PAGE_BYTES | MIG_RAM_FLAG_ZERO | MIG_RAM_FLAG_CONTINUE,
         8);
  pcs_u8(&p.records, 0);
  pcs_be(&p.records, MIG_RAM_FLAG_EOS, 8);
  struct mig_error error;
  ck_assert_int_eq(pc_preempt_feed(&p, &error), MIG_OK);
  ck_assert(p.preempt.eos && !mig_pctrack_preempt_busy(&p.preempt));
  ck_assert_uint_eq(p.preempt.pages_count, 4);
  const struct mig_pctrack_stats *stats = mig_pctrack_stats(&p.run.track);
  ck_assert_uint_eq(stats->preempt_pages_count, 4);
  ck_assert_uint_eq(stats->requested_arrived_count, 4);
  ck_assert_uint_eq(p.inspect.blocks[0].zero_pages, 1);
  pc_preempt_finish(&p);
}
END_TEST

/* Hostile preempt channels: what each sends after the package, and the refusal. */
enum { PRE_TWICE, PRE_CONTINUE_FIRST, PRE_KIND, PRE_BLOCK, PRE_AFTER_EOS, PRE_BEYOND, PRE_CASES };

START_TEST(mig_pctrack_preempt_hostile)
{
  /* Goal: each broken preempt channel is refused with its channel offset and a preempt path. */
  static const struct { enum mig_err code; const char *path; uint64_t offset; } expect[] = {
    [PRE_TWICE] = {MIG_ERR_RAM_ORDER, "preempt/ram/pc.ram", 8 + 7 + MIG_PAGE_BYTES},
    [PRE_CONTINUE_FIRST] = {MIG_ERR_RAM_ORDER, "preempt/ram", 0},
    [PRE_KIND] = {MIG_ERR_BAD_VALUE, "preempt/ram", 0},
    [PRE_BLOCK] = {MIG_ERR_RAM_BLOCK, "preempt/ram/block", 8},
    [PRE_AFTER_EOS] = {MIG_ERR_TRAILING, "preempt/eos", 8},
    [PRE_BEYOND] = {MIG_ERR_RAM_OFFSET, "preempt/ram/pc.ram", 0},
  };
  struct pc_preempt_run p;
  pc_preempt_start(&p);
  struct mig_membuf *r = &p.records;
  switch (_i) {
  case PRE_TWICE: pcs_page(r, 4, true); pcs_page(r, 4, false); break;
  case PRE_CONTINUE_FIRST: pcs_page(r, 4, false); break;
  case PRE_KIND: pcs_be(r, UINT64_C(4) * MIG_PAGE_BYTES | MIG_RAM_FLAG_XBZRLE, 8); break;
  case PRE_BLOCK:
    pcs_be(r, UINT64_C(4) * MIG_PAGE_BYTES | MIG_RAM_FLAG_PAGE, 8);
    pcs_name(r, "pc.rom");
    for (uint32_t k = 0; k < MIG_PAGE_BYTES; k++) pcs_u8(r, 0);
    break;
  case PRE_AFTER_EOS: pcs_be(r, MIG_RAM_FLAG_EOS, 8); pcs_u8(r, 0); break;
  default: pcs_page(r, 16, true); break;   /* pc.ram has 16 pages */
  }
  struct mig_error error;
  enum mig_err code = pc_preempt_feed(&p, &error);
  char text[512];
  error.code = code;
  mig_error_format(&error, text, sizeof text);
  ck_assert_msg(code == expect[_i].code, "case %d: %s", _i, text);
  ck_assert_msg(strcmp(error.path, expect[_i].path) == 0, "case %d: %s", _i, text);
  ck_assert_msg(error.offset == expect[_i].offset, "case %d: %s", _i, text);
  pc_preempt_finish(&p);
}
END_TEST

START_TEST(mig_pctrack_oversize_ram)
{
  /* Goal: a 1 TiB block is walked untracked by precopy; with ADVISE it is refused. */
  for (int advise = 0; advise < 2; advise++) {
    struct mig_membuf out;
    mig_membuf_init(&out, 4096);
    pcs_be(&out, MIG_FILE_MAGIC, 4);
    pcs_be(&out, MIG_FILE_VERSION, 4);
    if (advise) {
      pcs_command(&out, MIG_CMD_POSTCOPY_ADVISE, 16);
      pcs_be(&out, MIG_PAGE_BYTES, 8);
      pcs_be(&out, MIG_PAGE_BYTES, 8);
    }
    uint64_t used = UINT64_C(1) << 40, blocks_at = out.count + 17 + 8;  /* the block entry */
    pcs_u8(&out, MIG_SECTION_START);
    pcs_be(&out, 2, 4);
    pcs_name(&out, "ram");
    pcs_be(&out, 0, 4);
    pcs_be(&out, 4, 4);
    pcs_be(&out, used | MIG_RAM_FLAG_MEM_SIZE, 8);
    pcs_name(&out, "pc.ram");
    pcs_be(&out, used, 8);
    pcs_be(&out, MIG_RAM_FLAG_EOS, 8);
    pcs_footer(&out, 2);
    pcs_u8(&out, MIG_SECTION_EOF);
    struct pc_run run;
    memset(&run, 0, sizeof run);
    mig_pctrack_init(&run.track, 1, 4);
    struct mig_inspect_visitor visitor = {.visit = pc_visit, .context = &run};
    struct mig_inspect inspect;
    struct mig_error error;
    enum mig_err code = mig_inspect_walk(out.bytes, out.count, &inspect, &visitor, &error);
    char text[512];
    mig_error_format(&error, text, sizeof text);
    ck_assert_msg(code == (advise ? MIG_ERR_TOO_LONG : MIG_OK), "%s", text);
    if (advise) {
      ck_assert_str_eq(error.path, "ram/blocks");
      ck_assert_uint_eq(error.offset, blocks_at);
    }
    mig_inspect_deinit(&inspect);
    mig_pctrack_deinit(&run.track);
    mig_membuf_deinit(&out);
  }
}
END_TEST

Suite *mig_pctrack_suite(void)
{
  Suite *suite = suite_create("mig_pctrack");
  TCase *good = tcase_create("good");
  tcase_add_test(good, mig_pctrack_good_stream_requests_arrive_once);
  tcase_add_test(good, mig_pctrack_picks_follow_the_seed);
  tcase_add_test(good, mig_pctrack_req_pages_writer_read_back);
  tcase_add_test(good, mig_pctrack_preempt_pages_once);
  suite_add_tcase(suite, good);
  TCase *hostile = tcase_create("hostile");
  tcase_add_loop_test(hostile, mig_pctrack_hostile, 0, (int)SIM_ARRAY_COUNT(pc_cases));
  tcase_add_test(hostile, mig_pctrack_package_bounded);
  tcase_add_test(hostile, mig_pctrack_oversize_ram);
  tcase_add_loop_test(hostile, mig_pctrack_preempt_hostile, 0, PRE_CASES);
  suite_add_tcase(suite, hostile);
  return suite;
}
