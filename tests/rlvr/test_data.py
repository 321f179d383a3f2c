import json

import pytest

from rlvr.config import DataConfig
from rlvr.data import DataError, load_prompts


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
    rows = GOOD + [{"question": "3+3=", "final": None}, {"question": "4+4=", "final": "8", "id": 7},
                   {"question": "5+5=", "final": "10", "id": 7}]
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


BROKEN = [b'{"prompt": "1+1=", "answer": "2"}', b'{"prompt": "2+2=", "answer": "4"}',
          b'{"prompt": "3+3=" "answer": "6"}',  # line 3: a missing comma
          b'{"prompt": "4+4=", "answer": "8"}',
          b'{"prompt": "5+5=\xff\xfe", "answer": "10"}',  # line 5: not UTF-8
          b'{"prompt": "6+6=", "answer": "12"}']


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
    assert [(r["source"], r["line"], r["field"]) for r in records] == [(path, 3, None), (path, 5, None)]
    assert records[0]["values"] == {"text": '{"prompt": "3+3=" "answer": "6"}'}
    assert records[1]["problem"] == "not valid UTF-8 (byte b'\\xff' at column 17)"


def test_non_objects_blank_lines_crlf_bom_and_no_final_newline(tmp_path):
    lines = [b'\xef\xbb\xbf{"prompt": "a", "answer": "1"}', b"", b"   ", b"[1, 2]", b'"x"', b"null",
             b'{"prompt": "b", "answer": "2"}']  # the last line has no newline
    path = write_lines(tmp_path / "odd.jsonl", lines, end=b"\r\n")
    data = load_prompts(path, DataConfig(skip_bad_rows=True))
    assert [r["prompt"] for r in data.dataset.to_list()] == ["a", "b"]
    # Blank lines are not rows (skipped silently); lines 4-6 are JSON but not objects.
    assert [(b.line, b.problem) for b in data.bad_rows] == [
        (4, "expected a JSON object, got an array"), (5, "expected a JSON object, got a string"),
        (6, "expected a JSON object, got null")]
    assert [p.line for p in data.places] == [1, 7]


def test_json_file_holding_an_array(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps([{"prompt": "a", "answer": "1"}, 5, {"prompt": "b", "answer": 2}], indent=2))
    data = load_prompts(str(path), DataConfig(skip_bad_rows=True))
    assert [r["answer"] for r in data.dataset.to_list()] == ["1", "2"]
    assert [b.message() for b in data.bad_rows] == [f"{path} row 1 (0-based): expected a JSON object, got a number"]


def test_rows_with_different_keys_keep_every_column(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [{"prompt": "a", "answer": "1"},
                                                  {"prompt": "b", "answer": "2", "level": 3}])
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
        "shards/b.jsonl line 2, field 'answer': missing; the row has: prompt"]
    with pytest.raises(DataError, match="shards/b.jsonl line 2, field 'answer'"):
        load_prompts("shards/", DataConfig())


def test_globs_of_jsonl_and_parquet_shards(tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.chdir(tmp_path)
    make_shards(tmp_path / "shards")
    assert [r["prompt"] for r in load_prompts("shards/*.jsonl", DataConfig(skip_bad_rows=True)).dataset.to_list()] \
        == ["a1", "b1"]
    assert [r["prompt"] for r in load_prompts("shards/**/*.jsonl", DataConfig(skip_bad_rows=True)).dataset.to_list()] \
        == ["a1", "b1", "c1"]
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
    with pytest.raises(DataError, match=r"'shards' mixes data formats \(json: shards/a.jsonl, parquet: shards/z.parquet\)"):
        load_prompts("shards", DataConfig())


def test_csv_rows_are_named_by_line_including_the_header(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('prompt,answer\n"a\nmultiline?",1\n\n"",2\n')  # the empty prompt sits on line 5
    with pytest.raises(DataError) as err:
        load_prompts(str(path), DataConfig())
    assert f"{path} line 5, field 'prompt'" in str(err.value)
