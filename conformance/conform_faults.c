/*
 * conform_faults.c: a scenario's fault plan at run time, and swarm drawing
 * (overview in conform_faults.h, language in docs/faults.md).
 *
 * Each plan fault has a slot with two embedded events (fire, heal).  Link
 * knobs are composed per direction from every active link, partition and
 * bandwidth fault, then set on the attempt's links; so overlapping faults
 * add up and a heal recomputes the rest.
 */
#include "sim_base.h"

#include "conform_faults.h"
#include "mig_plug.h"
#include "mig_state.h"

#define RETRY_DELAY_NS (100 * SIM_NS_PER_MS) /* management's pause before migrating again */

struct slot {
  struct conform_faults *owner;
  uint32_t index;                    /* in plan->faults */
  struct sim_event fire_event;
  struct sim_event heal_event;
  bool triggered;                    /* its trigger came (the fire event is set) */
  bool fired;
  bool active;                       /* fired, not yet healed (link, partition, ...) */
  uint64_t fired_ns;
};

struct conform_faults {
  struct sim *sim;
  const struct conform_plan *plan;
  struct conform_faults_env env;
  struct mig_precopy *precopy;       /* the current attempt's, NULL before migrate */
  const struct machine *source;      /* its source machine */
  struct link *forward;
  struct link *reverse;
  struct mig_plug *plug;             /* the attempt's plug-in (multifd, postcopy), or NULL */
  uint64_t reverse_lost_count;       /* the return path's packets lost when the attempt began */
  struct slot slots[CONFORM_PLAN_FAULTS_MAX];
  struct sim_event heal_event;       /* heal_ns: every fault heals */
  struct conform_faults_summary summary;
  const struct machine *dead[CONFORM_PLAN_FAULTS_MAX]; /* machines whose process crashed */
  uint32_t dead_count;
};

static void machine_died(struct conform_faults *faults, const struct machine *machine)
{
  SIM_ASSERT(faults->dead_count < CONFORM_PLAN_FAULTS_MAX); /* at most one per fault */
  faults->dead[faults->dead_count++] = machine;
}

bool conform_faults_machine_dead(const struct conform_faults *faults,
                                 const struct machine *machine)
{
  for (uint32_t i = 0; i < faults->dead_count; i++) {
    if (faults->dead[i] == machine) return true; /* identity only, never order (R16) */
  }
  return false;
}

static const struct conform_plan_fault *slot_fault(const struct slot *slot)
{
  return &slot->owner->plan->faults[slot->index];
}

/* ------------------------------------------------------------ link knobs */

static bool ratio_above(struct sim_ratio a, struct sim_ratio b)
{
  if (a.numerator == 0) return false;
  if (b.numerator == 0) return true;
  return (__extension__(unsigned __int128)a.numerator * b.denominator) >
         (__extension__(unsigned __int128)b.numerator * a.denominator);
}

/* The larger of each knob: overlapping link faults add up. */
static void knobs_merge(struct link_faults *into, const struct link_faults *from)
{
  into->jitter_ns_max = SIM_MAX(into->jitter_ns_max, from->jitter_ns_max);
  if (ratio_above(from->loss, into->loss)) into->loss = from->loss;
  if (from->burst_enter.numerator > 0) {
    into->burst_enter = from->burst_enter;
    into->burst_exit = from->burst_exit;
    into->burst_loss = from->burst_loss;
  }
  if (ratio_above(from->duplicate, into->duplicate)) {
    into->duplicate = from->duplicate;
    into->duplicate_delay_ns_max = from->duplicate_delay_ns_max;
  }
  if (ratio_above(from->reorder, into->reorder)) {
    into->reorder = from->reorder;
    into->reorder_delay_ns_max = from->reorder_delay_ns_max;
  }
  if (ratio_above(from->corrupt, into->corrupt)) into->corrupt = from->corrupt;
}

static bool direction_has(enum conform_plan_direction given, enum conform_plan_direction want)
{
  return given == CONFORM_PLAN_BOTH || given == want;
}

/* Until when a partition fired at fired_ns holds. */
static uint64_t partition_until(const struct conform_faults *faults, const struct slot *slot)
{
  const struct conform_plan_fault *fault = slot_fault(slot);
  if (fault->duration_ns > 0) return slot->fired_ns + fault->duration_ns;
  return faults->plan->has_heal ? SIM_MAX(faults->plan->heal_ns, slot->fired_ns) : UINT64_MAX;
}

static void knobs_compose(const struct conform_faults *faults,
                          enum conform_plan_direction direction, struct link_faults *out)
{
  memset(out, 0, sizeof *out);
  for (uint32_t i = 0; i < faults->plan->fault_count; i++) {
    const struct slot *slot = &faults->slots[i];
    const struct conform_plan_fault *fault = slot_fault(slot);
    if (!slot->active || !direction_has(fault->direction, direction)) continue;
    if (fault->kind == CONFORM_PLAN_LINK) knobs_merge(out, &fault->link);
    /*
     * On a carried connection (tcp: and the rest) a partition loses packets
     * and the transport resets once it outlasts the dead time; on the raw
     * sim: link it is that reset at once (partition_act), not lost bytes.
     */
    if (fault->kind == CONFORM_PLAN_PARTITION && link_carried(faults->forward)) {
      out->partition_until_ns = SIM_MAX(out->partition_until_ns, partition_until(faults, slot));
    }
    if (fault->kind == CONFORM_PLAN_BANDWIDTH) {
      out->bandwidth_bytes_per_s = out->bandwidth_bytes_per_s == 0
                                       ? fault->bytes_per_s
                                       : SIM_MIN(out->bandwidth_bytes_per_s, fault->bytes_per_s);
    }
  }
  SIM_ASSERT(link_faults_valid(out));
}

/* Sets the composed knobs on the attempt's links. */
static void links_apply(struct conform_faults *faults)
{
  struct link_faults knobs;
  if (faults->forward != NULL) {
    knobs_compose(faults, CONFORM_PLAN_TO_DESTINATION, &knobs);
    link_faults_set(faults->forward, &knobs);
  }
  if (faults->reverse != NULL) {
    knobs_compose(faults, CONFORM_PLAN_TO_SOURCE, &knobs);
    link_faults_set(faults->reverse, &knobs);
  }
  /* Carried multifd and preempt connections take the stream's knobs too (raw ones do not:
   * a lost byte there would be a hole the stream cannot see). */
  if (faults->plug == NULL || faults->forward == NULL || !link_carried(faults->forward)) return;
  knobs_compose(faults, CONFORM_PLAN_TO_DESTINATION, &knobs);
  for (uint32_t i = 0; i <= MIG_MULTIFD_CHANNELS_MAX; i++) {
    struct link *link = mig_plug_conn_link(faults->plug, i);
    if (link != NULL) link_faults_set(link, &knobs);
  }
}

void conform_faults_plug(struct conform_faults *faults, struct mig_plug *plug)
{
  faults->plug = plug;
  links_apply(faults);
}

static bool rp_lost(const struct conform_faults *faults)
{
  for (uint32_t i = 0; i < faults->plan->fault_count; i++) {
    if (faults->slots[i].active && slot_fault(&faults->slots[i])->kind == CONFORM_PLAN_RP_LOSS) {
      return true;
    }
  }
  return false;
}

/* The engine's return-path filter: a message is lost while an rp-loss fault is active. */
static bool rp_filter(void *context, uint16_t type, uint32_t value)
{
  (void)type;
  (void)value;
  return !rp_lost(context);
}

/* ------------------------------------------------------------------ firing */

static bool kind_lasts(enum conform_plan_kind kind)
{
  return kind == CONFORM_PLAN_LINK || kind == CONFORM_PLAN_PARTITION ||
         kind == CONFORM_PLAN_BANDWIDTH || kind == CONFORM_PLAN_RP_LOSS;
}

static bool kind_terminal(enum conform_plan_kind kind)
{
  return kind == CONFORM_PLAN_SOURCE_CRASH || kind == CONFORM_PLAN_DEST_CRASH ||
         kind == CONFORM_PLAN_CANCEL || kind == CONFORM_PLAN_REVERT;
}

/* Bytes of the raw stream may be lost, repeated, reordered or changed. */
static bool fault_damaging(const struct conform_plan_fault *fault)
{
  if (fault->kind == CONFORM_PLAN_PARTITION || fault->kind == CONFORM_PLAN_SOURCE_CRASH ||
      fault->kind == CONFORM_PLAN_MULTIFD_FAIL || fault->kind == CONFORM_PLAN_DISK_FULL) {
    /* A partition loses packets or resets; a crash, a break or a full disk cuts a stream. */
    return true;
  }
  if (fault->kind != CONFORM_PLAN_LINK) return false;
  const struct link_faults *k = &fault->link;
  return k->loss.numerator > 0 || k->burst_enter.numerator > 0 || k->duplicate.numerator > 0 ||
         k->reorder.numerator > 0 || k->corrupt.numerator > 0;
}

/*
 * A partition over TCP outlasting the dead time resets the connection; on
 * the raw sim: link, where lost bytes would be holes the stream cannot
 * see, it is modelled as that reset: the migration connection (forward)
 * or the return path (to-source) breaks, now and for any attempt that
 * starts while it lasts.
 */
static void partition_act(struct conform_faults *faults, const struct conform_plan_fault *fault)
{
  if (faults->precopy == NULL || link_carried(faults->forward)) return;
  if (direction_has(fault->direction, CONFORM_PLAN_TO_DESTINATION)) {
    mig_precopy_conn_reset(faults->precopy);
  } else {
    mig_precopy_rp_break(faults->precopy);
  }
}

static void slot_heal(struct conform_faults *faults, struct slot *slot)
{
  if (!slot->active) return;
  slot->active = false;
  sim_trace(faults->sim, "fault.heal", slot->index, (uint64_t)slot_fault(slot)->kind, 0, 0);
  links_apply(faults);
}

/* Acts on the engine; false when there was nothing to act on. */
static bool slot_act(struct conform_faults *faults, const struct conform_plan_fault *fault)
{
  struct mig_precopy *precopy = faults->precopy;
  switch (fault->kind) {
  case CONFORM_PLAN_SOURCE_CRASH:
    if (precopy == NULL || mig_precopy_stats(precopy)->source_crashed) return false;
    mig_precopy_crash(precopy, MIG_SIDE_SOURCE);
    machine_died(faults, faults->source);
    return true;
  case CONFORM_PLAN_DEST_CRASH: {
    if (precopy == NULL || mig_precopy_stats(precopy)->dest_crashed) return false;
    bool ran = mig_precopy_stats(precopy)->dest_status == MIG_STATE_COMPLETED;
    mig_precopy_crash(precopy, MIG_SIDE_DEST);
    machine_died(faults, mig_precopy_dest_machine(precopy));
    /* The guest never ran there: management restarts it on the source (seed 003). */
    if (!ran) faults->env.resume_source(faults->env.context);
    return true;
  }
  case CONFORM_PLAN_DEST_SLOW_LOAD:
    if (precopy == NULL) return false;
    mig_precopy_dest_delay(precopy, fault->delay_ns);
    return true;
  case CONFORM_PLAN_CANCEL:
    faults->env.cancel(faults->env.context);
    return true;
  case CONFORM_PLAN_MULTIFD_FAIL:
    return faults->plug != NULL && mig_plug_channel_fail(faults->plug, fault->channel_index);
  case CONFORM_PLAN_DISK_FULL:
    return faults->env.disk_full != NULL && faults->env.disk_full(faults->env.context);
  default: return true;
  }
}

static void slot_fire(struct conform_faults *faults, struct slot *slot)
{
  const struct conform_plan_fault *fault = slot_fault(slot);
  SIM_ASSERT(!slot->fired);
  /* After heal_ns only what ends the story still happens: the rest would never heal. */
  if (faults->summary.healed && !kind_terminal(fault->kind)) return;
  slot->fired = true;
  slot->fired_ns = sim_now_ns(faults->sim);
  struct conform_faults_summary *summary = &faults->summary;
  summary->fired_count++;
  summary->fired_mask |= UINT64_C(1) << slot->index;
  summary->terminal = summary->terminal || kind_terminal(fault->kind);
  summary->damaging = summary->damaging || fault_damaging(fault);
  summary->slow = summary->slow || fault->kind == CONFORM_PLAN_DEST_SLOW_LOAD;
  sim_trace(faults->sim, "fault.fire", slot->index, (uint64_t)fault->kind, 0, 0);
  if (kind_lasts(fault->kind)) {
    slot->active = true;
    links_apply(faults);
    /* The return path's connection breaks; messages are lost until it heals. */
    if (fault->kind == CONFORM_PLAN_RP_LOSS && faults->precopy != NULL) {
      mig_precopy_rp_break(faults->precopy);
    }
    if (fault->kind == CONFORM_PLAN_PARTITION) partition_act(faults, fault);
    if (fault->duration_ns > 0) {
      sim_event_schedule_at(faults->sim, &slot->heal_event, slot->fired_ns + fault->duration_ns);
    }
    return;
  }
  if (!slot_act(faults, fault)) {
    summary->skipped_count++;
    sim_trace(faults->sim, "fault.skipped", slot->index, (uint64_t)fault->kind, 0, 0);
  }
}

static void on_fire(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct slot *slot = SIM_CONTAINER_OF(event, struct slot, fire_event);
  SIM_ASSERT(slot->triggered);
  if (!slot->fired) slot_fire(slot->owner, slot);
}

static void on_slot_heal(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct slot *slot = SIM_CONTAINER_OF(event, struct slot, heal_event);
  slot_heal(slot->owner, slot);
}

static void on_heal(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct conform_faults *faults = SIM_CONTAINER_OF(event, struct conform_faults, heal_event);
  faults->summary.healed = true;
  sim_trace(faults->sim, "fault.heal_all", faults->summary.fired_count, 0, 0, 0);
  for (uint32_t i = 0; i < faults->plan->fault_count; i++) faults->slots[i].active = false;
  links_apply(faults);
}

/* A trigger came: the fault fires after delay_ns (state triggers' after_ns), once. */
static void slot_trigger(struct conform_faults *faults, struct slot *slot, uint64_t delay_ns)
{
  if (slot->triggered) return;
  slot->triggered = true;
  sim_event_schedule_at(faults->sim, &slot->fire_event, sim_now_ns(faults->sim) + delay_ns);
}

struct conform_faults *conform_faults_create(struct sim *sim, const struct conform_plan *plan,
                                             const struct conform_faults_env *env)
{
  SIM_ASSERT(env->cancel != NULL && env->resume_source != NULL);
  SIM_ASSERT(plan->fault_count <= CONFORM_PLAN_FAULTS_MAX);
  struct conform_faults *faults = sim_alloc(sim, sizeof(*faults));
  *faults = (struct conform_faults){.sim = sim, .plan = plan, .env = *env};
  for (uint32_t i = 0; i < plan->fault_count; i++) {
    struct slot *slot = &faults->slots[i];
    slot->owner = faults;
    slot->index = i;
    sim_event_init(&slot->fire_event, on_fire, "fault.fire");
    sim_event_init(&slot->heal_event, on_slot_heal, "fault.heal");
    if (plan->faults[i].trigger == CONFORM_PLAN_AT_NS) {
      slot->triggered = true;
      sim_event_schedule_at(sim, &slot->fire_event, plan->faults[i].at_ns);
    }
  }
  sim_event_init(&faults->heal_event, on_heal, "fault.heal_all");
  if (plan->has_heal) sim_event_schedule_at(sim, &faults->heal_event, plan->heal_ns);
  return faults;
}

/* Return-path packets lost so far, every cause. */
static uint64_t reverse_lost(const struct link *reverse)
{
  if (link_carried(reverse)) return 0; /* the transport retransmits what the link lost */
  const struct link_stats *stats = link_stats(reverse);
  return stats->packets_lost + stats->packets_burst_lost + stats->packets_partitioned;
}

void conform_faults_attempt(struct conform_faults *faults, struct mig_precopy *precopy,
                            const struct machine *source, struct link *forward,
                            struct link *reverse)
{
  SIM_ASSERT(precopy != NULL && forward != NULL && source != NULL);
  faults->precopy = precopy;
  faults->source = source;
  faults->forward = forward;
  faults->plug = NULL;  /* conform_faults_plug tells, after the attempt's plug-in exists */
  faults->reverse = reverse;
  faults->reverse_lost_count = reverse != NULL ? reverse_lost(reverse) : 0;
  if (reverse != NULL) mig_precopy_rp_filter_set(precopy, rp_filter, faults);
  links_apply(faults); /* faults still active carry over to the new connection */
  for (uint32_t i = 0; i < faults->plan->fault_count; i++) {
    const struct conform_plan_fault *fault = slot_fault(&faults->slots[i]);
    if (faults->slots[i].active && fault->kind == CONFORM_PLAN_PARTITION) {
      partition_act(faults, fault);
    }
  }
}

void conform_faults_progress(struct conform_faults *faults, enum mig_precopy_point point)
{
  SIM_ASSERT(faults->precopy != NULL);
  /*
   * On the raw link a lost return-path packet is a hole in that byte stream:
   * as for a TCP connection that gave up, the return path is broken.
   */
  if (faults->reverse != NULL && reverse_lost(faults->reverse) > faults->reverse_lost_count) {
    faults->reverse_lost_count = reverse_lost(faults->reverse);
    mig_precopy_rp_break(faults->precopy);
  }
  const struct mig_precopy_stats *stats = mig_precopy_stats(faults->precopy);
  uint64_t pages = stats->normal_pages_count + stats->zero_pages_count;
  for (uint32_t i = 0; i < faults->plan->fault_count; i++) {
    struct slot *slot = &faults->slots[i];
    const struct conform_plan_fault *fault = slot_fault(slot);
    if (slot->triggered) continue;
    if (fault->trigger == CONFORM_PLAN_AT_STATE && point != MIG_PRECOPY_POINT_SECTION) {
      bool source = point == MIG_PRECOPY_POINT_SOURCE_STATE;
      enum mig_state now = source ? stats->status : stats->dest_status;
      if ((fault->side == MIG_SIDE_SOURCE) == source && now == fault->state) {
        slot_trigger(faults, slot, fault->after_ns);
      }
    } else if (point == MIG_PRECOPY_POINT_SECTION &&
               ((fault->trigger == CONFORM_PLAN_AT_SECTIONS &&
                 stats->sections_count >= fault->at_count) ||
                (fault->trigger == CONFORM_PLAN_AT_PAGES && pages >= fault->at_count))) {
      slot_trigger(faults, slot, 0);
    }
  }
}

bool conform_faults_revert_now(struct conform_faults *faults)
{
  for (uint32_t i = 0; i < faults->plan->fault_count; i++) {
    struct slot *slot = &faults->slots[i];
    if (slot_fault(slot)->kind != CONFORM_PLAN_REVERT || slot->fired) continue;
    slot->triggered = true;
    slot_fire(faults, slot);
    if (!slot->fired) return false;
    faults->summary.revert_fired = true;
    return true;
  }
  return false;
}

bool conform_faults_retry_at(const struct conform_faults *faults, uint64_t now_ns,
                             uint64_t *at_ns)
{
  if (faults->summary.terminal || !faults->plan->has_heal) return false;
  *at_ns = SIM_MAX(now_ns + RETRY_DELAY_NS, faults->plan->heal_ns);
  return true;
}

const struct conform_faults_summary *conform_faults_summary(const struct conform_faults *faults)
{
  return &faults->summary;
}

/* ------------------------------------------------------------------- swarm */

/* The first migrate command's time, or false when the scenario never migrates. */
static bool migrate_time(const struct conform_scenario *scenario, uint64_t *at_ns)
{
  for (uint32_t i = 0; i < scenario->command_count; i++) {
    if (scenario->commands[i].kind == CONFORM_COMMAND_MIGRATE) {
      *at_ns = scenario->commands[i].at_ns;
      return true;
    }
  }
  return false;
}

struct swarm {
  struct sim_prng prng;
  uint64_t from_ns;                  /* the migrate command */
  uint64_t window_ns;                /* faults fire in [from, from + window) */
};

static bool swarm_chance(struct swarm *swarm, uint64_t numerator, uint64_t denominator)
{
  return sim_prng_chance(&swarm->prng, (struct sim_ratio){numerator, denominator});
}

/* A trigger: a time (half), a source state, a section or a page count. */
static void swarm_trigger(struct swarm *swarm, struct conform_plan_fault *fault)
{
  static const enum mig_state states[] = {MIG_STATE_SETUP, MIG_STATE_ACTIVE, MIG_STATE_ACTIVE,
                                          MIG_STATE_DEVICE};
  uint64_t pick = sim_prng_below(&swarm->prng, 8);
  if (pick < 4) {
    fault->trigger = CONFORM_PLAN_AT_NS;
    fault->at_ns = swarm->from_ns + sim_prng_below(&swarm->prng, swarm->window_ns);
  } else if (pick < 6) {
    fault->trigger = CONFORM_PLAN_AT_STATE;
    fault->state = states[sim_prng_below(&swarm->prng, SIM_ARRAY_COUNT(states))];
    fault->side = MIG_SIDE_SOURCE;
    fault->after_ns = sim_prng_below(&swarm->prng, 50 * SIM_NS_PER_MS);
  } else if (pick < 7) {
    fault->trigger = CONFORM_PLAN_AT_SECTIONS;
    fault->at_count = sim_prng_range(&swarm->prng, 1, 64);
  } else {
    fault->trigger = CONFORM_PLAN_AT_PAGES;
    fault->at_count = sim_prng_range(&swarm->prng, 1, 65536);
  }
}

static struct sim_ratio swarm_ratio(struct swarm *swarm, uint64_t denominator_min,
                                    uint64_t denominator_max)
{
  return (struct sim_ratio){1, sim_prng_range(&swarm->prng, denominator_min, denominator_max)};
}

/*
 * Link knobs on the raw sim: link.  On the return path: a random non-empty
 * subset of jitter, loss, bursts, duplication and reordering (a lost
 * message breaks the return path, conform_faults_progress).  On the
 * migration stream's own link only jitter: a lost, repeated or reordered
 * packet there is a hole the stream cannot see, and one that happens to
 * fall on record boundaries loads as a wrong page (faults-swarm-256m seed
 * 3950 did); the transport (sim_transport.h) is where loss belongs once the
 * engine writes onto it.  Bit flips are left out everywhere: the stream has
 * no checksum of its own.
 */
static void swarm_link(struct swarm *swarm, enum conform_plan_direction direction,
                       struct link_faults *knobs)
{
  if (direction != CONFORM_PLAN_TO_SOURCE) {
    /* The stream's own link: only what keeps the bytes whole (see above). */
    knobs->jitter_ns_max = sim_prng_range(&swarm->prng, 1, 2000000);
    return;
  }
  do {
    if (swarm_chance(swarm, 1, 2)) knobs->jitter_ns_max = sim_prng_range(&swarm->prng, 1, 2000000);
    if (swarm_chance(swarm, 1, 3)) knobs->loss = swarm_ratio(swarm, 20, 5000);
    if (swarm_chance(swarm, 1, 4)) {
      knobs->burst_enter = swarm_ratio(swarm, 50, 2000);
      knobs->burst_exit = swarm_ratio(swarm, 2, 10);
      knobs->burst_loss = (struct sim_ratio){1, 1};
    }
    if (swarm_chance(swarm, 1, 4)) {
      knobs->duplicate = swarm_ratio(swarm, 20, 2000);
      knobs->duplicate_delay_ns_max = sim_prng_below(&swarm->prng, 1000000);
    }
    if (swarm_chance(swarm, 1, 4)) {
      knobs->reorder = swarm_ratio(swarm, 20, 2000);
      knobs->reorder_delay_ns_max = sim_prng_range(&swarm->prng, 1, 2000000);
    }
  } while (knobs->jitter_ns_max == 0 && knobs->loss.numerator == 0 &&
           knobs->burst_enter.numerator == 0 && knobs->duplicate.numerator == 0 &&
           knobs->reorder.numerator == 0);
}

/* A fault of kind, with its trigger and arguments drawn. */
static void swarm_fault(struct swarm *swarm, enum conform_plan_kind kind,
                        struct conform_plan_fault *fault)
{
  memset(fault, 0, sizeof *fault);
  fault->kind = kind;
  if (kind == CONFORM_PLAN_REVERT) {
    fault->trigger = CONFORM_PLAN_AT_LOADED; /* it has no trigger of its own */
    return;
  }
  swarm_trigger(swarm, fault);
  bool timed = kind == CONFORM_PLAN_LINK || kind == CONFORM_PLAN_PARTITION ||
               kind == CONFORM_PLAN_BANDWIDTH || kind == CONFORM_PLAN_RP_LOSS;
  if (timed && swarm_chance(swarm, 1, 2)) {
    fault->duration_ns = sim_prng_range(&swarm->prng, SIM_NS_PER_MS, SIM_NS_PER_S);
  }
  if (kind == CONFORM_PLAN_LINK || kind == CONFORM_PLAN_PARTITION) {
    fault->direction = (enum conform_plan_direction)sim_prng_below(&swarm->prng, 3);
  }
  if (kind == CONFORM_PLAN_LINK) swarm_link(swarm, fault->direction, &fault->link);
  if (kind == CONFORM_PLAN_BANDWIDTH) {
    fault->bytes_per_s = sim_prng_range(&swarm->prng, UINT64_C(1) << 20, UINT64_C(1) << 27);
  }
  if (kind == CONFORM_PLAN_DEST_SLOW_LOAD) {
    fault->delay_ns = sim_prng_range(&swarm->prng, SIM_NS_PER_MS, 500 * SIM_NS_PER_MS);
  }
}

void conform_faults_swarm(const struct conform_scenario *scenario, struct conform_plan *plan)
{
  /* Each kind's chance to be in a seed's set (1 in N): some kinds are wholly off. */
  static const struct {
    enum conform_plan_kind kind;
    uint64_t one_in;
  } kinds[] = {
      {CONFORM_PLAN_LINK, 2},         {CONFORM_PLAN_PARTITION, 3},
      {CONFORM_PLAN_BANDWIDTH, 3},    {CONFORM_PLAN_DEST_SLOW_LOAD, 3},
      {CONFORM_PLAN_RP_LOSS, 3},      {CONFORM_PLAN_CANCEL, 10},
      {CONFORM_PLAN_SOURCE_CRASH, 10}, {CONFORM_PLAN_DEST_CRASH, 10},
      {CONFORM_PLAN_REVERT, 10},
  };
  *plan = scenario->faults;
  uint64_t from_ns;
  if (!plan->swarm || !migrate_time(scenario, &from_ns)) return;
  struct swarm swarm = {.from_ns = from_ns};
  sim_prng_init_stream(&swarm.prng, scenario->seed, "faults.swarm");
  /* Faults come within the first ~2 s of the migration, or a quarter of what the run has. */
  uint64_t left_ns = scenario->time_ns_max > from_ns ? scenario->time_ns_max - from_ns : 1;
  swarm.window_ns = SIM_MAX(SIM_MIN(2 * SIM_NS_PER_S, left_ns / 4), 1);
  for (uint32_t i = 0; i < SIM_ARRAY_COUNT(kinds); i++) {
    if (!swarm_chance(&swarm, 1, kinds[i].one_in) || plan->fault_count == CONFORM_PLAN_FAULTS_MAX) {
      continue;
    }
    swarm_fault(&swarm, kinds[i].kind, &plan->faults[plan->fault_count++]);
  }
  if (!plan->buggify) plan->buggify = swarm_chance(&swarm, 1, 2);
  if (!plan->has_heal) {
    plan->has_heal = true;
    plan->heal_ns = from_ns + swarm.window_ns + sim_prng_below(&swarm.prng, swarm.window_ns);
  }
  /* The bound must fit the run: a run cut by time_ns_max is a liveness failure anyway. */
  if (scenario->time_ns_max > plan->heal_ns) {
    plan->liveness_ns = SIM_MIN(plan->liveness_ns, scenario->time_ns_max - plan->heal_ns);
  }
  plan->swarm = false; /* drawn: the plan is explicit from here on (reports, shrink) */
}
