/*
 * mig_format.h: wire constants of QEMU's migration stream, version 3
 * (spec/stream-format.md §2, §4, §6, §7).  Values are QEMU's; names follow
 * this project's prefixes.
 */
#ifndef MIG_FORMAT_H
#define MIG_FORMAT_H

#include "sim_base.h"

#define MIG_FILE_MAGIC UINT32_C(0x5145564d)   /* "QEVM" */
#define MIG_FILE_VERSION UINT32_C(3)
#define MIG_FILE_VERSION_COMPAT UINT32_C(2)  /* recognised only to refuse it */

/* Top-level record types (§4.1). */
#define MIG_SECTION_EOF 0x00
#define MIG_SECTION_START 0x01
#define MIG_SECTION_PART 0x02
#define MIG_SECTION_END 0x03
#define MIG_SECTION_FULL 0x04
#define MIG_SECTION_SUBSECTION 0x05
#define MIG_CONFIGURATION_CAPABILITIES "configuration/capabilities" /* spec §3 */
#define MIG_CAPABILITY_X_IGNORE_SHARED "x-ignore-shared"
#define MIG_SECTION_VMDESCRIPTION 0x06
#define MIG_SECTION_CONFIGURATION 0x07
#define MIG_SECTION_COMMAND 0x08
#define MIG_SECTION_FOOTER 0x7e

/* RAM record flags, the low bits of each record's be64 (§6.1). */
#define MIG_RAM_FLAG_FULL 0x001u
#define MIG_RAM_FLAG_ZERO 0x002u
#define MIG_RAM_FLAG_MEM_SIZE 0x004u
#define MIG_RAM_FLAG_PAGE 0x008u
#define MIG_RAM_FLAG_EOS 0x010u
#define MIG_RAM_FLAG_CONTINUE 0x020u
#define MIG_RAM_FLAG_XBZRLE 0x040u
#define MIG_RAM_FLAG_HOOK 0x080u
#define MIG_RAM_FLAG_COMPRESS_PAGE 0x100u
#define MIG_RAM_FLAG_MULTIFD_FLUSH 0x200u
#define MIG_RAM_SECTION_VERSION 4
#define MIG_RAM_IDSTR "ram"

/* The VM description's page_size, and the configuration VMSD's name. */
#define MIG_CONFIGURATION_NAME "configuration"

#endif /* MIG_FORMAT_H */
