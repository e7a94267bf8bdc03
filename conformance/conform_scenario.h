/*
 * conform_scenario.h: scenario files (JSON) and the embedded default scenario.
 *
 * A scenario names the seed, run bounds, the machine (RAM blocks, devices
 * at PCI addresses, the guest program), the link, and QMP-shaped migration
 * commands scheduled in simulated time.  Every number is range-checked;
 * every error reads `file:line:column: message` followed by the line and a
 * caret (STYLE R9).  docs/scenario.md documents the format.
 */
#ifndef CONFORM_SCENARIO_H
#define CONFORM_SCENARIO_H

#include "sim_base.h"
#include "shmclient.h"
#include "compat.h"
#include "conform_plan.h"
#include "machine.h"
#include "mig_caps.h"
#include "mig_state.h"
#include "sim_link.h"

#define CONFORM_COMMANDS_MAX 64
#define CONFORM_SCENARIO_BYTES_MAX (UINT32_C(1) << 20)
#define CONFORM_MACHINE_RAM_BYTES_MAX (UINT64_C(4) << 30) /* dense backing, per machine */
#define CONFORM_MACHINE_SYNTHETIC_BYTES_MAX (UINT64_C(128) << 30) /* synthetic, per machine */
#define CONFORM_ERROR_BYTES 1024
#define CONFORM_RETRIES_MAX 8                /* migration.retries */
#define CONFORM_HOPS_MAX 4                   /* "destination" entries: one per migrate */
#define CONFORM_SHM_CLIENTS_MAX 4            /* "shm_clients" entries */

/* migration.expect: the outcome a scenario asks for (absent: either clean outcome). */
enum conform_expect {
  CONFORM_EXPECT_ANY,                /* completed, or failed cleanly on the source */
  CONFORM_EXPECT_COMPLETED,          /* the (last) migration must complete */
  CONFORM_EXPECT_FAILED,             /* the (last) migration must fail cleanly */
  CONFORM_EXPECT_CANCELLED,          /* the (last) migration must end cancelled */
};

enum conform_command_kind {
  CONFORM_COMMAND_SET_PARAMETERS,    /* migrate-set-parameters */
  CONFORM_COMMAND_SET_CAPABILITIES,  /* migrate-set-capabilities */
  CONFORM_COMMAND_MIGRATE,           /* migrate */
  CONFORM_COMMAND_MIGRATE_INCOMING,  /* migrate-incoming: the destination listens at uri */
  CONFORM_COMMAND_CANCEL,            /* migrate-cancel */
  CONFORM_COMMAND_START_POSTCOPY,    /* migrate-start-postcopy */
  CONFORM_COMMAND_PAUSE,             /* migrate-pause */
  CONFORM_COMMAND_RECOVER,           /* migrate-recover (destination; uri) */
  CONFORM_COMMAND_CONTINUE,          /* migrate-continue (state) */
  CONFORM_COMMAND_QUERY_MIGRATE,     /* query-migrate: records the stats in the timeline */
};

/* A migration URI's transport (QMP's "uri" prefixes; docs/transports.md). */
enum conform_transport {
  CONFORM_TRANSPORT_SIM,             /* "sim:<name>": the scenario's link as given */
  CONFORM_TRANSPORT_TCP,             /* "tcp:host:port" */
  CONFORM_TRANSPORT_UNIX,            /* "unix:path" */
  CONFORM_TRANSPORT_EXEC,            /* "exec:command" */
  CONFORM_TRANSPORT_FD,              /* "fd:name" */
  CONFORM_TRANSPORT_FILE,            /* "file:path": saved, restored by migrate-incoming */
  CONFORM_TRANSPORT_RDMA,            /* "rdma:host:port" */
  CONFORM_TRANSPORT_COUNT
};

/* The transport names, "sim" .. "rdma". */
const char *conform_transport_name(enum conform_transport transport);

struct conform_command {
  uint64_t at_ns;                    /* simulated time it runs */
  enum conform_command_kind kind;
  char execute[32];                  /* the QMP command name */
  struct mig_params_set params;      /* set-parameters: the values given, QMP units */
  struct mig_caps caps_given;        /* set-capabilities: capabilities listed */
  struct mig_caps caps_state;        /* ...and their states */
  char uri[128];                     /* migrate, migrate-incoming, migrate-recover */
  enum conform_transport transport;  /* uri's transport */
  enum mig_state state;              /* migrate-continue: the state it expects */
};

/*
 * "shm_clients": external processes sharing guest memory as a vhost-user
 * backend does (models/shmclient.h).  Each destination gets them; they read
 * from the moment the destination runs (postcopy RUN, or the end of the
 * load), and `registered` ones take part in postcopy's userfaultfd.
 */
struct conform_shm_client {
  struct shmclient_config config;    /* block_index resolved from "block" */
  bool registered;                   /* "register", default true */
};

struct conform_scenario {
  char name[256];                    /* file path, or "<default>" */
  char description[256];             /* optional one line: what the scenario shows */
  uint64_t text_xxh3;                /* XXH3-64 of the scenario's bytes, for reports */
  uint64_t seed;
  uint64_t events_max;               /* run bound, events */
  uint64_t time_ns_max;              /* run bound, simulated time */
  struct machine_config machine;     /* the source (and every destination without "destination") */
  char release[COMPAT_NAME_BYTES_MAX + 1]; /* machine.release: a simulated release, or "" */
  /*
   * "destination": the machine each migrate creates, in order (a chain:
   * started on the source's release, then to each hop's); the last one
   * serves any further migrate.  destination_count 0: built like the source.
   */
  struct machine_config destinations[CONFORM_HOPS_MAX];
  char destination_releases[CONFORM_HOPS_MAX][COMPAT_NAME_BYTES_MAX + 1]; /* or "" */
  uint32_t destination_count;
  struct link_options link;
  uint64_t transport_dead_ns;        /* "transport".dead_ns; 0: the default (docs/transports.md) */
  uint64_t transport_rto_ns_min;     /* "transport".rto_ns_min; 0: the default */
  uint64_t section_pages_max;        /* pages per PART section */
  uint64_t retry_delay_ns;           /* after a source-side failure, migrate again this later */
  uint32_t retries_max;              /* how many times (0: never) */
  enum conform_expect expect;        /* migration.expect */
  uint32_t cut_points_count;         /* migration.explore_cut.points; 0: no exploration */
  struct conform_command commands[CONFORM_COMMANDS_MAX]; /* sorted by at_ns, stable */
  struct mig_caps caps;              /* capabilities in force at the first migrate */
  uint32_t command_count;
  bool quirk_serialize_iterate;      /* migration.quirks "serialize-iterate" (mig_precopy.h) */
  struct conform_plan faults;        /* "faults" and "regress" (conform_plan.h, docs/faults.md) */
  struct conform_shm_client shm_clients[CONFORM_SHM_CLIENTS_MAX];
  uint32_t shm_client_count;
};

/* The default scenario's JSON text (what `migsim` runs with no arguments). */
const char *conform_scenario_default_text(void);
/* Parses text; on failure returns false with a `name:line:col: message` in error. */
bool conform_scenario_parse(const char *text, size_t length, const char *name,
                            struct conform_scenario *scenario, char *error,
                            size_t error_bytes);
/* Reads and parses a file (at most CONFORM_SCENARIO_BYTES_MAX bytes). */
bool conform_scenario_load(const char *path, struct conform_scenario *scenario, char *error,
                           size_t error_bytes);

#endif /* CONFORM_SCENARIO_H */
