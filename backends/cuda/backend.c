/* CUDA backend — its row in the backend registry: fusion policy, what it
 * supports (and why not), its target key (sm from the device's profile), and
 * the module ops over qiao_cuda_module_*. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/module.h"
#include "cuda/target.h"

/* The CUDA class's fusion policy: the default, except that norms are not
 * recomputed as matmul prologues (the tiled matmuls stage A through shared
 * memory; a row statistic per CTA tile would need a second pass over K, so
 * norms stay kernels of their own on this target). */
static qiao_fusion_policy_t g_cuda_policy;
static pthread_once_t g_cuda_policy_once = PTHREAD_ONCE_INIT;

static void cuda_policy_init(void) {
  g_cuda_policy = *qiao_fusion_policy_default();
  g_cuda_policy.norm_prologue = false;
}

static const qiao_fusion_policy_t *cuda_fusion_policy(qiao_hal_device_t *d) {
  (void)d;
  pthread_once(&g_cuda_policy_once, cuda_policy_init);
  return &g_cuda_policy;
}

static bool float_dtype(qiao_dtype_t t) {
  return t == QIAO_F32 || t == QIAO_F16 || t == QIAO_BF16 || t == QIAO_F8E4M3 || t == QIAO_F8E5M2;
}

static bool refuse(char *reason, size_t cap, const char *fmt, const char *what) {
  snprintf(reason, cap, fmt, what);
  return false;
}

static bool cuda_supports(const qiao_kernel_desc_t *kd, qiao_hal_device_t *d, char *reason,
                          size_t cap) {
  (void)d;
  if ((unsigned)kd->kind >= QIAO_KD_KIND_COUNT) {
    snprintf(reason, cap, "kernel kind %d is unknown", (int)kd->kind);
    return false;
  }
  const char *kn = qiao_kd_kind_name(kd->kind);
  switch (kd->kind) {
  case QIAO_KD_ELEMENTWISE:
  case QIAO_KD_REDUCE:
  case QIAO_KD_SOFTMAX:
  case QIAO_KD_NORM:
  case QIAO_KD_COPY:
  case QIAO_KD_GATHER:
  case QIAO_KD_MATMUL:
  case QIAO_KD_TOPK:
  case QIAO_KD_ATTENTION:
  case QIAO_KD_MOE: break;
  default: return refuse(reason, cap, "%s is not lowered for the CUDA class yet", kn);
  }
  if (kd->kind == QIAO_KD_TOPK) {
    if (kd->n_outputs != 2 || kd->n_inputs != 1 || kd->n_expr > 0)
      return refuse(reason, cap, "a %s kernel with this operand count is not lowered yet", kn);
    return true;
  }
  if (kd->n_outputs != 1 || kd->n_inputs < 1)
    return refuse(reason, cap, "a %s kernel with this operand count is not lowered yet", kn);
  if (kd->kind == QIAO_KD_ATTENTION || kd->kind == QIAO_KD_MOE) {
    /* multi-step kernels take one more binding: the workspace */
    if (kd->n_inputs + kd->n_outputs + 1 > QIAO_KD_MAX_OPERANDS + 2)
      return refuse(reason, cap, "a %s kernel with this many operands is not lowered yet", kn);
    int32_t kvl = -1; /* attention's optional kv_len (i32 [B]) is the one integer operand */
    if (kd->kind == QIAO_KD_ATTENTION && kd->n_primary_inputs > 3)
      qiao_attention_operand_roles(kd->n_primary_inputs, kd->inputs[3].type.dtype, NULL, &kvl);
    for (int32_t i = 0; i < kd->n_primary_inputs; ++i)
      if (i != kvl && !float_dtype(kd->inputs[i].type.dtype))
        return refuse(reason, cap, "%s of a non-float operand", kn);
    if (kvl >= 0 &&
        (kd->inputs[kvl].type.dtype != QIAO_I32 && kd->inputs[kvl].type.dtype != QIAO_I64))
      return refuse(reason, cap, "%s with a kv_len that is not i32 or i64", kn);
    if (!float_dtype(kd->outputs[0].type.dtype) || !qiao_cuda_float_expr(kd, false))
      return refuse(reason, cap, "%s with an integer or bool epilogue", kn);
    if (kd->kind == QIAO_KD_ATTENTION && kd->outputs[0].type.shape.rank == 4 &&
        kd->outputs[0].type.shape.dims[3] > 512)
      return refuse(reason, cap, "%s with a value head dim over 512", kn);
    return true;
  }
  if (kd->kind == QIAO_KD_MATMUL) {
    if (kd->has_norm_prologue)
      return refuse(reason, cap,
                    "%s with a fused norm prologue (the CUDA fusion policy keeps norms "
                    "separate)",
                    kn);
    if (kd->n_inputs < 2) return refuse(reason, cap, "a %s kernel needs two operands", kn);
    for (int i = 0; i < 2; ++i) {
      qiao_dtype_t t = kd->inputs[i].type.dtype;
      if (!float_dtype(t) && t != QIAO_I8)
        return refuse(reason, cap, "%s operands must be float or i8", kn);
    }
    if ((kd->inputs[0].type.dtype == QIAO_I8) != (kd->inputs[1].type.dtype == QIAO_I8))
      return refuse(reason, cap, "%s mixing i8 and float operands", kn);
    return true; /* integer epilogues: the mixed evaluator (expr_int.c) */
  }
  if (kd->kind != QIAO_KD_ELEMENTWISE && !qiao_cuda_float_expr(kd, false))
    return refuse(reason, cap,
                  "%s kernels with integer or bool expressions are not lowered for the CUDA "
                  "class yet",
                  kn);
  if (kd->kind == QIAO_KD_SOFTMAX || kd->kind == QIAO_KD_NORM)
    if (!float_dtype(kd->inputs[0].type.dtype) || !float_dtype(kd->outputs[0].type.dtype))
      return refuse(reason, cap, "%s of a non-float dtype", kn);
  if (kd->kind == QIAO_KD_COPY && kd->op == QIAO_OP_ROPE &&
      (!float_dtype(kd->inputs[0].type.dtype) || kd->inputs[0].type.shape.rank != 4))
    return refuse(reason, cap, "%s of a non-float or non-4-d x", "rope");
  if (kd->kind == QIAO_KD_COPY && kd->n_expr > 0 &&
      (!float_dtype(kd->inputs[0].type.dtype) || !float_dtype(kd->outputs[0].type.dtype)))
    return refuse(reason, cap, "%s with an epilogue on a non-float dtype", kn);
  if (kd->kind == QIAO_KD_GATHER && kd->n_expr > 0 && !float_dtype(kd->inputs[0].type.dtype))
    return refuse(reason, cap, "%s with an epilogue on a non-float table", kn);
  return true;
}

void qiao_cuda_sm_for_profile(const qiao_hal_profile_t *p, char *sm, size_t cap) {
  snprintf(sm, cap, "sm_90");
  if (!p) return;
  const qiao_hal_profile_details_t *det = qiao_hal_profile_details(p);
  const char *s = det && det->arch ? strstr(det->arch, "sm_") : NULL;
  if (s && s[3] >= '0' && s[3] <= '9') {
    snprintf(sm, cap, "sm_%d", atoi(s + 3));
    return;
  }
  const qiao_hal_profile_info_t *info = qiao_hal_profile_info(p);
  const char *n = info && info->name ? info->name : "";
  if (!strncmp(n, "a100", 4)) snprintf(sm, cap, "sm_80");
  /* h100, h200, h20 and unknown CUDA-class profiles: sm_90 */
}

/* The target for device d: the options' cpu, else the device profile's sm
 * (no device: sm_90); SMs from the profile (default 132). */
static void cuda_device_target(qiao_hal_device_t *d, const qiao_backend_options_t *o, char *sm,
                               size_t cap, int32_t *out_sms) {
  bool forced = o && o->cpu && *o->cpu;
  snprintf(sm, cap, "%s", forced ? o->cpu : "sm_90");
  *out_sms = 132;
  const qiao_hal_profile_t *p = NULL;
  if (!d) return;
  qiao_status_t st = qiao_hal_device_profile(d, &p);
  if (st || !p) {
    qiao_status_free(st);
    return;
  }
  const qiao_hal_profile_info_t *info = qiao_hal_profile_info(p);
  if (info->cores > 0) *out_sms = info->cores;
  if (!forced) qiao_cuda_sm_for_profile(p, sm, cap);
}

static qiao_status_t cuda_target_key(qiao_hal_device_t *d, const qiao_backend_options_t *o,
                                     char *buf, size_t cap) {
  char sm[32];
  int32_t sms;
  cuda_device_target(d, o, sm, sizeof sm, &sms);
  int32_t opt = o && o->opt_level ? o->opt_level : 3;
  int n = snprintf(buf, cap, "cuda|nvptx64-nvidia-cuda|%s|%s|sms=%d|O%d", sm,
                   o && o->features ? o->features : "+ptx80", (int)sms, opt < 0 ? 0 : (int)opt);
  if (n < 0 || (size_t)n >= cap)
    return qiao_status_make(QIAO_INTERNAL, "cuda: target key longer than %zu bytes", cap);
  return NULL;
}

static qiao_status_t cuda_module_create(qiao_hal_device_t *d, const qiao_backend_options_t *o,
                                        void **out_m) {
  char sm[32];
  int32_t sms;
  cuda_device_target(d, o, sm, sizeof sm, &sms);
  qiao_cuda_options_t co = {.sm = sm, .n_sms = sms};
  if (o) {
    co.features = o->features;
    co.opt_level = o->opt_level;
  }
  return qiao_cuda_module_create(&co, (qiao_cuda_module_t **)out_m);
}

static void cuda_module_destroy(void *m) { qiao_cuda_module_destroy(m); }

static qiao_status_t cuda_add_kernel(void *m, const qiao_kernel_desc_t *kd, const char *name,
                                     qiao_kernel_launch_t *out_launch) {
  return qiao_cuda_module_add_kernel(m, kd, name, out_launch);
}

static qiao_status_t cuda_add_kernel_variant(void *m, const qiao_kernel_desc_t *kd,
                                             const char *name, int32_t variant,
                                             qiao_kernel_launch_t *out_launch) {
  return qiao_cuda_module_add_kernel_variant(m, kd, name, variant, out_launch);
}

static int32_t cuda_variants(const qiao_kernel_desc_t *kd, qiao_hal_device_t *d,
                             qiao_kernel_variant_t *out, int32_t cap) {
  char sm[32];
  int32_t sms;
  cuda_device_target(d, NULL, sm, sizeof sm, &sms);
  if (kd->kind == QIAO_KD_ATTENTION) return qiao_cuda_attention_variants(kd, sms, out, cap);
  if (kd->kind == QIAO_KD_MOE) return qiao_cuda_moe_variants(kd, out, cap);
  return 0;
}

/* A variant's cost: its launches through the CUDA-class model on the device's
 * profile (no device: h100), registers assumed (no ptxas run per variant). */
static qiao_status_t cuda_variant_cost(const qiao_kernel_desc_t *kd, const qiao_kernel_variant_t *v,
                                       qiao_hal_device_t *d, double *out_ns, char *basis,
                                       size_t cap) {
  char sm[32];
  int32_t sms;
  cuda_device_target(d, NULL, sm, sizeof sm, &sms);
  qiao_cuda_variant_work_t vw;
  bool ok = kd->kind == QIAO_KD_ATTENTION ? qiao_cuda_attention_variant_work(kd, v->id, sms, &vw)
            : kd->kind == QIAO_KD_MOE     ? qiao_cuda_moe_variant_work(kd, v->id, sms, &vw)
                                          : false;
  if (!ok)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "cuda: '%s' is not a variant of this %s kernel",
                            v->name, qiao_kd_kind_name(kd->kind));
  const qiao_hal_profile_t *p = NULL;
  qiao_hal_profile_t *own = NULL;
  qiao_status_t st = d ? qiao_hal_device_profile(d, &p) : NULL;
  if (st || !p) {
    qiao_status_free(st);
    QIAO_RETURN_IF_ERROR(qiao_hal_profile_load_named("h100", &own));
    p = own;
  }
  double ns = 0;
  char bound[32] = "";
  double worst = -1;
  for (int32_t i = 0; i < vw.n && !st; ++i) {
    qiao_cuda_estimate_t e;
    st = qiao_cuda_model_estimate(p, &vw.w[i], &e);
    if (st) break;
    ns += e.ns;
    if (e.ns > worst) worst = e.ns, snprintf(bound, sizeof bound, "%s", e.bound);
  }
  if (!st) {
    *out_ns = ns;
    snprintf(basis, cap, "modelled, %s: %d launch%s, bound by %s (registers assumed)",
             qiao_hal_profile_info(p)->name, (int)vw.n, vw.n == 1 ? "" : "es", bound);
  }
  qiao_hal_profile_destroy(own);
  return st;
}

static qiao_status_t cuda_optimize(void *m) { return qiao_cuda_module_optimize(m); }

static qiao_status_t cuda_emit(void *m, qiao_artifact_kind_t kind, const char *path) {
  switch (kind) {
  case QIAO_ARTIFACT_PTX: return qiao_cuda_module_emit_ptx(m, path);
  case QIAO_ARTIFACT_LLVM: return qiao_cuda_module_emit_llvm(m, path);
  default:
    return qiao_status_make(QIAO_UNSUPPORTED,
                            "backend 'cuda' does not emit '%s' artifacts (it emits ptx, llvm)",
                            qiao_artifact_kind_name(kind));
  }
}

static qiao_status_t cuda_load(void *m, qiao_hal_device_t *d, qiao_hal_executable_t **out_exe) {
  return qiao_cuda_module_load(m, d, out_exe);
}

const qiao_backend_t qiao_backend_cuda = {
    .name = "cuda",
    .device_class = QIAO_HAL_CLASS_CUDA,
    .fusion_policy = cuda_fusion_policy,
    .supports = cuda_supports,
    .target_key = cuda_target_key,
    .module_create = cuda_module_create,
    .module_destroy = cuda_module_destroy,
    .add_kernel = cuda_add_kernel,
    .optimize = cuda_optimize,
    .emit = cuda_emit,
    .load = cuda_load,
    .predict = qiao_cuda_predict,
    .variants = cuda_variants,
    .variant_cost = cuda_variant_cost,
    .add_kernel_variant = cuda_add_kernel_variant,
};
