"""The one-call front door: extract()/extract_sync(), Extractor.from_type, extract_detailed_sync."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel

import extractkit
from extractkit import ConfigError, Extraction, Extractor, LocationExtractor, Locations, Settings, UserError
from extractkit.messages import ChatRequest
from extractkit.testing import FakeBackend


class Skills(BaseModel):
    skills: list[str]


SKILLS = {"skills": ["Python", "SQL"]}


def test_from_type_makes_a_named_class_whose_config_key_works() -> None:
    cls = Extractor.from_type(Skills)
    assert cls.__name__ == "SkillsExtractor" and issubclass(cls, Extractor)
    assert cls.name == "skills" and cls.output_type is Skills
    assert Extractor.from_type(Skills) is cls  # cached: one class per set of arguments
    assert Extractor.from_type(Skills, name="job_skills").name == "job_skills"
    settings = Settings.from_mapping({"extractors": {"skills": {"model": "openai:gpt-4o"}}})
    assert str(cls(settings=settings).resolve_model()) == "openai:gpt-4o"
    assert str(cls(settings=Settings()).resolve_model()) == "openai:gpt-4o-mini"


def test_from_type_names_what_it_cannot_derive() -> None:
    with pytest.raises(UserError, match="name="):
        Extractor.from_type(list[str])
    with pytest.raises(UserError, match="title"):
        Extractor.from_type({"type": "object", "properties": {}})
    with pytest.raises(UserError, match="config key"):
        Extractor.from_type(Skills, name="Bad Name")
    with pytest.raises(UserError, match="empty"):
        Extractor.from_type(Skills, instructions="  ")
    tags = Extractor.from_type(list[str], name="tags", instructions="List the tags.")
    assert tags.__name__ == "TagsExtractor" and tags.instructions == "List the tags."
    schema = Extractor.from_type({"title": "Order", "type": "object", "properties": {}})
    assert schema.name == "order"


def test_extract_sync_sends_the_instructions_and_returns_the_type() -> None:
    fake = FakeBackend(lambda r: SKILLS)
    value = extractkit.extract_sync("Python and SQL", Skills, backend=fake)
    assert value == Skills(skills=["Python", "SQL"])
    request: ChatRequest = fake.requests[0]
    assert request.model == "gpt-4o-mini"
    assert "Extract the skills from the text as JSON." in (request.messages[0].content or "")
    assert request.messages[-1].content == "Python and SQL"

    fake = FakeBackend(lambda r: {"answer": "high"})
    level = extractkit.extract_sync(
        "urgent!!", Literal["low", "high"], name="urgency", instructions="Rate the urgency.", backend=fake
    )
    assert level == "high"
    assert fake.requests[0].messages[0].content.startswith("Rate the urgency.")  # type: ignore[union-attr]


async def test_extract_is_the_async_twin_and_takes_a_model() -> None:
    fake = FakeBackend(lambda r: SKILLS)
    value = await extractkit.extract("Python and SQL", Skills, model="openai:gpt-4o", backend=fake)
    assert value.skills == ["Python", "SQL"]
    assert fake.requests[0].model == "gpt-4o"


def test_the_built_in_type_goes_to_the_built_in_extractor() -> None:
    fake = FakeBackend(lambda r: {"locations": [{"city": "Lyon", "country": "France"}]})
    value = extractkit.extract_sync("nurse jobs in Lyon", Locations, backend=fake)
    assert value.locations[0].city == "Lyon"
    # LocationExtractor's own full prompt (its rules), not a generic one.
    assert "Rules:" in (fake.requests[0].messages[0].content or "")


def test_extract_detailed_sync_returns_the_extraction() -> None:
    fake = FakeBackend(lambda r: {"locations": [{"city": "Lyon", "country": "France"}]})
    detail = LocationExtractor(backend=fake).extract_detailed_sync("nurse jobs in Lyon")
    assert isinstance(detail, Extraction)
    assert detail.value.locations[0].country == "France"
    assert detail.attempts == 1 and detail.model == "openai:gpt-4o-mini"


def test_no_key_and_no_model_is_a_config_error_naming_the_fix() -> None:
    with pytest.raises(ConfigError) as caught:
        extractkit.extract_sync("Python and SQL", Skills, settings=Settings())
    message = str(caught.value)
    assert "OPENAI_API_KEY" in message and "[extractors.skills]" in message
    assert "embedded" not in message  # only LocationExtractor has an offline default
