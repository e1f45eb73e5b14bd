#include "cuda/codegen.h"
qiao_status_t qiao_cuda_lower_topk(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                   const char *name, qiao_cuda_kernel_t *out) {
  (void)cg; (void)kd; (void)out;
  return qiao_status_make(QIAO_UNSUPPORTED, "%s: topk not yet", name);
}
