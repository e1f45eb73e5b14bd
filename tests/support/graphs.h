/* Test support: parse a graph from text or from examples/, asserting success
 * (for use inside Criterion tests; include <criterion/criterion.h> first). */
#ifndef QIAO_TESTS_GRAPHS_H
#define QIAO_TESTS_GRAPHS_H

#include <stdio.h>
#include <string.h>

#include "qiao/ir.h"

/* Parses `text` (a whole .qir graph). */
static inline qiao_graph_t *parse(const char *text) {
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse(text, strlen(text), "test.qir", &g);
  cr_assert(st == NULL, "%s", qiao_status_message(st));
  return g;
}

/* Parses examples/<name>.qir. */
static inline qiao_graph_t *parse_example(const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/examples/%s.qir", QIAO_SOURCE_DIR, name);
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse_file(path, &g);
  cr_assert(st == NULL, "%s", qiao_status_message(st));
  return g;
}

#endif
