"""The one way every command turns an EXTRACTOR argument into an extractor.

``EXTRACTOR`` is a built-in name (``location``, ``intent``) or ``module:attr``
naming your own: an :class:`~extractkit.Extractor` subclass (built with the
command's ``--model``, configuration and ``--routes``), a ready instance, or a
function returning one (both used as they are). ``module`` is imported from
the current folder too, as ``python -m`` would; ``path/to/file.py:attr`` loads a
file. Routers (:class:`~extractkit.IntentRouter` and subclasses) take their
routes from ``--routes FILE``, a JSON object ``{"key": "description", ...}``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from extractkit.exceptions import UserError

if TYPE_CHECKING:
    from extractkit.extractor import Extractor

__all__ = ["BUILTIN_EXTRACTORS", "load_extractor", "read_routes"]

BUILTIN_EXTRACTORS = {
    "location": "extractkit.extractors.location:LocationExtractor",
    "intent": "extractkit.extractors.intent:IntentRouter",
}
"""Names EXTRACTOR accepts besides ``module:attr``."""


def read_routes(path: str) -> dict[str, str]:
    """The routes in a JSON file ``{"key": "description", ...}`` (``-``: standard input).

    Raises:
        UserError: The file is missing, not JSON, or not an object of strings.
    """
    from extractkit.cli.conventions import read_text_arg

    text = read_text_arg(path, what="the routes file")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UserError(f"the routes file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise UserError(f'the routes file {path} must hold a JSON object {{"key": "description", ...}}')
    return {str(k): v for k, v in data.items()}


def _import(spec: str) -> Any:
    from extractkit.evals.config import load_object

    cwd = os.getcwd()
    if cwd not in sys.path:
        # A console script does not put the working directory on the path, but users expect
        # `myapp.extractors:Skills` to find ./myapp as `python -m` would.
        sys.path.insert(0, cwd)
    return load_object(spec, what="extractor")


def load_extractor(
    spec: str, *, routes: str | None = None, model: str | None = None, **kwargs: Any
) -> Extractor[Any]:
    """The extractor an EXTRACTOR argument names, ready to run.

    Args:
        spec: ``location``, ``intent``, ``module:attr`` or ``file.py:attr``.
        routes: Path of the routes JSON file (``-``: standard input); required for routers,
            refused for anything else.
        model: A ``provider:model`` reference for a class (``None``: its configured model).
        **kwargs: More constructor arguments for a class (``settings=``, ``store=``,
            ``prompt_variant=``, ``output_mode=``...).

    Raises:
        UserError: Unknown name, import failure, not an extractor, or routes / model
            given where they cannot be used. (ConfigError, a UserError, for import problems.)
    """
    from extractkit.extractor import Extractor
    from extractkit.extractors import IntentRouter

    target = BUILTIN_EXTRACTORS.get(spec, spec)
    if ":" not in target:
        known = ", ".join(BUILTIN_EXTRACTORS)
        raise UserError(f"unknown extractor {spec!r}: use one of {known}, or module:Class for your own")
    obj = _import(target)
    if isinstance(obj, type) and issubclass(obj, Extractor):
        if model is not None:
            kwargs["model"] = model
        if issubclass(obj, IntentRouter):
            if routes is None:
                raise UserError(f"{obj.__name__} is a router: give its routes with --routes routes.json")
            router: Extractor[Any] = obj(read_routes(routes), **kwargs)
            return router
        if routes is not None:
            raise UserError(f"--routes is only for routers; {obj.__name__} is not one")
        made: Extractor[Any] = obj(**kwargs)
        return made
    if isinstance(obj, Extractor):
        ready: Any = obj
    elif callable(obj) and not isinstance(obj, type):
        ready = obj()
    else:
        ready = None
    if not isinstance(ready, Extractor):
        raise UserError(
            f"extractor {spec!r} names {obj!r}, which is not an Extractor class, instance or factory"
        )
    if model is not None or routes is not None:
        given = "--model" if model is not None else "--routes"
        raise UserError(f"{given} works with an Extractor class; {spec!r} gives a ready extractor")
    return ready
