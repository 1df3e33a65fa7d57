"""The repair parser: one pass over broken JSON, resumable between chunks.

The engine is a state machine with an explicit stack of open containers (see
:mod:`extractkit.repair.state`), so it can stop at the end of the text it has
and carry on when more arrives — this is what makes streaming linear — and so
deep nesting never meets Python's recursion limit. One-shot repair runs it once
with ``final=True``.

Speed comes from the stdlib's C scanners. At every container start the engine
first asks the C scanner for the whole container and only walks it token by
token when that fails; keys and string values go through the C string scanner.
A failed C attempt costs time proportional to its position (the stdlib's error
counts lines up to it), so failures share a budget linear in the text, and after
a few failures at one position no container starting before it is tried: a
broken document stays linear however deep or however broken.

Decisions that depend on what follows (is this quote the end of the string? is
this string a key?) look ahead a bounded number of characters; when the text
runs out first and more may come, the engine suspends instead of guessing.
"""

from __future__ import annotations

from typing import Any, Final

from extractkit.repair.lexing import (
    CONTROL,
    PLAUSIBLE_START,
    decode_escapes,
    scan_container,
    scan_string,
    skip_space,
)
from extractkit.repair.members import opens
from extractkit.repair.placement import ambiguous_close, misplaced
from extractkit.repair.scalars import KEY_AHEAD, ScalarReader, ident_start
from extractkit.repair.schema import SchemaNode
from extractkit.repair.state import (
    CTX_ARR,
    CTX_KEY,
    CTX_OBJ,
    CTX_ROOT,
    CTX_TRAIL,
    S_AFTER,
    S_COLON,
    S_DONE,
    S_KEY,
    S_STRING,
    S_TRAIL_COLON,
    S_TRAIL_COMMA,
    S_VALUE,
    Frame,
)
from extractkit.repair.strings import CLOSE, LOOKAHEAD, clean_end

__all__ = ["WAIT", "Engine"]

_SPACE: Final = " \t\r\n"
_CTRL: Final = CONTROL.search
_WS: Final = skip_space
_NUMBER_START: Final = frozenset("-+.0123456789")
_VALUE_START: Final = frozenset("\"'{[-+.0123456789")
_TRAIL_VALUE: Final = frozenset("\"'{[-0123456789")
_CURLY: Final = frozenset("\u201c\u2018")  # “ and ‘, which a model may write for " and '
_C_SAME_POS_LIMIT: Final = 4  # C attempts failing at one position before none start before it
_C_MISSES: Final = 4  # after this many siblings in a row fail, only every 4th is tried
_C_WINDOW: Final = 4096  # the first window the C scanner is given for a container
_KEEP_REWIND: Final = 512  # keys are short: an inner quote further back cannot start one
_LOOKAHEAD: Final = LOOKAHEAD
#: What :meth:`Engine._try_c` returns to stop before a container and wait for more text
#: (only the streaming engine, :mod:`extractkit.repair.stream_engine`, does).
WAIT: Final = -5


def _all_escaped(chunk: str, quote: str) -> bool:
    """Whether every ``quote`` in ``chunk`` is escaped (the text before it ends cleanly)."""
    at = chunk.find(quote)
    while at != -1:
        run = at
        while run > 0 and chunk[run - 1] == "\\":
            run -= 1
        if (at - run) % 2 == 0:
            return False
        at = chunk.find(quote, at + 1)
    return True


class Engine(ScalarReader):
    """Parses one run of JSON values from ``text[pos:]``; see :class:`EngineState` for arguments."""

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
        super().__init__(text, pos, node, final=final, eof_truncates=eof_truncates, multiple=multiple)
        self.c_fail_pos = -1
        self.c_fails = 0

    # ------------------------------------------------------------------ streaming

    def feed(self, chunk: str) -> bool:
        """Append text and parse on. Returns whether the run is complete."""
        state = self.state
        if state == S_DONE:
            return True
        if state == S_STRING:
            if self.s_scan == self.s_seg and (self.s_rw < 0 or self.s_rw != self.s_last):
                # All read so far is decoded; at most an escape the last chunk cut short is left.
                text = self.text
                if self.s_scan == len(text):
                    if self._continue_string(chunk):
                        return False
                elif text[self.s_scan] == "\\" and self._continue_string(text[self.s_scan :] + chunk):
                    return False
            # The text not yet decoded is kept (not the string's start: it may be long gone
            # and pos with it), and the last inner quote when a rewind to it reads a key there.
            keep = self.s_seg
            last = self.s_last
            if last >= 0 and self.s_rw == last and keep - last <= _KEEP_REWIND:
                keep = last
        else:
            keep = self.pos
        # Only the unread tail is kept, so appending costs the chunk, not the whole answer.
        self.text = self.text[keep:] + chunk
        self.pos -= keep
        self.s_scan -= keep
        self.s_seg -= keep
        self.s_last = self.s_last - keep if self.s_last >= keep else -1
        self.s_rw = self.s_rw - keep if self.s_rw >= keep else -1
        self.c_fail_pos -= keep
        self.bs_from = len(self.text) + 1
        if state == S_STRING and not self._string():
            return False
        return self.run()

    def feed_value(self, chunk: str) -> Any:
        """:meth:`feed` the chunk and return :meth:`snapshot` (one call per chunk, for streaming)."""
        self.feed(chunk)
        return self.snapshot()

    def _continue_string(self, chunk: str) -> bool:
        """Take a chunk that only continues the current string (no quote in it can end it)."""
        quote = self.s_quote
        backslash = chunk.rfind("\\")
        if backslash < 0:
            if quote in chunk:
                return False
            piece = chunk
        else:
            if not _all_escaped(chunk, quote):
                return False
            if backslash >= len(chunk) - 12 and clean_end(chunk, 0, len(chunk)) < len(chunk):
                # An escape is cut short at the end: keep it for the next chunk.
                self.text = chunk
                self.s_scan = self.s_seg = 0
                self.s_last = self.s_rw = -1
                self.bs_from = len(chunk) + 1
                cut = self._clean_end(len(chunk))
                self._flush(cut)
                self.s_scan = cut
                return True
            piece, kept = decode_escapes(chunk, quote)
            if kept:
                self.act("kept_invalid_escape")
        if not self.s_ctrl and _CTRL(chunk):
            self.s_ctrl = True
            self.act("escaped_control_character")
        self.s_parts.append(piece)
        self.s_len += len(piece)
        self.s_scan = self.s_seg = len(self.text)  # an escape left over from before is read too
        return True

    def finish(self) -> None:
        """Mark the text complete and parse to the end."""
        self.final = True
        self.run()

    # ------------------------------------------------------------------ main loop

    def run(self) -> bool:
        """Parse as far as the text allows. Returns ``True`` once the run is complete."""
        text = self.text
        n = len(text)
        final = self.final
        stack = self.stack
        pos = self.pos
        while True:
            state = self.state
            if state == S_STRING:
                self.pos = pos
                if not self._string():
                    return False
                pos = self.pos
                continue
            if state == S_DONE:
                self.pos = pos
                return True
            if pos < n and text[pos] in _SPACE:
                pos = _WS(text, pos).end()
            if pos >= n:
                self.pos = pos
                if not final:
                    return False
                self._eof()
                return True
            c = text[pos]
            if c == "/" or c == "#":
                skip = self._comment(pos)
                if skip < 0:
                    self.pos = pos
                    return False
                if skip > pos:
                    pos = skip
                    continue

            if state == S_KEY:
                if c == '"' and (final or text.find('"', pos + 1) >= 0):
                    try:
                        key, end = scan_string(text, pos + 1, False)
                    except ValueError as exc:
                        self._c_failed(exc)
                        self._begin_string(pos, CTX_KEY, False)
                        pos = self.pos
                        continue
                    if _CTRL(text, pos + 1, end):
                        self.act("escaped_control_character")
                    f = stack[-1]
                    if f.node is None and not f.reopened:
                        if key in f.c:
                            self.lose("duplicate_key", pos, key)
                        f.key = key
                        f.comma = False
                        self.state = S_COLON
                    else:
                        self._key(key, end)
                    pos = end
                    if pos < n and text[pos] == ":":
                        self.state = S_VALUE
                        pos += 1
                    continue
                end = self._key_position(pos, c)
            elif state == S_VALUE:
                if c == '"' and stack:
                    end = self._value_string(pos)
                    if end >= 0:
                        pos = end
                    elif end == -3:  # the C scanner could not read it
                        self._begin_string(pos, CTX_ARR if stack[-1].is_list else CTX_OBJ, False)
                        pos = self.pos
                    continue
                if c == "{" or c == "[":
                    end = self._try_c(pos)
                    if end == -1:
                        self._open(c == "[", pos)
                        end = pos + 1
                    elif end == WAIT:
                        end = -1  # streaming: stop before the container until more of it arrives
                elif not stack:
                    if c == '"' or c == "'":
                        self._begin_string(pos, CTX_ROOT)
                        pos = self.pos
                        continue
                    end = self._tuple(pos) if c == "(" else -2
                elif c == "'" or c in _CURLY:
                    self._begin_string(pos, CTX_ARR if stack[-1].is_list else CTX_OBJ)
                    pos = self.pos
                    continue
                elif c in _NUMBER_START:
                    end = self._number(pos)
                elif ident_start(c):
                    end = self._word(pos)
                elif c == "(":
                    end = self._tuple(pos)
                else:
                    end = self._value_punctuation(pos, c)
            elif state == S_AFTER:
                if not stack:
                    end = self._after_root(pos, c)
                elif c == ",":
                    f = stack[-1]
                    self.state = S_VALUE if f.is_list else S_KEY
                    f.comma = True
                    pos += 1
                    continue
                else:
                    end = self._after_value(pos, c)
            elif state == S_COLON:
                if c == ":":
                    self.state = S_VALUE
                    pos += 1
                    continue
                if c == "," and self._fresh_set():
                    continue
                if c == "}" or c == "]" or c == ",":
                    self._drop_member(pos)
                    self.state = S_KEY
                    continue
                if c in _VALUE_START or ident_start(c):
                    self.act("inserted_missing_colon")
                    self.state = S_VALUE
                    continue
                end = -2
            elif state == S_TRAIL_COMMA:
                end = self._trail(pos, c)
            else:  # S_TRAIL_COLON: a key after the root value; a colon means the root closed early
                if c == ":" and self._reopen_root():
                    pos += 1
                elif c in _TRAIL_VALUE and self._reopen_root():
                    self.act("inserted_missing_colon")  # '{"a": 1}, "b" 2}'
                else:
                    self.state = S_DONE
                continue
            if end >= 0:
                pos = end
            elif end == -1:
                self.pos = pos
                return False
            else:
                self._stop(pos)

    # ------------------------------------------------------------------ per-state tokens

    def _key_position(self, pos: int, c: str) -> int:
        """A token other than a double-quoted key where a key or ``}`` is expected."""
        stack = self.stack
        f = stack[-1]
        if c == "'" or c == '"' or c in _CURLY:
            self._begin_string(pos, CTX_KEY, False)
            return self.pos
        if c == "}":
            return self._close(pos)
        if c == ",":
            self.act("removed_extra_comma")
            return pos + 1
        if c == "]" or c == ")":
            return self._mismatch(pos, c)
        if c == "." or c == "\u2026":
            return self._ellipsis(pos)
        if c == "{":
            if not f.c and not f.comma:
                self.act("collapsed_doubled_braces")
                f.doubled += 1
                return pos + 1
            if f.reopened or (len(stack) > 1 and stack[-2].is_list):
                self._implicit_close(pos)
                return pos
            return -2
        if ident_start(c) or c.isdigit() or c == "-":
            return self._unquoted_key(pos)
        return -2

    def _value_string(self, pos: int) -> int:
        """Read a double-quoted value with the C scanner.

        Returns the position after it; -4 when its closing quote turned out to be a quote
        inside the text (the string state is set up to read on); -3 when the C scanner
        could not read it.
        """
        text = self.text
        if self.c_budget <= 0 or (not self.final and text.find('"', pos + 1) < 0):
            return -3
        try:
            value, end = scan_string(text, pos + 1, False)
        except ValueError as exc:
            self._c_failed(exc)
            return -3
        if _CTRL(text, pos + 1, end):
            self.act("escaped_control_character")
        n = len(text)
        f = self.stack[-1]
        is_list = f.is_list
        if end < n and text[end] == "," and is_list and text.startswith(' "', end + 1):
            pass  # the common shape `"v", "w"` in an array
        else:
            match = CLOSE[f.close_at].match(text, end)
            if match is None or (match.end() >= n and not self.final):
                # Not the end: read on as a string with a quote inside it.
                self._begin_state(pos, CTX_ARR if is_list else CTX_OBJ)
                self._inner_quote_at(value, end, 0 if self.final else -1)
                return -4
        if end < n and text[end] == '"':
            self._doubled_quote(end, pos, CTX_ARR if is_list else CTX_OBJ)
        if is_list:
            f.c.append(value)
        else:
            key = f.key
            f.c[key] = value
            f.last = key
            f.key = None
        self.arr_str = is_list
        self.arr_inner = False
        f.comma = False
        self.state = S_AFTER
        return end

    def _value_punctuation(self, pos: int, c: str) -> int:
        f = self.stack[-1]
        if c == ",":
            if not f.is_list:
                self._drop_member(pos)
                self.state = S_KEY
            else:
                self.act("removed_extra_comma")
            f.comma = True
            return pos + 1
        if c == "]" or c == "}" or c == ")":
            if not f.is_list:
                self._drop_member(pos)
            return self._close(pos) if c == f.end else self._mismatch(pos, c)
        if c == "\u2026":
            return self._ellipsis(pos)
        if c == "#":
            return self._bare(pos)  # not a comment here (that needs a space after #): #ff0000
        return -2

    def _after_value(self, pos: int, c: str) -> int:
        """What follows a value inside a container, other than a comma."""
        stack = self.stack
        f = stack[-1]
        if f.is_list:
            if c == f.end:
                return self._close(pos)
            if c == "}":
                return self._extra_close(pos)
            if c == "]" or c == ")":
                return self._mismatch(pos, c)
            if c == ":":
                return self._array_key(pos)
            if c in _VALUE_START or (ident_start(c) and self._literal_ahead(pos)):
                self.act("inserted_missing_comma")
                self.state = S_VALUE
                return pos
            if c == "\u2026":
                return self._ellipsis(pos)
            return -2
        if c == "}":
            return self._close(pos)
        if c == "]" or c == ")":
            return self._mismatch(pos, c)
        if c == '"' or c == "'":
            self.act("inserted_missing_comma")
            self.state = S_KEY
            return pos
        if ident_start(c):
            end = self._key_ahead(pos)
            if end >= 0:
                self.act("inserted_missing_comma")
                self.state = S_KEY
                return pos
            return end
        if c == "{" and len(stack) > 1 and stack[-2].is_list:
            self._implicit_close(pos)
            return pos
        if c == "." or c == "\u2026":
            return self._ellipsis(pos)
        return -2

    def _extra_close(self, pos: int) -> int:
        """A ``}`` after an element of an array: a stray close (``[{"a": 1}}, {"a": 2}]``), or
        the close of the object the array sits in, its ``]`` missing (``["Mrs."}, ...``).

        The closes in the rest of the text decide; when they cannot be counted, a ``}``
        right after an object element is the stray one.
        """
        text = self.text
        n = len(text)
        stack = self.stack
        nxt = _WS(text, pos + 1).end()
        if nxt >= n and not self.final:
            return -1
        stray = False
        if nxt < n and text[nxt] == "]" and stack[-1].end == "]":
            stray = True
        elif nxt < n and text[nxt] == ",":
            after = _WS(text, nxt + 1).end()
            if KEY_AHEAD.match(text, after) is None:
                if not self.final and n - after < _LOOKAHEAD:
                    return -1
                stray = after < n  # the next element follows: the array may go on
        f = stack[-1]
        if stray and len(stack) > 1 and stack[-2].end == "}":
            fit = self._reading(pos + 1, [opens(stack, len(stack)), opens(stack, len(stack) - 2)])
            if fit is None:
                # The text does not tell: a "}" right after an object element is the stray one.
                stray = bool(f.c) and type(f.c[-1]) is dict
            else:
                stray = fit == 0  # or the "}" closed the object around the array
        if not stray:
            return self._mismatch(pos, "}")
        self.act("removed_extra_close")
        if f.c and ambiguous_close(f.c[-1], f.node.item() if f.node is not None else None):
            self.lose("ambiguous_close", pos, "}")
        return pos + 1

    def _tuple(self, pos: int) -> int:
        """``(1, 2)``: a Python tuple, read as an array."""
        if self._child_node() is not None and not self._allows("array"):
            return -2
        self.act("converted_tuple_or_set")
        self._open(True, pos, ")")
        return pos + 1

    def _after_root(self, pos: int, c: str) -> int:
        if c == ",":
            self.state = S_TRAIL_COMMA
            return pos + 1
        cur = self.cur
        assert cur is not None
        if c == "}" or c == "]":
            self.act("removed_extra_close")
            if c == "}" and ambiguous_close(cur.value, self.node):
                self.lose("ambiguous_close", pos, "}")
            cur.end = pos + 1
            return pos + 1
        if c == ":" and type(cur.value) is str and len(self.roots) == 1 and cur.closed:
            return self._missing_open_brace(pos)
        return self._trail(pos, c)

    def _missing_open_brace(self, pos: int) -> int:
        """``"name": "f", "arguments": {...}}``: the root string was the first key of an object."""
        cur = self.cur
        assert cur is not None
        key = cur.value
        cur.value = {}
        cur.closed = False
        self.act("inserted_missing_open_brace")
        frame = Frame(cur.value, self.node, None)
        frame.key = key
        self.stack.append(frame)
        self.implicit_root = True
        self.debt += 1  # its close is owed only if the text gives one: the end closes it
        self.state = S_VALUE
        return pos + 1

    def _trail(self, pos: int, c: str) -> int:
        """After the root value: a key (the root closed early), another value, or the end."""
        if c == '"' or c == "'":
            self._begin_string(pos, CTX_TRAIL)
            return self.pos
        if (c == "{" or c == "[") and PLAUSIBLE_START.match(self.text, pos):
            # Another value in a row (not prose in brackets, like "[end]").
            self.state = S_VALUE if self.multiple else S_DONE
            return pos
        if ident_start(c) and self.state == S_TRAIL_COMMA:
            # Only after a comma: "Note: ..." on the line after the answer is prose, not a key.
            end = self._key_ahead(pos)
            if end == -1:
                return -1
            if end >= 0:
                self.trail_key = self.text[pos:end]
                self.act("quoted_unquoted_key")
                self.state = S_TRAIL_COLON
                return end
        self.state = S_DONE
        return pos

    # ------------------------------------------------------------------ values

    def _try_c(self, pos: int) -> int:
        """Read a whole valid container with the C scanner.

        Returns the position after it; -1 when it is not valid (yet) and is to be read
        token by token; :data:`WAIT` to stop before it until more text comes.
        """
        if (
            not self.final
            or self.c_budget <= 0
            or (self.c_fails >= _C_SAME_POS_LIMIT and pos < self.c_fail_pos)
        ):
            # While streaming, the container's end has rarely arrived yet: don't ask.
            return -1
        parent = self.stack[-1] if self.stack else None
        if parent is not None and parent.c_misses >= _C_MISSES and parent.c_misses % _C_MISSES:
            # Its siblings were all broken the same way: try only every few children.
            parent.c_misses += 1
            return -1
        text = self.text
        n = len(text)
        window = _C_WINDOW
        while True:
            # The scanner reads a window of the text: a failure's cost (the stdlib's error
            # counts lines from the start of what it was given) stays proportional to the
            # window, not to the position in a long answer.
            stop = pos + window
            piece = text if pos == 0 and stop >= n else text[pos:stop]
            try:
                value, end = scan_container(piece, 0)
                break
            except (ValueError, StopIteration, RecursionError) as exc:
                at = getattr(exc, "pos", None)
                if stop < n and (at is None or at >= len(piece) - 8 or str(exc).startswith("Unterminated")):
                    window = n  # cut off by the window, not broken: give it all the rest
                    continue
                self._c_failed(exc)
                if parent is not None:
                    parent.c_misses += 1
                at = -1 if at is None else pos + at
                if at == self.c_fail_pos:
                    self.c_fails += 1
                else:
                    self.c_fail_pos = at
                    self.c_fails = 1
                return -1
        end += pos
        if parent is not None:
            parent.c_misses = 0
        node = self._child_node()
        if node is not None and misplaced(value, node, self._owners(), open_ok=True):
            return -1  # valid, but a member sits after an early close: read it token by token
        if self.stack:
            self._put(value)
        else:
            self._new_root(value, pos)
            cur = self.cur
            assert cur is not None
            cur.end = end
            cur.closed = True
            self.state = S_AFTER
        return end
