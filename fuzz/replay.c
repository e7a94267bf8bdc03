/*
 * replay.c: the standalone driver that makes every fuzz target an ordinary
 * test (STYLE R26).  It feeds each file named on the command line, or each
 * file inside each named folder (sorted by name), to LLVMFuzzerTestOneInput.
 * A crash or sanitizer report fails the run; a missing folder is reported
 * and counts as a failure, so nothing passes silently.
 *
 * `--mutate COUNT --seed S --out DIR FILE...` instead writes COUNT mutants
 * of each FILE with the target's structure-aware mutator (fuzz_mutator.h)
 * to DIR/<file>.<i>.bin and prints one line per mutant: its path, a tab, the
 * mutation.  harness/qemu_diff.py feeds such mutants to QEMU and to migsim.
 */
#include "sim_base.h"

#include <dirent.h>
#include <sys/stat.h>

#include "fuzz_mutator.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Defined by the targets that have a mutator (FUZZ_CUSTOM_MUTATOR); NULL elsewhere. */
const struct fuzz_mutator_options *fuzz_target_mutator_options(void) __attribute__((weak));

static int compare_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The whole file in a malloc'd buffer; NULL when it cannot be read. */
static uint8_t *read_file(const char *path, size_t *count_out)
{
  FILE *file = fopen(path, "rb");
  if (file == NULL) return NULL;
  size_t capacity = 1 << 16, count = 0;
  uint8_t *bytes = malloc(capacity);
  size_t got;
  while (bytes != NULL && (got = fread(bytes + count, 1, capacity - count, file)) > 0) {
    count += got;
    if (count == capacity) bytes = realloc(bytes, capacity *= 2);
  }
  fclose(file);
  *count_out = count;
  return bytes;
}

static bool replay_file(const char *path)
{
  size_t count = 0;
  uint8_t *bytes = read_file(path, &count);
  if (bytes == NULL) return false;
  LLVMFuzzerTestOneInput(bytes, count);
  free(bytes);
  return true;
}

/* Writes count mutants of path into folder; false on an I/O error. */
static bool mutate_file(const struct fuzz_mutator_options *options, const char *path,
                        unsigned long count, unsigned long seed, const char *folder)
{
  size_t size = 0;
  uint8_t *original = read_file(path, &size);
  if (original == NULL) return false;
  size_t max_size = size + 4096;
  uint8_t *mutant = malloc(max_size);
  const char *base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
  bool ok = mutant != NULL;
  for (unsigned long i = 0; ok && i < count; i++) {
    memcpy(mutant, original, size);
    char note[FUZZ_MUTATOR_NOTE_BYTES];
    size_t mutated = fuzz_mutate(options, mutant, size, max_size,
                                 (unsigned int)(seed + i), note);
    char out[4096];
    snprintf(out, sizeof out, "%s/%s.%lu.bin", folder, base, seed + i);
    FILE *file = fopen(out, "wb");
    ok = file != NULL && fwrite(mutant, 1, mutated, file) == mutated;
    if (file != NULL) ok = fclose(file) == 0 && ok;
    if (ok) printf("%s\t%s\n", out, note);
  }
  free(mutant);
  free(original);
  return ok;
}

/*
 * --mutate COUNT --seed S --out DIR [--structural] FILE...: exit status 0,
 * 1 (I/O), 2 (usage).  --structural: no byte-level mutation of the whole input.
 */
static int mutate_main(int argc, char **argv)
{
  if (argc < 8 || strcmp(argv[3], "--seed") != 0 || strcmp(argv[5], "--out") != 0) {
    fprintf(stderr, "usage: %s --mutate COUNT --seed S --out DIR [--structural] FILE...\n",
            argv[0]);
    return 2;
  }
  if (fuzz_target_mutator_options == NULL) {
    fprintf(stderr, "%s: this target has no structure-aware mutator\n", argv[0]);
    return 2;
  }
  unsigned long count = strtoul(argv[2], NULL, 10), seed = strtoul(argv[4], NULL, 10);
  struct fuzz_mutator_options options = *fuzz_target_mutator_options();
  int first = 7;
  if (strcmp(argv[7], "--structural") == 0) {
    options.structural_only = true;
    first = 8;
  }
  for (int i = first; i < argc; i++) {
    if (!mutate_file(&options, argv[i], count, seed, argv[6])) {
      fprintf(stderr, "%s: %s: cannot mutate into %s\n", argv[0], argv[i], argv[6]);
      return 1;
    }
  }
  return 0;
}

/* Replays one folder; returns the number of inputs, or -1 on error. */
static long replay_folder(const char *folder)
{
  DIR *dir = opendir(folder);
  if (dir == NULL) return -1;
  char **names = NULL;
  size_t count = 0;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    size_t length = strlen(entry->d_name);
    /* Hidden files and the folders' README.md are not inputs. */
    if (entry->d_name[0] == '.' || (length > 3 && strcmp(entry->d_name + length - 3, ".md") == 0)) {
      continue;
    }
    names = realloc(names, (count + 1) * sizeof(*names));
    names[count++] = strdup(entry->d_name);
  }
  closedir(dir);
  if (count > 0) qsort(names, count, sizeof(*names), compare_names);
  long replayed = 0;
  for (size_t i = 0; i < count; i++) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", folder, names[i]);
    struct stat info;
    if (stat(path, &info) == 0 && S_ISREG(info.st_mode) && replay_file(path)) replayed++;
    free(names[i]);
  }
  free(names);
  return replayed;
}

int main(int argc, char **argv)
{
  if (argc > 1 && strcmp(argv[1], "--mutate") == 0) return mutate_main(argc, argv);
  int status = 0;
  for (int i = 1; i < argc; i++) {
    struct stat info;
    long replayed = -1;
    if (stat(argv[i], &info) == 0) {
      replayed = S_ISDIR(info.st_mode) ? replay_folder(argv[i]) : replay_file(argv[i]) ? 1 : -1;
    }
    if (replayed < 0) {
      fprintf(stderr, "%s: %s: cannot read\n", argv[0], argv[i]);
      status = 1;
      continue;
    }
    printf("%s: %s: %ld inputs replayed\n", argv[0], argv[i], replayed);
  }
  return status;
}
