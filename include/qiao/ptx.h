/* Qiao — PTX reader (ir/ptx): PTX text (ISA 7.0–9.0) into an in-memory module.
 *
 * Built for an emulator (interpreter or PTX→LLVM translator) and a port-check
 * tool: the module is plain, read-only data. Each function holds a flat array of
 * decoded instructions (index = pc), registers numbered densely per function,
 * labels resolved to instruction indices, symbols resolved to variable/function
 * indices. Every string is interned in the module (compare names by pointer within
 * one module). Everything lives in the module's arena: one destroy frees it all.
 *
 * Depends only on qiao/status.h.
 */
#ifndef QIAO_PTX_H
#define QIAO_PTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qiao/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ enums */

typedef enum qiao_ptx_type {
  QIAO_PTX_T_NONE = 0,
  QIAO_PTX_T_PRED,
  QIAO_PTX_T_B8,
  QIAO_PTX_T_B16,
  QIAO_PTX_T_B32,
  QIAO_PTX_T_B64,
  QIAO_PTX_T_B128,
  QIAO_PTX_T_U8,
  QIAO_PTX_T_U16,
  QIAO_PTX_T_U32,
  QIAO_PTX_T_U64,
  QIAO_PTX_T_S8,
  QIAO_PTX_T_S16,
  QIAO_PTX_T_S32,
  QIAO_PTX_T_S64,
  QIAO_PTX_T_F16,
  QIAO_PTX_T_F16X2,
  QIAO_PTX_T_BF16,
  QIAO_PTX_T_BF16X2,
  QIAO_PTX_T_TF32,
  QIAO_PTX_T_F32,
  QIAO_PTX_T_F64,
  QIAO_PTX_T_E4M3,
  QIAO_PTX_T_E5M2,
  QIAO_PTX_T_E4M3X2,
  QIAO_PTX_T_E5M2X2,
  QIAO_PTX_T_S4,
  QIAO_PTX_T_U4,
  QIAO_PTX_T_B1,
  QIAO_PTX_T_COUNT
} qiao_ptx_type_t;

typedef enum qiao_ptx_space {
  QIAO_PTX_SPACE_NONE = 0, /* generic addressing */
  QIAO_PTX_SPACE_REG,
  QIAO_PTX_SPACE_GLOBAL,
  QIAO_PTX_SPACE_SHARED, /* .shared (== .shared::cta) */
  QIAO_PTX_SPACE_SHARED_CTA,
  QIAO_PTX_SPACE_SHARED_CLUSTER,
  QIAO_PTX_SPACE_LOCAL,
  QIAO_PTX_SPACE_PARAM,
  QIAO_PTX_SPACE_CONST,
  QIAO_PTX_SPACE_TEX,
} qiao_ptx_space_t;

typedef enum qiao_ptx_round {
  QIAO_PTX_RND_NONE = 0,
  QIAO_PTX_RND_RN,
  QIAO_PTX_RND_RZ,
  QIAO_PTX_RND_RM,
  QIAO_PTX_RND_RP,
  QIAO_PTX_RND_RNA,
  QIAO_PTX_RND_RS,
  QIAO_PTX_RND_RNI,
  QIAO_PTX_RND_RZI,
  QIAO_PTX_RND_RMI,
  QIAO_PTX_RND_RPI,
} qiao_ptx_round_t;

typedef enum qiao_ptx_cmp {
  QIAO_PTX_CMP_NONE = 0,
  QIAO_PTX_CMP_EQ,
  QIAO_PTX_CMP_NE,
  QIAO_PTX_CMP_LT,
  QIAO_PTX_CMP_LE,
  QIAO_PTX_CMP_GT,
  QIAO_PTX_CMP_GE,
  QIAO_PTX_CMP_LO,
  QIAO_PTX_CMP_LS,
  QIAO_PTX_CMP_HI,
  QIAO_PTX_CMP_HS,
  QIAO_PTX_CMP_EQU,
  QIAO_PTX_CMP_NEU,
  QIAO_PTX_CMP_LTU,
  QIAO_PTX_CMP_LEU,
  QIAO_PTX_CMP_GTU,
  QIAO_PTX_CMP_GEU,
  QIAO_PTX_CMP_NUM,
  QIAO_PTX_CMP_NAN,
} qiao_ptx_cmp_t;

/* The "operation" modifier: setp/set/vote combining op (and/or/xor), atom/red/redux op,
 * vote mode, shfl mode. */
typedef enum qiao_ptx_opmod {
  QIAO_PTX_OPM_NONE = 0,
  QIAO_PTX_OPM_AND,
  QIAO_PTX_OPM_OR,
  QIAO_PTX_OPM_XOR,
  QIAO_PTX_OPM_ADD,
  QIAO_PTX_OPM_MIN,
  QIAO_PTX_OPM_MAX,
  QIAO_PTX_OPM_INC,
  QIAO_PTX_OPM_DEC,
  QIAO_PTX_OPM_CAS,
  QIAO_PTX_OPM_EXCH,
  QIAO_PTX_OPM_UP,
  QIAO_PTX_OPM_DOWN,
  QIAO_PTX_OPM_BFLY,
  QIAO_PTX_OPM_IDX, /* shfl */
  QIAO_PTX_OPM_ALL,
  QIAO_PTX_OPM_ANY,
  QIAO_PTX_OPM_UNI,
  QIAO_PTX_OPM_BALLOT, /* vote */
  QIAO_PTX_OPM_POPC,   /* bar.red / redux */
} qiao_ptx_opmod_t;

typedef enum qiao_ptx_scope {
  QIAO_PTX_SCOPE_NONE = 0,
  QIAO_PTX_SCOPE_CTA,
  QIAO_PTX_SCOPE_CLUSTER,
  QIAO_PTX_SCOPE_GPU,
  QIAO_PTX_SCOPE_SYS,
} qiao_ptx_scope_t;

typedef enum qiao_ptx_sem {
  QIAO_PTX_SEM_NONE = 0,
  QIAO_PTX_SEM_WEAK,
  QIAO_PTX_SEM_RELAXED,
  QIAO_PTX_SEM_ACQUIRE,
  QIAO_PTX_SEM_RELEASE,
  QIAO_PTX_SEM_ACQ_REL,
  QIAO_PTX_SEM_SC,
  QIAO_PTX_SEM_VOLATILE,
  QIAO_PTX_SEM_MMIO,
} qiao_ptx_sem_t;

/* Cache operators (ld/st/cp.async/prefetch). Eviction hints (L1::evict_last ...) stay in
 * the raw modifier list. */
typedef enum qiao_ptx_cache {
  QIAO_PTX_CACHE_NONE = 0,
  QIAO_PTX_CACHE_CA,
  QIAO_PTX_CACHE_CG,
  QIAO_PTX_CACHE_CS,
  QIAO_PTX_CACHE_LU,
  QIAO_PTX_CACHE_CV,
  QIAO_PTX_CACHE_WB,
  QIAO_PTX_CACHE_WT,
} qiao_ptx_cache_t;

/* mul/mad/mul24 result selection. */
typedef enum qiao_ptx_part {
  QIAO_PTX_PART_NONE = 0,
  QIAO_PTX_PART_LO,
  QIAO_PTX_PART_HI,
  QIAO_PTX_PART_WIDE,
} qiao_ptx_part_t;

typedef enum qiao_ptx_layout {
  QIAO_PTX_LAYOUT_NONE = 0,
  QIAO_PTX_LAYOUT_ROW,
  QIAO_PTX_LAYOUT_COL,
} qiao_ptx_layout_t;

/* Flags (bits of qiao_ptx_instr_t.flags). */
enum {
  QIAO_PTX_F_FTZ = 1u << 0,
  QIAO_PTX_F_SAT = 1u << 1,
  QIAO_PTX_F_APPROX = 1u << 2,
  QIAO_PTX_F_FULL = 1u << 3,
  QIAO_PTX_F_SYNC = 1u << 4,
  QIAO_PTX_F_ALIGNED = 1u << 5,
  QIAO_PTX_F_UNI = 1u << 6,   /* bra.uni / call.uni */
  QIAO_PTX_F_TRANS = 1u << 7, /* ldmatrix .trans */
  QIAO_PTX_F_NC = 1u << 8,    /* ld.global.nc */
  QIAO_PTX_F_CC = 1u << 9,    /* add.cc / addc.cc */
  QIAO_PTX_F_SHIFTAMT = 1u << 10,
  QIAO_PTX_F_RELU = 1u << 11,
  QIAO_PTX_F_NAN = 1u << 12,    /* min.NaN / max.NaN */
  QIAO_PTX_F_ARRIVE = 1u << 13, /* bar.arrive / barrier.arrive */
  QIAO_PTX_F_RED = 1u << 14,    /* bar.red */
  QIAO_PTX_F_NOINC = 1u << 15,  /* cp.async.mbarrier.arrive.noinc */
  QIAO_PTX_F_CLAMP = 1u << 16,
  QIAO_PTX_F_WRAP = 1u << 17, /* shf */
  QIAO_PTX_F_L = 1u << 18,
  QIAO_PTX_F_R = 1u << 19, /* shf.l / shf.r */
};

/* clang-format off */
/* Opcodes (the instruction's name before its modifiers; a few compound names such as
 * cp.async.commit_group are one opcode). QIAO_PTX_OP_OTHER keeps the name only. */
#define QIAO_PTX_OPCODES(X)                                                                        \
  X(ADD, "add") X(ADDC, "addc") X(SUB, "sub") X(SUBC, "subc") X(MUL, "mul") X(MAD, "mad")      \
  X(MADC, "madc") X(MUL24, "mul24") X(MAD24, "mad24") X(FMA, "fma") X(DIV, "div")                \
  X(REM, "rem") X(ABS, "abs") X(NEG, "neg") X(MIN, "min") X(MAX, "max") X(SAD, "sad")           \
  X(POPC, "popc") X(CLZ, "clz") X(BFIND, "bfind") X(BREV, "brev") X(BFE, "bfe") X(BFI, "bfi")  \
  X(FNS, "fns") X(DP4A, "dp4a") X(DP2A, "dp2a") X(RCP, "rcp") X(SQRT, "sqrt")                   \
  X(RSQRT, "rsqrt") X(SIN, "sin") X(COS, "cos") X(LG2, "lg2") X(EX2, "ex2") X(TANH, "tanh")    \
  X(TESTP, "testp") X(COPYSIGN, "copysign") X(SET, "set") X(SETP, "setp") X(SELP, "selp")      \
  X(SLCT, "slct") X(AND, "and") X(OR, "or") X(XOR, "xor") X(NOT, "not") X(CNOT, "cnot")        \
  X(LOP3, "lop3") X(SHL, "shl") X(SHR, "shr") X(SHF, "shf") X(PRMT, "prmt") X(MOV, "mov")      \
  X(CVT, "cvt") X(CVTA, "cvta") X(CVT_PACK, "cvt.pack") X(LD, "ld") X(LDU, "ldu") X(ST, "st")  \
  X(PREFETCH, "prefetch") X(PREFETCHU, "prefetchu") X(ISSPACEP, "isspacep")                     \
  X(CP_ASYNC_COMMIT_GROUP, "cp.async.commit_group")                                            \
  X(CP_ASYNC_WAIT_GROUP, "cp.async.wait_group") X(CP_ASYNC_WAIT_ALL, "cp.async.wait_all")      \
  X(CP_ASYNC_BULK, "cp.async.bulk") X(CP_ASYNC_MBARRIER_ARRIVE, "cp.async.mbarrier.arrive")    \
  X(CP_ASYNC, "cp.async") X(BRA, "bra") X(BRX, "brx") X(CALL, "call") X(RET, "ret")            \
  X(EXIT, "exit") X(TRAP, "trap") X(BRKPT, "brkpt") X(NANOSLEEP, "nanosleep") X(PMEVENT, "pmevent") \
  X(BAR, "bar") X(BARRIER, "barrier") X(MEMBAR, "membar") X(FENCE, "fence") X(ATOM, "atom")   \
  X(RED, "red") X(REDUX, "redux") X(VOTE, "vote") X(MATCH, "match") X(ACTIVEMASK, "activemask") \
  X(SHFL, "shfl") X(MBARRIER, "mbarrier") X(ELECT, "elect") X(MMA, "mma") X(WGMMA, "wgmma")    \
  X(WMMA_LOAD, "wmma.load") X(WMMA_STORE, "wmma.store") X(WMMA_MMA, "wmma.mma")                 \
  X(LDMATRIX, "ldmatrix") X(STMATRIX, "stmatrix") X(MOVMATRIX, "movmatrix") X(TEX, "tex")       \
  X(TLD4, "tld4") X(SULD, "suld") X(SUST, "sust") X(TXQ, "txq") X(SETMAXNREG, "setmaxnreg")     \
  X(GETCTARANK, "getctarank") X(STACKSAVE, "stacksave") X(STACKRESTORE, "stackrestore")          \
  X(ALLOCA, "alloca") X(GRIDDEPCONTROL, "griddepcontrol") X(CP_REDUCE_ASYNC_BULK, "cp.reduce.async.bulk")

/* clang-format on */
typedef enum qiao_ptx_opcode {
  QIAO_PTX_OP_OTHER = 0,
#define QIAO_PTX_X_(e, s) QIAO_PTX_OP_##e,
  QIAO_PTX_OPCODES(QIAO_PTX_X_)
#undef QIAO_PTX_X_
      QIAO_PTX_OP_COUNT
} qiao_ptx_opcode_t;

/* clang-format off */
/* Special registers (%tid.x: QIAO_PTX_SREG_TID with comp 1). */
#define QIAO_PTX_SREGS(X)                                                                          \
  X(TID, "%tid") X(NTID, "%ntid") X(CTAID, "%ctaid") X(NCTAID, "%nctaid") X(LANEID, "%laneid")   \
  X(WARPID, "%warpid") X(NWARPID, "%nwarpid") X(SMID, "%smid") X(NSMID, "%nsmid")               \
  X(GRIDID, "%gridid") X(CLOCK, "%clock") X(CLOCK_HI, "%clock_hi") X(CLOCK64, "%clock64")       \
  X(GLOBALTIMER, "%globaltimer") X(GLOBALTIMER_LO, "%globaltimer_lo")                            \
  X(GLOBALTIMER_HI, "%globaltimer_hi") X(LANEMASK_EQ, "%lanemask_eq")                           \
  X(LANEMASK_LE, "%lanemask_le") X(LANEMASK_LT, "%lanemask_lt") X(LANEMASK_GE, "%lanemask_ge")  \
  X(LANEMASK_GT, "%lanemask_gt") X(DYNAMIC_SMEM_SIZE, "%dynamic_smem_size")                      \
  X(TOTAL_SMEM_SIZE, "%total_smem_size") X(AGGR_SMEM_SIZE, "%aggr_smem_size")                   \
  X(CLUSTERID, "%clusterid") X(NCLUSTERID, "%nclusterid") X(CLUSTER_CTAID, "%cluster_ctaid")    \
  X(CLUSTER_NCTAID, "%cluster_nctaid") X(CLUSTER_CTARANK, "%cluster_ctarank")                   \
  X(CLUSTER_NCTARANK, "%cluster_nctarank") X(IS_EXPLICIT_CLUSTER, "%is_explicit_cluster")       \
  X(PM0, "%pm0") X(PM1, "%pm1") X(PM2, "%pm2") X(PM3, "%pm3") X(PM4, "%pm4") X(PM5, "%pm5")     \
  X(PM6, "%pm6") X(PM7, "%pm7") X(PM0_64, "%pm0_64") X(PM1_64, "%pm1_64") X(PM2_64, "%pm2_64")  \
  X(PM3_64, "%pm3_64") X(PM4_64, "%pm4_64") X(PM5_64, "%pm5_64") X(PM6_64, "%pm6_64")           \
  X(PM7_64, "%pm7_64") X(CURRENT_GRAPH_EXEC, "%current_graph_exec")

/* clang-format on */
typedef enum qiao_ptx_sreg {
  QIAO_PTX_SREG_NONE = 0,
#define QIAO_PTX_X_(e, s) QIAO_PTX_SREG_##e,
  QIAO_PTX_SREGS(QIAO_PTX_X_)
#undef QIAO_PTX_X_
      QIAO_PTX_SREG_ENVREG, /* %envreg0..31: index in qiao_ptx_operand_t.imm.i */
  QIAO_PTX_SREG_COUNT
} qiao_ptx_sreg_t;

/* ------------------------------------------------------------------ operands */

typedef enum qiao_ptx_operand_kind {
  QIAO_PTX_OPND_REG = 1, /* reg: register id in the function; comp: .x/.y/.z/.w of a vector reg */
  QIAO_PTX_OPND_SREG,    /* sreg, comp (1..4 = .x .y .z .w, 0 = none) */
  QIAO_PTX_OPND_IMM_INT, /* imm.i (two's complement bits) */
  QIAO_PTX_OPND_IMM_F32, /* imm.u: the 32 bits (0fXXXXXXXX) */
  QIAO_PTX_OPND_IMM_F64, /* imm.f: 0dXXXXXXXXXXXXXXXX or a decimal float */
  QIAO_PTX_OPND_SYM,     /* sym_kind/sym resolved; name; imm.i: +offset (name+8) */
  QIAO_PTX_OPND_ADDR,    /* [base+offset]: base is reg (>= 0), else sym (sym_kind), else absolute;
                            imm.i offset */
  QIAO_PTX_OPND_VEC,     /* {a, b, _}: count elements at module->operands[first] */
  QIAO_PTX_OPND_LIST,    /* (a, b) in call: count elements at module->operands[first] */
  QIAO_PTX_OPND_PAIR,    /* %p|%q (setp's two destinations): 2 elements at first */
  QIAO_PTX_OPND_SINK,    /* _ */
} qiao_ptx_operand_kind_t;

typedef enum qiao_ptx_sym_kind {
  QIAO_PTX_SYM_NONE = 0,
  QIAO_PTX_SYM_LABEL, /* sym: pc of the instruction after the label (ninstrs for a label at the end)
                       */
  QIAO_PTX_SYM_VAR,   /* sym: index in module->vars */
  QIAO_PTX_SYM_LOCAL, /* sym: index in function->locals */
  QIAO_PTX_SYM_PARAM, /* sym: index in function->params */
  QIAO_PTX_SYM_RET,   /* sym: index in function->rets */
  QIAO_PTX_SYM_FUNC,  /* sym: index in module->funcs */
} qiao_ptx_sym_kind_t;

typedef struct qiao_ptx_operand {
  uint8_t kind;     /* qiao_ptx_operand_kind_t */
  uint8_t neg;      /* !%p */
  uint8_t comp;     /* 0 none, 1..4 = .x .y .z .w */
  uint8_t sym_kind; /* qiao_ptx_sym_kind_t (SYM, ADDR with a symbol base) */
  uint16_t sreg;    /* qiao_ptx_sreg_t */
  uint16_t count;   /* VEC/LIST/PAIR element count */
  int32_t reg;      /* REG, ADDR base register; -1 when none */
  int32_t sym;      /* resolved symbol index (see sym_kind); -1 when none */
  uint32_t first;   /* VEC/LIST/PAIR: first element in module->operands */
  const char *name; /* SYM/ADDR symbol name (interned); NULL otherwise */
  union {
    int64_t i;
    uint64_t u;
    double f;
  } imm; /* immediate value, or the offset of ADDR/SYM */
} qiao_ptx_operand_t;

/* ------------------------------------------------------------------ instructions */

typedef struct qiao_ptx_instr {
  uint16_t opcode;   /* qiao_ptx_opcode_t */
  uint8_t ntypes;    /* number of type modifiers, in order (cvt.f32.s32: types = {F32, S32}) */
  uint8_t types[4];  /* qiao_ptx_type_t */
  uint8_t space;     /* qiao_ptx_space_t (ld/st/atom/cvta/...) */
  uint8_t space2;    /* second state space (cp.async.shared.global: space=SHARED, space2=GLOBAL) */
  uint8_t rnd;       /* qiao_ptx_round_t */
  uint8_t cmp;       /* qiao_ptx_cmp_t */
  uint8_t opmod;     /* qiao_ptx_opmod_t: boolean / atomic / shfl / vote operation */
  uint8_t scope;     /* qiao_ptx_scope_t */
  uint8_t sem;       /* qiao_ptx_sem_t */
  uint8_t cache;     /* qiao_ptx_cache_t */
  uint8_t part;      /* qiao_ptx_part_t */
  uint8_t vec;       /* 0, 2, 4, 8 (.v2 .v4 .v8) */
  uint8_t layout[2]; /* mma/wmma .row/.col for a and b */
  uint8_t num;       /* ldmatrix .x1/.x2/.x4 → 1/2/4 */
  uint8_t guard_neg; /* @!%p */
  uint16_t shape_m, shape_n, shape_k; /* .m16n8k16; m8n8 → k = 0 */
  uint32_t flags;                     /* QIAO_PTX_F_* */
  int32_t guard;                      /* predicate register id, -1 when unguarded */
  const char *name;                   /* opcode name as written (interned, "cp.async") */
  const char *const *mods;            /* every modifier after the name, in order, without the dot */
  uint16_t nmods;
  uint16_t nops;
  const qiao_ptx_operand_t *ops;        /* nops operands (into module->operands) */
  uint32_t loc_file, loc_line, loc_col; /* from the last .loc (0: none) */
  int32_t src_line;                     /* line of the instruction in the PTX text */
} qiao_ptx_instr_t;

/* ------------------------------------------------------------------ declarations */

typedef enum qiao_ptx_linkage {
  QIAO_PTX_LINK_NONE = 0,
  QIAO_PTX_LINK_VISIBLE,
  QIAO_PTX_LINK_EXTERN,
  QIAO_PTX_LINK_WEAK,
  QIAO_PTX_LINK_COMMON,
} qiao_ptx_linkage_t;

typedef enum qiao_ptx_init_kind {
  QIAO_PTX_INIT_INT = 1,
  QIAO_PTX_INIT_F32,
  QIAO_PTX_INIT_F64,
  QIAO_PTX_INIT_SYM,
  QIAO_PTX_INIT_GENERIC, /* generic(name)+offset */
} qiao_ptx_init_kind_t;

typedef struct qiao_ptx_init {
  uint8_t kind;     /* qiao_ptx_init_kind_t */
  const char *name; /* SYM/GENERIC */
  union {
    int64_t i;
    uint64_t u;
    double f;
  } v; /* value, or the +offset of a symbol */
} qiao_ptx_init_t;

#define QIAO_PTX_MAX_DIMS 4

/* A variable, parameter or return value. */
typedef struct qiao_ptx_var {
  const char *name;
  uint8_t space;     /* qiao_ptx_space_t */
  uint8_t linkage;   /* qiao_ptx_linkage_t */
  uint8_t type;      /* qiao_ptx_type_t */
  uint8_t vec;       /* 0, 2, 4, 8 */
  uint8_t ndims;     /* array dimensions */
  uint8_t ptr_space; /* params: .ptr.global → GLOBAL (NONE: .ptr without space or not a pointer) */
  uint8_t is_ptr;    /* params: .ptr given */
  uint8_t has_init;
  uint32_t align; /* .align N (0: none); params' .ptr ... .align N is ptr_align */
  uint32_t ptr_align;
  uint64_t dims[QIAO_PTX_MAX_DIMS]; /* 0 = unsized ([]) */
  uint32_t ninit;
  const qiao_ptx_init_t *init; /* flat list of initializer values */
  int32_t src_line;
} qiao_ptx_var_t;

/* .reg declaration: %r<100> (count 100, is_range) or %x (count 1). Register ids
 * base .. base+count-1. */
typedef struct qiao_ptx_regdecl {
  const char *name; /* "%r" for a range, "%x" for a single register */
  uint8_t type;     /* qiao_ptx_type_t */
  uint8_t vec;
  uint8_t is_range;
  uint32_t count;
  uint32_t base;
} qiao_ptx_regdecl_t;

typedef struct qiao_ptx_label {
  const char *name;
  uint32_t instr; /* index of the instruction that follows */
} qiao_ptx_label_t;

/* Body items in source order (for printing and for tools that care about scopes). */
typedef enum qiao_ptx_item_kind {
  QIAO_PTX_ITEM_INSTR = 1,
  QIAO_PTX_ITEM_LABEL,
  QIAO_PTX_ITEM_REG,
  QIAO_PTX_ITEM_LOCAL,
  QIAO_PTX_ITEM_OPEN,
  QIAO_PTX_ITEM_CLOSE,
  QIAO_PTX_ITEM_PRAGMA,
} qiao_ptx_item_kind_t;

typedef struct qiao_ptx_item {
  uint32_t kind;  /* qiao_ptx_item_kind_t */
  uint32_t index; /* into instrs / labels / regs / locals / pragmas */
} qiao_ptx_item_t;

typedef struct qiao_ptx_func {
  const char *name;
  uint8_t is_entry;                /* .entry (else .func) */
  uint8_t linkage;                 /* qiao_ptx_linkage_t */
  uint8_t has_body;                /* false for a declaration (prototype) */
  uint8_t noreturn;                /* .noreturn */
  uint32_t maxntid[3], reqntid[3]; /* 0 = not given */
  uint32_t minnctapersm, maxnreg;
  uint32_t nrets, nparams;
  const qiao_ptx_var_t *rets, *params;
  uint32_t ninstrs;
  const qiao_ptx_instr_t *instrs;
  uint32_t nregs; /* register ids are 0 .. nregs-1 */
  uint32_t nregdecls;
  const qiao_ptx_regdecl_t *regdecls; /* sorted by base */
  uint32_t nlocals;
  const qiao_ptx_var_t *locals; /* .local/.shared/.const/.param variables in the body */
  uint32_t nlabels;
  const qiao_ptx_label_t *labels;
  uint32_t npragmas;
  const char *const *pragmas; /* .pragma strings (without quotes) in the body */
  uint32_t nitems;
  const qiao_ptx_item_t *items;
  int32_t src_line;
} qiao_ptx_func_t;

typedef enum qiao_ptx_mitem_kind {
  QIAO_PTX_MITEM_VAR = 1,
  QIAO_PTX_MITEM_FUNC,
  QIAO_PTX_MITEM_FILE,
  QIAO_PTX_MITEM_PRAGMA,
  QIAO_PTX_MITEM_SECTION,
} qiao_ptx_mitem_kind_t;

/* A .section (debug DWARF): kept as raw text, not decoded, printed back as is. */
typedef struct qiao_ptx_section {
  const char *name; /* ".debug_str" */
  const char *text; /* from '{' to the matching '}' inclusive, NUL-terminated */
  uint32_t len;
} qiao_ptx_section_t;

typedef struct qiao_ptx_file {
  uint32_t index;   /* the number in .file N */
  const char *path; /* without quotes */
} qiao_ptx_file_t;

typedef struct qiao_ptx_module {
  uint32_t version_major, version_minor; /* .version 8.0 */
  uint32_t sm;                           /* .target sm_90a → 90 */
  const char *target_arch;               /* "sm_90a" */
  uint8_t texmode_independent, target_debug, map_f64_to_f32;
  uint32_t address_size; /* 32 or 64 (0: not given) */
  uint32_t nvars, nfuncs, nfiles, npragmas, nitems, noperands, nsections;
  const qiao_ptx_var_t *vars;
  const qiao_ptx_func_t *funcs;
  const qiao_ptx_file_t *files;
  const qiao_ptx_section_t *sections;
  const char *const *pragmas;
  const qiao_ptx_item_t *items;       /* module items in source order (MITEM kinds) */
  const qiao_ptx_operand_t *operands; /* every operand (instructions point into it) */
} qiao_ptx_module_t;

/* ------------------------------------------------------------------ functions */

/* Parses PTX text of `len` bytes (need not be NUL-terminated). `name` is used in
 * error messages ("name:line:col: expected ..."). On success *out_module owns
 * everything (free with qiao_ptx_module_destroy); on error *out_module is NULL and
 * the status (QIAO_INVALID_ARGUMENT) names the position. Never crashes on bad input. */
qiao_status_t qiao_ptx_parse(const char *text, size_t len, const char *name,
                             qiao_ptx_module_t **out_module);

/* Reads and parses a file (errors carry the path). */
qiao_status_t qiao_ptx_parse_file(const char *path, qiao_ptx_module_t **out_module);

/* Frees the module and everything it points to. NULL is fine. */
void qiao_ptx_module_destroy(qiao_ptx_module_t *m);

/* Prints the module as canonical PTX text; *out_text is malloc'd (caller frees).
 * parse(print(m)) equals m, and print is idempotent. .section blocks are printed
 * as read; .loc attributes other than file/line/column are not printed. */
qiao_status_t qiao_ptx_print(const qiao_ptx_module_t *m, char **out_text);

/* Structural equality (names by content, every decoded field, operands, items). */
bool qiao_ptx_module_equal(const qiao_ptx_module_t *a, const qiao_ptx_module_t *b);

/* Finds a function by name (NULL when absent). */
const qiao_ptx_func_t *qiao_ptx_module_find_func(const qiao_ptx_module_t *m, const char *name);

/* The declaration of register `id` of `f` (NULL when out of range); *out_n gets the
 * index inside a range declaration. */
const qiao_ptx_regdecl_t *qiao_ptx_func_reg(const qiao_ptx_func_t *f, uint32_t id, uint32_t *out_n);

/* Names of enum values as PTX spells them ("f32", "global", "rn", "eq", ...). */
const char *qiao_ptx_type_name(qiao_ptx_type_t t);
const char *qiao_ptx_opcode_name(qiao_ptx_opcode_t op);
const char *qiao_ptx_sreg_name(qiao_ptx_sreg_t s);
/* Size of a type in bytes (f16x2: 4, pred: 0). */
uint32_t qiao_ptx_type_size(qiao_ptx_type_t t);

/* Elements of a VEC/LIST/PAIR operand. */
static inline const qiao_ptx_operand_t *qiao_ptx_operand_elems(const qiao_ptx_module_t *m,
                                                               const qiao_ptx_operand_t *op) {
  return m->operands + op->first;
}

#ifdef __cplusplus
}
#endif
#endif /* QIAO_PTX_H */
