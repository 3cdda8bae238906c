from django.db import migrations, models


class Migration(migrations.Migration):
    """Console actions: when an instance was last rebooted, and the logs gathered per request."""

    dependencies = [
        ("vastsim", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="instance",
            name="rebooted_at",
            field=models.FloatField(blank=True, help_text="When the last reboot was asked for.", null=True),
        ),
        migrations.CreateModel(
            name="LogRequest",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("token", models.CharField(max_length=64, unique=True)),
                ("contract_id", models.BigIntegerField()),
                ("text", models.TextField()),
                ("created_at", models.FloatField()),
                ("ready_at", models.FloatField()),
            ],
        ),
    ]
