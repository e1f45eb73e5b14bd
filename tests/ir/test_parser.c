/* The .qir lexer and parser: tokens, positions, what the parsed graph holds
 * (attributes with defaults, forms, locations, const payloads), file I/O,
 * and the qiao-fmt tool when it has been built. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ir/lexer.h"
#include "qiao/ir.h"

static qiao_graph_t *parse_ok(const char *src) {
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse(src, strlen(src), "p.qir", &g);
  cr_assert_null(st, "parse failed: %s", qiao_status_message(st));
  return g;
}

static const qiao_op_t *op_of(const qiao_graph_t *g, const char *value) {
  int32_t v = qiao_ir_graph_find_value(g, value);
  cr_assert_geq(v, 0, "no value %s", value);
  cr_assert_geq(g->values[v].def_op, 0);
  return &g->ops[g->values[v].def_op];
}

/* --------------------------------------------------------- lexer */

Test(lexer, token_kinds_and_positions) {
  const char *src =
      "graph @g.1(%x_2: f32[-1, 2.5e-3]) -> { } = , : \"s\\\"\" # c\n -inf nan 7 .5 1.";
  qiao_lexer_t lx;
  qiao_lexer_init(&lx, src, strlen(src));
  struct {
    qiao_tok_kind_t kind;
    const char *text;
    bool is_float;
  } want[] = {
      {QIAO_TOK_IDENT, "graph", 0},
      {QIAO_TOK_GLOBAL, "@g.1", 0},
      {QIAO_TOK_LPAREN, "(", 0},
      {QIAO_TOK_VALUE, "%x_2", 0},
      {QIAO_TOK_COLON, ":", 0},
      {QIAO_TOK_IDENT, "f32", 0},
      {QIAO_TOK_LBRACKET, "[", 0},
      {QIAO_TOK_NUMBER, "-1", 0},
      {QIAO_TOK_COMMA, ",", 0},
      {QIAO_TOK_NUMBER, "2.5e-3", 1},
      {QIAO_TOK_RBRACKET, "]", 0},
      {QIAO_TOK_RPAREN, ")", 0},
      {QIAO_TOK_ARROW, "->", 0},
      {QIAO_TOK_LBRACE, "{", 0},
      {QIAO_TOK_RBRACE, "}", 0},
      {QIAO_TOK_EQUAL, "=", 0},
      {QIAO_TOK_COMMA, ",", 0},
      {QIAO_TOK_COLON, ":", 0},
      {QIAO_TOK_STRING, "\"s\\\"\"", 0},
      {QIAO_TOK_NUMBER, "-inf", 1},
      {QIAO_TOK_NUMBER, "nan", 1},
      {QIAO_TOK_NUMBER, "7", 0},
      {QIAO_TOK_NUMBER, ".5", 1},
      {QIAO_TOK_NUMBER, "1.", 1},
      {QIAO_TOK_EOF, "", 0},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; ++i) {
    qiao_token_t t = qiao_lexer_next(&lx);
    cr_assert_eq(t.kind, want[i].kind, "token %zu: kind %d, want %d", i, t.kind, want[i].kind);
    cr_assert_eq(t.len, strlen(want[i].text), "token %zu", i);
    cr_assert(!memcmp(t.text, want[i].text, t.len), "token %zu: %.*s", i, (int)t.len, t.text);
    if (t.kind == QIAO_TOK_NUMBER) cr_assert_eq(t.is_float, want[i].is_float, "token %zu", i);
    if (i == 19) {
      cr_assert_eq(t.line, 2);
      cr_assert_eq(t.col, 2);
    }
  }
  /* EOF repeats */
  cr_assert_eq(qiao_lexer_next(&lx).kind, QIAO_TOK_EOF);
}

Test(lexer, errors) {
  const char *bad[] = {"$", "%1x", "@", "1.2.3", "12abc", "\"abc", "\"a\\q\"", "-", "1e+", "\x01"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    qiao_lexer_t lx;
    qiao_lexer_init(&lx, bad[i], strlen(bad[i]));
    qiao_token_t t = qiao_lexer_next(&lx);
    cr_assert_eq(t.kind, QIAO_TOK_ERROR, "'%s' lexed as %d", bad[i], t.kind);
    cr_assert_not_null(t.error);
  }
}

Test(lexer, string_decoding_and_identifiers) {
  const char *src = "\"a\\n\\t\\\\\\\"\\x41\\r\"";
  qiao_lexer_t lx;
  qiao_lexer_init(&lx, src, strlen(src));
  qiao_token_t t = qiao_lexer_next(&lx);
  cr_assert_eq(t.kind, QIAO_TOK_STRING);
  char buf[64];
  cr_assert_eq(qiao_lex_decode_string(&t, buf, sizeof buf), 7);
  cr_assert_str_eq(buf, "a\n\t\\\"A\r");
  cr_assert(qiao_lex_is_ident("a.b_1", 5));
  cr_assert(!qiao_lex_is_ident("1a", 2));
  cr_assert(!qiao_lex_is_ident("a-b", 3));
  cr_assert(!qiao_lex_is_ident("", 0));
}

/* --------------------------------------------------------- parser */

Test(parser, graph_signature_and_locations) {
  qiao_graph_t *g = parse_ok("# x\ngraph @net(%a: f32[2, 3], %b: i64[]) -> (f32[2, 3]) {\n"
                             "  %y = relu %a : f32[2, 3]\n  return %y\n}\n");
  cr_assert_str_eq(g->name, "net");
  cr_assert_eq(g->loc.line, 2);
  cr_assert_eq(g->loc.col, 1);
  cr_assert_eq(g->n_inputs, 2);
  cr_assert_str_eq(g->values[g->inputs[1]].name, "b");
  cr_assert_eq(g->values[g->inputs[1]].type.dtype, QIAO_I64);
  cr_assert_eq(g->values[g->inputs[1]].type.shape.rank, 0);
  cr_assert_eq(g->n_outputs, 1);
  cr_assert_eq(g->output_types[0].shape.dims[1], 3);
  const qiao_op_t *y = op_of(g, "y");
  cr_assert_eq(y->loc.line, 3);
  cr_assert_eq(y->loc.col, 8);
  cr_assert(y->types_written);
  cr_assert_eq(y->form, QIAO_FORM_STATEMENT);
  qiao_ir_graph_destroy(g);
}

Test(parser, attribute_defaults_and_values) {
  qiao_graph_t *g = parse_ok("graph @a(%q: f32[1, 2, 3, 4], %x: f32[2, 4], %w: f32[4], %p: i32[3]) "
                             "-> (f32[1, 2, 3, 4]) {\n"
                             "  %o = attention %q, %q, %q\n"
                             "  %s = attention %q, %q, %q {scale = 1, window = 2}\n"
                             "  %n = rms_norm %x, %w\n"
                             "  %r = rope %q, %p {theta = 10000}\n"
                             "  %t = transpose %x {perm = [1, 0]}\n"
                             "  %e = reshape %x {shape = [2, -1]}\n"
                             "  %sm = reduce_sum %x {axes = [0, 1]}\n"
                             "  return %o\n}\n");
  const qiao_op_t *o = op_of(g, "o");
  cr_assert(!o->attrs.has_scale);
  cr_assert(!o->attrs.causal);
  cr_assert_eq(o->attrs.window, 0);
  cr_assert(!o->types_written);
  const qiao_op_t *s = op_of(g, "s");
  cr_assert(s->attrs.has_scale);
  cr_assert_float_eq(s->attrs.scale, 1.0, 0);
  cr_assert_eq(s->attrs.window, 2);
  cr_assert_float_eq(op_of(g, "n")->attrs.eps, 1e-6, 0);
  cr_assert_float_eq(op_of(g, "r")->attrs.theta, 10000.0, 0);
  cr_assert_eq(op_of(g, "r")->attrs.mode, QIAO_ROPE_NEOX);
  cr_assert_eq(op_of(g, "t")->attrs.n_perm, 2);
  cr_assert_eq(op_of(g, "t")->attrs.perm[0], 1);
  cr_assert_eq(op_of(g, "e")->attrs.n_shape, 2);
  cr_assert_eq(op_of(g, "e")->attrs.shape[1], -1);
  cr_assert_eq(op_of(g, "sm")->attrs.n_axes, 2);
  qiao_ir_graph_destroy(g);
}

Test(parser, const_payloads) {
  qiao_graph_t *g = parse_ok("graph @c() -> (f32[2], i64[3], bool[2], f32[], i8[]) {\n"
                             "  %a = const [-inf, 2] : f32[2]\n"
                             "  %b = const [1, -2, 3] : i64[3]\n"
                             "  %c = const [true, 0] : bool[2]\n"
                             "  %d = const nan : f32[]\n"
                             "  %e = const -128 : i8[]\n"
                             "  return %a, %b, %c, %d, %e\n}\n");
  const qiao_op_t *a = op_of(g, "a");
  cr_assert_eq(a->attrs.n_values, 2);
  cr_assert_null(a->attrs.const_i);
  cr_assert(isinf(a->attrs.const_f[0]) && a->attrs.const_f[0] < 0);
  const qiao_op_t *b = op_of(g, "b");
  cr_assert_null(b->attrs.const_f);
  cr_assert_eq(b->attrs.const_i[1], -2);
  const qiao_op_t *c = op_of(g, "c");
  cr_assert_float_eq(c->attrs.const_f[0], 1.0, 0);
  cr_assert_float_eq(c->attrs.const_f[1], 0.0, 0);
  cr_assert(isnan(op_of(g, "d")->attrs.const_f[0]));
  cr_assert_eq(op_of(g, "e")->attrs.const_i[0], -128);
  qiao_ir_graph_destroy(g);
}

Test(parser, program_order_of_nested_and_literal_ops) {
  qiao_graph_t *g = parse_ok("graph @o(%x: f32[3]) -> (f32[3]) {\n"
                             "  %y = add (neg (exp %x)), (sqrt %x)\n"
                             "  %z = mul 3, (relu %y)\n"
                             "  return %z\n}\n");
  qiao_op_kind_t want[] = {QIAO_OP_EXP,  QIAO_OP_NEG,   QIAO_OP_SQRT, QIAO_OP_ADD,
                           QIAO_OP_RELU, QIAO_OP_CONST, QIAO_OP_MUL};
  cr_assert_eq(g->n_ops, 7);
  for (int i = 0; i < 7; ++i)
    cr_assert_eq(g->ops[i].kind, want[i], "op %d", i);
  cr_assert_eq(g->ops[0].form, QIAO_FORM_NESTED);
  cr_assert_eq(g->ops[3].form, QIAO_FORM_STATEMENT);
  cr_assert_eq(g->ops[5].form, QIAO_FORM_LITERAL);
  /* the literal is the first operand, its location is the number's */
  cr_assert_eq(g->ops[6].operands[0], g->ops[5].results[0]);
  cr_assert_eq(g->ops[5].loc.line, 3);
  cr_assert_eq(g->ops[5].loc.col, 12);
  qiao_ir_graph_destroy(g);
}

Test(parser, zero_outputs_parse_but_do_not_verify) {
  /* the syntax allows "-> ()" and a bare return; the verifier wants outputs */
  const char *src = "graph @e() -> () {\n  return\n}\n";
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse(src, strlen(src), "e.qir", &g);
  cr_assert_not_null(st);
  cr_assert_null(g);
  cr_assert(strncmp(qiao_status_message(st), "e.qir:1:1: ", 11) == 0, "%s",
            qiao_status_message(st));
  qiao_status_free(st);
}

Test(parser, semantic_error_carries_op_position) {
  const char *src =
      "graph @g(%x: f32[2]) -> (f32[2]) {\n  %y = sqrt %x\n  %z = cast %y {to = i32}\n"
      "  %w = exp %z\n  return %y\n}\n";
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse(src, strlen(src), "s.qir", &g);
  cr_assert_not_null(st);
  cr_assert_null(g);
  cr_assert(strncmp(qiao_status_message(st), "s.qir:4:8: ", 11) == 0, "%s",
            qiao_status_message(st));
  qiao_status_free(st);
}

/* --------------------------------------------------------- files */

Test(parser, parse_file_and_print_to_file) {
  char path[] = "/tmp/qiao_parser_testXXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  const char *src = "graph @f(%x: f32[2]) -> (f32[2]) {\n  %y = neg %x\n  return %y\n}\n";
  cr_assert_eq(write(fd, src, strlen(src)), (ssize_t)strlen(src));
  close(fd);
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse_file(path, &g);
  cr_assert_null(st, "%s", qiao_status_message(st));
  FILE *f = tmpfile();
  cr_assert_not_null(f);
  cr_assert_null(qiao_ir_print_to_file(g, f));
  rewind(f);
  char buf[256] = {0};
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  cr_assert_gt(n, 0);
  cr_assert_str_eq(buf, "graph @f(%x: f32[2]) -> (f32[2]) {\n  %y = neg %x : f32[2]\n"
                        "  return %y\n}\n");
  qiao_ir_graph_destroy(g);
  /* errors name the file path */
  FILE *w = fopen(path, "wb");
  fputs("graph @f() -> () {\n  %y = nope\n  return\n}\n", w);
  fclose(w);
  st = qiao_ir_parse_file(path, &g);
  cr_assert_not_null(st);
  char want[128];
  snprintf(want, sizeof want, "%s:2:8: unknown op 'nope'", path);
  cr_assert_str_eq(qiao_status_message(st), want);
  qiao_status_free(st);
  unlink(path);
}

/* --------------------------------------------------------- qiao-fmt */

#ifdef QIAO_BINARY_DIR
static bool have_fmt(char *out, size_t cap) {
  snprintf(out, cap, "%s/qiao-fmt", QIAO_BINARY_DIR);
  return access(out, X_OK) == 0;
}

static int run(const char *cmd) {
  int rc = system(cmd);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  static char buf[65536];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

Test(qiao_fmt, print_check_in_place_and_errors) {
  char fmt[1024];
  if (!have_fmt(fmt, sizeof fmt)) cr_skip_test("qiao-fmt not built");
  char dir[] = "/tmp/qiao_fmt_testXXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char good[1100], bad[1100], cmd[8192], out[1100], err[1100];
  snprintf(good, sizeof good, "%s/good.qir", dir);
  snprintf(bad, sizeof bad, "%s/bad.qir", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  snprintf(err, sizeof err, "%s/err", dir);
  FILE *f = fopen(good, "wb");
  fputs("# c\ngraph @g(%x: f32[2]) -> (f32[2]) {\n  %y   = mul %x,2\n  return %y\n}\n", f);
  fclose(f);
  f = fopen(bad, "wb");
  fputs("graph @g(%x: f32[2]) -> (f32[2]) {\n  %y = foo %x\n  return %y\n}\n", f);
  fclose(f);
  const char *canon = "graph @g(%x: f32[2]) -> (f32[2]) {\n  %y = mul %x, 2.0 : f32[2]\n"
                      "  return %y\n}\n";

  snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s", fmt, good, out, err);
  cr_assert_eq(run(cmd), 0);
  cr_assert_str_eq(slurp(out), canon);

  snprintf(cmd, sizeof cmd, "%s --check %s >%s 2>%s", fmt, good, out, err);
  cr_assert_eq(run(cmd), 0);
  cr_assert_str_eq(slurp(out), "");
  cr_assert_str_eq(slurp(err), "");

  snprintf(cmd, sizeof cmd, "%s --check-format %s >%s 2>%s", fmt, good, out, err);
  cr_assert_eq(run(cmd), 1);

  snprintf(cmd, sizeof cmd, "%s --check %s >%s 2>%s", fmt, bad, out, err);
  cr_assert_eq(run(cmd), 1);
  char want[2200];
  snprintf(want, sizeof want, "%s:2:8: unknown op 'foo'\n", bad);
  cr_assert_str_eq(slurp(err), want);
  cr_assert_str_eq(slurp(out), "");

  snprintf(cmd, sizeof cmd, "%s -i %s >%s 2>%s", fmt, good, out, err);
  cr_assert_eq(run(cmd), 0);
  cr_assert_str_eq(slurp(good), canon);
  snprintf(cmd, sizeof cmd, "%s --check-format %s 2>%s", fmt, good, err);
  cr_assert_eq(run(cmd), 0);

  snprintf(cmd, sizeof cmd, "%s %s/missing.qir >%s 2>%s", fmt, dir, out, err);
  cr_assert_eq(run(cmd), 1);
  cr_assert_not_null(strstr(slurp(err), "missing.qir"));

  snprintf(cmd, sizeof cmd, "%s --help >%s 2>%s", fmt, out, err);
  cr_assert_eq(run(cmd), 0);
  cr_assert_not_null(strstr(slurp(out), "usage"));

  snprintf(cmd, sizeof cmd, "%s --bogus >%s 2>%s", fmt, out, err);
  cr_assert_eq(run(cmd), 1);

  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  run(cmd);
}
#endif

/* Parsing is linear: 60,000 statements (and 2,000 inputs) parse quickly. A
 * quadratic name lookup would take minutes here. */
Test(parser, large_graph_parses_in_linear_time, .timeout = 60) {
  size_t cap = 8u << 20, n = 0;
  char *text = malloc(cap);
  cr_assert_not_null(text);
  n += (size_t)snprintf(text + n, cap - n, "graph @big(");
  for (int i = 0; i < 2000; ++i)
    n += (size_t)snprintf(text + n, cap - n, "%s%%in%d: f32[2]", i ? ", " : "", i);
  n += (size_t)snprintf(text + n, cap - n, ") -> (f32[2]) {\n  %%v0 = neg %%in0\n");
  for (int i = 1; i < 60000; ++i)
    n += (size_t)snprintf(text + n, cap - n, "  %%v%d = add %%v%d, %%in%d\n", i, i - 1, i % 2000);
  n += (size_t)snprintf(text + n, cap - n, "  return %%v59999\n}\n");
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse(text, n, "big.qir", &g);
  cr_assert_null(st, "%s", qiao_status_message(st));
  cr_expect_eq(g->n_inputs, 2000);
  cr_expect_eq(g->n_ops, 60000);
  cr_expect_eq(qiao_ir_graph_find_value(g, "v31337"), g->ops[31337].results[0]);
  cr_expect_eq(qiao_ir_graph_find_value(g, "in1999"), g->inputs[1999]);
  cr_expect_eq(qiao_ir_graph_find_value(g, "nope"), -1);
  qiao_ir_graph_destroy(g);
  free(text);
}
