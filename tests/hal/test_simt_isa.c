/* simt-emu: instruction families with hand-written PTX (rounding, NaN rules,
 * conversions, warp operations, atomics across CTAs) and every error class. */
#include "simt_util.h"

/* A kernel k(out, in): %rd4 = out + 4*tid, %rd5 = in + 4*tid, %r0 = tid.x. */
static char *kernel_src(const char *body) {
  static const char head[] =
      ".version 8.0\n.target sm_90\n.address_size 64\n"
      ".visible .entry k(.param .u64 out, .param .u64 in)\n{\n"
      "  .reg .b32 %r<40>;\n  .reg .b64 %rd<20>;\n  .reg .f32 %f<20>;\n  .reg .pred %p<8>;\n"
      "  .reg .f64 %fd<8>;\n  .reg .b16 %h<8>;\n"
      "  .shared .align 16 .b8 sm[1024];\n"
      "  ld.param.u64 %rd1, [out];\n  ld.param.u64 %rd2, [in];\n  mov.u32 %r0, %tid.x;\n"
      "  mul.wide.u32 %rd3, %r0, 4;\n  add.s64 %rd4, %rd1, %rd3;\n  add.s64 %rd5, %rd2, %rd3;\n";
  size_t n = strlen(head) + strlen(body) + 16;
  char *s = malloc(n);
  snprintf(s, n, "%s%s  ret;\n}\n", head, body);
  return s;
}

/* The 1-based line of the first occurrence of `needle` in `src`. */
static int line_of(const char *src, const char *needle) {
  const char *p = strstr(src, needle);
  cr_assert_not_null(p, "no '%s'", needle);
  int line = 1;
  for (const char *q = src; q < p; ++q)
    line += *q == '\n';
  return line;
}

typedef struct rig {
  qiao_hal_device_t *d;
  qiao_hal_executable_t *e;
  qiao_hal_buffer_t *out, *in;
  char *src;
} rig_t;

static rig_t rig_make(const char *uri, const char *body, const void *in, size_t in_bytes,
                      size_t out_bytes) {
  rig_t r;
  r.d = simt_open(uri);
  r.src = kernel_src(body);
  r.e = simt_load_text(r.d, r.src);
  r.out = buf_from(r.d, NULL, out_bytes);
  r.in = buf_from(r.d, in, in_bytes);
  return r;
}

static qiao_status_t rig_run(rig_t *r, int64_t grid, int32_t block) {
  uint64_t ao = addr_of_buf(r->out), ai = addr_of_buf(r->in);
  void *args[] = {&ao, &ai};
  return simt_run(r->d, r->e, "k", grid, 1, 1, block, 1, 1, 0, args, 2);
}

static void rig_free(rig_t *r) {
  qiao_hal_buffer_release(r->out);
  qiao_hal_buffer_release(r->in);
  qiao_hal_executable_release(r->e);
  qiao_hal_device_release(r->d);
  free(r->src);
}

/* Runs body with one thread; out[i] are 32-bit results. */
static void run1(const char *body, uint32_t *out, int n) {
  rig_t r = rig_make("simt-emu:h100", body, NULL, 64, 4 * (size_t)n);
  OK(rig_run(&r, 1, 1));
  OK(qiao_hal_buffer_read(r.out, 0, out, 4 * (size_t)n));
  rig_free(&r);
}

Test(simt_isa, float_rounding_modes) {
  uint32_t o[12];
  run1("  mov.f32 %f1, 0f3F800000;\n  mov.f32 %f2, 0f33C00000;\n"
       "  add.rn.f32 %f3, %f1, %f2;\n  st.global.f32 [%rd1], %f3;\n"
       "  add.rz.f32 %f3, %f1, %f2;\n  st.global.f32 [%rd1+4], %f3;\n"
       "  add.rm.f32 %f3, %f1, %f2;\n  st.global.f32 [%rd1+8], %f3;\n"
       "  add.rp.f32 %f3, %f1, %f2;\n  st.global.f32 [%rd1+12], %f3;\n"
       "  neg.f32 %f4, %f1;\n  neg.f32 %f5, %f2;\n"
       "  add.rm.f32 %f3, %f4, %f5;\n  st.global.f32 [%rd1+16], %f3;\n"
       "  add.rp.f32 %f3, %f4, %f5;\n  st.global.f32 [%rd1+20], %f3;\n"
       "  mov.f32 %f6, 0f40200000;\n" /* 2.5 */
       "  cvt.rni.s32.f32 %r1, %f6;\n  st.global.u32 [%rd1+24], %r1;\n"
       "  neg.f32 %f7, %f6;\n"
       "  cvt.rni.s32.f32 %r1, %f7;\n  st.global.u32 [%rd1+28], %r1;\n"
       "  cvt.rmi.s32.f32 %r1, %f7;\n  st.global.u32 [%rd1+32], %r1;\n"
       "  cvt.rpi.s32.f32 %r1, %f6;\n  st.global.u32 [%rd1+36], %r1;\n"
       "  mov.f32 %f8, 0f40400000;\n  mov.f32 %f9, 0f3F800000;\n" /* 1/3 */
       "  div.rz.f32 %f3, %f9, %f8;\n  st.global.f32 [%rd1+40], %f3;\n"
       "  div.rp.f32 %f3, %f9, %f8;\n  st.global.f32 [%rd1+44], %f3;\n",
       o, 12);
  cr_expect_eq(o[0], 0x3F800001u);
  cr_expect_eq(o[1], 0x3F800000u);
  cr_expect_eq(o[2], 0x3F800000u);
  cr_expect_eq(o[3], 0x3F800001u);
  cr_expect_eq(o[4], 0xBF800001u);
  cr_expect_eq(o[5], 0xBF800000u);
  cr_expect_eq((int32_t)o[6], 2);
  cr_expect_eq((int32_t)o[7], -2);
  cr_expect_eq((int32_t)o[8], -3);
  cr_expect_eq((int32_t)o[9], 3);
  cr_expect_eq(o[10], 0x3EAAAAAAu); /* 1/3 toward zero */
  cr_expect_eq(o[11], 0x3EAAAAABu); /* 1/3 up */
}

Test(simt_isa, nan_min_max_and_zero_signs) {
  uint32_t o[6];
  run1("  mov.f32 %f1, 0f7FC00000;\n  mov.f32 %f2, 0f3F800000;\n"
       "  min.f32 %f3, %f1, %f2;\n  st.global.f32 [%rd1], %f3;\n"
       "  max.f32 %f3, %f2, %f1;\n  st.global.f32 [%rd1+4], %f3;\n"
       "  min.NaN.f32 %f3, %f1, %f2;\n  st.global.f32 [%rd1+8], %f3;\n"
       "  mov.f32 %f4, 0f80000000;\n  mov.f32 %f5, 0f00000000;\n"
       "  min.f32 %f3, %f5, %f4;\n  st.global.f32 [%rd1+12], %f3;\n"
       "  max.f32 %f3, %f4, %f5;\n  st.global.f32 [%rd1+16], %f3;\n"
       "  setp.nan.f32 %p1, %f1, %f2;\n  selp.u32 %r1, 7, 9, %p1;\n  st.global.u32 [%rd1+20], "
       "%r1;\n",
       o, 6);
  cr_expect_eq(o[0], 0x3F800000u);
  cr_expect_eq(o[1], 0x3F800000u);
  cr_expect_eq(o[2], 0x7FFFFFFFu);
  cr_expect_eq(o[3], 0x80000000u);
  cr_expect_eq(o[4], 0x00000000u);
  cr_expect_eq(o[5], 7u);
}

Test(simt_isa, compare_unordered) {
  uint32_t o[4];
  run1("  mov.f32 %f1, 0f7FC00000;\n  mov.f32 %f2, 0f3F800000;\n"
       "  setp.lt.f32 %p1, %f1, %f2;\n  selp.u32 %r1, 1, 0, %p1;\n  st.global.u32 [%rd1], %r1;\n"
       "  setp.ltu.f32 %p1, %f1, %f2;\n  selp.u32 %r1, 1, 0, %p1;\n  st.global.u32 [%rd1+4], %r1;\n"
       "  setp.ne.f32 %p1, %f1, %f2;\n  selp.u32 %r1, 1, 0, %p1;\n  st.global.u32 [%rd1+8], %r1;\n"
       "  set.neu.u32.f32 %r1, %f1, %f2;\n  st.global.u32 [%rd1+12], %r1;\n",
       o, 4);
  cr_expect_eq(o[0], 0u);
  cr_expect_eq(o[1], 1u);
  cr_expect_eq(o[2], 0u);
  cr_expect_eq(o[3], 0xffffffffu);
}

Test(simt_isa, cvt_saturation_and_small_floats) {
  uint32_t o[10];
  run1("  mov.u32 %r1, 300;\n  cvt.sat.s8.s32 %r2, %r1;\n  st.global.u32 [%rd1], %r2;\n"
       "  mov.f32 %f1, 0f501502F9;\n  cvt.rzi.s32.f32 %r2, %f1;\n  st.global.u32 [%rd1+4], %r2;\n"
       "  mov.f32 %f1, 0fC0A00000;\n  cvt.rzi.u32.f32 %r2, %f1;\n  st.global.u32 [%rd1+8], %r2;\n"
       "  mov.f32 %f1, 0f7FC00000;\n  cvt.rzi.s32.f32 %r2, %f1;\n  st.global.u32 [%rd1+12], %r2;\n"
       "  mov.f32 %f1, 0f3FC00000;\n  cvt.sat.f32.f32 %f2, %f1;\n  st.global.f32 [%rd1+16], %f2;\n"
       "  mov.f32 %f1, 0f447A0000;\n  mov.f32 %f2, 0fBF800000;\n"
       "  cvt.rn.satfinite.e4m3x2.f32 %h1, %f1, %f2;\n  cvt.u32.u16 %r2, %h1;\n"
       "  st.global.u32 [%rd1+20], %r2;\n"
       "  mov.f32 %f1, 0f3DCCCCCD;\n  cvt.rn.f16.f32 %h2, %f1;\n  cvt.u32.u16 %r2, %h2;\n"
       "  st.global.u32 [%rd1+24], %r2;\n"
       "  cvt.rn.bf16.f32 %h2, %f1;\n  cvt.u32.u16 %r2, %h2;\n  st.global.u32 [%rd1+28], %r2;\n"
       "  mov.f32 %f2, 0f3F800000;\n  cvt.rn.f16x2.f32 %r3, %f2, %f1;\n  st.global.u32 [%rd1+32], "
       "%r3;\n"
       "  mov.u32 %r4, 0x3C003C00;\n  add.rn.f16x2 %r5, %r3, %r4;\n  st.global.u32 [%rd1+36], "
       "%r5;\n",
       o, 10);
  cr_expect_eq((int32_t)o[0], 127);
  cr_expect_eq((int32_t)o[1], 2147483647);
  cr_expect_eq(o[2], 0u);
  cr_expect_eq(o[3], 0u);
  cr_expect_eq(o[4], 0x3F800000u);
  cr_expect_eq(o[5], 0x7EB8u); /* 1000 → 448 (0x7e), -1 → 0xb8 */
  cr_expect_eq(o[6], 0x2E66u); /* 0.1 in f16 */
  cr_expect_eq(o[7], 0x3DCDu); /* 0.1 in bf16 (RNE) */
  cr_expect_eq(o[8], 0x3C002E66u);
  cr_expect_eq(o[9], 0x40003C66u); /* {1+1, 0.1+1} */
}

Test(simt_isa, fp8_round_trip) {
  uint32_t o[3];
  run1("  mov.f32 %f1, 0f3F800000;\n  mov.f32 %f2, 0fC0600000;\n"
       "  cvt.rn.satfinite.e5m2x2.f32 %h1, %f1, %f2;\n  cvt.u32.u16 %r1, %h1;\n"
       "  st.global.u32 [%rd1], %r1;\n"
       "  cvt.rn.f16x2.e5m2x2 %r2, %h1;\n  st.global.u32 [%rd1+4], %r2;\n"
       "  mov.f32 %f3, 0f3E000000;\n  mov.f32 %f4, 0f3B800000;\n" /* 0.125, 2^-8 */
       "  cvt.rn.satfinite.e4m3x2.f32 %h2, %f3, %f4;\n  cvt.rn.f16x2.e4m3x2 %r3, %h2;\n"
       "  st.global.u32 [%rd1+8], %r3;\n",
       o, 3);
  cr_expect_eq(o[0], 0x3CC3u);
  cr_expect_eq(o[1], 0x3C00C300u);
  cr_expect_eq(o[2], 0x30001C00u); /* 0.125 and the e4m3 subnormal 2^-8, as f16 */
}

Test(simt_isa, packed_half_compare) {
  uint32_t o[3];
  /* a = {lo 1.0, hi 2.0}, b = {lo 1.0, hi 3.0} */
  run1(
      "  mov.b32 %r1, 0x40003C00;\n  mov.b32 %r2, 0x42003C00;\n"
      "  setp.eq.f16x2 %p1|%p2, %r1, %r2;\n  selp.u32 %r3, 1, 0, %p1;\n  selp.u32 %r4, 2, 0, %p2;\n"
      "  or.b32 %r5, %r3, %r4;\n  st.global.u32 [%rd1], %r5;\n"
      "  set.lt.u32.f16x2 %r6, %r1, %r2;\n  st.global.u32 [%rd1+4], %r6;\n"
      "  set.lt.f16x2.f16x2 %r6, %r1, %r2;\n  st.global.u32 [%rd1+8], %r6;\n",
      o, 3);
  cr_expect_eq(o[0], 1u); /* lower halves equal, upper not */
  cr_expect_eq(o[1], 0xFFFF0000u);
  cr_expect_eq(o[2], 0x3C000000u);
}

Test(simt_isa, integer_family) {
  uint32_t o[12];
  run1("  mov.u32 %r1, -7;\n  mov.u32 %r2, 3;\n"
       "  div.s32 %r3, %r1, %r2;\n  st.global.u32 [%rd1], %r3;\n"
       "  rem.s32 %r3, %r1, %r2;\n  st.global.u32 [%rd1+4], %r3;\n"
       "  mov.u32 %r4, 0x12345678;\n  mul.hi.u32 %r3, %r4, %r4;\n  st.global.u32 [%rd1+8], %r3;\n"
       "  bfe.s32 %r3, %r4, 4, 8;\n  st.global.u32 [%rd1+12], %r3;\n"
       "  mov.u32 %r5, 0xF0;\n  bfe.s32 %r3, %r5, 4, 4;\n  st.global.u32 [%rd1+16], %r3;\n"
       "  bfi.b32 %r3, %r5, %r4, 8, 8;\n  st.global.u32 [%rd1+20], %r3;\n"
       "  brev.b32 %r3, %r4;\n  st.global.u32 [%rd1+24], %r3;\n"
       "  popc.b32 %r3, %r4;\n  st.global.u32 [%rd1+28], %r3;\n"
       "  clz.b32 %r3, %r4;\n  st.global.u32 [%rd1+32], %r3;\n"
       "  prmt.b32 %r3, %r4, %r5, 0x4321;\n  st.global.u32 [%rd1+36], %r3;\n"
       "  lop3.b32 %r3, %r4, %r5, %r2, 0x96;\n  st.global.u32 [%rd1+40], %r3;\n"
       "  shf.l.wrap.b32 %r3, %r4, %r5, 8;\n  st.global.u32 [%rd1+44], %r3;\n",
       o, 12);
  cr_expect_eq((int32_t)o[0], -2);
  cr_expect_eq((int32_t)o[1], -1);
  cr_expect_eq(o[2], (uint32_t)(((uint64_t)0x12345678 * 0x12345678) >> 32));
  cr_expect_eq(o[3], 0x67u);
  cr_expect_eq(o[4], 0xFFFFFFFFu);
  cr_expect_eq(o[5], 0x1234F078u);
  cr_expect_eq(o[6], 0x1E6A2C48u);
  cr_expect_eq(o[7], 13u);
  cr_expect_eq(o[8], 3u);
  cr_expect_eq(o[9], 0xF0123456u); /* bytes 1, 2, 3, 4 of {b, a} */
  cr_expect_eq(o[10], 0x12345678u ^ 0xF0u ^ 3u);
  cr_expect_eq(o[11], (0x12345678u >> 24) | (0xF0u << 8));
}

/* Each lane: v = lane * 10; shfl up/down/bfly/idx, with and without segments. */
Test(simt_isa, shfl_modes) {
  rig_t r =
      rig_make("simt-emu:a100",
               "  mul.lo.u32 %r1, %r0, 10;\n"
               "  mul.wide.u32 %rd6, %r0, 32;\n  add.s64 %rd7, %rd1, %rd6;\n"
               "  shfl.sync.up.b32 %r2|%p1, %r1, 3, 0, -1;\n  st.global.u32 [%rd7], %r2;\n"
               "  shfl.sync.down.b32 %r2, %r1, 5, 31, -1;\n  st.global.u32 [%rd7+4], %r2;\n"
               "  shfl.sync.bfly.b32 %r2, %r1, 6, 31, -1;\n  st.global.u32 [%rd7+8], %r2;\n"
               "  shfl.sync.idx.b32 %r2, %r1, 7, 31, -1;\n  st.global.u32 [%rd7+12], %r2;\n"
               "  shfl.sync.idx.b32 %r2, %r1, 3, 0x181f, -1;\n  st.global.u32 [%rd7+16], %r2;\n"
               "  shfl.sync.down.b32 %r2, %r1, 2, 0x181f, -1;\n  st.global.u32 [%rd7+20], %r2;\n"
               "  shfl.sync.up.b32 %r2, %r1, 2, 0x1800, -1;\n  st.global.u32 [%rd7+24], %r2;\n"
               "  selp.u32 %r3, 1, 0, %p1;\n  st.global.u32 [%rd7+28], %r3;\n",
               NULL, 64, 32 * 32);
  OK(rig_run(&r, 1, 32));
  uint32_t o[32][8];
  OK(qiao_hal_buffer_read(r.out, 0, o, sizeof o));
  for (int l = 0; l < 32; ++l) {
    cr_expect_eq(o[l][0], (uint32_t)(l >= 3 ? (l - 3) * 10 : l * 10), "up lane %d", l);
    cr_expect_eq(o[l][1], (uint32_t)(l + 5 < 32 ? (l + 5) * 10 : l * 10), "down lane %d", l);
    cr_expect_eq(o[l][2], (uint32_t)((l ^ 6) * 10), "bfly lane %d", l);
    cr_expect_eq(o[l][3], 70u, "idx lane %d", l);
    cr_expect_eq(o[l][4], (uint32_t)(((l & ~7) + 3) * 10), "idx width 8 lane %d", l);
    cr_expect_eq(o[l][5], (uint32_t)((l % 8) + 2 < 8 ? (l + 2) * 10 : l * 10), "down w8 %d", l);
    cr_expect_eq(o[l][6], (uint32_t)((l % 8) >= 2 ? (l - 2) * 10 : l * 10), "up w8 %d", l);
    cr_expect_eq(o[l][7], (uint32_t)(l >= 3), "up predicate lane %d", l);
  }
  rig_free(&r);
}

Test(simt_isa, vote_redux_match) {
  rig_t r = rig_make("simt-emu:h100",
                     "  and.b32 %r1, %r0, 1;\n  setp.eq.u32 %p1, %r1, 1;\n"
                     "  mul.wide.u32 %rd6, %r0, 32;\n  add.s64 %rd7, %rd1, %rd6;\n"
                     "  vote.sync.ballot.b32 %r2, %p1, -1;\n  st.global.u32 [%rd7], %r2;\n"
                     "  vote.sync.any.pred %p2, %p1, -1;\n  selp.u32 %r3, 1, 0, %p2;\n"
                     "  st.global.u32 [%rd7+4], %r3;\n"
                     "  vote.sync.all.pred %p2, %p1, -1;\n  selp.u32 %r3, 1, 0, %p2;\n"
                     "  st.global.u32 [%rd7+8], %r3;\n"
                     "  vote.sync.uni.pred %p2, %p1, -1;\n  selp.u32 %r3, 1, 0, %p2;\n"
                     "  st.global.u32 [%rd7+12], %r3;\n"
                     "  redux.sync.add.u32 %r3, %r0, -1;\n  st.global.u32 [%rd7+16], %r3;\n"
                     "  redux.sync.max.s32 %r3, %r0, -1;\n  st.global.u32 [%rd7+20], %r3;\n"
                     "  and.b32 %r4, %r0, 3;\n  match.any.sync.b32 %r3, %r4, -1;\n"
                     "  st.global.u32 [%rd7+24], %r3;\n"
                     "  activemask.b32 %r3;\n  st.global.u32 [%rd7+28], %r3;\n",
                     NULL, 64, 32 * 32);
  OK(rig_run(&r, 1, 32));
  uint32_t o[32][8];
  OK(qiao_hal_buffer_read(r.out, 0, o, sizeof o));
  for (int l = 0; l < 32; ++l) {
    cr_expect_eq(o[l][0], 0xAAAAAAAAu);
    cr_expect_eq(o[l][1], 1u);
    cr_expect_eq(o[l][2], 0u);
    cr_expect_eq(o[l][3], 0u);
    cr_expect_eq(o[l][4], 496u);
    cr_expect_eq(o[l][5], 31u);
    cr_expect_eq(o[l][6], 0x11111111u << (l & 3));
    cr_expect_eq(o[l][7], 0xffffffffu);
  }
  rig_free(&r);
}

/* 64 CTAs × 128 threads hammer one set of counters. */
Test(simt_isa, atomics_across_ctas) {
  int32_t init[8] = {0, 1000000, -1000000, 0, 0, 0, 0, 0};
  rig_t r = rig_make("simt-emu:h100,threads=4",
                     "  mov.u32 %r1, %ctaid.x;\n  mov.u32 %r2, %ntid.x;\n"
                     "  mad.lo.s32 %r3, %r1, %r2, %r0;\n" /* global id */
                     "  atom.global.add.u32 %r4, [%rd2], 1;\n"
                     "  atom.global.min.s32 %r4, [%rd2+4], %r3;\n"
                     "  atom.global.max.s32 %r4, [%rd2+8], %r3;\n"
                     "  atom.global.inc.u32 %r4, [%rd2+12], 99;\n"
                     "  mov.f32 %f1, 0f3F000000;\n  atom.global.add.f32 %f2, [%rd2+16], %f1;\n"
                     "  red.global.xor.b32 [%rd2+20], %r3;\n"
                     "  atom.global.exch.b32 %r4, [%rd2+24], %r3;\n"
                     "  atom.shared.add.u32 %r5, [sm], 1;\n"
                     "  bar.sync 0;\n"
                     "  setp.ne.u32 %p1, %r0, 0;\n  @%p1 bra DONE;\n"
                     "  ld.shared.u32 %r6, [sm];\n  atom.global.add.u32 %r7, [%rd2+28], %r6;\n"
                     "DONE:\n",
                     init, sizeof init, 64);
  OK(rig_run(&r, 64, 128));
  int32_t o[8];
  OK(qiao_hal_buffer_read(r.in, 0, o, sizeof o));
  uint32_t x = 0;
  for (int i = 0; i < 64 * 128; ++i)
    x ^= (uint32_t)i;
  cr_expect_eq(o[0], 8192);
  cr_expect_eq(o[1], 0);
  cr_expect_eq(o[2], 8191);
  cr_expect_eq(o[3], 8192 % 100);
  float f;
  memcpy(&f, &o[4], 4);
  cr_expect_eq(f, 4096.0f);
  cr_expect_eq((uint32_t)o[5], x);
  cr_expect(o[6] >= 0 && o[6] < 8192);
  cr_expect_eq(o[7], 8192);
  rig_free(&r);
}

Test(simt_isa, call_and_local_memory) {
  static const char src[] =
      ".version 8.0\n.target sm_90\n.address_size 64\n"
      ".func (.param .b32 ret) twice(.param .b32 a)\n{\n  .reg .b32 %r<4>;\n"
      "  ld.param.b32 %r1, [a];\n  add.s32 %r2, %r1, %r1;\n  st.param.b32 [ret], %r2;\n  ret;\n}\n"
      ".visible .entry k(.param .u64 out)\n{\n"
      "  .local .align 4 .b8 depot[16];\n  .reg .b32 %r<8>;\n  .reg .b64 %rd<8>;\n"
      "  ld.param.u64 %rd1, [out];\n  mov.u32 %r1, %tid.x;\n"
      "  mov.u64 %rd2, depot;\n  cvta.local.u64 %rd3, %rd2;\n  st.u32 [%rd3+4], %r1;\n"
      "  ld.local.u32 %r5, [depot+4];\n"
      "  {\n  .param .b32 p0;\n  st.param.b32 [p0], %r5;\n  .param .b32 r0;\n"
      "  call.uni (r0), twice, (p0);\n  ld.param.b32 %r2, [r0];\n  }\n"
      "  mul.wide.u32 %rd4, %r1, 4;\n  add.s64 %rd5, %rd1, %rd4;\n  st.global.u32 [%rd5], %r2;\n"
      "  ret;\n}\n";
  qiao_hal_device_t *d = simt_open("simt-emu:h100");
  qiao_hal_executable_t *e = simt_load_text(d, src);
  qiao_hal_buffer_t *b = buf_from(d, NULL, 64 * 4);
  uint64_t a = addr_of_buf(b);
  void *args[] = {&a};
  OK(simt_run(d, e, "k", 1, 1, 1, 64, 1, 1, 0, args, 1));
  uint32_t o[64];
  OK(qiao_hal_buffer_read(b, 0, o, sizeof o));
  for (int i = 0; i < 64; ++i)
    cr_expect_eq(o[i], (uint32_t)(2 * i));
  qiao_hal_buffer_release(b);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}

/* ------------------------------------------------------------ errors */

static void expect_kernel_error(const char *uri, const char *body, int64_t grid, int32_t block,
                                const char *marker, const char *const *parts, int n) {
  rig_t r = rig_make(uri, body, NULL, 64, 64 * 4);
  qiao_status_t st = rig_run(&r, grid, block);
  if (marker) {
    char line[64];
    snprintf(line, sizeof line, "PTX line %d", line_of(r.src, marker));
    cr_assert_not_null(st);
    cr_expect(strstr(qiao_status_message(st), line) != NULL, "'%s' lacks '%s'",
              qiao_status_message(st), line);
  }
  expect_error_parts(st, parts, n);
  rig_free(&r);
}

Test(simt_errors, out_of_bounds_global) {
  const char *parts[] = {"kernel 'k'", "CTA (1,0,0)", "thread (5,0,0)", "out-of-bounds global load",
                         "4 bytes at address 0x"};
  expect_kernel_error("simt-emu:h100",
                      "  setp.eq.u32 %p1, %r0, 5;\n  mov.u32 %r1, %ctaid.x;\n"
                      "  setp.eq.and.u32 %p2, %r1, 1, %p1;\n  @!%p2 bra OK;\n"
                      "  ld.global.f32 %f1, [%rd5+4096];\nOK:\n",
                      2, 32, "ld.global.f32 %f1, [%rd5+4096]", parts, 5);
}

Test(simt_errors, misaligned_global) {
  const char *parts[] = {"misaligned global load of 4 bytes", "thread (0,0,0)"};
  expect_kernel_error("simt-emu:h100", "  ld.global.u32 %r1, [%rd2+2];\n", 1, 1,
                      "ld.global.u32 %r1, [%rd2+2]", parts, 2);
}

Test(simt_errors, out_of_bounds_shared) {
  const char *parts[] = {"out-of-bounds shared store of 4 bytes at offset 0x1000"};
  expect_kernel_error("simt-emu:h100", "  mov.u32 %r1, 4096;\n  st.shared.u32 [%r1], %r0;\n", 1, 1,
                      "st.shared.u32 [%r1]", parts, 1);
}

Test(simt_errors, barrier_not_reached) {
  const char *parts[] = {"barrier 0 never completes: 16 of 32 threads arrived", "(0,0,0) (1,0,0)",
                         "16 threads exited"};
  expect_kernel_error("simt-emu:h100",
                      "  setp.ge.u32 %p1, %r0, 16;\n  @%p1 bra END;\n  bar.sync 0;\nEND:\n", 1, 32,
                      "bar.sync 0", parts, 3);
}

Test(simt_errors, warp_sync_members_missing) {
  const char *parts[] = {"warp-synchronous instruction", "member mask 0xffffffff",
                         "arrived 0x0000ffff", "exited without arriving 0xffff0000"};
  expect_kernel_error("simt-emu:h100",
                      "  setp.ge.u32 %p1, %r0, 16;\n  @%p1 bra END;\n"
                      "  shfl.sync.bfly.b32 %r2, %r0, 1, 31, -1;\nEND:\n",
                      1, 32, "shfl.sync.bfly", parts, 4);
}

Test(simt_errors, unsupported_instruction) {
  const char *parts[] = {"cannot run 'wgmma' (unsupported instruction): not supported by simt-emu",
                         "(wgmma.fence.sync.aligned)"};
  expect_kernel_error("simt-emu:h100", "  wgmma.fence.sync.aligned;\n", 1, 32, "wgmma.fence", parts,
                      2);
  const char *parts2[] = {"mbarrier variant (transaction counts, .noComplete)"};
  expect_kernel_error("simt-emu:h100",
                      "  mbarrier.arrive.expect_tx.shared::cta.b64 %rd9, [sm], 16;\n", 1, 1,
                      "mbarrier.arrive.expect_tx", parts2, 1);
}

Test(simt_errors, unsupported_type) {
  const char *parts[] = {"unsupported type .f16 for testp"};
  expect_kernel_error("simt-emu:h100", "  testp.finite.f16 %p1, %h1;\n", 1, 1, "testp.finite",
                      parts, 1);
}

Test(simt_errors, watchdog) {
  const char *parts[] = {"watchdog", "more than 100000 thread-instructions"};
  expect_kernel_error("simt-emu:h100,max_instructions=100000", "LOOP:\n  bra.uni LOOP;\n", 1, 32,
                      NULL, parts, 2);
}

Test(simt_errors, trap) {
  const char *parts[] = {"trap executed", "thread (0,0,0)"};
  expect_kernel_error("simt-emu:h100", "  trap;\n", 1, 1, "trap;", parts, 2);
}

Test(simt_errors, device_uri_and_params) {
  qiao_hal_device_t *d = NULL;
  qiao_status_t st = qiao_hal_device_open("simt-emu", &d);
  const char *p1[] = {"needs a profile"};
  expect_error_parts(st, p1, 1);
  st = qiao_hal_device_open("simt-emu:h100,bogus=1", &d);
  const char *p2[] = {"unknown option 'bogus=1'"};
  expect_error_parts(st, p2, 1);
  d = simt_open("simt-emu:a100");
  cr_expect_eq(qiao_hal_device_class(d), QIAO_HAL_CLASS_CUDA);
  cr_expect_str_eq(qiao_hal_device_driver(d), "simt-emu");
  qiao_hal_buffer_t *b = buf_from(d, NULL, 16);
  cr_expect_null(qiao_hal_buffer_host_ptr(b));
  qiao_hal_buffer_release(b);
  qiao_hal_device_release(d);
}

/* Malformed instructions the reader accepts are refused when executed, never crash. */
Test(simt_errors, too_few_operands) {
  const char *parts[] = {"cannot run 'add' (too few operands)"};
  expect_kernel_error("simt-emu:h100", "  add.s32 %r1, %r2;\n", 1, 1, "add.s32 %r1, %r2;", parts,
                      1);
}

/* Module variables: initialized .global arrays and an address initializer. */
Test(simt_isa, global_variable_initializers) {
  static const char src[] =
      ".version 8.0\n.target sm_90\n.address_size 64\n"
      ".global .align 4 .u32 arr[4] = {5, 6, 7, 8};\n"
      ".global .align 8 .u64 ptr = generic(arr)+8;\n"
      ".const .align 4 .f32 cf[2] = {0f3F800000, 0f40000000};\n"
      ".visible .entry k(.param .u64 out)\n{\n  .reg .b32 %r<8>;\n  .reg .b64 %rd<8>;\n"
      "  .reg .f32 %f<4>;\n  ld.param.u64 %rd1, [out];\n  ld.global.u64 %rd2, [ptr];\n"
      "  ld.u32 %r1, [%rd2];\n  ld.global.u32 %r2, [arr+12];\n  ld.const.f32 %f1, [cf+4];\n"
      "  st.global.u32 [%rd1], %r1;\n  st.global.u32 [%rd1+4], %r2;\n"
      "  st.global.f32 [%rd1+8], %f1;\n  atom.global.add.u32 %r3, [arr], 1;\n"
      "  ld.global.u32 %r4, [arr];\n  st.global.u32 [%rd1+12], %r4;\n  ret;\n}\n";
  qiao_hal_device_t *d = simt_open("simt-emu:h100");
  qiao_hal_executable_t *e = simt_load_text(d, src);
  qiao_hal_buffer_t *b = buf_from(d, NULL, 16);
  uint64_t a = addr_of_buf(b);
  void *args[] = {&a};
  OK(simt_run(d, e, "k", 1, 1, 1, 1, 1, 1, 0, args, 1));
  uint32_t o[4];
  OK(qiao_hal_buffer_read(b, 0, o, sizeof o));
  cr_expect_eq(o[0], 7u);
  cr_expect_eq(o[1], 8u);
  cr_expect_eq(o[2], 0x40000000u);
  cr_expect_eq(o[3], 6u);
  qiao_hal_buffer_release(b);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}
