"""dashboard.viewer_limits.offer_limits answers in one query what the offers page asked the ORM in
four: `launch_limits(user, caps_only=True)` for people Django lets launch, None for the others."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard import guardrails
from dashboard.models import Guardrails
from dashboard.roles import ADMIN, OPERATOR, VIEWER, ensure_roles, set_role
from dashboard.viewer_limits import offer_limits

pytestmark = pytest.mark.django_db


def _expected(user):
    user = type(user).objects.get(pk=user.pk)  # a new object: nothing cached on it
    return guardrails.launch_limits(user, caps_only=True) if user.has_perm("dashboard.launch_instance") else None


def _people(django_user_model):
    ensure_roles()
    people = {}
    for role in (VIEWER, OPERATOR, ADMIN):
        people[role] = django_user_model.objects.create_user(username=f"p-{role}")
        set_role(people[role], role)
    people["no role"] = django_user_model.objects.create_user(username="p-none")
    people["superuser"] = django_user_model.objects.create_superuser(username="p-super", password="x" * 20)
    people["inactive operator"] = django_user_model.objects.create_user(username="p-gone", is_active=False)
    set_role(people["inactive operator"], OPERATOR)
    # Granted the permission on their own, outside any role group.
    people["viewer with the permission"] = django_user_model.objects.create_user(username="p-granted")
    set_role(people["viewer with the permission"], VIEWER)
    people["viewer with the permission"].user_permissions.add(
        Permission.objects.get(content_type__app_label="dashboard", codename="launch_instance")
    )
    # In two role groups: the higher one counts.
    people["operator and admin"] = django_user_model.objects.create_user(username="p-both")
    people["operator and admin"].groups.set(Group.objects.filter(name__in=[OPERATOR, ADMIN]))
    return people


@pytest.mark.parametrize(
    "rails",
    [
        {},
        {"operator_max_dph": Decimal("0.5"), "admin_max_dph": Decimal("2")},
        {"viewer_max_dph": Decimal("0.1"), "max_running_per_user": 0},
        {"monthly_cap_per_user": Decimal("0")},
    ],
    ids=["no limits", "per-role $/hr", "running cap", "monthly cap"],
)
def test_one_query_answers_what_the_orm_answers_for_everyone(django_user_model, rails):
    Guardrails.objects.update_or_create(pk=1, defaults=rails)
    for who, user in _people(django_user_model).items():
        assert offer_limits(type(user).objects.get(pk=user.pk)) == _expected(user), who


def test_it_is_one_query_without_caps(django_user_model):
    operator = _people(django_user_model)[OPERATOR]
    Guardrails.current()
    fresh = type(operator).objects.get(pk=operator.pk)
    with CaptureQueriesContext(connection) as queries:
        limits = offer_limits(fresh)
    assert len(queries) == 1
    assert limits.role == OPERATOR


def test_a_new_database_gets_its_guardrails_row(operator):
    Guardrails.objects.all().delete()
    assert offer_limits(operator) == guardrails.launch_limits(operator, caps_only=True)
    assert Guardrails.objects.filter(pk=1).exists()
