/* PTX parse errors: every bad input under tests/data/ptx/bad/ fails with the exact
 * FILE:LINE:COL and a message that contains the expected text (the same table is in
 * tests/data/ptx/bad/README.md); no module is returned with an error. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/ptx.h"

#ifndef QIAO_SOURCE_DIR
#error "QIAO_SOURCE_DIR must name the repository root"
#endif
#define BAD QIAO_SOURCE_DIR "/tests/data/ptx/bad/"

typedef struct {
  const char *file; /* without .ptx */
  int line, col;
  const char *message;
} bad_case_t;

static const bad_case_t k_cases[] = {
    {"bad_address", 8, 22, "expected an address (register, variable or integer), got '+'"},
    {"bad_address_size", 3, 15, "address size must be 32 or 64"},
    {"bad_alignment", 5, 16, "alignment must be a power of two"},
    {"bad_component", 8, 15, "undeclared register '%tid.q'"},
    {"bad_hex_float", 8, 15, "invalid number '0f3F80'"},
    {"bad_target", 2, 9, "expected a target (sm_XX, texmode_independent, debug), got 'gfx90a'"},
    {"bad_version", 1, 10, "expected a version (major.minor), got '8'"},
    {"cross_function_label", 12, 6, "undeclared symbol 'L1'"},
    {"duplicate_function", 9, 7, "'f' is already declared"},
    {"duplicate_label", 9, 1, "label L1 is already defined"},
    {"duplicate_local", 8, 14, "'s' is already declared in this scope"},
    {"duplicate_register", 8, 12, "register %x is already declared"},
    {"duplicate_version", 2, 1, "duplicate .version"},
    {"empty_file", 1, 1, "expected '.version', got end of file"},
    {"empty_modifier", 7, 5, "empty modifier"},
    {"guard_not_register", 8, 3, "expected a predicate register, got '5'"},
    {"int_out_of_range", 8, 16, "integer out of range"},
    {"missing_function_name", 5, 8, "expected a function name, got '('"},
    {"missing_semicolon", 9, 2, "expected ',' or ';', got 'ret'"},
    {"missing_version", 1, 1, "expected '.version', got '.target'"},
    {"nested_groups", 9, 17, "expected an operand (groups do not nest), got '{'"},
    {"not_an_instruction", 7, 2, "expected an instruction, got '%r1'"},
    {"param_initializer", 5, 22, "a parameter cannot have an initializer"},
    {"range_index_leading_zero", 8, 10, "undeclared register '%r01'"},
    {"reg_at_module_scope", 5, 1,
     "expected a directive (.target, .entry, .func, .global, ...), got '.reg'"},
    {"scopes_too_deep", 7, 64, "scopes nested too deeply"},
    {"too_many_dims", 5, 27, "too many array dimensions (at most 4)"},
    {"undeclared_register", 8, 10, "undeclared register '%r5'"},
    {"undeclared_symbol", 7, 6, "undeclared symbol '$L__nowhere'"},
    {"unexpected_character", 8, 20, "unexpected character '#'"},
    {"unknown_type", 5, 9, "expected a type (.b32, .u64, .f32, ...), got '.u33'"},
    {"unsupported_directive", 7, 15, "unsupported directive '.callprototype' in a function body"},
    {"unterminated_body", 8, 1, "expected '}' or an instruction, got end of file"},
    {"unterminated_comment", 5, 1, "unterminated comment"},
    {"unterminated_section", 6, 1, "unterminated .section (no matching '}')"},
    {"unterminated_string", 5, 9, "unterminated string '\"abc.cu'"},
};
#define N_CASES ((int)(sizeof k_cases / sizeof k_cases[0]))

static void check_case(const bad_case_t *c) {
  char path[1024];
  snprintf(path, sizeof path, BAD "%s.ptx", c->file);
  qiao_ptx_module_t *m = (qiao_ptx_module_t *)0x1;
  qiao_status_t st = qiao_ptx_parse_file(path, &m);
  cr_assert_not_null(st, "%s: parsed without an error", c->file);
  cr_expect_null(m, "%s: a module was returned with an error", c->file);
  cr_expect_eq(qiao_status_code(st), QIAO_INVALID_ARGUMENT, "%s: code %d", c->file,
               qiao_status_code(st));
  char prefix[1200];
  snprintf(prefix, sizeof prefix, "%s:%d:%d: ", path, c->line, c->col);
  const char *msg = qiao_status_message(st);
  cr_expect(strncmp(msg, prefix, strlen(prefix)) == 0, "%s: expected position %d:%d, got: %s",
            c->file, c->line, c->col, msg);
  cr_expect(strstr(msg, c->message) != NULL, "%s: message lacks \"%s\": %s", c->file, c->message,
            msg);
  cr_expect(strchr(msg, '\n') == NULL, "%s: message has a newline", c->file);
  qiao_status_free(st);
}

Test(ptx_errors, every_case) {
  cr_assert_geq(N_CASES, 30);
  for (int i = 0; i < N_CASES; ++i)
    check_case(&k_cases[i]);
}

Test(ptx_errors, every_bad_file_is_listed) {
  FILE *f = fopen(BAD "README.md", "rb");
  cr_assert_not_null(f);
  static char readme[65536];
  size_t n = fread(readme, 1, sizeof readme - 1, f);
  readme[n] = 0;
  fclose(f);
  for (int i = 0; i < N_CASES; ++i) {
    char name[256];
    snprintf(name, sizeof name, "`%s.ptx`", k_cases[i].file);
    cr_expect(strstr(readme, name) != NULL, "README.md does not list %s", name);
  }
  /* and every .ptx in the folder has a case */
  DIR *d = opendir(BAD);
  cr_assert_not_null(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l < 5 || strcmp(e->d_name + l - 4, ".ptx") != 0) continue;
    bool found = false;
    for (int i = 0; i < N_CASES; ++i)
      if (strlen(k_cases[i].file) == l - 4 && strncmp(k_cases[i].file, e->d_name, l - 4) == 0)
        found = true;
    cr_expect(found, "%s has no expected message", e->d_name);
  }
  closedir(d);
}

Test(ptx_errors, missing_file) {
  qiao_ptx_module_t *m = NULL;
  qiao_status_t st = qiao_ptx_parse_file(BAD "no_such_file.ptx", &m);
  cr_assert_not_null(st);
  cr_expect_eq(qiao_status_code(st), QIAO_NOT_FOUND);
  cr_expect_null(m);
  qiao_status_free(st);
}

Test(ptx_errors, binary_garbage) {
  /* NUL bytes and high bytes are errors with a position, never a crash */
  static const char junk[] = ".version 8.0\n.target sm_80\n\x00\xff\x80{";
  qiao_ptx_module_t *m = NULL;
  qiao_status_t st = qiao_ptx_parse(junk, sizeof junk - 1, "junk.ptx", &m);
  cr_assert_not_null(st);
  cr_expect(strncmp(qiao_status_message(st), "junk.ptx:3:1: ", 14) == 0, "%s",
            qiao_status_message(st));
  cr_expect_null(m);
  qiao_status_free(st);
}

Test(ptx_errors, nul_bytes_in_strings_and_sections) {
  /* printed text must stay one C string: NUL bytes are refused where the printer
   * would copy them (strings, raw .section text) */
  static const char s1[] = ".version 8.0\n.target sm_80\n.file 1 \"a\x00"
                           "b\"\n";
  static const char s2[] = ".version 8.0\n.target sm_80\n.section .debug_str { .b8 1 \x00 }\n";
  qiao_ptx_module_t *m = NULL;
  qiao_status_t st = qiao_ptx_parse(s1, sizeof s1 - 1, "s1.ptx", &m);
  cr_assert_not_null(st);
  cr_expect(strstr(qiao_status_message(st), "s1.ptx:3:9: NUL byte in string") != NULL, "%s",
            qiao_status_message(st));
  qiao_status_free(st);
  st = qiao_ptx_parse(s2, sizeof s2 - 1, "s2.ptx", &m);
  cr_assert_not_null(st);
  cr_expect(strstr(qiao_status_message(st), "s2.ptx:3:21: a .section cannot contain a NUL byte") !=
                NULL,
            "%s", qiao_status_message(st));
  qiao_status_free(st);
  cr_expect_null(m);
}
