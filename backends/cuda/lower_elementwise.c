/* CUDA backend — ELEMENTWISE kernels: the fused expression per output
 * element, in a grid-stride loop (block 256, grid enough CTAs to cover the
 * work, at most 32 per SM).
 *
 * Vector path: when the output is contiguous and every input is either laid
 * out like it (contiguous, same shape) or a scalar broadcast, thread t of the
 * grid handles groups of V = 16 / sizeof(out) consecutive elements: one
 * 128-bit load per full input (ld.global.v4 for f32; bindings are 16-byte
 * aligned by the entry convention), the expression on <V x f32>, one 128-bit
 * store. Consecutive threads take consecutive groups, so a warp reads 512
 * contiguous bytes per input (coalesced). The n mod V tail runs one element
 * per thread.
 * General path (broadcast by out_strides, strided outputs): one element per
 * iteration; the linear index is unflattened over the output dims and each
 * input is addressed through its out_strides (0 on broadcast dims). */
#include <string.h>

#include "cuda/codegen.h"

typedef struct ew_vec {
  qiao_cuda_codegen_t *cg;
  const qiao_kernel_desc_t *kd;
  LLVMValueRef idx; /* first element of the group */
  bool full[QIAO_KD_MAX_OPERANDS];
} ew_vec_t;

static unsigned align_of(unsigned lanes, unsigned esize) {
  unsigned a = lanes * esize;
  return a > 16 ? 16 : a;
}

static LLVMValueRef ew_vec_load(void *ctx, int32_t input, unsigned lanes) {
  ew_vec_t *c = ctx;
  qiao_cuda_codegen_t *cg = c->cg;
  qiao_dtype_t dt = c->kd->inputs[input].type.dtype;
  LLVMValueRef base = qiao_cuda_param(cg, input);
  if (!c->full[input]) {
    LLVMValueRef s = qiao_cg_load_f32(&cg->base, base, dt, qiao_cg_i64(&cg->base, 0), 1);
    return lanes == 1 ? s : qiao_cg_splat(&cg->base, s, lanes);
  }
  LLVMTypeRef vt = qiao_cg_vec_type(&cg->base, qiao_cg_storage_type(&cg->base, dt), lanes);
  LLVMValueRef raw =
      LLVMBuildLoad2(cg->b, vt, qiao_cg_elem_ptr(&cg->base, base, dt, c->idx), "ldv");
  LLVMSetAlignment(raw, align_of(lanes, (unsigned)qiao_dtype_size(dt)));
  return qiao_cg_storage_to_f32(&cg->base, raw, dt, lanes);
}

static bool contiguous(const qiao_type_t *t, const int64_t *strides) {
  int64_t s = 1;
  for (int d = t->shape.rank - 1; d >= 0; --d) {
    if (t->shape.dims[d] != 1 && strides[d] != s) return false;
    s *= t->shape.dims[d];
  }
  return true;
}

qiao_status_t qiao_cuda_lower_elementwise(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                          const char *name, qiao_cuda_kernel_t *out) {
  const qiao_kd_operand_t *o = &kd->outputs[0];
  int rank = o->type.shape.rank;
  int64_t n = qiao_shape_numel(&o->type.shape);
  if (kd->n_expr < 1)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "elementwise kernel %s: no expression", name);
  ew_vec_t vc;
  memset(&vc, 0, sizeof vc);
  vc.cg = cg;
  vc.kd = kd;
  unsigned V = 16u / (unsigned)qiao_dtype_size(o->type.dtype);
  bool int_path = !qiao_cuda_float_expr(kd, true);
  bool vec = !int_path && V > 1 && contiguous(&o->type, o->strides);
  for (int32_t i = 0; i < kd->n_inputs && vec; ++i) {
    const int64_t *s = kd->inputs[i].out_strides;
    bool scalar = true;
    for (int d = 0; d < rank; ++d)
      if (s[d] != 0 && o->type.shape.dims[d] != 1) scalar = false;
    bool same = contiguous(&o->type, s);
    vec = scalar || same;
    vc.full[i] = !scalar;
  }
  int64_t groups = vec ? n / V : 0;
  int32_t block = 256;
  out->block[0] = block;
  out->grid[0] = qiao_cuda_grid_for(cg, groups > 0 ? groups : n, block);

  qiao_cuda_entry_begin(cg, name, kd->n_inputs + kd->n_outputs);
  LLVMValueRef outp = qiao_cuda_param(cg, kd->n_inputs);
  LLVMValueRef zero = qiao_cg_f32c(&cg->base, 0.0);
  if (groups > 0) {
    qiao_cg_loop_t l;
    qiao_cuda_grid_loop_begin(cg, groups, &l);
    vc.idx = LLVMBuildMul(cg->b, l.iv, qiao_cg_i64(&cg->base, V), "idx");
    LLVMValueRef v = qiao_cg_emit_expr(&cg->base, kd, qiao_cg_splat(&cg->base, zero, V),
                                       ew_vec_load, &vc, V);
    LLVMValueRef raw = qiao_cg_f32_to_storage(&cg->base, v, o->type.dtype, V);
    LLVMValueRef st = LLVMBuildStore(cg->b, raw,
                                     qiao_cg_elem_ptr(&cg->base, outp, o->type.dtype, vc.idx));
    LLVMSetAlignment(st, 16);
    qiao_cg_loop_end(&cg->base, &l);
  }
  int64_t done = groups * V;
  if (done < n) {
    /* the tail (vector path) or everything (general path), one element each */
    qiao_cg_loop_t l;
    qiao_cuda_grid_loop_begin(cg, n - done, &l);
    LLVMValueRef i = done ? LLVMBuildAdd(cg->b, l.iv, qiao_cg_i64(&cg->base, done), "") : l.iv;
    qiao_cuda_epi_t e;
    qiao_cuda_epi_init(&e, cg, kd);
    qiao_cuda_unflatten(cg, i, rank, o->type.shape.dims, e.coords);
    if (int_path)
      qiao_cuda_epi_store_mixed(&e, NULL, false);
    else
      qiao_cuda_epi_store_value(&e, qiao_cuda_epi_expr(&e, zero));
    qiao_cg_loop_end(&cg->base, &l);
  }
  LLVMBuildRetVoid(cg->b);
  out->fn = cg->fn;
  return NULL;
}
