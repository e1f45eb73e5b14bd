/* Qiao HAL — private: object layouts and the device vtable.
 *
 * Every device class (cpu now; simt-emu, ascend-sim, cuda later) fills a
 * qiao_hal_device_ops_t. Generic code in device.c / buffer.c / executable.c /
 * dispatch.c validates arguments and then calls through the vtable.
 */
#ifndef QIAO_HAL_INTERNAL_H
#define QIAO_HAL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <ffi.h>

#include "qiao/hal.h"
#include "thread_pool.h"

typedef struct qiao_hal_device_ops {
  const char *driver;                   /* the URI scheme: "cpu", "simt-emu", ... */
  qiao_hal_device_class_t device_class; /* what code it runs */
  uint32_t formats;                     /* bit (1u << f) per loadable executable format */
  /* Frees d->impl (the generic layer frees the rest). */
  void (*destroy)(qiao_hal_device_t *d);
  /* Loads the device's profile (called once, under d->profile_lock). */
  qiao_status_t (*profile_load)(qiao_hal_device_t *d, qiao_hal_profile_t **out_profile);
  /* Allocates b->host / device memory for b->size bytes. */
  qiao_status_t (*buffer_alloc)(qiao_hal_device_t *d, qiao_hal_buffer_t *b);
  void (*buffer_free)(qiao_hal_device_t *d, qiao_hal_buffer_t *b);
  /* Bounds are checked by the caller. */
  qiao_status_t (*buffer_write)(qiao_hal_buffer_t *b, size_t offset, const void *src, size_t n);
  qiao_status_t (*buffer_read)(const qiao_hal_buffer_t *b, size_t offset, void *dst, size_t n);
  qiao_status_t (*buffer_copy)(const qiao_hal_buffer_t *src, size_t src_offset,
                               qiao_hal_buffer_t *dst, size_t dst_offset, size_t n);
  /* Fills e (entries through qiao_hal_executable_init_entries, e->impl) from a
   * spec whose format is in `formats`; the generic layer checked the spec's
   * fields for that format. On failure e->impl, when set, is freed by
   * executable_destroy. */
  qiao_status_t (*executable_create)(qiao_hal_device_t *d, const qiao_hal_executable_spec_t *spec,
                                     qiao_hal_executable_t *e);
  /* Frees e->impl (dlopen handle, device module); NULL impl never reaches it. */
  void (*executable_destroy)(qiao_hal_executable_t *e);
  /* Whether d may dispatch e, which another device (e->device != d) made.
   * NULL: only the device that made it. */
  bool (*can_dispatch)(const qiao_hal_device_t *d, const qiao_hal_executable_t *e);
  /* Arguments are validated by the caller (entry, launch config, bindings
   * with their sizes, constants); the grid is not empty. */
  qiao_status_t (*dispatch)(qiao_hal_device_t *d, qiao_hal_executable_t *e, int32_t index,
                            const qiao_hal_launch_config_t *cfg, const qiao_hal_binding_t *bindings,
                            const int64_t *constants);
  /* The device's time after all submitted work completes. */
  qiao_status_t (*event_record)(qiao_hal_device_t *d, qiao_hal_event_t *out_event);
  /* One paragraph on the last dispatch (qiao_hal_device_last_report); NULL:
   * the device has none. */
  qiao_status_t (*last_report)(qiao_hal_device_t *d, char *buf, size_t cap);
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
  void *impl; /* driver-specific state */
  pthread_mutex_t profile_lock;
  _Atomic(qiao_hal_profile_t *) profile; /* loaded lazily, owned */
};

struct qiao_hal_buffer {
  _Atomic int32_t refs;
  qiao_hal_device_t *device; /* retained */
  size_t size;
  void *host; /* host-visible memory (64-byte aligned), or NULL */
  void *impl; /* device memory handle for non-host devices */
};

typedef struct qiao_hal_entry {
  qiao_hal_entry_record_t rec; /* name, signature and binding_bytes owned (copied) */
  ffi_cif cif;                 /* host formats only */
  ffi_type *ret_type;
  ffi_type **arg_types;
  int32_t n_args;
  bool is_dispatch_entry; /* host: signature == QIAO_HAL_CPU_ENTRY_SIGNATURE; others: true */
} qiao_hal_entry_t;

struct qiao_hal_executable {
  _Atomic int32_t refs;
  qiao_hal_device_t *device; /* retained; the device that made it */
  qiao_hal_executable_format_t format;
  char *path;              /* HOST_LIBRARY: the artifact; otherwise "<host>", "<ptx>", ... */
  void *impl;              /* device-owned, freed by device->ops->executable_destroy */
  void (*release)(void *); /* from the spec, called last */
  void *release_ctx;
  int32_t n_entries;
  qiao_hal_entry_t *entries;
};

/* Initializes a device's generic part (one reference, uri copied); the
 * driver then sets impl, thread_count, host_visible. */
qiao_status_t qiao_hal_device_init(qiao_hal_device_t *d, const qiao_hal_device_ops_t *ops,
                                   const char *uri);

/* Copies n records into e->entries, validating each (errors name the entry).
 * host_code: fn required and a libffi cif prepared (host formats); otherwise
 * fn must be NULL and entries are metadata for the device. */
qiao_status_t qiao_hal_executable_init_entries(qiao_hal_executable_t *e,
                                               const qiao_hal_entry_record_t *records, int32_t n,
                                               bool host_code);

/* The cpu device class (cpu_device.c). */
qiao_status_t qiao_hal_cpu_device_create(const char *uri, int32_t threads,
                                         qiao_hal_device_t **out_device);

/* The simt-emu device class (simt/simt_device.c): "simt-emu:<profile>[,options]". */
qiao_status_t qiao_hal_simt_device_open(const char *uri, const char *options,
                                        qiao_hal_device_t **out_device);

/* The ascend-sim device class (ascend/ascend_device.c): "ascend-sim:<profile>[:cores=N]". */
qiao_status_t qiao_hal_ascend_device_open(const char *uri, const char *options,
                                          qiao_hal_device_t **out_device);

/* Duplicates a string; NULL on out-of-memory. */
char *qiao_hal_strdup(const char *s);

#endif /* QIAO_HAL_INTERNAL_H */
