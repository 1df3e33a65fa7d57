"""The repair engine's state: open containers, the values built so far, and how they end.

:class:`EngineState` holds everything the parser knows between two tokens, so the
parse can stop at the end of the text it has and resume when a chunk arrives.
It owns the structural decisions that are not about reading characters: where a
value goes, and what closing a container, meeting prose, or running out of text
means. Which object a key belongs to (reopening one that closed too early) is
decided in :mod:`extractkit.repair.members`; the token reading lives in
:mod:`extractkit.repair.strings` and :mod:`extractkit.repair.engine`.
"""

from __future__ import annotations

from typing import Any, Final, cast

from extractkit.repair.lexing import CONTROL, continues_json, decode_escapes, skip_space
from extractkit.repair.result import JsonPath
from extractkit.repair.schema import SchemaNode

__all__ = ["EngineState", "Frame", "Root"]

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


def _path(stack: list[Frame], depth: int) -> JsonPath:
    """The path of ``stack[depth - 1]``: the keys of the frames below the root."""
    return tuple(cast("str | int", f.pkey) for f in stack[1:depth])
