/* Fusion and partition: a verified graph becomes a list of kernel
 * descriptors (docs/kernel-descriptors.md).
 *
 * The pass walks ops from last to first. An op not yet claimed by a later
 * kernel becomes a kernel root and claims, recursively:
 *   - elementwise producers of its elementwise operands that have exactly one
 *     use, the root's shape (no broadcast recompute), the same numeric class
 *     (float or integer) and are not graph outputs — they are inlined into the
 *     kernel's expression;
 *   - at most one "anchor" producer (matmul, reduce, softmax, norm,
 *     attention, moe, gather, copy-like ops) under the same conditions — the
 *     anchor becomes the kernel's primary op and the elementwise chain its
 *     epilogue (EXPR_ACC is the anchor's result);
 *   - for a matmul: an rms_norm/layer_norm producer of its A operand, when
 *     every use of the norm's result is the A operand of a non-transposed
 *     matmul (the norm is recomputed in each one: O(MK) against O(MKN)).
 * Reshape is free: its result aliases its operand's storage.
 * Kernels run in the order of their root ops, which keeps defs before uses.
 * Every choice above is a field of the backend's qiao_fusion_policy_t. A concat
 * with more inputs than the policy's operand budget becomes several COPY
 * kernels, each writing its slice of the one result (copy_out_offset).
 *
 * Descriptors are built in fixed scratch arrays, then packed: the kernels,
 * their inputs, expressions and op lists live in one block per partition.
 */
#include <stdlib.h>
#include <string.h>

#include "qiao/ir.h"

const char *qiao_kd_kind_name(qiao_kd_kind_t k) {
  static const char *const names[QIAO_KD_KIND_COUNT] = {
      "elementwise", "reduce", "softmax", "norm", "matmul",
      "attention",   "moe",    "gather",  "topk", "copy"};
  if ((int)k < 0 || k >= QIAO_KD_KIND_COUNT) return "?";
  return names[k];
}

static bool is_elementwise(qiao_op_kind_t k) { return k >= QIAO_OP_ADD && k <= QIAO_OP_CAST; }

static bool kd_kind_of(qiao_op_kind_t k, qiao_kd_kind_t *out) {
  switch (k) {
  case QIAO_OP_MATMUL: *out = QIAO_KD_MATMUL; return true;
  case QIAO_OP_REDUCE_SUM:
  case QIAO_OP_REDUCE_MAX:
  case QIAO_OP_REDUCE_MEAN: *out = QIAO_KD_REDUCE; return true;
  case QIAO_OP_SOFTMAX: *out = QIAO_KD_SOFTMAX; return true;
  case QIAO_OP_RMS_NORM:
  case QIAO_OP_LAYER_NORM: *out = QIAO_KD_NORM; return true;
  case QIAO_OP_ATTENTION: *out = QIAO_KD_ATTENTION; return true;
  case QIAO_OP_MOE: *out = QIAO_KD_MOE; return true;
  case QIAO_OP_GATHER: *out = QIAO_KD_GATHER; return true;
  case QIAO_OP_TOPK: *out = QIAO_KD_TOPK; return true;
  case QIAO_OP_TRANSPOSE:
  case QIAO_OP_SLICE:
  case QIAO_OP_CONCAT:
  case QIAO_OP_ROPE:
  case QIAO_OP_RESHAPE: *out = QIAO_KD_COPY; return true;
  default:
    if (is_elementwise(k)) {
      *out = QIAO_KD_ELEMENTWISE;
      return true;
    }
    return false;
  }
}

static const qiao_fusion_policy_t default_policy = {
    .fuse_elementwise = true,
    .epilogue_anchors = (1u << QIAO_KD_REDUCE) | (1u << QIAO_KD_SOFTMAX) | (1u << QIAO_KD_NORM) |
                        (1u << QIAO_KD_MATMUL) | (1u << QIAO_KD_ATTENTION) | (1u << QIAO_KD_MOE) |
                        (1u << QIAO_KD_GATHER) | (1u << QIAO_KD_COPY),
    .norm_prologue = true,
    .max_operands = QIAO_KD_MAX_OPERANDS,
    .max_expr_nodes = QIAO_EXPR_MAX_NODES,
};

const qiao_fusion_policy_t *qiao_fusion_policy_default(void) { return &default_policy; }

qiao_status_t qiao_fusion_policy_check(const qiao_fusion_policy_t *pol) {
  if (pol->max_operands < 1 || pol->max_operands > QIAO_KD_MAX_OPERANDS)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "fusion policy: max_operands = %d is outside [1, %d]",
                            (int)pol->max_operands, QIAO_KD_MAX_OPERANDS);
  if (pol->max_expr_nodes < 1 || pol->max_expr_nodes > QIAO_EXPR_MAX_NODES)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "fusion policy: max_expr_nodes = %d is outside [1, %d]",
                            (int)pol->max_expr_nodes, QIAO_EXPR_MAX_NODES);
  return NULL;
}

/* Fixed arrays a descriptor is built in before it is packed. */
_Static_assert(QIAO_EXPR_MAX_NODES <= 127 && QIAO_KD_MAX_OPERANDS <= 255,
               "expression node fields are int8/uint8");

typedef struct kd_scratch {
  qiao_kd_operand_t outputs[2];
  qiao_kd_operand_t inputs[QIAO_KD_MAX_OPERANDS];
  qiao_expr_node_t expr[QIAO_EXPR_MAX_NODES];
} kd_scratch_t;

/* Clears kd and points its arrays at scratch s. */
static void kd_reset(qiao_kernel_desc_t *kd, kd_scratch_t *s) {
  memset(kd, 0, sizeof(*kd));
  kd->inputs = s->inputs;
  kd->outputs = s->outputs;
  kd->expr = s->expr;
  kd->norm_weight_input = kd->norm_bias_input = -1;
}

typedef struct pass {
  const qiao_graph_t *g;
  const qiao_fusion_policy_t *pol;
  int32_t *uses;      /* per value: operand uses + output uses */
  bool *is_output;    /* per value */
  bool *claimed;      /* per op: part of some kernel already */
  int32_t *alias;     /* per value */
  bool *materialized; /* per value */
} pass_t;

static bool float_class(qiao_dtype_t dt) { return qiao_dtype_is_float(dt); }

static const qiao_op_t *producer(const pass_t *p, int32_t v) {
  const qiao_value_t *val = &p->g->values[v];
  if (val->kind != QIAO_VALUE_RESULT || val->def_op < 0) return NULL;
  return &p->g->ops[val->def_op];
}

static void contiguous_strides(const qiao_shape_t *s, int64_t *strides) {
  int64_t st = 1;
  for (int i = s->rank - 1; i >= 0; --i) {
    strides[i] = st;
    st *= s->dims[i];
  }
}

/* Adds (or finds) value v as a kernel input; -1 when full. */
static int32_t kd_add_input(qiao_kernel_desc_t *kd, const qiao_graph_t *g, int32_t v, bool primary,
                            int32_t max_operands) {
  if (!primary)
    for (int32_t i = kd->n_primary_inputs; i < kd->n_inputs; ++i)
      if (kd->inputs[i].value == v) return i;
  if (kd->n_inputs >= max_operands) return -1;
  qiao_kd_operand_t *o = &kd->inputs[kd->n_inputs];
  memset(o, 0, sizeof(*o));
  o->value = v;
  o->type = g->values[v].type;
  contiguous_strides(&o->type.shape, o->strides);
  return kd->n_inputs++; /* out_strides are set when the kernel is stored */
}

typedef struct builder {
  pass_t *p;
  qiao_kernel_desc_t *kd;
  const qiao_shape_t *out_shape;
  bool root_float;
  int32_t anchor_op; /* claimed anchor (-1: none) */
  int32_t anchor_value;
  int32_t *ops; /* covered ops (cap = n_ops of graph) */
  int32_t n_ops;
  bool no_inline;        /* fallback: operands are plain inputs (budget exceeded) */
  kd_scratch_t *scratch; /* kd's arrays */
  kd_scratch_t spare;    /* the expression while an anchor takes the primary slots */
} builder_t;

static bool can_inline(const pass_t *p, int32_t v, const qiao_shape_t *out_shape, bool root_float) {
  const qiao_op_t *op = producer(p, v);
  if (!p->pol->fuse_elementwise || !op || !is_elementwise(op->kind)) return false;
  const qiao_value_t *val = &p->g->values[v];
  if (p->uses[v] != 1 || p->is_output[v]) return false;
  if (!qiao_shape_equal(&val->type.shape, out_shape)) return false;
  if (float_class(val->type.dtype) != root_float) return false;
  return !p->claimed[val->def_op];
}

static bool can_anchor(const pass_t *p, int32_t v, const qiao_shape_t *out_shape) {
  const qiao_op_t *op = producer(p, v);
  if (!op) return false;
  qiao_kd_kind_t k;
  if (!kd_kind_of(op->kind, &k)) return false;
  if (k == QIAO_KD_ELEMENTWISE || k == QIAO_KD_TOPK) return false;
  if (!(p->pol->epilogue_anchors & (1u << k))) return false;
  if (op->kind == QIAO_OP_RESHAPE) return false;           /* an alias, not a kernel */
  if (op->n_operands > p->pol->max_operands) return false; /* a split concat */
  const qiao_value_t *val = &p->g->values[v];
  if (p->uses[v] != 1 || p->is_output[v]) return false;
  if (!qiao_shape_equal(&val->type.shape, out_shape)) return false;
  if (!float_class(val->type.dtype)) return false;
  return !p->claimed[val->def_op];
}

static void set_op_node(qiao_expr_node_t *e, const qiao_op_t *op, const int32_t args[2],
                        qiao_dtype_t dt) {
  e->kind = QIAO_EXPR_OP;
  e->op = (uint8_t)op->kind;
  e->args[0] = (int8_t)args[0];
  e->args[1] = (int8_t)args[1];
  e->dtype = (uint8_t)dt;
  e->to = (uint8_t)op->attrs.to;
  e->approximate = (uint8_t)op->attrs.approximate;
}

/* Emits the expression for value v; returns its node index (-1 on overflow). */
static int32_t build_expr(builder_t *b, int32_t v) {
  qiao_kernel_desc_t *kd = b->kd;
  pass_t *p = b->p;
  const int32_t max_nodes = p->pol->max_expr_nodes;
  if (kd->n_expr >= max_nodes) return -1;
  const qiao_value_t *val = &p->g->values[v];
  const qiao_op_t *op = producer(p, v);
  if (b->anchor_value == v) {
    int32_t n = kd->n_expr++;
    memset(&kd->expr[n], 0, sizeof(kd->expr[n]));
    kd->expr[n].kind = QIAO_EXPR_ACC;
    kd->expr[n].dtype = (uint8_t)val->type.dtype;
    return n;
  }
  if (op && op->kind == QIAO_OP_CONST && qiao_shape_numel(&val->type.shape) == 1 &&
      qiao_dtype_is_float(val->type.dtype)) {
    int32_t n = kd->n_expr++;
    memset(&kd->expr[n], 0, sizeof(kd->expr[n]));
    kd->expr[n].kind = QIAO_EXPR_CONST;
    kd->expr[n].dtype = (uint8_t)val->type.dtype;
    kd->expr[n].value = op->attrs.const_f ? op->attrs.const_f[0]
                                          : (double)(op->attrs.const_i ? op->attrs.const_i[0] : 0);
    return n;
  }
  if (op && !b->no_inline && can_inline(p, v, b->out_shape, b->root_float)) {
    int32_t args[2] = {-1, -1};
    p->claimed[val->def_op] = true;
    b->ops[b->n_ops++] = val->def_op;
    for (int32_t i = 0; i < op->n_operands && i < 2; ++i) {
      args[i] = build_expr(b, op->operands[i]);
      if (args[i] < 0) return -1;
    }
    if (kd->n_expr >= max_nodes) return -1;
    int32_t n = kd->n_expr++;
    qiao_expr_node_t *e = &kd->expr[n];
    memset(e, 0, sizeof(*e));
    set_op_node(e, op, args, val->type.dtype);
    return n;
  }
  if (!b->no_inline && b->anchor_op < 0 && kd->kind == QIAO_KD_ELEMENTWISE &&
      can_anchor(p, v, b->out_shape)) {
    b->anchor_op = val->def_op;
    b->anchor_value = v;
    return build_expr(b, v);
  }
  int32_t in = kd_add_input(kd, p->g, v, false, p->pol->max_operands);
  if (in < 0) return -1;
  int32_t n = kd->n_expr++;
  memset(&kd->expr[n], 0, sizeof(kd->expr[n]));
  kd->expr[n].kind = QIAO_EXPR_INPUT;
  kd->expr[n].input = (uint8_t)in;
  kd->expr[n].dtype = (uint8_t)val->type.dtype;
  return n;
}

/* Fills the primary part of kd from op (inputs, attrs, kind, outputs). */
static bool set_primary(pass_t *p, qiao_kernel_desc_t *kd, const qiao_op_t *op, builder_t *b) {
  qiao_kd_kind_t k = QIAO_KD_ELEMENTWISE;
  kd_kind_of(op->kind, &k);
  kd->kind = k;
  kd->op = op->kind;
  memcpy(&kd->attrs, &op->attrs, sizeof(kd->attrs));
  kd->attrs.param_name = NULL;
  kd->attrs.const_f = NULL;
  kd->attrs.const_i = NULL;
  kd->attrs.n_values = 0;
  kd->primary_dtype = p->g->values[op->results[0]].type.dtype;
  /* Norm prologue: A operand of a matmul produced by a norm whose every use is
   * the A side of a non-transposed matmul. */
  const int32_t max_in = p->pol->max_operands;
  if (p->pol->norm_prologue && op->kind == QIAO_OP_MATMUL && !op->attrs.transpose_a) {
    int32_t a = op->operands[0];
    const qiao_op_t *n = producer(p, a);
    if (n && (n->kind == QIAO_OP_RMS_NORM || n->kind == QIAO_OP_LAYER_NORM) && !p->is_output[a] &&
        max_in >= (n->kind == QIAO_OP_LAYER_NORM ? 4 : 3)) {
      bool all = true;
      int32_t count = 0;
      for (int32_t i = 0; i < p->g->n_ops && all; ++i) {
        const qiao_op_t *u = &p->g->ops[i];
        for (int32_t j = 0; j < u->n_operands; ++j) {
          if (u->operands[j] != a) continue;
          ++count;
          if (u->kind != QIAO_OP_MATMUL || j != 0 || u->attrs.transpose_a) all = false;
        }
      }
      if (all && count == p->uses[a] &&
          qiao_dtype_is_float(p->g->values[n->operands[0]].type.dtype)) {
        kd->has_norm_prologue = true;
        kd->norm_op = n->kind;
        kd->norm_eps = n->attrs.eps;
        kd->norm_dtype = p->g->values[a].type.dtype;
        kd->n_primary_inputs = 2;
        if (kd_add_input(kd, p->g, n->operands[0], true, max_in) < 0) return false;
        if (kd_add_input(kd, p->g, op->operands[1], true, max_in) < 0) return false;
        kd->norm_weight_input = kd_add_input(kd, p->g, n->operands[1], true, max_in);
        kd->norm_bias_input = n->kind == QIAO_OP_LAYER_NORM
                                  ? kd_add_input(kd, p->g, n->operands[2], true, max_in)
                                  : -1;
        if (kd->norm_weight_input < 0 || (n->kind == QIAO_OP_LAYER_NORM && kd->norm_bias_input < 0))
          return false;
        /* the norm's own inputs are not expression inputs: keep them primary */
        kd->n_primary_inputs = kd->n_inputs;
        int32_t nid = p->g->values[a].def_op;
        b->ops[b->n_ops++] = nid;
        p->claimed[nid] = true;
        return true;
      }
    }
  }
  for (int32_t i = 0; i < op->n_operands; ++i)
    if (kd_add_input(kd, p->g, op->operands[i], true, max_in) < 0) return false;
  kd->n_primary_inputs = kd->n_inputs;
  kd->norm_weight_input = kd->norm_bias_input = -1;
  return true;
}

static void set_output(const pass_t *p, qiao_kernel_desc_t *kd, int idx, int32_t v) {
  qiao_kd_operand_t *o = &kd->outputs[idx];
  memset(o, 0, sizeof(*o));
  o->value = v;
  o->type = p->g->values[v].type;
  contiguous_strides(&o->type.shape, o->strides);
}

/* Builds the kernel rooted at elementwise op `op` (id i) into b->kd: its
 * expression, and the anchor's primary part when one was claimed. False when
 * a descriptor budget (nodes, operands) is exceeded. */
static bool build_elementwise(pass_t *p, builder_t *b, const qiao_op_t *op) {
  qiao_kernel_desc_t *kd = b->kd;
  const qiao_type_t *rt = &p->g->values[op->results[0]].type;
  kd->kind = QIAO_KD_ELEMENTWISE;
  kd->op = op->kind;
  kd->primary_dtype = rt->dtype;
  /* Expression of the root: its operands, then the root op node. */
  int32_t args[2] = {-1, -1};
  bool ok = true;
  for (int32_t j = 0; j < op->n_operands && j < 2 && ok; ++j) {
    args[j] = build_expr(b, op->operands[j]);
    ok = args[j] >= 0;
  }
  if (!ok || kd->n_expr >= p->pol->max_expr_nodes) return false;
  qiao_expr_node_t *e = &kd->expr[kd->n_expr++];
  memset(e, 0, sizeof(*e));
  set_op_node(e, op, args, rt->dtype);
  if (b->anchor_op >= 0) {
    /* The anchor becomes the primary op; expression inputs move after its
     * primary inputs. */
    kd_scratch_t *ex = &b->spare;
    int32_t n_ex_in = kd->n_inputs, n_ex = kd->n_expr;
    memcpy(ex->inputs, kd->inputs, sizeof(*kd->inputs) * (size_t)n_ex_in);
    memcpy(ex->expr, kd->expr, sizeof(*kd->expr) * (size_t)n_ex);
    kd_reset(kd, b->scratch);
    const qiao_op_t *aop = &p->g->ops[b->anchor_op];
    p->claimed[b->anchor_op] = true;
    b->ops[b->n_ops++] = b->anchor_op;
    if (!set_primary(p, kd, aop, b)) return false;
    int32_t shift = kd->n_inputs;
    for (int32_t j = 0; j < n_ex_in; ++j) {
      if (kd->n_inputs >= p->pol->max_operands) return false;
      kd->inputs[kd->n_inputs++] = ex->inputs[j];
    }
    kd->n_expr = n_ex;
    memcpy(kd->expr, ex->expr, sizeof(*kd->expr) * (size_t)n_ex);
    for (int32_t j = 0; j < kd->n_expr; ++j)
      if (kd->expr[j].kind == QIAO_EXPR_INPUT)
        kd->expr[j].input = (uint8_t)(kd->expr[j].input + shift);
  }
  return true;
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* Built descriptors, their arrays appended to growing vectors until they are
 * packed into one block (kernels[i]'s array pointers are set by pack()). */
typedef struct kd_list {
  qiao_kernel_desc_t *kernels;
  int32_t n, cap;
  int32_t *in_off, *expr_off, *ops_off, *os_off; /* per kernel: offsets in the vectors */
  qiao_kd_operand_t *inputs;                     /* per kernel: its inputs, then its outputs */
  int64_t n_inputs, cap_inputs;
  qiao_expr_node_t *expr;
  int64_t n_expr, cap_expr;
  int32_t *ops;
  int64_t n_ops, cap_ops;
  int64_t *os; /* expression inputs' out_strides, QIAO_MAX_RANK per input */
  int64_t n_os, cap_os;
} kd_list_t;

static bool grow(void **v, int64_t *cap, int64_t need, size_t elem) {
  if (need <= *cap) return true;
  int64_t c = *cap ? *cap * 2 : 64;
  while (c < need)
    c *= 2;
  void *n = realloc(*v, (size_t)c * elem);
  if (!n) return false;
  *v = n;
  *cap = c;
  return true;
}

/* Appends kd (arrays in scratch) and its covered ops; false when out of memory. */
static bool kd_list_push(kd_list_t *l, const qiao_kernel_desc_t *kd, const int32_t *ops,
                         int32_t n_ops) {
  if (l->n == l->cap) {
    int64_t cap = l->cap;
    int64_t c1 = cap, c2 = cap, c3 = cap, c4 = cap, c5 = cap;
    if (!grow((void **)&l->kernels, &c1, cap + 1, sizeof(*l->kernels)) ||
        !grow((void **)&l->in_off, &c2, cap + 1, sizeof(int32_t)) ||
        !grow((void **)&l->expr_off, &c3, cap + 1, sizeof(int32_t)) ||
        !grow((void **)&l->ops_off, &c4, cap + 1, sizeof(int32_t)) ||
        !grow((void **)&l->os_off, &c5, cap + 1, sizeof(int32_t)))
      return false;
    /* all five grew to the same capacity (same start, same rule) */
    l->cap = (int32_t)c1;
  }
  int32_t n_operands = kd->n_inputs + kd->n_outputs; /* inputs, then outputs */
  int32_t n_expr_inputs = kd->n_inputs - kd->n_primary_inputs;
  if (!grow((void **)&l->inputs, &l->cap_inputs, l->n_inputs + n_operands, sizeof(*l->inputs)) ||
      !grow((void **)&l->expr, &l->cap_expr, l->n_expr + kd->n_expr, sizeof(*l->expr)) ||
      !grow((void **)&l->ops, &l->cap_ops, l->n_ops + n_ops, sizeof(*l->ops)) ||
      !grow((void **)&l->os, &l->cap_os, l->n_os + QIAO_MAX_RANK * n_expr_inputs, sizeof(*l->os)))
    return false;
  l->kernels[l->n] = *kd;
  l->kernels[l->n].inputs = NULL;
  l->kernels[l->n].outputs = NULL;
  l->kernels[l->n].expr = NULL;
  l->kernels[l->n].ops = NULL;
  l->kernels[l->n].n_ops = n_ops;
  l->in_off[l->n] = (int32_t)l->n_inputs;
  l->expr_off[l->n] = (int32_t)l->n_expr;
  l->ops_off[l->n] = (int32_t)l->n_ops;
  l->os_off[l->n] = (int32_t)l->n_os;
  /* right-aligned broadcasting of each expression input into the output's index space */
  const qiao_shape_t *out_shape = &kd->outputs[0].type.shape;
  for (int32_t i = kd->n_primary_inputs; i < kd->n_inputs; ++i) {
    const qiao_kd_operand_t *o = &kd->inputs[i];
    int64_t *st = l->os + l->n_os;
    memset(st, 0, sizeof(int64_t) * QIAO_MAX_RANK);
    int off = out_shape->rank - o->type.shape.rank;
    for (int d = 0; d < out_shape->rank; ++d) {
      int sd = d - off;
      st[d] = (sd < 0 || o->type.shape.dims[sd] == 1) ? 0 : o->strides[sd];
    }
    l->n_os += QIAO_MAX_RANK;
  }
  /* (an empty vector may still be NULL: copy only what there is) */
  if (kd->n_inputs)
    memcpy(l->inputs + l->n_inputs, kd->inputs, sizeof(*kd->inputs) * (size_t)kd->n_inputs);
  if (kd->n_outputs)
    memcpy(l->inputs + l->n_inputs + kd->n_inputs, kd->outputs,
           sizeof(*kd->outputs) * (size_t)kd->n_outputs);
  if (kd->n_expr) memcpy(l->expr + l->n_expr, kd->expr, sizeof(*kd->expr) * (size_t)kd->n_expr);
  if (n_ops) memcpy(l->ops + l->n_ops, ops, sizeof(*ops) * (size_t)n_ops);
  l->n_inputs += n_operands;
  l->n_expr += kd->n_expr;
  l->n_ops += n_ops;
  l->n++;
  return true;
}

static void kd_list_free(kd_list_t *l) {
  free(l->kernels);
  free(l->in_off);
  free(l->expr_off);
  free(l->ops_off);
  free(l->os_off);
  free(l->os);
  free(l->inputs);
  free(l->expr);
  free(l->ops);
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/* One block: kernels (reversed into execution order), operands, expressions,
 * out_strides, ops. */
static void *kd_list_pack(const kd_list_t *l, qiao_kernel_desc_t **out_kernels) {
  size_t k_bytes = align8(sizeof(qiao_kernel_desc_t) * (size_t)l->n);
  size_t i_bytes = align8(sizeof(qiao_kd_operand_t) * (size_t)l->n_inputs);
  size_t e_bytes = align8(sizeof(qiao_expr_node_t) * (size_t)l->n_expr);
  size_t s_bytes = sizeof(int64_t) * (size_t)l->n_os;
  size_t o_bytes = sizeof(int32_t) * (size_t)l->n_ops;
  char *block = malloc(k_bytes + i_bytes + e_bytes + s_bytes + o_bytes + 1);
  if (!block) return NULL;
  qiao_kernel_desc_t *kernels = (qiao_kernel_desc_t *)block;
  qiao_kd_operand_t *inputs = (qiao_kd_operand_t *)(block + k_bytes);
  qiao_expr_node_t *expr = (qiao_expr_node_t *)(block + k_bytes + i_bytes);
  int64_t *os = (int64_t *)(block + k_bytes + i_bytes + e_bytes);
  int32_t *ops = (int32_t *)(block + k_bytes + i_bytes + e_bytes + s_bytes);
  if (l->n_os) memcpy(os, l->os, s_bytes);
  if (l->n_inputs) memcpy(inputs, l->inputs, sizeof(*inputs) * (size_t)l->n_inputs);
  if (l->n_expr) memcpy(expr, l->expr, sizeof(*expr) * (size_t)l->n_expr);
  if (l->n_ops) memcpy(ops, l->ops, sizeof(*ops) * (size_t)l->n_ops);
  for (int32_t i = 0; i < l->n; ++i) {
    /* kernels were found last-first: reverse into execution order */
    qiao_kernel_desc_t *kd = &kernels[l->n - 1 - i];
    *kd = l->kernels[i];
    kd->inputs = inputs + l->in_off[i];
    kd->outputs = kd->inputs + kd->n_inputs;
    for (int32_t j = kd->n_primary_inputs; j < kd->n_inputs; ++j)
      kd->inputs[j].out_strides = os + l->os_off[i] + QIAO_MAX_RANK * (j - kd->n_primary_inputs);
    kd->expr = expr + l->expr_off[i];
    kd->ops = ops + l->ops_off[i];
  }
  *out_kernels = kernels;
  return block;
}

/* A concat with more inputs than the operand budget: COPY kernels of at most
 * max_operands inputs each, each writing its slice of the one result. Pushed
 * last slice first (the list is reversed into execution order). */
static qiao_status_t split_concat(pass_t *p, kd_list_t *l, kd_scratch_t *scratch, int32_t op_id) {
  const qiao_op_t *op = &p->g->ops[op_id];
  const int32_t per = p->pol->max_operands;
  const qiao_type_t *rt = &p->g->values[op->results[0]].type;
  int64_t ax = op->attrs.axis < 0 ? op->attrs.axis + rt->shape.rank : op->attrs.axis;
  int32_t n_chunks = (op->n_operands + per - 1) / per;
  for (int32_t c = n_chunks - 1; c >= 0; --c) {
    qiao_kernel_desc_t kd;
    kd_reset(&kd, scratch);
    kd.kind = QIAO_KD_COPY;
    kd.op = QIAO_OP_CONCAT;
    memcpy(&kd.attrs, &op->attrs, sizeof(kd.attrs));
    kd.attrs.param_name = NULL;
    kd.attrs.const_f = NULL;
    kd.attrs.const_i = NULL;
    kd.attrs.n_values = 0;
    kd.primary_dtype = rt->dtype;
    for (int32_t j = 0; j < c * per; ++j)
      kd.copy_out_offset += p->g->values[op->operands[j]].type.shape.dims[ax];
    for (int32_t j = c * per; j < op->n_operands && j < (c + 1) * per; ++j) {
      /* a value repeated in one chunk is still one operand per position */
      qiao_kd_operand_t *o = &kd.inputs[kd.n_inputs++];
      memset(o, 0, sizeof(*o));
      o->value = op->operands[j];
      o->type = p->g->values[o->value].type;
      contiguous_strides(&o->type.shape, o->strides);
    }
    kd.n_primary_inputs = kd.n_inputs;
    kd.n_outputs = 1;
    set_output(p, &kd, 0, op->results[0]);
    if (!kd_list_push(l, &kd, &op_id, 1))
      return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  p->materialized[op->results[0]] = true;
  return NULL;
}

static qiao_status_t too_many_operands(const qiao_graph_t *g, const qiao_op_t *op, int32_t budget) {
  const qiao_value_t *rv = &g->values[op->results[0]];
  return qiao_status_make(
      QIAO_UNSUPPORTED, "%d:%d: op %s%s = %s: %d operands exceed a kernel's %d (split it)",
      op->loc.line, op->loc.col, rv->name ? "%" : "#", rv->name ? rv->name : "anonymous",
      qiao_op_name(op->kind), op->n_operands, budget);
}

qiao_status_t qiao_ir_partition(const qiao_graph_t *g, const qiao_fusion_policy_t *policy,
                                qiao_partition_t **out_partition) {
  *out_partition = NULL;
  if (!policy) policy = &default_policy;
  QIAO_RETURN_IF_ERROR(qiao_fusion_policy_check(policy));
  pass_t p = {0};
  p.g = g;
  p.pol = policy;
  int32_t nv = g->n_values, no = g->n_ops;
  kd_list_t list = {0};
  p.uses = calloc((size_t)nv + 1, sizeof(int32_t));
  p.is_output = calloc((size_t)nv + 1, sizeof(bool));
  p.claimed = calloc((size_t)no + 1, sizeof(bool));
  p.alias = malloc(sizeof(int32_t) * ((size_t)nv + 1));
  p.materialized = calloc((size_t)nv + 1, sizeof(bool));
  qiao_partition_t *part = calloc(1, sizeof(*part));
  int32_t *scratch_ops = malloc(sizeof(int32_t) * ((size_t)no + 1));
  builder_t *b = malloc(sizeof(*b));
  kd_scratch_t *scratch = malloc(sizeof(*scratch));
  qiao_status_t st = NULL;
  if (!p.uses || !p.is_output || !p.claimed || !p.alias || !p.materialized || !part ||
      !scratch_ops || !b || !scratch) {
    st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    goto done;
  }
  for (int32_t i = 0; i < nv; ++i)
    p.alias[i] = -1;
  for (int32_t i = 0; i < no; ++i)
    for (int32_t j = 0; j < g->ops[i].n_operands; ++j)
      p.uses[g->ops[i].operands[j]]++;
  for (int32_t i = 0; i < g->n_outputs; ++i) {
    p.uses[g->outputs[i]]++;
    p.is_output[g->outputs[i]] = true;
  }
  /* Reshape aliases (forward, so chains resolve to their root). */
  for (int32_t i = 0; i < no; ++i) {
    const qiao_op_t *op = &g->ops[i];
    if (op->kind != QIAO_OP_RESHAPE) continue;
    int32_t src = op->operands[0];
    p.alias[op->results[0]] = p.alias[src] >= 0 ? p.alias[src] : src;
    p.claimed[i] = true;
  }

  for (int32_t i = no - 1; i >= 0; --i) {
    const qiao_op_t *op = &g->ops[i];
    if (p.claimed[i] || op->kind == QIAO_OP_PARAM || op->kind == QIAO_OP_CONST) continue;
    /* An op whose results nobody uses computes nothing observable. */
    bool used = false;
    for (int32_t r = 0; r < op->n_results; ++r)
      used |= p.uses[op->results[r]] > 0;
    if (!used) {
      p.claimed[i] = true;
      continue;
    }
    p.claimed[i] = true;
    if (op->kind == QIAO_OP_CONCAT && op->n_operands > policy->max_operands) {
      st = split_concat(&p, &list, scratch, i);
      if (st) goto done;
      continue;
    }
    qiao_kernel_desc_t kd_storage;
    qiao_kernel_desc_t *kd = &kd_storage;
    kd_reset(kd, scratch);
    memset(b, 0, sizeof(*b));
    b->p = &p;
    b->kd = kd;
    b->anchor_op = b->anchor_value = -1;
    b->ops = scratch_ops;
    b->scratch = scratch;
    b->ops[b->n_ops++] = i;
    int32_t root_v = op->results[0];
    const qiao_type_t *rt = &g->values[root_v].type;
    b->out_shape = &rt->shape;
    b->root_float = float_class(rt->dtype);
    if (is_elementwise(op->kind)) {
      /* Fuse greedily; when the expression or operand budget of a descriptor
       * is exceeded, undo the claims and build the root alone (its operands
       * become plain inputs and their producers kernels of their own). */
      bool ok = build_elementwise(&p, b, op);
      if (!ok) {
        for (int32_t j = 0; j < b->n_ops; ++j)
          if (b->ops[j] != i) p.claimed[b->ops[j]] = false;
        kd_reset(kd, scratch);
        b->n_ops = 1;
        b->anchor_op = b->anchor_value = -1;
        b->no_inline = true;
        ok = build_elementwise(&p, b, op);
      }
      if (!ok) {
        st = qiao_status_make(QIAO_INTERNAL, "partition: cannot build the kernel of op %d", i);
        goto done;
      }
    } else if (!set_primary(&p, kd, op, b)) {
      st = too_many_operands(g, op, policy->max_operands);
      goto done;
    }
    kd->n_outputs = op->n_results;
    for (int32_t r = 0; r < op->n_results; ++r) {
      set_output(&p, kd, r, op->results[r]);
      p.materialized[op->results[r]] = true;
    }
    qsort(b->ops, (size_t)b->n_ops, sizeof(int32_t), cmp_i32);
    if (!kd_list_push(&list, kd, b->ops, b->n_ops)) {
      st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
      goto done;
    }
  }
  part->storage = kd_list_pack(&list, &part->kernels);
  if (!part->storage) {
    st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    goto done;
  }
  part->n_kernels = list.n;
  part->n_values = nv;
  part->alias = p.alias;
  part->materialized = p.materialized;
  p.alias = NULL;
  p.materialized = NULL;
  *out_partition = part;
  part = NULL;

done:
  kd_list_free(&list);
  free(part);
  free(p.uses);
  free(p.is_output);
  free(p.claimed);
  free(p.alias);
  free(p.materialized);
  free(scratch_ops);
  free(b);
  free(scratch);
  return st;
}

void qiao_ir_partition_destroy(qiao_partition_t *part) {
  if (!part) return;
  free(part->storage);
  free(part->alias);
  free(part->materialized);
  free(part);
}

/* ------------------------------------------------------------ clone, size */

/* Operands of kd carrying out_strides (expression inputs, or any operand a
 * hand-built descriptor gave them). */
static int32_t n_out_strides(const qiao_kernel_desc_t *kd) {
  int32_t n = 0;
  for (int32_t i = 0; i < kd->n_inputs; ++i)
    n += kd->inputs[i].out_strides != NULL;
  for (int32_t i = 0; i < kd->n_outputs; ++i)
    n += kd->outputs[i].out_strides != NULL;
  return n;
}

size_t qiao_kernel_desc_footprint(const qiao_kernel_desc_t *kd) {
  return sizeof(*kd) + sizeof(*kd->inputs) * (size_t)(kd->n_inputs + kd->n_outputs) +
         sizeof(int64_t) * QIAO_MAX_RANK * (size_t)n_out_strides(kd) +
         sizeof(*kd->expr) * (size_t)kd->n_expr + sizeof(*kd->ops) * (size_t)kd->n_ops;
}

qiao_status_t qiao_kernel_desc_clone(const qiao_kernel_desc_t *kd, qiao_kernel_desc_t **out_kd) {
  *out_kd = NULL;
  size_t in_bytes = sizeof(*kd->inputs) * (size_t)kd->n_inputs;
  size_t i_bytes = in_bytes + sizeof(*kd->outputs) * (size_t)kd->n_outputs;
  size_t s_bytes = sizeof(int64_t) * QIAO_MAX_RANK * (size_t)n_out_strides(kd);
  size_t e_bytes = sizeof(*kd->expr) * (size_t)kd->n_expr;
  size_t o_bytes = sizeof(*kd->ops) * (size_t)kd->n_ops;
  size_t k_bytes = align8(sizeof(*kd)), i_end = k_bytes + align8(i_bytes);
  size_t s_end = i_end + s_bytes, e_end = s_end + align8(e_bytes);
  char *block = malloc(e_end + o_bytes + 1);
  if (!block) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  qiao_kernel_desc_t *c = (qiao_kernel_desc_t *)block;
  *c = *kd;
  c->inputs = (qiao_kd_operand_t *)(block + k_bytes);
  c->outputs = c->inputs + kd->n_inputs;
  c->expr = (qiao_expr_node_t *)(block + s_end);
  c->ops = (int32_t *)(block + e_end);
  if (in_bytes) memcpy(c->inputs, kd->inputs, in_bytes);
  if (kd->n_outputs) memcpy(c->outputs, kd->outputs, i_bytes - in_bytes);
  if (e_bytes) memcpy(c->expr, kd->expr, e_bytes);
  if (o_bytes) memcpy(c->ops, kd->ops, o_bytes);
  int64_t *os = (int64_t *)(block + i_end);
  for (int32_t i = 0; i < kd->n_inputs + kd->n_outputs; ++i) {
    qiao_kd_operand_t *o = &c->inputs[i]; /* outputs follow inputs in the clone */
    if (!o->out_strides) continue;
    memcpy(os, o->out_strides, sizeof(int64_t) * QIAO_MAX_RANK);
    o->out_strides = os;
    os += QIAO_MAX_RANK;
  }
  *out_kd = c;
  return NULL;
}

void qiao_kernel_desc_destroy(qiao_kernel_desc_t *kd) { free(kd); }

/* ------------------------------------------------------------------ hash */

/* The descriptor walker feeds every field that defines a kernel to a sink:
 * an FNV-1a hash, or a byte buffer for exact equality. Padding and pointers
 * never reach it. */
typedef struct {
  uint64_t h;
  unsigned char *buf; /* when non-NULL: serialize instead of hashing */
  size_t len, cap;
} fnv_t;

static void fnv(fnv_t *f, const void *data, size_t n) {
  const unsigned char *p = data;
  if (f->buf) {
    if (f->len + n <= f->cap) memcpy(f->buf + f->len, p, n);
    f->len += n;
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    f->h ^= p[i];
    f->h *= 1099511628211ull;
  }
}
static void fnv_i64(fnv_t *f, int64_t v) { fnv(f, &v, sizeof v); }
static void fnv_f64(fnv_t *f, double v) { fnv(f, &v, sizeof v); }

static void hash_operand(fnv_t *f, const qiao_kd_operand_t *o) {
  fnv_i64(f, o->type.dtype);
  fnv_i64(f, o->type.shape.rank);
  for (int i = 0; i < o->type.shape.rank; ++i) {
    fnv_i64(f, o->type.shape.dims[i]);
    fnv_i64(f, o->strides[i]);
  }
  for (int i = 0; i < QIAO_MAX_RANK; ++i)
    fnv_i64(f, o->out_strides ? o->out_strides[i] : 0);
}

static void hash_attrs(fnv_t *f, const qiao_attrs_t *a, qiao_op_kind_t kind) {
  const qiao_op_schema_t *s = qiao_op_schema(kind);
  for (int i = 0; i < s->n_attrs; ++i) {
    int64_t iv;
    double fv;
    const int64_t *ints;
    int32_t n;
    qiao_attrs_get(a, kind, i, &iv, &fv, &ints, &n);
    fnv_i64(f, iv);
    fnv_f64(f, fv);
    fnv_i64(f, n);
    for (int32_t j = 0; j < n; ++j)
      fnv_i64(f, ints[j]);
  }
}

static void walk_desc(fnv_t *f, const qiao_kernel_desc_t *kd);

uint64_t qiao_kernel_desc_hash(const qiao_kernel_desc_t *kd) {
  fnv_t f = {1469598103934665603ull, NULL, 0, 0};
  walk_desc(&f, kd);
  return f.h;
}

bool qiao_kernel_desc_equal(const qiao_kernel_desc_t *a, const qiao_kernel_desc_t *b) {
  /* Serialized forms are a few KB at most: compare them. */
  enum { CAP = 64 * 1024 };
  unsigned char *x = malloc(CAP), *y = malloc(CAP);
  bool eq = false;
  if (x && y) {
    fnv_t fa = {0, x, 0, CAP}, fb = {0, y, 0, CAP};
    walk_desc(&fa, a);
    walk_desc(&fb, b);
    eq = fa.len == fb.len && fa.len <= CAP && memcmp(x, y, fa.len) == 0;
  }
  free(x);
  free(y);
  return eq;
}

static void walk_desc(fnv_t *fp, const qiao_kernel_desc_t *kd) {
  fnv_t f = *fp;
  fnv_i64(&f, kd->kind);
  fnv_i64(&f, kd->op);
  fnv_i64(&f, kd->primary_dtype);
  hash_attrs(&f, &kd->attrs, kd->op);
  fnv_i64(&f, kd->n_inputs);
  fnv_i64(&f, kd->n_primary_inputs);
  for (int32_t i = 0; i < kd->n_inputs; ++i)
    hash_operand(&f, &kd->inputs[i]);
  fnv_i64(&f, kd->n_outputs);
  for (int32_t i = 0; i < kd->n_outputs; ++i)
    hash_operand(&f, &kd->outputs[i]);
  fnv_i64(&f, kd->has_norm_prologue);
  if (kd->has_norm_prologue) {
    fnv_i64(&f, kd->norm_op);
    fnv_f64(&f, kd->norm_eps);
    fnv_i64(&f, kd->norm_weight_input);
    fnv_i64(&f, kd->norm_bias_input);
    fnv_i64(&f, kd->norm_dtype);
  }
  fnv_i64(&f, kd->n_expr);
  for (int32_t i = 0; i < kd->n_expr; ++i) {
    const qiao_expr_node_t *e = &kd->expr[i];
    fnv_i64(&f, e->kind);
    fnv_i64(&f, e->op);
    fnv_i64(&f, e->args[0]);
    fnv_i64(&f, e->args[1]);
    fnv_i64(&f, e->input);
    fnv_f64(&f, e->value);
    fnv_i64(&f, e->dtype);
    fnv_i64(&f, e->to);
    fnv_i64(&f, e->approximate);
  }
  fnv_i64(&f, kd->copy_out_offset);
  *fp = f;
}
