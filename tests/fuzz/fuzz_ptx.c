/* libFuzzer target for the PTX reader and printer.
 *
 * Parses the input; an error must name the file and a position ("fuzz.ptx:") and
 * return no module. When it parses, prints it, parses the printed text and prints
 * again; aborts when the second parse fails, when the modules are not
 * qiao_ptx_module_equal, or when the two printed texts differ. Crashes, leaks and
 * UB are caught by the sanitizers.
 *
 *   ./build-fuzz/fuzz_ptx -max_total_time=300 -max_len=8192 \
 *       tests/fuzz/corpus-ptx tests/fuzz/seeds-ptx
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/ptx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  qiao_ptx_module_t *m = (qiao_ptx_module_t *)0x1;
  qiao_status_t st = qiao_ptx_parse((const char *)data, size, "fuzz.ptx", &m);
  if (st) {
    if (strncmp(qiao_status_message(st), "fuzz.ptx:", 9) != 0) {
      fprintf(stderr, "error without position: %s\n", qiao_status_message(st));
      abort();
    }
    if (m) abort();
    qiao_status_free(st);
    return 0;
  }
  char *t1 = NULL;
  st = qiao_ptx_print(m, &t1);
  if (st) {
    fprintf(stderr, "print failed: %s\n", qiao_status_message(st));
    abort();
  }
  qiao_ptx_module_t *m2 = NULL;
  st = qiao_ptx_parse(t1, strlen(t1), "printed.ptx", &m2);
  if (st) {
    fprintf(stderr, "printed text does not parse: %s\n---\n%s", qiao_status_message(st), t1);
    abort();
  }
  if (!qiao_ptx_module_equal(m, m2)) {
    fprintf(stderr, "re-parsed module differs\n---\n%s", t1);
    abort();
  }
  char *t2 = NULL;
  st = qiao_ptx_print(m2, &t2);
  if (st) abort();
  if (strcmp(t1, t2) != 0) {
    fprintf(stderr, "re-print differs\n--- first\n%s--- second\n%s", t1, t2);
    abort();
  }
  free(t1);
  free(t2);
  qiao_ptx_module_destroy(m);
  qiao_ptx_module_destroy(m2);
  return 0;
}
