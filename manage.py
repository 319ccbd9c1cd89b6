#!/usr/bin/env python
import os
import sys
from pathlib import Path

VENV_PYTHON = Path(__file__).resolve().parent / ".venv" / "bin" / "python"


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callsite.settings")
    try:
        from django.core.management import execute_from_command_line
    except ImportError:
        # `python manage.py ...` typed outside the virtualenv scripts/run made: run it there.
        if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != VENV_PYTHON.parent.parent.resolve():
            os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
        raise

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
