/*
 * runner.c: the migration folder's libcheck runner (STYLE R22).  It lists the
 * folder's suites in a fixed order, bottom-up (stream before the layers that
 * read streams), and hands them to sim_check_main.
 */
#include "sim_base.h"

#include "sim_check.h"

Suite *mig_stream_suite(void);
Suite *mig_record_suite(void);
Suite *mig_vmstate_suite(void);
Suite *mig_vmstate_kinds_suite(void);
Suite *mig_load_suite(void);
Suite *mig_devices_suite(void);
Suite *mig_amdvi_suite(void);
Suite *mig_amdvi_ats_suite(void);
Suite *mig_ram_suite(void);
Suite *mig_hostile_suite(void);
Suite *mig_vfio_suite(void);
Suite *mig_live_suite(void);
Suite *mig_rp_suite(void);
Suite *mig_pctrack_suite(void);
Suite *mig_state_suite(void);
Suite *mig_caps_suite(void);
Suite *mig_walk_suite(void);
Suite *mig_analyze_suite(void);
Suite *mig_vmsd_diff_suite(void);
Suite *mig_postcopy_suite(void);
Suite *mig_multifd_suite(void);
Suite *mig_multifd_payload_suite(void);
Suite *mig_destcheck_suite(void);
Suite *mig_devsem_suite(void);
Suite *mig_virtio_suite(void);
Suite *mig_xbzrle_suite(void);

static sim_suite_fn *const suites[] = {
  mig_stream_suite,
  mig_record_suite,
  mig_vmstate_suite,
  mig_vmstate_kinds_suite,
  mig_load_suite,
  mig_devices_suite,
  mig_amdvi_suite,
  mig_amdvi_ats_suite,
  mig_ram_suite,
  mig_hostile_suite,
  mig_vfio_suite,
  mig_live_suite,
  mig_rp_suite,
  mig_pctrack_suite,
  mig_state_suite,
  mig_caps_suite,
  mig_walk_suite,
  mig_analyze_suite,
  mig_vmsd_diff_suite,
  mig_postcopy_suite,
  mig_multifd_suite,
  mig_multifd_payload_suite,
  mig_destcheck_suite,
  mig_devsem_suite,
  mig_virtio_suite,
  mig_xbzrle_suite,
};

int main(int argc, char **argv)
{
  return sim_check_main(argc, argv, suites, SIM_ARRAY_COUNT(suites));
}
