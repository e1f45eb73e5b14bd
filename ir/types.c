/* Dtypes, shapes and types: names, sizes, equality, printing. */
#include <stdio.h>
#include <string.h>

#include "checked.h"
#include "qiao/ir.h"

static const struct {
  const char *name;
  size_t size;
} k_dtypes[QIAO_DTYPE_COUNT] = {
    [QIAO_F32] = {"f32", 4},     [QIAO_F16] = {"f16", 2},       [QIAO_BF16] = {"bf16", 2},
    [QIAO_F8E4M3] = {"f8e4m3", 1}, [QIAO_F8E5M2] = {"f8e5m2", 1}, [QIAO_I8] = {"i8", 1},
    [QIAO_I32] = {"i32", 4},     [QIAO_I64] = {"i64", 8},       [QIAO_BOOL] = {"bool", 1},
};

const char *qiao_dtype_name(qiao_dtype_t dt) {
  if ((int)dt < 0 || dt >= QIAO_DTYPE_COUNT) return "?";
  return k_dtypes[dt].name;
}

bool qiao_dtype_from_name(const char *name, size_t len, qiao_dtype_t *out_dt) {
  for (int i = 0; i < QIAO_DTYPE_COUNT; ++i) {
    if (strlen(k_dtypes[i].name) == len && memcmp(k_dtypes[i].name, name, len) == 0) {
      *out_dt = (qiao_dtype_t)i;
      return true;
    }
  }
  return false;
}

size_t qiao_dtype_size(qiao_dtype_t dt) {
  if ((int)dt < 0 || dt >= QIAO_DTYPE_COUNT) return 0;
  return k_dtypes[dt].size;
}

bool qiao_dtype_is_float(qiao_dtype_t dt) { return dt <= QIAO_F8E5M2; }
bool qiao_dtype_is_int(qiao_dtype_t dt) { return dt == QIAO_I8 || dt == QIAO_I32 || dt == QIAO_I64; }

int64_t qiao_shape_numel(const qiao_shape_t *s) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; ++i) n *= s->dims[i];
  return n;
}

bool qiao_type_nbytes(const qiao_type_t *t, int64_t *out_bytes) {
  if ((int)t->dtype < 0 || t->dtype >= QIAO_DTYPE_COUNT) return false;
  if (t->shape.rank < 0 || t->shape.rank > QIAO_MAX_RANK) return false;
  int64_t n = 1, any_zero = 0;
  for (int i = 0; i < t->shape.rank; ++i) {
    int64_t d = t->shape.dims[i];
    if (d < 0) return false;
    if (d == 0)
      any_zero = 1;
    else if (!qiao_ck_mul(n, d, &n))
      return false;
  }
  int64_t bytes;
  if (!qiao_ck_mul(n, (int64_t)qiao_dtype_size(t->dtype), &bytes)) return false;
  *out_bytes = any_zero ? 0 : bytes;
  return true;
}

bool qiao_shape_equal(const qiao_shape_t *a, const qiao_shape_t *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; ++i)
    if (a->dims[i] != b->dims[i]) return false;
  return true;
}

bool qiao_type_equal(const qiao_type_t *a, const qiao_type_t *b) {
  return a->dtype == b->dtype && qiao_shape_equal(&a->shape, &b->shape);
}

char *qiao_type_str(const qiao_type_t *t, char *buf, size_t cap) {
  if (!cap) return buf;
  size_t n = (size_t)snprintf(buf, cap, "%s[", qiao_dtype_name(t->dtype));
  for (int i = 0; i < t->shape.rank && n < cap; ++i)
    n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)t->shape.dims[i]);
  if (n < cap) snprintf(buf + n, cap - n, "]");
  return buf;
}
