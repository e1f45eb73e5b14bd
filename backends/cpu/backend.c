/* CPU backend — its row in the backend registry: fusion policy, what it
 * supports, its target key, and the module ops over qiao_cpu_module_*. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/codegen.h"
#include "cpu/lower_moe.h"
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

static qiao_status_t cpu_add_kernel_variant(void *m, const qiao_kernel_desc_t *kd,
                                            const char *name, int32_t variant,
                                            qiao_kernel_launch_t *out_launch) {
  QIAO_RETURN_IF_ERROR(qiao_cpu_module_add_kernel_variant(m, kd, name, variant, out_launch));
  for (int i = 0; i < 3; ++i) out_launch->block[i] = 1;
  out_launch->shared_bytes = 0;
  qiao_kernel_launch_set_bindings(out_launch, kd);
  return NULL;
}

/* ------------------------------------------------ variants (cost model)
 *
 * Ids (qiao_cpu_module_add_kernel_variant): attention 1 "one-pass", N > 1
 * "splitkv(s=N)"; MoE 1 + cpu_moe_variant_t ("per_token", "decode_split",
 * "grouped"). The cost is a roofline over the host profile (measured peak and
 * bandwidth) per variant: its work and traffic, the fraction of the threads
 * its units keep busy, a per-phase dispatch cost, and the efficiency factors
 * below (docs/design.md "Dispatch by cost model"). */

/* KV splits offered for a decode attention, each of >= K_MIN_SPLIT_KEYS keys. */
static const int32_t k_attn_splits[] = {2, 4, 8};
#define K_MIN_SPLIT_KEYS 64
/* Dispatch of one phase over the thread pool (wake + join), ns. */
/* The share of the measured memory bandwidth one core draws alone [estimate: a single
 * thread streamed 25.6 GB/s of the host's ~34 GB/s measured in the MoE decode case]. */
#define K_CORE_BW 0.75
#define K_PHASE_NS_MT 4000.0
#define K_PHASE_NS_1T 300.0

static int32_t cpu_threads(qiao_hal_device_t *d) {
  int32_t t = d ? qiao_hal_device_thread_count(d) : 1;
  return t > 0 ? t : 1;
}

static int64_t cpu_attn_dims(const qiao_kernel_desc_t *kd, int64_t *B, int64_t *Hq, int64_t *Sq,
                             int64_t *Hkv, int64_t *Skv, int64_t *D, int64_t *Dv) {
  const qiao_shape_t *qs = &kd->inputs[0].type.shape, *ks = &kd->inputs[1].type.shape,
                     *vs = &kd->inputs[2].type.shape;
  if (qs->rank != 4 || ks->rank != 4 || vs->rank != 4) return 0;
  *B = qs->dims[0], *Hq = qs->dims[1], *Sq = qs->dims[2], *D = qs->dims[3];
  *Hkv = ks->dims[1], *Skv = ks->dims[2], *Dv = vs->dims[3];
  return 1;
}

static void set_variant(qiao_kernel_variant_t *v, int32_t id, const char *name) {
  v->id = id;
  snprintf(v->name, sizeof v->name, "%s", name);
}

static int32_t cpu_variants(const qiao_kernel_desc_t *kd, qiao_hal_device_t *d,
                            qiao_kernel_variant_t *out, int32_t cap) {
  int32_t th = cpu_threads(d), n = 0;
  if (kd->kind == QIAO_KD_ATTENTION) {
    int64_t B, Hq, Sq, Hkv, Skv, D, Dv;
    if (kd->n_primary_inputs < 3 || !cpu_attn_dims(kd, &B, &Hq, &Sq, &Hkv, &Skv, &D, &Dv))
      return 0;
    if (n < cap) set_variant(&out[n++], 1, "one-pass");
    for (size_t i = 0; i < sizeof k_attn_splits / sizeof k_attn_splits[0] && n < cap; ++i) {
      int32_t s = k_attn_splits[i];
      if (Skv / s < K_MIN_SPLIT_KEYS) break;
      if (qiao_cpu_attention_plan(kd, th, s).variant != QIAO_CPU_ATTN_SPLIT_KV) break;
      char name[48];
      snprintf(name, sizeof name, "splitkv(s=%d)", (int)s);
      set_variant(&out[n++], s, name);
    }
    return n > 1 ? n : 0;
  }
  if (kd->kind == QIAO_KD_MOE) {
    if (kd->n_primary_inputs < 5 || kd->inputs[0].type.shape.rank != 2) return 0;
    int64_t T = kd->inputs[0].type.shape.dims[0];
    if (n < cap) set_variant(&out[n++], 1 + CPU_MOE_PER_TOKEN, cpu_moe_variant_name(CPU_MOE_PER_TOKEN));
    if (T <= 4 && n < cap)
      set_variant(&out[n++], 1 + CPU_MOE_DECODE_SPLIT, cpu_moe_variant_name(CPU_MOE_DECODE_SPLIT));
    if (n < cap) set_variant(&out[n++], 1 + CPU_MOE_GROUPED, cpu_moe_variant_name(CPU_MOE_GROUPED));
    return n;
  }
  return 0;
}

/* One variant's terms for the roofline. */
typedef struct cpu_vwork {
  double flops, bytes; /* work, traffic (bytes from memory) */
  double units;        /* parallel units of the widest phase */
  int32_t phases;      /* thread-pool dispatches */
  double ce, me;       /* efficiency factors: compute, memory */
} cpu_vwork_t;

static double dsize(qiao_dtype_t t) { return (double)qiao_dtype_size(t); }

static bool cpu_attn_work(const qiao_kernel_desc_t *kd, int32_t id, int32_t th, cpu_vwork_t *w) {
  int64_t B, Hq, Sq, Hkv, Skv, D, Dv;
  if (id < 1 || !cpu_attn_dims(kd, &B, &Hq, &Sq, &Hkv, &Skv, &D, &Dv)) return false;
  qiao_cpu_attention_plan_t p = qiao_cpu_attention_plan(kd, th, id);
  if ((id == 1) != (p.variant == QIAO_CPU_ATTN_ONE_PASS)) return false;
  double G = Hkv > 0 ? (double)Hq / (double)Hkv : 1;
  double kv = (double)B * (double)Hkv * (double)Skv *
              ((double)D * dsize(kd->inputs[1].type.dtype) + (double)Dv * dsize(kd->inputs[2].type.dtype));
  double qo = (double)B * (double)Hq * (double)Sq *
              ((double)D * dsize(kd->inputs[0].type.dtype) + (double)Dv * dsize(kd->outputs[0].type.dtype));
  w->flops = 2.0 * (double)B * (double)Hq * (double)Sq * (double)Skv * (double)(D + Dv);
  /* ungrouped units (Gu = 1) read K/V once per query head of the group */
  w->bytes = qo + kv * (p.Gu == 1 ? G : 1) * (double)p.nqb;
  w->units = (double)p.units;
  w->phases = 1;
  w->ce = 0.45, w->me = 0.60;
  if (p.variant == QIAO_CPU_ATTN_SPLIT_KV) {
    /* partial (m, l, acc) per row and split: written, then read by the combine */
    w->bytes += 2.0 * (double)B * (double)Hq * (double)Sq * (double)p.n_splits * (double)(Dv + 2) * 4;
    w->phases = 2;
    w->ce = 0.40, w->me = 0.55; /* shorter KV loops per unit */
  }
  return true;
}

static bool cpu_moe_work(const qiao_kernel_desc_t *kd, int32_t id, int32_t th, cpu_vwork_t *w) {
  if (id < 1 || id > 3 || kd->inputs[0].type.shape.rank != 2 || kd->inputs[2].type.shape.rank != 3)
    return false;
  cpu_moe_variant_t v = (cpu_moe_variant_t)(id - 1);
  double T = (double)kd->inputs[0].type.shape.dims[0], D = (double)kd->inputs[0].type.shape.dims[1];
  double E = (double)kd->inputs[1].type.shape.dims[1], F = (double)kd->inputs[2].type.shape.dims[2];
  double K = (double)kd->attrs.top_k, ws = dsize(kd->inputs[2].type.dtype);
  double xs = dsize(kd->inputs[0].type.dtype), expert = 3.0 * D * F * ws;
  double active = T * K < E ? T * K : E; /* distinct experts touched, at most */
  w->flops = 2.0 * T * D * E + 6.0 * T * K * D * F;
  double io = T * D * (xs + dsize(kd->outputs[0].type.dtype)) + D * E * dsize(kd->inputs[1].type.dtype);
  cpu_moe_plan_t p = cpu_moe_plan_variant(kd, th, 8, v);
  switch (v) {
  case CPU_MOE_PER_TOKEN: /* each token streams its own top_k experts' rows */
    w->bytes = io + T * K * expert;
    w->units = T;
    w->phases = 1;
    w->ce = 0.30, w->me = 0.60;
    break;
  case CPU_MOE_DECODE_SPLIT: /* slices of F, then of D, over every thread; h through memory */
    w->bytes = io + active * expert + 2.0 * T * K * F * 4;
    w->units = ceil(F / (double)p.f_chunk) < ceil(D / (double)p.d_chunk) ? ceil(F / (double)p.f_chunk)
                                                                         : ceil(D / (double)p.d_chunk);
    w->phases = 2;
    /* measured on the quiet 2-core Zen 5 host (T = 1, D = 2048, F = 1408, 8 experts, top-2,
     * f32): 4.0 ms against per_token's 2.7 ms — its F-sliced rows stream worse */
    w->ce = 0.30, w->me = 0.35;
    break;
  case CPU_MOE_GROUPED: { /* chunks of tokens share packed strips of each expert */
    double chunks = ceil(T / (double)p.unit_tokens);
    w->bytes = io + chunks * active * expert;
    w->units = chunks;
    w->phases = 2;
    w->ce = 0.40, w->me = 0.60;
    break;
  }
  }
  return true;
}

static qiao_status_t cpu_variant_cost(const qiao_kernel_desc_t *kd, const qiao_kernel_variant_t *v,
                                      qiao_hal_device_t *d, double *out_ns, char *basis,
                                      size_t cap) {
  int32_t th = cpu_threads(d);
  cpu_vwork_t w;
  bool ok = kd->kind == QIAO_KD_ATTENTION ? cpu_attn_work(kd, v->id, th, &w)
            : kd->kind == QIAO_KD_MOE     ? cpu_moe_work(kd, v->id, th, &w)
                                          : false;
  if (!ok)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "cpu: '%s' is not a variant of this %s kernel",
                            v->name, qiao_kd_kind_name(kd->kind));
  const qiao_hal_profile_t *p = NULL;
  qiao_hal_profile_t *own = NULL;
  qiao_status_t st = d ? qiao_hal_device_profile(d, &p) : NULL;
  if (st || !p) {
    qiao_status_free(st);
    QIAO_RETURN_IF_ERROR(qiao_hal_profile_host(&own));
    p = own;
  }
  const qiao_hal_profile_info_t *in = qiao_hal_profile_info(p);
  if (in->peak_flops_f32 <= 0 || in->mem_bandwidth <= 0) {
    st = qiao_status_make(QIAO_INVALID_ARGUMENT, "cpu: profile '%s' has no peak rate or bandwidth",
                          in->name);
    qiao_hal_profile_destroy(own);
    return st;
  }
  /* the profile's rates are for all its cores: th threads get th / cores of them;
   * units over the threads: the busy fraction of the rounds they take */
  double cores = in->cores > 0 ? in->cores : 1, used = th < cores ? th : cores;
  double rounds = ceil(w.units / th), busy = w.units > 0 ? w.units / (rounds * th) : 1;
  double share = used / cores * busy;
  /* memory does not divide by cores: one core already draws K_CORE_BW of the measured
   * bandwidth, more cores saturate it */
  double mshare = used * busy * K_CORE_BW;
  if (mshare > 1) mshare = 1;
  double c = w.flops / (in->peak_flops_f32 * w.ce * share);
  double mm = w.bytes / (in->mem_bandwidth * w.me * mshare);
  *out_ns = (c > mm ? c : mm) * 1e9 + w.phases * (th > 1 ? K_PHASE_NS_MT : K_PHASE_NS_1T);
  snprintf(basis, cap,
           "roofline, %s%s: %s-bound, %d phase%s, %.0f units on %d threads, efficiency %.2f "
           "compute / %.2f memory",
           in->name, in->measured ? " (measured)" : "", c > mm ? "compute" : "memory",
           (int)w.phases, w.phases == 1 ? "" : "s", w.units, (int)th, w.ce, w.me);
  qiao_hal_profile_destroy(own);
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
    .variants = cpu_variants,
    .variant_cost = cpu_variant_cost,
    .add_kernel_variant = cpu_add_kernel_variant,
};
