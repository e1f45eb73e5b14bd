/* Ascend backend — its row in the backend registry and its module: kernels
 * are LLVM functions for the host whose calls are ascend-sim's unit
 * operations (qiao/hal_ascend.h), JIT-compiled with a symbol map that points
 * each qiao_ascend_* name at the simulator's implementation, and loaded as a
 * HOST_JIT executable on an ascend-sim device, which runs one call per block
 * (block_dim = the device's vector cores, tiles looped inside). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ascend/ascend.h"
#include "common/module.h"

#define ASCEND_DEFAULT_PROFILE "910b"

int ascend_dtype(qiao_dtype_t dt) {
  switch (dt) {
  case QIAO_F32: return QIAO_ASCEND_F32;
  case QIAO_F16: return QIAO_ASCEND_F16;
  case QIAO_BF16: return QIAO_ASCEND_BF16;
  case QIAO_F8E4M3: return QIAO_ASCEND_F8E4M3;
  case QIAO_F8E5M2: return QIAO_ASCEND_F8E5M2;
  case QIAO_I8: return QIAO_ASCEND_S8;
  case QIAO_I32: return QIAO_ASCEND_S32;
  case QIAO_I64: return QIAO_ASCEND_S64;
  case QIAO_BOOL: return QIAO_ASCEND_U8;
  default: return -1;
  }
}

/* ------------------------------------------------------------ listing */

void ascend_listing_printf(ascend_module_t *m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (m->listing_len + (size_t)n + 1 > m->listing_cap) {
    size_t cap = (m->listing_cap ? m->listing_cap * 2 : 4096) + (size_t)n;
    char *p = realloc(m->listing, cap);
    if (!p) return;
    m->listing = p;
    m->listing_cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(m->listing + m->listing_len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  m->listing_len += (size_t)n;
}

LLVMValueRef ascend_uop(ascend_module_t *m, const char *name, LLVMValueRef *args, unsigned n,
                        const char *note) {
  LLVMValueRef fn = LLVMGetNamedFunction(m->mod, name);
  LLVMTypeRef fty;
  bool returns = !strncmp(name, "qiao_ascend_get_", 16);
  if (!fn) {
    LLVMTypeRef params[12];
    for (unsigned i = 0; i < n && i < 12; ++i)
      params[i] = LLVMTypeOf(args[i]);
    fty = LLVMFunctionType(returns ? m->t_i64 : m->t_void, params, n, 0);
    fn = LLVMAddFunction(m->mod, name, fty);
  } else {
    fty = LLVMGlobalGetValueType(fn);
  }
  const qiao_ascend_symbol_t *syms;
  int32_t ns = qiao_ascend_symbols(&syms);
  for (int32_t i = 0; i < ns; ++i)
    if (!strcmp(syms[i].name, name)) {
      ascend_listing_printf(m, "    %-10s %-20s%s%s\n", qiao_ascend_pipe_name(syms[i].pipe),
                            syms[i].ascend_c, note && *note ? "  ; " : "", note ? note : "");
      break;
    }
  return LLVMBuildCall2(m->b, fty, fn, args, n, returns ? "r" : "");
}

/* ------------------------------------------------------------ registry row */

/* The Ascend class's fusion (docs/ascend-model.md, "Fusion policy"): no norm
 * prologue on matmuls (the norm runs on the vector unit, the matmul on the
 * cube: a fused prologue would be a mixed AIC/AIV kernel); epilogues on the
 * vector kernels that carry them (reduce, softmax, norm); data movement
 * (copy, gather), matmuls and the mixed kinds (attention, MoE) end their
 * kernel, their consumers run as elementwise kernels. */
static const qiao_fusion_policy_t kAscendPolicy = {
    .fuse_elementwise = true,
    /* attention and MoE (mixed kernels) take no epilogue yet: it runs as the
     * next (vector) kernel; fusing it into their AIV output stage is a next step */
    .epilogue_anchors = (1u << QIAO_KD_REDUCE) | (1u << QIAO_KD_SOFTMAX) | (1u << QIAO_KD_NORM),
    .norm_prologue = false,
    .max_operands = QIAO_KD_MAX_OPERANDS,
    .max_expr_nodes = QIAO_EXPR_MAX_NODES,
};

static const qiao_fusion_policy_t *ascend_fusion_policy(qiao_hal_device_t *d) {
  (void)d;
  return &kAscendPolicy;
}

static bool dtype_on_device(qiao_dtype_t dt, qiao_hal_device_t *d) {
  if (dt != QIAO_F8E4M3 && dt != QIAO_F8E5M2) return true;
  const qiao_hal_profile_t *p = NULL;
  if (d) {
    qiao_status_t st = qiao_hal_device_profile(d, &p);
    qiao_status_free(st);
  }
  return p && qiao_hal_profile_supports_dtype(p, qiao_dtype_name(dt));
}

static bool kd_fp8_check(const qiao_kernel_desc_t *kd, qiao_hal_device_t *d, char *reason,
                         size_t cap) {
  const char *dev = d ? qiao_hal_device_uri(d) : "ascend-910b/910c";
  for (int32_t i = 0; i < kd->n_inputs + kd->n_outputs; ++i) {
    const qiao_kd_operand_t *o = i < kd->n_inputs ? &kd->inputs[i] : &kd->outputs[i - kd->n_inputs];
    if (!dtype_on_device(o->type.dtype, d)) {
      snprintf(reason, cap, "dtype %s is not supported on %s (no FP8 on Ascend A2/A3)",
               qiao_dtype_name(o->type.dtype), dev);
      return false;
    }
  }
  for (int32_t i = 0; i < kd->n_expr; ++i)
    if (!dtype_on_device((qiao_dtype_t)kd->expr[i].dtype, d)) {
      snprintf(reason, cap, "dtype %s is not supported on %s (no FP8 on Ascend A2/A3)",
               qiao_dtype_name((qiao_dtype_t)kd->expr[i].dtype), dev);
      return false;
    }
  return true;
}

static bool is_rope(const qiao_kernel_desc_t *kd) {
  return kd->kind == QIAO_KD_COPY && kd->op == QIAO_OP_ROPE;
}

static bool is_copy(const qiao_kernel_desc_t *kd) {
  return (kd->kind == QIAO_KD_COPY && !is_rope(kd)) || kd->kind == QIAO_KD_GATHER;
}

static qiao_status_t device_info(qiao_hal_device_t *d, qiao_hal_ascend_info_t *out) {
  if (d) return qiao_hal_ascend_info(d, out);
  return qiao_hal_ascend_info_for_profile(ASCEND_DEFAULT_PROFILE, out);
}

static bool ascend_supports(const qiao_kernel_desc_t *kd, qiao_hal_device_t *d, char *reason,
                            size_t cap) {
  if ((unsigned)kd->kind >= QIAO_KD_KIND_COUNT) {
    snprintf(reason, cap, "kernel kind %d is unknown", (int)kd->kind);
    return false;
  }
  if (!kd_fp8_check(kd, d, reason, cap)) return false;
  if (kd->kind == QIAO_KD_ATTENTION || kd->kind == QIAO_KD_MOE) {
    /* a mixed kernel (lower_attention.c, lower_moe.c) */
    bool attn = kd->kind == QIAO_KD_ATTENTION;
    if (attn ? !ascend_attn_supported(kd, reason, cap) : !ascend_moe_supported(kd, reason, cap))
      return false;
    qiao_hal_ascend_info_t info;
    qiao_status_t st = device_info(d, &info);
    if (!st) st = attn ? ascend_attn_check(kd, &info) : ascend_moe_check(kd, &info);
    if (st) {
      snprintf(reason, cap, "%s", qiao_status_message(st));
      qiao_status_free(st);
      return false;
    }
    return true;
  }
  bool cube = kd->kind == QIAO_KD_MATMUL;
  if (is_rope(kd) || kd->kind == QIAO_KD_TOPK) {
    qiao_hal_ascend_info_t ti;
    qiao_status_t tst = device_info(d, &ti);
    if (tst) {
      snprintf(reason, cap, "%s", qiao_status_message(tst));
      qiao_status_free(tst);
      return false;
    }
    return is_rope(kd) ? ascend_rope_supported(kd, ti.ub_bytes, reason, cap)
                       : ascend_topk_supported(kd, ti.ub_bytes, reason, cap);
  }
  if (is_copy(kd)) return ascend_copy_supported(kd, reason, cap);
  if (cube ? !ascend_mm_supported(kd, reason, cap) : !ascend_ew_supported(kd, reason, cap))
    return false;
  /* the tiling check: a kernel whose tiles overflow the on-chip buffers is refused */
  qiao_hal_ascend_info_t info;
  qiao_status_t st = device_info(d, &info);
  if (st) {
    snprintf(reason, cap, "%s", qiao_status_message(st));
    qiao_status_free(st);
    return false;
  }
  ascend_ew_plan_t plan;
  st = cube ? ascend_mm_check(&info) : ascend_ew_plan(kd, info.ub_bytes, 0, &plan);
  if (st) {
    snprintf(reason, cap, "%s", qiao_status_message(st));
    qiao_status_free(st);
    return false;
  }
  return true;
}

static qiao_status_t ascend_target_key(qiao_hal_device_t *d, const qiao_backend_options_t *o,
                                       char *buf, size_t cap) {
  qiao_hal_ascend_info_t info;
  QIAO_RETURN_IF_ERROR(device_info(d, &info));
  int32_t opt = o && o->opt_level ? o->opt_level : 3;
  int n = snprintf(buf, cap, "ascend|%s|aic=%d|aiv=%d|ub=%lld|O%d", info.profile, info.aic,
                   info.aiv, (long long)info.ub_bytes, opt < 0 ? 0 : opt);
  if (n < 0 || (size_t)n >= cap)
    return qiao_status_make(QIAO_INTERNAL, "ascend: target key longer than %zu bytes", cap);
  return NULL;
}

static void ascend_module_destroy(void *vm) {
  ascend_module_t *m = vm;
  if (!m) return;
  if (m->b) LLVMDisposeBuilder(m->b);
  if (m->mod) LLVMDisposeModule(m->mod);
  if (m->tsc) LLVMOrcDisposeThreadSafeContext(m->tsc);
  if (m->tm) LLVMDisposeTargetMachine(m->tm);
  free(m->entries);
  free(m->listing);
  free(m);
}

static qiao_status_t ascend_module_create(qiao_hal_device_t *d, const qiao_backend_options_t *o,
                                          void **out_m) {
  *out_m = NULL;
  ascend_module_t *m = calloc(1, sizeof *m);
  if (!m) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  qiao_status_t st = device_info(d, &m->info);
  if (st) {
    free(m);
    return st;
  }
  if (d) {
    const qiao_hal_profile_t *p = NULL;
    qiao_status_t pst = qiao_hal_device_profile(d, &p);
    qiao_status_free(pst);
    m->fp8 = p && qiao_hal_profile_supports_dtype(p, "f8e4m3");
  }
  qiao_cg_llvm_init();
  int opt = o && o->opt_level ? o->opt_level : 3;
  st = qiao_cg_target_machine_create(NULL, NULL, NULL, opt < 0 ? 0 : opt, &m->tm);
  if (st) {
    free(m);
    return st;
  }
  m->tsc = LLVMOrcCreateNewThreadSafeContext();
  m->ctx = LLVMOrcThreadSafeContextGetContext(m->tsc);
  m->mod = LLVMModuleCreateWithNameInContext("qiao_ascend", m->ctx);
  qiao_cg_module_set_target(m->mod, m->tm);
  m->b = LLVMCreateBuilderInContext(m->ctx);
  qiao_cg_init_types(&m->base);
  m->vec_bytes = 32;
  m->vec_f32 = 8;
  m->math = &qiao_math_host;
  LLVMTypeRef params[6] = {m->t_ptr, m->t_ptr, m->t_i64, m->t_i64, m->t_i64, m->t_ptr};
  m->t_entry = LLVMFunctionType(m->t_void, params, 6, 0);
  ascend_listing_printf(m,
                        "; Ascend-class unit operations per kernel (simulated device: %s, %d AIC "
                        "+ %d AIV, UB %lld bytes)\n",
                        m->info.profile, m->info.aic, m->info.aiv, (long long)m->info.ub_bytes);
  *out_m = m;
  return NULL;
}

static qiao_status_t grow_entries(ascend_module_t *m) {
  if (m->n_entries < m->cap_entries) return NULL;
  int32_t cap = m->cap_entries ? 2 * m->cap_entries : 8;
  ascend_entry_t *e = realloc(m->entries, sizeof *e * (size_t)cap);
  if (!e) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  m->entries = e;
  m->cap_entries = cap;
  return NULL;
}

/* A mixed kernel: one block per AIC + 2 AIV group, a GM workspace. */
static qiao_status_t add_mixed(ascend_module_t *m, const qiao_kernel_desc_t *kd, const char *name,
                               qiao_kernel_launch_t *out_launch) {
  char reason[256] = "";
  bool attn = kd->kind == QIAO_KD_ATTENTION;
  if (attn ? !ascend_attn_supported(kd, reason, sizeof reason)
           : !ascend_moe_supported(kd, reason, sizeof reason))
    return qiao_status_make(QIAO_UNSUPPORTED, "ascend: cannot lower this %s kernel: %s",
                            qiao_kd_kind_name(kd->kind), reason);
  QIAO_RETURN_IF_ERROR(attn ? ascend_attn_check(kd, &m->info) : ascend_moe_check(kd, &m->info));
  QIAO_RETURN_IF_ERROR(grow_entries(m));
  LLVMValueRef fn = LLVMAddFunction(m->mod, name, m->t_entry);
  ascend_listing_printf(m, "\nkernel %s (%s, mixed: block_dim %d groups of 1 AIC + 2 AIV):\n", name,
                        qiao_kd_kind_name(kd->kind), m->info.aic);
  QIAO_RETURN_IF_ERROR(attn ? ascend_lower_attention(m, kd, fn) : ascend_lower_moe(m, kd, fn));
  qiao_kernel_launch_t *l = out_launch;
  memset(l, 0, sizeof *l);
  snprintf(l->name, sizeof l->name, "%s", name);
  l->grid[0] = m->info.aic;
  l->grid[1] = l->grid[2] = 1;
  l->block[0] = l->block[1] = l->block[2] = 1;
  qiao_kernel_launch_set_bindings(l, kd);
  l->workspace_bytes =
      attn ? ascend_attn_workspace(kd, &m->info) : ascend_moe_workspace(kd, &m->info);
  m->entries[m->n_entries++].launch = *l;
  return NULL;
}

/* A matmul of f32 x f16/bf16: two phases, a vector Cast of the narrower
 * operand to f32 into the GM workspace (AIV), then the f32 cube matmul (AIC)
 * reading that operand from the workspace. */
static qiao_status_t add_mixed_matmul(ascend_module_t *m, const qiao_kernel_desc_t *kd,
                                      const char *name, qiao_kernel_launch_t *out_launch) {
  char names[2][64];
  if (strlen(name) + 6 > sizeof names[0])
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "ascend: kernel name '%s' is too long", name);
  snprintf(names[0], sizeof names[0], "%s_cast", name);
  snprintf(names[1], sizeof names[1], "%s_mm", name);
  qiao_kernel_launch_t *l = out_launch;
  memset(l, 0, sizeof *l);
  snprintf(l->name, sizeof l->name, "%s", name);
  qiao_kernel_launch_set_bindings(l, kd);
  l->workspace_bytes = ascend_mm_workspace(kd);
  l->n_phases = 2;
  for (int ph = 0; ph < 2; ++ph) {
    QIAO_RETURN_IF_ERROR(grow_entries(m));
    LLVMValueRef fn = LLVMAddFunction(m->mod, names[ph], m->t_entry);
    ascend_listing_printf(m, "\nkernel %s (matmul phase %d of 2, block_dim %d %s):\n", names[ph],
                          ph, ph ? m->info.aic : m->info.aiv, ph ? "AIC" : "AIV");
    QIAO_RETURN_IF_ERROR(ph ? ascend_lower_matmul(m, kd, fn) : ascend_lower_mm_cast(m, kd, fn));
    qiao_kernel_phase_t *p = &l->phases[ph];
    snprintf(p->name, sizeof p->name, "%s", names[ph]);
    p->grid[0] = ph ? m->info.aic : m->info.aiv;
    p->grid[1] = p->grid[2] = 1;
    p->block[0] = p->block[1] = p->block[2] = 1;
    qiao_kernel_launch_t e = *l;
    snprintf(e.name, sizeof e.name, "%s", names[ph]);
    e.n_phases = 0;
    e.grid[0] = p->grid[0];
    e.grid[1] = e.grid[2] = 1;
    e.block[0] = e.block[1] = e.block[2] = 1;
    m->entries[m->n_entries++].launch = e;
  }
  for (int a = 0; a < 3; ++a) {
    l->grid[a] = l->phases[0].grid[a];
    l->block[a] = l->phases[0].block[a];
  }
  return NULL;
}

static qiao_status_t ascend_add_kernel(void *vm, const qiao_kernel_desc_t *kd, const char *name,
                                       qiao_kernel_launch_t *out_launch) {
  ascend_module_t *m = vm;
  if (!m->mod || m->optimized)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "ascend: module is already optimized or loaded");
  char reason[256] = "";
  if (!kd_fp8_check(kd, NULL, reason, sizeof reason) && !m->fp8)
    return qiao_status_make(QIAO_UNSUPPORTED, "ascend: %s kernel: %s", qiao_kd_kind_name(kd->kind),
                            reason);
  char auto_name[32];
  if (!name) {
    snprintf(auto_name, sizeof auto_name, "k%d", m->n_entries);
    name = auto_name;
  }
  if (strlen(name) >= sizeof out_launch->name)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "ascend: kernel name '%s' is too long", name);
  if (kd->kind == QIAO_KD_ATTENTION || kd->kind == QIAO_KD_MOE)
    return add_mixed(m, kd, name, out_launch);
  bool cube = kd->kind == QIAO_KD_MATMUL, copy = is_copy(kd), topk = kd->kind == QIAO_KD_TOPK;
  bool rope = is_rope(kd);
  if (rope   ? !ascend_rope_supported(kd, m->info.ub_bytes, reason, sizeof reason)
      : topk ? !ascend_topk_supported(kd, m->info.ub_bytes, reason, sizeof reason)
      : copy ? !ascend_copy_supported(kd, reason, sizeof reason)
      : cube ? !ascend_mm_supported(kd, reason, sizeof reason)
             : !ascend_ew_supported(kd, reason, sizeof reason))
    return qiao_status_make(QIAO_UNSUPPORTED, "ascend: cannot lower this %s kernel: %s",
                            qiao_kd_kind_name(kd->kind),
                            *reason ? reason : "not lowered for the Ascend class yet");
  ascend_ew_plan_t plan;
  if (cube)
    QIAO_RETURN_IF_ERROR(ascend_mm_check(&m->info));
  else if (!copy && !topk && !rope)
    QIAO_RETURN_IF_ERROR(ascend_ew_plan(kd, m->info.ub_bytes, 0, &plan));
  if (m->n_entries == m->cap_entries) {
    int32_t cap = m->cap_entries ? 2 * m->cap_entries : 8;
    ascend_entry_t *e = realloc(m->entries, sizeof *e * (size_t)cap);
    if (!e) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    m->entries = e;
    m->cap_entries = cap;
  }
  if (cube && ascend_mm_cast_input(kd) >= 0) return add_mixed_matmul(m, kd, name, out_launch);
  LLVMValueRef fn = LLVMAddFunction(m->mod, name, m->t_entry);
  ascend_listing_printf(m, "\nkernel %s (%s, block_dim %d %s):\n", name,
                        qiao_kd_kind_name(kd->kind), cube ? m->info.aic : m->info.aiv,
                        cube ? "AIC" : "AIV");
  if (cube)
    QIAO_RETURN_IF_ERROR(ascend_lower_matmul(m, kd, fn));
  else if (copy)
    QIAO_RETURN_IF_ERROR(ascend_lower_copy(m, kd, fn));
  else if (topk)
    QIAO_RETURN_IF_ERROR(ascend_lower_topk(m, kd, fn));
  else if (rope)
    QIAO_RETURN_IF_ERROR(ascend_lower_rope(m, kd, fn));
  else
    QIAO_RETURN_IF_ERROR(ascend_lower_elementwise(m, kd, fn, &plan));
  qiao_kernel_launch_t *l = out_launch;
  memset(l, 0, sizeof *l);
  snprintf(l->name, sizeof l->name, "%s", name);
  l->grid[0] = cube ? m->info.aic : m->info.aiv;
  l->grid[1] = l->grid[2] = 1;
  l->block[0] = l->block[1] = l->block[2] = 1;
  qiao_kernel_launch_set_bindings(l, kd);
  m->entries[m->n_entries++].launch = *l;
  return NULL;
}

static qiao_status_t ascend_optimize(void *vm) {
  ascend_module_t *m = vm;
  if (m->optimized) return NULL;
  if (!m->mod) return qiao_status_make(QIAO_INVALID_ARGUMENT, "ascend: module was loaded");
  QIAO_RETURN_IF_ERROR(qiao_cg_module_optimize(m->mod, m->tm, 2, "ascend"));
  m->optimized = true;
  return NULL;
}

static qiao_status_t ascend_emit(void *vm, qiao_artifact_kind_t kind, const char *path) {
  ascend_module_t *m = vm;
  if (!m->mod) return qiao_status_make(QIAO_INVALID_ARGUMENT, "ascend: module was loaded");
  switch (kind) {
  case QIAO_ARTIFACT_LLVM: return qiao_cg_module_emit_file(m->mod, m->tm, QIAO_CG_EMIT_LLVM, path);
  case QIAO_ARTIFACT_LISTING:
    return qiao_cg_write_file_atomic(path, m->listing ? m->listing : "", m->listing_len);
  default:
    return qiao_status_make(QIAO_UNSUPPORTED,
                            "backend 'ascend' does not emit '%s' artifacts (it emits llvm, "
                            "listing)",
                            qiao_artifact_kind_name(kind));
  }
}

static qiao_status_t ascend_load(void *vm, qiao_hal_device_t *d, qiao_hal_executable_t **out_exe) {
  ascend_module_t *m = vm;
  *out_exe = NULL;
  qiao_hal_ascend_info_t info;
  QIAO_RETURN_IF_ERROR(qiao_hal_ascend_info(d, &info));
  if (info.aiv != m->info.aiv || info.ub_bytes != m->info.ub_bytes)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "ascend: module compiled for %d AIV / %lld-byte UB, device '%s' has "
                            "%d / %lld",
                            m->info.aiv, (long long)m->info.ub_bytes, qiao_hal_device_uri(d),
                            info.aiv, (long long)info.ub_bytes);
  QIAO_RETURN_IF_ERROR(ascend_optimize(m));
  const qiao_ascend_symbol_t *syms;
  int32_t ns = qiao_ascend_symbols(&syms);
  qiao_cg_symbol_t *map = calloc((size_t)(ns > 0 ? ns : 1), sizeof *map);
  if (!map) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  for (int32_t i = 0; i < ns; ++i)
    map[i] = (qiao_cg_symbol_t){syms[i].name, syms[i].addr};
  LLVMModuleRef mod = m->mod;
  m->mod = NULL; /* the JIT owns it now, also on error */
  qiao_status_t st = qiao_cg_jit_load_host(m->tsc, mod, map, (size_t)ns, "ascend",
                                           m->entries ? &m->entries[0].launch : NULL,
                                           sizeof m->entries[0], m->n_entries, d, out_exe);
  free(map);
  return st;
}

const qiao_backend_t qiao_backend_ascend = {
    .name = "ascend",
    .device_class = QIAO_HAL_CLASS_ASCEND,
    .fusion_policy = ascend_fusion_policy,
    .supports = ascend_supports,
    .target_key = ascend_target_key,
    .module_create = ascend_module_create,
    .module_destroy = ascend_module_destroy,
    .add_kernel = ascend_add_kernel,
    .optimize = ascend_optimize,
    .emit = ascend_emit,
    .load = ascend_load,
};
