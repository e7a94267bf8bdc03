/*
 * conform_transport_test.c: migration URIs as transports (conform_transport.h,
 * docs/transports.md): every connection kind (main, return path, multifd
 * channels, postcopy preempt) runs over sim_transport, recovers from loss and
 * resets on a partition longer than the dead time; each transport's costs
 * show in the figures; one multifd channel failing fails the migration
 * cleanly; file: saves and later restores, and a full disk fails cleanly.
 */
#include "sim_base.h"

#include "conform_run.h"
#include "conform_scenario.h"
#include "conform_transport.h"
#include "sim_check.h"

#define RP_CAP "{\"capability\": \"return-path\", \"state\": true}"
#define MULTIFD_CAP "{\"capability\": \"multifd\", \"state\": true}"
#define PREEMPT_CAPS "{\"capability\": \"postcopy-ram\", \"state\": true}, " \
                     "{\"capability\": \"postcopy-preempt\", \"state\": true}"

/* A 4 MiB guest migrated at 100 ms over uri; caps and faults given; dead time 2 s. */
static void scenario_with(const char *uri, const char *caps, const char *faults,
                          const char *extra_commands, struct conform_scenario *out)
{
  static char text[8192];
  snprintf(text, sizeof text,
           "{\"seed\": 5, \"limits\": {\"events_max\": 20000000, \"time_ns_max\": 60000000000},\n"
           "\"machine\": {\"type\": \"migsim-1.0\",\n"
           "  \"ram\": [{\"name\": \"pc.ram\", \"bytes\": 4194304}],\n"
           "  \"devices\": [{\"driver\": \"testdev\", \"addr\": \"00:03.0\"}]},\n"
           "\"workload\": {\"pages_per_s\": 400, \"duration_ns\": 1500000000, "
           "\"fill_pages\": 512, \"device_every\": 4},\n"
           "\"link\": {\"bandwidth_bytes_per_s\": 33554432, \"latency_ns\": 100000,\n"
           "  \"window_bytes\": 262144, \"packet_bytes\": 8192},\n"
           "\"transport\": {\"dead_ns\": 2000000000, \"rto_ns_min\": 10000000},\n"
           "\"migration\": {\"section_pages\": 32},\n"
           "\"faults\": %s,\n"
           "\"commands\": [\n"
           "  {\"at_ns\": 0, \"execute\": \"migrate-set-parameters\",\n"
           "   \"arguments\": {\"downtime-limit\": 30, \"multifd-channels\": 2}},\n"
           "  {\"at_ns\": 0, \"execute\": \"migrate-set-capabilities\", \"arguments\": "
           "{\"capabilities\": [%s]}},\n"
           "  {\"at_ns\": 100000000, \"execute\": \"migrate\", \"arguments\": {\"uri\": "
           "\"%s\"}}%s]}\n",
           faults, caps, uri, extra_commands);
  char error[CONFORM_ERROR_BYTES];
  ck_assert_msg(conform_scenario_parse(text, strlen(text), "t.json", out, error, sizeof error),
                "%s", error);
}

static void check(const struct conform_scenario *scenario, struct conform_run_result *result)
{
  conform_check(scenario, false, NULL, NULL, result);
}

/* The connection kinds: the capabilities that open them, and where their faults go. */
static const struct {
  const char *name;
  const char *caps;
  const char *direction;
  const char *extra;                 /* commands after migrate */
} kinds[] = {
    {"main", "", "to-destination", ""},
    {"return-path", RP_CAP, "to-source", ""},
    {"multifd", MULTIFD_CAP, "to-destination", ""},
    {"preempt", PREEMPT_CAPS, "to-destination",
     ",\n  {\"at_ns\": 102000000, \"execute\": \"migrate-start-postcopy\"}"},
};

static uint64_t lost(const struct conform_run_result *result)
{
  return result->conn_packets_lost + result->plug.conn_packets_lost;
}

START_TEST(conform_transport_loss_recovered_on_each_connection)
{
  /* Goal: 5% loss on the kind's direction over tcp: packets are lost beneath, yet the
   * migration completes with the guest equal (the transport retransmitted them). */
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  char faults[512];
  snprintf(faults, sizeof faults, "{\"plan\": [{\"kind\": \"link\", \"direction\": \"%s\", "
           "\"at\": {\"ns\": 0}, \"loss\": [1, 20]}]}", kinds[_i].direction);
  scenario_with("tcp:dest:4444", kinds[_i].caps, faults, kinds[_i].extra, &scenario);
  check(&scenario, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s: %s", kinds[_i].name, result.failure);
  ck_assert_msg(result.stats.status == MIG_STATE_COMPLETED, "%s: %s", kinds[_i].name,
                mig_state_name(result.stats.status));
  ck_assert_uint_eq(result.failed_attempts_count, 0);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  ck_assert_msg(lost(&result) > 0, "%s: nothing was lost", kinds[_i].name);
  if (_i >= 2) ck_assert_uint_gt(result.plug.conn_packets_lost, 0); /* the channel's own */
  ck_assert_uint_eq(result.conn_broken_count + result.plug.conn_broken_count, 0);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_transport_long_partition_resets_each_connection)
{
  /* Goal: a 5 s partition of the kind's direction, dead time 2 s: the connection resets
   * (its carried links break), the source fails cleanly with the guest intact. */
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  char faults[512];
  snprintf(faults, sizeof faults, "{\"plan\": [{\"kind\": \"partition\", \"direction\": "
           "\"%s\", \"at\": {\"ns\": 105000000}, \"duration_ns\": 5000000000}]}",
           kinds[_i].direction);
  /* Postcopy is not started here: in postcopy-active a reset pauses (its own test). */
  scenario_with("tcp:dest:4444", kinds[_i].caps, faults, "", &scenario);
  check(&scenario, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s: %s", kinds[_i].name, result.failure);
  ck_assert_msg(result.conn_broken_count + result.plug.conn_broken_count > 0, "%s: no reset",
                kinds[_i].name);
  ck_assert_msg(result.stats.status == MIG_STATE_FAILED, "%s: %s", kinds[_i].name,
                mig_state_name(result.stats.status));
  if (_i == 2) ck_assert_uint_gt(result.plug.conn_broken_count, 0); /* an idle preempt: none */
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_transport_costs_order_the_figures)
{
  /* Goal: one scenario over each transport: sim: and tcp: move the same bytes, tcp: later by
   * its handshake and segment headers; fd: has no handshake; unix: (local) beats both. */
  static const char *const uris[] = {"sim:l", "tcp:d:1", "fd:m", "unix:/s", "exec:cat",
                                     "rdma:d:1"};
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  uint64_t total_ns[6];
  for (uint32_t i = 0; i < 6; i++) {
    scenario_with(uris[i], "", "{}", "", &scenario);
    check(&scenario, &result);
    ck_assert_msg(result.verdict == CONFORM_PASS, "%s: %s", uris[i], result.failure);
    ck_assert_int_eq(result.stats.status, MIG_STATE_COMPLETED);
    total_ns[i] = result.stats.end_ns - result.stats.start_ns;
    conform_run_result_deinit(&result);
  }
  ck_assert_uint_gt(total_ns[1], total_ns[0]);  /* tcp: headers and handshake */
  ck_assert_uint_lt(total_ns[2], total_ns[1]);  /* fd: no handshake */
  ck_assert_uint_lt(total_ns[3], total_ns[0]);  /* unix: no network */
}
END_TEST

START_TEST(conform_transport_multifd_channel_fail_is_clean)
{
  /* Goal: multifd channel 1 breaks mid-RAM over sim: and tcp: the migration fails (7.2),
   * cleanly, the source runs on with its guest intact; the plan says so. */
  static const char *const uris[] = {"sim:l", "tcp:d:1"};
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  scenario_with(uris[_i], MULTIFD_CAP, "{\"plan\": [{\"kind\": \"multifd-channel-fail\", "
                "\"channel\": 1, \"at\": {\"pages\": 300}}]}", "", &scenario);
  check(&scenario, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s: %s", uris[_i], result.failure);
  ck_assert_uint_eq(result.faults_fired.fired_count, 1);
  ck_assert_int_eq(result.stats.status, MIG_STATE_FAILED);
  ck_assert_ptr_nonnull(strstr(result.failure, "channel 1"));
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_transport_uri_checks)
{
  /* Goal: a link whose packets cannot hold a segment header is refused for tcp:, not sim:. */
  static struct conform_scenario scenario;
  const char *text = "{\"seed\": 1, \"limits\": {\"events_max\": 1000, \"time_ns_max\": 1000000},"
                     "\"machine\": {\"type\": \"migsim-1.0\", \"ram\": [{\"name\": \"pc.ram\","
                     " \"bytes\": 1048576}]}, \"workload\": {\"pages_per_s\": 10,"
                     " \"duration_ns\": 1000, \"fill_pages\": 1}, \"link\": {\"bandwidth_bytes_per_s\": 1000000,"
                     " \"latency_ns\": 1, \"packet_bytes\": 40}, \"commands\": [{\"at_ns\": 0,"
                     " \"execute\": \"migrate\", \"arguments\": {\"uri\": \"%s\"}}]}";
  char buffer[1024];
  char error[CONFORM_ERROR_BYTES];
  snprintf(buffer, sizeof buffer, text, "sim:x");
  ck_assert_msg(conform_scenario_parse(buffer, strlen(buffer), "u.json", &scenario, error,
                                       sizeof error), "%s", error);
  snprintf(buffer, sizeof buffer, text, "tcp:x:1");
  ck_assert(!conform_scenario_parse(buffer, strlen(buffer), "u.json", &scenario, error,
                                    sizeof error));
  ck_assert_ptr_nonnull(strstr(error, "segment header"));
}
END_TEST


START_TEST(conform_transport_file_save_then_restore)
{
  /* Goal: migrate to file: writes the stream, nothing loads until migrate-incoming at 2 s
   * reads it back; the restored guest equals the saved one (the oracles) and the source
   * stays stopped meanwhile. */
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  scenario_with("file:/vm.sav", "", "{}",
                ",\n  {\"at_ns\": 2000000000, \"execute\": \"migrate-incoming\", "
                "\"arguments\": {\"uri\": \"file:/vm.sav\"}}", &scenario);
  check(&scenario, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  ck_assert_int_eq(result.stats.status, MIG_STATE_COMPLETED);
  ck_assert_uint_lt(result.stats.stop_ns, 2000000000);
  /* Loaded after the restore began, no sooner than its bytes take at the read rate. */
  uint64_t read_ns = result.stats.transferred_bytes * SIM_NS_PER_S /
                     CONFORM_TRANSPORT_FILE_READ_BYTES_PER_S;
  ck_assert_uint_ge(result.stats.end_ns, 2000000000 + read_ns);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
  /* Without migrate-incoming the destination never loads: the saved guest is not running. */
  scenario_with("file:/vm.sav", "", "{}", "", &scenario);
  check(&scenario, &result);
  ck_assert_int_ne(result.stats.dest_status, MIG_STATE_COMPLETED);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_transport_file_disk_full_fails_cleanly)
{
  /* Goal: the disk fills up mid-save: the write fails, the source fails and runs on intact. */
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  scenario_with("file:/vm.sav", "", "{\"plan\": [{\"kind\": \"disk-full\", "
                "\"at\": {\"pages\": 300}}]}", "", &scenario);
  check(&scenario, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  ck_assert_uint_eq(result.faults_fired.fired_count, 1);
  ck_assert_int_eq(result.stats.status, MIG_STATE_FAILED);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
}
END_TEST

START_TEST(conform_transport_file_checks)
{
  /* Goal: file: refuses multifd (one stream, no way back), and a restore needs a saved file. */
  static struct conform_scenario scenario;
  char error[CONFORM_ERROR_BYTES];
  static char text[4096];
  const char *head = "{\"seed\": 1, \"limits\": {\"events_max\": 1000, \"time_ns_max\": "
                     "1000000}, \"machine\": {\"type\": \"migsim-1.0\", \"ram\": [{\"name\": "
                     "\"pc.ram\", \"bytes\": 1048576}]}, \"workload\": {\"pages_per_s\": 10, "
                     "\"duration_ns\": 1000, \"fill_pages\": 1}, \"link\": "
                     "{\"bandwidth_bytes_per_s\": 1000000, \"latency_ns\": 1}, \"commands\": [";
  snprintf(text, sizeof text, "%s{\"at_ns\": 0, \"execute\": \"migrate-set-capabilities\", "
           "\"arguments\": {\"capabilities\": [" MULTIFD_CAP "]}}, {\"at_ns\": 1, \"execute\": "
           "\"migrate\", \"arguments\": {\"uri\": \"file:/a\"}}]}", head);
  ck_assert(!conform_scenario_parse(text, strlen(text), "f.json", &scenario, error,
                                    sizeof error));
  ck_assert_ptr_nonnull(strstr(error, "multifd"));
  snprintf(text, sizeof text, "%s{\"at_ns\": 0, \"execute\": \"migrate-incoming\", "
           "\"arguments\": {\"uri\": \"file:/a\"}}]}", head);
  ck_assert(!conform_scenario_parse(text, strlen(text), "f.json", &scenario, error,
                                    sizeof error));
  ck_assert_ptr_nonnull(strstr(error, "no earlier"));
}
END_TEST


START_TEST(conform_transport_postcopy_reset_pauses_then_recovers)
{
  /* Goal: a 5 s partition in postcopy-active (destination running) over tcp:, dead time
   * 2 s: the connection (and the preempt one) resets, both sides pause instead of failing,
   * migrate-recover at 8 s opens a new connection, the migration completes, guest equal. */
  static struct conform_scenario scenario;
  static struct conform_run_result result;
  scenario_with("tcp:d:1", PREEMPT_CAPS, "{\"plan\": [{\"kind\": \"partition\", \"direction\": "
                "\"both\", \"at\": {\"state\": \"postcopy-active\", \"side\": \"destination\", "
                "\"after_ns\": 1000000}, \"duration_ns\": 5000000000}]}",
                ",\n  {\"at_ns\": 102000000, \"execute\": \"migrate-start-postcopy\"},"
                "\n  {\"at_ns\": 8000000000, \"execute\": \"migrate-recover\", \"arguments\": "
                "{\"uri\": \"tcp:d:2\"}}", &scenario);
  check(&scenario, &result);
  ck_assert_msg(result.verdict == CONFORM_PASS, "%s", result.failure);
  ck_assert_int_eq(result.stats.status, MIG_STATE_COMPLETED);
  ck_assert_uint_gt(result.conn_broken_count, 0);
  ck_assert_uint_gt(result.plug.conn_broken_count, 0); /* the preempt connection's too */
  ck_assert_uint_eq(result.plug.recoveries_count, 1);
  ck_assert_uint_gt(result.stats.end_ns, 8000000000);
  ck_assert_uint_eq(result.guest_digest, result.reference_guest_digest);
  conform_run_result_deinit(&result);
}
END_TEST

Suite *conform_transport_suite(void)
{
  Suite *suite = suite_create("conform_transport");
  TCase *kinds_case = tcase_create("kinds");
  tcase_set_timeout(kinds_case, 600);
  tcase_add_loop_test(kinds_case, conform_transport_loss_recovered_on_each_connection, 0, 4);
  tcase_add_loop_test(kinds_case, conform_transport_long_partition_resets_each_connection, 0,
                      4);
  tcase_add_test(kinds_case, conform_transport_costs_order_the_figures);
  tcase_add_loop_test(kinds_case, conform_transport_multifd_channel_fail_is_clean, 0, 2);
  tcase_add_test(kinds_case, conform_transport_uri_checks);
  tcase_add_test(kinds_case, conform_transport_file_save_then_restore);
  tcase_add_test(kinds_case, conform_transport_file_disk_full_fails_cleanly);
  tcase_add_test(kinds_case, conform_transport_file_checks);
  tcase_add_test(kinds_case, conform_transport_postcopy_reset_pauses_then_recovers);
  suite_add_tcase(suite, kinds_case);
  return suite;
}
