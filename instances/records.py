"""Who launched what through the dashboard, from the audit log's successful launches."""

from dashboard.models import Action


def launchers(instance_ids):
    """{instance id: (user id, username)} of whoever launched each of these instances through
    the dashboard; instances launched elsewhere are missing."""
    rows = Action.objects.filter(
        kind=Action.Kind.LAUNCH, outcome=Action.Outcome.SUCCESS, instance_id__in=list(instance_ids)
    ).values_list("instance_id", "user_id", "username")
    return {instance_id: (user_id, username) for instance_id, user_id, username in rows}
