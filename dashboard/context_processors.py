"""Template context shared by every page."""

from functools import cache

from django.conf import settings
from django.utils.functional import SimpleLazyObject


def dashboard(request):
    """Say whether the dashboard talks to the simulator, the user's role, and their unread
    notification count (each queried only by a template that shows it: the nav)."""
    user = getattr(request, "user", None)
    role = None
    unread = 0
    if user is not None and user.is_authenticated:
        from dashboard.models import Notification
        from dashboard.roles import role_of

        role = SimpleLazyObject(lambda: role_of(user))  # asked only by a template that shows it
        unread = cache(lambda: Notification.unread_count(user))
    return {"vast_simulated": not settings.VAST_API_KEY, "user_role": role, "unread_notifications": unread}
