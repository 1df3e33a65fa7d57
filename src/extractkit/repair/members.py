"""Where a member goes: the key placement decisions of the repair engine.

:class:`MemberPlacer` decides which object a key belongs to when the text does not
put it there plainly: an object that closed too early and is reopened, an object
further out whose close was forgotten, an object whose opening brace is missing,
or a Python set read as an array. Where a break fits more than one reading, the
closes that follow in the text decide (``_reading``); where they do not, the value
is marked lossy. The state it works on lives in :mod:`extractkit.repair.state`.
"""

from __future__ import annotations

import re
from typing import Any, Final, cast

from extractkit.repair.lexing import skip_space
from extractkit.repair.placement import Opened, ambiguous_close, declared, find_target
from extractkit.repair.state import S_AFTER, S_COLON, S_VALUE, EngineState, Frame

__all__ = ["MemberPlacer", "Open", "chain_opens", "opens"]

_WS: Final = skip_space
# Brackets outside strings (double- or single-quoted), to find the close that comes next.
_STRUCTURE: Final = re.compile(r""""[^"\\]*(?:\\.[^"\\]*)*"|'[^'\\\n]*(?:\\.[^'\\\n]*)*'|[{}\[\]]""")
_KEY_NEXT: Final = re.compile(
    r"""(?:"(?:[^"\\\n]|\\.){0,200}"|'(?:[^'\\\n]|\\.){0,200}'|[\w$][\w$.\-]*)[ \t\r\n]*:"""
).match
_VALUE_NEXT: Final = frozenset("\"'{[-+.0123456789tfnNTF(")
_REACH: Final = 65536  # how far the first close after a break is looked for


class MemberPlacer(EngineState):
    """The key placement half of the parse state (see the module docstring)."""

    def _key(self, key: str, pos: int) -> None:
        """A key ending at ``pos`` was read in the innermost object: decide which object it
        belongs to."""
        stack = self.stack
        f = stack[-1]
        f.comma = False
        node = f.node
        if f.reopened:
            if (node is not None and node.accepts(key) is False) or key in f.c:
                i = len(stack) - 2
                while i >= 0:
                    g = stack[i]
                    gnode = g.node
                    if not g.is_list and gnode is not None and gnode.accepts(key) is True and key not in g.c:
                        while len(stack) > i + 1:
                            if stack.pop().reopened:
                                self.debt -= 1
                        f = g
                        break
                    if not g.reopened:
                        break
                    i -= 1
        elif node is not None:
            accepted = node.accepts(key)
            if accepted is False or (accepted is True and key in f.c):
                chain = None
                last = f.last
                if last is not None:
                    chain = find_target(f.c[last], node.child(last), last, key, any_object=False)
                if chain is not None and not declared(chain, key):
                    # Only an open object (dict[str, X]) may take the key: the schema alone does
                    # not say it closed early; the closes in the rest of the text must.
                    here = opens(stack, len(stack))
                    if self._reading(pos, [here, here + chain_opens(chain)]) != 1:
                        chain = None
                if chain is not None:
                    assert last is not None
                    if ambiguous_close(f.c[last], node.child(last)):
                        # An object inside may be the one that closed early, as well.
                        self.lose("ambiguous_close", pos, key)
                    f = self._reopen(chain)
                elif accepted is False:
                    f = self._close_to_owner(key, pos)
        if key in f.c:
            # A second value for a key: one of the two would be lost, and a misread string
            # (a quote read as text) is the usual way to get here.
            self.lose("duplicate_key", pos, key)
        f.key = key
        self.state = S_COLON

    def _close_to_owner(self, key: str, pos: int) -> Frame:
        """``{"address": {"city": "Porto", "tags": [...]}``: the object is foreign to ``key``, an
        object further out declares it. Its close was forgotten when the closes in the rest of
        the text say so (they count one close fewer per container closed here)."""
        stack = self.stack
        for i in range(len(stack) - 2, -1, -1):
            g = stack[i]
            if not g.is_list and g.node is not None and g.node.accepts(key) is True and key not in g.c:
                if self._reading(pos, [opens(stack, len(stack)), opens(stack, i + 1)]) == 1:
                    while len(stack) > i + 1:
                        self._implicit_close(pos)
                    return g
                break
        return stack[-1]

    def _reading(self, pos: int, readings: list[list[Open]]) -> int | None:
        """Which of several readings of a break the text after ``pos`` confirms.

        Each reading leaves some containers open at ``pos`` (innermost last). The text after
        it shows the order they close in: each close that ends one of them must be its
        bracket, and what follows the close must fit the container it sits in (a comma and
        a key in an object, a comma and a value or ``]`` in an array, nothing at the end).
        Readings are dropped as the text contradicts them; the answer is the one left.
        Returns its index, or ``None`` when none or several fit (or while streaming, when
        the rest has not arrived). Costs the text up to where the readings part, which is
        usually the first close.
        """
        if not self.final:
            self.unsure = True  # decided without the rest: finishing a stream re-reads the whole
            return None
        alive = {i: list(r) for i, r in enumerate(readings)}
        text = self.text
        n = len(text)
        depth = 0
        for match in _STRUCTURE.finditer(text, pos, min(n, pos + _REACH)):
            c = match.group()
            if c == "{" or c == "[":
                depth += 1
                continue
            if c != "}" and c != "]":
                continue
            if depth:
                depth -= 1
                continue
            seen = _context(text, match.end())
            for i, left in list(alive.items()):
                if not left or left.pop()[0] != c:
                    del alive[i]
                    continue
                want = "$" if not left else "a" if left[-1][1] else "o"
                if seen != "?" and seen != want:
                    del alive[i]
            if len(alive) <= 1 or seen == "$":
                break
        else:
            if pos + _REACH < n:
                return None  # no answer within reach
        if len(alive) != 1:
            return None
        (index,) = alive
        return index

    def _reopen(self, chain: list[Opened]) -> Frame:
        self.act("reopened_object_closed_early")
        for container, node, pkey in chain:
            frame = Frame(
                container, node, pkey, reopened=True, parent_end=self.stack[-1].end if self.stack else ""
            )
            if type(container) is dict and container:
                frame.last = next(reversed(container))
            self.stack.append(frame)
        self.debt += len(chain)
        return self.stack[-1]

    def _array_key(self, pos: int) -> int:
        """A string then a colon in an array: the string was a key. Whose?

        * ``[{"city": "Paris"}, "country": ...``: the object that closed just before it;
        * ``{"a": [1, 2, "b": 4}``: the object around an array the model never closed;
        * ``["key": "value"}]``: an object whose opening brace is missing.

        When more than one reading is possible, the one the closes in the rest of the text
        fit is taken, else the one whose schema declares the key; else the value is lossy.
        """
        stack = self.stack
        f = stack[-1]
        items = f.c
        if not self.arr_str or self.arr_inner or not items or f.end != "]":
            return -2  # a "key" with quotes read as text inside it is a misread string
        key = items.pop()
        node = f.node.item() if f.node is not None else None
        here = opens(stack, len(stack))
        # (reading, whether the schema declares the key there, what is open then)
        options: list[tuple[str, bool, list[Open]]] = []
        chain = None
        if items:
            chain = find_target(items[-1], node, len(items) - 1, key, any_object=node is None)
            if chain is not None:
                options.append(("reopen", declared(chain, key), here + chain_opens(chain)))
        parent = stack[-2] if len(stack) > 1 and not stack[-2].is_list else None
        if parent is not None and key not in parent.c:
            up = parent.node.accepts(key) if parent.node is not None else None
            if up is not False:
                options.append(("up", up is True, here[:-1]))
        if not items and (node is None or node.is_object):
            brace = node.accepts(key) if node is not None else None
            if brace is not False:
                options.append(("brace", brace is True, [*here, ("}", False)]))
        if not options:
            items.append(key)
            return -2
        choice = options[0]
        if len(options) > 1:
            fit = self._reading(pos, [o[2] for o in options])
            known = [o for o in options if o[1]]
            if fit is not None:
                choice = options[fit]
            elif len(known) == 1:
                choice = known[0]
            else:
                self.lose("ambiguous_close", pos, key)  # the text does not say which
        if choice[0] == "up":
            self._implicit_close(pos)
            self._key(key, pos)
            return pos  # the colon is read in the parent
        if choice[0] == "brace":
            self.act("inserted_missing_open_brace")
            self._open(False, pos)
            self.stack[-1].key = key
            self.state = S_VALUE
            return pos + 1
        assert chain is not None
        if ambiguous_close(items[-1], node):
            self.lose("ambiguous_close", pos, key)
        self._reopen(chain).key = key
        self.state = S_VALUE
        return pos + 1

    def _fresh_set(self) -> bool:
        """``{'a', 'b'}``: a Python set. An object that has only just opened, whose first
        "key" is followed by a comma, becomes an array (where the schema allows one)."""
        f = self.stack[-1]
        if not self._to_array((f.key,)):
            return False
        self.arr_str = False
        self.state = S_AFTER
        return True

    def _to_array(self, items: tuple[Any, ...]) -> bool:
        """Turn the innermost object, which has only just opened, into an array of ``items``."""
        stack = self.stack
        f = stack[-1]
        if f.c or f.reopened or f.doubled or f.last is not None:
            return False
        if f.node is not None and not f.node.is_array:
            return False
        array = list(items)
        f.key = None
        if len(stack) > 1:
            stack[-2].c[cast("Any", f.pkey)] = array
        else:
            cur = self.cur
            assert cur is not None
            cur.value = array
        f.c = array
        f.is_list = True  # f.end stays "}"
        f.close_at = 3 + f.close_at % 3
        self.act("converted_tuple_or_set")
        return True

    def _reopen_root(self) -> bool:
        cur = self.cur
        key = self.trail_key
        assert cur is not None and key is not None
        chain = find_target(cur.value, self.node, None, key, any_object=True)
        if chain is None:
            return False
        if ambiguous_close(cur.value, self.node):
            # The close before the key may be the root's, or that of any object in it that a
            # member after it could belong to: the counts of closes fit either reading.
            self.lose("ambiguous_close", self.pos, key)
        self._reopen(chain).key = key
        cur.closed = False
        self.state = S_VALUE
        return True


#: A container open at some point: the bracket that closes it, and whether it is an array.
Open = tuple[str, bool]


def opens(stack: list[Frame], depth: int) -> list[Open]:
    """The containers ``stack[:depth]`` as :data:`Open`, outermost first."""
    return [(f.end, f.is_list) for f in stack[:depth]]


def chain_opens(chain: list[Opened]) -> list[Open]:
    """The containers a reopening chain would open, outermost first."""
    return [("}" if type(c) is dict else "]", type(c) is list) for c, _, _ in chain]


def _context(text: str, at: int) -> str:
    """What follows a close at ``at``: ``a`` inside an array (``]`` or a comma and a value),
    ``o`` inside an object (``}`` or a comma and a key), ``$`` after the JSON, ``?`` unknown."""
    at = _WS(text, at).end()
    if at >= len(text):
        return "$"
    d = text[at]
    if d == "]" or d == ")":
        return "a"
    if d == "}":
        return "o"
    if d == ",":
        at = _WS(text, at + 1).end()
        if _KEY_NEXT(text, at):
            return "o"
        return "a" if at < len(text) and text[at] in _VALUE_NEXT else "?"
    return "$"  # prose, a fence, another value: the JSON ended
