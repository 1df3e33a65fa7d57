"""``read_inputs``: the one reader of input texts behind every command (text lines or JSONL)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from extractkit.datasets import INPUT_KEYS, read_inputs
from extractkit.exceptions import DatasetError


def test_text_files_and_streams_hold_one_input_per_line(tmp_path: Path) -> None:
    text = tmp_path / "inputs.txt"
    text.write_text("job in Paris\n\n  \njob in Rome\n")
    assert read_inputs(text) == ["job in Paris", "job in Rome"]
    # A stream is plain text too, even when its lines look like JSON.
    assert read_inputs(io.StringIO('"quoted"\n{"input": "x"}\n')) == ['"quoted"', '{"input": "x"}']
    assert read_inputs(io.StringIO('{"input": "x"}\n"y"\n'), jsonl=True) == ["x", "y"]


def test_jsonl_takes_strings_input_or_text_keys_and_chat_examples(tmp_path: Path) -> None:
    assert INPUT_KEYS == ("input", "text")
    jsonl = tmp_path / "inputs.jsonl"
    chat = {"messages": [{"role": "user", "content": "job in Oslo"}, {"role": "assistant", "content": "{}"}]}
    rows = ['"job in Lyon"', '{"input": "job in Nice"}', '{"text": "job in Pau"}', json.dumps(chat)]
    rows.append('{"input": "first key wins", "text": "not this"}')
    jsonl.write_text("\n".join(rows) + "\n\n")
    assert read_inputs(jsonl) == ["job in Lyon", "job in Nice", "job in Pau", "job in Oslo", "first key wins"]


@pytest.mark.parametrize("bad", ['{"prompt": "no known key"}', '{"input": 3}', "42", "{not json"])
def test_a_jsonl_line_without_an_input_names_its_line(tmp_path: Path, bad: str) -> None:
    jsonl = tmp_path / "inputs.jsonl"
    jsonl.write_text('"ok"\n' + bad + "\n")
    with pytest.raises(DatasetError, match=r"inputs.jsonl:2: ") as caught:
        read_inputs(jsonl)
    assert caught.value.line == 2


def test_missing_and_non_utf8_files_are_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        read_inputs(tmp_path / "missing.txt")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="not UTF-8"):
        read_inputs(latin)
