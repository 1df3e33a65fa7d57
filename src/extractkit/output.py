"""Output types: JSON Schema (plain, strict, answer), the two validation layers, and the object wrapper.

An output type is anything pydantic's ``TypeAdapter`` accepts (a model, a
``Literal``, an enum, ``list[...]``) or a raw JSON Schema ``dict``. Everything
derived from it is computed once and cached in an :class:`OutputSpec`.

A model's answer is validated in two layers, both on by default:

1. **Keys** (:mod:`extractkit.keycheck`): the answer has exactly the keys of
   the strict schema the model was given: every property present, none
   unknown. pydantic's defaults never stand in for a key the model left out.
2. **Values**: pydantic (or jsonschema, for a raw schema) builds the type.

An extractor opts out per field (:data:`~extractkit.strict_schema.Omittable`)
or per class (``strict_output = False``: pydantic alone, as in pydantic).

Structured-output APIs want a JSON *object* at the root, so a non-object type
(``Literal["a", "b"]``, ``list[str]``) is wrapped as ``{"answer": <value>}`` on
the wire and unwrapped before validation. Training files use the same wrapper,
so a fine-tuned model answers exactly what the extractor parses. A bare answer
that is not an object (``"positive"`` instead of ``{"answer": "positive"}``)
can only mean the answer, so it is wrapped and the fix is recorded
(``wrapped_bare_answer``); a bare object is never guessed at.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from extractkit.exceptions import UserError
from extractkit.keycheck import KeyCheck, format_path
from extractkit.strict_schema import (
    OMITTABLE_KEY,
    Omittable,
    answer_schema,
    strip_markers,
    to_strict_schema,
)

__all__ = [
    "WRAPPER_KEY",
    "Omittable",
    "OutputSpec",
    "ValidationFailure",
    "output_spec",
    "to_strict_schema",
]

WRAPPER_KEY = "answer"
BARE_ANSWER_ACTION = "wrapped_bare_answer"


class ValidationFailure(Exception):
    """Raised by :meth:`OutputSpec.validate`; ``errors`` is a compact, model-readable list."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True, eq=False)
class OutputSpec:
    """Everything derived from one output type, computed once.

    Attributes:
        output_type: The type (or raw JSON Schema dict) given by the extractor.
        name: A schema name safe for APIs (``[a-zA-Z0-9_-]{1,64}``).
        schema: The type's own JSON Schema (wrapped if needed), as pydantic writes it.
        strict_schema: The OpenAI strict-mode form sent in ``json_schema`` and
            ``tools`` modes, or ``None`` when the type cannot be expressed
            strictly (free-form dicts).
        answer_schema: What an answer is validated against and what prompts
            show: the strict form with free-form objects left open and
            omittable keys optional (``schema`` itself when ``strict`` is off).
        wrapped: Whether the value travels as ``{"answer": value}``.
        strict: Whether the key layer is on (``Extractor.strict_output``).
    """

    output_type: Any
    name: str
    schema: Mapping[str, Any]
    strict_schema: Mapping[str, Any] | None
    answer_schema: Mapping[str, Any]
    wrapped: bool
    strict: bool
    _adapter: TypeAdapter[Any] | None
    _json_validator: Any
    _keys: KeyCheck | None
    _loose_keys: list[KeyCheck] = field(default_factory=list)

    def schema_text(self) -> str:
        """The answer schema as compact JSON, for prompts."""
        return _compact(self.answer_schema)

    def validate(self, value: Any, *, missing_ok: bool = False) -> Any:
        """Validate a parsed JSON value; unwrap it; return the typed value.

        Args:
            value: The answer as a JSON value.
            missing_ok: Let missing keys take their defaults (for hand-written
                expected values in eval cases, never for model answers).
                Unknown keys are still errors.

        Raises:
            ValidationFailure: with a compact list of ``path: problem`` lines.
        """
        return self.check(value, missing_ok=missing_ok)[0]

    def check(self, value: Any, *, missing_ok: bool = False) -> tuple[Any, tuple[str, ...]]:
        """Like :meth:`validate`, also returning the fixes applied (``("wrapped_bare_answer",)``).

        Raises:
            ValidationFailure: with a compact list of ``path: problem`` lines.
        """
        actions: tuple[str, ...] = ()
        if self.wrapped and type(value) is not dict:
            # A bare scalar or list can only be the answer itself; a bare object could be anything.
            value = {WRAPPER_KEY: value}
            actions = (BARE_ANSWER_ACTION,)
        keys = self._keys if not missing_ok else self._loose()
        key_errors = keys.errors(value) if keys is not None else []
        if self.wrapped:
            if type(value) is not dict or WRAPPER_KEY not in value:
                raise ValidationFailure(key_errors or [f"{WRAPPER_KEY}: required property missing"])
            inner = value[WRAPPER_KEY]
        else:
            inner = value
        try:
            typed = self._typed(inner)
        except ValidationFailure as exc:
            if not key_errors:
                raise
            # One re-ask should fix everything: the type errors of the keys that are there too.
            seen = {line.split(":", 1)[0] for line in key_errors}
            more = [e for e in exc.errors if e.split(":", 1)[0] not in seen]
            raise ValidationFailure((key_errors + more)[:10]) from None
        if key_errors:
            raise ValidationFailure(key_errors[:10])
        return typed, actions

    def _typed(self, inner: Any) -> Any:
        if self._adapter is not None:
            try:
                return self._adapter.validate_python(inner)
            except ValidationError as exc:
                raise ValidationFailure(_pydantic_errors(exc, self.wrapped)) from None
        errors = sorted(self._json_validator.iter_errors(inner), key=lambda e: list(e.absolute_path))
        if errors:
            raise ValidationFailure([_jsonschema_error(e, self.wrapped) for e in errors[:10]])
        return inner

    def _loose(self) -> KeyCheck | None:
        if not self.strict:
            return None
        if not self._loose_keys:
            self._loose_keys.append(KeyCheck(_without_required(self.answer_schema)))
        return self._loose_keys[0]

    def dump(self, value: Any) -> Any:
        """The JSON-able form of a typed value, wrapped as the model emits it."""
        # By alias: the keys of the schema the model sees (and of training answers) are the aliases.
        plain = (
            self._adapter.dump_python(value, mode="json", by_alias=True)
            if self._adapter is not None
            else value
        )
        return {WRAPPER_KEY: plain} if self.wrapped else plain

    def dump_json(self, value: Any) -> str:
        """Canonical compact JSON of a typed value (the assistant message in training files)."""
        return json.dumps(self.dump(value), ensure_ascii=False, separators=(",", ":"))


def _compact(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":"))


def _loc(loc: tuple[int | str, ...], wrapped: bool) -> str:
    return format_path((WRAPPER_KEY, *loc) if wrapped else loc)


def _pydantic_errors(exc: ValidationError, wrapped: bool) -> list[str]:
    out = []
    for err in exc.errors(include_url=False)[:10]:
        # Literal/enum messages list the allowed values, which is what a re-ask needs.
        given = err.get("input")
        shown = json.dumps(given, ensure_ascii=False, default=str)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        out.append(f"{_loc(tuple(err['loc']), wrapped)}: {err['msg']} (got {shown})")
    return out


def _jsonschema_error(err: Any, wrapped: bool) -> str:
    return f"{_loc(tuple(err.absolute_path), wrapped)}: {err.message}"


def _schema_name(output_type: Any) -> str:
    raw = getattr(output_type, "__name__", None) or "output"
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in str(raw))[:64]
    return name or "output"


def _without_required(node: Any) -> Any:
    """A copy of an answer schema in which no key is required (eval cases' shorthand)."""
    if isinstance(node, dict):
        return {k: (_without_required(v) if k != "required" else []) for k, v in node.items()}
    if isinstance(node, list):
        return [_without_required(v) for v in node]
    return node


def _marked_required(node: Any, path: str = "") -> list[str]:
    """Properties marked Omittable that have no default (pydantic requires them anyway)."""
    found: list[str] = []
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            required = set(node.get("required", ()))
            for key, sub in props.items():
                if isinstance(sub, dict) and sub.get(OMITTABLE_KEY) is True and key in required:
                    found.append(f"{path}{key}" if path else key)
        for key, sub in node.items():
            if key != "properties":
                found.extend(_marked_required(sub, path))
            elif isinstance(sub, dict):
                for name, prop in sub.items():
                    found.extend(_marked_required(prop, f"{path}{name}."))
    elif isinstance(node, list):
        for sub in node:
            found.extend(_marked_required(sub, path))
    return found


_cache: dict[Any, OutputSpec] = {}


def output_spec(output_type: Any, *, strict: bool = True) -> OutputSpec:
    """The cached :class:`OutputSpec` of an output type or raw JSON Schema dict.

    Args:
        output_type: A type pydantic's ``TypeAdapter`` accepts, or a JSON Schema dict.
        strict: Check answers' keys against the strict answer schema before
            pydantic (see the module docstring); ``False`` is pydantic alone.
    """
    key: Any
    if isinstance(output_type, dict):
        key = ("jsonschema", _compact(output_type), strict)
    else:
        key = (output_type, strict)
    try:
        return _cache[key]
    except (KeyError, TypeError):
        pass
    spec = _build(output_type, strict)
    try:
        _cache[key] = spec
    except TypeError:  # unhashable type expression: build each time (rare)
        pass
    return spec


def _build(output_type: Any, strict: bool) -> OutputSpec:
    adapter: TypeAdapter[Any] | None = None
    json_validator: Any = None
    if isinstance(output_type, dict):
        import jsonschema  # lazy: only raw-schema extractors pay for it

        try:
            validator_cls = jsonschema.validators.validator_for(output_type)
            validator_cls.check_schema(output_type)
        except jsonschema.SchemaError as exc:
            raise UserError(f"output_type is not a valid JSON Schema: {exc.message}") from None
        inner: dict[str, Any] = output_type
        wrapped = inner.get("type") != "object"
        name = str(inner.get("title") or "output")[:64].replace(" ", "_")
        json_validator = validator_cls(strip_markers(output_type))
    else:
        try:
            adapter = TypeAdapter(output_type)
            inner = adapter.json_schema()
        except Exception as exc:  # pydantic raises several types for unsupported annotations
            raise UserError(
                f"output_type {output_type!r} cannot be used: {exc}. Use a pydantic model, a Literal, "
                "an enum, a list of those, or a JSON Schema dict."
            ) from None
        is_model = isinstance(output_type, type) and issubclass(output_type, BaseModel)
        wrapped = not (is_model or inner.get("type") == "object")
        name = _schema_name(output_type)
    marked = _marked_required(inner)
    if marked:
        raise UserError(
            f"output_type {output_type!r}: {', '.join(marked)} marked Omittable but without a default; "
            "give the field a default (the value used when the model leaves it out) or drop the marker."
        )
    raw = _wrap(inner) if wrapped else dict(inner)
    schema = strip_markers(raw)
    answers = answer_schema(raw) if strict else schema
    return OutputSpec(
        output_type=output_type,
        name=name,
        schema=schema,
        strict_schema=to_strict_schema(raw),
        answer_schema=answers,
        wrapped=wrapped,
        strict=strict,
        _adapter=adapter,
        _json_validator=json_validator,
        _keys=KeyCheck(answers) if strict else None,
    )


def _wrap(inner: Mapping[str, Any]) -> dict[str, Any]:
    inner = dict(inner)
    defs = inner.pop("$defs", None)
    out: dict[str, Any] = {
        "type": "object",
        "properties": {WRAPPER_KEY: inner},
        "required": [WRAPPER_KEY],
        "additionalProperties": False,
    }
    if defs:
        out["$defs"] = defs
    return out
