/*
 * cli_proxy.c: `migsim proxy`, a fault-injecting proxy for real QEMU
 * migrations (overview in cli_proxy.h, plan language and QEMU 7.2's
 * behaviour in docs/proxy.md).  One poll loop over non-blocking sockets;
 * each connection is two pipes (to-destination, to-source) with a bounded
 * buffer each, so memory is fixed: CLI_PROXY_CHANNELS_MAX x 2 x 64 KiB.
 */
#include "sim_base.h"

#include "cli_args.h"
#include "cli_proxy.h"
#include "cli_sink.h"
#include "conform_run.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PROXY_FOREVER UINT64_MAX
#define PROXY_POLL_FDS_MAX (1u + 2u * CLI_PROXY_CHANNELS_MAX)
#define PROXY_DRAIN_MS 2000u          /* a fault's reset waits this long for its peers to read */
#define PROXY_DRAIN_POLL_MS 1         /* how often the send queues are looked at meanwhile */

_Static_assert(CLI_PROXY_CHANNELS_MAX == CLI_SINK_CHANNELS_MAX, "as many channels as the sink");

/* One direction of a connection. */
struct pipe {
  uint64_t received;                /* bytes read from the input: offset of the next byte */
  uint64_t forwarded;               /* bytes written to the output */
  size_t sent;                      /* buffer[sent, filled) waits for the output */
  size_t filled;
  bool input_done;                  /* the input ended (EOF) */
  bool output_shut;                 /* FIN sent to the output */
  bool truncated;                   /* a truncate fired: input is read and dropped */
  uint64_t hold_until_ms;           /* delay/stall: no I/O before; 0 none; FOREVER */
  uint8_t buffer[CLI_PROXY_PIPE_BYTES];
};

struct connection {
  int fds[2];                       /* [0] source side (accepted), [1] destination side */
  bool open;
  uint32_t index;                   /* channel index in its session */
  struct pipe pipes[2];             /* [TO_DESTINATION] reads fds[0]; [TO_SOURCE] fds[1] */
  uint64_t reset_due_ms;            /* a fault's reset is pending: no more I/O, and each
                                       side's reset once its peer took the queued bytes or at
                                       this time (0: none) */
  uint64_t reset_not_taken;         /* bytes still queued when a side was reset late */
  char reset_how[48];
};

struct proxy {
  const struct cli_proxy_options *options;
  const struct conform_plan *plan;
  struct cli_proxy_result *result;
  struct connection connections[CLI_PROXY_CHANNELS_MAX];
  uint32_t connection_count;        /* connections of the current session */
  uint32_t open_count;
  bool in_session;
  uint32_t session;                 /* index of the current (or next) session */
  uint64_t start_ms;                /* proxy start, for the log's "ms" */
  uint64_t session_start_ms;
  uint32_t fired_session[CONFORM_PLAN_FAULTS_MAX];  /* corrupt: the session it fired in */
};

static uint64_t now_ms(void)
{
  struct timespec now;
  int rc = clock_gettime(CLOCK_MONOTONIC, &now);
  SIM_ASSERT(rc == 0);
  return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

/* The side of c whose peer sends what pipe d carries. */
static int pipe_input_side(enum conform_plan_direction d)
{
  return d == CONFORM_PLAN_TO_DESTINATION ? 0 : 1;
}

static int pipe_input_fd(const struct connection *c, enum conform_plan_direction d)
{
  return c->fds[pipe_input_side(d)];
}

static int pipe_output_fd(const struct connection *c, enum conform_plan_direction d)
{
  return c->fds[1 - pipe_input_side(d)];
}

/* ------------------------------------------------------------------ output */

static void log_json(struct proxy *proxy, json_t *line)
{
  SIM_ASSERT(line != NULL);
  FILE *log = proxy->options->log;
  if (log != NULL) {
    json_object_set_new(line, "ms", json_integer((json_int_t)(now_ms() - proxy->start_ms)));
    json_dumpf(line, log, JSON_COMPACT | JSON_PRESERVE_ORDER);
    fputc('\n', log);
    fflush(log);
  }
  json_decref(line);
}

static void log_fired(struct proxy *proxy, uint32_t fault_index, const struct connection *c,
                      enum conform_plan_direction d)
{
  const struct conform_plan_fault *fault = &proxy->plan->faults[fault_index];
  struct cli_proxy_result *result = proxy->result;
  SIM_ASSERT(!result->fired[fault_index]);
  result->fired[fault_index] = true;
  result->fired_count++;
  const char *kind = conform_plan_kind_name(fault->kind);
  const char *direction = conform_plan_direction_name(d);
  if (proxy->options->out != NULL) {
    fprintf(proxy->options->out, "proxy: fault %" PRIu32 " fired: session %" PRIu32
            " channel %" PRIu32 " %s byte %" PRIu64 " %s\n", fault_index, proxy->session,
            c->index, direction, fault->at_bytes, kind);
    fflush(proxy->options->out);
  }
  log_json(proxy, json_pack("{s:s, s:i, s:i, s:i, s:s, s:I, s:s}", "event", "fault", "fault",
                            (int)fault_index, "session", (int)proxy->session, "channel",
                            (int)c->index, "direction", direction, "byte",
                            (json_int_t)fault->at_bytes, "kind", kind));
}

/* The per-channel line and JSON record when a connection ends. */
static void log_closed(struct proxy *proxy, const struct connection *c, const char *how)
{
  const struct pipe *down = &c->pipes[CONFORM_PLAN_TO_DESTINATION];
  const struct pipe *up = &c->pipes[CONFORM_PLAN_TO_SOURCE];
  if (proxy->options->out != NULL) {
    fprintf(proxy->options->out, "proxy: session %" PRIu32 " channel %" PRIu32 " closed (%s):"
            " to-destination %" PRIu64 " bytes received, %" PRIu64 " forwarded; to-source %"
            PRIu64 " received, %" PRIu64 " forwarded\n", proxy->session, c->index, how,
            down->received, down->forwarded, up->received, up->forwarded);
    fflush(proxy->options->out);
  }
  log_json(proxy, json_pack("{s:s, s:i, s:i, s:s, s:I, s:I, s:I, s:I}", "event", "close",
                            "session", (int)proxy->session, "channel", (int)c->index, "how",
                            how, "to_destination_received", (json_int_t)down->received,
                            "to_destination_forwarded", (json_int_t)down->forwarded,
                            "to_source_received", (json_int_t)up->received,
                            "to_source_forwarded", (json_int_t)up->forwarded));
}

/* ------------------------------------------------------------ connections */

/* Closes fd with SO_LINGER 0: the peer gets a TCP RST; what is still queued is thrown away. */
static void reset_fd(int fd)
{
  struct linger linger = {.l_onoff = 1, .l_linger = 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger);
  close(fd);
}

/* Closes the sides still open; with rst, each of their peers gets a reset. */
static void connection_close(struct proxy *proxy, struct connection *c, bool rst,
                             const char *how)
{
  SIM_ASSERT(c->open);
  SIM_ASSERT(proxy->open_count > 0);
  for (int side = 0; side < 2; side++) {
    if (c->fds[side] < 0) continue;   /* a pending reset closed it already */
    if (rst) {
      reset_fd(c->fds[side]);
    } else {
      close(c->fds[side]);
    }
    c->fds[side] = -1;
  }
  c->open = false;
  proxy->open_count--;
  struct cli_proxy_result *result = proxy->result;
  for (int d = 0; d < 2; d++) {
    result->received_bytes[d] += c->pipes[d].received;
    result->forwarded_bytes[d] += c->pipes[d].forwarded;
  }
  log_closed(proxy, c, how);
}

/*
 * A fault's reset: every byte the proxy has forwarded reaches its peer first.
 * The peers' kernels may not have taken them yet (a receiver that does not
 * read keeps its window closed), and a close with SO_LINGER 0 throws away
 * what is still queued: a drop "at byte 100000" then reached a slow reader
 * at byte 65536.  So the connection stops its I/O; the side whose bytes
 * reached the trigger (sender_side; -1: none) is reset at once, so that peer
 * learns as soon as it would on a real network, and each other side once
 * its send queue is empty, or after PROXY_DRAIN_MS.  Bytes a peer's kernel
 * acknowledged stay readable after the RST.
 */
static void connection_reset_drained(struct connection *c, const char *how, int sender_side)
{
  if (c->reset_due_ms != 0) return;
  c->reset_due_ms = now_ms() + PROXY_DRAIN_MS;
  snprintf(c->reset_how, sizeof c->reset_how, "%s", how);
  if (sender_side >= 0) {
    reset_fd(c->fds[sender_side]);
    c->fds[sender_side] = -1;
  }
}

static uint64_t socket_queued(int fd)
{
  int queued = 0;
  return ioctl(fd, SIOCOUTQ, &queued) == 0 && queued > 0 ? (uint64_t)queued : 0;
}

/* Resets each side of c whose pending reset is due; true once c is closed. */
static bool connection_reset_if_drained(struct proxy *proxy, struct connection *c)
{
  if (c->reset_due_ms == 0) return false;
  bool late = now_ms() >= c->reset_due_ms;
  for (int side = 0; side < 2; side++) {
    if (c->fds[side] < 0) continue;
    uint64_t queued = socket_queued(c->fds[side]);
    if (queued > 0 && !late) continue;
    c->reset_not_taken += queued;
    reset_fd(c->fds[side]);
    c->fds[side] = -1;
  }
  if (c->fds[0] >= 0 || c->fds[1] >= 0) return false;
  char how[96];
  if (c->reset_not_taken == 0) {
    snprintf(how, sizeof how, "%s", c->reset_how);
  } else {
    snprintf(how, sizeof how, "%s, %" PRIu64 " bytes not taken", c->reset_how,
             c->reset_not_taken);
  }
  connection_close(proxy, c, true, how);
  return true;
}

static void session_end(struct proxy *proxy)
{
  SIM_ASSERT(proxy->in_session && proxy->open_count == 0);
  if (proxy->options->out != NULL) {
    fprintf(proxy->options->out, "proxy: session %" PRIu32 " ended: %" PRIu32 " channel(s)\n",
            proxy->session, proxy->connection_count);
    fflush(proxy->options->out);
  }
  log_json(proxy, json_pack("{s:s, s:i, s:i}", "event", "session-end", "session",
                            (int)proxy->session, "channels", (int)proxy->connection_count));
  proxy->in_session = false;
  proxy->connection_count = 0;
  proxy->session++;
  proxy->result->session_count++;
}

/* ------------------------------------------------------------------- faults */

static bool fault_matches(const struct proxy *proxy, uint32_t i, const struct connection *c,
                          enum conform_plan_direction d)
{
  const struct conform_plan_fault *fault = &proxy->plan->faults[i];
  return fault->channel_index == c->index && fault->direction == d;
}

/* Bytes the pipe may read before its next point trigger (UINT64_MAX: none pending). */
static uint64_t pipe_read_cap(const struct proxy *proxy, const struct connection *c,
                              enum conform_plan_direction d)
{
  const struct pipe *pipe = &c->pipes[d];
  uint64_t cap = UINT64_MAX;
  if (pipe->truncated) return cap;
  for (uint32_t i = 0; i < proxy->plan->fault_count; i++) {
    const struct conform_plan_fault *fault = &proxy->plan->faults[i];
    if (proxy->result->fired[i] || fault->kind == CONFORM_PLAN_CORRUPT ||
        !fault_matches(proxy, i, c, d)) {
      continue;
    }
    SIM_ASSERT(fault->at_bytes >= pipe->received);
    cap = SIM_MIN(cap, fault->at_bytes - pipe->received);
  }
  return cap;
}

/* Reset every connection of the session (kind reset); c's pipe d reached the trigger. */
static void session_reset(struct proxy *proxy, uint32_t fault_index, const struct connection *c,
                          enum conform_plan_direction d)
{
  char how[48];
  snprintf(how, sizeof how, "reset by fault %" PRIu32, fault_index);
  for (uint32_t i = 0; i < proxy->connection_count; i++) {
    struct connection *each = &proxy->connections[i];
    if (each->open) connection_reset_drained(each, how, each == c ? pipe_input_side(d) : -1);
  }
}

/* Performs a point fault whose trigger the pipe has just reached (drained). */
static void fault_fire(struct proxy *proxy, uint32_t i, struct connection *c,
                       enum conform_plan_direction d)
{
  const struct conform_plan_fault *fault = &proxy->plan->faults[i];
  struct pipe *pipe = &c->pipes[d];
  SIM_ASSERT(pipe->sent == pipe->filled && pipe->received == fault->at_bytes);
  log_fired(proxy, i, c, d);
  char how[48];
  switch (fault->kind) {
  case CONFORM_PLAN_DELAY:
    pipe->hold_until_ms = now_ms() + fault->ms;
    return;
  case CONFORM_PLAN_STALL:
    pipe->hold_until_ms = fault->ms == 0 ? PROXY_FOREVER : proxy->session_start_ms + fault->ms;
    return;
  case CONFORM_PLAN_RESET:
    session_reset(proxy, i, c, d);
    return;
  case CONFORM_PLAN_DROP:
    snprintf(how, sizeof how, "dropped by fault %" PRIu32, i);
    connection_reset_drained(c, how, pipe_input_side(d));
    return;
  case CONFORM_PLAN_TRUNCATE:
    (void)shutdown(pipe_output_fd(c, d), SHUT_WR);
    pipe->output_shut = true;
    pipe->truncated = true;
    return;
  case CONFORM_PLAN_CORRUPT:
  default: /* simulated kinds never reach the proxy: its parser refuses them */
    break;
  }
  SIM_ASSERT(!"corrupt is not a point fault");
}

/* Fires, in plan order, the point faults due on a drained pipe; false if c is to be reset. */
static bool pipe_fire_due(struct proxy *proxy, struct connection *c,
                          enum conform_plan_direction d)
{
  struct pipe *pipe = &c->pipes[d];
  for (uint32_t i = 0; i < proxy->plan->fault_count && c->reset_due_ms == 0; i++) {
    const struct conform_plan_fault *fault = &proxy->plan->faults[i];
    if (proxy->result->fired[i] || fault->kind == CONFORM_PLAN_CORRUPT || pipe->truncated ||
        !fault_matches(proxy, i, c, d) || fault->at_bytes != pipe->received ||
        pipe->sent != pipe->filled) {
      continue;
    }
    fault_fire(proxy, i, c, d);
  }
  return c->reset_due_ms == 0;
}

/* XORs the corrupt faults of this pipe into bytes just read at offset. */
static void pipe_corrupt(struct proxy *proxy, struct connection *c,
                         enum conform_plan_direction d, uint64_t offset, uint8_t *bytes,
                         size_t count)
{
  for (uint32_t i = 0; i < proxy->plan->fault_count; i++) {
    const struct conform_plan_fault *fault = &proxy->plan->faults[i];
    bool fired = proxy->result->fired[i];
    if (fault->kind != CONFORM_PLAN_CORRUPT || !fault_matches(proxy, i, c, d) ||
        (fired && proxy->fired_session[i] != proxy->session)) {
      continue;
    }
    size_t changed = conform_plan_corrupt(fault, offset, bytes, count);
    if (changed > 0 && !fired) {
      proxy->fired_session[i] = proxy->session;
      log_fired(proxy, i, c, d);
    }
  }
}

/* ---------------------------------------------------------------- pipe I/O */

static bool pipe_held(const struct pipe *pipe, uint64_t now)
{
  return pipe->hold_until_ms != 0 && now < pipe->hold_until_ms;
}

static bool pipe_wants_input(const struct proxy *proxy, const struct connection *c,
                             enum conform_plan_direction d, uint64_t now)
{
  const struct pipe *pipe = &c->pipes[d];
  if (pipe->input_done || pipe_held(pipe, now)) return false;
  if (pipe->truncated) return true;
  return pipe->filled < sizeof pipe->buffer && pipe_read_cap(proxy, c, d) > 0;
}

static bool pipe_has_output(const struct pipe *pipe, uint64_t now)
{
  return pipe->filled > pipe->sent && !pipe->output_shut && !pipe_held(pipe, now);
}

static void connection_failed(struct proxy *proxy, struct connection *c, const char *what)
{
  char how[96];
  snprintf(how, sizeof how, "peer reset: %s: %s", what, strerror(errno));
  connection_close(proxy, c, true, how);
}

/* One read into the pipe; false if the connection closed. */
static bool pipe_read(struct proxy *proxy, struct connection *c, enum conform_plan_direction d)
{
  struct pipe *pipe = &c->pipes[d];
  uint8_t scratch[4096];
  uint8_t *into = pipe->truncated ? scratch : pipe->buffer + pipe->filled;
  uint64_t room = pipe->truncated ? sizeof scratch : sizeof pipe->buffer - pipe->filled;
  uint64_t cap = pipe_read_cap(proxy, c, d);
  room = SIM_MIN(room, cap);
  SIM_ASSERT(room > 0);
  ssize_t got = recv(pipe_input_fd(c, d), into, (size_t)room, 0);
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
  if (got < 0) {
    connection_failed(proxy, c, d == CONFORM_PLAN_TO_DESTINATION ? "source" : "destination");
    return false;
  }
  if (got == 0) {
    pipe->input_done = true;
    return true;
  }
  uint64_t offset = pipe->received;
  pipe->received += (uint64_t)got;
  if (!pipe->truncated) {
    pipe_corrupt(proxy, c, d, offset, into, (size_t)got);
    pipe->filled += (size_t)got;
  }
  return true;
}

/* One write from the pipe's buffer; false if the connection closed. */
static bool pipe_write(struct proxy *proxy, struct connection *c, enum conform_plan_direction d)
{
  struct pipe *pipe = &c->pipes[d];
  SIM_ASSERT(pipe->filled > pipe->sent);
  ssize_t put = send(pipe_output_fd(c, d), pipe->buffer + pipe->sent, pipe->filled - pipe->sent,
                     MSG_NOSIGNAL);
  if (put < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
  if (put < 0) {
    connection_failed(proxy, c, d == CONFORM_PLAN_TO_DESTINATION ? "destination" : "source");
    return false;
  }
  pipe->sent += (size_t)put;
  pipe->forwarded += (uint64_t)put;
  if (pipe->sent == pipe->filled) pipe->sent = pipe->filled = 0;
  return true;
}

/* Fires due faults, passes EOF on as FIN, closes a finished or reset connection. */
static void connection_advance(struct proxy *proxy, struct connection *c)
{
  if (connection_reset_if_drained(proxy, c) || c->reset_due_ms != 0) return;
  for (int d = 0; d < 2; d++) {
    struct pipe *pipe = &c->pipes[d];
    if (!pipe_fire_due(proxy, c, (enum conform_plan_direction)d)) return;
    if (pipe->input_done && pipe->sent == pipe->filled && !pipe->output_shut) {
      (void)shutdown(pipe_output_fd(c, (enum conform_plan_direction)d), SHUT_WR);
      pipe->output_shut = true;
    }
  }
  bool done = true;
  for (int d = 0; d < 2; d++) done = done && c->pipes[d].input_done && c->pipes[d].output_shut;
  if (done) connection_close(proxy, c, false, "closed");
}

/* ---------------------------------------------------------------- accept */

/* Parses spec into address; NULL or a message valid until the next call. */
static const char *address_parse(const char *spec, struct sockaddr_storage *address,
                                 socklen_t *address_bytes)
{
  static char message[160];
  memset(address, 0, sizeof *address);
  if (strncmp(spec, "unix:", 5) == 0) {
    struct sockaddr_un *un = (struct sockaddr_un *)address;
    un->sun_family = AF_UNIX;
    if (spec[5] == 0 || strlen(spec + 5) >= sizeof un->sun_path) {
      return "unix socket path empty or too long";
    }
    memcpy(un->sun_path, spec + 5, strlen(spec + 5) + 1);
    *address_bytes = sizeof *un;
    return NULL;
  }
  struct sockaddr_in *in = (struct sockaddr_in *)address;
  const char *colon = strrchr(spec, ':');
  char host[64];
  uint64_t port = 0;
  if (strncmp(spec, "tcp:", 4) != 0 || colon == NULL || colon <= spec + 4 ||
      (size_t)(colon - (spec + 4)) >= sizeof host) {
    return "expected tcp:HOST:PORT or unix:PATH";
  }
  memcpy(host, spec + 4, (size_t)(colon - (spec + 4)));
  host[colon - (spec + 4)] = 0;
  const char *why = cli_number_parse(colon + 1, 1, 65535, false, &port);
  if (why != NULL) {
    snprintf(message, sizeof message, "PORT '%s' is %s", colon + 1, why);
    return message;
  }
  in->sin_family = AF_INET;
  in->sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &in->sin_addr) != 1) return "HOST must be a numeric IPv4 address";
  *address_bytes = sizeof *in;
  return NULL;
}

const char *cli_proxy_check_address(const char *spec)
{
  struct sockaddr_storage address;
  socklen_t bytes = 0;
  return address_parse(spec, &address, &bytes);
}

static bool fd_nonblocking(int fd)
{
  int flags = fcntl(fd, F_GETFL);
  return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

/* A blocking connect to --to (loopback: immediate); -1 with errno on failure. */
static int proxy_connect(const char *spec)
{
  struct sockaddr_storage address;
  socklen_t bytes = 0;
  const char *why = address_parse(spec, &address, &bytes);
  SIM_ASSERT(why == NULL);      /* checked by cli_proxy_serve's caller */
  int fd = socket(address.ss_family, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&address, bytes) != 0 || !fd_nonblocking(fd)) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

/* Pairs a new source connection with one to --to; false if accept itself failed. */
static bool proxy_accept(struct proxy *proxy, int listen_fd)
{
  int fd = accept(listen_fd, NULL, NULL);
  if (fd < 0) return errno == EINTR || errno == EAGAIN || errno == ECONNABORTED;
  FILE *out = proxy->options->out;
  if (proxy->connection_count == CLI_PROXY_CHANNELS_MAX) {
    if (out != NULL) fprintf(out, "proxy: more than %u connections: refused\n",
                             CLI_PROXY_CHANNELS_MAX);
    reset_fd(fd);
    return true;
  }
  int to = proxy_connect(proxy->options->to);
  if (to < 0 || !fd_nonblocking(fd)) {
    const char *why = strerror(errno);   /* before stdio can change errno */
    proxy->result->connect_failures++;
    if (out != NULL) fprintf(out, "proxy: connect %s: %s: the source's connection is reset\n",
                             proxy->options->to, why);
    log_json(proxy, json_pack("{s:s, s:s, s:s}", "event", "connect-failed", "to",
                              proxy->options->to, "error", why));
    if (to >= 0) close(to);
    reset_fd(fd);
    return true;
  }
  if (!proxy->in_session) {
    proxy->in_session = true;
    proxy->session_start_ms = now_ms();
  }
  struct connection *c = &proxy->connections[proxy->connection_count];
  memset(c, 0, sizeof *c);
  c->fds[0] = fd;
  c->fds[1] = to;
  c->open = true;
  c->index = proxy->connection_count++;
  proxy->open_count++;
  proxy->result->connection_count++;
  if (out != NULL) fprintf(out, "proxy: session %" PRIu32 " channel %" PRIu32 " connected\n",
                           proxy->session, c->index);
  log_json(proxy, json_pack("{s:s, s:i, s:i}", "event", "connect", "session",
                            (int)proxy->session, "channel", (int)c->index));
  return true;
}

/* ---------------------------------------------------------------- the loop */

/* The poll timeout: the nearest end of a finite hold, a pending reset's next look, or -1. */
static int proxy_wait_ms(const struct proxy *proxy, uint64_t now)
{
  uint64_t wait = UINT64_MAX;
  for (uint32_t i = 0; i < proxy->connection_count; i++) {
    const struct connection *c = &proxy->connections[i];
    if (c->open && c->reset_due_ms != 0) wait = SIM_MIN(wait, (uint64_t)PROXY_DRAIN_POLL_MS);
    for (int d = 0; d < 2 && c->open; d++) {
      uint64_t until = c->pipes[d].hold_until_ms;
      if (until != PROXY_FOREVER && pipe_held(&c->pipes[d], now)) {
        wait = SIM_MIN(wait, until - now);
      }
    }
  }
  return wait == UINT64_MAX ? -1 : (int)SIM_MIN(wait, (uint64_t)INT_MAX);
}

/* Events wanted on each side of c: POLLIN for its input pipe, POLLOUT for its output pipe. */
static short side_events(const struct proxy *proxy, const struct connection *c, int side,
                         uint64_t now)
{
  enum conform_plan_direction in = side == 0 ? CONFORM_PLAN_TO_DESTINATION
                                             : CONFORM_PLAN_TO_SOURCE;
  enum conform_plan_direction out = side == 0 ? CONFORM_PLAN_TO_SOURCE
                                              : CONFORM_PLAN_TO_DESTINATION;
  short events = 0;
  if (c->reset_due_ms != 0) return 0;  /* no I/O while a reset waits for the peers */
  if (pipe_wants_input(proxy, c, in, now)) events |= POLLIN;
  if (pipe_has_output(&c->pipes[out], now)) events |= POLLOUT;
  return events;
}

/* Reads and writes whatever each pipe of c may, now that poll returned. */
static void connection_io(struct proxy *proxy, struct connection *c, const short revents[2])
{
  uint64_t now = now_ms();
  for (int d = 0; d < 2 && c->open; d++) {
    enum conform_plan_direction dir = (enum conform_plan_direction)d;
    int in_side = pipe_input_side(dir);
    if (revents[1 - in_side] != 0 && pipe_has_output(&c->pipes[d], now) &&
        !pipe_write(proxy, c, dir)) {
      return;
    }
    if (c->open && revents[in_side] != 0 && pipe_wants_input(proxy, c, dir, now) &&
        !pipe_read(proxy, c, dir)) {
      return;
    }
  }
}

/* One round: advance every connection, poll, do the I/O; false when accept failed. */
static bool proxy_step(struct proxy *proxy, int listen_fd, bool accepting)
{
  uint64_t now = now_ms();
  for (uint32_t i = 0; i < proxy->connection_count; i++) {
    if (proxy->connections[i].open) connection_advance(proxy, &proxy->connections[i]);
  }
  if (proxy->in_session && proxy->open_count == 0) {
    session_end(proxy);
    return true;
  }
  struct pollfd fds[PROXY_POLL_FDS_MAX];
  fds[0] = (struct pollfd){.fd = accepting ? listen_fd : -1, .events = POLLIN};
  for (uint32_t i = 0; i < proxy->connection_count; i++) {
    const struct connection *c = &proxy->connections[i];
    for (int side = 0; side < 2; side++) {
      short events = c->open ? side_events(proxy, c, side, now) : 0;
      /* An fd with nothing wanted is left out: a hung-up peer would wake poll for ever. */
      fds[1 + 2 * i + side] = (struct pollfd){.fd = events != 0 ? c->fds[side] : -1,
                                              .events = events};
    }
  }
  int ready = poll(fds, 1 + 2 * (nfds_t)proxy->connection_count, proxy_wait_ms(proxy, now));
  if (ready <= 0) return true;        /* a hold ended, or a signal: the caller checks stop */
  for (uint32_t i = 0; i < proxy->connection_count; i++) {
    short revents[2] = {fds[1 + 2 * i].revents, fds[2 + 2 * i].revents};
    if (proxy->connections[i].open) connection_io(proxy, &proxy->connections[i], revents);
  }
  if ((fds[0].revents & POLLIN) != 0) return proxy_accept(proxy, listen_fd);
  return true;
}

int cli_proxy_serve(int listen_fd, const struct cli_proxy_options *options,
                    struct cli_proxy_result *result)
{
  SIM_ASSERT(listen_fd >= 0 && options != NULL && options->plan != NULL);
  SIM_ASSERT(cli_proxy_check_address(options->to) == NULL);
  memset(result, 0, sizeof *result);
  struct proxy *proxy = calloc(1, sizeof *proxy);
  SIM_ASSERT(proxy != NULL);
  proxy->options = options;
  proxy->plan = options->plan;
  proxy->result = result;
  proxy->start_ms = now_ms();
  int rc = 0;
  for (;;) {
    bool stop = options->stop != NULL && *options->stop != 0;
    bool last = options->sessions_max != 0 && result->session_count >= options->sessions_max;
    if (stop || (last && !proxy->in_session)) break;
    if (!proxy_step(proxy, listen_fd, !last)) {
      rc = -1;
      break;
    }
  }
  for (uint32_t i = 0; i < proxy->connection_count; i++) {
    if (proxy->connections[i].open) {
      connection_close(proxy, &proxy->connections[i], false, "proxy stopped");
    }
  }
  if (proxy->in_session) session_end(proxy);
  free(proxy);
  return rc;
}

void cli_proxy_print_summary(FILE *out, const struct conform_plan *plan,
                             const struct cli_proxy_result *result)
{
  fprintf(out, "proxy: sessions %" PRIu32 ", connections %" PRIu32 " (connect failures %"
          PRIu32 "), faults fired %" PRIu32 " of %" PRIu32 "\n", result->session_count,
          result->connection_count, result->connect_failures, result->fired_count,
          plan->fault_count);
  fprintf(out, "proxy: to-destination %" PRIu64 " bytes received, %" PRIu64 " forwarded; "
          "to-source %" PRIu64 " received, %" PRIu64 " forwarded\n",
          result->received_bytes[CONFORM_PLAN_TO_DESTINATION],
          result->forwarded_bytes[CONFORM_PLAN_TO_DESTINATION],
          result->received_bytes[CONFORM_PLAN_TO_SOURCE],
          result->forwarded_bytes[CONFORM_PLAN_TO_SOURCE]);
  for (uint32_t i = 0; i < plan->fault_count; i++) {
    if (result->fired[i]) continue;
    char text[160];
    conform_plan_fault_describe(&plan->faults[i], text, sizeof text);
    fprintf(out, "proxy: fault %" PRIu32 " not fired: %s\n", i, text);
  }
}

/* ------------------------------------------------------------------- CLI */

static volatile sig_atomic_t proxy_stop;

static void proxy_on_signal(int signal_number)
{
  (void)signal_number;
  proxy_stop = 1;
}

static const char usage_proxy[] =
    "usage: migsim proxy --listen tcp:HOST:PORT|unix:PATH --to tcp:HOST:PORT|unix:PATH\n"
    "                    --plan PLAN.json [--sessions N] [--log FILE]\n"
    "\n"
    "Forwards a real QEMU migration (every connection: the main channel, the\n"
    "return path flowing back, multifd channels) from --listen to --to, and\n"
    "applies the plan's faults at byte offsets: delay, stall, reset, truncate,\n"
    "corrupt, drop (docs/proxy.md).  Prints 'migsim proxy: listening on ...' on\n"
    "stderr when ready (PORT 0 picks a free port), a line per fault fired and per\n"
    "channel closed on stdout, and a summary when it stops.\n"
    "\n"
    "  --sessions N   stop after N sessions (a session: the connections from the\n"
    "                 first until all are closed); default: until SIGINT/SIGTERM\n"
    "  --log FILE     JSON lines: connect, fault, close, session-end, summary\n";

/* Writes the final JSON summary line. */
static void log_summary(FILE *log, const struct conform_plan *plan,
                        const struct cli_proxy_result *result)
{
  json_t *unfired = json_array();
  for (uint32_t i = 0; i < plan->fault_count; i++) {
    if (!result->fired[i]) json_array_append_new(unfired, json_integer(i));
  }
  json_t *line = json_pack("{s:s, s:i, s:i, s:i, s:i, s:o, s:I, s:I, s:I, s:I}", "event",
                           "summary", "sessions", (int)result->session_count, "connections",
                           (int)result->connection_count, "connect_failures",
                           (int)result->connect_failures, "faults_fired",
                           (int)result->fired_count, "faults_not_fired", unfired,
                           "to_destination_received",
                           (json_int_t)result->received_bytes[CONFORM_PLAN_TO_DESTINATION],
                           "to_destination_forwarded",
                           (json_int_t)result->forwarded_bytes[CONFORM_PLAN_TO_DESTINATION],
                           "to_source_received",
                           (json_int_t)result->received_bytes[CONFORM_PLAN_TO_SOURCE],
                           "to_source_forwarded",
                           (json_int_t)result->forwarded_bytes[CONFORM_PLAN_TO_SOURCE]);
  json_dumpf(line, log, JSON_COMPACT | JSON_PRESERVE_ORDER);
  fputc('\n', log);
  json_decref(line);
}

/* Checks the options and opens what they name; 0 or the exit code. */
static int proxy_setup(const char *listen_spec, const char *to, const char *plan_path,
                       const char *log_path, struct conform_plan *plan, FILE **log)
{
  if (listen_spec == NULL || to == NULL || plan_path == NULL) {
    fprintf(stderr, "migsim proxy: --listen, --to and --plan are required\n%s", usage_proxy);
    return CONFORM_BAD_INPUT;
  }
  const char *why = cli_proxy_check_address(to);
  if (why != NULL) {
    fprintf(stderr, "migsim proxy: --to %s: %s\n", to, why);
    return CONFORM_BAD_INPUT;
  }
  char error[2048];
  if (!conform_plan_load(plan_path, plan, error, sizeof error)) {
    fprintf(stderr, "migsim proxy: %s\n", error);
    return CONFORM_BAD_INPUT;
  }
  why = log_path != NULL ? cli_output_check(log_path) : NULL;
  if (why != NULL) {
    fprintf(stderr, "migsim proxy: --log %s: %s\n", log_path, why);
    return CONFORM_BAD_INPUT;
  }
  *log = NULL;
  if (log_path != NULL) {
    *log = strcmp(log_path, "-") == 0 ? stdout : fopen(log_path, "w");
    if (*log == NULL) {
      fprintf(stderr, "migsim proxy: --log %s: %s\n", log_path, strerror(errno));
      return CONFORM_BAD_INPUT;
    }
  }
  return 0;
}

int cli_proxy_main(int argc, char **argv)
{
  const char *listen_spec = NULL, *to = NULL, *plan_path = NULL, *log_path = NULL;
  uint64_t sessions = 0;
  const struct cli_option table[] = {
      {"--listen", CLI_OPTION_STRING, &listen_spec, 0, 0, false, NULL, NULL},
      {"--to", CLI_OPTION_STRING, &to, 0, 0, false, NULL, NULL},
      {"--plan", CLI_OPTION_STRING, &plan_path, 0, 0, false, NULL, NULL},
      {"--log", CLI_OPTION_STRING, &log_path, 0, 0, false, NULL, NULL},
      {"--sessions", CLI_OPTION_NUMBER, &sessions, 1, UINT32_MAX, false, NULL, NULL},
  };
  const struct cli_command command = {"proxy", usage_proxy, table, SIM_ARRAY_COUNT(table), 0, 0};
  struct cli_parsed parsed;
  int rc = cli_args_parse(&command, argc, argv, &parsed);
  if (rc != 0 || parsed.help) return rc;
  static struct conform_plan plan;
  FILE *log = NULL;
  rc = proxy_setup(listen_spec, to, plan_path, log_path, &plan, &log);
  if (rc != 0) return rc;
  char message[512];
  uint16_t port = 0;
  int fd = cli_sink_listen(listen_spec, &port, message, sizeof message);
  if (fd < 0) {
    fprintf(stderr, "migsim proxy: %s\n", message);
    return CONFORM_BAD_INPUT;
  }
  struct sigaction action = {.sa_handler = proxy_on_signal};  /* no SA_RESTART: poll wakes */
  sigemptyset(&action.sa_mask);
  (void)sigaction(SIGINT, &action, NULL);
  (void)sigaction(SIGTERM, &action, NULL);
  if (port != 0) {
    fprintf(stderr, "migsim proxy: listening on tcp:%.*s:%u\n",
            (int)(strrchr(listen_spec, ':') - (listen_spec + 4)), listen_spec + 4, port);
  } else {
    fprintf(stderr, "migsim proxy: listening on %s\n", listen_spec);
  }
  fflush(stderr);
  struct cli_proxy_options options = {.to = to, .plan = &plan,
                                      .sessions_max = (uint32_t)sessions, .out = stdout,
                                      .log = log, .stop = &proxy_stop};
  struct cli_proxy_result result;
  rc = cli_proxy_serve(fd, &options, &result);
  if (rc != 0) fprintf(stderr, "migsim proxy: accept: %s\n", strerror(errno));
  cli_proxy_print_summary(stdout, &plan, &result);
  if (log != NULL) log_summary(log, &plan, &result);
  if (log != NULL && log != stdout) fclose(log);
  close(fd);
  return rc == 0 ? 0 : CONFORM_BAD_INPUT;
}
