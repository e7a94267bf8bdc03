/*
 * cli_capture_test_inl.h: runs a command's main as a user would, with its
 * stdout and stderr captured into a buffer; shared by the cli suites that
 * check a front end's output (cli_matrix_test.c, cli_vmsd_test.c).
 */
#ifndef CLI_CAPTURE_TEST_INL_H
#define CLI_CAPTURE_TEST_INL_H

#include "sim_base.h"

#include "sim_check.h"

#include <unistd.h>

/* Runs main with argv, stdout and stderr captured into out (NUL-terminated); its exit code. */
static inline int cli_run_captured(int (*main_fn)(int, char **), int argc, char **argv, char *out,
                                   size_t out_bytes)
{
  char path[] = "/tmp/cli_capture_XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  fflush(stdout);
  fflush(stderr);
  int saved_out = dup(STDOUT_FILENO);
  int saved_err = dup(STDERR_FILENO);
  ck_assert(saved_out >= 0 && saved_err >= 0);
  dup2(fd, STDOUT_FILENO);
  dup2(fd, STDERR_FILENO);
  close(fd);
  int rc = main_fn(argc, argv);
  fflush(stdout);
  fflush(stderr);
  dup2(saved_out, STDOUT_FILENO);
  dup2(saved_err, STDERR_FILENO);
  close(saved_out);
  close(saved_err);
  FILE *file = fopen(path, "r");
  ck_assert_ptr_nonnull(file);
  size_t count = fread(out, 1, out_bytes - 1, file);
  out[count] = '\0';
  fclose(file);
  unlink(path);
  return rc;
}

#endif /* CLI_CAPTURE_TEST_INL_H */
