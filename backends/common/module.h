/* backends/common — the target-neutral LLVM module lifecycle every backend
 * shares: target registry init (once), target machines, verify + the
 * default<ON> pipeline, emission (object / assembly / LLVM IR) to a file
 * (atomic: temp + rename, no partial file on error) or to memory, and the
 * host JIT (ORC LLJIT) with an explicit symbol map.
 *
 * A backend keeps only its artifact formats (the CPU's HAL entry table and
 * `cc -shared`, NVPTX's PTX text, a simulator's program) on top of these.
 * Errors name `who` (the backend, e.g. "cpu") in their messages. */
#ifndef QIAO_BACKENDS_COMMON_MODULE_H
#define QIAO_BACKENDS_COMMON_MODULE_H

#include <stddef.h>

#include <llvm-c/Core.h>
#include <llvm-c/Orc.h>
#include <llvm-c/TargetMachine.h>

#include "qiao/status.h"

/* Initializes every target libLLVM carries (host for the JIT, others for
 * cross-compilation: x86-64, aarch64, NVPTX, ...). Thread-safe; the work is
 * done once per process (pthread_once). */
void qiao_cg_llvm_init(void);

/* Creates a target machine (PIC, default code model) for triple (NULL or "":
 * the host), cpu (NULL: the host's CPU for the host, "generic" otherwise),
 * features (NULL: the host's features for the host, "" otherwise) and
 * opt_level (0..3: the codegen level). The caller owns *out_tm
 * (LLVMDisposeTargetMachine). An unknown triple is QIAO_INVALID_ARGUMENT
 * naming it. */
qiao_status_t qiao_cg_target_machine_create(const char *triple, const char *cpu,
                                            const char *features, int opt_level,
                                            LLVMTargetMachineRef *out_tm);

/* Sets mod's triple and data layout from tm. */
void qiao_cg_module_set_target(LLVMModuleRef mod, LLVMTargetMachineRef tm);

/* Verifies mod: QIAO_INTERNAL with LLVM's message when the IR is invalid. */
qiao_status_t qiao_cg_module_verify(LLVMModuleRef mod, const char *who);

/* Verifies mod and runs `default<O{opt_level}>` (loop and SLP vectorization
 * from O2) for tm. */
qiao_status_t qiao_cg_module_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt_level,
                                      const char *who);

typedef enum qiao_cg_emit_kind {
  QIAO_CG_EMIT_OBJECT,   /* relocatable object (tm) */
  QIAO_CG_EMIT_ASSEMBLY, /* assembly text (tm); PTX for NVPTX */
  QIAO_CG_EMIT_LLVM,     /* textual LLVM IR (tm unused) */
} qiao_cg_emit_kind_t;

/* Emits mod as `kind` into memory: *out_data (malloc'ed, NUL-terminated,
 * owned by the caller, free()) and *out_size (without the NUL). mod is not
 * changed (run qiao_cg_module_optimize first). */
qiao_status_t qiao_cg_module_emit_memory(LLVMModuleRef mod, LLVMTargetMachineRef tm,
                                         qiao_cg_emit_kind_t kind, char **out_data,
                                         size_t *out_size);
/* Emits mod as `kind` to path, atomically: written to a temp file beside it
 * and renamed; on any error no file (partial or temp) is left at path. */
qiao_status_t qiao_cg_module_emit_file(LLVMModuleRef mod, LLVMTargetMachineRef tm,
                                       qiao_cg_emit_kind_t kind, const char *path);
/* Writes n bytes to path atomically (temp + rename). */
qiao_status_t qiao_cg_write_file_atomic(const char *path, const void *data, size_t n);
/* A temp path beside `path` (unique per process and call): "<path>.tmp.<pid>.<n><suffix>".
 * Returns false when it does not fit in cap. */
_Bool qiao_cg_temp_path(char *buf, size_t cap, const char *path, const char *suffix);

/* ------------------------------------------------------------- host JIT */

/* One entry of a JIT's symbol map: `name` (as the module declares it)
 * resolves to `addr` — e.g. a simulator's or emulator's run-time functions,
 * which need not be exported by the process. */
typedef struct qiao_cg_symbol {
  const char *name;
  const void *addr;
} qiao_cg_symbol_t;

typedef struct qiao_cg_jit qiao_cg_jit_t;

/* JIT-compiles mod for this process (ORC LLJIT, host target machine). Takes
 * ownership of mod (always, also on error); tsc (the context mod lives in)
 * stays the caller's. Undefined symbols resolve first from `symbols`
 * (n_symbols pairs, defined as absolute symbols in the main JITDylib; the
 * array may be freed after the call), then from the process (libm, libc).
 * The module is compiled lazily, on the first lookup: a symbol found
 * nowhere makes that lookup fail with a message naming it. */
qiao_status_t qiao_cg_jit_create(LLVMOrcThreadSafeContextRef tsc, LLVMModuleRef mod,
                                 const qiao_cg_symbol_t *symbols, size_t n_symbols, const char *who,
                                 qiao_cg_jit_t **out_jit);
/* Address of `name` (a function or global of the module). Compiles the
 * module on the first call; an unresolved reference is QIAO_NOT_FOUND naming
 * the missing symbol. */
qiao_status_t qiao_cg_jit_lookup(qiao_cg_jit_t *jit, const char *name, void **out_addr);
/* Frees the JIT and the code it holds (NULL is a no-op). */
void qiao_cg_jit_destroy(qiao_cg_jit_t *jit);

/* JIT-compiles `mod` (taken, also on error) with `symbols` and wraps its
 * entries as a host executable on device `d`: n entries with the HAL's CPU
 * entry signature, described by the launch records at `launches`, `stride`
 * bytes apart (so they may sit inside larger per-entry structs). The records'
 * binding sizes live beside the JIT and go with the executable. */
struct qiao_kernel_launch;
struct qiao_hal_device;
struct qiao_hal_executable;
qiao_status_t qiao_cg_jit_load_host(LLVMOrcThreadSafeContextRef tsc, LLVMModuleRef mod,
                                    const qiao_cg_symbol_t *symbols, size_t n_symbols,
                                    const char *who, const struct qiao_kernel_launch *launches,
                                    size_t stride, int32_t n, struct qiao_hal_device *d,
                                    struct qiao_hal_executable **out_exe);

#endif /* QIAO_BACKENDS_COMMON_MODULE_H */
