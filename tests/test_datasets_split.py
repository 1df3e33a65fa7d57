"""Seeded train/validation splits, stratified by route for routers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from extractkit.datasets import Dataset, TrainingExample, split_dataset, split_file, split_indices
from extractkit.exceptions import DatasetError, UserError


def router_line(i: int, route: str) -> str:
    messages = [
        {"role": "system", "content": "Route it."},
        {"role": "user", "content": f"message {i}"},
        {"role": "assistant", "content": json.dumps({"route": route})},
    ]
    return json.dumps({"messages": messages})


def write(tmp_path: Path, counts: dict[str, int]) -> Path:
    rows = [route for route, n in counts.items() for _ in range(n)]
    path = tmp_path / "router.jsonl"
    path.write_text("".join(router_line(i, r) + "\n" for i, r in enumerate(rows)))
    return path


def routes_in(path: Path) -> Counter[str]:
    return Counter(
        json.loads(json.loads(line)["messages"][-1]["content"])["route"]
        for line in path.read_text().splitlines()
    )


def test_stratified_split_keeps_each_routes_share(tmp_path: Path) -> None:
    source = write(tmp_path, {"a": 50, "b": 30, "c": 20})

    result = split_file(source, validation=0.2, seed=7)

    assert (result.train, result.validation) == (80, 20)
    assert result.routes == {"a": (40, 10), "b": (24, 6), "c": (16, 4)}
    assert routes_in(result.validation_path) == Counter({"a": 10, "b": 6, "c": 4})
    assert result.train_path == tmp_path / "router_train.jsonl"
    assert result.validation_path == tmp_path / "router_validation.jsonl"
    train = result.train_path.read_text().splitlines()
    valid = result.validation_path.read_text().splitlines()
    original = source.read_text().splitlines()
    assert sorted(train + valid) == sorted(original)  # every line once, copied verbatim
    assert train == [row for row in original if row in set(train)]  # file order kept


def test_uneven_routes_get_the_largest_remainders_and_no_route_leaves_training() -> None:
    strata = ["a"] * 7 + ["b"] * 5 + ["c"] * 3
    train, valid = split_indices(strata, validation=0.2, seed=1)
    assert Counter(strata[i] for i in valid) == Counter({"a": 1, "b": 1, "c": 1})
    assert len(train) == 12

    lonely = ["x"] + ["y"] * 9
    train, valid = split_indices(lonely, validation=0.2, seed=1)
    assert 0 in train  # a route seen once stays where it can be learned
    assert len(valid) == 2


def test_the_split_is_seeded() -> None:
    strata = [None] * 100
    first = split_indices(strata, validation=0.25, seed=3)
    assert first == split_indices(strata, validation=0.25, seed=3)
    assert first != split_indices(strata, validation=0.25, seed=4)
    train, valid = first
    assert len(valid) == 25 and not set(train) & set(valid) and len(train) + len(valid) == 100


def test_non_router_files_are_split_plainly_unless_routes_are_required(tmp_path: Path) -> None:
    path = tmp_path / "plain.jsonl"
    rows = [
        json.dumps(
            {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "{}"}]}
        )
        for i in range(10)
    ]
    path.write_text("\n".join(rows) + "\n")
    result = split_file(path, train_path=tmp_path / "t.jsonl", validation_path=tmp_path / "v.jsonl")
    assert (result.train, result.validation, result.routes) == (8, 2, {})
    with pytest.raises(DatasetError, match="example 1: the answer has no route") as caught:
        split_file(path, stratify="route")
    assert caught.value.line == 1


def test_bad_fractions_small_files_and_overwriting_the_input(tmp_path: Path) -> None:
    source = write(tmp_path, {"a": 5, "b": 5})
    with pytest.raises(UserError, match="between 0 and 1"):
        split_file(source, validation=1.0)
    with pytest.raises(UserError, match="overwrite its input"):
        split_file(source, train_path=source)
    with pytest.raises(DatasetError, match="need at least 2"):
        split_indices(["a"], validation=0.2)


def test_split_dataset_stratifies_built_router_datasets() -> None:
    examples = [
        TrainingExample(messages=({"role": "user", "content": str(i)},), input=str(i), route="ab"[i % 2])
        for i in range(20)
    ]
    train, valid = split_dataset(Dataset(examples), validation=0.2, seed=0)
    assert Counter(e.route for e in valid.examples) == Counter({"a": 2, "b": 2})
    assert len(train) == 16


def test_split_validates_first_and_refuses_invalid_lines(tmp_path: Path) -> None:
    path = tmp_path / "router.jsonl"
    lines = [router_line(i, "a" if i % 2 else "b") for i in range(10)]
    lines[3] = lines[3].replace('\\"}"}', '\\""}')  # the answer loses its closing brace
    lines.insert(6, "{not json")
    path.write_text("\n".join(lines) + "\n\n")  # a trailing blank line is dropped, not an error
    with pytest.raises(DatasetError) as caught:
        split_file(path)
    message = str(caught.value)
    assert "line 4: the assistant answer is not valid JSON" in message and "line 7:" in message
    assert caught.value.line == 4
    assert not (tmp_path / "router_train.jsonl").exists()  # nothing written
    # The caller who knows better can skip the check; the bad lines are then copied verbatim.
    result = split_file(path, check=False, stratify="none")
    assert result.train + result.validation == 11 and result.report is None
    lines.pop(6)
    lines[3] = router_line(3, "a")
    path.write_text("\n".join(lines) + "\n")
    result = split_file(path)
    assert result.report is not None and result.report.ok and result.train + result.validation == 10
