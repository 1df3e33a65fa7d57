"""The parts of ``extractkit.distill`` on their own: the manifest, the data snapshot, the estimate, the gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from distill_store import (
    BY_TEACHER,
    CORRECTED_ON_INCLUDED,
    CORRECTED_ONLY,
    EXCLUDED,
    INCLUDED,
    TEACHER,
    TO_LABEL,
    TRUTH,
    make_store,
)
from extractkit import LocationExtractor, Settings
from extractkit.config import ModelRef
from extractkit.distill import DistillOptions, GatePolicy, RunManifest, StaleRunError, collect, decide
from extractkit.distill.context import student_reference
from extractkit.distill.estimate import estimate
from extractkit.evals.metrics import Rate, wilson_interval
from extractkit.exceptions import UserError
from extractkit.store import open_store

# --------------------------------------------------------------------------- the manifest


def test_a_done_step_is_skipped_only_with_the_same_inputs_and_untouched_outputs(tmp_path: Path) -> None:
    manifest = RunManifest.load(tmp_path / "run")
    inputs = {"teacher": "openai:gpt-4o", "seed": 0}
    assert manifest.done("collect", inputs) is None
    manifest.begin("collect", inputs)
    assert manifest.done("collect", inputs) is None  # running is not done
    (tmp_path / "run" / "data.jsonl").write_text("one\n")
    manifest.finish("collect", {"items": 1}, files=("data.jsonl",))

    again = RunManifest.load(tmp_path / "run")  # what a later process reads
    record = again.done("collect", inputs)
    assert record is not None and record.outputs["items"] == 1 and record.seconds is not None
    with pytest.raises(StaleRunError, match=r"other inputs \(changed: seed, teacher\)"):
        again.done("collect", {"teacher": "openai:gpt-4.1", "seed": 1})
    (tmp_path / "run" / "data.jsonl").write_text("two\n")
    with pytest.raises(StaleRunError, match=r"data\.jsonl was written by step 'collect' and has changed"):
        again.done("collect", inputs)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["data.jsonl", "manifest.json"]  # no temp


def test_an_interrupted_step_keeps_its_job_id_for_the_same_inputs_only(tmp_path: Path) -> None:
    manifest = RunManifest.load(tmp_path)
    manifest.begin("finetune", {"train": "abc"}, keep_outputs=True)
    manifest.note("finetune", job_id="ftjob-1")
    manifest.fail("finetune", KeyboardInterrupt())
    resumed = RunManifest.load(tmp_path)
    assert resumed.steps["finetune"].status == "failed"
    assert resumed.begin("finetune", {"train": "abc"}, keep_outputs=True).outputs == {"job_id": "ftjob-1"}
    assert resumed.begin("finetune", {"train": "def"}, keep_outputs=True).outputs == {}


def test_a_foreign_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "something else"}))
    with pytest.raises(UserError, match="is not an extractkit distill manifest"):
        RunManifest.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(UserError, match="cannot read the run manifest"):
        RunManifest.load(tmp_path)


# --------------------------------------------------------------------------- the data


def test_collect_takes_reviewed_rows_first_reuses_teacher_answers_and_leaves_excluded_out(
    tmp_path: Path,
) -> None:
    info = make_store(tmp_path)
    with open_store(info.url) as store:
        items, excluded = collect(store, "location", TEACHER)
    assert excluded == 1 and EXCLUDED not in {i.input for i in items}
    texts = [i.input for i in items]
    assert set(texts[: len(INCLUDED)]) == set(INCLUDED)  # included at the same moment: in record id order
    assert texts[len(INCLUDED) :] == CORRECTED_ONLY + BY_TEACHER + TO_LABEL  # then oldest first, by source
    by_input = {i.input: i for i in items}
    for text in CORRECTED_ON_INCLUDED + CORRECTED_ONLY + BY_TEACHER:
        assert by_input[text].output == TRUTH[text], text  # corrections and teacher answers are the labels
    assert all(by_input[t].source == "label" and by_input[t].output is None for t in TO_LABEL)
    assert {i.record for i in items} == {info.record_ids[i.input] for i in items}

    # Another teacher: its answers were never recorded, so those rows need labels too.
    with open_store(info.url) as store:
        items, _ = collect(store, "location", "openai:gpt-4.1")
    assert sum(i.source == "label" for i in items) == len(BY_TEACHER) + len(TO_LABEL)

    # A cap drops teacher work first.
    with open_store(info.url) as store:
        items, _ = collect(store, "location", TEACHER, max_examples=8)
    assert [i.source for i in items] == ["included"] * 6 + ["corrected", "teacher"]


# --------------------------------------------------------------------------- the estimate


def _estimate(settings: Settings, student: str, *, replayed: bool = False) -> Any:
    ref = ModelRef.parse(student)
    labelled = [(t, TRUTH[t]) for t in INCLUDED]
    return estimate(
        settings=settings,
        teacher=LocationExtractor(
            model="openai:gpt-4o", prompt_variant="full", store=False, settings=settings
        ),
        student=LocationExtractor(model=str(ref), prompt_variant="minimal", store=False, settings=settings),
        base=LocationExtractor(model=str(ref), prompt_variant="full", store=False, settings=settings),
        student_ref=ref,
        labelled=labelled,
        unlabelled=TO_LABEL,
        eval_cases=3,
        epochs="auto",
        teacher_replayed=replayed,
    )


def test_the_estimate_prices_each_part_and_never_guesses_a_missing_price() -> None:
    settings = Settings.from_mapping({})
    openai = _estimate(settings, "openai:gpt-4o-mini-2024-07-18")
    assert openai.to_label == len(TO_LABEL) and openai.train_examples == len(INCLUDED) + len(TO_LABEL) - 3
    assert openai.epochs == 100 // openai.train_examples  # OpenAI's auto rule for a small file
    assert all(line.cost and line.cost > 0 for line in openai.lines)
    assert openai.total == pytest.approx(sum(line.cost or 0 for line in openai.lines))

    local = _estimate(settings, "local:smollm2-135m", replayed=True)
    assert local.training.free and local.evaluation.free and local.epochs == 3
    assert local.labelling.cost == pytest.approx(
        openai.labelling.cost
    )  # the teacher still labels, at its price

    unpriced = _estimate(Settings.from_mapping({}), "vllm:my-model")
    assert unpriced.training.cost is None and unpriced.total is None
    assert "unknown (no price for a model" in unpriced.describe()


# --------------------------------------------------------------------------- the gate


def _metrics(hits: int, n: int, cost: float | None) -> dict[str, Any]:
    return {"accuracy": Rate(hits, n).to_dict(), "cost_per_call": cost}


@pytest.mark.parametrize("hits", range(11))
def test_the_default_gate_is_the_student_interval_reaching_the_teacher(hits: int) -> None:
    metrics = {"teacher": _metrics(9, 10, 0.01), "finetuned": _metrics(hits, 10, 0.001)}
    decision = decide(metrics, GatePolicy())
    assert decision.passed is (wilson_interval(hits, 10)[1] >= 0.9)
    assert decision.checks[1].checked is False  # no --max-cost-ratio: cost is reported, not checked
    assert "ratio 0.100" in decision.checks[1].reason


def test_the_worked_example_of_the_docs() -> None:
    teacher = _metrics(38, 40, 0.01)  # 95%
    assert decide({"teacher": teacher, "finetuned": _metrics(36, 40, 0.001)}, GatePolicy()).passed
    assert not decide({"teacher": teacher, "finetuned": _metrics(35, 40, 0.001)}, GatePolicy()).passed
    assert (
        "up to 96.0%"
        in decide({"teacher": teacher, "finetuned": _metrics(36, 40, 0)}, GatePolicy()).summary()
    )


def test_the_default_gate_on_clear_cases() -> None:
    teacher = _metrics(40, 40, 0.01)
    assert decide({"teacher": teacher, "finetuned": _metrics(40, 40, 0.001)}, GatePolicy()).passed
    refused = decide({"teacher": teacher, "finetuned": _metrics(30, 40, 0.001)}, GatePolicy())
    assert not refused.passed and "shows the student is worse" in refused.summary()


def test_min_accuracy_and_max_cost_ratio() -> None:
    metrics = {"teacher": _metrics(10, 10, 0.010), "finetuned": _metrics(8, 10, 0.004)}
    assert decide(metrics, GatePolicy(min_accuracy=0.8)).passed
    assert not decide(metrics, GatePolicy(min_accuracy=0.81)).passed
    assert decide(metrics, GatePolicy(min_accuracy=0.8, max_cost_ratio=0.4)).passed
    over = decide(metrics, GatePolicy(min_accuracy=0.8, max_cost_ratio=0.39))
    assert not over.passed and "over --max-cost-ratio 0.39" in over.summary()

    unpriced = {"teacher": _metrics(10, 10, 0.010), "finetuned": _metrics(10, 10, None)}
    assert not decide(unpriced, GatePolicy(max_cost_ratio=1)).passed  # an unknown price is never a pass
    assert decide(unpriced, GatePolicy(max_cost_ratio=1), student_local=True).passed  # served here: $0
    assert decide(unpriced, GatePolicy()).passed  # not asked for: reported only
    with pytest.raises(UserError):
        GatePolicy(min_accuracy=1.5)


# --------------------------------------------------------------------------- options


def test_options_refuse_what_cannot_work() -> None:
    with pytest.raises(UserError, match="between 0 and 1"):
        DistillOptions(teacher="openai:gpt-4o", student="gpt-4o-mini", eval_fraction=1.0)
    with pytest.raises(UserError, match="base model to fine-tune"):
        student_reference("ft:gpt-4o-mini-2024-07-18:acme::x", None)
    with pytest.raises(UserError, match="but --provider is 'openai'"):
        student_reference("local:smollm2-135m", "openai")
    assert student_reference("smollm2-135m", "local") == ModelRef("local", "smollm2-135m")
    assert student_reference("gpt-4o-mini-2024-07-18", None) == ModelRef("openai", "gpt-4o-mini-2024-07-18")
