#!/usr/bin/env bash
# tests/gpu/run.sh — for a machine with an NVIDIA GPU (and its driver): builds Qiao,
# runs the conformance suite on cuda:0 (the one suite, with a cuda:0 row added through
# QIAO_CONF_DEVICES), the cuda device tests, and a matmul/attention benchmark of Qiao's
# CUDA-class kernels next to cuBLAS (through dlopen; same shapes, same run).
#
#   tests/gpu/run.sh [BUILD_DIR]     (default: build-gpu beside the sources)
#
# Results go to stdout and BUILD_DIR/gpu-results.txt. Without a CUDA driver it stops
# at once with "run.sh: no CUDA driver found (libcuda.so.1)" and exit code 1; with a
# driver but no usable device, after the build, with cuda:0's error.
# Unrun so far: no GPU machine was available (docs/performance.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build-gpu}"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
ITERS="${ITERS:-20}"

have_libcuda() {
  if command -v ldconfig >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1'; then
    return 0
  fi
  local d ldp="${LD_LIBRARY_PATH:-}"
  for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/lib/aarch64-linux-gnu ${ldp//:/ }; do
    [ -e "$d/libcuda.so.1" ] && return 0
  done
  return 1
}

if ! have_libcuda; then
  echo "run.sh: no CUDA driver found (libcuda.so.1): this script needs a machine with an NVIDIA GPU" >&2
  exit 1
fi

echo "== build ($BUILD)"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DQIAO_WERROR=ON -DQIAO_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD" -j"$JOBS" --target qiao-run runtime_test_conformance hal_test_cuda_device

OUT="$BUILD/gpu-results.txt"
: >"$OUT"
log() { echo "$@" | tee -a "$OUT"; }

# cuda:0 must open (the message says why not: no device, driver too old ...).
PROBE="$(mktemp -d)"
trap 'rm -rf "$PROBE"' EXIT
printf 'graph @probe(%%x: f32[4]) -> (f32[4]) {\n  %%y = exp %%x\n  return %%y\n}\n' >"$PROBE/probe.qir"
if ! "$BUILD/qiao-run" "$PROBE/probe.qir" --device cuda:0 --check ref >"$PROBE/probe.out" 2>&1; then
  echo "run.sh: cuda:0 is not usable: $(tail -n 1 "$PROBE/probe.out")" >&2
  exit 1
fi
log "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n 1 || echo 'GPU (nvidia-smi absent)')"

status=0
log "== cuda device tests"
"$BUILD/hal_test_cuda_device" -j1 2>&1 | tee -a "$OUT" | grep -E 'Synthesis|SKIPPED' || status=1

log "== conformance suite on cuda:0 (built-in rows dropped)"
if QIAO_CONF_ONLY=1 QIAO_CONF_DEVICES="cuda:0" "$BUILD/runtime_test_conformance" -j1 >"$PROBE/conf.log" 2>&1; then
  :
else
  status=1
fi
grep -E 'Synthesis' "$PROBE/conf.log" | tee -a "$OUT"
log "unsupported kernels on cuda:0: $(grep -c '^\[UNSUPPORTED\]' "$PROBE/conf.log" || true)"
grep -E '^\[FAIL\]|Assertion' "$PROBE/conf.log" | head -n 40 | tee -a "$OUT" || true

log "== benchmark: Qiao on cuda:0 next to cuBLAS (median of $ITERS runs each, measured)"
cc -O2 -std=gnu17 -o "$BUILD/cublas_bench" "$ROOT/tests/gpu/cublas_bench.c" -ldl

qiao_bench() { # NAME QIR_TEXT
  printf '%s' "$2" >"$PROBE/$1.qir"
  local line
  if line="$("$BUILD/qiao-run" "$PROBE/$1.qir" --device cuda:0 --random --bench "$ITERS" 2>&1 | grep -E '^bench|qiao-run:' | tail -n 1)"; then
    log "qiao   $1: $line"
  else
    log "qiao   $1: failed"
  fi
}

for spec in "f16 4096 4096 4096" "bf16 4096 4096 4096" "f16 8192 8192 8192" "f32 2048 2048 2048"; do
  set -- $spec
  dt=$1 M=$2 N=$3 K=$4
  qiao_bench "matmul_${dt}_${M}x${N}x${K}" \
    "graph @mm(%a: $dt[$M, $K], %b: $dt[$K, $N]) -> ($dt[$M, $N]) {
  %y = matmul %a, %b
  return %y
}
"
  log "cublas matmul_${dt}_${M}x${N}x${K}: $("$BUILD/cublas_bench" matmul "$dt" "$M" "$N" "$K" "$ITERS" 2>&1 | tail -n 1)"
done

for spec in "f16 1 32 2048 128" "bf16 4 32 1024 128"; do
  set -- $spec
  dt=$1 B=$2 H=$3 S=$4 D=$5
  qiao_bench "attention_${dt}_B${B}_H${H}_S${S}_D${D}" \
    "graph @attn(%q: $dt[$B, $H, $S, $D], %k: $dt[$B, $H, $S, $D], %v: $dt[$B, $H, $S, $D]) -> ($dt[$B, $H, $S, $D]) {
  %o = attention %q, %k, %v {causal = true}
  return %o
}
"
  log "cublas attention_${dt}_B${B}_H${H}_S${S}_D${D}: $("$BUILD/cublas_bench" attention "$dt" "$B" "$H" "$S" "$D" "$ITERS" 2>&1 | tail -n 1)"
done

log "== results in $OUT"
exit $status
