"""On SQLite, the rollup tables keep their rows in the order reports read them.

Each becomes a WITHOUT ROWID table keyed (dimension, hour, value, campaign_id):
a report's rows for one dimension and period are one range of the table,
already in the order its GROUP BY wants, where before each row was found
through the (dimension, hour) index and then read from the table. The key is
the old unique constraint's columns, so upserts find their row the same way,
and each upsert updates two B-trees instead of four. The model's `id` column
is left out: nothing reads it. PostgreSQL keeps its tables as they are.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

from graphapi.rollups import migrating_postgres, ordered_table

# The tables' figures as migration 0004 made them.
FIGURES = {
    "click_rollup": ("clicks", "unique_clicks", "bot_clicks", "lander_clicks", "lander_routed", "cost"),
    "conversion_rollup": ("approved", "pending", "rejected", "revenue", "pending_revenue", "cost"),
}
KEY = ("campaign_id", "hour", "dimension", "value")


def _statements(table: str, figures: tuple[str, ...]) -> list[str]:
    columns = ", ".join((*KEY, *figures))
    return [
        ordered_table(f"{table}_ordered", figures),
        f'INSERT INTO "{table}_ordered" ({columns}) SELECT {columns} FROM "{table}"',
        f'DROP TABLE "{table}"',
        f'ALTER TABLE "{table}_ordered" RENAME TO "{table}"',
        # One campaign's figures (graphapi.stats, on every conversion); the
        # key serves what the (dimension, hour) index did.
        f'CREATE INDEX "{table}_campaign" ON "{table}" ("campaign_id", "dimension", "value", "hour")',
    ]


async def order_for_reports(apps, schema_editor) -> None:
    if migrating_postgres(schema_editor):
        return
    for table, figures in FIGURES.items():
        for statement in _statements(table, figures):
            # In the migration's transaction (execute_script would commit it).
            await schema_editor.client.execute_query(statement)


class Migration(migrations.Migration):
    dependencies = [("graphapi", "0006_rollup_mark")]

    initial = False

    operations = [ops.RunPython(order_for_reports, ops.RunPython.noop)]
