"""The run directory of a distillation and its manifest: what each step did, with what.

A distillation is a chain of steps (collect the data, estimate, label, build,
split, fine-tune, evaluate, gate, report). Every step records in
``manifest.json``:

- ``inputs``: the parameters it ran with and the SHA-256 digests of the files it read,
  and ``digest``, the digest of those inputs (canonical JSON);
- ``outputs``: what it produced (figures, ids) and the digests of the files it wrote;
- ``status`` (``running``, ``done``, ``failed``), its times and, on failure, the error.

A run started again in the same directory skips every step that is ``done`` with
the same inputs, after checking that the files the step wrote are still the ones
it wrote. A done step whose inputs differ now (another teacher, another seed, an
edited training file) is refused: carrying on would mix two runs. Steps that only
derive from the ones before them (the estimate, the evaluation) run again instead. The manifest is
replaced atomically (a temporary file in the same folder, fsync, rename), so a run
killed at any moment leaves the previous manifest or the new one, never half of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from extractkit.exceptions import UserError

__all__ = [
    "MANIFEST_FILE",
    "RunManifest",
    "StaleRunError",
    "StepRecord",
    "StepStatus",
    "digest_file",
    "digest_value",
]

MANIFEST_FILE = "manifest.json"
_FORMAT = 1

StepStatus = Literal["running", "done", "failed"]


class StaleRunError(UserError):
    """A finished step of the run was done with other inputs, or its output files were changed since."""


def digest_value(value: Any) -> str:
    """SHA-256 (hex) of ``value`` as canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def digest_file(path: str | os.PathLike[str]) -> str | None:
    """SHA-256 (hex) of the file's bytes; ``None`` when it does not exist."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class StepRecord:
    """One step as the manifest records it.

    Attributes:
        name: The step's name (``collect``, ``label``...).
        status: ``running`` (started, not ended: the run was stopped), ``done`` or ``failed``.
        inputs: Parameters and input-file digests the step ran with.
        digest: Digest of ``inputs``.
        outputs: What the step produced; ``files`` maps names of files it wrote to their digests.
        started_at: When it started (ISO 8601, UTC).
        finished_at: When it ended.
        seconds: Wall time of its last run.
        error: Why it failed.
    """

    name: str
    status: StepStatus
    inputs: dict[str, Any]
    digest: str
    outputs: dict[str, Any] = field(default_factory=dict)
    started_at: str = field(default_factory=_now)
    finished_at: str | None = None
    seconds: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the manifest's entry)."""
        return {
            "status": self.status,
            "inputs": self.inputs,
            "digest": self.digest,
            "outputs": self.outputs,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": self.seconds,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> StepRecord:
        """Parse a manifest entry."""
        status = data.get("status")
        if status not in ("running", "done", "failed"):
            raise UserError(f"manifest step {name!r} has an unknown status {status!r}")
        return cls(
            name=name,
            status=status,
            inputs=dict(data.get("inputs") or {}),
            digest=str(data.get("digest") or ""),
            outputs=dict(data.get("outputs") or {}),
            started_at=str(data.get("started_at") or ""),
            finished_at=data.get("finished_at"),
            seconds=data.get("seconds"),
            error=data.get("error"),
        )


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in {*old, *new} if old.get(k) != new.get(k))


class RunManifest:
    """``manifest.json`` of one run directory.

    Args:
        run_dir: The run directory (created on :meth:`save`).
        data: The parsed manifest; a fresh one when ``None``.
    """

    def __init__(self, run_dir: Path, data: dict[str, Any] | None = None) -> None:
        self.run_dir = run_dir
        self.data: dict[str, Any] = data or {"format": _FORMAT, "created_at": _now(), "steps": {}}
        self.steps: dict[str, StepRecord] = {
            name: StepRecord.from_dict(name, entry) for name, entry in (self.data.get("steps") or {}).items()
        }

    @property
    def path(self) -> Path:
        """The manifest file."""
        return self.run_dir / MANIFEST_FILE

    @classmethod
    def load(cls, run_dir: str | os.PathLike[str]) -> RunManifest:
        """Read the run directory's manifest; a fresh (unsaved) one when there is none.

        Raises:
            UserError: The manifest is not valid JSON or not a distill manifest (the message names it).
        """
        folder = Path(run_dir)
        path = folder / MANIFEST_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(folder)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read the run manifest {path}: {exc}; delete it to start over") from None
        if (
            not isinstance(data, dict)
            or data.get("format") != _FORMAT
            or not isinstance(data.get("steps"), dict)
        ):
            raise UserError(
                f"{path} is not an extractkit distill manifest (format {_FORMAT}); "
                "choose another --run-dir or delete the folder"
            )
        return cls(folder, data)

    def save(self) -> None:
        """Write the manifest atomically (temporary file, fsync, rename)."""
        self.data["steps"] = {name: record.to_dict() for name, record in self.steps.items()}
        self.data["updated_at"] = _now()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.data, indent=2, ensure_ascii=False, default=str) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=self.run_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def file(self, name: str) -> Path:
        """A file of the run directory."""
        return self.run_dir / name

    def changed(self, name: str, inputs: Mapping[str, Any]) -> list[str]:
        """The inputs that differ from those the step was last done with (empty when it was not done)."""
        record = self.steps.get(name)
        if record is None or record.status != "done" or record.digest == digest_value(dict(inputs)):
            return []
        return _changed(record.inputs, inputs) or ["the inputs"]

    def done(self, name: str, inputs: Mapping[str, Any], *, redo: bool = False) -> StepRecord | None:
        """The step's record when it is done with exactly these ``inputs``; ``None`` when it is not done.

        Args:
            name: The step.
            inputs: Its inputs now.
            redo: The step only derives from steps before it and may simply run again when its
                inputs changed (the estimate, the evaluation): ``None`` then, instead of refusing.

        Raises:
            StaleRunError: It is done with other inputs (and ``redo`` is false), or a file it wrote
                has changed since.
        """
        record = self.steps.get(name)
        if record is None or record.status != "done":
            return None
        if record.digest != digest_value(dict(inputs)):
            if redo:
                return None
            changed = ", ".join(_changed(record.inputs, inputs)) or "the inputs"
            raise StaleRunError(
                f"step {name!r} of the run in {self.run_dir} was done with other inputs "
                f"(changed: {changed}); resuming would mix two runs. Start over with --restart (it keeps "
                "the fixed evaluation set and the teacher labels already paid for), or use another --run-dir"
            )
        for file, expected in (record.outputs.get("files") or {}).items():
            if digest_file(self.file(file)) != expected:
                raise StaleRunError(
                    f"{self.file(file)} was written by step {name!r} and has changed (or gone) since; "
                    "resuming would train or evaluate on something no step checked. Restore it, or start "
                    "over with --restart"
                )
        return record

    def begin(self, name: str, inputs: Mapping[str, Any], *, keep_outputs: bool = False) -> StepRecord:
        """Record that the step starts now with ``inputs``, and save.

        Args:
            name: The step.
            inputs: Its parameters and input digests.
            keep_outputs: Keep the outputs of an earlier, unfinished attempt with the same inputs
                (a fine-tuning job id, so a resumed run follows that job instead of paying for another).
        """
        previous = self.steps.get(name)
        digest = digest_value(dict(inputs))
        outputs: dict[str, Any] = {}
        if keep_outputs and previous is not None and previous.digest == digest:
            outputs = dict(previous.outputs)
        record = StepRecord(name=name, status="running", inputs=dict(inputs), digest=digest, outputs=outputs)
        self.steps[name] = record
        self.save()
        return record

    def note(self, name: str, **outputs: Any) -> None:
        """Add outputs to a running step and save (e.g. a job id, the moment it exists)."""
        self.steps[name].outputs.update(outputs)
        self.save()

    def finish(self, name: str, outputs: Mapping[str, Any], *, files: tuple[str, ...] = ()) -> StepRecord:
        """Mark the step done with ``outputs`` and the digests of ``files`` (names in the run directory)."""
        record = self.steps[name]
        record.outputs.update(outputs)
        record.outputs["files"] = {f: digest_file(self.file(f)) for f in files}
        record.status = "done"
        record.error = None
        self._close(record)
        self.save()
        return record

    def fail(self, name: str, error: BaseException | str) -> None:
        """Mark the step failed with ``error`` and save."""
        record = self.steps.get(name)
        if record is None:
            return
        record.status = "failed"
        record.error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self._close(record)
        self.save()

    def forget(self, *names: str) -> None:
        """Drop these steps' records (a restart), and save."""
        for name in names:
            self.steps.pop(name, None)
        self.save()

    @staticmethod
    def _close(record: StepRecord) -> None:
        finished = datetime.now(UTC)
        record.finished_at = finished.isoformat(timespec="milliseconds")
        try:
            started = datetime.fromisoformat(record.started_at)
        except ValueError:
            return
        record.seconds = round((finished - started).total_seconds(), 1)
