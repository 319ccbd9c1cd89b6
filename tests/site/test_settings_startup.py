"""Start-up checks of callsite/settings.py, each in a fresh interpreter with a
controlled environment."""

import os
import subprocess
import sys

from tests.processes import ROOT

PRINT = "from django.conf import settings; print(settings.{})"


def run_settings(code: str, **env: str) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "DEBUG", "DJANGO_ENV", "CALLSITE_REQUIRE_SECRET_KEY")
        and not k.startswith("RATE_LIMIT_")
    }
    base.update(DJANGO_SETTINGS_MODULE="callsite.settings", **env)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refuses_to_start_without_secret_key_when_debug_is_off():
    for debug in ({}, {"DEBUG": "0"}):  # DEBUG unset is off too
        result = run_settings(PRINT.format("SECRET_KEY"), **debug)
        assert result.returncode != 0, f"started with {debug}: {result.stdout}"
        assert "SECRET_KEY must be set" in result.stderr


def test_starts_with_a_secret_key_or_in_debug():
    assert run_settings(PRINT.format("DEBUG"), SECRET_KEY="k" * 50).returncode == 0
    debug = run_settings(PRINT.format("DEBUG"), DEBUG="1")
    assert debug.returncode == 0 and debug.stdout.strip() == "True", debug.stderr


def test_refuses_to_start_without_a_postgresql_database_url():
    """PostgreSQL is the only database: none, or another, stops the start with what to do."""
    for url in ("", "sqlite:///db.sqlite3", "mysql://root@127.0.0.1/site"):
        result = run_settings(PRINT.format("DATABASES"), DATABASE_URL=url, SECRET_KEY="k" * 50, LOCAL_SETTINGS_FILE="")
        assert result.returncode != 0, f"started with {url!r}: {result.stdout}"
        assert "DATABASE_URL must name a PostgreSQL database" in result.stderr, result.stderr
        assert "scripts/run starts one" in result.stderr
    started = run_settings(
        PRINT.format("DATABASES['default']['ENGINE']"),
        SECRET_KEY="k" * 50,
        DATABASE_URL="postgresql://postgres@127.0.0.1:5432/site",
        LOCAL_SETTINGS_FILE="",
    )
    assert started.returncode == 0 and started.stdout.strip() == "django.db.backends.postgresql", started.stderr


def test_production_rate_limits_by_default():
    code = (
        "from django.conf import settings; "
        "print(settings.RATE_LIMIT_INVITES_PER_MINUTE, settings.RATE_LIMIT_INVITEES_PER_MINUTE,"
        " settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME, settings.RATE_LIMIT_AUTH_FAILURES_PER_IP)"
    )
    result = run_settings(code, SECRET_KEY="k" * 50)
    assert result.stdout.split() == ["30", "100", "10", "100"], result.stderr
    result = run_settings(
        code, SECRET_KEY="k" * 50, RATE_LIMIT_INVITES_PER_MINUTE="0", RATE_LIMIT_INVITEES_PER_MINUTE="7"
    )
    assert result.stdout.split()[:2] == ["0", "7"], result.stderr
