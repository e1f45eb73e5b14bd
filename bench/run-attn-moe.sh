#!/bin/sh
# Attention and MoE on the CPU: Qiao next to ggml and ONNX Runtime, same
# threads, interleaved in blocks (qiao-bench attention|moe). Sets up the peers
# first (bench/peers/setup.sh: cached under .cache/peers, nothing committed),
# builds qiao-bench in Release, and prints one table per mode. The text goes to
# stdout and to bench/attn-moe-run-<host>.txt (ignored).
#
# Usage: bench/run-attn-moe.sh [--short] [extra qiao-bench args: --reps N --threads N --filter S]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
"$root/bench/peers/setup.sh" >/dev/null
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target qiao-bench >/dev/null
out="$root/bench/attn-moe-run-$(hostname).txt"
{
  uptime # the figures are only meaningful on an otherwise idle machine
  "$build/qiao-bench" attention "$@"
  echo
  "$build/qiao-bench" moe "$@"
} | tee "$out"
