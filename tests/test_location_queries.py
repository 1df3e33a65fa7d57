"""The synthetic training and held-out queries: disjoint halves, answers correct by construction."""

from __future__ import annotations

import pytest

from extractkit.local import location_queries as lq
from extractkit.local.location_queries import QueryGenerator, held_out
from extractkit.local.places import fold, gazetteer


def test_the_halves_share_no_city_template_role_or_local_name() -> None:
    g = gazetteer()
    train = QueryGenerator(g, split="train")
    heldout = QueryGenerator(g, split="heldout")
    assert {fold(c.name) for c in train.cities}.isdisjoint({fold(c.name) for c in heldout.cities})
    assert all(not held_out(c.name) for c in train.cities)
    for a, b in (
        (lq._JOB_TRAIN + lq._JOB_MULTI_TRAIN + lq._OTHER_TRAIN + lq._OTHER_MULTI_TRAIN, lq._JOB_HELDOUT),
        (lq._NONE_TRAIN + lq._FOREIGN_TRAIN, lq._NONE_HELDOUT + lq._FOREIGN_HELDOUT),
        (lq._ROLES_TRAIN, lq._ROLES_HELDOUT),
        (tuple(lq._LOCAL_TRAIN), tuple(lq._LOCAL_HELDOUT)),
    ):
        assert set(a).isdisjoint(b)
    assert not {c.name for c in train.cities} & set(lq._LOCAL_HELDOUT)


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_answers_are_built_not_guessed_and_few_draws_are_ambiguous(split: str) -> None:
    g = gazetteer()
    generator = QueryGenerator(g, split=split, seed=3)  # type: ignore[arg-type]
    queries = generator.generate(1500)
    for query in queries:
        for place in query.locations:
            assert place["country"] in g.countries.values(), query
            if place["city"] is not None:
                # The city (or one of its names, or a near spelling) is written in the query.
                (city,) = [c for c in g.cities_named(place["city"]) if c.country == place["country"]][:1]
                assert g.mentioned((city.name, *city.aliases), query.text), query
    # Draws that read otherwise than built (two places side by side) are left out; they are rare.
    assert len(generator.discarded) / (len(queries) + len(generator.discarded)) < 0.03
    for item in generator.discarded[:20]:
        assert g.check(item.locations, item.text) != (item.locations, [])


def test_the_mix_covers_the_kinds_of_query() -> None:
    queries = QueryGenerator(gazetteer(), split="train", seed=0).generate(600)
    counts = [len(q.locations) for q in queries]
    assert 0.05 < counts.count(0) / len(queries) < 0.2  # no place at all
    assert sum(c >= 2 for c in counts) / len(queries) > 0.1  # several places
    assert sum(q.text == q.text.lower() for q in queries) / len(queries) > 0.25  # typed lower case
    assert any(loc["city"] is None for q in queries for loc in q.locations)  # a country or region alone


def test_the_same_seed_gives_the_same_queries() -> None:
    g = gazetteer()
    first = QueryGenerator(g, split="heldout", seed=5).generate(50)
    assert first == QueryGenerator(g, split="heldout", seed=5).generate(50)
    assert first != QueryGenerator(g, split="heldout", seed=6).generate(50)
    with pytest.raises(ValueError, match="split"):
        QueryGenerator(g, split="test")  # type: ignore[arg-type]
