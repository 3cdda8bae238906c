"""gunicorn settings read from the same environment as Django's (gunicorn loads this file itself).

gunicorn believes X-Forwarded-Proto (and so marks a request https, which brings HSTS) only from
the addresses in `forwarded_allow_ips`. Its default trusts 127.0.0.1, which would let a plain-http
request through a local port look secure; here nothing is trusted unless BEHIND_TLS_PROXY is set,
and then FORWARDED_ALLOW_IPS (default "*": the proxy's address is the container network's).
Command-line flags and GUNICORN_CMD_ARGS still override these.
"""

import os


def _on(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*") if _on("BEHIND_TLS_PROXY") else ""
proxy_allow_ips = forwarded_allow_ips
accesslog = None  # the dashboard logs one line per request itself (with its request id)
