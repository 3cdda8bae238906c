# The audit kinds of launch templates (create, edit, delete, import from Vast). Bulk actions
# write one row per instance with the existing start/stop/destroy kinds.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0006_instance_permissions"),
    ]

    operations = [
        migrations.AlterField(
            model_name="action",
            name="kind",
            field=models.CharField(
                choices=[
                    ("launch", "Launch"),
                    ("start", "Start"),
                    ("stop", "Stop"),
                    ("label", "Relabel"),
                    ("destroy", "Destroy"),
                    ("template_create", "Create template"),
                    ("template_edit", "Edit template"),
                    ("template_delete", "Delete template"),
                    ("template_import", "Import templates"),
                ],
                max_length=16,
            ),
        ),
    ]
