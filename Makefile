# Qiao — top-level driver over CMake.
#   make demo   install what is missing, build, run the demo
#   make test   install what is missing, build (-Werror), run the whole suite,
#               then the same suite under ASan+UBSan
#   make bench  build Release and run qiao-bench against OpenBLAS/oneDNN (matmul),
#               then the short attention/MoE set against ggml and ONNX Runtime
#               (bench/peers/setup.sh builds those once into .cache/peers)
MAKEFLAGS += --no-print-directory
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build-asan
CMAKE_FLAGS ?=

.PHONY: all deps build demo test test-release test-asan bench fuzz clean format

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DQIAO_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@echo "building ($(BUILD), Release)..."
	@cmake --build $(BUILD) -j$(JOBS) >$(BUILD)/build.log 2>&1 || { cat $(BUILD)/build.log; exit 1; }

demo: build
	@scripts/demo.sh $(BUILD)

test-release: build
	@echo "running the suite (Release)..."
	@cd $(BUILD) && ctest -j1 --timeout 900 -V 2>&1 | $(CURDIR)/scripts/ctest-filter.sh

test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DQIAO_WERROR=ON -DQIAO_SANITIZE=ON \
	  -DQIAO_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@echo "building ($(ASAN_BUILD), ASan+UBSan)..."
	@cmake --build $(ASAN_BUILD) -j$(JOBS) >$(ASAN_BUILD)/build.log 2>&1 || { cat $(ASAN_BUILD)/build.log; exit 1; }
	@echo "running the suite (ASan+UBSan)..."
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest -j1 --timeout 900 -V 2>&1 | $(CURDIR)/scripts/ctest-filter.sh

test: test-release test-asan

bench:
	@scripts/install-deps.sh --bench
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DQIAO_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) --target qiao-bench
	@$(BUILD)/qiao-bench $(BENCH_ARGS)
	@bench/peers/setup.sh >/dev/null || echo "bench: peers not set up (bench/peers/setup.sh failed); Qiao alone"
	@$(BUILD)/qiao-bench attention --short
	@$(BUILD)/qiao-bench moe --short

fuzz:
	@scripts/install-deps.sh --fuzz
	@CC=clang cmake -S . -B build-fuzz -DQIAO_BUILD_FUZZERS=ON -DQIAO_BUILD_TESTS=OFF \
	  -DQIAO_BUILD_BENCH=OFF >/dev/null
	@cmake --build build-fuzz -j$(JOBS) --target fuzz_parser fuzz_safetensors fuzz_ptx

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
