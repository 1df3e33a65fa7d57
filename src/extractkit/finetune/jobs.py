"""From a validated training file to a fine-tuned model in use.

:func:`fine_tune` does the whole way: upload the files, create the job (with
the extractor it trains for in the job's metadata), follow it, and on success
write the ``ft:`` model into ``extractkit.toml`` for that extractor, so the
application switches at its next start with no code change. After an
interruption, :func:`resume_fine_tune` with the job id picks up the same way
from any process. The steps are public too: :func:`start_job`,
:func:`~extractkit.finetune.follow.follow_job`, :func:`apply_job_result`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from extractkit.exceptions import FineTuneError, UserError
from extractkit.finetune.base import (
    EXTRACTOR_METADATA_KEY,
    FineTuneJob,
    FineTuningBackend,
    Hyperparameters,
    JobEvent,
    JobSpec,
    JobStatus,
)
from extractkit.finetune.follow import STDERR, follow_job, resume_command
from extractkit.finetune.toml_update import ConfigUpdate, update_extractor_model
from extractkit.retries import RetryPolicy

__all__ = ["FineTuneResult", "apply_job_result", "fine_tune", "resume_fine_tune", "start_job"]


@dataclass(frozen=True, slots=True)
class FineTuneResult:
    """A finished job and the configuration change it made.

    Attributes:
        job: The job as it ended.
        config: What was written to ``extractkit.toml``; ``None`` when updating was off.
    """

    job: FineTuneJob
    config: ConfigUpdate | None

    @property
    def model(self) -> str:
        """The fine-tuned model id."""
        assert self.job.fine_tuned_model is not None
        return self.job.fine_tuned_model


def _extractor_name(extractor: Any) -> str | None:
    if extractor is None or isinstance(extractor, str):
        return extractor
    name = getattr(extractor, "name", None)
    if not isinstance(name, str) or not name:
        raise UserError(f"extractor must be a config name or an Extractor, got {extractor!r}")
    return name


async def start_job(
    backend: FineTuningBackend,
    training_file: str | os.PathLike[str],
    *,
    model: str,
    extractor: Any = None,
    validation_file: str | os.PathLike[str] | None = None,
    suffix: str | None = None,
    seed: int | None = None,
    hyperparameters: Hyperparameters | None = None,
    metadata: Mapping[str, str] | None = None,
) -> FineTuneJob:
    """Upload the training (and validation) file and create the job; returns at once.

    Args:
        backend: The provider's fine-tuning API.
        training_file: Path of the training JSONL file.
        model: The base model, e.g. ``gpt-4o-mini-2024-07-18`` (a ``provider:`` prefix is dropped).
        extractor: The extractor (or its config name) the model is for; stored in the
            job's metadata so a resumed follow knows which config entry to switch.
        validation_file: Path of the validation JSONL file.
        suffix: Up to 64 characters added to the fine-tuned model's name.
        seed: For a reproducible job.
        hyperparameters: Epochs, batch size, learning-rate multiplier (default: all ``auto``).
        metadata: More job metadata.

    Raises:
        FineTuneError: The provider refused a file or the job (with its message).
        UserError: A file is missing or an argument is out of range.
    """
    base = model.split(":", 1)[1] if ":" in model and not model.startswith("ft:") else model
    meta = dict(metadata or {})
    name = _extractor_name(extractor)
    if name:
        meta[EXTRACTOR_METADATA_KEY] = name
    # Fail on bad arguments before anything is uploaded.
    JobSpec(base, "pending", None, suffix, seed, hyperparameters or Hyperparameters(), meta)
    training = await backend.upload_file(training_file, purpose="fine-tune")
    validation = None
    if validation_file is not None:
        validation = await backend.upload_file(validation_file, purpose="fine-tune")
    spec = JobSpec(
        model=base,
        training_file=training.id,
        validation_file=validation.id if validation else None,
        suffix=suffix,
        seed=seed,
        hyperparameters=hyperparameters or Hyperparameters(),
        metadata=meta,
    )
    return await backend.create_job(spec)


def apply_job_result(
    job: FineTuneJob,
    *,
    provider: str = "openai",
    extractor: Any = None,
    config: str | os.PathLike[str] | None = None,
) -> ConfigUpdate:
    """Write a succeeded job's model into ``extractkit.toml`` for its extractor.

    Args:
        job: A succeeded job.
        provider: The provider name to prefix the model id with (the backend's ``name``).
        extractor: The extractor (or config name); default: the one in the job's metadata.
        config: The config file; default: the discovered ``extractkit.toml``.

    Raises:
        FineTuneError: The job has not succeeded.
        UserError: No extractor is known for the job.
    """
    if job.status is not JobStatus.SUCCEEDED or not job.fine_tuned_model:
        raise FineTuneError(
            f"job {job.id} is {job.raw_status or job.status.value}, not succeeded: "
            "there is no model to use yet",
            job_id=job.id,
        )
    name = _extractor_name(extractor) or job.extractor
    if not name:
        raise UserError(
            f"job {job.id} does not say which extractor it trains for (no {EXTRACTOR_METADATA_KEY!r} "
            "metadata); name the extractor (--extractor NAME)"
        )
    return update_extractor_model(
        name, f"{provider}:{job.fine_tuned_model}", path=config, reason=f"fine-tuning job {job.id}"
    )


async def resume_fine_tune(
    backend: FineTuningBackend,
    job_id: str,
    *,
    extractor: Any = None,
    config: str | os.PathLike[str] | None = None,
    update_config: bool = True,
    out: TextIO | None = STDERR,
    poll_interval: float = 15.0,
    max_wait: float | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    retry: RetryPolicy | None = None,
    on_event: Callable[[JobEvent], None] | None = None,
) -> FineTuneResult:
    """Follow a job (again) to its end and, on success, switch its extractor to the new model.

    Arguments as for :func:`fine_tune` and :func:`~extractkit.finetune.follow.follow_job`.

    Raises:
        FineTuneError: The job failed or was cancelled.
        TimeoutError: ``max_wait`` passed with the job still going (resume again later).
    """
    job = await follow_job(
        backend,
        job_id,
        out=out,
        poll_interval=poll_interval,
        max_wait=max_wait,
        sleep=sleep,
        clock=clock,
        retry=retry,
        on_event=on_event,
    )
    if not job.status.is_final:
        raise TimeoutError(f"job {job_id} is still {job.raw_status}; resume later with its id")
    update = None
    if update_config:
        update = apply_job_result(job, provider=backend.name, extractor=extractor, config=config)
        if out is not None:
            print(f"{update.path}: [extractors.{update.extractor}] model = {update.model!r}", file=out)
            for note in update.notes:
                print(f"note: {note}", file=out)
    return FineTuneResult(job, update)


async def fine_tune(
    backend: FineTuningBackend,
    training_file: str | os.PathLike[str],
    *,
    model: str,
    extractor: Any,
    validation_file: str | os.PathLike[str] | None = None,
    suffix: str | None = None,
    seed: int | None = None,
    hyperparameters: Hyperparameters | None = None,
    config: str | os.PathLike[str] | None = None,
    update_config: bool = True,
    out: TextIO | None = STDERR,
    poll_interval: float = 15.0,
    max_wait: float | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    retry: RetryPolicy | None = None,
    on_event: Callable[[JobEvent], None] | None = None,
) -> FineTuneResult:
    """Train a model for ``extractor`` and switch the extractor to it in ``extractkit.toml``.

    Args:
        backend: The provider's fine-tuning API.
        training_file: Path of the training JSONL file (minimal prompt, chat format).
        model: The base model, e.g. ``gpt-4o-mini-2024-07-18``.
        extractor: The extractor (or its config name) the model is for.
        validation_file: Path of the validation JSONL file.
        suffix: Added to the fine-tuned model's name.
        seed: For a reproducible job.
        hyperparameters: Epochs, batch size, learning-rate multiplier.
        config: The config file to update (default: the discovered ``extractkit.toml``).
        update_config: Write the model into the config on success.
        out: Where progress goes (default stderr); ``None`` for silence.
        poll_interval: Seconds between polls.
        max_wait: Stop following after this many seconds (TimeoutError; resume by job id).
        sleep: Async sleep for polls and retries (injected in tests).
        clock: Monotonic clock for ``max_wait`` (injected in tests).
        retry: Transport retries per request while following.
        on_event: Called with each job event, oldest first.

    Raises:
        FineTuneError: A file or the job was refused, or the job failed or was cancelled.
    """
    job = await start_job(
        backend,
        training_file,
        model=model,
        extractor=extractor,
        validation_file=validation_file,
        suffix=suffix,
        seed=seed,
        hyperparameters=hyperparameters,
    )
    if out is not None:
        hint = resume_command(job.id, backend.name, str(config) if config is not None else None)
        print(f"started {job.id}; if interrupted, resume with: {hint}", file=out)
    return await resume_fine_tune(
        backend,
        job.id,
        extractor=extractor,
        config=Path(config) if config is not None else None,
        update_config=update_config,
        out=out,
        poll_interval=poll_interval,
        max_wait=max_wait,
        sleep=sleep,
        clock=clock,
        retry=retry,
        on_event=on_event,
    )
