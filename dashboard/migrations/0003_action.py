# The audit log moves from the instances app to the floor (dashboard), keeping its rows:
# this step only tells Django the table now belongs here; 0004 renames the table, and the
# content type moves so that the permissions (and the roles holding them) come along.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def move_content_type(apps, schema_editor, old="instances", new="dashboard"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.using(schema_editor.connection.alias).filter(app_label=old, model="action").update(
        app_label=new
    )


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, old="dashboard", new="instances")


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0002_rate_slot"),
        ("instances", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Action",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("username", models.CharField(help_text="Kept even if the user is deleted.", max_length=150)),
                        ("kind", models.CharField(choices=[("launch", "Launch"), ("start", "Start"), ("stop", "Stop"), ("label", "Relabel"), ("destroy", "Destroy")], max_length=16)),
                        ("offer_id", models.BigIntegerField(blank=True, null=True)),
                        ("instance_id", models.BigIntegerField(blank=True, db_index=True, null=True)),
                        ("price_per_hour", models.DecimalField(blank=True, decimal_places=6, max_digits=12, null=True)),
                        ("outcome", models.CharField(choices=[("success", "Success"), ("failed", "Failed"), ("forbidden", "Forbidden"), ("unknown", "Unknown (no answer from Vast)"), ("pending", "Pending")], max_length=16)),
                        ("message", models.TextField(blank=True)),
                        ("detail", models.JSONField(blank=True, default=dict)),
                        ("user", models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "ordering": ["-created_at", "-id"],
                        "permissions": [("launch_instance", "Can launch instances"), ("manage_instance", "Can start, stop and relabel any instance"), ("destroy_own_instance", "Can destroy instances they launched"), ("destroy_any_instance", "Can destroy any instance"), ("view_api_keys", "Can see the account's API keys"), ("view_all_records", "Can see every user's actions"), ("manage_team", "Can manage users and guardrails")],
                        "default_permissions": (),
                        "db_table": "instances_action",
                    },
                ),
            ],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
