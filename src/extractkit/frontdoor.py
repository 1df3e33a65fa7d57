"""The front door: extract a type from a text in one call, without writing an extractor class.

::

    import extractkit
    from pydantic import BaseModel

    class Skills(BaseModel):
        skills: list[str]

    extractkit.extract_sync("Python and SQL, some Go", Skills)            # Skills(skills=[...])
    await extractkit.extract("Python and SQL", Skills, model="openai:gpt-4o")

Behind each call is an ordinary :class:`~extractkit.Extractor` subclass made
by :meth:`Extractor.from_type <extractkit.Extractor.from_type>`: named after
the type (``Skills`` → ``SkillsExtractor``, configuration key ``skills``), so
``[extractors.skills] model = "..."`` in ``extractkit.toml`` swaps its model,
records carry its name, and everything an extractor does (repair, re-asks,
recording, fine-tuning) works the same. The built-in output types go to the
built-in extractors: ``extract_sync(text, Locations)`` is
``LocationExtractor().extract_sync(text)``, with its tuned prompts and its
offline default.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from extractkit.exceptions import UserError
from extractkit.extractor import Extractor
from extractkit.prompts import Example
from extractkit.results import Extraction

__all__ = ["extract", "extract_detailed", "extract_sync", "extractor_class"]

_classes: dict[tuple[Any, ...], type[Extractor[Any]]] = {}
_lock = threading.Lock()
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _type_name(output_type: Any) -> str:
    if isinstance(output_type, dict):
        title = output_type.get("title")
        if isinstance(title, str) and title.strip():
            return title
        raise UserError("a JSON Schema output type needs a 'title', or give name=... to from_type/extract")
    name = getattr(output_type, "__name__", None)
    if not isinstance(name, str) or name.startswith("<") or "[" in repr(output_type):
        raise UserError(
            f"cannot name an extractor after {output_type!r}: give name=... (it is the configuration key)"
        )
    return name


def _snake(name: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^a-z0-9]+", "_", words.lower()).strip("_")


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def extractor_class(
    output_type: Any,
    *,
    base: type[Extractor[Any]] = Extractor,
    name: str | None = None,
    instructions: str | None = None,
    teacher_instructions: str | None = None,
    examples: tuple[Example, ...] = (),
    default_model: str | None = None,
    max_attempts: int | None = None,
) -> type[Extractor[Any]]:
    """The Extractor subclass for ``output_type`` (see :meth:`extractkit.Extractor.from_type`)."""
    if output_type is None:
        raise UserError("from_type() needs an output type (a pydantic model, list[str], a Literal...)")
    key_name = name if name is not None else _snake(_type_name(output_type))
    if not _NAME.match(key_name):
        raise UserError(
            f"extractor name {key_name!r} must be lower case letters, digits and _ (a config key), "
            "starting with a letter"
        )
    text = instructions if instructions is not None else _default_instructions(key_name)
    if not text.strip():
        raise UserError("instructions must not be empty: give the minimal system prompt")
    try:
        cache_key: tuple[Any, ...] | None = (
            base, output_type, key_name, text, teacher_instructions, examples, default_model, max_attempts,
        )  # fmt: skip
        hash(cache_key)
    except TypeError:  # a dict schema: not hashable, so not cached
        cache_key = None
    if cache_key is not None:
        with _lock:
            found = _classes.get(cache_key)
        if found is not None:
            return found
    namespace: dict[str, Any] = {
        "output_type": output_type,
        "name": key_name,
        "instructions": text,
        "teacher_instructions": teacher_instructions,
        "examples": examples,
        "__module__": __name__,
        "__doc__": f"Extracts {key_name.replace('_', ' ')} (made by Extractor.from_type).",
    }
    if default_model is not None:
        namespace["default_model"] = default_model
    if max_attempts is not None:
        namespace["max_attempts"] = max_attempts
    made = type(f"{_camel(key_name)}Extractor", (base,), namespace)
    if cache_key is not None:
        with _lock:
            made = _classes.setdefault(cache_key, made)
    return made


def _default_instructions(name: str) -> str:
    return f"Extract the {name.replace('_', ' ')} from the text as JSON."


def _extractor_for(
    output_type: Any, instructions: str | None, name: str | None, model: str | None, options: dict[str, Any]
) -> Extractor[Any]:
    if instructions is None and name is None:
        from extractkit.extractors.location import LocationExtractor, Locations

        if output_type is Locations:
            return LocationExtractor(model, **options)
    cls = extractor_class(output_type, name=name, instructions=instructions)
    return cls(model, **options)


async def extract(
    text: str,
    output_type: Any,
    *,
    instructions: str | None = None,
    model: str | None = None,
    name: str | None = None,
    **options: Any,
) -> Any:
    """Extract an ``output_type`` value from ``text`` in one call.

    Args:
        text: The input.
        output_type: What to extract: a pydantic model, ``list[str]``, a ``Literal``, an enum...
        instructions: The system prompt (default: "Extract the <name> from the text as JSON.").
        model: A ``provider:model`` reference; default: configuration, else ``openai:gpt-4o-mini``.
        name: The configuration key (default: from the type's name: ``Skills`` → ``skills``).
        **options: Other :class:`~extractkit.Extractor` arguments (``backend=``, ``settings=``,
            ``max_attempts=``, ``temperature=``, ``store=``...).

    Returns:
        The validated value.

    Raises:
        ExtractionError: no valid output; BackendError: the model could not be reached;
        ConfigError: no model can run (for example no API key): the message names the fix.
    """
    return await _extractor_for(output_type, instructions, name, model, options).extract(text)


async def extract_detailed(
    text: str,
    output_type: Any,
    *,
    instructions: str | None = None,
    model: str | None = None,
    name: str | None = None,
    **options: Any,
) -> Extraction[Any]:
    """Like :func:`extract`, returning the value with usage, cost, latency, attempts and repairs."""
    return await _extractor_for(output_type, instructions, name, model, options).extract_detailed(text)


def extract_sync(
    text: str,
    output_type: Any,
    *,
    instructions: str | None = None,
    model: str | None = None,
    name: str | None = None,
    **options: Any,
) -> Any:
    """Blocking :func:`extract` (runs on extractkit's background event loop)."""
    return _extractor_for(output_type, instructions, name, model, options).extract_sync(text)
