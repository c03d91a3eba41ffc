"""PostgreSQL: each click batch upserts its visitors here, so that two
processes' batches of one visitor take turns and the second sees the first's
click (graphapi.clicks). SQLite has one writer at a time and needs none."""

from tortoise import migrations
from tortoise.migrations import operations as ops

from graphapi.rollups import migrating_postgres


async def add_table(apps, schema_editor) -> None:
    if migrating_postgres(schema_editor):
        await schema_editor.client.execute_query(
            'CREATE TABLE "click_visitor_seen" ("campaign_id" INT NOT NULL, "visitor" BIGINT NOT NULL, '
            '"seen_at" TIMESTAMPTZ NOT NULL, "previous" TIMESTAMPTZ, PRIMARY KEY ("campaign_id", "visitor"))'
        )


class Migration(migrations.Migration):
    dependencies = [("graphapi", "0014_fallback_clicks_not_unique")]

    initial = False

    operations = [ops.RunPython(add_table, ops.RunPython.noop)]
