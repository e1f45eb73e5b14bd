#!/bin/sh
# Fetches and builds the attention/MoE peers into an ignored cache dir
# (default .cache/peers, override with QIAO_PEERS_DIR). Nothing third-party is
# committed: ggml comes from the llama.cpp sources vendored in llama-cpp-python's
# sdist on PyPI, ONNX Runtime from its pip wheel into a venv. Idempotent: each
# step is skipped when its result is already there.
#
#   bench/peers/setup.sh          # download, build ggml (CPU only), make the venv
#   JOBS=2 bench/peers/setup.sh
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${QIAO_PEERS_DIR:-$root/.cache/peers}
jobs=${JOBS:-2}
LLAMA_CPP_PYTHON_VERSION=0.3.36
ORT_VERSION=1.31.1
ONNX_VERSION=1.23.2
NUMPY_SPEC="numpy>=1.26,<3" # any numpy ORT accepts on this python
PY=${PYTHON:-python3}
mkdir -p "$dir"
need=""
"$PY" -m pip --version >/dev/null 2>&1 || need="$need python3-pip"
"$PY" -c 'import ensurepip, venv' >/dev/null 2>&1 || need="$need python3-venv"
command -v "${CXX:-c++}" >/dev/null 2>&1 || need="$need g++"
command -v cmake >/dev/null 2>&1 || need="$need cmake"
if [ -n "$need" ]; then
  echo "peers: missing:$need (Debian: apt-get install$need)" >&2
  exit 1
fi

# --- ggml, from llama-cpp-python's sdist
src="$dir/llama-cpp-python-$LLAMA_CPP_PYTHON_VERSION"
if [ ! -d "$src/vendor/llama.cpp/ggml" ]; then
  echo "peers: downloading llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION (sdist)" >&2
  "$PY" -m pip download --quiet --no-binary :all: --no-deps --dest "$dir/dl" \
    "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
  tar -xzf "$dir/dl/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz" -C "$dir" 2>/dev/null ||
    tar -xzf "$dir/dl/llama-cpp-python-$LLAMA_CPP_PYTHON_VERSION.tar.gz" -C "$dir"
  [ -d "$src" ] || mv "$dir/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION" "$src"
fi
ggml_build="$dir/ggml-build"
if [ ! -f "$ggml_build/.done" ]; then
  echo "peers: building ggml (CPU only, -j$jobs)" >&2
  # GGML_NATIVE: tuned for this host, as llama.cpp builds by default; no OpenMP
  # so ggml uses its own thread pool with exactly the n_threads we give it.
  # Configured through llama.cpp's top-level CMakeLists (the sdist lacks the
  # files a standalone ggml configure needs); only the ggml targets are built.
  cmake -S "$src/vendor/llama.cpp" -B "$ggml_build" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON -DGGML_OPENMP=OFF -DGGML_BLAS=OFF -DGGML_CUDA=OFF -DGGML_METAL=OFF \
    -DGGML_VULKAN=OFF -DGGML_CCACHE=OFF -DBUILD_SHARED_LIBS=ON -DLLAMA_BUILD_COMMON=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF \
    >"$dir/ggml-cmake.log" 2>&1 || { cat "$dir/ggml-cmake.log"; exit 1; }
  cmake --build "$ggml_build" -j"$jobs" --target ggml ggml-cpu >"$dir/ggml-build.log" 2>&1 ||
    { tail -50 "$dir/ggml-build.log"; exit 1; }
  touch "$ggml_build/.done"
fi

# --- ONNX Runtime, onnx and numpy in a venv
venv="$dir/venv"
if [ ! -f "$venv/.done" ]; then
  echo "peers: installing onnxruntime==$ORT_VERSION into $venv" >&2
  "$PY" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet "onnxruntime==$ORT_VERSION" "onnx==$ONNX_VERSION" \
    "$NUMPY_SPEC"
  touch "$venv/.done"
fi

# --- the ggml peer binary
bin="$dir/ggml_attn_moe"
if [ ! -x "$bin" ] || [ "$root/bench/peers/ggml_attn_moe.c" -nt "$bin" ]; then
  inc="$src/vendor/llama.cpp/ggml/include"
  libdir=$(dirname "$(find "$ggml_build" -name 'libggml.so' | head -1)")
  ${CC:-cc} -std=c17 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -I"$inc" -o "$bin" \
    "$root/bench/peers/ggml_attn_moe.c" -L"$libdir" -Wl,-rpath,"$libdir" \
    -lggml -lggml-base -lggml-cpu -lm -lpthread
fi
echo "$dir"
