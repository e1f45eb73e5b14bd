/* backends/common — the index maps of COPY kernels (transpose, slice, concat,
 * reshape), target-neutral plain C: each segment maps a domain of
 * coordinates to an input offset and an output offset. The CPU walks a
 * segment with vector runs over a grid of workgroups; the CUDA class with a
 * grid-stride loop (or a shared-memory tile for a transpose); both read the
 * same plan. Rope is not an index map (its lowerings compute it). */
#ifndef QIAO_BACKENDS_COMMON_COPY_PLAN_H
#define QIAO_BACKENDS_COMMON_COPY_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "qiao/ir.h"

typedef struct qiao_cg_affine {
  int n; /* domain rank */
  int64_t dims[QIAO_MAX_RANK];
  int64_t in_st[QIAO_MAX_RANK], out_st[QIAO_MAX_RANK];
  int64_t in_base, out_base;
  int32_t input; /* binding of the source */
  /* output coordinate d = domain coordinate out_dim[d] + out_add[d] (-1: none) */
  int out_dim[QIAO_MAX_RANK];
  int64_t out_add[QIAO_MAX_RANK];
  bool reshape; /* output coords: unflatten of the domain's linear index */
} qiao_cg_affine_t;

/* An axis as written (negative counts from the end) → 0-based. */
static inline int qiao_cg_norm_axis(int64_t axis, int rank) {
  return (int)(axis < 0 ? axis + rank : axis);
}

/* Fills segs (up to QIAO_KD_MAX_OPERANDS: one per concat input, else one) for
 * a COPY descriptor; QIAO_UNSUPPORTED naming the op for one that is not an
 * index map, QIAO_INVALID_ARGUMENT for a bad axis or step. */
qiao_status_t qiao_cg_copy_plan(const qiao_kernel_desc_t *kd, const char *name,
                                qiao_cg_affine_t *segs, int *out_n_segs);

#endif /* QIAO_BACKENDS_COMMON_COPY_PLAN_H */
