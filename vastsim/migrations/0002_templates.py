from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("vastsim", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Template",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("hash_id", models.CharField(db_index=True, max_length=32)),
                ("creator_id", models.BigIntegerField()),
                ("created_at", models.FloatField()),
                ("fields", models.JSONField(default=dict)),
            ],
            options={
                "ordering": ["pk"],
            },
        ),
    ]
