#!/usr/bin/env bash
# GPU check for rlvr: one prepared run of at most 8 minutes on a machine with one GPU, no
# internet and no package index (the device kind nvidia-h200: its own torch, transformers,
# accelerate and peft; nothing can be installed from a registry).
#
# What it runs (scripts/gpu_check.py):
#   1. preflight: configs/math_1p5b_lora.yaml parses, its data section loads
#      tests/fixtures/gsm8k_mini.jsonl, its `math` verifier scores right and wrong answers;
#   2. a short GRPO run with the frontier filter (CurriculumGRPOTrainer, pre-rollout skipping on) on a randomly
#      initialised model of real size (Qwen2.5-0.5B's shape, built from a config in code) over the
#      toy world's prompts and character tokenizer: nothing is downloaded;
#   3. the same with curricula.influence's in-training check, if that package exists (else skipped
#      with a message);
# and prints generation and training tokens/s, the filter's (and the influence check's) share of
# the training time, and peak GPU memory; the numbers also go to $OUT/gpu_check.json.
#
# vLLM is NOT used: it cannot be installed on that machine (no package index, and it is not in
# the image), so generation is transformers' `generate`, TRL's path when grpo.use_vllm is false.
# Throughput here is therefore the HF-generation baseline, not what a vLLM run would reach.
#
# rlvr's other dependencies travel with the repo as wheels in .whl/ (ignored by git, ~2 MB):
#   scripts/fetch_gpu_wheels.sh        # here, once: trl, datasets, math-verify, ...
# then, on the device tool:
#   run(command="bash scripts/gpu_check.sh", carry=[".whl"], timeout_s=540)
# On any machine, CPU included, a tiny plumbing version (tiny model, few steps, ~1 minute):
#   bash scripts/gpu_check.sh --tiny        # or GPU_CHECK_TINY=1 bash scripts/gpu_check.sh
# Other arguments go to scripts/gpu_check.py (--size 1.5b, --steps N, --completion-length N, ...).
set -uo pipefail
cd "$(dirname "$0")/.."

# The machine's python3 (the one with torch there); a development checkout without a GPU uses
# its virtualenv. PYTHON=... overrides both.
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ] && ! command -v nvidia-smi >/dev/null 2>&1; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
LIMIT_S=${GPU_CHECK_LIMIT_S:-470}   # the Python part; install and start-up stay under 8 minutes
export GPU_CHECK_BUDGET_S=${GPU_CHECK_BUDGET_S:-$((LIMIT_S - 30))}   # gpu_check.py skips the influence phase past this

# Install the carried wheels into /tmp/site when this Python lacks rlvr's dependencies.
if ! "$PYTHON" -c "import trl, datasets, math_verify" >/dev/null 2>&1; then
  if ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "gpu_check: trl/datasets/math_verify missing and no wheels in .whl/: run scripts/fetch_gpu_wheels.sh here and carry .whl" >&2
    exit 3
  fi
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}   # rlvr from this checkout, installed or not
# HF_HUB_OFFLINE: the device machine reaches no network, so a Hub call must fail at once, not retry.
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false

command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
log=${OUT:-/tmp}/gpu_check.log
timeout --signal=TERM --kill-after=10 "$LIMIT_S" "$PYTHON" scripts/gpu_check.py "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 124 ]; then echo "GPU_CHECK: TIMEOUT after ${LIMIT_S} s (see $log)"; fi
if [ "$rc" -ne 0 ]; then echo "GPU_CHECK: FAIL (exit $rc)"; fi
exit "$rc"
