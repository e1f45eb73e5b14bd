/* backends/common — module lifecycle: target init, target machines, verify +
 * default<ON>, emission to a file (atomic) or memory, host JIT with a symbol
 * map. See module.h. */
#include "common/module.h"
#include "qiao/backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>

/* LLVM's target registry is process-global; it is filled once. */
static pthread_once_t g_llvm_once = PTHREAD_ONCE_INIT;
static void llvm_init_once(void) {
  LLVMInitializeAllTargetInfos();
  LLVMInitializeAllTargets();
  LLVMInitializeAllTargetMCs();
  LLVMInitializeAllAsmPrinters();
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
}

void qiao_cg_llvm_init(void) { pthread_once(&g_llvm_once, llvm_init_once); }

static qiao_status_t llvm_error(LLVMErrorRef err, qiao_status_code_t code, const char *who,
                                const char *what) {
  char *em = LLVMGetErrorMessage(err);
  qiao_status_t st = qiao_status_make(code, "%s: %s: %s", who, what, em);
  LLVMDisposeErrorMessage(em);
  return st;
}

qiao_status_t qiao_cg_target_machine_create(const char *triple, const char *cpu,
                                            const char *features, int opt_level,
                                            LLVMTargetMachineRef *out_tm) {
  *out_tm = NULL;
  qiao_cg_llvm_init();
  bool cross = triple && *triple;
  char *t = cross ? LLVMCreateMessage(triple) : LLVMGetDefaultTargetTriple();
  char *host_cpu = cpu ? NULL : cross ? LLVMCreateMessage("generic") : LLVMGetHostCPUName();
  char *host_feat = features ? NULL : cross ? LLVMCreateMessage("") : LLVMGetHostCPUFeatures();
  LLVMTargetRef target;
  char *err = NULL;
  qiao_status_t st = NULL;
  if (LLVMGetTargetFromTriple(t, &target, &err)) {
    st = qiao_status_make(cross ? QIAO_INVALID_ARGUMENT : QIAO_INTERNAL,
                          "LLVM has no target for '%s': %s", t, err ? err : "?");
    LLVMDisposeMessage(err);
  } else {
    *out_tm =
        LLVMCreateTargetMachine(target, t, cpu ? cpu : host_cpu, features ? features : host_feat,
                                opt_level >= 2   ? LLVMCodeGenLevelAggressive
                                : opt_level == 1 ? LLVMCodeGenLevelLess
                                                 : LLVMCodeGenLevelNone,
                                LLVMRelocPIC, LLVMCodeModelDefault);
    if (!*out_tm)
      st = qiao_status_make(QIAO_INVALID_ARGUMENT, "LLVM cannot create a target machine for '%s'",
                            t);
  }
  LLVMDisposeMessage(t);
  if (host_cpu) LLVMDisposeMessage(host_cpu);
  if (host_feat) LLVMDisposeMessage(host_feat);
  return st;
}

void qiao_cg_module_set_target(LLVMModuleRef mod, LLVMTargetMachineRef tm) {
  char *t = LLVMGetTargetMachineTriple(tm);
  LLVMSetTarget(mod, t);
  LLVMDisposeMessage(t);
  LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
  char *dl = LLVMCopyStringRepOfTargetData(td);
  LLVMSetDataLayout(mod, dl);
  LLVMDisposeMessage(dl);
  LLVMDisposeTargetData(td);
}

qiao_status_t qiao_cg_module_verify(LLVMModuleRef mod, const char *who) {
  char *msg = NULL;
  qiao_status_t st = NULL;
  if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg))
    st = qiao_status_make(QIAO_INTERNAL, "%s: generated LLVM IR is invalid: %s", who,
                          msg ? msg : "?");
  LLVMDisposeMessage(msg);
  return st;
}

qiao_status_t qiao_cg_module_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt_level,
                                      const char *who) {
  QIAO_RETURN_IF_ERROR(qiao_cg_module_verify(mod, who));
  if (opt_level < 0) opt_level = 0;
  if (opt_level > 3) opt_level = 3;
  char pipeline[32];
  snprintf(pipeline, sizeof pipeline, "default<O%d>", opt_level);
  LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
  LLVMPassBuilderOptionsSetLoopVectorization(po, opt_level >= 2);
  LLVMPassBuilderOptionsSetSLPVectorization(po, opt_level >= 2);
  LLVMErrorRef err = LLVMRunPasses(mod, pipeline, tm, po);
  LLVMDisposePassBuilderOptions(po);
  return err ? llvm_error(err, QIAO_INTERNAL, who, "LLVM pass pipeline failed") : NULL;
}

/* ------------------------------------------------------------- emission */

static const char *kind_name(qiao_cg_emit_kind_t kind) {
  return kind == QIAO_CG_EMIT_OBJECT     ? "object"
         : kind == QIAO_CG_EMIT_ASSEMBLY ? "assembly"
                                         : "LLVM IR";
}

qiao_status_t qiao_cg_module_emit_memory(LLVMModuleRef mod, LLVMTargetMachineRef tm,
                                         qiao_cg_emit_kind_t kind, char **out_data,
                                         size_t *out_size) {
  *out_data = NULL;
  *out_size = 0;
  const char *src;
  size_t n;
  char *text = NULL;
  LLVMMemoryBufferRef buf = NULL;
  if (kind == QIAO_CG_EMIT_LLVM) {
    text = LLVMPrintModuleToString(mod);
    src = text;
    n = strlen(text);
  } else {
    char *err = NULL;
    if (!tm ||
        LLVMTargetMachineEmitToMemoryBuffer(
            tm, mod, kind == QIAO_CG_EMIT_OBJECT ? LLVMObjectFile : LLVMAssemblyFile, &err, &buf)) {
      qiao_status_t st = qiao_status_make(QIAO_INTERNAL, "cannot emit %s: %s", kind_name(kind),
                                          err ? err : "no target machine");
      LLVMDisposeMessage(err);
      return st;
    }
    src = LLVMGetBufferStart(buf);
    n = LLVMGetBufferSize(buf);
  }
  char *data = malloc(n + 1);
  if (data) {
    memcpy(data, src, n);
    data[n] = '\0';
  }
  if (text) LLVMDisposeMessage(text);
  if (buf) LLVMDisposeMemoryBuffer(buf);
  if (!data) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  *out_data = data;
  *out_size = n;
  return NULL;
}

_Bool qiao_cg_temp_path(char *buf, size_t cap, const char *path, const char *suffix) {
  static atomic_uint counter;
  unsigned k = atomic_fetch_add(&counter, 1u);
  int n = snprintf(buf, cap, "%s.tmp.%ld.%u%s", path, (long)getpid(), k, suffix);
  return n > 0 && (size_t)n < cap;
}

qiao_status_t qiao_cg_write_file_atomic(const char *path, const void *data, size_t n) {
  char tmp[4096];
  if (!qiao_cg_temp_path(tmp, sizeof tmp, path, ""))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: path is too long", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) return qiao_status_make(QIAO_IO_ERROR, "%s: cannot write: %s", path, strerror(errno));
  bool ok = fwrite(data, 1, n, f) == n;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    qiao_status_t st = qiao_status_make(QIAO_IO_ERROR, "%s: cannot write: %s", path,
                                        strerror(errno ? errno : EIO));
    unlink(tmp);
    return st;
  }
  return NULL;
}

qiao_status_t qiao_cg_module_emit_file(LLVMModuleRef mod, LLVMTargetMachineRef tm,
                                       qiao_cg_emit_kind_t kind, const char *path) {
  char *data = NULL;
  size_t n = 0;
  qiao_status_t st = qiao_cg_module_emit_memory(mod, tm, kind, &data, &n);
  if (st) return qiao_status_annotate(st, "%s", path);
  st = qiao_cg_write_file_atomic(path, data, n);
  free(data);
  return st;
}

/* ------------------------------------------------------------- host JIT */

struct qiao_cg_jit {
  LLVMOrcLLJITRef lljit;
  const char *who;
  pthread_mutex_t mu;
  char *session_error; /* the first error the session reported (materialization) */
};

/* Materialization errors (an unresolved symbol) go to the session's reporter,
 * not to the failing lookup, whose own message only names the entry: keep
 * the first one for the lookup's status instead of printing it. */
static void report_session_error(void *ctx, LLVMErrorRef err) {
  qiao_cg_jit_t *jit = ctx;
  char *em = LLVMGetErrorMessage(err);
  pthread_mutex_lock(&jit->mu);
  if (!jit->session_error) jit->session_error = strdup(em);
  pthread_mutex_unlock(&jit->mu);
  LLVMDisposeErrorMessage(em);
}

void qiao_cg_jit_destroy(qiao_cg_jit_t *jit) {
  if (!jit) return;
  if (jit->lljit) {
    LLVMErrorRef err = LLVMOrcDisposeLLJIT(jit->lljit);
    if (err) LLVMConsumeError(err);
  }
  pthread_mutex_destroy(&jit->mu);
  free(jit->session_error);
  free(jit);
}

static qiao_status_t define_symbols(qiao_cg_jit_t *jit, LLVMOrcJITDylibRef jd,
                                    const qiao_cg_symbol_t *symbols, size_t n) {
  if (n == 0) return NULL;
  LLVMOrcCSymbolMapPair *pairs = calloc(n, sizeof *pairs);
  if (!pairs) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  for (size_t i = 0; i < n; ++i) {
    pairs[i].Name = LLVMOrcLLJITMangleAndIntern(jit->lljit, symbols[i].name);
    pairs[i].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)symbols[i].addr;
    pairs[i].Sym.Flags.GenericFlags =
        LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable;
    pairs[i].Sym.Flags.TargetFlags = 0;
  }
  LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(pairs, n); /* takes the names */
  free(pairs);
  LLVMErrorRef err = LLVMOrcJITDylibDefine(jd, mu);
  if (err) {
    LLVMOrcDisposeMaterializationUnit(mu); /* not taken on failure */
    return llvm_error(err, QIAO_INVALID_ARGUMENT, jit->who, "defining the JIT's symbol map");
  }
  return NULL;
}

qiao_status_t qiao_cg_jit_create(LLVMOrcThreadSafeContextRef tsc, LLVMModuleRef mod,
                                 const qiao_cg_symbol_t *symbols, size_t n_symbols, const char *who,
                                 qiao_cg_jit_t **out_jit) {
  *out_jit = NULL;
  qiao_cg_llvm_init();
  qiao_cg_jit_t *jit = calloc(1, sizeof *jit);
  if (!jit) {
    LLVMDisposeModule(mod);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  jit->who = who;
  pthread_mutex_init(&jit->mu, NULL);

  qiao_status_t st = NULL;
  LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
  LLVMOrcJITTargetMachineBuilderRef jtmb = NULL;
  LLVMErrorRef err = LLVMOrcJITTargetMachineBuilderDetectHost(&jtmb);
  if (err) {
    LLVMOrcDisposeLLJITBuilder(builder);
    st = llvm_error(err, QIAO_INTERNAL, who, "detecting the host for the JIT");
    goto fail;
  }
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb);
  err = LLVMOrcCreateLLJIT(&jit->lljit, builder); /* takes the builder */
  if (err) {
    jit->lljit = NULL;
    st = llvm_error(err, QIAO_INTERNAL, who, "creating the JIT");
    goto fail;
  }
  LLVMOrcExecutionSessionSetErrorReporter(LLVMOrcLLJITGetExecutionSession(jit->lljit),
                                          report_session_error, jit);
  LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(jit->lljit);
  st = define_symbols(jit, jd, symbols, n_symbols);
  if (st) goto fail;
  /* Then the process (libm calls of the host math hook, libc). */
  LLVMOrcDefinitionGeneratorRef gen = NULL;
  err = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
      &gen, LLVMOrcLLJITGetGlobalPrefix(jit->lljit), NULL, NULL);
  if (err) {
    st = llvm_error(err, QIAO_INTERNAL, who, "creating the process symbol generator");
    goto fail;
  }
  LLVMOrcJITDylibAddGenerator(jd, gen);

  LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
  mod = NULL;                                             /* owned by the TSM */
  err = LLVMOrcLLJITAddLLVMIRModule(jit->lljit, jd, tsm); /* takes tsm, even on failure */
  if (err) {
    st = llvm_error(err, QIAO_INTERNAL, who, "adding the module to the JIT");
    goto fail;
  }
  *out_jit = jit;
  return NULL;
fail:
  if (mod) LLVMDisposeModule(mod);
  qiao_cg_jit_destroy(jit);
  return st;
}

qiao_status_t qiao_cg_jit_lookup(qiao_cg_jit_t *jit, const char *name, void **out_addr) {
  *out_addr = NULL;
  LLVMOrcExecutorAddress addr = 0;
  LLVMErrorRef err = LLVMOrcLLJITLookup(jit->lljit, &addr, name);
  if (!err) {
    *out_addr = (void *)(uintptr_t)addr;
    return NULL;
  }
  char *em = LLVMGetErrorMessage(err);
  pthread_mutex_lock(&jit->mu);
  const char *cause = jit->session_error;
  bool missing = (cause && strstr(cause, "Symbols not found")) || strstr(em, "Symbols not found");
  qiao_status_t st = qiao_status_make(
      missing ? QIAO_NOT_FOUND : QIAO_INTERNAL, "%s: JIT lookup of '%s' failed: %s%s%s%s", jit->who,
      name, missing ? "undefined symbol (not in the JIT's symbol map nor in the process): " : "",
      cause ? cause : em, cause ? "; " : "", cause ? em : "");
  pthread_mutex_unlock(&jit->mu);
  LLVMDisposeErrorMessage(em);
  return st;
}

/* ------------------------------------------------------------ host executables */

/* What a JIT executable's release callback frees: the JIT and the binding
 * sizes its entry records point to. */
typedef struct jit_owner {
  qiao_cg_jit_t *jit;
  uint64_t sizes[];
} jit_owner_t;

static void release_jit(void *ctx) {
  jit_owner_t *own = ctx;
  qiao_cg_jit_destroy(own->jit);
  free(own);
}

qiao_status_t qiao_cg_jit_load_host(LLVMOrcThreadSafeContextRef tsc, LLVMModuleRef mod,
                                    const qiao_cg_symbol_t *symbols, size_t n_symbols,
                                    const char *who, const qiao_kernel_launch_t *launches,
                                    size_t stride, int32_t n, qiao_hal_device_t *d,
                                    qiao_hal_executable_t **out_exe) {
  *out_exe = NULL;
  enum { NB = QIAO_KD_MAX_OPERANDS + 2 };
  size_t cap = (size_t)(n > 0 ? n : 1);
  jit_owner_t *own = calloc(1, sizeof *own + sizeof(uint64_t) * NB * cap);
  qiao_hal_entry_record_t *recs = calloc(cap, sizeof *recs);
  if (!own || !recs) {
    free(own);
    free(recs);
    LLVMDisposeModule(mod);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  qiao_status_t st = qiao_cg_jit_create(tsc, mod, symbols, n_symbols, who, &own->jit);
  for (int32_t i = 0; !st && i < n; ++i) {
    const qiao_kernel_launch_t *l =
        (const qiao_kernel_launch_t *)((const char *)launches + (size_t)i * stride);
    st = qiao_cg_jit_lookup(own->jit, l->name, &recs[i].fn);
    recs[i].name = l->name;
    recs[i].signature = QIAO_HAL_CPU_ENTRY_SIGNATURE;
    /* a workspace (runtime/program.c) is the trailing binding */
    recs[i].n_bindings = l->n_bindings + (l->workspace_bytes > 0 ? 1 : 0);
    recs[i].n_constants = 0;
    recs[i].scratch_bytes = l->scratch_bytes;
    uint64_t *sizes = own->sizes + (size_t)i * NB;
    memcpy(sizes, l->binding_bytes, sizeof l->binding_bytes);
    if (l->workspace_bytes > 0) sizes[l->n_bindings] = l->workspace_bytes;
    recs[i].binding_bytes = sizes;
  }
  if (!st) st = qiao_hal_executable_create_host(d, recs, n, release_jit, own, out_exe);
  free(recs);
  if (st) release_jit(own);
  return st;
}
