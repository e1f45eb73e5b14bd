#!/usr/bin/env bash
# The demo: every example model is formatted and verified, run on the
# reference interpreter, then compiled for the CPU through LLVM and checked
# against the interpreter on the same inputs.
# The same graphs then go through the CUDA-class backend (NVPTX -> PTX) and run
# in the simt-emu PTX emulator (an H100 profile), checked the same way; a
# kernel that backend does not lower yet is reported, not hidden. Then the
# Ascend-class backend on ascend-sim (a 910B model; times are simulated). (The
# porting-tax report joins here as it lands.)
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
  for dev in simt-emu:h100 ascend-sim:910b; do
    if ! "$build/qiao-run" "$qir" --device "$dev" --weights "$w" --seed 1 --check ref \
        >/tmp/qiao-demo.$$ 2>&1; then
      echo "   $dev: not yet: $(sed -n 's/.*refuses it: //p' /tmp/qiao-demo.$$ | head -1)"
    else
      sed "s/^qiao-run: $dev: /   $dev: /; s/^output/   $dev: output/; s/^check/   $dev: check/" /tmp/qiao-demo.$$
    fi
  done
  rm -f /tmp/qiao-demo.$$
done
