/* Qiao — the ascend-sim device's extension: the unit operations Ascend-class
 * kernels call, the core facts a backend tiles for, and the per-kernel report
 * of the cycle model.
 *
 * A kernel for ascend-sim is host code (an LLVM module JIT-compiled for this
 * process, or a C function in tests) loaded as a HOST_JIT executable on an
 * ascend-sim device. Its entry has the CPU dispatch signature
 * (QIAO_HAL_CPU_ENTRY_SIGNATURE):
 *
 *   void entry(void *const *bindings, const int64_t *constants,
 *              int64_t block, int64_t unused_y, int64_t unused_z, void *core);
 *
 * The device runs one call per block of the launch grid (block_dim =
 * grid[0]); `core` is the simulator's state of the AI core the block runs on
 * and the first argument of every unit operation below. Unit operations are
 * modelled on Ascend C's public API (DataCopy / DataCopyPad per MTE path,
 * vector ops over 256-byte repeats, SetFlag / WaitFlag / PipeBarrier,
 * GetBlockIdx / GetBlockNum). Each one is checked against the rules (buffer
 * capacity, 32-byte alignment, dtypes of the unit, reads of never-written
 * buffer bytes, waits on flags never set) and timed by the cycle model
 * (docs/ascend-model.md). The first violation stops the block's work (later
 * unit operations do nothing) and the dispatch fails with a message naming
 * kernel, core, operation and rule.
 *
 * On-chip buffers are addressed by byte offsets (int64) into the buffer;
 * GM is addressed by host pointers into the dispatch's bindings.
 */
#ifndef QIAO_HAL_ASCEND_H
#define QIAO_HAL_ASCEND_H

#include <stdint.h>

#include "qiao/hal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Pipes of an AI core (Ascend C's pipe_t). */
typedef enum qiao_ascend_pipe {
  QIAO_ASCEND_PIPE_S = 0, /* scalar: issues every instruction */
  QIAO_ASCEND_PIPE_V,     /* vector unit (AIV) */
  QIAO_ASCEND_PIPE_M,     /* cube (AIC) */
  QIAO_ASCEND_PIPE_MTE1,  /* L1 -> L0A/L0B */
  QIAO_ASCEND_PIPE_MTE2,  /* GM -> UB / L1 */
  QIAO_ASCEND_PIPE_MTE3,  /* UB -> GM */
  QIAO_ASCEND_PIPE_FIX,   /* FixPipe L0C -> GM */
  QIAO_ASCEND_PIPE_ALL,   /* PipeBarrier<PIPE_ALL> */
  QIAO_ASCEND_PIPE_COUNT = QIAO_ASCEND_PIPE_ALL
} qiao_ascend_pipe_t;

/* Element types of unit operations (not the IR's: the HAL knows no IR). */
typedef enum qiao_ascend_dtype {
  QIAO_ASCEND_F32 = 0,
  QIAO_ASCEND_F16,
  QIAO_ASCEND_BF16,
  QIAO_ASCEND_F8E4M3,
  QIAO_ASCEND_F8E5M2,
  QIAO_ASCEND_S8,  /* int8 (cube operand) */
  QIAO_ASCEND_U8,  /* uint8 (bool storage) */
  QIAO_ASCEND_S16, /* int16 */
  QIAO_ASCEND_S32, /* int32 (vector integer ops, the int8 cube's accumulator) */
  QIAO_ASCEND_S64, /* int64: data movement and Cast only (no 64-bit vector arithmetic) */
  QIAO_ASCEND_DTYPE_COUNT
} qiao_ascend_dtype_t;

/* "PIPE_V", "PIPE_MTE2", ...; "f32", "f16", ... */
const char *qiao_ascend_pipe_name(int64_t pipe);
const char *qiao_ascend_dtype_name(int64_t dt);

/* ------------------------------------------------------ unit operations */

/* GetBlockIdx() / GetBlockNum(). */
int64_t qiao_ascend_get_block_idx(void *core);
int64_t qiao_ascend_get_block_num(void *core);

/* MTE2 GM -> UB (DataCopy): `bytes` a multiple of 32, ub_off 32-byte aligned. */
void qiao_ascend_copy_gm_to_ub(void *core, int64_t ub_off, const void *gm, int64_t bytes);
/* MTE2 GM -> UB (DataCopyPad): any length; the UB side is padded with zeros
 * to a multiple of 32 bytes (the pad counts as written). */
void qiao_ascend_copy_gm_to_ub_pad(void *core, int64_t ub_off, const void *gm, int64_t bytes);
/* MTE3 UB -> GM (DataCopy: bytes a multiple of 32; DataCopyPad: any). */
void qiao_ascend_copy_ub_to_gm(void *core, void *gm, int64_t ub_off, int64_t bytes);
void qiao_ascend_copy_ub_to_gm_pad(void *core, void *gm, int64_t ub_off, int64_t bytes);

/* Vector unit, `n` elements of dtype `dt` at UB byte offsets (count mode: the
 * tail repeat is masked). Arithmetic runs on f32 (f16 accepted by the unit's
 * rules too); results are computed in f64 and rounded once to dt, with the
 * interpreter's NaN rules (docs/design.md, "NaN and edge values"). Integer
 * dt: s32/s16 Add, Sub, Mul, Max, Min, Muls(-1), Relu, Abs wrap (two's
 * complement); other integer widths and ops are a 'dtype' violation. */
void qiao_ascend_vadd(void *core, int64_t dt, int64_t dst, int64_t a, int64_t b, int64_t n);
void qiao_ascend_vsub(void *core, int64_t dt, int64_t dst, int64_t a, int64_t b, int64_t n);
void qiao_ascend_vmul(void *core, int64_t dt, int64_t dst, int64_t a, int64_t b, int64_t n);
void qiao_ascend_vdiv(void *core, int64_t dt, int64_t dst, int64_t a, int64_t b, int64_t n);
void qiao_ascend_vmax(void *core, int64_t dt, int64_t dst, int64_t a, int64_t b, int64_t n);
void qiao_ascend_vmin(void *core, int64_t dt, int64_t dst, int64_t a, int64_t b, int64_t n);
void qiao_ascend_vpow(void *core, int64_t dt, int64_t dst, int64_t a, int64_t b, int64_t n);
void qiao_ascend_vneg(void *core, int64_t dt, int64_t dst, int64_t src, int64_t n);
void qiao_ascend_vexp(void *core, int64_t dt, int64_t dst, int64_t src, int64_t n);
void qiao_ascend_vln(void *core, int64_t dt, int64_t dst, int64_t src, int64_t n);
void qiao_ascend_vsqrt(void *core, int64_t dt, int64_t dst, int64_t src, int64_t n);
void qiao_ascend_vrsqrt(void *core, int64_t dt, int64_t dst, int64_t src, int64_t n);
void qiao_ascend_vtanh(void *core, int64_t dt, int64_t dst, int64_t src, int64_t n);
void qiao_ascend_vsigmoid(void *core, int64_t dt, int64_t dst, int64_t src, int64_t n);
void qiao_ascend_vsilu(void *core, int64_t dt, int64_t dst, int64_t src, int64_t n);
void qiao_ascend_vgelu(void *core, int64_t dt, int64_t dst, int64_t src, int64_t n);
void qiao_ascend_vgelu_tanh(void *core, int64_t dt, int64_t dst, int64_t src, int64_t n);
void qiao_ascend_vrelu(void *core, int64_t dt, int64_t dst, int64_t src, int64_t n);
void qiao_ascend_vabs(void *core, int64_t dt, int64_t dst, int64_t src, int64_t n);
/* Sin / Cos (Ascend C's high-level APIs, composites). */
void qiao_ascend_vsin(void *core, int64_t dt, int64_t dst, int64_t src, int64_t n);
void qiao_ascend_vcos(void *core, int64_t dt, int64_t dst, int64_t src, int64_t n);
/* FusedMulAdd: dst = a * b + c, rounded once (float dt). */
void qiao_ascend_vfma(void *core, int64_t dt, int64_t dst, int64_t a, int64_t b, int64_t c,
                      int64_t n);
/* ArithProgression: dst[i] = first + i. */
void qiao_ascend_varange(void *core, int64_t dt, int64_t dst, double first, int64_t n);
/* Adds / Muls / Maxs / Mins: dst[i] = src[i] op s (s rounded to dt). */
void qiao_ascend_vadds(void *core, int64_t dt, int64_t dst, int64_t src, double s, int64_t n);
void qiao_ascend_vmuls(void *core, int64_t dt, int64_t dst, int64_t src, double s, int64_t n);
void qiao_ascend_vmaxs(void *core, int64_t dt, int64_t dst, int64_t src, double s, int64_t n);
void qiao_ascend_vmins(void *core, int64_t dt, int64_t dst, int64_t src, double s, int64_t n);
/* Duplicate: n copies of the scalar `value` (rounded to dt). */
void qiao_ascend_vdup(void *core, int64_t dt, int64_t dst, double value, int64_t n);
/* Broadcast of the element at src (dtype dt) to n elements at dst. */
void qiao_ascend_vbrcb(void *core, int64_t dt, int64_t dst, int64_t src, int64_t n);
/* ReduceMax / ReduceSum per row: `rows` rows of `cols` elements at src, one
 * result per row at dst (contiguous). Max is NaN-propagating from -inf (an
 * empty row gives -inf); sums accumulate in dt (f32: no wider accumulator,
 * as the unit has none) as the unit forms them: one partial sum per lane of
 * a 256-byte repeat, then the lanes added pairwise; 0 for an empty row. */
void qiao_ascend_vreduce_max(void *core, int64_t dt, int64_t dst, int64_t src, int64_t rows,
                             int64_t cols);
void qiao_ascend_vreduce_sum(void *core, int64_t dt, int64_t dst, int64_t src, int64_t rows,
                             int64_t cols);
/* The f32 row sums of a compensated composite (as Ascend C's high-level
 * APIs build ops from several instructions): per lane of a 256-byte repeat
 * a TwoSum (Add, Sub x3, Add) keeps the rounding error of every add in a
 * second f32 accumulator, the lanes are combined pairwise the same way, and
 * the result is hi + lo rounded once. Cancellations of huge terms keep the
 * small ones (as a wider accumulator would). dt: f32. */
void qiao_ascend_vreduce_sum_comp(void *core, int64_t dt, int64_t dst, int64_t src, int64_t rows,
                                  int64_t cols);
/* BroadcastTo: elements [start, start + n) of a row-major view of `rank`
 * dims (dims[]) whose element at coordinates c is src[Σ c[d] * strides[d]]
 * (0 where broadcast), written contiguously at dst; the source is a
 * resident UB tensor of src_elems elements of dtype dt. */
void qiao_ascend_vbroadcast(void *core, int64_t dt, int64_t dst, int64_t src, int64_t src_elems,
                            int64_t start, int64_t n, int64_t rank, const int64_t *dims,
                            const int64_t *strides);
/* Gather (srcBaseAddr + offsets): elements [start, start + n) of the index
 * view (rank dims[], element strides[], may be negative) of the resident UB
 * tensor at src (src_elems elements of dt), element (c) at src[base + Σ c[d]
 * * strides[d]], written contiguously at dst. Stands for the offset
 * computation (ArithProgression, Muls, Adds into a uint32 offset tensor) and
 * Gather: transposes, strided slices and row transposes in the UB. */
void qiao_ascend_vgather(void *core, int64_t dt, int64_t dst, int64_t src, int64_t src_elems,
                         int64_t base, int64_t start, int64_t n, int64_t rank, const int64_t *dims,
                         const int64_t *strides);
/* LocalTensor::GetValue: element i (dtype dt) of the UB at ub_off read by the
 * scalar unit (after a WaitFlag<MTE2_S> for data copied in), as an int64. */
int64_t qiao_ascend_get_value(void *core, int64_t dt, int64_t ub_off, int64_t i);
/* LocalTensor::SetValue: the scalar unit writes element i (v rounded to dt). */
void qiao_ascend_set_value(void *core, int64_t dt, int64_t ub_off, int64_t i, double v);
/* Cast: n elements of src_dt at src to dst_dt at dst (round to nearest even;
 * the same dtype is a copy). */
void qiao_ascend_vcast(void *core, int64_t dst_dt, int64_t dst, int64_t src_dt, int64_t src,
                       int64_t n);

/* Compare(NE, 0) + Select: 1 where the src_dt element at src is nonzero (NaN
 * included), else 0, as dst_dt at dst (a cast to bool). */
void qiao_ascend_vnez(void *core, int64_t dst_dt, int64_t dst, int64_t src_dt, int64_t src,
                      int64_t n);

/* TopK (Ascend C's high-level API: sorts and merges on the vector unit): per
 * row of `cols` dt elements at src, the k largest (NaN above every number,
 * ties by the lower index) copied bit-exactly to dst_val (rows x k) and
 * their column indices as s32 to dst_idx (rows x k). */
void qiao_ascend_vtopk(void *core, int64_t dt, int64_t dst_val, int64_t dst_idx, int64_t src,
                       int64_t rows, int64_t cols, int64_t k);

/* ------------------------------------------------ cube unit (AIC)
 * L1, L0A, L0B, L0C are addressed by byte offsets like the UB. Matrices on
 * chip are in the NZ fractal layout: fractals of 16 rows x c0 columns, c0 =
 * 32 bytes of the dtype (16 for f16/bf16, 8 for f32, 32 for s8: 512 B per
 * fractal; the f32/s32 L0C: 16 x 16, 1 KiB), fractal (i, j) of an R x C
 * matrix (R a multiple of 16, C of c0) at fractal index j * (R / 16) + i,
 * row-major inside. Cube dtypes: f16, bf16, f32 (16 x 8 x 16 steps), s8
 * (16 x 32 x 16 steps, s32 accumulation). */

/* MTE2 GM -> L1 (DataCopy with ND2NZ): the rows x cols ND matrix at gm (row
 * stride ld elements) into L1 as an NZ matrix of ceil16(rows) x
 * ceil_c0(cols), zero-padded. */
void qiao_ascend_copy_gm_to_l1_nd2nz(void *core, int64_t l1_off, const void *gm, int64_t dt,
                                     int64_t rows, int64_t cols, int64_t ld);
/* The same into a dst_rows x dst_cols NZ matrix (multiples of 16 and c0, at
 * least rows x cols), zero-padded; transpose != 0 reads the source
 * transposed: element (r, c) at gm[c * ld + r] (a transposed operand, which
 * the hardware turns in its MTE path: ND2NZ plus LoadData's transpose). */
void qiao_ascend_copy_gm_to_l1_nd2nz_ex(void *core, int64_t l1_off, const void *gm, int64_t dt,
                                        int64_t rows, int64_t cols, int64_t ld, int64_t dst_rows,
                                        int64_t dst_cols, int64_t transpose);
/* MTE1 L1 -> L0A / L0B (LoadData): `fractals` whole fractals (512 B each)
 * copied in order. Offsets 512-byte aligned. */
void qiao_ascend_load_l1_to_l0a(void *core, int64_t l0a_off, int64_t l1_off, int64_t dt,
                                int64_t fractals);
void qiao_ascend_load_l1_to_l0b(void *core, int64_t l0b_off, int64_t l1_off, int64_t dt,
                                int64_t fractals);
/* Cube (Mmad): C[m x n] (+)= A[m x k] * B[k x n], A NZ in L0A, B NZ in L0B
 * (k x ceil_c0(n)), C NZ in L0C (f32; s32 for s8); m, n multiples of 16, k
 * of c0 (the fractal shape); init != 0 overwrites C, else accumulates. */
void qiao_ascend_mmad(void *core, int64_t l0c_off, int64_t l0a_off, int64_t l0b_off, int64_t dt,
                      int64_t m, int64_t k, int64_t n, int64_t init);
/* FixPipe L0C -> GM: the valid_m x valid_n corner of the NZ m x n matrix at
 * l0c_off, converted to dst_dt (f32 to f32, f16, bf16, round to nearest
 * even; s32 stays s32), written ND at gm with row stride ld elements. */
void qiao_ascend_fixpipe_l0c_to_gm(void *core, void *gm, int64_t dst_dt, int64_t l0c_off, int64_t m,
                                   int64_t n, int64_t valid_m, int64_t valid_n, int64_t ld);

/* SetFlag<src_dst>(id) / WaitFlag<src_dst>(id): the dst pipe waits until the
 * src pipe's work issued before the SetFlag is done. A WaitFlag with no
 * pending SetFlag is a deadlock (reported, never a hang). id in 0..7. */
void qiao_ascend_set_flag(void *core, int64_t src_pipe, int64_t dst_pipe, int64_t id);
void qiao_ascend_wait_flag(void *core, int64_t src_pipe, int64_t dst_pipe, int64_t id);
/* PipeBarrier<pipe>: later work on `pipe` starts after its earlier work is
 * done; PIPE_ALL: every pipe. */
void qiao_ascend_pipe_barrier(void *core, int64_t pipe);

/* The unit operations by name, for a JIT's symbol map (qiao_cg_jit_create):
 * a static table of n entries. */
typedef struct qiao_ascend_symbol {
  const char *name;
  const void *addr;
  int32_t pipe;         /* qiao_ascend_pipe_t the operation runs on */
  const char *ascend_c; /* the Ascend C call it models ("DataCopy", "Exp", ...) */
} qiao_ascend_symbol_t;
int32_t qiao_ascend_symbols(const qiao_ascend_symbol_t **out_table);

/* ------------------------------------------------------- device facts */

typedef struct qiao_hal_ascend_info {
  int32_t aic, aiv; /* AI cores (cube) and vector cores the device runs */
  int64_t ub_bytes; /* per AIV */
  int64_t l1_bytes, l0a_bytes, l0b_bytes, l0c_bytes; /* per AIC */
  double clock_hz;                                   /* the model's core clock */
  const char *profile;                               /* "ascend-910b" */
} qiao_hal_ascend_info_t;

/* The facts of an ascend-sim device; QIAO_INVALID_ARGUMENT for other devices. */
qiao_status_t qiao_hal_ascend_info(qiao_hal_device_t *d, qiao_hal_ascend_info_t *out);
/* The facts of a profile by name ("910b") as a default-option device would
 * have them (backends compiling without a device). */
qiao_status_t qiao_hal_ascend_info_for_profile(const char *profile, qiao_hal_ascend_info_t *out);

/* --------------------------------------------------- per-kernel report */

enum {
  QIAO_ASCEND_PATH_GM_UB = 0,
  QIAO_ASCEND_PATH_UB_GM,
  QIAO_ASCEND_PATH_GM_L1,
  QIAO_ASCEND_PATH_L1_L0A,
  QIAO_ASCEND_PATH_L1_L0B,
  QIAO_ASCEND_PATH_L0C_GM,
  QIAO_ASCEND_PATH_COUNT
};

typedef struct qiao_hal_ascend_report {
  char kernel[64];
  char profile[32];
  int64_t blocks;
  double cycles;                            /* simulated, launch overhead included */
  double ns;                                /* simulated */
  char bound[16];                           /* "PIPE_MTE2", "HBM", "launch", ... */
  double pipe_busy[QIAO_ASCEND_PIPE_COUNT]; /* cycles, summed over cores */
  double cube_util, vector_util;            /* busy / (time x cores of that kind) */
  double bytes[QIAO_ASCEND_PATH_COUNT];
  double hbm_bytes_per_s; /* GM traffic / simulated time */
  int64_t unit_ops;
} qiao_hal_ascend_report_t;

/* The report of the device's last successful dispatch. */
qiao_status_t qiao_hal_ascend_last_report(qiao_hal_device_t *d, qiao_hal_ascend_report_t *out);
/* One paragraph: "kernel k0 on ascend-sim (simulated, model of ascend-910b): ...". */
void qiao_hal_ascend_report_format(const qiao_hal_ascend_report_t *r, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* QIAO_HAL_ASCEND_H */
