/* Qiao — CUDA-class backend extras: the modelled time of a kernel descriptor
 * (docs/cuda-model.md) and the ptxas resource report behind it. The generic
 * way in is the backend table's `predict` (qiao/backend.h); these are for
 * tests and tools that hold a descriptor and a profile without a device. */
#ifndef QIAO_BACKEND_CUDA_H
#define QIAO_BACKEND_CUDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qiao/backend.h"
#include "qiao/cuda_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The work of kd on the CUDA class (qiao_kernel_desc_work mapped to pipes:
 * f16/bf16 contractions on the tensor cores, the rest on the SIMT pipe, as
 * the backend lowers them) with launch record l, `registers` per thread (<=
 * 0: the model's fallback) and `static_shared` bytes per CTA added to the
 * launch's dynamic shared bytes. */
void qiao_cuda_kernel_work(const qiao_kernel_desc_t *kd, const qiao_kernel_launch_t *l,
                           int32_t registers, int64_t static_shared, qiao_cuda_work_t *out_work);

/* qiao_cuda_kernel_work then qiao_cuda_model_estimate on profile p. */
qiao_status_t qiao_cuda_kernel_estimate(const qiao_kernel_desc_t *kd, const qiao_kernel_launch_t *l,
                                        const qiao_hal_profile_t *p, int32_t registers,
                                        int64_t static_shared, qiao_cuda_estimate_t *out_estimate);

/* Writes the path of ptxas ($PATH, then /usr/local/cuda/bin); false when
 * there is none. */
bool qiao_cuda_find_ptxas(char *out_path, size_t cap);

/* The resources of entry `kernel` in `ptx_path` by `ptxas -v -arch=<arch>`:
 * registers per thread, static shared bytes, spill bytes (stores + loads).
 * QIAO_UNAVAILABLE when ptxas is absent; QIAO_INVALID_ARGUMENT with ptxas's
 * message when it rejects the file. */
qiao_status_t qiao_cuda_ptxas_resources(const char *ptx_path, const char *arch, const char *kernel,
                                        int32_t *out_registers, int64_t *out_shared_bytes,
                                        int64_t *out_spill_bytes);

#ifdef __cplusplus
}
#endif
#endif /* QIAO_BACKEND_CUDA_H */
