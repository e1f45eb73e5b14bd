/* CPU backend — the HAL CPU entry ABI: function attributes for the target
 * CPU, bindings, workgroup ids and scratch (see codegen.h). */
#include "cpu/codegen.h"

/* ------------------------------------------------------------ entry */

LLVMValueRef qiao_cpu_entry_begin(qiao_cpu_codegen_t *cg, const char *name) {
  LLVMValueRef fn = LLVMAddFunction(cg->mod, name, cg->t_entry);
  LLVMSetLinkage(fn, LLVMExternalLinkage);
  LLVMAddTargetDependentFunctionAttr(fn, "target-cpu", cg->cpu_name);
  LLVMAddTargetDependentFunctionAttr(fn, "target-features", cg->cpu_features);
  if (cg->vec_bytes >= 64) LLVMAddTargetDependentFunctionAttr(fn, "prefer-vector-width", "512");
  unsigned kind = LLVMGetEnumAttributeKindForName("nounwind", 8);
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                          LLVMCreateEnumAttribute(cg->ctx, kind, 0));
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
