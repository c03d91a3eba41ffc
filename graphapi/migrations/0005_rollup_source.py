from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

from graphapi.rollups import count_all_in_migration


class Migration(migrations.Migration):
    dependencies = [('graphapi', '0004_rollups')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='ClickRollup',
            index=Index(fields=['campaign_id', 'dimension', 'value', 'hour'], name='click_rollup_campaign'),
        ),
        ops.AddIndex(
            model_name='ConversionRollup',
            index=Index(fields=['campaign_id', 'dimension', 'value', 'hour'], name='conversion_rollup_campaign'),
        ),
        ops.RunPython(count_all_in_migration, ops.RunPython.noop),
    ]
