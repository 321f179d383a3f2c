"""GRPO training with rlvr: the file `accelerate launch` takes.

    accelerate launch --config_file configs/accelerate/<x>.yaml scripts/train_grpo.py \
        --config configs/toy.yaml grpo.max_steps=40

The recipe itself is `rlvr/train.py` (read it top to bottom: config -> model -> data ->
verifiers -> trainer -> train -> summary); `rlvr train` runs the same function.
"""

from rlvr.distributed import finish_distributed_process
from rlvr.train import main

if __name__ == "__main__":
    main()
    # A finished multi-process run ends here without interpreter finalization, where gloo's
    # teardown can abort or hang (rlvr/distributed.py); a single process exits as usual.
    finish_distributed_process()
