"""Student-compatibility scores and decision rules (curricula.compat, curricula.likelihood)."""

import math
import random

import pytest
import torch

from curricula.compat import (
    CompatConfig,
    Profile,
    build_profile,
    decide,
    output_row,
    quantile,
    score_pairs,
)
from curricula.likelihood import StudentLikelihood
from rlvr.toy.compat import refine_examples, sft_batch, worked_chain
from rlvr.toy.tokenizer import build_tokenizer

REVERSE = "{response}\nGuess the instruction: "


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def model(tiny_llama, tokenizer):
    return tiny_llama(tokenizer, heads=2, max_positions=96).eval()


def direct_mean_nll(model, tokenizer, context, target, eos):
    """Reference: one example, no batching, the model's own loss over the target tokens."""
    context_ids = tokenizer(context)["input_ids"] if context is not None else [tokenizer.bos_token_id]
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if eos else [])
    input_ids = torch.tensor([context_ids + target_ids])
    labels = torch.tensor([[-100] * len(context_ids) + target_ids])
    with torch.no_grad():
        return model(input_ids=input_ids, labels=labels).loss.item()


PAIRS = [("23+45=", "68"), ("copy:ab=", "ab"), ("7*45=", "7*40=280,7*5=35,280+35=315"), ("3+4=", "7")]


def test_scores_match_a_direct_per_example_computation(model, tokenizer):
    likelihood = StudentLikelihood(model, tokenizer, batch_size=3)
    scores = score_pairs(likelihood, CompatConfig(reverse_template=REVERSE), PAIRS)
    for (prompt, response), s in zip(PAIRS, scores):
        a_given_q = direct_mean_nll(model, tokenizer, prompt, response, eos=True)
        a_alone = direct_mean_nll(model, tokenizer, None, response, eos=True)
        q_given_a = direct_mean_nll(model, tokenizer, REVERSE.format(response=response), prompt, eos=False)
        q_alone = direct_mean_nll(model, tokenizer, None, prompt, eos=False)
        assert s.nll == pytest.approx(a_given_q, rel=1e-5)
        assert s.ppl_a_given_q == pytest.approx(math.exp(a_given_q), rel=1e-5)
        assert s.ppl_a == pytest.approx(math.exp(a_alone), rel=1e-5)
        assert s.ifd == pytest.approx(math.exp(a_given_q) / math.exp(a_alone), rel=1e-5)
        assert s.ppl_q_given_a == pytest.approx(math.exp(q_given_a), rel=1e-5)
        assert s.ppl_q == pytest.approx(math.exp(q_alone), rel=1e-5)
        assert s.rifd == pytest.approx(math.exp(q_given_a) / math.exp(q_alone), rel=1e-5)
        assert s.response_tokens == len(response) + 1  # one token per character, plus EOS
    # A random model is near-uniform over the ~90 symbols: PPL close to the vocabulary size.
    assert 40 < scores[0].ppl_a_given_q < 200


def test_padding_and_batch_size_do_not_change_scores(model, tokenizer):
    rng = random.Random(0)
    pairs = PAIRS + [(f"{rng.randint(100, 999)}*{rng.randint(100, 999)}=", "1" * rng.randint(1, 40)) for _ in range(9)]
    reference = score_pairs(StudentLikelihood(model, tokenizer, batch_size=1), CompatConfig(), pairs)
    for batch_size in (2, 5, 64):
        other = score_pairs(StudentLikelihood(model, tokenizer, batch_size=batch_size), CompatConfig(), pairs)
        for a, b in zip(reference, other):
            assert b.nll == pytest.approx(a.nll, abs=1e-5)
            assert b.ifd == pytest.approx(a.ifd, rel=1e-5)
            assert b.rifd == pytest.approx(a.rifd, rel=1e-5)
    # Scored alone or next to a sequence 10x longer (so with many pads): the same number.
    short = ("3+4=", "7")
    alone = score_pairs(StudentLikelihood(model, tokenizer, batch_size=8), CompatConfig(), [short])[0]
    padded = score_pairs(
        StudentLikelihood(model, tokenizer, batch_size=8),
        CompatConfig(),
        [short, ("copy:abcde=", "a,b,c,d,e=abcde" * 3)],
    )[0]
    assert padded.nll == pytest.approx(alone.nll, abs=1e-6)


def test_truncation_keeps_the_prefix_and_the_nearest_context_and_flags_it(model, tokenizer):
    likelihood = StudentLikelihood(model, tokenizer, max_length=8)
    pair = likelihood.encode("123*456=", "56088", append_eos=True)  # 1 + 8 + 6 = 15 tokens
    assert pair.truncated and len(pair.input_ids) == 8
    assert pair.input_ids[0] == tokenizer.bos_token_id
    assert tokenizer.decode(pair.input_ids[1 : pair.n_context]) == "="  # nearest the target
    assert tokenizer.decode(pair.input_ids[pair.n_context :], skip_special_tokens=False) == "56088<eos>"
    fits = likelihood.encode("1+2=", "3", append_eos=True)
    assert not fits.truncated and fits.n_target == 2
    [scores] = score_pairs(likelihood, CompatConfig(), [("123*456=", "56088")])
    assert scores.truncated and scores.response_tokens == 6


def test_quantile_matches_numpy_linear_interpolation():
    import numpy as np

    values = [random.Random(1).uniform(0, 5) for _ in range(37)]
    for q in (0.1, 0.5, 0.9, 1.0):
        assert quantile(values, q) == pytest.approx(float(np.quantile(values, q)))


# ------------------------------------------------------------------------------------------------
# Decision rules on records with known numbers


def scores(nll, ifd=0.5, rifd=0.5):
    return {
        "nll": nll,
        "ifd": ifd,
        "rifd": rifd,
        "ppl_a_given_q": math.exp(nll),
        "ppl_a": math.exp(nll) / ifd,
        "ppl_q_given_a": 3.0 * rifd,
        "ppl_q": 3.0,
        "response_tokens": 3,
        "truncated": False,
    }


def record(refined, original=None, skill="add2", rid="r1"):
    return {
        "id": rid,
        "row": 0,
        "status": "scored",
        "prompt": "37+45=",
        "response": "82",
        "original_prompt": "37+45=",
        "original_response": "81" if original else None,
        "answer": "82",
        "columns": {"skill": skill},
        "prompt_hash": "h",
        "refined": refined,
        "original": original,
    }


PROFILE = Profile(quantile=0.9, threshold=1.7, size=100)


def test_past_frontier_is_dropped_with_the_numbers_in_the_message():
    d = decide(record(scores(2.9)), CompatConfig(), PROFILE)
    assert (d.filter, d.decision, d.reason) == ("compat", "dropped", "past_frontier")
    assert d.message == "refined answer past frontier: NLL 2.90 > p90 of student's own samples 1.70"
    assert d.stats["frontier_nll"] == 1.7 and d.stats["profile_size"] == 100 and d.stats["failed"] == ["past_frontier"]
    assert d.columns == {"skill": "add2"} and d.prompt_id == "r1"


def test_ifd_and_rifd_rules_and_first_failure_wins():
    d = decide(record(scores(1.0, ifd=1.3)), CompatConfig(), PROFILE)
    assert d.reason == "ifd_ge_1" and d.message.startswith("refined answer has IFD 1.30 >= 1")
    d = decide(record(scores(1.0, rifd=1.05)), CompatConfig(), PROFILE)
    assert d.reason == "rifd_ge_1" and "r-IFD 1.05 >= 1" in d.message
    d = decide(record(scores(2.0, ifd=1.3, rifd=1.2)), CompatConfig(), PROFILE)
    assert d.reason == "past_frontier" and d.stats["failed"] == ["past_frontier", "ifd_ge_1", "rifd_ge_1"]
    assert d.message.endswith("; also ifd_ge_1, rifd_ge_1")
    # Only the rules asked for run: without the frontier no profile is needed.
    d = decide(record(scores(9.0)), CompatConfig(rules=["ifd_lt_1"]), None)
    assert d.decision == "kept" and d.reason == "compatible"
    with pytest.raises(ValueError, match="needs the student's profile"):
        decide(record(scores(1.0)), CompatConfig(), None)


def test_original_is_preferred_when_its_rifd_is_lower_and_then_judged_itself():
    refined, original = scores(1.0, rifd=0.9), scores(1.2, rifd=0.6)
    rec = record(refined, original)
    d = decide(rec, CompatConfig(), PROFILE)
    assert (d.decision, d.reason, d.stats["chosen"]) == ("kept", "original_preferred", "original")
    assert d.message == "original answer preferred: r-IFD 0.60 < refined 0.90; kept with NLL 1.20"
    row = output_row(rec, d)
    assert row == {
        "skill": "add2",
        "id": "r1",
        "prompt": "37+45=",
        "answer": "82",
        "completion": "81",
        "chosen": "original",
    }
    # The original must pass the frontier too.
    d = decide(record(refined, scores(2.5, rifd=0.6)), CompatConfig(), PROFILE)
    assert d.reason == "past_frontier" and d.message.startswith("original answer past frontier: NLL 2.50")
    # A lower r-IFD of the refined answer (or a tie) keeps the refinement.
    d = decide(record(scores(1.0, rifd=0.6), scores(1.0, rifd=0.6)), CompatConfig(), PROFILE)
    assert d.reason == "compatible" and d.stats["chosen"] == "refined"
    # Without select_by_rifd the refined answer is judged whatever the original's scores.
    d = decide(rec, CompatConfig(rules=["frontier", "ifd_lt_1", "rifd_lt_1"]), PROFILE)
    assert d.reason == "compatible"


def test_profile_by_group_with_fallback_to_the_global_threshold():
    config = CompatConfig(profile_by="skill", min_profile_size=3)
    values = [("add1", 0.1), ("add1", 0.2), ("add1", 0.3), ("mul3x3", 2.0)]
    profile = build_profile(values, config)
    assert profile.groups == {"add1": (pytest.approx(0.28), 3)}  # mul3x3 has too few rows
    assert profile.threshold == pytest.approx(quantile([0.1, 0.2, 0.3, 2.0], 0.9))
    d = decide(record(scores(0.5), skill="add1"), config, profile)
    assert d.reason == "past_frontier" and d.stats["profile_scope"] == "skill=add1"
    d = decide(record(scores(0.5), skill="mul3x3"), config, profile)
    assert d.reason == "compatible" and d.stats["profile_scope"] == "all"
    with pytest.raises(ValueError, match="min_profile_size"):
        build_profile(values[:2], config)


def test_config_validation_names_the_key():
    with pytest.raises(ValueError, match="Did you mean 'frontier'"):
        CompatConfig(rules=["fronteir"])
    with pytest.raises(ValueError, match="Did you mean 'quantile'"):
        CompatConfig.from_dict({"quantil": 0.8})
    with pytest.raises(ValueError, match="unknown column"):
        CompatConfig(columns={"question": "q"})
    with pytest.raises(ValueError, match="quantile must be in"):
        CompatConfig(quantile=0.0)


def test_config_values_are_typed_like_every_config(tmp_path):
    """`from_dict` / `from_yaml` use the strict builder of `rewards.config_types`: a wrong type is a
    `ConfigError` naming the key, the value and the type, not a TypeError deep inside."""
    from rewards.config_types import ConfigError

    with pytest.raises(ConfigError) as caught:
        CompatConfig.from_dict({"batch_size": "two"})
    assert str(caught.value) == "compat.batch_size: expected an integer, got 'two'"
    with pytest.raises(ConfigError, match=r"^compat.skip_bad_rows: expected true or false, got 'maybe'$"):
        CompatConfig.from_dict({"skip_bad_rows": "maybe"})
    with pytest.raises(ConfigError, match=r"^compat.columns.response: expected a string, got \['a'\]$"):
        CompatConfig.from_dict({"columns": {"response": ["a"]}})
    with pytest.raises(ConfigError, match=r"^Unknown key 'compat.quantil'. Did you mean 'quantile'\?"):
        CompatConfig.from_dict({"quantil": 0.8})
    config = CompatConfig.from_dict({"quantile": "0.8", "batch_size": 8.0, "rules": "frontier, ifd_lt_1"})
    assert config.quantile == 0.8 and type(config.quantile) is float and config.batch_size == 8
    assert config.rules == ["frontier", "ifd_lt_1"]
    path = tmp_path / "compat.yaml"
    path.write_text("compat:\n  quantile: high\n")
    with pytest.raises(ConfigError) as caught:
        CompatConfig.from_yaml(path)
    assert str(caught.value) == f"compat.quantile: expected a number, got 'high' (in '{path}')"
    path.write_text("compat:\n  quantile: 1e-1\n")  # YAML 1.1 reads 1e-1 as a string
    assert CompatConfig.from_yaml(path, {"seed": "3"}).quantile == 0.1


# ------------------------------------------------------------------------------------------------
# Known toy examples with a student that has learned the toy notation


@pytest.fixture(scope="module")
def trained_student(tiny_llama, tokenizer):
    """A tiny student trained for a few seconds on one-digit addition and copying."""
    from rlvr.toy import make_examples

    model = tiny_llama(tokenizer, seed=1, layers=2, heads=2, max_positions=96).train()
    examples = make_examples("add1", 100, "train") + make_examples("copy", 300, "train")
    pairs = [(ex["prompt"], ex["answer"]) for ex in examples]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    rng = random.Random(0)
    torch.manual_seed(0)
    for _ in range(150):
        loss = model(**sft_batch(tokenizer, rng.sample(pairs, 64))).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_known_toy_examples_kept_and_dropped_for_the_stated_reasons(trained_student, tokenizer, tmp_path):
    from curricula.audit import read_audit
    from curricula.compat.run import run_compat
    from rlvr.toy import make_examples

    rows = refine_examples(make_examples("add1", 24, "train"), past_frontier_share=0.5, original_noise=0.0, seed=3)
    assert {r["style"] for r in rows} == {"compatible", "past_frontier"}
    config = CompatConfig(rules=["frontier", "ifd_lt_1"], chunk_size=16, seed=0)
    result = run_compat(rows, tmp_path, config, student=(trained_student, tokenizer), progress=False)
    decisions = {r["prompt_id"]: r for r in read_audit(tmp_path)}
    assert result.rows == len(rows) == len(decisions)
    for row in rows:
        d = decisions[row["id"]]
        if row["style"] == "past_frontier":  # "3+1+1+1+1=7": correct, not how this student writes
            assert (d["decision"], d["reason"]) == ("dropped", "past_frontier"), (row, d["message"])
            assert d["stats"]["refined_nll"] > d["stats"]["frontier_nll"]
            assert d["message"].startswith("refined answer past frontier: NLL ")
        else:  # "7": the answer in the student's own notation
            assert (d["decision"], d["reason"]) == ("kept", "compatible"), (row, d["message"])
            assert d["stats"]["refined_nll"] <= d["stats"]["frontier_nll"] and d["stats"]["refined_ifd"] < 1.0
    # The profile is the student's own answer to each of these prompts.
    assert result.profile.size == len(rows) and result.profile.source == "generations"
    assert worked_chain("3+4=", "7") == "3+1+1+1+1=7"


def test_a_jsonl_line_of_bad_bytes_or_broken_json_is_one_bad_row_not_a_failed_file(tmp_path):
    # Read the way rlvr.data reads training data (curricula.records.jsonl_lines): a BOM, CRLF, a
    # blank line, a line that is not UTF-8 and a broken line; row numbers are line numbers - 1.
    from curricula.compat.data import BadJson, open_source, validate_row
    from curricula.compat.rules import CompatConfig

    path = tmp_path / "refined.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"prompt": "a", "response": "b"}\r\n'
        b"\n"
        b'{"prompt": "\xff", "response": "c"}\n'
        b'{"prompt": "d", "response": \n'
        b"[1, 2]\n"
        b'{"prompt": "e", "response": "f"}'
    )
    config = CompatConfig()
    rows, source, _ = open_source(str(path), config)
    rows = list(rows)
    assert [index for index, _ in rows] == [0, 2, 3, 4, 5]
    assert rows[0][1] == {"prompt": "a", "response": "b"} and rows[4][1] == {"prompt": "e", "response": "f"}
    assert isinstance(rows[1][1], BadJson) and rows[1][1].error.startswith("not valid UTF-8 (byte b'\\xff'")
    assert isinstance(rows[2][1], BadJson) and rows[2][1].error.startswith("invalid JSON (Expecting value")
    records = [validate_row(i, raw, source, config, set()) for i, raw in rows]
    assert [r["status"] for r in records] == ["ok", "bad", "bad", "bad", "ok"]
    assert [r["problem"] for r in records if r["status"] == "bad"] == ["invalid_json", "invalid_json", "wrong_type"]
    assert records[1]["message"].startswith(f"{source} row 2: not a JSON object (not valid UTF-8")
