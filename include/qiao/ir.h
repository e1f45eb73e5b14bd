/* Qiao — the tensor IR.
 *
 * Contents
 *   1. dtypes and shapes            qiao_dtype_t, qiao_shape_t, qiao_type_t
 *   2. ops and their attributes     qiao_op_kind_t, qiao_attrs_t, op schema table
 *   3. graphs and the builder       qiao_graph_t, qiao_ir_graph_*
 *   4. shape inference, verifier    qiao_ir_infer_op, qiao_ir_graph_verify
 *   5. text format                  qiao_ir_parse, qiao_ir_print
 *   6. tensors, safetensors         qiao_tensor_t, qiao_safetensors_*
 *   7. reference interpreter        qiao_interp_run
 *   8. numeric helpers              storage rounding for every dtype
 *
 * A graph owns all its memory in one arena: qiao_ir_graph_destroy() frees it
 * at once. Values and ops are addressed by int32 ids (indices into the
 * graph's arrays), so a graph can grow without invalidating ids.
 * This layer knows nothing of devices or LLVM.
 */
#ifndef QIAO_IR_H
#define QIAO_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "qiao/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- 1. types */

typedef enum qiao_dtype {
  QIAO_F32 = 0,
  QIAO_F16,
  QIAO_BF16,
  QIAO_F8E4M3,
  QIAO_F8E5M2,
  QIAO_I8,
  QIAO_I32,
  QIAO_I64,
  QIAO_BOOL,
  QIAO_DTYPE_COUNT
} qiao_dtype_t;

#define QIAO_MAX_RANK 8

typedef struct qiao_shape {
  int32_t rank;
  int64_t dims[QIAO_MAX_RANK];
} qiao_shape_t;

typedef struct qiao_type {
  qiao_dtype_t dtype;
  qiao_shape_t shape;
} qiao_type_t;

/* "f32", "bf16", ... */
const char *qiao_dtype_name(qiao_dtype_t dt);
/* Parses a dtype name; returns false when unknown. */
bool qiao_dtype_from_name(const char *name, size_t len, qiao_dtype_t *out_dt);
/* Bytes per element in storage (bool is one byte). */
size_t qiao_dtype_size(qiao_dtype_t dt);
bool qiao_dtype_is_float(qiao_dtype_t dt);
bool qiao_dtype_is_int(qiao_dtype_t dt); /* i8 i32 i64 (not bool) */

int64_t qiao_shape_numel(const qiao_shape_t *s);
/* The bytes a tensor of type t occupies (numel × dtype size) in *out_bytes.
 * False when t is invalid (dtype, rank, a negative dim) or when the element
 * count or the byte size overflows int64 — with zero dims counted as 1, so
 * the row-major strides of an empty tensor fit too. Every type the verifier
 * and the builder accept passes. */
bool qiao_type_nbytes(const qiao_type_t *t, int64_t *out_bytes);
bool qiao_shape_equal(const qiao_shape_t *a, const qiao_shape_t *b);
bool qiao_type_equal(const qiao_type_t *a, const qiao_type_t *b);
/* Writes "f32[4, 4096]" into buf (always NUL-terminated); returns buf. */
char *qiao_type_str(const qiao_type_t *t, char *buf, size_t cap);

/* ------------------------------------------------------------------ 2. ops */

typedef enum qiao_op_kind {
  /* graph-level leaves */
  QIAO_OP_PARAM = 0, /* named weight, attrs.param_name */
  QIAO_OP_CONST,     /* literal tensor, attrs.const_* */
  /* binary elementwise (numpy broadcasting) */
  QIAO_OP_ADD,
  QIAO_OP_SUB,
  QIAO_OP_MUL,
  QIAO_OP_DIV,
  QIAO_OP_MAX,
  QIAO_OP_MIN,
  QIAO_OP_POW,
  /* unary elementwise */
  QIAO_OP_NEG,
  QIAO_OP_EXP,
  QIAO_OP_LOG,
  QIAO_OP_SQRT,
  QIAO_OP_RSQRT,
  QIAO_OP_TANH,
  QIAO_OP_SIGMOID,
  QIAO_OP_SILU,
  QIAO_OP_GELU,
  QIAO_OP_RELU,
  QIAO_OP_CAST,
  /* contractions, reductions, normalizations */
  QIAO_OP_MATMUL,
  QIAO_OP_REDUCE_SUM,
  QIAO_OP_REDUCE_MAX,
  QIAO_OP_REDUCE_MEAN,
  QIAO_OP_SOFTMAX,
  QIAO_OP_RMS_NORM,
  QIAO_OP_LAYER_NORM,
  /* data movement */
  QIAO_OP_RESHAPE,
  QIAO_OP_TRANSPOSE,
  QIAO_OP_SLICE,
  QIAO_OP_CONCAT,
  QIAO_OP_GATHER,
  /* model-level ops */
  QIAO_OP_ROPE,
  QIAO_OP_TOPK,
  QIAO_OP_ATTENTION,
  QIAO_OP_MOE,
  QIAO_OP_KIND_COUNT
} qiao_op_kind_t;

typedef enum { QIAO_GELU_NONE = 0, QIAO_GELU_TANH = 1 } qiao_gelu_approx_t;
typedef enum { QIAO_ROPE_NEOX = 0, QIAO_ROPE_GPTJ = 1 } qiao_rope_mode_t;
typedef enum { QIAO_ROUTER_SOFTMAX = 0, QIAO_ROUTER_SIGMOID = 1 } qiao_router_fn_t;

/* Every attribute of every op, in one flat struct. An op uses the fields its
 * schema lists; the others stay at their zero value. After parsing or
 * building, every attribute the op's schema lists holds a value (defaults
 * filled in), so consumers never look for "absent". */
typedef struct qiao_attrs {
  /* matmul */
  bool transpose_a, transpose_b;
  /* reduce_*: axes as written (may be negative), keepdims */
  int32_t n_axes;
  int64_t axes[QIAO_MAX_RANK];
  bool keepdims;
  /* softmax, slice, concat, gather, topk: axis as written (may be negative) */
  int64_t axis;
  /* rms_norm, layer_norm */
  double eps;
  /* reshape: target shape as written (one -1 allowed) */
  int32_t n_shape;
  int64_t shape[QIAO_MAX_RANK];
  /* transpose */
  int32_t n_perm;
  int64_t perm[QIAO_MAX_RANK];
  /* slice: as written (negative counts from the end) */
  int64_t start, end, step;
  /* rope */
  double theta;
  qiao_rope_mode_t mode;
  /* topk */
  int64_t k;
  /* attention: scale is 1/sqrt(D) when has_scale is false */
  bool causal;
  bool has_scale;
  double scale;
  int64_t window;
  /* moe */
  int64_t top_k;
  bool norm_topk;
  qiao_router_fn_t router_fn;
  /* cast */
  qiao_dtype_t to;
  /* gelu */
  qiao_gelu_approx_t approximate;
  /* param: the name in the weights file (arena string) */
  const char *param_name;
  /* const: n_values is 1 (a splat) or the numel of the result type. Values
   * are kept as written: as doubles for float and bool dtypes, as int64 for
   * integer dtypes (exactly one of the two arrays is non-NULL). */
  int64_t n_values;
  double *const_f;
  int64_t *const_i;
} qiao_attrs_t;

/* Attribute kinds, for the table-driven parser and printer. */
typedef enum qiao_attr_kind {
  QIAO_ATTR_BOOL,
  QIAO_ATTR_INT,
  QIAO_ATTR_FLOAT,
  QIAO_ATTR_INTS,   /* [1, -1, 2] */
  QIAO_ATTR_DTYPE,  /* f32 */
  QIAO_ATTR_ENUM,   /* "neox" */
} qiao_attr_kind_t;

typedef struct qiao_attr_schema {
  const char *name;
  qiao_attr_kind_t kind;
  bool required;          /* no default: must be written */
  /* default value, used when not written (and omitted when printing) */
  int64_t default_int;    /* BOOL, INT, DTYPE, ENUM (enum index) */
  double default_float;   /* FLOAT */
  const int64_t *default_ints; int32_t n_default_ints;
  const char *const *enum_names; /* ENUM: names by index, NULL-terminated */
} qiao_attr_schema_t;

#define QIAO_MAX_ATTRS 4

typedef struct qiao_op_schema {
  const char *name;       /* "matmul" */
  int32_t min_operands;   /* variadic ops (concat) have max_operands = -1 */
  int32_t max_operands;
  int32_t n_results;      /* topk: 2, others 1 */
  int32_t n_attrs;
  qiao_attr_schema_t attrs[QIAO_MAX_ATTRS];
} qiao_op_schema_t;

/* The schema of an op kind (never NULL for a valid kind). */
const qiao_op_schema_t *qiao_op_schema(qiao_op_kind_t kind);
/* Looks an op up by its text name; returns false when unknown. */
bool qiao_op_kind_from_name(const char *name, size_t len, qiao_op_kind_t *out_kind);
static inline const char *qiao_op_name(qiao_op_kind_t k) { return qiao_op_schema(k)->name; }

/* Reads / writes one attribute of `a` by its schema entry. Ints, bools,
 * enums and dtypes travel as int64; floats as double; INTS as (vals, n). */
void qiao_attrs_get(const qiao_attrs_t *a, qiao_op_kind_t kind, int idx, int64_t *out_i,
                    double *out_f, const int64_t **out_ints, int32_t *out_n);
void qiao_attrs_set(qiao_attrs_t *a, qiao_op_kind_t kind, int idx, int64_t i, double f,
                    const int64_t *ints, int32_t n);
/* Fills every attribute of `kind` with its default. */
void qiao_attrs_init_defaults(qiao_attrs_t *a, qiao_op_kind_t kind);
/* True when attribute idx of `a` equals its default (printer omits it). */
bool qiao_attrs_is_default(const qiao_attrs_t *a, qiao_op_kind_t kind, int idx);
/* Attention's operands are q, k, v[, mask][, kv_len]: with 4 operands the 4th
 * is kv_len when its dtype (`dtype3`) is an integer, else the mask; with 5 they
 * are mask then kv_len. Writes the operand index of each (-1: absent). The
 * same rule serves graphs (operands) and kernel descriptors (primary inputs). */
void qiao_attention_operand_roles(int32_t n_operands, qiao_dtype_t dtype3, int32_t *out_mask,
                                  int32_t *out_kv_len);

/* ---------------------------------------------------------- 3. graph, builder */

typedef enum qiao_value_kind {
  QIAO_VALUE_INPUT = 0, /* graph input */
  QIAO_VALUE_RESULT = 1 /* result of an op (params and consts included) */
} qiao_value_kind_t;

typedef struct qiao_loc {
  int32_t line, col; /* 1-based; 0 when built through the API */
} qiao_loc_t;

typedef struct qiao_value {
  const char *name;        /* without '%'; NULL for anonymous (nested) values */
  qiao_type_t type;
  qiao_value_kind_t kind;
  int32_t def_op;          /* defining op id, -1 for inputs */
  int32_t def_result;      /* which result of def_op */
  int32_t input_index;     /* index among graph inputs, -1 otherwise */
} qiao_value_t;

/* How an op is written in the text format. */
typedef enum qiao_op_form {
  QIAO_FORM_STATEMENT = 0, /* "%x = op ..." */
  QIAO_FORM_NESTED = 1,    /* "(op ...)" inside another op's operand list */
  QIAO_FORM_LITERAL = 2,   /* a const written as a bare number operand: "mul %x, 0.5" */
} qiao_op_form_t;

typedef struct qiao_op {
  qiao_op_kind_t kind;
  int32_t n_operands;
  int32_t *operands;       /* value ids (arena) */
  int32_t n_results;
  int32_t results[2];      /* value ids */
  qiao_attrs_t attrs;
  qiao_op_form_t form;
  bool types_written;      /* the text gave result types (printed always anyway) */
  qiao_loc_t loc;
} qiao_op_t;

typedef struct qiao_arena qiao_arena_t;

typedef struct qiao_graph {
  const char *name;        /* without '@' */
  qiao_arena_t *arena;
  int32_t n_values, cap_values;
  qiao_value_t *values;
  int32_t n_ops, cap_ops;
  qiao_op_t *ops;          /* in program order (defs before uses) */
  int32_t n_inputs, cap_inputs;
  int32_t *inputs;         /* value ids */
  int32_t n_outputs;
  int32_t *outputs;        /* value ids, as in `return` */
  qiao_type_t *output_types; /* declared in the signature, n_outputs of them */
  qiao_loc_t loc;
  struct qiao_name_index *names; /* private: name → value id hash (graph.c) */
} qiao_graph_t;

/* Creates an empty graph named `name` (copied). Destroy with
 * qiao_ir_graph_destroy. */
qiao_status_t qiao_ir_graph_create(const char *name, qiao_graph_t **out_graph);
void qiao_ir_graph_destroy(qiao_graph_t *g);

/* Allocates `size` zeroed bytes in the graph's arena (freed with the graph). */
void *qiao_ir_graph_alloc(qiao_graph_t *g, size_t size);
/* Copies a string (len bytes, or strlen when len == (size_t)-1) into the arena. */
const char *qiao_ir_graph_strdup(qiao_graph_t *g, const char *s, size_t len);

/* Adds a graph input named `name`; writes its value id. */
qiao_status_t qiao_ir_graph_add_input(qiao_graph_t *g, const char *name, qiao_type_t type,
                                      int32_t *out_value);
/* Adds an op with the given operands and attributes (copied; pass NULL for
 * defaults). Result types are inferred; when `result_types` is non-NULL they
 * are checked against the inferred ones. Result values get the names in
 * `result_names` (NULL array or NULL entries: anonymous). Writes the op id.
 * On error the graph is unchanged. */
qiao_status_t qiao_ir_graph_add_op(qiao_graph_t *g, qiao_op_kind_t kind, const int32_t *operands,
                                   int32_t n_operands, const qiao_attrs_t *attrs,
                                   const qiao_type_t *result_types, const char *const *result_names,
                                   qiao_loc_t loc, int32_t *out_op);
/* Sets the graph outputs and their declared types (copied). */
qiao_status_t qiao_ir_graph_set_outputs(qiao_graph_t *g, const int32_t *values, int32_t n);

/* Convenience builders: the result value id of a one-result op, or -1 with
 * *status set. Attributes are defaults unless given. */
int32_t qiao_ir_build(qiao_graph_t *g, qiao_op_kind_t kind, const int32_t *operands, int32_t n,
                      const qiao_attrs_t *attrs, const char *name, qiao_status_t *status);
int32_t qiao_ir_build_param(qiao_graph_t *g, const char *param_name, qiao_type_t type,
                            const char *name, qiao_status_t *status);
/* A const of `type` from n values (1: splat) given as doubles. */
int32_t qiao_ir_build_const(qiao_graph_t *g, qiao_type_t type, const double *vals, int64_t n,
                            const char *name, qiao_status_t *status);

/* Looks up a value by name; -1 when absent. */
int32_t qiao_ir_graph_find_value(const qiao_graph_t *g, const char *name);

/* Deep structural equality: names, types, ops, attributes, forms, outputs. */
bool qiao_ir_graph_equal(const qiao_graph_t *a, const qiao_graph_t *b);

/* ------------------------------------------------ 4. inference and verifier */

/* Infers the result types of an op of `kind` on operands of the given types
 * with the given attributes. Writes schema->n_results types. The error message
 * says what was expected ("matmul: contraction dims differ: a has K=3, b has
 * K=4"); it carries no position (callers add one). */
qiao_status_t qiao_ir_infer_op(qiao_op_kind_t kind, const qiao_type_t *operand_types,
                               int32_t n_operands, const qiao_attrs_t *attrs,
                               qiao_type_t *out_result_types);

/* Checks a whole graph: ids in range, defs before uses, every op's operand
 * count and attributes against its schema, every result type equal to the
 * inferred one, unique value names, outputs present and matching the
 * declared output types. The message names the op (and its line:col when it
 * came from text). */
qiao_status_t qiao_ir_graph_verify(const qiao_graph_t *g);

/* --------------------------------------------------------- 5. text format */

/* Parses one graph from `text` (len bytes, need not be NUL-terminated).
 * `filename` is used in messages: "file:line:col: expected ...". The graph is
 * verified before it is returned. On error *out_graph is NULL. */
qiao_status_t qiao_ir_parse(const char *text, size_t len, const char *filename,
                            qiao_graph_t **out_graph);
/* Reads and parses a file. */
qiao_status_t qiao_ir_parse_file(const char *path, qiao_graph_t **out_graph);

/* Prints the canonical form of `g`. Returns a malloc'ed NUL-terminated string
 * (caller frees) in *out_text. */
qiao_status_t qiao_ir_print(const qiao_graph_t *g, char **out_text);
qiao_status_t qiao_ir_print_to_file(const qiao_graph_t *g, FILE *f);

/* Formats a double the shortest way that reads back to the same value, always
 * with a '.', 'e', "inf" or "nan" so it reads as a float ("0.5", "1e-06", "1.0"). */
void qiao_format_double(double v, char *buf, size_t cap);

/* ------------------------------------------------- 6. tensors, safetensors */

/* A dense row-major host tensor in storage format (bf16 as its 16 bits,
 * f8 as its 8 bits, bool as one byte 0/1). */
typedef struct qiao_tensor {
  qiao_type_t type;
  void *data;     /* qiao_shape_numel * qiao_dtype_size bytes */
  bool owns_data;
} qiao_tensor_t;

/* Allocates a zeroed tensor of `type`. Free with qiao_tensor_destroy. */
qiao_status_t qiao_tensor_create(qiao_type_t type, qiao_tensor_t **out_tensor);
void qiao_tensor_destroy(qiao_tensor_t *t);
size_t qiao_tensor_nbytes(const qiao_tensor_t *t);
/* Element i as a double / stored from a double (with storage rounding). */
double qiao_tensor_get_f64(const qiao_tensor_t *t, int64_t i);
void qiao_tensor_set_f64(qiao_tensor_t *t, int64_t i, double v);
/* Fills with uniform random values in [lo, hi) (ints: [lo, hi) integers),
 * from a deterministic generator seeded by *rng_state (advanced). */
void qiao_tensor_fill_random(qiao_tensor_t *t, uint64_t *rng_state, double lo, double hi);
/* Order-independent-free checksum: sum of |x| and a position-weighted sum,
 * printed by tools as a quick fingerprint. */
double qiao_tensor_checksum(const qiao_tensor_t *t);

/* The range random weights for param value `v` are drawn from, by its role
 * in g: norm weights near 1 ([0.9, 1.1)), matmul weights ±1/sqrt(fan_in),
 * other vectors ±0.1, scalars ±1, gather tables' integer indices in range.
 * Used by qiao-gen-weights and qiao-run --random alike. */
void qiao_ir_param_init_range(const qiao_graph_t *g, int32_t v, double *out_lo, double *out_hi);

/* The oracle's error measure: max |x - ref| / max(max |ref|, 1e-30) for float
 * dtypes (NaN where ref is finite: +inf; matching NaN/inf: no error), the max
 * absolute difference for integers and bool. Types must be equal. */
double qiao_tensor_max_error(const qiao_tensor_t *x, const qiao_tensor_t *ref);
/* The tolerance on that error by dtype: f32 1e-5, f16/bf16 1e-2, f8 0.15,
 * integers and bool 0 (exact). */
double qiao_dtype_tolerance(qiao_dtype_t dt);

/* A safetensors file read into memory. Tensors are views into the file. */
typedef struct qiao_safetensors qiao_safetensors_t;

/* Reads and validates a safetensors file: the 8-byte header length, the JSON
 * header (object of {dtype, shape, data_offsets} plus optional __metadata__),
 * known dtypes, shapes matching byte sizes, offsets in range, non-overlapping
 * and covering the data section. Errors name the path and the byte offset or
 * tensor name. */
qiao_status_t qiao_safetensors_open(const char *path, qiao_safetensors_t **out_st);
/* Same, on a memory buffer (copied); `name` is used in messages. */
qiao_status_t qiao_safetensors_parse(const void *data, size_t len, const char *name,
                                     qiao_safetensors_t **out_st);
void qiao_safetensors_destroy(qiao_safetensors_t *st);
int32_t qiao_safetensors_count(const qiao_safetensors_t *st);
/* Name of tensor i (in file order). */
const char *qiao_safetensors_name(const qiao_safetensors_t *st, int32_t i);
/* Looks a tensor up by name; on success *out_view is a view (owns_data false)
 * valid until the file is destroyed. QIAO_NOT_FOUND when absent. */
qiao_status_t qiao_safetensors_get(const qiao_safetensors_t *st, const char *name,
                                   qiao_tensor_t *out_view);
/* Writes tensors to `path` atomically (temp file + rename). */
qiao_status_t qiao_safetensors_write(const char *path, const char *const *names,
                                     const qiao_tensor_t *const *tensors, int32_t n);

/* ------------------------------------------------ 7. reference interpreter */

/* Runs `g` on the host. inputs[i] is graph input i. params are looked up by
 * name in `weights` (may be NULL), then in `params`/`param_names` (n_params
 * extra tensors, may be 0). Every float op computes in f64 and rounds to the
 * result dtype on store. On success out_outputs[i] receives a new tensor
 * (caller destroys) for each graph output. */
qiao_status_t qiao_interp_run(const qiao_graph_t *g, const qiao_tensor_t *const *inputs,
                              const qiao_safetensors_t *weights, const char *const *param_names,
                              const qiao_tensor_t *const *params, int32_t n_params,
                              qiao_tensor_t **out_outputs);

/* ------------------------------------------------------- 8. numeric helpers */

/* Round-to-nearest-even conversions. f8e4m3 (no infinities) saturates to
 * ±448; f8e5m2 overflows to ±inf; NaN stays NaN. */
uint16_t qiao_f32_to_bf16(float v);
float qiao_bf16_to_f32(uint16_t v);
uint16_t qiao_f32_to_f16(float v);
float qiao_f16_to_f32(uint16_t v);
uint8_t qiao_f32_to_f8e4m3(float v);
float qiao_f8e4m3_to_f32(uint8_t v);
uint8_t qiao_f32_to_f8e5m2(float v);
float qiao_f8e5m2_to_f32(uint8_t v);
/* Rounds a double to what dtype `dt` can store, and back to double (RNE for
 * floats from the double directly, no double rounding through f32 except
 * where f32 is the target; ints truncate toward zero and saturate; bool is
 * v != 0). */
double qiao_round_to_dtype(double v, qiao_dtype_t dt);
/* Loads element i of a raw buffer of dtype dt as a double; stores with rounding. */
double qiao_load_f64(const void *data, qiao_dtype_t dt, int64_t i);
void qiao_store_f64(void *data, qiao_dtype_t dt, int64_t i, double v);


/* ------------------------------------------- 9. fusion and kernel descriptors */

/* A kernel descriptor is what a backend lowers: one kernel, its operands
 * (types and element strides; stride 0 marks a broadcast dim), the primary
 * op with its attributes, and fused prologue/epilogue expressions. Backends
 * read descriptors, never graphs. */
typedef enum qiao_kd_kind {
  QIAO_KD_ELEMENTWISE = 0,
  QIAO_KD_REDUCE,
  QIAO_KD_SOFTMAX,
  QIAO_KD_NORM,
  QIAO_KD_MATMUL,
  QIAO_KD_ATTENTION,
  QIAO_KD_MOE,
  QIAO_KD_GATHER,
  QIAO_KD_TOPK,
  QIAO_KD_COPY, /* reshape, transpose, slice, concat, rope: data movement by index map */
  QIAO_KD_KIND_COUNT
} qiao_kd_kind_t;

const char *qiao_kd_kind_name(qiao_kd_kind_t k);

/* A fused expression: a small DAG in topological order. Node i may only use
 * nodes < i. The last node is the result. */
typedef enum qiao_expr_node_kind {
  QIAO_EXPR_INPUT = 0, /* kernel input `input` loaded at the output index (broadcast by strides) */
  QIAO_EXPR_ACC,       /* the primary op's result (matmul/attention/reduce...) in f32 */
  QIAO_EXPR_CONST,     /* scalar `value` */
  QIAO_EXPR_OP,        /* elementwise op `op` on args (unary: args[0]; cast: to) */
} qiao_expr_node_kind_t;

/* 16 bytes: a kernel holds up to QIAO_EXPR_MAX_NODES of them. Enum-valued
 * fields are stored narrow; read them as their enum types. */
typedef struct qiao_expr_node {
  uint8_t kind;        /* qiao_expr_node_kind_t */
  uint8_t op;          /* QIAO_EXPR_OP: qiao_op_kind_t, an elementwise op or QIAO_OP_CAST */
  uint8_t dtype;       /* qiao_dtype_t: the node's dtype (storage rounding point in the graph) */
  uint8_t to;          /* QIAO_OP_CAST: qiao_dtype_t target */
  uint8_t approximate; /* QIAO_OP_GELU: qiao_gelu_approx_t */
  uint8_t input;       /* QIAO_EXPR_INPUT: kernel input index */
  int8_t args[2];      /* QIAO_EXPR_OP: earlier node indices (unary: args[1] = -1) */
  double value;        /* QIAO_EXPR_CONST */
} qiao_expr_node_t;

/* Hard maxima of one descriptor (a fusion policy may ask for less). Node
 * indices fit qiao_expr_node_t's int8 args, input indices its uint8 input. */
#define QIAO_KD_MAX_OPERANDS 16
#define QIAO_EXPR_MAX_NODES 64

typedef struct qiao_kd_operand {
  qiao_type_t type;                 /* the tensor's own type */
  int64_t strides[QIAO_MAX_RANK];   /* its element strides in memory (row-major: contiguous) */
  /* Expression inputs (inputs[n_primary_inputs..n_inputs)) only, NULL for
   * other operands: QIAO_MAX_RANK element strides indexed by the OUTPUT's dims
   * (outputs[0] rank), right-aligned numpy broadcasting, 0 where broadcast
   * and past the output's rank. Owned like the descriptor's arrays. */
  int64_t *out_strides;
  int32_t value;                    /* graph value id (-1 when none) */
} qiao_kd_operand_t;

typedef struct qiao_kernel_desc {
  qiao_kd_kind_t kind;
  qiao_op_kind_t op;          /* primary op (QIAO_OP_ADD... for pure elementwise) */
  qiao_attrs_t attrs;         /* primary op's attributes (const payloads not kept) */
  qiao_dtype_t primary_dtype; /* the primary op's result dtype: EXPR_ACC is the primary
                                 result rounded to this dtype (ELEMENTWISE: unused) */
  int32_t n_inputs;
  qiao_kd_operand_t *inputs;  /* n_inputs of them (owned by the partition, or the clone;
                                 a partition stores outputs right after inputs) */
  int32_t n_primary_inputs;   /* inputs[0..n_primary) feed the primary op in operand order;
                                 the rest feed prologue/epilogue expressions */
  int32_t n_outputs;          /* 1, or 2 for topk */
  qiao_kd_operand_t *outputs; /* n_outputs of them (owned like inputs) */
  /* Prologue: rms_norm/layer_norm fused into a matmul's A operand. */
  bool has_norm_prologue;
  qiao_op_kind_t norm_op;     /* QIAO_OP_RMS_NORM or QIAO_OP_LAYER_NORM */
  double norm_eps;
  int32_t norm_weight_input;  /* index into inputs */
  int32_t norm_bias_input;    /* layer_norm only, else -1 */
  qiao_dtype_t norm_dtype;    /* the norm's result dtype (rounding point) */
  /* Epilogue (or the whole body for ELEMENTWISE): applied to each output element. */
  int32_t n_expr;
  qiao_expr_node_t *expr;     /* n_expr of them (owned like inputs) */
  /* COPY of a concat split over several kernels (more inputs than the operand
   * budget): this kernel writes its inputs at this offset along the concat axis
   * of outputs[0], the whole concat result; 0 otherwise. */
  int64_t copy_out_offset;
  /* The graph ops this kernel covers, for reports. */
  int32_t n_ops;
  int32_t *ops;               /* owned like inputs */
} qiao_kernel_desc_t;

typedef struct qiao_partition {
  int32_t n_kernels;
  qiao_kernel_desc_t *kernels; /* in execution order */
  /* Per graph value: the value whose storage it shares (a free reshape of a
   * contiguous value), or -1. Chains are resolved: alias[v] is never itself
   * an alias. Values produced by no kernel and aliasing nothing are inputs,
   * params and consts: the runtime binds them. */
  int32_t n_values;
  int32_t *alias;
  /* Per graph value: true when some kernel computes it (it needs storage of
   * its own unless aliased). Values fused inside a kernel have no storage.
   * A value may be produced by several kernels (a split concat): its storage
   * must exist from the first of them. */
  bool *materialized;
  void *storage; /* private: one block holding kernels and their arrays */
} qiao_partition_t;

/* What a backend lets fusion do. Every decision of the partition pass is here;
 * qiao_fusion_policy_default() is the CPU backend's choice. */
typedef struct qiao_fusion_policy {
  /* Inline single-use elementwise producers of the root's shape into one
   * elementwise kernel (false: one kernel per elementwise op). */
  bool fuse_elementwise;
  /* Bit (1u << kind) set: an anchor of that qiao_kd_kind_t may take an
   * elementwise epilogue (become the primary op of an elementwise root's
   * kernel). ELEMENTWISE and TOPK bits are ignored. */
  uint32_t epilogue_anchors;
  /* rms_norm/layer_norm recomputed as a prologue of the matmuls that use it as
   * their (non-transposed) A operand. */
  bool norm_prologue;
  /* Budgets of one descriptor: 1 ≤ max_operands ≤ QIAO_KD_MAX_OPERANDS,
   * 1 ≤ max_expr_nodes ≤ QIAO_EXPR_MAX_NODES. A fused kernel that would
   * exceed them is built unfused; a concat with more inputs is split into
   * several COPY kernels; any other op with more operands than max_operands
   * is an error naming the op. */
  int32_t max_operands;
  int32_t max_expr_nodes;
} qiao_fusion_policy_t;

/* The default policy (the CPU backend's): fuse elementwise chains; every
 * anchor kind (reduce, softmax, norm, matmul, attention, moe, gather, copy)
 * takes an epilogue; norm prologues on; budgets at the hard maxima. Static. */
const qiao_fusion_policy_t *qiao_fusion_policy_default(void);
/* Checks a policy's budgets; the message names the field and its range. */
qiao_status_t qiao_fusion_policy_check(const qiao_fusion_policy_t *policy);

/* Fuses and partitions a verified graph into kernel descriptors under
 * `policy` (NULL: the default; it is read during the call only). Reshape of
 * a contiguous value is free (aliased) and produces no kernel. On success the
 * caller owns *out_partition (qiao_ir_partition_destroy frees it and every
 * descriptor's arrays at once). */
qiao_status_t qiao_ir_partition(const qiao_graph_t *g, const qiao_fusion_policy_t *policy,
                                qiao_partition_t **out_partition);
void qiao_ir_partition_destroy(qiao_partition_t *p);
/* A stable 64-bit hash of a descriptor (kinds, types, strides, attributes,
 * expressions, copy offset), for compile caches. */
uint64_t qiao_kernel_desc_hash(const qiao_kernel_desc_t *kd);
/* Exact equality on the same fields the hash covers (cache hits are confirmed
 * with it, so a hash collision never reuses the wrong kernel). */
bool qiao_kernel_desc_equal(const qiao_kernel_desc_t *a, const qiao_kernel_desc_t *b);
/* Deep copy of kd (inputs, expression and ops included) in one malloc'ed
 * block, independent of the partition it came from. The caller owns
 * *out_kd and frees it with qiao_kernel_desc_destroy. */
qiao_status_t qiao_kernel_desc_clone(const qiao_kernel_desc_t *kd, qiao_kernel_desc_t **out_kd);
/* Frees a descriptor made by qiao_kernel_desc_clone (never one of a
 * partition's). NULL is a no-op. */
void qiao_kernel_desc_destroy(qiao_kernel_desc_t *kd);
/* Bytes of the descriptor and its arrays (inputs, expression, ops). */
size_t qiao_kernel_desc_footprint(const qiao_kernel_desc_t *kd);

/* The work of a kernel, for cost models (docs/cuda-model.md): contracting
 * FLOPs (matmul, attention's QKᵀ/PV, MoE GEMMs: 2 per multiply-add) with the
 * dtype of their inputs, every other FLOP (epilogues, reductions, softmax,
 * norms: a fixed count per element), and the device-memory bytes of reading
 * each input and writing each output once (gather: the rows it reads; MoE:
 * the routed experts' weights). */
typedef struct qiao_kd_work {
  double contract_flops;
  qiao_dtype_t contract_dtype;
  double other_flops;
  double bytes;
} qiao_kd_work_t;
void qiao_kernel_desc_work(const qiao_kernel_desc_t *kd, qiao_kd_work_t *out_work);

#ifdef __cplusplus
}
#endif
#endif /* QIAO_IR_H */
