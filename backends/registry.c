/* The backend registry: one row per backend, fixed at compile time, and the
 * target-neutral module wrapper the runtime and tools call. Adding a
 * backend (cuda, ascend) adds a row here; nothing else names one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/backend.h"

extern const qiao_backend_t qiao_backend_cpu;
extern const qiao_backend_t qiao_backend_cuda;
extern const qiao_backend_t qiao_backend_ascend;

static const qiao_backend_t *const k_backends[] = {
    &qiao_backend_cpu,
    &qiao_backend_cuda,
    &qiao_backend_ascend,
};
enum { N_BACKENDS = sizeof(k_backends) / sizeof(k_backends[0]) };

int32_t qiao_backend_count(void) { return N_BACKENDS; }

const qiao_backend_t *qiao_backend_at(int32_t i) {
  return i >= 0 && i < N_BACKENDS ? k_backends[i] : NULL;
}

const qiao_backend_t *qiao_backend_for_class(qiao_hal_device_class_t c) {
  for (int32_t i = 0; i < N_BACKENDS; ++i)
    if (k_backends[i]->device_class == c) return k_backends[i];
  return NULL;
}

const qiao_backend_t *qiao_backend_for_device(const qiao_hal_device_t *d) {
  return d ? qiao_backend_for_class(qiao_hal_device_class(d)) : NULL;
}

const qiao_backend_t *qiao_backend_find(const char *name) {
  for (int32_t i = 0; name && i < N_BACKENDS; ++i)
    if (!strcmp(k_backends[i]->name, name)) return k_backends[i];
  return NULL;
}

/* ------------------------------------------------------------ artifacts */

static const char *const k_artifact_names[QIAO_ARTIFACT_KIND_COUNT] = {
    "jit", "obj", "so", "llvm", "asm", "ptx", "listing",
};

const char *qiao_artifact_kind_name(qiao_artifact_kind_t k) {
  return (unsigned)k < QIAO_ARTIFACT_KIND_COUNT ? k_artifact_names[k] : "?";
}

qiao_status_t qiao_artifact_kind_parse(const char *name, qiao_artifact_kind_t *out_kind) {
  for (int32_t k = 0; name && k < QIAO_ARTIFACT_KIND_COUNT; ++k)
    if (!strcmp(name, k_artifact_names[k])) {
      *out_kind = (qiao_artifact_kind_t)k;
      return NULL;
    }
  return qiao_status_make(QIAO_INVALID_ARGUMENT,
                          "unknown artifact kind '%s' (expected jit, obj, so, llvm, asm, ptx or "
                          "listing)",
                          name ? name : "");
}

static uint64_t type_bytes(const qiao_type_t *t) {
  return (uint64_t)qiao_shape_numel(&t->shape) * (uint64_t)qiao_dtype_size(t->dtype);
}

void qiao_kernel_launch_set_bindings(qiao_kernel_launch_t *l, const qiao_kernel_desc_t *kd) {
  int32_t n = 0;
  for (int32_t i = 0; i < kd->n_inputs; ++i)
    l->binding_bytes[n++] = type_bytes(&kd->inputs[i].type);
  for (int32_t o = 0; o < kd->n_outputs; ++o)
    l->binding_bytes[n++] = type_bytes(&kd->outputs[o].type);
  l->n_bindings = n;
}

int32_t qiao_kernel_launch_phase_count(const qiao_kernel_launch_t *l) {
  return l->n_phases > 1 ? l->n_phases : 1;
}

qiao_kernel_phase_t qiao_kernel_launch_phase(const qiao_kernel_launch_t *l, int32_t i) {
  if (l->n_phases > 1 && i >= 0 && i < l->n_phases) return l->phases[i];
  qiao_kernel_phase_t p;
  memset(&p, 0, sizeof p);
  snprintf(p.name, sizeof p.name, "%s", l->name);
  for (int a = 0; a < 3; ++a) {
    p.grid[a] = l->grid[a];
    p.block[a] = l->block[a];
  }
  p.shared_bytes = l->shared_bytes;
  return p;
}

/* ------------------------------------------------------------ modules */

struct qiao_backend_module {
  const qiao_backend_t *backend;
  void *impl;
  int32_t n_kernels;
};

qiao_status_t qiao_backend_module_create(const qiao_backend_t *b, qiao_hal_device_t *d,
                                         const qiao_backend_options_t *o,
                                         qiao_backend_module_t **out_module) {
  *out_module = NULL;
  if (!b) return qiao_status_make(QIAO_INVALID_ARGUMENT, "backend module: no backend given");
  if (d && qiao_hal_device_class(d) != b->device_class)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "backend '%s' compiles for %s devices, not for '%s' (%s)", b->name,
                            qiao_hal_device_class_name(b->device_class), qiao_hal_device_uri(d),
                            qiao_hal_device_class_name(qiao_hal_device_class(d)));
  qiao_backend_module_t *m = calloc(1, sizeof(*m));
  if (!m) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  m->backend = b;
  qiao_status_t st = b->module_create(d, o, &m->impl);
  if (st) {
    free(m);
    return st;
  }
  *out_module = m;
  return NULL;
}

void qiao_backend_module_destroy(qiao_backend_module_t *m) {
  if (!m) return;
  if (m->impl) m->backend->module_destroy(m->impl);
  free(m);
}

const qiao_backend_t *qiao_backend_module_backend(const qiao_backend_module_t *m) {
  return m->backend;
}

qiao_status_t qiao_backend_module_add_kernel(qiao_backend_module_t *m, const qiao_kernel_desc_t *kd,
                                             const char *name, qiao_kernel_launch_t *out_launch) {
  char reason[256] = "";
  if (!m->backend->supports(kd, NULL, reason, sizeof reason))
    return qiao_status_make(QIAO_UNSUPPORTED, "backend '%s' cannot lower this %s kernel: %s",
                            m->backend->name, qiao_kd_kind_name(kd->kind), reason);
  qiao_kernel_launch_t l;
  memset(&l, 0, sizeof l);
  QIAO_RETURN_IF_ERROR(m->backend->add_kernel(m->impl, kd, name, &l));
  m->n_kernels++;
  if (out_launch) *out_launch = l;
  return NULL;
}

qiao_status_t qiao_backend_module_add_kernel_variant(qiao_backend_module_t *m,
                                                     const qiao_kernel_desc_t *kd, const char *name,
                                                     int32_t variant,
                                                     qiao_kernel_launch_t *out_launch) {
  if (variant == 0) return qiao_backend_module_add_kernel(m, kd, name, out_launch);
  if (!m->backend->add_kernel_variant)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "backend '%s' has no lowering variants (asked for variant %d)",
                            m->backend->name, (int)variant);
  char reason[256] = "";
  if (!m->backend->supports(kd, NULL, reason, sizeof reason))
    return qiao_status_make(QIAO_UNSUPPORTED, "backend '%s' cannot lower this %s kernel: %s",
                            m->backend->name, qiao_kd_kind_name(kd->kind), reason);
  qiao_kernel_launch_t l;
  memset(&l, 0, sizeof l);
  QIAO_RETURN_IF_ERROR(m->backend->add_kernel_variant(m->impl, kd, name, variant, &l));
  m->n_kernels++;
  if (out_launch) *out_launch = l;
  return NULL;
}

qiao_status_t qiao_backend_module_optimize(qiao_backend_module_t *m) {
  return m->backend->optimize(m->impl);
}

qiao_status_t qiao_backend_module_emit(qiao_backend_module_t *m, qiao_artifact_kind_t kind,
                                       const char *path) {
  if (kind == QIAO_ARTIFACT_JIT)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "backend '%s': a jit artifact is not a file (load it on a device)",
                            m->backend->name);
  return m->backend->emit(m->impl, kind, path);
}

qiao_status_t qiao_backend_module_load(qiao_backend_module_t *m, qiao_hal_device_t *d,
                                       qiao_hal_executable_t **out_exe) {
  *out_exe = NULL;
  if (qiao_hal_device_class(d) != m->backend->device_class)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "backend '%s' cannot load code on '%s'",
                            m->backend->name, qiao_hal_device_uri(d));
  return m->backend->load(m->impl, d, out_exe);
}
