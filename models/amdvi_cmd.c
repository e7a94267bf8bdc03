/*
 * amdvi_cmd.c: the AMD IOMMU command processor (spec §5).
 *
 * Processing is synchronous on a doorbell (Control, Command Head or Command
 * Tail write) and bounded: one call runs at most commands_per_step_max
 * commands and never more than the ring holds, so a hostile ring (tail past
 * the end, zero length, garbage words) cannot keep the host busy.  The
 * default profile halts on an illegal command or an impossible ring as the
 * hardware does (Status.CmdBufRun drops until software writes Control); the
 * qemu-10.1 profile logs and continues, and counts each place where QEMU
 * itself would loop forever (spec §5.3, §11 items 5, 6, 8, 12).
 */
#include "sim_base.h"

#include "amdvi.h"
#include "amdvi_int.h"

enum cmd_outcome {
  CMD_DONE,                    /* executed or skipped; advance head */
  CMD_HALT,                    /* illegal: stop at this command (default profile) */
  CMD_STALL,                   /* waits for ATS answers: retried later, head stays */
};

#define OP_COMPLETION_WAIT 0x1u
#define OP_INVALIDATE_DEVTAB_ENTRY 0x2u
#define OP_INVALIDATE_IOMMU_PAGES 0x3u
#define OP_INVALIDATE_IOTLB_PAGES 0x4u
#define OP_INVALIDATE_INTERRUPT_TABLE 0x5u
#define OP_PREFETCH_IOMMU_PAGES 0x6u
#define OP_COMPLETE_PPR_REQUEST 0x7u
#define OP_INVALIDATE_IOMMU_ALL 0x8u

struct opcode_rule {
  uint64_t q0_reserved;        /* bits that must be zero */
  uint64_t q1_reserved;
  bool executes_anyway;        /* QEMU still executes it after logging (spec §5.2) */
};

/* Reserved-bit masks per opcode, from the table of spec §5.2. */
static const struct opcode_rule rules[9] = {
    [OP_COMPLETION_WAIT] = {UINT64_C(0x0FF0000000000000), 0, true},
    [OP_INVALIDATE_DEVTAB_ENTRY] = {UINT64_C(0x0FFFFFFFFFFF0000), UINT64_MAX, false},
    [OP_INVALIDATE_IOMMU_PAGES] = {UINT64_C(0x0FFF0000FFF00000), UINT64_C(0xFF8), true},
    [OP_INVALIDATE_IOTLB_PAGES] = {0, UINT64_C(0xFCA), false},
    [OP_INVALIDATE_INTERRUPT_TABLE] = {UINT64_C(0x0FFFFFFFFFFF0000), UINT64_MAX, false},
    [OP_PREFETCH_IOMMU_PAGES] = {UINT64_C(0x0FF0000000FF0000), UINT64_C(0xFEA), true},
    [OP_COMPLETE_PPR_REQUEST] = {UINT64_C(0x0FF00000FFFF0000), UINT64_C(0xFFFF0000FFFFFFFB),
                                 true},
    [OP_INVALIDATE_IOMMU_ALL] = {UINT64_C(0x0FFFFFFFFFFFFFFF), UINT64_MAX, true},
};

/*
 * The range an invalidation with size bit S names (spec §5.2): S=0 one 4 KiB
 * page; S=1 the naturally aligned block of 2^(z+1) bytes, z being the first
 * zero address bit at or above bit 12; z >= 51 means everything.
 */
static void invalidation_range(uint64_t address, bool size_bit, uint64_t *start, uint64_t *last)
{
  address &= ~UINT64_C(0xFFF);
  if (!size_bit) {
    *start = address;
    *last = address + 0xFFF;
    return;
  }
  uint32_t zero_bit = 12;
  while (zero_bit < 64 && (address >> zero_bit & 1) != 0) zero_bit++;
  if (zero_bit >= 51) {
    *start = 0;
    *last = UINT64_MAX;
    return;
  }
  uint64_t size = UINT64_C(1) << (zero_bit + 1);
  *start = address & ~(size - 1);
  *last = *start + size - 1;
}

static void completion_wait(struct amdvi *dev, uint64_t q0, uint64_t q1, uint64_t cmd_gpa)
{
  if (q0 & 1) {
    uint8_t data[8];
    for (uint32_t i = 0; i < 8; i++) data[i] = (uint8_t)(q1 >> (8 * i));
    uint64_t store_gpa = q0 & UINT64_C(0x000FFFFFFFFFFFF8);
    sim_trace(dev->sim, "amdvi.comwait_store", store_gpa, q1, 0, 0);
    if (!amdvi__mem_write(dev, store_gpa, data, sizeof data) && !amdvi__qemu(dev)) {
      amdvi__event_log(dev, AMDVI_EVENT_COMMAND_HW_ERROR, 0, 0, 0, cmd_gpa);
      amdvi__target_abort(dev);
    }
  }
  if (q0 & 2) {
    amdvi__status_set(dev, AMDVI_STATUS_COMWAIT_INT);
    /* QEMU raises the MSI without consulting ComWaitIntEn (§11 item 8). */
    if (amdvi__qemu(dev) || dev->completion_wait_intr) amdvi__msi_raise(dev);
  }
}

static void invalidate_iommu_pages(struct amdvi *dev, uint64_t q0, uint64_t q1)
{
  uint16_t domain_id = (uint16_t)(q0 >> 32);
  uint64_t start = 0, last = UINT64_MAX;
  if (!amdvi__qemu(dev)) invalidation_range(q1, (q1 & 1) != 0, &start, &last);
  amdvi__iotlb_flush_domain(dev, domain_id, start, last);
}

/*
 * QEMU uses it on its own IOTLB only.  The default profile also sends it to
 * the device's registered ATC (spec: the command is for device IOTLBs); an
 * answer still owed there is settled by amdvi__ats_poll.
 */
static enum cmd_outcome invalidate_iotlb_pages(struct amdvi *dev, uint64_t q0, uint64_t q1,
                                               uint64_t cmd_gpa)
{
  uint16_t devid = (uint16_t)q0;
  uint64_t start = 0, last = UINT64_MAX;
  /* QEMU: S=1 drops every entry of the device, S=0 one page. */
  if (!amdvi__qemu(dev) || (q1 & 1) == 0) invalidation_range(q1, (q1 & 1) != 0, &start, &last);
  if (!amdvi__qemu(dev) && !amdvi__ats_invalidate(dev, devid, start, last, cmd_gpa)) {
    return CMD_STALL;
  }
  amdvi__iotlb_flush_device(dev, devid, start, last);
  return CMD_DONE;
}

static enum cmd_outcome execute(struct amdvi *dev, uint32_t opcode, uint64_t q0, uint64_t q1,
                                uint64_t cmd_gpa)
{
  switch (opcode) {
  case OP_COMPLETION_WAIT:
    /* Completes only after every earlier command, ATS invalidations included. */
    if (dev->ats_pending_count > 0) return CMD_STALL;
    completion_wait(dev, q0, q1, cmd_gpa);
    break;
  case OP_INVALIDATE_DEVTAB_ENTRY: amdvi__device_mode_update(dev, (uint16_t)q0); break;
  case OP_INVALIDATE_IOMMU_PAGES: invalidate_iommu_pages(dev, q0, q1); break;
  case OP_INVALIDATE_IOTLB_PAGES: return invalidate_iotlb_pages(dev, q0, q1, cmd_gpa);
  case OP_INVALIDATE_IOMMU_ALL:
    amdvi__iotlb_flush_all(dev);
    break;
  case OP_COMPLETE_PPR_REQUEST:
    if (!amdvi__qemu(dev)) amdvi__ppr_complete(dev, q0, q1); /* QEMU: a no-op */
    break;
  default: break; /* 5, 6: no state of ours to change */
  }
  return CMD_DONE;
}

/* Decodes and runs one command; the caller advances head on CMD_DONE. */
static enum cmd_outcome command_run(struct amdvi *dev, uint64_t q0, uint64_t q1,
                                    uint64_t cmd_gpa)
{
  uint32_t opcode = (uint32_t)(q0 >> 60);
  sim_trace(dev->sim, "amdvi.command", opcode, q0, q1, cmd_gpa);
  dev->stats.commands_count++;
  if (opcode == 0 || opcode >= SIM_ARRAY_COUNT(rules)) {
    /* QEMU reports the nibble of the wrong qword (§11 item 12). */
    uint32_t flags = amdvi__qemu(dev) ? (uint32_t)(q1 >> 60) : 0;
    amdvi__event_log(dev, AMDVI_EVENT_ILLEGAL_COMMAND, 0, 0, flags, cmd_gpa);
    return dev->config.illegal_command_continue ? CMD_DONE : CMD_HALT;
  }
  const struct opcode_rule *rule = &rules[opcode];
  bool reserved = (q0 & rule->q0_reserved) != 0 || (q1 & rule->q1_reserved) != 0;
  if (reserved) {
    amdvi__event_log(dev, AMDVI_EVENT_ILLEGAL_COMMAND, 0, 0, amdvi__qemu(dev) ? opcode : 0,
                     cmd_gpa);
    if (!dev->config.illegal_command_continue) return CMD_HALT;
    if (!rule->executes_anyway) return CMD_DONE;
  }
  enum cmd_outcome outcome = execute(dev, opcode, q0, q1, cmd_gpa);
  if (outcome == CMD_STALL) {
    /* Not executed: it runs (and counts) when retried after the answers. */
    dev->stats.commands_count--;
    dev->stats.commands_stalled_count++;
    sim_trace(dev->sim, "amdvi.command_stall", opcode, dev->ats_pending_count, cmd_gpa, 0);
  }
  return outcome;
}

static void head_advance(struct amdvi *dev, uint64_t ring_bytes)
{
  uint64_t next = dev->cmdbuf_head + AMDVI_CMD_BYTES;
  /* QEMU stores the unwrapped value in the register (§11 item 5, issue #3338). */
  amdvi__reg_set(dev, AMDVI_MMIO_CMDBUF_HEAD, amdvi__qemu(dev) ? next : next % ring_bytes);
  dev->cmdbuf_head = (uint32_t)(next % ring_bytes);
  SIM_ASSERT(dev->cmdbuf_head < ring_bytes && dev->cmdbuf_head % AMDVI_CMD_BYTES == 0);
}

/* Default profile: stops the command buffer (CmdBufRun=0) with a hardware error event. */
static void halt(struct amdvi *dev, uint32_t event_code, uint64_t address)
{
  dev->cmdbuf_halted = true;
  amdvi__derive_from_registers(dev);
  if (event_code == AMDVI_EVENT_COMMAND_HW_ERROR) amdvi__target_abort(dev);
  if (event_code != 0) amdvi__event_log(dev, event_code, 0, 0, 0, address);
}

/* Checks the ring before a batch; false when nothing may run. */
static bool ring_usable(struct amdvi *dev, uint64_t ring_bytes)
{
  if (amdvi__qemu(dev)) {
    if (dev->cmdbuf_head == dev->cmdbuf_tail) return false;
    /* Zero-length ring or tail beyond it: QEMU's loop never ends (§11 item 6). */
    if (ring_bytes == 0 || dev->cmdbuf_tail >= ring_bytes) dev->stats.qemu_hazards_count++;
    return ring_bytes != 0;
  }
  /* ComLen below 8 or a pointer outside the ring: halt with an error (documented). */
  if (dev->cmdbuf_len < 256 || dev->cmdbuf_tail >= ring_bytes || dev->cmdbuf_head >= ring_bytes) {
    halt(dev, AMDVI_EVENT_COMMAND_HW_ERROR, dev->cmdbuf + dev->cmdbuf_tail);
    return false;
  }
  return dev->cmdbuf_head != dev->cmdbuf_tail;
}

uint32_t amdvi__commands_run(struct amdvi *dev)
{
  amdvi__ats_poll(dev);
  if (!dev->cmdbuf_enabled) return 0;
  uint64_t ring_bytes = dev->cmdbuf_len * AMDVI_CMD_BYTES;
  if (!ring_usable(dev, ring_bytes)) return 0;
  uint64_t limit = dev->cmdbuf_len;
  if (dev->config.commands_per_step_max != 0) {
    limit = SIM_MIN(limit, dev->config.commands_per_step_max);
  }
  uint32_t ran = 0;
  while (ran < limit && dev->cmdbuf_enabled && dev->cmdbuf_head != dev->cmdbuf_tail) {
    uint64_t cmd_gpa = dev->cmdbuf + dev->cmdbuf_head;
    uint8_t bytes[AMDVI_CMD_BYTES];
    if (!amdvi__mem_read(dev, cmd_gpa, bytes, sizeof bytes)) {
      /* Fetch failure: logged, and head moves past it (spec §5.3). */
      dev->stats.commands_count++;
      amdvi__event_log(dev, AMDVI_EVENT_COMMAND_HW_ERROR, 0, 0, 0, cmd_gpa);
      amdvi__target_abort(dev);
    } else {
      enum cmd_outcome outcome =
          command_run(dev, amdvi__le64(bytes), amdvi__le64(bytes + 8), cmd_gpa);
      if (outcome == CMD_STALL) break; /* head stays; amdvi_step retries it */
      if (outcome == CMD_HALT) {
        ran++;
        halt(dev, 0, 0);
        break;
      }
    }
    ran++;
    head_advance(dev, ring_bytes);
  }
  SIM_ASSERT(ran <= dev->cmdbuf_len);
  return ran;
}
