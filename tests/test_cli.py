"""`flask init`, `flask config …`, and `flask` finding the app, through the real CLI (the
commands of webapp/cli.py; each package's own commands are tested in its folder)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, TEST_SECRET


def test_init_is_idempotent(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["init"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(args=["init"])
    assert again.exit_code == 0 and "up to date" in again.output


def test_env_example_lists_every_setting(app):
    from webapp.config import SETTINGS

    committed = (ROOT / "env.example").read_text(encoding="utf-8")
    generated = app.test_cli_runner().invoke(args=["config", "example"]).output
    assert committed.strip() == generated.strip(), "regenerate: flask config example > env.example"
    names = {
        line.split("=")[0]
        for line in committed.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert names == set(SETTINGS)


def test_flask_cli_finds_app_without_flask_app(tmp_path):
    """`flask` run from the repository finds wsgi.py by itself, and every command has --help."""
    env = {
        "PATH": str(Path(sys.executable).parent),
        "DATA_DIR": str(tmp_path),
        "JWT_SECRET_KEY": TEST_SECRET,
        "HOME": str(tmp_path),
        "AIZOOMDOC_ENV_FILE": "",
    }
    flask = str(Path(sys.executable).parent / "flask")
    for args in (
        ["--help"],
        ["users", "--help"],
        ["users", "create", "--help"],
        ["roles", "--help"],
        ["init", "--help"],
    ):
        result = subprocess.run(
            [flask, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout
    result = subprocess.run(
        [flask, "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    for command in ("init", "users", "roles", "config"):
        assert command in result.stdout


def test_commands_that_sign_nothing_run_without_the_secret(tmp_path):
    """Without JWT_SECRET_KEY (and DEBUG off) every command that signs nothing works, through
    the real CLI; `flask ask` (its run signs image links) stops with the secret's message."""
    from tests.support.drawing_sets import write_set

    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "DATA_DIR": str(tmp_path / "data"),
        "HOME": str(tmp_path),
        "AIZOOMDOC_ENV_FILE": "",
    }
    flask = str(Path(sys.executable).parent / "flask")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [flask, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )

    def ok(*args: str) -> str:
        result = run(*args)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout

    folder = write_set(tmp_path / "set", "План кровли", "01-АР", [("Кровля", ["Парапет."])])
    ok("init")
    assert "JWT_SECRET_KEY=***" in ok("config", "show")
    assert "JWT_SECRET_KEY=" in ok("config", "example")
    demo = ok("demo", "--quiet").strip().splitlines()[-1]
    imported = ok("projects", "import", str(folder), "--quiet").strip().splitlines()[-1]
    assert "DEMO-" in ok("search", demo, "наружные стены")
    assert ok("catalog", "search", "план кровли").split()[0] == imported
    assert "DEMO-" in ok("materials", demo, "Какие наружные стены?")
    ok("render", demo, "DEMO-PLAN-001", "--out", str(tmp_path / "plan.png"))
    assert (tmp_path / "plan.png").stat().st_size > 0
    ok("cache", "stats")
    assert ok("users", "create", "someone").strip()  # a static token: hashed, not signed
    asked = run("ask", demo, "Какие наружные стены?")
    assert asked.returncode != 0
    assert "JWT_SECRET_KEY is missing" in asked.stderr and "Traceback" not in asked.stderr
