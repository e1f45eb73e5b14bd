/* CUDA backend — which sm a CUDA-class device profile compiles for. Plain C
 * (no LLVM), so tests and tools can ask without building a module. */
#ifndef QIAO_BACKENDS_CUDA_TARGET_H
#define QIAO_BACKENDS_CUDA_TARGET_H

#include <stddef.h>

#include "qiao/hal.h"

/* Writes the sm for profile p ("sm_80", "sm_90"): "sm_NN" in its arch text,
 * else by name (a100 → sm_80; h100/h200/h20 → sm_90); NULL or an unknown
 * profile: sm_90. */
void qiao_cuda_sm_for_profile(const qiao_hal_profile_t *p, char *sm, size_t cap);

#endif /* QIAO_BACKENDS_CUDA_TARGET_H */
