"""Exit 0 when the PostgreSQL and Redis URLs given answer, 1 (saying which) otherwise."""

import sys

import psycopg
import redis


def main(pg_url, redis_url):
    ok = True
    try:
        with psycopg.connect(pg_url.rsplit("/", 1)[0] + "/postgres", connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        print(f"PostgreSQL not reachable at {pg_url}: {exc}".strip())
        ok = False
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        print(f"Redis not reachable at {redis_url}: {exc}")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
