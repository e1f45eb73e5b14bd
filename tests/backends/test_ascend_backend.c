/* Ascend backend on ascend-sim (ELEMENTWISE, SOFTMAX and REDUCE_MAX over the
 * last axis): the registry row, the backend's own UB tiling
 * check (an overflowing tile is refused before the simulator sees it), the
 * artifacts (LLVM IR of unit-op calls, the per-pipe listing), fp8 refused on
 * 910B, elementwise kernels against the interpreter (f32/f16/bf16, edge values,
 * tails, many tiles, 910B, 910C and a 3-core 910B), and the cycle model's
 * sanity: a large elementwise op is HBM-bound near the profile's bandwidth,
 * a transcendental chain is bound by the vector pipe. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/ascend/ascend.h"
#include "qiao/backend.h"
#include "qiao/hal_ascend.h"
#include "qiao/ir.h"
#include "qiao/runtime.h"
#include "support/oracle.h"

#define CHECK_OK(expr)                                                                             \
  do {                                                                                             \
    qiao_status_t st_ = (expr);                                                                    \
    cr_assert(st_ == NULL, "%s: %s", #expr, qiao_status_message(st_));                             \
  } while (0)

static const qiao_backend_t *ascend(void) {
  const qiao_backend_t *b = qiao_backend_find("ascend");
  cr_assert_not_null(b, "the registry has an 'ascend' row");
  return b;
}

static qiao_graph_t *parse(const char *text) {
  qiao_graph_t *g = NULL;
  CHECK_OK(qiao_ir_parse(text, strlen(text), "t.qir", &g));
  return g;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = calloc((size_t)n + 1, 1);
  cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  return s;
}

#define EW_GRAPH                                                                                   \
  "graph @t(%a: f32[300, 70], %b: f32[300, 70], %c: f32[1]) -> (f32[300, 70]) {\n"                 \
  "%y = mul (add %a, (exp %b)), %c\nreturn %y\n}\n"

Test(ascend_backend, registry_row) {
  const qiao_backend_t *b = ascend();
  cr_expect_eq(b->device_class, QIAO_HAL_CLASS_ASCEND);
  qiao_hal_device_t *d = NULL;
  CHECK_OK(qiao_hal_device_open("ascend-sim:910b", &d));
  cr_expect_eq(qiao_backend_for_device(d), b);
  char key[256];
  CHECK_OK(b->target_key(d, NULL, key, sizeof key));
  cr_expect(strstr(key, "ascend|ascend-910b|aic=24|aiv=48") != NULL, "%s", key);
  qiao_hal_device_release(d);
}

static void run_once_mm(const char *text, qiao_hal_ascend_report_t *out);

static void run_once(const char *text, const char *uri, qiao_hal_ascend_report_t *out);

/* A large matmul through the backend (double-buffered L1/L0, the A row block
 * resident in L1, B tiles shared by the cores through the L2): bound by the
 * cube near its peak. On 2 AI cores (a launch with block_dim 2) so that each
 * core's work is large next to the calibrated 14 us launch overhead
 * (docs/ascend-model.md) without simulating more MACs. */
Test(ascend_backend, large_matmul_is_cube_bound_near_the_cube_peak, .timeout = 300) {
  qiao_hal_ascend_report_t r;
  run_once("graph @t(%a: f16[1024, 1024], %b: f16[1024, 1536]) -> (f16[1024, 1536]) {\n"
           "%y = matmul %a, %b\nreturn %y\n}\n",
           "ascend-sim:910b:cores=2", &r);
  char buf[1024];
  qiao_hal_ascend_report_format(&r, buf, sizeof buf);
  cr_log_info("%s", buf);
  cr_expect_str_eq(r.bound, "PIPE_M", "%s", buf);
  /* 48 tiles of 128 x 256 on 2 AICs, 24 each. Outside the launch overhead the
   * cube runs at > 70% of its peak; the rest is the pipeline fill of each A
   * row block and the FixPipe drain of the single L0C tile. */
  double peak_cycles = 1024.0 * 1024 * 1536 / 4096 / 2;
  double launch = 14000e-9 * 1.8e9;
  cr_expect_gt(peak_cycles / (r.cycles - launch), 0.7, "%s", buf);
  cr_expect_gt(r.cube_util, 0.55, "%s", buf);
}

/* The cube tiles are checked against L1/L0 before anything is emitted. */
Test(ascend_backend, l0_overflow_refused_by_the_backend) {
  qiao_hal_ascend_info_t info;
  CHECK_OK(qiao_hal_ascend_info_for_profile("910b", &info));
  CHECK_OK(ascend_mm_check(&info));
  info.l0a_bytes = 16384; /* a quarter of a 910B L0A: no room for the pong tile */
  qiao_status_t st = ascend_mm_check(&info);
  cr_assert_not_null(st);
  cr_expect_eq(qiao_status_code(st), QIAO_RESOURCE_EXHAUSTED);
  cr_expect(strstr(qiao_status_message(st), "L0A overflow") != NULL, "%s", qiao_status_message(st));
  qiao_status_free(st);
}

Test(ascend_backend, ub_overflow_refused_by_the_backend) {
  qiao_graph_t *g = parse(EW_GRAPH);
  qiao_partition_t *p = NULL;
  CHECK_OK(qiao_ir_partition(g, ascend()->fusion_policy(NULL), &p));
  cr_assert_eq(p->n_kernels, 1);
  const qiao_kernel_desc_t *kd = &p->kernels[0];
  ascend_ew_plan_t plan;
  CHECK_OK(ascend_ew_plan(kd, 196608, 0, &plan));
  cr_expect_leq(plan.ub_used, 196608);
  cr_expect_eq(plan.tile % 64, 0);
  cr_expect_eq(plan.n_tiles, (21000 + plan.tile - 1) / plan.tile);
  /* a tile the UB cannot hold, and a UB too small for any tile */
  qiao_status_t st = ascend_ew_plan(kd, 196608, 65536, &plan);
  cr_assert_not_null(st);
  cr_expect_eq(qiao_status_code(st), QIAO_RESOURCE_EXHAUSTED);
  cr_expect(strstr(qiao_status_message(st), "UB overflow") != NULL, "%s", qiao_status_message(st));
  qiao_status_free(st);
  st = ascend_ew_plan(kd, 1024, 0, &plan);
  cr_assert_not_null(st);
  cr_expect(strstr(qiao_status_message(st), "the UB has 1024") != NULL, "%s",
            qiao_status_message(st));
  qiao_status_free(st);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

Test(ascend_backend, softmax_row_too_long_for_the_ub_is_refused) {
  qiao_graph_t *g = parse("graph @t(%x: f32[2, 100000]) -> (f32[2, 100000]) {\n"
                          "%y = softmax %x\nreturn %y\n}\n");
  qiao_partition_t *p = NULL;
  CHECK_OK(qiao_ir_partition(g, ascend()->fusion_policy(NULL), &p));
  qiao_hal_device_t *d = NULL;
  CHECK_OK(qiao_hal_device_open("ascend-sim:910b", &d));
  char reason[512] = "";
  cr_expect_not(ascend()->supports(&p->kernels[0], d, reason, sizeof reason));
  cr_expect(strstr(reason, "UB overflow: a row tile of 100000 elements") != NULL, "%s", reason);
  qiao_hal_device_release(d);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

Test(ascend_backend, artifacts_llvm_and_listing) {
  qiao_graph_t *g = parse(EW_GRAPH);
  qiao_partition_t *p = NULL;
  CHECK_OK(qiao_ir_partition(g, ascend()->fusion_policy(NULL), &p));
  qiao_hal_device_t *d = NULL;
  CHECK_OK(qiao_hal_device_open("ascend-sim:910b", &d));
  qiao_backend_module_t *m = NULL;
  CHECK_OK(qiao_backend_module_create(ascend(), d, NULL, &m));
  qiao_kernel_launch_t l;
  CHECK_OK(qiao_backend_module_add_kernel(m, &p->kernels[0], "ew", &l));
  cr_expect_eq(l.grid[0], 48, "block_dim = the AIV count");
  char ll[256], lst[256];
  snprintf(ll, sizeof ll, "/tmp/qiao_ascend_%d.ll", (int)getpid());
  snprintf(lst, sizeof lst, "/tmp/qiao_ascend_%d.txt", (int)getpid());
  CHECK_OK(qiao_backend_module_emit(m, QIAO_ARTIFACT_LLVM, ll));
  CHECK_OK(qiao_backend_module_emit(m, QIAO_ARTIFACT_LISTING, lst));
  qiao_status_t st = qiao_backend_module_emit(m, QIAO_ARTIFACT_PTX, lst);
  cr_expect_eq(qiao_status_code(st), QIAO_UNSUPPORTED);
  qiao_status_free(st);
  char *ir = slurp(ll), *text = slurp(lst);
  const char *in_ir[] = {"call void @qiao_ascend_copy_gm_to_ub_pad", "call void @qiao_ascend_vexp",
                         "call void @qiao_ascend_wait_flag", "call void @qiao_ascend_vbrcb",
                         "call i64 @qiao_ascend_get_block_idx"};
  for (size_t i = 0; i < sizeof in_ir / sizeof in_ir[0]; ++i)
    cr_expect(strstr(ir, in_ir[i]) != NULL, "the IR calls '%s'", in_ir[i]);
  const char *in_listing[] = {
      "kernel ew",      "PIPE_MTE2  DataCopyPad GM->UB", "PIPE_V     Exp",
      "PIPE_V     Add", "PIPE_MTE3  DataCopyPad UB->GM", "PIPE_S     WaitFlag",
      "UB plan: tile"};
  for (size_t i = 0; i < sizeof in_listing / sizeof in_listing[0]; ++i)
    cr_expect(strstr(text, in_listing[i]) != NULL, "the listing has '%s':\n%s", in_listing[i],
              text);
  free(ir);
  free(text);
  unlink(ll);
  unlink(lst);
  qiao_backend_module_destroy(m);
  qiao_hal_device_release(d);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

Test(ascend_backend, fp8_refused_on_910b) {
  qiao_graph_t *g = parse("graph @t(%x: f32[3, 17]) -> (f8e4m3[3, 17]) {\n"
                          "%y = cast %x {to = f8e4m3}\nreturn %y\n}\n");
  qiao_partition_t *p = NULL;
  CHECK_OK(qiao_ir_partition(g, ascend()->fusion_policy(NULL), &p));
  qiao_hal_device_t *d = NULL;
  CHECK_OK(qiao_hal_device_open("ascend-sim:910b", &d));
  char reason[256] = "";
  cr_expect_not(ascend()->supports(&p->kernels[0], d, reason, sizeof reason));
  cr_expect(strstr(reason, "f8e4m3 is not supported on ascend-sim:910b (no FP8 on Ascend A2/A3)"),
            "%s", reason);
  qiao_backend_module_t *m = NULL;
  CHECK_OK(qiao_backend_module_create(ascend(), d, NULL, &m));
  qiao_kernel_launch_t l;
  qiao_status_t st = qiao_backend_module_add_kernel(m, &p->kernels[0], NULL, &l);
  cr_expect_eq(qiao_status_code(st), QIAO_UNSUPPORTED);
  cr_expect(strstr(qiao_status_message(st), "no FP8") != NULL, "%s", qiao_status_message(st));
  qiao_status_free(st);
  qiao_backend_module_destroy(m);
  qiao_hal_device_release(d);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

/* ------------------------------------------------------------ vs the interpreter */

static const char *const k_ew_graphs[] = {
    EW_GRAPH,
    "graph @t(%a: f32[5, 1031]) -> (f32[5, 1031]) {\n%y = silu (tanh (sigmoid %a))\nreturn %y\n}\n",
    "graph @t(%a: bf16[4, 33], %b: bf16[4, 33]) -> (bf16[4, 33]) {\n%y = mul %a, %b\nreturn "
    "%y\n}\n",
    "graph @t(%a: f16[7, 9], %b: f16[1]) -> (f16[7, 9]) {\n"
    "%y = div %a, (add (exp %b), 1.0)\nreturn %y\n}\n",
    "graph @t(%a: f32[3, 17], %b: f32[3, 17]) -> (f32[3, 17]) {\n"
    "%y = max (min %a, %b), (relu (neg %a))\nreturn %y\n}\n",
    "graph @t(%a: f32[2, 61]) -> (f32[2, 61]) {\n"
    "%y = gelu (rsqrt (sqrt (log %a)))\nreturn %y\n}\n",
    "graph @t(%a: f32[64, 1000]) -> (bf16[64, 1000]) {\n"
    "%y = cast (gelu %a {approximate = \"tanh\"}) {to = bf16}\nreturn %y\n}\n",
    "graph @t(%a: f32[3, 5], %b: f32[3, 5]) -> (f32[3, 5]) {\n%y = pow %a, %b\nreturn %y\n}\n",
    "graph @t(%a: f32[0, 5]) -> (f32[0, 5]) {\n%y = exp %a\nreturn %y\n}\n",
    /* broadcast inputs: row, column, a middle axis, both operands */
    "graph @t(%a: f32[300, 70], %b: f32[70]) -> (f32[300, 70]) {\n%y = add %a, %b\nreturn %y\n}\n",
    "graph @t(%a: bf16[129, 7], %b: bf16[129, 1]) -> (bf16[129, 7]) {\n"
    "%y = div %a, (add (exp %b), 1.0)\nreturn %y\n}\n",
    "graph @t(%a: f16[5, 3, 40], %b: f16[5, 1, 40]) -> (f16[5, 3, 40]) {\n"
    "%y = max %a, %b\nreturn %y\n}\n",
    "graph @t(%a: f32[3, 1], %b: f32[1, 4000]) -> (f32[3, 4000]) {\n%y = mul %a, %b\nreturn "
    "%y\n}\n",
    /* softmax and reduce_max over the last axis, with epilogues */
    "graph @t(%x: f32[300, 127]) -> (f32[300, 127]) {\n%y = softmax %x\nreturn %y\n}\n",
    "graph @t(%x: bf16[4, 33]) -> (bf16[4, 33]) {\n%y = softmax %x\nreturn %y\n}\n",
    "graph @t(%x: f16[2, 5000]) -> (f16[2, 5000]) {\n%y = softmax %x\nreturn %y\n}\n",
    "graph @t(%x: f32[40, 17], %b: f32[17]) -> (f32[40, 17]) {\n"
    "%y = add (mul (softmax %x), 2.0), %b\nreturn %y\n}\n",
    "graph @t(%x: f32[500, 19]) -> (f32[500]) {\n%y = reduce_max %x {axes = [-1]}\nreturn %y\n}\n",
    "graph @t(%x: bf16[6, 3, 700]) -> (bf16[6, 3, 1]) {\n"
    "%y = reduce_max %x {axes = [2], keepdims = true}\nreturn %y\n}\n",
    "graph @t(%x: f32[7, 0]) -> (f32[7]) {\n%y = reduce_max %x {axes = [1]}\nreturn %y\n}\n",
    /* sums (scaled by max|x|, compensated), other axes (transposed in the UB), norms */
    "graph @t(%x: f32[300, 1000]) -> (f32[300]) {\n%y = reduce_sum %x\nreturn %y\n}\n",
    "graph @t(%x: bf16[40, 3, 70]) -> (bf16[3]) {\n"
    "%y = reduce_mean %x {axes = [0, 2]}\nreturn %y\n}\n",
    "graph @t(%x: f16[9, 130, 33]) -> (f16[9, 1, 33]) {\n"
    "%y = reduce_sum %x {axes = [1], keepdims = true}\nreturn %y\n}\n",
    "graph @t(%x: f32[200, 30]) -> (f32[30]) {\n%y = reduce_max %x {axes = [0]}\nreturn %y\n}\n",
    "graph @t(%x: f32[6, 50, 40]) -> (f32[6, 50, 40]) {\n"
    "%y = exp (softmax %x {axis = 1})\nreturn %y\n}\n",
    "graph @t(%x: f32[300, 257], %w: f32[257]) -> (f32[300, 257]) {\n"
    "%y = rms_norm %x, %w\nreturn %y\n}\n",
    "graph @t(%x: bf16[70, 64], %w: bf16[64], %b: bf16[64]) -> (bf16[70, 64]) {\n"
    "%y = silu (layer_norm %x, %w, %b {eps = 0.001})\nreturn %y\n}\n",
    /* data movement: MTE row copies (long rows split), Gather from a resident span */
    "graph @t(%x: f32[3, 70000]) -> (f32[3, 50000]) {\n"
    "%y = slice %x {axis = 1, start = 7, end = 50007}\nreturn %y\n}\n",
    "graph @t(%a: bf16[300, 40], %b: bf16[300, 9]) -> (bf16[300, 49]) {\n"
    "%y = concat %a, %b {axis = 1}\nreturn %y\n}\n",
    "graph @t(%x: f32[5, 6, 70]) -> (f32[6, 5, 70]) {\n"
    "%y = transpose %x {perm = [1, 0, 2]}\nreturn %y\n}\n",
    "graph @t(%x: f16[90, 130]) -> (f16[130, 90]) {\n"
    "%y = transpose %x {perm = [1, 0]}\nreturn %y\n}\n",
    "graph @t(%x: f32[40, 17]) -> (f32[40, 4]) {\n"
    "%y = slice %x {axis = 1, start = 1, end = 17, step = 4}\nreturn %y\n}\n",
    "graph @t(%t: f32[100, 300], %i: i64[2, 37]) -> (f32[2, 37, 300]) {\n"
    "%y = gather %t, %i\nreturn %y\n}\n",
    /* int32 (wrapping) and bool on the vector unit */
    "graph @t(%a: i32[300, 170], %b: i32[170]) -> (i32[300, 170]) {\n"
    "%y = max (mul (sub %a, %b), 300000000), (neg %a)\nreturn %y\n}\n",
    "graph @t(%x: f32[5000]) -> (bool[5000]) {\n%y = cast (relu %x) {to = bool}\nreturn %y\n}\n",
    "graph @t(%x: bf16[3000]) -> (i32[3000]) {\n"
    "%y = cast (mul %x, 1000.0) {to = i32}\nreturn %y\n}\n",
    "graph @t(%x: i32[77], %c: bool[77]) -> (f32[77]) {\n"
    "%y = mul (cast %x {to = f32}), (cast %c {to = f32})\nreturn %y\n}\n",
    /* topk: rows along the last axis, and along axis 0 (transposed in the UB) */
    "graph @t(%x: f32[600, 100]) -> (f32[600, 7], i64[600, 7]) {\n"
    "%v, %i = topk %x {k = 7}\nreturn %v, %i\n}\n",
    "graph @t(%x: bf16[50, 9, 20]) -> (bf16[50, 3, 20], i64[50, 3, 20]) {\n"
    "%v, %i = topk %x {k = 3, axis = 1}\nreturn %v, %i\n}\n",
    /* rope: neox over many tiles, gptj with per-batch positions */
    "graph @t(%x: f32[2, 8, 100, 128], %pos: i32[100]) -> (f32[2, 8, 100, 128]) {\n"
    "%y = rope %x, %pos\nreturn %y\n}\n",
    "graph @t(%x: bf16[3, 2, 7, 64], %pos: i64[3, 7]) -> (bf16[3, 2, 7, 64]) {\n"
    "%y = rope %x, %pos {mode = \"gptj\"}\nreturn %y\n}\n",
};

static const char *const k_uris[] = {"ascend-sim:910b", "ascend-sim:910c",
                                     "ascend-sim:910b:cores=3"};

Test(ascend_backend, elementwise_matches_the_interpreter) {
  for (size_t gi = 0; gi < sizeof k_ew_graphs / sizeof k_ew_graphs[0]; ++gi) {
    qiao_graph_t *g = parse(k_ew_graphs[gi]);
    for (size_t u = 0; u < sizeof k_uris / sizeof k_uris[0]; ++u)
      for (int edge = 0; edge < 2; ++edge) {
        oracle_opts_t o = {.seed = 11 + gi, .edge_values = edge};
        oracle_result_t r;
        bool ok = oracle_run_opts(g, k_uris[u], &o, &r);
        cr_expect(ok, "graph %zu on %s: %s", gi, k_uris[u], r.message);
        if (ok) ORACLE_EXPECT_OK(r, "graph %zu on %s (edge %d)", gi, k_uris[u], edge);
      }
    qiao_ir_graph_destroy(g);
  }
}

static const char *const k_mm_graphs[] = {
    "graph @t(%a: f16[7, 33], %b: f16[33, 9]) -> (f16[7, 9]) {\n%y = matmul %a, %b\nreturn %y\n}\n",
    "graph @t(%a: bf16[16, 64], %b: bf16[64, 40]) -> (bf16[16, 40]) {\n"
    "%y = matmul %a, %b\nreturn %y\n}\n",
    /* several output tiles and K steps, tails everywhere */
    "graph @t(%a: f16[300, 270], %b: f16[270, 150]) -> (f16[300, 150]) {\n"
    "%y = matmul %a, %b\nreturn %y\n}\n",
    "graph @t(%a: bf16[1, 300], %b: bf16[300, 257]) -> (bf16[1, 257]) {\n"
    "%y = matmul %a, %b\nreturn %y\n}\n",
    /* f32 (16x8x16 steps), transposes, broadcast batches, int8 (s32, exact), K = 0 */
    "graph @t(%a: f32[130, 200], %b: f32[200, 129]) -> (f32[130, 129]) {\n"
    "%y = matmul %a, %b\nreturn %y\n}\n",
    "graph @t(%a: f16[150, 7], %b: f16[140, 150]) -> (f16[7, 140]) {\n"
    "%y = matmul %a, %b {transpose_a = true, transpose_b = true}\nreturn %y\n}\n",
    "graph @t(%a: bf16[3, 1, 20, 40], %b: bf16[5, 40, 33]) -> (bf16[3, 5, 20, 33]) {\n"
    "%y = matmul %a, %b\nreturn %y\n}\n",
    "graph @t(%a: i8[40, 300], %b: i8[300, 50]) -> (i32[40, 50]) {\n"
    "%y = matmul %a, %b\nreturn %y\n}\n",
    "graph @t(%a: f32[9, 0], %b: f32[0, 17]) -> (f32[9, 17]) {\n"
    "%y = matmul %a, %b\nreturn %y\n}\n",
    /* mixed dtypes: a vector Cast phase (several chunks, a tail) then the f32 cube */
    "graph @t(%a: f32[5, 300], %b: bf16[300, 70]) -> (f32[5, 70]) {\n"
    "%y = matmul %a, %b\nreturn %y\n}\n",
    "graph @t(%a: f16[2, 33, 40], %b: f32[40, 19]) -> (f32[2, 33, 19]) {\n"
    "%y = matmul %a, %b\nreturn %y\n}\n",
    "graph @t(%a: f32[3, 64], %b: bf16[130, 64]) -> (f32[3, 130]) {\n"
    "%y = matmul %a, %b {transpose_b = true}\nreturn %y\n}\n",
};

/* A mixed f32 x bf16 matmul is two phases over one GM workspace: the Cast
 * (AIV block_dim) and the f32 cube matmul (AIC block_dim). */
Test(ascend_backend, mixed_matmul_is_a_cast_phase_then_the_cube) {
  qiao_graph_t *g = parse("graph @t(%a: f32[4, 64], %b: bf16[64, 32]) -> (f32[4, 32]) {\n"
                          "%y = matmul %a, %b\nreturn %y\n}\n");
  qiao_partition_t *p = NULL;
  CHECK_OK(qiao_ir_partition(g, ascend()->fusion_policy(NULL), &p));
  qiao_hal_device_t *d = NULL;
  CHECK_OK(qiao_hal_device_open("ascend-sim:910b", &d));
  qiao_backend_module_t *m = NULL;
  CHECK_OK(qiao_backend_module_create(ascend(), d, NULL, &m));
  qiao_kernel_launch_t l;
  CHECK_OK(qiao_backend_module_add_kernel(m, &p->kernels[0], "mm", &l));
  cr_expect_eq(l.n_phases, 2);
  cr_expect_str_eq(l.phases[0].name, "mm_cast");
  cr_expect_str_eq(l.phases[1].name, "mm_mm");
  cr_expect_eq(l.phases[0].grid[0], 48, "the cast on the AIVs");
  cr_expect_eq(l.phases[1].grid[0], 24, "the matmul on the AICs");
  cr_expect_eq(l.workspace_bytes, 64 * 32 * 4, "B as f32");
  qiao_backend_module_destroy(m);
  qiao_hal_device_release(d);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

Test(ascend_backend, matmul_on_the_cube_matches_the_interpreter) {
  for (size_t gi = 0; gi < sizeof k_mm_graphs / sizeof k_mm_graphs[0]; ++gi) {
    qiao_graph_t *g = parse(k_mm_graphs[gi]);
    for (size_t u = 0; u < sizeof k_uris / sizeof k_uris[0]; ++u) {
      oracle_opts_t o = {.seed = 5 + gi};
      oracle_result_t r;
      bool ok = oracle_run_opts(g, k_uris[u], &o, &r);
      cr_expect(ok, "matmul %zu on %s: %s", gi, k_uris[u], r.message);
      if (ok) ORACLE_EXPECT_OK(r, "matmul %zu on %s", gi, k_uris[u]);
    }
    qiao_ir_graph_destroy(g);
  }
}

/* ------------------------------------------------------------ model sanity */

static void run_once(const char *text, const char *uri, qiao_hal_ascend_report_t *out);
static void run_once_mm(const char *text, qiao_hal_ascend_report_t *out) {
  run_once(text, "ascend-sim:910b", out);
}

static void run_once(const char *text, const char *uri, qiao_hal_ascend_report_t *out) {
  qiao_graph_t *g = parse(text);
  qiao_hal_device_t *d = NULL;
  CHECK_OK(qiao_hal_device_open(uri, &d));
  qiao_program_t *p = NULL;
  CHECK_OK(qiao_program_compile(NULL, g, d, NULL, &p));
  int32_t n_in = g->n_inputs;
  qiao_tensor_t *in[4] = {0};
  for (int32_t i = 0; i < n_in; ++i) {
    CHECK_OK(qiao_tensor_create(g->values[g->inputs[i]].type, &in[i]));
    size_t n = qiao_tensor_nbytes(in[i]) / qiao_dtype_size(in[i]->type.dtype);
    for (size_t k = 0; k < n; ++k)
      qiao_tensor_set_f64(in[i], (int64_t)k, (double)(k % 7) * 0.25);
  }
  qiao_tensor_t *outs[1] = {0};
  CHECK_OK(qiao_program_run(p, (const qiao_tensor_t *const *)in, outs));
  CHECK_OK(qiao_hal_ascend_last_report(d, out));
  qiao_tensor_destroy(outs[0]);
  for (int32_t i = 0; i < n_in; ++i)
    qiao_tensor_destroy(in[i]);
  qiao_program_destroy(p);
  qiao_hal_device_release(d);
  qiao_ir_graph_destroy(g);
}

Test(ascend_backend, large_elementwise_is_hbm_bound_near_the_profile_bandwidth, .timeout = 120) {
  qiao_hal_ascend_report_t r;
  run_once("graph @t(%a: f32[4096, 4096], %b: f32[4096, 4096]) -> (f32[4096, 4096]) {\n"
           "%y = add %a, %b\nreturn %y\n}\n",
           "ascend-sim:910b", &r);
  char buf[1024];
  qiao_hal_ascend_report_format(&r, buf, sizeof buf);
  cr_log_info("%s", buf);
  cr_expect_str_eq(r.bound, "HBM", "%s", buf);
  cr_expect_eq(r.bytes[QIAO_ASCEND_PATH_GM_UB], 2.0 * 4096 * 4096 * 4);
  cr_expect_eq(r.bytes[QIAO_ASCEND_PATH_UB_GM], 1.0 * 4096 * 4096 * 4);
  /* within launch overhead of the 1.6 TB/s of the profile */
  cr_expect_gt(r.hbm_bytes_per_s, 0.9 * 1.6e12, "%s", buf);
  cr_expect_leq(r.hbm_bytes_per_s, 1.6e12 * 1.0001, "%s", buf);
  cr_expect(strstr(buf, "simulated (model of ascend-910b)") != NULL, "%s", buf);
}

Test(ascend_backend, transcendental_chain_is_vector_bound, .timeout = 120) {
  qiao_hal_ascend_report_t r;
  run_once("graph @t(%a: f32[1024, 1024]) -> (f32[1024, 1024]) {\n"
           "%y = exp (tanh (exp (sigmoid (exp (tanh (exp (sigmoid (exp (tanh (exp (sigmoid "
           "(exp (tanh (exp (sigmoid (exp (tanh (exp (sigmoid %a)))))))))))))))))))\n"
           "return %y\n}\n",
           "ascend-sim:910b", &r);
  char buf[1024];
  qiao_hal_ascend_report_format(&r, buf, sizeof buf);
  cr_log_info("%s", buf);
  cr_expect_str_eq(r.bound, "PIPE_V", "%s", buf);
  cr_expect_gt(r.vector_util, 0.5, "%s", buf);
}

Test(ascend_backend, matmul_report_names_the_cube_paths, .timeout = 120) {
  qiao_hal_ascend_report_t r;
  run_once_mm("graph @t(%a: f16[512, 512], %b: f16[512, 512]) -> (f16[512, 512]) {\n"
              "%y = matmul %a, %b\nreturn %y\n}\n",
              &r);
  char buf[1024];
  qiao_hal_ascend_report_format(&r, buf, sizeof buf);
  cr_log_info("%s", buf);
  cr_expect_eq(r.blocks, 24, "block_dim = the AIC count");
  cr_expect_eq(r.bytes[QIAO_ASCEND_PATH_L0C_GM], 512.0 * 512 * 2);
  /* 4 x 2 output tiles of 128 x 256 on 24 cores, one each: every tile reads
   * its A row block (all of K, resident in L1) and its B column block once */
  cr_expect_eq(r.bytes[QIAO_ASCEND_PATH_GM_L1], 8.0 * (128 * 512 + 512 * 256) * 2);
  cr_expect_gt(r.cube_util, 0.0);
  cr_expect_gt(r.pipe_busy[QIAO_ASCEND_PIPE_M], 0);
}

Test(ascend_backend, fewer_cores_take_longer, .timeout = 120) {
  const char *g = "graph @t(%a: f32[1024, 1024]) -> (f32[1024, 1024]) {\n"
                  "%y = exp %a\nreturn %y\n}\n";
  qiao_hal_ascend_report_t all, two;
  run_once(g, "ascend-sim:910b", &all);
  run_once(g, "ascend-sim:910b:cores=2", &two);
  cr_expect_eq(all.blocks, 48);
  cr_expect_eq(two.blocks, 4);
  /* outside the launch overhead (14 us, docs/ascend-model.md) */
  cr_expect_gt(two.ns - 14000, 2 * (all.ns - 14000), "2 AI cores (4 AIV): %g ns, 24: %g ns",
               two.ns, all.ns);
}
