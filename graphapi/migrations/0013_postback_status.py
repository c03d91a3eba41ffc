"""The postback log keeps the status each postback left its conversion in.

A conversion's own status is its latest; the log shows what each postback did
(created approved, later rejected). Empty for refused postbacks and for those
logged before this column.
"""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from graphapi.models import ConversionStatus


class Migration(migrations.Migration):
    dependencies = [("graphapi", "0012_rule_check")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Postback",
            name="status",
            field=fields.CharEnumField(
                null=True,
                description="PENDING: pending\nAPPROVED: approved\nREJECTED: rejected",
                enum_type=ConversionStatus,
                max_length=16,
            ),
        ),
    ]
