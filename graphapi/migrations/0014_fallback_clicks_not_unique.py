"""Fallback clicks recorded before this are marked not unique, as new ones are.

They were never counted (the figures leave fallback clicks out), but the
`clicks` list showed a blacklisted visitor's click as unique.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


async def unmark(apps, schema_editor) -> None:
    # In the migration's transaction (execute_script would commit it).
    await schema_editor.client.execute_query("UPDATE click SET is_unique = FALSE WHERE route = 'fallback' AND is_unique")


class Migration(migrations.Migration):
    dependencies = [("graphapi", "0013_postback_status")]

    initial = False

    operations = [ops.RunPython(unmark, ops.RunPython.noop)]
