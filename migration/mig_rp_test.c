/*
 * mig_rp_test.c: libcheck suite for mig_rp.c, the return-path validator
 * (spec §8, §11.2 "Return path", §11.3 item 18).  Each hostile case is a
 * byte string fed to mig_rp_read after a valid PONG, so every asserted
 * offset is past a message that had to be parsed; the case asserts the
 * typed error, its byte offset and its `return-path/...` path.  TCases:
 * good (the observed exchanges of §8.1/§8.2 and a page request), hostile
 * (one case per rule), bitmap (the RECV_BITMAP body), flips (every
 * single-byte change of a good message is accepted or rejected, never read
 * past the end).
 */
#include "sim_base.h"

#include <check.h>

#include "mig_rp.h"

static const struct mig_rp_block rp_blocks[] = {
  {.name = "pc.ram", .used_bytes = UINT64_C(0x8000000)},   /* 128 MiB */
  {.name = "vga.vram", .used_bytes = UINT64_C(0x801000)},  /* 8 MiB + one page */
};

/* PONG(1): 8 bytes put in front of each case. */
static const uint8_t rp_pong1[] = {0, 2, 0, 4, 0, 0, 0, 1};

static void rp_state(struct mig_rp_state *state, uint32_t type_max)
{
  mig_rp_state_init(state, type_max, MIG_PAGE_BYTES, rp_blocks, SIM_ARRAY_COUNT(rp_blocks));
}

/* Reads every message of bytes; returns the first error (MIG_OK if none). */
static enum mig_err rp_feed(struct mig_rp_state *state, const uint8_t *bytes, size_t count,
                            struct mig_error *error, uint32_t *accepted)
{
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, count);
  struct mig_rp_message message;
  *accepted = 0;
  while (!mig_reader_at_end(&reader)) {
    if (mig_rp_read(state, &reader, &message) != MIG_OK) break;
    (*accepted)++;
  }
  *error = *mig_reader_error(&reader);
  return error->code;
}

/* ------------------------------------------------------------------ good */

START_TEST(mig_rp_good_postcopy_exchange)
{
  /* §8.2: PONG 1, 2, 4, 3, a REQ_PAGES_ID [V bytes], a REQ_PAGES, SHUT 0. */
  static const uint8_t bytes[] = {
    0, 2, 0, 4, 0, 0, 0, 1,  0, 2, 0, 4, 0, 0, 0, 2,
    0, 2, 0, 4, 0, 0, 0, 4,  0, 2, 0, 4, 0, 0, 0, 3,
    0, 3, 0, 19, 0, 0, 0, 0, 0, 0x0c, 0x10, 0, 0, 0, 0x10, 0, 6, 'p', 'c', '.', 'r', 'a', 'm',
    0, 4, 0, 12, 0, 0, 0, 0, 0x07, 0xff, 0xf0, 0, 0, 0, 0x10, 0,
    0, 1, 0, 4, 0, 0, 0, 0,
  };
  struct mig_rp_state state;
  rp_state(&state, MIG_RP_TYPE_MAX_7_2);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, sizeof bytes);
  static const uint32_t pongs[] = {1, 2, 4, 3};
  struct mig_rp_message message;
  for (size_t i = 0; i < SIM_ARRAY_COUNT(pongs); i++) {
    ck_assert_int_eq(mig_rp_read(&state, &reader, &message), MIG_OK);
    ck_assert_uint_eq(message.type, MIG_RP_PONG);
    ck_assert_uint_eq(message.value, pongs[i]);
  }
  ck_assert_int_eq(mig_rp_read(&state, &reader, &message), MIG_OK);
  ck_assert_uint_eq(message.type, MIG_RP_REQ_PAGES_ID);
  ck_assert_uint_eq(message.start, 0xc1000);
  ck_assert_uint_eq(message.length_bytes, 0x1000);
  ck_assert_str_eq(message.block, "pc.ram");
  ck_assert_int_eq(message.block_index, 0);
  ck_assert_int_eq(mig_rp_read(&state, &reader, &message), MIG_OK);
  ck_assert_uint_eq(message.type, MIG_RP_REQ_PAGES);
  ck_assert_uint_eq(message.start, UINT64_C(0x7fff000));   /* the block's last page */
  ck_assert_str_eq(message.block, "pc.ram");
  ck_assert_int_eq(mig_rp_read(&state, &reader, &message), MIG_OK);
  ck_assert_uint_eq(message.type, MIG_RP_SHUT);
  ck_assert(mig_reader_at_end(&reader));
  ck_assert_uint_eq(state.messages_count, 7);
  ck_assert_uint_eq(state.shuts_count, 1);
}
END_TEST

START_TEST(mig_rp_good_switchover_ack_10_only)
{
  static const uint8_t bytes[] = {0, 7, 0, 0};
  struct mig_rp_state state;
  struct mig_error error;
  uint32_t accepted = 0;
  rp_state(&state, MIG_RP_TYPE_MAX_10);
  ck_assert_int_eq(rp_feed(&state, bytes, sizeof bytes, &error, &accepted), MIG_OK);
  ck_assert_uint_eq(accepted, 1);
  rp_state(&state, MIG_RP_TYPE_MAX_7_2);   /* 7.2 has no SWITCHOVER_ACK */
  ck_assert_int_eq(rp_feed(&state, bytes, sizeof bytes, &error, &accepted),
                   MIG_ERR_BAD_COMMAND);
  ck_assert_str_eq(error.path, "return-path/type");
  ck_assert_uint_eq(error.offset, 0);
}
END_TEST

/* --------------------------------------------------------------- hostile */

struct rp_case {
  const char *name;
  uint8_t bytes[40];                /* after rp_pong1 */
  size_t count;
  enum mig_err code;
  uint64_t offset;                  /* relative to the case's first byte */
  const char *path;
};

#define RP_NAME_PC 6, 'p', 'c', '.', 'r', 'a', 'm'
static const struct rp_case rp_cases[] = {
  {"type 0 INVALID", {0, 0, 0, 0}, 4, MIG_ERR_BAD_COMMAND, 0, "return-path/type"},
  {"type 7 on 7.2", {0, 7, 0, 0}, 4, MIG_ERR_BAD_COMMAND, 0, "return-path/type"},
  {"type 0xffff", {0xff, 0xff, 0, 4, 0, 0, 0, 0}, 8, MIG_ERR_BAD_COMMAND, 0, "return-path/type"},
  {"length 513", {0, 2, 0x02, 0x01}, 4, MIG_ERR_TOO_LONG, 2, "return-path/PONG/length"},
  {"length 0xffff", {0, 3, 0xff, 0xff}, 4, MIG_ERR_TOO_LONG, 2, "return-path/REQ_PAGES_ID/length"},
  {"SHUT length 5", {0, 1, 0, 5, 0, 0, 0, 0, 0}, 9, MIG_ERR_BAD_VALUE, 2, "return-path/SHUT/length"},
  {"PONG length 0", {0, 2, 0, 0}, 4, MIG_ERR_BAD_VALUE, 2, "return-path/PONG/length"},
  {"REQ_PAGES length 16", {0, 4, 0, 16}, 4, MIG_ERR_BAD_VALUE, 2, "return-path/REQ_PAGES/length"},
  {"RESUME_ACK length 8", {0, 6, 0, 8}, 4, MIG_ERR_BAD_VALUE, 2, "return-path/RESUME_ACK/length"},
  {"SHUT with error", {0, 1, 0, 4, 0, 0, 0, 1}, 8, MIG_ERR_BAD_VALUE, 4, "return-path/SHUT/flag"},
  {"RESUME_ACK 2", {0, 6, 0, 4, 0, 0, 0, 2}, 8, MIG_ERR_BAD_VALUE, 4, "return-path/RESUME_ACK/value"},
  {"RESUME_ACK 0", {0, 6, 0, 4, 0, 0, 0, 0}, 8, MIG_ERR_BAD_VALUE, 4, "return-path/RESUME_ACK/value"},
  {"REQ_PAGES_ID 12", {0, 3, 0, 12}, 4, MIG_ERR_BAD_VALUE, 2, "return-path/REQ_PAGES_ID/length"},
  {"REQ_PAGES_ID len != 13+n",
   {0, 3, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, RP_NAME_PC, 0}, 24,
   MIG_ERR_BAD_VALUE, 2, "return-path/REQ_PAGES_ID/length"},
  {"REQ_PAGES_ID n past len",
   {0, 3, 0, 14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0xff, 'x'}, 18,
   MIG_ERR_BAD_VALUE, 2, "return-path/REQ_PAGES_ID/length"},
  {"REQ_PAGES_ID empty name", {0, 3, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0}, 17,
   MIG_ERR_RAM_BLOCK, 16, "return-path/REQ_PAGES_ID/block"},
  {"REQ_PAGES_ID unknown block",
   {0, 3, 0, 19, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 6, 'p', 'c', '.', 'r', 'o', 'm'}, 23,
   MIG_ERR_RAM_BLOCK, 16, "return-path/REQ_PAGES_ID/block"},
  {"REQ_PAGES_ID misaligned start",
   {0, 3, 0, 19, 0, 0, 0, 0, 0, 0, 0x10, 0x08, 0, 0, 0x10, 0, RP_NAME_PC}, 23,
   MIG_ERR_RAM_OFFSET, 4, "return-path/REQ_PAGES_ID/start"},
  {"REQ_PAGES_ID misaligned length",
   {0, 3, 0, 19, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0x10, 1, RP_NAME_PC}, 23,
   MIG_ERR_RAM_OFFSET, 12, "return-path/REQ_PAGES_ID/length"},
  {"REQ_PAGES_ID zero length",
   {0, 3, 0, 19, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, RP_NAME_PC}, 23,
   MIG_ERR_RAM_OFFSET, 12, "return-path/REQ_PAGES_ID/length"},
  {"REQ_PAGES_ID overrun",
   {0, 3, 0, 19, 0, 0, 0, 0, 0x07, 0xff, 0xf0, 0, 0, 0, 0x20, 0, RP_NAME_PC}, 23,
   MIG_ERR_RAM_OFFSET, 4, "return-path/REQ_PAGES_ID/start"},
  {"REQ_PAGES_ID start+length wraps",
   {0, 3, 0, 19, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0x20, 0, RP_NAME_PC}, 23,
   MIG_ERR_RAM_OFFSET, 4, "return-path/REQ_PAGES_ID/start"},
  {"REQ_PAGES without id", {0, 4, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0}, 16,
   MIG_ERR_RAM_ORDER, 0, "return-path/REQ_PAGES/block"},
  {"RECV_BITMAP len != 1+n", {0, 5, 0, 8, RP_NAME_PC, 0}, 12, MIG_ERR_BAD_VALUE, 2,
   "return-path/RECV_BITMAP/length"},
  {"RECV_BITMAP unknown block", {0, 5, 0, 4, 3, 'r', 'o', 'm'}, 8, MIG_ERR_RAM_BLOCK, 4,
   "return-path/RECV_BITMAP/block"},
  {"RECV_BITMAP NUL in name", {0, 5, 0, 4, 3, 'p', 0, 'c'}, 8, MIG_ERR_RAM_BLOCK, 4,
   "return-path/RECV_BITMAP/block"},
  {"short header", {0, 2, 0}, 3, MIG_ERR_TRUNCATED, 2, "return-path/header"},
  {"short payload", {0, 2, 0, 4, 0, 0}, 6, MIG_ERR_TRUNCATED, 4, "return-path/PONG/payload"},
};

START_TEST(mig_rp_hostile_case)
{
  const struct rp_case *test = &rp_cases[_i];
  uint8_t bytes[sizeof rp_pong1 + sizeof test->bytes];
  memcpy(bytes, rp_pong1, sizeof rp_pong1);
  memcpy(bytes + sizeof rp_pong1, test->bytes, test->count);
  struct mig_rp_state state;
  rp_state(&state, MIG_RP_TYPE_MAX_7_2);
  struct mig_error error;
  uint32_t accepted = 0;
  enum mig_err code = rp_feed(&state, bytes, sizeof rp_pong1 + test->count, &error, &accepted);
  char text[256];
  mig_error_format(&error, text, sizeof text);
  ck_assert_msg(code == test->code, "%s: got %s (%s)", test->name, mig_err_name(code), text);
  ck_assert_msg(error.offset == sizeof rp_pong1 + test->offset, "%s: %s", test->name, text);
  ck_assert_msg(strcmp(error.path, test->path) == 0, "%s: %s", test->name, text);
  ck_assert_uint_eq(accepted, 1);
  ck_assert_uint_eq(state.messages_count, 1);
}
END_TEST

/* The same REQ_PAGES is good after an id for pc.ram and overruns after one for vga.vram. */
START_TEST(mig_rp_hostile_req_pages_uses_last_block)
{
  static const uint8_t bytes[] = {
    0, 3, 0, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 8, 'v', 'g', 'a', '.', 'v', 'r', 'a', 'm',
    0, 4, 0, 12, 0, 0, 0, 0, 0, 0x80, 0x10, 0, 0, 0, 0x10, 0,
  };
  struct mig_rp_state state;
  struct mig_error error;
  uint32_t accepted = 0;
  rp_state(&state, MIG_RP_TYPE_MAX_7_2);
  ck_assert_int_eq(rp_feed(&state, bytes, 25, &error, &accepted), MIG_OK);
  ck_assert_int_eq(state.request_block, 1);
  ck_assert_int_eq(rp_feed(&state, bytes + 25, sizeof bytes - 25, &error, &accepted),
                   MIG_ERR_RAM_OFFSET);
  ck_assert_str_eq(error.path, "return-path/REQ_PAGES/start");
  ck_assert_uint_eq(error.offset, 4);
}
END_TEST

/* ---------------------------------------------------------------- bitmap */

START_TEST(mig_rp_bitmap_sizes)
{
  ck_assert_uint_eq(mig_rp_bitmap_bytes(UINT64_C(0x8000000)), 4096);  /* 32768 pages */
  ck_assert_uint_eq(mig_rp_bitmap_bytes(UINT64_C(0x801000)), 264);    /* 2049 pages: 257 → 264 */
  ck_assert_uint_eq(mig_rp_bitmap_bytes(MIG_PAGE_BYTES), 8);
  ck_assert_uint_eq(mig_rp_bitmap_bytes(0), 0);
}
END_TEST

/* RECV_BITMAP vga.vram then its body; variant 0 good, 1 size off by 8, 2 bad end, 3 short. */
START_TEST(mig_rp_bitmap_body)
{
  uint8_t bytes[8 + 13 + 8 + 272 + 8] = {0, 5, 0, 9, 8, 'v', 'g', 'a', '.', 'v', 'r', 'a', 'm'};
  size_t at = 13;
  uint64_t size = _i == 1 ? 272 : 264;
  for (int i = 0; i < 8; i++) bytes[at + (size_t)i] = (uint8_t)(size >> (56 - 8 * i));
  at += 8;
  uint64_t end_at = at + size;
  for (size_t i = 0; i < size; i++) bytes[at + i] = (uint8_t)(i * 7);
  uint64_t mark = _i == 2 ? UINT64_C(0x0123456789abcdee) : MIG_RP_BITMAP_END_MARK;
  for (int i = 0; i < 8; i++) bytes[end_at + (size_t)i] = (uint8_t)(mark >> (56 - 8 * i));
  size_t count = (size_t)end_at + 8 - (_i == 3 ? 1 : 0);
  struct mig_rp_state state;
  rp_state(&state, MIG_RP_TYPE_MAX_7_2);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, count);
  struct mig_rp_message message;
  ck_assert_int_eq(mig_rp_read(&state, &reader, &message), MIG_OK);
  ck_assert_int_eq(message.block_index, 1);
  uint8_t bitmap[264] = {0};
  enum mig_err code = mig_rp_bitmap_read(&state, &reader, message.block_index, bitmap,
                                         sizeof bitmap);
  const struct mig_error *error = mig_reader_error(&reader);
  switch (_i) {
  case 0:
    ck_assert_int_eq(code, MIG_OK);
    ck_assert_uint_eq(bitmap[5], 35);
    ck_assert_uint_eq(bitmap[263], (uint8_t)(263 * 7));
    ck_assert(mig_reader_at_end(&reader));
    break;
  case 1:
    ck_assert_int_eq(code, MIG_ERR_BAD_VALUE);
    ck_assert_uint_eq(error->offset, 13);
    ck_assert_str_eq(error->path, "return-path/RECV_BITMAP/size");
    break;
  case 2:
    ck_assert_int_eq(code, MIG_ERR_BAD_VALUE);
    ck_assert_uint_eq(error->offset, end_at);
    ck_assert_str_eq(error->path, "return-path/RECV_BITMAP/end");
    break;
  default:
    ck_assert_int_eq(code, MIG_ERR_TRUNCATED);
    ck_assert_uint_le(error->offset, count);
    ck_assert_str_eq(error->path, "return-path/RECV_BITMAP/bitmap");
    break;
  }
}
END_TEST

/* ----------------------------------------------------------------- flips */

/* Every byte of a good REQ_PAGES_ID + REQ_PAGES + SHUT, set to 4 values: no crash, typed result. */
START_TEST(mig_rp_flips_never_crash)
{
  static const uint8_t good[] = {
    0, 3, 0, 19, 0, 0, 0, 0, 0, 0x0c, 0x10, 0, 0, 0, 0x10, 0, 6, 'p', 'c', '.', 'r', 'a', 'm',
    0, 4, 0, 12, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0x10, 0,
    0, 1, 0, 4, 0, 0, 0, 0,
  };
  static const uint8_t values[] = {0x00, 0x01, 0x80, 0xff};
  uint32_t rejected = 0;
  for (size_t at = 0; at < sizeof good; at++) {
    for (size_t v = 0; v < SIM_ARRAY_COUNT(values); v++) {
      uint8_t *bytes = malloc(sizeof good);   /* exact size: ASan sees any over-read */
      ck_assert_ptr_nonnull(bytes);
      memcpy(bytes, good, sizeof good);
      if (bytes[at] == values[v]) {
        free(bytes);
        continue;
      }
      bytes[at] = values[v];
      struct mig_rp_state state;
      struct mig_error error;
      uint32_t accepted = 0;
      rp_state(&state, MIG_RP_TYPE_MAX_7_2);
      enum mig_err code = rp_feed(&state, bytes, sizeof good, &error, &accepted);
      if (code != MIG_OK) {
        rejected++;
        ck_assert_uint_le(error.offset, sizeof good);
        ck_assert_msg(strncmp(error.path, "return-path/", 12) == 0, "path %s", error.path);
      }
      free(bytes);
    }
  }
  ck_assert_uint_gt(rejected, 100);
}
END_TEST

/* ---------------------------------------------------------------- writer */

START_TEST(mig_rp_writer_read_back)
{
  /*
   * Goal: the writer side (mig_rp_header, mig_rp_req_pages, mig_rp_message_u32,
   * mig_rp_framed_bytes) gives the bytes the reader accepts, with the fields
   * put in.  Method: a REQ_PAGES_ID, a REQ_PAGES and a SHUT written into one
   * buffer, framed by mig_rp_framed_bytes, then read with mig_rp_read.
   */
  uint8_t bytes[3 * (MIG_RP_HEADER_BYTES + MIG_RP_REQ_PAGES_BYTES_MAX)];
  size_t count = 0;
  const char *names[2] = {"vga.vram", NULL};
  for (int i = 0; i < 2; i++) {
    uint8_t payload[MIG_RP_REQ_PAGES_BYTES_MAX];
    uint16_t type = 0;
    uint16_t length = mig_rp_req_pages(UINT64_C(0x7ff000), 2 * MIG_PAGE_BYTES, names[i],
                                       payload, &type);
    ck_assert_uint_eq(type, i == 0 ? MIG_RP_REQ_PAGES_ID : MIG_RP_REQ_PAGES);
    mig_rp_header(type, length, bytes + count);
    ck_assert_uint_eq(mig_rp_framed_bytes(bytes + count), MIG_RP_HEADER_BYTES + length);
    memcpy(bytes + count + MIG_RP_HEADER_BYTES, payload, length);
    count += MIG_RP_HEADER_BYTES + length;
  }
  count += mig_rp_message_u32(MIG_RP_SHUT, 0, bytes + count);
  struct mig_rp_state state;
  rp_state(&state, MIG_RP_TYPE_MAX_7_2);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, count);
  struct mig_rp_message message;
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(mig_rp_read(&state, &reader, &message), MIG_OK);
    ck_assert_int_eq(message.block_index, 1);
    ck_assert_uint_eq(message.start, UINT64_C(0x7ff000));
    ck_assert_uint_eq(message.length_bytes, 2 * MIG_PAGE_BYTES);
  }
  ck_assert_int_eq(mig_rp_read(&state, &reader, &message), MIG_OK);
  ck_assert_uint_eq(message.type, MIG_RP_SHUT);
  ck_assert(mig_reader_at_end(&reader));
  /* A length above 512 frames as the header alone: the reader refuses it there. */
  uint8_t big[MIG_RP_HEADER_BYTES];
  mig_rp_header(MIG_RP_PONG, MIG_RP_MESSAGE_BYTES_MAX + 1, big);
  ck_assert_uint_eq(mig_rp_framed_bytes(big), MIG_RP_HEADER_BYTES);
  /* The RECV_BITMAP body's frame: be64 size, then the end marker after the bitmap. */
  uint8_t body[8 + 8 + 8];
  mig_rp_bitmap_frame(8, body);
  ck_assert_uint_eq(body[7], 8);
  ck_assert_uint_eq(body[16], 0x01);
  ck_assert_uint_eq(body[23], 0xef);
}
END_TEST

Suite *mig_rp_suite(void);
Suite *mig_rp_suite(void)
{
  Suite *suite = suite_create("mig_rp");
  TCase *good = tcase_create("good");
  tcase_add_test(good, mig_rp_good_postcopy_exchange);
  tcase_add_test(good, mig_rp_good_switchover_ack_10_only);
  tcase_add_test(good, mig_rp_writer_read_back);
  suite_add_tcase(suite, good);
  TCase *hostile = tcase_create("hostile");
  tcase_add_loop_test(hostile, mig_rp_hostile_case, 0, (int)SIM_ARRAY_COUNT(rp_cases));
  tcase_add_test(hostile, mig_rp_hostile_req_pages_uses_last_block);
  suite_add_tcase(suite, hostile);
  TCase *bitmap = tcase_create("bitmap");
  tcase_add_test(bitmap, mig_rp_bitmap_sizes);
  tcase_add_loop_test(bitmap, mig_rp_bitmap_body, 0, 4);
  suite_add_tcase(suite, bitmap);
  TCase *flips = tcase_create("flips");
  tcase_add_test(flips, mig_rp_flips_never_crash);
  suite_add_tcase(suite, flips);
  return suite;
}
