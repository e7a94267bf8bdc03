/*
 * cli_sink_test.c: `migsim sink` without QEMU.  A forked child plays the
 * QEMU source over a unix socket: it sends migsim's own stream (the default
 * scenario, captured through conform_check), with OPEN_RETURN_PATH and PING
 * spliced in after the configuration section where QEMU puts them, and, for
 * multifd, hand-built initial and RAM packets (spec §9.2, §9.3).  The child
 * checks what the sink sends back on the return path and reports through its
 * exit code; the parent runs cli_sink_serve and checks the result.
 */
#include "sim_base.h"

#include "conform_run.h"
#include "conform_scenario.h"
#include "cli_sink.h"
#include "mig_format.h"
#include "mig_pctrack_test_inl.h"
#include "mig_rp.h"
#include "sim_check.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define PING_VALUE UINT32_C(0x1234abcd)

/* Child exit codes: which check failed on the source side. */
enum { CHILD_OK = 0, CHILD_CONNECT = 10, CHILD_WRITE = 11, CHILD_PONG = 12, CHILD_SHUT = 13 };

struct source_plan {
  const uint8_t *bytes;             /* the main stream */
  size_t count;
  size_t pause_at;                  /* after this many bytes, expect a PONG (0: none) */
  bool pause_quiet;                 /* at pause_at, sleep 300 ms instead of reading a PONG */
  bool expect_shut;                 /* read SHUT after sending */
  uint32_t shut_value;
  const uint8_t *multifd[4];        /* per extra channel: bytes sent first */
  size_t multifd_count[4];
  uint32_t multifd_channels;
};

static void put_be32(uint8_t *out, uint32_t value)
{
  out[0] = (uint8_t)(value >> 24), out[1] = (uint8_t)(value >> 16);
  out[2] = (uint8_t)(value >> 8), out[3] = (uint8_t)value;
}

static void put_be64(uint8_t *out, uint64_t value)
{
  put_be32(out, (uint32_t)(value >> 32));
  put_be32(out + 4, (uint32_t)value);
}

static uint32_t get_be32(const uint8_t *bytes)
{
  return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 | bytes[3];
}

/* The default scenario's stream, captured through conform_check. */
static void capture_default(struct mig_membuf *capture)
{
  static struct conform_scenario scenario;
  char error[CONFORM_ERROR_BYTES];
  const char *text = conform_scenario_default_text();
  ck_assert_msg(conform_scenario_parse(text, strlen(text), "<default>", &scenario, error,
                                       sizeof error), "%s", error);
  static struct conform_run_result result;
  mig_membuf_init(capture, (size_t)1 << 30);
  conform_check(&scenario, false, NULL, capture, &result);
  ck_assert_int_eq(result.verdict, CONFORM_PASS);
  conform_run_result_deinit(&result);
  ck_assert_uint_gt(capture->count, 64);
}

/*
 * The same stream with `08 0001 0000` (OPEN_RETURN_PATH) and `08 0002 0004
 * PING_VALUE` after the configuration section; *prefix_bytes gets the offset
 * just past the PING.  migsim writes the configuration without subsections.
 */
static void splice_return_path(const struct mig_membuf *in, struct mig_membuf *out,
                               size_t *prefix_bytes)
{
  ck_assert_uint_eq(in->bytes[8], MIG_SECTION_CONFIGURATION);
  size_t config_end = 8 + 1 + 4 + get_be32(in->bytes + 9);
  ck_assert_uint_lt(config_end, in->count);
  ck_assert_msg(in->bytes[config_end] >= MIG_SECTION_START &&
                in->bytes[config_end] <= MIG_SECTION_FULL, "configuration has subsections");
  uint8_t commands[14] = {MIG_SECTION_COMMAND, 0, 1, 0, 0, MIG_SECTION_COMMAND, 0, 2, 0, 4};
  put_be32(commands + 10, PING_VALUE);
  mig_membuf_init(out, (size_t)1 << 30);
  ck_assert_int_eq(mig_membuf_write(out, in->bytes, config_end), MIG_OK);
  ck_assert_int_eq(mig_membuf_write(out, commands, sizeof commands), MIG_OK);
  ck_assert_int_eq(mig_membuf_write(out, in->bytes + config_end, in->count - config_end), MIG_OK);
  *prefix_bytes = config_end + sizeof commands;
}

static int listen_unix(char *path, size_t path_bytes)
{
  char folder[] = "/tmp/migsim-sink-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(folder));
  snprintf(path, path_bytes, "unix:%s/sock", folder);
  uint16_t port = 1;
  char error[256];
  int fd = cli_sink_listen(path, &port, error, sizeof error);
  ck_assert_msg(fd >= 0, "%s", error);
  ck_assert_uint_eq(port, 0);
  return fd;
}

static int connect_unix(const char *spec)
{
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  snprintf(address.sun_path, sizeof address.sun_path, "%s", spec + 5);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) return -1;
  return fd;
}

static bool write_all(int fd, const uint8_t *bytes, size_t count)
{
  while (count > 0) {
    ssize_t put = write(fd, bytes, count);
    if (put <= 0) return false;
    bytes += put;
    count -= (size_t)put;
  }
  return true;
}

/*
 * Reads one return-path message as the source would and validates it with
 * mig_rp (spec §8: type, length rules, SHUT flag); true when it is a valid
 * (type, value) message.  A SHUT(1) is what QEMU's source treats as the
 * destination's failure: mig_rp rejects it (BAD_VALUE return-path/SHUT/flag),
 * so an expected SHUT(1) is accepted only as exactly that rejection.
 */
static bool read_rp(int fd, uint16_t type, uint32_t value)
{
  uint8_t message[4 + MIG_RP_MESSAGE_BYTES_MAX];
  size_t got = 0, need = 4;
  while (got < need) {
    ssize_t n = read(fd, message + got, need - got);
    if (n <= 0) return false;
    got += (size_t)n;
    if (got == 4) {
      need = 4 + ((size_t)message[2] << 8 | message[3]);
      if (need > sizeof message) return false;
    }
  }
  struct mig_rp_state state;
  mig_rp_state_init(&state, MIG_RP_TYPE_MAX_7_2, MIG_PAGE_BYTES, NULL, 0);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, message, got);
  struct mig_rp_message parsed;
  enum mig_err code = mig_rp_read(&state, &reader, &parsed);
  if (type == 1 && value != 0) {
    return code == MIG_ERR_BAD_VALUE &&
           strcmp(mig_reader_error(&reader)->path, "return-path/SHUT/flag") == 0 &&
           get_be32(message + 4) == value;
  }
  return code == MIG_OK && mig_reader_at_end(&reader) && parsed.type == type &&
         parsed.value == value;
}

static int source_run(const char *spec, const struct source_plan *plan)
{
  int extra[4];
  for (uint32_t i = 0; i < plan->multifd_channels; i++) {
    extra[i] = connect_unix(spec);
    if (extra[i] < 0) return CHILD_CONNECT;
    if (!write_all(extra[i], plan->multifd[i], plan->multifd_count[i])) return CHILD_WRITE;
  }
  int fd = connect_unix(spec);
  if (fd < 0) return CHILD_CONNECT;
  size_t first = plan->pause_at > 0 ? plan->pause_at : plan->count;
  if (!write_all(fd, plan->bytes, first)) return CHILD_WRITE;
  /* The PONG must arrive while the rest of the stream is still unsent. */
  if (plan->pause_at > 0 && plan->pause_quiet) {
    struct timespec pause = {.tv_nsec = 300 * 1000 * 1000};  /* < settle_ms */
    nanosleep(&pause, NULL);
  } else if (plan->pause_at > 0 && !read_rp(fd, 2, PING_VALUE)) {
    return CHILD_PONG;
  }
  if (!write_all(fd, plan->bytes + first, plan->count - first)) return CHILD_WRITE;
  shutdown(fd, SHUT_WR);
  if (plan->expect_shut && !read_rp(fd, 1, plan->shut_value)) return CHILD_SHUT;
  for (uint32_t i = 0; i < plan->multifd_channels; i++) close(extra[i]);
  close(fd);
  return CHILD_OK;
}

/* A child's part: plays a source against the sink listening at spec; returns its exit code. */
typedef int child_fn(const char *spec, const void *context);

/*
 * Forks child(spec, context), serves one migration with options, returns
 * the child's exit code; *code gets cli_sink_serve's result.
 */
static int serve_forked(child_fn *child_body, const void *context,
                        const struct cli_sink_options *options, struct cli_sink_result *result,
                        enum mig_err *code)
{
  char spec[128];
  int listen_fd = listen_unix(spec, sizeof spec);
  fflush(NULL);
  pid_t child = fork();
  ck_assert_int_ge(child, 0);
  if (child == 0) {
    close(listen_fd);
    signal(SIGPIPE, SIG_IGN);       /* a sink that rejects early closes the socket */
    _exit(child_body(spec, context));
  }
  *code = cli_sink_serve(listen_fd, options, result);
  close(listen_fd);
  unlink(spec + 5);
  int status = 0;
  ck_assert_int_eq(waitpid(child, &status, 0), child);
  ck_assert(WIFEXITED(status));
  return WEXITSTATUS(status);
}

static int source_child(const char *spec, const void *context)
{
  return source_run(spec, context);
}

/* Forks the source, serves one migration, returns the child's exit code. */
static int serve_with_source_method(const struct source_plan *plan, const char *stream_out,
                                    enum mig_multifd_compression method,
                                    struct cli_sink_result *result)
{
  struct cli_sink_options options = {.stream_bytes_max = (size_t)1 << 30,
                                     .idle_ms_max = 10000, .settle_ms = 5000,
                                     .stream_out = stream_out, .multifd_compression = method};
  enum mig_err code;
  return serve_forked(source_child, plan, &options, result, &code);
}

static int serve_with_source_out(const struct source_plan *plan, const char *stream_out,
                                 struct cli_sink_result *result)
{
  return serve_with_source_method(plan, stream_out, MIG_MULTIFD_COMPRESSION_NONE, result);
}

static int serve_with_source(const struct source_plan *plan, struct cli_sink_result *result)
{
  return serve_with_source_out(plan, NULL, result);
}

/* serve_with_source, and the sink accepted the stream (else its error is the message). */
static void serve_expect_ok(const struct source_plan *plan, struct cli_sink_result *result)
{
  ck_assert_int_eq(serve_with_source(plan, result), CHILD_OK);
  char message[512];
  mig_error_format(&result->error, message, sizeof message);
  ck_assert_msg(result->error.code == MIG_OK, "%s", message);
}

START_TEST(cli_sink_serve_migsim_stream)
{
  /* Goal: a plain stream validates, gives mig_inspect_stream's walk, --stream-out copies it. */
  struct mig_membuf stream;
  capture_default(&stream);
  struct source_plan plan = {.bytes = stream.bytes, .count = stream.count};
  struct cli_sink_result result;
  char out_path[] = "/tmp/migsim-sink-out-XXXXXX";
  int out_fd = mkstemp(out_path);
  ck_assert_int_ge(out_fd, 0);
  close(out_fd);
  ck_assert_int_eq(serve_with_source_out(&plan, out_path, &result), CHILD_OK);
  FILE *saved = fopen(out_path, "rb");
  ck_assert_ptr_nonnull(saved);
  uint8_t *copy = malloc(stream.count + 1);
  ck_assert_uint_eq(fread(copy, 1, stream.count + 1, saved), stream.count);
  ck_assert_int_eq(memcmp(copy, stream.bytes, stream.count), 0);
  fclose(saved);
  free(copy);
  unlink(out_path);
  char message[512];
  mig_error_format(&result.error, message, sizeof message);
  ck_assert_msg(result.error.code == MIG_OK, "%s", message);
  struct mig_inspect direct;
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_stream(stream.bytes, stream.count, &direct, &error), MIG_OK);
  ck_assert_uint_eq(result.stream_bytes, stream.count);
  ck_assert_uint_eq(result.inspect.device_count, direct.device_count);
  ck_assert_uint_eq(result.inspect.block_count, direct.block_count);
  ck_assert_uint_eq(result.inspect.blocks[0].normal_pages, direct.blocks[0].normal_pages);
  ck_assert(!result.return_path && !result.shut_sent && result.pongs_sent == 0);
  ck_assert_uint_eq(result.false_trailers, 0);
  mig_inspect_deinit(&direct);
  cli_sink_result_deinit(&result);
  mig_membuf_deinit(&stream);
}
END_TEST

START_TEST(cli_sink_return_path_ping_pong_shut)
{
  /* Goal: PONG is sent while the source waits mid-stream, SHUT(0) at the end. */
  struct mig_membuf plain, stream;
  capture_default(&plain);
  size_t prefix = 0;
  splice_return_path(&plain, &stream, &prefix);
  struct source_plan plan = {.bytes = stream.bytes, .count = stream.count, .pause_at = prefix,
                             .expect_shut = true, .shut_value = 0};
  struct cli_sink_result result;
  ck_assert_int_eq(serve_with_source(&plan, &result), CHILD_OK);
  ck_assert_int_eq(result.error.code, MIG_OK);
  ck_assert(result.return_path);
  ck_assert_uint_eq(result.pongs_sent, 1);
  ck_assert(result.shut_sent);
  ck_assert_uint_eq(result.shut_value, 0);
  ck_assert_uint_eq(result.inspect.commands[2], 1);  /* the walk saw the PING too */
  cli_sink_result_deinit(&result);
  mig_membuf_deinit(&stream);
  mig_membuf_deinit(&plain);
}
END_TEST

START_TEST(cli_sink_truncated_stream_fails_with_shut_1)
{
  /* Goal: a stream cut in half is rejected with offset and path; the source gets SHUT(1). */
  struct mig_membuf plain, stream;
  capture_default(&plain);
  size_t prefix = 0;
  splice_return_path(&plain, &stream, &prefix);
  size_t half = stream.count / 2;
  struct source_plan plan = {.bytes = stream.bytes, .count = half, .pause_at = prefix,
                             .expect_shut = true, .shut_value = 1};
  struct cli_sink_result result;
  ck_assert_int_eq(serve_with_source(&plan, &result), CHILD_OK);
  ck_assert_int_ne(result.error.code, MIG_OK);
  ck_assert_uint_le(result.error.offset, half);
  ck_assert_msg(result.error.path[0] != 0, "error without a path");
  ck_assert_uint_eq(result.stream_bytes, half);
  ck_assert(result.shut_sent && result.shut_value == 1);
  cli_sink_result_deinit(&result);
  mig_membuf_deinit(&stream);
  mig_membuf_deinit(&plain);
}
END_TEST

START_TEST(cli_sink_ping_without_return_path)
{
  /* Goal: PING before OPEN_RETURN_PATH is fatal (spec §7), named command/PING by the walk. */
  struct mig_membuf plain, stream;
  capture_default(&plain);
  size_t prefix = 0;
  splice_return_path(&plain, &stream, &prefix);
  size_t open_at = prefix - 14;
  stream.bytes[open_at + 2] = 9;    /* OPEN_RETURN_PATH becomes POSTCOPY_RESUME */
  struct source_plan plan = {.bytes = stream.bytes, .count = stream.count};
  struct cli_sink_result result;
  (void)serve_with_source(&plan, &result);
  ck_assert_int_eq(result.error.code, MIG_ERR_BAD_COMMAND);
  ck_assert_str_eq(result.error.path, "command/PING");
  ck_assert_uint_eq(result.error.offset, open_at + 5);
  cli_sink_result_deinit(&result);
  mig_membuf_deinit(&stream);
  mig_membuf_deinit(&plain);
}
END_TEST

/* Offset of the data of a RAM PAGE|CONTINUE record (be64 ending in 0x028, then 4096 bytes). */
static size_t find_continued_page(const struct mig_membuf *stream)
{
  for (size_t i = 16; i + 8 + MIG_PAGE_BYTES + 8 < stream->count; i++) {
    const uint8_t *at = stream->bytes + i;
    if (at[7] != 0x28 || (at[6] & 0x0f) != 0) continue;
    const uint8_t *next = at + 8 + MIG_PAGE_BYTES;  /* must be another RAM record */
    uint32_t flags = (uint32_t)(next[6] & 0x0f) << 8 | next[7];
    if (flags == 0x10 || flags == 0x28 || flags == 0x22) return i + 8;
  }
  return 0;
}

START_TEST(cli_sink_fake_trailer_in_page_data)
{
  /* Goal: page bytes that look like "EOF 06 N {" ... "}" at a read boundary are page bytes:
   * the streaming walk reads RAM record by record, so no trailer is looked for there. */
  struct mig_membuf stream;
  capture_default(&stream);
  size_t data = find_continued_page(&stream);
  ck_assert_uint_gt(data, 0);
  uint8_t *page = stream.bytes + data;
  uint8_t fake[7] = {0x00, MIG_SECTION_VMDESCRIPTION, 0, 0, 0, 32, '{'};
  memcpy(page + 100, fake, sizeof fake);
  page[100 + 6 + 31] = '}';         /* the fake JSON's last byte: the stream pauses after it */
  struct source_plan plan = {.bytes = stream.bytes, .count = stream.count,
                             .pause_at = data + 100 + 6 + 32, .pause_quiet = true};
  struct cli_sink_result result;
  serve_expect_ok(&plan, &result);
  ck_assert_uint_eq(result.stream_bytes, stream.count);
  ck_assert_uint_eq(result.false_trailers, 0);
  cli_sink_result_deinit(&result);
  mig_membuf_deinit(&stream);
}
END_TEST

START_TEST(cli_sink_fake_trailer_in_device_state)
{
  /* Goal: device bytes in the tail that look like a trailer end ("EOF 06 N {" ... "}") at a
   * read boundary: the walk of the tail fails, more bytes come within settle_ms, the walk is
   * repeated with them and the real end validates (one false trailer counted). */
  struct mig_membuf stream;
  capture_default(&stream);
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_stream(stream.bytes, stream.count, &inspect, &error), MIG_OK);
  uint64_t payload = 0;
  for (uint32_t i = 0; i < inspect.device_count && payload == 0; i++) {
    if (inspect.devices[i].bytes >= 48) payload = inspect.devices[i].payload_offset;
  }
  mig_inspect_deinit(&inspect);
  ck_assert_uint_gt(payload, 0);
  uint8_t fake[7] = {0x00, MIG_SECTION_VMDESCRIPTION, 0, 0, 0, 32, '{'};
  memcpy(stream.bytes + payload, fake, sizeof fake);
  stream.bytes[payload + 6 + 31] = '}';
  struct source_plan plan = {.bytes = stream.bytes, .count = stream.count,
                             .pause_at = payload + 6 + 32, .pause_quiet = true};
  struct cli_sink_result result;
  serve_expect_ok(&plan, &result);
  ck_assert_uint_eq(result.stream_bytes, stream.count);
  ck_assert_uint_eq(result.false_trailers, 1);
  cli_sink_result_deinit(&result);
  mig_membuf_deinit(&stream);
}
END_TEST

/*
 * Serves the main stream plus two multifd channels from a source child and
 * formats the sink's error into message (512 bytes); returns the child's status.
 */
static int serve_two_channels(const struct mig_membuf *stream, const struct mig_membuf channel[2],
                              struct cli_sink_result *result, char message[512])
{
  struct source_plan plan = {.bytes = stream->bytes, .count = stream->count,
                             .multifd = {channel[0].bytes, channel[1].bytes},
                             .multifd_count = {channel[0].count, channel[1].count},
                             .multifd_channels = 2};
  int status = serve_with_source(&plan, result);
  mig_error_format(&result->error, message, 512);
  return status;
}

/* Initial packet plus sync_count SYNC packets; the first one carries 2 pages of block. */
static void build_multifd(struct mig_membuf *out, uint8_t id, uint64_t sync_count,
                          const char *block, uint64_t page_offset)
{
  mig_membuf_init(out, (size_t)64 << 20);
  uint8_t initial[MIG_MULTIFD_INITIAL_BYTES] = {0};
  put_be32(initial, 0x11223344), put_be32(initial + 4, 1);
  initial[24] = id;
  ck_assert_int_eq(mig_membuf_write(out, initial, sizeof initial), MIG_OK);
  static uint8_t packet[MIG_MULTIFD_PACKET_BYTES];
  static uint8_t page[MIG_PAGE_BYTES];
  for (uint64_t i = 0; i < sync_count; i++) {
    memset(packet, 0, sizeof packet);
    uint32_t normal = i == 0 ? 2 : 0;
    put_be32(packet, 0x11223344), put_be32(packet + 4, 1), put_be32(packet + 8, 1);
    put_be32(packet + 12, 128), put_be32(packet + 16, normal);
    put_be32(packet + 20, normal * MIG_PAGE_BYTES), put_be64(packet + 24, i * 4 + id);
    snprintf((char *)packet + 64, 256, "%s", block);
    put_be64(packet + 320, page_offset), put_be64(packet + 328, page_offset + MIG_PAGE_BYTES);
    ck_assert_int_eq(mig_membuf_write(out, packet, sizeof packet), MIG_OK);
    for (uint32_t p = 0; p < normal; p++) {
      memset(page, 0x5a + p, sizeof page);
      ck_assert_int_eq(mig_membuf_write(out, page, sizeof page), MIG_OK);
    }
  }
}

/*
 * Inspects stream into *direct (it must be valid) and returns its sections
 * (START, PART and END records): the SYNC packets a test's channel carries.
 */
static uint64_t inspect_sections(const struct mig_membuf *stream, struct mig_inspect *direct)
{
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_stream(stream->bytes, stream->count, direct, &error), MIG_OK);
  return direct->records[1] + direct->records[2] + direct->records[3];
}

START_TEST(cli_sink_multifd_channels_counted)
{
  /* Goal: 2 multifd channels; their pages join the block's normal count; SYNCs match. */
  struct mig_membuf stream, channel[2];
  capture_default(&stream);
  struct mig_inspect direct;
  uint64_t sections = inspect_sections(&stream, &direct);
  ck_assert_uint_gt(sections, 0);
  ck_assert_uint_gt(direct.blocks[0].used_bytes, 4 * MIG_PAGE_BYTES);
  for (uint8_t id = 0; id < 2; id++) {
    build_multifd(&channel[id], id, sections, direct.blocks[0].name, 2 * id * MIG_PAGE_BYTES);
  }
  struct cli_sink_result result;
  char message[512];
  ck_assert_int_eq(serve_two_channels(&stream, channel, &result, message), CHILD_OK);
  ck_assert_msg(result.error.code == MIG_OK, "%s", message);
  ck_assert_uint_eq(result.multifd_channel_count, 2);
  ck_assert_uint_eq(result.multifd_sync_packets, 2 * sections);
  ck_assert_uint_eq(result.multifd_pages, 4);
  ck_assert_uint_eq(result.inspect.blocks[0].normal_pages, direct.blocks[0].normal_pages + 4);
  ck_assert_uint_eq(result.multifd_bytes, channel[0].count + channel[1].count);
  cli_sink_result_deinit(&result);
  mig_inspect_deinit(&direct);
  for (int i = 0; i < 2; i++) mig_membuf_deinit(&channel[i]);
  mig_membuf_deinit(&stream);
}
END_TEST

START_TEST(cli_sink_multifd_hostile)
{
  /*
   * Goal: every multifd check of spec §11.2 and §11.3 item 13 rejects with
   * its code, channel byte offset and path.  Method: channel 0 is good;
   * channel 1 (connection 1) gets one fault: an id, a page offset, a SYNC
   * count, or a be32 patched at a byte of the channel (64 = the first RAM
   * packet, whose two pages sit at offsets `offset` and `offset` + 4096).
   */
  struct mig_membuf stream, channel[2];
  capture_default(&stream);
  struct mig_inspect direct;
  uint64_t sections = inspect_sections(&stream, &direct);
  uint64_t used = direct.blocks[0].used_bytes;
  char beyond_path[MIG_PATH_BYTES_MAX];
  snprintf(beyond_path, sizeof beyond_path, "multifd/channel1/ramblock/%.100s",
           direct.blocks[0].name);
  const struct {
    uint8_t id1; uint64_t offset; uint64_t syncs1; uint32_t patch_at; uint32_t patch;
    enum mig_err code; uint64_t at; const char *path;
  } cases[] = {
      {0, 0, sections, 0, 0, MIG_ERR_BAD_VALUE, 24, "multifd/channel1/initial/id"},
      {16, 0, sections, 0, 0, MIG_ERR_BAD_VALUE, 24, "multifd/channel1/initial/id"},
      {2, 0, sections, 0, 0, MIG_ERR_BAD_VALUE, 24, "multifd/initial/id"},   /* ids 0, 2 */
      {1, 0, sections, 8, 0x42000000, MIG_ERR_CONFIG_MISMATCH, 8, "multifd/channel1/initial/uuid"},
      {1, used - MIG_PAGE_BYTES, sections, 0, 0, MIG_ERR_RAM_OFFSET, 64 + 328, beyond_path},
      {1, 0, sections - 1, 0, 0, MIG_ERR_TRUNCATED, 0, "multifd/channel1/sync"},
      {1, 0, sections, 64, 0x11223345, MIG_ERR_BAD_MAGIC, 64, "multifd/channel1/packet0/magic"},
      {1, 0, sections, 68, 2, MIG_ERR_BAD_VERSION, 68, "multifd/channel1/packet0/version"},
      {1, 0, sections, 72, 0x3, MIG_ERR_BAD_VALUE, 72, "multifd/channel1/packet0/flags"}, /* zlib */
      {1, 0, sections, 72, 0x5, MIG_ERR_BAD_VALUE, 72, "multifd/channel1/packet0/flags"}, /* zstd */
      {1, 0, sections, 72, 0x11, MIG_ERR_BAD_VALUE, 72, "multifd/channel1/packet0/flags"},
      {1, 0, sections, 76, 129, MIG_ERR_BAD_VALUE, 76, "multifd/channel1/packet0/pages_alloc"},
      {1, 0, sections, 76, 1, MIG_ERR_BAD_VALUE, 80, "multifd/channel1/packet0/normal_pages"},
      {1, 0, sections, 84, 3 * MIG_PAGE_BYTES, MIG_ERR_BAD_VALUE, 84,
       "multifd/channel1/packet0/next_packet_size"},
      {1, 0, sections, 64 + 320 + 4, 0x800, MIG_ERR_RAM_OFFSET, 64 + 320,
       "multifd/channel1/packet0/offset[0]"},
  };
  for (size_t c = 0; c < SIM_ARRAY_COUNT(cases); c++) {
    build_multifd(&channel[0], 0, sections, direct.blocks[0].name, 0);
    build_multifd(&channel[1], cases[c].id1, cases[c].syncs1, direct.blocks[0].name,
                  cases[c].offset);
    if (cases[c].patch_at != 0) put_be32(channel[1].bytes + cases[c].patch_at, cases[c].patch);
    struct cli_sink_result result;
    char message[512];
    (void)serve_two_channels(&stream, channel, &result, message);
    ck_assert_msg(result.error.code == cases[c].code, "case %zu: %s", c, message);
    ck_assert_msg(strcmp(result.error.path, cases[c].path) == 0, "case %zu: %s, expected %s", c,
                  message, cases[c].path);
    if (cases[c].code != MIG_ERR_TRUNCATED) {
      ck_assert_msg(result.error.offset == cases[c].at, "case %zu: %s", c, message);
    }
    cli_sink_result_deinit(&result);
    for (int i = 0; i < 2; i++) mig_membuf_deinit(&channel[i]);
  }
  mig_inspect_deinit(&direct);
  mig_membuf_deinit(&stream);
}
END_TEST

START_TEST(cli_sink_multifd_uuid_matches_configuration)
{
  /*
   * Goal: with configuration/uuid in the main stream, every multifd channel's
   * UUID must equal it (spec §9.2).  Method: insert `05 12
   * "configuration/uuid" 00000001` + 16 bytes after the configuration's
   * name; channels with that UUID pass, zero UUIDs fail on channel 0.
   */
  struct mig_membuf base, stream, channel[2];
  capture_default(&base);
  size_t name_end = 8 + 1 + 4 + get_be32(base.bytes + 9);
  uint8_t subsection[2 + 18 + 4 + 16] = {0x05, 18};
  memcpy(subsection + 2, "configuration/uuid", 18);
  put_be32(subsection + 20, 1);
  for (int i = 0; i < 16; i++) subsection[24 + i] = (uint8_t)(0xa0 + i);
  mig_membuf_init(&stream, base.count + sizeof subsection);
  ck_assert_int_eq(mig_membuf_write(&stream, base.bytes, name_end), MIG_OK);
  ck_assert_int_eq(mig_membuf_write(&stream, subsection, sizeof subsection), MIG_OK);
  ck_assert_int_eq(mig_membuf_write(&stream, base.bytes + name_end, base.count - name_end),
                   MIG_OK);
  struct mig_inspect direct;
  uint64_t sections = inspect_sections(&stream, &direct);
  ck_assert(direct.has_uuid);
  for (int matching = 1; matching >= 0; matching--) {
    for (uint8_t id = 0; id < 2; id++) {
      build_multifd(&channel[id], id, sections, direct.blocks[0].name, 2 * id * MIG_PAGE_BYTES);
      if (matching) memcpy(channel[id].bytes + 8, subsection + 24, 16);
    }
    struct cli_sink_result result;
    char message[512];
    (void)serve_two_channels(&stream, channel, &result, message);
    if (matching) {
      ck_assert_msg(result.error.code == MIG_OK, "%s", message);
      ck_assert_uint_eq(result.multifd_channel_count, 2);
    } else {
      ck_assert_msg(result.error.code == MIG_ERR_CONFIG_MISMATCH, "%s", message);
      ck_assert_str_eq(result.error.path, "multifd/channel0/initial/uuid");
      ck_assert_uint_eq(result.error.offset, 8);
    }
    cli_sink_result_deinit(&result);
    for (int i = 0; i < 2; i++) mig_membuf_deinit(&channel[i]);
  }
  mig_inspect_deinit(&direct);
  mig_membuf_deinit(&stream);
  mig_membuf_deinit(&base);
}
END_TEST

/* ------------------------------------------------ compressed multifd payloads */

/*
 * One channel (id 0) for --multifd-compression tests: initial packet, then
 * sync_count SYNC packets; packets 0 and 1 list normal[k] pages (offsets
 * 4096 x (2k + j)) and carry pages[k] pages compressed with `method` as QEMU
 * 7.2 does (one stream per channel; zlib Z_SYNC_FLUSH or zstd ZSTD_e_flush
 * after each packet's last page).  next_packet_size is the compressed size
 * unless next_bytes is set.  payload_at[k] gets each payload's channel offset.
 */
struct packed_plan {
  enum mig_multifd_compression method;  /* the compressor used */
  uint32_t flag;                    /* compression bits written in flags */
  uint32_t normal[2];               /* normal_pages of packets 0 and 1 */
  uint32_t pages[2];                /* pages actually compressed into them */
  bool finish;                      /* zlib: end packet 0 with Z_FINISH */
  bool zstd_frames;                 /* zstd: end the frame after page 0 (a new one follows) */
  int zstd_window_log;              /* zstd: nonzero sets ZSTD_c_windowLog */
  uint32_t next_bytes;              /* nonzero: next_packet_size of packet 0 */
};

static void packed_page(uint8_t *page, uint32_t index)
{
  for (uint32_t i = 0; i < MIG_PAGE_BYTES; i++) {
    page[i] = (uint8_t)((i * 7 + index * 13) ^ (i >> 6));
  }
}

/* Compresses `count` pages starting at page `first` as one packet's payload. */
static size_t packed_payload(const struct packed_plan *plan, z_stream *zs, ZSTD_CStream *zcs,
                             uint32_t first, uint32_t count, bool finish, uint8_t *out,
                             size_t out_bytes)
{
  static uint8_t page[MIG_PAGE_BYTES];
  size_t used = 0;
  for (uint32_t p = 0; p < count; p++) {
    packed_page(page, first + p);
    bool last = p + 1 == count;
    if (plan->method == MIG_MULTIFD_COMPRESSION_ZLIB) {
      zs->next_in = page, zs->avail_in = sizeof page;
      zs->next_out = out + used, zs->avail_out = (uInt)(out_bytes - used);
      int flush = !last ? Z_NO_FLUSH : finish ? Z_FINISH : Z_SYNC_FLUSH;
      int ret = deflate(zs, flush);
      ck_assert_int_eq(ret, finish && last ? Z_STREAM_END : Z_OK);
      ck_assert_uint_eq(zs->avail_in, 0);
      used = out_bytes - zs->avail_out;
    } else {
      ZSTD_inBuffer in = {page, sizeof page, 0};
      ZSTD_outBuffer sink_out = {out, out_bytes, used};
      ZSTD_EndDirective mode = plan->zstd_frames && first + p == 0 ? ZSTD_e_end
                               : last                               ? ZSTD_e_flush
                                                                    : ZSTD_e_continue;
      size_t left = 0;
      do {
        left = ZSTD_compressStream2(zcs, &sink_out, &in, mode);
        ck_assert(!ZSTD_isError(left));
      } while (in.pos < in.size || (mode != ZSTD_e_continue && left > 0));
      used = sink_out.pos;
    }
  }
  return used;
}

static void build_packed(struct mig_membuf *out, const struct packed_plan *plan,
                         uint64_t sync_count, const char *block, uint64_t payload_at[2])
{
  mig_membuf_init(out, (size_t)64 << 20);
  uint8_t initial[MIG_MULTIFD_INITIAL_BYTES] = {0};
  put_be32(initial, 0x11223344), put_be32(initial + 4, 1);
  ck_assert_int_eq(mig_membuf_write(out, initial, sizeof initial), MIG_OK);
  z_stream zs = {0};
  ZSTD_CStream *zcs = ZSTD_createCStream();
  ck_assert_ptr_nonnull(zcs);
  if (plan->zstd_window_log != 0) {
    ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(zcs, ZSTD_c_windowLog,
                                                   plan->zstd_window_log)));
  }
  ck_assert_int_eq(deflateInit(&zs, 1), Z_OK);
  static uint8_t packet[MIG_MULTIFD_PACKET_BYTES];
  static uint8_t payload[MIG_MULTIFD_COMPRESSED_BYTES_MAX];
  for (uint64_t i = 0; i < sync_count; i++) {
    memset(packet, 0, sizeof packet);
    uint32_t normal = i < 2 ? plan->normal[i] : 0;
    size_t bytes = i < 2 ? packed_payload(plan, &zs, zcs, 2 * (uint32_t)i, plan->pages[i],
                                          plan->finish && i == 0, payload, sizeof payload)
                         : 0;
    put_be32(packet, 0x11223344), put_be32(packet + 4, 1);
    put_be32(packet + 8, 1 | (normal > 0 ? plan->flag : 0));
    put_be32(packet + 12, 128), put_be32(packet + 16, normal);
    put_be32(packet + 20, i == 0 && plan->next_bytes != 0 ? plan->next_bytes : (uint32_t)bytes);
    put_be64(packet + 24, i);
    snprintf((char *)packet + 64, 256, "%s", block);
    for (uint32_t j = 0; j < normal; j++) {
      put_be64(packet + 320 + 8 * j, (2 * i + j) * MIG_PAGE_BYTES);
    }
    ck_assert_int_eq(mig_membuf_write(out, packet, sizeof packet), MIG_OK);
    if (i < 2) payload_at[i] = out->count;
    ck_assert_int_eq(mig_membuf_write(out, payload, bytes), MIG_OK);
    if (plan->finish && i == 0) ck_assert_int_eq(deflateReset(&zs), Z_OK);
  }
  deflateEnd(&zs);
  ZSTD_freeCStream(zcs);
}

static enum mig_multifd_compression packed_methods[] = {MIG_MULTIFD_COMPRESSION_ZLIB,
                                                          MIG_MULTIFD_COMPRESSION_ZSTD};

/* Serves stream plus one packed channel with the sink configured for `method`. */
static void serve_packed(const struct mig_membuf *stream, const struct mig_membuf *channel,
                         enum mig_multifd_compression method, struct cli_sink_result *result)
{
  struct source_plan plan = {.bytes = stream->bytes, .count = stream->count,
                             .multifd = {channel->bytes}, .multifd_count = {channel->count},
                             .multifd_channels = 1};
  (void)serve_with_source_method(&plan, NULL, method, result);
}

START_TEST(cli_sink_multifd_compressed_counted)
{
  /*
   * Goal: zlib and zstd payloads (real compressors, one stream across two
   * packets) are decompressed and their pages counted like nocomp pages.
   * Method: 2 + 2 pages with zlib, zstd, and zstd whose first frame ends
   * after page 0 (a second frame follows inside the same payload); the sink
   * must be valid, count 4 pages in the block, and report the compressed
   * payload size, which is below 4 x 4096.
   */
  struct mig_membuf stream, channel;
  capture_default(&stream);
  struct mig_inspect direct;
  uint64_t sections = inspect_sections(&stream, &direct);
  ck_assert_uint_ge(sections, 2);
  ck_assert_uint_gt(direct.blocks[0].used_bytes, 4 * MIG_PAGE_BYTES);
  for (size_t m = 0; m < 3; m++) {
    enum mig_multifd_compression method = packed_methods[SIM_MIN(m, (size_t)1)];
    struct packed_plan packed = {.method = method, .flag = method == MIG_MULTIFD_COMPRESSION_ZLIB
                                                               ? 0x2 : 0x4,
                                 .normal = {2, 2}, .pages = {2, 2}, .zstd_frames = m == 2};
    uint64_t payload_at[2];
    build_packed(&channel, &packed, sections, direct.blocks[0].name, payload_at);
    struct cli_sink_result result;
    serve_packed(&stream, &channel, method, &result);
    char message[512];
    mig_error_format(&result.error, message, sizeof message);
    ck_assert_msg(result.error.code == MIG_OK, "%s: %s", mig_multifd_compression_name(method),
                  message);
    ck_assert_uint_eq(result.multifd_pages, 4);
    ck_assert_uint_eq(result.inspect.blocks[0].normal_pages, direct.blocks[0].normal_pages + 4);
    uint64_t payload_bytes = channel.count - MIG_MULTIFD_INITIAL_BYTES -
                             sections * MIG_MULTIFD_PACKET_BYTES;
    ck_assert_uint_eq(result.multifd_payload_bytes, payload_bytes);
    ck_assert_uint_lt(payload_bytes, 4 * MIG_PAGE_BYTES);
    ck_assert_uint_eq(result.multifd_bytes, channel.count);
    ck_assert_int_eq(result.multifd_compression, method);
    cli_sink_result_deinit(&result);
    mig_membuf_deinit(&channel);
  }
  mig_inspect_deinit(&direct);
  mig_membuf_deinit(&stream);
}
END_TEST

enum { AT_FIELD, AT_PAYLOAD, AT_END };  /* where a packed case's error offset must lie */
enum { OWN = 0x100 };               /* packed_case.flag: the method's own compression bits */

/* One fault in a single packed channel (build_packed), and the error it must give. */
struct packed_case {
  enum mig_multifd_compression method;  /* 0: run with zlib and with zstd */
  uint32_t flag;                    /* compression bits of packets with pages, or OWN */
  uint32_t normal0, pages0;         /* packet 0: pages listed, pages compressed */
  bool finish;                      /* zlib: end the stream with packet 0; zstd: window 2^26 */
  uint32_t next_bytes;              /* nonzero: packet 0's next_packet_size */
  int corrupt_packet;               /* -1 none; else 0xff over that payload's first 4 bytes */
  enum mig_multifd_compression configured;  /* 0: the same as the method */
  enum mig_err code;
  int where;                        /* AT_FIELD (flags or next_packet_size of packet 0), ... */
  const char *leaf;                 /* last path element; NULL: the method's name */
  uint32_t packet;                  /* the packet named in the path */
};

static void packed_case_run(const struct mig_membuf *stream, uint64_t sections, const char *block,
                            const struct packed_case *test, enum mig_multifd_compression method,
                            size_t index)
{
  uint32_t own_flag = method == MIG_MULTIFD_COMPRESSION_ZLIB ? 0x2 : 0x4;
  struct packed_plan packed = {.method = method, .flag = test->flag == OWN ? own_flag : test->flag,
                               .normal = {test->normal0, 2}, .pages = {test->pages0, 2},
                               .finish = test->finish, .next_bytes = test->next_bytes,
                               .zstd_window_log = test->finish ? 26 : 0};
  uint64_t payload_at[2];
  struct mig_membuf channel;
  build_packed(&channel, &packed, sections, block, payload_at);
  if (test->corrupt_packet >= 0) memset(channel.bytes + payload_at[test->corrupt_packet], 0xff, 4);
  struct cli_sink_result result;
  serve_packed(stream, &channel, test->configured != 0 ? test->configured : method, &result);
  char message[512], path[MIG_PATH_BYTES_MAX];
  mig_error_format(&result.error, message, sizeof message);
  snprintf(path, sizeof path, "multifd/channel0/packet%" PRIu32 "/%s", test->packet,
           test->leaf != NULL ? test->leaf : mig_multifd_compression_name(method));
  const char *name = mig_multifd_compression_name(method);
  ck_assert_msg(result.error.code == test->code, "case %zu %s: %s", index, name, message);
  ck_assert_msg(strcmp(result.error.path, path) == 0, "case %zu %s: %s, expected %s", index,
                name, message, path);
  uint64_t start = payload_at[test->packet];
  uint64_t end = test->packet == 0 ? payload_at[1] - MIG_MULTIFD_PACKET_BYTES
                                   : channel.count;
  if (test->where == AT_FIELD) {
    uint64_t field = strcmp(test->leaf, "flags") == 0 ? 8 : 20;
    ck_assert_msg(result.error.offset == MIG_MULTIFD_INITIAL_BYTES + field,
                  "case %zu %s: %s", index, name, message);
  } else if (test->where == AT_END) {
    ck_assert_msg(result.error.offset == end, "case %zu %s: %s", index, name, message);
  } else {
    ck_assert_msg(result.error.offset >= start && result.error.offset <= end,
                  "case %zu %s: %s not in [%" PRIu64 ", %" PRIu64 "]", index, name, message,
                  start, end);
  }
  cli_sink_result_deinit(&result);
  mig_membuf_deinit(&channel);
}

START_TEST(cli_sink_multifd_compressed_hostile)
{
  /*
   * Goal: each compressed-payload check rejects with its code, path and an
   * offset inside the faulty field or payload.  Method: for zlib and zstd,
   * one fault per case in packet 0 or 1 of a single channel: flags against
   * the configured method, corrupted data, fewer or more pages than
   * normal_pages, next_packet_size beyond 1 MiB or 0, a zlib stream that
   * ends, a zstd window above 2^25.
   */
  struct mig_membuf stream;
  capture_default(&stream);
  struct mig_inspect direct;
  uint64_t sections = inspect_sections(&stream, &direct);
  ck_assert_uint_ge(sections, 2);
  const enum mig_multifd_compression zlib = MIG_MULTIFD_COMPRESSION_ZLIB;
  const enum mig_multifd_compression zstd = MIG_MULTIFD_COMPRESSION_ZSTD;
  const struct packed_case cases[] = {
      /* flags: the other method, nocomp with pages, both bits */
      {zlib, 0x2, 2, 2, false, 0, -1, zstd, MIG_ERR_BAD_VALUE, AT_FIELD, "flags", 0},
      {zstd, 0x4, 2, 2, false, 0, -1, zlib, MIG_ERR_BAD_VALUE, AT_FIELD, "flags", 0},
      {0, 0x0, 2, 2, false, 0, -1, 0, MIG_ERR_BAD_VALUE, AT_FIELD, "flags", 0},
      {0, 0x6, 2, 2, false, 0, -1, 0, MIG_ERR_BAD_VALUE, AT_FIELD, "flags", 0},
      /* corrupted data at the start of packet 0 (stream header) and of packet 1 */
      {0, OWN, 2, 2, false, 0, 0, 0, MIG_ERR_BAD_VALUE, AT_PAYLOAD, NULL, 0},
      {0, OWN, 2, 2, false, 0, 1, 0, MIG_ERR_BAD_VALUE, AT_PAYLOAD, NULL, 1},
      /* decompressed size: too small, too large (3 pages for 2, 2 for 1) */
      {0, OWN, 2, 1, false, 0, -1, 0, MIG_ERR_TRUNCATED, AT_END, NULL, 0},
      {0, OWN, 2, 3, false, 0, -1, 0, MIG_ERR_TOO_LONG, AT_PAYLOAD, NULL, 0},
      {0, OWN, 1, 2, false, 0, -1, 0, MIG_ERR_TOO_LONG, AT_PAYLOAD, NULL, 0},
      /* next_packet_size beyond QEMU's 1 MiB buffer, and 0 with pages listed */
      {0, OWN, 2, 2, false, MIG_MULTIFD_COMPRESSED_BYTES_MAX + 1, -1, 0,
       MIG_ERR_TOO_LONG, AT_FIELD, "next_packet_size", 0},
      {0, OWN, 2, 0, false, 0, -1, 0, MIG_ERR_TRUNCATED, AT_END, NULL, 0},
      /* zlib: a stream that ends (Z_FINISH) cannot carry the next packet */
      {zlib, 0x2, 2, 2, true, 0, -1, 0, MIG_ERR_BAD_VALUE, AT_PAYLOAD, NULL, 0},
      /* zstd: a frame whose window (2^26) is above MIG_MULTIFD_ZSTD_WINDOW_LOG_MAX */
      {zstd, 0x4, 2, 2, true, 0, -1, 0, MIG_ERR_BAD_VALUE, AT_PAYLOAD, NULL, 0},
  };
  uint32_t runs = 0;
  for (size_t c = 0; c < SIM_ARRAY_COUNT(cases); c++) {
    for (size_t m = 0; m < SIM_ARRAY_COUNT(packed_methods); m++) {
      if (cases[c].method != 0 && cases[c].method != packed_methods[m]) continue;
      packed_case_run(&stream, sections, direct.blocks[0].name, &cases[c], packed_methods[m], c);
      runs++;
    }
  }
  ck_assert_uint_eq(runs, 2 * SIM_ARRAY_COUNT(cases) - 4);
  mig_inspect_deinit(&direct);
  mig_membuf_deinit(&stream);
}
END_TEST

/* CLI_SINK_CHANNELS_MAX + 1 connections, then wait until the sink closes them. */
static int too_many_child(const char *spec, const void *context)
{
  (void)context;
  int fds[CLI_SINK_CHANNELS_MAX + 1];
  for (uint32_t i = 0; i < CLI_SINK_CHANNELS_MAX + 1; i++) {
    fds[i] = connect_unix(spec);
    if (fds[i] < 0) return CHILD_CONNECT;
  }
  uint8_t byte;
  (void)read(fds[0], &byte, 1);     /* returns when the sink closes the channels */
  return CHILD_OK;
}

START_TEST(cli_sink_channel_count_bounded)
{
  /* Goal: connection number CLI_SINK_CHANNELS_MAX + 1 fails the migration (TOO_LONG). */
  struct cli_sink_options options = {.stream_bytes_max = 1 << 20, .idle_ms_max = 10000,
                                     .settle_ms = 500};
  struct cli_sink_result result;
  enum mig_err code;
  ck_assert_int_eq(serve_forked(too_many_child, NULL, &options, &result, &code), CHILD_OK);
  ck_assert_int_eq(code, MIG_ERR_TOO_LONG);
  ck_assert_str_eq(result.error.path, "channel17");
  cli_sink_result_deinit(&result);
}
END_TEST

/* Wall-clock milliseconds, for the idle-limit tests. */
static uint64_t test_now_ms(void)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

/*
 * One connection stalls after 1 byte; another sends a multifd initial packet
 * and then packets without pages back to back for 4 s, so the sink always
 * has bytes to read on it.
 */
static int busy_neighbour_child(const char *spec, const void *context)
{
  (void)context;
  int stalled = connect_unix(spec);
  int busy = connect_unix(spec);
  if (stalled < 0 || busy < 0) return CHILD_CONNECT;
  if (!write_all(stalled, (const uint8_t *)"Q", 1)) return CHILD_WRITE;
  uint8_t initial[MIG_MULTIFD_INITIAL_BYTES] = {0};
  put_be32(initial, MIG_MULTIFD_MAGIC), put_be32(initial + 4, MIG_MULTIFD_VERSION);
  uint8_t packet[MIG_MULTIFD_PACKET_BYTES] = {0};
  put_be32(packet, MIG_MULTIFD_MAGIC), put_be32(packet + 4, MIG_MULTIFD_VERSION);
  if (!write_all(busy, initial, sizeof initial)) return CHILD_OK;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  do {
    if (!write_all(busy, packet, sizeof packet)) return CHILD_OK;  /* the sink closed it */
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while (now.tv_sec - start.tv_sec < 4);
  return CHILD_OK;
}

START_TEST(cli_sink_idle_per_connection)
{
  /* Goal: each connection has its own idle limit: a connection stalled after one byte fails
   * after idle_ms_max although a second one sends all the time (issue 9: one shared timer
   * kept a stalled main channel open while another connection trickled bytes). */
  struct cli_sink_options options = {.stream_bytes_max = 1 << 20, .idle_ms_max = 1000,
                                     .settle_ms = 500};
  struct cli_sink_result result;
  enum mig_err code;
  uint64_t started = test_now_ms();
  (void)serve_forked(busy_neighbour_child, NULL, &options, &result, &code);
  uint64_t elapsed = test_now_ms() - started;
  ck_assert_int_eq(code, MIG_ERR_TRUNCATED);
  ck_assert_str_eq(result.error.path, "channel0");
  ck_assert_uint_eq(result.error.offset, 1);
  /* The sink failed after ~1 s; the child stops at its next write. */
  ck_assert_msg(elapsed >= 1000 && elapsed < 2500, "failed after %" PRIu64 " ms", elapsed);
  cli_sink_result_deinit(&result);
}
END_TEST

START_TEST(cli_sink_refuses_at_the_first_bad_byte)
{
  /* Goal: a QEVM header followed by 256 MiB of zeros is refused where the zeros start (an
   * EOF record that nothing valid follows), after reading a small part of them: the main
   * channel is walked as it arrives, not buffered whole (issue 9). */
  size_t count = (size_t)256 << 20;
  uint8_t *bytes = calloc(1, count);
  ck_assert_ptr_nonnull(bytes);
  put_be32(bytes, MIG_FILE_MAGIC);
  put_be32(bytes + 4, MIG_FILE_VERSION);
  struct source_plan plan = {.bytes = bytes, .count = count};
  struct cli_sink_result result;
  (void)serve_with_source(&plan, &result);   /* the source's write fails when the sink closes */
  ck_assert_int_eq(result.error.code, MIG_ERR_TRAILING);
  ck_assert_uint_eq(result.error.offset, 8);
  ck_assert_str_eq(result.error.path, "eof");
  ck_assert_msg(result.stream_bytes < ((uint64_t)8 << 20), "read %" PRIu64 " bytes",
                result.stream_bytes);
  cli_sink_result_deinit(&result);
  free(bytes);
}
END_TEST

START_TEST(cli_sink_listen_rejects_bad_specs)
{
  /* Goal: listen specs other than tcp:IPv4:PORT and unix:PATH fail with a message. */
  static const char *const bad[] = {"tcp:localhost:1", "tcp:127.0.0.1:99999", "udp:1",
                                    "unix:", "tcp:127.0.0.1"};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(bad); i++) {
    char error[256] = "";
    uint16_t port = 0;
    ck_assert_int_eq(cli_sink_listen(bad[i], &port, error, sizeof error), -1);
    ck_assert_msg(strstr(error, bad[i]) != NULL, "%s: %s", bad[i], error);
  }
  char error[256];
  uint16_t port = 0;
  int fd = cli_sink_listen("tcp:127.0.0.1:0", &port, error, sizeof error);
  ck_assert_msg(fd >= 0, "%s", error);
  ck_assert_uint_gt(port, 0);
  close(fd);
}
END_TEST

/* ---------------------------------------------------------------- postcopy */

/* A postcopy source: the stream up to the package's end, the page requests, the rest. */
struct postcopy_source {
  const struct mig_membuf *stream;
  const struct pcs_offsets *at;
  const struct pcs_plan *plan;
  uint32_t requests;                /* REQ_PAGES(_ID) messages the sink must send */
  uint32_t shut_value;
};

enum { CHILD_REQUEST = 20 };

/* Reads one page request as QEMU's source would (mig_rp_read); its page index, or -1. */
static int64_t read_request(int fd, struct mig_rp_state *state)
{
  uint8_t message[4 + MIG_RP_MESSAGE_BYTES_MAX];
  size_t got = 0, need = 4;
  while (got < need) {
    ssize_t n = read(fd, message + got, need - got);
    if (n <= 0) return -1;
    got += (size_t)n;
    if (got == 4) need = 4 + ((size_t)message[2] << 8 | message[3]);
    if (need > sizeof message) return -1;
  }
  struct mig_reader reader;
  mig_reader_init_memory(&reader, message, got);
  struct mig_rp_message parsed;
  if (mig_rp_read(state, &reader, &parsed) != MIG_OK || parsed.length_bytes != MIG_PAGE_BYTES ||
      (parsed.type != MIG_RP_REQ_PAGES_ID && parsed.type != MIG_RP_REQ_PAGES)) {
    return -1;
  }
  return (int64_t)(parsed.start / MIG_PAGE_BYTES);
}

static int postcopy_child(const char *spec, const void *context)
{
  const struct postcopy_source *source = context;
  int fd = connect_unix(spec);
  if (fd < 0) return CHILD_CONNECT;
  size_t first = (size_t)source->at->package_end;
  if (!write_all(fd, source->stream->bytes, first)) return CHILD_WRITE;
  struct mig_rp_block block = {"pc.ram", (uint64_t)source->plan->pages * MIG_PAGE_BYTES};
  struct mig_rp_state state;
  mig_rp_state_init(&state, MIG_RP_TYPE_MAX_7_2, MIG_PAGE_BYTES, &block, 1);
  uint64_t asked = 0;
  for (uint32_t i = 0; i < source->requests; i++) {
    int64_t page = read_request(fd, &state);
    /* Each request names a page the sink lacks (discarded), once. */
    if (page < 0 || ((source->plan->discard_mask >> page) & 1u) == 0 ||
        ((asked >> page) & 1u) != 0) {
      return CHILD_REQUEST;
    }
    asked |= UINT64_C(1) << page;
  }
  if (!write_all(fd, source->stream->bytes + first, source->stream->count - first)) {
    return CHILD_WRITE;
  }
  shutdown(fd, SHUT_WR);
  if (!read_rp(fd, 1, source->shut_value)) return CHILD_SHUT;
  close(fd);
  return CHILD_OK;
}

static int serve_postcopy(const struct pcs_plan *plan, uint32_t requests_max, uint32_t requests,
                          uint32_t shut_value, struct cli_sink_result *result)
{
  struct mig_membuf stream;
  struct pcs_offsets at;
  pcs_build(plan, &stream, &at);
  struct postcopy_source source = {.stream = &stream, .at = &at, .plan = plan,
                                   .requests = requests, .shut_value = shut_value};
  struct cli_sink_options options = {.stream_bytes_max = (size_t)1 << 30, .idle_ms_max = 10000,
                                     .settle_ms = 5000, .postcopy_seed = 3,
                                     .postcopy_requests_max = requests_max};
  enum mig_err code;
  int child = serve_forked(postcopy_child, &source, &options, result, &code);
  mig_membuf_deinit(&stream);
  return child;
}

START_TEST(cli_sink_postcopy_requests_answered)
{
  /* Goal: at LISTEN the sink asks for 3 of the 4 missing pages, the source reads valid
   * REQ_PAGES_ID/REQ_PAGES for distinct discarded pages, each arrives once: SHUT(0). */
  const struct pcs_plan plan = {.pages = 16, .discard_mask = 0x0c30, .post_mask = 0x0c30,
                                .post_twice = -1, .return_path = true};
  struct cli_sink_result result;
  ck_assert_int_eq(serve_postcopy(&plan, 3, 3, 0, &result), CHILD_OK);
  char message[512];
  mig_error_format(&result.error, message, sizeof message);
  ck_assert_msg(result.error.code == MIG_OK, "%s", message);
  ck_assert_int_eq(result.postcopy_state, MIG_POSTCOPY_END);
  ck_assert_uint_eq(result.requests_sent, 3);
  ck_assert_uint_eq(result.postcopy.requested_count, 3);
  ck_assert_uint_eq(result.postcopy.requested_arrived_count, 3);
  ck_assert_uint_eq(result.postcopy.missing_at_listen_count, 4);
  ck_assert_uint_eq(result.postcopy.postcopy_pages_count, 4);
  ck_assert(result.shut_sent && result.shut_value == 0);
  cli_sink_result_deinit(&result);
}
END_TEST

START_TEST(cli_sink_postcopy_page_twice_refused)
{
  /* Goal: a requested page sent twice after LISTEN fails the sink at the second copy: SHUT(1). */
  const struct pcs_plan plan = {.pages = 16, .discard_mask = 0x0c30, .post_mask = 0x0c30,
                                .post_twice = 10, .return_path = true};
  struct cli_sink_result result;
  ck_assert_int_eq(serve_postcopy(&plan, 4, 4, 1, &result), CHILD_OK);
  char message[512];
  mig_error_format(&result.error, message, sizeof message);
  ck_assert_msg(result.error.code == MIG_ERR_RAM_ORDER, "%s", message);
  ck_assert_str_eq(result.error.path, "ram/pc.ram");
  ck_assert_msg(strstr(result.error.detail, "0xa arrived twice") != NULL, "%s", message);
  ck_assert(result.shut_sent && result.shut_value == 1);
  cli_sink_result_deinit(&result);
}
END_TEST

START_TEST(cli_sink_postcopy_needs_return_path)
{
  /* Goal: LISTEN on a stream without OPEN_RETURN_PATH is refused: requests could not go. */
  const struct pcs_plan plan = {.pages = 16, .discard_mask = 0x0c30, .post_mask = 0x0c30,
                                .post_twice = -1};
  struct mig_membuf stream;
  struct pcs_offsets at;
  pcs_build(&plan, &stream, &at);
  struct source_plan source = {.bytes = stream.bytes, .count = stream.count};
  struct cli_sink_result result;
  struct cli_sink_options options = {.stream_bytes_max = (size_t)1 << 30, .idle_ms_max = 10000,
                                     .settle_ms = 5000, .postcopy_requests_max = 4};
  enum mig_err code;
  int child = serve_forked(source_child, &source, &options, &result, &code);
  ck_assert(child == CHILD_OK || child == CHILD_WRITE);  /* the sink may close first */
  ck_assert_int_eq(code, MIG_ERR_BAD_COMMAND);
  ck_assert_str_eq(result.error.path, "command/POSTCOPY_LISTEN");
  ck_assert_uint_eq(result.error.offset, at.listen);
  cli_sink_result_deinit(&result);
  mig_membuf_deinit(&stream);
}
END_TEST

Suite *cli_sink_suite(void)
{
  Suite *suite = suite_create("cli_sink");
  TCase *serve = tcase_create("serve");
  tcase_set_timeout(serve, 120);
  tcase_add_test(serve, cli_sink_serve_migsim_stream);
  tcase_add_test(serve, cli_sink_return_path_ping_pong_shut);
  tcase_add_test(serve, cli_sink_multifd_channels_counted);
  tcase_add_test(serve, cli_sink_multifd_compressed_counted);
  tcase_add_test(serve, cli_sink_listen_rejects_bad_specs);
  tcase_add_test(serve, cli_sink_postcopy_requests_answered);
  suite_add_tcase(suite, serve);
  TCase *corrupt = tcase_create("corrupt");
  tcase_set_timeout(corrupt, 120);
  tcase_add_test(corrupt, cli_sink_truncated_stream_fails_with_shut_1);
  tcase_add_test(corrupt, cli_sink_ping_without_return_path);
  tcase_add_test(corrupt, cli_sink_multifd_hostile);
  tcase_add_test(corrupt, cli_sink_multifd_compressed_hostile);
  tcase_add_test(corrupt, cli_sink_multifd_uuid_matches_configuration);
  tcase_add_test(corrupt, cli_sink_fake_trailer_in_page_data);
  tcase_add_test(corrupt, cli_sink_fake_trailer_in_device_state);
  tcase_add_test(corrupt, cli_sink_channel_count_bounded);
  tcase_add_test(corrupt, cli_sink_idle_per_connection);
  tcase_add_test(corrupt, cli_sink_refuses_at_the_first_bad_byte);
  tcase_add_test(corrupt, cli_sink_postcopy_page_twice_refused);
  tcase_add_test(corrupt, cli_sink_postcopy_needs_return_path);
  suite_add_tcase(suite, corrupt);
  return suite;
}
