"""Evaluation cases: inputs with their expected outputs, from files or from curated records.

A case file is JSON lines (``.jsonl``), a JSON list (``.json``) or YAML
(``.yaml``/``.yml``, needs PyYAML: ``pip install 'extractkit-llm[eval]'``). Each
case is a mapping::

    {"input": "graphic designer in New York",
     "expected": {"locations": [{"city": "New York", "country": "United States"}]},
     "tags": ["city with inferred country"], "id": "ny"}

``input`` and ``expected`` are required; ``id`` defaults to ``file:line``;
``tags`` (a string or a list of strings) and ``note`` are optional. Malformed
cases raise :class:`~extractkit.exceptions.DatasetError` with the file and
line, and nothing is half-loaded.

Cases also come from the records a reviewer chose for training
(:func:`cases_from_store`), and :func:`check_training_overlap` warns when a
case's input is in a training file: a model scored on what it was trained on
looks better than it is.
"""

from __future__ import annotations

import importlib
import json
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractkit.exceptions import DatasetError, UserError
from extractkit.store.exchange import input_key

if TYPE_CHECKING:
    from extractkit.store import Store

__all__ = [
    "EvalCase",
    "TrainingOverlapWarning",
    "as_cases",
    "cases_from_store",
    "check_training_overlap",
    "dump_cases",
    "load_cases",
]

_KEYS = frozenset({"input", "expected", "id", "tags", "note"})


class TrainingOverlapWarning(UserWarning):
    """An evaluation case's input is also in the training set."""


@dataclass(frozen=True, slots=True)
class EvalCase:
    """One input and the output it should produce.

    Attributes:
        input: The text given to the extractor.
        expected: The expected output as JSON data (what the extractor's value dumps to;
            for :class:`~extractkit.IntentRouter`, the route key).
        id: A short name shown in reports; unique within a case set.
        tags: Free labels ("edge case: city with inferred country"); metrics are also given per tag.
        note: Free text shown beside the case in reports.
        source: Where the case came from (``cases.yaml:12``, ``store:3f2a...``).
    """

    input: str
    expected: Any
    id: str = ""
    tags: tuple[str, ...] = ()
    note: str | None = None
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The case in the file format (what :func:`load_cases` reads)."""
        out: dict[str, Any] = {"id": self.id, "input": self.input, "expected": self.expected}
        if self.tags:
            out["tags"] = list(self.tags)
        if self.note:
            out["note"] = self.note
        return out


def _case(data: Any, *, path: str | None, line: int | None, default_id: str) -> EvalCase:
    def fail(problem: str) -> DatasetError:
        where = f"{path}:{line}: " if path and line else (f"{path}: " if path else "")
        return DatasetError(f"{where}{problem}", path=path, line=line)

    if not isinstance(data, Mapping):
        raise fail(f"a case must be a mapping with 'input' and 'expected', got {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in _KEYS)
    if unknown:
        raise fail(f"unknown key(s) {unknown}; a case has: {', '.join(sorted(_KEYS))}")
    text = data.get("input")
    if not isinstance(text, str) or not text.strip():
        raise fail(f"'input' must be a non-empty string, got {text!r}")
    if "expected" not in data:
        raise fail("the case has no 'expected' output (use null to expect nothing)")
    tags = data.get("tags") or ()
    if isinstance(tags, str):
        tags = (tags,)
    if not isinstance(tags, Sequence) or not all(isinstance(t, str) and t for t in tags):
        raise fail(f"'tags' must be a string or a list of strings, got {tags!r}")
    case_id = data.get("id", default_id)
    if not isinstance(case_id, str | int) or isinstance(case_id, bool) or str(case_id) == "":
        raise fail(f"'id' must be a non-empty string, got {case_id!r}")
    note = data.get("note")
    if note is not None and not isinstance(note, str):
        raise fail(f"'note' must be a string, got {note!r}")
    source = f"{path}:{line}" if path and line else path
    return EvalCase(text, data["expected"], str(case_id), tuple(tags), note, source)


def _unique(cases: list[EvalCase], path: str | None) -> list[EvalCase]:
    seen: dict[str, EvalCase] = {}
    for case in cases:
        if case.id in seen:
            raise DatasetError(
                f"{case.source or path}: case id {case.id!r} is used twice (first at {seen[case.id].source})",
                path=path,
            )
        seen[case.id] = case
    return cases


def load_cases(path: str | os.PathLike[str]) -> list[EvalCase]:
    """Read cases from a ``.jsonl``, ``.json``, ``.yaml`` or ``.yml`` file.

    Raises:
        DatasetError: The file is missing or malformed (the message names the line).
        UserError: A YAML file was given and PyYAML is not installed.
    """
    file = Path(path)
    name = str(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"case file {name!r} does not exist", path=name) from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"case file {name!r} is not UTF-8 text: {exc}", path=name) from None
    suffix = file.suffix.lower()
    if suffix == ".jsonl":
        cases = _from_jsonl(text, name)
    elif suffix == ".json":
        cases = _from_json(text, name)
    elif suffix in (".yaml", ".yml"):
        cases = _from_yaml(text, name)
    else:
        raise DatasetError(f"case file {name!r}: use a .jsonl, .json, .yaml or .yml file", path=name)
    if not cases:
        raise DatasetError(f"case file {name!r} holds no cases", path=name)
    return _unique(cases, name)


def _from_jsonl(text: str, path: str) -> list[EvalCase]:
    cases = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"{path}:{number}: not valid JSON: {exc.msg}", path=path, line=number
            ) from None
        cases.append(_case(data, path=path, line=number, default_id=f"{Path(path).name}:{number}"))
    return cases


def _from_json(text: str, path: str) -> list[EvalCase]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{path}:{exc.lineno}: not valid JSON: {exc.msg}", path=path, line=exc.lineno
        ) from None
    if isinstance(data, Mapping) and "cases" in data:
        data = data["cases"]
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a list of cases (or {{'cases': [...]}})", path=path)
    # json keeps no positions; the item number stands in for the line.
    return [
        _case(d, path=path, line=None, default_id=f"{Path(path).name}#{i}") for i, d in enumerate(data, 1)
    ]


def _from_yaml(text: str, path: str) -> list[EvalCase]:
    try:
        yaml: Any = importlib.import_module("yaml")  # optional: the [eval] extra
    except ImportError:
        raise UserError(
            f"reading {path!r} needs PyYAML: pip install pyyaml (or pip install 'extractkit-llm[eval]'), "
            "or write the cases as JSON lines"
        ) from None
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return []
        if isinstance(root, yaml.MappingNode):
            # Allow a top-level {"cases": [...]} so a file can carry comments and anchors above.
            for key_node, value_node in root.value:
                if key_node.value == "cases":
                    root = value_node
                    break
        if not isinstance(root, yaml.SequenceNode):
            line = root.start_mark.line + 1
            raise DatasetError(f"{path}:{line}: expected a list of cases", path=path, line=line)
        cases = []
        for node in root.value:
            line = node.start_mark.line + 1
            data = loader.construct_object(node, deep=True)
            cases.append(_case(data, path=path, line=line, default_id=f"{Path(path).name}:{line}"))
        return cases
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise DatasetError(f"{path}:{line}: not valid YAML: {exc.problem}", path=path, line=line) from None
    finally:
        loader.dispose()


def as_cases(items: Iterable[Any] | str | os.PathLike[str]) -> list[EvalCase]:
    """Cases from a file path, :class:`EvalCase` objects, mappings or ``(input, expected)`` pairs."""
    if isinstance(items, str | os.PathLike):
        return load_cases(items)
    cases = []
    for i, item in enumerate(items, 1):
        if isinstance(item, EvalCase):
            cases.append(item if item.id else EvalCase(**{**_fields(item), "id": f"#{i}"}))
        elif isinstance(item, tuple) and len(item) == 2:
            cases.append(
                _case({"input": item[0], "expected": item[1]}, path=None, line=None, default_id=f"#{i}")
            )
        else:
            try:
                cases.append(_case(item, path=None, line=None, default_id=f"#{i}"))
            except DatasetError as exc:
                raise DatasetError(f"case #{i}: {exc}") from None
    if not cases:
        raise UserError("no evaluation cases were given")
    return _unique(cases, None)


def _fields(case: EvalCase) -> dict[str, Any]:
    return {
        "input": case.input,
        "expected": case.expected,
        "id": case.id,
        "tags": case.tags,
        "note": case.note,
        "source": case.source,
    }


def dump_cases(cases: Iterable[EvalCase], path: str | os.PathLike[str]) -> int:
    """Write cases as JSON lines (the format :func:`load_cases` reads); return how many."""
    count = 0
    from extractkit.private_files import open_private

    with open_private(path) as fh:  # 0600: cases hold real inputs
        for case in cases:
            fh.write(json.dumps(case.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count


def cases_from_store(store: Store, extractor: str, *, tags: Sequence[str] = ("store",)) -> list[EvalCase]:
    """Cases from the records chosen for training: each one's input and its training output.

    A reviewer's correction beats the model's answer. Records without an output
    (failed extractions nobody corrected) are skipped.
    """
    cases = []
    for record in store.iter_included(extractor):
        expected = record.training_output
        if expected is None:
            continue
        cases.append(
            EvalCase(
                input=record.exchange.input,
                expected=expected,
                id=record.id[:12],
                tags=tuple(tags),
                source=f"store:{record.id[:12]}",  # the prefix the tables show; a full id reads as a key
            )
        )
    return cases


def _training_inputs(path: str | os.PathLike[str]) -> dict[str, int]:
    """Input key -> first line, for every user message in a chat-format JSONL file."""
    name = str(path)
    found: dict[str, int] = {}
    if not os.path.isfile(path):
        raise DatasetError(f"training file {name!r} does not exist", path=name)
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(
                    f"{name}:{number}: not valid JSON: {exc.msg}", path=name, line=number
                ) from None
            messages = row.get("messages") if isinstance(row, Mapping) else None
            if not isinstance(messages, list):
                raise DatasetError(
                    f"{name}:{number}: a training line needs a 'messages' list (chat format)",
                    path=name,
                    line=number,
                )
            # Every user turn counts: a multi-turn example teaches all of them.
            for message in messages:
                if isinstance(message, Mapping) and message.get("role") == "user":
                    content = message.get("content")
                    if isinstance(content, str):
                        found.setdefault(input_key(content.strip()), number)
    return found


def check_training_overlap(
    cases: Iterable[EvalCase], training_file: str | os.PathLike[str], *, warn: bool = True
) -> list[tuple[EvalCase, int]]:
    """Cases whose input (case-insensitively) is a user message in a training JSONL file.

    Returns ``(case, training line)`` pairs; with ``warn`` a
    :class:`TrainingOverlapWarning` names them.
    """
    inputs = _training_inputs(training_file)
    overlap = [(c, inputs[input_key(c.input.strip())]) for c in cases if input_key(c.input.strip()) in inputs]
    if overlap and warn:
        shown = ", ".join(f"{c.id} (line {line})" for c, line in overlap[:5])
        more = f" and {len(overlap) - 5} more" if len(overlap) > 5 else ""
        warnings.warn(
            f"{len(overlap)} evaluation case(s) are in the training set {str(training_file)!r}: "
            f"{shown}{more}. Scores on them overstate accuracy; "
            "remove them from the cases or the training set.",
            TrainingOverlapWarning,
            stacklevel=2,
        )
    return overlap
