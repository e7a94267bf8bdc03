/*
 * ram.h: guest RAM blocks with a dirty log, dense or synthetic.
 *
 * A block is QEMU's RAMBlock: a name ("pc.ram", "pc.bios", "vga.vram"), a
 * used length that a resizable block may change up to its maximum length,
 * a host page size (4 KiB or 2 MiB; the dirty log and the stream stay at 4 KiB
 * target pages), and a `shared` flag (memory-backend share=on, which
 * x-ignore-shared and cpr-transfer leave out of the stream).
 *
 * Two backings sit behind the same page accessors:
 * - dense: real bytes, max_bytes of them, lazily zeroed by the kernel;
 * - synthetic: a 32-bit write generation per page; a page's bytes are the pure
 *   function ram_synth_fill(content key, page, generation), made only when the
 *   stream needs them; generation 0 is the zero page.  A loaded (destination)
 *   page keeps the generation read from the bytes received and, only when
 *   the bytes are not exactly that generation's content, their XXH3 digest,
 *   so a 64 GiB guest costs about 12 bytes per written page.
 *
 * Guest writes go through ram_write (dense) or ram_store (either backing),
 * which set the page's bit in the dirty log; the migration layer collects the
 * log once per round with ram_dirty_sync, as QEMU's bitmap sync does.  Loading
 * goes through ram_page_load / ram_page_load_zero, which do not log.
 */
#ifndef RAM_H
#define RAM_H

#include "sim_base.h"
#include "models_limits.h"
#include "sim.h"

struct ram_block;
/*
 * Called by ram_block_resize after the used length changed (QEMU's
 * RAMBlockNotifier ram_block_resized): the migration layer supplies it.
 */
typedef void ram_resized_fn(void *context, struct ram_block *block, uint64_t old_used_bytes);

/* One step of the guest's resize program (ram_resize.h): at guest time, the new length. */
struct ram_resize_at {
  uint64_t at_vm_ns;        /* guest time of the resize */
  uint64_t used_bytes;      /* new used length, whole host pages, <= max_bytes */
};

enum ram_backing {
  RAM_BACKING_DENSE,      /* real bytes */
  RAM_BACKING_SYNTHETIC,  /* generation per page; bytes made on demand */
};

struct ram_block_options {
  const char *name;         /* RAMBlock idstr, 1..RAM_BLOCK_NAME_BYTES_MAX bytes */
  uint64_t used_bytes;      /* initial used length, whole host pages */
  uint64_t max_bytes;       /* 0: not resizable (max = used); else >= used */
  uint32_t host_page_bytes; /* 0 or 4096: 4 KiB; or 2 MiB */
  enum ram_backing backing;
  bool shared;              /* share=on memory (x-ignore-shared skips it) */
  uint64_t gpa;             /* its region's guest address (sent with x-ignore-shared) */
};

struct ram_block {                         /* arena-owned; read fields, don't write */
  char name[RAM_BLOCK_NAME_BYTES_MAX + 1]; /* RAMBlock idstr, NUL-terminated */
  uint64_t used_bytes;                     /* used length, whole host pages */
  uint64_t page_count;                     /* used_bytes / RAM_PAGE_BYTES */
  uint64_t max_bytes;                      /* resizable up to this; == used if not */
  uint64_t max_page_count;                 /* max_bytes / RAM_PAGE_BYTES */
  uint32_t host_page_bytes;                /* 4 KiB or 2 MiB */
  bool resizable;                          /* max_bytes was given */
  bool shared;                             /* share=on */
  uint64_t gpa;                            /* region address, for x-ignore-shared */
  enum ram_backing backing;
  uint8_t *bytes;                          /* dense: max_page_count pages */
  uint32_t *generations;                   /* synthetic: per page; 0 = zero page */
  uint64_t *digests;                       /* synthetic: loaded pages' XXH3 */
  uint64_t *digest_valid;                  /* synthetic: bit per page, digests[] holds it
                                              (loaded bytes that are not the content of
                                              the generation they carry) */
  uint64_t *touched;                       /* synthetic: bit per RAM_SYNTH_CHUNK_PAGES pages
                                              ever stored or loaded; others are zero */
  uint64_t content_key;                    /* synthetic: from the seed and the name */
  uint64_t synth_pool[RAM_PAGE_BYTES / 8]; /* synthetic: ram_synth_pool(content_key) */
  uint64_t zero_hash;                      /* XXH3 of a zero page */
  uint64_t *dirty_log;                     /* bit per page, set by guest writes */
  uint64_t dirty_words_count;              /* words in dirty_log (covers max_bytes) */
  uint64_t writes_count;                   /* guest writes */
  uint64_t resize_count;                   /* ram_block_resize calls that changed it */
  uint64_t released_pages_count;           /* ram_page_release calls (release-ram) */
  ram_resized_fn *resized;                 /* notifier, or NULL (ram_block_resized_set) */
  void *resized_context;
};

/* A dense, fixed-size, 4 KiB-page block (the original constructor). */
struct ram_block *ram_block_create(struct sim *sim, const char *name, uint64_t bytes);
/* Any block; per-page arrays come from the sim's arena, sized for max_bytes. */
struct ram_block *ram_block_create_with(struct sim *sim, const struct ram_block_options *options);
/*
 * Sets the used length (QEMU's qemu_ram_resize).  Pages that leave the used
 * range are zeroed (a later growth finds them zero, generation 0) and leave
 * the dirty log; as in QEMU, every page of the new used range is then marked
 * dirty.  The block must be resizable, used_bytes whole host pages and at
 * most max_bytes.  When the length changed, the notifier runs last.
 */
void ram_block_resize(struct ram_block *block, uint64_t used_bytes);
/* Sets (callback non-NULL) or clears the block's one resize notifier. */
void ram_block_resized_set(struct ram_block *block, void *context, ram_resized_fn *callback);

/* A dense guest write: copies count bytes at offset and logs the touched pages. */
void ram_write(struct ram_block *block, uint64_t offset, const void *bytes, size_t count);
/*
 * A dense guest write of one whole page in place: logs the page as ram_write
 * does and returns its bytes, which the caller fills at once (the boot fill
 * writes its random bytes straight into RAM instead of copying them in).
 */
uint8_t *ram_page_write(struct ram_block *block, uint64_t page_index);
/*
 * A guest store of one aligned 8-byte value, either backing: dense stores the
 * bytes (as ram_write); synthetic advances the page's generation.
 */
void ram_store(struct ram_block *block, uint64_t page_index, uint32_t word_index,
               uint64_t value);
/* Dense only: the page's bytes. */
const uint8_t *ram_page(const struct ram_block *block, uint64_t page_index);
/*
 * The page's bytes, either backing: dense returns a pointer into the block;
 * synthetic materialises the page into scratch (RAM_PAGE_BYTES) and returns it.
 */
const uint8_t *ram_page_read(const struct ram_block *block, uint64_t page_index,
                             uint8_t *scratch);
bool ram_page_is_zero(const struct ram_block *block, uint64_t page_index);
/* Loading (destination): one received page / a ZERO record.  No dirty logging. */
void ram_page_load(struct ram_block *block, uint64_t page_index, const uint8_t *bytes);
void ram_page_load_zero(struct ram_block *block, uint64_t page_index);
/*
 * The source gives a sent page back to the host (QEMU's ram_discard_range
 * under release-ram): dense memory is returned to the kernel where the page
 * is aligned to it (else zeroed), a synthetic page drops to generation 0;
 * either way it reads as zeros after.  No dirty logging; counted.
 */
void ram_page_release(struct ram_block *block, uint64_t page_index);
/* Dense only: writable page for loading; does not touch the dirty log. */
uint8_t *ram_page_mut(struct ram_block *block, uint64_t page_index);
/* Synthetic only: the page's write generation (0 = never written or zeroed). */
uint32_t ram_page_generation(const struct ram_block *block, uint64_t page_index);

/*
 * Synthetic only: g >= 1 when the page's bytes are exactly
 * ram_synth_fill(content_key, page, g) (written by the guest, or loaded with
 * exactly those bytes), else 0 (zero, or loaded bytes kept only as a digest).
 * Two such pages of blocks with the same content key are equal iff their
 * generations are: the oracles compare them without making or hashing bytes.
 */
uint32_t ram_page_canonical(const struct ram_block *block, uint64_t page_index);

/*
 * ORs the dirty log into bitmap (dirty_words_count words), clears the log and
 * returns how many bits were newly set in bitmap.
 */
uint64_t ram_dirty_sync(struct ram_block *block, uint64_t *bitmap);
/* Drops the log (a block whose pages are not migrated, e.g. under x-ignore-shared). */
void ram_dirty_clear(struct ram_block *block);
/* Marks every used page in the log (the first sync of a migration sees all RAM). */
void ram_dirty_all(struct ram_block *block);
/*
 * XXH3 of one page's bytes (synthetic: of the materialised page, or the digest
 * kept at load); equal across backings for equal bytes.  ram_block_hash is
 * dense only.
 */
uint64_t ram_page_hash(const struct ram_block *block, uint64_t page_index);
uint64_t ram_block_hash(const struct ram_block *block);
/*
 * The next page at or after page_index that may be non-zero (synthetic: only
 * written or loaded pages; dense: every page), or page_count.  Lets callers
 * skip the untouched bulk of a huge synthetic block.
 */
uint64_t ram_next_touched(const struct ram_block *block, uint64_t page_index);

/*
 * The synthetic content function: 4 KiB of bytes for (key, page, generation
 * >= 1); pool must be ram_synth_pool(key), 512 words that a block computes once.
 */
void ram_synth_pool(uint64_t content_key, uint64_t *pool);
void ram_synth_fill(const uint64_t *restrict pool, uint64_t content_key,
                    uint64_t page_index, uint32_t generation, uint8_t *restrict out);
/* The content key of a block called name in a simulation seeded with seed. */
uint64_t ram_synth_key(uint64_t seed, const char *name);

#endif /* RAM_H */
