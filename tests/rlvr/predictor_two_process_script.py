"""A tiny GRPO run with ``curricula.predictor`` on, for a 2-process launch (gloo on CPU):

    accelerate launch --multi_gpu --num_processes 2 tests/rlvr/predictor_two_process_script.py OUT_DIR [oversample]

(``oversample``: the frontier filter's over-sampling on, so rounds are drawn through the predictor.)

Each process writes ``OUT_DIR/predictor_rank<i>.json``: per generation step the prompts it
generated for, the batch the predictor chose and deferred (computed on that process), and its
final predictor state digest, so the test can compare the processes. Launched by
tests/rlvr/test_predictor_trainer.py.
"""

import hashlib
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from accelerate import PartialState  # noqa: E402
from datasets import Dataset  # noqa: E402

from curricula.config import CurriculaConfig, FrontierConfig, PredictorConfig  # noqa: E402
from rlvr.distributed import finish_distributed_process  # noqa: E402
from rlvr.toy.model import build_model  # noqa: E402
from rlvr.toy.tokenizer import build_tokenizer  # noqa: E402
from rlvr.trainer import CurriculumGRPOTrainer  # noqa: E402
from tests.rlvr.conftest import tiny_grpo_config  # noqa: E402 - the launcher puts the checkout on PYTHONPATH


def skill_reward(prompts, completions, skill, **kw):
    return [0.0 if s == "hard" else float(bool(c) and ord(c[0]) % 2 == 0) for s, c in zip(skill, completions)]


class Trainer(CurriculumGRPOTrainer):
    def _generate_and_score_completions(self, inputs):
        if self.model.training:
            self.generated.append(list(dict.fromkeys(x["id"] for x in inputs)))
        return super()._generate_and_score_completions(inputs)


def main(out_dir: str, oversample: bool = False) -> None:
    state = PartialState()
    tok = build_tokenizer()
    rows = [{"id": f"h{i}", "prompt": f"{i}*{i}=", "answer": "x", "skill": "hard"} for i in range(24)]
    rows += [{"id": f"e{i}", "prompt": f"{i}+{i}=", "answer": "y", "skill": "easy"} for i in range(24)]
    args = tiny_grpo_config(
        out_dir, max_steps=6, per_device_train_batch_size=8, max_completion_length=4, seed=3, use_cpu=True
    )
    frontier = FrontierConfig(enabled=oversample, min_samples=64, mask_zero_variance=oversample, oversample=oversample)
    curricula = CurriculaConfig(
        predictor=PredictorConfig(enabled=True, reoffer_after=2, max_deferrals=2), frontier=frontier
    )
    trainer = Trainer(
        model=build_model(tok, seed=0),
        reward_funcs=[skill_reward],
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tok,
        curricula=curricula,
    )
    trainer.generated = []
    chosen = []
    select = trainer.predictive.select

    def spy(*a, **kw):
        selection, aside = select(*a, **kw)
        chosen.append(
            {"chosen": selection.chosen.tolist(), "deferred": selection.deferred.tolist(), "round": kw.get("salt", 0)}
        )
        return selection, aside

    trainer.predictive.select = spy
    trainer.train()
    digest = {k: hashlib.sha1(v.tobytes()).hexdigest() for k, v in trainer.predictive.state_dict().items()}
    result = {"generated": trainer.generated, "selections": chosen, "state": digest}
    with open(os.path.join(out_dir, f"predictor_rank{state.process_index}.json"), "w") as f:
        json.dump(result, f)
    finish_distributed_process(state)


if __name__ == "__main__":
    main(sys.argv[1], oversample=sys.argv[2:] == ["oversample"])
