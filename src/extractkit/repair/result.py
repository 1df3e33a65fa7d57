"""The outcome of one repair: :class:`RepairResult` and the stable action names.

Action names are part of the public contract: they are recorded with every
exchange and counted in reports, so a name, once shipped, never changes
meaning. Each names a change the engine made to the text, in snake_case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["ACTIONS", "REASONS", "JsonPath", "RepairResult", "ordered"]

JsonPath = tuple[str | int, ...]

#: Every action name the engine can report, with what it means.
ACTIONS: Final[dict[str, str]] = {
    "stripped_code_fence": "the JSON sat inside a markdown code fence",
    "extracted_json_span": "prose or other non-JSON text around the value was dropped",
    "dropped_extra_values": "further JSON values equal to the first were dropped (multiple=False)",
    "chose_value_by_schema": "of several JSON values (or their list), the one the schema accepts was taken",
    "reopened_object_closed_early": "an object closed too early got the members after the stray close back",
    "closed_truncated": "the input ended inside the value; open containers were closed",
    "closed_unclosed_container": "containers left open before non-JSON text (or a closing fence) were closed",
    "dropped_incomplete_member": "a key with no value (or a half-written key) was dropped",
    "completed_partial_literal": "a cut-off literal (tr, fal, nu) was completed",
    "trimmed_partial_number": "a cut-off number was cut back to its longest valid prefix",
    "dropped_partial_escape": "a half-written escape at the cut (\\ or \\u00) was dropped",
    "normalized_number": "a number in a non-JSON form (+1, .5, 1., 01) was read as a number",
    "removed_trailing_comma": "a comma before a closing bracket was removed",
    "removed_extra_comma": "a doubled or leading comma was removed",
    "inserted_missing_comma": "a comma between two members or elements was inserted",
    "inserted_missing_colon": "a colon between a key and its value was inserted",
    "inserted_missing_close": "a container the model forgot to close was closed where its parent closed",
    "removed_extra_close": "a closing bracket with nothing open to close was removed",
    "inserted_missing_open_brace": "an object whose opening brace was missing was opened ('\"k\": 1}')",
    "fixed_mismatched_close": "a closing bracket of the wrong kind (] for }) was read as the right one",
    "collapsed_doubled_braces": "template-style doubled braces {{ }} were read as single ones",
    "converted_single_quotes": "a single-quoted string or key was read as a JSON string",
    "converted_curly_quotes": "a string or key in typographic quotes (\u201c \u201d) was read as JSON",
    "converted_python_literal": "a Python or JavaScript literal (None, True, False, undefined) was converted",
    "normalized_literal_case": "a literal in another case (TRUE, FALSE, NULL, Null) was read as JSON",
    "converted_tuple_or_set": "a Python tuple (1, 2) or set {'a', 'b'} was read as an array",
    "quoted_unquoted_key": "a JavaScript-style unquoted key was read as a string",
    "quoted_bare_value": "an unquoted word in value position was read as a string",
    "removed_comment": "a // /* */ or # comment was removed",
    "removed_ellipsis": "an ellipsis (... or \u2026) standing for more elements or members was skipped",
    "removed_stray_word": 'a bare word before a key (COMMENT "b": 2) was skipped',
    "escaped_control_character": "a raw newline, tab or other control character in a string was kept as text",
    "escaped_inner_quote": "an unescaped quote inside a string was kept as text",
    "closed_unterminated_string": "a string missing its closing quote was closed before the next member",
    "kept_invalid_escape": "an invalid escape like \\d was kept as the two characters",
}


#: Why :class:`~extractkit.exceptions.RepairError` was raised (its ``reason``), with what it means.
REASONS: Final[dict[str, str]] = {
    "empty": "the answer is empty or only whitespace",
    "no_json": "the answer holds no JSON value",
    "unplaceable_token": "text inside the value could not be read as JSON, and the JSON goes on after it",
    "missing_value": "a key has no value (not at the end of the text, where it would be a cut)",
    "duplicate_key": "a key appears twice in one object, so one of its values would be lost",
    "ambiguous_quote": "a quote could end a string or be part of it, and both readings fit the text",
    "ambiguous_close": "a stray } leaves it open which object the members after an earlier close belong to",
    "several_values": "the answer holds several different JSON values and nothing says which is meant",
}

_RANK: Final = {name: rank for rank, name in enumerate(ACTIONS)}


def ordered(actions: Iterable[str]) -> tuple[str, ...]:
    """Action names in the fixed order of :data:`ACTIONS`, whichever path produced them."""
    return tuple(sorted(actions, key=_RANK.__getitem__))


@dataclass(frozen=True, slots=True)
class RepairResult:
    """What :func:`~extractkit.repair.repair_json` recovered, and how.

    Attributes:
        value: The recovered JSON value (a list of values when ``multiple=True``).
        actions: Stable snake_case names of the changes made, each once, in the order
            of :data:`ACTIONS` (so the same repair reads the same whichever way it was
            found); ``()`` when the input was valid JSON.
        truncated: Whether the input ended inside the value (output cut by ``max_tokens``).
        cut_paths: JSON paths of the values the cut interrupted, outermost first: every
            container the repair had to close and the member being written (kept when its
            value had begun, dropped otherwise). A validation error at or below one of these
            paths is a symptom of truncation, not bad data. With ``multiple=True`` each path
            starts with the value's index.
    """

    value: Any
    actions: tuple[str, ...] = ()
    truncated: bool = False
    cut_paths: tuple[JsonPath, ...] = ()

    @property
    def repaired(self) -> bool:
        """Whether anything was changed (``actions`` is non-empty)."""
        return bool(self.actions)
