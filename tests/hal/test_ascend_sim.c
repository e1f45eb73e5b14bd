/* ascend-sim: the device (URIs, facts, events), and every rule of the unit
 * operations provoked by small hand-written kernels (C functions loaded as
 * HOST_JIT executables, calling qiao/hal_ascend.h directly): misaligned and
 * unaligned-length copies, UB capacity, reads of never-written bytes, GM
 * outside the bindings, f8 on 910B, a WaitFlag with no SetFlag (deadlock
 * report, no hang). Each error names kernel, core, operation and rule. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "qiao/hal.h"
#include "qiao/hal_ascend.h"

#define CHECK_OK(expr)                                                                             \
  do {                                                                                             \
    qiao_status_t st_ = (expr);                                                                    \
    cr_assert(st_ == NULL, "%s: %s", #expr, qiao_status_message(st_));                             \
  } while (0)

typedef void (*kfn)(void *const *, const int64_t *, int64_t, int64_t, int64_t, void *);

/* Runs kernel `fn` named `name` over `blocks` blocks with one 4096-byte
 * buffer (in) and one (out); returns the dispatch status. */
static qiao_status_t run_kernel(const char *uri, const char *name, kfn fn, int64_t blocks,
                                qiao_hal_device_t **keep) {
  qiao_hal_device_t *d = NULL;
  CHECK_OK(qiao_hal_device_open(uri, &d));
  qiao_hal_entry_record_t rec = {name, QIAO_HAL_CPU_ENTRY_SIGNATURE, 2, 0, 0, (void *)fn, NULL};
  qiao_hal_executable_t *e = NULL;
  CHECK_OK(qiao_hal_executable_create_host(d, &rec, 1, NULL, NULL, &e));
  qiao_hal_buffer_t *a = NULL, *b = NULL;
  CHECK_OK(qiao_hal_buffer_alloc(d, 4096, &a));
  CHECK_OK(qiao_hal_buffer_alloc(d, 4096, &b));
  float src[1024];
  for (int i = 0; i < 1024; ++i)
    src[i] = (float)i;
  CHECK_OK(qiao_hal_buffer_write(a, 0, src, sizeof src));
  qiao_hal_binding_t bind[2] = {{a, 0}, {b, 0}};
  int64_t grid[3] = {blocks, 1, 1};
  qiao_status_t st = qiao_hal_dispatch(d, e, 0, grid, bind, 2, NULL, 0);
  if (!st && keep) {
    float out[1024];
    CHECK_OK(qiao_hal_buffer_read(b, 0, out, sizeof out));
    for (int i = 0; i < 1024; ++i)
      cr_expect_eq(out[i], 2.0f * (float)i, "out[%d] = %g", i, out[i]);
  }
  qiao_hal_buffer_release(a);
  qiao_hal_buffer_release(b);
  qiao_hal_executable_release(e);
  if (keep)
    *keep = d;
  else
    qiao_hal_device_release(d);
  return st;
}

static void expect_error(qiao_status_t st, const char *const *parts) {
  cr_assert_not_null(st, "the dispatch should fail");
  const char *msg = qiao_status_message(st);
  for (; *parts; ++parts)
    cr_expect(strstr(msg, *parts) != NULL, "'%s' should name '%s'", msg, *parts);
  qiao_status_free(st);
}

/* ------------------------------------------------------------ kernels */

/* out = in + in over 1024 f32, split over the blocks, with the flags a
 * correct Ascend C kernel needs. */
static void k_double(void *const *bind, const int64_t *c, int64_t x, int64_t y, int64_t z,
                     void *core) {
  (void)c, (void)x, (void)y, (void)z;
  int64_t nb = qiao_ascend_get_block_num(core), bi = qiao_ascend_get_block_idx(core);
  int64_t per = 1024 / nb, lo = bi * per, n = bi == nb - 1 ? 1024 - lo : per;
  const float *in = bind[0];
  float *out = bind[1];
  qiao_ascend_copy_gm_to_ub_pad(core, 0, in + lo, n * 4);
  qiao_ascend_set_flag(core, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V, 0);
  qiao_ascend_wait_flag(core, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V, 0);
  qiao_ascend_vadd(core, QIAO_ASCEND_F32, 4096, 0, 0, n);
  qiao_ascend_set_flag(core, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE3, 0);
  qiao_ascend_wait_flag(core, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE3, 0);
  qiao_ascend_copy_ub_to_gm_pad(core, out + lo, 4096, n * 4);
}

static void k_misaligned(void *const *bind, const int64_t *c, int64_t x, int64_t y, int64_t z,
                         void *core) {
  (void)c, (void)x, (void)y, (void)z;
  qiao_ascend_copy_gm_to_ub(core, 40, bind[0], 64);
}

static void k_bad_length(void *const *bind, const int64_t *c, int64_t x, int64_t y, int64_t z,
                         void *core) {
  (void)c, (void)x, (void)y, (void)z;
  qiao_ascend_copy_gm_to_ub(core, 0, bind[0], 36);
}

static void k_overflow(void *const *bind, const int64_t *c, int64_t x, int64_t y, int64_t z,
                       void *core) {
  (void)c, (void)x, (void)y, (void)z;
  qiao_ascend_copy_gm_to_ub(core, 196608 - 32, bind[0], 64);
}

static void k_unwritten(void *const *bind, const int64_t *c, int64_t x, int64_t y, int64_t z,
                        void *core) {
  (void)c, (void)x, (void)y, (void)z;
  qiao_ascend_copy_gm_to_ub(core, 0, bind[0], 64); /* 16 floats */
  qiao_ascend_set_flag(core, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V, 0);
  qiao_ascend_wait_flag(core, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V, 0);
  qiao_ascend_vexp(core, QIAO_ASCEND_F32, 1024, 0, 32); /* reads 32 */
}

static void k_gm_oob(void *const *bind, const int64_t *c, int64_t x, int64_t y, int64_t z,
                     void *core) {
  (void)c, (void)x, (void)y, (void)z;
  qiao_ascend_copy_gm_to_ub(core, 0, (const char *)bind[0] + 4064, 64);
}

static void k_fp8(void *const *bind, const int64_t *c, int64_t x, int64_t y, int64_t z,
                  void *core) {
  (void)c, (void)x, (void)y, (void)z;
  qiao_ascend_copy_gm_to_ub(core, 0, bind[0], 64);
  qiao_ascend_vcast(core, QIAO_ASCEND_F8E4M3, 1024, QIAO_ASCEND_F32, 0, 16);
}

static void k_deadlock(void *const *bind, const int64_t *c, int64_t x, int64_t y, int64_t z,
                       void *core) {
  (void)c, (void)x, (void)y, (void)z;
  qiao_ascend_copy_gm_to_ub(core, 0, bind[0], 64);
  qiao_ascend_set_flag(core, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V, 0);
  qiao_ascend_wait_flag(core, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V, 3); /* never set */
  qiao_ascend_vexp(core, QIAO_ASCEND_F32, 1024, 0, 16);
}

static void k_bf16_math(void *const *bind, const int64_t *c, int64_t x, int64_t y, int64_t z,
                        void *core) {
  (void)c, (void)x, (void)y, (void)z;
  qiao_ascend_copy_gm_to_ub(core, 0, bind[0], 64);
  qiao_ascend_vadd(core, QIAO_ASCEND_BF16, 1024, 0, 0, 32);
}

static void k_s64_math(void *const *bind, const int64_t *c, int64_t x, int64_t y, int64_t z,
                       void *core) {
  (void)c, (void)x, (void)y, (void)z;
  qiao_ascend_copy_gm_to_ub(core, 0, bind[0], 64);
  qiao_ascend_vadd(core, QIAO_ASCEND_S64, 1024, 0, 0, 8);
}

/* ------------------------------------------------------------ tests */

Test(ascend_sim, s64_arithmetic_is_not_on_the_vector_unit) {
  expect_error(run_kernel("ascend-sim:910b", "s64", k_s64_math, 1, NULL),
               (const char *[]){"Add", "rule 'dtype'", "no s64 arithmetic", NULL});
}

Test(ascend_sim, open_and_facts) {
  qiao_hal_device_t *d = NULL;
  CHECK_OK(qiao_hal_device_open("ascend-sim:910b", &d));
  cr_expect_eq(qiao_hal_device_class(d), QIAO_HAL_CLASS_ASCEND);
  cr_expect_str_eq(qiao_hal_device_driver(d), "ascend-sim");
  qiao_hal_ascend_info_t info;
  CHECK_OK(qiao_hal_ascend_info(d, &info));
  cr_expect_eq(info.aic, 24);
  cr_expect_eq(info.aiv, 48);
  cr_expect_eq(info.ub_bytes, 196608);
  cr_expect_eq(info.l0c_bytes, 131072);
  cr_expect_float_eq(info.clock_hz, 1.8e9, 1);
  qiao_hal_device_release(d);
  CHECK_OK(qiao_hal_device_open("ascend-sim:910b:cores=4", &d));
  CHECK_OK(qiao_hal_ascend_info(d, &info));
  cr_expect_eq(info.aic, 4);
  cr_expect_eq(info.aiv, 8);
  qiao_hal_device_release(d);
  CHECK_OK(qiao_hal_device_open("ascend-sim:910c", &d));
  CHECK_OK(qiao_hal_ascend_info(d, &info));
  cr_expect_eq(info.aic, 48);
  cr_expect_str_eq(info.profile, "ascend-910c");
  qiao_hal_device_release(d);
  const char *bad[] = {"ascend-sim", "ascend-sim:910b:cores=25", "ascend-sim:910b:cores=0",
                       "ascend-sim:910b:warp=1", "ascend-sim:h100"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    qiao_status_t st = qiao_hal_device_open(bad[i], &d);
    cr_expect_not_null(st, "%s should not open", bad[i]);
    qiao_status_free(st);
  }
}

Test(ascend_sim, correct_kernel_runs_with_simulated_time) {
  qiao_hal_device_t *d = NULL;
  qiao_hal_event_t e0, e1;
  CHECK_OK(run_kernel("ascend-sim:910b", "double", k_double, 8, &d));
  CHECK_OK(qiao_hal_event_record(d, &e1));
  cr_expect_eq(e1.kind, QIAO_HAL_TIME_SIMULATED);
  qiao_hal_ascend_report_t r;
  CHECK_OK(qiao_hal_ascend_last_report(d, &r));
  cr_expect_str_eq(r.kernel, "double");
  cr_expect_eq(r.blocks, 8);
  cr_expect_eq(r.bytes[QIAO_ASCEND_PATH_GM_UB], 4096);
  cr_expect_eq(r.bytes[QIAO_ASCEND_PATH_UB_GM], 4096);
  cr_expect_gt(r.ns, 14000); /* launch overhead included */
  cr_expect_gt(r.pipe_busy[QIAO_ASCEND_PIPE_V], 0);
  char buf[1024];
  qiao_hal_ascend_report_format(&r, buf, sizeof buf);
  cr_expect(strstr(buf, "simulated (model of ascend-910b)") != NULL, "%s", buf);
  /* deterministic: the same kernel again takes the same simulated time */
  CHECK_OK(qiao_hal_event_record(d, &e0));
  qiao_hal_device_release(d);
  qiao_hal_device_t *d2 = NULL;
  CHECK_OK(run_kernel("ascend-sim:910b", "double", k_double, 8, &d2));
  qiao_hal_ascend_report_t r2;
  CHECK_OK(qiao_hal_ascend_last_report(d2, &r2));
  cr_expect_eq(r.cycles, r2.cycles);
  qiao_hal_device_release(d2);
  (void)e0;
}

Test(ascend_sim, misaligned_copy) {
  expect_error(run_kernel("ascend-sim:910b", "misaligned", k_misaligned, 2, NULL),
               (const char *[]){"kernel 'misaligned'", "core 0", "DataCopy GM->UB (MTE2)",
                                "rule 'alignment'", "UB offset 40", NULL});
}

Test(ascend_sim, copy_length_not_a_multiple_of_32) {
  expect_error(
      run_kernel("ascend-sim:910b", "len36", k_bad_length, 1, NULL),
      (const char *[]){"kernel 'len36'", "rule 'alignment'", "36 bytes", "DataCopyPad", NULL});
}

Test(ascend_sim, ub_capacity) {
  expect_error(run_kernel("ascend-sim:910b", "overflow", k_overflow, 1, NULL),
               (const char *[]){"kernel 'overflow'", "rule 'capacity'", "196608-byte UB", NULL});
}

Test(ascend_sim, read_of_never_written_bytes) {
  expect_error(
      run_kernel("ascend-sim:910b", "unwritten", k_unwritten, 1, NULL),
      (const char *[]){"kernel 'unwritten'", "Exp", "rule 'uninitialized read'", "byte 64", NULL});
}

Test(ascend_sim, gm_outside_the_bindings) {
  expect_error(run_kernel("ascend-sim:910b", "oob", k_gm_oob, 1, NULL),
               (const char *[]){"kernel 'oob'", "rule 'GM bounds'", NULL});
}

Test(ascend_sim, fp8_on_910b) {
  expect_error(run_kernel("ascend-sim:910b", "fp8", k_fp8, 1, NULL),
               (const char *[]){"kernel 'fp8'", "Cast", "rule 'dtype'", "f8e4m3",
                                "no FP8 on Ascend A2/A3", NULL});
}

Test(ascend_sim, bf16_arithmetic_is_not_on_the_vector_unit) {
  expect_error(run_kernel("ascend-sim:910b", "bf16", k_bf16_math, 1, NULL),
               (const char *[]){"Add", "rule 'dtype'", "not bf16", NULL});
}

Test(ascend_sim, wait_on_a_flag_never_set_is_a_deadlock, .timeout = 10) {
  expect_error(run_kernel("ascend-sim:910b:cores=2", "stuck", k_deadlock, 3, NULL),
               (const char *[]){"kernel 'stuck'", "core 0", "WaitFlag", "rule 'deadlock'",
                                "PIPE_V waits on flag 3 from PIPE_MTE2", "SetFlag<MTE2_V>(3)",
                                NULL});
}

/* ------------------------------------------------------------ cube unit */

static uint16_t h16(float f) { /* f16 of small integers and halves: exact */
  union {
    float f;
    uint32_t u;
  } v = {f};
  if (f == 0) return 0;
  uint32_t s = v.u >> 31, e = ((v.u >> 23) & 0xff) - 127 + 15, m = (v.u >> 13) & 0x3ff;
  return (uint16_t)(s << 15 | e << 10 | m);
}

/* C[40 x 20] = A[40 x 24] * B[24 x 20], f16 in, f32 out, one AIC. */
static void k_matmul(void *const *bind, const int64_t *c, int64_t x, int64_t y, int64_t z,
                     void *core) {
  (void)c, (void)x, (void)y, (void)z;
  qiao_ascend_copy_gm_to_l1_nd2nz(core, 0, bind[0], QIAO_ASCEND_F16, 40, 24, 24);
  qiao_ascend_copy_gm_to_l1_nd2nz(core, 4096, bind[1], QIAO_ASCEND_F16, 24, 20, 20);
  qiao_ascend_set_flag(core, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE1, 0);
  qiao_ascend_wait_flag(core, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE1, 0);
  qiao_ascend_load_l1_to_l0a(core, 0, 0, QIAO_ASCEND_F16, 6);    /* 48 x 32 */
  qiao_ascend_load_l1_to_l0b(core, 0, 4096, QIAO_ASCEND_F16, 4); /* 32 x 32 */
  qiao_ascend_set_flag(core, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_M, 0);
  qiao_ascend_wait_flag(core, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_M, 0);
  qiao_ascend_mmad(core, 0, 0, 0, QIAO_ASCEND_F16, 48, 32, 32, 1);
  qiao_ascend_set_flag(core, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_FIX, 0);
  qiao_ascend_wait_flag(core, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_FIX, 0);
  qiao_ascend_fixpipe_l0c_to_gm(core, bind[2], QIAO_ASCEND_F32, 0, 48, 32, 40, 20, 20);
}

static void k_bad_fractal(void *const *bind, const int64_t *c, int64_t x, int64_t y, int64_t z,
                          void *core) {
  (void)c, (void)x, (void)y, (void)z;
  qiao_ascend_copy_gm_to_l1_nd2nz(core, 0, bind[0], QIAO_ASCEND_F16, 40, 24, 24);
  qiao_ascend_load_l1_to_l0a(core, 0, 0, QIAO_ASCEND_F16, 6);
  qiao_ascend_load_l1_to_l0b(core, 0, 0, QIAO_ASCEND_F16, 6);
  qiao_ascend_mmad(core, 0, 0, 0, QIAO_ASCEND_F16, 40, 32, 32, 1);
}

static void k_l0a_overflow(void *const *bind, const int64_t *c, int64_t x, int64_t y, int64_t z,
                           void *core) {
  (void)c, (void)x, (void)y, (void)z;
  qiao_ascend_copy_gm_to_l1_nd2nz(core, 0, bind[0], QIAO_ASCEND_F16, 40, 24, 24);
  qiao_ascend_load_l1_to_l0a(core, 65536 - 512, 0, QIAO_ASCEND_F16, 2);
}

static void k_cube_s32(void *const *bind, const int64_t *c, int64_t x, int64_t y, int64_t z,
                       void *core) {
  (void)c, (void)x, (void)y, (void)z;
  qiao_ascend_copy_gm_to_l1_nd2nz(core, 0, bind[0], QIAO_ASCEND_S32, 16, 16, 16);
}

static void k_mixed(void *const *bind, const int64_t *c, int64_t x, int64_t y, int64_t z,
                    void *core) {
  (void)c, (void)x, (void)y, (void)z;
  qiao_ascend_copy_gm_to_ub(core, 0, bind[0], 64);
  qiao_ascend_copy_gm_to_l1_nd2nz(core, 0, bind[0], QIAO_ASCEND_F16, 16, 16, 16);
}

/* 60 Mmads of 128 x 128 x 128 after one load: the cube is the bound. */
static void k_cube_bound(void *const *bind, const int64_t *c, int64_t x, int64_t y, int64_t z,
                         void *core) {
  (void)c, (void)x, (void)y, (void)z;
  qiao_ascend_copy_gm_to_l1_nd2nz(core, 0, bind[0], QIAO_ASCEND_F16, 128, 128, 128);
  qiao_ascend_set_flag(core, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE1, 0);
  qiao_ascend_wait_flag(core, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE1, 0);
  qiao_ascend_load_l1_to_l0a(core, 0, 0, QIAO_ASCEND_F16, 64);
  qiao_ascend_load_l1_to_l0b(core, 0, 0, QIAO_ASCEND_F16, 64);
  qiao_ascend_set_flag(core, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_M, 0);
  qiao_ascend_wait_flag(core, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_M, 0);
  for (int i = 0; i < 60; ++i)
    qiao_ascend_mmad(core, 0, 0, 0, QIAO_ASCEND_F16, 128, 128, 128, i == 0);
  qiao_ascend_set_flag(core, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_FIX, 0);
  qiao_ascend_wait_flag(core, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_FIX, 0);
  qiao_ascend_fixpipe_l0c_to_gm(core, bind[1], QIAO_ASCEND_F16, 0, 128, 128, 128, 128, 128);
}

/* Runs fn over `blocks` blocks with three 64 KiB buffers: A, B (f16) and C. */
static qiao_status_t run_cube(const char *uri, const char *name, kfn fn, int64_t blocks,
                              const uint16_t *a, size_t an, const uint16_t *b, size_t bn,
                              float *c_out, size_t cn, qiao_hal_ascend_report_t *rep) {
  qiao_hal_device_t *d = NULL;
  CHECK_OK(qiao_hal_device_open(uri, &d));
  qiao_hal_entry_record_t rec = {name, QIAO_HAL_CPU_ENTRY_SIGNATURE, 3, 0, 0, (void *)fn, NULL};
  qiao_hal_executable_t *e = NULL;
  CHECK_OK(qiao_hal_executable_create_host(d, &rec, 1, NULL, NULL, &e));
  qiao_hal_buffer_t *buf[3];
  for (int i = 0; i < 3; ++i)
    CHECK_OK(qiao_hal_buffer_alloc(d, 65536, &buf[i]));
  if (a) CHECK_OK(qiao_hal_buffer_write(buf[0], 0, a, an * 2));
  if (b) CHECK_OK(qiao_hal_buffer_write(buf[1], 0, b, bn * 2));
  qiao_hal_binding_t bind[3] = {{buf[0], 0}, {buf[1], 0}, {buf[2], 0}};
  int64_t grid[3] = {blocks, 1, 1};
  qiao_status_t st = qiao_hal_dispatch(d, e, 0, grid, bind, 3, NULL, 0);
  if (!st && c_out) CHECK_OK(qiao_hal_buffer_read(buf[2], 0, c_out, cn * 4));
  if (!st && rep) CHECK_OK(qiao_hal_ascend_last_report(d, rep));
  for (int i = 0; i < 3; ++i)
    qiao_hal_buffer_release(buf[i]);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
  return st;
}

Test(ascend_sim, cube_matmul_nd2nz_mmad_fixpipe) {
  uint16_t a[40 * 24], b[24 * 20];
  float fa[40 * 24], fb[24 * 20], cm[40 * 20];
  for (int i = 0; i < 40 * 24; ++i)
    a[i] = h16(fa[i] = (float)((i * 7) % 11) - 5.0f);
  for (int i = 0; i < 24 * 20; ++i)
    b[i] = h16(fb[i] = (float)((i * 5) % 9) * 0.5f - 2.0f);
  qiao_hal_ascend_report_t r;
  CHECK_OK(run_cube("ascend-sim:910b", "mm", k_matmul, 1, a, 40 * 24, b, 24 * 20, cm, 40 * 20, &r));
  for (int i = 0; i < 40; ++i)
    for (int j = 0; j < 20; ++j) {
      double ref = 0;
      for (int p = 0; p < 24; ++p)
        ref += (double)fa[i * 24 + p] * fb[p * 20 + j];
      cr_expect_eq(cm[i * 20 + j], (float)ref, "C[%d][%d] = %g, expected %g", i, j, cm[i * 20 + j],
                   ref);
    }
  cr_expect_eq(r.bytes[QIAO_ASCEND_PATH_L1_L0A], 6 * 512);
  cr_expect_eq(r.bytes[QIAO_ASCEND_PATH_L0C_GM], 40 * 20 * 4);
  cr_expect_gt(r.pipe_busy[QIAO_ASCEND_PIPE_M], 0);
}

Test(ascend_sim, cube_rules) {
  uint16_t a[40 * 24] = {0};
  expect_error(
      run_cube("ascend-sim:910b", "frac", k_bad_fractal, 1, a, 40 * 24, NULL, 0, NULL, 0, NULL),
      (const char *[]){"kernel 'frac'", "(AIC", "Mmad", "rule 'fractal shape'", "40 x 32 x 32",
                       NULL});
  expect_error(
      run_cube("ascend-sim:910b", "l0a", k_l0a_overflow, 1, a, 40 * 24, NULL, 0, NULL, 0, NULL),
      (const char *[]){"LoadData L1->L0A", "rule 'capacity'", "65536-byte L0A", NULL});
  expect_error(
      run_cube("ascend-sim:910b", "s32", k_cube_s32, 1, a, 40 * 24, NULL, 0, NULL, 0, NULL),
      (const char *[]){"rule 'dtype'", "f16, bf16, f32 or s8, not s32", NULL});
  expect_error(run_cube("ascend-sim:910b", "mixed", k_mixed, 1, a, 40 * 24, NULL, 0, NULL, 0, NULL),
               (const char *[]){"rule 'unit'", "belong to an AIC", NULL});
}

Test(ascend_sim, cube_bound_near_the_cube_peak) {
  static uint16_t a[128 * 128];
  for (int i = 0; i < 128 * 128; ++i)
    a[i] = h16((float)(i % 3) - 1.0f);
  qiao_hal_ascend_report_t r;
  CHECK_OK(run_cube("ascend-sim:910b:cores=1", "cube", k_cube_bound, 1, a, 128 * 128, NULL, 0, NULL,
                    0, &r));
  char buf[1024];
  qiao_hal_ascend_report_format(&r, buf, sizeof buf);
  cr_log_info("%s", buf);
  cr_expect_str_eq(r.bound, "PIPE_M", "%s", buf);
  /* outside the launch overhead (14 us at 1.8 GHz, calibrated: docs/ascend-model.md) the
   * cube runs near its peak of one 16x16x16 fractal (4096 MACs) per cycle */
  double body = r.cycles - 14000e-9 * 1.8e9;
  double macs = 60.0 * 128 * 128 * 128;
  cr_expect_gt(macs / 4096 / body, 0.85, "%s", buf);
}
