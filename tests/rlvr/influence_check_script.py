"""A tiny GRPO run with the in-training influence check, for ``accelerate launch``.

    accelerate launch --cpu --num_processes 2 tests/rlvr/influence_check_script.py OUT_DIR

Each process writes ``OUT_DIR/influence_rank<i>.json``: its check results, the influence
metrics the trainer logged and the completion masks it trained on, so the test can compare
the processes. Launched by tests/rlvr/test_influence_check.py.
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from accelerate import PartialState  # noqa: E402

from curricula.influence import InfluenceCheck, InfluenceCheckConfig  # noqa: E402
from rlvr.distributed import finish_distributed_process  # noqa: E402
from rlvr.toy.tokenizer import build_tokenizer  # noqa: E402
from rlvr.trainer import CurriculumGRPOTrainer  # noqa: E402
from tests.conftest import build_tiny_llama  # noqa: E402 - the launcher puts the checkout on PYTHONPATH
from tests.rlvr.conftest import add2_and_copy, influence_check_trainer, tiny_grpo_config  # noqa: E402


class Trainer(CurriculumGRPOTrainer):
    trained_masks: list
    trained_advantages: list

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        if self.model.training:  # keep what this process trains on, to compare across processes
            self.trained_masks.append(output["completion_mask"].sum(dim=1).tolist())
            self.trained_advantages.append([round(a, 5) for a in output["advantages"].tolist()])
        return output


def main(out_dir: str) -> None:
    state = PartialState()
    tokenizer = build_tokenizer()
    model = build_tiny_llama(tokenizer)  # tests/conftest.py: the one tiny test model
    targets = add2_and_copy(3, "eval")
    check = InfluenceCheck(
        InfluenceCheckConfig(
            enabled=True, every_n_steps=1, dim=256, action="drop", threshold=0.0, alarm_threshold=0.0, batch_size=8
        ),
        targets=targets,
    )
    # 6 rows per process, groups of 4: the second group of each step spans both processes.
    args = tiny_grpo_config(
        out_dir, max_steps=2, per_device_train_batch_size=6, max_completion_length=4, seed=3, use_cpu=True
    )
    trainer = influence_check_trainer(Trainer, model, tokenizer, args, check, n_per_skill=6)
    trainer.trained_masks, trainer.trained_advantages = [], []
    trainer.train()
    logged = [{k: v for k, v in log.items() if k.startswith("influence/")} for log in trainer.state.log_history]
    result = {
        "rank": state.process_index,
        "history": [r.to_dict() for r in check.history],
        "logged": [entry for entry in logged if entry],
        "masks": trainer.trained_masks,
        "advantages": trainer.trained_advantages,
    }
    with open(os.path.join(out_dir, f"influence_rank{state.process_index}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1])
    # Exiting through interpreter finalization with the gloo group alive can abort (SIGABRT,
    # "terminate called without an active exception") or hang: see rlvr/distributed.py.
    finish_distributed_process()
