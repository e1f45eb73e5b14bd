/* A fake CUDA driver for the tests: the driver-API entry points hal/cuda/cuda_device.c
 * uses, implemented over a simt-emu:h100 device, so the cuda:N device's own code
 * (symbol lookup, context handling, buffers, parameter marshalling, launch, events,
 * the JIT log) runs in CI without a GPU: open it as "cuda:0,driver=<this .so>".
 *
 * Built as a module (CMake target fakecuda) with its qiao_hal_* references left
 * undefined: they resolve against the test executable, linked with ENABLE_EXPORTS.
 * A real driver keeps process-wide state; so does this one (one simt-emu device,
 * a table of allocations), behind a mutex, released when the library is unloaded.
 * Not part of any library.
 *
 * Deliberate differences from a real driver: a module whose text contains
 * "FAKE_JIT_REJECT" is refused with a JIT error log (the real JIT refuses the test's
 * ill-typed PTX itself); kernels run synchronously inside cuLaunchKernel. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qiao/hal.h"
#include "qiao/hal_simt.h"

typedef int CUresult;
enum {
  OK = 0,
  ERR_INVALID_VALUE = 1,
  ERR_OUT_OF_MEMORY = 2,
  ERR_NOT_INITIALIZED = 3,
  ERR_INVALID_PTX = 218,
  ERR_NOT_FOUND = 500,
  ERR_LAUNCH_FAILED = 719,
};

typedef struct alloc {
  uint64_t addr;
  size_t size;
  qiao_hal_buffer_t *buf;
} alloc_t;

typedef struct fake_func {
  qiao_hal_executable_t *exe;
  int32_t index, nparams;
} fake_func_t;

typedef struct fake_module {
  qiao_hal_executable_t *exe;
  fake_func_t funcs[64];
  int nfuncs;
} fake_module_t;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static qiao_hal_device_t *g_dev;
static alloc_t *g_allocs;
static int g_nallocs, g_cap;
static int g_ctx_token;

/* When the last cuda device closes this library (dlclose), its state goes with it. */
__attribute__((destructor)) static void fake_unload(void) {
  for (int i = 0; i < g_nallocs; ++i)
    qiao_hal_buffer_release(g_allocs[i].buf);
  free(g_allocs);
  g_allocs = NULL;
  g_nallocs = g_cap = 0;
  qiao_hal_device_release(g_dev);
  g_dev = NULL;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The allocation holding [addr, addr + n), or NULL. Under g_lock. */
static alloc_t *find(uint64_t addr, size_t n) {
  for (int i = 0; i < g_nallocs; ++i)
    if (addr >= g_allocs[i].addr && addr - g_allocs[i].addr + n <= g_allocs[i].size)
      return &g_allocs[i];
  return NULL;
}

CUresult cuInit(unsigned flags) {
  (void)flags;
  pthread_mutex_lock(&g_lock);
  qiao_status_t st = g_dev ? NULL : qiao_hal_device_open("simt-emu:h100,threads=1", &g_dev);
  pthread_mutex_unlock(&g_lock);
  if (st) {
    qiao_status_free(st);
    return ERR_NOT_INITIALIZED;
  }
  return OK;
}

CUresult cuDeviceGetCount(int *n) {
  *n = g_dev ? 1 : 0;
  return g_dev ? OK : ERR_NOT_INITIALIZED;
}
CUresult cuDeviceGet(int *d, int ordinal) {
  *d = ordinal;
  return ordinal == 0 ? OK : ERR_INVALID_VALUE;
}
CUresult cuDeviceGetName(char *name, int len, int d) {
  (void)d;
  snprintf(name, (size_t)len, "Fake NVIDIA H100 (simt-emu)");
  return OK;
}
CUresult cuDeviceGetAttribute(int *v, int attr, int d) {
  (void)d;
  *v = attr == 75 ? 9 : attr == 76 ? 0 : attr == 16 ? 132 : 0;
  return OK;
}
CUresult cuDevicePrimaryCtxRetain(void **ctx, int d) {
  (void)d;
  *ctx = &g_ctx_token;
  return OK;
}
CUresult cuDevicePrimaryCtxRelease_v2(int d) {
  (void)d;
  return OK;
}
CUresult cuCtxPushCurrent_v2(void *ctx) { return ctx == &g_ctx_token ? OK : ERR_INVALID_VALUE; }
CUresult cuCtxPopCurrent_v2(void **ctx) {
  *ctx = &g_ctx_token;
  return OK;
}
CUresult cuCtxSynchronize(void) { return OK; }

CUresult cuMemAlloc_v2(uint64_t *p, size_t n) {
  qiao_hal_buffer_t *b = NULL;
  qiao_status_t st = qiao_hal_buffer_alloc(g_dev, n, &b);
  uint64_t a = 0;
  if (!st) st = qiao_hal_simt_buffer_address(b, 0, &a);
  if (st) {
    qiao_status_free(st);
    qiao_hal_buffer_release(b);
    return ERR_OUT_OF_MEMORY;
  }
  pthread_mutex_lock(&g_lock);
  if (g_nallocs == g_cap) {
    int cap = g_cap ? g_cap * 2 : 64;
    alloc_t *na = realloc(g_allocs, (size_t)cap * sizeof *na);
    if (!na) {
      pthread_mutex_unlock(&g_lock);
      qiao_hal_buffer_release(b);
      return ERR_OUT_OF_MEMORY;
    }
    g_allocs = na;
    g_cap = cap;
  }
  g_allocs[g_nallocs++] = (alloc_t){a, n, b};
  pthread_mutex_unlock(&g_lock);
  *p = a;
  return OK;
}

CUresult cuMemFree_v2(uint64_t p) {
  pthread_mutex_lock(&g_lock);
  for (int i = 0; i < g_nallocs; ++i)
    if (g_allocs[i].addr == p) {
      qiao_hal_buffer_release(g_allocs[i].buf);
      g_allocs[i] = g_allocs[--g_nallocs];
      pthread_mutex_unlock(&g_lock);
      return OK;
    }
  pthread_mutex_unlock(&g_lock);
  return ERR_INVALID_VALUE;
}

/* Copies between host memory and an allocation (to_device: host → device). */
static CUresult copy(uint64_t addr, void *host, size_t n, int to_device) {
  pthread_mutex_lock(&g_lock);
  alloc_t *a = find(addr, n);
  qiao_hal_buffer_t *b = a ? a->buf : NULL;
  size_t off = a ? (size_t)(addr - a->addr) : 0;
  pthread_mutex_unlock(&g_lock);
  if (!b) return ERR_INVALID_VALUE;
  qiao_status_t st =
      to_device ? qiao_hal_buffer_write(b, off, host, n) : qiao_hal_buffer_read(b, off, host, n);
  if (st) {
    qiao_status_free(st);
    return ERR_INVALID_VALUE;
  }
  return OK;
}

CUresult cuMemsetD8_v2(uint64_t p, unsigned char v, size_t n) {
  unsigned char *tmp = malloc(n ? n : 1);
  if (!tmp) return ERR_OUT_OF_MEMORY;
  memset(tmp, v, n);
  CUresult r = copy(p, tmp, n, 1);
  free(tmp);
  return r;
}
CUresult cuMemcpyHtoD_v2(uint64_t dst, const void *src, size_t n) {
  return copy(dst, (void *)src, n, 1);
}
CUresult cuMemcpyDtoH_v2(void *dst, uint64_t src, size_t n) { return copy(src, dst, n, 0); }
CUresult cuMemcpyDtoD_v2(uint64_t dst, uint64_t src, size_t n) {
  void *tmp = malloc(n ? n : 1);
  if (!tmp) return ERR_OUT_OF_MEMORY;
  CUresult r = copy(src, tmp, n, 0);
  if (r == OK) r = copy(dst, tmp, n, 1);
  free(tmp);
  return r;
}

/* Options as the driver takes them: (3,4) info log, (5,6) error log buffer and size. */
CUresult cuModuleLoadDataEx(void **mod, const void *image, unsigned n, int *opts, void **vals) {
  char *errlog = NULL;
  size_t errsize = 0;
  for (unsigned i = 0; i < n; ++i) {
    if (opts[i] == 5) errlog = vals[i];
    if (opts[i] == 6) errsize = (size_t)(uintptr_t)vals[i];
  }
  const char *text = image;
  qiao_hal_executable_t *e = NULL;
  qiao_status_t st = NULL;
  if (strstr(text, "FAKE_JIT_REJECT")) {
    if (errlog && errsize)
      snprintf(errlog, errsize,
               "ptxas application ptx input, line 8; error   : Arguments "
               "mismatch for instruction 'mov' (fake driver)");
    return ERR_INVALID_PTX;
  }
  qiao_hal_executable_spec_t spec = {
      .format = QIAO_HAL_FORMAT_PTX, .data = text, .size = strlen(text)};
  st = qiao_hal_executable_create(g_dev, &spec, &e);
  if (st) {
    if (errlog && errsize) snprintf(errlog, errsize, "%s", qiao_status_message(st));
    qiao_status_free(st);
    return ERR_INVALID_PTX;
  }
  fake_module_t *m = calloc(1, sizeof *m);
  if (!m) {
    qiao_hal_executable_release(e);
    return ERR_OUT_OF_MEMORY;
  }
  m->exe = e;
  *mod = m;
  return OK;
}

CUresult cuModuleUnload(void *mod) {
  fake_module_t *m = mod;
  qiao_hal_executable_release(m->exe);
  free(m);
  return OK;
}

CUresult cuModuleGetFunction(void **fn, void *mod, const char *name) {
  fake_module_t *m = mod;
  int32_t idx = -1;
  qiao_hal_entry_info_t info;
  qiao_status_t st = qiao_hal_executable_lookup(m->exe, name, &idx, &info);
  if (st) {
    qiao_status_free(st);
    return ERR_NOT_FOUND;
  }
  if (m->nfuncs == 64) return ERR_OUT_OF_MEMORY;
  fake_func_t *f = &m->funcs[m->nfuncs++];
  f->exe = m->exe;
  f->index = idx;
  f->nparams = (int32_t)strlen(info.signature) - 1;
  *fn = f;
  return OK;
}

CUresult cuFuncSetAttribute(void *fn, int attr, int v) {
  (void)fn;
  (void)attr;
  (void)v;
  return OK;
}

CUresult cuLaunchKernel(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned shared, void *stream, void **params, void **extra) {
  (void)stream;
  if (extra) return ERR_INVALID_VALUE;
  fake_func_t *f = fn;
  qiao_hal_launch_config_t cfg = {{gx, gy, gz}, {(int32_t)bx, (int32_t)by, (int32_t)bz}, shared};
  qiao_status_t st =
      qiao_hal_simt_launch_args(g_dev, f->exe, f->index, &cfg, (void *const *)params, f->nparams);
  if (st) {
    fprintf(stderr, "fake libcuda: launch failed: %s\n", qiao_status_message(st));
    qiao_status_free(st);
    return ERR_LAUNCH_FAILED;
  }
  return OK;
}

CUresult cuEventCreate(void **ev, unsigned flags) {
  (void)flags;
  *ev = calloc(1, sizeof(uint64_t));
  return *ev ? OK : ERR_OUT_OF_MEMORY;
}
CUresult cuEventRecord(void *ev, void *stream) {
  (void)stream;
  *(uint64_t *)ev = now_ns();
  return OK;
}
CUresult cuEventSynchronize(void *ev) { return ev ? OK : ERR_INVALID_VALUE; }
CUresult cuEventElapsedTime_v2(float *ms, void *a, void *b) {
  *ms = (float)((double)(int64_t)(*(uint64_t *)b - *(uint64_t *)a) / 1e6);
  return OK;
}
CUresult cuEventDestroy_v2(void *ev) {
  free(ev);
  return OK;
}

CUresult cuGetErrorName(CUresult r, const char **s) {
  *s = r == ERR_INVALID_VALUE   ? "CUDA_ERROR_INVALID_VALUE"
       : r == ERR_OUT_OF_MEMORY ? "CUDA_ERROR_OUT_OF_MEMORY"
       : r == ERR_INVALID_PTX   ? "CUDA_ERROR_INVALID_PTX"
       : r == ERR_LAUNCH_FAILED ? "CUDA_ERROR_LAUNCH_FAILED"
       : r == ERR_NOT_FOUND     ? "CUDA_ERROR_NOT_FOUND"
                                : "CUDA_ERROR_UNKNOWN";
  return OK;
}
CUresult cuGetErrorString(CUresult r, const char **s) {
  *s = r == ERR_INVALID_PTX     ? "a PTX JIT compilation failed"
       : r == ERR_LAUNCH_FAILED ? "unspecified launch failure"
                                : "fake driver error";
  return OK;
}
