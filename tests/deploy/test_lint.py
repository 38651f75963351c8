"""Static checks of the deployment: ansible-lint, syntax checks, role layout, Vagrantfile."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from deploy_support import REPO, ansible_env, deploy_bin

from tests.support.requirements import require_tool

ROLES = ("common", "firewall", "fail2ban", "nginx", "certbot", "aizoomdoc")
INVENTORIES = ("example", "cluster-example", "vagrant")


def _run(argv: list[str], **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=ansible_env(**extra_env))


def test_ansible_lint_production_profile_passes() -> None:
    result = _run([str(deploy_bin("ansible-lint")), "-c", "ansible/.ansible-lint", "--offline",
                   "--nocolor", "--profile", "production", "ansible", "roles"])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_site_playbook_syntax(inventory: str) -> None:
    result = _run([str(deploy_bin("ansible-playbook")), "--syntax-check", "-i",
                   f"ansible/inventories/{inventory}/hosts.yml", "ansible/site.yml"])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("role", ROLES)
def test_role_scenario_syntax(role: str) -> None:
    result = _run([str(deploy_bin("ansible-playbook")), "--syntax-check", "-i",
                   f"roles/{role}/tests/inventory", f"roles/{role}/tests/test.yml"],
                  ANSIBLE_ROLES_PATH=str(REPO / "roles"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("role", ROLES)
def test_role_layout(role: str) -> None:
    """The standard folders where the role has content for them, and no placeholder folders."""
    base = REPO / "roles" / role
    for part in ("defaults/main.yml", "tasks/main.yml", "meta/main.yml",
                 "README.md", "tests/inventory", "tests/test.yml"):
        assert (base / part).is_file(), part
    for folder in ("handlers", "vars", "templates", "files"):
        if (base / folder).exists():
            names = sorted(path.name for path in (base / folder).iterdir())
            assert names and ".gitkeep" not in names, f"{folder}/ holds no content: {names}"
    if (base / "handlers").exists():
        handlers = yaml.safe_load((base / "handlers/main.yml").read_text())
        assert handlers, "handlers/main.yml is empty"
    meta = yaml.safe_load((base / "meta/main.yml").read_text())
    platforms = {p["name"] for p in meta["galaxy_info"]["platforms"]}
    assert platforms == {"Ubuntu", "Debian"}


def _role_tasks() -> list[tuple[str, dict]]:
    """(file, task) for every task and handler of every role (blocks flattened)."""
    found = []

    def walk(path: str, tasks: list) -> None:
        for task in tasks or []:
            found.append((path, task))
            for key in ("block", "rescue", "always"):
                walk(path, task.get(key))

    for role in ROLES:
        for folder in ("tasks", "handlers"):
            for path in sorted((REPO / "roles" / role / folder).glob("*.yml")):
                walk(str(path.relative_to(REPO)), yaml.safe_load(path.read_text()))
    return found


def _modules(task: dict) -> set[str]:
    return {key.removeprefix("ansible.builtin.") for key in task}


def _apt_names(task: dict) -> list[str]:
    names = (task.get("ansible.builtin.apt") or {}).get("name") or []
    return [names] if isinstance(names, str) else names


def test_one_role_owns_each_thing() -> None:
    """The app user, git and nginx -t each live in one place."""
    tasks = _role_tasks()
    users = {path for path, task in tasks if _modules(task) & {"user", "group"}}
    assert users == {"roles/aizoomdoc/tasks/user.yml"}, users
    git = {path for path, task in tasks if "git" in _apt_names(task)}
    assert git == {"roles/aizoomdoc/tasks/code_git.yml"}, git
    packages = yaml.safe_load((REPO / "roles/aizoomdoc/defaults/main.yml").read_text())
    assert "git" not in packages["aizoomdoc_os_packages"]
    nginx_t = {path for path, task in tasks if "nginx -t" in yaml.safe_dump(task)}
    assert nginx_t == {"roles/nginx/handlers/main.yml"}, nginx_t


def test_deleted_chats_are_purged_by_the_app_not_a_timer() -> None:
    variables = yaml.safe_load((REPO / "roles/aizoomdoc/vars/main.yml").read_text())
    jobs = {job["name"]: job["command"] for job in variables["aizoomdoc_maintenance_jobs"]}
    assert set(jobs) == {"cache-prune", "logs-prune", "backup"}
    assert not any("chats purge" in command for command in jobs.values())
    assert "PURGE_INTERVAL_SECONDS" in variables["aizoomdoc_env_base"]
    assert "aizoomdoc-chats-purge" in variables["aizoomdoc_retired_timers"]


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_documented(role: str) -> None:
    """Each variable in defaults/main.yml has a comment right above it."""
    lines = (REPO / "roles" / role / "defaults/main.yml").read_text().splitlines()
    undocumented = []
    for number, line in enumerate(lines):
        match = re.match(r"^([a-z][a-z0-9_]*):", line)
        if match and not lines[number - 1].lstrip().startswith("#"):
            undocumented.append(match.group(1))
        if match:
            assert match.group(1).startswith(f"{role}_"), f"{match.group(1)} lacks the role prefix"
    assert undocumented == []


def test_distribution_variables_cover_both_families() -> None:
    for name in ("Debian", "Ubuntu"):
        values = yaml.safe_load((REPO / f"roles/common/vars/{name}.yml").read_text())
        assert values["common_unattended_upgrades_origins"]


def test_cluster_inventory_wires_every_app_host_into_nginx() -> None:
    result = _run([str(deploy_bin("ansible")), "-i",
                   "ansible/inventories/cluster-example/hosts.yml", "--playbook-dir", "ansible",
                   "lb1", "-c", "local", "-m", "ansible.builtin.debug",
                   "-a", "var=nginx_upstream_servers", "-o"])
    assert result.returncode == 0, result.stdout + result.stderr
    payload = json.loads(result.stdout.split("=>", 1)[1])
    assert payload["nginx_upstream_servers"] == ["10.0.0.21:8000", "10.0.0.22:8000",
                                                 "10.0.0.23:8000"]


def test_single_vps_proxies_to_loopback() -> None:
    result = _run([str(deploy_bin("ansible")), "-i", "ansible/inventories/example/hosts.yml",
                   "--playbook-dir", "ansible", "vps1", "-c", "local", "-m",
                   "ansible.builtin.debug", "-a", "var=nginx_upstream_servers", "-o"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout.split("=>", 1)[1])["nginx_upstream_servers"] == [
        "127.0.0.1:8000"]


def test_vault_examples_hold_placeholders_only() -> None:
    examples = list((REPO / "ansible/inventories").glob("*/group_vars/all/vault.yml.example"))
    assert examples
    for example in examples:
        values = yaml.safe_load(example.read_text())
        assert values and all(str(v).startswith("CHANGE_ME") for v in values.values()), example
    for vault in (REPO / "ansible").rglob("vault.yml"):
        assert vault.read_text().startswith("$ANSIBLE_VAULT"), f"{vault} is not encrypted"


def test_vagrantfile_validates() -> None:
    require_tool("vagrant", "scripts/setup-deploy-tests installs it")
    result = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout
