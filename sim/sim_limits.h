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

_Static_assert(SIM_STEP_EVENTS_MAX < SIM_EVENTS_PENDING_MAX, "a step fits the queue");
_Static_assert(SIM_LINK_PACKET_BYTES_MAX <= SIM_LINK_WINDOW_BYTES_MAX,
               "a packet fits the window");

#endif /* SIM_LIMITS_H */
