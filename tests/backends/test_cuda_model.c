/* The CUDA backend's prediction (backends/cuda/model.c): kernel descriptors
 * from real graphs, compiled alone, resources from ptxas (when installed;
 * otherwise the documented fallback, said visibly), modelled on the device's
 * profile: a big f16 matmul is tensor-core bound near peak, a big f32
 * elementwise op HBM bound near bandwidth, a tiny one launch bound. Nothing
 * here runs a kernel. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "qiao/backend.h"
#include "qiao/backend_cuda.h"
#include "qiao/hal.h"
#include "qiao/ir.h"

#define OK(x)                                                                                      \
  do {                                                                                             \
    qiao_status_t st_ = (x);                                                                       \
    cr_assert_null(st_, "%s: %s", #x, st_ ? qiao_status_message(st_) : "");                        \
  } while (0)

typedef struct predicted {
  qiao_kernel_prediction_t p;
  qiao_kd_work_t w;
  double peak_f16, bandwidth;
} predicted_t;

/* Predicts the first kernel of graph `text` on `uri`. */
static predicted_t predict(const char *uri, const char *text) {
  predicted_t r;
  memset(&r, 0, sizeof r);
  qiao_graph_t *g = NULL;
  OK(qiao_ir_parse(text, strlen(text), "<test>", &g));
  qiao_hal_device_t *d = NULL;
  OK(qiao_hal_device_open(uri, &d));
  const qiao_backend_t *b = qiao_backend_for_device(d);
  cr_assert_not_null(b);
  cr_assert_not_null(b->predict, "the CUDA backend predicts");
  qiao_partition_t *part = NULL;
  OK(qiao_ir_partition(g, b->fusion_policy(d), &part));
  cr_assert_geq(part->n_kernels, 1);
  qiao_backend_module_t *m = NULL;
  qiao_backend_options_t o = {0};
  OK(qiao_backend_module_create(b, d, &o, &m));
  qiao_kernel_launch_t l;
  OK(qiao_backend_module_add_kernel(m, &part->kernels[0], "k0", &l));
  qiao_backend_module_destroy(m);
  OK(b->predict(&part->kernels[0], &l, d, &r.p));
  qiao_kernel_desc_work(&part->kernels[0], &r.w);
  const qiao_hal_profile_t *p = NULL;
  OK(qiao_hal_device_profile(d, &p));
  r.peak_f16 = qiao_hal_profile_info(p)->peak_flops_f16;
  r.bandwidth = qiao_hal_profile_info(p)->mem_bandwidth;
  char ptxas[1024];
  if (qiao_cuda_find_ptxas(ptxas, sizeof ptxas)) {
    cr_expect(strstr(r.p.registers_source, "ptxas -v sm_"), "%s", r.p.registers_source);
    cr_expect_gt(r.p.registers, 0);
    cr_expect_eq(r.p.spill_bytes, 0);
  } else {
    fprintf(stderr, "cuda_model: skipped: no ptxas (registers are the model's fallback)\n");
    cr_expect(strstr(r.p.registers_source, "assumed"), "%s", r.p.registers_source);
  }
  cr_expect_eq(r.p.kind, QIAO_HAL_TIME_MODELLED);
  cr_expect(strstr(r.p.detail, "modelled"), "%s", r.p.detail);
  qiao_ir_partition_destroy(part);
  qiao_hal_device_release(d);
  qiao_ir_graph_destroy(g);
  return r;
}

Test(cuda_model_predict, big_f16_matmul_is_tensor_core_bound_near_peak) {
  predicted_t r = predict("simt-emu:h100",
                          "graph @g(%a: f16[4096, 4096], %b: f16[4096, 4096]) -> (f16[4096, 4096]) "
                          "{\n  %c = matmul %a, %b : f16[4096, 4096]\n  return %c\n}\n");
  cr_expect_str_eq(r.p.bound, "tensor-core f16", "%s", r.p.detail);
  cr_expect(strstr(r.p.label, "modelled") && strstr(r.p.label, "h100-sxm"), "%s", r.p.label);
  cr_expect_float_eq(r.w.contract_flops, 2.0 * 4096 * 4096 * 4096, 1);
  double achieved = r.w.contract_flops / (r.p.ns * 1e-9);
  cr_expect(achieved > 0.5 * r.peak_f16 && achieved < r.peak_f16, "%.3g FLOP/s of %.3g: %s",
            achieved, r.peak_f16, r.p.detail);
  cr_expect_gt(r.p.occupancy, 0);
}

Test(cuda_model_predict, big_elementwise_is_hbm_bound_near_bandwidth) {
  predicted_t r = predict("simt-emu:a100",
                          "graph @g(%a: f32[8192, 8192], %b: f32[8192, 8192]) -> (f32[8192, 8192]) "
                          "{\n  %c = add %a, %b : f32[8192, 8192]\n  return %c\n}\n");
  cr_expect_str_eq(r.p.bound, "HBM", "%s", r.p.detail);
  cr_expect(strstr(r.p.label, "a100"), "%s", r.p.label);
  cr_expect_float_eq(r.w.bytes, 3.0 * 8192 * 8192 * 4, 1);
  double bw = r.w.bytes / (r.p.ns * 1e-9);
  cr_expect(bw > 0.7 * r.bandwidth && bw < r.bandwidth, "%.3g B/s of %.3g: %s", bw, r.bandwidth,
            r.p.detail);
}

Test(cuda_model_predict, tiny_kernel_is_launch_bound) {
  predicted_t r = predict("simt-emu:h100", "graph @g(%a: f32[64]) -> (f32[64]) {\n"
                                           "  %b = exp %a : f32[64]\n  return %b\n}\n");
  cr_expect_str_eq(r.p.bound, "launch", "%s", r.p.detail);
  cr_expect(r.p.ns >= 2000 && r.p.ns < 3000, "%f ns", r.p.ns);
}

/* A multi-phase kernel (MoE: routing, bucketing, gate/up GEMM, down GEMM, combine) is modelled
 * phase by phase: the prediction is the sum of five launches, each with its own grid and ptxas
 * resources, so even a tiny MoE costs at least five launch overheads (phase 0 alone was one). */
Test(cuda_model_predict, multi_phase_moe_sums_every_phase) {
  predicted_t r =
      predict("simt-emu:h100", "graph @g(%x: f32[5, 16], %r: f32[16, 8], %g: f32[8, 16, 12], "
                               "%u: f32[8, 16, 12], %d: f32[8, 12, 16]) -> (f32[5, 16]) {\n"
                               "  %y = moe %x, %r, %g, %u, %d : f32[5, 16]\n  return %y\n}\n");
  cr_expect(r.p.ns >= 5 * 2000 && r.p.ns < 5 * 3000, "%f ns: %s", r.p.ns, r.p.detail);
  cr_expect(strstr(r.p.detail, "over 5 phases"), "%s", r.p.detail);
  cr_expect_str_eq(r.p.bound, "launch", "%s", r.p.detail);
  /* every phase's share of the work is counted once */
  cr_expect_float_eq(r.p.flops, r.w.contract_flops + r.w.other_flops,
                     1e-6 * (r.w.contract_flops + r.w.other_flops), "%s", r.p.detail);
}

/* Split-KV attention decode (partials, then a combine) is two launches. */
Test(cuda_model_predict, multi_phase_attention_decode_sums_both_phases) {
  predicted_t r =
      predict("simt-emu:a100", "graph @g(%q: f32[1, 8, 1, 64], %k: f32[1, 8, 4096, 64], "
                               "%v: f32[1, 8, 4096, 64]) -> (f32[1, 8, 1, 64]) {\n"
                               "  %o = attention %q, %k, %v : f32[1, 8, 1, 64]\n  return %o\n}\n");
  cr_expect(strstr(r.p.detail, "over 2 phases"), "%s", r.p.detail);
  cr_expect_geq(r.p.ns, 2 * 2000, "%s", r.p.detail);
  cr_expect_geq(r.p.bytes, r.w.bytes, "%s", r.p.detail); /* + the workspace round trip */
}
