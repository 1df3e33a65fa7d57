"""The HTML report of a distillation run: one self-contained page, no JavaScript, nothing fetched.

It is rendered from the manifest (and the evaluation it points to), so it can be
written again at any time: the data (how many inputs, and where their labels came
from), the cost estimate beside what was spent, each step with its time, the
evaluation table (accuracy with its 95% interval, latency, $ per 10k calls), and the
gate's decision with the numbers behind it. The evaluation's own page
(``eval.html``, every case side by side) sits next to it and is linked.
Cells carry ``data-*`` attributes so scripts and tests can read the numbers back.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from extractkit.distill.context import STEPS
from extractkit.distill.manifest import RunManifest
from extractkit.evals.report import format_cost, format_number, format_percent, format_seconds

__all__ = ["REPORT_FILE", "render_report"]

REPORT_FILE = "report.html"

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1100px;color:#222;
padding:0 1em}h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ddd;padding:.3em .6em;vertical-align:top}
th{background:#f5f5f5;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#666}.pass{color:#1a7f37;font-weight:bold}.fail{color:#b42318;font-weight:bold}
ul li{margin:.2em 0}
"""

_SOURCES = (
    ("included", "included by a reviewer"),
    ("corrected", "corrected by a reviewer"),
    ("teacher", "answered by the teacher when recorded"),
    ("label", "labelled by the teacher in this run"),
)


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _money(value: Any, *, free: bool = False) -> str:
    if free:
        return "$0"
    return format_cost(value) if isinstance(value, int | float) or value is None else _e(value)


def _outputs(manifest: RunManifest, step: str) -> Mapping[str, Any]:
    record = manifest.steps.get(step)
    return record.outputs if record is not None else {}


def _data(manifest: RunManifest) -> str:
    collect = _outputs(manifest, "collect")
    sources = collect.get("sources") or {}
    rows = [
        f'<tr data-source="{key}"><td>{_e(text)}</td><td class=num>{sources.get(key, 0)}</td></tr>'
        for key, text in _SOURCES
    ]
    rows.append(
        f"<tr><td>excluded by a reviewer (left out)</td><td class=num>{collect.get('excluded', 0)}</td></tr>"
    )
    label = _outputs(manifest, "label")
    if label.get("failed"):
        rows.append(f"<tr><td>could not be labelled (left out)</td><td class=num>{label['failed']}</td></tr>")
    dataset = _outputs(manifest, "dataset")
    split = _outputs(manifest, "split")
    more = [
        ("training examples built (minimal prompt, validated)", dataset.get("examples")),
        ("trained on", split.get("train")),
        ("held out for evaluation (never trained on)", split.get("eval")),
    ]
    rows += [f"<tr><td>{_e(t)}</td><td class=num>{'-' if v is None else v}</td></tr>" for t, v in more]
    labels = split.get("eval_labels") or {}
    note = (
        "<p class=meta>Evaluation cases by label: "
        + ", ".join(f"{_e(k)} {v}" for k, v in sorted(labels.items()))
        + ". On cases labelled by the teacher, the teacher is scored against its own earlier answer.</p>"
        if labels
        else ""
    )
    where = _e(collect.get("store", "-"))
    return f"<h2>Data</h2><p class=meta>From {where}.</p><table id=data>{''.join(rows)}</table>{note}"


def _costs(manifest: RunManifest) -> str:
    estimate = _outputs(manifest, "estimate").get("estimate") or {}
    actual = {
        "labelling": _outputs(manifest, "label").get("cost"),
        "training": _outputs(manifest, "finetune").get("cost"),
        "evaluation": _outputs(manifest, "evaluate").get("cost"),
    }
    done = {
        "labelling": "label" in manifest.steps and manifest.steps["label"].status == "done",
        "training": "finetune" in manifest.steps and manifest.steps["finetune"].status == "done",
        "evaluation": "evaluate" in manifest.steps and manifest.steps["evaluate"].status == "done",
    }
    rows = []
    for key in ("labelling", "training", "evaluation"):
        line = estimate.get(key) or {}
        est = _money(line.get("cost"), free=bool(line.get("free"))) if line else "-"
        act = _money(actual[key]) if done[key] else "not spent yet"
        rows.append(
            f'<tr data-cost="{key}"><td>{_e(line.get("what", key))}</td>'
            f"<td class=num data-kind=estimate>{est}</td>"
            f"<td class=num data-kind=actual>{act}</td><td class=meta>{_e(line.get('detail', ''))}</td></tr>"
        )
    head = "<tr><th>part</th><th>estimated</th><th>actual</th><th>how it was estimated</th></tr>"
    return (
        f"<h2>Cost</h2><table id=costs>{head}{''.join(rows)}</table>"
        "<p class=meta>Actual costs are the providers' token counts at the price table's prices; "
        "a model served on this machine bills nothing. n/a: no price is known for a model.</p>"
    )


def _steps(manifest: RunManifest) -> str:
    rows = []
    for name in STEPS[:-1]:  # the last step writes this page
        record = manifest.steps.get(name)
        status = record.status if record is not None else "not run"
        seconds = "-" if record is None or record.seconds is None else f"{record.seconds:,.1f}"
        error = _e(record.error) if record is not None and record.error else ""
        rows.append(
            f'<tr data-step="{name}"><td>{name}</td><td>{_e(status)}</td><td class=num>{seconds}</td>'
            f"<td class=meta>{error}</td></tr>"
        )
    head = "<tr><th>step</th><th>status</th><th>seconds</th><th></th></tr>"
    return f"<h2>Steps</h2><table id=steps>{head}{''.join(rows)}</table>"


def _evaluation(evaluation: Mapping[str, Any]) -> str:
    metrics = evaluation.get("metrics") or {}
    if not metrics:
        return "<h2>Evaluation</h2><p>Not run yet.</p>"
    head = (
        "<tr><th>candidate</th><th>model</th><th>prompt</th><th>n</th><th>accuracy (95% CI)</th>"
        "<th>valid</th><th>p50 s</th><th>p95 s</th><th>tokens in / out</th><th>$ / 10k calls</th></tr>"
    )
    rows = []
    for info in evaluation.get("candidates") or []:
        name = info["name"]
        m = metrics[name]
        acc = m["accuracy"]
        cells = [
            ("name", _e(name)),
            (
                "model",
                _e(info.get("model") or "-")
                + (f"<div class=meta>{_e(info['description'])}</div>" if info.get("description") else ""),
            ),
            ("prompt", _e(info.get("prompt_variant") or "-")),
            ("n", str(m["n"])),
            (
                "accuracy",
                f"{format_percent(acc['value'])} "
                f"<span class=meta>({acc['low'] * 100:.1f}-{acc['high'] * 100:.1f})</span>",
            ),
            ("valid", format_percent(m["valid"]["value"])),
            ("latency_p50_s", format_seconds(m.get("latency_p50_s"))),
            ("latency_p95_s", format_seconds(m.get("latency_p95_s"))),
            (
                "tokens",
                f"{format_number(m.get('prompt_tokens_per_call'))} / "
                f"{format_number(m.get('completion_tokens_per_call'))}",
            ),
            ("cost_per_10k", _e(format_cost(m.get("cost_per_10k")))),
        ]
        tds = "".join(
            f'<td data-metric="{key}"{"" if key in ("name", "model", "prompt") else " class=num"}>{text}</td>'
            for key, text in cells
        )
        rows.append(f'<tr data-candidate="{_e(name)}">{tds}</tr>')
    notes = "".join(f"<li>{_e(n)}</li>" for n in evaluation.get("notes") or [])
    return (
        f"<h2>Evaluation</h2><table id=evaluation>{head}{''.join(rows)}</table>"
        f'<ul>{notes}</ul><p>Every case, side by side: <a href="eval.html">eval.html</a>.</p>'
    )


def _gate(manifest: RunManifest, extractor: str) -> str:
    gate = _outputs(manifest, "gate")
    decision = gate.get("decision")
    if not decision:
        return "<h2>Gate</h2><p>Not decided yet.</p>"
    verdict = (
        '<p id=verdict class=pass data-passed="true">Passed: the fine-tuned student replaces the teacher.</p>'
        if decision["passed"]
        else '<p id=verdict class=fail data-passed="false">Refused: the config was left as it is.</p>'
    )
    checks = "".join(
        f'<li data-rule="{_e(c["rule"])}" data-passed="{str(c["passed"]).lower()}">'
        f"<b>{_e(c['rule'])}</b>: {('pass' if c['passed'] else 'FAIL') if c['checked'] else 'not checked'}"
        f" &mdash; {_e(c['reason'])}</li>"
        for c in decision["checks"]
    )
    policy = decision.get("policy") or {}
    rule = (
        f"accuracy at least {format_percent(policy['min_accuracy'])} (--min-accuracy)"
        if policy.get("min_accuracy") is not None
        else "accuracy no worse than the teacher's beyond the 95% interval: the upper end of the student's "
        "Wilson interval is at least the teacher's measured accuracy"
    )
    if policy.get("max_cost_ratio") is not None:
        rule += f"; $ per call at most {policy['max_cost_ratio']:g} x the teacher's"
    config = gate.get("config")
    written = (
        f"<p id=config>{_e(config['path'])}: "
        f"<code>[extractors.{_e(extractor)}] model = {_e(config['model'])}</code> "
        f"(was {_e(config.get('previous') or 'unset')}).</p>"
        if config
        else ""
    )
    return f"<h2>Gate</h2>{verdict}<p class=meta>Rule: {_e(rule)}.</p><ul>{checks}</ul>{written}"


def render_report(manifest: RunManifest, evaluation: Mapping[str, Any] | None = None) -> str:
    """The report page for the run whose manifest this is.

    Args:
        manifest: The run's manifest.
        evaluation: The evaluation's outputs as the manifest keeps them (``metrics``,
            ``candidates``, ``notes``); default: the manifest's own.
    """
    run = manifest.data.get("run") or {}
    title = f"extractkit distill: {run.get('extractor', '?')}"
    meta = (
        f"teacher {run.get('teacher', '?')} · student {run.get('student', '?')} · "
        f"run directory {manifest.run_dir} · started {manifest.data.get('created_at', '?')} · "
        f"updated {manifest.data.get('updated_at', '?')}"
    )
    total = sum((r.seconds or 0.0) for r in manifest.steps.values())
    body = [
        f"<h1>{_e(title)}</h1><p class=meta>{_e(meta)} · {total:,.0f} s of work</p>",
        _gate(manifest, str(run.get("extractor", "?"))),
        _evaluation(evaluation if evaluation is not None else _outputs(manifest, "evaluate")),
        _data(manifest),
        _costs(manifest),
        _steps(manifest),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n"
    )
