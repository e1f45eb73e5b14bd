/* CUDA backend — the modelled time of a kernel descriptor (docs/cuda-model.md):
 * its work (qiao_kernel_desc_work) mapped to the pipes the lowering uses, its
 * launch record, the ptxas resource report (registers, static shared bytes;
 * without ptxas: the model's register fallback and the PTX's .shared
 * declarations) and the device profile, through the HAL's CUDA-class model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cuda/module.h"
#include "cuda/ptxas_report.h"
#include "cuda/target.h"
#include "qiao/backend_cuda.h"
#include "qiao/ptx.h"

void qiao_cuda_kernel_work(const qiao_kernel_desc_t *kd, const qiao_kernel_launch_t *l,
                           int32_t registers, int64_t static_shared, qiao_cuda_work_t *out) {
  memset(out, 0, sizeof *out);
  qiao_kd_work_t w;
  qiao_kernel_desc_work(kd, &w);
  /* The lowering's pipes: f16/bf16 contractions run mma.sync on the tensor
   * cores; f32, f8 (widened to f32) and i8 contractions run on the SIMT pipe. */
  int pipe = w.contract_dtype == QIAO_F16    ? QIAO_CUDA_PIPE_F16
             : w.contract_dtype == QIAO_BF16 ? QIAO_CUDA_PIPE_BF16
                                             : QIAO_CUDA_PIPE_SIMT;
  out->flops[pipe] += w.contract_flops;
  out->flops[QIAO_CUDA_PIPE_SIMT] += w.other_flops;
  out->bytes = w.bytes;
  for (int a = 0; a < 3; ++a) {
    out->grid[a] = l->grid[a] > 0 ? l->grid[a] : 1;
    out->block[a] = l->block[a] > 0 ? l->block[a] : 1;
  }
  out->registers = registers;
  out->shared_bytes = static_shared + (int64_t)l->shared_bytes;
}

qiao_status_t qiao_cuda_kernel_estimate(const qiao_kernel_desc_t *kd, const qiao_kernel_launch_t *l,
                                        const qiao_hal_profile_t *p, int32_t registers,
                                        int64_t static_shared, qiao_cuda_estimate_t *out) {
  qiao_cuda_work_t w;
  qiao_cuda_kernel_work(kd, l, registers, static_shared, &w);
  return qiao_cuda_model_estimate(p, &w, out);
}

bool qiao_cuda_find_ptxas(char *out, size_t cap) {
  const char *path = getenv("PATH");
  char dirs[4096];
  snprintf(dirs, sizeof dirs, "%s:/usr/local/cuda/bin", path ? path : "");
  for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    if (!*d) continue;
    snprintf(out, cap, "%s/ptxas", d);
    if (access(out, X_OK) == 0) return true;
  }
  return false;
}

qiao_status_t qiao_cuda_ptxas_resources(const char *ptx_path, const char *arch, const char *kernel,
                                        int32_t *out_registers, int64_t *out_shared,
                                        int64_t *out_spill) {
  char ptxas[1024];
  if (!qiao_cuda_find_ptxas(ptxas, sizeof ptxas))
    return qiao_status_make(QIAO_UNAVAILABLE, "no ptxas (PATH or /usr/local/cuda/bin)");
  if (strchr(ptx_path, '\'') || strchr(ptxas, '\'') || strchr(arch, '\''))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "ptxas: a path with a quote: '%s'", ptx_path);
  char cmd[3072];
  snprintf(cmd, sizeof cmd, "'%s' -v -arch='%s' -o /dev/null '%s' 2>&1", ptxas, arch, ptx_path);
  FILE *f = popen(cmd, "r");
  if (!f) return qiao_status_make(QIAO_IO_ERROR, "cannot run %s", ptxas);
  size_t cap = 1 << 16, n = 0;
  char *text = malloc(cap);
  if (!text) {
    pclose(f);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  size_t r;
  while (n + 1 < cap && (r = fread(text + n, 1, cap - 1 - n, f)) > 0)
    n += r;
  text[n] = 0;
  int rc = pclose(f);
  qiao_status_t st = NULL;
  if (rc != 0) {
    st = qiao_status_make(QIAO_INVALID_ARGUMENT, "ptxas -arch=%s rejects %s: %.400s", arch,
                          ptx_path, text);
    free(text);
    return st;
  }
  qiao_ptxas_kernel_t ks[64];
  int32_t nk = 0;
  st = qiao_ptxas_report_parse(text, ks, 64, &nk);
  free(text);
  if (st) return st;
  for (int32_t i = 0; i < nk; ++i)
    if (!strcmp(ks[i].name, kernel)) {
      *out_registers = ks[i].registers;
      *out_shared = ks[i].shared_bytes;
      *out_spill = ks[i].spill_stores + ks[i].spill_loads;
      return NULL;
    }
  return qiao_status_make(QIAO_NOT_FOUND, "ptxas report: no entry '%s'", kernel);
}

/* Static shared bytes the PTX declares (module-level and in entry bodies). */
static int64_t ptx_static_shared(const char *text, size_t len) {
  qiao_ptx_module_t *m = NULL;
  qiao_status_t st = qiao_ptx_parse(text, len, "<ptx>", &m);
  if (st) {
    qiao_status_free(st);
    return -1;
  }
  int64_t total = 0;
  for (int pass = 0; pass < 2; ++pass) {
    uint32_t nf = pass ? m->nfuncs : 1;
    for (uint32_t fi = 0; fi < nf; ++fi) {
      uint32_t nv = pass ? m->funcs[fi].nlocals : m->nvars;
      const qiao_ptx_var_t *vs = pass ? m->funcs[fi].locals : m->vars;
      for (uint32_t i = 0; i < nv; ++i) {
        const qiao_ptx_var_t *v = &vs[i];
        if (v->space != QIAO_PTX_SPACE_SHARED) continue;
        int64_t b = (int64_t)qiao_ptx_type_size((qiao_ptx_type_t)v->type) * (v->vec ? v->vec : 1);
        for (uint32_t d = 0; d < v->ndims; ++d)
          b *= (int64_t)v->dims[d];
        uint32_t al = v->align > 1 ? v->align : 1;
        total = (total + al - 1) / al * al + b;
      }
    }
  }
  qiao_ptx_module_destroy(m);
  return total;
}

/* The backend table's `predict`: compiles kd alone for d's sm, asks ptxas
 * for its resources when it is installed, and models it on d's profile. */
qiao_status_t qiao_cuda_predict(const qiao_kernel_desc_t *kd, const qiao_kernel_launch_t *launch,
                                qiao_hal_device_t *d, qiao_kernel_prediction_t *out) {
  memset(out, 0, sizeof *out);
  out->kind = QIAO_HAL_TIME_MODELLED;
  out->registers = -1;
  out->static_shared_bytes = -1;
  out->spill_bytes = -1;
  out->occupancy = -1;
  const qiao_hal_profile_t *p = NULL;
  QIAO_RETURN_IF_ERROR(qiao_hal_device_profile(d, &p));
  char sm[32];
  qiao_cuda_sm_for_profile(p, sm, sizeof sm);
  int32_t sms = qiao_hal_profile_info(p)->cores;
  qiao_cuda_options_t co = {.sm = sm, .n_sms = sms};
  qiao_cuda_module_t *m = NULL;
  QIAO_RETURN_IF_ERROR(qiao_cuda_module_create(&co, &m));
  qiao_kernel_launch_t l;
  const char *text = NULL;
  size_t len = 0;
  qiao_status_t st = qiao_cuda_module_add_kernel(m, kd, launch->name, &l);
  if (!st) st = qiao_cuda_module_ptx(m, &text, &len);
  if (st) {
    qiao_cuda_module_destroy(m);
    return st;
  }
  snprintf(out->registers_source, sizeof out->registers_source, "assumed (no ptxas)");
  char ptxas[1024];
  if (qiao_cuda_find_ptxas(ptxas, sizeof ptxas)) {
    char path[] = "/tmp/qiao-predict-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
      bool ok = write(fd, text, len) == (ssize_t)len;
      close(fd);
      int32_t regs = 0;
      int64_t shared = 0, spill = 0;
      qiao_status_t ps =
          ok ? qiao_cuda_ptxas_resources(path, sm, launch->name, &regs, &shared, &spill)
             : qiao_status_make(QIAO_IO_ERROR, "cannot write %s", path);
      unlink(path);
      if (!ps) {
        out->registers = regs;
        out->static_shared_bytes = shared;
        out->spill_bytes = spill;
        snprintf(out->registers_source, sizeof out->registers_source, "ptxas -v %s", sm);
      } else {
        snprintf(out->registers_source, sizeof out->registers_source, "assumed (ptxas failed)");
        qiao_status_free(ps);
      }
    }
  }
  if (out->static_shared_bytes < 0) out->static_shared_bytes = ptx_static_shared(text, len);
  qiao_cuda_module_destroy(m);
  qiao_cuda_estimate_t e;
  QIAO_RETURN_IF_ERROR(
      qiao_cuda_kernel_estimate(kd, launch, p, out->registers,
                                out->static_shared_bytes > 0 ? out->static_shared_bytes : 0, &e));
  if (out->registers < 0) out->registers = -1;
  snprintf(out->label, sizeof out->label, "modelled, %s", e.profile);
  out->ns = e.ns;
  snprintf(out->bound, sizeof out->bound, "%s", e.bound);
  out->occupancy = e.occupancy.occupancy;
  out->flops = e.flops;
  out->bytes = e.bytes;
  qiao_cuda_estimate_format(&e, out->detail, sizeof out->detail);
  return NULL;
}
