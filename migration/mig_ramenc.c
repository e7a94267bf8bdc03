/*
 * mig_ramenc.c: the RAM section's encodings on both sides: XBZRLE with its
 * page cache and 7.2's compress on the source, their decoding on the
 * destination (state in mig_ram_int.h; wire facts in spec §6.4 and §6.6).
 *
 * The source follows QEMU 7.2's ram_save_target_page: compress while
 * XBZRLE is not yet on (save_page_use_compression), the first page after
 * a block change going out plain (the CONTINUE rule); a zero page refreshes
 * the XBZRLE cache (xbzrle_cache_zero_page); another page tries
 * save_xbzrle_page: a miss inserts the page (not in the last stage) and
 * sends it plain; a hit encodes against the cached copy and updates it,
 * sends nothing when it had not changed, and sends it plain on overflow.
 */
#include "sim_base.h"

#include "mig_format.h"
#include "mig_ram.h"
#include "mig_ram_int.h"

void mig_ram_source_encode_set(struct mig_ram_source *source, struct sim *sim,
                               const struct mig_ram_encode_options *options)
{
  SIM_ASSERT(source->dirty_sync_count == 0); /* before setup */
  if (!options->xbzrle && !options->compress) return;
  struct mig_ram_encode *encode = sim_alloc(sim, sizeof *encode);
  encode->sim = sim;
  encode->xbzrle = options->xbzrle;
  encode->compress = options->compress;
  encode->compress_level = options->compress_level;
  encode->wait = options->wait;
  encode->wait_context = options->wait_context;
  uint64_t base = 0;
  for (uint32_t i = 0; i < source->block_count; i++) {
    encode->block_base[i] = base;
    base += source->blocks[i]->max_page_count * MIG_PAGE_BYTES;
  }
  if (options->xbzrle) {
    mig_xbzrle_cache_init(&encode->cache, sim, options->xbzrle_cache_bytes,
                          base / MIG_PAGE_BYTES);
    encode->xbzrle_stats.cache_bytes = options->xbzrle_cache_bytes;
  }
  if (options->compress) {
    mig_compress_threads_init(&encode->threads, options->compress_threads,
                              options->compress_wait, options->compress_level);
  }
  source->encode = encode;
}


const struct mig_xbzrle_stats *mig_ram_source_xbzrle_stats(const struct mig_ram_source *source)
{
  return source->encode != NULL && source->encode->xbzrle ? &source->encode->xbzrle_stats : NULL;
}

const struct mig_compress_stats *mig_ram_source_compress_stats(
    const struct mig_ram_source *source)
{
  return source->encode != NULL && source->encode->compress ? &source->encode->compress_stats
                                                            : NULL;
}

/* Pages the source handled (QEMU's target_page_count): every record that carried one. */
static uint64_t encode_pages_handled(const struct mig_ram_source *source)
{
  const struct mig_ram_encode *encode = source->encode;
  return source->zero_pages_count + source->normal_pages_count +
         encode->xbzrle_stats.encoded_count + encode->compress_stats.pages;
}

/*
 * 7.2 migration_update_rates: nothing changes in a period that handled no
 * page; the encoding rate is 0 when no page hit the cache or nothing was
 * encoded; the compression rate and its *_prev move only when it compressed.
 */
void mig_ram_source_encode_period(struct mig_ram_source *source)
{
  struct mig_ram_encode *encode = source->encode;
  if (encode == NULL) return;
  uint64_t pages = encode_pages_handled(source);
  SIM_ASSERT(pages >= encode->target_page_count_prev);
  uint64_t page_count = pages - encode->target_page_count_prev;
  encode->target_page_count_prev = pages;
  if (page_count == 0) return;
  struct mig_xbzrle_stats *x = &encode->xbzrle_stats;
  if (encode->xbzrle) {
    x->miss_rate_numerator = x->cache_miss_count - encode->xbzrle_cache_miss_prev;
    x->miss_rate_denominator = page_count;
    uint64_t hit_pages = x->pages - encode->xbzrle_pages_prev;
    uint64_t encoded_bytes = x->bytes - encode->xbzrle_bytes_prev;
    x->encoding_rate_numerator = hit_pages * MIG_PAGE_BYTES;
    x->encoding_rate_denominator = hit_pages == 0 ? 0 : encoded_bytes;
    encode->xbzrle_cache_miss_prev = x->cache_miss_count;
    encode->xbzrle_pages_prev = x->pages;
    encode->xbzrle_bytes_prev = x->bytes;
  }
  struct mig_compress_stats *c = &encode->compress_stats;
  if (encode->compress) {
    c->busy_rate_numerator = c->busy_count - encode->compress_thread_busy_prev;
    c->busy_rate_denominator = page_count;
    encode->compress_thread_busy_prev = c->busy_count;
    uint64_t compressed_size = c->compressed_bytes - encode->compressed_size_prev;
    if (compressed_size != 0) {
      c->compression_rate_numerator = (c->pages - encode->compress_pages_prev) * MIG_PAGE_BYTES;
      c->compression_rate_denominator = compressed_size;
      encode->compress_pages_prev = c->pages;
      encode->compressed_size_prev = c->compressed_bytes;
    }
  }
}

/* QEMU's save_page_header: the be64 (CONTINUE when the block is the last named) and name. */
static uint64_t encode_header(struct mig_writer *writer, const struct ram_block *block,
                              uint64_t page_index, uint32_t flags,
                              const struct ram_block **last_block)
{
  bool same_block = *last_block == block;
  if (same_block) flags |= MIG_RAM_FLAG_CONTINUE;
  mig_writer_be64(writer, page_index * MIG_PAGE_BYTES | flags);
  if (same_block) return 8;
  mig_writer_counted_string(writer, block->name);
  *last_block = block;
  return 8 + 1 + strlen(block->name);
}

/*
 * 7.2's save_compress_page and do_compress_ram_page: a page of the block
 * last named goes to a compression thread (ZERO when it is zero); the first
 * page of another block, and any page while every thread is busy and the
 * source does not wait, goes out plain.
 */
static bool encode_compress(struct mig_ram_source *source, struct mig_writer *writer,
                            uint32_t block_index, uint64_t page_index, bool zero,
                            const struct ram_block **last_block)
{
  struct mig_ram_encode *encode = source->encode;
  const struct ram_block *block = source->blocks[block_index];
  if (*last_block != block) return false;
  uint64_t now_ns = sim_now_ns(encode->sim);
  uint64_t start_ns = 0;
  if (!mig_compress_thread_take(&encode->threads, now_ns, &start_ns)) {
    encode->compress_stats.busy_count++;
    return false;
  }
  if (start_ns > now_ns) {
    encode->compress_stats.waited_ns += start_ns - now_ns;
    bool alive = encode->wait == NULL || encode->wait(encode->wait_context, start_ns);
    /* Torn down, or the block shrank while it waited (the migration is cancelled). */
    if (!alive || page_index >= block->page_count) return true;
    zero = ram_page_is_zero(block, page_index);
  }
  if (zero) {
    (void)encode_header(writer, block, page_index, MIG_RAM_FLAG_ZERO, last_block);
    mig_writer_u8(writer, 0);
    source->zero_pages_count++;
    return true;
  }
  const uint8_t *current = ram_page_read(block, page_index, source->scratch);
  uint32_t length = mig_compress_page(current, encode->compress_level, encode->buffer);
  uint64_t header_bytes =
      encode_header(writer, block, page_index, MIG_RAM_FLAG_COMPRESS_PAGE, last_block);
  mig_writer_be32(writer, length);
  mig_writer_bytes(writer, encode->buffer, length);
  encode->compress_stats.pages++;
  encode->compress_stats.compressed_bytes += header_bytes + 4 + length - 8;
  return true;
}

/* 7.2's save_xbzrle_page for a page that is not zero. */
static bool encode_xbzrle(struct mig_ram_source *source, struct mig_writer *writer,
                          uint32_t block_index, uint64_t page_index, uint64_t address,
                          const struct ram_block **last_block)
{
  struct mig_ram_encode *encode = source->encode;
  struct mig_xbzrle_stats *stats = &encode->xbzrle_stats;
  const struct ram_block *block = source->blocks[block_index];
  uint64_t age = source->dirty_sync_count;
  const uint8_t *current = ram_page_read(block, page_index, source->scratch);
  if (!mig_xbzrle_cache_hit(&encode->cache, address, age)) {
    stats->cache_miss_count++;
    if (!encode->last_stage) (void)mig_xbzrle_cache_insert(&encode->cache, address, current, age);
    return false;
  }
  stats->pages++;
  uint8_t *cached = mig_xbzrle_cache_page(&encode->cache, address);
  int32_t length = mig_xbzrle_encode(cached, current, encode->buffer, MIG_PAGE_BYTES);
  if (!encode->last_stage && length != 0) memcpy(cached, current, MIG_PAGE_BYTES);
  uint64_t plain_bytes = (*last_block == block ? 8 : 9 + strlen(block->name)) + MIG_PAGE_BYTES;
  if (length == 0) {  /* unchanged since it was sent: nothing goes out */
    stats->skipped_count++;
    stats->saved_bytes += plain_bytes;
    return true;
  }
  if (length < 0) {
    stats->overflow_count++;
    stats->bytes += MIG_PAGE_BYTES;  /* 7.2 counts the page that goes out plain */
    return false;
  }
  uint64_t header_bytes = encode_header(writer, block, page_index, MIG_RAM_FLAG_XBZRLE,
                                        last_block);
  mig_writer_u8(writer, MIG_RAM_XBZRLE_ENCODING);
  mig_writer_be16(writer, (uint16_t)length);
  mig_writer_bytes(writer, encode->buffer, (size_t)length);
  uint64_t record_bytes = header_bytes + 3 + (uint64_t)length;
  stats->bytes += record_bytes - 8;  /* 7.2: without the 8-byte header */
  stats->encoded_count++;
  stats->saved_bytes += plain_bytes - record_bytes;
  return true;
}

bool mig__ram_encode_page(struct mig_ram_source *source, struct mig_writer *writer,
                          uint32_t block_index, uint64_t page_index, bool zero,
                          const struct ram_block **last_block)
{
  struct mig_ram_encode *encode = source->encode;
  SIM_ASSERT(encode != NULL && block_index < source->block_count);
  if (encode->postcopy || last_block != &source->last_block_sent) return false;
  if (encode->compress && !encode->xbzrle_enabled) {
    return encode_compress(source, writer, block_index, page_index, zero, last_block);
  }
  if (!encode->xbzrle_enabled) return false;
  uint64_t address = encode->block_base[block_index] + page_index * MIG_PAGE_BYTES;
  if (zero) {
    /* A previously cached copy of this page would be stale: the zero page replaces it. */
    (void)mig_xbzrle_cache_insert(&encode->cache, address, encode->zero_page,
                                  source->dirty_sync_count);
    return false;
  }
  return encode_xbzrle(source, writer, block_index, page_index, address, last_block);
}

bool mig__ram_decode_page(const struct ram_block *block, uint64_t page_index,
                          const struct mig_record *record, struct mig_reader *reader,
                          uint8_t *page)
{
  const struct mig_record_ram *ram = &record->ram;
  SIM_ASSERT(record->payload != NULL || record->payload_bytes == 0);
  char detail[96];
  if (ram->kind == MIG_RAM_FLAG_COMPRESS_PAGE) {
    if (mig_compress_inflate(record->payload, (uint32_t)record->payload_bytes, page, detail,
                             sizeof detail)) {
      return true;
    }
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, record->payload_offset, detail,
                    "ram/%s/compressed", block->name);
    return false;
  }
  SIM_ASSERT(ram->kind == MIG_RAM_FLAG_XBZRLE);
  if (ram->encoding != MIG_RAM_XBZRLE_ENCODING) {
    snprintf(detail, sizeof detail, "Failed to load XBZRLE page - wrong compression! (0x%02x)",
             ram->encoding);
    MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, record->payload_offset - 3, detail,
                    "ram/%s/xbzrle", block->name);
    return false;
  }
  const uint8_t *old = ram_page_read(block, page_index, page);
  if (old != page) memcpy(page, old, MIG_PAGE_BYTES);
  uint32_t bad_index = 0;
  const char *reason = NULL;
  if (mig_xbzrle_decode(record->payload, (uint32_t)record->payload_bytes, page, &bad_index,
                        &reason)) {
    return true;
  }
  snprintf(detail, sizeof detail, "Failed to load XBZRLE page - decode error! (%s)", reason);
  MIG_READER_FAIL(reader, MIG_ERR_BAD_VALUE, record->payload_offset + bad_index, detail,
                  "ram/%s/xbzrle", block->name);
  return false;
}
