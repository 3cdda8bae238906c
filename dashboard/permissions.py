"""Role checks on the server: a forbidden request is refused before anything reaches Vast."""

import functools
import logging

from django.shortcuts import render
from django_htmx.http import reswap, retarget

from dashboard import audit

logger = logging.getLogger(__name__)


def forbidden(request, message):
    """A 403 with a clear message: the whole page, or for htmx a message in the alert region."""
    context = {"message": message}
    if request.htmx and not request.htmx.boosted:
        response = render(request, "_forbidden.html", context, status=403)
        return reswap(retarget(response, "#alerts"), "innerHTML")
    return render(request, "403.html", context, status=403)


def require_perm(codename, action=None, message="Your role does not allow this."):
    """View decorator: 403 unless the user has `dashboard.<codename>`.

    When `action` (an `Action.Kind`) is given, the refused attempt is also written to the
    audit log, with the `offer_id` / `instance_id` taken from the URL.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.has_perm(f"dashboard.{codename}"):
                logger.info("forbidden: %s lacks %s for %s %s", request.user, codename, request.method, request.path)
                if action is not None:
                    audit.forbid(
                        request.user,
                        action,
                        message,
                        offer_id=kwargs.get("offer_id"),
                        instance_id=kwargs.get("instance_id"),
                    )
                return forbidden(request, message)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
