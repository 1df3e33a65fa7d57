"""The data of a distillation: a snapshot of the extractor's recorded exchanges, each with its label.

Rows of the store are taken in this order, best label first, and each becomes a
:class:`DataItem` whose ``source`` says where its label comes from:

1. ``included``: rows a reviewer chose for training (oldest inclusion first); the label is the
   reviewer's correction when there is one, else the recorded output.
2. ``corrected``: rows a reviewer corrected without including them; the correction is the label.
3. ``teacher``: unreviewed rows whose latest answer was recorded from the teacher model itself,
   without error; that answer is the teacher's label, already paid for.
4. ``unlabelled``: every other unreviewed row (another model's answer, or a failed extraction);
   the teacher labels it.

Rows a reviewer excluded (reviewed, not included, not corrected) are left out. With
``max_examples`` only the first rows in that order are kept, so a cap drops teacher
work first and reviewed rows last. The snapshot is written to the run directory once:
a resumed run works on the same rows even while the store keeps recording.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from extractkit.config import ModelRef
from extractkit.datasets import write_lines_atomic
from extractkit.exceptions import DatasetError
from extractkit.store import Record, Store, input_key

__all__ = ["SOURCES", "DataItem", "LabelSource", "collect", "read_items", "source_counts", "write_items"]

LabelSource = Literal["included", "corrected", "teacher", "label"]
"""Where an item's training answer comes from; ``label`` means the teacher has to label it."""

SOURCES: tuple[LabelSource, ...] = ("included", "corrected", "teacher", "label")


@dataclass(frozen=True, slots=True)
class DataItem:
    """One input of the distillation and its answer.

    Attributes:
        input: The user input, as recorded.
        output: The answer to train on (JSON data); ``None`` until the teacher labels it.
        source: Where the answer comes from (see :data:`LabelSource`).
        record: The store's record id (``""`` for inputs that did not come from the store).
    """

    input: str
    output: Any
    source: LabelSource
    record: str = ""

    @property
    def labelled(self) -> bool:
        """Whether the item has its answer (every source but ``label``)."""
        return self.source != "label"

    @property
    def reviewed(self) -> bool:
        """Whether a reviewer gave the answer (included or corrected)."""
        return self.source in ("included", "corrected")

    def to_json(self) -> str:
        """The snapshot line (compact JSON)."""
        data = {"input": self.input, "output": self.output, "source": self.source, "record": self.record}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _teacher_answered(record: Record, teacher: ModelRef) -> bool:
    exchange = record.exchange
    if exchange.error is not None or exchange.output is None:
        return False
    try:
        return ModelRef.parse(exchange.model) == teacher
    except ValueError:
        return False


def _classify(record: Record, teacher: ModelRef) -> DataItem | None:
    text = record.exchange.input
    if record.included:
        return DataItem(text, record.training_output, "included", record.id)
    if record.corrected:
        return DataItem(text, record.corrected_output, "corrected", record.id)
    if record.reviewed_at is not None:
        return None  # excluded by a reviewer
    if _teacher_answered(record, teacher):
        return DataItem(text, record.exchange.output, "teacher", record.id)
    return DataItem(text, None, "label", record.id)


def collect(
    store: Store, extractor: str, teacher: str | ModelRef, *, max_examples: int | None = None
) -> tuple[list[DataItem], int]:
    """Read the extractor's rows from ``store`` as data items, best label first.

    Args:
        store: The store the extractor recorded into.
        extractor: The extractor's name (``location``).
        teacher: The teacher's model reference: unreviewed answers recorded from it are reused as labels.
        max_examples: Keep only the first this many items (reviewed ones come first).

    Returns:
        The items, and how many rows reviewers excluded.

    Raises:
        DatasetError: The store holds no usable row for the extractor.
    """
    ref = ModelRef.parse(teacher)
    included_ids: set[str] = set()
    items: list[DataItem] = []
    for record in store.iter_included(extractor):  # oldest inclusion first
        included_ids.add(record.id)
        items.append(DataItem(record.exchange.input, record.training_output, "included", record.id))
    rest: dict[LabelSource, list[DataItem]] = {source: [] for source in SOURCES}
    excluded = 0
    for record in reversed(store.list(extractor=extractor, limit=None)):  # oldest first
        if record.id in included_ids:
            continue
        item = _classify(record, ref)  # "included" here: included between the two reads
        if item is None:
            excluded += 1
        else:
            rest[item.source].append(item)
    for source in SOURCES:
        items += rest[source]
    if not items:
        raise DatasetError(
            f"the store has no usable records for the extractor {extractor!r}"
            + (f" ({excluded} excluded by reviewers)" if excluded else "")
            + "; record some extractions first (a store configured with [store] url records them)"
        )
    if max_examples is not None:
        items = items[:max_examples]
    return _unique(items), excluded


def _unique(items: Iterable[DataItem]) -> list[DataItem]:
    # A store keeps one row per input already; a hand-made snapshot may not. Keep the best-labelled copy.
    seen: set[str] = set()
    out: list[DataItem] = []
    for item in items:
        key = input_key(item.input)
        if key not in seen and item.input.strip():
            seen.add(key)
            out.append(item)
    return out


def source_counts(items: Iterable[DataItem]) -> dict[str, int]:
    """How many items each label source gave, in :data:`SOURCES` order."""
    counts = Counter(item.source for item in items)
    return {source: counts.get(source, 0) for source in SOURCES}


def write_items(path: str | os.PathLike[str], items: Iterable[DataItem]) -> Path:
    """Write items as JSON lines, atomically."""
    return write_lines_atomic(path, (item.to_json() for item in items))


def read_items(path: str | os.PathLike[str]) -> list[DataItem]:
    """Read a snapshot written by :func:`write_items`.

    Raises:
        DatasetError: A line is not an item (naming the file and line).
    """
    return list(_iter_items(Path(path)))


def _iter_items(path: Path) -> Iterator[DataItem]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path} does not exist", path=str(path)) from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            source = data["source"]
            if source not in SOURCES or not isinstance(data["input"], str):
                raise ValueError(f"unknown source {source!r}")
            yield DataItem(data["input"], data.get("output"), source, str(data.get("record") or ""))
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(
                f"{path}:{number}: not a data item ({exc})", path=str(path), line=number
            ) from None
