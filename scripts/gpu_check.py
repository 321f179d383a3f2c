"""The GPU check behind scripts/gpu_check.sh: rlvr's GRPO loop on a model of real size.

A randomly initialised Qwen2 model built from a config in code (the shape of Qwen2.5-0.5B by
default, ``--size 1.5b`` for Qwen2.5-1.5B's), the toy world's prompts and character tokenizer,
so nothing is downloaded. Generation is transformers' ``generate`` (TRL's path without vLLM):
vLLM cannot be installed on a machine without a package index, so this measures the HF path.

Phases:
  1. preflight: the math recipe's config parses, its data section loads
     tests/fixtures/gsm8k_mini.jsonl and its ``math`` verifier scores right and wrong answers
     (proves datasets, math-verify, latex2sympy2 and antlr4 work on the machine);
  2. frontier: a short GRPO run with `CurriculumGRPOTrainer` and the frontier filter on;
  3. influence: a few steps with `curricula.influence`'s in-training check, when that package exists
     (skipped with a message otherwise).

Reported per training phase: generation tokens/s, training (forward+backward) tokens/s, the
filter's share of the training time (``trainer.curriculum_seconds / train seconds``), the
influence check's share, peak GPU memory (``torch.cuda.max_memory_allocated``). The numbers are
printed and written as JSON (``--out``; default ``$OUT/gpu_check.json`` where ``OUT`` is set).

    python scripts/gpu_check.py            # on a GPU (about 2-4 minutes for --size 0.5b)
    python scripts/gpu_check.py --tiny     # anywhere, CPU included: tiny model, few steps
"""

import sys

from rlvr.benchmarks.gpu_check import main

if __name__ == "__main__":
    sys.exit(main(description=__doc__.split("\n")[0]))
