/* backends/common — index maps of COPY kernels (see copy_plan.h). */
#include <string.h>

#include "common/copy_plan.h"

static void identity_map(qiao_cg_affine_t *a, int rank) {
  for (int d = 0; d < rank; ++d) {
    a->out_dim[d] = d;
    a->out_add[d] = 0;
  }
}

/* Python slice start (the interpreter's rule). */
static int64_t slice_start(int64_t start, int64_t step, int64_t n) {
  if (start < 0) start += n;
  if (step > 0) return start < 0 ? 0 : start > n ? n : start;
  return start < -1 ? -1 : start > n - 1 ? n - 1 : start;
}

qiao_status_t qiao_cg_copy_plan(const qiao_kernel_desc_t *kd, const char *name,
                                qiao_cg_affine_t *segs, int *out_n_segs) {
  const qiao_kd_operand_t *o = &kd->outputs[0];
  const qiao_kd_operand_t *x = &kd->inputs[0];
  int orank = o->type.shape.rank;
  int n_segs = 0;
  memset(segs, 0, sizeof(*segs) * QIAO_KD_MAX_OPERANDS);
  switch (kd->op) {
  case QIAO_OP_TRANSPOSE: {
    qiao_cg_affine_t *a = &segs[n_segs++];
    a->n = orank;
    identity_map(a, orank);
    for (int d = 0; d < orank; ++d) {
      int64_t pd = kd->attrs.perm[d];
      if (pd < 0) pd += orank;
      a->dims[d] = o->type.shape.dims[d];
      a->in_st[d] = x->strides[pd];
      a->out_st[d] = o->strides[d];
    }
    break;
  }
  case QIAO_OP_SLICE: {
    qiao_cg_affine_t *a = &segs[n_segs++];
    int ax = qiao_cg_norm_axis(kd->attrs.axis, orank);
    if (ax < 0 || ax >= orank || kd->attrs.step == 0)
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "slice kernel %s: bad axis or step", name);
    a->n = orank;
    identity_map(a, orank);
    for (int d = 0; d < orank; ++d) {
      a->dims[d] = o->type.shape.dims[d];
      a->in_st[d] = x->strides[d] * (d == ax ? kd->attrs.step : 1);
      a->out_st[d] = o->strides[d];
    }
    a->in_base =
        slice_start(kd->attrs.start, kd->attrs.step, x->type.shape.dims[ax]) * x->strides[ax];
    break;
  }
  case QIAO_OP_CONCAT: {
    int ax = qiao_cg_norm_axis(kd->attrs.axis, orank);
    if (ax < 0 || ax >= orank)
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "concat kernel %s: bad axis", name);
    int64_t off = kd->copy_out_offset; /* a split concat writes its slice */
    for (int32_t k = 0; k < kd->n_primary_inputs; ++k) {
      const qiao_kd_operand_t *xi = &kd->inputs[k];
      qiao_cg_affine_t *a = &segs[n_segs++];
      a->n = orank;
      a->input = k;
      identity_map(a, orank);
      a->out_add[ax] = off;
      for (int d = 0; d < orank; ++d) {
        a->dims[d] = xi->type.shape.dims[d];
        a->in_st[d] = xi->strides[d];
        a->out_st[d] = o->strides[d];
      }
      a->out_base = off * o->strides[ax];
      off += xi->type.shape.dims[ax];
    }
    break;
  }
  case QIAO_OP_RESHAPE: {
    qiao_cg_affine_t *a = &segs[n_segs++];
    int r = x->type.shape.rank;
    a->n = r;
    a->reshape = true;
    int64_t cs = 1;
    for (int d = r - 1; d >= 0; --d) {
      a->dims[d] = x->type.shape.dims[d];
      a->in_st[d] = x->strides[d];
      a->out_st[d] = cs; /* the output is contiguous: linear index */
      cs *= x->type.shape.dims[d];
    }
    for (int d = 0; d < orank; ++d)
      a->out_dim[d] = -1;
    break;
  }
  default:
    return qiao_status_make(QIAO_UNSUPPORTED, "copy kernel %s: op %s is not a copy", name,
                            qiao_op_name(kd->op));
  }
  *out_n_segs = n_segs;
  return NULL;
}
