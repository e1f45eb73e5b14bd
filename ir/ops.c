/* The op schema table: names, operand counts, results and attributes with
 * defaults for every op of the v1 set. The parser, printer, builder and
 * verifier are all driven by this one table. */
#include <math.h>
#include <string.h>

#include "qiao/ir.h"

static const int64_t k_axes_last[] = {-1};
static const char *const k_gelu_names[] = {"none", "tanh", NULL};
static const char *const k_rope_names[] = {"neox", "gptj", NULL};
static const char *const k_router_names[] = {"softmax", "sigmoid", NULL};

#define NO_ATTRS 0, {{0}}
#define UNARY(nm) {nm, 1, 1, 1, NO_ATTRS}
#define BINARY(nm) {nm, 2, 2, 1, NO_ATTRS}
#define A_BOOL(nm, d) {nm, QIAO_ATTR_BOOL, false, d, 0, NULL, 0, NULL}
#define A_INT(nm, d) {nm, QIAO_ATTR_INT, false, d, 0, NULL, 0, NULL}
#define A_INT_REQ(nm) {nm, QIAO_ATTR_INT, true, 0, 0, NULL, 0, NULL}
#define A_FLOAT(nm, d) {nm, QIAO_ATTR_FLOAT, false, 0, d, NULL, 0, NULL}
#define A_ENUM(nm, names) {nm, QIAO_ATTR_ENUM, false, 0, 0, NULL, 0, names}

static const qiao_op_schema_t k_schemas[QIAO_OP_KIND_COUNT] = {
    [QIAO_OP_PARAM] = {"param", 0, 0, 1, NO_ATTRS},
    [QIAO_OP_CONST] = {"const", 0, 0, 1, NO_ATTRS},
    [QIAO_OP_ADD] = BINARY("add"),
    [QIAO_OP_SUB] = BINARY("sub"),
    [QIAO_OP_MUL] = BINARY("mul"),
    [QIAO_OP_DIV] = BINARY("div"),
    [QIAO_OP_MAX] = BINARY("max"),
    [QIAO_OP_MIN] = BINARY("min"),
    [QIAO_OP_POW] = BINARY("pow"),
    [QIAO_OP_NEG] = UNARY("neg"),
    [QIAO_OP_EXP] = UNARY("exp"),
    [QIAO_OP_LOG] = UNARY("log"),
    [QIAO_OP_SQRT] = UNARY("sqrt"),
    [QIAO_OP_RSQRT] = UNARY("rsqrt"),
    [QIAO_OP_TANH] = UNARY("tanh"),
    [QIAO_OP_SIGMOID] = UNARY("sigmoid"),
    [QIAO_OP_SILU] = UNARY("silu"),
    [QIAO_OP_GELU] = {"gelu", 1, 1, 1, 1, {A_ENUM("approximate", k_gelu_names)}},
    [QIAO_OP_RELU] = UNARY("relu"),
    [QIAO_OP_CAST] = {"cast", 1, 1, 1, 1, {{"to", QIAO_ATTR_DTYPE, true, 0, 0, NULL, 0, NULL}}},
    [QIAO_OP_MATMUL] = {"matmul", 2, 2, 1, 2,
                        {A_BOOL("transpose_a", 0), A_BOOL("transpose_b", 0)}},
    [QIAO_OP_REDUCE_SUM] = {"reduce_sum", 1, 1, 1, 2,
                            {{"axes", QIAO_ATTR_INTS, false, 0, 0, k_axes_last, 1, NULL},
                             A_BOOL("keepdims", 0)}},
    [QIAO_OP_REDUCE_MAX] = {"reduce_max", 1, 1, 1, 2,
                            {{"axes", QIAO_ATTR_INTS, false, 0, 0, k_axes_last, 1, NULL},
                             A_BOOL("keepdims", 0)}},
    [QIAO_OP_REDUCE_MEAN] = {"reduce_mean", 1, 1, 1, 2,
                             {{"axes", QIAO_ATTR_INTS, false, 0, 0, k_axes_last, 1, NULL},
                              A_BOOL("keepdims", 0)}},
    [QIAO_OP_SOFTMAX] = {"softmax", 1, 1, 1, 1, {A_INT("axis", -1)}},
    [QIAO_OP_RMS_NORM] = {"rms_norm", 2, 2, 1, 1, {A_FLOAT("eps", 1e-6)}},
    [QIAO_OP_LAYER_NORM] = {"layer_norm", 3, 3, 1, 1, {A_FLOAT("eps", 1e-5)}},
    [QIAO_OP_RESHAPE] = {"reshape", 1, 1, 1, 1,
                         {{"shape", QIAO_ATTR_INTS, true, 0, 0, NULL, 0, NULL}}},
    [QIAO_OP_TRANSPOSE] = {"transpose", 1, 1, 1, 1,
                           {{"perm", QIAO_ATTR_INTS, true, 0, 0, NULL, 0, NULL}}},
    [QIAO_OP_SLICE] = {"slice", 1, 1, 1, 4,
                       {A_INT_REQ("axis"), A_INT_REQ("start"), A_INT_REQ("end"), A_INT("step", 1)}},
    [QIAO_OP_CONCAT] = {"concat", 1, -1, 1, 1, {A_INT_REQ("axis")}},
    [QIAO_OP_GATHER] = {"gather", 2, 2, 1, 1, {A_INT("axis", 0)}},
    [QIAO_OP_ROPE] = {"rope", 2, 2, 1, 2,
                      {A_FLOAT("theta", 10000.0), A_ENUM("mode", k_rope_names)}},
    [QIAO_OP_TOPK] = {"topk", 1, 1, 2, 2, {A_INT_REQ("k"), A_INT("axis", -1)}},
    [QIAO_OP_ATTENTION] = {"attention", 3, 5, 1, 3,
                           {A_BOOL("causal", 0),
                            {"scale", QIAO_ATTR_FLOAT, false, 0, NAN, NULL, 0, NULL},
                            A_INT("window", 0)}},
    [QIAO_OP_MOE] = {"moe", 5, 5, 1, 3,
                     {A_INT("top_k", 2), A_BOOL("norm_topk", 1),
                      A_ENUM("router_fn", k_router_names)}},
};

const qiao_op_schema_t *qiao_op_schema(qiao_op_kind_t kind) {
  if ((int)kind < 0 || kind >= QIAO_OP_KIND_COUNT) return &k_schemas[QIAO_OP_PARAM];
  return &k_schemas[kind];
}

bool qiao_op_kind_from_name(const char *name, size_t len, qiao_op_kind_t *out_kind) {
  for (int k = 0; k < QIAO_OP_KIND_COUNT; ++k) {
    const char *n = k_schemas[k].name;
    if (strlen(n) == len && memcmp(n, name, len) == 0) {
      *out_kind = (qiao_op_kind_t)k;
      return true;
    }
  }
  return false;
}

/* Where attribute idx of op `kind` lives in qiao_attrs_t. Scalars are
 * accessed as int64/double; INTS as a (vals, count) pair. */
typedef struct {
  int64_t *i64;
  bool *b;
  int32_t *enum32; /* enums and dtypes are stored as their C enum */
  double *f;
  int64_t *ints;
  int32_t *n_ints;
} field_ref_t;

static field_ref_t field_ref(qiao_attrs_t *a, qiao_op_kind_t kind, int idx) {
  field_ref_t r = {0};
  const char *nm = qiao_op_schema(kind)->attrs[idx].name;
  if (!strcmp(nm, "transpose_a")) r.b = &a->transpose_a;
  else if (!strcmp(nm, "transpose_b")) r.b = &a->transpose_b;
  else if (!strcmp(nm, "axes")) r.ints = a->axes, r.n_ints = &a->n_axes;
  else if (!strcmp(nm, "keepdims")) r.b = &a->keepdims;
  else if (!strcmp(nm, "axis")) r.i64 = &a->axis;
  else if (!strcmp(nm, "eps")) r.f = &a->eps;
  else if (!strcmp(nm, "shape")) r.ints = a->shape, r.n_ints = &a->n_shape;
  else if (!strcmp(nm, "perm")) r.ints = a->perm, r.n_ints = &a->n_perm;
  else if (!strcmp(nm, "start")) r.i64 = &a->start;
  else if (!strcmp(nm, "end")) r.i64 = &a->end;
  else if (!strcmp(nm, "step")) r.i64 = &a->step;
  else if (!strcmp(nm, "theta")) r.f = &a->theta;
  else if (!strcmp(nm, "mode")) r.enum32 = (int32_t *)&a->mode;
  else if (!strcmp(nm, "k")) r.i64 = &a->k;
  else if (!strcmp(nm, "causal")) r.b = &a->causal;
  else if (!strcmp(nm, "scale")) r.f = &a->scale;
  else if (!strcmp(nm, "window")) r.i64 = &a->window;
  else if (!strcmp(nm, "top_k")) r.i64 = &a->top_k;
  else if (!strcmp(nm, "norm_topk")) r.b = &a->norm_topk;
  else if (!strcmp(nm, "router_fn")) r.enum32 = (int32_t *)&a->router_fn;
  else if (!strcmp(nm, "to")) r.enum32 = (int32_t *)&a->to;
  else if (!strcmp(nm, "approximate")) r.enum32 = (int32_t *)&a->approximate;
  return r;
}

void qiao_attrs_get(const qiao_attrs_t *a, qiao_op_kind_t kind, int idx, int64_t *out_i,
                    double *out_f, const int64_t **out_ints, int32_t *out_n) {
  field_ref_t r = field_ref((qiao_attrs_t *)a, kind, idx);
  if (out_i) *out_i = r.i64 ? *r.i64 : r.b ? (int64_t)*r.b : r.enum32 ? (int64_t)*r.enum32 : 0;
  if (out_f) *out_f = r.f ? *r.f : 0.0;
  if (out_ints) *out_ints = r.ints;
  if (out_n) *out_n = r.n_ints ? *r.n_ints : 0;
}

void qiao_attrs_set(qiao_attrs_t *a, qiao_op_kind_t kind, int idx, int64_t i, double f,
                    const int64_t *ints, int32_t n) {
  field_ref_t r = field_ref(a, kind, idx);
  if (r.i64) *r.i64 = i;
  if (r.b) *r.b = i != 0;
  if (r.enum32) *r.enum32 = (int32_t)i;
  if (r.f) {
    *r.f = f;
    if (r.f == &a->scale) a->has_scale = !isnan(f);
  }
  if (r.ints) {
    if (n > QIAO_MAX_RANK) n = QIAO_MAX_RANK;
    if (n > 0 && ints) memcpy(r.ints, ints, sizeof(int64_t) * (size_t)n);
    *r.n_ints = n;
  }
}

void qiao_attrs_init_defaults(qiao_attrs_t *a, qiao_op_kind_t kind) {
  const qiao_op_schema_t *s = qiao_op_schema(kind);
  for (int i = 0; i < s->n_attrs; ++i) {
    const qiao_attr_schema_t *as = &s->attrs[i];
    qiao_attrs_set(a, kind, i, as->default_int, as->default_float, as->default_ints,
                   as->n_default_ints);
  }
  if (kind == QIAO_OP_ATTENTION) a->has_scale = false;
}

bool qiao_attrs_is_default(const qiao_attrs_t *a, qiao_op_kind_t kind, int idx) {
  const qiao_attr_schema_t *as = &qiao_op_schema(kind)->attrs[idx];
  if (as->required) return false;
  int64_t i;
  double f;
  const int64_t *ints;
  int32_t n;
  qiao_attrs_get(a, kind, idx, &i, &f, &ints, &n);
  switch (as->kind) {
  case QIAO_ATTR_FLOAT:
    if (isnan(as->default_float)) return isnan(f);
    return f == as->default_float && !isnan(f);
  case QIAO_ATTR_INTS:
    return n == as->n_default_ints &&
           (n == 0 || memcmp(ints, as->default_ints, sizeof(int64_t) * (size_t)n) == 0);
  default:
    return i == as->default_int;
  }
}

void qiao_attention_operand_roles(int32_t n_operands, qiao_dtype_t dtype3, int32_t *out_mask,
                                  int32_t *out_kv_len) {
  int32_t mask = -1, kv_len = -1;
  if (n_operands >= 5) {
    mask = 3;
    kv_len = 4;
  } else if (n_operands == 4) {
    if (qiao_dtype_is_int(dtype3))
      kv_len = 3;
    else
      mask = 3;
  }
  if (out_mask) *out_mask = mask;
  if (out_kv_len) *out_kv_len = kv_len;
}
