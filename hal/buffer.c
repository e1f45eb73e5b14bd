/* Qiao HAL — buffers: refcounting and bounds checks over the device vtable. */
#include "hal_internal.h"

qiao_status_t qiao_hal_buffer_alloc(qiao_hal_device_t *d, size_t size,
                                    qiao_hal_buffer_t **out_buffer) {
  *out_buffer = NULL;
  qiao_hal_buffer_t *b = calloc(1, sizeof(*b));
  if (!b) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "buffer alloc: out of memory");
  atomic_init(&b->refs, 1);
  b->device = d;
  b->size = size;
  qiao_status_t st = d->ops->buffer_alloc(d, b);
  if (st) {
    free(b);
    return st;
  }
  qiao_hal_device_retain(d);
  *out_buffer = b;
  return NULL;
}

void qiao_hal_buffer_retain(qiao_hal_buffer_t *b) {
  if (b) atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void qiao_hal_buffer_release(qiao_hal_buffer_t *b) {
  if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) return;
  qiao_hal_device_t *d = b->device;
  d->ops->buffer_free(d, b);
  free(b);
  qiao_hal_device_release(d);
}

size_t qiao_hal_buffer_size(const qiao_hal_buffer_t *b) { return b->size; }

void *qiao_hal_buffer_host_ptr(qiao_hal_buffer_t *b) { return b->host; }

/* offset + n <= size, without overflow. */
static qiao_status_t check_range(const char *what, const qiao_hal_buffer_t *b, size_t offset,
                                 size_t n) {
  if (offset > b->size || n > b->size - offset)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "%s out of bounds: offset %zu + %zu bytes > buffer size %zu", what,
                            offset, n, b->size);
  return NULL;
}

qiao_status_t qiao_hal_buffer_write(qiao_hal_buffer_t *b, size_t offset, const void *src,
                                    size_t n) {
  QIAO_RETURN_IF_ERROR(check_range("buffer write", b, offset, n));
  if (n && !src) return qiao_status_make(QIAO_INVALID_ARGUMENT, "buffer write: src is NULL");
  return b->device->ops->buffer_write(b, offset, src, n);
}

qiao_status_t qiao_hal_buffer_read(const qiao_hal_buffer_t *b, size_t offset, void *dst, size_t n) {
  QIAO_RETURN_IF_ERROR(check_range("buffer read", b, offset, n));
  if (n && !dst) return qiao_status_make(QIAO_INVALID_ARGUMENT, "buffer read: dst is NULL");
  return b->device->ops->buffer_read(b, offset, dst, n);
}

qiao_status_t qiao_hal_buffer_copy(const qiao_hal_buffer_t *src, size_t src_offset,
                                   qiao_hal_buffer_t *dst, size_t dst_offset, size_t n) {
  QIAO_RETURN_IF_ERROR(check_range("buffer copy source", src, src_offset, n));
  QIAO_RETURN_IF_ERROR(check_range("buffer copy destination", dst, dst_offset, n));
  /* The destination's device does the copy (both cpu today). */
  return dst->device->ops->buffer_copy(src, src_offset, dst, dst_offset, n);
}
