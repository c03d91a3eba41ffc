"""The plugin hooks: one empty function per hook, whose docstring is the reference.

A plugin is a module (or any object) with functions of these names, marked with
`@hookimpl` (`from graphapi import hookimpl`). An implementation may take any
subset of a hook's arguments, and may be a plain or an `async` function.
docs/plugins.md shows each hook with an example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from graphapi.actions import Action
    from graphapi.events import CampaignCheck, ConversionEvent, ReceivedConversion, RulePluginInfo

hookspec = pluggy.HookspecMarker("graphapi")
hookimpl = pluggy.HookimplMarker("graphapi")


# -- Describing a plugin -------------------------------------------------------


@hookspec
def rule_plugin_info() -> RulePluginInfo | None:
    """Declare the plugin a *rule plugin*: one that campaigns attach with `addRule`.

    Return a `graphapi.events.RulePluginInfo(description=..., config_schema=...)`;
    `config_schema` is the JSON Schema every attached rule's `config` must match
    (checked by `addRule` / `updateRule`; GraphQL `RulePlugin.configSchema`).

    A rule plugin's `conversion_recorded` runs only for conversions of the
    campaigns that attached it, once per enabled rule, with that rule's config in
    `event.config`. A plugin that does not implement this hook runs for every
    conversion, with `event.config` None. `campaign_checked` runs for rule
    plugins only.
    """


# -- Before a conversion is recorded -------------------------------------------


@hookspec(firstresult=True)
def conversion_received(event: ReceivedConversion) -> str | None:
    """firstresult: decide the status of a conversion before it is recorded.

    Called by the postback path for each valid postback, before the conversion is
    written. `event.conversion.status` is the status the partner sent,
    `event.conversion.previous_status` the recorded one when the conversion
    already exists (else None); `event.click`, `event.campaign` and
    `event.params` (the postback's other parameters) describe it.

    Return `"approved"`, `"pending"` or `"rejected"` to record the conversion with
    that status instead (the "postback controls" networks offer: hold a
    suspicious payout as pending, reject a blacklisted source), or None to have
    no opinion. The first implementation that returns a status decides; one that
    raises, hangs past the timeout or returns anything else is logged and
    ignored, so a broken plugin never loses a conversion.
    """


# -- After a conversion is recorded --------------------------------------------


@hookspec
def conversion_recorded(event: ConversionEvent) -> list[Action] | None:
    """React to a created or updated conversion, once it is committed.

    `event.conversion`, `event.click`, `event.campaign`, `event.stats` (the
    campaign's figures since it began), `event.today` (since midnight UTC) and,
    for rule plugins, `event.config` describe it (see `graphapi.events`).

    Return None or a list of actions from `graphapi.actions`; graphapi applies
    them and records each as a rule event (`APPLIED`, `SKIPPED` when there was
    nothing to change, `FAILED`). Runs off the request path, at least once per
    conversion change, after a crash too; each implementation is called on its
    own with a timeout, and one that raises, hangs or returns anything else is
    recorded as a `FAILED` rule event while the others still run.
    """


# -- Periodically --------------------------------------------------------------


@hookspec
def campaign_checked(event: CampaignCheck) -> list[Action] | None:
    """Check a campaign between conversions: what clicks cost, with none needed.

    Rule plugins only: called every `GRAPHAPI_RULES_CHECK_SECONDS` (60 s), once
    across all graphapi processes sharing a database, for each enabled rule of
    the plugin on each active campaign that had clicks or conversions since the
    previous check (by the hour: one with traffic this hour is checked each
    time; one with none since is not, its figures unchanged). `event.campaign`,
    `event.stats` (since it began), `event.today` (since midnight UTC),
    `event.sources` (by traffic source, the figures since the campaign began of
    each source that had traffic since the previous check), `event.config` and
    `event.rule_id` describe it; there is no conversion or click.

    Return None or a list of actions, applied and recorded as for
    `conversion_recorded` (rule events with no conversion); one that raises,
    hangs or returns anything else is a `FAILED` rule event and the others
    still run. A check missed (no process running, or one that died mid-round)
    is not made up: the next one sees the figures as they are then.
    """
