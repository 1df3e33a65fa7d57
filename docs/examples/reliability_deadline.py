"""One broken answer fails only its own input, and a deadline bounds one call."""

from __future__ import annotations

import json
import time

from extractkit import BackendTimeoutError, LocationExtractor, MalformedResponseError, Settings
from extractkit.testing.faults import Fault, FaultServer, completion, with_field


def settings_for(srv: FaultServer, **backend: float) -> Settings:
    return Settings.from_mapping({"backends": {"openai": {"base_url": srv.base_url, **backend}}})


# extract_many: the second answer is malformed (content is a number); the others come back.
good = completion(json.dumps({"locations": [{"city": "Paris", "country": "France"}]}))
script = [Fault.json(good), Fault.json(with_field(good, "choices.0.message.content", 42)), Fault.json(good)]
with FaultServer(script) as srv:
    results = LocationExtractor(settings=settings_for(srv)).extract_many_sync(["a", "b", "c"], concurrency=1)
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, MalformedResponseError)
    print(results[1].error.field)  # choices[0].message.content

# A server that reads the request and never answers: each try ends at the 0.5 s
# timeout, and the whole call at its 1.5 s deadline, transport retries included.
with FaultServer([Fault.never()] * 10) as srv:
    started = time.monotonic()
    try:
        LocationExtractor(settings=settings_for(srv, timeout=0.5), deadline=1.5).extract_sync(
            "a nurse in Paris"
        )
    except BackendTimeoutError as exc:
        assert exc.bound == "deadline" and exc.seconds == 1.5
        print(f"gave up after {time.monotonic() - started:.1f} s and {len(srv.requests)} requests")
