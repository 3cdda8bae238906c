"""E-mail settings from the environment (imported by settings.py; no Django import here).

`EMAIL_URL` wins when set: `smtp://user:password@host:port` (plain, port 25), `smtp+tls://…`
(STARTTLS, port 587), `smtps://…` (TLS from the start, port 465), `console://` or `locmem://`.
User and password are percent-decoded, so `@`, `:` and `/` in them are written `%40`, `%3A`, `%2F`.
Otherwise `EMAIL_HOST` (with `EMAIL_PORT`, `EMAIL_HOST_USER`, `EMAIL_HOST_PASSWORD`, `EMAIL_USE_TLS`,
`EMAIL_USE_SSL`) selects SMTP, and with neither, mail is printed by the console backend.
"""

from urllib.parse import unquote, urlsplit

SMTP = "django.core.mail.backends.smtp.EmailBackend"
CONSOLE = "django.core.mail.backends.console.EmailBackend"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
SCHEMES = {"smtp": (False, False, 25), "smtp+tls": (True, False, 587), "smtps": (False, True, 465)}


class MailConfigError(ValueError):
    """A variable that cannot be used; the message never repeats a password."""


def _flag(environ, name):
    value = environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise MailConfigError(f"{name} must be a boolean (true/false), not {value!r}")


def _port(text, name):
    try:
        port = int(text)
    except ValueError:
        raise MailConfigError(f"{name}: the port must be a number") from None
    if not 0 < port < 65536:
        raise MailConfigError(f"{name}: the port must be in 1..65535")
    return port


def from_url(url):
    """The EMAIL_* settings that an EMAIL_URL stands for (a dict keyed by setting name)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise MailConfigError("EMAIL_URL is not a URL (smtp://user:password@host:port)") from None
    scheme = parts.scheme.lower()
    if scheme in ("console", "locmem"):
        return {"EMAIL_BACKEND": CONSOLE if scheme == "console" else LOCMEM}
    if scheme not in SCHEMES:
        raise MailConfigError(f"EMAIL_URL: the scheme must be one of {', '.join(SCHEMES)}, console or locmem")
    if not parts.hostname:
        raise MailConfigError("EMAIL_URL names no host")
    use_tls, use_ssl, default_port = SCHEMES[scheme]
    return {
        "EMAIL_BACKEND": SMTP,
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port or default_port,
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_USE_SSL": use_ssl,
    }


def from_environ(environ, password=""):
    """The EMAIL_* settings for this environment; `password` is EMAIL_HOST_PASSWORD as read by
    the settings' secret reader (which also knows EMAIL_HOST_PASSWORD_FILE)."""
    url = environ.get("EMAIL_URL", "").strip()
    if url:
        return from_url(url)
    host = environ.get("EMAIL_HOST", "").strip()
    if not host:
        return {"EMAIL_BACKEND": CONSOLE}
    use_tls, use_ssl = _flag(environ, "EMAIL_USE_TLS"), _flag(environ, "EMAIL_USE_SSL")
    if use_tls and use_ssl:
        raise MailConfigError("EMAIL_USE_TLS and EMAIL_USE_SSL exclude each other: choose one")
    default_port = 465 if use_ssl else 587 if use_tls else 25
    port = environ.get("EMAIL_PORT", "").strip()
    return {
        "EMAIL_BACKEND": SMTP,
        "EMAIL_HOST": host,
        "EMAIL_PORT": _port(port, "EMAIL_PORT") if port else default_port,
        "EMAIL_HOST_USER": environ.get("EMAIL_HOST_USER", ""),
        "EMAIL_HOST_PASSWORD": password or "",
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_USE_SSL": use_ssl,
    }
