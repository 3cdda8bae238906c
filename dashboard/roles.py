"""The team's three roles, as Django groups carrying the instances app's permissions.

viewer sees (never a secret: no connection details, on-start scripts or env values); operator
also launches, connects, stops any instance and starts, relabels and destroys the ones they
launched; admin may do everything.
Enforcement reads permissions (`user.has_perm`), never group names.
"""

from django.contrib.auth.models import Group, Permission

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)

ROLE_PERMISSIONS = {
    VIEWER: [],
    OPERATOR: ["launch_instance", "manage_instance", "view_connection", "destroy_own_instance", "view_api_keys"],
    ADMIN: [
        "launch_instance",
        "manage_instance",
        "manage_any_instance",
        "view_connection",
        "destroy_own_instance",
        "destroy_any_instance",
        "view_api_keys",
        "view_all_records",
        "manage_team",
    ],
}


def ensure_roles():
    """Create or refresh the three groups with exactly their permissions."""
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = Permission.objects.filter(content_type__app_label="dashboard", codename__in=codenames)
        group.permissions.set(perms)


def set_role(user, role):
    """Put a user in exactly one role group (admins are also Django staff)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    ensure_roles()
    user.groups.set([Group.objects.get(name=role)])
    user.is_staff = role == ADMIN
    user.save(update_fields=["is_staff"])


def role_of(user):
    """The user's role name, the highest if several; superusers are admins."""
    if user.is_superuser:
        return ADMIN
    names = {group.name for group in user.groups.all()}
    for role in reversed(ROLES):
        if role in names:
            return role
    return None
