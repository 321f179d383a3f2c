"""How low can pre-rollout selection push the zero-variance share on first visits? A ceiling study.

Measures every training prompt's pass rate with the world's starting model (``--samples``
completions each at temperature 1), then simulates the predictive frontier's choice: draw a
window of ``window_factor`` x 8 prompts at random, keep the 8 whose predicted P(signal in G) is
highest, and count the expected share of zero-variance groups (p^G + (1-p)^G, averaged over the
chosen prompts). The predictors compared, from least to most knowledge:

- ``none``: no selection (plain TRL's share);
- ``skill``: the skill's mean pass rate (the best a skill-pooled prior can know on a first visit);
- ``hidden``: ridge regression on the policy's last hidden state at the prompt's last token (the
  trainer's feature, `curricula.models.last_prompt_hidden_states`) plus the skill,
  cross-validated in 5 folds (what the feature model could learn);
- ``oracle``: the prompt's own measured pass rate (what history gives after visits).

    python scripts/selection_ceiling.py [--world accident] [--n-per-skill 300] [--windows 3 6 10]
"""

# The measurement and the table live in `rlvr.benchmarks.ceiling`.
from __future__ import annotations

from rlvr.benchmarks.ceiling import main

if __name__ == "__main__":
    main(description=__doc__)
