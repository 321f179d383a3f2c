"""GRPO training with rlvr: the file `accelerate launch` takes.

    accelerate launch --config_file configs/accelerate/<x>.yaml scripts/train_grpo.py \
        --config configs/toy.yaml grpo.max_steps=40

The recipe itself is `rlvr/train.py` (read it top to bottom: config -> output dir -> data ->
verifiers -> tokenizer -> model -> trainer -> train -> summary); `rlvr train` runs the same
function. A config, data or verifier mistake is one line on stderr and exit status 2
(``--debug`` shows the traceback).
"""

import sys

from rlvr.distributed import finish_distributed_process
from rlvr.train import cli

if __name__ == "__main__":
    status = cli()
    if status == 0:
        # A finished multi-process run ends here without interpreter finalization, where gloo's
        # teardown can abort or hang (rlvr/distributed.py); a single process exits as usual.
        # Never after an error: a peer may still be inside a collective.
        finish_distributed_process()
    sys.exit(status)
