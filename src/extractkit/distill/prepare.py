"""The data steps of a distillation: collect, estimate (and confirm), label, build, split.

Each step function takes the :class:`~extractkit.distill.context.RunContext`,
returns its outputs, and records itself in the manifest; a step already done with
the same inputs is skipped (see :mod:`extractkit.distill.manifest`). Nothing here
spends money except :func:`label_step`, which runs only after the estimate was
confirmed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from extractkit.datasets import (
    LabelCheckpoint,
    LabelledInput,
    TeacherLabel,
    build_dataset,
    label_inputs,
    split_indices,
    validate_dataset,
    validate_file,
    write_lines_atomic,
)
from extractkit.datasets.example import route_of, user_input
from extractkit.distill.context import RunContext
from extractkit.distill.data import DataItem, collect, read_items, source_counts, write_items
from extractkit.distill.estimate import CostEstimate, estimate, price_table
from extractkit.distill.manifest import digest_file, digest_value
from extractkit.evals.cases import EvalCase, check_training_overlap, load_cases
from extractkit.exceptions import DatasetError, UserError
from extractkit.extractor import Extractor
from extractkit.extractors import IntentRouter
from extractkit.store import input_key, open_store

__all__ = [
    "DATASET_FILE",
    "DATA_FILE",
    "EVAL_FILE",
    "TRAIN_FILE",
    "collect_step",
    "dataset_step",
    "estimate_step",
    "label_step",
    "labels_file",
    "split_step",
]

DATA_FILE = "data.jsonl"
DATASET_FILE = "dataset.jsonl"
TRAIN_FILE = "train.jsonl"
EVAL_FILE = "eval.jsonl"

_TAGS = {
    "included": "reviewed label",
    "corrected": "reviewed label",
    "teacher": "teacher label",
    "label": "teacher label",
}


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    return url.replace(parts.password, "***") if parts.password else url


def labels_file(ctx: RunContext) -> Path:
    """The teacher's label checkpoint: one file per teacher, kept across restarts (labels are paid for)."""
    return ctx.file(f"labels-{digest_value(str(ctx.teacher_ref))[:12]}.jsonl")


def _counts(counts: Mapping[str, int]) -> str:
    names = {
        "included": "included",
        "corrected": "corrected",
        "teacher": "answered by the teacher",
        "label": "to label",
    }
    return ", ".join(f"{counts.get(k, 0)} {v}" for k, v in names.items())


def collect_step(ctx: RunContext) -> dict[str, Any]:
    """Snapshot the extractor's recorded exchanges into ``data.jsonl``, best-labelled first."""
    url = ctx.store_url()
    inputs = {
        "extractor": ctx.identity(),
        "store": digest_value(url),
        "teacher": str(ctx.teacher_ref),
        "max_examples": ctx.options.max_examples,
    }
    done = ctx.manifest.done("collect", inputs)
    if done is not None:
        ctx.step_say(
            "collect", f"done earlier: {done.outputs['items']} input(s) ({_counts(done.outputs['sources'])})"
        )
        return done.outputs
    ctx.manifest.begin("collect", inputs)
    with open_store(url, read_only=True) as store:
        items, excluded = collect(store, ctx.name, ctx.teacher_ref, max_examples=ctx.options.max_examples)
    write_items(ctx.file(DATA_FILE), items)
    counts = source_counts(items)
    ctx.step_say(
        "collect",
        f"{len(items)} input(s) of {ctx.name!r} from {_safe_url(url)} ({_counts(counts)}); "
        f"{excluded} excluded by reviewers",
    )
    outputs = {"items": len(items), "sources": counts, "excluded": excluded, "store": _safe_url(url)}
    return ctx.manifest.finish("collect", outputs, files=(DATA_FILE,)).outputs


def _labelled_input(
    item: DataItem, output: Any, *, source: str | None = None, line: int = 0
) -> LabelledInput:
    where = source or (f"record {item.record[:12]}" if item.record else item.source)
    return LabelledInput(item.input, output, where, line)


def _eval_size(ctx: RunContext, n: int) -> int:
    if ctx.manifest.data.get("fixed_eval"):
        return len(load_cases(ctx.file(EVAL_FILE)))
    if n < 2:
        raise DatasetError(
            f"{n} usable input(s) for {ctx.name!r}: need at least 2, one to train on and one to test"
        )
    return min(n - 1, max(1, round(n * ctx.options.eval_fraction)))


def _check_labelled(ctx: RunContext, student: Extractor[Any], labelled: list[DataItem]) -> None:
    """Refuse, before any money is spent, answers already in hand that cannot be trained on."""
    items = [_labelled_input(i, i.output) for i in labelled]
    built = build_dataset(student, items, on_invalid="error", seed=ctx.options.seed)
    report = validate_dataset(
        built, model=ctx.student_ref.model, extractor=student, prices=price_table(ctx.settings)
    )
    if report.ok:
        return
    where = {n: example.source for n, example in enumerate(built.examples, 1)}
    shown = [f"  {where.get(i.line) or 'the data'}: {i.message} [{i.code}]" for i in report.errors[:10]]
    more = [f"  ... and {len(report.errors) - 10} more"] if len(report.errors) > 10 else []
    raise DatasetError(
        f"{len(report.errors)} recorded answer(s) cannot be trained on; nothing was spent. Correct or "
        "exclude the records (extractkit records correct/exclude), then run again:\n"
        + "\n".join(shown + more)
    )


def estimate_step(ctx: RunContext) -> tuple[CostEstimate, bool]:
    """Check the labelled answers, estimate the cost and ask to confirm.

    Returns:
        The estimate, and whether it is confirmed (now or by an earlier run). A dry run or a
        "no" records nothing, so the next run asks again.

    Raises:
        DatasetError: A labelled answer does not fit the student's schema (naming the record).
        UserError: Confirmation is needed and there is no one to ask.
    """
    opts = ctx.options
    inputs = {
        "data": digest_file(ctx.file(DATA_FILE)),
        "teacher": str(ctx.teacher_ref),
        "student": str(ctx.student_ref),
        "base_prompt": opts.base_prompt,
        "teacher_eval": opts.teacher_eval,
        "epochs": opts.hyperparameters.n_epochs,
        "eval_fraction": opts.eval_fraction,
        "fixed_eval": ctx.manifest.data.get("fixed_eval"),
    }
    changed = ctx.manifest.changed("estimate", inputs)
    if changed:
        ctx.step_say("estimate", f"{', '.join(changed)} changed since it was confirmed: estimating again")
    done = ctx.manifest.done("estimate", inputs, redo=True)
    if done is not None:
        found = CostEstimate.from_dict(done.outputs["estimate"])
        ctx.step_say("estimate", f"confirmed earlier ({found.describe().splitlines()[0]})")
        return found, True
    items = read_items(ctx.file(DATA_FILE))
    student = ctx.student()
    labelled = [i for i in items if i.labelled]
    if labelled:
        _check_labelled(ctx, student, labelled)
    found = estimate(
        settings=ctx.settings,
        teacher=ctx.teacher(),
        student=student,
        base=ctx.base(),
        student_ref=ctx.student_ref,
        labelled=[(i.input, i.output) for i in labelled],
        unlabelled=[i.input for i in items if not i.labelled],
        eval_cases=_eval_size(ctx, len(items)),
        epochs=opts.hyperparameters.n_epochs,
        teacher_replayed=opts.teacher_eval == "replay",
    )
    ctx.step_say("estimate", found.describe())
    if opts.dry_run:
        ctx.say("dry run: stopping before anything is spent (no teacher call, no fine-tuning job)")
        return found, False
    if ctx.confirm is None:
        raise UserError("distill spends money and machine time only when confirmed: pass confirm= (or --yes)")
    if not ctx.confirm("Label, fine-tune and evaluate as estimated?"):
        ctx.say("not started: nothing was spent")
        return found, False
    ctx.manifest.begin("estimate", inputs)
    ctx.manifest.finish("estimate", {"estimate": found.to_dict()})
    return found, True


async def label_step(ctx: RunContext) -> dict[str, TeacherLabel]:
    """Label the inputs that have no answer with the teacher (full prompt), resumably.

    Returns:
        The labels by input key.

    Raises:
        DatasetError: Some inputs could not be labelled (unless ``drop_failed_labels``); the
            labels obtained are kept in the checkpoint and a rerun asks only for the others.
    """
    opts = ctx.options
    path = labels_file(ctx)
    inputs = {"data": digest_file(ctx.file(DATA_FILE)), "teacher": str(ctx.teacher_ref), "seed": opts.seed}
    done = ctx.manifest.done("label", inputs)
    if done is not None:
        ctx.step_say("label", f"done earlier: {done.outputs['labelled']} label(s)")
        return _by_key(LabelCheckpoint(path).load(cut_partial=False))
    todo = [i.input for i in read_items(ctx.file(DATA_FILE)) if not i.labelled]
    ctx.manifest.begin("label", inputs)
    if not todo:
        ctx.step_say("label", "nothing to label: every input has its answer")
        ctx.manifest.finish("label", {"to_label": 0, "labelled": 0, "failed": 0, "cost": 0.0, "file": None})
        return {}
    ctx.step_say("label", f"{len(todo)} input(s) to label with {ctx.teacher_ref} (full prompt)")
    run = await label_inputs(
        ctx.teacher(), todo, checkpoint=path, concurrency=opts.concurrency, progress=ctx.progress
    )
    costs = [label.cost for label in run.labels]
    cost = None if None in costs else sum(c for c in costs if c is not None)
    if run.failed and not opts.drop_failed_labels:
        text, error = run.failed[0]
        raise DatasetError(
            f"{len(run.failed)} of {len(todo)} input(s) could not be labelled by {ctx.teacher_ref} "
            f"(first: {text!r}: {type(error).__name__}: {error}). Run the same command again to retry them "
            f"(the {len(run.labels)} label(s) obtained are kept in {path}), or pass --drop-failed-labels "
            "to go on without them"
        )
    outputs = {
        "to_label": len(todo),
        "labelled": len(run.labels),
        "resumed": run.resumed,
        "failed": len(run.failed),
        "dropped": [text for text, _ in run.failed[:20]],
        "cost": cost,
        "file": path.name,
    }
    ctx.step_say(
        "label",
        f"{len(run.labels)} label(s) ({run.resumed} from an earlier attempt), {len(run.failed)} dropped",
    )
    ctx.manifest.finish("label", outputs, files=(path.name,))
    return _by_key(run.labels)


def _by_key(labels: list[TeacherLabel]) -> dict[str, TeacherLabel]:
    found: dict[str, TeacherLabel] = {}
    for label in labels:
        found.setdefault(input_key(label.input), label)
    return found


def dataset_step(ctx: RunContext, labels: Mapping[str, TeacherLabel]) -> dict[str, Any]:
    """Build every labelled input into ``dataset.jsonl`` with the student's minimal prompt, and validate it.

    Raises:
        DatasetError: An answer does not fit the schema, or the file fails validation; every
            problem is listed with its line in ``dataset.jsonl`` (or its record id).
    """
    path = labels_file(ctx)
    inputs = {
        "data": digest_file(ctx.file(DATA_FILE)),
        "labels": digest_file(path),
        "student": str(ctx.student_ref),
        "seed": ctx.options.seed,
    }
    done = ctx.manifest.done("dataset", inputs)
    if done is not None:
        ctx.step_say("dataset", f"done earlier: {done.outputs['examples']} example(s)")
        return done.outputs
    ctx.manifest.begin("dataset", inputs)
    items: list[LabelledInput] = []
    for item in read_items(ctx.file(DATA_FILE)):
        if item.labelled:
            items.append(_labelled_input(item, item.output))
            continue
        label = labels.get(input_key(item.input))
        if label is not None:  # a missing one was dropped with --drop-failed-labels
            items.append(
                _labelled_input(item, label.output, source=f"teacher label, {path.name}", line=label.line)
            )
    student = ctx.student()
    dataset = build_dataset(
        student, items, path=ctx.file(DATASET_FILE), on_invalid="error", seed=ctx.options.seed
    )
    report = validate_file(
        ctx.file(DATASET_FILE),
        model=ctx.student_ref.model,
        extractor=student,
        prices=price_table(ctx.settings),
    )
    if not report.ok:
        raise DatasetError(
            f"the training set {ctx.file(DATASET_FILE)} does not validate; "
            "nothing was spent on fine-tuning:\n" + report.format(max_issues=10),
            path=str(ctx.file(DATASET_FILE)),
            line=report.errors[0].line or None,
        )
    for issue in [*dataset.warnings, *report.warnings][:10]:
        ctx.say(f"  warning: {issue.message} [{issue.code}]")
    tokens = report.tokens
    outputs = {
        "examples": len(dataset),
        "warnings": len(dataset.warnings) + len(report.warnings),
        "tokens_per_example": None if tokens is None else {"median": tokens.median, "max": tokens.max},
        "tokens": report.billing_tokens,
    }
    ctx.step_say(
        "dataset",
        f"{len(dataset)} example(s) with the minimal prompt; validated ({report.billing_tokens:,} tokens)",
    )
    return ctx.manifest.finish("dataset", outputs, files=(DATASET_FILE,)).outputs


def _answer(line: str) -> tuple[str, Any]:
    messages = json.loads(line)["messages"]
    text = user_input(messages)
    last = messages[-1]
    content = last.get("content")
    if content is None and last.get("tool_calls"):
        content = last["tool_calls"][0]["function"]["arguments"]
    if text is None or not isinstance(content, str):
        raise DatasetError("a training line has no user input or no assistant answer")
    return text, json.loads(content)


def split_step(ctx: RunContext) -> dict[str, Any]:
    """Hold out the evaluation set (fixed across restarts) and write ``train.jsonl`` and ``eval.jsonl``.

    Raises:
        DatasetError: Too few examples to split, or an evaluation input found in training.
    """
    opts = ctx.options
    fixed = ctx.manifest.data.get("fixed_eval")
    inputs = {
        "dataset": digest_file(ctx.file(DATASET_FILE)),
        "eval_fraction": opts.eval_fraction,
        "seed": opts.seed,
        "fixed_eval": fixed,
    }
    done = ctx.manifest.done("split", inputs)
    if done is not None:
        ctx.step_say(
            "split", f"done earlier: {done.outputs['train']} to train on, {done.outputs['eval']} held out"
        )
        return done.outputs
    ctx.manifest.begin("split", inputs)
    lines = [line for line in ctx.file(DATASET_FILE).read_text(encoding="utf-8").splitlines() if line.strip()]
    answers = [_answer(line) for line in lines]
    if isinstance(ctx.reference, IntentRouter):
        # A router's evaluation case expects the route's label, as the router returns it.
        answers = [(text, route_of(expected)) for text, expected in answers]
    sources = {input_key(i.input): i.source for i in read_items(ctx.file(DATA_FILE))}
    if fixed:
        if digest_file(ctx.file(EVAL_FILE)) != fixed:
            raise DatasetError(f"{ctx.file(EVAL_FILE)}, the fixed evaluation set, changed since the restart")
        cases = load_cases(ctx.file(EVAL_FILE))
        held = {input_key(c.input) for c in cases}
        train = [i for i, (text, _) in enumerate(answers) if input_key(text) not in held]
    else:
        routes = [expected if isinstance(ctx.reference, IntentRouter) else None for _, expected in answers]
        strata = routes if all(r is not None for r in routes) else [None] * len(routes)
        train, held_out = split_indices(strata, validation=opts.eval_fraction, seed=opts.seed)
        cases = [
            EvalCase(
                text,
                expected,
                id=f"case-{n:04d}",
                tags=(_TAGS[sources.get(input_key(text), "label")],),
                source=f"{DATASET_FILE}:{index + 1}",
            )
            for n, (index, (text, expected)) in enumerate(((i, answers[i]) for i in held_out), 1)
        ]
        write_lines_atomic(ctx.file(EVAL_FILE), (json.dumps(c.to_dict(), ensure_ascii=False) for c in cases))
    if not train:
        raise DatasetError("no example is left to train on once the evaluation set is held out; record more")
    write_lines_atomic(ctx.file(TRAIN_FILE), (lines[i] for i in train))
    overlap = check_training_overlap(cases, ctx.file(TRAIN_FILE), warn=False)
    if overlap:  # the split makes this impossible; checked because a leak would inflate every score
        raise DatasetError(
            f"{len(overlap)} evaluation case(s) are in the training file {ctx.file(TRAIN_FILE)}"
        )
    tags: dict[str, int] = {}
    for case in cases:
        for tag in case.tags:
            tags[tag] = tags.get(tag, 0) + 1
    outputs = {"train": len(train), "eval": len(cases), "eval_labels": tags}
    ctx.step_say("split", f"{len(train)} example(s) to train on, {len(cases)} held out for evaluation"
                 + (" (the fixed set of an earlier run)" if fixed else ""))  # fmt: skip
    return ctx.manifest.finish("split", outputs, files=(TRAIN_FILE, EVAL_FILE)).outputs


def fixed_eval_digest(run_dir: Path) -> str | None:
    """The digest of the run directory's evaluation set, to keep it fixed across a restart."""
    return digest_file(run_dir / EVAL_FILE)
