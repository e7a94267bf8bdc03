/*
 * shmclient.c: the vhost-user-style shared-memory client (overview in
 * shmclient.h).  Each read draws an address in the client's own space from
 * the stream "host/shmclient<index>", translates it through the mapping
 * table, and either reads the page now or waits on the userfaultfd.
 */
#include "sim_base.h"

#include "shmclient.h"


#define SHMCLIENT_FOLD_MUL UINT64_C(0xc2b2ae3d27d4eb4f)

struct shmclient {
  struct machine *machine;
  struct shmclient_config config;
  uint32_t index;
  struct sim_prng prng;
  struct sim_event event;          /* next read */
  struct uffd_waiter waiter;
  bool registered;                 /* its region is on the machine's userfaultfd */
  bool running;
  bool blocked;                    /* a read waits for its page */
  uint64_t start_ns;
  uint64_t blocked_since_ns;
  uint64_t pending_page;           /* blocked: the page of the waiting read */
  struct shmclient_stats stats;
};

bool shmclient_config_valid(const struct machine *machine, const struct shmclient_config *config)
{
  if (config->block_index >= machine_ram_count(machine)) return false;
  const struct ram_block *block = machine_ram(machine, config->block_index);
  bool aligned = config->map_offset_bytes % RAM_PAGE_BYTES == 0 &&
                 config->map_bytes % RAM_PAGE_BYTES == 0 &&
                 config->client_base % RAM_PAGE_BYTES == 0;
  return aligned && config->map_bytes > 0 && config->map_offset_bytes < block->used_bytes &&
         config->map_bytes <= block->used_bytes - config->map_offset_bytes &&
         config->client_base <= UINT64_MAX - config->map_bytes && config->reads_per_s > 0 &&
         config->reads_per_s <= SIM_NS_PER_S;
}

static void shmclient_on_event(struct sim *sim, struct sim_event *event);

struct shmclient *shmclient_create(struct machine *machine, const struct shmclient_config *config,
                                   uint32_t index)
{
  SIM_ASSERT(shmclient_config_valid(machine, config));
  SIM_ASSERT(index < 16);
  struct sim *sim = machine_sim(machine);
  struct shmclient *client = sim_alloc(sim, sizeof(*client));
  client->machine = machine;
  client->config = *config;
  client->index = index;
  char stream[32];
  snprintf(stream, sizeof(stream), "host/shmclient%" PRIu32, index);
  sim_prng_stream(sim, &client->prng, stream);
  sim_event_init(&client->event, shmclient_on_event, "shmclient.read");
  return client;
}

void shmclient_register(struct shmclient *client)
{
  SIM_ASSERT(machine_uffd(client->machine) != NULL);
  client->registered = true;
}

uint32_t shmclient_who(const struct shmclient *client)
{
  return UFFD_WHO_CLIENT_BASE + client->index;
}

bool shmclient_translate(const struct shmclient *client, uint64_t client_address,
                         uint32_t *block_index, uint64_t *page_index)
{
  const struct shmclient_config *config = &client->config;
  if (client_address < config->client_base) return false;
  uint64_t delta = client_address - config->client_base;
  if (delta >= config->map_bytes) return false;
  *block_index = config->block_index;
  *page_index = (config->map_offset_bytes + delta) / RAM_PAGE_BYTES;
  return true;
}

static void shmclient_schedule(struct shmclient *client)
{
  struct sim *sim = machine_sim(client->machine);
  uint64_t interval_ns = SIM_MAX(SIM_NS_PER_S / client->config.reads_per_s, 1);
  uint64_t at_ns = sim_now_ns(sim) + interval_ns / 2 + sim_prng_below(&client->prng, interval_ns);
  if (at_ns - client->start_ns >= client->config.duration_ns) return;
  sim_event_schedule_at(sim, &client->event, at_ns);
}

/* The read itself: the page's bytes, as the client sees them now, folded into its digest. */
static void shmclient_read(struct shmclient *client, uint64_t page_index)
{
  const struct ram_block *block = machine_ram(client->machine, client->config.block_index);
  uint64_t hash = ram_page_hash(block, page_index);
  uint64_t x = (client->stats.digest << 13 | client->stats.digest >> 51) ^ page_index;
  client->stats.digest = x * SHMCLIENT_FOLD_MUL ^ hash;
  client->stats.reads_count++;
  sim_trace(machine_sim(client->machine), "shmclient.read", client->index, page_index, hash, 0);
}

static void shmclient_on_wake(void *context, struct uffd_waiter *waiter)
{
  struct shmclient *client = context;
  SIM_ASSERT(waiter == &client->waiter && client->blocked);
  client->blocked = false;
  client->stats.blocked_ns += sim_now_ns(machine_sim(client->machine)) - client->blocked_since_ns;
  shmclient_read(client, client->pending_page);
  if (client->running) shmclient_schedule(client);
}

static void shmclient_on_event(struct sim *sim, struct sim_event *event)
{
  struct shmclient *client = SIM_CONTAINER_OF(event, struct shmclient, event);
  SIM_ASSERT(client->running && !client->blocked);
  uint64_t pages = client->config.map_bytes / RAM_PAGE_BYTES;
  uint64_t address = client->config.client_base +
                     sim_prng_below(&client->prng, pages) * RAM_PAGE_BYTES;
  uint32_t block_index;
  uint64_t page_index;
  bool mapped = shmclient_translate(client, address, &block_index, &page_index);
  SIM_ASSERT(mapped);
  struct uffd *uffd = machine_uffd(client->machine);
  if (uffd != NULL && client->registered &&
      !uffd_touch(uffd, &client->waiter, block_index, page_index, shmclient_who(client),
                  shmclient_on_wake, client)) {
    client->blocked = true;
    client->blocked_since_ns = sim_now_ns(sim);
    client->pending_page = page_index;
    client->stats.faults_count++;
    return;
  }
  if (uffd != NULL && uffd_armed(uffd) && uffd_host_page_missing(uffd, block_index, page_index)) {
    client->stats.stale_reads_count++;
  }
  shmclient_read(client, page_index);
  shmclient_schedule(client);
}

void shmclient_start(struct shmclient *client)
{
  SIM_ASSERT(!client->running);
  client->running = true;
  client->start_ns = sim_now_ns(machine_sim(client->machine));
  if (!client->blocked) shmclient_schedule(client);
}

void shmclient_stop(struct shmclient *client)
{
  client->running = false;
  sim_event_cancel(machine_sim(client->machine), &client->event);
}

void shmclient_stats_get(const struct shmclient *client, struct shmclient_stats *stats)
{
  *stats = client->stats;
}
