"""Building training files from curated records in a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from extractkit import Extractor
from extractkit.datasets import build_from_store, training_example, validate_dataset, validate_file
from extractkit.exceptions import DatasetError, UserError
from extractkit.extractors import IntentRouter, LocationExtractor
from extractkit.extractors.location import Locations
from extractkit.store import Exchange, Store, open_store
from extractkit.testing import FakeBackend

PARIS = {"locations": [{"city": "Paris", "country": "France"}]}
LYON = {"locations": [{"city": "Lyon", "country": "France"}]}
ROUTES = {
    "book_holiday": "Book a day off",
    "get_payslip": "Get a payslip",
    "report_sick": "Report being ill today",
    "other": "Anything else",
}


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with open_store(f"sqlite:///{tmp_path}/exchanges.db") as s:
        yield s


def record(store: Store, text: str, output: Any, *, extractor: str = "location", **kw: Any) -> str:
    full = LocationExtractor.teacher_instructions or ""
    store.write_batch(
        [
            Exchange(
                extractor=extractor,
                input=text,
                model="openai:gpt-4o",
                prompt_variant="full",
                messages=({"role": "system", "content": full}, {"role": "user", "content": text}),
                output=output,
                **kw,
            )
        ]
    )
    found = store.find(extractor, text)
    assert found is not None
    return found.id


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_included_records_become_minimal_prompt_examples(store: Store, tmp_path: Path) -> None:
    a = record(store, "designer in Paris", PARIS)
    b = record(store, "nurse in Lyon", {"locations": [{"city": "Lyon"}]})
    c = record(store, "chef in Rome", {"locations": [{"city": "Rome", "country": "Italy"}]})
    record(store, "never reviewed", PARIS)
    store.correct(b, LYON)  # the reviewer's correction is what trains
    store.include([a, b, c])
    store.exclude([c])
    out = tmp_path / "train.jsonl"

    dataset = build_from_store(store, LocationExtractor(), path=out)

    rows = lines(out)
    assert len(rows) == len(dataset) == 2
    rows.sort(key=lambda r: r["messages"][1]["content"])  # included together: no inclusion order between them
    assert [r["messages"][1]["content"] for r in rows] == ["designer in Paris", "nurse in Lyon"]
    for row in rows:
        system, _user, assistant = row["messages"]
        assert system == {"role": "system", "content": LocationExtractor.instructions}
        assert assistant["role"] == "assistant"
        assert set(row) == {"messages"}
    assert rows[0]["messages"][2]["content"] == '{"locations":[{"city":"Paris","country":"France"}]}'
    assert json.loads(rows[1]["messages"][2]["content"]) == LYON
    assert "job-search queries" not in out.read_text()  # the recorded teacher prompt never gets in
    assert dataset.path == out
    assert validate_file(out, extractor=LocationExtractor()).errors == []


def test_exchanges_recorded_by_a_real_extraction_train_with_the_short_prompt(store: Store) -> None:
    teacher = LocationExtractor(
        model="openai:gpt-4o", prompt_variant="full", backend=FakeBackend(lambda r: PARIS), store=store
    )
    teacher.extract_sync("Designer in PARIS")
    store.flush()
    recorded = store.list()
    assert "job-search queries" in recorded[0].exchange.messages[0]["content"]
    store.include([recorded[0].id])

    dataset = build_from_store(store, LocationExtractor())

    (example,) = dataset.examples
    assert example.messages[0]["content"] == LocationExtractor.instructions
    assert example.messages[1]["content"] == "Designer in PARIS"
    assert example.source == f"record {recorded[0].id[:12]}"


def test_failed_and_invalid_included_records_are_named_and_nothing_is_written(
    store: Store, tmp_path: Path
) -> None:
    good = record(store, "designer in Paris", PARIS)
    failed = record(store, "???", None, error="UnparseableOutputError: no JSON")
    invalid = record(store, "nurse in Lyon", {"locations": "Lyon"})
    store.include([good, failed, invalid])
    out = tmp_path / "train.jsonl"

    with pytest.raises(DatasetError) as caught:
        build_from_store(store, LocationExtractor(), path=out)

    message = str(caught.value)
    assert f"record {failed[:12]}" in message and "UnparseableOutputError" in message
    assert f"record {invalid[:12]}" in message and "locations" in message
    assert "2 problem(s)" in message
    assert not out.exists()

    dataset = build_from_store(store, LocationExtractor(), path=out, on_invalid="skip")
    assert [e.input for e in dataset] == ["designer in Paris"]
    assert {w.code for w in dataset.warnings} == {"no_output", "assistant_schema"}
    assert len(lines(out)) == 1


def test_a_correction_rescues_a_failed_record(store: Store) -> None:
    failed = record(store, "chef in Rome", None, error="InvalidOutputError: bad")
    store.correct(failed, {"locations": [{"city": "Rome", "country": "Italy"}]})
    store.include([failed])
    (example,) = build_from_store(store, LocationExtractor()).examples
    assert json.loads(example.messages[-1]["content"])["locations"][0]["city"] == "Rome"


def test_router_examples_have_the_minimal_prompt_with_options_shuffled_per_example(store: Store) -> None:
    router = IntentRouter(ROUTES)
    ids = []
    for i in range(40):
        label = list(ROUTES)[i % 4]
        # The extractor records a router's answer as the bare label; reviewers may write the JSON form.
        output: Any = label if i % 2 else {"route": label}
        ids.append(record(store, f"message number {i}", output, extractor="intent"))
    store.include(ids)

    dataset = build_from_store(store, router)
    again = build_from_store(store, IntentRouter(ROUTES))

    assert [e.to_json() for e in dataset] == [e.to_json() for e in again]  # seeded: the same file twice
    orders = set()
    for example in dataset:
        system = example.messages[0]["content"]
        assert system.startswith(IntentRouter.instructions)
        assert "random order" not in system  # nothing of the teacher prompt
        options = [line for line in system.splitlines() if line.startswith("- ")]
        assert sorted(options) == sorted(f"- {k}: {v}" for k, v in ROUTES.items())
        orders.add(tuple(options))
        assert json.loads(example.messages[-1]["content"]) == {"route": example.route}
    assert len(orders) > 5  # shuffled per example, as the router does per call
    assert dataset.routes() == {label: 10 for label in ROUTES}
    assert validate_dataset(dataset, extractor=router).errors == []


def test_tools_mode_examples_use_the_tool_call_form(store: Store) -> None:
    store.include([record(store, "designer in Paris", PARIS)])
    student = LocationExtractor(output_mode="tools")

    (example,) = build_from_store(store, student).examples

    data = example.to_dict()
    assistant = data["messages"][-1]
    assert "content" not in assistant
    (call,) = assistant["tool_calls"]
    assert call["type"] == "function"
    assert call["function"]["name"] == data["tools"][0]["function"]["name"] == "Locations"
    assert json.loads(call["function"]["arguments"]) == PARIS
    assert data["tools"][0]["function"]["parameters"] == student.spec.strict_schema
    report = validate_dataset(build_from_store(store, student), extractor=student)
    assert report.errors == []


def test_an_empty_store_is_a_clear_error(store: Store) -> None:
    record(store, "designer in Paris", PARIS)  # recorded, never included
    with pytest.raises(DatasetError, match=r"no included records for 'location'.*records include"):
        build_from_store(store, LocationExtractor())


def test_eval_inputs_leaking_into_training_are_rejected(store: Store) -> None:
    ids = [record(store, "designer in Paris", PARIS), record(store, "nurse in Lyon", LYON)]
    store.include(ids)
    with pytest.raises(DatasetError, match=r"(?s)record .*'nurse in Lyon'.*evaluation input"):
        build_from_store(store, LocationExtractor(), eval_inputs=["NURSE IN LYON"])


class Gotcha(Extractor[Locations]):
    """The classic mistake, made in the class: the 'minimal' prompt embeds the teacher prompt."""

    teacher_instructions = LocationExtractor.teacher_instructions
    instructions = (LocationExtractor.teacher_instructions or "") + "\n\nAnswer as JSON."


def test_a_student_prompt_that_contains_the_teacher_prompt_is_refused(store: Store) -> None:
    store.include([record(store, "designer in Paris", PARIS, extractor="gotcha")])
    with pytest.raises(DatasetError, match=r"teacher prompt.*\[teacher_prompt\]"):
        build_from_store(store, Gotcha())


def test_a_router_forced_to_one_token_answers_cannot_be_trained() -> None:
    router = IntentRouter(ROUTES, one_token=True, backend=FakeBackend([], supports_logit_bias=True))
    with pytest.raises(UserError, match="one-token"):
        training_example(router, "hello", {"route": "other"})


class Tag(BaseModel):
    tag: str


class Tagger(Extractor[list[Tag]]):
    instructions = "List the tags."


def test_wrapped_output_types_train_with_the_wrapper_the_extractor_parses() -> None:
    example = training_example(Tagger(), "python and sql", [{"tag": "python"}, {"tag": "sql"}])
    assert example.messages[-1]["content"] == '{"answer":[{"tag":"python"},{"tag":"sql"}]}'
