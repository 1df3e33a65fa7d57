"""Differential fuzzing: broken answers against the values they were broken from.

A fast deterministic subset of the fuzzer in tests/repair_corpus/fuzz.py (the full
run, 20,000+ cases side by side with json_repair, is ``bench/repair.py``), the
streaming parser on the same cases, and hypothesis on values no schema describes.
The one hard rule: a repair returns the original value, or says it cannot (a
``RepairError``, or ``truncated``). A value returned as whole that is not the
original is a silent wrong value, and there must be none.
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from extractkit.exceptions import RepairError
from extractkit.repair import StreamingParser, repair_json

sys.path.insert(0, str(Path(__file__).parent / "repair_corpus"))

from fuzz import (
    CLASSES,
    EXACT,
    FLAGGED,
    SLIPS,
    WRONG,
    Case,
    Emitter,
    cases,
    judge,
    prefix_of,
    same,
    schema_of,
)
from fuzz_values import SCHEMAS, values

SUBSET = list(cases(80, seed=20250101))


def _run(case: Case) -> str:
    try:
        result = repair_json(case.text, schema_of(case))
    except RepairError:
        return judge(case, None, False, raised=True)
    if result.truncated and () not in result.cut_paths and isinstance(result.value, dict | list):
        return WRONG  # a cut that does not say where it is
    return judge(case, result.value, result.truncated, raised=False)


def test_generated_values_are_valid_for_their_schemas() -> None:
    for name, value in values(90, seed=7):
        TypeAdapter(SCHEMAS[name]).validate_python(value)
        assert json.loads(json.dumps(value)) == value  # the original survives a round trip


def test_every_class_of_break_is_generated() -> None:
    assert {case.cls for case in SUBSET} == set(CLASSES)
    assert len(SUBSET) >= 1500


def test_no_silent_wrong_value_and_most_cases_exact() -> None:
    outcomes: dict[str, Counter[str]] = {}
    wrong: list[Case] = []
    for case in SUBSET:
        outcome = _run(case)
        outcomes.setdefault(case.cls, Counter())[outcome] += 1
        if outcome == WRONG:
            wrong.append(case)
    assert not wrong, [(case.cls, case.text) for case in wrong[:5]]
    total = sum(count[EXACT] for count in outcomes.values()) / len(SUBSET)
    assert total >= 0.95, outcomes
    # Classes where the text says what was meant are recovered exactly, every time.
    for cls in (
        "valid",
        "truncation",
        "code_fence",
        "prose",
        "trailing_comma",
        "single_quotes",
        "python_repr",
    ):
        assert outcomes[cls][FLAGGED] == 0, (cls, outcomes[cls])


@pytest.mark.parametrize("size", [1, 7, 64])
def test_streaming_finish_gives_the_one_shot_outcome(size: int) -> None:
    for case in SUBSET[::5]:
        schema = schema_of(case)
        parser = StreamingParser(schema)
        for start in range(0, len(case.text), size):
            parser.feed(case.text[start : start + size])
        try:
            streamed: Any = parser.finish()
        except RepairError as exc:
            streamed = ("RepairError", exc.reason)
        try:
            one_shot: Any = repair_json(case.text, schema)
        except RepairError as exc:
            one_shot = ("RepairError", exc.reason)
        assert streamed == one_shot, (case.cls, case.text)


def test_the_judge_itself() -> None:
    # The oracle must be able to fail: a cut container, a swallowed member, a lost flag.
    case = Case("premature_close", "", {"a": [1, 2], "b": "x"}, None)
    assert judge(case, {"a": [1, 2], "b": "x"}, False, raised=False) == EXACT
    assert judge(case, {"a": [1, 2]}, False, raised=False) == WRONG
    assert judge(case, {"a": [1, 2]}, True, raised=False) == FLAGGED
    assert judge(case, None, False, raised=True) == FLAGGED
    assert not same({"a": True}, {"a": 1})
    cut = Case("truncation", "", {"a": "Paris", "n": 125}, None, {"a": "Pa"})
    assert judge(cut, {"a": "Pa"}, True, raised=False) == EXACT
    assert judge(cut, {"a": "Paris", "n": 12}, True, raised=False) == FLAGGED
    assert judge(cut, {"a": "Pa"}, False, raised=False) == WRONG
    assert judge(cut, {"a": "Rome"}, True, raised=False) == WRONG
    assert prefix_of({"a": "Paris", "n": 1}, {"a": "Paris", "n": 125})
    assert not prefix_of({"n": 1}, {"a": "Paris", "n": 125})


# ---------------------------------------------------------------- hypothesis: any JSON, any slip

_KEYS = st.sampled_from(["id", "name", "a", "b", "city", "value", "items", "x_1", "$ref", "2nd", "a-b", "é"])
_TEXT = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
    st.sampled_from(['He said "hi"', "a, b", "{x}", "[1]", "it's", "C:\\dir", "line\nbreak", "50% off", ""]),
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: round(f, 3)),
    _TEXT,
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=12,
)
_DOCS = st.one_of(
    st.dictionaries(_KEYS, _JSON, min_size=1, max_size=5), st.lists(_JSON, min_size=1, max_size=5)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_DOCS, slip=st.sampled_from(sorted(SLIPS)), seed=st.integers(0, 2**16))
def test_any_document_with_any_slip_is_recovered_or_refused(doc: Any, slip: str, seed: int) -> None:
    text = SLIPS[slip](random.Random(seed), doc)
    if text is None:
        return
    case = Case(slip, text, doc, None)
    assert _run(case) != WRONG, text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_DOCS, data=st.data())
def test_any_document_cut_anywhere_is_a_flagged_prefix(doc: Any, data: st.DataObject) -> None:
    text = Emitter(random.Random(0), indent=data.draw(st.sampled_from([None, 2]))).emit(doc)
    cut = data.draw(st.integers(1, len(text)))
    try:
        result = repair_json(text[:cut])
    except RepairError:
        return  # nothing to recover yet (a lone "-"), said so
    if cut == len(text):
        assert same(result.value, doc) and not result.truncated
    else:
        assert result.truncated, text[:cut]
        assert prefix_of(result.value, doc), (text[:cut], result.value)
        assert () in result.cut_paths
