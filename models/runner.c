/*
 * runner.c: the models/ test runner; suites in a fixed order.
 */
#include "sim_base.h"

#include "sim_check.h"

Suite *ram_suite(void);
Suite *machine_suite(void);
Suite *pci_suite(void);
Suite *dmadev_suite(void);
Suite *blockdev_suite(void);
Suite *amdvi_suite(void);
Suite *amdvi_xlate_suite(void);
Suite *iommudrv_suite(void);
Suite *vfiodev_suite(void);
Suite *dev_suite(void);
Suite *compat_suite(void);
Suite *uffd_suite(void);

int main(int argc, char **argv)
{
  static sim_suite_fn *const suites[] = {ram_suite,   machine_suite,  pci_suite,
                                         dmadev_suite, blockdev_suite, amdvi_suite,
                                         amdvi_xlate_suite, iommudrv_suite, vfiodev_suite,
                                         dev_suite, compat_suite, uffd_suite};
  return sim_check_main(argc, argv, suites, SIM_ARRAY_COUNT(suites));
}
