"""Label raw inputs with a teacher (a strong model, the full prompt), resumably.

::

    teacher = LocationExtractor(model="openai:gpt-4o", prompt_variant="full")
    run = await label_inputs(teacher, inputs, checkpoint="labels.jsonl")

The teacher runs through :meth:`~extractkit.Extractor.extract_many` (bounded
concurrency, transport retries, re-asks); failed inputs get another pass at the
end (``retry_failed``). Each input has one request budget for all passes
together (``max_requests``, by default what one call may send: transport tries
x answer attempts, 5 x 3 = 15), so a failing input costs at most that many
requests however many passes run. One input's failure, whatever it raises, is
that input's error; the other labels are kept. Each label is appended to the checkpoint as one JSON
line the moment it arrives, in a single ``write``; a run that is stopped
(Ctrl-C, a crash, a lost machine) is resumed by calling it again: inputs
already in the checkpoint are skipped, so no label is paid for twice. A
half-written last line is detected on load, cut off and its input labelled again.

A label keeps the teacher's *answer* only (input, output, model, usage), never
the teacher's messages: training messages are built later by the *student*
extractor (:func:`~extractkit.datasets.build_from_labels`), so the teacher's
prompt cannot reach a training file.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from extractkit.datasets.student import output_of_value
from extractkit.exceptions import DatasetError, ExtractKitError, ItemError, UserError
from extractkit.extractor import Extractor, ItemResult
from extractkit.retries import RequestBudget
from extractkit.store import input_key

__all__ = [
    "LabelCheckpoint",
    "LabelRun",
    "Progress",
    "TeacherLabel",
    "label_inputs",
    "label_inputs_sync",
]


@dataclass(frozen=True, slots=True)
class TeacherLabel:
    """One input and the teacher's answer to it.

    Attributes:
        input: The input text.
        output: The answer as canonical JSON data (what the student learns to emit).
        model: The teacher's model reference.
        prompt_variant: The teacher's prompt variant (usually ``full``).
        prompt_tokens: Prompt tokens the teacher used (all attempts).
        completion_tokens: Completion tokens the teacher used.
        cost: USD, when the teacher's price is known.
        labelled_at: When the label arrived (aware UTC).
        line: The 1-based line of the checkpoint file it was read from; ``0`` when not read from one.
    """

    input: str
    output: Any
    model: str
    prompt_variant: str = "full"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    labelled_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    line: int = 0

    def to_json(self) -> str:
        """The checkpoint line (compact JSON, no newline)."""
        data = {
            "input": self.input,
            "output": self.output,
            "model": self.model,
            "prompt_variant": self.prompt_variant,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost,
            "labelled_at": self.labelled_at.isoformat(timespec="milliseconds"),
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, line: int = 0) -> TeacherLabel:
        """Parse a checkpoint line's object.

        Raises:
            DatasetError: ``input`` or ``output`` is missing.
        """
        if not isinstance(data.get("input"), str) or "output" not in data:
            raise DatasetError("a label line needs a string 'input' and an 'output'", line=line or None)
        when = data.get("labelled_at")
        cost = data.get("cost")
        return cls(
            input=data["input"],
            output=data["output"],
            model=str(data.get("model") or "unknown"),
            prompt_variant=str(data.get("prompt_variant") or "full"),
            prompt_tokens=int(data.get("prompt_tokens") or 0),
            completion_tokens=int(data.get("completion_tokens") or 0),
            cost=None if cost is None else float(cost),
            labelled_at=datetime.fromisoformat(when) if isinstance(when, str) else datetime.now(UTC),
            line=line,
        )


class LabelCheckpoint:
    """An append-only JSONL file of :class:`TeacherLabel` lines; safe to stop at any moment.

    Args:
        path: The file; created on first append.
        fsync: Also ``fsync`` after each line (survives power loss, not just a crash; slower).
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.dropped_partial = False

    def load(self, *, cut_partial: bool = True) -> list[TeacherLabel]:
        """Read every complete label, in file order; cut off a half-written last line.

        Args:
            cut_partial: Truncate the file to its last complete line (what resuming needs);
                ``False`` only ignores the partial line and leaves the file as it is.

        Raises:
            DatasetError: A complete line is not a label (the file was edited or is not a checkpoint);
                it names the line, and nothing is changed.
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        labels: list[TeacherLabel] = []
        for number, raw in enumerate(data[:end].split(b"\n")[:-1], 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError as exc:
                raise DatasetError(
                    f"{self.path}:{number}: not a JSON label line ({exc}); fix or delete the line to resume",
                    path=str(self.path),
                    line=number,
                ) from None
            if not isinstance(obj, dict):
                raise DatasetError(
                    f"{self.path}:{number}: a label line must be a JSON object",
                    path=str(self.path),
                    line=number,
                )
            try:
                labels.append(TeacherLabel.from_dict(obj, line=number))
            except DatasetError as exc:
                raise DatasetError(f"{self.path}:{number}: {exc}", path=str(self.path), line=number) from None
        if end < len(data) and cut_partial:
            # The process stopped mid-write: the tail has no newline. Drop it so the next append starts a
            # clean line; its input is simply labelled again.
            with open(self.path, "r+b") as handle:
                handle.truncate(end)
        self.dropped_partial = end < len(data)
        return labels

    def append(self, label: TeacherLabel) -> None:
        """Append one label as one line, written with a single ``write`` call."""
        data = (label.to_json() + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)


class Progress:
    """A one-line progress display: ``\\r123/500 labelled, 2 failed`` on a text stream.

    Args:
        total: Inputs in the run (earlier labels included).
        stream: Where to write; ``None`` shows nothing.
        done: Inputs already labelled before this run.
        interval: Least seconds between redraws (the final state is always drawn).
        clock: Monotonic clock (injected in tests).
    """

    def __init__(
        self,
        total: int,
        *,
        stream: TextIO | None,
        done: int = 0,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.done = done
        self.failed = 0
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self._last = -float("inf")

    def text(self) -> str:
        """The current line, without the carriage return."""
        return f"{self.done}/{self.total} labelled, {self.failed} failed"

    def update(self, *, labelled: int = 0, failed: int = 0) -> None:
        """Count ``labelled`` new labels and a change of ``failed`` in failures; redraw if due."""
        self.done += labelled
        self.failed += failed
        now = self.clock()
        if now - self._last >= self.interval:
            self._draw()
            self._last = now

    def finish(self) -> None:
        """Draw the final state and end the line."""
        if self.stream is not None:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self) -> None:
        if self.stream is not None:
            self.stream.write("\r" + self.text())
            self.stream.flush()


@dataclass
class LabelRun:
    """The outcome of :func:`label_inputs`.

    Attributes:
        labels: A label for every labelled input, in input order (earlier runs' included).
        resumed: How many of them came from the checkpoint (not paid for again).
        failed: Inputs that still have no label, with the last error of each.
        skipped_duplicates: Inputs left out because an equal one (case-insensitively) came earlier.
        checkpoint: The checkpoint file, if one was used.
        cost: USD spent on the labels of this run; ``None`` when a price is unknown.
    """

    labels: list[TeacherLabel] = field(default_factory=list)
    resumed: int = 0
    failed: list[tuple[str, ExtractKitError]] = field(default_factory=list)
    skipped_duplicates: int = 0
    checkpoint: Path | None = None
    cost: float | None = 0.0

    @property
    def labelled(self) -> int:
        """Labels obtained in this run."""
        return len(self.labels) - self.resumed


async def label_inputs(
    teacher: Extractor[Any],
    inputs: Iterable[str],
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    concurrency: int | None = None,
    retry_failed: int = 1,
    progress: TextIO | bool | None = None,
    fsync: bool = False,
    max_requests: int | None = None,
) -> LabelRun:
    """Label ``inputs`` with ``teacher``; resumable through ``checkpoint``.

    Args:
        teacher: Any extractor configuration: typically a strong model with ``prompt_variant="full"``.
            A router shuffles its options on every call, so the labels do not depend on option order.
        inputs: Raw input texts; blank ones and case-insensitive repeats are skipped.
        checkpoint: JSONL file of labels. Inputs found in it are not sent again; new labels are
            appended one line each as they arrive.
        concurrency: Requests in flight (default: the settings' ``max_concurrency``).
        retry_failed: Extra passes over the inputs that failed (after the extractor's own transport
            retries and re-asks).
        progress: A stream for the progress line, ``True`` for stderr, ``None``/``False`` for none.
        fsync: ``fsync`` the checkpoint after every line.
        max_requests: Requests one input may send over all passes, every transport retry and
            re-ask counted (default: one call's worst case, ``teacher.retry.max_attempts`` x
            the teacher's answer attempts). A pass skips inputs whose budget is spent.

    Returns:
        A :class:`LabelRun`. Failures are reported in it, not raised: run again to retry them.
    """
    if retry_failed < 0:
        raise UserError(f"retry_failed must be >= 0, got {retry_failed}")
    if max_requests is None:
        max_requests = teacher.requests_per_call()
    if max_requests < 1:
        raise UserError(f"max_requests must be >= 1, got {max_requests}")
    texts: list[str] = []
    keys: set[str] = set()
    skipped = 0
    for text in inputs:
        if not isinstance(text, str):
            raise UserError(f"inputs must be strings, got {type(text).__name__}")
        if not text.strip():
            continue
        key = input_key(text)
        if key in keys:
            skipped += 1
            continue
        keys.add(key)
        texts.append(text)
    store = LabelCheckpoint(checkpoint, fsync=fsync) if checkpoint is not None else None
    found: dict[str, TeacherLabel] = {}
    for label in store.load() if store is not None else []:
        found.setdefault(input_key(label.input), label)
    resumed = {key: found[key] for key in (input_key(t) for t in texts) if key in found}
    stream: TextIO | None = None
    if progress is True:
        stream = sys.stderr
    elif progress is not None and progress is not False:
        stream = progress
    meter = Progress(len(texts), stream=stream, done=len(resumed))
    new: dict[str, TeacherLabel] = {}
    errors: dict[str, ExtractKitError] = {}

    def arrived(done: int, total: int, item: ItemResult[Any]) -> None:
        key = input_key(item.input)
        try:
            take(key, item)
        except Exception as exc:  # e.g. the checkpoint's disk is full: that label is not kept
            was_failed = key in errors
            errors[key] = ItemError.wrap(exc, f"labelling {item.input[:40]!r}")
            new.pop(key, None)
            meter.update(failed=0 if was_failed else 1)

    def take(key: str, item: ItemResult[Any]) -> None:
        was_failed = key in errors
        if item.error is None and item.extraction is not None:
            ex = item.extraction
            try:
                output = output_of_value(teacher, ex.value)
            except DatasetError as exc:
                errors[key] = exc
                meter.update(failed=0 if was_failed else 1)
                return
            label = TeacherLabel(
                input=item.input,
                output=output,
                model=ex.model,
                prompt_variant=ex.prompt_variant,
                prompt_tokens=ex.usage.prompt_tokens,
                completion_tokens=ex.usage.completion_tokens,
                cost=ex.cost,
            )
            if store is not None:
                store.append(label)
            new[key] = label
            errors.pop(key, None)
            meter.update(labelled=1, failed=-1 if was_failed else 0)
        else:
            assert item.error is not None
            errors[key] = item.error
            meter.update(failed=0 if was_failed else 1)

    todo = [t for t in texts if input_key(t) not in resumed]
    budgets = {input_key(t): RequestBudget(max_requests) for t in todo}
    meter.update()
    try:
        for _ in range(1 + retry_failed):
            if not todo:
                break
            await teacher.extract_many(
                todo,
                concurrency=concurrency,
                on_progress=arrived,
                budgets=[budgets[input_key(t)] for t in todo],
            )
            # Another pass only for failures with requests left in their budget.
            todo = [t for t in todo if input_key(t) in errors and budgets[input_key(t)].left > 0]
    finally:
        meter.finish()
    labels = [resumed.get(input_key(t)) or new.get(input_key(t)) for t in texts]
    costs = [label.cost for label in new.values()]
    return LabelRun(
        labels=[label for label in labels if label is not None],
        resumed=len(resumed),
        failed=[(t, errors[input_key(t)]) for t in texts if input_key(t) in errors],
        skipped_duplicates=skipped,
        checkpoint=store.path if store is not None else None,
        cost=None if None in costs else sum(c for c in costs if c is not None),
    )


def label_inputs_sync(teacher: Extractor[Any], inputs: Iterable[str], **kwargs: Any) -> LabelRun:
    """Blocking :func:`label_inputs` (runs on extractkit's background event loop)."""
    from extractkit.runtime import run_sync

    return run_sync(label_inputs(teacher, inputs, **kwargs))
