"""Fine-tuning a real model on this machine, through the fine-tuning Protocol, and serving the result."""

from __future__ import annotations

import asyncio
import io
import json
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from extractkit import LocationExtractor
from extractkit.exceptions import FineTuneError
from extractkit.finetune import FineTuningBackend, Hyperparameters, JobSpec, JobStatus, fine_tune
from extractkit.local.models import missing_extras

TRAIN_CITIES = (
    ("Paris", "France"), ("Berlin", "Germany"), ("Madrid", "Spain"), ("Rome", "Italy"), ("London", "United Kingdom"),
    ("Vienna", "Austria"), ("Toronto", "Canada"), ("Tokyo", "Japan"), ("Chicago", "United States"), ("Oslo", "Norway"),
    ("Dublin", "Ireland"), ("Warsaw", "Poland"),
)  # fmt: skip
HELD_OUT = (
    ("nurse jobs in Lyon", "Lyon"),
    ("welder Hamburg", "Hamburg"),
    ("data analyst in Seattle", "Seattle"),
    ("chef jobs Barcelona", "Barcelona"),
    ("teacher in Melbourne", "Melbourne"),
    ("barista Milan full time", "Milan"),
)
JOBS = ("nurse", "accountant", "python developer", "electrician", "chef", "sales manager")


def _need_extra() -> None:
    missing = missing_extras(serve=True, train=True)
    if missing:
        reason = f"the local extra is not installed ({', '.join(missing)}): bash scripts/install-local.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must install the local extra: {reason}")
        pytest.skip(reason)


def _training_file(folder: Path, count: int = 24) -> Path:
    rows = []
    for i in range(count):
        city, country = TRAIN_CITIES[i % len(TRAIN_CITIES)]
        job = JOBS[i % len(JOBS)]
        text = (f"{job} in {city}", f"{job} jobs {city}")[i % 2] if i % 6 else f"remote {job}"
        answer = {"locations": [{"city": city, "country": country}] if i % 6 else []}
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": LocationExtractor.instructions},  # the minimal prompt
                    {"role": "user", "content": text},
                    {"role": "assistant", "content": json.dumps(answer, separators=(",", ":"))},
                ]
            }
        )
    path = folder / "location.train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _waiting_on(backend: Any) -> Any:
    async def sleep(_seconds: float) -> None:
        # No real sleep between polls: wait for the training thread itself.
        await asyncio.to_thread(backend.wait)

    return sleep


def _adapter_tensors(path: Path) -> dict[str, Any]:
    from gguf import GGUFReader

    return {t.name: t.data.copy() for t in GGUFReader(str(path)).tensors}


@pytest.mark.realmodel
async def test_fine_tune_switches_config_and_the_served_model_extracts(tmp_path: Path) -> None:
    _need_extra()
    from extractkit.local import LocalFineTuningBackend, LocalModelServer

    backend = LocalFineTuningBackend(models_dir=tmp_path / "models")
    assert isinstance(backend, FineTuningBackend)
    config = tmp_path / "extractkit.toml"
    events: list[Any] = []
    result = await fine_tune(
        backend,
        _training_file(tmp_path),
        model="smollm2-135m",
        extractor="location",
        suffix="cities",
        seed=3,
        hyperparameters=Hyperparameters(n_epochs=2),
        config=config,
        out=io.StringIO(),
        sleep=_waiting_on(backend),
        on_event=events.append,
    )

    job = result.job
    assert job.status is JobStatus.SUCCEEDED and job.trained_tokens and job.trained_tokens > 0
    assert job.fine_tuned_model is not None and job.fine_tuned_model.startswith("ft-smollm2-135m-cities-")
    losses = [e.metrics["train_loss"] for e in events if e.metrics]
    assert len(losses) == 12  # 24 examples / batch 4 x 2 epochs, one metrics event per step
    assert losses[-1] < losses[0] / 3  # it learned the format
    written = tomllib.loads(config.read_text(encoding="utf-8"))
    assert written["extractors"]["location"]["model"] == f"local:{job.fine_tuned_model}"

    with LocalModelServer(job.fine_tuned_model, models_dir=tmp_path / "models") as tuned:
        loc = LocationExtractor(
            settings=tuned.settings(base=written), max_attempts=1, max_tokens=120, store=False
        )
        profile = loc.resolve_profile()
        assert (profile.prompt_variant.value, profile.output_mode.value) == ("minimal", "json_schema")
        assert loc.build_request("x").messages[0].content == LocationExtractor.instructions
        tuned_results = await loc.extract_many([q for q, _ in HELD_OUT], concurrency=1)
    with LocalModelServer() as base:
        plain = LocationExtractor(
            model="local:ft-none", settings=base.settings(), max_attempts=1, max_tokens=120, store=False
        )  # the base model asked exactly like the tuned one: minimal prompt, schema-constrained output
        base_results = await plain.extract_many([q for q, _ in HELD_OUT], concurrency=1)

    tuned_valid = sum(r.ok for r in tuned_results)
    assert tuned_valid >= len(HELD_OUT) - 1, [str(r.error) for r in tuned_results]
    assert tuned_valid > sum(r.ok for r in base_results)  # the adapter, not the prompt, made the difference
    found = sum(
        any((loc.city or "").lower() == city.lower() for loc in r.value.locations)
        for r, (_, city) in zip(tuned_results, HELD_OUT, strict=True)
        if r.ok
    )
    assert found >= len(HELD_OUT) // 2  # held-out cities, never seen in training
    assert all(r.extraction and r.extraction.usage.prompt_tokens < 60 for r in tuned_results if r.ok)


@pytest.mark.realmodel
async def test_same_seed_same_adapter(tmp_path: Path) -> None:
    _need_extra()
    from extractkit.local import LocalFineTuningBackend

    backend = LocalFineTuningBackend(models_dir=tmp_path / "models", max_steps=2, lora_rank=4)
    file = await backend.upload_file(_training_file(tmp_path, count=8))
    adapters = []
    for _ in range(2):
        job = await backend.create_job(JobSpec("smollm2-135m", file.id, seed=11))
        await asyncio.to_thread(backend.wait, job.id)
        job = await backend.get_job(job.id)
        assert job.status is JobStatus.SUCCEEDED, job.describe_error()
        assert job.fine_tuned_model is not None
        adapters.append(_adapter_tensors(tmp_path / "models" / job.fine_tuned_model / "adapter.gguf"))
    first, second = adapters
    assert len(first) == 30 * 7 * 2  # every block, seven projections, A and B
    assert first.keys() == second.keys()
    assert all((first[name] == second[name]).all() for name in first)
    assert any(abs(first[name]).sum() > 0 for name in first if name.endswith(".lora_b"))  # B moved off zero
    jobs = await backend.list_jobs()
    assert len(jobs) == 2 and jobs[0].id == job.id  # newest first


@pytest.mark.realmodel
async def test_cancel_and_failure_end_jobs_with_reasons(tmp_path: Path) -> None:
    _need_extra()
    from extractkit.local import LocalFineTuningBackend

    backend = LocalFineTuningBackend(models_dir=tmp_path / "models")
    file = await backend.upload_file(_training_file(tmp_path, count=8))
    job = await backend.create_job(JobSpec("smollm2-135m", file.id, suffix="stop"))
    await backend.cancel_job(job.id)
    await asyncio.to_thread(backend.wait, job.id)
    job = await backend.get_job(job.id)
    assert job.status is JobStatus.CANCELLED and job.fine_tuned_model is None
    assert not list((tmp_path / "models").glob("ft-*/model.json"))
    events = await backend.list_events(job.id)
    assert events[0].level == "error" and "cancelled" in events[0].message  # newest first
    assert events[-1].message.startswith("created fine-tuning job")
    with pytest.raises(FineTuneError, match="already ended"):
        await backend.cancel_job(job.id)

    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + bytes(64))
    failed = await backend.create_job(JobSpec(str(junk), file.id))
    await asyncio.to_thread(backend.wait, failed.id)
    failed = await backend.get_job(failed.id)
    assert failed.status is JobStatus.FAILED
    assert failed.describe_error().startswith("local_training_error: FineTuneError: cannot read")
    assert "junk.gguf" in failed.describe_error()
