/* Parser for PTX text into a qiao_ptx_module_t.
 *
 * One pass over the tokens with two tokens of lookahead. Registers and body-local
 * variables are resolved while parsing (they are declared before use, with nested
 * scopes); labels at the end of their function; module variables and functions at
 * the end of the module (forward references allowed). Errors are
 * "NAME:LINE:COL: message", the first one wins, nothing is returned with it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptx_internal.h"

qiao_ptx_module_t *ptx_module_new(ptx_arena_t **out_arena);

#define MAX_DEPTH 64

typedef struct bind {
  int32_t reg, reg_depth;     /* regdecl index + 1 */
  int32_t local, local_depth; /* (sym_kind << 24 | index) + 1 */
  int32_t label;              /* label index + 1 (current function) */
  int32_t global;             /* (sym_kind << 24 | index) + 1 */
} bind_t;

typedef struct undo {
  uint32_t id;
  uint8_t local; /* else reg */
  int32_t old, old_depth;
} undo_t;

typedef struct fixup {
  uint32_t op; /* index in operands */
  uint32_t id; /* interned name */
  int32_t line, col;
} fixup_t;

typedef struct pending {
  uint32_t local; /* index in the operand temp list */
  uint32_t id;
  int32_t line, col;
} pending_t;

typedef struct parser {
  ptx_lexer_t lx;
  ptx_token_t tok, nxt;
  const char *name;
  qiao_status_t err;
  ptx_arena_t *arena;
  ptx_interner_t in;
  qiao_ptx_module_t *m;
  bind_t *binds;
  uint32_t nbinds;
  /* module */
  PTX_VEC(qiao_ptx_var_t) vars;
  PTX_VEC(qiao_ptx_func_t) funcs;
  PTX_VEC(qiao_ptx_file_t) files;
  PTX_VEC(qiao_ptx_section_t) sections;
  PTX_VEC(const char *) mpragmas;
  PTX_VEC(qiao_ptx_item_t) mitems;
  PTX_VEC(qiao_ptx_operand_t) ops;
  PTX_VEC(const char *) mods;
  PTX_VEC(qiao_ptx_init_t) inits;
  PTX_VEC(fixup_t) gfix; /* unresolved at function end: globals */
  /* function */
  PTX_VEC(qiao_ptx_instr_t) instrs;
  PTX_VEC(qiao_ptx_regdecl_t) regdecls;
  PTX_VEC(qiao_ptx_var_t) locals;
  PTX_VEC(qiao_ptx_var_t) params;
  PTX_VEC(qiao_ptx_var_t) rets;
  PTX_VEC(qiao_ptx_label_t) labels;
  PTX_VEC(const char *) pragmas;
  PTX_VEC(qiao_ptx_item_t) items;
  PTX_VEC(fixup_t) ffix; /* unresolved in the function: labels or globals */
  PTX_VEC(undo_t) undo;
  PTX_VEC(uint32_t) label_ids;
  PTX_VEC(qiao_ptx_operand_t) tops;
  PTX_VEC(qiao_ptx_operand_t) elems;
  PTX_VEC(pending_t) pend;
  uint32_t nregs;
  int32_t depth;
  uint32_t scope_marks[MAX_DEPTH + 2];
  uint32_t loc_file, loc_line, loc_col;
} parser_t;

/* ------------------------------------------------------------------ errors */

static bool fail_at(parser_t *p, int32_t line, int32_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool fail_at(parser_t *p, int32_t line, int32_t col, const char *fmt, ...) {
  if (p->err) return false;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  p->err = qiao_status_make(QIAO_INVALID_ARGUMENT, "%s:%d:%d: %s", p->name, line, col, msg);
  return false;
}

static void describe(const ptx_token_t *t, char *buf, size_t cap) {
  if (t->kind == PTX_TOK_EOF) {
    snprintf(buf, cap, "end of file");
    return;
  }
  char tmp[48];
  size_t n = 0;
  for (uint32_t i = 0; i < t->len && n + 5 < sizeof tmp; ++i) {
    unsigned char c = (unsigned char)t->text[i];
    if (c >= 32 && c < 127 && c != '\'')
      tmp[n++] = (char)c;
    else
      n += (size_t)snprintf(tmp + n, sizeof tmp - n, "\\x%02x", c);
  }
  tmp[n] = 0;
  snprintf(buf, cap, "'%s%s'", tmp, n + 5 >= sizeof tmp ? "..." : "");
}

static bool fail_tok(parser_t *p, const ptx_token_t *t, const char *what) {
  if (t->kind == PTX_TOK_ERROR) {
    if (t->len == 0) return fail_at(p, t->line, t->col, "%s", t->error);
    char d[64];
    describe(t, d, sizeof d);
    return fail_at(p, t->line, t->col, "%s %s", t->error, d);
  }
  char d[64];
  describe(t, d, sizeof d);
  return fail_at(p, t->line, t->col, "expected %s, got %s", what, d);
}
static bool fail_expected(parser_t *p, const char *what) { return fail_tok(p, &p->tok, what); }

#define TRY(x)                                                                                     \
  do {                                                                                             \
    if (!(x)) return false;                                                                        \
  } while (0)

/* ------------------------------------------------------------------ tokens */

static void advance(parser_t *p) {
  p->tok = p->nxt;
  p->nxt = ptx_lexer_next(&p->lx);
}

static bool tok_eq(const ptx_token_t *t, const char *s) {
  size_t n = strlen(s);
  return t->len == n && memcmp(t->text, s, n) == 0;
}
static bool is_punct(const ptx_token_t *t, char c) {
  return t->kind == PTX_TOK_PUNCT && t->text[0] == c;
}
static bool accept(parser_t *p, char c) {
  if (is_punct(&p->tok, c)) {
    advance(p);
    return true;
  }
  return false;
}
static bool expect(parser_t *p, char c) {
  if (accept(p, c)) return true;
  char what[8] = {'\'', c, '\'', 0};
  return fail_expected(p, what);
}
static bool is_word(const ptx_token_t *t, const char *s) {
  return t->kind == PTX_TOK_WORD && tok_eq(t, s);
}

static const char *intern_tok(parser_t *p, const ptx_token_t *t, uint32_t *out_id) {
  uint32_t id = ptx_intern(&p->in, t->text, t->len);
  if (out_id) *out_id = id;
  return p->in.strs[id];
}

static bind_t *bind_of(parser_t *p, uint32_t id) {
  if (id >= p->nbinds) {
    uint32_t n = p->nbinds ? p->nbinds : 256;
    while (n <= id)
      n *= 2;
    bind_t *b = (bind_t *)realloc(p->binds, n * sizeof *b);
    if (!b) abort();
    memset(b + p->nbinds, 0, (n - p->nbinds) * sizeof *b);
    p->binds = b;
    p->nbinds = n;
  }
  return &p->binds[id];
}
static bind_t *bind_find(parser_t *p, const char *s, size_t n) {
  int64_t id = ptx_intern_find(&p->in, s, n);
  if (id < 0 || (uint32_t)id >= p->nbinds) return NULL;
  return &p->binds[id];
}

/* ------------------------------------------------------------------ numbers */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Parses a NUMBER token: kind = IMM_INT / IMM_F32 / IMM_F64. */
static bool parse_number(parser_t *p, const ptx_token_t *t, bool neg, uint8_t *kind,
                         uint64_t *bits) {
  const char *s = t->text;
  uint32_t n = t->len;
  uint64_t v = 0;
  if (n >= 2 && s[0] == '0' && (s[1] == 'f' || s[1] == 'F' || s[1] == 'd' || s[1] == 'D')) {
    uint32_t want = (s[1] == 'f' || s[1] == 'F') ? 8 : 16;
    if (n != 2 + want) goto bad;
    for (uint32_t i = 2; i < n; ++i) {
      int h = hexval(s[i]);
      if (h < 0) goto bad;
      v = v << 4 | (uint64_t)h;
    }
    if (want == 8) {
      *kind = QIAO_PTX_OPND_IMM_F32;
      if (neg) v ^= 0x80000000u;
    } else {
      *kind = QIAO_PTX_OPND_IMM_F64;
      if (neg) v ^= 0x8000000000000000ull;
    }
    *bits = v;
    return true;
  }
  bool is_float = false;
  for (uint32_t i = 0; i < n; ++i)
    if (s[i] == '.' || ((s[i] == 'e' || s[i] == 'E') && !(n > 1 && (s[1] == 'x' || s[1] == 'X'))))
      is_float = true;
  if (is_float) {
    char buf[80];
    if (n >= sizeof buf) goto bad;
    for (uint32_t i = 0; i < n; ++i) {
      char c = s[i];
      if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'))
        goto bad;
      buf[i] = c;
    }
    buf[n] = 0;
    char *end = NULL;
    double d = strtod(buf, &end);
    if (end != buf + n) goto bad;
    if (neg) d = -d;
    memcpy(&v, &d, sizeof v);
    *kind = QIAO_PTX_OPND_IMM_F64;
    *bits = v;
    return true;
  }
  uint32_t i = 0, end = n;
  if (end > 1 && (s[end - 1] == 'U' || s[end - 1] == 'u')) end--;
  unsigned base = 10;
  if (end > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    i = 2;
  } else if (end > 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
    base = 2;
    i = 2;
  } else if (end > 1 && s[0] == '0') {
    base = 8;
    i = 1;
  }
  if (i >= end) goto bad;
  for (; i < end; ++i) {
    int h = hexval(s[i]);
    if (h < 0 || (unsigned)h >= base) goto bad;
    if (v > (UINT64_MAX - (uint64_t)h) / base)
      return fail_at(p, t->line, t->col, "integer out of range");
    v = v * base + (uint64_t)h;
  }
  *kind = QIAO_PTX_OPND_IMM_INT;
  *bits = neg ? (uint64_t)0 - v : v;
  return true;
bad : {
  char d[64];
  describe(t, d, sizeof d);
  return fail_at(p, t->line, t->col, "invalid number %s", d);
}
}

static bool parse_uint(parser_t *p, const char *what, uint64_t max, uint64_t *out) {
  if (p->tok.kind != PTX_TOK_NUMBER) return fail_expected(p, what);
  uint8_t kind;
  uint64_t v;
  TRY(parse_number(p, &p->tok, false, &kind, &v));
  if (kind != QIAO_PTX_OPND_IMM_INT) return fail_expected(p, what);
  if (v > max)
    return fail_at(p, p->tok.line, p->tok.col, "%s out of range (at most %llu)", what,
                   (unsigned long long)max);
  *out = v;
  advance(p);
  return true;
}

static bool parse_string(parser_t *p, const char *what, const char **out) {
  if (p->tok.kind != PTX_TOK_STRING) return fail_expected(p, what);
  uint32_t id = ptx_intern(&p->in, p->tok.text + 1, p->tok.len - 2);
  *out = p->in.strs[id];
  advance(p);
  return true;
}

/* ------------------------------------------------------------------ scopes */

static void scope_set_reg(parser_t *p, uint32_t id, int32_t v) {
  bind_t *b = bind_of(p, id);
  undo_t u = {id, 0, b->reg, b->reg_depth};
  PTX_PUSH(p->undo, u);
  b->reg = v;
  b->reg_depth = p->depth;
}
static void scope_set_local(parser_t *p, uint32_t id, int32_t v) {
  bind_t *b = bind_of(p, id);
  undo_t u = {id, 1, b->local, b->local_depth};
  PTX_PUSH(p->undo, u);
  b->local = v;
  b->local_depth = p->depth;
}
static void scope_pop(parser_t *p, uint32_t mark) {
  while (p->undo.n > mark) {
    undo_t u = p->undo.v[--p->undo.n];
    bind_t *b = &p->binds[u.id];
    if (u.local) {
      b->local = u.old;
      b->local_depth = u.old_depth;
    } else {
      b->reg = u.old;
      b->reg_depth = u.old_depth;
    }
  }
}

/* ------------------------------------------------------------------ declarations */

/* A word that starts with '.' and names the directive s (".reg"). */
static bool is_dir(const ptx_token_t *t, const char *s) { return is_word(t, s); }

static int linkage_of(const ptx_token_t *t) {
  if (t->kind != PTX_TOK_WORD) return 0;
  if (tok_eq(t, ".visible")) return QIAO_PTX_LINK_VISIBLE;
  if (tok_eq(t, ".extern")) return QIAO_PTX_LINK_EXTERN;
  if (tok_eq(t, ".weak")) return QIAO_PTX_LINK_WEAK;
  if (tok_eq(t, ".common")) return QIAO_PTX_LINK_COMMON;
  return 0;
}

static int space_of(const ptx_token_t *t) {
  if (t->kind != PTX_TOK_WORD || t->len < 2 || t->text[0] != '.') return -1;
  return ptx_space_from(t->text + 1, t->len - 1);
}
static int type_of(const ptx_token_t *t) {
  if (t->kind != PTX_TOK_WORD || t->len < 2 || t->text[0] != '.') return -1;
  return ptx_type_from(t->text + 1, t->len - 1);
}
static int vec_of(const ptx_token_t *t) {
  if (is_word(t, ".v2")) return 2;
  if (is_word(t, ".v4")) return 4;
  if (is_word(t, ".v8")) return 8;
  return 0;
}

static bool is_ident_name(const ptx_token_t *t) {
  if (t->kind != PTX_TOK_WORD || t->text[0] == '.' || t->text[0] == '%') return false;
  for (uint32_t i = 0; i < t->len; ++i)
    if (t->text[i] == '.' || t->text[i] == ':') return false;
  return true;
}

static bool parse_align(parser_t *p, uint32_t *out) {
  advance(p); /* .align */
  uint64_t v;
  int32_t line = p->tok.line, col = p->tok.col;
  TRY(parse_uint(p, "an alignment", 1u << 20, &v));
  if (v == 0 || (v & (v - 1))) return fail_at(p, line, col, "alignment must be a power of two");
  *out = (uint32_t)v;
  return true;
}

/* One initializer value (number, name, name+N, generic(name)+N). */
static bool parse_init_value(parser_t *p) {
  qiao_ptx_init_t iv = {0};
  bool neg = false;
  if (accept(p, '-')) neg = true;
  if (p->tok.kind == PTX_TOK_NUMBER) {
    uint8_t kind;
    uint64_t bits;
    TRY(parse_number(p, &p->tok, neg, &kind, &bits));
    iv.kind = kind == QIAO_PTX_OPND_IMM_INT   ? QIAO_PTX_INIT_INT
              : kind == QIAO_PTX_OPND_IMM_F32 ? QIAO_PTX_INIT_F32
                                              : QIAO_PTX_INIT_F64;
    iv.v.u = bits;
    advance(p);
  } else if (!neg && is_word(&p->tok, "generic") && is_punct(&p->nxt, '(')) {
    advance(p);
    advance(p);
    if (!is_ident_name(&p->tok)) return fail_expected(p, "a variable name");
    iv.kind = QIAO_PTX_INIT_GENERIC;
    iv.name = intern_tok(p, &p->tok, NULL);
    advance(p);
    TRY(expect(p, ')'));
  } else if (!neg && is_ident_name(&p->tok)) {
    iv.kind = QIAO_PTX_INIT_SYM;
    iv.name = intern_tok(p, &p->tok, NULL);
    advance(p);
  } else {
    return fail_expected(p, "an initializer value");
  }
  if (iv.name && is_punct(&p->tok, '+')) {
    advance(p);
    uint64_t off;
    TRY(parse_uint(p, "an offset", INT64_MAX, &off));
    iv.v.i = (int64_t)off;
  }
  PTX_PUSH(p->inits, iv);
  return true;
}

static bool parse_init_list(parser_t *p, int depth) {
  if (depth > 8) return fail_at(p, p->tok.line, p->tok.col, "initializer nested too deeply");
  TRY(expect(p, '{'));
  if (accept(p, '}')) return true;
  for (;;) {
    if (is_punct(&p->tok, '{'))
      TRY(parse_init_list(p, depth + 1));
    else
      TRY(parse_init_value(p));
    if (accept(p, '}')) return true;
    TRY(expect(p, ','));
  }
}

/* Variable / parameter declaration after the state space (and linkage):
 *   [.align N] [.vN] .type [.ptr [.space] [.align N]] name [<N>] [dims] [= init]
 * For .reg, declares registers instead (possibly several, comma separated). */
typedef enum { DECL_MODULE, DECL_LOCAL, DECL_PARAM, DECL_RET } decl_ctx_t;

static bool parse_var_attrs(parser_t *p, qiao_ptx_var_t *v, bool allow_ptr) {
  for (;;) {
    if (is_dir(&p->tok, ".align")) {
      TRY(parse_align(p, &v->align));
    } else if (vec_of(&p->tok)) {
      v->vec = (uint8_t)vec_of(&p->tok);
      advance(p);
    } else if (type_of(&p->tok) > 0 && !v->type) {
      v->type = (uint8_t)type_of(&p->tok);
      advance(p);
    } else if (allow_ptr && is_dir(&p->tok, ".ptr") && v->type) {
      v->is_ptr = 1;
      advance(p);
      int sp = space_of(&p->tok);
      if (sp > 0) {
        v->ptr_space = (uint8_t)sp;
        advance(p);
      }
      if (is_dir(&p->tok, ".align")) TRY(parse_align(p, &v->ptr_align));
    } else {
      break;
    }
  }
  if (!v->type) return fail_expected(p, "a type (.b32, .u64, .f32, ...)");
  return true;
}

static bool parse_dims(parser_t *p, qiao_ptx_var_t *v) {
  while (is_punct(&p->tok, '[')) {
    if (v->ndims == QIAO_PTX_MAX_DIMS)
      return fail_at(p, p->tok.line, p->tok.col, "too many array dimensions (at most %d)",
                     QIAO_PTX_MAX_DIMS);
    advance(p);
    uint64_t d = 0;
    if (!is_punct(&p->tok, ']')) TRY(parse_uint(p, "an array size", (uint64_t)1 << 40, &d));
    TRY(expect(p, ']'));
    v->dims[v->ndims++] = d;
  }
  return true;
}

static bool declare_global(parser_t *p, uint32_t id, int32_t line, int32_t col, int kind,
                           uint32_t index, bool is_decl) {
  bind_t *b = bind_of(p, id);
  if (b->global) {
    int okind = (b->global - 1) >> 24;
    uint32_t oidx = (uint32_t)((b->global - 1) & 0xffffff);
    /* a function may be declared before it is defined */
    if (okind == QIAO_PTX_SYM_FUNC && kind == QIAO_PTX_SYM_FUNC &&
        (!p->funcs.v[oidx].has_body || is_decl)) {
      if (!is_decl) b->global = (kind << 24 | (int32_t)index) + 1;
      return true;
    }
    if (okind == QIAO_PTX_SYM_VAR && kind == QIAO_PTX_SYM_VAR &&
        (p->vars.v[oidx].linkage == QIAO_PTX_LINK_EXTERN || is_decl)) {
      if (!is_decl) b->global = (kind << 24 | (int32_t)index) + 1;
      return true;
    }
    return fail_at(p, line, col, "'%s' is already declared", p->in.strs[id]);
  }
  if (index >= 0xffffff) return fail_at(p, line, col, "too many declarations");
  b->global = (kind << 24 | (int32_t)index) + 1;
  return true;
}

static bool declare_local(parser_t *p, uint32_t id, int32_t line, int32_t col, int kind,
                          uint32_t index) {
  bind_t *b = bind_of(p, id);
  if (b->local && b->local_depth == p->depth)
    return fail_at(p, line, col, "'%s' is already declared in this scope", p->in.strs[id]);
  if (index >= 0xffffff) return fail_at(p, line, col, "too many declarations");
  scope_set_local(p, id, (kind << 24 | (int32_t)index) + 1);
  return true;
}

/* After the space directive: one or more variables. */
static bool parse_var_decl(parser_t *p, int space, int linkage, decl_ctx_t ctx, int32_t line) {
  qiao_ptx_var_t proto = {0};
  proto.space = (uint8_t)space;
  proto.linkage = (uint8_t)linkage;
  proto.src_line = line;
  TRY(parse_var_attrs(p, &proto, ctx == DECL_PARAM || ctx == DECL_RET));
  for (;;) {
    qiao_ptx_var_t v = proto;
    if (!is_ident_name(&p->tok)) return fail_expected(p, "a variable name");
    ptx_token_t nt = p->tok;
    uint32_t id;
    v.name = intern_tok(p, &p->tok, &id);
    advance(p);
    TRY(parse_dims(p, &v));
    if (accept(p, '=')) {
      if (ctx == DECL_PARAM || ctx == DECL_RET)
        return fail_at(p, nt.line, nt.col, "a parameter cannot have an initializer");
      uint32_t first = p->inits.n;
      if (is_punct(&p->tok, '{')) {
        TRY(parse_init_list(p, 0));
        v.has_init = 2;
      } else {
        TRY(parse_init_value(p));
        v.has_init = 1;
      }
      v.ninit = p->inits.n - first;
      v.init = (const qiao_ptx_init_t *)(uintptr_t)first; /* fixed at the end */
    }
    switch (ctx) {
    case DECL_MODULE:
      TRY(declare_global(p, id, nt.line, nt.col, QIAO_PTX_SYM_VAR, p->vars.n,
                         linkage == QIAO_PTX_LINK_EXTERN));
      {
        qiao_ptx_item_t it = {QIAO_PTX_MITEM_VAR, p->vars.n};
        PTX_PUSH(p->mitems, it);
      }
      PTX_PUSH(p->vars, v);
      break;
    case DECL_LOCAL: {
      TRY(declare_local(p, id, nt.line, nt.col, QIAO_PTX_SYM_LOCAL, p->locals.n));
      qiao_ptx_item_t it = {QIAO_PTX_ITEM_LOCAL, p->locals.n};
      PTX_PUSH(p->items, it);
      PTX_PUSH(p->locals, v);
      break;
    }
    case DECL_PARAM:
      TRY(declare_local(p, id, nt.line, nt.col, QIAO_PTX_SYM_PARAM, p->params.n));
      PTX_PUSH(p->params, v);
      return true; /* one per declaration */
    case DECL_RET:
      TRY(declare_local(p, id, nt.line, nt.col, QIAO_PTX_SYM_RET, p->rets.n));
      PTX_PUSH(p->rets, v);
      return true;
    }
    if (!accept(p, ',')) break;
  }
  return expect(p, ';');
}

static bool is_reg_name(const ptx_token_t *t) {
  if (t->kind != PTX_TOK_WORD || t->len < 2) return false;
  if (t->text[0] == '.') return false;
  for (uint32_t i = 0; i < t->len; ++i)
    if (t->text[i] == '.' || t->text[i] == ':') return false;
  return true;
}

static bool parse_reg_decl(parser_t *p) {
  advance(p); /* .reg */
  qiao_ptx_regdecl_t proto = {0};
  if (vec_of(&p->tok)) {
    proto.vec = (uint8_t)vec_of(&p->tok);
    advance(p);
  }
  int t = type_of(&p->tok);
  if (t <= 0) return fail_expected(p, "a register type (.b32, .pred, ...)");
  proto.type = (uint8_t)t;
  advance(p);
  for (;;) {
    if (!is_reg_name(&p->tok)) return fail_expected(p, "a register name");
    ptx_token_t nt = p->tok;
    qiao_ptx_regdecl_t d = proto;
    uint32_t id;
    d.name = intern_tok(p, &p->tok, &id);
    d.count = 1;
    advance(p);
    if (accept(p, '<')) {
      uint64_t n;
      TRY(parse_uint(p, "a register count", 1u << 24, &n));
      TRY(expect(p, '>'));
      d.count = (uint32_t)n;
      d.is_range = 1;
    }
    if (p->nregs + (uint64_t)d.count > (1u << 26))
      return fail_at(p, nt.line, nt.col, "too many registers in one function");
    bind_t *b = bind_of(p, id);
    if (b->reg && b->reg_depth == p->depth)
      return fail_at(p, nt.line, nt.col, "register %s is already declared", d.name);
    d.base = p->nregs;
    p->nregs += d.count;
    scope_set_reg(p, id, (int32_t)p->regdecls.n + 1);
    qiao_ptx_item_t it = {QIAO_PTX_ITEM_REG, p->regdecls.n};
    PTX_PUSH(p->items, it);
    PTX_PUSH(p->regdecls, d);
    if (!accept(p, ',')) break;
  }
  return expect(p, ';');
}

/* ------------------------------------------------------------------ operands */

static const struct {
  const char *name;
  uint16_t sreg;
} k_sregs[] = {
#define X(e, s) {s, QIAO_PTX_SREG_##e},
    QIAO_PTX_SREGS(X)
#undef X
};

/* Resolves a register word (%r1, %tid.x, %v.y) into op. */
static bool resolve_reg(parser_t *p, const ptx_token_t *t, qiao_ptx_operand_t *op) {
  uint32_t n = t->len, base_len = n;
  uint8_t comp = 0;
  for (uint32_t i = 0; i < n; ++i)
    if (t->text[i] == '.') {
      base_len = i;
      break;
    }
  if (base_len < n) {
    if (n - base_len != 2) goto undeclared;
    char c = t->text[base_len + 1];
    comp = c == 'x' ? 1 : c == 'y' ? 2 : c == 'z' ? 3 : c == 'w' ? 4 : 0;
    if (!comp) goto undeclared;
  }
  op->comp = comp;
  const char *s = t->text;
  bind_t *b = bind_find(p, s, base_len);
  if (b && b->reg) {
    const qiao_ptx_regdecl_t *d = &p->regdecls.v[b->reg - 1];
    if (!d->is_range) {
      op->kind = QIAO_PTX_OPND_REG;
      op->reg = (int32_t)d->base;
      return true;
    }
  }
  /* %r57 in a range %r<100> */
  uint32_t k = base_len;
  while (k > 0 && s[k - 1] >= '0' && s[k - 1] <= '9')
    --k;
  if (k < base_len && k > 0 && (base_len - k == 1 || s[k] != '0') && base_len - k <= 9) {
    uint32_t idx = 0;
    for (uint32_t i = k; i < base_len; ++i)
      idx = idx * 10 + (uint32_t)(s[i] - '0');
    bind_t *pb = bind_find(p, s, k);
    if (pb && pb->reg) {
      const qiao_ptx_regdecl_t *d = &p->regdecls.v[pb->reg - 1];
      if (d->is_range && idx < d->count) {
        op->kind = QIAO_PTX_OPND_REG;
        op->reg = (int32_t)(d->base + idx);
        return true;
      }
    }
  }
  for (size_t i = 0; i < sizeof k_sregs / sizeof *k_sregs; ++i)
    if (strlen(k_sregs[i].name) == base_len && memcmp(k_sregs[i].name, s, base_len) == 0) {
      op->kind = QIAO_PTX_OPND_SREG;
      op->sreg = k_sregs[i].sreg;
      return true;
    }
  if (base_len > 7 && memcmp(s, "%envreg", 7) == 0 && base_len <= 9 && !comp) {
    uint32_t idx = 0;
    bool ok = true;
    for (uint32_t i = 7; i < base_len; ++i) {
      if (s[i] < '0' || s[i] > '9') ok = false;
      idx = idx * 10 + (uint32_t)(s[i] - '0');
    }
    if (ok && idx < 32 && (base_len == 8 || s[7] != '0')) {
      op->kind = QIAO_PTX_OPND_SREG;
      op->sreg = QIAO_PTX_SREG_ENVREG;
      op->imm.i = idx;
      return true;
    }
  }
undeclared : {
  char d[64];
  describe(t, d, sizeof d);
  return fail_at(p, t->line, t->col, "undeclared register %s", d);
}
}

/* True when an identifier without '%' names a declared register (exactly, or
 * inside a range: done, v3 of v<4>). */
static bool is_declared_reg(parser_t *p, const ptx_token_t *t) {
  if (t->kind != PTX_TOK_WORD || t->text[0] == '.' || t->text[0] == '%') return false;
  uint32_t n = t->len;
  for (uint32_t i = 0; i < n; ++i)
    if (t->text[i] == '.') n = i;
  bind_t *b = bind_find(p, t->text, n);
  if (b && b->reg) return true;
  uint32_t k = n;
  while (k > 0 && t->text[k - 1] >= '0' && t->text[k - 1] <= '9')
    --k;
  if (k == n || k == 0) return false;
  b = bind_find(p, t->text, k);
  return b && b->reg && p->regdecls.v[b->reg - 1].is_range;
}

/* Symbol reference: resolved now when it names a body-local variable or a
 * parameter; otherwise left for the end of the function (labels) or module. */
static bool symbol_ref(parser_t *p, const ptx_token_t *t, qiao_ptx_operand_t *op, bool *pending,
                       uint32_t *out_id) {
  uint32_t id;
  op->name = intern_tok(p, t, &id);
  *out_id = id;
  bind_t *b = bind_of(p, id);
  if (b->local) {
    op->sym_kind = (uint8_t)((b->local - 1) >> 24);
    op->sym = (b->local - 1) & 0xffffff;
    *pending = false;
  } else {
    op->sym = -1;
    *pending = true;
  }
  return true;
}

typedef enum { OPND_TOP, OPND_ELEM } opnd_ctx_t;

static bool parse_operand(parser_t *p, qiao_ptx_operand_t *op, opnd_ctx_t ctx, bool *pending,
                          uint32_t *pid, int32_t *pline, int32_t *pcol);

/* Appends elements of a {..} / (..) list to the operand pool. */
static bool parse_group(parser_t *p, char close, qiao_ptx_operand_t *op) {
  uint32_t mark = p->elems.n;
  uint32_t pmark = p->pend.n;
  advance(p);
  if (!is_punct(&p->tok, close)) {
    for (;;) {
      qiao_ptx_operand_t e = {0};
      bool pending = false;
      uint32_t id = 0;
      int32_t line = p->tok.line, col = p->tok.col;
      TRY(parse_operand(p, &e, OPND_ELEM, &pending, &id, &line, &col));
      if (pending) {
        pending_t pd = {p->elems.n, id, line, col};
        PTX_PUSH(p->pend, pd);
      }
      PTX_PUSH(p->elems, e);
      if (p->elems.n - mark > 4096) return fail_at(p, p->tok.line, p->tok.col, "too many elements");
      if (is_punct(&p->tok, close)) break;
      TRY(expect(p, ','));
    }
  }
  advance(p);
  uint32_t count = p->elems.n - mark;
  op->first = p->ops.n;
  op->count = (uint16_t)count;
  for (uint32_t i = pmark; i < p->pend.n; ++i) {
    fixup_t f = {p->ops.n + (p->pend.v[i].local - mark), p->pend.v[i].id, p->pend.v[i].line,
                 p->pend.v[i].col};
    PTX_PUSH(p->ffix, f);
  }
  p->pend.n = pmark;
  for (uint32_t i = mark; i < p->elems.n; ++i)
    PTX_PUSH(p->ops, p->elems.v[i]);
  p->elems.n = mark;
  return true;
}

static bool parse_operand(parser_t *p, qiao_ptx_operand_t *op, opnd_ctx_t ctx, bool *pending,
                          uint32_t *pid, int32_t *pline, int32_t *pcol) {
  op->reg = -1;
  op->sym = -1;
  *pline = p->tok.line;
  *pcol = p->tok.col;
  if (is_punct(&p->tok, '!')) {
    advance(p);
    if (p->tok.kind != PTX_TOK_WORD || (p->tok.text[0] != '%' && !is_declared_reg(p, &p->tok)))
      return fail_expected(p, "a predicate register after '!'");
    TRY(resolve_reg(p, &p->tok, op));
    op->neg = 1;
    advance(p);
    return true;
  }
  if (is_punct(&p->tok, '-') || p->tok.kind == PTX_TOK_NUMBER) {
    bool neg = accept(p, '-');
    if (p->tok.kind != PTX_TOK_NUMBER) return fail_expected(p, "a number");
    uint8_t kind;
    uint64_t bits;
    TRY(parse_number(p, &p->tok, neg, &kind, &bits));
    op->kind = kind;
    op->imm.u = bits;
    advance(p);
    return true;
  }
  if (is_punct(&p->tok, '{') || is_punct(&p->tok, '(')) {
    if (ctx == OPND_ELEM) return fail_expected(p, "an operand (groups do not nest)");
    bool brace = is_punct(&p->tok, '{');
    op->kind = brace ? QIAO_PTX_OPND_VEC : QIAO_PTX_OPND_LIST;
    return parse_group(p, brace ? '}' : ')', op);
  }
  if (is_punct(&p->tok, '[')) {
    advance(p);
    op->kind = QIAO_PTX_OPND_ADDR;
    *pline = p->tok.line;
    *pcol = p->tok.col;
    if (p->tok.kind == PTX_TOK_WORD && (p->tok.text[0] == '%' || is_declared_reg(p, &p->tok))) {
      qiao_ptx_operand_t r = {0};
      TRY(resolve_reg(p, &p->tok, &r));
      if (r.kind != QIAO_PTX_OPND_REG || r.comp)
        return fail_at(p, p->tok.line, p->tok.col,
                       "an address base must be a register or a variable");
      op->reg = r.reg;
      advance(p);
    } else if (is_ident_name(&p->tok)) {
      TRY(symbol_ref(p, &p->tok, op, pending, pid));
      advance(p);
    } else if (p->tok.kind == PTX_TOK_NUMBER) {
      uint8_t kind;
      uint64_t bits;
      TRY(parse_number(p, &p->tok, false, &kind, &bits));
      if (kind != QIAO_PTX_OPND_IMM_INT) return fail_expected(p, "an integer address");
      op->imm.u = bits;
      advance(p);
      return expect(p, ']');
    } else {
      return fail_expected(p, "an address (register, variable or integer)");
    }
    if (accept(p, '+')) {
      bool neg = accept(p, '-');
      if (p->tok.kind != PTX_TOK_NUMBER) return fail_expected(p, "an offset");
      uint8_t kind;
      uint64_t bits;
      TRY(parse_number(p, &p->tok, neg, &kind, &bits));
      if (kind != QIAO_PTX_OPND_IMM_INT) return fail_expected(p, "an integer offset");
      op->imm.u = bits;
      advance(p);
    } else if (accept(p, '-')) {
      if (p->tok.kind != PTX_TOK_NUMBER) return fail_expected(p, "an offset");
      uint8_t kind;
      uint64_t bits;
      TRY(parse_number(p, &p->tok, true, &kind, &bits));
      if (kind != QIAO_PTX_OPND_IMM_INT) return fail_expected(p, "an integer offset");
      op->imm.u = bits;
      advance(p);
    }
    return expect(p, ']');
  }
  if (p->tok.kind == PTX_TOK_WORD && (p->tok.text[0] == '%' || is_declared_reg(p, &p->tok))) {
    TRY(resolve_reg(p, &p->tok, op));
    advance(p);
    if (ctx == OPND_TOP && is_punct(&p->tok, '|')) {
      advance(p);
      if (p->tok.kind != PTX_TOK_WORD || (p->tok.text[0] != '%' && !is_declared_reg(p, &p->tok)))
        return fail_expected(p, "a register after '|'");
      qiao_ptx_operand_t second = {0};
      second.sym = -1;
      TRY(resolve_reg(p, &p->tok, &second));
      advance(p);
      qiao_ptx_operand_t first = *op;
      memset(op, 0, sizeof *op);
      op->kind = QIAO_PTX_OPND_PAIR;
      op->reg = -1;
      op->sym = -1;
      op->first = p->ops.n;
      op->count = 2;
      PTX_PUSH(p->ops, first);
      PTX_PUSH(p->ops, second);
    }
    return true;
  }
  if (is_word(&p->tok, "_")) {
    op->kind = QIAO_PTX_OPND_SINK;
    advance(p);
    return true;
  }
  if (is_ident_name(&p->tok) && is_declared_reg(p, &p->tok)) {
    TRY(resolve_reg(p, &p->tok, op));
    advance(p);
    return true;
  }
  if (is_ident_name(&p->tok)) {
    op->kind = QIAO_PTX_OPND_SYM;
    TRY(symbol_ref(p, &p->tok, op, pending, pid));
    advance(p);
    if (accept(p, '+')) {
      uint64_t off;
      TRY(parse_uint(p, "an offset", INT64_MAX, &off));
      op->imm.i = (int64_t)off;
    }
    return true;
  }
  return fail_expected(p, "an operand");
}

/* ------------------------------------------------------------------ instructions */

static const struct {
  const char *name;
  uint16_t len, op;
} k_opcodes[] = {
#define X(e, s) {s, sizeof(s) - 1, QIAO_PTX_OP_##e},
    QIAO_PTX_OPCODES(X)
#undef X
};

/* Longest opcode name that is a dot-prefix of the word. */
static uint16_t match_opcode(const char *s, uint32_t n, uint32_t *out_len) {
  uint16_t best = QIAO_PTX_OP_OTHER;
  uint32_t best_len = 0;
  for (size_t i = 0; i < sizeof k_opcodes / sizeof *k_opcodes; ++i) {
    const char *name = k_opcodes[i].name;
    if (name[0] != s[0]) continue;
    size_t l = k_opcodes[i].len;
    if (l > n || l <= best_len || memcmp(name, s, l) != 0) continue;
    if (l < n && s[l] != '.') continue;
    best = k_opcodes[i].op;
    best_len = (uint32_t)l;
  }
  if (!best_len) {
    best_len = n;
    for (uint32_t i = 0; i < n; ++i)
      if (s[i] == '.') {
        best_len = i;
        break;
      }
  }
  *out_len = best_len;
  return best;
}

typedef struct {
  const char *name;
  uint8_t len, field, value;
} modent_t;

enum {
  MF_RND = 1,
  MF_CMP,
  MF_OPM,
  MF_SCOPE,
  MF_SEM,
  MF_CACHE,
  MF_PART,
  MF_LAYOUT,
  MF_NUM,
  MF_VEC,
  MF_FLAG
};

static const modent_t k_mods[] = {
    {"rn", sizeof("rn") - 1, MF_RND, QIAO_PTX_RND_RN},
    {"rz", sizeof("rz") - 1, MF_RND, QIAO_PTX_RND_RZ},
    {"rm", sizeof("rm") - 1, MF_RND, QIAO_PTX_RND_RM},
    {"rp", sizeof("rp") - 1, MF_RND, QIAO_PTX_RND_RP},
    {"rna", sizeof("rna") - 1, MF_RND, QIAO_PTX_RND_RNA},
    {"rs", sizeof("rs") - 1, MF_RND, QIAO_PTX_RND_RS},
    {"rni", sizeof("rni") - 1, MF_RND, QIAO_PTX_RND_RNI},
    {"rzi", sizeof("rzi") - 1, MF_RND, QIAO_PTX_RND_RZI},
    {"rmi", sizeof("rmi") - 1, MF_RND, QIAO_PTX_RND_RMI},
    {"rpi", sizeof("rpi") - 1, MF_RND, QIAO_PTX_RND_RPI},
    {"eq", sizeof("eq") - 1, MF_CMP, QIAO_PTX_CMP_EQ},
    {"ne", sizeof("ne") - 1, MF_CMP, QIAO_PTX_CMP_NE},
    {"lt", sizeof("lt") - 1, MF_CMP, QIAO_PTX_CMP_LT},
    {"le", sizeof("le") - 1, MF_CMP, QIAO_PTX_CMP_LE},
    {"gt", sizeof("gt") - 1, MF_CMP, QIAO_PTX_CMP_GT},
    {"ge", sizeof("ge") - 1, MF_CMP, QIAO_PTX_CMP_GE},
    {"ls", sizeof("ls") - 1, MF_CMP, QIAO_PTX_CMP_LS},
    {"hs", sizeof("hs") - 1, MF_CMP, QIAO_PTX_CMP_HS},
    {"equ", sizeof("equ") - 1, MF_CMP, QIAO_PTX_CMP_EQU},
    {"neu", sizeof("neu") - 1, MF_CMP, QIAO_PTX_CMP_NEU},
    {"ltu", sizeof("ltu") - 1, MF_CMP, QIAO_PTX_CMP_LTU},
    {"leu", sizeof("leu") - 1, MF_CMP, QIAO_PTX_CMP_LEU},
    {"gtu", sizeof("gtu") - 1, MF_CMP, QIAO_PTX_CMP_GTU},
    {"geu", sizeof("geu") - 1, MF_CMP, QIAO_PTX_CMP_GEU},
    {"num", sizeof("num") - 1, MF_CMP, QIAO_PTX_CMP_NUM},
    {"nan", sizeof("nan") - 1, MF_CMP, QIAO_PTX_CMP_NAN},
    {"and", sizeof("and") - 1, MF_OPM, QIAO_PTX_OPM_AND},
    {"or", sizeof("or") - 1, MF_OPM, QIAO_PTX_OPM_OR},
    {"xor", sizeof("xor") - 1, MF_OPM, QIAO_PTX_OPM_XOR},
    {"add", sizeof("add") - 1, MF_OPM, QIAO_PTX_OPM_ADD},
    {"min", sizeof("min") - 1, MF_OPM, QIAO_PTX_OPM_MIN},
    {"max", sizeof("max") - 1, MF_OPM, QIAO_PTX_OPM_MAX},
    {"inc", sizeof("inc") - 1, MF_OPM, QIAO_PTX_OPM_INC},
    {"dec", sizeof("dec") - 1, MF_OPM, QIAO_PTX_OPM_DEC},
    {"cas", sizeof("cas") - 1, MF_OPM, QIAO_PTX_OPM_CAS},
    {"exch", sizeof("exch") - 1, MF_OPM, QIAO_PTX_OPM_EXCH},
    {"up", sizeof("up") - 1, MF_OPM, QIAO_PTX_OPM_UP},
    {"down", sizeof("down") - 1, MF_OPM, QIAO_PTX_OPM_DOWN},
    {"bfly", sizeof("bfly") - 1, MF_OPM, QIAO_PTX_OPM_BFLY},
    {"idx", sizeof("idx") - 1, MF_OPM, QIAO_PTX_OPM_IDX},
    {"all", sizeof("all") - 1, MF_OPM, QIAO_PTX_OPM_ALL},
    {"any", sizeof("any") - 1, MF_OPM, QIAO_PTX_OPM_ANY},
    {"ballot", sizeof("ballot") - 1, MF_OPM, QIAO_PTX_OPM_BALLOT},
    {"popc", sizeof("popc") - 1, MF_OPM, QIAO_PTX_OPM_POPC},
    {"cta", sizeof("cta") - 1, MF_SCOPE, QIAO_PTX_SCOPE_CTA},
    {"cluster", sizeof("cluster") - 1, MF_SCOPE, QIAO_PTX_SCOPE_CLUSTER},
    {"gpu", sizeof("gpu") - 1, MF_SCOPE, QIAO_PTX_SCOPE_GPU},
    {"sys", sizeof("sys") - 1, MF_SCOPE, QIAO_PTX_SCOPE_SYS},
    {"weak", sizeof("weak") - 1, MF_SEM, QIAO_PTX_SEM_WEAK},
    {"relaxed", sizeof("relaxed") - 1, MF_SEM, QIAO_PTX_SEM_RELAXED},
    {"acquire", sizeof("acquire") - 1, MF_SEM, QIAO_PTX_SEM_ACQUIRE},
    {"release", sizeof("release") - 1, MF_SEM, QIAO_PTX_SEM_RELEASE},
    {"acq_rel", sizeof("acq_rel") - 1, MF_SEM, QIAO_PTX_SEM_ACQ_REL},
    {"sc", sizeof("sc") - 1, MF_SEM, QIAO_PTX_SEM_SC},
    {"volatile", sizeof("volatile") - 1, MF_SEM, QIAO_PTX_SEM_VOLATILE},
    {"mmio", sizeof("mmio") - 1, MF_SEM, QIAO_PTX_SEM_MMIO},
    {"ca", sizeof("ca") - 1, MF_CACHE, QIAO_PTX_CACHE_CA},
    {"cg", sizeof("cg") - 1, MF_CACHE, QIAO_PTX_CACHE_CG},
    {"cs", sizeof("cs") - 1, MF_CACHE, QIAO_PTX_CACHE_CS},
    {"lu", sizeof("lu") - 1, MF_CACHE, QIAO_PTX_CACHE_LU},
    {"cv", sizeof("cv") - 1, MF_CACHE, QIAO_PTX_CACHE_CV},
    {"wb", sizeof("wb") - 1, MF_CACHE, QIAO_PTX_CACHE_WB},
    {"wt", sizeof("wt") - 1, MF_CACHE, QIAO_PTX_CACHE_WT},
    {"wide", sizeof("wide") - 1, MF_PART, QIAO_PTX_PART_WIDE},
    {"row", sizeof("row") - 1, MF_LAYOUT, QIAO_PTX_LAYOUT_ROW},
    {"col", sizeof("col") - 1, MF_LAYOUT, QIAO_PTX_LAYOUT_COL},
    {"x1", sizeof("x1") - 1, MF_NUM, 1},
    {"x2", sizeof("x2") - 1, MF_NUM, 2},
    {"x4", sizeof("x4") - 1, MF_NUM, 4},
    {"v2", sizeof("v2") - 1, MF_VEC, 2},
    {"v4", sizeof("v4") - 1, MF_VEC, 4},
    {"v8", sizeof("v8") - 1, MF_VEC, 8},
    {"ftz", sizeof("ftz") - 1, MF_FLAG, 0},
    {"sat", sizeof("sat") - 1, MF_FLAG, 1},
    {"approx", sizeof("approx") - 1, MF_FLAG, 2},
    {"full", sizeof("full") - 1, MF_FLAG, 3},
    {"sync", sizeof("sync") - 1, MF_FLAG, 4},
    {"aligned", sizeof("aligned") - 1, MF_FLAG, 5},
    {"trans", sizeof("trans") - 1, MF_FLAG, 7},
    {"nc", sizeof("nc") - 1, MF_FLAG, 8},
    {"cc", sizeof("cc") - 1, MF_FLAG, 9},
    {"shiftamt", sizeof("shiftamt") - 1, MF_FLAG, 10},
    {"relu", sizeof("relu") - 1, MF_FLAG, 11},
    {"NaN", sizeof("NaN") - 1, MF_FLAG, 12},
    {"arrive", sizeof("arrive") - 1, MF_FLAG, 13},
    {"red", sizeof("red") - 1, MF_FLAG, 14},
    {"noinc", sizeof("noinc") - 1, MF_FLAG, 15},
    {"clamp", sizeof("clamp") - 1, MF_FLAG, 16},
    {"wrap", sizeof("wrap") - 1, MF_FLAG, 17},
    {"l", sizeof("l") - 1, MF_FLAG, 18},
    {"r", sizeof("r") - 1, MF_FLAG, 19},
};

static bool digits(const char *s, uint32_t n, uint32_t *i, uint32_t *out) {
  uint32_t v = 0, k = *i;
  while (k < n && s[k] >= '0' && s[k] <= '9' && v < 100000)
    v = v * 10 + (uint32_t)(s[k++] - '0');
  if (k == *i) return false;
  *i = k;
  *out = v;
  return true;
}

static void decode_mod(qiao_ptx_instr_t *in, const char *s, uint32_t n) {
  int t = ptx_type_from(s, n);
  if (t > 0) {
    if (in->ntypes < 4) in->types[in->ntypes++] = (uint8_t)t;
    return;
  }
  int sp = ptx_space_from(s, n);
  if (sp > 0) {
    if (!in->space)
      in->space = (uint8_t)sp;
    else if (!in->space2)
      in->space2 = (uint8_t)sp;
    return;
  }
  bool cmp_ctx = in->opcode == QIAO_PTX_OP_SETP || in->opcode == QIAO_PTX_OP_SET ||
                 in->opcode == QIAO_PTX_OP_SLCT;
  if (n == 2 && (memcmp(s, "lo", 2) == 0 || memcmp(s, "hi", 2) == 0)) {
    bool lo = s[0] == 'l';
    if (cmp_ctx)
      in->cmp = lo ? QIAO_PTX_CMP_LO : QIAO_PTX_CMP_HI;
    else
      in->part = lo ? QIAO_PTX_PART_LO : QIAO_PTX_PART_HI;
    return;
  }
  if (n == 3 && memcmp(s, "uni", 3) == 0) {
    if (in->opcode == QIAO_PTX_OP_VOTE)
      in->opmod = QIAO_PTX_OPM_UNI;
    else
      in->flags |= QIAO_PTX_F_UNI;
    return;
  }
  /* shapes: m16n8k16, m8n8 */
  if (n >= 4 && s[0] == 'm' && s[1] >= '0' && s[1] <= '9') {
    uint32_t i = 1, m = 0, nn = 0, k = 0;
    if (digits(s, n, &i, &m) && i < n && s[i] == 'n' && (++i, digits(s, n, &i, &nn))) {
      if (i < n && s[i] == 'k') {
        ++i;
        if (!digits(s, n, &i, &k)) return;
      }
      if (i == n) {
        in->shape_m = (uint16_t)m;
        in->shape_n = (uint16_t)nn;
        in->shape_k = (uint16_t)k;
      }
    }
    return;
  }
  for (size_t i = 0; i < sizeof k_mods / sizeof *k_mods; ++i) {
    const modent_t *e = &k_mods[i];
    if (e->len != n || e->name[0] != s[0] || memcmp(e->name, s, n) != 0) continue;
    switch (e->field) {
    case MF_RND: in->rnd = e->value; break;
    case MF_CMP: in->cmp = e->value; break;
    case MF_OPM:
      if (cmp_ctx && in->cmp == QIAO_PTX_CMP_NONE && e->value != QIAO_PTX_OPM_AND &&
          e->value != QIAO_PTX_OPM_OR && e->value != QIAO_PTX_OPM_XOR)
        break;
      in->opmod = e->value;
      break;
    case MF_SCOPE: in->scope = e->value; break;
    case MF_SEM: in->sem = e->value; break;
    case MF_CACHE: in->cache = e->value; break;
    case MF_PART: in->part = e->value; break;
    case MF_LAYOUT:
      if (!in->layout[0])
        in->layout[0] = e->value;
      else
        in->layout[1] = e->value;
      break;
    case MF_NUM: in->num = e->value; break;
    case MF_VEC: in->vec = e->value; break;
    case MF_FLAG: in->flags |= 1u << e->value; break;
    }
    return;
  }
}

static bool parse_instruction(parser_t *p) {
  qiao_ptx_instr_t in;
  memset(&in, 0, sizeof in);
  in.guard = -1;
  in.src_line = p->tok.line;
  if (accept(p, '@')) {
    if (accept(p, '!')) in.guard_neg = 1;
    if (p->tok.kind != PTX_TOK_WORD || (p->tok.text[0] != '%' && !is_declared_reg(p, &p->tok)))
      return fail_expected(p, "a predicate register");
    qiao_ptx_operand_t g = {0};
    TRY(resolve_reg(p, &p->tok, &g));
    if (g.kind != QIAO_PTX_OPND_REG || g.comp)
      return fail_at(p, p->tok.line, p->tok.col, "a guard must be a predicate register");
    in.guard = g.reg;
    advance(p);
  }
  if (p->tok.kind != PTX_TOK_WORD || p->tok.text[0] == '.' || p->tok.text[0] == '%' ||
      p->tok.text[0] == '$')
    return fail_expected(p, "an instruction");
  const char *w = p->tok.text;
  uint32_t wn = p->tok.len, olen;
  in.opcode = match_opcode(w, wn, &olen);
  uint32_t name_id = ptx_intern(&p->in, w, olen);
  in.name = p->in.strs[name_id];
  uint32_t mod_first = p->mods.n;
  uint32_t i = olen;
  while (i < wn) {
    /* w[i] == '.' */
    uint32_t j = i + 1;
    while (j < wn && w[j] != '.')
      ++j;
    if (j == i + 1) return fail_at(p, p->tok.line, p->tok.col + (int32_t)i, "empty modifier");
    uint32_t ms_id = ptx_intern(&p->in, w + i + 1, j - i - 1);
    const char *ms = p->in.strs[ms_id];
    PTX_PUSH(p->mods, ms);
    decode_mod(&in, w + i + 1, j - i - 1);
    i = j;
  }
  if (p->mods.n - mod_first > 0xffff)
    return fail_at(p, p->tok.line, p->tok.col, "too many modifiers");
  in.nmods = (uint16_t)(p->mods.n - mod_first);
  advance(p);
  uint32_t tmark = p->tops.n, pmark = p->pend.n;
  if (!is_punct(&p->tok, ';')) {
    for (;;) {
      qiao_ptx_operand_t op = {0};
      bool pending = false;
      uint32_t id = 0;
      int32_t line, col;
      TRY(parse_operand(p, &op, OPND_TOP, &pending, &id, &line, &col));
      if (pending) {
        pending_t pd = {p->tops.n, id, line, col};
        PTX_PUSH(p->pend, pd);
      }
      PTX_PUSH(p->tops, op);
      if (p->tops.n - tmark > 1024) return fail_at(p, line, col, "too many operands");
      if (is_punct(&p->tok, ';')) break;
      if (!accept(p, ',')) return fail_expected(p, "',' or ';'");
    }
  }
  advance(p); /* ; */
  for (uint32_t k = pmark; k < p->pend.n; ++k) {
    fixup_t f = {p->ops.n + (p->pend.v[k].local - tmark), p->pend.v[k].id, p->pend.v[k].line,
                 p->pend.v[k].col};
    PTX_PUSH(p->ffix, f);
  }
  p->pend.n = pmark;
  in.nops = (uint16_t)(p->tops.n - tmark);
  in.ops = (const qiao_ptx_operand_t *)(uintptr_t)p->ops.n; /* fixed at the end */
  in.mods = (const char *const *)(uintptr_t)mod_first;
  for (uint32_t k = tmark; k < p->tops.n; ++k)
    PTX_PUSH(p->ops, p->tops.v[k]);
  p->tops.n = tmark;
  in.loc_file = p->loc_file;
  in.loc_line = p->loc_line;
  in.loc_col = p->loc_col;
  qiao_ptx_item_t it = {QIAO_PTX_ITEM_INSTR, p->instrs.n};
  PTX_PUSH(p->items, it);
  PTX_PUSH(p->instrs, in);
  return true;
}

/* .loc FILE LINE COL [, attributes to the end of the line] */
static bool parse_loc(parser_t *p) {
  int32_t line = p->tok.line;
  advance(p);
  uint64_t f, l, c = 0;
  TRY(parse_uint(p, "a file number", UINT32_MAX, &f));
  TRY(parse_uint(p, "a line number", UINT32_MAX, &l));
  if (p->tok.kind == PTX_TOK_NUMBER && p->tok.line == line)
    TRY(parse_uint(p, "a column", UINT32_MAX, &c));
  /* function_name ..., inlined_at ...: skipped to the end of the line */
  if (is_punct(&p->tok, ',') && p->tok.line == line)
    while (p->tok.kind != PTX_TOK_EOF && p->tok.kind != PTX_TOK_ERROR && p->tok.line == line)
      advance(p);
  p->loc_file = (uint32_t)f;
  p->loc_line = (uint32_t)l;
  p->loc_col = (uint32_t)c;
  return true;
}

static bool parse_pragma(parser_t *p, bool in_body) {
  advance(p);
  for (;;) {
    const char *s = NULL;
    TRY(parse_string(p, "a pragma string", &s));
    if (in_body) {
      qiao_ptx_item_t it = {QIAO_PTX_ITEM_PRAGMA, p->pragmas.n};
      PTX_PUSH(p->items, it);
      PTX_PUSH(p->pragmas, s);
    } else {
      qiao_ptx_item_t it = {QIAO_PTX_MITEM_PRAGMA, p->mpragmas.n};
      PTX_PUSH(p->mitems, it);
      PTX_PUSH(p->mpragmas, s);
    }
    if (!accept(p, ',')) break;
  }
  return expect(p, ';');
}

static bool parse_body(parser_t *p) {
  /* '{' consumed; p->depth == 1 */
  for (;;) {
    ptx_token_t *t = &p->tok;
    if (t->kind == PTX_TOK_EOF || t->kind == PTX_TOK_ERROR)
      return fail_expected(p, "'}' or an instruction");
    if (is_punct(t, '}')) {
      advance(p);
      if (p->depth == 1) return true;
      qiao_ptx_item_t it = {QIAO_PTX_ITEM_CLOSE, 0};
      PTX_PUSH(p->items, it);
      p->depth--;
      uint32_t mark = p->scope_marks[p->depth];
      scope_pop(p, mark);
      continue;
    }
    if (is_punct(t, '{')) {
      if (p->depth >= MAX_DEPTH) return fail_at(p, t->line, t->col, "scopes nested too deeply");
      advance(p);
      p->scope_marks[p->depth] = p->undo.n;
      p->depth++;
      qiao_ptx_item_t it = {QIAO_PTX_ITEM_OPEN, 0};
      PTX_PUSH(p->items, it);
      continue;
    }
    if (t->kind == PTX_TOK_WORD && is_punct(&p->nxt, ':') && is_ident_name(t)) {
      uint32_t id;
      const char *name = intern_tok(p, t, &id);
      bind_t *b = bind_of(p, id);
      if (b->label) return fail_at(p, t->line, t->col, "label %s is already defined", name);
      b->label = (int32_t)p->labels.n + 1;
      PTX_PUSH(p->label_ids, id);
      qiao_ptx_label_t l = {name, p->instrs.n};
      qiao_ptx_item_t it = {QIAO_PTX_ITEM_LABEL, p->labels.n};
      PTX_PUSH(p->items, it);
      PTX_PUSH(p->labels, l);
      advance(p);
      advance(p);
      continue;
    }
    if (is_dir(t, ".reg")) {
      TRY(parse_reg_decl(p));
      continue;
    }
    int sp = space_of(t);
    if (sp == QIAO_PTX_SPACE_LOCAL || sp == QIAO_PTX_SPACE_SHARED || sp == QIAO_PTX_SPACE_CONST ||
        sp == QIAO_PTX_SPACE_PARAM || sp == QIAO_PTX_SPACE_GLOBAL) {
      int32_t line = t->line;
      advance(p);
      TRY(parse_var_decl(p, sp, 0, DECL_LOCAL, line));
      continue;
    }
    if (is_dir(t, ".pragma")) {
      TRY(parse_pragma(p, true));
      continue;
    }
    if (is_dir(t, ".loc")) {
      TRY(parse_loc(p));
      continue;
    }
    if (t->kind == PTX_TOK_WORD && t->text[0] == '.') {
      char d[64];
      describe(t, d, sizeof d);
      return fail_at(p, t->line, t->col, "unsupported directive %s in a function body", d);
    }
    TRY(parse_instruction(p));
  }
}

/* ( .param ..., .param ... ) */
static bool parse_param_list(parser_t *p, bool rets) {
  TRY(expect(p, '('));
  if (accept(p, ')')) return true;
  for (;;) {
    int sp = space_of(&p->tok);
    if (sp != QIAO_PTX_SPACE_PARAM && sp != QIAO_PTX_SPACE_REG) return fail_expected(p, "'.param'");
    int32_t line = p->tok.line;
    advance(p);
    TRY(parse_var_decl(p, sp, 0, rets ? DECL_RET : DECL_PARAM, line));
    if (accept(p, ')')) return true;
    TRY(expect(p, ','));
  }
}

static bool parse_dim3(parser_t *p, uint32_t out[3]) {
  advance(p);
  for (int i = 0; i < 3; ++i) {
    uint64_t v;
    TRY(parse_uint(p, "a thread count", UINT32_MAX, &v));
    out[i] = (uint32_t)v;
    if (!accept(p, ',')) break;
  }
  return true;
}

static bool parse_function(parser_t *p, int linkage, bool entry) {
  int32_t fline = p->tok.line;
  advance(p); /* .entry / .func */
  qiao_ptx_func_t f;
  memset(&f, 0, sizeof f);
  f.is_entry = entry;
  f.linkage = (uint8_t)linkage;
  f.src_line = fline;
  p->depth = 1; /* parameters live in the function scope */
  uint32_t umark = p->undo.n;
  if (!entry && is_punct(&p->tok, '(')) TRY(parse_param_list(p, true));
  if (!is_ident_name(&p->tok)) return fail_expected(p, "a function name");
  ptx_token_t nt = p->tok;
  uint32_t id;
  f.name = intern_tok(p, &p->tok, &id);
  advance(p);
  if (is_punct(&p->tok, '(')) TRY(parse_param_list(p, false));
  for (;;) {
    ptx_token_t *t = &p->tok;
    if (is_dir(t, ".noreturn")) {
      f.noreturn = 1;
      advance(p);
    } else if (is_dir(t, ".maxntid")) {
      TRY(parse_dim3(p, f.maxntid));
    } else if (is_dir(t, ".reqntid")) {
      TRY(parse_dim3(p, f.reqntid));
    } else if (is_dir(t, ".minnctapersm")) {
      advance(p);
      uint64_t v;
      TRY(parse_uint(p, "a count", UINT32_MAX, &v));
      f.minnctapersm = (uint32_t)v;
    } else if (is_dir(t, ".maxnreg")) {
      advance(p);
      uint64_t v;
      TRY(parse_uint(p, "a register count", UINT32_MAX, &v));
      f.maxnreg = (uint32_t)v;
    } else if (is_dir(t, ".pragma")) {
      TRY(parse_pragma(p, true));
    } else {
      break;
    }
  }
  uint32_t findex = p->funcs.n;
  bool is_decl = !is_punct(&p->tok, '{');
  TRY(declare_global(p, id, nt.line, nt.col, QIAO_PTX_SYM_FUNC, findex, is_decl));
  p->loc_file = p->loc_line = p->loc_col = 0;
  if (is_decl) {
    TRY(expect(p, ';'));
  } else {
    advance(p);
    f.has_body = 1;
    TRY(parse_body(p));
  }
  /* labels of this function */
  for (uint32_t i = 0; i < p->ffix.n; ++i) {
    fixup_t *fx = &p->ffix.v[i];
    bind_t *b = bind_of(p, fx->id);
    qiao_ptx_operand_t *op = &p->ops.v[fx->op];
    if (b->label) {
      op->sym_kind = QIAO_PTX_SYM_LABEL;
      op->sym = (int32_t)p->labels.v[b->label - 1].instr;
    } else {
      PTX_PUSH(p->gfix, *fx);
    }
  }
  p->ffix.n = 0;
  /* label operands point at instruction indices */
  for (uint32_t i = 0; i < p->label_ids.n; ++i)
    p->binds[p->label_ids.v[i]].label = 0;
  p->label_ids.n = 0;
  scope_pop(p, umark);
  p->depth = 0;
  ptx_arena_t *a = p->arena;
  f.nrets = p->rets.n;
  f.rets = (const qiao_ptx_var_t *)ptx_arena_dup(a, p->rets.v, p->rets.n * sizeof *p->rets.v);
  f.nparams = p->params.n;
  f.params =
      (const qiao_ptx_var_t *)ptx_arena_dup(a, p->params.v, p->params.n * sizeof *p->params.v);
  f.nlocals = p->locals.n;
  f.locals =
      (const qiao_ptx_var_t *)ptx_arena_dup(a, p->locals.v, p->locals.n * sizeof *p->locals.v);
  f.ninstrs = p->instrs.n;
  f.instrs =
      (const qiao_ptx_instr_t *)ptx_arena_dup(a, p->instrs.v, p->instrs.n * sizeof *p->instrs.v);
  f.nregs = p->nregs;
  f.nregdecls = p->regdecls.n;
  f.regdecls = (const qiao_ptx_regdecl_t *)ptx_arena_dup(a, p->regdecls.v,
                                                         p->regdecls.n * sizeof *p->regdecls.v);
  f.nlabels = p->labels.n;
  f.labels =
      (const qiao_ptx_label_t *)ptx_arena_dup(a, p->labels.v, p->labels.n * sizeof *p->labels.v);
  f.npragmas = p->pragmas.n;
  f.pragmas =
      (const char *const *)ptx_arena_dup(a, p->pragmas.v, p->pragmas.n * sizeof *p->pragmas.v);
  f.nitems = p->items.n;
  f.items = (const qiao_ptx_item_t *)ptx_arena_dup(a, p->items.v, p->items.n * sizeof *p->items.v);
  p->rets.n = p->params.n = p->locals.n = p->instrs.n = p->regdecls.n = p->labels.n = 0;
  p->pragmas.n = p->items.n = 0;
  p->nregs = 0;
  qiao_ptx_item_t it = {QIAO_PTX_MITEM_FUNC, findex};
  PTX_PUSH(p->mitems, it);
  PTX_PUSH(p->funcs, f);
  return true;
}

/* ------------------------------------------------------------------ module */

static bool parse_version(parser_t *p) {
  advance(p);
  if (p->tok.kind != PTX_TOK_NUMBER) return fail_expected(p, "a version (major.minor)");
  const char *s = p->tok.text;
  uint32_t n = p->tok.len, i = 0, maj = 0, min = 0;
  if (!digits(s, n, &i, &maj) || i >= n || s[i] != '.' || (++i, !digits(s, n, &i, &min)) || i != n)
    return fail_expected(p, "a version (major.minor)");
  p->m->version_major = maj;
  p->m->version_minor = min;
  advance(p);
  return true;
}

static bool parse_target(parser_t *p) {
  advance(p);
  for (;;) {
    if (p->tok.kind != PTX_TOK_WORD || !is_ident_name(&p->tok))
      return fail_expected(p, "a target (sm_XX)");
    ptx_token_t *t = &p->tok;
    if (tok_eq(t, "texmode_independent"))
      p->m->texmode_independent = 1;
    else if (tok_eq(t, "texmode_unified")) {
    } else if (tok_eq(t, "debug"))
      p->m->target_debug = 1;
    else if (tok_eq(t, "map_f64_to_f32"))
      p->m->map_f64_to_f32 = 1;
    else if (t->len > 3 && memcmp(t->text, "sm_", 3) == 0) {
      uint32_t i = 3, sm = 0;
      if (!digits(t->text, t->len, &i, &sm)) return fail_expected(p, "a target (sm_XX)");
      if (i < t->len && !(i + 1 == t->len && (t->text[i] == 'a' || t->text[i] == 'f')))
        return fail_expected(p, "a target (sm_XX)");
      if (p->m->target_arch) return fail_at(p, t->line, t->col, "more than one sm_ target");
      p->m->sm = sm;
      p->m->target_arch = intern_tok(p, t, NULL);
    } else {
      return fail_expected(p, "a target (sm_XX, texmode_independent, debug)");
    }
    advance(p);
    if (!accept(p, ',')) break;
  }
  if (!p->m->target_arch) return fail_at(p, p->tok.line, p->tok.col, "expected an sm_XX target");
  return true;
}

static bool parse_module(parser_t *p) {
  bool seen_version = false;
  while (p->tok.kind != PTX_TOK_EOF) {
    ptx_token_t *t = &p->tok;
    if (is_dir(t, ".version")) {
      if (seen_version) return fail_at(p, t->line, t->col, "duplicate .version");
      seen_version = true;
      TRY(parse_version(p));
    } else if (!seen_version) {
      return fail_expected(p, "'.version'");
    } else if (is_dir(t, ".target")) {
      TRY(parse_target(p));
    } else if (is_dir(t, ".address_size")) {
      advance(p);
      uint64_t v;
      int32_t line = p->tok.line, col = p->tok.col;
      TRY(parse_uint(p, "32 or 64", 64, &v));
      if (v != 32 && v != 64) return fail_at(p, line, col, "address size must be 32 or 64");
      p->m->address_size = (uint32_t)v;
    } else if (is_dir(t, ".file")) {
      advance(p);
      uint64_t idx;
      qiao_ptx_file_t f = {0};
      TRY(parse_uint(p, "a file number", UINT32_MAX, &idx));
      f.index = (uint32_t)idx;
      TRY(parse_string(p, "a file name", &f.path));
      while (accept(p, ',')) {
        uint64_t ignored;
        TRY(parse_uint(p, "a timestamp or size", UINT64_MAX, &ignored));
      }
      qiao_ptx_item_t it = {QIAO_PTX_MITEM_FILE, p->files.n};
      PTX_PUSH(p->mitems, it);
      PTX_PUSH(p->files, f);
    } else if (is_dir(t, ".section")) {
      advance(p);
      if (p->tok.kind != PTX_TOK_WORD) return fail_expected(p, "a section name");
      qiao_ptx_section_t sec = {0};
      sec.name = intern_tok(p, &p->tok, NULL);
      advance(p);
      if (!is_punct(&p->tok, '{')) return fail_expected(p, "'{'");
      const char *open = p->tok.text;
      int32_t line = p->tok.line, col = p->tok.col;
      if (is_punct(&p->nxt, '}')) {
        const char *close = p->nxt.text;
        advance(p);
        advance(p);
        sec.len = (uint32_t)(close + 1 - open);
      } else {
        /* the lexer already holds one token past '{': re-lex from there */
        ptx_token_t saved = p->nxt;
        p->lx.pos = (size_t)(saved.text - p->lx.src);
        p->lx.line = saved.line;
        p->lx.col = saved.col;
        if (saved.kind == PTX_TOK_EOF || !ptx_lexer_skip_braces(&p->lx))
          return fail_at(p, line, col, "unterminated .section (no matching '}')");
        sec.len = (uint32_t)(p->lx.src + p->lx.pos - open);
        p->nxt = ptx_lexer_next(&p->lx);
        advance(p);
      }
      if (memchr(open, 0, sec.len))
        return fail_at(p, line, col, "a .section cannot contain a NUL byte");
      char *text = (char *)ptx_arena_alloc(p->arena, (size_t)sec.len + 1);
      memcpy(text, open, sec.len);
      sec.text = text;
      qiao_ptx_item_t it = {QIAO_PTX_MITEM_SECTION, p->sections.n};
      PTX_PUSH(p->mitems, it);
      PTX_PUSH(p->sections, sec);
    } else if (is_dir(t, ".pragma")) {
      TRY(parse_pragma(p, false));
    } else {
      int linkage = 0;
      while (linkage_of(&p->tok)) {
        if (linkage) return fail_at(p, p->tok.line, p->tok.col, "more than one linkage directive");
        linkage = linkage_of(&p->tok);
        advance(p);
      }
      t = &p->tok;
      if (is_dir(t, ".entry") || is_dir(t, ".func")) {
        TRY(parse_function(p, linkage, is_dir(t, ".entry")));
        continue;
      }
      int sp = space_of(t);
      if (sp == QIAO_PTX_SPACE_GLOBAL || sp == QIAO_PTX_SPACE_SHARED ||
          sp == QIAO_PTX_SPACE_CONST || sp == QIAO_PTX_SPACE_LOCAL ||
          sp == QIAO_PTX_SPACE_SHARED_CTA || sp == QIAO_PTX_SPACE_SHARED_CLUSTER) {
        int32_t line = t->line;
        advance(p);
        TRY(parse_var_decl(p, sp, linkage, DECL_MODULE, line));
        continue;
      }
      return fail_expected(p, linkage ? "'.entry', '.func' or a variable declaration"
                                      : "a directive (.target, .entry, .func, .global, ...)");
    }
  }
  if (!seen_version) return fail_expected(p, "'.version'");
  /* module-level resolution, in source order */
  for (uint32_t i = 0; i < p->gfix.n; ++i) {
    fixup_t *fx = &p->gfix.v[i];
    bind_t *b = bind_of(p, fx->id);
    if (!b->global)
      return fail_at(p, fx->line, fx->col, "undeclared symbol '%s'", p->in.strs[fx->id]);
    qiao_ptx_operand_t *op = &p->ops.v[fx->op];
    op->sym_kind = (uint8_t)((b->global - 1) >> 24);
    op->sym = (b->global - 1) & 0xffffff;
  }
  return true;
}

static void fix_var_inits(qiao_ptx_var_t *v, uint32_t n, const qiao_ptx_init_t *base) {
  for (uint32_t i = 0; i < n; ++i)
    v[i].init = v[i].ninit ? base + (uintptr_t)v[i].init : NULL;
}

static void parser_free(parser_t *p) {
  ptx_interner_free(&p->in);
  free(p->binds);
  PTX_FREE(p->vars);
  PTX_FREE(p->funcs);
  PTX_FREE(p->files);
  PTX_FREE(p->sections);
  PTX_FREE(p->mpragmas);
  PTX_FREE(p->mitems);
  PTX_FREE(p->ops);
  PTX_FREE(p->mods);
  PTX_FREE(p->inits);
  PTX_FREE(p->gfix);
  PTX_FREE(p->instrs);
  PTX_FREE(p->regdecls);
  PTX_FREE(p->locals);
  PTX_FREE(p->params);
  PTX_FREE(p->rets);
  PTX_FREE(p->labels);
  PTX_FREE(p->pragmas);
  PTX_FREE(p->items);
  PTX_FREE(p->ffix);
  PTX_FREE(p->undo);
  PTX_FREE(p->label_ids);
  PTX_FREE(p->tops);
  PTX_FREE(p->elems);
  PTX_FREE(p->pend);
}

qiao_status_t qiao_ptx_parse(const char *text, size_t len, const char *name,
                             qiao_ptx_module_t **out_module) {
  *out_module = NULL;
  parser_t p;
  memset(&p, 0, sizeof p);
  p.name = name ? name : "<ptx>";
  p.m = ptx_module_new(&p.arena);
  ptx_interner_init(&p.in, p.arena);
  ptx_lexer_init(&p.lx, text ? text : "", text ? len : 0);
  p.tok = ptx_lexer_next(&p.lx);
  p.nxt = ptx_lexer_next(&p.lx);
  bool ok = parse_module(&p);
  if (!ok) {
    qiao_status_t st = p.err ? p.err : qiao_status_make(QIAO_INTERNAL, "%s: parse failed", p.name);
    parser_free(&p);
    qiao_ptx_module_destroy(p.m);
    return st;
  }
  qiao_ptx_module_t *m = p.m;
  ptx_arena_t *a = p.arena;
  qiao_ptx_operand_t *ops =
      (qiao_ptx_operand_t *)ptx_arena_dup(a, p.ops.v, p.ops.n * sizeof *p.ops.v);
  const char **mods = (const char **)ptx_arena_dup(a, p.mods.v, p.mods.n * sizeof *p.mods.v);
  qiao_ptx_init_t *inits =
      (qiao_ptx_init_t *)ptx_arena_dup(a, p.inits.v, p.inits.n * sizeof *p.inits.v);
  m->operands = ops;
  m->noperands = p.ops.n;
  fix_var_inits(p.vars.v, p.vars.n, inits);
  for (uint32_t i = 0; i < p.funcs.n; ++i) {
    qiao_ptx_func_t *f = &p.funcs.v[i];
    qiao_ptx_instr_t *ins = (qiao_ptx_instr_t *)f->instrs;
    for (uint32_t k = 0; k < f->ninstrs; ++k) {
      ins[k].ops = ins[k].nops ? ops + (uintptr_t)ins[k].ops : NULL;
      ins[k].mods = ins[k].nmods ? mods + (uintptr_t)ins[k].mods : NULL;
    }
    fix_var_inits((qiao_ptx_var_t *)f->locals, f->nlocals, inits);
  }
  m->nvars = p.vars.n;
  m->vars = (const qiao_ptx_var_t *)ptx_arena_dup(a, p.vars.v, p.vars.n * sizeof *p.vars.v);
  m->nfuncs = p.funcs.n;
  m->funcs = (const qiao_ptx_func_t *)ptx_arena_dup(a, p.funcs.v, p.funcs.n * sizeof *p.funcs.v);
  m->nsections = p.sections.n;
  m->sections = (const qiao_ptx_section_t *)ptx_arena_dup(a, p.sections.v,
                                                          p.sections.n * sizeof *p.sections.v);
  m->nfiles = p.files.n;
  m->files = (const qiao_ptx_file_t *)ptx_arena_dup(a, p.files.v, p.files.n * sizeof *p.files.v);
  m->npragmas = p.mpragmas.n;
  m->pragmas =
      (const char *const *)ptx_arena_dup(a, p.mpragmas.v, p.mpragmas.n * sizeof *p.mpragmas.v);
  m->nitems = p.mitems.n;
  m->items = (const qiao_ptx_item_t *)ptx_arena_dup(a, p.mitems.v, p.mitems.n * sizeof *p.mitems.v);
  parser_free(&p);
  *out_module = m;
  return NULL;
}

qiao_status_t qiao_ptx_parse_file(const char *path, qiao_ptx_module_t **out_module) {
  *out_module = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return qiao_status_make(QIAO_NOT_FOUND, "%s: cannot open: %s", path, strerror(errno));
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (cap - n < 65536) {
      cap = cap ? cap * 2 : 1 << 20;
      char *nb = (char *)realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s: out of memory", path);
      }
      buf = nb;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
  }
  bool err = ferror(f);
  fclose(f);
  if (err) {
    free(buf);
    return qiao_status_make(QIAO_IO_ERROR, "%s: read error", path);
  }
  qiao_status_t st = qiao_ptx_parse(buf, n, path, out_module);
  free(buf);
  return st;
}
