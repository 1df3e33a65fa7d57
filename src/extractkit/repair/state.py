"""The repair engine's state: open containers, the values built so far, and how they end.

:class:`EngineState` holds everything the parser knows between two tokens, so the
parse can stop at the end of the text it has and resume when a chunk arrives.
It owns the structural decisions that are not about reading characters: where a
value goes, which object a key belongs to (reopening one that closed too early),
and what closing a container, meeting prose, or running out of text means.
The token reading lives in :mod:`extractkit.repair.strings` and
:mod:`extractkit.repair.engine`.
"""

from __future__ import annotations

import re
from typing import Any, Final, cast

from extractkit.repair.lexing import CONTROL, continues_json, decode_escapes, skip_space
from extractkit.repair.placement import Opened, ambiguous_close, declared, find_target
from extractkit.repair.result import JsonPath
from extractkit.repair.schema import SchemaNode

__all__ = ["EngineState", "Frame", "Open", "Root", "chain_opens", "opens"]

# Parser states.
S_VALUE: Final = 0  # a value is expected (root, element, member value)
S_KEY: Final = 1  # an object key or "}" is expected
S_COLON: Final = 2  # ":" is expected after a key
S_AFTER: Final = 3  # a value just ended: "," or a close is expected
S_STRING: Final = 4  # inside a string
S_TRAIL_COMMA: Final = 5  # after the root value and a comma
S_TRAIL_COLON: Final = 6  # after the root value and a key: ":" reopens the root
S_DONE: Final = 7

# What a string is, which decides how its closing quote is recognised.
CTX_KEY: Final = 0
CTX_TRAIL: Final = 1  # after the root value: a key if a colon follows
CTX_ROOT: Final = 2
CTX_OBJ: Final = 3  # a member value
CTX_ARR: Final = 4  # an array element (may turn out to be a key)

_WS: Final = skip_space
# Brackets outside strings (double- or single-quoted), to find the close that comes next.
_STRUCTURE: Final = re.compile(r""""[^"\\]*(?:\\.[^"\\]*)*"|'[^'\\\n]*(?:\\.[^'\\\n]*)*'|[{}\[\]]""")
_KEY_NEXT: Final = re.compile(
    r"""(?:"(?:[^"\\\n]|\\.){0,200}"|'(?:[^'\\\n]|\\.){0,200}'|[\w$][\w$.\-]*)[ \t\r\n]*:"""
).match
_VALUE_NEXT: Final = frozenset("\"'{[-+.0123456789tfnNTF(")
_REACH: Final = 65536  # how far the first close after a break is looked for
_SHOW_ALL: Final = 16384  # partial strings up to this long are shown whole after every chunk
_CTRL: Final = CONTROL.search


class Frame:
    """One open container."""

    __slots__ = (
        "c",
        "c_misses",
        "close_at",
        "comma",
        "doubled",
        "end",
        "is_list",
        "key",
        "last",
        "node",
        "pkey",
        "reopened",
    )

    def __init__(
        self,
        c: Any,
        node: SchemaNode | None,
        pkey: str | int | None,
        reopened: bool = False,
        end: str = "",
        parent_end: str = "",
    ) -> None:
        self.c = c  # the dict or list being filled
        self.is_list = type(c) is list
        # The bracket that closes it: "]" or "}", or ")" for a tuple and "}" for a set read as arrays.
        self.end = end or ("]" if self.is_list else "}")
        # Which pattern of strings.CLOSE tells where a string in it ends: by its kind (object,
        # array, tuple) and where it sits (the root, nested, nested in a tuple).
        level = 0 if not parent_end else 2 if parent_end == ")" else 1
        self.close_at = 3 * ((2 if self.end == ")" else 1) if self.is_list else 0) + level
        self.node = node
        self.pkey = pkey  # key or index in the parent (None for the root)
        self.reopened = reopened
        self.key: str | None = None  # the member whose value is awaited
        self.last: str | None = None  # the last member written (candidate for reopening)
        self.comma = False  # a comma was just read
        self.doubled = 0  # "{{" opened this object
        self.c_misses = 0  # children in a row the C scanner could not read


class Root:
    """One top-level value and what it took to recover it."""

    __slots__ = ("acts", "closed", "cuts", "end", "lossy", "start", "truncated", "value")

    def __init__(self, value: Any, acts: dict[str, None], start: int) -> None:
        self.value = value
        self.acts = acts
        self.start = start
        self.end = start
        self.closed = False  # ended by its own close (not by a cut or by stray text)
        self.truncated = False
        self.cuts: list[JsonPath] = []
        # Set when the value is not what the text meant (a token that could not be placed, a
        # member that lost its value, a close that could belong to two objects): the reason,
        # where, and what was there. A lossy root is never returned as the answer.
        self.lossy: tuple[str, int, str] | None = None


class EngineState:
    """Parse state shared by the token readers.

    Args:
        text: The text (for streaming, the first chunk).
        pos: Where the first value starts.
        node: The schema node of the root value.
        final: Whether ``text`` is all there is (``False`` for streaming).
        eof_truncates: Whether running out of text means the output was cut (``False``
            when the text was limited at a closing code fence).
        multiple: Keep reading values after the first.
    """

    def __init__(
        self,
        text: str,
        pos: int,
        node: SchemaNode | None,
        *,
        final: bool = True,
        eof_truncates: bool = True,
        multiple: bool = True,
    ) -> None:
        self.text = text
        self.pos = pos
        self.node = node
        self.final = final
        self.eof_truncates = eof_truncates
        self.multiple = multiple
        self.stack: list[Frame] = []
        self.state = S_VALUE
        self.roots: list[Root] = []
        self.cur: Root | None = None
        self.acts: dict[str, None] = {}
        self.debt = 0  # frames reopened and not closed implicitly since: closes the text owes
        self.leaf: JsonPath | None = None  # path of a value the end of the text cut
        self.partial = False  # a partial string sits in the innermost container (streaming)
        self.arr_str = False  # the last array element was a string just read (maybe a key)
        self.arr_inner = False  # ... and quotes inside it were read as text
        self.trail_key: str | None = None
        self.implicit_root = False  # the root object's opening brace was missing
        # The string being read (see strings.py).
        self.s_quote = '"'
        self.s_ctx = CTX_ROOT
        self.s_parts: list[str] = []
        self.s_len = 0  # length of the decoded text in s_parts
        self.s_seg = 0  # start of the raw text not yet moved into s_parts
        self.s_scan = 0
        self.s_last = -1  # the last quote read as part of the string
        self.s_rw = -1  # s_last, when a comma precedes it (a key may start there)...
        self.s_rw_len = 0  # ...and the decoded length up to that comma
        self.s_inner = 0
        self.s_ctrl = False
        self.s_shown = 0  # how much of the partial string the last snapshot showed
        self.bs_from = len(text) + 1  # the next backslash at or after bs_from is at bs_at
        self.bs_at = -1
        # A failed C scan costs time proportional to its position (the stdlib's error counts
        # lines up to it): failures may cost at most this many characters in all.
        self.c_budget = 8 * len(text) + 4096
        self.unsure = False  # a decision needed the rest of the text before it had arrived

    def _c_failed(self, exc: BaseException) -> None:
        self.c_budget -= getattr(exc, "pos", 0) or 0

    def act(self, name: str) -> None:
        """Record an action on the current root."""
        self.acts[name] = None

    def lose(self, reason: str, pos: int, what: str = "") -> None:
        """Record that the current root is not what the text meant (the first reason counts)."""
        cur = self.cur
        if cur is not None and cur.lossy is None:
            cur.lossy = (reason, pos, what or self.text[pos : pos + 24])

    def _flush(self, end: int) -> None:
        """Move the string text read up to ``end`` (a point between escapes) into the parts."""
        start = self.s_seg
        if end <= start:
            return
        text = self.text
        if not self.s_ctrl and _CTRL(text, start, end):
            self.s_ctrl = True
            self.act("escaped_control_character")
        backslash = self._next_backslash(start)
        if backslash == -1 or backslash >= end:
            piece = text[start:end]
        else:
            # Quotes read as text can only precede the first escape of a run (see strings.py).
            decoded, kept = decode_escapes(text[backslash:end], self.s_quote)
            if kept:
                self.act("kept_invalid_escape")
            piece = text[start:backslash] + decoded
        self.s_parts.append(piece)
        self.s_len += len(piece)
        self.s_seg = end

    def _next_backslash(self, scan: int) -> int:
        """The next backslash at or after ``scan``; remembered, since most texts have few or none
        and searching to the end again for every string would be quadratic."""
        at = self.bs_at
        if scan >= self.bs_from and (at == -1 or at >= scan):
            return at
        at = self.text.find("\\", scan)
        self.bs_from = scan
        self.bs_at = at
        return at

    # ------------------------------------------------------------------ values

    def _new_root(self, value: Any, pos: int) -> None:
        if self.roots:
            self.acts = {}
        root = Root(value, self.acts, pos)
        self.roots.append(root)
        self.cur = root

    def _put(self, value: Any) -> None:
        """Store a value that has begun in the innermost container (or as the root)."""
        self.arr_str = False
        self.state = S_AFTER
        stack = self.stack
        if not stack:
            self._new_root(value, self.pos)
            return
        f = stack[-1]
        if f.is_list:
            if self.partial:
                f.c[-1] = value
            else:
                f.c.append(value)
        else:
            key = f.key
            f.c[key] = value
            f.last = key
            f.key = None
        self.partial = False
        f.comma = False

    def _child_node(self) -> SchemaNode | None:
        if not self.stack:
            return self.node
        f = self.stack[-1]
        if f.node is None:
            return None
        if f.is_list:
            return f.node.item()
        assert f.key is not None
        return f.node.child(f.key)

    def _owners(self) -> list[SchemaNode]:
        """The schema nodes of the open objects, outermost first (see ``misplaced``)."""
        return [f.node for f in self.stack if f.node is not None and not f.is_list]

    def _allows(self, kind: str) -> bool:
        """Whether the schema allows a value of JSON type ``kind`` where a value is expected now
        (``True`` when nothing is known)."""
        stack = self.stack
        if not stack:
            return True
        f = stack[-1]
        node = f.node
        if node is None:
            return True
        if f.is_list:
            types = node.item_types()
        elif f.key is not None:
            types = node.child_types(f.key)
        else:
            return True
        return types is None or kind in types

    def _open(self, is_list: bool, pos: int, end: str = "") -> None:
        stack = self.stack
        node = self._child_node()
        container: dict[str, Any] | list[Any] = [] if is_list else {}
        pkey: str | int | None = None
        if stack:
            f = stack[-1]
            pkey = len(f.c) if f.is_list else f.key
            self._put(container)
        else:
            self._new_root(container, pos)
        stack.append(Frame(container, node, pkey, end=end, parent_end=stack[-1].end if stack else ""))
        self.state = S_VALUE if is_list else S_KEY

    def _leaf_path(self) -> JsonPath:
        stack = self.stack
        path = list(_path(stack, len(stack)))
        if stack:
            f = stack[-1]
            if f.is_list:
                path.append(len(f.c) - (1 if self.partial else 0))
            else:
                assert f.key is not None
                path.append(f.key)
        return tuple(path)

    def _drop_member(self, pos: int) -> None:
        """A key met no value before ``pos`` (a close, a comma, prose): the member is lost."""
        f = self.stack[-1]
        if not f.is_list and f.key is not None:
            self.act("dropped_incomplete_member")
            self.lose("missing_value", pos, f.key)
            f.key = None

    # ------------------------------------------------------------------ keys and placement

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

    # ------------------------------------------------------------------ closing

    def _close(self, pos: int) -> int:
        stack = self.stack
        f = stack[-1]
        if f.comma:
            self.act("removed_trailing_comma")
        end = pos + 1
        if f.doubled:
            text = self.text
            nxt = _WS(text, end).end()
            if nxt >= len(text) and not self.final:
                return -1
            if nxt < len(text) and text[nxt] == "}":
                f.doubled -= 1
                end = nxt + 1
        stack.pop()
        self.state = S_AFTER
        if not stack:
            cur = self.cur
            assert cur is not None
            cur.end = end
            cur.closed = True
            self.debt = 0
            self.implicit_root = False
        return end

    def _mismatch(self, pos: int, c: str) -> int:
        """A close of the wrong kind: the container it closes is further out, or it is a typo."""
        stack = self.stack
        if len(stack) > 1 and stack[-2].end == c:
            self._implicit_close(pos)
            return pos
        self.act("fixed_mismatched_close")
        return self._close(pos)

    def _implicit_close(self, pos: int) -> None:
        """Close the innermost container the model never closed; its parent reads on."""
        f = self.stack[-1]
        if not f.is_list and f.key is not None:
            self._drop_member(pos)
        self.stack.pop()
        if f.reopened:
            self.debt -= 1  # its close was the early one
        else:
            self.act("inserted_missing_close")
        self.partial = False
        self.state = S_AFTER

    def _stop(self, pos: int) -> None:
        """Text that cannot be JSON: the value ends here, whatever is open is closed.

        That is right when prose follows a value the model forgot to close. When the JSON
        goes on after the text (a bracket closes something opened before it, or a quoted
        key follows), the text is a token that could not be placed, and the value closed
        here would be cut short: the root is marked lossy.
        """
        stack = self.stack
        if stack:
            if self.final and continues_json(self.text, pos):
                self.lose("unplaceable_token", pos)
            self._drop_member(pos)
            if len(stack) > self.debt:
                self.act("closed_unclosed_container")
            stack.clear()
            cur = self.cur
            assert cur is not None
            cur.end = pos
        self.state = S_DONE

    def _eof(self) -> None:
        """The text ended (and is final): close what is open and record what was cut."""
        stack = self.stack
        cur = self.cur
        leaf = self.leaf
        state = self.state
        self.state = S_DONE
        if cur is None:
            return
        if not stack:
            if leaf is not None and self.eof_truncates:
                cur.truncated = True  # a root string cut off
                self.act("closed_truncated")
                cur.cuts.append(leaf)
                cur.end = len(self.text)
            return
        cut = leaf is not None or state != S_AFTER or len(stack) > self.debt
        if not cut and self.implicit_root and len(stack) == 1:
            self.act("inserted_missing_close")  # "k": v, ... with neither brace, complete
        f = stack[-1]
        member: JsonPath | None = None
        if not f.is_list and f.key is not None:
            self.act("dropped_incomplete_member")
            member = (*_path(stack, len(stack)), f.key)
            f.key = None
        if cut:
            if self.eof_truncates:
                cur.truncated = True
                self.act("closed_truncated")
                for depth in range(1, len(stack) + 1):
                    cur.cuts.append(_path(stack, depth))
                if member is not None:
                    cur.cuts.append(member)
                if leaf is not None:
                    cur.cuts.append(leaf)
            else:
                self.act("closed_unclosed_container")
        stack.clear()
        cur.end = len(self.text)

    # ------------------------------------------------------------------ streaming

    def snapshot(self) -> Any:
        """The current best value of the first root, with a string being read shown as far as read.

        A partial string is a new ``str`` each time it is shown, which costs its length;
        past :data:`_SHOW_ALL` characters it is shown again only once it has grown by a
        sixteenth, so streaming one huge string stays linear (it may trail by that much).
        """
        if self.state == S_STRING and self.s_ctx >= CTX_ROOT:
            if self.s_scan > self.s_seg:
                self._flush(self.s_scan)
            length = self.s_len
            if self.partial and length > _SHOW_ALL and (length - self.s_shown) * 16 < length:
                return self.s_parts[0] if self.s_ctx == CTX_ROOT else self.roots[0].value
            value = "".join(self.s_parts)
            self.s_parts = [value]  # joined once, so the next snapshot joins two pieces
            self.s_shown = length
            if self.s_ctx == CTX_ROOT:
                self.partial = True
                return value
            f = self.stack[-1]
            if f.is_list:
                if self.partial:
                    f.c[-1] = value
                else:
                    f.c.append(value)
            else:
                f.c[f.key] = value
            self.partial = True
        return self.roots[0].value if self.roots else None


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


def _path(stack: list[Frame], depth: int) -> JsonPath:
    """The path of ``stack[depth - 1]``: the keys of the frames below the root."""
    return tuple(cast("str | int", f.pkey) for f in stack[1:depth])
