"""Where a member belongs when an object was closed too early.

A fine-tuned model sometimes closes an object between two of its members and
carries on: ``{"city": "Paris"}, "country": "France"}``. The members after the
stray ``}`` belong to the object that was closed, not to its parent. This
module finds that object and puts members back, for the parser (online, as a
stray key arrives) and for values that parsed as valid JSON but whose keys sit
in the wrong object according to the schema (after the fact, in document order).

The rule, the same both ways:

* A key stays where it is written when the object there declares it (or nothing
  is known about that object), unless the key is already taken there.
* Otherwise the candidates are the values that closed just before the key: the
  previous member's value, that value's last member or element, and so on down.
  The shallowest object that declares the key (and lacks it) takes it; the
  containers on the way there are reopened.
* Once reopened, an object keeps taking the following keys until one arrives that
  it does not declare and an object further out does; that closes it again.
* In an array, or after the root value, there is no parent object to keep a key,
  so without a schema (or when no object declares the key) the shallowest object
  that just closed takes it.
"""

from __future__ import annotations

from typing import Any

from extractkit.repair.schema import SchemaNode

__all__ = ["Opened", "ambiguous_close", "find_target", "misplaced"]

#: One reopened container: the container, its schema node and its key (or index) in its parent.
Opened = tuple[dict[str, Any] | list[Any], SchemaNode | None, str | int | None]


def find_target(
    value: Any, node: SchemaNode | None, pkey: str | int | None, key: str, *, any_object: bool
) -> list[Opened] | None:
    """The containers to reopen, outermost first, so that ``key`` lands in the last one.

    Args:
        value: The value that closed just before ``key`` (the top of the candidate chain).
        node: ``value``'s schema node.
        pkey: ``value``'s key or index in its parent (for paths).
        key: The stray key.
        any_object: Fall back to the shallowest object when no object declares ``key``.

    Returns:
        The chain ending at the object that takes ``key``, or ``None`` when there is none.
    """
    chain: list[Opened] = []
    first: int | None = None
    while True:
        if type(value) is dict:
            chain.append((value, node, pkey))
            if node is not None and node.accepts(key) is True and key not in value:
                return chain
            if first is None:
                first = len(chain)
            if not value:
                break
            last: str = next(reversed(value))
            node = node.child(last) if node is not None else None
            value = value[last]
            pkey = last
        elif type(value) is list:
            chain.append((value, node, pkey))
            if not value:
                break
            pkey = len(value) - 1
            node = node.item() if node is not None else None
            value = value[-1]
        else:
            break
    if any_object and first is not None:
        return chain[:first]
    return None


def misplaced(value: Any, node: SchemaNode | None) -> bool:
    """Whether a parsed value has a member the schema puts in an object that closed before it.

    Costs one set comparison per object when nothing is out of place. When this is
    ``True`` the engine reads the text token by token instead of trusting the C
    scanner's structure, so members go back where the closes in the text say.

    Args:
        value: A parsed JSON value.
        node: Its schema node.
    """
    if node is None:
        return False
    kind = type(value)
    if kind is dict:
        props = node.props
        if props is not None and node.closed and not value.keys() <= props:
            previous: str | None = None
            for key in value:
                if key not in props and previous is not None:
                    chain = find_target(
                        value[previous], node.child(previous), previous, key, any_object=False
                    )
                    if chain is not None:
                        return True
                previous = key
        for key, child in value.items():
            if (type(child) is dict or type(child) is list) and misplaced(child, node.child(key)):
                return True
        return False
    if kind is list:
        sub = node.item()
        if sub is None:
            return False
        for child in value:
            if (type(child) is dict or type(child) is list) and misplaced(child, sub):
                return True
    return False


def ambiguous_close(value: Any, node: SchemaNode | None) -> bool:
    """Whether a stray ``}`` after ``value`` leaves it open which object closed too early.

    A ``}`` with nothing to close after a value means that one of the objects in it
    closed early, or that the ``}`` is one too many. When a member follows an object
    that could also have held it (lacks the key and, by the schema, accepts it or knows
    nothing about it), the text says nothing about where the member belongs:
    ``{"a": {"x": 1}, "y": 2}}`` is ``{"a": {"x": 1, "y": 2}}`` as much as it is the
    value read. Without such a member the stray close changes nothing.

    Args:
        value: The value that closed just before the stray ``}``.
        node: Its schema node.
    """
    kind = type(value)
    if kind is dict:
        previous: str | None = None
        for key, child in value.items():
            if previous is not None and _could_take(
                value[previous], node.child(previous) if node else None, key
            ):
                return True
            if (type(child) is dict or type(child) is list) and ambiguous_close(
                child, node.child(key) if node else None
            ):
                return True
            previous = key
        return False
    if kind is list:
        sub = node.item() if node is not None else None
        return any((type(x) is dict or type(x) is list) and ambiguous_close(x, sub) for x in value)
    return False


def _could_take(value: Any, node: SchemaNode | None, key: str) -> bool:
    """Whether ``value``, or the last value inside it, all the way down, is an object that
    could hold ``key``."""
    while True:
        if type(value) is dict:
            if key not in value and (node is None or node.accepts(key) is not False):
                return True
            if not value:
                return False
            last: str = next(reversed(value))
            node = node.child(last) if node is not None else None
            value = value[last]
        elif type(value) is list:
            if not value:
                return False
            node = node.item() if node is not None else None
            value = value[-1]
        else:
            return False
