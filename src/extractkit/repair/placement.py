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

__all__ = ["Opened", "ambiguous_close", "declared", "find_target", "misplaced"]

#: One reopened container: the container, its schema node and its key (or index) in its parent.
Opened = tuple[dict[str, Any] | list[Any], SchemaNode | None, str | int | None]


def find_target(
    value: Any,
    node: SchemaNode | None,
    pkey: str | int | None,
    key: str,
    *,
    any_object: bool,
    open_ok: bool = True,
) -> list[Opened] | None:
    """The containers to reopen, outermost first, so that ``key`` lands in the last one.

    The shallowest object that declares ``key`` (and lacks it) takes it; failing that,
    with ``open_ok``, the shallowest whose schema is open (``dict[str, X]``); failing that,
    with ``any_object``, the shallowest object.

    Args:
        value: The value that closed just before ``key`` (the top of the candidate chain).
        node: ``value``'s schema node.
        pkey: ``value``'s key or index in its parent (for paths).
        key: The stray key.
        any_object: Fall back to the shallowest object when no object may hold ``key``.
        open_ok: Let an object whose schema is open take ``key`` when none declares it.

    Returns:
        The chain ending at the object that takes ``key``, or ``None`` when there is none.
    """
    chain: list[Opened] = []
    first: int | None = None
    open_at: int | None = None
    while True:
        if type(value) is dict:
            chain.append((value, node, pkey))
            if key not in value and node is not None:
                accepted = node.accepts(key)
                if accepted is True:
                    return chain
                if accepted is None and open_ok and open_at is None:
                    open_at = len(chain)
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
    if open_at is not None:
        return chain[:open_at]
    if any_object and first is not None:
        return chain[:first]
    return None


def declared(chain: list[Opened], key: str) -> bool:
    """Whether the object a :func:`find_target` chain ends at declares ``key`` in its schema."""
    node = chain[-1][1]
    return node is not None and node.accepts(key) is True


def misplaced(
    value: Any, node: SchemaNode | None, owners: list[SchemaNode] | None = None, *, open_ok: bool = False
) -> bool:
    """Whether a parsed value has a member the schema puts in another object.

    Either an object that closed before the member (the model closed it early), or an
    object further out (the model forgot a close, and the C scanner read the member into
    the inner object). Costs one set comparison per object when nothing is out of
    place. When this is ``True`` the engine reads the text token by token instead of
    trusting the C scanner's structure, and the closes in the text decide.

    Args:
        value: A parsed JSON value.
        node: Its schema node.
        owners: The schema nodes of the objects the value sits in, outermost first (used
            as a stack while the value is walked).
        open_ok: Count an earlier object whose schema is open as a place for a foreign
            member too (inside broken text, where the closes that follow may show an early
            close; a valid answer shows none).
    """
    if node is None:
        return False
    kind = type(value)
    if kind is dict:
        props = node.props
        if props is not None and node.closed and not value.keys() <= props:
            previous: str | None = None
            for key in value:
                if key not in props:
                    if owners and any(owner.accepts(key) is True for owner in owners):
                        return True
                    if previous is not None:
                        # Only where the schema declares the key: a valid answer shows no early close.
                        chain = find_target(
                            value[previous],
                            node.child(previous),
                            previous,
                            key,
                            any_object=False,
                            open_ok=open_ok,
                        )
                        if chain is not None:
                            return True
                previous = key
        if owners is None:
            owners = []
        owners.append(node)
        try:
            for key, child in value.items():
                if (type(child) is dict or type(child) is list) and misplaced(
                    child, node.child(key), owners, open_ok=open_ok
                ):
                    return True
        finally:
            owners.pop()
        return False
    if kind is list:
        sub = node.item()
        if sub is None:
            return False
        for child in value:
            if (type(child) is dict or type(child) is list) and misplaced(
                child, sub, owners, open_ok=open_ok
            ):
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
