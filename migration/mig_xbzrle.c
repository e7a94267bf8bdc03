/*
 * mig_xbzrle.c: XBZRLE encode/decode and the page cache (overview in
 * mig_xbzrle.h; wire facts in spec/stream-format.md §6.6; QEMU 7.2's
 * migration/xbzrle.c and page_cache.c for the rules, not the code).
 */
#include "sim_base.h"

#include "mig_xbzrle.h"

#define ULEB_VALUE_MAX 0x3fffu  /* two bytes of 7 bits */

_Static_assert(MIG_PAGE_BYTES <= ULEB_VALUE_MAX, "every run length fits two uleb128 bytes");

/* Writes value (<= 14 bits) as uleb128 at out; returns its bytes (1 or 2). */
static uint32_t uleb_put(uint8_t *out, uint32_t value)
{
  SIM_ASSERT(value <= ULEB_VALUE_MAX);
  if (value < 0x80) {
    out[0] = (uint8_t)value;
    return 1;
  }
  out[0] = (uint8_t)(value | 0x80);
  out[1] = (uint8_t)(value >> 7);
  return 2;
}

/* Bytes from i on where a and b agree (equal == true) or differ, up to end. */
static uint32_t run_length(const uint8_t *a, const uint8_t *b, uint32_t i, uint32_t end,
                           bool equal)
{
  uint32_t start = i;
  if (equal) {
    while (i + 8 <= end) {
      uint64_t x, y;
      memcpy(&x, a + i, 8);
      memcpy(&y, b + i, 8);
      if (x != y) break;
      i += 8;
    }
  }
  while (i < end && (a[i] == b[i]) == equal) i++;
  return i - start;
}

int32_t mig_xbzrle_encode(const uint8_t *old_page, const uint8_t *new_page, uint8_t *encoded,
                          uint32_t encoded_max)
{
  SIM_ASSERT(old_page != NULL && new_page != NULL && encoded != NULL);
  uint32_t i = 0, d = 0;
  while (i < MIG_PAGE_BYTES) {
    if (d + 2 > encoded_max) return -1;
    uint32_t zero_run = run_length(old_page, new_page, i, MIG_PAGE_BYTES, true);
    if (zero_run == MIG_PAGE_BYTES) return 0;  /* unchanged */
    i += zero_run;
    if (i == MIG_PAGE_BYTES) return (int32_t)d;  /* a trailing zero run is left out */
    d += uleb_put(encoded + d, zero_run);
    if (d + 2 > encoded_max) return -1;
    uint32_t data_run = run_length(old_page, new_page, i, MIG_PAGE_BYTES, false);
    SIM_ASSERT(data_run > 0);
    d += uleb_put(encoded + d, data_run);
    if (d + data_run > encoded_max) return -1;
    memcpy(encoded + d, new_page + i, data_run);
    d += data_run;
    i += data_run;
  }
  SIM_ASSERT(d <= encoded_max);
  return (int32_t)d;
}

/* One uleb128 of at most two bytes at encoded[*i]; the caller made sure two bytes remain. */
static bool uleb_get(const uint8_t *encoded, uint32_t *i, uint32_t *value)
{
  uint8_t first = encoded[*i];
  if ((first & 0x80) == 0) {
    *value = first;
    *i += 1;
    return true;
  }
  uint8_t second = encoded[*i + 1];
  if (second & 0x80) return false;
  *value = (uint32_t)(first & 0x7f) | (uint32_t)second << 7;
  *i += 2;
  return true;
}

bool mig_xbzrle_decode(const uint8_t *encoded, uint32_t encoded_bytes, uint8_t *page,
                       uint32_t *bad_index, const char **reason)
{
  uint32_t i = 0, d = 0;
  while (i < encoded_bytes) {
    uint32_t pair = i, run = 0;
    *bad_index = i;
    if (encoded_bytes - i < 2) return *reason = "truncated pair", false;
    if (!uleb_get(encoded, &i, &run)) return *reason = "zero-run uleb128 over 14 bits", false;
    if (pair != 0 && run == 0) return *reason = "zero-run of 0 after the first pair", false;
    d += run;
    if (d > MIG_PAGE_BYTES) return *reason = "zero-run past the page", false;
    *bad_index = i;
    if (encoded_bytes - i < 2) return *reason = "truncated pair", false;
    if (!uleb_get(encoded, &i, &run)) return *reason = "data-run uleb128 over 14 bits", false;
    if (run == 0) return *reason = "data-run of 0", false;
    if (d + run > MIG_PAGE_BYTES) return *reason = "data-run past the page", false;
    if (run > encoded_bytes - i) return *reason = "data-run past the encoding", false;
    memcpy(page + d, encoded + i, run);
    d += run;
    i += run;
  }
  SIM_ASSERT(d <= MIG_PAGE_BYTES);
  return true;
}

void mig_xbzrle_cache_init(struct mig_xbzrle_cache *cache, struct sim *sim, uint64_t cache_bytes,
                           uint64_t ram_pages)
{
  SIM_ASSERT(cache_bytes >= MIG_PAGE_BYTES && (cache_bytes & (cache_bytes - 1)) == 0);
  SIM_ASSERT(ram_pages > 0);
  memset(cache, 0, sizeof *cache);
  cache->items_count = cache_bytes / MIG_PAGE_BYTES;
  cache->slots_count = SIM_MIN(cache->items_count, ram_pages);
  cache->addresses = sim_alloc(sim, cache->slots_count * sizeof *cache->addresses);
  cache->ages = sim_alloc(sim, cache->slots_count * sizeof *cache->ages);
  cache->pages = sim_alloc(sim, cache->slots_count * MIG_PAGE_BYTES);
  for (uint64_t s = 0; s < cache->slots_count; s++) cache->addresses[s] = UINT64_MAX;
}

/* QEMU's cache_get_cache_pos; addresses below ram_pages pages land below slots_count. */
static uint64_t cache_slot(const struct mig_xbzrle_cache *cache, uint64_t address)
{
  uint64_t slot = (address / MIG_PAGE_BYTES) & (cache->items_count - 1);
  SIM_ASSERT(slot < cache->slots_count);
  return slot;
}

bool mig_xbzrle_cache_hit(struct mig_xbzrle_cache *cache, uint64_t address, uint64_t age)
{
  uint64_t slot = cache_slot(cache, address);
  if (cache->addresses[slot] != address) return false;
  cache->ages[slot] = age;
  return true;
}

bool mig_xbzrle_cache_insert(struct mig_xbzrle_cache *cache, uint64_t address,
                             const uint8_t *page, uint64_t age)
{
  uint64_t slot = cache_slot(cache, address);
  uint64_t held = cache->addresses[slot];
  if (held != UINT64_MAX && held != address &&
      cache->ages[slot] + MIG_XBZRLE_CACHE_LIFETIME > age) {
    return false;  /* the entry is fresh: not replaced */
  }
  if (held == UINT64_MAX) cache->used_count++;
  memcpy(cache->pages + slot * MIG_PAGE_BYTES, page, MIG_PAGE_BYTES);
  cache->ages[slot] = age;
  cache->addresses[slot] = address;
  return true;
}

uint8_t *mig_xbzrle_cache_page(struct mig_xbzrle_cache *cache, uint64_t address)
{
  uint64_t slot = cache_slot(cache, address);
  SIM_ASSERT(cache->addresses[slot] == address);
  return cache->pages + slot * MIG_PAGE_BYTES;
}
