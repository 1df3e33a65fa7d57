"""The quality gate: does the fine-tuned student replace the teacher?

Both rules read the evaluation on the held-out set, where ``n`` cases were scored:

- **Accuracy.** By default the student passes when its accuracy is *no worse than the
  teacher's beyond the confidence interval*: the upper end of the student's 95% Wilson
  interval is at least the teacher's measured accuracy. In words: the held-out set does not
  show, at 95% confidence, that the student is worse. With ``min_accuracy`` the rule is
  absolute instead: the student's measured accuracy is at least ``min_accuracy``.
- **Cost** (only with ``max_cost_ratio``): the student's mean $ per call divided by the
  teacher's is at most ``max_cost_ratio``. A model served on this machine bills nothing
  ($0 per call); a price that is unknown fails the rule (never a guess).

Each rule's verdict comes with the numbers that decided it, for the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from extractkit.evals.report import format_cost, format_percent
from extractkit.exceptions import UserError

__all__ = ["GateCheck", "GateDecision", "GatePolicy", "decide"]


@dataclass(frozen=True, slots=True)
class GatePolicy:
    """What the fine-tuned student must achieve.

    Attributes:
        min_accuracy: An absolute floor on its accuracy (0-1); ``None``: no worse than the
            teacher beyond the confidence interval.
        max_cost_ratio: Its $ per call over the teacher's must be at most this; ``None``: not checked.
    """

    min_accuracy: float | None = None
    max_cost_ratio: float | None = None

    def __post_init__(self) -> None:
        if self.min_accuracy is not None and not 0 <= self.min_accuracy <= 1:
            raise UserError(f"--min-accuracy is a fraction from 0 to 1, got {self.min_accuracy}")
        if self.max_cost_ratio is not None and not self.max_cost_ratio > 0:
            raise UserError(f"--max-cost-ratio must be > 0, got {self.max_cost_ratio}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"min_accuracy": self.min_accuracy, "max_cost_ratio": self.max_cost_ratio}


@dataclass(frozen=True, slots=True)
class GateCheck:
    """One rule's verdict.

    Attributes:
        rule: ``accuracy`` or ``cost``.
        passed: Whether the student met it (``True`` for a rule that was not asked for).
        reason: The numbers that decided it, in a sentence.
        checked: Whether the rule was applied (the cost rule only is with ``max_cost_ratio``).
    """

    rule: str
    passed: bool
    reason: str
    checked: bool = True


@dataclass(frozen=True, slots=True)
class GateDecision:
    """The gate's verdict on the fine-tuned student.

    Attributes:
        passed: Every applied rule passed.
        checks: The rules' verdicts.
        policy: The rules it was held to.
    """

    passed: bool
    checks: tuple[GateCheck, ...]
    policy: GatePolicy

    def summary(self) -> str:
        """``passed: ...`` or ``refused: ...`` with each rule's reason."""
        head = "passed" if self.passed else "refused"
        return f"{head}: " + "; ".join(
            c.reason + ("" if c.checked else " (not checked)") for c in self.checks
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "passed": self.passed,
            "policy": self.policy.to_dict(),
            "checks": [
                {"rule": c.rule, "passed": c.passed, "checked": c.checked, "reason": c.reason}
                for c in self.checks
            ],
        }


def _accuracy(metrics: Mapping[str, Any]) -> tuple[int, int, float | None, float]:
    acc = metrics["accuracy"]
    return int(acc["hits"]), int(acc["n"]), acc.get("value"), float(acc["high"])


def _per_call(metrics: Mapping[str, Any], local: bool) -> float | None:
    value = metrics.get("cost_per_call")
    if value is None and local:
        return 0.0  # served on this machine: no API bill, whatever the price table says
    return None if value is None else float(value)


def decide(
    metrics: Mapping[str, Mapping[str, Any]],
    policy: GatePolicy,
    *,
    teacher: str = "teacher",
    student: str = "finetuned",
    teacher_local: bool = False,
    student_local: bool = False,
) -> GateDecision:
    """Hold the student to ``policy`` against the teacher.

    Args:
        metrics: Per candidate, its metrics as the evaluation report's JSON holds them
            (``accuracy`` with ``hits``, ``n``, ``value``, ``high``; ``cost_per_call``).
        policy: The rules.
        teacher: The teacher candidate's name.
        student: The fine-tuned student candidate's name.
        teacher_local: The teacher runs on this machine (bills nothing).
        student_local: The student runs on this machine (bills nothing).
    """
    s_hits, s_n, s_acc, s_high = _accuracy(metrics[student])
    t_hits, t_n, t_acc, _ = _accuracy(metrics[teacher])
    checks: list[GateCheck] = []
    student_text = f"student {format_percent(s_acc)} ({s_hits}/{s_n}, 95% CI up to {format_percent(s_high)})"
    if s_n == 0 or s_acc is None:
        checks.append(GateCheck("accuracy", False, "the evaluation scored no case"))
    elif policy.min_accuracy is not None:
        ok = s_acc >= policy.min_accuracy
        checks.append(
            GateCheck(
                "accuracy",
                ok,
                f"{student_text} {'>=' if ok else '<'} --min-accuracy {format_percent(policy.min_accuracy)}",
            )
        )
    else:
        teacher_value = t_acc if t_acc is not None else 0.0
        # The point estimate itself is inside the interval; the tolerance absorbs the rounding of the
        # interval's end (10/10 gives 0.9999999999999999, not 1.0).
        ok = s_acc >= teacher_value or s_high >= teacher_value - 1e-9
        relation = "reaches" if ok else "stays below"
        checks.append(
            GateCheck(
                "accuracy",
                ok,
                f"{student_text} {relation} the teacher's {format_percent(t_acc)} ({t_hits}/{t_n})"
                + ("" if ok else ": the held-out set shows the student is worse (95% confidence)"),
            )
        )
    checks.append(_cost_check(metrics[student], metrics[teacher], policy, teacher_local, student_local))
    passed = all(c.passed for c in checks)
    return GateDecision(passed, tuple(checks), policy)


def _cost_check(
    student: Mapping[str, Any],
    teacher: Mapping[str, Any],
    policy: GatePolicy,
    teacher_local: bool,
    student_local: bool,
) -> GateCheck:
    s_cost = _per_call(student, student_local)
    t_cost = _per_call(teacher, teacher_local)
    limit = policy.max_cost_ratio
    if s_cost is None or t_cost is None:
        which = "student" if s_cost is None else "teacher"
        reason = f"the {which}'s $ per call is unknown (no price; set it under [prices] in extractkit.toml)"
        if limit is None:
            return GateCheck("cost", True, reason, checked=False)
        return GateCheck("cost", False, reason)
    prices = f"student {format_cost(s_cost * 10_000)} vs teacher {format_cost(t_cost * 10_000)} per 10k calls"
    if t_cost == 0:
        ratio_text = "both free" if s_cost == 0 else "the teacher is free"
        ok = s_cost == 0
    else:
        ratio = s_cost / t_cost
        ratio_text = f"ratio {ratio:.3f}"
        ok = limit is None or ratio <= limit
    if limit is None:
        return GateCheck("cost", True, f"{prices}, {ratio_text}", checked=False)
    relation = "within" if ok else "over"
    return GateCheck("cost", ok, f"{prices}, {ratio_text}, {relation} --max-cost-ratio {limit:g}")
