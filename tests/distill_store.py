"""A small store of recorded location queries for the distill tests, with the truth for each.

The rows cover every way a record can stand: included by a reviewer (some of
them corrected), corrected without being included, excluded, answered by the
teacher when recorded, answered by another model (right or wrong), and failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractkit.store import Exchange, open_store

TEACHER = "openai:gpt-4o"
OTHER = "openai:gpt-4o-mini"


def loc(city: str | None, country: str | None) -> dict[str, Any]:
    return {"city": city, "country": country}


def answer(*places: dict[str, Any]) -> dict[str, Any]:
    return {"locations": list(places)}


TRUTH: dict[str, dict[str, Any]] = {
    # included by a reviewer (the first two recorded wrong, then corrected)
    "nurse jobs in Lyon": answer(loc("Lyon", "France")),
    "welder Hamburg": answer(loc("Hamburg", "Germany")),
    "remote python developer": answer(),
    "accountant anywhere in Spain": answer(loc(None, "Spain")),
    "chef jobs Barcelona or Madrid": answer(loc("Barcelona", "Spain"), loc("Madrid", "Spain")),
    "data analyst in Seattle": answer(loc("Seattle", "United States")),
    # corrected, not included
    "barista Milan full time": answer(loc("Milan", "Italy")),
    # answered by the teacher when recorded
    "teacher in Melbourne": answer(loc("Melbourne", "Australia")),
    "electrician Dublin": answer(loc("Dublin", "Ireland")),
    "sales manager Warsaw": answer(loc("Warsaw", "Poland")),
    "graphic designer in New York": answer(loc("New York", "United States")),
    "hybrid marketing role": answer(),
    "driver jobs Oslo": answer(loc("Oslo", "Norway")),
    # answered by another model (to be labelled by the teacher)
    "nurse Toronto night shifts": answer(loc("Toronto", "Canada")),
    "java developer Berlin": answer(loc("Berlin", "Germany")),
    "cook in Vienna": answer(loc("Vienna", "Austria")),
    "plumber Chicago": answer(loc("Chicago", "United States")),
    "receptionist Tokyo": answer(loc("Tokyo", "Japan")),
    "logistics coordinator Rotterdam": answer(loc("Rotterdam", "Netherlands")),
    "architect Lisbon": answer(loc("Lisbon", "Portugal")),
    "pharmacist anywhere in Canada": answer(loc(None, "Canada")),
    # failed when recorded
    "bartender Prague weekends": answer(loc("Prague", "Czech Republic")),
}
EXCLUDED = "asdf qwerty zzz"

INCLUDED = list(TRUTH)[:6]
CORRECTED_ON_INCLUDED = INCLUDED[:2]
CORRECTED_ONLY = list(TRUTH)[6:7]
BY_TEACHER = list(TRUTH)[7:13]
BY_OTHER = list(TRUTH)[13:21]
FAILED = list(TRUTH)[21:]
TO_LABEL = BY_OTHER + FAILED
WRONG = answer(loc("London", "United Kingdom"))


@dataclass
class StoreInfo:
    url: str
    path: Path
    record_ids: dict[str, str] = field(default_factory=dict)


def make_store(folder: Path, *, extra: dict[str, dict[str, Any]] | None = None) -> StoreInfo:
    """Write the rows described above (plus ``extra`` included rows) into a fresh SQLite store."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "exchanges.db"
    info = StoreInfo(f"sqlite:///{path}", path)
    rows: list[Exchange] = []
    for text, truth in TRUTH.items():
        if text in BY_TEACHER:
            rows.append(
                Exchange(extractor="location", input=text, model=TEACHER, prompt_variant="full", output=truth)
            )
        elif text in FAILED:
            rows.append(
                Exchange(
                    extractor="location", input=text, model=OTHER, error="InvalidOutputError: no valid answer"
                )
            )
        else:
            wrong = text in CORRECTED_ON_INCLUDED or text in CORRECTED_ONLY or text in BY_OTHER[:3]
            rows.append(
                Exchange(extractor="location", input=text, model=OTHER, output=WRONG if wrong else truth)
            )
    rows.append(Exchange(extractor="location", input=EXCLUDED, model=OTHER, output=WRONG))
    for text, output in (extra or {}).items():
        rows.append(Exchange(extractor="location", input=text, model=OTHER, output=output))
    with open_store(info.url) as store:
        store.write_batch(rows)
        for row in rows:
            info.record_ids[row.input] = row.id
        ids = info.record_ids
        store.include([ids[t] for t in INCLUDED] + [ids[t] for t in extra or {}])
        for text in CORRECTED_ON_INCLUDED + CORRECTED_ONLY:
            store.correct(ids[text], TRUTH[text])
        store.exclude([ids[EXCLUDED]])
    return info
