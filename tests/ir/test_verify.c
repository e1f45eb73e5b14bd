/* The graph verifier: valid graphs pass; graphs built with the builder and
 * then broken by hand (types, order, names, ids, outputs, attributes) fail
 * with a message that names the op and says what was expected. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/ir.h"

static qiao_type_t t2(qiao_dtype_t dt, int64_t a, int64_t b) {
  qiao_type_t t;
  memset(&t, 0, sizeof t);
  t.dtype = dt;
  t.shape.rank = 2;
  t.shape.dims[0] = a;
  t.shape.dims[1] = b;
  return t;
}

/* The graph every test breaks:
 *   graph @mlp(%x: f32[4, 8]) -> (f32[4, 16]) {
 *     %w = param "w" : f32[8, 16]      # op 0
 *     %h = matmul %x, %w               # op 1
 *     %y = relu %h                     # op 2
 *     return %y
 *   }
 */
typedef struct {
  qiao_graph_t *g;
  int32_t x, w, h, y;
} base_t;

static base_t make_base(void) {
  base_t b;
  cr_assert_null(qiao_ir_graph_create("mlp", &b.g));
  cr_assert_null(qiao_ir_graph_add_input(b.g, "x", t2(QIAO_F32, 4, 8), &b.x));
  qiao_status_t s;
  b.w = qiao_ir_build_param(b.g, "w", t2(QIAO_F32, 8, 16), "w", &s);
  cr_assert_null(s, "%s", qiao_status_message(s));
  b.h = qiao_ir_build(b.g, QIAO_OP_MATMUL, (int32_t[]){b.x, b.w}, 2, NULL, "h", &s);
  cr_assert_null(s, "%s", qiao_status_message(s));
  b.y = qiao_ir_build(b.g, QIAO_OP_RELU, &b.h, 1, NULL, "y", &s);
  cr_assert_null(s, "%s", qiao_status_message(s));
  cr_assert_null(qiao_ir_graph_set_outputs(b.g, &b.y, 1));
  return b;
}

/* Verifies `g`, expects failure with a message containing `needle`, and
 * destroys the graph. */
static void expect_bad(qiao_graph_t *g, const char *needle) {
  qiao_status_t s = qiao_ir_graph_verify(g);
  cr_assert_not_null(s, "expected an error containing '%s'", needle);
  cr_expect_eq(qiao_status_code(s), QIAO_INVALID_ARGUMENT);
  cr_expect(strstr(qiao_status_message(s), needle), "'%s' not in message: %s", needle,
            qiao_status_message(s));
  qiao_status_free(s);
  qiao_ir_graph_destroy(g);
}

Test(verify, valid_graph_passes) {
  base_t b = make_base();
  qiao_status_t s = qiao_ir_graph_verify(b.g);
  cr_expect_null(s, "%s", qiao_status_message(s));
  qiao_status_free(s);
  qiao_ir_graph_destroy(b.g);
}

Test(verify, valid_graph_with_topk_const_and_anonymous_values) {
  qiao_graph_t *g;
  cr_assert_null(qiao_ir_graph_create("t", &g));
  int32_t x, op;
  cr_assert_null(qiao_ir_graph_add_input(g, "x", t2(QIAO_F32, 2, 10), &x));
  qiao_status_t s;
  double half = 0.5;
  qiao_type_t scalar;
  memset(&scalar, 0, sizeof scalar);
  int32_t c = qiao_ir_build_const(g, scalar, &half, 1, NULL, &s);
  cr_assert_null(s);
  int32_t m = qiao_ir_build(g, QIAO_OP_MUL, (int32_t[]){x, c}, 2, NULL, NULL, &s);
  cr_assert_null(s);
  qiao_attrs_t a;
  memset(&a, 0, sizeof a);
  qiao_attrs_init_defaults(&a, QIAO_OP_TOPK);
  a.k = 3;
  const char *names[2] = {"v", "i"};
  qiao_loc_t loc = {0, 0};
  cr_assert_null(qiao_ir_graph_add_op(g, QIAO_OP_TOPK, &m, 1, &a, NULL, names, loc, &op));
  cr_assert_null(qiao_ir_graph_set_outputs(g, g->ops[op].results, 2));
  s = qiao_ir_graph_verify(g);
  cr_expect_null(s, "%s", qiao_status_message(s));
  qiao_status_free(s);

  /* Break the indices' dtype: the message names both results. */
  g->values[g->ops[op].results[1]].type.dtype = QIAO_F32;
  g->output_types[1].dtype = QIAO_F32;
  expect_bad(g, "op %v, %i = topk: result 1 is f32[2, 3] but the operands give i64[2, 3]");
}

Test(verify, wrong_result_type) {
  base_t b = make_base();
  b.g->values[b.h].type.shape.dims[1] = 12;
  expect_bad(b.g, "op %h = matmul: result 0 is f32[4, 12] but the operands give f32[4, 16]");
}

Test(verify, wrong_result_dtype_with_location) {
  base_t b = make_base();
  b.g->ops[2].loc = (qiao_loc_t){7, 3};
  b.g->values[b.y].type.dtype = QIAO_BF16;
  b.g->output_types[0].dtype = QIAO_BF16;
  qiao_status_t s = qiao_ir_graph_verify(b.g);
  cr_assert_not_null(s);
  cr_expect_str_eq(qiao_status_message(s),
                   "7:3: op %y = relu: result 0 is bf16[4, 16] but the operands give f32[4, 16]");
  qiao_status_free(s);
  qiao_ir_graph_destroy(b.g);
}

Test(verify, inference_error_is_reported_once_with_the_op) {
  base_t b = make_base();
  b.g->values[b.x].type.shape.dims[1] = 9;
  b.g->ops[1].loc = (qiao_loc_t){4, 10};
  qiao_status_t s = qiao_ir_graph_verify(b.g);
  cr_assert_not_null(s);
  cr_expect(strstr(qiao_status_message(s),
                   "4:10: op %h = matmul: contraction dims differ: a has K=9, b has K=8"),
            "%s", qiao_status_message(s));
  cr_expect_null(strstr(qiao_status_message(s), "matmul: matmul"), "%s", qiao_status_message(s));
  qiao_status_free(s);
  qiao_ir_graph_destroy(b.g);
}

Test(verify, use_before_def) {
  base_t b = make_base();
  /* Swap matmul and relu, keeping the back-pointers consistent. */
  qiao_op_t tmp = b.g->ops[1];
  b.g->ops[1] = b.g->ops[2];
  b.g->ops[2] = tmp;
  b.g->values[b.h].def_op = 2;
  b.g->values[b.y].def_op = 1;
  expect_bad(b.g, "op %y = relu: operand 0 %h is used before it is defined");
}

Test(verify, swapped_ops_without_back_pointers) {
  base_t b = make_base();
  qiao_op_t tmp = b.g->ops[1];
  b.g->ops[1] = b.g->ops[2];
  b.g->ops[2] = tmp;
  expect_bad(b.g, "op %y = relu: result 0 does not point back to this op");
}

Test(verify, self_use) {
  base_t b = make_base();
  b.g->ops[2].operands[0] = b.y;
  expect_bad(b.g, "operand 0 %y is used before it is defined");
}

Test(verify, duplicate_names) {
  base_t b = make_base();
  b.g->values[b.y].name = "h";
  expect_bad(b.g, "value %h is defined twice");
  b = make_base();
  b.g->values[b.w].name = "x";
  expect_bad(b.g, "value %x is defined twice");
}

Test(verify, operand_id_out_of_range) {
  base_t b = make_base();
  b.g->ops[2].operands[0] = 99;
  expect_bad(b.g, "op %y = relu: operand 0 has id 99, out of range (the graph has 4 values)");
  b = make_base();
  b.g->ops[1].operands[1] = -1;
  expect_bad(b.g, "op %h = matmul: operand 1 has id -1, out of range");
}

Test(verify, result_id_out_of_range) {
  base_t b = make_base();
  b.g->ops[1].results[0] = 50;
  expect_bad(b.g, "result 0 has id 50, out of range");
}

Test(verify, operand_count) {
  base_t b = make_base();
  b.g->ops[2].n_operands = 0;
  expect_bad(b.g, "op %y = relu: expects 1 operand, got 0");
}

Test(verify, result_count) {
  base_t b = make_base();
  b.g->ops[1].n_results = 2;
  b.g->ops[1].results[1] = b.y;
  expect_bad(b.g, "op %h, %y = matmul: has 2 results; expected 1");
}

Test(verify, unknown_kind) {
  base_t b = make_base();
  b.g->ops[2].kind = (qiao_op_kind_t)99;
  expect_bad(b.g, "op %y = ?: unknown op kind 99");
}

Test(verify, bad_attribute_values) {
  base_t b = make_base();
  b.g->ops[2].kind = QIAO_OP_GELU;
  b.g->ops[2].attrs.approximate = (qiao_gelu_approx_t)5;
  expect_bad(b.g,
             "op %y = gelu: attribute 'approximate' has an invalid value (5); expected 0 to 1");
  b = make_base();
  b.g->ops[2].kind = QIAO_OP_CAST;
  b.g->ops[2].attrs.to = (qiao_dtype_t)77;
  expect_bad(b.g, "op %y = cast: attribute 'to' is not a valid dtype (77)");
  b = make_base();
  b.g->ops[0].attrs.param_name = NULL;
  expect_bad(b.g, "op %w = param: param needs a non-empty name");
}

Test(verify, const_payload) {
  base_t b = make_base();
  double v = 2.0;
  qiao_status_t s;
  int32_t c = qiao_ir_build_const(b.g, t2(QIAO_F32, 4, 16), &v, 1, "c", &s);
  cr_assert_null(s);
  b.g->ops[b.g->values[c].def_op].attrs.n_values = 3;
  expect_bad(b.g, "op %c = const: 3 values given for f32[4, 16]; expected 1 (a splat) or 64");
}

Test(verify, anonymous_op_is_named_by_index) {
  base_t b = make_base();
  b.g->values[b.y].name = NULL;
  b.g->values[b.y].type.shape.dims[0] = 5;
  expect_bad(b.g, "op #2 = relu: result 0 is f32[5, 16]");
}

Test(verify, bad_output_type) {
  base_t b = make_base();
  b.g->output_types[0] = t2(QIAO_F32, 4, 8);
  expect_bad(b.g, "output 0: declared f32[4, 8] but %y is f32[4, 16]");
  b = make_base();
  b.g->output_types[0].dtype = QIAO_BF16;
  expect_bad(b.g, "output 0: declared bf16[4, 16] but %y is f32[4, 16]");
}

Test(verify, outputs_missing_or_out_of_range) {
  base_t b = make_base();
  b.g->n_outputs = 0;
  expect_bad(b.g, "graph @mlp has no outputs");
  b = make_base();
  b.g->outputs[0] = 99;
  expect_bad(b.g, "output 0 has id 99, out of range (the graph has 4 values)");
}

Test(verify, inputs_malformed) {
  base_t b = make_base();
  b.g->values[b.x].kind = QIAO_VALUE_RESULT;
  expect_bad(b.g, "input 0 (value #0) is not marked as graph input 0");
  b = make_base();
  b.g->values[b.x].type.shape.dims[0] = -4;
  expect_bad(b.g, "input %x has an invalid type");
  b = make_base();
  b.g->inputs[0] = 42;
  expect_bad(b.g, "input 0 has id 42, out of range");
}

Test(verify, value_with_broken_def_pointer) {
  base_t b = make_base();
  b.g->values[b.h].def_result = 1;
  expect_bad(b.g, "op %h = matmul: result 0 does not point back to this op");
}

Test(verify, null_graph) {
  qiao_status_t s = qiao_ir_graph_verify(NULL);
  cr_expect(s && strstr(qiao_status_message(s), "graph is NULL"));
  qiao_status_free(s);
}

/* An input whose element count overflows 64 bits (or an empty one whose
 * strides would) is no valid type: qiao_shape_numel on it is UB. Shape
 * inference rejects it as an operand; the verifier must reject it too when
 * no op reads it (an input returned as is). */
Test(verify, input_with_overflowing_element_count) {
  const int64_t big = (int64_t)1 << 40;
  qiao_type_t t;
  memset(&t, 0, sizeof t);
  t.dtype = QIAO_F32;
  t.shape.rank = 3;
  t.shape.dims[0] = t.shape.dims[1] = t.shape.dims[2] = big;
  for (int empty = 0; empty < 2; ++empty) {
    if (empty) t.shape.dims[0] = 0; /* no element, but its strides overflow */
    qiao_graph_t *g;
    int32_t v;
    cr_assert_null(qiao_ir_graph_create("g", &g));
    cr_assert_null(qiao_ir_graph_add_input(g, "x", t2(QIAO_F32, 4, 8), &v));
    cr_assert_null(qiao_ir_graph_set_outputs(g, &v, 1));
    g->values[v].type = t;
    g->output_types[0] = t;
    expect_bad(g, "input %x has an invalid type");
  }
}
