"""Distillation: from an extractor's recorded traffic to a cheaper fine-tuned model, in one call.

::

    from extractkit import LocationExtractor
    from extractkit.distill import DistillOptions, distill_sync

    result = distill_sync(
        LocationExtractor,
        DistillOptions(teacher="openai:gpt-4o", student="gpt-4o-mini-2024-07-18", store="sqlite:///ex.db"),
        confirm=lambda question: True,
    )

Or ``extractkit distill location --teacher openai:gpt-4o --student gpt-4o-mini-2024-07-18``.

- :mod:`.data`: the snapshot of recorded exchanges, best label first.
- :mod:`.estimate`: the cost estimate shown before anything is spent.
- :mod:`.prepare`: collect, estimate, label, build and validate, split.
- :mod:`.tune`: fine-tune, evaluate, gate (and the config switch).
- :mod:`.gate`: the rules the student is held to.
- :mod:`.manifest`: the run directory and its resumable steps.
- :mod:`.report`: the HTML report.

See ``docs/distill.md``.
"""

from __future__ import annotations

from extractkit.distill.context import STEPS, DistillOptions, ExtractorFactory
from extractkit.distill.data import DataItem, collect
from extractkit.distill.estimate import CostEstimate, CostLine
from extractkit.distill.gate import GateCheck, GateDecision, GatePolicy, decide
from extractkit.distill.manifest import RunManifest, StaleRunError, StepRecord
from extractkit.distill.pipeline import DistillResult, RunStatus, distill, distill_sync
from extractkit.distill.report import render_report

__all__ = [
    "STEPS",
    "CostEstimate",
    "CostLine",
    "DataItem",
    "DistillOptions",
    "DistillResult",
    "ExtractorFactory",
    "GateCheck",
    "GateDecision",
    "GatePolicy",
    "RunManifest",
    "RunStatus",
    "StaleRunError",
    "StepRecord",
    "collect",
    "decide",
    "distill",
    "distill_sync",
    "render_report",
]
