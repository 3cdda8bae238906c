"""Work a request leaves until its response is sent: shared-cache writes that no page waits for.

A web request's response goes out, then the web server closes it (Django's `request_finished`),
and only then does the work deferred during the request run, in the order it was deferred, on
the request's thread. A failure there is logged, never raised: the response is already out.
Outside a request (the worker, a shell, code a test calls directly) `defer` runs the work at
once. A thread working for a request in a copy of its context (offers/answers.py) defers to that
request; if the request is already done, its work runs at once.
"""

import contextvars
import logging
import threading
from collections.abc import Callable

from django.core.signals import request_finished, request_started

logger = logging.getLogger(__name__)


class _Queue:
    """One request's deferred work; `done` once the request's response is closed."""

    def __init__(self) -> None:
        self.work: list[Callable[[], object]] = []
        self.done = False
        self.lock = threading.Lock()


_current: contextvars.ContextVar[_Queue | None] = contextvars.ContextVar("after_response", default=None)


def defer(work: Callable[[], object]) -> None:
    """Run `work()` once this request's response is sent, or now outside a request."""
    queue = _current.get()
    if queue is not None:
        with queue.lock:
            if not queue.done:
                queue.work.append(work)
                return
    work()


def _started(**kwargs: object) -> None:
    _current.set(_Queue())


def _finished(**kwargs: object) -> None:
    queue = _current.get()
    if queue is None:
        return
    _current.set(None)
    with queue.lock:
        queue.done = True
        work, queue.work = queue.work, []
    for item in work:
        try:
            item()
        except Exception:
            logger.exception("work left until after the response failed")


request_started.connect(_started, dispatch_uid="dashboard.after_response.started")
request_finished.connect(_finished, dispatch_uid="dashboard.after_response.finished")
