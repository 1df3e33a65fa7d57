"""What a distillation will cost, estimated offline before anything is spent.

Three lines, each in USD at the price table's prices (``[prices]`` overrides included):

- **teacher labels**: for every input without a label, the tokens of the teacher's real request
  (full prompt, counted offline) plus the expected answer (the mean answer of the labelled
  inputs) at the teacher's price;
- **training**: the training examples' tokens (minimal prompt; exact for labelled inputs,
  prompt exact and answer estimated for the others), times the epochs (``auto``: the
  provider's rule), at the base model's training price;
- **evaluation**: one call per evaluation case for each of the teacher, the base student and
  the fine-tuned student, at their prices.

A model served on this machine (a ``type = "local"`` backend) bills nothing, nor does a
teacher whose answers are replayed from the store. A price that is not known is never
guessed: the line says so and the total is unknown. Re-asks after invalid answers and
transport retries are not in the estimate; the report sets the actual costs beside it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from extractkit.config import ModelRef, Settings
from extractkit.datasets.student import minimal_context, training_example
from extractkit.exceptions import DatasetError
from extractkit.extractor import Extractor
from extractkit.finetune import auto_epochs
from extractkit.messages import ChatRequest, Usage
from extractkit.prices import PriceTable, cost, training_cost
from extractkit.tokens import count_message_tokens, count_request_tokens

__all__ = ["CostEstimate", "CostLine", "answer_tokens", "is_local", "price_table"]

_SAMPLE = 400  # requests built per candidate for the per-call means; plenty for a mean, bounded in time
_LOCAL_EPOCHS = 3  # what LocalFineTuningBackend runs for n_epochs="auto"


def price_table(settings: Settings) -> PriceTable:
    """The list prices with the configuration's ``[prices]`` overrides."""
    return PriceTable(settings.prices) if settings.prices else PriceTable()


def is_local(settings: Settings, ref: ModelRef) -> bool:
    """Whether ``ref``'s provider is served on this machine (its backend's type is ``local``)."""
    return settings.backend(ref.provider).type == "local"


@dataclass(frozen=True, slots=True)
class CostLine:
    """One part of the estimate.

    Attributes:
        what: ``teacher labels``, ``training`` or ``evaluation``.
        detail: How it was counted, for people.
        cost: USD; ``None`` when a price it needs is unknown.
        free: Nothing is billed (a local model, replayed answers, nothing to do).
    """

    what: str
    detail: str
    cost: float | None
    free: bool = False

    def describe(self) -> str:
        """``training: $1.23 (1,234 tokens x 3 epochs on gpt-4o-mini)``."""
        if self.free:
            price = "$0 (nothing billed)"
        elif self.cost is None:
            price = "unknown (no price for a model; set it under [prices] in extractkit.toml)"
        else:
            price = f"${self.cost:,.4f}" if self.cost < 1 else f"${self.cost:,.2f}"
        return f"{self.what}: {price}; {self.detail}"


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """The estimate shown before anything is spent, and kept in the manifest for the report.

    Attributes:
        labelling: Labelling the unlabelled inputs with the teacher.
        training: Fine-tuning.
        evaluation: Evaluating the teacher, the base student and the fine-tuned student.
        to_label: Inputs the teacher will label.
        train_examples: Expected training examples.
        eval_cases: Expected evaluation cases.
        training_tokens: Tokens in one pass over the expected training file.
        epochs: Passes over it.
    """

    labelling: CostLine
    training: CostLine
    evaluation: CostLine
    to_label: int
    train_examples: int
    eval_cases: int
    training_tokens: int
    epochs: int

    @property
    def lines(self) -> tuple[CostLine, ...]:
        """The three parts, in the order they are spent."""
        return (self.labelling, self.training, self.evaluation)

    @property
    def total(self) -> float | None:
        """USD for everything; ``None`` when a part's price is unknown."""
        costs = [0.0 if line.free else line.cost for line in self.lines]
        return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)

    @property
    def free(self) -> bool:
        """Nothing at all is billed."""
        return all(line.free for line in self.lines)

    def describe(self) -> str:
        """The estimate for people: one line per part and the total."""
        total = self.total
        head = (
            "estimated cost: $0 (nothing is billed)"
            if self.free
            else "estimated cost: unknown (a price is missing)"
            if total is None
            else f"estimated cost: ${total:,.4f}"
            if total < 1
            else f"estimated cost: ${total:,.2f}"
        )
        return "\n".join([head, *(f"  {line.describe()}" for line in self.lines)])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (manifest, ``--json`` summary)."""
        data = asdict(self)
        data["total"] = self.total
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CostEstimate:
        """Rebuild from :meth:`to_dict`'s shape."""
        return cls(
            labelling=CostLine(**data["labelling"]),
            training=CostLine(**data["training"]),
            evaluation=CostLine(**data["evaluation"]),
            to_label=int(data["to_label"]),
            train_examples=int(data["train_examples"]),
            eval_cases=int(data["eval_cases"]),
            training_tokens=int(data["training_tokens"]),
            epochs=int(data["epochs"]),
        )


def _sample(texts: Sequence[str]) -> list[str]:
    return list(texts[:_SAMPLE])


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def answer_tokens(student: Extractor[Any], model: str, outputs: Sequence[Any]) -> float:
    """Mean tokens of the assistant answer (with its message overhead) for these outputs.

    Without outputs, the extractor's few-shot examples stand in; without those, 20 tokens.
    """
    samples = list(outputs[:_SAMPLE])
    if not samples:
        samples = [student.spec.dump(example.output) for example in student.examples]
    counts = []
    for output in samples:
        try:
            example = training_example(student, "x", output)
        except DatasetError:
            continue
        whole = count_message_tokens(example.messages, model, tools=list(example.tools) or None)
        prompt = count_message_tokens(example.messages[:-1], model, tools=list(example.tools) or None)
        counts.append(whole - prompt)
    return _mean(counts) if counts else 20.0


def _prompt_tokens(extractor: Extractor[Any], texts: Sequence[str]) -> float:
    return _mean([count_request_tokens(extractor.build_request(t)) for t in _sample(texts)])


def _call_cost(ref: ModelRef, prompt: float, completion: float, table: PriceTable) -> float | None:
    return cost(Usage(round(prompt), round(completion)), str(ref), table=table)


def _training_tokens(student: Extractor[Any], model: str, texts: Sequence[str], answer: float) -> int:
    """Tokens of training examples for ``texts``, whose answers are unknown: exact prompt, mean answer."""
    total = 0.0
    rng = random.Random(0)
    for text in texts:
        ref, ctx = minimal_context(student, text, rng)
        request = student.shape_request(
            ctx, ChatRequest(model=ref.model, messages=student.build_messages(ctx))
        )
        total += count_message_tokens(request.messages, model, tools=request.tools or None) + answer
    return round(total)


def estimate(
    *,
    settings: Settings,
    teacher: Extractor[Any],
    student: Extractor[Any],
    base: Extractor[Any],
    student_ref: ModelRef,
    labelled: Sequence[tuple[str, Any]],
    unlabelled: Sequence[str],
    eval_cases: int,
    epochs: int | str,
    teacher_replayed: bool,
) -> CostEstimate:
    """Estimate the distillation's cost (see the module docstring).

    Args:
        settings: Backends (which are local) and prices.
        teacher: The teacher as it labels (full prompt).
        student: The student extractor as it is trained (minimal prompt).
        base: The base student as it is evaluated.
        student_ref: The base model to fine-tune.
        labelled: ``(input, answer)`` of the inputs that have their answer.
        unlabelled: Inputs the teacher will label.
        eval_cases: Cases in the evaluation set.
        epochs: Passes over the training file, or ``"auto"``.
        teacher_replayed: The teacher's evaluation answers are replayed from the store.

    Raises:
        DatasetError: A labelled answer does not fit the student's schema.
    """
    table = price_table(settings)
    teacher_ref = teacher.resolve_model()
    local_student = is_local(settings, student_ref)
    texts = [t for t, _ in labelled] + list(unlabelled)
    n = len(texts)
    train_n = max(0, n - eval_cases)

    # Teacher labels: real requests (full prompt) and the mean known answer.
    answer_teacher = answer_tokens(student, str(teacher_ref), [o for _, o in labelled])
    label_prompt = _prompt_tokens(teacher, unlabelled) if unlabelled else 0.0
    per_label = _call_cost(teacher_ref, label_prompt, answer_teacher, table)
    labelling = CostLine(
        "teacher labels",
        f"{len(unlabelled):,} input(s) x ~{label_prompt:,.0f} prompt + ~{answer_teacher:,.0f} answer tokens "
        f"on {teacher_ref}"
        if unlabelled
        else "every input has its answer",
        None if per_label is None else per_label * len(unlabelled),
        free=not unlabelled or is_local(settings, teacher_ref),
    )

    # Training: exact examples for the labelled inputs, exact prompts and mean answers for the others.
    model = student_ref.model
    answer_student = answer_tokens(student, model, [o for _, o in labelled])
    tokens = 0
    for text, output in labelled:
        example = training_example(student, text, output)
        tokens += count_message_tokens(example.messages, model, tools=list(example.tools) or None)
    tokens += _training_tokens(student, model, unlabelled, answer_student)
    train_tokens = round(tokens * train_n / n) if n else 0
    n_epochs = (
        (_LOCAL_EPOCHS if local_student else auto_epochs(max(1, train_n)))
        if epochs == "auto"
        else int(epochs)
    )
    training = CostLine(
        "training",
        f"~{train_n:,} examples, ~{train_tokens:,} tokens x {n_epochs} epoch(s) on {student_ref}",
        None if local_student else training_cost(train_tokens, model, n_epochs, table=table),
        free=local_student or train_n == 0,
    )

    # Evaluation: one call per case and candidate.
    parts: list[float | None] = []
    notes = []
    if not teacher_replayed and not is_local(settings, teacher_ref):
        prompt = _prompt_tokens(teacher, texts)
        parts.append(_call_cost(teacher_ref, prompt, answer_teacher, table))
        notes.append("teacher")
    if not local_student:
        parts.append(_call_cost(base.resolve_model(), _prompt_tokens(base, texts), answer_student, table))
        ft_ref = ModelRef(student_ref.provider, f"ft:{model}:estimate")  # priced as a fine-tune of the base
        parts.append(_call_cost(ft_ref, _prompt_tokens(student, texts), answer_student, table))
        notes += ["base student", "fine-tuned student"]
    per_case = None if any(p is None for p in parts) else sum(p for p in parts if p is not None)
    evaluation = CostLine(
        "evaluation",
        f"{eval_cases:,} case(s) x {len(notes) or 'no'} billed candidate(s)"
        + (f" ({', '.join(notes)})" if notes else "")
        + (" (teacher answers replayed from the store)" if teacher_replayed else ""),
        None if per_case is None else per_case * eval_cases,
        free=not parts or eval_cases == 0,
    )
    return CostEstimate(
        labelling=labelling,
        training=training,
        evaluation=evaluation,
        to_label=len(unlabelled),
        train_examples=train_n,
        eval_cases=eval_cases,
        training_tokens=train_tokens,
        epochs=n_epochs,
    )
