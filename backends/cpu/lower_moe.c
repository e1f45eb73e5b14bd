/* CPU backend — MOE kernels (in progress). */
#include "cpu/lower_common.h"

qiao_status_t qiao_cpu_lower_moe(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                const char *name, qiao_cpu_kernel_t *out) {
  (void)cg;
  (void)kd;
  qk_kernel_init(out);
  return qiao_status_make(QIAO_UNIMPLEMENTED, "moe kernel %s: not implemented yet", name);
}
