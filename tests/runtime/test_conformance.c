/* The conformance suite: every op (and the fused patterns) on every device,
 * against the reference interpreter, on fresh random inputs. Written once:
 * adding a device adds a row to k_devices, not a copy of the tests. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdlib.h>
#include <string.h>

#include "support/oracle.h"

/* simt-emu rows run the CUDA-class backend's PTX in the emulator, the ascend-sim row the
 * Ascend backend's unit-operation modules in the simulator; kernels a backend does not
 * lower yet print "[UNSUPPORTED] ... on <device>" (never a pass of theirs). */
static const char *const k_builtin_devices[] = {"cpu:threads=1", "cpu:threads=2", "simt-emu:h100",
                                                "simt-emu:a100", "ascend-sim:910b",
                                                "ascend-sim:910c"};
/* QIAO_CONF_DEVICES="cuda:0 simt-emu:h100,threads=1" (URIs separated by spaces) adds rows;
 * QIAO_CONF_ONLY=1 drops the built-in ones (tests/gpu/run.sh, the simt-emu timing). */
static const char *const *conf_devices(size_t *out_n) {
  static const char *list[64];
  static char text[2048];
  static size_t n = (size_t)-1;
  if (n == (size_t)-1) {
    n = 0;
    const char *only = getenv("QIAO_CONF_ONLY");
    if (!only || !*only || !strcmp(only, "0"))
      for (size_t i = 0; i < sizeof k_builtin_devices / sizeof *k_builtin_devices; ++i)
        list[n++] = k_builtin_devices[i];
    const char *env = getenv("QIAO_CONF_DEVICES");
    snprintf(text, sizeof text, "%s", env ? env : "");
    for (char *save = NULL, *t = strtok_r(text, " \t", &save); t && n < 64;
         t = strtok_r(NULL, " \t", &save))
      list[n++] = t;
  }
  *out_n = n;
  return list;
}
static size_t conf_device_count(void) {
  size_t n;
  conf_devices(&n);
  return n;
}
#define k_devices (conf_devices(&(size_t){0}))
#define N_DEVICES (conf_device_count())

typedef struct conf_case {
  const char *name;
  const char *text; /* a .qir graph */
} conf_case_t;

#define G(sig, body) "graph @t" sig " {\n" body "\n}\n"

static const conf_case_t k_cases[] = {
    /* ---- binary elementwise with broadcasting, every float dtype */
    {"add_bcast_f32", G("(%a: f32[3, 17], %b: f32[17]) -> (f32[3, 17])", "%y = add %a, %b\nreturn %y")},
    {"sub_scalar_bcast", G("(%a: f32[127], %b: f32[1]) -> (f32[127])", "%y = sub %a, %b\nreturn %y")},
    {"mul_bf16", G("(%a: bf16[4, 33], %b: bf16[4, 33]) -> (bf16[4, 33])", "%y = mul %a, %b\nreturn %y")},
    {"div_f16_col", G("(%a: f16[5, 7], %b: f16[5, 1]) -> (f16[5, 7])",
                      "%y = div %a, (add (exp %b), 1.0)\nreturn %y")},
    {"max_3d", G("(%a: f32[2, 3, 17], %b: f32[3, 1]) -> (f32[2, 3, 17])", "%y = max %a, %b\nreturn %y")},
    {"min_outer", G("(%a: f32[3, 1], %b: f32[1, 17]) -> (f32[3, 17])", "%y = min %a, %b\nreturn %y")},
    {"pow_pos", G("(%a: f32[1, 3], %b: f32[1, 3]) -> (f32[1, 3])", "%y = pow (exp %a), %b\nreturn %y")},
    {"add_i32", G("(%a: i32[3, 17], %b: i32[17]) -> (i32[3, 17])", "%y = add %a, %b\nreturn %y")},
    {"mul_i64", G("(%a: i64[17], %b: i64[17]) -> (i64[17])", "%y = mul %a, %b\nreturn %y")},
    /* ---- unary */
    {"neg", G("(%x: f32[3, 17]) -> (f32[3, 17])", "%y = neg %x\nreturn %y")},
    {"exp", G("(%x: f32[3, 17]) -> (f32[3, 17])", "%y = exp %x\nreturn %y")},
    {"log", G("(%x: f32[3, 17]) -> (f32[3, 17])", "%y = log (add (mul %x, %x), 0.5)\nreturn %y")},
    {"sqrt", G("(%x: f32[127]) -> (f32[127])", "%y = sqrt (exp %x)\nreturn %y")},
    {"rsqrt", G("(%x: f32[127]) -> (f32[127])", "%y = rsqrt (exp %x)\nreturn %y")},
    {"tanh", G("(%x: f32[3, 17]) -> (f32[3, 17])", "%y = tanh (mul %x, 3.0)\nreturn %y")},
    {"sigmoid", G("(%x: f32[3, 17]) -> (f32[3, 17])", "%y = sigmoid (mul %x, 4.0)\nreturn %y")},
    {"silu_bf16", G("(%x: bf16[3, 17]) -> (bf16[3, 17])", "%y = silu %x\nreturn %y")},
    {"gelu_erf", G("(%x: f32[3, 17]) -> (f32[3, 17])", "%y = gelu (mul %x, 3.0)\nreturn %y")},
    {"gelu_tanh", G("(%x: f32[3, 17]) -> (f32[3, 17])",
                    "%y = gelu (mul %x, 3.0) {approximate = \"tanh\"}\nreturn %y")},
    {"relu", G("(%x: f32[1, 127]) -> (f32[1, 127])", "%y = relu %x\nreturn %y")},
    {"neg_i32", G("(%x: i32[17]) -> (i32[17])", "%y = neg %x\nreturn %y")},
    /* ---- casts */
    {"cast_bf16", G("(%x: f32[3, 17]) -> (bf16[3, 17])", "%y = cast %x {to = bf16}\nreturn %y")},
    {"cast_f16", G("(%x: f32[3, 17]) -> (f16[3, 17])", "%y = cast %x {to = f16}\nreturn %y")},
    {"cast_f8e4m3", G("(%x: f32[3, 17]) -> (f8e4m3[3, 17])",
                      "%y = cast (mul %x, 600.0) {to = f8e4m3}\nreturn %y")},
    {"cast_f8e5m2", G("(%x: f32[3, 17]) -> (f8e5m2[3, 17])", "%y = cast %x {to = f8e5m2}\nreturn %y")},
    {"cast_i32", G("(%x: f32[3, 17]) -> (i32[3, 17])", "%y = cast (mul %x, 100.0) {to = i32}\nreturn %y")},
    {"cast_from_i32", G("(%x: i32[3, 17]) -> (f32[3, 17])", "%y = cast %x {to = f32}\nreturn %y")},
    {"cast_bool", G("(%x: f32[17]) -> (bool[17])", "%y = cast (relu %x) {to = bool}\nreturn %y")},
    /* ---- matmul */
    {"matmul_small", G("(%a: f32[3, 17], %b: f32[17, 5]) -> (f32[3, 5])", "%y = matmul %a, %b\nreturn %y")},
    {"matmul_1x1", G("(%a: f32[1, 1], %b: f32[1, 1]) -> (f32[1, 1])", "%y = matmul %a, %b\nreturn %y")},
    {"matmul_tb", G("(%a: f32[17, 127], %b: f32[33, 127]) -> (f32[17, 33])",
                    "%y = matmul %a, %b {transpose_b = true}\nreturn %y")},
    {"matmul_ta", G("(%a: f32[19, 3], %b: f32[19, 18]) -> (f32[3, 18])",
                    "%y = matmul %a, %b {transpose_a = true}\nreturn %y")},
    {"matmul_batch_bcast", G("(%a: f32[2, 1, 3, 8], %b: f32[4, 8, 5]) -> (f32[2, 4, 3, 5])",
                             "%y = matmul %a, %b\nreturn %y")},
    {"matmul_gemv_bf16w", G("(%a: f32[1, 64], %w: bf16[48, 64]) -> (f32[1, 48])",
                            "%y = matmul %a, %w {transpose_b = true}\nreturn %y")},
    {"matmul_bf16", G("(%a: bf16[16, 64], %b: bf16[64, 40]) -> (bf16[16, 40])",
                      "%y = matmul %a, %b\nreturn %y")},
    {"matmul_f16", G("(%a: f16[7, 33], %b: f16[33, 9]) -> (f16[7, 9])", "%y = matmul %a, %b\nreturn %y")},
    {"matmul_f8e4m3", G("(%a: f8e4m3[5, 33], %b: f8e4m3[33, 17]) -> (f8e4m3[5, 17])",
                        "%y = matmul %a, %b\nreturn %y")},
    {"matmul_f8e5m2_tb", G("(%a: f32[3, 40], %b: f8e5m2[19, 40]) -> (f32[3, 19])",
                           "%y = matmul %a, %b {transpose_b = true}\nreturn %y")},
    {"matmul_i8", G("(%a: i8[4, 37], %b: i8[37, 9]) -> (i32[4, 9])", "%y = matmul %a, %b\nreturn %y")},
    {"matmul_cast_f8", G("(%a: f32[6, 32], %w: f32[32, 20]) -> (f8e4m3[6, 20])",
                         "%y = cast (matmul %a, %w) {to = f8e4m3}\nreturn %y")},
    {"matmul_cast_i32", G("(%a: f32[6, 32], %w: f32[32, 20]) -> (i32[6, 20])",
                          "%y = cast (mul (matmul %a, %w), 10.0) {to = i32}\nreturn %y")},
    {"matmul_gemv_cast_f16", G("(%a: f32[1, 64], %w: f32[24, 64]) -> (f16[1, 24])",
                               "%y = cast (matmul %a, %w {transpose_b = true}) {to = f16}\nreturn %y")},
    {"matmul_mid", G("(%a: f32[130, 70], %b: f32[70, 129]) -> (f32[130, 129])",
                     "%y = matmul %a, %b\nreturn %y")},
    /* ---- reductions, softmax, norms */
    {"reduce_sum", G("(%x: f32[3, 17]) -> (f32[3])", "%y = reduce_sum %x\nreturn %y")},
    {"reduce_max_keep", G("(%x: f32[3, 17]) -> (f32[1, 17])",
                          "%y = reduce_max %x {axes = [0], keepdims = true}\nreturn %y")},
    {"reduce_mean_02", G("(%x: f32[4, 3, 17]) -> (f32[3])", "%y = reduce_mean %x {axes = [0, 2]}\nreturn %y")},
    /* integer reductions are exact (i64 accumulation; stores saturate like the interpreter) */
    {"reduce_sum_i64_big", G("(%x: i64[17, 3]) -> (i64[3])",
                             "%y = reduce_sum (mul %x, 100000001) {axes = [0]}\nreturn %y")},
    {"reduce_sum_i64_row", G("(%x: i64[2, 17]) -> (i64[2])",
                             "%y = reduce_sum (mul %x, 300000000)\nreturn %y")},
    {"reduce_sum_i32_sat", G("(%x: i32[3, 17]) -> (i32[3])",
                             "%y = reduce_sum (add (mul %x, 300000000), 1)\nreturn %y")},
    {"reduce_sum_i32_col_sat", G("(%x: i32[17, 19]) -> (i32[19])",
                                 "%y = reduce_sum (mul %x, 200000000) {axes = [0]}\nreturn %y")},
    {"reduce_max_i32_big", G("(%x: i32[17, 3]) -> (i32[3])",
                             "%y = reduce_max (sub (mul %x, 300000000), 7) {axes = [0]}\nreturn %y")},
    {"reduce_max_i64_big", G("(%x: i64[3, 19]) -> (i64[3])",
                             "%y = reduce_max (add (mul %x, 100000000), %x)\nreturn %y")},
    {"reduce_mean_i32_keep", G("(%x: i32[3, 17]) -> (i32[3, 1])",
                               "%y = reduce_mean (sub (mul %x, 100000000), 350000001) {keepdims = true}\nreturn %y")},
    {"reduce_mean_i64_neg", G("(%x: i64[5, 7]) -> (i64[7])",
                              "%y = reduce_mean (sub %x, 4) {axes = [0]}\nreturn %y")},
    {"reduce_sum_i64_mid", G("(%x: i64[3, 17, 5]) -> (i64[3, 5])",
                             "%y = reduce_sum (mul %x, 100000001) {axes = [1]}\nreturn %y")},
    {"reduce_mean_i32_mid_keep", G("(%x: i32[4, 19, 3]) -> (i32[4, 1, 3])",
                                   "%y = reduce_mean (mul %x, 100000000) {axes = [1], keepdims = true}\nreturn %y")},
    {"reduce_max_i8", G("(%x: i8[3, 17]) -> (i8[3])", "%y = reduce_max (sub %x, 9)\nreturn %y")},
    {"reduce_sum_i8_sat", G("(%x: i8[3, 40]) -> (i8[3])", "%y = reduce_sum %x\nreturn %y")},
    {"reduce_sum_i64_epi", G("(%x: i64[3, 17]) -> (f32[3])",
                             "%y = cast (reduce_sum (mul %x, 3)) {to = f32}\nreturn %y")},
    {"softmax_last", G("(%x: f32[3, 127]) -> (f32[3, 127])", "%y = softmax %x\nreturn %y")},
    {"softmax_axis0", G("(%x: f32[17, 3]) -> (f32[17, 3])", "%y = softmax %x {axis = 0}\nreturn %y")},
    {"softmax_bf16", G("(%x: bf16[4, 33]) -> (bf16[4, 33])", "%y = softmax %x\nreturn %y")},
    {"rms_norm", G("(%x: f32[3, 17], %w: f32[17]) -> (f32[3, 17])", "%y = rms_norm %x, %w\nreturn %y")},
    {"layer_norm", G("(%x: f32[5, 33], %w: f32[33], %b: f32[33]) -> (f32[5, 33])",
                     "%y = layer_norm %x, %w, %b\nreturn %y")},
    /* ---- data movement */
    {"reshape_alias", G("(%x: f32[3, 16]) -> (f32[6, 8])", "%y = reshape (exp %x) {shape = [6, -1]}\nreturn %y")},
    {"transpose", G("(%x: f32[2, 3, 17]) -> (f32[3, 2, 17])", "%y = transpose %x {perm = [1, 0, 2]}\nreturn %y")},
    {"transpose_2d", G("(%x: f32[17, 33]) -> (f32[33, 17])", "%y = transpose %x {perm = [1, 0]}\nreturn %y")},
    {"slice_step", G("(%x: f32[4, 17]) -> (f32[4, 6])",
                     "%y = slice %x {axis = 1, start = 1, end = 17, step = 3}\nreturn %y")},
    {"slice_neg", G("(%x: f32[17, 3]) -> (f32[5, 3])",
                    "%y = slice %x {axis = 0, start = -6, end = -1}\nreturn %y")},
    {"concat3", G("(%a: f32[2, 3], %b: f32[2, 1], %c: f32[2, 5]) -> (f32[2, 9])",
                  "%y = concat %a, %b, %c {axis = 1}\nreturn %y")},
    {"gather", G("(%t: f32[10, 17], %i: i32[3, 2]) -> (f32[3, 2, 17])", "%y = gather %t, %i\nreturn %y")},
    {"gather_axis1", G("(%t: f32[4, 10], %i: i64[5]) -> (f32[4, 5])",
                       "%y = gather %t, %i {axis = 1}\nreturn %y")},
    {"rope_neox", G("(%x: f32[1, 2, 5, 16], %pos: i32[5]) -> (f32[1, 2, 5, 16])",
                    "%y = rope %x, %pos\nreturn %y")},
    {"rope_gptj", G("(%x: f32[2, 3, 4, 8], %pos: i64[2, 4]) -> (f32[2, 3, 4, 8])",
                    "%y = rope %x, %pos {theta = 500000.0, mode = \"gptj\"}\nreturn %y")},
    {"topk", G("(%x: f32[3, 17]) -> (f32[3, 4], i64[3, 4])", "%v, %i = topk %x {k = 4}\nreturn %v, %i")},
    {"topk_axis0", G("(%x: f32[17, 2]) -> (f32[1, 2], i64[1, 2])",
                     "%v, %i = topk %x {k = 1, axis = 0}\nreturn %v, %i")},
    /* ---- attention */
    {"attn_gqa_causal", G("(%q: f32[1, 4, 9, 16], %k: f32[1, 2, 9, 16], %v: f32[1, 2, 9, 16]) -> (f32[1, 4, 9, 16])",
                          "%o = attention %q, %k, %v {causal = true}\nreturn %o")},
    {"attn_mqa", G("(%q: f32[2, 3, 5, 8], %k: f32[2, 1, 7, 8], %v: f32[2, 1, 7, 8]) -> (f32[2, 3, 5, 8])",
                   "%o = attention %q, %k, %v {scale = 0.25}\nreturn %o")},
    {"attn_decode", G("(%q: f32[1, 4, 1, 32], %k: f32[1, 2, 37, 32], %v: f32[1, 2, 37, 32]) -> (f32[1, 4, 1, 32])",
                      "%o = attention %q, %k, %v {causal = true}\nreturn %o")},
    {"attn_window", G("(%q: f32[1, 2, 17, 8], %k: f32[1, 2, 17, 8], %v: f32[1, 2, 17, 8]) -> (f32[1, 2, 17, 8])",
                      "%o = attention %q, %k, %v {causal = true, window = 4}\nreturn %o")},
    {"attn_mask", G("(%q: f32[1, 2, 3, 8], %k: f32[1, 2, 6, 8], %v: f32[1, 2, 6, 8], %m: f32[3, 6]) -> (f32[1, 2, 3, 8])",
                    "%o = attention %q, %k, %v, %m\nreturn %o")},
    /* a fully masked row (every key -inf) gives zeros; a partly masked one ignores its -inf keys */
    {"attn_fully_masked_row",
     G("(%q: f32[1, 2, 3, 8], %k: f32[1, 2, 4, 8], %v: f32[1, 2, 4, 8]) -> (f32[1, 2, 3, 8])",
       "%m = const [0.0, 0.0, -inf, 0.0, -inf, -inf, -inf, -inf, 0.0, -inf, -inf, 0.5] : f32[3, 4]\n"
       "%o = attention %q, %k, %v, %m\nreturn %o")},
    /* ---- attention with kv_len (i32 [B]): keys >= kv_len[b] ignored, queries at
     * kv_len[b] - Sq + i; values outside [0, Skv] clamp; rows seeing no key give 0 */
    {"attn_kv_len_ragged_gqa",
     G("(%q: f32[3, 4, 2, 16], %k: f32[3, 2, 9, 16], %v: f32[3, 2, 9, 16]) -> (f32[3, 4, 2, 16])",
       "%n = const [5, 0, 9] : i32[3]\n%o = attention %q, %k, %v, %n\nreturn %o")},
    {"attn_kv_len_decode",
     G("(%q: f32[2, 8, 1, 32], %k: f32[2, 2, 37, 32], %v: f32[2, 2, 37, 32]) -> (f32[2, 8, 1, 32])",
       "%n = const [37, 13] : i32[2]\n%o = attention %q, %k, %v, %n {causal = true}\nreturn %o")},
    {"attn_kv_len_decode_empty",
     G("(%q: f32[2, 4, 1, 8], %k: f32[2, 1, 20, 8], %v: f32[2, 1, 20, 8]) -> (f32[2, 4, 1, 8])",
       "%n = const [0, 1] : i32[2]\n%o = attention %q, %k, %v, %n {causal = true}\nreturn %o")},
    {"attn_kv_len_chunk",
     G("(%q: f32[3, 4, 4, 8], %k: f32[3, 2, 16, 8], %v: f32[3, 2, 16, 8]) -> (f32[3, 4, 4, 8])",
       "%n = const [16, 7, 2] : i32[3]\n%o = attention %q, %k, %v, %n {causal = true}\nreturn %o")},
    {"attn_kv_len_window",
     G("(%q: f32[3, 2, 3, 8], %k: f32[3, 2, 17, 8], %v: f32[3, 2, 17, 8]) -> (f32[3, 2, 3, 8])",
       "%n = const [17, 5, 4] : i32[3]\n"
       "%o = attention %q, %k, %v, %n {causal = true, window = 4}\nreturn %o")},
    {"attn_kv_len_clamped",
     G("(%q: f32[2, 2, 3, 8], %k: f32[2, 1, 6, 8], %v: f32[2, 1, 6, 8]) -> (f32[2, 2, 3, 8])",
       "%n = const [-2, 100] : i32[2]\n%o = attention %q, %k, %v, %n {causal = true}\nreturn %o")},
    {"attn_kv_len_mask",
     G("(%q: f32[2, 2, 3, 8], %k: f32[2, 2, 6, 8], %v: f32[2, 2, 6, 8], %m: f32[3, 6]) -> (f32[2, 2, 3, 8])",
       "%n = const [4, 6] : i32[2]\n%o = attention %q, %k, %v, %m, %n\nreturn %o")},
    {"attn_kv_len_input",
     G("(%q: f32[4, 4, 2, 16], %k: f32[4, 2, 8, 16], %v: f32[4, 2, 8, 16], %n: i32[4]) -> (f32[4, 4, 2, 16])",
       "%o = attention %q, %k, %v, %n {causal = true}\nreturn %o")},
    /* decode with a GQA group whose first key block is fully masked: no row has seen a key
     * after it (the CPU's joint P·V takes its row-by-row path), then every row has */
    {"attn_decode_masked_block",
     G("(%q: f32[1, 4, 1, 16], %k: f32[1, 2, 80, 16], %v: f32[1, 2, 80, 16]) -> (f32[1, 4, 1, 16])",
       "%m = const [-inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, "
       "-inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, "
       "-inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, "
       "-inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, "
       "0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0] : f32[1, 80]\n"
       "%o = attention %q, %k, %v, %m\nreturn %o")},
    /* ---- moe */
    {"moe_softmax", G("(%x: f32[5, 16], %r: f32[16, 8], %g: f32[8, 16, 12], %u: f32[8, 16, 12], %d: f32[8, 12, 16]) -> (f32[5, 16])",
                      "%y = moe %x, %r, %g, %u, %d\nreturn %y")},
    {"moe_sigmoid_t1", G("(%x: f32[1, 16], %r: f32[16, 8], %g: f32[8, 16, 12], %u: f32[8, 16, 12], %d: f32[8, 12, 16]) -> (f32[1, 16])",
                         "%y = moe %x, %r, %g, %u, %d {top_k = 3, norm_topk = false, router_fn = \"sigmoid\"}\nreturn %y")},
    {"moe_t33", G("(%x: f32[33, 16], %r: f32[16, 8], %g: f32[8, 16, 12], %u: f32[8, 16, 12], %d: f32[8, 12, 16]) -> (f32[33, 16])",
                  "%y = moe %x, %r, %g, %u, %d\nreturn %y")},
    /* ---- the CUDA class's schedules at sizes that take several tiles: tensor-core
     * prefill (2 query tiles, 3 key tiles, causal tiles skipped), split-KV decode over
     * 7 splits + combine, odd head dim with mask and window, bf16 MoE */
    {"attn_tc_tiles_bf16", G("(%q: bf16[1, 4, 70, 64], %k: bf16[1, 2, 70, 64], %v: bf16[1, 2, 70, 64]) -> (bf16[1, 4, 70, 64])",
                             "%o = attention %q, %k, %v {causal = true}\nreturn %o")},
    {"attn_split_kv_f16", G("(%q: f16[2, 8, 2, 64], %k: f16[2, 2, 200, 64], %v: f16[2, 2, 200, 64]) -> (f16[2, 8, 2, 64])",
                            "%o = attention %q, %k, %v {causal = true}\nreturn %o")},
    {"attn_tc_mask_window_f16", G("(%q: f16[1, 2, 33, 40], %k: f16[1, 2, 50, 40], %v: f16[1, 2, 50, 40], %m: f16[33, 50]) -> (f16[1, 2, 33, 40])",
                                  "%o = attention %q, %k, %v, %m {window = 9}\nreturn %o")},
    {"moe_bf16_e8", G("(%x: bf16[40, 64], %r: bf16[64, 8], %g: bf16[8, 64, 48], %u: bf16[8, 64, 48], %d: bf16[8, 48, 64]) -> (bf16[40, 64])",
                      "%y = moe %x, %r, %g, %u, %d {top_k = 2}\nreturn %y")},
    /* ---- fused patterns */
    {"fuse_matmul_bias_silu", G("(%a: f32[17, 33], %w: f32[33, 20], %b: f32[20]) -> (f32[17, 20])",
                                "%y = silu (add (matmul %a, %w), %b)\nreturn %y")},
    {"fuse_norm_matmul", G("(%x: f32[3, 64], %g: f32[64], %w: f32[40, 64]) -> (f32[3, 40])",
                           "%h = rms_norm %x, %g\n%y = matmul %h, %w {transpose_b = true}\nreturn %y")},
    {"fuse_residual", G("(%a: f32[4, 32], %w: f32[32, 32], %r: f32[4, 32]) -> (f32[4, 32])",
                        "%y = add (matmul %a, %w), %r\nreturn %y")},
    {"fuse_chain", G("(%x: f32[3, 17], %b: f32[17]) -> (f32[3, 17])",
                     "%y = mul (sigmoid (add %x, %b)), (tanh %x)\nreturn %y")},
    {"fuse_softmax_scale", G("(%x: f32[4, 17]) -> (f32[4, 17])", "%y = mul (softmax %x), 2.0\nreturn %y")},
    {"const_splat", G("(%x: f32[4]) -> (f32[4])", "%c = const [1.0, 2.0, 3.0, 4.0] : f32[4]\n%y = mul %x, %c\nreturn %y")},
    {"param_matmul", G("(%x: f32[2, 8]) -> (f32[2, 6])",
                       "%w = param \"w\" : f32[8, 6]\n%y = matmul %x, %w\nreturn %y")},
    {"identity", G("(%x: f32[3, 5]) -> (f32[3, 5])", "return %x")},
    {"output_twice", G("(%x: f32[3, 5]) -> (f32[3, 5], f32[3, 5])", "%e = exp %x\nreturn %e, %e")},
    {"output_param", G("(%x: f32[2]) -> (f32[2], f32[2])", "%w = param \"w\" : f32[2]\n%y = add %x, %w\nreturn %w, %y")},
    {"output_const", G("(%x: f32[2]) -> (f32[2])", "%c = const [0.5, -2.0] : f32[2]\nreturn %c")},
    {"reshape_input_out", G("(%x: f32[3, 4]) -> (f32[12])", "%y = reshape %x {shape = [-1]}\nreturn %y")},
    {"dead_op", G("(%x: f32[4]) -> (f32[4])", "%d = exp %x\n%y = neg %x\nreturn %y")},
    {"int_chain", G("(%a: i32[17], %b: i32[17]) -> (i32[17])", "%y = max (sub %a, %b), (mul %a, 2)\nreturn %y")},
    {"multi_out", G("(%x: f32[3, 5]) -> (f32[3, 5], f32[3])",
                    "%e = exp %x\n%s = reduce_sum %e\nreturn %e, %s")},
    /* ---- results at the ends of exp's and sigmoid's range: held to the elementwise bound
     * at their own scale (subnormal results included, as the design promises) */
    {"exp_near_overflow", G("(%x: f32[3, 17]) -> (f32[3, 17])",
                            "%y = exp (add (mul %x, 0.5), 88.2)\nreturn %y")},
    {"exp_subnormal", G("(%x: f32[3, 17]) -> (f32[3, 17])",
                        "%y = exp (sub (mul %x, 2.0), 101.0)\nreturn %y")},
    {"exp_near_underflow", G("(%x: f32[3, 17]) -> (f32[3, 17])",
                             "%y = exp (sub (mul %x, 0.5), 87.0)\nreturn %y")},
    {"sigmoid_tail", G("(%x: f32[3, 17]) -> (f32[3, 17])",
                       "%y = sigmoid (sub (mul %x, 5.0), 95.0)\nreturn %y")},
    {"tanh_small", G("(%x: f32[3, 17]) -> (f32[3, 17])", "%y = tanh (mul %x, 0.001)\nreturn %y")},
    /* ---- empty tensors (a zero-size dim) */
    {"empty_add", G("(%a: f32[0, 17], %b: f32[17]) -> (f32[0, 17])", "%y = add %a, %b\nreturn %y")},
    {"empty_exp", G("(%x: f32[3, 0]) -> (f32[3, 0])", "%y = exp %x\nreturn %y")},
    {"empty_add_i32", G("(%a: i32[0], %b: i32[0]) -> (i32[0])", "%y = add %a, %b\nreturn %y")},
    {"empty_reduce_sum", G("(%x: f32[3, 0]) -> (f32[3])", "%y = reduce_sum %x\nreturn %y")},
    {"empty_reduce_max", G("(%x: f32[3, 0]) -> (f32[3])", "%y = reduce_max %x\nreturn %y")},
    {"empty_reduce_mean", G("(%x: f32[3, 0]) -> (f32[3])", "%y = reduce_mean %x\nreturn %y")},
    {"empty_reduce_sum_axis0", G("(%x: f32[0, 5]) -> (f32[5])",
                                 "%y = reduce_sum %x {axes = [0]}\nreturn %y")},
    {"empty_reduce_sum_i32", G("(%x: i32[4, 0]) -> (i32[4])", "%y = reduce_sum %x\nreturn %y")},
    {"empty_reduce_out", G("(%x: f32[0, 5]) -> (f32[0])", "%y = reduce_sum %x\nreturn %y")},
    {"empty_softmax", G("(%x: f32[0, 5]) -> (f32[0, 5])", "%y = softmax %x\nreturn %y")},
    {"empty_matmul_k0", G("(%a: f32[3, 0], %b: f32[0, 5]) -> (f32[3, 5])", "%y = matmul %a, %b\nreturn %y")},
    {"empty_matmul_m0", G("(%a: f32[0, 4], %b: f32[4, 5]) -> (f32[0, 5])", "%y = matmul %a, %b\nreturn %y")},
    {"empty_matmul_n0", G("(%a: f32[3, 4], %b: f32[4, 0]) -> (f32[3, 0])", "%y = matmul %a, %b\nreturn %y")},
    {"empty_matmul_k0_bias", G("(%a: f32[3, 0], %b: f32[0, 5], %c: f32[5]) -> (f32[3, 5])",
                               "%y = add (matmul %a, %b), %c\nreturn %y")},
};
#define N_CASES (sizeof(k_cases) / sizeof(k_cases[0]))

typedef struct param {
  int case_index;
} param_t;

ParameterizedTestParameters(conformance, op) {
  static param_t params[N_CASES];
  for (size_t i = 0; i < N_CASES; ++i) params[i].case_index = (int)i;
  return cr_make_param_array(param_t, params, N_CASES);
}

ParameterizedTest(param_t *p, conformance, op) {
  const conf_case_t *c = &k_cases[p->case_index];
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse(c->text, strlen(c->text), c->name, &g);
  cr_assert(st == NULL, "%s: %s", c->name, qiao_status_message(st));
  for (size_t d = 0; d < N_DEVICES; ++d) {
    for (uint64_t seed = 1; seed <= 2; ++seed) {
      oracle_result_t r;
      bool ok = oracle_run(g, k_devices[d], seed * 7919 + (uint64_t)p->case_index, &r);
      if (!ORACLE_DEVICE_OK(ok, r, c->name, k_devices[d])) break; /* the graph is still destroyed */
      ORACLE_EXPECT_OK(r, "%s on %s (seed %d)", c->name, k_devices[d], (int)seed);
    }
  }
  qiao_ir_graph_destroy(g);
}

/* ---- example graphs with their generated weights */

static void run_example(const char *name) {
  char path[1024], wpath[1024];
  snprintf(path, sizeof path, "%s/examples/%s.qir", QIAO_SOURCE_DIR, name);
  snprintf(wpath, sizeof wpath, "%s/examples/%s.safetensors", QIAO_SOURCE_DIR, name);
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse_file(path, &g);
  cr_assert(st == NULL, "%s", qiao_status_message(st));
  for (size_t d = 0; d < N_DEVICES; ++d) {
    oracle_result_t r;
    bool ok = oracle_run_weights(g, k_devices[d], wpath, 42, &r);
    if (!ORACLE_DEVICE_OK(ok, r, name, k_devices[d])) continue; /* the graph is still destroyed */
    ORACLE_EXPECT_OK(r, "%s on %s", name, k_devices[d]);
  }
  qiao_ir_graph_destroy(g);
}

Test(conformance, example_mlp) { run_example("mlp"); }
Test(conformance, example_llama_block) { run_example("llama_block"); }
Test(conformance, example_moe_block) { run_example("moe_block"); }

/* ---- every float dtype for the ops that take one: the same graph written
 * in f32, f16 and bf16 (shapes with 1, 3, 17 and non-multiples of the
 * vector width). */

typedef struct sweep_op {
  const char *name;
  const char *sig;  /* %s = dtype, repeated as needed (up to 4 times) */
  const char *body;
  int n_dt;         /* how many %s in sig */
} sweep_op_t;

static const sweep_op_t k_sweep[] = {
    {"add", "(%%a: %s[3, 17], %%b: %s[17]) -> (%s[3, 17])", "%y = add %a, %b\nreturn %y", 3},
    {"sub", "(%%a: %s[1, 17], %%b: %s[3, 1]) -> (%s[3, 17])", "%y = sub %a, %b\nreturn %y", 3},
    {"mul", "(%%a: %s[127], %%b: %s[127]) -> (%s[127])", "%y = mul %a, %b\nreturn %y", 3},
    {"div", "(%%a: %s[3, 17], %%b: %s[3, 17]) -> (%s[3, 17])", "%y = div %a, (add (exp %b), 1.0)\nreturn %y", 3},
    {"max", "(%%a: %s[3, 17], %%b: %s[17]) -> (%s[3, 17])", "%y = max %a, %b\nreturn %y", 3},
    {"min", "(%%a: %s[3, 17], %%b: %s[17]) -> (%s[3, 17])", "%y = min %a, %b\nreturn %y", 3},
    {"pow", "(%%a: %s[17], %%b: %s[17]) -> (%s[17])", "%y = pow (exp %a), %b\nreturn %y", 3},
    {"neg", "(%%x: %s[3, 17]) -> (%s[3, 17])", "%y = neg %x\nreturn %y", 2},
    {"exp", "(%%x: %s[3, 17]) -> (%s[3, 17])", "%y = exp %x\nreturn %y", 2},
    {"log", "(%%x: %s[3, 17]) -> (%s[3, 17])", "%y = log (exp %x)\nreturn %y", 2},
    {"sqrt", "(%%x: %s[3, 17]) -> (%s[3, 17])", "%y = sqrt (exp %x)\nreturn %y", 2},
    {"rsqrt", "(%%x: %s[3, 17]) -> (%s[3, 17])", "%y = rsqrt (exp %x)\nreturn %y", 2},
    {"tanh", "(%%x: %s[3, 17]) -> (%s[3, 17])", "%y = tanh %x\nreturn %y", 2},
    {"sigmoid", "(%%x: %s[3, 17]) -> (%s[3, 17])", "%y = sigmoid %x\nreturn %y", 2},
    {"silu", "(%%x: %s[3, 17]) -> (%s[3, 17])", "%y = silu %x\nreturn %y", 2},
    {"gelu", "(%%x: %s[3, 17]) -> (%s[3, 17])", "%y = gelu %x\nreturn %y", 2},
    {"relu", "(%%x: %s[3, 17]) -> (%s[3, 17])", "%y = relu %x\nreturn %y", 2},
    {"cast_f32", "(%%x: %s[3, 17]) -> (f32[3, 17])", "%y = cast %x {to = f32}\nreturn %y", 1},
    {"reduce_sum", "(%%x: %s[3, 17]) -> (%s[3])", "%y = reduce_sum %x\nreturn %y", 2},
    {"reduce_max", "(%%x: %s[3, 17]) -> (%s[17])", "%y = reduce_max %x {axes = [0]}\nreturn %y", 2},
    {"reduce_mean", "(%%x: %s[3, 17]) -> (%s[3, 1])", "%y = reduce_mean %x {keepdims = true}\nreturn %y", 2},
    {"softmax", "(%%x: %s[3, 17]) -> (%s[3, 17])", "%y = softmax %x\nreturn %y", 2},
    {"rms_norm", "(%%x: %s[3, 17], %%w: %s[17]) -> (%s[3, 17])", "%y = rms_norm %x, %w\nreturn %y", 3},
    {"layer_norm", "(%%x: %s[3, 17], %%w: %s[17], %%b: %s[17]) -> (%s[3, 17])",
     "%y = layer_norm %x, %w, %b\nreturn %y", 4},
    {"matmul", "(%%a: %s[3, 17], %%b: %s[17, 19]) -> (%s[3, 19])", "%y = matmul %a, %b\nreturn %y", 3},
    {"matmul_tb", "(%%a: %s[1, 33], %%b: %s[17, 33]) -> (%s[1, 17])",
     "%y = matmul %a, %b {transpose_b = true}\nreturn %y", 3},
    {"transpose", "(%%x: %s[3, 17]) -> (%s[17, 3])", "%y = transpose %x {perm = [1, 0]}\nreturn %y", 2},
    {"slice", "(%%x: %s[3, 17]) -> (%s[3, 5])", "%y = slice %x {axis = 1, start = 2, end = 17, step = 3}\nreturn %y", 2},
    {"concat", "(%%a: %s[3, 17], %%b: %s[1, 17]) -> (%s[4, 17])", "%y = concat %a, %b {axis = 0}\nreturn %y", 3},
    {"gather", "(%%t: %s[9, 17], %%i: i32[3]) -> (%s[3, 17])", "%y = gather %t, %i\nreturn %y", 2},
    {"rope", "(%%x: %s[1, 2, 3, 8], %%pos: i32[3]) -> (%s[1, 2, 3, 8])", "%y = rope %x, %pos\nreturn %y", 2},
    {"topk", "(%%x: %s[3, 17]) -> (%s[3, 2], i64[3, 2])", "%v, %i = topk %x {k = 2}\nreturn %v, %i", 2},
    {"attention", "(%%q: %s[1, 2, 3, 8], %%k: %s[1, 1, 5, 8], %%v: %s[1, 1, 5, 8]) -> (%s[1, 2, 3, 8])",
     "%o = attention %q, %k, %v {causal = true}\nreturn %o", 4},
    {"attention_kv_len", "(%%q: %s[2, 4, 3, 8], %%k: %s[2, 2, 9, 8], %%v: %s[2, 2, 9, 8], %%n: i32[2]) -> (%s[2, 4, 3, 8])",
     "%o = attention %q, %k, %v, %n {causal = true, window = 5}\nreturn %o", 4},
    {"moe", "(%%x: %s[3, 8], %%r: %s[8, 4], %%g: %s[4, 8, 6], %%u: %s[4, 8, 6], %%d: %s[4, 6, 8]) -> (%s[3, 8])",
     "%y = moe %x, %r, %g, %u, %d\nreturn %y", 6},
};
#define N_SWEEP (sizeof(k_sweep) / sizeof(k_sweep[0]))
static const char *const k_sweep_dtypes[] = {"f32", "f16", "bf16"};

ParameterizedTestParameters(conformance, dtype_sweep) {
  static param_t params[N_SWEEP * 3];
  for (size_t i = 0; i < N_SWEEP * 3; ++i) params[i].case_index = (int)i;
  return cr_make_param_array(param_t, params, N_SWEEP * 3);
}

ParameterizedTest(param_t *p, conformance, dtype_sweep) {
  const sweep_op_t *op = &k_sweep[p->case_index / 3];
  const char *dt = k_sweep_dtypes[p->case_index % 3];
  char sig[512], text[1024];
  const char *d[6] = {dt, dt, dt, dt, dt, dt};
  snprintf(sig, sizeof sig, op->sig, d[0], d[1], d[2], d[3], d[4], d[5]);
  snprintf(text, sizeof text, "graph @t%s {\n%s\n}\n", sig, op->body);
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse(text, strlen(text), op->name, &g);
  cr_assert(st == NULL, "%s/%s: %s", op->name, dt, qiao_status_message(st));
  for (size_t dev = 0; dev < N_DEVICES; ++dev) {
    oracle_result_t r;
    bool ok = oracle_run(g, k_devices[dev], 1000 + (uint64_t)p->case_index, &r);
    if (!ORACLE_DEVICE_OK(ok, r, op->name, k_devices[dev])) continue; /* graph still destroyed */
    ORACLE_EXPECT_OK(r, "%s/%s on %s", op->name, dt, k_devices[dev]);
  }
  qiao_ir_graph_destroy(g);
}

/* ---- edge values: NaN, +-inf, +-0, subnormals, huge magnitudes and the dtype's range
 * ends (oracle_opts_t.edge_values) through every elementwise op, reduction, softmax,
 * norm and attention, in every float dtype, on every device row. The interpreter's
 * semantics are the truth: NaN propagates (IEEE maximum/minimum), exp is right up to
 * its overflow threshold and down into subnormals. "@" in a body is the dtype. */

typedef struct edge_op {
  const char *name;
  const char *sig; /* %s = the dtype, n_dt times */
  const char *body;
  int n_dt;
} edge_op_t;

/* oracle_opts_t.finite_inputs: attention's v (input 2) gets finite edge rows only. */
static uint32_t edge_finite_inputs(const edge_op_t *op) {
  return strncmp(op->name, "attention", 9) == 0 ? 1u << 2 : 0;
}

#define BIN(op) {#op, "(%%a: %s[3, 17], %%b: %s[3, 17]) -> (%s[3, 17])", "%y = " #op " %a, %b\nreturn %y", 3}
#define UN(op) {#op, "(%%x: %s[3, 17]) -> (%s[3, 17])", "%y = " #op " %x\nreturn %y", 2}
static const edge_op_t k_edge[] = {
    BIN(add), BIN(sub), BIN(mul), BIN(div), BIN(max), BIN(min), BIN(pow),
    {"max_bcast", "(%%a: %s[3, 17], %%b: %s[17]) -> (%s[3, 17])", "%y = max %a, %b\nreturn %y", 3},
    {"min_bcast", "(%%a: %s[17], %%b: %s[3, 17]) -> (%s[3, 17])", "%y = min %a, %b\nreturn %y", 3},
    UN(neg), UN(exp), UN(log), UN(sqrt), UN(rsqrt), UN(tanh), UN(sigmoid), UN(silu), UN(gelu),
    UN(relu),
    {"gelu_tanh", "(%%x: %s[3, 17]) -> (%s[3, 17])",
     "%y = gelu %x {approximate = \"tanh\"}\nreturn %y", 2},
    {"cast_to_f32", "(%%x: %s[3, 17]) -> (f32[3, 17])", "%y = cast %x {to = f32}\nreturn %y", 1},
    {"cast_from_f32", "(%%x: f32[3, 17]) -> (%s[3, 17])", "%y = cast %x {to = @}\nreturn %y", 1},
    {"cast_to_i32", "(%%x: %s[3, 17]) -> (i32[3, 17])", "%y = cast %x {to = i32}\nreturn %y", 1},
    {"cast_to_bool", "(%%x: %s[3, 17]) -> (bool[3, 17])", "%y = cast %x {to = bool}\nreturn %y", 1},
    {"fused_chain", "(%%x: %s[3, 17], %%b: %s[17]) -> (%s[3, 17])",
     "%y = mul (sigmoid (add %x, %b)), (relu (max %x, %b))\nreturn %y", 3},
    {"reduce_sum", "(%%x: %s[5, 17]) -> (%s[5])", "%y = reduce_sum %x\nreturn %y", 2},
    {"reduce_sum_axis0", "(%%x: %s[5, 17]) -> (%s[17])", "%y = reduce_sum %x {axes = [0]}\nreturn %y", 2},
    {"reduce_max", "(%%x: %s[5, 17]) -> (%s[5])", "%y = reduce_max %x\nreturn %y", 2},
    {"reduce_max_axis0", "(%%x: %s[5, 17]) -> (%s[17])", "%y = reduce_max %x {axes = [0]}\nreturn %y", 2},
    {"reduce_mean", "(%%x: %s[5, 17]) -> (%s[5, 1])", "%y = reduce_mean %x {keepdims = true}\nreturn %y", 2},
    {"softmax", "(%%x: %s[5, 17]) -> (%s[5, 17])", "%y = softmax %x\nreturn %y", 2},
    {"softmax_axis0", "(%%x: %s[5, 17]) -> (%s[5, 17])", "%y = softmax %x {axis = 0}\nreturn %y", 2},
    {"rms_norm", "(%%x: %s[5, 17]) -> (%s[5, 17])",
     "%w = param \"w\" : @[17]\n%y = rms_norm %x, %w\nreturn %y", 2},
    {"layer_norm", "(%%x: %s[5, 17]) -> (%s[5, 17])",
     "%w = param \"w\" : @[17]\n%b = param \"b\" : @[17]\n%y = layer_norm %x, %w, %b\nreturn %y", 2},
    /* the norms fused into a matmul's A prologue (the CPU's policy) */
    {"rms_norm_matmul", "(%%x: %s[5, 17]) -> (%s[5, 6])",
     "%w = param \"w\" : @[17]\n%m = param \"m\" : @[17, 6]\n%y = matmul (rms_norm %x, %w), %m\nreturn %y", 2},
    {"layer_norm_matmul", "(%%x: %s[5, 17]) -> (%s[5, 6])",
     "%w = param \"w\" : @[17]\n%b = param \"b\" : @[17]\n%m = param \"m\" : @[17, 6]\n"
     "%y = matmul (layer_norm %x, %w, %b), %m\nreturn %y", 2},
    {"attention", "(%%q: %s[1, 2, 5, 8], %%k: %s[1, 1, 6, 8], %%v: %s[1, 1, 6, 8]) -> (%s[1, 2, 5, 8])",
     "%o = attention %q, %k, %v\nreturn %o", 4},
    {"attention_causal", "(%%q: %s[1, 2, 5, 8], %%k: %s[1, 2, 8, 8], %%v: %s[1, 2, 8, 8]) -> (%s[1, 2, 5, 8])",
     "%o = attention %q, %k, %v {causal = true}\nreturn %o", 4},
    /* mask (input 3) rows: 1 finite edge values, 3 all -inf (a fully masked row, where
     * q's row is ordinary), 5 large (+-1000: large logits), 7 NaN/inf */
    {"attention_mask", "(%%q: %s[1, 2, 8, 8], %%k: %s[1, 2, 6, 8], %%v: %s[1, 2, 6, 8], %%m: %s[8, 6]) -> (%s[1, 2, 8, 8])",
     "%o = attention %q, %k, %v, %m\nreturn %o", 5},
    {"attention_decode", "(%%q: %s[1, 2, 1, 8], %%k: %s[1, 2, 9, 8], %%v: %s[1, 2, 9, 8]) -> (%s[1, 2, 1, 8])",
     "%o = attention %q, %k, %v {causal = true}\nreturn %o", 4},
    /* a cache longer than one key block (64): full blocks take the CPU's dot-vector tree */
    {"attention_decode_long", "(%%q: %s[1, 4, 1, 16], %%k: %s[1, 2, 80, 16], %%v: %s[1, 2, 80, 16]) -> (%s[1, 4, 1, 16])",
     "%o = attention %q, %k, %v {causal = true}\nreturn %o", 4},
    /* kv_len (random in [0, 8)) over a cache of 9. Like v's finite rows above: where an
     * edge q row meets a large or edge k row, q·k overflows f32 but stays finite in the
     * interpreter's f64 (one key then takes all the weight there, NaN = inf - inf here) —
     * a limit of the oracle, so the shape keeps such rows apart. */
    {"attention_kv_len", "(%%q: %s[2, 2, 2, 8], %%k: %s[2, 2, 9, 8], %%v: %s[2, 2, 9, 8], %%n: i32[2]) -> (%s[2, 2, 2, 8])",
     "%o = attention %q, %k, %v, %n {causal = true}\nreturn %o", 4},
};
#undef BIN
#undef UN
#define N_EDGE (sizeof(k_edge) / sizeof(k_edge[0]))

ParameterizedTestParameters(conformance, edge_values) {
  static param_t params[N_EDGE * 3];
  for (size_t i = 0; i < N_EDGE * 3; ++i) params[i].case_index = (int)i;
  return cr_make_param_array(param_t, params, N_EDGE * 3);
}

ParameterizedTest(param_t *p, conformance, edge_values) {
  const edge_op_t *op = &k_edge[p->case_index / 3];
  const char *dt = k_sweep_dtypes[p->case_index % 3];
  char sig[512], body[512], text[1200];
  snprintf(sig, sizeof sig, op->sig, dt, dt, dt, dt, dt, dt);
  size_t n = 0;
  for (const char *c = op->body; *c && n + 8 < sizeof body; ++c) {
    if (*c == '@')
      n += (size_t)snprintf(body + n, sizeof body - n, "%s", dt);
    else
      body[n++] = *c;
  }
  body[n] = 0;
  snprintf(text, sizeof text, "graph @t%s {\n%s\n}\n", sig, body);
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse(text, strlen(text), op->name, &g);
  cr_assert(st == NULL, "%s/%s: %s", op->name, dt, qiao_status_message(st));
  for (size_t dev = 0; dev < N_DEVICES; ++dev) {
    for (uint64_t seed = 1; seed <= 2; ++seed) {
      oracle_opts_t o = {.seed = seed * 104729 + (uint64_t)p->case_index,
                         .edge_values = true,
                         .finite_inputs = edge_finite_inputs(op)};
      oracle_result_t r;
      bool ok = oracle_run_opts(g, k_devices[dev], &o, &r);
      if (!ORACLE_DEVICE_OK(ok, r, op->name, k_devices[dev])) break; /* graph still destroyed */
      ORACLE_EXPECT_OK(r, "edge values %s/%s on %s (seed %d)", op->name, dt, k_devices[dev], (int)seed);
    }
  }
  qiao_ir_graph_destroy(g);
}

/* ---- concat of more inputs than a kernel's operand budget: the partition
 * splits it into several COPY kernels writing slices of the one result. 40
 * inputs of [3, 5] along axis 0 and along the last axis, f32 and i32; a
 * second kernel reads the result and a value computed before it stays live. */

ParameterizedTestParameters(conformance, concat_many) {
  static param_t params[4];
  for (int i = 0; i < 4; ++i) params[i].case_index = i;
  return cr_make_param_array(param_t, params, 4);
}

ParameterizedTest(param_t *p, conformance, concat_many) {
  enum { N = 40 };
  int axis = p->case_index / 2 ? 1 : 0;
  const char *dt = p->case_index % 2 ? "i32" : "f32";
  size_t cap = 16 * 1024, len = 0;
  char *text = malloc(cap);
  cr_assert_not_null(text);
  len += (size_t)snprintf(text + len, cap - len, "graph @concat_many(");
  for (int i = 0; i < N; ++i)
    len += (size_t)snprintf(text + len, cap - len, "%s%%x%d: %s[3, 5]", i ? ", " : "", i, dt);
  len += (size_t)snprintf(text + len, cap - len, ") -> (%s[%d, %d], %s[%d, %d], %s[3, 5]) {\n", dt,
                          axis ? 3 : 3 * N, axis ? 5 * N : 5, dt, axis ? 3 : 3 * N,
                          axis ? 5 * N : 5, dt);
  len += (size_t)snprintf(text + len, cap - len, "  %%t = neg %%x0\n  %%y = concat ");
  for (int i = 0; i < N; ++i)
    len += (size_t)snprintf(text + len, cap - len, "%s%%x%d", i ? ", " : "", i);
  len += (size_t)snprintf(text + len, cap - len,
                          " {axis = %d}\n  %%w = add %%y, %%y\n  %%u = add %%t, %%x1\n"
                          "  return %%y, %%w, %%u\n}\n",
                          axis ? -1 : 0);
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse(text, len, "concat_many", &g);
  free(text);
  cr_assert(st == NULL, "%s", qiao_status_message(st));
  for (size_t dev = 0; dev < N_DEVICES; ++dev) {
    oracle_result_t r;
    bool ok = oracle_run(g, k_devices[dev], 2000 + (uint64_t)p->case_index, &r);
    if (!ORACLE_DEVICE_OK(ok, r, "concat_many", k_devices[dev])) continue;
    for (int32_t o = 0; o < r.n_outputs; ++o)
      cr_expect(r.err[o] <= r.tol[o], "concat_many/%s axis %d on %s: output %d error %.3g > %.3g",
                dt, axis, k_devices[dev], o, r.err[o], r.tol[o]);
  }
  qiao_ir_graph_destroy(g);
}
