/* PTX reader: every committed PTX file (nvcc sm_80/sm_90, LLVM NVPTX, hand-written)
 * parses, prints, re-parses to an equal module, prints identically; counts and
 * decoded fields of chosen instructions; ptxas accepts the printed text; fresh nvcc
 * output parses; a 100k-instruction file parses (linear time). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "qiao/ptx.h"

#ifndef QIAO_SOURCE_DIR
#error "QIAO_SOURCE_DIR must name the repository root"
#endif
#ifndef QIAO_BINARY_DIR
#define QIAO_BINARY_DIR "."
#endif

#define DATA QIAO_SOURCE_DIR "/tests/data/ptx/"

static const char *const k_files[] = {
    "cp_async.sm80",         "cp_async.sm90",    "divergence.sm80",
    "divergence.sm90",       "gemm_tiled.sm80",  "gemm_tiled.sm90",
    "histogram.sm80",        "histogram.sm90",   "mma_gemm.sm80",
    "mma_gemm.sm90",         "softmax.sm80",     "softmax.sm90",
    "softmax.lineinfo.sm80", "warp_reduce.sm80", "warp_reduce.sm90",
    "llvm_saxpy.sm80",       "syntax",           "divergence.G.sm80",
};
#define N_FILES ((int)(sizeof k_files / sizeof k_files[0]))

static qiao_ptx_module_t *load(const char *stem) {
  char path[1024];
  snprintf(path, sizeof path, DATA "%s.ptx", stem);
  qiao_ptx_module_t *m = NULL;
  qiao_status_t st = qiao_ptx_parse_file(path, &m);
  cr_assert_null(st, "%s", qiao_status_message(st));
  cr_assert_not_null(m);
  return m;
}

/* parse → print → parse equal, print idempotent; returns the printed text */
static char *round_trip(const qiao_ptx_module_t *m, const char *what) {
  char *t1 = NULL, *t2 = NULL;
  cr_assert_null(qiao_ptx_print(m, &t1));
  qiao_ptx_module_t *m2 = NULL;
  qiao_status_t st = qiao_ptx_parse(t1, strlen(t1), "printed.ptx", &m2);
  cr_assert_null(st, "%s: printed text does not parse: %s", what, qiao_status_message(st));
  cr_assert(qiao_ptx_module_equal(m, m2), "%s: re-parsed module differs", what);
  cr_assert_null(qiao_ptx_print(m2, &t2));
  cr_assert_str_eq(t1, t2, "%s: print is not idempotent", what);
  free(t2);
  qiao_ptx_module_destroy(m2);
  return t1;
}

static uint32_t count_instrs(const qiao_ptx_module_t *m) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < m->nfuncs; ++i)
    n += m->funcs[i].ninstrs;
  return n;
}

static uint32_t count_entries(const qiao_ptx_module_t *m) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < m->nfuncs; ++i)
    n += m->funcs[i].is_entry;
  return n;
}

/* first instruction of f with this opcode (and, if given, this first modifier) */
static const qiao_ptx_instr_t *find_instr(const qiao_ptx_func_t *f, qiao_ptx_opcode_t op, int nth) {
  for (uint32_t i = 0; i < f->ninstrs; ++i)
    if (f->instrs[i].opcode == op && nth-- == 0) return &f->instrs[i];
  cr_assert_fail("no instruction %s #%d in %s", qiao_ptx_opcode_name(op), nth, f->name);
  return NULL;
}

Test(ptx, every_file_round_trips) {
  for (int i = 0; i < N_FILES; ++i) {
    qiao_ptx_module_t *m = load(k_files[i]);
    cr_assert_gt(m->nfuncs, 0, "%s", k_files[i]);
    free(round_trip(m, k_files[i]));
    qiao_ptx_module_destroy(m);
  }
}

typedef struct {
  const char *file;
  uint32_t funcs, entries, instrs, sm, vmaj, vmin;
} counts_t;

Test(ptx, counts) {
  static const counts_t k[] = {
      {"cp_async.sm80", 1, 1, 139, 80, 9, 0},  {"cp_async.sm90", 1, 1, 139, 90, 9, 0},
      {"divergence.sm80", 2, 1, 92, 80, 9, 0}, {"gemm_tiled.sm80", 1, 1, 130, 80, 9, 0},
      {"histogram.sm80", 1, 1, 53, 80, 9, 0},  {"mma_gemm.sm80", 2, 2, 206, 80, 9, 0},
      {"softmax.sm90", 1, 1, 238, 90, 9, 0},   {"warp_reduce.sm80", 1, 1, 47, 80, 9, 0},
      {"llvm_saxpy.sm80", 1, 1, 47, 80, 8, 0}, {"syntax", 4, 1, 84, 90, 8, 0},
  };
  for (size_t i = 0; i < sizeof k / sizeof k[0]; ++i) {
    qiao_ptx_module_t *m = load(k[i].file);
    cr_expect_eq(m->nfuncs, k[i].funcs, "%s funcs %u", k[i].file, m->nfuncs);
    cr_expect_eq(count_entries(m), k[i].entries, "%s entries", k[i].file);
    cr_expect_eq(count_instrs(m), k[i].instrs, "%s instrs %u", k[i].file, count_instrs(m));
    cr_expect_eq(m->sm, k[i].sm, "%s sm", k[i].file);
    cr_expect_eq(m->version_major, k[i].vmaj, "%s version %u", k[i].file, m->version_major);
    cr_expect_eq(m->version_minor, k[i].vmin, "%s version.minor", k[i].file);
    cr_expect_eq(m->address_size, 64);
    qiao_ptx_module_destroy(m);
  }
}

Test(ptx, nvcc_kernels_decoded) {
  /* warp shuffle */
  qiao_ptx_module_t *m = load("warp_reduce.sm80");
  const qiao_ptx_func_t *f = qiao_ptx_module_find_func(m, "warp_reduce");
  cr_assert_not_null(f);
  cr_expect_eq(f->nparams, 3);
  cr_expect_eq(f->params[0].type, QIAO_PTX_T_U64);
  const qiao_ptx_instr_t *in = find_instr(f, QIAO_PTX_OP_SHFL, 0);
  cr_expect_eq(in->opmod, QIAO_PTX_OPM_DOWN);
  cr_expect(in->flags & QIAO_PTX_F_SYNC);
  cr_expect_eq(in->ntypes, 1);
  cr_expect_eq(in->types[0], QIAO_PTX_T_B32);
  cr_expect_eq(in->nops, 5);
  cr_expect_eq(in->ops[0].kind, QIAO_PTX_OPND_PAIR); /* %r|%p */
  cr_expect_eq(in->ops[0].count, 2);
  in = find_instr(f, QIAO_PTX_OP_ATOM, 0);
  cr_expect_eq(in->space, QIAO_PTX_SPACE_GLOBAL);
  cr_expect_eq(in->opmod, QIAO_PTX_OPM_ADD);
  cr_expect_eq(in->types[0], QIAO_PTX_T_F32);
  cr_expect_eq(in->ops[1].kind, QIAO_PTX_OPND_ADDR);
  cr_expect_geq(in->ops[1].reg, 0);
  qiao_ptx_module_destroy(m);

  /* tiled GEMM: launch bounds, shared tiles, bar.sync */
  m = load("gemm_tiled.sm80");
  f = &m->funcs[0];
  cr_expect_eq(f->maxntid[0], 256);
  cr_expect_eq(f->maxntid[1], 1);
  cr_expect_eq(f->nparams, 6);
  cr_expect_eq(f->nlocals, 2);
  cr_expect_eq(f->locals[0].space, QIAO_PTX_SPACE_SHARED);
  cr_expect_eq(f->locals[0].dims[0], 1024);
  in = find_instr(f, QIAO_PTX_OP_BAR, 0);
  cr_expect(in->flags & QIAO_PTX_F_SYNC);
  cr_expect_eq(in->ops[0].kind, QIAO_PTX_OPND_IMM_INT);
  in = find_instr(f, QIAO_PTX_OP_FMA, 0);
  cr_expect_eq(in->rnd, QIAO_PTX_RND_RN);
  qiao_ptx_module_destroy(m);

  /* mma.sync + ldmatrix (inline PTX) and WMMA */
  m = load("mma_gemm.sm80");
  f = qiao_ptx_module_find_func(m, "mma_m16n8k16");
  cr_assert_not_null(f);
  in = find_instr(f, QIAO_PTX_OP_MMA, 0);
  cr_expect_eq(in->shape_m, 16);
  cr_expect_eq(in->shape_n, 8);
  cr_expect_eq(in->shape_k, 16);
  cr_expect_eq(in->layout[0], QIAO_PTX_LAYOUT_ROW);
  cr_expect_eq(in->layout[1], QIAO_PTX_LAYOUT_COL);
  cr_expect(in->flags & QIAO_PTX_F_SYNC);
  cr_expect(in->flags & QIAO_PTX_F_ALIGNED);
  cr_expect_eq(in->ntypes, 4);
  cr_expect_eq(in->types[0], QIAO_PTX_T_F32);
  cr_expect_eq(in->types[1], QIAO_PTX_T_F16);
  cr_expect_eq(in->nops, 4);
  cr_expect_eq(in->ops[0].kind, QIAO_PTX_OPND_VEC);
  cr_expect_eq(in->ops[0].count, 4);
  cr_expect_eq(in->ops[2].count, 2);
  const qiao_ptx_operand_t *el = qiao_ptx_operand_elems(m, &in->ops[1]);
  cr_expect_eq(el[0].kind, QIAO_PTX_OPND_REG);
  in = find_instr(f, QIAO_PTX_OP_LDMATRIX, 0);
  cr_expect_eq(in->num, 4);
  cr_expect_eq(in->space, QIAO_PTX_SPACE_SHARED);
  cr_expect_eq(in->types[0], QIAO_PTX_T_B16);
  cr_expect_eq(in->shape_m, 8);
  cr_expect_eq(in->shape_n, 8);
  f = qiao_ptx_module_find_func(m, "mma_gemm");
  in = find_instr(f, QIAO_PTX_OP_WMMA_MMA, 0);
  cr_expect_eq(in->shape_m, 16);
  cr_expect_eq(in->shape_k, 16);
  in = find_instr(f, QIAO_PTX_OP_WMMA_LOAD, 0);
  cr_expect_str_eq(in->name, "wmma.load");
  qiao_ptx_module_destroy(m);

  /* atomic histogram */
  m = load("histogram.sm90");
  f = &m->funcs[0];
  in = find_instr(f, QIAO_PTX_OP_ATOM, 0);
  cr_expect_eq(in->space, QIAO_PTX_SPACE_SHARED);
  cr_expect_eq(in->opmod, QIAO_PTX_OPM_ADD);
  cr_expect_eq(in->types[0], QIAO_PTX_T_U32);
  qiao_ptx_module_destroy(m);

  /* cp.async pipeline */
  m = load("cp_async.sm80");
  f = &m->funcs[0];
  in = find_instr(f, QIAO_PTX_OP_CP_ASYNC, 0);
  cr_expect_eq(in->cache, QIAO_PTX_CACHE_CG);
  cr_expect_eq(in->space, QIAO_PTX_SPACE_SHARED);
  cr_expect_eq(in->space2, QIAO_PTX_SPACE_GLOBAL);
  cr_expect_eq(in->nops, 4);
  in = find_instr(f, QIAO_PTX_OP_CP_ASYNC_COMMIT_GROUP, 0);
  cr_expect_eq(in->nops, 0);
  in = find_instr(f, QIAO_PTX_OP_CP_ASYNC_WAIT_GROUP, 0);
  cr_expect_eq(in->ops[0].imm.i, 1);
  qiao_ptx_module_destroy(m);

  /* divergence: call with (retval), func, (args); vote; labels */
  m = load("divergence.sm80");
  f = qiao_ptx_module_find_func(m, "divergence");
  in = find_instr(f, QIAO_PTX_OP_CALL, 0);
  cr_expect(in->flags & QIAO_PTX_F_UNI);
  cr_expect_eq(in->nops, 3);
  cr_expect_eq(in->ops[0].kind, QIAO_PTX_OPND_LIST);
  cr_expect_eq(in->ops[1].kind, QIAO_PTX_OPND_SYM);
  cr_expect_eq(in->ops[1].sym_kind, QIAO_PTX_SYM_FUNC);
  cr_expect_str_eq(m->funcs[in->ops[1].sym].name, "_Z7collatzi");
  cr_expect_eq(qiao_ptx_operand_elems(m, &in->ops[0])[0].sym_kind, QIAO_PTX_SYM_LOCAL);
  in = find_instr(f, QIAO_PTX_OP_VOTE, 0);
  cr_expect_eq(in->opmod, QIAO_PTX_OPM_BALLOT);
  in = find_instr(f, QIAO_PTX_OP_BRA, 0);
  cr_expect_geq(in->guard, 0);
  cr_expect_eq(in->ops[0].sym_kind, QIAO_PTX_SYM_LABEL);
  cr_expect_lt((uint32_t)in->ops[0].sym, f->ninstrs);
  const qiao_ptx_func_t *callee = &m->funcs[0];
  cr_expect_eq(callee->is_entry, 0);
  cr_expect_eq(callee->nrets, 1);
  qiao_ptx_module_destroy(m);

  /* softmax with -lineinfo: .file/.loc attached, debug section skipped */
  m = load("softmax.lineinfo.sm80");
  cr_expect_geq(m->nfiles, 1);
  f = &m->funcs[0];
  uint32_t with_loc = 0;
  for (uint32_t i = 0; i < f->ninstrs; ++i)
    with_loc += f->instrs[i].loc_file != 0;
  cr_expect_gt(with_loc, f->ninstrs / 2);
  in = find_instr(f, QIAO_PTX_OP_SHFL, 0);
  cr_expect_eq(in->opmod, QIAO_PTX_OPM_BFLY);
  in = find_instr(f, QIAO_PTX_OP_EX2, 0);
  cr_expect(in->flags & QIAO_PTX_F_APPROX);
  qiao_ptx_module_destroy(m);

  /* -G: .target debug, DWARF sections kept as raw text and printed back */
  m = load("divergence.G.sm80");
  cr_expect(m->target_debug);
  cr_expect_geq(m->nsections, 3);
  uint32_t info = 0;
  for (uint32_t i = 0; i < m->nsections; ++i) {
    cr_expect_eq(m->sections[i].text[0], '{');
    cr_expect_eq(m->sections[i].text[m->sections[i].len - 1], '}');
    info += strcmp(m->sections[i].name, ".debug_info") == 0;
  }
  cr_expect_eq(info, 1);
  qiao_ptx_module_destroy(m);
}

Test(ptx, syntax_file_decoded) {
  qiao_ptx_module_t *m = load("syntax");
  cr_expect_str_eq(m->target_arch, "sm_90");
  cr_expect_eq(m->nfiles, 2);
  cr_expect_str_eq(m->files[1].path, "/usr/include/helper.h");
  cr_expect_eq(m->nvars, 8);
  const qiao_ptx_var_t *v = &m->vars[0];
  cr_expect_str_eq(v->name, "counters");
  cr_expect_eq(v->align, 8);
  cr_expect_eq(v->ninit, 4);
  cr_expect_eq(v->init[1].v.i, 16);
  cr_expect_eq(v->init[2].v.i, 15); /* 017 octal */
  cr_expect_eq(v->init[3].v.i, -2);
  cr_expect_eq(m->vars[1].init[0].kind, QIAO_PTX_INIT_F32);
  cr_expect_eq(m->vars[1].init[0].v.u, 0x3F800000u);
  cr_expect_eq(m->vars[2].init[0].v.u, 0x400921FB54442D18ull);
  cr_expect_eq(m->vars[3].vec, 2);
  cr_expect_eq(m->vars[5].init[0].kind, QIAO_PTX_INIT_GENERIC);
  cr_expect_eq(m->vars[5].init[0].v.i, 4);
  cr_expect_eq(m->vars[6].linkage, QIAO_PTX_LINK_EXTERN);
  cr_expect_eq(m->vars[6].ndims, 1);
  cr_expect_eq(m->vars[6].dims[0], 0);
  cr_expect_eq(m->vars[7].ndims, 2);

  const qiao_ptx_func_t *helper = qiao_ptx_module_find_func(m, "helper");
  cr_assert_not_null(helper);
  cr_expect_eq(helper->linkage, QIAO_PTX_LINK_WEAK);
  cr_expect(helper->noreturn);
  cr_expect_eq(helper->params[1].align, 8);
  cr_expect_eq(helper->params[1].type, QIAO_PTX_T_B8);
  cr_expect_eq(helper->params[1].dims[0], 16);
  const qiao_ptx_func_t *add1 = qiao_ptx_module_find_func(m, "add_one");
  cr_expect(add1->has_body);

  const qiao_ptx_func_t *f = qiao_ptx_module_find_func(m, "kitchen_sink");
  cr_assert_not_null(f);
  cr_expect(f->is_entry);
  cr_expect_eq(f->maxntid[0], 128);
  cr_expect_eq(f->minnctapersm, 2);
  cr_expect_eq(f->maxnreg, 64);
  cr_expect_eq(f->npragmas, 1);
  cr_expect_str_eq(f->pragmas[0], "nounroll");
  cr_expect(f->params[0].is_ptr);
  cr_expect_eq(f->params[0].ptr_space, QIAO_PTX_SPACE_GLOBAL);
  cr_expect_eq(f->params[0].ptr_align, 16);
  cr_expect(f->params[1].is_ptr); /* written .ptr.global.align 8 */
  cr_expect_eq(f->params[1].ptr_space, QIAO_PTX_SPACE_GLOBAL);
  cr_expect_eq(f->params[1].ptr_align, 8);
  cr_expect_eq(f->nparams, 4);
  cr_expect_eq(f->nlabels, 2);
  /* %p<4> + done + %h<3> + %r<40> + %rd<12> + %f<10> + %fd<3> + nested %r<2> + done */
  cr_expect_eq(f->nregs, 4 + 1 + 3 + 40 + 12 + 10 + 3 + 2 + 1);
  uint32_t n = 99;
  const qiao_ptx_regdecl_t *d = qiao_ptx_func_reg(f, 4 + 1 + 3 + 7, &n);
  cr_assert_not_null(d);
  cr_expect_str_eq(d->name, "%r");
  cr_expect_eq(n, 7);

  const qiao_ptx_instr_t *in = &f->instrs[0];
  cr_expect_eq(in->opcode, QIAO_PTX_OP_LD);
  cr_expect_eq(in->space, QIAO_PTX_SPACE_PARAM);
  cr_expect_eq(in->ops[1].sym_kind, QIAO_PTX_SYM_PARAM);
  cr_expect_eq(in->ops[1].sym, 0);
  cr_expect_eq(in->loc_file, 1);
  cr_expect_eq(in->loc_line, 10);
  cr_expect_eq(in->loc_col, 3);
  cr_expect_eq(f->instrs[3].ops[1].imm.i, 8); /* [args+8] */
  in = &f->instrs[4];
  cr_expect_eq(in->opcode, QIAO_PTX_OP_CVTA);
  cr_expect_eq(in->nmods, 3);
  cr_expect_str_eq(in->mods[0], "to");
  static const uint16_t sregs[] = {
      QIAO_PTX_SREG_TID,     QIAO_PTX_SREG_NTID,        QIAO_PTX_SREG_CTAID,
      QIAO_PTX_SREG_NCTAID,  QIAO_PTX_SREG_LANEID,      QIAO_PTX_SREG_WARPID,
      QIAO_PTX_SREG_NWARPID, QIAO_PTX_SREG_SMID,        QIAO_PTX_SREG_CLOCK,
      QIAO_PTX_SREG_CLOCK64, QIAO_PTX_SREG_LANEMASK_LT, QIAO_PTX_SREG_DYNAMIC_SMEM_SIZE};
  static const uint8_t comps[] = {1, 2, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 12; ++i) {
    in = &f->instrs[5 + i];
    cr_expect_eq(in->ops[1].kind, QIAO_PTX_OPND_SREG, "instr %d", 5 + i);
    cr_expect_eq(in->ops[1].sreg, sregs[i], "instr %d", 5 + i);
    cr_expect_eq(in->ops[1].comp, comps[i], "instr %d", 5 + i);
  }
  in = &f->instrs[17];
  cr_expect_eq(in->opcode, QIAO_PTX_OP_MAD);
  cr_expect_eq(in->part, QIAO_PTX_PART_LO);
  cr_expect_eq(in->loc_file, 2);
  cr_expect_eq(f->instrs[18].part, QIAO_PTX_PART_WIDE);
  cr_expect_eq(f->instrs[19].part, QIAO_PTX_PART_HI);
  in = &f->instrs[21];
  cr_expect_eq(in->opcode, QIAO_PTX_OP_SETP);
  cr_expect_eq(in->cmp, QIAO_PTX_CMP_GE);
  in = &f->instrs[22];
  cr_expect_eq(in->cmp, QIAO_PTX_CMP_LT);
  cr_expect_eq(in->opmod, QIAO_PTX_OPM_AND);
  cr_expect_eq(in->ops[0].kind, QIAO_PTX_OPND_PAIR);
  cr_expect_eq(in->ops[2].imm.i, 100);
  in = &f->instrs[23];
  cr_expect_eq(in->opcode, QIAO_PTX_OP_BRA);
  cr_expect_eq(in->guard_neg, 0);
  cr_expect_str_eq(in->ops[0].name, "$L__exit");
  cr_expect_eq((uint32_t)in->ops[0].sym, f->ninstrs - 1);
  in = &f->instrs[24];
  cr_expect_eq(in->guard_neg, 1);
  cr_expect(in->flags & QIAO_PTX_F_UNI);
  cr_expect_eq((uint32_t)in->ops[0].sym, f->labels[0].instr);
  in = &f->instrs[25];
  cr_expect(in->flags & QIAO_PTX_F_NC);
  cr_expect_eq(in->vec, 4);
  cr_expect_eq(qiao_ptx_operand_elems(m, &in->ops[0])[3].kind, QIAO_PTX_OPND_SINK);
  cr_expect_eq(in->ops[1].imm.i, 16);
  cr_expect_eq(f->instrs[26].ops[1].imm.i, -4);
  in = &f->instrs[27];
  cr_expect_eq(in->rnd, QIAO_PTX_RND_RN);
  cr_expect(in->flags & QIAO_PTX_F_FTZ);
  cr_expect_eq(in->ops[2].kind, QIAO_PTX_OPND_IMM_F32);
  cr_expect_eq(f->instrs[28].ops[3].imm.u, 0xC0000000u);
  cr_expect_eq(f->instrs[29].ops[2].kind, QIAO_PTX_OPND_IMM_F64);
  in = &f->instrs[31];
  cr_expect_eq(in->rnd, QIAO_PTX_RND_RZI);
  cr_expect_eq(in->types[0], QIAO_PTX_T_S32);
  cr_expect_eq(in->types[1], QIAO_PTX_T_F32);
  cr_expect(f->instrs[33].flags & QIAO_PTX_F_APPROX);
  cr_expect(f->instrs[36].flags & QIAO_PTX_F_SAT);
  cr_expect_eq(f->instrs[36].ops[2].imm.i, -1);
  cr_expect_eq(f->instrs[38].ops[2].imm.i, 255);
  in = &f->instrs[40];
  cr_expect_eq(in->opmod, QIAO_PTX_OPM_BFLY);
  in = &f->instrs[41];
  cr_expect_eq(in->opmod, QIAO_PTX_OPM_DOWN);
  cr_expect_eq(in->ops[0].kind, QIAO_PTX_OPND_PAIR);
  cr_expect_eq(in->ops[4].imm.u, 0xffffffffu);
  in = &f->instrs[43];
  cr_expect_eq(in->opmod, QIAO_PTX_OPM_ALL);
  cr_expect_eq(in->ops[1].neg, 1);
  cr_expect_eq(in->ops[0].kind, QIAO_PTX_OPND_REG);
  in = &f->instrs[44];
  cr_expect_eq(in->ops[0].sym_kind, QIAO_PTX_SYM_LOCAL);
  cr_expect_str_eq(f->locals[in->ops[0].sym].name, "tile");
  cr_expect_eq(f->instrs[45].ops[0].imm.i, 8);
  cr_expect_eq(f->instrs[47].ops[1].sym_kind, QIAO_PTX_SYM_VAR);
  cr_expect_str_eq(m->vars[f->instrs[47].ops[1].sym].name, "dyn_smem");
  in = &f->instrs[52];
  cr_expect_eq(in->opmod, QIAO_PTX_OPM_CAS);
  in = &f->instrs[53];
  cr_expect_eq(in->sem, QIAO_PTX_SEM_ACQ_REL);
  cr_expect_eq(in->scope, QIAO_PTX_SCOPE_GPU);
  cr_expect_eq(in->opmod, QIAO_PTX_OPM_EXCH);
  in = &f->instrs[54];
  cr_expect_eq(in->opcode, QIAO_PTX_OP_RED);
  cr_expect_eq(in->sem, QIAO_PTX_SEM_RELAXED);
  cr_expect_eq(in->scope, QIAO_PTX_SCOPE_SYS);
  cr_expect_eq(in->opmod, QIAO_PTX_OPM_MAX);
  cr_expect_eq(f->instrs[56].sem, QIAO_PTX_SEM_VOLATILE);
  cr_expect_eq(f->instrs[61].scope, QIAO_PTX_SCOPE_CLUSTER);
  /* nested scope: the inner %r1 and done shadow the outer ones */
  in = &f->instrs[62];
  cr_expect_eq(in->opcode, QIAO_PTX_OP_MOV);
  cr_expect_eq(in->ops[0].reg, 4 + 1 + 3 + 40 + 12 + 10 + 3 + 1);
  in = &f->instrs[65];
  cr_expect_eq(in->opcode, QIAO_PTX_OP_CALL);
  cr_expect_str_eq(m->funcs[in->ops[1].sym].name, "add_one");
  cr_expect(m->funcs[in->ops[1].sym].has_body);
  in = &f->instrs[66];
  cr_expect_eq(in->ops[0].reg, 4 + 1 + 3 + 40 + 12 + 10 + 3 + 0); /* inner %r0 */
  in = &f->instrs[67];
  cr_expect_eq(qiao_ptx_operand_elems(m, &in->ops[1])[0].reg, 8 + 29); /* outer %r29 again */
  in = &f->instrs[71];
  cr_expect_eq(in->opcode, QIAO_PTX_OP_LOP3);
  cr_expect_eq(in->ops[4].imm.i, 0x96);
  in = &f->instrs[76];
  cr_expect_eq(in->ops[1].imm.i, 10); /* 012 octal */
  free(round_trip(m, "syntax"));
  qiao_ptx_module_destroy(m);
}

/* ---- external tools */

static const char *find_tool(const char *name, char *buf, size_t cap) {
  const char *dirs[] = {"/usr/local/cuda/bin", "/usr/bin", "/usr/local/bin"};
  const char *path = getenv("PATH");
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path ? path : "");
  for (char *save = NULL, *d = strtok_r(tmp, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    snprintf(buf, cap, "%s/%s", d, name);
    if (access(buf, X_OK) == 0) return buf;
  }
  for (size_t i = 0; i < sizeof dirs / sizeof *dirs; ++i) {
    snprintf(buf, cap, "%s/%s", dirs[i], name);
    if (access(buf, X_OK) == 0) return buf;
  }
  return NULL;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "cannot write %s", path);
  fputs(text, f);
  fclose(f);
}

Test(ptx, ptxas_accepts_printed_text) {
  char ptxas[1024];
  if (!find_tool("ptxas", ptxas, sizeof ptxas)) {
    fprintf(stderr, "ptx.ptxas_accepts_printed_text: skipped: no ptxas\n");
    cr_skip_test("skipped: no ptxas");
  }
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/ptx-printed", QIAO_BINARY_DIR);
  mkdir(dir, 0755);
  for (int i = 0; i < N_FILES; ++i) {
    qiao_ptx_module_t *m = load(k_files[i]);
    char *text = round_trip(m, k_files[i]);
    char path[1200], cmd[4096];
    snprintf(path, sizeof path, "%s/%s.%d.ptx", dir, k_files[i], (int)getpid());
    write_file(path, text);
    const char *arch = m->sm >= 90 ? "sm_90" : "sm_80";
    snprintf(cmd, sizeof cmd, "'%s' -arch=%s '%s' -o /dev/null", ptxas, arch, path);
    int rc = system(cmd);
    cr_expect_eq(rc, 0, "ptxas rejects the printed %s (%s)", k_files[i], path);
    if (rc == 0) remove(path);
    free(text);
    qiao_ptx_module_destroy(m);
  }
}

Test(ptx, fresh_nvcc_output_parses) {
  char nvcc[1024];
  if (!find_tool("nvcc", nvcc, sizeof nvcc)) {
    fprintf(stderr, "ptx.fresh_nvcc_output_parses: skipped: no nvcc\n");
    cr_skip_test("skipped: no nvcc");
  }
  static const char *const cus[] = {"warp_reduce", "gemm_tiled", "mma_gemm", "histogram",
                                    "softmax",     "divergence", "cp_async"};
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/ptx-fresh", QIAO_BINARY_DIR);
  mkdir(dir, 0755);
  for (size_t i = 0; i < sizeof cus / sizeof *cus; ++i) {
    for (int a = 0; a < 2; ++a) {
      const char *arch = a ? "sm_90" : "sm_80";
      char out[1200], cmd[4096];
      snprintf(out, sizeof out, "%s/%s.%s.%d.ptx", dir, cus[i], arch, (int)getpid());
      snprintf(cmd, sizeof cmd, "'%s' -ptx -arch=%s -o '%s' '" DATA "%s.cu'", nvcc, arch, out,
               cus[i]);
      cr_assert_eq(system(cmd), 0, "nvcc failed: %s", cmd);
      qiao_ptx_module_t *m = NULL;
      qiao_status_t st = qiao_ptx_parse_file(out, &m);
      cr_assert_null(st, "%s", qiao_status_message(st));
      cr_expect_geq(count_entries(m), 1);
      cr_expect_gt(count_instrs(m), 10);
      free(round_trip(m, out));
      qiao_ptx_module_destroy(m);
      remove(out);
    }
  }
}

/* ---- scale */

Test(ptx, hundred_thousand_instructions) {
  const int n = 100000;
  size_t cap = (size_t)n * 64 + 4096, len = 0;
  char *buf = malloc(cap);
  cr_assert_not_null(buf);
  len += (size_t)snprintf(buf + len, cap - len,
                          ".version 8.0\n.target sm_80\n.address_size 64\n\n"
                          ".visible .entry big(.param .u64 p)\n{\n\t.reg .pred %%p<2>;\n"
                          "\t.reg .b32 %%r<1000>;\n\t.reg .b64 %%rd<4>;\n"
                          "\tld.param.u64 %%rd1, [p];\n");
  for (int i = 0; i < n - 2; ++i) {
    if (i % 100 == 0) len += (size_t)snprintf(buf + len, cap - len, "$L__B%d:\n", i / 100);
    switch (i % 4) {
    case 0:
      len += (size_t)snprintf(buf + len, cap - len, "\tadd.s32 %%r%d, %%r%d, %d;\n", i % 1000,
                              (i + 7) % 1000, i);
      break;
    case 1:
      len += (size_t)snprintf(buf + len, cap - len, "\tld.global.u32 %%r%d, [%%rd1+%d];\n",
                              i % 1000, (i % 64) * 4);
      break;
    case 2:
      len +=
          (size_t)snprintf(buf + len, cap - len, "\tsetp.lt.s32 %%p1, %%r%d, %d;\n", i % 1000, i);
      break;
    default:
      len += (size_t)snprintf(buf + len, cap - len, "\t@%%p1 bra $L__B%d;\n",
                              (i / 100 + 1) % (n / 100));
      break;
    }
  }
  len += (size_t)snprintf(buf + len, cap - len, "\tret;\n}\n");
  struct timespec t0, t1, c0, c1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
  qiao_ptx_module_t *m = NULL;
  qiao_status_t st = qiao_ptx_parse(buf, len, "big.ptx", &m);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  cr_assert_null(st, "%s", qiao_status_message(st));
  cr_expect_eq(m->funcs[0].ninstrs, (uint32_t)n);
  cr_expect_eq(m->funcs[0].nlabels, (uint32_t)(n - 2 + 99) / 100);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  double cpu = (double)(c1.tv_sec - c0.tv_sec) * 1e3 + (double)(c1.tv_nsec - c0.tv_nsec) / 1e6;
  fprintf(stderr, "ptx: parsed %d instructions (%zu bytes) in %.1f ms (%.1f ms CPU)\n", n, len, ms, cpu);
  free(round_trip(m, "big.ptx"));
  qiao_ptx_module_destroy(m);
  free(buf);
}

/* ---- API details */

Test(ptx, names_and_sizes) {
  cr_expect_str_eq(qiao_ptx_type_name(QIAO_PTX_T_BF16X2), "bf16x2");
  cr_expect_eq(qiao_ptx_type_size(QIAO_PTX_T_F16X2), 4);
  cr_expect_eq(qiao_ptx_type_size(QIAO_PTX_T_F64), 8);
  cr_expect_str_eq(qiao_ptx_opcode_name(QIAO_PTX_OP_CP_ASYNC_WAIT_ALL), "cp.async.wait_all");
  cr_expect_str_eq(qiao_ptx_sreg_name(QIAO_PTX_SREG_NCTAID), "%nctaid");
}

Test(ptx, not_nul_terminated_and_truncations) {
  /* every prefix of a file either parses or fails with a position; never crashes
   * (each prefix in a fresh allocation of exactly its size, for ASan) */
  char path[1024];
  snprintf(path, sizeof path, DATA "syntax.ptx");
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  static char text[65536];
  size_t n = fread(text, 1, sizeof text, f);
  fclose(f);
  for (size_t k = 0; k < n; k += 7) {
    char *copy = malloc(k ? k : 1);
    memcpy(copy, text, k);
    qiao_ptx_module_t *m = NULL;
    qiao_status_t st = qiao_ptx_parse(copy, k, "cut.ptx", &m);
    if (st) {
      cr_expect(strncmp(qiao_status_message(st), "cut.ptx:", 8) == 0, "%s",
                qiao_status_message(st));
      cr_expect_null(m);
      qiao_status_free(st);
    } else {
      free(round_trip(m, "prefix"));
      qiao_ptx_module_destroy(m);
    }
    free(copy);
  }
}

Test(ptx, undeclared_label_and_forward_function) {
  const char *ok = ".version 7.0\n.target sm_80\n.address_size 64\n"
                   ".func f() { bra L1; L1: call g, (); ret; }\n"
                   ".func g() { ret; }\n";
  qiao_ptx_module_t *m = NULL;
  qiao_status_t st = qiao_ptx_parse(ok, strlen(ok), "fwd.ptx", &m);
  cr_assert_null(st, "%s", qiao_status_message(st));
  cr_expect_eq(m->funcs[0].instrs[0].ops[0].sym, 1);
  cr_expect_eq(m->funcs[0].instrs[1].ops[0].sym_kind, QIAO_PTX_SYM_FUNC);
  cr_expect_eq(m->funcs[0].instrs[1].ops[0].sym, 1);
  free(round_trip(m, "fwd"));
  qiao_ptx_module_destroy(m);
}

Test(ptx, immediate_forms) {
  const char *src =
      ".version 7.0\n.target sm_80\n.address_size 64\n"
      ".entry k()\n{\n\t.reg .b32 %r<2>;\n\t.reg .f32 %f<2>;\n\t.reg .f64 %fd<2>;\n"
      "\tmov.u32 %r1, 0b101;\n\tmov.u32 %r1, 7U;\n\tmov.u32 %r1, 0X1f;\n"
      "\tmov.s32 %r1, -0x10;\n\tmov.f64 %fd1, 1.5;\n\tmov.f64 %fd1, -2.5e-1;\n"
      "\tmov.f32 %f1, -0f3F800000;\n\tmov.u64 %fd1, 18446744073709551615;\n\tret;\n}\n";
  qiao_ptx_module_t *m = NULL;
  qiao_status_t st = qiao_ptx_parse(src, strlen(src), "imm.ptx", &m);
  cr_assert_null(st, "%s", qiao_status_message(st));
  const qiao_ptx_instr_t *in = m->funcs[0].instrs;
  cr_expect_eq(in[0].ops[1].imm.i, 5);
  cr_expect_eq(in[1].ops[1].imm.i, 7);
  cr_expect_eq(in[2].ops[1].imm.i, 31);
  cr_expect_eq(in[3].ops[1].imm.i, -16);
  cr_expect_eq(in[4].ops[1].kind, QIAO_PTX_OPND_IMM_F64);
  cr_expect_eq(in[4].ops[1].imm.f, 1.5);
  cr_expect_eq(in[5].ops[1].imm.f, -0.25);
  cr_expect_eq(in[6].ops[1].imm.u, 0xBF800000u);
  cr_expect_eq(in[7].ops[1].imm.u, UINT64_MAX);
  free(round_trip(m, "imm"));
  qiao_ptx_module_destroy(m);
}

Test(ptx, perf_directives_with_zero_components) {
  /* fuzzer finding: ".maxntid 128, 0, 1" printed as ".maxntid 128" */
  const char *src =
      ".version 8.0\n.target sm_90\n.entry k() .maxntid 128, 0, 1 .reqntid 0, 2\n{\n\tret;\n}\n";
  qiao_ptx_module_t *m = NULL;
  qiao_status_t st = qiao_ptx_parse(src, strlen(src), "mx.ptx", &m);
  cr_assert_null(st, "%s", qiao_status_message(st));
  cr_expect_eq(m->funcs[0].maxntid[2], 1);
  cr_expect_eq(m->funcs[0].reqntid[1], 2);
  char *t = round_trip(m, "maxntid");
  cr_expect(strstr(t, ".maxntid 128, 0, 1\n") != NULL, "%s", t);
  free(t);
  qiao_ptx_module_destroy(m);
}
