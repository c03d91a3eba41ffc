"""addRule, updateRule, removeRule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry
from strawberry import UNSET
from strawberry.scalars import JSON

from graphapi import models
from schema.campaign import Rule
from schema.ids import parse_id
from schema.mutations import collect
from schema.validation import Errors, UserError


def check_rule(errors: Errors, path: Sequence[str], services: Any, plugin: str, config: object) -> None:
    """Whether `config` suits the loaded rule plugin `plugin` (its JSON Schema)."""
    if not isinstance(config, dict):
        errors.add([*path, "config"], "must be a JSON object")
        return
    if not errors.storable([*path, "config"], config):
        return
    for field, message in services.plugins.validate_rule_config(plugin, config):
        errors.add([*path, *field], message)


@strawberry.input
class AddRuleInput:
    campaign_id: strawberry.ID
    plugin: str
    config: JSON | None = None
    enabled: bool | None = True


@strawberry.input
class UpdateRuleInput:
    id: strawberry.ID
    config: JSON | None = UNSET
    enabled: bool | None = UNSET


@strawberry.type
class RulePayload:
    rule: Rule | None
    user_errors: list[UserError]


async def _rule(errors: Errors, path: list[str], rule_id: strawberry.ID) -> models.Rule | None:
    pk = parse_id(rule_id, models.Rule)
    rule = await models.Rule.get_or_none(id=pk) if pk is not None else None
    if rule is None:
        errors.add(path, "no rule with this id")
    return rule


@strawberry.type
class RuleMutation:
    @strawberry.mutation
    async def add_rule(self, info: strawberry.Info, input: AddRuleInput) -> RulePayload:
        errors = Errors()
        pk = parse_id(input.campaign_id, models.Campaign)
        if pk is None or not await models.Campaign.exists(id=pk):
            errors.add(["input", "campaignId"], "no campaign with this id")
        config = {} if input.config is None else input.config
        check_rule(errors, ["input"], info.context.services, input.plugin.strip(), config)
        errors.not_null(["input", "enabled"], input.enabled)
        if errors:
            return RulePayload(rule=None, user_errors=errors)
        row = await models.Rule.create(
            campaign_id=pk, plugin=input.plugin.strip(), config=config, enabled=input.enabled
        )
        return RulePayload(rule=Rule.of(row), user_errors=[])

    @strawberry.mutation
    async def update_rule(self, info: strawberry.Info, input: UpdateRuleInput) -> RulePayload:
        errors = Errors()
        rule = await _rule(errors, ["input", "id"], input.id)
        changes = collect(errors, ["input"], input, {"enabled": Errors.not_null})
        if input.config is not UNSET and rule is not None:
            check_rule(errors, ["input"], info.context.services, rule.plugin, input.config)
            changes["config"] = input.config
        if errors:
            return RulePayload(rule=None, user_errors=errors)
        if changes:
            await models.Rule.filter(id=rule.id).update(**changes)
        return RulePayload(rule=Rule.of(await models.Rule.get(id=rule.id)), user_errors=[])

    @strawberry.mutation
    async def remove_rule(self, id: strawberry.ID) -> RulePayload:
        errors = Errors()
        rule = await _rule(errors, ["id"], id)
        if errors:
            return RulePayload(rule=None, user_errors=errors)
        await models.Rule.filter(id=rule.id).delete()
        return RulePayload(rule=Rule.of(rule), user_errors=[])
