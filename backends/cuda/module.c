/* CUDA backend — module lifecycle: the NVPTX target machine (sm_80/sm_90,
 * +ptx80), one LLVM module of kernels, verify + default<O3>, PTX / LLVM IR
 * emission (atomic files) and loading as a HAL PTX executable.
 *
 * Integration note: target-machine creation, the O3 pipeline and atomic file
 * writes mirror backends/cpu/module.c; they are kept here (NVPTX-specific
 * target init) until backends/common grows the shared module lifecycle. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "cuda/module.h"

#define CUDA_TRIPLE "nvptx64-nvidia-cuda"
#define CUDA_FEATURES "+ptx80"

typedef struct cuda_entry {
  char name[64];
  int32_t n_bindings;
  uint64_t binding_bytes[QIAO_KD_MAX_OPERANDS + 2];
} cuda_entry_t;

struct qiao_cuda_module {
  qiao_cuda_codegen_t cg;
  int32_t opt_level;
  bool optimized;
  char *ptx; /* cached after the first emission (codegen passes change the IR) */
  size_t ptx_len;
  int32_t n_entries, cap_entries;
  cuda_entry_t *entries;
};

static pthread_once_t g_nvptx_once = PTHREAD_ONCE_INIT;
static void nvptx_init_once(void) {
  LLVMInitializeNVPTXTargetInfo();
  LLVMInitializeNVPTXTarget();
  LLVMInitializeNVPTXTargetMC();
  LLVMInitializeNVPTXAsmPrinter();
}

qiao_status_t qiao_cuda_module_create(const qiao_cuda_options_t *o, qiao_cuda_module_t **out) {
  *out = NULL;
  pthread_once(&g_nvptx_once, nvptx_init_once);
  const char *sm = o && o->sm && *o->sm ? o->sm : "sm_90";
  if (strncmp(sm, "sm_", 3) != 0 || atoi(sm + 3) < 75)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "cuda: target '%s' is not an sm_XX of 75 or newer (ptxas accepts "
                            "sm_75+; Qiao targets sm_80 and sm_90)",
                            sm);
  if (strlen(sm) >= sizeof(((qiao_cuda_codegen_t *)0)->sm))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "cuda: target '%s' is too long", sm);
  const char *features = o && o->features ? o->features : CUDA_FEATURES;
  LLVMTargetRef target;
  char *err = NULL;
  if (LLVMGetTargetFromTriple(CUDA_TRIPLE, &target, &err)) {
    qiao_status_t st = qiao_status_make(QIAO_INTERNAL, "LLVM has no target for '%s': %s",
                                        CUDA_TRIPLE, err ? err : "?");
    LLVMDisposeMessage(err);
    return st;
  }
  qiao_cuda_module_t *m = calloc(1, sizeof *m);
  if (!m) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  qiao_cuda_codegen_t *cg = &m->cg;
  snprintf(cg->sm, sizeof cg->sm, "%s", sm);
  cg->n_sms = o && o->n_sms > 0 ? o->n_sms : 132;
  m->opt_level = o && o->opt_level ? (o->opt_level < 0 ? 0 : o->opt_level) : 3;
  cg->tm = LLVMCreateTargetMachine(target, CUDA_TRIPLE, sm, features,
                                   m->opt_level >= 2 ? LLVMCodeGenLevelAggressive
                                                     : LLVMCodeGenLevelNone,
                                   LLVMRelocDefault, LLVMCodeModelDefault);
  cg->td = LLVMCreateTargetDataLayout(cg->tm);
  cg->ctx = LLVMContextCreate();
  cg->mod = LLVMModuleCreateWithNameInContext("qiao.cuda", cg->ctx);
  LLVMSetTarget(cg->mod, CUDA_TRIPLE);
  char *dl = LLVMCopyStringRepOfTargetData(cg->td);
  LLVMSetDataLayout(cg->mod, dl);
  LLVMDisposeMessage(dl);
  cg->b = LLVMCreateBuilderInContext(cg->ctx);
  qiao_cg_init_types(&cg->base);
  cg->vec_bytes = 16; /* 128-bit ld.global.v4 */
  cg->vec_f32 = 4;
  cg->math = &qiao_math_portable; /* no libm on the device */
  cg->t_gptr = LLVMPointerTypeInContext(cg->ctx, QIAO_CUDA_AS_GLOBAL);
  cg->t_sptr = LLVMPointerTypeInContext(cg->ctx, QIAO_CUDA_AS_SHARED);
  *out = m;
  return NULL;
}

void qiao_cuda_module_destroy(qiao_cuda_module_t *m) {
  if (!m) return;
  qiao_cuda_codegen_t *cg = &m->cg;
  if (cg->b) LLVMDisposeBuilder(cg->b);
  if (cg->mod) LLVMDisposeModule(cg->mod);
  if (cg->ctx) LLVMContextDispose(cg->ctx);
  if (cg->td) LLVMDisposeTargetData(cg->td);
  if (cg->tm) LLVMDisposeTargetMachine(cg->tm);
  free(m->ptx);
  free(m->entries);
  free(m);
}

const char *qiao_cuda_module_sm(const qiao_cuda_module_t *m) { return m->cg.sm; }

qiao_status_t qiao_cuda_module_add_kernel(qiao_cuda_module_t *m, const qiao_kernel_desc_t *kd,
                                          const char *name, qiao_kernel_launch_t *out_launch) {
  if (m->optimized)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "cuda: module is already optimized");
  char nm[64];
  if (name && *name) {
    if (strlen(name) >= sizeof nm)
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "cuda: kernel name '%s' is too long", name);
    snprintf(nm, sizeof nm, "%s", name);
  } else {
    snprintf(nm, sizeof nm, "k%d", (int)m->n_entries);
  }
  if (LLVMGetNamedFunction(m->cg.mod, nm))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "cuda: kernel '%s' already exists", nm);
  if (kd->n_inputs + kd->n_outputs > QIAO_KD_MAX_OPERANDS + 2 || kd->n_outputs < 1)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "cuda: kernel '%s' has %d bindings", nm,
                            (int)(kd->n_inputs + kd->n_outputs));
  qiao_cuda_kernel_t k;
  memset(&k, 0, sizeof k);
  for (int i = 0; i < 3; ++i)
    k.grid[i] = 1, k.block[i] = 1;
  qiao_cuda_codegen_t *cg = &m->cg;
  qiao_status_t st;
  switch (kd->kind) {
  case QIAO_KD_ELEMENTWISE: st = qiao_cuda_lower_elementwise(cg, kd, nm, &k); break;
  case QIAO_KD_REDUCE: st = qiao_cuda_lower_reduce(cg, kd, nm, &k); break;
  case QIAO_KD_SOFTMAX: st = qiao_cuda_lower_softmax(cg, kd, nm, &k); break;
  case QIAO_KD_NORM: st = qiao_cuda_lower_norm(cg, kd, nm, &k); break;
  case QIAO_KD_COPY: st = qiao_cuda_lower_copy(cg, kd, nm, &k); break;
  case QIAO_KD_GATHER: st = qiao_cuda_lower_gather(cg, kd, nm, &k); break;
  case QIAO_KD_MATMUL: st = qiao_cuda_lower_matmul(cg, kd, nm, &k); break;
  case QIAO_KD_TOPK: st = qiao_cuda_lower_topk(cg, kd, nm, &k); break;
  case QIAO_KD_ATTENTION: st = qiao_cuda_lower_attention(cg, kd, nm, &k); break;
  case QIAO_KD_MOE: st = qiao_cuda_lower_moe(cg, kd, nm, &k); break;
  default:
    st = qiao_status_make(QIAO_UNSUPPORTED, "%s is not lowered for the CUDA class yet",
                          qiao_kd_kind_name(kd->kind));
  }
  if (!st && k.n_phases > QIAO_KERNEL_MAX_PHASES)
    st = qiao_status_make(QIAO_INTERNAL, "cuda: kernel '%s' has %d phases", nm, (int)k.n_phases);
  for (int32_t i = 1; !st && i < k.n_phases; ++i)
    if (!LLVMGetNamedFunction(cg->mod, k.phases[i].name))
      st = qiao_status_make(QIAO_INTERNAL, "cuda: phase '%s' of '%s' was not emitted",
                            k.phases[i].name, nm);
  if (st) {
    LLVMValueRef fn = LLVMGetNamedFunction(cg->mod, nm);
    if (fn) LLVMDeleteFunction(fn);
    for (int32_t i = 0; i < k.n_phases && i < QIAO_KERNEL_MAX_PHASES; ++i) {
      fn = k.phases[i].name[0] ? LLVMGetNamedFunction(cg->mod, k.phases[i].name) : NULL;
      if (fn) LLVMDeleteFunction(fn);
    }
    return st;
  }
  int32_t n_new = k.n_phases > 1 ? k.n_phases : 1;
  while (m->n_entries + n_new > m->cap_entries) {
    int32_t cap = m->cap_entries ? 2 * m->cap_entries : 8;
    cuda_entry_t *e = realloc(m->entries, sizeof *e * (size_t)cap);
    if (!e) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    m->entries = e;
    m->cap_entries = cap;
  }
  qiao_kernel_launch_t l;
  memset(&l, 0, sizeof l);
  snprintf(l.name, sizeof l.name, "%s", nm);
  for (int i = 0; i < 3; ++i) {
    l.grid[i] = k.grid[i];
    l.block[i] = k.block[i];
  }
  l.shared_bytes = 0; /* shared memory is static (declared in the PTX) */
  qiao_kernel_launch_set_bindings(&l, kd);
  if (k.n_phases > 1) {
    /* every phase is an entry taking the bindings and the trailing workspace */
    l.workspace_bytes = (uint64_t)k.workspace_bytes;
    l.n_phases = k.n_phases;
    for (int32_t i = 0; i < k.n_phases; ++i) {
      qiao_kernel_phase_t *ph = &l.phases[i];
      snprintf(ph->name, sizeof ph->name, "%s", k.phases[i].name);
      for (int a = 0; a < 3; ++a) {
        ph->grid[a] = k.phases[i].grid[a];
        ph->block[a] = k.phases[i].block[a];
      }
      ph->shared_bytes = 0;
      cuda_entry_t *e = &m->entries[m->n_entries++];
      memset(e, 0, sizeof *e);
      snprintf(e->name, sizeof e->name, "%s", ph->name);
      e->n_bindings = l.n_bindings + (l.workspace_bytes > 0 ? 1 : 0);
      memcpy(e->binding_bytes, l.binding_bytes, sizeof e->binding_bytes);
      if (l.workspace_bytes > 0) e->binding_bytes[l.n_bindings] = l.workspace_bytes;
    }
  } else {
    cuda_entry_t *e = &m->entries[m->n_entries++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", nm);
    e->n_bindings = l.n_bindings;
    memcpy(e->binding_bytes, l.binding_bytes, sizeof e->binding_bytes);
  }
  if (out_launch) *out_launch = l;
  return NULL;
}

qiao_status_t qiao_cuda_module_add_kernel_variant(qiao_cuda_module_t *m,
                                                  const qiao_kernel_desc_t *kd, const char *name,
                                                  int32_t variant,
                                                  qiao_kernel_launch_t *out_launch) {
  m->cg.variant = variant;
  qiao_status_t st = qiao_cuda_module_add_kernel(m, kd, name, out_launch);
  m->cg.variant = 0;
  return st;
}

qiao_status_t qiao_cuda_module_optimize(qiao_cuda_module_t *m) {
  qiao_cuda_codegen_t *cg = &m->cg;
  if (m->optimized) return NULL;
  char *msg = NULL;
  if (LLVMVerifyModule(cg->mod, LLVMReturnStatusAction, &msg)) {
    qiao_status_t st = qiao_status_make(QIAO_INTERNAL, "cuda: generated LLVM IR is invalid: %s",
                                        msg ? msg : "?");
    LLVMDisposeMessage(msg);
    return st;
  }
  LLVMDisposeMessage(msg);
  char pipeline[32];
  snprintf(pipeline, sizeof pipeline, "default<O%d>", (int)m->opt_level);
  LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
  LLVMErrorRef err = LLVMRunPasses(cg->mod, pipeline, cg->tm, po);
  LLVMDisposePassBuilderOptions(po);
  if (err) {
    char *em = LLVMGetErrorMessage(err);
    qiao_status_t st = qiao_status_make(QIAO_INTERNAL, "cuda: LLVM pass pipeline failed: %s", em);
    LLVMDisposeErrorMessage(em);
    return st;
  }
  m->optimized = true;
  return NULL;
}

static qiao_status_t module_ptx(qiao_cuda_module_t *m) {
  if (m->ptx) return NULL;
  QIAO_RETURN_IF_ERROR(qiao_cuda_module_optimize(m));
  char *err = NULL;
  LLVMMemoryBufferRef buf = NULL;
  if (LLVMTargetMachineEmitToMemoryBuffer(m->cg.tm, m->cg.mod, LLVMAssemblyFile, &err, &buf)) {
    qiao_status_t st =
        qiao_status_make(QIAO_INTERNAL, "cuda: cannot emit PTX: %s", err ? err : "?");
    LLVMDisposeMessage(err);
    return st;
  }
  size_t n = LLVMGetBufferSize(buf);
  m->ptx = malloc(n + 1);
  if (!m->ptx) {
    LLVMDisposeMemoryBuffer(buf);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  memcpy(m->ptx, LLVMGetBufferStart(buf), n);
  m->ptx[n] = '\0';
  m->ptx_len = strlen(m->ptx); /* the buffer may carry a trailing NUL */
  LLVMDisposeMemoryBuffer(buf);
  return NULL;
}

qiao_status_t qiao_cuda_module_ptx(qiao_cuda_module_t *m, const char **out_text,
                                   size_t *out_len) {
  *out_text = NULL;
  QIAO_RETURN_IF_ERROR(module_ptx(m));
  *out_text = m->ptx;
  if (out_len) *out_len = m->ptx_len;
  return NULL;
}

/* Writes `n` bytes to `path` through a temp file and rename. */
static qiao_status_t write_atomic(const char *path, const char *data, size_t n) {
  char tmp[4096];
  int k = snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  if (k < 0 || (size_t)k >= sizeof tmp)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: path too long", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) return qiao_status_make(QIAO_IO_ERROR, "%s: cannot write: %s", path, strerror(errno));
  bool ok = fwrite(data, 1, n, f) == n;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    qiao_status_t st =
        qiao_status_make(QIAO_IO_ERROR, "%s: cannot write: %s", path, strerror(errno));
    unlink(tmp);
    return st;
  }
  return NULL;
}

qiao_status_t qiao_cuda_module_emit_ptx(qiao_cuda_module_t *m, const char *path) {
  QIAO_RETURN_IF_ERROR(module_ptx(m));
  return write_atomic(path, m->ptx, m->ptx_len);
}

qiao_status_t qiao_cuda_module_emit_llvm(qiao_cuda_module_t *m, const char *path) {
  char *s = LLVMPrintModuleToString(m->cg.mod);
  if (!s) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  qiao_status_t st = write_atomic(path, s, strlen(s));
  LLVMDisposeMessage(s);
  return st;
}

qiao_status_t qiao_cuda_module_load(qiao_cuda_module_t *m, qiao_hal_device_t *d,
                                    qiao_hal_executable_t **out_exe) {
  *out_exe = NULL;
  QIAO_RETURN_IF_ERROR(module_ptx(m));
  int32_t n = m->n_entries;
  qiao_hal_entry_record_t *rec = calloc((size_t)(n > 0 ? n : 1), sizeof *rec);
  char(*sig)[QIAO_KD_MAX_OPERANDS + 4] = calloc((size_t)(n > 0 ? n : 1), sizeof *sig);
  if (!rec || !sig) {
    free(rec);
    free(sig);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  for (int32_t i = 0; i < n; ++i) {
    cuda_entry_t *e = &m->entries[i];
    /* "v" then one "p" per binding: void kernel(ptr b0, ..., ptr b{n-1}) */
    sig[i][0] = 'v';
    for (int32_t k = 0; k < e->n_bindings; ++k)
      sig[i][1 + k] = 'p';
    rec[i] = (qiao_hal_entry_record_t){.name = e->name,
                                       .signature = sig[i],
                                       .n_bindings = e->n_bindings,
                                       .n_constants = 0,
                                       .scratch_bytes = 0,
                                       .fn = NULL,
                                       .binding_bytes = e->binding_bytes};
  }
  qiao_hal_executable_spec_t spec = {.format = QIAO_HAL_FORMAT_PTX,
                                     .data = m->ptx,
                                     .size = m->ptx_len,
                                     .records = rec,
                                     .n_records = n};
  qiao_status_t st = qiao_hal_executable_create(d, &spec, out_exe);
  free(rec);
  free(sig);
  return st;
}
