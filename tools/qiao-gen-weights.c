/* qiao-gen-weights: deterministic random weights for a graph's params.
 *
 *   qiao-gen-weights MODEL.qir -o OUT.safetensors [--seed N]
 *
 * For every `param "name" : type` op of the graph (each name once) it makes a
 * tensor of that type and writes them all, in graph order, to a safetensors
 * file. Values are uniform, from a generator seeded by (seed, name), so a
 * param's values do not depend on the other params:
 *   - weight of rms_norm / layer_norm (operand 1): [0.9, 1.1)
 *   - bias of layer_norm (operand 2) and other rank-1 params: [-0.1, 0.1)
 *   - rank >= 2 (matrices, stacked experts): [-1/sqrt(fan_in), 1/sqrt(fan_in)),
 *     fan_in = dims[rank-2] (dims[rank-1] when the matrix is matmul's b with
 *     transpose_b, or its a with transpose_a)
 *   - rank 0: [-1, 1)
 *   - integer params: gather indices in [0, rows of the table), others [0, 8);
 *     bool params: 0 or 1.
 * Exit codes: 0 ok, 1 user error, 2 internal error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/ir.h"

static const char *k_usage =
    "usage: qiao-gen-weights MODEL.qir -o OUT.safetensors [--seed N]\n"
    "Writes deterministic random values for every param of MODEL.qir to OUT.\n"
    "  -o FILE     output safetensors file (required)\n"
    "  --seed N    generator seed (default 1)\n"
    "  --help      this text\n";

static int exit_code_for(qiao_status_t s) {
  switch (qiao_status_code(s)) {
  case QIAO_INVALID_ARGUMENT:
  case QIAO_NOT_FOUND:
  case QIAO_IO_ERROR:
    return 1;
  default:
    return 2;
  }
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; ++s)
    h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

int main(int argc, char **argv) {
  const char *in = NULL, *out = NULL;
  uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(k_usage, stdout);
      return 0;
    } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
      if (++i >= argc) {
        fprintf(stderr, "qiao-gen-weights: %s needs a file name\n", a);
        return 1;
      }
      out = argv[i];
    } else if (strcmp(a, "--seed") == 0) {
      char *end = NULL;
      if (++i >= argc || (seed = strtoull(argv[i], &end, 0), !end || *end || !argv[i][0])) {
        fprintf(stderr, "qiao-gen-weights: --seed needs an integer\n");
        return 1;
      }
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "qiao-gen-weights: unknown option '%s' (see --help)\n", a);
      return 1;
    } else if (in) {
      fprintf(stderr, "qiao-gen-weights: more than one model given ('%s', '%s')\n", in, a);
      return 1;
    } else {
      in = a;
    }
  }
  if (!in || !out) {
    fprintf(stderr, "qiao-gen-weights: %s (see --help)\n",
            !in ? "no model file given" : "no output file given (-o)");
    return 1;
  }

  qiao_graph_t *g = NULL;
  qiao_status_t s = qiao_ir_parse_file(in, &g);
  if (s) {
    fprintf(stderr, "%s\n", qiao_status_message(s));
    int rc = exit_code_for(s);
    qiao_status_free(s);
    return rc;
  }

  int32_t n = 0;
  const char **names = calloc((size_t)g->n_ops + 1, sizeof *names);
  qiao_tensor_t **ts = calloc((size_t)g->n_ops + 1, sizeof *ts);
  int rc = 0;
  for (int32_t o = 0; o < g->n_ops && !rc; ++o) {
    const qiao_op_t *op = &g->ops[o];
    if (op->kind != QIAO_OP_PARAM)
      continue;
    const char *pn = op->attrs.param_name;
    const qiao_type_t *ty = &g->values[op->results[0]].type;
    bool seen = false;
    for (int32_t j = 0; j < n; ++j) {
      if (strcmp(names[j], pn) != 0)
        continue;
      seen = true;
      if (!qiao_type_equal(&ts[j]->type, ty)) {
        char a[96], b[96];
        fprintf(stderr, "%s:%d:%d: param \"%s\" is %s here but %s earlier\n", in, op->loc.line,
                op->loc.col, pn, qiao_type_str(ty, a, sizeof a),
                qiao_type_str(&ts[j]->type, b, sizeof b));
        rc = 1;
      }
    }
    if (seen)
      continue;
    s = qiao_tensor_create(*ty, &ts[n]);
    if (s) {
      fprintf(stderr, "%s:%d:%d: param \"%s\": %s\n", in, op->loc.line, op->loc.col, pn,
              qiao_status_message(s));
      rc = exit_code_for(s);
      qiao_status_free(s);
      break;
    }
    double lo, hi;
    qiao_ir_param_init_range(g, op->results[0], &lo, &hi);
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull ^ fnv1a(pn);
    qiao_tensor_fill_random(ts[n], &rng, lo, hi);
    names[n++] = pn;
  }
  size_t bytes = 0;
  if (!rc) {
    s = qiao_safetensors_write(out, names, (const qiao_tensor_t *const *)ts, n);
    if (s) {
      fprintf(stderr, "%s\n", qiao_status_message(s));
      rc = exit_code_for(s);
      qiao_status_free(s);
    } else {
      for (int32_t j = 0; j < n; ++j)
        bytes += qiao_tensor_nbytes(ts[j]);
      printf("wrote %d tensors (%zu bytes of data) to %s\n", n, bytes, out);
    }
  }
  for (int32_t j = 0; j < n; ++j)
    qiao_tensor_destroy(ts[j]);
  free(ts);
  free(names);
  qiao_ir_graph_destroy(g);
  return rc;
}
