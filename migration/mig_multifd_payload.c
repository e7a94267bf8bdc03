/*
 * mig_multifd_payload.c: compressed multifd payloads, decoded once for both
 * receivers (overview in mig_multifd_payload.h; QEMU 7.2
 * migration/multifd-zlib.c and multifd-zstd.c).
 */
/*
 * zlib's and zstd's headers name a field after the wall-clock call that
 * sim_base.h poisons (and pull in unistd.h), so they come before it; this
 * file calls no clock.
 */
#define ZLIB_CONST 1                 /* next_in is const */
#include <zlib.h>
#include <zstd.h>

#include "sim_base.h"

#include "mig_multifd_payload.h"

_Static_assert(MIG_MULTIFD_SCRATCH_BYTES % MIG_PAGE_BYTES == 0, "scratch holds whole pages");
_Static_assert(MIG_MULTIFD_SCRATCH_BYTES <= UINT32_MAX, "an output window fits zlib's uInt");
_Static_assert((uint64_t)MIG_MULTIFD_PAGES_MAX * MIG_PAGE_BYTES <= UINT32_MAX,
               "a packet's pages fit zlib's uInt");
_Static_assert(MIG_MULTIFD_PAYLOAD_BYTES_MAX <= UINT32_MAX, "a payload offset fits fault->at");

/* Fills *fault (the field is the method); returns false so a check can `return fail(...)`. */
static bool fail(const struct mig_multifd_payload *payload, struct mig_multifd_fault *fault,
                 enum mig_err code, size_t at, const char *detail)
{
  fault->code = code;
  fault->at = (uint32_t)at;
  snprintf(fault->field, sizeof fault->field, "%s",
           mig_multifd_compression_name(payload->method));
  snprintf(fault->detail, sizeof fault->detail, "%s", detail);
  return false;
}

void mig_multifd_payload_init(struct mig_multifd_payload *payload,
                              enum mig_multifd_compression method)
{
  SIM_ASSERT(method <= MIG_MULTIFD_COMPRESSION_ZSTD);
  memset(payload, 0, sizeof *payload);
  payload->method = method;
}

void mig_multifd_payload_deinit(struct mig_multifd_payload *payload)
{
  if (payload->zlib != NULL) {
    (void)inflateEnd(payload->zlib);
    free(payload->zlib);
    payload->zlib = NULL;
  }
  ZSTD_freeDStream(payload->zstd);  /* accepts NULL */
  payload->zstd = NULL;
  free(payload->scratch);
  payload->scratch = NULL;
}

/* The channel's stream and scratch, on its first compressed payload. */
static bool payload_create(struct mig_multifd_payload *payload)
{
  if (payload->scratch == NULL) payload->scratch = malloc(MIG_MULTIFD_SCRATCH_BYTES);
  if (payload->method == MIG_MULTIFD_COMPRESSION_ZLIB && payload->zlib == NULL) {
    z_stream *zs = calloc(1, sizeof *zs);
    if (zs != NULL && inflateInit(zs) != Z_OK) {
      free(zs);
      zs = NULL;
    }
    payload->zlib = zs;
  } else if (payload->method == MIG_MULTIFD_COMPRESSION_ZSTD && payload->zstd == NULL) {
    ZSTD_DStream *ds = ZSTD_createDStream();
    if (ds != NULL && ZSTD_isError(ZSTD_DCtx_setParameter(ds, ZSTD_d_windowLogMax,
                                                          MIG_MULTIFD_ZSTD_WINDOW_LOG_MAX))) {
      ZSTD_freeDStream(ds);
      ds = NULL;
    }
    payload->zstd = ds;
  }
  bool stream = payload->method == MIG_MULTIFD_COMPRESSION_ZLIB ? payload->zlib != NULL
                                                                : payload->zstd != NULL;
  return stream && payload->scratch != NULL;
}

bool mig_multifd_payload_begin(struct mig_multifd_payload *payload, uint64_t expected_bytes,
                               struct mig_multifd_fault *fault)
{
  SIM_ASSERT(payload->method != MIG_MULTIFD_COMPRESSION_NONE);
  SIM_ASSERT(expected_bytes <= (uint64_t)MIG_MULTIFD_PAGES_MAX * MIG_PAGE_BYTES);
  payload->out_expected_bytes = expected_bytes;
  payload->out_bytes = 0;
  if (payload_create(payload)) return true;
  return fail(payload, fault, MIG_ERR_NOMEM, 0, "decoder set-up failed");
}

/*
 * Where the next decoder call writes.  Without a destination: the scratch,
 * whole, and the output is counted.  With one: the pages not yet decoded;
 * once they are full, the scratch, so that any further output (zlib's or
 * zstd's, still held inside the decoder) shows and is refused.
 */
static uint8_t *payload_window(struct mig_multifd_payload *payload, uint8_t *out, size_t *room)
{
  if (out != NULL && payload->out_bytes < payload->out_expected_bytes) {
    *room = (size_t)(payload->out_expected_bytes - payload->out_bytes);
    return out + payload->out_bytes;
  }
  *room = MIG_MULTIFD_SCRATCH_BYTES;
  return payload->scratch;
}

/*
 * Output beyond expected_bytes is refused as soon as it appears (at most
 * one scratch more).  QEMU 7.2 is laxer: it inflates page by page and drops
 * the rest of the packet's input, so the stream is out of step for the next
 * packet; here the packet that caused it is named.
 */
static bool payload_output(struct mig_multifd_payload *payload, size_t produced, size_t at,
                           struct mig_multifd_fault *fault)
{
  payload->out_bytes += produced;
  if (payload->out_bytes <= payload->out_expected_bytes) return true;
  char detail[96];
  snprintf(detail, sizeof detail, "decompresses to more than normal_pages x 4096 = %" PRIu64
           " bytes", payload->out_expected_bytes);
  return fail(payload, fault, MIG_ERR_TOO_LONG, at, detail);
}

/*
 * A decoder call that neither took input nor gave output would loop for
 * ever; both libraries promise it cannot happen, but their promise is not
 * an invariant of ours (STYLE R11), so it is an error.
 */
static bool payload_progress(const struct mig_multifd_payload *payload, bool progress,
                             size_t at, struct mig_multifd_fault *fault)
{
  if (progress) return true;
  return fail(payload, fault, MIG_ERR_BAD_VALUE, at, "decoder stalled");
}

/*
 * One piece of a zlib payload.  Each inflate call fills at most its window;
 * the loop ends when input is used up and output room is left.  Each round
 * takes input or gives output, and payload_output bounds the output, so the
 * rounds are bounded.
 */
static bool payload_zlib(struct mig_multifd_payload *payload, const uint8_t *bytes, size_t count,
                         uint8_t *out, struct mig_multifd_fault *fault)
{
  z_stream *zs = payload->zlib;
  SIM_ASSERT(zs != NULL);
  SIM_ASSERT(count <= UINT32_MAX);
  zs->next_in = bytes;
  zs->avail_in = (uInt)count;
  for (;;) {
    uInt in_before = zs->avail_in;
    size_t room;
    zs->next_out = payload_window(payload, out, &room);
    zs->avail_out = (uInt)room;
    int ret = inflate(zs, Z_SYNC_FLUSH);
    size_t at = count - zs->avail_in;
    if (ret == Z_STREAM_END) {
      return fail(payload, fault, MIG_ERR_BAD_VALUE, at,
                  "deflate stream ended (QEMU keeps one open stream per channel)");
    }
    if (ret != Z_OK && ret != Z_BUF_ERROR) {
      char detail[96];
      snprintf(detail, sizeof detail, "inflate %d: %s", ret, zs->msg != NULL ? zs->msg : "");
      return fail(payload, fault, MIG_ERR_BAD_VALUE, at, detail);
    }
    size_t produced = room - zs->avail_out;
    if (!payload_output(payload, produced, at, fault)) return false;
    if (zs->avail_in == 0 && zs->avail_out > 0) return true;  /* all input in, all output out */
    if (!payload_progress(payload, produced > 0 || zs->avail_in < in_before, at, fault)) {
      return false;
    }
  }
}

/*
 * The same for zstd: one stream per channel, ZSTD_e_flush at the end of
 * each packet.  A frame may end inside a payload (the call then returns
 * early) and a new one follow, as QEMU's decoder also accepts.  Output the
 * decoder still holds when the input is spent is drawn out by the rounds
 * that follow a full window.
 */
static bool payload_zstd(struct mig_multifd_payload *payload, const uint8_t *bytes, size_t count,
                         uint8_t *out, struct mig_multifd_fault *fault)
{
  SIM_ASSERT(payload->zstd != NULL);
  ZSTD_inBuffer in = {.src = bytes, .size = count, .pos = 0};
  for (;;) {
    size_t in_before = in.pos;
    ZSTD_outBuffer window = {.pos = 0};
    window.dst = payload_window(payload, out, &window.size);
    size_t ret = ZSTD_decompressStream(payload->zstd, &window, &in);
    if (ZSTD_isError(ret)) {
      char detail[96];
      snprintf(detail, sizeof detail, "zstd: %s", ZSTD_getErrorName(ret));
      return fail(payload, fault, MIG_ERR_BAD_VALUE, in.pos, detail);
    }
    if (!payload_output(payload, window.pos, in.pos, fault)) return false;
    if (in.pos == in.size && window.pos < window.size) return true;  /* everything flushed */
    if (!payload_progress(payload, window.pos > 0 || in.pos > in_before, in.pos, fault)) {
      return false;
    }
  }
}

bool mig_multifd_payload_feed(struct mig_multifd_payload *payload, const uint8_t *bytes,
                              size_t count, uint8_t *out, struct mig_multifd_fault *fault)
{
  SIM_ASSERT(payload->scratch != NULL);   /* begun */
  SIM_ASSERT(count <= MIG_MULTIFD_PAYLOAD_BYTES_MAX);
  if (payload->method == MIG_MULTIFD_COMPRESSION_ZLIB) {
    return payload_zlib(payload, bytes, count, out, fault);
  }
  return payload_zstd(payload, bytes, count, out, fault);
}

bool mig_multifd_payload_end(struct mig_multifd_payload *payload,
                             struct mig_multifd_fault *fault)
{
  SIM_ASSERT(payload->out_bytes <= payload->out_expected_bytes);  /* feed refused more */
  if (payload->out_bytes == payload->out_expected_bytes) return true;
  char detail[96];
  snprintf(detail, sizeof detail, "decompressed %" PRIu64 " bytes, normal_pages x 4096 = %"
           PRIu64, payload->out_bytes, payload->out_expected_bytes);
  return fail(payload, fault, MIG_ERR_TRUNCATED, 0, detail);
}
