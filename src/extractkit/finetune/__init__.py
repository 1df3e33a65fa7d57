"""Fine-tuning: from a validated training file to a fine-tuned model in use.

::

    from extractkit.finetune import OpenAIFineTuningBackend, fine_tune

    result = await fine_tune(
        OpenAIFineTuningBackend(),
        "location.train.jsonl",
        model="gpt-4o-mini-2024-07-18",
        extractor="location",
        validation_file="location.valid.jsonl",
    )
    # extractkit.toml now says [extractors.location] model = "openai:ft:gpt-4o-mini-...:abc"

- :mod:`.base`: the :class:`FineTuningBackend` Protocol and the job, event and status types.
- :mod:`.openai`: OpenAI's (and Azure OpenAI's) implementation.
- :mod:`.follow`: following a job with a plain-text progress display, resumable by id.
- :mod:`.jobs`: start, follow, apply the result to the config.
- :mod:`.toml_update`: the careful ``extractkit.toml`` editor.
- :mod:`.estimate`: training tokens and cost, offline, before starting.
"""

from __future__ import annotations

from extractkit.finetune.base import (
    EXTRACTOR_METADATA_KEY,
    FineTuneJob,
    FineTuningBackend,
    Hyperparameters,
    JobEvent,
    JobSpec,
    JobStatus,
    UploadedFile,
)
from extractkit.finetune.estimate import TrainingEstimate, auto_epochs, estimate_training
from extractkit.finetune.follow import JobFollower, follow_job, format_event, format_job, resume_command
from extractkit.finetune.jobs import FineTuneResult, apply_job_result, fine_tune, resume_fine_tune, start_job
from extractkit.finetune.openai import OpenAIFineTuningBackend
from extractkit.finetune.toml_update import ConfigUpdate, config_path, update_extractor_model

__all__ = [
    "EXTRACTOR_METADATA_KEY",
    "ConfigUpdate",
    "FineTuneJob",
    "FineTuneResult",
    "FineTuningBackend",
    "Hyperparameters",
    "JobEvent",
    "JobFollower",
    "JobSpec",
    "JobStatus",
    "OpenAIFineTuningBackend",
    "TrainingEstimate",
    "UploadedFile",
    "apply_job_result",
    "auto_epochs",
    "config_path",
    "estimate_training",
    "fine_tune",
    "follow_job",
    "format_event",
    "format_job",
    "resume_command",
    "resume_fine_tune",
    "start_job",
    "update_extractor_model",
]
