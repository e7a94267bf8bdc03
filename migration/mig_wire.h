/*
 * mig_wire.h: every wire table of QEMU's migration stream, version 3, once
 * (spec/stream-format.md §2-§9; QEMU 7.2 unless a row says otherwise).  Each
 * table is an X-macro list; the enums, names and length rules that readers
 * and writers use are generated from these lists and nowhere else (the
 * record layer, mig_record.h, is the one reader of the grammar).
 *
 * Length rules (commands and return-path messages) are one of:
 *   MIG_LENGTH_NEVER      the code is always refused (INVALID)
 *   MIG_LENGTH_FIXED      length == value
 *   MIG_LENGTH_MIN        length >= value
 *   MIG_LENGTH_COUNTED    value fixed bytes, then a counted name that ends the
 *                         payload: length == value + 1 + payload[value]
 *   MIG_LENGTH_ADVISE     0 or value (POSTCOPY_ADVISE: no body, or 16 bytes)
 */
#ifndef MIG_WIRE_H
#define MIG_WIRE_H

#include "sim_base.h"

#define MIG_FILE_MAGIC UINT32_C(0x5145564d)   /* "QEVM" */
#define MIG_FILE_VERSION UINT32_C(3)
#define MIG_FILE_VERSION_COMPAT UINT32_C(2)  /* recognised only to refuse it */

/* Top-level record types (§4.1): X(name, byte). */
#define MIG_SECTION_MAP(X) \
  X(EOF, 0x00) \
  X(START, 0x01) \
  X(PART, 0x02) \
  X(END, 0x03) \
  X(FULL, 0x04) \
  X(SUBSECTION, 0x05) \
  X(VMDESCRIPTION, 0x06) \
  X(CONFIGURATION, 0x07) \
  X(COMMAND, 0x08) \
  X(FOOTER, 0x7e)

enum mig_section_type {
#define MIG_SECTION_ENUM(name, value) MIG_SECTION_##name = value,
  MIG_SECTION_MAP(MIG_SECTION_ENUM)
#undef MIG_SECTION_ENUM
};
#define MIG_SECTION_TYPES_COUNT 9    /* 0x00 .. 0x08: the types a record may start with */

enum mig_length_rule {
  MIG_LENGTH_NEVER,
  MIG_LENGTH_FIXED,
  MIG_LENGTH_MIN,
  MIG_LENGTH_COUNTED,
  MIG_LENGTH_ADVISE,
};

/*
 * Commands (§7): X(name, code, rule, value).  7.2 knows codes below 11
 * (MIG_CMD_MAX); SWITCHOVER_START is 10.0+.  DISCARD's minimum is QEMU's:
 * version, name length, a one-byte name, its NUL and one range.
 */
#define MIG_COMMAND_MAP(X) \
  X(INVALID, 0, MIG_LENGTH_NEVER, 0) \
  X(OPEN_RETURN_PATH, 1, MIG_LENGTH_FIXED, 0) \
  X(PING, 2, MIG_LENGTH_FIXED, 4) \
  X(POSTCOPY_ADVISE, 3, MIG_LENGTH_ADVISE, 16) \
  X(POSTCOPY_LISTEN, 4, MIG_LENGTH_FIXED, 0) \
  X(POSTCOPY_RUN, 5, MIG_LENGTH_FIXED, 0) \
  X(POSTCOPY_RAM_DISCARD, 6, MIG_LENGTH_MIN, 20) \
  X(PACKAGED, 7, MIG_LENGTH_FIXED, 4) \
  X(ENABLE_COLO, 8, MIG_LENGTH_FIXED, 0) \
  X(POSTCOPY_RESUME, 9, MIG_LENGTH_FIXED, 0) \
  X(RECV_BITMAP, 10, MIG_LENGTH_COUNTED, 0) \
  X(SWITCHOVER_START, 11, MIG_LENGTH_FIXED, 0)

enum mig_command {
#define MIG_COMMAND_ENUM(name, code, rule, value) MIG_CMD_##name = code,
  MIG_COMMAND_MAP(MIG_COMMAND_ENUM)
#undef MIG_COMMAND_ENUM
};
#define MIG_CMD_MAX_7_2 11           /* first code a 7.2 destination refuses */
#define MIG_CMD_MAX_10 12
#define MIG_COMMANDS_COUNT MIG_CMD_MAX_10

/* RAM record flags, the low bits of each record's be64 (§6.1): X(name, bit). */
#define MIG_RAM_FLAG_MAP(X) \
  X(FULL, 0x001) \
  X(ZERO, 0x002) \
  X(MEM_SIZE, 0x004) \
  X(PAGE, 0x008) \
  X(EOS, 0x010) \
  X(CONTINUE, 0x020) \
  X(XBZRLE, 0x040) \
  X(HOOK, 0x080) \
  X(COMPRESS_PAGE, 0x100) \
  X(MULTIFD_FLUSH, 0x200)

enum mig_ram_flag {
#define MIG_RAM_FLAG_ENUM(name, bit) MIG_RAM_FLAG_##name = bit,
  MIG_RAM_FLAG_MAP(MIG_RAM_FLAG_ENUM)
#undef MIG_RAM_FLAG_ENUM
};
#define MIG_RAM_SECTION_VERSION 4
#define MIG_RAM_IDSTR "ram"
#define MIG_RAM_XBZRLE_ENCODING 0x01   /* ENCODING_FLAG_XBZRLE */

/* Configuration (§3): its name and its subsections, X(name, wire name). */
#define MIG_CONFIGURATION_NAME "configuration"
#define MIG_CONFIG_SUBSECTION_MAP(X) \
  X(TARGET_PAGE_BITS, "configuration/target-page-bits") \
  X(CAPABILITIES, "configuration/capabilities") \
  X(UUID, "configuration/uuid")

enum mig_config_subsection {
#define MIG_CONFIG_ENUM(name, text) MIG_CONFIG_##name,
  MIG_CONFIG_SUBSECTION_MAP(MIG_CONFIG_ENUM)
#undef MIG_CONFIG_ENUM
  MIG_CONFIG_UNKNOWN,
};
#define MIG_CONFIGURATION_CAPABILITIES "configuration/capabilities"
#define MIG_CAPABILITY_X_IGNORE_SHARED "x-ignore-shared"
#define MIG_CONFIG_UUID_BYTES 16

/*
 * QEMU 7.2's MigrationCapability names (qapi/migration.json): a 7.2
 * destination refuses any other name in configuration/capabilities ("Received
 * unknown capability") and validates only x-ignore-shared.
 */
#define MIG_CAPABILITY_MAP_7_2(X) \
  X("xbzrle") X("rdma-pin-all") X("auto-converge") X("zero-blocks") X("compress") \
  X("events") X("postcopy-ram") X("x-colo") X("release-ram") X("block") \
  X("return-path") X("pause-before-switchover") X("multifd") X("dirty-bitmaps") \
  X("postcopy-blocktime") X("late-block-activate") X("x-ignore-shared") \
  X("validate-uuid") X("background-snapshot") X("zero-copy-send") X("postcopy-preempt")

/* Return-path messages (§8): X(name, type, rule, value).  7.2 knows types below 7. */
#define MIG_RP_MAP(X) \
  X(INVALID, 0, MIG_LENGTH_NEVER, 0) \
  X(SHUT, 1, MIG_LENGTH_FIXED, 4) \
  X(PONG, 2, MIG_LENGTH_FIXED, 4) \
  X(REQ_PAGES_ID, 3, MIG_LENGTH_COUNTED, 12) \
  X(REQ_PAGES, 4, MIG_LENGTH_FIXED, 12) \
  X(RECV_BITMAP, 5, MIG_LENGTH_COUNTED, 0) \
  X(RESUME_ACK, 6, MIG_LENGTH_FIXED, 4) \
  X(SWITCHOVER_ACK, 7, MIG_LENGTH_FIXED, 0)

enum mig_rp_type {
#define MIG_RP_ENUM(name, type, rule, value) MIG_RP_##name = type,
  MIG_RP_MAP(MIG_RP_ENUM)
#undef MIG_RP_ENUM
};
#define MIG_RP_TYPE_MAX_7_2 7u       /* first invalid type in QEMU 7.2 */
#define MIG_RP_TYPE_MAX_10 8u        /* 10.x: SWITCHOVER_ACK added */
#define MIG_RP_MESSAGE_BYTES_MAX 512u
#define MIG_RP_RESUME_ACK_VALUE 1u
#define MIG_RP_BITMAP_END_MARK UINT64_C(0x0123456789abcdef)

/*
 * Multifd (§9): initial packet fields and RAM packet fields, X(name, offset,
 * bytes), and the packet flags.  The RAM packet holds 128 page offsets on x86.
 */
#define MIG_MULTIFD_INITIAL_MAP(X) \
  X(MAGIC, 0, 4) \
  X(VERSION, 4, 4) \
  X(UUID, 8, 16) \
  X(ID, 24, 1)
#define MIG_MULTIFD_PACKET_MAP(X) \
  X(MAGIC, 0, 4) \
  X(VERSION, 4, 4) \
  X(FLAGS, 8, 4) \
  X(PAGES_ALLOC, 12, 4) \
  X(NORMAL_PAGES, 16, 4) \
  X(NEXT_PACKET_SIZE, 20, 4) \
  X(PACKET_NUM, 24, 8) \
  X(ZERO_PAGES, 32, 4) \
  X(RAMBLOCK, 64, 256) \
  X(OFFSETS, 320, 8 * 128)

enum mig_multifd_initial_field {
#define MIG_MULTIFD_INITIAL_ENUM(name, offset, bytes) MIG_MULTIFD_INITIAL_##name = offset,
  MIG_MULTIFD_INITIAL_MAP(MIG_MULTIFD_INITIAL_ENUM)
#undef MIG_MULTIFD_INITIAL_ENUM
};
enum mig_multifd_packet_field {
#define MIG_MULTIFD_PACKET_ENUM(name, offset, bytes) MIG_MULTIFD_PACKET_##name = offset,
  MIG_MULTIFD_PACKET_MAP(MIG_MULTIFD_PACKET_ENUM)
#undef MIG_MULTIFD_PACKET_ENUM
};
#define MIG_MULTIFD_MAGIC UINT32_C(0x11223344)
#define MIG_MULTIFD_VERSION 1u
#define MIG_MULTIFD_INITIAL_BYTES 64u
#define MIG_MULTIFD_PAGES_MAX 128u
#define MIG_MULTIFD_PACKET_BYTES (MIG_MULTIFD_PACKET_OFFSETS + 8u * MIG_MULTIFD_PAGES_MAX)
#define MIG_MULTIFD_FLAG_MAP(X) \
  X(SYNC, 0x1) \
  X(ZLIB, 0x2) \
  X(ZSTD, 0x4) \
  X(DEVICE_STATE, 0x40)
enum mig_multifd_flag {
#define MIG_MULTIFD_FLAG_ENUM(name, bit) MIG_MULTIFD_FLAG_##name = bit,
  MIG_MULTIFD_FLAG_MAP(MIG_MULTIFD_FLAG_ENUM)
#undef MIG_MULTIFD_FLAG_ENUM
};
#define MIG_MULTIFD_FLAG_COMPRESSION_7_2 0xeu  /* 7.2: a 3-bit method field */
/* multifd-compression: the method, and the packet flag each carries (§9.3). */
#define MIG_MULTIFD_COMPRESSION_MAP(X) \
  X(NONE, "none", 0) \
  X(ZLIB, "zlib", MIG_MULTIFD_FLAG_ZLIB) \
  X(ZSTD, "zstd", MIG_MULTIFD_FLAG_ZSTD)
enum mig_multifd_compression {
#define MIG_MULTIFD_COMPRESSION_ENUM(name, text, flag) MIG_MULTIFD_COMPRESSION_##name,
  MIG_MULTIFD_COMPRESSION_MAP(MIG_MULTIFD_COMPRESSION_ENUM)
#undef MIG_MULTIFD_COMPRESSION_ENUM
};

/*
 * VFIO live sections "<bdf>/vfio" (hw/vfio/migration.c, 8.1/10.x): be64
 * markers, X(name, value).  DATA is followed by be64 size and size bytes.
 */
#define MIG_VFIO_FLAG_MAP(X) \
  X(END_OF_STATE, UINT64_C(0xffffffffef100001)) \
  X(DEV_CONFIG_STATE, UINT64_C(0xffffffffef100002)) \
  X(DEV_SETUP_STATE, UINT64_C(0xffffffffef100003)) \
  X(DEV_DATA_STATE, UINT64_C(0xffffffffef100004)) \
  X(DEV_INIT_DATA_SENT, UINT64_C(0xffffffffef100005))
#define MIG_VFIO_FLAG_ENUM(name, value) static const uint64_t MIG_VFIO_FLAG_##name = value;
MIG_VFIO_FLAG_MAP(MIG_VFIO_FLAG_ENUM)
#undef MIG_VFIO_FLAG_ENUM
#define MIG_VFIO_SECTION_VERSION 1u
#define MIG_VFIO_IDSTR_SUFFIX "/vfio"

/*
 * Block migration, the "block" live section (QEMU 7.2 migration/block.c):
 * each record is a be64 (sector << 9 | flags); DEVICE_BLOCK adds a counted
 * device name and, unless ZERO_BLOCK, one 1 MiB chunk of data.
 */
#define MIG_BLOCK_FLAG_MAP(X) \
  X(DEVICE_BLOCK, 0x01) \
  X(EOS, 0x02) \
  X(PROGRESS, 0x04) \
  X(ZERO_BLOCK, 0x08)
enum mig_block_flag {
#define MIG_BLOCK_FLAG_ENUM(name, bit) MIG_BLOCK_FLAG_##name = bit,
  MIG_BLOCK_FLAG_MAP(MIG_BLOCK_FLAG_ENUM)
#undef MIG_BLOCK_FLAG_ENUM
};
#define MIG_BLOCK_IDSTR "block"
#define MIG_BLOCK_SECTION_VERSION 1
#define MIG_BLOCK_SECTOR_BITS 9
#define MIG_BLOCK_CHUNK_BYTES (UINT32_C(1) << 20)    /* BLK_MIG_BLOCK_SIZE */
#define MIG_BLOCK_CHUNK_SECTORS (MIG_BLOCK_CHUNK_BYTES >> MIG_BLOCK_SECTOR_BITS)

/*
 * Dirty bitmaps, the "dirty-bitmap" live section (QEMU 7.2
 * migration/block-dirty-bitmap.c): chunk flags of 1, 2 or 4 bytes.
 */
#define MIG_BITMAP_FLAG_MAP(X) \
  X(EOS, 0x01) \
  X(ZEROES, 0x02) \
  X(BITMAP_NAME, 0x04) \
  X(DEVICE_NAME, 0x08) \
  X(START, 0x10) \
  X(COMPLETE, 0x20) \
  X(BITS, 0x40) \
  X(EXTRA, 0x80)
enum mig_bitmap_flag {
#define MIG_BITMAP_FLAG_ENUM(name, bit) MIG_BITMAP_FLAG_##name = bit,
  MIG_BITMAP_FLAG_MAP(MIG_BITMAP_FLAG_ENUM)
#undef MIG_BITMAP_FLAG_ENUM
};
#define MIG_BITMAP_START_RESERVED 0xf8u
#define MIG_BITMAP_IDSTR "dirty-bitmap"
#define MIG_BITMAP_SECTION_VERSION 1

/* Big-endian fields of a wire buffer (every table above is big-endian), and their writers. */
static inline uint32_t mig_wire_be32(const uint8_t *bytes)
{
  return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 | bytes[3];
}
static inline uint64_t mig_wire_be64(const uint8_t *bytes)
{
  return (uint64_t)mig_wire_be32(bytes) << 32 | mig_wire_be32(bytes + 4);
}
static inline void mig_wire_put_be16(uint8_t *out, uint16_t value)
{
  out[0] = (uint8_t)(value >> 8);
  out[1] = (uint8_t)value;
}
static inline void mig_wire_put_be32(uint8_t *out, uint32_t value)
{
  mig_wire_put_be16(out, (uint16_t)(value >> 16));
  mig_wire_put_be16(out + 2, (uint16_t)value);
}
static inline void mig_wire_put_be64(uint8_t *out, uint64_t value)
{
  mig_wire_put_be32(out, (uint32_t)(value >> 32));
  mig_wire_put_be32(out + 4, (uint32_t)value);
}

/* Name of a command, return-path message or top-level type; "?" when unknown. */
const char *mig_wire_command_name(uint32_t code);
const char *mig_wire_rp_name(uint32_t type);
const char *mig_wire_section_name(uint32_t type);
/* "none", "zlib" or "zstd"; and the packet flag of a method (0, ZLIB, ZSTD). */
const char *mig_multifd_compression_name(enum mig_multifd_compression compression);
uint32_t mig_multifd_compression_flag(enum mig_multifd_compression compression);
/*
 * Checks a payload length against a table rule (payload may be NULL unless
 * the rule is MIG_LENGTH_COUNTED and the length reaches the count byte).
 */
bool mig_wire_length_ok(enum mig_length_rule rule, uint32_t value, uint32_t length,
                        const uint8_t *payload);
void mig_wire_command_rule(uint32_t code, enum mig_length_rule *rule, uint32_t *value);
void mig_wire_rp_rule(uint32_t type, enum mig_length_rule *rule, uint32_t *value);
/* True when name (length bytes, not NUL-terminated) is a QEMU 7.2 capability. */
bool mig_wire_capability_known_7_2(const uint8_t *name, size_t length);

/*
 * The destination's postcopy state machine (§7, QEMU 7.2 savevm.c's
 * loadvm_postcopy_handle_*): NONE -(ADVISE)-> ADVISE -(DISCARD)-> DISCARD
 * -(LISTEN)-> LISTENING -(RUN)-> RUNNING -> END; LISTEN also from ADVISE,
 * DISCARD repeats.  Shared by the simulated destination (mig_postcopy.c) and
 * the walker (mig_inspect.c).
 */
#define MIG_POSTCOPY_STATE_MAP(X) \
  X(NONE, "none") \
  X(ADVISE, "advise") \
  X(DISCARD, "discard") \
  X(LISTENING, "listening") \
  X(RUNNING, "running") \
  X(END, "end")

enum mig_postcopy_state {
#define MIG_POSTCOPY_STATE_ENUM(name, text) MIG_POSTCOPY_##name,
  MIG_POSTCOPY_STATE_MAP(MIG_POSTCOPY_STATE_ENUM)
#undef MIG_POSTCOPY_STATE_ENUM
};
const char *mig_postcopy_state_name(enum mig_postcopy_state state);
/*
 * One of ADVISE, POSTCOPY_RAM_DISCARD, LISTEN, RUN in *state: true and the
 * next state, or false (QEMU: "... in wrong postcopy state") and *state
 * unchanged.  Other commands leave the state alone and return true.
 */
bool mig_postcopy_state_step(enum mig_postcopy_state *state, uint32_t command);

#endif /* MIG_WIRE_H */
