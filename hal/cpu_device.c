/* Qiao HAL — the cpu driver: host memory, a thread pool, host executables
 * (shared libraries, JIT code) called through libffi. */
#include <dlfcn.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "hal_internal.h"

typedef struct cpu_device {
  qiao_hal_thread_pool_t *pool;
} cpu_device_t;

static void cpu_destroy(qiao_hal_device_t *d) {
  cpu_device_t *cpu = d->impl;
  if (cpu) qiao_hal_thread_pool_destroy(cpu->pool);
  free(cpu);
}

static qiao_status_t cpu_profile_load(qiao_hal_device_t *d, qiao_hal_profile_t **out_profile) {
  (void)d;
  return qiao_hal_profile_host(out_profile);
}

static qiao_status_t cpu_buffer_alloc(qiao_hal_device_t *d, qiao_hal_buffer_t *b) {
  /* Round up to whole cache lines (aligned_alloc wants a multiple); a 0-byte
   * buffer still gets a valid, unique pointer. */
  size_t rounded = b->size ? (b->size + 63) / 64 * 64 : 64;
  if (rounded < b->size)
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "buffer of %zu bytes: size overflows",
                            b->size);
  b->host = aligned_alloc(64, rounded);
  if (!b->host)
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED,
                            "device '%s': cannot allocate a buffer of %zu bytes", d->uri, b->size);
  return NULL;
}

static void cpu_buffer_free(qiao_hal_device_t *d, qiao_hal_buffer_t *b) { free(b->host); }

static qiao_status_t cpu_buffer_write(qiao_hal_buffer_t *b, size_t offset, const void *src,
                                      size_t n) {
  if (n) memcpy((char *)b->host + offset, src, n);
  return NULL;
}

static qiao_status_t cpu_buffer_read(const qiao_hal_buffer_t *b, size_t offset, void *dst,
                                     size_t n) {
  if (n) memcpy(dst, (const char *)b->host + offset, n);
  return NULL;
}

static qiao_status_t cpu_buffer_copy(const qiao_hal_buffer_t *src, size_t src_offset,
                                     qiao_hal_buffer_t *dst, size_t dst_offset, size_t n) {
  if (!dst->host || !src->host)
    return qiao_status_make(QIAO_UNSUPPORTED, "buffer copy between a cpu buffer and a "
                                              "buffer that is not host-visible");
  if (n) memmove((char *)dst->host + dst_offset, (const char *)src->host + src_offset, n);
  return NULL;
}

typedef struct dispatch_ctx {
  const qiao_hal_entry_t *entry;
  void *const *bindings;
  const int64_t *constants;
  int64_t gx, gy;
} dispatch_ctx_t;

/* Runs linear workgroup ids [begin, end), x fastest. */
static void dispatch_range(void *p, int64_t begin, int64_t end, int32_t worker, void *scratch) {
  const dispatch_ctx_t *c = p;
  int64_t x = begin % c->gx, t = begin / c->gx;
  int64_t y = t % c->gy, z = t / c->gy;
  void *const *bindings = c->bindings;
  const int64_t *constants = c->constants;
  void *args[6] = {&bindings, &constants, &x, &y, &z, &scratch};
  ffi_cif *cif = (ffi_cif *)&c->entry->cif;
  void (*fn)(void) = (void (*)(void))c->entry->rec.fn;
  ffi_arg ret;
  for (int64_t i = begin; i < end; ++i) {
    ffi_call(cif, fn, &ret, args);
    if (++x == c->gx) {
      x = 0;
      if (++y == c->gy) {
        y = 0;
        ++z;
      }
    }
  }
}

static qiao_status_t cpu_dispatch(qiao_hal_device_t *d, qiao_hal_executable_t *e, int32_t index,
                                  const qiao_hal_launch_config_t *cfg,
                                  const qiao_hal_binding_t *bindings, const int64_t *constants) {
  cpu_device_t *cpu = d->impl;
  const qiao_hal_entry_t *entry = &e->entries[index];
  const int32_t *bl = cfg->block;
  if (bl[0] != 1 || bl[1] != 1 || bl[2] != 1 || cfg->shared_bytes)
    return qiao_status_make(QIAO_UNSUPPORTED,
                            "dispatch of '%s': device '%s' runs one invocation per workgroup "
                            "(block must be 1 x 1 x 1 and shared memory 0; got %d x %d x %d, "
                            "%llu bytes)",
                            entry->rec.name, d->uri, bl[0], bl[1], bl[2],
                            (unsigned long long)cfg->shared_bytes);
  int32_t n = entry->rec.n_bindings;
  void *ptrs[64];
  void **binding_ptrs = n <= 64 ? ptrs : malloc(sizeof(void *) * (size_t)n);
  if (!binding_ptrs)
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "dispatch of '%s': out of memory",
                            entry->rec.name);
  for (int32_t i = 0; i < n; ++i)
    binding_ptrs[i] = (char *)bindings[i].buffer->host + bindings[i].offset;
  const int64_t *grid = cfg->grid;
  dispatch_ctx_t c = {entry, binding_ptrs, constants, grid[0], grid[1]};
  int64_t total = grid[0] * grid[1] * grid[2];
  qiao_status_t st = qiao_hal_thread_pool_parallel_for(
      cpu->pool, total, 0, (size_t)entry->rec.scratch_bytes, dispatch_range, &c);
  if (binding_ptrs != ptrs) free(binding_ptrs);
  return st;
}

/* Host code runs on any cpu device of the process (one address space). */
static bool cpu_can_dispatch(const qiao_hal_device_t *d, const qiao_hal_executable_t *e) {
  return e->device->ops == d->ops;
}

/* ------------------------------------------------------------ executables */

typedef struct cpu_executable {
  void *dl_handle; /* HOST_LIBRARY; NULL for HOST_JIT */
} cpu_executable_t;

/* dlopens spec->path and reads its entry table into e. */
static qiao_status_t cpu_load_library(qiao_hal_device_t *d, const char *path,
                                      qiao_hal_executable_t *e) {
  (void)d;
  if (access(path, R_OK) != 0) return qiao_status_make(QIAO_NOT_FOUND, "%s", strerror(errno));
  /* dlopen of a relative name without '/' searches the library path: make it
   * a path so that we load exactly the file asked for. */
  char local[4096];
  const char *open_path = path;
  if (!strchr(path, '/')) {
    snprintf(local, sizeof local, "./%s", path);
    open_path = local;
  }
  cpu_executable_t *impl = calloc(1, sizeof(*impl));
  if (!impl) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  e->impl = impl;
  dlerror();
  impl->dl_handle = dlopen(open_path, RTLD_NOW | RTLD_LOCAL);
  if (!impl->dl_handle) {
    const char *err = dlerror();
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "cannot load: %s",
                            err ? err : "unknown dlopen error");
  }
  const qiao_hal_entry_record_t *table = dlsym(impl->dl_handle, QIAO_HAL_ENTRY_TABLE_SYMBOL);
  const int32_t *count = dlsym(impl->dl_handle, QIAO_HAL_ENTRY_COUNT_SYMBOL);
  if (!table || !count)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "missing symbol '%s' (not a Qiao CPU artifact: it must export %s and "
                            "%s)",
                            !table ? QIAO_HAL_ENTRY_TABLE_SYMBOL : QIAO_HAL_ENTRY_COUNT_SYMBOL,
                            QIAO_HAL_ENTRY_TABLE_SYMBOL, QIAO_HAL_ENTRY_COUNT_SYMBOL);
  if (*count < 0 || *count > 1000000)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "bad %s = %d", QIAO_HAL_ENTRY_COUNT_SYMBOL,
                            *count);
  return qiao_hal_executable_init_entries(e, table, *count, true);
}

static qiao_status_t cpu_executable_create(qiao_hal_device_t *d,
                                           const qiao_hal_executable_spec_t *spec,
                                           qiao_hal_executable_t *e) {
  if (spec->format == QIAO_HAL_FORMAT_HOST_LIBRARY) return cpu_load_library(d, spec->path, e);
  return qiao_hal_executable_init_entries(e, spec->records, spec->n_records, true);
}

static void cpu_executable_destroy(qiao_hal_executable_t *e) {
  cpu_executable_t *impl = e->impl;
  if (impl->dl_handle) dlclose(impl->dl_handle);
  free(impl);
}

/* ------------------------------------------------------------------ events */

static qiao_status_t cpu_event_record(qiao_hal_device_t *d, qiao_hal_event_t *out_event) {
  (void)d; /* dispatch is synchronous: all prior work is done */
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    return qiao_status_make(QIAO_INTERNAL, "clock_gettime: %s", strerror(errno));
  out_event->ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
  out_event->kind = QIAO_HAL_TIME_MEASURED;
  return NULL;
}

static qiao_status_t cpu_parallel_for(qiao_hal_device_t *d, int64_t n, int64_t grain,
                                      size_t scratch_bytes, qiao_hal_parallel_fn_t fn, void *ctx) {
  cpu_device_t *cpu = d->impl;
  return qiao_hal_thread_pool_parallel_for(cpu->pool, n, grain, scratch_bytes, fn, ctx);
}

static const qiao_hal_device_ops_t kCpuOps = {
    .driver = "cpu",
    .device_class = QIAO_HAL_CLASS_CPU,
    .formats = 1u << QIAO_HAL_FORMAT_HOST_LIBRARY | 1u << QIAO_HAL_FORMAT_HOST_JIT,
    .destroy = cpu_destroy,
    .profile_load = cpu_profile_load,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .buffer_write = cpu_buffer_write,
    .buffer_read = cpu_buffer_read,
    .buffer_copy = cpu_buffer_copy,
    .executable_create = cpu_executable_create,
    .executable_destroy = cpu_executable_destroy,
    .can_dispatch = cpu_can_dispatch,
    .dispatch = cpu_dispatch,
    .event_record = cpu_event_record,
    .parallel_for = cpu_parallel_for,
};

qiao_status_t qiao_hal_cpu_device_create(const char *uri, int32_t threads,
                                         qiao_hal_device_t **out_device) {
  *out_device = NULL;
  qiao_hal_device_t *d = calloc(1, sizeof(*d));
  cpu_device_t *cpu = calloc(1, sizeof(*cpu));
  if (!d || !cpu) {
    free(d);
    free(cpu);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "device '%s': out of memory", uri);
  }
  qiao_status_t st = qiao_hal_thread_pool_create(threads, &cpu->pool);
  if (st) {
    free(d);
    free(cpu);
    return qiao_status_annotate(st, "device '%s'", uri);
  }
  d->impl = cpu;
  st = qiao_hal_device_init(d, &kCpuOps, uri);
  if (st) {
    cpu_destroy(d);
    free(d);
    return st;
  }
  d->thread_count = threads;
  d->host_visible = true;
  *out_device = d;
  return NULL;
}
