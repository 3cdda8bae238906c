"""The simulator's clock lives in the database: one world for every process, a speed factor, a reset."""

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from vastsim import clock
from vastsim.models import Clock

ROOT = Path(__file__).resolve().parent.parent


class Wall:
    """A wall clock that moves only when told to."""

    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def wall(monkeypatch):
    fake = Wall()
    monkeypatch.setattr(clock, "_wall", fake)
    clock.reset()
    return fake


@pytest.mark.django_db
def test_advance_is_seen_at_once_here_and_stored_for_other_processes():
    before = clock.now()
    clock.advance(3600)
    assert clock.now() == pytest.approx(before + 3600, abs=1)
    row = Clock.objects.get()
    assert row.offset == pytest.approx(3600)
    assert row.speed == 1


@pytest.mark.django_db
def test_a_change_made_elsewhere_shows_after_the_refresh_window(wall, monkeypatch):
    assert clock.now() == wall.now
    Clock.objects.update(offset=600)  # as another process would
    assert clock.now() == wall.now  # still the cached state
    clock.refresh()
    assert clock.now() == wall.now + 600
    Clock.objects.update(offset=1200)
    monkeypatch.setattr(clock, "REFRESH_SECONDS", 0.0)
    assert clock.now() == wall.now + 1200


@pytest.mark.django_db
def test_speed_runs_simulated_time_faster_from_the_moment_it_is_set(wall):
    start = wall.now
    wall.now += 100
    assert clock.set_speed(60).at(wall.now) == start + 100  # no jump
    wall.now += 10
    assert clock.now() == start + 100 + 600
    clock.advance(5)
    assert clock.now() == start + 100 + 600 + 5
    clock.set_speed(1)
    wall.now += 10
    assert clock.now() == start + 100 + 600 + 5 + 10


@pytest.mark.django_db
def test_simulated_time_is_anchor_plus_scaled_real_time_plus_offset(wall):
    clock.set_speed(30)
    clock.advance(7)
    wall.now += 2
    row = Clock.objects.get()
    assert clock.now() == row.anchor + (wall.now - row.anchor) * row.speed + row.offset == wall.now - 2 + 60 + 7


@pytest.mark.django_db
def test_a_process_with_vastsim_speed_sets_the_shared_speed_when_it_first_reads_the_clock(wall, settings, monkeypatch):
    clock.advance(50)
    settings.VASTSIM_SPEED = 60
    monkeypatch.setattr(clock, "_adopted", False)  # a process just started
    clock.refresh()
    assert clock.now() == wall.now + 50
    wall.now += 1
    assert clock.now() == wall.now - 1 + 50 + 60
    assert Clock.objects.get().speed == 60


@pytest.mark.django_db
def test_a_process_with_the_default_speed_leaves_a_faster_clock_alone(wall, monkeypatch):
    clock.set_speed(60)
    monkeypatch.setattr(clock, "_adopted", False)
    clock.refresh()
    clock.now()
    assert Clock.objects.get().speed == 60


@pytest.mark.django_db
def test_reset_puts_the_clock_back_on_the_wall_clock_at_vastsim_speed(wall, settings):
    clock.set_speed(60)
    clock.advance(86400)
    wall.now += 5
    clock.reset()
    assert clock.now() == wall.now
    settings.VASTSIM_SPEED = 10
    clock.reset()
    wall.now += 1
    assert clock.now() == wall.now - 1 + 10


@pytest.mark.django_db
def test_speed_must_be_positive():
    with pytest.raises(ValueError, match="above 0"):
        clock.set_speed(0)


@pytest.mark.django_db
def test_clock_command_advances_speeds_up_resets_and_shows(capsys):
    call_command("vastsim_clock", "advance", "2h")
    assert Clock.objects.get().offset == pytest.approx(7200)
    call_command("vastsim_clock", "advance", "--", "-30m")
    assert Clock.objects.get().offset == pytest.approx(5400)
    call_command("vastsim_clock", "speed", "60")
    assert Clock.objects.get().speed == 60
    capsys.readouterr()
    call_command("vastsim_clock")
    shown = capsys.readouterr().out
    assert 5400 <= _ahead(shown) < 5400 + 60 * 5  # 60x since the speed was set, a moment ago
    assert "speed: 60x" in shown
    call_command("vastsim_clock", "reset")
    assert "ahead of the wall clock: 0.0" in capsys.readouterr().out


def test_reset_outside_a_database_test_only_forgets_the_cached_state():
    clock.reset()  # pytest-django refuses queries here; the reset must not fail


@pytest.fixture(scope="module")
def database_file(tmp_path_factory):
    """A migrated SQLite file that separate processes share (whatever database the tests use)."""
    path = tmp_path_factory.mktemp("clock") / "db.sqlite3"
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "VASTSIM_SPEED"}}
    env.update(DATABASE_URL=f"sqlite:///{path}", DJANGO_SETTINGS_MODULE="dashboard.settings")
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return path, env


def _manage(env, *args):
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _ahead(output):
    return float(re.search(r"ahead of the wall clock: (-?[\d.]+) s", output).group(1))


def test_a_clock_moved_by_one_process_is_the_clock_of_the_others(database_file):
    path, env = database_file
    _manage(env, "vastsim_clock", "advance", "3600")
    assert _ahead(_manage(env, "vastsim_clock")) == pytest.approx(3600, abs=5)
    with sqlite3.connect(path) as db:  # this process, reading the same row
        anchor, speed, offset = db.execute("SELECT anchor, speed, offset FROM vastsim_clock").fetchone()
    assert clock.State(anchor, speed, offset).at(time.time()) == pytest.approx(time.time() + 3600, abs=5)

    _manage(env, "vastsim_clock", "speed", "100")
    first = _ahead(_manage(env, "vastsim_clock"))
    time.sleep(0.5)
    second = _ahead(_manage(env, "vastsim_clock"))
    # The second process started at least 0.5 s later: at 100x the clock gained 99 s per second more.
    assert second - first >= 0.5 * 99

    shown = _manage(env, "vastsim_clock", "reset")
    assert _ahead(shown) == pytest.approx(0, abs=1)
    assert "speed: 1x" in shown


def test_vastsim_speed_in_a_process_environment_speeds_up_every_process(database_file):
    _, env = database_file
    _manage({**env, "VASTSIM_SPEED": "50"}, "vastsim_clock")
    assert "speed: 50x" in _manage(env, "vastsim_clock")  # a process without the variable follows
    _manage(env, "vastsim_clock", "reset")
