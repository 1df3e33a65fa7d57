"""The HTML report: one self-contained file, nothing fetched from the internet, no JavaScript.

It holds the side-by-side table, a chart of accuracy, $ per 10k calls and p95
latency per candidate (inline SVG), the notes, field and route tables, and
every case with the expected output beside each candidate's (cases some
candidate got wrong first). Cells carry ``data-candidate`` / ``data-metric``
attributes so tests and scripts can read numbers from the page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from extractkit.evals.report import (
    HEADERS,
    format_cost,
    format_number,
    format_percent,
    format_saving,
    format_seconds,
)
from extractkit.redaction import redact

if TYPE_CHECKING:
    from extractkit.evals.metrics import CandidateMetrics
    from extractkit.evals.report import EvalReport

__all__ = ["render_html"]

_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1200px;
color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ddd;padding:.3em .6em;vertical-align:top}
th{background:#f5f5f5;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{margin:0;white-space:pre-wrap;word-break:break-word;font-size:12px}
td.ok{background:#eef8ee}td.miss{background:#fdf0e6}td.error{background:#fbe3e3}
.detail{color:#a33;font-size:12px;margin-top:.3em}.meta{color:#666}
.tag{background:#eee;border-radius:3px;padding:0 .3em;margin-right:.3em;font-size:12px}
ul.notes li{margin:.2em 0}
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


def _summary(report: EvalReport) -> str:
    headers = "".join(f"<th>{_e(h)}</th>" for h in HEADERS)
    rows = []
    for info in report.candidates:
        name = info["name"]
        m = report.metrics[name]
        low, high = m.accuracy.interval
        saving = "(baseline)" if name == report.baseline else format_saving(m.saving_vs_baseline)
        cells = [
            ("name", _e(name), False),
            ("model", _e(info.get("model") or "-"), False),
            ("prompt_variant", _e(info.get("prompt_variant") or "-"), False),
            ("n", str(m.n), True),
            (
                "accuracy",
                f"{format_percent(m.accuracy.value)} "
                f"<span class=meta>({low * 100:.1f}-{high * 100:.1f})</span>",
                True,
            ),
            ("exact", format_percent(m.exact.value), True),
            ("valid", f"{format_percent(m.valid_raw.value, 0)} / {format_percent(m.valid.value, 0)}", True),
            ("reasks", str(m.reasks), True),
            ("latency_p50_s", format_seconds(m.latency_p50_s), True),
            ("latency_p95_s", format_seconds(m.latency_p95_s), True),
            (
                "tokens",
                f"{format_number(m.prompt_tokens_per_call)} / {format_number(m.completion_tokens_per_call)}",
                True,
            ),
            ("cost_per_call", _e(format_cost(m.cost_per_call)), True),
            ("cost_per_10k", _e(format_cost(m.cost_per_10k)), True),
            ("saving_vs_baseline", _e(saving), True),
        ]
        tds = "".join(
            f'<td data-metric="{key}"{" class=num" if num else ""}>{text}</td>' for key, text, num in cells
        )
        rows.append(f'<tr data-candidate="{_e(name)}">{tds}</tr>')
    return f'<table id="summary"><thead><tr>{headers}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _chart(report: EvalReport) -> str:
    """Three bar panels side by side: accuracy, $ per 10k calls, p95 latency."""
    names = report.names
    panels: list[
        tuple[str, str, Callable[[CandidateMetrics], float | None], Callable[[float | None], str]]
    ] = [
        ("accuracy", "accuracy", lambda m: m.accuracy.value, format_percent),
        ("cost_per_10k", "$ per 10k calls", lambda m: m.cost_per_10k, format_cost),
        ("latency_p95_s", "p95 latency (s)", lambda m: m.latency_p95_s, format_seconds),
    ]
    bar_h, gap, label_w, panel_w, top = 22, 8, 110, 230, 34
    height = top + len(names) * (bar_h + gap) + 10
    width = label_w + len(panels) * (panel_w + 20)
    parts = [
        f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="accuracy, cost and latency per candidate">'
    ]
    for i, name in enumerate(names):
        y = top + i * (bar_h + gap)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end" font-size="12">'
            f"{_e(name)}</text>"
        )
    for p, (key, title, get, fmt) in enumerate(panels):
        x0 = label_w + p * (panel_w + 20)
        values = [get(report.metrics[n]) for n in names]
        top_value = max((v for v in values if v is not None), default=0.0)
        scale = 1.0 if key == "accuracy" else (top_value or 1.0)
        parts.append(f'<text x="{x0}" y="18" font-size="13" font-weight="bold">{_e(title)}</text>')
        parts.append(f'<line x1="{x0}" y1="{top - 6}" x2="{x0}" y2="{height - 6}" stroke="#999"/>')
        for i, (name, value) in enumerate(zip(names, values, strict=True)):
            y = top + i * (bar_h + gap)
            length = 0.0 if value is None else (panel_w - 70) * value / scale
            color = _PALETTE[i % len(_PALETTE)]
            parts.append(
                f'<rect x="{x0}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="{color}" '
                f'data-candidate="{_e(name)}" data-metric="{key}" '
                f'data-value="{"" if value is None else repr(value)}">'
                f"<title>{_e(name)}: {_e(fmt(value))}</title></rect>"
            )
            parts.append(
                f'<text x="{x0 + length + 4:.1f}" y="{y + bar_h * 0.7:.1f}" font-size="12">'
                f"{_e(fmt(value))}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _fields(report: EvalReport) -> str:
    paths = sorted({p for m in report.metrics.values() for p in m.fields})
    if not paths:
        return ""
    head = "".join(f"<th>{_e(n)}</th>" for n in report.names)
    rows = []
    for path in paths:
        cells = []
        for name in report.names:
            rate = report.metrics[name].fields.get(path)
            text = (
                "-"
                if rate is None
                else f"{format_percent(rate.value)} <span class=meta>({rate.hits}/{rate.n})</span>"
            )
            cells.append(f'<td class=num data-candidate="{_e(name)}">{text}</td>')
        rows.append(f'<tr data-field="{_e(path)}"><td><code>{_e(path)}</code></td>{"".join(cells)}</tr>')
    return f'<h2>Field accuracy</h2><table id="fields"><tr><th>field</th>{head}</tr>{"".join(rows)}</table>'


def _tags(report: EvalReport) -> str:
    tags = sorted({t for m in report.metrics.values() for t in m.tags})
    if not tags:
        return ""
    head = "".join(f"<th>{_e(n)}</th>" for n in report.names)
    rows = []
    for tag in tags:
        cells = "".join(
            f'<td class=num data-candidate="{_e(n)}">{format_percent(report.metrics[n].tags[tag].value)}</td>'
            for n in report.names
        )
        rows.append(f"<tr><td>{_e(tag)}</td>{cells}</tr>")
    return f'<h2>Accuracy by tag</h2><table id="tags"><tr><th>tag</th>{head}</tr>{"".join(rows)}</table>'


def _routes(report: EvalReport) -> str:
    parts = []
    for name in report.names:
        m = report.metrics[name]
        if not m.routes or m.confusion is None:
            continue
        rows = "".join(
            f'<tr data-route="{_e(label)}"><td>{_e(label)}</td>'
            f"<td class=num>{format_percent(r.precision)}</td>"
            f"<td class=num>{format_percent(r.recall)}</td><td class=num>{r.support}</td></tr>"
            for label, r in m.routes.items()
        )
        parts.append(
            f'<h3>{_e(name)}</h3><table class=routes data-candidate="{_e(name)}">'
            f"<tr><th>route</th><th>precision</th><th>recall</th><th>support</th></tr>{rows}</table>"
        )
        columns = sorted({p for row in m.confusion.values() for p in row})
        head = "".join(f"<th>{_e(c)}</th>" for c in columns)
        body = "".join(
            f"<tr><th>{_e(expected)}</th>"
            + "".join(f"<td class=num>{row.get(c, 0)}</td>" for c in columns)
            + "</tr>"
            for expected, row in sorted(m.confusion.items())
        )
        parts.append(
            f'<table class=confusion data-candidate="{_e(name)}">'
            f"<tr><th>expected \\ predicted</th>{head}</tr>{body}</table>"
        )
    return "<h2>Routes</h2>" + "".join(parts) if parts else ""


def _cases(report: EvalReport) -> str:
    names = report.names
    order = sorted(
        range(len(report.cases)),
        key=lambda i: (all(report.results[n][i].correct for n in names), i),
    )
    head = "".join(f"<th>{_e(n)}</th>" for n in names)
    rows = []
    for i in order:
        case = report.cases[i]
        tags = "".join(f"<span class=tag>{_e(t)}</span>" for t in case.tags)
        cells = []
        for name in names:
            r = report.results[name][i]
            if not r.ok:
                cls, body = "error", f"<pre>{_e(r.error)}</pre>"
            else:
                cls = "ok" if r.correct else "miss"
                body = f"<pre>{_e(_json(r.output))}</pre>"
                if not r.correct and r.score is not None and r.score.detail:
                    body += f"<div class=detail>{_e(r.score.detail)}</div>"
            cells.append(f'<td class="{cls}" data-candidate="{_e(name)}">{body}</td>')
        rows.append(
            f'<tr data-case="{_e(case.id)}"><td><code>{_e(case.id)}</code><br>{tags}'
            f"{'<div class=meta>' + _e(case.note) + '</div>' if case.note else ''}</td>"
            f"<td>{_e(case.input)}</td><td class=expected><pre>{_e(_json(case.expected))}</pre></td>"
            f"{''.join(cells)}</tr>"
        )
    return (
        "<h2>Cases</h2><p class=meta>Cases some candidate got wrong come first.</p>"
        '<table id="cases"><tr><th>case</th><th>input</th><th>expected</th>'
        f"{head}</tr>{''.join(rows)}</table>"
    )


def _list(items: Sequence[str]) -> str:
    return "<ul class=notes>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>"


def render_html(report: EvalReport) -> str:
    """The report as one HTML document with inline CSS and SVG."""
    title = f"extractkit eval: {report.extractor}"
    meta = (
        f"{len(report.cases)} cases · scorer {report.scorer} · baseline {report.baseline} · "
        f"{report.created_at} · {report.duration_s:.1f} s"
    )
    body = [
        f"<h1>{_e(title)}</h1><p class=meta>{_e(meta)}</p>",
        _summary(report),
        _chart(report),
        "<h2>Notes</h2>" + _list(report.notes()),
        _fields(report),
        _tags(report),
        _routes(report),
        _cases(report),
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(p for p in body if p)
        + "</body></html>\n"
    )
    # Secrets are replaced in the page as written: keys hold no character that HTML escapes.
    return redact(page)
