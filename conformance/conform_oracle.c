/*
 * conform_oracle.c: switchover equality and the guest digest (overview in
 * conform_oracle.h).  Devices are compared through their canonical wire
 * encoding, field by field, never by memcmp of structs (STYLE tangle 4).
 */
#include "sim_base.h"

#include "conform_oracle.h"
#include "mig_limits.h"
#include "mig_vmstate.h"

#include <xxhash.h>

#define FIELD_BYTES_INLINE 64

struct conform_snapshot_field {
  char path[MIG_PATH_BYTES_MAX + 64];  /* "<idstr>/<field path>" */
  uint8_t bytes[FIELD_BYTES_INLINE];   /* the first bytes of the encoding */
  uint64_t count;                      /* encoding length */
  uint64_t hash;                       /* XXH3 of the whole encoding */
};

struct collect {
  struct conform_snapshot *snapshot;
  const char *idstr;      /* section idstr, e.g. "0000:00:03.0/testdev" */
  const char *vmsd_name;  /* the description's name, which visit paths start with */
};

/* "testdev/extra/extra" under "0000:00:03.0/testdev" reads "0000:00:03.0/testdev/extra/extra". */
static const char *path_after_vmsd(const struct collect *collect, const char *path)
{
  size_t name_bytes = strlen(collect->vmsd_name);
  if (strncmp(path, collect->vmsd_name, name_bytes) == 0 && path[name_bytes] == '/') {
    return path + name_bytes + 1;
  }
  return path;
}

static void collect_field(void *context, const char *path, const uint8_t *bytes, size_t count)
{
  struct collect *collect = context;
  struct conform_snapshot *snapshot = collect->snapshot;
  if (snapshot->field_count == snapshot->field_capacity) {
    snapshot->field_capacity = snapshot->field_capacity * 2 + 64;
    snapshot->fields = realloc(snapshot->fields,
                               snapshot->field_capacity * sizeof(*snapshot->fields));
    SIM_ASSERT(snapshot->fields != NULL);
  }
  struct conform_snapshot_field *field = &snapshot->fields[snapshot->field_count++];
  memset(field, 0, sizeof(*field));
  snprintf(field->path, sizeof(field->path), "%s/%s", collect->idstr,
           path_after_vmsd(collect, path));
  field->count = count;
  if (count > 0) memcpy(field->bytes, bytes, SIM_MIN(count, (size_t)FIELD_BYTES_INLINE));
  field->hash = XXH3_64bits(bytes, count);
}

/*
 * The description to read instance through: layout's section of the same
 * idstr (a machine of another release: the same device class, another
 * revision of its tables), else its own.  What is compared across
 * releases is what the layout's release knows: everything its stream carries.
 */
static const struct vmstate_desc *layout_desc(const struct machine *layout,
                                              const struct vmstate_instance *instance)
{
  for (uint32_t i = 0; layout != NULL && i < machine_vmstate_count(layout); i++) {
    const struct vmstate_instance *other = machine_vmstate(layout, i);
    if (other->instance_id == instance->instance_id &&
        strcmp(other->idstr, instance->idstr) == 0) {
      return other->desc;
    }
  }
  return instance->desc;
}

/* Live sections are compared where the layout's machine has one at the same path too. */
static bool layout_live(const struct machine *layout, const struct dev_live *live)
{
  if (layout == NULL) return true;
  for (uint32_t i = 0; i < machine_live_count(layout); i++) {
    struct dev_live other = machine_live(layout, i);
    if (other.ops == live->ops && strcmp(other.path, live->path) == 0) return true;
  }
  return false;
}

static void collect_machine(struct conform_snapshot *snapshot, const struct machine *machine,
                            const struct machine *layout)
{
  for (uint32_t i = 0; i < machine_vmstate_count(machine); i++) {
    if (snapshot->guest_visible_only && !machine_vmstate_guest_visible(machine, i)) continue;
    const struct vmstate_instance *instance = machine_vmstate(machine, i);
    const struct vmstate_desc *desc = layout_desc(layout, instance);
    struct collect collect = {snapshot, instance->idstr, desc->name};
    mig_vmstate_visit(desc, instance->opaque, collect_field, &collect);
  }
  /* A live device's config travels in its handler's FULL section, outside its vmstate. */
  for (uint32_t i = 0; i < machine_live_count(machine); i++) {
    struct dev_live live = machine_live(machine, i);
    if (!layout_live(layout, &live)) continue;
    char idstr[MIG_IDSTR_BYTES_MAX + 1];
    snprintf(idstr, sizeof(idstr), "%s/vfio", live.path);
    struct collect collect = {snapshot, idstr, live.ops->config_vmstate->name};
    mig_vmstate_visit(live.ops->config_vmstate, live.dev, collect_field, &collect);
  }
}

/* The stand-in hash of a canonical synthetic page: a digest of what makes its bytes. */
static uint64_t canonical_hash(uint64_t content_key, uint64_t page, uint64_t generation)
{
  uint64_t words[3] = {content_key, page, generation};
  return XXH3_64bits(words, sizeof(words));
}

/* One page's entry: a canonical synthetic page by its generation, any other by its XXH3. */
static struct conform_page_hash page_entry(const struct ram_block *block, uint64_t page)
{
  uint32_t generation = block->backing == RAM_BACKING_SYNTHETIC
                            ? ram_page_canonical(block, page) : 0;
  if (generation != 0) {
    return (struct conform_page_hash){page, canonical_hash(block->content_key, page, generation),
                                      generation};
  }
  return (struct conform_page_hash){page, ram_page_hash(block, page), 0};
}

/* The non-zero pages of block with their hashes, ascending; returns the count. */
static uint64_t collect_pages(const struct ram_block *block, struct conform_page_hash **out)
{
  uint64_t capacity = 0, count = 0;
  struct conform_page_hash *pages = NULL;
  for (uint64_t page = ram_next_touched(block, 0); page < block->page_count;
       page = ram_next_touched(block, page + 1)) {
    struct conform_page_hash entry = page_entry(block, page);
    if (entry.generation == 0 && entry.hash == block->zero_hash &&
        ram_page_is_zero(block, page)) {
      continue;
    }
    if (count == capacity) {
      capacity = capacity * 2 + 1024;
      pages = realloc(pages, capacity * sizeof(*pages));
      SIM_ASSERT(pages != NULL);
    }
    pages[count++] = entry;
  }
  *out = pages;
  return count;
}

void conform_snapshot_take(struct conform_snapshot *snapshot, const struct machine *machine,
                           bool guest_visible_only)
{
  conform_snapshot_take_as(snapshot, machine, NULL, guest_visible_only);
}

/* The RAM part of a snapshot: every block's name, length and non-zero pages. */
static void snapshot_ram(struct conform_snapshot *snapshot, const struct machine *machine)
{
  snapshot->ram_count = machine_ram_count(machine);
  for (uint32_t b = 0; b < snapshot->ram_count; b++) {
    const struct ram_block *block = machine_ram(machine, b);
    memcpy(snapshot->ram_names[b], block->name, sizeof(block->name));
    snapshot->ram_page_counts[b] = block->page_count;
    snapshot->ram_content_keys[b] = block->content_key;
    snapshot->ram_pages_count[b] = collect_pages(block, &snapshot->ram_pages[b]);
  }
}

void conform_snapshot_take_as(struct conform_snapshot *snapshot, const struct machine *machine,
                              const struct machine *layout, bool guest_visible_only)
{
  memset(snapshot, 0, sizeof(*snapshot));
  snapshot->guest_visible_only = guest_visible_only;
  snapshot_ram(snapshot, machine);
  collect_machine(snapshot, machine, layout);
}

void conform_snapshot_take_fields_as(struct conform_snapshot *snapshot,
                                     const struct machine *machine,
                                     const struct machine *layout, bool guest_visible_only)
{
  memset(snapshot, 0, sizeof(*snapshot));
  snapshot->guest_visible_only = guest_visible_only;
  collect_machine(snapshot, machine, layout);
}

void conform_snapshot_deinit(struct conform_snapshot *snapshot)
{
  for (uint32_t b = 0; b < snapshot->ram_count; b++) free(snapshot->ram_pages[b]);
  free(snapshot->fields);
  memset(snapshot, 0, sizeof(*snapshot));
}

static void format_bytes(char *out, size_t out_bytes, const struct conform_snapshot_field *f)
{
  size_t shown = SIM_MIN(f->count, (uint64_t)16);
  size_t at = (size_t)snprintf(out, out_bytes, "0x");
  for (size_t i = 0; i < shown && at + 3 < out_bytes; i++) {
    at += (size_t)snprintf(out + at, out_bytes - at, "%02x", f->bytes[i]);
  }
  if (shown < f->count && at + 4 < out_bytes) snprintf(out + at, out_bytes - at, "...");
}

/*
 * XXH3 of an entry's bytes: a canonical page's are made from its generation
 * (only when it meets a page kept by its digest, which a correct run never
 * has: a comparison that is about to fail).
 */
static uint64_t entry_bytes_hash(uint64_t content_key, const struct conform_page_hash *entry)
{
  if (entry->generation == 0) return entry->hash;
  uint64_t pool[RAM_PAGE_BYTES / 8];
  ram_synth_pool(content_key, pool);
  uint8_t bytes[RAM_PAGE_BYTES];
  ram_synth_fill(pool, content_key, entry->page_index, (uint32_t)entry->generation, bytes);
  return XXH3_64bits(bytes, RAM_PAGE_BYTES);
}

/*
 * Whether two entries of the same page stand for the same bytes.  Two
 * canonical pages of one content key are equal iff their generations are
 * (the content function puts the generation in the page's first word); any
 * other pair is compared by the XXH3 of the bytes, made for a canonical one.
 */
static bool entries_equal(uint64_t key_x, const struct conform_page_hash *x, uint64_t key_y,
                          const struct conform_page_hash *y)
{
  if (x->generation != 0 && y->generation != 0 && key_x == key_y) {
    return x->generation == y->generation;
  }
  if (x->generation == 0 && y->generation == 0) return x->hash == y->hash;
  return entry_bytes_hash(key_x, x) == entry_bytes_hash(key_y, y);
}

static bool compare_ram(const struct conform_snapshot *a, const struct conform_snapshot *b,
                        char *failure, size_t failure_bytes)
{
  if (a->ram_count != b->ram_count) {
    snprintf(failure, failure_bytes, "ram: %" PRIu32 " blocks at the source, %" PRIu32
             " at the destination", a->ram_count, b->ram_count);
    return false;
  }
  for (uint32_t i = 0; i < a->ram_count; i++) {
    if (strcmp(a->ram_names[i], b->ram_names[i]) != 0 ||
        a->ram_page_counts[i] != b->ram_page_counts[i]) {
      snprintf(failure, failure_bytes, "ram/%s: block differs in name or size",
               a->ram_names[i]);
      return false;
    }
    /* Merge walk: a page listed on one side only is non-zero there and zero on the other. */
    const struct conform_page_hash *x = a->ram_pages[i], *y = b->ram_pages[i];
    uint64_t xi = 0, yi = 0, xn = a->ram_pages_count[i], yn = b->ram_pages_count[i];
    while (xi < xn || yi < yn) {
      uint64_t xp = xi < xn ? x[xi].page_index : UINT64_MAX;
      uint64_t yp = yi < yn ? y[yi].page_index : UINT64_MAX;
      if (xp == yp && entries_equal(a->ram_content_keys[i], &x[xi], b->ram_content_keys[i],
                                    &y[yi])) {
        xi++;
        yi++;
        continue;
      }
      uint64_t page = SIM_MIN(xp, yp);
      const char *how = xp == yp ? "destination differs from source"
                        : xp < yp ? "zero at the destination only"
                                  : "zero at the source only";
      snprintf(failure, failure_bytes, "ram/%s/0x%" PRIx64 ": page 0x%" PRIx64 " %s",
               a->ram_names[i], page * RAM_PAGE_BYTES, page, how);
      return false;
    }
  }
  return true;
}

bool conform_snapshot_diff(const struct conform_snapshot *a, const struct conform_snapshot *b,
                           char *failure, size_t failure_bytes)
{
  if (!compare_ram(a, b, failure, failure_bytes)) return false;
  uint32_t count = SIM_MAX(a->field_count, b->field_count);
  for (uint32_t i = 0; i < count; i++) {
    const struct conform_snapshot_field *x = i < a->field_count ? &a->fields[i] : NULL;
    const struct conform_snapshot_field *y = i < b->field_count ? &b->fields[i] : NULL;
    if (x == NULL || y == NULL || strcmp(x->path, y->path) != 0) {
      snprintf(failure, failure_bytes, "%s: present at the %s only",
               x != NULL ? x->path : y->path, x != NULL ? "source" : "destination");
      return false;
    }
    if (x->count != y->count || x->hash != y->hash) {
      char source[48], dest[48];
      format_bytes(source, sizeof(source), x);
      format_bytes(dest, sizeof(dest), y);
      snprintf(failure, failure_bytes, "%s: source %s, destination %s", x->path, source, dest);
      return false;
    }
  }
  return true;
}

bool conform_snapshot_compare(const struct conform_snapshot *snapshot,
                              const struct machine *machine, char *failure,
                              size_t failure_bytes)
{
  return conform_snapshot_compare_as(snapshot, machine, NULL, failure, failure_bytes);
}

bool conform_snapshot_compare_as(const struct conform_snapshot *snapshot,
                                 const struct machine *machine, const struct machine *layout,
                                 char *failure, size_t failure_bytes)
{
  struct conform_snapshot other;
  conform_snapshot_take_as(&other, machine, layout, snapshot->guest_visible_only);
  bool equal = conform_snapshot_diff(snapshot, &other, failure, failure_bytes);
  conform_snapshot_deinit(&other);
  return equal;
}

static void digest_field(void *context, const char *path, const uint8_t *bytes, size_t count)
{
  XXH3_state_t *state = context;
  XXH3_64bits_update(state, path, strlen(path) + 1);
  if (count > 0) XXH3_64bits_update(state, bytes, count);
}

uint64_t conform_guest_digest(const struct machine *machine)
{
  return conform_guest_digest_as(machine, NULL);
}

/* Pairs (page index, hash) go to XXH3 this many at a time. */
#define DIGEST_PAIRS_BATCH 256

/*
 * The RAM part of the guest digest: per block its name, used length and the
 * (index, hash) pair of every non-zero page, dense and synthetic alike, so
 * the digest and the final snapshot share one hashing pass over RAM.
 */
static void digest_ram(XXH3_state_t *state, const struct conform_snapshot *snapshot)
{
  uint64_t pairs[2 * DIGEST_PAIRS_BATCH];
  for (uint32_t b = 0; b < snapshot->ram_count; b++) {
    XXH3_64bits_update(state, snapshot->ram_names[b], strlen(snapshot->ram_names[b]) + 1);
    uint64_t used_bytes = snapshot->ram_page_counts[b] * RAM_PAGE_BYTES;
    XXH3_64bits_update(state, &used_bytes, sizeof(used_bytes));
    const struct conform_page_hash *pages = snapshot->ram_pages[b];
    uint64_t count = snapshot->ram_pages_count[b];
    for (uint64_t i = 0; i < count; i += DIGEST_PAIRS_BATCH) {
      uint64_t batch = SIM_MIN(count - i, (uint64_t)DIGEST_PAIRS_BATCH);
      for (uint64_t k = 0; k < batch; k++) {
        pairs[2 * k] = pages[i + k].page_index;
        pairs[2 * k + 1] = pages[i + k].hash;
      }
      XXH3_64bits_update(state, pairs, batch * 2 * sizeof(uint64_t));
    }
  }
}

uint64_t conform_guest_digest_of(const struct conform_snapshot *snapshot,
                                 const struct machine *machine, const struct machine *layout)
{
  XXH3_state_t *state = XXH3_createState();
  SIM_ASSERT(state != NULL);
  XXH3_64bits_reset(state);
  digest_ram(state, snapshot);
  for (uint32_t i = 0; i < machine_vmstate_count(machine); i++) {
    if (!machine_vmstate_guest_visible(machine, i)) continue;
    const struct vmstate_instance *instance = machine_vmstate(machine, i);
    XXH3_64bits_update(state, instance->idstr, strlen(instance->idstr) + 1);
    mig_vmstate_visit(layout_desc(layout, instance), instance->opaque, digest_field, state);
  }
  for (uint32_t i = 0; i < machine_live_count(machine); i++) {
    struct dev_live live = machine_live(machine, i);
    if (!layout_live(layout, &live)) continue;
    XXH3_64bits_update(state, live.path, strlen(live.path) + 1);
    mig_vmstate_visit(live.ops->config_vmstate, live.dev, digest_field, state);
  }
  uint64_t digest = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return digest;
}

uint64_t conform_guest_digest_as(const struct machine *machine, const struct machine *layout)
{
  struct conform_snapshot snapshot;
  memset(&snapshot, 0, sizeof(snapshot));
  snapshot_ram(&snapshot, machine);
  uint64_t digest = conform_guest_digest_of(&snapshot, machine, layout);
  conform_snapshot_deinit(&snapshot);
  return digest;
}

void conform_failure_path(const char *difference, char *path, size_t path_bytes)
{
  SIM_ASSERT(path_bytes > 0);
  const char *colon = strstr(difference, ": ");
  size_t bytes = colon != NULL ? (size_t)(colon - difference) : 0;
  if (bytes >= path_bytes) bytes = path_bytes - 1;
  memcpy(path, difference, bytes);
  path[bytes] = 0;
}
