/*
 * mig_multifd_test.c: multifd channels between two sets of RAM blocks: for
 * each compression (none, zlib, zstd) and each zero-page placement (main
 * channel as 7.2, packets as 10.x) the destination ends equal, packets are
 * the fixed 1344 bytes plus payload, every EOS is preceded by one SYNC per
 * channel; hostile initial packets and packet fields are typed errors with
 * `multifd/...` paths; the shared decoder (mig_multifd_packet.h) under the
 * sink's and the simulator's policies.
 */
#include "sim_base.h"

#include "mig_multifd_packet.h"
#include "mig_multifd_recv.h"
#include "mig_multifd_send.h"
#include "mig_ram.h"
#include "sim_check.h"

#define CHANNELS 3
#define DATA (64 + 1344)   /* channel 0's first packet with pages: after setup's SYNC */

struct mf {
  struct sim *sim;
  struct ram_block *src[2], *dst[2];
  struct mig_membuf main_bytes, channel_bytes[CHANNELS];
  struct mig_writer main, channels[CHANNELS];
  uint8_t main_buffer[4096], channel_buffers[CHANNELS][4096];
  struct mig_multifd_send *send;
};

static enum mig_err membuf_sink(void *context, const uint8_t *bytes, size_t count)
{
  return mig_membuf_write(context, bytes, count);
}

static void mf_init(struct mf *f, enum mig_multifd_compression compression, bool zero_pages)
{
  memset(f, 0, sizeof(*f));
  struct sim_options options = {.seed = 3};
  f->sim = sim_create(&options);
  for (int side = 0; side < 2; side++) {
    struct ram_block **out = side == 0 ? f->src : f->dst;
    out[0] = ram_block_create(f->sim, "pc.ram", 600 * RAM_PAGE_BYTES);
    struct ram_block_options synth = {.name = "mem", .used_bytes = 300 * RAM_PAGE_BYTES,
                                      .backing = RAM_BACKING_SYNTHETIC};
    out[1] = ram_block_create_with(f->sim, &synth);
  }
  struct sim_prng prng;
  sim_prng_stream(f->sim, &prng, "test");
  for (uint64_t page = 0; page < 600; page += 3) {
    uint64_t value = sim_prng_u64(&prng);
    ram_write(f->src[0], page * RAM_PAGE_BYTES + 8 * (value % 512), &value, 8);
  }
  for (uint64_t page = 0; page < 300; page += 2) ram_store(f->src[1], page, 1, page + 1);
  mig_membuf_init(&f->main_bytes, 1 << 26);
  mig_writer_init(&f->main, f->main_buffer, 4096, membuf_sink, &f->main_bytes);
  struct mig_writer *writers[CHANNELS];
  for (int i = 0; i < CHANNELS; i++) {
    mig_membuf_init(&f->channel_bytes[i], 1 << 26);
    mig_writer_init(&f->channels[i], f->channel_buffers[i], 4096, membuf_sink,
                    &f->channel_bytes[i]);
    writers[i] = &f->channels[i];
  }
  struct mig_multifd_send_options mo = {.channels_count = CHANNELS, .compression = compression,
                                        .level = 1, .zero_pages = zero_pages};
  f->send = mig_multifd_send_create(&mo, writers);
}

static void mf_deinit(struct mf *f)
{
  mig_multifd_send_destroy(f->send);
  mig_membuf_deinit(&f->main_bytes);
  for (int i = 0; i < CHANNELS; i++) mig_membuf_deinit(&f->channel_bytes[i]);
  sim_destroy(f->sim);
}

/* Setup, two PART payloads of 200 pages, the END payload: four EOS records. */
static void mf_send(struct mf *f)
{
  struct mig_ram_source source;
  mig_ram_source_init(&source, f->sim, f->src, 2);
  mig_ram_source_multifd_set(&source, f->send);
  mig_multifd_send_initial(f->send);
  mig_ram_save_setup(&source, &f->main);
  mig_ram_save_iterate(&source, &f->main, 200);
  mig_ram_save_iterate(&source, &f->main, 200);
  mig_ram_save_complete(&source, &f->main);
  ck_assert_int_eq(mig_writer_flush(&f->main), MIG_OK);
}

/* Reads every channel to its end; returns the first error. */
static enum mig_err mf_receive(struct mf *f, enum mig_multifd_compression compression,
                               struct mig_multifd_recv_stats *stats, struct mig_error *error)
{
  struct mig_multifd_recv_options ro = {.channels_count = CHANNELS, .compression = compression,
                                        .blocks = f->dst, .block_count = 2};
  struct mig_multifd_recv *recv = mig_multifd_recv_create(&ro);
  enum mig_err err = MIG_OK;
  for (int i = 0; i < CHANNELS && err == MIG_OK; i++) {
    struct mig_reader reader;
    mig_reader_init_memory(&reader, f->channel_bytes[i].bytes, f->channel_bytes[i].count);
    uint32_t channel = 99;
    err = mig_multifd_recv_initial(recv, &reader, &channel);
    if (err == MIG_OK) ck_assert_uint_eq(channel, (uint32_t)i);
    while (err == MIG_OK && !mig_reader_at_end(&reader)) {
      bool sync = false;
      err = mig_multifd_recv_packet(recv, channel, &reader, &sync);
    }
    if (err != MIG_OK) *error = *mig_reader_error(&reader);
    if (err == MIG_OK) ck_assert_uint_eq(mig_multifd_recv_syncs(recv, channel), 4);
  }
  *stats = *mig_multifd_recv_stats(recv);
  mig_multifd_recv_destroy(recv);
  return err;
}

/* The main channel's RAM payloads (START, PART, PART, END). */
static void mf_load_main(struct mf *f)
{
  struct mig_ram_dest dest;
  mig_ram_dest_init(&dest, f->dst, 2);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, f->main_bytes.bytes, f->main_bytes.count);
  const uint8_t types[4] = {MIG_SECTION_START, MIG_SECTION_PART, MIG_SECTION_PART,
                            MIG_SECTION_END};
  for (int i = 0; i < 4; i++) ck_assert_int_eq(mig_ram_load(&dest, &reader, types[i]), MIG_OK);
  ck_assert(mig_reader_at_end(&reader));
}

START_TEST(mig_multifd_channels_carry_ram)
{
  /* Each method and zero placement: the destination's pages equal the source's. */
  for (int c = 0; c < 3; c++) {
    for (int zero = 0; zero < 2; zero++) {
      struct mf f;
      mf_init(&f, (enum mig_multifd_compression)c, zero);
      mf_send(&f);
      struct mig_multifd_recv_stats stats;
      struct mig_error error;
      enum mig_err err = mf_receive(&f, (enum mig_multifd_compression)c, &stats, &error);
      ck_assert_msg(err == MIG_OK, "%s: %s", error.path, error.detail);
      mf_load_main(&f);
      for (int b = 0; b < 2; b++) {
        for (uint64_t p = 0; p < f.src[b]->page_count; p++) {
          ck_assert_uint_eq(ram_page_hash(f.dst[b], p), ram_page_hash(f.src[b], p));
        }
      }
      const struct mig_multifd_send_stats *ss = mig_multifd_send_stats(f.send);
      ck_assert_uint_eq(ss->normal_pages_count, 200 + 150);
      ck_assert_uint_eq(ss->zero_pages_count, zero ? 400 + 150 : 0);
      ck_assert_uint_eq(stats.normal_pages_count, ss->normal_pages_count);
      ck_assert_uint_eq(stats.zero_pages_count, ss->zero_pages_count);
      ck_assert_uint_eq(ss->sync_packets_count, 4 * CHANNELS);
      if (c == MIG_MULTIFD_COMPRESSION_NONE) {
        /* Fixed 1344-byte headers; payloads exactly the normal pages. */
        ck_assert_uint_eq(ss->bytes, CHANNELS * 64u + (ss->packets_count + ss->sync_packets_count)
                                         * 1344u + ss->normal_pages_count * 4096u);
      } else {
        /* 150 synthetic pages are random bytes; 200 dense ones hold one word each. */
        ck_assert_uint_lt(ss->payload_bytes, 150 * 4096u + 200 * 512u);
      }
      /* Packets go to the channels in turn. */
      uint64_t max = 0, min = UINT64_MAX;
      for (int i = 0; i < CHANNELS; i++) {
        max = SIM_MAX(max, ss->channel_packets_count[i]);
        min = SIM_MIN(min, ss->channel_packets_count[i]);
      }
      ck_assert_uint_le(max - min, 1);
      mf_deinit(&f);
    }
  }
}
END_TEST

struct flip {
  int channel;
  size_t at;
  uint8_t value;
  const char *path;
  enum mig_err code;
};

START_TEST(mig_multifd_hostile_fields_refused)
{
  /*
   * One changed byte per case; each must fail with its code and path.  The
   * codes and leaves are the sink's (one decoder, mig_multifd_packet.h): a
   * foreign UUID is CONFIG_MISMATCH, an unknown block RAM_BLOCK, a bad page
   * offset RAM_OFFSET at "offset[i]" (the entry's index).
   */
  const struct flip flips[] = {
      {0, 0, 0x12, "multifd/initial/magic", MIG_ERR_BAD_MAGIC},
      {1, 7, 2, "multifd/initial/version", MIG_ERR_BAD_VERSION},
      {1, 10, 1, "multifd/initial/uuid", MIG_ERR_CONFIG_MISMATCH},
      {2, 24, 3, "multifd/initial/id", MIG_ERR_BAD_VALUE},
      {0, 64 + 11, 0x4, "multifd/channel0/packet0/flags", MIG_ERR_BAD_VALUE},
      {0, 64 + 14, 0x2, "multifd/channel0/packet0/pages_alloc", MIG_ERR_BAD_VALUE},
      /* Packet 0 is setup's SYNC (no pages, its other fields ignored); packet 1 has pages. */
      {0, DATA + 64, 'x', "multifd/channel0/packet1/ramblock", MIG_ERR_RAM_BLOCK},
      /* Not page aligned; then aligned but beyond the block's used length. */
      {0, DATA + 320 + 7, 0x8, "multifd/channel0/packet1/offset[0]", MIG_ERR_RAM_OFFSET},
      {0, DATA + 320 + 5, 0x70, "multifd/channel0/packet1/offset[0]", MIG_ERR_RAM_OFFSET},
      {0, DATA + 22, 0x7f, "multifd/channel0/packet1/next_packet_size", MIG_ERR_BAD_VALUE},
  };
  for (size_t i = 0; i < SIM_ARRAY_COUNT(flips); i++) {
    struct mf f;
    mf_init(&f, MIG_MULTIFD_COMPRESSION_NONE, false);
    mf_send(&f);
    f.channel_bytes[flips[i].channel].bytes[flips[i].at] = flips[i].value;
    struct mig_multifd_recv_stats stats;
    struct mig_error error;
    ck_assert_int_eq(mf_receive(&f, MIG_MULTIFD_COMPRESSION_NONE, &stats, &error), flips[i].code);
    ck_assert_str_eq(error.path, flips[i].path);
    mf_deinit(&f);
  }
}
END_TEST

/* Receives f's channels with compression c and checks packet 1 of channel 0 was refused. */
static void mf_expect_packet1_refused(struct mf *f, int c, enum mig_err code,
                                      struct mig_error *error)
{
  struct mig_multifd_recv_stats stats;
  ck_assert_int_eq(mf_receive(f, (enum mig_multifd_compression)c, &stats, error), code);
  ck_assert_str_eq(error->path, c == 1 ? "multifd/channel0/packet1/zlib"
                                       : "multifd/channel0/packet1/zstd");
}

START_TEST(mig_multifd_corrupt_compressed_payload_refused)
{
  /* A damaged zlib or zstd payload fails on its own packet, named by its method. */
  for (int c = 1; c < 3; c++) {
    struct mf f;
    mf_init(&f, (enum mig_multifd_compression)c, false);
    mf_send(&f);
    uint8_t *payload = f.channel_bytes[0].bytes + DATA + 1344;
    for (int i = 0; i < 64; i++) payload[i] ^= 0x5a;
    struct mig_error error;
    mf_expect_packet1_refused(&f, c, MIG_ERR_BAD_VALUE, &error);
    /* The offset is the payload byte the decoder had reached, not the payload's start. */
    uint32_t size = mig_wire_be32(f.channel_bytes[0].bytes + DATA +
                                  MIG_MULTIFD_PACKET_NEXT_PACKET_SIZE);
    ck_assert_uint_ge(error.offset, DATA + 1344);
    ck_assert_uint_le(error.offset, DATA + 1344 + size);
    mf_deinit(&f);
  }
}
END_TEST

/*
 * Goal: a compressed payload that inflates to more or fewer bytes than the
 * packet's normal pages fails on that packet with the reason; method: packet
 * 1's normal_pages lowered by one (more output) and raised by one with an
 * offset for the extra page (fewer bytes), for zlib and zstd.  The codes and
 * offsets are the sink's, from the one payload decoder (mig_multifd_payload.h;
 * before it this reader said BAD_VALUE at the payload's start for both):
 * TOO_LONG at the payload byte reached when the extra output appeared,
 * TRUNCATED at the payload's end.
 */
START_TEST(mig_multifd_compressed_size_mismatch_refused)
{
  static const struct {
    int32_t delta;
    enum mig_err code;
    const char *why;
  } cases[] = {{-1, MIG_ERR_TOO_LONG, "decompresses to more than normal_pages x 4096"},
               {+1, MIG_ERR_TRUNCATED, "normal_pages x 4096 = "}};
  for (int c = 1; c < 3; c++) {
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
      struct mf f;
      mf_init(&f, (enum mig_multifd_compression)c, false);
      mf_send(&f);
      uint8_t *header = f.channel_bytes[0].bytes + DATA;
      uint32_t normal = mig_wire_be32(header + MIG_MULTIFD_PACKET_NORMAL_PAGES);
      ck_assert_uint_gt(normal, 1);
      uint32_t patched = normal + (uint32_t)cases[k].delta;
      mig_wire_put_be32(header + MIG_MULTIFD_PACKET_NORMAL_PAGES, patched);
      if (cases[k].delta > 0) {
        /* The extra page's offset: the page after the last one listed, still in the block. */
        uint8_t *offsets = header + MIG_MULTIFD_PACKET_OFFSETS;
        uint64_t last = mig_wire_be64(offsets + 8 * (normal - 1));
        mig_wire_put_be64(offsets + 8 * normal, last + MIG_PAGE_BYTES);
      }
      uint32_t size = mig_wire_be32(header + MIG_MULTIFD_PACKET_NEXT_PACKET_SIZE);
      struct mig_error error;
      mf_expect_packet1_refused(&f, c, cases[k].code, &error);
      ck_assert_msg(strstr(error.detail, cases[k].why) != NULL, "%d %s: %s", c, cases[k].why,
                    error.detail);
      if (cases[k].delta < 0) {
        ck_assert_uint_gt(error.offset, DATA + 1344);
        ck_assert_uint_le(error.offset, DATA + 1344 + size);
      } else {
        ck_assert_uint_eq(error.offset, DATA + 1344 + size);
      }
      mf_deinit(&f);
    }
  }
}
END_TEST

/* A nocomp RAM packet: one normal page at offset 0 of "pc.ram"; the caller patches fields. */
static void packet_build(uint8_t packet[MIG_MULTIFD_PACKET_BYTES])
{
  memset(packet, 0, MIG_MULTIFD_PACKET_BYTES);
  mig_wire_put_be32(packet + MIG_MULTIFD_PACKET_MAGIC, MIG_MULTIFD_MAGIC);
  mig_wire_put_be32(packet + MIG_MULTIFD_PACKET_VERSION, MIG_MULTIFD_VERSION);
  mig_wire_put_be32(packet + MIG_MULTIFD_PACKET_PAGES_ALLOC, MIG_MULTIFD_PAGES_MAX);
  mig_wire_put_be32(packet + MIG_MULTIFD_PACKET_NORMAL_PAGES, 1);
  mig_wire_put_be32(packet + MIG_MULTIFD_PACKET_NEXT_PACKET_SIZE, MIG_PAGE_BYTES);
  memcpy(packet + MIG_MULTIFD_PACKET_RAMBLOCK, "pc.ram", 6);
}

START_TEST(mig_multifd_packet_policy_fields)
{
  /*
   * Goal: the one decoder's verdicts, and that each policy field changes only
   * its own check.  Method: one packet, patched per case, decoded under the
   * sink's policy (7.2: no zero_pages) and the simulator's (zero_pages read).
   */
  struct mig_multifd_policy sink = {.compression = MIG_MULTIFD_COMPRESSION_NONE,
                                    .channels_count = MIG_MULTIFD_CHANNELS_MAX};
  struct mig_multifd_policy sim = sink;
  sim.zero_pages = true;
  static uint8_t packet[MIG_MULTIFD_PACKET_BYTES];
  struct mig_multifd_packet out;
  struct mig_multifd_fault fault;
  packet_build(packet);
  ck_assert(mig_multifd_packet_decode(packet, &sink, &out, &fault));
  ck_assert_str_eq(out.ramblock, "pc.ram");
  /* 7.2's unused[0] holding 200: ignored by the sink, above pages_alloc - 1 for the simulator. */
  mig_wire_put_be32(packet + MIG_MULTIFD_PACKET_ZERO_PAGES, 200);
  ck_assert(mig_multifd_packet_decode(packet, &sink, &out, &fault));
  ck_assert_uint_eq(out.zero_pages, 0);
  ck_assert(!mig_multifd_packet_decode(packet, &sim, &out, &fault));
  ck_assert_int_eq(fault.code, MIG_ERR_BAD_VALUE);
  ck_assert_uint_eq(fault.at, MIG_MULTIFD_PACKET_ZERO_PAGES);
  ck_assert_str_eq(fault.field, "zero_pages");
  /* Zero pages' offsets are checked too: entry 1 (the zero page) not aligned. */
  mig_wire_put_be32(packet + MIG_MULTIFD_PACKET_ZERO_PAGES, 1);
  mig_wire_put_be64(packet + MIG_MULTIFD_PACKET_OFFSETS + 8, 0x1001);
  ck_assert(mig_multifd_packet_decode(packet, &sink, &out, &fault));
  ck_assert(!mig_multifd_packet_decode(packet, &sim, &out, &fault));
  ck_assert_int_eq(fault.code, MIG_ERR_RAM_OFFSET);
  ck_assert_uint_eq(fault.at, MIG_MULTIFD_PACKET_OFFSETS + 8);
  char path[MIG_PATH_BYTES_MAX];
  mig_multifd_fault_path(&fault, 2, 7, path, sizeof path);
  ck_assert_str_eq(path, "multifd/channel2/packet7/offset[1]");
  /* An empty block name, and a compressed payload above 1 MiB under zlib. */
  packet_build(packet);
  packet[MIG_MULTIFD_PACKET_RAMBLOCK] = 0;
  ck_assert(!mig_multifd_packet_decode(packet, &sink, &out, &fault));
  ck_assert_int_eq(fault.code, MIG_ERR_RAM_BLOCK);
  packet_build(packet);
  struct mig_multifd_policy zlib = sink;
  zlib.compression = MIG_MULTIFD_COMPRESSION_ZLIB;
  mig_wire_put_be32(packet + MIG_MULTIFD_PACKET_FLAGS, MIG_MULTIFD_FLAG_ZLIB);
  mig_wire_put_be32(packet + MIG_MULTIFD_PACKET_NEXT_PACKET_SIZE,
                    MIG_MULTIFD_PAYLOAD_BYTES_MAX + 1);
  ck_assert(!mig_multifd_packet_decode(packet, &zlib, &out, &fault));
  ck_assert_int_eq(fault.code, MIG_ERR_TOO_LONG);
  ck_assert(!mig_multifd_packet_decode(packet, &sink, &out, &fault));  /* flag vs none */
  ck_assert_str_eq(fault.field, "flags");
}
END_TEST

START_TEST(mig_multifd_initial_policy_fields)
{
  /*
   * Goal: the initial packet's checks under both policies.  Method: one
   * packet with id 3 and UUID 0x11.., decoded with a channel count, the ids
   * seen and an expected UUID each making the difference.
   */
  uint8_t packet[MIG_MULTIFD_INITIAL_BYTES] = {0};
  mig_wire_put_be32(packet, MIG_MULTIFD_MAGIC);
  mig_wire_put_be32(packet + MIG_MULTIFD_INITIAL_VERSION, MIG_MULTIFD_VERSION);
  memset(packet + MIG_MULTIFD_INITIAL_UUID, 0x11, MIG_CONFIG_UUID_BYTES);
  packet[MIG_MULTIFD_INITIAL_ID] = 3;
  uint8_t other[MIG_CONFIG_UUID_BYTES];
  memset(other, 0x22, sizeof other);
  bool seen[MIG_MULTIFD_CHANNELS_MAX] = {false};
  struct mig_multifd_policy policy = {.channels_count = MIG_MULTIFD_CHANNELS_MAX};
  struct mig_multifd_initial out;
  struct mig_multifd_fault fault;
  ck_assert(mig_multifd_initial_decode(packet, &policy, seen, &out, &fault));
  ck_assert_uint_eq(out.id, 3);
  seen[3] = true;
  ck_assert(!mig_multifd_initial_decode(packet, &policy, seen, &out, &fault));
  ck_assert_str_eq(fault.field, "id");
  policy.channels_count = 3;  /* QEMU 7.2 would let id == multifd-channels by */
  ck_assert(!mig_multifd_initial_decode(packet, &policy, NULL, &out, &fault));
  ck_assert_int_eq(fault.code, MIG_ERR_BAD_VALUE);
  policy.channels_count = 4;
  policy.uuid = other;
  ck_assert(!mig_multifd_initial_decode(packet, &policy, NULL, &out, &fault));
  ck_assert_int_eq(fault.code, MIG_ERR_CONFIG_MISMATCH);
  ck_assert_uint_eq(fault.at, MIG_MULTIFD_INITIAL_UUID);
  char path[MIG_PATH_BYTES_MAX];
  mig_multifd_fault_path(&fault, 1, UINT64_MAX, path, sizeof path);
  ck_assert_str_eq(path, "multifd/channel1/initial/uuid");
}
END_TEST

Suite *mig_multifd_suite(void)
{
  Suite *suite = suite_create("mig_multifd");
  TCase *core = tcase_create("core");
  tcase_add_test(core, mig_multifd_channels_carry_ram);
  suite_add_tcase(suite, core);
  TCase *hostile = tcase_create("hostile");
  tcase_add_test(hostile, mig_multifd_hostile_fields_refused);
  tcase_add_test(hostile, mig_multifd_corrupt_compressed_payload_refused);
  tcase_add_test(hostile, mig_multifd_compressed_size_mismatch_refused);
  tcase_add_test(hostile, mig_multifd_packet_policy_fields);
  tcase_add_test(hostile, mig_multifd_initial_policy_fields);
  suite_add_tcase(suite, hostile);
  return suite;
}
