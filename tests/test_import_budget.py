"""What `from extractkit import LocationExtractor` loads: the class, not the machinery behind a call.

openai, tenacity and importlib.metadata (entry points) load on first use; the
time it takes is measured by bench/import_time.py, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys

LAZY = ("openai", "httpx", "tenacity", "importlib.metadata", "jsonschema", "tiktoken", "pydantic")


def modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_importing_the_extractor_loads_none_of_the_call_machinery() -> None:
    loaded = modules_after("from extractkit import LocationExtractor")
    assert [m for m in LAZY if m in loaded] == []
    # Nor the modules only a call needs.
    assert "extractkit.messages" not in loaded and "extractkit.retries" not in loaded


def test_first_use_loads_what_a_call_needs_and_answers() -> None:
    code = (
        "from extractkit import LocationExtractor\n"
        "from extractkit.testing import FakeBackend\n"
        'fake = FakeBackend(lambda r: \'{"locations": [{"city": "Paris", "country": "France"}]}\')\n'
        "value = LocationExtractor(backend=fake).extract_sync('flats in Paris')\n"
        "assert value.locations[0].city == 'Paris', value\n"
    )
    loaded = modules_after(code)
    assert "pydantic" in loaded and "extractkit.extractors.location_types" in loaded
    assert "tenacity" not in loaded  # only a failed request loads the retry machinery


def test_lazy_names_resolve_to_the_same_objects() -> None:
    from extractkit import Location, LocationExtractor, Locations
    from extractkit.extractor import CallContext
    from extractkit.extractors import location
    from extractkit.results import CallContext as Defined

    assert LocationExtractor.output_type is Locations is location.Locations
    assert location.Location is Location
    assert CallContext is Defined
    assert LocationExtractor.examples[0].output.locations[0].city == "New York"
