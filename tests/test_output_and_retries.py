"""Output specs (strict schemas, wrapping) and the retry policy's arithmetic."""

from __future__ import annotations

import random
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from extractkit import Extractor, UserError
from extractkit.exceptions import BackendTimeoutError, RateLimitError
from extractkit.output import ValidationFailure, output_spec, to_strict_schema
from extractkit.retries import RetryPolicy, call_with_retries
from extractkit.testing import FakeBackend


class Item(BaseModel):
    name: str
    qty: int = 1
    note: str | None = None


class Order(BaseModel):
    items: list[Item]
    meta: dict[str, str] = {}


def test_strict_schema_closes_objects_and_requires_every_key() -> None:
    spec = output_spec(list[Item])
    assert spec.wrapped and spec.schema["required"] == ["answer"]
    strict = spec.strict_schema
    assert strict is not None
    item = strict["$defs"]["Item"]
    assert item["additionalProperties"] is False
    assert item["required"] == ["name", "qty", "note"]
    # A default keeps its type (OpenAI's rule): null for qty would be rejected by validation.
    assert item["properties"]["qty"]["type"] == "integer"
    assert {"type": "null"} in item["properties"]["note"]["anyOf"]
    assert "default" not in item["properties"]["qty"]


def test_free_form_objects_cannot_be_strict_and_fall_back_to_json_object() -> None:
    assert output_spec(Order).strict_schema is None
    assert to_strict_schema({"type": "object"}) is None

    class OrderExtractor(Extractor[Order]):
        instructions = "Extract the order."

    fake = FakeBackend(lambda r: {"items": [{"name": "tea", "qty": 2, "note": None}], "meta": {}})
    got = OrderExtractor(backend=fake).extract_sync("two teas")
    assert got.items[0].qty == 2
    fmt = fake.requests[0].response_format
    assert fmt is not None and fmt.type == "json_object"
    assert '"items"' in (fake.requests[0].messages[0].content or "")  # schema moved into the prompt


def test_validation_errors_are_compact_and_pathed() -> None:
    spec = output_spec(Order)
    with pytest.raises(ValidationFailure) as info:
        spec.validate({"items": [{"name": "tea", "qty": "many", "note": None}], "meta": {}})
    assert info.value.errors[0].startswith("items[0].qty:")
    lit = output_spec(Literal["a", "b"])
    with pytest.raises(ValidationFailure) as info2:
        lit.validate({"answer": "c"})
    assert info2.value.errors[0].startswith("answer:") and "'a'" in info2.value.errors[0]
    assert lit.dump_json("a") == '{"answer":"a"}'


def test_unusable_output_types_are_user_errors() -> None:
    with pytest.raises(UserError, match="cannot be used"):
        output_spec(object())
    with pytest.raises(UserError, match="not a valid JSON Schema"):
        output_spec({"type": "nonsense"})


def test_backoff_is_capped_and_jittered() -> None:
    p = RetryPolicy(initial_wait=0.5, multiplier=2, max_wait=4, jitter=False)
    assert [p.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    j = RetryPolicy(initial_wait=0.5, max_wait=4, rng=random.Random(1))
    waits = [j.backoff(5) for _ in range(200)]
    assert all(0 <= w <= 4 for w in waits) and len(set(waits)) > 100
    assert p.wait_for(RateLimitError("x", retry_after=7.5), 1) == 7.5
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


async def test_call_with_retries_reports_each_retry_and_reraises_the_last_error() -> None:
    seen: list[tuple[str, float]] = []
    calls = 0

    async def sleep(seconds: float) -> None:
        pass

    async def flaky() -> Any:
        nonlocal calls
        calls += 1
        raise BackendTimeoutError(f"timeout {calls}")

    policy = RetryPolicy(max_attempts=3, sleep=sleep, jitter=False)
    with pytest.raises(BackendTimeoutError, match="timeout 3"):
        await call_with_retries(flaky, policy, on_retry=lambda exc, wait: seen.append((str(exc), wait)))
    assert seen == [("timeout 1", 0.5), ("timeout 2", 1.0)]
