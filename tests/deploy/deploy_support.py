"""Helpers of the deployment tests: the Ansible tools, and one converged machine container."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from deploy_machine import (
    CACHE_DIR,
    PEBBLE_MANAGEMENT_PORT,
    PEBBLE_PORT,
    SUITES,
    Machine,
    MachineUnavailable,
    booted_machine,
    build_release_archive,
    changed_tasks,
    check_host,
    host_mirror,
    image_facts,
    pebble_listener_ca,
    play_recap,
    rootfs_tarball,
    wheelhouse,
)

from tests.support.requirements import missing

REPO = Path(__file__).resolve().parents[2]
DOMAIN = "aizoomdoc.test"
WHEELHOUSE_INSIDE = "/opt/converge-wheelhouse"
NETCLIENT = Path(__file__).with_name("deploy_netclient.py")


def deploy_bin(tool: str) -> Path:
    """A tool of the deploy virtualenv (made by scripts/setup-deploy-tests)."""
    venv = Path(os.environ.get("AIZOOMDOC_DEPLOY_VENV", REPO / ".venv-deploy"))
    path = venv / "bin" / tool
    if not path.exists():
        missing(f"{path} is missing: run scripts/setup-deploy-tests")
    return path


def ansible_env(**extra: str) -> dict[str, str]:
    """Environment for ansible-* commands: the repo's ansible.cfg, no colours, a private tmp."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible" / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", NO_COLOR="1", PY_COLORS="0")
    env["PATH"] = f"{deploy_bin('ansible').parent}:{env.get('PATH', '')}"
    env.update(extra)
    return env


@dataclass
class PlaybookRun:
    returncode: int
    output: str
    seconds: float
    host: str = "converge"  # whose PLAY RECAP line `recap` reads

    @property
    def recap(self) -> dict[str, int]:
        return play_recap(self.output, self.host)

    def changed_tasks(self) -> list[str]:
        """Names of the tasks that reported a change."""
        return changed_tasks(self.output)


@dataclass
class Converged:
    """The container after two playbook runs, and helpers to look at it."""

    machine: Machine
    suite: str
    host_vars: dict = field(default_factory=dict)
    runs: list[PlaybookRun] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def playbook(self, label: str, **overrides) -> PlaybookRun:
        """Apply site.yml again with some host variables changed (an update, say)."""
        inventory = _inventory(self.machine, {**self.host_vars, **overrides}, label)
        return _playbook(self.machine, inventory, f"{self.suite}-{label}")

    def require_converged(self) -> None:
        if not self.runs or self.runs[0].returncode != 0:
            pytest.fail("the playbook did not converge (see test_playbook_converges)")

    def client(self, **request) -> dict:
        """One HTTP(S) request from inside the container's network namespace."""
        request.setdefault("name", DOMAIN)
        request.setdefault("port", 443 if request.get("scheme", "https") == "https" else 80)
        argv = self.machine.in_netns([sys.executable, str(NETCLIENT), json.dumps(request)])
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"request failed: {request}\n{result.stderr[-2000:]}"
        return json.loads(result.stdout)

    def acme_root(self) -> Path:
        """The root certificate of the pebble instance that issued the site's certificate."""
        target = self.machine.workdir / "pebble-root.pem"
        if not target.exists():
            ca, _, _ = pebble_listener_ca()
            answer = self.client(name="localhost", port=PEBBLE_MANAGEMENT_PORT, path="/roots/0",
                                 ca=str(ca))
            assert answer["status"] == 200, answer
            target.write_text(answer["body"])
        return target


def _host_vars(machine: Machine, archive: Path, release: str) -> dict:
    return {
        "ansible_host": str(machine.root),
        "ansible_connection": "community.general.chroot",
        "ansible_chroot_exe": str(machine.chroot_wrapper()),
        "ansible_python_interpreter": "/usr/bin/python3",
        "aizoomdoc_domain": DOMAIN,
        "certbot_acme_server": f"https://localhost:{PEBBLE_PORT}/dir",
        "aizoomdoc_source": "archive",
        "aizoomdoc_archive_path": str(archive),
        "aizoomdoc_version": f"converge-{release}",
        "aizoomdoc_pip_extra_args": f"--no-index --find-links {WHEELHOUSE_INSIDE}",
        "aizoomdoc_workers": 2,
        "vault_aizoomdoc_jwt_secret_key": secrets.token_hex(32),
    }


def _inventory(machine: Machine, host: dict, label: str) -> Path:
    inventory = {"all": {"hosts": {"converge": host},
                         "children": {"web": {"hosts": {"converge": None}},
                                      "app": {"hosts": {"converge": None}}}}}
    path = machine.workdir / f"inventory-{label}.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def _playbook(machine: Machine, inventory: Path, label: str) -> PlaybookRun:
    started = time.monotonic()
    result = subprocess.run(
        [str(deploy_bin("ansible-playbook")), "-i", str(inventory),
         str(REPO / "ansible" / "site.yml")],
        capture_output=True, text=True, timeout=1800, cwd=REPO,
        env=ansible_env(ANSIBLE_LOCAL_TEMP=str(machine.workdir / "ansible-tmp")),
    )
    output = result.stdout + result.stderr
    (CACHE_DIR / f"last-converge-{label}.log").write_text(output)
    return PlaybookRun(result.returncode, output, time.monotonic() - started)


def converge_suites() -> list[str]:
    """Debian suites to converge: both by default, AIZOOMDOC_CONVERGE_SUITES="bookworm" for one."""
    chosen = os.environ.get("AIZOOMDOC_CONVERGE_SUITES", " ".join(SUITES)).split()
    return [suite for suite in chosen if suite in SUITES]


@pytest.fixture(scope="module", params=converge_suites())
def converged(request: pytest.FixtureRequest) -> Iterator[Converged]:
    """A fresh container with site.yml applied twice (the second run proves idempotence)."""
    suite = request.param
    deploy_bin("ansible-playbook")
    started = time.monotonic()
    try:
        check_host()
        tarball = rootfs_tarball(host_mirror(), suite)
    except MachineUnavailable as reason:
        missing(f"cannot run a machine container here: {reason}")
    wheels = wheelhouse(REPO / "requirements.txt", image_facts(tarball))
    context = booted_machine(tarball, suite, DOMAIN, {wheels: WHEELHOUSE_INSIDE})
    try:
        machine = context.__enter__()
    except MachineUnavailable as reason:
        missing(f"cannot run a machine container here: {reason}")
    try:
        state = Converged(machine, suite)
        state.seconds["boot"] = time.monotonic() - started
        archive = machine.workdir / "release.tar.gz"
        release = build_release_archive(REPO, archive)
        state.host_vars = _host_vars(machine, archive, release)
        state.runs.append(state.playbook("first"))
        state.seconds["first_run"] = state.runs[0].seconds
        if state.runs[0].returncode == 0:
            state.runs.append(state.playbook("second"))
            state.seconds["second_run"] = state.runs[1].seconds
        yield state
        state.seconds["total"] = time.monotonic() - started
        (CACHE_DIR / f"last-converge-{suite}-seconds.json").write_text(
            json.dumps(state.seconds, indent=1))
    finally:
        context.__exit__(None, None, None)
