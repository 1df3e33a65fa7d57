"""Distill a teacher into a fine-tuned student from recorded traffic, in one call, gated.

Run:  python docs/examples/distill.py

It runs offline: extractkit's local test server plays OpenAI (the chat models,
the files and the fine-tuning jobs; a job moves on one step per poll). The
teacher, gpt-4o, is always right here; the base student is not; the
fine-tuned student learned. Against OpenAI, leave out the server and the
base_url: the key comes from $OPENAI_API_KEY, and the job takes minutes to hours.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from extractkit import LocationExtractor, Settings
from extractkit.distill import DistillOptions, distill_sync
from extractkit.store import Exchange, open_store
from extractkit.testing.openai_jobs import add_openai_jobs
from extractkit.testing.server import RecordedRequest, Reply, ScriptedChatServer

CITIES = {
    "Lyon": "France", "Berlin": "Germany", "Madrid": "Spain", "Rome": "Italy", "Vienna": "Austria",
    "Dublin": "Ireland", "Oslo": "Norway", "Warsaw": "Poland", "Tokyo": "Japan", "Toronto": "Canada",
    "Lisbon": "Portugal", "Prague": "Czech Republic", "Chicago": "United States", "Seoul": "South Korea",
}  # fmt: skip
JOBS = ("nurse in", "welder", "chef jobs")
TRUTH = {
    f"{JOBS[i % 3]} {city}": {"locations": [{"city": city, "country": country}]}
    for i, (city, country) in enumerate(CITIES.items())
}


def model(request: RecordedRequest) -> Reply:
    """gpt-4o (the teacher) and the fine-tuned student answer right; the base student finds nothing."""
    right = request.body["model"] == "gpt-4o" or request.body["model"].startswith("ft:")
    return Reply.json(TRUTH[request.last_user_text] if right else {"locations": []})


def record_traffic(url: str) -> None:
    """What production left in the store: answers from two models; a reviewer included a few rows."""
    rows = [
        Exchange(extractor="location", input=text, model="openai:gpt-4o" if i % 2 else "openai:gpt-4o-mini",
                 output=answer)
        for i, (text, answer) in enumerate(TRUTH.items())
    ]  # fmt: skip
    with open_store(url) as store:
        store.write_batch(rows)
        store.include([row.id for row in rows[:4]])


def main(folder: Path) -> None:
    url = f"sqlite:///{folder / 'exchanges.db'}"
    record_traffic(url)
    with ScriptedChatServer(model, models=("gpt-4o",)) as server:
        add_openai_jobs(server)
        config = folder / "extractkit.toml"
        config.write_text(
            f'[backends.openai]\nbase_url = "{server.base_url}"\n\n'
            '[extractors.location]\nmodel = "openai:gpt-4o"\n'
        )
        result = distill_sync(
            LocationExtractor,
            DistillOptions(
                teacher="openai:gpt-4o",
                student="gpt-4o-mini-2024-07-18",
                store=url,
                settings=Settings.load(config),
                config=config,
                run_dir=folder / "run",
                poll_interval=0,
            ),
            confirm=lambda question: True,  # after the estimate is shown; the CLI asks, or takes -y
            progress=sys.stdout,
        )
    print(f"\n{result.decision.summary() if result.decision else result.status}")
    print(f"--- {config.name} now reads:\n{config.read_text()}")
    print(f"report: {result.report}")
    assert result.status == "passed"


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(Path(tmp))
