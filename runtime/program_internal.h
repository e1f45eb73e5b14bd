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

#endif /* QIAO_RUNTIME_PROGRAM_INTERNAL_H */
