"""Settings for the team dashboard, read from the environment.

The defaults give a working `runserver`: SQLite, the local-memory cache and the
embedded Vast.ai simulator. Every variable is documented in the README.
"""

import hashlib
import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from huey import RedisHuey, SqliteHuey

from dashboard import mail_config

BASE_DIR = Path(__file__).resolve().parent.parent
DEVELOPMENT_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"


def env_bool(name, default=False):
    """Read a boolean variable: 1/true/yes/on or 0/false/no/off (any case)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), not {raw!r}")


def env_number(name, default, kind=int):
    """Read a number variable (int by default, or float), rejecting junk loudly."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None


def env_secret(name, default=None):
    """Read a secret from NAME, or from the file named by NAME_FILE (Docker secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
    return os.environ.get(name) or default


def env_list(name, default=()):
    """Read a comma-separated list variable."""
    raw = os.environ.get(name, "")
    items = [item.strip() for item in raw.split(",") if item.strip()]
    return items or list(default)


DEBUG = env_bool("DEBUG", default=True)
SECRET_KEY = env_secret("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY: refusing to run with DEBUG off and the development key.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "csp",
    "axes",
    "huey.contrib.djhuey",
    "dashboard",
    "vastsim",
    "offers",
    "instances",
]

MIDDLEWARE = [
    "dashboard.middleware.ClientAddressMiddleware",
    "dashboard.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Pages compressed (WhiteNoise serves static files pre-compressed, before this runs); above
    # everything that writes the body. BREACH: Django masks the CSRF token anew in every response
    # and pads each gzip answer with 0-100 random bytes, and the Lax session cookie is not sent on
    # the cross-site requests the attack needs (bench/README.md, "gzip").
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "dashboard.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dashboard.middleware.VastErrorMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context_processors.dashboard",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_number("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several gunicorn workers share one file: wait on a lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL")
if REDIS_URL and os.environ.get("PYTEST_XDIST_WORKER"):
    # Parallel test workers each get their own Redis database, since tests flush the cache; a run
    # of scripts/test-services also has a slot of its own (TEST_RUN_SLOT), so two runs never share.
    # The same environment always maps to the same database (subprocesses of a test inherit it).
    worker = int(os.environ["PYTEST_XDIST_WORKER"].removeprefix("gw"))
    slot = int(os.environ.get("TEST_RUN_SLOT") or 0)
    REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + f"/{1 + 2 * slot + worker}"
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "dashboard",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Background work (the account watcher): Huey, its queue in Redis when REDIS_URL is set (every
# worker and web replica shares it), else in an SQLite file beside the database, so that two
# checkouts or two test runs on different databases never share a queue. Tasks write models and
# nobody reads their return values, so Huey keeps none (they would pile up in its storage).
_db = DATABASES["default"]
HUEY_NAME = (
    "dashboard-" + hashlib.sha256(f"{_db.get('HOST')}:{_db.get('PORT')}/{_db['NAME']}".encode()).hexdigest()[:12]
)
if REDIS_URL:
    HUEY = RedisHuey(HUEY_NAME, url=REDIS_URL, utc=True, results=False)
else:
    _db_file = Path(str(_db["NAME"])) if _db["ENGINE"].endswith("sqlite3") else BASE_DIR / f"{HUEY_NAME}.sqlite3"
    HUEY = SqliteHuey(
        HUEY_NAME, filename=str(_db_file.with_name(f"{_db_file.stem}-huey.sqlite3")), utc=True, results=False
    )
# The longest time between two syncs of the ledger; while an instance changes state, and right
# after a write through the dashboard, the worker syncs every VAST_SYNC_FAST_SECONDS instead.
VAST_SYNC_SECONDS = env_number("VAST_SYNC_SECONDS", 10.0, float)
VAST_SYNC_FAST_SECONDS = env_number("VAST_SYNC_FAST_SECONDS", 2.0, float)
# A sync holds a lease this long; a worker killed mid-sync blocks the others at most this long.
VAST_SYNC_LEASE_SECONDS = env_number("VAST_SYNC_LEASE_SECONDS", 45.0, float)
if VAST_SYNC_FAST_SECONDS <= 0 or VAST_SYNC_SECONDS < VAST_SYNC_FAST_SECONDS:
    raise ImproperlyConfigured("VAST_SYNC_SECONDS must be at least VAST_SYNC_FAST_SECONDS, both above 0.")

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Failed-login throttling; the counts live in the database so every worker sees them.
AXES_FAILURE_LIMIT = env_number("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_number("AXES_COOLOFF_MINUTES", 15) / 60
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "dashboard.middleware.client_address"  # the client behind a trusted proxy
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

SESSION_COOKIE_AGE = env_number("SESSION_COOKIE_AGE", 60 * 60 * 12)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
# How many proxies in front of us append to X-Forwarded-For (one with BEHIND_TLS_PROXY, none
# without): the client address for login throttling and logs comes from that many hops back.
TRUSTED_PROXY_COUNT = env_number("TRUSTED_PROXY_COUNT", 1 if BEHIND_TLS_PROXY else 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more.")
SECURE_HSTS_SECONDS = env_number("SECURE_HSTS_SECONDS", 0 if DEBUG else 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
if SECURE_PROXY_SSL_HEADER and not SECURE_SSL_REDIRECT:
    # The TLS-terminating proxy redirects http to https itself.
    SILENCED_SYSTEM_CHECKS = ["security.W008"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# No inline script or style anywhere, so 'self' is the whole policy.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "img-src": [SELF, "data:"],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Vast.ai upstream. With no VAST_API_KEY the embedded simulator answers in process.
VAST_API_KEY = env_secret("VAST_API_KEY")
VAST_URL = os.environ.get("VAST_URL", "https://console.vast.ai").rstrip("/")
VAST_CONNECT_TIMEOUT = env_number("VAST_CONNECT_TIMEOUT", 5.0, float)
VAST_READ_TIMEOUT = env_number("VAST_READ_TIMEOUT", 10.0, float)
VAST_MAX_RETRIES = env_number("VAST_MAX_RETRIES", 2)
VAST_RETRY_AFTER_CAP = env_number("VAST_RETRY_AFTER_CAP", 10.0, float)
# No read is retried past this many seconds in all, so a hanging Vast cannot hold a page longer.
VAST_CALL_BUDGET = env_number("VAST_CALL_BUDGET", 15.0, float)
OFFER_CACHE_SECONDS = env_number("OFFER_CACHE_SECONDS", 20)
# The offers page sends its search to Vast on another thread and renders the rest of the page
# meanwhile (offers/answers.py); off, it waits for Vast first.
OFFER_SEARCH_OVERLAP = env_bool("OFFER_SEARCH_OVERLAP", default=True)
# When Vast is busy, an answer to the same search up to this old is shown (marked as such).
OFFER_STALE_SECONDS = env_number("OFFER_STALE_SECONDS", 600)
# Saved-search price alerts (offers/alerts.py): each alerting search runs this often, the worker
# uses at most this share of Vast's search rate, and an offer unseen this long is new again.
ALERT_CHECK_SECONDS = env_number("ALERT_CHECK_SECONDS", 300)
ALERT_SEARCH_SHARE = env_number("ALERT_SEARCH_SHARE", 1 / 3, float)
ALERT_QUIET_SECONDS = env_number("ALERT_QUIET_SECONDS", 3600)
# The market history's light default round (at most hourly): the most common models on offer.
MARKET_DEFAULT_GPUS = ("RTX 4090", "RTX 3090", "RTX 5090", "H100 SXM", "A100 SXM4")
# Keep under Vast's per-endpoint limits ourselves, shared through the cache by every replica.
VAST_RATE_LIMIT = env_bool("VAST_RATE_LIMIT", default=True)
VAST_RATE_LIMIT_READ_WAIT = env_number("VAST_RATE_LIMIT_READ_WAIT", 3.0, float)
VAST_RATE_LIMIT_WRITE_WAIT = env_number("VAST_RATE_LIMIT_WRITE_WAIT", 6.0, float)

# The embedded simulator's own settings (see vastsim/).
VASTSIM_API_KEY = os.environ.get("VASTSIM_API_KEY", "simulated-vast-key")
VASTSIM_SEED = env_number("VASTSIM_SEED", 2026)
VASTSIM_BOOT_SECONDS = env_number("VASTSIM_BOOT_SECONDS", 8.0, float)
VASTSIM_RATE_LIMITS = env_bool("VASTSIM_RATE_LIMITS", default=False)
# Simulated seconds per real second (vastsim/clock.py): 60 turns a 20-minute simulated workload idle in 20 s.
VASTSIM_SPEED = env_number("VASTSIM_SPEED", 1.0, float)
if not 0 < VASTSIM_SPEED <= 100_000:
    raise ImproperlyConfigured(f"VASTSIM_SPEED must be above 0 and at most 100000, not {VASTSIM_SPEED!r}")

# Notifications (dashboard/notify.py): e-mail and the team webhook, both sent by the worker.
# The dashboard's public address, for absolute links in e-mail and webhook messages.
DASHBOARD_URL = os.environ.get("DASHBOARD_URL", "").strip().rstrip("/")
try:
    _mail = mail_config.from_environ(os.environ, password=env_secret("EMAIL_HOST_PASSWORD", ""))
except mail_config.MailConfigError as exc:
    raise ImproperlyConfigured(str(exc)) from None
EMAIL_BACKEND = _mail["EMAIL_BACKEND"]
EMAIL_HOST = _mail.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _mail.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _mail.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _mail.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _mail.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _mail.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_number("EMAIL_TIMEOUT", 10.0, float)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL") or "Vast.ai dashboard <dashboard@localhost>"
# A Slack-compatible incoming webhook; its URL is a secret (it is the credential), so it may
# come from NOTIFY_WEBHOOK_URL_FILE too, and is never logged or shown.
NOTIFY_WEBHOOK_URL = env_secret("NOTIFY_WEBHOOK_URL", "")
if NOTIFY_WEBHOOK_URL and not NOTIFY_WEBHOOK_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured("NOTIFY_WEBHOOK_URL must be an http(s) URL.")
NOTIFY_WEBHOOK_TIMEOUT = env_number("NOTIFY_WEBHOOK_TIMEOUT", 5.0, float)
NOTIFY_WEBHOOK_ATTEMPTS = env_number("NOTIFY_WEBHOOK_ATTEMPTS", 5)
NOTIFY_WEBHOOK_RETRY_SECONDS = env_number("NOTIFY_WEBHOOK_RETRY_SECONDS", 10.0, float)
if NOTIFY_WEBHOOK_TIMEOUT <= 0 or NOTIFY_WEBHOOK_ATTEMPTS < 1 or NOTIFY_WEBHOOK_RETRY_SECONDS < 0:
    raise ImproperlyConfigured(
        "NOTIFY_WEBHOOK_TIMEOUT must be above 0, NOTIFY_WEBHOOK_ATTEMPTS 1 or more, NOTIFY_WEBHOOK_RETRY_SECONDS 0 or more."
    )

LOG_FORMAT = os.environ.get("LOG_FORMAT", "text" if DEBUG else "json")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "dashboard.logs.RequestIdFilter"},
        "not_upstream_status": {"()": "dashboard.logs.DropUpstreamStatuses"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "dashboard.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Honest 502/503/504/429 pages are logged by the dashboard itself at WARNING.
        "django.request": {"level": "ERROR", "filters": ["not_upstream_status"]},
        # runserver's own access line would repeat ours.
        "django.server": {"level": "WARNING"},
        # httpx logs full URLs at INFO; the service module logs each call itself, without queries.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # The consumer logs every task it runs at INFO; the sync logs what it did itself. With a
        # handler of its own, run_huey adds none (which would print every line twice).
        "huey": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
