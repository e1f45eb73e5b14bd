/* qiao-run on foreign PTX (tools/qiao-run-ptx.c), run as a process: the
 * hand-written CUDA kernels of tests/data/ptx/ compiled by nvcc now (the
 * checked-in PTX with a visible "[SKIPPED] no nvcc" line where nvcc is absent),
 * with .npy inputs and outputs, against C references on simt-emu:h100 (sm_90)
 * and simt-emu:a100 (sm_80); and every user error: argument count, pointer vs
 * scalar, scalar width and kind, bad .npy files, unknown kernels. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/nvcc_ptx.h"

#define RUN QIAO_BINARY_DIR "/qiao-run"

typedef struct combo {
  const char *uri, *arch;
} combo_t;
static const combo_t kCombos[] = {{"simt-emu:h100", "sm90"}, {"simt-emu:a100", "sm80"}};

static char g_dir[64];
static void mk_tmpdir(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/qiao-ptxcli-XXXXXX");
  cr_assert_not_null(mkdtemp(g_dir));
}
static int count_files(void) {
  DIR *d = opendir(g_dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (e->d_name[0] != '.') ++n;
  if (d) closedir(d);
  return n;
}
static void rm_tmpdir(void) {
  DIR *d = opendir(g_dir);
  if (!d) return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
    remove(p);
  }
  closedir(d);
  rmdir(g_dir);
}

typedef struct {
  int rc;
  char out[1 << 17];
  char err[4096];
} result_t;

static result_t g_res;

static char *slurp(const char *path, size_t *out_len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  size_t got = fread(b, 1, (size_t)n, f);
  b[got] = 0;
  fclose(f);
  if (out_len) *out_len = got;
  return b;
}

/* Runs qiao-run with `args` (a shell fragment); stdout and stderr captured apart. */
static result_t *run(const char *fmt, ...) {
  char args[8192], full[16384], errpath[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(errpath, sizeof errpath, "%s/stderr.txt", g_dir);
  snprintf(full, sizeof full, "%s %s 2>%s", RUN, args, errpath);
  FILE *p = popen(full, "r");
  cr_assert_not_null(p);
  size_t n = fread(g_res.out, 1, sizeof g_res.out - 1, p);
  g_res.out[n] = 0;
  int st = pclose(p);
  g_res.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  char *e = slurp(errpath, NULL);
  snprintf(g_res.err, sizeof g_res.err, "%s", e ? e : "");
  free(e);
  remove(errpath);
  return &g_res;
}

/* The PTX of <kernel>.cu for arch into g_dir (nvcc now, or the checked-in file). */
static const char *ptx(const char *kernel, const char *arch) {
  static char path[4096];
  char who[128];
  snprintf(who, sizeof who, "ptx_cli %s", kernel);
  cr_assert(nvcc_ptx_file(kernel, arch, g_dir, who, path, sizeof path), "nvcc failed: %s", path);
  return path;
}

/* ------------------------------------------------------------------ .npy by hand */

/* Returns the header's size (where the data starts). */
static size_t npy_save(const char *path, const char *descr, const uint64_t *dims, int nd,
                       const void *data, size_t bytes) {
  char h[256];
  int n = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
  for (int i = 0; i < nd; ++i)
    n += snprintf(h + n, sizeof h - (size_t)n, "%" PRIu64 ",%s", dims[i], i + 1 < nd ? " " : "");
  n += snprintf(h + n, sizeof h - (size_t)n, "), }");
  while ((10 + n + 1) % 64)
    h[n++] = ' ';
  h[n++] = '\n';
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)n, (uint8_t)(n >> 8)};
  fwrite(pre, 1, 10, f);
  fwrite(h, 1, (size_t)n, f);
  fwrite(data, 1, bytes, f);
  fclose(f);
  return 10 + (size_t)n;
}

/* Loads a .npy written by the tool: checks descr and shape text, returns the data. */
static void *npy_load(const char *path, const char *descr, const char *shape, size_t bytes) {
  size_t len;
  char *b = slurp(path, &len);
  cr_assert_not_null(b, "%s not written", path);
  cr_assert(len > 10 && !memcmp(b, "\x93NUMPY\x01\x00", 8), "%s: bad magic", path);
  size_t hlen = (uint8_t)b[8] | (size_t)(uint8_t)b[9] << 8;
  cr_assert_eq((10 + hlen) % 64, 0, "%s: header not padded to 64 bytes", path);
  cr_assert_eq(b[10 + hlen - 1], '\n');
  char want[128];
  snprintf(want, sizeof want, "'descr': '%s'", descr);
  cr_assert(strstr(b + 10, want), "%s: header lacks %s", path, want);
  snprintf(want, sizeof want, "'shape': %s", shape);
  cr_assert(strstr(b + 10, want), "%s: header lacks %s", path, want);
  cr_assert_eq(len, 10 + hlen + bytes, "%s: %zu bytes, expected %zu", path, len, 10 + hlen + bytes);
  void *d = malloc(bytes);
  memcpy(d, b + 10 + hlen, bytes);
  free(b);
  return d;
}

static uint64_t g_rng = 1;
static float rnd(void) {
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((g_rng >> 33) % 20001) / 10000.0f - 1.0f;
}

TestSuite(ptx_cli, .init = mk_tmpdir, .fini = rm_tmpdir);

/* ------------------------------------------------------------------ kernels */

Test(ptx_cli, warp_reduce_npy) {
  for (int ci = 0; ci < 2; ++ci) {
    enum { N = 3000 };
    static float x[N];
    double ref = 0;
    for (int i = 0; i < N; ++i)
      ref += x[i] = rnd();
    char in[256], out[256];
    snprintf(in, sizeof in, "%s/x.npy", g_dir);
    snprintf(out, sizeof out, "%s/sum.npy", g_dir);
    uint64_t dims[1] = {N};
    npy_save(in, "<f4", dims, 1, x, sizeof x);
    result_t *r =
        run("'%s' --kernel warp_reduce --grid %d --block 256 --arg '%s' --arg "
            "'f32[1]=zeros' --arg i32=%d --out 1='%s' --device %s",
            ptx("warp_reduce", kCombos[ci].arch), (N + 255) / 256, in, N, out, kCombos[ci].uri);
    cr_assert_eq(r->rc, 0, "%s: rc %d: %s", kCombos[ci].uri, r->rc, r->err);
    cr_expect(strstr(r->out, "kernel 'warp_reduce' on simt-emu"), "%s", r->out);
    cr_expect(strstr(r->out, "thread-instructions"), "%s", r->out);
    cr_expect(strstr(r->out, "arg 0: f32[3000] checksum="), "%s", r->out);
    float *s = npy_load(out, "<f4", "(1,)", 4);
    cr_expect(fabs(s[0] - ref) < 1e-3, "%s: %f vs %f", kCombos[ci].uri, s[0], ref);
    free(s);
    remove(out);
    remove(in);
  }
  cr_expect_eq(count_files(), 2 + 0, "only the two PTX files remain (no temporaries)");
}

Test(ptx_cli, histogram_npy) {
  for (int ci = 0; ci < 2; ++ci) {
    enum { N = 10007 };
    static uint8_t x[N];
    uint32_t ref[256] = {0};
    for (int i = 0; i < N; ++i) {
      g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
      x[i] = (uint8_t)(g_rng >> 56);
      ++ref[x[i]];
    }
    char in[256], out[256];
    snprintf(in, sizeof in, "%s/bytes.npy", g_dir);
    snprintf(out, sizeof out, "%s/bins.npy", g_dir);
    uint64_t dims[1] = {N};
    npy_save(in, "|u1", dims, 1, x, sizeof x);
    result_t *r = run("'%s' --grid 8 --block 256 --arg 'u8[%d]=%s' --arg i32=%d --arg "
                      "'u32[256]=zeros' --out 2='%s' --device %s",
                      ptx("histogram", kCombos[ci].arch), N, in, N, out, kCombos[ci].uri);
    cr_assert_eq(r->rc, 0, "rc %d: %s", r->rc, r->err);
    uint32_t *bins = npy_load(out, "<u4", "(256,)", sizeof ref);
    cr_expect_eq(memcmp(bins, ref, sizeof ref), 0, "%s: histogram differs", kCombos[ci].uri);
    free(bins);
  }
}

Test(ptx_cli, gemm_tiled_npy_2d) {
  for (int ci = 0; ci < 2; ++ci) {
    enum { M = 37, N = 45, K = 29 };
    static float A[M * K], B[K * N];
    for (int i = 0; i < M * K; ++i)
      A[i] = rnd();
    for (int i = 0; i < K * N; ++i)
      B[i] = rnd();
    char pa[256], pb[256], pc[256];
    snprintf(pa, sizeof pa, "%s/a.npy", g_dir);
    snprintf(pb, sizeof pb, "%s/b.npy", g_dir);
    snprintf(pc, sizeof pc, "%s/c.npy", g_dir);
    uint64_t da[2] = {M, K}, db[2] = {K, N};
    npy_save(pa, "<f4", da, 2, A, sizeof A);
    npy_save(pb, "<f4", db, 2, B, sizeof B);
    result_t *r = run("'%s' --kernel gemm_tiled --grid %d,%d --block 16,16 --arg '%s' --arg '%s' "
                      "--arg 'f32[%d,%d]=random' --arg i32=%d --arg i32=%d --arg i32=%d "
                      "--out 2='%s' --device %s",
                      ptx("gemm_tiled", kCombos[ci].arch), (N + 15) / 16, (M + 15) / 16, pa, pb, M,
                      N, M, N, K, pc, kCombos[ci].uri);
    cr_assert_eq(r->rc, 0, "rc %d: %s", r->rc, r->err);
    cr_expect(strstr(r->out, "arg 2: f32[37, 45] checksum="), "%s", r->out);
    float *C = npy_load(pc, "<f4", "(37, 45)", sizeof(float) * M * N);
    double maxerr = 0;
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        double ref = 0;
        for (int k = 0; k < K; ++k)
          ref += (double)A[i * K + k] * B[k * N + j];
        maxerr = fmax(maxerr, fabs(ref - C[i * N + j]));
      }
    cr_expect(maxerr < 1e-4, "%s: max error %g", kCombos[ci].uri, maxerr);
    free(C);
  }
}

/* Random fills with --print: the printed input sums to the kernel's result. */
Test(ptx_cli, random_fill_print_seed) {
  const char *p = ptx("warp_reduce", "sm90");
  result_t *r = run("'%s' --grid 2 --block 256 --arg 'f32[300]=random' --arg 'f32[1]=zeros' "
                    "--arg i32=300 --print --seed 7",
                    p);
  cr_assert_eq(r->rc, 0, "%s", r->err);
  char *l = strstr(r->out, "arg 0: f32[300] checksum=");
  cr_assert_not_null(l);
  l = strchr(l, '\n') + 1;
  double sum = 0;
  int n = 0;
  char *end;
  for (;;) {
    double v = strtod(l, &end);
    if (end == l) break;
    cr_expect(v >= -1 && v < 1, "random value %f outside [-1, 1)", v);
    sum += v;
    ++n;
    l = end;
  }
  cr_expect_eq(n, 300);
  char *s = strstr(r->out, "arg 1: f32[1] checksum=");
  cr_assert_not_null(s);
  s = strchr(s, '\n') + 1;
  cr_expect(fabs(strtod(s, NULL) - sum) < 1e-3, "%f vs %f", strtod(s, NULL), sum);
  char first[sizeof g_res.out];
  snprintf(first, sizeof first, "%s", r->out);
  r = run("'%s' --grid 2 --block 256 --arg 'f32[300]=random' --arg 'f32[1]=zeros' --arg i32=300 "
          "--print --seed 7",
          p);
  cr_expect_str_eq(r->out + strcspn(r->out, "\n"), first + strcspn(first, "\n"),
                   "same seed, same values");
  r = run("'%s' --grid 1 --block 32 --arg 'f32[32]=random:5:6' --arg 'f32[1]=zeros' --arg i32=32 "
          "--print",
          p);
  cr_assert_eq(r->rc, 0, "%s", r->err);
  s = strstr(r->out, "arg 1: f32[1] checksum=");
  cr_assert_not_null(s);
  double t = strtod(strchr(s, '\n') + 1, NULL);
  cr_expect(t >= 160 && t < 192, "32 values in [5, 6) sum to %f", t);
}

/* ------------------------------------------------------------------ errors */

static void expect_err(const result_t *r, const char *const *parts, int n) {
  cr_expect_eq(r->rc, 1, "rc %d (stderr: %s)", r->rc, r->err);
  cr_expect(strncmp(r->err, "qiao-run: ", 10) == 0, "stderr: %s", r->err);
  cr_expect(strchr(r->err, '\n') == r->err + strlen(r->err) - 1, "one line: %s", r->err);
  for (int i = 0; i < n; ++i)
    cr_expect(strstr(r->err, parts[i]), "stderr '%s' lacks '%s'", r->err, parts[i]);
}
#define EXPECT_ERR(r, ...)                                                                         \
  do {                                                                                             \
    const char *parts_[] = {__VA_ARGS__};                                                          \
    expect_err((r), parts_, (int)(sizeof parts_ / sizeof *parts_));                                \
  } while (0)

Test(ptx_cli, errors_argument_list) {
  const char *g = ptx("gemm_tiled", "sm90");
  char gp[4096];
  snprintf(gp, sizeof gp, "%s", g);
  /* count */
  EXPECT_ERR(run("'%s' --grid 1 --block 16,16 --arg 'f32[4]=zeros' --arg i32=3", gp),
             "kernel 'gemm_tiled' takes 6 parameters", ".u64 gemm_tiled_param_0",
             ".u32 gemm_tiled_param_5", "but 2 --arg were given");
  /* scalar where a pointer is */
  EXPECT_ERR(run("'%s' --grid 1 --block 16,16 --arg f32=1 --arg 'f32[4]=zeros' --arg "
                 "'f32[4]=zeros' --arg i32=1 --arg i32=1 --arg i32=1",
                 gp),
             "--arg 0 'f32=1'", "parameter 0 '.u64 gemm_tiled_param_0' is 8 bytes",
             "a pointer or a 64-bit integer");
  /* buffer where a scalar is */
  EXPECT_ERR(run("'%s' --grid 1 --block 16,16 --arg 'f32[4]=zeros' --arg 'f32[4]=zeros' --arg "
                 "'f32[4]=zeros' --arg 'i32[1]=zeros' --arg i32=1 --arg i32=1",
                 gp),
             "--arg 3 'i32[1]=zeros' is a buffer (a pointer)",
             "parameter 3 '.u32 gemm_tiled_param_3' is a 4-byte scalar");
  /* scalar width */
  EXPECT_ERR(run("'%s' --grid 1 --block 16,16 --arg 'f32[4]=zeros' --arg 'f32[4]=zeros' --arg "
                 "'f32[4]=zeros' --arg i64=1 --arg i32=1 --arg i32=1",
                 gp),
             "--arg 3 'i64=1' is a scalar of 8 bytes (i64)",
             "parameter 3 '.u32 gemm_tiled_param_3' is 4 bytes");
  /* scalar kind */
  EXPECT_ERR(run("'%s' --grid 1 --block 16,16 --arg 'f32[4]=zeros' --arg 'f32[4]=zeros' --arg "
                 "'f32[4]=zeros' --arg i32=1 --arg i32=1 --arg f32=2.5",
                 gp),
             "--arg 5 'f32=2.5' is a float scalar", "is an integer");
  /* scalar range, dtype, spec syntax, --out on a scalar */
  EXPECT_ERR(run("'%s' --grid 1 --block 1 --arg u8=300", gp), "'300' is not a u8 (range 0..255)");
  EXPECT_ERR(run("'%s' --grid 1 --block 1 --arg f33[4]=zeros", gp), "unknown dtype 'f33'");
  EXPECT_ERR(run("'%s' --grid 1 --block 1 --arg 'f32[4,0]=zeros'", gp),
             "dimension '0' is not a positive integer");
  EXPECT_ERR(run("'%s' --grid 1 --block 1 --arg 'f32[4]=ones'", gp),
             "expected =random, =random:LO:HI, =zeros or =FILE.npy");
  EXPECT_ERR(run("'%s' --grid 1 --block 1 --arg i32=1 --out 0=x.npy", gp),
             "--out '0=x.npy': --arg 0 'i32=1' is a scalar, not a buffer");
  EXPECT_ERR(run("'%s' --block 1 --arg i32=1", gp), "--grid X[,Y,Z] is required");
  EXPECT_ERR(run("'%s' --grid 1 --block 2000", gp), "--block: '2000' is not X[,Y,Z]");
  cr_expect_eq(count_files(), 1, "nothing written but the PTX");
}

Test(ptx_cli, errors_kernel_name) {
  char mp[4096];
  snprintf(mp, sizeof mp, "%s", ptx("mma_gemm", "sm90"));
  EXPECT_ERR(run("'%s' --kernel gemm --grid 1 --block 32", mp), "no kernel (.entry) named 'gemm'",
             "(entries: mma_gemm, mma_m16n8k16)");
  EXPECT_ERR(run("'%s' --grid 1 --block 32", mp), "--kernel NAME is required",
             "the file has 2 entries (mma_gemm, mma_m16n8k16)");
  EXPECT_ERR(run("'%s/missing.ptx' --grid 1 --block 32", g_dir), "missing.ptx: cannot open");
  EXPECT_ERR(run("'%s' --grid 1 --block 1 --kernel mma_m16n8k16 --arg 'f16[256]=zeros' --arg "
                 "'f16[256]=zeros' --arg 'f32[128]=zeros' --device cpu",
                 mp),
             "device 'cpu': a .ptx file runs on simt-emu:<profile>");
}

/* Writes raw bytes to g_dir/name. */
static const char *raw_file(const char *name, const void *data, size_t n) {
  static char path[256];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  fwrite(data, 1, n, f);
  fclose(f);
  return path;
}

/* A .npy of format `major` with header dict text `dict` and no data. */
static const char *raw_npy(const char *name, int major, const char *dict) {
  uint8_t b[512];
  size_t n = strlen(dict), pre = major == 1 ? 10 : 12;
  memcpy(b, "\x93NUMPY", 6);
  b[6] = (uint8_t)major;
  b[7] = 0;
  b[8] = (uint8_t)n;
  b[9] = b[10] = b[11] = 0;
  memcpy(b + pre, dict, n);
  return raw_file(name, b, pre + n);
}

Test(ptx_cli, errors_bad_npy) {
  char wp[4096];
  snprintf(wp, sizeof wp, "%s", ptx("warp_reduce", "sm90"));
  const char *tail = "--arg 'f32[1]=zeros' --arg i32=4 --grid 1 --block 32";
  /* not a .npy */
  const char *p = raw_file("text.npy", "hello, world", 12);
  EXPECT_ERR(run("'%s' --arg '%s' %s", wp, p, tail), "text.npy: byte 0: expected the .npy magic");
  /* truncated data: 4 floats declared, 2 present */
  float four[4] = {1, 2, 3, 4};
  char path[256], want[160];
  snprintf(path, sizeof path, "%s/short.npy", g_dir);
  uint64_t d4[1] = {4};
  size_t at = npy_save(path, "<f4", d4, 1, four, 8);
  snprintf(want, sizeof want, "short.npy: byte %zu: ", at + 8);
  EXPECT_ERR(run("'%s' --arg '%s' %s", wp, path, tail), want,
             "expected 16 data bytes (4 x <f4), the file has 8");
  /* trailing bytes */
  snprintf(path, sizeof path, "%s/long.npy", g_dir);
  float five[5] = {1, 2, 3, 4, 5};
  at = npy_save(path, "<f4", d4, 1, five, sizeof five);
  snprintf(want, sizeof want, "long.npy: byte %zu: ", at + 16);
  EXPECT_ERR(run("'%s' --arg '%s' %s", wp, path, tail), want,
             "expected the end of the file after 16 data bytes");
  /* big-endian, unknown dtype (npy_save's dict starts "{'descr': '": the value is at byte
   * 10 + 10), Fortran order, bad header syntax, version */
  snprintf(path, sizeof path, "%s/be.npy", g_dir);
  npy_save(path, ">f4", d4, 1, four, sizeof four);
  EXPECT_ERR(run("'%s' --arg '%s' %s", wp, path, tail),
             "be.npy: byte 20: ", "expected a little-endian dtype", "'>f4'");
  snprintf(path, sizeof path, "%s/c8.npy", g_dir);
  npy_save(path, "<c8", d4, 1, four, sizeof four);
  EXPECT_ERR(run("'%s' --arg '%s' %s", wp, path, tail),
             "c8.npy: byte 20: ", "expected a dtype among f2 f4 f8", "got '<c8'");
  const char *fdict = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }";
  p = raw_npy("fortran.npy", 1, fdict);
  snprintf(want, sizeof want,
           "fortran.npy: byte %zu: ", 10 + (size_t)(strstr(fdict, "True") - fdict));
  EXPECT_ERR(run("'%s' --arg '%s' %s", wp, p, tail), want,
             "expected fortran_order False (C order)");
  const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': [4], }";
  p = raw_npy("syntax.npy", 1, dict);
  snprintf(want, sizeof want, "syntax.npy: byte %zu: ", 10 + (size_t)(strchr(dict, '[') - dict));
  EXPECT_ERR(run("'%s' --arg '%s' %s", wp, p, tail), want, "expected '(' opening the shape tuple");
  dict = "{'descr': '<f4', 'fortran_order': False 'shape': (4,), }";
  p = raw_npy("comma.npy", 2, dict);
  snprintf(want, sizeof want,
           "comma.npy: byte %zu: ", 12 + (size_t)(strstr(dict, "'shape'") - dict));
  EXPECT_ERR(run("'%s' --arg '%s' %s", wp, p, tail), want,
             "expected ',' or '}' after a header value");
  p = raw_npy("version.npy", 7, "{}");
  EXPECT_ERR(run("'%s' --arg '%s' %s", wp, p, tail),
             "version.npy: byte 6: ", "expected format version 1, 2 or 3 (got 7.0)");
  /* dtype/shape given on the command line differ from the file */
  snprintf(path, sizeof path, "%s/ok.npy", g_dir);
  npy_save(path, "<f4", d4, 1, four, sizeof four);
  EXPECT_ERR(run("'%s' --arg 'f32[5]=%s' %s", wp, path, tail),
             "--arg 0 'f32[5]=", "holds f32 with 1 dimension(s) (first 4), expected f32 as given");
  EXPECT_ERR(run("'%s' --arg '%s/none.npy' %s", wp, g_dir, tail), "none.npy: cannot open");
  /* the good file runs; a failed --out target leaves no file and no temporary */
  result_t *r = run("'%s' --arg '%s' --arg 'f32[1]=zeros' --arg i32=4 --grid 1 --block 32 --out "
                    "1='%s/nodir/o.npy'",
                    wp, path, g_dir);
  cr_expect_eq(r->rc, 1, "%s", r->err);
  cr_expect(strstr(r->err, "nodir/o.npy: cannot create a temporary file"), "%s", r->err);
  r = run("'%s' --arg '%s' --arg 'f32[1]=zeros' --arg i32=4 --grid 1 --block 32 --out 1='%s'", wp,
          path, path);
  cr_expect_eq(r->rc, 0, "%s", r->err);
  float *s = npy_load(path, "<f4", "(1,)", 4); /* the input replaced by the output, atomically */
  cr_expect_eq(s[0], 10.0f);
  free(s);
}

/* bf16 has no numpy dtype: by convention its buffers travel as '<u2' bits. */
Test(ptx_cli, bf16_as_u2_bits_and_launch_error) {
  char mp[4096];
  snprintf(mp, sizeof mp, "%s", ptx("warp_reduce", "sm90"));
  char in[256], out[256];
  snprintf(in, sizeof in, "%s/bits.npy", g_dir);
  snprintf(out, sizeof out, "%s/out.npy", g_dir);
  uint16_t bits[4] = {0x3f80, 0x4000, 0xbf80, 0x4040}; /* 1, 2, -1, 3 */
  uint64_t d4[1] = {4};
  npy_save(in, "<u2", d4, 1, bits, sizeof bits);
  /* the kernel reads f32: only the buffer's bytes matter to it; the file round-trips */
  result_t *r = run("'%s' --arg 'bf16[4]=%s' --arg 'f32[1]=zeros' --arg i32=0 --grid 1 --block 32 "
                    "--out 0='%s' --print",
                    mp, in, out);
  cr_assert_eq(r->rc, 0, "%s", r->err);
  cr_expect(strstr(r->out, "arg 0: bf16[4] checksum=5\n1 2 -1 3\n"), "%s", r->out);
  uint16_t *b = npy_load(out, "<u2", "(4,)", sizeof bits);
  cr_expect_eq(memcmp(b, bits, sizeof bits), 0);
  free(b);
  /* a kernel fault is exit code 2 with simt-emu's message */
  r = run("'%s' --arg 'f32[4]=zeros' --arg 'f32[1]=zeros' --arg i32=1000 --grid 1 --block 256", mp);
  cr_expect_eq(r->rc, 2, "%s", r->err);
  cr_expect(strstr(r->err, "qiao-run: launch failed: simt-emu: kernel 'warp_reduce'"), "%s",
            r->err);
  cr_expect(strstr(r->err, "out-of-bounds global load"), "%s", r->err);
}

/* Without nvcc the helper falls back to the checked-in PTX and says so. */
Test(ptx_cli, no_nvcc_fallback_is_visible) {
  setenv("QIAO_NO_NVCC", "1", 1);
  char path[4096];
  cr_assert(nvcc_ptx_file("softmax", "sm80", g_dir,
                          "ptx_cli fallback (QIAO_NO_NVCC=1 set by this test)", path, sizeof path));
  cr_expect_str_eq(path, QIAO_SOURCE_DIR "/tests/data/ptx/softmax.sm80.ptx");
  unsetenv("QIAO_NO_NVCC");
}

/* The same command line on cuda:N: here through the fake driver over simt-emu
 * (tests/hal/fake_libcuda.c), so the cuda device's raw-parameter launch runs. */
Test(ptx_cli, cuda_device_through_fake_driver) {
  enum { N = 1000 };
  static float x[N];
  double ref = 0;
  for (int i = 0; i < N; ++i)
    ref += x[i] = rnd();
  char in[256], out[256];
  snprintf(in, sizeof in, "%s/x.npy", g_dir);
  snprintf(out, sizeof out, "%s/sum.npy", g_dir);
  uint64_t dims[1] = {N};
  npy_save(in, "<f4", dims, 1, x, sizeof x);
  result_t *r = run("'%s' --grid 4 --block 256 --arg '%s' --arg 'f32[1]=zeros' --arg i32=%d "
                    "--out 1='%s' --device 'cuda:0,driver=" QIAO_FAKE_LIBCUDA "'",
                    ptx("warp_reduce", "sm80"), in, N, out);
  cr_assert_eq(r->rc, 0, "rc %d: %s", r->rc, r->err);
  cr_expect(strstr(r->out, "ms between CUDA events (measured)"), "%s", r->out);
  float *s = npy_load(out, "<f4", "(1,)", 4);
  cr_expect(fabs(s[0] - ref) < 1e-3, "%f vs %f", s[0], ref);
  free(s);
}
