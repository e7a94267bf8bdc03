/*
 * mig_rp.c: return-path messages (overview in mig_rp.h; wire facts in
 * spec/stream-format.md §8).  A message is read whole into a view once its
 * length is known to be ≤ 512 bytes, then its fields are checked in the
 * view, so no field is read past the message's own end.
 */
#include "sim_base.h"

#include "mig_rp.h"

void mig_rp_state_init(struct mig_rp_state *state, uint32_t type_max, uint32_t host_page_bytes,
                       const struct mig_rp_block *blocks, uint32_t block_count)
{
  SIM_ASSERT(type_max == MIG_RP_TYPE_MAX_7_2 || type_max == MIG_RP_TYPE_MAX_10);
  SIM_ASSERT(host_page_bytes > 0 && (host_page_bytes & (host_page_bytes - 1)) == 0);
  SIM_ASSERT(blocks != NULL || block_count == 0);
  *state = (struct mig_rp_state){.type_max = type_max, .host_page_bytes = host_page_bytes,
                                 .blocks = blocks, .block_count = block_count,
                                 .request_block = -1};
}

static int32_t rp_block_find(const struct mig_rp_state *state, const char *name)
{
  for (uint32_t i = 0; i < state->block_count; i++) {
    if (strcmp(state->blocks[i].name, name) == 0) return (int32_t)i;
  }
  return -1;
}

/* Counted name at payload[at]; the message must end exactly after it. */
static bool rp_name(struct mig_reader *reader, struct mig_rp_message *out, const uint8_t *payload,
                    uint32_t at)
{
  const char *type_name = mig_wire_rp_name(out->type);
  uint32_t name_bytes = payload[at];
  if (out->payload_bytes != at + 1 + name_bytes) {
    char detail[64];
    snprintf(detail, sizeof detail, "length %" PRIu16 ", expected %" PRIu32 " + %" PRIu32,
             out->payload_bytes, at + 1, name_bytes);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, out->offset + 2, detail, "return-path/%s/length",
                    type_name);
    return false;
  }
  memcpy(out->block, payload + at + 1, name_bytes);
  out->block[name_bytes] = '\0';
  if (name_bytes == 0 || memchr(out->block, '\0', name_bytes) != NULL) {
    MIG_READER_FAIL(reader, MIG_ERR_RAM_BLOCK, out->offset + 4 + at, "empty or NUL in name",
                    "return-path/%s/block", type_name);
    return false;
  }
  return true;
}

/* REQ_PAGES(_ID) range: aligned to the host page, non-empty, inside the block. */
static bool rp_range(struct mig_rp_state *state, struct mig_reader *reader,
                     struct mig_rp_message *out)
{
  const char *type_name = mig_wire_rp_name(out->type);
  const struct mig_rp_block *block = &state->blocks[out->block_index];
  uint64_t mask = state->host_page_bytes - 1;
  char detail[96];
  if ((out->start & mask) != 0) {
    snprintf(detail, sizeof detail, "start 0x%" PRIx64 " not %" PRIu32 "-aligned", out->start,
             state->host_page_bytes);
    MIG_READER_FAIL(reader, MIG_ERR_RAM_OFFSET, out->offset + 4, detail, "return-path/%s/start",
                    type_name);
    return false;
  }
  if (out->length_bytes == 0 || (out->length_bytes & mask) != 0) {
    snprintf(detail, sizeof detail, "length 0x%" PRIx32 " not a positive multiple of %" PRIu32,
             out->length_bytes, state->host_page_bytes);
    MIG_READER_FAIL(reader, MIG_ERR_RAM_OFFSET, out->offset + 12, detail,
                    "return-path/%s/length", type_name);
    return false;
  }
  if (out->start > block->used_bytes || out->length_bytes > block->used_bytes - out->start) {
    snprintf(detail, sizeof detail, "0x%" PRIx64 "+0x%" PRIx32 " overruns %s (0x%" PRIx64 ")",
             out->start, out->length_bytes, block->name, block->used_bytes);
    MIG_READER_FAIL(reader, MIG_ERR_RAM_OFFSET, out->offset + 4, detail, "return-path/%s/start",
                    type_name);
    return false;
  }
  return true;
}

/* Type-specific checks of a message whose payload is all in `payload`. */
static bool rp_check(struct mig_rp_state *state, struct mig_reader *reader,
                     struct mig_rp_message *out, const uint8_t *payload)
{
  const char *type_name = mig_wire_rp_name(out->type);
  char detail[64];
  switch (out->type) {
  case MIG_RP_SHUT:
  case MIG_RP_PONG:
  case MIG_RP_RESUME_ACK:
    out->value = mig_wire_be32(payload);
    if (out->type == MIG_RP_SHUT && out->value != 0) {
      snprintf(detail, sizeof detail, "error flag 0x%" PRIx32 ": the destination failed",
               out->value);
      MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, out->offset + 4, detail, "return-path/SHUT/flag");
      return false;
    }
    if (out->type == MIG_RP_RESUME_ACK && out->value != MIG_RP_RESUME_ACK_VALUE) {
      snprintf(detail, sizeof detail, "0x%" PRIx32 ", expected 1", out->value);
      MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, out->offset + 4, detail,
                      "return-path/RESUME_ACK/value");
      return false;
    }
    if (out->type == MIG_RP_SHUT) state->shuts_count++;
    return true;
  case MIG_RP_REQ_PAGES_ID:
  case MIG_RP_REQ_PAGES:
    out->start = mig_wire_be64(payload);
    out->length_bytes = mig_wire_be32(payload + 8);
    if (out->type == MIG_RP_REQ_PAGES_ID) {
      if (!rp_name(reader, out, payload, 12)) return false;
      out->block_index = rp_block_find(state, out->block);
      if (out->block_index < 0) {
        MIG_READER_FAIL(reader, MIG_ERR_RAM_BLOCK, out->offset + 16, out->block,
                        "return-path/REQ_PAGES_ID/block");
        return false;
      }
    } else {
      if (state->request_block < 0) {
        MIG_READER_FAIL(reader, MIG_ERR_RAM_ORDER, out->offset, "no REQ_PAGES_ID before it",
                        "return-path/REQ_PAGES/block");
        return false;
      }
      out->block_index = state->request_block;
      snprintf(out->block, sizeof out->block, "%s", state->blocks[out->block_index].name);
    }
    if (!rp_range(state, reader, out)) return false;
    state->request_block = out->block_index;
    return true;
  case MIG_RP_RECV_BITMAP:
    if (!rp_name(reader, out, payload, 0)) return false;
    out->block_index = rp_block_find(state, out->block);
    if (out->block_index < 0) {
      MIG_READER_FAIL(reader, MIG_ERR_RAM_BLOCK, out->offset + 4, out->block,
                      "return-path/RECV_BITMAP/block");
      return false;
    }
    return true;
  default:
    SIM_ASSERT(out->type == MIG_RP_SWITCHOVER_ACK);
    (void)type_name;
    return true;
  }
}

enum mig_err mig_rp_read(struct mig_rp_state *state, struct mig_reader *reader,
                         struct mig_rp_message *out)
{
  SIM_ASSERT(state != NULL && reader != NULL && out != NULL);
  *out = (struct mig_rp_message){.offset = mig_reader_offset(reader), .block_index = -1};
  out->type = mig_read_be16(reader);
  out->payload_bytes = mig_read_be16(reader);
  mig__reader_annotate(reader, "return-path/header");
  if (mig_reader_failed(reader)) return mig_reader_error(reader)->code;
  char detail[64];
  if (out->type == MIG_RP_INVALID || out->type >= state->type_max) {
    snprintf(detail, sizeof detail, "type %" PRIu16 " (valid 1..%" PRIu32 ")", out->type,
             state->type_max - 1);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_COMMAND, out->offset, detail, "return-path/type");
    return MIG_ERR_BAD_COMMAND;
  }
  const char *type_name = mig_wire_rp_name(out->type);
  if (out->payload_bytes > MIG_RP_MESSAGE_BYTES_MAX) {
    snprintf(detail, sizeof detail, "length %" PRIu16 " > %u", out->payload_bytes,
             MIG_RP_MESSAGE_BYTES_MAX);
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, out->offset + 2, detail, "return-path/%s/length",
                    type_name);
    return MIG_ERR_TOO_LONG;
  }
  enum mig_length_rule rule;
  uint32_t value;
  mig_wire_rp_rule(out->type, &rule, &value);
  bool fixed = rule == MIG_LENGTH_FIXED;
  SIM_ASSERT(fixed || rule == MIG_LENGTH_COUNTED);
  /* A counted name's exact length is checked with the name (rp_name). */
  uint32_t minimum = fixed ? value : value + 1;
  if ((fixed && out->payload_bytes != value) || (!fixed && out->payload_bytes < minimum)) {
    snprintf(detail, sizeof detail, "length %" PRIu16 ", expected %s%" PRIu32, out->payload_bytes,
             fixed ? "" : "at least ", minimum);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, out->offset + 2, detail, "return-path/%s/length",
                    type_name);
    return MIG_ERR_BAD_VALUE;
  }
  const uint8_t *payload = out->payload_bytes > 0 ? mig_read_view(reader, out->payload_bytes)
                                                  : NULL;
  mig__reader_annotate(reader, "return-path/%s/payload", type_name);
  if (mig_reader_failed(reader)) return mig_reader_error(reader)->code;
  if (!rp_check(state, reader, out, payload)) return mig_reader_error(reader)->code;
  state->messages_count++;
  return MIG_OK;
}

uint64_t mig_rp_bitmap_bytes(uint64_t used_bytes)
{
  uint64_t pages = used_bytes / MIG_PAGE_BYTES;
  uint64_t bytes = pages / 8 + (pages % 8 != 0);
  return (bytes + 7) & ~UINT64_C(7);
}

enum mig_err mig_rp_bitmap_read(struct mig_rp_state *state, struct mig_reader *reader,
                                int32_t block_index, uint8_t *out, size_t out_bytes)
{
  SIM_ASSERT(block_index >= 0 && (uint32_t)block_index < state->block_count);
  const struct mig_rp_block *block = &state->blocks[block_index];
  uint64_t size_offset = mig_reader_offset(reader);
  uint64_t size = mig_read_be64(reader);
  mig__reader_annotate(reader, "return-path/RECV_BITMAP/size");
  if (mig_reader_failed(reader)) return mig_reader_error(reader)->code;
  uint64_t expected = mig_rp_bitmap_bytes(block->used_bytes);
  char detail[96];
  if (size != expected) {
    snprintf(detail, sizeof detail, "0x%" PRIx64 " bytes, %s needs 0x%" PRIx64, size, block->name,
             expected);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, size_offset, detail,
                    "return-path/RECV_BITMAP/size");
    return MIG_ERR_BAD_VALUE;
  }
  if (out != NULL && out_bytes >= size) {
    mig_read_bytes(reader, out, (size_t)size);
  } else {
    mig_read_skip(reader, size);
  }
  uint64_t end_offset = mig_reader_offset(reader);
  uint64_t end = mig_read_be64(reader);
  mig__reader_annotate(reader, "return-path/RECV_BITMAP/bitmap");
  if (mig_reader_failed(reader)) return mig_reader_error(reader)->code;
  if (end != MIG_RP_BITMAP_END_MARK) {
    snprintf(detail, sizeof detail, "0x%016" PRIx64 ", expected 0x0123456789abcdef", end);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, end_offset, detail, "return-path/RECV_BITMAP/end");
    return MIG_ERR_BAD_VALUE;
  }
  return MIG_OK;
}

void mig_rp_header(uint16_t type, uint16_t payload_bytes, uint8_t out[MIG_RP_HEADER_BYTES])
{
  mig_wire_put_be16(out, type);
  mig_wire_put_be16(out + 2, payload_bytes);
}

size_t mig_rp_framed_bytes(const uint8_t header[MIG_RP_HEADER_BYTES])
{
  uint32_t length = (uint32_t)header[2] << 8 | header[3];
  return length <= MIG_RP_MESSAGE_BYTES_MAX ? MIG_RP_HEADER_BYTES + length : MIG_RP_HEADER_BYTES;
}

size_t mig_rp_message_u32(uint16_t type, uint32_t value, uint8_t out[MIG_RP_U32_MESSAGE_BYTES])
{
  enum mig_length_rule rule = MIG_LENGTH_NEVER;
  uint32_t length = 0;
  mig_wire_rp_rule(type, &rule, &length);
  SIM_ASSERT(rule == MIG_LENGTH_FIXED && length == 4);  /* SHUT, PONG, RESUME_ACK */
  mig_rp_header(type, 4, out);
  mig_wire_put_be32(out + MIG_RP_HEADER_BYTES, value);
  return MIG_RP_U32_MESSAGE_BYTES;
}

uint16_t mig_rp_req_pages(uint64_t start, uint32_t length_bytes, const char *block,
                          uint8_t out[MIG_RP_REQ_PAGES_BYTES_MAX], uint16_t *type)
{
  mig_wire_put_be64(out, start);
  mig_wire_put_be32(out + 8, length_bytes);
  *type = MIG_RP_REQ_PAGES;
  if (block == NULL) return 12;
  size_t name_bytes = strlen(block);
  SIM_ASSERT(name_bytes >= 1 && name_bytes <= MIG_IDSTR_BYTES_MAX);
  out[12] = (uint8_t)name_bytes;
  memcpy(out + 13, block, name_bytes);
  *type = MIG_RP_REQ_PAGES_ID;
  return (uint16_t)(13 + name_bytes);
}

void mig_rp_bitmap_frame(uint64_t size, uint8_t *body)
{
  mig_wire_put_be64(body, size);
  mig_wire_put_be64(body + 8 + size, MIG_RP_BITMAP_END_MARK);
}

size_t mig_rp_message_req_pages(const char *block, uint64_t start_bytes, uint32_t length_bytes,
                                uint8_t out[MIG_RP_REQ_MESSAGE_BYTES_MAX])
{
  uint16_t type = 0;
  uint16_t payload_bytes = mig_rp_req_pages(start_bytes, length_bytes, block,
                                            out + MIG_RP_HEADER_BYTES, &type);
  mig_rp_header(type, payload_bytes, out);
  return MIG_RP_HEADER_BYTES + payload_bytes;
}
