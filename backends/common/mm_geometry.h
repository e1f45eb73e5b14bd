/* backends/common — the geometry of a matmul descriptor (target-neutral, plain
 * C): sizes, the element strides of a's and b's rows/columns whatever their
 * transposition, and the batch dims with each operand's broadcast strides.
 * Every backend's matmul lowering starts from it. */
#ifndef QIAO_BACKENDS_COMMON_MM_GEOMETRY_H
#define QIAO_BACKENDS_COMMON_MM_GEOMETRY_H

#include "qiao/ir.h"

/* The fields, also for lowering contexts that embed them by name
 * (`union { qiao_cg_mm_geo_t geo; struct { QIAO_CG_MM_GEO_FIELDS }; }`). */
#define QIAO_CG_MM_GEO_FIELDS                                                                    \
  int64_t M, N, K, batch;                                                                        \
  int nbd;                      /* output batch dims */                                          \
  int64_t bdims[QIAO_MAX_RANK]; /* their sizes */                                                \
  int64_t a_bs[QIAO_MAX_RANK], b_bs[QIAO_MAX_RANK], o_bs[QIAO_MAX_RANK]; /* 0: broadcast */      \
  int64_t sam, sak, sbk, sbn, som; /* a's m/k, b's k/n, the output's m strides */

typedef struct qiao_cg_mm_geo {
  QIAO_CG_MM_GEO_FIELDS
} qiao_cg_mm_geo_t;

/* Fills g from a matmul descriptor (inputs 0 and 1, output 0, attrs
 * transpose_a/b); QIAO_UNSUPPORTED naming `name` when an operand has rank < 2. */
qiao_status_t qiao_cg_mm_geometry(const qiao_kernel_desc_t *kd, const char *name,
                                  qiao_cg_mm_geo_t *g);

#endif /* QIAO_BACKENDS_COMMON_MM_GEOMETRY_H */
