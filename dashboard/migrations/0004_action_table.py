from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0003_action"),
        ("instances", "0002_action_moves_to_dashboard"),
    ]

    operations = [
        migrations.AlterModelTable(name="action", table=None),
    ]
