/* Graphs: the arena that owns them, the builder, lookup and equality. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/ir.h"

/* ------------------------------------------------------------------ arena */

typedef struct arena_block {
  struct arena_block *next;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
} arena_block_t;

struct qiao_arena {
  arena_block_t *head;
};

static void *arena_alloc(qiao_arena_t *a, size_t size) {
  size = (size + 15) & ~(size_t)15;
  if (!a->head || a->head->used + size > a->head->cap) {
    size_t cap = size > 65536 ? size : 65536;
    arena_block_t *b = malloc(sizeof(*b) + cap);
    if (!b) abort();
    b->next = a->head;
    b->used = 0;
    b->cap = cap;
    a->head = b;
  }
  void *p = a->head->data + a->head->used;
  a->head->used += size;
  memset(p, 0, size);
  return p;
}

static void arena_free(qiao_arena_t *a) {
  arena_block_t *b = a->head;
  while (b) {
    arena_block_t *n = b->next;
    free(b);
    b = n;
  }
  free(a);
}

void *qiao_ir_graph_alloc(qiao_graph_t *g, size_t size) { return arena_alloc(g->arena, size); }

const char *qiao_ir_graph_strdup(qiao_graph_t *g, const char *s, size_t len) {
  if (!s) return NULL;
  if (len == (size_t)-1) len = strlen(s);
  char *d = arena_alloc(g->arena, len + 1);
  memcpy(d, s, len);
  d[len] = 0;
  return d;
}

/* ------------------------------------------------------------------ names */

/* Open-addressing hash of value names → ids, so lookups (and the duplicate
 * check on every new value) stay O(1): parsing is linear in the file. */
struct qiao_name_index {
  int32_t *slots; /* value id + 1; 0 = empty */
  uint32_t cap;   /* power of two */
  uint32_t count;
};

static uint32_t name_hash(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; ++s) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

static void index_insert(qiao_graph_t *g, int32_t id);

static void index_grow(qiao_graph_t *g) {
  struct qiao_name_index *ix = g->names;
  uint32_t old_cap = ix->cap;
  int32_t *old = ix->slots;
  ix->cap = old_cap ? old_cap * 2 : 256;
  ix->slots = calloc(ix->cap, sizeof(int32_t));
  if (!ix->slots) abort();
  ix->count = 0;
  for (uint32_t i = 0; i < old_cap; ++i)
    if (old[i]) index_insert(g, old[i] - 1);
  free(old);
}

static void index_insert(qiao_graph_t *g, int32_t id) {
  struct qiao_name_index *ix = g->names;
  if ((ix->count + 1) * 2 > ix->cap) index_grow(g);
  uint32_t m = ix->cap - 1, i = name_hash(g->values[id].name) & m;
  while (ix->slots[i]) i = (i + 1) & m;
  ix->slots[i] = id + 1;
  ix->count++;
}

/* ------------------------------------------------------------------ graph */

qiao_status_t qiao_ir_graph_create(const char *name, qiao_graph_t **out_graph) {
  *out_graph = NULL;
  qiao_graph_t *g = calloc(1, sizeof(*g));
  if (!g) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  g->arena = calloc(1, sizeof(qiao_arena_t));
  if (!g->arena) {
    free(g);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  g->names = calloc(1, sizeof(*g->names));
  if (!g->names) {
    free(g->arena);
    free(g);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  g->name = qiao_ir_graph_strdup(g, name ? name : "main", (size_t)-1);
  *out_graph = g;
  return NULL;
}

void qiao_ir_graph_destroy(qiao_graph_t *g) {
  if (!g) return;
  free(g->values);
  free(g->ops);
  if (g->names) free(g->names->slots);
  free(g->names);
  arena_free(g->arena);
  free(g);
}

static int32_t push_value(qiao_graph_t *g) {
  if (g->n_values == g->cap_values) {
    int32_t cap = g->cap_values ? g->cap_values * 2 : 64;
    qiao_value_t *v = realloc(g->values, sizeof(*v) * (size_t)cap);
    if (!v) abort();
    g->values = v;
    g->cap_values = cap;
  }
  qiao_value_t *v = &g->values[g->n_values];
  memset(v, 0, sizeof(*v));
  v->def_op = -1;
  v->input_index = -1;
  return g->n_values++;
}

int32_t qiao_ir_graph_find_value(const qiao_graph_t *g, const char *name) {
  if (!name) return -1;
  const struct qiao_name_index *ix = g->names;
  if (ix && ix->cap) {
    uint32_t m = ix->cap - 1, i = name_hash(name) & m;
    for (; ix->slots[i]; i = (i + 1) & m) {
      int32_t id = ix->slots[i] - 1;
      if (id < g->n_values && g->values[id].name && !strcmp(g->values[id].name, name)) return id;
    }
    return -1;
  }
  for (int32_t i = 0; i < g->n_values; ++i)
    if (g->values[i].name && !strcmp(g->values[i].name, name)) return i;
  return -1;
}

qiao_status_t qiao_ir_graph_add_input(qiao_graph_t *g, const char *name, qiao_type_t type,
                                      int32_t *out_value) {
  if (!name || !*name) return qiao_status_make(QIAO_INVALID_ARGUMENT, "graph input needs a name");
  if (qiao_ir_graph_find_value(g, name) >= 0)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "value %%%s is defined twice", name);
  if ((int)type.dtype < 0 || type.dtype >= QIAO_DTYPE_COUNT || type.shape.rank < 0 ||
      type.shape.rank > QIAO_MAX_RANK)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "input %%%s has an invalid type", name);
  for (int i = 0; i < type.shape.rank; ++i)
    if (type.shape.dims[i] < 0)
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "input %%%s has a negative dimension", name);
  int64_t bytes;
  if (!qiao_type_nbytes(&type, &bytes)) {
    char b[128];
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "input %%%s: %s has more elements or bytes than fit in 64 bits", name,
                            qiao_type_str(&type, b, sizeof b));
  }
  int32_t id = push_value(g);
  qiao_value_t *v = &g->values[id];
  v->name = qiao_ir_graph_strdup(g, name, (size_t)-1);
  v->type = type;
  v->kind = QIAO_VALUE_INPUT;
  if (g->names) index_insert(g, id);
  if (g->n_inputs == g->cap_inputs) {
    /* grow by doubling inside the arena: O(n) copying over n inputs */
    int32_t cap = g->cap_inputs ? g->cap_inputs * 2 : 8;
    int32_t *ins = qiao_ir_graph_alloc(g, sizeof(int32_t) * (size_t)cap);
    if (g->n_inputs) memcpy(ins, g->inputs, sizeof(int32_t) * (size_t)g->n_inputs);
    g->inputs = ins;
    g->cap_inputs = cap;
  }
  g->inputs[g->n_inputs] = id;
  g->values[id].input_index = g->n_inputs;
  g->n_inputs++;
  if (out_value) *out_value = id;
  return NULL;
}

qiao_status_t qiao_ir_graph_add_op(qiao_graph_t *g, qiao_op_kind_t kind, const int32_t *operands,
                                   int32_t n_operands, const qiao_attrs_t *attrs,
                                   const qiao_type_t *result_types, const char *const *result_names,
                                   qiao_loc_t loc, int32_t *out_op) {
  if ((int)kind < 0 || kind >= QIAO_OP_KIND_COUNT)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "unknown op kind %d", (int)kind);
  const qiao_op_schema_t *s = qiao_op_schema(kind);
  if (n_operands < s->min_operands || (s->max_operands >= 0 && n_operands > s->max_operands)) {
    if (s->min_operands == s->max_operands)
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s expects %d operand%s, got %d", s->name,
                              s->min_operands, s->min_operands == 1 ? "" : "s", n_operands);
    if (s->max_operands < 0)
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s expects at least %d operand%s, got %d",
                              s->name, s->min_operands, s->min_operands == 1 ? "" : "s",
                              n_operands);
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s expects %d to %d operands, got %d", s->name,
                            s->min_operands, s->max_operands, n_operands);
  }
  qiao_type_t in_types[64];
  qiao_type_t *types = in_types;
  if (n_operands > 64) {
    types = malloc(sizeof(qiao_type_t) * (size_t)n_operands);
    if (!types) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  for (int32_t i = 0; i < n_operands; ++i) {
    if (operands[i] < 0 || operands[i] >= g->n_values) {
      if (types != in_types) free(types);
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: operand %d is not a value", s->name, i);
    }
    types[i] = g->values[operands[i]].type;
  }
  qiao_attrs_t a;
  if (attrs) {
    a = *attrs;
  } else {
    memset(&a, 0, sizeof(a));
    qiao_attrs_init_defaults(&a, kind);
  }
  qiao_type_t inferred[2];
  memset(inferred, 0, sizeof(inferred));
  qiao_status_t st;
  if (kind == QIAO_OP_PARAM || kind == QIAO_OP_CONST) {
    /* Leaves carry their type; it must be given. */
    if (!result_types) {
      st = qiao_status_make(QIAO_INVALID_ARGUMENT, "%s needs a result type", s->name);
    } else {
      inferred[0] = result_types[0];
      st = qiao_ir_infer_op(kind, result_types, 0, &a, inferred);
    }
  } else {
    st = qiao_ir_infer_op(kind, types, n_operands, &a, inferred);
  }
  if (types != in_types) free(types);
  if (st && result_names && result_names[0]) {
    /* name the value, as the verifier does: "op %y = matmul: ..." */
    const char *m = qiao_status_message(st);
    size_t nl = strlen(s->name);
    if (!strncmp(m, s->name, nl) && m[nl] == ':' && m[nl + 1] == ' ') m += nl + 2;
    qiao_status_t e =
        qiao_status_make(qiao_status_code(st), "op %%%s = %s: %s", result_names[0], s->name, m);
    qiao_status_free(st);
    return e;
  }
  if (st) return st;
  if (result_types && kind != QIAO_OP_PARAM && kind != QIAO_OP_CONST) {
    for (int i = 0; i < s->n_results; ++i) {
      if (!qiao_type_equal(&result_types[i], &inferred[i])) {
        char w[128], e[128];
        qiao_type_str(&result_types[i], w, sizeof w);
        qiao_type_str(&inferred[i], e, sizeof e);
        return qiao_status_make(QIAO_INVALID_ARGUMENT,
                                "%s: result %d is written as %s but the operands give %s", s->name,
                                i, w, e);
      }
    }
  }
  if (result_names) {
    for (int i = 0; i < s->n_results; ++i) {
      if (!result_names[i]) continue;
      if (qiao_ir_graph_find_value(g, result_names[i]) >= 0)
        return qiao_status_make(QIAO_INVALID_ARGUMENT, "value %%%s is defined twice",
                                result_names[i]);
      for (int j = 0; j < i; ++j)
        if (result_names[j] && !strcmp(result_names[j], result_names[i]))
          return qiao_status_make(QIAO_INVALID_ARGUMENT, "value %%%s is defined twice",
                                  result_names[i]);
    }
  }

  if (g->n_ops == g->cap_ops) {
    int32_t cap = g->cap_ops ? g->cap_ops * 2 : 64;
    qiao_op_t *o = realloc(g->ops, sizeof(*o) * (size_t)cap);
    if (!o) abort();
    g->ops = o;
    g->cap_ops = cap;
  }
  int32_t op_id = g->n_ops++;
  qiao_op_t *op = &g->ops[op_id];
  memset(op, 0, sizeof(*op));
  op->kind = kind;
  op->n_operands = n_operands;
  op->operands = qiao_ir_graph_alloc(g, sizeof(int32_t) * (size_t)(n_operands ? n_operands : 1));
  if (n_operands) memcpy(op->operands, operands, sizeof(int32_t) * (size_t)n_operands);
  op->attrs = a;
  /* Deep-copy attribute payloads so the graph owns them (an empty payload
   * still gets a graph-owned block, never the caller's pointer). */
  if (a.param_name) op->attrs.param_name = qiao_ir_graph_strdup(g, a.param_name, (size_t)-1);
  size_t nv = a.n_values > 0 ? (size_t)a.n_values : 0;
  if (a.const_f) {
    op->attrs.const_f = qiao_ir_graph_alloc(g, sizeof(double) * (nv ? nv : 1));
    if (nv) memcpy(op->attrs.const_f, a.const_f, sizeof(double) * nv);
  }
  if (a.const_i) {
    op->attrs.const_i = qiao_ir_graph_alloc(g, sizeof(int64_t) * (nv ? nv : 1));
    if (nv) memcpy(op->attrs.const_i, a.const_i, sizeof(int64_t) * nv);
  }
  op->n_results = s->n_results;
  op->types_written = result_types != NULL;
  op->loc = loc;
  for (int i = 0; i < s->n_results; ++i) {
    int32_t vid = push_value(g);
    qiao_value_t *v = &g->values[vid];
    v->name = result_names && result_names[i] ? qiao_ir_graph_strdup(g, result_names[i], (size_t)-1)
                                              : NULL;
    v->type = inferred[i];
    v->kind = QIAO_VALUE_RESULT;
    v->def_op = op_id;
    v->def_result = i;
    op->results[i] = vid;
    if (v->name && g->names) index_insert(g, vid);
  }
  if (out_op) *out_op = op_id;
  return NULL;
}

qiao_status_t qiao_ir_graph_set_outputs(qiao_graph_t *g, const int32_t *values, int32_t n) {
  for (int32_t i = 0; i < n; ++i)
    if (values[i] < 0 || values[i] >= g->n_values)
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "output %d is not a value", i);
  g->outputs = qiao_ir_graph_alloc(g, sizeof(int32_t) * (size_t)(n ? n : 1));
  g->output_types = qiao_ir_graph_alloc(g, sizeof(qiao_type_t) * (size_t)(n ? n : 1));
  for (int32_t i = 0; i < n; ++i) {
    g->outputs[i] = values[i];
    g->output_types[i] = g->values[values[i]].type;
  }
  g->n_outputs = n;
  return NULL;
}

int32_t qiao_ir_build(qiao_graph_t *g, qiao_op_kind_t kind, const int32_t *operands, int32_t n,
                      const qiao_attrs_t *attrs, const char *name, qiao_status_t *status) {
  int32_t op;
  const char *names[2] = {name, NULL};
  qiao_loc_t loc = {0, 0};
  qiao_status_t st = qiao_ir_graph_add_op(g, kind, operands, n, attrs, NULL, names, loc, &op);
  if (status) *status = st;
  else qiao_status_free(st);
  return st ? -1 : g->ops[op].results[0];
}

int32_t qiao_ir_build_param(qiao_graph_t *g, const char *param_name, qiao_type_t type,
                            const char *name, qiao_status_t *status) {
  qiao_attrs_t a;
  memset(&a, 0, sizeof(a));
  a.param_name = param_name;
  const char *names[2] = {name, NULL};
  qiao_loc_t loc = {0, 0};
  int32_t op;
  qiao_status_t st = qiao_ir_graph_add_op(g, QIAO_OP_PARAM, NULL, 0, &a, &type, names, loc, &op);
  if (status) *status = st;
  else qiao_status_free(st);
  return st ? -1 : g->ops[op].results[0];
}

int32_t qiao_ir_build_const(qiao_graph_t *g, qiao_type_t type, const double *vals, int64_t n,
                            const char *name, qiao_status_t *status) {
  qiao_attrs_t a;
  memset(&a, 0, sizeof(a));
  a.n_values = n;
  int64_t *iv = NULL;
  if (qiao_dtype_is_int(type.dtype)) {
    iv = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!iv) abort();
    for (int64_t i = 0; i < n; ++i) iv[i] = (int64_t)vals[i];
    a.const_i = iv;
  } else {
    a.const_f = (double *)vals;
  }
  const char *names[2] = {name, NULL};
  qiao_loc_t loc = {0, 0};
  int32_t op;
  qiao_status_t st = qiao_ir_graph_add_op(g, QIAO_OP_CONST, NULL, 0, &a, &type, names, loc, &op);
  free(iv);
  if (status) *status = st;
  else qiao_status_free(st);
  return st ? -1 : g->ops[op].results[0];
}

/* ------------------------------------------------------------------ equality */

static bool str_eq(const char *a, const char *b) {
  if (!a || !b) return a == b;
  return !strcmp(a, b);
}

static bool dbl_eq(double a, double b) {
  if (isnan(a) && isnan(b)) return true;
  return memcmp(&a, &b, sizeof a) == 0 || a == b;
}

static bool attrs_equal(const qiao_attrs_t *x, const qiao_attrs_t *y, qiao_op_kind_t kind) {
  const qiao_op_schema_t *s = qiao_op_schema(kind);
  for (int i = 0; i < s->n_attrs; ++i) {
    int64_t xi, yi;
    double xf, yf;
    const int64_t *xs, *ys;
    int32_t xn, yn;
    qiao_attrs_get(x, kind, i, &xi, &xf, &xs, &xn);
    qiao_attrs_get(y, kind, i, &yi, &yf, &ys, &yn);
    if (xi != yi || !dbl_eq(xf, yf) || xn != yn) return false;
    if (xn && memcmp(xs, ys, sizeof(int64_t) * (size_t)xn)) return false;
  }
  if (kind == QIAO_OP_PARAM && !str_eq(x->param_name, y->param_name)) return false;
  if (kind == QIAO_OP_CONST) {
    if (x->n_values != y->n_values) return false;
    if ((x->const_f == NULL) != (y->const_f == NULL)) return false;
    for (int64_t i = 0; i < x->n_values; ++i) {
      if (x->const_f && !dbl_eq(x->const_f[i], y->const_f[i])) return false;
      if (x->const_i && x->const_i[i] != y->const_i[i]) return false;
    }
  }
  return true;
}

bool qiao_ir_graph_equal(const qiao_graph_t *a, const qiao_graph_t *b) {
  if (!str_eq(a->name, b->name)) return false;
  if (a->n_values != b->n_values || a->n_ops != b->n_ops || a->n_inputs != b->n_inputs ||
      a->n_outputs != b->n_outputs)
    return false;
  for (int32_t i = 0; i < a->n_values; ++i) {
    const qiao_value_t *x = &a->values[i], *y = &b->values[i];
    if (!str_eq(x->name, y->name) || !qiao_type_equal(&x->type, &y->type) || x->kind != y->kind ||
        x->def_op != y->def_op || x->def_result != y->def_result ||
        x->input_index != y->input_index)
      return false;
  }
  for (int32_t i = 0; i < a->n_ops; ++i) {
    const qiao_op_t *x = &a->ops[i], *y = &b->ops[i];
    if (x->kind != y->kind || x->n_operands != y->n_operands || x->n_results != y->n_results ||
        x->form != y->form)
      return false;
    for (int32_t j = 0; j < x->n_operands; ++j)
      if (x->operands[j] != y->operands[j]) return false;
    for (int32_t j = 0; j < x->n_results; ++j)
      if (x->results[j] != y->results[j]) return false;
    if (!attrs_equal(&x->attrs, &y->attrs, x->kind)) return false;
  }
  for (int32_t i = 0; i < a->n_inputs; ++i)
    if (a->inputs[i] != b->inputs[i]) return false;
  for (int32_t i = 0; i < a->n_outputs; ++i)
    if (a->outputs[i] != b->outputs[i] ||
        !qiao_type_equal(&a->output_types[i], &b->output_types[i]))
      return false;
  return true;
}
