"""Gradient influence (`curricula.influence`): fast-path features, exact LESS mode, scores, store.
The offline command line over it: tests/rlvr/test_influence_cli.py."""

import math

import pytest
import torch

from curricula.influence import (
    AdamMoments,
    DenseProjector,
    FeatureConfig,
    FeatureStore,
    GradientFeaturizer,
    TokenSequence,
    adam_precondition,
    collate,
    combine_checkpoints,
    cosine_matrix,
    encode_rows,
    extract_to_store,
    influence_scores,
    less_features,
    policy_gradient_features,
    response_nll,
    select_linear_modules,
    select_top,
    skill_scores,
)
from curricula.influence.batching import sequences_from_grpo_output
from curricula.influence.features import feature_mode
from curricula.influence.policy import Group, group_advantages, group_features
from curricula.influence.projection import KroneckerProjector, random_matrix, split_budget, stable_seed
from curricula.influence.store import StoreMismatch
from rlvr.toy.tasks import make_examples
from rlvr.toy.tokenizer import build_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def model(tiny_llama, tokenizer):
    return tiny_llama(tokenizer)


@pytest.fixture(scope="module")
def rows():
    # Mixed lengths: 1-5 letter copies, 2-digit sums, 3x3-digit products (long answers).
    return make_examples("copy", 4, seed=1) + make_examples("add2", 3, seed=1) + make_examples("mul3x3", 3, seed=1)


def explicit_gradients(model, sequence, modules, pad_id):
    """One example alone: its loss gradient for every chosen weight (the reference)."""
    batch = collate([sequence], pad_id)
    with feature_mode(model):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = response_nll(logits, batch["input_ids"], batch["response_mask"])[0]
        grads = torch.autograd.grad(loss, [m.weight for m in modules.values()])
    return dict(zip(modules, grads))


# ---------------------------------------------------------------------------------------------
# Fast path == projection of explicit per-example gradients


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_fast_features_equal_projected_explicit_gradients(model, tokenizer, rows, batch_size):
    sequences = encode_rows(tokenizer, rows)
    assert len({len(s.input_ids) for s in sequences}) >= 5  # batches really carry padding
    featurizer = GradientFeaturizer(
        model, FeatureConfig(dim=512, batch_size=batch_size), pad_token_id=tokenizer.pad_token_id
    )
    features, losses = featurizer.features(sequences)
    assert features.shape == (len(rows), featurizer.dim)
    for i, sequence in enumerate(sequences):
        grads = explicit_gradients(model, sequence, featurizer.modules, tokenizer.pad_token_id)
        expected = featurizer.projector.project_parameters(grads)
        assert torch.allclose(features[i], expected, rtol=1e-4, atol=1e-6), (i, (features[i] - expected).abs().max())
        assert expected.norm() > 0.01


def test_features_do_not_depend_on_batch_company_or_padding(model, tokenizer, rows):
    sequences = encode_rows(tokenizer, rows)
    featurizer = GradientFeaturizer(model, FeatureConfig(dim=256, batch_size=16), pad_token_id=tokenizer.pad_token_id)
    short = min(sequences, key=lambda s: len(s.input_ids))
    longest = max(sequences, key=lambda s: len(s.input_ids))
    alone, loss_alone = featurizer.batch_features(collate([short], tokenizer.pad_token_id))
    padded, loss_padded = featurizer.batch_features(collate([longest, short, longest], tokenizer.pad_token_id))
    assert len(longest.input_ids) - len(short.input_ids) >= 6
    assert torch.allclose(alone[0], padded[1], rtol=1e-4, atol=1e-6)
    assert torch.allclose(loss_alone[0], loss_padded[1])


def test_fast_features_on_lora_adapters(tiny_llama, tokenizer, rows):
    from peft import LoraConfig, get_peft_model

    base = tiny_llama(tokenizer, seed=3)
    lora = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    featurizer = GradientFeaturizer(lora, FeatureConfig(dim=300, batch_size=4), pad_token_id=tokenizer.pad_token_id)
    assert len(featurizer.modules) == 8 and all(".lora_" in name for name in featurizer.modules)
    # A LoRA "A" has r=4 outputs: that side stays exact, its input side is projected.
    a_name = next(n for n in featurizer.modules if ".lora_A." in n)
    out_side, in_side = featurizer.projector.sides[a_name]
    assert out_side.matrix is None and out_side.dim == 4 and in_side.matrix is not None
    sequences = encode_rows(tokenizer, rows[:5])
    features, _ = featurizer.features(sequences)
    for i, sequence in enumerate(sequences):
        expected = featurizer.projector.project_parameters(
            explicit_gradients(lora, sequence, featurizer.modules, tokenizer.pad_token_id)
        )
        assert torch.allclose(features[i], expected, rtol=1e-4, atol=1e-6)


def test_features_leave_gradients_and_training_mode_alone(tiny_llama, tokenizer, rows):
    model = tiny_llama(tokenizer, seed=4)
    model.train()
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.5)
    GradientFeaturizer(model, FeatureConfig(dim=128)).features(encode_rows(tokenizer, rows[:3]))
    assert model.training
    assert all(torch.equal(p.grad, torch.full_like(p, 0.5)) for p in model.parameters())


def test_default_modules_skip_the_output_embedding(model):
    names = list(select_linear_modules(model))
    assert "lm_head" not in names and len(names) == 2 * 7
    assert list(select_linear_modules(model, ("*.mlp.down_proj",))) == [
        f"model.layers.{i}.mlp.down_proj" for i in range(2)
    ]
    with pytest.raises(ValueError, match="match no linear layer"):
        select_linear_modules(model, ("*.nonexistent",))


# ---------------------------------------------------------------------------------------------
# Projections


def test_projection_is_seeded_and_independent_of_global_rng(model, tokenizer, rows):
    sequences = encode_rows(tokenizer, rows[:4])
    torch.manual_seed(123)
    a, _ = GradientFeaturizer(model, FeatureConfig(dim=512, seed=7)).features(sequences)
    torch.manual_seed(456)
    b, _ = GradientFeaturizer(model, FeatureConfig(dim=512, seed=7)).features(sequences)
    c, _ = GradientFeaturizer(model, FeatureConfig(dim=512, seed=8)).features(sequences)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c, atol=1e-3)
    # Same model, other seed: the geometry survives (cosines agree to within projection noise).
    assert (cosine_matrix(a, a) - cosine_matrix(c, c)).abs().max() < 0.25


def test_rademacher_and_gaussian_matrices():
    r = random_matrix(100, 16, "rademacher", seed=1)
    assert set(torch.unique(r * 4).tolist()) == {-1.0, 1.0}  # entries are +-1/sqrt(16)
    assert torch.equal(r, random_matrix(100, 16, "rademacher", seed=1))
    g = random_matrix(2000, 50, "gaussian", seed=1)
    assert abs(float(g.std()) * math.sqrt(50) - 1.0) < 0.02
    with pytest.raises(ValueError, match="projection kind"):
        random_matrix(2, 2, "sparse", seed=0)
    assert stable_seed(0, "a", "in") == stable_seed(0, "a", "in") != stable_seed(0, "a", "out")


def test_budget_split_fills_about_the_requested_dim():
    shapes = [(128, 128)] * 12 + [(256, 128)] * 6 + [(128, 256)] * 3  # toy Llama layers
    dims = split_budget(shapes, 8192)
    total = sum(o * i for o, i in dims)
    assert 7500 <= total <= 8192
    lora = split_budget([(8, 128), (128, 8)] * 12, 8192)  # LoRA A (r=8 outputs), B (r=8 inputs)
    assert lora[0][0] == 8 and lora[1][1] == 8
    assert 7500 <= sum(o * i for o, i in lora) <= 8192


def test_kronecker_projection_roughly_preserves_norms():
    projector = KroneckerProjector({"w": (128, 256)}, total_dim=4096, seed=0)
    gradients = torch.randn(64, 128, 256, generator=torch.Generator().manual_seed(0))
    ratio = projector.project_gradient("w", gradients).norm(dim=1) / gradients.flatten(1).norm(dim=1)
    assert abs(float(ratio.mean()) - 1.0) < 0.05 and float(ratio.std()) < 0.1


# ---------------------------------------------------------------------------------------------
# Exact LESS mode


def test_less_mode_matches_hand_computation(tiny_llama, tokenizer, rows):
    model = tiny_llama(tokenizer, seed=5)
    modules = select_linear_modules(model, ("*.0.self_attn.q_proj", "*.1.mlp.down_proj"))
    weights = [m.weight for m in modules.values()]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.8, 0.95), eps=1e-6)
    sequences = encode_rows(tokenizer, rows)
    for _ in range(2):  # real Adam moments
        optimizer.zero_grad()
        batch = collate(sequences, tokenizer.pad_token_id)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        response_nll(logits, batch["input_ids"], batch["response_mask"]).mean().backward()
        optimizer.step()
    adam = AdamMoments.from_optimizer(optimizer, weights)
    assert (adam.beta1, adam.beta2, adam.eps) == (0.8, 0.95, 1e-6)
    input_dim = sum(w.numel() for w in weights)
    projector = DenseProjector(input_dim, dim=64, seed=3, block_rows=1000)
    features = less_features(model, sequences[:3], modules, projector, adam, pad_token_id=tokenizer.pad_token_id)

    dense = torch.cat(
        [
            random_matrix(min(1000, input_dim - s), 64, "rademacher", stable_seed(3, "dense", b))
            for b, s in enumerate(range(0, input_dim, 1000))
        ]
    )
    m = torch.cat([optimizer.state[w]["exp_avg"].flatten() for w in weights])
    v = torch.cat([optimizer.state[w]["exp_avg_sq"].flatten() for w in weights])
    for i, sequence in enumerate(sequences[:3]):
        g = torch.cat(
            [x.flatten() for x in explicit_gradients(model, sequence, modules, tokenizer.pad_token_id).values()]
        )
        by_hand = (0.8 * m + 0.2 * g) / torch.sqrt(0.95 * v + 0.05 * g * g + 1e-6)
        assert torch.allclose(features[i], by_hand @ dense, rtol=1e-4, atol=1e-4)
    assert torch.allclose(
        adam_precondition(torch.tensor([2.0]), torch.tensor([1.0]), torch.tensor([4.0]), 0.5, 0.5, 0.0),
        torch.tensor([1.5 / math.sqrt(4.0)]),
    )


def test_less_mode_with_the_fast_projection_equals_the_fast_path(model, tokenizer, rows):
    featurizer = GradientFeaturizer(model, FeatureConfig(dim=400, batch_size=5), pad_token_id=tokenizer.pad_token_id)
    sequences = encode_rows(tokenizer, rows)
    fast, _ = featurizer.features(sequences)
    exact = less_features(
        model, sequences, featurizer.modules, featurizer.projector, pad_token_id=tokenizer.pad_token_id
    )
    assert torch.allclose(fast, exact, rtol=1e-4, atol=1e-6)


def test_factored_adam_preconditioning_in_the_fast_path(tiny_llama, tokenizer, rows):
    model = tiny_llama(tokenizer, seed=8)
    featurizer = GradientFeaturizer(model, FeatureConfig(dim=300, batch_size=4), pad_token_id=tokenizer.pad_token_id)
    plain_projector = featurizer.projector
    generator = torch.Generator().manual_seed(0)
    # Rank-one second moments: then the factored form is exact, G / sqrt(v) elementwise.
    second = {
        name: torch.outer(torch.rand(o, generator=generator) + 0.1, torch.rand(i, generator=generator) + 0.1)
        for name, (o, i) in plain_projector.shapes.items()
    }
    featurizer.precondition(second)
    assert featurizer.projector.describe()["preconditioner"] == "adafactor"
    assert plain_projector.preconditioner is None  # the plain projector (targets) is untouched
    sequences = encode_rows(tokenizer, rows[:4])
    features, _ = featurizer.features(sequences)
    for i, sequence in enumerate(sequences):
        grads = explicit_gradients(model, sequence, featurizer.modules, tokenizer.pad_token_id)
        expected = plain_projector.project_parameters({n: g / second[n].sqrt() for n, g in grads.items()})
        assert torch.allclose(features[i], expected, rtol=1e-4, atol=1e-5)


def test_adam_moments_from_a_trainer_checkpoint(tiny_llama, tmp_path, tokenizer, rows):
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    model = tiny_llama(tokenizer, seed=6)
    sequences = encode_rows(tokenizer, rows)

    def features(i):
        ids = sequences[i].input_ids
        labels = [-100] * sequences[i].response_start + ids[sequences[i].response_start :]
        return {"input_ids": ids, "labels": labels}

    data = Dataset.from_list([features(i) for i in range(len(sequences))])
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=1,
        save_steps=2,
        use_cpu=True,
        report_to=[],
        learning_rate=1e-3,
        logging_strategy="no",
    )
    trainer = Trainer(model=model, args=args, train_dataset=data)
    trainer.train()
    modules = select_linear_modules(model, ("*.0.mlp.up_proj", "*.1.self_attn.o_proj"))
    weights = [m.weight for m in modules.values()]
    loaded = AdamMoments.from_trainer_checkpoint(model, tmp_path / "checkpoint-2", weights)
    live = AdamMoments.from_optimizer(trainer.optimizer, weights)
    assert torch.equal(loaded.exp_avg, live.exp_avg) and torch.equal(loaded.exp_avg_sq, live.exp_avg_sq)
    assert loaded.exp_avg.abs().sum() > 0


# ---------------------------------------------------------------------------------------------
# Policy-gradient (GRPO group) features


def test_group_feature_is_the_advantage_weighted_gradient(model, tokenizer):
    featurizer = GradientFeaturizer(model, FeatureConfig(dim=256, batch_size=3), pad_token_id=tokenizer.pad_token_id)
    row = {"prompt": "12+34=", "answer": "46"}
    ids = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]  # noqa: E731
    groups = [
        Group(row, [ids("46"), ids("47"), ids("4"), ids("46")], [1.0, 0.0, 0.0, 1.0]),
        Group(row, [ids("1"), ids("2")], [0.0, 0.0]),
    ]  # zero variance: no signal
    features = group_features(featurizer, tokenizer, groups)
    assert features.shape == (2, featurizer.dim) and torch.equal(features[1], torch.zeros(featurizer.dim))

    advantages = group_advantages([1.0, 0.0, 0.0, 1.0])
    assert torch.allclose(advantages, torch.tensor([0.5, -0.5, -0.5, 0.5]) / (math.sqrt(1 / 3) + 1e-4))
    prompt = tokenizer("12+34=")["input_ids"]
    expected = 0
    for completion, a in zip(groups[0].completion_ids, advantages):
        grads = explicit_gradients(
            model, TokenSequence(prompt + completion, len(prompt)), featurizer.modules, tokenizer.pad_token_id
        )
        expected = expected + a / 4 * featurizer.projector.project_parameters(grads)
    assert torch.allclose(features[0], expected, rtol=1e-4, atol=1e-6)


def test_policy_gradient_features_pure():
    rows = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    out = policy_gradient_features(rows, torch.tensor([1.0, -1.0, 3.0]), torch.tensor([0, 0, 1]), 2)
    assert torch.allclose(out, torch.tensor([[0.5, -0.5], [6.0, 6.0]]))


def test_grpo_output_rows_are_repacked_without_padding(model, tokenizer):
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    p1, p2 = tokenizer("7+8=")["input_ids"], tokenizer("12+34=")["input_ids"]
    c1, c2 = tokenizer("15", add_special_tokens=False)["input_ids"] + [eos], [tokenizer.convert_tokens_to_ids("4")]
    width = max(len(p1), len(p2))
    output = {  # TRL's layout: prompts left-padded, completions right-padded, tokens after EOS masked
        "prompt_ids": torch.tensor([[pad] * (width - len(p1)) + p1, [pad] * (width - len(p2)) + p2]),
        "prompt_mask": torch.tensor([[0] * (width - len(p1)) + [1] * len(p1), [1] * len(p2)]),
        "completion_ids": torch.tensor([c1 + [pad, pad], c2 + [eos, pad, pad, pad]]),
        "completion_mask": torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]]),
    }
    sequences = sequences_from_grpo_output(output)
    assert [s.input_ids for s in sequences] == [p1 + c1, p2 + c2]
    assert [s.response_start for s in sequences] == [len(p1), len(p2)]


# ---------------------------------------------------------------------------------------------
# Scores


def test_less_aggregation_mean_over_targets_then_max_over_skills():
    train = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    targets = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, -3.0]])
    cos = cosine_matrix(train, targets)
    s = 1 / math.sqrt(2)
    assert torch.allclose(cos, torch.tensor([[1.0, s, 0.0], [0.0, s, -1.0], [0.0, 0.0, 0.0]]))
    per_skill, skills = skill_scores(cos, ["add2", "add2", "copy"])
    assert skills == ["add2", "copy"]
    assert torch.allclose(per_skill, torch.tensor([[(1 + s) / 2, 0.0], [s / 2, -1.0], [0.0, 0.0]]))
    scores = influence_scores(
        [train, train], [targets, -targets], ["add2", "add2", "copy"], checkpoint_weights=[0.75, 0.25]
    )
    # Checkpoint 2's targets are flipped: every cosine changes sign, weighted 0.25.
    assert torch.allclose(scores.per_skill, 0.5 * per_skill)
    assert torch.allclose(scores.score, torch.tensor([(1 + s) / 4, s / 4, 0.0]))
    mean = influence_scores([train], [targets], ["add2", "add2", "copy"], aggregate="mean")
    assert torch.allclose(mean.score, per_skill.mean(1))
    assert torch.allclose(combine_checkpoints([per_skill]), per_skill)


def test_select_top_fraction_count_and_ties():
    scores = torch.tensor([0.1, 0.5, 0.5, -0.2, 0.3])
    assert select_top(scores, count=3).tolist() == [1, 2, 4]
    assert select_top(scores, fraction=0.4).tolist() == [1, 2]
    assert select_top(scores, fraction=0.01).tolist() == [1]
    with pytest.raises(ValueError):
        select_top(scores)


# ---------------------------------------------------------------------------------------------
# Store


def test_store_resumes_after_a_kill_and_refuses_other_features(tmp_path):
    rows = [{"id": f"r{i}", "skill": "add2" if i % 2 else "copy"} for i in range(10)]
    full = torch.randn(10, 48, generator=torch.Generator().manual_seed(0))
    full[3] = 0  # a zero feature stays zero
    calls = []

    def compute(shard, fail_at=None):
        calls.append([r["id"] for r in shard])
        if fail_at is not None and shard[0]["id"] == fail_at:
            raise KeyboardInterrupt
        index = [int(r["id"][1:]) for r in shard]
        return full[index], torch.tensor(index, dtype=torch.float32)

    meta = {"fingerprint": "abc", "projection": {"seed": 0}, "checkpoint": "ckpt", "kind": "nll"}
    with pytest.raises(KeyboardInterrupt):
        extract_to_store(tmp_path / "s", rows, 48, meta, lambda s: compute(s, fail_at="r8"), shard_rows=4)
    assert FeatureStore(tmp_path / "s").rows_done == 8
    calls.clear()
    store = extract_to_store(tmp_path / "s", rows, 48, meta, compute, shard_rows=4)
    assert calls == [["r8", "r9"]]  # only the unfinished shard was recomputed
    assert store.complete and store.bytes_per_row() == 48 * 2 + 8
    unit = full / full.norm(dim=1, keepdim=True).clamp(min=1e-30)
    assert torch.allclose(store.features(), unit, atol=1e-3)
    assert torch.allclose(store.norms(), full.norm(dim=1))
    assert store.losses().tolist() == list(range(10))
    chunks = list(store.iter_chunks(chunk_rows=3))
    assert [s for s, _ in chunks] == [0, 3, 6, 9] and torch.equal(torch.cat([c for _, c in chunks]), store.features())
    assert [r["skill"] for r in store.row_info()][:2] == ["copy", "add2"]
    with pytest.raises(StoreMismatch, match="projection"):
        extract_to_store(tmp_path / "s", rows, 48, {**meta, "projection": {"seed": 1}}, compute)
    with pytest.raises(StoreMismatch, match="ids_hash"):
        extract_to_store(tmp_path / "s", rows[::-1], 48, meta, compute)
    with pytest.raises(RuntimeError, match="only 0 of 10"):
        FeatureStore.create(tmp_path / "t", rows, 48, meta).features(0, 1)


# ---------------------------------------------------------------------------------------------
# Ranking on the toy world


def add2_and_copy_scores(model, tok, dim=2048):
    """LESS scores (projected and exact) of 16 add2 then 16 copy training examples against add2 targets."""
    featurizer = GradientFeaturizer(model, FeatureConfig(dim=dim, batch_size=32), pad_token_id=tok.pad_token_id)
    train = make_examples("add2", 16, "train", seed=2) + make_examples("copy", 16, "train", seed=2)
    targets = make_examples("add2", 8, "eval", seed=2)
    projected = influence_scores(
        [featurizer.features(encode_rows(tok, train))[0]],
        [featurizer.features(encode_rows(tok, targets))[0]],
        ["add2"] * 8,
    ).score

    def full_gradients(rows):  # unprojected per-example gradients of the same layers
        return torch.stack(
            [
                torch.cat(
                    [g.flatten() for g in explicit_gradients(model, s, featurizer.modules, tok.pad_token_id).values()]
                )
                for s in encode_rows(tok, rows)
            ]
        )

    exact = influence_scores([full_gradients(train)], [full_gradients(targets)], ["add2"] * 8).score
    return projected, exact


def assert_projection_preserves_ranking(projected, exact):
    assert torch.corrcoef(torch.stack([projected, exact]))[0, 1] > 0.85
    top, top_exact = set(select_top(projected, count=16).tolist()), set(select_top(exact, count=16).tolist())
    assert len(top & top_exact) >= 12


def test_add2_examples_score_higher_against_add2_than_copy_examples(tokenizer):
    from rlvr.toy.model import build_model

    projected, exact = add2_and_copy_scores(build_model(tokenizer, seed=0), tokenizer)  # toy-sized, untrained
    for scores in (projected, exact):
        assert scores[:16].mean() > scores[16:].mean() + 0.1, scores
    assert sum(i < 16 for i in select_top(projected, count=16).tolist()) >= 13  # top half: (almost) all add2
    assert_projection_preserves_ranking(projected, exact)


def test_related_examples_pull_harder_on_the_warm_toy_world(toy_world_path):
    """On the warmed-up toy world, add2 examples' gradients are idiosyncratic (nearly orthogonal to
    each other), so their mean cosine with add2 targets has no reliable sign; relatedness shows in
    its size, several times that of copy examples, and projection keeps the ranking.

    The scores of near-orthogonal gradients lie close together, so the projection needs LESS's
    own 8192 dimensions to keep the top half (at 2048, 11 of 16 on one warm-up of the world)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(toy_world_path)
    tok = AutoTokenizer.from_pretrained(toy_world_path)
    projected, exact = add2_and_copy_scores(model, tok, dim=8192)
    for scores in (projected, exact):
        assert scores[:16].abs().mean() > 2 * scores[16:].abs().mean(), scores
    assert_projection_preserves_ranking(projected, exact)


def test_store_format_id_survived_the_move_to_curricula():
    """Feature stores written before the library moved to curricula.influence still load."""
    from curricula.influence.store import FORMAT

    assert FORMAT == "rlvr.influence.features/1"
