"""A corpus of pydantic output types for the strict-schema tests (issue 10, part 2).

Nested models, enums, Literals, unions (plain and discriminated), recursive
models, defaults of every kind, descriptions, Optional, lists, tuples, dicts
with fixed keys (TypedDict), Annotated constraints, aliases, and the free-form
dicts that strict mode cannot express.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Size(int, enum.Enum):
    S = 1
    M = 2


class Flat(BaseModel):
    name: str
    age: int


class Defaults(BaseModel):
    count: int = 0
    tags: list[str] = []
    ratio: float = 0.5
    flag: bool = False
    label: str = "none"


class EnumDefault(BaseModel):
    color: Color = Color.RED
    size: Size = Size.M


class Optionals(BaseModel):
    note: str | None = None
    score: float | None
    items: list[int] | None = None


class Described(BaseModel):
    """A model with a docstring."""

    city: str = Field(description="The city.")
    country: str | None = Field(default=None, description="The country, or null.")


class Address(BaseModel):
    street: str
    zip: str | None = None


class Person(BaseModel):
    name: str
    address: Address
    other: list[Address] = []


class RefWithDescription(BaseModel):
    home: Address = Field(description="Where they live.")
    work: Address | None = Field(default=None, description="Where they work.")


class RefWithDefault(BaseModel):
    home: Address = Address(street="Main St")


class RefWithTitle(BaseModel):
    home: Address = Field(title="Home address")


class Literals(BaseModel):
    mode: Literal["fast", "slow"]
    level: Literal[1, 2, 3] = 1
    fixed: Literal["x"] = "x"


class Cat(BaseModel):
    kind: Literal["cat"] = "cat"
    lives: int = 9


class Dog(BaseModel):
    kind: Literal["dog"] = "dog"
    good: bool = True


class PlainUnion(BaseModel):
    pet: Cat | Dog


class TaggedUnion(BaseModel):
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]


class TaggedUnionList(BaseModel):
    pets: list[Annotated[Cat | Dog, Field(discriminator="kind")]] = []


class ScalarUnion(BaseModel):
    value: int | str
    maybe: int | str | None = None


class Node(BaseModel):
    name: str
    children: list[Node] = []


class LinkedList(BaseModel):
    value: int
    next: LinkedList | None = None


class Tree(BaseModel):
    root: Node
    size: int = 0


class Employee(BaseModel):
    name: str
    manager: Employee | None = Field(default=None, description="Their manager.")
    reports: list[Employee] = []


class Constraints(BaseModel):
    short: Annotated[str, Field(min_length=1, max_length=10)]
    pct: Annotated[float, Field(ge=0, le=100)] = 0
    code: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "ABC"
    many: Annotated[list[int], Field(min_length=1)]


class Lists(BaseModel):
    names: list[str]
    matrix: list[list[int]] = []
    people: list[Flat]


class Tuples(BaseModel):
    point: tuple[float, float]
    pair: tuple[str, int] = ("a", 1)


class Point(TypedDict):
    x: float
    y: float


class WithTypedDict(BaseModel):
    origin: Point
    path: list[Point] = []


class Nested3(BaseModel):
    person: Person
    tree: Tree | None = None


class Aliased(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    first_name: str = Field(alias="firstName")
    last_name: str | None = Field(default=None, alias="lastName")


class Forbid(BaseModel):
    model_config = ConfigDict(extra="forbid")

    a: int
    b: int = 1


class Empty(BaseModel):
    pass


class HasEmpty(BaseModel):
    marker: Empty
    value: int = 0


class Dates(BaseModel):
    day: dt.date
    when: dt.datetime | None = None


class Money(BaseModel):
    amount: Decimal
    currency: Literal["EUR", "USD"] = "EUR"


class EnumList(BaseModel):
    colors: list[Color] = [Color.GREEN]
    sizes: list[Size]


class DefaultFactory(BaseModel):
    tags: list[str] = Field(default_factory=list)
    meta: Address = Field(default_factory=lambda: Address(street="x"))


class OptionalNested(BaseModel):
    address: Address | None = None
    addresses: list[Address | None] = []


class UnionOfLists(BaseModel):
    values: list[int] | list[str]


class DeepDefaults(BaseModel):
    inner: Defaults = Defaults()
    enums: EnumDefault = Field(default_factory=EnumDefault)


class Invoice(BaseModel):
    """An invoice."""

    number: str = Field(description="Invoice number.")
    lines: list[Money] = Field(default=[], description="The lines.")
    total: Money
    paid: bool = False


class Intent(BaseModel):
    route: Literal["book_holiday", "get_payslip", "other"]
    confidence: float | None = None


class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"] = "neutral"
    reasons: list[str] = []


class ShippingInfo(BaseModel):
    method: Literal["air", "sea"] | None = None
    address: Address
    notes: Annotated[str, Field(max_length=200)] | None = None


class Mixed(BaseModel):
    color: Color | None = None
    size: Size | Literal["unknown"] = "unknown"


class BoolInt(BaseModel):
    yes: bool
    number: int = 0
    real: float


# Free-form objects: strict mode cannot express them (to_strict_schema returns None).
class FreeDict(BaseModel):
    meta: dict[str, str] = {}


class AnyDict(BaseModel):
    payload: dict[str, Any]


class ExtraAllow(BaseModel):
    model_config = ConfigDict(extra="allow")

    a: int


class DictOfModels(BaseModel):
    by_id: dict[str, Flat]


STRICT: list[type[BaseModel]] = [
    Flat,
    Defaults,
    EnumDefault,
    Optionals,
    Described,
    Address,
    Person,
    RefWithDescription,
    RefWithDefault,
    RefWithTitle,
    Literals,
    Cat,
    PlainUnion,
    TaggedUnion,
    TaggedUnionList,
    ScalarUnion,
    Node,
    LinkedList,
    Tree,
    Employee,
    Constraints,
    Lists,
    Tuples,
    WithTypedDict,
    Nested3,
    Aliased,
    Forbid,
    Empty,
    HasEmpty,
    Dates,
    Money,
    EnumList,
    DefaultFactory,
    OptionalNested,
    UnionOfLists,
    DeepDefaults,
    Invoice,
    Intent,
    Sentiment,
    ShippingInfo,
    Mixed,
    BoolInt,
]

FREE_FORM: list[type[BaseModel]] = [FreeDict, AnyDict, ExtraAllow, DictOfModels]

RECURSIVE = {Node, LinkedList, Tree, Employee}
