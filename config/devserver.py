"""`make run`: the local and demo stack in the foreground.

Starts embedded Postgres/Redis when no URLs are configured, migrates, loads the
demo data, then runs web (gunicorn), a Celery worker, Celery beat and the HL7 MLLP listener
(on HL7_PORT, default 2575) until interrupted. Ctrl-C or SIGTERM stops every child (and the
embedded servers this run started), so nothing is left behind. `--prepare-only` stops after
migrating and loading the demo data.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


class StepFailed(Exception):
    pass


def _run(cmd: list[str]) -> None:
    if subprocess.run(cmd, cwd=BASE_DIR).returncode != 0:
        raise StepFailed(" ".join(cmd[1:]))


def _debug_on() -> bool:
    import environ

    return environ.Env().bool("DEBUG", default=False)


def prepare(python: str) -> None:
    """Migrate, then load the demo data, which only exists with DEBUG on: its users have a
    published password, so with DEBUG off the stack starts without them and says so."""
    _run([python, "manage.py", "migrate", "--noinput"])
    if _debug_on():
        # The twelve demo patients, and a programme's year (600 synthetic patients) so the
        # metrics page has every figure.
        _run([python, "manage.py", "seed_demo", "--programme-history", "600"])
    else:
        print(
            "DEBUG is off, so no demo data or demo users are loaded "
            "(create users with: python manage.py createuser USERNAME --role ROLE "
            "--password-stdin).",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    port = os.environ.get("PORT", "8000")
    hl7_port = os.environ.get("HL7_PORT", "2575")

    from config import embedded

    started = embedded.ensure_embedded_services()
    python = sys.executable
    children: list[subprocess.Popen] = []

    def stop_everything(*_args) -> None:
        # A second Ctrl-C must not abort the clean-up half way.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        if "redis" in started:
            embedded.stop_redis()
        if "postgres" in started:
            embedded.stop_postgres()

    try:
        prepare(python)
        if "--prepare-only" in argv:
            return 0
        commands = {
            "web": [
                python, "-m", "gunicorn", "config.wsgi:application",
                "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
                "--access-logfile", "-", "--graceful-timeout", "5",
            ],
            "worker": [
                python, "-m", "celery", "-A", "config", "worker",
                "--loglevel", "info", "--concurrency", "2",
            ],
            "beat": [python, "-m", "celery", "-A", "config", "beat", "--loglevel", "info"],
            "hl7": [
                python, "manage.py", "hl7_listener", "--port", hl7_port, "--host", "127.0.0.1",
            ],
        }  # fmt: skip
        for cmd in commands.values():
            # Own process group each, so a signal reaches the whole tree of a child.
            children.append(subprocess.Popen(cmd, cwd=BASE_DIR, start_new_session=True))
        print(
            f"\nESR1 Watch is running at http://127.0.0.1:{port}/ , HL7 MLLP on "
            f"127.0.0.1:{hl7_port}  (Ctrl-C stops it)\n",
            flush=True,
        )
        # Handle SIGINT even when started with it ignored (e.g. from a script).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        names = [n for n, c in zip(commands, children, strict=True) if c.poll() is not None]
        print(f"stopping: {', '.join(names)} exited", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
        return 0
    except StepFailed as failed:
        print(f"stopping: `manage.py {failed}` failed (see its message above)", file=sys.stderr)
        return 1
    finally:
        stop_everything()


if __name__ == "__main__":
    sys.exit(main())
