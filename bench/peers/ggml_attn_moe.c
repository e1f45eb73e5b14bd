/* ggml peer for the attention/MoE benchmark (bench/run-attn-moe.sh, qiao-bench
 * attention|moe). Built by bench/peers/setup.sh against the ggml that
 * llama-cpp-python's sdist vendors; never part of the Qiao build.
 *
 *   ggml_attn_moe --cases FILE --threads N
 *
 * A small server on stdin/stdout, so that qiao-bench can interleave blocks of
 * this peer with its own and keep each case's tensors between blocks:
 *
 *   time NAME REPS   -> "ok OPNAME t1 t2 ..." (seconds per run) | "unsupported WHY"
 *   check NAME DIR   -> reads DIR/NAME.inI.f32 (Qiao's layouts, f32), writes
 *                       DIR/NAME.ggml.f32 (Qiao's output layout) -> "ok OPNAME"
 *   quit
 *
 * Attention is ggml_flash_attn_ext (q f32, K/V in the case's dtype, f16 causal
 * mask, output f32), as llama.cpp runs it with flash attention on. MoE is the
 * graph llama.cpp's build_moe_ffn builds for a Mixtral-style layer: router
 * mul_mat, soft_max, argsort_top_k, get_rows of the weights, renormalization,
 * ggml_mul_mat_id for gate and up, swiglu, mul_mat_id for down, the weighted
 * sum over the chosen experts. One persistent ggml threadpool of N threads, as
 * llama.cpp uses. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml-cpu.h"
#include "ggml.h"

#include "cases.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static enum ggml_type type_of(const char *dt) {
  return !strcmp(dt, "f16") ? GGML_TYPE_F16 : !strcmp(dt, "bf16") ? GGML_TYPE_BF16 : GGML_TYPE_F32;
}

/* Fills a tensor from f32 values (src, or uniform [-1, 1) when src is NULL). */
static void fill(struct ggml_tensor *t, const float *src, uint64_t *rng) {
  int64_t n = ggml_nelements(t);
  float *tmp = malloc((size_t)n * sizeof(float));
  if (!tmp) abort();
  for (int64_t i = 0; i < n; ++i) {
    if (src) {
      tmp[i] = src[i];
    } else {
      *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
      tmp[i] = (float)(*rng >> 40) / 8388608.0f - 1.0f;
    }
  }
  if (t->type == GGML_TYPE_F32)
    memcpy(t->data, tmp, (size_t)n * 4);
  else if (t->type == GGML_TYPE_F16)
    ggml_fp32_to_fp16_row(tmp, t->data, n);
  else
    ggml_fp32_to_bf16_row(tmp, t->data, n);
  free(tmp);
}

static float *read_f32(const char *dir, const char *name, int i, int64_t n) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s.in%d.f32", dir, name, i);
  FILE *f = fopen(path, "rb");
  float *p = malloc((size_t)n * sizeof(float));
  if (!f || !p || fread(p, sizeof(float), (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "ggml peer: cannot read %s\n", path);
    exit(2);
  }
  fclose(f);
  return p;
}

typedef struct peer {
  int threads;
  struct ggml_threadpool *tp;
  const bench_am_case_t *cur;
  struct ggml_context *ctx;
  struct ggml_cgraph *gf;
  struct ggml_tensor *in[6];
  struct ggml_tensor *out;
  uint8_t *work;
  size_t work_size;
  char op[64];
} peer_t;

static void peer_drop(peer_t *p) {
  if (p->ctx) ggml_free(p->ctx);
  free(p->work);
  p->ctx = NULL, p->work = NULL, p->work_size = 0, p->cur = NULL, p->gf = NULL;
}

/* Builds the graph of case c; fills its inputs from DIR (check) or at random. */
static const char *peer_setup(peer_t *p, const bench_am_case_t *c, const char *dir) {
  peer_drop(p);
  size_t data = 0;
  int64_t es = ggml_type_size(type_of(c->dtype));
  if (c->kind == BENCH_ATTN) {
    data = (size_t)(c->B * c->Hq * c->Sq * c->D * 4 * 3 + 2 * c->B * c->Hkv * c->Skv * c->D * es +
                    c->Sq * c->Skv * 2);
  } else {
    data = (size_t)(c->T * c->dim * 4 * 4 + c->dim * c->E * 4 + 3 * c->E * c->dim * c->hidden * es +
                    c->T * c->E * 4 * 8 + c->T * c->top_k * (c->hidden * 4 * 4 + c->dim * 4 * 2));
  }
  struct ggml_init_params ip = {data + (size_t)64 * 1024 * 1024, NULL, false};
  p->ctx = ggml_init(ip);
  if (!p->ctx) return "ggml_init failed (out of memory)";
  struct ggml_context *ctx = p->ctx;
  uint64_t rng = 42;
  int nin = 0;
  float *src[6] = {0};
  if (c->kind == BENCH_ATTN) {
    enum ggml_type kt = type_of(c->dtype);
    struct ggml_tensor *q = ggml_new_tensor_4d(ctx, GGML_TYPE_F32, c->D, c->Sq, c->Hq, c->B);
    struct ggml_tensor *k = ggml_new_tensor_4d(ctx, kt, c->D, c->Skv, c->Hkv, c->B);
    struct ggml_tensor *v = ggml_new_tensor_4d(ctx, kt, c->D, c->Skv, c->Hkv, c->B);
    struct ggml_tensor *mask = NULL;
    p->in[0] = q, p->in[1] = k, p->in[2] = v, nin = 3;
    if (dir)
      for (int i = 0; i < 3; ++i)
        src[i] = read_f32(dir, c->name, i, ggml_nelements(p->in[i]));
    for (int i = 0; i < 3; ++i)
      fill(p->in[i], src[i], &rng);
    if (c->causal) { /* query i sits at key position Skv - Sq + i (bottom-right aligned) */
      mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, c->Skv, c->Sq);
      ggml_fp16_t *m = mask->data;
      ggml_fp16_t zero = ggml_fp32_to_fp16(0.0f), ninf = ggml_fp32_to_fp16(-INFINITY);
      for (int64_t i = 0; i < c->Sq; ++i)
        for (int64_t j = 0; j < c->Skv; ++j)
          m[i * c->Skv + j] = j <= c->Skv - c->Sq + i ? zero : ninf;
    }
    p->out = ggml_flash_attn_ext(ctx, q, k, v, mask, 1.0f / sqrtf((float)c->D), 0.0f, 0.0f);
    ggml_prec_set_acc(p->out, GGML_PREC_F32);
    snprintf(p->op, sizeof p->op, "flash_attn_ext(q f32, kv %s)", c->dtype);
  } else {
    enum ggml_type wt = type_of(c->dtype);
    int64_t T = c->T, dm = c->dim, F = c->hidden, E = c->E, K = c->top_k;
    struct ggml_tensor *x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, dm, T);
    struct ggml_tensor *router = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, dm, E); /* [E][dim] */
    struct ggml_tensor *gate = ggml_new_tensor_3d(ctx, wt, dm, F, E);           /* [E][F][dim] */
    struct ggml_tensor *up = ggml_new_tensor_3d(ctx, wt, dm, F, E);
    struct ggml_tensor *down = ggml_new_tensor_3d(ctx, wt, F, dm, E); /* [E][dim][F] */
    p->in[0] = x, p->in[1] = router, p->in[2] = gate, p->in[3] = up, p->in[4] = down, nin = 5;
    if (dir) { /* Qiao's layouts: router [dim, E], gate/up [E, dim, F], down [E, F, dim] */
      src[0] = read_f32(dir, c->name, 0, T * dm);
      float *r = read_f32(dir, c->name, 1, dm * E), *g = read_f32(dir, c->name, 2, E * dm * F),
            *u = read_f32(dir, c->name, 3, E * dm * F), *d = read_f32(dir, c->name, 4, E * F * dm);
      for (int i = 1; i < 5; ++i)
        src[i] = malloc((size_t)ggml_nelements(p->in[i]) * 4);
      for (int64_t e = 0; e < E; ++e)
        for (int64_t i = 0; i < dm; ++i)
          src[1][e * dm + i] = r[i * E + e];
      for (int64_t e = 0; e < E; ++e)
        for (int64_t i = 0; i < dm; ++i)
          for (int64_t f = 0; f < F; ++f) {
            src[2][(e * F + f) * dm + i] = g[(e * dm + i) * F + f];
            src[3][(e * F + f) * dm + i] = u[(e * dm + i) * F + f];
            src[4][(e * dm + i) * F + f] = d[(e * F + f) * dm + i];
          }
      free(r), free(g), free(u), free(d);
    }
    for (int i = 0; i < 5; ++i)
      fill(p->in[i], src[i], &rng);
    /* build_moe_ffn, softmax gating, norm_w, SwiGLU */
    struct ggml_tensor *logits = ggml_mul_mat(ctx, router, x);   /* [E, T] */
    struct ggml_tensor *probs = ggml_soft_max(ctx, logits);      /* [E, T] */
    struct ggml_tensor *sel = ggml_argsort_top_k(ctx, probs, K); /* [K, T] i32 */
    struct ggml_tensor *w = ggml_get_rows(ctx, ggml_reshape_3d(ctx, probs, 1, E, T), sel);
    w = ggml_reshape_2d(ctx, w, K, T);
    w = ggml_div(ctx, w, ggml_sum_rows(ctx, w));
    w = ggml_reshape_3d(ctx, w, 1, K, T);
    struct ggml_tensor *cur = ggml_reshape_3d(ctx, x, dm, 1, T);
    struct ggml_tensor *h_up = ggml_mul_mat_id(ctx, up, cur, sel);     /* [F, K, T] */
    struct ggml_tensor *h_gate = ggml_mul_mat_id(ctx, gate, cur, sel); /* [F, K, T] */
    struct ggml_tensor *h = ggml_swiglu_split(ctx, h_gate, h_up);
    struct ggml_tensor *ex = ggml_mul_mat_id(ctx, down, h, sel); /* [dim, K, T] */
    ex = ggml_mul(ctx, ex, w);
    struct ggml_tensor *sum = ggml_view_2d(ctx, ex, dm, T, ex->nb[2], 0);
    for (int64_t i = 1; i < K; ++i)
      sum = ggml_add(ctx, sum, ggml_view_2d(ctx, ex, dm, T, ex->nb[2], (size_t)i * ex->nb[1]));
    p->out = sum;
    snprintf(p->op, sizeof p->op, "mul_mat_id(w %s)", c->dtype);
  }
  for (int i = 0; i < 6; ++i)
    free(src[i]);
  (void)nin;
  p->gf = ggml_new_graph(ctx);
  ggml_build_forward_expand(p->gf, p->out);
  struct ggml_cplan plan = ggml_graph_plan(p->gf, p->threads, p->tp);
  p->work_size = plan.work_size;
  p->work = p->work_size ? malloc(p->work_size) : NULL;
  if (p->work_size && !p->work) return "out of memory (work buffer)";
  p->cur = c;
  return NULL;
}

static int peer_compute(peer_t *p) {
  struct ggml_cplan plan = ggml_graph_plan(p->gf, p->threads, p->tp);
  if (plan.work_size > p->work_size) return 1;
  plan.work_data = p->work;
  return ggml_graph_compute(p->gf, &plan) != GGML_STATUS_SUCCESS;
}

int main(int argc, char **argv) {
  const char *cases_path = NULL;
  int threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--cases"))
      cases_path = argv[i + 1];
    else if (!strcmp(argv[i], "--threads"))
      threads = atoi(argv[i + 1]);
  }
  if (!cases_path || threads < 1) {
    fprintf(stderr, "usage: ggml_attn_moe --cases FILE --threads N\n");
    return 2;
  }
  bench_am_case_t *cases = calloc(256, sizeof *cases);
  char err[256] = "out of memory";
  int nc = cases ? bench_am_cases_load(cases_path, cases, 256, err, sizeof err) : -1;
  if (nc < 0) {
    fprintf(stderr, "ggml peer: %s\n", err);
    free(cases);
    return 2;
  }
  ggml_cpu_init();
  struct ggml_threadpool_params tpp = ggml_threadpool_params_default(threads);
  peer_t p = {.threads = threads, .tp = ggml_threadpool_new(&tpp)};
  char line[1200];
  while (fgets(line, sizeof line, stdin)) {
    char cmd[16] = "", name[64] = "", arg[1024] = "";
    if (sscanf(line, "%15s %63s %1023s", cmd, name, arg) < 1) continue;
    if (!strcmp(cmd, "quit")) break;
    const bench_am_case_t *c = NULL;
    for (int i = 0; i < nc; ++i)
      if (!strcmp(cases[i].name, name)) c = &cases[i];
    if (!c) {
      printf("unsupported no case named %s\n", name);
    } else if (!strcmp(cmd, "time")) {
      int reps = atoi(arg);
      const char *why = p.cur == c ? NULL : peer_setup(&p, c, NULL);
      if (why) {
        printf("unsupported %s\n", why);
        peer_drop(&p);
      } else {
        /* warm-up: >= 3 runs and >= 20 ms, as for Qiao */
        double w0 = now_s();
        for (int wn = 0; wn < 3 || now_s() - w0 < 0.02; ++wn)
          peer_compute(&p);
        printf("ok %s", p.op);
        for (int r = 0; r < reps; ++r) {
          double t0 = now_s();
          int bad = peer_compute(&p);
          printf(" %.9f", bad ? -1.0 : now_s() - t0);
        }
        printf("\n");
      }
    } else if (!strcmp(cmd, "check")) {
      const char *why = peer_setup(&p, c, arg);
      if (!why && peer_compute(&p)) why = "graph compute failed";
      if (why) {
        printf("unsupported %s\n", why);
      } else {
        /* attention output is [B, Sq, Hq, D] (permuted): back to Qiao's [B, Hq, Sq, D] */
        int64_t n = ggml_nelements(p.out);
        float *o = malloc((size_t)n * 4);
        const float *r = p.out->data;
        if (c->kind == BENCH_ATTN) {
          for (int64_t b = 0; b < c->B; ++b)
            for (int64_t h = 0; h < c->Hq; ++h)
              for (int64_t s = 0; s < c->Sq; ++s)
                memcpy(&o[((b * c->Hq + h) * c->Sq + s) * c->D],
                       &r[((b * c->Sq + s) * c->Hq + h) * c->D], (size_t)c->D * 4);
        } else { /* the sum is a view with row stride nb[2] of the experts tensor */
          for (int64_t t = 0; t < c->T; ++t)
            memcpy(&o[t * c->dim], (const char *)p.out->data + t * p.out->nb[1],
                   (size_t)c->dim * 4);
        }
        char path[1200];
        snprintf(path, sizeof path, "%s/%s.ggml.f32", arg, c->name);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(o, 4, (size_t)n, f) != (size_t)n) {
          printf("unsupported cannot write %s\n", path);
        } else {
          printf("ok %s\n", p.op);
        }
        if (f) fclose(f);
        free(o);
      }
      peer_drop(&p);
    } else {
      printf("unsupported unknown command %s\n", cmd);
    }
    fflush(stdout);
  }
  peer_drop(&p);
  ggml_threadpool_free(p.tp);
  free(cases);
  return 0;
}
