"""The engine as the streaming parser drives it: whole containers by the C scanner.

Reading a stream token by token in Python costs far more than the stdlib's C
scanner costs for the same text. So, past the first :data:`LIVE` characters of
the JSON, the streaming engine does not walk into a container that has begun but
not ended: it stops before it (:data:`~extractkit.repair.engine.WAIT`) and waits.
:class:`~extractkit.repair.stream.StreamingParser` lets chunks pass meanwhile,
without calling the engine, and gives it what came every :data:`LOOK_EVERY`
characters, or sooner when a chunk ends with a closing bracket (as the last chunk
of an answer does). The engine then reads every container that has ended with the
C scanner — a run of them in an array in one call — and waits again before the
one still open. A container that turns out broken is walked token by token, in
one go rather than chunk by chunk; one still open after :data:`WAIT_LIMIT`
characters is walked into as it arrives (its own children are waited for in
turn). So the value shown is never more than about :data:`WAIT_LIMIT` characters
behind the text, and it stays honest: a container appears whole, or as far as the
token walk has read it; parts that are complete never change.

Whether a container has ended is told by counting its brackets. Brackets inside
strings (code, templates) can hide an end from that count: it then shows at the
limit, except when a chunk may end the answer, where strings are left out of the
count so that the value shown after the last chunk is complete.

Work stays linear: a look reads at most the container waited for (under
:data:`WAIT_LIMIT` characters) and what came since, and failed C scans draw on a
budget linear in the text, as in a one-shot repair.
"""

from __future__ import annotations

import re
from typing import Any, Final

from extractkit.repair.engine import WAIT, Engine
from extractkit.repair.lexing import scan_container, skip_space
from extractkit.repair.placement import misplaced
from extractkit.repair.schema import SchemaNode
from extractkit.repair.state import S_AFTER, S_VALUE

__all__ = ["LIVE", "LOOK_EVERY", "WAIT_LIMIT", "StreamEngine"]

#: The first this many characters of the JSON are shown as they arrive, token by token.
LIVE: Final = 256
#: A container is waited for until its end arrives or it is this many characters long.
WAIT_LIMIT: Final = 1024
#: While waiting, the parser looks whether the container has ended at least this often.
LOOK_EVERY: Final = 512
_CUT_NEAR: Final = 12  # a C error this close to the end of the text is the text ending
_C_MISSES: Final = 4  # as in the engine: siblings in a row the C scanner failed on
_WS: Final = skip_space
_SPACE: Final = " \t\r\n"
# A string, or one the text cuts off (matched to the end, so that no quote escaped inside
# it starts another attempt: that would cost the square of its length).
_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.S)


def _has_ended(text: str, pos: int, opener: str, closer: str, *, strings: bool = False) -> bool:
    """Whether the container opening at ``text[pos]`` may have ended in ``text``.

    It has if its brackets balance at some closing bracket. Brackets inside strings
    (code, templates) can hide an end from a plain count; with ``strings`` the count
    leaves double-quoted strings out, which costs a pattern pass over the text.
    """
    last = text.rfind(closer, pos)
    if last < 0:
        return False
    if text.count(opener, pos, last) <= text.count(closer, pos, last + 1):
        return True
    if not strings:
        return False
    bare = _STRING.sub("", text[pos : last + 1])
    last = bare.rfind(closer)
    return last >= 0 and bare.count(opener, 0, last) <= bare.count(closer, 0, last + 1)


class StreamEngine(Engine):
    """An :class:`Engine` (``final=False``) that waits for containers to end.

    Args:
        text: The text so far.
        pos: Where the JSON starts in it.
        node: The schema node of the root value.

    Attributes:
        waiting: Whether the engine stopped to wait for more text (before a container,
            or between two values of an array).
        wait_room: How many more characters before it reads on anyway.
        thorough: Whether a container's end is also looked for behind brackets inside
            strings (set while a chunk that may end the answer is read, so that the value
            shown then is complete).
    """

    def __init__(self, text: str, pos: int, node: SchemaNode | None) -> None:
        super().__init__(text, pos, node, final=False, multiple=False)
        self.total = len(text)  # characters fed so far, the first text included
        self.start = pos
        self.waiting = False
        self.wait_room = 0
        self.thorough = False

    def feed(self, chunk: str) -> bool:
        """Append text and parse on. Returns whether the run is complete."""
        self.total += len(chunk)
        # Failed C attempts share a budget linear in the text, as in a one-shot repair.
        self.c_budget += 8 * len(chunk)
        self.waiting = False
        return super().feed(chunk)

    def snapshot(self, whole: bool = False) -> Any:
        """The value now; with ``whole``, a partial string over 16 KB shows whole too."""
        if whole:
            self.s_shown = 0
        return super().snapshot()

    def resume(self, chunk: str) -> None:
        """Feed ``chunk`` while waiting.

        The common case — a run of containers in an array, each read whole by the C
        scanner — is handled here, without the general parse loop.
        """
        stack = self.stack
        if not self.waiting or not stack or not stack[-1].is_list:
            self.feed(chunk)
            return
        size = len(chunk)
        self.total += size
        self.c_budget += 8 * size
        self.waiting = False
        text = self.text[self.pos :] + chunk
        n = len(text)
        self.text = text
        self.c_fail_pos = -1
        self.bs_from = n + 1
        f = stack[-1]
        items = f.c
        plain = f.node is None and self.c_budget > 0  # no schema to check a value against
        pos = 0
        if self.state == S_AFTER:
            pos = _WS(text, 0).end()
            if pos < n and text[pos] == ",":
                f.comma = True
                self.state = S_VALUE
                pos = _WS(text, pos + 1).end()
        while True:
            if pos >= n:
                self._wait_for_more(pos)
                return
            c = text[pos]
            if self.state != S_VALUE or (c != "{" and c != "["):
                break
            end = -1
            if plain and not f.c_misses:
                pos = self._run_of_containers(text, pos, c)
                if pos >= n:
                    self._wait_for_more(pos)
                    return
                c = text[pos]
                if c != "{" and c != "[":
                    break
            if plain and not f.c_misses and n - pos < WAIT_LIMIT:
                # The usual case, inlined: an element that has ended and is valid JSON.
                closer = "}" if c == "{" else "]"
                last = text.rfind(closer, pos)
                if last < 0:
                    # It has not ended: wait (the live start of the JSON is behind us here).
                    self.pos = pos
                    self.waiting = True
                    self.wait_room = WAIT_LIMIT - (n - pos)
                    return
                if text.count(c, pos, last) <= text.count(closer, pos, last + 1) or (
                    self.thorough and _has_ended(text, pos, c, closer, strings=True)
                ):
                    try:
                        value, end = scan_container(text, pos)
                    except (ValueError, StopIteration, RecursionError):
                        end = -1  # _container looks at it again, and decides
                    else:
                        items.append(value)
                        f.comma = False
                        self.arr_str = False
                        self.state = S_AFTER
            if end < 0:
                end = self._container(pos)
                if end == WAIT:
                    self.pos = pos
                    return
                if end == -1:
                    self._open(c == "[", pos)
                    pos += 1
                    break
            # After the container: a comma and the next one, or the end of the text so far.
            pos = end
            if pos < n and text[pos] in _SPACE:
                pos = _WS(text, pos).end()
            if pos < n and text[pos] == ",":
                f.comma = True
                self.state = S_VALUE
                pos += 1
                if pos < n and text[pos] == " ":
                    pos += 1  # the usual ", " needs no pattern
                if pos < n and text[pos] in _SPACE:
                    pos = _WS(text, pos).end()
            elif pos < n:
                break
        self.pos = pos
        self.run()

    def _run_of_containers(self, text: str, pos: int, opener: str) -> int:
        """Read the containers from ``pos`` up to the last ``},`` (or ``],``) in one C call.

        Returns where the rest starts (``pos`` when there was no such run). A ``},`` inside
        a container or a string cannot end a run: the brackets before it would not balance
        (or the C scanner would fail), and the containers are then read one by one.
        """
        closer = "}" if opener == "{" else "]"
        sep = closer + ","
        cut = text.rfind(sep, pos)
        for _ in range(2):
            if cut <= pos:
                break
            if text.count(opener, pos, cut) == text.count(closer, pos, cut + 1):
                try:
                    values, end = scan_container("[" + text[pos : cut + 1] + "]", 0)
                except (ValueError, StopIteration, RecursionError):
                    break
                if end != cut + 3 - pos:
                    break
                f = self.stack[-1]
                f.c.extend(values)
                f.comma = True
                self.arr_str = False
                return _WS(text, cut + 2).end()
            cut = text.rfind(sep, pos, cut)
        return pos

    def _wait_for_more(self, pos: int) -> None:
        """The text ends between two values of an array: wait for the next one."""
        self.pos = pos
        self.waiting = True
        self.wait_room = WAIT_LIMIT

    def _try_c(self, pos: int) -> int:
        if self.final:
            return super()._try_c(pos)
        return self._container(pos)

    def _container(self, pos: int) -> int:
        """A container starts at ``pos``: read it whole, walk into it (-1), or wait for it (WAIT)."""
        text = self.text
        n = len(text)
        span = n - pos
        opener = text[pos]
        closer = "}" if opener == "{" else "]"
        stack = self.stack
        parent = stack[-1] if stack else None
        if span < WAIT_LIMIT:
            ended = _has_ended(text, pos, opener, closer, strings=self.thorough)
        else:
            ended = True  # waited long enough: whether it has ended, the C scanner tells
        cut = False
        if ended:
            if self.c_budget <= 0:
                return -1  # the C scanner failed too often on this answer: walk it
            if parent is not None and parent.c_misses >= _C_MISSES and parent.c_misses % _C_MISSES:
                parent.c_misses += 1  # its siblings were all broken: walk it, all at once
                return -1
            try:
                value, end = scan_container(text, pos)
            except (ValueError, StopIteration, RecursionError) as exc:
                at = getattr(exc, "pos", getattr(exc, "value", None))
                # A failure costs what the scanner read: up to where it failed, or (nested past
                # the recursion limit) all of it. Failures share the budget, which keeps the
                # attempts on deeply nested text that keeps being cut off linear.
                self.c_budget -= at - pos if isinstance(at, int) and at > pos else span
                cut = isinstance(at, int) and (at >= n - _CUT_NEAR or str(exc).startswith("Unterminated"))
                if not cut or span >= WAIT_LIMIT:
                    if parent is not None and not cut:
                        parent.c_misses += 1
                    return -1  # broken (or long): the token walk reads it, from here on
            else:
                return self._place(value, pos, end)
        if parent is None or span >= WAIT_LIMIT or self.total - n + pos - self.start < LIVE:
            return -1  # the root, a long container and the start of the JSON show as they arrive
        self.waiting = True
        self.wait_room = WAIT_LIMIT - span
        return WAIT

    def _place(self, value: object, pos: int, end: int) -> int:
        """Put a container the C scanner read where it belongs; -1 to walk it instead."""
        stack = self.stack
        if stack:
            parent = stack[-1]
            parent.c_misses = 0
            node = None if parent.node is None else self._child_node()
        else:
            node = self.node
        if node is not None and misplaced(value, node, self._owners(), open_ok=True):
            return -1  # valid, but a member sits after an early close: the walk puts it back
        if stack:
            self._put(value)
            return end
        self._new_root(value, pos)
        root = self.cur
        assert root is not None
        root.end = end
        root.closed = True
        self.state = S_AFTER
        return end
