"""The sampler's order is a function of (seed, epoch) alone, so a resumed run sees it again."""

from trl.trainer.utils import RepeatSampler

from rlvr.sampling import EpochSeededRepeatSampler, epoch_order


def test_the_samplers_order_is_the_epochs_order_also_after_a_restart():
    sampler = EpochSeededRepeatSampler.like(RepeatSampler(list(range(10)), mini_repeat_count=1, seed=5))
    for epoch in (0, 3):
        sampler.set_epoch(epoch)
        assert list(sampler) == epoch_order(5, epoch, 10).tolist()
    restarted = EpochSeededRepeatSampler.like(RepeatSampler(list(range(10)), mini_repeat_count=1, seed=5))
    restarted.set_epoch(3)  # a resumed run starts in epoch 3: same order as the first run's epoch 3
    assert list(restarted) == epoch_order(5, 3, 10).tolist()
    assert epoch_order(5, 0, 10).tolist() != epoch_order(5, 3, 10).tolist()
