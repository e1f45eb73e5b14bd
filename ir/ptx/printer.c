/* Canonical PTX printer: one declaration or instruction per line, tab
 * indentation, integers in decimal, f32 immediates as 0fXXXXXXXX and f64 as
 * 0dXXXXXXXXXXXXXXXX, modifiers as written. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptx_internal.h"

typedef struct out {
  char *buf;
  size_t n, cap;
} out_t;

static void put(out_t *o, const char *s, size_t n) {
  if (o->cap - o->n < n + 1) {
    size_t c = o->cap ? o->cap : 4096;
    while (c - o->n < n + 1)
      c *= 2;
    char *b = (char *)realloc(o->buf, c);
    if (!b) abort();
    o->buf = b;
    o->cap = c;
  }
  memcpy(o->buf + o->n, s, n);
  o->n += n;
  o->buf[o->n] = 0;
}
static void puts_(out_t *o, const char *s) { put(o, s, strlen(s)); }
static void printf_(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void printf_(out_t *o, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    put(o, tmp, (size_t)n);
    return;
  }
  char *big = (char *)malloc((size_t)n + 1);
  if (!big) abort();
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  put(o, big, (size_t)n);
  free(big);
}

static const char *k_link[] = {"", ".visible ", ".extern ", ".weak ", ".common "};

static void print_init(out_t *o, const qiao_ptx_init_t *iv) {
  switch (iv->kind) {
  case QIAO_PTX_INIT_INT: printf_(o, "%" PRId64, iv->v.i); break;
  case QIAO_PTX_INIT_F32: printf_(o, "0f%08" PRIX32, (uint32_t)iv->v.u); break;
  case QIAO_PTX_INIT_F64: printf_(o, "0d%016" PRIX64, iv->v.u); break;
  case QIAO_PTX_INIT_SYM: puts_(o, iv->name); break;
  case QIAO_PTX_INIT_GENERIC: printf_(o, "generic(%s)", iv->name); break;
  }
  if ((iv->kind == QIAO_PTX_INIT_SYM || iv->kind == QIAO_PTX_INIT_GENERIC) && iv->v.i)
    printf_(o, "+%" PRId64, iv->v.i);
}

static void print_var(out_t *o, const qiao_ptx_var_t *v) {
  puts_(o, k_link[v->linkage < 5 ? v->linkage : 0]);
  printf_(o, ".%s", ptx_space_name(v->space));
  if (v->align) printf_(o, " .align %" PRIu32, v->align);
  if (v->vec) printf_(o, " .v%u", v->vec);
  printf_(o, " .%s", qiao_ptx_type_name((qiao_ptx_type_t)v->type));
  if (v->is_ptr) {
    puts_(o, " .ptr");
    if (v->ptr_space) printf_(o, " .%s", ptx_space_name(v->ptr_space));
    if (v->ptr_align) printf_(o, " .align %" PRIu32, v->ptr_align);
  }
  printf_(o, " %s", v->name);
  for (uint32_t i = 0; i < v->ndims; ++i) {
    if (v->dims[i])
      printf_(o, "[%" PRIu64 "]", v->dims[i]);
    else
      puts_(o, "[]");
  }
  if (v->has_init) {
    puts_(o, " = ");
    if (v->has_init == 2) puts_(o, "{");
    for (uint32_t i = 0; i < v->ninit; ++i) {
      if (i) puts_(o, ", ");
      print_init(o, &v->init[i]);
    }
    if (v->has_init == 2) puts_(o, "}");
  }
}

static void print_reg(out_t *o, const qiao_ptx_func_t *f, int32_t id) {
  uint32_t n = 0;
  const qiao_ptx_regdecl_t *d = id >= 0 ? qiao_ptx_func_reg(f, (uint32_t)id, &n) : NULL;
  if (!d) {
    printf_(o, "%%bad%d", id);
    return;
  }
  puts_(o, d->name);
  if (d->is_range) printf_(o, "%" PRIu32, n);
}

static const char k_comp[] = {0, 'x', 'y', 'z', 'w'};

static void print_operand(out_t *o, const qiao_ptx_module_t *m, const qiao_ptx_func_t *f,
                          const qiao_ptx_operand_t *op) {
  if (op->neg) puts_(o, "!");
  switch (op->kind) {
  case QIAO_PTX_OPND_REG:
    print_reg(o, f, op->reg);
    if (op->comp && op->comp < 5) printf_(o, ".%c", k_comp[op->comp]);
    break;
  case QIAO_PTX_OPND_SREG:
    puts_(o, qiao_ptx_sreg_name((qiao_ptx_sreg_t)op->sreg));
    if (op->sreg == QIAO_PTX_SREG_ENVREG) printf_(o, "%" PRId64, op->imm.i);
    if (op->comp && op->comp < 5) printf_(o, ".%c", k_comp[op->comp]);
    break;
  case QIAO_PTX_OPND_IMM_INT: printf_(o, "%" PRId64, op->imm.i); break;
  case QIAO_PTX_OPND_IMM_F32: printf_(o, "0f%08" PRIX32, (uint32_t)op->imm.u); break;
  case QIAO_PTX_OPND_IMM_F64: printf_(o, "0d%016" PRIX64, op->imm.u); break;
  case QIAO_PTX_OPND_SYM:
    puts_(o, op->name);
    if (op->imm.i) printf_(o, "+%" PRId64, op->imm.i);
    break;
  case QIAO_PTX_OPND_ADDR:
    puts_(o, "[");
    if (op->reg >= 0)
      print_reg(o, f, op->reg);
    else if (op->name)
      puts_(o, op->name);
    else {
      printf_(o, "%" PRIu64 "]", op->imm.u);
      break;
    }
    if (op->imm.i) printf_(o, "+%" PRId64, op->imm.i);
    puts_(o, "]");
    break;
  case QIAO_PTX_OPND_VEC:
  case QIAO_PTX_OPND_LIST:
  case QIAO_PTX_OPND_PAIR: {
    const char *open = op->kind == QIAO_PTX_OPND_VEC    ? "{"
                       : op->kind == QIAO_PTX_OPND_LIST ? "("
                                                        : "";
    const char *close = op->kind == QIAO_PTX_OPND_VEC    ? "}"
                        : op->kind == QIAO_PTX_OPND_LIST ? ")"
                                                         : "";
    const char *sep = op->kind == QIAO_PTX_OPND_PAIR ? "|" : ", ";
    puts_(o, open);
    for (uint32_t i = 0; i < op->count; ++i) {
      if (i) puts_(o, sep);
      print_operand(o, m, f, &m->operands[op->first + i]);
    }
    puts_(o, close);
    break;
  }
  case QIAO_PTX_OPND_SINK: puts_(o, "_"); break;
  }
}

static void print_instr(out_t *o, const qiao_ptx_module_t *m, const qiao_ptx_func_t *f,
                        const qiao_ptx_instr_t *in) {
  puts_(o, "\t");
  if (in->guard >= 0) {
    puts_(o, in->guard_neg ? "@!" : "@");
    print_reg(o, f, in->guard);
    puts_(o, " ");
  }
  puts_(o, in->name);
  for (uint32_t i = 0; i < in->nmods; ++i) {
    puts_(o, ".");
    puts_(o, in->mods[i]);
  }
  for (uint32_t i = 0; i < in->nops; ++i) {
    puts_(o, i ? ", " : " ");
    print_operand(o, m, f, &in->ops[i]);
  }
  puts_(o, ";\n");
}

/* .maxntid x[, y[, z]]: up to the last non-zero component (0 = not given) */
static void print_dim3(out_t *o, const char *dir, const uint32_t d[3]) {
  int last = d[2] ? 2 : d[1] ? 1 : d[0] ? 0 : -1;
  if (last < 0) return;
  printf_(o, "%s %" PRIu32, dir, d[0]);
  for (int i = 1; i <= last; ++i)
    printf_(o, ", %" PRIu32, d[i]);
  puts_(o, "\n");
}

static void print_string(out_t *o, const char *s) {
  puts_(o, "\"");
  puts_(o, s); /* kept as written (escapes included) */
  puts_(o, "\"");
}

static void print_func(out_t *o, const qiao_ptx_module_t *m, const qiao_ptx_func_t *f) {
  puts_(o, k_link[f->linkage < 5 ? f->linkage : 0]);
  puts_(o, f->is_entry ? ".entry " : ".func ");
  if (f->nrets) {
    puts_(o, "(");
    for (uint32_t i = 0; i < f->nrets; ++i) {
      if (i) puts_(o, ", ");
      print_var(o, &f->rets[i]);
    }
    puts_(o, ") ");
  }
  puts_(o, f->name);
  puts_(o, "(");
  for (uint32_t i = 0; i < f->nparams; ++i) {
    puts_(o, i ? ",\n\t" : "\n\t");
    print_var(o, &f->params[i]);
  }
  puts_(o, f->nparams ? "\n)" : ")");
  if (f->noreturn) puts_(o, " .noreturn");
  puts_(o, "\n");
  print_dim3(o, ".maxntid", f->maxntid);
  print_dim3(o, ".reqntid", f->reqntid);
  if (f->minnctapersm) printf_(o, ".minnctapersm %" PRIu32 "\n", f->minnctapersm);
  if (f->maxnreg) printf_(o, ".maxnreg %" PRIu32 "\n", f->maxnreg);
  if (!f->has_body) {
    /* pragmas of a declaration go before the ';' */
    for (uint32_t i = 0; i < f->nitems; ++i)
      if (f->items[i].kind == QIAO_PTX_ITEM_PRAGMA) {
        puts_(o, ".pragma ");
        print_string(o, f->pragmas[f->items[i].index]);
        puts_(o, ";\n");
      }
    puts_(o, ";\n\n");
    return;
  }
  puts_(o, "{\n");
  uint32_t lf = 0, ll = 0, lc = 0;
  for (uint32_t i = 0; i < f->nitems; ++i) {
    const qiao_ptx_item_t *it = &f->items[i];
    switch (it->kind) {
    case QIAO_PTX_ITEM_INSTR: {
      const qiao_ptx_instr_t *in = &f->instrs[it->index];
      if (in->loc_file != lf || in->loc_line != ll || in->loc_col != lc) {
        printf_(o, "\t.loc %" PRIu32 " %" PRIu32 " %" PRIu32 "\n", in->loc_file, in->loc_line,
                in->loc_col);
        lf = in->loc_file;
        ll = in->loc_line;
        lc = in->loc_col;
      }
      print_instr(o, m, f, in);
      break;
    }
    case QIAO_PTX_ITEM_LABEL: printf_(o, "%s:\n", f->labels[it->index].name); break;
    case QIAO_PTX_ITEM_REG: {
      const qiao_ptx_regdecl_t *d = &f->regdecls[it->index];
      puts_(o, "\t.reg ");
      if (d->vec) printf_(o, ".v%u ", d->vec);
      printf_(o, ".%s %s", qiao_ptx_type_name((qiao_ptx_type_t)d->type), d->name);
      if (d->is_range) printf_(o, "<%" PRIu32 ">", d->count);
      puts_(o, ";\n");
      break;
    }
    case QIAO_PTX_ITEM_LOCAL:
      puts_(o, "\t");
      print_var(o, &f->locals[it->index]);
      puts_(o, ";\n");
      break;
    case QIAO_PTX_ITEM_OPEN: puts_(o, "\t{\n"); break;
    case QIAO_PTX_ITEM_CLOSE: puts_(o, "\t}\n"); break;
    case QIAO_PTX_ITEM_PRAGMA:
      puts_(o, "\t.pragma ");
      print_string(o, f->pragmas[it->index]);
      puts_(o, ";\n");
      break;
    }
  }
  puts_(o, "}\n\n");
}

qiao_status_t qiao_ptx_print(const qiao_ptx_module_t *m, char **out_text) {
  *out_text = NULL;
  out_t o = {0};
  printf_(&o, ".version %" PRIu32 ".%" PRIu32 "\n", m->version_major, m->version_minor);
  if (m->target_arch) {
    printf_(&o, ".target %s", m->target_arch);
    if (m->texmode_independent) puts_(&o, ", texmode_independent");
    if (m->map_f64_to_f32) puts_(&o, ", map_f64_to_f32");
    if (m->target_debug) puts_(&o, ", debug");
    puts_(&o, "\n");
  }
  if (m->address_size) printf_(&o, ".address_size %" PRIu32 "\n", m->address_size);
  puts_(&o, "\n");
  for (uint32_t i = 0; i < m->nitems; ++i) {
    const qiao_ptx_item_t *it = &m->items[i];
    switch (it->kind) {
    case QIAO_PTX_MITEM_VAR:
      print_var(&o, &m->vars[it->index]);
      puts_(&o, ";\n");
      break;
    case QIAO_PTX_MITEM_FUNC: print_func(&o, m, &m->funcs[it->index]); break;
    case QIAO_PTX_MITEM_FILE:
      printf_(&o, ".file %" PRIu32 " ", m->files[it->index].index);
      print_string(&o, m->files[it->index].path);
      puts_(&o, "\n");
      break;
    case QIAO_PTX_MITEM_SECTION:
      printf_(&o, ".section %s\n", m->sections[it->index].name);
      put(&o, m->sections[it->index].text, m->sections[it->index].len);
      puts_(&o, "\n");
      break;
    case QIAO_PTX_MITEM_PRAGMA:
      puts_(&o, ".pragma ");
      print_string(&o, m->pragmas[it->index]);
      puts_(&o, ";\n");
      break;
    }
  }
  if (!o.buf) puts_(&o, "");
  *out_text = o.buf;
  return NULL;
}
