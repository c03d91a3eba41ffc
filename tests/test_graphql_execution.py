"""schema/execution.py answers plain fields itself: the same data and the same
errors as strawberry's own execution, wherever a value is wrong."""

from __future__ import annotations

import enum
from datetime import datetime, timezone

import strawberry

import schema


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"


@strawberry.type
class Thing:
    name: str
    nickname: str | None
    size: int
    when: datetime
    colour: Colour | None
    tags: list[str]

    @strawberry.field
    def loud(self) -> str:
        return self.name.upper()

    @strawberry.field
    async def later(self) -> str:
        if self.nickname == "boom":
            raise ValueError("boom")
        return self.name


GOOD = Thing(name="a", nickname=None, size=1, when=datetime(2026, 1, 2, tzinfo=timezone.utc),
             colour=Colour.RED, tags=["x"])  # fmt: skip
WRONG = [
    Thing(name=None, nickname="n", size=1, when=GOOD.when, colour=None, tags=[]),  # null where non-null
    Thing(name="b", nickname=None, size="big", when=GOOD.when, colour=None, tags=[]),  # not an Int
    Thing(name="c", nickname=None, size=2**40, when=GOOD.when, colour=None, tags=[]),  # beyond Int
    Thing(name="d", nickname=None, size=1, when="yesterday", colour=None, tags=[]),  # not a datetime
    Thing(name="e", nickname=None, size=1, when=GOOD.when, colour="blue", tags=[]),  # not a Colour
]


LATE = Thing(name="f", nickname="boom", size=1, when=GOOD.when, colour=None, tags=[])  # its `later` fails


@strawberry.type
class Box:
    thing: Thing
    maybe: Thing | None


# An object in a plain field: fine, null, or failing in a field of its own,
# synchronously or not, where the object may be null and where it may not.
BOXES = [Box(thing=GOOD, maybe=GOOD), Box(thing=GOOD, maybe=None), Box(thing=WRONG[0], maybe=GOOD),
         Box(thing=GOOD, maybe=WRONG[0]), Box(thing=None, maybe=GOOD), Box(thing=LATE, maybe=GOOD),
         Box(thing=GOOD, maybe=LATE), Box(thing=GOOD, maybe=WRONG[1])]  # fmt: skip


@strawberry.type
class Query:
    @strawberry.field
    def things(self) -> list[Thing | None]:
        return [GOOD, *WRONG, GOOD]

    @strawberry.field
    def boxes(self) -> list[Box | None]:
        return BOXES

    @strawberry.field
    def box(self) -> Box:
        return BOXES[5]

    @strawberry.field
    def first(self) -> Thing | None:
        return WRONG[0]


QUERY = """{
  things { name nickname size when colour tags loud alias: size __typename }
  plain: things { name nickname size when colour }
  first { nickname name }
  boxes { thing { name later } maybe { name size later } }
  synchronous: boxes { thing { name } maybe { size } }
}"""


def outcome(result):
    errors = sorted(
        (error.message, tuple(error.path), tuple((at.line, at.column) for at in error.locations))
        for error in result.errors or []
    )
    return result.data, errors


async def test_plain_fields_answer_as_strawberry_does():
    ours = schema.Schema(query=Query)
    theirs = strawberry.Schema(query=Query)
    data, errors = outcome(await ours.execute(QUERY))
    assert (data, errors) == outcome(await theirs.execute(QUERY))
    assert data["things"][0] == {
        "name": "a", "nickname": None, "size": 1, "when": "2026-01-02T00:00:00+00:00", "colour": "RED",
        "tags": ["x"], "loud": "A", "alias": 1, "__typename": "Thing",
    }  # fmt: skip
    # A wrong non-null value nulls its Thing; a wrong nullable one, its field.
    assert data["things"][1:5] == [None] * 4 and data["things"][5]["colour"] is None
    # The same, where every field asked for is a plain one.
    assert data["plain"][0] == {key: data["things"][0][key] for key in ("name", "nickname", "size", "when", "colour")}
    assert data["plain"][1:5] == [None] * 4 and data["plain"][5]["colour"] is None
    assert data["first"] is None
    # A failing non-null field nulls its object; a failing object, where it
    # may not be null, its box.
    assert data["boxes"][:2] == [{"thing": {"name": "a", "later": "a"}, "maybe": {"name": "a", "size": 1, "later": "a"}},
                                 {"thing": {"name": "a", "later": "a"}, "maybe": None}]  # fmt: skip
    assert data["boxes"][2] is None and data["boxes"][3]["maybe"] is None and data["boxes"][4:6] == [None, None]
    assert data["boxes"][6]["maybe"] is None and data["boxes"][7]["maybe"] is None
    assert data["synchronous"][7] == {"thing": {"name": "a"}, "maybe": None}


async def test_a_failing_object_where_nothing_may_be_null_nulls_the_answer():
    query = "{ box { thing { later } } }"
    ours = outcome(await schema.Schema(query=Query).execute(query))
    assert ours == outcome(await strawberry.Schema(query=Query).execute(query))
    assert ours[0] is None and ours[1][0][:2] == ("boom", ("box", "thing", "later"))
