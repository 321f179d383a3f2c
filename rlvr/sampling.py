"""The training sampler's order as a function of (seed, epoch) alone, so a resumed run and the
predictive frontier's read-ahead see exactly the order TRL's sampler draws."""

from __future__ import annotations

import numpy as np
import torch
from trl.trainer.utils import RepeatSampler


def epoch_seed(seed: int, epoch: int) -> int:
    """The generator seed of ``epoch``'s permutation."""
    return seed + 1_000_003 * epoch


def epoch_order(seed: int, epoch: int, num_rows: int) -> np.ndarray:
    """The permutation of ``num_rows`` row indices `EpochSeededRepeatSampler` draws at ``epoch``
    (same generator, same seed)."""
    generator = torch.Generator()
    generator.manual_seed(epoch_seed(seed, epoch))
    return torch.randperm(num_rows, generator=generator).numpy().astype(np.int32)


class EpochSeededRepeatSampler(RepeatSampler):
    """TRL's `RepeatSampler`, reseeded from (seed, epoch) at every epoch.

    TRL's sampler draws each epoch's permutation from one generator that starts afresh when a
    run resumes, so a resumed run's later epochs would visit prompts in the first epoch's order.
    `Trainer` calls ``set_epoch`` at each epoch (also the one a resumed run starts in); seeding
    from the epoch makes the order a function of (seed, epoch) alone.
    """

    def set_epoch(self, epoch: int) -> None:
        if self.shuffle and self.seed is not None:
            self.generator.manual_seed(epoch_seed(self.seed, epoch))

    @classmethod
    def like(cls, sampler: RepeatSampler) -> EpochSeededRepeatSampler:
        """The same sampler as TRL's ``sampler`` (same data, repeats, batch size, seed)."""
        return cls(
            data_source=sampler.data_source,
            mini_repeat_count=sampler.mini_repeat_count,
            batch_size=sampler.batch_size,
            repeat_count=sampler.repeat_count,
            shuffle=sampler.shuffle,
            seed=sampler.seed,
        )
