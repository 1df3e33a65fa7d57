"""Builds cases.json, the table-driven repair corpus: ``python tests/repair_corpus/build.py``.

Every case is a realistic extraction answer broken the way models break them,
with the value the repair must give. Most cases are a base document (see
documents.py) broken by one transformation whose expected value is the document
itself; truncated cases take their expected value from oracle.py; the rest are
written out by hand below. The output is committed so the tests and the
benchmark read plain data.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from documents import ALL, INTENTS, LOCATIONS, TOOL_CALLS
from oracle import MISSING, serialize_with_prefixes

_UNIT = re.compile(r"\\u[0-9a-fA-F]{4}|\\.|.", re.S)

INNER_QUOTE_DOCS: list[dict[str, Any]] = [
    {"review": 'The "best" pizza in town', "rating": 5},
    {"quote": 'He said "hi" and left', "speaker": "Tom"},
    {"title": 'Notes on "Dune"', "tags": ["books", "sci-fi"]},
    {"items": ['a "quoted" word', "plain"]},
    {"answer": 'Use "SELECT *" sparingly.', "sources": []},
    {"intent": "search", "confidence": 0.9, "entities": [{"type": "title", "value": 'the "Matrix"'}]},
    {"name": "write_file", "arguments": {"path": "a.sh", "content": 'echo "done"\n'}},
    {"text": 'She replied: "no, thanks" and hung up', "sentiment": "negative"},
    {"summary": 'Press "Save", then "Close".', "steps": 2},
    {"label": '12" pizza', "price": 9.5},
]

PROSE = [
    "Here is the JSON you asked for:\n\n{}\n\nLet me know if you need anything else!",
    "Sure! Based on the text [the user's message], the result is: {}",
    "{}\n\nNote: I assumed {{city}} means the capital.",
    "Result [1]: {} (see [2] for details)",
    "Extracted data -> {} <- done",
    "I found the following (confidence [high]):\n{}\nAll fields {{verified}}.",
    "Output:\n{}\n\n---\nExplanation: the user mentioned [two] places.",
    "The answer is below.\n\n{}",
    "{} \n\nHope this helps :)",
    "Here you go [JSON]: {} [end]",
    "Certainly. {{Analysis}}: the request names one place.\n{}",
    "Step [1] done; step [2] result follows.\n{}\n[3] nothing else.",
    "json\n{}",
]

FENCES = [
    "```json\n{}\n```",
    "```\n{}\n```",
    "```JSON\n{}\n```\n",
    "Here is the output:\n```json\n{}\n```\nDone.",
    "```json {} ```",
    "  ```json\n{}\n  ```  ",
    "Sure!\n\n```json\n{}\n```\n\nThe `locations` field lists [all] places.",
]


def dump(
    v: Any,
    *,
    inject: tuple[tuple[Any, ...], int, str] | None = None,
    path: tuple[Any, ...] = (),
    key_style: str = "json",
    quote: str = '"',
    trailing: bool = False,
    doubled: bool = False,
    comments: bool = False,
) -> str:
    """A JSON-like writer with the slips models make, one option per slip."""
    kw = {
        "key_style": key_style,
        "quote": quote,
        "trailing": trailing,
        "doubled": doubled,
        "comments": comments,
    }
    if isinstance(v, dict):
        parts = []
        for i, (k, x) in enumerate(v.items()):
            key = k if key_style == "bare" else _string(k, quote)
            member = f"{key}: {dump(x, inject=inject, path=(*path, k), **kw)}"  # type: ignore[arg-type]
            parts.append(member)
            if inject is not None and inject[0] == path and inject[1] == i:
                parts.append(inject[2])
            elif i < len(v) - 1:
                parts.append(", ")
        body = "".join(parts)
        if comments and v:
            body = "/* fields follow; } is not a close here */ " + body
        if trailing and v:
            body += ","
        return ("{{" + body + "}}") if doubled else ("{" + body + "}")
    if isinstance(v, list):
        parts = []
        for i, x in enumerate(v):
            parts.append(dump(x, inject=inject, path=(*path, i), **kw))  # type: ignore[arg-type]
            if i < len(v) - 1:
                parts.append(", " if not comments else ", // next item ]\n")
        return "[" + "".join(parts) + ("," if trailing and v else "") + "]"
    if isinstance(v, str):
        return _string(v, quote)
    return json.dumps(v)


def _string(s: str, quote: str) -> str:
    token = json.dumps(s, ensure_ascii=False)
    if quote == '"':
        return token
    units = _UNIT.findall(token[1:-1])
    body = "".join('"' if u == '\\"' else "\\'" if u == "'" else u for u in units)
    return "'" + body + "'"


def unescape(text: str, which: set[str]) -> str:
    """Write chosen escapes raw: \\n as a newline, \\" as a bare quote, ..."""
    raw = {"\\n": "\n", "\\t": "\t", '\\"': '"', "\\r": "\r"}
    return "".join(raw[u] if u in which and u in raw else u for u in _UNIT.findall(text))


def js_keys(doc: Any) -> str:
    return dump(doc, key_style="bare")


def main() -> None:
    cases: list[dict[str, Any]] = []
    rng = random.Random(20240601)

    def add(category: str, text: str, expected: Any, schema: str | None = None, **extra: Any) -> None:
        case = {"category": category, "input": text, "expected": expected, "schema": schema}
        case.update(extra)
        cases.append(case)

    def alt_schema(name: str, i: int) -> str | None:
        return [None, name, f"dict:{name}"][i % 3]

    # valid: comes back unchanged, with no actions.
    for i, (name, doc) in enumerate(ALL):
        add(
            "valid",
            json.dumps(doc, ensure_ascii=i % 2 == 0, indent=2 if i % 3 == 0 else None),
            doc,
            alt_schema(name, i),
            actions=[],
        )
    for doc in INNER_QUOTE_DOCS[:5]:
        add("valid", json.dumps(doc), doc, None, actions=[])

    # premature close at the root, in the three forms.
    variants = ["}, ", "}", "} "]
    n = 0
    for name, doc in ALL:
        keys = list(doc)
        for i in range(len(keys) - 1):
            for form in variants:
                add("premature_root", dump(doc, inject=((), i, form)), doc, alt_schema(name, n))
                n += 1

    # premature close of an object nested in an object (the schema decides), and of an
    # object together with the array holding it ("}], "), which only a schema can place.
    n = 0
    for name, doc in ALL:
        for path, obj in _objects(doc):
            if not path or isinstance(path[-1], int) or len(obj) < 2:
                continue
            for i in range(len(obj) - 1):
                add(
                    "premature_nested",
                    dump(doc, inject=(path, i, variants[n % 3])),
                    doc,
                    name if n % 2 == 0 else f"dict:{name}",
                )
                n += 1
    for name, doc in ALL:
        for path, obj in _objects(doc):
            if not path or not isinstance(path[-1], int) or len(obj) < 2 or len(path) < 2:
                continue
            if not isinstance(path[-2], str):
                continue
            # Close the element and its array, then carry on with the element's members.
            text = dump(doc, inject=(path, 0, "}], "))
            tail_close = "}]"
            add("premature_nested", text, doc, name, note=f"element and array closed early ({tail_close})")
            n += 1

    # premature close of an object inside an array: no schema needed.
    n = 0
    for name, doc in ALL:
        for path, obj in _objects(doc):
            if not path or not isinstance(path[-1], int) or len(obj) < 2:
                continue
            for i in range(len(obj) - 1):
                add("premature_array", dump(doc, inject=(path, i, variants[n % 3])), doc, alt_schema(name, n))
                n += 1

    # truncation: prefixes, expected values from the oracle.
    for i, (name, doc) in enumerate(ALL):
        text, expected = serialize_with_prefixes(
            doc, indent=2 if i % 4 == 1 else None, ensure_ascii=i % 5 == 2
        )
        picks: set[int] = set()
        while len(picks) < 3:
            cut = rng.randrange(1, len(text) - 1)
            if expected[cut - 1] is not MISSING:
                picks.add(cut)
        for cut in sorted(picks):
            add("truncation", text[:cut], expected[cut - 1], alt_schema(name, cut), truncated=True)

    # code fences.
    for i, (name, doc) in enumerate(ALL):
        body = json.dumps(doc, indent=2 if i % 2 else None, ensure_ascii=False)
        add("code_fence", FENCES[i % len(FENCES)].format(body), doc, alt_schema(name, i))
    for i, (name, doc) in enumerate(ALL[:6]):
        text, expected = serialize_with_prefixes(doc)
        cut = len(text) * 2 // 3
        add("code_fence", "```json\n" + text[:cut], expected[cut - 1], alt_schema(name, i), truncated=True)

    # prose around the value, with brackets in the prose.
    for i, (name, doc) in enumerate(ALL):
        add(
            "prose",
            PROSE[i % len(PROSE)].format(json.dumps(doc, ensure_ascii=False)),
            doc,
            alt_schema(name, i),
        )
    for i, doc in enumerate(LOCATIONS[:4] + INTENTS[:3]):
        add("prose", PROSE[(i + 5) % len(PROSE)].format(json.dumps(doc, indent=2)), doc, None)

    # trailing commas.
    for i, (name, doc) in enumerate(ALL[:16]):
        add("trailing_comma", dump(doc, trailing=True), doc, alt_schema(name, i))

    # single quotes.
    for i, (name, doc) in enumerate(ALL[:16]):
        add("single_quotes", dump(doc, quote="'"), doc, alt_schema(name, i))

    # Python literals: a Python dict repr (single quotes, True/False/None).
    py_docs = [
        (name, doc) for name, doc in ALL if any(isinstance(v, bool) or v is None for v in _leaves(doc))
    ]
    extra = [
        ("Locations", {"locations": [{"city": "Lyon", "country": "France", "region": None}]}),
        (
            "Contact",
            {"name": "Cy", "email": None, "address": {"street": "2 Elm", "city": "Oslo", "zip": "0150"}},
        ),
        (None, {"ok": True, "done": False, "error": None, "count": 3}),
        (None, {"rows": [{"id": 1, "active": True}, {"id": 2, "active": False}], "next": None}),
    ]
    for i, (name, doc) in enumerate(ALL[:12] + py_docs + extra):
        add("python_literals", repr(doc), doc, alt_schema(name, i) if name else None)

    # JavaScript-style unquoted keys.
    for i, (name, doc) in enumerate(ALL[:16]):
        add("unquoted_keys", js_keys(doc), doc, alt_schema(name, i))

    # comments, with brackets inside them.
    for i, (name, doc) in enumerate(ALL[:16]):
        text = dump(doc, comments=True)
        if i % 2:
            text = "// extraction result\n" + text + "  # end"
        add("comments", text, doc, alt_schema(name, i))

    # raw newlines, tabs and other control characters inside strings.
    control_docs = [(n, d) for n, d in ALL if any(isinstance(v, str) and "\n" in v for v in _leaves(d))]
    control_docs += [
        (None, {"poem": "roses\tred\nviolets\tblue\n", "lines": 2}),
        (None, {"csv": "a,b\r\n1,2\r\n", "rows": 1}),
        (None, {"notes": ["first line\nsecond line", "  indented\n\n"], "n": 2}),
        (None, {"msg": "bell\x07 and form\x0c feed", "level": "warn"}),
        (
            "ToolCall",
            {"name": "write_file", "arguments": {"path": "x.txt", "content": "trailing spaces   \n\n\n"}},
        ),
    ]
    for i, (name, doc) in enumerate(control_docs):
        for j, which in enumerate(({"\\n"}, {"\\n", "\\t", "\\r"})):
            text = json.dumps(doc, ensure_ascii=False)
            raw = unescape(text, which)
            raw = re.sub(r"\\u00(0[0-8bcef]|1[0-9a-f])", lambda m: chr(int(m.group(1), 16)), raw)
            if raw != text:
                add("control_chars", raw, doc, alt_schema(name, i + j) if name else None)

    # unescaped quotes inside strings.
    quote_docs = [(None, d) for d in INNER_QUOTE_DOCS] + [
        (n, d) for n, d in ALL if any(isinstance(v, str) and '"' in v for v in _leaves(d))
    ]
    for i, (name, doc) in enumerate(quote_docs):
        add(
            "inner_quotes",
            unescape(json.dumps(doc, ensure_ascii=False), {'\\"'}),
            doc,
            alt_schema(name, i) if name else None,
        )
        if i < 5:
            add("inner_quotes", unescape(json.dumps(doc, indent=2), {'\\"'}), doc, None)

    # doubled braces, as a prompt template's {{ }} leaks into the answer.
    for i, (name, doc) in enumerate(ALL[:12]):
        add("doubled_braces", dump(doc, doubled=True), doc, alt_schema(name, i))
    for name, doc in ALL[12:15]:
        add("doubled_braces", "{" + json.dumps(doc) + "}", doc, name)

    # several values in a row: all with multiple=True; otherwise the one the schema accepts,
    # and an error when nothing says which is meant (returning the first was a silent guess).
    for i in range(0, 12, 2):
        (n1, d1), (n2, d2) = ALL[i], ALL[i + 1]
        sep = ["\n", " ", "\n\n", ""][i % 4]
        text = json.dumps(d1) + sep + json.dumps(d2)
        add("multiple_values", text, None, None, error="several_values")
        if n1 != n2:
            add("multiple_values", text, d1, n1, actions=["chose_value_by_schema"])
        else:
            add("multiple_values", text, None, n1, error="several_values")
        add("multiple_values", text, [d1, d2], None, multiple=True)
        add("multiple_values", text + sep + json.dumps(d1), d1, None, error="several_values")
    add("multiple_values", json.dumps(ALL[0][1]) + "\n" + json.dumps(ALL[0][1]), ALL[0][1], None)

    _handwritten(add)
    for index, case in enumerate(cases):
        case["id"] = f"{case['category']}-{index:03d}"
    out = Path(__file__).with_name("cases.json")
    out.write_text(json.dumps(cases, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {out}")


def _handwritten(add: Any) -> None:
    paris = {"locations": [{"city": "Paris", "country": "France"}]}
    # The issue's own example and its relatives.
    add("premature_nested", '{"locations": [{"city": "Paris"}], "country": "France"}', paris, "Locations")
    add("premature_nested", '{"locations": [{"city": "Paris"}]}, "country": "France"}', paris, "Locations")
    add(
        "premature_nested",
        '{"locations": [{"city": "Paris"}], "country": "France"}]}',
        paris,
        "dict:Locations",
    )
    add(
        "premature_array",
        '[{"city": "Paris"}, "country": "France"}]',
        [{"city": "Paris", "country": "France"}],
    )
    add(
        "premature_array",
        '[{"city": "Paris"} "country": "France"}]',
        [{"city": "Paris", "country": "France"}],
    )
    add(
        "premature_array",
        '[{"city": "Paris"}, "country": "France"]',
        [{"city": "Paris", "country": "France"}],
    )
    add("premature_root", '{"a": 1}, "b": 2}', {"a": 1, "b": 2})
    add("premature_root", '{"a": 1}"b": 2}', {"a": 1, "b": 2})
    add("premature_root", '{"a": 1} "b": 2}', {"a": 1, "b": 2})
    add("premature_root", '{"intent": "greet"},\n"confidence": 0.9}', {"intent": "greet", "confidence": 0.9})
    # Truncation, spelled out.
    add("truncation", '{"a": "x\\u00', {"a": "x"}, None, truncated=True)
    add("truncation", '{"a": "line one\\', {"a": "line one"}, None, truncated=True)
    add("truncation", '{"a": tr', {"a": True}, None, truncated=True)
    add("truncation", '{"a": fal', {"a": False}, None, truncated=True)
    add("truncation", '{"a": nu', {"a": None}, None, truncated=True)
    add("truncation", '{"a": 12.', {"a": 12}, None, truncated=True)
    add("truncation", '{"a": -1.5e', {"a": -1.5}, None, truncated=True)
    add("truncation", '{"a": 1, "b": -', {"a": 1}, None, truncated=True)
    add("truncation", '{"a": 1, "bc', {"a": 1}, None, truncated=True)
    add("truncation", '{"a": 1, "b":', {"a": 1}, None, truncated=True)
    add("truncation", '[{"city": "Par', [{"city": "Par"}], None, truncated=True)
    add("truncation", '{"text": "trailing space \\n  ', {"text": "trailing space \n  "}, None, truncated=True)
    # Prose whose brackets must not end up in the value.
    add(
        "prose",
        'The user said {hello} [twice]. Answer: {"intent": "greet", "confidence": 0.9, "entities": []}',
        {"intent": "greet", "confidence": 0.9, "entities": []},
        "Intent",
    )
    add(
        "prose",
        'See [1] and [2, 3].\n{"locations": [{"city": "Oslo", "country": "Norway"}]}\nSources: [1] wiki',
        {"locations": [{"city": "Oslo", "country": "Norway"}]},
        None,
    )
    add("prose", 'Answer: {"a": "x"} -- is that {right}?', {"a": "x"}, None)
    # Code fences around a value whose strings hold a fence.
    doc = TOOL_CALLS[4]
    add("code_fence", "```json\n" + json.dumps(doc) + "\n```", doc, "ToolCall")
    add("code_fence", "```json\n" + json.dumps(doc, indent=2) + "\n```\n", doc, None)
    # Doubled braces with nesting.
    add("doubled_braces", '{{"a": {{"b": 1}}, "c": [{{"d": 2}}]}}', {"a": {"b": 1}, "c": [{"d": 2}]}, None)
    # Several values, returned all.
    add(
        "multiple_values",
        '{"a": 1}\n{"a": 2}\n{"a": 3}\n',
        [{"a": 1}, {"a": 2}, {"a": 3}],
        None,
        multiple=True,
    )
    # Mixed failures at once.
    add("mixed", "```json\n{'locations': [{city: 'Paris', country: 'France',},],}\n```", paris, "Locations")
    add(
        "mixed",
        'Sure: {"locations": [{"city": "Paris"}, "country": "France"}, {"city": "Nice", // no country\n]}',
        {"locations": [{"city": "Paris", "country": "France"}, {"city": "Nice"}]},
        "Locations",
    )
    add(
        "mixed",
        '{"name": "run_sql", "arguments": {"query": "SELECT *\nFROM t\nWHERE a = "x";\n", "timeout_s": 5}}',
        {"name": "run_sql", "arguments": {"query": 'SELECT *\nFROM t\nWHERE a = "x";\n', "timeout_s": 5}},
        "ToolCall",
    )
    add(
        "mixed",
        "{'intent': 'refund', 'confidence': .9, 'entities': [{'type': 'amount', 'value': '12'}]",
        {"intent": "refund", "confidence": 0.9, "entities": [{"type": "amount", "value": "12"}]},
        "Intent",
        truncated=True,
    )
    add(
        "mixed",
        '{{"operations": [{"op": "drop_table", "table": "t"},]}}',
        {"operations": [{"op": "drop_table", "table": "t"}]},
        "TableOps",
    )
    add("mixed", '{"a": [1, 2,, 3], "b": +4, "c": 01}', {"a": [1, 2, 3], "b": 4, "c": 1}, None)
    add("mixed", '{"a": "hello, "b": 2}', {"a": "hello", "b": 2}, None)
    add("mixed", '{"status": ok, "count": 3}', {"status": "ok", "count": 3}, None)
    add("mixed", '{"a": [1, 2}', {"a": [1, 2]}, None)
    add("mixed", '{"a": 1 "b": 2}', {"a": 1, "b": 2}, None)
    for category, text, expected, schema, truncated in BLIND:
        if isinstance(expected, dict) and set(expected) == {"error"}:
            add(category, text, None, schema, error=expected["error"])
            continue
        add(category, text, expected, schema, **({"truncated": True} if truncated else {}))


# Written before the engine ever ran on them, to check it generalises.
# (category, input, expected, schema, truncated)
BLIND: list[tuple[str, str, Any, str | None, bool]] = [
    # (category, input, expected, schema, truncated)
    (
        "premature_nested",
        '{"name": "Ana", "address": {"street": "Rua 1", "city": "Porto"}, "zip": "4000-001"}, "phones": []}',
        {"name": "Ana", "address": {"street": "Rua 1", "city": "Porto", "zip": "4000-001"}, "phones": []},
        "Contact",
        False,
    ),
    (
        "premature_array",
        '{"entities": [{"type": "date"}, "value": "tomorrow"}, {"type": "city", "value": "Oslo"}], "intent": "book", "confidence": 0.7}',
        {
            "entities": [{"type": "date", "value": "tomorrow"}, {"type": "city", "value": "Oslo"}],
            "intent": "book",
            "confidence": 0.7,
        },
        None,
        False,
    ),
    (
        "premature_array",
        '[\n  {"city": "Lima"},\n  "country": "Peru"\n  },\n  {"city": "Quito", "country": "Ecuador"}\n]',
        [{"city": "Lima", "country": "Peru"}, {"city": "Quito", "country": "Ecuador"}],
        None,
        False,
    ),
    (
        "premature_root",
        '{"intent": "greet"}\n, "confidence": 0.99, "entities": []}',
        {"intent": "greet", "confidence": 0.99, "entities": []},
        "Intent",
        False,
    ),
    (
        "truncation",
        '{"operations": [{"op": "update", "table": "users", "set": {"age": 3',
        {"operations": [{"op": "update", "table": "users", "set": {"age": 3}}]},
        "TableOps",
        True,
    ),
    (
        "truncation",
        '{"name": "write_file", "arguments": {"path": "a.md", "content": "# Title\\n\\nSome text with a \\"quote\\" and a tab\\t',
        {
            "name": "write_file",
            "arguments": {"path": "a.md", "content": '# Title\n\nSome text with a "quote" and a tab\t'},
        },
        "ToolCall",
        True,
    ),
    ("truncation", '[{"a": 1}, {"b": [true, fals', [{"a": 1}, {"b": [True, False]}], None, True),
    (
        "code_fence",
        'Sure, here is the JSON:\n\n```json\n{\n  "locations": [\n    {"city": "Rome", "country": "Italy"}\n  ]\n}\n```\n\nLet me know!',
        {"locations": [{"city": "Rome", "country": "Italy"}]},
        None,
        False,
    ),
    (
        "code_fence",
        '```javascript\n{city: "Rome", country: "Italy", /* capital */}\n```',
        {"city": "Rome", "country": "Italy"},
        None,
        False,
    ),
    (
        "prose",
        'I think the answer is {"intent": "weather", "confidence": 0.8, "entities": [{"type": "city", "value": "Paris"}]} because the user asked about [rain].',
        {"intent": "weather", "confidence": 0.8, "entities": [{"type": "city", "value": "Paris"}]},
        None,
        False,
    ),
    (
        "prose",
        'Output (JSON):\n[{"city": "Oslo"}, {"city": "Bergen"}]\n\nNote: {country} was not given.',
        [{"city": "Oslo"}, {"city": "Bergen"}],
        None,
        False,
    ),
    (
        "single_quotes",
        "{'query': 'SELECT * FROM t WHERE name = \\'x\\'', 'limit': 10}",
        {"query": "SELECT * FROM t WHERE name = 'x'", "limit": 10},
        None,
        False,
    ),
    (
        "single_quotes",
        "[{'city': \"Xi'an\", 'country': 'China'}]",
        [{"city": "Xi'an", "country": "China"}],
        None,
        False,
    ),
    (
        "python_literals",
        "{'ok': True, 'items': [1, 2, None], 'meta': {'cached': False}}",
        {"ok": True, "items": [1, 2, None], "meta": {"cached": False}},
        None,
        False,
    ),
    (
        "unquoted_keys",
        '{\n  intent: "order_pizza",\n  confidence: 0.93,\n  entities: [{type: "size", value: "large"}]\n}',
        {"intent": "order_pizza", "confidence": 0.93, "entities": [{"type": "size", "value": "large"}]},
        "Intent",
        False,
    ),
    (
        "comments",
        '{\n  // the user wants two cities\n  "locations": [\n    {"city": "Lyon"}, // France\n    {"city": "Turin"} /* Italy */\n  ]\n}',
        {"locations": [{"city": "Lyon"}, {"city": "Turin"}]},
        None,
        False,
    ),
    (
        "control_chars",
        '{"body": "Dear team,\n\n\tThe build is green.\n\nRegards\n", "to": ["dev@x.io"]}',
        {"body": "Dear team,\n\n\tThe build is green.\n\nRegards\n", "to": ["dev@x.io"]},
        None,
        False,
    ),
    (
        "inner_quotes",
        '{"answer": "The word "JSON" stands for JavaScript Object Notation.", "confidence": 0.9}',
        {"answer": 'The word "JSON" stands for JavaScript Object Notation.', "confidence": 0.9},
        None,
        False,
    ),
    (
        "inner_quotes",
        '{"title": "Review: "Great value"", "stars": 4}',
        {"title": 'Review: "Great value"', "stars": 4},
        None,
        False,
    ),
    ("inner_quotes", '["He said "no"", "She said "yes""]', ['He said "no"', 'She said "yes"'], None, False),
    (
        "doubled_braces",
        '{{"intent": "greet", "confidence": 1.0, "entities": []}}',
        {"intent": "greet", "confidence": 1.0, "entities": []},
        "Intent",
        False,
    ),
    (
        "multiple_values",
        '{"city": "Oslo"}\n{"city": "Rome"}\n{"city": "Nice"}',
        {"error": "several_values"},  # was {"city": "Oslo"}: the first of three, a silent guess
        None,
        False,
    ),
    (
        "mixed",
        "```json\n{'locations': [{'city': 'Paris'}, 'country': 'France'}],}\n```",
        {"locations": [{"city": "Paris", "country": "France"}]},
        "Locations",
        False,
    ),
    (
        "mixed",
        '{"a": 1,\n "b": [1, 2, 3,],\n "c": {"d": "x",},\n}',
        {"a": 1, "b": [1, 2, 3], "c": {"d": "x"}},
        None,
        False,
    ),
    (
        "mixed",
        'Answer:\n{"name": "search", "arguments": {"query": "best \\"budget\\" laptops 2024", "limit": 3}',
        {"name": "search", "arguments": {"query": 'best "budget" laptops 2024', "limit": 3}},
        "ToolCall",
        True,
    ),
    (
        "truncation",
        '{"locations": [{"city": "Paris", "country": "France"}, {"city": "Be',
        {"locations": [{"city": "Paris", "country": "France"}, {"city": "Be"}]},
        "Locations",
        True,
    ),
    (
        "truncation",
        '{"a": [1, 2, 3], "b": {"c": "d"}, "e": 1.2e',
        {"a": [1, 2, 3], "b": {"c": "d"}, "e": 1.2},
        None,
        True,
    ),
    (
        "premature_nested",
        '{"name": "run_sql", "arguments": {"query": "SELECT 1"}, "timeout_s": 5}',
        {"name": "run_sql", "arguments": {"query": "SELECT 1", "timeout_s": 5}},
        "ToolCall",
        False,
    ),
    (
        "premature_nested",
        '{"operations": [{"op": "update", "table": "t", "where": {"column": "id"}, "equals": 3}]}',
        {"operations": [{"op": "update", "table": "t", "where": {"column": "id", "equals": 3}}]},
        "TableOps",
        False,
    ),
    (
        "code_fence",
        '```json\n{"locations": [{"city": "Paris", "country": "Fr',
        {"locations": [{"city": "Paris", "country": "Fr"}]},
        None,
        True,
    ),
]


def _objects(v: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    found: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    if isinstance(v, dict):
        found.append((path, v))
        for k, x in v.items():
            found.extend(_objects(x, (*path, k)))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            found.extend(_objects(x, (*path, i)))
    return found


def _leaves(v: Any) -> list[Any]:
    if isinstance(v, dict):
        return [leaf for x in v.values() for leaf in _leaves(x)]
    if isinstance(v, list):
        return [leaf for x in v for leaf in _leaves(x)]
    return [v]


if __name__ == "__main__":
    main()
