/* The `ptxas -v` resource-report parser and the occupancy formula
 * (backends/cuda/ptxas_report.c) on captured ptxas output — no ptxas needed. */
#include <criterion/criterion.h>
#include <string.h>

#include "backends/cuda/ptxas_report.h"

/* Captured from CUDA 13.0 `ptxas -v -arch=sm_90` on a two-kernel PTX file
 * (k1 has a 64-byte local array, 4224 bytes of shared memory, a barrier). */
static const char *k_cuda13 =
    "ptxas info    : 0 bytes gmem\n"
    "ptxas info    : Compiling entry function 'k1' for 'sm_90'\n"
    "ptxas info    : Function properties for k1\n"
    "    64 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
    "ptxas info    : Used 10 registers, used 1 barriers, 64 bytes cumulative stack size, 4224 "
    "bytes smem\n"
    "ptxas info    : Compile time = 20.263 ms\n"
    "ptxas info    : Compiling entry function 'k0' for 'sm_90'\n"
    "ptxas info    : Function properties for k0\n"
    "    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
    "ptxas info    : Used 8 registers, used 0 barriers\n"
    "ptxas info    : Compile time = 9.474 ms\n";

/* The older (CUDA 11/12) layout, with spills and the constant bank. */
static const char *k_cuda12_spills =
    "ptxas info    : 0 bytes gmem\n"
    "ptxas info    : Compiling entry function 'big_kernel' for 'sm_80'\n"
    "ptxas info    : Function properties for big_kernel\n"
    "    40 bytes stack frame, 36 bytes spill stores, 28 bytes spill loads\n"
    "ptxas info    : Used 255 registers, 16384 bytes smem, 392 bytes cmem[0]\n";

Test(cuda_ptxas_report, parses_cuda13_output) {
  qiao_ptxas_kernel_t k[4];
  int32_t n = 0;
  cr_assert_null(qiao_ptxas_report_parse(k_cuda13, k, 4, &n));
  cr_assert_eq(n, 2);
  cr_expect_str_eq(k[0].name, "k1");
  cr_expect_str_eq(k[0].arch, "sm_90");
  cr_expect_eq(k[0].registers, 10);
  cr_expect_eq(k[0].barriers, 1);
  cr_expect_eq(k[0].shared_bytes, 4224);
  cr_expect_eq(k[0].stack_bytes, 64);
  cr_expect_eq(k[0].spill_stores, 0);
  cr_expect_str_eq(k[1].name, "k0");
  cr_expect_eq(k[1].registers, 8);
  cr_expect_eq(k[1].shared_bytes, 0);
  cr_expect_eq(k[1].stack_bytes, 0);
}

Test(cuda_ptxas_report, parses_spills_and_cmem) {
  qiao_ptxas_kernel_t k[1];
  int32_t n = 0;
  cr_assert_null(qiao_ptxas_report_parse(k_cuda12_spills, k, 1, &n));
  cr_assert_eq(n, 1);
  cr_expect_str_eq(k[0].name, "big_kernel");
  cr_expect_str_eq(k[0].arch, "sm_80");
  cr_expect_eq(k[0].registers, 255);
  cr_expect_eq(k[0].spill_stores, 36);
  cr_expect_eq(k[0].spill_loads, 28);
  cr_expect_eq(k[0].stack_bytes, 40);
  cr_expect_eq(k[0].shared_bytes, 16384);
  cr_expect_eq(k[0].cmem0_bytes, 392);
}

Test(cuda_ptxas_report, errors) {
  qiao_ptxas_kernel_t k[1];
  int32_t n = 0;
  qiao_status_t st = qiao_ptxas_report_parse(k_cuda13, k, 1, &n);
  cr_expect(st != NULL, "more kernels than room");
  qiao_status_free(st);
  st = qiao_ptxas_report_parse("ptxas info    : Compiling entry function 'x' for 'sm_90'\n", k, 1,
                               &n);
  cr_expect(st && strstr(qiao_status_message(st), "'x'"), "a kernel without its registers line");
  qiao_status_free(st);
  cr_assert_null(qiao_ptxas_report_parse("", k, 1, &n));
  cr_expect_eq(n, 0);
}

Test(cuda_ptxas_report, occupancy) {
  qiao_sm_limits_t lim = qiao_sm_limits_default(228 * 1024);
  qiao_ptxas_kernel_t r = {.registers = 32, .shared_bytes = 0};
  /* 256 threads, 32 regs: warps limit 64/8 = 8 CTAs; regs 65536/(32*32*8) = 8 → 100 % */
  qiao_occupancy_t o = qiao_occupancy_compute(&lim, &r, 256, 0);
  cr_expect_eq(o.ctas_per_sm, 8);
  cr_expect_eq(o.by_registers, 8);
  cr_expect_float_eq(o.occupancy, 1.0, 1e-9);
  /* 90 regs → 2880 → 3072 per warp (units of 256) → 21 warps → 2 CTAs of 8 warps: 25 % */
  r.registers = 90;
  o = qiao_occupancy_compute(&lim, &r, 256, 0);
  cr_expect_eq(o.by_registers, 2);
  cr_expect_float_eq(o.occupancy, 0.25, 1e-9);
  /* shared: 48 KiB + 1 KiB reserved per CTA → 228/49 = 4 CTAs */
  r.registers = 16;
  r.shared_bytes = 48 * 1024;
  o = qiao_occupancy_compute(&lim, &r, 128, 0);
  cr_expect_eq(o.by_shared, 4);
  cr_expect_eq(o.ctas_per_sm, 4);
  cr_expect_float_eq(o.occupancy, 16.0 / 64.0, 1e-9);
  /* tiny CTAs hit the 32-CTA limit */
  r.shared_bytes = 0;
  o = qiao_occupancy_compute(&lim, &r, 32, 0);
  cr_expect_eq(o.ctas_per_sm, 32);
  cr_expect_float_eq(o.occupancy, 0.5, 1e-9);
}
