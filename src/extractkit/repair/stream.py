"""Incremental repair: a best partial value after every chunk of a streamed answer.

:class:`StreamingParser` keeps one engine alive across chunks and parses each
piece of text once, from where it stopped (only the unread tail is kept), so a
whole answer costs time linear in its length however small the chunks are. The
value :meth:`StreamingParser.feed` returns is the live value: containers grow in
place, and parts that are complete never change. The one exception is the
failure this engine exists for: an object closed too early gets its stray
members back when they arrive.

The first :data:`~extractkit.repair.stream_engine.LIVE` characters of the JSON
are shown exactly as they arrive. After that, speed comes first, within a bound:

* a container shows once its end has arrived (the C scanner reads it whole; see
  :mod:`extractkit.repair.stream_engine`), at most
  :data:`~extractkit.repair.stream_engine.LOOK_EVERY` characters later, and one
  longer than :data:`~extractkit.repair.stream_engine.WAIT_LIMIT` characters grows
  as it arrives; so the value is never more than about that far behind the text;
* a string being written is shown again each time it has grown by a sixteenth (16
  characters at least), so a huge string costs linear time too; a chunk with no
  quote that could end it does not reach the engine;
* a chunk that may end the answer (one that ends with a closing bracket) is read at
  once: when it is the last chunk, the value shown is complete.

:meth:`StreamingParser.finish` answers what :func:`repair_json` answers for the
whole text: by finishing the engine when the answer started with its JSON and
nothing follows the value, by a one-shot repair of the whole text otherwise.
"""

from __future__ import annotations

import re
from typing import Any

from extractkit.repair.result import RepairResult, ordered
from extractkit.repair.schema import schema_node
from extractkit.repair.span import PLAUSIBLE_START, lossy_error
from extractkit.repair.state import CTX_ROOT, S_STRING
from extractkit.repair.stream_engine import LIVE, LOOK_EVERY, StreamEngine

_BRACKET = re.compile(r"[{\[]")
_UNDECIDED = 32  # text needed after a bracket to tell prose from JSON
_STRING_STEP = 16  # a partial string is shown again after at least this many more characters
_CLOSING = "}] \t\r\n"

__all__ = ["StreamingParser"]


class StreamingParser:
    """Parses a JSON answer chunk by chunk.

    Args:
        schema: Optional pydantic type or JSON Schema dict, as for :func:`repair_json`.

    Example:
        >>> p = StreamingParser()
        >>> p.feed('{"city": "Par')
        {'city': 'Par'}
        >>> p.feed('is", "country"')
        {'city': 'Paris'}
        >>> p.finish().value
        {'city': 'Paris'}
    """

    def __init__(self, schema: Any = None) -> None:
        self._schema = schema
        self._node = schema_node(schema)
        self._chunks: list[str] = []
        self._engine: StreamEngine | None = None
        self._before = ""  # text seen before the JSON started (prose, a fence line)
        self._scanned = 0
        self._clean_start = False  # the JSON started at the first character that is not a space
        self._mark = 0  # chunks before this index have been given to the engine
        self._value: Any = None  # the value the engine showed last
        # While the engine waits (see stream_engine.py): characters before it looks again
        # (0: it does not wait).
        self._due = 0
        # While a long string is being written: characters before it is shown again
        # (0: not in one) and its quote, whose arrival may end it.
        self._grow = 0
        self._quote = '"'

    def feed(self, chunk: str) -> Any:
        """Add the next chunk of the answer.

        Args:
            chunk: The next piece of text.

        Returns:
            The current best partial value (``None`` until the JSON has started).
        """
        chunks = self._chunks
        chunks.append(chunk)
        # While the engine waits, chunks pass until a look is due, or until one ends with a
        # bracket (as the last chunk of an answer does). Not waiting, _due is 0 or less.
        due = self._due - len(chunk)
        self._due = due
        if due > 0:
            if chunk[-1:] not in "}]":
                return self._value
            return self._look()
        if due + len(chunk) > 0:
            return self._look()
        grow = self._grow
        if grow > 0:
            # A string is being written: a chunk with no quote only extends it, and the
            # string is shown again once it has grown by a sixteenth.
            grow -= len(chunk)
            self._grow = grow
            if grow > 0:
                quote = self._quote
                if quote not in chunk:
                    return self._value
                if (
                    chunk[0] != "\\"
                    and chunk.count(quote) == chunk.count("\\" + quote)
                    and "\\\\" not in chunk
                ):
                    return self._value  # every quote in it is escaped (and no backslash is)
            self._grow = 0
        engine = self._engine
        if engine is not None:
            mark = self._mark
            self._mark = len(chunks)
            engine.thorough = chunk[-1:] in "}]"
            engine.feed(chunk if mark == len(chunks) - 1 else "".join(chunks[mark:]))
            engine.thorough = False
            return self._shown(engine)
        self._before += chunk
        start = self._find_start()
        if start < 0:
            return None
        engine = StreamEngine(self._before, start, self._node)
        self._engine = engine
        self._mark = len(chunks)
        self._clean_start = not self._before[:start].strip()
        self._before = ""
        engine.run()
        return self._shown(engine)

    def finish(self) -> RepairResult:
        """The repair of the whole answer: the same as ``repair_json(all_chunks, schema)``.

        Raises:
            RepairError: When no JSON value can be recovered from the answer.
        """
        engine = self._engine
        if engine is not None and self._mark < len(self._chunks):
            engine.feed("".join(self._chunks[self._mark :]))
            self._mark = len(self._chunks)
        if engine is not None and self._clean_start:
            # The answer started with its JSON: finishing the engine gives what a one-shot
            # repair would, unless text follows the value (then the span has to be chosen).
            engine.finish()
            root = engine.roots[0] if engine.roots else None
            if (
                root is not None
                and engine.pos >= len(engine.text)
                and len(engine.roots) == 1
                and not engine.unsure
            ):
                if root.lossy is not None:
                    raise lossy_error("".join(self._chunks), root.lossy)
                return RepairResult(root.value, ordered(root.acts), root.truncated, tuple(root.cuts))
        from extractkit.repair import repair_json

        return repair_json("".join(self._chunks), self._schema)

    def _look(self) -> Any:
        """Give the engine what came while it waited: it reads what has ended, or waits on."""
        chunks = self._chunks
        engine = self._engine
        assert engine is not None
        # A chunk that ends with a bracket may end the answer: then brackets inside strings
        # must not hide the end of a container, so that the value shown is complete.
        engine.thorough = chunks[-1][-1:] in "}]"
        engine.resume("".join(chunks[self._mark :]))
        engine.thorough = False
        self._mark = len(chunks)
        return self._shown(engine)

    def _shown(self, engine: StreamEngine) -> Any:
        """The engine's value now; when it waits, set up the looks that let chunks pass."""
        if engine.state == S_STRING:
            # A string shows in steps, except when only closing brackets follow the quote
            # that may end it: the answer may be over, so it shows whole.
            at = engine.s_scan
            rest = engine.text[at + 1 :] if engine.text[at : at + 1] == engine.s_quote else ""
            value = engine.snapshot(whole=bool(rest) and not rest.strip(_CLOSING))
        else:
            value = engine.roots[0].value if engine.roots else None
        self._value = value
        if engine.waiting:
            room = engine.wait_room
            self._due = LOOK_EVERY if room > LOOK_EVERY else room
            return value
        self._due = 0
        if (
            engine.state == S_STRING
            and engine.s_ctx >= CTX_ROOT
            and engine.s_scan == len(engine.text)  # no quote read so far is still undecided
            and engine.total - engine.start >= LIVE
        ):
            # Shown again once what is not shown reaches a sixteenth of what is (the engine
            # shows a string over 16 KB again only then too, so a refresh is not refused).
            shown = engine.s_shown
            self._quote = engine.s_quote
            self._grow = max(_STRING_STEP, (shown >> 4) - (engine.s_len - shown))
        return value

    def _find_start(self) -> int:
        """Where the JSON starts in the text seen so far; -1 until that can be told."""
        text = self._before
        stripped = text.lstrip()
        if stripped[:1] in ('"', "'"):
            return len(text) - len(stripped)
        n = len(text)
        for match in _BRACKET.finditer(text, self._scanned):
            s = match.start()
            if PLAUSIBLE_START.match(text, s):
                # Decided only if it does not rest on the end of the text ("{" then nothing yet).
                if PLAUSIBLE_START.match(text[s:] + "\x01"):
                    return s
                self._scanned = s
                return -1
            if n - s < _UNDECIDED:
                self._scanned = s  # too little text after it to tell: wait for the next chunk
                return -1
        self._scanned = n
        return -1
