"""Fallback clicks leave the index that decides uniqueness (click_visitor).

They do not count in the figures, so they must not use up a visitor's first
counted click: graphapi.clicks asks for an earlier click that is not a
fallback, and this partial index answers that from the index alone, however
many fallback clicks the visitor made (a flood of them costs it nothing).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

# The condition graphapi.clicks repeats, word for word, so both databases'
# planners see that the index holds every row the query can want.
STATEMENTS = (
    "DROP INDEX click_visitor",
    "CREATE INDEX click_visitor ON click (campaign_id, visitor, created_at) WHERE route <> 'fallback'",
)


async def skip_fallbacks(apps, schema_editor) -> None:
    for statement in STATEMENTS:
        # In the migration's transaction (execute_script would commit it).
        await schema_editor.client.execute_query(statement)


class Migration(migrations.Migration):
    dependencies = [("graphapi", "0010_postgres_click_queue")]

    initial = False

    operations = [ops.RunPython(skip_fallbacks, ops.RunPython.noop)]
