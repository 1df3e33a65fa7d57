"""The first validation layer: a model's answer has exactly the keys its schema asks for.

pydantic fills a missing key with its default and ignores an unknown one, so a
model answering ``{}`` or ``{"town": "Paris"}`` would pass as a plausible value.
Before pydantic builds the type, :class:`KeyCheck` walks the answer beside the
strict answer schema (see :mod:`extractkit.strict_schema`) and reports every
required key that is missing and every key the schema does not know.

Only keys are checked here; types, enums and constraints are pydantic's job
(the second layer). The schema is compiled once per output spec into a small
tree of checkers, and subschemas that constrain no keys compile to nothing, so
the walk visits only the objects and arrays that matter (a few microseconds
for a typical answer).

A union passes when one of its branches passes; when none does, the errors of
the closest branch (fewest errors) are reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["KeyCheck", "format_path"]

Path = tuple[str | int, ...]

_SCALAR_TYPES = frozenset({"string", "integer", "number", "boolean", "null"})


def format_path(path: Path) -> str:
    """``("locations", 0, "city")`` → ``locations[0].city``; the root is ``(root)``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"


class _Node:
    """A compiled subschema. ``kind`` is the JSON type it accepts (``"object"``, ``"array"``) or ``"any"``."""

    kind = "any"

    def ok(self, value: Any) -> bool:
        """The fast path: True when the keys are right (no paths, no messages)."""
        raise NotImplementedError

    def check(self, value: Any, path: Path, out: list[str]) -> None:
        """The slow path, run only after ``ok`` said no: append ``path: problem`` lines to ``out``."""
        raise NotImplementedError


class _Object(_Node):
    kind = "object"

    def __init__(self) -> None:
        self.props: dict[str, _Node | None] = {}
        self.checked: tuple[tuple[str, _Node], ...] = ()
        self.required: tuple[str, ...] = ()
        self.keys: frozenset[str] = frozenset()
        self.closed = True
        self.extra: _Node | None = None
        # Keys whose value is fixed (a Literal tag such as "kind": "cat"): they tell union branches apart.
        self.tags: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def tags_match(self, value: dict[str, Any]) -> bool:
        return not any(key in value and value[key] not in allowed for key, allowed in self.tags)

    def ok(self, value: Any) -> bool:
        if type(value) is not dict:
            return True  # not an object: pydantic reports the type
        if not (self.closed and value.keys() == self.keys):
            if self.closed and not value.keys() <= self.keys:
                return False
            for key in self.required:
                if key not in value:
                    return False
        for key, sub in self.checked:
            if key in value and not sub.ok(value[key]):
                return False
        if self.extra is not None:
            for key, item in value.items():
                if key not in self.props and not self.extra.ok(item):
                    return False
        return True

    def check(self, value: Any, path: Path, out: list[str]) -> None:
        if type(value) is not dict:
            return  # not an object: pydantic reports the type
        keys = value.keys()
        # Fast path: exactly the expected keys (the usual case for a strict schema).
        if not (self.closed and keys == self.keys):
            self._keys(value, path, out)
        for key, sub in self.checked:
            if key in value:
                sub.check(value[key], (*path, key), out)
        if self.extra is not None:
            for key, item in value.items():
                if key not in self.props:
                    self.extra.check(item, (*path, key), out)

    def _keys(self, value: dict[str, Any], path: Path, out: list[str]) -> None:
        for key in self.required:
            if key not in value:
                out.append(f"{format_path((*path, key))}: required property missing")
        if self.closed:
            expected = ", ".join(self.props) or "no properties"
            for key in value:
                if key not in self.props:
                    out.append(f"{format_path((*path, key))}: unknown property; expected {expected}")


class _Array(_Node):
    kind = "array"

    def __init__(self, items: _Node | None, prefix: tuple[_Node | None, ...]) -> None:
        self.items = items
        self.prefix = prefix

    def ok(self, value: Any) -> bool:
        if type(value) is not list:
            return True
        if not self.prefix:
            items = self.items
            if items is not None:
                for item in value:
                    if not items.ok(item):
                        return False
            return True
        n = len(self.prefix)
        for i, item in enumerate(value):
            sub = self.prefix[i] if i < n else self.items
            if sub is not None and not sub.ok(item):
                return False
        return True

    def check(self, value: Any, path: Path, out: list[str]) -> None:
        if type(value) is not list:
            return
        n = len(self.prefix)
        for i, item in enumerate(value):
            sub = self.prefix[i] if i < n else self.items
            if sub is not None:
                sub.check(item, (*path, i), out)


class _Union(_Node):
    def __init__(self, branches: tuple[_Node | None, ...], kinds: tuple[str, ...]) -> None:
        self.branches = branches
        self.kinds = kinds  # per branch: "object", "array", "scalar" (cannot hold one) or "any"

    def ok(self, value: Any) -> bool:
        kind = "object" if type(value) is dict else "array" if type(value) is list else None
        if kind is None:
            return True
        for branch, branch_kind in zip(self.branches, self.kinds, strict=True):
            if branch_kind == "scalar" or (branch_kind != "any" and branch_kind != kind):
                continue
            if branch is None or branch.ok(value):
                return True
        # No branch takes it: an error unless no branch could hold this kind of value at all.
        return not any(k == "any" or k == kind for k in self.kinds)

    def check(self, value: Any, path: Path, out: list[str]) -> None:
        kind = "object" if type(value) is dict else "array" if type(value) is list else None
        if kind is None:
            return
        best: tuple[bool, int, list[str]] | None = None
        for branch, branch_kind in zip(self.branches, self.kinds, strict=True):
            if branch_kind == "scalar" or (branch_kind != "any" and branch_kind != kind):
                continue
            if branch is None:
                return  # a branch that takes this value with no key rules
            errors: list[str] = []
            branch.check(value, path, errors)
            if not errors:
                return
            # The closest branch: one whose tag keys ("kind": "dog") match, then the fewest errors.
            obj = _object_of(branch)
            rank = (obj is None or kind != "object" or obj.tags_match(value), -len(errors), errors)
            if best is None or rank[:2] > best[:2]:
                best = rank
        if best is not None:
            out.extend(best[2])


def _object_of(node: _Node | None) -> _Object | None:
    while isinstance(node, _Ref):
        node = node.target
    if isinstance(node, _All):
        return next((p for p in map(_object_of, node.parts) if p is not None), None)
    return node if isinstance(node, _Object) else None


class _All(_Node):
    def __init__(self, parts: tuple[_Node, ...]) -> None:
        self.parts = parts

    def ok(self, value: Any) -> bool:
        return all(part.ok(value) for part in self.parts)

    def check(self, value: Any, path: Path, out: list[str]) -> None:
        for part in self.parts:
            part.check(value, path, out)


class _Ref(_Node):
    """A ``$ref``; the target is compiled once and may refer back to itself (recursive models)."""

    def __init__(self) -> None:
        self.target: _Node | None = None

    def ok(self, value: Any) -> bool:
        return self.target is None or self.target.ok(value)

    def check(self, value: Any, path: Path, out: list[str]) -> None:
        if self.target is not None:
            self.target.check(value, path, out)


def _link(node: _Node, seen: set[int]) -> _Node:
    """Replace every ``$ref`` node by its target, so the walk makes no extra call per reference.

    The result may be cyclic (a recursive model's node refers to itself), which the walk follows
    only as deep as the answer goes.
    """
    while isinstance(node, _Ref) and node.target is not None:
        node = node.target
    if id(node) in seen:
        return node
    seen.add(id(node))
    if isinstance(node, _Object):
        node.props = {k: (_link(v, seen) if v is not None else None) for k, v in node.props.items()}
        node.checked = tuple((k, _link(v, seen)) for k, v in node.checked)
        node.extra = _link(node.extra, seen) if node.extra is not None else None
    elif isinstance(node, _Array):
        node.items = _link(node.items, seen) if node.items is not None else None
        node.prefix = tuple(_link(p, seen) if p is not None else None for p in node.prefix)
    elif isinstance(node, _Union):
        node.branches = tuple(_link(b, seen) if b is not None else None for b in node.branches)
    elif isinstance(node, _All):
        node.parts = tuple(_link(p, seen) for p in node.parts)
    return node


def _fixed(schema: Any) -> tuple[Any, ...]:
    """The values a property is fixed to (``const``, or a short ``enum``), scalars only."""
    if not isinstance(schema, Mapping):
        return ()
    values = [schema["const"]] if "const" in schema else schema.get("enum")
    if not isinstance(values, list) or not values or len(values) > 16:
        return ()
    if any(isinstance(v, dict | list) or v is None for v in values):
        return ()
    return tuple(values)


class KeyCheck:
    """Checks the keys of an answer against a strict answer schema; compiled once per schema.

    Args:
        schema: A schema as produced by :func:`extractkit.strict_schema.answer_schema`.
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._root_schema = schema
        self._refs: dict[str, _Ref] = {}
        root = self._compile(schema)
        self._root = _link(root, set()) if root is not None else None

    def errors(self, value: Any) -> list[str]:
        """``path: problem`` lines for every missing and unknown key; empty when the keys are right."""
        root = self._root
        if root is None or root.ok(value):
            return []
        out: list[str] = []
        root.check(value, (), out)
        return out

    # ----------------------------------------------------------------- compiling

    def _compile(self, schema: Any) -> _Node | None:
        if not isinstance(schema, Mapping):
            return None
        parts: list[_Node] = []
        ref = schema.get("$ref")
        if isinstance(ref, str):
            node = self._ref(ref)
            if node is not None:
                parts.append(node)
        own = self._own(schema)
        if own is not None:
            parts.append(own)
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list):
                union = self._union(branches)
                if union is not None:
                    parts.append(union)
        all_of = schema.get("allOf")
        if isinstance(all_of, list):
            parts.extend(p for p in (self._compile(s) for s in all_of) if p is not None)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else _All(tuple(parts))

    def _own(self, schema: Mapping[str, Any]) -> _Node | None:
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if isinstance(props, Mapping) or extra is False or isinstance(extra, Mapping):
            obj = _Object()
            obj.props = {k: self._compile(v) for k, v in (props or {}).items()}
            obj.checked = tuple((k, v) for k, v in obj.props.items() if v is not None)
            required = schema.get("required", ())
            obj.required = tuple(k for k in required if isinstance(k, str))
            obj.keys = frozenset(obj.props)
            obj.closed = extra is False
            obj.extra = self._compile(extra) if isinstance(extra, Mapping) else None
            obj.tags = tuple((k, v) for k, v in ((k, _fixed(p)) for k, p in (props or {}).items()) if v)
            if obj.closed or obj.required or obj.checked or obj.extra is not None:
                return obj
            return None
        items = schema.get("items")
        prefix = schema.get("prefixItems")
        if isinstance(items, Mapping) or isinstance(prefix, list):
            item_node = self._compile(items)
            prefix_nodes = tuple(self._compile(s) for s in prefix) if isinstance(prefix, list) else ()
            if item_node is not None or any(p is not None for p in prefix_nodes):
                return _Array(item_node, prefix_nodes)
        return None

    def _union(self, branches: list[Any]) -> _Node | None:
        nodes = tuple(self._compile(b) for b in branches)
        if all(n is None for n in nodes):
            return None
        kinds = tuple(self._kind(b, n) for b, n in zip(branches, nodes, strict=True))
        return _Union(nodes, kinds)

    def _kind(self, schema: Any, node: _Node | None) -> str:
        if node is not None:
            target = node.target if isinstance(node, _Ref) else node
            if target is not None and target.kind != "any":
                return target.kind
        if not isinstance(schema, Mapping):
            return "any"
        if isinstance(schema.get("$ref"), str):
            return self._kind(self._lookup(schema["$ref"]), None)
        types = schema.get("type")
        if isinstance(types, str):
            types = [types]
        if isinstance(types, list) and types:
            if set(types) <= _SCALAR_TYPES:
                return "scalar"
            if len(types) == 1 and types[0] in ("object", "array"):
                return str(types[0])
        if "enum" in schema or "const" in schema:
            values = schema.get("enum", [schema.get("const")])
            if all(not isinstance(v, dict | list) for v in values):
                return "scalar"
        return "any"

    def _ref(self, ref: str) -> _Node | None:
        node = self._refs.get(ref)
        if node is not None:
            return node
        node = _Ref()
        self._refs[ref] = node  # before compiling the target: it may refer back to itself
        node.target = self._compile(self._lookup(ref))
        return node if node.target is not None else None

    def _lookup(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return None
        target: Any = self._root_schema
        for part in ref[1:].split("/")[1:] if ref != "#" else ():
            if not isinstance(target, Mapping):
                return None
            target = target.get(part.replace("~1", "/").replace("~0", "~"))
        return target
