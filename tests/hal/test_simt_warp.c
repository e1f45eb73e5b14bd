/* simt-emu: warp-level behaviour — collectives reached in parts, partial masks,
 * ldmatrix variants, bf16 mma, special registers, dynamic shared memory and the
 * bank-conflict statistics. */
#include "simt_util.h"

static const char kHead[] = ".version 8.0\n.target sm_90\n.address_size 64\n";

static void run_src(const char *uri, const char *src, int64_t grid, int32_t bx, int32_t by,
                    uint64_t shared, void *out, size_t out_bytes, qiao_hal_simt_stats_t *stats) {
  qiao_hal_device_t *d = simt_open(uri);
  qiao_hal_executable_t *e = simt_load_text(d, src);
  qiao_hal_buffer_t *b = buf_from(d, NULL, out_bytes);
  uint64_t a = addr_of_buf(b);
  void *args[] = {&a};
  OK(simt_run(d, e, "k", grid, 1, 1, bx, by, 1, shared, args, 1));
  OK(qiao_hal_buffer_read(b, 0, out, out_bytes));
  if (stats) OK(qiao_hal_simt_last_stats(d, stats));
  qiao_hal_buffer_release(b);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}

static char *with_head(const char *body) {
  size_t n = strlen(kHead) + strlen(body) + 1;
  char *s = malloc(n);
  snprintf(s, n, "%s%s", kHead, body);
  return s;
}

/* Lanes >= 16 reach the shfl first and wait; lanes < 16 arrive later. */
Test(simt_warp, collective_reached_in_two_parts) {
  char *src =
      with_head(".visible .entry k(.param .u64 out)\n{\n  .reg .b32 %r<8>;\n  .reg .b64 %rd<8>;\n"
                "  .reg .pred %p<4>;\n  ld.param.u64 %rd1, [out];\n  mov.u32 %r0, %laneid;\n"
                "  mov.u32 %r1, %r0;\n  setp.lt.u32 %p1, %r0, 16;\n  @%p1 bra A;\n"
                "S:\n  shfl.sync.bfly.b32 %r2, %r1, 16, 31, -1;\n  bra.uni END;\n"
                "A:\n  add.u32 %r1, %r1, 100;\n  bra.uni S;\n"
                "END:\n  mul.wide.u32 %rd2, %r0, 4;\n  add.s64 %rd3, %rd1, %rd2;\n  st.global.u32 "
                "[%rd3], %r2;\n"
                "  ret;\n}\n");
  uint32_t o[32];
  run_src("simt-emu:h100", src, 1, 32, 1, 0, o, sizeof o, NULL);
  for (int l = 0; l < 32; ++l) {
    int src_l = l ^ 16;
    cr_expect_eq(o[l], (uint32_t)(src_l < 16 ? src_l + 100 : src_l), "lane %d", l);
  }
  free(src);
}

/* Only even lanes execute a shfl whose mask names exactly them. */
Test(simt_warp, partial_mask_shfl_and_ballot) {
  char *src =
      with_head(".visible .entry k(.param .u64 out)\n{\n  .reg .b32 %r<8>;\n  .reg .b64 %rd<8>;\n"
                "  .reg .pred %p<4>;\n  ld.param.u64 %rd1, [out];\n  mov.u32 %r0, %laneid;\n"
                "  mov.u32 %r2, 0;\n  mov.u32 %r3, 0;\n"
                "  and.b32 %r1, %r0, 1;\n  setp.ne.u32 %p1, %r1, 0;\n  @%p1 bra END;\n"
                "  shfl.sync.idx.b32 %r2, %r0, 4, 31, 0x55555555;\n"
                "  setp.gt.u32 %p2, %r0, 9;\n  vote.sync.ballot.b32 %r3, %p2, 0x55555555;\n"
                "END:\n  mul.wide.u32 %rd2, %r0, 8;\n  add.s64 %rd3, %rd1, %rd2;\n"
                "  st.global.u32 [%rd3], %r2;\n  st.global.u32 [%rd3+4], %r3;\n  ret;\n}\n");
  uint32_t o[32][2];
  run_src("simt-emu:a100", src, 1, 32, 1, 0, o, sizeof o, NULL);
  for (int l = 0; l < 32; l += 2) {
    cr_expect_eq(o[l][0], 4u);
    cr_expect_eq(o[l][1], 0x55555555u & ~0x3FFu);
  }
  cr_expect_eq(o[1][0], 0u);
  free(src);
}

/* ldmatrix .x1, .x2 and .x4.trans on a 32x8 b16 matrix with distinct values. */
Test(simt_warp, ldmatrix_variants) {
  char *src =
      with_head(".visible .entry k(.param .u64 out)\n{\n  .reg .b32 %r<20>;\n  .reg .b64 %rd<8>;\n"
                "  .shared .align 16 .b8 m[512];\n"
                "  ld.param.u64 %rd1, [out];\n  mov.u32 %r0, %laneid;\n"
                /* fill: element e (0..255) = e, as b16 */
                "  mov.u32 %r1, %r0;\nFILL:\n  shl.b32 %r2, %r1, 1;\n  mov.u32 %r3, m;\n  add.u32 "
                "%r3, %r3, %r2;\n"
                "  cvt.u16.u32 %rs1, %r1;\n  st.shared.u16 [%r3], %rs1;\n  add.u32 %r1, %r1, 32;\n"
                "  setp.lt.u32 %p1, %r1, 256;\n  @%p1 bra FILL;\n  bar.warp.sync -1;\n"
                /* row address of lane: row r = lane, 16 bytes per row */
                "  shl.b32 %r4, %r0, 4;\n  mov.u32 %r5, m;\n  add.u32 %r5, %r5, %r4;\n"
                "  ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%r6}, [%r5];\n"
                "  ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%r7, %r8}, [%r5];\n"
                "  ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%r9, %r10, %r11, %r12}, [%r5];\n"
                "  mul.wide.u32 %rd2, %r0, 28;\n  add.s64 %rd3, %rd1, %rd2;\n"
                "  st.global.u32 [%rd3], %r6;\n  st.global.u32 [%rd3+4], %r7;\n  st.global.u32 "
                "[%rd3+8], %r8;\n"
                "  st.global.u32 [%rd3+12], %r9;\n  st.global.u32 [%rd3+16], %r10;\n"
                "  st.global.u32 [%rd3+20], %r11;\n  st.global.u32 [%rd3+24], %r12;\n  ret;\n}\n");
  /* declare the missing registers */
  char *fixed = malloc(strlen(src) + 64);
  char *at = strstr(src, "  .shared");
  size_t pre = (size_t)(at - src);
  memcpy(fixed, src, pre);
  strcpy(fixed + pre, "  .reg .b16 %rs<4>;\n  .reg .pred %p<4>;\n");
  strcat(fixed, at);
  uint32_t o[32][7];
  run_src("simt-emu:h100", fixed, 1, 32, 1, 0, o, sizeof o, NULL);
  for (int l = 0; l < 32; ++l) {
    int g = l / 4, t = l % 4;
    /* matrix m = rows m*8..m*8+7 of the 32x8 array; element (r, c) = r*8 + c */
#define EL(m, r, c) ((uint32_t)((m)*64 + (r)*8 + (c)))
    cr_expect_eq(o[l][0], EL(0, g, 2 * t) | EL(0, g, 2 * t + 1) << 16, "x1 lane %d", l);
    cr_expect_eq(o[l][1], EL(0, g, 2 * t) | EL(0, g, 2 * t + 1) << 16, "x2[0] lane %d", l);
    cr_expect_eq(o[l][2], EL(1, g, 2 * t) | EL(1, g, 2 * t + 1) << 16, "x2[1] lane %d", l);
    for (int m = 0; m < 4; ++m)
      cr_expect_eq(o[l][3 + m], EL(m, 2 * t, g) | EL(m, 2 * t + 1, g) << 16, "trans[%d] lane %d", m,
                   l);
  }
  free(fixed);
  free(src);
}

static uint16_t f2bf(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  x += 0x7fff + ((x >> 16) & 1);
  return (uint16_t)(x >> 16);
}
static float bf2f(uint16_t h) {
  uint32_t x = (uint32_t)h << 16;
  float f;
  memcpy(&f, &x, 4);
  return f;
}

/* The nvcc mma kernel with its mma switched to bf16 operands. */
Test(simt_warp, mma_bf16) {
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/data/ptx/mma_gemm.sm80.ptx", QIAO_SOURCE_DIR);
  size_t n;
  char *s = read_text(path, &n);
  const char *from = "m16n8k16.row.col.f32.f16.f16.f32";
  char *p = strstr(s, from);
  cr_assert_not_null(p);
  size_t pre = (size_t)(p - s);
  char *t = malloc(n + 16);
  memcpy(t, s, pre);
  strcpy(t + pre, "m16n8k16.row.col.f32.bf16.bf16.f32");
  strcat(t, p + strlen(from));
  qiao_hal_device_t *d = simt_open("simt-emu:h100");
  qiao_hal_executable_t *e = simt_load_text(d, t);
  uint16_t A[256], Braw[128];
  float Am[16][16], Bm[16][8];
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c)
      A[r * 16 + c] = f2bf(Am[r][c] = bf2f(f2bf((float)(r * 16 + c) / 32.0f - 3)));
  for (int k = 0; k < 16; ++k)
    for (int c = 0; c < 8; ++c)
      Braw[(k < 8 ? 0 : 64) + c * 8 + (k & 7)] =
          f2bf(Bm[k][c] = bf2f(f2bf((float)(k * 8 + c) / 64.0f)));
  qiao_hal_buffer_t *ba = buf_from(d, A, sizeof A), *bb = buf_from(d, Braw, sizeof Braw),
                    *bd = buf_from(d, NULL, 512);
  uint64_t aa = addr_of_buf(ba), ab = addr_of_buf(bb), ad = addr_of_buf(bd);
  void *args[] = {&aa, &ab, &ad};
  OK(simt_run(d, e, "mma_m16n8k16", 1, 1, 1, 32, 1, 1, 0, args, 3));
  float D[128];
  OK(qiao_hal_buffer_read(bd, 0, D, sizeof D));
  for (int l = 0; l < 32; ++l)
    for (int i = 0; i < 4; ++i) {
      int row = l / 4 + (i >= 2 ? 8 : 0), col = (l % 4) * 2 + (i & 1);
      double r = 0;
      for (int k = 0; k < 16; ++k)
        r += (double)Am[row][k] * Bm[k][col];
      cr_expect(fabs(r - D[l * 4 + i]) <= 1e-5 * (1 + fabs(r)), "lane %d elem %d: %f vs %f", l, i,
                D[l * 4 + i], r);
    }
  qiao_hal_buffer_release(ba);
  qiao_hal_buffer_release(bb);
  qiao_hal_buffer_release(bd);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
  free(t);
  free(s);
}

Test(simt_warp, special_registers_2d_block) {
  char *src =
      with_head(".visible .entry k(.param .u64 out)\n{\n  .reg .b32 %r<16>;\n  .reg .b64 %rd<8>;\n"
                "  ld.param.u64 %rd1, [out];\n  mov.u32 %r1, %tid.x;\n  mov.u32 %r2, %tid.y;\n"
                "  mov.u32 %r3, %ntid.x;\n  mad.lo.u32 %r4, %r2, %r3, %r1;\n"
                "  mov.u32 %r5, %laneid;\n  mov.u32 %r6, %warpid;\n  mov.u32 %r7, %lanemask_lt;\n"
                "  mov.u32 %r8, %ctaid.x;\n  mov.u32 %r9, %nctaid.x;\n  mov.u32 %r10, %ntid.y;\n"
                "  mov.u32 %r11, %dynamic_smem_size;\n"
                "  mov.u32 %r12, %nctaid.x;\n  mad.lo.u32 %r13, %r8, 64, %r4;\n"
                "  mul.wide.u32 %rd2, %r13, 32;\n  add.s64 %rd3, %rd1, %rd2;\n"
                "  st.global.v4.u32 [%rd3], {%r1, %r2, %r5, %r6};\n"
                "  st.global.v4.u32 [%rd3+16], {%r7, %r8, %r10, %r11};\n  ret;\n}\n");
  uint32_t o[2 * 64][8];
  run_src("simt-emu:h100", src, 2, 8, 8, 48, o, sizeof o, NULL);
  for (int c = 0; c < 2; ++c)
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x) {
        int t = y * 8 + x;
        uint32_t *v = o[c * 64 + t];
        cr_expect_eq(v[0], (uint32_t)x);
        cr_expect_eq(v[1], (uint32_t)y);
        cr_expect_eq(v[2], (uint32_t)(t % 32));
        cr_expect_eq(v[3], (uint32_t)(t / 32));
        cr_expect_eq(v[4], (1u << (t % 32)) - 1);
        cr_expect_eq(v[5], (uint32_t)c);
        cr_expect_eq(v[6], 8u);
        cr_expect_eq(v[7], 48u);
      }
  free(src);
}

/* Dynamic shared memory sized by the launch, reversed through it. */
Test(simt_warp, dynamic_shared_memory) {
  char *src = with_head(
      ".extern .shared .align 16 .b8 dsm[];\n"
      ".visible .entry k(.param .u64 out)\n{\n  .reg .b32 %r<16>;\n  .reg .b64 %rd<8>;\n"
      "  ld.param.u64 %rd1, [out];\n  mov.u32 %r1, %tid.x;\n  mov.u32 %r2, %ntid.x;\n"
      "  shl.b32 %r3, %r1, 2;\n  mov.u32 %r4, dsm;\n  add.u32 %r5, %r4, %r3;\n"
      "  mul.lo.u32 %r6, %r1, 3;\n  st.shared.u32 [%r5], %r6;\n  bar.sync 0;\n"
      "  sub.u32 %r7, %r2, %r1;\n  sub.u32 %r7, %r7, 1;\n  shl.b32 %r8, %r7, 2;\n"
      "  add.u32 %r9, %r4, %r8;\n  cvta.shared.u64 %rd4, dsm;\n  cvt.u64.u32 %rd5, %r8;\n"
      "  add.s64 %rd6, %rd4, %rd5;\n  ld.u32 %r10, [%rd6];\n"
      "  mul.wide.u32 %rd2, %r1, 4;\n  add.s64 %rd3, %rd1, %rd2;\n  st.global.u32 [%rd3], %r10;\n"
      "  ret;\n}\n");
  uint32_t o[100];
  run_src("simt-emu:h100", src, 1, 100, 1, 400, o, sizeof o, NULL);
  for (int i = 0; i < 100; ++i)
    cr_expect_eq(o[i], (uint32_t)(3 * (99 - i)));
  /* the same kernel with too little dynamic shared memory */
  qiao_hal_device_t *d = simt_open("simt-emu:h100");
  qiao_hal_executable_t *e = simt_load_text(d, src);
  qiao_hal_buffer_t *b = buf_from(d, NULL, 400);
  uint64_t a = addr_of_buf(b);
  void *args[] = {&a};
  const char *parts[] = {"out-of-bounds shared store of 4 bytes at offset 0x180",
                         "the shared segment has 384 bytes", "thread (96,0,0)"};
  expect_error_parts(simt_run(d, e, "k", 1, 1, 1, 100, 1, 1, 384, args, 1), parts, 3);
  qiao_hal_buffer_release(b);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
  free(src);
}

/* 32 banks x 4 bytes: stride-1 words are conflict-free, stride-32 words are
 * 32-way, a broadcast is one wavefront. */
Test(simt_warp, bank_conflicts) {
  static const char fmt[] =
      ".visible .entry k(.param .u64 out)\n{\n  .reg .b32 %%r<8>;\n  .reg .b64 %%rd<4>;\n"
      "  .shared .align 4 .b8 s[4096];\n  mov.u32 %%r1, %%laneid;\n  mul.lo.u32 %%r2, %%r1, %d;\n"
      "  mov.u32 %%r3, s;\n  add.u32 %%r4, %%r3, %%r2;\n  st.shared.u32 [%%r4], %%r1;\n  ret;\n}\n";
  int strides[3] = {4, 128, 0};
  uint64_t expect[3] = {0, 31, 0}, waves[3] = {1, 32, 1};
  for (int i = 0; i < 3; ++i) {
    char body[1024];
    snprintf(body, sizeof body, fmt, strides[i]);
    char *src = with_head(body);
    qiao_hal_simt_stats_t st;
    uint32_t dummy;
    run_src("simt-emu:h100", src, 1, 32, 1, 0, &dummy, 4, &st);
    cr_expect_eq(st.shared_wavefronts, waves[i]);
    cr_expect_eq(st.bank_conflicts, expect[i], "stride %d: %llu", strides[i],
                 (unsigned long long)st.bank_conflicts);
    cr_expect_eq(st.mem_shared, 32);
    free(src);
  }
  /* 16 bytes per thread, contiguous: 4 wavefronts, no conflict; stride 32 bytes: 2-way */
  static const char fmt4[] =
      ".visible .entry k(.param .u64 out)\n{\n  .reg .b32 %%r<8>;\n  .reg .b64 %%rd<4>;\n"
      "  .shared .align 16 .b8 s[4096];\n  mov.u32 %%r1, %%laneid;\n  mul.lo.u32 %%r2, %%r1, %d;\n"
      "  mov.u32 %%r3, s;\n  add.u32 %%r4, %%r3, %%r2;\n"
      "  st.shared.v4.u32 [%%r4], {%%r1, %%r1, %%r1, %%r1};\n  ret;\n}\n";
  int strides4[2] = {16, 32};
  uint64_t waves4[2] = {4, 8}, conf4[2] = {0, 4};
  for (int i = 0; i < 2; ++i) {
    char body[1024];
    snprintf(body, sizeof body, fmt4, strides4[i]);
    char *src = with_head(body);
    qiao_hal_simt_stats_t st;
    uint32_t dummy;
    run_src("simt-emu:h100", src, 1, 32, 1, 0, &dummy, 4, &st);
    cr_expect_eq(st.shared_wavefronts, waves4[i], "v4 stride %d: %llu", strides4[i],
                 (unsigned long long)st.shared_wavefronts);
    cr_expect_eq(st.bank_conflicts, conf4[i], "v4 stride %d: %llu", strides4[i],
                 (unsigned long long)st.bank_conflicts);
    free(src);
  }
}

/* bar.red (__syncthreads_count / _and / _or) over 64 threads. */
Test(simt_warp, bar_red) {
  char *src = with_head(
      ".visible .entry k(.param .u64 out)\n{\n  .reg .b32 %r<8>;\n  .reg .b64 %rd<8>;\n"
      "  .reg .pred %p<8>;\n  ld.param.u64 %rd1, [out];\n  mov.u32 %r0, %tid.x;\n"
      "  setp.lt.u32 %p1, %r0, 10;\n  bar.red.popc.u32 %r1, 0, %p1;\n"
      "  bar.red.and.pred %p2, 1, 64, %p1;\n  selp.u32 %r2, 1, 0, %p2;\n"
      "  bar.red.or.pred %p3, 0, !%p1;\n  selp.u32 %r3, 1, 0, %p3;\n"
      "  setp.lt.u32 %p4, %r0, 100;\n  bar.red.and.pred %p5, 2, %p4;\n  selp.u32 %r4, 1, 0, %p5;\n"
      "  mul.wide.u32 %rd2, %r0, 16;\n  add.s64 %rd3, %rd1, %rd2;\n"
      "  st.global.v4.u32 [%rd3], {%r1, %r2, %r3, %r4};\n  ret;\n}\n");
  uint32_t o[64][4];
  run_src("simt-emu:h100", src, 1, 64, 1, 0, o, sizeof o, NULL);
  for (int t = 0; t < 64; ++t) {
    cr_expect_eq(o[t][0], 10u);
    cr_expect_eq(o[t][1], 0u);
    cr_expect_eq(o[t][2], 1u);
    cr_expect_eq(o[t][3], 1u);
  }
  free(src);
}

/* mbarrier: every thread writes, arrives, waits on the phase parity, then
 * reads its neighbour's value; two phases in a row. */
Test(simt_warp, mbarrier_phases) {
  char *src = with_head(
      ".visible .entry k(.param .u64 out)\n{\n  .reg .b32 %r<12>;\n  .reg .b64 %rd<8>;\n"
      "  .reg .pred %p<4>;\n  .shared .align 8 .b64 mb;\n  .shared .align 4 .b8 data[256];\n"
      "  ld.param.u64 %rd1, [out];\n  mov.u32 %r0, %tid.x;\n  mov.u32 %r9, %ntid.x;\n"
      "  setp.ne.u32 %p1, %r0, 0;\n  @%p1 bra SKIP;\n  mbarrier.init.shared::cta.b64 [mb], %r9;\n"
      "SKIP:\n  bar.sync 0;\n  mov.u32 %r8, 0;\n"
      "PHASE:\n  mad.lo.u32 %r1, %r0, 10, %r8;\n  shl.b32 %r2, %r0, 2;\n  mov.u32 %r3, data;\n"
      "  add.u32 %r4, %r3, %r2;\n  st.shared.u32 [%r4], %r1;\n"
      "  mbarrier.arrive.shared::cta.b64 %rd2, [mb];\n"
      "WAIT:\n  mbarrier.try_wait.parity.shared::cta.b64 %p2, [mb], %r8;\n  @!%p2 bra WAIT;\n"
      "  add.u32 %r5, %r0, 1;\n  rem.u32 %r5, %r5, %r9;\n  shl.b32 %r5, %r5, 2;\n"
      "  add.u32 %r6, %r3, %r5;\n  ld.shared.u32 %r7, [%r6];\n"
      "  mad.lo.u32 %r10, %r8, %r9, %r0;\n  mul.wide.u32 %rd3, %r10, 4;\n  add.s64 %rd4, %rd1, "
      "%rd3;\n"
      "  st.global.u32 [%rd4], %r7;\n  bar.sync 0;\n"
      "  add.u32 %r8, %r8, 1;\n  setp.lt.u32 %p3, %r8, 2;\n  @%p3 bra PHASE;\n  ret;\n}\n");
  uint32_t o[2][64];
  run_src("simt-emu:a100", src, 1, 64, 1, 0, o, sizeof o, NULL);
  for (int ph = 0; ph < 2; ++ph)
    for (int t = 0; t < 64; ++t)
      cr_expect_eq(o[ph][t], (uint32_t)(((t + 1) % 64) * 10 + ph), "phase %d thread %d", ph, t);
  free(src);
}

/* cp.async completion tracked by an mbarrier (.noinc: one arrival per thread). */
Test(simt_warp, cp_async_mbarrier_arrive) {
  char *src = with_head(
      ".visible .entry k(.param .u64 out)\n{\n  .reg .b32 %r<12>;\n  .reg .b64 %rd<8>;\n"
      "  .reg .pred %p<4>;\n  .shared .align 8 .b64 mb;\n  .shared .align 16 .b8 data[512];\n"
      "  ld.param.u64 %rd1, [out];\n  mov.u32 %r0, %tid.x;\n"
      "  setp.ne.u32 %p1, %r0, 0;\n  @%p1 bra SKIP;\n  mbarrier.init.shared::cta.b64 [mb], 32;\n"
      "SKIP:\n  bar.sync 0;\n  shl.b32 %r1, %r0, 4;\n  mov.u32 %r2, data;\n  add.u32 %r3, %r2, "
      "%r1;\n"
      "  mul.wide.u32 %rd2, %r0, 16;\n  add.s64 %rd3, %rd1, %rd2;\n"
      "  cp.async.cg.shared.global [%r3], [%rd3], 16, 8;\n"
      "  cp.async.mbarrier.arrive.noinc.shared::cta.b64 [mb];\n"
      "WAIT:\n  mbarrier.try_wait.parity.shared::cta.b64 %p2, [mb], 0;\n  @!%p2 bra WAIT;\n"
      "  xor.b32 %r4, %r0, 1;\n  shl.b32 %r5, %r4, 4;\n  add.u32 %r6, %r2, %r5;\n"
      "  ld.shared.v4.u32 {%r7, %r8, %r9, %r10}, [%r6];\n  bar.sync 0;\n"
      "  st.global.v4.u32 [%rd3], {%r7, %r8, %r9, %r10};\n  ret;\n}\n");
  qiao_hal_device_t *d = simt_open("simt-emu:h100");
  qiao_hal_executable_t *e = simt_load_text(d, src);
  uint32_t in[32][4], o[32][4];
  for (int t = 0; t < 32; ++t)
    for (int i = 0; i < 4; ++i)
      in[t][i] = (uint32_t)(t * 4 + i + 1);
  qiao_hal_buffer_t *b = buf_from(d, in, sizeof in);
  uint64_t a = addr_of_buf(b);
  void *args[] = {&a};
  OK(simt_run(d, e, "k", 1, 1, 1, 32, 1, 1, 0, args, 1));
  OK(qiao_hal_buffer_read(b, 0, o, sizeof o));
  for (int t = 0; t < 32; ++t) {
    int s = t ^ 1;
    cr_expect_eq(o[t][0], in[s][0]);
    cr_expect_eq(o[t][1], in[s][1]);
    cr_expect_eq(o[t][2], 0u, "src-size 8 zero-fills");
    cr_expect_eq(o[t][3], 0u);
  }
  qiao_hal_buffer_release(b);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
  free(src);
}

/* mma.m16n8k8 with f16 accumulators, fed by ldmatrix (.x2; B through .x1.trans
 * from a k-major tile) and written back with stmatrix.x2: D = A B + C. */
Test(simt_warp, mma_m16n8k8_f16_ldmatrix_stmatrix) {
  char *src = with_head(
      ".visible .entry k(.param .u64 out, .param .u64 in)\n{\n  .reg .b32 %r<24>;\n"
      "  .reg .b64 %rd<8>;\n  .reg .pred %p<2>;\n  .shared .align 16 .b8 sa[256];\n"
      "  .shared .align 16 .b8 sb[128];\n  .shared .align 16 .b8 sc[256];\n"
      "  ld.param.u64 %rd1, [out];\n  ld.param.u64 %rd2, [in];\n  mov.u32 %r0, %laneid;\n"
      "  and.b32 %r1, %r0, 15;\n  shl.b32 %r2, %r1, 4;\n" /* (lane % 16) * 16 */
      "  cvt.u64.u32 %rd3, %r2;\n  add.s64 %rd4, %rd2, %rd3;\n"
      "  ld.global.v4.u32 {%r4, %r5, %r6, %r7}, [%rd4];\n  mov.u32 %r3, sa;\n  add.u32 %r8, %r3, "
      "%r2;\n"
      "  st.shared.v4.u32 [%r8], {%r4, %r5, %r6, %r7};\n"
      "  ld.global.v4.u32 {%r4, %r5, %r6, %r7}, [%rd4+384];\n  mov.u32 %r9, sc;\n  add.u32 %r10, "
      "%r9, %r2;\n"
      "  st.shared.v4.u32 [%r10], {%r4, %r5, %r6, %r7};\n"
      "  and.b32 %r11, %r0, 7;\n  shl.b32 %r12, %r11, 4;\n  cvt.u64.u32 %rd5, %r12;\n"
      "  add.s64 %rd6, %rd2, %rd5;\n  ld.global.v4.u32 {%r4, %r5, %r6, %r7}, [%rd6+256];\n"
      "  mov.u32 %r13, sb;\n  add.u32 %r14, %r13, %r12;\n  st.shared.v4.u32 [%r14], {%r4, %r5, "
      "%r6, %r7};\n"
      "  bar.sync 0;\n"
      "  ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%r15, %r16}, [%r8];\n"
      "  ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%r17}, [%r14];\n"
      "  ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%r18, %r19}, [%r10];\n"
      "  mma.sync.aligned.m16n8k8.row.col.f16.f16.f16.f16 {%r20, %r21}, {%r15, %r16}, {%r17}, "
      "{%r18, %r19};\n"
      "  stmatrix.sync.aligned.m8n8.x2.shared.b16 [%r10], {%r20, %r21};\n  bar.sync 0;\n"
      "  ld.shared.v4.u32 {%r4, %r5, %r6, %r7}, [%r10];\n  add.s64 %rd7, %rd1, %rd3;\n"
      "  st.global.v4.u32 [%rd7], {%r4, %r5, %r6, %r7};\n  ret;\n}\n");
  qiao_hal_device_t *d = simt_open("simt-emu:h100");
  qiao_hal_executable_t *e = simt_load_text(d, src);
  uint16_t in[128 + 64 + 128], out[128];
  float A[16][8], B[8][8], C[16][8];
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < 8; ++k)
      in[r * 8 + k] = f2h(A[r][k] = (float)(r * 8 + k) / 16.0f - 4);
  for (int k = 0; k < 8; ++k)
    for (int n = 0; n < 8; ++n)
      in[128 + k * 8 + n] = f2h(B[k][n] = (float)(k * 8 + n) / 32.0f);
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 8; ++n)
      in[192 + r * 8 + n] = f2h(C[r][n] = (float)(r - n) / 4.0f);
  qiao_hal_buffer_t *bi = buf_from(d, in, sizeof in), *bo = buf_from(d, NULL, sizeof out);
  uint64_t ai = addr_of_buf(bi), ao = addr_of_buf(bo);
  void *args[] = {&ao, &ai};
  OK(simt_run(d, e, "k", 1, 1, 1, 32, 1, 1, 0, args, 2));
  OK(qiao_hal_buffer_read(bo, 0, out, sizeof out));
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 8; ++n) {
      double s = C[r][n];
      for (int k = 0; k < 8; ++k)
        s += (double)A[r][k] * B[k][n];
      cr_expect_eq(out[r * 8 + n], f2h((float)s), "D[%d][%d] = %f, want %f", r, n,
                   h2f(out[r * 8 + n]), s);
    }
  qiao_hal_buffer_release(bi);
  qiao_hal_buffer_release(bo);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
  free(src);
}

/* ---- mma.sync tf32 / s8 / u8 shapes against C references with the PTX ISA fragment layouts.
 * The host packs each lane's A/B/C fragment registers (words 0-3: A, 4-5: B, 8-11: C of a
 * 16-word slot per lane) by the ISA's "Matrix Fragments for mma.m*n*k*" formulas, the kernel
 * loads them, runs the one mma and stores D (4 words per lane); the host unpacks D by the
 * same formulas. */

typedef struct {
  const char *instr; /* the mma, operands {%r12..}, {%r1..}, {%r5..}, {%r8..} */
  int m, n, k, na, nb, nc;
} mma_case_t;

static char *mma_kernel(const mma_case_t *mc) {
  static const char *const regs[] = {"%r1", "%r2", "%r3", "%r4"};
  char body[4096], ld[1024] = "", st[512] = "", dl[64] = "", al[64] = "", bl[64] = "", cl[64] = "";
  size_t o = 0;
  for (int i = 0; i < mc->na; ++i)
    o += (size_t)snprintf(ld + o, sizeof ld - o, "  ld.global.u32 %%r%d, [%%rd3+%d];\n", 1 + i,
                          4 * i);
  for (int i = 0; i < mc->nb; ++i)
    o += (size_t)snprintf(ld + o, sizeof ld - o, "  ld.global.u32 %%r%d, [%%rd3+%d];\n", 5 + i,
                          16 + 4 * i);
  for (int i = 0; i < mc->nc; ++i)
    o += (size_t)snprintf(ld + o, sizeof ld - o, "  ld.global.u32 %%r%d, [%%rd3+%d];\n", 8 + i,
                          32 + 4 * i);
  o = 0;
  for (int i = 0; i < mc->nc; ++i)
    o += (size_t)snprintf(st + o, sizeof st - o, "  st.global.u32 [%%rd4+%d], %%r%d;\n", 4 * i,
                          12 + i);
  for (int i = 0; i < 4; ++i) {
    if (i < mc->na)
      snprintf(al + strlen(al), sizeof al - strlen(al), "%s%s", i ? ", " : "", regs[i]);
    if (i < mc->nb)
      snprintf(bl + strlen(bl), sizeof bl - strlen(bl), "%s%%r%d", i ? ", " : "", 5 + i);
    if (i < mc->nc) {
      snprintf(cl + strlen(cl), sizeof cl - strlen(cl), "%s%%r%d", i ? ", " : "", 8 + i);
      snprintf(dl + strlen(dl), sizeof dl - strlen(dl), "%s%%r%d", i ? ", " : "", 12 + i);
    }
  }
  snprintf(body, sizeof body,
           ".visible .entry k(.param .u64 out, .param .u64 in)\n{\n  .reg .b32 %%r<20>;\n"
           "  .reg .b64 %%rd<8>;\n  ld.param.u64 %%rd1, [out];\n  ld.param.u64 %%rd2, [in];\n"
           "  mov.u32 %%r0, %%laneid;\n  mul.wide.u32 %%rd5, %%r0, 64;\n"
           "  add.s64 %%rd3, %%rd2, %%rd5;\n  mul.wide.u32 %%rd6, %%r0, 16;\n"
           "  add.s64 %%rd4, %%rd1, %%rd6;\n%s  %s {%s}, {%s}, {%s}, {%s};\n%s  ret;\n}\n",
           ld, mc->instr, dl, al, bl, cl, st);
  return with_head(body);
}

/* Runs the case: `in` 32 lanes x 16 words, `out` 32 lanes x 4 words. */
static void mma_run(const mma_case_t *mc, const uint32_t *in, uint32_t *out) {
  char *src = mma_kernel(mc);
  qiao_hal_device_t *d = simt_open("simt-emu:a100");
  qiao_hal_executable_t *e = simt_load_text(d, src);
  qiao_hal_buffer_t *bi = buf_from(d, in, 32 * 16 * 4), *bo = buf_from(d, NULL, 32 * 4 * 4);
  uint64_t ai = addr_of_buf(bi), ao = addr_of_buf(bo);
  void *args[] = {&ao, &ai};
  OK(simt_run(d, e, "k", 1, 1, 1, 32, 1, 1, 0, args, 2));
  OK(qiao_hal_buffer_read(bo, 0, out, 32 * 4 * 4));
  qiao_hal_buffer_release(bi);
  qiao_hal_buffer_release(bo);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
  free(src);
}

/* C/D accumulator element i of lane l (rows g, g + 8; columns 2t, 2t + 1). */
static void acc_pos(int l, int i, int *row, int *col) {
  *row = (l >> 2) + (i >= 2 ? 8 : 0);
  *col = (l & 3) * 2 + (i & 1);
}

static uint32_t rng_next(uint32_t *s) {
  *s = *s * 1664525u + 1013904223u;
  return *s >> 8;
}

static float tf32_trunc(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  u &= 0xffffe000u;
  memcpy(&f, &u, 4);
  return f;
}

static void mma_tf32_case(int K) {
  char instr[96];
  snprintf(instr, sizeof instr, "mma.sync.aligned.m16n8k%d.row.col.f32.tf32.tf32.f32", K);
  mma_case_t mc = {instr, 16, 8, K, K / 2, K / 4, 4};
  float A[16][8], B[8][8], C[16][8];
  uint32_t seed = 12345u + (uint32_t)K, in[32 * 16] = {0}, out[32 * 4];
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < K; ++k)
      A[r][k] = (float)((int)(rng_next(&seed) % 20001) - 10000) / 3001.0f;
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < 8; ++n)
      B[k][n] = (float)((int)(rng_next(&seed) % 20001) - 10000) / 2999.0f;
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 8; ++n)
      C[r][n] = (float)((int)(rng_next(&seed) % 2001) - 1000) / 7.0f;
  for (int l = 0; l < 32; ++l) {
    int g = l >> 2, t = l & 3;
    /* A: a0 (g, t), a1 (g + 8, t), a2 (g, t + 4), a3 (g + 8, t + 4); B: b0 (t, g), b1 (t + 4, g) */
    for (int i = 0; i < K / 2; ++i)
      memcpy(&in[l * 16 + i], &A[g + (i & 1) * 8][t + (i >> 1) * 4], 4);
    for (int i = 0; i < K / 4; ++i)
      memcpy(&in[l * 16 + 4 + i], &B[t + i * 4][g], 4);
    for (int i = 0; i < 4; ++i) {
      int r, c;
      acc_pos(l, i, &r, &c);
      memcpy(&in[l * 16 + 8 + i], &C[r][c], 4);
    }
  }
  mma_run(&mc, in, out);
  for (int l = 0; l < 32; ++l)
    for (int i = 0; i < 4; ++i) {
      int r, c;
      acc_pos(l, i, &r, &c);
      double s = C[r][c];
      for (int k = 0; k < K; ++k)
        s += (double)tf32_trunc(A[r][k]) * tf32_trunc(B[k][c]);
      float got;
      memcpy(&got, &out[l * 4 + i], 4);
      cr_expect(fabs(got - s) <= 1e-5 * fmax(1.0, fabs(s)), "k%d D[%d][%d] = %.7g, want %.7g", K, r,
                c, got, s);
    }
}

Test(simt_warp, mma_tf32_m16n8k8_and_k4) {
  mma_tf32_case(8);
  mma_tf32_case(4);
}

/* s8/u8: M x K (M 16 or 8), K 16 or 32, N 8. */
static void mma_int_case(int M, int K, bool a_signed, bool b_signed, bool satf, int32_t cbase) {
  char instr[128];
  snprintf(instr, sizeof instr, "mma.sync.aligned.m%dn8k%d.row.col%s.s32.%s.%s.s32", M, K,
           satf ? ".satfinite" : "", a_signed ? "s8" : "u8", b_signed ? "s8" : "u8");
  int nc = M * 8 / 32;
  mma_case_t mc = {instr, M, 8, K, M * K / 128, K * 8 / 128, nc};
  int32_t A[16][32], B[32][8], C[16][8];
  uint32_t seed = (uint32_t)(M * 1000 + K * 10 + a_signed * 2 + b_signed), in[32 * 16] = {0},
           out[32 * 4];
  for (int r = 0; r < M; ++r)
    for (int k = 0; k < K; ++k)
      A[r][k] = a_signed ? (int8_t)rng_next(&seed) : (uint8_t)rng_next(&seed);
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < 8; ++n)
      B[k][n] = b_signed ? (int8_t)rng_next(&seed) : (uint8_t)rng_next(&seed);
  for (int r = 0; r < M; ++r)
    for (int n = 0; n < 8; ++n) {
      int64_t v = (int64_t)cbase + (int64_t)(rng_next(&seed) % 200001) - 100000;
      C[r][n] = (int32_t)(v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v);
    }
  for (int l = 0; l < 32; ++l) {
    int g = l >> 2, t = l & 3;
    /* A element i: row g (+8 for i & 4), col 4t + (i & 3) (+16 for i >= 8);
     * B element i: row 4t + (i & 3) (+16 for i >= 4), col g. */
    for (int i = 0; i < M * K / 32; ++i) {
      int r = g + ((i & 4) ? 8 : 0), c = t * 4 + (i & 3) + (i >= 8 ? 16 : 0);
      in[l * 16 + i / 4] |= (uint32_t)(uint8_t)A[r][c] << (8 * (i & 3));
    }
    for (int i = 0; i < K * 8 / 32; ++i) {
      int r = t * 4 + (i & 3) + (i >= 4 ? 16 : 0);
      in[l * 16 + 4 + i / 4] |= (uint32_t)(uint8_t)B[r][g] << (8 * (i & 3));
    }
    for (int i = 0; i < nc; ++i) {
      int r, c;
      acc_pos(l, i, &r, &c);
      in[l * 16 + 8 + i] = (uint32_t)C[r][c];
    }
  }
  mma_run(&mc, in, out);
  int wrapped = 0;
  for (int l = 0; l < 32; ++l)
    for (int i = 0; i < nc; ++i) {
      int r, c;
      acc_pos(l, i, &r, &c);
      int64_t s = C[r][c];
      for (int k = 0; k < K; ++k)
        s += (int64_t)A[r][k] * B[k][c];
      int32_t want;
      if (satf)
        want = s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : (int32_t)s;
      else
        want = (int32_t)(uint32_t)(uint64_t)s;
      wrapped += s != (int64_t)want;
      cr_expect_eq((int32_t)out[l * 4 + i], want, "%s D[%d][%d] = %d, want %d", instr, r, c,
                   (int32_t)out[l * 4 + i], want);
    }
  if (cbase > 2000000000) cr_expect(wrapped > 0, "%s: the case must overflow s32", instr);
}

Test(simt_warp, mma_s8_u8_shapes) {
  mma_int_case(16, 32, true, true, false, 0);
  mma_int_case(16, 16, true, true, false, 0);
  mma_int_case(16, 32, false, true, false, 0);
  mma_int_case(16, 32, true, false, false, 0);
  mma_int_case(16, 16, false, false, false, 0);
  mma_int_case(8, 16, true, true, false, 0);
}

Test(simt_warp, mma_s8_wraps_and_satfinite_clamps) {
  mma_int_case(16, 32, false, false, false, 2147400000);
  mma_int_case(16, 32, false, false, true, 2147400000);
  mma_int_case(16, 32, true, true, true, -2147400000);
}

/* cvt.rna.tf32.f32 (ties away from zero at bit 13), .satfinite, and .rz / .rn. */
Test(simt_warp, cvt_tf32) {
  static const struct {
    const char *mod;
    uint32_t in, want;
  } cs[] = {
      {"rna", 0x3f800000u, 0x3f800000u}, {"rna", 0x3f801000u, 0x3f802000u}, /* tie: away */
      {"rna", 0xbf801000u, 0xbf802000u}, {"rna", 0x3f800fffu, 0x3f800000u},
      {"rna", 0x3f803000u, 0x3f804000u}, {"rn", 0x3f801000u, 0x3f800000u}, /* tie: even */
      {"rn", 0x3f803000u, 0x3f804000u},  {"rz", 0x3f801fffu, 0x3f800000u},
      {"rna", 0x7f7ff000u, 0x7f800000u}, {"rna.satfinite", 0x7f7ff000u, 0x7f7fe000u},
      {"rna", 0xff800000u, 0xff800000u}, {"rna.satfinite", 0xff800000u, 0xff7fe000u},
      {"rna", 0x7fc00001u, 0x7fffffffu}, {"rna", 0x00001000u, 0x00002000u}, /* subnormal */
  };
  for (size_t i = 0; i < sizeof cs / sizeof cs[0]; ++i) {
    char body[640];
    snprintf(body, sizeof body,
             ".visible .entry k(.param .u64 out)\n{\n  .reg .b32 %%r<4>;\n  .reg .f32 %%f<2>;\n"
             "  .reg .b64 %%rd<2>;\n  ld.param.u64 %%rd1, [out];\n  mov.f32 %%f1, 0f%08X;\n"
             "  cvt.%s.tf32.f32 %%r1, %%f1;\n  st.global.u32 [%%rd1], %%r1;\n  ret;\n}\n",
             cs[i].in, cs[i].mod);
    char *src = with_head(body);
    uint32_t o = 0;
    run_src("simt-emu:h100", src, 1, 1, 1, 0, &o, sizeof o, NULL);
    cr_expect_eq(o, cs[i].want, "cvt.%s.tf32.f32 0x%08x = 0x%08x, want 0x%08x", cs[i].mod, cs[i].in,
                 o, cs[i].want);
    free(src);
  }
}
