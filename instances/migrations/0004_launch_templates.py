import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("instances", "0003_ledger"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="LaunchTemplate",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100, unique=True)),
                ("image", models.CharField(max_length=255)),
                (
                    "disk",
                    models.FloatField(
                        default=10.0, help_text="GB", validators=[django.core.validators.MinValueValidator(1)]
                    ),
                ),
                (
                    "runtype",
                    models.CharField(default="ssh", help_text="ssh, jupyter or args (the launch form's)", max_length=16),
                ),
                (
                    "args",
                    models.CharField(blank=True, help_text="Entrypoint arguments (runtype args).", max_length=4096),
                ),
                ("env", models.TextField(blank=True, help_text="KEY=VALUE lines, as the launch form takes them.")),
                ("ports", models.CharField(blank=True, max_length=400)),
                ("onstart", models.TextField(blank=True)),
                ("note", models.TextField(blank=True)),
                (
                    "imported_from",
                    models.CharField(blank=True, help_text="The Vast template's hash_id, if imported.", max_length=64),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "updated_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["name"],
            },
        ),
    ]
