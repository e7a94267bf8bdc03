/*
 * cli_proxy_test.c: `migsim proxy` without QEMU.  A forked child runs
 * cli_proxy_serve between two TCP loopback sockets of the test, which plays
 * source and destination: it writes fixed byte streams both ways, in chunk
 * sizes drawn from a seed, and keeps what arrives.  The checks: the bytes
 * forwarded are a pure function of the bytes sent and the plan (two runs
 * with different chunkings give the same bytes, equal to the input with the
 * plan's XORs applied by the test itself), truncate and reset cut at their
 * byte, drop kills one channel and spares the other, delays and stalls take
 * their time, and the fault lines and JSON log say what fired where.
 */
#include "sim_base.h"

#include "cli_proxy.h"
#include "cli_sink.h"
#include "conform_run.h"
#include "sim_check.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_DOWN_BYTES 200000u        /* source -> destination, per channel */
#define TEST_UP_BYTES 30000u           /* destination -> source, per channel */
#define TEST_CHANNELS_MAX 2u

/* What one channel's two ends saw. */
struct end_result {
  uint8_t at_destination[TEST_DOWN_BYTES];
  size_t destination_bytes;
  int destination_errno;               /* first send/recv error; 0: clean EOF */
  uint8_t at_source[TEST_UP_BYTES];
  size_t source_bytes;
  int source_errno;
};

struct run {
  struct end_result ends[TEST_CHANNELS_MAX];
  uint64_t elapsed_ms;
  char out[8192];                      /* the proxy's human lines */
  char log[8192];                      /* its JSON lines */
  int proxy_status;
};

/* The streams: byte i of channel c's direction is a fixed function of (c, i). */
static uint8_t down_byte(uint32_t channel, size_t i)
{
  return (uint8_t)((i * 131u) ^ (i >> 9) ^ (channel * 77u));
}

static uint8_t up_byte(uint32_t channel, size_t i)
{
  return (uint8_t)((i * 29u) + 3u + channel);
}

static uint64_t monotonic_ms(void)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

/* 1..4096, from a xorshift state: how the test chops its writes. */
static size_t chunk_next(uint64_t *state)
{
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return 1 + (size_t)(*state % 4096u);
}

static void read_file(const char *path, char *out, size_t out_bytes)
{
  FILE *file = fopen(path, "r");
  ck_assert_ptr_nonnull(file);
  size_t got = fread(out, 1, out_bytes - 1, file);
  out[got] = 0;
  fclose(file);
}

/* The child: serves one session on listen_fd towards to, then exits. */
static void proxy_child(int listen_fd, const char *to, const char *plan_text,
                        const char *folder)
{
  static struct conform_plan plan;
  char error[1024], path[256];
  if (!conform_plan_parse(plan_text, strlen(plan_text), "test", &plan, error, sizeof error)) {
    fprintf(stderr, "%s\n", error);
    _exit(3);
  }
  snprintf(path, sizeof path, "%s/out.txt", folder);
  FILE *out = fopen(path, "w");
  snprintf(path, sizeof path, "%s/log.jsonl", folder);
  FILE *log = fopen(path, "w");
  struct cli_proxy_options options = {.to = to, .plan = &plan, .sessions_max = 1, .out = out,
                                      .log = log};
  struct cli_proxy_result result;
  int rc = cli_proxy_serve(listen_fd, &options, &result);
  cli_proxy_print_summary(out, &plan, &result);
  fclose(out);
  fclose(log);
  _exit(rc == 0 ? 0 : 4);
}

struct endpoint {
  int fd;
  size_t written, write_total;
  bool read_done, shut;
  uint64_t chunks;                     /* xorshift state */
};

/* One step of one end: write a chunk of its stream, read what arrived. */
static void endpoint_step(struct endpoint *e, short revents, bool source, uint32_t channel,
                          struct end_result *r)
{
  uint8_t chunk[4096];
  if ((revents & POLLOUT) != 0 && e->written < e->write_total) {
    size_t n = chunk_next(&e->chunks);   /* not inside SIM_MIN: it evaluates twice */
    n = SIM_MIN(n, e->write_total - e->written);
    for (size_t i = 0; i < n; i++) {
      chunk[i] = source ? down_byte(channel, e->written + i) : up_byte(channel, e->written + i);
    }
    ssize_t put = send(e->fd, chunk, n, MSG_NOSIGNAL);
    if (put > 0) e->written += (size_t)put;
    if (put < 0 && errno != EAGAIN) {
      /* Peer gone: stop writing.  send may be the call that reports (and clears) the reset. */
      int *seen = source ? &r->source_errno : &r->destination_errno;
      if (*seen == 0) *seen = errno;
      e->written = e->write_total;
    }
  }
  if (e->written == e->write_total && !e->shut) {
    shutdown(e->fd, SHUT_WR);
    e->shut = true;
  }
  if ((revents & (POLLIN | POLLHUP | POLLERR)) == 0 || e->read_done) return;
  uint8_t *into = source ? r->at_source + r->source_bytes
                         : r->at_destination + r->destination_bytes;
  size_t room = source ? sizeof r->at_source - r->source_bytes
                       : sizeof r->at_destination - r->destination_bytes;
  ssize_t got = recv(e->fd, room > 0 ? into : chunk, room > 0 ? room : sizeof chunk, 0);
  if (got < 0 && errno == EAGAIN) return;
  ck_assert_msg(got <= 0 || room > 0, "more bytes arrived than were sent");
  if (got <= 0) {
    e->read_done = true;
    int *seen = source ? &r->source_errno : &r->destination_errno;
    if (*seen == 0 && got < 0) *seen = errno;
    return;
  }
  *(source ? &r->source_bytes : &r->destination_bytes) += (size_t)got;
}

/* Connects channel_count channels through the proxy, in order, non-blocking. */
static void endpoints_open(int proxy_port, int destination_fd, uint32_t channel_count,
                           uint64_t seed, struct endpoint ends[][2])
{
  for (uint32_t c = 0; c < channel_count; c++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)proxy_port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&address, sizeof address), 0);
    int accepted = accept(destination_fd, NULL, NULL);   /* the proxy's pair of fd */
    ck_assert_int_ge(accepted, 0);
    ends[c][0] = (struct endpoint){.fd = fd, .write_total = TEST_DOWN_BYTES,
                                   .chunks = seed * 2 + 1 + c};
    ends[c][1] = (struct endpoint){.fd = accepted, .write_total = TEST_UP_BYTES,
                                   .chunks = seed * 3 + 7 + c};
    for (int side = 0; side < 2; side++) {
      int flags = fcntl(ends[c][side].fd, F_GETFL);
      ck_assert_int_eq(fcntl(ends[c][side].fd, F_SETFL, flags | O_NONBLOCK), 0);
    }
  }
}

/*
 * Runs plan_text over channel_count channels; chunk sizes come from seed.
 * pause_ms > 0: a slow destination, whose sockets have a small receive
 * buffer and which reads nothing for its first pause_ms.
 */
static void run_proxy_paused(const char *plan_text, uint32_t channel_count, uint64_t seed,
                             uint64_t pause_ms, struct run *run)
{
  memset(run, 0, sizeof *run);
  char folder[] = "/tmp/migsim-proxy-XXXXXX", message[256], to[64], path[300];
  ck_assert_ptr_nonnull(mkdtemp(folder));
  uint16_t proxy_port = 0, destination_port = 0;
  int destination_fd = cli_sink_listen("tcp:127.0.0.1:0", &destination_port, message,
                                       sizeof message);
  int proxy_fd = cli_sink_listen("tcp:127.0.0.1:0", &proxy_port, message, sizeof message);
  ck_assert_msg(destination_fd >= 0 && proxy_fd >= 0, "%s", message);
  if (pause_ms > 0) {
    int small = 4096;  /* accepted sockets inherit it: the proxy's bytes queue on its side */
    ck_assert_int_eq(setsockopt(destination_fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  }
  snprintf(to, sizeof to, "tcp:127.0.0.1:%u", destination_port);
  uint64_t started = monotonic_ms();
  pid_t child = fork();
  ck_assert_int_ge(child, 0);
  if (child == 0) proxy_child(proxy_fd, to, plan_text, folder);
  close(proxy_fd);
  struct endpoint ends[TEST_CHANNELS_MAX][2];
  endpoints_open(proxy_port, destination_fd, channel_count, seed, ends);
  uint64_t reading_from = monotonic_ms() + pause_ms;
  for (bool busy = true; busy;) {
    struct pollfd fds[2 * TEST_CHANNELS_MAX];
    bool paused = monotonic_ms() < reading_from;
    for (uint32_t i = 0; i < 2 * channel_count; i++) {
      const struct endpoint *e = &ends[i / 2][i % 2];
      bool reads = !e->read_done && !(paused && i % 2 == 1);
      short events = (short)((reads ? POLLIN : 0) | (e->shut ? 0 : POLLOUT));
      fds[i] = (struct pollfd){.fd = events != 0 ? e->fd : -1, .events = events};
    }
    int ready = poll(fds, 2 * channel_count, paused ? 10 : 20000);
    ck_assert_int_ge(ready, paused ? 0 : 1);   /* else: a hang */
    busy = false;
    for (uint32_t i = 0; i < 2 * channel_count; i++) {
      struct endpoint *e = &ends[i / 2][i % 2];
      endpoint_step(e, fds[i].revents, i % 2 == 0, i / 2, &run->ends[i / 2]);
      busy = busy || !e->read_done || !e->shut;
    }
  }
  run->elapsed_ms = monotonic_ms() - started;
  ck_assert_uint_ge(run->elapsed_ms, pause_ms);
  for (uint32_t i = 0; i < 2 * channel_count; i++) close(ends[i / 2][i % 2].fd);
  ck_assert_int_eq(waitpid(child, &run->proxy_status, 0), child);
  close(destination_fd);
  snprintf(path, sizeof path, "%s/out.txt", folder);
  read_file(path, run->out, sizeof run->out);
  unlink(path);
  snprintf(path, sizeof path, "%s/log.jsonl", folder);
  read_file(path, run->log, sizeof run->log);
  unlink(path);
  rmdir(folder);
  ck_assert_msg(WIFEXITED(run->proxy_status) && WEXITSTATUS(run->proxy_status) == 0,
                "proxy status %d:\n%s", run->proxy_status, run->out);
}

static void run_proxy(const char *plan_text, uint32_t channel_count, uint64_t seed,
                      struct run *run)
{
  run_proxy_paused(plan_text, channel_count, seed, 0, run);
}

/* The expected bytes: the stream with masks XORed in at their offsets, as the test computes. */
static void expected_stream(bool down, uint32_t channel, const uint32_t *at,
                            const char *const *masks, size_t mask_count, uint8_t *out,
                            size_t bytes)
{
  for (size_t i = 0; i < bytes; i++) out[i] = down ? down_byte(channel, i) : up_byte(channel, i);
  for (size_t m = 0; m < mask_count; m++) {
    for (size_t k = 0; masks[m][2 * k] != 0; k++) {
      unsigned value;
      ck_assert_int_eq(sscanf(masks[m] + 2 * k, "%2x", &value), 1);
      out[at[m] + k] ^= (uint8_t)value;
    }
  }
}

static const char plan_same_bytes[] =
    "{\"faults\": [\n"
    " {\"kind\": \"corrupt\", \"at\": {\"byte\": 0}, \"xor\": \"01\"},\n"
    " {\"kind\": \"corrupt\", \"at\": {\"byte\": 65530}, \"xor\": \"ffffffffffffffffffffffff\"},\n"
    " {\"kind\": \"delay\", \"at\": {\"byte\": 100000}, \"ms\": 60},\n"
    " {\"kind\": \"corrupt\", \"at\": {\"byte\": 199999}, \"xor\": \"80\"},\n"
    " {\"kind\": \"stall\", \"direction\": \"to-source\", \"at\": {\"byte\": 10},"
    " \"until_ms\": 120},\n"
    " {\"kind\": \"corrupt\", \"direction\": \"to-source\", \"at\": {\"byte\": 4095},"
    " \"xor\": \"5a5a\"},\n"
    " {\"kind\": \"corrupt\", \"channel\": 1, \"at\": {\"byte\": 7}, \"xor\": \"ff\"}\n"
    "]}\n";

/* The same plan twice, chunked differently: the same bytes, equal to the test's own XOR. */
START_TEST(cli_proxy_same_plan_same_bytes)
{
  static struct run first, second;
  static uint8_t expected[TEST_DOWN_BYTES];
  run_proxy(plan_same_bytes, 1, 1, &first);
  run_proxy(plan_same_bytes, 1, 99, &second);
  const struct end_result *a = &first.ends[0], *b = &second.ends[0];
  ck_assert_uint_eq(a->destination_bytes, TEST_DOWN_BYTES);
  ck_assert_uint_eq(b->destination_bytes, TEST_DOWN_BYTES);
  ck_assert(memcmp(a->at_destination, b->at_destination, TEST_DOWN_BYTES) == 0);
  ck_assert_uint_eq(a->source_bytes, TEST_UP_BYTES);
  ck_assert(memcmp(a->at_source, b->at_source, TEST_UP_BYTES) == 0);
  const uint32_t down_at[] = {0, 65530, 199999};
  const char *const down_masks[] = {"01", "ffffffffffffffffffffffff", "80"};
  expected_stream(true, 0, down_at, down_masks, 3, expected, TEST_DOWN_BYTES);
  ck_assert(memcmp(a->at_destination, expected, TEST_DOWN_BYTES) == 0);
  const uint32_t up_at[] = {4095};
  const char *const up_masks[] = {"5a5a"};
  expected_stream(false, 0, up_at, up_masks, 1, expected, TEST_UP_BYTES);
  ck_assert(memcmp(a->at_source, expected, TEST_UP_BYTES) == 0);
  ck_assert_uint_ge(first.elapsed_ms, 120);          /* the stall until 120 ms */
  ck_assert_ptr_nonnull(strstr(first.out, "proxy: fault 2 fired: session 0 channel 0 "
                                          "to-destination byte 100000 delay\n"));
  ck_assert_ptr_nonnull(strstr(first.out, "proxy: fault 4 fired: session 0 channel 0 "
                                          "to-source byte 10 stall\n"));
  ck_assert_ptr_nonnull(strstr(first.out, "proxy: session 0 channel 0 closed (closed): "
                                          "to-destination 200000 bytes received, 200000 "
                                          "forwarded; to-source 30000 received, 30000 "
                                          "forwarded\n"));
  ck_assert_ptr_nonnull(strstr(first.out, "faults fired 6 of 7\n"));
  ck_assert_ptr_nonnull(strstr(first.out, "proxy: fault 6 not fired: corrupt channel 1 "
                                          "to-destination at byte 7 xor 1 byte(s)\n"));
}
END_TEST

/* Truncate: the destination gets exactly the first N bytes and a clean EOF; the rest flows. */
START_TEST(cli_proxy_truncate_at_byte)
{
  static struct run run;
  run_proxy("{\"faults\": [{\"kind\": \"truncate\", \"at\": {\"byte\": 70001}}]}", 1, 5, &run);
  const struct end_result *r = &run.ends[0];
  ck_assert_uint_eq(r->destination_bytes, 70001);
  ck_assert_int_eq(r->destination_errno, 0);
  for (size_t i = 0; i < r->destination_bytes; i++) {
    ck_assert_uint_eq(r->at_destination[i], down_byte(0, i));
  }
  ck_assert_uint_eq(r->source_bytes, TEST_UP_BYTES);
  ck_assert_ptr_nonnull(strstr(run.out, "proxy: fault 0 fired: session 0 channel 0 "
                                        "to-destination byte 70001 truncate\n"));
  ck_assert_ptr_nonnull(strstr(run.out, "to-destination 200000 bytes received, 70001 "
                                        "forwarded; to-source 30000 received, 30000 "
                                        "forwarded\n"));
}
END_TEST

/*
 * A reset connection: the first failing call says ECONNRESET, or EPIPE when a
 * recv that raced with the RST already consumed the error (seen once in six runs).
 */
static bool reset_seen(int error)
{
  return error == ECONNRESET || error == EPIPE;
}

/*
 * Reset: the destination gets no byte past the trigger and both ends see a
 * reset.  On a loaded machine one end now and then reads a plain EOF where
 * the RST was due (seen once in about ten runs), so the check that both see
 * the reset must hold in one of three runs; the byte bound holds in all.
 */
START_TEST(cli_proxy_reset_at_byte)
{
  static struct run run;
  bool both_reset = false;
  for (int attempt = 0; attempt < 3 && !both_reset; attempt++) {
    run_proxy("{\"faults\": [{\"kind\": \"reset\", \"at\": {\"byte\": 50000}}]}", 1, 3, &run);
    const struct end_result *r = &run.ends[0];
    ck_assert_uint_le(r->destination_bytes, 50000);
    for (size_t i = 0; i < r->destination_bytes; i++) {
      ck_assert_uint_eq(r->at_destination[i], down_byte(0, i));
    }
    ck_assert_ptr_nonnull(strstr(run.out, "proxy: session 0 channel 0 closed (reset by fault 0):"
                                          " to-destination 50000 bytes received, 50000 "
                                          "forwarded"));
    both_reset = reset_seen(r->destination_errno) && reset_seen(r->source_errno);
    if (!both_reset) {
      fprintf(stderr, "cli_proxy_reset_at_byte: run %d: destination %s, source %s\n", attempt,
              strerror(r->destination_errno), strerror(r->source_errno));
    }
  }
  ck_assert_msg(both_reset, "no run where both ends saw the reset");
}
END_TEST

/* Drop on channel 1: that connection is reset, channel 0 completes untouched; the log says so. */
START_TEST(cli_proxy_drop_one_channel)
{
  static struct run run;
  run_proxy("{\"faults\": [{\"kind\": \"drop\", \"channel\": 1, \"at\": {\"byte\": 1000}}]}", 2,
            8, &run);
  ck_assert_uint_eq(run.ends[0].destination_bytes, TEST_DOWN_BYTES);
  ck_assert_uint_eq(run.ends[0].source_bytes, TEST_UP_BYTES);
  ck_assert_int_eq(run.ends[0].destination_errno, 0);
  for (size_t i = 0; i < TEST_DOWN_BYTES; i++) {
    ck_assert_uint_eq(run.ends[0].at_destination[i], down_byte(0, i));
  }
  ck_assert_uint_le(run.ends[1].destination_bytes, 1000);
  ck_assert_msg(reset_seen(run.ends[1].destination_errno), "%s",
                strerror(run.ends[1].destination_errno));
  /* The log: connect 0, connect 1, the fault, then the closes and the session. */
  const char *line = strstr(run.log, "{\"event\":\"fault\"");
  ck_assert_ptr_nonnull(line);
  json_error_t error;
  json_t *fault = json_loadb(line, strcspn(line, "\n"), 0, &error);
  ck_assert_ptr_nonnull(fault);
  ck_assert_int_eq(json_integer_value(json_object_get(fault, "channel")), 1);
  ck_assert_int_eq(json_integer_value(json_object_get(fault, "byte")), 1000);
  ck_assert_str_eq(json_string_value(json_object_get(fault, "kind")), "drop");
  ck_assert_str_eq(json_string_value(json_object_get(fault, "direction")), "to-destination");
  json_decref(fault);
  ck_assert_ptr_nonnull(strstr(run.log, "\"how\":\"dropped by fault 0\""));
  ck_assert_ptr_nonnull(strstr(run.log, "{\"event\":\"session-end\",\"session\":0,"
                                        "\"channels\":2,"));
}
END_TEST

/*
 * A reset reaches a slow reader after every byte before its trigger: the
 * destination reads nothing for 300 ms and its window is small, so when the
 * fault fires most of the 50000 bytes still sit in the proxy's send queue.
 * Reset at once (SO_LINGER 0), they were thrown away and the reader saw the
 * reset at about byte 8 KiB; the proxy now waits for the queue to drain.
 * Drop the same, on one channel of two.
 */
START_TEST(cli_proxy_reset_slow_reader_gets_every_byte)
{
  static struct run run;
  static const char *const plans[] = {
      "{\"faults\": [{\"kind\": \"reset\", \"at\": {\"byte\": 50000}}]}",
      "{\"faults\": [{\"kind\": \"drop\", \"channel\": 1, \"at\": {\"byte\": 50000}}]}",
  };
  for (uint32_t p = 0; p < 2; p++) {
    uint32_t channel = p;  /* the reset's channel 0, the drop's channel 1 */
    run_proxy_paused(plans[p], p + 1, 5, 300, &run);
    const struct end_result *r = &run.ends[channel];
    ck_assert_msg(r->destination_bytes == 50000, "plan %u: %zu bytes before the reset", p,
                  r->destination_bytes);
    for (size_t i = 0; i < r->destination_bytes; i++) {
      ck_assert_uint_eq(r->at_destination[i], down_byte(channel, i));
    }
    ck_assert_ptr_nonnull(strstr(run.log, p == 0 ? "\"how\":\"reset by fault 0\""
                                                 : "\"how\":\"dropped by fault 0\""));
  }
  ck_assert_uint_eq(run.ends[0].destination_bytes, TEST_DOWN_BYTES);  /* the drop spared it */
}
END_TEST

/* The command line refuses bad options before listening, with exit 2. */
START_TEST(cli_proxy_main_bad_input)
{
  char *missing[] = {"--listen", "tcp:127.0.0.1:0", "--to", "tcp:127.0.0.1:1"};
  ck_assert_int_eq(cli_proxy_main(4, missing), CONFORM_BAD_INPUT);
  char *bad_to[] = {"--listen", "tcp:127.0.0.1:0", "--to", "tcp:localhost:1", "--plan", "x"};
  ck_assert_int_eq(cli_proxy_main(6, bad_to), CONFORM_BAD_INPUT);
  char *no_plan[] = {"--listen", "tcp:127.0.0.1:0", "--to", "unix:/tmp/x", "--plan",
                     "/nonexistent/plan.json"};
  ck_assert_int_eq(cli_proxy_main(6, no_plan), CONFORM_BAD_INPUT);
  ck_assert_str_eq(cli_proxy_check_address("tcp:localhost:1"),
                   "HOST must be a numeric IPv4 address");
  ck_assert_str_eq(cli_proxy_check_address("tcp:127.0.0.1:0"), "PORT '0' is below 1");
  ck_assert_str_eq(cli_proxy_check_address("udp:1"), "expected tcp:HOST:PORT or unix:PATH");
  ck_assert_ptr_null(cli_proxy_check_address("unix:/tmp/s"));
}
END_TEST

Suite *cli_proxy_suite(void)
{
  Suite *suite = suite_create("cli_proxy");
  TCase *core = tcase_create("core");
  tcase_set_timeout(core, 60);
  tcase_add_test(core, cli_proxy_same_plan_same_bytes);
  tcase_add_test(core, cli_proxy_truncate_at_byte);
  tcase_add_test(core, cli_proxy_reset_at_byte);
  tcase_add_test(core, cli_proxy_drop_one_channel);
  tcase_add_test(core, cli_proxy_reset_slow_reader_gets_every_byte);
  tcase_add_test(core, cli_proxy_main_bad_input);
  suite_add_tcase(suite, core);
  return suite;
}
