/* Test helpers for simt-emu (tests/hal/test_simt*.c). */
#ifndef QIAO_TESTS_SIMT_UTIL_H
#define QIAO_TESTS_SIMT_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/hal.h"
#include "qiao/hal_simt.h"

#define OK(expr)                                                                                   \
  do {                                                                                             \
    qiao_status_t st_ = (expr);                                                                    \
    cr_assert_null(st_, "%s: %s", #expr, st_ ? qiao_status_message(st_) : "");                     \
  } while (0)

static inline qiao_hal_device_t *simt_open(const char *uri) {
  qiao_hal_device_t *d = NULL;
  OK(qiao_hal_device_open(uri, &d));
  return d;
}

static inline char *read_text(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)len + 1);
  cr_assert_eq(fread(s, 1, (size_t)len, f), (size_t)len);
  s[len] = 0;
  fclose(f);
  *n = (size_t)len;
  return s;
}

static inline qiao_hal_executable_t *simt_load_text(qiao_hal_device_t *d, const char *ptx) {
  qiao_hal_executable_spec_t spec = {
      .format = QIAO_HAL_FORMAT_PTX, .data = ptx, .size = strlen(ptx)};
  qiao_hal_executable_t *e = NULL;
  OK(qiao_hal_executable_create(d, &spec, &e));
  return e;
}

static inline qiao_hal_executable_t *simt_load_file(qiao_hal_device_t *d, const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/data/ptx/%s", QIAO_SOURCE_DIR, name);
  size_t n;
  char *s = read_text(path, &n);
  qiao_hal_executable_t *e = simt_load_text(d, s);
  free(s);
  return e;
}

static inline qiao_hal_buffer_t *buf_from(qiao_hal_device_t *d, const void *src, size_t n) {
  qiao_hal_buffer_t *b = NULL;
  OK(qiao_hal_buffer_alloc(d, n, &b));
  if (src) OK(qiao_hal_buffer_write(b, 0, src, n));
  return b;
}

static inline uint64_t addr_of_buf(qiao_hal_buffer_t *b) {
  uint64_t a = 0;
  OK(qiao_hal_simt_buffer_address(b, 0, &a));
  return a;
}

static inline int32_t entry_index(qiao_hal_executable_t *e, const char *name) {
  int32_t i = -1;
  OK(qiao_hal_executable_lookup(e, name, &i, NULL));
  return i;
}

/* Launches `name` with raw args. */
static inline qiao_status_t simt_run(qiao_hal_device_t *d, qiao_hal_executable_t *e,
                                     const char *name, int64_t gx, int64_t gy, int64_t gz,
                                     int32_t bx, int32_t by, int32_t bz, uint64_t shared,
                                     void *const *args, int32_t nargs) {
  qiao_hal_launch_config_t cfg = {{gx, gy, gz}, {bx, by, bz}, shared};
  return qiao_hal_simt_launch_args(d, e, entry_index(e, name), &cfg, args, nargs);
}

static inline void expect_error_parts(qiao_status_t st, const char *const *parts, int n) {
  cr_assert_not_null(st, "expected an error");
  const char *m = qiao_status_message(st);
  for (int i = 0; i < n; ++i)
    cr_expect(strstr(m, parts[i]) != NULL, "message '%s' lacks '%s'", m, parts[i]);
  qiao_status_free(st);
}

static inline uint32_t rng_u32(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(*s >> 33);
}
static inline float rng_f(uint64_t *s) { return (float)(rng_u32(s) % 20001) / 10000.0f - 1.0f; }

static inline uint16_t f2h(double f) { /* RNE from the exact value, finite inputs */
  uint32_t sign = signbit(f) ? 0x8000u : 0u;
  double a = fabs(f);
  if (a == 0) return (uint16_t)sign;
  int e;
  frexp(a, &e);
  int E = e - 1;
  if (E < -14) E = -14;
  double q = ldexp(a, 10 - E);
  double n = nearbyint(q);
  uint32_t N = (uint32_t)n;
  if (N >= 2048) {
    N >>= 1;
    ++E;
  }
  if (N < 1024) return (uint16_t)(sign | N);
  return (uint16_t)(sign | ((uint32_t)(E + 15) << 10) | (N - 1024));
}
static inline float h2f(uint16_t h) {
  uint32_t e = (h >> 10) & 31, m = h & 1023;
  float v = e == 0 ? ldexpf((float)m, -24) : ldexpf((float)(m | 1024), (int)e - 25);
  return (h & 0x8000) ? -v : v;
}

#endif
