"""`rlvr compat`: streaming, resume, bad input, configuration (curricula.compat.run, rlvr.cli.compat)."""

import json

import pytest

from curricula.audit import read_audit
from curricula.compat import CompatConfig
from curricula.compat.run import run_compat
from rlvr.cli import main
from rlvr.toy.compat import refine_examples
from rlvr.toy.tokenizer import build_tokenizer

N_ROWS = 40


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def student(tmp_path_factory, tiny_llama):
    """A random one-layer Llama with the toy character tokenizer, saved like any model folder."""
    tokenizer = build_tokenizer()
    model = tiny_llama(tokenizer, layers=1, heads=2).eval()
    path = tmp_path_factory.mktemp("student")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path, model, tokenizer


def toy_rows(n=N_ROWS):
    examples = [
        {"id": f"q{i:03d}", "prompt": f"{10 + i}+{20 + 2 * i}=", "answer": str(30 + 3 * i), "skill": "add2"}
        for i in range(n)
    ]
    return refine_examples(examples, past_frontier_share=0.5, original_noise=0.3, seed=1)


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def compat_cli(student, data, out, *flags):
    """`rlvr compat` (its `main`) on the saved ``student``, reading ``data`` and writing ``out``."""
    return main(["compat", "--student", str(student), "--data", str(data), "--out", str(out), *flags])


def small_config(**kw):
    base = dict(chunk_size=8, batch_size=16, min_profile_size=5, profile_max_new_tokens=6)
    return CompatConfig(**{**base, **kw})


def test_cli_writes_filtered_rows_audit_and_summary(student, tmp_path, capsys):
    path, _, _ = student
    data = write_jsonl(tmp_path / "refined.jsonl", toy_rows())
    out = tmp_path / "out"
    rc = compat_cli(
        path,
        data,
        out,
        "--no-progress",
        "--chunk-size",
        "8",
        "--min-profile-size",
        "5",
        "--profile-max-new-tokens",
        "6",
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert f"{N_ROWS} rows:" in printed and "Frontier: p90 of the student's generations NLL" in printed
    audit = read_audit(out)
    assert len(audit) == N_ROWS and {r["filter"] for r in audit} == {"compat"}
    assert sorted(r["prompt_id"] for r in audit) == [f"q{i:03d}" for i in range(N_ROWS)]
    assert all(r["decision"] in ("kept", "dropped") and r["message"] for r in audit)
    kept = [json.loads(line) for line in (out / "filtered.jsonl").read_text().splitlines()]
    summary = json.loads((out / "summary.json").read_text())
    assert len(kept) == summary["kept"] == sum(r["decision"] == "kept" for r in audit)
    assert summary["kept"] + summary["dropped"] == N_ROWS
    for row in kept:
        assert set(row) >= {"id", "prompt", "answer", "completion", "chosen", "skill", "style"}
        assert row["answer"] == str(30 + 3 * int(row["id"][1:]))  # the reference answer, not the response
    # The frontier the audit quotes is the q=0.9 quantile of the profile in the scores file.
    scores = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    own = sorted(s["generation"]["nll"] for s in scores)
    from curricula.compat import quantile

    assert audit[0]["stats"]["frontier_nll"] == pytest.approx(quantile(own, 0.9))
    assert summary["profile"]["size"] == N_ROWS


def test_interrupted_run_resumes_without_rescoring_or_doubling(student, tmp_path, monkeypatch):
    _, model, tokenizer = student
    rows = toy_rows()
    data = write_jsonl(tmp_path / "refined.jsonl", rows)
    config = small_config()

    reference = run_compat(data, tmp_path / "uninterrupted", config, (model, tokenizer), progress=False)

    def stop_after_two(chunk, n):
        if chunk == 2:
            raise KeyboardInterrupt

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_compat(data, out, config, (model, tokenizer), progress=False, on_chunk=stop_after_two)
    assert len((out / "scores.jsonl").read_text().splitlines()) == 16  # two chunks of 8 on disk
    assert not (out / "audit.jsonl").exists()
    with open(out / "scores.jsonl", "a") as f:  # a kill in the middle of a write
        f.write('{"id": "q016", "row": 16, "sta')

    import curricula.compat.run as compat_run

    seen_rows = []
    real_score_chunk = compat_run.score_chunk

    def recording_score_chunk(chunk, *args):
        seen_rows.extend(index for index, _ in chunk)
        return real_score_chunk(chunk, *args)

    monkeypatch.setattr(compat_run, "score_chunk", recording_score_chunk)
    resumed = run_compat(data, out, config, (model, tokenizer), progress=False)
    assert seen_rows == list(range(16, N_ROWS))  # nothing rescored
    assert resumed.scored_now == N_ROWS - 16 and resumed.rows == N_ROWS
    scores = (out / "scores.jsonl").read_text().splitlines()
    assert sorted(json.loads(s)["id"] for s in scores) == [r["id"] for r in rows]  # nothing doubled
    # Chunks are seeded by position, so resuming gives exactly the uninterrupted scores and decisions.
    assert scores == (tmp_path / "uninterrupted" / "scores.jsonl").read_text().splitlines()
    assert resumed.reasons == reference.reasons

    # Run again (say with another quantile): nothing to score, decisions replaced, not appended.
    seen_rows.clear()
    again = run_compat(
        data, out, CompatConfig(**{**config.__dict__, "quantile": 0.5}), (model, tokenizer), progress=False
    )
    assert seen_rows == [] and again.scored_now == 0
    audit = read_audit(out)
    assert len(audit) == N_ROWS and [r["seq"] for r in audit] == list(range(N_ROWS))
    assert {r["stats"]["quantile"] for r in audit} == {0.5}
    assert len((out / "filtered.jsonl").read_text().splitlines()) == again.kept


def test_resuming_with_other_scoring_settings_is_refused(student, tmp_path):
    _, model, tokenizer = student
    data = write_jsonl(tmp_path / "refined.jsonl", toy_rows(10))
    run_compat(data, tmp_path / "out", small_config(), (model, tokenizer), progress=False)
    with pytest.raises(ValueError, match=r"reverse_template: .* -> '\{response\}Q\?'"):
        run_compat(
            data, tmp_path / "out", small_config(reverse_template="{response}Q?"), (model, tokenizer), progress=False
        )


def test_bad_rows_are_named_recorded_and_none_is_lost(student, tmp_path, capsys):
    path, _, _ = student
    good = toy_rows(12)
    lines = (
        good[:6]
        + [
            "{not json",
            {"id": "b1", "prompt": "1+1="},  # missing response
            {"id": "b2", "prompt": "1+1=", "response": "   "},  # empty response
            {"id": "b3", "prompt": "1+1=", "response": 2},  # wrong type
            {"id": "b4", "prompt": [{"role": "user", "content": "1+1="}], "response": "2"},  # chat, not text
            {"id": "q000", "prompt": "5+5=", "response": "10"},  # duplicate id
            {"id": "b5", "prompt": "1+1=", "response": "2", "original_response": ["2"]},
            [1, 2],  # not an object
            {"id": "b6", "prompt": "", "response": "2"},  # empty prompt
            {"id": "n1", "prompt": "2+2=", "response": "4", "original_response": " "},  # usable, noted
        ]
        + good[6:]
    )
    data = write_jsonl(tmp_path / "refined.jsonl", lines)
    out = tmp_path / "out"
    rc = compat_cli(path, data, out, "--no-progress", "--min-profile-size", "5", "--profile-max-new-tokens", "4")
    assert rc == 0
    bad = {b["row"]: b for b in map(json.loads, (out / "bad_rows.jsonl").read_text().splitlines())}
    src = str(data)
    assert bad[6]["problem"] == "invalid_json" and bad[6]["message"].startswith(f"{src} row 6: not a JSON object")
    assert bad[6]["values"] == "{not json"  # the line as read
    assert bad[7]["message"] == f"{src} row 7, field 'response': missing; the row has: id, prompt"
    assert bad[8]["message"] == f"{src} row 8, field 'response': empty" and bad[8]["problem"] == "empty_response"
    assert bad[9]["message"] == f"{src} row 9, field 'response': expected a string, got int '2'"
    assert bad[10]["problem"] == "wrong_type" and "field 'prompt'" in bad[10]["message"]
    assert bad[11]["problem"] == "duplicate_id" and "duplicate id 'q000'" in bad[11]["message"]
    assert bad[12]["problem"] == "wrong_type" and "field 'original_response'" in bad[12]["message"]
    assert bad[13]["problem"] == "wrong_type" and "got list" in bad[13]["message"]
    assert bad[14]["problem"] == "empty_prompt"
    assert len(bad) == 9
    audit = read_audit(out)
    assert len(audit) == len(lines)  # every line has a decision
    dropped_bad = {r["reason"] for r in audit if r["stats"].get("row") in bad}
    assert dropped_bad == {
        "invalid_json",
        "missing_response",
        "empty_response",
        "wrong_type",
        "duplicate_id",
        "empty_prompt",
    }
    assert "dropped/empty_response" in capsys.readouterr().out
    [noted] = [r for r in audit if r["prompt_id"] == "n1"]
    assert noted["stats"]["notes"] == ["original_response is empty: the refined answer is judged alone"]
    assert "original_nll" not in noted["stats"]

    # With skip_bad_rows off, the first bad row stops the run, naming it.
    rc = compat_cli(path, data, tmp_path / "strict", "--no-progress", "--no-skip-bad-rows")
    assert rc == 2
    assert f"{src} row 6: not a JSON object" in capsys.readouterr().err


def test_over_long_rows_are_truncated_or_skipped_and_recorded_either_way(student, tmp_path):
    _, model, tokenizer = student
    rows = toy_rows(10)
    rows[3] = {**rows[3], "response": "1+" * 30 + "1=31"}  # 64 characters: over max_length 60
    data = write_jsonl(tmp_path / "refined.jsonl", rows)

    run_compat(
        data, tmp_path / "skip", small_config(max_length=60, on_too_long="skip"), (model, tokenizer), progress=False
    )
    record = next(r for r in read_audit(tmp_path / "skip") if r["prompt_id"] == rows[3]["id"])
    assert (record["decision"], record["reason"]) == ("dropped", "too_long")
    # <bos> + response + "\nGuess the instruction: " + prompt, one token per character.
    n_tokens = 1 + 64 + len("\nGuess the instruction: ") + len(rows[3]["prompt"])
    assert record["message"] == (
        f"{tmp_path / 'refined.jsonl'} row 3: refined reverse template + prompt is "
        f"{n_tokens} tokens, over max_length 60 (on_too_long=skip)"
    )

    run_compat(data, tmp_path / "cut", small_config(max_length=60), (model, tokenizer), progress=False)
    record = next(r for r in read_audit(tmp_path / "cut") if r["prompt_id"] == rows[3]["id"])
    assert record["stats"]["truncated"] is True and record["message"].endswith("(scored on truncated text)")
    scores = [json.loads(line) for line in (tmp_path / "cut" / "scores.jsonl").read_text().splitlines()]
    assert [s["refined"]["truncated"] for s in scores].count(True) == 1


def test_yaml_section_flags_and_column_mapping(student, tmp_path, capsys):
    path, _, _ = student
    rows = [
        {
            "key": r["id"],
            "question": r["prompt"],
            "refined": r["response"],
            "output": r["original_response"],
            "answer": r["answer"],
        }
        for r in toy_rows(12)
    ]
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "refined.parquet")
    (tmp_path / "run.yaml").write_text(
        "compat:\n  quantile: 0.5\n  min_profile_size: 5\n  profile_max_new_tokens: 4\n"
        "  columns: {id: key, prompt: question, response: refined, original_response: output}\n"
        "model: {model_name_or_path: toy}\n"  # other sections belong to other commands
    )
    out = tmp_path / "out"
    rc = compat_cli(
        path,
        tmp_path / "refined.parquet",
        out,
        "--config",
        str(tmp_path / "run.yaml"),
        "--quantile",
        "0.7",
        "--rules",
        "frontier,ifd_lt_1",
        "--no-progress",
    )
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["quantile"] == 0.7 and summary["rules"] == ["frontier", "ifd_lt_1"]  # flags win
    audit = read_audit(out)
    assert sorted(r["prompt_id"] for r in audit) == sorted(r["key"] for r in rows)
    assert all("original_nll" in r["stats"] for r in audit)  # 'output' was read as the original

    (tmp_path / "typo.yaml").write_text("compat:\n  quantil: 0.5\n")
    rc = compat_cli(
        path, tmp_path / "refined.parquet", tmp_path / "typo", "--config", str(tmp_path / "typo.yaml"), "--no-progress"
    )
    assert rc == 2 and "Did you mean 'quantile'" in capsys.readouterr().err


def test_template_outside_the_vocabulary_is_refused(student, tmp_path):
    _, model, tokenizer = student
    data = write_jsonl(tmp_path / "refined.jsonl", toy_rows(4))
    with pytest.raises(ValueError, match=r"reverse_template .* maps to <unk>: \['à', 'é'\]"):
        run_compat(
            data,
            tmp_path / "out",
            small_config(reverse_template="{response}\nDéjà: "),
            (model, tokenizer),
            progress=False,
        )


def test_cli_student_loader_resolves_toy_and_run_compat_needs_a_student(tmp_path):
    """ "toy" is resolved by rlvr (curricula cannot import the toy world); run_compat has no default."""
    from rlvr.cli.compat import load_student

    model, tokenizer, name = load_student("toy", "cpu")
    assert name == "toy" and type(model).__name__ == "LlamaForCausalLM" and tokenizer("7").input_ids
    with pytest.raises(ValueError, match="run_compat needs a student"):
        run_compat([], tmp_path / "out")
