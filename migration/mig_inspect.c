/*
 * mig_inspect.c: the stream walker behind `migsim inspect` (overview in
 * mig_inspect.h; wire facts in spec/stream-format.md §2-§7, §10).  It never
 * interprets device state: a FULL section's size comes from the matching
 * device entry of the VM-description trailer (Σ field size × array_len, plus
 * each sent subsection's 0x05, counted name and be32 version), and the footer
 * or next record type checks it.  Every length read from the stream is bounded
 * against a limit and against the bytes left before the EOF marker.
 */
#include "sim_base.h"

#include "mig_format.h"
#include "mig_inspect.h"
#include "mig_stream.h"

#include <jansson.h>

/* zlib's compressBound(4096): n + n/4096 + n/16384 + n/2^25 + 13 (spec §6.4). */
#define INSPECT_COMPRESS_BYTES_MAX (MIG_PAGE_BYTES + (MIG_PAGE_BYTES >> 12) + \
                                    (MIG_PAGE_BYTES >> 14) + (MIG_PAGE_BYTES >> 25) + 13)
/* Fixed command payload lengths (§7); -1: variable, checked by its own rule. */
static const int32_t command_lengths[MIG_INSPECT_COMMANDS] = {-2, 0, 4, -1, 0, 0, -1, 4, 0, 0, -1};

/* Dirty-bitmap chunk flags (QEMU 7.2 migration/block-dirty-bitmap.c). */
#define BITMAP_FLAG_EOS 0x01u
#define BITMAP_FLAG_ZEROES 0x02u
#define BITMAP_FLAG_BITMAP_NAME 0x04u
#define BITMAP_FLAG_DEVICE_NAME 0x08u
#define BITMAP_FLAG_START 0x10u
#define BITMAP_FLAG_COMPLETE 0x20u
#define BITMAP_FLAG_BITS 0x40u
#define BITMAP_FLAG_EXTRA 0x80u
#define BITMAP_START_RESERVED 0xf8u
#define BITMAP_IDSTR "dirty-bitmap"
#define BITMAP_SECTION_VERSION 1
/* QEMU serialises at most 1 KiB of bitmap per chunk (CHUNK_SIZE); allow generous slack. */
#define BITMAP_BITS_BYTES_MAX (UINT32_C(1) << 20)

#define BLOCK_IDSTR "block"
#define BLOCK_SECTION_VERSION 1

#define ZERO_CONTINUE (MIG_RAM_FLAG_ZERO | MIG_RAM_FLAG_CONTINUE)
#define ZERO_RECORD_BYTES 9u       /* be64 word + fill byte */

/*
 * Eight ZERO|CONTINUE records are 72 bytes, nine 64-bit words.  A group is
 * accepted when (word & mask) == expect for all nine, where mask selects in
 * each record the flag bits (expected 0x022), the fill byte (expected 0) and
 * the address bits at and above bit `bits` (expected 0), with 2^bits the
 * largest power of two <= word_end: every accepted word is then < word_end.
 * Words are loaded in host order on both sides, so the byte layout matches.
 */
struct zero_group {
  uint64_t mask[ZERO_RECORD_BYTES];
  uint64_t expect[ZERO_RECORD_BYTES];
};

struct walk {
  struct mig_reader reader;
  struct mig_inspect *out;
  const uint8_t *bytes;            /* the whole stream */
  size_t count;                    /* its length */
  const struct mig_inspect_visitor *visitor;  /* may be NULL */
  const struct mig_inspect_options *options;  /* never NULL (zeroed when not given) */
  json_t *vmdesc;                  /* parsed trailer; NULL without one */
  json_t *devices;                 /* its "devices" array */
  bool *device_used;               /* per devices[] entry */
  int32_t last_block;              /* -1 until a page record names a block */
  int32_t zero_group_block;        /* the block zero_group was built for; -1: none */
  char bitmap_node[MIG_IDSTR_BYTES_MAX + 1];  /* names carried over between chunks */
  char bitmap_name[MIG_IDSTR_BYTES_MAX + 1];
  struct zero_group zero_group;    /* masks for zero runs in block zero_group_block */
};

static bool walk_failed(struct walk *walk)
{
  return mig_reader_failed(&walk->reader);
}

static uint64_t walk_left(struct walk *walk)
{
  uint64_t at = mig_reader_offset(&walk->reader);
  return at < walk->out->eof_offset ? walk->out->eof_offset - at : 0;
}

/* Hands event to the visitor; a refusal latches the visitor's error (R11: no callback after). */
static void walk_emit(struct walk *walk, struct mig_inspect_event *event)
{
  if (walk->visitor == NULL || walk->visitor->visit == NULL || walk_failed(walk)) return;
  event->inspect = walk->out;
  struct mig_error error;  /* not zeroed whole: this runs once per record (hot path) */
  error.offset = 0;
  error.path[0] = 0;
  error.detail[0] = 0;
  enum mig_err code = walk->visitor->visit(walk->visitor->context, event, &error);
  if (code == MIG_OK) return;
  SIM_ASSERT(code < MIG_ERR_COUNT);
  MIG_READER_FAIL(&walk->reader, code, error.offset != 0 ? error.offset : event->offset,
                  error.detail, "%s", error.path[0] != 0 ? error.path : "visitor");
}

/*
 * A counted string (§1) that must not hold a NUL byte.  QEMU reads such a
 * name as the text before the NUL; rejecting it keeps every accepted stream
 * re-encodable byte for byte (stricter than QEMU, on purpose).
 */
static size_t walk_name(struct walk *walk, char *out, size_t out_bytes, const char *path)
{
  struct mig_reader *reader = &walk->reader;
  uint64_t offset = mig_reader_offset(reader);
  size_t length = mig_read_counted_string(reader, out, out_bytes);
  if (!walk_failed(walk) && strlen(out) != length) {
    MIG_READER_FAIL(reader, MIG_ERR_BAD_IDSTR, offset, "NUL byte inside a name", "%s", path);
    return 0;
  }
  return length;
}

static uint32_t be32_at(const uint8_t *bytes)
{
  return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 | bytes[3];
}

/*
 * Finds p with bytes[p-5]==0x06, be32 at p-4 == count-p, bytes[p]=='{', bytes[p-6]==0x00.
 * A stream whose last byte is the EOF marker has no trailer (§10: it is optional):
 * has_trailer stays false and FULL sections are sized by walk_full_unsized.
 */
static enum mig_err walk_find_trailer(struct walk *walk, const uint8_t *bytes, size_t count)
{
  size_t low = count > MIG_VMDESC_BYTES_MAX ? count - MIG_VMDESC_BYTES_MAX : 14;
  if (low < 14) low = 14;
  for (size_t p = count; p-- > low;) {
    if (bytes[p] != '{' || bytes[p - 5] != MIG_SECTION_VMDESCRIPTION) continue;
    if (be32_at(bytes + p - 4) != count - p || bytes[p - 6] != MIG_SECTION_EOF) continue;
    walk->out->has_trailer = true;
    walk->out->eof_offset = p - 6;
    walk->out->trailer_offset = p;
    walk->out->trailer_bytes = count - p;
    json_error_t json_error;
    walk->vmdesc = json_loadb((const char *)bytes + p, count - p, 0, &json_error);
    walk->devices = json_object_get(walk->vmdesc, "devices");
    if (!json_is_array(walk->devices) || json_array_size(walk->devices) > MIG_SECTIONS_MAX) {
      MIG_READER_FAIL(&walk->reader, MIG_ERR_VMDESC, p,
                      walk->vmdesc == NULL ? json_error.text : "no bounded \"devices\" array",
                      "vmdesc");
      return MIG_ERR_VMDESC;
    }
    walk->device_used = calloc(json_array_size(walk->devices) + 1, sizeof(bool));
    if (walk->device_used == NULL) {
      MIG_READER_FAIL(&walk->reader, MIG_ERR_NOMEM, p, "device flags", "vmdesc");
      return MIG_ERR_NOMEM;
    }
    return MIG_OK;
  }
  if (count > 8 && bytes[count - 1] == MIG_SECTION_EOF) {
    walk->out->eof_offset = count - 1;
    return MIG_OK;
  }
  MIG_READER_FAIL(&walk->reader, MIG_ERR_VMDESC, count,
                  "neither EOF + 0x06 + be32 length + JSON nor a final EOF byte ends the stream",
                  "vmdesc");
  return MIG_ERR_VMDESC;
}

static enum mig_err walk_header(struct walk *walk)
{
  struct mig_reader *reader = &walk->reader;
  uint32_t magic = mig_read_be32(reader);
  uint32_t version = mig_read_be32(reader);
  if (walk_failed(walk)) {
    mig__reader_annotate(reader, "header");
    return mig_reader_error(reader)->code;
  }
  char detail[48];
  if (magic != MIG_FILE_MAGIC) {
    snprintf(detail, sizeof detail, "magic 0x%08" PRIx32, magic);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_MAGIC, 0, detail, "header/magic");
    return MIG_ERR_BAD_MAGIC;
  }
  if (version != MIG_FILE_VERSION) {
    snprintf(detail, sizeof detail, "version %" PRIu32, version);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VERSION, 4, detail, "header/version");
    return MIG_ERR_BAD_VERSION;
  }
  return MIG_OK;
}

/* One configuration subsection (§3): name already read. */
static void walk_config_subsection(struct walk *walk, const char *name, uint64_t offset)
{
  struct mig_reader *reader = &walk->reader;
  if (strcmp(name, "configuration/capabilities") == 0) {
    uint64_t count_offset = mig_reader_offset(reader);
    uint32_t count = mig_read_be32(reader);
    if (!walk_failed(walk) && count > MIG_CAPABILITIES_MAX) {
      char detail[48];
      snprintf(detail, sizeof detail, "count %" PRIu32, count);
      MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, count_offset, detail,
                      "configuration/capabilities/count");
      return;
    }
    for (uint32_t i = 0; i < count && !walk_failed(walk); i++) {
      char *cap = walk->out->capabilities[i];
      (void)walk_name(walk, cap, sizeof walk->out->capabilities[i],
                      "configuration/capabilities");
      if (strcmp(cap, "x-ignore-shared") == 0) walk->out->x_ignore_shared = true;
    }
    walk->out->capability_count = count;
    mig__reader_annotate(reader, "configuration/capabilities");
  } else if (strcmp(name, "configuration/uuid") == 0) {
    mig_read_bytes(reader, walk->out->uuid, sizeof walk->out->uuid);
    walk->out->has_uuid = true;
    mig__reader_annotate(reader, "configuration/uuid");
  } else if (strcmp(name, "configuration/target-page-bits") == 0) {
    uint32_t bits = mig_read_be32(reader);
    walk->out->target_page_bits = bits;
    if (!walk_failed(walk) && bits != MIG_PAGE_BITS) {
      MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, offset, "not 12",
                      "configuration/target-page-bits");
    }
  } else {
    MIG_READER_FAIL(reader, MIG_ERR_SUBSECTION, offset, name, "configuration/subsection");
  }
}

static enum mig_err walk_configuration(struct walk *walk)
{
  struct mig_reader *reader = &walk->reader;
  uint8_t type = 0;
  if (!mig_reader_peek_u8(reader, &type) || type != MIG_SECTION_CONFIGURATION) return MIG_OK;
  walk->out->has_configuration = true;
  walk->out->records[MIG_SECTION_CONFIGURATION]++;
  (void)mig_read_u8(reader);
  uint32_t length = mig_read_be32(reader);
  if (!walk_failed(walk) && (length == 0 || length > MIG_MACHINE_NAME_BYTES_MAX)) {
    char detail[48];
    snprintf(detail, sizeof detail, "length %" PRIu32, length);
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, 9, detail, "configuration/name");
  }
  if (walk_failed(walk)) {
    mig__reader_annotate(reader, "configuration/length");
    return mig_reader_error(reader)->code;
  }
  mig_read_bytes(reader, walk->out->machine, length);
  walk->out->machine[length] = 0;
  if (!walk_failed(walk) && strlen(walk->out->machine) != length) {
    MIG_READER_FAIL(reader, MIG_ERR_BAD_IDSTR, 13, "NUL byte inside the machine name",
                    "configuration/name");
  }
  while (!walk_failed(walk) && mig_reader_peek_u8(reader, &type) &&
         type == MIG_SECTION_SUBSECTION) {
    uint64_t offset = mig_reader_offset(reader);
    char name[MIG_IDSTR_BYTES_MAX + 1];
    (void)mig_read_u8(reader);
    (void)walk_name(walk, name, sizeof name, "configuration/subsection");
    uint32_t version = mig_read_be32(reader);
    if (!walk_failed(walk) && version != 1) {
      MIG_READER_FAIL(reader, MIG_ERR_SECTION_VERSION, offset, name, "configuration/subsection");
    }
    if (!walk_failed(walk) &&
        walk->out->config_subsection_count >= MIG_INSPECT_CONFIG_SUBSECTIONS_MAX) {
      MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, offset, name, "configuration/subsection");
    }
    if (walk_failed(walk)) break;
    struct mig_inspect_config_subsection *entry =
        &walk->out->config_subsections[walk->out->config_subsection_count++];
    snprintf(entry->name, sizeof entry->name, "%s", name);
    entry->version = version;
    walk_config_subsection(walk, name, offset);
  }
  mig__reader_annotate(reader, "configuration");
  return walk_failed(walk) ? mig_reader_error(reader)->code : MIG_OK;
}

static int32_t walk_find_block(const struct mig_inspect *out, const char *name)
{
  for (uint32_t i = 0; i < out->block_count; i++) {
    if (strcmp(out->blocks[i].name, name) == 0) return (int32_t)i;
  }
  return -1;
}

/* MEM_SIZE (§6.3): counted name, be64 used_length, [be64 gpa] until total is consumed. */
static void walk_ram_block_list(struct walk *walk, uint64_t word, uint64_t record_offset)
{
  struct mig_reader *reader = &walk->reader;
  uint64_t total = word & ~(uint64_t)(MIG_PAGE_BYTES - 1);
  struct mig_inspect_event event = {.kind = MIG_INSPECT_RAM_BLOCKS, .offset = record_offset,
                                    .word = word, .ram_kind = MIG_RAM_FLAG_MEM_SIZE,
                                    .block_first = walk->out->block_count};
  while (total > 0 && !walk_failed(walk)) {
    uint64_t offset = mig_reader_offset(reader);
    struct mig_inspect_block block = {0};
    (void)walk_name(walk, block.name, sizeof block.name, "ram/blocks");
    block.used_bytes = mig_read_be64(reader);
    if (walk->out->x_ignore_shared) block.gpa = mig_read_be64(reader);
    mig__reader_annotate(reader, "ram/blocks");
    if (walk_failed(walk)) return;
    char detail[96];
    snprintf(detail, sizeof detail, "block '%.40s' used 0x%" PRIx64 " left 0x%" PRIx64,
             block.name, block.used_bytes, total);
    if (block.name[0] == 0 || block.used_bytes > total ||
        walk_find_block(walk->out, block.name) >= 0) {
      MIG_READER_FAIL(reader, MIG_ERR_RAM_BLOCK, offset, detail, "ram/blocks/%s", block.name);
      return;
    }
    if (walk->out->block_count >= MIG_RAM_BLOCKS_MAX) {
      MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, offset, detail, "ram/blocks");
      return;
    }
    walk->out->blocks[walk->out->block_count++] = block;
    total -= block.used_bytes;
  }
  event.block_count = walk->out->block_count - event.block_first;
  walk_emit(walk, &event);
}

/* The block of a page record: its counted name, or the last one with CONTINUE (§6.2). */
static struct mig_inspect_block *walk_ram_page_block(struct walk *walk, uint32_t flags,
                                                     uint64_t record_offset)
{
  struct mig_reader *reader = &walk->reader;
  if ((flags & MIG_RAM_FLAG_CONTINUE) == 0) {
    char name[MIG_IDSTR_BYTES_MAX + 1];
    (void)walk_name(walk, name, sizeof name, "ram/page/block");
    mig__reader_annotate(reader, "ram/page/block");
    if (walk_failed(walk)) return NULL;
    walk->last_block = walk_find_block(walk->out, name);
    if (walk->last_block < 0) {
      MIG_READER_FAIL(reader, MIG_ERR_RAM_BLOCK, record_offset, name, "ram/page/block");
      return NULL;
    }
  } else if (walk->last_block < 0) {
    MIG_READER_FAIL(reader, MIG_ERR_RAM_ORDER, record_offset, "CONTINUE with no block",
                    "ram/page/block");
    return NULL;
  }
  return &walk->out->blocks[walk->last_block];
}

/* ZERO, PAGE, XBZRLE, COMPRESS_PAGE payloads (§6.4); event holds the record header. */
static void walk_ram_page(struct walk *walk, struct mig_inspect_event *event,
                          struct mig_inspect_block *block)
{
  struct mig_reader *reader = &walk->reader;
  uint64_t offset = mig_reader_offset(reader);
  uint64_t length = 0;
  char detail[48];
  uint32_t kind = event->ram_kind;
  if (kind == MIG_RAM_FLAG_ZERO) {
    event->fill = mig_read_u8(reader);
    block->zero_pages++;
  } else if (kind == MIG_RAM_FLAG_PAGE) {
    length = MIG_PAGE_BYTES;
    block->normal_pages++;
  } else if (kind == MIG_RAM_FLAG_XBZRLE) {
    event->encoding = mig_read_u8(reader);
    length = mig_read_be16(reader);
    if (!walk_failed(walk) && event->encoding != 1) {
      snprintf(detail, sizeof detail, "encoding flag 0x%02x", event->encoding);
      MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, offset, detail, "ram/%s/xbzrle", block->name);
    }
    if (!walk_failed(walk) && length > MIG_PAGE_BYTES) {
      snprintf(detail, sizeof detail, "length %" PRIu64, length);
      MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, offset + 1, detail, "ram/%s/xbzrle", block->name);
    }
    block->xbzrle_pages++;
  } else {
    length = mig_read_be32(reader);
    if (!walk_failed(walk) && length > INSPECT_COMPRESS_BYTES_MAX) {
      snprintf(detail, sizeof detail, "length %" PRIu64, length);
      MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, offset, detail, "ram/%s/compressed", block->name);
    }
    block->compressed_pages++;
  }
  if (!walk_failed(walk) && length > walk_left(walk)) {
    snprintf(detail, sizeof detail, "length %" PRIu64, length);
    MIG_READER_FAIL(reader, MIG_ERR_TRUNCATED, mig_reader_offset(reader), detail, "ram/%s/page",
                    block->name);
  }
  event->payload_offset = mig_reader_offset(reader);
  event->payload = mig_read_view(reader, (size_t)length);
  event->payload_bytes = length;
  mig__reader_annotate(reader, "ram/%s/page", block->name);
  walk_emit(walk, event);
}

static bool walk_ram_kind_known(uint32_t kind)
{
  return kind == MIG_RAM_FLAG_ZERO || kind == MIG_RAM_FLAG_PAGE || kind == MIG_RAM_FLAG_XBZRLE ||
         kind == MIG_RAM_FLAG_COMPRESS_PAGE;
}

/* be64 at bytes, unaligned. */
static uint64_t load_be64(const uint8_t *bytes)
{
  uint64_t word;
  memcpy(&word, bytes, sizeof word);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  word = __builtin_bswap64(word);
#endif
  return word;
}

/* True when the 9 bytes at p are ZERO|CONTINUE, fill 0, address below word_end (see below). */
static bool zero_record_ok(const uint8_t *p, uint64_t word_end)
{
  uint64_t word = load_be64(p);
  return (((word & (MIG_PAGE_BYTES - 1)) ^ ZERO_CONTINUE) | p[8]) == 0 && word < word_end;
}

static void zero_group_init(struct zero_group *group, uint64_t word_end)
{
  SIM_ASSERT(word_end >= MIG_PAGE_BYTES);
  uint32_t bits = 63;
  while ((UINT64_C(1) << bits) > word_end) bits--;
  SIM_ASSERT(bits >= MIG_PAGE_BITS);
  uint64_t word_mask = ~((UINT64_C(1) << bits) - 1) | (MIG_PAGE_BYTES - 1);
  uint8_t mask[8 * ZERO_RECORD_BYTES], expect[8 * ZERO_RECORD_BYTES];
  for (uint32_t r = 0; r < 8; r++) {
    for (uint32_t b = 0; b < 8; b++) {
      mask[ZERO_RECORD_BYTES * r + b] = (uint8_t)(word_mask >> (56 - 8 * b));
      expect[ZERO_RECORD_BYTES * r + b] = (uint8_t)((uint64_t)ZERO_CONTINUE >> (56 - 8 * b));
    }
    mask[ZERO_RECORD_BYTES * r + 8] = 0xff;  /* the fill byte */
    expect[ZERO_RECORD_BYTES * r + 8] = 0;
  }
  memcpy(group->mask, mask, sizeof mask);
  memcpy(group->expect, expect, sizeof expect);
}

/*
 * Counts the leading records of p[0, records_max × 9) that are ZERO|CONTINUE
 * with fill byte 0 and a page address inside the block.  word_end is the
 * block's used length rounded up to a page: the address bits of a word are
 * page aligned by construction and the flag bits are fixed at 0x022, so
 * address < used  <=>  address < word_end  <=>  word < word_end.  Groups of
 * eight records are checked with masks (struct zero_group); a group that
 * fails them (a page at or above 2^bits, or a record that is not such a zero
 * page) is checked one record at a time, and the first record that fails
 * ends the run: it is left for the general path, which reports it.
 */
/* Non-zero when word i of the group at q breaks the masks. */
static inline uint64_t zero_word_wrong(const uint8_t *q, const struct zero_group *group, uint32_t i)
{
  uint64_t word;
  memcpy(&word, q + 8 * i, sizeof word);
  return (word & group->mask[i]) ^ group->expect[i];
}

static uint64_t zero_run_count(const uint8_t *p, uint64_t records_max, uint64_t word_end,
                               const struct zero_group *group)
{
  uint64_t n = 0;
  while (n + 8 <= records_max) {
    const uint8_t *q = p + ZERO_RECORD_BYTES * n;
    /* Spelled out: compilers keep a word array and loop here otherwise. */
    uint64_t wrong = zero_word_wrong(q, group, 0) | zero_word_wrong(q, group, 1) |
                     zero_word_wrong(q, group, 2) | zero_word_wrong(q, group, 3) |
                     zero_word_wrong(q, group, 4) | zero_word_wrong(q, group, 5) |
                     zero_word_wrong(q, group, 6) | zero_word_wrong(q, group, 7) |
                     zero_word_wrong(q, group, 8);
    if (wrong == 0) {
      n += 8;
      continue;
    }
    uint32_t i = 0;
    while (i < 8 && zero_record_ok(q + ZERO_RECORD_BYTES * i, word_end)) i++;
    n += i;
    if (i < 8) return n;
  }
  while (n < records_max && zero_record_ok(p + ZERO_RECORD_BYTES * n, word_end)) n++;
  return n;
}

/*
 * A run of ZERO|CONTINUE records, fill 0, inside the current block: counted in
 * one pass when nothing needs them one by one (no visitor), or handed over as
 * one MIG_INSPECT_RAM_ZERO_RUN event to a visitor that asked for runs.  Every
 * check of the general path is made (flags, block bound, fill byte); the
 * record that fails one ends the run and is read again by the general path.
 * Returns the bytes consumed from at.
 */
static uint64_t walk_zero_run(struct walk *walk, struct mig_inspect_block *block, uint64_t at,
                              uint64_t end, bool visit)
{
  if (visit && !walk->visitor->zero_runs) return 0;
  uint64_t used = block->used_bytes;
  uint64_t word_end = (used + MIG_PAGE_BYTES - 1) & ~(uint64_t)(MIG_PAGE_BYTES - 1);
  SIM_ASSERT(used <= UINT64_MAX - MIG_PAGE_BYTES);  /* used <= total, a page-aligned be64 */
  if (end - at < ZERO_RECORD_BYTES || !zero_record_ok(walk->bytes + at, word_end)) return 0;
  if (walk->zero_group_block != walk->last_block) {
    zero_group_init(&walk->zero_group, word_end);
    walk->zero_group_block = walk->last_block;
  }
  uint64_t records = zero_run_count(walk->bytes + at, (end - at) / ZERO_RECORD_BYTES, word_end,
                                    &walk->zero_group);
  if (records == 0) return 0;
  block->zero_pages += records;
  if (visit) {
    struct mig_inspect_event event = {
        .kind = MIG_INSPECT_RAM_ZERO_RUN, .offset = at, .word = load_be64(walk->bytes + at),
        .ram_kind = MIG_RAM_FLAG_ZERO, .block_index = (uint32_t)walk->last_block,
        .address = load_be64(walk->bytes + at) & ~(uint64_t)(MIG_PAGE_BYTES - 1),
        .payload = walk->bytes + at, .payload_bytes = records * ZERO_RECORD_BYTES,
        .payload_offset = at, .run_count = records};
    walk_emit(walk, &event);
  }
  return records * ZERO_RECORD_BYTES;
}

/*
 * Fast path for the two records that make up nearly every stream, ZERO and
 * PAGE with CONTINUE: parsed straight from the in-memory bytes and skipped in
 * one step.  It stops before the first record it does not fully accept, which
 * the general path then reads (and, if need be, rejects with its error).
 */
static void walk_ram_fast(struct walk *walk)
{
  if (walk->last_block < 0 || walk_failed(walk)) return;
  struct mig_inspect_block *block = &walk->out->blocks[walk->last_block];
  uint64_t start = mig_reader_offset(&walk->reader), at = start;
  uint64_t end = walk->out->eof_offset;
  bool visit = walk->visitor != NULL && walk->visitor->visit != NULL;
  struct mig_inspect_event event = {.kind = MIG_INSPECT_RAM_PAGE,
                                    .block_index = (uint32_t)walk->last_block};
  while (at + 9 <= end) {
    uint64_t run = walk_zero_run(walk, block, at, end, visit);
    if (walk_failed(walk)) return;
    at += run;
    if (at + 9 > end) break;
    uint64_t word = load_be64(walk->bytes + at);
    uint32_t flags = (uint32_t)(word & (MIG_PAGE_BYTES - 1));
    uint64_t address = word & ~(uint64_t)(MIG_PAGE_BYTES - 1);
    bool zero = flags == ZERO_CONTINUE;
    if (!zero && flags != (MIG_RAM_FLAG_PAGE | MIG_RAM_FLAG_CONTINUE)) break;
    uint64_t length = zero ? 1 : MIG_PAGE_BYTES;
    if (address >= block->used_bytes || length > end - at - 8) break;
    if (zero) {
      block->zero_pages++;
    } else {
      block->normal_pages++;
    }
    if (visit) {
      event.offset = at;
      event.word = word;
      event.ram_kind = flags & ~MIG_RAM_FLAG_CONTINUE;
      event.address = address;
      event.fill = zero ? walk->bytes[at + 8] : 0;
      event.payload = zero ? NULL : walk->bytes + at + 8;
      event.payload_bytes = zero ? 0 : MIG_PAGE_BYTES;
      event.payload_offset = at + 8;
      walk_emit(walk, &event);
      if (walk_failed(walk)) return;
    }
    at += 8 + length;
  }
  mig_read_skip(&walk->reader, at - start);
}

/* One RAM section payload: records until EOS (§6.1-§6.5). */
static void walk_ram_section(struct walk *walk)
{
  struct mig_reader *reader = &walk->reader;
  for (;;) {
    walk_ram_fast(walk);
    uint64_t record_offset = mig_reader_offset(reader);
    uint64_t word = mig_read_be64(reader);
    mig__reader_annotate(reader, "ram/record");
    if (walk_failed(walk)) return;
    uint32_t flags = (uint32_t)(word & (MIG_PAGE_BYTES - 1));
    struct mig_inspect_event event = {
        .kind = MIG_INSPECT_RAM_PAGE, .offset = record_offset, .word = word,
        .ram_kind = flags & ~MIG_RAM_FLAG_CONTINUE,
        .ram_named = (flags & MIG_RAM_FLAG_CONTINUE) == 0,
        .address = word & ~(uint64_t)(MIG_PAGE_BYTES - 1)};
    if (event.ram_kind == MIG_RAM_FLAG_EOS) {
      event.kind = MIG_INSPECT_RAM_EOS;
      walk_emit(walk, &event);
      return;
    }
    if (event.ram_kind == MIG_RAM_FLAG_MEM_SIZE) {
      walk_ram_block_list(walk, word, record_offset);
      continue;
    }
    if (!walk_ram_kind_known(event.ram_kind)) {
      char detail[48];
      snprintf(detail, sizeof detail, "flags 0x%03" PRIx32, flags);
      MIG_READER_FAIL(reader, MIG_ERR_RAM_FLAGS, record_offset, detail, "ram/record/flags");
      return;
    }
    struct mig_inspect_block *block = walk_ram_page_block(walk, flags, record_offset);
    if (block == NULL) return;
    if (event.address >= block->used_bytes) {
      char detail[64];
      snprintf(detail, sizeof detail, "offset 0x%" PRIx64 " used 0x%" PRIx64, event.address,
               block->used_bytes);
      MIG_READER_FAIL(reader, MIG_ERR_RAM_OFFSET, record_offset, detail, "ram/%s/offset",
                      block->name);
      return;
    }
    event.block_index = (uint32_t)walk->last_block;
    walk_ram_page(walk, &event, block);
    if (walk_failed(walk)) return;
  }
}

/* A bounded non-negative JSON integer; false when absent, negative or too large. */
static bool json_bounded(const json_t *value, uint64_t bound, uint64_t *out)
{
  if (!json_is_integer(value)) return false;
  json_int_t number = json_integer_value(value);
  if (number < 0 || (uint64_t)number > bound) return false;
  *out = (uint64_t)number;
  return true;
}

static bool vmdesc_subsections_bytes(const json_t *subsections, uint32_t depth, uint64_t *total);

/* Σ size × array_len over a "fields" array; struct sizes already include their subsections. */
static bool vmdesc_fields_bytes(const json_t *fields, uint64_t *total)
{
  if (fields == NULL) return true;
  if (!json_is_array(fields)) return false;
  size_t index;
  const json_t *field;
  json_array_foreach(fields, index, field) {
    uint64_t size = 0, count = 1;
    if (!json_bounded(json_object_get(field, "size"), MIG_VMSTATE_FIELD_BYTES_MAX, &size)) {
      return false;
    }
    const json_t *array_len = json_object_get(field, "array_len");
    if (array_len != NULL && !json_bounded(array_len, MIG_VMSTATE_FIELD_BYTES_MAX, &count)) {
      return false;
    }
    *total += size * count;  /* each term < 2^48; at most 2^12 fields per level in practice */
    if (*total > (UINT64_C(1) << 56)) return false;
  }
  return true;
}

/* Each sent subsection: 0x05, counted vmsd_name, be32 version, fields, nested subsections. */
static bool vmdesc_subsections_bytes(const json_t *subsections, uint32_t depth, uint64_t *total)
{
  if (subsections == NULL) return true;
  if (!json_is_array(subsections) || depth > MIG_VMSTATE_DEPTH_MAX) return false;
  size_t index;
  const json_t *subsection;
  json_array_foreach(subsections, index, subsection) {
    const char *name = json_string_value(json_object_get(subsection, "vmsd_name"));
    if (name == NULL || strlen(name) == 0 || strlen(name) > MIG_IDSTR_BYTES_MAX) return false;
    *total += 1 + 1 + strlen(name) + 4;
    if (!vmdesc_fields_bytes(json_object_get(subsection, "fields"), total)) return false;
    if (!vmdesc_subsections_bytes(json_object_get(subsection, "subsections"), depth + 1, total)) {
      return false;
    }
  }
  return true;
}

/* The first unused device entry for (idstr, instance_id); -1 when none. */
static long walk_find_device(struct walk *walk, const char *idstr, uint32_t instance_id)
{
  size_t index;
  const json_t *device;
  json_array_foreach(walk->devices, index, device) {
    const char *name = json_string_value(json_object_get(device, "name"));
    uint64_t instance = 0;
    if (walk->device_used[index] || name == NULL || strcmp(name, idstr) != 0) continue;
    if (!json_bounded(json_object_get(device, "instance_id"), UINT32_MAX, &instance)) continue;
    if (instance != instance_id) continue;
    walk->device_used[index] = true;
    return (long)index;
  }
  return -1;
}

/* A FULL section's payload size from the trailer's device entry; false after an error. */
static bool walk_full_sized(struct walk *walk, struct mig_inspect_device *device,
                            uint64_t *bytes)
{
  struct mig_reader *reader = &walk->reader;
  long index = walk_find_device(walk, device->idstr, device->instance_id);
  if (index < 0) {
    MIG_READER_FAIL(reader, MIG_ERR_UNKNOWN_SECTION, device->offset,
                    "no unused VM-description entry", "%s/%" PRIu32, device->idstr,
                    device->instance_id);
    return false;
  }
  const json_t *entry = json_array_get(walk->devices, (size_t)index);
  *bytes = 0;
  if (!vmdesc_fields_bytes(json_object_get(entry, "fields"), bytes) ||
      !vmdesc_subsections_bytes(json_object_get(entry, "subsections"), 1, bytes)) {
    MIG_READER_FAIL(reader, MIG_ERR_VMDESC, walk->out->trailer_offset,
                    "device entry has no usable sizes", "vmdesc/%s", device->idstr);
    return false;
  }
  return true;
}

/* A plausible record at p: EOF at the end, or a section/command header that fits. */
static bool walk_plausible_record(const struct walk *walk, uint64_t p)
{
  uint64_t end = walk->out->eof_offset + 1;
  if (p >= end) return false;
  uint8_t type = walk->bytes[p];
  if (type == MIG_SECTION_EOF) return p + 1 == end;
  if (type == MIG_SECTION_PART || type == MIG_SECTION_END) return p + 5 < end;
  if (type == MIG_SECTION_COMMAND) {
    return p + 5 <= end && (walk->bytes[p + 1] == 0 && walk->bytes[p + 2] > 0 &&
                            walk->bytes[p + 2] < MIG_INSPECT_COMMANDS);
  }
  if (type != MIG_SECTION_START && type != MIG_SECTION_FULL) return false;
  if (p + 6 >= end) return false;
  uint64_t length = walk->bytes[p + 5];
  if (length == 0 || p + 6 + length + 8 > end) return false;
  for (uint64_t i = 0; i < length; i++) {
    uint8_t c = walk->bytes[p + 6 + i];
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/*
 * Without a trailer a FULL section's size is unknown (spec §10).  Heuristic:
 * the payload ends at the first 0x7e + be32(section id) that is followed by a
 * plausible record (walk_plausible_record).  Limits: a payload containing
 * those 5 bytes followed by something record-like is cut short (the walk
 * then fails or mis-attributes bytes); legacy streams without footers
 * cannot be sized at all and are rejected.
 */
static bool walk_full_unsized(struct walk *walk, struct mig_inspect_device *device,
                              uint64_t *bytes)
{
  struct mig_reader *reader = &walk->reader;
  uint64_t start = mig_reader_offset(reader);
  uint64_t end = walk->out->eof_offset;
  if (!walk->out->has_configuration && !walk->out->footers_seen) {
    MIG_READER_FAIL(reader, MIG_ERR_VMDESC, device->offset,
                    "no trailer and no section footers: FULL sections cannot be sized",
                    "%s/payload", device->idstr);
    return false;
  }
  uint8_t id[4] = {(uint8_t)(device->section_id >> 24), (uint8_t)(device->section_id >> 16),
                   (uint8_t)(device->section_id >> 8), (uint8_t)device->section_id};
  for (uint64_t p = start; p + 5 <= end; p++) {
    if (walk->bytes[p] != MIG_SECTION_FOOTER || memcmp(walk->bytes + p + 1, id, 4) != 0) continue;
    if (!walk_plausible_record(walk, p + 5)) continue;
    *bytes = p - start;
    return true;
  }
  MIG_READER_FAIL(reader, MIG_ERR_FOOTER, start, "no footer followed by a plausible record",
                  "%s/footer", device->idstr);
  return false;
}

/*
 * RunState names, QEMU qapi/run-state.json (read at upstream commit 01bed0ff;
 * every value is "since 2.8" or older, so QEMU 7.2 has the same 16).
 */
static const char *const runstate_names[] = {
  "debug", "inmigrate", "internal-error", "io-error", "paused", "postmigrate", "prelaunch",
  "finish-migrate", "restore-vm", "running", "save-vm", "shutdown", "suspended", "watchdog",
  "guest-panicked", "colo",
};

/*
 * The "globalstate" section (spec §11.3 item 20): be32 size, then the
 * runstate buffer (100 bytes in 7.2).  QEMU forces the buffer's last byte to
 * NUL and then parses the name; here the name must end inside the buffer,
 * be a known RunState, and size must be its length + 1 (what the source
 * writes).  payload holds bytes bytes at stream offset at.
 */
static void walk_globalstate(struct walk *walk, const uint8_t *payload, uint64_t bytes,
                             uint64_t at)
{
  struct mig_reader *reader = &walk->reader;
  if (bytes < 5) {
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, at, "payload under 5 bytes", "globalstate/runstate");
    return;
  }
  const char *runstate = (const char *)payload + 4;
  size_t buffer_bytes = (size_t)bytes - 4;
  const char *end = memchr(runstate, '\0', buffer_bytes);
  if (end == NULL) {
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, at + bytes - 1, "no NUL inside the buffer",
                    "globalstate/runstate");
    return;
  }
  bool known = false;
  for (size_t i = 0; i < SIM_ARRAY_COUNT(runstate_names) && !known; i++) {
    known = strcmp(runstate, runstate_names[i]) == 0;
  }
  char detail[80];
  if (!known) {
    snprintf(detail, sizeof detail, "\"%.40s\" is not a RunState", runstate);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, at + 4, detail, "globalstate/runstate");
    return;
  }
  uint32_t size = (uint32_t)payload[0] << 24 | (uint32_t)payload[1] << 16 |
                  (uint32_t)payload[2] << 8 | payload[3];
  if (size != (uint32_t)(end - runstate) + 1) {
    snprintf(detail, sizeof detail, "size %" PRIu32 ", runstate \"%s\" needs %zu", size, runstate,
             (size_t)(end - runstate) + 1);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, at, detail, "globalstate/size");
  }
}

/* A FULL section's payload: sized by the trailer, or heuristically without one. */
static void walk_full_section(struct walk *walk, struct mig_inspect_device *device)
{
  struct mig_reader *reader = &walk->reader;
  uint64_t bytes = 0;
  bool sized = walk->out->has_trailer ? walk_full_sized(walk, device, &bytes)
                                      : walk_full_unsized(walk, device, &bytes);
  if (!sized) return;
  if (bytes > walk_left(walk)) {
    char detail[64];
    snprintf(detail, sizeof detail, "size 0x%" PRIx64 " left 0x%" PRIx64, bytes, walk_left(walk));
    MIG_READER_FAIL(reader, MIG_ERR_TRUNCATED, mig_reader_offset(reader), detail, "%s/payload",
                    device->idstr);
    return;
  }
  device->bytes = bytes;
  struct mig_inspect_event event = {
      .kind = MIG_INSPECT_DEVICE, .offset = mig_reader_offset(reader),
      .section_type = MIG_SECTION_FULL, .section_id = device->section_id,
      .idstr = device->idstr, .instance_id = device->instance_id, .version = device->version,
      .payload_bytes = bytes};
  event.payload = mig_read_view(reader, (size_t)bytes);
  if (walk_failed(walk)) return;
  if (strcmp(device->idstr, "globalstate") == 0 && device->instance_id == 0) {
    walk_globalstate(walk, event.payload, bytes, event.offset);
    if (walk_failed(walk)) return;
  }
  walk_emit(walk, &event);
}

/*
 * The footer 0x7e + be32 id (§4.3); legacy streams (no configuration) may omit
 * footers.  Returns whether a footer was read.
 */
static bool walk_footer(struct walk *walk, uint32_t section_id, const char *idstr)
{
  struct mig_reader *reader = &walk->reader;
  uint64_t offset = mig_reader_offset(reader);
  uint8_t next = 0;
  if (!mig_reader_peek_u8(reader, &next)) {
    MIG_READER_FAIL(reader, MIG_ERR_TRUNCATED, offset, "no footer", "%s/footer", idstr);
    return false;
  }
  char detail[64];
  if (next == MIG_SECTION_FOOTER) {
    (void)mig_read_u8(reader);
    uint32_t id = mig_read_be32(reader);
    mig__reader_annotate(reader, "%s/footer", idstr);
    if (!walk_failed(walk) && id != section_id) {
      snprintf(detail, sizeof detail, "read 0x%" PRIx32 " expected 0x%" PRIx32, id, section_id);
      MIG_READER_FAIL(reader, MIG_ERR_FOOTER, offset, detail, "%s/footer", idstr);
    }
    walk->out->footers_seen = true;
    return true;
  }
  bool record = next <= MIG_SECTION_FULL || next == MIG_SECTION_COMMAND;
  if (!walk->out->has_configuration && !walk->out->footers_seen && record) return false;
  snprintf(detail, sizeof detail, "read 0x%02x, expected 0x7e", next);
  MIG_READER_FAIL(reader, MIG_ERR_FOOTER, offset, detail, "%s/footer", idstr);
  return false;
}

/* Index of the block called name (not NUL-terminated, name_bytes long); -1 if unknown. */
static int32_t walk_block_named(const struct walk *walk, const uint8_t *name, size_t name_bytes)
{
  for (uint32_t i = 0; i < walk->out->block_count; i++) {
    const char *known = walk->out->blocks[i].name;
    if (strlen(known) == name_bytes && memcmp(known, name, name_bytes) == 0) return (int32_t)i;
  }
  return -1;
}

/*
 * POSTCOPY_RAM_DISCARD (§7, §11.2, §11.3 item 8): u8 version 0, counted
 * block name, u8 0, then (be64 start, be64 length) pairs in bytes.  QEMU
 * clears received-bitmap bits before it validates a range and never checks
 * start + length for overflow; here every range is checked first: page
 * aligned, non-empty, no wrap, inside the named block.  payload holds length
 * bytes (length >= 3 was checked by the caller).
 */
static bool walk_discard(struct walk *walk, uint64_t offset, const uint8_t *payload,
                         uint16_t length)
{
  struct mig_reader *reader = &walk->reader;
  uint64_t at = offset + 5;         /* payload[0] */
  char detail[96];
  if (payload[0] != 0) {
    snprintf(detail, sizeof detail, "version %u, expected 0", payload[0]);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, at, detail, "command/POSTCOPY_RAM_DISCARD/version");
    return false;
  }
  uint32_t name_bytes = payload[1];
  if (3u + name_bytes > length || (length - 3u - name_bytes) % 16 != 0) {
    snprintf(detail, sizeof detail, "length %" PRIu16 " is not 3 + %" PRIu32 " + 16 x ranges",
             length, name_bytes);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_COMMAND, offset + 3, detail,
                    "command/POSTCOPY_RAM_DISCARD/length");
    return false;
  }
  if (payload[2 + name_bytes] != 0) {
    snprintf(detail, sizeof detail, "0x%02x after the name, expected 0", payload[2 + name_bytes]);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, at + 2 + name_bytes, detail,
                    "command/POSTCOPY_RAM_DISCARD/terminator");
    return false;
  }
  int32_t index = walk_block_named(walk, payload + 2, name_bytes);
  if (index < 0 || memchr(payload + 2, 0, name_bytes) != NULL) {
    MIG_READER_FAIL(reader, MIG_ERR_RAM_BLOCK, at + 1, "no such block in the RAM setup",
                    "command/POSTCOPY_RAM_DISCARD/block");
    return false;
  }
  uint64_t used = walk->out->blocks[index].used_bytes;
  uint32_t range_count = (length - 3u - name_bytes) / 16;
  const uint8_t *ranges = payload + 3 + name_bytes;
  for (uint32_t i = 0; i < range_count; i++) {
    uint64_t start = 0, bytes = 0;
    for (int b = 0; b < 8; b++) {
      start = start << 8 | ranges[16 * i + (uint32_t)b];
      bytes = bytes << 8 | ranges[16 * i + 8 + (uint32_t)b];
    }
    const char *problem = NULL;
    if (((start | bytes) & (MIG_PAGE_BYTES - 1)) != 0) {
      problem = "not page aligned";
    } else if (bytes == 0) {
      problem = "empty range";
    } else if (start > UINT64_MAX - bytes) {
      problem = "start + length wraps";
    } else if (start + bytes > used) {
      problem = "beyond used_length";
    }
    if (problem != NULL) {
      snprintf(detail, sizeof detail, "0x%" PRIx64 "+0x%" PRIx64 " %s", start, bytes, problem);
      MIG_READER_FAIL(reader, MIG_ERR_RAM_OFFSET, at + 3 + name_bytes + 16 * (uint64_t)i, detail,
                      "command/POSTCOPY_RAM_DISCARD/ranges[%" PRIu32 "]", i);
      return false;
    }
  }
  return true;
}

/*
 * POSTCOPY_ADVISE with a body: be64 page-size summary, be64 target page
 * size; the target page size must be ours (§7, §11.2 "ADVISE page-size
 * mismatch").  RECV_BITMAP: counted block name and nothing else, naming a
 * block of the RAM setup (§7).  False after a rejection.
 */
static bool walk_postcopy_body(struct walk *walk, uint64_t offset, uint16_t code,
                               const uint8_t *payload, uint16_t length)
{
  struct mig_reader *reader = &walk->reader;
  char detail[64];
  if (code == 3 && length == 16) {
    uint64_t target = 0;
    for (int b = 0; b < 8; b++) target = target << 8 | payload[8 + b];
    if (target != MIG_PAGE_BYTES) {
      snprintf(detail, sizeof detail, "target page size 0x%" PRIx64 ", expected 0x1000", target);
      MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, offset + 5 + 8, detail,
                      "command/POSTCOPY_ADVISE/target_page_size");
      return false;
    }
  } else if (code == 10) {
    uint32_t name_bytes = payload[0];
    if (length != 1u + name_bytes) {
      snprintf(detail, sizeof detail, "length %" PRIu16 ", expected 1 + %" PRIu32, length,
               name_bytes);
      MIG_READER_FAIL(reader, MIG_ERR_BAD_COMMAND, offset + 3, detail,
                      "command/RECV_BITMAP/length");
      return false;
    }
    if (walk_block_named(walk, payload + 1, name_bytes) < 0 ||
        memchr(payload + 1, 0, name_bytes) != NULL) {
      MIG_READER_FAIL(reader, MIG_ERR_RAM_BLOCK, offset + 5, "no such block in the RAM setup",
                      "command/RECV_BITMAP/block");
      return false;
    }
  }
  return true;
}

/* A command record (§7): be16 code, be16 length, payload. */
static void walk_command(struct walk *walk, uint64_t offset)
{
  struct mig_reader *reader = &walk->reader;
  uint16_t code = mig_read_be16(reader);
  uint16_t length = mig_read_be16(reader);
  mig__reader_annotate(reader, "command");
  if (walk_failed(walk)) return;
  char detail[64];
  snprintf(detail, sizeof detail, "command %" PRIu16 " length %" PRIu16, code, length);
  bool known = code > 0 && code < MIG_INSPECT_COMMANDS && code != 7;
  int32_t fixed = known ? command_lengths[code] : -2;
  bool length_ok = (fixed >= 0 && length == (uint32_t)fixed) ||
                   (code == 3 && (length == 0 || length == 16)) ||
                   (code == 6 && length >= 3) || (code == 10 && length >= 1);
  if (!known || !length_ok) {
    MIG_READER_FAIL(reader, MIG_ERR_BAD_COMMAND, offset,
                    code == 7 ? "PACKAGED (postcopy) is not walked yet" : detail, "command");
    return;
  }
  if (length > walk_left(walk)) {
    MIG_READER_FAIL(reader, MIG_ERR_TRUNCATED, offset, detail, "command/payload");
    return;
  }
  struct mig_inspect_event event = {.kind = MIG_INSPECT_COMMAND, .offset = offset,
                                    .command = code, .payload_bytes = length};
  event.payload = mig_read_view(reader, length);
  if (walk_failed(walk)) return;
  if (code == 6 && !walk_discard(walk, offset, event.payload, length)) return;
  if (!walk_postcopy_body(walk, offset, code, event.payload, length)) return;
  walk->out->commands[code]++;
  walk_emit(walk, &event);
}

/* START/FULL header fields after the type and id (§4.2). */
static bool walk_long_header(struct walk *walk, struct mig_inspect_device *device)
{
  struct mig_reader *reader = &walk->reader;
  size_t length = walk_name(walk, device->idstr, sizeof device->idstr, "section/idstr");
  device->instance_id = mig_read_be32(reader);
  device->version = mig_read_be32(reader);
  mig__reader_annotate(reader, "section/header");
  if (walk_failed(walk)) return false;
  if (length == 0) {
    MIG_READER_FAIL(reader, MIG_ERR_BAD_IDSTR, device->offset + 5, "empty", "section/idstr");
    return false;
  }
  return true;
}

/* Dirty-bitmap chunk flags: 1, 2 or 4 bytes, widened while the top bit is set. */
static uint32_t walk_bitmap_flags(struct walk *walk, uint32_t *flags_bytes)
{
  struct mig_reader *reader = &walk->reader;
  uint32_t flags = mig_read_u8(reader);
  *flags_bytes = 1;
  if (flags & BITMAP_FLAG_EXTRA) {
    flags = flags << 8 | mig_read_u8(reader);
    *flags_bytes = 2;
    if (flags & BITMAP_FLAG_EXTRA) {
      flags = flags << 16 | mig_read_be16(reader);
      *flags_bytes = 4;
    }
  }
  return flags;
}

/* START: be32 granularity, u8 flags; BITS: be64 sector, be32 count, [be64 size, bytes]. */
static void walk_bitmap_body(struct walk *walk, struct mig_inspect_event *event)
{
  struct mig_reader *reader = &walk->reader;
  char detail[64];
  if (event->bitmap_flags & BITMAP_FLAG_START) {
    event->granularity = mig_read_be32(reader);
    event->bitmap_start_flags = mig_read_u8(reader);
    if (!walk_failed(walk) && (event->bitmap_start_flags & BITMAP_START_RESERVED) != 0) {
      snprintf(detail, sizeof detail, "start flags 0x%02x", event->bitmap_start_flags);
      MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, event->offset, detail, "dirty-bitmap/start");
    }
  } else if ((event->bitmap_flags & BITMAP_FLAG_COMPLETE) == 0 &&
             (event->bitmap_flags & BITMAP_FLAG_BITS) != 0) {
    event->start_sector = mig_read_be64(reader);
    event->sectors = mig_read_be32(reader);
    if ((event->bitmap_flags & BITMAP_FLAG_ZEROES) == 0) {
      uint64_t size_offset = mig_reader_offset(reader);
      uint64_t size = mig_read_be64(reader);
      if (!walk_failed(walk) && (size > BITMAP_BITS_BYTES_MAX || size > walk_left(walk))) {
        snprintf(detail, sizeof detail, "buffer size 0x%" PRIx64, size);
        MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, size_offset, detail, "dirty-bitmap/bits");
        return;
      }
      event->payload_bytes = size;
      event->payload = mig_read_view(reader, (size_t)size);
    }
  }
  mig__reader_annotate(reader, "dirty-bitmap/chunk");
}

/* One dirty-bitmap section payload: chunks until one carries EOS. */
static void walk_bitmap_section(struct walk *walk)
{
  struct mig_reader *reader = &walk->reader;
  for (uint64_t chunk = 0; !walk_failed(walk); chunk++) {
    struct mig_inspect_event event = {.kind = MIG_INSPECT_BITMAP_CHUNK,
                                      .offset = mig_reader_offset(reader)};
    event.bitmap_flags = walk_bitmap_flags(walk, &event.bitmap_flags_bytes);
    if (!walk_failed(walk) && event.bitmap_flags > 0xff) {
      char detail[32];
      snprintf(detail, sizeof detail, "flags 0x%" PRIx32, event.bitmap_flags);
      MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, event.offset, detail, "dirty-bitmap/flags");
    }
    if (event.bitmap_flags & BITMAP_FLAG_DEVICE_NAME) {
      (void)walk_name(walk, walk->bitmap_node, sizeof walk->bitmap_node, "dirty-bitmap/node");
      event.bitmap_node = walk->bitmap_node;
    }
    if (event.bitmap_flags & BITMAP_FLAG_BITMAP_NAME) {
      (void)walk_name(walk, walk->bitmap_name, sizeof walk->bitmap_name, "dirty-bitmap/name");
      event.bitmap_name = walk->bitmap_name;
    }
    mig__reader_annotate(reader, "dirty-bitmap/header");
    walk_bitmap_body(walk, &event);
    if (walk_failed(walk)) return;
    walk->out->bitmap_chunks++;
    walk_emit(walk, &event);
    if (event.bitmap_flags & BITMAP_FLAG_EOS) return;
  }
}

/* The index of block device name, registered on first sight; -1 after a rejection. */
static int32_t walk_block_device(struct walk *walk, const char *name, uint64_t name_offset)
{
  struct mig_reader *reader = &walk->reader;
  struct mig_inspect *out = walk->out;
  for (uint32_t i = 0; i < out->block_device_count; i++) {
    if (strcmp(out->block_devices[i].name, name) == 0) return (int32_t)i;
  }
  const struct mig_inspect_options *options = walk->options;
  uint64_t bytes = 0;
  bool known = options->block_device_count == 0;
  for (uint32_t i = 0; i < options->block_device_count && !known; i++) {
    known = strcmp(options->block_devices[i].name, name) == 0;
    bytes = options->block_devices[i].bytes;
  }
  char detail[MIG_IDSTR_BYTES_MAX + 32];
  if (!known) {
    snprintf(detail, sizeof detail, "no block device \"%s\"", name);
    MIG_READER_FAIL(reader, MIG_ERR_UNKNOWN_SECTION, name_offset, detail, "block/device-name");
    return -1;
  }
  if (out->block_device_count >= MIG_INSPECT_BLOCK_DEVICES_MAX) {
    snprintf(detail, sizeof detail, "more than %d devices", MIG_INSPECT_BLOCK_DEVICES_MAX);
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, name_offset, detail, "block/device-name");
    return -1;
  }
  struct mig_inspect_block_device *device = &out->block_devices[out->block_device_count];
  memset(device, 0, sizeof *device);
  snprintf(device->name, sizeof device->name, "%s", name);
  device->bytes = bytes;
  return (int32_t)out->block_device_count++;
}

/*
 * DEVICE_BLOCK (QEMU 7.2 block_load): counted device name, then unless
 * ZERO_BLOCK one 1 MiB chunk.  Stricter than QEMU: the name is non-empty and
 * NUL-free, the sector starts a chunk (the source only sends chunk-aligned
 * sectors) and lies inside the device (QEMU computes a negative sector count
 * past the end and lets the write fail).  False after a rejection.
 */
static bool walk_block_data(struct walk *walk, struct mig_inspect_event *event)
{
  struct mig_reader *reader = &walk->reader;
  char name[MIG_IDSTR_BYTES_MAX + 1];
  uint64_t name_offset = mig_reader_offset(reader);
  size_t length = walk_name(walk, name, sizeof name, "block/device-name");
  mig__reader_annotate(reader, "block/device-name");
  if (walk_failed(walk)) return false;
  if (length == 0) {
    MIG_READER_FAIL(reader, MIG_ERR_BAD_IDSTR, name_offset, "empty", "block/device-name");
    return false;
  }
  int32_t index = walk_block_device(walk, name, name_offset);
  if (index < 0) return false;
  struct mig_inspect_block_device *device = &walk->out->block_devices[index];
  uint64_t device_bytes = device->bytes != 0 ? device->bytes : MIG_BLOCK_DEVICE_BYTES_MAX;
  char detail[96];
  if (event->sector % MIG_BLOCK_CHUNK_SECTORS != 0 ||
      event->sector >= device_bytes >> MIG_BLOCK_SECTOR_BITS) {
    snprintf(detail, sizeof detail, "sector 0x%" PRIx64 " %s (device 0x%" PRIx64 " bytes)",
             event->sector, event->sector % MIG_BLOCK_CHUNK_SECTORS != 0 ?
             "does not start a 1 MiB chunk" : "beyond the device", device_bytes);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, event->offset, detail, "block/sector");
    return false;
  }
  event->block_device = (uint32_t)index;
  if (event->block_flags & MIG_BLOCK_FLAG_ZERO_BLOCK) {
    device->zero_blocks++;
  } else {
    event->payload_offset = mig_reader_offset(reader);
    if (MIG_BLOCK_CHUNK_BYTES > walk_left(walk)) {
      snprintf(detail, sizeof detail, "1 MiB chunk, 0x%" PRIx64 " bytes left", walk_left(walk));
      MIG_READER_FAIL(reader, MIG_ERR_TRUNCATED, event->payload_offset, detail, "block/data");
      return false;
    }
    event->payload = mig_read_view(reader, MIG_BLOCK_CHUNK_BYTES);
    event->payload_bytes = MIG_BLOCK_CHUNK_BYTES;
    mig__reader_annotate(reader, "block/data");
    device->data_blocks++;
  }
  device->sector_end = SIM_MAX(device->sector_end, event->sector + MIG_BLOCK_CHUNK_SECTORS);
  return !walk_failed(walk);
}

/* One record's flags and sector field; false after a rejection. */
static bool walk_block_record(struct walk *walk, struct mig_inspect_event *event,
                              uint32_t section_id)
{
  struct mig_reader *reader = &walk->reader;
  char detail[64];
  uint32_t flags = event->block_flags;
  /* A valid record's sector is below 2^41, so its first byte is 0: 0x7e + id is the footer. */
  if (event->word >> 56 == MIG_SECTION_FOOTER && (uint32_t)(event->word >> 24) == section_id) {
    MIG_READER_FAIL(reader, MIG_ERR_FOOTER, event->offset, "section footer before EOS",
                    "block/eos");
    return false;
  }
  if (flags == MIG_BLOCK_FLAG_EOS || flags == MIG_BLOCK_FLAG_PROGRESS) {
    bool eos = flags == MIG_BLOCK_FLAG_EOS;
    if (event->sector > (eos ? 0u : 100u)) {
      snprintf(detail, sizeof detail, "%s 0x%" PRIx64, eos ? "EOS with sector" : "percent",
               event->sector);
      MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, event->offset, detail, "%s",
                      eos ? "block/eos" : "block/progress");
      return false;
    }
    if (eos) {
      walk->out->block_eos_count++;
    } else {
      walk->out->block_progress_count++;
      walk->out->block_progress = (uint32_t)event->sector;
    }
    return true;
  }
  if (flags == MIG_BLOCK_FLAG_DEVICE_BLOCK ||
      flags == (MIG_BLOCK_FLAG_DEVICE_BLOCK | MIG_BLOCK_FLAG_ZERO_BLOCK)) {
    return walk_block_data(walk, event);
  }
  snprintf(detail, sizeof detail, "flags 0x%03" PRIx32, flags);
  MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, event->offset, detail, "block/flags");
  return false;
}

/*
 * One "block" section payload (QEMU 7.2 migration/block.c block_load):
 * records until EOS.  Accepted flag values are exactly those the source
 * writes: DEVICE_BLOCK, DEVICE_BLOCK|ZERO_BLOCK, PROGRESS (percent <= 100)
 * and EOS (sector 0); QEMU's loader also takes other combinations.
 */
static void walk_block_section(struct walk *walk, uint32_t section_id)
{
  struct mig_reader *reader = &walk->reader;
  for (;;) {
    struct mig_inspect_event event = {.kind = MIG_INSPECT_BLOCK_RECORD,
                                      .offset = mig_reader_offset(reader)};
    event.word = mig_read_be64(reader);
    mig__reader_annotate(reader, "block/record");
    if (walk_failed(walk)) return;
    event.block_flags = (uint32_t)(event.word & ((1u << MIG_BLOCK_SECTOR_BITS) - 1));
    event.sector = event.word >> MIG_BLOCK_SECTOR_BITS;
    if (!walk_block_record(walk, &event, section_id)) return;
    walk_emit(walk, &event);
    if (walk_failed(walk) || event.block_flags == MIG_BLOCK_FLAG_EOS) return;
  }
}

/* The live section registered under section_id; NULL when none. */
static struct mig_inspect_live *walk_find_live(struct walk *walk, uint32_t section_id)
{
  for (uint32_t i = 0; i < walk->out->live_count; i++) {
    if (walk->out->lives[i].section_id == section_id) return &walk->out->lives[i];
  }
  return NULL;
}

/* START registers a live section (ram v4, dirty-bitmap v1, block v1); PART/END look it up. */
static struct mig_inspect_live *walk_live_header(struct walk *walk, uint8_t type,
                                                 const struct mig_inspect_device *header)
{
  struct mig_reader *reader = &walk->reader;
  char detail[64];
  struct mig_inspect_live *live = walk_find_live(walk, header->section_id);
  if (type != MIG_SECTION_START) {
    if (live != NULL) return live;
    snprintf(detail, sizeof detail, "section id 0x%" PRIx32, header->section_id);
    MIG_READER_FAIL(reader, MIG_ERR_UNKNOWN_SECTION, header->offset, detail, "section/id");
    return NULL;
  }
  bool ram = strcmp(header->idstr, MIG_RAM_IDSTR) == 0;
  bool block = strcmp(header->idstr, BLOCK_IDSTR) == 0;
  if (!ram && !block && strcmp(header->idstr, BITMAP_IDSTR) != 0) {
    MIG_READER_FAIL(reader, MIG_ERR_UNKNOWN_SECTION, header->offset,
                    "live sections other than \"ram\", \"dirty-bitmap\" and \"block\" are "
                    "not walked", "%s", header->idstr);
    return NULL;
  }
  uint32_t version = ram ? MIG_RAM_SECTION_VERSION
                         : block ? BLOCK_SECTION_VERSION : BITMAP_SECTION_VERSION;
  if (header->version != version || header->instance_id != 0) {
    snprintf(detail, sizeof detail, "version %" PRIu32 " instance %" PRIu32, header->version,
             header->instance_id);
    MIG_READER_FAIL(reader, MIG_ERR_SECTION_VERSION, header->offset, detail, "%s/header",
                    header->idstr);
    return NULL;
  }
  if (live != NULL || walk->out->live_count >= MIG_INSPECT_LIVE_SECTIONS_MAX) {
    snprintf(detail, sizeof detail, "section id 0x%" PRIx32 " (%" PRIu32 " live)",
             header->section_id, walk->out->live_count);
    MIG_READER_FAIL(reader, MIG_ERR_UNKNOWN_SECTION, header->offset, detail, "section/id");
    return NULL;
  }
  live = &walk->out->lives[walk->out->live_count++];
  live->section_id = header->section_id;
  snprintf(live->idstr, sizeof live->idstr, "%s", header->idstr);
  live->instance_id = header->instance_id;
  live->version = header->version;
  live->offset = header->offset;
  return live;
}

static void walk_section(struct walk *walk, uint8_t type, uint64_t offset)
{
  struct mig_reader *reader = &walk->reader;
  struct mig_inspect_device header = {.offset = offset};
  header.section_id = mig_read_be32(reader);
  mig__reader_annotate(reader, "section/id");
  if (walk_failed(walk)) return;
  if ((type == MIG_SECTION_START || type == MIG_SECTION_FULL) && !walk_long_header(walk, &header)) {
    return;
  }
  const struct mig_inspect_live *live = NULL;
  if (type != MIG_SECTION_FULL) {
    live = walk_live_header(walk, type, &header);
    if (live == NULL) return;
  } else if (walk->out->device_count >= MIG_SECTIONS_MAX) {
    MIG_READER_FAIL(reader, MIG_ERR_TOO_LONG, offset, "too many FULL sections", "%s",
                    header.idstr);
    return;
  }
  struct mig_inspect_event event = {
      .kind = MIG_INSPECT_SECTION_START, .offset = offset, .section_type = type,
      .section_id = header.section_id, .idstr = live != NULL ? live->idstr : header.idstr,
      .instance_id = header.instance_id, .version = header.version};
  walk_emit(walk, &event);
  if (live != NULL && strcmp(live->idstr, MIG_RAM_IDSTR) == 0) {
    walk_ram_section(walk);
  } else if (live != NULL && strcmp(live->idstr, BLOCK_IDSTR) == 0) {
    walk_block_section(walk, header.section_id);
  } else if (live != NULL) {
    walk_bitmap_section(walk);
  } else {
    walk_full_section(walk, &header);
    walk->out->devices[walk->out->device_count++] = header;
  }
  if (walk_failed(walk)) return;
  event.kind = MIG_INSPECT_SECTION_END;
  event.footer = walk_footer(walk, header.section_id, event.idstr);
  walk_emit(walk, &event);
}

static enum mig_err walk_records(struct walk *walk)
{
  struct mig_reader *reader = &walk->reader;
  while (!walk_failed(walk)) {
    uint64_t offset = mig_reader_offset(reader);
    uint8_t type = mig_read_u8(reader);
    mig__reader_annotate(reader, "record");
    if (walk_failed(walk)) break;
    if (type < MIG_INSPECT_RECORD_TYPES) walk->out->records[type]++;
    if (type == MIG_SECTION_EOF) {
      if (offset != walk->out->eof_offset) {
        MIG_READER_FAIL(reader, MIG_ERR_TRAILING, offset, "EOF before the end of the stream",
                        "eof");
        break;
      }
      struct mig_inspect_event event = {.kind = MIG_INSPECT_EOF, .offset = offset};
      if (walk->out->has_trailer) {
        event.payload = walk->bytes + walk->out->trailer_offset;
        event.payload_bytes = walk->out->trailer_bytes;
      }
      walk_emit(walk, &event);
      break;
    }
    if (type >= MIG_SECTION_START && type <= MIG_SECTION_FULL) {
      walk_section(walk, type, offset);
    } else if (type == MIG_SECTION_COMMAND) {
      walk_command(walk, offset);
    } else {
      char detail[32];
      snprintf(detail, sizeof detail, "type 0x%02x", type);
      MIG_READER_FAIL(reader, MIG_ERR_BAD_SECTION_TYPE, offset, detail, "record");
    }
  }
  return walk_failed(walk) ? mig_reader_error(reader)->code : MIG_OK;
}

enum mig_err mig_inspect_walk_with(const uint8_t *bytes, size_t count, struct mig_inspect *out,
                                   const struct mig_inspect_options *options,
                                   const struct mig_inspect_visitor *visitor,
                                   struct mig_error *error)
{
  static const struct mig_inspect_options no_options;
  memset(out, 0, sizeof *out);
  struct walk walk = {.out = out, .last_block = -1, .zero_group_block = -1, .bytes = bytes,
                      .count = count, .visitor = visitor,
                      .options = options != NULL ? options : &no_options};
  SIM_ASSERT(walk.options->block_device_count == 0 || walk.options->block_devices != NULL);
  mig_reader_init_memory(&walk.reader, bytes, count);
  out->devices = calloc(MIG_SECTIONS_MAX, sizeof *out->devices);
  if (out->devices == NULL) {
    MIG_READER_FAIL(&walk.reader, MIG_ERR_NOMEM, 0, "device table", "inspect");
  } else if (walk_header(&walk) == MIG_OK && walk_find_trailer(&walk, bytes, count) == MIG_OK) {
    /* From here on the reader ends at the EOF byte: nothing can read into the trailer. */
    mig_reader_init_memory(&walk.reader, bytes, (size_t)out->eof_offset + 1);
    mig_read_skip(&walk.reader, 8);
    if (walk_configuration(&walk) == MIG_OK) {
      struct mig_inspect_event event = {.kind = MIG_INSPECT_CONFIGURATION, .offset = 0};
      walk_emit(&walk, &event);
      (void)walk_records(&walk);
    }
  }
  *error = *mig_reader_error(&walk.reader);
  json_decref(walk.vmdesc);
  free(walk.device_used);
  return error->code;
}

enum mig_err mig_inspect_walk(const uint8_t *bytes, size_t count, struct mig_inspect *out,
                              const struct mig_inspect_visitor *visitor,
                              struct mig_error *error)
{
  return mig_inspect_walk_with(bytes, count, out, NULL, visitor, error);
}

enum mig_err mig_inspect_stream(const uint8_t *bytes, size_t count, struct mig_inspect *out,
                                struct mig_error *error)
{
  return mig_inspect_walk(bytes, count, out, NULL, error);
}

void mig_inspect_deinit(struct mig_inspect *inspect)
{
  free(inspect->devices);
  inspect->devices = NULL;
}
