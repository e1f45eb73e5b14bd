/* Checked int64 arithmetic for sizes: every numel × dtype size and stride
 * product in ir/ goes through these (private to ir/). */
#ifndef QIAO_IR_CHECKED_H
#define QIAO_IR_CHECKED_H

#include <stdbool.h>
#include <stdint.h>

/* *out = a * b; false (and *out untouched) when that overflows int64. */
static inline bool qiao_ck_mul(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return false;
  *out = r;
  return true;
}

/* *out = a + b; false when that overflows int64. */
static inline bool qiao_ck_add(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return false;
  *out = r;
  return true;
}

#endif /* QIAO_IR_CHECKED_H */
