"""Reading numbers, literals, bare words, unquoted keys and comments.

Each reader returns the position after what it read, ``-1`` when the text
ends before the token can be told apart (more may come while streaming), or
``-2`` when the text there cannot be JSON (the engine stops the value there).
"""

from __future__ import annotations

import re
from typing import Final

from extractkit.repair.lexing import (
    BARE_VALUE,
    IDENT,
    LITERALS,
    NO_LITERAL,
    NUMBER,
    UNQUOTED_KEY,
    complete_literal,
    number_value,
    skip_space,
)
from extractkit.repair.state import S_KEY, S_VALUE
from extractkit.repair.strings import LOOKAHEAD, StringReader

__all__ = ["KEY_AHEAD", "QUOTED_KEY_AHEAD", "ScalarReader", "ident_start"]

_WS: Final = skip_space
#: What may follow a number: a space, a delimiter, a quote or bracket (a comma is missing).
_NUMBER_END: Final = frozenset(" \t\r\n,}])\"'{[")
#: A number with digit groups: 1_000_000, 82_461_110.5.
_GROUPED: Final = re.compile(r"[-+]?\d+(?:_\d+)+(?:\.\d+(?:_\d+)*)?(?:[eE][-+]?\d+)?")
#: A word that starts like a number: 1/3, 10-20, 1.1.1, 2024-01-15, 12:30, a UUID.
_NUMBER_WORD: Final = re.compile(r"[^\s,{}\[\]()\"']+")
#: Literals written in another case (TRUE, False, NULL, Null): the JSON literal, by lower case.
_CASED: Final = frozenset(("true", "false", "null"))
#: A quoted key and its colon, after optional space.
QUOTED_KEY_AHEAD: Final = re.compile(
    r"""[ \t\r\n]*(?:"(?:[^"\\\n]|\\.){0,200}"|'(?:[^'\\\n]|\\.){0,200}')[ \t\r\n]*:"""
)
#: A key (quoted or not) and its colon.
KEY_AHEAD: Final = re.compile(
    r"""(?:"(?:[^"\\\n]|\\.){0,200}"|'(?:[^'\\\n]|\\.){0,200}'|[\w$][\w$.\-]*)[ \t\r\n]*:"""
)


_COMMENT_AFTER_HASH: Final = frozenset(" \t\r\n#!")


def _comment_at(text: str, pos: int) -> bool:
    return text.startswith("//", pos) or text.startswith("/*", pos) or text.startswith("# ", pos)


def ident_start(c: str) -> bool:
    """Whether ``c`` can start a word (a literal, a bare value or an unquoted key)."""
    return c.isalpha() or c == "_" or c == "$"


class ScalarReader(StringReader):
    """The engine's readers for everything that is not a string or a bracket."""

    def _number(self, pos: int) -> int:
        text = self.text
        n = len(text)
        match = NUMBER.match(text, pos)
        if match is None:
            if text.startswith("-Infinity", pos):
                self._put(float("-inf"))
                return pos + 9
            if text.startswith("..", pos):
                return self._ellipsis(pos)
            if pos + 1 >= n:
                if not self.final:
                    return -1
                # A lone sign at the very end: no prefix is a number, so the value never began.
                self.act("trimmed_partial_number")
                return n
            return -2
        end = match.end()
        if end >= n:
            if not self.final:
                return -1
        elif text[end] not in _NUMBER_END and not _comment_at(text, end):
            return self._number_word(pos)
        elif (text[end] == " " or text[end] == "\t") and self.stack and not self.stack[-1].is_list:
            # "992 Main St": a number, then words, up to a delimiter: an unquoted text.
            word = _WS(text, end).end()
            if word < n and ident_start(text[word]) and not self._literal_ahead(word):
                bare = self._bare(pos, quiet=True)
                if bare != -2:
                    return bare
        value, valid = number_value(match.group())
        if end >= n:
            self.leaf = self._leaf_path()  # the digits may have gone on
            if not valid:
                self.act("trimmed_partial_number")
        elif not valid:
            if not self._allows("number") and not self._allows("integer") and self._allows("string"):
                # `"zip": 01101` where only a string may stand: the text as written, leading zero
                # and all (the number 1101 would lose a digit, and fail validation anyway).
                self.act("quoted_bare_value")
                self._put(match.group())
                return end
            self.act("normalized_number")
        self._put(value)
        return end

    def _number_word(self, pos: int) -> int:
        """A number that runs into more text: ``1_000`` is a number; ``1/3``, ``10-20``, a date
        or a UUID is a word, read as a string where a string may stand."""
        text = self.text
        n = len(text)
        match = _GROUPED.match(text, pos)
        if match is not None:
            end = match.end()
            if end >= n and not self.final:
                return -1
            if end >= n or text[end] in _NUMBER_END or _comment_at(text, end):
                digits = match.group().replace("_", "")
                self.act("normalized_number")
                if end >= n:
                    self.leaf = self._leaf_path()
                self._put(float(digits) if "." in digits or "e" in digits or "E" in digits else int(digits))
                return end
        word = _NUMBER_WORD.match(text, pos)
        assert word is not None
        end = word.end()
        after = _WS(text, end).end()
        if after >= n:
            if not self.final:
                return -1
            if end >= n and self.eof_truncates:
                return self._cut_word()
        elif text[after] not in ",}]" and not (text[after] == ")" and self.stack[-1].end == ")"):
            return self._bare(pos)  # more words follow: "10 to 20"
        if not self._allows("string"):
            return -2
        self.act("quoted_bare_value")
        self._put(word.group())
        return end

    def _word(self, pos: int) -> int:
        text = self.text
        n = len(text)
        match = IDENT.match(text, pos)
        assert match is not None
        end = match.end()
        if end >= n and not self.final:
            return -1
        word = match.group()
        literal = LITERALS.get(word)
        if literal is None and word.lower() in _CASED:
            literal = (LITERALS[word.lower()][0], "normalized_literal_case")
        if literal is not None:
            if literal[1] is not None:
                self.act(literal[1])
            self._put(literal[0])
            return end
        if end >= n:
            value = complete_literal(word)
            if value is NO_LITERAL:
                return self._cut_word() if self.eof_truncates else -2
            self.act("completed_partial_literal")
            self.leaf = self._leaf_path()
            self._put(value)
            return end
        return self._bare(pos)

    def _bare(self, pos: int, *, quiet: bool = False) -> int:
        """An unquoted value: text boxed in by delimiters (``{"city": New York}``), read as a string.

        With ``quiet``, text that is not such a value returns -2 without a cut being recorded.
        """
        text = self.text
        n = len(text)
        bare = BARE_VALUE.match(text, pos)
        assert bare is not None
        bend = bare.end()
        after = _WS(text, bend).end()
        if after >= n:
            if not self.final:
                return -1
            if bend >= n and self.eof_truncates:
                return -2 if quiet else self._cut_word()
        elif text[after] not in ",}]" and not (
            text[after] == '"' and text[:pos].rstrip()[-1:] == ":" and QUOTED_KEY_AHEAD.match(text, after)
        ):
            # Only a value boxed in by delimiters (or followed by the next key, a comma
            # missing) is a value; anything else may be prose.
            return -2
        if not self._allows("string"):
            return -2
        self.act("quoted_bare_value")
        self._put(bare.group().rstrip(" \t"))
        return bend

    def _cut_word(self) -> int:
        """The text ends inside an unquoted word: a cut, and a cut-off word is too much of a
        guess to keep, so its member (or element) is dropped."""
        self.leaf = self._leaf_path()
        f = self.stack[-1] if self.stack else None
        if f is not None and not f.is_list and f.key is not None:
            self.act("dropped_incomplete_member")
            f.key = None
        return len(self.text)

    def _ellipsis(self, pos: int) -> int:
        """``...`` or ``…`` where an element or a member may stand: the model's "and so on".
        It is skipped, with a comma after it; an elided member value is not (it has no value)."""
        text = self.text
        n = len(text)
        if text.startswith("...", pos):
            end = pos + 3
            while end < n and text[end] == ".":
                end += 1
        elif text.startswith("\u2026", pos):
            end = pos + 1
        else:
            return -2
        stack = self.stack
        if not stack:
            return -2
        f = stack[-1]
        if not f.is_list and f.key is not None:
            return -2
        nxt = _WS(text, end).end()
        if nxt >= n and not self.final:
            return -1
        if nxt < n and text[nxt] == ",":
            end = nxt + 1
        self.act("removed_ellipsis")
        f.comma = False
        self.state = S_VALUE if f.is_list else S_KEY
        return end

    def _literal_ahead(self, pos: int) -> bool:
        match = IDENT.match(self.text, pos)
        return match is not None and (match.group() in LITERALS or match.group().lower() in _CASED)

    def _unquoted_key(self, pos: int) -> int:
        end = self._key_ahead(pos)
        if end == -2:
            return self._not_a_key(pos)
        if end < 0:
            return end
        self.act("quoted_unquoted_key")
        self._key(self.text[pos:end], end)
        self.state = S_VALUE
        return _WS(self.text, end).end() + 1

    def _not_a_key(self, pos: int) -> int:
        """A word where a key should be, with no colon after it.

        * The first item of a Python set (``{1, 2}``): the object becomes an array.
        * A stray word before the next key (``"a": 1, COMMENT "b": 2``): skipped.
        """
        text = self.text
        n = len(text)
        f = self.stack[-1]
        token = _NUMBER_WORD.match(text, pos)
        if token is not None:
            after = _WS(text, token.end()).end()
            if after < n and text[after] == "," and self._to_array(()):
                self.state = S_VALUE
                return pos
        word = IDENT.match(text, pos)
        if word is None or f.is_list:
            return -2
        end = word.end()
        if QUOTED_KEY_AHEAD.match(text, end) is None:
            if not self.final and n - end < LOOKAHEAD:
                return -1
            return -2
        self.act("removed_stray_word")
        return end

    def _key_ahead(self, pos: int) -> int:
        """End of an unquoted key at ``pos`` if a colon follows it; -1 need more text; -2 no key."""
        text = self.text
        match = UNQUOTED_KEY.match(text, pos)
        if match is None:
            return -2
        end = match.end()
        colon = _WS(text, end).end()
        if colon >= len(text):
            return -2 if self.final else -1
        return end if text[colon] == ":" else -2

    def _comment(self, pos: int) -> int:
        """End of a comment at ``pos``; ``pos`` if there is none; -1 when more text is needed."""
        text = self.text
        n = len(text)
        if text[pos] == "/":
            if pos + 1 >= n:
                return pos if self.final else -1
            second = text[pos + 1]
            if second == "*":
                end = text.find("*/", pos + 2)
                if end < 0:
                    if not self.final:
                        return -1
                    end = n
                else:
                    end += 2
                self.act("removed_comment")
                return end
            if second != "/":
                return pos
        elif self.state == S_VALUE and pos + 1 < n and text[pos + 1] not in _COMMENT_AFTER_HASH:
            return pos  # "#ff0000", "#1" where a value stands: a value, not a comment
        end = text.find("\n", pos)
        if end < 0:
            if not self.final:
                return -1
            end = n
        self.act("removed_comment")
        return end
