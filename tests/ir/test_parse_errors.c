/* Parse errors: every bad input under tests/data/bad/ fails with the exact
 * FILE:LINE:COL and a message that contains the expected text (the same
 * table is in tests/data/bad/README.md). Plus in-memory checks: no partial
 * graph is returned, truncations of a good file all fail cleanly. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/ir.h"

#ifndef QIAO_SOURCE_DIR
#error "QIAO_SOURCE_DIR must name the repository root"
#endif

typedef struct {
  const char *file; /* under tests/data/bad/, without .qir */
  int line, col;
  const char *message; /* substring of the message after "FILE:LINE:COL: " */
} bad_case_t;

static const bad_case_t k_cases[] = {
    {"attribute_on_plain_op", 2, 17, "unknown attribute 'axis': relu takes no attributes"},
    {"attention_kv_len_before_mask", 2, 8,
     "attention: with 5 operands (q, k, v, mask, kv_len) the mask must be a float dtype, got i32"},
    {"attention_kv_len_shape", 2, 8, "attention: kv_len must be i32[B] = i32[2], got i32[1]"},
    {"bad_enum_value", 2, 31,
     "invalid value '\"fast\"' for 'approximate' (expected \"none\" or \"tanh\")"},
    {"bad_escape", 2, 16, "invalid escape in string '\\q'"},
    {"const_float_for_int", 2, 14, "expected an integer for an i32 const, got '1.5'"},
    {"const_value_count", 2, 26, "const has 3 values but f32[2] has 2 elements"},
    {"const_without_type", 3, 3, "expected ':' and the const's type, got 'return'"},
    {"duplicate_attribute", 2, 57, "duplicate attribute 'causal'"},
    {"duplicate_input", 1, 22, "value %x is already defined at 1:10"},
    {"empty_file", 1, 1, "expected 'graph', got end of file"},
    {"empty_tensor_too_large", 1, 36, "tensor too large (at most 2^53 elements)"},
    {"empty_param_name", 2, 8, "needs a non-empty name"},
    {"enum_not_a_string", 2, 31, "expected \"none\" or \"tanh\" for 'approximate', got 'tanh'"},
    {"float_for_int_attribute", 2, 27, "expected an integer for 'axis', got '1.5'"},
    {"float_literal_for_int", 2, 16, "expected an integer literal for an i32 operand, got '0.5'"},
    {"int_for_bool_attribute", 2, 39, "expected true or false for 'causal', got '1'"},
    {"int_out_of_range", 2, 27, "integer out of range"},
    {"invalid_number", 2, 14, "invalid number '1.2.3'"},
    {"literal_in_unary_op", 2, 12, "a numeric literal operand needs an op with two operands"},
    {"missing_graph_keyword", 1, 1, "expected 'graph', got 'grph'"},
    {"missing_graph_name", 1, 7, "expected a graph name (@name), got 'g'"},
    {"missing_required_attribute", 2, 13, "topk needs attribute 'k'"},
    {"missing_return", 3, 1, "expected a statement or 'return', got end of file"},
    {"negative_dim", 1, 21, "dimension must not be negative"},
    {"nested_multi_result", 2, 14, "topk has 2 results and cannot be nested"},
    {"nested_param", 2, 17, "param cannot be nested: give it a name"},
    {"nesting_too_deep", 2, 332, "ops nested too deeply"},
    {"nul_in_param_name", 2, 14, "a parameter name cannot contain a NUL byte"},
    {"operand_count", 2, 8, "add expects 2 operands, got 1"},
    {"param_without_type", 3, 3, "expected ':' and the param's type, got 'return'"},
    {"redefined_value", 3, 3, "value %y is already defined at 2:3"},
    {"result_bytes_overflow", 2, 8,
     "op %y = matmul: result 0 f32[2147483648, 2147483648] is 4611686018427387904 elements of 4 "
     "bytes: its byte size overflows 64 bits"},
    {"result_too_large", 2, 8, "add: result 0 has more elements than fit in 64 bits"},
    {"result_type_mismatch", 2, 8, "result 0 is written as f32[3] but the operands give f32[2]"},
    {"return_count", 2, 3, "return gives 2 values but the signature declares 1"},
    {"return_type", 2, 10, "%i has type i32[2] but the signature declares f32[2]"},
    {"shape_inference_error", 2, 8, "matmul: contraction dims differ"},
    {"too_many_dims", 1, 42, "too many dimensions (at most 8)"},
    {"too_many_result_types", 2, 26, "too many result types: 'relu' has 1 result"},
    {"topk_one_name", 2, 3, "topk has 2 results, got 1 name"},
    {"trailing_garbage", 4, 1, "expected end of file, got 'graph'"},
    {"two_literals", 2, 12, "both operands are numeric literals: one must be a value"},
    {"unclosed_paren", 2, 21, "expected ')', got '%x'"},
    {"undefined_value", 2, 13, "use of undefined value %nope"},
    {"unexpected_character", 2, 13, "unexpected character '$'"},
    {"unknown_attribute", 2, 23,
     "unknown attribute 'transpose' for matmul (valid: transpose_a, transpose_b)"},
    {"unknown_dtype", 1, 14, "unknown dtype 'f33'"},
    {"unknown_dtype_attribute", 2, 22, "unknown dtype 'float'"},
    {"unknown_op", 2, 8, "unknown op 'frobnicate'"},
    {"unterminated_string", 2, 14, "unterminated string"},
};

#define N_CASES ((int)(sizeof k_cases / sizeof k_cases[0]))

static void check_case(const bad_case_t *c) {
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/data/bad/%s.qir", QIAO_SOURCE_DIR, c->file);
  qiao_graph_t *g = (qiao_graph_t *)0x1;
  qiao_status_t st = qiao_ir_parse_file(path, &g);
  cr_assert_not_null(st, "%s: parsed without an error", c->file);
  cr_assert_null(g, "%s: a graph was returned with an error", c->file);
  cr_assert_eq(qiao_status_code(st), QIAO_INVALID_ARGUMENT, "%s: code %d: %s", c->file,
               qiao_status_code(st), qiao_status_message(st));
  char prefix[1200];
  snprintf(prefix, sizeof prefix, "%s:%d:%d: ", path, c->line, c->col);
  const char *msg = qiao_status_message(st);
  cr_expect(strncmp(msg, prefix, strlen(prefix)) == 0, "%s: expected position %d:%d, got: %s",
            c->file, c->line, c->col, msg);
  cr_expect(strstr(msg, c->message) != NULL, "%s: message lacks \"%s\": %s", c->file, c->message,
            msg);
  /* one line, no trailing newline */
  cr_expect(strchr(msg, '\n') == NULL, "%s: message has a newline: %s", c->file, msg);
  qiao_status_free(st);
}

Test(parse_errors, enough_cases) { cr_assert_geq(N_CASES, 25); }

/* One test per bad file, so a failure names the file. */
#define BAD_TEST(i)                                                                                \
  Test(parse_errors, case_##i) {                                                                   \
    if (i < N_CASES) check_case(&k_cases[i]);                                                      \
  }
BAD_TEST(0)
BAD_TEST(1) BAD_TEST(2) BAD_TEST(3) BAD_TEST(4) BAD_TEST(5) BAD_TEST(6) BAD_TEST(7) BAD_TEST(8)
    BAD_TEST(9) BAD_TEST(10) BAD_TEST(11) BAD_TEST(12) BAD_TEST(13) BAD_TEST(14) BAD_TEST(15)
        BAD_TEST(16) BAD_TEST(17) BAD_TEST(18) BAD_TEST(19) BAD_TEST(20) BAD_TEST(21) BAD_TEST(22)
            BAD_TEST(23) BAD_TEST(24) BAD_TEST(25) BAD_TEST(26) BAD_TEST(27) BAD_TEST(28)
                BAD_TEST(29) BAD_TEST(30) BAD_TEST(31) BAD_TEST(32) BAD_TEST(33) BAD_TEST(34)
                    BAD_TEST(35) BAD_TEST(36) BAD_TEST(37) BAD_TEST(38) BAD_TEST(39) BAD_TEST(40)
                        BAD_TEST(41) BAD_TEST(42) BAD_TEST(43) BAD_TEST(44) BAD_TEST(45)
                            BAD_TEST(46) BAD_TEST(47) BAD_TEST(48) BAD_TEST(49)
                                BAD_TEST(50) BAD_TEST(51) BAD_TEST(52) BAD_TEST(53)

                                    Test(parse_errors, table_fits_the_generated_tests) {
  cr_assert_leq(N_CASES, 54);
}

Test(parse_errors, every_bad_file_is_listed) {
  /* README.md lists every case, and every case's file exists. */
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/data/bad/README.md", QIAO_SOURCE_DIR);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  static char readme[65536];
  size_t n = fread(readme, 1, sizeof readme - 1, f);
  readme[n] = 0;
  fclose(f);
  for (int i = 0; i < N_CASES; ++i) {
    char name[256];
    snprintf(name, sizeof name, "`%s.qir`", k_cases[i].file);
    cr_expect(strstr(readme, name) != NULL, "README.md does not list %s", name);
  }
}

Test(parse_errors, missing_file) {
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse_file(QIAO_SOURCE_DIR "/tests/data/bad/no_such_file.qir", &g);
  cr_assert_not_null(st);
  cr_assert_null(g);
  cr_assert_eq(qiao_status_code(st), QIAO_NOT_FOUND);
  cr_assert_not_null(strstr(qiao_status_message(st), "no_such_file.qir"));
  qiao_status_free(st);
}

Test(parse_errors, filename_defaults_and_not_nul_terminated_text) {
  const char text[] = "graph @g(%x: f32[2]) -> (f32[2]) {\n  %y = relu %x\n  return %y\n}\nJUNK";
  qiao_graph_t *g = NULL;
  /* the length stops before JUNK: parses */
  qiao_status_t st = qiao_ir_parse(text, sizeof text - 1 - 4, NULL, &g);
  cr_assert_null(st, "%s", qiao_status_message(st));
  qiao_ir_graph_destroy(g);
  st = qiao_ir_parse(text, sizeof text - 1, NULL, &g);
  cr_assert_not_null(st);
  cr_assert_str_eq(qiao_status_message(st), "<input>:5:1: expected end of file, got 'JUNK'");
  qiao_status_free(st);
}

Test(parse_errors, every_truncation_fails_cleanly) {
  const char *good = "# c\ngraph @g(%x: f32[2, 4], %i: i64[2]) -> (f32[2, 4], i64[2, 1]) {\n"
                     "  %w = param \"w\\x41\" : f32[4]\n  %c = const [1, 2.5e-3, 3, 4] : f32[4]\n"
                     "  %y = mul (rms_norm %x, %w {eps = 1e-05}), 0.5 : f32[2, 4]\n"
                     "  %v, %j = topk %y {k = 1}\n"
                     "  return %y, %j\n}\n";
  size_t len = strlen(good);
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse(good, len, "t.qir", &g);
  cr_assert_null(st, "%s", qiao_status_message(st));
  qiao_ir_graph_destroy(g);
  for (size_t n = 0; n + 1 < len; ++n) {
    g = NULL;
    st = qiao_ir_parse(good, n, "t.qir", &g);
    cr_assert_not_null(st, "prefix of %zu bytes parsed", n);
    cr_assert_null(g);
    cr_assert(strncmp(qiao_status_message(st), "t.qir:", 6) == 0, "%s", qiao_status_message(st));
    qiao_status_free(st);
  }
}
