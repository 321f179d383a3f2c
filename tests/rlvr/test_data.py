import copy
import json
from pathlib import Path

import pytest
from datasets import Dataset

from rlvr.config import DataConfig
from rlvr.data import DataError, load_prompts
from tests.rlvr.conftest import rlvr_train_command, run_in_checkout


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


GOOD = [{"question": "1+1=", "final": "2", "skill": "add1"}, {"question": "2+2=", "final": 4, "skill": "add1"}]


def test_column_mapping_types_and_stable_ids(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", GOOD)
    cfg = DataConfig(train=path, columns={"prompt": "question", "answer": "final"})
    data = load_prompts(path, cfg)
    rows = data.dataset.to_list()
    assert [r["prompt"] for r in rows] == ["1+1=", "2+2="]
    assert [r["answer"] for r in rows] == ["2", "4"]  # numbers become strings
    ids = [r["id"] for r in rows]
    assert ids[0].startswith("000000-") and ids[1].startswith("000001-")
    assert ids == [r["id"] for r in load_prompts(path, cfg).dataset.to_list()]  # stable


def test_malformed_rows_are_reported_with_file_row_and_field(tmp_path):
    rows = GOOD + [{"question": "", "final": "1"}, {"question": "3+3="}, {"question": ["x"], "final": "1"}]
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    cfg = DataConfig(train=path, columns={"prompt": "question", "answer": "final"})
    with pytest.raises(DataError) as err:
        load_prompts(path, cfg)
    text = str(err.value)
    assert "3 malformed row(s)" in text
    # JSONL rows are named by their 1-based line, as an editor shows it.
    assert f"{path} line 3, field 'prompt': empty" in text
    assert f"{path} line 4, field 'answer': missing (read from source column 'final'); the row has: question" in text
    assert f"{path} line 5, field 'prompt': expected a non-empty string or a list of chat messages, got list" in text


def test_skip_bad_rows_keeps_a_record_of_each(tmp_path):
    rows = GOOD + [
        {"question": "3+3=", "final": None},
        {"question": "4+4=", "final": "8", "id": 7},
        {"question": "5+5=", "final": "10", "id": 7},
    ]
    path = write_jsonl(tmp_path / "train.jsonl", rows)
    cfg = DataConfig(train=path, columns={"prompt": "question", "answer": "final"}, skip_bad_rows=True)
    data = load_prompts(path, cfg)
    assert len(data.dataset) == 3
    assert [(b.line, b.field) for b in data.bad_rows] == [(3, "answer"), (5, "id")]
    assert "duplicate id '7' (first seen at line 4)" in data.bad_rows[1].problem


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_prompts(str(tmp_path / "nope.jsonl"), DataConfig())
    odd = tmp_path / "data.txt"
    odd.write_text("x")
    with pytest.raises(DataError, match="unsupported extension"):
        load_prompts(str(odd), DataConfig())


def test_parquet_and_csv_and_chat_wrapping(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"prompt": ["a?", "b?"], "answer": ["1", "2"]})
    frame.to_parquet(tmp_path / "d.parquet")
    frame.to_csv(tmp_path / "d.csv", index=False)
    cfg = DataConfig(system_prompt="Be brief.")
    for name in ("d.parquet", "d.csv"):
        rows = load_prompts(str(tmp_path / name), cfg).dataset.to_list()
        assert rows[0]["prompt"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "a?"}]


# --- Unreadable lines: one bad row each, named by file and 1-based line ---------------------


def write_lines(path, lines: list[bytes], end=b"\n"):
    path.write_bytes(end.join(lines))
    return str(path)


BROKEN = [
    b'{"prompt": "1+1=", "answer": "2"}',
    b'{"prompt": "2+2=", "answer": "4"}',
    b'{"prompt": "3+3=" "answer": "6"}',  # line 3: a missing comma
    b'{"prompt": "4+4=", "answer": "8"}',
    b'{"prompt": "5+5=\xff\xfe", "answer": "10"}',  # line 5: not UTF-8
    b'{"prompt": "6+6=", "answer": "12"}',
]


def test_broken_json_and_non_utf8_lines_stop_the_run_naming_each_line(tmp_path):
    path = write_lines(tmp_path / "train.jsonl", BROKEN)
    with pytest.raises(DataError) as err:
        load_prompts(path, DataConfig())
    text = str(err.value)
    assert text.startswith(f"2 malformed row(s) in {path}:")
    assert f"{path} line 3: invalid JSON (Expecting ',' delimiter at column 19)" in text
    assert f"{path} line 5: not valid UTF-8 (byte b'\\xff' at column 17)" in text
    assert "data.skip_bad_rows=true" in text


def test_skip_bad_rows_skips_unreadable_lines_and_records_each(tmp_path):
    path = write_lines(tmp_path / "train.jsonl", BROKEN)
    data = load_prompts(path, DataConfig(skip_bad_rows=True))
    assert [r["prompt"] for r in data.dataset.to_list()] == ["1+1=", "2+2=", "4+4=", "6+6="]
    assert [p.line for p in data.places] == [1, 2, 4, 6]
    records = [b.to_record() for b in data.bad_rows]
    assert [(r["source"], r["line"], r["row"], r["field"]) for r in records] == [(path, 3, 2, None), (path, 5, 4, None)]
    assert records[0]["values"] == {"text": '{"prompt": "3+3=" "answer": "6"}'}
    assert records[1]["problem"] == "not valid UTF-8 (byte b'\\xff' at column 17)"


def test_non_objects_blank_lines_crlf_bom_and_no_final_newline(tmp_path):
    lines = [
        b'\xef\xbb\xbf{"prompt": "a", "answer": "1"}',
        b"",
        b"   ",
        b"[1, 2]",
        b'"x"',
        b"null",
        b'{"prompt": "b", "answer": "2"}',
    ]  # the last line has no newline
    path = write_lines(tmp_path / "odd.jsonl", lines, end=b"\r\n")
    data = load_prompts(path, DataConfig(skip_bad_rows=True))
    assert [r["prompt"] for r in data.dataset.to_list()] == ["a", "b"]
    # Blank lines are not rows (skipped silently); lines 4-6 are JSON but not objects.
    assert [(b.line, b.problem) for b in data.bad_rows] == [
        (4, "expected a JSON object, got an array"),
        (5, "expected a JSON object, got a string"),
        (6, "expected a JSON object, got null"),
    ]
    assert [p.line for p in data.places] == [1, 7]


def test_json_file_holding_an_array(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps([{"prompt": "a", "answer": "1"}, 5, {"prompt": "b", "answer": 2}], indent=2))
    data = load_prompts(str(path), DataConfig(skip_bad_rows=True))
    assert [r["answer"] for r in data.dataset.to_list()] == ["1", "2"]
    assert [b.message() for b in data.bad_rows] == [f"{path} row 1 (0-based): expected a JSON object, got a number"]


def test_rows_with_different_keys_keep_every_column(tmp_path):
    path = write_jsonl(
        tmp_path / "train.jsonl", [{"prompt": "a", "answer": "1"}, {"prompt": "b", "answer": "2", "level": 3}]
    )
    rows = load_prompts(path, DataConfig()).dataset.to_list()
    assert [r["level"] for r in rows] == [None, 3]


# --- Directories and globs of shards -----------------------------------------------------------


def make_shards(root):
    (root / "sub").mkdir(parents=True)
    write_jsonl(root / "b.jsonl", [{"prompt": "b1", "answer": "1"}, {"prompt": "b2"}])  # line 2: no answer
    write_jsonl(root / "a.jsonl", [{"prompt": "a1", "answer": "1"}])
    write_jsonl(root / "sub" / "c.jsonl", [{"prompt": "c1", "answer": "1"}])
    write_jsonl(root / ".hidden.jsonl", [{"prompt": "h", "answer": "1"}])  # ignored, as by datasets
    (root / "README.md").write_text("not data")


def test_directory_of_jsonl_shards_loads_every_file_sorted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_shards(tmp_path / "shards")
    data = load_prompts("shards", DataConfig(skip_bad_rows=True))
    assert [r["prompt"] for r in data.dataset.to_list()] == ["a1", "b1", "c1"]
    assert data.source == "shards (3 files)"
    assert [b.message() for b in data.bad_rows] == [
        "shards/b.jsonl line 2, field 'answer': missing; the row has: prompt"
    ]
    with pytest.raises(DataError, match="shards/b.jsonl line 2, field 'answer'"):
        load_prompts("shards/", DataConfig())


def test_globs_of_jsonl_and_parquet_shards(tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.chdir(tmp_path)
    make_shards(tmp_path / "shards")
    assert [r["prompt"] for r in load_prompts("shards/*.jsonl", DataConfig(skip_bad_rows=True)).dataset.to_list()] == [
        "a1",
        "b1",
    ]
    assert [
        r["prompt"] for r in load_prompts("shards/**/*.jsonl", DataConfig(skip_bad_rows=True)).dataset.to_list()
    ] == ["a1", "b1", "c1"]
    (tmp_path / "pq" / "x").mkdir(parents=True)
    pd.DataFrame({"prompt": ["p1", "p2"], "answer": ["1", "2"]}).to_parquet(tmp_path / "pq" / "train-0.parquet")
    pd.DataFrame({"prompt": ["p3", ""], "answer": ["3", "4"]}).to_parquet(tmp_path / "pq" / "x" / "train-1.parquet")
    with pytest.raises(DataError) as err:
        load_prompts("pq/**/train-*.parquet", DataConfig())
    assert "pq/x/train-1.parquet row 1 (0-based), field 'prompt': empty" in str(err.value)
    rows = load_prompts("pq", DataConfig(skip_bad_rows=True)).dataset.to_list()
    assert [r["prompt"] for r in rows] == ["p1", "p2", "p3"]


def test_shards_that_match_nothing_or_mix_formats_are_refused(tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.chdir(tmp_path)
    make_shards(tmp_path / "shards")
    with pytest.raises(DataError, match=r"The pattern 'shards/train-\*.jsonl' matches no file"):
        load_prompts("shards/train-*.jsonl", DataConfig())
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="The directory 'empty' holds no .jsonl/.json/.parquet/.csv file"):
        load_prompts("empty", DataConfig())
    pd.DataFrame({"prompt": ["p"], "answer": ["1"]}).to_parquet(tmp_path / "shards" / "z.parquet")
    with pytest.raises(
        DataError, match=r"'shards' mixes data formats \(json: shards/a.jsonl, parquet: shards/z.parquet\)"
    ):
        load_prompts("shards", DataConfig())


def test_csv_rows_are_named_by_line_including_the_header(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('prompt,answer\n"a\nmultiline?",1\n\n"",2\n')  # the empty prompt sits on line 5
    with pytest.raises(DataError) as err:
        load_prompts(str(path), DataConfig())
    assert f"{path} line 5, field 'prompt'" in str(err.value)


# --- Prompt length and batch size, checked with the tokenizer and config only ------------------


@pytest.fixture(scope="module")
def toy_tokenizer(toy_world_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(toy_world_path))


def test_over_long_prompt_is_a_bad_row_with_its_token_count(toy_world_path, toy_tokenizer, tmp_path):
    from rlvr.data import enforce_prompt_limit, model_context_length

    path = write_jsonl(
        tmp_path / "train.jsonl", [{"prompt": "1+1=", "answer": "2"}, {"prompt": "9" * 130 + "=", "answer": "1"}]
    )
    context = model_context_length(str(toy_world_path))  # from config.json: no weights load
    assert context == 128
    data = load_prompts(path, DataConfig())
    with pytest.raises(DataError) as err:
        enforce_prompt_limit(data, toy_tokenizer, context, 8, skip_bad_rows=False)
    # 130 digits + '=' + the BOS token the tokenizer adds, as TRL tokenizes it.
    assert (
        f"1 prompt(s) too long in {path}:\n  {path} line 2, field 'prompt': 132 tokens, over the limit of "
        "120 (context 128 - 8 completion tokens)"
    ) in str(err.value)
    kept = enforce_prompt_limit(data, toy_tokenizer, context, 8, skip_bad_rows=True)
    assert kept.dataset["prompt"] == ["1+1="] and [p.line for p in kept.places] == [1]
    assert kept.bad_rows[0].to_record()["line"] == 2 and "132 tokens" in kept.bad_rows[0].problem


def test_chat_prompts_are_counted_through_the_chat_template(toy_tokenizer):
    from rlvr.data import check_prompt_lengths

    tokenizer = copy.deepcopy(toy_tokenizer)
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'][0] }}:{{ m['content'] }};{% endfor %}"
        "{% if add_generation_prompt %}a:{% endif %}"
    )
    ds = Dataset.from_list(
        [
            {"prompt": [{"role": "user", "content": "1+1="}]},
            {"prompt": [{"role": "system", "content": "9" * 20}, {"role": "user", "content": "2+2="}]},
        ]
    )
    # "u:1+1=;a:" is 9 characters, "s:9...9;u:2+2=;a:" 32 (no BOS: a chat template brings its own).
    assert check_prompt_lengths(ds, tokenizer, 9) == {1: 32}


def test_fewer_rows_than_one_generation_batch_is_refused(tmp_path):
    from trl import GRPOConfig

    from rlvr.data import check_enough_rows

    args = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=16,
        num_generations=4,
        use_cpu=True,
        bf16=False,
        report_to="none",
    )
    path = write_jsonl(
        tmp_path / "train.jsonl", [{"prompt": f"{i}+1=", "answer": str(i + 1)} for i in range(3)] + [{"prompt": "x="}]
    )
    data = load_prompts(path, DataConfig(skip_bad_rows=True))
    with pytest.raises(DataError) as err:
        check_enough_rows(data, args)
    assert str(err.value).startswith(
        f"{path} has 3 usable row(s), 1 bad row(s) skipped, but one generation step needs 4 distinct prompts: "
        "generation_batch_size 16 (per_device_train_batch_size 16 x 1 process(es) x steps_per_generation 1) / "
        "num_generations 4."
    )
    check_enough_rows(
        load_prompts(path, DataConfig(skip_bad_rows=True, max_rows=2)),
        GRPOConfig(
            output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=2, use_cpu=True, bf16=False
        ),
    )


# --- Through `rlvr train`: the data checks run before the model's weights load ------------------

ROOT = Path(__file__).resolve().parents[2]
TOY_PROMPTS = [{"prompt": f"{a}+{b}=", "answer": str(a + b), "skill": "add1"} for a in range(3) for b in range(2)]


@pytest.fixture
def weights_must_not_load(monkeypatch):
    from transformers import AutoModelForCausalLM

    def refuse(*args, **kwargs):
        raise AssertionError("the model's weights loaded before the data checks")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", refuse)


def train_in_process(out, data_path, *overrides):
    from rlvr.cli.train import train

    return train(
        [
            "--config",
            str(ROOT / "configs" / "toy.yaml"),
            f"grpo.output_dir={out}",
            f"data.train={data_path}",
            "data.eval=null",
            "grpo.per_device_train_batch_size=16",
            "grpo.num_generations=8",
            "grpo.max_steps=2",
            *overrides,
        ]
    )


def test_train_refuses_an_over_long_prompt_before_the_model_loads(toy_world_path, tmp_path, weights_must_not_load):
    path = write_jsonl(tmp_path / "train.jsonl", TOY_PROMPTS[:3] + [{"prompt": "9" * 130 + "=", "answer": "1"}])
    with pytest.raises(DataError) as err:
        train_in_process(tmp_path / "run", path)
    assert (
        f"{path} line 4, field 'prompt': 132 tokens, over the limit of 120 (context 128 - 8 completion tokens)"
    ) in str(err.value)


def test_train_refuses_too_few_rows_before_the_model_loads(toy_world_path, tmp_path, weights_must_not_load):
    path = write_jsonl(tmp_path / "train.jsonl", TOY_PROMPTS[:1] + [{"prompt": "1+1="}])
    with pytest.raises(DataError) as err:
        train_in_process(tmp_path / "run", path, "data.skip_bad_rows=true")
    assert str(err.value).startswith(
        f"{path} has 1 usable row(s), 1 bad row(s) skipped, but one generation step needs 2 distinct prompts"
    )


@pytest.mark.slow
def test_rlvr_train_skips_and_records_unreadable_and_over_long_lines(toy_world_path, tmp_path):
    lines = [json.dumps(row).encode() for row in TOY_PROMPTS]
    lines[1] = b'{"prompt": "0+1=" "answer": "1"}'  # line 2: broken JSON
    lines[3] = b'{"prompt": "1+1=\xff\xfe", "answer": "2"}'  # line 4: not UTF-8
    lines.append(json.dumps({"prompt": "9" * 130 + "=", "answer": "1"}).encode())  # line 7: too long
    path = write_lines(tmp_path / "train.jsonl", lines)
    out = tmp_path / "run"
    cmd = rlvr_train_command(
        out,
        f"data.train={path}",
        "data.eval=null",
        "data.skip_bad_rows=true",
        "grpo.per_device_train_batch_size=16",
        "grpo.num_generations=8",
        "grpo.max_steps=2",
        "curricula.frontier.enabled=false",
    )
    result = run_in_checkout(cmd, OMP_NUM_THREADS="1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["steps"] == 2
    records = [json.loads(line) for line in (out / "bad_rows.jsonl").read_text().splitlines()]
    assert [(r["source"], r["line"], r["field"]) for r in records] == [
        (path, 2, None),
        (path, 4, None),
        (path, 7, "prompt"),
    ]
    assert records[2]["problem"] == "132 tokens, over the limit of 120 (context 128 - 8 completion tokens)"


# --- red-team cases (issue 14): malformed values that used to pass or crash ---------------------


def test_integral_float_answers_are_written_as_integers(tmp_path):
    # pandas reads an integer column with one empty cell as floats: the gold of "2+3=" was "5.0",
    # and `exact` scored the right answer "5" as 0.
    path = tmp_path / "train.csv"
    path.write_text("prompt,answer\n2+3=,5\n1+1=,\n3+4=,7\n0.5+1=,1.5\n")
    data = load_prompts(str(path), DataConfig(skip_bad_rows=True))
    assert data.dataset["answer"] == ["5", "7", "1.5"]
    jsonl = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "10^3=", "answer": 1e3}])
    assert load_prompts(jsonl, DataConfig()).dataset["answer"] == ["1000"]


def test_non_finite_answers_bools_as_ids_and_lone_surrogates_are_bad_rows(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"prompt": "a=", "answer": NaN}\n{"prompt": "b=", "answer": -Infinity}\n'
        '{"prompt": "c=", "answer": "1", "id": true}\n{"prompt": "d\\ud800", "answer": "1"}\n'
        '{"prompt": "e=", "answer": "2"}\n'
    )
    with pytest.raises(DataError) as err:
        load_prompts(str(path), DataConfig())
    message = str(err.value)
    assert "4 malformed row(s)" in message
    assert "t.jsonl line 1, field 'answer': expected a finite number, got nan" in message
    assert "line 2, field 'answer': expected a finite number, got -inf" in message
    assert "line 3, field 'id': expected a string or integer, got bool" in message
    assert "line 4: a string holds a lone UTF-16 surrogate escape" in message
    data = load_prompts(str(path), DataConfig(skip_bad_rows=True))
    assert data.dataset["prompt"] == ["e="] and [b.line for b in data.bad_rows] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "message, problem",
    [
        ({"rol": "user", "content": "hi"}, "chat message 0: missing key 'role' (it has: rol, content)"),
        ({"role": "usr", "content": "hi"}, "chat message 0: role 'usr' is not one of system, user"),
        ({"role": "user", "content": 5}, "chat message 0: content must be a string, got int"),
    ],
)
def test_malformed_chat_prompts_are_bad_rows(tmp_path, message, problem):
    path = write_jsonl(tmp_path / "chat.jsonl", [{"prompt": [message], "answer": "1"}])
    with pytest.raises(
        DataError, match="chat.jsonl line 1, field 'prompt': " + problem.replace("(", r"\(").replace(")", r"\)")
    ):
        load_prompts(path, DataConfig())


def test_well_formed_chat_prompts_are_accepted(tmp_path):
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "1+1="}]
    path = write_jsonl(tmp_path / "chat.jsonl", [{"prompt": chat, "answer": "2"}])
    assert load_prompts(path, DataConfig()).dataset[0]["prompt"] == chat


def test_a_mapped_column_that_is_missing_is_not_replaced_by_a_same_named_column(tmp_path):
    # columns: {prompt: question} on a file without 'question' silently trained on 'prompt'.
    path = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "1+1=", "answer": "2"}])
    with pytest.raises(
        DataError,
        match=r"t.jsonl line 1, field 'prompt': missing \(read from source column "
        r"'question'\); the row has: answer, prompt",
    ):
        load_prompts(path, DataConfig(columns={"prompt": "question"}))


def test_utf16_file_is_one_clear_error(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes('{"prompt": "a", "answer": "1"}\n'.encode("utf-16"))
    with pytest.raises(DataError, match=r"t.jsonl' is UTF-16 encoded .* JSON Lines must be UTF-8"):
        load_prompts(str(path), DataConfig())


def test_unreadable_csv_names_the_parser_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('prompt,answer\n"a\nb",1\n"unclosed,2\n')
    with pytest.raises(DataError, match=r"Could not read '.*t.csv' as csv: ParserError: .*EOF inside string"):
        load_prompts(str(path), DataConfig())


def test_unknown_toy_skill_is_a_data_error():
    with pytest.raises(DataError, match=r"data.toy_skills: unknown skill 'nosuch'"):
        load_prompts("toy", DataConfig(toy_skills=["nosuch"]))


def test_compressed_jsonl_and_csv_are_read_with_line_numbers(tmp_path):
    # 'train.jsonl.gz' had "an unsupported extension", though datasets.load_dataset reads it.
    import bz2
    import gzip

    with gzip.open(tmp_path / "train.jsonl.gz", "wt") as f:
        f.write('{"prompt": "1+1=", "answer": "2"}\n{"prompt": "2+2=", "ans\n')
    data = load_prompts(str(tmp_path / "train.jsonl.gz"), DataConfig(skip_bad_rows=True))
    assert data.dataset["answer"] == ["2"] and [(b.line, b.problem[:12]) for b in data.bad_rows] == [
        (2, "invalid JSON")
    ]
    with bz2.open(tmp_path / "train.csv.bz2", "wt") as f:
        f.write("prompt,answer\n3+3=,6\n")
    assert load_prompts(str(tmp_path / "train.csv.bz2"), DataConfig()).dataset["answer"] == ["6"]
    (tmp_path / "broken.jsonl.gz").write_bytes(gzip.compress(b'{"prompt": "a", "answer": "1"}\n')[:-12])
    with pytest.raises(DataError, match=r"Could not read '.*broken.jsonl.gz': EOFError"):
        load_prompts(str(tmp_path / "broken.jsonl.gz"), DataConfig())


def test_chat_prompts_for_a_tokenizer_without_a_chat_template_are_one_data_error(tmp_path):
    # The toy tokenizer has no chat template: chat rows failed in apply_chat_template with a
    # transformers traceback. The check reads only `tokenizer.chat_template`.
    from types import SimpleNamespace

    from rlvr.data import check_chat_template

    path = write_jsonl(tmp_path / "t.jsonl", [{"prompt": [{"role": "user", "content": "2+2="}], "answer": "4"}])
    with pytest.raises(DataError) as err:
        check_chat_template(load_prompts(path, DataConfig()), SimpleNamespace(chat_template=None), "my-model")
    assert str(err.value).startswith(
        f"{path} has chat prompts (lists of messages; the first at {path} line 1), but "
        "the tokenizer of 'my-model' has no chat template."
    )
    check_chat_template(load_prompts(path, DataConfig()), SimpleNamespace(chat_template="{{ x }}"), "my-model")


def test_a_system_prompt_not_applied_to_chat_rows_is_warned_about(tmp_path, caplog):
    import logging

    chat = [{"role": "user", "content": "1+1="}]
    path = write_jsonl(tmp_path / "t.jsonl", [{"prompt": chat, "answer": "2"}])
    with caplog.at_level(logging.WARNING, logger="rlvr.data"):
        data = load_prompts(path, DataConfig(system_prompt="Be brief."))
    assert data.dataset[0]["prompt"] == chat  # unchanged
    assert (
        f"data.system_prompt is not added to the 1 row(s) of {path} whose prompt already is a list of chat "
        f"messages (the first at {path} line 1)"
    ) in caplog.text


def test_a_line_cut_off_at_its_end_is_placed_on_its_own_line_and_column(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes(b'{"prompt": "1+1=", "answer": "2"}\n{"prompt": "2+2=", "answer":\n')
    with pytest.raises(DataError, match=r"line 2: invalid JSON \(Expecting value at column 29\)"):
        load_prompts(str(path), DataConfig())


def test_predictor_group_columns_the_data_lacks_are_refused_before_the_model_loads(tmp_path):
    from rewards.config_types import ConfigError
    from rlvr.config import load_config
    from rlvr.data import load_run_data

    path = tmp_path / "train.jsonl"
    path.write_text(
        '{"prompt": "1+1=", "answer": "2", "source": "a"}\n{"prompt": "2+2=", "answer": "4", "source": "b"}\n'
    )
    toy = str(Path(__file__).parents[2] / "configs" / "toy.yaml")
    base = [toy, [f"data.train={path}", "curricula.predictor.enabled=true"]]
    with pytest.raises(ConfigError) as error:
        load_run_data(load_config(base[0], [*base[1], "curricula.predictor.group_columns=[skill]"]))
    assert "['skill']" in str(error.value) and "'source'" in str(error.value) and "train.jsonl" in str(error.value)
    train, _ = load_run_data(load_config(base[0], [*base[1], "curricula.predictor.group_columns=[source]"]))
    assert len(train.dataset) == 2
    train, _ = load_run_data(load_config(base[0], base[1]))  # unset: the columns the data has
    assert len(train.dataset) == 2
    train, _ = load_run_data(load_config(base[0], [f"data.train={path}"]))  # predictor off: nothing to check
    assert len(train.dataset) == 2


def test_a_list_valued_group_column_is_refused_before_the_model_loads(tmp_path):
    # A `tags` list as a group column was a bare "TypeError: unhashable type: 'list'" after the
    # model loaded.
    from rewards.config_types import ConfigError
    from rlvr.config import load_config
    from rlvr.data import load_run_data

    path = tmp_path / "train.jsonl"
    path.write_text(
        '{"prompt": "1+1=", "answer": "2", "tags": ["a", "x"], "level": 1}\n'
        '{"prompt": "2+2=", "answer": "4", "tags": ["b"], "level": 2}\n'
    )
    toy = str(Path(__file__).parents[2] / "configs" / "toy.yaml")
    overrides = [f"data.train={path}", "curricula.predictor.enabled=true"]
    with pytest.raises(ConfigError, match=r"column 'tags' of .*train\.jsonl holds .*not a list"):
        load_run_data(load_config(toy, [*overrides, "curricula.predictor.group_columns=[tags]"]))
    train, _ = load_run_data(load_config(toy, [*overrides, "curricula.predictor.group_columns=[level]"]))
    assert len(train.dataset) == 2
