/* CPU backend — ELEMENTWISE kernels: the fused expression evaluated per
 * output element.
 *
 * Dims are collapsed where every operand is affine across them, the outer
 * (collapsed) dims become rows split over workgroups, and the last dim is a
 * <vec_f32 x float> loop with a scalar tail. The expression is evaluated here
 * node by node (ops through qiao_cg_emit_elementwise): integer nodes in
 * i64 lanes (wrapping to each node's width, x / 0 = 0, as the interpreter
 * does), floats in f32 lanes; exp/sigmoid/silu use the vectorizable
 * polynomial exp. */
#include "cpu/lower_common.h"

typedef struct ew_plan {
  int n; /* collapsed rank (>= 1) */
  int64_t dims[QIAO_MAX_RANK];
  int64_t in_st[QIAO_KD_MAX_OPERANDS][QIAO_MAX_RANK];
  int64_t out_st[QIAO_MAX_RANK];
} ew_plan_t;

static void ew_collapse(const qiao_kernel_desc_t *kd, ew_plan_t *p) {
  const qiao_kd_operand_t *o = &kd->outputs[0];
  int r = o->type.shape.rank;
  p->n = 0;
  for (int d = 0; d < r; ++d) {
    int64_t sz = o->type.shape.dims[d];
    if (sz == 1) continue;
    int k = p->n;
    /* merge into the previous collapsed dim when every operand is affine */
    if (k > 0) {
      bool ok = o->strides[d] * sz == p->out_st[k - 1];
      for (int32_t i = 0; i < kd->n_inputs && ok; ++i)
        ok = kd->inputs[i].out_strides[d] * sz == p->in_st[i][k - 1];
      if (ok) {
        p->dims[k - 1] *= sz;
        p->out_st[k - 1] = o->strides[d];
        for (int32_t i = 0; i < kd->n_inputs; ++i)
          p->in_st[i][k - 1] = kd->inputs[i].out_strides[d];
        continue;
      }
    }
    p->dims[k] = sz;
    p->out_st[k] = o->strides[d];
    for (int32_t i = 0; i < kd->n_inputs; ++i)
      p->in_st[i][k] = kd->inputs[i].out_strides[d];
    p->n++;
  }
  if (p->n == 0) {
    p->n = 1;
    p->dims[0] = 1;
    p->out_st[0] = 1;
    for (int32_t i = 0; i < kd->n_inputs; ++i)
      p->in_st[i][0] = 0;
  }
}

typedef struct ew_ctx {
  qiao_cpu_codegen_t *cg;
  const qiao_kernel_desc_t *kd;
  const ew_plan_t *p;
  LLVMValueRef in[QIAO_KD_MAX_OPERANDS];
  LLVMValueRef base[QIAO_KD_MAX_OPERANDS]; /* row offsets */
  LLVMValueRef j;                          /* inner index */
} ew_ctx_t;

static LLVMValueRef ew_offset(ew_ctx_t *c, int32_t input) {
  int64_t s = c->p->in_st[input][c->p->n - 1];
  return qiao_cg_imadd(&c->cg->base, c->base[input], c->j, s);
}

static LLVMValueRef ew_load(void *ctx, int32_t input, unsigned lanes) {
  ew_ctx_t *c = ctx;
  return qiao_cg_load_strided(&c->cg->base, c->in[input], c->kd->inputs[input].type.dtype,
                              ew_offset(c, input), c->p->in_st[input][c->p->n - 1], lanes);
}

/* ------------------------------------------------------ integer evaluation */

typedef qiao_cg_ival_t ival_t; /* <lanes x i64> when is_int, else <lanes x f32> */

static LLVMValueRef f2i(qiao_cpu_codegen_t *cg, LLVMValueRef v, qiao_dtype_t dt, unsigned lanes) {
  return qiao_cg_f32_to_int(&cg->base, v, dt, lanes);
}
static LLVMValueRef i2f(qiao_cpu_codegen_t *cg, LLVMValueRef v, qiao_dtype_t dt, unsigned lanes) {
  return qiao_cg_int_to_f32(&cg->base, v, dt, lanes);
}

/* Raw integer load (exact) of lanes elements, sign-extended to i64. */
static LLVMValueRef load_int(qiao_cpu_codegen_t *cg, LLVMValueRef base, qiao_dtype_t dt,
                             LLVMValueRef off, int64_t stride, unsigned lanes) {
  LLVMTypeRef st = qiao_cg_storage_type(&cg->base, dt);
  LLVMTypeRef i64v = qiao_cg_vec_type(&cg->base, cg->t_i64, lanes);
  LLVMValueRef v;
  if (lanes == 1 || stride == 1) {
    LLVMValueRef l = LLVMBuildLoad2(cg->b, qiao_cg_vec_type(&cg->base, st, lanes),
                                    qiao_cg_elem_ptr(&cg->base, base, dt, off), "");
    LLVMSetAlignment(l, (unsigned)qiao_dtype_size(dt));
    v = l;
  } else if (stride == 0) {
    LLVMValueRef l = LLVMBuildLoad2(cg->b, st, qiao_cg_elem_ptr(&cg->base, base, dt, off), "");
    LLVMSetAlignment(l, (unsigned)qiao_dtype_size(dt));
    v = qiao_cg_splat(&cg->base, l, lanes);
  } else {
    v = LLVMGetUndef(LLVMVectorType(st, lanes));
    for (unsigned i = 0; i < lanes; ++i) {
      LLVMValueRef o = qiao_cg_iadd(&cg->base, off, qiao_cg_i64(&cg->base, (int64_t)i * stride));
      LLVMValueRef l = LLVMBuildLoad2(cg->b, st, qiao_cg_elem_ptr(&cg->base, base, dt, o), "");
      LLVMSetAlignment(l, (unsigned)qiao_dtype_size(dt));
      v = LLVMBuildInsertElement(cg->b, v, l, LLVMConstInt(cg->t_i32, i, 0), "");
    }
  }
  if (st == cg->t_i64) return v;
  return LLVMBuildSExt(cg->b, v, i64v, "");
}

static ival_t eval_node(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd, int32_t i,
                        const ival_t *vals, ew_ctx_t *c, unsigned lanes) {
  const qiao_expr_node_t *n = &kd->expr[i];
  ival_t r = {false, NULL};
  switch (n->kind) {
  case QIAO_EXPR_INPUT: {
    qiao_dtype_t idt = kd->inputs[n->input].type.dtype;
    if (qiao_dtype_is_int(idt)) {
      r.is_int = true;
      r.v = load_int(cg, c->in[n->input], idt, ew_offset(c, n->input),
                     c->p->in_st[n->input][c->p->n - 1], lanes);
    } else {
      r.v = ew_load(c, n->input, lanes);
    }
    return r;
  }
  case QIAO_EXPR_ACC: /* no primary op in an elementwise kernel */
    r.v = qiao_cg_fsplat(&cg->base, 0.0, lanes);
    return r;
  case QIAO_EXPR_CONST: return qiao_cg_emit_mixed_const(&cg->base, n, lanes);
  case QIAO_EXPR_OP: break;
  }
  const qiao_op_schema_t *s = qiao_op_schema(n->op);
  ival_t b = s->min_operands >= 2 ? vals[n->args[1]] : (ival_t){false, NULL};
  return qiao_cg_emit_mixed_op(&cg->base, n, vals[n->args[0]], b, lanes);
}

static bool expr_has_int(const qiao_kernel_desc_t *kd) {
  for (int32_t i = 0; i < kd->n_expr; ++i)
    if (qiao_dtype_is_int(kd->expr[i].dtype)) return true;
  for (int32_t i = 0; i < kd->n_inputs; ++i)
    if (qiao_dtype_is_int(kd->inputs[i].type.dtype)) return true;
  return qiao_dtype_is_int(kd->outputs[0].type.dtype);
}

/* Evaluates the expression at the current position and stores it. */
static void ew_body(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd, ew_ctx_t *c,
                    LLVMValueRef out, LLVMValueRef out_base, bool int_path, unsigned lanes) {
  const qiao_kd_operand_t *o = &kd->outputs[0];
  int64_t os = c->p->out_st[c->p->n - 1];
  LLVMValueRef off = qiao_cg_imadd(&cg->base, out_base, c->j, os);
  (void)int_path; /* one evaluator for both: floats in f32 lanes, integers in i64 lanes */
  ival_t vals[QIAO_EXPR_MAX_NODES];
  for (int32_t i = 0; i < kd->n_expr; ++i)
    vals[i] = eval_node(cg, kd, i, vals, c, lanes);
  ival_t res = vals[kd->n_expr - 1];
  qiao_dtype_t odt = o->type.dtype;
  if (qiao_dtype_is_int(odt)) {
    LLVMValueRef iv = res.is_int ? res.v : f2i(cg, res.v, odt, lanes);
    LLVMTypeRef st = qiao_cg_storage_type(&cg->base, odt);
    LLVMValueRef t = st == cg->t_i64
                         ? iv
                         : LLVMBuildTrunc(cg->b, iv, qiao_cg_vec_type(&cg->base, st, lanes), "");
    if (lanes == 1 || os == 1) {
      LLVMValueRef s = LLVMBuildStore(cg->b, t, qiao_cg_elem_ptr(&cg->base, out, odt, off));
      LLVMSetAlignment(s, (unsigned)qiao_dtype_size(odt));
    } else {
      for (unsigned l = 0; l < lanes; ++l) {
        LLVMValueRef e = LLVMBuildExtractElement(cg->b, t, LLVMConstInt(cg->t_i32, l, 0), "");
        LLVMValueRef po = qiao_cg_iadd(&cg->base, off, qiao_cg_i64(&cg->base, (int64_t)l * os));
        LLVMValueRef s = LLVMBuildStore(cg->b, e, qiao_cg_elem_ptr(&cg->base, out, odt, po));
        LLVMSetAlignment(s, (unsigned)qiao_dtype_size(odt));
      }
    }
  } else {
    LLVMValueRef fv = res.is_int ? i2f(cg, res.v, odt, lanes) : res.v;
    qiao_cg_store_strided(&cg->base, fv, out, odt, off, os, lanes);
  }
}

qiao_status_t qiao_cpu_lower_elementwise(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                         const char *name, qiao_cpu_kernel_t *out) {
  qk_kernel_init(out);
  if (kd->n_expr <= 0 || kd->n_outputs != 1)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "elementwise kernel %s: no expression", name);
  ew_plan_t p;
  ew_collapse(kd, &p);
  bool int_path = expr_has_int(kd);
  int64_t N = p.dims[p.n - 1];
  int64_t rows = 1;
  for (int d = 0; d < p.n - 1; ++d)
    rows *= p.dims[d];
  unsigned V = cg->vec_f32 ? cg->vec_f32 : 8;
  if (int_path && V > 8) V = 8; /* i64 lanes: keep vectors at 512 bits */

  /* grid: rows over x, columns over y when there are too few rows */
  int64_t want = qk_plan_chunks(cg, rows * N, 1);
  int64_t row_chunks = want <= rows ? want : rows;
  int64_t col_chunks = 1, col_size = N;
  if (want > rows && N >= 2 * (int64_t)V * 64) {
    col_chunks = (want + rows - 1) / rows;
    col_size = (N + col_chunks - 1) / col_chunks;
    col_size = (col_size + V - 1) / V * V;
    col_chunks = (N + col_size - 1) / col_size;
  }

  LLVMValueRef fn = qiao_cpu_entry_begin(cg, name);
  ew_ctx_t c;
  memset(&c, 0, sizeof c);
  c.cg = cg;
  c.kd = kd;
  c.p = &p;
  for (int32_t i = 0; i < kd->n_inputs; ++i)
    c.in[i] = qiao_cpu_binding(cg, fn, i);
  LLVMValueRef outp = qiao_cpu_binding(cg, fn, kd->n_inputs);

  qk_rows_t rl;
  qk_rows_begin(cg, fn, rows, row_chunks, &rl, "row");
  LLVMValueRef coords[QIAO_MAX_RANK];
  qiao_cg_unflatten(&cg->base, rl.loop.iv, p.n - 1, p.dims, coords);
  for (int32_t i = 0; i < kd->n_inputs; ++i)
    c.base[i] = qiao_cg_offset(&cg->base, p.n - 1, coords, p.in_st[i]);
  LLVMValueRef out_base = qiao_cg_offset(&cg->base, p.n - 1, coords, p.out_st);

  LLVMValueRef jlo, jhi;
  if (col_chunks > 1) {
    jlo = qiao_cg_imul(&cg->base, qiao_cpu_wg(cg, fn, 1), col_size);
    jhi = qiao_cg_imin(&cg->base, qiao_cg_iadd(&cg->base, jlo, qiao_cg_i64(&cg->base, col_size)),
                       qiao_cg_i64(&cg->base, N));
  } else {
    jlo = qiao_cg_i64(&cg->base, 0);
    jhi = qiao_cg_i64(&cg->base, N);
  }
  /* full vectors over [jlo, jhi), then the rest as scalars */
  for (qiao_cg_vloop_t vl = qiao_cg_vloop_start_dyn(jlo, jhi, N >= (int64_t)V ? V : 1, "vec");
       qiao_cg_vloop_next(&cg->base, &vl);) {
    c.j = vl.i;
    ew_body(cg, kd, &c, outp, out_base, int_path, vl.lanes);
  }

  qk_kernel_end(cg, &rl, fn, 0, out);
  out->grid[1] = col_chunks;
  return NULL;
}
