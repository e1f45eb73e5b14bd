/* libFuzzer target for the .qir parser and printer.
 *
 * Parses the input; when it parses, prints it, parses the printed text and
 * prints again. Aborts when the second parse fails, when the two graphs are
 * not qiao_ir_graph_equal, or when the two printed texts differ (the round
 * trip must be exact). Crashes, leaks and UB are caught by the sanitizers.
 *
 *   ./build-fuzz/fuzz_parser -max_total_time=300 -max_len=4096 \
 *       tests/fuzz/corpus-parser tests/fuzz/seeds-parser
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/ir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse((const char *)data, size, "fuzz.qir", &g);
  if (st) {
    /* every error names the file and a position */
    if (strncmp(qiao_status_message(st), "fuzz.qir:", 9) != 0) {
      fprintf(stderr, "error without position: %s\n", qiao_status_message(st));
      abort();
    }
    if (g) abort();
    qiao_status_free(st);
    return 0;
  }
  char *t1 = NULL;
  st = qiao_ir_print(g, &t1);
  if (st) {
    fprintf(stderr, "print failed: %s\n", qiao_status_message(st));
    abort();
  }
  qiao_graph_t *g2 = NULL;
  st = qiao_ir_parse(t1, strlen(t1), "printed.qir", &g2);
  if (st) {
    fprintf(stderr, "printed text does not parse: %s\n---\n%s", qiao_status_message(st), t1);
    abort();
  }
  if (!qiao_ir_graph_equal(g, g2)) {
    fprintf(stderr, "re-parsed graph differs\n---\n%s", t1);
    abort();
  }
  char *t2 = NULL;
  st = qiao_ir_print(g2, &t2);
  if (st) abort();
  if (strcmp(t1, t2) != 0) {
    fprintf(stderr, "re-print differs\n--- first\n%s--- second\n%s", t1, t2);
    abort();
  }
  free(t1);
  free(t2);
  qiao_ir_graph_destroy(g);
  qiao_ir_graph_destroy(g2);
  return 0;
}
