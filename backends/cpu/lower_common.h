/* CPU backend — the CPU's own helpers for the non-matmul lowerings
 * (lower_elementwise.c ... lower_copy.c): how rows are split over the
 * workgroups of the CPU grid, and binding the epilogue's inputs. Index math,
 * strided access, the epilogue and copy runs are target-neutral and live in
 * backends/common (qiao_cg_*).
 *
 *   qk_plan_chunks / qk_rows_*   split `total` rows over workgroup x
 *   qk_epi_init                  the epilogue with the entry's bindings
 */
#ifndef QIAO_BACKENDS_CPU_LOWER_COMMON_H
#define QIAO_BACKENDS_CPU_LOWER_COMMON_H

#include <math.h>
#include <string.h>

#include "cpu/codegen.h"

/* ----------------------------------------------------------------- basics */

/* ------------------------------------------------------------ parallel rows */

typedef struct qk_rows {
  qiao_cg_loop_t loop;
  int64_t chunk, n_chunks;
} qk_rows_t;

/* How many workgroups for `total` rows of `work_per_row` element-operations each. */
static inline int64_t qk_plan_chunks(qiao_cpu_codegen_t *cg, int64_t total, int64_t work_per_row) {
  int64_t threads = cg->n_threads > 1 ? cg->n_threads : 1;
  double work = (double)total * (double)(work_per_row > 0 ? work_per_row : 1);
  if (total <= 1 || work < 32768.0) return 1;
  int64_t want = threads * 4;
  int64_t by_work = (int64_t)(work / 16384.0);
  if (by_work < want) want = by_work < threads ? threads : by_work;
  if (want > total) want = total;
  return want < 1 ? 1 : want;
}

/* Opens `for (r = lo; r < hi; ++r)` where [lo, hi) is workgroup x's share of
 * `total` rows split in `n_chunks` pieces (r->n_chunks: how many are
 * non-empty; workgroups past them get empty ranges). The builder is left in
 * the body. */
static inline void qk_rows_begin(qiao_cpu_codegen_t *cg, LLVMValueRef fn, int64_t total,
                                 int64_t n_chunks, qk_rows_t *r, const char *name) {
  if (n_chunks < 1) n_chunks = 1;
  r->chunk = (total + n_chunks - 1) / n_chunks;
  if (r->chunk < 1) r->chunk = 1;
  r->n_chunks = (total + r->chunk - 1) / r->chunk;
  if (r->n_chunks < 1) r->n_chunks = 1;
  LLVMValueRef lo, hi;
  if (n_chunks == 1) { /* requested 1: every workgroup of a 1-wide grid does it all */
    lo = qiao_cg_i64(&cg->base, 0);
    hi = qiao_cg_i64(&cg->base, total);
  } else {
    lo = qiao_cg_imul(&cg->base, qiao_cpu_wg(cg, fn, 0), r->chunk);
    hi = qiao_cg_imin(&cg->base, qiao_cg_iadd(&cg->base, lo, qiao_cg_i64(&cg->base, r->chunk)),
                      qiao_cg_i64(&cg->base, total));
  }
  qiao_cg_loop_begin(&cg->base, lo, hi, 1, name, &r->loop);
}
static inline void qk_rows_end(qiao_cpu_codegen_t *cg, qk_rows_t *r) {
  qiao_cg_loop_end(&cg->base, &r->loop);
}

/* Closes the row loop and the entry, and records the dispatch: grid x = the
 * row chunks, the per-worker scratch bytes. */
static inline void qk_kernel_end(qiao_cpu_codegen_t *cg, qk_rows_t *r, LLVMValueRef fn,
                                 uint64_t scratch_bytes, qiao_cpu_kernel_t *out) {
  qk_rows_end(cg, r);
  LLVMBuildRetVoid(cg->b);
  out->fn = fn;
  out->grid[0] = r->n_chunks;
  out->scratch_bytes = scratch_bytes;
}

/* ------------------------------------------------------------- epilogue */

/* Loads every binding pointer the epilogue may need (call in the entry block). */
static inline void qk_epi_init(qiao_cg_epi_t *e, qiao_cpu_codegen_t *cg,
                               const qiao_kernel_desc_t *kd, LLVMValueRef fn) {
  LLVMValueRef in[QIAO_KD_MAX_OPERANDS];
  for (int32_t i = 0; i < kd->n_inputs && i < QIAO_KD_MAX_OPERANDS; ++i)
    in[i] = qiao_cpu_binding(cg, fn, i);
  qiao_cg_epi_init(e, &cg->base, kd, in);
}

/* Transposes an n x n block held as n vectors of n lanes (n a power of two
 * <= 16) in place: log2(n) rounds of interleaving row i with row i + n/2. */
static inline void qk_transpose_regs(qiao_cpu_codegen_t *cg, LLVMValueRef *r, unsigned n) {
  LLVMValueRef mlo[16], mhi[16], o[16];
  for (unsigned t = 0; t < n / 2; ++t) {
    mlo[2 * t] = LLVMConstInt(cg->t_i32, t, 0);
    mlo[2 * t + 1] = LLVMConstInt(cg->t_i32, n + t, 0);
    mhi[2 * t] = LLVMConstInt(cg->t_i32, n / 2 + t, 0);
    mhi[2 * t + 1] = LLVMConstInt(cg->t_i32, n + n / 2 + t, 0);
  }
  LLVMValueRef lo_m = LLVMConstVector(mlo, n), hi_m = LLVMConstVector(mhi, n);
  for (unsigned round = 1; round < n; round *= 2) {
    for (unsigned q = 0; q < n / 2; ++q) {
      o[2 * q] = LLVMBuildShuffleVector(cg->b, r[q], r[q + n / 2], lo_m, "");
      o[2 * q + 1] = LLVMBuildShuffleVector(cg->b, r[q], r[q + n / 2], hi_m, "");
    }
    memcpy(r, o, sizeof(LLVMValueRef) * n);
  }
}

static inline int qk_norm_axis(int64_t axis, int rank) {
  return (int)(axis < 0 ? axis + rank : axis);
}

static inline void qk_kernel_init(qiao_cpu_kernel_t *out) {
  out->fn = NULL;
  out->grid[0] = out->grid[1] = out->grid[2] = 1;
  out->scratch_bytes = 0;
}

#endif /* QIAO_BACKENDS_CPU_LOWER_COMMON_H */
