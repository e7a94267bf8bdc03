/*
 * mig_virtio_test.c: virtio_load's blob (mig_virtio.h).  Hand-built blobs
 * (a small virtio-mmio virtio-blk one, virtio-pci ones) edited one field at
 * a time, each in a buffer of exactly its size so that an over-read shows
 * under asan; then the QEMU 7.2 corpus's streams with a "virtio" field, and
 * three hostile edits of the microvm stream that QEMU 7.2 judged (the
 * differential of docs/fuzzing.md).  libcheck has no "skipped" state:
 * without ../shared/corpus/qemu-7.2 the corpus tests print
 * "skipped: TEST: ... not found" (SIM_CHECK_SKIP) and return.
 */
#include "sim_base.h"

#include "mig_destcheck.h"
#include "mig_inspect.h"
#include "mig_virtio.h"
#include "mig_vmsd_diff.h"
#include "sim_check.h"

#include <jansson.h>
#include <lzma.h>

#define VT_CORPUS "../shared/corpus/qemu-7.2"
#define VT_IDSTR "virtio-mmio@00000000feb02e00/virtio-blk"
#define VT_PCI_IDSTR "0000:00:03.0/virtio-blk"
#define VT_PAYLOAD_OFFSET 0x1000u      /* the stream offset the hand-built payloads get */
#define VT_BLOB_BYTES_MAX (64u << 10)

/* ------------------------------------------------------------- hand-built blobs */

struct vt_blob {
  uint8_t bytes[VT_BLOB_BYTES_MAX];
  size_t count;
  /* Offsets of the parts the cases edit. */
  size_t queue_sel, num, desc, last_avail_idx, device, endian, features, features_version,
      started;
};

static void vt_put(struct vt_blob *b, uint64_t value, unsigned bytes)
{
  ck_assert_uint_le(b->count + bytes, sizeof b->bytes);
  for (unsigned i = 0; i < bytes; i++) {
    unsigned shift = 8 * (bytes - 1 - i);  /* wider than 8 bytes: zeros, then value */
    b->bytes[b->count++] = shift < 64 ? (uint8_t)(value >> shift) : 0;
  }
}

static void vt_put_subsection(struct vt_blob *b, const char *name, uint32_t version)
{
  vt_put(b, 0x05, 1);
  vt_put(b, strlen(name), 1);
  ck_assert_uint_le(b->count + strlen(name), sizeof b->bytes);
  memcpy(b->bytes + b->count, name, strlen(name));
  b->count += strlen(name);
  vt_put(b, version, 4);
}

/* The generic part of virtio_load after load_config: `queues` queues, 4 config bytes. */
static void vt_generic(struct vt_blob *b, bool mmio, uint32_t queues)
{
  vt_put(b, 0x0f, 1);                                     /* status */
  vt_put(b, 0x00, 1);                                     /* isr */
  b->queue_sel = b->count;
  vt_put(b, 0, 2);
  vt_put(b, 0x30000000, 4);                               /* features */
  vt_put(b, 4, 4);                                        /* config_len */
  vt_put(b, 0x11223344, 4);
  b->num = b->count;
  vt_put(b, queues, 4);
  for (uint32_t i = 0; i < queues; i++) {
    vt_put(b, 256, 4);                                    /* vring.num */
    if (mmio) vt_put(b, 4096, 4);                         /* vring.align */
    if (i == 0) b->desc = b->count;
    vt_put(b, 0x12340000, 8);
    if (i == 0) b->last_avail_idx = b->count;
    vt_put(b, 5, 2);
  }
}

/* The subsections after the device part: device_endian, 64bit_features, started. */
static void vt_subsections(struct vt_blob *b)
{
  b->endian = b->count;
  vt_put_subsection(b, "virtio/device_endian", 1);
  vt_put(b, 1, 1);
  b->features = b->count;
  vt_put_subsection(b, "virtio/64bit_features", 1);
  b->features_version = b->count - 4;
  vt_put(b, 0x130000000ull, 8);
  b->started = b->count;
  vt_put_subsection(b, "virtio/started", 1);
  vt_put(b, 1, 1);
}

/* A virtio-mmio virtio-blk blob with `queues` queues; 134 bytes with one. */
static void vt_mmio(struct vt_blob *b, uint32_t queues)
{
  memset(b, 0, sizeof *b);
  vt_put(b, 0, 4);                                        /* host_features_sel */
  vt_put(b, 1, 4);                                        /* guest_features_sel */
  vt_put(b, 12, 4);                                       /* guest_page_shift */
  vt_generic(b, true, queues);
  b->device = b->count;
  vt_put(b, 0, 1);                                        /* no in-flight request */
  vt_subsections(b);
}

static void vt_small(struct vt_blob *b)
{
  vt_mmio(b, 1);
}

/* Parses bytes[0, count) from a copy of exactly count bytes (asan sees any over-read). */
static enum mig_err vt_parse_as(const uint8_t *bytes, size_t count, const char *idstr,
                                const char *device, struct mig_virtio_result *result,
                                struct mig_error *error)
{
  uint8_t *copy = malloc(count > 0 ? count : 1);
  ck_assert_ptr_nonnull(copy);
  if (count > 0) memcpy(copy, bytes, count);
  struct mig_virtio_blob blob = {.payload = copy, .payload_bytes = count, .start = 0,
                                 .payload_offset = VT_PAYLOAD_OFFSET, .idstr = idstr,
                                 .device = device,
                                 .transport = mig_virtio_transport_from_idstr(idstr)};
  enum mig_err code = mig_virtio_blob_parse(&blob, result, error);
  free(copy);
  return code;
}

static enum mig_err vt_parse(const struct vt_blob *b, struct mig_virtio_result *result,
                             struct mig_error *error)
{
  return vt_parse_as(b->bytes, b->count, VT_IDSTR, "virtio-blk", result, error);
}

/* The blob is refused with code at payload index at, its path VT_IDSTR "/" + path. */
static void vt_refused(const struct vt_blob *b, enum mig_err code, size_t at, const char *path)
{
  struct mig_virtio_result result;
  struct mig_error error;
  ck_assert_int_eq(vt_parse(b, &result, &error), code);
  ck_assert_uint_eq(error.offset, VT_PAYLOAD_OFFSET + at);
  char expected[MIG_PATH_BYTES_MAX];
  snprintf(expected, sizeof expected, "%s/%s", VT_IDSTR, path);
  ck_assert_str_eq(error.path, expected);
}

/* The blob is accepted and virtio_load stops at payload index end. */
static void vt_ends_at(const struct vt_blob *b, size_t end)
{
  struct mig_virtio_result result;
  struct mig_error error;
  enum mig_err code = vt_parse(b, &result, &error);
  ck_assert_msg(code == MIG_OK, "%s at 0x%" PRIx64 ": %s", error.path, error.offset,
                error.detail);
  ck_assert(!result.unverifiable);
  ck_assert_uint_eq(result.end, end);
}

START_TEST(mig_virtio_transport_from_idstr_shapes)
{
  /* The idstr's transport: virtio-mmio's "virtio-mmio@", a PCI address with bridges, else none. */
  ck_assert_int_eq(mig_virtio_transport_from_idstr(VT_IDSTR), MIG_VIRTIO_TRANSPORT_MMIO);
  ck_assert_int_eq(mig_virtio_transport_from_idstr("0000:00:02.0/virtio-net"),
                   MIG_VIRTIO_TRANSPORT_PCI);
  ck_assert_int_eq(mig_virtio_transport_from_idstr("0000:00:1c.0:00.0/virtio-blk"),
                   MIG_VIRTIO_TRANSPORT_PCI);
  ck_assert_int_eq(mig_virtio_transport_from_idstr("0000:00:02.0"),
                   MIG_VIRTIO_TRANSPORT_UNKNOWN);
  ck_assert_int_eq(mig_virtio_transport_from_idstr("000:00:02.0/virtio-net"),
                   MIG_VIRTIO_TRANSPORT_UNKNOWN);
  ck_assert_int_eq(mig_virtio_transport_from_idstr("virtio-blk"), MIG_VIRTIO_TRANSPORT_UNKNOWN);
  ck_assert_int_eq(mig_virtio_transport_from_idstr(""), MIG_VIRTIO_TRANSPORT_UNKNOWN);
}
END_TEST

START_TEST(mig_virtio_blob_parse_small_blob)
{
  /* The hand-built virtio-mmio blob is read to its last byte; a 0x7e after it is not read. */
  struct vt_blob b;
  vt_small(&b);
  ck_assert_uint_eq(b.count, 134);
  vt_ends_at(&b, b.count);
  size_t end = b.count;
  vt_put(&b, 0x7e, 1);
  vt_ends_at(&b, end);
}
END_TEST

START_TEST(mig_virtio_blob_parse_truncated_never_over_reads)
{
  /*
   * Cut at every byte (the footer would follow): refused at the footer, or stopped at a
   * subsection's marker (a subsection may end the blob), never a read past the cut (asan).
   */
  struct vt_blob b;
  vt_small(&b);
  const size_t ends[] = {b.endian, b.features, b.started};
  for (size_t cut = 0; cut < b.count; cut++) {
    struct mig_virtio_result result;
    struct mig_error error;
    enum mig_err code = vt_parse_as(b.bytes, cut, VT_IDSTR, "virtio-blk", &result, &error);
    if (code == MIG_OK) {
      bool at_marker = false;
      for (size_t i = 0; i < SIM_ARRAY_COUNT(ends); i++) at_marker |= result.end == ends[i];
      ck_assert_msg(at_marker && result.end <= cut, "cut %zu: accepted, ending at %" PRIu64,
                    cut, result.end);
      continue;
    }
    ck_assert_msg(code == MIG_ERR_FOOTER, "cut %zu: %s", cut, mig_err_name(code));
    ck_assert_uint_le(error.offset, VT_PAYLOAD_OFFSET + cut);
    ck_assert_str_eq(error.path, VT_IDSTR "/footer");
  }
}
END_TEST

START_TEST(mig_virtio_blob_parse_num_above_max_refused)
{
  /* num 1025: "Invalid number of virtqueues"; 1024 queues load. */
  struct vt_blob b;
  vt_mmio(&b, 1024);
  vt_ends_at(&b, b.count);
  b.bytes[b.num + 3] = 0x01;
  vt_refused(&b, MIG_ERR_BAD_VALUE, b.num, "virtio/num");
  b.bytes[b.num] = 0xff;
  vt_refused(&b, MIG_ERR_BAD_VALUE, b.num, "virtio/num");
}
END_TEST

START_TEST(mig_virtio_blob_parse_queue_sel_above_max_refused)
{
  /* queue_sel 1024 is refused (QEMU: >= VIRTIO_QUEUE_MAX), 1023 loads. */
  struct vt_blob b;
  vt_small(&b);
  b.bytes[b.queue_sel] = 0x04;
  vt_refused(&b, MIG_ERR_BAD_VALUE, b.queue_sel, "virtio/queue_sel");
  b.bytes[b.queue_sel] = 0x03;
  b.bytes[b.queue_sel + 1] = 0xff;
  vt_ends_at(&b, b.count);
}
END_TEST

START_TEST(mig_virtio_blob_parse_desc_zero_with_index_refused)
{
  /* vring.desc 0 with last_avail_idx 5: "VQ 0 address 0x0 inconsistent with Host index". */
  struct vt_blob b;
  vt_small(&b);
  memset(b.bytes + b.desc, 0, 8);
  vt_refused(&b, MIG_ERR_BAD_VALUE, b.last_avail_idx, "virtio/vq[0]/last_avail_idx");
  memset(b.bytes + b.last_avail_idx, 0, 2);
  vt_ends_at(&b, b.count);
}
END_TEST

START_TEST(mig_virtio_blob_parse_subsection_version_out_of_range_refused)
{
  /* virtio/64bit_features at version 2 or 0 is refused; 0x101 loads (a uint8_t keeps 1). */
  struct vt_blob b;
  vt_small(&b);
  b.bytes[b.features_version + 3] = 2;
  vt_refused(&b, MIG_ERR_SECTION_VERSION, b.features_version, "virtio/64bit_features");
  b.bytes[b.features_version + 3] = 0;
  vt_refused(&b, MIG_ERR_SECTION_VERSION, b.features_version, "virtio/64bit_features");
  b.bytes[b.features_version + 2] = 1;
  b.bytes[b.features_version + 3] = 1;
  vt_ends_at(&b, b.count);
}
END_TEST

START_TEST(mig_virtio_blob_parse_subsection_names)
{
  /*
   * vmstate_subsection_load's rules: an unknown name under "virtio/" is -ENOENT, at its
   * marker; a foreign prefix or a name no longer than "virtio" ends the blob there; a NUL
   * inside cuts the name (QEMU's strcmp); a subsection's own loop refuses "<its name>/x".
   */
  struct vt_blob b;
  vt_small(&b);
  b.bytes[b.features + 2 + strlen("virtio/64b")] = '.';
  vt_refused(&b, MIG_ERR_SUBSECTION, b.features, "virtio/64b.t_features");
  vt_small(&b);
  b.bytes[b.features + 2 + strlen("virti")] = 'O';
  vt_ends_at(&b, b.features);
  vt_small(&b);
  b.bytes[b.started + 1] = 6;                             /* "virtio": no '/' and more */
  vt_ends_at(&b, b.started);
  vt_small(&b);
  b.count = b.started;
  static const char cut_name[] = "virtio/started\0xy";
  vt_put(&b, 0x05, 1);
  vt_put(&b, sizeof cut_name - 1, 1);
  memcpy(b.bytes + b.count, cut_name, sizeof cut_name - 1);
  b.count += sizeof cut_name - 1;
  vt_put(&b, 1, 4);
  vt_put(&b, 1, 1);
  vt_ends_at(&b, b.count);
  vt_small(&b);
  b.count = b.started;
  vt_put_subsection(&b, "virtio/64bit_features/x", 1);
  vt_refused(&b, MIG_ERR_SUBSECTION, b.started, "virtio/64bit_features/x");
}
END_TEST

START_TEST(mig_virtio_blob_parse_duplicate_subsection_read_twice)
{
  /* A subsection sent twice: QEMU reads subsections while the next byte is 0x05. */
  struct vt_blob b;
  vt_small(&b);
  uint8_t copy[35];
  memcpy(copy, b.bytes + b.features, sizeof copy);
  memmove(b.bytes + b.features + sizeof copy, b.bytes + b.features, b.count - b.features);
  memcpy(b.bytes + b.features, copy, sizeof copy);
  b.count += sizeof copy;
  vt_ends_at(&b, b.count);
}
END_TEST

START_TEST(mig_virtio_blob_parse_unverifiable_parts)
{
  /*
   * What the stream cannot size: an in-flight virtio-blk request, the part of a device not
   * modelled (virtio-balloon's vdc->vmsd), a transport the idstr does not name.  virtio-scsi has
   * no device part: its subsections start where virtio-blk's request list does.
   */
  struct vt_blob b;
  vt_small(&b);
  b.bytes[b.device] = 0x01;
  struct mig_virtio_result result;
  struct mig_error error;
  ck_assert_int_eq(vt_parse(&b, &result, &error), MIG_OK);
  ck_assert(result.unverifiable);
  ck_assert_uint_eq(result.stop, b.device);
  ck_assert_ptr_nonnull(strstr(result.why, "virtio-blk request"));
  b.bytes[b.device] = 0x00;
  ck_assert_int_eq(vt_parse_as(b.bytes, b.count, VT_IDSTR, "virtio-balloon", &result, &error),
                   MIG_OK);
  ck_assert(result.unverifiable);
  ck_assert_uint_eq(result.stop, b.device);
  ck_assert_int_eq(vt_parse_as(b.bytes, b.count, "virtio-blk", "virtio-blk", &result, &error),
                   MIG_OK);
  ck_assert(result.unverifiable);
  ck_assert_uint_eq(result.stop, 0);
  ck_assert_int_eq(vt_parse_as(b.bytes, b.count, VT_IDSTR, "virtio-scsi", &result, &error),
                   MIG_OK);
  ck_assert(!result.unverifiable);
  ck_assert_uint_eq(result.end, b.device);
}
END_TEST

/* ------------------------------------------------------------- virtio-net */

struct vt_net_parts {
  size_t after_ufo, curr, rss_version, rss_marker;
};

/*
 * A virtio-mmio virtio-net blob (3 queues): mac_table.in_use `in_use`; with `multiqueue`
 * max_queue_pairs 4, curr_queue_pairs 2 and one more tx_waiting; with `offloads`
 * VIRTIO_NET_F_CTRL_GUEST_OFFLOADS in the 32-bit features and curr_guest_offloads
 * (first byte `offload0`); with `rss` the virtio-net-device/rss subsection (4 entries).
 */
static void vt_net(struct vt_blob *b, struct vt_net_parts *parts, uint32_t in_use,
                   bool multiqueue, bool offloads, uint8_t offload0, bool rss)
{
  memset(b, 0, sizeof *b);
  memset(parts, 0, sizeof *parts);
  vt_put(b, 0, 4);
  vt_put(b, 1, 4);
  vt_put(b, 12, 4);
  vt_generic(b, true, 3);
  if (offloads) b->bytes[b->queue_sel + 2 + 3] |= 0x04;  /* feature bit 2 */
  b->device = b->count;
  vt_put(b, 0x525400123456ull, 6);                        /* mac */
  vt_put(b, 0, 4);                                        /* vqs[0].tx_waiting */
  vt_put(b, 1, 4);                                        /* mergeable_rx_bufs */
  vt_put(b, 1, 2);                                        /* status */
  vt_put(b, 0, 2);                                        /* promisc, allmulti */
  vt_put(b, in_use, 4);
  for (uint32_t i = 0; i < in_use; i++) vt_put(b, 0x010203040506ull, 6);
  vt_put(b, 0, 512);                                      /* vlans */
  vt_put(b, 1, 4);                                        /* has_vnet_hdr */
  vt_put(b, 0, 6);                                        /* overflows, filters */
  vt_put(b, 0, 1);                                        /* has_ufo */
  parts->after_ufo = b->count;
  if (multiqueue) {
    vt_put(b, 4, 2);                                      /* max_queue_pairs */
    parts->curr = b->count;
    vt_put(b, 2, 2);                                      /* curr_queue_pairs */
    vt_put(b, 1, 4);                                      /* vqs[1].tx_waiting */
  }
  if (offloads) vt_put(b, (uint64_t)offload0 << 56 | 0x87, 8);
  if (rss) {
    parts->rss_marker = b->count;
    vt_put_subsection(b, "virtio-net-device/rss", 1);
    parts->rss_version = b->count - 4;
    vt_put(b, 0x010100, 3);                               /* enabled, redirect, populate */
    vt_put(b, 0x3f, 4);                                   /* hash_types */
    vt_put(b, 4, 2);                                      /* indirections_len */
    vt_put(b, 0, 2);                                      /* default_queue */
    vt_put(b, 0, 40);                                     /* key */
    vt_put(b, 0x0001000100010001ull, 8);                  /* indirections_table[4] */
  }
  vt_subsections(b);
}

static enum mig_err vt_parse_net(const struct vt_blob *b, struct mig_virtio_result *result,
                                 struct mig_error *error)
{
  return vt_parse_as(b->bytes, b->count, VT_IDSTR, "virtio-net", result, error);
}

static void vt_net_ends_at(const struct vt_blob *b, size_t end)
{
  struct mig_virtio_result result;
  struct mig_error error;
  enum mig_err code = vt_parse_net(b, &result, &error);
  ck_assert_msg(code == MIG_OK, "%s at 0x%" PRIx64 ": %s", error.path, error.offset,
                error.detail);
  ck_assert_msg(!result.unverifiable, "stopped at %" PRIu64 ": %s", result.stop, result.why);
  ck_assert_uint_eq(result.end, end);
}

START_TEST(mig_virtio_blob_parse_net)
{
  /*
   * virtio-net's vmstate_virtio_net_device: read to the blob's end single-queue and
   * multiqueue (max_queue_pairs, curr_queue_pairs, curr_queue_pairs - 1 more tx_waiting),
   * with curr_guest_offloads (the blob's 32-bit features bit 2), with the rss subsection,
   * and with a mac table larger than MAC_TABLE_ENTRIES (its bytes skipped).
   */
  struct vt_blob b;
  struct vt_net_parts parts;
  vt_net(&b, &parts, 2, false, false, 0, false);
  vt_net_ends_at(&b, b.count);
  vt_net(&b, &parts, 2, true, false, 0, true);
  vt_net_ends_at(&b, b.count);
  vt_net(&b, &parts, 100, true, false, 0, true);
  vt_net_ends_at(&b, b.count);
  vt_net(&b, &parts, 0, false, true, 0x80, true);
  vt_net_ends_at(&b, b.count);
}
END_TEST

START_TEST(mig_virtio_blob_parse_net_refusals)
{
  /*
   * curr_queue_pairs above max_queue_pairs (virtio_net_tx_waiting_pre_load: -EINVAL); the
   * rss subsection at version 2 or 0; an unknown "virtio-net-device/…" subsection (-ENOENT);
   * an unknown "virtio-net-vnet/…" one after has_vnet_hdr.
   */
  struct vt_blob b;
  struct vt_net_parts parts;
  struct mig_virtio_result result;
  struct mig_error error;
  vt_net(&b, &parts, 2, true, false, 0, true);
  b.bytes[parts.curr + 1] = 5;
  ck_assert_int_eq(vt_parse_net(&b, &result, &error), MIG_ERR_BAD_VALUE);
  ck_assert_uint_eq(error.offset, VT_PAYLOAD_OFFSET + parts.curr);
  ck_assert_str_eq(error.path, VT_IDSTR "/virtio-net-device/curr_queue_pairs");
  vt_net(&b, &parts, 2, true, false, 0, true);
  b.bytes[parts.rss_version + 3] = 2;
  ck_assert_int_eq(vt_parse_net(&b, &result, &error), MIG_ERR_SECTION_VERSION);
  ck_assert_uint_eq(error.offset, VT_PAYLOAD_OFFSET + parts.rss_version);
  b.bytes[parts.rss_version + 3] = 0;
  ck_assert_int_eq(vt_parse_net(&b, &result, &error), MIG_ERR_SECTION_VERSION);
  b.bytes[parts.rss_version + 3] = 1;
  b.bytes[parts.rss_marker + 2 + strlen("virtio-net-device/r")] = 'x';
  ck_assert_int_eq(vt_parse_net(&b, &result, &error), MIG_ERR_SUBSECTION);
  ck_assert_uint_eq(error.offset, VT_PAYLOAD_OFFSET + parts.rss_marker);
  ck_assert_str_eq(error.path, VT_IDSTR "/virtio-net-device/rxs");
  /* A subsection inside has_vnet_hdr's description: its own loop refuses it. */
  vt_net(&b, &parts, 0, false, false, 0, false);
  size_t ufo = parts.after_ufo - 1, vnet = ufo - 6;
  uint8_t tail[VT_BLOB_BYTES_MAX];
  size_t tail_bytes = b.count - vnet;
  memcpy(tail, b.bytes + vnet, tail_bytes);
  b.count = vnet;
  vt_put_subsection(&b, "virtio-net-vnet/x", 1);
  memcpy(b.bytes + b.count, tail, tail_bytes);
  b.count += tail_bytes;
  ck_assert_int_eq(vt_parse_net(&b, &result, &error), MIG_ERR_SUBSECTION);
  ck_assert_uint_eq(error.offset, VT_PAYLOAD_OFFSET + vnet);
  ck_assert_str_eq(error.path, VT_IDSTR "/virtio-net-vnet/x");
}
END_TEST

START_TEST(mig_virtio_blob_parse_net_unverifiable)
{
  /*
   * With VIRTIO_NET_F_CTRL_GUEST_OFFLOADS, a byte 0x00 or 0x01 after has_ufo is either a
   * max_queue_pairs (the destination's > 1) or curr_guest_offloads: the stream does not
   * tell, so the reader stops there.  Without the feature it is max_queue_pairs.
   */
  struct vt_blob b;
  struct vt_net_parts parts;
  struct mig_virtio_result result;
  struct mig_error error;
  vt_net(&b, &parts, 0, false, true, 0x01, false);
  ck_assert_int_eq(vt_parse_net(&b, &result, &error), MIG_OK);
  ck_assert(result.unverifiable);
  ck_assert_uint_eq(result.stop, parts.after_ufo);
  ck_assert_ptr_nonnull(strstr(result.why, "max_queue_pairs"));
  vt_net(&b, &parts, 0, true, true, 0x80, false);
  ck_assert_int_eq(vt_parse_net(&b, &result, &error), MIG_OK);
  ck_assert(result.unverifiable);
  ck_assert_uint_eq(result.stop, parts.after_ufo);
}
END_TEST

START_TEST(mig_virtio_blob_parse_net_truncated_never_over_reads)
{
  /* The multiqueue, offloads-free, rss virtio-net blob cut at every byte (asan). */
  struct vt_blob b;
  struct vt_net_parts parts;
  vt_net(&b, &parts, 3, true, false, 0, true);
  for (size_t cut = 0; cut < b.count; cut++) {
    struct mig_virtio_result result;
    struct mig_error error;
    enum mig_err code = vt_parse_as(b.bytes, cut, VT_IDSTR, "virtio-net", &result, &error);
    if (code == MIG_OK) {
      ck_assert_msg(!result.unverifiable && result.end <= cut, "cut %zu: ends at %" PRIu64,
                    cut, result.end);
      continue;
    }
    ck_assert_msg(code == MIG_ERR_FOOTER, "cut %zu: %s", cut, mig_err_name(code));
    ck_assert_uint_le(error.offset, VT_PAYLOAD_OFFSET + cut);
    ck_assert_str_eq(error.path, VT_IDSTR "/footer");
  }
}
END_TEST

/* vt_small with the 1024-element subsections: virtqueues, ringsize, extra_state, packed. */
static void vt_large(struct vt_blob *b, size_t *virtqueues)
{
  vt_small(b);
  b->count = b->started;
  *virtqueues = b->count;
  vt_put_subsection(b, "virtio/virtqueues", 1);
  for (uint32_t i = 0; i < MIG_VIRTIO_QUEUE_MAX; i++) vt_put(b, 0, 16);
  vt_put_subsection(b, "virtio/ringsize", 1);
  for (uint32_t i = 0; i < MIG_VIRTIO_QUEUE_MAX; i++) vt_put(b, 256, 4);
  vt_put_subsection(b, "virtio/broken", 1);
  vt_put(b, 0, 1);
  vt_put_subsection(b, "virtio/extra_state", 1);
  vt_put_subsection(b, "virtio_mmio/state", 1);
  vt_put(b, 0, 8);                                        /* guest_features[2] */
  for (uint32_t i = 0; i < MIG_VIRTIO_QUEUE_MAX; i++) vt_put(b, 0, 27);
  vt_put_subsection(b, "virtio/started", 1);
  vt_put(b, 1, 1);
  vt_put_subsection(b, "virtio/packed_virtqueues", 1);
  for (uint32_t i = 0; i < MIG_VIRTIO_QUEUE_MAX; i++) vt_put(b, 0, 10);
  vt_put_subsection(b, "virtio/disabled", 1);
  vt_put(b, 0, 1);
}

START_TEST(mig_virtio_blob_parse_queue_arrays)
{
  /*
   * The VIRTIO_QUEUE_MAX-element subsections are read whole (16, 4, 27 and 10 bytes an
   * element); each element's own subsection loop refuses "virtqueue_state/…" (-ENOENT).
   */
  struct vt_blob b;
  size_t virtqueues = 0;
  vt_large(&b, &virtqueues);
  vt_ends_at(&b, b.count);
  size_t element1 = virtqueues + 2 + strlen("virtio/virtqueues") + 4 + 16;
  static const char inner[] = "virtqueue_state/zz";
  b.bytes[element1] = 0x05;
  b.bytes[element1 + 1] = (uint8_t)strlen(inner);
  memcpy(b.bytes + element1 + 2, inner, strlen(inner));
  vt_refused(&b, MIG_ERR_SUBSECTION, element1, inner);
  /* The extra state's description is the transport's: virtio_pci/… is unknown to mmio. */
  vt_large(&b, &virtqueues);
  size_t at = 0;
  while (memcmp(b.bytes + at, "\x05\x11virtio_mmio/state", 19) != 0) at++;
  memcpy(b.bytes + at + 2, "virtio_mmio/stat", 16);
  b.bytes[at + 2 + 16] = 'X';
  vt_refused(&b, MIG_ERR_SUBSECTION, at, "virtio_mmio/statX");
}
END_TEST

/* ------------------------------------------------------------- virtio-pci */

/* A virtio-pci virtio-blk blob; with MSI-X: 2 vectors, its capability at 0x40. */
static void vt_pci(struct vt_blob *b, bool msix, size_t *irq, size_t *config_vector,
                   size_t *queue_vector)
{
  memset(b, 0, sizeof *b);
  vt_put(b, 2, 4);                                        /* PCIDevice version_id */
  size_t config = b->count;
  b->count += 256;
  if (msix) {
    b->bytes[config + 0x06] = 0x10;                       /* status: capability list */
    b->bytes[config + 0x34] = 0x40;
    b->bytes[config + 0x40] = 0x11;                       /* MSI-X, next 0 */
    b->bytes[config + 0x42] = 0x01;                       /* table size 2 */
  }
  *irq = b->count;
  vt_put(b, 0, 16);                                       /* irq_state[4] */
  *config_vector = b->count;
  if (msix) {
    vt_put(b, 0, 2 * 16 + 1);                             /* MSI-X table, pending bits */
    *config_vector = b->count;
    vt_put(b, 0, 2);
  }
  vt_generic(b, false, 1);
  *queue_vector = b->count;
  if (msix) vt_put(b, 1, 2);
  b->device = b->count;
  vt_put(b, 0, 1);
  vt_subsections(b);
}

static enum mig_err vt_parse_pci(const struct vt_blob *b, struct mig_virtio_result *result,
                                 struct mig_error *error)
{
  return vt_parse_as(b->bytes, b->count, VT_PCI_IDSTR, "virtio-blk", result, error);
}

START_TEST(mig_virtio_blob_parse_pci)
{
  /*
   * virtio-pci: the PCIDevice state, the MSI-X table its capability sizes, the vectors
   * (below the table size or 0xffff); PCIDevice version 3, an irq state 2, vector 2, and a
   * capability list that loops are refused or unverifiable.
   */
  struct vt_blob b;
  size_t irq = 0, config_vector = 0, queue_vector = 0;
  vt_pci(&b, true, &irq, &config_vector, &queue_vector);
  struct mig_virtio_result result;
  struct mig_error error;
  ck_assert_int_eq(vt_parse_pci(&b, &result, &error), MIG_OK);
  ck_assert(!result.unverifiable);
  ck_assert_uint_eq(result.end, b.count);
  b.bytes[3] = 3;
  ck_assert_int_eq(vt_parse_pci(&b, &result, &error), MIG_ERR_BAD_VALUE);
  ck_assert_str_eq(error.path, VT_PCI_IDSTR "/virtio/PCIDevice/version_id");
  b.bytes[3] = 2;
  b.bytes[irq + 7] = 2;
  ck_assert_int_eq(vt_parse_pci(&b, &result, &error), MIG_ERR_BAD_VALUE);
  ck_assert_uint_eq(error.offset, VT_PAYLOAD_OFFSET + irq + 4);
  b.bytes[irq + 7] = 0;
  b.bytes[config_vector + 1] = 2;
  ck_assert_int_eq(vt_parse_pci(&b, &result, &error), MIG_ERR_BAD_VALUE);
  ck_assert_str_eq(error.path, VT_PCI_IDSTR "/virtio/config_vector");
  b.bytes[config_vector] = 0xff;
  b.bytes[config_vector + 1] = 0xff;
  b.bytes[queue_vector + 1] = 2;
  ck_assert_int_eq(vt_parse_pci(&b, &result, &error), MIG_ERR_BAD_VALUE);
  ck_assert_uint_eq(error.offset, VT_PAYLOAD_OFFSET + queue_vector);
  b.bytes[queue_vector + 1] = 1;
  b.bytes[4 + 0x41] = 0x40;                               /* the capability points at itself */
  ck_assert_int_eq(vt_parse_pci(&b, &result, &error), MIG_OK);
  ck_assert(result.unverifiable);
  ck_assert_uint_eq(result.stop, 4);
  /* Without a capability list there is no MSI-X: no table, no vectors. */
  vt_pci(&b, false, &irq, &config_vector, &queue_vector);
  ck_assert_int_eq(vt_parse_pci(&b, &result, &error), MIG_OK);
  ck_assert(!result.unverifiable);
  ck_assert_uint_eq(result.end, b.count);
}
END_TEST

/* ------------------------------------------------------------- the corpus */

struct vt_stream {
  uint8_t *bytes;
  size_t count;
};

/* Reads and decompresses VT_CORPUS/name.mig.xz; false when it is not there. */
static bool vt_stream_read(const char *name, struct vt_stream *out)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s.mig.xz", VT_CORPUS, name);
  FILE *file = fopen(path, "rb");
  if (file == NULL) return false;
  size_t packed_capacity = 32u << 20, packed_count = 0;
  uint8_t *packed = malloc(packed_capacity);
  ck_assert_ptr_nonnull(packed);
  packed_count = fread(packed, 1, packed_capacity, file);
  ck_assert(feof(file));
  fclose(file);
  out->count = 0;
  size_t capacity = 64u << 20;
  out->bytes = malloc(capacity);
  ck_assert_ptr_nonnull(out->bytes);
  uint64_t memlimit = UINT64_C(256) << 20;
  size_t in_at = 0;
  lzma_ret ret = lzma_stream_buffer_decode(&memlimit, 0, NULL, packed, &in_at, packed_count,
                                           out->bytes, &out->count, capacity);
  ck_assert_int_eq(ret, LZMA_OK);
  free(packed);
  return true;
}

/* A FULL section whose description's first field is "virtio". */
struct vt_section {
  char idstr[MIG_IDSTR_BYTES_MAX + 1];
  char vmsd[64];
  uint64_t payload_offset, payload_bytes, described_bytes;
};

struct vt_sections {
  json_t *vmdesc;
  uint32_t count;
  struct vt_section sections[8];
};

static enum mig_err vt_collect(void *context, const struct mig_inspect_event *event,
                               struct mig_error *error)
{
  (void)error;
  struct vt_sections *found = context;
  if (event->kind != MIG_INSPECT_DEVICE || event->idstr == NULL) return MIG_OK;
  size_t index;
  const json_t *entry;
  json_array_foreach(json_object_get(found->vmdesc, "devices"), index, entry) {
    const json_t *first = json_array_get(json_object_get(entry, "fields"), 0);
    const char *type = json_string_value(json_object_get(first, "type"));
    if (strcmp(json_string_value(json_object_get(entry, "name")), event->idstr) != 0 ||
        type == NULL || strcmp(type, "virtio") != 0) {
      continue;
    }
    ck_assert_uint_lt(found->count, SIM_ARRAY_COUNT(found->sections));
    struct vt_section *section = &found->sections[found->count++];
    snprintf(section->idstr, sizeof section->idstr, "%s", event->idstr);
    snprintf(section->vmsd, sizeof section->vmsd, "%s",
             json_string_value(json_object_get(entry, "vmsd_name")));
    section->payload_offset = event->payload_offset;
    section->payload_bytes = event->payload_bytes;
    section->described_bytes = (uint64_t)json_integer_value(json_object_get(first, "size"));
  }
  return MIG_OK;
}

/* Walks the stream (sized by its trailer) and collects its virtio sections. */
static void vt_sections_find(const struct vt_stream *stream, struct vt_sections *found)
{
  memset(found, 0, sizeof *found);
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_stream(stream->bytes, stream->count, &inspect, &error), MIG_OK);
  found->vmdesc = json_loadb((const char *)stream->bytes + inspect.trailer_offset,
                             (size_t)inspect.trailer_bytes, 0, NULL);
  ck_assert_ptr_nonnull(found->vmdesc);
  mig_inspect_deinit(&inspect);
  struct mig_inspect_visitor visitor = {.visit = vt_collect, .context = found};
  ck_assert_int_eq(mig_inspect_walk_with(stream->bytes, stream->count, &inspect, NULL, &visitor,
                                         &error), MIG_OK);
  mig_inspect_deinit(&inspect);
}

/* The corpus's streams with a "virtio" field, and their destination's machine type. */
static const struct {
  const char *name;
  const char *machine;
  bool pci;
} vt_corpus[] = {
    {"microvm_m32_virtio-mmio-blk", "microvm", false},
    {"pc-i440fx-5.2_m128_smp4_virtio-net_virtio-blk", "pc-i440fx-5.2", true},
    {"pc-i440fx-7.2_m32_dirty-bitmaps", "pc-i440fx-7.2", true},
    {"pc-q35-4.2_m64_virtio-scsi", "pc-q35-4.2", true},
    {"pc-q35-7.2_m64_intel-iommu", "pc-q35-7.2", true},
};

START_TEST(mig_virtio_blob_parse_corpus_ends_at_trailer_size)
{
  /*
   * Each corpus stream's virtio blob (QEMU 7.2 wrote them): read where the VM description
   * says it ends, virtio-net's device part included (none is unverifiable).
   */
  for (size_t i = 0; i < SIM_ARRAY_COUNT(vt_corpus); i++) {
    struct vt_stream stream;
    if (!vt_stream_read(vt_corpus[i].name, &stream)) {
      SIM_CHECK_SKIP("%s/%s.mig.xz not found", VT_CORPUS, vt_corpus[i].name);
      return;
    }
    struct vt_sections found;
    vt_sections_find(&stream, &found);
    ck_assert_uint_gt(found.count, 0);
    for (uint32_t j = 0; j < found.count; j++) {
      const struct vt_section *section = &found.sections[j];
      struct mig_virtio_blob blob = {
          .payload = stream.bytes + section->payload_offset,
          .payload_bytes = section->payload_bytes, .payload_offset = section->payload_offset,
          .idstr = section->idstr, .device = section->vmsd,
          .transport = mig_virtio_transport_from_idstr(section->idstr)};
      ck_assert_int_eq(blob.transport, vt_corpus[i].pci ? MIG_VIRTIO_TRANSPORT_PCI
                                                        : MIG_VIRTIO_TRANSPORT_MMIO);
      struct mig_virtio_result result;
      struct mig_error error;
      enum mig_err code = mig_virtio_blob_parse(&blob, &result, &error);
      ck_assert_msg(code == MIG_OK, "%s: %s at 0x%" PRIx64 ": %s", section->idstr, error.path,
                    error.offset, error.detail);
      ck_assert_msg(!result.unverifiable, "%s: stopped at %" PRIu64 ": %s", section->idstr,
                    result.stop, result.why);
      ck_assert_uint_eq(result.end, section->described_bytes);
    }
    json_decref(found.vmdesc);
    free(stream.bytes);
  }
}
END_TEST

/* The verdict of `inspect --machine --vmstate` on bytes; the dump is the machine's. */
static enum mig_err vt_destcheck(const uint8_t *bytes, size_t count, const char *machine,
                                 struct mig_destcheck_report *report, struct mig_error *error)
{
  char path[512];
  snprintf(path, sizeof path, "%s/vmstate/%s.vmstate.json", VT_CORPUS, machine);
  FILE *file = fopen(path, "rb");
  ck_assert_ptr_nonnull(file);
  size_t capacity = MIG_VMSD_FILE_BYTES_MAX;
  uint8_t *text = malloc(capacity);
  ck_assert_ptr_nonnull(text);
  size_t text_count = fread(text, 1, capacity, file);
  fclose(file);
  struct mig_vmsd_file *dump = NULL;
  struct mig_vmsd_error dump_error;
  ck_assert_int_eq(mig_vmsd_file_parse(text, text_count, &dump, &dump_error), MIG_VMSD_OK);
  free(text);
  struct mig_destcheck_options options = {.machine_type = machine, .dump = dump};
  struct mig_inspect inspect;
  enum mig_err code = mig_destcheck_walk(bytes, count, &options, NULL, NULL, &inspect, report,
                                         error);
  mig_inspect_deinit(&inspect);
  mig_vmsd_file_free(dump);
  return code;
}

START_TEST(mig_destcheck_walk_corpus_virtio_accepted)
{
  /* Each unmodified stream with a virtio field passes --machine --vmstate with no warning. */
  for (size_t i = 0; i < SIM_ARRAY_COUNT(vt_corpus); i++) {
    struct vt_stream stream;
    if (!vt_stream_read(vt_corpus[i].name, &stream)) {
      SIM_CHECK_SKIP("%s/%s.mig.xz not found", VT_CORPUS, vt_corpus[i].name);
      return;
    }
    struct mig_destcheck_report report;
    struct mig_error error;
    enum mig_err code = vt_destcheck(stream.bytes, stream.count, vt_corpus[i].machine, &report,
                                     &error);
    ck_assert_msg(code == MIG_OK, "%s: %s at 0x%" PRIx64 ": %s", vt_corpus[i].name, error.path,
                  error.offset, error.detail);
    ck_assert_msg(report.warning_count == 0, "%s: %s", vt_corpus[i].name,
                  report.warnings[0].text);
    free(stream.bytes);
  }
}
END_TEST

/* The microvm stream and the stream offset of its "virtio/64bit_features" marker. */
static bool vt_microvm(struct vt_stream *stream, size_t *marker)
{
  if (!vt_stream_read("microvm_m32_virtio-mmio-blk", stream)) return false;
  static const char name[] = "\x05\x15virtio/64bit_features";
  size_t length = sizeof name - 1;
  *marker = 0;
  while (*marker + length <= stream->count &&
         memcmp(stream->bytes + *marker, name, length) != 0) {
    (*marker)++;
  }
  ck_assert_uint_lt(*marker + length, stream->count);
  return true;
}

/*
 * The subsection at `at` of stream (a 21-byte name, its version and 8 bytes)
 * sent twice: accepted with the VM description's size warning only (QEMU
 * 7.2 reads subsections while the next byte is 0x05 and loads it twice).
 */
static void vt_assert_twice_accepted(const uint8_t *bytes, size_t count, size_t at,
                                     const char *machine)
{
  struct mig_destcheck_report report;
  struct mig_error error;
  const size_t length = 2 + 21 + 4 + 8;
  uint8_t *twice = malloc(count + length);
  ck_assert_ptr_nonnull(twice);
  memcpy(twice, bytes, at + length);
  memcpy(twice + at + length, bytes + at, count - at);
  enum mig_err code = vt_destcheck(twice, count + length, machine, &report, &error);
  ck_assert_msg(code == MIG_OK, "%s at 0x%" PRIx64 ": %s", error.path, error.offset,
                error.detail);
  ck_assert_uint_eq(report.warning_count, 1);
  ck_assert_ptr_nonnull(strstr(report.warnings[0].text, "virtio blob ends at"));
  free(twice);
}

START_TEST(mig_destcheck_walk_microvm_virtio_mutants)
{
  /*
   * The three edits of the microvm stream QEMU 7.2 judged (docs/fuzzing.md): the subsection
   * renamed "virtio/64b.t_features" (QEMU: "Failed to load virtio-blk:virtio") is refused at
   * its marker; its marker 0x05 -> 0x04 ("Missing section footer") is refused where the
   * footer belongs; the subsection sent twice (QEMU loads it twice) is accepted, with a
   * warning that the blob is longer than the VM description says.
   */
  struct vt_stream stream;
  size_t marker = 0;
  if (!vt_microvm(&stream, &marker)) {
    SIM_CHECK_SKIP("%s/microvm_m32_virtio-mmio-blk.mig.xz not found", VT_CORPUS);
    return;
  }
  struct mig_destcheck_report report;
  struct mig_error error;
  stream.bytes[marker + 2 + strlen("virtio/64b")] = '.';
  ck_assert_int_eq(vt_destcheck(stream.bytes, stream.count, "microvm", &report, &error),
                   MIG_ERR_SUBSECTION);
  ck_assert_uint_eq(error.offset, marker);
  ck_assert_str_eq(error.path, VT_IDSTR "/virtio/64b.t_features");
  stream.bytes[marker + 2 + strlen("virtio/64b")] = 'i';
  stream.bytes[marker] = 0x04;
  ck_assert_int_eq(vt_destcheck(stream.bytes, stream.count, "microvm", &report, &error),
                   MIG_ERR_FOOTER);
  ck_assert_uint_eq(error.offset, marker);
  ck_assert_str_eq(error.path, VT_IDSTR "/footer");
  stream.bytes[marker] = 0x05;
  vt_assert_twice_accepted(stream.bytes, stream.count, marker, "microvm");
  free(stream.bytes);
}
END_TEST

/* The stream offset of `name` (a counted subsection marker) after `from`. */
static size_t vt_find(const struct vt_stream *stream, size_t from, const char *name,
                      size_t length)
{
  size_t at = from;
  while (at + length <= stream->count && memcmp(stream->bytes + at, name, length) != 0) at++;
  ck_assert_uint_lt(at + length, stream->count);
  return at;
}

START_TEST(mig_destcheck_walk_net_virtio_mutants)
{
  /*
   * The real-QEMU differential's three edits inside virtio-net's blob: in the 5.2 stream,
   * virtio_pci/modern_state's name length 0x17 -> 0x80 (QEMU: "incoming version_id 0 is too
   * old") is refused; in the intel-iommu stream, virtio/virtqueues' version 1 -> 0x80000000
   * (the same QEMU refusal) is refused, and virtio/64bit_features sent twice (QEMU loads
   * it) is accepted with the VM description's size warning only.
   */
  struct vt_stream stream;
  static const char net52[] = "pc-i440fx-5.2_m128_smp4_virtio-net_virtio-blk";
  static const char iommu[] = "pc-q35-7.2_m64_intel-iommu";
  if (!vt_stream_read(net52, &stream)) {
    SIM_CHECK_SKIP("%s/%s.mig.xz not found", VT_CORPUS, net52);
    return;
  }
  struct mig_destcheck_report report;
  struct mig_error error;
  size_t net = vt_find(&stream, 0, "0000:00:02.0/virtio-net", 23);
  static const char modern[] = "\x05\x17virtio_pci/modern_state";
  size_t at = vt_find(&stream, net, modern, sizeof modern - 1);
  stream.bytes[at + 1] = 0x80;
  ck_assert_int_eq(vt_destcheck(stream.bytes, stream.count, "pc-i440fx-5.2", &report, &error),
                   MIG_ERR_SECTION_VERSION);
  ck_assert_ptr_nonnull(strstr(error.path, "virtio-net/virtio_pci/modern_state"));
  free(stream.bytes);
  if (!vt_stream_read(iommu, &stream)) {
    SIM_CHECK_SKIP("%s/%s.mig.xz not found", VT_CORPUS, iommu);
    return;
  }
  net = vt_find(&stream, 0, "0000:00:01.0/virtio-net", 23);
  static const char queues[] = "\x05\x11virtio/virtqueues";
  at = vt_find(&stream, net, queues, sizeof queues - 1) + sizeof queues - 1;
  stream.bytes[at] = 0x80;
  stream.bytes[at + 3] = 0x00;
  ck_assert_int_eq(vt_destcheck(stream.bytes, stream.count, "pc-q35-7.2", &report, &error),
                   MIG_ERR_SECTION_VERSION);
  ck_assert_uint_eq(error.offset, at);
  ck_assert_str_eq(error.path, "0000:00:01.0/virtio-net/virtio/virtqueues");
  stream.bytes[at] = 0x00;
  stream.bytes[at + 3] = 0x01;
  static const char features[] = "\x05\x15virtio/64bit_features";
  at = vt_find(&stream, net, features, sizeof features - 1);
  vt_assert_twice_accepted(stream.bytes, stream.count, at, "pc-q35-7.2");
  free(stream.bytes);
}
END_TEST

Suite *mig_virtio_suite(void)
{
  Suite *suite = suite_create("mig_virtio");
  TCase *core = tcase_create("core");
  tcase_add_test(core, mig_virtio_transport_from_idstr_shapes);
  tcase_add_test(core, mig_virtio_blob_parse_small_blob);
  tcase_add_test(core, mig_virtio_blob_parse_duplicate_subsection_read_twice);
  tcase_add_test(core, mig_virtio_blob_parse_queue_arrays);
  tcase_add_test(core, mig_virtio_blob_parse_pci);
  tcase_add_test(core, mig_virtio_blob_parse_net);
  suite_add_tcase(suite, core);
  TCase *corrupt = tcase_create("corrupt");
  tcase_add_test(corrupt, mig_virtio_blob_parse_truncated_never_over_reads);
  tcase_add_test(corrupt, mig_virtio_blob_parse_num_above_max_refused);
  tcase_add_test(corrupt, mig_virtio_blob_parse_queue_sel_above_max_refused);
  tcase_add_test(corrupt, mig_virtio_blob_parse_desc_zero_with_index_refused);
  tcase_add_test(corrupt, mig_virtio_blob_parse_subsection_version_out_of_range_refused);
  tcase_add_test(corrupt, mig_virtio_blob_parse_subsection_names);
  tcase_add_test(corrupt, mig_virtio_blob_parse_unverifiable_parts);
  tcase_add_test(corrupt, mig_virtio_blob_parse_net_refusals);
  tcase_add_test(corrupt, mig_virtio_blob_parse_net_unverifiable);
  tcase_add_test(corrupt, mig_virtio_blob_parse_net_truncated_never_over_reads);
  suite_add_tcase(suite, corrupt);
  TCase *corpus = tcase_create("corpus");
  tcase_add_test(corpus, mig_virtio_blob_parse_corpus_ends_at_trailer_size);
  tcase_add_test(corpus, mig_destcheck_walk_corpus_virtio_accepted);
  tcase_add_test(corpus, mig_destcheck_walk_microvm_virtio_mutants);
  tcase_add_test(corpus, mig_destcheck_walk_net_virtio_mutants);
  tcase_set_timeout(corpus, 120);
  suite_add_tcase(suite, corpus);
  return suite;
}
