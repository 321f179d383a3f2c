"""The toy world: tokenizer, skills, tiny model, cached warm-up and its pass-rate spread."""

from __future__ import annotations

import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlvr import toy
from rlvr.toy import (
    SKILLS,
    build_model,
    build_tokenizer,
    build_toy_world,
    format_pass_rate_table,
    load_pass_rates,
    make_examples,
    measure_pass_rates,
    split_of,
    toy_dataset,
)
from rlvr.toy import world as toy_world_module
from rlvr.toy.tasks import prompt_space
from rlvr.toy.tokenizer import CHARS


# Session fixture, as in conftest.py: the shipped world (RLVR_TOY_WORLD=built: built into the
# cache, ~1-2 min on 2 cores once per recipe, then reused).
@pytest.fixture(scope="session")
def toy_world_path():
    return build_toy_world(progress=False)


@pytest.fixture(scope="session")
def toy_model_and_tokenizer(toy_world_path):
    model = AutoModelForCausalLM.from_pretrained(toy_world_path)
    tokenizer = AutoTokenizer.from_pretrained(toy_world_path)
    return model, tokenizer


def _expected_answer(ex: dict) -> str:
    prompt = ex["prompt"]
    if ex["skill"] == "copy":
        assert prompt.startswith("copy:") and prompt.endswith("=")
        return prompt[len("copy:") : -1]
    assert prompt.endswith("=")
    return str(eval(prompt[:-1], {"__builtins__": {}}))  # digits and one operator only


# --- tokenizer -------------------------------------------------------------------------------


def test_tokenizer_round_trip():
    tok = build_tokenizer()
    texts = ["copy:abc=", "37+45=", "9*12=", CHARS, "a b\nc ", "x=?:"]
    for text in texts:
        ids = tok(text)["input_ids"]
        assert ids[0] == tok.bos_token_id
        assert len(ids) == len(text) + 1  # one token per character, after <bos>
        assert tok.decode(ids, skip_special_tokens=True) == text
    assert tok.unk_token_id in tok("~")["input_ids"]
    assert len({tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id}) == 4
    assert tok.decode([tok.convert_tokens_to_ids("7"), tok.eos_token_id], skip_special_tokens=True) == "7"


def test_tokenizer_left_padding_and_save_load(tmp_path):
    tok = build_tokenizer()
    assert tok.padding_side == "left"
    enc = tok(["1+2=", "copy:abcde="], padding=True, return_tensors="pt")
    short, long = enc["input_ids"]
    n_pad = len("copy:abcde=") - len("1+2=")
    assert short[:n_pad].tolist() == [tok.pad_token_id] * n_pad
    assert short[n_pad] == tok.bos_token_id and long[0] == tok.bos_token_id
    assert enc["attention_mask"][0].tolist() == [0] * n_pad + [1] * (len(short) - n_pad)

    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.padding_side == "left"
    assert loaded("copy:xyz=")["input_ids"] == tok("copy:xyz=")["input_ids"]
    for name in ("pad_token_id", "bos_token_id", "eos_token_id", "unk_token_id"):
        assert getattr(loaded, name) == getattr(tok, name)


# --- skills ----------------------------------------------------------------------------------


@pytest.mark.parametrize("skill", SKILLS)
def test_make_examples_deterministic_and_correct(skill):
    a = make_examples(skill, 50, "train", seed=3)
    assert a == make_examples(skill, 50, "train", seed=3)
    assert len(a) == 50
    assert make_examples(skill, 50, "train", seed=4) != a
    for ex in a + make_examples(skill, 20, "eval", seed=3):
        assert set(ex) == {"id", "prompt", "answer", "skill"}
        assert ex["skill"] == skill and ex["id"].startswith(f"{skill}-")
        assert ex["answer"] == _expected_answer(ex)
        assert len(ex["prompt"]) <= 16 and 1 <= len(ex["answer"]) <= 7  # + EOS <= 8 new tokens
        assert ex["answer"] == ex["answer"].strip()


@pytest.mark.parametrize("skill", SKILLS)
def test_train_and_eval_never_share_a_prompt(skill):
    train = {ex["prompt"] for ex in make_examples(skill, 2000, "train", seed=0)}
    evals = {ex["prompt"] for ex in make_examples(skill, 600, "eval", seed=0)}
    assert train and evals and not train & evals
    assert all(split_of(p) == "train" for p in train) and all(split_of(p) == "eval" for p in evals)
    if prompt_space(skill, "train") is not None:  # small spaces: the splits partition the space
        full = {p for split in ("train", "eval") for p, _ in prompt_space(skill, split)}
        assert len(full) == len(prompt_space(skill, "train")) + len(prompt_space(skill, "eval"))


def test_small_space_caps_n():
    evals = make_examples("add1", 1000, "eval")
    assert 10 <= len(evals) < 50  # about a quarter of the 100 add1 prompts
    assert len({ex["prompt"] for ex in evals}) == len(evals)


def test_ids_unique_and_stable():
    ds = {split: toy_dataset(split, n_per_skill=200, seed=0) for split in ("train", "eval")}
    assert ds["train"].column_names == ["id", "prompt", "answer", "skill"]
    ids = list(ds["train"]["id"]) + list(ds["eval"]["id"])
    assert len(ids) == len(set(ids))
    assert set(ds["train"]["skill"]) == set(SKILLS)
    # The id is a function of the prompt: another seed gives the same id to the same prompt.
    other = {ex["prompt"]: ex["id"] for ex in make_examples("add2", 3000, "train", seed=9)}
    for ex in make_examples("add2", 50, "train", seed=0):
        if ex["prompt"] in other:
            assert other[ex["prompt"]] == ex["id"]
    assert list(toy_dataset("eval", n_per_skill=5, skills=["sub"])["skill"]) == ["sub"] * 5


# --- model -----------------------------------------------------------------------------------


def test_model_is_tiny_and_matches_tokenizer():
    tok = build_tokenizer()
    model = build_model(tok, seed=0)
    n_params = sum(p.numel() for p in model.parameters())
    assert 100_000 < n_params < 1_000_000
    assert model.config.vocab_size == len(tok)
    gc = model.generation_config
    assert (gc.eos_token_id, gc.pad_token_id, gc.bos_token_id) == (
        tok.eos_token_id, tok.pad_token_id, tok.bos_token_id,
    )  # fmt: skip
    again = build_model(tok, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), again.parameters()))


def test_warmup_is_deterministic():
    tok = build_tokenizer()
    recipe = dict(toy.WARMUP_RECIPE, steps=6, batch_size=8, warmup_steps=2, probe_every=3,
                  probe_prompts=4)  # fmt: skip
    models = [build_model(tok, seed=1) for _ in range(2)]
    logs = [toy.warmup(m, tok, recipe, seed=1, progress=False) for m in models]
    assert logs[0]["final_loss"] == logs[1]["final_loss"]
    assert all(torch.equal(p, q) for p, q in zip(models[0].parameters(), models[1].parameters()))


def test_measure_pass_rates_is_seeded_and_tabulated():
    tok = build_tokenizer()
    model = build_model(tok, seed=0)
    examples = make_examples("add1", 4, "eval") + make_examples("copy", 3, "eval")
    rates = [measure_pass_rates(model, tok, examples, samples_per_prompt=2, seed=5) for _ in "ab"]
    assert rates[0] == rates[1] and list(rates[0]) == ["copy", "add1"]
    assert rates[0].n_prompts == {"copy": 3, "add1": 4} and rates[0].samples_per_prompt == 2
    table = format_pass_rate_table(rates[0])
    header = [cell.strip() for cell in table.splitlines()[0].split("|")]
    assert header == ["skill", "pass rate", "n prompts", "samples"]
    assert "add1" in table and " 8" in table  # 4 prompts x 2 samples


# --- the built world -------------------------------------------------------------------------


def test_saved_world_loads(toy_world_path, toy_model_and_tokenizer):
    model, tok = toy_model_and_tokenizer
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    assert tok.padding_side == "left"
    assert model.generation_config.eos_token_id == tok.eos_token_id
    assert model.generation_config.pad_token_id == tok.pad_token_id
    stored = json.loads((toy_world_path / "pass_rates.json").read_text())
    assert list(stored["pass_rates"]) == list(SKILLS)
    assert load_pass_rates(toy_world_path) == stored["pass_rates"]
    enc = tok(["copy:hello=", "2+3="], return_tensors="pt", padding=True)
    out = model.generate(**enc, do_sample=False, max_new_tokens=8)
    texts = tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    assert texts[0] == "hello"  # copy is the easy skill


def test_pass_rate_spread(toy_world_path, toy_model_and_tokenizer):
    """Measured anew from the saved model: easy, middling and hopeless skills all exist."""
    model, tok = toy_model_and_tokenizer
    rates = toy.measure_world(model, tok)
    print("\n" + format_pass_rate_table(rates))
    assert max(rates.values()) >= 0.8
    assert any(0.2 <= r <= 0.6 for r in rates.values())
    assert min(rates.values()) <= 0.05
    assert rates["copy"] >= 0.8 and rates["mul3x3"] <= 0.05
    stored = load_pass_rates(toy_world_path)
    assert all(abs(rates[s] - stored[s]) < 0.05 for s in SKILLS)


def test_cache_is_reused(tmp_path, monkeypatch):
    monkeypatch.setattr(toy_world_module, "_build_into", _fake_build)
    path = build_toy_world(tmp_path, seed=0, progress=False, source="built")
    weights = path / "model.safetensors"
    mtime = weights.stat().st_mtime_ns
    monkeypatch.setattr(toy_world_module, "_build_into", _no_build)
    start = time.perf_counter()
    assert build_toy_world(tmp_path, seed=0, progress=False, source="built") == path
    assert time.perf_counter() - start < 10
    assert weights.stat().st_mtime_ns == mtime


def _fake_build(out, seed, progress, world=None):
    (out / "model.safetensors").write_text("fake")
    (out / "config.json").write_text("{}")
    (out / "tokenizer.json").write_text("{}")
    (out / "toy_world.json").write_text("{}")
    (out / "pass_rates.json").write_text(
        json.dumps({"pass_rates": {"copy": seed}, "n_prompts": {"copy": 1}, "samples_per_prompt": 1})
    )


def test_cache_writes_are_atomic(tmp_path, monkeypatch):
    def killed(out, seed, progress, world=None):
        (out / "model.safetensors").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(toy_world_module, "_build_into", killed)
    with pytest.raises(KeyboardInterrupt):
        build_toy_world(tmp_path, seed=7, progress=False)
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temporary directory

    monkeypatch.setattr(toy_world_module, "_build_into", _fake_build)
    path = build_toy_world(tmp_path, seed=7, progress=False)
    assert path.parent == tmp_path and toy.recipe_hash(7) in path.name
    assert load_pass_rates(path) == {"copy": 7}
    (path / "marker").write_text("old build")
    assert build_toy_world(tmp_path, seed=7, progress=False) == path
    assert (path / "marker").exists()  # cached: not rebuilt
    assert build_toy_world(tmp_path, seed=7, force=True, progress=False) == path
    assert not (path / "marker").exists()  # force: replaced as a whole
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_cache_dir_env_and_recipe_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("RLVR_CACHE", str(tmp_path))
    assert toy.default_cache_dir() == tmp_path
    assert toy.toy_world_dir().parent == tmp_path
    h = toy.recipe_hash(0)
    assert h == toy.recipe_hash(0) and h != toy.recipe_hash(1)
    monkeypatch.setitem(toy.WARMUP_RECIPE, "lr", 123.0)
    assert toy.recipe_hash(0) != h


# --- the shipped world -----------------------------------------------------------------------

# pass_rates.json of the shipped world (recipe 7363080216, seed 0, built 2026-12-02 on an Intel Xeon).
SHIPPED_RATES = {"copy": 0.9560546875, "add1": 0.8863636363636364, "add2": 0.5205078125, "sub": 0.375,
                 "mul1x2": 0.173828125, "mul3x3": 0.0}  # fmt: skip


def _no_build(out, seed, progress, world=None):
    raise AssertionError(f"the toy world was built (seed {seed}) instead of loaded")


def _no_warmup(*args, **kwargs):
    raise AssertionError("the warm-up ran")


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch):
    """A copy of the shipped world that build_toy_world uses instead of the package's."""
    import shutil

    copy = tmp_path / "shipped_world"
    shutil.copytree(toy.SHIPPED_DIR, copy)
    monkeypatch.setattr(toy_world_module, "SHIPPED_DIR", copy)
    return copy


def test_fresh_cache_loads_the_shipped_world_without_building(tmp_path, monkeypatch):
    monkeypatch.setenv("RLVR_CACHE", str(tmp_path))
    monkeypatch.delenv("RLVR_TOY_WORLD", raising=False)
    monkeypatch.setattr(toy_world_module, "_build_into", _no_build)
    monkeypatch.setattr(toy_world_module, "warmup", _no_warmup)
    start = time.perf_counter()
    path = build_toy_world(progress=False)
    assert time.perf_counter() - start < 5
    assert path == toy.SHIPPED_DIR and list(tmp_path.iterdir()) == []  # nothing written to the cache
    manifest = toy.verify_world(path, toy.recipe_hash(0), 0)
    assert manifest["recipe_hash"] == toy.recipe_hash(0) == "7363080216" and manifest["seed"] == 0
    assert sorted(manifest["files"]) == sorted(p.name for p in path.iterdir() if p.name != "manifest.json")
    assert load_pass_rates(path) == SHIPPED_RATES
    assert build_toy_world(progress=False, source="shipped") == path
    model = AutoModelForCausalLM.from_pretrained(path)
    assert sum(p.numel() for p in model.parameters()) < 1_000_000


def test_corrupted_shipped_file_is_an_error_not_a_rebuild(shipped_copy, tmp_path, monkeypatch):
    monkeypatch.setattr(toy_world_module, "_build_into", _no_build)
    assert build_toy_world(tmp_path, progress=False) == shipped_copy  # the intact copy verifies
    weights = shipped_copy / "model.safetensors"
    original = weights.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0x01  # one bit of one weight
    weights.write_bytes(bytes(data))
    for source in ("auto", "shipped"):
        with pytest.raises(toy.ToyWorldError, match=r"model\.safetensors: SHA-256 [0-9a-f]{64} does not match "
                                                    r"2784466768771d148a11"):  # fmt: skip
            build_toy_world(tmp_path, progress=False, source=source)
    weights.write_bytes(original)
    (shipped_copy / "tokenizer.json").unlink()
    with pytest.raises(toy.ToyWorldError, match=r"tokenizer\.json: missing"):
        toy.verify_world(shipped_copy, toy.recipe_hash(0), 0)


def test_recipe_change_warns_and_builds_into_the_cache(shipped_copy, tmp_path, monkeypatch):
    monkeypatch.setitem(toy.WARMUP_RECIPE, "lr", 123.0)
    new_hash = toy.recipe_hash(0)
    assert new_hash != "7363080216"
    built = []
    monkeypatch.setattr(toy_world_module, "_build_into", lambda out, seed, progress, world=None: (built.append(seed),
                                                                                       _fake_build(out, seed, progress)))  # fmt: skip
    cache = tmp_path / "cache"
    with pytest.raises(toy.RecipeMismatchError, match=f"built from recipe 7363080216 .*current code's recipe is "
                                                      f"{new_hash} .*`rlvr toy --rebuild`"):  # fmt: skip
        build_toy_world(cache, progress=False, source="shipped")
    assert built == [] and not cache.exists()
    with pytest.warns(RuntimeWarning, match=f"recipe 7363080216 .*{new_hash}.*built on this machine instead"):
        path = build_toy_world(cache, progress=False)  # auto
    assert built == [0] and path == cache / f"toy-world-seed0-{new_hash}"


def test_source_selection(shipped_copy, tmp_path, monkeypatch):
    import warnings

    monkeypatch.setattr(toy_world_module, "_build_into", _fake_build)
    monkeypatch.setenv("RLVR_TOY_WORLD", "built")
    assert build_toy_world(tmp_path, progress=False) == tmp_path / f"toy-world-seed0-{toy.recipe_hash(0)}"
    assert build_toy_world(tmp_path, progress=False, source="shipped") == shipped_copy  # argument beats env
    monkeypatch.setenv("RLVR_TOY_WORLD", "auto")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only seed 0 is shipped: another seed is built, silently
        assert build_toy_world(tmp_path, seed=7, progress=False).name == f"toy-world-seed7-{toy.recipe_hash(7)}"
    with pytest.raises(toy.RecipeMismatchError, match="seed 0"):
        build_toy_world(tmp_path, seed=7, progress=False, source="shipped")
    monkeypatch.setenv("RLVR_TOY_WORLD", "cached")
    with pytest.raises(toy.ToyWorldError, match="RLVR_TOY_WORLD='cached': .* auto, shipped, built"):
        build_toy_world(tmp_path, progress=False)


def test_rlvr_toy_rebuild_and_force_alias(tmp_path, monkeypatch, capsys):
    from rlvr.cli import main as rlvr_main

    monkeypatch.setenv("RLVR_CACHE", str(tmp_path))
    monkeypatch.setattr(toy_world_module, "_build_into", _fake_build)
    assert rlvr_main(["toy"]) == 0
    assert str(toy.SHIPPED_DIR) in capsys.readouterr().out and list(tmp_path.iterdir()) == []
    for flag in ("--rebuild", "--force"):
        assert rlvr_main(["toy", flag, "--quiet"]) == 0
        out = capsys.readouterr().out
        assert (
            f"toy-world-seed0-{toy.recipe_hash(0)}" in out and "copy  |     0.000 |         1" in out
        )  # the fake build


def test_shipped_world_is_package_data():
    import fnmatch
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(toy.__file__).parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["rlvr.toy"]
    files = [f"shipped_world/{p.name}" for p in toy.SHIPPED_DIR.iterdir()]
    assert len(files) == 8 and sum(p.stat().st_size for p in toy.SHIPPED_DIR.iterdir()) < 3_000_000
    assert [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)] == []


def test_shipped_world_pass_rates_are_the_same_on_two_loads(one_torch_thread):
    path = build_toy_world(progress=False, source="shipped")
    tables = []
    for _ in range(2):
        model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
        rates = toy.measure_world(model, tok)
        tables.append((dict(rates), format_pass_rate_table(rates)))
    assert tables[0] == tables[1]
    # Sampling on other CPUs may differ slightly from the stored figures measured where it was built.
    assert all(abs(tables[0][0][s] - SHIPPED_RATES[s]) < 0.05 for s in SKILLS)


def test_ship_writes_a_manifest_that_verifies(tmp_path, monkeypatch):
    from rlvr.toy.shipped import ship_world

    dest = ship_world(toy.SHIPPED_DIR, toy.recipe_hash(0), 0, dest=tmp_path / "shipped")
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["files"] == json.loads((toy.SHIPPED_DIR / "manifest.json").read_text())["files"]
    monkeypatch.setitem(toy.WARMUP_RECIPE, "lr", 123.0)  # the built world no longer fits the code
    with pytest.raises(toy.ToyWorldError, match=r"toy_world\.json: built from recipe '7363080216', not the current"):
        ship_world(toy.SHIPPED_DIR, toy.recipe_hash(0), 0, dest=tmp_path / "again")


def test_all_or_nothing_profile_on_hand_computed_rates():
    from rlvr.toy.evaluate import all_or_nothing_profile

    p = all_or_nothing_profile([0.0, 1.0, 0.5, 0.25], group_size=2)
    # zero-variance groups of 2: 1, 1, 0.25 + 0.25, 0.0625 + 0.5625 -> mean 3.125 / 4
    assert p == {"never": 0.25, "always": 0.25, "between": 0.5, "zero_variance_groups": 3.125 / 4}
    with pytest.raises(ValueError):
        all_or_nothing_profile([])
