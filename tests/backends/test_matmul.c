/* CPU backend — MATMUL lowering against an f64 reference: shapes with edge
 * tiles, transposes, batch broadcast, f32/bf16/f16/mixed dtypes, fused
 * epilogues (bias, silu, residual) and the rms/layer-norm prologue, on both
 * code shapes (packed GEMM and the decode DOT path). i8 x i8 (integer
 * accumulation) and zero-dimension cases are checked against the reference
 * interpreter (qiao_interp_run), integers bit-exactly. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/backend_cpu.h"
#include "qiao/hal.h"
#include "qiao/ir.h"
#include "support/oracle.h"

typedef enum { EPI_NONE, EPI_BIAS, EPI_SILU, EPI_RESID, EPI_BIAS_SILU } epi_t;

typedef struct mm_case {
  int nbd_a, nbd_b;     /* batch dims of a and b */
  int64_t ba[2], bb[2]; /* their sizes (right-aligned) */
  int64_t M, N, K;
  bool ta, tb;
  qiao_dtype_t at, bt, ot;
  epi_t epi;
  int norm; /* 0 none, 1 rms, 2 layer */
  qiao_dtype_t norm_dt;
  int threads;
  const char *cpu, *features; /* NULL: the host */
  bool fill_const;            /* a and b hold the constants ca and cb (else random) */
  double ca, cb;
  bool last_k_one; /* with fill_const: a and b are 1 at k = K - 1 */
} mm_case_t;

static void contiguous(qiao_kd_operand_t *op) {
  int64_t s = 1;
  for (int d = op->type.shape.rank - 1; d >= 0; --d) {
    op->strides[d] = s;
    s *= op->type.shape.dims[d];
  }
}

static qiao_dtype_t wider(qiao_dtype_t a, qiao_dtype_t b) {
  if (a == QIAO_I8 && b == QIAO_I8) return QIAO_I32;
  if (a == QIAO_F32 || b == QIAO_F32) return QIAO_F32;
  return a;
}

static double silu(double x) { return x / (1.0 + exp(-x)); }

/* Output dims [batch..., M, N]. */
static void out_shape(const mm_case_t *c, qiao_shape_t *s) {
  int nbd = c->nbd_a > c->nbd_b ? c->nbd_a : c->nbd_b;
  s->rank = nbd + 2;
  for (int d = 0; d < nbd; ++d) {
    int da = d - (nbd - c->nbd_a), db = d - (nbd - c->nbd_b);
    int64_t x = da >= 0 ? c->ba[da] : 1, y = db >= 0 ? c->bb[db] : 1;
    s->dims[d] = x == 1 ? y : x; /* numpy: 1 broadcasts, 0 stays 0 */
  }
  s->dims[nbd] = c->M;
  s->dims[nbd + 1] = c->N;
}

static double rel_err_tol(const mm_case_t *c) {
  if (c->ot != QIAO_F32 || c->at != QIAO_F32 || c->bt != QIAO_F32 ||
      (c->norm && c->norm_dt != QIAO_F32))
    return 1e-2;
  /* f32: 1e-5, growing like sqrt(K/64) for long reductions. */
  double t = 1e-5;
  if (c->K > 64) t *= sqrt((double)c->K / 64.0);
  return t;
}

/* Runs the descriptor's graph (matmul, then `add bias` for EPI_BIAS) on the
 * reference interpreter with the same inputs and compares with the kernel's
 * output `res`: integer outputs bit-exactly. */
static void check_with_interp(const mm_case_t *c, const qiao_kernel_desc_t *kd,
                              qiao_tensor_t *const *in, int ein, const void *res) {
  cr_assert(c->epi == EPI_NONE || c->epi == EPI_BIAS, "interp check: epilogue %d", c->epi);
  qiao_graph_t *gr = NULL;
  cr_assert_null(qiao_ir_graph_create("mm", &gr));
  int32_t va, vb, ve = -1;
  cr_assert_null(qiao_ir_graph_add_input(gr, "a", kd->inputs[0].type, &va));
  cr_assert_null(qiao_ir_graph_add_input(gr, "b", kd->inputs[1].type, &vb));
  if (ein >= 0) cr_assert_null(qiao_ir_graph_add_input(gr, "e", kd->inputs[ein].type, &ve));
  qiao_attrs_t at;
  memset(&at, 0, sizeof at);
  at.transpose_a = c->ta;
  at.transpose_b = c->tb;
  qiao_status_t st = NULL;
  int32_t ops[2] = {va, vb};
  int32_t y = qiao_ir_build(gr, QIAO_OP_MATMUL, ops, 2, &at, "y", &st);
  cr_assert(y >= 0, "%s", qiao_status_message(st));
  if (ein >= 0) {
    int32_t ops2[2] = {y, ve};
    y = qiao_ir_build(gr, QIAO_OP_ADD, ops2, 2, NULL, "z", &st);
    cr_assert(y >= 0, "%s", qiao_status_message(st));
  }
  if (c->ot != kd->primary_dtype) {
    qiao_attrs_t ct;
    memset(&ct, 0, sizeof ct);
    ct.to = c->ot;
    y = qiao_ir_build(gr, QIAO_OP_CAST, &y, 1, &ct, "o", &st);
    cr_assert(y >= 0, "%s", qiao_status_message(st));
  }
  cr_assert_null(qiao_ir_graph_set_outputs(gr, &y, 1));
  const qiao_tensor_t *ins[3] = {in[0], in[1], ein >= 0 ? in[ein] : NULL};
  qiao_tensor_t *ref = NULL;
  st = qiao_interp_run(gr, ins, NULL, NULL, NULL, 0, &ref);
  cr_assert_null(st, "%s", qiao_status_message(st));
  cr_assert_eq(ref->type.dtype, c->ot);
  qiao_tensor_t got = {.type = ref->type, .data = (void *)res, .owns_data = false};
  double err = oracle_error(&got, ref), tol = oracle_tolerance(c->ot);
  cr_expect(err <= tol, "M=%ld N=%ld K=%ld ta=%d tb=%d %s x %s -> %s epi=%d cpu=%s: error %g > %g",
            (long)c->M, (long)c->N, (long)c->K, c->ta, c->tb, qiao_dtype_name(c->at),
            qiao_dtype_name(c->bt), qiao_dtype_name(c->ot), c->epi, c->cpu ? c->cpu : "host", err,
            tol);
  qiao_tensor_destroy(ref);
  qiao_ir_graph_destroy(gr);
}

static void run_case(const mm_case_t *c) {
  if (getenv("MM_TRACE"))
    fprintf(stderr, "case %s M=%ld N=%ld K=%ld tb=%d %s\n", c->cpu ? c->cpu : "host", (long)c->M,
            (long)c->N, (long)c->K, c->tb, qiao_dtype_name(c->at));
  qiao_kernel_desc_t *kd = calloc(1, sizeof(*kd));
  qiao_kd_operand_t kd_inputs[QIAO_KD_MAX_OPERANDS] = {0}, kd_outputs[1] = {0};
  qiao_expr_node_t kd_expr[QIAO_EXPR_MAX_NODES] = {0};
  int64_t e_out_strides[QIAO_MAX_RANK] = {0};
  kd->inputs = kd_inputs;
  kd->outputs = kd_outputs;
  kd->expr = kd_expr;
  kd->kind = QIAO_KD_MATMUL;
  kd->op = QIAO_OP_MATMUL;
  kd->attrs.transpose_a = c->ta;
  kd->attrs.transpose_b = c->tb;
  kd->primary_dtype = wider(c->norm ? c->norm_dt : c->at, c->bt);
  kd->n_primary_inputs = 2;
  kd->n_outputs = 1;
  kd->norm_bias_input = -1;
  qiao_kd_operand_t *A = &kd->inputs[0], *B = &kd->inputs[1], *O = &kd->outputs[0];
  A->type.dtype = c->at;
  A->type.shape.rank = c->nbd_a + 2;
  for (int d = 0; d < c->nbd_a; ++d)
    A->type.shape.dims[d] = c->ba[d];
  A->type.shape.dims[c->nbd_a] = c->ta ? c->K : c->M;
  A->type.shape.dims[c->nbd_a + 1] = c->ta ? c->M : c->K;
  B->type.dtype = c->bt;
  B->type.shape.rank = c->nbd_b + 2;
  for (int d = 0; d < c->nbd_b; ++d)
    B->type.shape.dims[d] = c->bb[d];
  B->type.shape.dims[c->nbd_b] = c->tb ? c->N : c->K;
  B->type.shape.dims[c->nbd_b + 1] = c->tb ? c->K : c->N;
  O->type.dtype = c->ot;
  out_shape(c, &O->type.shape);
  contiguous(A);
  contiguous(B);
  contiguous(O);
  int r = O->type.shape.rank, nbd = r - 2;
  kd->n_inputs = 2;
  int norm_w = -1, norm_b = -1, ein = -1;
  if (c->norm) {
    kd->has_norm_prologue = true;
    kd->norm_op = c->norm == 1 ? QIAO_OP_RMS_NORM : QIAO_OP_LAYER_NORM;
    kd->norm_eps = 1e-5;
    kd->norm_dtype = c->norm_dt;
    norm_w = kd->n_inputs++;
    kd->inputs[norm_w].type.dtype = c->at;
    kd->inputs[norm_w].type.shape.rank = 1;
    kd->inputs[norm_w].type.shape.dims[0] = c->K;
    contiguous(&kd->inputs[norm_w]);
    kd->norm_weight_input = norm_w;
    if (c->norm == 2) {
      norm_b = kd->n_inputs++;
      kd->inputs[norm_b] = kd->inputs[norm_w];
      kd->norm_bias_input = norm_b;
    }
  }
  qiao_dtype_t pd = kd->primary_dtype;
  if (c->epi == EPI_BIAS || c->epi == EPI_BIAS_SILU || c->epi == EPI_RESID) {
    ein = kd->n_inputs++;
    qiao_kd_operand_t *E = &kd->inputs[ein];
    E->out_strides = e_out_strides;
    E->type.dtype = pd;
    if (c->epi == EPI_RESID) {
      E->type.shape = O->type.shape;
      contiguous(E);
      for (int d = 0; d < r; ++d)
        E->out_strides[d] = E->strides[d];
    } else {
      E->type.shape.rank = 1;
      E->type.shape.dims[0] = c->N;
      contiguous(E);
      E->out_strides[r - 1] = 1;
    }
  }
  qiao_expr_node_t *x = kd->expr;
  switch (c->epi) {
  case EPI_NONE: break;
  case EPI_BIAS:
  case EPI_RESID:
    x[0] = (qiao_expr_node_t){.kind = QIAO_EXPR_ACC, .dtype = pd};
    x[1] = (qiao_expr_node_t){.kind = QIAO_EXPR_INPUT, .input = ein, .dtype = pd};
    x[2] = (qiao_expr_node_t){.kind = QIAO_EXPR_OP, .op = QIAO_OP_ADD, .args = {0, 1}, .dtype = pd};
    kd->n_expr = 3;
    break;
  case EPI_SILU:
    x[0] = (qiao_expr_node_t){.kind = QIAO_EXPR_ACC, .dtype = pd};
    x[1] =
        (qiao_expr_node_t){.kind = QIAO_EXPR_OP, .op = QIAO_OP_SILU, .args = {0, 0}, .dtype = pd};
    kd->n_expr = 2;
    break;
  case EPI_BIAS_SILU:
    x[0] = (qiao_expr_node_t){.kind = QIAO_EXPR_ACC, .dtype = pd};
    x[1] = (qiao_expr_node_t){.kind = QIAO_EXPR_INPUT, .input = ein, .dtype = pd};
    x[2] = (qiao_expr_node_t){.kind = QIAO_EXPR_OP, .op = QIAO_OP_ADD, .args = {0, 1}, .dtype = pd};
    x[3] =
        (qiao_expr_node_t){.kind = QIAO_EXPR_OP, .op = QIAO_OP_SILU, .args = {2, 0}, .dtype = pd};
    kd->n_expr = 4;
    break;
  }

  /* Data. */
  uint64_t rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(c->M * 131 + c->N * 17 + c->K);
  qiao_tensor_t *in[QIAO_KD_MAX_OPERANDS];
  for (int i = 0; i < kd->n_inputs; ++i) {
    cr_assert_null(qiao_tensor_create(kd->inputs[i].type, &in[i]));
    double lo = -1.0, hi = 1.0;
    if (i == norm_w) lo = 0.5, hi = 1.5;
    if (kd->inputs[i].type.dtype == QIAO_I8) lo = -128, hi = 128;
    if (kd->inputs[i].type.dtype == QIAO_I32) lo = -1000, hi = 1000;
    qiao_tensor_fill_random(in[i], &rng, lo, hi);
    if (c->fill_const && i < 2) {
      int64_t n = qiao_shape_numel(&kd->inputs[i].type.shape);
      const qiao_shape_t *sh = &kd->inputs[i].type.shape;
      int64_t rows = sh->dims[sh->rank - 2], cols = sh->dims[sh->rank - 1];
      bool k_rows = i == 0 ? c->ta : !c->tb; /* K is the row dim */
      for (int64_t e = 0; e < n; ++e) {
        int64_t w = e % (rows * cols), k = k_rows ? w / cols : w % cols;
        double v = i == 0 ? c->ca : c->cb;
        if (c->last_k_one && k == c->K - 1) v = 1;
        qiao_tensor_set_f64(in[i], e, v);
      }
    }
  }
  int64_t on = qiao_shape_numel(&O->type.shape);
  size_t osz = (size_t)on * qiao_dtype_size(c->ot);

  /* Compile, run. */
  qiao_cpu_options_t opts = {.n_threads = c->threads, .cpu = c->cpu, .features = c->features};
  qiao_cpu_module_t *mod = NULL;
  cr_assert_null(qiao_cpu_module_create(&opts, &mod));
  qiao_kernel_launch_t launch;
  qiao_status_t st = qiao_cpu_module_add_kernel(mod, kd, "mm", &launch);
  cr_assert_null(st, "%s", qiao_status_message(st));
  qiao_hal_device_t *dev = NULL;
  char uri[32];
  snprintf(uri, sizeof uri, "cpu:threads=%d", c->threads);
  cr_assert_null(qiao_hal_device_open(uri, &dev));
  qiao_hal_executable_t *exe = NULL;
  st = qiao_cpu_module_jit(mod, dev, &exe);
  cr_assert_null(st, "%s", qiao_status_message(st));
  qiao_hal_binding_t bind[QIAO_KD_MAX_OPERANDS + 1];
  qiao_hal_buffer_t *bufs[QIAO_KD_MAX_OPERANDS + 1];
  for (int i = 0; i < kd->n_inputs; ++i) {
    size_t n = qiao_tensor_nbytes(in[i]);
    cr_assert_null(qiao_hal_buffer_alloc(dev, n ? n : 1, &bufs[i]));
    cr_assert_null(qiao_hal_buffer_write(bufs[i], 0, in[i]->data, n));
    bind[i] = (qiao_hal_binding_t){bufs[i], 0};
  }
  int ob = kd->n_inputs;
  cr_assert_null(qiao_hal_buffer_alloc(dev, osz ? osz : 1, &bufs[ob]));
  float *poison = malloc(osz + 1);
  memset(poison, 0xFF, osz); /* NaN in every dtype */
  cr_assert_null(qiao_hal_buffer_write(bufs[ob], 0, poison, osz));
  bind[ob] = (qiao_hal_binding_t){bufs[ob], 0};
  int32_t idx;
  cr_assert_null(qiao_hal_executable_lookup(exe, "mm", &idx, NULL));
  st = qiao_hal_dispatch(dev, exe, idx, launch.grid, bind, ob + 1, NULL, 0);
  cr_assert_null(st, "%s", qiao_status_message(st));
  void *res = malloc(osz + 1);
  cr_assert_null(qiao_hal_buffer_read(bufs[ob], 0, res, osz));

  if (c->at == QIAO_I8 && c->bt == QIAO_I8) {
    check_with_interp(c, kd, in, ein, res);
    goto done;
  }

  /* Reference in f64. */
  int64_t M = c->M, N = c->N, K = c->K;
  double *an = malloc(sizeof(double) * (size_t)(M * K + 1));
  double maxref = 0, maxerr = 0;
  int64_t worst = -1;
  int64_t nbatch = M > 0 && N > 0 ? on / (M * N) : 0; /* 0: nothing to check */
  for (int64_t bi = 0; bi < nbatch; ++bi) {
    /* batch coords → offsets */
    int64_t aoff = 0, boff = 0, rem = bi;
    for (int d = nbd - 1; d >= 0; --d) {
      int64_t od = O->type.shape.dims[d], cc = rem % od;
      rem /= od;
      int da = d - (nbd - c->nbd_a), db = d - (nbd - c->nbd_b);
      if (da >= 0 && A->type.shape.dims[da] != 1) aoff += cc * A->strides[da];
      if (db >= 0 && B->type.shape.dims[db] != 1) boff += cc * B->strides[db];
    }
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t k = 0; k < K; ++k) {
        int64_t ai = aoff + (c->ta ? k * M + m : m * K + k);
        an[m * K + k] = qiao_tensor_get_f64(in[0], ai);
      }
      if (c->norm) {
        double mean = 0, var = 0;
        if (c->norm == 2) {
          for (int64_t k = 0; k < K; ++k)
            mean += an[m * K + k];
          mean /= (double)K;
        }
        for (int64_t k = 0; k < K; ++k)
          var += (an[m * K + k] - mean) * (an[m * K + k] - mean);
        double rstd = 1.0 / sqrt(var / (double)K + kd->norm_eps);
        for (int64_t k = 0; k < K; ++k) {
          double y = (an[m * K + k] - mean) * rstd * qiao_tensor_get_f64(in[norm_w], k);
          if (norm_b >= 0) y += qiao_tensor_get_f64(in[norm_b], k);
          an[m * K + k] = qiao_round_to_dtype(y, c->norm_dt);
        }
      }
    }
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k)
          s += an[m * K + k] * qiao_tensor_get_f64(in[1], boff + (c->tb ? n * K + k : k * N + n));
        s = qiao_round_to_dtype(s, pd);
        int64_t oi = bi * M * N + m * N + n;
        double e = 0;
        if (ein >= 0) e = qiao_tensor_get_f64(in[ein], c->epi == EPI_RESID ? oi : n);
        switch (c->epi) {
        case EPI_NONE: break;
        case EPI_BIAS:
        case EPI_RESID: s = qiao_round_to_dtype(s + e, pd); break;
        case EPI_SILU: s = qiao_round_to_dtype(silu(s), pd); break;
        case EPI_BIAS_SILU:
          s = qiao_round_to_dtype(silu(qiao_round_to_dtype(s + e, pd)), pd);
          break;
        }
        s = qiao_round_to_dtype(s, c->ot);
        double got = qiao_load_f64(res, c->ot, oi);
        double err = fabs(got - s);
        if (isnan(got)) err = INFINITY;
        if (fabs(s) > maxref) maxref = fabs(s);
        if (err > maxerr) maxerr = err, worst = oi;
      }
  }
  double rel = maxerr / (maxref > 0 ? maxref : 1);
  cr_expect(rel <= rel_err_tol(c),
            "M=%ld N=%ld K=%ld ta=%d tb=%d %s x %s -> %s epi=%d norm=%d: rel err %g (worst at %ld)",
            (long)M, (long)N, (long)K, c->ta, c->tb, qiao_dtype_name(c->at), qiao_dtype_name(c->bt),
            qiao_dtype_name(c->ot), c->epi, c->norm, rel, (long)worst);
  free(an);

done:
  free(res);
  free(poison);
  for (int i = 0; i <= ob; ++i)
    qiao_hal_buffer_release(bufs[i]);
  for (int i = 0; i < kd->n_inputs; ++i)
    qiao_tensor_destroy(in[i]);
  qiao_hal_executable_release(exe);
  qiao_hal_device_release(dev);
  qiao_cpu_module_destroy(mod);
  free(kd);
}

static mm_case_t f32case(int64_t M, int64_t N, int64_t K, bool ta, bool tb) {
  return (mm_case_t){.M = M,
                     .N = N,
                     .K = K,
                     .ta = ta,
                     .tb = tb,
                     .at = QIAO_F32,
                     .bt = QIAO_F32,
                     .ot = QIAO_F32,
                     .threads = 2};
}

Test(matmul, f32_shapes) {
  static const int64_t s[][3] = {{1, 1, 1},      {3, 17, 1},      {17, 3, 64},     {64, 64, 64},
                                 {127, 128, 17}, {128, 127, 256}, {256, 256, 127}, {17, 256, 3},
                                 {3, 1, 127},    {1, 127, 256},   {64, 17, 128},   {127, 127, 127},
                                 {256, 1, 64},   {9, 100, 33},    {200, 300, 70},  {128, 256, 64}};
  for (size_t i = 0; i < sizeof s / sizeof s[0]; ++i) {
    mm_case_t c = f32case(s[i][0], s[i][1], s[i][2], false, false);
    run_case(&c);
  }
}

Test(matmul, f32_transposes) {
  static const int64_t s[][3] = {{17, 33, 65}, {127, 129, 300}, {1, 64, 127}, {4, 17, 3},
                                 {8, 50, 256}, {9, 64, 17},     {7, 40, 100}, {5, 3, 33}};
  for (size_t i = 0; i < sizeof s / sizeof s[0]; ++i)
    for (int t = 0; t < 4; ++t) {
      mm_case_t c = f32case(s[i][0], s[i][1], s[i][2], t & 1, t & 2);
      run_case(&c);
    }
}

Test(matmul, long_k) {
  mm_case_t c = f32case(64, 96, 1024, false, false);
  run_case(&c);
  c = f32case(37, 70, 2053, false, true);
  run_case(&c);
  c = f32case(2, 100, 4099, false, true); /* dot path */
  run_case(&c);
}

/* Several K slices (KC = 1024): partial sums in the f32 output itself (no
 * epilogue), in the scratch tile (epilogue, bf16 output, norm prologue), with
 * packed (transposed) and unpacked a, and row splits of the grid. */
Test(matmul, k_slices) {
  mm_case_t c = f32case(50, 130, 1500, true, false); /* packed a, direct accumulation */
  run_case(&c);
  c = f32case(13, 200, 1100, false, false); /* unpacked a, 6×64 and 8×48 edges */
  run_case(&c);
  c = f32case(37, 70, 1100, false, true);
  c.epi = EPI_BIAS_SILU;
  run_case(&c);
  c = f32case(30, 40, 1100, false, false);
  c.at = c.bt = c.ot = QIAO_BF16;
  run_case(&c);
  c = f32case(20, 50, 1100, false, true);
  c.norm = 1;
  c.norm_dt = QIAO_F32;
  run_case(&c);
  c = f32case(400, 20, 1100, false, false); /* too few N blocks: M splits the grid */
  c.epi = EPI_BIAS;
  run_case(&c);
  c = f32case(700, 20, 1030, false, true); /* scratch tile bound: several row blocks */
  c.epi = EPI_RESID;
  c.threads = 1;
  run_case(&c);
  c = f32case(300, 10, 1100, false, false); /* direct accumulation with an M split */
  run_case(&c);
}

Test(matmul, batch_broadcast) {
  mm_case_t c = f32case(17, 33, 20, false, false);
  c.nbd_a = 2, c.ba[0] = 2, c.ba[1] = 3;
  c.nbd_b = 1, c.bb[0] = 3;
  run_case(&c);
  c = f32case(5, 40, 64, false, true);
  c.nbd_b = 1, c.bb[0] = 4;
  run_case(&c);
  c = f32case(30, 20, 10, true, false);
  c.nbd_a = 2, c.ba[0] = 3, c.ba[1] = 1;
  c.nbd_b = 2, c.bb[0] = 1, c.bb[1] = 2;
  run_case(&c);
}

Test(matmul, dtypes) {
  const struct {
    qiao_dtype_t a, b, o;
    bool tb;
    int64_t M;
  } d[] = {
      {QIAO_BF16, QIAO_BF16, QIAO_BF16, false, 33}, {QIAO_BF16, QIAO_BF16, QIAO_BF16, true, 33},
      {QIAO_BF16, QIAO_BF16, QIAO_F32, true, 3},    {QIAO_F16, QIAO_F16, QIAO_F16, false, 40},
      {QIAO_F16, QIAO_F16, QIAO_F16, true, 2},      {QIAO_F32, QIAO_BF16, QIAO_F32, true, 20},
      {QIAO_F32, QIAO_BF16, QIAO_F32, true, 1},     {QIAO_BF16, QIAO_F32, QIAO_F32, false, 19},
      {QIAO_F32, QIAO_F16, QIAO_F32, false, 65},    {QIAO_BF16, QIAO_BF16, QIAO_BF16, false, 7},
  };
  for (size_t i = 0; i < sizeof d / sizeof d[0]; ++i) {
    for (int t = 0; t < 2; ++t) {
      mm_case_t c = f32case(d[i].M, t ? 129 : 48, t ? 77 : 300, false, d[i].tb);
      c.at = d[i].a, c.bt = d[i].b, c.ot = d[i].o;
      run_case(&c);
    }
  }
  mm_case_t c = f32case(31, 45, 63, true, false); /* transposed bf16 a */
  c.at = c.bt = c.ot = QIAO_BF16;
  run_case(&c);
}

Test(matmul, epilogues) {
  const int64_t s[][3] = {{1, 100, 64}, {4, 33, 17}, {37, 70, 90}, {128, 64, 300}};
  for (size_t i = 0; i < sizeof s / sizeof s[0]; ++i)
    for (int e = EPI_BIAS; e <= EPI_BIAS_SILU; ++e) {
      mm_case_t c = f32case(s[i][0], s[i][1], s[i][2], false, i & 1);
      c.epi = (epi_t)e;
      run_case(&c);
    }
  mm_case_t c = f32case(20, 50, 64, false, true);
  c.epi = EPI_RESID;
  c.at = c.bt = c.ot = QIAO_BF16;
  run_case(&c);
  c = f32case(20, 50, 64, false, false);
  c.epi = EPI_RESID;
  c.nbd_a = 1, c.ba[0] = 3;
  run_case(&c);
}

Test(matmul, norm_prologue) {
  const int64_t s[][3] = {{1, 40, 64}, {5, 33, 100}, {37, 70, 300}, {64, 128, 1000}};
  for (size_t i = 0; i < sizeof s / sizeof s[0]; ++i)
    for (int nm = 1; nm <= 2; ++nm) {
      mm_case_t c = f32case(s[i][0], s[i][1], s[i][2], false, true);
      c.norm = nm;
      c.norm_dt = QIAO_F32;
      run_case(&c);
      c.at = QIAO_BF16, c.bt = QIAO_BF16, c.ot = QIAO_BF16, c.norm_dt = QIAO_BF16;
      run_case(&c);
    }
  mm_case_t c = f32case(40, 50, 70, false, false);
  c.norm = 1;
  c.norm_dt = QIAO_F32;
  c.epi = EPI_BIAS_SILU;
  run_case(&c);
}

Test(matmul, one_thread) {
  mm_case_t c = f32case(100, 200, 150, false, true);
  c.threads = 1;
  run_case(&c);
}

/* Other vector widths, compiled for older x86 CPUs and run here: AVX2 (8 lanes,
 * 6×16 tiles) and SSE (4 lanes, 8×12 tiles: the NEON shape). */
Test(matmul, other_isas) {
  const char *cpus[2][2] = {{"haswell", "+avx,+avx2,+fma,+f16c,+sse4.2"}, {"x86-64", "+sse2"}};
  const int64_t s[][3] = {{1, 37, 50}, {7, 33, 65}, {64, 64, 300}, {100, 29, 17}};
  for (int ci = 0; ci < 2; ++ci)
    for (size_t i = 0; i < sizeof s / sizeof s[0]; ++i)
      for (int t = 0; t < 2; ++t) {
        mm_case_t c = f32case(s[i][0], s[i][1], s[i][2], false, t);
        c.cpu = cpus[ci][0];
        c.features = cpus[ci][1];
        c.epi = i == 2 ? EPI_BIAS_SILU : EPI_NONE;
        if (i == 3) c.at = c.bt = c.ot = QIAO_BF16;
        run_case(&c);
      }
}

/* ------------------------------------------------ i8 x i8: integer accumulation */

static mm_case_t i8case(int64_t M, int64_t N, int64_t K, bool ta, bool tb) {
  mm_case_t c = f32case(M, N, K, ta, tb);
  c.at = c.bt = QIAO_I8;
  c.ot = QIAO_I32;
  return c;
}

/* K = 1031, every element −128 but 1 at k = 1030: 1030·16384 + 1 = 16875521
 * is past 2^24, where the old f32 accumulation (accepted for K < 1032) gave
 * 16875520. */
Test(matmul, i8_exact_past_f32) {
  const int64_t s[][2] = {{7, 33}, {64, 64}, {2, 19}};
  for (size_t i = 0; i < sizeof s / sizeof s[0]; ++i)
    for (int t = 0; t < 4; ++t) {
      mm_case_t c = i8case(s[i][0], s[i][1], 1031, t & 2, t & 1);
      c.fill_const = true, c.ca = -128, c.cb = -128, c.last_k_one = true;
      run_case(&c);
      c.last_k_one = false;
      run_case(&c);
      c.cb = 127;
      run_case(&c);
    }
}

Test(matmul, i8_random) {
  const int64_t s[][3] = {{1, 1, 1},       {3, 17, 2},    {17, 3, 64},    {37, 70, 90},
                          {127, 129, 300}, {6, 64, 4096}, {33, 50, 4096}, {9, 100, 2049}};
  for (size_t i = 0; i < sizeof s / sizeof s[0]; ++i)
    for (int t = 0; t < 4; ++t) {
      mm_case_t c = i8case(s[i][0], s[i][1], s[i][2], t & 1, t & 2);
      run_case(&c);
    }
}

/* K = 200000 at the extremes: the exact sums (±3.28e9) leave i32; the
 * interpreter accumulates in i64 and stores to i32, and so must the kernel. */
Test(matmul, i8_long_k_extremes) {
  const double v[][2] = {{-128, -128}, {-128, 127}, {127, 127}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; ++i) {
    mm_case_t c = i8case(7, 20, 200000, false, i == 1);
    c.fill_const = true, c.ca = v[i][0], c.cb = v[i][1];
    run_case(&c);
  }
  mm_case_t c = i8case(5, 37, 200000, false, true);
  run_case(&c);
}

Test(matmul, i8_batched_epilogue_threads) {
  mm_case_t c = i8case(17, 33, 100, false, false);
  c.nbd_a = 2, c.ba[0] = 2, c.ba[1] = 3;
  c.nbd_b = 1, c.bb[0] = 3;
  run_case(&c);
  c = i8case(30, 20, 2100, true, true);
  c.nbd_a = 1, c.ba[0] = 1;
  c.nbd_b = 1, c.bb[0] = 4;
  run_case(&c);
  c = i8case(40, 70, 1500, false, true); /* i32 bias: small sums, exact in f32 */
  c.epi = EPI_BIAS;
  run_case(&c);
  c = i8case(40, 70, 300, false, false); /* epilogue converting to f32 */
  c.ot = QIAO_F32;
  run_case(&c);
  c = i8case(100, 200, 3000, false, false);
  c.threads = 1;
  run_case(&c);
  c = i8case(700, 20, 2100, false, true); /* M split, several K slices, partial-sum tile */
  run_case(&c);
}

/* The generic integer IR on other ISAs: AVX-512BW without VNNI (vpmaddwd),
 * AVX2, SSE2. */
Test(matmul, i8_other_isas) {
  const char *cpus[3][2] = {{"skylake-avx512", "+avx512f,+avx512bw,+avx512vl,+avx512dq,+avx2,+fma"},
                            {"haswell", "+avx,+avx2,+fma,+f16c,+sse4.2"},
                            {"x86-64", "+sse2"}};
  const int64_t s[][3] = {{1, 37, 50}, {7, 33, 1031}, {64, 64, 300}, {13, 29, 2500}};
  for (int ci = 0; ci < 3; ++ci)
    for (size_t i = 0; i < sizeof s / sizeof s[0]; ++i)
      for (int t = 0; t < 2; ++t) {
        mm_case_t c = i8case(s[i][0], s[i][1], s[i][2], false, t);
        c.cpu = cpus[ci][0];
        c.features = cpus[ci][1];
        if (i == 1) c.fill_const = true, c.ca = -128, c.cb = -128;
        run_case(&c);
      }
}

/* ------------------------------------------------ zero dimensions */

Test(matmul, zero_dims) {
  /* M = 0, N = 0, batch 0: empty outputs, nothing run. */
  mm_case_t c = f32case(0, 17, 33, false, false);
  run_case(&c);
  c = f32case(5, 0, 33, false, true);
  run_case(&c);
  c = f32case(5, 7, 9, false, false);
  c.nbd_a = 1, c.ba[0] = 0;
  run_case(&c);
  /* K = 0: zeros, then the epilogue (bias). */
  for (int t = 0; t < 4; ++t) {
    c = f32case(9, 37, 0, t & 1, t & 2);
    run_case(&c);
    c.epi = EPI_BIAS;
    run_case(&c);
  }
  c = i8case(9, 37, 0, false, false);
  run_case(&c);
  c.epi = EPI_BIAS;
  run_case(&c);
  c = i8case(0, 37, 10, false, false);
  run_case(&c);
}

/* The same through the whole pipeline (partition, runtime, memory plan). */
Test(matmul, zero_dims_graph) {
  const char *src[] = {
      "graph @z(%a: f32[0, 8], %b: f32[8, 5]) -> (f32[0, 5]) {\n"
      "  %y = matmul %a, %b\n  return %y\n}\n",
      "graph @z(%a: f32[3, 0], %b: f32[0, 5], %c: f32[5]) -> (f32[3, 5]) {\n"
      "  %y = add (matmul %a, %b), %c\n  return %y\n}\n",
      "graph @z(%a: i8[4, 0], %b: i8[0, 6]) -> (i32[4, 6]) {\n"
      "  %y = matmul %a, %b\n  return %y\n}\n",
      "graph @z(%a: i8[2, 5, 1500], %b: i8[1500, 33]) -> (i32[2, 5, 33]) {\n"
      "  %y = matmul %a, %b\n  return %y\n}\n",
  };
  for (size_t i = 0; i < sizeof src / sizeof src[0]; ++i) {
    qiao_graph_t *g = NULL;
    qiao_status_t st = qiao_ir_parse(src[i], strlen(src[i]), "z.qir", &g);
    cr_assert_null(st, "%s", qiao_status_message(st));
    ORACLE_CHECK(g, "cpu", 7 + i);
    qiao_ir_graph_destroy(g);
  }
}
