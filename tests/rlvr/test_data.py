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
