"""The offers list's guardrails for the person looking at it, in one query.

Every offers page shows each row's Launch as the person's guardrails would decide it, so it needs
whether they may launch at all (the `dashboard.launch_instance` permission, as Django's model
backend grants it: their own permissions or their groups'), their role and the guardrails row.
Asked through the ORM that was four queries and a fifth of a cached page's time; here it is one,
in SQL (the role as the highest of the person's role groups), and `tests/test_viewer_limits.py`
proves it answers what `user.has_perm` and `guardrails.launch_limits` answer.
"""

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from dashboard import guardrails
from dashboard.models import Guardrails
from dashboard.roles import ADMIN, ROLES

APP_LABEL, CODENAME = "dashboard", "launch_instance"
_RANK = " ".join(f"WHEN '{role}' THEN {rank}" for rank, role in enumerate(ROLES, start=1))


@functools.cache
def _sql():
    user_model = get_user_model()
    groups, perms = user_model.groups.through._meta, user_model.user_permissions.through._meta
    group_perms = Group.permissions.through._meta
    tables = {
        "rails": Guardrails._meta.db_table,
        "user_groups": groups.db_table,
        "ug_user": groups.get_field("user").column,
        "ug_group": groups.get_field("group").column,
        "group": Group._meta.db_table,
        "user_perms": perms.db_table,
        "up_user": perms.get_field("user").column,
        "up_perm": perms.get_field("permission").column,
        "group_perms": group_perms.db_table,
        "gp_group": group_perms.get_field("group").column,
        "gp_perm": group_perms.get_field("permission").column,
        "perm": Permission._meta.db_table,
        "ct": ContentType._meta.db_table,
    }
    launch = "p.codename = %s AND ct.app_label = %s"
    return (
        "SELECT r.*,"
        " (SELECT MAX(CASE g.name {rank} ELSE 0 END) FROM {user_groups} ug"
        "  JOIN {group} g ON g.id = ug.{ug_group} WHERE ug.{ug_user} = %s) AS role_rank,"
        " (EXISTS (SELECT 1 FROM {user_perms} up JOIN {perm} p ON p.id = up.{up_perm}"
        "  JOIN {ct} ct ON ct.id = p.content_type_id WHERE up.{up_user} = %s AND " + launch + ")"
        "  OR EXISTS (SELECT 1 FROM {user_groups} ug JOIN {group_perms} gp ON gp.{gp_group} = ug.{ug_group}"
        "  JOIN {perm} p ON p.id = gp.{gp_perm} JOIN {ct} ct ON ct.id = p.content_type_id"
        "  WHERE ug.{ug_user} = %s AND " + launch + ")) AS may_launch"
        " FROM {rails} r WHERE r.id = 1"
    ).format(rank=_RANK, **tables)


def _row(user):
    params = [user.pk, user.pk, CODENAME, APP_LABEL, user.pk, CODENAME, APP_LABEL]
    return next(iter(Guardrails.objects.raw(_sql(), params)), None)


def offer_limits(user):
    """`guardrails.launch_limits(user, caps_only=True)` if `user` may launch, else None."""
    row = _row(user)
    if row is None:  # a new database: the row is made on first use
        Guardrails.current()
        row = _row(user)
    if not user.is_active:
        return None
    if user.is_superuser:
        role = ADMIN
    elif not row.may_launch:
        return None
    else:
        role = ROLES[row.role_rank - 1] if row.role_rank else None
    return guardrails.limits_from(row, role, caps_only=True, user=user)
