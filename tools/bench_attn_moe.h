/* qiao-bench's attention and MoE modes (tools/bench_attn_moe.c), reached from
 * tools/qiao-bench.c as `qiao-bench attention|moe ...`. */
#ifndef QIAO_TOOLS_BENCH_ATTN_MOE_H
#define QIAO_TOOLS_BENCH_ATTN_MOE_H

/* Runs the mode ("attention" or "moe"); argv[0] is the mode word. Returns the
 * process exit code. */
int qiao_bench_attn_moe_main(int argc, char **argv, const char *mode);

/* Read bandwidth (B/s) with `threads` threads, best of 7 (tools/qiao-bench.c). */
double measure_bandwidth(int threads);

#endif
