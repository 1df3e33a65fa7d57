"""``LocationExtractor``: the locations mentioned in a search query.

>>> LocationExtractor().extract_sync("graphic designer in New York")  # doctest: +SKIP
Locations(locations=[Location(city='New York', country='United States')])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from extractkit.extractor import Extractor

if TYPE_CHECKING:
    from extractkit.extractors.location_types import Location, Locations
    from extractkit.prompts import Example

__all__ = ["Location", "LocationExtractor", "Locations"]


def __getattr__(name: str) -> Any:
    # Location and Locations live in location_types (pydantic loads with them).
    if name in ("Location", "Locations"):
        from extractkit.extractors import location_types

        return getattr(location_types, name)
    raise AttributeError(f"module 'extractkit.extractors.location' has no attribute {name!r}")


class _LazyOutputType:
    """``Locations``, imported on first read (the first extraction)."""

    def __init__(self) -> None:
        self._value: type[Locations] | None = None

    def __get__(self, instance: Any, owner: Any = None) -> type[Locations]:
        if self._value is None:
            from extractkit.extractors.location_types import Locations

            self._value = Locations
        return self._value


class _LazyExamples:
    """The examples, built on first read: validating them at import would build the models."""

    def __init__(self) -> None:
        self._value: tuple[Example, ...] | None = None

    def __get__(self, instance: Any, owner: Any = None) -> Sequence[Example]:
        if self._value is None:
            self._value = self._build()
        return self._value

    @staticmethod
    def _build() -> tuple[Example, ...]:
        from extractkit.extractors.location_types import Locations
        from extractkit.prompts import Example

        return (
            Example(
                "graphic designer in New York",
                Locations.model_validate({"locations": [{"city": "New York", "country": "United States"}]}),
            ),
            Example(
                "nurse jobs Lyon or Berlin",
                Locations.model_validate(
                    {
                        "locations": [
                            {"city": "Lyon", "country": "France"},
                            {"city": "Berlin", "country": "Germany"},
                        ]
                    }
                ),
            ),
            Example("remote python developer", Locations()),
            Example(
                "accountant anywhere in Spain",
                Locations.model_validate({"locations": [{"city": None, "country": "Spain"}]}),
            ),
        )


class LocationExtractor(Extractor["Locations"]):
    """Finds the cities and countries in a short text such as a job search query."""

    output_type = _LazyOutputType()

    name = "location"
    instructions = "Extract the locations (city, country) from the search query as JSON."
    teacher_instructions = """\
You extract locations from job-search queries typed by users.

Rules:
- Return every location mentioned, in the order mentioned. Several locations are separate items.
- "city" is the city name in its usual English form ("Munich", not "München"). Use null when the
  query names no city (for example only a country or a region).
- "country" is the country's usual English short name ("United States", "United Kingdom",
  "Germany"). Fill it in when the query names it, or when the city makes it clear (New York ->
  United States, Paris -> France). Use null when it is neither named nor inferable.
- Regions, states and continents are not cities: "California" gives city null, country
  "United States".
- Words that only look like places ("remote", "hybrid", "Java", "Jordan" as a surname) are not
  locations. When there is no location at all, return an empty list.
- Do not invent locations and do not translate the rest of the query."""
    examples = _LazyExamples()  # a descriptor: reads as the tuple, built on first read
