/* Qiao HAL — the host CPU profile, measured by microbenchmarks at first use
 * and cached as a profile JSON under $XDG_CACHE_HOME/qiao (or ~/.cache/qiao).
 *
 *   f32 peak   unrolled FMA loop, 24 (AVX-512) / 12 (AVX2) independent
 *              accumulators, 1 thread and all threads, best of 7 short
 *              trials after a warm-up (clock ramp; other processes' noise)
 *   bf16 peak  vdpbf16ps (AVX512_BF16) on all threads; else the f32 rate
 *   i8 peak    vpdpbusd (AVX512_VNNI) on all threads; else the f32 rate
 *   bandwidth  STREAM triad a = b + s*c over 3 x 85 MB of doubles, all
 *              threads, best of 3 (3 x 8 bytes per element, no write-allocate)
 *
 * QIAO_HOST_PROFILE=path replaces all of this with a profile file.
 */
#if defined(__GNUC__) && !defined(__clang__)
/* The kernels must be optimized even in Debug builds to measure anything. */
#pragma GCC optimize("O3")
#endif

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QIAO_HOST_X86 1
#endif

#include "hal_internal.h"
#include "profile_internal.h"

enum { QIAO_HOST_PROFILE_VERSION = 2 }; /* 2: 24-chain FMA peak, best of 7 */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------ ISA kernels */

typedef enum host_isa { ISA_SCALAR, ISA_SSE, ISA_AVX2, ISA_AVX512 } host_isa_t;
static const char *const kIsaNames[] = {"scalar", "sse2", "avx2+fma", "avx512f"};
static const int32_t kIsaLanes[] = {1, 4, 8, 16};

/* Each kernel runs `iters` rounds and returns the FLOPs (ops) it did; `sink`
 * keeps the result alive. */
typedef double (*flop_kernel_t)(int64_t iters, float *sink);

#ifdef QIAO_HOST_X86
/* 24 independent accumulator chains: far more than latency × pipes (Zen 4:
 * 4 cycles × 1 zmm FMA per cycle; Intel: 4 × 2), so the loop is bound by FMA
 * throughput, not by a dependency chain. */
__attribute__((target("avx512f"))) static double fma_avx512(int64_t iters, float *sink) {
  __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  __m512 a[24];
  for (int k = 0; k < 24; ++k) a[k] = _mm512_set1_ps(1.0f + 0.1f * (float)k);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 24
    for (int k = 0; k < 24; ++k) a[k] = _mm512_fmadd_ps(a[k], b, c);
  }
  __m512 s = a[0];
  for (int k = 1; k < 24; ++k) s = _mm512_add_ps(s, a[k]);
  *sink += _mm512_reduce_add_ps(s);
  return (double)iters * 24 * 16 * 2;
}

__attribute__((target("avx512f,avx512bf16"))) static double bf16_avx512(int64_t iters,
                                                                        float *sink) {
  __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80); /* (1.0, 1.0) */
  __m512bh y = (__m512bh)_mm512_set1_epi32(0x33d633d6); /* (~1e-7, ~1e-7) */
  __m512 a[16];
  for (int k = 0; k < 16; ++k) a[k] = _mm512_set1_ps((float)k);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int k = 0; k < 16; ++k) a[k] = _mm512_dpbf16_ps(a[k], x, y);
  }
  __m512 s = a[0];
  for (int k = 1; k < 16; ++k) s = _mm512_add_ps(s, a[k]);
  *sink += _mm512_reduce_add_ps(s);
  return (double)iters * 16 * 16 * 2 * 2; /* 16 lanes x 2 products x (mul + add) */
}

__attribute__((target("avx512f,avx512vnni"))) static double i8_avx512(int64_t iters, float *sink) {
  __m512i x = _mm512_set1_epi8(1), y = _mm512_set1_epi8(2);
  __m512i a[16];
  for (int k = 0; k < 16; ++k) a[k] = _mm512_set1_epi32(k);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int k = 0; k < 16; ++k) a[k] = _mm512_dpbusd_epi32(a[k], x, y);
  }
  __m512i s = a[0];
  for (int k = 1; k < 16; ++k) s = _mm512_add_epi32(s, a[k]);
  /* Sum the lanes as unsigned: the accumulators may wrap (the value is only a
   * sink that keeps the loop alive), and signed overflow is undefined. */
  uint32_t lanes[16], sum = 0;
  _mm512_storeu_si512((void *)lanes, s);
  for (int k = 0; k < 16; ++k) sum += lanes[k];
  *sink += (float)sum;
  return (double)iters * 16 * 16 * 4 * 2; /* 16 lanes x 4 products x (mul + add) */
}

__attribute__((target("avx2,fma"))) static double fma_avx2(int64_t iters, float *sink) {
  __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  __m256 a[12];
  for (int k = 0; k < 12; ++k) a[k] = _mm256_set1_ps(1.0f + 0.1f * (float)k);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < 12; ++k) a[k] = _mm256_fmadd_ps(a[k], b, c);
  }
  __m256 s = a[0];
  for (int k = 1; k < 12; ++k) s = _mm256_add_ps(s, a[k]);
  float out[8];
  _mm256_storeu_ps(out, s);
  for (int k = 0; k < 8; ++k) *sink += out[k];
  return (double)iters * 12 * 8 * 2;
}

static double fma_sse(int64_t iters, float *sink) {
  __m128 b = _mm_set1_ps(0.999999f), c = _mm_set1_ps(1e-7f);
  __m128 a[12];
  for (int k = 0; k < 12; ++k) a[k] = _mm_set1_ps(1.0f + 0.1f * (float)k);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < 12; ++k) a[k] = _mm_add_ps(_mm_mul_ps(a[k], b), c);
  }
  __m128 s = a[0];
  for (int k = 1; k < 12; ++k) s = _mm_add_ps(s, a[k]);
  float out[4];
  _mm_storeu_ps(out, s);
  for (int k = 0; k < 4; ++k) *sink += out[k];
  return (double)iters * 12 * 4 * 2;
}
#endif

static double fma_scalar(int64_t iters, float *sink) {
  float a[8];
  for (int k = 0; k < 8; ++k) a[k] = 1.0f + 0.1f * (float)k;
  for (int64_t i = 0; i < iters; ++i)
    for (int k = 0; k < 8; ++k) a[k] = a[k] * 0.999999f + 1e-7f;
  for (int k = 0; k < 8; ++k) *sink += a[k];
  return (double)iters * 8 * 2;
}

static host_isa_t detect_isa(bool *bf16, bool *vnni) {
  *bf16 = *vnni = false;
#ifdef QIAO_HOST_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    *bf16 = __builtin_cpu_supports("avx512bf16");
    *vnni = __builtin_cpu_supports("avx512vnni");
    return ISA_AVX512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ISA_AVX2;
  return ISA_SSE;
#else
  return ISA_SCALAR;
#endif
}

static flop_kernel_t f32_kernel(host_isa_t isa) {
#ifdef QIAO_HOST_X86
  switch (isa) {
  case ISA_AVX512: return fma_avx512;
  case ISA_AVX2: return fma_avx2;
  case ISA_SSE: return fma_sse;
  default: break;
  }
#endif
  return fma_scalar;
}

/* --------------------------------------------------------------- harness */

typedef struct flop_job {
  flop_kernel_t kernel;
  int64_t iters;
  double flops[256];
  float sink[256];
} flop_job_t;

static void flop_item(void *p, int64_t begin, int64_t end, int32_t worker, void *scratch) {
  flop_job_t *j = p;
  for (int64_t i = begin; i < end; ++i) j->flops[i] = j->kernel(j->iters, &j->sink[i]);
}

/* Best-of-7 rate of `kernel` run once per thread on `threads` threads
 * (pool NULL: the calling thread), each run lasting about `target_s`, after
 * ~20 ms of warm-up (the clock ramps up; the best of several short trials
 * filters out time slices lost to other processes). */
static double measure_rate(qiao_hal_thread_pool_t *pool, flop_kernel_t kernel, double target_s) {
  flop_job_t *j = calloc(1, sizeof(*j));
  if (!j) return 0;
  j->kernel = kernel;
  /* Calibrate on one thread. */
  j->iters = 1 << 12;
  double t = 0;
  for (;;) {
    double t0 = now_s();
    kernel(j->iters, &j->sink[0]);
    t = now_s() - t0;
    if (t > 2e-3 || j->iters > ((int64_t)1 << 40)) break;
    j->iters *= 4;
  }
  for (double warm = 0; warm < 0.02;) {
    double t0 = now_s();
    kernel(j->iters, &j->sink[0]);
    t = now_s() - t0; /* the last, warm timing calibrates */
    warm += t;
  }
  j->iters = (int64_t)((double)j->iters * target_s / (t > 0 ? t : 1e-6)) + 1;
  int32_t n = pool ? qiao_hal_thread_pool_size(pool) : 1;
  double best = 0;
  for (int rep = 0; rep < 7; ++rep) {
    double t0 = now_s();
    if (pool) {
      qiao_status_t st = qiao_hal_thread_pool_parallel_for(pool, n, 1, 0, flop_item, j);
      qiao_status_free(st);
    } else {
      flop_item(j, 0, 1, 0, NULL);
    }
    double dt = now_s() - t0, total = 0;
    for (int32_t i = 0; i < n; ++i) total += j->flops[i];
    if (dt > 0 && total / dt > best) best = total / dt;
  }
  free(j);
  return best;
}

typedef struct triad_job {
  double *a, *b, *c;
  int64_t n, chunk;
  bool init;
} triad_job_t;

#if defined(__GNUC__)
__attribute__((no_sanitize("address", "undefined")))
#endif
static void triad_item(void *p, int64_t begin, int64_t end, int32_t worker, void *scratch) {
  const triad_job_t *j = p;
  for (int64_t k = begin; k < end; ++k) {
    int64_t lo = k * j->chunk, hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
    double *restrict a = j->a;
    const double *restrict b = j->b, *restrict c = j->c;
    if (j->init) {
      for (int64_t i = lo; i < hi; ++i) {
        a[i] = 0.0;
        j->b[i] = 1.0;
        j->c[i] = 2.0;
      }
    } else {
      for (int64_t i = lo; i < hi; ++i) a[i] = b[i] + 3.0 * c[i];
    }
  }
}

/* STREAM triad bandwidth in B/s over `total_bytes` (three arrays). */
static double measure_bandwidth(qiao_hal_thread_pool_t *pool, size_t total_bytes) {
  int64_t n = (int64_t)(total_bytes / 3 / sizeof(double)) / 8 * 8;
  size_t bytes = (size_t)n * sizeof(double);
  /* One mapping for the three arrays, with transparent huge pages where the
   * kernel allows them: first touch then costs far fewer page faults. */
  size_t map_bytes = 3 * bytes;
  char *base = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return 0;
#ifdef MADV_HUGEPAGE
  madvise(base, map_bytes, MADV_HUGEPAGE);
#endif
  triad_job_t j = {(double *)base, (double *)(base + bytes), (double *)(base + 2 * bytes), n,
                   1 << 16, true};
  double best = 0;
  {
    int64_t chunks = (n + j.chunk - 1) / j.chunk;
    qiao_status_free(qiao_hal_thread_pool_parallel_for(pool, chunks, 4, 0, triad_item, &j));
    j.init = false;
    for (int rep = 0; rep < 3; ++rep) {
      double t0 = now_s();
      qiao_status_free(qiao_hal_thread_pool_parallel_for(pool, chunks, 4, 0, triad_item, &j));
      double dt = now_s() - t0;
      if (dt > 0 && 3.0 * (double)bytes / dt > best) best = 3.0 * (double)bytes / dt;
    }
  }
  munmap(base, map_bytes);
  return best;
}

/* ---------------------------------------------------------- host identity */

static void cpu_model_name(char *out, size_t n) {
  snprintf(out, n, "unknown cpu");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10)) continue;
    char *colon = strchr(line, ':');
    if (!colon) continue;
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t') ++v;
    size_t len = strlen(v);
    while (len && (v[len - 1] == '\n' || v[len - 1] == ' ')) v[--len] = 0;
    snprintf(out, n, "%s", v);
    break;
  }
  fclose(f);
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; ++s) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

static int32_t online_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 256 ? 256 : (int32_t)n;
}

/* mkdir -p; true when the directory exists afterwards. */
static bool make_dirs(char *path) {
  for (char *p = path + 1; *p; ++p) {
    if (*p != '/') continue;
    *p = 0;
    mkdir(path, 0755);
    *p = '/';
  }
  return mkdir(path, 0755) == 0 || errno == EEXIST;
}

/* The cache directory, or false when there is no home to put it in. */
static bool cache_dir(char *out, size_t n) {
  const char *xdg = getenv("XDG_CACHE_HOME");
  if (xdg && xdg[0] == '/') {
    snprintf(out, n, "%s/qiao", xdg);
    return true;
  }
  const char *home = getenv("HOME");
  if (home && *home) {
    snprintf(out, n, "%s/.cache/qiao", home);
    return true;
  }
  return false;
}

/* Writes `doc` to `path` atomically (temp file in the same dir + rename). */
static void write_cache(const char *dir, const char *path, json_t *doc) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s/.host-cpu-XXXXXX", dir);
  int fd = mkstemp(tmp);
  if (fd < 0) return;
  bool ok = json_dumpfd(doc, fd, JSON_INDENT(2) | JSON_SORT_KEYS) == 0 && write(fd, "\n", 1) == 1;
  ok = fsync(fd) == 0 && ok;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) unlink(tmp);
}

/* Data/unified cache size of `level` for cpu0 in bytes, from sysfs (glibc's
 * sysconf misreports L3 under some hypervisors); sysconf as a fallback. */
static long cache_size(int level) {
  for (int i = 0; i < 8; ++i) {
    char path[128], buf[64];
    long lv = 0, size = 0;
    bool data = false;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
    FILE *f = fopen(path, "r");
    if (!f) break;
    if (fgets(buf, sizeof buf, f)) lv = strtol(buf, NULL, 10);
    fclose(f);
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
    if ((f = fopen(path, "r"))) {
      data = fgets(buf, sizeof buf, f) && strncmp(buf, "Instruction", 11) != 0;
      fclose(f);
    }
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
    if ((f = fopen(path, "r"))) {
      if (fgets(buf, sizeof buf, f)) {
        char *end;
        size = strtol(buf, &end, 10);
        if (*end == 'K') size <<= 10;
        else if (*end == 'M') size <<= 20;
      }
      fclose(f);
    }
    if (lv == level && data && size > 0) return size;
  }
  int name = level == 1 ? _SC_LEVEL1_DCACHE_SIZE
             : level == 2 ? _SC_LEVEL2_CACHE_SIZE
                          : _SC_LEVEL3_CACHE_SIZE;
  return sysconf(name);
}

/* ------------------------------------------------------------ measurement */

static json_t *measure_host(const char *cpu_name, host_isa_t isa, bool bf16, bool vnni,
                            int32_t threads) {
  double t0 = now_s();
  qiao_hal_thread_pool_t *pool = NULL;
  qiao_status_t st = qiao_hal_thread_pool_create(threads, &pool);
  if (st) {
    qiao_status_free(st);
    return NULL;
  }
  flop_kernel_t fk = f32_kernel(isa);
  double f32_1 = measure_rate(NULL, fk, 0.01);
  double f32_n = measure_rate(pool, fk, 0.01);
  double bf16_n = f32_n, i8_n = f32_n;
#ifdef QIAO_HOST_X86
  if (bf16) bf16_n = measure_rate(pool, bf16_avx512, 0.01);
  if (vnni) i8_n = measure_rate(pool, i8_avx512, 0.01);
#endif
  double bw = measure_bandwidth(pool, (size_t)256 << 20);
  qiao_hal_thread_pool_destroy(pool);
  double ms = (now_s() - t0) * 1e3;

  double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
  long l1 = cache_size(1), l2 = cache_size(2), l3 = cache_size(3);
  json_t *onchip = json_object();
  if (l1 > 0) json_object_set_new(onchip, "l1_kb", json_real((double)l1 / 1024));
  if (l2 > 0) json_object_set_new(onchip, "l2_kb", json_real((double)l2 / 1024));
  if (l3 > 0) json_object_set_new(onchip, "l3_mb", json_real((double)l3 / 1048576));
  char notes[512];
  snprintf(notes, sizeof notes,
           "measured: f32 (%s FMA), bf16 (%s), i8 (%s), triad bandwidth; f16 is the f32 rate "
           "(no native f16 arithmetic assumed); capacity is physical RAM",
           kIsaNames[isa], bf16 ? "vdpbf16ps" : "= f32 rate", vnni ? "vpdpbusd" : "= f32 rate");
  return json_pack(
      "{s:s, s:s, s:s, s:b, s:{s:f, s:f, s:f, s:f}, s:{s:f, s:f}, s:o, s:i, s:i, "
      "s:[s,s,s,s,s,s,s,s], s:[s], s:s, s:{s:s, s:s, s:i, s:f, s:b, s:f, s:i}}",
      "name", "host-cpu", "class", "cpu", "arch", cpu_name, "measured", 1,
      "peak_tflops", "f32", f32_n / 1e12, "f16", f32_n / 1e12, "bf16", bf16_n / 1e12, "i8",
      i8_n / 1e12,
      "memory", "capacity_gb", mem > 0 ? mem / 1e9 : 1.0, "bandwidth_gbps",
      bw > 0 ? bw / 1e9 : 1.0,
      "onchip", onchip, "cores", threads, "vector_width", kIsaLanes[isa],
      "dtypes", "f64", "f32", "f16", "bf16", "i64", "i32", "i8", "bool",
      "sources", "measured on this machine by qiao_hal_profile_host (hal/host_profile.c)",
      "notes", notes,
      "host", "cpu_name", cpu_name, "isa", kIsaNames[isa], "threads", threads,
      "f32_tflops_1thread", f32_1 / 1e12, "bf16_native", bf16, "measure_ms", ms, "version",
      QIAO_HOST_PROFILE_VERSION);
}

qiao_status_t qiao_hal_host_profile_get(qiao_hal_profile_t **out_profile) {
  *out_profile = NULL;
  const char *override = getenv("QIAO_HOST_PROFILE");
  if (override && *override) return qiao_hal_profile_load(override, out_profile);

  bool bf16, vnni;
  host_isa_t isa = detect_isa(&bf16, &vnni);
  int32_t threads = online_threads();
  char cpu_name[256], key[400];
  cpu_model_name(cpu_name, sizeof cpu_name);
  snprintf(key, sizeof key, "%s|%d|%s|%d|%d|v%d", cpu_name, threads, kIsaNames[isa], bf16, vnni,
           QIAO_HOST_PROFILE_VERSION);
  char dir[4096], path[4200];
  bool have_cache = cache_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/host-cpu-%016llx.json", dir, (unsigned long long)fnv1a(key));

  if (have_cache) {
    json_t *cached = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
    if (cached) {
      qiao_status_t st = qiao_hal_profile_from_json(cached, path, out_profile);
      json_decref(cached);
      if (!st && qiao_hal_profile_info(*out_profile)->measured) return NULL;
      qiao_status_free(st); /* corrupt or foreign: measure again and rewrite it */
      qiao_hal_profile_destroy(*out_profile);
      *out_profile = NULL;
    }
  }
  json_t *doc = measure_host(cpu_name, isa, bf16, vnni, threads);
  if (!doc) return qiao_status_make(QIAO_INTERNAL, "host profile: measurement failed");
  if (have_cache && make_dirs(dir)) write_cache(dir, path, doc);
  qiao_status_t st = qiao_hal_profile_from_json(doc, have_cache ? path : "<host-cpu>", out_profile);
  json_decref(doc);
  return st;
}
