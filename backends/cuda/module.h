/* CUDA backend — the module API behind the registry row (backend.c). */
#ifndef QIAO_BACKENDS_CUDA_MODULE_H
#define QIAO_BACKENDS_CUDA_MODULE_H

#include "cuda/codegen.h"
#include "qiao/backend.h"
#include "qiao/hal.h"

typedef struct qiao_cuda_options {
  const char *sm;       /* "sm_80", "sm_90" (NULL: sm_90) */
  const char *features; /* NULL: "+ptx80" */
  int32_t opt_level;    /* 0: 3; -1: O0 */
  int32_t n_sms;        /* SMs of the device (grid sizing); 0: 132 */
} qiao_cuda_options_t;

typedef struct qiao_cuda_module qiao_cuda_module_t;

qiao_status_t qiao_cuda_module_create(const qiao_cuda_options_t *o, qiao_cuda_module_t **out);
void qiao_cuda_module_destroy(qiao_cuda_module_t *m);
const char *qiao_cuda_module_sm(const qiao_cuda_module_t *m);
qiao_status_t qiao_cuda_module_add_kernel(qiao_cuda_module_t *m, const qiao_kernel_desc_t *kd,
                                          const char *name, qiao_kernel_launch_t *out_launch);
/* add_kernel lowering variant `variant` (QIAO_CUDA_VAR_*; 0: the plan's own). */
qiao_status_t qiao_cuda_module_add_kernel_variant(qiao_cuda_module_t *m,
                                                  const qiao_kernel_desc_t *kd, const char *name,
                                                  int32_t variant,
                                                  qiao_kernel_launch_t *out_launch);
qiao_status_t qiao_cuda_module_optimize(qiao_cuda_module_t *m);
/* The module's PTX (optimizes first; emitted once and cached; owned by m). */
qiao_status_t qiao_cuda_module_ptx(qiao_cuda_module_t *m, const char **out_text,
                                   size_t *out_len);
qiao_status_t qiao_cuda_module_emit_ptx(qiao_cuda_module_t *m, const char *path);
qiao_status_t qiao_cuda_module_emit_llvm(qiao_cuda_module_t *m, const char *path);
/* A QIAO_HAL_FORMAT_PTX executable on d, one entry record per kernel. */
qiao_status_t qiao_cuda_module_load(qiao_cuda_module_t *m, qiao_hal_device_t *d,
                                    qiao_hal_executable_t **out_exe);

/* The backend table's `predict` (model.c, docs/cuda-model.md). */
qiao_status_t qiao_cuda_predict(const qiao_kernel_desc_t *kd, const qiao_kernel_launch_t *launch,
                                qiao_hal_device_t *d, qiao_kernel_prediction_t *out);

#endif /* QIAO_BACKENDS_CUDA_MODULE_H */
