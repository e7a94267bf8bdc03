/*
 * mig_record.h: the record layer of QEMU's migration stream.  One pull
 * tokenizer over a mig_reader yields the stream's records in order, each
 * with its byte offset: header, configuration and its subsections, section
 * headers, the records of live payloads (RAM, vfio, block, dirty-bitmap),
 * footers, commands, EOF, the VM-description trailer.  Every reader of the
 * stream (the strict loader, the walker behind inspect/reencode/analyze, the
 * sink) consumes it; mig_record_write serialises any record back to the
 * bytes it was read from.
 *
 * The tokenizer checks syntax only: what must be true for the next record to
 * be found at all (magic and version, known record types and RAM flag
 * combinations, counted strings, length rules of mig_wire.h, footers).
 * Meaning (is this block known, is this capability on, is a fill byte 0)
 * belongs to the consumer; where consumers may differ, the difference is a
 * field of struct mig_policy (docs/hostile.md lists each with QEMU 7.2's
 * behaviour).
 *
 * Payloads the grammar cannot size (a FULL section's vmstate, a live section
 * nobody declared) are the consumer's: after such a SECTION record it reads
 * the payload through mig_record_reader, or declares its size with
 * mig_record_payload, then asks for the next record (the footer).
 *
 * Memory: the tokenizer owns no heap memory.  Views (struct mig_name bytes,
 * record payload pointers) point into the reader's window or the tokenizer's
 * own fixed storage and are valid until the next call on the tokenizer.  A
 * payload longer than the reader's refill window is not viewed
 * (payload == NULL): the consumer reads or skips it through the reader, or
 * the next call skips it.
 */
#ifndef MIG_RECORD_H
#define MIG_RECORD_H

#include "sim_base.h"
#include "mig_err.h"
#include "mig_limits.h"
#include "mig_stream.h"
#include "mig_wire.h"

/* A counted string as it is on the wire: any bytes, NUL included. */
struct mig_name {
  const uint8_t *bytes;       /* length bytes; a view, see above */
  uint8_t length;
};

enum mig_record_kind {
  MIG_RECORD_HEADER,          /* be32 magic, be32 version */
  MIG_RECORD_CONFIGURATION,   /* 0x07, be32 length, machine type */
  MIG_RECORD_CONFIG_SUBSECTION, /* 0x05, name, be32 version 1, the body (config.which) */
  MIG_RECORD_SECTION,         /* START/PART/END/FULL header; the payload follows */
  MIG_RECORD_FOOTER,          /* 0x7e, be32 id (absent: legacy stream, bytes 0) */
  MIG_RECORD_COMMAND,         /* 0x08, be16 code, be16 length, payload */
  MIG_RECORD_RAM,             /* one RAM record (§6): word, [name], body */
  MIG_RECORD_RAM_BLOCK,       /* one entry of the MEM_SIZE block list */
  MIG_RECORD_RAM_ZERO_RUN,    /* fast path: run_count ZERO|CONTINUE records, fill 0 */
  MIG_RECORD_VFIO,            /* a VFIO_MIG_FLAG marker; DATA with be64 size and data */
  MIG_RECORD_BLOCK,           /* a block-migration record */
  MIG_RECORD_BITMAP,          /* a dirty-bitmap chunk */
  MIG_RECORD_PAYLOAD,         /* opaque bytes whose size the consumer gave */
  MIG_RECORD_EOF,             /* 0x00 */
  MIG_RECORD_TRAILER,         /* 0x06, be32 length; the JSON is its payload */
  MIG_RECORD_TRAILING,        /* a byte after EOF (or after the trailer) that starts nothing */
  MIG_RECORD_END,             /* no byte left */
};

/* The grammar of a section's payload, chosen from the START's idstr. */
enum mig_record_grammar {
  MIG_GRAMMAR_OPAQUE,         /* FULL, or a live section nobody declared: the consumer's */
  MIG_GRAMMAR_RAM,            /* "ram" */
  MIG_GRAMMAR_VFIO,           /* "<bdf>/vfio" */
  MIG_GRAMMAR_BLOCK,          /* "block" */
  MIG_GRAMMAR_BITMAP,         /* "dirty-bitmap" */
  MIG_GRAMMAR_NONE,           /* PART/END of an id no START bound */
};

struct mig_record_section {
  uint8_t type;               /* MIG_SECTION_START .. MIG_SECTION_FULL */
  uint32_t section_id;
  struct mig_name idstr;      /* START/FULL: as sent; PART/END: the START's, or empty */
  uint32_t instance_id;       /* START/FULL */
  uint32_t version;           /* START/FULL */
  enum mig_record_grammar grammar;
};

struct mig_record_config {
  enum mig_config_subsection which;  /* SUBSECTION: which one (MIG_CONFIG_UNKNOWN: none) */
  struct mig_name name;       /* CONFIGURATION: machine type; SUBSECTION: its name */
  uint32_t version;           /* SUBSECTION */
  uint32_t page_bits;         /* TARGET_PAGE_BITS */
  uint32_t capability_count;  /* CAPABILITIES: <= MIG_CAPABILITIES_MAX */
  const struct mig_name *capabilities;
  const uint8_t *uuid;        /* UUID: 16 bytes */
};

struct mig_record_ram {
  uint64_t word;              /* the be64: address | flags */
  uint32_t flags;             /* word & 0xfff */
  uint32_t kind;              /* flags & ~CONTINUE */
  uint64_t address;           /* word & ~0xfff: MEM_SIZE total or the page's offset */
  bool named;                 /* page records: CONTINUE clear, a block name was sent */
  struct mig_name block;      /* named: the block; RAM_BLOCK: the entry's name */
  uint64_t used_bytes;        /* RAM_BLOCK */
  uint64_t setup_left;        /* RAM_BLOCK: bytes of the MEM_SIZE total not listed before it
                                 (an entry beyond them ends the list; consumers refuse it) */
  uint64_t gpa;               /* RAM_BLOCK with x-ignore-shared (has_gpa) */
  bool has_gpa;
  uint8_t fill;               /* ZERO */
  uint8_t encoding;           /* XBZRLE */
  uint64_t run_count;         /* RAM_ZERO_RUN: records; payload holds them, 9 bytes each */
};

struct mig_record_bitmap {
  uint32_t flags;
  uint32_t flags_bytes;       /* 1, 2 or 4 */
  bool has_node, has_name;
  struct mig_name node;       /* DEVICE_NAME */
  struct mig_name name;       /* BITMAP_NAME */
  uint32_t granularity;       /* START */
  uint8_t start_flags;        /* START */
  uint64_t start_sector;      /* BITS */
  uint32_t sectors;           /* BITS */
  bool has_size;              /* BITS without ZEROES: be64 size, then the bits */
};

struct mig_record {
  enum mig_record_kind kind;
  uint64_t offset;            /* stream offset of the record's first byte */
  uint64_t header_bytes;      /* bytes from offset up to the payload (or the end) */
  /* Inline payload: page bytes, command payload, vfio data, block chunk, bits, JSON. */
  const uint8_t *payload;     /* NULL when payload_bytes is 0 or the window cannot hold it */
  uint64_t payload_bytes;
  uint64_t payload_offset;    /* stream offset of the payload's first byte */
  uint32_t magic, version;    /* HEADER */
  struct mig_record_config config;
  struct mig_record_section section; /* SECTION, FOOTER (type and id), and every payload record */
  bool footer_present;        /* FOOTER: false in a legacy stream without footers */
  uint16_t command;           /* COMMAND */
  uint32_t package_bytes;     /* COMMAND PACKAGED: the be32 */
  struct mig_record_ram ram;
  uint64_t vfio_flag;         /* VFIO */
  uint64_t block_word;        /* BLOCK: sector << 9 | flags */
  struct mig_name block_device; /* BLOCK with DEVICE_BLOCK */
  struct mig_record_bitmap bitmap;
  uint8_t trailing;           /* TRAILING: the byte */
};

/* What the stream's dialect allows (negotiated, not checked): QEMU's own parse depends on it. */
struct mig_record_options {
  uint32_t command_max;       /* MIG_CMD_MAX_7_2 (default when 0) or MIG_CMD_MAX_10 */
  uint32_t ram_kinds;         /* RAM record kinds that exist (flags & ~CONTINUE); 0: all */
  bool x_ignore_shared;       /* block entries carry a GPA (a payload-only tokenizer; a whole
                                 stream says so in configuration/capabilities) */
};

/* Tokenizer state; caller-owned, fields private. */
struct mig_record_live {
  uint32_t section_id;
  enum mig_record_grammar grammar;
  uint8_t idstr_length;
  uint8_t idstr[MIG_IDSTR_BYTES_MAX];
};

/*
 * Where the tokenizer keeps the names its records point at.  Every byte is
 * written before it is read (a name's length, live_count and
 * capability_count say how many), so mig_tokenizer_init does not zero it:
 * zeroing these 9 KiB for every tokenizer showed in the fuzzers' profiles.
 */
struct mig_tokenizer_names {
  uint8_t current_idstr[MIG_IDSTR_BYTES_MAX];
  uint8_t last_block[MIG_IDSTR_BYTES_MAX];
  struct mig_record_live lives[MIG_RECORD_LIVES_MAX];
  struct mig_name capabilities[MIG_CAPABILITIES_MAX];
  uint8_t capability_bytes[MIG_CAPABILITIES_MAX][MIG_IDSTR_BYTES_MAX];
  uint8_t copies[2][MIG_IDSTR_BYTES_MAX]; /* copies of names when the window moves */
  uint8_t uuid[MIG_CONFIG_UUID_BYTES];
};

struct mig_tokenizer {
  struct mig_reader *reader;
  struct mig_record_options options;
  uint32_t state;             /* where in the grammar the next record starts */
  bool configuration_seen;
  bool footer_seen;           /* at least one 0x7e footer: footers are mandatory from here */
  bool x_ignore_shared;       /* configuration/capabilities listed it: block entries carry GPAs */
  struct mig_record_section current; /* the section whose payload or footer comes next */
  uint64_t payload_end;       /* known-length payload: where it ends (UINT64_MAX: unknown) */
  uint64_t ram_setup_left;    /* MEM_SIZE list: bytes of the total not yet listed */
  struct mig_name last_block; /* the block a CONTINUE record means (survives sections) */
  uint64_t zero_address_end;  /* the zero-run masks below were built for this bound */
  uint64_t zero_mask[9];      /* eight ZERO|CONTINUE records = nine 64-bit words */
  uint64_t zero_expect[9];
  uint32_t live_count;        /* names.lives[0 .. live_count) are bound */
  struct mig_tokenizer_names names; /* last: not zeroed by mig_tokenizer_init */
};

void mig_tokenizer_init(struct mig_tokenizer *tokenizer, struct mig_reader *reader,
                        const struct mig_record_options *options);
/*
 * Reads the next record into *record.  Returns MIG_OK, or the reader's
 * latched error (a syntax error, TRUNCATED, or one a consumer latched).
 * After MIG_RECORD_END it keeps returning END.
 */
enum mig_err mig_record_next(struct mig_tokenizer *tokenizer, struct mig_record *record);
/*
 * The type byte of the next top-level record without consuming it; false at
 * the end of the stream, after an error, or when the next record is not a
 * top-level one (inside a payload).
 */
bool mig_record_peek_type(struct mig_tokenizer *tokenizer, uint8_t *type);
/* The reader, for consumers that parse an opaque payload themselves (vmstate). */
struct mig_reader *mig_record_reader(struct mig_tokenizer *tokenizer);
/*
 * A tokenizer that starts at a top-level record boundary, with no header and
 * no configuration: a record found again by its offset, or (postcopy) the
 * body of a PACKAGED command, which is a run of records.
 */
void mig_tokenizer_init_records(struct mig_tokenizer *tokenizer, struct mig_reader *reader,
                                const struct mig_record_options *options);
/*
 * Postcopy recovery: the stream goes on in a new channel (reader) from a
 * top-level record, with no header.  The live-section bindings stay (a
 * PART of the RAM section id is still RAM); everything else starts afresh,
 * CONTINUE included.
 */
void mig_tokenizer_resume(struct mig_tokenizer *tokenizer, struct mig_reader *reader);
/*
 * A tokenizer for one section payload alone (no header, no footer): reader
 * stands at the payload of a `type` section with the grammar of idstr, as
 * the loaders of one handler (mig_ram_load, mig_vfio_load) read it.
 */
void mig_tokenizer_init_payload(struct mig_tokenizer *tokenizer, struct mig_reader *reader,
                                const struct mig_record_options *options, uint8_t type,
                                const char *idstr);
/*
 * A reader over a record's payload: over the viewed bytes (in *scratch, with
 * absolute offsets), or main itself when the payload was not viewed (main
 * then stands at its first byte).  mig_record_payload_close moves an error
 * latched on the scratch reader to main.
 */
struct mig_reader *mig_record_payload_open(struct mig_reader *main,
                                           const struct mig_record *record,
                                           struct mig_reader *scratch);
void mig_record_payload_close(struct mig_reader *main, struct mig_reader *payload_reader);
/*
 * Declares the size of the opaque payload that follows a SECTION record (a
 * FULL section sized by the VM description) and returns it as one PAYLOAD
 * record: viewed in memory mode, else read or skipped by the next call.
 */
enum mig_err mig_record_payload(struct mig_tokenizer *tokenizer, uint64_t bytes,
                                struct mig_record *record);
/*
 * A vfio DATA record's payload (its be64 size comes from the stream, so it
 * is never read before the consumer has seen the size): views it when the
 * window can hold it (memory mode always); else leaves it for the reader.
 */
enum mig_err mig_record_payload_view(struct mig_tokenizer *tokenizer, struct mig_record *record);
/*
 * Fast path over in-memory input, inside a RAM payload after a named page
 * record: mig_record_ram_fast (mig_record_inl.h) parses the next record in
 * place if it is ZERO|CONTINUE or PAGE|CONTINUE below a bound.
 */
/*
 * Fast path over in-memory input, inside a RAM payload after a named page
 * record: counts the ZERO|CONTINUE records with fill 0 whose address is
 * below address_end (the current block's length rounded up to a page)
 * and returns them as one MIG_RECORD_RAM_ZERO_RUN.  Eight records are
 * checked per step with masks.  False (nothing consumed) when the next
 * record is not such a zero page or the reader is in refill mode.
 */
bool mig_record_zero_run(struct mig_tokenizer *tokenizer, uint64_t address_end,
                         struct mig_record *record);
/*
 * Writes record back as the bytes it was read from (payload included when
 * the record viewed it; otherwise the caller writes payload_bytes bytes
 * itself).  MIG_RECORD_END writes nothing.
 */
void mig_record_write(struct mig_writer *writer, const struct mig_record *record);
/* The NUL-free test STYLE wants for names that become C strings. */
bool mig_name_has_nul(const struct mig_name *name);
/* Copies name into out (>= 256 bytes) as a C string; a NUL inside cuts it, as QEMU does. */
void mig_name_copy(const struct mig_name *name, char *out, size_t out_bytes);
/* True when name equals text exactly (same length, same bytes). */
bool mig_name_is(const struct mig_name *name, const char *text);

/*
 * QEMU's vmstate_subsection_load peek (spec §5.6), written once for every
 * reader of VMState data: what a 0x05 is to the description named parent.
 * The loop ends (left in the stream) on a name shorter than parent + 1 or
 * not prefixed by parent; a prefixed name is looked up by the caller
 * (unknown: -ENOENT).  CUT: the bytes end before the name does; prefix_agrees
 * says whether what is there could still be parent's (QEMU's peek fails and
 * the loop ends; the strict readers report the truncation instead).
 */
enum mig_subsection_peek {
  MIG_SUBSECTION_NONE,    /* no byte, or not 0x05 */
  MIG_SUBSECTION_FOREIGN, /* short or foreign name: not parent's */
  MIG_SUBSECTION_CUT,     /* the bytes end inside the length byte or the name */
  MIG_SUBSECTION_OURS,    /* a whole name with parent's prefix */
};
struct mig_subsection_head {
  char name[MIG_IDSTR_BYTES_MAX + 1]; /* OURS: a C string; a NUL inside cuts it, as strcmp */
  uint8_t name_bytes;                 /* the counted length (from the length byte on) */
  bool prefix_agrees;                 /* CUT: the bytes there match parent's prefix */
  uint64_t version_at;                /* OURS: 2 + name_bytes, where the be32 version starts */
  bool version_whole;                 /* OURS: all four version bytes are there */
  uint8_t version;                    /* its low byte: QEMU stores the be32 in a uint8_t */
};
/* The subsection head at bytes[0] (available bytes from there on). */
enum mig_subsection_peek mig_subsection_peek(const uint8_t *bytes, uint64_t available,
                                             const char *parent,
                                             struct mig_subsection_head *head);
/* The same at a reader's cursor, consuming nothing and latching nothing (no version peeked). */
enum mig_subsection_peek mig_subsection_peek_reader(struct mig_reader *reader,
                                                    const char *parent,
                                                    struct mig_subsection_head *head);

/*
 * Finds the trailer of a whole stream in memory: EOF, 0x06, be32 N, then N
 * bytes of JSON that end the stream, searching back over the last
 * MIG_VMDESC_BYTES_MAX bytes.  True with *eof_offset (the EOF byte) and
 * *json_offset; false when no such framing ends the stream.
 */
bool mig_record_trailer_find(const uint8_t *bytes, size_t count, uint64_t *eof_offset,
                             uint64_t *json_offset);
/* The same for the last count bytes of a stream, bytes[0] at stream offset base. */
bool mig_record_trailer_find_at(const uint8_t *bytes, size_t count, uint64_t base,
                                uint64_t *eof_offset, uint64_t *json_offset);

/*
 * Incremental search for the end of a stream that is still arriving (a live
 * destination cannot wait for the source to close: QEMU waits for SHUT).
 * Each new byte of a growing buffer is looked at once for "00 06 N N N N {";
 * a hit is a candidate that ends the stream when exactly N bytes follow its
 * '{'.  At most MIG_TRAILER_CANDIDATES_MAX are kept: passed candidates are
 * dropped, and when the table is full the one ending furthest away gives way
 * (a hostile stream can then hide its trailer; the end of input still ends
 * it).  Caller-owned, zero-initialised; fields private.
 */
#define MIG_TRAILER_CANDIDATES_MAX 64u
struct mig_trailer_scan {
  size_t scanned;                   /* buffer bytes looked at */
  uint32_t candidate_count;
  uint64_t candidate_ends[MIG_TRAILER_CANDIDATES_MAX];  /* buffer length each would end at */
};
/* Looks at bytes[scanned, count) of the buffer (bytes[0..count) is all of it so far). */
void mig_trailer_scan_feed(struct mig_trailer_scan *scan, const uint8_t *bytes, size_t count);
/* True when bytes[0, count) ends exactly where a candidate trailer ends. */
bool mig_trailer_scan_complete(const struct mig_trailer_scan *scan, const uint8_t *bytes,
                               size_t count);
/*
 * Rebinds the tokenizer, at a record boundary, to another reader that holds
 * the stream from where the tokenizer stopped reading (a consumer that moved
 * the rest of a streamed input into memory).
 */
void mig_tokenizer_rebase(struct mig_tokenizer *tokenizer, struct mig_reader *reader);

/*
 * Where a reader may differ from another: each field is one difference
 * between this project's strict destination and QEMU 7.2 (docs/hostile.md,
 * "Policy").  A refusal that a field allows names the field in its detail
 * ("[policy names_nul]"), so a differential test can tell a policy
 * difference from a bug.
 */
#define MIG_POLICY_FAIL(reader, field, code, offset, detail, ...) \
  do { \
    (void)sizeof(((const struct mig_policy *)0)->field); /* a field, checked at compile time */ \
    MIG_READER_FAIL((reader), (code), (offset), (detail), __VA_ARGS__); \
    mig__reader_policy((reader), #field); \
  } while (0)

struct mig_policy {
  bool configuration_required;  /* no 0x07: refused (7.2: only for machine types >= 2.4) */
  bool names_nul_refused;       /* a NUL inside a counted name: BAD_IDSTR (7.2: cut there) */
  bool zero_fill_nonzero_refused; /* ZERO with fill != 0 (7.2 fills the page with it) */
  bool capabilities_only_validated; /* only x-ignore-shared (7.2: any 7.2 capability name) */
  bool config_subsection_repeat_refused; /* a configuration subsection twice (7.2 loads both) */
  bool trailer_checked;         /* trailer JSON of QEMU's schema, no duplicate keys, nothing
                                   after it (7.2 reads and drops it; any other byte is a
                                   warning) */
  bool ram_setup_first;         /* MEM_SIZE once, in START, before any page (7.2: anywhere) */
  bool ram_xbzrle_refused;      /* XBZRLE records (7.2 decodes them with the capability off) */
  bool ram_compress_refused;    /* COMPRESS_PAGE (7.2: refused unless compress is on) */
  bool postcopy_refused;        /* postcopy and COLO commands, PACKAGED (postcopy off here) */
  bool ping_needs_return_path;  /* PING before OPEN_RETURN_PATH (7.2 refuses it too) */
  uint32_t packaged_bytes_max;  /* PACKAGED length bound (7.2: UINT32_MAX) */
  /*
   * Refusals that need the destination's identity: its machine type, its
   * configuration (page bits, x-ignore-shared, UUID), its sections and their
   * versions, its RAM blocks and sizes, the device state its vmstate tables
   * read, devices the stream never mentions.  A reader without a destination
   * (the walker) cannot make them; QEMU 7.2 and the strict loader do.
   */
  bool destination_known;
  /*
   * FULL sections are sized from the trailer's device entries (a reader
   * without vmstate tables: the walker); an entry missing or with unusable
   * sizes, a footer not where the size says, or (no trailer) no footer the
   * heuristic can find is refused.  QEMU 7.2 and the loader read device
   * state with their own tables and only parse the trailer.
   */
  bool trailer_sizes_full_sections;
};

/*
 * True when `policy` refuses what the field named `field` (a mig_error.policy
 * string) governs: a bool field that is set, packaged_bytes_max below
 * UINT32_MAX.  False for a name that is not a field.
 */
bool mig_policy_refuses(const struct mig_policy *policy, const char *field);

/* The dialect a policy implies: RAM kinds it refuses are not in the grammar. */
void mig_record_options_from_policy(const struct mig_policy *policy,
                                    struct mig_record_options *options);

extern const struct mig_policy mig_policy_strict;  /* the destination loader */
extern const struct mig_policy mig_policy_qemu_7_2; /* what QEMU 7.2 accepts */
extern const struct mig_policy mig_policy_walk;    /* the walker (inspect, reencode, analyze) */

#endif /* MIG_RECORD_H */
