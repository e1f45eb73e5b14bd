#!/usr/bin/env bash
# The demo: every example model is formatted and verified, run on the
# reference interpreter, then compiled for the CPU through LLVM and checked
# against the interpreter on the same inputs.
# (The CUDA-class and Ascend-class targets and the porting-tax report join
# here when their backends land; see README "Status".)
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
for model in mlp llama_block moe_block; do
  qir=examples/$model.qir
  w=examples/$model.safetensors
  echo "== $model"
  "$build/qiao-fmt" --check "$qir"
  echo "   format + verify: ok"
  "$build/qiao-run" "$qir" --device ref --weights "$w" --seed 1 | sed 's/^/   ref: /'
  "$build/qiao-run" "$qir" --device cpu --weights "$w" --seed 1 --check ref 2>&1 | sed 's/^qiao-run: cpu: /   cpu: /; s/^output/   cpu: output/; s/^check/   cpu: check/'
done
