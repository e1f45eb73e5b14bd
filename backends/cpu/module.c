/* CPU backend — modules: the host/cross target and its vector facts, kernel
 * dispatch to the lowerings, and the CPU's artifact formats (HAL entry table,
 * `cc -shared`, JIT dispatch records). Target init, the pipeline, emission
 * and the JIT itself are backends/common/module.c. */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <llvm-c/Orc.h>

#include "common/module.h"
#include "cpu/codegen.h"
#include "qiao/backend_cpu.h"

extern char **environ;

typedef struct entry_meta {
  qiao_kernel_launch_t launch;
} entry_meta_t;

struct qiao_cpu_module {
  qiao_cpu_codegen_t cg;
  LLVMOrcThreadSafeContextRef tsc;
  int opt_level;
  bool optimized;
  bool has_table;
  int32_t n_entries, cap_entries;
  entry_meta_t *entries;
};

/* The module must still be there (not yet handed to the JIT). */
static qiao_status_t check_open(qiao_cpu_module_t *m) {
  return m->cg.mod ? NULL
                   : qiao_status_make(QIAO_INVALID_ARGUMENT, "module was already JIT-compiled");
}

static bool has_feature(const char *features, const char *name) {
  size_t n = strlen(name);
  for (const char *p = features; p && *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n + 1 && p[0] == '+' && memcmp(p + 1, name, n) == 0) return true;
    p = end ? end + 1 : NULL;
  }
  return false;
}

void qiao_cpu_host_describe(char *buf, size_t cap) {
  char *name = LLVMGetHostCPUName();
  char *feat = LLVMGetHostCPUFeatures();
  snprintf(buf, cap, "%s (%s%s%s)", name, has_feature(feat, "avx512f") ? "avx512f " : "",
           has_feature(feat, "avx512bf16") ? "avx512bf16 " : "",
           has_feature(feat, "avx2")   ? "avx2"
           : has_feature(feat, "neon") ? "neon"
                                       : "");
  LLVMDisposeMessage(name);
  LLVMDisposeMessage(feat);
}

qiao_status_t qiao_cpu_module_create(const qiao_cpu_options_t *opts, qiao_cpu_module_t **out) {
  *out = NULL;
  qiao_cg_llvm_init();
  qiao_cpu_module_t *m = calloc(1, sizeof(*m));
  if (!m) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  qiao_cpu_codegen_t *cg = &m->cg;
  m->opt_level = opts && opts->opt_level ? (opts->opt_level < 0 ? 0 : opts->opt_level) : 3;
  cg->n_threads = opts && opts->n_threads > 0 ? opts->n_threads : 1;
  cg->attn_splits = opts && opts->attention_splits > 0 ? opts->attention_splits : 0;

  /* Host defaults; a cross target (opts->triple) defaults to its generic CPU. */
  bool cross = opts && opts->triple && *opts->triple;
  char *host_name = LLVMGetHostCPUName();
  char *host_feat = LLVMGetHostCPUFeatures();
  cg->cpu_name = strdup(opts && opts->cpu ? opts->cpu : cross ? "generic" : host_name);
  cg->cpu_features = strdup(opts && opts->features ? opts->features : cross ? "" : host_feat);
  LLVMDisposeMessage(host_name);
  LLVMDisposeMessage(host_feat);
  if (!cg->cpu_name || !cg->cpu_features) {
    free(cg->cpu_name);
    free(cg->cpu_features);
    free(m);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }

  qiao_status_t st = qiao_cg_target_machine_create(cross ? opts->triple : NULL, cg->cpu_name,
                                                   cg->cpu_features, m->opt_level, &cg->tm);
  if (st) {
    free(cg->cpu_name);
    free(cg->cpu_features);
    free(m);
    return st;
  }
  cg->td = LLVMCreateTargetDataLayout(cg->tm);
  char *triple = LLVMGetTargetMachineTriple(cg->tm);

  const char *f = cg->cpu_features;
  cg->has_avx512f = has_feature(f, "avx512f");
  cg->has_avx512bf16 = has_feature(f, "avx512bf16");
  cg->has_avx512fp16 = has_feature(f, "avx512fp16");
  cg->has_avx2 = has_feature(f, "avx2");
  cg->has_fma = has_feature(f, "fma");
  cg->is_host = !cross;
  cg->has_neon = has_feature(f, "neon") || strstr(triple, "aarch64") != NULL;
  if (cg->has_avx512f)
    cg->vec_bytes = 64, cg->n_vregs = 32;
  else if (cg->has_avx2)
    cg->vec_bytes = 32, cg->n_vregs = 16;
  else if (cg->has_neon)
    cg->vec_bytes = 16, cg->n_vregs = 32;
  else
    cg->vec_bytes = 16, cg->n_vregs = 16;
  cg->vec_f32 = cg->vec_bytes / 4;

  m->tsc = LLVMOrcCreateNewThreadSafeContext();
  cg->ctx = LLVMOrcThreadSafeContextGetContext(m->tsc);
  cg->mod = LLVMModuleCreateWithNameInContext("qiao", cg->ctx);
  qiao_cg_module_set_target(cg->mod, cg->tm);
  LLVMDisposeMessage(triple);
  cg->b = LLVMCreateBuilderInContext(cg->ctx);

  qiao_cg_init_types(&cg->base);
  LLVMTypeRef params[6] = {cg->t_ptr, cg->t_ptr, cg->t_i64, cg->t_i64, cg->t_i64, cg->t_ptr};
  cg->t_entry = LLVMFunctionType(cg->t_void, params, 6, 0);
  cg->math = &qiao_math_host;
  *out = m;
  return NULL;
}

/* Private (tests): 0 selects the host math hook, 1 the libm-free one. */
void qiao_cpu_module_set_math(qiao_cpu_module_t *m, int which);
void qiao_cpu_module_set_math(qiao_cpu_module_t *m, int which) {
  m->cg.math = which == 1 ? &qiao_math_portable : &qiao_math_host;
}

void qiao_cpu_module_destroy(qiao_cpu_module_t *m) {
  if (!m) return;
  qiao_cpu_codegen_t *cg = &m->cg;
  if (cg->b) LLVMDisposeBuilder(cg->b);
  if (cg->mod) LLVMDisposeModule(cg->mod);
  if (m->tsc) LLVMOrcDisposeThreadSafeContext(m->tsc);
  if (cg->td) LLVMDisposeTargetData(cg->td);
  if (cg->tm) LLVMDisposeTargetMachine(cg->tm);
  free(cg->cpu_name);
  free(cg->cpu_features);
  free(m->entries);
  free(m);
}

qiao_status_t qiao_cpu_module_add_kernel(qiao_cpu_module_t *m, const qiao_kernel_desc_t *kd,
                                         const char *name, qiao_kernel_launch_t *out_launch) {
  qiao_cpu_codegen_t *cg = &m->cg;
  QIAO_RETURN_IF_ERROR(check_open(m));
  if (m->optimized)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "module is already optimized; add kernels first");
  char auto_name[32];
  if (!name) {
    snprintf(auto_name, sizeof auto_name, "k%d", m->n_entries);
    name = auto_name;
  }
  if (strlen(name) >= sizeof(out_launch->name))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "kernel name '%s' is too long", name);
  if (LLVMGetNamedFunction(cg->mod, name))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "kernel name '%s' is used twice", name);
  qiao_cpu_kernel_t k = {0};
  k.grid[0] = k.grid[1] = k.grid[2] = 1;
  qiao_status_t st;
  switch (kd->kind) {
  case QIAO_KD_ELEMENTWISE: st = qiao_cpu_lower_elementwise(cg, kd, name, &k); break;
  case QIAO_KD_REDUCE: st = qiao_cpu_lower_reduce(cg, kd, name, &k); break;
  case QIAO_KD_SOFTMAX: st = qiao_cpu_lower_softmax(cg, kd, name, &k); break;
  case QIAO_KD_NORM: st = qiao_cpu_lower_norm(cg, kd, name, &k); break;
  case QIAO_KD_MATMUL: st = qiao_cpu_lower_matmul(cg, kd, name, &k); break;
  case QIAO_KD_ATTENTION: st = qiao_cpu_lower_attention(cg, kd, name, &k); break;
  case QIAO_KD_MOE: st = qiao_cpu_lower_moe(cg, kd, name, &k); break;
  case QIAO_KD_GATHER: st = qiao_cpu_lower_gather(cg, kd, name, &k); break;
  case QIAO_KD_TOPK: st = qiao_cpu_lower_topk(cg, kd, name, &k); break;
  case QIAO_KD_COPY: st = qiao_cpu_lower_copy(cg, kd, name, &k); break;
  default: st = qiao_status_make(QIAO_UNSUPPORTED, "kernel kind %d has no CPU lowering", kd->kind);
  }
  if (st) {
    /* Drop a half-built function so the module stays valid. */
    LLVMValueRef fn = LLVMGetNamedFunction(cg->mod, name);
    if (fn) LLVMDeleteFunction(fn);
    for (int32_t p = 0; p < k.n_more; ++p)
      if (k.more[p].fn) LLVMDeleteFunction(k.more[p].fn);
    return qiao_status_annotate(st, "cpu: lowering %s kernel '%s'", qiao_kd_kind_name(kd->kind),
                                name);
  }
  /* one entry per phase: the lowering's own, then its later phases */
  int32_t n_ph = 1 + k.n_more;
  if (m->n_entries + n_ph > m->cap_entries) {
    int32_t cap = m->cap_entries ? m->cap_entries * 2 : 16;
    while (cap < m->n_entries + n_ph)
      cap *= 2;
    entry_meta_t *e = realloc(m->entries, sizeof(*e) * (size_t)cap);
    if (!e) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    m->entries = e;
    m->cap_entries = cap;
  }
  entry_meta_t *first = &m->entries[m->n_entries];
  for (int32_t p = 0; p < n_ph; ++p) {
    entry_meta_t *e = &m->entries[m->n_entries++];
    memset(e, 0, sizeof(*e));
    snprintf(e->launch.name, sizeof e->launch.name, "%s", p ? k.more[p - 1].name : name);
    const int64_t *grid = p ? k.more[p - 1].grid : k.grid;
    for (int i = 0; i < 3; ++i)
      e->launch.grid[i] = grid[i] > 0 ? grid[i] : 1;
    e->launch.n_bindings = kd->n_inputs + kd->n_outputs;
    e->launch.scratch_bytes = p ? k.more[p - 1].scratch_bytes : k.scratch_bytes;
    for (int i = 0; i < 3; ++i)
      e->launch.block[i] = 1;
    e->launch.shared_bytes = 0;
    for (int32_t i = 0; i < e->launch.n_bindings && i < QIAO_KD_MAX_OPERANDS + 2; ++i) {
      const qiao_kd_operand_t *o =
          i < kd->n_inputs ? &kd->inputs[i] : &kd->outputs[i - kd->n_inputs];
      e->launch.binding_bytes[i] =
          (uint64_t)qiao_shape_numel(&o->type.shape) * (uint64_t)qiao_dtype_size(o->type.dtype);
    }
    if (k.workspace_bytes > 0 && e->launch.n_bindings < QIAO_KD_MAX_OPERANDS + 2)
      e->launch.binding_bytes[e->launch.n_bindings++] = k.workspace_bytes;
  }
  if (out_launch) {
    /* the record of the first entry; the bindings without the workspace */
    *out_launch = first->launch;
    if (k.workspace_bytes > 0) {
      out_launch->n_bindings--;
      out_launch->binding_bytes[out_launch->n_bindings] = 0;
      out_launch->workspace_bytes = k.workspace_bytes;
    }
    if (n_ph > 1) {
      out_launch->n_phases = n_ph;
      for (int32_t p = 0; p < n_ph; ++p) {
        const qiao_kernel_launch_t *l = &first[p].launch;
        qiao_kernel_phase_t *ph = &out_launch->phases[p];
        snprintf(ph->name, sizeof ph->name, "%s", l->name);
        for (int i = 0; i < 3; ++i) {
          ph->grid[i] = l->grid[i];
          ph->block[i] = 1;
        }
        ph->shared_bytes = 0;
      }
    }
  }
  return NULL;
}

qiao_status_t qiao_cpu_module_add_kernel_variant(qiao_cpu_module_t *m, const qiao_kernel_desc_t *kd,
                                                 const char *name, int32_t variant,
                                                 qiao_kernel_launch_t *out_launch) {
  if (variant == 0) return qiao_cpu_module_add_kernel(m, kd, name, out_launch);
  qiao_cpu_codegen_t *cg = &m->cg;
  int32_t splits = cg->attn_splits, moe = cg->moe_variant;
  if (kd->kind == QIAO_KD_ATTENTION && variant >= 1 && variant <= QIAO_CPU_ATTN_MAX_SPLITS)
    cg->attn_splits = variant;
  else if (kd->kind == QIAO_KD_MOE && variant >= 1 && variant <= 3)
    cg->moe_variant = variant;
  else
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "cpu: %d is not a variant of a %s kernel",
                            (int)variant, qiao_kd_kind_name(kd->kind));
  qiao_status_t st = qiao_cpu_module_add_kernel(m, kd, name, out_launch);
  cg->attn_splits = splits;
  cg->moe_variant = moe;
  return st;
}

qiao_status_t qiao_cpu_module_optimize(qiao_cpu_module_t *m) {
  qiao_cpu_codegen_t *cg = &m->cg;
  QIAO_RETURN_IF_ERROR(check_open(m));
  if (m->optimized) return NULL;
  QIAO_RETURN_IF_ERROR(qiao_cg_module_optimize(cg->mod, cg->tm, m->opt_level, "cpu"));
  m->optimized = true;
  return NULL;
}

qiao_status_t qiao_cpu_module_print_ir(qiao_cpu_module_t *m, char **out_text) {
  *out_text = NULL;
  QIAO_RETURN_IF_ERROR(check_open(m));
  size_t n;
  return qiao_cg_module_emit_memory(m->cg.mod, m->cg.tm, QIAO_CG_EMIT_LLVM, out_text, &n);
}

/* Adds the HAL entry table (qiao_executable_entries / _entry_count) so a
 * shared library built from this module is loadable by the HAL. */
static qiao_status_t add_entry_table(qiao_cpu_module_t *m) {
  if (m->has_table) return NULL;
  qiao_cpu_codegen_t *cg = &m->cg;
  LLVMTypeRef fields[7] = {cg->t_ptr, cg->t_ptr, cg->t_i32, cg->t_i32,
                           cg->t_i64, cg->t_ptr, cg->t_ptr};
  LLVMTypeRef rec = LLVMStructTypeInContext(cg->ctx, fields, 7, 0);
  int32_t n = m->n_entries;
  LLVMValueRef *recs = calloc((size_t)(n ? n : 1), sizeof(LLVMValueRef));
  if (!recs) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  LLVMValueRef sig = NULL;
  {
    const char *s = QIAO_HAL_CPU_ENTRY_SIGNATURE;
    LLVMValueRef str = LLVMConstStringInContext(cg->ctx, s, (unsigned)strlen(s), 0);
    sig = LLVMAddGlobal(cg->mod, LLVMTypeOf(str), "qiao.sig");
    LLVMSetInitializer(sig, str);
    LLVMSetGlobalConstant(sig, 1);
    LLVMSetLinkage(sig, LLVMPrivateLinkage);
  }
  for (int32_t i = 0; i < n; ++i) {
    const qiao_kernel_launch_t *l = &m->entries[i].launch;
    LLVMValueRef str = LLVMConstStringInContext(cg->ctx, l->name, (unsigned)strlen(l->name), 0);
    LLVMValueRef g = LLVMAddGlobal(cg->mod, LLVMTypeOf(str), "qiao.name");
    LLVMSetInitializer(g, str);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    /* binding sizes: a private [n_bindings x i64] per entry */
    LLVMValueRef sizes[QIAO_KD_MAX_OPERANDS + 2];
    unsigned nb = (unsigned)l->n_bindings;
    for (unsigned j = 0; j < nb; ++j)
      sizes[j] = LLVMConstInt(cg->t_i64, l->binding_bytes[j], 0);
    LLVMValueRef sarr = LLVMConstArray2(cg->t_i64, sizes, nb);
    LLVMValueRef sg = LLVMAddGlobal(cg->mod, LLVMTypeOf(sarr), "qiao.bsize");
    LLVMSetInitializer(sg, sarr);
    LLVMSetGlobalConstant(sg, 1);
    LLVMSetLinkage(sg, LLVMPrivateLinkage);
    LLVMValueRef vals[7] = {g,
                            sig,
                            LLVMConstInt(cg->t_i32, (unsigned long long)l->n_bindings, 0),
                            LLVMConstInt(cg->t_i32, 0, 0),
                            LLVMConstInt(cg->t_i64, l->scratch_bytes, 0),
                            LLVMGetNamedFunction(cg->mod, l->name),
                            nb ? sg : LLVMConstNull(cg->t_ptr)};
    recs[i] = LLVMConstNamedStruct(rec, vals, 7);
  }
  LLVMValueRef arr = LLVMConstArray2(rec, recs, (uint64_t)n);
  LLVMValueRef table = LLVMAddGlobal(cg->mod, LLVMTypeOf(arr), QIAO_HAL_ENTRY_TABLE_SYMBOL);
  LLVMSetInitializer(table, arr);
  LLVMSetGlobalConstant(table, 1);
  LLVMValueRef count = LLVMAddGlobal(cg->mod, cg->t_i32, QIAO_HAL_ENTRY_COUNT_SYMBOL);
  LLVMSetInitializer(count, LLVMConstInt(cg->t_i32, (unsigned long long)n, 0));
  LLVMSetGlobalConstant(count, 1);
  free(recs);
  m->has_table = true;
  return NULL;
}

qiao_status_t qiao_cpu_module_emit_object(qiao_cpu_module_t *m, const char *path) {
  QIAO_RETURN_IF_ERROR(check_open(m));
  QIAO_RETURN_IF_ERROR(qiao_cpu_module_optimize(m));
  return qiao_cg_module_emit_file(m->cg.mod, m->cg.tm, QIAO_CG_EMIT_OBJECT, path);
}

/* Runs argv (no shell) and waits; returns its exit status or -1. */
static int run_command(char *const argv[]) {
  pid_t pid;
  if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0) return -1;
  int ws;
  if (waitpid(pid, &ws, 0) < 0) return -1;
  return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

qiao_status_t qiao_cpu_module_emit_shared(qiao_cpu_module_t *m, const char *path) {
  QIAO_RETURN_IF_ERROR(check_open(m));
  const char *cc_env = getenv("CC");
  if (!m->cg.is_host && !(cc_env && *cc_env))
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "%s: a shared library for %s needs a cross linker: set CC (e.g. "
                            "aarch64-linux-gnu-gcc) or emit an object",
                            path, LLVMGetTarget(m->cg.mod));
  QIAO_RETURN_IF_ERROR(qiao_cpu_module_optimize(m));
  QIAO_RETURN_IF_ERROR(add_entry_table(m));
  char obj[4096], so[4096];
  if (!qiao_cg_temp_path(obj, sizeof obj, path, ".o") ||
      !qiao_cg_temp_path(so, sizeof so, path, ".so"))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: path is too long", path);
  qiao_status_t st = qiao_cg_module_emit_file(m->cg.mod, m->cg.tm, QIAO_CG_EMIT_OBJECT, obj);
  if (!st) {
    const char *cc = getenv("CC");
    char *argv[] = {(char *)(cc && *cc ? cc : "cc"), "-shared", "-o", so, obj, "-lm", NULL};
    int rc = run_command(argv);
    if (rc != 0)
      st = qiao_status_make(QIAO_IO_ERROR, "%s: linking the shared library with '%s' failed (%d)",
                            path, argv[0], rc);
  }
  if (!st && rename(so, path) != 0)
    st = qiao_status_make(QIAO_IO_ERROR, "%s: cannot write: %s", path, strerror(errno));
  unlink(obj);
  if (st) unlink(so);
  return st;
}

qiao_status_t qiao_cpu_module_jit(qiao_cpu_module_t *m, qiao_hal_device_t *d,
                                  qiao_hal_executable_t **out_exe) {
  *out_exe = NULL;
  qiao_cpu_codegen_t *cg = &m->cg;
  QIAO_RETURN_IF_ERROR(check_open(m));
  if (!cg->is_host)
    return qiao_status_make(
        QIAO_INVALID_ARGUMENT,
        "module targets %s (cpu %s): it can be emitted, not run in this process",
        LLVMGetTarget(cg->mod), cg->cpu_name);
  QIAO_RETURN_IF_ERROR(qiao_cpu_module_optimize(m));

  /* Kernels may call libm (the host math hook): resolved from this process. */
  LLVMModuleRef mod = cg->mod;
  cg->mod = NULL; /* the JIT owns it now, also on error */
  return qiao_cg_jit_load_host(m->tsc, mod, NULL, 0, "cpu",
                               m->entries ? &m->entries[0].launch : NULL, sizeof m->entries[0],
                               m->n_entries, d, out_exe);
}

qiao_status_t qiao_cpu_module_emit_llvm(qiao_cpu_module_t *m, const char *path) {
  QIAO_RETURN_IF_ERROR(check_open(m));
  return qiao_cg_module_emit_file(m->cg.mod, m->cg.tm, QIAO_CG_EMIT_LLVM, path);
}

qiao_status_t qiao_cpu_module_emit_asm(qiao_cpu_module_t *m, const char *path) {
  QIAO_RETURN_IF_ERROR(check_open(m));
  QIAO_RETURN_IF_ERROR(qiao_cpu_module_optimize(m));
  return qiao_cg_module_emit_file(m->cg.mod, m->cg.tm, QIAO_CG_EMIT_ASSEMBLY, path);
}
