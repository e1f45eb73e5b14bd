/* Round trips of the .qir text format: for every op of the v1 set,
 * print(parse(print(g))) == print(g) and parse(print(g)) equals g. Where the
 * canonical text is known it is checked verbatim. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/ir.h"

static qiao_graph_t *parse_ok(const char *src) {
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse(src, strlen(src), "rt.qir", &g);
  cr_assert_null(st, "parse failed: %s\n--- input:\n%s", qiao_status_message(st), src);
  cr_assert_not_null(g);
  return g;
}

static char *print_ok(const qiao_graph_t *g) {
  char *text = NULL;
  qiao_status_t st = qiao_ir_print(g, &text);
  cr_assert_null(st, "print failed: %s", qiao_status_message(st));
  cr_assert_not_null(text);
  return text;
}

/* Checks the round trip of a graph; returns its canonical text (caller frees). */
static char *roundtrip_graph(const qiao_graph_t *g) {
  char *t1 = print_ok(g);
  qiao_graph_t *g2 = parse_ok(t1);
  char *t2 = print_ok(g2);
  cr_assert_str_eq(t2, t1, "re-print differs");
  cr_assert(qiao_ir_graph_equal(g, g2), "re-parsed graph differs from the original:\n%s", t1);
  qiao_graph_t *g3 = parse_ok(t2);
  cr_assert(qiao_ir_graph_equal(g2, g3));
  qiao_ir_graph_destroy(g3);
  qiao_ir_graph_destroy(g2);
  free(t2);
  return t1;
}

/* Parses src, checks the round trip, and (when expected is non-NULL) the
 * canonical text. */
static void roundtrip(const char *src, const char *expected) {
  qiao_graph_t *g = parse_ok(src);
  char *t = roundtrip_graph(g);
  if (expected) cr_assert_str_eq(t, expected);
  free(t);
  qiao_ir_graph_destroy(g);
}

/* --------------------------------------------------------- examples */

Test(roundtrip, swiglu_mlp_design_example) {
  const char *src = "# a SwiGLU MLP\n"
                    "graph @mlp(%x: f32[4, 4096]) -> (f32[4, 4096]) {\n"
                    "  %wg = param \"mlp.gate\" : bf16[4096, 11008]\n"
                    "  %wu = param \"mlp.up\"   : bf16[4096, 11008]\n"
                    "  %wd = param \"mlp.down\" : bf16[11008, 4096]\n"
                    "  %g  = matmul %x, %wg : f32[4, 11008]\n"
                    "  %u  = matmul %x, %wu\n"
                    "  %h  = mul (silu %g), %u        # nested ops are sugar for unnamed values\n"
                    "  %y  = matmul %h, %wd\n"
                    "  return %y\n"
                    "}\n";
  const char *canon = "graph @mlp(%x: f32[4, 4096]) -> (f32[4, 4096]) {\n"
                      "  %wg = param \"mlp.gate\" : bf16[4096, 11008]\n"
                      "  %wu = param \"mlp.up\" : bf16[4096, 11008]\n"
                      "  %wd = param \"mlp.down\" : bf16[11008, 4096]\n"
                      "  %g = matmul %x, %wg : f32[4, 11008]\n"
                      "  %u = matmul %x, %wu : f32[4, 11008]\n"
                      "  %h = mul (silu %g), %u : f32[4, 11008]\n"
                      "  %y = matmul %h, %wd : f32[4, 4096]\n"
                      "  return %y\n"
                      "}\n";
  roundtrip(src, canon);
  qiao_graph_t *g = parse_ok(src);
  /* silu is a nested (anonymous) op added before mul */
  int32_t h = qiao_ir_graph_find_value(g, "h");
  cr_assert_geq(h, 0);
  const qiao_op_t *mul = &g->ops[g->values[h].def_op];
  cr_assert_eq(mul->kind, QIAO_OP_MUL);
  const qiao_value_t *a = &g->values[mul->operands[0]];
  cr_assert_null(a->name);
  cr_assert_eq(g->ops[a->def_op].kind, QIAO_OP_SILU);
  cr_assert_eq(g->ops[a->def_op].form, QIAO_FORM_NESTED);
  cr_assert_lt(a->def_op, g->values[h].def_op);
  cr_assert_str_eq(g->ops[0].attrs.param_name, "mlp.gate");
  cr_assert_eq(g->ops[3].loc.line, 6);
  cr_assert_eq(g->ops[3].loc.col, 9);
  qiao_ir_graph_destroy(g);
}

Test(roundtrip, comments_and_whitespace_are_not_preserved) {
  roundtrip("# header comment\n# another\n\ngraph   @c (  %x :f32[2,3] )->(f32[2,3]){# c\n"
            "%y=relu %x#trailing\n\n  return %y # done\n}   # end\n",
            "graph @c(%x: f32[2, 3]) -> (f32[2, 3]) {\n"
            "  %y = relu %x : f32[2, 3]\n"
            "  return %y\n"
            "}\n");
}

/* --------------------------------------------------------- elementwise */

Test(roundtrip, binary_ops) {
  roundtrip("graph @b(%a: f32[2, 3], %b: f32[3]) -> (f32[2, 3]) {\n"
            "  %s0 = add %a, %b\n  %s1 = sub %s0, %b\n  %s2 = mul %s1, %a\n"
            "  %s3 = div %s2, %b\n  %s4 = max %s3, %a\n  %s5 = min %s4, %b\n"
            "  %s6 = pow %s5, %a\n  return %s6\n}\n",
            "graph @b(%a: f32[2, 3], %b: f32[3]) -> (f32[2, 3]) {\n"
            "  %s0 = add %a, %b : f32[2, 3]\n"
            "  %s1 = sub %s0, %b : f32[2, 3]\n"
            "  %s2 = mul %s1, %a : f32[2, 3]\n"
            "  %s3 = div %s2, %b : f32[2, 3]\n"
            "  %s4 = max %s3, %a : f32[2, 3]\n"
            "  %s5 = min %s4, %b : f32[2, 3]\n"
            "  %s6 = pow %s5, %a : f32[2, 3]\n"
            "  return %s6\n"
            "}\n");
}

Test(roundtrip, unary_ops) {
  roundtrip("graph @u(%x: f16[8]) -> (f16[8], f16[8]) {\n"
            "  %a = neg %x\n  %b = exp %a\n  %c = log %b\n  %d = sqrt %c\n"
            "  %e = rsqrt %d\n  %f = tanh %e\n  %g = sigmoid %f\n  %h = silu %g\n"
            "  %i = gelu %h\n  %j = gelu %i {approximate = \"tanh\"}\n  %k = relu %j\n"
            "  %l = gelu %k {approximate = \"none\"}\n"
            "  return %k, %l\n}\n",
            "graph @u(%x: f16[8]) -> (f16[8], f16[8]) {\n"
            "  %a = neg %x : f16[8]\n"
            "  %b = exp %a : f16[8]\n"
            "  %c = log %b : f16[8]\n"
            "  %d = sqrt %c : f16[8]\n"
            "  %e = rsqrt %d : f16[8]\n"
            "  %f = tanh %e : f16[8]\n"
            "  %g = sigmoid %f : f16[8]\n"
            "  %h = silu %g : f16[8]\n"
            "  %i = gelu %h : f16[8]\n"
            "  %j = gelu %i {approximate = \"tanh\"} : f16[8]\n"
            "  %k = relu %j : f16[8]\n"
            "  %l = gelu %k : f16[8]\n"
            "  return %k, %l\n"
            "}\n");
}

Test(roundtrip, cast_every_dtype) {
  roundtrip("graph @c(%x: f32[2]) -> (bf16[2]) {\n"
            "  %a = cast %x {to = f16}\n  %b = cast %a {to = f8e4m3}\n"
            "  %c = cast %b {to = f8e5m2}\n  %d = cast %c {to = i8}\n"
            "  %e = cast %d {to = i32}\n  %f = cast %e {to = i64}\n"
            "  %g = cast %f {to = bool}\n  %h = cast %g {to = f32}\n"
            "  %i = cast %h {to = bf16} : bf16[2]\n  return %i\n}\n",
            NULL);
}

/* --------------------------------------------------------- consts, params, literals */

Test(roundtrip, const_splat_and_list) {
  roundtrip("graph @k() -> (f32[], i32[2], f32[2, 2], bool[3], i64[4], f32[0], bf16[2]) {\n"
            "  %a = const 0.5 : f32[]\n"
            "  %b = const [1, -2] : i32[2]\n"
            "  %c = const [1, 2.5, -3e-07, 1e+20] : f32[2, 2]\n"
            "  %d = const [true, false, true] : bool[3]\n"
            "  %e = const 7 : i64[4]\n"
            "  %f = const [] : f32[0]\n"
            "  %g = const [inf, -inf] : bf16[2]\n"
            "  return %a, %b, %c, %d, %e, %f, %g\n}\n",
            "graph @k() -> (f32[], i32[2], f32[2, 2], bool[3], i64[4], f32[0], bf16[2]) {\n"
            "  %a = const 0.5 : f32[]\n"
            "  %b = const [1, -2] : i32[2]\n"
            "  %c = const [1.0, 2.5, -3e-07, 1e+20] : f32[2, 2]\n"
            "  %d = const [true, false, true] : bool[3]\n"
            "  %e = const 7 : i64[4]\n"
            "  %f = const [] : f32[0]\n"
            "  %g = const [inf, -inf] : bf16[2]\n"
            "  return %a, %b, %c, %d, %e, %f, %g\n"
            "}\n");
}

Test(roundtrip, const_nan_and_extremes) {
  roundtrip("graph @k() -> (f32[3], i64[2], f32[]) {\n"
            "  %a = const [nan, 1e-300, 5e-324] : f32[3]\n"
            "  %b = const [9223372036854775807, -9223372036854775808] : i64[2]\n"
            "  %c = const -0.0 : f32[]\n"
            "  return %a, %b, %c\n}\n",
            "graph @k() -> (f32[3], i64[2], f32[]) {\n"
            "  %a = const [nan, 1e-300, 5e-324] : f32[3]\n"
            "  %b = const [9223372036854775807, -9223372036854775808] : i64[2]\n"
            "  %c = const -0.0 : f32[]\n"
            "  return %a, %b, %c\n"
            "}\n");
}

Test(roundtrip, params_with_escapes) {
  roundtrip("graph @p() -> (bf16[2, 3], f32[]) {\n"
            "  %w = param \"model.layers.0.\\\"q\\\"\\\\\\n\\x01\" : bf16[2, 3]\n"
            "  %s = param \"\\xff\\t\" : f32[]\n"
            "  return %w, %s\n}\n",
            "graph @p() -> (bf16[2, 3], f32[]) {\n"
            "  %w = param \"model.layers.0.\\\"q\\\"\\\\\\n\\x01\" : bf16[2, 3]\n"
            "  %s = param \"\\xff\\t\" : f32[]\n"
            "  return %w, %s\n"
            "}\n");
}

Test(roundtrip, numeric_literal_sugar) {
  const char *src = "graph @l(%x: f32[4], %i: i32[4]) -> (f32[4], i32[4], f32[4]) {\n"
                    "  %a = mul %x, 0.5\n"
                    "  %b = add 2, %x\n"
                    "  %c = sub %i, -3\n"
                    "  %d = pow (mul %a, %b), 2\n"
                    "  return %d, %c, %a\n}\n";
  const char *canon = "graph @l(%x: f32[4], %i: i32[4]) -> (f32[4], i32[4], f32[4]) {\n"
                      "  %a = mul %x, 0.5 : f32[4]\n"
                      "  %b = add 2.0, %x : f32[4]\n"
                      "  %c = sub %i, -3 : i32[4]\n"
                      "  %d = pow (mul %a, %b), 2.0 : f32[4]\n"
                      "  return %d, %c, %a\n"
                      "}\n";
  roundtrip(src, canon);
  qiao_graph_t *g = parse_ok(src);
  const qiao_op_t *lit = &g->ops[0];
  cr_assert_eq(lit->kind, QIAO_OP_CONST);
  cr_assert_eq(lit->form, QIAO_FORM_LITERAL);
  cr_assert_eq(g->values[lit->results[0]].type.dtype, QIAO_F32);
  cr_assert_eq(g->values[lit->results[0]].type.shape.rank, 0);
  cr_assert_float_eq(lit->attrs.const_f[0], 0.5, 0);
  /* the int literal is an i32 const with an integer payload */
  int32_t c = qiao_ir_graph_find_value(g, "c");
  const qiao_op_t *sub = &g->ops[g->values[c].def_op];
  const qiao_op_t *ilit = &g->ops[g->values[sub->operands[1]].def_op];
  cr_assert_eq(ilit->form, QIAO_FORM_LITERAL);
  cr_assert_not_null(ilit->attrs.const_i);
  cr_assert_eq(ilit->attrs.const_i[0], -3);
  qiao_ir_graph_destroy(g);
}

Test(roundtrip, nested_ops_deep_and_with_attributes) {
  roundtrip("graph @n(%x: f32[2, 8], %w: f32[8, 8]) -> (f32[2, 8]) {\n"
            "  %y = add (softmax (gelu (matmul %x, %w {transpose_b = true}) {approximate = "
            "\"tanh\"}) {axis = 0}), (neg (exp %x))\n"
            "  return %y\n}\n",
            "graph @n(%x: f32[2, 8], %w: f32[8, 8]) -> (f32[2, 8]) {\n"
            "  %y = add (softmax (gelu (matmul %x, %w {transpose_b = true}) {approximate = "
            "\"tanh\"}) {axis = 0}), (neg (exp %x)) : f32[2, 8]\n"
            "  return %y\n"
            "}\n");
}

/* --------------------------------------------------------- contractions, reductions */

Test(roundtrip, matmul_variants) {
  roundtrip("graph @m(%a: f32[3, 4, 5], %b: bf16[6, 5], %c: i8[2, 3], %d: i8[3, 2]) -> "
            "(f32[3, 4, 6], f32[3, 5, 5], i32[2, 2]) {\n"
            "  %x = matmul %a, %b {transpose_b = true}\n"
            "  %y = matmul %a, %a {transpose_a = true, transpose_b = false}\n"
            "  %z = matmul %c, %d\n"
            "  return %x, %y, %z\n}\n",
            "graph @m(%a: f32[3, 4, 5], %b: bf16[6, 5], %c: i8[2, 3], %d: i8[3, 2]) -> "
            "(f32[3, 4, 6], f32[3, 5, 5], i32[2, 2]) {\n"
            "  %x = matmul %a, %b {transpose_b = true} : f32[3, 4, 6]\n"
            "  %y = matmul %a, %a {transpose_a = true} : f32[3, 5, 5]\n"
            "  %z = matmul %c, %d : i32[2, 2]\n"
            "  return %x, %y, %z\n"
            "}\n");
}

Test(roundtrip, reductions_and_softmax) {
  roundtrip("graph @r(%x: f32[2, 3, 4]) -> (f32[2, 3], f32[2, 1, 4], f32[], f32[2, 3, 4]) {\n"
            "  %a = reduce_sum %x\n"
            "  %b = reduce_max %x {axes = [1], keepdims = true}\n"
            "  %c = reduce_mean %x {axes = [0, 1, -1]}\n"
            "  %d = softmax %x {axis = 1}\n"
            "  %e = softmax %d {axis = -1}\n"
            "  return %a, %b, %c, %e\n}\n",
            "graph @r(%x: f32[2, 3, 4]) -> (f32[2, 3], f32[2, 1, 4], f32[], f32[2, 3, 4]) {\n"
            "  %a = reduce_sum %x : f32[2, 3]\n"
            "  %b = reduce_max %x {axes = [1], keepdims = true} : f32[2, 1, 4]\n"
            "  %c = reduce_mean %x {axes = [0, 1, -1]} : f32[]\n"
            "  %d = softmax %x {axis = 1} : f32[2, 3, 4]\n"
            "  %e = softmax %d : f32[2, 3, 4]\n"
            "  return %a, %b, %c, %e\n"
            "}\n");
}

Test(roundtrip, norms) {
  roundtrip("graph @n(%x: f32[2, 16], %w: f32[16], %b: f32[16]) -> (f32[2, 16], f32[2, 16]) {\n"
            "  %r = rms_norm %x, %w\n"
            "  %s = rms_norm %r, %w {eps = 1e-05}\n"
            "  %l = layer_norm %s, %w, %b {eps = 0.001}\n"
            "  %m = layer_norm %l, %w, %b {eps = 1e-5}\n"
            "  return %r, %m\n}\n",
            "graph @n(%x: f32[2, 16], %w: f32[16], %b: f32[16]) -> (f32[2, 16], f32[2, 16]) {\n"
            "  %r = rms_norm %x, %w : f32[2, 16]\n"
            "  %s = rms_norm %r, %w {eps = 1e-05} : f32[2, 16]\n"
            "  %l = layer_norm %s, %w, %b {eps = 0.001} : f32[2, 16]\n"
            "  %m = layer_norm %l, %w, %b : f32[2, 16]\n"
            "  return %r, %m\n"
            "}\n");
}

/* --------------------------------------------------------- data movement */

Test(roundtrip, data_movement) {
  roundtrip("graph @d(%x: f32[2, 3, 4], %t: f32[10, 4], %i: i64[5]) -> "
            "(f32[6, 4], f32[4, 2, 3], f32[2, 1, 4], f32[2, 6, 4], f32[5, 4]) {\n"
            "  %a = reshape %x {shape = [-1, 4]}\n"
            "  %b = transpose %x {perm = [2, 0, 1]}\n"
            "  %c = slice %x {axis = 1, start = 0, end = 3, step = 2}\n"
            "  %c2 = slice %c {axis = 1, start = -1, end = 2}\n"
            "  %d = concat %x, %x {axis = 1}\n"
            "  %e = gather %t, %i\n"
            "  %f = gather %t, %i {axis = 0}\n"
            "  return %a, %b, %c2, %d, %f\n}\n",
            "graph @d(%x: f32[2, 3, 4], %t: f32[10, 4], %i: i64[5]) -> "
            "(f32[6, 4], f32[4, 2, 3], f32[2, 1, 4], f32[2, 6, 4], f32[5, 4]) {\n"
            "  %a = reshape %x {shape = [-1, 4]} : f32[6, 4]\n"
            "  %b = transpose %x {perm = [2, 0, 1]} : f32[4, 2, 3]\n"
            "  %c = slice %x {axis = 1, start = 0, end = 3, step = 2} : f32[2, 2, 4]\n"
            "  %c2 = slice %c {axis = 1, start = -1, end = 2} : f32[2, 1, 4]\n"
            "  %d = concat %x, %x {axis = 1} : f32[2, 6, 4]\n"
            "  %e = gather %t, %i : f32[5, 4]\n"
            "  %f = gather %t, %i : f32[5, 4]\n"
            "  return %a, %b, %c2, %d, %f\n"
            "}\n");
}

Test(roundtrip, concat_many_operands) {
  roundtrip("graph @c(%x: f32[1, 2]) -> (f32[5, 2]) {\n"
            "  %y = concat %x, %x, (neg %x), %x, %x {axis = 0}\n"
            "  return %y\n}\n",
            NULL);
}

/* --------------------------------------------------------- model-level ops */

Test(roundtrip, rope) {
  roundtrip("graph @r(%x: f32[1, 2, 3, 8], %p: i32[3], %q: i64[1, 3]) -> (f32[1, 2, 3, 8]) {\n"
            "  %a = rope %x, %p\n"
            "  %b = rope %a, %q {theta = 500000, mode = \"gptj\"}\n"
            "  %c = rope %b, %p {theta = 10000.0, mode = \"neox\"}\n"
            "  return %c\n}\n",
            "graph @r(%x: f32[1, 2, 3, 8], %p: i32[3], %q: i64[1, 3]) -> (f32[1, 2, 3, 8]) {\n"
            "  %a = rope %x, %p : f32[1, 2, 3, 8]\n"
            "  %b = rope %a, %q {theta = 500000.0, mode = \"gptj\"} : f32[1, 2, 3, 8]\n"
            "  %c = rope %b, %p : f32[1, 2, 3, 8]\n"
            "  return %c\n"
            "}\n");
}

Test(roundtrip, topk_multi_result) {
  const char *src = "graph @t(%x: f32[4, 10]) -> (f32[4, 2], i64[4, 2], f32[3, 10]) {\n"
                    "  %v, %i = topk %x {k = 2}\n"
                    "  %w, %j = topk %x {k = 3, axis = 0} : f32[3, 10], i64[3, 10]\n"
                    "  return %v, %i, %w\n}\n";
  roundtrip(src, "graph @t(%x: f32[4, 10]) -> (f32[4, 2], i64[4, 2], f32[3, 10]) {\n"
                 "  %v, %i = topk %x {k = 2} : f32[4, 2], i64[4, 2]\n"
                 "  %w, %j = topk %x {k = 3, axis = 0} : f32[3, 10], i64[3, 10]\n"
                 "  return %v, %i, %w\n"
                 "}\n");
  qiao_graph_t *g = parse_ok(src);
  cr_assert_eq(g->ops[0].n_results, 2);
  cr_assert_str_eq(g->values[g->ops[0].results[1]].name, "i");
  cr_assert_eq(g->values[g->ops[0].results[1]].type.dtype, QIAO_I64);
  qiao_ir_graph_destroy(g);
}

Test(roundtrip, attention_with_mask_and_attributes) {
  roundtrip("graph @a(%q: f16[1, 8, 4, 64], %k: f16[1, 2, 16, 64], %v: f16[1, 2, 16, 64], "
            "%m: f16[4, 16]) -> (f16[1, 8, 4, 64], f16[1, 8, 4, 64], f16[1, 8, 4, 64]) {\n"
            "  %o1 = attention %q, %k, %v\n"
            "  %o2 = attention %q, %k, %v, %m {causal = true, scale = 0.088, window = 8}\n"
            "  %o3 = attention %q, %k, %v {scale = 0.125, causal = false}\n"
            "  return %o1, %o2, %o3\n}\n",
            "graph @a(%q: f16[1, 8, 4, 64], %k: f16[1, 2, 16, 64], %v: f16[1, 2, 16, 64], "
            "%m: f16[4, 16]) -> (f16[1, 8, 4, 64], f16[1, 8, 4, 64], f16[1, 8, 4, 64]) {\n"
            "  %o1 = attention %q, %k, %v : f16[1, 8, 4, 64]\n"
            "  %o2 = attention %q, %k, %v, %m {causal = true, scale = 0.088, window = 8} : "
            "f16[1, 8, 4, 64]\n"
            "  %o3 = attention %q, %k, %v {scale = 0.125} : f16[1, 8, 4, 64]\n"
            "  return %o1, %o2, %o3\n"
            "}\n");
}

Test(roundtrip, moe) {
  roundtrip(
      "graph @moe(%x: f32[5, 16]) -> (f32[5, 16], f32[5, 16]) {\n"
      "  %r = param \"router\" : f32[16, 4]\n"
      "  %g = param \"gate\" : bf16[4, 16, 32]\n"
      "  %u = param \"up\" : bf16[4, 16, 32]\n"
      "  %d = param \"down\" : bf16[4, 32, 16]\n"
      "  %y = moe %x, %r, %g, %u, %d\n"
      "  %z = moe %x, %r, %g, %u, %d {top_k = 1, norm_topk = false, router_fn = \"sigmoid\"}\n"
      "  return %y, %z\n}\n",
      "graph @moe(%x: f32[5, 16]) -> (f32[5, 16], f32[5, 16]) {\n"
      "  %r = param \"router\" : f32[16, 4]\n"
      "  %g = param \"gate\" : bf16[4, 16, 32]\n"
      "  %u = param \"up\" : bf16[4, 16, 32]\n"
      "  %d = param \"down\" : bf16[4, 32, 16]\n"
      "  %y = moe %x, %r, %g, %u, %d : f32[5, 16]\n"
      "  %z = moe %x, %r, %g, %u, %d {top_k = 1, norm_topk = false, router_fn = "
      "\"sigmoid\"} : f32[5, 16]\n"
      "  return %y, %z\n"
      "}\n");
}

Test(roundtrip, every_op_kind_is_covered) {
  /* One graph using every op kind, so a new op without a round trip shows up here. */
  const char *src =
      "graph @all(%x: f32[1, 2, 4, 8], %p: i32[4], %i: i64[3], %t: f32[6, 8]) -> (f32[]) {\n"
      "  %w = param \"w\" : f32[8]\n"
      "  %c = const 1 : f32[]\n"
      "  %a0 = add %x, %c\n  %a1 = sub %a0, %c\n  %a2 = mul %a1, %c\n  %a3 = div %a2, %c\n"
      "  %a4 = max %a3, %c\n  %a5 = min %a4, %c\n  %a6 = pow %a5, %c\n"
      "  %u0 = neg %a6\n  %u1 = exp %u0\n  %u2 = log %u1\n  %u3 = sqrt %u2\n  %u4 = rsqrt %u3\n"
      "  %u5 = tanh %u4\n  %u6 = sigmoid %u5\n  %u7 = silu %u6\n  %u8 = gelu %u7\n"
      "  %u9 = relu %u8\n  %ca = cast %u9 {to = bf16}\n  %cb = cast %ca {to = f32}\n"
      "  %mm = matmul %cb, %cb {transpose_b = true}\n"
      "  %rs = reduce_sum %mm\n  %rx = reduce_max %rs {axes = [-1]}\n"
      "  %rm = reduce_mean %x {axes = [3]}\n"
      "  %sm = softmax %x\n  %rn = rms_norm %sm, %w\n  %ln = layer_norm %rn, %w, %w\n"
      "  %re = reshape %ln {shape = [8, 8]}\n  %tr = transpose %re {perm = [1, 0]}\n"
      "  %sl = slice %tr {axis = 0, start = 0, end = 4}\n  %cc = concat %sl, %sl {axis = 0}\n"
      "  %ga = gather %t, %i\n  %ro = rope %x, %p\n  %tv, %ti = topk %ro {k = 1}\n"
      "  %at = attention %x, %x, %x {causal = true}\n"
      "  %mr = param \"r\" : f32[8, 2]\n  %mg = param \"g\" : f32[2, 8, 4]\n"
      "  %md = param \"d\" : f32[2, 4, 8]\n"
      "  %mo = moe %cc, %mr, %mg, %mg, %md\n"
      "  %s = reduce_sum %mo {axes = [0, 1]}\n"
      "  return %s\n}\n";
  qiao_graph_t *g = parse_ok(src);
  bool seen[QIAO_OP_KIND_COUNT] = {false};
  for (int32_t i = 0; i < g->n_ops; ++i)
    seen[g->ops[i].kind] = true;
  for (int k = 0; k < QIAO_OP_KIND_COUNT; ++k)
    cr_expect(seen[k], "op %s is not covered", qiao_op_name((qiao_op_kind_t)k));
  free(roundtrip_graph(g));
  qiao_ir_graph_destroy(g);
}

/* --------------------------------------------------------- API-built graphs */

Test(roundtrip, api_built_graph_with_anonymous_values_gets_t_names) {
  qiao_graph_t *g;
  cr_assert_null(qiao_ir_graph_create("api", &g));
  qiao_type_t t = {QIAO_F32, {2, {2, 3}}};
  int32_t x;
  cr_assert_null(qiao_ir_graph_add_input(g, "x", t, &x));
  qiao_status_t st = NULL;
  /* a value the user named t0 forces the generated names to skip it */
  int32_t a = qiao_ir_build(g, QIAO_OP_EXP, &x, 1, NULL, "t0", &st);
  cr_assert_null(st);
  int32_t b = qiao_ir_build(g, QIAO_OP_NEG, &a, 1, NULL, NULL, &st);
  cr_assert_null(st);
  int32_t ops[2] = {a, b};
  int32_t c = qiao_ir_build(g, QIAO_OP_ADD, ops, 2, NULL, NULL, &st);
  cr_assert_null(st);
  double half = 0.5;
  qiao_type_t sc = {QIAO_F32, {0, {0}}};
  int32_t k = qiao_ir_build_const(g, sc, &half, 1, "half", &st);
  cr_assert_null(st);
  int32_t ops2[2] = {c, k};
  int32_t d = qiao_ir_build(g, QIAO_OP_MUL, ops2, 2, NULL, "out", &st);
  cr_assert_null(st);
  cr_assert_null(qiao_ir_graph_set_outputs(g, &d, 1));
  char *text = print_ok(g);
  cr_assert_str_eq(text, "graph @api(%x: f32[2, 3]) -> (f32[2, 3]) {\n"
                         "  %t0 = exp %x : f32[2, 3]\n"
                         "  %t1 = neg %t0 : f32[2, 3]\n"
                         "  %t2 = add %t0, %t1 : f32[2, 3]\n"
                         "  %half = const 0.5 : f32[]\n"
                         "  %out = mul %t2, %half : f32[2, 3]\n"
                         "  return %out\n"
                         "}\n");
  /* the re-parse is stable from there on */
  qiao_graph_t *g2 = parse_ok(text);
  free(roundtrip_graph(g2));
  qiao_ir_graph_destroy(g2);
  free(text);
  qiao_ir_graph_destroy(g);
}

Test(roundtrip, api_built_nested_and_literal_forms) {
  qiao_graph_t *g;
  cr_assert_null(qiao_ir_graph_create("f", &g));
  qiao_type_t t = {QIAO_F32, {1, {4}}};
  int32_t x;
  cr_assert_null(qiao_ir_graph_add_input(g, "x", t, &x));
  qiao_status_t st = NULL;
  int32_t s = qiao_ir_build(g, QIAO_OP_SILU, &x, 1, NULL, NULL, &st);
  cr_assert_null(st);
  g->ops[g->values[s].def_op].form = QIAO_FORM_NESTED;
  double two = 2.0;
  qiao_type_t sc = {QIAO_F32, {0, {0}}};
  int32_t k = qiao_ir_build_const(g, sc, &two, 1, NULL, &st);
  cr_assert_null(st);
  g->ops[g->values[k].def_op].form = QIAO_FORM_LITERAL;
  int32_t ops[2] = {s, k};
  int32_t y = qiao_ir_build(g, QIAO_OP_MUL, ops, 2, NULL, "y", &st);
  cr_assert_null(st);
  cr_assert_null(qiao_ir_graph_set_outputs(g, &y, 1));
  char *text = roundtrip_graph(g);
  cr_assert_str_eq(text, "graph @f(%x: f32[4]) -> (f32[4]) {\n"
                         "  %y = mul (silu %x), 2.0 : f32[4]\n"
                         "  return %y\n"
                         "}\n");
  free(text);
  qiao_ir_graph_destroy(g);
}

Test(roundtrip, nested_form_used_twice_falls_back_to_a_statement) {
  qiao_graph_t *g;
  cr_assert_null(qiao_ir_graph_create("f", &g));
  qiao_type_t t = {QIAO_F32, {1, {4}}};
  int32_t x;
  cr_assert_null(qiao_ir_graph_add_input(g, "x", t, &x));
  qiao_status_t st = NULL;
  int32_t s = qiao_ir_build(g, QIAO_OP_SILU, &x, 1, NULL, NULL, &st);
  g->ops[g->values[s].def_op].form = QIAO_FORM_NESTED;
  int32_t ops[2] = {s, s};
  int32_t y = qiao_ir_build(g, QIAO_OP_MUL, ops, 2, NULL, "y", &st);
  cr_assert_null(st);
  cr_assert_null(qiao_ir_graph_set_outputs(g, &y, 1));
  char *text = print_ok(g);
  cr_assert_str_eq(text, "graph @f(%x: f32[4]) -> (f32[4]) {\n"
                         "  %t0 = silu %x : f32[4]\n"
                         "  %y = mul %t0, %t0 : f32[4]\n"
                         "  return %y\n"
                         "}\n");
  free(text);
  qiao_ir_graph_destroy(g);
}

/* --------------------------------------------------------- doubles */

static void check_double(double v, const char *want) {
  char buf[64];
  qiao_format_double(v, buf, sizeof buf);
  if (want) cr_assert_str_eq(buf, want);
  if (isnan(v)) {
    cr_assert(isnan(strtod(buf, NULL)));
  } else {
    cr_assert(strtod(buf, NULL) == v, "%s does not read back as %.17g", buf, v);
  }
  cr_assert(strpbrk(buf, ".en") != NULL, "%s does not look like a float", buf);
}

Test(format_double, shortest_exact) {
  check_double(1.0, "1.0");
  check_double(0.5, "0.5");
  check_double(1e-6, "1e-06");
  check_double(0.088, "0.088");
  check_double(10000.0, "10000.0"); /* integral values print plainly */
  check_double(1e20, "1e+20");       /* ... up to 1e15 */
  check_double(10001.0, "10001.0");
  check_double(-2.0, "-2.0");
  check_double(0.1, "0.1");
  check_double(1.0 / 3.0, "0.3333333333333333");
  check_double(1e20, "1e+20");
  check_double(123456789.0, "123456789.0");
  check_double(INFINITY, "inf");
  check_double(-INFINITY, "-inf");
  check_double(NAN, "nan");
  check_double(0.0, "0.0");
  check_double(-0.0, "-0.0");
  check_double(5e-324, "5e-324");
  check_double(1.7976931348623157e308, "1.7976931348623157e+308");
  uint64_t s = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < 2000; ++i) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    double v;
    memcpy(&v, &s, sizeof v);
    if (isnan(v)) continue;
    check_double(v, NULL);
  }
}

/* Every shipped example round-trips: its canonical form reads back as an
 * equal graph and prints identically. */
Test(roundtrip, every_example_file) {
  static const char *const names[] = {"mlp", "llama_block", "moe_block"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
    char path[1024];
    snprintf(path, sizeof path, "%s/examples/%s.qir", QIAO_SOURCE_DIR, names[i]);
    qiao_graph_t *g = NULL, *back = NULL;
    qiao_status_t st = qiao_ir_parse_file(path, &g);
    cr_assert_null(st, "%s", qiao_status_message(st));
    char *t1 = NULL, *t2 = NULL;
    cr_assert_null(qiao_ir_print(g, &t1));
    st = qiao_ir_parse(t1, strlen(t1), names[i], &back);
    cr_assert_null(st, "%s: %s", names[i], qiao_status_message(st));
    cr_expect(qiao_ir_graph_equal(g, back), "%s: re-parsed graph differs", names[i]);
    cr_assert_null(qiao_ir_print(back, &t2));
    cr_expect_str_eq(t1, t2, "%s: canonical text is not stable", names[i]);
    free(t1);
    free(t2);
    qiao_ir_graph_destroy(back);
    qiao_ir_graph_destroy(g);
  }
}
