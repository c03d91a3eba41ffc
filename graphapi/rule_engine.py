"""The rule engine: runs the `conversion_recorded` hooks for each outbox row.

The postback path writes an outbox row in the same transaction as each created
or updated conversion, so no hand-over is lost to a crash. Every graphapi
process runs an engine, off the request path; it wakes when the feed announces
a conversion (`services.feed`) and every `GRAPHAPI_RULES_POLL_SECONDS` for rows
nobody announced (another SQLite process, a crash).

Once across processes: an engine claims rows (attempts + 1 and a lease, with
`FOR UPDATE SKIP LOCKED` on PostgreSQL, under SQLite's BEGIN IMMEDIATE), runs
the hooks, delivers webhooks, then in ONE transaction applies the other
actions, records the rule events and marks the row processed, on condition that
`attempts` is still what it claimed. A claimer that died leaves its rows to be
claimed again when the lease ends, and a claimer whose lease was taken over
commits nothing: database effects happen exactly once, webhooks at least once
(with a stable `webhook-id` for the receiver to drop repeats).

Rows the postback path knew had nothing to run (no enabled rule on the
campaign, no plugin that runs for every conversion) are written processed and
never claimed: a rule enabled later does not see them.

Running a hook, delivering its webhooks and recording what it returned are
shared with the periodic checks (`graphapi.rule_checks`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy
from tortoise.transactions import in_transaction

from graphapi import actions
from graphapi.events import ConversionEvent, ConversionInfo, campaign_info, click_info
from graphapi.models import (
    Campaign,
    CampaignStatus,
    Conversion,
    ConversionStatus,
    Outbox,
    Rule,
    RuleEvent,
    RuleEventOutcome,
)
from graphapi.plugins import Plugins, describe_failure
from graphapi.stats import campaign_stats, utc_midnight
from graphapi.webhooks import Delivery, WebhookSender

if TYPE_CHECKING:
    from graphapi.app import Services

log = logging.getLogger(__name__)
T = TypeVar("T")

BATCH = 20
# After an announcement, how long more are let in before the pass they share.
GATHER_SECONDS = 0.05
# An event whose processing kept dying with its process is given up after this.
MAX_ATTEMPTS = 5
HOOK = "conversion_recorded"
# A hook to call, with the rule it runs for; a rule whose plugin is not loaded
# comes with the plugin's name instead.
Call = tuple[pluggy.HookImpl | str, Rule | None]

# A conversion's changes run in order: a row is claimable only when no earlier
# row of the same conversion is still waiting (in this process or another).
# Taken in outbox_pending's order (processed_at is NULL in all of them), so
# the index is read in order and the LIMIT ends the scan: ordered by id alone,
# PostgreSQL read and sorted every pending row to take 20 (4,528 rows, 6 ms).
CLAIM = (
    "UPDATE outbox SET attempts = attempts + 1, lease_until = ? WHERE id IN ("
    "SELECT o.id FROM outbox o WHERE o.processed_at IS NULL AND (o.lease_until IS NULL OR o.lease_until < ?) "
    "AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.conversion_id = o.conversion_id "
    "AND e.processed_at IS NULL AND e.id < o.id) "
    "ORDER BY o.processed_at, o.id LIMIT ?{lock}) RETURNING id, conversion_id, previous_status, attempts, status"
)


def has_enabled_rule(campaign_id: str) -> str:
    """SQL: whether the campaign `campaign_id` (a column) has an enabled rule;
    the postback path and the engine both ask it, and must agree."""
    return f"{campaign_id} IN (SELECT campaign_id FROM rule WHERE enabled)"


# Each conversion's campaign, and whether the campaign has enabled rules.
_CAMPAIGNS_OF = (
    f"SELECT v.id, v.campaign_id, {has_enabled_rule('v.campaign_id')} FROM conversion v WHERE v.id IN ({{ids}})"
)
# Rows with nothing to run are marked processed on their own, if still ours.
_PROCESSED = (
    "UPDATE outbox SET processed_at = ?, lease_until = NULL "
    "WHERE processed_at IS NULL AND attempts = ? AND id IN ({ids})"
)


def every_conversion_hooks(plugins: Plugins) -> list[pluggy.HookImpl]:
    """The `conversion_recorded` implementations that run for every conversion
    of every campaign: those of plugins that are not rule plugins."""
    rule_plugins = plugins.rule_plugins()
    return [impl for impl in plugins.implementations(HOOK) if impl.plugin_name not in rule_plugins]


@dataclass
class Result:
    """One line of a rule event, before it is recorded."""

    plugin: str
    action: str
    outcome: RuleEventOutcome
    message: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    rule_id: int | None = None
    todo: Any = None  # the action still to apply
    index: int = 0  # its place in what the hook returned


@dataclass(frozen=True, order=True)
class Claim:
    outbox_id: int
    conversion_id: int
    previous_status: str | None
    attempts: int
    status: str | None  # None in rows from before the outbox kept it


class RuleEngine:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._settings = services.settings
        self._task: asyncio.Task | None = None
        self._in_flight: set[int] = set()
        self._writes: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="rule-engine")

    async def stop(self) -> None:
        interrupted = set(self._in_flight)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.gather(*self._writes, return_exceptions=True)
        # And the rows of a claim that was being written: it ends after the task.
        interrupted |= self._in_flight
        if interrupted:
            # Interrupted, not crashed: let the next engine take these at once.
            await Outbox.filter(id__in=interrupted, processed_at=None).update(lease_until=None)

    async def _run(self) -> None:
        async with self._services.feed.subscribe() as announced:
            while True:
                try:
                    await self.run_pending()
                except Exception:
                    log.exception("rule engine pass failed; retrying on the next poll")
                try:
                    async with asyncio.timeout(self._settings.rules_poll_seconds):
                        await announced.get()
                except TimeoutError:
                    pass
                else:
                    # Under load each postback batch announces its conversions:
                    # a pass per batch was a claim each, mostly finding nothing.
                    await asyncio.sleep(GATHER_SECONDS)
                while not announced.empty():
                    announced.get_nowait()

    async def run_pending(self) -> int:
        """Process claimable outbox rows until there are none; how many were."""
        done = 0
        while claims := await self._claim():
            try:
                await self.process(claims)
            finally:
                self._in_flight.difference_update(c.outbox_id for c in claims)
            done += len(claims)
        return done

    async def process(self, claims: list[Claim]) -> None:
        """Run the hooks for claimed rows. The campaigns come first: rows no plugin
        listens to (or whose conversion is gone) are only marked processed, all in
        one statement and without loading their conversions through the ORM, which
        costs more than the postbacks that wrote them."""
        ids = [c.conversion_id for c in claims]
        sql = _CAMPAIGNS_OF.format(ids=", ".join("?" * len(ids)))
        campaigns = {row[0]: row[1:] for row in await self._services.db.fetch(sql, ids)}
        idle, busy = [], []
        for claim in claims:
            found = campaigns.get(claim.conversion_id)
            calls = await self._calls(*found) if found else []
            (busy if calls else idle).append((claim, calls))
        if idle:
            await self.unstoppable(self._mark_processed([claim for claim, _ in idle]))
        outcomes = await asyncio.gather(*(self._process(c, calls) for c, calls in busy), return_exceptions=True)
        for (claim, _), outcome in zip(busy, outcomes, strict=True):
            if isinstance(outcome, Exception):
                # Left claimed: it runs again when the lease ends.
                log.error("outbox %s failed", claim.outbox_id, exc_info=outcome)

    async def unstoppable(self, write: Awaitable[T]) -> T:
        """A transaction run to its end even when the engine (or the checks,
        stopped before it) is stopped meanwhile: cancelled between its BEGIN and
        its end, it could leave the connection in it."""
        task = asyncio.ensure_future(write)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return await asyncio.shield(task)

    async def _claim(self) -> list[Claim]:
        return await self.unstoppable(self._claim_now())

    async def _claim_now(self) -> list[Claim]:
        db = self._services.db
        now = datetime.now(timezone.utc)
        until = now + timedelta(seconds=self._settings.rules_lease_seconds)
        sql = CLAIM.format(lock=" FOR UPDATE SKIP LOCKED" if db.postgres else "")
        async with db.write(one_statement=True) as tx:
            rows = await tx.fetch(sql, (until, now, BATCH))
        # Known as claimed here, not by the caller: a stopped engine's caller
        # is gone, and stop() must still let these rows go.
        self._in_flight.update(row[0] for row in rows)
        return sorted(Claim(*row) for row in rows) if rows else []

    async def _mark_processed(self, claims: list[Claim]) -> None:
        now = datetime.now(timezone.utc)
        # Grouped by the attempts each claim holds (almost always one group).
        by_attempts: dict[int, list[int]] = {}
        for claim in claims:
            by_attempts.setdefault(claim.attempts, []).append(claim.outbox_id)
        async with self._services.db.write() as tx:
            for attempts, ids in by_attempts.items():
                await tx.execute(_PROCESSED.format(ids=", ".join("?" * len(ids))), [now, attempts, *ids])

    async def _process(self, claim: Claim, calls: list[Call]) -> None:
        conversion = await Conversion.get_or_none(id=claim.conversion_id).select_related("click", "campaign")
        if conversion is None:
            await self._commit(claim, None, [])
            return
        if claim.attempts > MAX_ATTEMPTS:
            message = f"given up after {claim.attempts - 1} attempts that did not finish"
            log.error("outbox %s %s", claim.outbox_id, message)
            await self._commit(
                claim, conversion, [Result("graphapi", HOOK, RuleEventOutcome.FAILED, message)]
            )
            return
        event = await self._event(conversion, claim.previous_status, claim.status)
        results = await run_hooks(self._services.plugins, HOOK, event, calls)
        await deliver(self._services.webhooks, str(claim.outbox_id), results)
        changed = await self._commit(claim, conversion, results)
        if changed:
            await self._services.campaigns.changed(conversion.campaign_id)

    async def _calls(self, campaign_id: int, has_rules: bool) -> list[Call]:
        """Each plugin once; each rule plugin once per enabled rule of the
        campaign. A rule whose plugin is not loaded is a str (its name)."""
        plugins = self._services.plugins
        rule_plugins = plugins.rule_plugins()
        rules = await Rule.filter(campaign_id=campaign_id, enabled=True).order_by("id") if has_rules else []
        calls: list[Call] = [(impl, None) for impl in every_conversion_hooks(plugins)]
        impls = {impl.plugin_name: impl for impl in plugins.implementations(HOOK)}
        for rule in rules:
            if rule.plugin in rule_plugins or rule.plugin not in impls:  # a plugin that runs on all: once
                calls.append((impls.get(rule.plugin, rule.plugin), rule))
        return calls

    async def _event(
        self, conversion: Conversion, previous_status: str | None, status: str | None
    ) -> ConversionEvent:
        campaign, click = conversion.campaign, conversion.click
        db = self._services.db
        return ConversionEvent(
            conversion=ConversionInfo(
                id=conversion.id,
                goal=conversion.goal,
                txid=conversion.txid,
                status=ConversionStatus(status or conversion.status),
                previous_status=ConversionStatus(previous_status) if previous_status else None,
                payout=conversion.payout,
                currency=conversion.currency,
            ),
            click=click_info(click),
            campaign=campaign_info(campaign),
            stats=await campaign_stats(db, campaign.id, campaign.currency),
            today=await campaign_stats(db, campaign.id, campaign.currency, since=utc_midnight()),
            source_stats=(
                await campaign_stats(db, campaign.id, campaign.currency, source=click.source)
                if click.source is not None
                else None
            ),
        )

    async def _commit(self, claim: Claim, conversion: Conversion | None, results: list[Result]) -> bool:
        """Apply the database actions, record the rule events and mark the row
        processed, in one transaction; whether the campaign changed."""
        return await self.unstoppable(self._commit_now(claim, conversion, results))

    async def _commit_now(self, claim: Claim, conversion: Conversion | None, results: list[Result]) -> bool:
        now = datetime.now(timezone.utc)
        async with in_transaction() as conn:
            mine = (
                await Outbox.filter(id=claim.outbox_id, processed_at=None, attempts=claim.attempts)
                .using_db(conn)
                .update(processed_at=now, lease_until=None)
            )
            if not mine or conversion is None or not results:
                return False  # another engine took it over (lease expired), or nothing to do
            return await record(conn, conversion.campaign_id, conversion.id, results, now)


async def run_hooks(plugins: Plugins, hook: str, event: Any, calls: list[Call]) -> list[Result]:
    """Each call's implementation of `hook` on `event` (with its rule's config),
    side by side; what they returned, flattened."""
    results = await asyncio.gather(*(_run_hook(plugins, hook, event, impl, rule) for impl, rule in calls))
    return [result for group in results for result in group]


async def _run_hook(
    plugins: Plugins, hook: str, event: Any, impl: pluggy.HookImpl | str, rule: Rule | None
) -> list[Result]:
    rule_id = rule.id if rule else None
    if isinstance(impl, str):
        return [
            Result(
                impl,
                hook,
                RuleEventOutcome.FAILED,
                f"rule plugin {impl!r} is not loaded",
                rule_id=rule_id,
            )
        ]
    if rule is not None:
        event = dataclasses.replace(event, config=rule.config or {}, rule_id=rule.id)
    name = impl.plugin_name
    try:
        returned = await plugins.call(impl, event=event)
    except Exception as exc:  # noqa: BLE001 - a plugin's failure is recorded, never raised
        message = describe_failure(exc, plugins.timeout)
        return [Result(name, hook, RuleEventOutcome.FAILED, message, rule_id=rule_id)]
    if returned is None:
        return []
    if not isinstance(returned, list | tuple):
        message = f"returned {_short(returned)}, not None or a list of actions"
        return [Result(name, hook, RuleEventOutcome.FAILED, message, rule_id=rule_id)]
    results = []
    for index, item in enumerate(returned):
        if isinstance(item, actions.ACTIONS):
            results.append(
                Result(name, item.name, RuleEventOutcome.APPLIED, rule_id=rule_id, todo=item, index=index)
            )
        else:
            message = f"returned {_short(item)}, which is not an action from graphapi.actions"
            results.append(Result(name, "invalid_action", RuleEventOutcome.FAILED, message, rule_id=rule_id))
    return results


async def deliver(webhooks: WebhookSender, key: str, results: list[Result]) -> None:
    """Send the webhooks among `results`, side by side; `key` names what they
    react to, the same for every retry and re-run (their `webhook-id`)."""
    await asyncio.gather(*(_deliver(webhooks, key, r) for r in results if isinstance(r.todo, actions.SendWebhook)))


async def _deliver(webhooks: WebhookSender, key: str, result: Result) -> None:
    hook: actions.SendWebhook = result.todo
    message_id = f"msg_{key}_{result.plugin}_{result.rule_id or 0}_{result.index}"
    try:
        delivery = await webhooks.send(
            hook.url,
            message_id=message_id,
            payload=hook.payload,
            method=hook.method,
            headers=hook.headers,
        )
    except Exception as exc:  # noqa: BLE001 - what the plugin put in the action cannot be sent
        delivery = Delivery(attempts=0, error=f"cannot send: {type(exc).__name__}: {exc}")
    result.detail = {
        "url": str(hook.url),
        "method": hook.method,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "webhook_id": message_id,
    }
    result.outcome = RuleEventOutcome.APPLIED if delivery.ok else RuleEventOutcome.FAILED
    result.message = delivery.error
    result.todo = None


async def record(
    conn: Any, campaign_id: int, conversion_id: int | None, results: list[Result], now: datetime
) -> bool:
    """In the caller's transaction: apply the database actions to the campaign
    and record every result as a rule event; whether the campaign changed."""
    campaign = await Campaign.filter(id=campaign_id).using_db(conn).select_for_update().get()
    before = campaign_info(campaign)
    for result in results:
        if result.todo is not None:
            await apply(conn, campaign, result, now)
    changed = campaign_info(campaign) != before
    if changed:
        await campaign.save(
            using_db=conn,
            update_fields=["status", "daily_budget", "source_whitelist", "source_blacklist", "updated_at"],
        )
    for result in results:
        await RuleEvent.create(
            using_db=conn,
            plugin=result.plugin,
            campaign_id=campaign_id,
            conversion_id=conversion_id,
            action=result.action,
            detail=_json({"rule_id": result.rule_id, **result.detail} if result.rule_id else result.detail),
            outcome=result.outcome,
            message=result.message,
        )
    return changed


async def apply(conn: Any, campaign: Campaign, result: Result, now: datetime) -> None:
    """Apply one database action to `campaign` (saved by the caller), idempotently."""
    action, result.todo = result.todo, None
    match action:
        case actions.PauseCampaign(reason=reason):
            result.detail = {"reason": reason}
            if campaign.status != CampaignStatus.ACTIVE:
                _skip(result, f"the campaign is already {campaign.status}")
            else:
                campaign.status = CampaignStatus.PAUSED
        case actions.ChangeBudget():
            new = action.new_budget(campaign.daily_budget)
            result.detail = {"from": _text(campaign.daily_budget), "to": _text(new)}
            if action.cooldown and await RuleEvent.filter(
                campaign_id=campaign.id, plugin=result.plugin, action=action.name,
                outcome=RuleEventOutcome.APPLIED, created_at__gt=now - action.cooldown,
            ).using_db(conn).exists():  # fmt: skip
                hours = action.cooldown.total_seconds() / 3600
                _skip(result, f"{result.plugin} changed the budget less than {hours:g} h ago")
            elif new is None:
                _skip(result, "the campaign has no daily budget to change by a percentage")
            elif new == campaign.daily_budget:
                _skip(result, f"the daily budget is already {new}")
            else:
                campaign.daily_budget = new
        case actions.AddToWhitelist(source=source) | actions.AddToBlacklist(source=source):
            column = "source_whitelist" if isinstance(action, actions.AddToWhitelist) else "source_blacklist"
            listed = list(getattr(campaign, column) or [])
            result.detail = {"source": source}
            if not isinstance(source, str) or not source:
                result.outcome, result.message = (
                    RuleEventOutcome.FAILED,
                    "the source must be a non-empty string",
                )
            elif source in listed:
                _skip(result, f"{source!r} is already listed")
            else:
                setattr(campaign, column, [*listed, source])


def _json(detail: dict[str, Any]) -> dict[str, Any]:
    """Whatever a plugin put in an action, as JSON."""
    return json.loads(json.dumps(detail, default=str))


def _skip(result: Result, message: str) -> None:
    result.outcome, result.message = RuleEventOutcome.SKIPPED, message


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."
