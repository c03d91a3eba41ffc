"""The one row that elects, among the processes sharing a database, the one
that runs each round of periodic rule checks (graphapi.rule_checks)."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


async def add_the_row(apps, schema_editor) -> None:
    # In the migration's transaction (execute_script would commit it).
    await schema_editor.client.execute_query("INSERT INTO rule_check (id) VALUES (1)")


class Migration(migrations.Migration):
    dependencies = [("graphapi", "0011_unique_clicks_skip_fallbacks")]

    initial = False

    operations = [
        ops.CreateModel(
            name="RuleCheck",
            fields=[
                ("id", fields.IntField(primary_key=True, unique=True, db_index=True)),
                ("checked_at", fields.DatetimeField(null=True)),
                ("previous_at", fields.DatetimeField(null=True)),
            ],
            options={"table": "rule_check", "app": "graphapi", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.RunPython(add_the_row, ops.RunPython.noop),
    ]
