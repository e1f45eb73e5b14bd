/* Programs: compile a graph for a device (the device's backend: fusion
 * policy → partition → supports → cache lookup → module → HAL executable),
 * plan memory, bind params, run. No backend or device class is named here. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "program_internal.h"
#include "qiao/backend.h"
#include "qiao/hal.h"
#include "qiao/runtime.h"

/* ------------------------------------------------------------ cache */

typedef struct cache_entry {
  uint64_t key;
  qiao_kernel_desc_t *kd;     /* owned clone: confirms a hit */
  qiao_hal_executable_t *exe; /* retained */
  int32_t entry[QIAO_KERNEL_MAX_PHASES]; /* per phase */
  qiao_kernel_launch_t launch;
} cache_entry_t;

struct qiao_runtime {
  pthread_mutex_t mu;
  cache_entry_t *entries;
  int64_t n, cap;
  int64_t hits, misses;
};

qiao_status_t qiao_runtime_create(qiao_runtime_t **out_rt) {
  qiao_runtime_t *rt = calloc(1, sizeof(*rt));
  if (!rt) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  pthread_mutex_init(&rt->mu, NULL);
  *out_rt = rt;
  return NULL;
}

void qiao_runtime_destroy(qiao_runtime_t *rt) {
  if (!rt) return;
  for (int64_t i = 0; i < rt->n; ++i) {
    qiao_hal_executable_release(rt->entries[i].exe);
    qiao_kernel_desc_destroy(rt->entries[i].kd);
  }
  free(rt->entries);
  pthread_mutex_destroy(&rt->mu);
  free(rt);
}

void qiao_runtime_cache_stats(const qiao_runtime_t *rt, qiao_cache_stats_t *out) {
  qiao_runtime_t *r = (qiao_runtime_t *)rt;
  pthread_mutex_lock(&r->mu);
  out->hits = r->hits;
  out->misses = r->misses;
  out->entries = r->n;
  pthread_mutex_unlock(&r->mu);
}

/* A hit must also be runnable on `d`: host code serves every cpu device of the
 * process, a device's own executables (PTX on simt-emu) only that device. */
static bool cache_find(qiao_runtime_t *rt, uint64_t key, const qiao_kernel_desc_t *kd,
                       const qiao_hal_device_t *d, cache_entry_t *out) {
  bool found = false;
  pthread_mutex_lock(&rt->mu);
  for (int64_t i = 0; i < rt->n; ++i) {
    if (rt->entries[i].key == key && qiao_kernel_desc_equal(rt->entries[i].kd, kd) &&
        qiao_hal_executable_can_dispatch(rt->entries[i].exe, d)) {
      *out = rt->entries[i];
      qiao_hal_executable_retain(out->exe);
      found = true;
      break;
    }
  }
  if (found) rt->hits++;
  else rt->misses++;
  pthread_mutex_unlock(&rt->mu);
  return found;
}

typedef struct kernel_slot {
  qiao_hal_executable_t *exe; /* retained */
  int32_t entry[QIAO_KERNEL_MAX_PHASES]; /* the executable's entry of each phase */
  qiao_kernel_launch_t launch;
  qiao_variant_choice_t variant; /* the lowering variant chosen (dispatch by cost model) */
} kernel_slot_t;

/* The cache is an optimization: an entry that cannot be stored is dropped. */
static void cache_insert(qiao_runtime_t *rt, uint64_t key, const qiao_kernel_desc_t *kd,
                         qiao_hal_executable_t *exe, const kernel_slot_t *slot) {
  qiao_kernel_desc_t *clone = NULL;
  qiao_status_t st = qiao_kernel_desc_clone(kd, &clone);
  if (st) {
    qiao_status_free(st);
    return;
  }
  pthread_mutex_lock(&rt->mu);
  if (rt->n == rt->cap) {
    int64_t cap = rt->cap ? rt->cap * 2 : 64;
    cache_entry_t *n = realloc(rt->entries, sizeof(*n) * (size_t)cap);
    if (!n) {
      pthread_mutex_unlock(&rt->mu);
      qiao_kernel_desc_destroy(clone);
      return;
    }
    rt->entries = n;
    rt->cap = cap;
  }
  cache_entry_t *e = &rt->entries[rt->n++];
  e->key = key;
  e->kd = clone;
  e->exe = exe;
  memcpy(e->entry, slot->entry, sizeof e->entry);
  e->launch = slot->launch;
  qiao_hal_executable_retain(exe);
  pthread_mutex_unlock(&rt->mu);
}

/* ------------------------------------------------------------ program */

/* Where a value lives: a buffer and an offset. */
typedef struct value_slot {
  qiao_hal_buffer_t *buffer; /* not retained: one of the program's buffers */
  int64_t offset;
  bool has_storage;
} value_slot_t;

typedef struct param_slot {
  const char *name; /* graph arena copy owned by the program's graph copy: strdup'ed */
  int32_t value;
  qiao_type_t type;
  qiao_hal_buffer_t *buffer;
  bool bound;
} param_slot_t;

struct qiao_program {
  qiao_hal_device_t *device;
  qiao_partition_t *part;
  kernel_slot_t *kernels;
  int32_t n_values;
  value_slot_t *slots;
  qiao_type_t *value_types;
  /* graph interface */
  int32_t n_inputs, n_outputs;
  int32_t *input_values, *output_values;
  qiao_type_t *input_types;
  qiao_hal_buffer_t **input_buffers;
  int32_t n_params;
  param_slot_t *params;
  /* buffers the program owns */
  qiao_hal_buffer_t *arena;
  qiao_hal_buffer_t *workspace; /* the largest kernel workspace (NULL: none needed) */
  int32_t n_owned;
  qiao_hal_buffer_t **owned;
  qiao_program_stats_t stats;
  const qiao_backend_t *backend; /* the one that compiled it */
  bool poison;
  /* Runs share the input buffers and the arena: one at a time. */
  pthread_mutex_t run_mu;
};

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int64_t type_bytes(const qiao_type_t *t) {
  return qiao_shape_numel(&t->shape) * (int64_t)qiao_dtype_size(t->dtype);
}

static qiao_status_t own_buffer(qiao_program_t *p, int64_t size, qiao_hal_buffer_t **out) {
  qiao_hal_buffer_t *b = NULL;
  QIAO_RETURN_IF_ERROR(qiao_hal_buffer_alloc(p->device, (size_t)(size > 0 ? size : 1), &b));
  qiao_hal_buffer_t **o = realloc(p->owned, sizeof(*o) * (size_t)(p->n_owned + 1));
  if (!o) {
    qiao_hal_buffer_release(b);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  p->owned = o;
  p->owned[p->n_owned++] = b;
  *out = b;
  return NULL;
}

void qiao_program_destroy(qiao_program_t *p) {
  if (!p) return;
  if (p->kernels && p->part)
    for (int32_t i = 0; i < p->part->n_kernels; ++i)
      if (p->kernels[i].exe) qiao_hal_executable_release(p->kernels[i].exe);
  free(p->kernels);
  for (int32_t i = 0; i < p->n_owned; ++i) qiao_hal_buffer_release(p->owned[i]);
  free(p->owned);
  if (p->arena) qiao_hal_buffer_release(p->arena);
  if (p->workspace) qiao_hal_buffer_release(p->workspace);
  for (int32_t i = 0; i < p->n_params; ++i) free((char *)p->params[i].name);
  free(p->params);
  free(p->slots);
  free(p->value_types);
  free(p->input_values);
  free(p->output_values);
  free(p->input_types);
  free(p->input_buffers);
  qiao_ir_partition_destroy(p->part);
  if (p->device) qiao_hal_device_release(p->device);
  pthread_mutex_destroy(&p->run_mu);
  free(p);
}

/* FNV-1a over a string. */
static uint64_t hash_str(uint64_t h, const char *s) {
  for (; *s; ++s) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* Names the graph ops a kernel covers ("matmul %y, add %z"), for errors. */
static void kernel_ops_str(const qiao_graph_t *g, const qiao_kernel_desc_t *kd, char *buf,
                           size_t cap) {
  size_t n = 0;
  buf[0] = 0;
  for (int32_t i = 0; i < kd->n_ops && n + 1 < cap; ++i) {
    const qiao_op_t *op = &g->ops[kd->ops[i]];
    const char *vname = op->n_results > 0 ? g->values[op->results[0]].name : NULL;
    int w = snprintf(buf + n, cap - n, "%s%s %s%s", i ? ", " : "", qiao_op_name(op->kind),
                     vname && vname[0] ? "%" : "", vname && vname[0] ? vname : "(unnamed)");
    if (w < 0) break;
    n += (size_t)w;
  }
}

/* Compiles the kernels of the partition: cache hits are reused; misses go
 * into one backend module, loaded once. */
static qiao_status_t compile_kernels(qiao_program_t *p, qiao_runtime_t *rt, const qiao_graph_t *g,
                                     const qiao_backend_t *be, const qiao_compile_options_t *opts) {
  qiao_partition_t *part = p->part;
  int32_t nk = part->n_kernels;
  /* Every kernel must be one the backend can lower: fail naming it. */
  for (int32_t i = 0; i < nk; ++i) {
    char reason[256] = "";
    if (be->supports(&part->kernels[i], p->device, reason, sizeof reason)) continue;
    char ops[512];
    kernel_ops_str(g, &part->kernels[i], ops, sizeof ops);
    return qiao_status_make(QIAO_UNSUPPORTED, "kernel k%d (%s: %s): backend '%s' for '%s' refuses it: %s",
                            i, qiao_kd_kind_name(part->kernels[i].kind), ops, be->name,
                            qiao_hal_device_uri(p->device), reason);
  }
  p->kernels = calloc((size_t)(nk ? nk : 1), sizeof(kernel_slot_t));
  uint64_t *keys = calloc((size_t)(nk ? nk : 1), sizeof(uint64_t));
  if (!p->kernels || !keys) {
    free(keys);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  qiao_backend_options_t bo = {0};
  bo.opt_level = opts ? opts->opt_level : 0;
  bo.n_threads = qiao_hal_device_thread_count(p->device);
  /* target: the backend's key (ISA, threads, opt level) and the device's identity */
  char key[1024];
  qiao_status_t st = be->target_key(p->device, &bo, key, sizeof key);
  if (st) {
    free(keys);
    return st;
  }
  uint64_t target = hash_str(1469598103934665603ull, key);
  target = hash_str(target, qiao_hal_device_driver(p->device));
  qiao_backend_module_t *mod = NULL;
  int32_t n_new = 0;
  bool use_cache = rt && !(opts && opts->no_cache);
  for (int32_t i = 0; i < nk && !st; ++i) {
    st = qiao_variant_choose(be, &part->kernels[i], p->device, opts ? opts->variant : NULL,
                             &p->kernels[i].variant);
    if (st) break;
    const qiao_kernel_variant_t *var =
        &p->kernels[i].variant.variants[p->kernels[i].variant.chosen];
    keys[i] = qiao_kernel_desc_hash(&part->kernels[i]) ^ (target * 0x9E3779B97F4A7C15ull) ^
              ((uint64_t)(uint32_t)var->id * 0xC2B2AE3D27D4EB4Full);
    cache_entry_t hit;
    if (use_cache && cache_find(rt, keys[i], &part->kernels[i], p->device, &hit)) {
      p->kernels[i].exe = hit.exe;
      memcpy(p->kernels[i].entry, hit.entry, sizeof hit.entry);
      p->kernels[i].launch = hit.launch;
      p->stats.n_cached++;
      continue;
    }
    if (!mod) {
      st = qiao_backend_module_create(be, p->device, &bo, &mod);
      if (st) break;
    }
    char name[32];
    snprintf(name, sizeof name, "k%d", i);
    st = qiao_backend_module_add_kernel_variant(mod, &part->kernels[i], name, var->id,
                                                &p->kernels[i].launch);
    n_new++;
  }
  if (!st && n_new > 0) {
    qiao_hal_executable_t *exe = NULL;
    st = qiao_backend_module_load(mod, p->device, &exe);
    for (int32_t i = 0; i < nk && !st; ++i) {
      if (p->kernels[i].exe) continue;
      const qiao_kernel_launch_t *l = &p->kernels[i].launch;
      int32_t np = qiao_kernel_launch_phase_count(l);
      if (np > QIAO_KERNEL_MAX_PHASES) {
        st = qiao_status_make(QIAO_INTERNAL, "kernel k%d: %d phases (max %d)", i, np,
                              QIAO_KERNEL_MAX_PHASES);
        break;
      }
      for (int32_t ph = 0; ph < np && !st; ++ph) {
        qiao_hal_entry_info_t info;
        qiao_kernel_phase_t lp = qiao_kernel_launch_phase(l, ph);
        st = qiao_hal_executable_lookup(exe, lp.name, &p->kernels[i].entry[ph], &info);
      }
      if (st) break;
      p->kernels[i].exe = exe;
      qiao_hal_executable_retain(exe);
      if (use_cache) cache_insert(rt, keys[i], &part->kernels[i], exe, &p->kernels[i]);
    }
    if (exe) qiao_hal_executable_release(exe);
  }
  qiao_backend_module_destroy(mod);
  free(keys);
  return st;
}

/* Lifetimes of kernel-produced values and the arena plan. */
static qiao_status_t plan_memory(qiao_program_t *p, const qiao_graph_t *g) {
  qiao_partition_t *part = p->part;
  int32_t nv = g->n_values, nk = part->n_kernels;
  int32_t *first = malloc(sizeof(int32_t) * (size_t)nv);
  int32_t *last = malloc(sizeof(int32_t) * (size_t)nv);
  int32_t *req_of = malloc(sizeof(int32_t) * (size_t)nv);
  qiao_mem_request_t *reqs = calloc((size_t)(nv ? nv : 1), sizeof(*reqs));
  qiao_status_t st = NULL;
  if (!first || !last || !req_of || !reqs) {
    st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    goto done;
  }
  for (int32_t v = 0; v < nv; ++v) first[v] = last[v] = -1, req_of[v] = -1;
  for (int32_t k = 0; k < nk; ++k) {
    const qiao_kernel_desc_t *kd = &part->kernels[k];
    /* a value several kernels write (a split concat) lives from the first */
    for (int32_t o = 0; o < kd->n_outputs; ++o)
      if (first[kd->outputs[o].value] < 0) first[kd->outputs[o].value] = k;
    for (int32_t i = 0; i < kd->n_inputs; ++i) {
      int32_t v = kd->inputs[i].value;
      int32_t r = part->alias[v] >= 0 ? part->alias[v] : v;
      if (last[r] < k) last[r] = k;
    }
  }
  for (int32_t i = 0; i < g->n_outputs; ++i) {
    int32_t v = g->outputs[i];
    int32_t r = part->alias[v] >= 0 ? part->alias[v] : v;
    last[r] = nk; /* read after the last kernel */
  }
  int32_t n = 0;
  for (int32_t v = 0; v < nv; ++v) {
    if (!part->materialized[v] || part->alias[v] >= 0) continue;
    reqs[n].size = type_bytes(&g->values[v].type);
    reqs[n].first = first[v];
    reqs[n].last = last[v] >= first[v] ? last[v] : first[v];
    req_of[v] = n;
    p->stats.naive_bytes += (reqs[n].size + 63) / 64 * 64;
    n++;
  }
  int64_t arena_bytes = 0;
  st = qiao_mem_plan(reqs, n, &arena_bytes);
  if (st) goto done;
  p->stats.peak_bytes = arena_bytes;
  st = qiao_hal_buffer_alloc(p->device, (size_t)(arena_bytes > 0 ? arena_bytes : 64), &p->arena);
  if (st) goto done;
  /* Kernels run one at a time: one workspace, the largest any of them asks. */
  uint64_t ws_bytes = 0;
  for (int32_t k = 0; k < nk; ++k)
    if (p->kernels[k].launch.workspace_bytes > ws_bytes) ws_bytes = p->kernels[k].launch.workspace_bytes;
  if (ws_bytes > 0) {
    st = qiao_hal_buffer_alloc(p->device, (size_t)ws_bytes, &p->workspace);
    if (st) goto done;
  }
  for (int32_t v = 0; v < nv; ++v) {
    if (req_of[v] < 0) continue;
    p->slots[v].buffer = p->arena;
    p->slots[v].offset = reqs[req_of[v]].offset;
    p->slots[v].has_storage = true;
  }
done:
  free(first);
  free(last);
  free(req_of);
  free(reqs);
  return st;
}

/* Inputs, params and consts get buffers of their own. */
static qiao_status_t bind_leaves(qiao_program_t *p, const qiao_graph_t *g) {
  p->n_inputs = g->n_inputs;
  p->n_outputs = g->n_outputs;
  p->input_values = calloc((size_t)g->n_inputs + 1, sizeof(int32_t));
  p->input_types = calloc((size_t)g->n_inputs + 1, sizeof(qiao_type_t));
  p->input_buffers = calloc((size_t)g->n_inputs + 1, sizeof(qiao_hal_buffer_t *));
  p->output_values = calloc((size_t)g->n_outputs + 1, sizeof(int32_t));
  if (!p->input_values || !p->input_types || !p->input_buffers || !p->output_values)
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  for (int32_t i = 0; i < g->n_inputs; ++i) {
    int32_t v = g->inputs[i];
    p->input_values[i] = v;
    p->input_types[i] = g->values[v].type;
    QIAO_RETURN_IF_ERROR(own_buffer(p, type_bytes(&g->values[v].type), &p->input_buffers[i]));
    p->slots[v].buffer = p->input_buffers[i];
    p->slots[v].has_storage = true;
  }
  for (int32_t i = 0; i < g->n_outputs; ++i) p->output_values[i] = g->outputs[i];
  int32_t np = 0;
  for (int32_t i = 0; i < g->n_ops; ++i) np += g->ops[i].kind == QIAO_OP_PARAM;
  p->params = calloc((size_t)np + 1, sizeof(param_slot_t));
  if (!p->params) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  for (int32_t i = 0; i < g->n_ops; ++i) {
    const qiao_op_t *op = &g->ops[i];
    int32_t v = op->results[0];
    if (op->kind == QIAO_OP_PARAM) {
      param_slot_t *ps = &p->params[p->n_params++];
      ps->name = strdup(op->attrs.param_name ? op->attrs.param_name : "");
      if (!ps->name) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
      ps->value = v;
      ps->type = g->values[v].type;
      QIAO_RETURN_IF_ERROR(own_buffer(p, type_bytes(&ps->type), &ps->buffer));
      p->slots[v].buffer = ps->buffer;
      p->slots[v].has_storage = true;
      p->stats.param_bytes += type_bytes(&ps->type);
    } else if (op->kind == QIAO_OP_CONST) {
      const qiao_type_t *t = &g->values[v].type;
      int64_t numel = qiao_shape_numel(&t->shape);
      qiao_hal_buffer_t *b = NULL;
      QIAO_RETURN_IF_ERROR(own_buffer(p, type_bytes(t), &b));
      /* Built on the host, written through the device (device memory is opaque). */
      void *host = malloc((size_t)type_bytes(t) + 1);
      if (!host) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
      for (int64_t e = 0; e < numel; ++e) {
        int64_t src = op->attrs.n_values == 1 ? 0 : e;
        if (op->attrs.const_i) {
          int64_t iv = op->attrs.const_i[src];
          if (t->dtype == QIAO_I64) ((int64_t *)host)[e] = iv;
          else qiao_store_f64(host, t->dtype, e, (double)iv);
        } else {
          qiao_store_f64(host, t->dtype, e, op->attrs.const_f ? op->attrs.const_f[src] : 0.0);
        }
      }
      qiao_status_t wst = qiao_hal_buffer_write(b, 0, host, (size_t)type_bytes(t));
      free(host);
      QIAO_RETURN_IF_ERROR(wst);
      p->slots[v].buffer = b;
      p->slots[v].has_storage = true;
    }
  }
  return NULL;
}

qiao_status_t qiao_program_compile(qiao_runtime_t *rt, const qiao_graph_t *g, qiao_hal_device_t *d,
                                   const qiao_compile_options_t *opts, qiao_program_t **out) {
  *out = NULL;
  double t0 = now_ms();
  const qiao_backend_t *be = opts && opts->backend ? opts->backend : qiao_backend_for_device(d);
  if (!be)
    return qiao_status_make(QIAO_UNSUPPORTED, "device '%s' (%s class) has no backend in this build",
                            qiao_hal_device_uri(d),
                            qiao_hal_device_class_name(qiao_hal_device_class(d)));
  if (be->device_class != qiao_hal_device_class(d))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "backend '%s' does not compile for '%s'",
                            be->name, qiao_hal_device_uri(d));
  QIAO_RETURN_IF_ERROR(qiao_ir_graph_verify(g));
  qiao_program_t *p = calloc(1, sizeof(*p));
  if (!p) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  pthread_mutex_init(&p->run_mu, NULL);
  p->device = d;
  p->poison = opts && opts->poison;
  p->backend = be;
  qiao_hal_device_retain(d);
  p->n_values = g->n_values;
  p->slots = calloc((size_t)g->n_values + 1, sizeof(value_slot_t));
  p->value_types = calloc((size_t)g->n_values + 1, sizeof(qiao_type_t));
  qiao_status_t st = NULL;
  if (!p->slots || !p->value_types) st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  for (int32_t v = 0; v < g->n_values && !st; ++v) p->value_types[v] = g->values[v].type;
  if (!st) st = qiao_ir_partition(g, be->fusion_policy(d), &p->part);
  if (!st) st = compile_kernels(p, rt, g, be, opts);
  if (!st) st = bind_leaves(p, g);
  if (!st) st = plan_memory(p, g);
  if (!st) {
    /* Aliases share their root's storage. */
    for (int32_t v = 0; v < g->n_values; ++v) {
      int32_t r = p->part->alias[v];
      if (r >= 0) p->slots[v] = p->slots[r];
    }
    p->stats.n_kernels = p->part->n_kernels;
    p->stats.compile_ms = now_ms() - t0;
    *out = p;
    return NULL;
  }
  qiao_program_destroy(p);
  return st;
}

static qiao_status_t check_type(const char *what, const qiao_type_t *want, const qiao_type_t *got) {
  if (qiao_type_equal(want, got)) return NULL;
  char a[128], b[128];
  return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: expected %s, got %s", what,
                          qiao_type_str(want, a, sizeof a), qiao_type_str(got, b, sizeof b));
}

qiao_status_t qiao_program_bind_param(qiao_program_t *p, const char *name, const qiao_tensor_t *t) {
  for (int32_t i = 0; i < p->n_params; ++i) {
    param_slot_t *ps = &p->params[i];
    if (strcmp(ps->name, name) != 0) continue;
    char what[300];
    snprintf(what, sizeof what, "param \"%s\"", name);
    QIAO_RETURN_IF_ERROR(check_type(what, &ps->type, &t->type));
    QIAO_RETURN_IF_ERROR(qiao_hal_buffer_write(ps->buffer, 0, t->data, qiao_tensor_nbytes(t)));
    ps->bound = true;
  }
  for (int32_t i = 0; i < p->n_params; ++i)
    if (!strcmp(p->params[i].name, name)) return NULL;
  return qiao_status_make(QIAO_NOT_FOUND, "graph has no param \"%s\"", name);
}

qiao_status_t qiao_program_bind_weights(qiao_program_t *p, const qiao_safetensors_t *weights) {
  for (int32_t i = 0; i < p->n_params; ++i) {
    qiao_tensor_t view;
    qiao_status_t st = qiao_safetensors_get(weights, p->params[i].name, &view);
    if (st) {
      if (qiao_status_code(st) == QIAO_NOT_FOUND) {
        qiao_status_free(st);
        continue;
      }
      return st;
    }
    QIAO_RETURN_IF_ERROR(qiao_program_bind_param(p, p->params[i].name, &view));
  }
  return NULL;
}

int32_t qiao_program_param_count(const qiao_program_t *p) { return p->n_params; }
const char *qiao_program_param_name(const qiao_program_t *p, int32_t i) { return p->params[i].name; }
qiao_type_t qiao_program_param_type(const qiao_program_t *p, int32_t i) { return p->params[i].type; }
bool qiao_program_param_bound(const qiao_program_t *p, int32_t i) { return p->params[i].bound; }

/* Fills a buffer with 0xFF bytes (NaN for every float dtype) through the HAL. */
static qiao_status_t poison_buffer(qiao_hal_buffer_t *b) {
  enum { CHUNK = 1 << 16 };
  size_t size = qiao_hal_buffer_size(b);
  unsigned char *ff = malloc(CHUNK);
  if (!ff) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  memset(ff, 0xFF, CHUNK);
  qiao_status_t st = NULL;
  for (size_t off = 0; off < size && !st; off += CHUNK)
    st = qiao_hal_buffer_write(b, off, ff, size - off < CHUNK ? size - off : CHUNK);
  free(ff);
  return st;
}

static qiao_status_t run_locked(qiao_program_t *p, const qiao_tensor_t *const *inputs,
                                qiao_tensor_t **out_outputs, qiao_program_observer_t observe,
                                void *observe_ctx) {
  for (int32_t i = 0; i < p->n_params; ++i)
    if (!p->params[i].bound)
      return qiao_status_make(QIAO_NOT_FOUND, "param \"%s\" not bound", p->params[i].name);
  for (int32_t i = 0; i < p->n_inputs; ++i) {
    char what[64];
    snprintf(what, sizeof what, "input %d", i);
    QIAO_RETURN_IF_ERROR(check_type(what, &p->input_types[i], &inputs[i]->type));
    QIAO_RETURN_IF_ERROR(
        qiao_hal_buffer_write(p->input_buffers[i], 0, inputs[i]->data, qiao_tensor_nbytes(inputs[i])));
  }
  if (p->poison) QIAO_RETURN_IF_ERROR(poison_buffer(p->arena));
  if (p->poison && p->workspace) QIAO_RETURN_IF_ERROR(poison_buffer(p->workspace));
  qiao_hal_binding_t bindings[2 * QIAO_KD_MAX_OPERANDS + 2];
  for (int32_t k = 0; k < p->part->n_kernels; ++k) {
    const qiao_kernel_desc_t *kd = &p->part->kernels[k];
    const kernel_slot_t *ks = &p->kernels[k];
    int32_t nb = 0;
    for (int32_t i = 0; i < kd->n_inputs; ++i) {
      const value_slot_t *s = &p->slots[kd->inputs[i].value];
      if (!s->has_storage)
        return qiao_status_make(QIAO_INTERNAL, "kernel %d input %d has no storage", k, i);
      bindings[nb].buffer = s->buffer;
      bindings[nb].offset = (size_t)s->offset;
      nb++;
    }
    for (int32_t o = 0; o < kd->n_outputs; ++o) {
      const value_slot_t *s = &p->slots[kd->outputs[o].value];
      if (!s->has_storage)
        return qiao_status_make(QIAO_INTERNAL, "kernel %d output %d has no storage", k, o);
      bindings[nb].buffer = s->buffer;
      bindings[nb].offset = (size_t)s->offset;
      nb++;
    }
    if (ks->launch.workspace_bytes > 0) { /* the trailing workspace binding */
      bindings[nb].buffer = p->workspace;
      bindings[nb].offset = 0;
      nb++;
    }
    /* the phases in order; each sees the previous ones' writes (observed as one kernel) */
    if (observe) QIAO_RETURN_IF_ERROR(observe(observe_ctx, k, false));
    for (int32_t ph = 0; ph < qiao_kernel_launch_phase_count(&ks->launch); ++ph) {
      qiao_kernel_phase_t lp = qiao_kernel_launch_phase(&ks->launch, ph);
      qiao_hal_launch_config_t cfg;
      memset(&cfg, 0, sizeof cfg);
      for (int a = 0; a < 3; ++a) {
        cfg.grid[a] = lp.grid[a];
        cfg.block[a] = lp.block[a] > 0 ? lp.block[a] : 1;
      }
      cfg.shared_bytes = lp.shared_bytes;
      QIAO_RETURN_IF_ERROR(qiao_hal_dispatch_launch(p->device, ks->exe, ks->entry[ph], &cfg,
                                                    bindings, nb, NULL, 0));
    }
    if (observe) QIAO_RETURN_IF_ERROR(observe(observe_ctx, k, true));
  }
  for (int32_t i = 0; i < p->n_outputs; ++i) out_outputs[i] = NULL;
  for (int32_t i = 0; i < p->n_outputs; ++i) {
    int32_t v = p->output_values[i];
    qiao_tensor_t *t = NULL;
    qiao_status_t st = qiao_tensor_create(p->value_types[v], &t);
    if (!st) st = qiao_hal_buffer_read(p->slots[v].buffer, (size_t)p->slots[v].offset, t->data,
                                       qiao_tensor_nbytes(t));
    if (st) {
      qiao_tensor_destroy(t);
      for (int32_t j = 0; j < i; ++j) qiao_tensor_destroy(out_outputs[j]), out_outputs[j] = NULL;
      return st;
    }
    out_outputs[i] = t;
  }
  return NULL;
}

/* Concurrent runs of one program are safe: they take turns (the program
 * owns one set of input buffers and one arena). */
qiao_status_t qiao_program_run(qiao_program_t *p, const qiao_tensor_t *const *inputs,
                               qiao_tensor_t **out_outputs) {
  pthread_mutex_lock(&p->run_mu);
  qiao_status_t st = run_locked(p, inputs, out_outputs, NULL, NULL);
  pthread_mutex_unlock(&p->run_mu);
  return st;
}

qiao_status_t qiao_program_run_observed(qiao_program_t *p, const qiao_tensor_t *const *inputs,
                                        qiao_tensor_t **out_outputs,
                                        qiao_program_observer_t observe, void *ctx) {
  pthread_mutex_lock(&p->run_mu);
  qiao_status_t st = run_locked(p, inputs, out_outputs, observe, ctx);
  pthread_mutex_unlock(&p->run_mu);
  return st;
}

qiao_hal_device_t *qiao_program_device(const qiao_program_t *p) { return p->device; }
const qiao_backend_t *qiao_program_backend(const qiao_program_t *p) { return p->backend; }
const qiao_kernel_launch_t *qiao_program_kernel_launch(const qiao_program_t *p, int32_t k) {
  return k >= 0 && k < p->part->n_kernels ? &p->kernels[k].launch : NULL;
}

qiao_status_t qiao_program_kernel_set_variant(qiao_program_t *p, int32_t k, int32_t index,
                                              const char *how) {
  if (k < 0 || k >= p->part->n_kernels)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "kernel %d out of range", (int)k);
  kernel_slot_t *ks = &p->kernels[k];
  if (index < 0 || index >= ks->variant.n)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "kernel k%d: variant %d out of range", (int)k,
                            (int)index);
  const qiao_kernel_desc_t *kd = &p->part->kernels[k];
  qiao_backend_options_t bo = {0};
  bo.n_threads = qiao_hal_device_thread_count(p->device);
  qiao_backend_module_t *mod = NULL;
  qiao_hal_executable_t *exe = NULL;
  qiao_kernel_launch_t l;
  int32_t entry[QIAO_KERNEL_MAX_PHASES] = {0};
  char name[32];
  snprintf(name, sizeof name, "k%d", (int)k);
  qiao_status_t st = qiao_backend_module_create(p->backend, p->device, &bo, &mod);
  if (!st)
    st = qiao_backend_module_add_kernel_variant(mod, kd, name, ks->variant.variants[index].id, &l);
  if (!st) st = qiao_backend_module_load(mod, p->device, &exe);
  qiao_backend_module_destroy(mod);
  int32_t np = st ? 0 : qiao_kernel_launch_phase_count(&l);
  if (!st && np > QIAO_KERNEL_MAX_PHASES)
    st = qiao_status_make(QIAO_INTERNAL, "kernel k%d: %d phases", (int)k, (int)np);
  for (int32_t ph = 0; ph < np && !st; ++ph) {
    qiao_hal_entry_info_t info;
    qiao_kernel_phase_t lp = qiao_kernel_launch_phase(&l, ph);
    st = qiao_hal_executable_lookup(exe, lp.name, &entry[ph], &info);
  }
  /* a variant may need a larger workspace than the program's */
  if (!st && l.workspace_bytes > 0 &&
      (!p->workspace || qiao_hal_buffer_size(p->workspace) < l.workspace_bytes)) {
    qiao_hal_buffer_t *ws = NULL;
    st = qiao_hal_buffer_alloc(p->device, (size_t)l.workspace_bytes, &ws);
    if (!st) {
      if (p->workspace) qiao_hal_buffer_release(p->workspace);
      p->workspace = ws;
    }
  }
  if (st) {
    if (exe) qiao_hal_executable_release(exe);
    return qiao_status_annotate(st, "kernel k%d, variant %s", (int)k,
                                ks->variant.variants[index].name);
  }
  if (ks->exe) qiao_hal_executable_release(ks->exe);
  ks->exe = exe;
  memcpy(ks->entry, entry, sizeof entry);
  ks->launch = l;
  ks->variant.chosen = index;
  if (how) snprintf(ks->variant.how, sizeof ks->variant.how, "%s", how);
  return NULL;
}

qiao_status_t qiao_program_target_key(const qiao_program_t *p, char *buf, size_t cap) {
  qiao_backend_options_t bo = {0};
  bo.n_threads = qiao_hal_device_thread_count(p->device);
  return p->backend->target_key(p->device, &bo, buf, cap);
}

void qiao_program_kernel_set_tuned(qiao_program_t *p, int32_t k, const double *tuned_ns,
                                   qiao_hal_time_kind_t kind) {
  if (k < 0 || k >= p->part->n_kernels) return;
  qiao_variant_choice_t *vc = &p->kernels[k].variant;
  for (int32_t i = 0; i < vc->n; ++i)
    vc->tuned_ns[i] = tuned_ns[i];
  vc->tuned_kind = kind;
}

int32_t qiao_program_output_count(const qiao_program_t *p) { return p->n_outputs; }

const qiao_variant_choice_t *qiao_program_kernel_variant(const qiao_program_t *p, int32_t k) {
  return k >= 0 && k < p->part->n_kernels ? &p->kernels[k].variant : NULL;
}

void qiao_program_stats(const qiao_program_t *p, qiao_program_stats_t *out) { *out = p->stats; }
const qiao_partition_t *qiao_program_partition(const qiao_program_t *p) { return p->part; }
