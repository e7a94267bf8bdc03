/*
 * conform_file.c: a file: URI's simulated file (conform_file.h).
 */
#include "sim_base.h"

#include "conform_file.h"

struct conform_file {
  struct sim *sim;
  struct link *link;
  uint64_t write_bytes_per_s;
  uint64_t read_bytes_per_s;
  uint8_t *bytes;                    /* the file's contents */
  uint64_t count;
  uint64_t capacity;
  uint64_t start_ns;                 /* the first write */
  bool started;
  bool closed;                       /* the writer closed it: the file is whole */
  bool full;                         /* disk-full fired */
  bool restoring;                    /* migrate-incoming reads it */
  uint64_t read_offset;
  struct sim_event write_event;      /* the disk caught up: the writer may go on */
  struct sim_event read_event;       /* the next chunk read back */
};

/* Bytes the disk has taken by now, plus the write-back window. */
static uint64_t file_room(const struct conform_file *file)
{
  if (!file->started) return CONFORM_FILE_WRITEBACK_BYTES;
  uint64_t elapsed_ns = sim_now_ns(file->sim) - file->start_ns;
  /* Split at whole seconds: rates are at most 2^33 B/s, so neither product overflows. */
  uint64_t flushed = elapsed_ns / SIM_NS_PER_S * file->write_bytes_per_s +
                     elapsed_ns % SIM_NS_PER_S * file->write_bytes_per_s / SIM_NS_PER_S;
  uint64_t limit = flushed + CONFORM_FILE_WRITEBACK_BYTES;
  return limit > file->count ? limit - file->count : 0;
}

static void file_kick_reader(struct conform_file *file)
{
  if (file->restoring && !sim_event_armed(&file->read_event)) {
    sim_event_schedule_at(file->sim, &file->read_event, sim_now_ns(file->sim));
  }
}

static size_t file_send(void *context, const uint8_t *bytes, size_t count)
{
  struct conform_file *file = context;
  if (file->full) return 0;
  if (!file->started) {
    file->started = true;
    file->start_ns = sim_now_ns(file->sim);
  }
  uint64_t accepted = SIM_MIN((uint64_t)count, file_room(file));
  if (accepted < count && !sim_event_armed(&file->write_event)) {
    /* Wake the writer when a write-back window's quarter has reached the disk. */
    uint64_t wait_ns = (CONFORM_FILE_WRITEBACK_BYTES / 4) * SIM_NS_PER_S /
                       file->write_bytes_per_s + 1;
    sim_event_schedule_at(file->sim, &file->write_event, sim_now_ns(file->sim) + wait_ns);
  }
  if (accepted == 0) return 0;
  if (file->count + accepted > file->capacity) {
    uint64_t capacity = SIM_MAX(file->capacity * 2, UINT64_C(1) << 20);
    while (capacity < file->count + accepted) capacity *= 2;
    uint8_t *grown = realloc(file->bytes, capacity);
    SIM_ASSERT(grown != NULL);
    file->bytes = grown;
    file->capacity = capacity;
  }
  memcpy(file->bytes + file->count, bytes, accepted);
  file->count += accepted;
  file_kick_reader(file);
  return (size_t)accepted;
}

static size_t file_space(const void *context)
{
  const struct conform_file *file = context;
  return file->full ? 0 : (size_t)file_room(file);
}

static void file_close(void *context)
{
  struct conform_file *file = context;
  file->closed = true;
  sim_trace(file->sim, "file.closed", file->count, 0, 0, 0);
  file_kick_reader(file);
}

static void file_faults_set(void *context, const struct link_faults *faults)
{
  (void)context;
  (void)faults; /* a local disk: no packet faults (disk-full is its fault) */
}

static const struct link_stats *file_stats(const void *context)
{
  (void)context;
  static const struct link_stats none;
  return &none;
}

static const struct link_carrier file_carrier = {file_send, file_space, file_close,
                                                 file_faults_set, file_stats};

static void file_on_write(struct sim *sim, struct sim_event *event)
{
  (void)sim;
  struct conform_file *file = SIM_CONTAINER_OF(event, struct conform_file, write_event);
  link_carried_writable(file->link);
}

/* Read back one chunk, then the next after the disk's read time; the end closes. */
static void file_on_read(struct sim *sim, struct sim_event *event)
{
  struct conform_file *file = SIM_CONTAINER_OF(event, struct conform_file, read_event);
  uint64_t count = SIM_MIN(CONFORM_FILE_READ_CHUNK_BYTES, file->count - file->read_offset);
  if (count == 0) {
    if (file->closed) link_carried_deliver(file->link, NULL, 0);
    return; /* a file still being written: the next write kicks the reader */
  }
  link_carried_deliver(file->link, file->bytes + file->read_offset, (size_t)count);
  file->read_offset += count;
  uint64_t read_ns = count * SIM_NS_PER_S / file->read_bytes_per_s + 1;
  sim_event_schedule_at(sim, event, sim_now_ns(sim) + read_ns);
}

struct conform_file *conform_file_create(struct sim *sim, const char *name,
                                         uint64_t write_bytes_per_s, uint64_t read_bytes_per_s)
{
  SIM_ASSERT(write_bytes_per_s > 0 && write_bytes_per_s <= UINT64_C(1) << 33);
  SIM_ASSERT(read_bytes_per_s > 0 && read_bytes_per_s <= UINT64_C(1) << 33);
  struct conform_file *file = sim_alloc(sim, sizeof(*file));
  memset(file, 0, sizeof(*file));
  file->sim = sim;
  file->write_bytes_per_s = write_bytes_per_s;
  file->read_bytes_per_s = read_bytes_per_s;
  file->link = link_create_carried(sim, name, &file_carrier, file);
  sim_event_init(&file->write_event, file_on_write, "file.write");
  sim_event_init(&file->read_event, file_on_read, "file.read");
  return file;
}

void conform_file_destroy(struct conform_file *file)
{
  if (file == NULL) return;
  free(file->bytes);
  file->bytes = NULL;
}

struct link *conform_file_link(struct conform_file *file) { return file->link; }
uint64_t conform_file_bytes(const struct conform_file *file) { return file->count; }

void conform_file_restore(struct conform_file *file)
{
  if (file->restoring) return;
  file->restoring = true;
  sim_trace(file->sim, "file.restore", file->count, file->closed, 0, 0);
  file_kick_reader(file);
}

bool conform_file_disk_full(struct conform_file *file)
{
  if (file->closed || file->full) return false;
  file->full = true;
  sim_trace(file->sim, "file.full", file->count, 0, 0, 0);
  link_carried_break(file->link); /* ENOSPC: the writer's next write fails */
  return true;
}
