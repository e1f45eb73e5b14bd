/* The CUDA backend's i8 × i8 matmul (mma.sync m16n8k32 s8, s32 accumulators) run on simt-emu
 * against the reference interpreter with full-range i8 inputs (the conformance suite's integer
 * inputs are small and non-negative): several CTA tiles, K not a multiple of the 64-byte slice,
 * transposes, batches and an integer epilogue; outputs poisoned; exact equality. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "qiao/hal.h"
#include "qiao/hal_simt.h"
#include "qiao/ir.h"
#include "qiao/runtime.h"
#include "support/oracle.h"

#define OK(x)                                                                                      \
  do {                                                                                             \
    qiao_status_t st_ = (x);                                                                       \
    cr_assert_null(st_, "%s: %s", #x, st_ ? qiao_status_message(st_) : "");                        \
  } while (0)

static uint64_t next(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return *s >> 33;
}

static void run_case(const char *uri, const char *text, uint64_t seed) {
  qiao_graph_t *g = NULL;
  OK(qiao_ir_parse(text, strlen(text), "<test>", &g));
  qiao_hal_device_t *d = NULL;
  OK(qiao_hal_device_open(uri, &d));
  qiao_compile_options_t co = {.poison = true, .no_cache = true};
  qiao_program_t *p = NULL;
  OK(qiao_program_compile(NULL, g, d, &co, &p));
  qiao_tensor_t *in[4] = {0};
  cr_assert_leq(g->n_inputs, 4);
  for (int32_t i = 0; i < g->n_inputs; ++i) {
    OK(qiao_tensor_create(g->values[g->inputs[i]].type, &in[i]));
    int64_t n = (int64_t)(qiao_tensor_nbytes(in[i]) / (in[i]->type.dtype == QIAO_I8 ? 1 : 4));
    for (int64_t e = 0; e < n; ++e) /* i8: -128..127; i32 bias: +-2^20 */
      qiao_tensor_set_f64(in[i], e,
                          in[i]->type.dtype == QIAO_I8
                              ? (double)((int)(next(&seed) & 0xff) - 128)
                              : (double)((int64_t)(next(&seed) % 2097153) - 1048576));
  }
  qiao_tensor_t *out[1] = {0}, *ref[1] = {0};
  OK(qiao_program_run(p, (const qiao_tensor_t *const *)in, out));
  OK(qiao_interp_run(g, (const qiao_tensor_t *const *)in, NULL, NULL, NULL, 0, ref));
  cr_assert_eq(out[0]->type.dtype, QIAO_I32);
  size_t nb = qiao_tensor_nbytes(ref[0]);
  int64_t bad = 0, n = (int64_t)(nb / 4);
  const int32_t *a = out[0]->data, *r = ref[0]->data;
  for (int64_t e = 0; e < n; ++e)
    if (a[e] != r[e]) {
      if (!bad)
        cr_expect_eq(a[e], r[e], "%s: element %lld: %d, want %d", uri, (long long)e, a[e], r[e]);
      ++bad;
    }
  cr_expect_eq(bad, 0, "%s: %lld of %lld elements differ", uri, (long long)bad, (long long)n);
  qiao_program_stats_t ps;
  qiao_program_stats(p, &ps);
  if (ps.n_kernels == 1) { /* the last dispatch is the matmul: it ran s8 mma */
    qiao_hal_simt_stats_t st;
    OK(qiao_hal_simt_last_stats(d, &st));
    cr_expect_gt(st.ops_i8, 0, "%s: the matmul ran on the tensor cores (s8 mma)", uri);
  }
  qiao_tensor_destroy(out[0]);
  qiao_tensor_destroy(ref[0]);
  for (int32_t i = 0; i < g->n_inputs; ++i)
    qiao_tensor_destroy(in[i]);
  qiao_program_destroy(p);
  qiao_hal_device_release(d);
  qiao_ir_graph_destroy(g);
}

static const char *const k_uris[] = {"simt-emu:h100", "simt-emu:a100"};

Test(simt_backend_matmul, i8_tiles_and_ragged_k) {
  for (int u = 0; u < 2; ++u)
    run_case(k_uris[u],
             "graph @m(%a: i8[70, 100], %b: i8[100, 130]) -> (i32[70, 130]) {\n"
             "  %y = matmul %a, %b\n  return %y\n}\n",
             7 + (uint64_t)u);
}

Test(simt_backend_matmul, i8_batched_transposed) {
  for (int u = 0; u < 2; ++u)
    run_case(k_uris[u],
             "graph @m(%a: i8[2, 96, 33], %b: i8[2, 40, 96]) -> (i32[2, 33, 40]) {\n"
             "  %y = matmul %a, %b {transpose_a = true, transpose_b = true}\n  return %y\n}\n",
             11 + (uint64_t)u);
}

Test(simt_backend_matmul, i8_bias_epilogue) {
  run_case("simt-emu:h100",
           "graph @m(%a: i8[17, 200], %b: i8[200, 24], %c: i32[24]) -> (i32[17, 24]) {\n"
           "  %y = add (matmul %a, %b), %c\n  return %y\n}\n",
           13);
}

/* f16/bf16 tensor-core GEMMs whose K slices are double-buffered: both operands by 16-byte
 * cp.async (k contiguous, K % 8 = 0), or A by cp.async and B through registers, several slices
 * (the two buffers alternate) with a partial last one, against the interpreter (oracle). */
static void run_oracle(const char *text) {
  qiao_graph_t *g = NULL;
  OK(qiao_ir_parse(text, strlen(text), "<test>", &g));
  for (int u = 0; u < 2; ++u) {
    oracle_result_t r;
    bool ok = oracle_run(g, k_uris[u], 5 + (uint64_t)u, &r);
    if (ORACLE_DEVICE_OK(ok, r, "matmul", k_uris[u]))
      ORACLE_EXPECT_OK(r, "%s", k_uris[u]);
  }
  qiao_ir_graph_destroy(g);
}

Test(simt_backend_matmul, f16_both_operands_cp_async) {
  run_oracle("graph @m(%a: f16[70, 96], %b: f16[130, 96]) -> (f16[70, 130]) {\n"
             "  %y = matmul %a, %b {transpose_b = true}\n  return %y\n}\n");
}

Test(simt_backend_matmul, bf16_batched_ragged_k_pipeline) {
  run_oracle("graph @m(%a: bf16[2, 33, 200], %b: bf16[200, 40]) -> (bf16[2, 33, 40]) {\n"
             "  %y = matmul %a, %b\n  return %y\n}\n");
}
