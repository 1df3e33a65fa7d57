"""``LocationExtractor``: the locations mentioned in a search query.

>>> LocationExtractor().extract_sync("graphic designer in New York")  # doctest: +SKIP
Locations(locations=[Location(city='New York', country='United States')])

With no ``OPENAI_API_KEY`` and no model configured it runs offline on the
embedded local model (:mod:`extractkit.local.embedded`), whose answers are
checked against a gazetteer (:mod:`extractkit.local.places`): a city must be
in the query, and a known city's country comes from the query or the
gazetteer, never from the small model's guess alone.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from extractkit.extractor import Extractor
from extractkit.local.embedded import EMBEDDED_MODEL, EMBEDDED_REF

if TYPE_CHECKING:
    from extractkit.extractors.location_types import Location, Locations
    from extractkit.local.places import Candidates
    from extractkit.messages import ChatRequest, ResponseFormat
    from extractkit.prompts import Example
    from extractkit.results import CallContext

__all__ = ["NO_KNOWN_PLACE", "Location", "LocationExtractor", "Locations"]

NO_KNOWN_PLACE = "gazetteer_found_no_place"
"""The repair action on an embedded-model answer whose query names no place the gazetteer knows.

The schema then allows only an empty list, so ``locations=[]`` may hide a town the gazetteer
lacks (it lists places of 15,000 people or more); the action says the emptiness is that limit.
"""


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
    """Finds the cities and countries in a short text such as a job search query.

    Args:
        check_places: Check answers against the shipped gazetteer (a city must be in the
            query; a known city's country comes from the query or the gazetteer). Default:
            on for the embedded model, off for others. Changes are listed in
            ``Extraction.repairs``; a city that is not in the query fails validation.
        **kwargs: As for :class:`~extractkit.Extractor`.
    """

    output_type = _LazyOutputType()

    name = "location"
    embedded_model = EMBEDDED_REF
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

    def __init__(self, model: str | None = None, *, check_places: bool | None = None, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.check_places = check_places

    def shape_request(self, ctx: CallContext, request: ChatRequest) -> ChatRequest:
        """As the base class; for the embedded model, the schema also lists the places the query names.

        The embedded model's locations may only be places the gazetteer finds in the query
        (:meth:`~extractkit.local.places.Gazetteer.candidates`): one of its cities, or no city
        and a country it names. The model chooses among places written there instead of
        spelling one; with none, the list must be empty. The grammar llama.cpp derives from
        this schema enforces it; validation still uses the output type's own schema.
        """
        request = super().shape_request(ctx, request)
        checked = self.check_places if self.check_places is not None else request.model == EMBEDDED_MODEL
        ctx.state["check_places"] = checked
        fmt = request.response_format
        if request.model == EMBEDDED_MODEL and fmt is not None and fmt.schema is not None:
            from extractkit.local.places import gazetteer

            found = gazetteer().candidates(ctx.text)
            # An empty list is then the only answer the schema allows: say so on the result, so
            # a place the gazetteer lacks reads as a known limit, not as the model's finding.
            ctx.state["no_known_place"] = not (found.cities or found.named)
            return replace(request, response_format=_with_candidates(fmt, found))
        return request

    def parse(self, raw: str, ctx: CallContext) -> tuple[Any, tuple[str, ...]]:
        """As the base class, then the gazetteer check when it is on (its changes join the repairs)."""
        value, actions = super().parse(raw, ctx)
        if ctx.state.get("no_known_place"):
            actions = (*actions, NO_KNOWN_PLACE)
        if not ctx.state.get("check_places") or not isinstance(value, dict):
            return value, actions
        items = value.get("locations")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return value, actions  # not the schema's shape: validation says what is wrong
        from extractkit.local.places import PlaceProblem, gazetteer

        try:
            checked, notes = gazetteer().check(items, ctx.text)
        except PlaceProblem as exc:
            from extractkit.output import ValidationFailure

            raise ValidationFailure([f"{exc}; answer only with places written in the query"]) from None
        return {**value, "locations": checked}, (*actions, *notes)


def _with_candidates(fmt: ResponseFormat, found: Candidates) -> ResponseFormat:
    """The response format whose locations can only be the places ``found`` in the query.

    A location is either one of the query's cities (with one of the candidate countries,
    or null) or no city and a country the query itself names: a country is never left
    standing for a city the model dropped ("Rome" is not answered as just Italy).
    """
    schema = copy.deepcopy(dict(fmt.schema or {}))
    locations = schema.get("properties", {}).get("locations", {})
    item = locations.get("items", {})
    ref = item.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        item = schema.get("$defs", {}).get(ref.rsplit("/", 1)[-1], {})
    if set(item.get("properties", {})) != {"city", "country"}:
        return fmt  # not the shape this knows how to narrow
    nullable = {"anyOf": [{"enum": list(found.countries)}, {"type": "null"}]} if found.countries else None
    kinds: list[dict[str, Any]] = []
    if found.cities:
        kinds.append(_place({"enum": list(found.cities)}, nullable or {"type": "null"}))
    if found.named:
        kinds.append(_place({"type": "null"}, {"enum": list(found.named)}))
    if not kinds:
        locations["maxItems"] = 0  # the query names no place the gazetteer knows
        kinds.append(_place({"type": "null"}, {"type": "null"}))
    locations["items"] = kinds[0] if len(kinds) == 1 else {"anyOf": kinds}
    return replace(fmt, schema=schema)


def _place(city: dict[str, Any], country: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"city": city, "country": country},
        "required": ["city", "country"],
        "additionalProperties": False,
    }
