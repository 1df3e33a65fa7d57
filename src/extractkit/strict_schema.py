"""Strict JSON Schemas: the form OpenAI's structured outputs accept, and the form answers are checked against.

Two rewrites of one schema, both following OpenAI's strict-mode rules (the same
rules as openai-python's ``to_strict_json_schema``):

- every object lists all its properties in ``required`` and gets
  ``additionalProperties: false``;
- a property with a default keeps its type (it does **not** become nullable);
  only a type that already admits ``null`` (``Optional[...]``) does;
- a ``$ref`` with sibling keywords (``{"$ref": ..., "description": ...}``) is
  replaced by the referenced schema merged with those keywords, since the API
  rejects such refs; a one-element ``allOf`` is merged the same way.

Deliberate differences from openai-python, each because the API or our
validation needs it:

- every ``default`` is dropped (openai-python drops only ``null`` ones): a
  default tells a model it may leave the key out, which strict mode forbids;
- ``oneOf`` (pydantic's discriminated unions) becomes ``anyOf`` and its
  ``discriminator`` is dropped: the API accepts only ``anyOf``;
- a free-form object (``dict[str, X]``, ``extra="allow"``, or an object with
  no ``properties``) makes :func:`to_strict_schema` return ``None``: the API
  cannot express it strictly, and openai-python's rewrite of a bare
  ``{"type": "object"}`` into an always-empty object would lose data.

:func:`answer_schema` is the form a model's answer is validated against (and
the one shown in prompts). It is the strict form, except that free-form
objects stay open and a property marked :data:`Omittable` is not required.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["OMITTABLE_KEY", "Omittable", "answer_schema", "strip_markers", "to_strict_schema"]

OMITTABLE_KEY = "x-extractkit-omittable"
"""The schema keyword that marks a property the model may leave out (its default then applies)."""


class _OmittableMarker:
    """The type of :data:`Omittable`; pydantic calls the hook below when it builds the JSON Schema."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        schema = dict(handler(core_schema))
        schema[OMITTABLE_KEY] = True
        return schema

    def __repr__(self) -> str:
        return "Omittable"


Omittable = _OmittableMarker()
"""Marks a field the model may leave out of its answer, so pydantic's default fills it.

Use it in ``Annotated`` on a field that has a default::

    class Job(BaseModel):
        title: str
        tags: Annotated[list[str], Omittable] = []

``Field(default=[], json_schema_extra={"x-extractkit-omittable": True})`` is
the same. Every other field must be in the answer (see docs/custom-extractors.md).
"""


class NotStrict(Exception):
    """The schema has a free-form object, which OpenAI's strict mode cannot express."""


def to_strict_schema(schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """Rewrite a JSON Schema for OpenAI strict structured outputs.

    Returns ``None`` when the schema has a free-form object (see the module
    docstring). Omittable markers are removed; in this form a marked property
    is required like any other, because strict mode requires every key.
    """
    root = copy.deepcopy(dict(schema))
    try:
        out = _Rewrite(root, api=True).node(root)
    except NotStrict:
        return None
    return dict(_strip(out))


def answer_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The strict form answers are validated against: free-form objects stay open, omittable keys optional."""
    root = copy.deepcopy(dict(schema))
    return dict(_strip(_Rewrite(root, api=False).node(root)))


def strip_markers(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` without extractkit's own keywords (what a model may be shown as-is)."""
    out: Any = _strip(copy.deepcopy(dict(schema)))
    return dict(out)


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        node.pop(OMITTABLE_KEY, None)
        for value in node.values():
            _strip(value)
    elif isinstance(node, list):
        for item in node:
            _strip(item)
    return node


class _Rewrite:
    """One rewrite over one (already copied) schema; mutates it in place like openai-python.

    Walking a node twice gives the same result, which the ``$ref`` inlining relies on.
    """

    def __init__(self, root: dict[str, Any], *, api: bool) -> None:
        self.root = root
        self.api = api

    def node(self, node: dict[str, Any]) -> dict[str, Any]:
        for key in ("$defs", "definitions"):
            defs = node.get(key)
            if isinstance(defs, dict):
                for sub in defs.values():
                    if isinstance(sub, dict):
                        self.node(sub)
        node.pop("default", None)
        if isinstance(node.get("oneOf"), list):
            branches = node.pop("oneOf")
            node.pop("discriminator", None)
            if isinstance(node.get("anyOf"), list):
                node["allOf"] = [*node.get("allOf", ()), {"anyOf": branches}]
            else:
                node["anyOf"] = branches
        self._object(node)
        items = node.get("items")
        if isinstance(items, dict):
            node["items"] = self.node(items)
        for key in ("prefixItems", "anyOf"):
            if isinstance(node.get(key), list):
                node[key] = [self.node(s) if isinstance(s, dict) else s for s in node[key]]
        all_of = node.get("allOf")
        if isinstance(all_of, list):
            if len(all_of) == 1 and isinstance(all_of[0], dict):
                node.update(self.node(all_of[0]))
                node.pop("allOf")
            else:
                node["allOf"] = [self.node(s) if isinstance(s, dict) else s for s in all_of]
        ref = node.get("$ref")
        if isinstance(ref, str) and len(node) > 1:
            # The API rejects a $ref with siblings: inline the target, the siblings taking priority.
            resolved = copy.deepcopy(_resolve(self.root, ref))
            merged = {**resolved, **node}
            merged.pop("$ref")
            node.clear()
            node.update(merged)
            return self.node(node)
        return node

    def _object(self, node: dict[str, Any]) -> None:
        types = node.get("type")
        is_object = types == "object" or (isinstance(types, list) and "object" in types)
        props = node.get("properties")
        extra = node.get("additionalProperties")
        if not isinstance(props, dict):
            if is_object and extra is not False:
                # Any object at all (dict[str, X], a bare {"type": "object"}): strict mode can't say it.
                if self.api:
                    raise NotStrict
                if isinstance(extra, dict):
                    node["additionalProperties"] = self.node(extra)
            return
        if extra is None:
            node["additionalProperties"] = False
        elif extra is not False:
            if self.api:
                raise NotStrict  # pydantic's extra="allow"
            if isinstance(extra, dict):
                node["additionalProperties"] = self.node(extra)
        required: list[str] = []
        for key, sub in props.items():
            # The marker stays until the end: an inlined $ref walks these properties again.
            omittable = isinstance(sub, dict) and sub.get(OMITTABLE_KEY) is True
            if isinstance(sub, dict):
                props[key] = self.node(sub)
            if self.api or not omittable:
                required.append(key)
        node["required"] = required


def _resolve(root: Mapping[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#"):
        raise ValueError(f"only local $refs are supported, got {ref!r}")
    target: Any = root
    for part in ref[1:].split("/")[1:] if ref != "#" else ():
        target = target[part.replace("~1", "/").replace("~0", "~")]
    if not isinstance(target, dict):
        raise ValueError(f"$ref {ref!r} does not point to a schema object")
    return target
