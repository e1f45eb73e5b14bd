/* qiao-bench simt-speed — how fast simt-emu emulates: thread-instructions per
 * second (wall time and CPU time) on a few kernels.
 *
 *   qiao-bench simt-speed [--threads 1,2] [--reps N] [--ptx-dir DIR] [--profile P]
 *
 * Kernels: the nvcc gemm_tiled (16×16 shared-memory tiles, 256×256×256) and softmax
 * (one warp per row, 2048 × 1024) from tests/data/ptx (sm_90 PTX), and the CUDA-class
 * backend's own matmul (f32 SIMT tiles and f16 tensor-core mma, 256×256×256)
 * compiled through the runtime. Thread-instructions come from
 * qiao_hal_simt_last_stats (the last launch: for the backend's programs that is their
 * last kernel, and the number of kernels is printed); wall time is the emulator's own
 * (stats.wall_ms), CPU time getrusage(RUSAGE_SELF) around the launch (all threads).
 * Each figure is the median of --reps runs (default 3). The machine's load average is
 * printed first: on a shared machine wall rates follow the load, CPU rates less so. */
#include "qiao-bench-simt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "qiao/hal.h"
#include "qiao/hal_simt.h"
#include "qiao/ir.h"
#include "qiao/runtime.h"

#ifndef QIAO_SOURCE_DIR
#define QIAO_SOURCE_DIR "."
#endif

typedef struct sample {
  double wall_s, cpu_s;
  qiao_hal_simt_stats_t st;
} sample_t;

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
         (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int report(const char *what, const char *uri, const sample_t *s, int n, int kernels) {
  double wall[64], cpu[64], rw[64], rc[64];
  for (int i = 0; i < n; ++i) {
    wall[i] = s[i].wall_s;
    cpu[i] = s[i].cpu_s;
    rw[i] = (double)s[i].st.thread_instructions / s[i].wall_s;
    rc[i] = (double)s[i].st.thread_instructions / s[i].cpu_s;
  }
  const qiao_hal_simt_stats_t *st = &s[0].st;
  printf("%-44s %-26s %8.2f M thr-instr %7.3f M warp-instr  wall %7.3f s  cpu %7.3f s  "
         "%6.1f M/s wall  %6.1f M/CPU-s%s\n",
         what, uri, (double)st->thread_instructions / 1e6, (double)st->warp_instructions / 1e6,
         median(wall, n), median(cpu, n), median(rw, n) / 1e6, median(rc, n) / 1e6,
         kernels > 1 ? "  (last of its kernels)" : "");
  fflush(stdout);
  return 0;
}

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  if (s) s[n] = 0;
  fclose(f);
  return s;
}

static int fail(qiao_status_t st, const char *what) {
  fprintf(stderr, "qiao-bench simt-speed: %s: %s\n", what, qiao_status_message(st));
  qiao_status_free(st);
  return 2;
}

static qiao_hal_buffer_t *rand_buf(qiao_hal_device_t *d, size_t nfloat, uint64_t seed,
                                   qiao_status_t *st) {
  float *h = malloc(nfloat * sizeof *h);
  qiao_hal_buffer_t *b = NULL;
  if (!h) {
    *st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < nfloat; ++i) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    h[i] = (float)((seed >> 33) % 20001) / 10000.0f - 1.0f;
  }
  *st = qiao_hal_buffer_alloc(d, nfloat * sizeof *h, &b);
  if (!*st) *st = qiao_hal_buffer_write(b, 0, h, nfloat * sizeof *h);
  free(h);
  return b;
}

/* One nvcc kernel: buffers of `nbuf` floats each (sizes[i]), then int args. */
static int bench_ptx(qiao_hal_device_t *d, const char *uri, const char *dir, const char *file,
                     const char *entry, const char *what, const size_t *sizes, int nbuf,
                     const int32_t *ints, int nint, const qiao_hal_launch_config_t *cfg, int reps) {
  char path[2048];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  char *text = read_all(path);
  if (!text) {
    fprintf(stderr, "qiao-bench simt-speed: cannot read %s\n", path);
    return 1;
  }
  qiao_hal_executable_spec_t spec = {
      .format = QIAO_HAL_FORMAT_PTX, .data = text, .size = strlen(text)};
  qiao_hal_executable_t *e = NULL;
  qiao_status_t st = qiao_hal_executable_create(d, &spec, &e);
  free(text);
  if (st) return fail(st, path);
  int32_t idx = -1;
  qiao_hal_buffer_t *bufs[8] = {0};
  uint64_t addrs[8];
  void *args[16];
  int rc = 0;
  if ((st = qiao_hal_executable_lookup(e, entry, &idx, NULL))) {
    rc = fail(st, entry);
    goto out;
  }
  for (int i = 0; i < nbuf; ++i) {
    bufs[i] = rand_buf(d, sizes[i], 17 + (uint64_t)i, &st);
    if (!st) st = qiao_hal_simt_buffer_address(bufs[i], 0, &addrs[i]);
    if (st) {
      rc = fail(st, "buffers");
      goto out;
    }
    args[i] = &addrs[i];
  }
  for (int i = 0; i < nint; ++i)
    args[nbuf + i] = (void *)&ints[i];
  sample_t s[64];
  for (int r = 0; r < reps; ++r) {
    double c0 = cpu_seconds();
    st = qiao_hal_simt_launch_args(d, e, idx, cfg, args, nbuf + nint);
    double c1 = cpu_seconds();
    if (!st) st = qiao_hal_simt_last_stats(d, &s[r].st);
    if (st) {
      rc = fail(st, what);
      goto out;
    }
    s[r].cpu_s = c1 - c0;
    s[r].wall_s = s[r].st.wall_ms / 1e3;
  }
  report(what, uri, s, reps, 1);
out:
  for (int i = 0; i < nbuf; ++i)
    qiao_hal_buffer_release(bufs[i]);
  qiao_hal_executable_release(e);
  return rc;
}

/* A graph through the runtime (the CUDA-class backend's PTX). */
static int bench_graph(qiao_hal_device_t *d, const char *uri, const char *what, const char *qir,
                       int reps) {
  qiao_graph_t *g = NULL;
  qiao_program_t *p = NULL;
  qiao_tensor_t *in[8] = {0}, *out[8] = {0};
  int rc = 0;
  qiao_status_t st = qiao_ir_parse(qir, strlen(qir), what, &g);
  if (!st) st = qiao_program_compile(NULL, g, d, NULL, &p);
  if (st) {
    rc = fail(st, what);
    goto out;
  }
  uint64_t seed = 5;
  for (int32_t i = 0; i < g->n_inputs && i < 8; ++i) {
    if ((st = qiao_tensor_create(g->values[g->inputs[i]].type, &in[i]))) {
      rc = fail(st, what);
      goto out;
    }
    qiao_tensor_fill_random(in[i], &seed, -1, 1);
  }
  qiao_program_stats_t ps;
  qiao_program_stats(p, &ps);
  sample_t s[64];
  for (int r = 0; r < reps; ++r) {
    double c0 = cpu_seconds();
    st = qiao_program_run(p, (const qiao_tensor_t *const *)in, out);
    double c1 = cpu_seconds();
    if (!st) st = qiao_hal_simt_last_stats(d, &s[r].st);
    if (st) {
      rc = fail(st, what);
      goto out;
    }
    for (int32_t o = 0; o < g->n_outputs && o < 8; ++o) {
      qiao_tensor_destroy(out[o]);
      out[o] = NULL;
    }
    s[r].cpu_s = c1 - c0; /* includes the copies in and out (small next to the kernel) */
    s[r].wall_s = s[r].st.wall_ms / 1e3;
  }
  report(what, uri, s, reps, ps.n_kernels);
out:
  for (int i = 0; i < 8; ++i) {
    qiao_tensor_destroy(in[i]);
    qiao_tensor_destroy(out[i]);
  }
  qiao_program_destroy(p);
  qiao_ir_graph_destroy(g);
  return rc;
}

int qiao_bench_simt_main(int argc, char **argv) {
  int threads[8] = {1, 2}, n_threads = 2, reps = 3;
  const char *dir = QIAO_SOURCE_DIR "/tests/data/ptx", *profile = "h100";
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
      reps = atoi(argv[++i]);
      if (reps < 1 || reps > 64) {
        fprintf(stderr, "qiao-bench simt-speed: --reps: expected 1..64\n");
        return 1;
      }
    } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      n_threads = 0;
      for (char *s = argv[++i]; *s && n_threads < 8;) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 256) {
          fprintf(stderr, "qiao-bench simt-speed: --threads: bad list '%s'\n", argv[i]);
          return 1;
        }
        threads[n_threads++] = (int)v;
        s = *end == ',' ? end + 1 : end;
      }
    } else if (!strcmp(argv[i], "--ptx-dir") && i + 1 < argc) {
      dir = argv[++i];
    } else if (!strcmp(argv[i], "--profile") && i + 1 < argc) {
      profile = argv[++i];
    } else {
      fprintf(stderr, "usage: qiao-bench simt-speed [--threads 1,2] [--reps N] [--ptx-dir DIR] "
                      "[--profile P]\n");
      return !strcmp(argv[i], "--help") ? 0 : 1;
    }
  }
  char load[128] = "?";
  FILE *lf = fopen("/proc/loadavg", "r"); /* proc files have no size: read a line */
  if (lf) {
    if (!fgets(load, sizeof load, lf)) snprintf(load, sizeof load, "?");
    fclose(lf);
  }
  load[strcspn(load, "\n")] = 0;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  printf("simt-speed: emulated thread-instructions per second (measured), median of %d runs; "
         "%ld CPUs, load average %s\n",
         reps, ncpu, load);
  const char *mm_f32 = "graph @mm(%a: f32[256, 256], %b: f32[256, 256]) -> (f32[256, 256]) {\n"
                       "  %y = matmul %a, %b\n  return %y\n}\n";
  const char *mm_f16 = "graph @mm(%a: f16[256, 256], %b: f16[256, 256]) -> (f16[256, 256]) {\n"
                       "  %y = matmul %a, %b\n  return %y\n}\n";
  int rc = 0;
  for (int t = 0; t < n_threads && !rc; ++t) {
    char uri[128];
    snprintf(uri, sizeof uri, "simt-emu:%s,threads=%d", profile, threads[t]);
    qiao_hal_device_t *d = NULL;
    qiao_status_t st = qiao_hal_device_open(uri, &d);
    if (st) return fail(st, uri);
    size_t g3[3] = {256 * 256, 256 * 256, 256 * 256};
    int32_t gi[3] = {256, 256, 256};
    qiao_hal_launch_config_t gcfg = {{16, 16, 1}, {16, 16, 1}, 0};
    rc = bench_ptx(d, uri, dir, "gemm_tiled.sm90.ptx", "gemm_tiled",
                   "gemm_tiled (nvcc sm_90) 256x256x256", g3, 3, gi, 3, &gcfg, reps);
    size_t s2[2] = {2048 * 1024, 2048 * 1024};
    int32_t si[2] = {2048, 1024};
    qiao_hal_launch_config_t scfg = {{256, 1, 1}, {256, 1, 1}, 0};
    if (!rc)
      rc = bench_ptx(d, uri, dir, "softmax.sm90.ptx", "softmax", "softmax (nvcc sm_90) 2048x1024",
                     s2, 2, si, 2, &scfg, reps);
    if (!rc) rc = bench_graph(d, uri, "qiao matmul f32 256x256x256 (SIMT)", mm_f32, reps);
    if (!rc) rc = bench_graph(d, uri, "qiao matmul f16 256x256x256 (mma.sync)", mm_f16, reps);
    qiao_hal_device_release(d);
  }
  return rc;
}
