"""Answers are validated as strictly as the schema the model saw (issue 10, part 1).

Each answer below used to come back as a plausible value on the first attempt
(``Locations(locations=[])`` or a Location with both fields None), with no
re-ask, and was recorded as a good exchange: pydantic filled the defaults and
ignored the unknown keys. Now a missing or unknown key is a validation error,
re-asked with a compact message, in every output mode.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import pytest
from pydantic import BaseModel, Field

from extractkit import (
    ChatRequest,
    ChatResponse,
    Extractor,
    InvalidOutputError,
    LocationExtractor,
    Locations,
    Omittable,
    Settings,
    UserError,
)
from extractkit.evals import Candidate, run_eval
from extractkit.messages import ToolCall
from extractkit.output import ValidationFailure, output_spec
from extractkit.store import SQLiteStore
from extractkit.testing import FakeBackend
from extractkit.testing.openapi import spec_validator
from extractkit.testing.server import Reply, ScriptedChatServer

PARIS = {"locations": [{"city": "Paris", "country": "France"}]}
KEY = "sk-strict-0123456789"

# The answers from the issue, and the compact feedback each must produce.
BAD: dict[str, tuple[Any, list[str]]] = {
    "location_not_wrapped": (
        {"city": "Paris", "country": "France"},
        [
            "locations: required property missing",
            "city: unknown property; expected locations",
            "country: unknown property; expected locations",
        ],
    ),
    "empty_object": ({}, ["locations: required property missing"]),
    "wrong_case_key": (
        {"Locations": [{"city": "Paris", "country": "France"}]},
        ["locations: required property missing", "Locations: unknown property; expected locations"],
    ),
    "renamed_fields": (
        {"locations": [{"town": "Paris", "nation": "France"}]},
        [
            "locations[0].city: required property missing",
            "locations[0].country: required property missing",
            "locations[0].town: unknown property; expected city, country",
            "locations[0].nation: unknown property; expected city, country",
        ],
    ),
    "one_key_left_out": (
        {"locations": [{"city": "Paris"}]},
        ["locations[0].country: required property missing"],
    ),
}

# (constructor kwargs, expected output_mode): prompted and bare are what a base model with the
# prompt or a fine-tuned model gets; json_schema / json_object / tools are the API's modes.
MODES = {
    "prompted": ({"output_mode": "prompted"}, "prompted"),
    "bare_finetuned": ({"model": "openai:ft:gpt-4o-mini-2024-07-18:acme::abc123"}, "bare"),
    "json_schema": ({}, "json_schema"),
    "json_object": ({"output_mode": "json_object"}, "json_object"),
    "tools": ({"output_mode": "tools"}, "tools"),
}


def answer(request: ChatRequest, value: Any) -> ChatResponse:
    """The model's reply carrying ``value``: a forced tool call in tools mode, else the text."""
    text = json.dumps(value)
    if request.tools:
        return ChatResponse(text=None, tool_calls=(ToolCall("call_1", request.tools[0].name, text),))
    return ChatResponse(text=text)


def scripted(*values: Any) -> FakeBackend:
    queue = list(values)
    return FakeBackend(lambda r: answer(r, queue.pop(0)))


def feedback_of(request: ChatRequest) -> str:
    return request.messages[-1].content or ""


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("case", list(BAD))
async def test_an_answer_that_misses_the_schema_is_reasked_in_every_mode(case: str, mode: str) -> None:
    bad, errors = BAD[case]
    kwargs, output_mode = MODES[mode]
    fake = scripted(bad, PARIS)
    detail = await LocationExtractor(backend=fake, **kwargs).extract_detailed("flats in Paris")
    assert detail.output_mode == output_mode
    assert detail.value == Locations.model_validate(PARIS)
    assert detail.attempts == 2
    sent = feedback_of(fake.requests[1])
    for line in errors:
        assert f"- {line}\n" in sent, sent
    if mode == "tools":
        assert fake.requests[1].messages[-1].role == "tool"


@pytest.mark.parametrize("case", list(BAD))
async def test_the_bad_answer_is_recorded_as_a_failure_not_a_label(case: str, tmp_path: Path) -> None:
    bad, errors = BAD[case]
    store = SQLiteStore(tmp_path / "x.db")
    ex = LocationExtractor(backend=scripted(bad), store=store, max_attempts=1, output_mode="prompted")
    with pytest.raises(InvalidOutputError) as info:
        await ex.extract("flats in Paris")
    assert info.value.errors == errors
    assert info.value.raw == json.dumps(bad)
    store.flush()
    row = store.find("location", "flats in paris")
    assert row is not None and row.exchange.output is None
    assert (row.exchange.error or "").startswith("InvalidOutputError")
    store.close()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedChatServer]:
    monkeypatch.setenv("EXTRACTKIT_STRICT_KEY", KEY)
    with ScriptedChatServer(validate=spec_validator, api_key=KEY) as srv:
        yield srv
    assert srv.spec_errors == [], srv.spec_errors


def settings_for(srv: ScriptedChatServer) -> Settings:
    return Settings.from_mapping(
        {"backends": {"openai": {"base_url": srv.base_url, "api_key_env": "EXTRACTKIT_STRICT_KEY"}}}
    )


@pytest.mark.parametrize("output_mode", ["json_schema", "prompted"])
async def test_end_to_end_through_the_openai_client(server: ScriptedChatServer, output_mode: str) -> None:
    server.enqueue(Reply.json({}), Reply.json({"locations": [{"town": "Paris"}]}), Reply.json(PARIS))
    ex = LocationExtractor(settings=settings_for(server), output_mode=output_mode)
    detail = await ex.extract_detailed("flats in Paris")
    assert detail.value.locations[0].country == "France" and detail.attempts == 3
    second, third = server.requests[1].messages[-1], server.requests[2].messages[-1]
    assert "- locations: required property missing" in second["content"]
    assert "- locations[0].town: unknown property; expected city, country" in third["content"]
    assert "- locations[0].country: required property missing" in third["content"]
    if output_mode == "json_schema":
        fmt = server.requests[0].body["response_format"]["json_schema"]
        assert fmt["strict"] is True and fmt["schema"]["required"] == ["locations"]


async def test_prompted_mode_shows_the_schema_that_answers_are_checked_against() -> None:
    fake = scripted(PARIS)
    ex = LocationExtractor(backend=fake, output_mode="prompted")
    await ex.extract("flats in Paris")
    system = fake.requests[0].messages[0].content or ""
    shown = json.loads(system.split("nothing else (no prose, no code fences):\n", 1)[1].split("\n\n")[0])
    assert shown == ex.spec.answer_schema
    location = shown["$defs"]["Location"]
    assert location["required"] == ["city", "country"] and location["additionalProperties"] is False
    assert "default" not in json.dumps(shown)


async def test_type_errors_come_with_the_key_errors_in_one_reask() -> None:
    fake = scripted({"locations": [{"city": 5}]}, PARIS)
    await LocationExtractor(backend=fake).extract("x")
    sent = feedback_of(fake.requests[1])
    assert "- locations[0].country: required property missing\n" in sent
    assert "- locations[0].city: Input should be a valid string" in sent


# ---------------------------------------------------------------- wrapped (non-object) types


class Sentiment(Extractor[Literal["positive", "negative", "neutral"]]):
    instructions = "Classify the sentiment."


async def test_a_bare_scalar_answer_is_wrapped_and_the_fix_recorded() -> None:
    detail = await Sentiment(backend=FakeBackend(['"negative"'])).extract_detailed("meh")
    assert detail.value == "negative" and detail.repairs == ("wrapped_bare_answer",)
    detail = await Sentiment(backend=FakeBackend([{"answer": "positive"}])).extract_detailed("yay")
    assert detail.value == "positive" and detail.repairs == ()


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ('"happy"', "answer: Input should be 'positive', 'negative' or 'neutral'"),
        ({"sentiment": "positive"}, "answer: required property missing"),
        ({"answer": "positive", "confidence": 0.9}, "confidence: unknown property; expected answer"),
        ({}, "answer: required property missing"),
    ],
)
async def test_a_wrapped_answer_cannot_hide_a_wrong_value(reply: Any, error: str) -> None:
    with pytest.raises(InvalidOutputError) as info:
        await Sentiment(backend=FakeBackend([reply]), max_attempts=1).extract("x")
    assert any(e.startswith(error) for e in info.value.errors), info.value.errors


async def test_a_bare_list_is_the_answer_but_a_bare_object_is_not_guessed() -> None:
    class Tags(Extractor[list[str]]):
        instructions = "List the tags."

    detail = await Tags(backend=FakeBackend(['["a", "b"]'])).extract_detailed("x")
    assert detail.value == ["a", "b"] and detail.repairs == ("wrapped_bare_answer",)

    class Item(BaseModel):
        name: str

    class MaybeItem(Extractor[Item | None]):
        instructions = "Find the item, or null."

    with pytest.raises(InvalidOutputError, match="answer: required property missing"):
        await MaybeItem(backend=FakeBackend([{"name": "tea"}]), max_attempts=1).extract("x")
    assert await MaybeItem(backend=FakeBackend(["null"])).extract("x") is None


# ---------------------------------------------------------------- opting out


class Job(BaseModel):
    title: str
    tags: Annotated[list[str], Omittable] = []
    remote: bool = False


class JobExtractor(Extractor[Job]):
    instructions = "Extract the job."


class LooseLocations(LocationExtractor):
    strict_output = False


async def test_class_opt_out_is_pydantic_alone() -> None:
    got = await LooseLocations(backend=FakeBackend([{}])).extract("x")
    assert got == Locations()
    spec = LooseLocations().spec
    assert spec.strict is False and spec.answer_schema == spec.schema
    # The schema shown in prompts is pydantic's own: it says which keys may be left out.
    assert "required" not in spec.schema["$defs"]["Location"]
    # The API's strict mode still gets the strict schema: a complete answer always validates.
    assert spec.strict_schema == LocationExtractor().spec.strict_schema
    # The constructor argument overrides the class attribute, both ways.
    assert await LocationExtractor(backend=FakeBackend([{}]), strict_output=False).extract("x") == Locations()
    with pytest.raises(InvalidOutputError):
        await LooseLocations(backend=FakeBackend([{}]), strict_output=True, max_attempts=1).extract("x")


async def test_an_omittable_field_may_be_left_out_and_nothing_else() -> None:
    got = await JobExtractor(backend=FakeBackend([{"title": "nurse", "remote": True}])).extract("x")
    assert got == Job(title="nurse", tags=[], remote=True)
    with pytest.raises(InvalidOutputError) as info:
        await JobExtractor(backend=FakeBackend([{"title": "nurse", "tags": []}]), max_attempts=1).extract("x")
    assert info.value.errors == ["remote: required property missing"]
    with pytest.raises(InvalidOutputError) as info:
        bad = {"title": "nurse", "remote": False, "skills": ["x"]}
        await JobExtractor(backend=FakeBackend([bad]), max_attempts=1).extract("x")
    assert info.value.errors == ["skills: unknown property; expected title, tags, remote"]


def test_schemas_agree_with_the_opt_out() -> None:
    spec = JobExtractor().spec
    # Prompts show (and answers are checked against) tags as optional...
    assert spec.answer_schema["required"] == ["title", "remote"]
    # ...while OpenAI's strict mode, which requires every key, still gets all three: the model is then
    # made to send tags, which validation accepts too. No marker keyword reaches a model.
    assert spec.strict_schema is not None and spec.strict_schema["required"] == ["title", "tags", "remote"]
    for schema in (spec.schema, spec.strict_schema, spec.answer_schema):
        assert "x-extractkit" not in json.dumps(schema)
    # The Field(json_schema_extra=...) spelling is the same marker.

    class Job2(BaseModel):
        title: str
        tags: list[str] = Field(default=[], json_schema_extra={"x-extractkit-omittable": True})
        remote: bool = False

    assert output_spec(Job2).answer_schema["required"] == ["title", "remote"]


def test_omittable_without_a_default_is_a_user_error() -> None:
    class Bad(BaseModel):
        title: Annotated[str, Omittable]

    with pytest.raises(UserError, match="title marked Omittable but without a default"):
        output_spec(Bad)


# ---------------------------------------------------------------- shapes the key walk must handle


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = 9


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool = True


class Pets(BaseModel):
    pets: list[Annotated[Cat | Dog, Field(discriminator="kind")]]
    best: Cat | Dog | None = None


class Node(BaseModel):
    name: str
    children: list[Node] = []


class Catalog(BaseModel):
    by_sku: dict[str, Cat]
    labels: dict[str, str] = {}


@pytest.mark.parametrize(
    ("output_type", "value", "errors"),
    [
        (Pets, {"pets": [{"kind": "cat", "lives": 9}, {"kind": "dog", "good": True}], "best": None}, []),
        (Pets, {"pets": [{"kind": "dog"}], "best": None}, ["pets[0].good: required property missing"]),
        (
            Pets,
            {"pets": [], "best": {"kind": "cat", "lives": 1, "fur": "red"}},
            ["best.fur: unknown property; expected kind, lives"],
        ),
        (Node, {"name": "a", "children": [{"name": "b", "children": []}]}, []),
        (
            Node,
            {"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]},
            ["children[0].children[0].children: required property missing"],
        ),
        (Catalog, {"by_sku": {"x1": {"kind": "cat", "lives": 3}}, "labels": {"any": "key"}}, []),
        (
            Catalog,
            {"by_sku": {"x1": {"kind": "cat"}}, "labels": {}},
            ["by_sku.x1.lives: required property missing"],
        ),
    ],
)
def test_unions_recursion_and_free_form_dicts(output_type: Any, value: Any, errors: list[str]) -> None:
    spec = output_spec(output_type)
    if not errors:
        spec.validate(value)
        return
    with pytest.raises(ValidationFailure) as info:
        spec.validate(value)
    assert info.value.errors == errors


async def test_a_raw_json_schema_is_checked_strictly_too() -> None:
    class Invoice(Extractor[dict]):  # type: ignore[type-arg]
        output_type: ClassVar[Any] = {
            "type": "object",
            "properties": {"total": {"type": "number"}, "currency": {"type": "string"}},
            "required": ["total"],
        }
        instructions = "Extract the invoice total."

    with pytest.raises(InvalidOutputError) as info:
        await Invoice(backend=FakeBackend([{"total": 3, "vat": 1}]), max_attempts=1).extract("x")
    assert info.value.errors == [
        "currency: required property missing",
        "vat: unknown property; expected total, currency",
    ]
    got = await Invoice(backend=FakeBackend([{"total": 3, "currency": "EUR"}])).extract("x")
    assert got == {"total": 3, "currency": "EUR"}


# ---------------------------------------------------------------- evals count only strict answers


async def test_eval_valid_rate_counts_only_answers_that_pass_the_strict_layer() -> None:
    cases = [
        {
            "id": "paris",
            "input": "flats in Paris",
            "expected": {"locations": [{"city": "Paris", "country": "France"}]},
        },
        # A hand-written expected value may leave out a key with a default (country becomes null).
        {"id": "remote", "input": "remote python developer", "expected": {"locations": []}},
        {"id": "spain", "input": "accountant in Spain", "expected": {"locations": [{"country": "Spain"}]}},
    ]
    prose = {"flats in Paris": "{}", "remote python developer": '{"locations": []}'}

    def model(request: ChatRequest) -> str:
        text = request.messages[-1].content or ""
        return prose.get(text, '{"locations": [{"country": "Spain"}]}')

    report = await run_eval(
        LocationExtractor,
        cases,
        [Candidate("loose_model", backend=FakeBackend(model), options={"max_attempts": 1})],
    )
    m = report.metrics["loose_model"]
    # Only the complete answer is valid: {} and the Spain answer without "city" are not.
    assert (m.valid.hits, m.valid.n) == (1, 3)
    assert m.valid_raw.hits == 1


def test_an_expected_value_with_an_unknown_key_is_a_clear_error() -> None:
    from extractkit.evals import run_eval_sync
    from extractkit.exceptions import DatasetError

    cases = [{"id": "p", "input": "x", "expected": {"locations": [{"town": "Paris"}]}}]
    with pytest.raises(DatasetError, match=r"locations\[0\]\.town: unknown property"):
        run_eval_sync(LocationExtractor, cases, [Candidate("f", backend=FakeBackend([PARIS]))])


def test_dumped_values_validate_strictly_so_training_answers_round_trip() -> None:
    class Person(BaseModel):
        model_config = {"populate_by_name": True}

        first_name: str = Field(alias="firstName")
        last_name: str | None = Field(default=None, alias="lastName")

    spec = output_spec(Person)
    value = Person(first_name="Ada")
    assert spec.dump(value) == {"firstName": "Ada", "lastName": None}
    assert spec.validate(spec.dump(value)) == value
    with pytest.raises(ValidationFailure, match="first_name: unknown property; expected firstName, lastName"):
        spec.validate({"first_name": "Ada", "lastName": None})
