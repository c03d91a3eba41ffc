from tortoise import migrations
from graphapi.rollups import count_all_in_migration
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('graphapi', '0003_outbox_status')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ClickRollup',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('campaign_id', fields.IntField()),
                ('hour', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('dimension', fields.CharField(max_length=16)),
                ('value', fields.CharField(max_length=255)),
                ('clicks', fields.BigIntField(default=0)),
                ('unique_clicks', fields.BigIntField(default=0)),
                ('bot_clicks', fields.BigIntField(default=0)),
                ('lander_clicks', fields.BigIntField(default=0)),
                ('lander_routed', fields.BigIntField(default=0)),
                ('cost', fields.BigIntField(default=0)),
            ],
            options={'table': 'click_rollup', 'app': 'graphapi', 'unique_together': (('campaign_id', 'hour', 'dimension', 'value'),), 'indexes': [Index(fields=['dimension', 'hour'], name='click_rollup_dimension')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ConversionRollup',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('campaign_id', fields.IntField()),
                ('hour', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('dimension', fields.CharField(max_length=16)),
                ('value', fields.CharField(max_length=255)),
                ('approved', fields.BigIntField(default=0)),
                ('pending', fields.BigIntField(default=0)),
                ('rejected', fields.BigIntField(default=0)),
                ('revenue', fields.BigIntField(default=0)),
                ('pending_revenue', fields.BigIntField(default=0)),
                ('cost', fields.BigIntField(default=0)),
            ],
            options={'table': 'conversion_rollup', 'app': 'graphapi', 'unique_together': (('campaign_id', 'hour', 'dimension', 'value'),), 'indexes': [Index(fields=['dimension', 'hour'], name='conversion_rollup_dimension')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.RunPython(count_all_in_migration, ops.RunPython.noop),
    ]
