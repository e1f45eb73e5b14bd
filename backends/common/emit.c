/* backends/common — the target-neutral LLVM emission every backend shares:
 * constants and vectors, loops, typed loads/stores with the IR's rounding
 * rules (RNE bf16/f16/f8, saturating casts), NaN-propagating max/min, the
 * exp family, the per-target math hooks, elementwise ops and fused
 * expressions. Everything works on scalars (lanes == 1) and on
 * <lanes x float> vectors alike. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/codegen.h"

/* ------------------------------------------------------------ basics */

LLVMValueRef qiao_cg_i64(qiao_cg_t *cg, int64_t v) {
  return LLVMConstInt(cg->t_i64, (unsigned long long)v, 1);
}

LLVMValueRef qiao_cg_f32c(qiao_cg_t *cg, double v) { return LLVMConstReal(cg->t_f32, v); }

LLVMTypeRef qiao_cg_vec_type(qiao_cg_t *cg, LLVMTypeRef elem, unsigned lanes) {
  (void)cg;
  return lanes == 1 ? elem : LLVMVectorType(elem, lanes);
}

LLVMValueRef qiao_cg_splat(qiao_cg_t *cg, LLVMValueRef v, unsigned lanes) {
  if (lanes == 1) return v;
  LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(v), lanes);
  if (LLVMIsConstant(v)) {
    LLVMValueRef elems[64];
    for (unsigned i = 0; i < lanes && i < 64; ++i)
      elems[i] = v;
    if (lanes <= 64) return LLVMConstVector(elems, lanes);
  }
  LLVMValueRef undef = LLVMGetUndef(vt);
  LLVMValueRef ins = LLVMBuildInsertElement(cg->b, undef, v, LLVMConstInt(cg->t_i32, 0, 0), "");
  LLVMValueRef mask = LLVMConstNull(LLVMVectorType(cg->t_i32, lanes));
  return LLVMBuildShuffleVector(cg->b, ins, undef, mask, "splat");
}

/* A constant of the same shape (scalar or vector) as `like`. */
static LLVMValueRef const_like(qiao_cg_t *cg, LLVMValueRef like, double v) {
  LLVMTypeRef t = LLVMTypeOf(like);
  if (LLVMGetTypeKind(t) == LLVMVectorTypeKind) {
    LLVMTypeRef et = LLVMGetElementType(t);
    unsigned n = LLVMGetVectorSize(t);
    LLVMValueRef s = LLVMGetTypeKind(et) == LLVMIntegerTypeKind
                         ? LLVMConstInt(et, (unsigned long long)(int64_t)v, 1)
                         : LLVMConstReal(et, v);
    return qiao_cg_splat(cg, s, n);
  }
  return LLVMGetTypeKind(t) == LLVMIntegerTypeKind
             ? LLVMConstInt(t, (unsigned long long)(int64_t)v, 1)
             : LLVMConstReal(t, v);
}

static unsigned lanes_of(LLVMValueRef v) {
  LLVMTypeRef t = LLVMTypeOf(v);
  return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMGetVectorSize(t) : 1;
}

/* 2^e as f32 lanes of type ft, for integer lanes e in [-126, 127] (bits). */
static LLVMValueRef pow2_bits(qiao_cg_t *cg, LLVMValueRef e, LLVMTypeRef ft) {
  return LLVMBuildBitCast(cg->b,
                          LLVMBuildShl(cg->b, LLVMBuildAdd(cg->b, e, const_like(cg, e, 127), ""),
                                       const_like(cg, e, 23), ""),
                          ft, "");
}

LLVMValueRef qiao_cg_call_intrinsic(qiao_cg_t *cg, const char *name, LLVMTypeRef *types,
                                    unsigned n_types, LLVMValueRef *args, unsigned n_args) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, types, n_types);
  LLVMTypeRef fty = LLVMIntrinsicGetType(cg->ctx, id, types, n_types);
  return LLVMBuildCall2(cg->b, fty, fn, args, n_args, "");
}

static LLVMValueRef unary_intr(qiao_cg_t *cg, const char *name, LLVMValueRef x) {
  LLVMTypeRef t = LLVMTypeOf(x);
  return qiao_cg_call_intrinsic(cg, name, &t, 1, &x, 1);
}

static LLVMValueRef binary_intr(qiao_cg_t *cg, const char *name, LLVMValueRef a, LLVMValueRef b) {
  LLVMTypeRef t = LLVMTypeOf(a);
  LLVMValueRef args[2] = {a, b};
  return qiao_cg_call_intrinsic(cg, name, &t, 1, args, 2);
}

/* ------------------------------------------------------------ context */

void qiao_cg_init_types(qiao_cg_t *cg) {
  cg->t_void = LLVMVoidTypeInContext(cg->ctx);
  cg->t_i1 = LLVMInt1TypeInContext(cg->ctx);
  cg->t_i8 = LLVMInt8TypeInContext(cg->ctx);
  cg->t_i16 = LLVMInt16TypeInContext(cg->ctx);
  cg->t_i32 = LLVMInt32TypeInContext(cg->ctx);
  cg->t_i64 = LLVMInt64TypeInContext(cg->ctx);
  cg->t_f16 = LLVMHalfTypeInContext(cg->ctx);
  cg->t_bf16 = LLVMBFloatTypeInContext(cg->ctx);
  cg->t_f32 = LLVMFloatTypeInContext(cg->ctx);
  cg->t_f64 = LLVMDoubleTypeInContext(cg->ctx);
  cg->t_ptr = LLVMPointerTypeInContext(cg->ctx, 0);
  if (!cg->math) cg->math = &qiao_math_host;
}

/* ------------------------------------------------------------ loops */

void qiao_cg_loop_begin(qiao_cg_t *cg, LLVMValueRef lo, LLVMValueRef hi, int64_t step,
                        const char *name, qiao_cg_loop_t *l) {
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(cg->b);
  LLVMValueRef fn = LLVMGetBasicBlockParent(pre);
  char nm[64];
  snprintf(nm, sizeof nm, "%s.hdr", name);
  l->header = LLVMAppendBasicBlockInContext(cg->ctx, fn, nm);
  snprintf(nm, sizeof nm, "%s.body", name);
  l->body = LLVMAppendBasicBlockInContext(cg->ctx, fn, nm);
  snprintf(nm, sizeof nm, "%s.exit", name);
  l->exit = LLVMAppendBasicBlockInContext(cg->ctx, fn, nm);
  l->hi = hi;
  l->next_step = qiao_cg_i64(cg, step);
  LLVMBuildBr(cg->b, l->header);
  LLVMPositionBuilderAtEnd(cg->b, l->header);
  l->iv = LLVMBuildPhi(cg->b, cg->t_i64, name);
  LLVMAddIncoming(l->iv, &lo, &pre, 1);
  LLVMValueRef cond = LLVMBuildICmp(cg->b, LLVMIntSLT, l->iv, hi, "");
  LLVMBuildCondBr(cg->b, cond, l->body, l->exit);
  LLVMPositionBuilderAtEnd(cg->b, l->body);
}

void qiao_cg_loop_end(qiao_cg_t *cg, qiao_cg_loop_t *l) {
  LLVMValueRef next = LLVMBuildNSWAdd(cg->b, l->iv, l->next_step, "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(cg->b);
  l->latch = latch;
  LLVMBuildBr(cg->b, l->header);
  LLVMAddIncoming(l->iv, &next, &latch, 1);
  LLVMPositionBuilderAtEnd(cg->b, l->exit);
}

/* ------------------------------------------------------------ memory */

LLVMTypeRef qiao_cg_storage_type(qiao_cg_t *cg, qiao_dtype_t dt) {
  switch (dt) {
  case QIAO_F32: return cg->t_f32;
  case QIAO_F16: return cg->t_f16;
  case QIAO_BF16: return cg->t_i16;
  case QIAO_I32: return cg->t_i32;
  case QIAO_I64: return cg->t_i64;
  default: return cg->t_i8; /* f8 formats, i8, bool */
  }
}

LLVMValueRef qiao_cg_elem_ptr(qiao_cg_t *cg, LLVMValueRef base, qiao_dtype_t dt,
                              LLVMValueRef index) {
  return LLVMBuildGEP2(cg->b, qiao_cg_storage_type(cg, dt), base, &index, 1, "");
}

/* f8e4m3 bits (as i32 lanes) → f32. */
static LLVMValueRef f8e4m3_to_f32(qiao_cg_t *cg, LLVMValueRef bits, unsigned lanes) {
  LLVMTypeRef fty = qiao_cg_vec_type(cg, cg->t_f32, lanes);
  LLVMValueRef mag = LLVMBuildAnd(cg->b, bits, const_like(cg, bits, 0x7F), "");
  LLVMValueRef sign = LLVMBuildShl(cg->b, LLVMBuildAnd(cg->b, bits, const_like(cg, bits, 0x80), ""),
                                   const_like(cg, bits, 24), "");
  LLVMValueRef e = LLVMBuildLShr(cg->b, mag, const_like(cg, bits, 3), "");
  LLVMValueRef m = LLVMBuildAnd(cg->b, mag, const_like(cg, bits, 7), "");
  /* normal: (mag << 20) + (120 << 23) */
  LLVMValueRef normal = LLVMBuildAdd(cg->b, LLVMBuildShl(cg->b, mag, const_like(cg, bits, 20), ""),
                                     const_like(cg, bits, 120 << 23), "");
  normal = LLVMBuildBitCast(cg->b, normal, fty, "");
  LLVMValueRef sub = LLVMBuildFMul(cg->b, LLVMBuildUIToFP(cg->b, m, fty, ""),
                                   const_like(cg, normal, ldexp(1.0, -9)), "");
  LLVMValueRef is_sub = LLVMBuildICmp(cg->b, LLVMIntEQ, e, const_like(cg, bits, 0), "");
  LLVMValueRef v = LLVMBuildSelect(cg->b, is_sub, sub, normal, "");
  LLVMValueRef is_nan = LLVMBuildICmp(cg->b, LLVMIntEQ, mag, const_like(cg, bits, 0x7F), "");
  v = LLVMBuildSelect(cg->b, is_nan, const_like(cg, v, NAN), v, "");
  LLVMValueRef vi = LLVMBuildBitCast(cg->b, v, qiao_cg_vec_type(cg, cg->t_i32, lanes), "");
  vi = LLVMBuildOr(cg->b, vi, sign, "");
  return LLVMBuildBitCast(cg->b, vi, fty, "");
}

LLVMValueRef qiao_cg_load_f32(qiao_cg_t *cg, LLVMValueRef base, qiao_dtype_t dt, LLVMValueRef index,
                              unsigned lanes) {
  LLVMTypeRef st = qiao_cg_storage_type(cg, dt);
  LLVMTypeRef vt = qiao_cg_vec_type(cg, st, lanes);
  LLVMValueRef p = qiao_cg_elem_ptr(cg, base, dt, index);
  LLVMValueRef raw = LLVMBuildLoad2(cg->b, vt, p, "ld");
  LLVMSetAlignment(raw, (unsigned)qiao_dtype_size(dt));
  return qiao_cg_storage_to_f32(cg, raw, dt, lanes);
}

LLVMValueRef qiao_cg_storage_to_f32(qiao_cg_t *cg, LLVMValueRef raw, qiao_dtype_t dt,
                                    unsigned lanes) {
  LLVMTypeRef fty = qiao_cg_vec_type(cg, cg->t_f32, lanes);
  LLVMTypeRef ity = qiao_cg_vec_type(cg, cg->t_i32, lanes);
  switch (dt) {
  case QIAO_F32: return raw;
  case QIAO_F16: return LLVMBuildFPExt(cg->b, raw, fty, "");
  case QIAO_BF16: {
    LLVMValueRef w = LLVMBuildZExt(cg->b, raw, ity, "");
    w = LLVMBuildShl(cg->b, w, const_like(cg, w, 16), "");
    return LLVMBuildBitCast(cg->b, w, fty, "");
  }
  case QIAO_F8E5M2: {
    LLVMTypeRef hty = qiao_cg_vec_type(cg, cg->t_i16, lanes);
    LLVMValueRef w = LLVMBuildZExt(cg->b, raw, hty, "");
    w = LLVMBuildShl(cg->b, w, const_like(cg, w, 8), "");
    w = LLVMBuildBitCast(cg->b, w, qiao_cg_vec_type(cg, cg->t_f16, lanes), "");
    return LLVMBuildFPExt(cg->b, w, fty, "");
  }
  case QIAO_F8E4M3: return f8e4m3_to_f32(cg, LLVMBuildZExt(cg->b, raw, ity, ""), lanes);
  case QIAO_BOOL: return LLVMBuildUIToFP(cg->b, raw, fty, "");
  default: return LLVMBuildSIToFP(cg->b, raw, fty, "");
  }
}

/* Rounds f32 lanes to a float format with `mbits` mantissa bits and minimum
 * normal exponent `emin` (result still f32, exactly representable in the
 * format; no overflow handling). */
static LLVMValueRef round_small_float(qiao_cg_t *cg, LLVMValueRef v, int mbits, int emin) {
  unsigned lanes = lanes_of(v);
  LLVMTypeRef ity = qiao_cg_vec_type(cg, cg->t_i32, lanes);
  LLVMTypeRef fty = qiao_cg_vec_type(cg, cg->t_f32, lanes);
  LLVMValueRef bits = LLVMBuildBitCast(cg->b, v, ity, "");
  LLVMValueRef e = LLVMBuildAnd(cg->b, LLVMBuildLShr(cg->b, bits, const_like(cg, bits, 23), ""),
                                const_like(cg, bits, 0xFF), "");
  e = LLVMBuildSub(cg->b, e, const_like(cg, bits, 127), "");
  LLVMValueRef lo = const_like(cg, bits, emin);
  e = LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, e, lo, ""), lo, e, "");
  /* q = e - mbits; scale = 2^q, inv = 2^-q (both normal f32 for the f8 formats). */
  LLVMValueRef q = LLVMBuildSub(cg->b, e, const_like(cg, bits, mbits), "");
  LLVMValueRef scale = pow2_bits(cg, q, fty), inv = pow2_bits(cg, LLVMBuildNeg(cg->b, q, ""), fty);
  LLVMValueRef r = unary_intr(cg, "llvm.roundeven", LLVMBuildFMul(cg->b, v, inv, ""));
  return LLVMBuildFMul(cg->b, r, scale, "");
}

static LLVMValueRef bf16_bits(qiao_cg_t *cg, LLVMValueRef v) {
  unsigned lanes = lanes_of(v);
  LLVMTypeRef ity = qiao_cg_vec_type(cg, cg->t_i32, lanes);
  LLVMValueRef bits = LLVMBuildBitCast(cg->b, v, ity, "");
  LLVMValueRef lsb = LLVMBuildAnd(cg->b, LLVMBuildLShr(cg->b, bits, const_like(cg, bits, 16), ""),
                                  const_like(cg, bits, 1), "");
  LLVMValueRef r =
      LLVMBuildAdd(cg->b, bits, LLVMBuildAdd(cg->b, lsb, const_like(cg, bits, 0x7FFF), ""), "");
  r = LLVMBuildLShr(cg->b, r, const_like(cg, bits, 16), "");
  LLVMValueRef is_nan = LLVMBuildFCmp(cg->b, LLVMRealUNO, v, v, "");
  r = LLVMBuildSelect(cg->b, is_nan, const_like(cg, r, 0x7FC0), r, "");
  return r; /* i32 lanes holding the 16 bits */
}

LLVMValueRef qiao_cg_round_f32(qiao_cg_t *cg, LLVMValueRef v, qiao_dtype_t dt) {
  unsigned lanes = lanes_of(v);
  LLVMTypeRef fty = qiao_cg_vec_type(cg, cg->t_f32, lanes);
  switch (dt) {
  case QIAO_F32: return v;
  case QIAO_F16:
    return LLVMBuildFPExt(
        cg->b, LLVMBuildFPTrunc(cg->b, v, qiao_cg_vec_type(cg, cg->t_f16, lanes), ""), fty, "");
  case QIAO_BF16: {
    LLVMValueRef r = bf16_bits(cg, v);
    r = LLVMBuildShl(cg->b, r, const_like(cg, r, 16), "");
    return LLVMBuildBitCast(cg->b, r, fty, "");
  }
  case QIAO_F8E4M3: {
    LLVMValueRef r = round_small_float(cg, v, 3, -6);
    LLVMValueRef mx = const_like(cg, v, 448.0), mn = const_like(cg, v, -448.0);
    r = binary_intr(cg, "llvm.minnum", r, mx); /* saturate, inf included; NaN stays NaN */
    r = binary_intr(cg, "llvm.maxnum", r, mn);
    LLVMValueRef is_nan = LLVMBuildFCmp(cg->b, LLVMRealUNO, v, v, "");
    return LLVMBuildSelect(cg->b, is_nan, v, r, "");
  }
  case QIAO_F8E5M2: {
    LLVMValueRef r = round_small_float(cg, v, 2, -14);
    LLVMValueRef big = LLVMBuildFCmp(cg->b, LLVMRealOGT, unary_intr(cg, "llvm.fabs", r),
                                     const_like(cg, v, 57344.0), "");
    LLVMValueRef inf = binary_intr(cg, "llvm.copysign", const_like(cg, v, INFINITY), v);
    return LLVMBuildSelect(cg->b, big, inf, r, "");
  }
  case QIAO_BOOL: {
    LLVMValueRef nz = LLVMBuildFCmp(cg->b, LLVMRealUNE, v, const_like(cg, v, 0.0), "");
    return LLVMBuildUIToFP(cg->b, nz, fty, "");
  }
  default: {
    LLVMTypeRef it = qiao_cg_vec_type(cg,
                                      dt == QIAO_I8    ? cg->t_i8
                                      : dt == QIAO_I32 ? cg->t_i32
                                                       : cg->t_i64,
                                      lanes);
    LLVMTypeRef tys[2] = {it, fty};
    LLVMValueRef i = qiao_cg_call_intrinsic(cg, "llvm.fptosi.sat", tys, 2, &v, 1);
    return LLVMBuildSIToFP(cg->b, i, fty, "");
  }
  }
}

void qiao_cg_store_f32(qiao_cg_t *cg, LLVMValueRef v, LLVMValueRef base, qiao_dtype_t dt,
                       LLVMValueRef index, unsigned lanes) {
  LLVMValueRef out = qiao_cg_f32_to_storage(cg, v, dt, lanes);
  LLVMValueRef p = qiao_cg_elem_ptr(cg, base, dt, index);
  LLVMValueRef s = LLVMBuildStore(cg->b, out, p);
  LLVMSetAlignment(s, (unsigned)qiao_dtype_size(dt));
}

LLVMValueRef qiao_cg_f32_to_storage(qiao_cg_t *cg, LLVMValueRef v, qiao_dtype_t dt,
                                    unsigned lanes) {
  LLVMTypeRef st = qiao_cg_storage_type(cg, dt);
  LLVMTypeRef vt = qiao_cg_vec_type(cg, st, lanes);
  LLVMTypeRef fty = qiao_cg_vec_type(cg, cg->t_f32, lanes);
  LLVMTypeRef ity = qiao_cg_vec_type(cg, cg->t_i32, lanes);
  LLVMValueRef out;
  switch (dt) {
  case QIAO_F32: out = v; break;
  case QIAO_F16: out = LLVMBuildFPTrunc(cg->b, v, vt, ""); break;
  case QIAO_BF16: out = LLVMBuildTrunc(cg->b, bf16_bits(cg, v), vt, ""); break;
  case QIAO_F8E5M2: {
    /* Round directly to e5m2 (no double rounding through f16), then the value
     * is exact in f16 and its top byte is the e5m2 encoding. */
    LLVMValueRef r = qiao_cg_round_f32(cg, v, QIAO_F8E5M2);
    LLVMValueRef h = LLVMBuildFPTrunc(cg->b, r, qiao_cg_vec_type(cg, cg->t_f16, lanes), "");
    LLVMValueRef hb = LLVMBuildBitCast(cg->b, h, qiao_cg_vec_type(cg, cg->t_i16, lanes), "");
    out = LLVMBuildTrunc(cg->b, LLVMBuildLShr(cg->b, hb, const_like(cg, hb, 8), ""), vt, "");
    break;
  }
  case QIAO_F8E4M3: {
    LLVMValueRef r = qiao_cg_round_f32(cg, v, QIAO_F8E4M3);
    LLVMValueRef a = unary_intr(cg, "llvm.fabs", r);
    LLVMValueRef bits = LLVMBuildBitCast(cg->b, a, ity, "");
    LLVMValueRef e32 = LLVMBuildLShr(cg->b, bits, const_like(cg, bits, 23), "");
    LLVMValueRef m = LLVMBuildAnd(cg->b, LLVMBuildLShr(cg->b, bits, const_like(cg, bits, 20), ""),
                                  const_like(cg, bits, 7), "");
    LLVMValueRef e8 = LLVMBuildSub(cg->b, e32, const_like(cg, bits, 120), "");
    LLVMValueRef normal =
        LLVMBuildOr(cg->b, LLVMBuildShl(cg->b, e8, const_like(cg, bits, 3), ""), m, "");
    LLVMValueRef subm =
        LLVMBuildFPToUI(cg->b, LLVMBuildFMul(cg->b, a, const_like(cg, a, 512.0), ""), ity, "");
    LLVMValueRef is_sub =
        LLVMBuildFCmp(cg->b, LLVMRealOLT, a, const_like(cg, a, ldexp(1.0, -6)), "");
    LLVMValueRef code = LLVMBuildSelect(cg->b, is_sub, subm, normal, "");
    LLVMValueRef is_nan = LLVMBuildFCmp(cg->b, LLVMRealUNO, v, v, "");
    code = LLVMBuildSelect(cg->b, is_nan, const_like(cg, code, 0x7F), code, "");
    LLVMValueRef vb = LLVMBuildBitCast(cg->b, v, ity, "");
    LLVMValueRef sign = LLVMBuildAnd(cg->b, LLVMBuildLShr(cg->b, vb, const_like(cg, vb, 24), ""),
                                     const_like(cg, vb, 0x80), "");
    out = LLVMBuildTrunc(cg->b, LLVMBuildOr(cg->b, code, sign, ""), vt, "");
    break;
  }
  case QIAO_BOOL: {
    LLVMValueRef nz = LLVMBuildFCmp(cg->b, LLVMRealUNE, v, const_like(cg, v, 0.0), "");
    out = LLVMBuildZExt(cg->b, nz, vt, "");
    break;
  }
  default: {
    LLVMTypeRef tys[2] = {vt, fty};
    out = qiao_cg_call_intrinsic(cg, "llvm.fptosi.sat", tys, 2, &v, 1);
    break;
  }
  }
  return out;
}

/* ------------------------------------------------------------ math */

/* max / min exactly as the interpreter (IEEE 754-2019 maximum/minimum up to
 * the sign of zero): NaN when either operand is NaN, else a > b ? a : b.
 * Compare + select vectorizes on every target (no libm, no maxnum). */
LLVMValueRef qiao_cg_emit_max(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b) {
  LLVMValueRef r = LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOGT, a, b, ""), a, b, "");
  return LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealUNO, a, b, ""), const_like(cg, a, NAN),
                         r, "");
}

LLVMValueRef qiao_cg_emit_min(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b) {
  LLVMValueRef r = LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOLT, a, b, ""), a, b, "");
  return LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealUNO, a, b, ""), const_like(cg, a, NAN),
                         r, "");
}

/* The running maximum of every max-reduction (reduce_max, softmax,
 * attention, router): v > acc || isnan(v) ? v : acc — a NaN, once in, stays. */
LLVMValueRef qiao_cg_emit_max_acc(qiao_cg_t *cg, LLVMValueRef acc, LLVMValueRef v) {
  LLVMValueRef take = LLVMBuildOr(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOGT, v, acc, ""),
                                  LLVMBuildFCmp(cg->b, LLVMRealUNO, v, v, ""), "");
  return LLVMBuildSelect(cg->b, take, v, acc, "");
}

static LLVMValueRef fma3(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  LLVMTypeRef t = LLVMTypeOf(a);
  LLVMValueRef args[3] = {a, b, c};
  return qiao_cg_call_intrinsic(cg, "llvm.fmuladd", &t, 1, args, 3);
}

/* a * b + c rounded once (llvm.fma: the exactness the reductions rely on). */
static LLVMValueRef fma3_exact(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  LLVMTypeRef t = LLVMTypeOf(a);
  LLVMValueRef args[3] = {a, b, c};
  return qiao_cg_call_intrinsic(cg, "llvm.fma", &t, 1, args, 3);
}

/* Horner: c[0]*x^(n-1) + ... + c[n-1]. */
static LLVMValueRef horner(qiao_cg_t *cg, LLVMValueRef x, const double *c, int n) {
  LLVMValueRef p = const_like(cg, x, c[0]);
  for (int i = 1; i < n; ++i)
    p = fma3(cg, p, x, const_like(cg, x, c[i]));
  return p;
}

/* exp(x) on f32 scalars/vectors without libm: x = n*ln2 + r (Cody–Waite,
 * |r| <= ln2/2), e^r by Cephes' expf polynomial (~1 ulp), and 2^n applied in
 * two steps 2^(n>>1) * 2^(n-(n>>1)) so that results up to FLT_MAX and
 * subnormal results (down to exp(-103.97)) round once and correctly. +inf
 * above ln(FLT_MAX), 0 below, NaN stays NaN. */
static LLVMValueRef exp_scaled(qiao_cg_t *cg, LLVMValueRef x, int k);
LLVMValueRef qiao_cg_emit_exp(qiao_cg_t *cg, LLVMValueRef x) { return exp_scaled(cg, x, 0); }

/* exp(x) * 2^k (0 <= k <= 64): the scaled value of a result that would be
 * subnormal, for callers that multiply it before rounding once. */
static LLVMValueRef exp_scaled(qiao_cg_t *cg, LLVMValueRef x, int k) {
  unsigned lanes = lanes_of(x);
  LLVMTypeRef t = LLVMTypeOf(x);
  LLVMTypeRef it = qiao_cg_vec_type(cg, cg->t_i32, lanes);
  double lo = k ? -116.0 : -104.0; /* below: 0 even after the 2^k scaling */
  LLVMValueRef xc = binary_intr(cg, "llvm.maxnum", x, const_like(cg, x, lo));
  xc = binary_intr(cg, "llvm.minnum", xc, const_like(cg, x, 88.75));
  LLVMValueRef n = unary_intr(cg, "llvm.roundeven",
                              LLVMBuildFMul(cg->b, xc, const_like(cg, x, 1.4426950408889634), ""));
  LLVMValueRef r = fma3(cg, n, const_like(cg, x, -0.693145751953125), xc);
  r = fma3(cg, n, const_like(cg, x, -1.428606765330187045e-06), r);
  static const double c[] = {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3,
                             4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1};
  LLVMValueRef p = horner(cg, r, c, 6);
  p = fma3(cg, p, LLVMBuildFMul(cg->b, r, r, ""), r);
  p = LLVMBuildFAdd(cg->b, p, const_like(cg, x, 1.0), "");
  /* n in [-150, 128]: n1 = n >> 1 and n2 = n - n1 both lie in [-75, 64] */
  LLVMValueRef ni = LLVMBuildFPToSI(cg->b, n, it, "");
  if (k) ni = LLVMBuildAdd(cg->b, ni, const_like(cg, ni, k), "");
  LLVMValueRef n1 = LLVMBuildAShr(cg->b, ni, const_like(cg, ni, 1), "");
  LLVMValueRef n2 = LLVMBuildSub(cg->b, ni, n1, "");
  LLVMValueRef s1 = pow2_bits(cg, n1, t), s2 = pow2_bits(cg, n2, t);
  LLVMValueRef y = LLVMBuildFMul(cg->b, LLVMBuildFMul(cg->b, p, s1, ""), s2, "");
  /* the largest f32 below ln(FLT_MAX) = 88.722839...; above it exp overflows */
  LLVMValueRef big =
      LLVMBuildFCmp(cg->b, LLVMRealOGT, x, const_like(cg, x, k ? 44.0 : 88.72283172607422), "");
  y = LLVMBuildSelect(cg->b, big, const_like(cg, x, INFINITY), y, "");
  LLVMValueRef tiny = LLVMBuildFCmp(cg->b, LLVMRealOLT, x, const_like(cg, x, lo), "");
  y = LLVMBuildSelect(cg->b, tiny, const_like(cg, x, 0.0), y, "");
  LLVMValueRef nan = LLVMBuildFCmp(cg->b, LLVMRealUNO, x, x, "");
  return LLVMBuildSelect(cg->b, nan, x, y, "");
}

LLVMValueRef qiao_cg_reduce_add(qiao_cg_t *cg, LLVMValueRef v) {
  if (lanes_of(v) == 1) return v;
  LLVMTypeRef t = LLVMTypeOf(v);
  LLVMValueRef args[2] = {LLVMConstReal(LLVMGetElementType(t), -0.0), v}; /* f32 or f64 lanes */
  LLVMValueRef r = qiao_cg_call_intrinsic(cg, "llvm.vector.reduce.fadd", &t, 1, args, 2);
  LLVMSetFastMathFlags(r, LLVMFastMathAllowReassoc);
  return r;
}

/* NaN-propagating horizontal max (IEEE maximum). */
LLVMValueRef qiao_cg_reduce_max(qiao_cg_t *cg, LLVMValueRef v) {
  if (lanes_of(v) == 1) return v;
  LLVMTypeRef t = LLVMTypeOf(v);
  return qiao_cg_call_intrinsic(cg, "llvm.vector.reduce.fmaximum", &t, 1, &v, 1);
}

/* sigmoid without overflow: e = exp(-|x|), 1/(1+e) for x >= 0, e/(1+e)
 * below (subnormal results for x < -87 come out right). */
LLVMValueRef qiao_cg_emit_sigmoid(qiao_cg_t *cg, LLVMValueRef x) {
  LLVMValueRef one = const_like(cg, x, 1.0);
  LLVMValueRef e = qiao_cg_emit_exp(cg, LLVMBuildFNeg(cg->b, unary_intr(cg, "llvm.fabs", x), ""));
  LLVMValueRef s = LLVMBuildFDiv(cg->b, one, LLVMBuildFAdd(cg->b, one, e, ""), "");
  LLVMValueRef pos = LLVMBuildFCmp(cg->b, LLVMRealOGE, x, const_like(cg, x, 0.0), "");
  return LLVMBuildSelect(cg->b, pos, s, LLVMBuildFMul(cg->b, e, s, ""), "");
}

/* tanh: 1 - 2/(exp(2x)+1) away from 0, the odd Taylor polynomial to x^11
 * for |x| < 0.25 (truncation < 1e-10 relative) where the first form cancels. */
static LLVMValueRef emit_tanh(qiao_cg_t *cg, LLVMValueRef x) {
  LLVMValueRef one = const_like(cg, x, 1.0);
  LLVMValueRef e2 = qiao_cg_emit_exp(cg, LLVMBuildFMul(cg->b, x, const_like(cg, x, 2.0), ""));
  LLVMValueRef far = LLVMBuildFSub(
      cg->b, one,
      LLVMBuildFDiv(cg->b, const_like(cg, x, 2.0), LLVMBuildFAdd(cg->b, e2, one, ""), ""), "");
  LLVMValueRef x2 = LLVMBuildFMul(cg->b, x, x, "");
  static const double c[] = {-1382.0 / 155925.0, 62.0 / 2835.0, -17.0 / 315.0,
                             2.0 / 15.0,         -1.0 / 3.0,    1.0};
  LLVMValueRef near = LLVMBuildFMul(cg->b, x, horner(cg, x2, c, 6), "");
  LLVMValueRef small = LLVMBuildFCmp(cg->b, LLVMRealOLT, unary_intr(cg, "llvm.fabs", x),
                                     const_like(cg, x, 0.25), "");
  return LLVMBuildSelect(cg->b, small, near, far, "");
}

/* erfc(z) for z >= 0, given z^2 = z2 + z2lo exactly (Numerical Recipes' erfcc: relative error
 * < 1.2e-7 for every z): t*exp(-z^2 + P(t)), the exponent's rounding error carried as a first-order
 * correction so the tail (subnormal results included) stays accurate. z is clamped at 11 (erfc(11)
 * rounds to 0 in f32). */
static LLVMValueRef emit_erfc_pos(qiao_cg_t *cg, LLVMValueRef z, LLVMValueRef z2,
                                  LLVMValueRef z2lo) {
  LLVMValueRef one = const_like(cg, z, 1.0);
  z = binary_intr(cg, "llvm.minnum", z, const_like(cg, z, 11.0));
  LLVMValueRef t = LLVMBuildFDiv(cg->b, one, fma3(cg, z, const_like(cg, z, 0.5), one), "");
  static const double c[] = {0.17087277,  -0.82215223, 1.48851587, -1.13520398, 0.27886807,
                             -0.18628806, 0.09678418,  0.37409196, 1.00002368,  -1.26551223};
  LLVMValueRef p = horner(cg, t, c, 10);
  LLVMValueRef nz2 = LLVMBuildFNeg(cg->b, z2, "");
  LLVMValueRef s = LLVMBuildFAdd(cg->b, p, nz2, "");
  LLVMValueRef bb = LLVMBuildFSub(cg->b, s, p, ""); /* TwoSum(p, -z2) */
  LLVMValueRef err =
      LLVMBuildFAdd(cg->b, LLVMBuildFSub(cg->b, p, LLVMBuildFSub(cg->b, s, bb, ""), ""),
                    LLVMBuildFSub(cg->b, nz2, bb, ""), "");
  LLVMValueRef lo = LLVMBuildFSub(cg->b, err, z2lo, "");
  LLVMValueRef e = qiao_cg_emit_exp(cg, s);
  return LLVMBuildFMul(cg->b, LLVMBuildFMul(cg->b, t, e, ""), LLVMBuildFAdd(cg->b, one, lo, ""),
                       "");
}

/* ------------------------------------------------------------ math hooks */

/* Splits |x| (f32, > 0, finite or not) into 2^e * m with m in [sqrt(1/2),
 * sqrt(2)), subnormals included; returns m - 1 and sets *out_e (f32 lanes). */
static LLVMValueRef split_log(qiao_cg_t *cg, LLVMValueRef ax, LLVMValueRef *out_e) {
  unsigned lanes = lanes_of(ax);
  LLVMTypeRef it = qiao_cg_vec_type(cg, cg->t_i32, lanes), ft = LLVMTypeOf(ax);
  LLVMValueRef sub = LLVMBuildFCmp(cg->b, LLVMRealOLT, ax, const_like(cg, ax, 0x1p-126), "");
  LLVMValueRef xs =
      LLVMBuildSelect(cg->b, sub, LLVMBuildFMul(cg->b, ax, const_like(cg, ax, 0x1p23), ""), ax, "");
  LLVMValueRef bits = LLVMBuildBitCast(cg->b, xs, it, "");
  LLVMValueRef e = LLVMBuildSub(cg->b, LLVMBuildLShr(cg->b, bits, const_like(cg, bits, 23), ""),
                                const_like(cg, bits, 127), "");
  e = LLVMBuildSelect(cg->b, sub, LLVMBuildSub(cg->b, e, const_like(cg, e, 23), ""), e, "");
  LLVMValueRef mb =
      LLVMBuildOr(cg->b, LLVMBuildAnd(cg->b, bits, const_like(cg, bits, 0x7FFFFF), ""),
                  const_like(cg, bits, 0x3F800000), "");
  LLVMValueRef m = LLVMBuildBitCast(cg->b, mb, ft, "");
  LLVMValueRef big = LLVMBuildFCmp(cg->b, LLVMRealOGT, m, const_like(cg, m, 1.41421356237), "");
  m = LLVMBuildSelect(cg->b, big, LLVMBuildFMul(cg->b, m, const_like(cg, m, 0.5), ""), m, "");
  e = LLVMBuildSelect(cg->b, big, LLVMBuildAdd(cg->b, e, const_like(cg, e, 1), ""), e, "");
  *out_e = LLVMBuildSIToFP(cg->b, e, ft, "");
  return LLVMBuildFSub(cg->b, m, const_like(cg, m, 1.0), "");
}

/* log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1): Cephes' logf polynomial. */
static LLVMValueRef log1p_small(qiao_cg_t *cg, LLVMValueRef f) {
  static const double c[] = {7.0376836292E-2,  -1.1514610310E-1, 1.1676998740E-1,
                             -1.2420140846E-1, 1.4249322787E-1,  -1.6668057665E-1,
                             2.0000714765E-1,  -2.4999993993E-1, 3.3333331174E-1};
  LLVMValueRef z = LLVMBuildFMul(cg->b, f, f, "");
  LLVMValueRef y = LLVMBuildFMul(cg->b, LLVMBuildFMul(cg->b, f, z, ""), horner(cg, f, c, 9), "");
  y = fma3(cg, z, const_like(cg, f, -0.5), y);
  return LLVMBuildFAdd(cg->b, f, y, "");
}

/* log without libm: x = 2^e m, log m by polynomial; log(0) = -inf, log(x<0)
 * = NaN, log(inf) = inf, NaN stays NaN. */
static LLVMValueRef portable_log(qiao_cg_t *cg, LLVMValueRef x) {
  LLVMValueRef e;
  LLVMValueRef lm = log1p_small(cg, split_log(cg, x, &e));
  LLVMValueRef y = fma3(cg, e, const_like(cg, x, -2.12194440e-4), lm);
  y = fma3(cg, e, const_like(cg, x, 0.693359375), y);
  LLVMValueRef zero = const_like(cg, x, 0.0);
  y = LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOEQ, x, zero, ""),
                      const_like(cg, x, -INFINITY), y, "");
  y = LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOEQ, x, const_like(cg, x, INFINITY), ""),
                      x, y, "");
  return LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealULT, x, zero, ""),
                         const_like(cg, x, NAN), y, "");
}

/* pow without libm: |a|^b = exp(b * (e ln2 + log m)) with the product and
 * the reduction of the exponent in f64 (plain arithmetic on every target),
 * so |b log a| up to ~100 keeps f32 accuracy; then C99's special cases
 * (pow(x, ±0) = 1, pow(1, y) = 1, negative bases with integer exponents,
 * NaN for other negative bases). */
static LLVMValueRef portable_pow(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b) {
  unsigned lanes = lanes_of(a);
  LLVMTypeRef dt = qiao_cg_vec_type(cg, cg->t_f64, lanes), ft = LLVMTypeOf(a);
  LLVMValueRef ax = unary_intr(cg, "llvm.fabs", a);
  LLVMValueRef e;
  LLVMValueRef lm = log1p_small(cg, split_log(cg, ax, &e));
  LLVMValueRef l64 =
      LLVMBuildFAdd(cg->b,
                    LLVMBuildFMul(cg->b, LLVMBuildFPExt(cg->b, e, dt, ""),
                                  const_like(cg, LLVMConstNull(dt), 0.6931471805599453), ""),
                    LLVMBuildFPExt(cg->b, lm, dt, ""), "");
  /* log|a| of 0, inf and NaN */
  l64 = LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOEQ, ax, const_like(cg, a, 0.0), ""),
                        const_like(cg, l64, -INFINITY), l64, "");
  l64 =
      LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealUEQ, ax, const_like(cg, a, INFINITY), ""),
                      LLVMBuildFPExt(cg->b, ax, dt, ""), l64, "");
  LLVMValueRef s = LLVMBuildFMul(cg->b, LLVMBuildFPExt(cg->b, b, dt, ""), l64, "");
  /* exp(s): s = n ln2 + r in f64, e^r by the f32 exp (|r| <= ln2/2: no scaling error) */
  LLVMValueRef sc = binary_intr(cg, "llvm.maxnum", s, const_like(cg, s, -110.0));
  sc = binary_intr(cg, "llvm.minnum", sc, const_like(cg, s, 90.0));
  LLVMValueRef n = unary_intr(cg, "llvm.roundeven",
                              LLVMBuildFMul(cg->b, sc, const_like(cg, s, 1.4426950408889634), ""));
  LLVMValueRef r = LLVMBuildFSub(
      cg->b, sc, LLVMBuildFMul(cg->b, n, const_like(cg, s, 0.6931471805599453), ""), "");
  LLVMValueRef er = qiao_cg_emit_exp(cg, LLVMBuildFPTrunc(cg->b, r, ft, ""));
  /* 2^n in two f32 steps as in exp */
  LLVMValueRef half = LLVMBuildFPTrunc(
      cg->b, unary_intr(cg, "llvm.floor", LLVMBuildFMul(cg->b, n, const_like(cg, n, 0.5), "")), ft,
      "");
  LLVMValueRef rest = LLVMBuildFSub(cg->b, LLVMBuildFPTrunc(cg->b, n, ft, ""), half, "");
  LLVMValueRef y = LLVMBuildFMul(cg->b, LLVMBuildFMul(cg->b, er, qiao_cg_emit_exp2i(cg, half), ""),
                                 qiao_cg_emit_exp2i(cg, rest), "");
  y = LLVMBuildSelect(
      cg->b, LLVMBuildFCmp(cg->b, LLVMRealOGT, s, const_like(cg, s, 88.72283905206835), ""),
      const_like(cg, a, INFINITY), y, "");
  y = LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOLT, s, const_like(cg, s, -104.0), ""),
                      const_like(cg, a, 0.0), y, "");
  y = LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealUNO, s, s, ""), const_like(cg, a, NAN), y,
                      "");
  /* |a| = 1 with b = ±inf: inf * 0 above */
  y = LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOEQ, ax, const_like(cg, a, 1.0), ""),
                      const_like(cg, a, 1.0), y, "");
  /* NaN operands give NaN (through s) except the two cases below */
  LLVMValueRef bi = LLVMBuildFCmp(cg->b, LLVMRealOEQ, unary_intr(cg, "llvm.trunc", b), b, "");
  LLVMValueRef hb = LLVMBuildFMul(cg->b, b, const_like(cg, b, 0.5), "");
  LLVMValueRef odd = LLVMBuildAnd(
      cg->b, bi, LLVMBuildFCmp(cg->b, LLVMRealUNE, unary_intr(cg, "llvm.trunc", hb), hb, ""), "");
  LLVMValueRef neg =
      LLVMBuildFCmp(cg->b, LLVMRealOLT, binary_intr(cg, "llvm.copysign", const_like(cg, a, 1.0), a),
                    const_like(cg, a, 0.0), "");
  y = LLVMBuildSelect(cg->b, LLVMBuildAnd(cg->b, neg, odd, ""), LLVMBuildFNeg(cg->b, y, ""), y, "");
  /* a negative finite base with a non-integer exponent (pow(-inf, y) is ±0/inf) */
  LLVMValueRef negfin =
      LLVMBuildAnd(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOLT, a, const_like(cg, a, 0.0), ""),
                   LLVMBuildFCmp(cg->b, LLVMRealONE, a, const_like(cg, a, -INFINITY), ""), "");
  LLVMValueRef bad = LLVMBuildAnd(cg->b, negfin, LLVMBuildNot(cg->b, bi, ""), "");
  y = LLVMBuildSelect(cg->b, bad, const_like(cg, a, NAN), y, "");
  y = LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOEQ, a, const_like(cg, a, 1.0), ""),
                      const_like(cg, a, 1.0), y, "");
  return LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOEQ, b, const_like(cg, b, 0.0), ""),
                         const_like(cg, a, 1.0), y, "");
}

/* ------------------------------------------------- portable sin and cos */

/* Both compute in f64 (plain arithmetic on every target) and return the
 * input's type; results are accurate to f32 (relative error < 2^-34 before
 * the final rounding), which is what every caller stores.
 *
 * Reduction: x = k pi/2 + r, |r| <= pi/4, quadrant q = k mod 4.
 * - |x| < 2^20: Cody–Waite with a 3-part pi/2 (fdlibm's pio2_1 and pio2_2 of
 *   33 bits, so k P1 and k P2 are exact for k < 2^20, and pio2_2t);
 * - |x| >= 2^20 (a branch taken only when a lane needs it): Payne–Hanek
 *   without tables. x is split into three f32-exact pieces (x up to 2^128);
 *   each 24-bit piece y times each 24-bit chunk c_j of 2/pi is exact in f64,
 *   reduced mod 4 exactly, and the terms are summed with TwoSum, so the
 *   fraction of x 2/pi is exact to ~2^-100. f64 inputs beyond 2^128 give NaN
 *   (documented bound; f32 inputs never reach it).
 * Polynomials: FreeBSD's __kernel_sindf / __kernel_cosdf minimax
 * polynomials on [-pi/4, pi/4] (errors 2^-37.5 and 2^-34.1). inf and NaN give
 * NaN. */
static const double TWO_OVER_PI_24[10] = {0xa2f983, 0x6e4e44, 0x1529fc, 0x2757d1, 0xf534dd,
                                          0xc0db62, 0x95993c, 0x439041, 0xfe5163, 0xabdebb};

/* (t mod 4) in [0, 4), exact for f64 t. */
static LLVMValueRef mod4(qiao_cg_t *cg, LLVMValueRef t) {
  LLVMValueRef fl =
      unary_intr(cg, "llvm.floor", LLVMBuildFMul(cg->b, t, const_like(cg, t, 0.25), ""));
  return fma3_exact(cg, fl, const_like(cg, t, -4.0), t);
}

/* TwoSum: *hi + *lo += t, exactly (the rounding error of hi + t goes to lo). */
static void two_sum_acc(qiao_cg_t *cg, LLVMValueRef *hi, LLVMValueRef *lo, LLVMValueRef t) {
  LLVMValueRef s = LLVMBuildFAdd(cg->b, *hi, t, "");
  LLVMValueRef bb = LLVMBuildFSub(cg->b, s, *hi, "");
  LLVMValueRef err =
      LLVMBuildFAdd(cg->b, LLVMBuildFSub(cg->b, *hi, LLVMBuildFSub(cg->b, s, bb, ""), ""),
                    LLVMBuildFSub(cg->b, t, bb, ""), "");
  *hi = s;
  *lo = LLVMBuildFAdd(cg->b, *lo, err, "");
}

/* Payne–Hanek for f64 x (finite, |x| < 2^128): r (f64) and k mod 4 (f64). */
static void reduce_huge(qiao_cg_t *cg, LLVMValueRef x, LLVMValueRef *out_r, LLVMValueRef *out_q) {
  unsigned lanes = lanes_of(x);
  LLVMTypeRef ft = qiao_cg_vec_type(cg, cg->t_f32, lanes), dt = LLVMTypeOf(x);
  LLVMValueRef piece[3], rest = x;
  for (int i = 0; i < 3; ++i) { /* x = hi + mid + lo, each exact in f32 */
    piece[i] = LLVMBuildFPExt(cg->b, LLVMBuildFPTrunc(cg->b, rest, ft, ""), dt, "");
    rest = LLVMBuildFSub(cg->b, rest, piece[i], "");
  }
  LLVMValueRef hi = const_like(cg, x, 0.0), lo = const_like(cg, x, 0.0);
  for (int j = 9; j >= 0; --j) /* smallest terms first */
    for (int i = 2; i >= 0; --i) {
      LLVMValueRef t = LLVMBuildFMul(cg->b, piece[i], const_like(cg, x, TWO_OVER_PI_24[j]), "");
      t = LLVMBuildFMul(cg->b, t, const_like(cg, x, ldexp(1.0, -24 * (j + 1))), "");
      two_sum_acc(cg, &hi, &lo, mod4(cg, t));
    }
  LLVMValueRef f = mod4(cg, hi); /* the fraction of x 2/pi, mod 4: f + lo */
  LLVMValueRef k = unary_intr(cg, "llvm.rint", f);
  LLVMValueRef rf = LLVMBuildFAdd(cg->b, LLVMBuildFSub(cg->b, f, k, ""), lo, "");
  *out_r = fma3_exact(cg, rf, const_like(cg, x, 1.5707963267948966),
                      LLVMBuildFMul(cg->b, rf, const_like(cg, x, 6.123233995736766e-17), ""));
  *out_q = mod4(cg, k);
}

static LLVMValueRef sincos_portable(qiao_cg_t *cg, LLVMValueRef x0, int quadrant_shift) {
  unsigned lanes = lanes_of(x0);
  LLVMTypeRef dt = qiao_cg_vec_type(cg, cg->t_f64, lanes),
              it = qiao_cg_vec_type(cg, cg->t_i32, lanes);
  LLVMValueRef x = LLVMTypeOf(x0) == dt ? x0 : LLVMBuildFPExt(cg->b, x0, dt, "");
  LLVMValueRef ax = unary_intr(cg, "llvm.fabs", x);
  /* inf, NaN (and f64 beyond 2^128) give NaN; they run as 0 (no poison) */
  LLVMValueRef finite = LLVMBuildFCmp(cg->b, LLVMRealOLT, ax, const_like(cg, x, 0x1p128), "");
  x = LLVMBuildSelect(cg->b, finite, x, const_like(cg, x, 0.0), "");
  /* Cody–Waite, 3-part pi/2 */
  LLVMValueRef k = unary_intr(cg, "llvm.rint",
                              LLVMBuildFMul(cg->b, x, const_like(cg, x, 0.6366197723675814), ""));
  LLVMValueRef y = fma3_exact(cg, k, const_like(cg, x, -1.57079632673412561417e+00), x);
  y = fma3_exact(cg, k, const_like(cg, x, -6.07710050630396597660e-11), y);
  LLVMValueRef r = fma3_exact(cg, k, const_like(cg, x, -2.02226624879595063154e-21), y);
  LLVMValueRef q = mod4(cg, k);
  /* |x| >= 2^20 in some lane: Payne–Hanek for those lanes */
  LLVMValueRef huge = LLVMBuildFCmp(cg->b, LLVMRealOGE, unary_intr(cg, "llvm.fabs", x),
                                    const_like(cg, x, 0x1p20), "");
  LLVMValueRef any =
      lanes == 1
          ? huge
          : LLVMBuildICmp(cg->b, LLVMIntNE,
                          LLVMBuildBitCast(cg->b, huge, LLVMIntTypeInContext(cg->ctx, lanes), ""),
                          LLVMConstInt(LLVMIntTypeInContext(cg->ctx, lanes), 0, 0), "");
  LLVMBasicBlockRef from = LLVMGetInsertBlock(cg->b);
  LLVMValueRef fn = LLVMGetBasicBlockParent(from);
  LLVMBasicBlockRef slow = LLVMAppendBasicBlockInContext(cg->ctx, fn, "sincos.huge");
  LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(cg->ctx, fn, "sincos.join");
  LLVMBuildCondBr(cg->b, any, slow, join);
  LLVMPositionBuilderAtEnd(cg->b, slow);
  LLVMValueRef rh, qh;
  reduce_huge(cg, x, &rh, &qh);
  rh = LLVMBuildSelect(cg->b, huge, rh, r, "");
  qh = LLVMBuildSelect(cg->b, huge, qh, q, "");
  LLVMBasicBlockRef slow_end = LLVMGetInsertBlock(cg->b);
  LLVMBuildBr(cg->b, join);
  LLVMPositionBuilderAtEnd(cg->b, join);
  LLVMValueRef rp = LLVMBuildPhi(cg->b, dt, ""), qp = LLVMBuildPhi(cg->b, dt, "");
  LLVMValueRef rin[2] = {r, rh}, qin[2] = {q, qh};
  LLVMBasicBlockRef bin[2] = {from, slow_end};
  LLVMAddIncoming(rp, rin, bin, 2);
  LLVMAddIncoming(qp, qin, bin, 2);
  r = rp;
  /* polynomials on r */
  LLVMValueRef z = LLVMBuildFMul(cg->b, r, r, ""), w = LLVMBuildFMul(cg->b, z, z, "");
  static const double S[] = {-0x15555554cbac77.0p-55, 0x111110896efbb2.0p-59,
                             -0x1a00f9e2cae774.0p-65, 0x16cd878c3b46a7.0p-71};
  static const double C[] = {-0x1ffffffd0c5e81.0p-54, 0x155553e1053a42.0p-57,
                             -0x16c087e80f1e27.0p-62, 0x199342e0ee5069.0p-68};
  LLVMValueRef s3 = LLVMBuildFMul(cg->b, z, r, "");
  LLVMValueRef sr = fma3_exact(cg, z, const_like(cg, x, S[3]), const_like(cg, x, S[2]));
  LLVMValueRef sn =
      fma3_exact(cg, s3, fma3_exact(cg, z, const_like(cg, x, S[1]), const_like(cg, x, S[0])), r);
  sn = fma3_exact(cg, LLVMBuildFMul(cg->b, s3, w, ""), sr, sn);
  LLVMValueRef cr = fma3_exact(cg, z, const_like(cg, x, C[3]), const_like(cg, x, C[2]));
  LLVMValueRef cs = fma3_exact(cg, w, const_like(cg, x, C[1]),
                               fma3_exact(cg, z, const_like(cg, x, C[0]), const_like(cg, x, 1.0)));
  cs = fma3_exact(cg, LLVMBuildFMul(cg->b, w, z, ""), cr, cs);
  /* quadrant: sin: q = 0 sin r, 1 cos r, 2 -sin r, 3 -cos r; cos = sin with q + 1 */
  LLVMValueRef qi = LLVMBuildFPToSI(cg->b, qp, it, "");
  if (quadrant_shift) qi = LLVMBuildAdd(cg->b, qi, const_like(cg, qi, quadrant_shift), "");
  LLVMValueRef odd =
      LLVMBuildICmp(cg->b, LLVMIntNE, LLVMBuildAnd(cg->b, qi, const_like(cg, qi, 1), ""),
                    const_like(cg, qi, 0), "");
  LLVMValueRef neg =
      LLVMBuildICmp(cg->b, LLVMIntNE, LLVMBuildAnd(cg->b, qi, const_like(cg, qi, 2), ""),
                    const_like(cg, qi, 0), "");
  LLVMValueRef v = LLVMBuildSelect(cg->b, odd, cs, sn, "");
  v = LLVMBuildSelect(cg->b, neg, LLVMBuildFNeg(cg->b, v, ""), v, "");
  v = LLVMBuildSelect(cg->b, finite, v, const_like(cg, v, NAN), "");
  return LLVMTypeOf(x0) == dt ? v : LLVMBuildFPTrunc(cg->b, v, LLVMTypeOf(x0), "");
}

static LLVMValueRef portable_sin(qiao_cg_t *cg, LLVMValueRef x) {
  return sincos_portable(cg, x, 0);
}
static LLVMValueRef portable_cos(qiao_cg_t *cg, LLVMValueRef x) {
  return sincos_portable(cg, x, 1);
}

static LLVMValueRef host_log(qiao_cg_t *cg, LLVMValueRef x) {
  return unary_intr(cg, "llvm.log", x);
}
static LLVMValueRef host_pow(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b) {
  return binary_intr(cg, "llvm.pow", a, b);
}
static LLVMValueRef host_sin(qiao_cg_t *cg, LLVMValueRef x) {
  return unary_intr(cg, "llvm.sin", x);
}
static LLVMValueRef host_cos(qiao_cg_t *cg, LLVMValueRef x) {
  return unary_intr(cg, "llvm.cos", x);
}
static LLVMValueRef own_sqrt(qiao_cg_t *cg, LLVMValueRef x) {
  return unary_intr(cg, "llvm.sqrt", x); /* an instruction on every target, no libm */
}

/* The host: own vectorizable polynomials for the exp family, libm (through
 * LLVM intrinsics, resolved in process or at link time) for log, pow, sin, cos. */
const qiao_math_hook_t qiao_math_host = {
    "host", qiao_cg_emit_exp, host_log, host_pow, own_sqrt, host_sin, host_cos,
};
/* Plain LLVM arithmetic only: no call but the llvm.* intrinsics every target
 * (NVPTX included) lowers to instructions — fabs, fma/fmuladd, floor, trunc,
 * rint/roundeven, copysign, minnum/maxnum, sqrt. */
const qiao_math_hook_t qiao_math_portable = {
    "portable", qiao_cg_emit_exp, portable_log, portable_pow, own_sqrt, portable_sin, portable_cos,
};

/* 2^k for integer-valued f32 k in [-126, 127] (bits). */
LLVMValueRef qiao_cg_emit_exp2i(qiao_cg_t *cg, LLVMValueRef k) {
  LLVMTypeRef it = qiao_cg_vec_type(cg, cg->t_i32, lanes_of(k));
  LLVMValueRef ki = LLVMBuildFPToSI(cg->b, k, it, "");
  return pow2_bits(cg, ki, LLVMTypeOf(k));
}

LLVMValueRef qiao_cg_emit_elementwise(qiao_cg_t *cg, qiao_op_kind_t op, const qiao_attrs_t *attrs,
                                      LLVMValueRef a, LLVMValueRef b) {
  switch (op) {
  case QIAO_OP_ADD: return LLVMBuildFAdd(cg->b, a, b, "");
  case QIAO_OP_SUB: return LLVMBuildFSub(cg->b, a, b, "");
  case QIAO_OP_MUL: return LLVMBuildFMul(cg->b, a, b, "");
  case QIAO_OP_DIV: return LLVMBuildFDiv(cg->b, a, b, "");
  case QIAO_OP_MAX: return qiao_cg_emit_max(cg, a, b);
  case QIAO_OP_MIN: return qiao_cg_emit_min(cg, a, b);
  case QIAO_OP_POW: return cg->math->pow(cg, a, b);
  case QIAO_OP_NEG: return LLVMBuildFNeg(cg->b, a, "");
  case QIAO_OP_EXP: return qiao_cg_emit_exp(cg, a);
  case QIAO_OP_LOG: return cg->math->log(cg, a);
  case QIAO_OP_SQRT: return cg->math->sqrt(cg, a);
  case QIAO_OP_RSQRT:
    return LLVMBuildFDiv(cg->b, const_like(cg, a, 1.0), cg->math->sqrt(cg, a), "");
  case QIAO_OP_TANH: return emit_tanh(cg, a);
  case QIAO_OP_SIGMOID: return qiao_cg_emit_sigmoid(cg, a);
  case QIAO_OP_SILU: {
    /* x >= 0: x * sigmoid(x); below, x e/(1+e) with e = exp(x) carried as
     * e 2^64 and scaled back last, so subnormal results round once */
    LLVMValueRef e64 = exp_scaled(cg, LLVMBuildFNeg(cg->b, unary_intr(cg, "llvm.fabs", a), ""), 64);
    LLVMValueRef e = LLVMBuildFMul(cg->b, e64, const_like(cg, a, 0x1p-64), "");
    LLVMValueRef inv = LLVMBuildFDiv(cg->b, const_like(cg, a, 1.0),
                                     LLVMBuildFAdd(cg->b, const_like(cg, a, 1.0), e, ""), "");
    LLVMValueRef neg =
        LLVMBuildFMul(cg->b, LLVMBuildFMul(cg->b, LLVMBuildFMul(cg->b, a, e64, ""), inv, ""),
                      const_like(cg, a, 0x1p-64), "");
    LLVMValueRef pos = LLVMBuildFCmp(cg->b, LLVMRealOGE, a, const_like(cg, a, 0.0), "");
    return LLVMBuildSelect(cg->b, pos, LLVMBuildFMul(cg->b, a, inv, ""), neg, "");
  }
  case QIAO_OP_RELU: /* x < 0 ? 0 : x, like the interpreter: NaN stays NaN */
    return LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOLT, a, const_like(cg, a, 0.0), ""),
                           const_like(cg, a, 0.0), a, "");
  case QIAO_OP_GELU: {
    if (attrs && attrs->approximate == QIAO_GELU_TANH) {
      /* 0.5x(1 + tanh(u)) = x * sigmoid(2u): no cancellation for x < 0 */
      LLVMValueRef x3 = LLVMBuildFMul(cg->b, LLVMBuildFMul(cg->b, a, a, ""), a, "");
      LLVMValueRef u =
          LLVMBuildFAdd(cg->b, a, LLVMBuildFMul(cg->b, x3, const_like(cg, a, 0.044715), ""), "");
      u = LLVMBuildFMul(cg->b, u, const_like(cg, a, 2.0 * 0.7978845608028654), "");
      return LLVMBuildFMul(cg->b, a, qiao_cg_emit_sigmoid(cg, u), "");
    }
    /* 0.5x(1 + erf(x/sqrt2)) = 0.5x * (x >= 0 ? 2 - erfc(z) : erfc(z)), z = |x|/sqrt2 */
    /* |x| >= 16: erfc(z) is 0 in f32 (clamped so x^2 stays finite) */
    LLVMValueRef ax =
        binary_intr(cg, "llvm.minnum", unary_intr(cg, "llvm.fabs", a), const_like(cg, a, 16.0));
    LLVMValueRef z = LLVMBuildFMul(cg->b, ax, const_like(cg, a, 0.7071067811865476), "");
    /* z^2 = x^2/2 from the exact x^2 = xx + xxlo (z itself carries a rounding) */
    LLVMTypeRef ty = LLVMTypeOf(a);
    LLVMValueRef xx = LLVMBuildFMul(cg->b, ax, ax, "");
    LLVMValueRef args[3] = {ax, ax, LLVMBuildFNeg(cg->b, xx, "")};
    LLVMValueRef xxlo = qiao_cg_call_intrinsic(cg, "llvm.fma", &ty, 1, args, 3);
    LLVMValueRef h = const_like(cg, a, 0.5);
    LLVMValueRef ec =
        emit_erfc_pos(cg, z, LLVMBuildFMul(cg->b, xx, h, ""), LLVMBuildFMul(cg->b, xxlo, h, ""));
    LLVMValueRef pos = LLVMBuildFCmp(cg->b, LLVMRealOGE, a, const_like(cg, a, 0.0), "");
    LLVMValueRef f =
        LLVMBuildSelect(cg->b, pos, LLVMBuildFSub(cg->b, const_like(cg, a, 2.0), ec, ""), ec, "");
    return LLVMBuildFMul(cg->b, LLVMBuildFMul(cg->b, a, const_like(cg, a, 0.5), ""), f, "");
  }
  case QIAO_OP_CAST: return qiao_cg_round_f32(cg, a, attrs ? attrs->to : QIAO_F32);
  default: return a;
  }
}

LLVMValueRef qiao_cg_emit_expr(qiao_cg_t *cg, const qiao_kernel_desc_t *kd, LLVMValueRef acc,
                               qiao_cg_input_fn load, void *ctx, unsigned lanes) {
  LLVMValueRef vals[QIAO_EXPR_MAX_NODES];
  if (kd->n_expr <= 0) return acc;
  for (int32_t i = 0; i < kd->n_expr && i < QIAO_EXPR_MAX_NODES; ++i) {
    const qiao_expr_node_t *n = &kd->expr[i];
    switch (n->kind) {
    case QIAO_EXPR_INPUT: vals[i] = load(ctx, n->input, lanes); break;
    case QIAO_EXPR_ACC: vals[i] = acc; break;
    case QIAO_EXPR_CONST:
      vals[i] = qiao_cg_splat(cg, LLVMConstReal(cg->t_f32, qiao_round_to_dtype(n->value, n->dtype)),
                              lanes);
      break;
    case QIAO_EXPR_OP: {
      const qiao_op_schema_t *s = qiao_op_schema(n->op);
      LLVMValueRef a = vals[n->args[0]];
      LLVMValueRef b = s->min_operands >= 2 ? vals[n->args[1]] : NULL;
      qiao_attrs_t at = {.to = n->to, .approximate = n->approximate};
      LLVMValueRef r = qiao_cg_emit_elementwise(cg, n->op, &at, a, b);
      vals[i] = qiao_cg_round_f32(cg, r, n->dtype);
      break;
    }
    }
  }
  return vals[kd->n_expr - 1];
}

/* ------------------------------------------------------------ vector loop */

qiao_cg_vloop_t qiao_cg_vloop_start(int64_t lo, int64_t hi, unsigned V, unsigned unroll,
                                    const char *name) {
  qiao_cg_vloop_t vl;
  memset(&vl, 0, sizeof vl);
  vl.lo = lo;
  vl.hi = hi > lo ? hi : lo;
  vl.V = V ? V : 1;
  vl.unroll = unroll;
  vl.name = name;
  return vl;
}

qiao_cg_vloop_t qiao_cg_vloop_start_dyn(LLVMValueRef lo, LLVMValueRef hi, unsigned V,
                                        const char *name) {
  qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, 0, V, 0, name);
  vl.lo_v = lo;
  vl.hi_v = hi;
  return vl;
}

bool qiao_cg_vloop_next(qiao_cg_t *cg, qiao_cg_vloop_t *vl) {
  if (vl->in_loop) {
    qiao_cg_loop_end(cg, &vl->loop);
    vl->in_loop = false;
    vl->part++;
  } else if (vl->unrolling) {
    vl->at += vl->lanes;
    if (vl->at + vl->lanes <= vl->end) {
      vl->i = qiao_cg_i64(cg, vl->at);
      return true;
    }
    vl->unrolling = false;
    vl->part++;
  }
  for (; vl->part < 2; vl->part++) {
    vl->lanes = vl->part == 0 ? vl->V : 1;
    if (vl->part == 0 && vl->V == 1) continue; /* the tail does it all */
    if (vl->lo_v) {
      if (vl->part == 0) { /* mid = lo + (hi - lo) rounded down to V */
        LLVMValueRef len = LLVMBuildSub(cg->b, vl->hi_v, vl->lo_v, "");
        LLVMValueRef vlen =
            (vl->V & (vl->V - 1)) == 0
                ? LLVMBuildAnd(cg->b, len, qiao_cg_i64(cg, ~(int64_t)(vl->V - 1)), "")
                : LLVMBuildMul(cg->b, LLVMBuildSDiv(cg->b, len, qiao_cg_i64(cg, vl->V), ""),
                               qiao_cg_i64(cg, vl->V), "");
        vl->mid_v = LLVMBuildAdd(cg->b, vl->lo_v, vlen, "");
      }
      qiao_cg_loop_begin(cg,
                         vl->part == 0 ? vl->lo_v
                         : vl->mid_v   ? vl->mid_v
                                       : vl->lo_v,
                         vl->part == 0 ? vl->mid_v : vl->hi_v, vl->lanes, vl->name, &vl->loop);
    } else {
      int64_t mid = vl->V == 1 ? vl->lo : vl->lo + (vl->hi - vl->lo) / vl->V * vl->V;
      int64_t a = vl->part == 0 ? vl->lo : mid, b = vl->part == 0 ? mid : vl->hi;
      if (a >= b) continue;
      if ((b - a) / vl->lanes <= (int64_t)vl->unroll) {
        vl->unrolling = true;
        vl->at = a;
        vl->end = b;
        vl->i = qiao_cg_i64(cg, a);
        return true;
      }
      qiao_cg_loop_begin(cg, qiao_cg_i64(cg, a), qiao_cg_i64(cg, b), vl->lanes, vl->name,
                         &vl->loop);
    }
    vl->in_loop = true;
    vl->i = vl->loop.iv;
    return true;
  }
  return false;
}

void qiao_cg_vloop(qiao_cg_t *cg, int64_t lo, int64_t hi, unsigned V, const char *name,
                   qiao_cg_vbody_fn body, void *ctx) {
  for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(lo, hi, V, 0, name); qiao_cg_vloop_next(cg, &vl);)
    body(ctx, vl.i, vl.lanes);
}

/* ------------------------------------------------------ integer elementwise */

/* An integer constant of a's type (scalar or vector lanes). */
static LLVMValueRef iconst_like(LLVMValueRef a, int64_t v) {
  LLVMTypeRef t = LLVMTypeOf(a);
  if (LLVMGetTypeKind(t) != LLVMVectorTypeKind) return LLVMConstInt(t, (unsigned long long)v, 1);
  unsigned n = LLVMGetVectorSize(t);
  LLVMValueRef c = LLVMConstInt(LLVMGetElementType(t), (unsigned long long)v, 1);
  LLVMValueRef lanes[64];
  for (unsigned i = 0; i < n && i < 64; ++i)
    lanes[i] = c;
  return LLVMConstVector(lanes, n);
}

LLVMValueRef qiao_cg_emit_int_binary(qiao_cg_t *cg, qiao_op_kind_t op, LLVMValueRef a,
                                     LLVMValueRef b) {
  switch (op) {
  case QIAO_OP_ADD: return LLVMBuildAdd(cg->b, a, b, "");
  case QIAO_OP_SUB: return LLVMBuildSub(cg->b, a, b, "");
  case QIAO_OP_MUL: return LLVMBuildMul(cg->b, a, b, "");
  case QIAO_OP_MAX:
    return LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSGT, a, b, ""), a, b, "");
  case QIAO_OP_MIN:
    return LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, a, b, ""), a, b, "");
  case QIAO_OP_DIV: {
    /* x / 0 = 0 and MIN / -1 = MIN (the interpreter's rules), without UB:
     * divide by a safe divisor and fix up. */
    LLVMValueRef zero = iconst_like(a, 0), one = iconst_like(a, 1), m1 = iconst_like(a, -1);
    LLVMValueRef bz = LLVMBuildICmp(cg->b, LLVMIntEQ, b, zero, "");
    LLVMValueRef bm1 = LLVMBuildICmp(cg->b, LLVMIntEQ, b, m1, "");
    LLVMValueRef safe = LLVMBuildSelect(cg->b, LLVMBuildOr(cg->b, bz, bm1, ""), one, b, "");
    LLVMValueRef q = LLVMBuildSDiv(cg->b, a, safe, "");
    q = LLVMBuildSelect(cg->b, bm1, LLVMBuildSub(cg->b, zero, a, ""), q, ""); /* wraps */
    return LLVMBuildSelect(cg->b, bz, zero, q, "");
  }
  default: return NULL;
  }
}

/* ------------------------------------------------------ integer conversions */

static LLVMTypeRef int_storage_type(qiao_cg_t *cg, qiao_dtype_t dt) {
  return dt == QIAO_I8 ? cg->t_i8 : dt == QIAO_I32 ? cg->t_i32 : cg->t_i64;
}

LLVMValueRef qiao_cg_int_wrap(qiao_cg_t *cg, LLVMValueRef v, qiao_dtype_t dt, unsigned lanes) {
  if (dt == QIAO_I64) return v;
  LLVMTypeRef nt = qiao_cg_vec_type(cg, int_storage_type(cg, dt), lanes);
  return LLVMBuildSExt(cg->b, LLVMBuildTrunc(cg->b, v, nt, ""),
                       qiao_cg_vec_type(cg, cg->t_i64, lanes), "");
}

LLVMValueRef qiao_cg_int_sat(qiao_cg_t *cg, LLVMValueRef v, qiao_dtype_t dt, unsigned lanes) {
  if (dt == QIAO_I64) return v;
  int64_t lo = dt == QIAO_I8 ? INT8_MIN : INT32_MIN, hi = dt == QIAO_I8 ? INT8_MAX : INT32_MAX;
  LLVMValueRef l = qiao_cg_splat(cg, LLVMConstInt(cg->t_i64, (unsigned long long)lo, 1), lanes);
  LLVMValueRef h = qiao_cg_splat(cg, LLVMConstInt(cg->t_i64, (unsigned long long)hi, 1), lanes);
  v = LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, v, l, ""), l, v, "");
  return LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSGT, v, h, ""), h, v, "");
}

LLVMValueRef qiao_cg_f32_to_int(qiao_cg_t *cg, LLVMValueRef v, qiao_dtype_t dt, unsigned lanes) {
  LLVMTypeRef tys[2] = {qiao_cg_vec_type(cg, int_storage_type(cg, dt), lanes), LLVMTypeOf(v)};
  LLVMValueRef r = qiao_cg_call_intrinsic(cg, "llvm.fptosi.sat", tys, 2, &v, 1);
  return dt == QIAO_I64 ? r : LLVMBuildSExt(cg->b, r, qiao_cg_vec_type(cg, cg->t_i64, lanes), "");
}

LLVMValueRef qiao_cg_int_to_f32(qiao_cg_t *cg, LLVMValueRef v, qiao_dtype_t dt, unsigned lanes) {
  LLVMValueRef d = LLVMBuildSIToFP(cg->b, v, qiao_cg_vec_type(cg, cg->t_f64, lanes), "");
  LLVMValueRef f = LLVMBuildFPTrunc(cg->b, d, qiao_cg_vec_type(cg, cg->t_f32, lanes), "");
  return qiao_cg_round_f32(cg, f, dt);
}

/* ------------------------------------------------------ mixed expressions */

static LLVMValueRef ilanes(qiao_cg_t *cg, int64_t v, unsigned lanes) {
  return qiao_cg_splat(cg, LLVMConstInt(cg->t_i64, (unsigned long long)v, 1), lanes);
}
static LLVMValueRef as_f32(qiao_cg_t *cg, qiao_cg_ival_t x, unsigned lanes) {
  return x.is_int ? qiao_cg_int_to_f32(cg, x.v, QIAO_F32, lanes) : x.v;
}
static LLVMValueRef as_i64(qiao_cg_t *cg, qiao_cg_ival_t x, unsigned lanes) {
  return x.is_int ? x.v : qiao_cg_f32_to_int(cg, x.v, QIAO_I64, lanes);
}

qiao_cg_ival_t qiao_cg_emit_mixed_const(qiao_cg_t *cg, const qiao_expr_node_t *n, unsigned lanes) {
  qiao_dtype_t dt = n->dtype;
  double v = qiao_round_to_dtype(n->value, dt);
  if (qiao_dtype_is_int(dt)) return (qiao_cg_ival_t){true, ilanes(cg, (int64_t)v, lanes)};
  return (qiao_cg_ival_t){false, qiao_cg_splat(cg, qiao_cg_f32c(cg, v), lanes)};
}

qiao_cg_ival_t qiao_cg_emit_mixed_op(qiao_cg_t *cg, const qiao_expr_node_t *n, qiao_cg_ival_t a,
                                     qiao_cg_ival_t b, unsigned lanes) {
  qiao_dtype_t dt = n->dtype;
  qiao_attrs_t at;
  memset(&at, 0, sizeof at);
  at.to = n->to;
  at.approximate = n->approximate;
  if (n->op == QIAO_OP_CAST) {
    qiao_dtype_t to = n->to;
    if (qiao_dtype_is_int(to))
      return (qiao_cg_ival_t){true, a.is_int ? qiao_cg_int_sat(cg, a.v, to, lanes)
                                             : qiao_cg_f32_to_int(cg, a.v, to, lanes)};
    if (to == QIAO_BOOL && a.is_int)
      return (qiao_cg_ival_t){
          false,
          LLVMBuildUIToFP(cg->b, LLVMBuildICmp(cg->b, LLVMIntNE, a.v, ilanes(cg, 0, lanes), ""),
                          qiao_cg_vec_type(cg, cg->t_f32, lanes), "")};
    return (qiao_cg_ival_t){false, a.is_int ? qiao_cg_int_to_f32(cg, a.v, to, lanes)
                                            : qiao_cg_round_f32(cg, a.v, to)};
  }
  if (qiao_dtype_is_int(dt)) {
    LLVMValueRef iv = NULL;
    if (n->op == QIAO_OP_NEG) {
      iv = LLVMBuildSub(cg->b, ilanes(cg, 0, lanes), as_i64(cg, a, lanes), "");
    } else if (n->op == QIAO_OP_RELU) {
      LLVMValueRef x = as_i64(cg, a, lanes), z = ilanes(cg, 0, lanes);
      iv = LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, x, z, ""), z, x, "");
    } else if (b.v && n->op != QIAO_OP_POW) {
      iv = qiao_cg_emit_int_binary(cg, n->op, as_i64(cg, a, lanes), as_i64(cg, b, lanes));
    }
    if (iv) return (qiao_cg_ival_t){true, qiao_cg_int_wrap(cg, iv, dt, lanes)};
    /* float math on integer values (pow, exp, ...), saturated back */
    LLVMValueRef fv = qiao_cg_emit_elementwise(cg, n->op, &at, as_f32(cg, a, lanes),
                                               b.v ? as_f32(cg, b, lanes) : NULL);
    return (qiao_cg_ival_t){true, qiao_cg_f32_to_int(cg, fv, dt, lanes)};
  }
  LLVMValueRef fv = qiao_cg_emit_elementwise(cg, n->op, &at, as_f32(cg, a, lanes),
                                             b.v ? as_f32(cg, b, lanes) : NULL);
  return (qiao_cg_ival_t){false, qiao_cg_round_f32(cg, fv, dt)};
}
