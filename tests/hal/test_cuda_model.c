/* The CUDA-class performance model (hal/cuda_model.c, docs/cuda-model.md):
 * roofline sanity on the shipped profiles (a big f16 matmul is tensor-core
 * bound near peak, a big elementwise op HBM bound near bandwidth, a tiny
 * kernel launch bound), occupancy against hand computations, the SM limits
 * read from the profiles, and simt-emu's modelled events with the dynamic
 * work counted from the PTX it runs (exact tensor-core FLOPs). */
#include <math.h>
#include <string.h>

#include "qiao/cuda_model.h"
#include "qiao/hal_simt.h"
#include "simt_util.h"

static qiao_hal_profile_t *prof(const char *name) {
  qiao_hal_profile_t *p = NULL;
  OK(qiao_hal_profile_load_named(name, &p));
  return p;
}

static qiao_cuda_work_t work(int64_t ctas, int32_t threads, int32_t regs, int64_t shared) {
  qiao_cuda_work_t w;
  memset(&w, 0, sizeof w);
  w.grid[0] = ctas;
  w.grid[1] = w.grid[2] = 1;
  w.block[0] = threads;
  w.block[1] = w.block[2] = 1;
  w.registers = regs;
  w.shared_bytes = shared;
  return w;
}

Test(cuda_model, big_f16_matmul_is_tensor_core_bound_near_peak) {
  qiao_hal_profile_t *p = prof("h100");
  const double n = 8192;
  /* 128x128 tiles, 256 threads, 128 registers, 64 KiB of shared tiles */
  qiao_cuda_work_t w = work((int64_t)(n / 128 * n / 128), 256, 128, 64 * 1024);
  w.flops[QIAO_CUDA_PIPE_F16] = 2 * n * n * n;
  w.flops[QIAO_CUDA_PIPE_SIMT] = n * n; /* epilogue */
  w.bytes = 3 * n * n * 2;
  qiao_cuda_estimate_t e;
  OK(qiao_cuda_model_estimate(p, &w, &e));
  cr_expect_str_eq(e.bound, "tensor-core f16");
  cr_expect_str_eq(e.profile, "h100-sxm");
  double peak = qiao_hal_profile_info(p)->peak_flops_f16;
  double achieved = w.flops[QIAO_CUDA_PIPE_F16] / ((e.ns - e.launch_ns) * 1e-9);
  cr_expect(achieved > 0.6 * peak && achieved <= peak, "achieved %.3g of peak %.3g", achieved,
            peak);
  cr_expect_gt(e.compute_ns, 5 * e.memory_ns);
  cr_expect_eq(e.occupancy.ctas_per_sm, 2); /* registers: 16 warps of 4096 */
  cr_expect_str_eq(e.occupancy.limiter, "registers");
  cr_expect_eq(e.waves, 16); /* 4096 CTAs over 132 SMs x 2 */
  qiao_hal_profile_destroy(p);
}

Test(cuda_model, big_elementwise_is_hbm_bound_near_bandwidth) {
  const char *names[] = {"h100", "a100", "h200", "h20"};
  for (int i = 0; i < 4; ++i) {
    qiao_hal_profile_t *p = prof(names[i]);
    const double n = 64.0 * 1024 * 1024; /* f32 add of two 256 MiB tensors */
    qiao_cuda_work_t w = work((int64_t)(n / 1024), 256, 16, 0);
    w.flops[QIAO_CUDA_PIPE_SIMT] = n;
    w.bytes = 3 * n * 4;
    qiao_cuda_estimate_t e;
    OK(qiao_cuda_model_estimate(p, &w, &e));
    cr_expect_str_eq(e.bound, "HBM", "%s", names[i]);
    double bw = qiao_hal_profile_info(p)->mem_bandwidth;
    double got = w.bytes / ((e.ns - e.launch_ns) * 1e-9);
    cr_expect(got > 0.8 * bw && got <= bw, "%s: %.3g B/s of %.3g", names[i], got, bw);
    cr_expect_float_eq(e.occupancy.occupancy, 1.0, 1e-12);
    qiao_hal_profile_destroy(p);
  }
}

Test(cuda_model, tiny_kernel_is_launch_bound) {
  qiao_hal_profile_t *p = prof("h100");
  qiao_cuda_work_t w = work(1, 32, 0, 0);
  w.flops[QIAO_CUDA_PIPE_SIMT] = 32;
  w.bytes = 256;
  qiao_cuda_estimate_t e;
  OK(qiao_cuda_model_estimate(p, &w, &e));
  cr_expect_str_eq(e.bound, "launch");
  cr_expect_float_eq(e.launch_ns, 2000.0, 1e-9); /* the profile's model.launch_us */
  cr_expect(e.ns >= e.launch_ns && e.ns < 1.5 * e.launch_ns, "%f ns", e.ns);
  cr_expect(e.registers_assumed);
  cr_expect_eq(e.registers, QIAO_CUDA_FALLBACK_REGISTERS);
  char line[512];
  qiao_cuda_estimate_format(&e, line, sizeof line);
  cr_expect(strstr(line, "modelled") && strstr(line, "h100-sxm") && strstr(line, "launch"), "%s",
            line);
  qiao_hal_profile_destroy(p);
}

/* Hand computations (docs/cuda-model.md, occupancy):
 *   regs per warp = roundup(regs * 32, 256); CTAs by registers = 65536 / that / warps;
 *   shared per CTA = roundup(bytes + 1024, 128); CTAs by shared = per-SM shared / that. */
Test(cuda_model, occupancy_matches_hand_computation) {
  qiao_hal_profile_t *h = prof("h100"), *a = prof("a100");
  qiao_cuda_limits_t lh, la;
  OK(qiao_cuda_limits_from_profile(h, &lh));
  OK(qiao_cuda_limits_from_profile(a, &la));
  cr_expect_eq(lh.registers, 65536);
  cr_expect_eq(lh.max_warps, 64);
  cr_expect_eq(lh.max_ctas, 32);
  cr_expect_eq(lh.sms, 132);
  cr_expect_eq(lh.shared_bytes, 228 * 1024);
  cr_expect_eq(la.shared_bytes, 164 * 1024);
  cr_expect_eq(la.shared_per_cta, 163 * 1024);
  /* 256 threads x 64 registers: 2048 per warp → 32 warps → 4 CTAs, 50% */
  qiao_cuda_occupancy_t o = qiao_cuda_occupancy_compute(&lh, 256, 64, 0);
  cr_expect_eq(o.by_registers, 4);
  cr_expect_eq(o.by_warps, 8);
  cr_expect_eq(o.ctas_per_sm, 4);
  cr_expect_float_eq(o.occupancy, 0.5, 1e-12);
  cr_expect_str_eq(o.limiter, "registers");
  /* 128 threads, 32 registers, 48 KiB shared on a100: 50176 bytes → 3 CTAs, 12 warps */
  o = qiao_cuda_occupancy_compute(&la, 128, 32, 48 * 1024);
  cr_expect_eq(o.by_shared, 3);
  cr_expect_eq(o.ctas_per_sm, 3);
  cr_expect_eq(o.warps_per_sm, 12);
  cr_expect_float_eq(o.occupancy, 12.0 / 64, 1e-12);
  cr_expect_str_eq(o.limiter, "shared memory");
  /* 96 threads (3 warps), 40 registers: 1280 per warp → 51 warps → 17 CTAs */
  o = qiao_cuda_occupancy_compute(&lh, 96, 40, 0);
  cr_expect_eq(o.by_registers, 17);
  cr_expect_eq(o.by_warps, 21);
  cr_expect_eq(o.ctas_per_sm, 17);
  cr_expect_float_eq(o.occupancy, 51.0 / 64, 1e-12);
  /* 32 threads, 16 registers: the 32-CTA limit (half the warps) */
  o = qiao_cuda_occupancy_compute(&lh, 32, 16, 0);
  cr_expect_eq(o.ctas_per_sm, 32);
  cr_expect_str_eq(o.limiter, "CTAs");
  /* 1024 threads x 255 registers (8192 per warp: 8 warps) cannot be resident */
  o = qiao_cuda_occupancy_compute(&lh, 1024, 255, 0);
  cr_expect_eq(o.ctas_per_sm, 0);
  qiao_cuda_work_t w = work(1, 1024, 255, 0);
  qiao_cuda_estimate_t e;
  qiao_status_t st = qiao_cuda_model_estimate(h, &w, &e);
  cr_assert_not_null(st);
  cr_expect(strstr(qiao_status_message(st), "cannot be resident"), "%s", qiao_status_message(st));
  qiao_status_free(st);
  /* shared bytes past the per-CTA limit */
  o = qiao_cuda_occupancy_compute(&la, 128, 32, 200 * 1024);
  cr_expect_eq(o.ctas_per_sm, 0);
  qiao_hal_profile_destroy(h);
  qiao_hal_profile_destroy(a);
}

Test(cuda_model, tile_quantization_counts_waves) {
  qiao_hal_profile_t *p = prof("h100");
  /* one CTA per SM (all shared memory): 133 CTAs take two waves, the second nearly empty */
  qiao_cuda_work_t w = work(133, 256, 32, 200 * 1024);
  w.flops[QIAO_CUDA_PIPE_F16] = 1e12;
  qiao_cuda_estimate_t e133, e132;
  OK(qiao_cuda_model_estimate(p, &w, &e133));
  w.grid[0] = 132;
  OK(qiao_cuda_model_estimate(p, &w, &e132));
  cr_expect_eq(e133.waves, 2);
  cr_expect_eq(e132.waves, 1);
  cr_expect_float_eq(e132.wave_efficiency, 1.0, 1e-12);
  cr_expect(e133.compute_ns > 1.9 * e132.compute_ns, "%f vs %f", e133.compute_ns, e132.compute_ns);
  qiao_hal_profile_destroy(p);
}

Test(cuda_model, other_classes_are_refused) {
  qiao_hal_profile_t *p = prof("910b");
  qiao_cuda_limits_t l;
  qiao_status_t st = qiao_cuda_limits_from_profile(p, &l);
  cr_assert_not_null(st);
  cr_expect(strstr(qiao_status_message(st), "not cuda"), "%s", qiao_status_message(st));
  qiao_status_free(st);
  qiao_hal_profile_destroy(p);
}

/* simt-emu: one mma.sync m16n8k16 is exactly 2·16·8·16 f16 tensor-core FLOPs;
 * events are modelled, carry the wall clock too, and the report says so. */
Test(cuda_model, simt_emu_models_launches_from_dynamic_work) {
  qiao_hal_device_t *d = simt_open("simt-emu:h100");
  qiao_hal_executable_t *e = simt_load_file(d, "mma_gemm.sm90.ptx");
  char report[1024];
  qiao_status_t st = qiao_hal_device_last_report(d, report, sizeof report);
  cr_expect_eq(qiao_status_code(st), QIAO_NOT_FOUND);
  qiao_status_free(st);
  uint16_t A[256] = {0}, B[128] = {0};
  qiao_hal_buffer_t *ba = buf_from(d, A, sizeof A), *bb = buf_from(d, B, sizeof B),
                    *bd = buf_from(d, NULL, 128 * 4);
  uint64_t aa = addr_of_buf(ba), ab = addr_of_buf(bb), ad = addr_of_buf(bd);
  void *args[] = {&aa, &ab, &ad};
  qiao_hal_event_t t0, t1;
  OK(qiao_hal_event_record(d, &t0));
  OK(simt_run(d, e, "mma_m16n8k16", 1, 1, 1, 32, 1, 1, 0, args, 3));
  OK(qiao_hal_event_record(d, &t1));
  qiao_hal_simt_stats_t s;
  OK(qiao_hal_simt_last_stats(d, &s));
  cr_expect_eq(s.flops_f16, 2 * 16 * 8 * 16);
  cr_expect_eq(s.flops_bf16, 0);
  cr_expect_gt(s.global_bytes, 0);
  cr_expect_gt(s.modelled_ns, 0);
  cr_expect_str_eq(s.modelled_bound, "launch");
  cr_expect_eq(t1.kind, QIAO_HAL_TIME_MODELLED);
  cr_expect_float_eq(qiao_hal_event_elapsed_ms(&t0, &t1) * 1e6, s.modelled_ns, 1.0);
  cr_expect(qiao_hal_event_wall_ms(&t0, &t1) >= s.wall_ms * 0.5);
  OK(qiao_hal_device_last_report(d, report, sizeof report));
  cr_expect(strstr(report, "modelled") && strstr(report, "h100-sxm") &&
                strstr(report, "thread-instructions"),
            "%s", report);
  qiao_hal_buffer_release(ba);
  qiao_hal_buffer_release(bb);
  qiao_hal_buffer_release(bd);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}

/* wmma m16n16k16 GEMM 32x48x32: 2·M·N·K tensor FLOPs; the FP32 SIMT FLOPs
 * of an nvcc saxpy (one fma per element) are 2·n. */
Test(cuda_model, simt_emu_counts_wmma_and_fma_flops) {
  qiao_hal_device_t *d = simt_open("simt-emu:a100");
  qiao_hal_executable_t *e = simt_load_file(d, "mma_gemm.sm80.ptx");
  enum { M = 32, N = 48, K = 32 };
  static uint16_t A[M * K], Bt[N * K];
  qiao_hal_buffer_t *ba = buf_from(d, A, sizeof A), *bb = buf_from(d, Bt, sizeof Bt),
                    *bc = buf_from(d, NULL, M * N * 4);
  uint64_t aa = addr_of_buf(ba), ab = addr_of_buf(bb), ac = addr_of_buf(bc);
  int32_t m = M, n = N, k = K;
  void *args[] = {&aa, &ab, &ac, &m, &n, &k};
  OK(simt_run(d, e, "mma_gemm", N / 16, M / 16, 1, 32, 1, 1, 0, args, 6));
  qiao_hal_simt_stats_t s;
  OK(qiao_hal_simt_last_stats(d, &s));
  cr_expect_eq(s.flops_f16, 2ull * M * N * K);
  cr_expect_geq(s.global_bytes, (uint64_t)(M * K + N * K) * 2 + M * N * 4);
  qiao_hal_buffer_release(ba);
  qiao_hal_buffer_release(bb);
  qiao_hal_buffer_release(bc);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}
