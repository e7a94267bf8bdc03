/*
 * mig_record_inl.h: the record layer's per-record fast path, inline so the
 * walker's RAM loop pays no call for the two records nearly every stream is
 * made of (mig_record.h has the contract; STYLE R2: header-only helpers).
 */
#ifndef MIG_RECORD_INL_H
#define MIG_RECORD_INL_H

#include "sim_base.h"
#include "mig_record.h"

/* The tokenizer's state inside a section payload (mig_record.c enum tokenizer_state). */
#define MIG__RECORD_STATE_PAYLOAD 4u

static inline uint64_t mig__record_be64(const uint8_t *bytes)
{
  uint64_t word;
  memcpy(&word, bytes, sizeof word);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  word = __builtin_bswap64(word);
#endif
  return word;
}

/*
 * ZERO|CONTINUE or PAGE|CONTINUE with a word below address_end (a page
 * boundary, or UINT64_MAX for no bound), parsed in place from memory; false
 * with nothing consumed for anything else.  record->section is the current
 * section's, as for every record.
 */
static inline bool mig__record_continue_fast(struct mig_tokenizer *tokenizer,
                                             uint64_t address_end, struct mig_record *record)
{
  size_t available = 0;
  const uint8_t *p = mig__reader_window(tokenizer->reader, &available);
  if (p == NULL || available < 9) return false;
  uint64_t word = mig__record_be64(p);
  if (word >= address_end) return false;
  uint32_t flags = (uint32_t)(word & (MIG_PAGE_BYTES - 1));
  bool zero = flags == (MIG_RAM_FLAG_ZERO | MIG_RAM_FLAG_CONTINUE);
  if (!zero && (flags != (MIG_RAM_FLAG_PAGE | MIG_RAM_FLAG_CONTINUE) ||
                available < 8 + MIG_PAGE_BYTES)) {
    return false;
  }
  uint32_t kind = zero ? MIG_RAM_FLAG_ZERO : MIG_RAM_FLAG_PAGE;
  if ((tokenizer->options.ram_kinds & kind) == 0) return false;
  record->kind = MIG_RECORD_RAM;
  record->offset = tokenizer->reader->window_offset +
                   (uint64_t)(tokenizer->reader->cursor - tokenizer->reader->window);
  if (record->section.section_id != tokenizer->current.section_id ||
      record->section.type != tokenizer->current.type) {
    record->section = tokenizer->current;
  }
  record->ram.word = word;
  record->ram.flags = flags;
  record->ram.kind = kind;
  record->ram.address = word & ~(uint64_t)(MIG_PAGE_BYTES - 1);
  record->ram.named = false;
  record->ram.block = tokenizer->last_block;
  record->ram.fill = zero ? p[8] : 0;
  record->payload = zero ? NULL : p + 8;
  record->payload_bytes = zero ? 0 : MIG_PAGE_BYTES;
  record->payload_offset = record->offset + 8;
  record->header_bytes = zero ? 9 : 8;
  mig__reader_advance(tokenizer->reader, zero ? 9 : 8 + MIG_PAGE_BYTES);
  return true;
}

/*
 * Inside a RAM payload over in-memory input, after a named page record: true
 * when mig_record_ram_fast may be called (the state cannot change while it
 * returns true, so a loop checks this once).
 */
static inline bool mig_record_ram_fast_ready(const struct mig_tokenizer *tokenizer)
{
  return tokenizer->state == MIG__RECORD_STATE_PAYLOAD &&
         tokenizer->current.grammar == MIG_GRAMMAR_RAM &&
         tokenizer->payload_end == UINT64_MAX && tokenizer->last_block.length > 0 &&
         tokenizer->reader->refill == NULL;
}

/*
 * The next record if it is ZERO|CONTINUE or PAGE|CONTINUE with an address
 * below address_end (the current block's length rounded up to a page),
 * parsed in place.  False (nothing consumed) otherwise: the general path
 * (mig_record_next) then reads it and reports what is wrong with it.
 */
static inline bool mig_record_ram_fast(struct mig_tokenizer *tokenizer, uint64_t address_end,
                                       struct mig_record *record)
{
  SIM_ASSERT(mig_record_ram_fast_ready(tokenizer));
  return mig__record_continue_fast(tokenizer, address_end, record);
}

#endif /* MIG_RECORD_INL_H */
