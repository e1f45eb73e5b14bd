/* backends/common module lifecycle: the host JIT with an explicit symbol map
 * (a function the process does not export, given only by address), a clear
 * error naming a symbol found nowhere, and emission to memory / to a file
 * (atomic: nothing left behind on error). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backends/common/module.h"

#define CHECK_OK(expr)                                                                             \
  do {                                                                                             \
    qiao_status_t st_ = (expr);                                                                    \
    cr_assert(st_ == NULL, "%s: %s", #expr, qiao_status_message(st_));                             \
  } while (0)

/* Static: not in the process's dynamic symbol table, so only the map finds it. */
static int32_t ext_twice_plus(int32_t x) { return 2 * x + 7; }

/* int32_t entry(int32_t x) { return callee(x) + 1; } in a fresh module. */
static LLVMModuleRef build_caller(LLVMContextRef ctx, const char *entry, const char *callee) {
  LLVMModuleRef mod = LLVMModuleCreateWithNameInContext("t", ctx);
  LLVMTypeRef i32 = LLVMInt32TypeInContext(ctx);
  LLVMTypeRef fty = LLVMFunctionType(i32, &i32, 1, 0);
  LLVMValueRef ext = LLVMAddFunction(mod, callee, fty);
  LLVMValueRef fn = LLVMAddFunction(mod, entry, fty);
  LLVMBuilderRef b = LLVMCreateBuilderInContext(ctx);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(ctx, fn, "entry"));
  LLVMValueRef arg = LLVMGetParam(fn, 0);
  LLVMValueRef r = LLVMBuildCall2(b, fty, ext, &arg, 1, "");
  LLVMBuildRet(b, LLVMBuildAdd(b, r, LLVMConstInt(i32, 1, 0), ""));
  LLVMDisposeBuilder(b);
  return mod;
}

Test(common_module, jit_calls_a_function_given_only_by_the_symbol_map) {
  LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
  LLVMContextRef ctx = LLVMOrcThreadSafeContextGetContext(tsc);
  LLVMModuleRef mod = build_caller(ctx, "entry", "qiao_test_sim_runtime_fn");
  CHECK_OK(qiao_cg_module_verify(mod, "test"));
  qiao_cg_symbol_t syms[] = {{"qiao_test_sim_runtime_fn", (const void *)(uintptr_t)ext_twice_plus},
                             {"qiao_test_unused", (const void *)(uintptr_t)ext_twice_plus}};
  qiao_cg_jit_t *jit = NULL;
  CHECK_OK(qiao_cg_jit_create(tsc, mod, syms, 2, "test", &jit));
  void *addr = NULL;
  CHECK_OK(qiao_cg_jit_lookup(jit, "entry", &addr));
  int32_t (*f)(int32_t) = (int32_t(*)(int32_t))(uintptr_t)addr;
  cr_assert_eq(f(5), 18);
  cr_assert_eq(f(-4), 0);
  /* a process symbol still resolves beside the map (libc's abs) */
  qiao_cg_jit_destroy(jit);
  LLVMOrcDisposeThreadSafeContext(tsc);
}

Test(common_module, jit_resolves_process_symbols_beside_the_map) {
  LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
  LLVMContextRef ctx = LLVMOrcThreadSafeContextGetContext(tsc);
  LLVMModuleRef mod = build_caller(ctx, "entry", "abs");
  qiao_cg_symbol_t syms[] = {{"qiao_test_other", (const void *)(uintptr_t)ext_twice_plus}};
  qiao_cg_jit_t *jit = NULL;
  CHECK_OK(qiao_cg_jit_create(tsc, mod, syms, 1, "test", &jit));
  void *addr = NULL;
  CHECK_OK(qiao_cg_jit_lookup(jit, "entry", &addr));
  cr_assert_eq(((int32_t(*)(int32_t))(uintptr_t)addr)(-41), 42);
  qiao_cg_jit_destroy(jit);
  LLVMOrcDisposeThreadSafeContext(tsc);
}

Test(common_module, jit_missing_symbol_is_an_error_naming_it) {
  LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
  LLVMContextRef ctx = LLVMOrcThreadSafeContextGetContext(tsc);
  LLVMModuleRef mod = build_caller(ctx, "entry", "qiao_test_nowhere_fn");
  qiao_cg_jit_t *jit = NULL;
  CHECK_OK(qiao_cg_jit_create(tsc, mod, NULL, 0, "test", &jit));
  void *addr = (void *)1;
  qiao_status_t st = qiao_cg_jit_lookup(jit, "entry", &addr);
  cr_assert(st != NULL);
  cr_assert_eq(addr, NULL);
  cr_assert_eq(qiao_status_code(st), QIAO_NOT_FOUND, "%s", qiao_status_message(st));
  cr_assert(strstr(qiao_status_message(st), "qiao_test_nowhere_fn") != NULL, "%s",
            qiao_status_message(st));
  cr_assert(strstr(qiao_status_message(st), "'entry'") != NULL, "%s", qiao_status_message(st));
  qiao_status_free(st);
  /* an entry that does not exist */
  st = qiao_cg_jit_lookup(jit, "no_such_entry", &addr);
  cr_assert(st != NULL);
  qiao_status_free(st);
  qiao_cg_jit_destroy(jit);
  LLVMOrcDisposeThreadSafeContext(tsc);
}

Test(common_module, emit_to_memory_and_atomic_file) {
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef mod = build_caller(ctx, "entry", "abs");
  LLVMTargetMachineRef tm = NULL;
  CHECK_OK(qiao_cg_target_machine_create(NULL, NULL, NULL, 2, &tm));
  qiao_cg_module_set_target(mod, tm);
  CHECK_OK(qiao_cg_module_optimize(mod, tm, 2, "test"));
  char *data = NULL;
  size_t n = 0;
  CHECK_OK(qiao_cg_module_emit_memory(mod, tm, QIAO_CG_EMIT_OBJECT, &data, &n));
  cr_assert(n > 16 && memcmp(data, "\177ELF", 4) == 0);
  free(data);
  CHECK_OK(qiao_cg_module_emit_memory(mod, tm, QIAO_CG_EMIT_LLVM, &data, &n));
  cr_assert(strstr(data, "define") != NULL && strlen(data) == n);
  free(data);
  char path[256];
  snprintf(path, sizeof path, "/tmp/qiao_test_common_module_%ld.s", (long)getpid());
  CHECK_OK(qiao_cg_module_emit_file(mod, tm, QIAO_CG_EMIT_ASSEMBLY, path));
  cr_assert_eq(access(path, R_OK), 0);
  unlink(path);
  /* a folder that does not exist: an error naming the path, no file */
  qiao_status_t st =
      qiao_cg_module_emit_file(mod, tm, QIAO_CG_EMIT_OBJECT, "/nonexistent-qiao-dir/out.o");
  cr_assert(st != NULL);
  cr_assert(strstr(qiao_status_message(st), "/nonexistent-qiao-dir/out.o") != NULL);
  qiao_status_free(st);
  /* an unknown triple */
  LLVMTargetMachineRef bad = NULL;
  st = qiao_cg_target_machine_create("nosuch-unknown-triple", NULL, NULL, 2, &bad);
  cr_assert(st != NULL && bad == NULL);
  cr_assert_eq(qiao_status_code(st), QIAO_INVALID_ARGUMENT);
  qiao_status_free(st);
  LLVMDisposeTargetMachine(tm);
  LLVMDisposeModule(mod);
  LLVMContextDispose(ctx);
}
