"""What the toy world is, in the figures that matter when reading its results against a real
model: size, vocabulary, prompt/answer lengths, and how all-or-nothing its prompts are.

    python scripts/toy_world_profile.py [--samples 32] [--group-size 8]
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict

from curricula.models import load_causal_lm
from rlvr.toy import eval_examples, shipped_toy_world
from rlvr.toy.evaluate import all_or_nothing_profile, per_prompt_pass_rates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=32, help="samples per prompt (temperature 1)")
    parser.add_argument("--group-size", type=int, default=8, help="GRPO group size for the zero-variance share")
    args = parser.parse_args(argv)
    path = shipped_toy_world()
    model, tokenizer = load_causal_lm(path, pad_to_eos=False)
    examples = eval_examples()
    print(
        f"parameters {sum(p.numel() for p in model.parameters()):,}, vocabulary {len(tokenizer)}, "
        f"{model.config.num_hidden_layers} layers x {model.config.hidden_size} wide"
    )
    for column in ("prompt", "answer"):
        lengths = [len(tokenizer(ex[column])["input_ids"]) for ex in examples]
        print(f"{column} tokens: mean {statistics.fmean(lengths):.1f}, max {max(lengths)}")
    rates = per_prompt_pass_rates(model, tokenizer, examples, args.samples)
    by_skill = defaultdict(list)
    for ex, rate in zip(examples, rates):
        by_skill[ex["skill"]].append(rate)
    print(
        f"held-out prompts, {args.samples} samples each: never solved / always / in between / "
        f"expected zero-variance groups of {args.group_size}"
    )
    for skill, skill_rates in [*by_skill.items(), ("all", rates)]:
        p = all_or_nothing_profile(skill_rates, args.group_size)
        print(
            f"{skill:7s} n={len(skill_rates):4d}  {p['never']:.2f}  {p['always']:.2f}  {p['between']:.2f}  "
            f"{p['zero_variance_groups']:.2f}"
        )


if __name__ == "__main__":
    main()
