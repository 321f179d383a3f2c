#!/usr/bin/env bash
# Download the Python wheels rlvr needs on the GPU machine into .whl/ (ignored by git).
#
# That machine (device kind nvidia-h200; see the device README and KINDS.md) has no internet and
# no package index. Its image already holds torch, transformers, accelerate, peft, numpy, pandas,
# pyarrow, pyyaml, sympy, tokenizers, safetensors, huggingface-hub, fsspec, xxhash, jinja2,
# psutil, matplotlib and tqdm. What rlvr imports beyond that travels as wheels:
#   trl                      the GRPO trainer rlvr subclasses (pinned: rlvr uses its private hooks)
#   datasets, dill, multiprocess   trl's and rlvr.data's dataset library and its two missing deps
#   math-verify, latex2sympy2_extended, antlr4-python3-runtime   the `math` verifier
# The versions are the ones in the development virtualenv (.venv), where the tests pass.
# scripts/gpu_check.sh installs them into /tmp/site there. Run this here, where pip can reach PyPI:
#
#   scripts/fetch_gpu_wheels.sh            # then: device run with carry [".whl"]
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=(
  trl==1.16.0
  datasets==5.2.0
  dill==0.4.1
  multiprocess==0.70.19
  math-verify==0.9.0
  latex2sympy2_extended==1.11.0
  antlr4-python3-runtime==4.13.2
)
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

if ! git check-ignore -q .whl/x.whl 2>/dev/null; then
  echo "/.whl/" >> "$(git rev-parse --git-path info/exclude)"   # keep the wheels out of git
fi
rm -rf .whl
mkdir -p .whl
# The command the device README gives: wheels for CPython 3.12 on manylinux x86-64, no deps.
"$PYTHON" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}"

count=$(ls .whl/*.whl | wc -l)
size_kib=$(du -sk .whl | cut -f1)
ls -l .whl
if [ "$count" -ne "${#WHEELS[@]}" ]; then
  echo "expected ${#WHEELS[@]} wheels, got $count" >&2
  exit 1
fi
if [ "$size_kib" -gt $((60 * 1024)) ]; then
  echo ".whl is ${size_kib} KiB: too close to the 64 MiB the device run carries" >&2
  exit 1
fi
echo "OK: $count wheels, ${size_kib} KiB in .whl/"
