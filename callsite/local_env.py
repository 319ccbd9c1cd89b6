"""The local settings file of a checkout run with scripts/run: `var/local.env`
(git-ignored), made once with a generated SECRET_KEY and DEBUG=1, so that every
`python manage.py ...` of the README works as typed, and sessions survive restarts.

callsite/settings.py loads it before reading the environment: a variable set in
the environment always wins. It is never read under pytest, with
DJANGO_ENV=production, or with LOCAL_SETTINGS_FILE set empty (another path there
names another file).

`python -m callsite.local_env` makes the file if it is missing (scripts/run does).
No Django imports here: settings load this module first."""

import os
import secrets
import sys
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "var" / "local.env"

TEMPLATE = """\
# Local settings of this checkout, made once by scripts/run (git-ignored: never commit it).
# callsite/settings.py reads it when present; a variable set in the environment wins.
# Not read under pytest or with DJANGO_ENV=production. Delete it to get a new SECRET_KEY
# (which signs everyone out). Any setting may be added, e.g. DATABASE_URL=postgres://...
# so that manage.py commands use the same database as the site.
DEBUG=1
SECRET_KEY={secret_key}
"""


def local_settings_path() -> Path | None:
    """The file to read, or None when none should be."""
    if os.environ.get("DJANGO_ENV", "").strip().lower() == "production" or "pytest" in sys.modules:
        return None
    configured = os.environ.get("LOCAL_SETTINGS_FILE")
    if configured is None:
        return DEFAULT_PATH
    return Path(configured) if configured.strip() else None


def parse(text: str) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments skipped; one pair of quotes around a value dropped."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if key.startswith("export "):
            key = key.removeprefix("export ").strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def load_local_settings() -> Path | None:
    """Fill in from the local settings file what the environment leaves unset; the file read, if any."""
    path = local_settings_path()
    if path is None or not path.is_file():
        return None
    for key, value in parse(path.read_text()).items():
        os.environ.setdefault(key, value)
    return path


def ensure_local_settings(path: Path) -> bool:
    """Make the file (readable by its owner only) unless it exists; True if made now."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(TEMPLATE.format(secret_key=secrets.token_urlsafe(50)))
    return True


def main() -> None:
    path = local_settings_path()
    if path is None:
        print("== no local settings file (DJANGO_ENV=production, or LOCAL_SETTINGS_FILE is empty)")
    elif ensure_local_settings(path):
        print(f"== made {path}: a new SECRET_KEY and DEBUG=1 for this local site (git-ignored)")
    else:
        print(f"== local settings: {path}")


if __name__ == "__main__":
    main()
