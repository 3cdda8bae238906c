# Issue 14 (policies): the time limit and the keep-running exemption on the ledger, utilisation
# samples, and the claims of policy actions.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('dashboard', '0011_policy_settings'),
        ('instances', '0005_merge_0004_launch_templates_0004_ssh_keys'),
    ]

    operations = [
        migrations.AddField(
            model_name='instance',
            name='keep_running',
            field=models.BooleanField(default=False, help_text='Exempt from the idle stop and the storage destroy.'),
        ),
        migrations.AddField(
            model_name='instance',
            name='stop_at',
            field=models.DateTimeField(blank=True, db_index=True, help_text='Its time limit: the worker stops it then (instances.policies).', null=True),
        ),
        migrations.CreateModel(
            name='PolicyAction',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=200, unique=True)),
                ('policy', models.CharField(db_index=True, max_length=16)),
                ('act', models.CharField(max_length=16)),
                ('rule', models.CharField(max_length=300)),
                ('decided_at', models.DateTimeField(db_index=True)),
                ('outcome', models.CharField(choices=[('pending', 'Pending'), ('done', 'Done'), ('failed', 'Failed (Vast refused; may be tried again)'), ('unknown', 'Unknown (never retried)'), ('dry_run', 'Dry run (nothing done)')], max_length=16)),
                ('attempts', models.PositiveSmallIntegerField(default=1)),
                ('message', models.TextField(blank=True)),
                ('action', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='dashboard.action')),
                ('instance', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='policy_actions', to='instances.instance')),
            ],
            options={
                'ordering': ['-decided_at', '-id'],
                'default_permissions': (),
            },
        ),
        migrations.CreateModel(
            name='UtilSample',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField()),
                ('gpu_util', models.FloatField()),
                ('coarse', models.BooleanField(default=False)),
                ('instance', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='util_samples', to='instances.instance')),
            ],
            options={
                'ordering': ['at', 'id'],
                'default_permissions': (),
                'indexes': [models.Index(fields=['coarse', 'at'], name='util_sample_coarse_at')],
                'constraints': [models.UniqueConstraint(fields=('instance', 'at'), name='one_util_sample_per_sync')],
            },
        ),
    ]
