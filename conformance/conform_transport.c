/*
 * conform_transport.c: each URI's connection profile (conform_transport.h,
 * docs/transports.md).
 */
#include "sim_base.h"

#include "conform_transport.h"

static void profile_tcp(const struct conform_scenario *scenario, struct mig_conn_profile *out)
{
  const struct link_options *link = &scenario->link;
  out->carried = true;
  out->conn.link = *link;
  /* One migration thread copies every byte twice: the rate it can feed a socket at. */
  out->conn.link.bandwidth_bytes_per_s =
      SIM_MIN(link->bandwidth_bytes_per_s, CONFORM_TRANSPORT_COPY_BYTES_PER_S);
  out->conn.send_buffer_bytes = link->window_bytes;
  out->conn.recv_buffer_bytes = link->window_bytes;
  out->conn.rto_ns_min = scenario->transport_rto_ns_min != 0 ? scenario->transport_rto_ns_min
                                                             : CONFORM_TRANSPORT_RTO_NS_MIN;
  out->conn.rto_ns_max = SIM_MAX(CONFORM_TRANSPORT_RTO_NS_MAX, out->conn.rto_ns_min);
  out->conn.dead_ns = scenario->transport_dead_ns != 0 ? scenario->transport_dead_ns
                                                       : CONFORM_TRANSPORT_DEAD_NS_DEFAULT;
  /* SYN, SYN-ACK: the first data byte leaves with the third packet, one round trip on. */
  out->open_ns = 2 * link->latency_ns;
}

bool conform_transport_profile(enum conform_transport transport,
                               const struct conform_scenario *scenario,
                               struct mig_conn_profile *profile, char *error,
                               size_t error_bytes)
{
  memset(profile, 0, sizeof(*profile));
  switch (transport) {
  case CONFORM_TRANSPORT_SIM:
  case CONFORM_TRANSPORT_FILE: return true;
  case CONFORM_TRANSPORT_TCP: profile_tcp(scenario, profile); break;
  case CONFORM_TRANSPORT_FD:
    profile_tcp(scenario, profile);
    profile->open_ns = 0;  /* management connected it before handing it over */
    break;
  case CONFORM_TRANSPORT_UNIX:
    profile_tcp(scenario, profile);
    profile->conn.link.bandwidth_bytes_per_s = CONFORM_TRANSPORT_UNIX_BYTES_PER_S;
    profile->conn.link.latency_ns = CONFORM_TRANSPORT_UNIX_LATENCY_NS;
    profile->conn.link.window_bytes = CONFORM_TRANSPORT_UNIX_BUFFER_BYTES;
    profile->conn.link.packet_bytes_max =
        SIM_MIN(scenario->link.packet_bytes_max, CONFORM_TRANSPORT_UNIX_BUFFER_BYTES);
    profile->conn.send_buffer_bytes = CONFORM_TRANSPORT_UNIX_BUFFER_BYTES;
    profile->conn.recv_buffer_bytes = CONFORM_TRANSPORT_UNIX_BUFFER_BYTES;
    profile->open_ns = CONFORM_TRANSPORT_UNIX_CONNECT_NS;
    break;
  case CONFORM_TRANSPORT_EXEC:
    profile_tcp(scenario, profile);
    profile->conn.link.bandwidth_bytes_per_s =
        SIM_MIN(profile->conn.link.bandwidth_bytes_per_s, CONFORM_TRANSPORT_EXEC_BYTES_PER_S);
    profile->conn.send_buffer_bytes += CONFORM_TRANSPORT_PIPE_BYTES;
    profile->open_ns += CONFORM_TRANSPORT_EXEC_START_NS;
    break;
  case CONFORM_TRANSPORT_RDMA:
    profile_tcp(scenario, profile);
    /* The NIC reads pages from guest memory: no thread copies them. */
    profile->conn.link.bandwidth_bytes_per_s = scenario->link.bandwidth_bytes_per_s;
    /* rdma_cm: address and route resolution, then the connect exchange. */
    profile->open_ns = 6 * scenario->link.latency_ns;
    break;
  default: SIM_ASSERT(false);
  }
  if (!link_conn_options_valid(&profile->conn)) {
    snprintf(error, error_bytes,
             "the %s: transport needs link packets larger than its %u-byte segment header",
             conform_transport_name(transport), LINK_SEGMENT_HEADER_BYTES);
    return false;
  }
  return true;
}
