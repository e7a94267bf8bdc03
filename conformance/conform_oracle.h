/*
 * conform_oracle.h: the oracles that decide whether a migration was correct
 * (DESIGN.md, "The oracles").
 *
 * Switchover equality: when the source stops, conform_snapshot_take records
 * a hash per non-zero RAM page (sparse, so a 64 GiB synthetic guest costs 24
 * bytes per written page; a synthetic page whose bytes are its generation's
 * content is recorded by that generation and compared by it against a page
 * of the same content key, never made nor hashed) and the canonical encoding
 * of every vmstate field (mig_vmstate_visit); after the destination loads,
 * conform_snapshot_compare names the first differing page or `device/field`.
 * Transparency: conform_guest_digest hashes what the guest can see (RAM by
 * the snapshot's (index, hash) pairs, vCPU program state, device registers;
 * not the VM clock), to compare a migrated run with an unmigrated one.
 */
#ifndef CONFORM_ORACLE_H
#define CONFORM_ORACLE_H

#include "sim_base.h"
#include "machine.h"

struct conform_snapshot_field;

struct conform_page_hash {
  uint64_t page_index;
  /*
   * XXH3 of the page's bytes; for a canonical synthetic page (generation
   * != 0) instead a digest of (content key, page, generation), which stands
   * for its bytes in the guest digest: no bytes are made or hashed.
   */
  uint64_t hash;
  uint64_t generation;                       /* ram_page_canonical, or 0 */
};

struct conform_snapshot {                    /* malloc'd contents; deinit frees */
  uint32_t ram_count;
  char ram_names[RAM_BLOCKS_MAX][RAM_BLOCK_NAME_BYTES_MAX + 1];
  uint64_t ram_page_counts[RAM_BLOCKS_MAX];  /* used length in pages */
  uint64_t ram_content_keys[RAM_BLOCKS_MAX]; /* synthetic: the block's content key */
  struct conform_page_hash *ram_pages[RAM_BLOCKS_MAX]; /* non-zero pages, ascending */
  uint64_t ram_pages_count[RAM_BLOCKS_MAX];  /* entries in ram_pages */
  struct conform_snapshot_field *fields;     /* canonical fields, in visit order */
  uint32_t field_count;
  uint32_t field_capacity;
  bool guest_visible_only;                   /* the VM clock section was left out */
};

/* With guest_visible_only, sections that are not guest results (the VM clock) are skipped. */
void conform_snapshot_take(struct conform_snapshot *snapshot, const struct machine *machine,
                           bool guest_visible_only);
void conform_snapshot_deinit(struct conform_snapshot *snapshot);
/*
 * Compares machine against the snapshot.  Returns true when equal; otherwise
 * writes the first difference into failure as "PATH: what differs", PATH
 * holding no ": " (conform_failure_path takes it back out):
 * "ram/pc.ram/0x1f3000: page 0x1f3 destination differs from source" or
 * "0000:00:03.0/testdev/count: source 0x5, destination 0x4".
 */
bool conform_snapshot_compare(const struct conform_snapshot *snapshot,
                              const struct machine *machine, char *failure,
                              size_t failure_bytes);
/* The same comparison between two snapshots (a is "source", b "destination"). */
bool conform_snapshot_diff(const struct conform_snapshot *a, const struct conform_snapshot *b,
                           char *failure, size_t failure_bytes);
/*
 * XXH3 over guest-visible state: RAM (per block its name, used length and the
 * index and hash of every non-zero page, as a snapshot records them: a
 * canonical synthetic page's hash is the digest of its content key, index and
 * generation) and every section but the VM clock.
 */
uint64_t conform_guest_digest(const struct machine *machine);
/*
 * The same, reading each section through layout's description of the same
 * idstr when layout has one (machines of two releases: another revision of
 * the same class's tables); layout NULL is the machine's own.
 */
void conform_snapshot_take_as(struct conform_snapshot *snapshot, const struct machine *machine,
                              const struct machine *layout, bool guest_visible_only);
/* The same without RAM (ram_count 0): the vmstate fields only. */
void conform_snapshot_take_fields_as(struct conform_snapshot *snapshot,
                                     const struct machine *machine,
                                     const struct machine *layout, bool guest_visible_only);
bool conform_snapshot_compare_as(const struct conform_snapshot *snapshot,
                                 const struct machine *machine, const struct machine *layout,
                                 char *failure, size_t failure_bytes);
uint64_t conform_guest_digest_as(const struct machine *machine, const struct machine *layout);
/*
 * conform_guest_digest_as with the RAM part read from snapshot, a snapshot of
 * machine taken just before (the final snapshot: RAM is hashed once for both).
 */
uint64_t conform_guest_digest_of(const struct conform_snapshot *snapshot,
                                 const struct machine *machine, const struct machine *layout);
/* Copies the PATH of a "PATH: what" difference into path (empty when there is none). */
void conform_failure_path(const char *difference, char *path, size_t path_bytes);

#endif /* CONFORM_ORACLE_H */
