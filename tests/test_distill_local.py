"""``extractkit distill`` on a real local model: SmolLM2-135M fine-tuned with LoRA, served by llama.cpp.

Small on purpose (a dozen recorded queries, one epoch), so it runs in a minute or
two on two cores. The teacher's answers are replayed from the store, the base
and the fine-tuned student answer live, and the config ends up naming the
fine-tuned model, which the local backend then serves.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from distill_store import TEACHER, answer, loc
from extractkit.cli import main
from extractkit.local.models import missing_extras, resolve_local_model
from extractkit.store import Exchange, open_store

QUERIES = {
    "nurse jobs in Paris": answer(loc("Paris", "France")),
    "welder Hamburg": answer(loc("Hamburg", "Germany")),
    "remote python developer": answer(),
    "accountant anywhere in Spain": answer(loc(None, "Spain")),
    "chef jobs Rome": answer(loc("Rome", "Italy")),
    "data analyst in Chicago": answer(loc("Chicago", "United States")),
    "teacher Madrid": answer(loc("Madrid", "Spain")),
    "electrician jobs Berlin": answer(loc("Berlin", "Germany")),
    "barista Milan full time": answer(loc("Milan", "Italy")),
    "sales manager London": answer(loc("London", "United Kingdom")),
    "driver jobs Lyon": answer(loc("Lyon", "France")),
    "plumber Toronto": answer(loc("Toronto", "Canada")),
}


def _need_extra() -> None:
    missing = missing_extras(serve=True, train=True)
    if missing:
        reason = f"the local extra is not installed ({', '.join(missing)}): bash scripts/install-local.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must install the local extra: {reason}")
        pytest.skip(reason)


@pytest.mark.realmodel
def test_distill_to_a_local_model_switches_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _need_extra()
    monkeypatch.setenv("EXTRACTKIT_LOCAL_MODELS", str(tmp_path / "models"))
    url = f"sqlite:///{tmp_path / 'exchanges.db'}"
    with open_store(url) as store:
        rows = [Exchange(extractor="location", input=t, model=TEACHER, output=a) for t, a in QUERIES.items()]
        store.write_batch(rows)
        store.include([row.id for row in rows[:4]])  # a few reviewed; the others answered by the teacher
    config = Path("extractkit.toml")
    config.write_text('[extractors.location]\nmodel = "openai:gpt-4o"\n', encoding="utf-8")
    argv = [
        *("distill", "location", "--teacher", TEACHER, "--student", "smollm2-135m", "--provider", "local"),
        *("--store", url, "--teacher-eval", "replay", "--eval-fraction", "0.25", "--epochs", "1"),
        *("--base-prompt", "minimal", "--min-accuracy", "0", "-y", "--json"),
    ]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out)
    assert summary["status"] == "passed"
    assert summary["estimate"]["total"] == 0 and summary["estimate"]["to_label"] == 0  # nothing billed

    # A real adapter was trained, on the training part only, and the config now selects it.
    model = summary["model"]
    assert model.startswith("local:ft-smollm2-135m-")
    trained = resolve_local_model(model.split(":", 1)[1], models_dir=tmp_path / "models")
    assert trained.adapter_path is not None and trained.adapter_path.stat().st_size > 0
    assert trained.metadata is not None and trained.metadata["steps"] == 3  # 9 examples / batch 4, 1 epoch
    assert tomllib.loads(config.read_text())["extractors"]["location"]["model"] == model

    # Both students answered every held-out case live (rightly or not: a 135M model after three steps
    # may still answer badly, never a failure to reach it); the teacher's answers were replayed.
    evaluation = summary["steps"]["evaluate"]["outputs"]
    assert evaluation["cases"] == 3
    model_failures = {"InvalidOutputError", "UnparseableOutputError", "TruncatedOutputError", "RefusalError"}
    for name in ("base", "finetuned"):
        metrics = evaluation["metrics"][name]
        assert metrics["n"] == 3 and metrics["valid"]["hits"] + sum(metrics["errors"].values()) == 3
        assert set(metrics["errors"]) <= model_failures, metrics["errors"]
        assert metrics["prompt_tokens_per_call"] > 0
        if metrics["valid"]["hits"]:
            assert metrics["latency_p50_s"] > 0
    assert evaluation["metrics"]["teacher"]["accuracy"]["hits"] == 3  # its own answers are the labels
    variants = {c["name"]: (c["prompt_variant"], c["output_mode"]) for c in evaluation["candidates"]}
    assert variants["finetuned"] == ("minimal", "json_schema") and variants["base"][0] == "minimal"
    assert variants["teacher"] == (None, "replay")
    assert "local_training_error" not in err and "[9/9] report:" in err

    # Run again: every step is done, nothing trains or answers again.
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["model"] == model
    assert "finetune: done earlier" in err and "evaluate: done earlier" in err
    assert len(list((tmp_path / "models").glob("ft-*"))) == 1
