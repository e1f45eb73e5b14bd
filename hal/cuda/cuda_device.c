/* Qiao HAL — the cuda driver: "cuda:N[,profile=P][,driver=PATH]", a real NVIDIA GPU
 * through the CUDA driver API (driver=PATH loads another library with the driver
 * API instead of libcuda.so.1: the tests' fake driver over simt-emu).
 *
 * libcuda.so.1 is opened with dlopen when the device is opened (the build needs no
 * CUDA toolkit: the few driver types and prototypes are declared below, with the
 * values of cuda.h). Without the library the open fails with exactly
 * "cuda: no CUDA driver found (libcuda.so.1)". Each device holds its own handle,
 * the device's primary context (what the CUDA runtime and cuBLAS use too) and a
 * base event; every call makes the context current on the calling thread (push /
 * pop), so any host thread may use the device.
 *
 * Executables are PTX text, loaded with cuModuleLoadDataEx (the JIT's error log is
 * part of the status when the load fails); entries and the binding → parameter
 * mapping are simt-emu's (docs/simt-emu.md): a 64-bit integer parameter takes the
 * next binding's device address, any other the next constant's low bytes. A
 * dispatch is cuLaunchKernel on the default stream followed by cuCtxSynchronize
 * (the HAL's dispatch returns when the work is done). Events are
 * QIAO_HAL_TIME_MEASURED: a CUDA event recorded and synchronized, its time the
 * elapsed milliseconds since the device's base event (float, so about 0.5 µs
 * resolution near the start and coarser after hours). The profile is chosen from
 * the device name (H200, H20, H100, A100), else from the compute capability
 * (9.x → h100, 8.x → a100), or given as profile=P. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../hal_internal.h"
#include "qiao/hal_cuda.h"
#include "qiao/ptx.h"

/* ------------------------------------------------------------ driver API subset */

typedef int CUresult; /* CUDA_SUCCESS = 0 */
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUevent_st *CUevent;
typedef struct CUstream_st *CUstream;
typedef int CUjit_option;

enum {
  CU_JIT_INFO_LOG_BUFFER = 3,
  CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4,
  CU_JIT_ERROR_LOG_BUFFER = 5,
  CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
  CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
  CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
  CU_EVENT_DEFAULT = 0,
};

typedef struct cuda_api {
  void *lib;
  CUresult (*Init)(unsigned);
  CUresult (*DeviceGetCount)(int *);
  CUresult (*DeviceGet)(CUdevice *, int);
  CUresult (*DeviceGetName)(char *, int, CUdevice);
  CUresult (*DeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*DevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*DevicePrimaryCtxRelease)(CUdevice);
  CUresult (*CtxPushCurrent)(CUcontext);
  CUresult (*CtxPopCurrent)(CUcontext *);
  CUresult (*CtxSynchronize)(void);
  CUresult (*ModuleLoadDataEx)(CUmodule *, const void *, unsigned, CUjit_option *, void **);
  CUresult (*ModuleUnload)(CUmodule);
  CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*FuncSetAttribute)(CUfunction, int, int);
  CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                           unsigned, CUstream, void **, void **);
  CUresult (*MemAlloc)(CUdeviceptr *, size_t);
  CUresult (*MemFree)(CUdeviceptr);
  CUresult (*MemsetD8)(CUdeviceptr, unsigned char, size_t);
  CUresult (*MemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*MemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*MemcpyDtoD)(CUdeviceptr, CUdeviceptr, size_t);
  CUresult (*EventCreate)(CUevent *, unsigned);
  CUresult (*EventRecord)(CUevent, CUstream);
  CUresult (*EventSynchronize)(CUevent);
  CUresult (*EventElapsedTime)(float *, CUevent, CUevent);
  CUresult (*EventDestroy)(CUevent);
  CUresult (*GetErrorName)(CUresult, const char **);
  CUresult (*GetErrorString)(CUresult, const char **);
} cuda_api_t;

/* Resolves every entry point: the versioned name cuda.h maps to first, then the
 * plain one. Returns the first name missing, or NULL. */
static const char *cuda_api_resolve(cuda_api_t *a) {
#define SYM(field, ...)                                                                            \
  do {                                                                                             \
    const char *names_[] = {__VA_ARGS__};                                                          \
    void *p_ = NULL;                                                                               \
    for (size_t i_ = 0; !p_ && i_ < sizeof names_ / sizeof *names_; ++i_)                          \
      p_ = dlsym(a->lib, names_[i_]);                                                              \
    if (!p_) return names_[0];                                                                     \
    memcpy(&a->field, &p_, sizeof p_);                                                             \
  } while (0)
  SYM(Init, "cuInit");
  SYM(DeviceGetCount, "cuDeviceGetCount");
  SYM(DeviceGet, "cuDeviceGet");
  SYM(DeviceGetName, "cuDeviceGetName");
  SYM(DeviceGetAttribute, "cuDeviceGetAttribute");
  SYM(DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  SYM(DevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease");
  SYM(CtxPushCurrent, "cuCtxPushCurrent_v2", "cuCtxPushCurrent");
  SYM(CtxPopCurrent, "cuCtxPopCurrent_v2", "cuCtxPopCurrent");
  SYM(CtxSynchronize, "cuCtxSynchronize");
  SYM(ModuleLoadDataEx, "cuModuleLoadDataEx");
  SYM(ModuleUnload, "cuModuleUnload");
  SYM(ModuleGetFunction, "cuModuleGetFunction");
  SYM(FuncSetAttribute, "cuFuncSetAttribute");
  SYM(LaunchKernel, "cuLaunchKernel");
  SYM(MemAlloc, "cuMemAlloc_v2", "cuMemAlloc");
  SYM(MemFree, "cuMemFree_v2", "cuMemFree");
  SYM(MemsetD8, "cuMemsetD8_v2", "cuMemsetD8");
  SYM(MemcpyHtoD, "cuMemcpyHtoD_v2", "cuMemcpyHtoD");
  SYM(MemcpyDtoH, "cuMemcpyDtoH_v2", "cuMemcpyDtoH");
  SYM(MemcpyDtoD, "cuMemcpyDtoD_v2", "cuMemcpyDtoD");
  SYM(EventCreate, "cuEventCreate");
  SYM(EventRecord, "cuEventRecord");
  SYM(EventSynchronize, "cuEventSynchronize");
  SYM(EventElapsedTime, "cuEventElapsedTime_v2", "cuEventElapsedTime");
  SYM(EventDestroy, "cuEventDestroy_v2", "cuEventDestroy");
  SYM(GetErrorName, "cuGetErrorName");
  SYM(GetErrorString, "cuGetErrorString");
#undef SYM
  return NULL;
}

/* ------------------------------------------------------------ device state */

typedef struct cuda_device {
  cuda_api_t api;
  CUdevice dev;
  CUcontext ctx;
  bool ctx_retained;
  CUevent base; /* recorded at open: event times are measured from it */
  int32_t ordinal, cc_major, cc_minor, sms;
  char name[256];
  char profile[64]; /* "" until chosen */
  char driver[512]; /* driver=PATH: another libcuda (tests use a fake one); "" = libcuda.so.1 */
} cuda_device_t;

static const qiao_hal_device_ops_t kCudaOps;

/* A status from a failed driver call: "cuda:0: cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY
 * (out of memory)". */
static qiao_status_t cu_status(const cuda_device_t *s, const char *uri, const char *what,
                               CUresult r) {
  const char *name = NULL, *text = NULL;
  if (s->api.GetErrorName) s->api.GetErrorName(r, &name);
  if (s->api.GetErrorString) s->api.GetErrorString(r, &text);
  return qiao_status_make(r == 2 ? QIAO_RESOURCE_EXHAUSTED : QIAO_UNAVAILABLE, "%s: %s: %s (%s)",
                          uri, what, name ? name : "CUDA error", text ? text : "no description");
}

#define CU_TRY(s, uri, call, what)                                                                 \
  do {                                                                                             \
    CUresult r_ = (call);                                                                          \
    if (r_ != 0) return cu_status((s), (uri), (what), r_);                                         \
  } while (0)

/* Makes the device's context current for the calling thread until cuda_leave. */
static qiao_status_t cuda_enter(cuda_device_t *s, const char *uri) {
  CU_TRY(s, uri, s->api.CtxPushCurrent(s->ctx), "cuCtxPushCurrent");
  return NULL;
}
/* cuda_enter for paths that cannot report (destroy, free): true when entered. */
static bool cuda_enter_quiet(cuda_device_t *s) { return s->api.CtxPushCurrent(s->ctx) == 0; }
static void cuda_leave(cuda_device_t *s) {
  CUcontext c;
  s->api.CtxPopCurrent(&c);
}

static void cuda_destroy(qiao_hal_device_t *d) {
  cuda_device_t *s = d->impl;
  if (!s) return;
  if (s->base && cuda_enter_quiet(s)) {
    s->api.EventDestroy(s->base);
    cuda_leave(s);
  }
  if (s->ctx_retained) s->api.DevicePrimaryCtxRelease(s->dev);
  if (s->api.lib) dlclose(s->api.lib);
  free(s);
}

static qiao_status_t cuda_profile_load(qiao_hal_device_t *d, qiao_hal_profile_t **out) {
  cuda_device_t *s = d->impl;
  if (!s->profile[0])
    return qiao_status_make(QIAO_NOT_FOUND,
                            "device '%s' (%s, sm_%d%d): no profile matches it; open it as "
                            "cuda:%d,profile=<name>",
                            d->uri, s->name, s->cc_major, s->cc_minor, s->ordinal);
  return qiao_hal_profile_load_named(s->profile, out);
}

/* ------------------------------------------------------------ buffers */

static qiao_status_t cuda_buffer_alloc(qiao_hal_device_t *d, qiao_hal_buffer_t *b) {
  cuda_device_t *s = d->impl;
  QIAO_RETURN_IF_ERROR(cuda_enter(s, d->uri));
  CUdeviceptr p = 0;
  size_t n = b->size ? b->size : 1;
  CUresult r = s->api.MemAlloc(&p, n);
  if (r == 0) r = s->api.MemsetD8(p, 0, n);
  if (r != 0 && p) s->api.MemFree(p);
  cuda_leave(s);
  if (r != 0) return cu_status(s, d->uri, "cuMemAlloc", r);
  b->impl = (void *)(uintptr_t)p;
  return NULL;
}

static void cuda_buffer_free(qiao_hal_device_t *d, qiao_hal_buffer_t *b) {
  cuda_device_t *s = d->impl;
  if (!b->impl || !cuda_enter_quiet(s)) return;
  s->api.MemFree((CUdeviceptr)(uintptr_t)b->impl);
  cuda_leave(s);
}

static CUdeviceptr dptr(const qiao_hal_buffer_t *b, size_t off) {
  return (CUdeviceptr)(uintptr_t)b->impl + off;
}

static qiao_status_t cuda_buffer_write(qiao_hal_buffer_t *b, size_t off, const void *src,
                                       size_t n) {
  cuda_device_t *s = b->device->impl;
  if (!n) return NULL;
  QIAO_RETURN_IF_ERROR(cuda_enter(s, b->device->uri));
  CUresult r = s->api.MemcpyHtoD(dptr(b, off), src, n);
  cuda_leave(s);
  return r ? cu_status(s, b->device->uri, "cuMemcpyHtoD", r) : NULL;
}

static qiao_status_t cuda_buffer_read(const qiao_hal_buffer_t *b, size_t off, void *dst, size_t n) {
  cuda_device_t *s = b->device->impl;
  if (!n) return NULL;
  QIAO_RETURN_IF_ERROR(cuda_enter(s, b->device->uri));
  CUresult r = s->api.MemcpyDtoH(dst, dptr(b, off), n);
  cuda_leave(s);
  return r ? cu_status(s, b->device->uri, "cuMemcpyDtoH", r) : NULL;
}

static qiao_status_t cuda_buffer_copy(const qiao_hal_buffer_t *src, size_t so,
                                      qiao_hal_buffer_t *dst, size_t doff, size_t n) {
  cuda_device_t *s = dst->device->impl;
  if (!n) return NULL;
  QIAO_RETURN_IF_ERROR(cuda_enter(s, dst->device->uri));
  CUresult r = s->api.MemcpyDtoD(dptr(dst, doff), dptr(src, so), n);
  cuda_leave(s);
  return r ? cu_status(s, dst->device->uri, "cuMemcpyDtoD", r) : NULL;
}

/* ------------------------------------------------------------ executables */

typedef struct cuda_entry {
  CUfunction fn;
  uint32_t nparams;
  uint32_t *sizes; /* bytes of each .param */
} cuda_entry_t;

typedef struct cuda_exe {
  cuda_device_t *s;
  CUmodule mod;
  int32_t n;
  cuda_entry_t *entries; /* parallel to e->entries */
} cuda_exe_t;

static char param_letter(const qiao_ptx_var_t *v) {
  if (v->ndims || v->vec) return 'l';
  switch (v->type) {
  case QIAO_PTX_T_U64:
  case QIAO_PTX_T_S64:
  case QIAO_PTX_T_B64: return 'p';
  case QIAO_PTX_T_F32: return 'f';
  case QIAO_PTX_T_F64: return 'd';
  default: return 'i';
  }
}

static uint32_t param_bytes(const qiao_ptx_var_t *v) {
  uint64_t n = qiao_ptx_type_size((qiao_ptx_type_t)v->type) * (v->vec ? v->vec : 1);
  for (int i = 0; i < v->ndims; ++i)
    n *= v->dims[i];
  return n > 4096 ? 4096 : (uint32_t)n;
}

/* Entry records from the module (signatures as simt-emu makes them), or the spec's. */
static qiao_status_t cuda_entries_init(qiao_hal_executable_t *e, const qiao_ptx_module_t *m,
                                       const qiao_hal_executable_spec_t *spec) {
  if (spec->n_records > 0) {
    for (int32_t i = 0; i < spec->n_records; ++i) {
      const qiao_ptx_func_t *f = qiao_ptx_module_find_func(m, spec->records[i].name);
      if (!f || !f->is_entry)
        return qiao_status_make(QIAO_NOT_FOUND, "PTX executable: no .entry '%s' in the module",
                                spec->records[i].name);
    }
    return qiao_hal_executable_init_entries(e, spec->records, spec->n_records, false);
  }
  int32_t n = 0;
  for (uint32_t i = 0; i < m->nfuncs; ++i)
    if (m->funcs[i].is_entry && m->funcs[i].has_body) ++n;
  qiao_hal_entry_record_t *recs = calloc((size_t)n + 1, sizeof *recs);
  char **sigs = calloc((size_t)n + 1, sizeof *sigs);
  qiao_status_t st = NULL;
  int32_t k = 0;
  if (!recs || !sigs) {
    st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    goto out;
  }
  for (uint32_t i = 0; i < m->nfuncs; ++i) {
    const qiao_ptx_func_t *f = &m->funcs[i];
    if (!f->is_entry || !f->has_body) continue;
    sigs[k] = calloc(f->nparams + 2, 1);
    if (!sigs[k]) {
      st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
      goto out;
    }
    sigs[k][0] = 'v';
    int32_t nb = 0;
    for (uint32_t j = 0; j < f->nparams; ++j)
      if ((sigs[k][j + 1] = param_letter(&f->params[j])) == 'p') ++nb;
    recs[k] =
        (qiao_hal_entry_record_t){f->name, sigs[k], nb, (int32_t)f->nparams - nb, 0, NULL, NULL};
    ++k;
  }
  st = qiao_hal_executable_init_entries(e, recs, n, false);
out:
  for (int32_t i = 0; sigs && i < n; ++i)
    free(sigs[i]);
  free(sigs);
  free(recs);
  return st;
}

static void cuda_exe_free(cuda_exe_t *x) {
  if (!x) return;
  for (int32_t i = 0; i < x->n; ++i)
    free(x->entries[i].sizes);
  free(x->entries);
  if (x->mod && cuda_enter_quiet(x->s)) {
    x->s->api.ModuleUnload(x->mod);
    cuda_leave(x->s);
  }
  free(x);
}

static qiao_status_t cuda_executable_create(qiao_hal_device_t *d,
                                            const qiao_hal_executable_spec_t *spec,
                                            qiao_hal_executable_t *e) {
  cuda_device_t *s = d->impl;
  qiao_ptx_module_t *m = NULL;
  QIAO_RETURN_IF_ERROR(qiao_ptx_parse(spec->data, spec->size, "<ptx>", &m));
  qiao_status_t st = cuda_entries_init(e, m, spec);
  cuda_exe_t *x = st ? NULL : calloc(1, sizeof *x);
  if (!st && !x) st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  if (st) {
    qiao_ptx_module_destroy(m);
    return st;
  }
  x->s = s;
  e->impl = x;
  /* The driver wants NUL-terminated text. */
  char *text = malloc(spec->size + 1);
  x->entries = calloc((size_t)e->n_entries + 1, sizeof *x->entries);
  if (!text || !x->entries) {
    free(text);
    qiao_ptx_module_destroy(m);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  memcpy(text, spec->data, spec->size);
  text[spec->size] = 0;
  st = cuda_enter(s, d->uri);
  if (st) {
    free(text);
    qiao_ptx_module_destroy(m);
    return st;
  }
  char errlog[8192] = "", infolog[4096] = "";
  CUjit_option opts[4] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                          CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES};
  void *vals[4] = {errlog, (void *)(uintptr_t)sizeof errlog, infolog,
                   (void *)(uintptr_t)sizeof infolog};
  CUresult r = s->api.ModuleLoadDataEx(&x->mod, text, 4, opts, vals);
  free(text);
  if (r != 0) {
    qiao_status_t bad = cu_status(s, d->uri, "cuModuleLoadDataEx", r);
    errlog[sizeof errlog - 1] = 0;
    if (errlog[0]) bad = qiao_status_annotate(bad, "PTX JIT log: %s", errlog);
    x->mod = NULL;
    cuda_leave(s);
    qiao_ptx_module_destroy(m);
    return bad;
  }
  for (int32_t i = 0; i < e->n_entries && !st; ++i) {
    const char *name = e->entries[i].rec.name;
    const qiao_ptx_func_t *f = qiao_ptx_module_find_func(m, name);
    cuda_entry_t *ce = &x->entries[i];
    x->n = i + 1;
    r = s->api.ModuleGetFunction(&ce->fn, x->mod, name);
    if (r != 0) {
      st = qiao_status_annotate(cu_status(s, d->uri, "cuModuleGetFunction", r), "entry '%s'", name);
      break;
    }
    ce->nparams = f->nparams;
    ce->sizes = calloc(f->nparams + 1, sizeof *ce->sizes);
    if (!ce->sizes) {
      st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
      break;
    }
    for (uint32_t j = 0; j < f->nparams; ++j)
      ce->sizes[j] = param_bytes(&f->params[j]);
  }
  cuda_leave(s);
  qiao_ptx_module_destroy(m);
  return st;
}

static void cuda_executable_destroy(qiao_hal_executable_t *e) { cuda_exe_free(e->impl); }

/* ------------------------------------------------------------ dispatch */

/* Checks the grid against the CUDA limits. */
static qiao_status_t check_grid(const qiao_hal_device_t *d, const char *name,
                                const qiao_hal_launch_config_t *cfg) {
  if (cfg->grid[0] > 2147483647 || cfg->grid[1] > 65535 || cfg->grid[2] > 65535)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "%s: launch of '%s': grid (%lld,%lld,%lld) exceeds the CUDA limits "
                            "(2^31-1, 65535, 65535)",
                            d->uri, name, (long long)cfg->grid[0], (long long)cfg->grid[1],
                            (long long)cfg->grid[2]);
  return NULL;
}

/* cuLaunchKernel of entry `index` with the parameter array `params`, then synchronize;
 * with out_ms, the kernel's time between two events around it. */
static qiao_status_t cuda_launch(qiao_hal_device_t *d, qiao_hal_executable_t *e, int32_t index,
                                 const qiao_hal_launch_config_t *cfg, void **params,
                                 double *out_ms) {
  cuda_device_t *s = d->impl;
  const cuda_entry_t *ce = &((cuda_exe_t *)e->impl)->entries[index];
  const char *name = e->entries[index].rec.name;
  QIAO_RETURN_IF_ERROR(cuda_enter(s, d->uri));
  CUevent e0 = NULL, e1 = NULL;
  CUresult r = 0;
  const char *what = "cuFuncSetAttribute";
  if (cfg->shared_bytes > 48 * 1024)
    r = s->api.FuncSetAttribute(ce->fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                (int)cfg->shared_bytes);
  if (r == 0 && out_ms) {
    what = "cuEventCreate";
    r = s->api.EventCreate(&e0, CU_EVENT_DEFAULT);
    if (r == 0) r = s->api.EventCreate(&e1, CU_EVENT_DEFAULT);
    if (r == 0) r = s->api.EventRecord(e0, NULL);
  }
  if (r == 0) {
    what = "cuLaunchKernel";
    r = s->api.LaunchKernel(ce->fn, (unsigned)cfg->grid[0], (unsigned)cfg->grid[1],
                            (unsigned)cfg->grid[2], (unsigned)cfg->block[0],
                            (unsigned)cfg->block[1], (unsigned)cfg->block[2],
                            (unsigned)cfg->shared_bytes, NULL, params, NULL);
  }
  if (r == 0 && out_ms) r = s->api.EventRecord(e1, NULL);
  if (r == 0) {
    what = "kernel execution (cuCtxSynchronize)";
    r = s->api.CtxSynchronize();
  }
  if (r == 0 && out_ms) {
    float ms = 0;
    what = "cuEventElapsedTime";
    r = s->api.EventElapsedTime(&ms, e0, e1);
    *out_ms = ms;
  }
  if (e0) s->api.EventDestroy(e0);
  if (e1) s->api.EventDestroy(e1);
  cuda_leave(s);
  if (r != 0) return qiao_status_annotate(cu_status(s, d->uri, what, r), "entry '%s'", name);
  return NULL;
}

static qiao_status_t cuda_dispatch(qiao_hal_device_t *d, qiao_hal_executable_t *e, int32_t index,
                                   const qiao_hal_launch_config_t *cfg,
                                   const qiao_hal_binding_t *bindings, const int64_t *constants) {
  cuda_exe_t *x = e->impl;
  const qiao_hal_entry_t *en = &e->entries[index];
  const cuda_entry_t *ce = &x->entries[index];
  QIAO_RETURN_IF_ERROR(check_grid(d, en->rec.name, cfg));
  uint8_t *store = calloc(ce->nparams + 1, 4096 + 8);
  void **params = calloc(ce->nparams + 1, sizeof *params);
  qiao_status_t st = NULL;
  if (!store || !params) {
    st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    goto out;
  }
  const char *sig = en->rec.signature;
  int32_t bi = 0, ci = 0;
  for (uint32_t j = 0; j < ce->nparams; ++j) {
    uint8_t *dst = store + (size_t)j * (4096 + 8);
    params[j] = dst;
    uint32_t sz = ce->sizes[j];
    if (sig[j + 1] == 'p' && bi < en->rec.n_bindings) {
      uint64_t a = dptr(bindings[bi].buffer, bindings[bi].offset);
      ++bi;
      memcpy(dst, &a, sz < 8 ? sz : 8);
    } else if (ci < en->rec.n_constants && sz <= 8) {
      memcpy(dst, &constants[ci++], sz); /* little-endian: the low bytes */
    } else {
      st = qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "%s: dispatch of '%s': no binding or constant for parameter %u (%u "
                            "bytes)",
                            d->uri, en->rec.name, j, sz);
      goto out;
    }
  }
  st = cuda_launch(d, e, index, cfg, params, NULL);
out:
  free(store);
  free(params);
  return st;
}

static qiao_status_t cuda_event_record(qiao_hal_device_t *d, qiao_hal_event_t *out) {
  cuda_device_t *s = d->impl;
  QIAO_RETURN_IF_ERROR(cuda_enter(s, d->uri));
  CUevent ev = NULL;
  float ms = 0;
  CUresult r = s->api.EventCreate(&ev, CU_EVENT_DEFAULT);
  if (r == 0) r = s->api.EventRecord(ev, NULL);
  if (r == 0) r = s->api.EventSynchronize(ev);
  if (r == 0) r = s->api.EventElapsedTime(&ms, s->base, ev);
  if (ev) s->api.EventDestroy(ev);
  cuda_leave(s);
  if (r != 0) return cu_status(s, d->uri, "event", r);
  out->ns = (uint64_t)((double)ms * 1e6);
  out->kind = QIAO_HAL_TIME_MEASURED;
  return NULL;
}

static const qiao_hal_device_ops_t kCudaOps = {
    .driver = "cuda",
    .device_class = QIAO_HAL_CLASS_CUDA,
    .formats = 1u << QIAO_HAL_FORMAT_PTX,
    .destroy = cuda_destroy,
    .profile_load = cuda_profile_load,
    .buffer_alloc = cuda_buffer_alloc,
    .buffer_free = cuda_buffer_free,
    .buffer_write = cuda_buffer_write,
    .buffer_read = cuda_buffer_read,
    .buffer_copy = cuda_buffer_copy,
    .executable_create = cuda_executable_create,
    .executable_destroy = cuda_executable_destroy,
    .dispatch = cuda_dispatch,
    .event_record = cuda_event_record,
};

/* ------------------------------------------------------------ open */

static void choose_profile(cuda_device_t *s) {
  const char *n = s->name;
  if (strstr(n, "H200"))
    snprintf(s->profile, sizeof s->profile, "h200");
  else if (strstr(n, "H20"))
    snprintf(s->profile, sizeof s->profile, "h20");
  else if (strstr(n, "H100"))
    snprintf(s->profile, sizeof s->profile, "h100");
  else if (strstr(n, "A100"))
    snprintf(s->profile, sizeof s->profile, "a100");
  else if (s->cc_major == 9)
    snprintf(s->profile, sizeof s->profile, "h100");
  else if (s->cc_major == 8 && s->cc_minor == 0)
    snprintf(s->profile, sizeof s->profile, "a100");
}

/* Parses "N[,profile=P][,driver=PATH]". */
static qiao_status_t parse_options(const char *uri, const char *options, cuda_device_t *s) {
  const char *p = options ? options : "";
  size_t len = strcspn(p, ",");
  s->ordinal = 0;
  if (len) {
    int v = 0;
    for (size_t i = 0; i < len; ++i) {
      if (p[i] < '0' || p[i] > '9' || v > 1000)
        return qiao_status_make(QIAO_INVALID_ARGUMENT,
                                "device URI '%s': expected cuda:N with N a device ordinal", uri);
      v = v * 10 + (p[i] - '0');
    }
    s->ordinal = v;
  }
  p += len;
  while (*p == ',') {
    ++p;
    len = strcspn(p, ",");
    if (len > 8 && !strncmp(p, "profile=", 8) && len - 8 < sizeof s->profile) {
      memcpy(s->profile, p + 8, len - 8);
      s->profile[len - 8] = 0;
    } else if (len > 7 && !strncmp(p, "driver=", 7) && len - 7 < sizeof s->driver) {
      memcpy(s->driver, p + 7, len - 7);
      s->driver[len - 7] = 0;
    } else {
      return qiao_status_make(QIAO_INVALID_ARGUMENT,
                              "device URI '%s': unknown option '%.*s' (known: profile=P, "
                              "driver=PATH)",
                              uri, (int)len, p);
    }
    p += len;
  }
  return NULL;
}

qiao_status_t qiao_hal_cuda_device_open(const char *uri, const char *options,
                                        qiao_hal_device_t **out_device) {
  *out_device = NULL;
  cuda_device_t *s = calloc(1, sizeof *s);
  qiao_hal_device_t *d = calloc(1, sizeof *d);
  qiao_status_t st = NULL;
  if (!s || !d) {
    free(s);
    free(d);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "device '%s': out of memory", uri);
  }
  d->impl = s;
  if ((st = parse_options(uri, options, s))) goto fail;
  bool profile_given = s->profile[0] != 0;
  s->api.lib = dlopen(s->driver[0] ? s->driver : "libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!s->api.lib) {
    if (s->driver[0])
      st = qiao_status_make(QIAO_UNAVAILABLE, "cuda: cannot load the driver '%s': %s", s->driver,
                            dlerror());
    else
      st = qiao_status_make(QIAO_UNAVAILABLE, "cuda: no CUDA driver found (libcuda.so.1)");
    goto fail;
  }
  const char *missing = cuda_api_resolve(&s->api);
  if (missing) {
    st = qiao_status_make(QIAO_UNAVAILABLE,
                          "cuda: libcuda.so.1 lacks '%s' (a driver older than CUDA 11?)", missing);
    goto fail;
  }
  CUresult r = s->api.Init(0);
  if (r != 0) {
    st = cu_status(s, uri, "cuInit", r);
    goto fail;
  }
  int count = 0;
  r = s->api.DeviceGetCount(&count);
  if (r != 0) {
    st = cu_status(s, uri, "cuDeviceGetCount", r);
    goto fail;
  }
  if (s->ordinal >= count) {
    st = qiao_status_make(QIAO_NOT_FOUND, "device URI '%s': %d CUDA device(s) present (cuda:0..%d)",
                          uri, count, count - 1);
    goto fail;
  }
  if ((r = s->api.DeviceGet(&s->dev, s->ordinal)) != 0 ||
      (r = s->api.DeviceGetName(s->name, (int)sizeof s->name - 1, s->dev)) != 0 ||
      (r = s->api.DeviceGetAttribute(&s->cc_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                                     s->dev)) != 0 ||
      (r = s->api.DeviceGetAttribute(&s->cc_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                                     s->dev)) != 0 ||
      (r = s->api.DeviceGetAttribute(&s->sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, s->dev)) !=
          0) {
    st = cu_status(s, uri, "querying the device", r);
    goto fail;
  }
  if ((r = s->api.DevicePrimaryCtxRetain(&s->ctx, s->dev)) != 0) {
    st = cu_status(s, uri, "cuDevicePrimaryCtxRetain", r);
    goto fail;
  }
  s->ctx_retained = true;
  if ((st = cuda_enter(s, uri))) goto fail;
  r = s->api.EventCreate(&s->base, CU_EVENT_DEFAULT);
  if (r == 0) r = s->api.EventRecord(s->base, NULL);
  cuda_leave(s);
  if (r != 0) {
    st = cu_status(s, uri, "cuEventCreate", r);
    goto fail;
  }
  if (!profile_given) choose_profile(s);
  if ((st = qiao_hal_device_init(d, &kCudaOps, uri))) goto fail;
  d->thread_count = 1;
  d->host_visible = false;
  *out_device = d;
  return NULL;
fail:
  cuda_destroy(d);
  free(d);
  return st;
}

/* ------------------------------------------------------------ extension calls */

qiao_status_t qiao_hal_cuda_buffer_address(qiao_hal_buffer_t *b, size_t offset,
                                           uint64_t *out_address) {
  if (!b || b->device->ops != &kCudaOps)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "not a buffer of a cuda device");
  if (offset > b->size)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "offset %zu past the buffer's %zu bytes", offset,
                            b->size);
  *out_address = dptr(b, offset);
  return NULL;
}

qiao_status_t qiao_hal_cuda_launch_args(qiao_hal_device_t *d, qiao_hal_executable_t *e,
                                        int32_t index, const qiao_hal_launch_config_t *cfg,
                                        void *const *args, int32_t n_args, double *out_ms) {
  if (!d || d->ops != &kCudaOps)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "not a cuda device");
  if (!e || e->device != d)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: the executable is not this device's",
                            d->uri);
  if (index < 0 || index >= e->n_entries)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: no entry %d (the executable has %d)",
                            d->uri, index, e->n_entries);
  const cuda_entry_t *ce = &((cuda_exe_t *)e->impl)->entries[index];
  const char *name = e->entries[index].rec.name;
  if (n_args != (int32_t)ce->nparams || (n_args && !args))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: '%s' takes %u parameters, %d given", d->uri,
                            name, ce->nparams, n_args);
  for (int k = 0; k < 3; ++k)
    if (cfg->grid[k] < 1 || cfg->block[k] < 1)
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: launch of '%s': empty grid or block",
                              d->uri, name);
  QIAO_RETURN_IF_ERROR(check_grid(d, name, cfg));
  return cuda_launch(d, e, index, cfg, (void **)args, out_ms);
}
