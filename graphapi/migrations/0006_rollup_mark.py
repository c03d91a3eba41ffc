from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from graphapi.rollups import mark_counted_in_migration


class Migration(migrations.Migration):
    dependencies = [('graphapi', '0005_rollup_source')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RollupMark',
            fields=[
                ('id', fields.IntField(primary_key=True, unique=True, db_index=True)),
                ('last_click_id', fields.BigIntField()),
            ],
            options={'table': 'rollup_mark', 'app': 'graphapi', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.RunPython(mark_counted_in_migration, ops.RunPython.noop),
    ]
