/* qiao-bench attention | moe — Qiao's attention and MoE on the CPU next to
 * ggml and ONNX Runtime, same thread count, interleaved in blocks.
 *
 *   qiao-bench attention|moe [--short] [--filter NAME] [--reps N] [--threads N]
 *                            [--cases FILE] [--peers DIR] [--no-peers] [--no-check]
 *
 * The cases come from bench/attn-moe-cases.txt (format: bench/peers/cases.h).
 * The peers are two long-lived processes that bench/peers/setup.sh builds into
 * DIR (default $QIAO_PEERS_DIR, else <source>/.cache/peers): DIR/ggml_attn_moe
 * and DIR/venv/bin/python bench/peers/ort_attn_moe.py, each driven over a pipe
 * ("time NAME REPS", "check NAME DIR"; see the peers' headers), so that a case's
 * tensors stay built between blocks.
 *
 * First the "check" cases: Qiao runs each on random inputs (rounded to the
 * case's dtype), writes them as f32 files, each peer runs the same inputs and
 * writes its output back; a peer whose output differs from Qiao's by more than
 * a loose tolerance (f32 1e-3, f16/bf16 5e-2, relative to max |out|) is marked
 * "mismatch" for that kind and left out of the ratio, so that ratios compare
 * equal work. Then each timed case: 3 rounds × (Qiao × reps/3, ggml × reps/3,
 * ORT × reps/3), each block after a 150 ms pause and a warm-up of ≥ 3 runs and ≥ 20 ms.
 *
 * Qiao's time is qiao_program_run: K/V (attention) and the weights (MoE) are
 * bound params; q / x are inputs copied in per run and the output is copied out
 * into a new tensor, as ORT does (ggml computes in place). The % column is the
 * case's roofline bound: % of measured read bandwidth when the bytes it must
 * read (K and V; the experts selected) take longer at that bandwidth than its
 * FLOPs at the profile's f32 peak, else % of peak.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_attn_moe.h"
#include "qiao/backend_cpu.h"
#include "qiao/hal.h"
#include "qiao/ir.h"
#include "qiao/runtime.h"

#include "../bench/peers/cases.h"

#ifndef QIAO_SOURCE_DIR
#define QIAO_SOURCE_DIR "."
#endif

enum { MAX_CASES = 256, MAX_REPS = 300, N_PEERS = 2 };
static const char *const kPeer[N_PEERS] = {"ggml", "ort"};

typedef struct am_opts {
  bench_kind_t kind;
  bool short_set, no_peers, no_check;
  const char *filter, *cases_path, *peers_dir;
  int reps, threads;
} am_opts_t;

static double am_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void am_settle(void) {
  struct timespec ts = {0, 150 * 1000 * 1000};
  nanosleep(&ts, NULL);
}

static int am_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------ peer processes */

typedef struct peer_proc {
  pid_t pid;
  FILE *to, *from;
  bool alive;
  bool mismatch[2]; /* per bench_kind_t: output differed from Qiao's on a check case */
  bool checked[2];  /* per kind: at least one check case agreed */
} peer_proc_t;

static bool peer_start(peer_proc_t *p, char *const argv[]) {
  memset(p, 0, sizeof *p);
  /* close-on-exec: the other peer's process must not inherit this one's pipe ends */
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC)) return false;
  if (pipe2(out, O_CLOEXEC)) {
    close(in[0]), close(in[1]);
    return false;
  }
  pid_t pid = fork();
  if (pid < 0) {
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    return false;
  }
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    execv(argv[0], argv);
    _exit(127);
  }
  close(in[0]), close(out[1]);
  p->pid = pid;
  p->to = fdopen(in[1], "w");
  p->from = fdopen(out[0], "r");
  p->alive = p->to && p->from;
  return p->alive;
}

/* Sends one command and reads the one-line reply into a malloc'ed string
 * (NULL when the peer is gone). */
static char *peer_ask(peer_proc_t *p, const char *cmd) {
  if (!p->alive) return NULL;
  if (fprintf(p->to, "%s\n", cmd) < 0 || fflush(p->to)) {
    p->alive = false;
    return NULL;
  }
  char *line = NULL;
  size_t cap = 0;
  if (getline(&line, &cap, p->from) < 0) {
    free(line);
    p->alive = false;
    return NULL;
  }
  line[strcspn(line, "\n")] = 0;
  return line;
}

static void peer_stop(peer_proc_t *p) {
  if (p->to) {
    fprintf(p->to, "quit\n");
    fclose(p->to);
  }
  if (p->from) fclose(p->from);
  if (p->pid > 0) waitpid(p->pid, NULL, 0);
  memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------------ qiao programs */

typedef struct am_prog {
  qiao_program_t *prog;
  qiao_tensor_t *input; /* q or x */
  qiao_tensor_t *params[5];
  int n_params;
} am_prog_t;

static void am_prog_destroy(am_prog_t *q) {
  if (q->prog) qiao_program_destroy(q->prog);
  if (q->input) qiao_tensor_destroy(q->input);
  for (int i = 0; i < q->n_params; ++i)
    qiao_tensor_destroy(q->params[i]);
  memset(q, 0, sizeof *q);
}

static qiao_type_t am_type(const char *dt, int rank, const int64_t *dims) {
  qiao_type_t t;
  memset(&t, 0, sizeof t);
  t.dtype = !strcmp(dt, "f16") ? QIAO_F16 : !strcmp(dt, "bf16") ? QIAO_BF16 : QIAO_F32;
  t.shape.rank = rank;
  for (int i = 0; i < rank; ++i)
    t.shape.dims[i] = dims[i];
  return t;
}

/* Builds, compiles and binds case c on device d; inputs uniform [-1, 1). */
static qiao_status_t am_prog_create(const bench_am_case_t *c, qiao_hal_device_t *d, am_prog_t *q) {
  memset(q, 0, sizeof *q);
  char text[2048];
  const char *dt = c->dtype;
  qiao_type_t in_t, pt[5];
  const char *pname[5];
  if (c->kind == BENCH_ATTN) {
    int64_t qd[4] = {c->B, c->Hq, c->Sq, c->D}, kd[4] = {c->B, c->Hkv, c->Skv, c->D};
    in_t = am_type(dt, 4, qd);
    pt[0] = pt[1] = am_type(dt, 4, kd);
    pname[0] = "k", pname[1] = "v";
    q->n_params = 2;
    snprintf(text, sizeof text,
             "graph @attn(%%q: %s[%lld, %lld, %lld, %lld]) -> (%s[%lld, %lld, %lld, %lld]) {\n"
             "  %%k = param \"k\" : %s[%lld, %lld, %lld, %lld]\n"
             "  %%v = param \"v\" : %s[%lld, %lld, %lld, %lld]\n"
             "  %%o = attention %%q, %%k, %%v {causal = %s}\n"
             "  return %%o\n}\n",
             dt, (long long)c->B, (long long)c->Hq, (long long)c->Sq, (long long)c->D, dt,
             (long long)c->B, (long long)c->Hq, (long long)c->Sq, (long long)c->D, dt,
             (long long)c->B, (long long)c->Hkv, (long long)c->Skv, (long long)c->D, dt,
             (long long)c->B, (long long)c->Hkv, (long long)c->Skv, (long long)c->D,
             c->causal ? "true" : "false");
  } else {
    long long T = c->T, dm = c->dim, F = c->hidden, E = c->E;
    int64_t xd[2] = {T, dm}, rd[2] = {dm, E}, gd[3] = {E, dm, F}, dd[3] = {E, F, dm};
    in_t = am_type("f32", 2, xd);
    pt[0] = am_type("f32", 2, rd);
    pt[1] = pt[2] = am_type(dt, 3, gd);
    pt[3] = am_type(dt, 3, dd);
    pname[0] = "router", pname[1] = "gate", pname[2] = "up", pname[3] = "down";
    q->n_params = 4;
    snprintf(text, sizeof text,
             "graph @moe(%%x: f32[%lld, %lld]) -> (f32[%lld, %lld]) {\n"
             "  %%r = param \"router\" : f32[%lld, %lld]\n"
             "  %%g = param \"gate\" : %s[%lld, %lld, %lld]\n"
             "  %%u = param \"up\" : %s[%lld, %lld, %lld]\n"
             "  %%d = param \"down\" : %s[%lld, %lld, %lld]\n"
             "  %%y = moe %%x, %%r, %%g, %%u, %%d {top_k = %lld, norm_topk = true, "
             "router_fn = \"softmax\"}\n"
             "  return %%y\n}\n",
             T, dm, T, dm, dm, E, dt, E, dm, F, dt, E, dm, F, dt, E, F, dm, (long long)c->top_k);
  }
  qiao_graph_t *g = NULL;
  QIAO_RETURN_IF_ERROR(qiao_ir_parse(text, strlen(text), c->name, &g));
  qiao_status_t st = qiao_program_compile(NULL, g, d, NULL, &q->prog);
  qiao_ir_graph_destroy(g);
  uint64_t rng = 0x5eed;
  if (!st) st = qiao_tensor_create(in_t, &q->input);
  if (!st) qiao_tensor_fill_random(q->input, &rng, -1.0, 1.0);
  for (int i = 0; i < q->n_params && !st; ++i) {
    st = qiao_tensor_create(pt[i], &q->params[i]);
    if (st) break;
    qiao_tensor_fill_random(q->params[i], &rng, -1.0, 1.0);
    st = qiao_program_bind_param(q->prog, pname[i], q->params[i]);
  }
  if (st) {
    int n = q->n_params;
    q->n_params = 0;
    for (int i = 0; i < n; ++i)
      if (q->params[i]) qiao_tensor_destroy(q->params[i]);
    am_prog_destroy(q);
  }
  return st;
}

static qiao_status_t am_prog_run(am_prog_t *q, qiao_tensor_t **out) {
  const qiao_tensor_t *in[1] = {q->input};
  qiao_tensor_t *o = NULL;
  qiao_status_t st = qiao_program_run(q->prog, in, &o);
  if (out)
    *out = o;
  else if (o)
    qiao_tensor_destroy(o);
  return st;
}

/* ------------------------------------------------------------ checks */

static bool am_write_f32(const char *path, const qiao_tensor_t *t) {
  int64_t n = qiao_shape_numel(&t->type.shape);
  FILE *f = fopen(path, "wb");
  if (!f) return false;
  bool ok = true;
  for (int64_t i = 0; i < n && ok; ++i) {
    float v = (float)qiao_tensor_get_f64(t, i);
    ok = fwrite(&v, 4, 1, f) == 1;
  }
  return fclose(f) == 0 && ok;
}

/* max |peer - qiao| / max |qiao|; +inf when the file is missing or short. */
static double am_compare(const char *path, const qiao_tensor_t *ref) {
  int64_t n = qiao_shape_numel(&ref->type.shape);
  FILE *f = fopen(path, "rb");
  if (!f) return INFINITY;
  double err = 0, mag = 0;
  for (int64_t i = 0; i < n; ++i) {
    float v;
    if (fread(&v, 4, 1, f) != 1) {
      fclose(f);
      return INFINITY;
    }
    double r = qiao_tensor_get_f64(ref, i);
    double e = fabs((double)v - r);
    if (!(e <= err)) err = e; /* NaN propagates */
    if (fabs(r) > mag) mag = fabs(r);
  }
  fclose(f);
  return err / (mag > 0 ? mag : 1e-30);
}

static void am_run_checks(const am_opts_t *o, const bench_am_case_t *cases, int nc,
                          qiao_hal_device_t *dev, peer_proc_t *peers) {
  char dir[] = "/tmp/qiao-bench-check-XXXXXX";
  if (!mkdtemp(dir)) {
    fprintf(stderr, "qiao-bench: mkdtemp: %s; peers not checked\n", strerror(errno));
    return;
  }
  for (int ci = 0; ci < nc; ++ci) {
    const bench_am_case_t *c = &cases[ci];
    if (!c->check || c->kind != o->kind) continue;
    am_prog_t q;
    qiao_status_t st = am_prog_create(c, dev, &q);
    qiao_tensor_t *out = NULL;
    if (!st) st = am_prog_run(&q, &out);
    if (st) {
      printf("check %-20s qiao: %s\n", c->name, qiao_status_message(st));
      qiao_status_free(st);
      am_prog_destroy(&q);
      continue;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/%s.in0.f32", dir, c->name);
    bool ok = am_write_f32(path, q.input);
    for (int i = 0; i < q.n_params; ++i) {
      snprintf(path, sizeof path, "%s/%s.in%d.f32", dir, c->name, i + 1);
      ok = ok && am_write_f32(path, q.params[i]);
    }
    printf("check %-20s", c->name);
    double tol = !strcmp(c->dtype, "f32") ? 1e-3 : 5e-2;
    for (int p = 0; p < N_PEERS && ok; ++p) {
      char cmd[700];
      snprintf(cmd, sizeof cmd, "check %s %s", c->name, dir);
      char *reply = peer_ask(&peers[p], cmd);
      if (!reply) {
        printf("  %s: -", kPeer[p]);
        continue;
      }
      if (!strncmp(reply, "ok ", 3)) {
        snprintf(path, sizeof path, "%s/%s.%s.f32", dir, c->name, kPeer[p]);
        double e = am_compare(path, out);
        bool good = e <= tol;
        printf("  %s %s: err %.1e %s", kPeer[p], reply + 3, e, good ? "ok" : "MISMATCH");
        if (good)
          peers[p].checked[c->kind] = true;
        else
          peers[p].mismatch[c->kind] = true;
        remove(path);
      } else {
        printf("  %s: %s", kPeer[p], reply);
      }
      free(reply);
    }
    printf("\n");
    for (int i = 0; i <= q.n_params; ++i) {
      snprintf(path, sizeof path, "%s/%s.in%d.f32", dir, c->name, i);
      remove(path);
    }
    qiao_tensor_destroy(out);
    am_prog_destroy(&q);
  }
  rmdir(dir);
  fflush(stdout);
}

/* ------------------------------------------------------------ timing */

typedef struct am_stats {
  int n;
  double med, min, max;
  char op[64];
  char why[160]; /* when n == 0 */
} am_stats_t;

static void am_summarize(double *t, int n, am_stats_t *s) {
  s->n = n;
  if (n == 0) return;
  qsort(t, (size_t)n, sizeof(double), am_cmp);
  s->med = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
  s->min = t[0], s->max = t[n - 1];
}

/* Appends the times of one peer block ("ok OP t1 t2 ...") to t[*n]. */
static void am_peer_block(peer_proc_t *p, const char *name, int reps, double *t, int *n,
                          am_stats_t *s) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "time %s %d", name, reps);
  char *reply = peer_ask(p, cmd);
  if (!reply) {
    snprintf(s->why, sizeof s->why, "peer exited");
    return;
  }
  if (strncmp(reply, "ok ", 3) != 0) {
    snprintf(s->why, sizeof s->why, "%s", reply);
    free(reply);
    return;
  }
  char *save = NULL, *tok = strtok_r(reply + 3, " ", &save);
  if (tok) snprintf(s->op, sizeof s->op, "%s", tok);
  while ((tok = strtok_r(NULL, " ", &save)) && *n < MAX_REPS) {
    double v = strtod(tok, NULL);
    if (v > 0) t[(*n)++] = v;
  }
  free(reply);
}

static void am_fmt_ms(char *buf, size_t cap, const am_stats_t *s) {
  if (s->n == 0) {
    snprintf(buf, cap, "-");
    return;
  }
  snprintf(buf, cap, "%.3g (%.3g-%.3g)", s->med * 1e3, s->min * 1e3, s->max * 1e3);
}

static void am_usage(FILE *f) {
  fprintf(f, "usage: qiao-bench attention|moe [--short] [--filter NAME] [--reps N] [--threads N]\n"
             "                  [--cases FILE] [--peers DIR] [--no-peers] [--no-check]\n"
             "  Qiao's attention / MoE next to ggml and ONNX Runtime (bench/peers/setup.sh)\n");
}

static bool am_parse(int argc, char **argv, am_opts_t *o) {
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    bool has = i + 1 < argc;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      am_usage(stdout);
      exit(0);
    } else if (!strcmp(a, "--short")) {
      o->short_set = true;
    } else if (!strcmp(a, "--no-peers")) {
      o->no_peers = true;
    } else if (!strcmp(a, "--no-check")) {
      o->no_check = true;
    } else if (!strcmp(a, "--filter") && has) {
      o->filter = argv[++i];
    } else if (!strcmp(a, "--cases") && has) {
      o->cases_path = argv[++i];
    } else if (!strcmp(a, "--peers") && has) {
      o->peers_dir = argv[++i];
    } else if (!strcmp(a, "--reps") && has) {
      o->reps = atoi(argv[++i]);
      if (o->reps < 1 || o->reps > MAX_REPS) {
        fprintf(stderr, "qiao-bench: --reps: expected 1..%d, got '%s'\n", MAX_REPS, argv[i]);
        return false;
      }
    } else if (!strcmp(a, "--threads") && has) {
      o->threads = atoi(argv[++i]);
      if (o->threads < 1 || o->threads > 256) {
        fprintf(stderr, "qiao-bench: --threads: expected 1..256, got '%s'\n", argv[i]);
        return false;
      }
    } else {
      fprintf(stderr, "qiao-bench: unknown argument '%s'\n", a);
      am_usage(stderr);
      return false;
    }
  }
  return true;
}

int qiao_bench_attn_moe_main(int argc, char **argv, const char *mode) {
  am_opts_t o = {.kind = !strcmp(mode, "moe") ? BENCH_MOE : BENCH_ATTN,
                 .cases_path = QIAO_SOURCE_DIR "/bench/attn-moe-cases.txt",
                 .reps = 9,
                 .threads = 2};
  const char *env = getenv("QIAO_PEERS_DIR");
  o.peers_dir = env && *env ? env : QIAO_SOURCE_DIR "/.cache/peers";
  if (!am_parse(argc, argv, &o)) return 1;

  bench_am_case_t *cases = calloc(MAX_CASES, sizeof *cases);
  char err[300];
  int nc = cases ? bench_am_cases_load(o.cases_path, cases, MAX_CASES, err, sizeof err) : -1;
  if (nc < 0) {
    fprintf(stderr, "qiao-bench: %s\n", cases ? err : "out of memory");
    free(cases);
    return 1;
  }

  /* the peers */
  peer_proc_t peers[N_PEERS];
  memset(peers, 0, sizeof peers);
  signal(SIGPIPE, SIG_IGN);
  char threads_s[16], ggml_bin[600], ort_py[600], ort_script[600];
  snprintf(threads_s, sizeof threads_s, "%d", o.threads);
  snprintf(ggml_bin, sizeof ggml_bin, "%s/ggml_attn_moe", o.peers_dir);
  snprintf(ort_py, sizeof ort_py, "%s/venv/bin/python", o.peers_dir);
  snprintf(ort_script, sizeof ort_script, "%s/bench/peers/ort_attn_moe.py", QIAO_SOURCE_DIR);
  if (!o.no_peers) {
    char *gargv[] = {ggml_bin, "--cases", (char *)o.cases_path, "--threads", threads_s, NULL};
    char *oargv[] = {ort_py,      ort_script, "--cases", (char *)o.cases_path,
                     "--threads", threads_s,  NULL};
    if (access(ggml_bin, X_OK) == 0) peer_start(&peers[0], gargv);
    if (access(ort_py, X_OK) == 0) peer_start(&peers[1], oargv);
    if (!peers[0].alive || !peers[1].alive)
      printf("note: peers missing in %s (run bench/peers/setup.sh): %s%s\n", o.peers_dir,
             peers[0].alive ? "" : "ggml ", peers[1].alive ? "" : "onnxruntime");
  }

  /* machine facts */
  char host[256];
  qiao_cpu_host_describe(host, sizeof host);
  double peak = 0;
  qiao_hal_profile_t *prof = NULL;
  qiao_status_t pst = qiao_hal_profile_host(&prof);
  if (!pst) {
    const qiao_hal_profile_info_t *pi = qiao_hal_profile_info(prof);
    peak = (pi->cores > 0 ? pi->peak_flops_f32 / pi->cores : pi->peak_flops_f32) * o.threads;
    qiao_hal_profile_destroy(prof);
  } else {
    qiao_status_free(pst);
  }
  double bw = measure_bandwidth(o.threads);
  printf("host: %s; %d thread(s); f32 peak %.0f GFLOP/s (profile); read bandwidth %.1f GB/s "
         "(measured)\n",
         host, o.threads, peak * 1e-9, bw * 1e-9);

  char uri[32];
  snprintf(uri, sizeof uri, "cpu:threads=%d", o.threads);
  qiao_hal_device_t *dev = NULL;
  qiao_status_t st = qiao_hal_device_open(uri, &dev);
  if (st) {
    fprintf(stderr, "qiao-bench: %s\n", qiao_status_message(st));
    qiao_status_free(st);
    for (int p = 0; p < N_PEERS; ++p)
      peer_stop(&peers[p]);
    free(cases);
    return 2;
  }
  if (!o.no_check && (peers[0].alive || peers[1].alive)) am_run_checks(&o, cases, nc, dev, peers);
  for (int p = 0; p < N_PEERS; ++p)
    if (peers[p].alive && !o.no_check && !peers[p].checked[o.kind] && !peers[p].mismatch[o.kind])
      printf("note: %s not checked against Qiao on any %s case\n", kPeer[p], mode);

  printf("\ntimes in ms: median (min-max) of %d runs; ratio = best peer median / Qiao median\n",
         o.reps);
  printf("%-26s %-24s %-24s %-24s %6s  %-28s %s\n", "case", "qiao", "ggml", "ort", "ratio",
         "qiao roofline", "ort op");
  for (int ci = 0; ci < nc; ++ci) {
    const bench_am_case_t *c = &cases[ci];
    if (c->kind != o.kind || c->check) continue;
    if (o.short_set && !c->short_set) continue;
    if (o.filter && !strstr(c->name, o.filter)) continue;
    am_prog_t q;
    st = am_prog_create(c, dev, &q);
    if (st) {
      printf("%-26s qiao: %s\n", c->name, qiao_status_message(st));
      qiao_status_free(st);
      continue;
    }
    for (int i = 0; i < q.n_params; ++i) /* bound: the program holds its own copy */
      qiao_tensor_destroy(q.params[i]);
    q.n_params = 0;
    double tq[MAX_REPS], tp[N_PEERS][MAX_REPS];
    int nq = 0, np[N_PEERS] = {0};
    am_stats_t sp[N_PEERS], sq;
    memset(sp, 0, sizeof sp);
    memset(&sq, 0, sizeof sq);
    const int rounds = o.reps >= 6 ? 3 : 1;
    int per_round = (o.reps + rounds - 1) / rounds;
    bool failed = false;
    for (int rd = 0; rd < rounds && !failed; ++rd) {
      /* Qiao's block */
      am_settle();
      /* warm-up: >= 3 runs and >= 20 ms (the same rule in both peers): after the pause the
       * worker threads of every library sleep, and the first runs pay their wake-up */
      double w0 = am_now();
      for (int wn = 0; (wn < 3 || am_now() - w0 < 0.02) && !failed; ++wn) {
        qiao_status_t e = am_prog_run(&q, NULL);
        if (e) {
          printf("%-26s qiao: %s\n", c->name, qiao_status_message(e));
          qiao_status_free(e);
          failed = true;
        }
      }
      for (int r = 0; r < per_round && nq < o.reps && !failed; ++r) {
        double t0 = am_now();
        qiao_status_free(am_prog_run(&q, NULL));
        tq[nq++] = am_now() - t0;
      }
      /* the peers' blocks */
      for (int p = 0; p < N_PEERS; ++p) {
        if (!peers[p].alive || (rd > 0 && np[p] == 0)) continue;
        am_settle();
        int want = per_round < o.reps - np[p] ? per_round : o.reps - np[p];
        if (want > 0) am_peer_block(&peers[p], c->name, want, tp[p], &np[p], &sp[p]);
      }
    }
    am_prog_destroy(&q);
    if (failed) continue;
    am_summarize(tq, nq, &sq);
    double best = 0;
    for (int p = 0; p < N_PEERS; ++p) {
      am_summarize(tp[p], np[p], &sp[p]);
      if (sp[p].n && !peers[p].mismatch[c->kind] && (best == 0 || sp[p].med < best))
        best = sp[p].med;
    }
    char qs[48], ps[N_PEERS][48], ratio[16] = "-";
    am_fmt_ms(qs, sizeof qs, &sq);
    for (int p = 0; p < N_PEERS; ++p) {
      am_fmt_ms(ps[p], sizeof ps[p], &sp[p]);
      if (sp[p].n && peers[p].mismatch[c->kind])
        strncat(ps[p], " !", sizeof ps[p] - strlen(ps[p]) - 1);
    }
    if (best > 0) snprintf(ratio, sizeof ratio, "%.2f", best / sq.med);
    double flops = bench_am_flops(c), bytes = bench_am_bytes(c);
    char roof[64] = "-";
    if (peak > 0 && bw > 0) {
      if (bytes / bw > flops / peak)
        snprintf(roof, sizeof roof, "%.0f%% bw (%.1f GB/s)", 100.0 * bytes / sq.med / bw,
                 bytes / sq.med * 1e-9);
      else
        snprintf(roof, sizeof roof, "%.0f%% peak (%.0f GFLOP/s)", 100.0 * flops / sq.med / peak,
                 flops / sq.med * 1e-9);
    }
    printf("%-26s %-24s %-24s %-24s %6s  %-28s %s\n", c->name, qs, ps[0], ps[1], ratio, roof,
           sp[1].n ? sp[1].op : "");
    for (int p = 0; p < N_PEERS; ++p)
      if (peers[p].alive && sp[p].n == 0 && sp[p].why[0])
        printf("%-26s   %s: %s\n", "", kPeer[p], sp[p].why);
    fflush(stdout);
  }
  printf("peer ops: ggml flash_attn_ext (q f32, K/V in the case's dtype) / build_moe_ffn with "
         "mul_mat_id; ort: the fastest working op per case "
         "(also in the check lines); "
         "'!' = output mismatch, left out of the ratio\n");
  for (int p = 0; p < N_PEERS; ++p)
    peer_stop(&peers[p]);
  qiao_hal_device_release(dev);
  free(cases);
  return 0;
}
