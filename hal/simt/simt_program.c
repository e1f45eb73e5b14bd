/* Qiao HAL — simt-emu: decoding a PTX module once into a dense program.
 *
 * Layout decisions (docs/simt-emu.md): every .shared variable of the module gets
 * a fixed offset in one static shared segment (the dynamic `extern .shared`
 * array starts after it, 16-byte aligned); every function's .local variables a
 * fixed offset in one per-thread local segment (no recursion); every function's
 * parameters, return values and call-site .param variables a fixed offset in a
 * per-thread, per-call-depth parameter frame. */
#include <stdlib.h>
#include <string.h>

#include "simt_internal.h"

typedef struct vres {
  uint8_t space; /* SP_* */
  uint64_t addr;
  uint64_t size;
} vres_t;

typedef struct dctx {
  simt_program_t *p;
  const qiao_ptx_module_t *m;
  vres_t *mvars;  /* per module var */
  vres_t **lvars; /* per function, per local */
  uint32_t nvops, cap_vops;
  uint32_t ncalls, cap_calls;
} dctx_t;

static uint64_t var_size(const qiao_ptx_var_t *v) {
  uint64_t s = qiao_ptx_type_size((qiao_ptx_type_t)v->type);
  if (v->type == QIAO_PTX_T_PRED) s = 1;
  if (v->vec) s *= v->vec;
  for (uint32_t i = 0; i < v->ndims; ++i)
    s *= v->dims[i];
  return s;
}

static uint64_t var_align(const qiao_ptx_var_t *v) {
  uint64_t a = v->align;
  if (!a) {
    a = qiao_ptx_type_size((qiao_ptx_type_t)v->type);
    if (v->vec) a *= v->vec;
  }
  if (a < 1) a = 1;
  if (a > 256) a = 256;
  return a;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static bool is_dynamic_shared(const qiao_ptx_var_t *v) { return v->ndims > 0 && v->dims[0] == 0; }

static int space_of(uint8_t s, bool entry) {
  switch (s) {
  case QIAO_PTX_SPACE_GLOBAL: return SP_GLOBAL;
  case QIAO_PTX_SPACE_SHARED:
  case QIAO_PTX_SPACE_SHARED_CTA:
  case QIAO_PTX_SPACE_SHARED_CLUSTER: return SP_SHARED;
  case QIAO_PTX_SPACE_LOCAL: return SP_LOCAL;
  case QIAO_PTX_SPACE_PARAM: return entry ? SP_KPARAM : SP_FPARAM;
  case QIAO_PTX_SPACE_CONST: return SP_CONST;
  default: return SP_GENERIC;
  }
}

static bool is_float_type(int t) { return t == QIAO_PTX_T_F32 || t == QIAO_PTX_T_F64; }

static uint64_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static uint64_t f64_bits(double f) {
  uint64_t u;
  memcpy(&u, &f, 8);
  return u;
}

/* Writes an initializer value of type t at dst. */
static void put_init(uint8_t *dst, int t, const qiao_ptx_init_t *in) {
  uint32_t sz = qiao_ptx_type_size((qiao_ptx_type_t)t);
  uint64_t bits = 0;
  if (in->kind == QIAO_PTX_INIT_INT) {
    bits = t == QIAO_PTX_T_F32   ? f32_bits((float)in->v.i)
           : t == QIAO_PTX_T_F64 ? f64_bits((double)in->v.i)
                                 : in->v.u;
  } else if (in->kind == QIAO_PTX_INIT_F32) {
    float f;
    uint32_t u = (uint32_t)in->v.u;
    memcpy(&f, &u, 4);
    bits = t == QIAO_PTX_T_F64 ? f64_bits((double)f) : in->v.u;
  } else if (in->kind == QIAO_PTX_INIT_F64) {
    bits = t == QIAO_PTX_T_F32 ? f32_bits((float)in->v.f) : f64_bits(in->v.f);
  } else {
    return; /* symbol initializers are refused in layout() */
  }
  memcpy(dst, &bits, sz > 8 ? 8 : sz);
}

static qiao_status_t layout(dctx_t *c) {
  simt_program_t *p = c->p;
  const qiao_ptx_module_t *m = c->m;
  c->mvars = calloc(m->nvars + 1, sizeof(vres_t));
  c->lvars = calloc(m->nfuncs + 1, sizeof(vres_t *));
  if (!c->mvars || !c->lvars) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  uint64_t sh = 0, gl = 0, co = 0, lo = 0;
  /* static shared, globals, consts */
  for (uint32_t i = 0; i < m->nvars; ++i) {
    const qiao_ptx_var_t *v = &m->vars[i];
    int sp = space_of(v->space, true);
    vres_t *r = &c->mvars[i];
    r->space = (uint8_t)sp;
    r->size = var_size(v);
    uint64_t a = var_align(v);
    if (sp == SP_SHARED && !is_dynamic_shared(v)) {
      sh = align_up(sh, a);
      r->addr = sh;
      sh += r->size;
    } else if (sp == SP_GLOBAL) {
      gl = align_up(gl, a);
      r->addr = gl;
      gl += r->size;
    } else if (sp == SP_CONST) {
      co = align_up(co, a);
      r->addr = co;
      co += r->size;
    }
  }
  for (uint32_t fi = 0; fi < m->nfuncs; ++fi) {
    const qiao_ptx_func_t *f = &m->funcs[fi];
    c->lvars[fi] = calloc(f->nlocals + 1, sizeof(vres_t));
    if (!c->lvars[fi]) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    for (uint32_t i = 0; i < f->nlocals; ++i) {
      const qiao_ptx_var_t *v = &f->locals[i];
      vres_t *r = &c->lvars[fi][i];
      r->space = (uint8_t)space_of(v->space, false);
      r->size = var_size(v);
      uint64_t a = var_align(v);
      if (r->space == SP_SHARED && !is_dynamic_shared(v)) {
        sh = align_up(sh, a);
        r->addr = sh;
        sh += r->size;
      } else if (r->space == SP_LOCAL) {
        lo = align_up(lo, a);
        r->addr = lo;
        lo += r->size;
      } else if (r->space == SP_CONST) {
        co = align_up(co, a);
        r->addr = co;
        co += r->size;
      } else if (r->space == SP_GLOBAL) {
        gl = align_up(gl, a);
        r->addr = gl;
        gl += r->size;
      }
    }
  }
  if (sh > 0xffffffffu || lo > (1u << 24))
    return qiao_status_make(QIAO_UNSUPPORTED,
                            "static shared (%llu bytes) or local (%llu bytes) "
                            "memory too large",
                            (unsigned long long)sh, (unsigned long long)lo);
  p->shared_static = (uint32_t)sh;
  p->dyn_shared_align = 16;
  p->local_size = (uint32_t)align_up(lo, 16);
  uint64_t dyn_base = align_up(sh, 16);
  p->global_size = gl;
  p->const_size = co;
  p->global_seg = calloc(gl ? gl : 1, 1);
  p->const_seg = calloc(co ? co : 1, 1);
  if (!p->global_seg || !p->const_seg)
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  /* second pass: dynamic shared bases, global addresses, initializers */
  for (uint32_t i = 0; i < m->nvars; ++i) {
    const qiao_ptx_var_t *v = &m->vars[i];
    vres_t *r = &c->mvars[i];
    if (r->space == SP_SHARED && is_dynamic_shared(v)) r->addr = dyn_base;
    uint8_t *seg = r->space == SP_GLOBAL  ? p->global_seg
                   : r->space == SP_CONST ? p->const_seg
                                          : NULL;
    if (seg && v->has_init) {
      uint32_t es = qiao_ptx_type_size((qiao_ptx_type_t)v->type);
      for (uint32_t k = 0; k < v->ninit && (uint64_t)(k + 1) * es <= r->size; ++k)
        put_init(seg + r->addr + (uint64_t)k * es, v->type, &v->init[k]);
    }
    if (r->space == SP_GLOBAL) r->addr += (uint64_t)(uintptr_t)p->global_seg;
  }
  /* initializers holding addresses: sym (its space's address) or generic(sym) */
  for (uint32_t i = 0; i < m->nvars; ++i) {
    const qiao_ptx_var_t *v = &m->vars[i];
    vres_t *r = &c->mvars[i];
    uint8_t *seg = r->space == SP_GLOBAL  ? (uint8_t *)(uintptr_t)(r->addr)
                   : r->space == SP_CONST ? p->const_seg + r->addr
                                          : NULL;
    if (!seg || !v->has_init) continue;
    uint32_t es = qiao_ptx_type_size((qiao_ptx_type_t)v->type);
    for (uint32_t k = 0; k < v->ninit && (uint64_t)(k + 1) * es <= r->size; ++k) {
      const qiao_ptx_init_t *in = &v->init[k];
      if (in->kind != QIAO_PTX_INIT_SYM && in->kind != QIAO_PTX_INIT_GENERIC) continue;
      int32_t target = -1;
      for (uint32_t t = 0; t < m->nvars; ++t)
        if (in->name && m->vars[t].name && !strcmp(m->vars[t].name, in->name)) target = (int32_t)t;
      if (target < 0 || es < 4)
        return qiao_status_make(QIAO_UNSUPPORTED,
                                "simt-emu: variable '%s' (PTX line %d): initializer '%s' is not "
                                "a module variable",
                                v->name, v->src_line, in->name ? in->name : "?");
      const vres_t *tr = &c->mvars[target];
      uint64_t a = tr->addr + in->v.u;
      if (in->kind == QIAO_PTX_INIT_GENERIC)
        a += tr->space == SP_SHARED ? SIMT_WIN_SHARED : tr->space == SP_CONST ? SIMT_WIN_CONST : 0;
      memcpy(seg + (uint64_t)k * es, &a, es > 8 ? 8 : es);
    }
  }
  for (uint32_t fi = 0; fi < m->nfuncs; ++fi) {
    const qiao_ptx_func_t *f = &m->funcs[fi];
    for (uint32_t i = 0; i < f->nlocals; ++i) {
      vres_t *r = &c->lvars[fi][i];
      if (r->space == SP_SHARED && is_dynamic_shared(&f->locals[i])) r->addr = dyn_base;
      if (r->space == SP_GLOBAL) r->addr += (uint64_t)(uintptr_t)p->global_seg;
    }
  }
  /* parameter frames and kernel parameter buffers */
  uint32_t fmax = 0;
  for (uint32_t fi = 0; fi < m->nfuncs; ++fi) {
    const qiao_ptx_func_t *f = &m->funcs[fi];
    sfunc_t *sf = &p->funcs[fi];
    sf->f = f;
    sf->kparam_off = calloc(f->nparams + 1, sizeof(uint32_t));
    sf->kparam_size_each = calloc(f->nparams + 1, sizeof(uint32_t));
    sf->fparam_off = calloc(f->nparams + 1, sizeof(uint32_t));
    sf->fret_off = calloc(f->nrets + 1, sizeof(uint32_t));
    if (!sf->kparam_off || !sf->kparam_size_each || !sf->fparam_off || !sf->fret_off)
      return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    uint64_t off = 0;
    for (uint32_t i = 0; i < f->nparams; ++i) {
      const qiao_ptx_var_t *v = &f->params[i];
      off = align_up(off, var_align(v));
      sf->kparam_off[i] = (uint32_t)off;
      sf->fparam_off[i] = (uint32_t)off;
      sf->kparam_size_each[i] = (uint32_t)var_size(v);
      off += var_size(v);
    }
    sf->kparam_size = (uint32_t)align_up(off, 8);
    if (!f->is_entry) {
      for (uint32_t i = 0; i < f->nrets; ++i) {
        const qiao_ptx_var_t *v = &f->rets[i];
        off = align_up(off, var_align(v));
        sf->fret_off[i] = (uint32_t)off;
        off += var_size(v);
      }
    } else {
      off = 0; /* an entry's frame holds only its call-site .param variables */
    }
    for (uint32_t i = 0; i < f->nlocals; ++i) {
      vres_t *r = &c->lvars[fi][i];
      if (f->locals[i].space != QIAO_PTX_SPACE_PARAM) continue;
      r->space = SP_FPARAM;
      off = align_up(off, var_align(&f->locals[i]));
      r->addr = off;
      off += r->size;
    }
    if (off > (1u << 20))
      return qiao_status_make(QIAO_UNSUPPORTED, "function '%s': parameter frame too large",
                              f->name);
    if (off > fmax) fmax = (uint32_t)off;
  }
  p->fparam_size = (uint32_t)align_up(fmax, 16);
  return NULL;
}

static int32_t push_vops(dctx_t *c, uint32_t n) {
  if (c->nvops + n > c->cap_vops) {
    uint32_t cap = c->cap_vops ? c->cap_vops * 2 : 256;
    while (cap < c->nvops + n)
      cap *= 2;
    sop_t *v = realloc(c->p->vops, cap * sizeof(sop_t));
    if (!v) return -1;
    c->p->vops = v;
    c->cap_vops = cap;
  }
  int32_t at = (int32_t)c->nvops;
  memset(c->p->vops + at, 0, n * sizeof(sop_t));
  c->nvops += n;
  c->p->nvops = c->nvops;
  return at;
}

/* Resolves a symbol of function fi to its space and address. */
static bool resolve_sym(dctx_t *c, uint32_t fi, int kind, int32_t sym, vres_t *out) {
  const qiao_ptx_func_t *f = &c->m->funcs[fi];
  const sfunc_t *sf = &c->p->funcs[fi];
  switch (kind) {
  case QIAO_PTX_SYM_VAR:
    if (sym < 0 || (uint32_t)sym >= c->m->nvars) return false;
    *out = c->mvars[sym];
    return true;
  case QIAO_PTX_SYM_LOCAL:
    if (sym < 0 || (uint32_t)sym >= f->nlocals) return false;
    *out = c->lvars[fi][sym];
    return true;
  case QIAO_PTX_SYM_PARAM:
    if (sym < 0 || (uint32_t)sym >= f->nparams) return false;
    out->space = f->is_entry ? SP_KPARAM : SP_FPARAM;
    out->addr = f->is_entry ? sf->kparam_off[sym] : sf->fparam_off[sym];
    out->size = var_size(&f->params[sym]);
    return true;
  case QIAO_PTX_SYM_RET:
    if (sym < 0 || (uint32_t)sym >= f->nrets) return false;
    out->space = SP_FPARAM;
    out->addr = sf->fret_off[sym];
    out->size = var_size(&f->rets[sym]);
    return true;
  default: return false;
  }
}

/* Decodes one operand; ft is the float type its immediates take (F32/F64/NONE). */
static const char *decode_op(dctx_t *c, uint32_t fi, const qiao_ptx_operand_t *o, int ft,
                             sop_t *out) {
  memset(out, 0, sizeof *out);
  out->r = -1;
  out->neg = o->neg;
  switch (o->kind) {
  case QIAO_PTX_OPND_REG:
    if (o->comp) return "vector registers (%r.x) are not supported";
    out->k = K_REG;
    out->r = o->reg;
    return NULL;
  case QIAO_PTX_OPND_SREG:
    out->k = K_SREG;
    out->sreg = o->sreg;
    out->comp = o->comp ? (uint8_t)(o->comp - 1) : 0;
    out->v = (uint64_t)o->imm.i;
    return NULL;
  case QIAO_PTX_OPND_IMM_INT:
    out->k = K_IMM;
    out->v = o->imm.u;
    if (ft == QIAO_PTX_T_F32) out->v = f32_bits((float)o->imm.i);
    if (ft == QIAO_PTX_T_F64) out->v = f64_bits((double)o->imm.i);
    return NULL;
  case QIAO_PTX_OPND_IMM_F32: {
    out->k = K_IMM;
    out->v = o->imm.u & 0xffffffffu;
    if (ft == QIAO_PTX_T_F64) {
      float f;
      uint32_t u = (uint32_t)o->imm.u;
      memcpy(&f, &u, 4);
      out->v = f64_bits((double)f);
    }
    return NULL;
  }
  case QIAO_PTX_OPND_IMM_F64:
    out->k = K_IMM;
    out->v = ft == QIAO_PTX_T_F32 ? f32_bits((float)o->imm.f) : f64_bits(o->imm.f);
    return NULL;
  case QIAO_PTX_OPND_SYM: {
    if (o->sym_kind == QIAO_PTX_SYM_FUNC) {
      out->k = K_FUNC;
      out->r = o->sym;
      return NULL;
    }
    if (o->sym_kind == QIAO_PTX_SYM_LABEL) {
      out->k = K_IMM;
      out->v = c->p->funcs[fi].start + (uint64_t)o->sym;
      return NULL;
    }
    vres_t r;
    if (!resolve_sym(c, fi, o->sym_kind, o->sym, &r)) return "unresolved symbol";
    out->k = K_IMM;
    out->space = r.space;
    out->size = (int32_t)r.size;
    out->v = r.addr + (uint64_t)o->imm.i;
    return NULL;
  }
  case QIAO_PTX_OPND_ADDR:
    out->k = K_ADDR;
    out->v = (uint64_t)o->imm.i;
    if (o->reg >= 0) {
      out->r = o->reg;
    } else if (o->sym_kind) {
      vres_t r;
      if (!resolve_sym(c, fi, o->sym_kind, o->sym, &r)) return "unresolved symbol in an address";
      out->space = r.space;
      out->v += r.addr;
    }
    return NULL;
  case QIAO_PTX_OPND_VEC:
  case QIAO_PTX_OPND_LIST:
  case QIAO_PTX_OPND_PAIR: {
    uint32_t n = o->kind == QIAO_PTX_OPND_PAIR ? 2 : o->count;
    int32_t at = push_vops(c, n);
    if (at < 0) return "out of memory";
    const qiao_ptx_operand_t *el = qiao_ptx_operand_elems(c->m, o);
    for (uint32_t i = 0; i < n; ++i) {
      sop_t tmp;
      const char *e = decode_op(c, fi, &el[i], ft, &tmp);
      if (e) return e;
      c->p->vops[at + (int32_t)i] = tmp;
    }
    out->k = o->kind == QIAO_PTX_OPND_LIST ? K_LIST : K_VEC;
    out->r = at;
    out->n = (uint16_t)n;
    return NULL;
  }
  case QIAO_PTX_OPND_SINK: out->k = K_SINK; return NULL;
  default: return "unknown operand kind";
  }
}

static int stat_class(const sinst_t *d) {
  switch (d->op) {
  case QIAO_PTX_OP_BRA:
  case QIAO_PTX_OP_CALL:
  case QIAO_PTX_OP_RET:
  case QIAO_PTX_OP_EXIT:
  case QIAO_PTX_OP_TRAP: return C_CONTROL;
  case QIAO_PTX_OP_LD:
  case QIAO_PTX_OP_LDU:
  case QIAO_PTX_OP_ST:
    switch (d->space) {
    case SP_GLOBAL: return C_MEM_GLOBAL;
    case SP_SHARED: return C_MEM_SHARED;
    case SP_LOCAL: return C_MEM_LOCAL;
    case SP_KPARAM:
    case SP_FPARAM: return C_MEM_PARAM;
    case SP_CONST: return C_MEM_CONST;
    default: return C_MEM_GENERIC;
    }
  case QIAO_PTX_OP_MMA:
  case QIAO_PTX_OP_LDMATRIX:
  case QIAO_PTX_OP_STMATRIX:
  case QIAO_PTX_OP_WMMA_LOAD:
  case QIAO_PTX_OP_WMMA_STORE:
  case QIAO_PTX_OP_WMMA_MMA: return C_TENSOR;
  case QIAO_PTX_OP_SHFL:
  case QIAO_PTX_OP_VOTE:
  case QIAO_PTX_OP_REDUX:
  case QIAO_PTX_OP_MATCH:
  case QIAO_PTX_OP_ACTIVEMASK:
  case QIAO_PTX_OP_ELECT: return C_WARP;
  case QIAO_PTX_OP_BAR:
  case QIAO_PTX_OP_BARRIER:
  case QIAO_PTX_OP_MEMBAR:
  case QIAO_PTX_OP_FENCE:
  case QIAO_PTX_OP_MBARRIER: return C_BARRIER;
  case QIAO_PTX_OP_ATOM:
  case QIAO_PTX_OP_RED: return C_ATOMIC;
  case QIAO_PTX_OP_CP_ASYNC:
  case QIAO_PTX_OP_CP_ASYNC_COMMIT_GROUP:
  case QIAO_PTX_OP_CP_ASYNC_WAIT_GROUP:
  case QIAO_PTX_OP_CP_ASYNC_WAIT_ALL:
  case QIAO_PTX_OP_CP_ASYNC_MBARRIER_ARRIVE: return C_ASYNC;
  default: return C_ARITH;
  }
}

/* The tensor-core pipe of an mma/wmma by its input types. */
static int tensor_pipe(const sinst_t *d) {
  const uint8_t ts[3] = {d->t2, d->t3, d->t};
  for (int i = 0; i < 3; ++i)
    switch (ts[i]) {
    case QIAO_PTX_T_BF16:
    case QIAO_PTX_T_BF16X2: return W_FLOP_BF16;
    case QIAO_PTX_T_TF32: return W_FLOP_TF32;
    case QIAO_PTX_T_E4M3:
    case QIAO_PTX_T_E5M2:
    case QIAO_PTX_T_E4M3X2:
    case QIAO_PTX_T_E5M2X2: return W_FLOP_F8;
    case QIAO_PTX_T_S8:
    case QIAO_PTX_T_U8:
    case QIAO_PTX_T_S4:
    case QIAO_PTX_T_U4: return W_FLOP_I8;
    default: break;
    }
  return W_FLOP_F16;
}

static bool is_flop_type(int t) {
  return t == QIAO_PTX_T_F16 || t == QIAO_PTX_T_F16X2 || t == QIAO_PTX_T_BF16 ||
         t == QIAO_PTX_T_BF16X2 || t == QIAO_PTX_T_F32 || t == QIAO_PTX_T_F64;
}

/* The work of one thread executing d (docs/cuda-model.md): floating-point
 * arithmetic counts FLOPs (fma/mad 2, others 1, packed x2 doubled) on the
 * SIMT pipe; mma/wmma 2·m·n·k / 32 on its tensor-core pipe; ld/st/atom/red
 * in the global space and cp.async their bytes. Generic-space accesses are
 * not counted (their space is known only at run time). */
static void work_of(const qiao_ptx_instr_t *in, sinst_t *d) {
  d->wcls = W_NONE;
  d->work = 0;
  switch (d->op) {
  case QIAO_PTX_OP_MMA:
  case QIAO_PTX_OP_WMMA_MMA: {
    uint32_t m = d->shape_m, n = d->shape_n, k = d->shape_k;
    uint64_t f = (uint64_t)2 * m * n * k / 32;
    if (!f || f > 0xffff) return;
    d->wcls = (uint8_t)tensor_pipe(d);
    d->work = (uint16_t)f;
    return;
  }
  case QIAO_PTX_OP_LD:
  case QIAO_PTX_OP_LDU:
  case QIAO_PTX_OP_ST:
  case QIAO_PTX_OP_ATOM:
  case QIAO_PTX_OP_RED: {
    if (d->space != SP_GLOBAL) return;
    uint32_t b = qiao_ptx_type_size((qiao_ptx_type_t)d->t) * (d->vec ? d->vec : 1);
    if (!b || b > 0xffff) return;
    d->wcls = W_GLOBAL_BYTES;
    d->work = (uint16_t)b;
    return;
  }
  case QIAO_PTX_OP_WMMA_LOAD:
  case QIAO_PTX_OP_WMMA_STORE: {
    /* a fragment of the warp's tile: m·k (a), k·n (b) or m·n (c, d) elements over 32 threads */
    if (d->space != SP_GLOBAL) return;
    uint32_t m = d->shape_m, n = d->shape_n, k = d->shape_k;
    uint64_t el = d->sub == 'a'   ? (uint64_t)m * k
                  : d->sub == 'b' ? (uint64_t)k * n
                                  : (uint64_t)m * n;
    uint64_t b = el * qiao_ptx_type_size((qiao_ptx_type_t)d->t) / 32;
    if (!b || b > 0xffff) return;
    d->wcls = W_GLOBAL_BYTES;
    d->work = (uint16_t)b;
    return;
  }
  case QIAO_PTX_OP_CP_ASYNC: {
    if (in->nops < 3 || in->ops[2].kind != QIAO_PTX_OPND_IMM_INT) return;
    int64_t b = in->ops[2].imm.i;
    if (b <= 0 || b > 0xffff) return;
    d->wcls = W_GLOBAL_BYTES;
    d->work = (uint16_t)b;
    return;
  }
  case QIAO_PTX_OP_FMA:
  case QIAO_PTX_OP_MAD:
  case QIAO_PTX_OP_ADD:
  case QIAO_PTX_OP_SUB:
  case QIAO_PTX_OP_MUL:
  case QIAO_PTX_OP_DIV:
  case QIAO_PTX_OP_MIN:
  case QIAO_PTX_OP_MAX:
  case QIAO_PTX_OP_RCP:
  case QIAO_PTX_OP_SQRT:
  case QIAO_PTX_OP_RSQRT:
  case QIAO_PTX_OP_SIN:
  case QIAO_PTX_OP_COS:
  case QIAO_PTX_OP_LG2:
  case QIAO_PTX_OP_EX2:
  case QIAO_PTX_OP_TANH: {
    if (!is_flop_type(d->t)) return;
    int f = d->op == QIAO_PTX_OP_FMA || d->op == QIAO_PTX_OP_MAD ? 2 : 1;
    if (d->t == QIAO_PTX_T_F16X2 || d->t == QIAO_PTX_T_BF16X2) f *= 2;
    d->wcls = W_FLOP_SIMT;
    d->work = (uint16_t)f;
    return;
  }
  default: return;
  }
}

static bool has_mod(const qiao_ptx_instr_t *in, const char *s) {
  for (uint32_t i = 0; i < in->nmods; ++i)
    if (!strcmp(in->mods[i], s)) return true;
  return false;
}

/* The opcodes the interpreter implements (types are checked when executed). */
static bool op_supported(int op) {
  switch (op) {
  case QIAO_PTX_OP_ADD:
  case QIAO_PTX_OP_ADDC:
  case QIAO_PTX_OP_SUB:
  case QIAO_PTX_OP_SUBC:
  case QIAO_PTX_OP_MUL:
  case QIAO_PTX_OP_MAD:
  case QIAO_PTX_OP_MUL24:
  case QIAO_PTX_OP_MAD24:
  case QIAO_PTX_OP_FMA:
  case QIAO_PTX_OP_DIV:
  case QIAO_PTX_OP_REM:
  case QIAO_PTX_OP_ABS:
  case QIAO_PTX_OP_NEG:
  case QIAO_PTX_OP_MIN:
  case QIAO_PTX_OP_MAX:
  case QIAO_PTX_OP_POPC:
  case QIAO_PTX_OP_CLZ:
  case QIAO_PTX_OP_BFIND:
  case QIAO_PTX_OP_BREV:
  case QIAO_PTX_OP_BFE:
  case QIAO_PTX_OP_BFI:
  case QIAO_PTX_OP_RCP:
  case QIAO_PTX_OP_SQRT:
  case QIAO_PTX_OP_RSQRT:
  case QIAO_PTX_OP_SIN:
  case QIAO_PTX_OP_COS:
  case QIAO_PTX_OP_LG2:
  case QIAO_PTX_OP_EX2:
  case QIAO_PTX_OP_TANH:
  case QIAO_PTX_OP_TESTP:
  case QIAO_PTX_OP_COPYSIGN:
  case QIAO_PTX_OP_SET:
  case QIAO_PTX_OP_SETP:
  case QIAO_PTX_OP_SELP:
  case QIAO_PTX_OP_AND:
  case QIAO_PTX_OP_OR:
  case QIAO_PTX_OP_XOR:
  case QIAO_PTX_OP_NOT:
  case QIAO_PTX_OP_CNOT:
  case QIAO_PTX_OP_LOP3:
  case QIAO_PTX_OP_SHL:
  case QIAO_PTX_OP_SHR:
  case QIAO_PTX_OP_SHF:
  case QIAO_PTX_OP_PRMT:
  case QIAO_PTX_OP_MOV:
  case QIAO_PTX_OP_CVT:
  case QIAO_PTX_OP_CVTA:
  case QIAO_PTX_OP_LD:
  case QIAO_PTX_OP_LDU:
  case QIAO_PTX_OP_ST:
  case QIAO_PTX_OP_PREFETCH:
  case QIAO_PTX_OP_PREFETCHU:
  case QIAO_PTX_OP_ISSPACEP:
  case QIAO_PTX_OP_CP_ASYNC_COMMIT_GROUP:
  case QIAO_PTX_OP_CP_ASYNC_WAIT_GROUP:
  case QIAO_PTX_OP_CP_ASYNC_WAIT_ALL:
  case QIAO_PTX_OP_CP_ASYNC:
  case QIAO_PTX_OP_BRA:
  case QIAO_PTX_OP_CALL:
  case QIAO_PTX_OP_RET:
  case QIAO_PTX_OP_EXIT:
  case QIAO_PTX_OP_TRAP:
  case QIAO_PTX_OP_NANOSLEEP:
  case QIAO_PTX_OP_PMEVENT:
  case QIAO_PTX_OP_BAR:
  case QIAO_PTX_OP_BARRIER:
  case QIAO_PTX_OP_MEMBAR:
  case QIAO_PTX_OP_FENCE:
  case QIAO_PTX_OP_ATOM:
  case QIAO_PTX_OP_RED:
  case QIAO_PTX_OP_REDUX:
  case QIAO_PTX_OP_VOTE:
  case QIAO_PTX_OP_MATCH:
  case QIAO_PTX_OP_ACTIVEMASK:
  case QIAO_PTX_OP_SHFL:
  case QIAO_PTX_OP_ELECT:
  case QIAO_PTX_OP_MMA:
  case QIAO_PTX_OP_WMMA_LOAD:
  case QIAO_PTX_OP_WMMA_STORE:
  case QIAO_PTX_OP_WMMA_MMA:
  case QIAO_PTX_OP_LDMATRIX:
  case QIAO_PTX_OP_STMATRIX:
  case QIAO_PTX_OP_GRIDDEPCONTROL:
  case QIAO_PTX_OP_SETMAXNREG:
  case QIAO_PTX_OP_DP4A:
  case QIAO_PTX_OP_DP2A:
  case QIAO_PTX_OP_SAD:
  case QIAO_PTX_OP_MBARRIER:
  case QIAO_PTX_OP_CP_ASYNC_MBARRIER_ARRIVE: return true;
  default: return false;
  }
}

static qiao_status_t decode_call(dctx_t *c, uint32_t fi, const qiao_ptx_instr_t *in, sinst_t *d) {
  int fpos = -1;
  for (uint32_t i = 0; i < in->nops; ++i)
    if (in->ops[i].kind == QIAO_PTX_OPND_SYM && in->ops[i].sym_kind == QIAO_PTX_SYM_FUNC) {
      fpos = (int)i;
      break;
    }
  if (fpos < 0) {
    d->unsupported = "indirect calls (call through a register) are not supported";
    return NULL;
  }
  const qiao_ptx_operand_t *rets =
      fpos > 0 && in->ops[fpos - 1].kind == QIAO_PTX_OPND_LIST ? &in->ops[fpos - 1] : NULL;
  const qiao_ptx_operand_t *args =
      (uint32_t)fpos + 1 < in->nops && in->ops[fpos + 1].kind == QIAO_PTX_OPND_LIST
          ? &in->ops[fpos + 1]
          : NULL;
  int32_t callee = in->ops[fpos].sym;
  const qiao_ptx_func_t *cf = &c->m->funcs[callee];
  if (!cf->has_body) {
    d->unsupported = "call of a function without a body (extern / builtin)";
    return NULL;
  }
  uint32_t na = args ? args->count : 0, nr = rets ? rets->count : 0;
  if (na != cf->nparams || nr != cf->nrets) {
    d->unsupported = "call with an argument count that does not match the callee";
    return NULL;
  }
  if (c->ncalls == c->cap_calls) {
    uint32_t cap = c->cap_calls ? c->cap_calls * 2 : 16;
    scall_t *v = realloc(c->p->calls, cap * sizeof(scall_t));
    if (!v) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    c->p->calls = v;
    c->cap_calls = cap;
  }
  scall_t *sc = &c->p->calls[c->ncalls];
  memset(sc, 0, sizeof *sc);
  c->p->ncalls = ++c->ncalls;
  sc->callee = callee;
  sc->nargs = na;
  sc->nrets = nr;
  uint32_t *buf = calloc(3 * (na + nr) + 1, 2 * sizeof(uint32_t));
  if (!buf) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  sc->arg_src = buf;
  sc->arg_dst = buf + na;
  sc->arg_size = buf + 2 * na;
  sc->ret_src = buf + 3 * na;
  sc->ret_dst = sc->ret_src + nr;
  sc->ret_size = sc->ret_src + 2 * nr;
  const sfunc_t *cs = &c->p->funcs[callee];
  for (uint32_t i = 0; i < na; ++i) {
    const qiao_ptx_operand_t *el = &qiao_ptx_operand_elems(c->m, args)[i];
    vres_t r;
    if (el->kind != QIAO_PTX_OPND_SYM || !resolve_sym(c, fi, el->sym_kind, el->sym, &r) ||
        r.space != SP_FPARAM) {
      d->unsupported = "call arguments other than .param variables are not supported";
      return NULL;
    }
    sc->arg_src[i] = (uint32_t)r.addr;
    sc->arg_dst[i] = cs->fparam_off[i];
    uint64_t ps = var_size(&cf->params[i]);
    sc->arg_size[i] = (uint32_t)(r.size < ps ? r.size : ps);
  }
  for (uint32_t i = 0; i < nr; ++i) {
    const qiao_ptx_operand_t *el = &qiao_ptx_operand_elems(c->m, rets)[i];
    vres_t r;
    if (el->kind != QIAO_PTX_OPND_SYM || !resolve_sym(c, fi, el->sym_kind, el->sym, &r) ||
        r.space != SP_FPARAM) {
      d->unsupported = "call return values other than .param variables are not supported";
      return NULL;
    }
    sc->ret_dst[i] = (uint32_t)r.addr;
    sc->ret_src[i] = cs->fret_off[i];
    uint64_t ps = var_size(&cf->rets[i]);
    sc->ret_size[i] = (uint32_t)(r.size < ps ? r.size : ps);
  }
  d->target = c->ncalls - 1;
  return NULL;
}

/* The fewest operands each opcode's implementation reads. */
static int min_operands(const sinst_t *d) {
  switch (d->op) {
  case QIAO_PTX_OP_MOV:
  case QIAO_PTX_OP_NOT:
  case QIAO_PTX_OP_CNOT:
  case QIAO_PTX_OP_ABS:
  case QIAO_PTX_OP_NEG:
  case QIAO_PTX_OP_POPC:
  case QIAO_PTX_OP_CLZ:
  case QIAO_PTX_OP_BREV:
  case QIAO_PTX_OP_BFIND:
  case QIAO_PTX_OP_CVTA:
  case QIAO_PTX_OP_RCP:
  case QIAO_PTX_OP_SQRT:
  case QIAO_PTX_OP_RSQRT:
  case QIAO_PTX_OP_SIN:
  case QIAO_PTX_OP_COS:
  case QIAO_PTX_OP_LG2:
  case QIAO_PTX_OP_EX2:
  case QIAO_PTX_OP_TANH:
  case QIAO_PTX_OP_TESTP:
  case QIAO_PTX_OP_ISSPACEP:
  case QIAO_PTX_OP_LD:
  case QIAO_PTX_OP_LDU:
  case QIAO_PTX_OP_ST:
  case QIAO_PTX_OP_RED:
  case QIAO_PTX_OP_LDMATRIX:
  case QIAO_PTX_OP_STMATRIX:
  case QIAO_PTX_OP_WMMA_LOAD:
  case QIAO_PTX_OP_WMMA_STORE:
  case QIAO_PTX_OP_ELECT: return 2;
  case QIAO_PTX_OP_CVT:
    return (d->t == QIAO_PTX_T_F16X2 || d->t == QIAO_PTX_T_BF16X2 || d->t == QIAO_PTX_T_E4M3X2 ||
            d->t == QIAO_PTX_T_E5M2X2) &&
                   d->t2 == QIAO_PTX_T_F32
               ? 3
               : 2;
  case QIAO_PTX_OP_ACTIVEMASK: return 1;
  case QIAO_PTX_OP_ADD:
  case QIAO_PTX_OP_ADDC:
  case QIAO_PTX_OP_SUB:
  case QIAO_PTX_OP_SUBC:
  case QIAO_PTX_OP_MUL:
  case QIAO_PTX_OP_MUL24:
  case QIAO_PTX_OP_DIV:
  case QIAO_PTX_OP_REM:
  case QIAO_PTX_OP_MIN:
  case QIAO_PTX_OP_MAX:
  case QIAO_PTX_OP_AND:
  case QIAO_PTX_OP_OR:
  case QIAO_PTX_OP_XOR:
  case QIAO_PTX_OP_SHL:
  case QIAO_PTX_OP_SHR:
  case QIAO_PTX_OP_COPYSIGN:
  case QIAO_PTX_OP_SETP:
  case QIAO_PTX_OP_SET:
  case QIAO_PTX_OP_ATOM:
  case QIAO_PTX_OP_VOTE:
  case QIAO_PTX_OP_REDUX:
  case QIAO_PTX_OP_MATCH:
  case QIAO_PTX_OP_CP_ASYNC:
    return d->op == QIAO_PTX_OP_ATOM && d->opmod == QIAO_PTX_OPM_CAS ? 4 : 3;
  case QIAO_PTX_OP_MAD:
  case QIAO_PTX_OP_MAD24:
  case QIAO_PTX_OP_FMA:
  case QIAO_PTX_OP_SELP:
  case QIAO_PTX_OP_BFE:
  case QIAO_PTX_OP_SHF:
  case QIAO_PTX_OP_PRMT:
  case QIAO_PTX_OP_DP4A:
  case QIAO_PTX_OP_DP2A:
  case QIAO_PTX_OP_SAD:
  case QIAO_PTX_OP_MMA:
  case QIAO_PTX_OP_WMMA_MMA: return 4;
  case QIAO_PTX_OP_BFI:
  case QIAO_PTX_OP_LOP3:
  case QIAO_PTX_OP_SHFL: return 5;
  case QIAO_PTX_OP_MBARRIER: return d->sub == 7 ? 1 : (d->sub == 4 || d->sub == 5) ? 3 : 2;
  case QIAO_PTX_OP_BRA:
  case QIAO_PTX_OP_CP_ASYNC_MBARRIER_ARRIVE: return 1;
  default: return 0;
  }
}

static qiao_status_t decode_instr(dctx_t *c, uint32_t fi, const qiao_ptx_instr_t *in, sinst_t *d) {
  const qiao_ptx_func_t *f = &c->m->funcs[fi];
  memset(d, 0, sizeof *d);
  d->op = in->opcode;
  d->t = in->ntypes > 0 ? in->types[0] : 0;
  d->t2 = in->ntypes > 1 ? in->types[1] : 0;
  d->t3 = in->ntypes > 2 ? in->types[2] : 0;
  d->ntypes_c = in->ntypes > 3 ? in->types[3] : 0;
  d->space = (uint8_t)space_of(in->space, f->is_entry);
  d->rnd = in->rnd;
  d->cmp = in->cmp;
  d->opmod = in->opmod;
  d->part = in->part;
  d->vec = in->vec;
  d->num = in->num;
  d->flags = in->flags;
  d->guard = in->guard;
  d->guard_neg = in->guard_neg;
  d->layout0 = in->layout[0];
  d->layout1 = in->layout[1];
  d->shape_m = in->shape_m;
  d->shape_n = in->shape_n;
  d->shape_k = in->shape_k;
  d->func = (int32_t)fi;
  d->line = in->src_line;
  d->name = in->name;
  d->src = in;
  if (in->loc_line)
    for (uint32_t i = 0; i < c->m->nfiles; ++i)
      if (c->m->files[i].index == in->loc_file) {
        d->loc_path = c->m->files[i].path;
        d->loc_line = in->loc_line;
      }
  d->nops = (uint8_t)(in->nops > 6 ? 6 : in->nops);
  if (!op_supported(in->opcode)) {
    d->unsupported = "unsupported instruction";
    return NULL;
  }
  if (in->nops > 6) {
    d->unsupported = "too many operands";
    return NULL;
  }
  if (d->op == QIAO_PTX_OP_WMMA_LOAD || d->op == QIAO_PTX_OP_WMMA_STORE) {
    d->sub = has_mod(in, "a") ? 'a' : has_mod(in, "b") ? 'b' : has_mod(in, "c") ? 'c' : 'd';
  }
  if (d->op == QIAO_PTX_OP_PRMT) {
    static const char *const modes[] = {"f4e", "b4e", "rc8", "ecl", "ecr", "rc16"};
    for (int i = 0; i < 6; ++i)
      if (has_mod(in, modes[i])) d->sub = (uint8_t)(i + 1);
  }
  if (d->op == QIAO_PTX_OP_BAR && has_mod(in, "warp")) d->sub = 'w';
  if (d->op == QIAO_PTX_OP_MBARRIER) {
    static const char *const k[] = {"init",     "arrive",        "arrive_drop", "test_wait",
                                    "try_wait", "pending_count", "inval"};
    for (int i = 0; i < 7; ++i)
      if (has_mod(in, k[i])) d->sub = (uint8_t)(i + 1);
    d->num = has_mod(in, "parity");
    if (!d->sub || has_mod(in, "expect_tx") || has_mod(in, "complete_tx") ||
        has_mod(in, "noComplete")) {
      d->unsupported = "mbarrier variant (transaction counts, .noComplete)";
      return NULL;
    }
  }
  if ((d->op == QIAO_PTX_OP_TESTP)) {
    static const char *const k[] = {"finite",     "infinite", "number",
                                    "notanumber", "normal",   "subnormal"};
    for (int i = 0; i < 6; ++i)
      if (has_mod(in, k[i])) d->sub = (uint8_t)(i + 1);
  }
  if ((d->op == QIAO_PTX_OP_CVT || d->op == QIAO_PTX_OP_MMA || d->op == QIAO_PTX_OP_WMMA_MMA) &&
      has_mod(in, "satfinite"))
    d->sub = 's';
  if (d->op == QIAO_PTX_OP_CVTA && has_mod(in, "to")) d->sub = 't';
  if (d->op == QIAO_PTX_OP_MIN || d->op == QIAO_PTX_OP_MAX) {
    if (has_mod(in, "xorsign")) {
      d->unsupported = "min/max .xorsign.abs is not supported";
      return NULL;
    }
  }
  if ((d->op == QIAO_PTX_OP_MAD || d->op == QIAO_PTX_OP_MUL) &&
      (d->flags & (QIAO_PTX_F_CC | QIAO_PTX_F_SAT)) && d->t != QIAO_PTX_T_F32 &&
      d->t != QIAO_PTX_T_F64) {
    d->unsupported = "integer mad/mul with .cc or .sat";
    return NULL;
  }
  if (d->op == QIAO_PTX_OP_CALL) return decode_call(c, fi, in, d);
  /* the float type immediates take */
  int ft = 0;
  if (d->op == QIAO_PTX_OP_CVT)
    ft = is_float_type(d->t2) ? d->t2 : 0;
  else if (d->op == QIAO_PTX_OP_SET)
    ft = is_float_type(d->t2) ? d->t2 : 0;
  else if (is_float_type(d->t))
    ft = d->t;
  if (d->op == QIAO_PTX_OP_MMA || d->op == QIAO_PTX_OP_WMMA_MMA) ft = QIAO_PTX_T_F32;
  for (uint32_t i = 0; i < in->nops; ++i) {
    const char *e = decode_op(c, fi, &in->ops[i], ft, &d->o[i]);
    if (e) {
      d->unsupported = e;
      return NULL;
    }
  }
  /* enough operands for what the interpreter reads; registers inside the function */
  int need = min_operands(d);
  if (d->nops < need) {
    d->unsupported = "too few operands";
    return NULL;
  }
  if (d->guard >= 0 && (uint32_t)d->guard >= f->nregs) {
    d->unsupported = "guard register out of range";
    return NULL;
  }
  for (int i = 0; i < d->nops; ++i) {
    const sop_t *o = &d->o[i];
    if ((o->k == K_REG || (o->k == K_ADDR && o->r >= 0)) && (uint32_t)o->r >= f->nregs) {
      d->unsupported = "register out of range";
      return NULL;
    }
    if (o->k == K_VEC || o->k == K_LIST)
      for (int k = 0; k < o->n; ++k) {
        const sop_t *e = &c->p->vops[o->r + k];
        if (e->k == K_REG && (uint32_t)e->r >= f->nregs) {
          d->unsupported = "register out of range";
          return NULL;
        }
      }
  }
  /* vector operands must have the element counts the interpreter indexes */
  int want[6] = {-1, -1, -1, -1, -1, -1};
  switch (d->op) {
  case QIAO_PTX_OP_LD:
  case QIAO_PTX_OP_LDU:
    if (d->vec) want[0] = d->vec;
    break;
  case QIAO_PTX_OP_ST:
    if (d->vec) want[1] = d->vec;
    break;
  case QIAO_PTX_OP_MMA: break; /* sizes depend on shape and types: checked when executed */
  case QIAO_PTX_OP_WMMA_MMA: /* vectors; their sizes depend on shape and types (executed) */
  case QIAO_PTX_OP_WMMA_LOAD:
  case QIAO_PTX_OP_WMMA_STORE: {
    int first = d->op == QIAO_PTX_OP_WMMA_STORE ? 1 : 0,
        last = d->op == QIAO_PTX_OP_WMMA_MMA ? 3 : first;
    for (int i = first; i <= last; ++i)
      if (i >= d->nops || d->o[i].k != K_VEC || d->o[i].n < 1 || d->o[i].n > 8) {
        d->unsupported = "wmma operand that is not a vector of 1 to 8 registers";
        return NULL;
      }
    break;
  }
  case QIAO_PTX_OP_LDMATRIX: want[0] = d->num ? d->num : 1; break;
  case QIAO_PTX_OP_STMATRIX: want[1] = d->num ? d->num : 1; break;
  default: break;
  }
  for (int i = 0; i < 6; ++i) {
    if (want[i] < 0) continue;
    bool ok = i < d->nops && ((d->o[i].k == K_VEC && d->o[i].n == want[i]) ||
                              (want[i] == 1 && d->o[i].k == K_REG));
    if (!ok) {
      d->unsupported = "operand vector with an unexpected element count";
      return NULL;
    }
  }
  if ((d->op == QIAO_PTX_OP_MOV) && ((d->o[0].k == K_VEC && d->o[0].n == 0) ||
                                     (d->nops > 1 && d->o[1].k == K_VEC && d->o[1].n == 0))) {
    d->unsupported = "empty vector operand";
    return NULL;
  }
  /* the resolved space of a symbol-based access wins over the written one */
  if (d->op == QIAO_PTX_OP_LD || d->op == QIAO_PTX_OP_ST || d->op == QIAO_PTX_OP_LDU) {
    int ai = d->op == QIAO_PTX_OP_ST ? 0 : 1;
    if (d->o[ai].k == K_ADDR && d->o[ai].space) d->space = d->o[ai].space;
  }
  if (d->op == QIAO_PTX_OP_BRA) {
    if (d->o[0].k != K_IMM) {
      d->unsupported = "bra to a non-label";
      return NULL;
    }
    d->target = (uint32_t)d->o[0].v;
  }
  return NULL;
}

static bool is32(int t) {
  return t == QIAO_PTX_T_B32 || t == QIAO_PTX_T_U32 || t == QIAO_PTX_T_S32;
}
static bool is64(int t) {
  return t == QIAO_PTX_T_B64 || t == QIAO_PTX_T_U64 || t == QIAO_PTX_T_S64;
}

/* Picks a specialized lane loop for the hot, modifier-free cases. */
static int fast_of(const sinst_t *d) {
  if (d->unsupported || d->nops > 4) return FAST_NONE;
  for (int i = 0; i < d->nops; ++i)
    if (d->o[i].k != K_REG && d->o[i].k != K_IMM && d->o[i].k != K_SREG) return FAST_NONE;
  if (d->o[0].k != K_REG) return FAST_NONE;
  uint32_t fl = d->flags & ~(QIAO_PTX_F_UNI);
  int t = d->t;
  bool rn = d->rnd == QIAO_PTX_RND_NONE || d->rnd == QIAO_PTX_RND_RN;
  switch (d->op) {
  case QIAO_PTX_OP_MOV:
    return (fl == 0 && t != QIAO_PTX_T_PRED && d->nops == 2) ? FAST_MOV : FAST_NONE;
  case QIAO_PTX_OP_ADD:
    if (fl) return FAST_NONE;
    return is32(t)                       ? FAST_ADD32
           : is64(t)                     ? FAST_ADD64
           : (t == QIAO_PTX_T_F32 && rn) ? FAST_FADD
                                         : FAST_NONE;
  case QIAO_PTX_OP_SUB:
    if (fl) return FAST_NONE;
    return is32(t)                       ? FAST_SUB32
           : is64(t)                     ? FAST_SUB64
           : (t == QIAO_PTX_T_F32 && rn) ? FAST_FSUB
                                         : FAST_NONE;
  case QIAO_PTX_OP_MUL:
    if (fl) return FAST_NONE;
    if (t == QIAO_PTX_T_F32 && rn) return FAST_FMUL;
    if (is32(t) && d->part == QIAO_PTX_PART_LO) return FAST_MUL32;
    if (d->part == QIAO_PTX_PART_WIDE && t == QIAO_PTX_T_S32) return FAST_MULWIDE_S32;
    if (d->part == QIAO_PTX_PART_WIDE && t == QIAO_PTX_T_U32) return FAST_MULWIDE_U32;
    return FAST_NONE;
  case QIAO_PTX_OP_MAD:
    if (fl) return FAST_NONE;
    if (is32(t) && d->part == QIAO_PTX_PART_LO) return FAST_MAD32;
    return (t == QIAO_PTX_T_F32 && rn) ? FAST_FFMA : FAST_NONE;
  case QIAO_PTX_OP_FMA: return (fl == 0 && t == QIAO_PTX_T_F32 && rn) ? FAST_FFMA : FAST_NONE;
  case QIAO_PTX_OP_AND:
    return fl ? FAST_NONE : is32(t) ? FAST_AND32 : is64(t) ? FAST_AND64 : FAST_NONE;
  case QIAO_PTX_OP_OR: return (fl == 0 && is32(t)) ? FAST_OR32 : FAST_NONE;
  case QIAO_PTX_OP_XOR: return (fl == 0 && is32(t)) ? FAST_XOR32 : FAST_NONE;
  case QIAO_PTX_OP_SHL:
    return fl ? FAST_NONE : is32(t) ? FAST_SHL32 : is64(t) ? FAST_SHL64 : FAST_NONE;
  case QIAO_PTX_OP_SHR:
    if (fl) return FAST_NONE;
    return (t == QIAO_PTX_T_S32) ? FAST_SHRS32 : is32(t) ? FAST_SHRU32 : FAST_NONE;
  case QIAO_PTX_OP_SETP:
    if (fl || d->opmod || d->nops != 3) return FAST_NONE;
    if (d->cmp < QIAO_PTX_CMP_EQ || d->cmp > QIAO_PTX_CMP_GE) return FAST_NONE;
    if (t == QIAO_PTX_T_S32) return FAST_SETP_S32;
    if (t == QIAO_PTX_T_U32 ||
        (t == QIAO_PTX_T_B32 && (d->cmp == QIAO_PTX_CMP_EQ || d->cmp == QIAO_PTX_CMP_NE)))
      return FAST_SETP_U32;
    if (t == QIAO_PTX_T_F32) return FAST_SETP_F32;
    return FAST_NONE;
  case QIAO_PTX_OP_CVT:
    if (fl || d->rnd) return FAST_NONE;
    if (d->t == QIAO_PTX_T_U64 && d->t2 == QIAO_PTX_T_U32) return FAST_CVT_U64_U32;
    if (d->t == QIAO_PTX_T_S64 && d->t2 == QIAO_PTX_T_S32) return FAST_CVT_S64_S32;
    return FAST_NONE;
  case QIAO_PTX_OP_CVTA: return (d->space == SP_GLOBAL && is64(t)) ? FAST_CVTA_GLOBAL : FAST_NONE;
  default: return FAST_NONE;
  }
}

static void dctx_free(dctx_t *c) {
  if (c->lvars)
    for (uint32_t i = 0; i < c->m->nfuncs; ++i)
      free(c->lvars[i]);
  free(c->lvars);
  free(c->mvars);
}

qiao_status_t simt_program_create(qiao_ptx_module_t *m, simt_program_t **out) {
  *out = NULL;
  simt_program_t *p = calloc(1, sizeof *p);
  if (!p) {
    qiao_ptx_module_destroy(m);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  p->m = m;
  p->nfuncs = m->nfuncs;
  p->funcs = calloc(m->nfuncs + 1, sizeof(sfunc_t));
  dctx_t c = {.p = p, .m = m};
  qiao_status_t st = NULL;
  if (!p->funcs) {
    st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    goto fail;
  }
  if ((st = layout(&c))) goto fail;
  uint64_t total = 0;
  for (uint32_t fi = 0; fi < m->nfuncs; ++fi) {
    const qiao_ptx_func_t *f = &m->funcs[fi];
    p->funcs[fi].start = (uint32_t)total;
    p->funcs[fi].nregs = f->nregs;
    if (f->nregs > p->max_regs) p->max_regs = f->nregs;
    if (f->has_body) total += f->ninstrs + 1;
    p->funcs[fi].end = (uint32_t)total - (f->has_body ? 1 : 0);
  }
  if (total > 0x7fffffff) {
    st = qiao_status_make(QIAO_UNSUPPORTED, "module too large");
    goto fail;
  }
  p->ncode = (uint32_t)total;
  p->code = calloc(total + 1, sizeof(sinst_t));
  if (!p->code) {
    st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    goto fail;
  }
  for (uint32_t fi = 0; fi < m->nfuncs; ++fi) {
    const qiao_ptx_func_t *f = &m->funcs[fi];
    if (!f->has_body) continue;
    sfunc_t *sf = &p->funcs[fi];
    for (uint32_t i = 0; i < f->ninstrs; ++i)
      if ((st = decode_instr(&c, fi, &f->instrs[i], &p->code[sf->start + i]))) goto fail;
    sinst_t *end = &p->code[sf->end];
    memset(end, 0, sizeof *end);
    end->op = f->is_entry ? QIAO_PTX_OP_EXIT : QIAO_PTX_OP_RET;
    end->guard = -1;
    end->func = (int32_t)fi;
    end->line = f->ninstrs ? f->instrs[f->ninstrs - 1].src_line : f->src_line;
    end->name = f->is_entry ? "exit" : "ret";
    for (uint32_t i = 0; i < f->nlabels; ++i)
      if (f->labels[i].instr <= f->ninstrs) p->code[sf->start + f->labels[i].instr].is_target = 1;
  }
  for (uint32_t i = 0; i < p->ncode; ++i) {
    p->code[i].cls = (uint8_t)stat_class(&p->code[i]);
    p->code[i].fast = (uint8_t)fast_of(&p->code[i]);
    if (p->code[i].src) work_of(p->code[i].src, &p->code[i]);
  }
  dctx_free(&c);
  *out = p;
  return NULL;
fail:
  dctx_free(&c);
  simt_program_destroy(p);
  return st;
}

void simt_program_destroy(simt_program_t *p) {
  if (!p) return;
  if (p->funcs)
    for (uint32_t i = 0; i < p->nfuncs; ++i) {
      free(p->funcs[i].kparam_off);
      free(p->funcs[i].kparam_size_each);
      free(p->funcs[i].fparam_off);
      free(p->funcs[i].fret_off);
    }
  for (uint32_t i = 0; i < p->ncalls; ++i)
    free(p->calls[i].arg_src);
  free(p->calls);
  free(p->funcs);
  free(p->code);
  free(p->vops);
  free(p->global_seg);
  free(p->const_seg);
  qiao_ptx_module_destroy((qiao_ptx_module_t *)p->m);
  free(p);
}
