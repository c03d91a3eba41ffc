"""Periodic rule checks: the `campaign_checked` hook, between conversions.

Clicks cost money whether or not they convert: a campaign spends its daily
budget, sinks below its ROI or pays a source that never converts with no
conversion to run its rules. Every `GRAPHAPI_RULES_CHECK_SECONDS` a round calls
`campaign_checked` for each enabled rule, whose plugin implements it, of each
active campaign that had clicks or conversions since the round before (the
others' figures have not changed), and applies and records what the hooks
return as the rule engine does for conversions (`graphapi.rule_engine`).

Once across processes: every process tries each period to move rule_check's
one row forward, in one UPDATE whose WHERE wants the last round a period old.
On SQLite writers take turns; on PostgreSQL a second UPDATE waits for the
first's row lock and then finds the WHERE false. One process wins each round;
one that dies mid-round leaves the rest to the next.

Nothing here touches the click or postback paths: a round reads the rollups
(which it brings up to date first, as every read of them does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from tortoise.transactions import in_transaction

from graphapi import rollups
from graphapi.events import CampaignCheck, campaign_info
from graphapi.models import Campaign, CampaignStatus, Rule
from graphapi.rule_engine import Call, Result, deliver, record, run_hooks
from graphapi.stats import campaign_stats, utc_midnight

if TYPE_CHECKING:
    from graphapi.app import Services

log = logging.getLogger(__name__)

HOOK = "campaign_checked"
# Campaigns checked side by side (each one's hooks run side by side too).
BATCH = 20
# A click or conversion is written a moment after its time, and counted into
# the rollups a moment later: one timed just before the previous round may
# have missed it. Traffic is looked for from this long before that round.
LATE = timedelta(minutes=1)

ELECT = (
    "UPDATE rule_check SET previous_at = checked_at, checked_at = ? "
    "WHERE checked_at IS NULL OR checked_at <= ? RETURNING previous_at"
)


def _traffic_sql(plugins: int, since: bool) -> str:
    """SQL: (campaign, source) of the traffic of the campaigns a round checks
    (active, with an enabled rule of one of `plugins` plugins), in the hours
    from `since` when given. Every counted click and conversion is in a
    `source` rollup row, '' without a source."""
    checked = (
        "SELECT r.campaign_id FROM rule r JOIN campaign c ON c.id = r.campaign_id "
        f"WHERE r.enabled AND c.status = 'active' AND r.plugin IN ({', '.join('?' * plugins)})"
    )
    window = " AND hour >= ?" if since else ""
    return " UNION ".join(
        f"SELECT campaign_id, value FROM {table} WHERE dimension = 'source'{window} AND campaign_id IN ({checked})"
        for table in ("click_rollup", "conversion_rollup")
    )


class RuleChecks:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._period = timedelta(seconds=services.settings.rules_check_seconds)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="rule-checks")

    async def stop(self) -> None:
        """Before the rule engine: it waits for the writes a round began."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            # Not at once: a start (or a deploy's restarts) is not a reason to check.
            await asyncio.sleep(self._period.total_seconds())
            try:
                await self.run_round()
            except Exception:
                log.exception("a round of rule checks failed; the next one will run")

    async def run_round(self) -> bool:
        """Run a round, unless one ran within the period (here or in another
        process); whether this one ran."""
        plugins = self._services.plugins
        rule_plugins = plugins.rule_plugins()
        impls = {impl.plugin_name: impl for impl in plugins.implementations(HOOK) if impl.plugin_name in rule_plugins}
        if not impls:
            return False
        now = datetime.now(timezone.utc)
        db = self._services.db
        async with db.write(one_statement=True) as tx:
            elected = await tx.fetch(ELECT, (now, now - self._period))
        if not elected:
            return False
        [(previous,)] = elected
        names = sorted(impls)
        sources = await self._traffic(names, previous)
        calls: dict[int, list[Call]] = {}
        for rule in await Rule.filter(campaign_id__in=list(sources), enabled=True, plugin__in=names).order_by("id"):
            calls.setdefault(rule.campaign_id, []).append((impls[rule.plugin], rule))
        campaigns = await Campaign.filter(id__in=list(calls), status=CampaignStatus.ACTIVE).order_by("id")
        key = f"check_{now:%Y%m%dT%H%M%S}"
        for start in range(0, len(campaigns), BATCH):
            batch = campaigns[start : start + BATCH]
            outcomes = await asyncio.gather(
                *(self._check(c, calls[c.id], sorted(sources[c.id]), key) for c in batch), return_exceptions=True
            )
            for campaign, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    log.error("checking campaign %s failed", campaign.id, exc_info=outcome)
        return True

    async def _traffic(self, names: list[str], previous: datetime | str | None) -> dict[int, set[str]]:
        """The campaigns with traffic since the `previous` round (None: ever)
        that rules of the plugins `names` may check, with their traffic sources."""
        db = self._services.db
        await rollups.catch_up(db)
        if previous is None:
            rows = await db.fetch(_traffic_sql(len(names), since=False), [*names, *names])
        else:
            since = (rollups.as_datetime(previous) - LATE).replace(minute=0, second=0, microsecond=0)
            rows = await db.fetch(_traffic_sql(len(names), since=True), [since, *names, since, *names])
        sources: dict[int, set[str]] = {}
        for campaign_id, source in rows:
            found = sources.setdefault(campaign_id, set())
            if source:
                found.add(source)
        return sources

    async def _check(self, campaign: Campaign, calls: list[Call], sources: Sequence[str], key: str) -> None:
        db, currency = self._services.db, campaign.currency
        event = CampaignCheck(
            campaign=campaign_info(campaign),
            stats=await campaign_stats(db, campaign.id, currency),
            today=await campaign_stats(db, campaign.id, currency, since=utc_midnight()),
            sources={source: await campaign_stats(db, campaign.id, currency, source=source) for source in sources},
        )
        results = await run_hooks(self._services.plugins, HOOK, event, calls)
        if not results:
            return
        await deliver(self._services.webhooks, f"{key}_{campaign.id}", results)
        if await self._services.rules.unstoppable(self._record(campaign.id, results)):
            await self._services.campaigns.changed(campaign.id)

    @staticmethod
    async def _record(campaign_id: int, results: list[Result]) -> bool:
        async with in_transaction() as conn:
            return await record(conn, campaign_id, None, results, datetime.now(timezone.utc))
