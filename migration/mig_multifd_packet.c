/*
 * mig_multifd_packet.c: multifd initial and RAM packet decoding, the checks
 * both receivers share (overview in mig_multifd_packet.h; wire facts in
 * spec/stream-format.md §9.2-§9.3, QEMU 7.2 migration/multifd.c).
 */
#include "sim_base.h"

#include "mig_multifd_packet.h"

_Static_assert(MIG_MULTIFD_PACKET_BYTES == 1344, "7.2 x86 packet size (spec §9.3)");
_Static_assert(MIG_MULTIFD_PAYLOAD_BYTES_MAX == (1u << 20),
               "QEMU 7.2's zbuff: MULTIFD_PACKET_SIZE x 2");
_Static_assert(MIG_MULTIFD_INITIAL_BYTES <= MIG_MULTIFD_PACKET_BYTES, "a head holds both");

/* Fills *fault; returns false so a check can `return fail(...)`. */
static bool fail(struct mig_multifd_fault *fault, enum mig_err code, uint32_t at,
                 const char *field, const char *detail)
{
  fault->code = code;
  fault->at = at;
  snprintf(fault->field, sizeof fault->field, "%s", field);
  snprintf(fault->detail, sizeof fault->detail, "%s", detail);
  return false;
}

bool mig_multifd_initial_decode(const uint8_t bytes[MIG_MULTIFD_INITIAL_BYTES],
                                const struct mig_multifd_policy *policy, const bool *ids_seen,
                                struct mig_multifd_initial *out, struct mig_multifd_fault *fault)
{
  SIM_ASSERT(policy->channels_count <= MIG_MULTIFD_CHANNELS_MAX);
  if (mig_wire_be32(bytes + MIG_MULTIFD_INITIAL_MAGIC) != MIG_MULTIFD_MAGIC) {
    return fail(fault, MIG_ERR_BAD_MAGIC, MIG_MULTIFD_INITIAL_MAGIC, "magic", "not 0x11223344");
  }
  if (mig_wire_be32(bytes + MIG_MULTIFD_INITIAL_VERSION) != MIG_MULTIFD_VERSION) {
    return fail(fault, MIG_ERR_BAD_VERSION, MIG_MULTIFD_INITIAL_VERSION, "version",
                "multifd version is not 1");
  }
  memcpy(out->uuid, bytes + MIG_MULTIFD_INITIAL_UUID, sizeof out->uuid);
  if (policy->uuid != NULL && memcmp(out->uuid, policy->uuid, sizeof out->uuid) != 0) {
    return fail(fault, MIG_ERR_CONFIG_MISMATCH, MIG_MULTIFD_INITIAL_UUID, "uuid",
                "differs from the destination's");
  }
  out->id = bytes[MIG_MULTIFD_INITIAL_ID];
  /* QEMU 7.2 lets id == multifd-channels by (an off-by-one); refused here. */
  if (out->id >= policy->channels_count || (ids_seen != NULL && ids_seen[out->id])) {
    char detail[48];
    snprintf(detail, sizeof detail, "id %" PRIu32 " out of range or repeated", out->id);
    return fail(fault, MIG_ERR_BAD_VALUE, MIG_MULTIFD_INITIAL_ID, "id", detail);
  }
  return true;
}

/*
 * The flags (§9.3): SYNC and a 3-bit compression method.  QEMU 7.2 checks
 * the method only on packets with pages (its recv_pages methods) and its
 * sender sets it only there, so a packet without pages may carry 0 or the
 * configured flag; a packet with pages must carry exactly the configured one.
 */
static bool flags_ok(const struct mig_multifd_policy *policy, uint32_t flags, uint32_t normal,
                     struct mig_multifd_fault *fault)
{
  if ((flags & ~(MIG_MULTIFD_FLAG_SYNC | MIG_MULTIFD_FLAG_COMPRESSION_7_2)) != 0) {
    return fail(fault, MIG_ERR_BAD_VALUE, MIG_MULTIFD_PACKET_FLAGS, "flags", "unknown flag bits");
  }
  uint32_t method = flags & MIG_MULTIFD_FLAG_COMPRESSION_7_2;
  uint32_t expected = mig_multifd_compression_flag(policy->compression);
  if (method == expected || (normal == 0 && method == 0)) return true;
  char detail[96];
  snprintf(detail, sizeof detail, "compression flag 0x%" PRIx32 ", configured %s (0x%" PRIx32 ")",
           method, mig_multifd_compression_name(policy->compression), expected);
  return fail(fault, MIG_ERR_BAD_VALUE, MIG_MULTIFD_PACKET_FLAGS, "flags", detail);
}

/* The counts and the payload length. */
static bool counts_ok(const struct mig_multifd_policy *policy,
                      const struct mig_multifd_packet *p, struct mig_multifd_fault *fault)
{
  uint32_t normal = p->normal_pages;
  if (p->pages_alloc > MIG_MULTIFD_PAGES_MAX) {
    return fail(fault, MIG_ERR_BAD_VALUE, MIG_MULTIFD_PACKET_PAGES_ALLOC, "pages_alloc",
                "above 128");
  }
  if (normal > p->pages_alloc) {
    return fail(fault, MIG_ERR_BAD_VALUE, MIG_MULTIFD_PACKET_NORMAL_PAGES, "normal_pages",
                "above pages_alloc");
  }
  if (p->zero_pages > p->pages_alloc - normal) {
    return fail(fault, MIG_ERR_BAD_VALUE, MIG_MULTIFD_PACKET_ZERO_PAGES, "zero_pages",
                "above pages_alloc - normal_pages");
  }
  bool compressed = policy->compression != MIG_MULTIFD_COMPRESSION_NONE;
  /*
   * nocomp: the payload is exactly normal_pages pages.  With no pages the
   * field is not checked: 7.2 SYNC packets carry the previous packet's stale
   * size (spec §9.3 [V]) and no payload.
   */
  if (normal > 0 && !compressed && p->next_packet_bytes != normal * MIG_PAGE_BYTES) {
    return fail(fault, MIG_ERR_BAD_VALUE, MIG_MULTIFD_PACKET_NEXT_PACKET_SIZE,
                "next_packet_size", "not normal_pages x 4096");
  }
  if (normal > 0 && compressed && p->next_packet_bytes > MIG_MULTIFD_PAYLOAD_BYTES_MAX) {
    return fail(fault, MIG_ERR_TOO_LONG, MIG_MULTIFD_PACKET_NEXT_PACKET_SIZE,
                "next_packet_size", "compressed payload above 1 MiB (QEMU's zbuff)");
  }
  return true;
}

bool mig_multifd_packet_decode(const uint8_t bytes[MIG_MULTIFD_PACKET_BYTES],
                               const struct mig_multifd_policy *policy,
                               struct mig_multifd_packet *out, struct mig_multifd_fault *fault)
{
  memset(out, 0, sizeof *out);
  if (mig_wire_be32(bytes + MIG_MULTIFD_PACKET_MAGIC) != MIG_MULTIFD_MAGIC) {
    return fail(fault, MIG_ERR_BAD_MAGIC, MIG_MULTIFD_PACKET_MAGIC, "magic", "not 0x11223344");
  }
  if (mig_wire_be32(bytes + MIG_MULTIFD_PACKET_VERSION) != MIG_MULTIFD_VERSION) {
    return fail(fault, MIG_ERR_BAD_VERSION, MIG_MULTIFD_PACKET_VERSION, "version", "not 1");
  }
  out->flags = mig_wire_be32(bytes + MIG_MULTIFD_PACKET_FLAGS);
  out->sync = (out->flags & MIG_MULTIFD_FLAG_SYNC) != 0;
  out->pages_alloc = mig_wire_be32(bytes + MIG_MULTIFD_PACKET_PAGES_ALLOC);
  out->normal_pages = mig_wire_be32(bytes + MIG_MULTIFD_PACKET_NORMAL_PAGES);
  out->next_packet_bytes = mig_wire_be32(bytes + MIG_MULTIFD_PACKET_NEXT_PACKET_SIZE);
  out->packet_num = mig_wire_be64(bytes + MIG_MULTIFD_PACKET_PACKET_NUM);
  if (policy->zero_pages) out->zero_pages = mig_wire_be32(bytes + MIG_MULTIFD_PACKET_ZERO_PAGES);
  out->offsets = bytes + MIG_MULTIFD_PACKET_OFFSETS;
  if (!flags_ok(policy, out->flags, out->normal_pages, fault)) return false;
  if (!counts_ok(policy, out, fault)) return false;
  uint32_t pages = out->normal_pages + out->zero_pages;
  if (pages == 0) return true;      /* 7.2 SYNC packets carry stale names and offsets */
  memcpy(out->ramblock, bytes + MIG_MULTIFD_PACKET_RAMBLOCK, MIG_IDSTR_BYTES_MAX);
  out->ramblock[MIG_IDSTR_BYTES_MAX] = 0;  /* QEMU forces the last byte to NUL */
  if (out->ramblock[0] == 0) {
    return fail(fault, MIG_ERR_RAM_BLOCK, MIG_MULTIFD_PACKET_RAMBLOCK, "ramblock",
                "empty block name");
  }
  for (uint32_t i = 0; i < pages; i++) {
    if ((mig_multifd_packet_offset(out, i) & (MIG_PAGE_BYTES - 1)) == 0) continue;
    mig_multifd_offset_fault(fault, i, "offset not page aligned");
    return false;
  }
  return true;
}

uint64_t mig_multifd_packet_offset(const struct mig_multifd_packet *packet, uint32_t i)
{
  SIM_ASSERT(i < packet->normal_pages + packet->zero_pages);
  return mig_wire_be64(packet->offsets + 8 * (size_t)i);
}

void mig_multifd_offset_fault(struct mig_multifd_fault *fault, uint32_t i, const char *detail)
{
  SIM_ASSERT(i < MIG_MULTIFD_PAGES_MAX);
  char field[24];
  snprintf(field, sizeof field, "offset[%" PRIu32 "]", i);
  (void)fail(fault, MIG_ERR_RAM_OFFSET, MIG_MULTIFD_PACKET_OFFSETS + 8 * i, field, detail);
}

void mig_multifd_fault_path(const struct mig_multifd_fault *fault, uint32_t channel,
                            uint64_t number, char *out, size_t out_bytes)
{
  if (number == UINT64_MAX) {
    snprintf(out, out_bytes, "multifd/channel%" PRIu32 "/initial/%s", channel, fault->field);
  } else {
    snprintf(out, out_bytes, "multifd/channel%" PRIu32 "/packet%" PRIu64 "/%s", channel, number,
             fault->field);
  }
}
