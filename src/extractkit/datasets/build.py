"""Build chat fine-tuning datasets from curated records or from teacher labels.

Both builders feed (input, answer) pairs through the *student* extractor (see
:mod:`extractkit.datasets.student`): system message = its minimal prompt, user
message = the input, assistant message = the canonical compact JSON of the
answer (or the tool call, in tools mode). Every example then passes the guards
(:mod:`extractkit.datasets.guards`). Problems are collected, not raised one by
one: with ``on_invalid="error"`` (the default) nothing is written and one
:class:`~extractkit.exceptions.DatasetError` lists them all; with ``"skip"``
the bad rows are left out and reported as warnings.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from extractkit.datasets.example import Dataset
from extractkit.datasets.guards import Guards
from extractkit.datasets.report import Issue, raise_issues
from extractkit.datasets.student import training_example
from extractkit.datasets.teacher import LabelCheckpoint, TeacherLabel
from extractkit.exceptions import DatasetError
from extractkit.extractor import Extractor
from extractkit.store import Store

__all__ = ["LabelledInput", "OnInvalid", "build_dataset", "build_from_labels", "build_from_store"]

OnInvalid = Literal["error", "skip"]


@dataclass(frozen=True, slots=True)
class LabelledInput:
    """An input with the answer to train on.

    Attributes:
        input: The user input.
        output: The answer as JSON data; ``None`` when there is none (a failed, uncorrected extraction).
        source: Names it in messages: ``record 1f2e...`` or ``labels.jsonl``.
        line: Its line in the source file, when it came from one (``0`` otherwise).
        error: Why there is no answer, when the extraction failed.
    """

    input: str
    output: Any
    source: str
    line: int = 0
    error: str | None = None


def build_dataset(
    extractor: Extractor[Any],
    items: Iterable[LabelledInput],
    *,
    path: str | os.PathLike[str] | None = None,
    eval_inputs: Iterable[str] | None = None,
    teacher_prompts: Iterable[str] = (),
    on_invalid: OnInvalid = "error",
    seed: int | None = None,
) -> Dataset:
    """Turn labelled inputs into training examples for the student ``extractor``.

    Args:
        extractor: The student (the extractor and configuration the fine-tuned model will serve).
        items: Inputs with their answers.
        path: Write the JSONL here (atomically) when the dataset is clean.
        eval_inputs: Evaluation inputs; one found among the items is an error.
        teacher_prompts: Extra teacher prompts the guard looks for in system messages.
        on_invalid: ``"error"``: raise on any bad item; ``"skip"``: leave bad items out, as warnings.
        seed: Seed of per-example shuffles (a router's option order); default: the extractor's
            ``seed``, else 0, so the same items always give the same file.

    Raises:
        DatasetError: Bad items (with ``on_invalid="error"``), a guard error, or no examples at all.
    """
    return _build(
        extractor,
        items,
        path=path,
        eval_inputs=eval_inputs,
        teacher_prompts=teacher_prompts,
        on_invalid=on_invalid,
        seed=seed,
        empty="there was nothing to build from",
    )


def _build(
    extractor: Extractor[Any],
    items: Iterable[LabelledInput],
    *,
    path: str | os.PathLike[str] | None,
    eval_inputs: Iterable[str] | None,
    teacher_prompts: Iterable[str],
    on_invalid: OnInvalid,
    seed: int | None,
    empty: str,
) -> Dataset:
    if on_invalid not in ("error", "skip"):
        raise DatasetError(f"on_invalid must be 'error' or 'skip', got {on_invalid!r}")
    rng = random.Random(seed if seed is not None else (extractor.seed if extractor.seed is not None else 0))
    guards = Guards(extractor, teacher_prompts=teacher_prompts, eval_inputs=eval_inputs)
    dataset = Dataset()
    problems: list[Issue] = []
    for item in items:
        where = item.source  # the line, when there is one, is the issue's own
        if item.output is None:
            cause = f" (its extraction failed: {item.error})" if item.error else ""
            problems.append(
                Issue(
                    item.line,
                    "no_output",
                    f"{where}: no answer to train on for {item.input!r}{cause}; correct it or exclude it",
                )
            )
            continue
        if guards.is_duplicate(item.input):
            dataset.warnings.append(
                Issue(
                    item.line,
                    "duplicate",
                    f"{where}: {item.input!r} repeats an earlier input; left out",
                    "warning",
                )
            )
            continue
        try:
            origin = f"{where}:{item.line}" if item.line else where
            example = training_example(extractor, item.input, item.output, rng=rng, source=origin)
        except DatasetError as exc:
            problems.append(Issue(item.line, "assistant_schema", f"{where}: {item.input!r}: {exc}"))
            continue
        line = len(dataset.examples) + 1
        found = [i for i in guards.check_input(line, item.input) if i.severity == "error"]
        system = example.messages[0].get("content") if example.messages else None
        if isinstance(system, str):
            teacher = guards.check_system(line, system)
            if teacher is not None:
                found.append(teacher)
        if found:
            problems += [replace(i, line=item.line, message=f"{where}: {i.message}") for i in found]
            continue
        dataset.examples.append(example)
    if problems and on_invalid == "error":
        raise_issues(problems)
    dataset.warnings[:0] = [
        replace(p, severity="warning", message=p.message + " (skipped)") for p in problems
    ]
    if not dataset.examples:
        raise DatasetError(
            f"no training examples for {type(extractor).__name__} ({extractor.name!r}): "
            + ("every item was skipped" if problems else empty)
        )
    if path is not None:
        dataset.write(path)
    return dataset


def build_from_store(
    store: Store,
    extractor: Extractor[Any],
    *,
    path: str | os.PathLike[str] | None = None,
    eval_inputs: Iterable[str] | None = None,
    teacher_prompts: Iterable[str] = (),
    on_invalid: OnInvalid = "error",
    seed: int | None = None,
) -> Dataset:
    """Build the training set from the records chosen for training (``included``) in ``store``.

    Rows are read with ``store.iter_included(extractor.name)`` (oldest inclusion
    first); a reviewer's correction replaces the model's output. Arguments are
    those of :func:`build_dataset`.

    Example::

        with open_store("sqlite:///exchanges.db") as store:
            build_from_store(store, LocationExtractor(), path="train.jsonl")
    """
    items = (
        LabelledInput(
            input=record.exchange.input,
            output=record.training_output,
            source=f"record {record.id[:12]}",  # the prefix the tables show; a full id reads as a key
            error=record.exchange.error,
        )
        for record in store.iter_included(extractor.name)
    )
    return _build(
        extractor,
        items,
        path=path,
        eval_inputs=eval_inputs,
        teacher_prompts=teacher_prompts,
        on_invalid=on_invalid,
        seed=seed,
        empty=f"the store has no included records for {extractor.name!r}; choose some with "
        "`extractkit records include ID`",
    )


def build_from_labels(
    extractor: Extractor[Any],
    labels: Iterable[TeacherLabel] | str | os.PathLike[str],
    *,
    path: str | os.PathLike[str] | None = None,
    eval_inputs: Iterable[str] | None = None,
    teacher_prompts: Iterable[str] = (),
    on_invalid: OnInvalid = "error",
    seed: int | None = None,
) -> Dataset:
    """Build the training set from teacher labels, with the *student* ``extractor``'s minimal prompt.

    Args:
        extractor: The student. It builds every training message, so the teacher's prompt
            (which the labels do not even contain) cannot reach the file.
        labels: Labels from :func:`~extractkit.datasets.label_inputs`, or the checkpoint file's path.
        path: Where to write the JSONL; other arguments as for :func:`build_dataset`.
    """
    if isinstance(labels, str | os.PathLike):
        source = str(Path(labels))
        # Read only: a half-written last line is ignored here, and cut off only by a resumed labelling run.
        loaded: Iterable[TeacherLabel] = LabelCheckpoint(labels).load(cut_partial=False)
    else:
        source, loaded = "label", labels
    items = (LabelledInput(label.input, label.output, source, label.line) for label in loaded)
    return _build(
        extractor,
        items,
        path=path,
        eval_inputs=eval_inputs,
        teacher_prompts=teacher_prompts,
        on_invalid=on_invalid,
        seed=seed,
        empty="there are no labels; run `extractkit dataset label` first",
    )
