"""JSON repair that fixes what models actually break — schema-guided, fast, honest.

```python
from extractkit.repair import repair_json
r = repair_json('{"locations": [{"city": "Paris"}], "country": "France"}', schema=Locations)
r.value      # {'locations': [{'city': 'Paris', 'country': 'France'}]}
r.actions    # ('reopened_object_closed_early',)
```

Valid JSON goes through the ``json.loads`` decoder and comes back unchanged with
no actions (with a schema, a valid answer whose members sit in an object that
closed too early is repaired like any other). Slips a model makes everywhere at
once (single quotes, Python literals, unquoted keys, trailing commas, comments,
raw newlines) are rewritten in one regular-expression pass. Anything else goes
through the repair engine: code fences and prose are stripped, objects closed
too early are reopened, truncated output is closed under the truncation rule,
and quotes inside strings, doubled braces and missing commas are read as meant.
A value returned with ``truncated=False`` is what the text meant: every change is
an unambiguous fix recorded in ``actions``. Where the text does not say what was
meant — a token that cannot be placed while the JSON goes on after it, a key with
no value, a stray close that leaves open which object closed early, several
different values and no schema to choose — :class:`RepairError` is raised with a
stable ``reason`` (:data:`REASONS`); a cut answer comes back with
``truncated=True``. The engine never returns prose, an empty string or a
half-guess as the answer.

Modules: ``result`` (RepairResult, action names), ``schema`` (what a schema says
about where keys belong), ``placement`` (which object a member belongs to),
``lexing`` (patterns, literals, escapes), ``prepass`` (the slip rewriter),
``state``/``members``/``strings``/``scalars``/``engine`` (the resumable parser), ``span``
(where the JSON is in the text) and ``stream`` (StreamingParser). The user guide
is docs/repair.md.
"""

from __future__ import annotations

import json
from typing import Any, Final

from extractkit.exceptions import RepairError, UserError
from extractkit.repair.lexing import skip_space
from extractkit.repair.placement import misplaced
from extractkit.repair.prepass import rewrite_slips, slip_at
from extractkit.repair.result import ACTIONS, REASONS, JsonPath, RepairResult, ordered
from extractkit.repair.schema import schema_node
from extractkit.repair.span import recover
from extractkit.repair.stream import StreamingParser

__all__ = ["ACTIONS", "REASONS", "JsonPath", "RepairError", "RepairResult", "StreamingParser", "repair_json"]

# The same decoder json.loads uses, called without json.loads's argument handling.
_decode: Final = json.JSONDecoder().decode
_SPACE: Final = skip_space
_new: Final = object.__new__
_slots: Any = RepairResult
_set_value: Final = _slots.value.__set__
_set_actions: Final = _slots.actions.__set__
_set_truncated: Final = _slots.truncated.__set__
_set_cut_paths: Final = _slots.cut_paths.__set__


def repair_json(text: str, schema: Any = None, *, multiple: bool = False) -> RepairResult:
    """Recover the JSON value a model meant from its raw answer.

    Args:
        text: The model's raw answer.
        schema: Optional pydantic model class, any type pydantic's ``TypeAdapter``
            accepts, or a JSON Schema dict. With it, a member that follows an object
            closed too early goes back to the object the schema says it belongs to.
        multiple: Return every value of a run of values (``{...} {...}``) as a list.
            Otherwise several different values are refused, unless the schema accepts
            exactly one of them (or the list of them).

    Returns:
        The recovered value, the actions taken, whether the answer was cut off and
        the paths the cut interrupted.

    Raises:
        RepairError: When no JSON value can be honestly recovered, or the value would not
            be what the text meant; ``reason`` says which (see :data:`REASONS`).
        UserError: When ``text`` is not a ``str`` or no JSON Schema can be derived from ``schema``.
    """
    try:
        value = _decode(text)
    except (ValueError, RecursionError) as exc:
        error = exc
    except TypeError:
        raise UserError(f"repair_json() takes the answer as a str, got {type(text).__name__}") from None
    else:
        if schema is None or not misplaced(value, node := schema_node(schema)):
            # Built through the slots: the frozen dataclass's __init__ costs more than a
            # small json.loads, and valid answers must cost little more than json.loads.
            result = _new(RepairResult)
            _set_value(result, [value] if multiple else value)
            _set_actions(result, ())
            _set_truncated(result, False)
            _set_cut_paths(result, ())
            return result
        return recover(text, node, multiple)
    node = schema_node(schema)
    if not multiple and isinstance(error, ValueError) and _starts_json(text) and slip_at(text, error):
        rewritten = rewrite_slips(text)
        if rewritten is not None and not misplaced(rewritten[0], node):
            return RepairResult(rewritten[0], ordered(rewritten[1]))
    return recover(text, node, multiple)


def _starts_json(text: str) -> bool:
    start = _SPACE(text, 0).end()
    return start < len(text) and text[start] in "{["
