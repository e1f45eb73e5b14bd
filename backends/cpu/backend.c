/* CPU backend — its row in the backend registry: fusion policy, what it
 * supports, its target key, and the module ops over qiao_cpu_module_*. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/backend_cpu.h"

static const qiao_fusion_policy_t *cpu_fusion_policy(qiao_hal_device_t *d) {
  /* The CPU's choices are the IR's reference policy (ir/partition.c): every
   * elementwise chain, an epilogue on every anchor kind (applied in registers
   * while the result is stored), norms recomputed in the packing of each matmul
   * that reads them (O(MK) against O(MKN)), the hard descriptor budgets. */
  (void)d;
  return qiao_fusion_policy_default();
}

static bool float_dtype(qiao_dtype_t t) {
  return t == QIAO_F32 || t == QIAO_F16 || t == QIAO_BF16 || t == QIAO_F8E4M3 || t == QIAO_F8E5M2;
}

/* The structural limits of the CPU lowerings (lower_*.c re-check them). */
static bool cpu_supports(const qiao_kernel_desc_t *kd, qiao_hal_device_t *d, char *reason,
                         size_t cap) {
  (void)d;
  if ((unsigned)kd->kind >= QIAO_KD_KIND_COUNT) {
    snprintf(reason, cap, "kernel kind %d is unknown", (int)kd->kind);
    return false;
  }
  if (kd->kind == QIAO_KD_MATMUL) {
    if (kd->n_inputs < 2 || kd->n_outputs < 1) {
      snprintf(reason, cap, "a matmul needs two inputs and an output");
      return false;
    }
    const qiao_kd_operand_t *a = &kd->inputs[0], *b = &kd->inputs[1];
    qiao_dtype_t at = a->type.dtype, bt = b->type.dtype;
    bool ints = at == QIAO_I8 && bt == QIAO_I8;
    if (!ints && !(float_dtype(at) && float_dtype(bt))) {
      snprintf(reason, cap, "matmul of %s x %s (the CPU multiplies float dtypes or i8 x i8)",
               qiao_dtype_name(at), qiao_dtype_name(bt));
      return false;
    }
    int ra = a->type.shape.rank, rb = b->type.shape.rank;
    if (ra < 2 || rb < 2) {
      snprintf(reason, cap, "matmul operands of rank %d and %d (need >= 2)", ra, rb);
      return false;
    }
    bool ta = kd->attrs.transpose_a, tb = kd->attrs.transpose_b;
    int64_t sak = a->strides[ta ? ra - 2 : ra - 1], sam = a->strides[ta ? ra - 1 : ra - 2];
    int64_t sbk = b->strides[tb ? rb - 1 : rb - 2], sbn = b->strides[tb ? rb - 2 : rb - 1];
    if ((sak != 1 && sam != 1) || (sbk != 1 && sbn != 1)) {
      snprintf(reason, cap, "matmul operands need a unit inner stride");
      return false;
    }
    if (kd->has_norm_prologue && (ta || sak != 1)) {
      snprintf(reason, cap, "a norm prologue needs a non-transposed, contiguous a");
      return false;
    }
  }
  return true;
}

static qiao_status_t cpu_target_key(qiao_hal_device_t *d, const qiao_backend_options_t *o,
                                    char *buf, size_t cap) {
  char host[256];
  if (o && o->triple)
    snprintf(host, sizeof host, "%s/%s/%s", o->triple, o->cpu ? o->cpu : "generic",
             o->features ? o->features : "");
  else
    qiao_cpu_host_describe(host, sizeof host);
  int32_t threads = o && o->n_threads > 0 ? o->n_threads : d ? qiao_hal_device_thread_count(d) : 1;
  int32_t opt = o && o->opt_level ? o->opt_level : 3;
  int n = snprintf(buf, cap, "cpu|%s|threads=%d|O%d", host, threads, opt < 0 ? 0 : opt);
  if (n < 0 || (size_t)n >= cap)
    return qiao_status_make(QIAO_INTERNAL, "cpu: target key longer than %zu bytes", cap);
  return NULL;
}

static qiao_status_t cpu_module_create(qiao_hal_device_t *d, const qiao_backend_options_t *o,
                                       void **out_m) {
  qiao_cpu_options_t co = {0};
  if (o) {
    co.triple = o->triple;
    co.cpu = o->cpu;
    co.features = o->features;
    co.opt_level = o->opt_level;
    co.n_threads = o->n_threads;
  }
  if (co.n_threads <= 0 && d) co.n_threads = qiao_hal_device_thread_count(d);
  return qiao_cpu_module_create(&co, (qiao_cpu_module_t **)out_m);
}

static void cpu_module_destroy(void *m) { qiao_cpu_module_destroy(m); }

static qiao_status_t cpu_add_kernel(void *m, const qiao_kernel_desc_t *kd, const char *name,
                                    qiao_kernel_launch_t *out_launch) {
  QIAO_RETURN_IF_ERROR(qiao_cpu_module_add_kernel(m, kd, name, out_launch));
  for (int i = 0; i < 3; ++i) out_launch->block[i] = 1;
  out_launch->shared_bytes = 0;
  qiao_kernel_launch_set_bindings(out_launch, kd);
  return NULL;
}

static qiao_status_t cpu_optimize(void *m) { return qiao_cpu_module_optimize(m); }

static qiao_status_t cpu_emit(void *m, qiao_artifact_kind_t kind, const char *path) {
  switch (kind) {
  case QIAO_ARTIFACT_OBJECT: return qiao_cpu_module_emit_object(m, path);
  case QIAO_ARTIFACT_SHARED: return qiao_cpu_module_emit_shared(m, path);
  case QIAO_ARTIFACT_LLVM: return qiao_cpu_module_emit_llvm(m, path);
  case QIAO_ARTIFACT_ASM: return qiao_cpu_module_emit_asm(m, path);
  default:
    return qiao_status_make(QIAO_UNSUPPORTED,
                            "backend 'cpu' does not emit '%s' artifacts (it emits obj, so, llvm, asm)",
                            qiao_artifact_kind_name(kind));
  }
}

static qiao_status_t cpu_load(void *m, qiao_hal_device_t *d, qiao_hal_executable_t **out_exe) {
  return qiao_cpu_module_jit(m, d, out_exe);
}

const qiao_backend_t qiao_backend_cpu = {
    .name = "cpu",
    .device_class = QIAO_HAL_CLASS_CPU,
    .fusion_policy = cpu_fusion_policy,
    .supports = cpu_supports,
    .target_key = cpu_target_key,
    .module_create = cpu_module_create,
    .module_destroy = cpu_module_destroy,
    .add_kernel = cpu_add_kernel,
    .optimize = cpu_optimize,
    .emit = cpu_emit,
    .load = cpu_load,
};
