"""The simulator as a tiny WSGI app over the same router, and its server.

`make_app()` is a plain WSGI callable; `make_server()` serves it on a
threading wsgiref server that closes each thread's database connection when
the request is done. `python manage.py vastsim` runs it; `serving()` runs it
on a background thread for tests and benchmarks.
"""

import logging
import threading
import time
from contextlib import contextmanager
from http import HTTPStatus
from socketserver import ThreadingMixIn
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.simple_server import make_server as _wsgiref_server

from django.db import connections

from vastsim import router
from vastsim.protocol import Request

logger = logging.getLogger("vastsim")


def _request(environ):
    """A simulator Request from a WSGI environ."""
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    return Request(
        method=environ["REQUEST_METHOD"].upper(),
        path=environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace") or "/",
        query=dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)),
        headers=headers,
        body=body,
        base_url=f"{environ.get('wsgi.url_scheme', 'http')}://{_host(environ)}",
    )


def _host(environ):
    """host[:port] the caller addressed (its Host header, else the server's name and port)."""
    if environ.get("HTTP_HOST"):
        return environ["HTTP_HOST"]
    port = environ.get("SERVER_PORT", "")
    return environ.get("SERVER_NAME", "localhost") + (f":{port}" if port and port not in ("80", "443") else "")


def _reason(status):
    """The reason phrase for an HTTP status code."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def make_app(api_keys=None):
    """A WSGI app serving the simulator; `api_keys` as for SimulatorTransport.
    It logs one line per request, without the query string (it may hold a key)."""

    def app(environ, start_response):
        started = time.monotonic()
        request = _request(environ)
        response = router.dispatch(request, api_keys)
        headers = [*response.headers, ("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {_reason(response.status)}", headers)
        logger.info(
            "%s %s %s %.0fms", request.method, request.path, response.status, (time.monotonic() - started) * 1000
        )
        return [response.body]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        """The app logs each request; silence wsgiref's own stderr line."""


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per request; each closes its database connections at the end."""

    daemon_threads = True

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            connections.close_all()


def make_server(host, port, api_keys=None):
    """A ready threading server for the simulator (call `serve_forever()`)."""
    return _wsgiref_server(
        host, port, make_app(api_keys), server_class=ThreadingWSGIServer, handler_class=_QuietHandler
    )


@contextmanager
def serving(host="127.0.0.1", port=0, api_keys=None, *, wrap=None):
    """Serve the simulator on a background thread for the duration of the block; yields its
    base URL. `wrap(app)` may return a WSGI middleware around the app (to count requests)."""
    server = make_server(host, port, api_keys)
    if wrap is not None:
        server.set_app(wrap(server.get_app()))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
