/*
 * mig_limits.h: every bound of the migration layer (STYLE R7).  Each length
 * or count read from a stream is checked against one of these and against
 * the bytes remaining before it is used (STYLE R21).
 */
#ifndef MIG_LIMITS_H
#define MIG_LIMITS_H

#include "sim_base.h"

#define MIG_PAGE_BYTES UINT32_C(4096)            /* x86 target page */
#define MIG_PAGE_BITS 12
#define MIG_IDSTR_BYTES_MAX 255                  /* counted strings */
#define MIG_MACHINE_NAME_BYTES_MAX 255           /* spec §11.3 item 1 */
#define MIG_CAPABILITIES_MAX 16                  /* spec §11.3 item 3 */
#define MIG_SECTIONS_MAX 4096                    /* distinct section ids per stream */
#define MIG_RAM_BLOCKS_MAX 64
#define MIG_VMSTATE_DEPTH_MAX 8                  /* nested structs and subsections */
#define MIG_VMSTATE_FIELD_BYTES_MAX (UINT32_C(1) << 24) /* one field; also one VMS_ALLOC */
#define MIG_VMSTATE_TMP_BYTES_MAX 1024           /* a VMSTATE_WITH_TMP temporary (stack) */
#define MIG_VMSTATE_SUBSECTIONS_MAX 64           /* per description (a 64-bit seen-mask) */
#define MIG_SUBSECTION_VERSION_MAX 255           /* spec §11.3 item 4 */
#define MIG_PATH_BYTES_MAX 192                   /* "section/field" in errors */
#define MIG_LOAD_INSTANCES_MAX 64                /* vmstate handlers of one destination */
#define MIG_PACKAGED_BYTES_MAX (UINT32_C(16) << 20) /* spec §11.3 item 7 */
#define MIG_VMDESC_BYTES_MAX (UINT32_C(16) << 20) /* JSON trailer */
#define MIG_READER_BUFFER_BYTES (UINT32_C(64) << 10) /* refill-mode window */
#define MIG_WRITER_BUFFER_BYTES (UINT32_C(64) << 10)
#define MIG_BLOCK_DEVICE_BYTES_MAX (UINT64_C(1) << 50) /* a block device of unknown size */
#define MIG_ANALYZE_VALUES_MAX (UINT32_C(1) << 21) /* decoded values per stream (analyze) */
#define MIG_VFIO_RECORD_BYTES (UINT32_C(8) + MIG_PAGE_BYTES) /* be32 page, be32 gen, page */
#define MIG_VFIO_BLOCK_RECORDS_MAX 256u           /* records per DEV_DATA_STATE block (~1 MiB) */
#define MIG_VFIO_DEVICES_MAX 8u                   /* live vfio handlers per machine */
#define MIG_LOAD_LIVES_MAX 8u                     /* extra live handlers a load accepts */
#define MIG_MULTIFD_CHANNELS_MAX 16u             /* multifd-channels (QEMU: 1..255) */
#define MIG_MULTIFD_PAYLOAD_BYTES_MAX (UINT32_C(1) << 20) /* one compressed payload (QEMU's zbuff) */
/* zstd frames name their window; refused above 2^25 (32 MiB: level 20's, QEMU's highest). */
#define MIG_MULTIFD_ZSTD_WINDOW_LOG_MAX 25
#define MIG_MULTIFD_SCRATCH_BYTES (UINT32_C(64) << 10) /* decoded output with no destination */
#define MIG_POSTCOPY_REQUESTS_MAX 1024u          /* page requests queued or outstanding */
#define MIG_POSTCOPY_DISCARD_RANGES_MAX 12u      /* ranges per DISCARD command (QEMU's) */
#define MIG_PCTRACK_PAGES_MAX (UINT64_C(1) << 26) /* pages a postcopy tracker maps (256 GiB) */
#define MIG_PCTRACK_REQUESTS_MAX 4096u           /* pages a tracker requests per migration */
#define MIG_RECORD_LIVES_MAX 16u                  /* live section ids bound at once (tokenizer) */
#define MIG_BITMAP_BITS_BYTES_MAX (UINT32_C(1) << 20) /* one dirty-bitmap chunk's bits
                                                     (QEMU sends 1 KiB; generous slack) */
/* zlib's compressBound(4096): n + n/4096 + n/16384 + n/2^25 + 13 (spec §6.4). */
#define MIG_COMPRESS_PAGE_BYTES_MAX (MIG_PAGE_BYTES + (MIG_PAGE_BYTES >> 12) + \
                                     (MIG_PAGE_BYTES >> 14) + (MIG_PAGE_BYTES >> 25) + 13)

/* -dump-vmstate JSON files (mig_vmsd_diff.h): a user's file, so every count is bounded. */
#define MIG_VMSD_FILE_BYTES_MAX (UINT32_C(16) << 20) /* QEMU 7.2's x86 dump: 790 KB */
#define MIG_VMSD_JSON_DEPTH_MAX 64u              /* brackets open at once (7.2: 17) */
#define MIG_VMSD_JSON_VALUES_MAX (UINT32_C(1) << 19) /* JSON values per file (7.2: 24394) */
#define MIG_VMSD_SECTIONS_MAX 4096u              /* device classes per dump (7.2: 214) */
#define MIG_VMSD_FIELDS_MAX 1024u                /* fields per description (7.2: 70) */
#define MIG_VMSD_DESC_DEPTH_MAX 16u              /* nested descriptions (7.2: 5) */
#define MIG_VMSD_NAME_BYTES_MAX 255u             /* names, as QEMU's idstr */
#define MIG_VMSD_PATH_BYTES_MAX 768u             /* "section/field/..." in findings */
#define MIG_VMSD_FINDINGS_MAX 4096u              /* findings kept per diff; more are counted */
#define MIG_VMSD_LOOKAHEAD_MAX 64u               /* fields searched to realign two lists */
#define MIG_VMSD_SPLICES_MAX 64u                 /* substructs opened per field list */

_Static_assert(MIG_PAGE_BYTES == (UINT32_C(1) << MIG_PAGE_BITS), "page size and bits agree");
_Static_assert(MIG_READER_BUFFER_BYTES >= 2 * MIG_PAGE_BYTES,
               "a page record fits the reader window");
_Static_assert(MIG_RECORD_LIVES_MAX >= MIG_LOAD_LIVES_MAX + 1, "the tokenizer binds all handlers");
_Static_assert(MIG_READER_BUFFER_BYTES >= 0xffff, "a command payload fits the reader window");
_Static_assert(MIG_PATH_BYTES_MAX > 2 * MIG_IDSTR_BYTES_MAX / 4, "paths hold a name");

_Static_assert(MIG_VMSD_DESC_DEPTH_MAX * 3 + 2 <= MIG_VMSD_JSON_DEPTH_MAX,
               "the deepest accepted description fits the JSON depth bound");
_Static_assert(MIG_VMSD_PATH_BYTES_MAX > 2 * (MIG_VMSD_NAME_BYTES_MAX + 1),
               "a finding's path holds a section and a field name");

#endif /* MIG_LIMITS_H */
