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
  LLVMTypeRef t_entry; /* the entry function type */
};

/* The CPU context around a common one that is its `base` (the first member). */
static inline qiao_cpu_codegen_t *qiao_cpu_codegen_of(qiao_cg_t *base) {
  return (qiao_cpu_codegen_t *)(void *)base;
}

/* One launch of a multi-phase CPU kernel: its entry (named by the function),
 * grid x and per-worker scratch. */
typedef struct qiao_cpu_phase {
  LLVMValueRef fn;
  int64_t grid;
  uint64_t scratch_bytes;
} qiao_cpu_phase_t;

/* What a lowering produced: the entry and how to dispatch it. A multi-phase
 * kernel (n_phases > 1) instead lists its launches in `phases`, dispatched in
 * order, each entry taking one extra trailing binding: the device workspace of
 * workspace_bytes (not zeroed; each phase writes what a later one reads). fn,
 * grid and scratch_bytes then repeat phases[0]. */
typedef struct qiao_cpu_kernel {
  LLVMValueRef fn;
  int64_t grid[3];
  uint64_t scratch_bytes;
  int32_t n_phases;
  qiao_cpu_phase_t phases[QIAO_KERNEL_MAX_PHASES];
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

#endif /* QIAO_BACKENDS_CPU_CODEGEN_H */
