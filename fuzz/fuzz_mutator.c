/*
 * fuzz_mutator.c: the structure-aware mutator (fuzz_mutator.h).
 *
 * Two steps.  layout_parse runs the record tokenizer over the input and
 * keeps, per record, its span [offset, end) and its fields (the byte offset
 * and width of every type byte, id, length, version, name and flag word the
 * record has).  One mutation then edits a span or a field, and the bytes are
 * put together again around it.
 */
#include "fuzz_mutator.h"

#include "mig_record.h"
#include "mig_stream.h"

/* libFuzzer's mutator; absent (NULL) in the replay builds. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size) __attribute__((weak));

#define FIELDS_MAX (4u * FUZZ_MUTATOR_SPANS_MAX)
#define RAM_SPANS_MAX 256u    /* RAM records kept; the rest are parsed but not kept */
#define SPAN_SUBSECTION 100u  /* span kinds past enum mig_record_kind */
#define SPAN_TAIL 101u

enum field_class { FIELD_TYPE, FIELD_ID, FIELD_LENGTH, FIELD_VERSION, FIELD_NAME, FIELD_FLAGS };

static const char *const field_class_names[] = {"type", "id", "length", "version", "name",
                                                "flags"};

struct fuzz_span {
  uint64_t offset, end, payload_offset;  /* payload_offset == end: no payload */
  uint32_t kind;                          /* enum mig_record_kind, SPAN_SUBSECTION, SPAN_TAIL */
  uint32_t index;                         /* position in the span list */
};

struct fuzz_field {
  uint64_t offset;
  uint32_t bytes;                         /* 1, 2, 4, 8; a name: its length */
  uint32_t span;                          /* index of the span it belongs to */
  enum field_class class;
};

struct fuzz_layout {
  const uint8_t *data;
  size_t size;
  uint32_t span_count, field_count;
  struct fuzz_span *spans;          /* FUZZ_MUTATOR_SPANS_MAX + 2 (the tail, a payload after
                                       the cap) */
  struct fuzz_field *fields;        /* FIELDS_MAX */
};

/*
 * The workspace of one call: a layout as large as FUZZ_MUTATOR_SPANS_MAX
 * records need, and byte buffers that only grow.  Static and reused, not
 * state (nothing survives a call that the next one reads): an allocation and
 * a free per mutation cost the fuzz build ASan's allocator, stack capture and
 * quarantine on every input.  libFuzzer calls the mutator from one thread.
 */
struct fuzz_buffer {
  uint8_t *bytes;
  size_t capacity;
};

static struct fuzz_span layout_spans[FUZZ_MUTATOR_SPANS_MAX + 2]; /* + the tail, a payload */
static struct fuzz_field layout_fields[FIELDS_MAX];

static void layout_init(struct fuzz_layout *layout)
{
  *layout = (struct fuzz_layout){.spans = layout_spans, .fields = layout_fields};
}

/* At least bytes of room in buffer (its old contents are not kept). */
static uint8_t *buffer_reserve(struct fuzz_buffer *buffer, size_t bytes)
{
  if (bytes > buffer->capacity) {
    size_t capacity = SIM_MAX(bytes, 2 * buffer->capacity);
    free(buffer->bytes);
    buffer->bytes = malloc(capacity);
    SIM_ASSERT(buffer->bytes != NULL);
    buffer->capacity = capacity;
  }
  return buffer->bytes;
}

struct fuzz_rng {
  uint64_t state;
};

static uint64_t rng_next(struct fuzz_rng *rng)
{
  uint64_t z = (rng->state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static uint64_t rng_below(struct fuzz_rng *rng, uint64_t bound)
{
  return bound == 0 ? 0 : rng_next(rng) % bound;
}

/* ------------------------------------------------------------ the layout */

static void add_field(struct fuzz_layout *layout, uint64_t offset, uint32_t bytes,
                      enum field_class class)
{
  if (layout->field_count >= FIELDS_MAX || bytes == 0) return;
  if (offset + bytes > layout->size) return;
  layout->fields[layout->field_count++] = (struct fuzz_field){
      .offset = offset, .bytes = bytes, .span = layout->span_count - 1, .class = class};
}

static void add_span(struct fuzz_layout *layout, uint64_t offset, uint64_t end,
                     uint64_t payload_offset, uint32_t kind)
{
  SIM_ASSERT(layout->span_count < FUZZ_MUTATOR_SPANS_MAX + 2);
  SIM_ASSERT(offset <= end && end <= layout->size);
  struct fuzz_span *span = &layout->spans[layout->span_count];
  *span = (struct fuzz_span){.offset = offset, .end = end, .kind = kind,
                             .payload_offset = payload_offset < end ? payload_offset : end,
                             .index = layout->span_count};
  layout->span_count++;
}

/* A counted name at offset: its length byte and its bytes. */
static uint64_t add_name(struct fuzz_layout *layout, uint64_t at)
{
  if (at >= layout->size) return at;
  uint32_t length = layout->data[at];
  add_field(layout, at, 1, FIELD_LENGTH);
  add_field(layout, at + 1, length, FIELD_NAME);
  return at + 1 + length;
}

static void section_fields(struct fuzz_layout *layout, const struct mig_record *record,
                           uint64_t base)
{
  uint64_t at = base + record->offset;
  add_field(layout, at, 1, FIELD_TYPE);
  add_field(layout, at + 1, 4, FIELD_ID);
  uint8_t type = record->section.type;
  if (type != MIG_SECTION_START && type != MIG_SECTION_FULL) return;
  at = add_name(layout, at + 5);
  add_field(layout, at, 4, FIELD_ID);
  add_field(layout, at + 4, 4, FIELD_VERSION);
}

static void ram_fields(struct fuzz_layout *layout, const struct mig_record *record,
                       uint64_t base)
{
  uint64_t at = base + record->offset;
  add_field(layout, at, 8, FIELD_FLAGS);
  if (record->kind == MIG_RECORD_RAM_BLOCK) {
    at = add_name(layout, at);
    add_field(layout, at, 8, FIELD_LENGTH);
    return;
  }
  if (record->ram.named) add_name(layout, at + 8);
  uint64_t payload = base + record->payload_offset;
  if (record->ram.kind == MIG_RAM_FLAG_XBZRLE && record->payload_bytes > 0) {
    add_field(layout, payload - 2, 2, FIELD_LENGTH);
  } else if (record->ram.kind == MIG_RAM_FLAG_COMPRESS_PAGE && record->payload_bytes > 0) {
    add_field(layout, payload - 4, 4, FIELD_LENGTH);
  }
}

/* The fields of one record; base: the prefix the reader started after. */
static void record_fields(struct fuzz_layout *layout, const struct mig_record *record,
                          uint64_t base)
{
  uint64_t at = base + record->offset;
  switch (record->kind) {
  case MIG_RECORD_HEADER:
    add_field(layout, at, 4, FIELD_TYPE);
    add_field(layout, at + 4, 4, FIELD_VERSION);
    break;
  case MIG_RECORD_CONFIGURATION:
    add_field(layout, at, 1, FIELD_TYPE);
    add_field(layout, at + 1, 4, FIELD_LENGTH);
    add_field(layout, at + 5, record->config.name.length, FIELD_NAME);
    break;
  case MIG_RECORD_CONFIG_SUBSECTION:
    add_field(layout, at, 1, FIELD_TYPE);
    add_field(layout, add_name(layout, at + 1), 4, FIELD_VERSION);
    break;
  case MIG_RECORD_SECTION: section_fields(layout, record, base); break;
  case MIG_RECORD_FOOTER:
    if (!record->footer_present) break;
    add_field(layout, at, 1, FIELD_TYPE);
    add_field(layout, at + 1, 4, FIELD_ID);
    break;
  case MIG_RECORD_COMMAND:
    add_field(layout, at + 1, 2, FIELD_TYPE);
    add_field(layout, at + 3, 2, FIELD_LENGTH);
    if (record->command == MIG_CMD_PACKAGED) add_field(layout, at + 5, 4, FIELD_LENGTH);
    break;
  case MIG_RECORD_RAM:
  case MIG_RECORD_RAM_BLOCK: ram_fields(layout, record, base); break;
  case MIG_RECORD_VFIO:
    add_field(layout, at, 8, FIELD_TYPE);
    if (record->header_bytes >= 16) add_field(layout, at + 8, 8, FIELD_LENGTH);
    break;
  case MIG_RECORD_BLOCK:
  case MIG_RECORD_BITMAP: add_field(layout, at, 8, FIELD_FLAGS); break;
  case MIG_RECORD_TRAILER:
    add_field(layout, at, 1, FIELD_TYPE);
    add_field(layout, at + 1, 4, FIELD_LENGTH);
    break;
  case MIG_RECORD_EOF: add_field(layout, at, 1, FIELD_TYPE); break;
  default: break;
  }
}

static uint32_t load_be32(const uint8_t *bytes)
{
  return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 |
         bytes[3];
}

size_t fuzz_payload_end(const uint8_t *data, size_t size, size_t from, uint32_t section_id)
{
  /* memchr jumps between candidates: the scan is not instrumented, byte by byte. */
  for (size_t at = from; at + 5 <= size; at++) {
    const uint8_t *marker = memchr(data + at, MIG_SECTION_FOOTER, size - 4 - at);
    if (marker == NULL) break;
    at = (size_t)(marker - data);
    if (load_be32(data + at + 1) != section_id) continue;
    if (at + 5 == size || data[at + 5] < MIG_SECTION_TYPES_COUNT) return at;
  }
  return size;
}

static uint64_t footer_find(const struct fuzz_layout *layout, uint64_t from, uint32_t id)
{
  return fuzz_payload_end(layout->data, layout->size, (size_t)from, id);
}

/* Subsection markers inside a payload: 0x05, a counted name with '/', a be32 version. */
static bool subsection_at(const struct fuzz_layout *layout, uint64_t at, uint64_t end)
{
  const uint8_t *data = layout->data;
  if (data[at] != MIG_SECTION_SUBSECTION || at + 2 > end) return false;
  uint32_t length = data[at + 1];
  if (length == 0 || at + 2 + length + 4 > end) return false;
  bool slash = false;
  for (uint32_t i = 0; i < length; i++) {
    uint8_t c = data[at + 2 + i];
    if (c < 0x20 || c > 0x7e) return false;
    slash |= c == '/';
  }
  return slash && load_be32(data + at + 2 + length) <= 0xff;
}

#define SUBSECTIONS_MAX 64u

static void subsection_spans(struct fuzz_layout *layout, uint64_t from, uint64_t end)
{
  uint64_t starts[SUBSECTIONS_MAX];
  uint32_t count = 0;
  for (uint64_t at = from; at < end && count < SUBSECTIONS_MAX; at++) {
    const uint8_t *marker = memchr(layout->data + at, MIG_SECTION_SUBSECTION, end - at);
    if (marker == NULL) break;
    at = (uint64_t)(marker - layout->data);
    if (subsection_at(layout, at, end)) starts[count++] = at;
  }
  for (uint32_t i = 0; i < count && layout->span_count < FUZZ_MUTATOR_SPANS_MAX; i++) {
    uint64_t stop = i + 1 < count ? starts[i + 1] : end;
    add_span(layout, starts[i], stop, stop, SPAN_SUBSECTION);
    add_field(layout, starts[i], 1, FIELD_TYPE);
    add_field(layout, add_name(layout, starts[i] + 1), 4, FIELD_VERSION);
  }
}

static void layout_records(struct fuzz_layout *layout, struct mig_tokenizer *tokenizer,
                           struct mig_reader *reader, uint64_t base, uint64_t first)
{
  uint64_t parsed = first;
  uint32_t ram_count = 0;
  while (layout->span_count < FUZZ_MUTATOR_SPANS_MAX) {
    struct mig_record record;
    if (mig_record_next(tokenizer, &record) != MIG_OK || record.kind == MIG_RECORD_END) break;
    uint64_t end = base + mig_reader_offset(reader);
    parsed = end;
    bool ram = record.kind == MIG_RECORD_RAM || record.kind == MIG_RECORD_RAM_BLOCK;
    if (ram && ++ram_count > RAM_SPANS_MAX) continue;  /* so that devices are reached */
    if (base + record.offset > layout->size) continue;  /* the header put before the input */
    uint64_t payload = record.payload_bytes > 0 ? base + record.payload_offset : end;
    add_span(layout, base + record.offset, end, payload, record.kind);
    record_fields(layout, &record, base);
    bool opaque = record.section.grammar == MIG_GRAMMAR_OPAQUE ||
                  record.section.grammar == MIG_GRAMMAR_NONE;
    if (record.kind != MIG_RECORD_SECTION || !opaque) continue;
    uint64_t stop = footer_find(layout, end, record.section.section_id);
    if (stop >= layout->size || mig_record_payload(tokenizer, stop - end, &record) != MIG_OK) break;
    add_span(layout, end, stop, end, MIG_RECORD_PAYLOAD);
    subsection_spans(layout, end, stop);
    parsed = stop;
  }
  if (parsed < layout->size) add_span(layout, parsed, layout->size, parsed, SPAN_TAIL);
}

static void tokenizer_start(struct mig_tokenizer *tokenizer, struct mig_reader *reader,
                            const struct fuzz_mutator_options *options)
{
  struct mig_record_options record_options = {.command_max = MIG_CMD_MAX_10};
  switch (options->shape) {
  case FUZZ_SHAPE_STREAM:
  case FUZZ_SHAPE_NO_HEADER: mig_tokenizer_init(tokenizer, reader, &record_options); break;
  case FUZZ_SHAPE_RECORDS: mig_tokenizer_init_records(tokenizer, reader, &record_options); break;
  case FUZZ_SHAPE_RAM_PAYLOAD:
    mig_tokenizer_init_payload(tokenizer, reader, &record_options, options->section_type,
                               MIG_RAM_IDSTR);
    break;
  }
}

/*
 * Spans and fields of data; parsing stops at the first error (the rest is
 * one tail span).  Offsets the reader gives plus base (modulo 2^64: base
 * wraps below 0 when a header the input lacks is put before it) are offsets
 * into data.
 */
static void layout_parse(struct fuzz_layout *layout, const struct fuzz_mutator_options *options,
                         const uint8_t *data, size_t size)
{
  layout->data = data;
  layout->size = size;
  layout->span_count = layout->field_count = 0;
  size_t prefix = SIM_MIN(options->prefix_bytes, size);
  uint64_t base = prefix;
  const uint8_t *bytes = data + prefix;
  size_t count = size - prefix;
  if (options->shape == FUZZ_SHAPE_NO_HEADER) {
    static const uint8_t header[] = {'Q', 'E', 'V', 'M', 0, 0, 0, MIG_FILE_VERSION};
    static struct fuzz_buffer headed_buffer;
    uint8_t *headed = buffer_reserve(&headed_buffer, sizeof header + count + 1);
    memcpy(headed, header, sizeof header);
    if (count > 0) memcpy(headed + sizeof header, bytes, count);
    bytes = headed;
    count += sizeof header;
    base -= sizeof header;  /* wraps below 0; the header itself is never a span */
  }
  struct mig_reader reader;
  mig_reader_init_memory(&reader, bytes, count);
  struct mig_tokenizer tokenizer;
  tokenizer_start(&tokenizer, &reader, options);
  layout_records(layout, &tokenizer, &reader, base, prefix);
}

/* ------------------------------------------------------------ the edits */

/* One edit: bytes [from, to) of the input become `count` bytes of `bytes`. */
struct fuzz_edit {
  uint64_t from, to;
  const uint8_t *bytes;
  size_t count;
  uint8_t local[64];
};

/* Formats the mutation's note; nothing when the caller wants none (libFuzzer's calls). */
static void note_printf(char *note, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void note_printf(char *note, const char *format, ...)
{
  if (note == NULL) return;
  va_list args;
  va_start(args, format);
  vsnprintf(note, FUZZ_MUTATOR_NOTE_BYTES, format, args);
  va_end(args);
}

static const char *span_kind_name(uint32_t kind)
{
  static const char *const names[] = {
      [MIG_RECORD_HEADER] = "header", [MIG_RECORD_CONFIGURATION] = "configuration",
      [MIG_RECORD_CONFIG_SUBSECTION] = "configuration-subsection",
      [MIG_RECORD_SECTION] = "section", [MIG_RECORD_FOOTER] = "footer",
      [MIG_RECORD_COMMAND] = "command", [MIG_RECORD_RAM] = "ram",
      [MIG_RECORD_RAM_BLOCK] = "ram-block", [MIG_RECORD_RAM_ZERO_RUN] = "ram-zero-run",
      [MIG_RECORD_VFIO] = "vfio", [MIG_RECORD_BLOCK] = "block", [MIG_RECORD_BITMAP] = "bitmap",
      [MIG_RECORD_PAYLOAD] = "payload", [MIG_RECORD_EOF] = "eof",
      [MIG_RECORD_TRAILER] = "trailer", [MIG_RECORD_TRAILING] = "trailing",
      [MIG_RECORD_END] = "end"};
  if (kind == SPAN_SUBSECTION) return "subsection";
  if (kind == SPAN_TAIL) return "tail";
  return kind < sizeof names / sizeof names[0] && names[kind] ? names[kind] : "record";
}

static uint64_t field_load(const uint8_t *data, const struct fuzz_field *field)
{
  uint64_t value = 0;
  for (uint32_t i = 0; i < field->bytes && i < 8; i++) value = value << 8 | data[field->offset + i];
  return value;
}

/* A new value for a number field: the boundary and off-by-one values QEMU's checks sit on. */
static uint64_t number_mutant(struct fuzz_rng *rng, uint64_t value, uint32_t bytes,
                              enum field_class class)
{
  uint64_t mask = bytes >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * bytes)) - 1;
  switch (rng_below(rng, class == FIELD_FLAGS ? 12 : 10)) {
  case 0: return (value + 1) & mask;
  case 1: return (value - 1) & mask;
  case 2: return 0;
  case 3: return mask;
  case 4: return (mask - 15) & mask;                  /* 0xfffffff0 in a be32 */
  case 5: return value ^ (UINT64_C(1) << rng_below(rng, 8 * bytes));
  case 6: return rng_next(rng) & mask;
  case 7: return (UINT64_C(1) << (8 * bytes - 1)) & mask;
  case 8: return class == FIELD_VERSION ? 256 & mask : (value + 1 + rng_below(rng, 16)) & mask;
  case 9: return class == FIELD_LENGTH ? (value * 2) & mask : value ^ 0xff;
  default: {
    /* RAM/block/bitmap flag words: flags are the low 12 bits. */
    static const uint32_t flags[] = {0x002, 0x004, 0x008, 0x010, 0x020, 0x040, 0x080, 0x100,
                                     0x200, 0x001, 0x022, 0x028};
    return (value & ~UINT64_C(0xfff)) | flags[rng_below(rng, 12)];
  }
  }
}

static void edit_field(struct fuzz_layout *layout, struct fuzz_rng *rng,
                       const struct fuzz_field *field, struct fuzz_edit *edit, char *note)
{
  const struct fuzz_span *span = &layout->spans[field->span];
  edit->from = field->offset;
  edit->bytes = edit->local;
  if (field->class == FIELD_NAME) {
    /* One byte of a name: another letter, a NUL, or a byte past the alphabet. */
    uint64_t at = field->offset + rng_below(rng, field->bytes);
    static const uint8_t bytes[] = {'A', 'z', '0', '.', '/', '-', 0x00, 0xff};
    edit->local[0] = rng_below(rng, 2) ? bytes[rng_below(rng, sizeof bytes)]
                                       : (uint8_t)(layout->data[at] ^ 0x20);
    edit->from = at;
    edit->to = at + 1;
    edit->count = 1;
    note_printf(note, "field %s[%u]/name byte %u 0x%02x -> 0x%02x",
             span_kind_name(span->kind), span->index, (unsigned)(at - field->offset),
             layout->data[at], edit->local[0]);
    return;
  }
  uint64_t value = field_load(layout->data, field);
  uint64_t mutant = number_mutant(rng, value, field->bytes, field->class);
  for (uint32_t i = 0; i < field->bytes; i++) {
    edit->local[i] = (uint8_t)(mutant >> (8 * (field->bytes - 1 - i)));
  }
  edit->to = field->offset + field->bytes;
  edit->count = field->bytes;
  note_printf(note, "field %s[%u]/%s@0x%" PRIx64 " 0x%" PRIx64
           " -> 0x%" PRIx64, span_kind_name(span->kind), span->index,
           field_class_names[field->class], field->offset, value, mutant);
}

/*
 * A record kind drawn uniformly from the kinds the input's fields belong to:
 * a stream has hundreds of RAM records and one configuration, and both
 * deserve mutations.  UINT32_MAX when the input has no field.
 */
static uint32_t pick_kind(const struct fuzz_layout *layout, struct fuzz_rng *rng)
{
  uint32_t kinds[32], count = 0;
  for (uint32_t i = 0; i < layout->field_count && count < 32; i++) {
    uint32_t kind = layout->spans[layout->fields[i].span].kind;
    uint32_t j = 0;
    while (j < count && kinds[j] != kind) j++;
    if (j == count) kinds[count++] = kind;
  }
  return count == 0 ? UINT32_MAX : kinds[rng_below(rng, count)];
}

/*
 * A field of class `class` (any class when negative), half the time of a
 * kind drawn by pick_kind first; NULL when the input has none.
 */
static const struct fuzz_field *pick_field(const struct fuzz_layout *layout,
                                           struct fuzz_rng *rng, int class)
{
  if (layout->field_count == 0) return NULL;
  uint32_t kind = rng_below(rng, 2) != 0 ? pick_kind(layout, rng) : UINT32_MAX;
  for (int pass = 0; pass < 2; pass++, kind = UINT32_MAX) {
    uint32_t start = (uint32_t)rng_below(rng, layout->field_count);
    for (uint32_t i = 0; i < layout->field_count; i++) {
      const struct fuzz_field *field = &layout->fields[(start + i) % layout->field_count];
      bool kind_ok = kind == UINT32_MAX || layout->spans[field->span].kind == kind;
      if (kind_ok && (class < 0 || field->class == (enum field_class)class)) return field;
    }
  }
  return NULL;
}

/* A span of `kind` (any record span when kind is UINT32_MAX); NULL when none. */
static const struct fuzz_span *pick_span(const struct fuzz_layout *layout, struct fuzz_rng *rng,
                                         uint32_t kind)
{
  if (layout->span_count == 0) return NULL;
  uint32_t start = (uint32_t)rng_below(rng, layout->span_count);
  for (uint32_t i = 0; i < layout->span_count; i++) {
    const struct fuzz_span *span = &layout->spans[(start + i) % layout->span_count];
    if (kind == UINT32_MAX ? span->kind != SPAN_TAIL : span->kind == kind) return span;
  }
  return NULL;
}

/* Records that start a stream or a section, inserted at a span boundary. */
static const struct {
  const char *name;
  uint8_t bytes[12];
  uint8_t count;
} canned[] = {
    {"eof", {0x00}, 1},
    {"footer id 0", {0x7e, 0, 0, 0, 0}, 5},
    {"command ping", {0x08, 0x00, 0x03, 0x00, 0x04, 0, 0, 0, 1}, 9},
    {"command open-return-path", {0x08, 0x00, 0x01, 0x00, 0x00}, 5},
    {"command postcopy-listen", {0x08, 0x00, 0x04, 0x00, 0x00}, 5},
    {"command packaged 0", {0x08, 0x00, 0x06, 0x00, 0x04, 0, 0, 0, 0}, 9},
    {"section end id 0", {0x03, 0, 0, 0, 0}, 5},
    {"ram eos", {0, 0, 0, 0, 0, 0, 0, 0x10}, 8},
    {"subsection marker", {0x05}, 1},
    {"trailer length 2", {0x06, 0, 0, 0, 2, '{', '}'}, 7},
};

static bool edit_span(struct fuzz_layout *layout, struct fuzz_rng *rng, uint32_t op,
                      struct fuzz_edit *edit, char *note)
{
  const struct fuzz_span *span = pick_span(layout, rng, UINT32_MAX);
  if (span == NULL) return false;
  const char *kind = span_kind_name(span->kind);
  const struct fuzz_span *other = &layout->spans[rng_below(rng, layout->span_count)];
  switch (op) {
  case 0:
    *edit = (struct fuzz_edit){.from = span->offset, .to = span->end};
    note_printf(note, "delete %s[%u]", kind, span->index);
    return true;
  case 1:
    *edit = (struct fuzz_edit){.from = span->end, .to = span->end,
                               .bytes = layout->data + span->offset,
                               .count = span->end - span->offset};
    note_printf(note, "duplicate %s[%u]", kind, span->index);
    return true;
  case 2:
    *edit = (struct fuzz_edit){.from = span->offset, .to = span->end,
                               .bytes = layout->data + other->offset,
                               .count = other->end - other->offset};
    note_printf(note, "replace %s[%u] with %s[%u]", kind, span->index,
             span_kind_name(other->kind), other->index);
    return true;
  case 3:
    *edit = (struct fuzz_edit){.from = span->offset, .to = layout->size};
    note_printf(note, "truncate at %s[%u]", kind, span->index);
    return span->offset > 0;
  default: {
    uint32_t which = (uint32_t)rng_below(rng, sizeof canned / sizeof canned[0]);
    *edit = (struct fuzz_edit){.from = span->offset, .to = span->offset,
                               .bytes = canned[which].bytes, .count = canned[which].count};
    note_printf(note, "insert %s before %s[%u]", canned[which].name,
             kind, span->index);
    return true;
  }
  }
}

/* Subsections and footers: delete one, duplicate one, break or move its marker. */
static bool edit_marker(struct fuzz_layout *layout, struct fuzz_rng *rng, uint32_t kind,
                        struct fuzz_edit *edit, char *note)
{
  const struct fuzz_span *span = pick_span(layout, rng, kind);
  if (span == NULL) return false;
  const char *name = span_kind_name(kind);
  switch (rng_below(rng, 3)) {
  case 0:
    *edit = (struct fuzz_edit){.from = span->offset, .to = span->end};
    note_printf(note, "delete %s[%u]", name, span->index);
    return true;
  case 1:
    *edit = (struct fuzz_edit){.from = span->end, .to = span->end,
                               .bytes = layout->data + span->offset,
                               .count = span->end - span->offset};
    note_printf(note, "duplicate %s[%u]", name, span->index);
    return true;
  default: {
    uint8_t marker = layout->data[span->offset];
    *edit = (struct fuzz_edit){.from = span->offset, .to = span->offset + 1,
                               .bytes = NULL, .count = 1};
    edit->local[0] = (uint8_t)(rng_below(rng, 2) ? marker ^ (1u << rng_below(rng, 8))
                                                 : rng_below(rng, MIG_SECTION_TYPES_COUNT));
    edit->bytes = edit->local;
    note_printf(note, "marker %s[%u] 0x%02x -> 0x%02x", name,
             span->index, marker, edit->local[0]);
    return true;
  }
  }
}

/* --------------------------------------------------- byte-level mutation */

/* libFuzzer's mutator, or (replay builds) one random byte edit. */
static size_t bytes_mutate(struct fuzz_rng *rng, uint8_t *data, size_t size, size_t max_size)
{
  if (LLVMFuzzerMutate != NULL) return LLVMFuzzerMutate(data, size, max_size);
  if (max_size == 0) return 0;
  size_t at = (size_t)rng_below(rng, size == 0 ? 1 : size);
  switch (size == 0 ? 2 : rng_below(rng, 4)) {
  case 0: data[at] ^= (uint8_t)(1u << rng_below(rng, 8)); return size;
  case 1: data[at] = (uint8_t)rng_next(rng); return size;
  case 2:
    if (size >= max_size) return size == 0 ? 0 : size;
    memmove(data + at + 1, data + at, size - at);
    data[at] = (uint8_t)rng_next(rng);
    return size + 1;
  default:
    if (size <= 1) return size;
    memmove(data + at, data + at + 1, size - at - 1);
    return size - 1;
  }
}

/* The payload of one record (or a subsection, or the tail) mutated byte-wise. */
static bool edit_payload(struct fuzz_layout *layout, struct fuzz_rng *rng, size_t room,
                         struct fuzz_edit *edit, char *note)
{
  const struct fuzz_span *span = NULL;
  uint32_t start = (uint32_t)rng_below(rng, layout->span_count);
  for (uint32_t i = 0; i < layout->span_count && span == NULL; i++) {
    const struct fuzz_span *candidate = &layout->spans[(start + i) % layout->span_count];
    if (candidate->payload_offset < candidate->end) span = candidate;
  }
  if (span == NULL) return false;
  size_t count = span->end - span->payload_offset;
  size_t capacity = count + SIM_MIN(room, (size_t)64);
  static struct fuzz_buffer payload_buffer;
  uint8_t *scratch = buffer_reserve(&payload_buffer, capacity);
  memcpy(scratch, layout->data + span->payload_offset, count);
  size_t mutated = bytes_mutate(rng, scratch, count, capacity);
  *edit = (struct fuzz_edit){.from = span->payload_offset, .to = span->end, .bytes = scratch,
                             .count = mutated};
  note_printf(note, "payload %s[%u] %zu -> %zu bytes",
           span_kind_name(span->kind), span->index, count, mutated);
  return true;
}

/* Applies edit to data in place; false (data untouched) when it would exceed max_size. */
static bool edit_apply(uint8_t *data, size_t *size, size_t max_size, const struct fuzz_edit *edit)
{
  SIM_ASSERT(edit->from <= edit->to && edit->to <= *size);
  size_t removed = (size_t)(edit->to - edit->from);
  if (*size - removed + edit->count > max_size) return false;
  const uint8_t *bytes = edit->bytes;
  if (edit->count > 0 && bytes >= data && bytes < data + *size) {
    static struct fuzz_buffer copy_buffer;  /* the bytes lie inside data: the move shifts them */
    uint8_t *copy = buffer_reserve(&copy_buffer, edit->count);
    memcpy(copy, bytes, edit->count);
    bytes = copy;
  }
  memmove(data + edit->from + edit->count, data + edit->to, *size - (size_t)edit->to);
  if (edit->count > 0) memcpy(data + edit->from, bytes, edit->count);
  *size = *size - removed + edit->count;
  return true;
}

/* One structural mutation chosen by roll (0..99); false when the input has nothing for it. */
static bool edit_choose(struct fuzz_layout *layout, struct fuzz_rng *rng, uint32_t roll,
                        size_t room, struct fuzz_edit *edit, char *note)
{
  const struct fuzz_field *field = NULL;
  if (roll < 20) {
    field = pick_field(layout, rng, -1);
  } else if (roll < 30) {
    field = pick_field(layout, rng, FIELD_VERSION);
  } else if (roll < 40) {
    field = pick_field(layout, rng, FIELD_LENGTH);
  } else if (roll < 45) {
    field = pick_field(layout, rng, FIELD_NAME);
  } else if (roll < 65) {
    return edit_span(layout, rng, (uint32_t)rng_below(rng, 5), edit, note);
  } else if (roll < 75) {
    return edit_marker(layout, rng, SPAN_SUBSECTION, edit, note);
  } else if (roll < 80) {
    return edit_marker(layout, rng, MIG_RECORD_FOOTER, edit, note);
  } else {
    return edit_payload(layout, rng, room, edit, note);
  }
  if (field == NULL) return false;
  edit_field(layout, rng, field, edit, note);
  return true;
}

size_t fuzz_mutate(const struct fuzz_mutator_options *options, uint8_t *data, size_t size,
                   size_t max_size, unsigned int seed, char *note)
{
  if (note != NULL) note[0] = '\0';
  struct fuzz_rng rng = {.state = (uint64_t)seed * UINT64_C(0x2545f4914f6cdd1d) + 1};
  size = SIM_MIN(size, max_size);
  uint32_t roll = (uint32_t)rng_below(&rng, 100);
  if (options->prefix_bytes > 0 && size > 0 && roll < 5) {
    size_t at = (size_t)rng_below(&rng, SIM_MIN(size, options->prefix_bytes));
    data[at] = (uint8_t)rng_next(&rng);
    note_printf(note, "selector byte %zu := 0x%02x", at, data[at]);
    return size;
  }
  if (options->structural_only) roll = 25 + (uint32_t)rng_below(&rng, 75);
  if (size > options->prefix_bytes && roll >= 25) {
    struct fuzz_layout layout;
    layout_init(&layout);
    layout_parse(&layout, options, data, size);
    struct fuzz_edit edit;
    bool done = edit_choose(&layout, &rng, (uint32_t)rng_below(&rng, 100), max_size - size,
                            &edit, note) &&
                edit_apply(data, &size, max_size, &edit);
    if (done) return size;
  }
  size_t mutated = bytes_mutate(&rng, data, size, max_size);
  note_printf(note, "bytes %zu -> %zu", size, mutated);
  return mutated;
}
