"""A small offline gazetteer, and the check it makes of the embedded model's locations.

A 135M-parameter model finds the places in a query well but knows little
about which country a city is in. So the embedded default splits the work:
the model finds and names the places, and this gazetteer (GeoNames cities of
15,000 people or more, countries, US states; built by
:mod:`extractkit.local.build_default` and shipped as package data) checks
every answer before it is returned:

- A city must be in the query: under its name, one of its other names
  (``NYC``, ``München``) or a near spelling (``Barcelna``); a city that is not
  there is a made-up answer and fails validation (the loop re-asks).
- A known city's name is written the gazetteer's way (``munich`` → ``Munich``).
- A known city's country: when the query names a country, that one stands.
  Otherwise, when one country clearly dominates the places of that name
  (``Paris`` → France), the gazetteer's country is used; when several compete
  (``Valencia``: Spain and Venezuela) the model's choice stands if it is one
  of them, else the country is left null. A city the gazetteer does not know
  keeps a country only when the query names it.

Every change is reported as a repair action (``Extraction.repairs``), so
nothing is rewritten silently.
"""

from __future__ import annotations

import difflib
import gzip
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "DOMINANCE",
    "City",
    "Gazetteer",
    "PlaceProblem",
    "fold",
    "gazetteer",
    "load_place_file",
    "strip_accents",
]

DATA_FILE = "places.json.gz"
DOMINANCE = 3.0
"""A country's biggest place of a name must be this many times the next country's to be inferred."""

_NON_WORD = re.compile(r"[^0-9a-z]+")


def strip_accents(text: str) -> str:
    """``São Paulo`` → ``Sao Paulo``: the text with its accents removed, nothing else changed."""
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def fold(text: str) -> str:
    """Lower case, accents removed, punctuation as single spaces: how names are compared."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("ı", "i"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return _NON_WORD.sub(" ", plain).strip()


@dataclass(frozen=True, slots=True)
class City:
    """One place of the gazetteer."""

    name: str
    country: str
    population: int
    aliases: tuple[str, ...] = ()
    state: str | None = None
    """The US state code, for US cities."""


class PlaceProblem(ValueError):
    """An answer the gazetteer shows to be wrong (a city not in the query)."""


class Gazetteer:
    """Countries, regions and cities, indexed by folded name.

    Args:
        data: The parsed data file (see :mod:`extractkit.local.build_default`).
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self.source = str(data.get("source", ""))
        self.countries: dict[str, str] = {}  # code -> name
        self._country_by_fold: dict[str, str] = {}  # folded name or alias -> name
        for code, name, aliases in data["countries"]:
            self.countries[code] = name
            for alias in (name, *aliases):
                self._country_by_fold.setdefault(fold(alias), name)
        self.regions: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._region_by_fold: dict[str, str] = {}
        for name, code, aliases in data["regions"]:
            self.regions[name] = (self.countries[code], tuple(aliases))
            for alias in (name, *aliases):
                self._region_by_fold.setdefault(fold(alias), name)
        self._state_codes = frozenset(code.lower() for code in data.get("us_states", {}))
        self.cities: list[City] = []
        self._by_name: dict[str, list[int]] = {}
        self._by_alias: dict[str, list[int]] = {}
        self.state_names: dict[str, str] = dict(data.get("us_states", {}))  # code -> name
        for name, code, population, aliases, *state in data["cities"]:
            index = len(self.cities)
            self.cities.append(
                City(name, self.countries[code], int(population), tuple(aliases), state[0] if state else None)
            )
            self._by_name.setdefault(fold(name), []).append(index)
            for alias in aliases:
                self._by_alias.setdefault(fold(alias), []).append(index)

    # ----------------------------------------------------------------- lookups

    def country(self, name: str) -> str | None:
        """The country's usual English name for a name or alias (``USA`` → ``United States``)."""
        return self._country_by_fold.get(fold(name))

    def region(self, name: str) -> str | None:
        """The region's name for a name or alias (``CA`` is not one: only full names and a few forms)."""
        return self._region_by_fold.get(fold(name))

    def cities_named(self, name: str) -> list[City]:
        """Cities with this name, else with this other name; most populous first."""
        key = fold(name)
        found = self._by_name.get(key) or self._by_alias.get(key) or []
        return sorted((self.cities[i] for i in found), key=lambda c: -c.population)

    def state_of(self, city: City) -> tuple[str, str] | None:
        """A US city's state, as (code, name); None elsewhere (or for a state left out of the data)."""
        if city.state is None or city.state not in self.state_names:
            return None
        return city.state, self.state_names[city.state]

    def dominant_country(self, cities: Sequence[City]) -> str | None:
        """The country a bare mention of these same-named cities means, or None when it is unclear."""
        best: dict[str, int] = {}
        for city in cities:
            best[city.country] = max(best.get(city.country, 0), city.population)
        ranked = sorted(best.items(), key=lambda kv: -kv[1])
        if not ranked:
            return None
        if len(ranked) == 1 or ranked[0][1] >= DOMINANCE * ranked[1][1]:
            return ranked[0][0]
        return None

    def _country_or_region(self, key: str) -> str | None:
        country = self._country_by_fold.get(key)
        if country is not None:
            return country
        region = self._region_by_fold.get(key)
        return self.regions[region][0] if region is not None else None

    def country_after(self, names: Iterable[str], text: str) -> str | None:
        """The country a query names right after a place (``Cambridge, UK``, ``Austin, TX``), if any.

        Only the words just after the place count: in "flights from Paris to Germany"
        Germany is a second place, not the country of Paris.
        """
        words = fold(text).split()
        plain = strip_accents(text).lower()
        for name in names:
            key = fold(name).split()
            if not key:
                continue
            for start in range(len(words) - len(key) + 1):
                if words[start : start + len(key)] != key:
                    continue
                after = words[start + len(key) :]
                for size in range(min(5, len(after)), 0, -1):
                    found = self._country_or_region(" ".join(after[:size]))
                    if found is not None:
                        return found
            # "Austin, TX": a US state code counts only after a comma (bare "IN", "OR", "ME" are words).
            pattern = rf"(?<![a-z0-9]){re.escape(strip_accents(name).lower())}\s*,\s*([a-z]{{2}})\b"
            for match in re.finditer(pattern, plain):
                if match.group(1) in self._state_codes:
                    return self.countries["US"]
        return None

    # ----------------------------------------------------------------- grounding

    def places_in(self, text: str) -> bool:
        """True when some words of the text are a known city, country or region (by any name)."""
        words = fold(text).split()
        for size in range(1, 5):
            for start in range(len(words) - size + 1):
                gram = " ".join(words[start : start + size])
                if gram in self._by_name or gram in self._by_alias or self._country_or_region(gram):
                    return True
        return False

    def mentioned(self, names: Iterable[str], text: str) -> bool:
        """True when one of ``names`` is in ``text`` as whole words, or nearly (one slip in 5+ letters)."""
        haystack = f" {fold(text)} "
        words = haystack.split()
        for name in names:
            key = fold(name)
            if not key:
                continue
            if f" {key} " in haystack:
                return True
            size = key.count(" ") + 1
            if len(key) < 5:
                continue
            for start in range(len(words) - size + 1):
                gram = " ".join(words[start : start + size])
                if difflib.SequenceMatcher(None, key, gram).ratio() >= 0.8:
                    return True
        return False

    # ----------------------------------------------------------------- the check

    def check(self, locations: Sequence[dict[str, Any]], text: str) -> tuple[list[dict[str, Any]], list[str]]:
        """Check the model's locations against the query; return them corrected, with what changed.

        Args:
            locations: ``[{"city": ..., "country": ...}, ...]`` as the model answered.
            text: The query.

        Raises:
            PlaceProblem: A city is not in the query (a made-up answer), or a country is not one.
        """
        out: list[dict[str, Any]] = []
        actions: list[str] = []
        for item in locations:
            city, country = item.get("city"), item.get("country")
            if country is not None:
                canonical = self._country_or_region(fold(country))
                if canonical is None:
                    raise PlaceProblem(f"{country!r} is not a country")
                if canonical != country:
                    actions.append(f"country {country!r} written as {canonical!r}")
                country = canonical
            if city is None:
                if country is None:
                    actions.append("dropped a location with neither city nor country")
                    continue
                out.append({"city": None, "country": country})
                continue
            key = fold(city)
            if key not in self._by_name and self._country_or_region(key) and self.mentioned([city], text):
                # "Uganda" or "New Mexico" answered as a city: the query names a country or region.
                place = self._country_or_region(key)
                actions.append(f"{city!r} is not a city: answered as the country {place!r}")
                out.append({"city": None, "country": place})
                continue
            matches = self.cities_named(city)
            if not self.mentioned([city, *(n for c in matches for n in (c.name, *c.aliases))], text):
                if not self.places_in(text):
                    # Nothing in the query is a place the gazetteer knows: the city is made up.
                    actions.append(f"dropped {city!r}: it is not in the query, which names no known place")
                    continue
                raise PlaceProblem(f"the city {city!r} is not in the query")
            if matches:
                city, country = self._check_known(city, country, matches, text, actions)
            else:
                named = self.country_after([city], text)
                if named is not None and named != country:
                    actions.append(f"country of {city!r} set to {named!r}, named in the query")
                elif named is None and country is not None:
                    actions.append(f"country of {city!r} left null: {city!r} is not in the gazetteer")
                country = named
            out.append({"city": city, "country": country})
        return out, actions

    def _check_known(
        self, city: str, country: str | None, matches: list[City], text: str, actions: list[str]
    ) -> tuple[str, str | None]:
        in_text = [c for c in matches if self.mentioned((c.name, *c.aliases, city), text)]
        if not in_text:
            raise PlaceProblem(f"the city {city!r} is not in the query")
        names = {city, *(n for c in in_text for n in (c.name, *c.aliases))}
        named = self.country_after(names, text)
        there = [c for c in in_text if c.country == named]
        if there:
            # "Cambridge, UK": the query says which one. (In "Saigon Ecuador" Ecuador is another place.)
            if country != named:
                actions.append(f"country of {city!r} set to {named!r}, named in the query")
            return self._renamed(city, there[0].name, actions), named
        dominant = self.dominant_country(in_text)
        if dominant is not None:
            pick = next(c for c in in_text if c.country == dominant)
            if country != dominant:
                was = "null" if country is None else repr(country)
                actions.append(f"country of {pick.name!r} set to {dominant!r} from the gazetteer (was {was})")
            return self._renamed(city, pick.name, actions), dominant
        same = [c for c in in_text if c.country == country]
        if same:
            return self._renamed(city, same[0].name, actions), country
        if country is not None:
            actions.append(f"country of {city!r} left null: places of that name are in several countries")
        return self._renamed(city, in_text[0].name, actions), None

    @staticmethod
    def _renamed(city: str, canonical: str, actions: list[str]) -> str:
        if city != canonical:
            actions.append(f"city {city!r} written as {canonical!r}")
        return canonical


def load_place_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a gazetteer data file (gzipped JSON)."""
    data = json.loads(gzip.decompress(Path(path).read_bytes()))
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ValueError(f"{os.fspath(path)!r} is not a version-1 gazetteer file")
    return data


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    """The gazetteer shipped with extractkit (loaded once, about half a second)."""
    return Gazetteer(load_place_file(str(resources.files("extractkit.local.assets").joinpath(DATA_FILE))))
