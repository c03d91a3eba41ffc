"""PostgreSQL counts clicks into the rollups after they are committed, as
SQLite does: the statement that writes clicks queues their ids in
click_uncounted, and counting takes them out (graphapi.rollups.queued). The
clicks already written are counted."""

from tortoise import migrations
from tortoise.migrations import operations as ops

from graphapi.rollups import migrating_postgres


async def add_queue(apps, schema_editor) -> None:
    if migrating_postgres(schema_editor):
        await schema_editor.client.execute_query('CREATE TABLE "click_uncounted" ("id" BIGINT PRIMARY KEY NOT NULL)')


class Migration(migrations.Migration):
    dependencies = [("graphapi", "0009_postgres_daily_rollups")]

    initial = False

    operations = [ops.RunPython(add_queue, ops.RunPython.noop)]
