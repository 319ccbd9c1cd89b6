"""The local settings file scripts/run leaves (callsite/local_env.py): after it,
the README's `python manage.py ...` commands work as typed, with nothing set in
the environment; the environment always wins, and production never reads it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from invitations.models import Group
from tests import processes
from tests.processes import ROOT
from tests.site.test_settings_startup import PRINT, run_settings


def clean_env(local_file: Path, **extra: str) -> dict[str, str]:
    """What a newcomer's shell has: no DEBUG, SECRET_KEY, REDIS_PREFIX, ..."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(LOCAL_SETTINGS_FILE=str(local_file), **extra)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.django_db(transaction=True)
def test_manage_py_group_add_works_as_typed_after_the_setup_step(tmp_path, alice, bob):
    local_file = tmp_path / "local.env"
    env = clean_env(local_file, DATABASE_URL=processes.test_database_url())
    group_add = [sys.executable, "manage.py", "group_add", "team-a", "--name", "Team A", "--members", "alice", "bob"]

    before = run(group_add, env)
    assert before.returncode != 0 and "SECRET_KEY must be set" in before.stderr
    assert not Group.objects.exists()

    made = run([sys.executable, "-m", "callsite.local_env"], env)  # what scripts/run does first
    assert made.returncode == 0, made.stderr
    assert "made" in made.stdout
    text = local_file.read_text()
    assert "DEBUG=1" in text and "SECRET_KEY=" in text
    assert local_file.stat().st_mode & 0o077 == 0  # the owner's only

    after = run(group_add, env)
    assert after.returncode == 0, after.stderr
    assert sorted(Group.objects.get(group_id="team-a").members.values_list("username", flat=True)) == ["alice", "bob"]

    # Made once: a second start keeps the key (sessions stay valid).
    again = run([sys.executable, "-m", "callsite.local_env"], env)
    assert again.returncode == 0 and local_file.read_text() == text


def test_python_without_django_runs_manage_py_in_the_virtualenv(tmp_path):
    """`python manage.py` typed with a Python that lacks Django (the virtualenv not activated)."""
    base = Path(sys.base_prefix) / "bin" / "python3"
    if not base.exists() or run([str(base), "-c", "import django"], {"PATH": os.environ["PATH"]}).returncode == 0:
        pytest.skip("no Python without Django to try it with")
    local_file = tmp_path / "local.env"
    env = clean_env(local_file, DATABASE_URL=processes.test_database_url())
    run([sys.executable, "-m", "callsite.local_env"], env)
    result = run([str(base), "manage.py", "shell", "-c", PRINT.format("DEBUG")], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True"


def test_the_environment_wins_over_the_file(tmp_path):
    local_file = tmp_path / "local.env"
    local_file.write_text("DEBUG=1\nSECRET_KEY='from-the-file-" + "f" * 40 + "'\nCALL_MAX_SOCKETS_PER_USER=7\n")
    code = "from django.conf import settings; print(settings.DEBUG, settings.SECRET_KEY, settings.CALL_MAX_SOCKETS_PER_USER)"
    from_file = run_settings(code, LOCAL_SETTINGS_FILE=str(local_file))
    assert from_file.stdout.split() == ["True", "from-the-file-" + "f" * 40, "7"], from_file.stderr
    from_env = run_settings(code, LOCAL_SETTINGS_FILE=str(local_file), DEBUG="0", SECRET_KEY="k" * 50)
    assert from_env.stdout.split() == ["False", "k" * 50, "7"], from_env.stderr


def test_production_never_reads_the_file(tmp_path):
    local_file = tmp_path / "local.env"
    local_file.write_text("DEBUG=1\nSECRET_KEY=" + "f" * 50 + "\n")
    result = run_settings(PRINT.format("DEBUG"), LOCAL_SETTINGS_FILE=str(local_file), DJANGO_ENV="production")
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr
    made = subprocess.run(
        [sys.executable, "-m", "callsite.local_env"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=clean_env(local_file, DJANGO_ENV="production"),
        timeout=60,
    )
    assert made.returncode == 0 and "no local settings file" in made.stdout


def test_pytest_never_reads_the_file(tmp_path, monkeypatch):
    from callsite import local_env

    local_file = tmp_path / "local.env"
    local_file.write_text("SOMETHING_ONLY_IN_THE_FILE=1\n")
    monkeypatch.setenv("LOCAL_SETTINGS_FILE", str(local_file))
    assert local_env.load_local_settings() is None
    assert "SOMETHING_ONLY_IN_THE_FILE" not in os.environ
