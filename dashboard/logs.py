"""One JSON line per log record, each carrying the id of the request it belongs to."""

import contextvars
import json
import logging
import time

request_id = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Stamp every record with the current request's id ("-" outside a request)."""

    def filter(self, record):
        record.request_id = request_id.get()
        return True


class DropUpstreamStatuses(logging.Filter):
    """Drop django.request's "Bad Gateway: /path" lines: those pages answer an upstream failure
    that the dashboard has already logged, with its cause, at WARNING."""

    STATUSES = frozenset({429, 502, 503, 504})

    def filter(self, record):
        return getattr(record, "status_code", None) not in self.STATUSES


class JsonFormatter(logging.Formatter):
    """{"ts", "level", "logger", "request_id", "msg", ...extra fields} on one line."""

    EXTRA = ("method", "path", "status", "ms", "user")

    def format(self, record):
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "msg": record.getMessage(),
        }
        for field in self.EXTRA:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
