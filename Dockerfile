# Slim, non-root image with static files collected at build time. One image, two roles:
#   web (the default command): migrate, then gunicorn;
#   worker: override the command with `python manage.py run_huey` (same environment as the web).
#     Stop it with SIGINT (`docker run --stop-signal SIGINT`, compose's `stop_signal`) so a sync in
#     progress finishes. On the default SQLite database both roles must share the /app/data volume
#     (the database, and the worker's queue beside it when REDIS_URL is unset).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBUG=false

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && useradd --system --uid 1000 --home-dir /app dashboard \
    && mkdir -p /app/data && chown dashboard /app/data

USER dashboard
EXPOSE 8000
# Without REDIS_URL each gunicorn worker has its own offer and instance-list caches (the Vast rate limiter
# then lives in the database, shared by all); docker-compose.yml adds Redis.
ENV DATABASE_URL=sqlite:////app/data/db.sqlite3 \
    ALLOWED_HOSTS=localhost,127.0.0.1 \
    GUNICORN_CMD_ARGS="--bind 0.0.0.0:8000 --workers 2 --threads 4 --timeout 60 --keep-alive 5 --error-logfile -"

# Probes gunicorn, so it fits the web role; docker-compose.yml gives the worker its own.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"

CMD ["sh", "-c", "python manage.py migrate --noinput && exec gunicorn dashboard.wsgi"]
