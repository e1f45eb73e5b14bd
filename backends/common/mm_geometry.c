/* backends/common — matmul geometry (see mm_geometry.h). */
#include <string.h>

#include "common/mm_geometry.h"

/* Element stride of batch dim d (of nbd output batch dims) in op; 0 where op
 * has no such dim or broadcasts it (size 1). */
static int64_t batch_stride(const qiao_kd_operand_t *op, int nbd, int d) {
  int rb = op->type.shape.rank - 2;
  int dx = d - (nbd - rb);
  if (dx < 0 || op->type.shape.dims[dx] == 1) return 0;
  return op->strides[dx];
}

qiao_status_t qiao_cg_mm_geometry(const qiao_kernel_desc_t *kd, const char *name,
                                  qiao_cg_mm_geo_t *g) {
  memset(g, 0, sizeof *g);
  const qiao_kd_operand_t *A = &kd->inputs[0], *B = &kd->inputs[1], *O = &kd->outputs[0];
  int ra = A->type.shape.rank, rb = B->type.shape.rank, r = O->type.shape.rank;
  if (ra < 2 || rb < 2 || r < 2)
    return qiao_status_make(QIAO_UNSUPPORTED, "%s: matmul needs operands of rank >= 2", name);
  bool ta = kd->attrs.transpose_a, tb = kd->attrs.transpose_b;
  g->M = O->type.shape.dims[r - 2];
  g->N = O->type.shape.dims[r - 1];
  g->K = A->type.shape.dims[ta ? ra - 2 : ra - 1];
  g->sam = A->strides[ta ? ra - 1 : ra - 2];
  g->sak = A->strides[ta ? ra - 2 : ra - 1];
  g->sbk = B->strides[tb ? rb - 1 : rb - 2];
  g->sbn = B->strides[tb ? rb - 2 : rb - 1];
  g->som = O->strides[r - 2];
  g->nbd = r - 2;
  g->batch = 1;
  for (int d = 0; d < g->nbd; ++d) {
    g->bdims[d] = O->type.shape.dims[d];
    g->batch *= g->bdims[d];
    g->a_bs[d] = batch_stride(A, g->nbd, d);
    g->b_bs[d] = batch_stride(B, g->nbd, d);
    g->o_bs[d] = O->strides[d];
  }
  return NULL;
}
