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
   * cores, and so does an i8 × i8 matmul (mma .s8); f32, f8 (widened to f32)
   * contractions run on the SIMT pipe. */
  int pipe = w.contract_dtype == QIAO_F16    ? QIAO_CUDA_PIPE_F16
             : w.contract_dtype == QIAO_BF16 ? QIAO_CUDA_PIPE_BF16
             : w.contract_dtype == QIAO_I8 && kd->kind == QIAO_KD_MATMUL && kd->n_inputs > 1 &&
                     kd->inputs[1].type.dtype == QIAO_I8
                 ? QIAO_CUDA_PIPE_I8
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

/* `ptxas -v` on ptx_path: every entry's report into ks (at most cap). */
static qiao_status_t ptxas_reports(const char *ptx_path, const char *arch, qiao_ptxas_kernel_t *ks,
                                   int32_t cap_k, int32_t *out_n) {
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
  st = qiao_ptxas_report_parse(text, ks, cap_k, out_n);
  free(text);
  return st;
}

qiao_status_t qiao_cuda_ptxas_resources(const char *ptx_path, const char *arch, const char *kernel,
                                        int32_t *out_registers, int64_t *out_shared,
                                        int64_t *out_spill) {
  qiao_ptxas_kernel_t ks[64];
  int32_t nk = 0;
  QIAO_RETURN_IF_ERROR(ptxas_reports(ptx_path, arch, ks, 64, &nk));
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

/* The share of a multi-phase kernel's work a phase gets: its threads (grid × block) over
 * every phase's threads (docs/cuda-model.md, "Multi-phase kernels"). */
static double phase_threads(const qiao_kernel_phase_t *ph) {
  double t = 1;
  for (int a = 0; a < 3; ++a)
    t *= (double)(ph->grid[a] > 0 ? ph->grid[a] : 1) * (ph->block[a] > 0 ? ph->block[a] : 1);
  return t;
}

/* The backend table's `predict`: compiles kd alone for d's sm, asks ptxas
 * for its resources when it is installed, and models it on d's profile. A
 * multi-phase kernel (split-KV attention and its combine, MoE's routing,
 * expert GEMMs and combine) is modelled phase by phase, each with its own
 * grid, block, shared bytes and ptxas resources and a share of the work; the
 * prediction is the sum of the phases' times, bound by the slowest phase. */
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
  int32_t np = qiao_kernel_launch_phase_count(launch);
  if (np < 1) np = 1;
  if (np > QIAO_KERNEL_MAX_PHASES) np = QIAO_KERNEL_MAX_PHASES;
  /* per phase: registers, static shared, spills (-1: unknown) */
  int32_t regs[QIAO_KERNEL_MAX_PHASES];
  int64_t shared[QIAO_KERNEL_MAX_PHASES], spill[QIAO_KERNEL_MAX_PHASES];
  for (int32_t i = 0; i < np; ++i) {
    regs[i] = -1;
    shared[i] = spill[i] = -1;
  }
  snprintf(out->registers_source, sizeof out->registers_source, "assumed (no ptxas)");
  char ptxas[1024];
  if (qiao_cuda_find_ptxas(ptxas, sizeof ptxas)) {
    char path[] = "/tmp/qiao-predict-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
      bool ok = write(fd, text, len) == (ssize_t)len;
      close(fd);
      qiao_ptxas_kernel_t ks[64];
      int32_t nk = 0;
      qiao_status_t ps = ok ? ptxas_reports(path, sm, ks, 64, &nk)
                            : qiao_status_make(QIAO_IO_ERROR, "cannot write %s", path);
      unlink(path);
      int32_t found = 0;
      for (int32_t i = 0; !ps && i < np; ++i) {
        qiao_kernel_phase_t ph = qiao_kernel_launch_phase(launch, i);
        for (int32_t j = 0; j < nk; ++j)
          if (!strcmp(ks[j].name, ph.name)) {
            regs[i] = ks[j].registers;
            shared[i] = ks[j].shared_bytes;
            spill[i] = ks[j].spill_stores + ks[j].spill_loads;
            ++found;
            break;
          }
      }
      if (!ps && found == np) {
        snprintf(out->registers_source, sizeof out->registers_source, "ptxas -v %s", sm);
      } else {
        snprintf(out->registers_source, sizeof out->registers_source,
                 ps ? "assumed (ptxas failed)" : "assumed (ptxas: an entry missing)");
        for (int32_t i = 0; i < np; ++i) {
          regs[i] = -1;
          shared[i] = spill[i] = -1;
        }
      }
      qiao_status_free(ps);
    }
  }
  if (shared[0] < 0) { /* no ptxas: the PTX's .shared declarations, for every phase */
    int64_t sh = ptx_static_shared(text, len);
    for (int32_t i = 0; i < np; ++i)
      shared[i] = sh;
  }
  qiao_cuda_module_destroy(m);
  qiao_cuda_work_t total;
  qiao_cuda_kernel_work(kd, launch, -1, 0, &total);
  /* a multi-phase kernel's workspace is written by one phase and read by a later one */
  if (np > 1) total.bytes += 2.0 * (double)launch->workspace_bytes;
  double all_threads = 0;
  for (int32_t i = 0; i < np; ++i) {
    qiao_kernel_phase_t ph = qiao_kernel_launch_phase(launch, i);
    all_threads += phase_threads(&ph);
  }
  double sum_ns = 0, dom_ns = -1, flops = 0, bytes = 0;
  int32_t dom = 0, max_regs = -1;
  int64_t max_shared = -1, spills = 0;
  bool spills_known = true;
  qiao_cuda_estimate_t dom_e;
  memset(&dom_e, 0, sizeof dom_e);
  for (int32_t i = 0; i < np; ++i) {
    qiao_kernel_phase_t ph = qiao_kernel_launch_phase(launch, i);
    double share = np > 1 ? phase_threads(&ph) / all_threads : 1.0;
    qiao_cuda_work_t w = total;
    for (int q = 0; q < QIAO_CUDA_PIPE_COUNT; ++q)
      w.flops[q] *= share;
    w.bytes *= share;
    for (int a = 0; a < 3; ++a) {
      w.grid[a] = ph.grid[a] > 0 ? ph.grid[a] : 1;
      w.block[a] = ph.block[a] > 0 ? ph.block[a] : 1;
    }
    w.registers = regs[i];
    w.shared_bytes = (shared[i] > 0 ? shared[i] : 0) + (int64_t)ph.shared_bytes;
    qiao_cuda_estimate_t e;
    qiao_status_t es = qiao_cuda_model_estimate(p, &w, &e);
    if (es) {
      if (np == 1) return es;
      qiao_status_t wrapped =
          qiao_status_make(qiao_status_code(es), "phase %d of %d (%s): %s", (int)i + 1, (int)np,
                           ph.name, qiao_status_message(es));
      qiao_status_free(es);
      return wrapped;
    }
    sum_ns += e.ns;
    flops += e.flops;
    bytes += e.bytes;
    if (e.ns > dom_ns) {
      dom_ns = e.ns;
      dom = i;
      dom_e = e;
    }
    if (regs[i] > max_regs) max_regs = regs[i];
    if (shared[i] > max_shared) max_shared = shared[i];
    if (spill[i] < 0)
      spills_known = false;
    else
      spills += spill[i];
  }
  out->registers = max_regs;
  out->static_shared_bytes = max_shared;
  out->spill_bytes = spills_known ? spills : -1;
  snprintf(out->label, sizeof out->label, "modelled, %s", dom_e.profile);
  out->ns = sum_ns;
  snprintf(out->bound, sizeof out->bound, "%s", dom_e.bound);
  out->occupancy = dom_e.occupancy.occupancy;
  out->flops = flops;
  out->bytes = bytes;
  if (np == 1) {
    qiao_cuda_estimate_format(&dom_e, out->detail, sizeof out->detail);
  } else {
    char one[400];
    qiao_cuda_estimate_format(&dom_e, one, sizeof one);
    qiao_kernel_phase_t ph = qiao_kernel_launch_phase(launch, dom);
    int n =
        snprintf(out->detail, sizeof out->detail,
                 "modelled %.3g us over %d phases (sum); slowest phase %d (%s): ", sum_ns * 1e-3,
                 (int)np, (int)dom + 1, ph.name);
    if (n > 0 && (size_t)n < sizeof out->detail)
      memcpy(out->detail + n, one, strnlen(one, sizeof out->detail - (size_t)n - 1) + 1);
    out->detail[sizeof out->detail - 1] = 0;
  }
  return NULL;
}
