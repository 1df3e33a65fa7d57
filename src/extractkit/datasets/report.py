"""What a dataset check found: issues with their line numbers, token statistics, epochs and cost.

Every problem is an :class:`Issue` naming the 1-based line of the JSONL file
it is on, a stable ``code`` (for scripts and tests) and a message that says
what is wrong and what to do. A :class:`DatasetReport` gathers them with the
figures a fine-tuning run needs before it is paid for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from extractkit.exceptions import DatasetError

__all__ = ["DatasetReport", "Issue", "Severity", "TokenStats", "raise_issues"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in a dataset.

    Attributes:
        line: The 1-based line of the file (or of the file being built); ``0`` for the file as a whole.
        code: A stable identifier, e.g. ``invalid_json``, ``assistant_schema``, ``teacher_prompt``.
        message: What is wrong, and what to do about it.
        severity: ``"error"`` (the file must not be used) or ``"warning"``.
    """

    line: int
    code: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line > 0 else ""
        return f"{where}{self.message} [{self.code}]"


@dataclass(frozen=True, slots=True)
class TokenStats:
    """The distribution of a per-example token count.

    Attributes:
        count: Examples counted.
        total: Sum over the examples.
        min: Smallest.
        median: Median (the mean of the two middle values for an even count).
        p95: 95th percentile (nearest rank).
        max: Largest.
    """

    count: int
    total: int
    min: int
    median: float
    p95: int
    max: int

    @property
    def mean(self) -> float:
        """The mean count per example."""
        return self.total / self.count if self.count else 0.0

    @classmethod
    def of(cls, values: Sequence[int]) -> TokenStats | None:
        """Summarise ``values``; ``None`` when there are none."""
        if not values:
            return None
        ordered = sorted(values)
        n = len(ordered)
        mid = n // 2
        median = float(ordered[mid]) if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        p95 = ordered[max(0, math.ceil(0.95 * n) - 1)]
        return cls(n, sum(ordered), ordered[0], median, p95, ordered[-1])

    def __str__(self) -> str:
        return f"min {self.min}, median {self.median:g}, p95 {self.p95}, max {self.max} (total {self.total})"


@dataclass
class DatasetReport:
    """The outcome of validating one chat JSONL file (see :func:`~extractkit.datasets.validate_file`).

    Attributes:
        path: The file validated, when there was one.
        model: The model the file is meant to fine-tune (token limits, tokenizer, price).
        lines: Lines read (blank ones included).
        examples: Lines that hold a JSON object (the examples fine-tuning would see).
        errors: Problems that make the file unusable, in line order.
        warnings: Problems worth a look, in line order.
        tokens: Tokens per example (all messages, as billed).
        assistant_tokens: Tokens of the assistant messages per example (what is learned).
        token_limit: The model's per-example limit, when known.
        billing_tokens: Tokens billed per epoch (each example capped at the limit, as OpenAI does).
        epochs: Epochs the provider's default heuristic would choose for this many examples.
        estimated_cost: USD for ``billing_tokens * epochs``; ``None`` when no training price is known.
        routes: Examples per route, for router datasets (answers shaped ``{"route": ...}``).
        json_answers: Whether the assistant answers were parsed as JSON (``None``: not decided).
    """

    path: str | None
    model: str
    lines: int = 0
    examples: int = 0
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    tokens: TokenStats | None = None
    assistant_tokens: TokenStats | None = None
    token_limit: int | None = None
    billing_tokens: int = 0
    epochs: int = 0
    estimated_cost: float | None = None
    routes: dict[str, int] = field(default_factory=dict)
    json_answers: bool | None = None

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings allowed)."""
        return not self.errors

    def add(self, issue: Issue) -> None:
        """File ``issue`` under errors or warnings by its severity."""
        (self.errors if issue.severity == "error" else self.warnings).append(issue)

    def raise_for_errors(self) -> None:
        """Raise :class:`~extractkit.exceptions.DatasetError` naming the errors, if there are any."""
        raise_issues(self.errors, path=self.path)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (for ``extractkit dataset validate --json``)."""

        def stats(s: TokenStats | None) -> dict[str, Any] | None:
            if s is None:
                return None
            keys = ("count", "total", "min", "median", "p95", "max")
            return {key: getattr(s, key) for key in keys}

        def issues(items: list[Issue]) -> list[dict[str, Any]]:
            return [{"line": i.line, "code": i.code, "message": i.message} for i in items]

        return {
            "path": self.path,
            "model": self.model,
            "ok": self.ok,
            "lines": self.lines,
            "examples": self.examples,
            "errors": issues(self.errors),
            "warnings": issues(self.warnings),
            "tokens": stats(self.tokens),
            "assistant_tokens": stats(self.assistant_tokens),
            "token_limit": self.token_limit,
            "billing_tokens": self.billing_tokens,
            "epochs": self.epochs,
            "estimated_cost": self.estimated_cost,
            "routes": dict(self.routes),
            "json_answers": self.json_answers,
        }

    def format(self, *, max_issues: int = 50) -> str:
        """A readable multi-line summary: the issues first (at most ``max_issues`` each), then the figures."""
        out: list[str] = []
        name = self.path or "dataset"
        for title, items in (("error", self.errors), ("warning", self.warnings)):
            for issue in items[:max_issues]:
                where = f"{name}:{issue.line}" if issue.line > 0 else name
                out.append(f"{where}: {title}: {issue.message} [{issue.code}]")
            if len(items) > max_issues:
                out.append(f"... and {len(items) - max_issues} more {title}s")
        verdict = "OK" if self.ok else f"{len(self.errors)} error(s)"
        out.append(
            f"{name}: {verdict}, {len(self.warnings)} warning(s); {self.examples} example(s) "
            f"on {self.lines} line(s)"
        )
        if self.json_answers is not None:
            out.append(
                "answers: JSON, each one parsed"
                if self.json_answers
                else "answers: not JSON, not parsed (--json-answers checks them)"
            )
        out += self.figures()
        return "\n".join(out)

    def figures(self) -> list[str]:
        """The figures as readable lines: token distributions, routes, epochs and estimated cost."""
        out: list[str] = []
        if self.tokens is not None:
            limit = f" (limit {self.token_limit:,} for {self.model})" if self.token_limit else ""
            out.append(f"tokens per example: {self.tokens}{limit}")
        if self.assistant_tokens is not None:
            out.append(f"assistant tokens per example: {self.assistant_tokens}")
        if self.routes:
            shown = ", ".join(f"{k} {v}" for k, v in sorted(self.routes.items()))
            out.append(f"routes: {shown}")
        if self.epochs:
            cost = (
                "unknown (no training price for this model)"
                if self.estimated_cost is None
                else f"${self.estimated_cost:,.2f}"
                if self.estimated_cost >= 1
                else f"${self.estimated_cost:.4f}"
            )
            out.append(
                f"training: {self.epochs} epoch(s) x {self.billing_tokens:,} billed tokens = "
                f"{self.epochs * self.billing_tokens:,} tokens; estimated cost {cost} on {self.model}"
            )
        return out


def raise_issues(issues: Sequence[Issue], *, path: str | None = None, shown: int = 10) -> None:
    """Raise one :class:`~extractkit.exceptions.DatasetError` listing ``issues`` (no-op when empty).

    The error's ``line`` is the first issue's line, so callers can point at it.
    """
    if not issues:
        return
    head = f"{path}: " if path else ""
    listed = "\n".join(f"  {issue}" for issue in issues[:shown])
    more = f"\n  ... and {len(issues) - shown} more" if len(issues) > shown else ""
    first = issues[0].line
    raise DatasetError(
        f"{head}{len(issues)} problem(s) in the dataset:\n{listed}{more}",
        path=path,
        line=first if first > 0 else None,
    )
