"""The output types of :class:`~extractkit.extractors.location.LocationExtractor`.

In their own module so that importing the extractor does not define pydantic models
(``from pydantic import BaseModel`` and building a model cost more than the rest of
``from extractkit import LocationExtractor``); they load with the first extraction or
the first ``from extractkit import Locations``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Location", "Locations"]

# defer_build: pydantic builds a model's validator (and loads its plugins through
# importlib.metadata) when the class is defined unless told to wait for first use.


class Location(BaseModel):
    """One place: a city, a country, or both."""

    model_config = ConfigDict(defer_build=True)

    city: str | None = Field(
        default=None, description="The city, in English; null when the text names no city."
    )
    country: str | None = Field(
        default=None,
        description="The country, in English; null when it is neither named nor inferable from the city.",
    )


class Locations(BaseModel):
    """Every location in the input, in order of mention (empty when there is none)."""

    model_config = ConfigDict(defer_build=True)

    locations: list[Location] = Field(default_factory=list)
