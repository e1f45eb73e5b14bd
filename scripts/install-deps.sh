#!/usr/bin/env bash
# Installs the Debian packages Qiao needs that are not installed yet.
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --bench  also the benchmark peers (OpenBLAS, oneDNN)
#   scripts/install-deps.sh --fuzz   also clang (libFuzzer)
set -euo pipefail

pkgs=(cmake make gcc libc6-dev pkg-config llvm-19-dev libffi-dev libcriterion-dev libjansson-dev)
for arg in "$@"; do
  case "$arg" in
    --bench) pkgs+=(libopenblas-dev libdnnl-dev) ;;
    --fuzz) pkgs+=(clang libclang-rt-dev) ;;
    *) echo "install-deps.sh: unknown option '$arg' (known: --bench, --fuzz)" >&2; exit 1 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
