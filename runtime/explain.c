/* Explain and emit: what each kernel of a compiled program is, what its
 * backend predicts for it and what its device reports of a run (qiao-run
 * --explain); every kernel's artifacts and launch record written to a
 * directory (qiao-run --emit-dir). Device-neutral: the numbers come from the
 * backend's `predict` and the device's last-dispatch report. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "program_internal.h"
#include "qiao/backend.h"
#include "qiao/runtime.h"

static void ops_str(const qiao_graph_t *g, const qiao_kernel_desc_t *kd, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = 0;
  for (int32_t i = 0; g && i < kd->n_ops && n + 1 < cap; ++i) {
    if (kd->ops[i] < 0 || kd->ops[i] >= g->n_ops) continue;
    const qiao_op_t *op = &g->ops[kd->ops[i]];
    const char *v = op->n_results > 0 ? g->values[op->results[0]].name : NULL;
    int w = snprintf(buf + n, cap - n, "%s%s%s%s", i ? ", " : "", qiao_op_name(op->kind),
                     v && v[0] ? " %" : "", v && v[0] ? v : "");
    if (w < 0) break;
    n += (size_t)w;
  }
}

/* Dispatch by cost model: the variants of kernel i and the one chosen. Kept
 * apart from the prediction code above (docs/design.md). */
static void explain_variant(const qiao_program_t *p, int32_t i, qiao_kernel_explain_t *k) {
  const qiao_variant_choice_t *vc = qiao_program_kernel_variant(p, i);
  if (vc) k->variant = *vc;
}

/* A kernel the backend plans itself (one variant, id 0) is predicted by the
 * backend's `predict` when it has one (the roofline otherwise). */
static void explain_variant_predicted(qiao_kernel_explain_t *k) {
  qiao_variant_choice_t *vc = &k->variant;
  if (vc->n != 1 || vc->variants[0].id != 0 || !k->has_prediction) return;
  vc->ns[0] = k->prediction.ns;
  snprintf(vc->basis[0], sizeof vc->basis[0], "%s", k->prediction.label);
}

typedef struct explain_ctx {
  qiao_hal_device_t *d;
  qiao_kernel_explain_t *k;
  qiao_hal_event_t before;
} explain_ctx_t;

static qiao_status_t observe(void *vctx, int32_t kernel, bool after) {
  explain_ctx_t *c = vctx;
  if (!after) return qiao_hal_event_record(c->d, &c->before);
  qiao_hal_event_t end;
  QIAO_RETURN_IF_ERROR(qiao_hal_event_record(c->d, &end));
  qiao_kernel_explain_t *k = &c->k[kernel];
  k->run_kind = end.kind;
  k->run_ns = qiao_hal_event_elapsed_ms(&c->before, &end) * 1e6;
  k->run_wall_ns = qiao_hal_event_wall_ms(&c->before, &end) * 1e6;
  qiao_status_t st = qiao_hal_device_last_report(c->d, k->run_report, sizeof k->run_report);
  if (st) {
    k->run_report[0] = 0; /* a device with no report (cpu): its event time says it all */
    qiao_status_free(st);
  }
  return NULL;
}

qiao_status_t qiao_program_explain(qiao_program_t *p, const qiao_graph_t *g,
                                   const qiao_tensor_t *const *inputs,
                                   qiao_kernel_explain_t **out_kernels, int32_t *out_n) {
  *out_kernels = NULL;
  *out_n = 0;
  const qiao_partition_t *part = qiao_program_partition(p);
  int32_t n = part->n_kernels;
  qiao_kernel_explain_t *ks = calloc((size_t)(n ? n : 1), sizeof *ks);
  if (!ks) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  qiao_hal_device_t *d = qiao_program_device(p);
  const qiao_backend_t *be = qiao_program_backend(p);
  qiao_status_t st = NULL;
  for (int32_t i = 0; i < n && !st; ++i) {
    const qiao_kernel_desc_t *kd = &part->kernels[i];
    const qiao_kernel_launch_t *l = qiao_program_kernel_launch(p, i);
    qiao_kernel_explain_t *k = &ks[i];
    k->index = i;
    snprintf(k->name, sizeof k->name, "%s", l->name);
    k->kind = qiao_kd_kind_name(kd->kind);
    ops_str(g, kd, k->ops, sizeof k->ops);
    for (int a = 0; a < 3; ++a) {
      k->grid[a] = l->grid[a];
      k->block[a] = l->block[a] > 0 ? l->block[a] : 1;
    }
    k->shared_bytes = l->shared_bytes;
    explain_variant(p, i, k);
    qiao_kd_work_t w;
    qiao_kernel_desc_work(kd, &w);
    k->flops = w.contract_flops + w.other_flops;
    k->bytes = w.bytes;
    if (be && be->predict) {
      /* A kernel the backend cannot predict (its model refuses the launch
       * shape, say) is still explained: the reason takes the prediction's place. */
      qiao_status_t ps = be->predict(kd, l, d, &k->prediction);
      k->has_prediction = !ps;
      if (ps) {
        snprintf(k->no_prediction, sizeof k->no_prediction, "%s", qiao_status_message(ps));
        qiao_status_free(ps);
      }
    }
    explain_variant_predicted(k);
  }
  if (!st) {
    explain_ctx_t c = {.d = d, .k = ks};
    qiao_tensor_t **outs = calloc((size_t)g->n_outputs + 1, sizeof *outs);
    if (!outs) st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    if (!st) st = qiao_program_run_observed(p, inputs, outs, observe, &c);
    for (int32_t i = 0; outs && !st && i < g->n_outputs; ++i)
      qiao_tensor_destroy(outs[i]);
    free(outs);
  }
  if (st) {
    free(ks);
    return st;
  }
  *out_kernels = ks;
  *out_n = n;
  return NULL;
}

/* ------------------------------------------------------------ emit */

typedef struct emitted {
  char **tmp, **final;
  int32_t n, cap;
} emitted_t;

static qiao_status_t remember(emitted_t *e, const char *tmp, const char *final) {
  if (e->n == e->cap) {
    int32_t cap = e->cap ? e->cap * 2 : 16;
    char **t = realloc(e->tmp, sizeof(char *) * (size_t)cap);
    if (!t) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    e->tmp = t;
    char **f = realloc(e->final, sizeof(char *) * (size_t)cap);
    if (!f) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    e->final = f;
    e->cap = cap;
  }
  e->tmp[e->n] = strdup(tmp);
  e->final[e->n] = strdup(final);
  if (!e->tmp[e->n] || !e->final[e->n]) {
    free(e->tmp[e->n]);
    free(e->final[e->n]);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  e->n++;
  return NULL;
}

static qiao_status_t write_launch_json(const char *path, const char *device,
                                       const qiao_kernel_desc_t *kd, const qiao_kernel_launch_t *l,
                                       const char *const *files, int32_t n_files) {
  FILE *f = fopen(path, "w");
  if (!f) return qiao_status_make(QIAO_IO_ERROR, "cannot write %s: %s", path, strerror(errno));
  fprintf(f, "{\n  \"kernel\": \"%s\",\n  \"kind\": \"%s\",\n  \"device\": \"%s\",\n", l->name,
          qiao_kd_kind_name(kd->kind), device);
  fprintf(f, "  \"grid\": [%lld, %lld, %lld],\n  \"block\": [%d, %d, %d],\n", (long long)l->grid[0],
          (long long)l->grid[1], (long long)l->grid[2], l->block[0] > 0 ? l->block[0] : 1,
          l->block[1] > 0 ? l->block[1] : 1, l->block[2] > 0 ? l->block[2] : 1);
  fprintf(f, "  \"shared_bytes\": %llu,\n  \"scratch_bytes\": %llu,\n  \"bindings\": [",
          (unsigned long long)l->shared_bytes, (unsigned long long)l->scratch_bytes);
  for (int32_t b = 0; b < l->n_bindings; ++b) {
    bool in = b < kd->n_inputs;
    const qiao_kd_operand_t *o = in ? &kd->inputs[b] : &kd->outputs[b - kd->n_inputs];
    char ty[128];
    qiao_type_str(&o->type, ty, sizeof ty);
    fprintf(f, "%s\n    {\"index\": %d, \"role\": \"%s\", \"type\": \"%s\", \"bytes\": %llu}",
            b ? "," : "", b, in ? "input" : "output", ty, (unsigned long long)l->binding_bytes[b]);
  }
  fprintf(f, "\n  ],\n  \"files\": [");
  for (int32_t i = 0; i < n_files; ++i)
    fprintf(f, "%s\"%s\"", i ? ", " : "", files[i]);
  fprintf(f, "]\n}\n");
  bool bad = ferror(f) != 0;
  if (fclose(f) != 0 || bad)
    return qiao_status_make(QIAO_IO_ERROR, "cannot write %s: %s", path, strerror(errno));
  return NULL;
}

static void discard(emitted_t *e, const char *tmpdir) {
  for (int32_t i = 0; i < e->n; ++i)
    unlink(e->tmp[i]);
  if (tmpdir) rmdir(tmpdir);
}

qiao_status_t qiao_program_emit_dir(const qiao_program_t *p, const char *dir) {
  struct stat sb;
  if (!dir || !*dir) return qiao_status_make(QIAO_INVALID_ARGUMENT, "emit dir: no directory given");
  if (stat(dir, &sb) != 0)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "emit dir '%s': %s", dir, strerror(errno));
  if (!S_ISDIR(sb.st_mode))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "emit dir '%s': not a directory", dir);
  if (access(dir, W_OK | X_OK) != 0)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "emit dir '%s': not writable", dir);
  char tmpdir[4096];
  snprintf(tmpdir, sizeof tmpdir, "%s/.qiao-emit-XXXXXX", dir);
  if (!mkdtemp(tmpdir))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "emit dir '%s': %s", dir, strerror(errno));
  qiao_hal_device_t *d = qiao_program_device(p);
  const qiao_backend_t *be = qiao_program_backend(p);
  const qiao_partition_t *part = qiao_program_partition(p);
  static const struct {
    qiao_artifact_kind_t kind;
    const char *ext;
  } kArtifacts[] = {
      {QIAO_ARTIFACT_PTX, "ptx"}, {QIAO_ARTIFACT_LLVM, "ll"}, {QIAO_ARTIFACT_LISTING, "listing"}};
  emitted_t e = {0};
  qiao_status_t st = NULL;
  for (int32_t k = 0; k < part->n_kernels && !st; ++k) {
    const qiao_kernel_desc_t *kd = &part->kernels[k];
    const qiao_kernel_launch_t *l = qiao_program_kernel_launch(p, k);
    qiao_backend_options_t bo = {0};
    bo.n_threads = qiao_hal_device_thread_count(d);
    qiao_backend_module_t *m = NULL;
    qiao_kernel_launch_t l2;
    st = qiao_backend_module_create(be, d, &bo, &m);
    const qiao_variant_choice_t *vc = qiao_program_kernel_variant(p, k);
    int32_t vid = vc ? vc->variants[vc->chosen].id : 0;
    if (!st) st = qiao_backend_module_add_kernel_variant(m, kd, l->name, vid, &l2);
    if (!st) st = qiao_backend_module_optimize(m);
    const char *files[4];
    char names[4][96];
    int32_t nf = 0;
    for (size_t a = 0; a < sizeof kArtifacts / sizeof kArtifacts[0] && !st; ++a) {
      char tmp[4352], fin[4352];
      snprintf(names[nf], sizeof names[nf], "%s.%s", l->name, kArtifacts[a].ext);
      snprintf(tmp, sizeof tmp, "%s/%s", tmpdir, names[nf]);
      snprintf(fin, sizeof fin, "%s/%s", dir, names[nf]);
      qiao_status_t es = qiao_backend_module_emit(m, kArtifacts[a].kind, tmp);
      if (es && qiao_status_code(es) == QIAO_UNSUPPORTED) {
        qiao_status_free(es); /* not an artifact of this backend */
        continue;
      }
      st = es ? es : remember(&e, tmp, fin);
      if (!st) files[nf] = names[nf], nf++;
    }
    qiao_backend_module_destroy(m);
    if (!st) {
      char tmp[4352], fin[4352];
      snprintf(tmp, sizeof tmp, "%s/%s.launch.json", tmpdir, l->name);
      snprintf(fin, sizeof fin, "%s/%s.launch.json", dir, l->name);
      st = write_launch_json(tmp, qiao_hal_device_uri(d), kd, l, files, nf);
      if (!st)
        st = remember(&e, tmp, fin);
      else
        unlink(tmp);
    }
    if (st) st = qiao_status_annotate(st, "emit dir '%s': kernel %s", dir, l->name);
  }
  /* Everything is written: move it into place. */
  for (int32_t i = 0; i < e.n && !st; ++i)
    if (rename(e.tmp[i], e.final[i]) != 0) {
      st = qiao_status_make(QIAO_IO_ERROR, "emit dir '%s': cannot rename %s to %s: %s", dir,
                            e.tmp[i], e.final[i], strerror(errno));
      for (int32_t j = 0; j < i; ++j)
        unlink(e.final[j]);
    }
  if (st)
    discard(&e, tmpdir);
  else
    rmdir(tmpdir);
  for (int32_t i = 0; i < e.n; ++i)
    free(e.tmp[i]), free(e.final[i]);
  free(e.tmp);
  free(e.final);
  return st;
}
