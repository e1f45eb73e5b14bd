/* Qiao HAL — simt-emu private: the pre-decoded program and the interpreter.
 *
 * A PTX module (ir/ptx) is decoded once into a program: every function's
 * instructions in one dense array (a global pc), operands resolved (registers
 * by index, symbols to addresses in their state space, immediates to the bits
 * of the instruction's type, labels to pcs). The interpreter (simt_exec.c)
 * runs a CTA at a time per worker; simt_device.c is the HAL device.
 */
#ifndef QIAO_HAL_SIMT_INTERNAL_H
#define QIAO_HAL_SIMT_INTERNAL_H

#include <stdint.h>

#include "qiao/hal_simt.h"
#include "qiao/ptx.h"
#include "qiao/status.h"

/* Generic-address windows (above the 47-bit host user space). */
#define SIMT_WIN_SHARED 0x1000000000000000ull
#define SIMT_WIN_LOCAL 0x2000000000000000ull
#define SIMT_WIN_CONST 0x3000000000000000ull
#define SIMT_WIN_PARAM 0x4000000000000000ull
#define SIMT_WIN_MASK 0xf000000000000000ull

#define SIMT_MAX_DEPTH 16

/* Resolved state spaces of a memory access. */
enum {
  SP_GENERIC = 0,
  SP_GLOBAL,
  SP_SHARED,
  SP_LOCAL,
  SP_KPARAM, /* the kernel's parameters (one buffer per launch) */
  SP_FPARAM, /* a .func frame's parameters / call arguments (per thread) */
  SP_CONST,
};

enum { K_NONE = 0, K_REG, K_IMM, K_SREG, K_ADDR, K_VEC, K_SINK, K_FUNC, K_LIST };

typedef struct sop {
  uint8_t k;     /* K_* */
  uint8_t neg;   /* !%p */
  uint8_t space; /* K_ADDR: SP_* of a symbol base (0: the instruction's) */
  uint8_t comp;  /* K_SREG component (0..3 = x y z w) */
  uint16_t sreg;
  uint16_t n;   /* K_VEC / K_LIST element count */
  int32_t r;    /* register; K_ADDR base register (-1: none); K_VEC/K_LIST: first in prog->vops;
                   K_FUNC: func */
  int32_t size; /* K_LIST elements: byte size of the param symbol */
  uint64_t v;   /* immediate bits; K_ADDR resolved offset / address */
} sop_t;

/* Specialized hot instructions (no modifiers beyond the listed ones). */
enum {
  FAST_NONE = 0,
  FAST_MOV,
  FAST_ADD32,
  FAST_SUB32,
  FAST_MUL32,
  FAST_MAD32,
  FAST_AND32,
  FAST_OR32,
  FAST_XOR32,
  FAST_SHL32,
  FAST_SHRU32,
  FAST_SHRS32,
  FAST_ADD64,
  FAST_SUB64,
  FAST_SHL64,
  FAST_AND64,
  FAST_MULWIDE_S32,
  FAST_MULWIDE_U32,
  FAST_FADD,
  FAST_FSUB,
  FAST_FMUL,
  FAST_FFMA,
  FAST_SETP_S32,
  FAST_SETP_U32,
  FAST_SETP_F32,
  FAST_CVT_U64_U32,
  FAST_CVT_S64_S32,
  FAST_CVTA_GLOBAL,
};

/* Statistic classes. */
enum {
  C_ARITH = 0,
  C_CONTROL,
  C_MEM_GLOBAL,
  C_MEM_SHARED,
  C_MEM_LOCAL,
  C_MEM_PARAM,
  C_MEM_CONST,
  C_MEM_GENERIC,
  C_TENSOR,
  C_WARP,
  C_BARRIER,
  C_ATOMIC,
  C_ASYNC,
  C_COUNT
};

/* Work classes (the performance model's inputs, qiao/cuda_model.h): FLOPs per
 * pipe and global-memory bytes, `work` per executing thread. */
enum {
  W_NONE = 0,
  W_FLOP_SIMT,
  W_FLOP_TF32,
  W_FLOP_F16,
  W_FLOP_BF16,
  W_FLOP_F8,
  W_FLOP_I8,
  W_GLOBAL_BYTES,
  W_COUNT
};

typedef struct sinst {
  uint16_t op;       /* qiao_ptx_opcode_t */
  uint8_t t, t2, t3; /* types[0], types[1], types[2] (NONE when absent) */
  uint8_t ntypes_c;  /* mma: the C type (types[3]) */
  uint8_t space;     /* SP_* of the instruction */
  uint8_t rnd, cmp, opmod, part, vec, num, cls, nops;
  uint8_t is_target; /* a branch target: the group re-forms here */
  uint8_t guard_neg;
  uint8_t sub; /* opcode-specific (wmma matrix 'a'/'b'/'c'/'d', prmt mode, bar kind) */
  uint8_t layout0, layout1;
  uint8_t fast; /* FAST_*: a specialized lane loop (0: the general path) */
  uint16_t shape_m, shape_n, shape_k;
  uint8_t wcls;  /* W_*: what the instruction's work counts as */
  uint16_t work; /* FLOPs or global bytes per executing thread */
  uint32_t flags;
  int32_t guard;
  uint32_t target; /* bra: pc; call: index in prog->calls */
  int32_t func;    /* the function holding it */
  int32_t line;
  const char *name;            /* opcode as written ("cp.async") */
  const qiao_ptx_instr_t *src; /* the decoded PTX instruction (NULL: implicit exit) */
  const char *loc_path;        /* the CUDA source of the last .loc (NULL: none) */
  uint32_t loc_line;
  const char *unsupported; /* non-NULL: why it cannot run (reported when executed) */
  sop_t o[6];
} sinst_t;

typedef struct scall {
  int32_t callee;
  uint32_t nargs, nrets;
  uint32_t *arg_src, *arg_dst, *arg_size; /* caller FPARAM offsets → callee FPARAM offsets */
  uint32_t *ret_src, *ret_dst, *ret_size; /* callee → caller */
} scall_t;

typedef struct sfunc {
  const qiao_ptx_func_t *f;
  uint32_t start, end; /* pcs [start, end) (end: the implicit exit/ret) */
  uint32_t nregs;
  uint32_t kparam_size; /* entries: the bytes of the parameter buffer */
  uint32_t *kparam_off; /* entries: each param's offset */
  uint32_t *kparam_size_each;
  uint32_t *fparam_off; /* .func: each param's FPARAM offset */
  uint32_t *fret_off;
} sfunc_t;

typedef struct simt_program {
  const qiao_ptx_module_t *m; /* owned */
  uint32_t ncode;
  sinst_t *code;
  sop_t *vops;
  uint32_t nvops;
  sfunc_t *funcs;
  uint32_t nfuncs;
  scall_t *calls;
  uint32_t ncalls;
  uint32_t max_regs;
  uint32_t shared_static;    /* bytes of every .shared variable */
  uint32_t dyn_shared_align; /* where `extern .shared x[]` starts: align_up(shared_static, this) */
  uint32_t local_size;       /* per thread */
  uint32_t fparam_size;      /* per thread per frame */
  uint8_t *global_seg;       /* module .global variables (host memory) */
  uint64_t global_size;
  uint8_t *const_seg; /* .const variables: const-space offsets */
  uint64_t const_size;
} simt_program_t;

/* Decodes a parsed module (taking ownership of it, also on failure). */
qiao_status_t simt_program_create(qiao_ptx_module_t *m, simt_program_t **out);
void simt_program_destroy(simt_program_t *p);

/* A live memory range (a buffer of the device, a module's globals). */
typedef struct simt_range {
  uint64_t base, end;
} simt_range_t;

/* One launch. */
typedef struct simt_launch {
  const simt_program_t *prog;
  int32_t func;
  const char *kernel;
  int64_t grid[3];
  int32_t block[3];
  uint64_t dyn_shared;
  const uint8_t *params;      /* kparam_size bytes */
  const simt_range_t *ranges; /* sorted by base */
  int32_t nranges;
  uint64_t max_instructions;
  int32_t nsm;
} simt_launch_t;

/* Runs the launch on `pool` (NULL: the calling thread). */
struct qiao_hal_thread_pool;
qiao_status_t simt_launch_run(const simt_launch_t *L, struct qiao_hal_thread_pool *pool,
                              qiao_hal_simt_stats_t *out_stats);

#endif /* QIAO_HAL_SIMT_INTERNAL_H */
