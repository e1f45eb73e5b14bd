/* Qiao HAL — the cpu device class: host memory, a thread pool, ffi calls. */
#include "hal_internal.h"

typedef struct cpu_device {
  qiao_hal_thread_pool_t *pool;
} cpu_device_t;

static void cpu_destroy(qiao_hal_device_t *d) {
  cpu_device_t *cpu = d->impl;
  if (cpu) qiao_hal_thread_pool_destroy(cpu->pool);
  free(cpu);
  free(d);
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
                                  const int64_t grid[3], void *const *binding_ptrs,
                                  const int64_t *constants) {
  cpu_device_t *cpu = d->impl;
  const qiao_hal_entry_t *entry = &e->entries[index];
  dispatch_ctx_t c = {entry, binding_ptrs, constants, grid[0], grid[1]};
  int64_t total = grid[0] * grid[1] * grid[2];
  return qiao_hal_thread_pool_parallel_for(cpu->pool, total, 0, (size_t)entry->rec.scratch_bytes,
                                           dispatch_range, &c);
}

static qiao_status_t cpu_parallel_for(qiao_hal_device_t *d, int64_t n, int64_t grain,
                                      size_t scratch_bytes, qiao_hal_parallel_fn_t fn, void *ctx) {
  cpu_device_t *cpu = d->impl;
  return qiao_hal_thread_pool_parallel_for(cpu->pool, n, grain, scratch_bytes, fn, ctx);
}

static const qiao_hal_device_ops_t kCpuOps = {
    .class_name = "cpu",
    .destroy = cpu_destroy,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .buffer_write = cpu_buffer_write,
    .buffer_read = cpu_buffer_read,
    .buffer_copy = cpu_buffer_copy,
    .dispatch = cpu_dispatch,
    .synchronize = NULL,
    .parallel_for = cpu_parallel_for,
};

qiao_status_t qiao_hal_cpu_device_create(const char *uri, int32_t threads,
                                         qiao_hal_device_t **out_device) {
  *out_device = NULL;
  qiao_hal_device_t *d = calloc(1, sizeof(*d));
  cpu_device_t *cpu = calloc(1, sizeof(*cpu));
  char *u = qiao_hal_strdup(uri);
  if (!d || !cpu || !u) {
    free(d);
    free(cpu);
    free(u);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "device '%s': out of memory", uri);
  }
  qiao_status_t st = qiao_hal_thread_pool_create(threads, &cpu->pool);
  if (st) {
    free(d);
    free(cpu);
    free(u);
    return qiao_status_annotate(st, "device '%s'", uri);
  }
  atomic_init(&d->refs, 1);
  d->ops = &kCpuOps;
  d->uri = u;
  d->thread_count = threads;
  d->host_visible = true;
  d->impl = cpu;
  *out_device = d;
  return NULL;
}
