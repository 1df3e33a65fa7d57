"""Synthetic search queries with their locations, correct by construction, for the embedded default.

There is no teacher model offline, so the training set of the embedded
location model is generated: a template (``"{role} jobs in {L}"``) is filled
with places drawn from the gazetteer (:mod:`extractkit.local.places`), and the
answer is known because the generator put the places there. Queries cover job
searches, travel, weather and everyday searches, "near me" and no place at
all, countries and regions alone, city + country, US "City, ST", several
places, lower case, abbreviations (``NYC``), local names (``München``), a
few typos and a few non-English queries.

Two disjoint halves keep the benchmark honest: ``split="train"`` and
``split="heldout"`` use different cities (one in five city *names*, by a
stable hash, is held out), different templates, different roles and
different local names, so a held-out query's city and phrasing were never
seen in training. Only a bare mention of a city whose country is clear
(:meth:`~extractkit.local.places.Gazetteer.dominant_country`) is generated;
other cities come with their country or state.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from extractkit.local.places import City, Gazetteer, fold, strip_accents

__all__ = ["LabelledQuery", "QueryGenerator", "Split"]

Split = Literal["train", "heldout"]
Place = dict[str, Any]

_JOB_TRAIN = (
    "{role} jobs in {L}", "{role} in {L}", "{role} {L}", "{L} {role}", "{role} job {L}",
    "{role} positions {L}", "hiring {role} {L}", "{role} wanted in {L}", "entry level {role} {L}",
    "senior {role} role based in {L}", "{role} remote or {L}", "{role} openings near {L}",
    "part time {role} {L}", "{role} internship {L} summer", "{role} jobs {L}", "jobs {L} {role}",
    "{role} work in {L}", "{role} vacancy {L}", "{L} jobs", "jobs in {L}", "{role} salary {L}",
    "full time {role} in {L} area", "{role} near {L}", "{role} hiring in {L} now",
)  # fmt: skip
_JOB_MULTI_TRAIN = (
    "{role} jobs {L1} or {L2}", "{role} in {L1}, {L2} or {L3}", "{role} {L1} {L2}",
    "{role} jobs in {L1} and {L2}", "{role} relocate from {L1} to {L2}", "{L1} or {L2} {role}",
)  # fmt: skip
_OTHER_TRAIN = (
    "weather in {L}", "{L} weather tomorrow", "cheap hotels in {L}", "things to do in {L}",
    "restaurants {L}", "moving to {L}", "cost of living {L}", "apartments for rent {L}",
    "best pizza in {L}", "{L} time now", "population of {L}", "events in {L} this weekend",
)  # fmt: skip
_OTHER_MULTI_TRAIN = (
    "flights from {L1} to {L2}", "train {L1} to {L2}", "{L1} to {L2} bus", "distance {L1} {L2}",
    "cheap flights {L1} {L2} {L3}",
)  # fmt: skip
_FOREIGN_TRAIN = ("trabajo en {L}", "emploi à {L}", "jobs in der nähe von {L}", "lavoro a {L}", "vagas {L}")
_NONE_TRAIN = (
    "{role} jobs near me", "{role} remote", "work from home {role}", "{role} salary",
    "how to become a {role}", "{role}", "{role} jobs", "remote {role} position", "weather tomorrow",
    "cheap flights", "restaurants near me", "{role} jobs near me hiring now", "best laptop for {role}",
)  # fmt: skip

_JOB_HELDOUT = (
    "looking for {role} work around {L}", "any {role} openings in {L}?", "{role} vacancies - {L}",
    "i want a job as {role} in {L}", "relocating to {L}, need {role} position",
    "visa sponsorship {role} {L}", "{role} gigs {L}", "{L}-based {role}", "{role} (on-site, {L})",
    "freelance {role} around {L}",
)  # fmt: skip
_JOB_MULTI_HELDOUT = (
    "{role} contract {L1} / {L2}", "{L1} vs {L2} salaries for {role}", "{role} either {L1} or {L2}",
)  # fmt: skip
_OTHER_HELDOUT = (
    "is it sunny in {L} this weekend", "best coffee in {L}", "museums {L}", "{L} nightlife",
    "rent prices in {L}",
)  # fmt: skip
_OTHER_MULTI_HELDOUT = ("how far is {L1} from {L2}", "road trip {L1} -> {L2}")
_FOREIGN_HELDOUT = ("empleo {L}", "travail {L}")
_NONE_HELDOUT = (
    "{role} near me", "{role} hiring now", "part-time {role} no experience", "{role} interview tips",
    "is {role} a good career",
)  # fmt: skip

_ROLES_TRAIN = (
    "graphic designer", "nurse", "software engineer", "python developer", "accountant", "data scientist",
    "barista", "electrician", "truck driver", "teacher", "cashier", "product manager", "chef",
    "java developer", "mobile app developer", "warehouse worker", "dentist", "lawyer", "marketing manager",
    "registered nurse", "plumber", "sales associate", "devops engineer", "ux designer", "pharmacist",
    "receptionist", "mechanic", "web developer", "frontend developer", "hr manager", "welder",
    "civil engineer", "security guard", "financial analyst", "bartender", "cleaner", "architect",
    "physiotherapist", "project manager", "customer service", "data analyst", "carpenter",
    "english teacher", "ruby developer", "machine learning engineer", "copywriter", "photographer",
    "real estate agent", "delivery driver", "babysitter", "veterinarian", "social worker",
)  # fmt: skip
_ROLES_HELDOUT = (
    "sous chef", "qa tester", "dental hygienist", "forklift operator", "backend engineer", "paralegal",
    "site reliability engineer", "hvac technician", "translator", "midwife", "bookkeeper",
    "game developer", "flight attendant", "nanny", "rust developer",
)  # fmt: skip

# Local names people type for well-known cities (the English name is the answer).
_LOCAL_TRAIN = {
    "Munich": "München", "Cologne": "Köln", "Rome": "Roma", "Milan": "Milano", "Florence": "Firenze",
    "Venice": "Venezia", "Turin": "Torino", "Prague": "Praha", "Warsaw": "Warszawa", "Moscow": "Moskva",
    "Seville": "Sevilla", "Brussels": "Bruxelles", "Antwerp": "Antwerpen", "The Hague": "Den Haag",
    "Copenhagen": "København", "Athens": "Athina", "Bucharest": "București", "Belgrade": "Beograd",
    "Hanover": "Hannover", "Zurich": "Zürich", "Montreal": "Montréal", "Frankfurt": "Frankfurt am Main",
    "Marseille": "Marseilles", "Mexico City": "Ciudad de México", "Beijing": "Peking", "Kyiv": "Kiev",
    "Bengaluru": "Bangalore", "Mumbai": "Bombay",
}  # fmt: skip
_LOCAL_HELDOUT = {
    "Vienna": "Wien", "Lisbon": "Lisboa", "Gothenburg": "Göteborg", "Nuremberg": "Nürnberg",
    "Geneva": "Genève", "Naples": "Napoli", "Genoa": "Genova", "Saint Petersburg": "Sankt-Peterburg",
    "Chennai": "Madras", "Kolkata": "Calcutta",
}  # fmt: skip
_ABBREVIATIONS = {
    "New York": ("NYC", "nyc", "New York City"), "Los Angeles": ("LA",), "San Francisco": ("SF",),
    "Washington": ("DC", "Washington DC"), "Kuala Lumpur": ("KL",), "Philadelphia": ("Philly",),
    "Las Vegas": ("Vegas",), "Ho Chi Minh City": ("Saigon",), "Saint Petersburg": ("St Petersburg",),
}  # fmt: skip
_CITY_STATES = ("Singapore", "Hong Kong", "Macao", "Monaco")


@dataclass(frozen=True, slots=True)
class LabelledQuery:
    """A query and its locations (``[{"city", "country"}, ...]``, in order of mention)."""

    text: str
    locations: list[Place]

    def output(self) -> dict[str, Any]:
        """The answer as the extractor's JSON (``{"locations": [...]}``)."""
        return {"locations": self.locations}


def held_out(name: str) -> bool:
    """Whether a city name belongs to the held-out half (one name in five, by a stable hash)."""
    return zlib.crc32(fold(name).encode("utf-8")) % 5 == 0


class QueryGenerator:
    """Draw labelled queries from one half of the templates, roles and cities.

    Args:
        gazetteer: Where places come from (and how their country is decided).
        split: ``"train"`` or ``"heldout"``.
        seed: Seeds every draw: the same seed gives the same queries.
        min_population: Cities smaller than this are not drawn.
    """

    def __init__(
        self, gazetteer: Gazetteer, *, split: Split = "train", seed: int = 0, min_population: int = 50_000
    ) -> None:
        if split not in ("train", "heldout"):
            raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
        self.gaz = gazetteer
        self.split = split
        self.discarded: list[LabelledQuery] = []
        self.rng = random.Random(f"{split}:{seed}")
        train = split == "train"
        self.job = _JOB_TRAIN if train else _JOB_HELDOUT
        self.job_multi = _JOB_MULTI_TRAIN if train else _JOB_MULTI_HELDOUT
        self.other = _OTHER_TRAIN if train else _OTHER_HELDOUT
        self.other_multi = _OTHER_MULTI_TRAIN if train else _OTHER_MULTI_HELDOUT
        self.foreign = _FOREIGN_TRAIN if train else _FOREIGN_HELDOUT
        self.none = _NONE_TRAIN if train else _NONE_HELDOUT
        self.roles = _ROLES_TRAIN if train else _ROLES_HELDOUT
        self.local_names = _LOCAL_TRAIN if train else _LOCAL_HELDOUT
        blocked = {fold(n) for n in gazetteer.countries.values()} | {fold(r) for r in gazetteer.regions}
        self.cities: list[City] = []
        self.bare_ok: set[int] = set()
        for city in gazetteer.cities:
            if city.population < min_population or fold(city.name) in blocked:
                continue
            # A held-out local name's city never appears in training, under any name.
            heldout = held_out(city.name) or city.name in _LOCAL_HELDOUT
            if heldout == train:
                continue
            if gazetteer.dominant_country(gazetteer.cities_named(city.name)) == city.country:
                self.bare_ok.add(len(self.cities))
            self.cities.append(city)
        self.weights = [c.population**0.6 for c in self.cities]
        # Half the draws come from big cities (the ones most searched for), half from all of them
        # (many names teach the model to copy any name, not to recall a few).
        self.big = [i for i, c in enumerate(self.cities) if c.population >= 500_000]
        big = sorted((c for c in gazetteer.cities if c.population >= 1_000_000), key=lambda c: -c.population)
        self.countries = sorted({c.country for c in big})
        self.us_cities = [c for c in self.cities if self.gaz.state_of(c) is not None]
        self.us_regions = [r for r, (country, _) in gazetteer.regions.items() if country == "United States"]
        self.other_regions = [
            r for r, (country, _) in gazetteer.regions.items() if country != "United States"
        ]

    # ----------------------------------------------------------------- places

    def _city(self, *, bare: bool) -> City:
        while True:
            if self.rng.random() < 0.5:
                index = self.rng.choice(self.big)
            else:
                (index,) = self.rng.choices(range(len(self.cities)), weights=self.weights)
            if not bare or index in self.bare_ok:
                return self.cities[index]

    def _city_text(self, city: City) -> str:
        r = self.rng.random()
        if city.name in self.local_names and r < 0.5:
            return self.local_names[city.name]
        if city.name in _ABBREVIATIONS and r < 0.5:
            return self.rng.choice(_ABBREVIATIONS[city.name])
        if r < 0.04 and len(city.name) >= 6 and " " not in city.name:
            return self._typo(city.name)
        plain = strip_accents(city.name)
        if r < 0.3 and plain != city.name:
            return plain  # "Sao Paulo" for "São Paulo"
        return city.name

    def _typo(self, name: str) -> str:
        i = self.rng.randrange(1, len(name) - 2)
        kind = self.rng.choice(("drop", "swap", "double"))
        if kind == "drop":
            return name[:i] + name[i + 1 :]
        if kind == "swap":
            return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        return name[:i] + name[i] + name[i:]

    def _country_text(self, country: str) -> str:
        aliases = {
            "United States": ("USA", "US", "United States of America"),
            "United Kingdom": ("UK", "Great Britain"),
            "Germany": ("Deutschland",),
            "Spain": ("España",),
            "Netherlands": ("Holland",),
            "United Arab Emirates": ("UAE",),
        }.get(country)
        return self.rng.choice(aliases) if aliases and self.rng.random() < 0.35 else country

    def place(self) -> tuple[str, Place]:
        """One location phrase and its answer."""
        r = self.rng.random()
        if r < 0.55:
            city = self._city(bare=True)
            return self._city_text(city), {"city": city.name, "country": city.country}
        if r < 0.72:
            city = self._city(bare=False)
            sep = self.rng.choice((", ", " ", ", ", " (")) if city.name not in _CITY_STATES else ", "
            country = self._country_text(city.country)
            text = f"{self._city_text(city)}{sep}{country}{')' if sep == ' (' else ''}"
            return text, {"city": city.name, "country": city.country}
        if r < 0.78:
            city = self.rng.choice(self.us_cities)
            state = self.gaz.state_of(city)
            assert state is not None
            code, name = state
            return f"{self._city_text(city)}, {code if self.rng.random() < 0.6 else name}", {
                "city": city.name,
                "country": city.country,
            }
        if r < 0.93:
            country = self.rng.choice(self.countries)
            return self._country_text(country), {"city": None, "country": country}
        regions = self.us_regions if self.rng.random() < 0.6 else self.other_regions
        region = self.rng.choice(regions)
        return region, {"city": None, "country": self.gaz.regions[region][0]}

    # ----------------------------------------------------------------- queries

    def query(self) -> LabelledQuery:
        """One labelled query."""
        r = self.rng.random()
        if r < 0.12:
            template = self.rng.choice(self.none)
            return self._finish(template.format(role=self.rng.choice(self.roles)), [])
        if r < 0.30:
            template = self.rng.choice(self.job_multi if r < 0.24 else self.other_multi)
            count = 3 if "{L3}" in template else 2
            pairs = self._distinct(count)
            fill = {f"L{i + 1}": text for i, (text, _) in enumerate(pairs)}
            text = template.format(role=self.rng.choice(self.roles), **fill)
            return self._finish(text, [place for _, place in pairs])
        if r < 0.40:
            template = self.rng.choice(self.other)
        elif r < 0.43:
            template = self.rng.choice(self.foreign)
        else:
            template = self.rng.choice(self.job)
        text, place = self.place()
        return self._finish(template.format(role=self.rng.choice(self.roles), L=text), [place])

    def _distinct(self, count: int) -> list[tuple[str, Place]]:
        pairs: list[tuple[str, Place]] = []
        while len(pairs) < count:
            text, place = self.place()
            if all(p != place for _, p in pairs):
                pairs.append((text, place))
        return pairs

    def _finish(self, text: str, places: Sequence[Place]) -> LabelledQuery:
        if self.rng.random() < 0.3:
            text = text.lower()
        return LabelledQuery(text, list(places))

    def generate(self, count: int) -> list[LabelledQuery]:
        """``count`` queries, no text twice.

        A drawn query that reads otherwise than it was built is left out (counted in
        ``discarded``): two places side by side can read as one ("Paris, United States"
        built from Paris, France and the United States is Paris, Texas to a reader and to the
        gazetteer check), so every answer kept is the one the check also reads.
        """
        seen: set[str] = set()
        out: list[LabelledQuery] = []
        while len(out) < count:
            item = self.query()
            if item.text.lower() in seen:
                continue
            try:
                agreed = self.gaz.check(item.locations, item.text) == (item.locations, [])
            except ValueError:
                agreed = False
            if not agreed:
                self.discarded.append(item)
                continue
            seen.add(item.text.lower())
            out.append(item)
        return out
