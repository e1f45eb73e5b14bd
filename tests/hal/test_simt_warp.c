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
