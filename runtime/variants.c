/* Runtime — dispatch by cost model (docs/design.md "Dispatch by cost
 * model"): a kernel's lowering variants from its backend, a predicted time
 * for each (the backend's variant_cost, else a roofline over the device
 * profile), the cheapest chosen; and the hybrid plan (kernels the model
 * predicts faster on the host CPU than on the accelerator, transfers over
 * the profile's host link included). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "program_internal.h"
#include "qiao/backend.h"
#include "qiao/runtime.h"

/* Roofline efficiency factors per kernel kind: the fraction of the peak
 * (compute) and of the bandwidth (memory) a kernel of that kind reaches.
 * Documented in docs/design.md; contraction kinds from the CPU matmul /
 * attention / MoE measurements in docs/performance.md, rounded down. */
typedef struct kind_eff {
  double compute, memory;
} kind_eff_t;

static kind_eff_t kind_efficiency(qiao_kd_kind_t k) {
  switch (k) {
  case QIAO_KD_MATMUL: return (kind_eff_t){0.70, 0.70};
  case QIAO_KD_ATTENTION: return (kind_eff_t){0.45, 0.60};
  case QIAO_KD_MOE: return (kind_eff_t){0.40, 0.60};
  default: return (kind_eff_t){0.50, 0.60};
  }
}

static double peak_for(const qiao_hal_profile_info_t *in, qiao_dtype_t t) {
  double p = 0;
  switch (t) {
  case QIAO_F16: p = in->peak_flops_f16; break;
  case QIAO_BF16: p = in->peak_flops_bf16; break;
  case QIAO_F8E4M3:
  case QIAO_F8E5M2: p = in->peak_flops_f8; break;
  case QIAO_I8: p = in->peak_ops_i8; break;
  default: break;
  }
  return p > 0 ? p : in->peak_flops_f32;
}

qiao_status_t qiao_variant_roofline_ns(const qiao_kernel_desc_t *kd, const qiao_hal_profile_t *p,
                                       double *out_ns, char *basis, size_t cap) {
  const qiao_hal_profile_info_t *in = qiao_hal_profile_info(p);
  qiao_kd_work_t w;
  qiao_kernel_desc_work(kd, &w);
  double peak = peak_for(in, w.contract_dtype);
  if (peak <= 0 || in->mem_bandwidth <= 0)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "roofline: profile '%s' has no peak rate or bandwidth", in->name);
  kind_eff_t e = kind_efficiency(kd->kind);
  /* elementwise work outside the contraction runs at the f32 rate */
  double c = (w.contract_flops / peak + w.other_flops / in->peak_flops_f32) / e.compute;
  double m = w.bytes / (in->mem_bandwidth * e.memory);
  *out_ns = (c > m ? c : m) * 1e9;
  if (basis)
    snprintf(basis, cap, "roofline, %s%s: %s-bound, efficiency %.2f compute / %.2f memory",
             in->name, in->measured ? " (measured)" : "", c > m ? "compute" : "memory", e.compute,
             e.memory);
  return NULL;
}

qiao_status_t qiao_variant_choose(const qiao_backend_t *be, const qiao_kernel_desc_t *kd,
                                  qiao_hal_device_t *d, const char *force,
                                  qiao_variant_choice_t *out) {
  memset(out, 0, sizeof *out);
  if (be->variants) out->n = be->variants(kd, d, out->variants, QIAO_VARIANT_MAX);
  if (out->n > QIAO_VARIANT_MAX) out->n = QIAO_VARIANT_MAX;
  if (out->n <= 0) {
    out->n = 1;
    out->variants[0].id = 0;
    snprintf(out->variants[0].name, sizeof out->variants[0].name, "planned by the backend");
  }
  const qiao_hal_profile_t *prof = NULL;
  if (d) {
    qiao_status_t ps = qiao_hal_device_profile(d, &prof);
    if (ps) {
      prof = NULL;
      qiao_status_free(ps);
    }
  }
  for (int32_t i = 0; i < out->n; ++i) {
    out->ns[i] = -1;
    out->tuned_ns[i] = -1;
    qiao_status_t st = NULL;
    if (be->variant_cost && out->variants[i].id != 0)
      st = be->variant_cost(kd, &out->variants[i], d, &out->ns[i], out->basis[i],
                            sizeof out->basis[i]);
    else if (prof)
      st = qiao_variant_roofline_ns(kd, prof, &out->ns[i], out->basis[i], sizeof out->basis[i]);
    else
      snprintf(out->basis[i], sizeof out->basis[i], "no prediction: the device has no profile");
    if (st) {
      out->ns[i] = -1;
      snprintf(out->basis[i], sizeof out->basis[i], "no prediction: %s", qiao_status_message(st));
      qiao_status_free(st);
    }
  }
  if (force && *force) {
    for (int32_t i = 0; i < out->n; ++i)
      if (!strcmp(out->variants[i].name, force)) {
        out->chosen = i;
        snprintf(out->how, sizeof out->how, "forced");
        return NULL;
      }
  }
  out->chosen = 0;
  for (int32_t i = 1; i < out->n; ++i)
    if (out->ns[i] >= 0 && (out->ns[out->chosen] < 0 || out->ns[i] < out->ns[out->chosen]))
      out->chosen = i;
  snprintf(out->how, sizeof out->how, "%s", out->n == 1 ? "only variant" : "cheapest predicted");
  return NULL;
}

/* ------------------------------------------------------------ hybrid plan */

/* Fallback host link when the accelerator's profile has none: PCIe Gen4 x16,
 * 31.5 GB/s per direction (PCI-SIG PCI Express Base Specification 4.0). */
#define K_HOST_LINK_FALLBACK 31.5e9

static double kd_io_bytes(const qiao_kernel_desc_t *kd) {
  double b = 0;
  for (int32_t i = 0; i < kd->n_inputs; ++i)
    b += (double)qiao_shape_numel(&kd->inputs[i].type.shape) *
         (double)qiao_dtype_size(kd->inputs[i].type.dtype);
  for (int32_t i = 0; i < kd->n_outputs; ++i)
    b += (double)qiao_shape_numel(&kd->outputs[i].type.shape) *
         (double)qiao_dtype_size(kd->outputs[i].type.dtype);
  return b;
}

qiao_status_t qiao_program_hybrid_plan(qiao_program_t *p, const qiao_kernel_explain_t *ks,
                                       int32_t n, qiao_hybrid_step_t **out_steps, int32_t *out_n) {
  *out_steps = NULL;
  *out_n = 0;
  qiao_hal_device_t *d = qiao_program_device(p);
  if (qiao_hal_device_class(d) == QIAO_HAL_CLASS_CPU || n <= 0) return NULL;
  const qiao_hal_profile_t *dev_prof = NULL;
  qiao_status_t st = qiao_hal_device_profile(d, &dev_prof);
  if (st) {
    qiao_status_free(st);
    dev_prof = NULL;
  }
  double link = K_HOST_LINK_FALLBACK;
  char link_str[96];
  const qiao_hal_profile_details_t *det = dev_prof ? qiao_hal_profile_details(dev_prof) : NULL;
  if (det && det->host_link_bandwidth > 0) {
    link = det->host_link_bandwidth;
    snprintf(link_str, sizeof link_str, "host link %.1f GB/s (profile %s)", link * 1e-9,
             qiao_hal_profile_info(dev_prof)->name);
  } else {
    snprintf(link_str, sizeof link_str, "host link %.1f GB/s (assumed: PCIe Gen4 x16)",
             link * 1e-9);
  }
  double copy_ns = det && det->launch_overhead_ns > 0 ? det->launch_overhead_ns : 2000;
  qiao_hal_profile_t *host = NULL;
  QIAO_RETURN_IF_ERROR(qiao_hal_profile_host(&host));
  const qiao_partition_t *part = qiao_program_partition(p);
  qiao_hybrid_step_t *steps = calloc((size_t)n, sizeof *steps);
  if (!steps) {
    qiao_hal_profile_destroy(host);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  int32_t m = 0;
  for (int32_t i = 0; i < n && i < part->n_kernels; ++i) {
    const qiao_kernel_explain_t *k = &ks[i];
    const qiao_kernel_desc_t *kd = &part->kernels[i];
    const qiao_variant_choice_t *vc = &k->variant;
    double dev_ns = -1;
    const char *label = "";
    if (vc->n > 0 && vc->ns[vc->chosen] >= 0 && vc->variants[vc->chosen].id != 0)
      dev_ns = vc->ns[vc->chosen], label = "modelled";
    else if (k->has_prediction)
      dev_ns = k->prediction.ns, label = qiao_hal_time_kind_name(k->prediction.kind);
    else if (k->run_ns > 0)
      dev_ns = k->run_ns, label = qiao_hal_time_kind_name(k->run_kind);
    if (dev_ns < 0) continue;
    double cpu_ns;
    st = qiao_variant_roofline_ns(kd, host, &cpu_ns, NULL, 0);
    if (st) {
      qiao_status_free(st);
      continue;
    }
    /* inputs in and outputs back: bytes over the link plus one copy
     * overhead each way (the device's launch overhead) */
    double xfer = kd_io_bytes(kd) / link * 1e9 + 2 * copy_ns;
    if (cpu_ns + xfer >= dev_ns) continue;
    qiao_hybrid_step_t *s = &steps[m++];
    s->kernel = i;
    snprintf(s->name, sizeof s->name, "%s", k->name);
    s->kind = qiao_kd_kind_name(kd->kind);
    s->device_ns = dev_ns;
    snprintf(s->device_label, sizeof s->device_label, "%s", label);
    s->cpu_ns = cpu_ns;
    s->transfer_ns = xfer;
    snprintf(s->link, sizeof s->link, "%s", link_str);
  }
  qiao_hal_profile_destroy(host);
  if (m == 0) {
    free(steps);
    return NULL;
  }
  *out_steps = steps;
  *out_n = m;
  return NULL;
}
