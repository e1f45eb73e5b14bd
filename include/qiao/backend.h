/* Qiao — backends: kernel descriptors in, device artifacts out.
 *
 * The CPU backend builds one LLVM module from any number of kernel
 * descriptors, optimizes it for the host (or a named CPU) with the new pass
 * manager, and emits it three ways: ORC LLJIT in process (wrapped as a HAL
 * executable), an object file, or a shared library carrying the HAL entry
 * table. No LLVM type crosses this header.
 */
#ifndef QIAO_BACKEND_H
#define QIAO_BACKEND_H

#include <stdint.h>

#include "qiao/hal.h"
#include "qiao/ir.h"

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
} qiao_cpu_options_t;

/* How to dispatch one compiled kernel. */
typedef struct qiao_kernel_launch {
  char name[64];
  int64_t grid[3];
  int32_t n_bindings; /* inputs then outputs */
  uint64_t scratch_bytes;
  /* Minimum byte size of each binding (inputs then outputs), from the
   * descriptor's operand types. */
  uint64_t binding_bytes[QIAO_KD_MAX_OPERANDS + 2];
  int32_t block[3];      /* threads per workgroup: 1, 1, 1 on the CPU */
  uint64_t shared_bytes; /* workgroup-shared memory: 0 on the CPU */
} qiao_kernel_launch_t;

/* Creates an empty module for the host (or opts->cpu/features). */
qiao_status_t qiao_cpu_module_create(const qiao_cpu_options_t *opts, qiao_cpu_module_t **out_module);
void qiao_cpu_module_destroy(qiao_cpu_module_t *m);
/* Lowers one descriptor into an entry named `name` (NULL: "k<N>"). */
qiao_status_t qiao_cpu_module_add_kernel(qiao_cpu_module_t *m, const qiao_kernel_desc_t *kd,
                                         const char *name, qiao_kernel_launch_t *out_launch);
/* Verifies and optimizes (default<O3>) once; later calls do nothing. */
qiao_status_t qiao_cpu_module_optimize(qiao_cpu_module_t *m);
/* The module's LLVM IR as text (malloc'ed; caller frees). */
qiao_status_t qiao_cpu_module_print_ir(qiao_cpu_module_t *m, char **out_text);
/* Emits an object file / a shared library (object + entry table, linked
 * with `cc -shared`) / a file of LLVM IR; written atomically. */
qiao_status_t qiao_cpu_module_emit_object(qiao_cpu_module_t *m, const char *path);
qiao_status_t qiao_cpu_module_emit_shared(qiao_cpu_module_t *m, const char *path);
/* JIT-compiles the module in process (ORC LLJIT) and wraps its entries as a
 * HAL executable on device `d`. The module's code moves into the executable;
 * `m` stays valid only for destroy. */
qiao_status_t qiao_cpu_module_jit(qiao_cpu_module_t *m, qiao_hal_device_t *d,
                                  qiao_hal_executable_t **out_exe);
/* The host CPU name and features as LLVM sees them (static strings valid for
 * the process lifetime are not guaranteed: copies into buf). */
void qiao_cpu_host_describe(char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* QIAO_BACKEND_H */
