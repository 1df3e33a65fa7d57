"""Realistic extraction answers for the differential fuzzer: schemas and seeded value generators.

Each schema is a pydantic model an extractor could declare (locations, intents,
invoices, events, product catalogues, reviews, tool calls, contacts, and a list at
the root); :func:`values` draws valid values for one of them from a seeded
``random.Random``. The strings are the ones models write: unicode place names,
quotes inside text, escapes, Windows paths, code, URLs, dates and identifiers.
"""

from __future__ import annotations

import random
import string
from typing import Any, Literal

from pydantic import BaseModel


class Location(BaseModel):
    city: str
    country: str | None = None
    region: str | None = None


class Locations(BaseModel):
    locations: list[Location]


class Entity(BaseModel):
    type: str
    value: str


class Intent(BaseModel):
    intent: str
    confidence: float
    entities: list[Entity]


class Address(BaseModel):
    street: str
    city: str
    zip: str
    country: str


class Customer(BaseModel):
    name: str
    email: str | None = None
    address: Address


class LineItem(BaseModel):
    sku: str
    description: str
    quantity: int
    unit_price: float
    tags: list[str] = []


class Invoice(BaseModel):
    number: str
    date: str
    currency: str
    customer: Customer
    lines: list[LineItem]
    total: float
    paid: bool
    notes: str | None = None


class Person(BaseModel):
    name: str
    role: str | None = None


class Event(BaseModel):
    title: str
    start: str
    end: str | None = None
    attendees: list[Person]
    location: Location | None = None
    recurring: bool


class Product(BaseModel):
    id: str
    name: str
    price: float
    stock: int
    dimensions: list[float]
    attributes: dict[str, str]


class Catalog(BaseModel):
    products: list[Product]


class Review(BaseModel):
    text: str
    rating: int
    sentiment: Literal["positive", "neutral", "negative"]
    pros: list[str]
    cons: list[str]


class ToolCall(BaseModel):
    name: str
    arguments: dict[str, Any]


class Contact(BaseModel):
    name: str
    emails: list[str]
    phones: list[str]
    address: Address | None = None
    tags: list[str]


#: Schema name -> the output type.
SCHEMAS: dict[str, Any] = {
    "Locations": Locations,
    "Intent": Intent,
    "Invoice": Invoice,
    "Event": Event,
    "Catalog": Catalog,
    "Review": Review,
    "ToolCall": ToolCall,
    "Contact": Contact,
    "LocationList": list[Location],
}

CITIES = [
    ("Paris", "France", "Île-de-France"),
    ("São Paulo", "Brazil", None),
    ("Zürich", "Switzerland", "ZH"),
    ("東京", "日本", None),
    ("Kraków", "Poland", "Lesser Poland"),
    ("New York", "United States", "NY"),
    ("Reykjavík", "Iceland", None),
    ("Montréal", "Canada", "Québec"),
    ("Cairo", "Egypt", None),
    ("Mumbai", "India", "Maharashtra"),
    ("St. John's", "Canada", "Newfoundland and Labrador"),
    ("Llanfairpwllgwyngyll", "United Kingdom", "Wales"),
    ("Ho Chi Minh City", "Vietnam", None),
    ("Köln", "Deutschland", "NRW"),
    ("Québec", "Canada", None),
]
WORDS = [
    "alpha",
    "bravo",
    "order",
    "refund",
    "shipping",
    "broken",
    "late",
    "delivery",
    "invoice",
    "account",
    "password",
    "reset",
    "weather",
    "flight",
    "hotel",
    "booking",
    "table",
    "column",
    "users",
    "orders",
    "meeting",
    "review",
    "battery",
    "screen",
    "price",
    "quality",
]
QUOTED = [
    'He said "hi" and left',
    'The "best" pizza in town',
    '12" pizza',
    'Press "Save", then "Close".',
    'She replied: "no, thanks" and hung up',
    'Notes on "Dune"',
    '"Quoted" at the start',
    'ends with a "quote"',
]
ESCAPED = [
    "line one\nline two",
    "tab\there",
    "C:\\Users\\ana\\report.pdf",
    "regex \\d{3}-\\d{4}",
    "emoji 🎉 and ünïcödé",
    "a \\ backslash",
    "trailing newline\n",
    "  two leading spaces",
    "<a href='https://example.com'>link</a>",
    "50% off, today only!",
    "{not json} [nor this]",
    "a: b, c: d",
    "price: $42.50 (incl. VAT)",
]
CODE = [
    'import json\n\ndef handler(event):\n    body = json.loads(event["body"])\n    return {"status": 200}\n',
    'print("hello, world")\n',
    "SELECT name, email\nFROM users\nWHERE created_at > '2024-01-01';\n",
    'echo "done" && exit 0\n',
    'const x = {a: 1, "b": [2, 3]};\n',
]
IDENTS = [
    "A-1029",
    "2024-06-01",
    "550e8400-e29b-41d4-a716-446655440000",
    "10-20",
    "1/3",
    "v1.2.3",
    "pending",
    "New York",
    "INV-2024-0042",
    "12:30",
    "ab12cd",
    "4f1c2e9a",
]


def _text(rng: random.Random, kinds: str = "wqe") -> str:
    """A string value: plain words, text with quotes, or text with escapes."""
    kind = rng.choice(kinds)
    if kind == "q":
        return rng.choice(QUOTED)
    if kind == "e":
        return rng.choice(ESCAPED)
    if kind == "i":
        return rng.choice(IDENTS)
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))).capitalize()


def _money(rng: random.Random) -> float:
    return round(rng.uniform(0.5, 5000), 2)


def _location(rng: random.Random) -> dict[str, Any]:
    city, country, region = rng.choice(CITIES)
    loc: dict[str, Any] = {"city": city}
    if rng.random() < 0.8:
        loc["country"] = country
    if rng.random() < 0.5:
        loc["region"] = region
    return loc


def _address(rng: random.Random) -> dict[str, Any]:
    city, country, _ = rng.choice(CITIES)
    street = f"{rng.randint(1, 999)} {rng.choice(['Rua Augusta', 'Main St', 'Bahnhofstraße', 'Avenue des Champs-Élysées'])}"
    return {
        "street": street,
        "city": city,
        "zip": rng.choice(["1100-053", "01101", "8001", "75008", "10001"]),
        "country": country,
    }


def _invoice(rng: random.Random) -> dict[str, Any]:
    lines = []
    for _ in range(rng.randint(1, 4)):
        lines.append(
            {
                "sku": f"SKU-{rng.randint(100, 9999)}",
                "description": _text(rng, "wwqe"),
                "quantity": rng.choice([1, 2, 3, 10, 1000, 25000]),
                "unit_price": _money(rng),
                "tags": [rng.choice(WORDS) for _ in range(rng.randint(0, 3))],
            }
        )
    inv: dict[str, Any] = {
        "number": f"INV-{rng.randint(2020, 2025)}-{rng.randint(1, 9999):04d}",
        "date": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "currency": rng.choice(["EUR", "USD", "BRL", "JPY"]),
        "customer": {
            "name": rng.choice(["Ana Silva", "Bo Chen", "Zoë Müller", "O'Brien & Sons"]),
            "address": _address(rng),
        },
        "lines": lines,
        "total": round(sum(line["quantity"] * line["unit_price"] for line in lines), 2),
        "paid": rng.random() < 0.5,
    }
    if rng.random() < 0.5:
        inv["customer"]["email"] = "billing@example.com"
    if rng.random() < 0.5:
        inv["notes"] = None if rng.random() < 0.3 else _text(rng)
    return inv


def _event(rng: random.Random) -> dict[str, Any]:
    event: dict[str, Any] = {
        "title": _text(rng, "wwq"),
        "start": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00",
    }
    if rng.random() < 0.5:
        event["end"] = None if rng.random() < 0.3 else "2024-12-31T18:00"
    event["attendees"] = [
        {
            "name": rng.choice(["Ana", "Bo", "Chidi", "Dagný", "Émile"]),
            "role": rng.choice([None, "host", "guest"]),
        }
        for _ in range(rng.randint(0, 4))
    ]
    if rng.random() < 0.6:
        event["location"] = _location(rng) if rng.random() < 0.8 else None
    event["recurring"] = rng.random() < 0.3
    return event


def _catalog(rng: random.Random) -> dict[str, Any]:
    products = []
    for _ in range(rng.randint(1, 3)):
        products.append(
            {
                "id": rng.choice(IDENTS[:3])
                if rng.random() < 0.3
                else "".join(rng.choices(string.hexdigits.lower(), k=8)),
                "name": _text(rng, "wq"),
                "price": _money(rng),
                "stock": rng.choice([0, 5, 120, 1500000, -1]),
                "dimensions": [round(rng.uniform(0.1, 300), 1) for _ in range(rng.choice([0, 2, 3]))],
                "attributes": {
                    rng.choice(["color", "size", "material", "wi-fi", "2nd choice"]): _text(rng, "wi")
                    for _ in range(rng.randint(0, 3))
                },
            }
        )
    return {"products": products}


def _review(rng: random.Random) -> dict[str, Any]:
    return {
        "text": _text(rng, "wqqe"),
        "rating": rng.randint(1, 5),
        "sentiment": rng.choice(["positive", "neutral", "negative"]),
        "pros": [_text(rng, "wq") for _ in range(rng.randint(0, 3))],
        "cons": [_text(rng, "we") for _ in range(rng.randint(0, 2))],
    }


def _tool_call(rng: random.Random) -> dict[str, Any]:
    name = rng.choice(["write_file", "run_sql", "send_email", "search", "get_weather"])
    if name == "write_file":
        args: dict[str, Any] = {
            "path": rng.choice(["src/app.py", "C:\\temp\\out.txt", "README.md"]),
            "content": rng.choice(CODE),
            "overwrite": rng.random() < 0.5,
        }
    elif name == "run_sql":
        args = {"query": CODE[2], "timeout_s": rng.choice([5, 30, 120])}
    elif name == "send_email":
        args = {
            "to": ["ana@example.com", "bo@example.org"][: rng.randint(1, 2)],
            "subject": _text(rng, "wq"),
            "body": _text(rng, "we"),
        }
    elif name == "search":
        args = {
            "query": _text(rng, "wqi"),
            "limit": rng.choice([5, 10, 50]),
            "filters": {"lang": rng.choice(["en", "pt", "de"]), "after": "2024-01-01"},
        }
    else:
        args = {
            "location": _location(rng),
            "units": rng.choice(["metric", "imperial"]),
            "days": rng.randint(1, 7),
        }
    return {"name": name, "arguments": args}


def _contact(rng: random.Random) -> dict[str, Any]:
    contact: dict[str, Any] = {
        "name": rng.choice(["Ana Silva", "Bo Chen", "Zoë Müller", "José O'Neil", "李雷"]),
        "emails": ["ana@example.com", "a.silva@work.example"][: rng.randint(0, 2)],
        "phones": ["+351 912 345 678", "(555) 010-2030"][: rng.randint(0, 2)],
    }
    if rng.random() < 0.6:
        contact["address"] = _address(rng) if rng.random() < 0.8 else None
    contact["tags"] = [rng.choice(["vip", "newsletter", "lead", "partner"]) for _ in range(rng.randint(0, 3))]
    return contact


def _intent(rng: random.Random) -> dict[str, Any]:
    return {
        "intent": rng.choice(["book_flight", "cancel_order", "refund_request", "smalltalk", "weather"]),
        "confidence": rng.choice([0.5, 0.55, 0.8, 0.92, 0.97, 1.0, 0.333]),
        "entities": [
            {
                "type": rng.choice(["destination", "date", "order_id", "amount", "reason"]),
                "value": _text(rng, "wiq"),
            }
            for _ in range(rng.randint(0, 3))
        ],
    }


_GENERATORS: dict[str, Any] = {
    "Locations": lambda rng: {"locations": [_location(rng) for _ in range(rng.randint(0, 4))]},
    "Intent": _intent,
    "Invoice": _invoice,
    "Event": _event,
    "Catalog": _catalog,
    "Review": _review,
    "ToolCall": _tool_call,
    "Contact": _contact,
    "LocationList": lambda rng: [_location(rng) for _ in range(rng.randint(1, 4))],
}


def values(count: int, seed: int) -> list[tuple[str, Any]]:
    """``count`` (schema name, value) pairs, every schema in turn, from ``seed``."""
    rng = random.Random(seed)
    names = list(_GENERATORS)
    return [(names[i % len(names)], _GENERATORS[names[i % len(names)]](rng)) for i in range(count)]
