#include "cuda/codegen.h"
#define STUB(k) \
  qiao_status_t qiao_cuda_lower_##k(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd, \
                                    const char *name, qiao_cuda_kernel_t *out) { \
    (void)cg; (void)kd; (void)out; \
    return qiao_status_make(QIAO_UNSUPPORTED, "%s: " #k " is not lowered for the CUDA class yet", name); }
STUB(copy)
STUB(gather)
