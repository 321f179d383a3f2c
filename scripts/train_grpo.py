"""GRPO training with rlvr: the file `accelerate launch` takes.

    accelerate launch --config_file configs/accelerate/<x>.yaml scripts/train_grpo.py \
        --config configs/toy.yaml grpo.max_steps=40

The recipe itself is `rlvr/train.py` (read it top to bottom: config -> output dir -> data ->
verifiers -> tokenizer -> model -> trainer -> train -> summary); `rlvr train` runs the same
function. A config, data or verifier mistake is one line on stderr and exit status 2
(``--debug`` shows the traceback).
"""

import sys

from rlvr.train import cli

if __name__ == "__main__":
    # cli() ends a finished multi-process run itself (rlvr.distributed.finish_distributed_process).
    sys.exit(cli())
