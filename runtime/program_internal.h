/* Runtime — private: what explain.c needs of a compiled program. */
#ifndef QIAO_RUNTIME_PROGRAM_INTERNAL_H
#define QIAO_RUNTIME_PROGRAM_INTERNAL_H

#include "qiao/backend.h"
#include "qiao/runtime.h"

/* Called before (after = false) and after each kernel's dispatch; an error
 * stops the run. */
typedef qiao_status_t (*qiao_program_observer_t)(void *ctx, int32_t kernel, bool after);

/* qiao_program_run with an observer around every dispatch. */
qiao_status_t qiao_program_run_observed(qiao_program_t *p, const qiao_tensor_t *const *inputs,
                                        qiao_tensor_t **out_outputs,
                                        qiao_program_observer_t observe, void *ctx);
qiao_hal_device_t *qiao_program_device(const qiao_program_t *p);
const qiao_backend_t *qiao_program_backend(const qiao_program_t *p);
/* Kernel k's launch record (NULL out of range). */
const qiao_kernel_launch_t *qiao_program_kernel_launch(const qiao_program_t *p, int32_t k);

/* Kernel k's lowering variant choice (NULL out of range). */
const qiao_variant_choice_t *qiao_program_kernel_variant(const qiao_program_t *p, int32_t k);

/* Recompiles kernel k as variant `index` of its choice (alone in a module),
 * swaps it in (growing the workspace when the variant needs more) and notes
 * `how` it was chosen. On error the kernel is unchanged. */
qiao_status_t qiao_program_kernel_set_variant(qiao_program_t *p, int32_t k, int32_t index,
                                              const char *how);
/* Records autotune times (tuned_ns[0..n variants)) on kernel k's choice. */
void qiao_program_kernel_set_tuned(qiao_program_t *p, int32_t k, const double *tuned_ns,
                                   qiao_hal_time_kind_t kind);
int32_t qiao_program_output_count(const qiao_program_t *p);
/* The backend's target key for p's device (the compile-cache and autotune key). */
qiao_status_t qiao_program_target_key(const qiao_program_t *p, char *buf, size_t cap);

#endif /* QIAO_RUNTIME_PROGRAM_INTERNAL_H */
