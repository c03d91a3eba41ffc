"""The postback log."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from graphapi import models
from schema.conversion import Conversion, load_conversion
from schema.enums import ConversionStatus, PostbackOutcome
from schema.paging import Connection, page


@strawberry.type
class Postback:
    id: strawberry.ID
    received_at: datetime
    outcome: PostbackOutcome
    message: str | None
    click_id: str | None
    params: JSON
    remote_addr: str | None
    status: ConversionStatus | None = strawberry.field(
        description="The conversion's status once this postback was applied: the status it set, or the one "
        "it already had for a duplicate. `conversion.status` is the latest. Null when the postback was "
        "refused, and for postbacks logged before graphapi recorded it."
    )
    conversion_id: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.Postback) -> Postback:
        return cls(
            id=strawberry.ID(str(row.id)), received_at=row.received_at,
            outcome=models.PostbackOutcome(row.outcome), message=row.message,
            click_id=row.click_id, params=row.params, remote_addr=row.remote_addr,
            status=models.ConversionStatus(row.status) if row.status else None, conversion_id=row.conversion_id,
        )  # fmt: skip

    @strawberry.field
    async def conversion(self, info: strawberry.Info) -> Conversion | None:
        return await load_conversion(info, self.conversion_id)


@strawberry.type
class PostbackQuery:
    @strawberry.field
    async def postbacks(
        self, outcome: PostbackOutcome | None = None, first: int | None = 50, after: str | None = None
    ) -> Connection[Postback]:
        rows = models.Postback.all()
        if outcome is not None:
            rows = rows.filter(outcome=outcome)
        return await page(rows, first, after, Postback.of)
