"""``LocalFineTuningBackend``: the fine-tuning Protocol, training a LoRA adapter on this machine.

It implements :class:`extractkit.finetune.FineTuningBackend` (upload a file,
create a job, follow its state and events, cancel it) over the same chat JSONL
an OpenAI fine-tune takes, so :func:`extractkit.finetune.fine_tune` and
``extractkit finetune`` drive it unchanged::

    result = await fine_tune(LocalFineTuningBackend(), "location.train.jsonl",
                             model="smollm2-135m", extractor="location")
    # extractkit.toml: [extractors.location] model = "local:ft-smollm2-135m-1a2b3c"

The job trains in a background thread of the calling process, one job at a
time; its state and events are written to ``<models_dir>/jobs/`` as they
change, so another process can read them (only the process running a job can
cancel it). The result is a model named ``ft-<base>[-<suffix>]-<id>`` in
``models_dir``: a ``model.json`` manifest and a GGUF LoRA adapter, served by
``LocalModelServer("ft-...")`` or ``extractkit serve --model ft-...``. The
``ft-`` prefix gives it the minimal prompt and bare output, like an ``ft:``
OpenAI model.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from extractkit.exceptions import DatasetError, FineTuneError, UserError
from extractkit.finetune.base import FineTuneJob, Hyperparameters, JobEvent, JobSpec, JobStatus, UploadedFile
from extractkit.local.models import (
    ADAPTER_FILE,
    MANIFEST,
    SHIPPED_MODEL,
    default_models_dir,
    require_extras,
    resolve_local_model,
)
from extractkit.local.training import TrainingConfig, TrainingProgress
from extractkit.private_files import make_private_dirs

__all__ = ["LocalFineTuningBackend", "read_chat_jsonl"]

_ROLES = ("system", "user", "assistant")
_SUFFIX = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_run_lock = threading.Lock()  # training is CPU-bound: one job at a time per process


def read_chat_jsonl(
    path: str | os.PathLike[str], *, shown_as: str | None = None
) -> list[list[dict[str, str]]]:
    """Read and validate chat JSONL (``{"messages": [{"role", "content"}, ...]}`` per line).

    Args:
        path: The file.
        shown_as: The name to use in error messages (default: the path).

    Raises:
        DatasetError: with the file and line of the first malformed row; nothing is half-read.
    """
    source = Path(path)
    label = shown_as or str(source)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"training file {label!r} does not exist", path=label) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read training file {label!r}: {exc}", path=label) from None
    conversations: list[list[dict[str, str]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue

        def bad(why: str, line_no: int = number) -> DatasetError:
            return DatasetError(f"{label}:{line_no}: {why}", path=label, line=line_no)

        try:
            row = json.loads(line)
        except ValueError as exc:
            raise bad(f"not valid JSON ({exc})") from None
        messages = row.get("messages") if isinstance(row, dict) else None
        if not isinstance(messages, list) or not messages:
            raise bad('each line needs {"messages": [...]} with at least one message')
        clean: list[dict[str, str]] = []
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in _ROLES:
                raise bad(f"message {i} needs a role of {', '.join(_ROLES)}")
            content = message.get("content")
            if not isinstance(content, str):
                raise bad(f"message {i} ({message['role']}) needs string content")
            clean.append({"role": message["role"], "content": content})
        if not any(m["role"] == "assistant" for m in clean):
            raise bad("no assistant message: there is nothing to learn from this row")
        conversations.append(clean)
    if not conversations:
        raise DatasetError(f"training file {label!r} has no examples", path=label)
    return conversations


class LocalFineTuningBackend:
    """The :class:`~extractkit.finetune.FineTuningBackend` Protocol, trained on this machine.

    Jobs train a LoRA adapter for a local GGUF model (default: the shipped
    SmolLM2-135M-Instruct) in a background thread, one job at a time per
    process; :func:`extractkit.finetune.fine_tune` drives it like the OpenAI
    backend. ``"auto"`` hyperparameters mean 3 epochs, batch size 4 and a
    learning rate of ``learning_rate`` × 1.

    Args:
        models_dir: Where files, jobs and fine-tuned models are kept
            (default ``$EXTRACTKIT_LOCAL_MODELS``, else ``models`` in the user data folder).
        device: ``cpu`` or ``cuda``; default: a GPU when torch sees one.
        lora_rank: Rank of the LoRA matrices.
        lora_alpha: LoRA alpha (default ``2 * lora_rank``).
        learning_rate: The base learning rate that ``learning_rate_multiplier`` scales.
        max_steps: Stop every job after this many optimizer steps (quick runs, tests).
    """

    name = "local"

    def __init__(
        self,
        models_dir: str | os.PathLike[str] | None = None,
        *,
        device: str | None = None,
        lora_rank: int = 16,
        lora_alpha: float | None = None,
        learning_rate: float = 1e-3,
        max_steps: int | None = None,
    ) -> None:
        if lora_rank < 1 or learning_rate <= 0 or (max_steps is not None and max_steps < 1):
            raise UserError("lora_rank and max_steps must be >= 1 and learning_rate > 0")
        self.models_dir = Path(models_dir) if models_dir is not None else default_models_dir()
        self.device = device
        self.lora_rank = lora_rank
        self.lora_alpha = float(lora_alpha) if lora_alpha is not None else 2.0 * lora_rank
        self.learning_rate = learning_rate
        self.max_steps = max_steps
        self._cancel: dict[str, threading.Event] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._io = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalFineTuningBackend(models_dir={str(self.models_dir)!r})"

    # ----------------------------------------------------------------- files

    async def upload_file(
        self, file: str | os.PathLike[str] | bytes, *, purpose: str = "fine-tune", filename: str | None = None
    ) -> UploadedFile:
        """Validate a chat JSONL file and keep a copy under ``models_dir/files``.

        Raises:
            DatasetError: a malformed row (with its line number); nothing is kept.
        """
        # Validating and copying the file is blocking I/O: keep it off the event loop.
        return await asyncio.to_thread(self._upload, file, purpose, filename)

    def _upload(
        self, file: str | os.PathLike[str] | bytes, purpose: str, filename: str | None
    ) -> UploadedFile:
        if purpose != "fine-tune":
            raise UserError(f"local files are for purpose 'fine-tune', got {purpose!r}")
        if isinstance(file, bytes):
            data, name = file, filename or "upload.jsonl"
        else:
            source = Path(file)
            try:
                data = source.read_bytes()
            except FileNotFoundError:
                raise DatasetError(
                    f"training file {str(source)!r} does not exist", path=str(source)
                ) from None
            name = filename or source.name
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        target = self.models_dir / "files" / f"{file_id}.jsonl"
        make_private_dirs(target.parent)  # 0700: training data
        partial = target.with_suffix(".partial")
        partial.write_bytes(data)
        try:
            read_chat_jsonl(partial, shown_as=name)
        except DatasetError:
            partial.unlink()
            raise
        partial.replace(target)
        return UploadedFile(file_id, name, len(data), purpose, status="processed")

    def _file(self, file_id: str) -> Path:
        path = self.models_dir / "files" / f"{file_id}.jsonl"
        if not re.fullmatch(r"file-[0-9a-f]{24}", file_id) or not path.is_file():
            raise FineTuneError(f"no uploaded file {file_id!r} in {str(self.models_dir)!r}; upload it first")
        return path

    # ----------------------------------------------------------------- jobs

    async def create_job(self, spec: JobSpec) -> FineTuneJob:
        """Start training ``spec.model`` on ``spec.training_file`` in the background; returns the queued job.

        ``spec.model`` is :data:`~extractkit.local.models.SHIPPED_MODEL` or a GGUF path.
        A validation file is checked but not scored (local jobs report training loss).
        """
        require_extras(serve=False, train=True, model=(spec.model == SHIPPED_MODEL))
        data = self._file(spec.training_file)
        if spec.validation_file is not None:
            self._file(spec.validation_file)
        if spec.suffix is not None and not _SUFFIX.match(spec.suffix):
            raise UserError(
                f"a local suffix is 1-40 lowercase letters, digits or dashes, got {spec.suffix!r}"
            )
        base = resolve_local_model(spec.model, models_dir=self.models_dir)
        if base.is_fine_tuned:
            raise UserError(f"{spec.model!r} is already fine-tuned; train from its base model")
        seed = 0 if spec.seed is None else spec.seed
        config = self.training_config(spec.hyperparameters, seed)
        record: dict[str, Any] = {
            "id": f"ftjob-{uuid.uuid4().hex[:24]}",
            "status": JobStatus.QUEUED.value,
            "model": base.name,
            # What the manifest names as the base: the shipped name, or the GGUF's absolute path.
            "base_ref": base.name if base.name == SHIPPED_MODEL else str(base.base_path.resolve()),
            "training_file": spec.training_file,
            "validation_file": spec.validation_file,
            "created_at": int(time.time()),
            "created_ns": time.time_ns(),  # orders jobs made within the same second
            "finished_at": None,
            "seed": seed,
            "suffix": spec.suffix,
            "hyperparameters": {
                "n_epochs": config.epochs,
                "batch_size": config.batch_size,
                "learning_rate_multiplier": config.learning_rate / self.learning_rate,
            },
            "metadata": dict(spec.metadata),
            "fine_tuned_model": None,
            "trained_tokens": None,
            "error": None,
            "pid": os.getpid(),
        }
        job_id = str(record["id"])
        self._save(record)
        self._event(job_id, "info", f"created fine-tuning job {job_id} on {base.name}")
        stop = self._cancel[job_id] = threading.Event()
        thread = threading.Thread(
            target=self._train, args=(record, data, base.base_path, config, stop), name=job_id, daemon=False
        )
        self._threads[job_id] = thread
        thread.start()
        return _to_job(record)

    def training_config(self, hyper: Hyperparameters, seed: int = 0) -> TrainingConfig:
        """The training settings a job with these hyperparameters runs with (``auto`` resolved)."""
        epochs = 3 if hyper.n_epochs == "auto" else hyper.n_epochs
        batch = 4 if hyper.batch_size == "auto" else hyper.batch_size
        mult = 1.0 if hyper.learning_rate_multiplier == "auto" else float(hyper.learning_rate_multiplier)
        return TrainingConfig(
            epochs=epochs,
            batch_size=batch,
            learning_rate=self.learning_rate * mult,
            rank=self.lora_rank,
            alpha=self.lora_alpha,
            seed=seed,
            max_steps=self.max_steps,
        )

    async def get_job(self, job_id: str) -> FineTuneJob:
        """The job's current state."""
        return _to_job(self._load(job_id))

    async def list_jobs(self, *, limit: int = 20, after: str | None = None) -> list[FineTuneJob]:
        """Jobs in ``models_dir``, newest first; ``after`` is the last id of the previous page."""
        folder = self.models_dir / "jobs"
        records = [self._load(p.stem) for p in folder.glob("ftjob-*.json")] if folder.is_dir() else []
        records.sort(key=lambda r: (r.get("created_ns", 0), r["id"]), reverse=True)
        ids = [r["id"] for r in records]
        if after is not None and after in ids:
            records = records[ids.index(after) + 1 :]
        return [_to_job(r) for r in records[:limit]]

    async def cancel_job(self, job_id: str) -> FineTuneJob:
        """Stop a queued or running job (at its next training step)."""
        record = self._load(job_id)
        if JobStatus.parse(record["status"]).is_final:
            raise FineTuneError(
                f"job {job_id} already ended ({record['status']}); nothing to cancel", job_id=job_id
            )
        flag = self._cancel.get(job_id)
        if flag is None:
            raise FineTuneError(
                f"job {job_id} runs in another process (pid {record.get('pid')}); cancel it there",
                job_id=job_id,
            )
        flag.set()
        self._event(job_id, "info", "cancellation requested")
        return _to_job(self._load(job_id))

    async def list_events(self, job_id: str, *, limit: int = 100, after: str | None = None) -> list[JobEvent]:
        """The job's events, newest first; ``after`` is the last id of the previous page (older ones)."""
        self._load(job_id)
        path = self._job_path(job_id).with_suffix(".events.jsonl")
        with self._io:
            lines = path.read_text("utf-8").splitlines() if path.exists() else []
        events = [_to_event(json.loads(line)) for line in reversed(lines)]
        if after is not None:
            ids = [e.id for e in events]
            events = events[ids.index(after) + 1 :] if after in ids else []
        return events[:limit]

    async def aclose(self) -> None:
        """Nothing to release: jobs keep training until they end (see :meth:`wait`)."""

    def wait(self, job_id: str | None = None, *, timeout: float | None = None) -> None:
        """Block until the job (default: every job this backend started) has ended, or ``timeout``."""
        threads = [self._threads[job_id]] if job_id in self._threads else []
        if job_id is None:
            threads = list(self._threads.values())
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    # ----------------------------------------------------------------- the worker

    def _train(
        self,
        record: dict[str, Any],
        data: Path,
        base_path: Path,
        config: TrainingConfig,
        stop: threading.Event,
    ) -> None:
        from extractkit.local.training import Cancelled, train_lora

        job_id = str(record["id"])
        with _run_lock:
            if stop.is_set():
                self._finish(record, JobStatus.CANCELLED, error="cancelled before it started")
                return
            name = _model_name(record)
            folder = self.models_dir / name
            record["status"] = JobStatus.RUNNING.value
            self._save(record)
            self._event(job_id, "info", f"training {name}: {config.epochs} epochs, LoRA rank {config.rank}")

            def progress(p: TrainingProgress) -> None:
                record["step"], record["total_steps"] = p.step, p.total_steps
                self._save(record)
                metrics = {
                    "step": p.step,
                    "total_steps": p.total_steps,
                    "train_loss": p.loss,
                    "epoch": p.epoch,
                }
                self._event(
                    job_id,
                    "info",
                    f"step {p.step}/{p.total_steps}: training loss={p.loss:.4f}",
                    metrics,
                    "metrics",
                )

            try:
                conversations = read_chat_jsonl(data)
                result = train_lora(
                    base_path,
                    conversations,
                    folder / ADAPTER_FILE,
                    config,
                    device=self.device,
                    on_progress=progress,
                    should_stop=stop.is_set,
                    name=name,
                )
            except Cancelled as exc:
                self._finish(record, JobStatus.CANCELLED, error=str(exc))
                return
            except Exception as exc:  # a job reports its failure; it never kills the caller's process
                self._finish(record, JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
                return
            manifest = {
                "name": name,
                "base_model": record.get("base_ref", record["model"]),
                "adapter": ADAPTER_FILE,
                "job_id": job_id,
                "training_file": record["training_file"],
                "seed": record["seed"],
                "training": asdict(config) | {"targets": list(config.targets)},
                "steps": result.steps,
                "final_loss": result.losses[-1],
                "trained_tokens": result.trained_tokens,
                "truncated_examples": result.truncated,
                "device": result.device,
                "seconds": round(result.seconds, 1),
            }
            (folder / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            record["fine_tuned_model"] = name
            record["trained_tokens"] = result.trained_tokens
            self._finish(record, JobStatus.SUCCEEDED)

    def _finish(self, record: dict[str, Any], status: JobStatus, *, error: str | None = None) -> None:
        record.update(status=status.value, error=error, finished_at=int(time.time()))
        self._save(record)
        if status is JobStatus.SUCCEEDED:
            self._event(record["id"], "info", f"fine-tuned model {record['fine_tuned_model']} is ready")
        else:
            self._event(record["id"], "error", f"job {status.value}: {error}")

    # ----------------------------------------------------------------- storage

    def _job_path(self, job_id: str) -> Path:
        if not isinstance(job_id, str) or not re.fullmatch(r"ftjob-[0-9a-f]{24}", job_id):
            raise UserError(
                f"a local fine-tuning job id looks like 'ftjob-' and 24 hex digits, got {job_id!r}"
            )
        return self.models_dir / "jobs" / f"{job_id}.json"

    def _load(self, job_id: str) -> dict[str, Any]:
        path = self._job_path(job_id)
        try:
            with self._io:
                record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FineTuneError(
                f"no local fine-tuning job {job_id} in {str(self.models_dir)!r}", job_id=job_id
            ) from None
        if not JobStatus.parse(record["status"]).is_final and not _alive(record.get("pid")):
            # The process that trained it is gone; the job will never finish.
            record.update(
                status=JobStatus.FAILED.value, error="the process running this job ended before it did"
            )
        return record

    def _save(self, record: dict[str, Any]) -> None:
        path = self._job_path(record["id"])
        make_private_dirs(path.parent)  # 0700
        tmp = path.with_suffix(".tmp")
        with self._io:
            tmp.write_text(json.dumps(record), encoding="utf-8")
            tmp.replace(path)

    def _event(
        self, job_id: str, level: str, message: str, data: dict[str, Any] | None = None, kind: str = "message"
    ) -> None:
        event = {
            "id": f"ftevent-{uuid.uuid4().hex[:24]}",
            "created_at": int(time.time()),
            "level": level,
            "message": message,
            "type": kind,
            "data": data or {},
        }
        path = self._job_path(job_id).with_suffix(".events.jsonl")
        with self._io, path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(event) + "\n")


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists but belongs to someone else
    return True


def _to_job(record: Mapping[str, Any]) -> FineTuneJob:
    hyper = record.get("hyperparameters") or {}
    status = JobStatus.parse(record["status"])
    return FineTuneJob(
        id=record["id"],
        status=status,
        model=record["model"],
        fine_tuned_model=record.get("fine_tuned_model"),
        created_at=record["created_at"],
        finished_at=record.get("finished_at"),
        trained_tokens=record.get("trained_tokens"),
        training_file=record["training_file"],
        validation_file=record.get("validation_file"),
        hyperparameters=Hyperparameters(
            n_epochs=hyper.get("n_epochs", "auto"),
            batch_size=hyper.get("batch_size", "auto"),
            learning_rate_multiplier=hyper.get("learning_rate_multiplier", "auto"),
        ),
        seed=record.get("seed"),
        error_code="local_training_error" if status is JobStatus.FAILED else None,
        error_message=record.get("error"),
        metadata=dict(record.get("metadata") or {}),
        raw_status=record["status"],
    )


def _to_event(data: Mapping[str, Any]) -> JobEvent:
    return JobEvent(
        id=data["id"],
        created_at=data["created_at"],
        level=data["level"],
        message=data["message"],
        type=data.get("type", "message"),
        data=dict(data.get("data") or {}),
    )


def _model_name(record: Mapping[str, Any]) -> str:
    parts = ["ft", str(record["model"])]
    if record.get("suffix"):
        parts.append(str(record["suffix"]))
    parts.append(str(record["id"])[-6:])
    return "-".join(parts)
