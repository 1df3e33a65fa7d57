"""Finding the JSON in a model's answer: code fences, prose around it, several values.

The engine parses one run of values from a given start. This module decides
where to start and which run is *the* answer:

* Text that starts with JSON is parsed from there; values that follow it in a
  row are "several values" (the first is the answer, all with ``multiple=True``).
* Otherwise every ``{`` or ``[`` that looks like the start of JSON (``{`` before a
  key or ``}``, ``[`` before a value or ``]``) is a candidate, left to right, and the
  run covering the most text wins. Prose brackets (``[see below]``, ``{name}``) are
  never candidates, and a citation like ``[1]`` loses to the real answer by length.
  Candidates inside a run already parsed are skipped, so the search stays linear.
* Inside a code fence, a value that runs into the end of the text is parsed again
  up to the closing fence, so the fence never ends up inside a string.

Prose is never spliced into a value: the engine stops at the first text that
cannot be JSON and closes what is open there.
"""

from __future__ import annotations

import re
from typing import Final

from extractkit.exceptions import RepairError
from extractkit.repair.engine import Engine
from extractkit.repair.lexing import PLAUSIBLE_START, continues_json
from extractkit.repair.result import JsonPath, RepairResult, ordered
from extractkit.repair.schema import SchemaNode
from extractkit.repair.state import Root

__all__ = ["PLAUSIBLE_START", "lossy_error", "recover"]

_NON_SPACE: Final = re.compile(r"[^ \t\r\n]")
_BRACKET: Final = re.compile(r"[{\[]")
_TUPLE_START: Final = re.compile(
    r"""\([ \t\r\n]*(?:["'{\[(\-.\d]|\)|(?:null|true|false|None|True|False|NaN)\b)"""
)
_CLOSER_AFTER: Final = re.compile(r"[ \t\r\n,]*[)\]}]")
_JOINS: Final = (",", "(", "[", "{", ":")  # what joins a value to a larger one before it
_KEY_BEFORE: Final = re.compile(r"""["'][ \t\r\n]*:[ \t\r\n]*\Z""")
_FENCE_MARK: Final = re.compile(r"```[\w+.\-]*")
_FENCE_CLOSE: Final = re.compile(r"\n[ \t]*```")
_MAX_CANDIDATES: Final = 32


def recover(text: str, node: SchemaNode | None, multiple: bool) -> RepairResult:
    """Repair ``text`` that ``json.loads`` rejected.

    Args:
        text: The model's answer.
        node: The schema node of the answer, if a schema was given.
        multiple: Return every value of the winning run, not only the first.

    Returns:
        The repair result.

    Raises:
        RepairError: When no JSON value can be honestly recovered.
    """
    first = _NON_SPACE.search(text)
    if first is None:
        raise RepairError(
            "the model's answer is empty: there is no JSON to recover", position=0, raw=text, reason="empty"
        )
    start = first.start()
    runs: list[tuple[int, int, Engine]] = []
    best: tuple[int, int, Engine] | None = None
    tries = 0
    skip_until = start
    for s in _candidate_starts(text, start):
        if s < skip_until:
            continue
        tries += 1
        if tries > _MAX_CANDIDATES:
            break
        engine = _parse(text, s, node)
        if engine is None:
            continue
        end = engine.roots[-1].end
        run = (s, end, engine)
        runs.append(run)
        if best is None or end - s > best[1] - best[0]:
            best = run
        if _NON_SPACE.search(text, end) is None:
            break
        skip_until = end
    if best is None:
        raise RepairError(
            "no JSON value found in the model's answer (it holds no '{' or '[' that starts JSON); "
            "check the prompt asks for JSON only",
            position=start,
            raw=text,
            reason="no_json",
        )
    return _result(text, best, runs, node, multiple=multiple)


def _candidate_starts(text: str, start: int) -> list[int]:
    found: list[int] = []
    if text[start] in "\"'" or (text[start] == "(" and _TUPLE_START.match(text, start)):
        found.append(start)  # a string or a tuple is an answer only when the text starts with it
    for match in _BRACKET.finditer(text, start):
        s = match.start()
        if PLAUSIBLE_START.match(text, s):
            found.append(s)
            if len(found) > _MAX_CANDIDATES * 4:
                break
    return found


def _parse(text: str, s: int, node: SchemaNode | None) -> Engine | None:
    engine = Engine(text, s, node)
    engine.run()
    roots = engine.roots
    if not roots:
        return None
    if any(root.truncated for root in roots) and "```" in text[:s]:
        close = _FENCE_CLOSE.search(text, s)
        if close is not None:
            # The value ran past its closing fence: it ends at the fence, unclosed but not cut.
            engine = Engine(text[: close.start()], s, node, eof_truncates=False)
            engine.run()
            roots = engine.roots
            if not roots:
                return None
    head = roots[0]
    if not head.closed and not head.truncated and head.lossy is None and head.value in ({}, []):
        return None  # "{{ name }}" or "[ ... ]": an empty shell closed by prose is no answer
    return engine


def _result(
    text: str,
    best: tuple[int, int, Engine],
    runs: list[tuple[int, int, Engine]],
    node: SchemaNode | None,
    *,
    multiple: bool,
) -> RepairResult:
    s, end, engine = best
    for run in runs:
        for root in run[2].roots:
            if root.lossy is not None:
                raise lossy_error(text, root.lossy)
    roots = engine.roots
    actions: dict[str, None] = {}
    prefix = text[:s]
    suffix = text[end:]
    if "```" in prefix:
        actions["stripped_code_fence"] = None
    if _FENCE_MARK.sub("", prefix).strip() or _FENCE_MARK.sub("", suffix).strip():
        actions["extracted_json_span"] = None
        if continues_json(text, end, keys=False):
            # A bracket after the value closes one opened before it: the value was part of more.
            raise lossy_error(text, ("unplaceable_token", end, text[end : end + 24]))
        if _KEY_BEFORE.search(prefix) or (
            _CLOSER_AFTER.match(suffix) and prefix.rstrip()[-1:] in _JOINS and _opened(prefix)
        ):
            # '... "locations": [...]', '(null, [...])': the value is a part of a larger one.
            raise lossy_error(text, ("unplaceable_token", s, prefix[-24:]))
    if multiple:
        cuts: list[JsonPath] = []
        for index, root in enumerate(roots):
            actions.update(root.acts)
            cuts.extend((index, *path) for path in root.cuts)
        return RepairResult(
            [root.value for root in roots],
            ordered(actions),
            any(root.truncated for root in roots),
            tuple(cuts),
        )
    head = roots[0]
    others = [root for run in runs if run is not best for root in run[2].roots if _answer_like(root.value)]
    if len(roots) > 1:
        roots = [head, *(root for root in roots[1:] if _answer_like(root.value))]
    if len(roots) > 1 or others:
        head = _choose(text, roots, others, node, actions)
    actions.update(head.acts)
    return RepairResult(head.value, ordered(actions), head.truncated, tuple(head.cuts))


def lossy_error(text: str, lossy: tuple[str, int, str]) -> RepairError:
    """The :class:`RepairError` for a value that is not what the text meant."""
    reason, position, what = lossy
    if reason == "missing_value":
        message = f"the key {what!r} has no value"
    elif reason == "ambiguous_quote":
        message = f"the quotes in {what[:24]!r} could end the string or be part of it"
    elif reason == "duplicate_key":
        message = f"the key {what!r} appears twice in one object"
    elif reason == "ambiguous_close":
        message = (
            "a stray '}' means an object closed too early, and the members after it could belong "
            "to more than one object"
        )
    else:
        message = f"{what.strip()[:24]!r} cannot be read as part of the JSON value, and the JSON goes on"
    return RepairError(
        f"{message} (at character {position}); the value would not be what the model meant. "
        "Re-ask for valid JSON, or pass the output schema to repair_json.",
        position=position,
        raw=text,
        reason=reason,
    )


def _answer_like(value: object) -> bool:
    """Whether a value found in the prose around the answer competes with it: anything but
    a citation like ``[1]`` or ``[2, 3]``."""
    return not (type(value) is list and value and all(type(x) is int for x in value))


def _choose(
    text: str, roots: list[Root], others: list[Root], node: SchemaNode | None, actions: dict[str, None]
) -> Root:
    """Several values: the answer when they are all equal, or when the schema accepts only one
    of them (or only the list of the values in a row); a :class:`RepairError` otherwise."""
    candidates: list[Root] = []
    for root in (*roots, *others):
        if root.truncated and any(_prefix_of(root.value, seen.value) for seen in candidates):
            continue  # a model repeating its answer until the token limit: the same value, cut
        if not any(root.value == seen.value for seen in candidates):
            candidates.append(root)
    if len(candidates) == 1:
        actions["dropped_extra_values"] = None
        return candidates[0]
    if len(roots) > 1:
        together = Root([root.value for root in roots], {}, roots[0].start)
        for index, root in enumerate(roots):
            together.acts.update(root.acts)
            together.cuts.extend((index, *path) for path in root.cuts)
        together.truncated = any(root.truncated for root in roots)
        candidates.append(together)
    if node is not None:
        fits = [root for root in candidates if not root.truncated and node.valid(root.value)]
        if len(fits) == 1:
            actions["chose_value_by_schema"] = None
            return fits[0]
    found = len(candidates) - (len(roots) > 1)
    raise RepairError(
        f"the answer holds {found} different JSON values and "
        + (
            "the schema accepts none or several of them"
            if node is not None
            else "no schema was given to choose"
        )
        + "; re-ask for one value, or pass multiple=True to get them all",
        position=roots[0].start,
        raw=text,
        reason="several_values",
    )


def _prefix_of(part: object, whole: object) -> bool:
    """Whether ``part`` reads as a cut-off copy of ``whole``: everything but its last member or
    element equal, the last a prefix itself."""
    if type(whole) is dict:
        if type(part) is not dict or list(part) != list(whole)[: len(part)]:
            return False
        keys = list(part)
        return all(part[k] == whole[k] for k in keys[:-1]) and (
            not keys or _prefix_of(part[keys[-1]], whole[keys[-1]])
        )
    if type(whole) is list:
        if type(part) is not list or len(part) > len(whole):
            return False
        return all(a == b for a, b in zip(part[:-1], whole, strict=False)) and (
            not part or _prefix_of(part[-1], whole[len(part) - 1])
        )
    if type(whole) is str:
        return type(part) is str and whole.startswith(part)
    return part == whole or (
        type(part) in (int, float) and type(whole) in (int, float) and str(whole).startswith(str(part))
    )


def _opened(prefix: str) -> bool:
    """Whether the text before the value leaves a bracket open (a naive count)."""
    return sum(prefix.count(c) for c in "([{") > sum(prefix.count(c) for c in ")]}")
