#!/bin/sh
# Builds qiao-bench in Release (build-mm) and runs the matmul suite, writing a
# text table to stdout and the JSON records to bench/matmul-<host>.json.
# Usage: bench/run-matmul.sh [extra qiao-bench args, e.g. --reps 9 --threads 1,2]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-mm"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target qiao-bench >/dev/null
uptime >&2 # the figures are only meaningful on an otherwise idle machine
"$build/qiao-bench" "$@"
"$build/qiao-bench" --json "$@" >"$root/bench/matmul-$(hostname).json"
