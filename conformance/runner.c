/*
 * runner.c: the conformance/ test runner; suites in a fixed order.
 */
#include "sim_base.h"

#include "sim_check.h"

Suite *conform_suite(void);
Suite *conform_devices_suite(void);
Suite *conform_ram_suite(void);
Suite *conform_iommu_suite(void);
Suite *conform_vfio_suite(void);
Suite *conform_vmsd_suite(void);
Suite *conform_plan_suite(void);
Suite *conform_roundtrip_suite(void);
Suite *conform_explore_suite(void);
Suite *conform_matrix_suite(void);
Suite *conform_control_suite(void);
Suite *conform_postcopy_suite(void);
Suite *conform_faults_suite(void);
Suite *conform_caps_suite(void);
Suite *conform_transport_suite(void);

int main(int argc, char **argv)
{
  static sim_suite_fn *const suites[] = {conform_suite, conform_devices_suite,
                                         conform_ram_suite, conform_iommu_suite,
                                         conform_vfio_suite, conform_vmsd_suite,
                                         conform_plan_suite, conform_roundtrip_suite,
                                         conform_explore_suite, conform_matrix_suite,
                                         conform_control_suite, conform_postcopy_suite,
                                         conform_faults_suite, conform_caps_suite,
                                         conform_transport_suite};
  return sim_check_main(argc, argv, suites, SIM_ARRAY_COUNT(suites));
}
