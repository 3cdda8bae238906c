# Issue 14 (policies): the team's policy settings, the time-limit maxima per role, new audit kinds.

import django.core.validators
from decimal import Decimal
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('dashboard', '0010_notifications'),
    ]

    operations = [
        migrations.CreateModel(
            name='PolicySettings',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('idle_util_below', models.FloatField(default=5.0, validators=[django.core.validators.MinValueValidator(0.0), django.core.validators.MaxValueValidator(100.0)], verbose_name='idle: GPU utilisation below (%)')),
                ('idle_minutes', models.PositiveIntegerField(blank=True, help_text='Stop a running instance whose GPU stayed below the utilisation above this long; empty = off.', null=True, validators=[django.core.validators.MinValueValidator(1)], verbose_name='idle: for (minutes)')),
                ('idle_dry_run', models.BooleanField(default=False, verbose_name='idle: dry run')),
                ('lease_warn_minutes', models.PositiveIntegerField(default=15, help_text='The owner is told this long before a time limit stops an instance (at once if the limit is shorter).', verbose_name='time limit: warn (minutes before)')),
                ('lease_dry_run', models.BooleanField(default=False, verbose_name='time limit: dry run')),
                ('stopped_notify_days', models.DecimalField(blank=True, decimal_places=3, default=Decimal('3'), help_text='Tell the owner once per stop, with its storage $/day; empty = no reminder.', max_digits=8, null=True, validators=[django.core.validators.MinValueValidator(Decimal('0.001'))], verbose_name='stopped: remind after (days)')),
                ('stopped_destroy_days', models.DecimalField(blank=True, decimal_places=3, help_text='Destroy a stopped instance this many days after the reminder (24 h warning first; never one marked keep running); empty = off.', max_digits=8, null=True, validators=[django.core.validators.MinValueValidator(Decimal('0.001'))], verbose_name='stopped: destroy after (more days)')),
                ('storage_dry_run', models.BooleanField(default=False, verbose_name='stopped: dry run')),
                ('team_monthly_budget', models.DecimalField(blank=True, decimal_places=2, help_text="Admins are told at 80 % and 100 % of the month's estimate; empty = none.", max_digits=12, null=True, validators=[django.core.validators.MinValueValidator(Decimal('0'))], verbose_name='team monthly budget ($)')),
                ('stop_at_cap', models.BooleanField(default=False, help_text="When a person's estimate reaches the monthly cap per user (guardrails), stop their running instances, and nobody else's.", verbose_name='stop at the monthly cap')),
                ('budget_dry_run', models.BooleanField(default=False, verbose_name='budget: dry run')),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('updated_by', models.CharField(blank=True, max_length=150)),
            ],
            options={
                'verbose_name_plural': 'policy settings',
                'default_permissions': (),
            },
        ),
        migrations.AddField(
            model_name='guardrails',
            name='admin_max_stop_after_minutes',
            field=models.PositiveIntegerField(blank=True, help_text='The same for admins; empty = no maximum.', null=True, verbose_name='admin: max time limit (minutes)'),
        ),
        migrations.AddField(
            model_name='guardrails',
            name='operator_max_stop_after_minutes',
            field=models.PositiveIntegerField(blank=True, help_text='The longest time limit (stop after) an operator may give a launch or extend to; empty = no maximum.', null=True, verbose_name='operator: max time limit (minutes)'),
        ),
        migrations.AlterField(
            model_name='action',
            name='kind',
            field=models.CharField(choices=[('launch', 'Launch'), ('start', 'Start'), ('stop', 'Stop'), ('label', 'Relabel'), ('destroy', 'Destroy'), ('reboot', 'Reboot'), ('bid', 'Change bid'), ('ssh_key_add', 'Add SSH key'), ('ssh_key_remove', 'Remove SSH key'), ('ssh_attach', 'Attach SSH key'), ('ssh_detach', 'Detach SSH key'), ('template_create', 'Create template'), ('template_edit', 'Edit template'), ('template_delete', 'Delete template'), ('template_import', 'Import templates'), ('extend', 'Extend time limit'), ('keep', 'Keep running (policy exemption)'), ('policies', 'Change policies')], max_length=16),
        ),
    ]
