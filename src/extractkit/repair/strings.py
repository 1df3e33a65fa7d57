"""Reading strings the way models write them.

A string's content is never changed: escapes are decoded, everything else —
raw newlines, tabs, trailing whitespace, quotes the model forgot to escape — is
kept as written. The hard question is which quote ends the string. A quote ends
it when what follows can follow a value there (``,`` and a next member, a close,
a colon after a key); otherwise it is a quote inside the text, as in
``"he said "hi" to me"``. The lookahead is bounded, so a string full of quotes
costs time linear in its length.

One more slip is recognised: ``"a": "hello, "b": 2`` — a value missing its
closing quote before the next member. When a quote turns out to be followed by
a colon and the previous inner quote came right after a comma, the string ends
before that comma and the parse resumes at the key — if the schema knows that
key, or, without one, if that quote was the first the string met (text that
quotes code or JSON has quotes everywhere, and its ``, "k":`` is not a member).
"""

from __future__ import annotations

import re
from typing import Final

from extractkit.repair.lexing import CONTROL, scan_string, skip_space
from extractkit.repair.members import MemberPlacer
from extractkit.repair.state import (
    CTX_ARR,
    CTX_KEY,
    CTX_OBJ,
    CTX_ROOT,
    CTX_TRAIL,
    S_DONE,
    S_KEY,
    S_STRING,
    S_TRAIL_COLON,
)

__all__ = ["CLOSE", "LOOKAHEAD", "StringReader", "clean_end"]

_SP = r"[ \t\r\n]*"
_KEY = r"[\w$][\w$.\-]*"  # an unquoted key: letters, digits, _ $ (and . - inside)
_LITERAL = r"(?:true|false|null|NaN|Infinity|True|False|None|undefined|TRUE|FALSE|NULL|Null)(?![\w$])"
# A literal cut off by the end of the text ("n", "tru").
_CUT_LITERAL = (
    r"(?:t(?:r(?:ue?)?)?|f(?:a(?:l(?:se?)?)?)?|n(?:u(?:ll?)?)?"
    r"|N(?:o(?:ne?)?)?|T(?:r(?:ue?)?)?|F(?:a(?:l(?:se?)?)?)?)\Z"
)
# A short quoted string (a key); each quote kind closes only itself, so "it's" is one key.
_QUOTED = r'(?:"(?:[^"\\\n]|\\.){0,200}"|\'(?:[^\'\\\n]|\\.){0,200}\'|\u201c[^\u201d\n]{0,200}\u201d)'
_COMMENT = r"(?://|/\*|#[ \t])"  # a comment starts (# only with a space after it)
_FENCE = r"```"  # '{"a": "x"```': the value ended, and a closing code fence follows
# What may follow the close of a nested container (a comma may be missing before a value).
_AFTER_CLOSE = rf"(?:[,}}\]\"'{{\[\-\d]|\Z|{_COMMENT}|{_LITERAL})"


def _close_pattern(kind: int, level: int) -> re.Pattern[str]:
    """After a string's closing quote, what can follow the string there.

    ``kind`` is 0 in an object, 1 in an array, 2 in a tuple (closed by ``)``); ``level``
    is 0 at the root, 1 nested, 2 nested in a tuple. A close bracket, unless it closes
    the root (prose may follow that), must itself be followed by something that can
    follow a member: code inside a string is full of ``"]`` and ``"}`` that are no such
    thing (``event["body"])``); a ``)`` follows only inside a tuple.
    """
    brackets = r"[}\])]" if kind == 2 else r"[}\]]"
    after = _AFTER_CLOSE if level < 2 else rf"(?:\)|{_AFTER_CLOSE})"
    close = rf"{brackets}{_SP}{after}" if level else brackets
    if kind:
        # A comma (or two) and the next value; a colon (the string was a key); the next
        # strings, with no commas between them, up to a comma or the close.
        tuple_end = ")" if kind == 2 else ""
        after_comma = rf"[\"'{{\[(\]\-+.\d,\u2026{tuple_end}]|{_COMMENT}|\Z|{_LITERAL}|{_CUT_LITERAL}"
        return re.compile(
            rf"{_SP}(?:{close}|:|\Z|{_COMMENT}|,{_SP}(?:{after_comma})|{_FENCE}"
            # Commas missing: '"a" "b" "c"]', '"c" 1]', '"c" null "d",', '"a" [1]'. The values
            # that follow up to a comma or a close are whole: the quote ended a string.
            rf"|(?:{_SP}{_QUOTED}|[ \t\r\n]+(?:-?\d[\d.eE+\-]*|{_LITERAL})){{1,8}}"
            rf"{_SP}(?:[,\]{tuple_end}{{\[]|\Z)"
            r"|[ \t]*[\[{])"
        )
    # A comma (or two) and the next key (quoted or not, or one cut off by the end); a
    # quoted key right away (a missing comma). A letter right after the quote is text,
    # never a key: testing every quote inside code for `word:` costs more than that
    # double slip is worth.
    after_comma = (
        rf"{_QUOTED}{_SP}:|[\"'](?:[^\"'\\\n]|\\.){{0,200}}\\?(?:[\"']{_SP})?\Z|[}},{{]|{_COMMENT}|\Z"
        rf"|{_KEY}{_SP}(?::|\Z)|[A-Za-z_]\w*[ \t]+{_QUOTED}{_SP}:"
    )
    return re.compile(rf"{_SP}(?:{close}|\Z|{_COMMENT}|,{_SP}(?:{after_comma})|{_QUOTED}{_SP}:|{_FENCE})")


#: Indexed by ``3 * kind + level`` (see ``Frame.close_at``).
CLOSE: Final = tuple(_close_pattern(kind, level) for kind in range(3) for level in range(3))
_COLON: Final = re.compile(rf"{_SP}:")
_CTRL: Final = CONTROL.search
_WS: Final = skip_space
_SPACE: Final = " \t\r\n"
_SEPARATOR: Final = re.compile(r'"[ \t]*,[ \t]*"').search
_KEY_AT: Final = re.compile(r'"(?:[^"\\\n]|\\.){0,200}"[ \t\r\n]*:').match
_CURLY_CLOSE: Final = {"\u201c": "\u201d", "\u2018": "\u2019"}  # “ ends at ”, ‘ at ’
# What a close pattern can start with (after spaces); and, after spaces only, a value that
# follows a string with its comma missing.
_CLOSE_FIRST: Final = frozenset("}],\"'/:#)`{[\u201c")
_CLOSE_AFTER_SPACE: Final = frozenset("-0123456789tfnNTFIu")
_BRACKET_CLOSE: Final = frozenset("]})")
_COLON_MATCH: Final = _COLON.match
_HEX4: Final = re.compile(r"[0-9a-fA-F]{4}").fullmatch
_HEX_PREFIX: Final = re.compile(r"[0-9a-fA-F]{0,3}").fullmatch
_HIGH_SURROGATE: Final = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}").fullmatch
LOOKAHEAD: Final = 256  # enough text after a quote for every pattern above


def clean_end(text: str, start: int, n: int) -> int:
    """``n``, or where an escape that the end of ``text[start:n]`` cuts short begins (``\\``,
    ``\\u00``, or a high surrogate whose low half may follow)."""
    at = text.rfind("\\", start, n)
    if at < 0 or at < n - 12:
        return n
    run = at
    while run > start and text[run - 1] == "\\":
        run -= 1
    if (at - run) % 2 == 1:
        return n  # the last backslash is escaped itself
    tail = text[at + 1 : n]
    if tail:
        if tail[0] != "u":
            return n
        digits = tail[1:5]
        if len(digits) == 4:
            if not _HEX4(digits) or not (0xD800 <= int(digits, 16) < 0xDC00) or len(tail) > 5:
                return n
        elif not _HEX_PREFIX(digits):
            return n
    cut = at
    if cut - 6 >= start and _HIGH_SURROGATE(text[cut - 6 : cut]):
        run = cut - 6
        while run > start and text[run - 1] == "\\":
            run -= 1
        if (cut - 6 - run) % 2 == 0:
            cut -= 6  # half a surrogate pair is no character
    return cut


class StringReader(MemberPlacer):
    """The string-reading part of the engine."""

    def _begin_state(self, pos: int, ctx: int) -> None:
        quote = self.text[pos]
        self.s_quote = _CURLY_CLOSE.get(quote, quote)
        self.s_ctx = ctx
        self.s_last = -1
        self.s_rw = -1
        self.s_inner = 0
        self.s_ctrl = False
        self.pos = pos
        self.state = S_STRING

    def _begin_string(self, pos: int, ctx: int, fast: bool = True) -> None:
        text = self.text
        self._begin_state(pos, ctx)
        quote = self.s_quote
        if quote == "'":
            self.act("converted_single_quotes")
        elif quote != '"':
            self.act("converted_curly_quotes")
        elif fast and self.c_budget > 0:
            try:
                value, end = scan_string(text, pos + 1, False)
            except ValueError as exc:
                self._c_failed(exc)
            else:
                if _CTRL(text, pos + 1, end):
                    self.act("escaped_control_character")
                code = self._close_code(end)
                if code == 1:
                    if text.startswith(quote, end) and ctx > CTX_ROOT:
                        self._doubled_quote(end, pos, ctx)
                    self.pos = end
                    self._string_done(value)
                    return
                self._inner_quote_at(value, end, code)
                return
        self.s_parts = []
        self.s_len = 0
        self.s_seg = self.s_scan = pos + 1

    def _inner_quote_at(self, value: str, end: int, code: int) -> None:
        """The C scanner read ``value`` up to a quote at ``end - 1`` that does not end the string."""
        self.s_parts = [value]
        self.s_len = len(value)
        self.s_seg = end - 1  # the quote is part of the text
        if code == -1:
            self.s_scan = end - 1  # too little text to tell: decide again when more comes
        else:
            self.s_scan = end
            self.s_last = end - 1
            self.s_inner = 1

    def _string(self) -> bool:
        """Read on in the current string. Returns ``False`` when more text is needed.

        The loop jumps from quote to quote; the text between is decoded in runs by the C
        scanner (see ``_flush``). A run that holds an escape never holds a quote read as
        text after that escape: such a quote flushes the run first.
        """
        text = self.text
        n = len(text)
        quote = self.s_quote
        scan = self.s_scan
        ctx = self.s_ctx
        final = self.final
        # With all the text at hand, the closing-quote test is two pattern matches, inlined.
        close = self._close_for(ctx).match if final and ctx > CTX_ROOT else None
        backslash = -1  # the next backslash after the current run start, once looked up
        while True:
            q = text.find(quote, scan)
            while q > 0 and text[q - 1] == "\\":
                run = q - 1
                while run > 0 and text[run - 1] == "\\":
                    run -= 1
                if (q - run) % 2 == 0:
                    break  # an even run of backslashes: the quote is not escaped
                q = text.find(quote, q + 1)
            if q == -1:
                cut = self._clean_end(n)
                if not final:
                    self._suspend_at(cut)
                    self.s_scan = cut
                    return False
                if cut < n:
                    self.act("dropped_partial_escape")
                self._flush(cut)
                self._string_cut()
                return True
            if close is None:
                code = self._close_code(q + 1)
            else:
                # Most quotes inside text are followed by a letter, ")" or "." that no close
                # pattern starts with: tell those apart by one character, not by a regex.
                after = q + 1
                c = text[after] if after < n else ""
                spaced = False
                if c in _SPACE and c:
                    after = _WS(text, after).end()
                    c = text[after] if after < n else ""
                    spaced = True
                if not c or c in _CLOSE_FIRST or (spaced and c in _CLOSE_AFTER_SPACE):
                    if close(text, q + 1) is not None:
                        code = 1
                        if self.s_inner and c in _BRACKET_CLOSE and c != self.stack[-1].end:
                            # After quotes read as text, a close of the wrong kind does not end
                            # the string: `"v", ["w"] }` in an object is no `v", ["w` and a typo.
                            code = 0
                    else:
                        code = 2 if ctx == CTX_OBJ and c == ":" else 0
                else:
                    code = 0
            if code == 1 and close is None and self.s_inner and ctx > CTX_ROOT:
                a = _WS(text, q + 1).end()
                if a < n and text[a] in _BRACKET_CLOSE and text[a] != self.stack[-1].end:
                    code = 0
            if code == 1 and text.startswith(quote, q + 1) and ctx > CTX_ROOT:
                self._doubled_quote(q + 1, q, ctx)
            if code == 1:
                self._flush(q)
                if self.s_inner:
                    self.act("escaped_inner_quote")
                self.pos = q + 1
                value = "".join(self.s_parts)
                if ctx == CTX_ARR and _SEPARATOR(value):
                    # '["a" 1 2, "b"]' read as one string holds '", "': elements and their
                    # separators, or text quoting them? Both readings fit.
                    self.lose("ambiguous_quote", q, value)
                elif self.s_inner == 1 and ctx > CTX_ROOT:
                    last = self.s_last
                    if value[:1] == quote or (
                        ctx == CTX_ARR
                        and 0 <= last < n - 1
                        and text[last + 1] in " \t"
                        and text[last - 1] != " "
                    ):
                        # `""value"`: a doubled opening quote, or a quote that starts the text?
                        # `["a" b", "c"]`: "a" and b" missing its opening quote, or `a" b`?
                        self.lose("ambiguous_quote", q, value)
                self._string_done(value)
                return True
            if code == -1:
                self._suspend_at(q)
                self.s_scan = q
                return False
            if code == 2 and self._rewind(q):
                return True
            self.s_inner += 1
            self.s_last = q
            if backslash < q:
                backslash = self._next_backslash(self.s_seg)
                if backslash == -1:
                    backslash = n  # none left: no more checks until the end
                elif backslash < q:
                    # Keep runs with escapes free of quotes read as text.
                    self._flush(q)
                    self.s_parts.append(quote)
                    self.s_len += 1
                    self.s_seg = q + 1
                    backslash = -1  # look again from the new run
            scan = q + 1

    def _doubled_quote(self, at: int, start: int, ctx: int) -> bool:
        """A string ends at a quote with another right after it (``"a""b"``, or three quotes
        in a row): a doubled quote inside the text, or an end and a start? Only a key after
        it (a comma missing: ``"x""b": 1``) says which; otherwise the value is lossy."""
        if ctx == CTX_OBJ and _KEY_AT(self.text, at):
            return False
        self.lose("ambiguous_quote", start, self.text[start : start + 24])
        return True

    def _clean_end(self, n: int) -> int:
        return clean_end(self.text, self.s_seg, n)

    def _suspend_at(self, at: int) -> None:
        """Stop reading at ``at`` until more text comes.

        The text before ``at`` will be dropped, so the decoded length up to the comma
        before a quote that may start a key (the last inner quote, or the quote at
        ``at`` still to be decided) is worked out now, for a rewind later.
        """
        text = self.text
        if self.s_ctx == CTX_OBJ:
            # The quote at `at` may start a key (a comma before it); if not, it may end one
            # (a colon after it), and then the key started at the last inner quote.
            candidates = [self.s_last]
            if at < len(text) and text[at] == self.s_quote:
                candidates.insert(0, at)
            for quote_at in candidates:
                if quote_at < 0:
                    continue
                if self.s_rw == quote_at:
                    break
                length = self._length_at_comma(quote_at)
                if length >= 0:
                    self.s_rw = quote_at
                    self.s_rw_len = length
                    break
        self._flush(at)

    def _length_at_comma(self, last: int) -> int:
        """The decoded length of the string up to the comma just before the quote at ``last``
        (only spaces between), or -1 when no comma is there."""
        if self.s_rw == last:
            return self.s_rw_len
        text = self.text
        back = last - 1
        while back >= self.s_seg and text[back] in " \t\r\n":
            back -= 1
        if back >= self.s_seg and text[back] != ",":
            return -1  # a character other than a comma is right there
        if self.s_seg <= last:
            self._flush(last)
        # Look at the decoded text, not the raw one: in a stream the raw text is gone.
        quoted = 1 if self.s_seg == last + 1 else 0  # the quote itself went into the parts
        if self.s_seg != last + quoted:
            return -1
        tail = self._tail(16 + quoted)
        if quoted:
            tail = tail[:-1]
        body = tail.rstrip(" \t\r\n")
        if not body.endswith(","):
            return -1
        return self.s_len - quoted - (len(tail) - len(body)) - 1

    def _tail(self, size: int) -> str:
        parts = self.s_parts
        tail = ""
        index = len(parts) - 1
        while index >= 0 and len(tail) < size:
            tail = parts[index] + tail
            index -= 1
        return tail[-size:]

    def _rewind(self, q: int) -> bool:
        """``"a": "hello, "b": 2``: end the string before the comma and read the key again."""
        last = self.s_last
        if self.s_ctx != CTX_OBJ or last < 0:
            return False
        node = self.stack[-1].node
        accepted = node.accepts(self.text[last + 1 : q]) if node is not None else None
        if accepted is False or (accepted is None and self.s_inner > 1):
            # The schema has no such key, or the string already held quotes: it is text
            # quoting code or JSON (`{"status": 200, "body": "pong"}`), not a missing quote.
            return False
        length = self._length_at_comma(last)
        if length < 0:
            return False
        self._flush(q)
        if self.s_inner > 1:
            self.act("escaped_inner_quote")
        self.act("closed_unterminated_string")
        self.pos = last
        self._string_done("".join(self.s_parts)[:length])
        self.state = S_KEY
        self.stack[-1].comma = True
        return True

    def _close_code(self, after: int) -> int:
        """Whether the quote before ``after`` ends the string: 1 yes, 0 no, 2 no and a colon
        follows, -1 more text is needed to tell."""
        ctx = self.s_ctx
        if ctx <= CTX_ROOT:
            return 1  # keys and root strings end at their first quote
        text = self.text
        match = self._close_for(ctx).match(text, after)
        n = len(text)
        if match is not None:
            return 1 if self.final or match.end() < n else -1
        if not self.final and n - after < LOOKAHEAD:
            return -1
        if ctx == CTX_OBJ and _COLON.match(text, after):
            return 2
        return 0

    def _close_for(self, ctx: int) -> re.Pattern[str]:
        return CLOSE[self.stack[-1].close_at]

    def _string_done(self, value: str) -> None:
        ctx = self.s_ctx
        self.s_parts = []
        if ctx == CTX_KEY:
            self._key(value, self.pos)
        elif ctx == CTX_TRAIL:
            self.trail_key = value
            self.state = S_TRAIL_COLON
        else:
            self._put(value)
            if ctx == CTX_ARR:
                self.arr_str = True
                self.arr_inner = self.s_inner > 0
            elif ctx == CTX_ROOT:
                cur = self.cur
                assert cur is not None
                cur.end = self.pos
                cur.closed = True

    def _string_cut(self) -> None:
        """The (final) text ended inside the string."""
        ctx = self.s_ctx
        self.pos = len(self.text)
        if ctx == CTX_KEY:
            self.s_parts = []
            self.state = S_KEY
            self.act("dropped_incomplete_member")
        elif ctx == CTX_TRAIL:
            self.s_parts = []
            self.state = S_DONE
        else:
            self.leaf = self._leaf_path()
            self._string_done("".join(self.s_parts))
            if ctx == CTX_ROOT:
                cur = self.cur
                assert cur is not None
                cur.closed = False
