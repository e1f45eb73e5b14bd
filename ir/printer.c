/* The canonical printer for the .qir text format.
 *
 * Canonical form (what qiao_ir_print writes; parse(print(g)) reproduces g):
 *   graph @name(%a: f32[2, 3], %b: i64[]) -> (f32[2, 3]) {
 *     %w = param "mlp.up" : bf16[4096, 11008]
 *     %c = const [1, 2] : i32[2]
 *     %h = mul (silu %g), %u : f32[4, 11008]
 *     %v, %i = topk %x {k = 2} : f32[4, 2], i64[4, 2]
 *     %s = mul %x, 0.5 : f32[2, 3]
 *     return %y, %z
 *   }
 * - two-space indentation, one statement per line, a trailing newline, no
 *   comments, no alignment;
 * - every statement carries its result types;
 * - attributes in schema order, only those that differ from their default
 *   (required ones always): bools true/false, ints, floats via
 *   qiao_format_double, int lists [1, -1], dtypes bare (to = bf16), enums as
 *   strings (mode = "gptj");
 * - ops of form NESTED are printed inline in parentheses, without types;
 *   consts of form LITERAL as a bare number at their use. That happens only
 *   when it can be read back the same way: the op has one result, used once,
 *   not a graph output, (literal:) a rank-0 splat used by a binary op whose
 *   other operand has the same dtype and is not itself a literal. Otherwise
 *   the op is printed as a statement with a generated name;
 * - const values: floats via qiao_format_double, ints in decimal, bool
 *   consts as true/false (values other than 0/1 as floats); one value
 *   (a splat) bare, otherwise a flat list;
 * - values without a name (built through the API) that are printed as
 *   statements get the first free names %t0, %t1, ...; so are names that are
 *   not identifiers ([A-Za-z_][A-Za-z0-9_.]*). Such a graph reads back equal
 *   to the original except for those names. A graph name that is not an
 *   identifier is printed with invalid characters replaced by '_'.
 * - strings (param names) escape '"', '\\' and bytes outside 0x20..0x7e
 *   (\n, \t, \r, \xHH).
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lexer.h"
#include "qiao/ir.h"

/* ------------------------------------------------------------- doubles */

void qiao_format_double(double v, char *buf, size_t cap) {
  if (!buf || cap == 0) return;
  if (isnan(v)) {
    snprintf(buf, cap, "%s", signbit(v) ? "-nan" : "nan");
    return;
  }
  if (isinf(v)) {
    snprintf(buf, cap, "%s", v < 0 ? "-inf" : "inf");
    return;
  }
  char tmp[64];
  /* Integral values of moderate size read best in plain notation: 10000.0,
   * not 1e+04. */
  if (v == floor(v) && fabs(v) < 1e15) {
    snprintf(buf, cap, "%.1f", v);
    return;
  }
  for (int p = 1; p <= 17; ++p) {
    snprintf(tmp, sizeof tmp, "%.*g", p, v);
    if (strtod(tmp, NULL) == v) break;
  }
  if (!strpbrk(tmp, ".en")) {
    size_t n = strlen(tmp);
    if (n + 2 < sizeof tmp) memcpy(tmp + n, ".0", 3);
  }
  snprintf(buf, cap, "%s", tmp);
}

/* ------------------------------------------------------------- buffer */

typedef struct {
  char *data;
  size_t len, cap;
  bool oom;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
      b->oom = true;
      return;
    }
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = 0;
}

static void sb_str(sbuf_t *b, const char *s) { sb_put(b, s, strlen(s)); }

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
sb_printf(sbuf_t *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    sb_put(b, tmp, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) {
    b->oom = true;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb_put(b, big, (size_t)n);
  free(big);
}

static void sb_double(sbuf_t *b, double v) {
  char tmp[64];
  qiao_format_double(v, tmp, sizeof tmp);
  sb_str(b, tmp);
}

static void sb_type(sbuf_t *b, const qiao_type_t *t) {
  sb_str(b, qiao_dtype_name(t->dtype));
  sb_str(b, "[");
  int32_t rank = t->shape.rank;
  if (rank < 0) rank = 0;
  if (rank > QIAO_MAX_RANK) rank = QIAO_MAX_RANK;
  for (int32_t i = 0; i < rank; ++i)
    sb_printf(b, "%s%" PRId64, i ? ", " : "", t->shape.dims[i]);
  sb_str(b, "]");
}

static void sb_string_lit(sbuf_t *b, const char *s) {
  sb_str(b, "\"");
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; ++p) {
    switch (*p) {
    case '"': sb_str(b, "\\\""); break;
    case '\\': sb_str(b, "\\\\"); break;
    case '\n': sb_str(b, "\\n"); break;
    case '\t': sb_str(b, "\\t"); break;
    case '\r': sb_str(b, "\\r"); break;
    default:
      if (*p < 0x20 || *p > 0x7e)
        sb_printf(b, "\\x%02x", *p);
      else
        sb_put(b, (const char *)p, 1);
    }
  }
  sb_str(b, "\"");
}

/* ------------------------------------------------------------- names */

/* A set of strings (open addressing, pointers into the graph or names[]). */
typedef struct {
  const char **slots;
  size_t cap;
} strset_t;

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; ++s)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static bool strset_has(const strset_t *s, const char *k) {
  for (size_t i = hash_str(k) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
    if (!s->slots[i]) return false;
    if (!strcmp(s->slots[i], k)) return true;
  }
}

static void strset_add(strset_t *s, const char *k) {
  size_t i = hash_str(k) & (s->cap - 1);
  while (s->slots[i]) {
    if (!strcmp(s->slots[i], k)) return;
    i = (i + 1) & (s->cap - 1);
  }
  s->slots[i] = k;
}

typedef struct {
  const qiao_graph_t *g;
  char **names; /* per value: the printed name without '%' (NULL: inline) */
  uint8_t *inl; /* per op: printed inline (nested or literal) */
  sbuf_t out;
} printer_t;

static bool op_is_inline(const printer_t *p, int32_t op) {
  return op >= 0 && op < p->g->n_ops && p->inl[op];
}

static bool value_ok(const qiao_graph_t *g, int32_t v) { return v >= 0 && v < g->n_values; }

/* Decides which ops are printed inline. use counts include graph outputs. */
static void decide_inline(printer_t *p, const int32_t *uses, const int32_t *user, int32_t *depth) {
  const qiao_graph_t *g = p->g;
  for (int32_t i = 0; i < g->n_ops; ++i) {
    const qiao_op_t *op = &g->ops[i];
    depth[i] = 1;
    for (int32_t j = 0; j < op->n_operands; ++j) {
      int32_t v = op->operands[j];
      if (!value_ok(g, v)) continue;
      int32_t d = g->values[v].def_op;
      if (d >= 0 && d < i && p->inl[d] && depth[d] + 1 > depth[i]) depth[i] = depth[d] + 1;
    }
    if (op->form == QIAO_FORM_STATEMENT || op->n_results != 1) continue;
    int32_t r = op->results[0];
    if (!value_ok(g, r) || uses[r] != 1 || user[r] < 0) continue;
    const qiao_op_t *u = &g->ops[user[r]];
    if (op->form == QIAO_FORM_NESTED) {
      if (op->kind == QIAO_OP_PARAM || op->kind == QIAO_OP_CONST) continue;
      if (depth[i] > 48) continue; /* keeps the parser's nesting limit */
      p->inl[i] = 1;
    } else if (op->form == QIAO_FORM_LITERAL) {
      if (op->kind != QIAO_OP_CONST || op->attrs.n_values != 1 ||
          g->values[r].type.shape.rank != 0 || u->n_operands != 2)
        continue;
      int32_t other = u->operands[0] == r ? u->operands[1] : u->operands[0];
      if (!value_ok(g, other) || other == r) continue;
      qiao_dtype_t dt = g->values[r].type.dtype;
      if (g->values[other].type.dtype != dt) continue;
      if (qiao_dtype_is_int(dt) ? !op->attrs.const_i : !op->attrs.const_f) continue;
      int32_t od = g->values[other].def_op;
      /* the other operand must not itself print as a literal */
      if (od >= 0 && od < i && p->inl[od] && g->ops[od].form == QIAO_FORM_LITERAL) continue;
      p->inl[i] = 1;
    }
  }
}

static qiao_status_t assign_names(printer_t *p) {
  const qiao_graph_t *g = p->g;
  strset_t set;
  set.cap = 16;
  while (set.cap < (size_t)g->n_values * 2 + 16)
    set.cap *= 2;
  set.slots = calloc(set.cap, sizeof(char *));
  if (!set.slots) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  /* Keep every valid, unique name; the rest are renamed below. */
  bool *keep = calloc((size_t)g->n_values + 1, 1);
  if (!keep) {
    free(set.slots);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  for (int32_t v = 0; v < g->n_values; ++v) {
    const char *nm = g->values[v].name;
    if (!nm || !qiao_lex_is_ident(nm, strlen(nm)) || strset_has(&set, nm)) continue;
    strset_add(&set, nm);
    keep[v] = true;
  }
  int64_t counter = 0;
  qiao_status_t st = NULL;
  for (int32_t v = 0; v < g->n_values && !st; ++v) {
    const qiao_value_t *val = &g->values[v];
    if (val->kind == QIAO_VALUE_RESULT && op_is_inline(p, val->def_op)) continue;
    if (keep[v]) {
      p->names[v] = strdup(val->name);
    } else {
      char tmp[32];
      do
        snprintf(tmp, sizeof tmp, "t%" PRId64, counter++);
      while (strset_has(&set, tmp));
      p->names[v] = strdup(tmp);
    }
    if (!p->names[v]) st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  free(keep);
  free(set.slots);
  return st;
}

/* ------------------------------------------------------------- ops */

static void print_operand(printer_t *p, int32_t v);

static void print_const_value(sbuf_t *b, const qiao_attrs_t *a, int64_t i, qiao_dtype_t dt,
                              bool words_for_bool) {
  if (a->const_i) {
    sb_printf(b, "%" PRId64, a->const_i[i]);
  } else if (a->const_f) {
    double v = a->const_f[i];
    if (words_for_bool && dt == QIAO_BOOL && (v == 0.0 || v == 1.0))
      sb_str(b, v == 1.0 ? "true" : "false");
    else
      sb_double(b, v);
  } else {
    sb_str(b, "0");
  }
}

static void print_attrs(printer_t *p, const qiao_op_t *op) {
  const qiao_op_schema_t *s = qiao_op_schema(op->kind);
  bool first = true;
  for (int i = 0; i < s->n_attrs; ++i) {
    const qiao_attr_schema_t *as = &s->attrs[i];
    if (!as->required && qiao_attrs_is_default(&op->attrs, op->kind, i)) continue;
    int64_t iv;
    double fv;
    const int64_t *ints;
    int32_t n;
    qiao_attrs_get(&op->attrs, op->kind, i, &iv, &fv, &ints, &n);
    sb_str(&p->out, first ? " {" : ", ");
    first = false;
    sb_str(&p->out, as->name);
    sb_str(&p->out, " = ");
    switch (as->kind) {
    case QIAO_ATTR_BOOL: sb_str(&p->out, iv ? "true" : "false"); break;
    case QIAO_ATTR_INT: sb_printf(&p->out, "%" PRId64, iv); break;
    case QIAO_ATTR_FLOAT: sb_double(&p->out, fv); break;
    case QIAO_ATTR_INTS:
      sb_str(&p->out, "[");
      for (int32_t j = 0; j < n && ints; ++j)
        sb_printf(&p->out, "%s%" PRId64, j ? ", " : "", ints[j]);
      sb_str(&p->out, "]");
      break;
    case QIAO_ATTR_DTYPE: sb_str(&p->out, qiao_dtype_name((qiao_dtype_t)iv)); break;
    case QIAO_ATTR_ENUM: {
      int64_t cnt = 0;
      while (as->enum_names && as->enum_names[cnt])
        cnt++;
      if (iv >= 0 && iv < cnt)
        sb_string_lit(&p->out, as->enum_names[iv]);
      else
        sb_printf(&p->out, "%" PRId64, iv); /* invalid; will not parse back */
      break;
    }
    }
  }
  if (!first) sb_str(&p->out, "}");
}

/* The op expression without result names or types: "matmul %a, %b {...}". */
static void print_opexpr(printer_t *p, const qiao_op_t *op) {
  const qiao_graph_t *g = p->g;
  sb_str(&p->out, qiao_op_name(op->kind));
  if (op->kind == QIAO_OP_PARAM) {
    sb_str(&p->out, " ");
    sb_string_lit(&p->out, op->attrs.param_name);
    return;
  }
  if (op->kind == QIAO_OP_CONST) {
    const qiao_attrs_t *a = &op->attrs;
    qiao_dtype_t dt = op->n_results > 0 && value_ok(g, op->results[0])
                          ? g->values[op->results[0]].type.dtype
                          : QIAO_F32;
    if (a->n_values == 1) {
      sb_str(&p->out, " ");
      print_const_value(&p->out, a, 0, dt, true);
    } else {
      sb_str(&p->out, " [");
      for (int64_t i = 0; i < a->n_values; ++i) {
        if (i) sb_str(&p->out, ", ");
        print_const_value(&p->out, a, i, dt, true);
      }
      sb_str(&p->out, "]");
    }
    return;
  }
  for (int32_t j = 0; j < op->n_operands; ++j) {
    sb_str(&p->out, j ? ", " : " ");
    print_operand(p, op->operands[j]);
  }
  print_attrs(p, op);
}

static void print_operand(printer_t *p, int32_t v) {
  const qiao_graph_t *g = p->g;
  if (!value_ok(g, v)) {
    sb_str(&p->out, "%<invalid>");
    return;
  }
  const qiao_value_t *val = &g->values[v];
  if (val->kind == QIAO_VALUE_RESULT && op_is_inline(p, val->def_op)) {
    const qiao_op_t *d = &g->ops[val->def_op];
    if (d->form == QIAO_FORM_LITERAL) {
      print_const_value(&p->out, &d->attrs, 0, val->type.dtype, false);
      /* an integer-looking value of a float dtype must read back as float */
    } else {
      sb_str(&p->out, "(");
      print_opexpr(p, d);
      sb_str(&p->out, ")");
    }
    return;
  }
  sb_str(&p->out, "%");
  sb_str(&p->out, p->names[v] ? p->names[v] : "<anon>");
}

static void print_graph_name(sbuf_t *b, const char *name) {
  if (!name || !*name) {
    sb_str(b, "main");
    return;
  }
  size_t n = strlen(name);
  if (qiao_lex_is_ident(name, n)) {
    sb_str(b, name);
    return;
  }
  char *s = malloc(n + 2);
  if (!s) {
    b->oom = true;
    return;
  }
  size_t o = 0;
  if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') || name[0] == '_'))
    s[o++] = '_';
  for (size_t i = 0; i < n; ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.';
    s[o++] = ok ? c : '_';
  }
  sb_put(b, s, o);
  free(s);
}

static qiao_status_t print_graph(const qiao_graph_t *g, sbuf_t *out) {
  printer_t p;
  memset(&p, 0, sizeof p);
  p.g = g;
  size_t nv = (size_t)(g->n_values > 0 ? g->n_values : 0) + 1;
  size_t no = (size_t)(g->n_ops > 0 ? g->n_ops : 0) + 1;
  p.names = calloc(nv, sizeof(char *));
  p.inl = calloc(no, 1);
  int32_t *uses = calloc(nv, sizeof(int32_t));
  int32_t *user = malloc(nv * sizeof(int32_t));
  int32_t *depth = calloc(no, sizeof(int32_t));
  qiao_status_t st = NULL;
  if (!p.names || !p.inl || !uses || !user || !depth) {
    st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < nv; ++i)
    user[i] = -1;
  for (int32_t i = 0; i < g->n_ops; ++i) {
    const qiao_op_t *op = &g->ops[i];
    for (int32_t j = 0; j < op->n_operands; ++j) {
      int32_t v = op->operands[j];
      if (!value_ok(g, v)) continue;
      uses[v]++;
      user[v] = i;
    }
  }
  for (int32_t i = 0; i < g->n_outputs; ++i)
    if (value_ok(g, g->outputs[i])) uses[g->outputs[i]] += 2;
  decide_inline(&p, uses, user, depth);
  st = assign_names(&p);
  if (st) goto done;

  sb_str(&p.out, "graph @");
  print_graph_name(&p.out, g->name);
  sb_str(&p.out, "(");
  for (int32_t i = 0; i < g->n_inputs; ++i) {
    int32_t v = g->inputs[i];
    if (i) sb_str(&p.out, ", ");
    if (!value_ok(g, v)) {
      sb_str(&p.out, "%<invalid>");
      continue;
    }
    sb_printf(&p.out, "%%%s: ", p.names[v] ? p.names[v] : "<anon>");
    sb_type(&p.out, &g->values[v].type);
  }
  sb_str(&p.out, ") -> (");
  for (int32_t i = 0; i < g->n_outputs; ++i) {
    if (i) sb_str(&p.out, ", ");
    if (g->output_types)
      sb_type(&p.out, &g->output_types[i]);
    else if (value_ok(g, g->outputs[i]))
      sb_type(&p.out, &g->values[g->outputs[i]].type);
  }
  sb_str(&p.out, ") {\n");
  for (int32_t i = 0; i < g->n_ops; ++i) {
    if (p.inl[i]) continue;
    const qiao_op_t *op = &g->ops[i];
    sb_str(&p.out, "  ");
    for (int32_t r = 0; r < op->n_results; ++r) {
      if (r) sb_str(&p.out, ", ");
      print_operand(&p, op->results[r]);
    }
    sb_str(&p.out, " = ");
    print_opexpr(&p, op);
    sb_str(&p.out, " : ");
    for (int32_t r = 0; r < op->n_results; ++r) {
      if (r) sb_str(&p.out, ", ");
      if (value_ok(g, op->results[r])) sb_type(&p.out, &g->values[op->results[r]].type);
    }
    sb_str(&p.out, "\n");
  }
  sb_str(&p.out, "  return");
  for (int32_t i = 0; i < g->n_outputs; ++i) {
    sb_str(&p.out, i ? ", " : " ");
    print_operand(&p, g->outputs[i]);
  }
  sb_str(&p.out, "\n}\n");
  if (p.out.oom) st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");

done:
  if (p.names)
    for (size_t i = 0; i < nv; ++i)
      free(p.names[i]);
  free(p.names);
  free(p.inl);
  free(uses);
  free(user);
  free(depth);
  if (st) {
    free(p.out.data);
    return st;
  }
  *out = p.out;
  return NULL;
}

qiao_status_t qiao_ir_print(const qiao_graph_t *g, char **out_text) {
  if (!out_text) return qiao_status_make(QIAO_INVALID_ARGUMENT, "qiao_ir_print: out_text is NULL");
  *out_text = NULL;
  if (!g) return qiao_status_make(QIAO_INVALID_ARGUMENT, "qiao_ir_print: graph is NULL");
  sbuf_t b;
  QIAO_RETURN_IF_ERROR(print_graph(g, &b));
  *out_text = b.data;
  return NULL;
}

qiao_status_t qiao_ir_print_to_file(const qiao_graph_t *g, FILE *f) {
  if (!f) return qiao_status_make(QIAO_INVALID_ARGUMENT, "qiao_ir_print_to_file: FILE is NULL");
  char *text;
  QIAO_RETURN_IF_ERROR(qiao_ir_print(g, &text));
  size_t n = strlen(text);
  size_t w = fwrite(text, 1, n, f);
  free(text);
  if (w != n) return qiao_status_make(QIAO_IO_ERROR, "writing the graph failed");
  return NULL;
}
