from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('graphapi', '0002_outbox_lease')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Outbox',
            name='status',
            field=fields.CharField(null=True, max_length=16),
        ),
        ops.AddIndex(
            model_name='Outbox',
            index=Index(fields=['conversion_id', 'processed_at'], name='outbox_conversion'),
        ),
    ]
