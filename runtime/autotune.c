/* Runtime — autotuning of lowering variants (qiao-run --autotune): every
 * variant of a kernel timed inside the whole program, the winner cached on
 * disk per (target key, descriptor). Cache file <dir>/autotune/<key>.txt:
 *
 *   qiao-autotune 1
 *   target <backend target key>
 *   variant <name>
 *
 * written to a temporary file in the same directory and renamed (atomic);
 * a file that does not parse is ignored with a warning. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "program_internal.h"
#include "qiao/runtime.h"

static void report_add(char *report, size_t cap, const char *fmt, ...) {
  if (!report || cap == 0) return;
  size_t n = strlen(report);
  if (n + 1 >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(report + n, cap - n, fmt, ap);
  va_end(ap);
  n = strlen(report);
  if (n + 1 < cap) report[n] = '\n', report[n + 1] = 0;
}

static qiao_status_t mkdirs(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *s = buf + 1; *s; ++s) {
    if (*s != '/') continue;
    *s = 0;
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return qiao_status_make(QIAO_IO_ERROR, "autotune cache: cannot create %s: %s", buf,
                              strerror(errno));
    *s = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST)
    return qiao_status_make(QIAO_IO_ERROR, "autotune cache: cannot create %s: %s", buf,
                            strerror(errno));
  return NULL;
}

static qiao_status_t cache_dir(const qiao_autotune_options_t *o, char *buf, size_t cap) {
  const char *base = o && o->cache_dir && *o->cache_dir ? o->cache_dir : NULL;
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  int n;
  if (base)
    n = snprintf(buf, cap, "%s/autotune", base);
  else if (xdg && *xdg)
    n = snprintf(buf, cap, "%s/qiao/autotune", xdg);
  else if (home && *home)
    n = snprintf(buf, cap, "%s/.cache/qiao/autotune", home);
  else
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "autotune cache: neither XDG_CACHE_HOME nor HOME is set");
  if (n < 0 || (size_t)n >= cap)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "autotune cache: directory name too long");
  return NULL;
}

static uint64_t fnv(uint64_t h, const char *s) {
  for (; *s; ++s)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* The cached winner's index in vc; -1 when there is no file; -2 (with a
 * warning in report) when the file is unusable. */
static int32_t cache_read(const char *path, const char *target, const qiao_variant_choice_t *vc,
                          char *report, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) {
    if (errno == ENOENT) return -1;
    report_add(report, cap, "warning: autotune cache %s ignored: %s", path, strerror(errno));
    return -2;
  }
  char l1[64] = "", l2[1200] = "", l3[128] = "";
  bool ok = fgets(l1, sizeof l1, f) && fgets(l2, sizeof l2, f) && fgets(l3, sizeof l3, f);
  fclose(f);
  l1[strcspn(l1, "\n")] = 0;
  l2[strcspn(l2, "\n")] = 0;
  l3[strcspn(l3, "\n")] = 0;
  const char *why = NULL;
  if (!ok || strcmp(l1, "qiao-autotune 1") != 0)
    why = "not a qiao-autotune 1 file";
  else if (strncmp(l2, "target ", 7) != 0 || strcmp(l2 + 7, target) != 0)
    why = "written for another target";
  else if (strncmp(l3, "variant ", 8) != 0)
    why = "no variant line";
  if (!why) {
    for (int32_t i = 0; i < vc->n; ++i)
      if (!strcmp(vc->variants[i].name, l3 + 8)) return i;
    why = "names no variant of this kernel";
  }
  report_add(report, cap, "warning: autotune cache %s ignored: %s", path, why);
  return -2;
}

static qiao_status_t cache_write(const char *dir, const char *path, const char *target,
                                 const char *variant) {
  QIAO_RETURN_IF_ERROR(mkdirs(dir));
  char tmp[4300];
  snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0)
    return qiao_status_make(QIAO_IO_ERROR, "autotune cache: cannot create %s: %s", tmp,
                            strerror(errno));
  FILE *f = fdopen(fd, "w");
  if (!f) {
    close(fd);
    unlink(tmp);
    return qiao_status_make(QIAO_IO_ERROR, "autotune cache: %s: %s", tmp, strerror(errno));
  }
  fprintf(f, "qiao-autotune 1\ntarget %s\nvariant %s\n", target, variant);
  bool bad = ferror(f) != 0;
  if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
    qiao_status_t st = qiao_status_make(QIAO_IO_ERROR, "autotune cache: cannot write %s: %s", path,
                                        strerror(errno));
    unlink(tmp);
    return st;
  }
  return NULL;
}

typedef struct tune_ctx {
  qiao_hal_device_t *d;
  int32_t kernel;
  qiao_hal_event_t before;
  double ns;
  qiao_hal_time_kind_t kind;
} tune_ctx_t;

static qiao_status_t tune_observe(void *vctx, int32_t kernel, bool after) {
  tune_ctx_t *c = vctx;
  if (kernel != c->kernel) return NULL;
  if (!after) return qiao_hal_event_record(c->d, &c->before);
  qiao_hal_event_t end;
  QIAO_RETURN_IF_ERROR(qiao_hal_event_record(c->d, &end));
  c->ns = qiao_hal_event_elapsed_ms(&c->before, &end) * 1e6;
  c->kind = end.kind;
  return NULL;
}

/* Kernel k's time in one run of the whole program. */
static qiao_status_t time_kernel(qiao_program_t *p, int32_t k, const qiao_tensor_t *const *inputs,
                                 int32_t n_outputs, double *out_ns,
                                 qiao_hal_time_kind_t *out_kind) {
  tune_ctx_t c = {.d = qiao_program_device(p), .kernel = k, .ns = -1};
  qiao_tensor_t **outs = calloc((size_t)n_outputs + 1, sizeof *outs);
  if (!outs) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  qiao_status_t st = qiao_program_run_observed(p, inputs, outs, tune_observe, &c);
  for (int32_t i = 0; i < n_outputs; ++i)
    qiao_tensor_destroy(outs[i]);
  free(outs);
  *out_ns = c.ns;
  *out_kind = c.kind;
  return st;
}

qiao_status_t qiao_program_autotune(qiao_program_t *p, const qiao_tensor_t *const *inputs,
                                    const qiao_autotune_options_t *opts, char *report,
                                    size_t report_cap) {
  if (report && report_cap) report[0] = 0;
  char dir[4096], target[1024];
  QIAO_RETURN_IF_ERROR(cache_dir(opts, dir, sizeof dir));
  QIAO_RETURN_IF_ERROR(qiao_program_target_key(p, target, sizeof target));
  const qiao_partition_t *part = qiao_program_partition(p);
  int32_t runs = opts && opts->runs > 0 ? opts->runs : 3;
  int32_t n_outputs = qiao_program_output_count(p);
  for (int32_t k = 0; k < part->n_kernels; ++k) {
    const qiao_variant_choice_t *vc = qiao_program_kernel_variant(p, k);
    if (!vc || vc->n < 2) continue;
    uint64_t h = fnv(1469598103934665603ull, target) ^
                 (qiao_kernel_desc_hash(&part->kernels[k]) * 0x9E3779B97F4A7C15ull);
    char path[4200];
    snprintf(path, sizeof path, "%s/%016llx.txt", dir, (unsigned long long)h);
    int32_t cached = cache_read(path, target, vc, report, report_cap);
    if (cached >= 0) {
      QIAO_RETURN_IF_ERROR(qiao_program_kernel_set_variant(p, k, cached, "autotuned (cached)"));
      report_add(report, report_cap, "autotune: k%d: %s (cached in %s)", (int)k,
                 vc->variants[cached].name, path);
      continue;
    }
    double tuned[QIAO_VARIANT_MAX];
    qiao_hal_time_kind_t kind = QIAO_HAL_TIME_MEASURED;
    int32_t best = -1;
    for (int32_t i = 0; i < vc->n; ++i) {
      tuned[i] = -1;
      qiao_status_t st = qiao_program_kernel_set_variant(p, k, i, NULL);
      for (int32_t r = 0; r < runs && !st; ++r) {
        double ns = -1;
        st = time_kernel(p, k, inputs, n_outputs, &ns, &kind);
        if (!st && ns >= 0 && (tuned[i] < 0 || ns < tuned[i])) tuned[i] = ns;
      }
      if (st) { /* a variant that fails to build or run is skipped, with a line */
        report_add(report, report_cap, "autotune: k%d: %s skipped: %s", (int)k,
                   vc->variants[i].name, qiao_status_message(st));
        qiao_status_free(st);
        continue;
      }
      if (tuned[i] >= 0 && (best < 0 || tuned[i] < tuned[best])) best = i;
    }
    if (best < 0)
      return qiao_status_make(QIAO_INTERNAL, "autotune: kernel k%d: no variant ran", (int)k);
    QIAO_RETURN_IF_ERROR(qiao_program_kernel_set_variant(p, k, best, "autotuned"));
    qiao_program_kernel_set_tuned(p, k, tuned, kind);
    qiao_status_t ws = cache_write(dir, path, target, vc->variants[best].name);
    if (ws) { /* the tuning stands; only the cache is lost */
      report_add(report, report_cap, "warning: %s", qiao_status_message(ws));
      qiao_status_free(ws);
    }
    report_add(report, report_cap, "autotune: k%d: %s (of %d variants, cached in %s)", (int)k,
               vc->variants[best].name, (int)vc->n, path);
  }
  return NULL;
}
