"""setConversionStatus."""

from __future__ import annotations

import strawberry

from graphapi import models
from graphapi.conversion_status import set_status
from schema.conversion import Conversion, load_conversion
from schema.enums import ConversionStatus
from schema.ids import parse_id
from schema.validation import Errors, UserError


@strawberry.type
class ConversionPayload:
    conversion: Conversion | None
    user_errors: list[UserError]


@strawberry.type
class ConversionMutation:
    @strawberry.mutation(description="Change a conversion's status; its campaign's figures follow.")
    async def set_conversion_status(
        self, info: strawberry.Info, id: strawberry.ID, status: ConversionStatus
    ) -> ConversionPayload:
        services = info.context.services
        pk = parse_id(id, models.Conversion)
        if pk is None or not await set_status(services.db, services.feed, pk, status):
            errors = Errors()
            errors.add(["id"], "no conversion with this id")
            return ConversionPayload(conversion=None, user_errors=errors)
        return ConversionPayload(conversion=await load_conversion(info, pk), user_errors=[])
