"""
WSGI config for dashboard project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

application = get_wsgi_application()

# gunicorn runs no system checks: fail here, at start, rather than on every page.
from dashboard.checks import STATIC_MANIFEST, fail_on_errors  # noqa: E402

fail_on_errors([STATIC_MANIFEST])

# What start-up loaded (Django, the apps, the templates) lives as long as the process: kept out of
# the garbage collector's full passes, which otherwise walk it all now and then (~40 ms of a page).
import gc  # noqa: E402

gc.freeze()
