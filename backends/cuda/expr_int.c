/* CUDA backend — fused expressions with integer and bool nodes, one element
 * per thread (the shared qiao_cg_emit_expr is f32-only).
 *
 * Each node's value is either an i64 (integer dtypes, wrapped to the node's
 * width after every op, two's complement) or an f32 (float dtypes and bool,
 * which is 0/1). Matches ir/interp.c: integer add/sub/mul/max/min/neg/relu
 * wrap, x / 0 = 0, INT_MIN / -1 wraps; float ops on integer operands go
 * through f32 (integers converted through f64, rounded once) and back with
 * a saturating, toward-zero conversion (NaN → 0); cast to an integer dtype
 * truncates and saturates, to bool is x != 0, int → float rounds once. */
#include <stdint.h>
#include <string.h>

#include "cuda/codegen.h"

typedef qiao_cg_ival_t ival_t;

static LLVMValueRef ci64(qiao_cuda_codegen_t *cg, int64_t v) {
  return LLVMConstInt(cg->t_i64, (unsigned long long)v, 1);
}

static LLVMValueRef wrap_int(qiao_cuda_codegen_t *cg, LLVMValueRef v, qiao_dtype_t dt) {
  return qiao_cg_int_wrap(&cg->base, v, dt, 1);
}
static LLVMValueRef f2i(qiao_cuda_codegen_t *cg, LLVMValueRef v, qiao_dtype_t dt) {
  return qiao_cg_f32_to_int(&cg->base, v, dt, 1); /* cvt.rzi.sat */
}
static LLVMValueRef i2f(qiao_cuda_codegen_t *cg, LLVMValueRef v, qiao_dtype_t dt) {
  return qiao_cg_int_to_f32(&cg->base, v, dt, 1);
}

static LLVMValueRef load_int(qiao_cuda_codegen_t *cg, LLVMValueRef base, qiao_dtype_t dt,
                             LLVMValueRef off) {
  LLVMTypeRef st = qiao_cg_storage_type(&cg->base, dt);
  LLVMValueRef l = LLVMBuildLoad2(cg->b, st, qiao_cg_elem_ptr(&cg->base, base, dt, off), "");
  LLVMSetAlignment(l, (unsigned)qiao_dtype_size(dt));
  return st == cg->t_i64 ? l : LLVMBuildSExt(cg->b, l, cg->t_i64, "");
}

static ival_t eval_node(qiao_cuda_epi_t *e, int32_t i, const ival_t *vals, ival_t acc) {
  qiao_cuda_codegen_t *cg = e->cg;
  const qiao_kernel_desc_t *kd = e->kd;
  const qiao_expr_node_t *n = &kd->expr[i];
  ival_t r = {false, NULL};
  switch (n->kind) {
  case QIAO_EXPR_INPUT: {
    const qiao_kd_operand_t *op = &kd->inputs[n->input];
    LLVMValueRef off = qiao_cuda_offset(cg, e->rank, e->coords, op->out_strides);
    if (qiao_dtype_is_int(op->type.dtype)) {
      r.is_int = true;
      r.v = load_int(cg, e->in[n->input], op->type.dtype, off);
    } else {
      r.v = qiao_cg_load_f32(&cg->base, e->in[n->input], op->type.dtype, off, 1);
    }
    return r;
  }
  case QIAO_EXPR_ACC: return acc;
  case QIAO_EXPR_CONST: return qiao_cg_emit_mixed_const(&cg->base, n, 1);
  case QIAO_EXPR_OP: break;
  }
  const qiao_op_schema_t *s = qiao_op_schema(n->op);
  ival_t b = s->min_operands >= 2 ? vals[n->args[1]] : (ival_t){false, NULL};
  return qiao_cg_emit_mixed_op(&cg->base, n, vals[n->args[0]], b, 1);
}

static void store_ival(qiao_cuda_epi_t *e, ival_t res) {
  qiao_cuda_codegen_t *cg = e->cg;
  const qiao_kd_operand_t *o = &e->kd->outputs[0];
  qiao_dtype_t odt = o->type.dtype;
  if (qiao_dtype_is_int(odt)) {
    LLVMValueRef iv = res.is_int ? res.v : f2i(cg, res.v, odt);
    LLVMTypeRef st = qiao_cg_storage_type(&cg->base, odt);
    if (st != cg->t_i64) iv = LLVMBuildTrunc(cg->b, iv, st, "");
    LLVMValueRef off = qiao_cuda_offset(cg, e->rank, e->coords, o->strides);
    LLVMValueRef s = LLVMBuildStore(
        cg->b, iv, qiao_cg_elem_ptr(&cg->base, qiao_cuda_param(cg, e->kd->n_inputs), odt, off));
    LLVMSetAlignment(s, (unsigned)qiao_dtype_size(odt));
  } else if (res.is_int && odt == QIAO_BOOL) {
    qiao_cuda_epi_store_value(
        e, LLVMBuildUIToFP(cg->b, LLVMBuildICmp(cg->b, LLVMIntNE, res.v, ci64(cg, 0), ""),
                           cg->t_f32, ""));
  } else {
    qiao_cuda_epi_store_value(e, res.is_int ? i2f(cg, res.v, odt) : res.v);
  }
}

void qiao_cuda_epi_store_mixed(qiao_cuda_epi_t *e, LLVMValueRef acc, bool acc_is_int) {
  qiao_cuda_codegen_t *cg = e->cg;
  const qiao_kernel_desc_t *kd = e->kd;
  ival_t a = {acc_is_int, acc};
  if (acc) {
    /* the primary result rounded to its dtype */
    qiao_dtype_t pd = kd->primary_dtype;
    if (qiao_dtype_is_int(pd)) {
      a.v = a.is_int ? wrap_int(cg, a.v, pd) : f2i(cg, a.v, pd);
      a.is_int = true;
    } else if (a.is_int) {
      a.v = i2f(cg, a.v, pd);
      a.is_int = false;
    } else {
      a.v = qiao_cg_round_f32(&cg->base, a.v, pd);
    }
  } else {
    a.v = qiao_cg_f32c(&cg->base, 0.0);
  }
  if (kd->n_expr <= 0) {
    store_ival(e, a);
    return;
  }
  ival_t vals[QIAO_EXPR_MAX_NODES];
  for (int32_t i = 0; i < kd->n_expr; ++i)
    vals[i] = eval_node(e, i, vals, a);
  store_ival(e, vals[kd->n_expr - 1]);
}
