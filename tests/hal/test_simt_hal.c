/* simt-emu through the generic HAL: entry records and signatures, the
 * binding/constant → parameter mapping, launch checks, buffers. */
#include "simt_util.h"

static const char kScale[] =
    ".version 8.0\n.target sm_80\n.address_size 64\n"
    ".visible .entry scale(.param .u64 y, .param .f32 s, .param .u64 n, .param .u64 x)\n{\n"
    "  .reg .b32 %r<8>;\n  .reg .b64 %rd<12>;\n  .reg .f32 %f<4>;\n  .reg .pred %p<2>;\n"
    "  ld.param.u64 %rd1, [y];\n  ld.param.f32 %f1, [s];\n  ld.param.u64 %rd2, [n];\n"
    "  ld.param.u64 %rd3, [x];\n  mov.u32 %r1, %ctaid.x;\n  mov.u32 %r2, %ntid.x;\n"
    "  mov.u32 %r3, %tid.x;\n  mad.lo.s32 %r4, %r1, %r2, %r3;\n  cvt.u64.u32 %rd4, %r4;\n"
    "  setp.ge.u64 %p1, %rd4, %rd2;\n  @%p1 bra END;\n  shl.b64 %rd5, %rd4, 2;\n"
    "  add.s64 %rd6, %rd3, %rd5;\n  ld.global.nc.f32 %f2, [%rd6];\n  mul.rn.f32 %f3, %f2, %f1;\n"
    "  add.s64 %rd7, %rd1, %rd5;\n  st.global.f32 [%rd7], %f3;\nEND:\n  ret;\n}\n";

static int64_t f32_const(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return (int64_t)u;
}

Test(simt_hal, default_signature_and_mapping) {
  qiao_hal_device_t *d = simt_open("simt-emu:h100");
  qiao_hal_executable_t *e = simt_load_text(d, kScale);
  cr_expect_eq(qiao_hal_executable_entry_count(e), 1);
  qiao_hal_entry_info_t info;
  int32_t idx;
  OK(qiao_hal_executable_lookup(e, "scale", &idx, &info));
  /* every 64-bit integer param is a binding by default: y, n, x → 3 bindings */
  cr_expect_str_eq(info.signature, "vpfpp");
  cr_expect_eq(info.n_bindings, 3);
  cr_expect_eq(info.n_constants, 1);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}

Test(simt_hal, records_override_the_mapping) {
  qiao_hal_device_t *d = simt_open("simt-emu:a100");
  qiao_hal_entry_record_t rec = {"scale", "vpflp", 2, 2, 0, NULL, NULL};
  qiao_hal_executable_spec_t spec = {.format = QIAO_HAL_FORMAT_PTX,
                                     .data = kScale,
                                     .size = strlen(kScale),
                                     .records = &rec,
                                     .n_records = 1};
  qiao_hal_executable_t *e = NULL;
  OK(qiao_hal_executable_create(d, &spec, &e));
  enum { N = 300 };
  float x[N], y[N];
  for (int i = 0; i < N; ++i)
    x[i] = (float)i * 0.5f;
  qiao_hal_buffer_t *by = buf_from(d, NULL, sizeof y), *bx = buf_from(d, x, sizeof x);
  qiao_hal_binding_t b[2] = {{by, 0}, {bx, 0}};
  int64_t k[2] = {f32_const(3.0f), N - 10}; /* s (f32 bits), n */
  qiao_hal_launch_config_t cfg = {{3, 1, 1}, {128, 1, 1}, 0};
  OK(qiao_hal_dispatch_launch(d, e, 0, &cfg, b, 2, k, 2));
  OK(qiao_hal_buffer_read(by, 0, y, sizeof y));
  for (int i = 0; i < N; ++i)
    cr_expect_eq(y[i], i < N - 10 ? x[i] * 3.0f : 0.0f, "i %d", i);
  /* a binding with an offset */
  qiao_hal_binding_t b2[2] = {{by, 8}, {bx, 0}};
  int64_t k2[2] = {f32_const(-1.0f), 4};
  OK(qiao_hal_dispatch_launch(d, e, 0, &cfg, b2, 2, k2, 2));
  OK(qiao_hal_buffer_read(by, 0, y, sizeof y));
  cr_expect_eq(y[2], -0.0f);
  cr_expect_eq(y[5], -1.5f);
  cr_expect_eq(y[6], 6 * 0.5f * 3.0f);
  qiao_hal_buffer_release(by);
  qiao_hal_buffer_release(bx);
  qiao_hal_executable_release(e);
  /* a record naming no entry, or with the wrong parameter count */
  qiao_hal_entry_record_t bad = {"nope", "vp", 1, 0, 0, NULL, NULL};
  spec.records = &bad;
  const char *p1[] = {"no .entry 'nope'"};
  expect_error_parts(qiao_hal_executable_create(d, &spec, &e), p1, 1);
  qiao_hal_entry_record_t bad2 = {"scale", "vpp", 2, 0, 0, NULL, NULL};
  spec.records = &bad2;
  const char *p2[] = {"signature 'vpp' has 2 parameters, the PTX entry 4"};
  expect_error_parts(qiao_hal_executable_create(d, &spec, &e), p2, 1);
  qiao_hal_device_release(d);
}

Test(simt_hal, launch_checks) {
  qiao_hal_device_t *d = simt_open("simt-emu:h100");
  qiao_hal_executable_t *e = simt_load_text(d, kScale);
  qiao_hal_buffer_t *b = buf_from(d, NULL, 64);
  qiao_hal_binding_t bs[3] = {{b, 0}, {b, 0}, {b, 0}};
  int64_t k[1] = {0};
  qiao_hal_launch_config_t big = {{1, 1, 1}, {2048, 1, 1}, 0};
  const char *p1[] = {"block of 2048 threads"};
  expect_error_parts(qiao_hal_dispatch_launch(d, e, 0, &big, bs, 3, k, 1), p1, 1);
  qiao_hal_launch_config_t shm = {{1, 1, 1}, {32, 1, 1}, 100u << 20};
  const char *p2[] = {"needs 104857600 bytes of shared memory", "profile allows"};
  expect_error_parts(qiao_hal_dispatch_launch(d, e, 0, &shm, bs, 3, k, 1), p2, 2);
  /* an empty grid does nothing */
  qiao_hal_launch_config_t empty = {{0, 1, 1}, {32, 1, 1}, 0};
  OK(qiao_hal_dispatch_launch(d, e, 0, &empty, bs, 3, k, 1));
  /* PTX that does not parse names its position */
  qiao_hal_executable_spec_t spec = {
      .format = QIAO_HAL_FORMAT_PTX, .data = ".version 8.0\n.target", .size = 20};
  qiao_hal_executable_t *e2 = NULL;
  qiao_status_t st = qiao_hal_executable_create(d, &spec, &e2);
  cr_expect_not_null(st);
  qiao_status_free(st);
  /* buffers: copy stays on the device */
  qiao_hal_buffer_t *c = buf_from(d, NULL, 64);
  uint32_t v[16], w[16];
  for (int i = 0; i < 16; ++i)
    v[i] = (uint32_t)i * 7;
  OK(qiao_hal_buffer_write(b, 0, v, sizeof v));
  OK(qiao_hal_buffer_copy(b, 0, c, 0, sizeof v));
  OK(qiao_hal_buffer_read(c, 0, w, sizeof w));
  cr_expect_arr_eq(v, w, sizeof v);
  qiao_hal_buffer_release(c);
  qiao_hal_buffer_release(b);
  qiao_hal_executable_release(e);
  /* the cpu device cannot take simt calls */
  qiao_hal_device_t *cpu = simt_open("cpu:threads=1");
  qiao_hal_simt_stats_t stats;
  const char *p3[] = {"not a simt-emu device"};
  expect_error_parts(qiao_hal_simt_last_stats(cpu, &stats), p3, 1);
  qiao_hal_device_release(cpu);
  qiao_hal_device_release(d);
}

/* A pointer that points into a freed buffer is caught as out of bounds. */
Test(simt_hal, freed_buffer_is_not_live) {
  qiao_hal_device_t *d = simt_open("simt-emu:h100");
  qiao_hal_executable_t *e = simt_load_text(d, kScale);
  qiao_hal_buffer_t *y = buf_from(d, NULL, 64), *x = buf_from(d, NULL, 64);
  uint64_t ay = addr_of_buf(y), ax = addr_of_buf(x), n = 4;
  float s = 1;
  qiao_hal_buffer_release(x);
  void *args[] = {&ay, &s, &n, &ax};
  const char *parts[] = {"kernel 'scale'", "out-of-bounds global load of 4 bytes",
                         "not inside any live buffer"};
  expect_error_parts(simt_run(d, e, "scale", 1, 1, 1, 32, 1, 1, 0, args, 4), parts, 3);
  qiao_hal_buffer_release(y);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}
