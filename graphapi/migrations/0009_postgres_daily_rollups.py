"""On PostgreSQL too, the rollups' figures of past UTC days per day as well as
per hour (graphapi.rollups.DAILY), as migration 0008 keeps them on SQLite: a
report over whole days reads a 24th of the rows. Made from the hourly rows of
the days before today."""

from tortoise import migrations
from tortoise.migrations import operations as ops

from graphapi.rollups import BEGINNING, DAILY, days_from_hours, migrating_postgres, ordered_table

# The figures of each table as migration 0004 left them.
FIGURES = {
    "click_rollup": ("clicks", "unique_clicks", "bot_clicks", "lander_clicks", "lander_routed", "cost"),
    "conversion_rollup": ("approved", "pending", "rejected", "revenue", "pending_revenue", "cost"),
}
UNTIL = "(SELECT until FROM rollup_days)"


async def add_days(apps, schema_editor) -> None:
    if not migrating_postgres(schema_editor):
        return
    statements = [
        # The first day the daily rollups do not hold: today, in UTC.
        'CREATE TABLE "rollup_days" ("id" INT PRIMARY KEY NOT NULL, "until" TIMESTAMPTZ NOT NULL)',
        "INSERT INTO rollup_days (id, until) VALUES (1, date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')",
    ]
    for hourly, figures in FIGURES.items():
        statements += [
            ordered_table(DAILY[hourly], figures, postgres=True),
            *days_from_hours(hourly, figures, BEGINNING[True], UNTIL, True),
        ]
    for statement in statements:
        await schema_editor.client.execute_query(statement)


class Migration(migrations.Migration):
    dependencies = [("graphapi", "0008_sqlite_daily_rollups")]

    initial = False

    operations = [ops.RunPython(add_days, ops.RunPython.noop)]
