/* Qiao HAL — dispatch: argument validation, then the device's dispatch op.
 * Generic code never touches device memory: bindings go to the device as
 * (buffer, offset) pairs. */
#include <string.h>

#include "hal_internal.h"

enum { QIAO_HAL_MAX_BINDINGS = 1024 };

/* Binding i of entry `en`: a buffer of d, offset within it, and at least the
 * entry's recorded size past the offset. */
static qiao_status_t check_binding(const qiao_hal_device_t *d, const qiao_hal_entry_t *en,
                                   const qiao_hal_binding_t *b, int32_t i) {
  const char *name = en->rec.name;
  if (!b->buffer)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "dispatch of '%s': binding %d has no buffer",
                            name, i);
  if (b->buffer->device != d)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': binding %d is a buffer of device '%s', not '%s'",
                            name, i, b->buffer->device->uri, d->uri);
  size_t size = b->buffer->size;
  if (b->offset > size)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': binding %d offset %zu is past the end of its "
                            "buffer (%zu bytes)",
                            name, i, b->offset, size);
  uint64_t need = en->rec.binding_bytes ? en->rec.binding_bytes[i] : 0;
  if (need > size - b->offset)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': binding %d needs %llu bytes, buffer gives %zu "
                            "(size %zu, offset %zu)",
                            name, i, (unsigned long long)need, size - b->offset, size, b->offset);
  return NULL;
}

qiao_status_t qiao_hal_dispatch_launch(qiao_hal_device_t *d, qiao_hal_executable_t *e,
                                       int32_t index, const qiao_hal_launch_config_t *cfg,
                                       const qiao_hal_binding_t *bindings, int32_t n_bindings,
                                       const int64_t *constants, int32_t n_constants) {
  if (index < 0 || index >= e->n_entries)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch: entry index %d out of range (executable '%s' has %d)", index,
                            e->path, e->n_entries);
  const qiao_hal_entry_t *en = &e->entries[index];
  const char *name = en->rec.name;
  if (!qiao_hal_executable_can_dispatch(e, d))
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': executable was loaded on device '%s', not '%s'",
                            name, e->device->uri, d->uri);
  if (!en->is_dispatch_entry)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': signature '%s' is not the dispatch signature '%s'",
                            name, en->rec.signature, QIAO_HAL_CPU_ENTRY_SIGNATURE);
  if (!cfg)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "dispatch of '%s': launch config is NULL", name);
  const int64_t *grid = cfg->grid;
  if (grid[0] < 0 || grid[1] < 0 || grid[2] < 0)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': negative grid %lld x %lld x %lld", name,
                            (long long)grid[0], (long long)grid[1], (long long)grid[2]);
  if (grid[0] && grid[1] && grid[2] &&
      (grid[0] > INT64_MAX / grid[1] || grid[0] * grid[1] > INT64_MAX / grid[2]))
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': grid %lld x %lld x %lld overflows", name,
                            (long long)grid[0], (long long)grid[1], (long long)grid[2]);
  const int32_t *block = cfg->block;
  if (block[0] < 1 || block[1] < 1 || block[2] < 1)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': block %d x %d x %d has a dimension below 1", name,
                            block[0], block[1], block[2]);
  if (n_bindings != en->rec.n_bindings)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': %d bindings given, the entry takes %d", name,
                            n_bindings, en->rec.n_bindings);
  if (n_constants != en->rec.n_constants)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': %d constants given, the entry takes %d", name,
                            n_constants, en->rec.n_constants);
  if (n_bindings > QIAO_HAL_MAX_BINDINGS)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "dispatch of '%s': %d bindings (max %d)", name,
                            n_bindings, QIAO_HAL_MAX_BINDINGS);
  if ((n_bindings && !bindings) || (n_constants && !constants))
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': bindings or constants array is NULL", name);
  for (int32_t i = 0; i < n_bindings; ++i)
    QIAO_RETURN_IF_ERROR(check_binding(d, en, &bindings[i], i));
  if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0) return NULL;
  return d->ops->dispatch(d, e, index, cfg, bindings, constants);
}

qiao_status_t qiao_hal_dispatch(qiao_hal_device_t *d, qiao_hal_executable_t *e, int32_t index,
                                const int64_t grid[3], const qiao_hal_binding_t *bindings,
                                int32_t n_bindings, const int64_t *constants, int32_t n_constants) {
  if (!grid) {
    const char *name = index >= 0 && index < e->n_entries ? e->entries[index].rec.name : "?";
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "dispatch of '%s': grid is NULL", name);
  }
  qiao_hal_launch_config_t cfg = {{grid[0], grid[1], grid[2]}, {1, 1, 1}, 0};
  return qiao_hal_dispatch_launch(d, e, index, &cfg, bindings, n_bindings, constants, n_constants);
}

bool qiao_hal_executable_can_dispatch(const qiao_hal_executable_t *e, const qiao_hal_device_t *d) {
  return e && d && (e->device == d || (d->ops->can_dispatch && d->ops->can_dispatch(d, e)));
}
