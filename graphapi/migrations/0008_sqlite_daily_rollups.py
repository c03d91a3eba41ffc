"""On SQLite, the rollups' figures of past UTC days per day as well as per
hour (graphapi.rollups.DAILY): a report over whole days reads a 24th of the
rows. Made from the hourly rows of the days before today; PostgreSQL has its
own in migration 0009."""

from tortoise import migrations
from tortoise.migrations import operations as ops

from graphapi.rollups import DAILY, days_from_hours, migrating_postgres, ordered_table

# The figures of each table as migrations 0004 and 0007 left them.
FIGURES = {
    "click_rollup": ("clicks", "unique_clicks", "bot_clicks", "lander_clicks", "lander_routed", "cost"),
    "conversion_rollup": ("approved", "pending", "rejected", "revenue", "pending_revenue", "cost"),
}
UNTIL = "(SELECT until FROM rollup_days)"


async def add_days(apps, schema_editor) -> None:
    if migrating_postgres(schema_editor):
        return
    statements = [
        # The first day the daily rollups do not hold: today, in UTC, as stored.
        'CREATE TABLE "rollup_days" ("id" INTEGER PRIMARY KEY NOT NULL, "until" TEXT NOT NULL)',
        "INSERT INTO rollup_days (id, until) VALUES (1, date('now') || ' 00:00:00+00:00')",
    ]
    for hourly, figures in FIGURES.items():
        # Kept as migration 0007 keeps the hourly tables; `hour` is the day's first.
        statements += [ordered_table(DAILY[hourly], figures), *days_from_hours(hourly, figures, "''", UNTIL, False)]
    for statement in statements:
        # In the migration's transaction (execute_script would commit it).
        await schema_editor.client.execute_query(statement)


class Migration(migrations.Migration):
    dependencies = [("graphapi", "0007_sqlite_rollups_in_report_order")]

    initial = False

    operations = [ops.RunPython(add_days, ops.RunPython.noop)]
