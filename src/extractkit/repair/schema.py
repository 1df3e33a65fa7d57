"""What the repair engine needs to know about a schema: which keys belong where.

The engine asks two questions while it parses: *does this object accept key K?*
and *what is the schema of the value under K (or of an array's items)?* A
:class:`SchemaNode` answers both for one place in the document. Nodes are built
lazily from a JSON Schema (``$ref``/``$defs``, ``anyOf``/``oneOf`` unions and
``allOf`` merged), so recursive schemas cost nothing until a document is deep.

Deriving the JSON Schema of a pydantic type is slow (milliseconds), and repair runs
on every extraction, so the root node is cached per schema object: by identity for
types and mappings, and by content for mappings seen for the first time (so a
fresh copy of the same schema still hits the cache).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from extractkit.exceptions import UserError

__all__ = ["SchemaNode", "schema_node"]

_Schema = Mapping[str, Any]


class SchemaNode:
    """One place in a schema: an object's known keys, its children, its array items.

    Attributes:
        props: The property names an object here declares, or ``None`` when unknown
            (an open ``dict[str, X]`` or no object schema at all).
        closed: Whether keys outside ``props`` are foreign here. Pydantic ignores
            extra keys unless told otherwise, so a missing ``additionalProperties``
            counts as closed; ``true`` or a schema makes the object open.
    """

    __slots__ = (
        "_arrays",
        "_builder",
        "_child_types",
        "_children",
        "_item",
        "_item_done",
        "_item_types",
        "_objects",
        "closed",
        "props",
    )

    def __init__(self, builder: _Builder, objects: list[_Schema], arrays: list[_Schema]) -> None:
        self._builder = builder
        self._objects = objects
        self._arrays = arrays
        self._children: dict[str, SchemaNode | None] = {}
        self._child_types: dict[str, frozenset[str] | None] = {}
        self._item: SchemaNode | None = None
        self._item_done = False
        self._item_types: frozenset[str] | bool | None = False  # False: not worked out yet
        props: set[str] = set()
        known = bool(objects)
        closed = bool(objects)
        for obj in objects:
            declared = obj.get("properties")
            if isinstance(declared, Mapping):
                props.update(declared)
            else:
                known = False
            extra = obj.get("additionalProperties", False)
            if extra is not False or "patternProperties" in obj:
                closed = False
        self.props: frozenset[str] | None = frozenset(props) if known else None
        self.closed = closed and known

    def accepts(self, key: str) -> bool | None:
        """``True`` if an object here declares ``key``, ``False`` if the key is foreign, else ``None``."""
        props = self.props
        if props is None:
            return None
        if key in props:
            return True
        return False if self.closed else None

    @property
    def is_object(self) -> bool:
        """Whether an object may stand here."""
        return bool(self._objects)

    @property
    def is_array(self) -> bool:
        """Whether an array may stand here."""
        return bool(self._arrays)

    def _child_schemas(self, key: str) -> list[_Schema] | None:
        found: list[_Schema] = []
        for obj in self._objects:
            declared = obj.get("properties")
            if isinstance(declared, Mapping) and isinstance(declared.get(key), Mapping):
                found.append(declared[key])
            else:
                extra = obj.get("additionalProperties")
                if isinstance(extra, Mapping):
                    found.append(extra)
                elif extra is not False or not isinstance(declared, Mapping):
                    return None  # anything may stand under an undeclared key here
        return found

    def child(self, key: str) -> SchemaNode | None:
        """The node for the value under ``key``, or ``None`` when nothing is known about it."""
        try:
            return self._children[key]
        except KeyError:
            pass
        found: list[_Schema] = []
        for obj in self._objects:
            declared = obj.get("properties")
            if isinstance(declared, Mapping) and isinstance(declared.get(key), Mapping):
                found.append(declared[key])
            else:
                extra = obj.get("additionalProperties")
                if isinstance(extra, Mapping):
                    found.append(extra)
        node = self._builder.node(found)
        self._children[key] = node
        return node

    def child_types(self, key: str) -> frozenset[str] | None:
        """The JSON types the value under ``key`` may have, or ``None`` when any may."""
        try:
            return self._child_types[key]
        except KeyError:
            pass
        found = self._child_schemas(key)
        types = None if not found else self._builder.types(found)
        self._child_types[key] = types
        return types

    def _item_schemas(self) -> list[_Schema]:
        found: list[_Schema] = []
        for arr in self._arrays:
            items = arr.get("items")
            if isinstance(items, Mapping):
                found.append(items)
            prefix = arr.get("prefixItems")
            if isinstance(prefix, list):
                found.extend(p for p in prefix if isinstance(p, Mapping))
        return found

    def item(self) -> SchemaNode | None:
        """The node for an array's elements, or ``None`` when nothing is known about them."""
        if not self._item_done:
            self._item = self._builder.node(self._item_schemas())
            self._item_done = True
        return self._item

    def item_types(self) -> frozenset[str] | None:
        """The JSON types an array's elements may have, or ``None`` when any may."""
        types = self._item_types
        if types is False:
            found = self._item_schemas()
            types = None if not found or len(found) < len(self._arrays) else self._builder.types(found)
            self._item_types = types
        return types  # type: ignore[return-value]

    def valid(self, value: Any) -> bool:
        """Whether ``value`` is valid against the whole schema document this node belongs to.

        Only meaningful on the root node; used to choose among readings of an ambiguous
        answer (several values, or the list of them), never on the common path.
        """
        return self._builder.valid(value)


class _Builder:
    """Resolves references against one root document and shares nodes between equal places."""

    __slots__ = ("_memo", "_merged", "_root", "_validator")

    def __init__(self, root: _Schema) -> None:
        self._root = root
        self._validator: Any = None
        self._memo: dict[tuple[int, ...], SchemaNode | None] = {}
        # Merged allOf schemas are made once per allOf list, so their ids stay valid memo keys.
        self._merged: dict[int, tuple[object, _Schema | None]] = {}

    def node(self, schemas: list[_Schema]) -> SchemaNode | None:
        if not schemas:
            return None
        branches: list[_Schema] = []
        for schema in schemas:
            self._flatten(schema, branches, 0)
        # Branches are objects of the root document, alive as long as the builder is,
        # so their ids identify a place (this is what makes recursive schemas finite).
        key = tuple(id(b) for b in branches)
        if key in self._memo:
            return self._memo[key]
        objects = [b for b in branches if _is_object(b)]
        arrays = [b for b in branches if _is_array(b)]
        node = SchemaNode(self, objects, arrays) if objects or arrays else None
        self._memo[key] = node
        return node

    def valid(self, value: Any) -> bool:
        if self._validator is None:
            from jsonschema.validators import validator_for

            try:
                self._validator = validator_for(self._root)(self._root)
            except Exception:  # a schema jsonschema cannot use: nothing can be shown valid
                self._validator = False
        if self._validator is False:
            return False
        try:
            return bool(self._validator.is_valid(value))
        except Exception:  # jsonschema raises several types for unusual schemas
            return False

    def types(self, schemas: list[_Schema]) -> frozenset[str] | None:
        """The JSON types a value matching any of ``schemas`` may have; ``None`` when any may."""
        out: set[str] = set()
        for schema in schemas:
            if not self._types(schema, out, 0):
                return None
        return frozenset(out)

    def _types(self, schema: _Schema, out: set[str], depth: int) -> bool:
        """Add the types ``schema`` allows to ``out``; ``False`` when it does not constrain them.

        An over-approximation (``allOf`` parts are joined, not intersected): a type wrongly
        allowed here only means validation, not repair, rejects the value.
        """
        if depth > 32:
            return False
        found = False
        kind = schema.get("type")
        if isinstance(kind, str):
            out.add(kind)
            found = True
        elif isinstance(kind, list):
            out.update(k for k in kind if isinstance(k, str))
            found = True
        values = schema.get("enum")
        if isinstance(values, list):
            out.update(_json_type(v) for v in values)
            found = True
        if "const" in schema:
            out.add(_json_type(schema["const"]))
            found = True
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = self._resolve(ref)
            if target is None or not self._types(target, out, depth + 1):
                return False
            found = True
        for union in ("anyOf", "oneOf"):
            options = schema.get(union)
            if isinstance(options, list):
                for option in options:
                    if not isinstance(option, Mapping) or not self._types(option, out, depth + 1):
                        return False
                found = True
        parts = schema.get("allOf")
        if isinstance(parts, list):
            for part in parts:
                if isinstance(part, Mapping) and self._types(part, out, depth + 1):
                    found = True
        if "integer" in out:
            out.add("number")
        return found

    def _flatten(self, schema: _Schema, out: list[_Schema], depth: int) -> None:
        if depth > 32:  # a reference cycle with no structure in between
            return
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = self._resolve(ref)
            if target is not None:
                self._flatten(target, out, depth + 1)
        for union in ("anyOf", "oneOf"):
            options = schema.get(union)
            if isinstance(options, list):
                for option in options:
                    if isinstance(option, Mapping):
                        self._flatten(option, out, depth + 1)
        parts = schema.get("allOf")
        if isinstance(parts, list):
            entry = self._merged.get(id(parts))
            if entry is None or entry[0] is not parts:
                pieces: list[_Schema] = []
                for part in parts:
                    if isinstance(part, Mapping):
                        self._flatten(part, pieces, depth + 1)
                entry = (parts, _merge(pieces) if pieces else None)
                self._merged[id(parts)] = entry
            if entry[1] is not None:
                out.append(entry[1])
        if _is_object(schema) or _is_array(schema):
            out.append(schema)

    def _resolve(self, ref: str) -> _Schema | None:
        if not ref.startswith("#"):
            return None  # remote references are never fetched
        target: Any = self._root
        for raw in ref[1:].split("/"):
            if not raw:
                continue
            part = raw.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or part not in target:
                return None
            target = target[part]
        return target if isinstance(target, Mapping) else None


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _is_object(schema: _Schema) -> bool:
    kind = schema.get("type")
    if kind == "object" or (isinstance(kind, list) and "object" in kind):
        return True
    return "properties" in schema or "additionalProperties" in schema


def _is_array(schema: _Schema) -> bool:
    kind = schema.get("type")
    if kind == "array" or (isinstance(kind, list) and "array" in kind):
        return True
    return "items" in schema or "prefixItems" in schema


def _merge(parts: list[_Schema]) -> _Schema:
    merged: dict[str, Any] = {}
    props: dict[str, Any] = {}
    for part in parts:
        for name, value in part.items():
            if name == "properties" and isinstance(value, Mapping):
                props.update(value)
            elif name == "additionalProperties" and merged.get(name) not in (None, False):
                continue  # one open part keeps the merged object open
            else:
                merged[name] = value
    if props:
        merged["properties"] = props
    return merged


_TYPE_CACHE: dict[Any, SchemaNode | None] = {}
_ID_CACHE: dict[int, tuple[object, SchemaNode | None]] = {}
_CONTENT_CACHE: dict[str, SchemaNode | None] = {}
_CACHE_LIMIT = 256


def schema_node(schema: Any) -> SchemaNode | None:
    """The root :class:`SchemaNode` for a pydantic type, a ``TypeAdapter`` or a JSON Schema mapping.

    Args:
        schema: A pydantic model class, any type pydantic's ``TypeAdapter`` accepts,
            a ``TypeAdapter``, a JSON Schema mapping, or ``None``.

    Returns:
        The root node, or ``None`` when the schema says nothing about objects or arrays.

    Raises:
        UserError: When no JSON Schema can be derived from ``schema``.
    """
    if schema is None:
        return None
    if isinstance(schema, Mapping):
        return _mapping_node(schema)
    try:
        return _TYPE_CACHE[schema]
    except KeyError:
        pass
    except TypeError:  # unhashable: derive every time
        return _derive(schema)
    node = _derive(schema)
    if len(_TYPE_CACHE) >= _CACHE_LIMIT:
        _TYPE_CACHE.clear()
    _TYPE_CACHE[schema] = node
    return node


def _mapping_node(schema: _Schema) -> SchemaNode | None:
    entry = _ID_CACHE.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    try:
        content = json.dumps(schema, sort_keys=True, default=_plain)
    except (TypeError, ValueError):
        content = None
    if content is not None and content in _CONTENT_CACHE:
        node = _CONTENT_CACHE[content]
    else:
        node = _Builder(schema).node([schema])
        if content is not None:
            if len(_CONTENT_CACHE) >= _CACHE_LIMIT:
                _CONTENT_CACHE.clear()
            _CONTENT_CACHE[content] = node
    if len(_ID_CACHE) >= _CACHE_LIMIT:
        _ID_CACHE.clear()
    # Holding the mapping keeps its id from being reused by another object.
    _ID_CACHE[id(schema)] = (schema, node)
    return node


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(type(value).__name__)


def _derive(schema: Any) -> SchemaNode | None:
    json_schema = getattr(schema, "json_schema", None)
    try:
        if callable(json_schema) and not isinstance(schema, type):
            document = json_schema()  # a pydantic TypeAdapter
        else:
            from pydantic import TypeAdapter

            document = TypeAdapter(schema).json_schema()
    except Exception as exc:  # pydantic raises several unrelated types here
        raise UserError(
            f"repair_json(schema=...) needs a pydantic type or a JSON Schema dict; "
            f"could not derive a JSON Schema from {schema!r}: {exc}"
        ) from exc
    if not isinstance(document, Mapping):
        raise UserError(f"repair_json(schema=...): {schema!r} did not give a JSON Schema object")
    return _Builder(document).node([document])
