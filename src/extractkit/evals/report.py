"""The evaluation report: a side-by-side table for the terminal, Markdown, JSON for CI, and HTML.

:class:`EvalReport` holds the cases, every candidate's results and their
metrics. ``to_table()`` is for a terminal, ``to_markdown()`` for a pull
request, ``to_json()`` for CI (with :meth:`EvalReport.check` and thresholds
such as ``accuracy=0.8`` deciding the exit status) and ``to_html()`` a single
self-contained file with per-case diffs and a cost/accuracy/latency chart.

Every rendering passes through :func:`extractkit.redaction.redact` (a key
echoed into an error message or an answer never reaches a report), and
:meth:`EvalReport.write` creates its file readable by its owner only (0600).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from extractkit.evals.cases import EvalCase
from extractkit.evals.metrics import CandidateMetrics, compute_metrics, margin_note
from extractkit.evals.results import CaseResult
from extractkit.evals.thresholds import Threshold, ThresholdFailure, check_thresholds, metric_value
from extractkit.exceptions import UserError
from extractkit.redaction import redact, redact_value

__all__ = [
    "FORMATS",
    "HEADERS",
    "EvalReport",
    "build_report",
    "format_cost",
    "format_number",
    "format_percent",
    "format_saving",
    "format_seconds",
]

FORMATS = ("table", "markdown", "json", "html")

HEADERS = (
    "candidate",
    "model",
    "prompt",
    "n",
    "accuracy (95% CI)",
    "exact",
    "valid raw / final",
    "re-asks",
    "p50 s",
    "p95 s",
    "tokens in / out",
    "$ / call",
    "$ / 10k calls",
    "$ vs baseline",
)
"""The columns of the side-by-side table."""


# --------------------------------------------------------------------------- formatting


def format_percent(value: float | None, digits: int = 1) -> str:
    """``0.7`` -> ``"70.0%"``; ``None`` -> ``"-"``."""
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def format_cost(value: float | None) -> str:
    """Dollars with cents, or four significant digits below a dollar; ``None`` -> ``"n/a"``."""
    if value is None:
        return "n/a"
    if value >= 1 or value <= 0:
        return f"${value:,.2f}"
    # Fixed-point with four significant digits: per-call costs are fractions of a cent.
    decimals = 3 - math.floor(math.log10(value))
    return f"${value:.{decimals}f}"


def format_number(value: float | None, digits: int = 1) -> str:
    """A mean such as tokens per call: thousands separators, ``digits`` decimals."""
    return "-" if value is None else f"{value:,.{digits}f}"


def format_seconds(value: float | None) -> str:
    """Seconds with three decimals."""
    return "-" if value is None else f"{value:.3f}"


def format_saving(value: float | None) -> str:
    """``-0.94`` -> ``"-94.0%"`` (negative is cheaper)."""
    return "-" if value is None else f"{value * 100:+.1f}%"


def _tokens(m: CandidateMetrics) -> str:
    return f"{format_number(m.prompt_tokens_per_call)} / {format_number(m.completion_tokens_per_call)}"


def _interval(m: CandidateMetrics) -> str:
    low, high = m.accuracy.interval
    return f"{low * 100:.1f}-{high * 100:.1f}"


# --------------------------------------------------------------------------- the report


@dataclass
class EvalReport:
    """Everything an evaluation produced.

    Attributes:
        extractor: The extractor's name.
        cases: The cases, with canonical expected outputs.
        candidates: Per candidate: ``name``, ``model``, ``prompt_variant``, ``output_mode``, ``description``,
            and for those that ran a model, ``concurrency`` and ``local`` (its model ran on this machine).
        results: Per candidate name, one scored result per case (in case order).
        metrics: Per candidate name, its metrics.
        baseline: The candidate savings and comparisons are relative to.
        router: Whether routing metrics were computed.
        scorer: The scorer's name.
        overlap: ``(case id, training line)`` for cases found in the training file.
        duration_s: Wall time of the run.
        created_at: When the report was made (ISO 8601, UTC).
    """

    extractor: str
    cases: list[EvalCase]
    candidates: list[dict[str, Any]]
    results: dict[str, list[CaseResult]]
    metrics: dict[str, CandidateMetrics]
    baseline: str
    router: bool = False
    scorer: str = "exact"
    overlap: list[tuple[str, int]] = field(default_factory=list)
    duration_s: float = 0.0
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def names(self) -> list[str]:
        """Candidate names, in the order given."""
        return [c["name"] for c in self.candidates]

    def metric(self, candidate: str, name: str) -> float | None:
        """One metric's value for ``candidate`` (rates as fractions); ``None`` when not measured."""
        return metric_value(self.metrics[candidate], name)

    def check(self, thresholds: Sequence[Threshold | str] | Mapping[str, float]) -> list[ThresholdFailure]:
        """The thresholds each candidate misses (empty when all pass); see :func:`check_thresholds`."""
        return check_thresholds(self.metrics, thresholds)

    def notes(self) -> list[str]:
        """Sentences for the reader: precision of the numbers, paired comparisons, warnings."""
        n = len(self.cases)
        notes = [margin_note(n)]
        local = [c for c in self.candidates if c.get("local")]
        if local:
            names = ", ".join(c["name"] for c in local)
            at_once = max(int(c.get("concurrency") or 1) for c in local)
            notes.append(
                f"{names} ran on this machine, one candidate at a time and one case at a time, so the "
                "latency is what one query costs, not time spent waiting for others decoding."
                if at_once == 1
                else f"{names} ran on this machine, one candidate at a time but {at_once} cases at a time: "
                "the latency includes waiting for the other cases decoding on the same machine."
            )
        for name in self.names:
            m = self.metrics[name]
            if m.vs_baseline is None:
                continue
            cmp = m.vs_baseline
            verdict = "a significant difference" if cmp.p_value < 0.05 else "no significant difference"
            notes.append(
                f"{name} vs {cmp.baseline}: better on {cmp.better} case(s), worse on {cmp.worse} "
                f"(McNemar p={cmp.p_value:.2f}: {verdict})."
            )
        if self.overlap:
            ids = ", ".join(case_id for case_id, _ in self.overlap[:5])
            notes.append(
                f"warning: {len(self.overlap)} case(s) are in the training set ({ids}); "
                "scores on them overstate accuracy."
            )
        for name in self.names:
            cached = self.metrics[name].cached
            if cached:
                notes.append(f"{name}: {cached} answer(s) came from the cache.")
        return notes

    # ----------------------------------------------------------------- renderings

    def _rows(self) -> list[list[str]]:
        rows = []
        for info in self.candidates:
            m = self.metrics[info["name"]]
            rows.append(
                [
                    info["name"],
                    str(info.get("model") or "-"),
                    str(info.get("prompt_variant") or "-"),
                    str(m.n),
                    f"{format_percent(m.accuracy.value)} ({_interval(m)})",
                    format_percent(m.exact.value),
                    f"{format_percent(m.valid_raw.value, 0)} / {format_percent(m.valid.value, 0)}",
                    str(m.reasks),
                    format_seconds(m.latency_p50_s),
                    format_seconds(m.latency_p95_s),
                    _tokens(m),
                    format_cost(m.cost_per_call),
                    format_cost(m.cost_per_10k),
                    "(baseline)" if info["name"] == self.baseline else format_saving(m.saving_vs_baseline),
                ]
            )
        return rows

    def to_table(self) -> str:
        """A fixed-width side-by-side table with notes, for a terminal."""
        rows = self._rows()
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]
        line = "  ".join
        out = [line(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)).rstrip()]
        out.append(line("-" * w for w in widths))
        out += [line(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        out.append("")
        out += [f"note: {n}" for n in self.notes()]
        out += self._detail_lines()
        return redact("\n".join(out) + "\n")

    def _detail_lines(self) -> list[str]:
        lines: list[str] = []
        fields = sorted({p for m in self.metrics.values() for p in m.fields})
        if fields:
            lines += ["", "field accuracy: " + ", ".join(fields)]
            for name in self.names:
                m = self.metrics[name]
                cells = [
                    f"{p}={format_percent(m.fields[p].value)}" if p in m.fields else f"{p}=-" for p in fields
                ]
                lines.append(f"  {name}: " + "  ".join(cells))
        tags = sorted({t for m in self.metrics.values() for t in m.tags})
        if tags:
            lines += ["", "accuracy by tag: " + ", ".join(tags)]
            for name in self.names:
                m = self.metrics[name]
                lines.append(
                    f"  {name}: " + "  ".join(f"{t}={format_percent(m.tags[t].value)}" for t in tags)
                )
        for name in self.names:
            m = self.metrics[name]
            if m.routes:
                cells = [
                    f"{label} P={format_percent(r.precision, 0)} R={format_percent(r.recall, 0)}"
                    for label, r in m.routes.items()
                ]
                lines.append(f"routes {name}: " + "; ".join(cells))
            if m.errors:
                lines.append(f"errors {name}: " + ", ".join(f"{k} x{v}" for k, v in sorted(m.errors.items())))
        return lines

    def to_markdown(self) -> str:
        """A GitHub-flavoured Markdown report: the table, notes, fields, routes and failing cases."""
        out = [f"## Evaluation: {self.extractor}", ""]
        out.append(f"{len(self.cases)} cases, scorer `{self.scorer}`, baseline `{self.baseline}`.")
        out.append("")
        out.append("| " + " | ".join(HEADERS) + " |")
        out.append("|" + "|".join("---" if i < 3 else "---:" for i in range(len(HEADERS))) + "|")
        out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in self._rows()]
        out.append("")
        out += [f"- {n}" for n in self.notes()]
        fields = sorted({p for m in self.metrics.values() for p in m.fields})
        if fields:
            out += ["", "| field | " + " | ".join(self.names) + " |", "|---|" + "---:|" * len(self.names)]
            for p in fields:
                cells = [
                    format_percent(self.metrics[n].fields[p].value) if p in self.metrics[n].fields else "-"
                    for n in self.names
                ]
                out.append(f"| `{_md(p)}` | " + " | ".join(cells) + " |")
        tags = sorted({t for m in self.metrics.values() for t in m.tags})
        if tags:
            out += ["", "| tag | " + " | ".join(self.names) + " |", "|---|" + "---:|" * len(self.names)]
            for t in tags:
                cells = [format_percent(self.metrics[n].tags[t].value) for n in self.names]
                out.append(f"| {_md(t)} | " + " | ".join(cells) + " |")
        for name in self.names:
            m = self.metrics[name]
            if m.routes:
                out += [
                    "",
                    f"Routes, {name}:",
                    "",
                    "| route | precision | recall | support |",
                    "|---|---:|---:|---:|",
                ]
                for label, r in m.routes.items():
                    out.append(
                        f"| {_md(label)} | {format_percent(r.precision)} | "
                        f"{format_percent(r.recall)} | {r.support} |"
                    )
        wrong = [
            (c, [n for n in self.names if not self._result(n, i).correct]) for i, c in enumerate(self.cases)
        ]
        wrong = [(c, names) for c, names in wrong if names]
        if wrong:
            out += ["", "Cases some candidate got wrong:", ""]
            for case, names in wrong[:50]:
                out.append(f"- `{_md(case.id)}` {_md(case.input[:80])}: {', '.join(names)}")
        return redact("\n".join(out) + "\n")

    def _result(self, candidate: str, index: int) -> CaseResult:
        return self.results[candidate][index]

    def to_dict(self) -> dict[str, Any]:
        """The whole report as JSON-able data (what ``to_json`` writes)."""
        return {
            "extractor": self.extractor,
            "created_at": self.created_at,
            "duration_s": self.duration_s,
            "scorer": self.scorer,
            "baseline": self.baseline,
            "router": self.router,
            "n_cases": len(self.cases),
            "candidates": self.candidates,
            "metrics": {n: self.metrics[n].to_dict() for n in self.names},
            "notes": self.notes(),
            "overlap": [{"case_id": c, "training_line": line} for c, line in self.overlap],
            "cases": [
                {
                    **case.to_dict(),
                    "results": {n: self.results[n][i].to_dict() for n in self.names},
                }
                for i, case in enumerate(self.cases)
            ],
        }

    def to_json(self, *, failures: Sequence[ThresholdFailure] = ()) -> str:
        """JSON text of :meth:`to_dict`, with threshold failures under ``"failures"``."""
        data = self.to_dict()
        data["failures"] = [
            {"candidate": f.candidate, "threshold": str(f.threshold), "actual": f.actual, "message": str(f)}
            for f in failures
        ]
        data["passed"] = not failures
        # Redact the data, not the text: a secret inside a JSON string may be written escaped.
        return json.dumps(redact_value(data), ensure_ascii=False, indent=2, default=str)

    def to_html(self) -> str:
        """One self-contained HTML page: table, chart (inline SVG), notes and per-case diffs."""
        from extractkit.evals.html_report import render_html

        return render_html(self)

    def render(self, fmt: str, *, failures: Sequence[ThresholdFailure] = ()) -> str:
        """The report in ``fmt`` (``table``, ``markdown``, ``json`` or ``html``)."""
        if fmt == "table":
            return self.to_table()
        if fmt == "markdown":
            return self.to_markdown()
        if fmt == "json":
            return self.to_json(failures=failures)
        if fmt == "html":
            return self.to_html()
        raise UserError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")

    def write(self, path: str | os.PathLike[str], fmt: str | None = None) -> str:
        """Write the report to ``path`` (format from the suffix unless given); return the format used."""
        if fmt is None:
            suffix = os.path.splitext(os.fspath(path))[1].lower()
            fmt = {".html": "html", ".htm": "html", ".md": "markdown", ".json": "json"}.get(suffix, "table")
        from extractkit.private_files import open_private

        text = self.render(fmt)
        with open_private(path) as fh:
            fh.write(text)
        return fmt


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def build_report(
    *,
    extractor_name: str,
    cases: list[EvalCase],
    candidates: list[dict[str, Any]],
    results: dict[str, list[CaseResult]],
    baseline: str,
    router: bool,
    scorer: str,
    overlap: list[tuple[str, int]],
    duration_s: float,
) -> EvalReport:
    """Compute every candidate's metrics (the baseline's first) and assemble the report."""
    metrics: dict[str, CandidateMetrics] = {}
    base = compute_metrics(baseline, cases, results[baseline], router=router)
    for info in candidates:
        name = info["name"]
        if name == baseline:
            metrics[name] = base
            continue
        metrics[name] = compute_metrics(
            name,
            cases,
            results[name],
            router=router,
            baseline=(baseline, results[baseline], base.cost_per_call),
        )
    return EvalReport(
        extractor=extractor_name,
        cases=cases,
        candidates=candidates,
        results=results,
        metrics=metrics,
        baseline=baseline,
        router=router,
        scorer=scorer,
        overlap=overlap,
        duration_s=duration_s,
    )
