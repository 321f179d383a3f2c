"""GRPO training with rlvr: the file `accelerate launch` takes.

    accelerate launch --config_file configs/accelerate/<x>.yaml scripts/train_grpo.py \
        --config configs/toy.yaml grpo.max_steps=40
    accelerate launch scripts/train_grpo.py --config configs/toy_trl_recipe.yaml --learning_rate 1e-4

A config is rlvr's sectioned YAML or a TRL / open-r1 style flat GRPO recipe (plus rlvr's
sections); TRL-style ``--key value`` flags work beside the ``section.key=value`` overrides
(`rlvr/recipe.py`).

The recipe itself is `rlvr/train.py` (read it top to bottom: config -> output dir -> data ->
verifiers -> tokenizer -> model -> trainer -> train -> summary), its command line
`rlvr/cli/train.py`; `rlvr train` runs the same function. A config, data or verifier mistake is one line on stderr and exit status 2
(``--debug`` shows the traceback).
"""

import sys

from rlvr.cli.train import main

if __name__ == "__main__":
    # main() ends a finished multi-process run itself (rlvr.distributed.finish_distributed_process).
    sys.exit(main())
