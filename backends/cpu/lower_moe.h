/* CPU backend — the MoE lowering's variants and the one function that
 * chooses between them (lower_moe.c).
 *
 *   PER_TOKEN     tokens split over the workgroups; each token routes, then
 *                 runs its top_k experts row by row of the weights (few
 *                 tokens, or one thread).
 *   DECODE_SPLIT  1..4 tokens on several threads: two phases through the
 *                 device workspace. Phase 0 splits the hidden dimension F of
 *                 every chosen expert over the workgroups (h = w·silu(x·gate)
 *                 ·(x·up) into the workspace), phase 1 splits the model
 *                 dimension D (y = Σ h·down, the epilogue); each phase routes
 *                 the tokens itself (deterministic, D·E work per token), so
 *                 only h crosses the phase boundary.
 *   GROUPED       many tokens: chunks of tokens are routed, then per expert
 *                 its tokens share packed weight strips, four at a time.
 *
 * A cost-model dispatcher may enumerate the variants and override the plan
 * (qiao_cpu_lower_moe_plan); cpu_moe_plan is the default choice. */
#ifndef QIAO_BACKENDS_CPU_LOWER_MOE_H
#define QIAO_BACKENDS_CPU_LOWER_MOE_H

#include "cpu/codegen.h"

typedef enum cpu_moe_variant {
  CPU_MOE_PER_TOKEN,
  CPU_MOE_DECODE_SPLIT,
  CPU_MOE_GROUPED,
} cpu_moe_variant_t;

typedef struct cpu_moe_plan {
  cpu_moe_variant_t variant;
  int64_t token_chunks; /* PER_TOKEN: workgroups over the tokens */
  int64_t unit_tokens;  /* GROUPED: tokens per routed chunk (one workgroup each) */
  int64_t f_chunk;      /* DECODE_SPLIT: phase 0's F slice per workgroup (a multiple of vec) */
  int64_t d_chunk;      /* DECODE_SPLIT: phase 1's D slice per workgroup (a multiple of vec) */
} cpu_moe_plan_t;

/* "per_token", "decode_split", "grouped". */
const char *cpu_moe_variant_name(cpu_moe_variant_t v);

/* The default plan for a valid MoE descriptor on `threads` workers with
 * `vec` f32 lanes per vector. */
cpu_moe_plan_t cpu_moe_plan(const qiao_kernel_desc_t *kd, int64_t threads, unsigned vec);

/* The plan of variant `v` forced (its chunking as cpu_moe_plan would size it). */
cpu_moe_plan_t cpu_moe_plan_variant(const qiao_kernel_desc_t *kd, int64_t threads, unsigned vec,
                                    cpu_moe_variant_t v);

/* Lowers `kd` with the given plan (any variant is valid for any shape;
 * chunk sizes are clamped). */
qiao_status_t qiao_cpu_lower_moe_plan(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                      const char *name, const cpu_moe_plan_t *plan,
                                      qiao_cpu_kernel_t *out);

#endif /* QIAO_BACKENDS_CPU_LOWER_MOE_H */
