/* qiao-run: run a graph on a device with random inputs and print its outputs.
 *
 *   qiao-run FILE.qir... [--device ref|cpu|cpu:threads=N] [--weights W.safetensors]
 *            [--random] [--seed N] [--print] [--check ref] [--bench N]
 *            [--explain] [--emit-dir DIR] [--variant NAME] [--autotune] [--help]
 *
 * Several graph files run one after the other (each under a "== FILE" line);
 * the exit code is the worst one. Without --weights (and without --random)
 * a graph FILE.qir binds its params from FILE.safetensors beside it when that
 * file exists.
 *
 * --device ref runs the reference interpreter; any other device is a HAL URI:
 * the graph is compiled through the runtime (fusion, LLVM backend, memory
 * plan) and dispatched there. --check ref runs the same graph on the
 * interpreter with the same inputs and params and prints the normalized max
 * error per output (max|x - ref| / max|ref|), exiting 1 when any exceeds its
 * dtype's tolerance (f32 1e-5, f16/bf16 1e-2, f8 0.15, integers exact).
 *
 * Params are bound by name from --weights; a param the file lacks is an error
 * unless --random, which fills it like qiao-gen-weights does. A param whose
 * file tensor has another type is an error.
 *
 * Inputs are random, from a generator seeded by --seed (default 1):
 *   - float inputs: uniform in [-1, 1)
 *   - bool inputs: 0 or 1
 *   - integer inputs named pos, positions or position_ids: arange along the
 *     last axis (0, 1, ..., S-1 in every row)
 *   - integer inputs used as gather indices: uniform in [0, rows of the table
 *     along the gather axis)
 *   - other integer inputs (rope positions under another name...): uniform in
 *     [0, last dim)
 *
 * --explain (HAL devices) prints per kernel its kind, graph ops, grid x block,
 * registers, shared bytes, occupancy, FLOPs, bytes, the backend's predicted
 * time and what bounds it (modelled on CUDA-class devices), and the time of
 * one run as the device reports it (modelled on simt-emu, simulated on
 * ascend-sim with the simulator's report, measured on cpu), each labelled
 * with its kind and profile. --emit-dir DIR (HAL devices, one graph) writes
 * every kernel's artifacts (PTX, LLVM IR, Ascend listing: what the backend
 * emits) and launch record (<kernel>.launch.json) into the existing DIR.
 *
 * Dispatch by cost model: each kernel is lowered as the cheapest variant its
 * backend offers (attention "flash-tc", "flash-simt", "splitkv(s=N)"; moe
 * "grouped-tc", "grouped-simt"); --explain prints the choice, the
 * alternatives with their predicted times and, on an accelerator, the hybrid
 * plan (kernels the model predicts faster on the host CPU, host link
 * included; printed, not executed). --variant NAME forces that variant where
 * a kernel offers it. --autotune (HAL devices) times every variant of each
 * kernel that has several and keeps the fastest, cached on disk under
 * $XDG_CACHE_HOME/qiao/autotune (else ~/.cache/qiao/autotune).
 *
 * Output, one line per graph output:
 *   output 0 %y: f32[4, 64] checksum=123.456789
 * --print adds the values, one line per row of the last axis.
 *
 * Exit codes: 0 ok, 1 user error (one line naming the input and position),
 * 2 internal error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/ir.h"
#include "qiao/runtime.h"
#include "qiao-run-ptx.h"

static const char *k_usage =
    "usage: qiao-run FILE.qir... [--device D] [--weights W.safetensors] [--random] [--seed N]\n"
    "                [--print] [--check ref] [--bench N] [--explain] [--emit-dir DIR]\n"
    "Runs FILE.qir on random inputs and prints a checksum of every output.\n"
    "  --device D     ref (reference interpreter, default), cpu or cpu:threads=N\n"
    "  --check ref    also run on the reference interpreter and print the max normalized\n"
    "                 error per output; exit 1 if any exceeds its dtype's tolerance\n"
    "  --bench N      run N more times and print the median time (HAL devices)\n"
    "  --explain      per kernel: kind, ops, grid x block, registers, shared bytes, occupancy,\n"
    "                 FLOPs, bytes, predicted time and bound (modelled on simt-emu, simulated on\n"
    "                 ascend-sim, measured on cpu), the variant chosen and its alternatives, and\n"
    "                 on accelerators the hybrid plan (HAL devices)\n"
    "  --variant NAME lower kernels that offer variant NAME (flash-tc, flash-simt, splitkv(s=N),\n"
    "                 grouped-tc, grouped-simt) as that variant instead of the cheapest predicted\n"
    "  --autotune     time every variant of each kernel that has several, keep the fastest and\n"
    "                 cache it under $XDG_CACHE_HOME/qiao (or ~/.cache/qiao) (HAL devices)\n"
    "  --emit-dir DIR write each kernel's artifacts (.ptx, .ll, .listing) and launch record\n"
    "                 (.launch.json) into the existing directory DIR (HAL devices, one graph)\n"
    "  --weights W    bind params by name from the safetensors file W (one graph only);\n"
    "                 default: FILE.safetensors beside FILE.qir when it exists\n"
    "  --random       fill params that W lacks (or all, without W) with random values\n"
    "  --seed N       seed for random inputs and params (default 1)\n"
    "  --print        print output values too\n"
    "  --help         this text\n"
    "A first file K.ptx runs one kernel of a PTX file on simt-emu or cuda:N instead (qiao-run\n"
    "K.ptx --help: --kernel, --grid, --block, --shared, --arg, --out, --print, --seed).\n"
    "Random inputs: floats in [-1, 1); integer inputs named pos/positions/position_ids are\n"
    "arange over the last axis; gather indices lie in [0, table rows); other integers in\n"
    "[0, last dim); bools are 0 or 1.\n";

typedef struct run_options {
  const char *file;   /* the graph being run (one of files) */
  const char **files; /* every FILE argument, in order */
  int n_files;
  const char *device;
  const char *weights;
  bool random;
  bool print;
  const char *check;
  int64_t bench;
  uint64_t seed;
  bool explain;
  const char *emit_dir;
  const char *variant;
  bool autotune;
} run_options_t;

/* What a device runs: graph, inputs, weights and extra params → outputs. */
typedef struct run_request {
  const qiao_graph_t *graph;
  const qiao_tensor_t *const *inputs;
  const qiao_safetensors_t *weights;
  const char *const *param_names;
  const qiao_tensor_t *const *params;
  int32_t n_params;
  const char *uri;      /* HAL device URI (not for ref) */
  int64_t bench;        /* extra timed runs (HAL devices) */
  bool explain;         /* print the per-kernel explanation (HAL devices) */
  const char *emit_dir; /* write the kernels' artifacts there (HAL devices) */
  const char *variant;  /* force this lowering variant where offered (NULL: cheapest) */
  bool autotune;        /* time the variants, keep the fastest (cached on disk) */
} run_request_t;

typedef qiao_status_t (*device_run_fn)(const run_request_t *req, qiao_tensor_t **out_outputs);

static qiao_status_t run_ref(const run_request_t *req, qiao_tensor_t **out_outputs) {
  return qiao_interp_run(req->graph, req->inputs, req->weights, req->param_names, req->params,
                         req->n_params, out_outputs);
}

static void fmt_ns(double ns, char *buf, size_t cap) {
  if (ns >= 1e6)
    snprintf(buf, cap, "%.3f ms", ns / 1e6);
  else if (ns >= 1e3)
    snprintf(buf, cap, "%.2f us", ns / 1e3);
  else
    snprintf(buf, cap, "%.0f ns", ns);
}

/* --explain, dispatch by cost model: the variant chosen, how, and each
 * alternative with its predicted (and, autotuned, its timed) time. */
static void explain_variant(const qiao_kernel_explain_t *k) {
  const qiao_variant_choice_t *vc = &k->variant;
  if (vc->n < 1) return;
  char t[32];
  const char *chosen = vc->variants[vc->chosen].name;
  if (vc->ns[vc->chosen] >= 0) {
    fmt_ns(vc->ns[vc->chosen], t, sizeof t);
    printf("  variant: %s (%s; predicted %s, %s)\n", chosen, vc->how, t, vc->basis[vc->chosen]);
  } else {
    printf("  variant: %s (%s; %s)\n", chosen, vc->how, vc->basis[vc->chosen]);
  }
  for (int32_t i = 0; i < vc->n; ++i) {
    if (i == vc->chosen) continue;
    if (vc->ns[i] >= 0) {
      fmt_ns(vc->ns[i], t, sizeof t);
      printf("    alternative %s: predicted %s", vc->variants[i].name, t);
    } else {
      printf("    alternative %s: %s", vc->variants[i].name, vc->basis[i]);
    }
    if (vc->tuned_ns[i] >= 0) {
      fmt_ns(vc->tuned_ns[i], t, sizeof t);
      printf(", autotune %s (%s)", t, qiao_hal_time_kind_name(vc->tuned_kind));
    }
    printf("\n");
  }
  if (vc->tuned_ns[vc->chosen] >= 0) {
    fmt_ns(vc->tuned_ns[vc->chosen], t, sizeof t);
    printf("    autotune %s: %s (%s)\n", chosen, t, qiao_hal_time_kind_name(vc->tuned_kind));
  }
}

/* --explain on an accelerator: the kernels the model predicts faster on the
 * host CPU (inputs and outputs over the host link). */
static qiao_status_t explain_hybrid(qiao_program_t *prog, const qiao_kernel_explain_t *ks,
                                    int32_t n) {
  qiao_hybrid_step_t *steps = NULL;
  int32_t m = 0;
  QIAO_RETURN_IF_ERROR(qiao_program_hybrid_plan(prog, ks, n, &steps, &m));
  for (int32_t i = 0; i < m; ++i) {
    const qiao_hybrid_step_t *h = &steps[i];
    char a[32], b[32], c[32];
    fmt_ns(h->device_ns, a, sizeof a);
    fmt_ns(h->cpu_ns + h->transfer_ns, b, sizeof b);
    fmt_ns(h->transfer_ns, c, sizeof c);
    printf(
        "hybrid plan: run %s (%s) on cpu: predicted %s -> %s (%s; cpu roofline + %s over the %s; "
        "not executed)\n",
        h->name, h->kind, a, b, h->device_label, c, h->link);
  }
  free(steps);
  return NULL;
}

/* --explain: one block per kernel; every time names its kind and profile. */
static qiao_status_t explain(qiao_hal_device_t *dev, qiao_program_t *prog,
                             const run_request_t *req) {
  qiao_kernel_explain_t *ks = NULL;
  int32_t n = 0;
  QIAO_RETURN_IF_ERROR(qiao_program_explain(prog, req->graph, req->inputs, &ks, &n));
  printf("explain %s: %d kernels\n", req->uri, n);
  double pred_total = 0, run_total = 0, wall_total = 0;
  int32_t n_pred = 0;
  const char *pred_label = "";
  char label[96] = "";
  for (int32_t i = 0; i < n; ++i) {
    const qiao_kernel_explain_t *k = &ks[i];
    const qiao_kernel_prediction_t *pr = &k->prediction;
    printf("kernel %s: %s (%s)\n", k->name, k->kind, k->ops);
    explain_variant(k);
    printf("  grid %lld x %lld x %lld, block %d x %d x %d, shared %llu bytes dynamic",
           (long long)k->grid[0], (long long)k->grid[1], (long long)k->grid[2], k->block[0],
           k->block[1], k->block[2], (unsigned long long)k->shared_bytes);
    if (k->has_prediction && pr->static_shared_bytes >= 0)
      printf(" + %lld static", (long long)pr->static_shared_bytes);
    printf("\n");
    if (k->has_prediction) {
      if (pr->registers > 0)
        printf("  registers %d per thread (%s)", pr->registers, pr->registers_source);
      else
        printf("  registers unknown (%s)", pr->registers_source);
      if (pr->spill_bytes >= 0) printf(", spills %lld bytes", (long long)pr->spill_bytes);
      if (pr->occupancy >= 0) printf(", occupancy %.0f%% (theoretical)", 100 * pr->occupancy);
      printf("\n");
    }
    printf("  work: %.4g FLOPs, %.4g bytes\n", k->flops, k->bytes);
    char t[32];
    if (k->has_prediction) {
      fmt_ns(pr->ns, t, sizeof t);
      printf("  predicted: %s (%s), bound by %s\n    %s\n", t, pr->label, pr->bound, pr->detail);
    } else if (k->no_prediction[0]) {
      printf("  predicted: none (%s)\n", k->no_prediction);
    }
    const qiao_hal_profile_t *prof = NULL;
    qiao_status_t ps =
        k->run_kind == QIAO_HAL_TIME_MEASURED ? NULL : qiao_hal_device_profile(dev, &prof);
    if (prof)
      snprintf(label, sizeof label, ", model of %s", qiao_hal_profile_info(prof)->name);
    else
      snprintf(label, sizeof label, ", on this host");
    qiao_status_free(ps);
    fmt_ns(k->run_ns, t, sizeof t);
    char wall[32];
    fmt_ns(k->run_wall_ns, wall, sizeof wall);
    printf("  run: %s (%s%s)", t, qiao_hal_time_kind_name(k->run_kind), label);
    if (k->run_kind != QIAO_HAL_TIME_MEASURED) printf(", host wall %s", wall);
    printf("\n");
    if (k->run_report[0]) printf("    %s\n", k->run_report);
    if (k->has_prediction) pred_total += pr->ns, n_pred++, pred_label = pr->label;
    run_total += k->run_ns;
    wall_total += k->run_wall_ns;
  }
  char t[32], w[32];
  printf("total:");
  if (n_pred == n && n > 0) {
    fmt_ns(pred_total, t, sizeof t);
    printf(" predicted %s (%s);", t, pred_label);
  }
  fmt_ns(run_total, t, sizeof t);
  fmt_ns(wall_total, w, sizeof w);
  printf(" run %s (%s%s)", t, qiao_hal_time_kind_name(n ? ks[0].run_kind : QIAO_HAL_TIME_MEASURED),
         label);
  if (n && ks[0].run_kind != QIAO_HAL_TIME_MEASURED) printf(", host wall %s", w);
  printf("\n");
  qiao_status_t hs = explain_hybrid(prog, ks, n);
  free(ks);
  return hs;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Any HAL device: compile through the runtime, bind params, run. */
static qiao_status_t run_hal(const run_request_t *req, qiao_tensor_t **out_outputs) {
  qiao_hal_device_t *dev = NULL;
  qiao_program_t *prog = NULL;
  qiao_status_t s = qiao_hal_device_open(req->uri, &dev);
  qiao_compile_options_t co = {0};
  co.variant = req->variant;
  if (!s) s = qiao_program_compile(NULL, req->graph, dev, &co, &prog);
  if (!s && req->emit_dir) {
    s = qiao_program_emit_dir(prog, req->emit_dir);
    if (!s)
      fprintf(stderr, "qiao-run: wrote the artifacts and launch records of %d kernels to %s\n",
              qiao_program_partition(prog)->n_kernels, req->emit_dir);
  }
  if (!s && req->weights) s = qiao_program_bind_weights(prog, req->weights);
  for (int32_t i = 0; i < req->n_params && !s; ++i)
    s = qiao_program_bind_param(prog, req->param_names[i], req->params[i]);
  if (!s && req->autotune) {
    char report[4096];
    s = qiao_program_autotune(prog, req->inputs, NULL, report, sizeof report);
    if (!s && report[0]) fprintf(stderr, "%s", report);
  }
  if (!s) s = qiao_program_run(prog, req->inputs, out_outputs);
  if (!s && req->explain) s = explain(dev, prog, req);
  if (!s) {
    qiao_program_stats_t st;
    qiao_program_stats(prog, &st);
    fprintf(stderr,
            "qiao-run: %s: %d kernels (%d from cache), compiled in %.1f ms; "
            "intermediates %lld bytes (%lld without reuse)\n",
            req->uri, st.n_kernels, st.n_cached, st.compile_ms, (long long)st.peak_bytes,
            (long long)st.naive_bytes);
  }
  if (!s && req->bench > 0) {
    int64_t n = req->bench;
    double *ms = calloc((size_t)n, sizeof(double));
    double *wall = calloc((size_t)n, sizeof(double));   /* host time (= ms when measured) */
    qiao_hal_time_kind_t kind = QIAO_HAL_TIME_MEASURED; /* what the device's events report */
    qiao_tensor_t **tmp = calloc((size_t)req->graph->n_outputs + 1, sizeof(*tmp));
    for (int64_t r = 0; r < n && ms && wall && tmp && !s; ++r) {
      qiao_hal_event_t a, b;
      qiao_hal_event_record(dev, &a);
      s = qiao_program_run(prog, req->inputs, tmp);
      qiao_hal_event_record(dev, &b);
      ms[r] = qiao_hal_event_elapsed_ms(&a, &b);
      wall[r] = qiao_hal_event_wall_ms(&a, &b);
      kind = b.kind;
      for (int32_t i = 0; !s && i < req->graph->n_outputs; ++i)
        qiao_tensor_destroy(tmp[i]);
    }
    if (!s && ms && wall) {
      qsort(ms, (size_t)n, sizeof(double), cmp_double);
      qsort(wall, (size_t)n, sizeof(double), cmp_double);
      char label[160] = "";
      const qiao_hal_profile_t *prof = NULL;
      qiao_status_t ps =
          kind == QIAO_HAL_TIME_MEASURED ? NULL : qiao_hal_device_profile(dev, &prof);
      if (prof)
        snprintf(label, sizeof label, " (model of %s); host wall median %.3f ms",
                 qiao_hal_profile_info(prof)->name, wall[n / 2]);
      qiao_status_free(ps);
      printf("bench %s: %lld runs, median %.3f ms (min %.3f, max %.3f), %s%s\n", req->uri,
             (long long)n, ms[n / 2], ms[0], ms[n - 1], qiao_hal_time_kind_name(kind), label);
    }
    free(ms);
    free(wall);
    free(tmp);
  }
  qiao_program_destroy(prog);
  if (dev) qiao_hal_device_release(dev);
  return s;
}

/* "ref" is the reference interpreter; every other name is a HAL device URI
 * (the HAL's driver table knows them and names the known ones on a typo). */
static device_run_fn device_lookup(const char *name) {
  return strcmp(name, "ref") == 0 ? run_ref : run_hal;
}

static int exit_code_for(qiao_status_t s) {
  switch (qiao_status_code(s)) {
  case QIAO_INVALID_ARGUMENT:
  case QIAO_NOT_FOUND:
  case QIAO_IO_ERROR:
  case QIAO_UNAVAILABLE: return 1;
  default: return 2;
  }
}

/* Prints a status as one line and returns its exit code. */
static int report(qiao_status_t s) {
  const char *m = qiao_status_message(s);
  for (const char *p = m; *p; ++p)
    fputc(*p == '\n' ? ' ' : *p, stderr);
  fputc('\n', stderr);
  int rc = exit_code_for(s);
  qiao_status_free(s);
  return rc;
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; ++s)
    h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

/* ------------------------------------------------------------ random data */

/* The table rows a value indexes when it is gather's indices operand; 0 if never. */
static int64_t gather_rows(const qiao_graph_t *g, int32_t v) {
  for (int32_t o = 0; o < g->n_ops; ++o) {
    const qiao_op_t *op = &g->ops[o];
    if (op->kind != QIAO_OP_GATHER || op->n_operands != 2 || op->operands[1] != v) continue;
    const qiao_type_t *tab = &g->values[op->operands[0]].type;
    int64_t ax = op->attrs.axis < 0 ? op->attrs.axis + tab->shape.rank : op->attrs.axis;
    if (ax >= 0 && ax < tab->shape.rank) return tab->shape.dims[ax];
  }
  return 0;
}

static bool is_position_name(const char *n) {
  return n &&
         (strcmp(n, "pos") == 0 || strcmp(n, "positions") == 0 || strcmp(n, "position_ids") == 0);
}

static void fill_input(const qiao_graph_t *g, int32_t v, qiao_tensor_t *t, uint64_t *rng) {
  const qiao_type_t *ty = &t->type;
  int64_t last = ty->shape.rank > 0 ? ty->shape.dims[ty->shape.rank - 1] : 1;
  if (qiao_dtype_is_float(ty->dtype)) {
    qiao_tensor_fill_random(t, rng, -1.0, 1.0);
  } else if (ty->dtype == QIAO_BOOL) {
    qiao_tensor_fill_random(t, rng, 0, 2);
  } else if (is_position_name(g->values[v].name)) {
    int64_t n = qiao_shape_numel(&ty->shape);
    for (int64_t i = 0; i < n; ++i)
      qiao_tensor_set_f64(t, i, (double)(i % (last ? last : 1)));
  } else {
    int64_t rows = gather_rows(g, v);
    double hi = (double)(rows > 0 ? rows : last);
    qiao_tensor_fill_random(t, rng, 0, hi > 1 ? hi : 1);
  }
}

/* ------------------------------------------------------------------ print */

static void print_values(const qiao_tensor_t *t) {
  int64_t n = qiao_shape_numel(&t->type.shape);
  int64_t row = t->type.shape.rank > 0 ? t->type.shape.dims[t->type.shape.rank - 1] : 1;
  if (row <= 0) row = 1;
  for (int64_t i = 0; i < n; ++i) {
    double x = qiao_tensor_get_f64(t, i);
    if (i % row == 0) fputs("  ", stdout);
    if (qiao_dtype_is_float(t->type.dtype)) {
      printf("%.7g", x);
    } else {
      printf("%lld", (long long)x);
    }
    fputs((i + 1) % row == 0 ? "\n" : " ", stdout);
  }
}

/* ------------------------------------------------------------------- main */

static int parse_args(int argc, char **argv, run_options_t *o) {
  memset(o, 0, sizeof *o);
  o->files = calloc((size_t)argc + 1, sizeof *o->files);
  if (!o->files) {
    fprintf(stderr, "qiao-run: out of memory\n");
    return 2;
  }
  o->device = "ref";
  o->seed = 1;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    const char *val = NULL;
    if (strcmp(a, "--device") == 0 || strcmp(a, "--weights") == 0 || strcmp(a, "--seed") == 0 ||
        strcmp(a, "--check") == 0 || strcmp(a, "--bench") == 0 || strcmp(a, "--emit-dir") == 0 ||
        strcmp(a, "--variant") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "qiao-run: %s needs a value (see --help)\n", a);
        return 1;
      }
      val = argv[++i];
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(k_usage, stdout);
      return -1;
    } else if (strcmp(a, "--device") == 0) {
      o->device = val;
    } else if (strcmp(a, "--weights") == 0) {
      o->weights = val;
    } else if (strcmp(a, "--seed") == 0) {
      char *end = NULL;
      o->seed = strtoull(val, &end, 0);
      if (!val[0] || !end || *end) {
        fprintf(stderr, "qiao-run: --seed: '%s' is not an integer\n", val);
        return 1;
      }
    } else if (strcmp(a, "--check") == 0) {
      if (strcmp(val, "ref") != 0) {
        fprintf(stderr, "qiao-run: --check: unknown reference '%s' (available: ref)\n", val);
        return 1;
      }
      o->check = val;
    } else if (strcmp(a, "--bench") == 0) {
      char *end = NULL;
      o->bench = strtoll(val, &end, 0);
      if (!val[0] || !end || *end || o->bench < 1 || o->bench > 1000000) {
        fprintf(stderr, "qiao-run: --bench: '%s' is not a count in 1..1000000\n", val);
        return 1;
      }
    } else if (strcmp(a, "--emit-dir") == 0) {
      o->emit_dir = val;
    } else if (strcmp(a, "--variant") == 0) {
      o->variant = val;
    } else if (strcmp(a, "--autotune") == 0) {
      o->autotune = true;
    } else if (strcmp(a, "--explain") == 0) {
      o->explain = true;
    } else if (strcmp(a, "--random") == 0) {
      o->random = true;
    } else if (strcmp(a, "--print") == 0) {
      o->print = true;
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "qiao-run: unknown option '%s' (see --help)\n", a);
      return 1;
    } else {
      o->files[o->n_files++] = a;
    }
  }
  if (!o->n_files) {
    fprintf(stderr, "qiao-run: no graph file given (see --help)\n");
    return 1;
  }
  if (o->weights && o->n_files > 1) {
    fprintf(stderr,
            "qiao-run: --weights names one file but %d graphs are given (without "
            "--weights each FILE.qir uses FILE.safetensors beside it)\n",
            o->n_files);
    return 1;
  }
  if (o->emit_dir && o->n_files > 1) {
    fprintf(stderr, "qiao-run: --emit-dir takes one graph but %d are given\n", o->n_files);
    return 1;
  }
  if ((o->emit_dir || o->explain || o->autotune || o->variant) && strcmp(o->device, "ref") == 0) {
    fprintf(stderr, "qiao-run: %s needs a HAL device (--device cpu, simt-emu:h100, ...), not ref\n",
            o->emit_dir   ? "--emit-dir"
            : o->explain  ? "--explain"
            : o->autotune ? "--autotune"
                          : "--variant");
    return 1;
  }
  o->file = o->files[0];
  return 0;
}

/* The weights file a graph uses: --weights, else (without --random) the
 * FILE.safetensors beside FILE.qir when it exists, else none. Returns a
 * malloc'ed path or NULL. */
static char *weights_for(const run_options_t *o, const char *file) {
  if (o->weights) return strdup(o->weights);
  if (o->random) return NULL;
  size_t n = strlen(file);
  const char *ext = n > 4 && strcmp(file + n - 4, ".qir") == 0 ? file + n - 4 : file + n;
  size_t stem = (size_t)(ext - file);
  char *p = malloc(stem + sizeof(".safetensors"));
  if (!p) return NULL;
  memcpy(p, file, stem);
  memcpy(p + stem, ".safetensors", sizeof(".safetensors"));
  FILE *f = fopen(p, "rb");
  if (!f) {
    free(p);
    return NULL;
  }
  fclose(f);
  return p;
}

/* Runs one graph file (opt.file, weights opt.weights); returns its exit code. */
static int run_one(run_options_t opt, device_run_fn run) {
  int rc;
  qiao_graph_t *g = NULL;
  qiao_status_t s = qiao_ir_parse_file(opt.file, &g);
  if (s) return report(s);

  qiao_safetensors_t *w = NULL;
  if (opt.weights) {
    s = qiao_safetensors_open(opt.weights, &w);
    if (s) {
      qiao_ir_graph_destroy(g);
      return report(s);
    }
  }

  /* Bind params: check the file's types, fill the missing ones with --random. */
  int32_t n_extra = 0;
  const char **extra_names = calloc((size_t)g->n_ops + 1, sizeof *extra_names);
  qiao_tensor_t **extra = calloc((size_t)g->n_ops + 1, sizeof *extra);
  qiao_tensor_t **inputs = calloc((size_t)g->n_inputs + 1, sizeof *inputs);
  qiao_tensor_t **outputs = calloc((size_t)g->n_outputs + 1, sizeof *outputs);
  if (!extra_names || !extra || !inputs || !outputs) {
    s = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "qiao-run: out of memory");
  }
  for (int32_t o = 0; o < g->n_ops && !s; ++o) {
    const qiao_op_t *op = &g->ops[o];
    if (op->kind != QIAO_OP_PARAM) continue;
    const char *pn = op->attrs.param_name;
    const qiao_type_t *ty = &g->values[op->results[0]].type;
    char a[96], b[96];
    qiao_tensor_t view;
    qiao_status_t gs = w ? qiao_safetensors_get(w, pn, &view) : NULL;
    if (w && !gs) {
      if (!qiao_type_equal(&view.type, ty)) {
        s = qiao_status_make(QIAO_INVALID_ARGUMENT, "%s:%d:%d: param \"%s\" is %s but %s holds %s",
                             opt.file, op->loc.line, op->loc.col, pn,
                             qiao_type_str(ty, a, sizeof a), opt.weights,
                             qiao_type_str(&view.type, b, sizeof b));
      }
      continue;
    }
    qiao_status_free(gs);
    bool have = false;
    for (int32_t j = 0; j < n_extra; ++j)
      have = have || strcmp(extra_names[j], pn) == 0;
    if (have) continue;
    if (!opt.random) {
      char why[512];
      if (w) {
        snprintf(why, sizeof why, "%s has no tensor of that name", opt.weights);
      } else {
        snprintf(why, sizeof why, "no --weights given");
      }
      s = qiao_status_make(QIAO_INVALID_ARGUMENT,
                           "%s:%d:%d: param \"%s\" (%s) is not bound: %s (use --random to fill "
                           "unbound params)",
                           opt.file, op->loc.line, op->loc.col, pn, qiao_type_str(ty, a, sizeof a),
                           why);
      break;
    }
    s = qiao_tensor_create(*ty, &extra[n_extra]);
    if (s) break;
    double lo, hi;
    qiao_ir_param_init_range(g, op->results[0], &lo, &hi);
    uint64_t prng = opt.seed * 0x9E3779B97F4A7C15ull ^ fnv1a(pn);
    qiao_tensor_fill_random(extra[n_extra], &prng, lo, hi);
    extra_names[n_extra++] = pn;
  }

  /* Random inputs. */
  uint64_t rng = opt.seed;
  for (int32_t i = 0; i < g->n_inputs && !s; ++i) {
    int32_t v = g->inputs[i];
    s = qiao_tensor_create(g->values[v].type, &inputs[i]);
    if (!s) fill_input(g, v, inputs[i], &rng);
  }

  if (!s) {
    run_request_t req = {g,
                         (const qiao_tensor_t *const *)inputs,
                         w,
                         extra_names,
                         (const qiao_tensor_t *const *)extra,
                         n_extra,
                         opt.device,
                         opt.bench,
                         opt.explain,
                         opt.emit_dir,
                         opt.variant,
                         opt.autotune};
    s = run(&req, outputs);
    if (s) s = qiao_status_annotate(s, "%s: device %s", opt.file, opt.device);
  }

  /* --check ref: the same inputs and params on the interpreter. */
  bool check_failed = false;
  qiao_tensor_t **refs = calloc((size_t)g->n_outputs + 1, sizeof *refs);
  if (!s && opt.check && !refs)
    s = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "qiao-run: out of memory");
  if (!s && opt.check) {
    run_request_t req = {g,
                         (const qiao_tensor_t *const *)inputs,
                         w,
                         extra_names,
                         (const qiao_tensor_t *const *)extra,
                         n_extra,
                         NULL,
                         0,
                         false,
                         NULL,
                         NULL,
                         false};
    s = run_ref(&req, refs);
    if (s) s = qiao_status_annotate(s, "%s: device ref", opt.file);
  }

  if (!s) {
    for (int32_t i = 0; i < g->n_outputs; ++i) {
      const qiao_value_t *ov = &g->values[g->outputs[i]];
      char tb[128];
      printf("output %d %s%s: %s checksum=%.9g\n", i, ov->name ? "%" : "",
             ov->name ? ov->name : "(anonymous)", qiao_type_str(&outputs[i]->type, tb, sizeof tb),
             qiao_tensor_checksum(outputs[i]));
      if (opt.print) print_values(outputs[i]);
      if (opt.check) {
        double err = qiao_tensor_max_error(outputs[i], refs[i]);
        double tol = qiao_dtype_tolerance(outputs[i]->type.dtype);
        bool ok = err <= tol;
        printf("check output %d against ref: max normalized error %.3g (tolerance %.3g) %s\n", i,
               err, tol, ok ? "ok" : "FAILED");
        check_failed |= !ok;
      }
    }
  }
  rc = s ? report(s) : 0;
  if (!rc && check_failed) {
    fprintf(stderr, "%s: device %s differs from the reference interpreter beyond tolerance\n",
            opt.file, opt.device);
    rc = 1;
  }
  for (int32_t i = 0; refs && i < g->n_outputs; ++i)
    qiao_tensor_destroy(refs[i]);
  free(refs);

  for (int32_t i = 0; outputs && i < g->n_outputs; ++i)
    qiao_tensor_destroy(outputs[i]);
  for (int32_t i = 0; inputs && i < g->n_inputs; ++i)
    qiao_tensor_destroy(inputs[i]);
  for (int32_t j = 0; j < n_extra; ++j)
    qiao_tensor_destroy(extra[j]);
  free(outputs);
  free(inputs);
  free(extra);
  free(extra_names);
  qiao_safetensors_destroy(w);
  qiao_ir_graph_destroy(g);
  return rc;
}

int main(int argc, char **argv) {
  if (qiao_run_ptx_wanted(argc, argv)) return qiao_run_ptx_main(argc, argv); /* foreign PTX */
  run_options_t opt;
  int rc = parse_args(argc, argv, &opt);
  if (rc) {
    free(opt.files);
    return rc < 0 ? 0 : rc;
  }
  device_run_fn run = device_lookup(opt.device);
  if (run == run_hal) { /* a bad URI fails once, before any graph is read */
    qiao_hal_device_t *dev = NULL;
    qiao_status_t s = qiao_hal_device_open(opt.device, &dev);
    if (s) {
      fprintf(stderr, "qiao-run: %s\n", qiao_status_message(s));
      qiao_status_free(s);
      free(opt.files);
      return 1; /* a device that cannot be opened is the user's to fix */
    }
    qiao_hal_device_release(dev);
  }
  /* Each graph in turn; the exit code is the worst one. */
  int worst = 0;
  for (int i = 0; i < opt.n_files; ++i) {
    run_options_t one = opt;
    one.file = opt.files[i];
    char *w = weights_for(&opt, one.file);
    one.weights = w;
    if (opt.n_files > 1) {
      if (w)
        printf("== %s (weights %s)\n", one.file, w);
      else
        printf("== %s\n", one.file);
    }
    fflush(stdout);
    int r = run_one(one, run);
    if (r > worst) worst = r;
    free(w);
  }
  free(opt.files);
  return worst;
}
