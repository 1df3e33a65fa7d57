"""Validate any chat fine-tuning JSONL file, line by line, before paying for a fine-tune.

The format checks are the OpenAI cookbook's ("Data preparation and analysis
for chat model fine-tuning": each line a JSON object with a ``messages`` list;
known roles and keys; string content; an assistant message in every example)
and more: blank lines, bad UTF-8, unknown top-level keys, malformed tool calls
and tool definitions, ``weight`` values, examples over the model's per-example
token limit, a system message that is not first, and the guards of
:mod:`extractkit.datasets.guards` (teacher prompt, answer JSON and schema,
duplicates, evaluation leaks). Every issue names its 1-based line.

Assistant answers are parsed as JSON whenever the file's answers are JSON: when
``json_answers=True``, or by default when most answers start with ``{`` or
``[`` (a structured-output dataset). Then an answer that is not valid JSON (a
missing closing brace, prose, a truncated value) is an error on its line: one
such example teaches the model that broken output is acceptable. Tool-call
arguments are always JSON and always parsed. With an ``extractor`` the answers
are also checked against its schema (:mod:`extractkit.datasets.guards`).

Then the figures: tokens per example (min/median/p95/max), the epochs the
provider's default heuristic picks, the billed tokens and the estimated
training cost from :func:`extractkit.prices.training_cost`.

The file is streamed; stdlib ``json`` and the process-wide tiktoken encoding do
the work (``bench/datasets.py`` measures the rate).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from extractkit.datasets.example import Dataset, route_of, user_input
from extractkit.datasets.guards import Guards
from extractkit.datasets.report import DatasetReport, Issue, TokenStats
from extractkit.exceptions import DatasetError, UserError
from extractkit.extractor import Extractor
from extractkit.prices import PriceTable, training_cost
from extractkit.tokens import count_message_tokens, count_tokens, resolve_encoding

__all__ = [
    "EXAMPLE_TOKEN_LIMITS",
    "recommended_epochs",
    "token_limit_for",
    "validate_dataset",
    "validate_file",
    "validate_lines",
]

# Tokens per training example, by base model prefix (longest prefix wins), from OpenAI's fine-tuning guide.
EXAMPLE_TOKEN_LIMITS: dict[str, int] = {
    "gpt-4o-mini": 65_536,
    "gpt-4o": 65_536,
    "gpt-4.1": 65_536,
    "gpt-4-0613": 8_192,
    "gpt-3.5-turbo": 16_385,
    "gpt-3.5-turbo-0613": 4_096,
}
"""Per-example token limits of fine-tunable models (USD pricing lives in :mod:`extractkit.prices`)."""

# The cookbook's defaults: aim for 3 epochs, but keep total examples seen between 100 and 25,000.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25
MIN_EXAMPLES = 10  # OpenAI rejects training files with fewer examples
LONG_SYSTEM_PROMPT = 500  # tokens; far beyond what a minimal prompt needs

_TOP_KEYS = frozenset({"messages", "tools", "functions", "parallel_tool_calls"})
_MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "function_call", "tool_calls", "tool_call_id", "weight", "refusal"}
)
_ROLES = frozenset({"system", "user", "assistant", "tool", "function"})
_PART_TYPES = frozenset({"text", "image_url"})


def token_limit_for(model: str) -> int | None:
    """The per-example token limit for fine-tuning ``model``, or ``None`` when unknown."""
    base = resolve_encoding(model).base_model  # provider prefix and ft: wrapping removed, lower-cased
    best: str | None = None
    for prefix in EXAMPLE_TOKEN_LIMITS:
        if base.startswith(prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    return None if best is None else EXAMPLE_TOKEN_LIMITS[best]


def recommended_epochs(examples: int) -> int:
    """The epochs OpenAI's default heuristic picks for ``examples`` training examples (the cookbook's).

    Three epochs, raised for small files so at least 100 examples are seen (at most 25
    epochs), lowered for large ones so at most 25,000 are (at least 1 epoch).
    """
    if examples <= 0:
        return 0
    epochs = TARGET_EPOCHS
    if examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        epochs = min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // examples)
    elif examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // examples)
    return epochs


class _Checker:
    """The per-line checks and the running figures of one validation pass."""

    def __init__(self, report: DatasetReport, guards: Guards, model: str) -> None:
        self.report = report
        self.guards = guards
        self.model = model
        self.tokens: list[int] = []
        self.assistant_tokens: list[int] = []
        self.long_systems: set[str] = set()
        # Answer JSON checks without an extractor: which answers look like JSON, and the issues of
        # those that do not parse, kept until the end decides whether this is a JSON-answer file.
        self.answers = 0
        self.json_like = 0
        self.not_json: list[Issue] = []

    def issue(self, line: int, code: str, message: str, severity: str = "error") -> None:
        self.report.add(Issue(line, code, message, "warning" if severity == "warning" else "error"))

    def line(self, number: int, raw: str | bytes) -> None:
        self.report.lines = number
        if not raw.strip():
            self.issue(number, "blank_line", "the line is empty; a JSONL file has one example per line")
            return
        try:
            obj = json.loads(raw)
        except UnicodeDecodeError as exc:
            self.issue(number, "encoding", f"the line is not valid UTF-8 ({exc.reason} at byte {exc.start})")
            return
        except ValueError as exc:
            where = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else str(exc)
            self.issue(number, "invalid_json", f"the line is not valid JSON ({where})")
            return
        if not isinstance(obj, dict):
            self.issue(number, "data_type", f"the line must be a JSON object, got {type(obj).__name__}")
            return
        self.report.examples += 1
        self.example(number, obj)

    def example(self, number: int, obj: dict[str, Any]) -> None:
        errors_before = len(self.report.errors)
        for key in obj:
            if key not in _TOP_KEYS:
                self.issue(
                    number, "unrecognized_key", f"unrecognized key {key!r} (allowed: {_allowed(_TOP_KEYS)})"
                )
        messages = obj.get("messages")
        if not isinstance(messages, list) or not messages:
            self.issue(number, "missing_messages_list", "the example needs a non-empty 'messages' list")
            return
        tools = obj.get("tools")
        if tools is not None:
            self.tools(number, tools)
        assistants: list[Mapping[str, Any]] = []
        for index, message in enumerate(messages, 1):
            if self.message(number, index, message) and message.get("role") == "assistant":
                assistants.append(message)
        if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
            self.issue(number, "example_missing_assistant_message", "the example has no assistant message")
        roles = [m.get("role") for m in messages if isinstance(m, dict)]
        if "system" in roles[1:]:
            self.issue(
                number, "system_not_first", "a system message comes after the first message", "warning"
            )
        if roles and roles[-1] != "assistant":
            self.issue(
                number,
                "last_not_assistant",
                f"the last message is {roles[-1]!r}, not the assistant's: it teaches nothing",
                "warning",
            )
        if len(self.report.errors) > errors_before:
            return  # a malformed example has no meaningful tokens or answer
        self.content_checks(number, messages, assistants)
        self.count(number, messages, tools, assistants)

    def message(self, number: int, index: int, message: Any) -> bool:
        if not isinstance(message, dict):
            self.issue(number, "message_type", f"message {index} must be a JSON object")
            return False
        ok = True
        role = message.get("role")
        if "role" not in message:
            self.issue(number, "message_missing_key", f"message {index} has no 'role'")
            ok = False
        elif role not in _ROLES:
            self.issue(
                number,
                "unrecognized_role",
                f"message {index} has role {role!r} (allowed: {_allowed(_ROLES)})",
            )
            ok = False
        for key in message:
            if key not in _MESSAGE_KEYS:
                self.issue(
                    number,
                    "message_unrecognized_key",
                    f"message {index} has unrecognized key {key!r} (allowed: {_allowed(_MESSAGE_KEYS)})",
                )
                ok = False
        calls = message.get("tool_calls") or message.get("function_call")
        content = message.get("content")
        if "content" not in message and not calls:
            self.issue(number, "message_missing_key", f"message {index} ({role}) has no 'content'")
            ok = False
        elif content is None or (isinstance(content, str) and not content.strip()):
            if not calls:
                self.issue(number, "missing_content", f"message {index} ({role}) has empty content")
                ok = False
        elif isinstance(content, list):
            ok = self.parts(number, index, content) and ok
        elif not isinstance(content, str):
            self.issue(
                number,
                "content_type",
                f"message {index} content must be a string or a list of parts, got {type(content).__name__}",
            )
            ok = False
        if "tool_calls" in message:
            ok = self.tool_calls(number, index, message["tool_calls"]) and ok
        if "weight" in message:
            if role != "assistant":
                self.issue(
                    number, "weight", f"message {index}: 'weight' is only allowed on assistant messages"
                )
                ok = False
            elif message["weight"] not in (0, 1) or isinstance(message["weight"], bool):
                self.issue(
                    number, "weight", f"message {index}: 'weight' must be 0 or 1, got {message['weight']!r}"
                )
                ok = False
        return ok

    def parts(self, number: int, index: int, parts: list[Any]) -> bool:
        for part in parts:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in _PART_TYPES or (kind == "text" and not isinstance(part.get("text"), str)):
                self.issue(
                    number,
                    "content_type",
                    f"message {index} has a content part that is not a text or image_url part: {part!r:.60}",
                )
                return False
        return True

    def tool_calls(self, number: int, index: int, calls: Any) -> bool:
        if not isinstance(calls, list) or not calls:
            self.issue(number, "tool_call_format", f"message {index}: 'tool_calls' must be a non-empty list")
            return False
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if (
                not isinstance(function, dict)
                or not isinstance(function.get("name"), str)
                or not isinstance(function.get("arguments"), str)
            ):
                self.issue(
                    number,
                    "tool_call_format",
                    f"message {index}: each tool call needs a 'function' with a string 'name' and "
                    f"'arguments' (JSON text): {call!r:.80}",
                )
                return False
        return True

    def tools(self, number: int, tools: Any) -> None:
        if not isinstance(tools, list) or not all(
            isinstance(t, dict)
            and isinstance(t.get("function"), dict)
            and isinstance(t["function"].get("name"), str)
            for t in tools
        ):
            self.issue(
                number,
                "tools_format",
                '\'tools\' must be a list of {"type": "function", "function": {"name": ...}} objects',
            )

    def content_checks(self, number: int, messages: list[Any], assistants: list[Mapping[str, Any]]) -> None:
        guards = self.guards
        for message in messages:
            if message.get("role") == "system" and isinstance(message.get("content"), str):
                issue = guards.check_system(number, message["content"])
                if issue is not None:
                    self.report.add(issue)
        text = user_input(messages)
        if text is not None:
            for issue in guards.check_input(number, text):
                self.report.add(issue)
        for message in assistants:
            if message.get("weight") != 0:
                for issue in guards.check_answer(number, message):
                    self.report.add(issue)
                if guards.extractor is None:  # with one, the guards parse and check every answer
                    self.answer_json(number, message)
        last = assistants[-1] if assistants else None
        content = last.get("content") if last is not None else None
        if isinstance(content, str) and content.startswith("{") and '"route"' in content:
            try:
                route = route_of(json.loads(content))
            except ValueError:
                route = None
            if route is not None:
                self.report.routes[route] = self.report.routes.get(route, 0) + 1

    def answer_json(self, number: int, message: Mapping[str, Any]) -> None:
        calls = message.get("tool_calls")
        if calls:
            for call in calls:  # tool-call arguments are JSON by definition: always checked
                arguments = call["function"]["arguments"]
                issue = _json_issue(number, arguments, "the tool call's arguments are")
                if issue is not None:
                    self.report.add(issue)
            return
        content = message.get("content")
        if not isinstance(content, str):
            return  # content parts or a missing answer: the format checks speak for those
        self.answers += 1
        self.json_like += content.lstrip()[:1] in ("{", "[")
        issue = _json_issue(number, content, "the assistant answer is")
        if issue is not None:
            self.not_json.append(issue)

    def json_mode(self, forced: bool | None) -> bool:
        """Whether answers are JSON: as ``forced``, else when most of them start with ``{`` or ``[``."""
        if forced is not None:
            return forced
        return self.answers > 0 and 2 * self.json_like > self.answers

    def count(
        self, number: int, messages: list[Any], tools: Any, assistants: list[Mapping[str, Any]]
    ) -> None:
        try:
            total = count_message_tokens(messages, self.model, tools=tools or None)
        except UserError as exc:  # a shape the counter cannot read; the format checks explain it
            self.issue(number, "tokens", f"cannot count tokens: {exc}")
            return
        answer = 0
        for message in assistants:
            content = message.get("content")
            if isinstance(content, str):
                answer += count_tokens(content, self.model)
            for call in message.get("tool_calls") or ():
                answer += count_tokens(call["function"]["arguments"], self.model)
        self.tokens.append(total)
        self.assistant_tokens.append(answer)
        limit = self.report.token_limit
        if limit is not None and total > limit:
            self.issue(
                number,
                "too_long",
                f"the example is {total:,} tokens, over the {limit:,}-token limit of {self.model} training "
                "examples; it would be truncated (the answer comes last and would be cut)",
            )
        system = messages[0].get("content") if messages[0].get("role") == "system" else None
        if isinstance(system, str) and len(system) > LONG_SYSTEM_PROMPT and system not in self.long_systems:
            size = count_tokens(system, self.model)
            if size > LONG_SYSTEM_PROMPT:
                self.long_systems.add(system)
                self.issue(
                    number,
                    "long_system_prompt",
                    f"the system prompt is {size:,} tokens; a fine-tuned model is called with the prompt it "
                    "was trained with, so train with the short (minimal) prompt",
                    "warning",
                )


def _allowed(keys: Iterable[str]) -> str:
    return ", ".join(sorted(keys))


def _json_issue(number: int, text: str, what: str) -> Issue | None:
    try:
        json.loads(text)
    except ValueError as exc:
        where = f" ({exc.msg} at column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        flat = " ".join(text.split())
        shown = repr(flat if len(flat) <= 60 else flat[:57] + "...")
        return Issue(number, "assistant_not_json", f"{what} not valid JSON{where}: {shown}")
    return None


def validate_lines(
    lines: Iterable[str | bytes],
    *,
    path: str | None = None,
    model: str = "gpt-4o-mini",
    extractor: Extractor[Any] | None = None,
    teacher_prompts: Iterable[str] = (),
    eval_inputs: Iterable[str] | None = None,
    token_limit: int | None = None,
    prices: PriceTable | None = None,
    json_answers: bool | None = None,
) -> DatasetReport:
    """Validate JSONL lines (text or bytes, with or without newlines); see :func:`validate_file`."""
    report = DatasetReport(path=path, model=model)
    report.token_limit = token_limit if token_limit is not None else token_limit_for(model)
    guards = Guards(extractor, teacher_prompts=teacher_prompts, eval_inputs=eval_inputs)
    checker = _Checker(report, guards, model)
    number = 0
    for number, raw in enumerate(lines, 1):
        checker.line(number, raw)
    if extractor is not None:
        report.json_answers = True  # the guards parsed every answer and checked it against the schema
    else:
        report.json_answers = checker.json_mode(json_answers)
        if report.json_answers:
            for issue in checker.not_json:
                report.add(issue)
    if number == 0:
        report.add(Issue(0, "empty_file", "the file has no examples"))
    elif report.examples < MIN_EXAMPLES:
        report.add(
            Issue(
                0,
                "too_few_examples",
                f"{report.examples} example(s); OpenAI needs at least {MIN_EXAMPLES} to fine-tune "
                "(fine for a validation file)",
                "warning",
            )
        )
    report.errors.sort(key=lambda i: i.line)
    report.warnings.sort(key=lambda i: i.line)
    report.tokens = TokenStats.of(checker.tokens)
    report.assistant_tokens = TokenStats.of(checker.assistant_tokens)
    limit = report.token_limit
    report.billing_tokens = sum(min(n, limit) if limit else n for n in checker.tokens)
    report.epochs = recommended_epochs(len(checker.tokens))
    if report.epochs:
        report.estimated_cost = training_cost(report.billing_tokens, model, report.epochs, table=prices)
    return report


def validate_file(
    path: str | os.PathLike[str],
    *,
    model: str = "gpt-4o-mini",
    extractor: Extractor[Any] | None = None,
    teacher_prompts: Iterable[str] = (),
    eval_inputs: Iterable[str] | None = None,
    token_limit: int | None = None,
    prices: PriceTable | None = None,
    json_answers: bool | None = None,
) -> DatasetReport:
    """Validate a chat fine-tuning JSONL file (ours or anyone's); every issue names its line.

    Args:
        path: The JSONL file.
        model: The model to fine-tune: its tokenizer, per-example limit and training price.
        extractor: The student extractor: answers are checked against its schema and its
            teacher prompt is looked for in system messages. Without it, only the format,
            duplicates and tokens are checked.
        teacher_prompts: More teacher prompts to look for.
        eval_inputs: Evaluation inputs that must not be in the file.
        token_limit: Override the per-example token limit (default: :func:`token_limit_for`).
        prices: Price table for the cost estimate (default: the built-in list prices).
        json_answers: Parse every assistant answer as JSON (``True``), never (``False``), or
            when most answers start with ``{`` or ``[`` (``None``, the default). Ignored with
            an ``extractor``, which always checks the answers.

    Raises:
        DatasetError: The file cannot be read. Problems *in* the file are in the report.
    """
    file = Path(path)
    if not file.is_file():
        raise DatasetError(f"{file} does not exist or is not a file", path=str(file))
    with open(file, "rb") as handle:
        return validate_lines(
            handle,
            path=str(file),
            model=model,
            extractor=extractor,
            teacher_prompts=teacher_prompts,
            eval_inputs=eval_inputs,
            token_limit=token_limit,
            prices=prices,
            json_answers=json_answers,
        )


def validate_dataset(dataset: Dataset, **kwargs: Any) -> DatasetReport:
    """Validate a built :class:`~extractkit.datasets.Dataset` as the file it would write (same options)."""
    return validate_lines(dataset.lines(), path=str(dataset.path) if dataset.path else None, **kwargs)
