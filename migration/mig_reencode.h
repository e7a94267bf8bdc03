/*
 * mig_reencode.h: writes a walked stream (mig_inspect.h) back out from its
 * parsed records, for `migsim reencode`.  With no options the output is
 * byte-identical to the input for every stream the walker accepts (block and
 * section names without NUL bytes).  With rechunk_records = N the RAM records
 * are regrouped: each RAM PART holds at most N page records, and the records
 * of the RAM END section move into PART sections followed by an END that
 * holds only EOS.  The result is a different but equivalent stream (spec
 * §6.2: the "last block" of CONTINUE survives section boundaries; §6.5).
 */
#ifndef MIG_REENCODE_H
#define MIG_REENCODE_H

#include "sim_base.h"
#include "mig_inspect.h"
#include "mig_stream.h"

struct mig_reencode_options {
  uint32_t rechunk_records;       /* 0: byte-identical; else page records per RAM PART */
};

struct mig_reencode {             /* caller-owned; fields private */
  struct mig_writer *writer;      /* output; not owned */
  struct mig_reencode_options options;
  bool in_ram;                    /* inside a RAM PART/END section */
  bool end_as_part;               /* the RAM END section is being written as PARTs */
  uint32_t ram_section_id;
  uint32_t section_records;       /* page records in the current RAM section */
  uint64_t sections_added;        /* extra sections written by rechunking */
};

void mig_reencode_init(struct mig_reencode *reencode, struct mig_writer *writer,
                       const struct mig_reencode_options *options);
/* The visitor: context = the struct mig_reencode.  Fails only with the writer's error. */
mig_inspect_visit_fn mig_reencode_visit;

#endif /* MIG_REENCODE_H */
