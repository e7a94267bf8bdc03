/*
 * replay.c: the standalone driver that makes every fuzz target an ordinary
 * test (STYLE R26).  It feeds each file named on the command line, or each
 * file inside each named folder (sorted by name), to LLVMFuzzerTestOneInput.
 * A crash or sanitizer report fails the run; a missing folder is reported
 * and counts as a failure, so nothing passes silently.
 */
#include "sim_base.h"

#include <dirent.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int compare_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool replay_file(const char *path)
{
  FILE *file = fopen(path, "rb");
  if (file == NULL) return false;
  size_t capacity = 1 << 16, count = 0;
  uint8_t *bytes = malloc(capacity);
  size_t got;
  while (bytes != NULL && (got = fread(bytes + count, 1, capacity - count, file)) > 0) {
    count += got;
    if (count == capacity) bytes = realloc(bytes, capacity *= 2);
  }
  fclose(file);
  if (bytes == NULL) return false;
  LLVMFuzzerTestOneInput(bytes, count);
  free(bytes);
  return true;
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
