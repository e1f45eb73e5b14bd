/* qiao-bench ascend-calib — ascend-sim's cycle model against published
 * measurements of real Ascend boards, and the simulator's own speed.
 *
 *   qiao-bench ascend-calib [--all] [--whole] [--filter ID] [--set calibration|validation]
 *
 * Each case is a kernel the Ascend backend lowers today, at the shape, dtypes
 * and layout of a published measurement (docs/ascend-model.md, "Calibration
 * data", has the full citation of each). The kernel is compiled through the
 * runtime for its ascend-sim device, run once on deterministic pseudo-random
 * inputs, and the simulated kernel time (the per-kernel report, launch overhead
 * included) is printed next to the published time with the error
 *
 *   error = (predicted - published) / published.
 *
 * The calibration set (C*) is what the [estimate] parameters of the model were
 * set from; the validation set (V*) was kept out of that. The last columns are
 * the simulator's speed on this host: its wall time, and wall milliseconds per
 * simulated microsecond. Cases marked slow (large matmuls: the simulator runs
 * every Mmad functionally, in f64 on one host thread) are skipped unless --all.
 * Figures are "simulated (model of <profile>)", never measurements. */
#include "qiao-bench-ascend.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "qiao/hal.h"
#include "qiao/ir.h"
#include "qiao/runtime.h"

/* Graph texts. The pto-isa GEMMs store B as [n, k] (ABt): transpose_b. */
#define MM_ABT(M, K, N, OUT)                                                                       \
  "graph @t(%a: f16[" #M ", " #K "], %b: f16[" #N ", " #K "]) -> (" #OUT "[" #M ", " #N "]) {\n"   \
  "%y = matmul %a, %b {transpose_b = true}\nreturn %y\n}\n"
#define MM_AB(M, K, N, OUT)                                                                        \
  "graph @t(%a: f16[" #M ", " #K "], %b: f16[" #K ", " #N "]) -> (" #OUT "[" #M ", " #N "]) {\n"   \
  "%y = matmul %a, %b\nreturn %y\n}\n"
#define FLOPS(M, K, N) (2.0 * (M) * (K) * (N))

/* docs/ascend-model.md "Calibration data" P1..P3: the sources. "A3 (24 cores)"
 * is one 910C die (Ascend910_9391: 24 AIC at 1.85 GHz): ascend-sim:910c with 24
 * of its 48 AI cores. The backend's matmul writes f16 here where P1 wrote f32
 * (a cast epilogue is a separate kernel on Ascend: not fused yet).
 *
 * Shares (see qiao_calib_case_t): 128 x 256 output tiles; K <= 1664 (f16) keeps
 * the A row block resident in L1 and gives each core a contiguous run of tiles,
 * a larger K deals tiles round-robin (core b: tiles b, b + 24, ...).
 *   C1 1536^3: 12 x 6 tiles, 3 per core, contiguous: one row block x 3 tiles
 *   C2 3072^3: 24 x 12 tiles, 12 per core, round-robin: column b % 12, 12 rows
 *   V1, V3 6144^3: 48 x 24 tiles, 48 per core: column b % 24, 48 rows
 *   V2 7680^3: 60 x 30 tiles, 75 per core (all whole tiles, any order)
 *   V4 5416 x 6144 x 1408: 43 x 6 tiles (partial last row and column); cores
 *      0..4 take 11 whole tiles (column b % 6, rows b / 6 + 4 i): the slowest */
#define A3 "ascend-sim:910c:cores=24"
#define A3_ONE "ascend-sim:910c:cores=1"
#define B2 "ascend-sim:910b"
#define B2_ONE "ascend-sim:910b:cores=1"
#define MMB(M, K, N) (2.0 * ((M) * (double)(K) + (K) * (double)(N) + (M) * (double)(N)))
static const qiao_calib_case_t kCases[] = {
    {"C1", QIAO_CALIB_SET_CALIBRATION, A3, MM_ABT(1536, 1536, 1536, f16), FLOPS(1536, 1536, 1536),
     "TFLOPS", 38.8, "P1 pto-isa gemm_performance, A3 24 cores", 0.545, A3_ONE,
     MM_ABT(128, 1536, 768, f16), MMB(1536, 1536, 1536), 1.6e12, false},
    {"C2", QIAO_CALIB_SET_CALIBRATION, A3, MM_ABT(3072, 3072, 3072, f16), FLOPS(3072, 3072, 3072),
     "TFLOPS", 206.7, "P1 pto-isa gemm_performance, A3 24 cores", 0.790, A3_ONE,
     MM_ABT(1536, 3072, 256, f16), MMB(3072, 3072, 3072), 1.6e12, false},
    {"V1", QIAO_CALIB_SET_VALIDATION, A3, MM_ABT(6144, 6144, 6144, f16), FLOPS(6144, 6144, 6144),
     "TFLOPS", 1506.0, "P1 pto-isa gemm_performance, A3 24 cores", 0.867, A3_ONE,
     MM_ABT(6144, 6144, 256, f16), MMB(6144, 6144, 6144), 1.6e12, true},
    {"V2", QIAO_CALIB_SET_VALIDATION, A3, MM_ABT(7680, 7680, 7680, f16), FLOPS(7680, 7680, 7680),
     "TFLOPS", 3168.0, "P1 pto-isa gemm_performance, A3 24 cores", 0.806, A3_ONE,
     MM_ABT(9600, 7680, 256, f16), MMB(7680, 7680, 7680), 1.6e12, true},
    {"V3", QIAO_CALIB_SET_VALIDATION, B2, MM_ABT(6144, 6144, 6144, f16), FLOPS(6144, 6144, 6144),
     "TFLOPS", FLOPS(6144, 6144, 6144) / 309e12 * 1e6,
     "P2 pto-isa N-swizzle GEMM, 910B2, ~309 TFLOPS", 0, B2_ONE, MM_ABT(6144, 6144, 256, f16),
     MMB(6144, 6144, 6144), 1.6e12, true},
    {"V4", QIAO_CALIB_SET_VALIDATION, B2, MM_AB(5416, 6144, 1408, f16), FLOPS(5416, 6144, 1408),
     "TFLOPS", 368.1, "P3 pto-isa gemm_ar compute-only, 910B", 0, B2_ONE,
     MM_AB(1408, 6144, 256, f16), MMB(5416, 6144, 1408), 1.6e12, true},
    /* a large f16 add: 3 x 64 MiB through HBM; the published figure is a
     * guideline ("practical GM roofline ~1.5 TB/s"), not a kernel measurement */
    {"V5", QIAO_CALIB_SET_VALIDATION, B2,
     "graph @t(%a: f16[4096, 8192], %b: f16[4096, 8192]) -> (f16[4096, 8192]) {\n"
     "%y = add %a, %b\nreturn %y\n}\n",
     3.0 * 4096 * 8192 * 2, "GB/s", 3.0 * 4096 * 8192 * 2 / 1.5e12 * 1e6,
     "P5 pto-kernels guide: practical GM roofline ~1.5 TB/s (910B)", 0, NULL, NULL, 0, 0, false},
};

const qiao_calib_case_t *qiao_calib_cases(size_t *out_n) {
  *out_n = sizeof kCases / sizeof kCases[0];
  return kCases;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_now_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
         (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

qiao_status_t qiao_calib_run(const qiao_calib_case_t *c, qiao_calib_result_t *out) {
  memset(out, 0, sizeof *out);
  qiao_graph_t *g = NULL;
  qiao_hal_device_t *d = NULL;
  qiao_program_t *p = NULL;
  qiao_tensor_t *in[8] = {0}, *outs[8] = {0};
  const char *text = c->share_graph ? c->share_graph : c->graph;
  const char *uri = c->share_uri ? c->share_uri : c->uri;
  qiao_status_t st = qiao_ir_parse(text, strlen(text), c->id, &g);
  if (st) goto done;
  if (g->n_inputs > 8 || g->n_outputs > 8) {
    st = qiao_status_make(QIAO_INVALID_ARGUMENT, "case %s: more than 8 inputs or outputs", c->id);
    goto done;
  }
  if ((st = qiao_hal_device_open(uri, &d))) goto done;
  if ((st = qiao_program_compile(NULL, g, d, NULL, &p))) goto done;
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  for (int32_t i = 0; i < g->n_inputs; ++i) {
    if ((st = qiao_tensor_create(g->values[g->inputs[i]].type, &in[i]))) goto done;
    size_t n = qiao_tensor_nbytes(in[i]) / qiao_dtype_size(in[i]->type.dtype);
    for (size_t k = 0; k < n; ++k) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      qiao_tensor_set_f64(in[i], (int64_t)k, (double)((seed >> 33) % 2001) / 1000.0 - 1.0);
    }
  }
  double t0 = now_s(), c0 = cpu_now_s();
  st = qiao_program_run(p, (const qiao_tensor_t *const *)in, outs);
  out->wall_s = now_s() - t0;
  out->cpu_s = cpu_now_s() - c0;
  if (st) goto done;
  if ((st = qiao_hal_ascend_last_report(d, &out->report))) goto done;
  out->predicted_us = out->report.ns * 1e-3;
  if (c->share_graph) {
    /* the whole kernel's shared-HBM bound; the share's own bound is inside
     * report.ns. A bound above the core time would set the kernel time. */
    out->hbm_us = c->full_hbm_bytes / c->hbm_bytes_per_s * 1e6;
    if (out->hbm_us > out->predicted_us) out->predicted_us = out->hbm_us;
  }
  out->error = (out->predicted_us - c->published_us) / c->published_us;
done:
  if (st) st = qiao_status_annotate(st, "ascend-calib case %s on %s", c->id, uri);
  for (int i = 0; i < 8; ++i) {
    qiao_tensor_destroy(in[i]);
    qiao_tensor_destroy(outs[i]);
  }
  qiao_program_destroy(p);
  if (d) qiao_hal_device_release(d);
  qiao_ir_graph_destroy(g);
  return st;
}

static void usage(FILE *f) {
  fprintf(f, "usage: qiao-bench ascend-calib [--all] [--whole] [--filter ID] "
             "[--set calibration|validation]\n"
             "  ascend-sim's simulated kernel times next to published measurements of real\n"
             "  Ascend boards (docs/ascend-model.md), and the simulator's wall time per\n"
             "  simulated microsecond. --all includes the slow (minutes) large matmuls;\n"
             "  --whole simulates every core of a matmul instead of one core's share.\n");
}

int qiao_bench_ascend_main(int argc, char **argv) {
  bool all = false, whole = false;
  const char *filter = NULL;
  int set = -1;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--all")) {
      all = true;
    } else if (!strcmp(argv[i], "--whole")) {
      whole = true;
    } else if (!strcmp(argv[i], "--filter") && i + 1 < argc) {
      filter = argv[++i];
    } else if (!strcmp(argv[i], "--set") && i + 1 < argc) {
      ++i;
      if (!strcmp(argv[i], "calibration"))
        set = QIAO_CALIB_SET_CALIBRATION;
      else if (!strcmp(argv[i], "validation"))
        set = QIAO_CALIB_SET_VALIDATION;
      else {
        fprintf(stderr, "qiao-bench ascend-calib: --set: calibration or validation, not '%s'\n",
                argv[i]);
        return 1;
      }
    } else {
      fprintf(stderr, "qiao-bench ascend-calib: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return 1;
    }
  }
  size_t n;
  const qiao_calib_case_t *cs = qiao_calib_cases(&n);
  printf("ascend-sim calibration: simulated (model of the profile) vs published measurements%s\n",
         whole ? " (--whole: every core simulated)" : "");
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) > 0)
    printf("host load average %.1f %.1f %.1f\n", load[0], load[1], load[2]);
  printf("%-3s %-5s %-26s %-14s %10s %10s %8s %9s %9s %8s %9s\n", "id", "set", "device", "bound",
         "pred us", "pub us", "error", "pred", "pub", "wall s", "ms/sim-us");
  fflush(stdout);
  int rc = 0;
  for (size_t i = 0; i < n; ++i) {
    qiao_calib_case_t cw = cs[i];
    if (whole) cw.share_graph = cw.share_uri = NULL; /* the whole kernel, every core */
    const qiao_calib_case_t *c = &cw;
    if (filter && strcmp(filter, c->id)) continue;
    if (set >= 0 && (int)c->set != set) continue;
    if (c->slow && !whole && !all && !filter) {
      printf("%-3s %-5s %-26s skipped (slow to simulate; --all or --filter %s)\n", c->id,
             c->set == QIAO_CALIB_SET_CALIBRATION ? "calib" : "valid", c->uri, c->id);
      continue;
    }
    qiao_calib_result_t r;
    qiao_status_t st = qiao_calib_run(c, &r);
    if (st) {
      fprintf(stderr, "qiao-bench ascend-calib: %s\n", qiao_status_message(st));
      qiao_status_free(st);
      rc = 2;
      continue;
    }
    double pred = c->work / (r.predicted_us * 1e-6), pub = c->work / (c->published_us * 1e-6);
    double scale = !strcmp(c->unit, "TFLOPS") ? 1e-12 : 1e-9;
    printf("%-3s %-5s %-26s %-14s %10.1f %10.1f %+7.1f%% %9.1f %9.1f %8.2f %9.2f  %s; %s\n", c->id,
           c->set == QIAO_CALIB_SET_CALIBRATION ? "calib" : "valid", c->uri, r.report.bound,
           r.predicted_us, c->published_us, 100.0 * r.error, pred * scale, pub * scale, r.wall_s,
           1e3 * r.wall_s / r.predicted_us, c->unit, c->source);
    if (c->share_graph)
      printf("    simulated as one core's share (%s); the whole kernel's HBM bound: %.1f us\n",
             c->share_uri, r.hbm_us);
    printf(
        "    host: wall %.2f s, CPU %.2f s for %.1f simulated us of %lld block(s): %.2f ms wall, "
        "%.2f ms CPU per simulated us\n",
        r.wall_s, r.cpu_s, r.report.ns * 1e-3, (long long)r.report.blocks,
        r.wall_s * 1e3 / (r.report.ns * 1e-3), r.cpu_s * 1e3 / (r.report.ns * 1e-3));
    /* busy cycles per block (= per core: block_dim is the core count) */
    const double *b = r.report.pipe_busy, nb = r.report.blocks > 0 ? (double)r.report.blocks : 1;
    if (c->published_cube_ratio > 0)
      printf("    cube busy ratio %.1f%% simulated, %.1f%% published\n", 100.0 * r.report.cube_util,
             100.0 * c->published_cube_ratio);
    printf("    cube util %.1f%%, vector util %.1f%%; busy cycles per block M=%.0f MTE1=%.0f "
           "MTE2=%.0f FIX=%.0f V=%.0f MTE3=%.0f of %.0f\n",
           100.0 * r.report.cube_util, 100.0 * r.report.vector_util, b[QIAO_ASCEND_PIPE_M] / nb,
           b[QIAO_ASCEND_PIPE_MTE1] / nb, b[QIAO_ASCEND_PIPE_MTE2] / nb,
           b[QIAO_ASCEND_PIPE_FIX] / nb, b[QIAO_ASCEND_PIPE_V] / nb, b[QIAO_ASCEND_PIPE_MTE3] / nb,
           r.report.cycles);
    fflush(stdout);
  }
  return rc;
}
