/* qiao-bench simt-speed (tools/qiao-bench-simt.c): emulated thread-instructions per
 * second on simt-emu. */
#ifndef QIAO_TOOLS_BENCH_SIMT_H
#define QIAO_TOOLS_BENCH_SIMT_H

/* argv[0] is "simt-speed"; returns the exit code. */
int qiao_bench_simt_main(int argc, char **argv);

#endif /* QIAO_TOOLS_BENCH_SIMT_H */
