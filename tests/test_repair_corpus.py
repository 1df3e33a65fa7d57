"""The table-driven repair corpus (tests/repair_corpus/cases.json): every case, its expected value."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from extractkit.exceptions import RepairError
from extractkit.repair import ACTIONS, RepairResult, StreamingParser, repair_json
from extractkit.repair.prepass import rewrite_slips
from extractkit.repair.span import recover

CORPUS = Path(__file__).parent / "repair_corpus"
sys.path.insert(0, str(CORPUS))

from schemas import resolve  # noqa: E402

CASES: list[dict[str, Any]] = json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))
CATEGORIES = {
    "valid", "premature_root", "premature_nested", "premature_array", "truncation", "code_fence", "prose",
    "trailing_comma", "single_quotes", "python_literals", "unquoted_keys", "comments", "control_chars",
    "inner_quotes", "doubled_braces", "multiple_values", "mixed",
}  # fmt: skip


def test_corpus_is_large_and_covers_every_category() -> None:
    assert len(CASES) >= 300
    assert {case["category"] for case in CASES} == CATEGORIES
    assert len({case["id"] for case in CASES}) == len(CASES)


def outcome(fn: Callable[[], RepairResult]) -> RepairResult | tuple[str, str | None]:
    """What a repair gives: its result, or the reason of the RepairError it raises."""
    try:
        return fn()
    except RepairError as exc:
        return ("RepairError", exc.reason)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_corpus_case(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(RepairError) as caught:
            repair_json(case["input"], resolve(case["schema"]), multiple=case.get("multiple", False))
        assert caught.value.reason == case["error"]
        return
    result = repair_json(case["input"], resolve(case["schema"]), multiple=case.get("multiple", False))
    assert result.value == case["expected"]
    assert result.truncated == case.get("truncated", False)
    if "actions" in case:
        assert list(result.actions) == case["actions"]
    elif not case.get("multiple"):
        assert result.repaired  # several values in a row are not a repair when all are asked for
    assert set(result.actions) <= set(ACTIONS)
    if result.truncated:
        assert () in result.cut_paths


@pytest.mark.parametrize("size", [1, 4, 16])
def test_streaming_finish_matches_one_shot_on_every_case(size: int) -> None:
    for case in CASES:
        if case.get("multiple"):
            continue
        schema = resolve(case["schema"])
        parser = StreamingParser(schema)
        text = case["input"]
        for start in range(0, len(text), size):
            parser.feed(text[start : start + size])
        want = outcome(lambda t=text, s=schema: repair_json(t, s))  # type: ignore[misc]
        assert outcome(parser.finish) == want, case["id"]


def test_prepass_agrees_with_the_engine_on_every_case_it_takes() -> None:
    taken = 0
    for case in CASES:
        fast = rewrite_slips(case["input"])
        if fast is None:
            continue
        taken += 1
        slow = recover(case["input"], None, False)
        assert fast[0] == slow.value, case["id"]
        assert set(fast[1]) == set(slow.actions), case["id"]
    assert taken >= 50
