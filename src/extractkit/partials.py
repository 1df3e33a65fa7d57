"""Partial values of a streamed answer that a later one never contradicts.

The repair package's :class:`~extractkit.repair.StreamingParser` gives the best
reading of the text so far: a live value that grows in place, whose last scalar
may still be growing (``12`` before ``123``, ``"New Yo"``) and which, for a
moment, may hold what a later character re-reads (the key of a member that
arrives after its object was closed too early shows as a string item first).
:class:`PartialView` turns it into snapshots that only ever grow:

* a value is shown once something after it has been read, so it is complete;
* the one exception is a string being written as an object member's value: it is
  shown as far as it goes and its path is reported in ``in_progress`` (a later
  snapshot only extends it);
* the last value, when it is a number, ``true``/``false``/``null``, or a string
  directly inside an array, is held back until something follows it;
* completed members are copied once, so a snapshot shares them with the next one
  instead of copying the whole value for every chunk;
* every snapshot is checked against the one before it: if the parser ever re-reads
  something already shown, the view stops (``broken``) rather than contradict it.

:func:`typed_partial` builds an instance of the output type from a snapshot with
the fields not yet complete set to ``None``.
"""

from __future__ import annotations

import typing
from itertools import islice
from typing import Any

__all__ = ["PartialView", "Path", "extends", "typed_partial"]

Path = tuple[str | int, ...]

_HELD = object()  # a value not shown yet


class _Done:
    """The frozen (copied) members of one live container that are complete: all but its last."""

    __slots__ = ("keys", "live", "members", "stamp")

    def __init__(self, live: Any) -> None:
        self.live = live
        self.members: Any = {} if type(live) is dict else []
        self.keys: list[Any] = []  # for dicts: the frozen keys, in order
        self.stamp: Any = None  # the live value last frozen, to notice it changing (repairs)


class PartialView:
    """Snapshots of a streamed JSON value that only ever grow.

    Args:
        wrapped: The output travels as ``{"answer": value}``; snapshots show the value.

    Attributes:
        data: The last snapshot (``None`` before anything is shown).
        in_progress: Path in ``data`` of the string still being written, or ``None``.
        broken: The parser re-read something already shown; no more snapshots.
    """

    def __init__(self, *, wrapped: bool = False) -> None:
        self.wrapped = wrapped
        self.data: Any = None
        self.in_progress: Path | None = None
        self.broken = False
        self._done: dict[int, _Done] = {}
        self._spine: tuple[int, ...] = ()

    def update(self, live: Any) -> bool:
        """Take the parser's current value; return whether there is a new snapshot."""
        if self.broken or live is None:
            return False
        # Most chunks change nothing the parser shows (it reads a long string in steps, a
        # container when it ends): the path to the last value, with each container's
        # length and the last value's identity, tells that in a few steps.
        spine = _spine_of(live)
        if spine == self._spine:
            return False
        self._spine = spine
        data, path = self._snap(live)
        if data is _HELD:
            return False
        if self.wrapped:
            if type(data) is not dict or "answer" not in data:
                return False
            data = data["answer"]
            path = path[1:] if path else None
        if data == self.data and path == self.in_progress:
            return False
        if not extends(self.data, data, self.in_progress):
            self.broken = True
            return False
        self.data, self.in_progress = data, path
        return True

    def _snap(self, node: Any) -> tuple[Any, Path | None]:
        kind = type(node)
        if kind is dict:
            if not node:
                return {}, None
            last = next(reversed(node))
            out = dict(self._frozen(node, len(node) - 1))
            child, path = self._snap(node[last])
            if child is _HELD:
                return out, None
            out[last] = child
            return out, None if path is None else (last, *path)
        if kind is list:
            if not node:
                return [], None
            out_list: list[Any] = list(self._frozen(node, len(node) - 1))
            tail = node[-1]
            if type(tail) is str:
                return out_list, None  # an item that may yet turn out to be a key (see module doc)
            child, path = self._snap(tail)
            if child is _HELD:
                return out_list, None
            out_list.append(child)
            return out_list, None if path is None else (len(node) - 1, *path)
        if kind is str:
            return node, ()
        return _HELD, None

    def _frozen(self, node: Any, count: int) -> Any:
        """Copies of the first ``count`` members of ``node``, made once each."""
        done = self._done.get(id(node))
        if done is None or done.live is not node:
            done = self._done[id(node)] = _Done(node)
        is_dict = type(node) is dict
        have = len(done.keys) if is_dict else len(done.members)
        if have and (have > count or not _same(done.stamp, _member(node, have - 1, done, is_dict))):
            # A member frozen earlier changed or went away (a repair re-read it): start over.
            done = self._done[id(node)] = _Done(node)
            have = 0
        if have < count:
            if is_dict:
                for key, value in islice(node.items(), have, count):
                    done.members[key] = _freeze(value)
                    done.keys.append(key)
            else:
                done.members.extend(_freeze(value) for value in node[have:count])
            done.stamp = _stamp(_member(node, count - 1, done, is_dict))
        return done.members


def _spine_of(node: Any) -> tuple[int, ...]:
    marks: list[int] = []
    while True:
        kind = type(node)
        if kind is dict and node:
            marks += (id(node), len(node))
            node = node[next(reversed(node))]
        elif kind is list and node:
            marks += (id(node), len(node))
            node = node[-1]
        else:
            marks += (id(node), len(node) if kind is str else -1)
            return tuple(marks)


def _member(node: Any, index: int, done: _Done, is_dict: bool) -> Any:
    if is_dict:
        key = done.keys[index]
        return node.get(key, _HELD)
    return node[index] if index < len(node) else _HELD


def _stamp(value: Any) -> Any:
    kind = type(value)
    if kind is dict or kind is list:
        return (value, len(value))
    return (None, value)


def _same(stamp: Any, value: Any) -> bool:
    live, seen = stamp
    if live is not None:
        return live is value and len(value) == seen
    return bool(type(value) is type(seen) and value == seen)


def _freeze(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: _freeze(v) for k, v in value.items()}
    if kind is list:
        return [_freeze(v) for v in value]
    return value


def extends(old: Any, new: Any, in_progress: Path | None = None) -> bool:
    """Whether ``new`` only adds to ``old``: members, items, or text at the ``in_progress`` string."""
    if old is None or old is new:
        return True
    if in_progress == ():
        return type(new) is str and new.startswith(old)
    kind = type(old)
    if kind is dict:
        if type(new) is not dict:
            return False
        for key, value in old.items():
            other = new.get(key, _HELD)
            if other is value:
                continue
            if other is _HELD:
                return False
            below = in_progress[1:] if in_progress and in_progress[0] == key else None
            if not extends(value, other, below):
                return False
        return True
    if kind is list:
        if type(new) is not list or len(new) < len(old):
            return False
        for index, value in enumerate(old):
            other = new[index]
            if other is value:
                continue
            below = in_progress[1:] if in_progress and in_progress[0] == index else None
            if not extends(value, other, below):
                return False
        return True
    return bool(type(old) is type(new) and old == new)


def typed_partial(output_type: Any, data: Any) -> Any:
    """An instance of ``output_type`` from a partial JSON value, missing fields ``None``.

    Pydantic models (nested ones, in lists and optionals, too) are built with
    ``model_construct``: nothing is validated, so a partial value is never refused for
    what it lacks. Other types get the JSON value as it is.
    """
    from pydantic import BaseModel

    if data is None:
        return None
    if isinstance(output_type, type) and issubclass(output_type, BaseModel):
        if type(data) is not dict:
            return None
        values: dict[str, Any] = {}
        for name, info in output_type.model_fields.items():
            key = info.alias or name
            values[name] = _typed(info.annotation, data[key]) if key in data else None
        return output_type.model_construct(**values)
    return data


def _typed(annotation: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list or origin is tuple or origin is set:
        if type(data) is list and args:
            return [_typed(args[0], item) for item in data]
        return data
    if args and origin is not dict and origin is not typing.Literal:
        # Optional / Union: the first model among the options that fits a JSON object.
        for option in args:
            if type(data) is dict and isinstance(option, type) and _is_model(option):
                return typed_partial(option, data)
            if type(data) is list and typing.get_origin(option) is list:
                return _typed(option, data)
        return data
    if isinstance(annotation, type) and _is_model(annotation):
        return typed_partial(annotation, data)
    return data


def _is_model(cls: type) -> bool:
    from pydantic import BaseModel

    return issubclass(cls, BaseModel)
