/* Kernel descriptors — the work a kernel does (FLOPs, bytes): the inputs of
 * every backend's cost model and of `qiao-run --explain`. Target-neutral. */
#include <string.h>

#include "qiao/ir.h"

static double numel(const qiao_type_t *t) { return (double)qiao_shape_numel(&t->shape); }
static double nbytes(const qiao_type_t *t) { return numel(t) * (double)qiao_dtype_size(t->dtype); }

/* FLOPs of an elementwise expression per output element: its op nodes. */
static double expr_ops(const qiao_kernel_desc_t *kd) {
  double n = 0;
  for (int32_t i = 0; i < kd->n_expr; ++i)
    if (kd->expr[i].kind == QIAO_EXPR_OP && kd->expr[i].op != QIAO_OP_CAST) n += 1;
  return n;
}

static int64_t dim(const qiao_type_t *t, int32_t from_end) {
  int32_t r = t->shape.rank;
  return r >= from_end ? t->shape.dims[r - from_end] : 1;
}

void qiao_kernel_desc_work(const qiao_kernel_desc_t *kd, qiao_kd_work_t *out) {
  memset(out, 0, sizeof *out);
  out->contract_dtype = QIAO_F32;
  if (kd->n_outputs < 1) return;
  const qiao_type_t *o = &kd->outputs[0].type;
  const qiao_type_t *a = kd->n_inputs > 0 ? &kd->inputs[0].type : o;
  double n_out = numel(o);
  for (int32_t i = 0; i < kd->n_inputs; ++i)
    out->bytes += nbytes(&kd->inputs[i].type);
  for (int32_t i = 0; i < kd->n_outputs; ++i)
    out->bytes += nbytes(&kd->outputs[i].type);
  double other = expr_ops(kd) * n_out; /* the epilogue (or the whole elementwise body) */
  switch (kd->kind) {
  case QIAO_KD_ELEMENTWISE:
    if (other < n_out) other = n_out;
    break;
  case QIAO_KD_REDUCE: other += numel(a); break;
  case QIAO_KD_SOFTMAX: other += 5 * numel(a); break; /* max, sub, exp, sum, scale */
  case QIAO_KD_NORM: other += 5 * numel(a); break;    /* square, sum, rsqrt-scale, weight */
  case QIAO_KD_TOPK: other += numel(a); break;        /* one compare per element */
  case QIAO_KD_MATMUL: {
    int64_t k = kd->attrs.transpose_a ? dim(a, 2) : dim(a, 1);
    out->contract_flops = 2.0 * n_out * (double)k;
    out->contract_dtype = a->dtype;
    if (kd->has_norm_prologue) other += 5 * numel(a);
    break;
  }
  case QIAO_KD_ATTENTION: {
    /* q [B, H, S, D], k/v [B, Hkv, Skv, D]: QKᵀ and PV, 2·S·Skv·D each per head. */
    const qiao_type_t *k = kd->n_inputs > 1 ? &kd->inputs[1].type : a;
    double s = (double)dim(a, 2), d = (double)dim(a, 1), skv = (double)dim(k, 2);
    double heads = numel(a) / (s * d > 0 ? s * d : 1);
    double pairs = heads * s * skv;
    if (kd->attrs.causal && s == skv) pairs = heads * s * (s + 1) / 2;
    if (kd->attrs.window > 0 && kd->attrs.window < skv)
      pairs = heads * s * (double)kd->attrs.window;
    out->contract_flops = 4.0 * pairs * d;
    out->contract_dtype = a->dtype;
    other += 5 * pairs; /* scale, max, exp, sum, rescale */
    break;
  }
  case QIAO_KD_MOE: {
    /* x [T, Dm]; router [Dm, E]; expert gate/up [E, Dm, F], down [E, F, Dm]:
     * each token runs top_k experts' three GEMMs. Only those experts' weights
     * are read (at most every expert's). */
    double t = numel(a) / (double)(dim(a, 1) > 0 ? dim(a, 1) : 1), dm = (double)dim(a, 1);
    double e = kd->n_inputs > 1 ? (double)dim(&kd->inputs[1].type, 1) : 1;
    double f = kd->n_inputs > 2 ? (double)dim(&kd->inputs[2].type, 1) : dm;
    double topk = kd->attrs.top_k > 0 ? (double)kd->attrs.top_k : 1;
    out->contract_flops = 2.0 * t * dm * e + t * topk * 3 * 2.0 * dm * f;
    out->contract_dtype = kd->n_inputs > 2 ? kd->inputs[2].type.dtype : a->dtype;
    other += 5 * t * e;
    double experts_read = t * topk < e ? t * topk : e;
    for (int32_t i = 2; i < kd->n_inputs && i < 5; ++i)
      out->bytes -= nbytes(&kd->inputs[i].type) * (1 - experts_read / (e > 0 ? e : 1));
    break;
  }
  case QIAO_KD_GATHER:
    /* only the gathered rows of the table are read */
    if (kd->n_inputs > 0) out->bytes += n_out * (double)qiao_dtype_size(a->dtype) - nbytes(a);
    break;
  case QIAO_KD_COPY:
  default: break;
  }
  out->other_flops = other;
}
