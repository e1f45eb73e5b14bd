/* qiao-run on a foreign PTX file (tools/qiao-run-ptx.c).
 *
 *   qiao-run K.ptx --kernel NAME --grid X[,Y,Z] --block X[,Y,Z] [--shared BYTES]
 *            --arg SPEC... [--out I=FILE.npy]... [--print] [--seed N] [--device simt-emu:P]
 *
 * qiao-run's main hands its whole argument list here when the first file
 * argument ends in ".ptx" (qiao_run_ptx_wanted). */
#ifndef QIAO_TOOLS_RUN_PTX_H
#define QIAO_TOOLS_RUN_PTX_H

#include <stdbool.h>

/* Whether argv names a .ptx file as its first file argument (the first
 * argument that is neither an option nor an option's value). */
bool qiao_run_ptx_wanted(int argc, char **argv);

/* Runs the foreign-kernel command line; returns the exit code (0 ok, 1 a user
 * error: arguments, files, kernel parameters; 2 the launch failed). Prints
 * results on stdout and one error line on stderr. */
int qiao_run_ptx_main(int argc, char **argv);

/* The usage text of the .ptx form (qiao-run --help prints it too). */
extern const char qiao_run_ptx_usage[];

#endif /* QIAO_TOOLS_RUN_PTX_H */
