/* simt-emu: the hand-written CUDA kernels of tests/data/ptx/ (.cu), compiled by nvcc
 * at test time for sm_80 and sm_90 (the checked-in PTX, with a visible "[SKIPPED] no
 * nvcc" line, where nvcc is absent), on simt-emu:h100 and simt-emu:a100 against C
 * references on random inputs. */
#include <unistd.h>

#include "simt_util.h"
#include "support/nvcc_ptx.h"

typedef struct combo {
  const char *uri, *arch;
} combo_t;
static const combo_t kCombos[] = {
    {"simt-emu:h100", "sm90"}, {"simt-emu:a100", "sm80"}, {"simt-emu:h100", "sm80"}};
#define NCOMBO (int)(sizeof kCombos / sizeof kCombos[0])

/* <kernel>.cu compiled by nvcc now (the checked-in <kernel>.<arch>.ptx with a visible
 * "[SKIPPED] no nvcc" line where nvcc is absent); each (kernel, arch) once per test. */
static qiao_hal_executable_t *load(qiao_hal_device_t *d, const char *kernel, const char *arch) {
  static struct {
    char key[64];
    char *text;
  } cache[8];
  char key[64];
  snprintf(key, sizeof key, "%s.%s", kernel, arch);
  for (int i = 0; i < 8; ++i)
    if (cache[i].text && !strcmp(cache[i].key, key)) return simt_load_text(d, cache[i].text);
  char dir[] = "/tmp/qiao-nvcc-XXXXXX", path[4096], who[128];
  cr_assert_not_null(mkdtemp(dir));
  snprintf(who, sizeof who, "simt_kernels %s", key);
  cr_assert(nvcc_ptx_file(kernel, arch, dir, who, path, sizeof path), "nvcc failed: %s", path);
  size_t n;
  char *text = read_text(path, &n);
  if (strncmp(path, dir, strlen(dir)) == 0) remove(path);
  rmdir(dir);
  for (int i = 0; i < 8; ++i)
    if (!cache[i].text) {
      snprintf(cache[i].key, sizeof cache[i].key, "%s", key);
      cache[i].text = text;
      return simt_load_text(d, text);
    }
  qiao_hal_executable_t *e = simt_load_text(d, text);
  free(text);
  return e;
}

Test(simt_kernels, warp_reduce) {
  for (int ci = 0; ci < NCOMBO; ++ci) {
    qiao_hal_device_t *d = simt_open(kCombos[ci].uri);
    qiao_hal_executable_t *e = load(d, "warp_reduce", kCombos[ci].arch);
    enum { N = 1000 };
    float x[N];
    uint64_t s = 1 + (uint64_t)ci;
    double ref = 0;
    for (int i = 0; i < N; ++i)
      ref += x[i] = rng_f(&s);
    float zero = 0;
    qiao_hal_buffer_t *bx = buf_from(d, x, sizeof x), *bo = buf_from(d, &zero, 4);
    uint64_t ax = addr_of_buf(bx), ao = addr_of_buf(bo);
    int32_t n = N;
    void *args[] = {&ax, &ao, &n};
    OK(simt_run(d, e, "warp_reduce", (N + 255) / 256, 1, 1, 256, 1, 1, 0, args, 3));
    float out;
    OK(qiao_hal_buffer_read(bo, 0, &out, 4));
    cr_expect(fabs(out - ref) < 1e-3, "%s %s: %f vs %f", kCombos[ci].uri, kCombos[ci].arch, out,
              ref);
    qiao_hal_simt_stats_t st;
    OK(qiao_hal_simt_last_stats(d, &st));
    cr_expect_gt(st.warp, 0);
    cr_expect_gt(st.atomic, 0);
    cr_expect_eq(st.ctas, 4);
    qiao_hal_buffer_release(bx);
    qiao_hal_buffer_release(bo);
    qiao_hal_executable_release(e);
    qiao_hal_device_release(d);
  }
}

/* Through the generic HAL: bindings fill the pointer params, constants the rest. */
Test(simt_kernels, gemm_tiled_via_dispatch) {
  for (int ci = 0; ci < NCOMBO; ++ci) {
    qiao_hal_device_t *d = simt_open(kCombos[ci].uri);
    qiao_hal_executable_t *e = load(d, "gemm_tiled", kCombos[ci].arch);
    enum { M = 37, N = 45, K = 29 };
    static float A[M * K], B[K * N], C[M * N];
    uint64_t s = 7;
    for (int i = 0; i < M * K; ++i)
      A[i] = rng_f(&s);
    for (int i = 0; i < K * N; ++i)
      B[i] = rng_f(&s);
    qiao_hal_buffer_t *ba = buf_from(d, A, sizeof A), *bb = buf_from(d, B, sizeof B),
                      *bc = buf_from(d, NULL, sizeof C);
    qiao_hal_entry_info_t info;
    int32_t idx;
    OK(qiao_hal_executable_lookup(e, "gemm_tiled", &idx, &info));
    cr_expect_str_eq(info.signature, "vpppiii");
    cr_expect_eq(info.n_bindings, 3);
    cr_expect_eq(info.n_constants, 3);
    qiao_hal_binding_t b[3] = {{ba, 0}, {bb, 0}, {bc, 0}};
    int64_t k[3] = {M, N, K};
    qiao_hal_launch_config_t cfg = {{(N + 15) / 16, (M + 15) / 16, 1}, {16, 16, 1}, 0};
    qiao_hal_event_t t0, t1;
    OK(qiao_hal_event_record(d, &t0));
    OK(qiao_hal_dispatch_launch(d, e, idx, &cfg, b, 3, k, 3));
    OK(qiao_hal_event_record(d, &t1));
    /* events carry the modelled GPU clock and the emulator's wall clock */
    cr_expect_eq(t1.kind, QIAO_HAL_TIME_MODELLED);
    cr_expect(qiao_hal_event_elapsed_ms(&t0, &t1) > 0);
    cr_expect(qiao_hal_event_wall_ms(&t0, &t1) >= 0);
    OK(qiao_hal_buffer_read(bc, 0, C, sizeof C));
    double maxerr = 0;
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        double r = 0;
        for (int kk = 0; kk < K; ++kk)
          r += (double)A[i * K + kk] * B[kk * N + j];
        double err = fabs(r - C[i * N + j]);
        if (err > maxerr) maxerr = err;
      }
    cr_expect(maxerr < 1e-4, "%s %s: max error %g", kCombos[ci].uri, kCombos[ci].arch, maxerr);
    qiao_hal_simt_stats_t st;
    OK(qiao_hal_simt_last_stats(d, &st));
    cr_expect_gt(st.mem_shared, 0);
    cr_expect_gt(st.barrier, 0);
    cr_expect_gt(st.shared_wavefronts, 0);
    qiao_hal_buffer_release(ba);
    qiao_hal_buffer_release(bb);
    qiao_hal_buffer_release(bc);
    qiao_hal_executable_release(e);
    qiao_hal_device_release(d);
  }
}

Test(simt_kernels, mma_wmma_gemm) {
  for (int ci = 0; ci < NCOMBO; ++ci) {
    qiao_hal_device_t *d = simt_open(kCombos[ci].uri);
    qiao_hal_executable_t *e = load(d, "mma_gemm", kCombos[ci].arch);
    enum { M = 32, N = 48, K = 32 };
    static uint16_t A[M * K], Bt[N * K];
    static float C[M * N];
    uint64_t s = 11;
    for (int i = 0; i < M * K; ++i)
      A[i] = f2h(rng_f(&s));
    for (int i = 0; i < N * K; ++i)
      Bt[i] = f2h(rng_f(&s));
    qiao_hal_buffer_t *ba = buf_from(d, A, sizeof A), *bb = buf_from(d, Bt, sizeof Bt),
                      *bc = buf_from(d, NULL, sizeof C);
    uint64_t aa = addr_of_buf(ba), ab = addr_of_buf(bb), ac = addr_of_buf(bc);
    int32_t m = M, n = N, k = K;
    void *args[] = {&aa, &ab, &ac, &m, &n, &k};
    OK(simt_run(d, e, "mma_gemm", N / 16, M / 16, 1, 32, 1, 1, 0, args, 6));
    OK(qiao_hal_buffer_read(bc, 0, C, sizeof C));
    double maxerr = 0;
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        double r = 0;
        for (int kk = 0; kk < K; ++kk)
          r += (double)h2f(A[i * K + kk]) * h2f(Bt[j * K + kk]);
        double err = fabs(r - C[i * N + j]);
        if (err > maxerr) maxerr = err;
      }
    cr_expect(maxerr < 1e-4, "%s: max error %g", kCombos[ci].arch, maxerr);
    qiao_hal_simt_stats_t st;
    OK(qiao_hal_simt_last_stats(d, &st));
    cr_expect_gt(st.tensor, 0);
    qiao_hal_buffer_release(ba);
    qiao_hal_buffer_release(bb);
    qiao_hal_buffer_release(bc);
    qiao_hal_executable_release(e);
    qiao_hal_device_release(d);
  }
}

/* One mma.sync m16n8k16 fed by ldmatrix.x4, distinct values per element. */
Test(simt_kernels, mma_m16n8k16_layout) {
  for (int ci = 0; ci < NCOMBO; ++ci) {
    qiao_hal_device_t *d = simt_open(kCombos[ci].uri);
    qiao_hal_executable_t *e = load(d, "mma_gemm", kCombos[ci].arch);
    uint16_t A[256], Braw[128];
    float Am[16][16], Bm[16][8];
    for (int r = 0; r < 16; ++r)
      for (int c = 0; c < 16; ++c) {
        Am[r][c] = (float)(r * 16 + c) / 64.0f; /* distinct, exact in f16 */
        A[r * 16 + c] = f2h(Am[r][c]);
      }
    for (int kk = 0; kk < 16; ++kk)
      for (int n = 0; n < 8; ++n) {
        Bm[kk][n] = (float)(kk * 8 + n + 1) / 128.0f - 0.5f;
        Braw[(kk < 8 ? 0 : 64) + n * 8 + (kk & 7)] = f2h(Bm[kk][n]);
      }
    qiao_hal_buffer_t *ba = buf_from(d, A, sizeof A), *bb = buf_from(d, Braw, sizeof Braw),
                      *bd = buf_from(d, NULL, 128 * 4);
    uint64_t aa = addr_of_buf(ba), ab = addr_of_buf(bb), ad = addr_of_buf(bd);
    void *args[] = {&aa, &ab, &ad};
    OK(simt_run(d, e, "mma_m16n8k16", 1, 1, 1, 32, 1, 1, 0, args, 3));
    float D[128];
    OK(qiao_hal_buffer_read(bd, 0, D, sizeof D));
    int bad = 0;
    for (int lane = 0; lane < 32; ++lane)
      for (int i = 0; i < 4; ++i) {
        int row = lane / 4 + (i >= 2 ? 8 : 0), col = (lane % 4) * 2 + (i & 1);
        double r = 0;
        for (int kk = 0; kk < 16; ++kk)
          r += (double)h2f(f2h(Am[row][kk])) * h2f(f2h(Bm[kk][col]));
        if (fabs(r - D[lane * 4 + i]) > 1e-4 * (1 + fabs(r))) ++bad;
      }
    cr_expect_eq(bad, 0, "%s: %d of 128 elements wrong", kCombos[ci].arch, bad);
    qiao_hal_buffer_release(ba);
    qiao_hal_buffer_release(bb);
    qiao_hal_buffer_release(bd);
    qiao_hal_executable_release(e);
    qiao_hal_device_release(d);
  }
}

/* cvt.rna.tf32.f32 on the host: round at mantissa bit 13, ties away from zero. */
static float tf32_rna(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) < 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
  memcpy(&f, &u, 4);
  return f;
}

/* WMMA precision::tf32 (m16n16k8) GEMM with __float_to_tf32 on the fragments. */
Test(simt_kernels, wmma_tf32_gemm) {
  for (int ci = 0; ci < NCOMBO; ++ci) {
    qiao_hal_device_t *d = simt_open(kCombos[ci].uri);
    qiao_hal_executable_t *e = load(d, "wmma_tf32", kCombos[ci].arch);
    enum { M = 32, N = 48, K = 24 };
    static float A[M * K], Bt[N * K], C[M * N];
    uint64_t s = 23;
    for (int i = 0; i < M * K; ++i)
      A[i] = rng_f(&s) * 3.0f;
    for (int i = 0; i < N * K; ++i)
      Bt[i] = rng_f(&s);
    for (int i = 0; i < M * N; ++i)
      C[i] = -12345.0f; /* poisoned */
    qiao_hal_buffer_t *ba = buf_from(d, A, sizeof A), *bb = buf_from(d, Bt, sizeof Bt),
                      *bc = buf_from(d, C, sizeof C);
    uint64_t aa = addr_of_buf(ba), ab = addr_of_buf(bb), ac = addr_of_buf(bc);
    int32_t m = M, n = N, k = K;
    void *args[] = {&aa, &ab, &ac, &m, &n, &k};
    OK(simt_run(d, e, "wmma_tf32", N / 16, M / 16, 1, 32, 1, 1, 0, args, 6));
    OK(qiao_hal_buffer_read(bc, 0, C, sizeof C));
    int bad = 0;
    double maxerr = 0, maxerr_f32 = 0;
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        double r = 0, r32 = 0;
        for (int kk = 0; kk < K; ++kk) {
          r += (double)tf32_rna(A[i * K + kk]) * tf32_rna(Bt[j * K + kk]);
          r32 += (double)A[i * K + kk] * Bt[j * K + kk];
        }
        double err = fabs(r - C[i * N + j]);
        if (err > 1e-5 * fmax(1.0, fabs(r))) ++bad;
        if (err > maxerr) maxerr = err;
        if (fabs(r32 - C[i * N + j]) > maxerr_f32) maxerr_f32 = fabs(r32 - C[i * N + j]);
      }
    cr_expect_eq(bad, 0, "%s: %d of %d wrong (max error %g)", kCombos[ci].arch, bad, M * N, maxerr);
    /* the inputs really were rounded to tf32 (10 mantissa bits), not used as f32 */
    cr_expect_gt(maxerr_f32, 1e-4, "%s: tf32 rounding not visible", kCombos[ci].arch);
    qiao_hal_simt_stats_t st;
    OK(qiao_hal_simt_last_stats(d, &st));
    cr_expect_gt(st.tensor, 0);
    cr_expect_gt(st.flops_tf32, 0);
    qiao_hal_buffer_release(ba);
    qiao_hal_buffer_release(bb);
    qiao_hal_buffer_release(bc);
    qiao_hal_executable_release(e);
    qiao_hal_device_release(d);
  }
}

/* WMMA signed char (m16n16k16) GEMM with an s32 accumulator loaded from C0: exact. */
Test(simt_kernels, wmma_s8_gemm) {
  for (int ci = 0; ci < NCOMBO; ++ci) {
    qiao_hal_device_t *d = simt_open(kCombos[ci].uri);
    qiao_hal_executable_t *e = load(d, "wmma_s8", kCombos[ci].arch);
    enum { M = 32, N = 32, K = 80 };
    static int8_t A[M * K], Bt[N * K];
    static int32_t C0[M * N], C[M * N];
    uint64_t s = 29;
    for (int i = 0; i < M * K; ++i)
      A[i] = (int8_t)rng_u32(&s);
    for (int i = 0; i < N * K; ++i)
      Bt[i] = (int8_t)rng_u32(&s);
    for (int i = 0; i < M * N; ++i) {
      C0[i] = (int32_t)(rng_u32(&s) % 2000001) - 1000000;
      C[i] = 0x5a5a5a5a; /* poisoned */
    }
    qiao_hal_buffer_t *ba = buf_from(d, A, sizeof A), *bb = buf_from(d, Bt, sizeof Bt),
                      *bc0 = buf_from(d, C0, sizeof C0), *bc = buf_from(d, C, sizeof C);
    uint64_t aa = addr_of_buf(ba), ab = addr_of_buf(bb), ac0 = addr_of_buf(bc0),
             ac = addr_of_buf(bc);
    int32_t m = M, n = N, k = K;
    void *args[] = {&aa, &ab, &ac0, &ac, &m, &n, &k};
    OK(simt_run(d, e, "wmma_s8", N / 16, M / 16, 1, 32, 1, 1, 0, args, 7));
    OK(qiao_hal_buffer_read(bc, 0, C, sizeof C));
    int bad = 0;
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        int32_t r = C0[i * N + j];
        for (int kk = 0; kk < K; ++kk)
          r += (int32_t)A[i * K + kk] * Bt[j * K + kk];
        bad += r != C[i * N + j];
      }
    cr_expect_eq(bad, 0, "%s: %d of %d wrong", kCombos[ci].arch, bad, M * N);
    qiao_hal_simt_stats_t st;
    OK(qiao_hal_simt_last_stats(d, &st));
    cr_expect_gt(st.ops_i8, 0);
    qiao_hal_buffer_release(ba);
    qiao_hal_buffer_release(bb);
    qiao_hal_buffer_release(bc0);
    qiao_hal_buffer_release(bc);
    qiao_hal_executable_release(e);
    qiao_hal_device_release(d);
  }
}

Test(simt_kernels, histogram) {
  for (int ci = 0; ci < NCOMBO; ++ci) {
    qiao_hal_device_t *d = simt_open(kCombos[ci].uri);
    qiao_hal_executable_t *e = load(d, "histogram", kCombos[ci].arch);
    enum { N = 20000 };
    static uint8_t in[N];
    uint32_t ref[256] = {0}, bins[256];
    uint64_t s = 3;
    for (int i = 0; i < N; ++i)
      ref[in[i] = (uint8_t)(rng_u32(&s) % 97 * (i % 3 + 1))]++;
    qiao_hal_buffer_t *bi = buf_from(d, in, N), *bo = buf_from(d, NULL, sizeof bins);
    uint64_t ai = addr_of_buf(bi), ao = addr_of_buf(bo);
    int32_t n = N;
    void *args[] = {&ai, &n, &ao};
    OK(simt_run(d, e, "histogram", 8, 1, 1, 256, 1, 1, 0, args, 3));
    OK(qiao_hal_buffer_read(bo, 0, bins, sizeof bins));
    cr_expect_arr_eq(bins, ref, sizeof ref, "%s", kCombos[ci].arch);
    qiao_hal_buffer_release(bi);
    qiao_hal_buffer_release(bo);
    qiao_hal_executable_release(e);
    qiao_hal_device_release(d);
  }
}

Test(simt_kernels, softmax) {
  for (int ci = 0; ci < NCOMBO; ++ci) {
    qiao_hal_device_t *d = simt_open(kCombos[ci].uri);
    qiao_hal_executable_t *e = load(d, "softmax", kCombos[ci].arch);
    enum { ROWS = 37, COLS = 100 };
    static float x[ROWS * COLS], y[ROWS * COLS];
    uint64_t s = 5;
    for (int i = 0; i < ROWS * COLS; ++i)
      x[i] = 4 * rng_f(&s);
    qiao_hal_buffer_t *bx = buf_from(d, x, sizeof x), *by = buf_from(d, NULL, sizeof y);
    uint64_t ax = addr_of_buf(bx), ay = addr_of_buf(by);
    int32_t rows = ROWS, cols = COLS;
    void *args[] = {&ax, &ay, &rows, &cols};
    OK(simt_run(d, e, "softmax", (ROWS + 3) / 4, 1, 1, 128, 1, 1, 0, args, 4));
    OK(qiao_hal_buffer_read(by, 0, y, sizeof y));
    double maxerr = 0;
    for (int r = 0; r < ROWS; ++r) {
      double m = -INFINITY, sum = 0;
      for (int c = 0; c < COLS; ++c)
        m = fmax(m, x[r * COLS + c]);
      for (int c = 0; c < COLS; ++c)
        sum += exp(x[r * COLS + c] - m);
      for (int c = 0; c < COLS; ++c) {
        double err = fabs(exp(x[r * COLS + c] - m) / sum - y[r * COLS + c]);
        if (err > maxerr) maxerr = err;
      }
    }
    cr_expect(maxerr < 1e-5, "%s: max error %g", kCombos[ci].arch, maxerr);
    qiao_hal_buffer_release(bx);
    qiao_hal_buffer_release(by);
    qiao_hal_executable_release(e);
    qiao_hal_device_release(d);
  }
}

static int collatz(int v) {
  int steps = 0;
  while (v != 1 && steps < 1000) {
    v = (v & 1) ? 3 * v + 1 : v >> 1;
    ++steps;
  }
  return steps;
}

Test(simt_kernels, divergence) {
  for (int ci = 0; ci < NCOMBO; ++ci) {
    qiao_hal_device_t *d = simt_open(kCombos[ci].uri);
    qiao_hal_executable_t *e = load(d, "divergence", kCombos[ci].arch);
    enum { N = 300, B = 128, G = 3 };
    int in[N], v[G * B], out[N], ref_out[N];
    uint32_t ballots[G * B / 32], ref_b[G * B / 32];
    uint64_t s = 9;
    for (int i = 0; i < N; ++i)
      in[i] = (int)(rng_u32(&s) % 1000) + 1;
    for (int i = 0; i < G * B; ++i) {
      int x = i < N ? in[i] : 1;
      if (x % 3 == 0)
        x = collatz(x);
      else if (x % 3 == 1)
        x = -x;
      else
        for (int k = 0; k < (x & 7); ++k)
          x += k * k;
      v[i] = x;
    }
    memset(ref_out, 0x55, sizeof ref_out);
    for (int wv = 0; wv < G * B / 32; ++wv) {
      uint32_t b = 0;
      bool all = true;
      for (int l = 0; l < 32; ++l) {
        if (v[wv * 32 + l] > 0) b |= 1u << l;
        if (v[wv * 32 + l] == 0) all = false;
      }
      ref_b[wv] = b;
      for (int l = 0; l < 32; ++l) {
        int i = wv * 32 + l, t = i % B, blk = i / B;
        if (all && i < N) ref_out[i] = v[blk * B + ((t + 1) & 127)];
      }
    }
    memset(out, 0x55, sizeof out);
    qiao_hal_buffer_t *bi = buf_from(d, in, sizeof in), *bo = buf_from(d, out, sizeof out),
                      *bb = buf_from(d, NULL, sizeof ballots);
    uint64_t ai = addr_of_buf(bi), ao = addr_of_buf(bo), ab = addr_of_buf(bb);
    int32_t n = N;
    void *args[] = {&ai, &ao, &ab, &n};
    OK(simt_run(d, e, "divergence", G, 1, 1, B, 1, 1, 0, args, 4));
    OK(qiao_hal_buffer_read(bo, 0, out, sizeof out));
    OK(qiao_hal_buffer_read(bb, 0, ballots, sizeof ballots));
    cr_expect_arr_eq(out, ref_out, sizeof out, "%s", kCombos[ci].arch);
    cr_expect_arr_eq(ballots, ref_b, sizeof ballots, "%s", kCombos[ci].arch);
    qiao_hal_simt_stats_t st;
    OK(qiao_hal_simt_last_stats(d, &st));
    cr_expect_gt(st.divergent_branches, 0);
    cr_expect_gt(st.control, 0);
    qiao_hal_buffer_release(bi);
    qiao_hal_buffer_release(bo);
    qiao_hal_buffer_release(bb);
    qiao_hal_executable_release(e);
    qiao_hal_device_release(d);
  }
}

Test(simt_kernels, cp_async_pipeline) {
  for (int ci = 0; ci < NCOMBO; ++ci) {
    qiao_hal_device_t *d = simt_open(kCombos[ci].uri);
    qiao_hal_executable_t *e = load(d, "cp_async", kCombos[ci].arch);
    enum { TILES = 5, N = TILES * 128 * 4 };
    static float x[N], y[N];
    uint64_t s = 13;
    for (int i = 0; i < N; ++i)
      x[i] = rng_f(&s);
    qiao_hal_buffer_t *bx = buf_from(d, x, sizeof x), *by = buf_from(d, NULL, sizeof y);
    uint64_t ax = addr_of_buf(bx), ay = addr_of_buf(by);
    int32_t tiles = TILES;
    float sc = 1.5f;
    void *args[] = {&ax, &ay, &tiles, &sc};
    OK(simt_run(d, e, "cp_async_scale", 1, 1, 1, 128, 1, 1, 0, args, 4));
    OK(qiao_hal_buffer_read(by, 0, y, sizeof y));
    int bad = 0;
    for (int i = 0; i < N; ++i)
      if (y[i] != x[i] * 1.5f) ++bad;
    cr_expect_eq(bad, 0, "%s: %d wrong", kCombos[ci].arch, bad);
    qiao_hal_simt_stats_t st;
    OK(qiao_hal_simt_last_stats(d, &st));
    cr_expect_gt(st.async_copy, 0);
    qiao_hal_buffer_release(bx);
    qiao_hal_buffer_release(by);
    qiao_hal_executable_release(e);
    qiao_hal_device_release(d);
  }
}

/* LLVM NVPTX output: module .global (initialized) and .const variables. */
Test(simt_kernels, llvm_saxpy_globals_and_consts) {
  qiao_hal_device_t *d = simt_open("simt-emu:a100");
  qiao_hal_executable_t *e = simt_load_file(d, "llvm_saxpy.sm80.ptx");
  enum { N = 100, B = 64, G = 2 };
  float x[N], y[N], out = 0, ref_y[N];
  static const int table[4] = {1, 2, 3, -4};
  uint64_t s = 21;
  for (int i = 0; i < N; ++i) {
    x[i] = rng_f(&s);
    y[i] = rng_f(&s);
    ref_y[i] = 1.5f * x[i] * 2.0f + y[i] + (float)table[i & 3];
  }
  double ref_sum = 0;
  for (int g = 0; g < G; ++g)
    for (int k = 0; k < 32; k += 8) {
      int i = g * B + k;
      ref_sum += i < N ? ref_y[i] : 0;
    }
  qiao_hal_buffer_t *bx = buf_from(d, x, sizeof x), *by = buf_from(d, y, sizeof y),
                    *bs = buf_from(d, &out, 4);
  uint64_t ax = addr_of_buf(bx), ay = addr_of_buf(by), as = addr_of_buf(bs);
  float a = 1.5f;
  int32_t n = N;
  void *args[] = {&ax, &ay, &as, &a, &n};
  OK(simt_run(d, e, "saxpy_sum", G, 1, 1, B, 1, 1, 0, args, 5));
  OK(qiao_hal_buffer_read(by, 0, y, sizeof y));
  OK(qiao_hal_buffer_read(bs, 0, &out, 4));
  for (int i = 0; i < N; ++i)
    cr_expect_eq(y[i], ref_y[i], "y[%d] %f vs %f", i, y[i], ref_y[i]);
  cr_expect(fabs(out - ref_sum) < 1e-4, "sum %f vs %f", out, ref_sum);
  qiao_hal_simt_stats_t st;
  OK(qiao_hal_simt_last_stats(d, &st));
  cr_expect_gt(st.mem_const, 0);
  qiao_hal_buffer_release(bx);
  qiao_hal_buffer_release(by);
  qiao_hal_buffer_release(bs);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}

/* Every PTX file of the test corpus loads (decodes) on simt-emu. */
Test(simt_kernels, every_test_ptx_loads) {
  static const char *const files[] = {
      "cp_async.sm80.ptx",    "cp_async.sm90.ptx",    "divergence.sm80.ptx",
      "divergence.sm90.ptx",  "gemm_tiled.sm80.ptx",  "gemm_tiled.sm90.ptx",
      "histogram.sm80.ptx",   "histogram.sm90.ptx",   "llvm_saxpy.sm80.ptx",
      "mma_gemm.sm80.ptx",    "mma_gemm.sm90.ptx",    "softmax.lineinfo.sm80.ptx",
      "softmax.sm80.ptx",     "softmax.sm90.ptx",     "syntax.ptx",
      "warp_reduce.sm80.ptx", "warp_reduce.sm90.ptx", "wmma_tf32.sm80.ptx",
      "wmma_tf32.sm90.ptx",   "wmma_s8.sm80.ptx",     "wmma_s8.sm90.ptx"};
  qiao_hal_device_t *d = simt_open("simt-emu:h100");
  for (size_t i = 0; i < sizeof files / sizeof files[0]; ++i) {
    qiao_hal_executable_t *e = simt_load_file(d, files[i]);
    cr_expect_gt(qiao_hal_executable_entry_count(e), 0, "%s", files[i]);
    qiao_hal_executable_release(e);
  }
  qiao_hal_device_release(d);
}

/* With -lineinfo PTX, errors also name the CUDA source line. */
Test(simt_kernels, error_names_cuda_source_line) {
  qiao_hal_device_t *d = simt_open("simt-emu:h100");
  qiao_hal_executable_t *e = simt_load_file(d, "softmax.lineinfo.sm80.ptx");
  qiao_hal_buffer_t *bx = buf_from(d, NULL, 64 * 4), *by = buf_from(d, NULL, 64 * 4);
  uint64_t ax = addr_of_buf(bx), ay = addr_of_buf(by);
  int32_t rows = 4, cols = 64; /* x holds one row only */
  void *args[] = {&ax, &ay, &rows, &cols};
  const char *parts[] = {"kernel 'softmax'", "out-of-bounds global load of 4 bytes",
                         "PTX line",         "source ",
                         "softmax.cu:",      "thread (32,0,0)"};
  expect_error_parts(simt_run(d, e, "softmax", 1, 1, 1, 128, 1, 1, 0, args, 4), parts, 6);
  qiao_hal_buffer_release(bx);
  qiao_hal_buffer_release(by);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}

/* .maxntid (from __launch_bounds__(256)) is enforced like the driver does. */
Test(simt_kernels, launch_bounds_enforced) {
  qiao_hal_device_t *d = simt_open("simt-emu:h100");
  qiao_hal_executable_t *e = load(d, "gemm_tiled", "sm90");
  qiao_hal_buffer_t *b = buf_from(d, NULL, 1024);
  uint64_t a = addr_of_buf(b);
  int32_t m = 16;
  void *args[] = {&a, &a, &a, &m, &m, &m};
  const char *parts[] = {"kernel 'gemm_tiled'", "has 1024 threads", ".maxntid allows 256"};
  expect_error_parts(simt_run(d, e, "gemm_tiled", 1, 1, 1, 32, 32, 1, 0, args, 6), parts, 3);
  qiao_hal_buffer_release(b);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}

/* CTAs in parallel give bit-identical results to one worker (race-free kernel). */
Test(simt_kernels, parallel_ctas_deterministic) {
  enum { M = 64, N = 64, K = 48 };
  static float A[M * K], B[K * N], C1[M * N], C4[M * N];
  uint64_t s = 99;
  for (int i = 0; i < M * K; ++i)
    A[i] = rng_f(&s);
  for (int i = 0; i < K * N; ++i)
    B[i] = rng_f(&s);
  const char *uris[2] = {"simt-emu:h100,threads=1", "simt-emu:h100,threads=4"};
  float *outs[2] = {C1, C4};
  for (int u = 0; u < 2; ++u) {
    qiao_hal_device_t *d = simt_open(uris[u]);
    qiao_hal_executable_t *e = load(d, "gemm_tiled", "sm90");
    qiao_hal_buffer_t *ba = buf_from(d, A, sizeof A), *bb = buf_from(d, B, sizeof B),
                      *bc = buf_from(d, NULL, sizeof C1);
    qiao_hal_binding_t b[3] = {{ba, 0}, {bb, 0}, {bc, 0}};
    int64_t k[3] = {M, N, K};
    qiao_hal_launch_config_t cfg = {{N / 16, M / 16, 1}, {16, 16, 1}, 0};
    OK(qiao_hal_dispatch_launch(d, e, 0, &cfg, b, 3, k, 3));
    OK(qiao_hal_buffer_read(bc, 0, outs[u], sizeof C1));
    qiao_hal_buffer_release(ba);
    qiao_hal_buffer_release(bb);
    qiao_hal_buffer_release(bc);
    qiao_hal_executable_release(e);
    qiao_hal_device_release(d);
  }
  cr_expect_arr_eq(C1, C4, sizeof C1);
}

/* misc.cu: local arrays, integer intrinsics, f64, half2 (per thread). */
static uint32_t brev32(uint32_t x) {
  uint32_t r = 0;
  for (int i = 0; i < 32; ++i)
    if (x >> i & 1) r |= 1u << (31 - i);
  return r;
}

Test(simt_kernels, misc_thread) {
  for (int ci = 0; ci < NCOMBO; ++ci) {
    qiao_hal_device_t *d = simt_open(kCombos[ci].uri);
    qiao_hal_executable_t *e = load(d, "misc", kCombos[ci].arch);
    enum { N = 150 };
    int in[N], out[N * 8];
    double dout[N * 2];
    uint32_t hout[N];
    uint64_t s = 31;
    for (int i = 0; i < N; ++i)
      in[i] = (int)(rng_u32(&s) % 201) - 100;
    qiao_hal_buffer_t *bi = buf_from(d, in, sizeof in), *bo = buf_from(d, NULL, sizeof out),
                      *bd = buf_from(d, NULL, sizeof dout), *bh = buf_from(d, NULL, sizeof hout);
    uint64_t ai = addr_of_buf(bi), ao = addr_of_buf(bo), ad = addr_of_buf(bd), ah = addr_of_buf(bh);
    int32_t n = N;
    void *args[] = {&ai, &ao, &ad, &ah, &n};
    OK(simt_run(d, e, "misc_thread", 3, 1, 1, 64, 1, 1, 0, args, 5));
    OK(qiao_hal_buffer_read(bo, 0, out, sizeof out));
    OK(qiao_hal_buffer_read(bd, 0, dout, sizeof dout));
    OK(qiao_hal_buffer_read(bh, 0, hout, sizeof hout));
    for (int i = 0; i < N; ++i) {
      int v = in[i], loc[16];
      for (int k = 0; k < 16; ++k)
        loc[k] = v * k + (k ^ v);
      int idx = v & 15;
      uint32_t u = (uint32_t)v * 2654435761u;
      int ref[8];
      ref[0] = loc[idx] + loc[(idx * 7) & 15];
      ref[1] = __builtin_popcount(u) + (u ? __builtin_clz(u) : 32) * 100;
      ref[2] = (int)brev32(u);
      uint32_t uv = (uint32_t)v;
      ref[3] =
          (int)((u & 0xff) | (uv & 0xff) << 8 | ((u >> 8) & 0xff) << 16 | ((uv >> 8) & 0xff) << 24);
      ref[4] = __builtin_ffs(v) + (v ? 1000 / v : 0) + (v ? 1000 % v : 0);
      ref[5] = (int)(((int64_t)v * 0x7654321) >> 32) ^ (int)(((uint64_t)u * 0x89abcdefu) >> 32);
      ref[6] = (v < 50 ? v : 50) + (v > -50 ? v : -50) + abs(v - 40);
      ref[7] = (int)((long long)v * 123456789LL >> 20);
      for (int k = 0; k < 8; ++k)
        cr_expect_eq(out[i * 8 + k], ref[k], "%s: v=%d out[%d] = %d, want %d", kCombos[ci].arch, v,
                     k, out[i * 8 + k], ref[k]);
      double dd = (double)v / 7.0;
      double r0 = sqrt(fabs(dd)) + dd * dd - 1.0 / (dd + 0.5), r1 = fma(dd, 3.25, -dd / 3.0);
      cr_expect(fabs(dout[i * 2] - r0) <= 1e-12 * (1 + fabs(r0)), "d0 v=%d", v);
      cr_expect(fabs(dout[i * 2 + 1] - r1) <= 1e-12 * (1 + fabs(r1)), "d1 v=%d", v);
      double av[2] = {h2f(f2h((float)v / 8.0f)), 1.5}, bv[2] = {0.25, (double)(v % 5)};
      uint32_t want = 0;
      for (int h = 0; h < 2; ++h) {
        double sum = h2f(f2h(av[h] + bv[h]));
        double cc = h2f(f2h(av[h] * bv[h] + sum));
        want |= (uint32_t)f2h(cc * av[h]) << (16 * h);
      }
      cr_expect_eq(hout[i], want, "%s: half2 v=%d: 0x%08x, want 0x%08x", kCombos[ci].arch, v,
                   hout[i], want);
    }
    qiao_hal_simt_stats_t st;
    OK(qiao_hal_simt_last_stats(d, &st));
    cr_expect_gt(st.mem_local, 0);
    qiao_hal_buffer_release(bi);
    qiao_hal_buffer_release(bo);
    qiao_hal_buffer_release(bd);
    qiao_hal_buffer_release(bh);
    qiao_hal_executable_release(e);
    qiao_hal_device_release(d);
  }
}

/* misc.cu: __syncthreads_count/and/or, shfl widths, redux, match, a CAS loop,
 * atomics, dynamic shared memory (per block). */
Test(simt_kernels, misc_block) {
  for (int ci = 0; ci < NCOMBO; ++ci) {
    qiao_hal_device_t *d = simt_open(kCombos[ci].uri);
    qiao_hal_executable_t *e = load(d, "misc", kCombos[ci].arch);
    enum { B = 64, G = 3, N = B * G };
    int in[N], out[N * 8];
    uint64_t s = 77;
    for (int i = 0; i < N; ++i)
      in[i] = (int)(rng_u32(&s) % 201) - 100;
    float fm = -1e30f;
    uint32_t counters[4] = {0xffffffffu, 0, 0, 0};
    qiao_hal_buffer_t *bi = buf_from(d, in, sizeof in), *bo = buf_from(d, NULL, sizeof out),
                      *bf = buf_from(d, &fm, 4), *bc = buf_from(d, counters, sizeof counters);
    uint64_t ai = addr_of_buf(bi), ao = addr_of_buf(bo), af = addr_of_buf(bf), ac = addr_of_buf(bc);
    void *args[] = {&ai, &ao, &af, &ac};
    OK(simt_run(d, e, "misc_block", G, 1, 1, B, 1, 1, B * 4, args, 4));
    OK(qiao_hal_buffer_read(bo, 0, out, sizeof out));
    OK(qiao_hal_buffer_read(bf, 0, &fm, 4));
    OK(qiao_hal_buffer_read(bc, 0, counters, sizeof counters));
    int vmax = -1000, vmin = 1000;
    for (int i = 0; i < N; ++i) {
      if (in[i] > vmax) vmax = in[i];
      if (in[i] < vmin) vmin = in[i];
    }
    for (int g = 0; g < G; ++g) {
      int cnt = 0, all = 1, any = 0;
      for (int t = 0; t < B; ++t) {
        int v = in[g * B + t];
        cnt += v > 0;
        all = all && v > -100;
        any = any || v > 90;
      }
      for (int t = 0; t < B; ++t) {
        int i = g * B + t, lane = t % 32, wbase = g * B + (t / 32) * 32;
        int ref[8];
        ref[0] = cnt;
        ref[1] = all * 10 + any;
        ref[2] = in[g * B + (t + 5) % B];
        ref[3] = in[wbase + (lane & ~7) + 3];
        ref[4] = (lane % 16) + 2 < 16 ? in[i + 2] : in[i];
        uint32_t red = 0, mx = 0, m = 0;
        for (int k = 0; k < 32; ++k) {
          uint32_t x = (uint32_t)(in[wbase + k] & 255);
          red += x;
          if (x > mx) mx = x;
          if ((in[wbase + k] & 3) == (in[i] & 3)) m |= 1u << k;
        }
        ref[5] = (int)red;
        ref[6] = (int)mx;
        ref[7] = (int)m;
        for (int k = 0; k < 8; ++k)
          cr_expect_eq(out[i * 8 + k], ref[k], "%s: thread %d out[%d] = %d, want %d",
                       kCombos[ci].arch, i, k, out[i * 8 + k], ref[k]);
      }
    }
    cr_expect_eq(fm, (float)vmax * 0.5f);
    cr_expect_eq(counters[0], (uint32_t)(vmin + 1000));
    cr_expect_eq(counters[1], (uint32_t)(vmax + 1000));
    cr_expect_eq(counters[2], (uint32_t)(N % 17));
    cr_expect_eq(counters[3], (uint32_t)N);
    qiao_hal_buffer_release(bi);
    qiao_hal_buffer_release(bo);
    qiao_hal_buffer_release(bf);
    qiao_hal_buffer_release(bc);
    qiao_hal_executable_release(e);
    qiao_hal_device_release(d);
  }
}
