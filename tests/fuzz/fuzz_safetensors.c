/* libFuzzer target: qiao_safetensors_parse on arbitrary bytes must return a
 * status or a valid file, never crash, leak or read out of bounds. A file that
 * parses is read back through every accessor, touching every data byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/ir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  qiao_safetensors_t *st = NULL;
  qiao_status_t s = qiao_safetensors_parse(data, size, "fuzz", &st);
  if (s) {
    if (st)
      abort(); /* no result on error */
    if (strncmp(qiao_status_message(s), "fuzz: ", 6) != 0)
      abort();
    qiao_status_free(s);
    return 0;
  }
  int32_t n = qiao_safetensors_count(st);
  uint64_t sum = 0;
  for (int32_t i = 0; i < n; ++i) {
    const char *name = qiao_safetensors_name(st, i);
    qiao_tensor_t v;
    if (!name || qiao_safetensors_get(st, name, &v))
      abort();
    size_t nb = qiao_tensor_nbytes(&v);
    const unsigned char *p = v.data;
    for (size_t k = 0; k < nb; ++k)
      sum += p[k]; /* touches every byte (ASan) */
  }
  (void)sum;
  qiao_safetensors_destroy(st);
  return 0;
}
