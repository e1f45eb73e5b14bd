/* PTX module: name tables, lookup, equality, destroy. */
#include <stdlib.h>
#include <string.h>

#include "ptx_internal.h"

static const char *const k_type_names[QIAO_PTX_T_COUNT] = {
    "",    "pred", "b8",   "b16",  "b32",    "b64",    "b128",  "u8",   "u16",    "u32",
    "u64", "s8",   "s16",  "s32",  "s64",    "f16",    "f16x2", "bf16", "bf16x2", "tf32",
    "f32", "f64",  "e4m3", "e5m2", "e4m3x2", "e5m2x2", "s4",    "u4",   "b1"};
static const uint8_t k_type_sizes[QIAO_PTX_T_COUNT] = {0, 0, 1, 2, 4, 8, 16, 1, 2, 4, 8, 1, 2, 4, 8,
                                                       2, 4, 2, 4, 4, 4, 8,  1, 1, 2, 2, 1, 1, 1};

const char *qiao_ptx_type_name(qiao_ptx_type_t t) {
  return (unsigned)t < QIAO_PTX_T_COUNT ? k_type_names[t] : "?";
}
uint32_t qiao_ptx_type_size(qiao_ptx_type_t t) {
  return (unsigned)t < QIAO_PTX_T_COUNT ? k_type_sizes[t] : 0;
}

int ptx_type_from(const char *s, size_t n) {
  if (n < 2 || n > 6) return -1;
  for (int i = 1; i < QIAO_PTX_T_COUNT; ++i)
    if (k_type_names[i][0] == s[0] && strlen(k_type_names[i]) == n &&
        memcmp(k_type_names[i], s, n) == 0)
      return i;
  return -1;
}

static const char *const k_space_names[] = {
    "",      "reg",   "global", "shared", "shared::cta", "shared::cluster",
    "local", "param", "const",  "tex"};

const char *ptx_space_name(int space) {
  return space >= 0 && space < (int)(sizeof k_space_names / sizeof *k_space_names)
             ? k_space_names[space]
             : "?";
}

int ptx_space_from(const char *s, size_t n) {
  if (n < 3) return -1;
  for (int i = 1; i < (int)(sizeof k_space_names / sizeof *k_space_names); ++i)
    if (strlen(k_space_names[i]) == n && memcmp(k_space_names[i], s, n) == 0) return i;
  return -1;
}

static const char *const k_opcode_names[] = {"?",
#define X(e, s) s,
                                             QIAO_PTX_OPCODES(X)
#undef X
};
const char *qiao_ptx_opcode_name(qiao_ptx_opcode_t op) {
  return (unsigned)op < QIAO_PTX_OP_COUNT ? k_opcode_names[op] : "?";
}

static const char *const k_sreg_names[] = {
    "?",
#define X(e, s) s,
    QIAO_PTX_SREGS(X)
#undef X
        "%envreg",
};
const char *qiao_ptx_sreg_name(qiao_ptx_sreg_t s) {
  return (unsigned)s < QIAO_PTX_SREG_COUNT ? k_sreg_names[s] : "?";
}

typedef struct ptx_module_impl {
  qiao_ptx_module_t pub; /* first: the public pointer is the impl pointer */
  ptx_arena_t arena;
} ptx_module_impl_t;

void qiao_ptx_module_destroy(qiao_ptx_module_t *m) {
  if (!m) return;
  ptx_module_impl_t *impl = (ptx_module_impl_t *)m;
  ptx_arena_t a = impl->arena;
  free(impl);
  ptx_arena_free(&a);
}

/* Used by the parser: a zeroed module whose arena is returned. */
qiao_ptx_module_t *ptx_module_new(ptx_arena_t **out_arena) {
  ptx_module_impl_t *impl = (ptx_module_impl_t *)calloc(1, sizeof *impl);
  if (!impl) abort();
  *out_arena = &impl->arena;
  return &impl->pub;
}

const qiao_ptx_func_t *qiao_ptx_module_find_func(const qiao_ptx_module_t *m, const char *name) {
  const qiao_ptx_func_t *found = NULL;
  for (uint32_t i = 0; i < m->nfuncs; ++i)
    if (strcmp(m->funcs[i].name, name) == 0 && (!found || m->funcs[i].has_body))
      found = &m->funcs[i];
  return found;
}

const qiao_ptx_regdecl_t *qiao_ptx_func_reg(const qiao_ptx_func_t *f, uint32_t id,
                                            uint32_t *out_n) {
  uint32_t lo = 0, hi = f->nregdecls;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    const qiao_ptx_regdecl_t *d = &f->regdecls[mid];
    if (id < d->base)
      hi = mid;
    else if (id >= d->base + d->count)
      lo = mid + 1;
    else {
      if (out_n) *out_n = id - d->base;
      return d;
    }
  }
  return NULL;
}

/* ---- equality */
static bool str_eq(const char *a, const char *b) {
  if (a == b) return true;
  if (!a || !b) return false;
  return strcmp(a, b) == 0;
}

static bool operand_eq(const qiao_ptx_module_t *ma, const qiao_ptx_operand_t *a,
                       const qiao_ptx_module_t *mb, const qiao_ptx_operand_t *b) {
  if (a->kind != b->kind || a->neg != b->neg || a->comp != b->comp || a->sym_kind != b->sym_kind ||
      a->sreg != b->sreg || a->count != b->count || a->reg != b->reg || a->sym != b->sym ||
      a->imm.u != b->imm.u || !str_eq(a->name, b->name))
    return false;
  if (a->kind == QIAO_PTX_OPND_VEC || a->kind == QIAO_PTX_OPND_LIST ||
      a->kind == QIAO_PTX_OPND_PAIR)
    for (uint32_t i = 0; i < a->count; ++i)
      if (!operand_eq(ma, &ma->operands[a->first + i], mb, &mb->operands[b->first + i]))
        return false;
  return true;
}

static bool instr_eq(const qiao_ptx_module_t *ma, const qiao_ptx_instr_t *a,
                     const qiao_ptx_module_t *mb, const qiao_ptx_instr_t *b) {
  if (a->opcode != b->opcode || a->ntypes != b->ntypes || memcmp(a->types, b->types, 4) != 0 ||
      a->space != b->space || a->space2 != b->space2 || a->rnd != b->rnd || a->cmp != b->cmp ||
      a->opmod != b->opmod || a->scope != b->scope || a->sem != b->sem || a->cache != b->cache ||
      a->part != b->part || a->vec != b->vec || a->layout[0] != b->layout[0] ||
      a->layout[1] != b->layout[1] || a->num != b->num || a->guard_neg != b->guard_neg ||
      a->shape_m != b->shape_m || a->shape_n != b->shape_n || a->shape_k != b->shape_k ||
      a->flags != b->flags || a->guard != b->guard || !str_eq(a->name, b->name) ||
      a->nmods != b->nmods || a->nops != b->nops || a->loc_file != b->loc_file ||
      a->loc_line != b->loc_line || a->loc_col != b->loc_col)
    return false;
  for (uint32_t i = 0; i < a->nmods; ++i)
    if (!str_eq(a->mods[i], b->mods[i])) return false;
  for (uint32_t i = 0; i < a->nops; ++i)
    if (!operand_eq(ma, &a->ops[i], mb, &b->ops[i])) return false;
  return true;
}

static bool var_eq(const qiao_ptx_var_t *a, const qiao_ptx_var_t *b) {
  if (!str_eq(a->name, b->name) || a->space != b->space || a->linkage != b->linkage ||
      a->type != b->type || a->vec != b->vec || a->ndims != b->ndims ||
      a->ptr_space != b->ptr_space || a->is_ptr != b->is_ptr || a->has_init != b->has_init ||
      a->align != b->align || a->ptr_align != b->ptr_align || a->ninit != b->ninit)
    return false;
  for (uint32_t i = 0; i < a->ndims; ++i)
    if (a->dims[i] != b->dims[i]) return false;
  for (uint32_t i = 0; i < a->ninit; ++i)
    if (a->init[i].kind != b->init[i].kind || a->init[i].v.u != b->init[i].v.u ||
        !str_eq(a->init[i].name, b->init[i].name))
      return false;
  return true;
}

static bool func_eq(const qiao_ptx_module_t *ma, const qiao_ptx_func_t *a,
                    const qiao_ptx_module_t *mb, const qiao_ptx_func_t *b) {
  if (!str_eq(a->name, b->name) || a->is_entry != b->is_entry || a->linkage != b->linkage ||
      a->has_body != b->has_body || a->noreturn != b->noreturn ||
      memcmp(a->maxntid, b->maxntid, sizeof a->maxntid) != 0 ||
      memcmp(a->reqntid, b->reqntid, sizeof a->reqntid) != 0 ||
      a->minnctapersm != b->minnctapersm || a->maxnreg != b->maxnreg || a->nrets != b->nrets ||
      a->nparams != b->nparams || a->ninstrs != b->ninstrs || a->nregs != b->nregs ||
      a->nregdecls != b->nregdecls || a->nlocals != b->nlocals || a->nlabels != b->nlabels ||
      a->npragmas != b->npragmas || a->nitems != b->nitems)
    return false;
  for (uint32_t i = 0; i < a->nrets; ++i)
    if (!var_eq(&a->rets[i], &b->rets[i])) return false;
  for (uint32_t i = 0; i < a->nparams; ++i)
    if (!var_eq(&a->params[i], &b->params[i])) return false;
  for (uint32_t i = 0; i < a->nlocals; ++i)
    if (!var_eq(&a->locals[i], &b->locals[i])) return false;
  for (uint32_t i = 0; i < a->nregdecls; ++i) {
    const qiao_ptx_regdecl_t *x = &a->regdecls[i], *y = &b->regdecls[i];
    if (!str_eq(x->name, y->name) || x->type != y->type || x->vec != y->vec ||
        x->is_range != y->is_range || x->count != y->count || x->base != y->base)
      return false;
  }
  for (uint32_t i = 0; i < a->nlabels; ++i)
    if (!str_eq(a->labels[i].name, b->labels[i].name) || a->labels[i].instr != b->labels[i].instr)
      return false;
  for (uint32_t i = 0; i < a->npragmas; ++i)
    if (!str_eq(a->pragmas[i], b->pragmas[i])) return false;
  for (uint32_t i = 0; i < a->nitems; ++i)
    if (a->items[i].kind != b->items[i].kind || a->items[i].index != b->items[i].index)
      return false;
  for (uint32_t i = 0; i < a->ninstrs; ++i)
    if (!instr_eq(ma, &a->instrs[i], mb, &b->instrs[i])) return false;
  return true;
}

bool qiao_ptx_module_equal(const qiao_ptx_module_t *a, const qiao_ptx_module_t *b) {
  if (a->version_major != b->version_major || a->version_minor != b->version_minor ||
      a->sm != b->sm || !str_eq(a->target_arch, b->target_arch) ||
      a->texmode_independent != b->texmode_independent || a->target_debug != b->target_debug ||
      a->map_f64_to_f32 != b->map_f64_to_f32 || a->address_size != b->address_size ||
      a->nvars != b->nvars || a->nfuncs != b->nfuncs || a->nfiles != b->nfiles ||
      a->npragmas != b->npragmas || a->nitems != b->nitems || a->nsections != b->nsections)
    return false;
  for (uint32_t i = 0; i < a->nitems; ++i)
    if (a->items[i].kind != b->items[i].kind || a->items[i].index != b->items[i].index)
      return false;
  for (uint32_t i = 0; i < a->nsections; ++i)
    if (!str_eq(a->sections[i].name, b->sections[i].name) ||
        a->sections[i].len != b->sections[i].len ||
        memcmp(a->sections[i].text, b->sections[i].text, a->sections[i].len) != 0)
      return false;
  for (uint32_t i = 0; i < a->nvars; ++i)
    if (!var_eq(&a->vars[i], &b->vars[i])) return false;
  for (uint32_t i = 0; i < a->nfiles; ++i)
    if (a->files[i].index != b->files[i].index || !str_eq(a->files[i].path, b->files[i].path))
      return false;
  for (uint32_t i = 0; i < a->npragmas; ++i)
    if (!str_eq(a->pragmas[i], b->pragmas[i])) return false;
  for (uint32_t i = 0; i < a->nfuncs; ++i)
    if (!func_eq(a, &a->funcs[i], b, &b->funcs[i])) return false;
  return true;
}
