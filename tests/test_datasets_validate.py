"""Validating chat JSONL files: every problem on its exact line, then tokens, epochs and cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from extractkit.datasets import (
    DatasetReport,
    TokenStats,
    recommended_epochs,
    token_limit_for,
    validate_file,
    validate_lines,
)
from extractkit.exceptions import DatasetError
from extractkit.extractors import IntentRouter, LocationExtractor
from extractkit.prices import PRICES, Price, PriceTable
from extractkit.tokens import count_message_tokens, count_tokens

SYSTEM = LocationExtractor.instructions
PARIS = '{"locations":[{"city":"Paris","country":"France"}]}'


def example(text: str, answer: str = PARIS, system: str = SYSTEM, **extra: Any) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": text},
            {"role": "assistant", "content": answer},
        ],
        **extra,
    }


def line(obj: Any) -> str:
    return json.dumps(obj)


def write(tmp_path: Path, rows: list[str | bytes]) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"".join((r if isinstance(r, bytes) else r.encode()) + b"\n" for r in rows))
    return path


def codes(report: DatasetReport) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    return [(i.line, i.code) for i in report.errors], [(i.line, i.code) for i in report.warnings]


def test_every_malformed_row_is_reported_on_its_line(tmp_path: Path) -> None:
    user_only = {"messages": [{"role": "user", "content": "hi"}]}
    odd_role = example("x2")
    odd_role["messages"][1]["role"] = "bot"
    extra_key = example("x3")
    extra_key["messages"][1]["foo"] = 1
    number_content = example("x4")
    number_content["messages"][1]["content"] = 123
    weighted = example("x5")
    weighted["messages"][2]["weight"] = 2
    no_content = example("x6")
    del no_content["messages"][2]["content"]
    bad_call = example("x7")
    bad_call["messages"][2] = {"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]}
    rows: list[str | bytes] = [
        line(example("designer in Paris")),  # 1 fine
        "{not json",  # 2
        "[1, 2]",  # 3
        line({"messages": []}),  # 4
        line(user_only),  # 5
        line(odd_role),  # 6
        line(extra_key),  # 7
        line(number_content),  # 8
        "",  # 9
        line(example("nurse in Lyon", answer="Lyon, France")),  # 10
        line(example("chef in Rome", answer='{"locations": "Rome"}')),  # 11
        line(example("baker in Nice", prompt="old format")),  # 12
        line(example("DESIGNER IN PARIS")),  # 13 duplicate of 1
        line(example("cook in Oslo", system=LocationExtractor.teacher_instructions or "")),  # 14
        line(weighted),  # 15
        b'{"messages": "\xff"}',  # 16
        line(no_content),  # 17
        line(bad_call),  # 18
        line(example("pilot in Bern")),  # 19 fine
    ]
    report = validate_file(write(tmp_path, rows), extractor=LocationExtractor())

    errors, warnings = codes(report)
    assert errors == [
        (2, "invalid_json"),
        (3, "data_type"),
        (4, "missing_messages_list"),
        (5, "example_missing_assistant_message"),
        (6, "unrecognized_role"),
        (7, "message_unrecognized_key"),
        (8, "content_type"),
        (9, "blank_line"),
        (10, "assistant_not_json"),
        (11, "assistant_schema"),
        (12, "unrecognized_key"),
        (14, "teacher_prompt"),
        (15, "weight"),
        (16, "encoding"),
        (17, "message_missing_key"),
        (18, "tool_call_format"),
    ]
    assert (13, "duplicate") in warnings and (5, "last_not_assistant") in warnings
    assert report.lines == 19 and not report.ok
    by_line = {i.line: i.message for i in report.errors}
    assert "repeats line 1" in next(w.message for w in report.warnings if w.line == 13)
    assert "message 2 has role 'bot'" in by_line[6]
    assert "column 2" in by_line[2]
    assert "locations" in by_line[11]
    text = report.format()
    assert f"{tmp_path / 'data.jsonl'}:10: error: the assistant answer is not valid JSON" in text
    with pytest.raises(DatasetError) as caught:
        report.raise_for_errors()
    assert caught.value.line == 2 and "16 problem(s)" in str(caught.value)


def test_without_an_extractor_any_chat_data_passes_the_answer_checks() -> None:
    rows = [line(example(f"question {i}", answer="Plain prose is fine here.")) for i in range(12)]
    report = validate_lines(rows)
    assert report.ok and report.warnings == []
    assert report.examples == 12


def test_tool_call_examples_in_openai_format_validate() -> None:
    args = json.dumps({"locations": [{"city": "Paris", "country": "France"}]})
    row = {
        "messages": [
            {"role": "user", "content": "designer in Paris"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "Locations", "arguments": args}}
                ],
            },
        ],
        "tools": [{"type": "function", "function": {"name": "Locations", "parameters": {"type": "object"}}}],
    }
    report = validate_lines([line(row)], extractor=LocationExtractor())
    assert report.errors == []
    broken = dict(row, tools=[{"name": "Locations"}])
    assert codes(validate_lines([line(broken)]))[0] == [(1, "tools_format")]


def test_token_counts_limits_and_distribution() -> None:
    rows = [example("x " * n) for n in (1, 10, 100, 1000)]
    expected = [count_message_tokens(r["messages"], "gpt-4o-mini") for r in rows]
    limit = expected[2]  # the 1000-word example is over it, the others are not

    report = validate_lines([line(r) for r in rows], token_limit=limit)

    assert codes(report)[0] == [(4, "too_long")]
    assert f"{expected[3]:,} tokens" in report.errors[0].message
    assert report.tokens == TokenStats.of(expected)
    assert report.tokens is not None and report.tokens.max == expected[3]
    assert report.tokens.median == (expected[1] + expected[2]) / 2
    assert report.assistant_tokens is not None
    assert report.assistant_tokens.total == 4 * count_tokens(PARIS, "gpt-4o-mini")
    assert report.billing_tokens == sum(expected[:3]) + limit  # over-long examples are billed up to the limit


def test_token_stats_percentiles() -> None:
    stats = TokenStats.of(list(range(1, 101)))
    assert stats is not None
    assert (stats.min, stats.median, stats.p95, stats.max, stats.total) == (1, 50.5, 95, 100, 5050)
    assert TokenStats.of([]) is None


@pytest.mark.parametrize(
    ("examples", "epochs"),
    [(1, 25), (10, 10), (20, 5), (34, 3), (50, 3), (8_333, 3), (10_000, 2), (100_000, 1)],
)
def test_epoch_heuristic(examples: int, epochs: int) -> None:
    assert recommended_epochs(examples) == epochs


def test_estimated_cost_uses_the_training_price() -> None:
    rows = [line(example(f"job {i} in Paris")) for i in range(40)]
    report = validate_lines(rows, model="gpt-4o-mini")
    price = PRICES["ft:gpt-4o-mini"].training
    assert price is not None
    assert report.epochs == 3
    assert report.estimated_cost == pytest.approx(report.billing_tokens * 3 * price / 1e6)

    table = PriceTable({"ft:gpt-4o-mini": Price(0.3, 1.2, training=100.0)})
    dearer = validate_lines(rows, model="gpt-4o-mini", prices=table)
    assert dearer.estimated_cost == pytest.approx(report.billing_tokens * 3 * 100.0 / 1e6)

    local = validate_lines(rows, model="local:llama-3-8b")
    assert local.estimated_cost is None and local.token_limit is None
    assert "unknown (no training price" in local.format()


def test_token_limits_by_model() -> None:
    assert token_limit_for("gpt-4o-mini-2024-07-18") == 65_536
    assert token_limit_for("openai:ft:gpt-4o-mini-2024-07-18:acme::x1") == 65_536
    assert token_limit_for("gpt-3.5-turbo-0125") == 16_385
    assert token_limit_for("gpt-3.5-turbo-0613") == 4_096
    assert token_limit_for("llama-3") is None


def test_eval_leaks_and_long_system_prompts(tmp_path: Path) -> None:
    long_prompt = "Follow these rules carefully. " * 150
    rows = [line(example("designer in Paris")), line(example("Nurse in Lyon", system=long_prompt))]
    report = validate_lines(rows, eval_inputs=["nurse in LYON"])
    errors, warnings = codes(report)
    assert errors == [(2, "eval_leak")]
    assert (2, "long_system_prompt") in warnings and (0, "too_few_examples") in warnings


def test_a_teacher_prompt_given_by_the_user_is_found(tmp_path: Path) -> None:
    teacher = "You are an expert router.\n\nAlways think about what the employee wants before answering."
    router = IntentRouter({"a": "Option A", "b": "Option B"})
    rows = [
        line(example("hello", answer='{"route":"a"}', system=router.instructions)),
        line(
            example(
                "hi", answer='{"route":"b"}', system=router.instructions + "\n\n" + teacher.split("\n\n")[1]
            )
        ),
    ]
    report = validate_lines(rows, extractor=router, teacher_prompts=[teacher])
    assert codes(report)[0] == [(2, "teacher_prompt")]
    assert report.routes == {"a": 1, "b": 1}


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert codes(validate_file(empty))[0] == [(0, "empty_file")]
    with pytest.raises(DatasetError, match="does not exist"):
        validate_file(tmp_path / "missing.jsonl")


def test_json_answers_are_detected_and_each_one_parsed_with_its_line() -> None:
    # The mistake that ruins a fine-tune: one answer missing its closing brace, no --extractor given.
    rows = [line(example(f"designer in town {i}")) for i in range(11)]
    rows.insert(4, line(example("nurse in Lyon", answer='{"locations":[{"city":"Lyon","country":"France"}]')))
    rows.insert(7, line(example("chef in Rome", answer="Rome, Italy")))
    report = validate_lines(rows)
    assert report.json_answers is True
    assert codes(report)[0] == [(5, "assistant_not_json"), (8, "assistant_not_json")]
    assert "not valid JSON" in report.errors[0].message and "Lyon" in report.errors[0].message
    assert "answers: JSON, each one parsed" in report.format()
    assert report.to_dict()["json_answers"] is True


def test_prose_answers_are_not_parsed_unless_asked() -> None:
    rows = [line(example(f"question {i}", answer=f"Answer number {i}.")) for i in range(11)]
    rows.append(line(example("one more", answer='{"looks": "like json"}')))
    report = validate_lines(rows)
    assert report.ok and report.json_answers is False
    assert "--json-answers checks them" in report.format()
    forced = validate_lines(rows, json_answers=True)
    assert [i.line for i in forced.errors] == list(range(1, 12))
    # And a JSON file can be told not to parse its answers.
    broken = [line(example(f"town {i}")) for i in range(11)] + [line(example("x", answer="{oops"))]
    assert validate_lines(broken).errors and validate_lines(broken, json_answers=False).ok


def test_tool_call_arguments_are_always_parsed() -> None:
    row = {
        "messages": [
            {"role": "user", "content": "designer in Paris"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "L", "arguments": '{"city": "Par'}}
                ],
            },
        ],
    }
    report = validate_lines([line(row)], json_answers=False)
    assert codes(report)[0] == [(1, "assistant_not_json")]
    assert "tool call's arguments" in report.errors[0].message


def test_with_an_extractor_the_json_check_is_not_reported_twice() -> None:
    rows = [line(example(f"town {i}")) for i in range(11)] + [line(example("x", answer='{"locations":[]'))]
    report = validate_lines(rows, extractor=LocationExtractor())
    assert codes(report)[0] == [(12, "assistant_not_json")]
    assert report.json_answers is True
