"""Guards on the private TRL hooks `CurriculumGRPOTrainer` overrides.

TRL moves its private methods between releases. If one of these fails after upgrading TRL,
read rlvr/trainer.py's module docstring and re-check each override against the new source.
"""

import inspect

import trl
from trl import GRPOTrainer
from trl.trainer.utils import RepeatSampler


def params(name):
    return list(inspect.signature(getattr(GRPOTrainer, name)).parameters)


def test_trl_version_is_the_tested_minor():
    assert trl.__version__.startswith("1.16."), f"rlvr is tested against TRL 1.16, found {trl.__version__}"


def test_overridden_hooks_keep_their_signatures():
    assert params("_prepare_inputs") == ["self", "generation_batch"]
    assert params("_calculate_rewards") == ["self", "inputs", "prompts", "completions", "completion_ids_list"]
    assert params("_generate_and_score_completions") == ["self", "inputs"]
    assert params("_save_checkpoint") == ["self", "model", "trial"]
    assert params("_load_optimizer_and_scheduler") == ["self", "checkpoint"]
    assert params("_get_train_sampler") == ["self", "dataset"]


def test_repeat_sampler_fields_we_copy_exist():
    sampler = RepeatSampler(list(range(6)), mini_repeat_count=2, batch_size=3, repeat_count=1, seed=3)
    for name in ("data_source", "mini_repeat_count", "batch_size", "repeat_count", "shuffle", "seed", "generator"):
        assert hasattr(sampler, name), name


def test_prepare_inputs_still_generates_on_the_condition_we_mirror():
    source = inspect.getsource(GRPOTrainer._prepare_inputs)
    assert "self._step % generate_every == 0 or self._buffered_inputs is None" in source
    assert "generate_every = self.args.steps_per_generation * self.num_iterations" in source


def test_rewards_are_gathered_in_rank_order_and_output_keys_exist():
    source = inspect.getsource(GRPOTrainer._calculate_rewards)
    assert "rewards_per_func = gather(rewards_per_func)" in source
    gen = inspect.getsource(GRPOTrainer._generate_and_score_completions)
    for key in (
        '"completion_mask": completion_mask',
        '"num_items_in_batch": num_items_in_batch',
        "self.accelerator.process_index * len(prompts)",
    ):
        assert key in gen, key
    loss = inspect.getsource(GRPOTrainer._compute_loss)
    assert 'inputs["num_items_in_batch"]' in loss
