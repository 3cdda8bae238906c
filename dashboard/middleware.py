"""Cross-cutting request handling: login everywhere, and upstream errors as pages."""

import ipaddress
import logging
import re
import time
import uuid

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware as BaseLoginRequiredMiddleware
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from dashboard.logs import request_id
from dashboard.vast import VastError

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("dashboard.access")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def client_address(request):
    """The client's address: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the entry of
    X-Forwarded-For that the outermost trusted proxy saw (the Nth from the right). Entries a
    client wrote itself sit further left and are never believed."""
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    chain = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(chain) < hops:
        return remote
    candidate = chain[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


class ClientAddressMiddleware:
    """First of all: REMOTE_ADDR becomes the client's address (see `client_address`), so login
    throttling (per username and address) and the logs see the person, not the proxy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.META["REMOTE_ADDR"] = client_address(request)
        return self.get_response(request)


class RequestLogMiddleware:
    """Give each request an id (X-Request-ID from the proxy, or a new one) and log one line for it.

    The id is echoed in the response and stamped on every log line written during the request.
    The line carries the path without its query string, which may hold filter values.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = rid
            user = getattr(request, "user", None)
            access_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "ms": round((time.monotonic() - started) * 1000, 1),
                    "user": user.get_username() if user is not None and user.is_authenticated else None,
                    "client": request.META.get("REMOTE_ADDR"),
                },
            )
            return response
        finally:
            request_id.reset(token)


class LoginRequiredMiddleware(BaseLoginRequiredMiddleware):
    """Django's login-everywhere middleware, with a client-side redirect for htmx.

    A poll or partial request whose session has expired must not swap the login
    form into a table cell: htmx gets `HX-Redirect` to the login page instead.
    """

    def handle_no_permission(self, request, view_func):
        if getattr(request, "htmx", False) or request.headers.get("HX-Request") == "true":
            path = request.headers.get("HX-Current-URL") or request.get_full_path()
            return HttpResponseClientRedirect(redirect_to_login(path, self.get_login_url(view_func)).url)
        return super().handle_no_permission(request, view_func)


def vast_error_response(request, error, status=None):
    """Render a VastError as a page (or, for htmx, a fragment in the alert region)."""
    status = status or error.http_status
    context = {"error": error}
    if request.htmx and not request.htmx.boosted:
        response = render(request, "_vast_error.html", context, status=status)
        response = retarget(response, "#alerts")
        response = reswap(response, "innerHTML")
    else:
        response = render(request, "vast_error.html", context, status=status)
    if getattr(error, "retry_after", None):
        response["Retry-After"] = str(int(error.retry_after + 0.999))
    return response


class VastErrorMiddleware:
    """Turn any uncaught upstream failure into a clear message and an honest status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, VastError):
            return None
        logger.warning("upstream failure on %s %s: %s", request.method, request.path, exception.log_message())
        return vast_error_response(request, exception)
