/* Partition: descriptor footprint, clone/destroy, fusion policies and their
 * budgets, split concat. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/ir.h"
#include "support/graphs.h"

static const char *const examples[] = {"mlp", "llama_block", "moe_block"};

/* Graphs with every anchor kind and typical epilogues and prologues. */
static const char *const representative[] = {
    /* attention with a mask and a residual epilogue */
    "graph @a(%q: f32[1, 4, 8, 16], %k: f32[1, 2, 8, 16], %v: f32[1, 2, 8, 16], %m: f32[8, 8],\n"
    "         %r: f32[1, 4, 8, 16]) -> (f32[1, 4, 8, 16]) {\n"
    "  %o = attention %q, %k, %v, %m {causal = true}\n"
    "  %y = add %o, %r\n"
    "  return %y\n"
    "}\n",
    /* layer_norm prologue, bias + gelu epilogue, cast */
    "graph @b(%x: f32[4, 32], %w: f32[32], %b: f32[32], %W: bf16[32, 64], %c: f32[64])\n"
    "    -> (bf16[4, 64]) {\n"
    "  %h = layer_norm %x, %w, %b\n"
    "  %m = matmul %h, %W\n"
    "  %y = cast (gelu (add %m, %c) {approximate = \"tanh\"}) {to = bf16}\n"
    "  return %y\n"
    "}\n",
    /* softmax, reduce, topk, gather, slice, transpose, rope */
    "graph @c(%x: f32[4, 16], %t: f32[100, 8], %i: i32[4], %p: i32[8], %z: f32[1, 2, 8, 16])\n"
    "    -> (f32[4, 16], f32[4], f32[4, 2], i64[4, 2], f32[4, 8], f32[2, 4], f32[1, 2, 8, 16]) {\n"
    "  %s = softmax %x\n"
    "  %r = reduce_sum (mul %x, 2.0)\n"
    "  %v, %j = topk %x {k = 2}\n"
    "  %g = exp (gather %t, %i)\n"
    "  %l = slice %x {axis = 1, start = 0, end = 8}\n"
    "  %tr = transpose (slice %x {axis = 1, start = 0, end = 2}) {perm = [1, 0]}\n"
    "  %ro = rope %z, %p\n"
    "  return %s, %r, %v, %j, %l, %tr, %ro\n"
    "}\n",
    /* a residual chain with several broadcast inputs */
    "graph @d(%a: f32[8, 64], %b: f32[64], %c: f32[8, 1], %d: f32[8, 64], %e: f32[])\n"
    "    -> (f32[8, 64]) {\n"
    "  %y = mul (add (sub (mul %a, %b), %c), %d), (sigmoid (add %a, %e))\n"
    "  return %y\n"
    "}\n",
};

static void check_footprints(const qiao_graph_t *g, const char *what) {
  qiao_partition_t *p = NULL;
  qiao_status_t st = qiao_ir_partition(g, NULL, &p);
  cr_assert(st == NULL, "%s", qiao_status_message(st));
  for (int32_t k = 0; k < p->n_kernels; ++k) {
    size_t fp = qiao_kernel_desc_footprint(&p->kernels[k]);
    cr_expect_leq(fp, 2048, "%s kernel %d (%s, %d inputs, %d nodes): %zu bytes", what, k,
                  qiao_kd_kind_name(p->kernels[k].kind), p->kernels[k].n_inputs,
                  p->kernels[k].n_expr, fp);
  }
  qiao_ir_partition_destroy(p);
}

Test(partition, descriptors_fit_in_2kb) {
  for (size_t i = 0; i < sizeof examples / sizeof *examples; ++i) {
    qiao_graph_t *g = parse_example(examples[i]);
    check_footprints(g, examples[i]);
    qiao_ir_graph_destroy(g);
  }
  for (size_t i = 0; i < sizeof representative / sizeof *representative; ++i) {
    qiao_graph_t *g = parse(representative[i]);
    check_footprints(g, representative[i]);
    qiao_ir_graph_destroy(g);
  }
  cr_expect_leq(sizeof(qiao_expr_node_t), 16);
}

Test(partition, clone_is_equal_and_outlives_the_partition) {
  for (size_t i = 0; i < sizeof examples / sizeof *examples; ++i) {
    qiao_graph_t *g = parse_example(examples[i]);
    qiao_partition_t *p = NULL;
    cr_assert_null(qiao_ir_partition(g, NULL, &p));
    int32_t n = p->n_kernels;
    qiao_kernel_desc_t **c = calloc((size_t)n, sizeof(*c));
    uint64_t *h = calloc((size_t)n, sizeof(*h));
    for (int32_t k = 0; k < n; ++k) {
      cr_assert_null(qiao_kernel_desc_clone(&p->kernels[k], &c[k]));
      cr_expect(qiao_kernel_desc_equal(&p->kernels[k], c[k]));
      cr_expect_eq(qiao_kernel_desc_hash(&p->kernels[k]), qiao_kernel_desc_hash(c[k]));
      cr_expect_eq(qiao_kernel_desc_footprint(c[k]), qiao_kernel_desc_footprint(&p->kernels[k]));
      h[k] = qiao_kernel_desc_hash(c[k]);
    }
    qiao_ir_partition_destroy(p);
    /* Poison what the partition freed by allocating over it, then check the
     * clones still hash alike and equal a fresh partition's kernels. */
    void *junk = malloc(64 * 1024);
    memset(junk, 0xAB, 64 * 1024);
    cr_assert_null(qiao_ir_partition(g, NULL, &p));
    cr_assert_eq(p->n_kernels, n);
    for (int32_t k = 0; k < n; ++k) {
      cr_expect_eq(qiao_kernel_desc_hash(c[k]), h[k]);
      cr_expect(qiao_kernel_desc_equal(&p->kernels[k], c[k]));
      cr_expect_eq(c[k]->n_ops, p->kernels[k].n_ops);
      cr_expect(memcmp(c[k]->ops, p->kernels[k].ops, sizeof(int32_t) * (size_t)c[k]->n_ops) == 0);
      qiao_kernel_desc_destroy(c[k]);
    }
    free(junk);
    free(c);
    free(h);
    qiao_ir_partition_destroy(p);
    qiao_ir_graph_destroy(g);
  }
  qiao_kernel_desc_destroy(NULL);
}

static int32_t kernels_under(const qiao_graph_t *g, const qiao_fusion_policy_t *pol) {
  qiao_partition_t *p = NULL;
  qiao_status_t st = qiao_ir_partition(g, pol, &p);
  cr_assert(st == NULL, "%s", qiao_status_message(st));
  int32_t n = p->n_kernels;
  int32_t max_in = pol ? pol->max_operands : QIAO_KD_MAX_OPERANDS;
  int32_t max_ex = pol ? pol->max_expr_nodes : QIAO_EXPR_MAX_NODES;
  for (int32_t k = 0; k < n; ++k) {
    cr_expect_leq(p->kernels[k].n_inputs, max_in);
    cr_expect_leq(p->kernels[k].n_expr, max_ex);
  }
  qiao_ir_partition_destroy(p);
  return n;
}

/* Ops that compute something: not params, consts or (aliased) reshapes. */
static int32_t computing_ops(const qiao_graph_t *g) {
  int32_t n = 0;
  for (int32_t i = 0; i < g->n_ops; ++i) {
    qiao_op_kind_t k = g->ops[i].kind;
    n += k != QIAO_OP_PARAM && k != QIAO_OP_CONST && k != QIAO_OP_RESHAPE;
  }
  return n;
}

Test(partition, policies_on_the_examples) {
  const int32_t want_default[] = {3, 14, 5}, want_no_prologue[] = {3, 16, 5};
  const qiao_fusion_policy_t *def = qiao_fusion_policy_default();
  cr_expect(def->fuse_elementwise && def->norm_prologue);
  cr_expect_eq(def->max_operands, QIAO_KD_MAX_OPERANDS);
  cr_expect_eq(def->max_expr_nodes, QIAO_EXPR_MAX_NODES);
  qiao_fusion_policy_t none = {.fuse_elementwise = false,
                               .epilogue_anchors = 0,
                               .norm_prologue = false,
                               .max_operands = QIAO_KD_MAX_OPERANDS,
                               .max_expr_nodes = QIAO_EXPR_MAX_NODES};
  qiao_fusion_policy_t no_prologue = *def;
  no_prologue.norm_prologue = false;
  for (size_t i = 0; i < sizeof examples / sizeof *examples; ++i) {
    qiao_graph_t *g = parse_example(examples[i]);
    cr_expect_eq(kernels_under(g, NULL), want_default[i], "%s", examples[i]);
    cr_expect_eq(kernels_under(g, def), want_default[i], "%s", examples[i]);
    cr_expect_eq(kernels_under(g, &none), computing_ops(g), "%s: one kernel per op", examples[i]);
    /* each norm that was a prologue becomes a kernel of its own (llama: both;
     * moe: its norm also feeds the moe op, so it is a kernel already) */
    cr_expect_eq(kernels_under(g, &no_prologue), want_no_prologue[i], "%s", examples[i]);
    qiao_ir_graph_destroy(g);
  }
}

Test(partition, budgets_are_respected) {
  /* 6 inputs and 12 nodes fused by default */
  qiao_graph_t *g = parse(representative[3]);
  cr_expect_eq(kernels_under(g, NULL), 1);
  qiao_fusion_policy_t small = *qiao_fusion_policy_default();
  small.max_operands = 3;
  small.max_expr_nodes = 5;
  int32_t n = kernels_under(g, &small);
  cr_expect_gt(n, 1);
  cr_expect_leq(n, computing_ops(g));
  qiao_ir_graph_destroy(g);
  /* the examples too (budgets large enough for each op's own operands) */
  small.max_operands = 5;
  small.max_expr_nodes = 3;
  for (size_t i = 0; i < sizeof examples / sizeof *examples; ++i) {
    g = parse_example(examples[i]);
    kernels_under(g, &small);
    qiao_ir_graph_destroy(g);
  }
}

Test(partition, invalid_policy_is_an_error) {
  qiao_graph_t *g = parse_example("mlp");
  qiao_fusion_policy_t bad = *qiao_fusion_policy_default();
  bad.max_operands = QIAO_KD_MAX_OPERANDS + 1;
  qiao_partition_t *p = NULL;
  qiao_status_t st = qiao_ir_partition(g, &bad, &p);
  cr_assert_not_null(st);
  cr_expect_eq(qiao_status_code(st), QIAO_INVALID_ARGUMENT);
  cr_expect(strstr(qiao_status_message(st), "max_operands = 17 is outside [1, 16]"), "%s",
            qiao_status_message(st));
  cr_expect_null(p);
  qiao_status_free(st);
  bad = *qiao_fusion_policy_default();
  bad.max_expr_nodes = QIAO_EXPR_MAX_NODES + 1;
  st = qiao_ir_partition(g, &bad, &p);
  cr_assert_not_null(st);
  cr_expect(strstr(qiao_status_message(st), "max_expr_nodes = 65 is outside [1, 64]"), "%s",
            qiao_status_message(st));
  qiao_status_free(st);
  bad.max_expr_nodes = 0;
  st = qiao_ir_partition(g, &bad, &p);
  cr_expect_not_null(st);
  qiao_status_free(st);
  qiao_ir_graph_destroy(g);
}

Test(partition, op_over_the_operand_budget_names_the_op) {
  qiao_graph_t *g = parse(representative[0]);
  qiao_fusion_policy_t pol = *qiao_fusion_policy_default();
  pol.max_operands = 3;
  qiao_partition_t *p = NULL;
  qiao_status_t st = qiao_ir_partition(g, &pol, &p);
  cr_assert_not_null(st);
  cr_expect(strstr(qiao_status_message(st), "op %o = attention: 4 operands exceed a kernel's 3"),
            "%s", qiao_status_message(st));
  qiao_status_free(st);
  cr_expect_null(p);
  qiao_ir_graph_destroy(g);
}

/* concat of n inputs f32[2, 3] along `axis`, split under max_operands. */
static void check_split_concat(int n, int axis, int32_t max_operands) {
  char *text = malloc(64 * 1024);
  size_t len = (size_t)snprintf(text, 64 * 1024, "graph @c(");
  for (int i = 0; i < n; ++i)
    len += (size_t)snprintf(text + len, 64 * 1024 - len, "%s%%x%d: f32[2, 3]", i ? ", " : "", i);
  len += (size_t)snprintf(text + len, 64 * 1024 - len, ") -> (f32[%d, %d]) {\n  %%y = concat ",
                          axis == 0 ? 2 * n : 2, axis == 0 ? 3 : 3 * n);
  for (int i = 0; i < n; ++i)
    len += (size_t)snprintf(text + len, 64 * 1024 - len, "%s%%x%d", i ? ", " : "", i);
  snprintf(text + len, 64 * 1024 - len, " {axis = %d}\n  return %%y\n}\n", axis);
  qiao_graph_t *g = parse(text);
  free(text);
  qiao_fusion_policy_t pol = *qiao_fusion_policy_default();
  pol.max_operands = max_operands;
  qiao_partition_t *p = NULL;
  cr_assert_null(qiao_ir_partition(g, &pol, &p));
  int32_t want = (n + max_operands - 1) / max_operands;
  cr_assert_eq(p->n_kernels, want);
  int64_t per_input = axis == 0 ? 2 : 3;
  int32_t y = g->outputs[0];
  for (int32_t k = 0; k < want; ++k) {
    const qiao_kernel_desc_t *kd = &p->kernels[k];
    cr_expect_eq(kd->kind, QIAO_KD_COPY);
    cr_expect_eq(kd->op, QIAO_OP_CONCAT);
    cr_expect_eq(kd->outputs[0].value, y, "every slice writes the one result");
    cr_expect_eq(kd->copy_out_offset, (int64_t)k * max_operands * per_input);
    int32_t n_in = k < want - 1 ? max_operands : n - k * max_operands;
    cr_expect_eq(kd->n_inputs, n_in);
    cr_expect_eq(kd->inputs[0].value, g->inputs[k * max_operands]);
  }
  cr_expect(p->materialized[y]);
  /* slices differ only in their inputs' values and their offset: never equal */
  if (want > 2) cr_expect(!qiao_kernel_desc_equal(&p->kernels[0], &p->kernels[1]));
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

Test(partition, concat_over_the_budget_is_split) {
  check_split_concat(40, 0, 16);
  check_split_concat(40, 1, 16);
  check_split_concat(40, -1, 7);
  check_split_concat(5, 0, 1);
  check_split_concat(16, 0, 16);
}
