"""A store of recorded location queries, as production traffic through a strong teacher would leave it.

The queries and their true answers come from the seed experiment's generator
(``bench/seed_experiment.py``: job-search queries over a city → country table).
Each one is recorded as an exchange of ``LocationExtractor`` answered by the
teacher model with the full prompt: the exact messages extractkit would send,
token counts counted offline, cost priced from them. The recordings are
synthetic in three ways, on purpose and said here:

- the teacher's answer is the true one, except for ``--teacher-errors`` of the
  queries, where it makes a plausible mistake (a country left out, a second
  city dropped);
- ``--reviewed`` of the rows were reviewed: included for training, and
  corrected where the teacher was wrong; the rest are unreviewed;
- no latency was measured: ``latency_s`` is 0 (a replayed teacher's latency in
  a report means nothing).

Run::

    python bench/location_store.py --store sqlite:///locations.db --count 150 --seed 7
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from seed_experiment import CITIES, make_cases

from extractkit import LocationExtractor, Usage
from extractkit.prices import cost
from extractkit.store import Exchange, open_store
from extractkit.tokens import count_request_tokens, count_tokens

TEACHER = "openai:gpt-4o-2024-08-06"


def mistake(expected: dict[str, Any]) -> dict[str, Any] | None:
    """A plausible wrong answer for ``expected``, or ``None`` when there is no mistake to make."""
    places = expected["locations"]
    if len(places) > 1:
        return {"locations": places[:1]}  # the second city dropped
    if places and places[0]["city"] and places[0]["country"]:
        return {"locations": [{"city": places[0]["city"], "country": None}]}  # the country not inferred
    return None


def record(url: str, count: int, seed: int, teacher_errors: float, reviewed: float) -> dict[str, int]:
    """Write ``count`` recorded queries into the store at ``url``; return what was written."""
    rng = random.Random(seed)
    teacher = LocationExtractor(model=TEACHER, store=False)
    cases = make_cases(CITIES, count, seed)
    rows: list[Exchange] = []
    wrong: set[str] = set()
    for case in cases:
        output = case.expected
        if rng.random() < teacher_errors:
            found = mistake(case.expected)
            if found is not None:
                output = found
                wrong.add(case.input)
        request = teacher.build_request(case.input)
        raw = LocationExtractor.output_type.model_validate(output).model_dump_json()
        usage = Usage(count_request_tokens(request), count_tokens(raw, TEACHER))
        rows.append(
            Exchange(
                extractor="location",
                input=case.input,
                model=TEACHER,
                prompt_variant="full",
                messages=tuple(m.to_dict() for m in request.messages),
                raw_response=raw,
                output=output,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cost=cost(usage, TEACHER),
                latency_s=0.0,
            )
        )
    truth = {case.input: case.expected for case in cases}
    chosen = [row for row in rows if rng.random() < reviewed]
    corrected = [row for row in chosen if row.input in wrong]
    with open_store(url) as store:
        store.write_batch(rows)
        store.include([row.id for row in chosen])
        for row in corrected:
            store.correct(row.id, truth[row.input])
    return {
        "recorded": len(rows),
        "teacher_wrong": len(wrong),
        "reviewed": len(chosen),
        "corrected": len(corrected),
        "wrong_unreviewed": len(wrong) - len(corrected),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", required=True, help="store URL, e.g. sqlite:///locations.db")
    parser.add_argument("--count", type=int, default=150, help="queries to record (default 150)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--teacher-errors", type=float, default=0.05, help="share the teacher gets wrong")
    parser.add_argument("--reviewed", type=float, default=0.4, help="share of rows a reviewer included")
    args = parser.parse_args()
    counts = record(args.store, args.count, args.seed, args.teacher_errors, args.reviewed)
    print(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
