/*
 * sim_limits.h: every bound of the sim/ layer in one place (STYLE R7).
 */
#ifndef SIM_LIMITS_H
#define SIM_LIMITS_H

#include "sim_base.h"

/* Armed events one simulation may hold. */
#define SIM_EVENTS_PENDING_MAX (UINT32_C(1) << 24)
/* Events one dispatch step may run before yielding back to the loop. */
#define SIM_STEP_EVENTS_MAX UINT32_C(4096)
/* Longest trace kind name, and the largest number of kept trace records. */
#define SIM_TRACE_KIND_BYTES_MAX 48
#define SIM_TRACE_RECORDS_MAX (UINT64_C(1) << 26)
/* Bytes one simulation's arena may hand out. */
#define SIM_ARENA_BYTES_MAX (UINT64_C(64) << 30)
/* Link: window (bytes in flight) and packet size bounds. */
#define SIM_LINK_WINDOW_BYTES_MAX (UINT32_C(1) << 30)
#define SIM_LINK_PACKET_BYTES_MAX (UINT32_C(1) << 20)
#define SIM_LINK_PACKETS_MAX (UINT32_C(1) << 16)
/* Link: fastest bandwidth (link_serialise_ns stays exact below it) and longest fault delay. */
#define SIM_LINK_BANDWIDTH_BYTES_PER_S_MAX (UINT64_C(1) << 40)
#define SIM_LINK_DELAY_NS_MAX (UINT64_C(100) * 1000000000)
/* Transport (sim_transport.h): send and receive buffers, and its timeouts (one hour). */
#define SIM_LINK_CONN_BUFFER_BYTES_MAX (UINT32_C(1) << 30)
#define SIM_LINK_CONN_TIMEOUT_NS_MAX (UINT64_C(3600) * 1000000000)
/*
 * A fiber's stack, and the inaccessible guard below it.  The stack is what a
 * thread got by default (8 MiB); it is reserved, not committed, so a fiber
 * costs the pages its deepest call touched.  The guard is wider than any one
 * frame on the simulated path, so an overflow lands in it instead of skipping it.
 */
#define SIM_FIBER_STACK_BYTES (UINT32_C(8) << 20)
#define SIM_FIBER_GUARD_BYTES (UINT32_C(64) << 10)

_Static_assert(SIM_STEP_EVENTS_MAX < SIM_EVENTS_PENDING_MAX, "a step fits the queue");
_Static_assert(SIM_LINK_PACKET_BYTES_MAX <= SIM_LINK_WINDOW_BYTES_MAX,
               "a packet fits the window");
/* Fault delays and timeouts added to any time below 2^63 ns stay below 2^64. */
_Static_assert(SIM_LINK_DELAY_NS_MAX < (UINT64_C(1) << 62), "delays add without overflow");
_Static_assert(SIM_LINK_CONN_TIMEOUT_NS_MAX < (UINT64_C(1) << 62), "timeouts add without overflow");
_Static_assert(SIM_FIBER_STACK_BYTES % 4096 == 0 && SIM_FIBER_GUARD_BYTES % 4096 == 0,
               "fiber stack and guard are whole pages");

#endif /* SIM_LIMITS_H */
