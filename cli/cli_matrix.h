/*
 * cli_matrix.h: `migsim matrix`, the compatibility regression matrix
 * (conformance/conform_matrix.h; docs/compat.md).  Exit codes: 0 all cells
 * agree, 1 a disagreement or a change from the golden matrix, 2 bad input.
 */
#ifndef CLI_MATRIX_H
#define CLI_MATRIX_H

#include "sim_base.h"

/* argv after "matrix": see usage (migsim matrix --help). */
int cli_matrix_main(int argc, char **argv);

#endif /* CLI_MATRIX_H */
