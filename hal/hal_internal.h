/* Qiao HAL — private: object layouts and the device vtable.
 *
 * Every device class (cpu now; simt-emu, ascend-sim, cuda later) fills a
 * qiao_hal_device_ops_t. Generic code in device.c / buffer.c / executable.c /
 * dispatch.c validates arguments and then calls through the vtable.
 */
#ifndef QIAO_HAL_INTERNAL_H
#define QIAO_HAL_INTERNAL_H

#include <stdatomic.h>

#include <ffi.h>

#include "qiao/hal.h"
#include "thread_pool.h"

typedef struct qiao_hal_device_ops {
  const char *class_name; /* "cpu", ... */
  void (*destroy)(qiao_hal_device_t *d);
  /* Allocates b->host / device memory for b->size bytes. */
  qiao_status_t (*buffer_alloc)(qiao_hal_device_t *d, qiao_hal_buffer_t *b);
  void (*buffer_free)(qiao_hal_device_t *d, qiao_hal_buffer_t *b);
  /* Bounds are checked by the caller. */
  qiao_status_t (*buffer_write)(qiao_hal_buffer_t *b, size_t offset, const void *src, size_t n);
  qiao_status_t (*buffer_read)(const qiao_hal_buffer_t *b, size_t offset, void *dst, size_t n);
  qiao_status_t (*buffer_copy)(const qiao_hal_buffer_t *src, size_t src_offset,
                               qiao_hal_buffer_t *dst, size_t dst_offset, size_t n);
  /* Arguments are validated by the caller (entry, grid, bindings, constants). */
  qiao_status_t (*dispatch)(qiao_hal_device_t *d, qiao_hal_executable_t *e, int32_t index,
                            const int64_t grid[3], void *const *binding_ptrs,
                            const int64_t *constants);
  /* Waits for all submitted work (the cpu device is synchronous: no-op). */
  qiao_status_t (*synchronize)(qiao_hal_device_t *d);
  /* Runs a host parallel-for on the device's workers (host devices only). */
  qiao_status_t (*parallel_for)(qiao_hal_device_t *d, int64_t n, int64_t grain,
                                size_t scratch_bytes, qiao_hal_parallel_fn_t fn, void *ctx);
} qiao_hal_device_ops_t;

struct qiao_hal_device {
  _Atomic int32_t refs;
  const qiao_hal_device_ops_t *ops;
  char *uri;
  int32_t thread_count;
  bool host_visible;
  void *impl; /* class-specific state */
};

struct qiao_hal_buffer {
  _Atomic int32_t refs;
  qiao_hal_device_t *device; /* retained */
  size_t size;
  void *host; /* host-visible memory (64-byte aligned), or NULL */
  void *impl; /* device memory handle for non-host devices */
};

typedef struct qiao_hal_entry {
  qiao_hal_entry_record_t rec; /* name and signature owned (copied) */
  ffi_cif cif;
  ffi_type *ret_type;
  ffi_type **arg_types;
  int32_t n_args;
  bool is_dispatch_entry; /* signature == QIAO_HAL_CPU_ENTRY_SIGNATURE */
} qiao_hal_entry_t;

struct qiao_hal_executable {
  _Atomic int32_t refs;
  qiao_hal_device_t *device; /* retained */
  char *path;                /* load_file: the artifact; create_host: "<host>" */
  void *dl_handle;           /* dlopen handle or NULL */
  void (*release)(void *);
  void *release_ctx;
  int32_t n_entries;
  qiao_hal_entry_t *entries;
};

/* The cpu device class (cpu_device.c). */
qiao_status_t qiao_hal_cpu_device_create(const char *uri, int32_t threads,
                                         qiao_hal_device_t **out_device);

/* Duplicates a string; NULL on out-of-memory. */
char *qiao_hal_strdup(const char *s);

#endif /* QIAO_HAL_INTERNAL_H */
