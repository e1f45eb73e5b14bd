/* ascend-sim mixed kernels: a group of 1 AIC + 2 AIV runs a FlashAttention
 * block written by hand against qiao/hal_ascend.h (the cube computes
 * S = Q Kᵀ into a GM workspace, the vector cores run the online softmax and
 * write P, the cube computes P V, the vector cores rescale and accumulate),
 * synchronised with cross-core flags; it matches a host reference on random
 * inputs with a poisoned output. A cross-core wait with no set is reported as
 * a deadlock naming kernel, core, operation and rule; the report of the mixed
 * kernel names its bound pipe and shows both cube and vector work.
 *
 * The backend's attention lowering (backends/ascend/lower_attention.c): the
 * launch (block_dim = the AIC count, a GM workspace), the listing with the
 * cube and vector parts and the cross-core flags, f32 taken (the f32 cube),
 * f8 refused with its reason, causal key tiles skipped (less cube traffic), the report.
 * MoE (backends/ascend/lower_moe.c): the listing with routing on the cube and
 * the vector units (ReduceMax with calIndex, GetValue), the gather, the expert
 * GEMMs on the cube, SwiGLU and combine on the vector units; f8 refused.
 * Their results against the interpreter are the conformance rows
 * ascend-sim:910b / 910c (tests/runtime/test_conformance.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qiao/backend.h"
#include "qiao/hal.h"
#include "qiao/hal_ascend.h"
#include "qiao/ir.h"
#include "qiao/runtime.h"

#define CHECK_OK(expr)                                                                             \
  do {                                                                                             \
    qiao_status_t st_ = (expr);                                                                    \
    cr_assert(st_ == NULL, "%s: %s", #expr, qiao_status_message(st_));                             \
  } while (0)

typedef void (*kfn)(void *const *, const int64_t *, int64_t, int64_t, int64_t, void *);

enum { SQ = 32, SKV = 96, D = 64, BR = 16, BC = 32, HR = BR / 2 };
enum { F32 = QIAO_ASCEND_F32, F16 = QIAO_ASCEND_F16 };
enum { P_V = QIAO_ASCEND_PIPE_V, P_M = QIAO_ASCEND_PIPE_M, P_FIX = QIAO_ASCEND_PIPE_FIX };
enum { P_MTE1 = QIAO_ASCEND_PIPE_MTE1, P_MTE2 = QIAO_ASCEND_PIPE_MTE2 };
enum { P_MTE3 = QIAO_ASCEND_PIPE_MTE3 };

/* workspace per group (bytes): S tile f32, P tile f16, O tile f32 */
enum { WS_S = 0, WS_P = BR * BC * 4, WS_O = WS_P + BR * BC * 2, WS_GROUP = WS_O + BR * D * 4 };
/* UB map of an AIV (bytes, 32-aligned) */
enum {
  UB_S = 0,                   /* HR x BC f32 */
  UB_T = UB_S + HR * BC * 4,  /* HR x BC f32 (scale, then broadcast row max) */
  UB_P = UB_T + HR * BC * 4,  /* HR x BC f16 */
  UB_O = UB_P + HR * BC * 2,  /* HR x D f32 */
  UB_B = UB_O + HR * D * 4,   /* HR x D f32 broadcast */
  UB_ACC = UB_B + HR * D * 4, /* HR x D f32 */
  UB_M = UB_ACC + HR * D * 4, /* per row: running max, new max, alpha, l, row value */
  UB_MN = UB_M + 32,
  UB_A = UB_MN + 32,
  UB_L = UB_A + 32,
  UB_R = UB_L + 32
};

static void iflag(void *c, int src, int dst) {
  qiao_ascend_set_flag(c, src, dst, 0);
  qiao_ascend_wait_flag(c, src, dst, 0);
}

/* AIV part of kv tile j: online softmax of its HR rows of S, P to GM. */
static void aiv_softmax(void *v, char *ws, int64_t half) {
  qiao_ascend_cross_wait_flag(v, 0);
  qiao_ascend_copy_gm_to_ub(v, UB_S, ws + WS_S + half * HR * BC * 4, HR * BC * 4);
  iflag(v, P_MTE2, P_V);
  qiao_ascend_vdup(v, F32, UB_T, 1.0 / sqrt((double)D), HR * BC);
  qiao_ascend_vmul(v, F32, UB_S, UB_S, UB_T, HR * BC);
  qiao_ascend_vreduce_max(v, F32, UB_R, UB_S, HR, BC);
  qiao_ascend_vmax(v, F32, UB_MN, UB_M, UB_R, HR);
  qiao_ascend_vsub(v, F32, UB_A, UB_M, UB_MN, HR);
  qiao_ascend_vexp(v, F32, UB_A, UB_A, HR);
  const int64_t dims[2] = {HR, BC}, strides[2] = {1, 0};
  qiao_ascend_vbroadcast(v, F32, UB_T, UB_MN, HR, 0, HR * BC, 2, dims, strides);
  qiao_ascend_vsub(v, F32, UB_S, UB_S, UB_T, HR * BC);
  qiao_ascend_vexp(v, F32, UB_S, UB_S, HR * BC);
  qiao_ascend_vreduce_sum(v, F32, UB_R, UB_S, HR, BC);
  qiao_ascend_vmul(v, F32, UB_L, UB_L, UB_A, HR);
  qiao_ascend_vadd(v, F32, UB_L, UB_L, UB_R, HR);
  qiao_ascend_vcast(v, F32, UB_M, F32, UB_MN, HR);
  qiao_ascend_vcast(v, F16, UB_P, F32, UB_S, HR * BC);
  iflag(v, P_V, P_MTE3);
  qiao_ascend_copy_ub_to_gm(v, ws + WS_P + half * HR * BC * 2, UB_P, HR * BC * 2);
  qiao_ascend_cross_set_flag(v, P_MTE3, 1);
}

/* AIV part after P V: acc = acc * alpha + O_j. */
static void aiv_update(void *v, char *ws, int64_t half) {
  qiao_ascend_cross_wait_flag(v, 2);
  qiao_ascend_copy_gm_to_ub(v, UB_O, ws + WS_O + half * HR * D * 4, HR * D * 4);
  iflag(v, P_MTE2, P_V);
  const int64_t dims[2] = {HR, D}, strides[2] = {1, 0};
  qiao_ascend_vbroadcast(v, F32, UB_B, UB_A, HR, 0, HR * D, 2, dims, strides);
  qiao_ascend_vmul(v, F32, UB_ACC, UB_ACC, UB_B, HR * D);
  qiao_ascend_vadd(v, F32, UB_ACC, UB_ACC, UB_O, HR * D);
}

/* bindings: Q, K, V (f16, row-major), O (f32), workspace */
static void k_flash(void *const *bind, const int64_t *cst, int64_t x, int64_t y, int64_t z,
                    void *core) {
  (void)cst, (void)x, (void)y, (void)z;
  int64_t g = qiao_ascend_get_block_idx(core);
  const uint16_t *q = bind[0], *k = bind[1], *vv = bind[2];
  float *o = bind[3];
  char *ws = (char *)bind[4] + g * WS_GROUP;
  void *aic = qiao_ascend_mix_core(core, 0);
  void *aiv[2] = {qiao_ascend_mix_core(core, 1), qiao_ascend_mix_core(core, 2)};
  int64_t r0 = g * BR;
  for (int h = 0; h < 2; ++h) {
    qiao_ascend_vdup(aiv[h], F32, UB_M, -INFINITY, HR);
    qiao_ascend_vdup(aiv[h], F32, UB_L, 0.0, HR);
    qiao_ascend_vdup(aiv[h], F32, UB_ACC, 0.0, HR * D);
  }
  qiao_ascend_copy_gm_to_l1_nd2nz(aic, 0, q + r0 * D, F16, BR, D, D);
  iflag(aic, P_MTE2, P_MTE1);
  qiao_ascend_load_l1_to_l0a(aic, 0, 0, F16, (BR / 16) * (D / 16));
  for (int64_t j = 0; j < SKV / BC; ++j) {
    /* cube: S = Q Kᵀ */
    qiao_ascend_copy_gm_to_l1_nd2nz_ex(aic, 4096, k + j * BC * D, F16, D, BC, D, D, BC, 1);
    iflag(aic, P_MTE2, P_MTE1);
    qiao_ascend_load_l1_to_l0b(aic, 0, 4096, F16, (D / 16) * (BC / 16));
    iflag(aic, P_MTE1, P_M);
    qiao_ascend_mmad(aic, 0, 0, 0, F16, BR, D, BC, 1);
    iflag(aic, P_M, P_FIX);
    qiao_ascend_fixpipe_l0c_to_gm(aic, ws + WS_S, F32, 0, BR, BC, BR, BC, BC);
    qiao_ascend_cross_set_flag(aic, P_FIX, 0);
    /* vector: online softmax */
    for (int h = 0; h < 2; ++h)
      aiv_softmax(aiv[h], ws, h);
    /* cube: O_j = P V_j */
    qiao_ascend_cross_wait_flag(aic, 1);
    qiao_ascend_copy_gm_to_l1_nd2nz(aic, 8192, ws + WS_P, F16, BR, BC, BC);
    qiao_ascend_copy_gm_to_l1_nd2nz(aic, 12288, vv + j * BC * D, F16, BC, D, D);
    iflag(aic, P_MTE2, P_MTE1);
    qiao_ascend_load_l1_to_l0a(aic, 2048, 8192, F16, (BR / 16) * (BC / 16));
    qiao_ascend_load_l1_to_l0b(aic, 4096, 12288, F16, (BC / 16) * (D / 16));
    iflag(aic, P_MTE1, P_M);
    qiao_ascend_mmad(aic, 2048, 2048, 4096, F16, BR, BC, D, 1);
    iflag(aic, P_M, P_FIX);
    qiao_ascend_fixpipe_l0c_to_gm(aic, ws + WS_O, F32, 2048, BR, D, BR, D, D);
    qiao_ascend_cross_set_flag(aic, P_FIX, 2);
    for (int h = 0; h < 2; ++h)
      aiv_update(aiv[h], ws, h);
  }
  for (int h = 0; h < 2; ++h) {
    const int64_t dims[2] = {HR, D}, strides[2] = {1, 0};
    qiao_ascend_vbroadcast(aiv[h], F32, UB_B, UB_L, HR, 0, HR * D, 2, dims, strides);
    qiao_ascend_vdiv(aiv[h], F32, UB_ACC, UB_ACC, UB_B, HR * D);
    iflag(aiv[h], P_V, P_MTE3);
    qiao_ascend_copy_ub_to_gm(aiv[h], o + (r0 + h * HR) * D, UB_ACC, HR * D * 4);
  }
}

/* the AIV waits for S, but the AIC never raises the flag */
static void k_missing_cross_flag(void *const *bind, const int64_t *cst, int64_t x, int64_t y,
                                 int64_t z, void *core) {
  (void)cst, (void)x, (void)y, (void)z;
  void *aic = qiao_ascend_mix_core(core, 0), *aiv = qiao_ascend_mix_core(core, 1);
  qiao_ascend_copy_gm_to_l1_nd2nz(aic, 0, bind[0], F16, 16, 16, 16);
  qiao_ascend_cross_wait_flag(aiv, 0);
  qiao_ascend_copy_gm_to_ub(aiv, 0, bind[4], 64);
}

/* a cross-core flag on a lone (non-mix) core */
static void k_lone_cross_flag(void *const *bind, const int64_t *cst, int64_t x, int64_t y,
                              int64_t z, void *core) {
  (void)bind, (void)cst, (void)x, (void)y, (void)z;
  qiao_ascend_cross_set_flag(core, P_MTE3, 0);
}

typedef struct run {
  qiao_hal_device_t *d;
  qiao_hal_executable_t *e;
  qiao_hal_buffer_t *buf[5];
} run_t;

static qiao_status_t run_flash(const char *uri, kfn fn, const char *name, float *out,
                               const uint16_t *q, const uint16_t *k, const uint16_t *v,
                               qiao_hal_ascend_report_t *rep) {
  run_t r = {0};
  CHECK_OK(qiao_hal_device_open(uri, &r.d));
  qiao_hal_entry_record_t rec = {name, QIAO_HAL_CPU_ENTRY_SIGNATURE, 5, 0, 0, (void *)fn, NULL};
  CHECK_OK(qiao_hal_executable_create_host(r.d, &rec, 1, NULL, NULL, &r.e));
  const size_t sizes[5] = {SQ * D * 2, SKV * D * 2, SKV * D * 2, SQ * D * 4,
                           (size_t)(SQ / BR) * WS_GROUP};
  for (int i = 0; i < 5; ++i)
    CHECK_OK(qiao_hal_buffer_alloc(r.d, sizes[i], &r.buf[i]));
  CHECK_OK(qiao_hal_buffer_write(r.buf[0], 0, q, sizes[0]));
  CHECK_OK(qiao_hal_buffer_write(r.buf[1], 0, k, sizes[1]));
  CHECK_OK(qiao_hal_buffer_write(r.buf[2], 0, v, sizes[2]));
  CHECK_OK(qiao_hal_buffer_write(r.buf[3], 0, out, sizes[3])); /* poisoned */
  qiao_hal_binding_t bind[5];
  for (int i = 0; i < 5; ++i)
    bind[i] = (qiao_hal_binding_t){r.buf[i], 0};
  int64_t grid[3] = {SQ / BR, 1, 1};
  qiao_status_t st = qiao_hal_dispatch(r.d, r.e, 0, grid, bind, 5, NULL, 0);
  if (!st) {
    CHECK_OK(qiao_hal_buffer_read(r.buf[3], 0, out, sizes[3]));
    if (rep) CHECK_OK(qiao_hal_ascend_last_report(r.d, rep));
  }
  for (int i = 0; i < 5; ++i)
    qiao_hal_buffer_release(r.buf[i]);
  qiao_hal_executable_release(r.e);
  qiao_hal_device_release(r.d);
  return st;
}

static float frand(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

Test(ascend_mixed, flash_attention_block_matches_the_reference) {
  static uint16_t q[SQ * D], k[SKV * D], v[SKV * D];
  static float out[SQ * D];
  unsigned seed = 7;
  for (int i = 0; i < SQ * D; ++i)
    q[i] = qiao_f32_to_f16(frand(&seed));
  for (int i = 0; i < SKV * D; ++i) {
    k[i] = qiao_f32_to_f16(frand(&seed));
    v[i] = qiao_f32_to_f16(frand(&seed));
  }
  for (int i = 0; i < SQ * D; ++i)
    out[i] = NAN;
  const char *const uris[] = {"ascend-sim:910b", "ascend-sim:910c"};
  for (int u = 0; u < 2; ++u) {
    qiao_hal_ascend_report_t rep;
    CHECK_OK(run_flash(uris[u], k_flash, "flash", out, q, k, v, &rep));
    double worst = 0;
    for (int i = 0; i < SQ; ++i) {
      double s[SKV], mx = -INFINITY, l = 0;
      for (int j = 0; j < SKV; ++j) {
        double a = 0;
        for (int p = 0; p < D; ++p)
          a += (double)qiao_f16_to_f32(q[i * D + p]) * qiao_f16_to_f32(k[j * D + p]);
        s[j] = a / sqrt((double)D);
        if (s[j] > mx) mx = s[j];
      }
      for (int j = 0; j < SKV; ++j)
        l += (s[j] = exp(s[j] - mx));
      for (int p = 0; p < D; ++p) {
        double a = 0;
        for (int j = 0; j < SKV; ++j)
          a += s[j] * qiao_f16_to_f32(v[j * D + p]);
        double ref = a / l, got = out[i * D + p];
        double err = fabs(got - ref) / (fabs(ref) + 1e-2);
        if (!(err <= worst)) worst = err;
        cr_assert(err < 1e-2, "%s: out[%d][%d] = %g, reference %g", uris[u], i, p, got, ref);
      }
    }
    /* the report: simulated, both units busy, a bound pipe named */
    char text[1024];
    qiao_hal_ascend_report_format(&rep, text, sizeof text);
    cr_expect(strstr(text, "simulated") != NULL, "%s", text);
    cr_expect(rep.cube_util > 0 && rep.vector_util > 0, "%s", text);
    cr_expect(rep.bytes[QIAO_ASCEND_PATH_L0C_GM] > 0 && rep.bytes[QIAO_ASCEND_PATH_GM_UB] > 0, "%s",
              text);
    cr_expect(strncmp(rep.bound, "PIPE_", 5) == 0 || !strcmp(rep.bound, "launch") ||
                  !strcmp(rep.bound, "cross-core sync"),
              "%s", text);
    cr_expect_eq(rep.blocks, SQ / BR);
  }
}

static void expect_parts(qiao_status_t st, const char *const *parts) {
  cr_assert_not_null(st, "the dispatch should fail");
  const char *msg = qiao_status_message(st);
  for (; *parts; ++parts)
    cr_expect(strstr(msg, *parts) != NULL, "'%s' should name '%s'", msg, *parts);
  qiao_status_free(st);
}

Test(ascend_mixed, a_cross_flag_never_set_is_a_deadlock) {
  static uint16_t q[SQ * D], k[SKV * D], v[SKV * D];
  static float out[SQ * D];
  const char *const parts[] = {"missing",  "AIV",       "CrossCoreWaitFlag",
                               "deadlock", "never set", NULL};
  expect_parts(run_flash("ascend-sim:910b", k_missing_cross_flag, "missing", out, q, k, v, NULL),
               parts);
}

Test(ascend_mixed, a_cross_flag_on_a_lone_core_is_refused) {
  static uint16_t q[SQ * D], k[SKV * D], v[SKV * D];
  static float out[SQ * D];
  const char *const parts[] = {"lone", "CrossCoreSetFlag", "mix group", NULL};
  expect_parts(run_flash("ascend-sim:910b", k_lone_cross_flag, "lone", out, q, k, v, NULL), parts);
}

/* the cube and the vector cores overlap across kv tiles as far as the flags
 * allow: the group's time is below the sum of its members' busy pipes */
Test(ascend_mixed, flags_carry_time_between_the_members) {
  static uint16_t q[SQ * D], k[SKV * D], v[SKV * D];
  static float out[SQ * D];
  unsigned seed = 3;
  for (int i = 0; i < SQ * D; ++i)
    q[i] = qiao_f32_to_f16(frand(&seed));
  for (int i = 0; i < SKV * D; ++i)
    k[i] = v[i] = qiao_f32_to_f16(frand(&seed));
  qiao_hal_ascend_report_t rep;
  CHECK_OK(run_flash("ascend-sim:910b:cores=1", k_flash, "flash", out, q, k, v, &rep));
  /* one AIC runs both groups back to back: at least the cross-flag
   * latencies of 3 hand-overs per kv tile are on the critical path */
  cr_expect(rep.cycles > (SQ / BR) * (SKV / BC) * 3 * 100.0, "%.0f cycles", rep.cycles);
  cr_expect(rep.pipe_busy[QIAO_ASCEND_PIPE_M] > 0 && rep.pipe_busy[QIAO_ASCEND_PIPE_V] > 0);
}

/* ------------------------------------------------------------ the backend */

static const qiao_backend_t *ascend(void) {
  const qiao_backend_t *b = qiao_backend_find("ascend");
  cr_assert_not_null(b);
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

#define ATTN_GRAPH(dt, extra)                                                                      \
  "graph @t(%q: " dt "[2, 4, 20, 32], %k: " dt "[2, 2, 70, 32], %v: " dt "[2, 2, 70, 32], "        \
  "%n: i32[2]) -> (" dt "[2, 4, 20, 32]) {\n%o = attention %q, %k, %v, %n " extra                  \
  "\nreturn %o\n}\n"

Test(ascend_mixed, attention_listing_shows_cube_vector_and_cross_core_flags) {
  qiao_graph_t *g = parse(ATTN_GRAPH("f16", "{causal = true}"));
  qiao_partition_t *p = NULL;
  CHECK_OK(qiao_ir_partition(g, ascend()->fusion_policy(NULL), &p));
  cr_assert_eq(p->kernels[0].kind, QIAO_KD_ATTENTION);
  qiao_hal_device_t *d = NULL;
  CHECK_OK(qiao_hal_device_open("ascend-sim:910b", &d));
  char reason[256] = "";
  cr_expect(ascend()->supports(&p->kernels[0], d, reason, sizeof reason), "%s", reason);
  qiao_backend_module_t *m = NULL;
  CHECK_OK(qiao_backend_module_create(ascend(), d, NULL, &m));
  qiao_kernel_launch_t l;
  CHECK_OK(qiao_backend_module_add_kernel(m, &p->kernels[0], "attn", &l));
  cr_expect_eq(l.grid[0], 24, "block_dim = the AIC count (groups of 1 AIC + 2 AIV)");
  cr_expect_gt(l.workspace_bytes, 0, "S, P and O tiles go through a GM workspace");
  char ll[256], lst[256];
  snprintf(ll, sizeof ll, "/tmp/qiao_ascmix_%d.ll", (int)getpid());
  snprintf(lst, sizeof lst, "/tmp/qiao_ascmix_%d.txt", (int)getpid());
  CHECK_OK(qiao_backend_module_emit(m, QIAO_ARTIFACT_LLVM, ll));
  CHECK_OK(qiao_backend_module_emit(m, QIAO_ARTIFACT_LISTING, lst));
  char *ir = slurp(ll), *text = slurp(lst);
  const char *in_ir[] = {"call ptr @qiao_ascend_mix_core", "call void @qiao_ascend_cross_set_flag",
                         "call void @qiao_ascend_cross_wait_flag", "call void @qiao_ascend_mmad",
                         "call void @qiao_ascend_vdup_masked"};
  for (size_t i = 0; i < sizeof in_ir / sizeof in_ir[0]; ++i)
    cr_expect(strstr(ir, in_ir[i]) != NULL, "the IR calls '%s'", in_ir[i]);
  const char *in_listing[] = {
      "kernel attn (attention, mixed: block_dim 24 groups of 1 AIC + 2 AIV)",
      "AIC: S = Q Kᵀ",
      "K tile, transposed (Kᵀ)",
      "PIPE_M     Mmad",
      "PIPE_FIX   Fixpipe L0C->GM",
      "PIPE_S     CrossCoreSetFlag<2>",
      "PIPE_S     CrossCoreWaitFlag",
      "AIV 1: online softmax",
      "AIV 2: online softmax",
      "PIPE_V     ReduceMax",
      "PIPE_V     Exp",
      "PIPE_V     Duplicate (bit mask)",
      "AIC: O_j = P V",
      "acc = acc alpha + O_j"};
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

static void expect_refused(const char *text, const char *uri, const char *why) {
  qiao_graph_t *g = parse(text);
  qiao_partition_t *p = NULL;
  CHECK_OK(qiao_ir_partition(g, ascend()->fusion_policy(NULL), &p));
  qiao_hal_device_t *d = NULL;
  CHECK_OK(qiao_hal_device_open(uri, &d));
  char reason[256] = "";
  cr_expect_not(ascend()->supports(&p->kernels[0], d, reason, sizeof reason));
  cr_expect(strstr(reason, why) != NULL, "'%s' should say '%s'", reason, why);
  qiao_hal_device_release(d);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

Test(ascend_mixed, f8_attention_is_refused_with_its_reason) {
  expect_refused(ATTN_GRAPH("f8e4m3", ""), "ascend-sim:910b", "no FP8 on Ascend A2/A3");
}

Test(ascend_mixed, f32_attention_runs_on_the_f32_cube) {
  qiao_graph_t *g = parse(ATTN_GRAPH("f32", "{causal = true}"));
  qiao_partition_t *p = NULL;
  CHECK_OK(qiao_ir_partition(g, ascend()->fusion_policy(NULL), &p));
  qiao_hal_device_t *d = NULL;
  CHECK_OK(qiao_hal_device_open("ascend-sim:910b", &d));
  char reason[256] = "";
  cr_expect(ascend()->supports(&p->kernels[0], d, reason, sizeof reason), "%s", reason);
  qiao_hal_device_release(d);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

/* one run through the runtime; the device's report of the attention kernel */
static void run_report(const char *text, qiao_hal_ascend_report_t *out) {
  qiao_graph_t *g = parse(text);
  qiao_hal_device_t *d = NULL;
  CHECK_OK(qiao_hal_device_open("ascend-sim:910b", &d));
  qiao_program_t *p = NULL;
  CHECK_OK(qiao_program_compile(NULL, g, d, NULL, &p));
  qiao_tensor_t *in[3] = {0};
  for (int32_t i = 0; i < 3; ++i) {
    CHECK_OK(qiao_tensor_create(g->values[g->inputs[i]].type, &in[i]));
    size_t n = qiao_tensor_nbytes(in[i]) / qiao_dtype_size(in[i]->type.dtype);
    for (size_t k = 0; k < n; ++k)
      qiao_tensor_set_f64(in[i], (int64_t)k, (double)((k * 7) % 11) * 0.05 - 0.25);
  }
  qiao_tensor_t *outs[1] = {0};
  CHECK_OK(qiao_program_run(p, (const qiao_tensor_t *const *)in, outs));
  CHECK_OK(qiao_hal_ascend_last_report(d, out));
  qiao_tensor_destroy(outs[0]);
  for (int32_t i = 0; i < 3; ++i)
    qiao_tensor_destroy(in[i]);
  qiao_program_destroy(p);
  qiao_hal_device_release(d);
  qiao_ir_graph_destroy(g);
}

#define PREFILL(extra)                                                                             \
  "graph @t(%q: bf16[1, 8, 256, 128], %k: bf16[1, 4, 256, 128], %v: bf16[1, 4, 256, 128]) -> "     \
  "(bf16[1, 8, 256, 128]) {\n%o = attention %q, %k, %v " extra "\nreturn %o\n}\n"

Test(ascend_mixed, causal_tiles_are_skipped_and_the_report_names_the_bound_pipe, .timeout = 120) {
  qiao_hal_ascend_report_t full, causal;
  run_report(PREFILL(""), &full);
  run_report(PREFILL("{causal = true}"), &causal);
  char buf[1024];
  qiao_hal_ascend_report_format(&causal, buf, sizeof buf);
  cr_log_info("%s", buf);
  cr_expect(strstr(buf, "simulated") != NULL, "%s", buf);
  /* the chain of S -> P -> O hand-overs through GM bounds this prefill, not a pipe */
  cr_expect_str_eq(causal.bound, "cross-core sync", "%s", buf);
  cr_expect_gt(causal.cube_util, 0, "%s", buf);
  cr_expect_gt(causal.vector_util, 0, "%s", buf);
  /* 4 key tiles of 64 per 16-row query tile without a mask; causal: only the
   * tiles at or below the diagonal, 2.5 on average -> ~5/8 of the K/V traffic */
  double ratio = causal.bytes[QIAO_ASCEND_PATH_GM_L1] / full.bytes[QIAO_ASCEND_PATH_GM_L1];
  cr_expect(ratio > 0.5 && ratio < 0.75, "causal / full GM->L1 bytes = %.3f", ratio);
  cr_expect_lt(causal.ns, full.ns);
}

#define MOE_GRAPH(dt)                                                                              \
  "graph @t(%x: " dt "[20, 32], %r: " dt "[32, 6], %g: " dt "[6, 32, 24], %u: " dt                 \
  "[6, 32, 24], %d: " dt "[6, 24, 32]) -> (" dt "[20, 32]) {\n"                                    \
  "%y = moe %x, %r, %g, %u, %d {top_k = 2}\nreturn %y\n}\n"

Test(ascend_mixed, moe_listing_shows_routing_experts_and_combine) {
  qiao_graph_t *g = parse(MOE_GRAPH("bf16"));
  qiao_partition_t *p = NULL;
  CHECK_OK(qiao_ir_partition(g, ascend()->fusion_policy(NULL), &p));
  cr_assert_eq(p->kernels[0].kind, QIAO_KD_MOE);
  qiao_hal_device_t *d = NULL;
  CHECK_OK(qiao_hal_device_open("ascend-sim:910b", &d));
  char reason[256] = "";
  cr_expect(ascend()->supports(&p->kernels[0], d, reason, sizeof reason), "%s", reason);
  qiao_backend_module_t *m = NULL;
  CHECK_OK(qiao_backend_module_create(ascend(), d, NULL, &m));
  qiao_kernel_launch_t l;
  CHECK_OK(qiao_backend_module_add_kernel(m, &p->kernels[0], "moe", &l));
  cr_expect_eq(l.grid[0], 24);
  cr_expect_gt(l.workspace_bytes, 0);
  char lst[256];
  snprintf(lst, sizeof lst, "/tmp/qiao_ascmix_moe_%d.txt", (int)getpid());
  CHECK_OK(qiao_backend_module_emit(m, QIAO_ARTIFACT_LISTING, lst));
  char *text = slurp(lst);
  const char *in_listing[] = {"kernel moe (moe, mixed: block_dim 24 groups of 1 AIC + 2 AIV)",
                              "AIC: logits = X · router",
                              "PIPE_V     ReduceMax (calIndex)",
                              "PIPE_S     GetValue (UB)",
                              "AIV 1: gather the expert's token rows",
                              "AIC: G = X_e · gate_e, U = X_e · up_e",
                              "PIPE_V     Silu",
                              "AIC: Y = H · down_e",
                              "acc[token] += w · Y[slot]",
                              "PIPE_S     CrossCoreSetFlag<2>",
                              "PIPE_S     CrossCoreWaitFlag"};
  for (size_t i = 0; i < sizeof in_listing / sizeof in_listing[0]; ++i)
    cr_expect(strstr(text, in_listing[i]) != NULL, "the listing has '%s':\n%s", in_listing[i],
              text);
  free(text);
  unlink(lst);
  qiao_backend_module_destroy(m);
  qiao_hal_device_release(d);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

Test(ascend_mixed, f8_moe_is_refused_with_its_reason) {
  expect_refused(MOE_GRAPH("f8e5m2"), "ascend-sim:910b", "no FP8 on Ascend A2/A3");
}

Test(ascend_mixed, moe_report_shows_cube_and_vector_work, .timeout = 120) {
  qiao_graph_t *g = parse(MOE_GRAPH("f16"));
  qiao_hal_device_t *d = NULL;
  CHECK_OK(qiao_hal_device_open("ascend-sim:910b", &d));
  qiao_program_t *p = NULL;
  CHECK_OK(qiao_program_compile(NULL, g, d, NULL, &p));
  qiao_tensor_t *in[5] = {0};
  for (int32_t i = 0; i < 5; ++i) {
    CHECK_OK(qiao_tensor_create(g->values[g->inputs[i]].type, &in[i]));
    size_t n = qiao_tensor_nbytes(in[i]) / qiao_dtype_size(in[i]->type.dtype);
    for (size_t k = 0; k < n; ++k)
      qiao_tensor_set_f64(in[i], (int64_t)k, (double)((k * 7 + (size_t)i) % 13) * 0.04 - 0.24);
  }
  qiao_tensor_t *outs[1] = {0};
  CHECK_OK(qiao_program_run(p, (const qiao_tensor_t *const *)in, outs));
  qiao_hal_ascend_report_t r;
  CHECK_OK(qiao_hal_ascend_last_report(d, &r));
  char buf[1024];
  qiao_hal_ascend_report_format(&r, buf, sizeof buf);
  cr_log_info("%s", buf);
  cr_expect(strstr(buf, "simulated") != NULL, "%s", buf);
  cr_expect_gt(r.cube_util, 0, "%s", buf);
  cr_expect_gt(r.vector_util, 0, "%s", buf);
  cr_expect_gt(r.bytes[QIAO_ASCEND_PATH_L0C_GM], 0, "%s", buf);
  cr_expect(r.bound[0] != 0, "%s", buf);
  qiao_tensor_destroy(outs[0]);
  for (int32_t i = 0; i < 5; ++i)
    qiao_tensor_destroy(in[i]);
  qiao_program_destroy(p);
  qiao_hal_device_release(d);
  qiao_ir_graph_destroy(g);
}
