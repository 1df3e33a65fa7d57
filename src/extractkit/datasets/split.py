"""Seeded train/validation splits, stratified by route for router datasets.

The same file, fraction and seed always give the same split. With
stratification every route keeps (as nearly as whole examples allow) the
file's proportion in both parts, the validation part gets exactly
``round(n * fraction)`` examples in total, and no route is moved wholly into
validation (the model could not learn it). Both parts keep the file's order.

:func:`split_file` validates the file first (:func:`~extractkit.datasets.validate_lines`)
and refuses one with errors, naming their lines: a split copies lines verbatim,
so a broken line would otherwise reach a fine-tune unnoticed.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from extractkit.datasets.example import Dataset, route_of, write_lines_atomic
from extractkit.exceptions import DatasetError, UserError

if TYPE_CHECKING:
    from extractkit.datasets.report import DatasetReport

__all__ = ["SplitResult", "Stratify", "split_dataset", "split_file", "split_indices"]

Stratify = Literal["auto", "route", "none"]


def split_indices(
    strata: Sequence[Hashable], *, validation: float = 0.2, seed: int = 0
) -> tuple[list[int], list[int]]:
    """Split positions ``0..len(strata)-1`` into (train, validation), stratified by ``strata``.

    Args:
        strata: One stratum per example (``None`` everywhere for a plain random split).
        validation: The fraction for validation, strictly between 0 and 1.
        seed: The random seed.

    Returns:
        Sorted train and validation positions.

    Raises:
        UserError: ``validation`` is out of range.
        DatasetError: Fewer than two examples.
    """
    if not 0 < validation < 1:
        raise UserError(f"the validation fraction must be between 0 and 1, got {validation}")
    n = len(strata)
    if n < 2:
        raise DatasetError(f"cannot split {n} example(s): need at least 2")
    target = min(n - 1, max(1, round(n * validation)))
    groups: dict[Hashable, list[int]] = {}
    for index, stratum in enumerate(strata):
        groups.setdefault(stratum, []).append(index)
    rng = random.Random(seed)
    # A fixed group order (by text) makes the draw independent of the file's order of first appearance.
    order = sorted(groups, key=lambda k: (k is None, str(k)))
    quota: dict[Hashable, int] = {}
    room: dict[Hashable, float] = {}
    for key in order:
        size = len(groups[key])
        exact = size * target / n
        # Never the whole group: a route seen only in validation could not be learned.
        quota[key] = min(math.floor(exact), max(0, size - 1))
        room[key] = exact - quota[key]
    left = target - sum(quota.values())
    # Largest remainders first; a seeded random number breaks ties.
    ranked = sorted(order, key=lambda k: (-room[k], rng.random()))
    for key in ranked:
        if left <= 0:
            break
        if quota[key] < len(groups[key]) - 1:
            quota[key] += 1
            left -= 1
    chosen: set[int] = set()
    for key in order:
        chosen.update(rng.sample(groups[key], quota[key]))
    train = [i for i in range(n) if i not in chosen]
    return train, sorted(chosen)


@dataclass
class SplitResult:
    """What :func:`split_file` wrote.

    Attributes:
        train_path: The training file.
        validation_path: The validation file.
        train: Examples in the training file.
        validation: Examples in the validation file.
        routes: Per route, ``(train, validation)`` counts; empty when not stratified.
        report: The validation of the source file (its warnings), when it was checked.
    """

    train_path: Path
    validation_path: Path
    train: int
    validation: int
    routes: dict[str, tuple[int, int]] = field(default_factory=dict)
    report: DatasetReport | None = None


def _route_counts(
    routes: Sequence[str | None], train: list[int], valid: list[int]
) -> dict[str, tuple[int, int]]:
    counts: dict[str, tuple[int, int]] = {}
    for part, indices in ((0, train), (1, valid)):
        for i in indices:
            route = routes[i]
            if route is not None:
                pair = counts.get(route, (0, 0))
                counts[route] = (pair[0] + 1, pair[1]) if part == 0 else (pair[0], pair[1] + 1)
    return dict(sorted(counts.items()))


def _strata(routes: Sequence[str | None], stratify: Stratify, where: str) -> Sequence[str | None]:
    if stratify not in ("auto", "route", "none"):
        raise UserError(f"stratify must be 'auto', 'route' or 'none', got {stratify!r}")
    if stratify == "none":
        return [None] * len(routes)
    missing = [i for i, r in enumerate(routes) if r is None]
    if stratify == "route" and missing:
        raise DatasetError(
            f"{where}{missing[0] + 1}: the answer has no route; stratify='route' needs router examples "
            '(an assistant answer {"route": ...}) on every line',
            line=missing[0] + 1,
        )
    if missing:  # auto: stratify only a router dataset
        return [None] * len(routes)
    return routes


def split_dataset(
    dataset: Dataset, *, validation: float = 0.2, seed: int = 0, stratify: Stratify = "auto"
) -> tuple[Dataset, Dataset]:
    """Split a built dataset into (train, validation) datasets.

    Args:
        dataset: The examples.
        validation: Fraction for validation (default 0.2).
        seed: Random seed.
        stratify: ``"auto"`` stratifies by route when every example has one (router datasets),
            ``"route"`` requires it, ``"none"`` never stratifies.
    """
    routes = [example.route for example in dataset.examples]
    train, valid = split_indices(_strata(routes, stratify, "example "), validation=validation, seed=seed)
    return (
        Dataset([dataset.examples[i] for i in train], list(dataset.warnings)),
        Dataset([dataset.examples[i] for i in valid]),
    )


def _line_route(raw: str) -> str | None:
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    messages = obj.get("messages") if isinstance(obj, dict) else None
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "assistant":
            content = message.get("content")
            if content is None and message.get("tool_calls"):
                call = message["tool_calls"][0]
                content = call.get("function", {}).get("arguments") if isinstance(call, dict) else None
            if not isinstance(content, str):
                return None
            try:
                return route_of(json.loads(content))
            except ValueError:
                return None
    return None


def split_file(
    path: str | os.PathLike[str],
    *,
    train_path: str | os.PathLike[str] | None = None,
    validation_path: str | os.PathLike[str] | None = None,
    validation: float = 0.2,
    seed: int = 0,
    stratify: Stratify = "auto",
    check: bool = True,
    json_answers: bool | None = None,
    shown_as: str | None = None,
) -> SplitResult:
    """Split a chat JSONL file into a training and a validation file (lines copied verbatim).

    Args:
        path: The JSONL file; blank lines are dropped.
        train_path: Default: ``<stem>_train.jsonl`` beside ``path``.
        validation_path: Default: ``<stem>_validation.jsonl`` beside ``path``.
        validation: Fraction for validation (default 0.2).
        seed: Random seed.
        stratify: As for :func:`split_dataset`; routes are read from the last assistant answer.
        check: Validate the file first and refuse it when it has errors (the default).
        json_answers: For the check: parse answers as JSON (see :func:`~extractkit.datasets.validate_lines`).
        shown_as: The file's name in messages (default: ``path``).

    Raises:
        DatasetError: The file is missing, has errors (each named with its line; nothing is
            written), is too small, or (``stratify="route"``) a line has no route.
    """
    source = Path(path)
    label = shown_as or str(source)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{label} does not exist", path=label) from None
    report = None
    if check:
        from extractkit.datasets.report import raise_issues
        from extractkit.datasets.validate import validate_lines

        report = validate_lines(text.splitlines(), path=label, json_answers=json_answers)
        # The split drops blank lines, so they are no reason to refuse the file.
        report.errors = [issue for issue in report.errors if issue.code != "blank_line"]
        raise_issues(report.errors, path=label, shown=20)
    lines = [line for line in text.splitlines() if line.strip()]
    routes = [_line_route(line) for line in lines] if stratify != "none" else [None] * len(lines)
    strata = _strata(routes, stratify, f"{label}: example ")
    train, valid = split_indices(strata, validation=validation, seed=seed)
    train_out = Path(train_path) if train_path else source.with_name(f"{source.stem}_train.jsonl")
    valid_out = (
        Path(validation_path) if validation_path else source.with_name(f"{source.stem}_validation.jsonl")
    )
    if source.resolve() in (train_out.resolve(), valid_out.resolve()):
        raise UserError(f"the split would overwrite its input {source}; choose other output paths")
    write_lines_atomic(train_out, (lines[i] for i in train))
    write_lines_atomic(valid_out, (lines[i] for i in valid))
    stratified = any(s is not None for s in strata)
    return SplitResult(
        train_out,
        valid_out,
        len(train),
        len(valid),
        _route_counts(routes, train, valid) if stratified else {},
        report,
    )
