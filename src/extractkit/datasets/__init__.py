"""Training sets for fine-tuning: from curated records or teacher labels, validated, split.

- :func:`build_from_store`: the records chosen for training → chat JSONL with the
  student's **minimal** prompt and the canonical compact JSON answer.
- :func:`label_inputs` + :func:`build_from_labels`: label raw inputs with a
  teacher (strong model, full prompt), resumably, then build with the student.
- :func:`validate_file`: the cookbook's format checks and more, every issue with
  its line number; token statistics, epochs and estimated training cost.
- :func:`read_inputs`: input texts from a text or JSONL file, or a stream.
- :func:`split_file` / :func:`split_dataset`: seeded train/validation splits,
  stratified by route for routers.

See ``docs/datasets.md``.
"""

from __future__ import annotations

from extractkit.datasets.build import (
    LabelledInput,
    OnInvalid,
    build_dataset,
    build_from_labels,
    build_from_store,
)
from extractkit.datasets.example import Dataset, TrainingExample, write_lines_atomic
from extractkit.datasets.guards import Guards, teacher_markers
from extractkit.datasets.inputs import INPUT_KEYS, read_inputs
from extractkit.datasets.report import DatasetReport, Issue, TokenStats
from extractkit.datasets.split import SplitResult, Stratify, split_dataset, split_file, split_indices
from extractkit.datasets.student import canonical_output, training_example
from extractkit.datasets.teacher import (
    LabelCheckpoint,
    LabelRun,
    Progress,
    TeacherLabel,
    label_inputs,
    label_inputs_sync,
)
from extractkit.datasets.validate import (
    EXAMPLE_TOKEN_LIMITS,
    recommended_epochs,
    token_limit_for,
    validate_dataset,
    validate_file,
    validate_lines,
)

__all__ = [
    "EXAMPLE_TOKEN_LIMITS",
    "INPUT_KEYS",
    "Dataset",
    "DatasetReport",
    "Guards",
    "Issue",
    "LabelCheckpoint",
    "LabelRun",
    "LabelledInput",
    "OnInvalid",
    "Progress",
    "SplitResult",
    "Stratify",
    "TeacherLabel",
    "TokenStats",
    "TrainingExample",
    "build_dataset",
    "build_from_labels",
    "build_from_store",
    "canonical_output",
    "label_inputs",
    "label_inputs_sync",
    "read_inputs",
    "recommended_epochs",
    "split_dataset",
    "split_file",
    "split_indices",
    "teacher_markers",
    "token_limit_for",
    "training_example",
    "validate_dataset",
    "validate_file",
    "validate_lines",
    "write_lines_atomic",
]
