from django.db import migrations, models


class Migration(migrations.Migration):
    """Action kinds for the console actions on an instance: reboot and bid changes."""

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
                    ("reboot", "Reboot"),
                    ("bid", "Change bid"),
                ],
                max_length=16,
            ),
        ),
    ]
