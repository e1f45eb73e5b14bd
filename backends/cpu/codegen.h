/* CPU backend — private codegen interface shared by every kernel lowering.
 *
 * One codegen context builds one LLVM module holding any number of kernel
 * entries. Each lowering (lower_<kind>.c) reads a kernel descriptor and emits
 * one entry with the HAL's CPU calling convention:
 *
 *   void entry(ptr bindings, ptr constants, i64 wg_x, i64 wg_y, i64 wg_z, ptr scratch)
 *
 * bindings[i] for i < kd->n_inputs are the kernel inputs in descriptor order,
 * then the outputs (bindings[kd->n_inputs + j]). All shapes are static, so
 * constants are unused (n_constants = 0). The lowering chooses the grid and
 * the per-worker scratch size. The target-neutral emission (loops, the
 * vector loop with a tail, typed and strided access, index math, fused
 * expressions, math) is backends/common's qiao_cg_* on `&cg->base`; kernels
 * read like the algorithm.
 */
#ifndef QIAO_BACKENDS_CPU_CODEGEN_H
#define QIAO_BACKENDS_CPU_CODEGEN_H

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>

#include "common/codegen.h"
#include "qiao/backend.h"
#include "qiao/ir.h"

typedef struct qiao_cpu_codegen qiao_cpu_codegen_t;

struct qiao_cpu_codegen {
  union {
    qiao_cg_t base; /* the target-neutral part, for backends/common */
    struct {
      QIAO_CG_FIELDS
    };
  };
  char *cpu_name;     /* e.g. "znver4" (owned) */
  char *cpu_features; /* "+avx512f,..." (owned) */
  /* Vector ISA facts used by the lowerings. */
  bool has_avx512f, has_avx512bf16, has_avx512fp16, has_avx2, has_fma, has_neon;
  unsigned n_vregs;    /* architectural vector registers (32 / 16 / 32) */
  int32_t n_threads;   /* threads the kernels will be dispatched on (a grid-size hint) */
  bool is_host;        /* the module targets this process's CPU (JIT-able) */
  int32_t attn_splits; /* attention KV splits: 0 planned (cpu_attention_plan), 1 single pass,
                          N > 1 split-KV with N splits where the kernel allows it */
  int32_t moe_variant; /* MoE: 0 planned (cpu_moe_plan), else 1 + the cpu_moe_variant_t forced
                          (qiao_cpu_module_add_kernel_variant) */
  LLVMTypeRef t_entry; /* the entry function type */
};

/* The CPU context around a common one that is its `base` (the first member). */
static inline qiao_cpu_codegen_t *qiao_cpu_codegen_of(qiao_cg_t *base) {
  return (qiao_cpu_codegen_t *)(void *)base;
}

/* A later launch of a multi-phase kernel: its own entry, grid and scratch. */
typedef struct qiao_cpu_phase {
  LLVMValueRef fn;
  char name[64];
  int64_t grid[3];
  uint64_t scratch_bytes;
} qiao_cpu_phase_t;

/* What a lowering produced: the entry and how to dispatch it. A multi-phase
 * kernel (split-KV attention and its combine) adds n_more entries launched
 * after `fn` in order; with workspace_bytes > 0 every phase takes one more
 * trailing binding (after the outputs): the device workspace of the launch
 * record (include/qiao/backend.h), not zeroed. */
typedef struct qiao_cpu_kernel {
  LLVMValueRef fn;
  int64_t grid[3];
  uint64_t scratch_bytes;
  int32_t n_more;
  qiao_cpu_phase_t more[3];
  uint64_t workspace_bytes;
} qiao_cpu_kernel_t;

/* ------------------------------------------------------------ entry, params */

/* Creates `name` with the entry signature, adds the attributes every kernel
 * gets (nounwind, target cpu/features, prefer-vector-width), and positions
 * cg->b at its entry block. */
LLVMValueRef qiao_cpu_entry_begin(qiao_cpu_codegen_t *cg, const char *name);
/* bindings[index] as a ptr (emitted at the current insertion point). */
LLVMValueRef qiao_cpu_binding(qiao_cpu_codegen_t *cg, LLVMValueRef fn, int32_t index);
/* Entry parameters. */
LLVMValueRef qiao_cpu_wg(qiao_cpu_codegen_t *cg, LLVMValueRef fn, int axis); /* i64 wg id */
LLVMValueRef qiao_cpu_scratch(qiao_cpu_codegen_t *cg, LLVMValueRef fn);

/* ------------------------------------------------------------- lowerings */

/* Each lowers one descriptor into an entry named `name` (lower_<kind>.c). */
typedef qiao_status_t qiao_cpu_lower_fn(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                        const char *name, qiao_cpu_kernel_t *out);
qiao_cpu_lower_fn qiao_cpu_lower_matmul, qiao_cpu_lower_elementwise, qiao_cpu_lower_reduce,
    qiao_cpu_lower_softmax, qiao_cpu_lower_norm, qiao_cpu_lower_attention, qiao_cpu_lower_moe,
    qiao_cpu_lower_gather, qiao_cpu_lower_topk, qiao_cpu_lower_copy;

/* ------------------------------------------------ attention variants */

/* How an attention kernel runs on the CPU; chosen in one place
 * (qiao_cpu_attention_plan, lower_attention.c) so that a dispatcher can
 * enumerate the variants and override the choice (qiao_cpu_options_t's
 * attention_splits). */
typedef enum qiao_cpu_attention_variant {
  QIAO_CPU_ATTN_ONE_PASS = 0, /* one phase: each unit's rows over all their keys */
  QIAO_CPU_ATTN_SPLIT_KV = 1, /* flash-decoding: partial (m, l, acc) per KV split to the
                                 workspace, then a combine phase */
} qiao_cpu_attention_variant_t;

typedef struct qiao_cpu_attention_plan {
  qiao_cpu_attention_variant_t variant;
  int64_t n_splits; /* KV splits per (batch, kv head); 1 for one pass */
  int64_t Gu;       /* query heads per unit: the GQA group G, or 1 (ungrouped) */
  int64_t Bq;       /* query positions per unit */
  int64_t nqb;      /* query blocks: ceil(Sq / Bq) */
  int64_t units;    /* phase-1 units: B x (Hkv or Hq) x nqb x n_splits */
} qiao_cpu_attention_plan_t;

/* The plan for attention descriptor `kd` on `threads` threads. force_splits:
 * 0 decides; 1 one pass; N > 1 split-KV with N splits when the kernel allows
 * it (B > 0 and every query row of a GQA group in one unit: Sq <= max(1, 32 / G)). */
qiao_cpu_attention_plan_t qiao_cpu_attention_plan(const qiao_kernel_desc_t *kd, int32_t threads,
                                                  int32_t force_splits);

#endif /* QIAO_BACKENDS_CPU_CODEGEN_H */
