"""A hypothesis strategy for instances of a JSON Schema (the subset pydantic and strict mode use).

hypothesis-jsonschema would be the natural choice, but its last release
(0.23.1) fails with current hypothesis (``'many' object has no attribute
'more'``) and does not follow recursive ``$ref``s. This generator covers what
our schemas contain: types, enum/const, anyOf/allOf, local ``$ref``s (recursion
bounded by depth), objects with required/optional/additional properties,
items/prefixItems, string length/pattern/format, numeric bounds. Tests check
each instance with jsonschema too, so a generator mistake cannot pass silently.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

__all__ = ["instances"]

_JSON_SCALARS = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8)
_ANY_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def instances(schema: Mapping[str, Any], *, max_depth: int = 3) -> st.SearchStrategy[Any]:
    """Instances valid against ``schema``; recursive ``$ref``s are followed ``max_depth`` times."""
    return _Gen(schema, max_depth).of(schema, 0)


class _Gen:
    def __init__(self, root: Mapping[str, Any], max_depth: int) -> None:
        self.root = root
        self.max_depth = max_depth

    def resolve(self, ref: str) -> Mapping[str, Any]:
        target: Any = self.root
        for part in ref[2:].split("/") if ref != "#" else ():
            target = target[part]
        return dict(target)

    def has_ref(self, schema: Any) -> bool:
        if isinstance(schema, Mapping):
            return "$ref" in schema or any(self.has_ref(v) for v in schema.values())
        if isinstance(schema, list):
            return any(self.has_ref(v) for v in schema)
        return False

    def of(self, schema: Any, depth: int) -> st.SearchStrategy[Any]:
        if schema is True or schema == {}:
            return _ANY_JSON
        if not isinstance(schema, Mapping):
            raise TypeError(f"unsupported schema {schema!r}")
        if "$ref" in schema:
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            target = self.resolve(schema["$ref"])
            # Deferred: strategies are built eagerly, and a recursive schema would never end.
            return st.deferred(lambda: self.of({**target, **rest}, depth + 1))
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        if "anyOf" in schema:
            branches = [{**{k: v for k, v in schema.items() if k != "anyOf"}, **b} for b in schema["anyOf"]]
            if depth >= self.max_depth:
                # Deep enough: prefer branches that end the recursion.
                branches = [b for b in branches if not self.has_ref(b)] or branches
            return st.one_of([self.of(b, depth) for b in branches])
        if "allOf" in schema:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                merged.update(part)
            return self.of(merged, depth)
        types = schema.get("type")
        if isinstance(types, list):
            return st.one_of([self.of({**schema, "type": t}, depth) for t in types])
        if types == "object" or "properties" in schema:
            return self.object(schema, depth)
        if types == "array":
            return self.array(schema, depth)
        if types == "string":
            return self.string(schema)
        if types == "integer":
            return st.integers(schema.get("minimum", -(10**6)), schema.get("maximum", 10**6))
        if types == "number":
            low, high = schema.get("minimum", -1e6), schema.get("maximum", 1e6)
            return st.floats(low, high, allow_nan=False, allow_infinity=False)
        if types == "boolean":
            return st.booleans()
        if types == "null":
            return st.none()
        if types is None:
            return _ANY_JSON
        raise TypeError(f"unsupported type {types!r}")

    def object(self, schema: Mapping[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
        props: Mapping[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", ()))
        fixed = {k: self.of(v, depth) for k, v in props.items() if k in required}
        optional = {k: self.of(v, depth) for k, v in props.items() if k not in required}
        extra = schema.get("additionalProperties", True)
        strategy: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(fixed, optional=optional)
        if extra is False:
            return strategy
        values = _ANY_JSON if extra is True else self.of(extra, depth)
        keys = st.text(max_size=6).filter(lambda k: k not in props)
        more = st.dictionaries(keys, values, max_size=3)
        return st.tuples(strategy, more).map(lambda pair: {**pair[1], **pair[0]})

    def array(self, schema: Mapping[str, Any], depth: int) -> st.SearchStrategy[list[Any]]:
        low = schema.get("minItems", 0)
        high = schema.get("maxItems", low + 3)
        if depth >= self.max_depth:
            high = low
            if low == 0:
                return st.just([])
        prefix = schema.get("prefixItems")
        if prefix:
            return st.tuples(*(self.of(p, depth) for p in prefix)).map(list)
        items = schema.get("items", {})
        return st.lists(self.of(items, depth), min_size=low, max_size=high)

    def string(self, schema: Mapping[str, Any]) -> st.SearchStrategy[str]:
        fmt = schema.get("format")
        if fmt == "date":
            return st.dates().map(dt.date.isoformat)
        if fmt == "date-time":
            return st.datetimes(timezones=st.just(dt.UTC)).map(lambda d: d.isoformat())
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 12))
