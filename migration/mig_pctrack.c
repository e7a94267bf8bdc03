/*
 * mig_pctrack.c: the postcopy page tracker (overview in mig_pctrack.h; wire
 * facts in spec/stream-format.md §4.6, §6.8, §7).  One received bit and one
 * requested bit per target page and block, allocated at the RAM setup.
 */
#include "sim_base.h"

#include "mig_pctrack.h"


static bool bit_get(const uint64_t *bits, uint64_t index)
{
  return (bits[index / 64] >> (index % 64)) & 1u;
}

static void bit_set(uint64_t *bits, uint64_t index, bool value)
{
  uint64_t mask = UINT64_C(1) << (index % 64);
  bits[index / 64] = value ? bits[index / 64] | mask : bits[index / 64] & ~mask;
}

/* splitmix64 (Steele, Lea, Flood 2014): a draw from the seed, no libc rand. */
static uint64_t pick_next(uint64_t *state)
{
  uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

void mig_pctrack_init(struct mig_pctrack *track, uint64_t seed, uint32_t requests_max)
{
  SIM_ASSERT(requests_max <= MIG_PCTRACK_REQUESTS_MAX);
  memset(track, 0, sizeof *track);
  track->rng = seed;
  track->requests_max = requests_max;
}

void mig_pctrack_deinit(struct mig_pctrack *track)
{
  for (uint32_t i = 0; i < track->block_count; i++) {
    free(track->received[i]);
    free(track->requested[i]);
    track->received[i] = track->requested[i] = NULL;
  }
  track->block_count = 0;
  free(track->picks);
  track->picks = NULL;
}

static enum mig_err track_fail(struct mig_error *error, enum mig_err code, uint64_t offset,
                               const char *detail, const char *path)
{
  error->offset = offset;
  snprintf(error->detail, sizeof error->detail, "%s", detail);
  snprintf(error->path, sizeof error->path, "%s", path);
  return code;
}

/* Bitmaps for the blocks the RAM setup listed since the last call. */
static enum mig_err track_blocks(struct mig_pctrack *track, const struct mig_inspect_event *event,
                                 struct mig_error *error)
{
  const struct mig_inspect *inspect = event->inspect;
  for (uint32_t i = track->block_count; i < inspect->block_count && !track->oversize; i++) {
    uint64_t pages = (inspect->blocks[i].used_bytes + MIG_PAGE_BYTES - 1) / MIG_PAGE_BYTES;
    if (pages > MIG_PCTRACK_PAGES_MAX - track->pages_count) {
      track->oversize = true;  /* precopy needs no bitmaps: refused only if postcopy comes */
      break;
    }
    size_t words = (size_t)(pages / 64 + 1);
    track->received[i] = calloc(words, sizeof(uint64_t));
    track->requested[i] = calloc(words, sizeof(uint64_t));
    track->block_count = i + 1;  /* deinit frees even a half-made pair */
    if (track->received[i] == NULL || track->requested[i] == NULL) {
      return track_fail(error, MIG_ERR_NOMEM, event->offset, "page bitmaps", "ram/blocks");
    }
    track->page_counts[i] = pages;
    track->pages_count += pages;
  }
  return MIG_OK;
}

/* One page record at offset: before LISTEN it is received; from LISTEN on, exactly once. */
static enum mig_err track_page(struct mig_pctrack *track, const struct mig_inspect_event *event,
                               uint32_t block_index, uint64_t page, uint64_t offset,
                               uint32_t channel, struct mig_error *error)
{
  if (block_index >= track->block_count || page >= track->page_counts[block_index]) {
    return MIG_OK;  /* the walk bounds pages by the RAM setup; the tail of a short block */
  }
  if (!track->listening || !track->tracking) {
    bit_set(track->received[block_index], page, true);
    track->stats.precopy_pages_count++;
    return MIG_OK;
  }
  const char *name = event->inspect->blocks[block_index].name;
  char detail[96], path[MIG_PATH_BYTES_MAX];
  snprintf(path, sizeof path, "ram/%.160s", name);
  uint32_t kind = event->ram_kind;
  if (kind != MIG_RAM_FLAG_ZERO && kind != MIG_RAM_FLAG_PAGE) {
    snprintf(detail, sizeof detail, "record kind 0x%" PRIx32 " after LISTEN (ZERO or PAGE only)",
             kind);
    return track_fail(error, MIG_ERR_BAD_VALUE, offset, detail, path);
  }
  bool requested = bit_get(track->requested[block_index], page);
  if (bit_get(track->received[block_index], page)) {
    snprintf(detail, sizeof detail, "postcopy page 0x%" PRIx64 " arrived twice%s", page,
             requested ? " (a requested page)" : "");
    return track_fail(error, MIG_ERR_RAM_ORDER, offset, detail, path);
  }
  bit_set(track->received[block_index], page, true);
  track->stats.postcopy_pages_count++;
  if (channel == 1) track->stats.preempt_pages_count++;
  if (requested) track->stats.requested_arrived_count++;
  return MIG_OK;
}

/* A run of ZERO|CONTINUE records (9 bytes each: be64 word, fill byte). */
static enum mig_err track_zero_run(struct mig_pctrack *track,
                                   const struct mig_inspect_event *event, uint32_t channel,
                                   struct mig_error *error)
{
  for (uint64_t i = 0; i < event->run_count; i++) {
    uint64_t word = 0;
    for (int b = 0; b < 8; b++) word = word << 8 | event->payload[9 * i + (uint64_t)b];
    enum mig_err code = track_page(track, event, event->block_index, word / MIG_PAGE_BYTES,
                                   event->offset + 9 * i, channel, error);
    if (code != MIG_OK) return code;
  }
  return MIG_OK;
}

static uint64_t be64_at(const uint8_t *bytes)
{
  uint64_t value = 0;
  for (int b = 0; b < 8; b++) value = value << 8 | bytes[b];
  return value;
}

/* POSTCOPY_RAM_DISCARD, its ranges checked by the walk: their pages are missing again. */
static void track_discard(struct mig_pctrack *track, const struct mig_inspect_event *event)
{
  const uint8_t *p = event->payload;
  uint32_t name_bytes = p[1];
  int32_t index = -1;
  for (uint32_t i = 0; i < track->block_count && index < 0; i++) {
    const char *name = event->inspect->blocks[i].name;
    if (strlen(name) == name_bytes && memcmp(name, p + 2, name_bytes) == 0) index = (int32_t)i;
  }
  if (index < 0) return;
  for (uint64_t at = 3u + name_bytes; at + 16 <= event->payload_bytes; at += 16) {
    uint64_t first = be64_at(p + at) / MIG_PAGE_BYTES, count = be64_at(p + at + 8) / MIG_PAGE_BYTES;
    for (uint64_t page = first; page < first + count && page < track->page_counts[index]; page++) {
      bit_set(track->received[index], page, false);
    }
    track->stats.discard_pages_count += count;
  }
}

/* The stream ended: every requested page, then every page, must have arrived. */
static enum mig_err track_finish(struct mig_pctrack *track, const struct mig_inspect_event *event,
                                 struct mig_error *error)
{
  if (!track->tracking || !track->listening) return MIG_OK;  /* it stayed precopy */
  for (int pass = 0; pass < 2; pass++) {
    for (uint32_t b = 0; b < track->block_count; b++) {
      for (uint64_t page = 0; page < track->page_counts[b]; page++) {
        if (bit_get(track->received[b], page)) continue;
        if (pass == 0 && !bit_get(track->requested[b], page)) continue;
        char detail[96], path[MIG_PATH_BYTES_MAX];
        snprintf(detail, sizeof detail, "%s page 0x%" PRIx64 " never received",
                 pass == 0 ? "requested" : "postcopy", page);
        snprintf(path, sizeof path, "ram/%.160s", event->inspect->blocks[b].name);
        return track_fail(error, MIG_ERR_RAM_ORDER, event->offset, detail, path);
      }
    }
  }
  return MIG_OK;
}

/* ADVISE with a body: tracking on, 4 KiB host pages only. */
static enum mig_err track_advise(struct mig_pctrack *track, const struct mig_inspect_event *event,
                                 struct mig_error *error)
{
  if (event->payload_bytes != 16) return MIG_OK;  /* dirty-bitmap postcopy only: no RAM */
  uint64_t summary = be64_at(event->payload);
  if (summary != MIG_PAGE_BYTES) {
    char detail[96];
    snprintf(detail, sizeof detail, "page-size summary 0x%" PRIx64
             ": hugepage-backed RAM is not tracked", summary);
    return track_fail(error, MIG_ERR_CONFIG_MISMATCH, event->payload_offset, detail,
                      "command/POSTCOPY_ADVISE/pagesize");
  }
  if (track->oversize) {
    return track_fail(error, MIG_ERR_TOO_LONG, event->offset,
                      "RAM over MIG_PCTRACK_PAGES_MAX pages: postcopy not tracked",
                      "command/POSTCOPY_ADVISE");
  }
  track->tracking = true;
  return MIG_OK;
}

/*
 * LISTEN: the pages to request are drawn now, uniformly among the missing
 * ones (reservoir sampling, Vitter's algorithm R, in block and page order),
 * at most requests_max; pick hands them out in draw order.
 */
static enum mig_err track_listen(struct mig_pctrack *track, const struct mig_inspect_event *event,
                                 struct mig_error *error)
{
  if (track->listening) return MIG_OK;  /* a tail walked again: the draws stand */
  track->listening = true;
  if (track->requests_max > 0 && track->tracking) {
    track->picks = calloc(track->requests_max, sizeof *track->picks);
    if (track->picks == NULL) {
      return track_fail(error, MIG_ERR_NOMEM, event->offset, "page picks",
                        "command/POSTCOPY_LISTEN");
    }
  }
  uint64_t seen = 0;
  for (uint32_t b = 0; b < track->block_count; b++) {
    for (uint64_t page = 0; page < track->page_counts[b]; page++) {
      if (bit_get(track->received[b], page)) continue;
      struct mig_pctrack_request pick = {.block_index = b, .page_index = page};
      if (track->picks != NULL && seen < track->requests_max) {
        track->picks[seen] = pick;
      } else if (track->picks != NULL) {
        uint64_t slot = pick_next(&track->rng) % (seen + 1);
        if (slot < track->requests_max) track->picks[slot] = pick;
      }
      seen++;
    }
  }
  track->stats.missing_at_listen_count = seen;
  track->picks_count = (uint32_t)SIM_MIN(seen, (uint64_t)track->requests_max);
  return MIG_OK;
}

static enum mig_err track_command(struct mig_pctrack *track,
                                  const struct mig_inspect_event *event, struct mig_error *error)
{
  switch (event->command) {
  case MIG_CMD_POSTCOPY_ADVISE: return track_advise(track, event, error);
  case MIG_CMD_POSTCOPY_RAM_DISCARD: track_discard(track, event); return MIG_OK;
  case MIG_CMD_POSTCOPY_LISTEN: return track_listen(track, event, error);
  default: return MIG_OK;
  }
}

enum mig_err mig_pctrack_visit(struct mig_pctrack *track, const struct mig_inspect_event *event,
                               uint32_t channel, struct mig_error *error)
{
  SIM_ASSERT(channel <= 1);
  switch (event->kind) {
  case MIG_INSPECT_RAM_BLOCKS: {
    enum mig_err code = track_blocks(track, event, error);
    if (code != MIG_OK || !track->oversize || !track->tracking) return code;
    return track_fail(error, MIG_ERR_TOO_LONG, event->offset,
                      "RAM over MIG_PCTRACK_PAGES_MAX pages: postcopy not tracked", "ram/blocks");
  }
  case MIG_INSPECT_RAM_PAGE:
    return track_page(track, event, event->block_index, event->address / MIG_PAGE_BYTES,
                      event->offset, channel, error);
  case MIG_INSPECT_RAM_ZERO_RUN: return track_zero_run(track, event, channel, error);
  case MIG_INSPECT_COMMAND: return track_command(track, event, error);
  case MIG_INSPECT_EOF: return track_finish(track, event, error);
  default: return MIG_OK;
  }
}

uint32_t mig_pctrack_pick(struct mig_pctrack *track, struct mig_pctrack_request *out,
                          uint32_t out_max)
{
  uint32_t count = 0;
  while (count < out_max && track->picks_next < track->picks_count) {
    struct mig_pctrack_request pick = track->picks[track->picks_next++];
    bit_set(track->requested[pick.block_index], pick.page_index, true);
    out[count++] = pick;
    track->stats.requested_count++;
  }
  return count;
}

bool mig_pctrack_listening(const struct mig_pctrack *track)
{
  return track->tracking && track->listening;
}

const struct mig_pctrack_stats *mig_pctrack_stats(const struct mig_pctrack *track)
{
  return &track->stats;
}

/* ------------------------------------------------------------ preempt */

void mig_pctrack_preempt_init(struct mig_pctrack_preempt *preempt)
{
  memset(preempt, 0, offsetof(struct mig_pctrack_preempt, bytes));
  preempt->block_index = -1;
}

bool mig_pctrack_preempt_busy(const struct mig_pctrack_preempt *preempt)
{
  return preempt->count > 0;
}

/* Bytes the record being read needs in all, as far as its held bytes tell. */
static size_t preempt_need(const struct mig_pctrack_preempt *preempt)
{
  if (preempt->count < 8) return 8;
  uint32_t flags = (uint32_t)(be64_at(preempt->bytes) & (MIG_PAGE_BYTES - 1));
  if ((flags & MIG_RAM_FLAG_EOS) != 0) return 8;
  size_t at = 8;
  if ((flags & MIG_RAM_FLAG_CONTINUE) == 0) {
    if (preempt->count < 9) return 9;
    at = 9u + preempt->bytes[8];
  }
  return at + ((flags & ~(uint32_t)MIG_RAM_FLAG_CONTINUE) == MIG_RAM_FLAG_ZERO ? 1u
                                                                              : MIG_PAGE_BYTES);
}

/* The record's word, once its 8 bytes are in: EOS alone, or ZERO/PAGE with CONTINUE or not. */
static enum mig_err preempt_word(struct mig_pctrack_preempt *preempt, struct mig_error *error)
{
  uint64_t word = be64_at(preempt->bytes);
  uint32_t flags = (uint32_t)(word & (MIG_PAGE_BYTES - 1));
  uint32_t kind = flags & ~(uint32_t)MIG_RAM_FLAG_CONTINUE;
  char detail[96];
  if (flags == MIG_RAM_FLAG_EOS && word == MIG_RAM_FLAG_EOS) return MIG_OK;
  if (kind == MIG_RAM_FLAG_ZERO || kind == MIG_RAM_FLAG_PAGE) {
    if ((flags & MIG_RAM_FLAG_CONTINUE) == 0 || preempt->block_index >= 0) return MIG_OK;
    return track_fail(error, MIG_ERR_RAM_ORDER, preempt->record_offset,
                      "CONTINUE before any block on this channel", "preempt/ram");
  }
  snprintf(detail, sizeof detail, "word 0x%016" PRIx64 ": ZERO, PAGE or a bare EOS only", word);
  return track_fail(error, MIG_ERR_BAD_VALUE, preempt->record_offset, detail, "preempt/ram");
}

/* A whole page record: its block and address checked, then tracked as channel 1. */
static enum mig_err preempt_page(struct mig_pctrack_preempt *preempt, struct mig_pctrack *track,
                                 struct mig_inspect *inspect, struct mig_error *error)
{
  uint64_t word = be64_at(preempt->bytes);
  uint32_t kind = (uint32_t)(word & (MIG_PAGE_BYTES - 1)) & ~(uint32_t)MIG_RAM_FLAG_CONTINUE;
  if ((word & MIG_RAM_FLAG_CONTINUE) == 0) {
    uint32_t name_bytes = preempt->bytes[8];
    preempt->block_index = -1;
    for (uint32_t i = 0; i < inspect->block_count && preempt->block_index < 0; i++) {
      const char *name = inspect->blocks[i].name;
      if (strlen(name) == name_bytes && memcmp(name, preempt->bytes + 9, name_bytes) == 0) {
        preempt->block_index = (int32_t)i;
      }
    }
    if (preempt->block_index < 0) {
      return track_fail(error, MIG_ERR_RAM_BLOCK, preempt->record_offset + 8,
                        "no such block in the RAM setup", "preempt/ram/block");
    }
  }
  struct mig_inspect_block *block = &inspect->blocks[preempt->block_index];
  uint64_t address = word & ~(uint64_t)(MIG_PAGE_BYTES - 1);
  if (address >= block->used_bytes) {
    char detail[96], path[MIG_PATH_BYTES_MAX];
    snprintf(detail, sizeof detail, "address 0x%" PRIx64 " beyond used 0x%" PRIx64, address,
             block->used_bytes);
    snprintf(path, sizeof path, "preempt/ram/%.160s", block->name);
    return track_fail(error, MIG_ERR_RAM_OFFSET, preempt->record_offset, detail, path);
  }
  struct mig_inspect_event event = {.kind = MIG_INSPECT_RAM_PAGE, .offset = preempt->record_offset,
                                    .inspect = inspect, .word = word, .ram_kind = kind,
                                    .block_index = (uint32_t)preempt->block_index,
                                    .address = address};
  enum mig_err code = mig_pctrack_visit(track, &event, 1, error);
  if (code != MIG_OK) {
    static const char prefix[] = "preempt/";
    size_t keep = SIM_MIN(strlen(error->path), sizeof error->path - sizeof prefix);
    memmove(error->path + sizeof prefix - 1, error->path, keep);
    memcpy(error->path, prefix, sizeof prefix - 1);
    error->path[sizeof prefix - 1 + keep] = '\0';
    return code;
  }
  if (kind == MIG_RAM_FLAG_ZERO) block->zero_pages++;
  else block->normal_pages++;
  preempt->pages_count++;
  return MIG_OK;
}

enum mig_err mig_pctrack_preempt_feed(struct mig_pctrack_preempt *preempt,
                                      struct mig_pctrack *track, struct mig_inspect *inspect,
                                      const uint8_t *bytes, size_t count,
                                      struct mig_error *error)
{
  while (count > 0) {
    if (preempt->eos) {
      return track_fail(error, MIG_ERR_TRAILING, preempt->offset, "bytes after the final EOS",
                        "preempt/eos");
    }
    if (preempt->count == 0) preempt->record_offset = preempt->offset;
    size_t need = preempt_need(preempt);
    size_t take = SIM_MIN(count, need - preempt->count), before = preempt->count;
    memcpy(preempt->bytes + preempt->count, bytes, take);
    preempt->count += take;
    preempt->offset += take;
    bytes += take;
    count -= take;
    if (before < 8 && preempt->count == 8) {  /* the word just completed */
      enum mig_err code = preempt_word(preempt, error);
      if (code != MIG_OK) return code;
    }
    if (preempt->count < preempt_need(preempt)) continue;
    if (be64_at(preempt->bytes) == MIG_RAM_FLAG_EOS) {
      preempt->eos = true;
    } else {
      enum mig_err code = preempt_page(preempt, track, inspect, error);
      if (code != MIG_OK) return code;
    }
    preempt->count = 0;
  }
  return MIG_OK;
}
