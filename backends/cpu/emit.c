/* CPU backend — emit helpers shared by every kernel lowering: entries,
 * loops, typed loads/stores with the IR's rounding rules, elementwise math
 * and fused expressions. Everything works on scalars (lanes == 1) and on
 * <lanes x float> vectors alike. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cpu/codegen.h"
#include "cpu/lower_common.h"

/* ------------------------------------------------------------ basics */

LLVMValueRef qiao_cpu_i64(qiao_cpu_codegen_t *cg, int64_t v) {
  return LLVMConstInt(cg->t_i64, (unsigned long long)v, 1);
}

LLVMValueRef qiao_cpu_f32c(qiao_cpu_codegen_t *cg, double v) { return LLVMConstReal(cg->t_f32, v); }

LLVMTypeRef qiao_cpu_vec_type(qiao_cpu_codegen_t *cg, LLVMTypeRef elem, unsigned lanes) {
  (void)cg;
  return lanes == 1 ? elem : LLVMVectorType(elem, lanes);
}

LLVMValueRef qiao_cpu_splat(qiao_cpu_codegen_t *cg, LLVMValueRef v, unsigned lanes) {
  if (lanes == 1) return v;
  LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(v), lanes);
  if (LLVMIsConstant(v)) {
    LLVMValueRef elems[64];
    for (unsigned i = 0; i < lanes && i < 64; ++i) elems[i] = v;
    if (lanes <= 64) return LLVMConstVector(elems, lanes);
  }
  LLVMValueRef undef = LLVMGetUndef(vt);
  LLVMValueRef ins = LLVMBuildInsertElement(cg->b, undef, v, LLVMConstInt(cg->t_i32, 0, 0), "");
  LLVMValueRef mask = LLVMConstNull(LLVMVectorType(cg->t_i32, lanes));
  return LLVMBuildShuffleVector(cg->b, ins, undef, mask, "splat");
}

/* A constant of the same shape (scalar or vector) as `like`. */
static LLVMValueRef const_like(qiao_cpu_codegen_t *cg, LLVMValueRef like, double v) {
  LLVMTypeRef t = LLVMTypeOf(like);
  if (LLVMGetTypeKind(t) == LLVMVectorTypeKind) {
    LLVMTypeRef et = LLVMGetElementType(t);
    unsigned n = LLVMGetVectorSize(t);
    LLVMValueRef s = LLVMGetTypeKind(et) == LLVMIntegerTypeKind
                         ? LLVMConstInt(et, (unsigned long long)(int64_t)v, 1)
                         : LLVMConstReal(et, v);
    return qiao_cpu_splat(cg, s, n);
  }
  return LLVMGetTypeKind(t) == LLVMIntegerTypeKind ? LLVMConstInt(t, (unsigned long long)(int64_t)v, 1)
                                                   : LLVMConstReal(t, v);
}

static unsigned lanes_of(LLVMValueRef v) {
  LLVMTypeRef t = LLVMTypeOf(v);
  return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMGetVectorSize(t) : 1;
}

LLVMValueRef qiao_cpu_call_intrinsic(qiao_cpu_codegen_t *cg, const char *name, LLVMTypeRef *types,
                                     unsigned n_types, LLVMValueRef *args, unsigned n_args) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, types, n_types);
  LLVMTypeRef fty = LLVMIntrinsicGetType(cg->ctx, id, types, n_types);
  return LLVMBuildCall2(cg->b, fty, fn, args, n_args, "");
}

static LLVMValueRef unary_intr(qiao_cpu_codegen_t *cg, const char *name, LLVMValueRef x) {
  LLVMTypeRef t = LLVMTypeOf(x);
  return qiao_cpu_call_intrinsic(cg, name, &t, 1, &x, 1);
}

static LLVMValueRef binary_intr(qiao_cpu_codegen_t *cg, const char *name, LLVMValueRef a,
                                LLVMValueRef b) {
  LLVMTypeRef t = LLVMTypeOf(a);
  LLVMValueRef args[2] = {a, b};
  return qiao_cpu_call_intrinsic(cg, name, &t, 1, args, 2);
}

/* ------------------------------------------------------------ entry */

LLVMValueRef qiao_cpu_entry_begin(qiao_cpu_codegen_t *cg, const char *name) {
  LLVMValueRef fn = LLVMAddFunction(cg->mod, name, cg->t_entry);
  LLVMSetLinkage(fn, LLVMExternalLinkage);
  LLVMAddTargetDependentFunctionAttr(fn, "target-cpu", cg->cpu_name);
  LLVMAddTargetDependentFunctionAttr(fn, "target-features", cg->cpu_features);
  if (cg->vec_bytes >= 64) LLVMAddTargetDependentFunctionAttr(fn, "prefer-vector-width", "512");
  unsigned kind = LLVMGetEnumAttributeKindForName("nounwind", 8);
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cg->ctx, kind, 0));
  LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
  LLVMPositionBuilderAtEnd(cg->b, entry);
  return fn;
}

LLVMValueRef qiao_cpu_binding(qiao_cpu_codegen_t *cg, LLVMValueRef fn, int32_t index) {
  LLVMValueRef bindings = LLVMGetParam(fn, 0);
  LLVMValueRef idx = LLVMConstInt(cg->t_i64, (unsigned long long)index, 0);
  LLVMValueRef slot = LLVMBuildGEP2(cg->b, cg->t_ptr, bindings, &idx, 1, "bslot");
  LLVMValueRef p = LLVMBuildLoad2(cg->b, cg->t_ptr, slot, "binding");
  LLVMSetAlignment(p, 8);
  return p;
}

LLVMValueRef qiao_cpu_wg(qiao_cpu_codegen_t *cg, LLVMValueRef fn, int axis) {
  (void)cg;
  return LLVMGetParam(fn, 2 + (unsigned)axis);
}

LLVMValueRef qiao_cpu_scratch(qiao_cpu_codegen_t *cg, LLVMValueRef fn) {
  (void)cg;
  return LLVMGetParam(fn, 5);
}

/* ------------------------------------------------------------ loops */

void qiao_cpu_loop_begin(qiao_cpu_codegen_t *cg, LLVMValueRef lo, LLVMValueRef hi, int64_t step,
                         const char *name, qiao_cpu_loop_t *l) {
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
  l->next_step = qiao_cpu_i64(cg, step);
  LLVMBuildBr(cg->b, l->header);
  LLVMPositionBuilderAtEnd(cg->b, l->header);
  l->iv = LLVMBuildPhi(cg->b, cg->t_i64, name);
  LLVMAddIncoming(l->iv, &lo, &pre, 1);
  LLVMValueRef cond = LLVMBuildICmp(cg->b, LLVMIntSLT, l->iv, hi, "");
  LLVMBuildCondBr(cg->b, cond, l->body, l->exit);
  LLVMPositionBuilderAtEnd(cg->b, l->body);
}

void qiao_cpu_loop_end(qiao_cpu_codegen_t *cg, qiao_cpu_loop_t *l) {
  LLVMValueRef next = LLVMBuildNSWAdd(cg->b, l->iv, l->next_step, "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(cg->b);
  l->latch = latch;
  LLVMBuildBr(cg->b, l->header);
  LLVMAddIncoming(l->iv, &next, &latch, 1);
  LLVMPositionBuilderAtEnd(cg->b, l->exit);
}

/* ------------------------------------------------------------ memory */

LLVMTypeRef qiao_cpu_storage_type(qiao_cpu_codegen_t *cg, qiao_dtype_t dt) {
  switch (dt) {
  case QIAO_F32: return cg->t_f32;
  case QIAO_F16: return cg->t_f16;
  case QIAO_BF16: return cg->t_i16;
  case QIAO_I32: return cg->t_i32;
  case QIAO_I64: return cg->t_i64;
  default: return cg->t_i8; /* f8 formats, i8, bool */
  }
}

LLVMValueRef qiao_cpu_elem_ptr(qiao_cpu_codegen_t *cg, LLVMValueRef base, qiao_dtype_t dt,
                               LLVMValueRef index) {
  return LLVMBuildGEP2(cg->b, qiao_cpu_storage_type(cg, dt), base, &index, 1, "");
}

/* f8e4m3 bits (as i32 lanes) → f32. */
static LLVMValueRef f8e4m3_to_f32(qiao_cpu_codegen_t *cg, LLVMValueRef bits, unsigned lanes) {
  LLVMTypeRef fty = qiao_cpu_vec_type(cg, cg->t_f32, lanes);
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
  LLVMValueRef vi = LLVMBuildBitCast(cg->b, v, qiao_cpu_vec_type(cg, cg->t_i32, lanes), "");
  vi = LLVMBuildOr(cg->b, vi, sign, "");
  return LLVMBuildBitCast(cg->b, vi, fty, "");
}

LLVMValueRef qiao_cpu_load_f32(qiao_cpu_codegen_t *cg, LLVMValueRef base, qiao_dtype_t dt,
                               LLVMValueRef index, unsigned lanes) {
  LLVMTypeRef st = qiao_cpu_storage_type(cg, dt);
  LLVMTypeRef vt = qiao_cpu_vec_type(cg, st, lanes);
  LLVMValueRef p = qiao_cpu_elem_ptr(cg, base, dt, index);
  LLVMValueRef raw = LLVMBuildLoad2(cg->b, vt, p, "ld");
  LLVMSetAlignment(raw, (unsigned)qiao_dtype_size(dt));
  return qiao_cpu_storage_to_f32(cg, raw, dt, lanes);
}

LLVMValueRef qiao_cpu_storage_to_f32(qiao_cpu_codegen_t *cg, LLVMValueRef raw, qiao_dtype_t dt,
                                     unsigned lanes) {
  LLVMTypeRef fty = qiao_cpu_vec_type(cg, cg->t_f32, lanes);
  LLVMTypeRef ity = qiao_cpu_vec_type(cg, cg->t_i32, lanes);
  switch (dt) {
  case QIAO_F32: return raw;
  case QIAO_F16: return LLVMBuildFPExt(cg->b, raw, fty, "");
  case QIAO_BF16: {
    LLVMValueRef w = LLVMBuildZExt(cg->b, raw, ity, "");
    w = LLVMBuildShl(cg->b, w, const_like(cg, w, 16), "");
    return LLVMBuildBitCast(cg->b, w, fty, "");
  }
  case QIAO_F8E5M2: {
    LLVMTypeRef hty = qiao_cpu_vec_type(cg, cg->t_i16, lanes);
    LLVMValueRef w = LLVMBuildZExt(cg->b, raw, hty, "");
    w = LLVMBuildShl(cg->b, w, const_like(cg, w, 8), "");
    w = LLVMBuildBitCast(cg->b, w, qiao_cpu_vec_type(cg, cg->t_f16, lanes), "");
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
static LLVMValueRef round_small_float(qiao_cpu_codegen_t *cg, LLVMValueRef v, int mbits, int emin) {
  unsigned lanes = lanes_of(v);
  LLVMTypeRef ity = qiao_cpu_vec_type(cg, cg->t_i32, lanes);
  LLVMTypeRef fty = qiao_cpu_vec_type(cg, cg->t_f32, lanes);
  LLVMValueRef bits = LLVMBuildBitCast(cg->b, v, ity, "");
  LLVMValueRef e = LLVMBuildAnd(cg->b, LLVMBuildLShr(cg->b, bits, const_like(cg, bits, 23), ""),
                                const_like(cg, bits, 0xFF), "");
  e = LLVMBuildSub(cg->b, e, const_like(cg, bits, 127), "");
  LLVMValueRef lo = const_like(cg, bits, emin);
  e = LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, e, lo, ""), lo, e, "");
  /* q = e - mbits; scale = 2^q, inv = 2^-q (both normal f32 for the f8 formats). */
  LLVMValueRef q = LLVMBuildSub(cg->b, e, const_like(cg, bits, mbits), "");
  LLVMValueRef scale = LLVMBuildBitCast(
      cg->b, LLVMBuildShl(cg->b, LLVMBuildAdd(cg->b, q, const_like(cg, bits, 127), ""),
                          const_like(cg, bits, 23), ""),
      fty, "");
  LLVMValueRef inv = LLVMBuildBitCast(
      cg->b, LLVMBuildShl(cg->b, LLVMBuildSub(cg->b, const_like(cg, bits, 127), q, ""),
                          const_like(cg, bits, 23), ""),
      fty, "");
  LLVMValueRef r = unary_intr(cg, "llvm.roundeven", LLVMBuildFMul(cg->b, v, inv, ""));
  return LLVMBuildFMul(cg->b, r, scale, "");
}

static LLVMValueRef bf16_bits(qiao_cpu_codegen_t *cg, LLVMValueRef v) {
  unsigned lanes = lanes_of(v);
  LLVMTypeRef ity = qiao_cpu_vec_type(cg, cg->t_i32, lanes);
  LLVMValueRef bits = LLVMBuildBitCast(cg->b, v, ity, "");
  LLVMValueRef lsb = LLVMBuildAnd(cg->b, LLVMBuildLShr(cg->b, bits, const_like(cg, bits, 16), ""),
                                  const_like(cg, bits, 1), "");
  LLVMValueRef r = LLVMBuildAdd(cg->b, bits, LLVMBuildAdd(cg->b, lsb, const_like(cg, bits, 0x7FFF), ""), "");
  r = LLVMBuildLShr(cg->b, r, const_like(cg, bits, 16), "");
  LLVMValueRef is_nan = LLVMBuildFCmp(cg->b, LLVMRealUNO, v, v, "");
  r = LLVMBuildSelect(cg->b, is_nan, const_like(cg, r, 0x7FC0), r, "");
  return r; /* i32 lanes holding the 16 bits */
}

LLVMValueRef qiao_cpu_round_f32(qiao_cpu_codegen_t *cg, LLVMValueRef v, qiao_dtype_t dt) {
  unsigned lanes = lanes_of(v);
  LLVMTypeRef fty = qiao_cpu_vec_type(cg, cg->t_f32, lanes);
  switch (dt) {
  case QIAO_F32: return v;
  case QIAO_F16:
    return LLVMBuildFPExt(cg->b, LLVMBuildFPTrunc(cg->b, v, qiao_cpu_vec_type(cg, cg->t_f16, lanes), ""),
                          fty, "");
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
    LLVMTypeRef it = qiao_cpu_vec_type(cg, dt == QIAO_I8 ? cg->t_i8 : dt == QIAO_I32 ? cg->t_i32 : cg->t_i64,
                                       lanes);
    LLVMTypeRef tys[2] = {it, fty};
    LLVMValueRef i = qiao_cpu_call_intrinsic(cg, "llvm.fptosi.sat", tys, 2, &v, 1);
    return LLVMBuildSIToFP(cg->b, i, fty, "");
  }
  }
}

void qiao_cpu_store_f32(qiao_cpu_codegen_t *cg, LLVMValueRef v, LLVMValueRef base, qiao_dtype_t dt,
                        LLVMValueRef index, unsigned lanes) {
  LLVMValueRef out = qiao_cpu_f32_to_storage(cg, v, dt, lanes);
  LLVMValueRef p = qiao_cpu_elem_ptr(cg, base, dt, index);
  LLVMValueRef s = LLVMBuildStore(cg->b, out, p);
  LLVMSetAlignment(s, (unsigned)qiao_dtype_size(dt));
}

LLVMValueRef qiao_cpu_f32_to_storage(qiao_cpu_codegen_t *cg, LLVMValueRef v, qiao_dtype_t dt,
                                     unsigned lanes) {
  LLVMTypeRef st = qiao_cpu_storage_type(cg, dt);
  LLVMTypeRef vt = qiao_cpu_vec_type(cg, st, lanes);
  LLVMTypeRef fty = qiao_cpu_vec_type(cg, cg->t_f32, lanes);
  LLVMTypeRef ity = qiao_cpu_vec_type(cg, cg->t_i32, lanes);
  LLVMValueRef out;
  switch (dt) {
  case QIAO_F32: out = v; break;
  case QIAO_F16: out = LLVMBuildFPTrunc(cg->b, v, vt, ""); break;
  case QIAO_BF16: out = LLVMBuildTrunc(cg->b, bf16_bits(cg, v), vt, ""); break;
  case QIAO_F8E5M2: {
    /* Round directly to e5m2 (no double rounding through f16), then the value
     * is exact in f16 and its top byte is the e5m2 encoding. */
    LLVMValueRef r = qiao_cpu_round_f32(cg, v, QIAO_F8E5M2);
    LLVMValueRef h = LLVMBuildFPTrunc(cg->b, r, qiao_cpu_vec_type(cg, cg->t_f16, lanes), "");
    LLVMValueRef hb = LLVMBuildBitCast(cg->b, h, qiao_cpu_vec_type(cg, cg->t_i16, lanes), "");
    out = LLVMBuildTrunc(cg->b, LLVMBuildLShr(cg->b, hb, const_like(cg, hb, 8), ""), vt, "");
    break;
  }
  case QIAO_F8E4M3: {
    LLVMValueRef r = qiao_cpu_round_f32(cg, v, QIAO_F8E4M3);
    LLVMValueRef a = unary_intr(cg, "llvm.fabs", r);
    LLVMValueRef bits = LLVMBuildBitCast(cg->b, a, ity, "");
    LLVMValueRef e32 = LLVMBuildLShr(cg->b, bits, const_like(cg, bits, 23), "");
    LLVMValueRef m = LLVMBuildAnd(cg->b, LLVMBuildLShr(cg->b, bits, const_like(cg, bits, 20), ""),
                                  const_like(cg, bits, 7), "");
    LLVMValueRef e8 = LLVMBuildSub(cg->b, e32, const_like(cg, bits, 120), "");
    LLVMValueRef normal = LLVMBuildOr(cg->b, LLVMBuildShl(cg->b, e8, const_like(cg, bits, 3), ""), m, "");
    LLVMValueRef subm = LLVMBuildFPToUI(cg->b, LLVMBuildFMul(cg->b, a, const_like(cg, a, 512.0), ""),
                                        ity, "");
    LLVMValueRef is_sub = LLVMBuildFCmp(cg->b, LLVMRealOLT, a, const_like(cg, a, ldexp(1.0, -6)), "");
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
    out = qiao_cpu_call_intrinsic(cg, "llvm.fptosi.sat", tys, 2, &v, 1);
    break;
  }
  }
  return out;
}

/* ------------------------------------------------------------ math */

/* exp: the vectorizable polynomial (qk_exp, ~2 ulp on [-87, 88]); llvm.exp
 * would scalarize into expf calls. Outside that range: +inf above the f32
 * overflow point, 0 below the normal range; NaN stays NaN. */
LLVMValueRef qiao_cpu_emit_exp(qiao_cpu_codegen_t *cg, LLVMValueRef x) {
  LLVMValueRef r = qk_exp(cg, x);
  LLVMValueRef big = LLVMBuildFCmp(cg->b, LLVMRealOGT, x, const_like(cg, x, 88.72283935546875), "");
  r = LLVMBuildSelect(cg->b, big, const_like(cg, x, INFINITY), r, "");
  LLVMValueRef tiny = LLVMBuildFCmp(cg->b, LLVMRealOLT, x, const_like(cg, x, -87.33654022216797), "");
  r = LLVMBuildSelect(cg->b, tiny, const_like(cg, x, 0.0), r, "");
  LLVMValueRef nan = LLVMBuildFCmp(cg->b, LLVMRealUNO, x, x, "");
  return LLVMBuildSelect(cg->b, nan, x, r, "");
}

LLVMValueRef qiao_cpu_reduce_add(qiao_cpu_codegen_t *cg, LLVMValueRef v) {
  if (lanes_of(v) == 1) return v;
  LLVMTypeRef t = LLVMTypeOf(v);
  LLVMValueRef args[2] = {LLVMConstReal(cg->t_f32, -0.0), v};
  LLVMValueRef r = qiao_cpu_call_intrinsic(cg, "llvm.vector.reduce.fadd", &t, 1, args, 2);
  LLVMSetFastMathFlags(r, LLVMFastMathAllowReassoc);
  return r;
}

LLVMValueRef qiao_cpu_reduce_max(qiao_cpu_codegen_t *cg, LLVMValueRef v) {
  if (lanes_of(v) == 1) return v;
  LLVMTypeRef t = LLVMTypeOf(v);
  return qiao_cpu_call_intrinsic(cg, "llvm.vector.reduce.fmax", &t, 1, &v, 1);
}

static LLVMValueRef emit_sigmoid(qiao_cpu_codegen_t *cg, LLVMValueRef x) {
  LLVMValueRef one = const_like(cg, x, 1.0);
  LLVMValueRef e = qiao_cpu_emit_exp(cg, LLVMBuildFNeg(cg->b, x, ""));
  return LLVMBuildFDiv(cg->b, one, LLVMBuildFAdd(cg->b, one, e, ""), "");
}

/* tanh: 1 - 2/(exp(2x)+1) away from 0, an odd Taylor polynomial near 0
 * (|x| < 0.0625, error < 2e-12) where the first form cancels. */
static LLVMValueRef emit_tanh(qiao_cpu_codegen_t *cg, LLVMValueRef x) {
  LLVMValueRef one = const_like(cg, x, 1.0);
  LLVMValueRef e2 = qiao_cpu_emit_exp(cg, LLVMBuildFMul(cg->b, x, const_like(cg, x, 2.0), ""));
  LLVMValueRef far = LLVMBuildFSub(
      cg->b, one, LLVMBuildFDiv(cg->b, const_like(cg, x, 2.0), LLVMBuildFAdd(cg->b, e2, one, ""), ""), "");
  LLVMValueRef x2 = LLVMBuildFMul(cg->b, x, x, "");
  /* x*(1 + x2*(-1/3 + x2*(2/15 + x2*(-17/315)))) */
  LLVMValueRef p = const_like(cg, x, -17.0 / 315.0);
  p = LLVMBuildFAdd(cg->b, LLVMBuildFMul(cg->b, p, x2, ""), const_like(cg, x, 2.0 / 15.0), "");
  p = LLVMBuildFAdd(cg->b, LLVMBuildFMul(cg->b, p, x2, ""), const_like(cg, x, -1.0 / 3.0), "");
  p = LLVMBuildFAdd(cg->b, LLVMBuildFMul(cg->b, p, x2, ""), one, "");
  LLVMValueRef near = LLVMBuildFMul(cg->b, x, p, "");
  LLVMValueRef small = LLVMBuildFCmp(cg->b, LLVMRealOLT, unary_intr(cg, "llvm.fabs", x),
                                     const_like(cg, x, 0.0625), "");
  return LLVMBuildSelect(cg->b, small, near, far, "");
}

/* erf by Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7). */
static LLVMValueRef emit_erf(qiao_cpu_codegen_t *cg, LLVMValueRef x) {
  LLVMValueRef one = const_like(cg, x, 1.0);
  LLVMValueRef ax = unary_intr(cg, "llvm.fabs", x);
  LLVMValueRef t = LLVMBuildFDiv(
      cg->b, one, LLVMBuildFAdd(cg->b, one, LLVMBuildFMul(cg->b, ax, const_like(cg, x, 0.3275911), ""), ""),
      "");
  static const double a[5] = {0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429};
  LLVMValueRef p = const_like(cg, x, a[4]);
  for (int i = 3; i >= 0; --i)
    p = LLVMBuildFAdd(cg->b, LLVMBuildFMul(cg->b, p, t, ""), const_like(cg, x, a[i]), "");
  p = LLVMBuildFMul(cg->b, p, t, "");
  LLVMValueRef e = qiao_cpu_emit_exp(cg, LLVMBuildFNeg(cg->b, LLVMBuildFMul(cg->b, ax, ax, ""), ""));
  LLVMValueRef y = LLVMBuildFSub(cg->b, one, LLVMBuildFMul(cg->b, p, e, ""), "");
  return binary_intr(cg, "llvm.copysign", y, x);
}

LLVMValueRef qiao_cpu_emit_elementwise(qiao_cpu_codegen_t *cg, qiao_op_kind_t op,
                                       const qiao_attrs_t *attrs, LLVMValueRef a, LLVMValueRef b) {
  switch (op) {
  case QIAO_OP_ADD: return LLVMBuildFAdd(cg->b, a, b, "");
  case QIAO_OP_SUB: return LLVMBuildFSub(cg->b, a, b, "");
  case QIAO_OP_MUL: return LLVMBuildFMul(cg->b, a, b, "");
  case QIAO_OP_DIV: return LLVMBuildFDiv(cg->b, a, b, "");
  case QIAO_OP_MAX: return binary_intr(cg, "llvm.maxnum", a, b);
  case QIAO_OP_MIN: return binary_intr(cg, "llvm.minnum", a, b);
  case QIAO_OP_POW: return binary_intr(cg, "llvm.pow", a, b);
  case QIAO_OP_NEG: return LLVMBuildFNeg(cg->b, a, "");
  case QIAO_OP_EXP: return qiao_cpu_emit_exp(cg, a);
  case QIAO_OP_LOG: return unary_intr(cg, "llvm.log", a);
  case QIAO_OP_SQRT: return unary_intr(cg, "llvm.sqrt", a);
  case QIAO_OP_RSQRT:
    return LLVMBuildFDiv(cg->b, const_like(cg, a, 1.0), unary_intr(cg, "llvm.sqrt", a), "");
  case QIAO_OP_TANH: return emit_tanh(cg, a);
  case QIAO_OP_SIGMOID: return emit_sigmoid(cg, a);
  case QIAO_OP_SILU: return LLVMBuildFMul(cg->b, a, emit_sigmoid(cg, a), "");
  case QIAO_OP_RELU: return binary_intr(cg, "llvm.maxnum", a, const_like(cg, a, 0.0));
  case QIAO_OP_GELU: {
    LLVMValueRef half_x = LLVMBuildFMul(cg->b, a, const_like(cg, a, 0.5), "");
    LLVMValueRef inner;
    if (attrs && attrs->approximate == QIAO_GELU_TANH) {
      LLVMValueRef x3 = LLVMBuildFMul(cg->b, LLVMBuildFMul(cg->b, a, a, ""), a, "");
      LLVMValueRef u = LLVMBuildFAdd(cg->b, a, LLVMBuildFMul(cg->b, x3, const_like(cg, a, 0.044715), ""), "");
      inner = emit_tanh(cg, LLVMBuildFMul(cg->b, u, const_like(cg, a, 0.7978845608028654), ""));
    } else {
      inner = emit_erf(cg, LLVMBuildFMul(cg->b, a, const_like(cg, a, 0.7071067811865476), ""));
    }
    return LLVMBuildFMul(cg->b, half_x, LLVMBuildFAdd(cg->b, inner, const_like(cg, a, 1.0), ""), "");
  }
  case QIAO_OP_CAST: return qiao_cpu_round_f32(cg, a, attrs ? attrs->to : QIAO_F32);
  default: return a;
  }
}

LLVMValueRef qiao_cpu_emit_expr(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                LLVMValueRef acc, qiao_cpu_input_fn load, void *ctx,
                                unsigned lanes) {
  LLVMValueRef vals[QIAO_EXPR_MAX_NODES];
  if (kd->n_expr <= 0) return acc;
  for (int32_t i = 0; i < kd->n_expr && i < QIAO_EXPR_MAX_NODES; ++i) {
    const qiao_expr_node_t *n = &kd->expr[i];
    switch (n->kind) {
    case QIAO_EXPR_INPUT: vals[i] = load(ctx, n->input, lanes); break;
    case QIAO_EXPR_ACC: vals[i] = acc; break;
    case QIAO_EXPR_CONST:
      vals[i] = qiao_cpu_splat(cg, LLVMConstReal(cg->t_f32, qiao_round_to_dtype(n->value, n->dtype)),
                               lanes);
      break;
    case QIAO_EXPR_OP: {
      const qiao_op_schema_t *s = qiao_op_schema(n->op);
      LLVMValueRef a = vals[n->args[0]];
      LLVMValueRef b = s->min_operands >= 2 ? vals[n->args[1]] : NULL;
      qiao_attrs_t at = {.to = n->to, .approximate = n->approximate};
      LLVMValueRef r = qiao_cpu_emit_elementwise(cg, n->op, &at, a, b);
      vals[i] = qiao_cpu_round_f32(cg, r, n->dtype);
      break;
    }
    }
  }
  return vals[kd->n_expr - 1];
}
