/*
 * mig_pctrack.h: the postcopy page tracker of a destination without RAM
 * (`migsim sink`): it follows a walked stream (mig_inspect visitor events)
 * and checks, per target page, QEMU 7.2's postcopy delivery rules
 * (spec/stream-format.md §4.6, §6.8; docs/postcopy.md):
 *   - POSTCOPY_ADVISE with its 16-byte body turns tracking on; its page-size
 *     summary must be 0x1000 (4 KiB host pages: hugepage-backed RAM is not
 *     tracked here);
 *   - the RAM setup (MEM_SIZE) sizes one received bitmap per block (at most
 *     MIG_PCTRACK_PAGES_MAX pages in all: a larger guest migrates by
 *     precopy untracked, and its postcopy ADVISE is refused);
 *   - before LISTEN every page record sets its bit (precopy may resend);
 *     POSTCOPY_RAM_DISCARD clears the bits of its ranges;
 *   - from LISTEN on each page must be missing when it arrives (exactly
 *     once: "arrived twice" otherwise), ZERO or PAGE only, on the main
 *     channel or the preempt one;
 *   - at EOF every page must have arrived ("never received"), requested
 *     pages first.
 * At LISTEN the tracker draws the pages to request: min(requests_max,
 * missing) of the missing pages, uniformly from a seed (splitmix64 and
 * reservoir sampling, one pass over the bitmaps); mig_pctrack_pick hands
 * them out.  Errors carry the record's
 * offset and a `ram/<block>` or `command/<NAME>` path.  Deterministic: no
 * clock, no pointer values.
 */
#ifndef MIG_PCTRACK_H
#define MIG_PCTRACK_H

#include "sim_base.h"
#include "mig_err.h"
#include "mig_inspect.h"
#include "mig_limits.h"

struct mig_pctrack_request {
  uint32_t block_index;             /* index into the walk's inspect->blocks */
  uint64_t page_index;              /* target page inside the block */
};

struct mig_pctrack_stats {
  uint64_t precopy_pages_count;     /* page records before LISTEN */
  uint64_t discard_pages_count;     /* pages DISCARD ranges covered */
  uint64_t missing_at_listen_count; /* pages not received when LISTEN came */
  uint64_t postcopy_pages_count;    /* pages from LISTEN on, each exactly once */
  uint64_t preempt_pages_count;     /* of those, on the preempt channel */
  uint64_t requested_count;         /* pages picked to request */
  uint64_t requested_arrived_count; /* of those, arrived (once each) */
};

struct mig_pctrack {                /* caller-owned; fields private */
  uint64_t rng;                     /* splitmix64 state */
  uint32_t requests_max;
  bool tracking;                    /* ADVISE with a RAM body came */
  bool listening;                   /* LISTEN came */
  uint32_t block_count;
  uint64_t page_counts[MIG_RAM_BLOCKS_MAX];
  uint64_t *received[MIG_RAM_BLOCKS_MAX];   /* a bit per page */
  uint64_t *requested[MIG_RAM_BLOCKS_MAX];
  uint64_t pages_count;             /* over every block */
  bool oversize;                    /* RAM over MIG_PCTRACK_PAGES_MAX: no bitmaps */
  struct mig_pctrack_request *picks; /* drawn at LISTEN: requests_max entries */
  uint32_t picks_count;
  uint32_t picks_next;
  struct mig_pctrack_stats stats;
};

void mig_pctrack_init(struct mig_pctrack *track, uint64_t seed, uint32_t requests_max);
void mig_pctrack_deinit(struct mig_pctrack *track);
/*
 * One walk event (ADVISE, RAM_BLOCKS, pages, DISCARD, LISTEN, EOF; others
 * are ignored).  channel is 0 for the main channel, 1 for the preempt one
 * (whose pages come as RAM_PAGE events built by the caller).  MIG_OK or the
 * code with *error filled (offset, path, detail).
 */
enum mig_err mig_pctrack_visit(struct mig_pctrack *track, const struct mig_inspect_event *event,
                               uint32_t channel, struct mig_error *error);
/*
 * After LISTEN: up to out_max of the pages drawn at LISTEN not handed out
 * yet; returns the count (0: all handed out).  The caller requests them
 * (REQ_PAGES_ID / REQ_PAGES, mig_rp.h); they count as requested from here.
 */
uint32_t mig_pctrack_pick(struct mig_pctrack *track, struct mig_pctrack_request *out,
                          uint32_t out_max);
bool mig_pctrack_listening(const struct mig_pctrack *track);

/*
 * The postcopy-preempt channel (spec §6.9; QEMU 7.2: connected at setup,
 * quiet until postcopy, then the requested pages as bare RAM records (ZERO
 * or PAGE, CONTINUE per this channel), ended by one EOS), parsed as bytes
 * arrive (push mode, one record held).  Each page goes to the tracker as
 * channel 1 and joins the block's page counts in inspect (the walk's).
 * Errors: offset on this channel, path `preempt/...` or `preempt/ram/<block>`.
 */
struct mig_pctrack_preempt {        /* caller-owned; fields private except the counters */
  uint64_t offset;                  /* channel bytes taken */
  uint64_t record_offset;           /* of the record being read */
  size_t count;                     /* its bytes held */
  int32_t block_index;              /* the block CONTINUE means; -1: none yet */
  bool eos;                         /* the final EOS came */
  uint64_t pages_count;
  uint8_t bytes[8 + 1 + MIG_IDSTR_BYTES_MAX + MIG_PAGE_BYTES];
};

void mig_pctrack_preempt_init(struct mig_pctrack_preempt *preempt);
enum mig_err mig_pctrack_preempt_feed(struct mig_pctrack_preempt *preempt,
                                      struct mig_pctrack *track, struct mig_inspect *inspect,
                                      const uint8_t *bytes, size_t count,
                                      struct mig_error *error);
/* Inside a record: the channel owes bytes. */
bool mig_pctrack_preempt_busy(const struct mig_pctrack_preempt *preempt);
const struct mig_pctrack_stats *mig_pctrack_stats(const struct mig_pctrack *track);

#endif /* MIG_PCTRACK_H */
