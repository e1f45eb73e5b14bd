/* Qiao — the CPU backend's own API, beside the target-neutral table.
 *
 * The runtime reaches the CPU backend only through qiao/backend.h; these
 * functions are for what only a CPU can do: cross-compiling objects for
 * another host triple (AArch64 NEON from x86-64), emitting a shared library
 * with the HAL entry table, and describing the host. One LLVM module holds
 * any number of kernels; it is optimized for the host (or a named CPU) once.
 */
#ifndef QIAO_BACKEND_CPU_H
#define QIAO_BACKEND_CPU_H

#include <stdint.h>

#include "qiao/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qiao_cpu_module qiao_cpu_module_t;

typedef struct qiao_cpu_options {
  const char *triple;   /* NULL: the host ("x86_64-pc-linux-gnu"); else a cross target such as
                           "aarch64-unknown-linux-gnu" (emit only: object, shared library, IR) */
  const char *cpu;      /* NULL: the host CPU (LLVMGetHostCPUName); "generic" for a cross triple */
  const char *features; /* NULL: the host's features ("" for a cross triple) */
  int32_t n_threads;    /* threads the kernels will run on (grid sizing); 0: 1 */
  int32_t opt_level;    /* 0..3; default 3 when 0 is not explicitly wanted: use -1 for O0 */
  int32_t attention_splits; /* attention decode variant: 0 planned (cpu_attention_plan), 1 one
                               pass, N > 1 split-KV with N KV splits + a combine phase where the
                               kernel allows it (few query rows per KV head) */
} qiao_cpu_options_t;

/* Creates an empty module for the host (or opts->cpu/features). */
qiao_status_t qiao_cpu_module_create(const qiao_cpu_options_t *opts, qiao_cpu_module_t **out_module);
void qiao_cpu_module_destroy(qiao_cpu_module_t *m);
/* Lowers one descriptor into an entry named `name` (NULL: "k<N>"). */
qiao_status_t qiao_cpu_module_add_kernel(qiao_cpu_module_t *m, const qiao_kernel_desc_t *kd,
                                         const char *name, qiao_kernel_launch_t *out_launch);
/* The most KV splits a forced attention variant may ask for. */
#define QIAO_CPU_ATTN_MAX_SPLITS 64
/* add_kernel lowering a forced variant (the CPU backend's variant ids,
 * docs/design.md "Dispatch by cost model"): 0 the backend's plan; attention
 * 1 one pass, N > 1 split-KV with N splits (where the kernel allows it); MoE
 * 1 per_token, 2 decode_split, 3 grouped. Other ids: QIAO_INVALID_ARGUMENT. */
qiao_status_t qiao_cpu_module_add_kernel_variant(qiao_cpu_module_t *m, const qiao_kernel_desc_t *kd,
                                                 const char *name, int32_t variant,
                                                 qiao_kernel_launch_t *out_launch);
/* Verifies and optimizes (default<O3>) once; later calls do nothing. */
qiao_status_t qiao_cpu_module_optimize(qiao_cpu_module_t *m);
/* The module's LLVM IR as text (malloc'ed; caller frees). */
qiao_status_t qiao_cpu_module_print_ir(qiao_cpu_module_t *m, char **out_text);
/* Emits an object file / a shared library (object + entry table, linked
 * with `cc -shared`) / a file of LLVM IR; written atomically. */
qiao_status_t qiao_cpu_module_emit_object(qiao_cpu_module_t *m, const char *path);
qiao_status_t qiao_cpu_module_emit_shared(qiao_cpu_module_t *m, const char *path);
qiao_status_t qiao_cpu_module_emit_llvm(qiao_cpu_module_t *m, const char *path);
/* Target assembly (after optimization), written atomically. */
qiao_status_t qiao_cpu_module_emit_asm(qiao_cpu_module_t *m, const char *path);
/* JIT-compiles the module in process (ORC LLJIT) and wraps its entries as a
 * HAL executable on device `d`. The module's code moves into the executable;
 * `m` stays valid only for destroy. */
qiao_status_t qiao_cpu_module_jit(qiao_cpu_module_t *m, qiao_hal_device_t *d,
                                  qiao_hal_executable_t **out_exe);
/* The host CPU name and features as LLVM sees them (copied into buf). */
void qiao_cpu_host_describe(char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* QIAO_BACKEND_CPU_H */
