/* Qiao HAL — ascend-sim private: the state of one simulated AI core, the
 * cycle model's parameters (docs/ascend-model.md gives each one's source). */
#ifndef QIAO_HAL_ASCEND_INTERNAL_H
#define QIAO_HAL_ASCEND_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "qiao/hal_ascend.h"

enum { ASIM_FLAG_IDS = 8, ASIM_FLAG_DEPTH = 8, ASIM_MAX_GM = 64 };

/* The model of one profile: every figure in docs/ascend-model.md. */
typedef struct asim_model {
  const char *profile; /* "ascend-910b" */
  double clock_hz;     /* ini cube_freq */
  int32_t aic, aiv;    /* ini cube_core_cnt / vector_core_cnt */
  int64_t ub_bytes, l1_bytes, l0a_bytes, l0b_bytes, l0c_bytes;
  double hbm_bytes_per_s;      /* profile memory bandwidth (whole device) */
  double gm_read_bpc;          /* MTE2 GM -> core, bytes per cycle per core (ini "ddr") */
  double l2_read_bpc;          /* MTE2 reads that hit the L2 (ini "l2 read") */
  int64_t l2_bytes;            /* shared L2 (ini l2_size) */
  double gm_write_bpc;         /* MTE3 UB -> GM (ini "UB -> DDR") */
  double mte2_latency;         /* cycles from issue to data in UB [estimate] */
  double mte3_latency;         /* [estimate] */
  double issue_cycles;         /* scalar cycles to issue one unit op [estimate] */
  double vec_startup;          /* vector op pipeline fill [estimate] */
  double vec_bytes_per_repeat; /* 256 B (GetVRegSize) */
  /* cycles per 256-byte repeat [estimate]: simple ops (Add, Mul, Max, Cast,
   * Duplicate, ...), the unit's single transcendental/divide instructions
   * (Exp, Ln, Sqrt, Rsqrt, Div), and the composite ops Ascend C builds from
   * several instructions (Tanh, Sigmoid, Silu, Gelu, Power) */
  double vec_cpr_simple, vec_cpr_special, vec_cpr_composite;
  double flag_latency;                            /* SetFlag -> WaitFlag release [estimate] */
  double l1_l0a_bpc, l1_l0b_bpc;                  /* MTE1 rates (ini) */
  double fix_bpc;                                 /* FixPipe L0C -> GM [estimate] */
  double mte1_latency, cube_latency, fix_latency; /* [estimate] */
  double cube_startup;                            /* cycles per Mmad issue [estimate] */
  double launch_ns;                               /* kernel launch overhead [estimate] */
  bool fp8;                                       /* the units take f8 (no on A2/A3) */
} asim_model_t;

/* A GM range a dispatch may touch (its bindings). */
typedef struct asim_range {
  uintptr_t lo, hi;
} asim_range_t;

typedef struct asim_core {
  /* who */
  const char *uri, *kernel;
  int64_t block, block_num;
  int kind; /* 0 not yet known, 1 AIV, 2 AIC */
  const asim_model_t *m;
  /* buffers */
  uint8_t *ub, *ub_w;       /* data and written marks (one byte per byte) */
  uint8_t *cb[4], *cb_w[4]; /* L1, L0A, L0B, L0C and their marks */
  bool cube_used;           /* marks to clear at the next reset */
  const asim_range_t *gm;
  int32_t n_gm;
  /* the L2 model: per binding one byte per 512-byte line read before in this
   * dispatch (by any block), and the bytes held (up to l2_bytes) */
  uint8_t **l2_lines;
  int64_t *l2_held;
  double hbm_read; /* GM bytes read that missed the L2 */
  /* flags: pending SetFlag times per (src, dst, id) */
  int32_t flag_n[QIAO_ASCEND_PIPE_COUNT][QIAO_ASCEND_PIPE_COUNT][ASIM_FLAG_IDS];
  double flag_t[QIAO_ASCEND_PIPE_COUNT][QIAO_ASCEND_PIPE_COUNT][ASIM_FLAG_IDS][ASIM_FLAG_DEPTH];
  /* timeline (cycles from the block's start) */
  double s;                            /* scalar issue time */
  double free[QIAO_ASCEND_PIPE_COUNT]; /* when the pipe can start its next op */
  double done[QIAO_ASCEND_PIPE_COUNT]; /* when its last op's results are visible */
  double busy[QIAO_ASCEND_PIPE_COUNT];
  double bytes[QIAO_ASCEND_PATH_COUNT];
  int64_t ops;
  /* the first violation */
  bool failed;
  char err[640];
} asim_core_t;

/* Resets c for a new block (buffers unwritten, timeline at 0). */
void asim_core_reset(asim_core_t *c, int64_t block);
/* The end of the block's work: every pipe's last completion. */
double asim_core_end(const asim_core_t *c);

/* The model of a shipped profile ("ascend-910b", "ascend-910c"); NULL when unknown. */
const asim_model_t *asim_model_for(const char *profile_name);

#endif /* QIAO_HAL_ASCEND_INTERNAL_H */
