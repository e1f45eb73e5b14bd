/* CPU backend — REDUCE kernels (reduce_sum / reduce_max / reduce_mean).
 *
 * The kept dims of x are the output rows (split over workgroups); for each
 * output element the reduced dims are walked with a loop nest. When x's last
 * dim is reduced and contiguous it is the vectorized loop (<vec x f32>
 * accumulator, scalar tail); when it is kept, <vec> neighbouring output
 * elements are reduced together (column mode). Float inputs accumulate in
 * f32. Integer and bool inputs accumulate exactly in i64 (sum: saturating
 * add; max: signed compare), like the interpreter's exact sum: mean is the
 * i64 sum as f64 over the count, and the result is stored with the dtype's
 * conversion (ints: toward zero, saturating; bool: != 0). With a fused
 * epilogue the exact result, rounded to primary_dtype, enters it as f32. */
#include "cpu/lower_common.h"

typedef struct red_plan {
  int rank;
  bool reduced[QIAO_MAX_RANK];
  int n_kept, n_red;
  int kept[QIAO_MAX_RANK], red[QIAO_MAX_RANK]; /* x dims */
  int out_dim_of[QIAO_MAX_RANK];               /* x dim -> output dim (-1 when dropped) */
  int64_t count;
} red_plan_t;

static LLVMValueRef red_combine(qiao_cpu_codegen_t *cg, qiao_op_kind_t op, LLVMValueRef acc,
                                LLVMValueRef v) {
  if (op == QIAO_OP_REDUCE_MAX) {
    return qiao_cg_emit_max_acc(&cg->base, acc, v); /* NaN propagates, like the interpreter */
  }
  return LLVMBuildFAdd(cg->b, acc, v, "");
}

static LLVMValueRef red_hfinal(qiao_cpu_codegen_t *cg, qiao_op_kind_t op, LLVMValueRef acc,
                               unsigned lanes) {
  if (lanes == 1) return acc;
  if (op != QIAO_OP_REDUCE_MAX) return qiao_cg_reduce_add(&cg->base, acc);
  LLVMValueRef r = LLVMBuildExtractElement(cg->b, acc, LLVMConstInt(cg->t_i32, 0, 0), "");
  for (unsigned l = 1; l < lanes; ++l)
    r = red_combine(cg, op, r,
                    LLVMBuildExtractElement(cg->b, acc, LLVMConstInt(cg->t_i32, l, 0), ""));
  return r;
}

/* ---------------------------------------------------------- integer path */

static LLVMTypeRef red_int_type(qiao_cpu_codegen_t *cg, qiao_dtype_t dt) {
  return dt == QIAO_I8 ? cg->t_i8 : dt == QIAO_I32 ? cg->t_i32 : cg->t_i64;
}

static LLVMValueRef red_iconst(qiao_cpu_codegen_t *cg, LLVMTypeRef elem, int64_t v,
                               unsigned lanes) {
  LLVMValueRef c = LLVMConstInt(elem, (unsigned long long)v, 1);
  return lanes == 1 ? c : qiao_cg_splat(&cg->base, c, lanes);
}

/* storage lanes of an integer/bool dtype → i64 lanes (bool: 0/1). */
static LLVMValueRef red_to_i64(qiao_cpu_codegen_t *cg, LLVMValueRef raw, qiao_dtype_t dt,
                               unsigned lanes) {
  LLVMTypeRef t = qiao_cg_vec_type(&cg->base, cg->t_i64, lanes);
  if (dt == QIAO_BOOL) {
    LLVMValueRef nz = LLVMBuildICmp(cg->b, LLVMIntNE, raw, red_iconst(cg, cg->t_i8, 0, lanes), "");
    return LLVMBuildZExt(cg->b, nz, t, "");
  }
  return dt == QIAO_I64 ? raw : LLVMBuildSExt(cg->b, raw, t, "");
}

/* `lanes` elements of x at off, off+stride, ... as <lanes x i64>. */
static LLVMValueRef red_load_i64(qiao_cpu_codegen_t *cg, LLVMValueRef base, qiao_dtype_t dt,
                                 LLVMValueRef off, int64_t stride, unsigned lanes) {
  if (lanes == 1 || stride == 1) {
    LLVMTypeRef vt = qiao_cg_vec_type(&cg->base, qiao_cg_storage_type(&cg->base, dt), lanes);
    LLVMValueRef raw = LLVMBuildLoad2(cg->b, vt, qiao_cg_elem_ptr(&cg->base, base, dt, off), "ldi");
    LLVMSetAlignment(raw, (unsigned)qiao_dtype_size(dt));
    return red_to_i64(cg, raw, dt, lanes);
  }
  if (stride == 0) return qiao_cg_splat(&cg->base, red_load_i64(cg, base, dt, off, 1, 1), lanes);
  LLVMValueRef v = LLVMGetUndef(LLVMVectorType(cg->t_i64, lanes));
  for (unsigned l = 0; l < lanes; ++l) {
    LLVMValueRef o = qiao_cg_iadd(&cg->base, off, qiao_cg_i64(&cg->base, (int64_t)l * stride));
    v = LLVMBuildInsertElement(cg->b, v, red_load_i64(cg, base, dt, o, 1, 1),
                               LLVMConstInt(cg->t_i32, l, 0), "");
  }
  return v;
}

static LLVMValueRef red_icombine(qiao_cpu_codegen_t *cg, qiao_op_kind_t op, LLVMValueRef acc,
                                 LLVMValueRef v) {
  LLVMTypeRef t = LLVMTypeOf(acc);
  LLVMValueRef args[2] = {acc, v};
  return qiao_cg_call_intrinsic(&cg->base, op == QIAO_OP_REDUCE_MAX ? "llvm.smax" : "llvm.sadd.sat",
                                &t, 1, args, 2);
}

static LLVMValueRef red_ihfinal(qiao_cpu_codegen_t *cg, qiao_op_kind_t op, LLVMValueRef acc,
                                unsigned lanes) {
  if (lanes == 1) return acc;
  LLVMValueRef r = LLVMBuildExtractElement(cg->b, acc, LLVMConstInt(cg->t_i32, 0, 0), "");
  for (unsigned l = 1; l < lanes; ++l)
    r = red_icombine(cg, op, r,
                     LLVMBuildExtractElement(cg->b, acc, LLVMConstInt(cg->t_i32, l, 0), ""));
  return r;
}

/* The exact i64 result `s` (sum or max) of `count` elements → the value the
 * interpreter stores in dt: for int/bool dt its storage lanes (*as_int), for
 * a float dt f32 lanes. */
static LLVMValueRef red_ifinish(qiao_cpu_codegen_t *cg, qiao_op_kind_t op, LLVMValueRef s,
                                int64_t count, qiao_dtype_t dt, unsigned lanes, bool *as_int) {
  LLVMValueRef d = NULL; /* the mean as f64 */
  if (op == QIAO_OP_REDUCE_MEAN) {
    LLVMTypeRef dty = qiao_cg_vec_type(&cg->base, cg->t_f64, lanes);
    LLVMValueRef c = LLVMConstReal(cg->t_f64, (double)count);
    d = LLVMBuildFDiv(cg->b, LLVMBuildSIToFP(cg->b, s, dty, ""),
                      lanes == 1 ? c : qiao_cg_splat(&cg->base, c, lanes), "");
  }
  *as_int = true;
  if (dt == QIAO_BOOL) {
    LLVMValueRef nz =
        d ? LLVMBuildFCmp(cg->b, LLVMRealUNE, d, LLVMConstNull(LLVMTypeOf(d)), "") /* NaN → 1 */
          : LLVMBuildICmp(cg->b, LLVMIntNE, s, LLVMConstNull(LLVMTypeOf(s)), "");
    return LLVMBuildZExt(cg->b, nz, qiao_cg_vec_type(&cg->base, cg->t_i8, lanes), "");
  }
  if (qiao_dtype_is_int(dt)) {
    LLVMTypeRef it = qiao_cg_vec_type(&cg->base, red_int_type(cg, dt), lanes);
    if (d) { /* toward zero, saturating, NaN → 0: to_int_sat */
      LLVMTypeRef tys[2] = {it, LLVMTypeOf(d)};
      return qiao_cg_call_intrinsic(&cg->base, "llvm.fptosi.sat", tys, 2, &d, 1);
    }
    if (dt == QIAO_I64) return s;
    int64_t lo = dt == QIAO_I8 ? INT8_MIN : INT32_MIN, hi = dt == QIAO_I8 ? INT8_MAX : INT32_MAX;
    LLVMTypeRef t = LLVMTypeOf(s);
    LLVMValueRef a1[2] = {s, red_iconst(cg, cg->t_i64, hi, lanes)};
    LLVMValueRef c = qiao_cg_call_intrinsic(&cg->base, "llvm.smin", &t, 1, a1, 2);
    LLVMValueRef a2[2] = {c, red_iconst(cg, cg->t_i64, lo, lanes)};
    c = qiao_cg_call_intrinsic(&cg->base, "llvm.smax", &t, 1, a2, 2);
    return LLVMBuildTrunc(cg->b, c, it, "");
  }
  *as_int = false;
  LLVMTypeRef fty = qiao_cg_vec_type(&cg->base, cg->t_f32, lanes);
  return d ? LLVMBuildFPTrunc(cg->b, d, fty, "") : LLVMBuildSIToFP(cg->b, s, fty, "");
}

/* Stores the exact result `s` at epi->coords (lanes along the output's last
 * dim): straight integer stores without an epilogue, else as f32 through it. */
static void red_istore(qiao_cg_epi_t *e, qiao_op_kind_t op, LLVMValueRef outp, LLVMValueRef s,
                       int64_t count, unsigned lanes) {
  qiao_cpu_codegen_t *cg = qiao_cpu_codegen_of(e->cg);
  const qiao_kd_operand_t *o = &e->kd->outputs[0];
  bool epi = e->kd->n_expr > 0;
  qiao_dtype_t dt = epi ? e->kd->primary_dtype : o->type.dtype;
  bool as_int;
  LLVMValueRef v = red_ifinish(cg, op, s, count, dt, lanes, &as_int);
  if (!as_int || epi) {
    if (as_int) {
      LLVMTypeRef fty = qiao_cg_vec_type(&cg->base, cg->t_f32, lanes);
      v = dt == QIAO_BOOL ? LLVMBuildUIToFP(cg->b, v, fty, "") : LLVMBuildSIToFP(cg->b, v, fty, "");
    }
    qiao_cg_epi_store(e, outp, v, lanes);
    return;
  }
  LLVMValueRef off = qiao_cg_offset(&cg->base, e->rank, e->coords, o->strides);
  int64_t inner = e->rank > 0 ? o->strides[e->rank - 1] : 1;
  if (lanes == 1 || inner == 1) {
    LLVMValueRef st = LLVMBuildStore(cg->b, v, qiao_cg_elem_ptr(&cg->base, outp, dt, off));
    LLVMSetAlignment(st, (unsigned)qiao_dtype_size(dt));
    return;
  }
  for (unsigned l = 0; l < lanes; ++l) {
    LLVMValueRef ol = qiao_cg_iadd(&cg->base, off, qiao_cg_i64(&cg->base, (int64_t)l * inner));
    LLVMValueRef x = LLVMBuildExtractElement(cg->b, v, LLVMConstInt(cg->t_i32, l, 0), "");
    LLVMValueRef st = LLVMBuildStore(cg->b, x, qiao_cg_elem_ptr(&cg->base, outp, dt, ol));
    LLVMSetAlignment(st, (unsigned)qiao_dtype_size(dt));
  }
}

/* ------------------------------------------ float / integer dispatch */

/* Float sums and means accumulate in f64 (wide): partial sums of f32 values
 * cannot overflow there, so FLT_MAX + 3e38 - 3e38 and 1e30 cancellations
 * come out as in the interpreter; max stays in f32 (it never rounds). */
static LLVMValueRef red_load(qiao_cpu_codegen_t *cg, bool is_int, bool wide, LLVMValueRef base,
                             qiao_dtype_t dt, LLVMValueRef off, int64_t stride, unsigned lanes) {
  if (is_int) return red_load_i64(cg, base, dt, off, stride, lanes);
  LLVMValueRef v = qiao_cg_load_strided(&cg->base, base, dt, off, stride, lanes);
  return wide ? LLVMBuildFPExt(cg->b, v, qiao_cg_vec_type(&cg->base, cg->t_f64, lanes), "") : v;
}

/* The accumulator's initial value: <lanes x et> of init / iinit. */
static LLVMValueRef red_init(qiao_cpu_codegen_t *cg, bool is_int, LLVMTypeRef et, double init,
                             int64_t iinit, unsigned lanes) {
  if (is_int) return red_iconst(cg, et, iinit, lanes);
  LLVMValueRef c = LLVMConstReal(et, init);
  return lanes == 1 ? c : qiao_cg_splat(&cg->base, c, lanes);
}

static LLVMValueRef red_comb(qiao_cpu_codegen_t *cg, bool is_int, qiao_op_kind_t op,
                             LLVMValueRef acc, LLVMValueRef v) {
  return is_int ? red_icombine(cg, op, acc, v) : red_combine(cg, op, acc, v);
}

/* Final value of one (lanes) output element(s): mean division, epilogue, store. */
static void red_finish(qiao_cg_epi_t *e, bool is_int, qiao_op_kind_t op, LLVMValueRef outp,
                       LLVMValueRef r, int64_t count, unsigned lanes) {
  if (is_int) {
    red_istore(e, op, outp, r, count, lanes);
    return;
  }
  LLVMTypeRef rt = LLVMTypeOf(r);
  LLVMTypeRef et = LLVMGetTypeKind(rt) == LLVMVectorTypeKind ? LLVMGetElementType(rt) : rt;
  if (op == QIAO_OP_REDUCE_MEAN) {
    LLVMValueRef c = LLVMConstReal(et, (double)count);
    r = LLVMBuildFDiv(e->cg->b, r, lanes == 1 ? c : qiao_cg_splat(e->cg, c, lanes), "");
  }
  if (et == e->cg->t_f64) /* a wide sum: rounded to f32 once, after the mean */
    r = LLVMBuildFPTrunc(e->cg->b, r, qiao_cg_vec_type(e->cg, e->cg->t_f32, lanes), "");
  qiao_cg_epi_store(e, outp, r, lanes);
}

qiao_status_t qiao_cpu_lower_reduce(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                    const char *name, qiao_cpu_kernel_t *out) {
  qk_kernel_init(out);
  const qiao_kd_operand_t *x = &kd->inputs[0];
  red_plan_t p;
  memset(&p, 0, sizeof p);
  p.rank = x->type.shape.rank;
  for (int i = 0; i < kd->attrs.n_axes; ++i) {
    int ax = qk_norm_axis(kd->attrs.axes[i], p.rank);
    if (ax < 0 || ax >= p.rank)
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "reduce kernel %s: axis out of range", name);
    p.reduced[ax] = true;
  }
  p.count = 1;
  int od = 0;
  for (int d = 0; d < p.rank; ++d) {
    if (p.reduced[d]) {
      p.red[p.n_red++] = d;
      p.count *= x->type.shape.dims[d];
      p.out_dim_of[d] = kd->attrs.keepdims ? od++ : -1;
    } else {
      p.kept[p.n_kept++] = d;
      p.out_dim_of[d] = od++;
    }
  }
  qiao_op_kind_t op = kd->op;
  int last = p.rank - 1;
  bool row_mode = p.rank > 0 && p.reduced[last] && x->strides[last] == 1;
  bool col_mode = p.rank > 0 && !p.reduced[last] && p.n_red > 0;
  unsigned V = cg->vec_f32 ? cg->vec_f32 : 8;
  /* rows: all kept dims (col mode: all but the last kept dim) */
  int n_row_dims = col_mode ? p.n_kept - 1 : p.n_kept;
  int64_t row_dims[QIAO_MAX_RANK];
  int64_t rows = 1;
  for (int i = 0; i < n_row_dims; ++i)
    rows *= (row_dims[i] = x->type.shape.dims[p.kept[i]]);
  int64_t inner_n = col_mode ? x->type.shape.dims[last] : 1;
  int64_t chunks = qk_plan_chunks(cg, rows, p.count * inner_n);

  LLVMValueRef fn = qiao_cpu_entry_begin(cg, name);
  qiao_cg_epi_t epi;
  qk_epi_init(&epi, cg, kd, fn);
  LLVMValueRef xp = epi.in[0];
  LLVMValueRef outp = qiao_cpu_binding(cg, fn, kd->n_inputs);
  /* integer/bool x: exact i64 accumulation */
  bool is_int = qiao_dtype_is_int(x->type.dtype) || x->type.dtype == QIAO_BOOL;
  bool wide = !is_int && op != QIAO_OP_REDUCE_MAX;
  LLVMTypeRef et = is_int ? cg->t_i64 : wide ? cg->t_f64 : cg->t_f32;
  LLVMValueRef accp = qiao_cg_alloca(&cg->base, fn, LLVMVectorType(et, V), "acc");
  LLVMValueRef accs = qiao_cg_alloca(&cg->base, fn, et, "accs");
  double init = op == QIAO_OP_REDUCE_MAX ? -INFINITY : 0.0;
  int64_t iinit = op == QIAO_OP_REDUCE_MAX ? INT64_MIN : 0;

  qk_rows_t rl;
  qk_rows_begin(cg, fn, rows, chunks, &rl, "row");
  LLVMValueRef rc[QIAO_MAX_RANK];
  qiao_cg_unflatten(&cg->base, rl.loop.iv, n_row_dims, row_dims, rc);
  LLVMValueRef xcoord[QIAO_MAX_RANK] = {0};
  for (int i = 0; i < n_row_dims; ++i)
    xcoord[p.kept[i]] = rc[i];
  /* output coordinates for the epilogue/store */
  for (int d = 0; d < epi.rank; ++d)
    epi.coords[d] = qiao_cg_i64(&cg->base, 0);
  for (int i = 0; i < n_row_dims; ++i)
    epi.coords[p.out_dim_of[p.kept[i]]] = rc[i];
  LLVMValueRef xbase = qiao_cg_offset(&cg->base, p.rank, xcoord, x->strides);

  /* walks the reduced dims except `skip` (a dim handled by the caller), calling
   * body(offset) — done with explicit loops below */
  if (!col_mode) {
    unsigned lanes_list[2] = {V, 1};
    int n_outer_red = row_mode ? p.n_red - 1 : p.n_red;
    int64_t L = row_mode ? x->type.shape.dims[last] : 1;
    qiao_cg_st(&cg->base, red_init(cg, is_int, et, init, iinit, V), accp);
    qiao_cg_st(&cg->base, red_init(cg, is_int, et, init, iinit, 1), accs);
    qiao_cg_loop_t loops[QIAO_MAX_RANK];
    LLVMValueRef off = xbase;
    for (int i = 0; i < n_outer_red; ++i) {
      int d = p.red[i];
      qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0),
                         qiao_cg_i64(&cg->base, x->type.shape.dims[d]), 1, "r", &loops[i]);
      off = qiao_cg_imadd(&cg->base, off, loops[i].iv, x->strides[d]);
    }
    if (row_mode) {
      for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, L, V, 0, "v");
           qiao_cg_vloop_next(&cg->base, &vl);) {
        LLVMValueRef ap = vl.lanes == 1 ? accs : accp;
        LLVMValueRef v = red_load(cg, is_int, wide, xp, x->type.dtype, qiao_cg_iadd(&cg->base, off, vl.i),
                                  1, vl.lanes);
        qiao_cg_st(&cg->base, red_comb(cg, is_int, op, qiao_cg_ld(&cg->base, LLVMTypeOf(v), ap), v),
                   ap);
      }
    } else {
      LLVMValueRef v = red_load(cg, is_int, wide, xp, x->type.dtype, off, 1, 1);
      qiao_cg_st(&cg->base, red_comb(cg, is_int, op, qiao_cg_ld(&cg->base, et, accs), v), accs);
    }
    for (int i = n_outer_red - 1; i >= 0; --i)
      qiao_cg_loop_end(&cg->base, &loops[i]);
    (void)lanes_list;
    LLVMValueRef vacc = qiao_cg_ld(&cg->base, LLVMVectorType(et, V), accp);
    LLVMValueRef r = red_comb(cg, is_int, op, qiao_cg_ld(&cg->base, et, accs),
                              is_int ? red_ihfinal(cg, op, vacc, V) : red_hfinal(cg, op, vacc, V));
    red_finish(&epi, is_int, op, outp, r, p.count, 1);
  } else {
    /* column mode: lanes over x's last (kept) dim */
    int64_t N = x->type.shape.dims[last];
    int64_t xs_last = x->strides[last];
    int olast = p.out_dim_of[last];
    for (qiao_cg_vloop_t cl = qiao_cg_vloop_start(0, N, V, 0, "c");
         qiao_cg_vloop_next(&cg->base, &cl);) {
      unsigned lanes = cl.lanes;
      LLVMTypeRef vt = qiao_cg_vec_type(&cg->base, et, lanes);
      LLVMValueRef ap = lanes != 1 ? accp : accs;
      qiao_cg_st(&cg->base, red_init(cg, is_int, et, init, iinit, lanes), ap);
      LLVMValueRef off = qiao_cg_imadd(&cg->base, xbase, cl.i, xs_last);
      qiao_cg_loop_t loops[QIAO_MAX_RANK];
      for (int i = 0; i < p.n_red; ++i) {
        int d = p.red[i];
        qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0),
                           qiao_cg_i64(&cg->base, x->type.shape.dims[d]), 1, "r", &loops[i]);
        off = qiao_cg_imadd(&cg->base, off, loops[i].iv, x->strides[d]);
      }
      LLVMValueRef v = red_load(cg, is_int, wide, xp, x->type.dtype, off, xs_last, lanes);
      qiao_cg_st(&cg->base, red_comb(cg, is_int, op, qiao_cg_ld(&cg->base, vt, ap), v), ap);
      for (int i = p.n_red - 1; i >= 0; --i)
        qiao_cg_loop_end(&cg->base, &loops[i]);
      LLVMValueRef r = qiao_cg_ld(&cg->base, vt, ap);
      epi.coords[olast] = cl.i;
      red_finish(&epi, is_int, op, outp, r, p.count, lanes);
    }
  }
  qk_rows_end(cg, &rl);
  LLVMBuildRetVoid(cg->b);
  out->fn = fn;
  out->grid[0] = rl.n_chunks;
  return NULL;
}
