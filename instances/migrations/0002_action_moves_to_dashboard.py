# The audit log now belongs to the dashboard app (its table is renamed by dashboard 0004).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("instances", "0001_initial"),
        ("dashboard", "0003_action"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="launchtoken",
                    name="action",
                    field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="dashboard.action"),
                ),
                migrations.DeleteModel(name="Action"),
            ],
        ),
    ]
