"""The production image follows the code: the Dockerfile copies the tree, and .dockerignore
keeps out only what the image must not carry. Nothing here runs docker, so these tests
read the two files the way the docker build does."""

import fnmatch
import re
import tomllib
from pathlib import Path

from django.apps import apps

from tests.conftest import ROOT


def _ignore_rules() -> list[tuple[bool, str]]:
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        rules.append((negated, line.lstrip("!").strip("/")))
    return rules


def _pattern_regex(pattern: str) -> re.Pattern:
    # Docker's rules: a pattern names a path from the context root, "*" and "?" stay within
    # one folder, "**" spans any number of folders (none included).
    pieces = []
    for segment in pattern.split("/"):
        if segment == "**":
            pieces.append("(?:[^/]+/)*")
            continue
        body = "".join(
            "[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in segment
        )
        pieces.append(body + "/")
    return re.compile("".join(pieces).removesuffix("/"))


def _matches(pattern: str, relative: str) -> bool:
    # A folder that matches takes everything under it along.
    regex = _pattern_regex(pattern)
    parts = relative.split("/")
    return any(regex.fullmatch("/".join(parts[: i + 1])) for i in range(len(parts)))


def in_build_context(path: Path) -> bool:
    relative = path.relative_to(ROOT).as_posix()
    included = True
    for negated, pattern in _ignore_rules():  # the last matching rule wins, as in docker
        if _matches(pattern, relative):
            included = negated
    return included


def _local_apps() -> list[Path]:
    # The project's own apps are the top-level packages of the checkout.
    return [
        Path(config.path)
        for config in apps.get_app_configs()
        if Path(config.path).resolve().parent == ROOT
    ]


def test_the_dockerfile_copies_the_whole_tree():
    copies = [
        line.split()[1:]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY")
    ]
    assert [".", "."] in copies


def test_every_local_app_and_its_files_reach_the_image():
    local = _local_apps()
    assert {path.name for path in local} >= {"accounts", "patients", "surveillance"}
    for app_path in local:
        sources = [p for p in app_path.rglob("*.py") if "__pycache__" not in p.parts]
        assert sources and all(in_build_context(p) for p in sources), app_path.name


def test_templates_static_and_entry_points_reach_the_image():
    needed = [
        *[p for p in (ROOT / "templates").rglob("*") if p.is_file()],
        *[p for p in (ROOT / "static").rglob("*") if p.is_file()],
        ROOT / "manage.py",
        ROOT / "gunicorn.conf.py",
        ROOT / "pyproject.toml",
    ]
    missing = [p.relative_to(ROOT).as_posix() for p in needed if not in_build_context(p)]
    assert missing == []


def test_tests_benchmarks_and_local_data_stay_out():
    for relative in ("tests/conftest.py", "bench/common.py", ".venv/bin/python", ".data/x",
                     "accounts/__pycache__/models.cpython-311.pyc"):  # fmt: skip
        assert not in_build_context(ROOT / relative), relative


def test_pip_install_ships_every_local_app():
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    for app_path in _local_apps():
        assert any(fnmatch.fnmatchcase(app_path.name, pattern) for pattern in include), (
            f"{app_path.name} is missing from [tool.setuptools.packages.find] include"
        )
