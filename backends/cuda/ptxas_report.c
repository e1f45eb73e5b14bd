/* CUDA backend — `ptxas -v` resource report parser and occupancy. */
#include "cuda/ptxas_report.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/cuda_model.h"

/* The integer right before `what` on the line [s, e) ("12 registers"), or -1. */
static int64_t number_before(const char *s, const char *e, const char *what) {
  size_t wl = strlen(what);
  for (const char *p = s; p + wl <= e; ++p) {
    if (memcmp(p, what, wl) != 0) continue;
    const char *q = p;
    while (q > s && q[-1] == ' ')
      --q;
    const char *d = q;
    while (d > s && d[-1] >= '0' && d[-1] <= '9')
      --d;
    if (d == q) continue;
    return strtoll(d, NULL, 10);
  }
  return -1;
}

static void copy_quoted(char *dst, size_t cap, const char *s, const char *e) {
  const char *q1 = memchr(s, '\'', (size_t)(e - s));
  dst[0] = '\0';
  if (!q1) return;
  const char *q2 = memchr(q1 + 1, '\'', (size_t)(e - q1 - 1));
  if (!q2) return;
  size_t n = (size_t)(q2 - q1 - 1);
  if (n >= cap) n = cap - 1;
  memcpy(dst, q1 + 1, n);
  dst[n] = '\0';
}

qiao_status_t qiao_ptxas_report_parse(const char *text, qiao_ptxas_kernel_t *out, int32_t cap,
                                      int32_t *out_n) {
  *out_n = 0;
  qiao_ptxas_kernel_t *cur = NULL;
  bool have_regs = true;
  int32_t n = 0;
  for (const char *s = text; s && *s;) {
    const char *e = strchr(s, '\n');
    if (!e) e = s + strlen(s);
    const char *ce = strstr(s, "Compiling entry function");
    if (ce && ce < e) {
      if (cur && !have_regs)
        return qiao_status_make(QIAO_INVALID_ARGUMENT,
                                "ptxas report: kernel '%s' has no 'Used N registers' line",
                                cur->name);
      if (n >= cap)
        return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "ptxas report: more than %d kernels",
                                (int)cap);
      cur = &out[n++];
      memset(cur, 0, sizeof *cur);
      copy_quoted(cur->name, sizeof cur->name, ce, e);
      const char *f = strstr(ce, "for ");
      if (f && f < e) copy_quoted(cur->arch, sizeof cur->arch, f, e);
      have_regs = false;
    } else if (cur) {
      int64_t v;
      if ((v = number_before(s, e, "bytes stack frame")) >= 0) cur->stack_bytes = v;
      if ((v = number_before(s, e, "bytes spill stores")) >= 0) cur->spill_stores = v;
      if ((v = number_before(s, e, "bytes spill loads")) >= 0) cur->spill_loads = v;
      if ((v = number_before(s, e, "registers")) >= 0) {
        cur->registers = (int32_t)v;
        have_regs = true;
      }
      if ((v = number_before(s, e, "barriers")) >= 0) cur->barriers = (int32_t)v;
      if ((v = number_before(s, e, "bytes smem")) >= 0) cur->shared_bytes = v;
      if ((v = number_before(s, e, "bytes cmem[0]")) >= 0) cur->cmem0_bytes = v;
    }
    s = *e ? e + 1 : e;
  }
  if (cur && !have_regs)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "ptxas report: kernel '%s' has no 'Used N registers' line", cur->name);
  *out_n = n;
  return NULL;
}

qiao_sm_limits_t qiao_sm_limits_default(int64_t shared_bytes_per_sm) {
  qiao_sm_limits_t l = {.registers = 65536,
                        .max_threads = 2048,
                        .max_warps = 64,
                        .max_ctas = 32,
                        .shared_bytes = shared_bytes_per_sm > 0 ? shared_bytes_per_sm : 228 * 1024,
                        .reg_alloc_unit = 256,
                        .shared_alloc_unit = 128,
                        .shared_reserved = 1024};
  return l;
}

/* One formula for occupancy: the HAL's CUDA-class model (qiao/cuda_model.h). */
qiao_occupancy_t qiao_occupancy_compute(const qiao_sm_limits_t *lim, const qiao_ptxas_kernel_t *r,
                                        int32_t block_threads, int64_t dynamic_shared) {
  qiao_cuda_limits_t l = {.sms = 1,
                          .registers = lim->registers,
                          .max_threads = lim->max_threads,
                          .max_warps = lim->max_warps,
                          .max_ctas = lim->max_ctas,
                          .shared_bytes = lim->shared_bytes,
                          .shared_per_cta = lim->shared_bytes,
                          .reg_alloc_unit = lim->reg_alloc_unit,
                          .shared_alloc_unit = lim->shared_alloc_unit,
                          .shared_reserved = lim->shared_reserved};
  qiao_cuda_occupancy_t c =
      qiao_cuda_occupancy_compute(&l, block_threads, r->registers, r->shared_bytes + dynamic_shared);
  qiao_occupancy_t o = {.ctas_per_sm = c.ctas_per_sm,
                        .by_warps = c.by_warps,
                        .by_registers = c.by_registers,
                        .by_shared = c.by_shared,
                        .by_ctas = c.by_ctas,
                        .warps_per_sm = c.warps_per_sm,
                        .occupancy = c.occupancy};
  return o;
}
