"""Claim or release a slot for one run of the PostgreSQL + Redis test pass, so that two runs on
one machine never share a test database or a Redis database (tests flush their Redis database).

    test-slot.py claim REDIS_URL        prints the slot number (0-6), held for 2 hours at most
    test-slot.py release REDIS_URL N

A slot N gives the run the PostgreSQL test databases named after `dashboard_N` and (through
TEST_RUN_SLOT, read by settings.py) the Redis databases 2N+1 and 2N+2, one per pytest-xdist worker. The claims live in Redis database 15.
"""

import os
import sys
import time

import redis

SLOTS = 7
HOLD_SECONDS = 2 * 3600


def _lock_db(url):
    return redis.Redis.from_url(url.rsplit("/", 1)[0] + "/15", socket_connect_timeout=3)


def claim(url):
    db = _lock_db(url)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for slot in range(SLOTS):
            if db.set(f"dashboard-test-slot:{slot}", os.getpid(), nx=True, ex=HOLD_SECONDS):
                return slot
        time.sleep(2)
    raise SystemExit("every test slot is taken: too many test runs at once on this machine")


def release(url, slot):
    _lock_db(url).delete(f"dashboard-test-slot:{slot}")


if __name__ == "__main__":
    action, url = sys.argv[1], sys.argv[2]
    if action == "claim":
        print(claim(url))
    else:
        release(url, int(sys.argv[3]))
