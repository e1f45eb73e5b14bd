/* Qiao HAL — dispatch: argument validation, then the device's dispatch op. */
#include <string.h>

#include "hal_internal.h"

enum { QIAO_HAL_MAX_BINDINGS = 1024 };

qiao_status_t qiao_hal_dispatch(qiao_hal_device_t *d, qiao_hal_executable_t *e, int32_t index,
                                const int64_t grid[3], const qiao_hal_binding_t *bindings,
                                int32_t n_bindings, const int64_t *constants,
                                int32_t n_constants) {
  if (index < 0 || index >= e->n_entries)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch: entry index %d out of range (executable '%s' has %d)",
                            index, e->path, e->n_entries);
  const qiao_hal_entry_t *en = &e->entries[index];
  const char *name = en->rec.name;
  /* Host code runs on any device of its class (every cpu device of this
   * process shares one address space); other classes need the same device. */
  if (e->device != d && (strcmp(qiao_hal_device_class(e->device), "cpu") != 0 ||
                         strcmp(qiao_hal_device_class(d), "cpu") != 0))
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': executable was loaded on device '%s', not '%s'",
                            name, e->device->uri, d->uri);
  if (!en->is_dispatch_entry)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': signature '%s' is not the dispatch signature '%s'",
                            name, en->rec.signature, QIAO_HAL_CPU_ENTRY_SIGNATURE);
  if (!grid) return qiao_status_make(QIAO_INVALID_ARGUMENT, "dispatch of '%s': grid is NULL", name);
  if (grid[0] < 0 || grid[1] < 0 || grid[2] < 0)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': negative grid %lld x %lld x %lld", name,
                            (long long)grid[0], (long long)grid[1], (long long)grid[2]);
  if (grid[0] && grid[1] && grid[2] &&
      (grid[0] > INT64_MAX / grid[1] || grid[0] * grid[1] > INT64_MAX / grid[2]))
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': grid %lld x %lld x %lld overflows", name,
                            (long long)grid[0], (long long)grid[1], (long long)grid[2]);
  if (n_bindings != en->rec.n_bindings)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': %d bindings given, the entry takes %d", name,
                            n_bindings, en->rec.n_bindings);
  if (n_constants != en->rec.n_constants)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': %d constants given, the entry takes %d", name,
                            n_constants, en->rec.n_constants);
  if (n_bindings > QIAO_HAL_MAX_BINDINGS)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "dispatch of '%s': %d bindings (max %d)",
                            name, n_bindings, QIAO_HAL_MAX_BINDINGS);
  if ((n_bindings && !bindings) || (n_constants && !constants))
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': bindings or constants array is NULL", name);
  void *ptrs[64];
  void **binding_ptrs = n_bindings <= 64 ? ptrs : malloc(sizeof(void *) * (size_t)n_bindings);
  if (!binding_ptrs)
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "dispatch of '%s': out of memory", name);
  qiao_status_t st = NULL;
  for (int32_t i = 0; i < n_bindings && !st; ++i) {
    const qiao_hal_binding_t *b = &bindings[i];
    if (!b->buffer)
      st = qiao_status_make(QIAO_INVALID_ARGUMENT, "dispatch of '%s': binding %d has no buffer",
                            name, i);
    else if (b->buffer->device != d)
      st = qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': binding %d is a buffer of device '%s', not '%s'",
                            name, i, b->buffer->device->uri, d->uri);
    else if (b->offset > b->buffer->size)
      st = qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': binding %d offset %zu is past the end of its "
                            "buffer (%zu bytes)",
                            name, i, b->offset, b->buffer->size);
    else
      binding_ptrs[i] = (char *)b->buffer->host + b->offset;
  }
  int64_t total = grid[0] * grid[1] * grid[2];
  if (!st && total > 0) st = d->ops->dispatch(d, e, index, grid, binding_ptrs, constants);
  if (binding_ptrs != ptrs) free(binding_ptrs);
  return st;
}
