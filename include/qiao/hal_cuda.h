/* Qiao HAL — cuda extension calls (the device "cuda:N", docs/cuda-device.md).
 *
 * What the generic HAL has no words for on a real GPU: raw kernel parameters
 * (foreign PTX, as cuLaunchKernel takes them) and device addresses. Each call
 * takes a device opened as "cuda:..." and is QIAO_INVALID_ARGUMENT on any other.
 */
#ifndef QIAO_HAL_CUDA_H
#define QIAO_HAL_CUDA_H

#include <stdint.h>

#include "qiao/hal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The device address (CUdeviceptr) of byte `offset` of b, a buffer of a cuda device:
 * what a kernel's pointer parameter holds. */
qiao_status_t qiao_hal_cuda_buffer_address(qiao_hal_buffer_t *b, size_t offset,
                                           uint64_t *out_address);

/* Launches entry `index` of the PTX executable e with raw parameters, as
 * cuLaunchKernel does: args[i] points at the value of the kernel's i-th .param
 * (n_args must equal the entry's parameter count); returns when the kernel is done.
 * *out_ms (may be NULL) receives the kernel's time between two CUDA events
 * (measured). Nothing is retained. */
qiao_status_t qiao_hal_cuda_launch_args(qiao_hal_device_t *d, qiao_hal_executable_t *e,
                                        int32_t index, const qiao_hal_launch_config_t *cfg,
                                        void *const *args, int32_t n_args, double *out_ms);

#ifdef __cplusplus
}
#endif
#endif /* QIAO_HAL_CUDA_H */
