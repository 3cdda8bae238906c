"""Template context shared by every page."""

from django.conf import settings


def dashboard(request):
    """Say whether the dashboard talks to the simulator, and the user's role."""
    user = getattr(request, "user", None)
    role = None
    if user is not None and user.is_authenticated:
        from dashboard.roles import role_of

        role = role_of(user)
    return {"vast_simulated": not settings.VAST_API_KEY, "user_role": role}
