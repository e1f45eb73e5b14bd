/* The parser for the .qir text format.
 *
 * Grammar (whitespace, newlines included, separates tokens and is otherwise
 * insignificant; '#' starts a comment that runs to the end of the line):
 *
 *   file     := graph EOF
 *   graph    := 'graph' GLOBAL '(' [input {',' input}] ')'
 *               '->' '(' [type {',' type}] ')' '{' stmt* 'return' [VALUE {',' VALUE}] '}'
 *   input    := VALUE ':' type
 *   stmt     := VALUE {',' VALUE} '=' ( 'param' STRING ':' types
 *                                     | 'const' constval ':' types
 *                                     | opname operands [attrs] [':' types] )
 *   types    := type {',' type}                  one per result, in order
 *   operands := operand {',' operand}            at least one
 *   operand  := VALUE | '(' opname operands [attrs] ')' | NUMBER
 *   attrs    := '{' IDENT '=' attrval {',' IDENT '=' attrval} '}'
 *   attrval  := 'true' | 'false' | NUMBER | '[' [NUMBER {',' NUMBER}] ']' | IDENT (dtype) | STRING
 *   constval := cnum | '[' [cnum {',' cnum}] ']'     cnum := NUMBER | 'true' | 'false'
 *   type     := IDENT(dtype) '[' [NUMBER {',' NUMBER}] ']'      f32[4, 4096], f32[] is a scalar
 *
 * Tokens: VALUE is '%' identifier, GLOBAL is '@' identifier, identifiers are
 * [A-Za-z_][A-Za-z0-9_.]*. NUMBER is -?digits[.digits][e[+-]digits] (also
 * .5, 1.) or -?inf / -?nan; it is an integer when it has no '.', exponent,
 * inf or nan. STRING is "..." with escapes \" \\ \n \t \r \xHH (no NUL).
 * Columns count bytes from 1 (a tab is one column).
 *
 * Semantics:
 * - `param` and `const` need their result type. Other ops infer theirs; when
 *   written they are checked (by qiao_ir_graph_add_op). The number of result
 *   names must equal the op's result count (`%v, %i = topk %x {k = 2}`).
 * - const: one value is a splat, otherwise exactly numel values, row-major.
 *   Integer dtypes take integer numbers only; float dtypes take any number;
 *   bool takes true/false or numbers (kept as written, as doubles).
 * - A nested op `(silu %g)` is an anonymous value (form NESTED); it must have
 *   one result and cannot be param or const; nesting depth is at most 64.
 * - A numeric operand (`mul %x, 0.5`) is a rank-0 const (form LITERAL) of the
 *   dtype of the other operand; only in two-operand ops, and not both. An
 *   integer dtype needs an integer literal.
 * - Program order: nested ops are added when their ')' is read (so, left to
 *   right, innermost first); a literal is added after all operands of its
 *   user have been read, immediately before the user.
 * - Attributes: checked against the op schema (ir/ops.c): unknown names (the
 *   message lists the valid ones), duplicates, kinds (bool/int/float/ints/
 *   dtype/enum; a float attribute takes an int) and missing required ones
 *   are errors. Enum values are strings ("tanh"), dtypes bare (to = bf16).
 * - The return values must match the signature's output types in number
 *   and type. Zero inputs and zero outputs are allowed by the syntax.
 * - Shapes: at most 8 dims. Types that introduce tensors (inputs, params,
 *   consts) have each dim in [0, 2^40] and at most 2^53 elements (zero dims
 *   counted as 1, so an empty tensor's strides fit as well); result and
 *   output types only need non-negative dims (they are checked against the
 *   inferred types, which may grow past that, e.g. through concat).
 *
 * Errors are QIAO_INVALID_ARGUMENT with "FILE:LINE:COL: message" pointing at
 * the offending token, mostly "expected X, got Y". Errors from the builder
 * and shape inference get the position of the op's name prepended; errors
 * from the final qiao_ir_graph_verify get the position of 'graph'.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lexer.h"
#include "qiao/ir.h"

#define MAX_NESTING 64
#define MAX_DIM ((int64_t)1 << 40)
#define MAX_NUMEL ((int64_t)1 << 53)

typedef struct {
  const char *name; /* arena string (the value's name) */
  size_t len;
  int32_t value;
  qiao_loc_t loc;
} name_entry_t;

typedef struct {
  qiao_lexer_t lx;
  qiao_token_t tok;
  const char *file;
  qiao_graph_t *g;
  qiao_status_t err;
  name_entry_t *names; /* open addressing, cap a power of two */
  size_t names_cap, names_len;
  int depth;
} parser_t;

/* ------------------------------------------------------------- helpers */

static void next(parser_t *p) { p->tok = qiao_lexer_next(&p->lx); }

static bool tok_is(const parser_t *p, qiao_tok_kind_t k) { return p->tok.kind == k; }

static bool tok_is_word(const parser_t *p, const char *w) {
  return p->tok.kind == QIAO_TOK_IDENT && p->tok.len == strlen(w) &&
         !memcmp(p->tok.text, w, p->tok.len);
}

static qiao_loc_t tok_loc(const qiao_token_t *t) {
  qiao_loc_t l = {t->line, t->col};
  return l;
}

/* "'text'" (truncated, escaped) or "end of file". */
static void tok_desc(const qiao_token_t *t, char *buf, size_t cap) {
  if (t->kind == QIAO_TOK_EOF) {
    snprintf(buf, cap, "end of file");
    return;
  }
  size_t o = 0;
  buf[o++] = '\'';
  for (size_t i = 0; i < t->len && o + 8 < cap; ++i) {
    unsigned char c = (unsigned char)t->text[i];
    if (i == 40) {
      o += (size_t)snprintf(buf + o, cap - o, "...");
      break;
    }
    if (c < 0x20 || c > 0x7e || c == '\'')
      o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    else
      buf[o++] = (char)c;
  }
  snprintf(buf + o, cap - o, "'");
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static bool
fail_at(parser_t *p, qiao_loc_t loc, const char *fmt, ...) {
  if (p->err) return false;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  p->err = qiao_status_make(QIAO_INVALID_ARGUMENT, "%s:%d:%d: %s", p->file, loc.line, loc.col, msg);
  return false;
}

/* "expected WHAT, got TOKEN" at the current token (or the lexer's error). */
static bool fail_expected(parser_t *p, const char *what) {
  char d[256];
  tok_desc(&p->tok, d, sizeof d);
  if (p->tok.kind == QIAO_TOK_ERROR) return fail_at(p, tok_loc(&p->tok), "%s %s", p->tok.error, d);
  return fail_at(p, tok_loc(&p->tok), "expected %s, got %s", what, d);
}

static bool expect(parser_t *p, qiao_tok_kind_t k, const char *what) {
  if (!tok_is(p, k)) return fail_expected(p, what);
  next(p);
  return true;
}

/* Prepends the position of `loc` to a builder/inference error. */
static bool fail_status(parser_t *p, qiao_loc_t loc, qiao_status_t st) {
  bool r = fail_at(p, loc, "%s", qiao_status_message(st));
  qiao_status_free(st);
  return r;
}

/* ------------------------------------------------------------- names */

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i)
    h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

static name_entry_t *names_find(parser_t *p, const char *s, size_t n) {
  if (!p->names_cap) return NULL;
  for (size_t i = hash_bytes(s, n) & (p->names_cap - 1);; i = (i + 1) & (p->names_cap - 1)) {
    name_entry_t *e = &p->names[i];
    if (!e->name) return NULL;
    if (e->len == n && !memcmp(e->name, s, n)) return e;
  }
}

static void names_insert_raw(name_entry_t *tab, size_t cap, name_entry_t e) {
  size_t i = hash_bytes(e.name, e.len) & (cap - 1);
  while (tab[i].name)
    i = (i + 1) & (cap - 1);
  tab[i] = e;
}

static bool names_add(parser_t *p, int32_t value, qiao_loc_t loc) {
  const char *nm = p->g->values[value].name;
  if (!nm) return true;
  if ((p->names_len + 1) * 2 > p->names_cap) {
    size_t cap = p->names_cap ? p->names_cap * 2 : 64;
    name_entry_t *tab = calloc(cap, sizeof *tab);
    if (!tab) {
      if (!p->err) p->err = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
      return false;
    }
    for (size_t i = 0; i < p->names_cap; ++i)
      if (p->names[i].name) names_insert_raw(tab, cap, p->names[i]);
    free(p->names);
    p->names = tab;
    p->names_cap = cap;
  }
  name_entry_t e = {nm, strlen(nm), value, loc};
  names_insert_raw(p->names, p->names_cap, e);
  p->names_len++;
  return true;
}

/* Fails when the VALUE token t names an existing value. */
static bool check_new_name(parser_t *p, const qiao_token_t *t) {
  name_entry_t *e = names_find(p, t->text + 1, t->len - 1);
  if (!e) return true;
  return fail_at(p, tok_loc(t), "value %.*s is already defined at %d:%d", (int)t->len, t->text,
                 e->loc.line, e->loc.col);
}

/* ------------------------------------------------------------- numbers */

static bool tok_int(parser_t *p, const qiao_token_t *t, int64_t *out) {
  char buf[64];
  if (t->kind != QIAO_TOK_NUMBER || t->is_float) return false;
  if (t->len >= sizeof buf) return fail_at(p, tok_loc(t), "integer out of range");
  memcpy(buf, t->text, t->len);
  buf[t->len] = 0;
  errno = 0;
  long long v = strtoll(buf, NULL, 10);
  if (errno == ERANGE) return fail_at(p, tok_loc(t), "integer out of range");
  *out = (int64_t)v;
  return true;
}

/* Any NUMBER as a double (integers included). */
static bool tok_double(parser_t *p, const qiao_token_t *t, double *out) {
  char buf[512];
  if (t->kind != QIAO_TOK_NUMBER) return false;
  if (t->len >= sizeof buf) return fail_at(p, tok_loc(t), "number too long");
  memcpy(buf, t->text, t->len);
  buf[t->len] = 0;
  *out = strtod(buf, NULL);
  return true;
}

/* Reads an integer at the current token; `what` names it in messages. */
static bool parse_int(parser_t *p, const char *what, int64_t *out) {
  if (!tok_is(p, QIAO_TOK_NUMBER) || p->tok.is_float) return fail_expected(p, what);
  if (!tok_int(p, &p->tok, out)) return false;
  next(p);
  return true;
}

/* ------------------------------------------------------------- types */

/* Reads a type. `limit` applies the size limits (for types that introduce
 * tensors: inputs, params, consts); result and output types only need to
 * be non-negative, as they are checked against the inferred ones. */
static bool parse_type(parser_t *p, qiao_type_t *out, bool limit) {
  memset(out, 0, sizeof *out);
  if (!tok_is(p, QIAO_TOK_IDENT)) return fail_expected(p, "a type");
  if (!qiao_dtype_from_name(p->tok.text, p->tok.len, &out->dtype)) {
    char d[128];
    tok_desc(&p->tok, d, sizeof d);
    return fail_at(p, tok_loc(&p->tok), "unknown dtype %s", d);
  }
  next(p);
  if (!expect(p, QIAO_TOK_LBRACKET, "'['")) return false;
  int64_t numel = 1;
  if (!tok_is(p, QIAO_TOK_RBRACKET)) {
    for (;;) {
      qiao_token_t dt = p->tok;
      int64_t d;
      if (!parse_int(p, "a dimension", &d)) return false;
      if (out->shape.rank == QIAO_MAX_RANK)
        return fail_at(p, tok_loc(&dt), "too many dimensions (at most %d)", QIAO_MAX_RANK);
      if (d < 0) return fail_at(p, tok_loc(&dt), "dimension must not be negative");
      if (limit) {
        if (d > MAX_DIM) return fail_at(p, tok_loc(&dt), "dimension too large (at most 2^40)");
        /* zero dims count as 1: strides of an empty tensor must fit too */
        if (d && numel > MAX_NUMEL / d)
          return fail_at(p, tok_loc(&dt), "tensor too large (at most 2^53 elements)");
        if (d) numel *= d;
      }
      out->shape.dims[out->shape.rank++] = d;
      if (tok_is(p, QIAO_TOK_COMMA)) {
        next(p);
        continue;
      }
      break;
    }
  }
  return expect(p, QIAO_TOK_RBRACKET, "',' or ']'");
}

/* ':' type {',' type}, exactly n of them. */
static bool parse_result_types(parser_t *p, int32_t n, const qiao_token_t *op_tok, bool limit,
                               qiao_type_t *out) {
  qiao_token_t first = p->tok;
  int32_t count = 0;
  for (;;) {
    qiao_type_t t;
    qiao_token_t at = p->tok;
    if (!parse_type(p, &t, limit)) return false;
    if (count == n) {
      char d[64];
      tok_desc(op_tok, d, sizeof d);
      return fail_at(p, tok_loc(&at), "too many result types: %s has %d result%s", d, n,
                     n == 1 ? "" : "s");
    }
    out[count++] = t;
    if (!tok_is(p, QIAO_TOK_COMMA)) break;
    next(p);
  }
  if (count != n) {
    char d[64];
    tok_desc(op_tok, d, sizeof d);
    return fail_at(p, tok_loc(&first), "%s has %d results, got %d result type%s", d, n, count,
                   count == 1 ? "" : "s");
  }
  return true;
}

/* ------------------------------------------------------------- attributes */

static void list_attr_names(const qiao_op_schema_t *s, char *buf, size_t cap) {
  size_t o = 0;
  buf[0] = 0;
  for (int i = 0; i < s->n_attrs && o < cap; ++i)
    o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", s->attrs[i].name);
}

static bool parse_attr_value(parser_t *p, qiao_op_kind_t kind, int idx, qiao_attrs_t *a) {
  const qiao_attr_schema_t *as = &qiao_op_schema(kind)->attrs[idx];
  char what[512];
  switch (as->kind) {
  case QIAO_ATTR_BOOL: {
    bool t = tok_is_word(p, "true");
    if (!t && !tok_is_word(p, "false")) {
      snprintf(what, sizeof what, "true or false for '%s'", as->name);
      return fail_expected(p, what);
    }
    qiao_attrs_set(a, kind, idx, t ? 1 : 0, 0, NULL, 0);
    next(p);
    return true;
  }
  case QIAO_ATTR_INT: {
    int64_t v = 0;
    snprintf(what, sizeof what, "an integer for '%s'", as->name);
    if (!parse_int(p, what, &v)) return false;
    qiao_attrs_set(a, kind, idx, v, 0, NULL, 0);
    return true;
  }
  case QIAO_ATTR_FLOAT: {
    double v = 0;
    if (!tok_is(p, QIAO_TOK_NUMBER)) {
      snprintf(what, sizeof what, "a number for '%s'", as->name);
      return fail_expected(p, what);
    }
    if (!tok_double(p, &p->tok, &v)) return false;
    qiao_attrs_set(a, kind, idx, 0, v, NULL, 0);
    next(p);
    return true;
  }
  case QIAO_ATTR_INTS: {
    int64_t vals[QIAO_MAX_RANK];
    int32_t n = 0;
    if (!tok_is(p, QIAO_TOK_LBRACKET)) {
      snprintf(what, sizeof what, "a list of integers for '%s'", as->name);
      return fail_expected(p, what);
    }
    next(p);
    if (!tok_is(p, QIAO_TOK_RBRACKET)) {
      for (;;) {
        qiao_token_t at = p->tok;
        int64_t v;
        if (!parse_int(p, "an integer", &v)) return false;
        if (n == QIAO_MAX_RANK)
          return fail_at(p, tok_loc(&at), "too many values in '%s' (at most %d)", as->name,
                         QIAO_MAX_RANK);
        vals[n++] = v;
        if (!tok_is(p, QIAO_TOK_COMMA)) break;
        next(p);
      }
    }
    if (!expect(p, QIAO_TOK_RBRACKET, "',' or ']'")) return false;
    qiao_attrs_set(a, kind, idx, 0, 0, vals, n);
    return true;
  }
  case QIAO_ATTR_DTYPE: {
    qiao_dtype_t dt;
    if (!tok_is(p, QIAO_TOK_IDENT)) {
      snprintf(what, sizeof what, "a dtype for '%s'", as->name);
      return fail_expected(p, what);
    }
    if (!qiao_dtype_from_name(p->tok.text, p->tok.len, &dt)) {
      char d[128];
      tok_desc(&p->tok, d, sizeof d);
      return fail_at(p, tok_loc(&p->tok), "unknown dtype %s", d);
    }
    qiao_attrs_set(a, kind, idx, (int64_t)dt, 0, NULL, 0);
    next(p);
    return true;
  }
  case QIAO_ATTR_ENUM: {
    char allowed[160];
    size_t o = 0;
    allowed[0] = 0;
    for (int i = 0; as->enum_names && as->enum_names[i] && o < sizeof allowed; ++i)
      o += (size_t)snprintf(allowed + o, sizeof allowed - o, "%s\"%s\"", i ? " or " : "",
                            as->enum_names[i]);
    if (!tok_is(p, QIAO_TOK_STRING)) {
      snprintf(what, sizeof what, "%s for '%s'", allowed, as->name);
      return fail_expected(p, what);
    }
    for (int i = 0; as->enum_names && as->enum_names[i]; ++i) {
      const char *nm = as->enum_names[i];
      size_t n = strlen(nm);
      if (p->tok.len == n + 2 && !memcmp(p->tok.text + 1, nm, n)) {
        qiao_attrs_set(a, kind, idx, i, 0, NULL, 0);
        next(p);
        return true;
      }
    }
    char d[128];
    tok_desc(&p->tok, d, sizeof d);
    return fail_at(p, tok_loc(&p->tok), "invalid value %s for '%s' (expected %s)", d, as->name,
                   allowed);
  }
  }
  return fail_expected(p, "an attribute value");
}

/* Parses an optional '{...}' block into a (defaults already set) and
 * checks that required attributes are given. */
static bool parse_attrs(parser_t *p, qiao_op_kind_t kind, const qiao_token_t *op_tok,
                        qiao_attrs_t *a) {
  const qiao_op_schema_t *s = qiao_op_schema(kind);
  bool seen[QIAO_MAX_ATTRS] = {false};
  if (tok_is(p, QIAO_TOK_LBRACE)) {
    next(p);
    for (;;) {
      if (!tok_is(p, QIAO_TOK_IDENT)) return fail_expected(p, "an attribute name");
      qiao_token_t name = p->tok;
      int idx = -1;
      for (int i = 0; i < s->n_attrs; ++i)
        if (strlen(s->attrs[i].name) == name.len && !memcmp(s->attrs[i].name, name.text, name.len))
          idx = i;
      if (idx < 0) {
        char d[128], valid[256];
        tok_desc(&name, d, sizeof d);
        if (s->n_attrs == 0)
          return fail_at(p, tok_loc(&name), "unknown attribute %s: %s takes no attributes", d,
                         s->name);
        list_attr_names(s, valid, sizeof valid);
        return fail_at(p, tok_loc(&name), "unknown attribute %s for %s (valid: %s)", d, s->name,
                       valid);
      }
      if (seen[idx])
        return fail_at(p, tok_loc(&name), "duplicate attribute '%s'", s->attrs[idx].name);
      seen[idx] = true;
      next(p);
      if (!expect(p, QIAO_TOK_EQUAL, "'='")) return false;
      if (!parse_attr_value(p, kind, idx, a)) return false;
      if (tok_is(p, QIAO_TOK_COMMA)) {
        next(p);
        continue;
      }
      if (!expect(p, QIAO_TOK_RBRACE, "',' or '}'")) return false;
      break;
    }
  }
  for (int i = 0; i < s->n_attrs; ++i)
    if (s->attrs[i].required && !seen[i])
      return fail_at(p, tok_loc(op_tok), "%s needs attribute '%s'", s->name, s->attrs[i].name);
  return true;
}

/* ------------------------------------------------------------- ops */

typedef struct {
  int32_t value;    /* -1 for a literal */
  qiao_token_t tok; /* the operand's first token */
} operand_t;

typedef struct {
  operand_t *v;
  int32_t n, cap;
} operands_t;

static bool operands_push(parser_t *p, operands_t *o, operand_t x) {
  if (o->n == o->cap) {
    int32_t cap = o->cap ? o->cap * 2 : 4;
    operand_t *v = realloc(o->v, sizeof *v * (size_t)cap);
    if (!v) {
      if (!p->err) p->err = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
      return false;
    }
    o->v = v;
    o->cap = cap;
  }
  o->v[o->n++] = x;
  return true;
}

static bool parse_op_call(parser_t *p, const qiao_token_t *const *name_toks, int32_t n_names,
                          qiao_op_form_t form, int32_t *out_value);

static bool parse_operand(parser_t *p, operands_t *ops) {
  operand_t x = {-1, p->tok};
  if (tok_is(p, QIAO_TOK_VALUE)) {
    name_entry_t *e = names_find(p, p->tok.text + 1, p->tok.len - 1);
    if (!e)
      return fail_at(p, tok_loc(&p->tok), "use of undefined value %.*s", (int)p->tok.len,
                     p->tok.text);
    x.value = e->value;
    next(p);
  } else if (tok_is(p, QIAO_TOK_LPAREN)) {
    if (p->depth >= MAX_NESTING)
      return fail_at(p, tok_loc(&p->tok), "ops nested too deeply (at most %d levels)", MAX_NESTING);
    next(p);
    p->depth++;
    bool ok = parse_op_call(p, NULL, 0, QIAO_FORM_NESTED, &x.value);
    p->depth--;
    if (!ok) return false;
    if (!expect(p, QIAO_TOK_RPAREN, "')'")) return false;
  } else if (tok_is(p, QIAO_TOK_NUMBER)) {
    next(p);
  } else {
    return fail_expected(p, "an operand (%value, (op ...) or a number)");
  }
  return operands_push(p, ops, x);
}

/* Adds the const for the numeric literal operand ops->v[li]. */
static bool add_literal(parser_t *p, operands_t *ops, int32_t li) {
  const qiao_token_t *t = &ops->v[li].tok;
  if (ops->n != 2)
    return fail_at(p, tok_loc(t), "a numeric literal operand needs an op with two operands");
  const operand_t *other = &ops->v[1 - li];
  if (other->value < 0)
    return fail_at(p, tok_loc(t), "both operands are numeric literals: one must be a value");
  qiao_type_t type;
  memset(&type, 0, sizeof type);
  type.dtype = p->g->values[other->value].type.dtype;
  qiao_attrs_t a;
  memset(&a, 0, sizeof a);
  a.n_values = 1;
  int64_t iv = 0;
  double fv = 0;
  if (qiao_dtype_is_int(type.dtype)) {
    if (t->is_float) {
      char d[128];
      tok_desc(t, d, sizeof d);
      return fail_at(p, tok_loc(t), "expected an integer literal for an %s operand, got %s",
                     qiao_dtype_name(type.dtype), d);
    }
    if (!tok_int(p, t, &iv)) return false;
    a.const_i = &iv;
  } else {
    if (!tok_double(p, t, &fv)) return false;
    a.const_f = &fv;
  }
  int32_t op;
  qiao_status_t st =
      qiao_ir_graph_add_op(p->g, QIAO_OP_CONST, NULL, 0, &a, &type, NULL, tok_loc(t), &op);
  if (st) return fail_status(p, tok_loc(t), st);
  p->g->ops[op].form = QIAO_FORM_LITERAL;
  ops->v[li].value = p->g->ops[op].results[0];
  return true;
}

/* const values after 'const': tokens kept until the type is known. */
static bool parse_const_tokens(parser_t *p, operands_t *vals) {
  bool list = tok_is(p, QIAO_TOK_LBRACKET);
  if (list) {
    next(p);
    if (tok_is(p, QIAO_TOK_RBRACKET)) {
      next(p);
      return true;
    }
  }
  for (;;) {
    if (!tok_is(p, QIAO_TOK_NUMBER) && !tok_is_word(p, "true") && !tok_is_word(p, "false"))
      return fail_expected(p, list ? "a number" : "a number or '['");
    operand_t x = {-1, p->tok};
    if (!operands_push(p, vals, x)) return false;
    next(p);
    if (!list) return true;
    if (!tok_is(p, QIAO_TOK_COMMA)) break;
    next(p);
  }
  return expect(p, QIAO_TOK_RBRACKET, "',' or ']'");
}

/* Fills a const's values from the tokens for `type`; arrays are malloc'ed. */
static bool const_values(parser_t *p, const operands_t *vals, const qiao_token_t *type_tok,
                         const qiao_type_t *type, qiao_attrs_t *a) {
  int64_t numel = qiao_shape_numel(&type->shape);
  if (vals->n != 1 && vals->n != numel) {
    char tb[128];
    qiao_type_str(type, tb, sizeof tb);
    return fail_at(p, tok_loc(type_tok),
                   "const has %d value%s but %s has %" PRId64 " element%s (give 1 or %" PRId64 ")",
                   vals->n, vals->n == 1 ? "" : "s", tb, numel, numel == 1 ? "" : "s", numel);
  }
  a->n_values = vals->n;
  size_t n = (size_t)(vals->n ? vals->n : 1);
  bool is_int = qiao_dtype_is_int(type->dtype);
  /* In the graph's arena (the builder copies them; an empty const keeps the
   * pointer itself, so it must live as long as the graph). */
  if (is_int)
    a->const_i = qiao_ir_graph_alloc(p->g, n * sizeof(int64_t));
  else
    a->const_f = qiao_ir_graph_alloc(p->g, n * sizeof(double));
  for (int32_t i = 0; i < vals->n; ++i) {
    const qiao_token_t *t = &vals->v[i].tok;
    bool word = t->kind == QIAO_TOK_IDENT; /* true / false */
    char d[128];
    tok_desc(t, d, sizeof d);
    if (is_int) {
      if (word || t->is_float)
        return fail_at(p, tok_loc(t), "expected an integer for an %s const, got %s",
                       qiao_dtype_name(type->dtype), d);
      if (!tok_int(p, t, &a->const_i[i])) return false;
    } else if (word) {
      if (type->dtype != QIAO_BOOL)
        return fail_at(p, tok_loc(t), "expected a number for an %s const, got %s",
                       qiao_dtype_name(type->dtype), d);
      a->const_f[i] = t->text[0] == 't' ? 1.0 : 0.0;
    } else if (!tok_double(p, t, &a->const_f[i])) {
      return false;
    }
  }
  return true;
}

/* Parses from the op name on. name_toks are the result names of a statement
 * (n_names of them; none for a nested op). Writes the first result's value. */
static bool parse_op_call(parser_t *p, const qiao_token_t *const *name_toks, int32_t n_names,
                          qiao_op_form_t form, int32_t *out_value) {
  if (!tok_is(p, QIAO_TOK_IDENT)) return fail_expected(p, "an op name");
  qiao_token_t op_tok = p->tok;
  qiao_op_kind_t kind;
  if (!qiao_op_kind_from_name(op_tok.text, op_tok.len, &kind)) {
    char d[128];
    tok_desc(&op_tok, d, sizeof d);
    return fail_at(p, tok_loc(&op_tok), "unknown op %s", d);
  }
  const qiao_op_schema_t *s = qiao_op_schema(kind);
  if (form == QIAO_FORM_NESTED) {
    if (kind == QIAO_OP_PARAM || kind == QIAO_OP_CONST)
      return fail_at(p, tok_loc(&op_tok), "%s cannot be nested: give it a name", s->name);
    if (s->n_results != 1)
      return fail_at(p, tok_loc(&op_tok), "%s has %d results and cannot be nested", s->name,
                     s->n_results);
  } else if (n_names != s->n_results) {
    return fail_at(p, tok_loc(name_toks[0]), "%s has %d result%s, got %d name%s", s->name,
                   s->n_results, s->n_results == 1 ? "" : "s", n_names, n_names == 1 ? "" : "s");
  }
  next(p);

  qiao_attrs_t a;
  memset(&a, 0, sizeof a);
  qiao_attrs_init_defaults(&a, kind);
  operands_t ops = {0};
  qiao_type_t types[2];
  bool have_types = false;
  bool ok = false;
  char *param_name = NULL;

  if (kind == QIAO_OP_PARAM) {
    if (!tok_is(p, QIAO_TOK_STRING)) {
      fail_expected(p, "a parameter name string");
      goto out;
    }
    param_name = malloc(p->tok.len);
    if (!param_name) {
      p->err = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
      goto out;
    }
    if (qiao_lex_decode_string(&p->tok, param_name, p->tok.len) < 0) {
      fail_at(p, tok_loc(&p->tok), "a parameter name cannot contain a NUL byte");
      goto out;
    }
    a.param_name = param_name;
    next(p);
  } else if (kind == QIAO_OP_CONST) {
    if (!parse_const_tokens(p, &ops)) goto out;
  } else {
    for (;;) {
      if (!parse_operand(p, &ops)) goto out;
      if (!tok_is(p, QIAO_TOK_COMMA)) break;
      next(p);
    }
    if (!parse_attrs(p, kind, &op_tok, &a)) goto out;
  }

  qiao_token_t type_tok = p->tok;
  if (form == QIAO_FORM_STATEMENT) {
    if (tok_is(p, QIAO_TOK_COLON)) {
      next(p);
      type_tok = p->tok;
      bool leaf = kind == QIAO_OP_PARAM || kind == QIAO_OP_CONST;
      if (!parse_result_types(p, s->n_results, &op_tok, leaf, types)) goto out;
      have_types = true;
    } else if (kind == QIAO_OP_PARAM || kind == QIAO_OP_CONST) {
      fail_expected(p, kind == QIAO_OP_PARAM ? "':' and the param's type"
                                             : "':' and the const's type");
      goto out;
    }
  }

  if (kind == QIAO_OP_CONST) {
    if (!const_values(p, &ops, &type_tok, &types[0], &a)) goto out;
    ops.n = 0;
  }
  /* the numeric literal, if any, is added right before its user */
  for (int32_t i = 0; i < ops.n; ++i)
    if (ops.v[i].value < 0 && !add_literal(p, &ops, i)) goto out;

  {
    int32_t *ids = NULL;
    if (ops.n) {
      ids = malloc(sizeof(int32_t) * (size_t)(uint32_t)ops.n);
      if (!ids) {
        p->err = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
      }
      for (int32_t i = 0; i < ops.n; ++i)
        ids[i] = ops.v[i].value;
    }
    const char *names[2] = {NULL, NULL};
    for (int32_t i = 0; i < n_names && i < 2; ++i)
      names[i] = qiao_ir_graph_strdup(p->g, name_toks[i]->text + 1, name_toks[i]->len - 1);
    int32_t op;
    qiao_status_t st = qiao_ir_graph_add_op(p->g, kind, ids, ops.n, &a, have_types ? types : NULL,
                                            n_names ? names : NULL, tok_loc(&op_tok), &op);
    free(ids);
    if (st) {
      fail_status(p, tok_loc(&op_tok), st);
      goto out;
    }
    qiao_op_t *o = &p->g->ops[op];
    o->form = form;
    for (int32_t i = 0; i < n_names && i < o->n_results; ++i)
      if (!names_add(p, o->results[i], tok_loc(name_toks[i]))) goto out;
    *out_value = o->results[0];
    ok = true;
  }

out:
  free(ops.v);
  free(param_name);
  return ok;
}

static bool parse_stmt(parser_t *p) {
  qiao_token_t toks[2];
  const qiao_token_t *ptrs[2] = {&toks[0], &toks[1]};
  int32_t n = 0;
  for (;;) {
    if (!tok_is(p, QIAO_TOK_VALUE)) return fail_expected(p, "a value name");
    if (n == 2) return fail_at(p, tok_loc(&p->tok), "too many result names (at most 2)");
    if (!check_new_name(p, &p->tok)) return false;
    for (int32_t i = 0; i < n; ++i)
      if (toks[i].len == p->tok.len && !memcmp(toks[i].text, p->tok.text, p->tok.len))
        return fail_at(p, tok_loc(&p->tok), "value %.*s is named twice", (int)p->tok.len,
                       p->tok.text);
    toks[n++] = p->tok;
    next(p);
    if (!tok_is(p, QIAO_TOK_COMMA)) break;
    next(p);
  }
  if (!expect(p, QIAO_TOK_EQUAL, "'='")) return false;
  int32_t v;
  return parse_op_call(p, ptrs, n, QIAO_FORM_STATEMENT, &v);
}

/* ------------------------------------------------------------- graph */

static bool parse_graph(parser_t *p) {
  if (!tok_is_word(p, "graph")) return fail_expected(p, "'graph'");
  qiao_loc_t gloc = tok_loc(&p->tok);
  next(p);
  if (!tok_is(p, QIAO_TOK_GLOBAL)) return fail_expected(p, "a graph name (@name)");
  char *gname = malloc(p->tok.len);
  if (!gname) {
    p->err = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    return false;
  }
  memcpy(gname, p->tok.text + 1, p->tok.len - 1);
  gname[p->tok.len - 1] = 0;
  qiao_status_t st = qiao_ir_graph_create(gname, &p->g);
  free(gname);
  if (st) {
    p->err = st;
    return false;
  }
  p->g->loc = gloc;
  next(p);

  if (!expect(p, QIAO_TOK_LPAREN, "'('")) return false;
  if (!tok_is(p, QIAO_TOK_RPAREN)) {
    for (;;) {
      if (!tok_is(p, QIAO_TOK_VALUE)) return fail_expected(p, "an input (%name: type)");
      qiao_token_t nt = p->tok;
      if (!check_new_name(p, &nt)) return false;
      next(p);
      if (!expect(p, QIAO_TOK_COLON, "':'")) return false;
      qiao_type_t t;
      if (!parse_type(p, &t, true)) return false;
      const char *nm = qiao_ir_graph_strdup(p->g, nt.text + 1, nt.len - 1);
      int32_t v;
      st = qiao_ir_graph_add_input(p->g, nm, t, &v);
      if (st) return fail_status(p, tok_loc(&nt), st);
      if (!names_add(p, v, tok_loc(&nt))) return false;
      if (!tok_is(p, QIAO_TOK_COMMA)) break;
      next(p);
    }
  }
  if (!expect(p, QIAO_TOK_RPAREN, "',' or ')'")) return false;
  if (!expect(p, QIAO_TOK_ARROW, "'->'")) return false;
  if (!expect(p, QIAO_TOK_LPAREN, "'('")) return false;

  qiao_type_t *out_types = NULL;
  int32_t n_out = 0, cap_out = 0;
  int32_t *outs = NULL;
  qiao_token_t *out_toks = NULL;
  int32_t n_ret = 0, cap_ret = 0;
  bool ok = false;
  if (!tok_is(p, QIAO_TOK_RPAREN)) {
    for (;;) {
      if (n_out == cap_out) {
        cap_out = cap_out ? cap_out * 2 : 4;
        qiao_type_t *nt = realloc(out_types, sizeof *nt * (size_t)cap_out);
        if (!nt) goto oom;
        out_types = nt;
      }
      if (!parse_type(p, &out_types[n_out], false)) goto out;
      n_out++;
      if (!tok_is(p, QIAO_TOK_COMMA)) break;
      next(p);
    }
  }
  if (!expect(p, QIAO_TOK_RPAREN, "',' or ')'")) goto out;
  if (!expect(p, QIAO_TOK_LBRACE, "'{'")) goto out;
  while (!tok_is_word(p, "return")) {
    if (!tok_is(p, QIAO_TOK_VALUE)) {
      fail_expected(p, "a statement or 'return'");
      goto out;
    }
    if (!parse_stmt(p)) goto out;
  }
  qiao_token_t ret_tok = p->tok;
  next(p);
  if (!tok_is(p, QIAO_TOK_RBRACE)) {
    for (;;) {
      if (!tok_is(p, QIAO_TOK_VALUE)) {
        fail_expected(p, "a value to return");
        goto out;
      }
      name_entry_t *e = names_find(p, p->tok.text + 1, p->tok.len - 1);
      if (!e) {
        fail_at(p, tok_loc(&p->tok), "use of undefined value %.*s", (int)p->tok.len, p->tok.text);
        goto out;
      }
      if (n_ret == cap_ret) {
        cap_ret = cap_ret ? cap_ret * 2 : 4;
        int32_t *no = realloc(outs, sizeof *no * (size_t)cap_ret);
        if (!no) goto oom;
        outs = no;
        qiao_token_t *ntk = realloc(out_toks, sizeof *ntk * (size_t)cap_ret);
        if (!ntk) goto oom;
        out_toks = ntk;
      }
      outs[n_ret] = e->value;
      out_toks[n_ret++] = p->tok;
      next(p);
      if (!tok_is(p, QIAO_TOK_COMMA)) break;
      next(p);
    }
  }
  if (!expect(p, QIAO_TOK_RBRACE, "',' or '}'")) goto out;
  if (!tok_is(p, QIAO_TOK_EOF)) {
    fail_expected(p, "end of file");
    goto out;
  }
  if (n_ret != n_out) {
    fail_at(p, tok_loc(&ret_tok), "return gives %d value%s but the signature declares %d", n_ret,
            n_ret == 1 ? "" : "s", n_out);
    goto out;
  }
  for (int32_t i = 0; i < n_ret; ++i) {
    const qiao_type_t *vt = &p->g->values[outs[i]].type;
    if (!qiao_type_equal(vt, &out_types[i])) {
      char a[128], b[128];
      qiao_type_str(vt, a, sizeof a);
      qiao_type_str(&out_types[i], b, sizeof b);
      fail_at(p, tok_loc(&out_toks[i]), "%.*s has type %s but the signature declares %s",
              (int)out_toks[i].len, out_toks[i].text, a, b);
      goto out;
    }
  }
  st = qiao_ir_graph_set_outputs(p->g, outs, n_ret);
  if (st) {
    fail_status(p, tok_loc(&ret_tok), st);
    goto out;
  }
  ok = true;
  goto out;
oom:
  if (!p->err) p->err = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
out:
  free(out_types);
  free(outs);
  free(out_toks);
  return ok;
}

qiao_status_t qiao_ir_parse(const char *text, size_t len, const char *filename,
                            qiao_graph_t **out_graph) {
  if (!out_graph)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "qiao_ir_parse: out_graph is NULL");
  *out_graph = NULL;
  parser_t p;
  memset(&p, 0, sizeof p);
  p.file = filename ? filename : "<input>";
  qiao_lexer_init(&p.lx, text ? text : "", text ? len : 0);
  next(&p);
  bool ok = parse_graph(&p);
  free(p.names);
  if (ok) {
    qiao_status_t st = qiao_ir_graph_verify(p.g);
    if (st) {
      /* The verifier already names "line:col" when it knows the op's
       * position: prefix only the file then. */
      int line, col, used = 0;
      if (sscanf(qiao_status_message(st), "%d:%d: %n", &line, &col, &used) == 2 && used > 0) {
        p.err = qiao_status_make(qiao_status_code(st), "%s:%d:%d: %s", p.file, line, col,
                                 qiao_status_message(st) + used);
        qiao_status_free(st);
      } else {
        fail_status(&p, p.g->loc, st);
      }
      ok = false;
    }
  }
  if (!ok) {
    qiao_ir_graph_destroy(p.g);
    if (!p.err) p.err = qiao_status_make(QIAO_INTERNAL, "%s: parse failed", p.file);
    return p.err;
  }
  *out_graph = p.g;
  return NULL;
}

qiao_status_t qiao_ir_parse_file(const char *path, qiao_graph_t **out_graph) {
  if (!out_graph)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "qiao_ir_parse_file: out_graph is NULL");
  *out_graph = NULL;
  if (!path) return qiao_status_make(QIAO_INVALID_ARGUMENT, "qiao_ir_parse_file: path is NULL");
  FILE *f = fopen(path, "rb");
  if (!f)
    return qiao_status_make(errno == ENOENT ? QIAO_NOT_FOUND : QIAO_IO_ERROR, "%s: cannot open: %s",
                            path, strerror(errno));
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  if (!buf) {
    fclose(f);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s: out of memory", path);
  }
  for (;;) {
    if (len == cap) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        fclose(f);
        return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s: out of memory", path);
      }
      buf = nb;
      cap *= 2;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (n == 0) break;
  }
  int rerr = ferror(f) ? errno : 0;
  fclose(f);
  if (rerr) {
    free(buf);
    return qiao_status_make(QIAO_IO_ERROR, "%s: cannot read: %s", path, strerror(rerr));
  }
  qiao_status_t st = qiao_ir_parse(buf, len, path, out_graph);
  free(buf);
  return st;
}
