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

/* ------------------------------------------------ the vector loop with a tail */

#include "backends/common/codegen.h"

/* out[i] = lanes of the body that covered i, +100 per extra visit. */
static void mark_body(qiao_cg_t *cg, LLVMValueRef out, LLVMValueRef i, unsigned lanes) {
  for (unsigned l = 0; l < lanes; ++l) {
    LLVMValueRef idx = qiao_cg_iadd(cg, i, qiao_cg_i64(cg, l));
    LLVMValueRef p = LLVMBuildGEP2(cg->b, cg->t_i32, out, &idx, 1, "");
    LLVMValueRef old = LLVMBuildLoad2(cg->b, cg->t_i32, p, "");
    LLVMValueRef add = LLVMBuildSelect(
        cg->b, LLVMBuildICmp(cg->b, LLVMIntEQ, old, LLVMConstInt(cg->t_i32, 0, 0), ""),
        LLVMConstInt(cg->t_i32, lanes, 0), LLVMConstInt(cg->t_i32, 100, 0), "");
    LLVMBuildStore(cg->b, LLVMBuildAdd(cg->b, old, add, ""), p);
  }
}

Test(common_vloop, covers_every_element_once) {
  const int64_t cases[][4] = {/* lo, hi, V, unroll */
                              {0, 37, 8, 0},  {3, 3, 8, 0}, {5, 12, 8, 0}, {0, 64, 16, 0},
                              {2, 35, 4, 8},  {0, 7, 1, 0}, {0, 7, 1, 8},  {1, 40, 8, 2},
                              {0, 100, 3, 0}, {9, 10, 4, 4}};
  int n_cases = (int)(sizeof cases / sizeof cases[0]);
  LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
  qiao_cg_t cg;
  memset(&cg, 0, sizeof cg);
  cg.ctx = LLVMOrcThreadSafeContextGetContext(tsc);
  cg.mod = LLVMModuleCreateWithNameInContext("vloop", cg.ctx);
  cg.b = LLVMCreateBuilderInContext(cg.ctx);
  qiao_cg_init_types(&cg);
  for (int k = 0; k < n_cases; ++k)
    for (int dyn = 0; dyn < 2; ++dyn) {
      char name[32];
      snprintf(name, sizeof name, "f%d_%d", k, dyn);
      LLVMValueRef fn = LLVMAddFunction(cg.mod, name, LLVMFunctionType(cg.t_void, &cg.t_ptr, 1, 0));
      LLVMPositionBuilderAtEnd(cg.b, LLVMAppendBasicBlockInContext(cg.ctx, fn, "entry"));
      LLVMValueRef out = LLVMGetParam(fn, 0);
      qiao_cg_vloop_t vl =
          dyn ? qiao_cg_vloop_start_dyn(qiao_cg_i64(&cg, cases[k][0]),
                                        qiao_cg_i64(&cg, cases[k][1]), (unsigned)cases[k][2], "d")
              : qiao_cg_vloop_start(cases[k][0], cases[k][1], (unsigned)cases[k][2],
                                    (unsigned)cases[k][3], "c");
      while (qiao_cg_vloop_next(&cg, &vl))
        mark_body(&cg, out, vl.i, vl.lanes);
      LLVMBuildRetVoid(cg.b);
    }
  LLVMDisposeBuilder(cg.b);
  CHECK_OK(qiao_cg_module_verify(cg.mod, "test"));
  qiao_cg_jit_t *jit = NULL;
  CHECK_OK(qiao_cg_jit_create(tsc, cg.mod, NULL, 0, "test", &jit));
  for (int k = 0; k < n_cases; ++k)
    for (int dyn = 0; dyn < 2; ++dyn) {
      char name[32];
      snprintf(name, sizeof name, "f%d_%d", k, dyn);
      void *addr = NULL;
      CHECK_OK(qiao_cg_jit_lookup(jit, name, &addr));
      int32_t buf[128] = {0};
      ((void (*)(int32_t *))(uintptr_t)addr)(buf);
      int64_t lo = cases[k][0], hi = cases[k][1], V = cases[k][2];
      int64_t mid = V == 1 ? lo : lo + (hi - lo) / V * V;
      for (int64_t i = 0; i < 128; ++i) {
        int32_t want = i < lo || i >= hi ? 0 : i < mid ? (int32_t)V : 1;
        cr_assert_eq(buf[i], want, "case %d (%s): element %lld: %d, want %d", k,
                     dyn ? "dyn" : "const", (long long)i, buf[i], want);
      }
    }
  qiao_cg_jit_destroy(jit);
  LLVMOrcDisposeThreadSafeContext(tsc);
}
