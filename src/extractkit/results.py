"""What an extraction returns, and the per-call context handed to extractor hooks."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from extractkit.exceptions import ExtractKitError
from extractkit.messages import Message, Usage
from extractkit.output import OutputSpec
from extractkit.profiles import ModelProfile

__all__ = ["CallContext", "CutOffAnswer", "Extraction", "ItemResult", "value_at"]

OutputT = TypeVar("OutputT")


@dataclass(frozen=True, slots=True)
class Extraction(Generic[OutputT]):
    """A typed value and everything known about how it was obtained.

    Attributes:
        value: The validated output.
        raw: The model's last raw answer (text, or tool-call arguments).
        usage: Tokens summed over all attempts.
        cost: USD summed over all attempts; ``None`` when the model has no known price.
        latency_s: Wall time of the whole extraction, retries included.
        attempts: Model calls that returned an answer (1 = no re-ask).
        repairs: Repair actions applied to the accepted answer.
        model: The model reference used (``provider:model``).
        prompt_variant: ``minimal`` or ``full``.
        output_mode: How structured output was requested.
        exchange_id: The recorded exchange's id, when a store is configured.
    """

    value: OutputT
    raw: str | None
    usage: Usage
    cost: float | None
    latency_s: float
    attempts: int
    repairs: tuple[str, ...]
    model: str
    prompt_variant: str
    output_mode: str
    exchange_id: str | None = None

    @property
    def cost_per_10k(self) -> float | None:
        """Projected USD for 10,000 calls like this one."""
        return None if self.cost is None else self.cost * 10_000


@dataclass(frozen=True, slots=True)
class ItemResult(Generic[OutputT]):
    """One input's outcome in :meth:`Extractor.extract_many`: an extraction or an error."""

    index: int
    input: str
    extraction: Extraction[OutputT] | None = None
    error: ExtractKitError | None = None

    @property
    def ok(self) -> bool:
        """True when the extraction succeeded."""
        return self.error is None

    @property
    def value(self) -> OutputT:
        """The extracted value; raises the item's error if it failed."""
        if self.error is not None:
            raise self.error
        assert self.extraction is not None
        return self.extraction.value


@dataclass
class CallContext:
    """Per-call state handed to the overridable hooks of :class:`Extractor`.

    Attributes:
        text: The user input.
        history: Earlier conversation turns, oldest first.
        profile: The effective model profile (overrides applied).
        spec: The output spec.
        rng: This call's random source (route shuffling).
        state: Free space for subclasses (e.g. the option order shown to the model).
        actions: Fixes a hook applied to the current answer (``wrapped_bare_answer``);
            recorded with the answer's repairs. The loop clears it for each answer.
    """

    text: str
    history: tuple[Message, ...]
    profile: ModelProfile
    spec: OutputSpec
    rng: random.Random
    state: dict[str, Any] = field(default_factory=dict)
    actions: list[str] = field(default_factory=list)


class CutOffAnswer(Exception):
    """Raised by :meth:`Extractor.parse` when the answer ends inside a value (see issue: truncation).

    Attributes:
        partial: The value recovered up to the cut.
        paths: JSON paths of the values that were cut mid-way.
    """

    def __init__(self, partial: Any, paths: list[tuple[str | int, ...]]) -> None:
        super().__init__(f"answer cut off inside {len(paths)} value(s)")
        self.partial = partial
        self.paths = paths


def value_at(value: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return value
