"""Candidates: the named model configurations an evaluation compares for one extractor.

The seed comparison has three::

    Candidate("teacher", model="openai:gpt-4o", prompt_variant="full")
    Candidate("base", model="openai:gpt-4o-mini", prompt_variant="full")
    Candidate("finetuned", model="openai:ft:gpt-4o-mini-2024-07-18:acme::abc123")  # minimal prompt

Each is built from the same extractor factory (the extractor class, or a
function taking the same keyword arguments), so only the model, the prompt
variant, the output mode and the backend differ. Evaluation extractions are
never recorded in a store (``store=False``): they must not leak into training
data. A :class:`Replay` candidate calls no model at all; it serves answers
recorded earlier (a store, or a JSONL export from ``extractkit records export``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractkit.config import ModelRef, Settings
from extractkit.exceptions import DatasetError, UserError
from extractkit.extractor import Extractor
from extractkit.store.exchange import Exchange, Record, input_key

if TYPE_CHECKING:
    from extractkit.backends import ChatBackend
    from extractkit.retries import RetryPolicy
    from extractkit.store import Store

__all__ = ["Candidate", "ExtractorFactory", "Replay", "ReplayAnswer"]

ExtractorFactory = Callable[..., Extractor[Any]]
"""An extractor class, or a function taking ``Extractor``'s keyword arguments and returning one."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")


@dataclass(frozen=True, slots=True)
class ReplayAnswer:
    """One recorded answer, as a replay candidate serves it.

    Token counts, cost and latency are ``None`` when the recording does not
    have them (an answer found only in a record's label history).
    """

    output: Any
    error: str | None
    model: str
    raw: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    latency_s: float | None = None
    attempts: int = 1
    repairs: tuple[str, ...] = ()


def _answer(exchange: Exchange) -> ReplayAnswer:
    return ReplayAnswer(
        output=exchange.output,
        error=exchange.error,
        model=exchange.model,
        raw=exchange.raw_response,
        prompt_tokens=exchange.prompt_tokens,
        completion_tokens=exchange.completion_tokens,
        cost=exchange.cost,
        latency_s=exchange.latency_s,
        attempts=exchange.attempts,
        repairs=exchange.repairs,
    )


class Replay:
    """Answers recorded earlier, served to an evaluation instead of calling a model.

    Args:
        source: A :class:`~extractkit.store.Store`, a store URL (``sqlite:///ex.db``), or a
            JSONL file of exported records or exchanges (``extractkit records export``).
        model: Only answers from this model reference; ``None`` takes the latest answer.
    """

    def __init__(self, source: Store | str | os.PathLike[str], *, model: str | None = None) -> None:
        self.model = str(ModelRef.parse(model)) if model else None
        self._store: Store | None = None
        self._owned = False
        self._rows: dict[tuple[str, str], list[Exchange]] | None = None
        self.source = source if isinstance(source, str | os.PathLike) else type(source).__name__
        if isinstance(source, str | os.PathLike):
            text = os.fspath(source)
            if Path(text).suffix.lower() in (".jsonl", ".json"):
                self._rows = _read_exports(text)
            else:
                from extractkit.store import open_store

                self._store = open_store(text, read_only=True)
                self._owned = True
        else:
            self._store = source

    def lookup(self, extractor: str, text: str) -> ReplayAnswer | None:
        """The recorded answer for ``text`` (matched case-insensitively), or ``None``."""
        if self._rows is not None:
            for exchange in reversed(self._rows.get((extractor, input_key(text)), [])):
                if self.model is None or exchange.model == self.model:
                    return _answer(exchange)
            return None
        assert self._store is not None
        record = self._store.find(extractor, text)
        if record is None:
            return None
        if self.model is None or record.exchange.model == self.model:
            return _answer(record.exchange)
        # An older answer from the wanted model survives in the label history, without its usage.
        for label in reversed(record.label_history):
            if label.kind == "model" and label.model == self.model:
                return ReplayAnswer(output=label.output, error=label.error, model=self.model)
        return None

    def close(self) -> None:
        """Close the store if this object opened it."""
        if self._owned and self._store is not None:
            self._store.close()
            self._store = None

    def __repr__(self) -> str:
        return f"Replay({self.source!r}, model={self.model!r})"


def _read_exports(path: str) -> dict[tuple[str, str], list[Exchange]]:
    rows: dict[tuple[str, str], list[Exchange]] = {}
    if not os.path.isfile(path):
        raise DatasetError(f"replay file {path!r} does not exist", path=path)
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                # Exported records carry first_seen_at; bare exchanges do not.
                exchange = (
                    Record.from_dict(data).exchange if "first_seen_at" in data else Exchange.from_dict(data)
                )
            except (ValueError, TypeError, KeyError, UserError) as exc:
                raise DatasetError(
                    f"{path}:{number}: not a recorded exchange: {exc}", path=path, line=number
                ) from None
            rows.setdefault((exchange.extractor, input_key(exchange.input)), []).append(exchange)
    for answers in rows.values():
        answers.sort(key=lambda e: e.created_at)
    return rows


@dataclass(frozen=True)
class Candidate:
    """One named model configuration to evaluate.

    Args:
        name: Shown in reports and used on the command line (``teacher``, ``finetuned``...).
        model: A ``provider:model`` reference; ``None`` leaves the extractor's own resolution.
        prompt_variant: ``"minimal"`` or ``"full"``; ``None`` lets the model's profile decide
            (``ft:`` models get the minimal prompt).
        output_mode: Force an output mode (``json_schema``, ``bare``...).
        backend: A backend instance to use (e.g. a ``FakeBackend``) instead of one from settings.
        settings: Settings for this candidate (backends, prices); default: the evaluation's.
        options: More keyword arguments for the extractor factory (``max_attempts``,
            ``temperature``, ``max_tokens``, ``seed``, ``one_token``...).
        extractor: A ready extractor to use as is (the factory is not called).
        replay: Serve recorded answers instead of calling a model.
        description: Free text shown in reports.
    """

    name: str
    model: str | None = None
    prompt_variant: str | None = None
    output_mode: str | None = None
    backend: ChatBackend | None = None
    settings: Settings | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    extractor: Extractor[Any] | None = None
    replay: Replay | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise UserError(
                f"candidate name {self.name!r} must be 1-64 letters, digits or _.+- (e.g. 'finetuned')"
            )
        if self.prompt_variant not in (None, "minimal", "full"):
            raise UserError(
                f"candidate {self.name}: prompt_variant must be 'minimal' or 'full', "
                f"got {self.prompt_variant!r}"
            )
        if self.model is not None:
            ModelRef.parse(self.model)  # fail on a malformed reference now, not mid-run
        if self.replay is not None and (self.extractor is not None or self.backend is not None):
            raise UserError(f"candidate {self.name}: a replay candidate takes no extractor or backend")
        if self.extractor is not None and (
            self.model or self.prompt_variant or self.output_mode or self.options
        ):
            raise UserError(
                f"candidate {self.name}: give either a ready extractor or model/prompt settings, not both"
            )

    def build(
        self,
        factory: ExtractorFactory | None,
        *,
        settings: Settings | None = None,
        retry: RetryPolicy | None = None,
    ) -> Extractor[Any]:
        """The extractor this candidate runs (never recording to a store).

        Raises:
            UserError: No factory was given and the candidate has no ready extractor.
        """
        if self.extractor is not None:
            return self.extractor
        if factory is None:
            raise UserError(f"candidate {self.name}: no extractor factory to build it from")
        kwargs: dict[str, Any] = {"store": False}
        for key, value in (
            ("model", self.model),
            ("prompt_variant", self.prompt_variant),
            ("output_mode", self.output_mode),
            ("backend", self.backend),
            ("settings", self.settings or settings),
            ("retry", retry),
        ):
            if value is not None:
                kwargs[key] = value
        kwargs.update(self.options)
        try:
            return factory(**kwargs)
        except TypeError as exc:
            raise UserError(
                f"candidate {self.name}: the extractor factory rejected its arguments: {exc}"
            ) from None

    def describe(self, extractor: Extractor[Any] | None) -> dict[str, Any]:
        """What reports show about the candidate: model, prompt variant, output mode."""
        info: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.replay is not None:
            info.update(model=self.replay.model or "(recorded)", prompt_variant=None, output_mode="replay")
            return info
        if extractor is not None:
            ref = extractor.resolve_model()
            profile = extractor.resolve_profile(ref)
            info.update(
                model=str(ref),
                prompt_variant=profile.prompt_variant.value,
                output_mode=profile.output_mode.value,
            )
        return info
