"""Eval cases: JSONL/JSON/YAML files with line numbers in errors, store records, training overlap."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from extractkit.evals import (
    EvalCase,
    TrainingOverlapWarning,
    as_cases,
    cases_from_store,
    check_training_overlap,
    dump_cases,
    load_cases,
)
from extractkit.exceptions import DatasetError, UserError
from extractkit.store import Exchange, open_store

NY = {"locations": [{"city": "New York", "country": "United States"}]}

YAML = """\
# edge cases kept under version control
- id: ny
  input: graphic designer in New York
  expected:
    locations: [{city: New York, country: United States}]
  tags: [city with inferred country]
- input: accountant anywhere in Spain
  expected: {locations: [{city: null, country: Spain}]}
  tags: region only
  note: no city at all
"""


def test_yaml_cases_with_ids_tags_and_line_sources(tmp_path: Path) -> None:
    path = tmp_path / "cases.yaml"
    path.write_text(YAML)
    ny, spain = load_cases(path)
    assert ny == EvalCase(
        "graphic designer in New York", NY, "ny", ("city with inferred country",), None, f"{path}:2"
    )
    assert spain.id == "cases.yaml:7" and spain.tags == ("region only",) and spain.note == "no city at all"
    assert spain.expected == {"locations": [{"city": None, "country": "Spain"}]}


def test_yaml_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "cases.yaml"
    path.write_text("- input: a\n  expected: 1\n- input: b\n  tags: [x]\n")
    with pytest.raises(DatasetError, match=r"cases\.yaml:3: the case has no 'expected'") as info:
        load_cases(path)
    assert info.value.line == 3 and info.value.path == str(path)
    path.write_text("- input: a\n  expected: [1\n")
    with pytest.raises(DatasetError, match="not valid YAML") as info:
        load_cases(path)
    assert info.value.line is not None and info.value.line >= 2


def test_yaml_without_pyyaml_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cases.yml"
    path.write_text(YAML)
    monkeypatch.setitem(sys.modules, "yaml", None)  # what an environment without PyYAML looks like
    with pytest.raises(UserError, match=r"pip install pyyaml .*extractkit-llm\[eval\]"):
        load_cases(path)


def test_jsonl_cases_and_errors_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    lines = [json.dumps({"input": "designer in New York", "expected": NY}), "", '{"input": "x", "expected": ']
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"cases\.jsonl:3: not valid JSON") as info:
        load_cases(path)
    assert info.value.line == 3
    path.write_text(lines[0] + "\n" + json.dumps({"input": "y", "expected": 1, "label": 2}) + "\n")
    with pytest.raises(DatasetError, match=r"cases\.jsonl:2: unknown key\(s\) \['label'\]"):
        load_cases(path)
    path.write_text(lines[0] + "\n" + json.dumps({"input": "", "expected": 1}) + "\n")
    with pytest.raises(DatasetError, match="'input' must be a non-empty string"):
        load_cases(path)
    path.write_text(lines[0] + "\n")
    (case,) = load_cases(path)
    assert case.id == "cases.jsonl:1" and case.source == f"{path}:1"


def test_json_list_and_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps({"cases": [{"input": "a", "expected": 1}, {"input": "b", "expected": 2}]}))
    assert [c.id for c in load_cases(path)] == ["cases.json#1", "cases.json#2"]
    with pytest.raises(DatasetError, match="does not exist"):
        load_cases(tmp_path / "missing.jsonl")
    (tmp_path / "cases.csv").write_text("input,expected\n")
    with pytest.raises(DatasetError, match=r"use a \.jsonl, \.json, \.yaml or \.yml file"):
        load_cases(tmp_path / "cases.csv")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DatasetError, match="holds no cases"):
        load_cases(tmp_path / "empty.jsonl")


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps({"id": "a", "input": t, "expected": 1}) for t in ("x", "y")) + "\n")
    with pytest.raises(DatasetError, match="case id 'a' is used twice"):
        load_cases(path)


def test_as_cases_accepts_pairs_mappings_and_cases() -> None:
    cases = as_cases([("a", 1), {"input": "b", "expected": 2, "tags": ["t"]}, EvalCase("c", 3)])
    assert [(c.id, c.input, c.expected, c.tags) for c in cases] == [
        ("#1", "a", 1, ()),
        ("#2", "b", 2, ("t",)),
        ("#3", "c", 3, ()),
    ]
    with pytest.raises(DatasetError, match="case #1"):
        as_cases([{"expected": 1}])
    with pytest.raises(UserError, match="no evaluation cases"):
        as_cases([])


def test_dump_and_load_round_trip(tmp_path: Path) -> None:
    cases = as_cases([{"id": "k", "input": "b", "expected": NY, "tags": ["t"], "note": "n"}])
    assert dump_cases(cases, tmp_path / "out.jsonl") == 1
    (back,) = load_cases(tmp_path / "out.jsonl")
    assert (back.id, back.input, back.expected, back.tags, back.note) == ("k", "b", NY, ("t",), "n")


def test_cases_from_the_records_chosen_for_training(tmp_path: Path) -> None:
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    with open_store(f"sqlite:///{tmp_path}/ex.db") as store:
        store.write_batch(
            [
                Exchange(extractor="location", input="designer in New York", model="openai:gpt-4o", output=NY,
                         created_at=t0),
                Exchange(extractor="location", input="nurse in Lyon", model="openai:gpt-4o",
                         output={"locations": [{"city": "Lyon", "country": "Spain"}]},
                         created_at=t0 + timedelta(minutes=1)),
                Exchange(extractor="location", input="not chosen", model="openai:gpt-4o", output=NY,
                         created_at=t0 + timedelta(minutes=2)),
                Exchange(extractor="location", input="failed", model="openai:gpt-4o", error="InvalidOutputError: x",
                         created_at=t0 + timedelta(minutes=3)),
            ]
        )  # fmt: skip
        ny, lyon, failed = (
            store.find("location", t) for t in ("designer in New York", "nurse in Lyon", "failed")
        )
        assert ny and lyon and failed
        store.include([ny.id, lyon.id, failed.id])
        fixed = {"locations": [{"city": "Lyon", "country": "France"}]}
        store.correct(lyon.id, fixed)
        cases = cases_from_store(store, "location")
    # Rows included in one call share their inclusion time, so their order is not defined.
    assert sorted((c.input, json.dumps(c.expected), c.tags) for c in cases) == sorted(
        [
            ("designer in New York", json.dumps(NY), ("store",)),
            ("nurse in Lyon", json.dumps(fixed), ("store",)),  # the reviewer's correction wins
        ]
    )  # the failed record has no output to expect, and the unchosen one is not a case
    by_input = {c.input: c for c in cases}
    assert by_input["designer in New York"].id == ny.id[:12]
    assert by_input["designer in New York"].source == f"store:{ny.id[:12]}"


def test_training_overlap_warns_and_names_the_cases(tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    rows = [
        {"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "Nurse in LYON"},
                      {"role": "assistant", "content": "{}"}]},
        {"messages": [{"role": "user", "content": "something else"}, {"role": "assistant", "content": "{}"}]},
    ]  # fmt: skip
    train.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cases = as_cases([("nurse in Lyon", 1), ("designer in Paris", 2)])
    with pytest.warns(
        TrainingOverlapWarning, match=r"1 evaluation case\(s\) are in the training set .*#1 \(line 1\)"
    ):
        overlap = check_training_overlap(cases, train)
    assert [(c.input, line) for c, line in overlap] == [("nurse in Lyon", 1)]
    train.write_text('{"messages": [}\n')
    with pytest.raises(DatasetError, match=r"train\.jsonl:1: not valid JSON"):
        check_training_overlap(cases, train)
