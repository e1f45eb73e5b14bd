/* The graph verifier: structure (ids, order, back-pointers, names), every op
 * against its schema and its re-inferred result types, and the outputs. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "qiao/ir.h"

#define BAD(...) qiao_status_make(QIAO_INVALID_ARGUMENT, __VA_ARGS__)

/* Writes "%name" or "%<id>" for value `id` (which must be in range). */
static const char *value_str(const qiao_graph_t *g, int32_t id, char *buf, size_t cap) {
  const char *nm = g->values[id].name;
  if (nm) snprintf(buf, cap, "%%%s", nm);
  else snprintf(buf, cap, "(unnamed value #%d)", (int)id);
  return buf;
}

/* Makes an error about op `op_id`: "L:C: op %h = mul: <msg>". */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static qiao_status_t op_error(const qiao_graph_t *g, int32_t op_id, const char *fmt, ...) {
  const qiao_op_t *op = &g->ops[op_id];
  char head[320];
  size_t n = 0;
  if (op->loc.line > 0)
    n += (size_t)snprintf(head + n, sizeof head - n, "%d:%d: ", (int)op->loc.line,
                          (int)op->loc.col);
  const char *name = (int)op->kind >= 0 && op->kind < QIAO_OP_KIND_COUNT ? qiao_op_name(op->kind)
                                                                        : "?";
  bool named = false;
  int32_t nr = op->n_results >= 0 && op->n_results <= 2 ? op->n_results : 0;
  for (int32_t i = 0; i < nr; ++i) {
    int32_t r = op->results[i];
    if (r >= 0 && r < g->n_values && g->values[r].name) named = true;
  }
  if (named) {
    n += (size_t)snprintf(head + n, sizeof head - n, "op ");
    for (int32_t i = 0; i < nr && n < sizeof head; ++i) {
      int32_t r = op->results[i];
      char vb[128];
      if (r >= 0 && r < g->n_values) value_str(g, r, vb, sizeof vb);
      else snprintf(vb, sizeof vb, "%%?");
      n += (size_t)snprintf(head + n, sizeof head - n, "%s%s", i ? ", " : "", vb);
    }
    if (n < sizeof head) snprintf(head + n, sizeof head - n, " = %s", name);
  } else {
    snprintf(head + n, sizeof head - n, "op #%d = %s", (int)op_id, name);
  }
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return BAD("%s: %s", head, msg);
}

static bool type_valid(const qiao_type_t *t) {
  if ((int)t->dtype < 0 || t->dtype >= QIAO_DTYPE_COUNT) return false;
  if (t->shape.rank < 0 || t->shape.rank > QIAO_MAX_RANK) return false;
  int64_t bytes; /* zero dims counted as 1, as shape inference does; bytes fit too */
  return qiao_type_nbytes(t, &bytes);
}

/* Attribute values within what their schema kind allows. */
static qiao_status_t check_attrs(const qiao_graph_t *g, int32_t op_id) {
  const qiao_op_t *op = &g->ops[op_id];
  const qiao_op_schema_t *s = qiao_op_schema(op->kind);
  for (int i = 0; i < s->n_attrs; ++i) {
    const qiao_attr_schema_t *as = &s->attrs[i];
    int64_t iv;
    double fv;
    const int64_t *ints;
    int32_t n;
    qiao_attrs_get(&op->attrs, op->kind, i, &iv, &fv, &ints, &n);
    switch (as->kind) {
    case QIAO_ATTR_INTS:
      if (n < 0 || n > QIAO_MAX_RANK)
        return op_error(g, op_id, "attribute '%s' has %d entries; expected 0 to %d", as->name,
                        (int)n, QIAO_MAX_RANK);
      break;
    case QIAO_ATTR_DTYPE:
      if (iv < 0 || iv >= QIAO_DTYPE_COUNT)
        return op_error(g, op_id, "attribute '%s' is not a valid dtype (%lld)", as->name,
                        (long long)iv);
      break;
    case QIAO_ATTR_ENUM: {
      int64_t count = 0;
      while (as->enum_names && as->enum_names[count]) ++count;
      if (iv < 0 || iv >= count)
        return op_error(g, op_id, "attribute '%s' has an invalid value (%lld); expected 0 to %lld",
                        as->name, (long long)iv, (long long)count - 1);
      break;
    }
    default: break;
    }
  }
  if (op->kind == QIAO_OP_PARAM && (!op->attrs.param_name || !*op->attrs.param_name))
    return op_error(g, op_id, "param needs a non-empty name");
  return NULL;
}

/* Checks op `op_id`'s structure, operands and result types; marks its
 * results defined. */
static qiao_status_t check_op(const qiao_graph_t *g, int32_t op_id, bool *defined) {
  const qiao_op_t *op = &g->ops[op_id];
  if ((int)op->kind < 0 || op->kind >= QIAO_OP_KIND_COUNT)
    return op_error(g, op_id, "unknown op kind %d", (int)op->kind);
  const qiao_op_schema_t *s = qiao_op_schema(op->kind);
  if (op->n_operands < s->min_operands ||
      (s->max_operands >= 0 && op->n_operands > s->max_operands)) {
    if (s->max_operands < 0)
      return op_error(g, op_id, "expects at least %d operands, got %d", (int)s->min_operands,
                      (int)op->n_operands);
    if (s->min_operands == s->max_operands)
      return op_error(g, op_id, "expects %d operand%s, got %d", (int)s->min_operands,
                      s->min_operands == 1 ? "" : "s", (int)op->n_operands);
    return op_error(g, op_id, "expects %d to %d operands, got %d", (int)s->min_operands,
                    (int)s->max_operands, (int)op->n_operands);
  }
  if (op->n_operands > 0 && !op->operands) return op_error(g, op_id, "operand list is missing");
  if (op->n_results != s->n_results)
    return op_error(g, op_id, "has %d results; expected %d", (int)op->n_results,
                    (int)s->n_results);
  for (int32_t j = 0; j < op->n_results; ++j) {
    int32_t r = op->results[j];
    if (r < 0 || r >= g->n_values)
      return op_error(g, op_id, "result %d has id %d, out of range (the graph has %d values)",
                      (int)j, (int)r, (int)g->n_values);
    const qiao_value_t *v = &g->values[r];
    if (v->kind != QIAO_VALUE_RESULT || v->def_op != op_id || v->def_result != j)
      return op_error(g, op_id, "result %d does not point back to this op", (int)j);
    if (defined[r]) return op_error(g, op_id, "result %d is defined twice", (int)j);
  }
  for (int32_t j = 0; j < op->n_operands; ++j) {
    int32_t id = op->operands[j];
    if (id < 0 || id >= g->n_values)
      return op_error(g, op_id, "operand %d has id %d, out of range (the graph has %d values)",
                      (int)j, (int)id, (int)g->n_values);
    if (!defined[id]) {
      char vb[128];
      return op_error(g, op_id, "operand %d %s is used before it is defined", (int)j,
                      value_str(g, id, vb, sizeof vb));
    }
  }
  QIAO_RETURN_IF_ERROR(check_attrs(g, op_id));

  qiao_type_t inferred[2];
  memset(inferred, 0, sizeof inferred);
  qiao_status_t st;
  if (op->kind == QIAO_OP_PARAM || op->kind == QIAO_OP_CONST) {
    inferred[0] = g->values[op->results[0]].type;
    st = qiao_ir_infer_op(op->kind, inferred, 0, &op->attrs, inferred);
  } else {
    qiao_type_t small[16];
    qiao_type_t *types = small;
    if (op->n_operands > 16) {
      types = malloc(sizeof(qiao_type_t) * (size_t)op->n_operands);
      if (!types) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    }
    for (int32_t j = 0; j < op->n_operands; ++j) types[j] = g->values[op->operands[j]].type;
    st = qiao_ir_infer_op(op->kind, types, op->n_operands, &op->attrs, inferred);
    if (types != small) free(types);
  }
  if (st) {
    /* Drop inference's "<op>: " prefix: op_error names the op already. */
    const char *m = qiao_status_message(st);
    size_t nl = strlen(s->name);
    if (!strncmp(m, s->name, nl) && m[nl] == ':' && m[nl + 1] == ' ') m += nl + 2;
    qiao_status_t e = op_error(g, op_id, "%s", m);
    qiao_status_free(st);
    return e;
  }
  for (int32_t j = 0; j < op->n_results; ++j) {
    const qiao_type_t *have = &g->values[op->results[j]].type;
    if (!qiao_type_equal(have, &inferred[j])) {
      char b1[128], b2[128];
      return op_error(g, op_id, "result %d is %s but the operands give %s", (int)j,
                      qiao_type_str(have, b1, sizeof b1),
                      qiao_type_str(&inferred[j], b2, sizeof b2));
    }
  }
  for (int32_t j = 0; j < op->n_results; ++j) defined[op->results[j]] = true;
  return NULL;
}

typedef struct {
  const char *name;
  int32_t id;
} name_entry_t;

static int cmp_names(const void *x, const void *y) {
  const name_entry_t *a = x, *b = y;
  int c = strcmp(a->name, b->name);
  if (c) return c;
  return (a->id > b->id) - (a->id < b->id);
}

/* Non-NULL value names are unique. */
static qiao_status_t check_names(const qiao_graph_t *g) {
  if (g->n_values == 0) return NULL;
  name_entry_t *e = malloc(sizeof(*e) * (size_t)g->n_values);
  if (!e) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  int32_t n = 0;
  for (int32_t i = 0; i < g->n_values; ++i)
    if (g->values[i].name) e[n++] = (name_entry_t){g->values[i].name, i};
  qsort(e, (size_t)n, sizeof(*e), cmp_names);
  qiao_status_t st = NULL;
  for (int32_t i = 1; i < n && !st; ++i) {
    if (strcmp(e[i - 1].name, e[i].name)) continue;
    const qiao_value_t *v = &g->values[e[i].id];
    if (v->kind == QIAO_VALUE_RESULT && v->def_op >= 0 && v->def_op < g->n_ops)
      st = op_error(g, v->def_op, "value %%%s is defined twice", e[i].name);
    else st = BAD("value %%%s is defined twice", e[i].name);
  }
  free(e);
  return st;
}

static qiao_status_t check_inputs(const qiao_graph_t *g, bool *defined) {
  if (g->n_inputs < 0 || (g->n_inputs > 0 && !g->inputs))
    return BAD("graph input list is malformed");
  for (int32_t i = 0; i < g->n_inputs; ++i) {
    int32_t id = g->inputs[i];
    if (id < 0 || id >= g->n_values)
      return BAD("input %d has id %d, out of range (the graph has %d values)", (int)i, (int)id,
                 (int)g->n_values);
    const qiao_value_t *v = &g->values[id];
    if (v->kind != QIAO_VALUE_INPUT || v->input_index != i)
      return BAD("input %d (value #%d) is not marked as graph input %d", (int)i, (int)id, (int)i);
    if (!v->name) return BAD("input %d has no name", (int)i);
    if (!type_valid(&v->type)) {
      char b[128];
      qiao_type_str(&v->type, b, sizeof b);
      int64_t numel = 1;
      bool numel_ok = (int)v->type.dtype >= 0 && v->type.dtype < QIAO_DTYPE_COUNT &&
                      v->type.shape.rank >= 0 && v->type.shape.rank <= QIAO_MAX_RANK;
      for (int d = 0; numel_ok && d < v->type.shape.rank; ++d)
        numel_ok =
            v->type.shape.dims[d] >= 0 &&
            (v->type.shape.dims[d] == 0 || qiao_ck_mul(numel, v->type.shape.dims[d], &numel));
      if (numel_ok)
        return BAD("input %%%s: %s is %lld elements of %zu bytes: its byte size overflows 64 bits",
                   v->name, b, (long long)numel, qiao_dtype_size(v->type.dtype));
      return BAD("input %%%s has an invalid type %s", v->name, b);
    }
    if (defined[id]) return BAD("input %%%s is listed twice", v->name);
    defined[id] = true;
  }
  return NULL;
}

static qiao_status_t check_values(const qiao_graph_t *g) {
  for (int32_t i = 0; i < g->n_values; ++i) {
    const qiao_value_t *v = &g->values[i];
    char vb[128];
    if (v->kind == QIAO_VALUE_INPUT) {
      if (v->input_index < 0 || v->input_index >= g->n_inputs || g->inputs[v->input_index] != i)
        return BAD("value %s is marked as an input but is not in the input list",
                   value_str(g, i, vb, sizeof vb));
    } else if (v->kind == QIAO_VALUE_RESULT) {
      if (v->def_op < 0 || v->def_op >= g->n_ops || v->def_result < 0 ||
          v->def_result >= g->ops[v->def_op].n_results ||
          g->ops[v->def_op].results[v->def_result] != i)
        return BAD("value %s does not point to the op that defines it",
                   value_str(g, i, vb, sizeof vb));
    } else {
      return BAD("value %s has an invalid kind %d", value_str(g, i, vb, sizeof vb), (int)v->kind);
    }
  }
  return NULL;
}

static qiao_status_t check_outputs(const qiao_graph_t *g) {
  if (g->n_outputs <= 0) return BAD("graph @%s has no outputs", g->name ? g->name : "?");
  if (!g->outputs || !g->output_types) return BAD("graph output list is malformed");
  for (int32_t i = 0; i < g->n_outputs; ++i) {
    int32_t id = g->outputs[i];
    if (id < 0 || id >= g->n_values)
      return BAD("output %d has id %d, out of range (the graph has %d values)", (int)i, (int)id,
                 (int)g->n_values);
    const qiao_type_t *decl = &g->output_types[i], *have = &g->values[id].type;
    if (!qiao_type_equal(decl, have)) {
      char b1[128], b2[128], vb[128];
      return BAD("output %d: declared %s but %s is %s", (int)i, qiao_type_str(decl, b1, sizeof b1),
                 value_str(g, id, vb, sizeof vb), qiao_type_str(have, b2, sizeof b2));
    }
  }
  return NULL;
}

qiao_status_t qiao_ir_graph_verify(const qiao_graph_t *g) {
  if (!g) return BAD("graph is NULL");
  if (g->n_values < 0 || g->n_ops < 0 || (g->n_values > 0 && !g->values) ||
      (g->n_ops > 0 && !g->ops))
    return BAD("graph arrays are malformed");
  bool *defined = calloc((size_t)(g->n_values ? g->n_values : 1), sizeof(bool));
  if (!defined) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  qiao_status_t st = check_inputs(g, defined);
  for (int32_t i = 0; i < g->n_ops && !st; ++i) st = check_op(g, i, defined);
  free(defined);
  if (!st) st = check_values(g);
  if (!st) st = check_names(g);
  if (!st) st = check_outputs(g);
  return st;
}
